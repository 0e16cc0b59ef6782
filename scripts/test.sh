#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the real SMTP
# servers the tests talk to, checks formatting, vet and golangci-lint, runs
# every test with the race detector, builds and installs the release
# packages, and runs the benchmark script in its quick mode. The first run
# also builds golangci-lint and goreleaser into .bin/ (several minutes).
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
echo "== golangci-lint ($(sed -n 's/^GOLANGCI_VERSION *:= *//p' Makefile), into .bin/ on first use)"
make -s lint
echo "== go test -race"
go test -race -count=1 -timeout 15m ./...
echo "== release: goreleaser check, a snapshot build, the .deb installed"
bash scripts/package-test.sh
if [ -f bench/run.sh ]; then
  echo "== benchmark (quick mode: checks it completes)"
  QUICK=1 bash bench/run.sh
fi
