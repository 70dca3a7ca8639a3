'use strict';
// npm `smpp`'s client as bench/compare.sh runs it: bind_transceiver, then N
// submits of the gateway's UCS2 JSON OTP body with `window` in flight (each
// answer sends the next), answering and counting every receipt. Prints one
// line "result key=value ...": submits/s, receipts/s, p50/p99/p999
// submit->answer (us), CPU per message (us) and peak RSS (KB) of this
// process.
//
// usage: node client.js HOST PORT WINDOW N

const smpp = require('smpp');

const [host, port, windowArg, nArg] = process.argv.slice(2);
const window = Number(windowArg);
const n = Number(nArg);
if (!host || !port || !(window > 0) || !(n > 0)) {
  process.stderr.write('usage: node client.js HOST PORT WINDOW N\n');
  process.exit(2);
}

const body = JSON.stringify({
  id: 'otp-login', language: 'default', code: '123456', params: { app: 'Acme' },
});
const lat = new Uint32Array(n);
let sent = 0;
let answered = 0;
let failed = 0;
let receipts = 0;
let t0 = 0;
let tAnswers = 0;
let tReceipts = 0;
let cpu0 = null;

const session = smpp.connect({ url: `smpp://${host}:${port}` }, () => {
  if (session.socket && session.socket.setNoDelay) session.socket.setNoDelay(true);
});
session.on('error', (e) => {
  process.stderr.write(`npm client: ${e.message || e}\n`);
  process.exit(4);
});

function finishIfDone() {
  if (answered < n || receipts < n) return;
  const cpu = process.cpuUsage(cpu0);
  const sorted = lat.slice(0, answered).sort();
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const tLast = Math.max(tAnswers, tReceipts);
  const out = {
    n, window, failed,
    submits_per_s: n / ((tAnswers - t0) / 1e9),
    receipts_per_s: n / ((tLast - t0) / 1e9),
    p50: pct(0.5), p99: pct(0.99), p999: pct(0.999),
    cl_us: (cpu.user + cpu.system) / n,
    rss_kb: process.resourceUsage().maxRSS,
  };
  const line = Object.keys(out).sort().map((k) => `${k}=${out[k]}`).join(' ');
  session.unbind(() => {
    process.stdout.write(`result ${line}\n`, () => process.exit(0));
  });
}

function now() { return Number(process.hrtime.bigint()); }

function sendOne() {
  const i = sent++;
  const start = now();
  session.submit_sm({
    service_type: 'CODE',
    source_addr: '',
    destination_addr: '+6598765432',
    registered_delivery: 1,
    data_coding: 8,
    short_message: { message: body },
  }, (resp) => {
    lat[i] = Math.round((now() - start) / 1000);
    answered++;
    if (resp.command_status !== 0) failed++;
    if (answered === n) tAnswers = now();
    if (sent < n) sendOne();
    finishIfDone();
  });
}

session.on('deliver_sm', (pdu) => {
  session.send(pdu.response());
  receipts++;
  if (receipts === n) tReceipts = now();
  finishIfDone();
});

session.bind_transceiver({ system_id: 'test', password: 'secret' }, (pdu) => {
  if (pdu.command_status !== 0) {
    process.stderr.write(`npm client: bind failed, status ${pdu.command_status}\n`);
    process.exit(8);
  }
  cpu0 = process.cpuUsage();
  t0 = now();
  for (let k = 0; k < window && sent < n; k++) sendOne();
});
