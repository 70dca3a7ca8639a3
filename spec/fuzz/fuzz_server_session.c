/*
 * fuzz_server_session.c - libFuzzer target for the server session (the
 * simulator's side), driven by a script: the client's PDUs built with the
 * codec (bind_transceiver with good or other credentials, submit_sm,
 * deliver_sm_resp answering the session's real sequence numbers or others,
 * enquire_link, unbind, generic_nack, unknown commands) fed in pieces, raw
 * bytes; the server accepting, refusing or sitting on the bind, answering
 * submits now, later or never, sending deliver_sm receipts; the clock
 * moving, partial writes, closes and link failures. Checked at every step
 * (session_script.h): every deliver_sm ends exactly once, nothing follows
 * CLOSED, the window, queue and output stay bounded, the counters agree.
 */
#include "session_script.h"

static const uint32_t PEER_IDS[] = {
    SMPP_SUBMIT_SM,    SMPP_SUBMIT_SM,        0x80000005u,     0x80000005u,
    SMPP_ENQUIRE_LINK, 0x80000015u,           SMPP_UNBIND,     0x80000006u,
    SMPP_GENERIC_NACK, SMPP_BIND_TRANSCEIVER, SMPP_DELIVER_SM, 0x00000002u,
    SMPP_SUBMIT_SM,    0x80000005u,           0x00000103u,     SMPP_SUBMIT_SM_RESP,
};

#define HELD 32

static uint32_t held[HELD];
static uint32_t n_held;
static int bind_pending;

static void on_event(ss_state *st, ss_input *in, const smpp_event *ev)
{
    uint8_t how;

    if (ev->type == SMPP_EV_BIND_REQUEST) {
        how = ss_u8(in);
        if (how < 192)
            smpp_session_accept_bind(st->s, 0, st->now);
        else if (how < 224)
            smpp_session_accept_bind(st->s, 0x0E, st->now);
        else if (how < 240)
            smpp_session_reject_bind(st->s, st->now);
        else
            bind_pending = 1; /* answered later, or never */
    } else if (ev->type == SMPP_EV_REQUEST) {
        how = ss_u8(in);
        if (how < 160) {
            st->fed += 96; /* the answer the program writes */
            smpp_session_respond(st->s, SMPP_SUBMIT_SM, ev->sequence_number, ss_status(in), "m1", 2,
                                 NULL);
        } else if (how < 240 && n_held < HELD) {
            held[n_held++] = ev->sequence_number; /* answered later */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ss_state st;
    smpp_session_config c;
    ss_input in = {data, size, 0};
    uint8_t pdu[512];
    size_t n;

    memset(&st, 0, sizeof(st));
    n_held = 0;
    bind_pending = 0;
    st.role = SMPP_ROLE_SERVER;
    smpp_session_config_init(&c, SMPP_ROLE_SERVER);
    ss_config(&c, &st, &in);
    st.s = smpp_session_new(&c, 0, NULL);
    if (st.s == NULL)
        abort();
    /* The client's bind, mostly well formed. */
    n = ss_peer_pdu(&st, &in, SMPP_BIND_TRANSCEIVER, pdu, sizeof(pdu));
    ss_feed(&st, &in, pdu, n);
    ss_drain(&st, &in, on_event);

    while (in.i < in.n) {
        uint8_t op = ss_u8(&in);

        switch (op & 7) {
        case 0:
        case 1:
            n = ss_peer_pdu(&st, &in, PEER_IDS[(op >> 3) % 16], pdu, sizeof(pdu));
            ss_feed(&st, &in, pdu, n);
            break;
        case 2: /* raw bytes */
            ss_feed_raw(&st, &in);
            break;
        case 3: /* receipts out */
            for (n = 0; n <= (size_t)(op >> 5); n++)
                ss_request(&st, SMPP_DELIVER_SM);
            break;
        case 4: /* a held answer goes out, or a made-up one */
            if (n_held > 0) {
                uint32_t k = (op >> 3) % n_held;
                st.fed += 96; /* the answer the program writes */
                smpp_session_respond(st.s, SMPP_SUBMIT_SM, held[k], ss_status(&in), "m2", 2, NULL);
                held[k] = held[--n_held];
            } else {
                st.fed += 96; /* the answer the program writes */
                smpp_session_respond(st.s, SMPP_SUBMIT_SM, ss_u32(&in), 0, "m3", 2, NULL);
            }
            if (bind_pending && (op & 0x80)) {
                bind_pending = 0;
                smpp_session_accept_bind(st.s, 0, st.now);
            }
            break;
        case 5:
            ss_time(&st, &in, on_event);
            break;
        case 6:
            ss_write(&st, op >> 3);
            break;
        case 7:
            ss_end_link(&st, op >> 3);
            break;
        }
        ss_drain(&st, &in, on_event);
    }
    ss_finish(&st, &in, on_event);
    return 0;
}
