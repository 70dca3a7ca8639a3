'use strict';
// A gateway-like SMPP server on npm `smpp`, for bench/compare.sh: accepts
// bind_transceiver from test/secret, answers every submit_sm at once with a
// message_id and sends its delivery receipt (deliver_sm, esm_class 4, the
// SMPP 3.4 Appendix B text plus TLVs receipted_message_id and
// message_state), as bin/smpp-sim does with --receipt-delay 0. No-delay on.
//
// usage: node server.js [PORT]   (0 picks a free port; prints
//        "listening on 127.0.0.1:PORT")

const smpp = require('smpp');

const port = Number(process.argv[2] || 0);
let nextId = 1;

function two(n) { return n < 10 ? `0${n}` : String(n); }
// YYMMDDhhmm, cached per second as the gateway's own clock would be read.
let dateSecond = -1;
let dateText = '';
function date() {
  const s = Math.floor(Date.now() / 1000);
  if (s !== dateSecond) {
    const d = new Date(s * 1000);
    dateSecond = s;
    dateText = two(d.getUTCFullYear() % 100) + two(d.getUTCMonth() + 1) + two(d.getUTCDate())
      + two(d.getUTCHours()) + two(d.getUTCMinutes());
  }
  return dateText;
}

const server = smpp.createServer({}, (session) => {
  if (session.socket && session.socket.setNoDelay) session.socket.setNoDelay(true);
  let bound = false;
  session.on('error', () => {});
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== 'test' || pdu.password !== 'secret') {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    bound = true;
    session.send(pdu.response({ system_id: 'npm-gateway' }));
  });
  session.on('submit_sm', (pdu) => {
    if (!bound) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    const id = (nextId++).toString(16).padStart(12, '0');
    session.send(pdu.response({ message_id: id }));
    const d = date();
    session.deliver_sm({
      source_addr: pdu.destination_addr,
      destination_addr: pdu.source_addr,
      esm_class: 4,
      short_message: `id:${id} sub:001 dlvrd:001 submit date:${d} done date:${d} stat:DELIVRD err:000 text:`,
      receipted_message_id: id,
      message_state: 2,
    });
  });
  session.on('deliver_sm_resp', () => {});
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    session.close();
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
