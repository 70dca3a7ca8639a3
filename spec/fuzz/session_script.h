/*
 * session_script.h - what the two session fuzzers share: reading the input
 * as a script, building the peer's PDUs with the codec, reading what the
 * session wrote (to answer its real sequence numbers), and the checks
 * every step must pass (abort() on a violation, which libFuzzer reports).
 */
#ifndef SESSION_SCRIPT_H
#define SESSION_SCRIPT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp_pdu.h"
#include "smpp_session.h"
#include "smpp_status.h"

#define SS_MAX_TOKENS 1024
#define SS_SEQS 64
#define SS_WBUF 8192

typedef struct ss_input {
    const uint8_t *d;
    size_t n, i;
} ss_input;

static uint8_t ss_u8(ss_input *in)
{
    return in->i < in->n ? in->d[in->i++] : 0;
}

static uint32_t ss_u32(ss_input *in)
{
    uint32_t v = 0;
    int k;
    for (k = 0; k < 4; k++)
        v = (v << 8) | ss_u8(in);
    return v;
}

/* A status, most often one the session treats specially. */
static uint32_t ss_status(ss_input *in)
{
    static const uint32_t common[] = {0,    0,    0,   0, SMPP_ESME_RTHROTTLED, SMPP_ESME_RMSGQFUL,
                                      0x08, 0x45, 0x0E};
    uint8_t b = ss_u8(in);
    if (b < 200)
        return common[b % (sizeof(common) / sizeof(common[0]))];
    return ss_u32(in);
}

typedef struct ss_state {
    smpp_session *s;
    smpp_role role;
    smpp_ms now;
    uint32_t window, queue_max, out_max;
    smpp_ms hold_max; /* the longest a pause or the rate holds requests */
    uint64_t next_token;
    uint8_t ends[SS_MAX_TOKENS];
    uint64_t results;
    int closed;
    /* sequence numbers of the session's requests seen on the wire */
    uint32_t wire_seqs[SS_SEQS];
    uint32_t n_wire;
    /* written bytes not yet parsed into whole PDUs */
    uint8_t wbuf[SS_WBUF];
    size_t wlen;
    int wlost;
    /* peer bytes taken since the output was last empty: the answers the
     * session writes on its own (enquire_link_resp, deliver_sm_resp,
     * generic_nack) grow with them, not with out_max */
    size_t fed;
} ss_state;

static void ss_remember(uint32_t *list, uint32_t *n, uint32_t seq)
{
    if (*n < SS_SEQS)
        list[(*n)++] = seq;
    else
        list[seq % SS_SEQS] = seq;
}

/* A sequence number to answer: mostly one the session really used. */
static uint32_t ss_pick_seq(ss_state *st, ss_input *in)
{
    uint8_t b = ss_u8(in);
    if (b < 224 && st->n_wire > 0)
        return st->wire_seqs[b % st->n_wire];
    if (b < 240)
        return b;
    return ss_u32(in);
}

/* The driver wrote n bytes: parse whole PDUs out of them. */
static void ss_written(ss_state *st, const uint8_t *p, size_t n)
{
    if (st->wlost)
        return;
    if (n > SS_WBUF - st->wlen) {
        st->wlost = 1; /* a PDU larger than we follow: stop reading the stream */
        return;
    }
    memcpy(st->wbuf + st->wlen, p, n);
    st->wlen += n;
    while (st->wlen >= 16) {
        uint32_t len = smpp_get_u32(st->wbuf);
        uint32_t id = smpp_get_u32(st->wbuf + 4);
        uint32_t seq = smpp_get_u32(st->wbuf + 12);
        if (len < 16)
            abort(); /* the session wrote something that is not a PDU */
        if (st->wlen < len)
            break;
        if ((id & 0x80000000u) == 0)
            ss_remember(st->wire_seqs, &st->n_wire, seq);
        memmove(st->wbuf, st->wbuf + len, st->wlen - len);
        st->wlen -= len;
    }
}

/* The driver writes all, half, or a few bytes of the output. */
static void ss_write(ss_state *st, uint8_t how)
{
    size_t len = 0, n;
    const uint8_t *p = smpp_session_pending(st->s, &len);

    if (len == 0)
        return;
    if ((how & 3) == 0)
        n = len;
    else if ((how & 3) == 1)
        n = len / 2;
    else
        n = len < (size_t)(how >> 2) ? len : (size_t)(how >> 2);
    ss_written(st, p, n);
    smpp_session_sent(st->s, n);
    if (n == len)
        st->fed = 0;
}

/* Build a PDU the peer sends: requests get a sequence number from the
 * input, answers mostly one of the session's own. */
static size_t ss_peer_pdu(ss_state *st, ss_input *in, uint32_t id, uint8_t *out, size_t cap)
{
    static const char receipt[] = "id:m1 sub:001 dlvrd:001 submit date:2501011200 done "
                                  "date:2501011201 stat:DELIVRD err:000 text:x";
    static const char *const mids[] = {"m1", "m2", "m3", "abc"};
    smpp_pdu p;
    long n;
    uint8_t shape = ss_u8(in);

    smpp_pdu_clear(&p);
    p.command_id = id;
    if (id & 0x80000000u) {
        p.sequence_number = ss_pick_seq(st, in);
        p.command_status = ss_status(in);
    } else {
        p.sequence_number = ss_u32(in) & 0x7FFFFFFF;
    }
    if (id == SMPP_SUBMIT_SM_RESP && p.command_status == 0) {
        p.message_id.ptr = (const uint8_t *)mids[shape % 4];
        p.message_id.len = strlen(mids[shape % 4]);
    } else if (id == SMPP_DELIVER_SM || id == SMPP_SUBMIT_SM) {
        p.esm_class = (shape & 1) ? 0x04 : 0;
        p.destination_addr.ptr = (const uint8_t *)"+6598765432";
        p.destination_addr.len = 11;
        p.short_message.ptr = (const uint8_t *)receipt;
        p.short_message.len = (size_t)(shape >> 1) % (sizeof(receipt) - 1);
    } else if (id == SMPP_BIND_TRANSCEIVER) {
        p.system_id.ptr = (const uint8_t *)((shape & 1) ? "fuzz" : "other");
        p.system_id.len = (shape & 1) ? 4 : 5;
        p.password.ptr = (const uint8_t *)"pw";
        p.password.len = 2;
        p.interface_version = 0x34;
    }
    n = smpp_pdu_encode(&p, out, cap, NULL);
    if (n < 16) {
        /* a command the codec won't build: a bare header */
        smpp_put_u32(out, 16);
        smpp_put_u32(out + 4, id);
        smpp_put_u32(out + 8, p.command_status);
        smpp_put_u32(out + 12, p.sequence_number);
        n = 16;
    }
    return (size_t)n;
}

/* Feed bytes to the session in pieces whose sizes come from the input. */
static void ss_feed(ss_state *st, ss_input *in, const uint8_t *b, size_t n)
{
    size_t off = 0;
    uint8_t piece = ss_u8(in);

    while (off < n) {
        size_t k = piece == 0 ? n - off : piece;
        if (k > n - off)
            k = n - off;
        if (smpp_session_recv(st->s, b + off, k) != 0)
            return;
        st->fed += k;
        off += k;
        piece = (uint8_t)(piece * 7 + 3);
    }
}

/* Every step's checks. */
static void ss_check(ss_state *st)
{
    smpp_session_stats stats;
    size_t len = 0;
    uint32_t i;

    smpp_session_get_stats(st->s, &stats);
    if (stats.in_flight > st->window)
        abort();
    /* requests put back by retry wait in the queue too: a window more */
    if (stats.queued > st->queue_max + st->window)
        abort();
    if (stats.succeeded + stats.failed != st->results)
        abort();
    if (stats.submitted != st->next_token)
        abort();
    if (stats.n_answers > SMPP_STATS_STATUSES || stats.n_receipt_stats > SMPP_STATS_STATS)
        abort();
    for (i = 0; i < stats.n_answers; i++)
        if (stats.answers[i].count == 0)
            abort();
    if (memchr(stats.last_error, 0, sizeof(stats.last_error)) == NULL)
        abort();
    (void)smpp_session_pending(st->s, &len);
    /* bounded output: out_max, one more request, and at most an answer
     * (up to 81 bytes) for each 16 bytes the peer sent meanwhile */
    if (len > (size_t)st->out_max + 4096 + 6 * st->fed)
        abort();
}

/* Requests that wait while there is room for them are held by a pause or
 * the rate, and a timer is due by the time either lets one go: they never
 * wait for their own timeout. */
static void ss_not_stalled(ss_state *st)
{
    smpp_session_stats stats;
    smpp_ms d = smpp_session_deadline(st->s);
    size_t len = 0;

    if (d < -1)
        abort();
    if (smpp_session_state(st->s) != SMPP_STATE_BOUND)
        return;
    smpp_session_get_stats(st->s, &stats);
    (void)smpp_session_pending(st->s, &len);
    if (stats.queued > 0 && stats.in_flight < st->window && len < st->out_max &&
        (d < 0 || d > st->now + st->hold_max))
        abort();
}

typedef void (*ss_on_event)(ss_state *st, ss_input *in, const smpp_event *ev);

/* Take every event; on_event handles the role's own kinds. */
static void ss_drain(ss_state *st, ss_input *in, ss_on_event on_event)
{
    smpp_event ev;

    while (smpp_session_next_event(st->s, st->now, &ev)) {
        if (st->closed)
            abort(); /* an event after CLOSED */
        if (ev.type == SMPP_EV_RESULT) {
            if (ev.token >= st->next_token || st->ends[ev.token]++ != 0)
                abort(); /* unknown token, or ended twice */
            st->results++;
            /* (RESPONSE may come with no pdu: a request waiting for its
             * retry whose deadline passed ends with its last answer.) */
        } else if (ev.type == SMPP_EV_CLOSED) {
            st->closed = 1;
        } else if (ev.type == SMPP_EV_LOG) {
            if (ev.message == NULL || memchr(ev.message, 0, 512) == NULL)
                abort();
        } else if (ev.pdu != NULL) {
            /* touch the borrowed pdu so ASan sees a stale pointer */
            volatile size_t sum = ev.pdu->short_message.len + ev.pdu->tlv_count;
            if (ev.pdu->short_message.len != 0)
                sum += ev.pdu->short_message.ptr[ev.pdu->short_message.len - 1];
            (void)sum;
        } else if (ev.type == SMPP_EV_DELIVER || ev.type == SMPP_EV_REQUEST ||
                   ev.type == SMPP_EV_BIND_REQUEST) {
            abort(); /* these carry their PDU */
        }
        if (on_event)
            on_event(st, in, &ev);
    }
    ss_check(st);
    ss_not_stalled(st);
}

/* The clock moves by an amount from the input (up to ~65 s), then a tick. */
static void ss_time(ss_state *st, ss_input *in, ss_on_event on_event)
{
    uint8_t b = ss_u8(in);

    st->now += (b & 0x80) ? (smpp_ms)(b & 0x7F) * 512 : (smpp_ms)b;
    /* Now and then the driver's timer is late: the next call comes
     * first, at the new time. */
    if (ss_u8(in) & 7)
        smpp_session_tick(st->s, st->now);
    ss_drain(st, in, on_event);
}

/* Raw bytes from the script, fed as they are (garbage, torn PDUs). */
static void ss_feed_raw(ss_state *st, ss_input *in)
{
    size_t k = ss_u8(in);

    if (k > in->n - in->i)
        k = in->n - in->i;
    (void)smpp_session_recv(st->s, in->d + in->i, k);
    st->fed += k;
    in->i += k;
}

/* The program closes (how 1) or the link fails (how 2); else nothing. */
static void ss_end_link(ss_state *st, unsigned how)
{
    if (how == 1)
        smpp_session_close(st->s, 1, st->now);
    else if (how == 2)
        smpp_session_fail(st->s, SMPP_REASON_CONNECTION_LOST, st->now);
}

/* A request of the role's kind (submit_sm or deliver_sm) with a token. */
static void ss_request(ss_state *st, uint32_t id)
{
    static const char body[] = "{\"id\":\"t\",\"language\":\"default\",\"params\":{}}";
    smpp_pdu p;
    int rc;

    if (st->next_token >= SS_MAX_TOKENS)
        return;
    smpp_pdu_clear(&p);
    p.command_id = id;
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

/* The end: close at once; every token must have ended exactly once. */
static void ss_finish(ss_state *st, ss_input *in, ss_on_event on_event)
{
    uint64_t t;

    smpp_session_close(st->s, 0, st->now);
    ss_drain(st, in, on_event);
    if (!st->closed)
        abort();
    for (t = 0; t < st->next_token; t++)
        if (st->ends[t] != 1)
            abort();
    smpp_session_free(st->s);
}

/* Flow settings from the input: window, queue, output bound, rate,
 * throttle, retry, timeouts and keep-alive. */
static void ss_config(smpp_session_config *c, ss_state *st, ss_input *in)
{
    uint8_t a = ss_u8(in), b = ss_u8(in);

    c->window = 1 + a % 8;
    c->queue_max = 1 + (a >> 3) % 32;
    c->out_max = (b & 1) ? 256 : 65536;
    c->rate_x1000 = (b & 2) ? (uint32_t)(1 + ss_u8(in)) * 1000 : 0;
    c->rate_burst = (b & 4) ? 1 + ss_u8(in) % 4 : 0;
    c->throttle_min_ms = 1 + ss_u8(in);
    c->throttle_max_ms = c->throttle_min_ms * (1 + ss_u8(in) % 16);
    c->response_timeout_ms = 100 + (smpp_ms)ss_u8(in) * 40;
    c->enquire_link_ms = (b & 8) ? 1000 + (smpp_ms)ss_u8(in) * 100 : 0;
    c->idle_timeout_ms = (b & 32) ? 20000 : 0;
    c->retry_count = 0;
    if (b & 16) {
        c->retry[0].status = SMPP_ESME_RTHROTTLED;
        c->retry[0].times = ss_u8(in) % 4;
        c->retry[1].status = SMPP_ESME_RMSGQFUL;
        c->retry[1].times = ss_u8(in) % 4;
        c->retry_count = 2;
    }
    st->hold_max = c->throttle_max_ms + 1001;
    st->window = c->window;
    st->queue_max = c->queue_max;
    st->out_max = c->out_max;
}

#endif
