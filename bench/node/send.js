#!/usr/bin/env node
// The nodemailer peer for bench/run.sh: what a user would script instead of
// mailblast. It reads the same list and template, renders {{.field}} in the
// headers and the body for every row (a personalised subject and body), and
// sends each message through nodemailer's pooled SMTP transport with a
// bounded number of messages queued, so memory stays flat on big lists.
//
//   node send.js --host 127.0.0.1 --port 2525 --list list.csv \
//     --template message.tmpl [--connections 10] [--window 100]
//
// The list is the benchmark's own CSV: a header line, then plain
// comma-separated rows without quoting. Prints one summary line to stderr and
// exits 1 if any message failed.
'use strict';

const fs = require('fs');
const readline = require('readline');
const nodemailer = require('nodemailer');

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 0, list: '', template: '', connections: 10, window: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in opts) || i + 1 >= argv.length) {
      throw new Error(`usage: send.js --host H --port P --list FILE --template FILE [--connections N] [--window N] (bad argument ${argv[i]})`);
    }
    opts[key] = typeof opts[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!opts.port || !opts.list || !opts.template) {
    throw new Error('send.js: --port, --list and --template are required');
  }
  if (!opts.window) opts.window = 10 * opts.connections;
  return opts;
}

// parseTemplate splits "Header: value" lines from the body at the first blank line.
function parseTemplate(text) {
  const at = text.search(/\r?\n\r?\n/);
  const head = at < 0 ? text : text.slice(0, at);
  const body = at < 0 ? '' : text.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers = {};
  for (const line of head.split(/\r?\n/)) {
    const m = /^([^:\s]+):\s*(.*)$/.exec(line);
    if (m) headers[m[1].toLowerCase()] = m[2];
  }
  if (!headers.from || !headers.subject) throw new Error('send.js: template needs From: and Subject:');
  return { from: headers.from, subject: headers.subject, body };
}

function render(s, fields) {
  return s.replace(/\{\{\s*\.([A-Za-z0-9_]+)\s*\}\}/g, (_, k) => (k in fields ? fields[k] : ''));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const tmpl = parseTemplate(fs.readFileSync(opts.template, 'utf8'));
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: opts.connections,
    maxMessages: Infinity,
    host: opts.host,
    port: opts.port,
    secure: false,
    ignoreTLS: true,
  });

  const start = process.hrtime.bigint();
  let sent = 0;
  let failed = 0;
  let firstError = null;
  let inFlight = 0;
  let wake = null;
  const done = () => {
    inFlight--;
    if (wake) {
      const w = wake;
      wake = null;
      w();
    }
  };

  const rl = readline.createInterface({ input: fs.createReadStream(opts.list), crlfDelay: Infinity });
  let columns = null;
  for await (const line of rl) {
    if (line === '') continue;
    const cells = line.split(',');
    if (!columns) {
      columns = cells;
      continue;
    }
    const fields = {};
    columns.forEach((c, i) => { fields[c] = cells[i] === undefined ? '' : cells[i]; });
    while (inFlight >= opts.window) await new Promise((resolve) => { wake = resolve; });
    inFlight++;
    transport.sendMail({
      from: render(tmpl.from, fields),
      to: fields.email,
      subject: render(tmpl.subject, fields),
      text: render(tmpl.body, fields),
      disableFileAccess: true,
      disableUrlAccess: true,
    }, (err) => {
      if (err) {
        failed++;
        if (!firstError) firstError = err;
      } else {
        sent++;
      }
      done();
    });
  }
  while (inFlight > 0) await new Promise((resolve) => { wake = resolve; });
  transport.close();

  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  process.stderr.write(`nodemailer: ${sent} sent, ${failed} failed (${secs.toFixed(3)}s)\n`);
  if (firstError) process.stderr.write(`nodemailer: first error: ${firstError.message}\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exitCode = 2;
});
