#!/usr/bin/env bash
# The release, as people install it: `goreleaser check`, a snapshot build of
# the linux/amd64 archive and packages (the other targets build the same
# code), then the .deb installed with dpkg on this machine, where
# `mailblast version` and `man -w mailblast` must work, and removed again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

GORELEASER_VERSION=$(sed -n 's/^GORELEASER_VERSION *:= *//p' Makefile)
gr=.bin/goreleaser
if [ ! -x "$gr" ]; then
  echo "== installing goreleaser $GORELEASER_VERSION into .bin/ (a few minutes the first time)"
  GOBIN="$PWD/.bin" go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
fi
echo "== goreleaser check"
"$gr" check

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One target only: the same configuration with the build matrix cut down.
awk '/^    goos:/ {print "    goos: [linux]"; skip=1; next}
     /^    goarch:/ {print "    goarch: [amd64]"; skip=1; next}
     skip && /^      - / {next}
     {skip=0; print}' .goreleaser.yaml > "$work/goreleaser.yaml"
echo "== goreleaser snapshot (linux/amd64)"
"$gr" release --snapshot --clean --skip=publish --config "$work/goreleaser.yaml" --parallelism 2 >"$work/gr.log" 2>&1 ||
  { tail -40 "$work/gr.log"; exit 1; }

deb=$(ls dist/*_amd64.deb | head -1)
rpm=$(ls dist/*.x86_64.rpm | head -1)
tar=$(ls dist/mailblast_*_linux_amd64.tar.gz | head -1)
echo "== built $deb, $rpm, $tar"
listing=$(tar -tzf "$tar")   # not piped into grep -q: pipefail would see tar's SIGPIPE
for f in LICENSE dist-docs/man/mailblast.1.gz dist-docs/completions/mailblast.bash; do
  grep -qx "$f" <<<"$listing" || { echo "archive lacks $f"; exit 1; }
done

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then
  echo "== not root or no dpkg: the .deb install check is skipped"; exit 0
fi
if dpkg -s mailblast >/dev/null 2>&1; then
  echo "a mailblast package is already installed here; not touching it"; exit 1
fi
if ! command -v man >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq man-db >/dev/null
fi
trap 'dpkg -r mailblast >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
dpkg -i "$deb" >/dev/null
echo "== installed: $(/usr/bin/mailblast version)"
man -w mailblast
man -w mailblast-send
test -f /usr/share/bash-completion/completions/mailblast
test -f /usr/share/zsh/vendor-completions/_mailblast
test -f /usr/share/fish/vendor_completions.d/mailblast.fish
test -f /usr/share/doc/mailblast/copyright
echo "== package test passed"
