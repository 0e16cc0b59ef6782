#!/usr/bin/env bash
# bench/profile.sh: the per-message CPU breakdown in BENCHMARKS.md. One
# case-1 send (ROWS rows, 100,000 by default, the benchmark's list and
# template, 10 connections) to a local smtp-sink, with a CPU profile; each
# sample goes to the innermost frame of mailblast's own code (or of a
# message library), walking from the leaf: SQLite and database/sql time is
# the ledger's, socket time the SMTP code's, allocation and GC assists the
# component that allocated. Samples without such a frame are runtime/GC.
#
#   bash bench/profile.sh            # needs smtp-sink (bench/install.sh)
#   ROWS=20000 bash bench/profile.sh
#   CASE=1b bash bench/profile.sh    # case 1b: the newsletter list and template
#   KEEP=1 bash bench/profile.sh     # keep the temp dir (binary, cpu.prof) for go tool pprof
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
ROWS=${ROWS:-100000}
CASE=${CASE:-1}
[[ $CASE == 1 || $CASE == 1b ]] || { echo "profile: CASE is 1 or 1b" >&2; exit 2; }
SINK=$(command -v smtp-sink) || { echo "profile: smtp-sink not found (bash bench/install.sh)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mailblast-profile.XXXXXX")
chmod 755 "$TMP"
trap 'kill "${SINK_PID:-0}" 2>/dev/null || true; [[ -n ${KEEP:-} ]] || rm -rf "$TMP"' EXIT

(cd "$ROOT" && go build -o "$TMP/mailblast" .)
# The lists and templates are bench/run.sh's own, cut out of it.
heredoc() { sed -n "/^cat >\"\\\$WORK\/$1\" <<.EOF.\$/,/^EOF\$/p" "$ROOT/bench/run.sh" | sed '1d;$d'; }
extra=()
if [[ $CASE == 1b ]]; then
  eval "$(sed -n '/^gen1b() {$/,/^}$/p' "$ROOT/bench/run.sh")"
  gen1b "$ROWS" >"$TMP/list.csv"
  heredoc newsletter.tmpl >"$TMP/message.tmpl"
  heredoc newsletter.html >"$TMP/message.html"
  extra=(MAILBLAST_HTML_TEMPLATE=message.html)
else
  awk -v rows="$ROWS" 'BEGIN { print "email,first_name,n,city"
    for (i = 1; i <= rows; i++) printf "user%d@example.com,Name%d,%d,City%d\n", i, i, i, i % 97 }' >"$TMP/list.csv"
  heredoc message.tmpl >"$TMP/message.tmpl"
fi
[[ -s $TMP/message.tmpl ]] || { echo "profile: could not cut the template out of bench/run.sh" >&2; exit 1; }

port=$((20000 + RANDOM % 40000))
user=()
[[ $(id -u) -eq 0 ]] && user=(-u nobody)
"$SINK" "${user[@]}" "127.0.0.1:$port" 1000 >/dev/null 2>&1 &
SINK_PID=$!
sleep 0.5

start=$EPOCHREALTIME
(cd "$TMP" && env HOME="$TMP" XDG_CONFIG_HOME="$TMP/config" MAILBLAST_SMTP_HOST=127.0.0.1 MAILBLAST_SMTP_PORT="$port" \
  MAILBLAST_SMTP_TLS=none MAILBLAST_STATE_DIR="$TMP/state" MAILBLAST_TEMPLATE=message.tmpl MAILBLAST_PROGRESS=quiet \
  MAILBLAST_CPUPROFILE="$TMP/cpu.prof" "${extra[@]}" ./mailblast send list.csv --connections 10 >/dev/null 2>"$TMP/err") ||
  { cat "$TMP/err" >&2; exit 1; }
wall=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
echo "mailblast $(git -C "$ROOT" describe --always --dirty), case $CASE; $ROWS messages in $wall s; $(tail -n 1 "$TMP/err")"

go tool pprof -traces "$TMP/mailblast" "$TMP/cpu.prof" 2>/dev/null | awk -v rows="$ROWS" '
  function unit(v) { if (v ~ /ms$/) return substr(v, 1, length(v) - 2) / 1000; if (v ~ /s$/) return substr(v, 1, length(v) - 1) + 0; return 0 }
  function component(f) {
    if (f ~ /mailblast\/recipients\.|^encoding\/csv\./) return "CSV read"
    if (f ~ /go-msgauth/) return "DKIM"
    if (f ~ /mailblast\/templates\.|emersion\/go-message|^mime\/quotedprintable\./) return "render: the rest (header fields, MIME structure)"
    if (f ~ /ledger\.\(\*SQLite\)\.applySent|ledger\.\(\*SQLite\)\.applyOutcomes/) return "ledger: outcomes"
    if (f ~ /ledger\.\(\*SQLite\)\.applyClaims/) return "ledger: claims"
    if (f ~ /ledger\.\(\*SQLite\)\.Apply$|ledger\.settleClaims/) return "ledger: group commit (begin, fsync, settle)"
    if (f ~ /ledger\.\(\*importer\)|ledger\.markDuplicates|ledger\.suppressRows|ledger\.skippedRows/) return "ledger: import"
    if (f ~ /ledger\.\(\*SQLite\)\.(Due|dueFresh)/) return "ledger: due-row reads"
    if (f ~ /mailblast\/ledger\./) return "ledger: other"
    if (f ~ /mailblast\/sender\./) return "SMTP"
    if (f ~ /mailblast\/(campaign|cmd|progress)\./) return "campaign glue"
    return ""
  }
  # A render sample is refined by the nearest of these frames above it.
  function refine(f) {
    if (f ~ /^mime\/quotedprintable\.|mailblast\/templates\.appendQP/) return "render: quoted-printable"
    if (f ~ /mailblast\/templates\.\(\*htmlExpander\)\.execute/) return "render: HTML body (html/template)"
    if (f ~ /mailblast\/templates\.\(\*expander\)\.execute/) return "render: text templates (body, header values)"
    return ""
  }
  function frame(f) {
    if (comp == "") comp = component(f)
    if (comp ~ /^render/ && !refined && (r = refine(f)) != "") { comp = r; refined = 1 }
  }
  function flush() { if (v > 0) { c = (comp == "" ? "runtime/GC, no application frame" : comp); cpu[c] += v; total += v } v = 0; comp = ""; refined = 0 }
  /^-+\+-+$/ { flush(); next }
  /^ +[0-9.]+(ms|s) / { flush(); v = unit($1); frame($2); next }
  /^ +[^ ]/ && v > 0 { frame($1) }
  END {
    flush()
    for (c in cpu) if (c ~ /^render/) render += cpu[c]
    printf "render + MIME in all: %.2f s CPU, %.1f µs / message\n\n", render, render * 1e6 / rows
    printf "| component | CPU s | µs / message | share |\n|---|---:|---:|---:|\n"
    n = split("CSV read|render: text templates (body, header values)|render: HTML body (html/template)|render: quoted-printable|render: the rest (header fields, MIME structure)|DKIM|ledger: outcomes|ledger: claims|ledger: group commit (begin, fsync, settle)|ledger: import|ledger: due-row reads|ledger: other|SMTP|campaign glue|runtime/GC, no application frame", order, "|")
    for (i = 1; i <= n; i++) printf "| %s | %.2f | %.1f | %.1f%% |\n", order[i], cpu[order[i]], cpu[order[i]] * 1e6 / rows, 100 * cpu[order[i]] / total
    printf "| **total** | **%.2f** | **%.1f** | 100%% |\n", total, total * 1e6 / rows
  }'
