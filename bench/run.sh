#!/usr/bin/env bash
# Baseline for issue "send pipeline": the real mailblast binary sending ROWS
# ~2 KB personalised messages to Postfix's smtp-sink over 10 connections (CSV
# read, template render, MIME, ledger commits: the whole pipeline), alternated
# with Postfix's smtp-source pushing the same number of 2,000-byte messages over
# 10 sessions to the same sink. smtp-source is the "how fast can a client go on
# this machine" reference: ratio > 1 means mailblast is faster.
#
#   bench/run.sh                      # ROWS=100000 ROUNDS=3
#   ROWS=20000 ROUNDS=5 bench/run.sh
#   QUICK=1 bench/run.sh              # CI smoke: ROWS=2000 ROUNDS=1
#
# Env: ROWS, ROUNDS, CONNECTIONS (10), SIZE_SAMPLE (rows rendered to measure
# the message size, 200), QUICK=1. Exit status is non-zero if any run failed
# (non-zero exit, or mailblast not reporting every row sent).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ "${QUICK:-0}" == 1 ]]; then
  ROWS=2000
  ROUNDS=1
fi
ROWS=${ROWS:-100000}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-10}
SIZE_SAMPLE=${SIZE_SAMPLE:-200}
for v in ROWS ROUNDS CONNECTIONS SIZE_SAMPLE; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
export LC_ALL=C

# Only the settings below reach mailblast.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^MAILBLAST_' || true)

# --- processes and temp files: everything started here is killed on exit ---
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mailblast-bench.XXXXXX")
chmod 755 "$TMP"
SINK_PIDS=()
CHILD=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $CHILD ]]; then
    pkill -TERM -P "$CHILD" 2>/dev/null || true # the tool under /usr/bin/time
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  local p
  for p in "${SINK_PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- dependencies and build ---
find_tool() {
  local p
  for p in "/usr/sbin/$1" "/usr/bin/$1" "$(command -v "$1" 2>/dev/null || true)"; do
    [[ -n $p && -x $p ]] && { echo "$p"; return 0; }
  done
  return 1
}
if ! find_tool smtp-sink >/dev/null || ! find_tool smtp-source >/dev/null; then
  bash "$ROOT/scripts/install-deps.sh" >&2
fi
SINK=$(find_tool smtp-sink) || { echo "bench: smtp-sink not found after install-deps.sh" >&2; exit 1; }
SOURCE=$(find_tool smtp-source) || { echo "bench: smtp-source not found after install-deps.sh" >&2; exit 1; }
TIME_BIN=""
[[ -x /usr/bin/time ]] && TIME_BIN=/usr/bin/time # GNU time, for peak RSS; optional

# The binary lives in its own directory: run from a directory holding a file
# named "mailblast", mailblast reads that file as its (YAML) config.
mkdir -p "$TMP/bin" "$TMP/work" "$TMP/logs"
(cd "$ROOT" && go build -o "$TMP/bin/mailblast" .)
MB="$TMP/bin/mailblast"
WORK="$TMP/work"
LOGS="$TMP/logs"

# --- data: ROWS recipients and a ~2,000-byte plain-text template ---
awk -v rows="$ROWS" 'BEGIN {
  print "email,first_name,n,city"
  for (i = 1; i <= rows; i++) printf "user%d@example.com,Name%d,%d,City%d\n", i, i, i, i % 97
}' >"$WORK/list.csv"

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

# --- smtp-sink ---
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}
# start_sink VAR [smtp-sink options...]: starts one on a free port, puts the
# port in VAR and waits until it accepts connections.
start_sink() {
  local var=$1 port pid i
  shift
  local user=()
  [[ $(id -u) -eq 0 ]] && user=(-u nobody) # as root it must drop privileges
  port=$(free_port) || { echo "bench: no free port" >&2; return 1; }
  "$SINK" "${user[@]}" "$@" "127.0.0.1:$port" 1000 >>"$LOGS/sink.log" 2>&1 &
  pid=$!
  SINK_PIDS+=("$pid")
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || { echo "bench: smtp-sink exited:" >&2; cat "$LOGS/sink.log" >&2; return 1; }
    port_in_use "$port" && { printf -v "$var" '%s' "$port"; return 0; }
    sleep 0.05
  done
  echo "bench: smtp-sink did not start listening on 127.0.0.1:$port" >&2
  return 1
}
stop_sink() { # stop_sink PID
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${SINK_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  SINK_PIDS=("${keep[@]}")
}

# mb_cmd PORT STATE_DIR: sets MB_CMD to the real binary with the documented
# environment (run it from $WORK).
mb_cmd() {
  MB_CMD=(env HOME="$WORK" XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/xstate"
    MAILBLAST_SMTP_HOST=127.0.0.1 MAILBLAST_SMTP_PORT="$1" MAILBLAST_SMTP_TLS=none
    MAILBLAST_STATE_DIR="$2" MAILBLAST_TEMPLATE=message.tmpl MAILBLAST_PROGRESS=quiet "$MB")
}

# timed NAME cmd...: runs cmd in $WORK with stdout/stderr in $LOGS/NAME.{out,err};
# sets T (wall seconds), RSS (peak KiB or "n/a"), RC (exit status).
timed() {
  local name=$1 t0 t1
  shift
  RC=0
  t0=$(date +%s.%N)
  if [[ -n $TIME_BIN ]]; then
    (cd "$WORK" && exec "$TIME_BIN" -f '%e %M' -o "$LOGS/$name.time" "$@") >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
  else
    (cd "$WORK" && exec "$@") >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
  fi
  CHILD=$!
  wait "$CHILD" || RC=$?
  CHILD=""
  t1=$(date +%s.%N)
  T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  RSS=n/a
  if [[ -n $TIME_BIN && -s $LOGS/$name.time ]]; then
    RSS=$(tail -n 1 "$LOGS/$name.time" | awk '{ print $2 }')
  fi
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

load1() { cut -d' ' -f1 /proc/loadavg; }
mib() { [[ $1 == n/a ]] && echo n/a || awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
rate() { awk -v n="$ROWS" -v t="$1" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

LOAD_BEFORE=$(uptime)
GIT_DESC=$(git -C "$ROOT" describe --always --dirty --tags 2>/dev/null || echo unknown)

# --- message size: render a sample spread over the list into a dumping sink ---
mkdir -p "$TMP/dump"
chmod 777 "$TMP/dump" # smtp-sink writes as nobody
start_sink SIZE_PORT -D "$TMP/dump/d"
SIZE_SINK_PID=${SINK_PIDS[-1]}
step=$(((ROWS + SIZE_SAMPLE - 1) / SIZE_SAMPLE))
awk -v k="$step" 'NR == 1 || (NR - 2) % k == 0' "$WORK/list.csv" >"$WORK/sample.csv"
mb_cmd "$SIZE_PORT" "$TMP/state-size"
if ! (cd "$WORK" && exec "${MB_CMD[@]}" send sample.csv --connections "$CONNECTIONS" --campaign size-sample) \
  >"$LOGS/size.out" 2>"$LOGS/size.err"; then
  echo "bench: mailblast failed on the size sample:" >&2
  cat "$LOGS/size.err" >&2
  exit 1
fi
mv "$TMP/dump/d" "$TMP/dump/mailblast" # smtp-sink opens the dump per transaction
"$SOURCE" -d -s 2 -m 20 -l 2000 -f news@example.com -t rcpt@example.com "127.0.0.1:$SIZE_PORT" >"$LOGS/size-source.out" 2>&1
stop_sink "$SIZE_SINK_PID"
read -r MB_SIZE_N MB_SIZE < <(dump_size "$TMP/dump/mailblast")
read -r SS_SIZE_N SS_SIZE < <(dump_size "$TMP/dump/d")
sample_rows=$(($(wc -l <"$WORK/sample.csv") - 1))
if [[ $MB_SIZE_N -ne $sample_rows ]]; then
  echo "bench: size sample: sink got $MB_SIZE_N messages, want $sample_rows" >&2
  exit 1
fi

# --- the benchmark: one quiet sink (no dump, no counters), alternating runs ---
start_sink PORT
MB_T=() MB_R=() MB_RSS=() MB_RC=() MB_SENT=() MB_OWN=() MB_LOAD=()
SS_T=() SS_R=() SS_RSS=() SS_RC=() SS_LOAD=()
FAILED=0
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: mailblast send, $ROWS rows, $CONNECTIONS connections ..." >&2
  MB_LOAD+=("$(load1)")
  mb_cmd "$PORT" "$TMP/state-$r"
  timed "mailblast-$r" "${MB_CMD[@]}" send list.csv --connections "$CONNECTIONS" --campaign "bench-$r"
  summary=$(grep -E "^campaign bench-$r: " "$LOGS/mailblast-$r.err" | tail -n 1 || true)
  sent=$(sed -nE 's/.* ([0-9]+) sent,.*/\1/p' <<<"$summary")
  own=$(sed -nE 's/.*\(([^)]*)\)[[:space:]]*$/\1/p' <<<"$summary")
  MB_T+=("$T") MB_R+=("$(rate "$T")") MB_RSS+=("$(mib "$RSS")") MB_RC+=("$RC") MB_SENT+=("${sent:-?}") MB_OWN+=("${own:-?}")
  if [[ $RC -ne 0 || ${sent:-} != "$ROWS" ]]; then
    FAILED=1
    echo "bench: round $r: mailblast exit $RC, sent ${sent:-?} of $ROWS; stderr:" >&2
    tail -n 20 "$LOGS/mailblast-$r.err" >&2
  fi
  echo "  ${T}s; smtp-source, $ROWS messages, $CONNECTIONS sessions ..." >&2

  SS_LOAD+=("$(load1)")
  timed "smtp-source-$r" "$SOURCE" -d -s "$CONNECTIONS" -m "$ROWS" -l 2000 -f news@example.com -t rcpt@example.com "127.0.0.1:$PORT"
  SS_T+=("$T") SS_R+=("$(rate "$T")") SS_RSS+=("$(mib "$RSS")") SS_RC+=("$RC")
  if [[ $RC -ne 0 || -s $LOGS/smtp-source-$r.err ]]; then
    [[ $RC -ne 0 ]] && FAILED=1
    echo "bench: round $r: smtp-source exit $RC; output:" >&2
    tail -n 20 "$LOGS/smtp-source-$r.err" "$LOGS/smtp-source-$r.out" >&2
  fi
  echo "  ${T}s" >&2
done
LOAD_AFTER=$(uptime)

# --- report ---
MB_MED_T=$(median "${MB_T[@]}")
SS_MED_T=$(median "${SS_T[@]}")
MB_MED_R=$(median "${MB_R[@]}")
SS_MED_R=$(median "${SS_R[@]}")
RATIO=$(awk -v a="$MB_MED_R" -v b="$SS_MED_R" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')

cat <<EOF

## mailblast send pipeline vs smtp-source, $ROWS messages to smtp-sink

- command: $( [[ "${QUICK:-0}" == 1 ]] && echo "QUICK=1 " )ROWS=$ROWS ROUNDS=$ROUNDS CONNECTIONS=$CONNECTIONS bench/run.sh
- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/^MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), $(uname -sr)
- $(go version)
- mailblast: git describe $GIT_DESC
- load before: ${LOAD_BEFORE#*load average: } (uptime); after: ${LOAD_AFTER#*load average: }
- message size: mailblast $MB_SIZE bytes on average ($MB_SIZE_N rendered rows spread over the list, on the wire with CRLF, headers included); smtp-source -l 2000: $SS_SIZE bytes
- mailblast: \`send list.csv --connections $CONNECTIONS\`, fresh state dir and campaign each round; smtp-source: \`-d -s $CONNECTIONS -m $ROWS -l 2000\`; one smtp-sink (backlog 1000, no dump) for all runs

| round | mailblast s | mailblast msg/s | mailblast own time | peak RSS MiB | exit | sent | load1 | smtp-source s | smtp-source msg/s | peak RSS MiB | exit | load1 |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
for i in "${!MB_T[@]}"; do
  echo "| $((i + 1)) | ${MB_T[i]} | ${MB_R[i]} | ${MB_OWN[i]} | ${MB_RSS[i]} | ${MB_RC[i]} | ${MB_SENT[i]} | ${MB_LOAD[i]} | ${SS_T[i]} | ${SS_R[i]} | ${SS_RSS[i]} | ${SS_RC[i]} | ${SS_LOAD[i]} |"
done
cat <<EOF

- median mailblast: ${MB_MED_T} s, ${MB_MED_R} msg/s
- median smtp-source: ${SS_MED_T} s, ${SS_MED_R} msg/s
- ratio mailblast/smtp-source (msg/s, medians): $RATIO (> 1: mailblast faster)
EOF
if [[ $FAILED -ne 0 ]]; then
  echo "- FAILED: at least one run exited non-zero or did not send every row (see above)"
  exit 1
fi
