/*
 * fuzz_session.c - libFuzzer target for the session: a bound client fed
 * the input as peer bytes in chunks whose sizes come from the input, with
 * submits, clock ticks, partial writes, closes and link failures
 * interleaved. Invariants: every token ends at most once while the
 * session runs and exactly once by the end; nothing follows CLOSED;
 * in_flight never passes the window.
 *
 * Input layout, repeated: one control byte, then (for a feed) a length
 * byte and that many peer bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp_pdu.h"
#include "smpp_session.h"

#define MAX_TOKENS 512
#define WINDOW 4

typedef struct state {
    smpp_session *s;
    smpp_ms now;
    uint64_t next_token;
    uint8_t ends[MAX_TOKENS];
    int closed;
} state;

static void drain(state *st)
{
    smpp_event ev;
    smpp_session_stats stats;

    while (smpp_session_next_event(st->s, st->now, &ev)) {
        if (st->closed)
            abort(); /* an event after CLOSED */
        if (ev.type == SMPP_EV_RESULT) {
            if (ev.token >= st->next_token || st->ends[ev.token]++ != 0)
                abort(); /* unknown token, or ended twice */
            if (ev.command_id != SMPP_SUBMIT_SM)
                abort();
        } else if (ev.type == SMPP_EV_CLOSED) {
            st->closed = 1;
        } else if (ev.type == SMPP_EV_DELIVER || ev.type == SMPP_EV_BOUND ||
                   ev.type == SMPP_EV_UNBOUND) {
            if (ev.pdu == NULL)
                abort();
            /* touch the borrowed pdu so ASan sees a stale pointer */
            volatile size_t sum = ev.pdu->short_message.len + ev.pdu->tlv_count;
            if (ev.pdu->short_message.len != 0)
                sum += ev.pdu->short_message.ptr[ev.pdu->short_message.len - 1];
            (void)sum;
        }
    }
    smpp_session_get_stats(st->s, &stats);
    if (stats.in_flight > WINDOW)
        abort();
}

static void do_submit(state *st)
{
    static const char body[] = "{\"id\":\"t\",\"language\":\"default\",\"params\":{}}";
    smpp_pdu p;
    int rc;

    if (st->next_token >= MAX_TOKENS)
        return;
    smpp_pdu_clear(&p);
    p.command_id = SMPP_SUBMIT_SM;
    p.destination_addr.ptr = (const uint8_t *)"+6598765432";
    p.destination_addr.len = 11;
    p.short_message.ptr = (const uint8_t *)body;
    p.short_message.len = sizeof(body) - 1;
    rc = smpp_session_submit(st->s, &p, st->next_token, st->now, NULL);
    if (rc == 0)
        st->next_token++;
    else if (rc != SMPP_ERR_QUEUE_FULL && rc != SMPP_ERR_STATE && rc != SMPP_ERR_NOT_SENT)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smpp_session_config c;
    state st;
    uint8_t resp[32];
    size_t i = 0, len;
    uint64_t t;

    memset(&st, 0, sizeof(st));
    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.system_id = "fuzz";
    c.password = "pw";
    c.window = WINDOW;
    c.queue_max = 64;
    c.idle_timeout_ms = size > 0 && (data[0] & 1) ? 60000 : 0;
    st.s = smpp_session_new(&c, 0, NULL);
    if (st.s == NULL)
        abort();
    smpp_session_connected(st.s, 0);
    (void)smpp_session_pending(st.s, &len);
    smpp_session_sent(st.s, len);
    /* bind_transceiver_resp, status 0, system_id "gw" */
    smpp_put_u32(resp, 19);
    smpp_put_u32(resp + 4, SMPP_BIND_TRANSCEIVER_RESP);
    smpp_put_u32(resp + 8, 0);
    smpp_put_u32(resp + 12, 1);
    memcpy(resp + 16, "gw", 3);
    smpp_session_recv(st.s, resp, 19);
    drain(&st);
    if (smpp_session_state(st.s) != SMPP_STATE_BOUND)
        abort();

    while (i < size) {
        uint8_t op = data[i++];

        switch (op & 7) {
        case 0:
        case 1:
        case 2: { /* feed: the most common step */
            size_t n = i < size ? data[i++] : 0;
            if (n > size - i)
                n = size - i;
            if (op & 8) {
                uint8_t *buf;
                size_t cap;
                if (smpp_session_recv_buffer(st.s, n, &buf, &cap) == 0) {
                    memcpy(buf, data + i, n);
                    smpp_session_recv_commit(st.s, n);
                }
            } else {
                (void)smpp_session_recv(st.s, data + i, n);
            }
            i += n;
            break;
        }
        case 3:
            do_submit(&st);
            break;
        case 4: /* the clock moves: up to 31 * 1024 ms */
            st.now += (smpp_ms)(op >> 3) * 1024;
            smpp_session_tick(st.s, st.now);
            break;
        case 5: { /* the driver writes some of the output */
            (void)smpp_session_pending(st.s, &len);
            smpp_session_sent(st.s, (op & 8) ? len : len / 2);
            break;
        }
        case 6:
            if ((op & 0xF8) == 0x08)
                smpp_session_close(st.s, 1, st.now);
            else if ((op & 0xF8) == 0x10)
                smpp_session_fail(st.s, SMPP_REASON_CONNECTION_LOST, st.now);
            break;
        case 7:
            /* deadline must be sane: -1 or reachable */
            if (smpp_session_deadline(st.s) < -1)
                abort();
            break;
        }
        drain(&st);
    }

    /* The end: close at once; every token must have ended exactly once. */
    smpp_session_close(st.s, 0, st.now);
    drain(&st);
    if (!st.closed)
        abort();
    for (t = 0; t < st.next_token; t++)
        if (st.ends[t] != 1)
            abort();
    smpp_session_free(st.s);
    return 0;
}
