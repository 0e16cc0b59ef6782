#!/usr/bin/env bash
# Installs what bench/run.sh needs. Each part is independent: one that
# fails is reported and the cases that need it are skipped by run.sh.
#
#   postfix      Debian's package: smtp-sink, smtp-source and the postfix
#                command for a private smtpd instance (no system Postfix is
#                started: policy-rc.d refuses service starts during the install)
#   GNU time     /usr/bin/time, for peak RSS
#   toxiproxy    server and cli v2.5.0, `go install`ed into bench/.bin/
#                (toxiproxy-server, toxiproxy-cli)
#   nodemailer   `npm ci` in bench/node/ (package.json + package-lock.json)
#
# Env: TOXIPROXY_VERSION (v2.5.0), INSTALL_TIMEOUT (seconds per download and
# build step, 600). Exit status: non-zero only if smtp-sink/smtp-source are
# missing at the end, since no case runs without them.
set -uo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN="$BENCH/.bin"
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-v2.5.0}
INSTALL_TIMEOUT=${INSTALL_TIMEOUT:-600}
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"

SUDO=""
[[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
say() { echo "bench/install: $*" >&2; }

APT_UPDATED=0
apt_install() { # apt_install PKG...
  command -v apt-get >/dev/null 2>&1 || { say "no apt-get; cannot install $*"; return 1; }
  if [[ $APT_UPDATED -eq 0 ]]; then
    timeout "$INSTALL_TIMEOUT" $SUDO apt-get update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive timeout "$INSTALL_TIMEOUT" $SUDO apt-get install -y -qq "$@" >/dev/null
}

# --- postfix: smtp-sink, smtp-source, postfix ---
have_postfix() { [[ -x /usr/sbin/smtp-sink && -x /usr/sbin/smtp-source && -x /usr/sbin/postfix ]]; }
if ! have_postfix; then
  say "installing Debian postfix (smtp-sink, smtp-source, smtpd)"
  had_policy=0
  [[ -e /usr/sbin/policy-rc.d ]] && had_policy=1
  if [[ $had_policy -eq 0 ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
  fi
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections 2>/dev/null
  apt_install postfix || say "postfix install failed"
  [[ $had_policy -eq 0 ]] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
have_postfix && say "postfix: ok ($(/usr/sbin/postconf -d -h mail_version 2>/dev/null || echo '?'))"

# --- GNU time ---
if [[ ! -x /usr/bin/time ]]; then
  say "installing GNU time"
  apt_install time || say "GNU time install failed (peak RSS will read n/a)"
fi

# --- toxiproxy server and cli ---
# go install names the binaries after their directories (server, cli): build
# into a scratch GOBIN, then move them to bench/.bin under their usual names.
stamp="$BIN/toxiproxy.version"
if [[ -x $BIN/toxiproxy-server && -x $BIN/toxiproxy-cli && $(cat "$stamp" 2>/dev/null) == "$TOXIPROXY_VERSION" ]]; then
  say "toxiproxy: ok ($TOXIPROXY_VERSION, cached in bench/.bin)"
elif ! command -v go >/dev/null 2>&1; then
  say "toxiproxy: no go command; not installed"
else
  say "installing toxiproxy $TOXIPROXY_VERSION (go install)"
  mkdir -p "$BIN"
  gobin=$(mktemp -d "${TMPDIR:-/tmp}/toxiproxy-gobin.XXXXXX")
  t0=$SECONDS
  if GOBIN="$gobin" timeout "$INSTALL_TIMEOUT" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" >&2 &&
    GOBIN="$gobin" timeout "$INSTALL_TIMEOUT" go install "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION" >&2; then
    mv -f "$gobin/server" "$BIN/toxiproxy-server"
    mv -f "$gobin/cli" "$BIN/toxiproxy-cli"
    echo "$TOXIPROXY_VERSION" >"$stamp"
    say "toxiproxy: ok ($TOXIPROXY_VERSION, $((SECONDS - t0)) s)"
  else
    say "toxiproxy: go install failed or timed out after $((SECONDS - t0)) s"
  fi
  rm -rf "$gobin"
fi

# --- nodemailer ---
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "nodemailer: node/npm not found; not installed"
elif [[ -f $BENCH/node/node_modules/nodemailer/package.json ]] &&
  [[ $(node -p 'require(process.argv[1]).version' "$BENCH/node/node_modules/nodemailer/package.json") == \
    $(node -p 'require(process.argv[1]).packages["node_modules/nodemailer"].version' "$BENCH/node/package-lock.json") ]]; then
  say "nodemailer: ok (cached in bench/node/node_modules)"
else
  say "installing nodemailer (npm ci)"
  if (cd "$BENCH/node" && timeout "$INSTALL_TIMEOUT" npm ci --no-audit --no-fund --loglevel=error >&2); then
    say "nodemailer: ok"
  else
    say "nodemailer: npm ci failed"
  fi
fi

have_postfix
