#!/usr/bin/env bash
# The quick start: builds mailblast, starts a local capture relay on a free
# loopback port, sends the example campaign through it, and shows the
# ledger's status and one captured message. Needs only Go.
#
# The relay picks its own free port and writes it to a file once it listens,
# so the campaign can only ever go to this relay, never to whatever else
# happens to listen on a fixed port.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"
work=$(mktemp -d)
relay=""
trap '[ -n "$relay" ] && kill "$relay" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

go build -o "$work/mailblast" ..
go build -o "$work/capture" ./capture
rm -rf captured .mailblast-state
"$work/capture" -addr 127.0.0.1:0 -dir captured -port-file "$work/port" &
relay=$!
for _ in $(seq 100); do
  [ -s "$work/port" ] && break
  kill -0 "$relay" 2>/dev/null || { echo "demo: the capture relay did not start" >&2; exit 69; }
  sleep 0.1
done
[ -s "$work/port" ] || { echo "demo: the capture relay did not report its port" >&2; exit 69; }

# mailblast.yaml here points at 127.0.0.1 without TLS; the port is the
# capture relay's, given through the environment (which wins over the file).
export MAILBLAST_SMTP_PORT="$(cat "$work/port")"
"$work/mailblast" send list.csv --progress plain
"$work/mailblast" status
echo "--- first captured message:"
cat "$(ls captured/*.eml | head -1)"
