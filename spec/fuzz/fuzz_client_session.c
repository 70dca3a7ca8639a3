/*
 * fuzz_client_session.c - libFuzzer target for the client session, driven
 * by a script: the input picks the flow settings (window, queue, output
 * bound, rate, throttle, retry, keep-alive), then steps: the gateway's
 * PDUs built with the codec (answers to the session's real sequence
 * numbers or others, with statuses that throttle; receipts; enquire_link;
 * unbind; generic_nack; unknown commands) fed in pieces, raw bytes,
 * submits, the clock moving, partial writes, closes and link failures.
 * Checked at every step (session_script.h): every submit ends exactly
 * once, nothing follows CLOSED, the window, queue and output stay bounded,
 * the counters agree with the events.
 */
#include "session_script.h"

static const uint32_t PEER_IDS[] = {
    SMPP_SUBMIT_SM_RESP, SMPP_SUBMIT_SM_RESP,   SMPP_SUBMIT_SM_RESP, SMPP_SUBMIT_SM_RESP,
    SMPP_DELIVER_SM,     SMPP_ENQUIRE_LINK,     0x80000015u,         SMPP_GENERIC_NACK,
    SMPP_UNBIND,         0x80000006u,           0x80000009u,         SMPP_SUBMIT_SM,
    0x00000103u,         SMPP_BIND_TRANSCEIVER, SMPP_DELIVER_SM,     0x80000005u,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ss_state st;
    smpp_session_config c;
    ss_input in = {data, size, 0};
    uint8_t pdu[512];
    size_t n;

    memset(&st, 0, sizeof(st));
    st.role = SMPP_ROLE_CLIENT;
    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.system_id = "fuzz";
    c.password = "pw";
    ss_config(&c, &st, &in);
    st.s = smpp_session_new(&c, 0, NULL);
    if (st.s == NULL)
        abort();
    if (smpp_session_connected(st.s, 0) != 0)
        abort();
    ss_write(&st, 0);
    /* The bind's answer: mostly a success. */
    n = ss_peer_pdu(&st, &in, 0x80000009u, pdu, sizeof(pdu));
    if (ss_u8(&in) < 224)
        smpp_put_u32(pdu + 8, 0);
    ss_feed(&st, &in, pdu, n);
    ss_drain(&st, &in, NULL);

    while (in.i < in.n) {
        uint8_t op = ss_u8(&in);

        switch (op & 7) {
        case 0:
        case 1:
        case 2:
            n = ss_peer_pdu(&st, &in, PEER_IDS[(op >> 3) % 16], pdu, sizeof(pdu));
            ss_feed(&st, &in, pdu, n);
            break;
        case 3: /* raw bytes */
            ss_feed_raw(&st, &in);
            break;
        case 4:
            for (n = 0; n <= (size_t)(op >> 5); n++)
                ss_request(&st, SMPP_SUBMIT_SM);
            break;
        case 5:
            ss_time(&st, &in, NULL);
            break;
        case 6:
            ss_write(&st, op >> 3);
            break;
        case 7:
            ss_end_link(&st, op >> 3);
            break;
        }
        ss_drain(&st, &in, NULL);
    }
    ss_finish(&st, &in, NULL);
    return 0;
}
