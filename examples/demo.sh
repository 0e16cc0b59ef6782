#!/usr/bin/env bash
# The quick start: builds mailblast, starts a local capture relay on
# 127.0.0.1:1025, sends the example campaign through it, and shows the
# ledger's status and one captured message. Needs only Go.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"
work=$(mktemp -d)
trap 'kill "$relay" 2>/dev/null || true; wait 2>/dev/null || true' EXIT

go build -o "$work/mailblast" ..
go build -o "$work/capture" ./capture
rm -rf captured .mailblast-state
"$work/capture" -addr 127.0.0.1:1025 -dir captured &
relay=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1025) 2>/dev/null && break; sleep 0.1; done

# mailblast.yaml here points at the capture relay; the list and template are beside it.
"$work/mailblast" send list.csv --progress plain
"$work/mailblast" status
echo "--- first captured message:"
cat "$(ls captured/*.eml | head -1)"
