#!/usr/bin/env bash
# Installs the real SMTP servers the test suite and benchmarks talk to.
# Postfix's smtp-sink and smtp-source come from Debian's postfix package; the
# package must not start a system Postfix, so policy-rc.d refuses service starts
# for the duration of the install.
set -euo pipefail

need_postfix() { ! command -v smtp-sink >/dev/null 2>&1 && [ ! -x /usr/sbin/smtp-sink ]; }

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

if need_postfix; then
  had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ "$had_policy" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
  fi
  $SUDO apt-get update -qq
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postfix >/dev/null
  [ "$had_policy" -eq 0 ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
# make runs the lint and release targets; dpkg's man check needs man-db.
missing=""
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v man >/dev/null 2>&1 || missing="$missing man-db"
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
echo "smtp-sink: $(command -v smtp-sink || echo /usr/sbin/smtp-sink)"

# Headless Chromium renders the HTML report in e2e/report_html_test.go; promtool
# (Debian's prometheus package) checks the metrics file in e2e/metrics_test.go;
# Dovecot (dovecot-imapd) is the IMAP server of e2e/feedback_fetch_test.go.
# The prometheus and dovecot packages would start system servers: policy-rc.d
# again; the tests start private instances on loopback.
need_pkg() { ! command -v "$1" >/dev/null 2>&1; }
install_quietly() {
  local had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ "$had_policy" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
  [ "$had_policy" -eq 0 ] && $SUDO rm -f /usr/sbin/policy-rc.d
  return 0
}
extra=()
need_pkg chromium && extra+=(chromium)
need_pkg promtool && extra+=(prometheus)
[ -x /usr/sbin/dovecot ] || extra+=(dovecot-imapd)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || extra+=(postgresql) # ledger/postgres/pgtest; policy-rc.d: no system server
[ "${#extra[@]}" -gt 0 ] && install_quietly "${extra[@]}"
echo "chromium: $(command -v chromium || echo missing)"
echo "promtool: $(command -v promtool || echo missing)"
echo "dovecot: $( [ -x /usr/sbin/dovecot ] && echo /usr/sbin/dovecot || echo missing)"
