#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the real SMTP
# servers the tests talk to, checks formatting and vet, runs every test with
# the race detector, and runs the benchmark script in its quick mode.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
# The end-to-end suites fail instead of skipping when a real server is missing.
export MAILBLAST_REQUIRE_REAL_SERVERS=1

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 15m ./...
if [ -f bench/run.sh ]; then
  echo "== benchmark (quick mode: checks it completes)"
  QUICK=1 bash bench/run.sh
fi
