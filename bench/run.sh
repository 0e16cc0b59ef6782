#!/usr/bin/env bash
# mailblast benchmarks: the baseline (issue "send pipeline") and issue 5
# ("speed and pacing"). Every case runs the real mailblast binary, and each
# round alternates mailblast with its peer under the same conditions.
#
#   1   loopback: ROWS (100,000) ~2 KB personalised messages, 10 connections,
#       to Postfix's smtp-sink; peer: smtp-source -d -s 10 -m ROWS -l 2000.
#   2   a relay 20 ms away: toxiproxy in front of the same smtp-sink adds
#       LATENCY_MS (10) each way; RELAY_ROWS (2,000) messages; mailblast vs
#       smtp-source through the same proxy.
#   2b  the same latency in front of a private Postfix smtpd on loopback
#       (PIPELINING, CHUNKING; every transport discards); RELAY_ROWS messages.
#   3   memory: BIG_ROWS (1,000,000) rows to smtp-sink; mailblast's peak RSS.
#   4   resume: a BIG_ROWS campaign with LEFT (1,000) recipients deferred (our
#       smtpstub answers 451 to RCPT for their domain); then the time from
#       starting `mailblast resume` to the first complete message at the relay.
#   5   nodemailer's pooled transport (bench/node/send.js, 10 connections) on
#       case 1's list and template; it runs in case 1's rounds.
#
#   bench/run.sh                          # everything, ROUNDS=3
#   ROUNDS=5 CASES="2 2b" bench/run.sh    # some cases only
#   CASES="1 1b" bench/run.sh             # 1b: a newsletter-like template
#   BUILD_FROM=HEAD bench/run.sh          # build the committed HEAD, not the work tree
#   QUICK=1 bench/run.sh                  # CI smoke: tiny sizes, one round; checks completion only
#
# Env: ROUNDS, CASES ("1 1b 2 2b 3 4 5"), ROWS, RELAY_ROWS, BIG_ROWS, LEFT,
# CONNECTIONS (10), LATENCY_MS (10, each way), SIZE_SAMPLE (200),
# BUILD_FROM (worktree|HEAD), RUN_TIMEOUT (seconds per process, 1800),
# SKIP_INSTALL=1 (use what is installed). bench/install.sh installs Postfix,
# GNU time, toxiproxy (into bench/.bin) and nodemailer (into bench/node);
# a case whose tool is missing prints SKIP with the reason.
#
# Prints a Markdown report on stdout; logs of the last run are copied to
# bench/out/logs. Exit status is non-zero if any run failed (a non-zero
# exit, or not every message sent). Missed targets are reported, not fatal.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  ROWS=2000 ROUNDS=1 RELAY_ROWS=100 BIG_ROWS=20000 LEFT=100 SIZE_SAMPLE=50
  RUN_TIMEOUT=${RUN_TIMEOUT:-300}
fi
ROWS=${ROWS:-100000}
ROUNDS=${ROUNDS:-3}
RELAY_ROWS=${RELAY_ROWS:-2000}
BIG_ROWS=${BIG_ROWS:-1000000}
LEFT=${LEFT:-1000}
CONNECTIONS=${CONNECTIONS:-10}
LATENCY_MS=${LATENCY_MS:-10}
SIZE_SAMPLE=${SIZE_SAMPLE:-200}
RUN_TIMEOUT=${RUN_TIMEOUT:-1800}
CASES=${CASES:-1 1b 2 2b 3 4 5}
BUILD_FROM=${BUILD_FROM:-worktree}
for v in ROWS ROUNDS RELAY_ROWS BIG_ROWS LEFT CONNECTIONS LATENCY_MS SIZE_SAMPLE RUN_TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
((LEFT < BIG_ROWS)) || { echo "bench: LEFT must be below BIG_ROWS" >&2; exit 2; }
[[ $BUILD_FROM == worktree || $BUILD_FROM == HEAD ]] || { echo "bench: BUILD_FROM is worktree or HEAD" >&2; exit 2; }
for c in $CASES; do
  [[ $c =~ ^(1|1b|2|2b|3|4|5)$ ]] || { echo "bench: unknown case '$c' in CASES" >&2; exit 2; }
done
want() { [[ " $CASES " == *" $1 "* ]]; }
export LC_ALL=C

# Only the settings below reach mailblast.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^MAILBLAST_' || true)

# --- processes and temp files: everything started here is stopped on exit ---
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mailblast-bench.XXXXXX")
chmod 755 "$TMP"
mkdir -p "$TMP/bin" "$TMP/work" "$TMP/logs"
WORK="$TMP/work"
LOGS="$TMP/logs"
RESULTS="$TMP/results.tsv"
: >"$RESULTS"
BG_PIDS=() # smtp-sinks, stubs, toxiproxy
CHILD=""
PF_DIR="" # private Postfix instance, stopped on exit
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $CHILD ]]; then
    pkill -TERM -P "$CHILD" 2>/dev/null || true # the tool under /usr/bin/time / timeout
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  local p
  for p in "${BG_PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [[ -n $PF_DIR ]] && stop_postfix
  if [[ -d $LOGS ]]; then
    rm -rf "$BENCH/out/logs"
    mkdir -p "$BENCH/out" && cp -r "$LOGS" "$BENCH/out/logs" 2>/dev/null || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { echo "bench: $*" >&2; }

# --- dependencies ---
if [[ ${SKIP_INSTALL:-0} != 1 ]]; then
  # QUICK (CI) bounds each install step so a slow download skips a case
  # instead of stalling the suite.
  if [[ $QUICK == 1 ]]; then
    INSTALL_TIMEOUT=${INSTALL_TIMEOUT:-120} bash "$BENCH/install.sh" || true
  else
    bash "$BENCH/install.sh" || true
  fi
fi
find_tool() {
  local p
  for p in "/usr/sbin/$1" "/usr/bin/$1" "$(command -v "$1" 2>/dev/null || true)"; do
    [[ -n $p && -x $p ]] && { echo "$p"; return 0; }
  done
  return 1
}
SINK=$(find_tool smtp-sink) || { say "smtp-sink not found (bench/install.sh installs Debian's postfix)"; exit 1; }
SOURCE=$(find_tool smtp-source) || { say "smtp-source not found"; exit 1; }
TIME_BIN=""
[[ -x /usr/bin/time ]] && TIME_BIN=/usr/bin/time # GNU time, for peak RSS
TOXI_SERVER="$BENCH/.bin/toxiproxy-server"
TOXI_CLI="$BENCH/.bin/toxiproxy-cli"

# Reasons to skip a case, empty when it can run.
declare -A SKIP=()
if [[ ! -x $TOXI_SERVER || ! -x $TOXI_CLI ]]; then
  SKIP[2]="toxiproxy not installed (bench/install.sh: go install failed or timed out)"
  SKIP[2b]=${SKIP[2]}
fi
if [[ -z ${SKIP[2b]:-} ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    SKIP[2b]="a private Postfix instance needs root"
  elif ! find_tool postfix >/dev/null; then
    SKIP[2b]="postfix command not found"
  fi
fi
if ! command -v node >/dev/null 2>&1; then
  SKIP[5]="node not found"
elif ! (cd "$BENCH/node" && node -e 'require("nodemailer")') 2>/dev/null; then
  SKIP[5]="nodemailer not installed in bench/node (npm ci failed?)"
fi
[[ -z $TIME_BIN ]] && SKIP[3]="GNU time (/usr/bin/time) not installed: no peak RSS"

# --- build ---
# The binary lives in its own directory, out of $WORK where the runs start.
# (mailblast once read a file named "mailblast" in the current directory,
# itself included, as its config; it now takes only mailblast.yaml or .yml.)
if [[ $BUILD_FROM == HEAD ]]; then
  mkdir -p "$TMP/src"
  git -C "$ROOT" archive HEAD | tar -x -C "$TMP/src"
  (cd "$TMP/src" && go build -o "$TMP/bin/mailblast" .)
  MB_REV="$(git -C "$ROOT" rev-parse --short HEAD) (committed HEAD, built from git archive)"
else
  (cd "$ROOT" && go build -o "$TMP/bin/mailblast" .)
  MB_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown) (work tree: git describe $(git -C "$ROOT" describe --always --dirty --tags 2>/dev/null || echo unknown))"
fi
MB="$TMP/bin/mailblast"
STUB=""
if want 4; then
  mkdir -p "$TMP/stub"
  (cd "$BENCH/smtpstub" && go build -o "$TMP/stub/smtpstub" .)
  STUB="$TMP/stub/smtpstub"
fi

# --- data: lists and a ~2,000-byte plain-text template ---
# gen ROWS [DEFER_LAST]: the last DEFER_LAST rows get addresses in
# defer.example, which smtpstub answers with 451.
gen() {
  awk -v rows="$1" -v def="${2:-0}" 'BEGIN {
    print "email,first_name,n,city"
    for (i = 1; i <= rows; i++)
      printf "user%d@%s,Name%d,%d,City%d\n", i, (i > rows - def ? "defer.example" : "example.com"), i, i, i % 97
  }'
}
(want 1 || want 5) && gen "$ROWS" >"$WORK/list.csv"
# Case 1b: a list with the columns a real newsletter fills in (24 in all).
gen1b() {
  awk -v rows="$1" 'BEGIN {
    print "email,first_name,last_name,n,city,country,plan,renewal,points,tier,manager,manager_email,lang,topic1,topic2,topic3,offer,code,discount,expires,region,store,phone,ref"
    for (i = 1; i <= rows; i++)
      printf "user%d@example.com,Name%d,Surname%d,%d,City%d,Country%d,Plan%d,2027-0%d-1%d,%d,Tier%d,Manager%d,manager%d@example.com,en,Topic%d,Topic%d,Topic%d,Offer%d,CODE%06d,%d%%,2027-01-%02d,Region%d,Store%d,+1555%07d,REF%08d\n", i, i, i, i, i % 97, i % 31, i % 5, i % 9 + 1, i % 9, i * 7 % 5000, i % 4, i % 50, i % 50, i % 13, i % 17, i % 19, i % 23, i, i % 40 + 5, i % 28 + 1, i % 11, i % 301, i, i
  }'
}
want 1b && gen1b "$ROWS" >"$WORK/list1b.csv"
(want 2 || want 2b) && gen "$RELAY_ROWS" >"$WORK/relay.csv"
want 3 && gen "$BIG_ROWS" >"$WORK/big.csv"
want 4 && gen "$BIG_ROWS" "$LEFT" >"$WORK/resume.csv"

# Case 1b's template: what a real newsletter looks like to the renderer.
cat >"$WORK/newsletter.tmpl" <<'EOF'
From: Example News <news@example.com>
Reply-To: {{.manager}} <{{.manager_email}}>
Subject: {{.first_name}}, your {{.plan}} news for {{.city}}: {{.offer}} until {{.expires}}

Dear {{.first_name}} {{.last_name}},

thank you for being a {{.tier}} member in {{.city}}, {{.country}}. This month we have news on {{.topic1}}, {{.topic2}} and {{.topic3}}, chosen for you from what you read last time, and an offer that ends on {{.expires}}.

Your account: plan {{.plan}}, renewing on {{.renewal}}, with {{.points}} points collected so far. Your account manager is {{.manager}} ({{.manager_email}}); write any time, or call your store in {{.region}} ({{.store}}) at {{.phone}}.

This month's offer: {{.offer}}, {{.discount}} off everything in the {{.plan}} range until {{.expires}}. Use the code {{.code}} at checkout, in the shop or on the web; the code is yours alone and works once.

What changed: we rewrote the delivery pipeline so that large lists go out faster and with fewer retries, every message is tracked in a local ledger so a crash never sends the same update twice, and reports show which recipients were sent, deferred or failed.

Reference {{.ref}} - sent to {{.email}} in {{.lang}}. To stop these messages, reply with "unsubscribe".
EOF
cat >"$WORK/newsletter.html" <<'EOF'
<!DOCTYPE html>
<html lang="{{.lang}}"><head><meta charset="utf-8"><title>{{.first_name}}, your {{.plan}} news</title></head>
<body style="font-family: Helvetica, Arial, sans-serif; color: #222; max-width: 640px; margin: 0 auto;">
<h1 style="font-size: 22px; color: #0b5394;">Hello {{.first_name}} {{.last_name}}</h1>
<p style="line-height: 1.5;">Thank you for being a <strong>{{.tier}}</strong> member in {{.city}}, {{.country}}. This month we have news on <em>{{.topic1}}</em>, <em>{{.topic2}}</em> and <em>{{.topic3}}</em>, chosen for you from what you read last time.</p>
<table role="presentation" style="border-collapse: collapse; width: 100%; margin: 16px 0;"><tr><td style="padding: 8px; border: 1px solid #ddd;">Plan</td><td style="padding: 8px; border: 1px solid #ddd;">{{.plan}}, renewing {{.renewal}}</td></tr><tr><td style="padding: 8px; border: 1px solid #ddd;">Points</td><td style="padding: 8px; border: 1px solid #ddd;">{{.points}}</td></tr><tr><td style="padding: 8px; border: 1px solid #ddd;">Manager</td><td style="padding: 8px; border: 1px solid #ddd;"><a href="mailto:{{.manager_email}}">{{.manager}}</a></td></tr></table>
<p style="background: #fff4e5; padding: 12px; border-radius: 4px;">This month's offer: <strong>{{.offer}}</strong>, {{.discount}} off the {{.plan}} range until {{.expires}}, with your code <code>{{.code}}</code>.</p>
<p style="line-height: 1.5;">We rewrote the delivery pipeline so that large lists go out faster and with fewer retries; every message is tracked in a local ledger, so a crash never sends the same update twice.</p>
<p style="font-size: 12px; color: #777;">Reference {{.ref}}, sent to {{.email}}. Your store: {{.store}}, {{.region}}, {{.phone}}.</p>
</body></html>
EOF

cat >"$WORK/message.tmpl" <<'EOF'
From: Sender <news@example.com>
Subject: Hello {{.first_name}}, update #{{.n}}

Dear {{.first_name}},

thank you for being with us. This is update number {{.n}} of our monthly
newsletter, written for {{.first_name}} and nobody else. Below you will find
a short summary of what changed since the last issue, what is coming next,
and a few notes about your account.

What changed
------------
We rewrote the delivery pipeline so that large lists go out faster and with
fewer retries. Every message is now tracked in a local ledger, so a crash or
a lost connection never sends the same update twice, and an interrupted run
picks up exactly where it stopped. Reports show which recipients were sent,
deferred or failed, with the last reply from the relay.

What is coming next
-------------------
Next month we will publish a guide on keeping lists clean: removing bounced
addresses, honouring unsubscribe requests quickly, and spacing campaigns so
that receiving servers do not throttle you. We are also working on better
templates, with plain text and HTML parts built from the same source.

Your account
------------
Your reference number is {{.n}}. If you write to us about this update,
please quote it so we can find your record quickly. You can change how often
you hear from us, or stop these messages entirely, by replying with the word
STOP in the subject line; a person reads every reply.

A note on privacy
-----------------
We keep only the address and first name you gave us, {{.first_name}}, and
never share them. Messages are sent from our own relay and are not tracked
with pixels or rewritten links. If anything in this update looks wrong to
you, tell us and we will correct it.

Thank you for reading, {{.first_name}}, and see you next month.

-- 
The Example News team
EOF

# --- helpers: ports, sinks, timing ---
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}
wait_port() { # wait_port PORT PID NAME
  local i
  for i in $(seq 1 200); do
    kill -0 "$2" 2>/dev/null || { say "$3 exited"; return 1; }
    port_in_use "$1" && return 0
    sleep 0.05
  done
  say "$3 did not start listening on 127.0.0.1:$1"
  return 1
}
unlist_pid() {
  local keep=() p
  for p in "${BG_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  BG_PIDS=("${keep[@]}")
}
stop_bg() { # stop_bg PID
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  unlist_pid "$1"
}
# start_sink VAR [smtp-sink options...]: one smtp-sink on a free port (port in
# VAR, pid in LAST_PID), waiting until it accepts connections.
start_sink() {
  local var=$1 port user=()
  shift
  [[ $(id -u) -eq 0 ]] && user=(-u nobody) # as root it must drop privileges
  port=$(free_port) || { say "no free port"; return 1; }
  "$SINK" "${user[@]}" "$@" "127.0.0.1:$port" 1000 >>"$LOGS/sink.log" 2>&1 &
  LAST_PID=$!
  BG_PIDS+=("$LAST_PID")
  wait_port "$port" "$LAST_PID" smtp-sink || { cat "$LOGS/sink.log" >&2; return 1; }
  printf -v "$var" '%s' "$port"
}
# start_stub PORT EVENTS [smtpstub options...]: waits for its "ready" line
# (a port probe would count as its first connection); pid in LAST_PID.
start_stub() {
  local port=$1 events=$2 i
  shift 2
  : >"$events"
  "$STUB" -listen "127.0.0.1:$port" -events "$events" "$@" >>"$LOGS/smtpstub.log" 2>&1 &
  LAST_PID=$!
  BG_PIDS+=("$LAST_PID")
  for i in $(seq 1 200); do
    grep -q '^ready ' "$events" && return 0
    kill -0 "$LAST_PID" 2>/dev/null || break
    sleep 0.05
  done
  say "smtpstub did not start on 127.0.0.1:$port:"
  tail -n 5 "$LOGS/smtpstub.log" >&2
  return 1
}

# mb_cmd PORT STATE_DIR [VAR=value...]: sets MB_CMD to the real binary with
# the documented environment (run it from $WORK).
mb_cmd() {
  MB_CMD=(env HOME="$WORK" XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/xstate"
    MAILBLAST_SMTP_HOST=127.0.0.1 MAILBLAST_SMTP_PORT="$1" MAILBLAST_SMTP_TLS=none
    MAILBLAST_STATE_DIR="$2" MAILBLAST_TEMPLATE=message.tmpl MAILBLAST_PROGRESS=quiet "${@:3}" "$MB")
}

# timed NAME cmd...: runs cmd in $WORK (under timeout RUN_TIMEOUT) with
# stdout/stderr in $LOGS/NAME.{out,err}; sets T0 (start, epoch seconds),
# T (wall seconds), RSS (peak KiB or "n/a") and RC (exit status).
timed() {
  local name=$1 t1 tcmd=()
  shift
  [[ -n $TIME_BIN ]] && tcmd=("$TIME_BIN" -f '%e %M' -o "$LOGS/$name.time")
  RC=0
  T0=$EPOCHREALTIME
  (cd "$WORK" && exec "${tcmd[@]}" timeout -k 10 "$RUN_TIMEOUT" "$@") >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
  CHILD=$!
  wait "$CHILD" || RC=$?
  CHILD=""
  t1=$EPOCHREALTIME
  T=$(awk -v a="$T0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  RSS=n/a
  if [[ -n $TIME_BIN && -s $LOGS/$name.time ]]; then
    RSS=$(tail -n 1 "$LOGS/$name.time" | awk '{ print $2 }')
  fi
  [[ $RC -eq 124 ]] && say "$name: timed out after ${RUN_TIMEOUT}s"
  return 0
}

# mb_summary NAME CAMPAIGN: reads mailblast's summary line from
# $LOGS/NAME.err into SENT, DEFERRED and OWN (its own elapsed time).
mb_summary() {
  local line
  line=$(grep -E "^campaign $2: " "$LOGS/$1.err" | tail -n 1 || true)
  SENT=$(sed -nE 's/.* ([0-9]+) sent,.*/\1/p' <<<"$line")
  DEFERRED=$(sed -nE 's/.* ([0-9]+) deferred,.*/\1/p' <<<"$line")
  OWN=$(sed -nE 's/.*\(([^)]*)\)[[:space:]]*$/\1/p' <<<"$line")
  SENT=${SENT:-?} DEFERRED=${DEFERRED:-?} OWN=${OWN:-?}
}

load1() { cut -d' ' -f1 /proc/loadavg; }
mib() { [[ $1 == n/a ]] && echo n/a || awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }'; }

FAILED=0
# record CASE TOOL ROUND SECONDS MSG_PER_S RSS_KIB EXIT OK LOAD NOTE: one
# line of $RESULTS (tab-separated). OK is yes or no; no marks the run failed.
record() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$(mib "$6")" "$7" "$8" "$9" "${10}" >>"$RESULTS"
  if [[ $8 != yes ]]; then
    FAILED=1
    say "case $1, $2, round $3: FAILED (exit $7; ${10})"
  fi
}
fail_tail() { # fail_tail NAME: the end of a failed run's output
  tail -n 20 "$LOGS/$1.err" "$LOGS/$1.out" >&2 2>/dev/null || true
}

# --- one run of each tool ---
# run_mailblast CASE ROUND PORT LIST ROWS_EXPECTED [VAR=value...]
run_mailblast() {
  local c=$1 r=$2 port=$3 list=$4 n=$5 name="c$1-mailblast-$2" load ok=no
  shift 5
  load=$(load1)
  mb_cmd "$port" "$TMP/state-c$c-$r" "$@"
  say "case $c round $r: mailblast send $list ($n rows, $CONNECTIONS connections) ..."
  timed "$name" "${MB_CMD[@]}" send "$list" --connections "$CONNECTIONS" --campaign "c$c-$r"
  mb_summary "$name" "c$c-$r"
  [[ $RC -eq 0 && $SENT == "$n" ]] && ok=yes
  [[ $ok == yes ]] || fail_tail "$name"
  record "$c" mailblast "$r" "$T" "$(rate "$n" "$T")" "$RSS" "$RC" "$ok" "$load" "sent $SENT; own time $OWN"
  rm -rf "$TMP/state-c$c-$r"
}
# run_source CASE ROUND PORT N
run_source() {
  local c=$1 r=$2 port=$3 n=$4 name="c$1-smtp-source-$2" load ok=no
  load=$(load1)
  local len=${SOURCE_LEN:-2000}
  say "case $c round $r: smtp-source -d -s $CONNECTIONS -m $n -l $len ..."
  timed "$name" "$SOURCE" -d -s "$CONNECTIONS" -m "$n" -l "$len" -f news@example.com -t rcpt@example.com "127.0.0.1:$port"
  local note=-
  [[ $RC -eq 0 ]] && ok=yes
  [[ $ok == yes ]] || fail_tail "$name"
  [[ -s $LOGS/$name.err ]] && note="stderr: $(head -c 120 "$LOGS/$name.err" | head -n 1)"
  record "$c" smtp-source "$r" "$T" "$(rate "$n" "$T")" "$RSS" "$RC" "$ok" "$load" "$note"
}
# run_node CASE ROUND PORT LIST N
run_node() {
  local c=$1 r=$2 port=$3 list=$4 n=$5 name="c$1-nodemailer-$2" load ok=no sent
  load=$(load1)
  say "case $c round $r: nodemailer pool, $n messages, $CONNECTIONS connections ..."
  timed "$name" node "$BENCH/node/send.js" --host 127.0.0.1 --port "$port" --list "$list" \
    --template message.tmpl --connections "$CONNECTIONS"
  sent=$(sed -nE 's/^nodemailer: ([0-9]+) sent, 0 failed.*/\1/p' "$LOGS/$name.err" | tail -n 1)
  [[ $RC -eq 0 && $sent == "$n" ]] && ok=yes
  [[ $ok == yes ]] || fail_tail "$name"
  record "$c" nodemailer "$r" "$T" "$(rate "$n" "$T")" "$RSS" "$RC" "$ok" "$load" "sent ${sent:-?}"
}

# Average wire size (CRLF line ends) of the messages in an smtp-sink -D dump:
# the lines after smtp-sink's own X-*/Received: block, less the empty line that
# ends each record. Prints "COUNT AVG_BYTES".
dump_size() {
  awk '
    function flush() { if (inrec) { total += cur - 2; count++ } }
    /^X-Client-Addr: / { flush(); inrec = 1; cur = 0; hdr = 1; recv = 0; next }
    hdr { if (/^Received: /) { recv = 1; next } else if (recv && !/^\t/) hdr = 0; else next }
    { cur += length($0) + 2 }
    END { flush(); if (count) printf "%d %.0f\n", count, total / count; else print "0 0" }
  ' "$1"
}

# rtt_probe PORT: milliseconds for one NOOP round trip (after the banner),
# to check what the proxy adds.
rtt_probe() {
  local fd line t0 t1
  exec {fd}<>"/dev/tcp/127.0.0.1/$1" || { echo "?"; return 0; }
  read -r -t 5 line <&"$fd" || true
  printf 'EHLO probe\r\n' >&"$fd"
  while read -r -t 5 line <&"$fd"; do [[ $line == 250\ * ]] && break; done
  t0=$EPOCHREALTIME
  printf 'NOOP\r\n' >&"$fd"
  read -r -t 5 line <&"$fd" || true
  t1=$EPOCHREALTIME
  printf 'QUIT\r\n' >&"$fd"
  read -r -t 5 line <&"$fd" || true
  exec {fd}>&-
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }'
}

# --- toxiproxy ---
TOXI_API=""
start_toxiproxy() {
  [[ -n $TOXI_API ]] && return 0
  local port
  port=$(free_port) || return 1
  "$TOXI_SERVER" -host 127.0.0.1 -port "$port" >>"$LOGS/toxiproxy.log" 2>&1 &
  BG_PIDS+=("$!")
  wait_port "$port" "$!" toxiproxy-server || return 1
  TOXI_API=$port
}
toxi() { "$TOXI_CLI" -h "http://127.0.0.1:$TOXI_API" "$@" >>"$LOGS/toxiproxy-cli.log" 2>&1; }
# latency_proxy VAR NAME UPSTREAM_PORT: a proxy on a free port (in VAR) with
# LATENCY_MS on the upstream and the downstream.
latency_proxy() {
  local var=$1 name=$2 up=$3 port
  start_toxiproxy || return 1
  port=$(free_port) || return 1
  toxi create -l "127.0.0.1:$port" -u "127.0.0.1:$up" "$name" &&
    toxi toxic add -t latency -a "latency=$LATENCY_MS" -a jitter=0 -u "$name" &&
    toxi toxic add -t latency -a "latency=$LATENCY_MS" -a jitter=0 -d "$name" || {
    say "toxiproxy-cli failed:"
    tail -n 5 "$LOGS/toxiproxy-cli.log" >&2
    return 1
  }
  printf -v "$var" '%s' "$port"
}

# --- private Postfix smtpd: loopback only, every transport discards ---
start_postfix() { # start_postfix VAR: port in VAR
  local var=$1 port d i
  port=$(free_port) || return 1
  PF_DIR=$(mktemp -d /tmp/mbbench-postfix.XXXXXX) # reachable by the postfix user
  d=$PF_DIR
  chmod 755 "$d"
  mkdir -p "$d/etc" "$d/queue" "$d/data"
  chown postfix "$d/data"
  cat >"$d/etc/main.cf" <<EOF
compatibility_level = 3.6
config_directory = $d/etc
queue_directory = $d/queue
data_directory = $d/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mbbench.localdomain
mydomain = localdomain
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
default_transport = discard
local_transport = discard
relay_transport = discard
virtual_transport = discard
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = $d/maillog
maillog_file_prefixes = $d
smtpd_peername_lookup = no
smtpd_client_connection_rate_limit = 0
smtpd_client_connection_count_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_recipient_limit = 100000
message_size_limit = 104857600
default_process_limit = 200
in_flow_delay = 0s
biff = no
EOF
  cat >"$d/etc/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  # postfix prints its errors only to a terminal or the log: keep both.
  if ! postfix -c "$d/etc" start >>"$LOGS/postfix.log" 2>&1; then
    say "postfix start failed:"
    tail -n 5 "$d/maillog" "$LOGS/postfix.log" >&2 2>/dev/null || true
    return 1
  fi
  for i in $(seq 1 100); do
    port_in_use "$port" && { printf -v "$var" '%s' "$port"; return 0; }
    sleep 0.1
  done
  say "postfix did not listen on 127.0.0.1:$port"
  tail -n 5 "$d/maillog" >&2 2>/dev/null || true
  return 1
}
stop_postfix() {
  local d=$PF_DIR
  PF_DIR=""
  postfix -c "$d/etc" stop >>"$LOGS/postfix.log" 2>&1 || true
  [[ -f $d/maillog ]] && cp "$d/maillog" "$LOGS/postfix-maillog" 2>/dev/null || true
  rm -rf "$d"
}

LOAD_BEFORE=$(uptime)
say "mailblast $MB_REV; cases: $CASES; rounds: $ROUNDS"

# --- message sizes: a sample spread over the list, into a dumping sink ---
MB_SIZE=? SS_SIZE=? NM_SIZE=?
if want 1 || want 5; then
  mkdir -p "$TMP/dump"
  chmod 777 "$TMP/dump" # smtp-sink writes as nobody
  start_sink SIZE_PORT -D "$TMP/dump/d"
  SIZE_SINK_PID=$LAST_PID
  step=$(((ROWS + SIZE_SAMPLE - 1) / SIZE_SAMPLE))
  awk -v k="$step" 'NR == 1 || (NR - 2) % k == 0' "$WORK/list.csv" >"$WORK/sample.csv"
  sample_rows=$(($(wc -l <"$WORK/sample.csv") - 1))
  mb_cmd "$SIZE_PORT" "$TMP/state-size"
  if ! (cd "$WORK" && exec "${MB_CMD[@]}" send sample.csv --connections "$CONNECTIONS" --campaign size-sample) \
    >"$LOGS/size.out" 2>"$LOGS/size.err"; then
    say "mailblast failed on the size sample:"
    cat "$LOGS/size.err" >&2
    exit 1
  fi
  mv "$TMP/dump/d" "$TMP/dump/mailblast" # smtp-sink opens the dump per transaction
  read -r n MB_SIZE < <(dump_size "$TMP/dump/mailblast")
  [[ $n -eq $sample_rows ]] || { say "size sample: sink got $n mailblast messages, want $sample_rows"; exit 1; }
  if [[ -z ${SKIP[5]:-} ]]; then
    (cd "$WORK" && node "$BENCH/node/send.js" --host 127.0.0.1 --port "$SIZE_PORT" --list sample.csv \
      --template message.tmpl --connections "$CONNECTIONS") >"$LOGS/size-node.out" 2>&1 || true
    if [[ -f $TMP/dump/d ]]; then
      mv "$TMP/dump/d" "$TMP/dump/node"
      read -r n NM_SIZE < <(dump_size "$TMP/dump/node")
    fi
  fi
  "$SOURCE" -d -s 2 -m 20 -l 2000 -f news@example.com -t rcpt@example.com "127.0.0.1:$SIZE_PORT" >"$LOGS/size-source.out" 2>&1
  read -r n SS_SIZE < <(dump_size "$TMP/dump/d")
  stop_bg "$SIZE_SINK_PID"
fi

# The quiet sink (no dump, no counters) for cases 1, 2, 3 and 5.
start_sink PORT

# --- cases 1 and 5: loopback, 10 connections; mailblast, smtp-source, nodemailer ---
if want 1 || want 5; then
  for r in $(seq 1 "$ROUNDS"); do
    run_mailblast 1 "$r" "$PORT" list.csv "$ROWS"
    if want 1; then run_source 1 "$r" "$PORT" "$ROWS"; fi
    if want 5 && [[ -z ${SKIP[5]:-} ]]; then run_node 5 "$r" "$PORT" list.csv "$ROWS"; fi
  done
fi

# --- case 1b: the same, with a template like a real newsletter: lines over
# 76 characters (so the body is quoted-printable), 20+ substitutions, and an
# HTML part beside the text part. smtp-source sends messages of the same size.
if want 1b; then
  mb_cmd "$PORT" "$TMP/state-size-1b" MAILBLAST_TEMPLATE=newsletter.tmpl MAILBLAST_HTML_TEMPLATE=newsletter.html
  NL_SIZE=$(cd "$WORK" && "${MB_CMD[@]}" preview list1b.csv --row 2 2>/dev/null | wc -c)
  rm -rf "$TMP/state-size-1b"
  say "case 1b: newsletter message of $NL_SIZE bytes; smtp-source sends -l $NL_SIZE"
  for r in $(seq 1 "$ROUNDS"); do
    run_mailblast 1b "$r" "$PORT" list1b.csv "$ROWS" MAILBLAST_TEMPLATE=newsletter.tmpl MAILBLAST_HTML_TEMPLATE=newsletter.html
    SOURCE_LEN=$NL_SIZE run_source 1b "$r" "$PORT" "$ROWS"
  done
fi

# --- case 2: smtp-sink 20 ms away ---
RTT_2=n/a RTT_2B=n/a
if want 2 && [[ -z ${SKIP[2]:-} ]]; then
  if latency_proxy PROXY_2 sink "$PORT"; then
    RTT_2=$(rtt_probe "$PROXY_2")
    say "case 2: toxiproxy 127.0.0.1:$PROXY_2 -> smtp-sink 127.0.0.1:$PORT, NOOP round trip ${RTT_2} ms"
    for r in $(seq 1 "$ROUNDS"); do
      run_mailblast 2 "$r" "$PROXY_2" relay.csv "$RELAY_ROWS"
      run_source 2 "$r" "$PROXY_2" "$RELAY_ROWS"
    done
  else
    SKIP[2]="toxiproxy did not start (see bench/out/logs/toxiproxy*.log)"
    SKIP[2b]=${SKIP[2b]:-${SKIP[2]}}
    FAILED=1
  fi
fi

# --- case 2b: a private Postfix smtpd 20 ms away ---
if want 2b && [[ -z ${SKIP[2b]:-} ]]; then
  if start_postfix PF_PORT && latency_proxy PROXY_2B postfix "$PF_PORT"; then
    RTT_2B=$(rtt_probe "$PROXY_2B")
    PF_EHLO=$( (exec 3<>"/dev/tcp/127.0.0.1/$PF_PORT"; printf 'EHLO probe\r\nQUIT\r\n' >&3; timeout 2 cat <&3) 2>/dev/null |
      sed -nE 's/^250[- ]([A-Z0-9]+).*/\1/p' | grep -xE 'PIPELINING|CHUNKING' | paste -sd' ' || true)
    say "case 2b: toxiproxy 127.0.0.1:$PROXY_2B -> postfix 127.0.0.1:$PF_PORT ($PF_EHLO), NOOP round trip ${RTT_2B} ms"
    for r in $(seq 1 "$ROUNDS"); do
      run_mailblast 2b "$r" "$PROXY_2B" relay.csv "$RELAY_ROWS"
      run_source 2b "$r" "$PROXY_2B" "$RELAY_ROWS"
    done
  else
    SKIP[2b]="private Postfix or its proxy did not start (see bench/out/logs/postfix*)"
    FAILED=1
  fi
fi

# --- case 3: memory, BIG_ROWS rows to smtp-sink ---
if want 3 && [[ -z ${SKIP[3]:-} ]]; then
  for r in $(seq 1 "$ROUNDS"); do
    run_mailblast 3 "$r" "$PORT" big.csv "$BIG_ROWS"
  done
fi

# --- case 4: resume with LEFT of BIG_ROWS due ---
# Setup, once: the whole list goes to smtpstub, which answers 451 to RCPT for
# the last LEFT rows' domain; with MAILBLAST_RETRY_WAIT=0s send exits 75
# and leaves them deferred, due 1 s later (MAILBLAST_RETRY_SCHEDULE=1s is
# stored with the campaign). Each round: a copy of that state dir, a fresh
# accepting stub on the same port (the campaign keeps its relay), and the time
# from starting `mailblast resume` to the stub's first complete message.
if want 4; then
  STUB_PORT=$(free_port)
  BASE="$TMP/state-resume-base"
  start_stub "$STUB_PORT" "$LOGS/c4-setup.events" -defer-domain defer.example
  load=$(load1)
  mb_cmd "$STUB_PORT" "$BASE" MAILBLAST_RETRY_WAIT=0s MAILBLAST_RETRY_SCHEDULE=1s
  say "case 4 setup: mailblast send resume.csv ($BIG_ROWS rows, the last $LEFT deferred) ..."
  timed c4-setup "${MB_CMD[@]}" send resume.csv --connections "$CONNECTIONS" --campaign resume
  stop_bg "$LAST_PID"
  mb_summary c4-setup resume
  ok=no
  [[ $RC -eq 75 && $SENT == $((BIG_ROWS - LEFT)) && $DEFERRED == "$LEFT" ]] && ok=yes
  [[ $ok == yes ]] || fail_tail c4-setup
  record 4 "mailblast send (setup, to smtpstub)" 0 "$T" "$(rate "$BIG_ROWS" "$T")" "$RSS" "$RC" "$ok" "$load" \
    "sent $SENT, deferred $DEFERRED (want exit 75, $((BIG_ROWS - LEFT)) sent, $LEFT deferred); own time $OWN"
  if [[ $ok == yes ]]; then
    sleep 1.5 # the deferred rows fall due 1 s (+-10% jitter) after their attempt
    for r in $(seq 1 "$ROUNDS"); do
      rm -rf "$TMP/state-resume"
      cp -a "$BASE" "$TMP/state-resume"
      ev="$LOGS/c4-resume-$r.events"
      start_stub "$STUB_PORT" "$ev"
      load=$(load1)
      mb_cmd "$STUB_PORT" "$TMP/state-resume" MAILBLAST_RETRY_WAIT=0s
      say "case 4 round $r: mailblast resume ($LEFT due of $BIG_ROWS) ..."
      timed "c4-resume-$r" "${MB_CMD[@]}" resume
      stop_bg "$LAST_PID"
      mb_summary "c4-resume-$r" resume
      first_msg=$(awk '$1 == "first_msg" { print $2 }' "$ev")
      first_conn=$(awk '$1 == "first_conn" { print $2 }' "$ev")
      got=$(awk '$1 == "messages" { print $2 }' "$ev")
      lat=$(awk -v t0="$T0" -v t="${first_msg:-0}" 'BEGIN { if (t > 0) printf "%.3f", t / 1e9 - t0; else print "n/a" }')
      conn=$(awk -v t0="$T0" -v t="${first_conn:-0}" 'BEGIN { if (t > 0) printf "%.3f", t / 1e9 - t0; else print "n/a" }')
      ok=no
      [[ $RC -eq 0 && $SENT == "$BIG_ROWS" && $got == "$LEFT" && $lat != n/a ]] && ok=yes
      [[ $ok == yes ]] || fail_tail "c4-resume-$r"
      record 4 "mailblast resume" "$r" "$lat" n/a "$RSS" "$RC" "$ok" "$load" \
        "first message ${lat} s, first connection ${conn} s, whole resume ${T} s; relay got ${got:-?} messages; campaign sent $SENT"
    done
  fi
fi
LOAD_AFTER=$(uptime)

# --- report ---
# med CASE TOOL FIELD: median of a numeric column of $RESULTS (4 seconds,
# 5 msg/s, 6 RSS MiB) over the rounds that succeeded.
med() {
  awk -F'\t' -v c="$1" -v t="$2" -v f="$3" '$1 == c && $2 == t && $8 == "yes" && $f != "n/a" { print $f }' "$RESULTS" |
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
# verdict VALUE OP LIMIT: met / MISSED (not judged in QUICK mode)
verdict() {
  [[ $QUICK == 1 ]] && { echo "not judged (QUICK)"; return; }
  [[ $1 == n/a ]] && { echo "n/a"; return; }
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    ok = (op == ">=" ? v >= l : op == "<=" ? v <= l : v < l)
    print (ok ? "met" : "MISSED")
  }'
}
skip_row() { echo "| $1 | $2 | SKIP: $3 | | | | |"; }
summary_row() { # summary_row LABEL WHAT MAILBLAST_CASE PEER_CASE PEER_TOOL TARGET_RATIO
  local label=$1 what=$2 mc=$3 pc=$4 peer=$5 target=$6 mr pr rt
  mr=$(med "$mc" mailblast 5)
  pr=$(med "$pc" "$peer" 5)
  rt=$(ratio "$mr" "$pr")
  local cols="| $label | $what | $mr msg/s ($(med "$mc" mailblast 4) s) | $peer $pr msg/s ($(med "$pc" "$peer" 4) s) | $rt"
  if [[ -n $target ]]; then
    echo "$cols | >= $target | $(verdict "$rt" ">=" "$target") |"
  else
    echo "$cols | (none set) | |"
  fi
}

cmdline="ROUNDS=$ROUNDS bash bench/run.sh"
[[ $QUICK == 1 ]] && cmdline="QUICK=1 bash bench/run.sh"
[[ $CASES != "1 1b 2 2b 3 4 5" ]] && cmdline="CASES=\"$CASES\" $cmdline"
[[ $BUILD_FROM == HEAD ]] && cmdline="BUILD_FROM=HEAD $cmdline"

cat <<EOF

## mailblast benchmark (issue 5: speed and pacing)

- command: \`$cmdline\`$([[ $QUICK == 1 ]] && echo " (quick sizes: completion check only)")
- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/^MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), $(uname -sr); $(go version | cut -d' ' -f3-)
- mailblast: $MB_REV
- load average before: ${LOAD_BEFORE#*load average: }; after: ${LOAD_AFTER#*load average: }
- sizes: ROWS=$ROWS (cases 1, 5), RELAY_ROWS=$RELAY_ROWS (2, 2b), BIG_ROWS=$BIG_ROWS (3, 4), LEFT=$LEFT (4), $CONNECTIONS connections/sessions everywhere
- message size on the wire (CRLF, headers included, sample of the list): mailblast $MB_SIZE B, nodemailer $NM_SIZE B, smtp-source -l 2000 $SS_SIZE B
- relay latency: toxiproxy latency toxic of $LATENCY_MS ms upstream and downstream; measured NOOP round trip: case 2 $RTT_2 ms, case 2b $RTT_2B ms

| case | what | mailblast (median) | peer (median) | ratio | target | result |
|---|---|---|---|---:|---|---|
EOF
want 1 && summary_row 1 "loopback, $ROWS msgs to smtp-sink" 1 1 smtp-source 1.0
want 1b && summary_row 1b "loopback, $ROWS msgs to smtp-sink, newsletter template (QP text + HTML, 24 columns; ${NL_SIZE:-?} B)" 1b 1b smtp-source 1.0
if want 2; then
  if [[ -n ${SKIP[2]:-} ]]; then skip_row 2 "smtp-sink 20 ms away" "${SKIP[2]}"; else summary_row 2 "smtp-sink via toxiproxy +${LATENCY_MS}ms each way, $RELAY_ROWS msgs" 2 2 smtp-source 2.0; fi
fi
if want 2b; then
  if [[ -n ${SKIP[2b]:-} ]]; then skip_row 2b "Postfix smtpd 20 ms away" "${SKIP[2b]}"; else summary_row 2b "Postfix smtpd via toxiproxy +${LATENCY_MS}ms each way, $RELAY_ROWS msgs" 2b 2b smtp-source 3.0; fi
fi
if want 3; then
  if [[ -n ${SKIP[3]:-} ]]; then
    skip_row 3 "memory, $BIG_ROWS rows" "${SKIP[3]}"
  else
    m=$(med 3 mailblast 6)
    echo "| 3 | memory: $BIG_ROWS rows to smtp-sink | peak RSS $m MiB ($(med 3 mailblast 5) msg/s, $(med 3 mailblast 4) s) | | | <= 64 MiB | $(verdict "$m" "<=" 64) |"
  fi
fi
if want 4; then
  m=$(med 4 "mailblast resume" 4)
  echo "| 4 | resume: $LEFT due of $BIG_ROWS, start of \`mailblast resume\` to first message at the relay | $m s | | | < 1 s | $(verdict "$m" "<" 1) |"
fi
if want 5; then
  if [[ -n ${SKIP[5]:-} ]]; then skip_row 5 "nodemailer pool" "${SKIP[5]}"; else summary_row 5 "loopback, $ROWS msgs to smtp-sink, vs nodemailer pool (maxConnections $CONNECTIONS); mailblast runs of case 1" 1 5 nodemailer ""; fi
fi

cat <<EOF

Ratios are mailblast msg/s over the peer's (medians; above 1: mailblast faster). Each case's rounds alternate the tools.

| case | tool | round | wall s | msg/s | peak RSS MiB | exit | ok | load1 | notes |
|---|---|---:|---:|---:|---:|---:|---|---:|---|
EOF
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$RESULTS"
skipped=""
for c in 2 2b 3 5; do
  if want "$c" && [[ -n ${SKIP[$c]:-} ]]; then skipped+="- case $c: SKIP: ${SKIP[$c]}"$'\n'; fi
done
[[ -n $skipped ]] && printf '\n%s' "$skipped"
if [[ $FAILED -ne 0 ]]; then
  echo
  echo "- FAILED: at least one run exited non-zero or did not send every message (see above and bench/out/logs)"
  exit 1
fi
exit 0
