'use strict';
// An independent SMPP client (the npm `smpp` package) against bin/smpp-sim:
// bind_transceiver, one UCS2 JSON OTP (data_coding 8), wait for its
// deliver_sm receipt and answer it, unbind. Prints one JSON summary line and
// exits 0; any failure or the timeout exits non-zero.
//
// usage: node client.js HOST PORT SYSTEM_ID PASSWORD [DESTINATION] [TIMEOUT_MS]

const smpp = require('smpp');

const [host, port, systemId, password, dest = '+6598765432', timeoutArg = '10000'] =
  process.argv.slice(2);
if (!host || !port || !systemId || password === undefined) {
  process.stderr.write('usage: node client.js HOST PORT SYSTEM_ID PASSWORD [DEST] [TIMEOUT_MS]\n');
  process.exit(2);
}

const summary = { bound: false, unbound: false };
let finished = false;

function finish(code, error) {
  if (finished) return;
  finished = true;
  if (error) summary.error = String(error);
  process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(code));
}

const timer = setTimeout(() => finish(3, 'timeout'), Number(timeoutArg));

const session = smpp.connect({ url: `smpp://${host}:${port}` });
session.on('error', (e) => finish(4, e.message || e));
session.on('close', () => {
  if (!summary.unbound) finish(5, 'connection closed');
});

// The receipt may come before the submit_sm_resp (PROTOCOL.md): keep both
// and go on when both are in.
let submitResp = null;
let receipt = null;

function maybeDone() {
  if (!submitResp || !receipt) return;
  if (receipt.receipted_message_id !== submitResp.message_id) {
    finish(6, `receipt for ${receipt.receipted_message_id}, submitted ${submitResp.message_id}`);
    return;
  }
  session.unbind((pdu) => {
    summary.unbind_status = pdu.command_status;
    summary.unbound = true;
    clearTimeout(timer);
    session.close();
    finish(pdu.command_status === 0 ? 0 : 7);
  });
}

session.on('deliver_sm', (pdu) => {
  session.send(pdu.response());
  const text = pdu.short_message && pdu.short_message.message !== undefined
    ? String(pdu.short_message.message) : String(pdu.short_message);
  receipt = {
    service_type: pdu.service_type,
    source_addr: pdu.source_addr,
    destination_addr: pdu.destination_addr,
    esm_class: pdu.esm_class,
    data_coding: pdu.data_coding,
    receipted_message_id: pdu.receipted_message_id,
    message_state: pdu.message_state,
    text,
  };
  summary.receipt = receipt;
  maybeDone();
});

session.bind_transceiver({ system_id: systemId, password }, (pdu) => {
  summary.bind_status = pdu.command_status;
  summary.system_id = pdu.system_id;
  if (pdu.command_status !== 0) {
    finish(8, 'bind failed');
    return;
  }
  summary.bound = true;
  const body = JSON.stringify({
    id: 'otp-login', language: 'default', code: '123456', params: { app: 'Acme' },
  });
  session.submit_sm({
    service_type: 'CODE',
    source_addr: '',
    destination_addr: dest,
    registered_delivery: 1,
    data_coding: 8, // UCS2: the package encodes the string as UTF-16BE
    short_message: { message: body },
  }, (resp) => {
    summary.submit_status = resp.command_status;
    summary.message_id = resp.message_id;
    if (resp.command_status !== 0) {
      finish(9, 'submit failed');
      return;
    }
    submitResp = resp;
    maybeDone();
  });
});
