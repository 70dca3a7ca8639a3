/*
 * test_outcomes.c - every outcome means what it says (issue 12), checked
 * on the plain C session with a fake clock and a fake socket that writes
 * only what the test lets it:
 *  - a request none of whose bytes were written is taken back out of the
 *    output when its timeout passes (or the peer unbinds, or the
 *    application closes) and ends NOT_SENT: it never goes out afterwards;
 *    one written wholly or partly ends TIMEOUT, its rest still written;
 *  - out_max bounds the unwritten output: requests wait in the queue;
 *  - a submit after the link ended without the application closing it is
 *    SMPP_ERR_NOT_SENT, after the application's close SMPP_ERR_STATE;
 *  - a bind answered by unbind fails with PEER_UNBIND;
 *  - a submit_sm_resp with status 0 and no body, or a message_id without
 *    its NUL, is an answer (with a warning), never dropped.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "smpp_pdu.h"
#include "smpp_session.h"
#include "smpp_status.h"

#define TIMEOUT_MS 1000
#define MAX_SEEN 4096
#define PEER_CAP (1u << 20)

/* What the test keeps of one event. */
typedef struct seen {
    smpp_event_type type;
    uint64_t token;
    uint32_t seq;
    smpp_outcome outcome;
    uint32_t status;
    smpp_reason reason;
    const char *warning;
    char message_id[80];
} seen;

static seen E[MAX_SEEN];
static int nseen;

/* Everything the fake socket wrote: what the peer received, in order. */
static uint8_t peer[PEER_CAP];
static size_t peer_len;

static void reset(void)
{
    nseen = 0;
    peer_len = 0;
}

/* Take every event there is now. Returns how many. */
static int events(smpp_session *s, smpp_ms now)
{
    smpp_event ev;
    int n = 0;

    while (nseen < MAX_SEEN && smpp_session_next_event(s, now, &ev)) {
        seen *e;
        size_t len = 0;

        if (ev.type == SMPP_EV_LOG)
            continue; /* not an outcome: test_session checks logs */
        e = &E[nseen++];

        memset(e, 0, sizeof(*e));
        e->type = ev.type;
        e->token = ev.token;
        e->seq = ev.sequence_number;
        e->outcome = ev.outcome;
        e->status = ev.status;
        e->reason = ev.reason;
        e->warning = ev.warning;
        if (ev.type == SMPP_EV_RESULT && ev.pdu != NULL) {
            len = ev.pdu->message_id.len < sizeof(e->message_id) - 1 ? ev.pdu->message_id.len
                                                                     : sizeof(e->message_id) - 1;
            if (len > 0)
                memcpy(e->message_id, ev.pdu->message_id.ptr, len);
        }
        n++;
    }
    return n;
}

/* The fake socket takes at most `room` bytes of pending output. */
static size_t write_some(smpp_session *s, size_t room)
{
    size_t len = 0;
    const uint8_t *p = smpp_session_pending(s, &len);

    if (len > room)
        len = room;
    if (len > PEER_CAP - peer_len)
        len = PEER_CAP - peer_len;
    if (len > 0) {
        memcpy(peer + peer_len, p, len);
        peer_len += len;
        smpp_session_sent(s, len);
    }
    return len;
}

static void write_all(smpp_session *s)
{
    while (write_some(s, SIZE_MAX) > 0)
        ;
}

static size_t pending_len(smpp_session *s)
{
    size_t len = 0;

    (void)smpp_session_pending(s, &len);
    return len;
}

/* A PDU from the peer: header plus body. */
static void feed(smpp_session *s, uint32_t id, uint32_t status, uint32_t seq, const void *body,
                 size_t blen)
{
    uint8_t b[256];

    smpp_put_u32(b, (uint32_t)(SMPP_HEADER_LEN + blen));
    smpp_put_u32(b + 4, id);
    smpp_put_u32(b + 8, status);
    smpp_put_u32(b + 12, seq);
    if (blen > 0)
        memcpy(b + SMPP_HEADER_LEN, body, blen);
    CHECK_EQ_INT(smpp_session_recv(s, b, SMPP_HEADER_LEN + blen), 0);
}

static smpp_session *client(smpp_session_config *cfg)
{
    smpp_error err;
    smpp_session *s = smpp_session_new(cfg, 0, &err);

    CHECK(s != NULL);
    CHECK_EQ_INT(smpp_session_connected(s, 0), 0);
    return s;
}

static void config(smpp_session_config *cfg)
{
    smpp_session_config_init(cfg, SMPP_ROLE_CLIENT);
    cfg->system_id = "test";
    cfg->password = "secret";
    cfg->response_timeout_ms = TIMEOUT_MS;
    cfg->enquire_link_ms = 0;
    cfg->window = 1000;
}

/* A client bound at time 0, its bind written; the event list is empty. */
static smpp_session *bound(smpp_session_config *cfg)
{
    smpp_session *s = client(cfg);

    reset();
    write_all(s);
    feed(s, SMPP_BIND_TRANSCEIVER_RESP, 0, 1, "gw", 3);
    CHECK_EQ_INT(events(s, 0), 1);
    CHECK_EQ_INT(E[0].type, SMPP_EV_BOUND);
    reset();
    return s;
}

/* The submit_sm every test sends. */
static void otp(smpp_pdu *p)
{
    static const char text[] = "your code is 123456";

    smpp_pdu_clear(p);
    p->command_id = SMPP_SUBMIT_SM;
    p->destination_addr.ptr = (const uint8_t *)"6598765432";
    p->destination_addr.len = 10;
    p->short_message.ptr = (const uint8_t *)text;
    p->short_message.len = sizeof(text) - 1;
}

static int submit(smpp_session *s, uint64_t token, smpp_ms now)
{
    smpp_pdu p;

    otp(&p);
    return smpp_session_submit(s, &p, token, now, NULL);
}

static size_t submit_len(void)
{
    smpp_pdu p;

    otp(&p);
    return (size_t)smpp_pdu_encoded_size(&p, NULL);
}

/* A bound client with submits 1, 2 and 3 made at time 0, none written. */
static smpp_session *three_submitted(void)
{
    smpp_session_config cfg;
    smpp_session *s;
    uint64_t t;

    config(&cfg);
    s = bound(&cfg);
    for (t = 1; t <= 3; t++)
        CHECK_EQ_INT(submit(s, t, 0), 0);
    return s;
}

/* The sequence numbers of the submit_sm PDUs the peer got, in order; every
 * PDU the peer got must be whole (a cut never splits one). */
static int peer_submits(uint32_t *seqs, int cap)
{
    size_t at = 0;
    int n = 0;

    while (at + SMPP_HEADER_LEN <= peer_len) {
        uint32_t len = smpp_get_u32(peer + at);

        CHECK(len >= SMPP_HEADER_LEN && at + len <= peer_len);
        if (len < SMPP_HEADER_LEN || at + len > peer_len)
            break;
        if (smpp_get_u32(peer + at + 4) == SMPP_SUBMIT_SM && n < cap)
            seqs[n++] = smpp_get_u32(peer + at + 12);
        at += len;
    }
    return n;
}

static const seen *result_for(uint64_t token)
{
    int i;

    for (i = 0; i < nseen; i++)
        if (E[i].type == SMPP_EV_RESULT && E[i].token == token)
            return &E[i];
    return NULL;
}

static int count_results(smpp_outcome outcome)
{
    int i, n = 0;

    for (i = 0; i < nseen; i++)
        n += E[i].type == SMPP_EV_RESULT && E[i].outcome == outcome;
    return n;
}

/* ---- rule 1: nothing is written after its outcome ------------------------ */

TEST(an_unwritten_request_times_out_not_sent_and_leaves_the_output)
{
    smpp_session *s = three_submitted();

    CHECK_EQ_INT(pending_len(s), 3 * submit_len());
    CHECK_EQ_INT(events(s, TIMEOUT_MS - 1), 0);
    CHECK_EQ_INT(events(s, TIMEOUT_MS), 3);
    CHECK_EQ_INT(count_results(SMPP_OUTCOME_NOT_SENT), 3);
    CHECK_EQ_INT(pending_len(s), 0);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_BOUND);
    {
        smpp_session_stats st;

        smpp_session_get_stats(s, &st);
        CHECK_EQ_INT(st.sent, 0); /* taken back: none of them left */
    }
    /* The next one goes straight out again, with the offsets in step. */
    CHECK_EQ_INT(submit(s, 4, 2000), 0);
    write_all(s);
    feed(s, SMPP_SUBMIT_SM_RESP, 0, 5, "m4", 3);
    CHECK_EQ_INT(events(s, 2001), 1);
    CHECK_EQ_INT(E[3].outcome, SMPP_OUTCOME_RESPONSE);
    CHECK_EQ_STR(E[3].message_id, "m4");
    smpp_session_free(s);
}

TEST(a_partly_written_request_times_out_and_its_rest_still_goes_out)
{
    smpp_session *s = three_submitted();
    uint32_t seqs[8];
    size_t one = submit_len();

    CHECK_EQ_INT(write_some(s, one + 5), one + 5); /* 1 whole, 2 begun */
    CHECK_EQ_INT(events(s, TIMEOUT_MS), 3);
    CHECK_EQ_INT(result_for(1)->outcome, SMPP_OUTCOME_TIMEOUT);
    CHECK_EQ_INT(result_for(2)->outcome, SMPP_OUTCOME_TIMEOUT);
    CHECK_EQ_INT(result_for(3)->outcome, SMPP_OUTCOME_NOT_SENT);
    /* What is left is the rest of request 2, and nothing of 3. */
    CHECK_EQ_INT(pending_len(s), one - 5);
    write_all(s);
    CHECK_EQ_INT(peer_submits(seqs, 8), 2);
    CHECK_EQ_INT(seqs[0], result_for(1)->seq);
    CHECK_EQ_INT(seqs[1], result_for(2)->seq);
    smpp_session_free(s);
}

TEST(a_cut_keeps_the_sessions_own_answers_and_the_later_requests_in_place)
{
    smpp_session_config cfg;
    smpp_session *s;
    uint32_t seqs[8];
    size_t one = submit_len();

    config(&cfg);
    s = bound(&cfg);
    CHECK_EQ_INT(submit(s, 1, 0), 0);
    feed(s, SMPP_ENQUIRE_LINK, 0, 77, NULL, 0); /* answered after request 1 */
    CHECK_EQ_INT(events(s, 0), 0);
    CHECK_EQ_INT(submit(s, 2, 0), 0);
    CHECK_EQ_INT(submit(s, 3, 400), 0); /* due later */
    CHECK_EQ_INT(pending_len(s), 3 * one + SMPP_HEADER_LEN);
    CHECK_EQ_INT(events(s, TIMEOUT_MS), 2);
    CHECK_EQ_INT(count_results(SMPP_OUTCOME_NOT_SENT), 2);
    CHECK_EQ_INT(pending_len(s), SMPP_HEADER_LEN + one);
    /* 3 is written in part: at its timeout it is not cut. */
    CHECK_EQ_INT(write_some(s, SMPP_HEADER_LEN + 10), SMPP_HEADER_LEN + 10);
    CHECK_EQ_INT(smpp_get_u32(peer + 4), SMPP_ENQUIRE_LINK_RESP);
    CHECK_EQ_INT(smpp_get_u32(peer + 12), 77);
    CHECK_EQ_INT(events(s, 400 + TIMEOUT_MS), 1);
    CHECK_EQ_INT(result_for(3)->outcome, SMPP_OUTCOME_TIMEOUT);
    write_all(s);
    CHECK_EQ_INT(peer_submits(seqs, 8), 1);
    CHECK_EQ_INT(seqs[0], result_for(3)->seq);
    smpp_session_free(s);
}

TEST(a_stalled_peer_gets_no_request_after_its_outcome)
{
    smpp_session_config cfg;
    smpp_session *s;
    static uint32_t seqs[MAX_SEEN];
    smpp_ms now = 0;
    uint64_t t;
    int i, j, n, timeouts = 0;

    config(&cfg);
    cfg.out_max = 4096;
    s = bound(&cfg);
    /* 2000 submits; the socket takes 8 KiB, then the peer stops reading
     * for three response timeouts, then reads everything. */
    for (t = 1; t <= 2000; t++)
        CHECK_EQ_INT(submit(s, t, 0), 0);
    write_some(s, 4096);
    write_some(s, 4096);
    for (now = 0; now <= 3 * TIMEOUT_MS; now += 50)
        events(s, now);
    for (; nseen < 2000 && now < 100 * TIMEOUT_MS; now += 50) {
        write_all(s);
        events(s, now);
    }
    CHECK_EQ_INT(nseen, 2000);
    n = peer_submits(seqs, MAX_SEEN);
    for (i = 0; i < nseen; i++) {
        int on_wire = 0;

        for (j = 0; j < n; j++)
            on_wire += seqs[j] == E[i].seq;
        /* Every request ended once; one the peer got ended TIMEOUT, one
         * it never got NOT_SENT. */
        CHECK_EQ_INT(E[i].type, SMPP_EV_RESULT);
        CHECK_EQ_INT(on_wire, E[i].outcome == SMPP_OUTCOME_TIMEOUT);
        CHECK(E[i].outcome == SMPP_OUTCOME_TIMEOUT || E[i].outcome == SMPP_OUTCOME_NOT_SENT);
        timeouts += E[i].outcome == SMPP_OUTCOME_TIMEOUT;
    }
    CHECK(timeouts >= 8192 / (int)submit_len());
    CHECK(count_results(SMPP_OUTCOME_NOT_SENT) > 0);
    CHECK_EQ_INT(timeouts, n);
    smpp_session_free(s);
}

TEST(the_unwritten_output_is_bounded_and_requests_wait_in_the_queue)
{
    smpp_session_config cfg;
    smpp_session_stats st;
    smpp_session *s;
    uint32_t seqs[64];
    size_t one = submit_len();
    uint64_t t;
    int i;

    config(&cfg);
    cfg.out_max = (uint32_t)(3 * one); /* three requests, no more */
    s = bound(&cfg);
    for (t = 1; t <= 10; t++)
        CHECK_EQ_INT(submit(s, t, 0), 0);
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.in_flight, 3);
    CHECK_EQ_INT(st.queued, 7);
    CHECK_EQ_INT(pending_len(s), 3 * one);
    /* Queued requests have no deadline: they don't time out waiting. */
    CHECK_EQ_INT(events(s, TIMEOUT_MS), 3);
    CHECK_EQ_INT(count_results(SMPP_OUTCOME_NOT_SENT), 3);
    /* The cut made room: three more moved in, with fresh deadlines. */
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.in_flight, 3);
    CHECK_EQ_INT(st.queued, 4);
    /* Writing drains the queue in order, a bound's worth at a time. */
    CHECK_EQ_INT(write_some(s, one), one);
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.in_flight, 4);
    CHECK_EQ_INT(st.queued, 3);
    write_all(s);
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.in_flight, 7);
    CHECK_EQ_INT(st.queued, 0);
    CHECK_EQ_INT(peer_submits(seqs, 64), 7);
    for (i = 0; i < 7; i++)
        feed(s, SMPP_SUBMIT_SM_RESP, 0, seqs[i], "id", 3);
    CHECK_EQ_INT(events(s, TIMEOUT_MS + 1), 7);
    CHECK_EQ_INT(count_results(SMPP_OUTCOME_RESPONSE), 7);
    for (t = 4; t <= 10; t++)
        CHECK_EQ_INT(result_for(t)->outcome, SMPP_OUTCOME_RESPONSE);
    smpp_session_free(s);
}

TEST(the_output_bound_defaults_to_256_kib)
{
    smpp_session_config cfg;
    smpp_session_stats st;
    smpp_session *s;
    size_t one = submit_len();
    uint64_t t, fit = (256u * 1024u + one - 1) / one;

    config(&cfg);
    CHECK_EQ_INT(cfg.out_max, 256 * 1024);
    cfg.out_max = 0; /* 0 takes the default too */
    cfg.window = 60000;
    s = bound(&cfg);
    for (t = 1; t <= fit + 10; t++)
        CHECK_EQ_INT(submit(s, t, 0), 0);
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.in_flight, fit);
    CHECK_EQ_INT(st.queued, 10);
    smpp_session_free(s);
}

TEST(the_peers_unbind_takes_unwritten_requests_back_and_ends_them_not_sent)
{
    smpp_session *s = three_submitted();
    size_t one = submit_len();

    CHECK_EQ_INT(write_some(s, one), one);
    feed(s, SMPP_UNBIND, 0, 9, NULL, 0);
    CHECK_EQ_INT(events(s, 5), 5);
    CHECK_EQ_INT(E[0].type, SMPP_EV_UNBOUND);
    CHECK_EQ_INT(result_for(1)->outcome, SMPP_OUTCOME_LOST);
    CHECK_EQ_INT(result_for(2)->outcome, SMPP_OUTCOME_NOT_SENT);
    CHECK_EQ_INT(result_for(3)->outcome, SMPP_OUTCOME_NOT_SENT);
    CHECK_EQ_INT(E[4].type, SMPP_EV_CLOSED);
    CHECK_EQ_INT(E[4].reason, SMPP_REASON_PEER_UNBIND);
    /* Only the unbind_resp is left to write. */
    CHECK_EQ_INT(pending_len(s), SMPP_HEADER_LEN);
    write_all(s);
    CHECK_EQ_INT(smpp_get_u32(peer + peer_len - SMPP_HEADER_LEN + 4), SMPP_UNBIND_RESP);
    smpp_session_free(s);
}

TEST(the_applications_close_sends_no_request_it_reported_closed)
{
    smpp_session_config cfg;
    smpp_session *s;
    int graceful;

    for (graceful = 0; graceful <= 1; graceful++) {
        config(&cfg);
        s = bound(&cfg);
        CHECK_EQ_INT(submit(s, 1, 0), 0);
        CHECK_EQ_INT(submit(s, 2, 0), 0);
        smpp_session_close(s, graceful, 5);
        /* graceful: the unbind alone; at once: nothing. */
        CHECK_EQ_INT(pending_len(s), graceful ? SMPP_HEADER_LEN : 0);
        CHECK_EQ_INT(events(s, 5), 2 + !graceful);
        CHECK_EQ_INT(count_results(SMPP_OUTCOME_CLOSED), 2);
        smpp_session_free(s);
        reset();
    }
}

/* A driver that keeps a copy of the bytes for a writer of its own. */
static size_t hold(smpp_session *s)
{
    size_t len = 0;

    (void)smpp_session_hold(s, &len);
    return len;
}

TEST(bytes_the_driver_holds_are_never_taken_back)
{
    smpp_session *s = three_submitted();
    size_t one = submit_len(), held = hold(s);

    CHECK_EQ_INT(held, 3 * one);
    CHECK_EQ_INT(submit(s, 4, 0), 0); /* after the held bytes */
    CHECK_EQ_INT(events(s, TIMEOUT_MS), 4);
    CHECK_EQ_INT(count_results(SMPP_OUTCOME_TIMEOUT), 3);
    CHECK_EQ_INT(result_for(4)->outcome, SMPP_OUTCOME_NOT_SENT);
    /* The writer wrote them all after all: the held bytes are still the
     * first, and nothing of 4 follows. */
    CHECK_EQ_INT(pending_len(s), held);
    smpp_session_sent(s, held);
    CHECK_EQ_INT(pending_len(s), 0);
    smpp_session_free(s);
}

TEST(a_hold_ends_with_sent_and_the_rest_can_be_taken_back_again)
{
    smpp_session *s = three_submitted();
    size_t one = submit_len();

    CHECK_EQ_INT(hold(s), 3 * one);
    CHECK_EQ_INT(write_some(s, one), one); /* the writer wrote one */
    CHECK_EQ_INT(events(s, TIMEOUT_MS), 3);
    CHECK_EQ_INT(result_for(1)->outcome, SMPP_OUTCOME_TIMEOUT);
    CHECK_EQ_INT(result_for(2)->outcome, SMPP_OUTCOME_NOT_SENT);
    CHECK_EQ_INT(result_for(3)->outcome, SMPP_OUTCOME_NOT_SENT);
    CHECK_EQ_INT(pending_len(s), 0);
    smpp_session_free(s);
}

TEST(a_link_that_breaks_while_the_driver_holds_bytes_waits_for_its_count)
{
    smpp_session *s;
    size_t one = submit_len();
    int told;

    /* told: the writer reports what it wrote (one and a bit) before the
     * results are taken; else they are taken while it still holds all. */
    for (told = 0; told <= 1; told++) {
        s = three_submitted();
        CHECK_EQ_INT(hold(s), 3 * one);
        smpp_session_fail(s, SMPP_REASON_CONNECTION_LOST, 1);
        CHECK_EQ_INT(pending_len(s), 0);
        if (told)
            smpp_session_sent(s, one + 5);
        CHECK_EQ_INT(events(s, 2), 4);
        CHECK_EQ_INT(result_for(1)->outcome, SMPP_OUTCOME_LOST);
        CHECK_EQ_INT(result_for(2)->outcome, told ? SMPP_OUTCOME_NOT_SENT : SMPP_OUTCOME_LOST);
        CHECK_EQ_INT(result_for(3)->outcome, told ? SMPP_OUTCOME_NOT_SENT : SMPP_OUTCOME_LOST);
        smpp_session_free(s);
        reset();
    }
}

/* ---- rule 2: after the link ended, "not sent"; after close, "closed" ----- */

typedef enum how { BY_LOSS, BY_AUTH, BY_BIND_TIMEOUT, BY_PEER_UNBIND, BY_BIND_STATUS } how;

static smpp_session *ended(how h)
{
    smpp_session_config cfg;
    smpp_session *s;

    config(&cfg);
    s = h == BY_LOSS || h == BY_PEER_UNBIND ? bound(&cfg) : client(&cfg);
    switch (h) {
    case BY_LOSS:
    case BY_AUTH:
        smpp_session_fail(s, SMPP_REASON_CONNECTION_LOST, 1);
        break;
    case BY_BIND_TIMEOUT:
        smpp_session_tick(s, cfg.bind_timeout_ms);
        break;
    case BY_PEER_UNBIND:
        feed(s, SMPP_UNBIND, 0, 9, NULL, 0);
        break;
    case BY_BIND_STATUS:
        feed(s, SMPP_BIND_TRANSCEIVER_RESP, SMPP_ESME_RBINDFAIL, 1, NULL, 0);
        break;
    }
    events(s, cfg.bind_timeout_ms);
    return s;
}

TEST(a_submit_after_the_link_ended_is_not_sent)
{
    static const smpp_reason reasons[] = {SMPP_REASON_CONNECTION_LOST, SMPP_REASON_AUTH,
                                          SMPP_REASON_BIND_TIMEOUT, SMPP_REASON_PEER_UNBIND,
                                          SMPP_REASON_BIND_STATUS};
    int h;

    for (h = BY_LOSS; h <= BY_BIND_STATUS; h++) {
        smpp_session *s = ended((how)h);
        smpp_error err;
        smpp_pdu p;

        CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_CLOSED);
        CHECK_EQ_INT(smpp_session_close_reason(s), reasons[h]);
        CHECK_EQ_INT(submit(s, 50, 20000), SMPP_ERR_NOT_SENT);
        smpp_pdu_clear(&p);
        p.command_id = SMPP_SUBMIT_SM;
        CHECK_EQ_INT(smpp_session_submit(s, &p, 51, 20000, &err), SMPP_ERR_NOT_SENT);
        CHECK(strstr(err.msg, smpp_reason_name(reasons[h])) != NULL);
        /* After the application's close, its own word: "closed". */
        smpp_session_close(s, 1, 20000);
        CHECK_EQ_INT(submit(s, 52, 20000), SMPP_ERR_STATE);
        CHECK_EQ_INT(events(s, 20000), 0);
        smpp_session_free(s);
        reset();
    }
}

TEST(a_submit_after_the_applications_close_is_refused_as_closed)
{
    smpp_session_config cfg;
    smpp_session *s;

    config(&cfg);
    s = bound(&cfg);
    CHECK_EQ_INT(smpp_session_close_reason(s), SMPP_REASON_NONE);
    smpp_session_close(s, 1, 1);
    CHECK_EQ_INT(submit(s, 1, 1), SMPP_ERR_STATE); /* unbinding */
    CHECK_EQ_INT(smpp_session_close_reason(s), SMPP_REASON_NONE);
    /* The peer closing the socket on our unbind is still our close. */
    smpp_session_fail(s, SMPP_REASON_CONNECTION_LOST, 2);
    CHECK_EQ_INT(smpp_session_close_reason(s), SMPP_REASON_CLOSED);
    CHECK_EQ_INT(submit(s, 2, 2), SMPP_ERR_STATE);
    smpp_session_free(s);
    reset();

    s = client(&cfg); /* closed before it was bound */
    smpp_session_close(s, 0, 1);
    CHECK_EQ_INT(submit(s, 3, 1), SMPP_ERR_STATE);
    smpp_session_free(s);
    reset();

    /* The link ended by itself, then the program closed: its word wins. */
    s = bound(&cfg);
    smpp_session_fail(s, SMPP_REASON_CONNECTION_LOST, 2);
    CHECK_EQ_INT(submit(s, 4, 2), SMPP_ERR_NOT_SENT);
    smpp_session_close(s, 1, 3);
    CHECK_EQ_INT(submit(s, 5, 3), SMPP_ERR_STATE);
    CHECK_EQ_INT(smpp_session_close_reason(s), SMPP_REASON_CONNECTION_LOST);
    smpp_session_free(s);
}

/* ---- rule 3: a bind answered by unbind ------------------------------------ */

TEST(a_bind_answered_by_unbind_fails_with_peer_unbind)
{
    smpp_session_config cfg;
    smpp_session *s;

    config(&cfg);
    s = client(&cfg);
    CHECK_EQ_INT(submit(s, 1, 0), 0); /* waits for the bind */
    write_all(s);
    feed(s, SMPP_UNBIND, 0, 4, NULL, 0);
    CHECK_EQ_INT(events(s, 1), 3);
    CHECK_EQ_INT(E[0].type, SMPP_EV_BIND_FAILED);
    CHECK_EQ_INT(E[0].reason, SMPP_REASON_PEER_UNBIND);
    CHECK_EQ_STR(smpp_reason_name(E[0].reason), "peer unbind");
    CHECK_EQ_INT(E[1].outcome, SMPP_OUTCOME_NOT_SENT);
    CHECK_EQ_INT(E[2].type, SMPP_EV_CLOSED);
    CHECK_EQ_INT(E[2].reason, SMPP_REASON_PEER_UNBIND);
    /* The unbind is answered. */
    CHECK_EQ_INT(pending_len(s), SMPP_HEADER_LEN);
    CHECK_EQ_INT(smpp_get_u32(smpp_session_pending(s, &(size_t){0}) + 4), SMPP_UNBIND_RESP);
    smpp_session_free(s);
}

/* ---- rule 4: odd submit_sm_resp bodies are answers ------------------------- */

/* One submit answered with `body` (status); returns its event. */
static const seen *answered(uint32_t status, const void *body, size_t blen)
{
    smpp_session_config cfg;
    smpp_session *s;
    const seen *e;

    config(&cfg);
    s = bound(&cfg);
    CHECK_EQ_INT(submit(s, 1, 0), 0);
    write_all(s);
    feed(s, SMPP_SUBMIT_SM_RESP, status, 2, body, blen);
    CHECK_EQ_INT(events(s, 1), 1);
    e = result_for(1);
    CHECK(e != NULL);
    smpp_session_free(s);
    return e;
}

TEST(a_submit_sm_resp_with_status_0_and_no_body_is_a_success_with_a_warning)
{
    const seen *e = answered(0, NULL, 0);

    CHECK_EQ_INT(e->outcome, SMPP_OUTCOME_RESPONSE);
    CHECK_EQ_INT(e->status, 0);
    CHECK_EQ_STR(e->message_id, "");
    CHECK(e->warning != NULL && strstr(e->warning, "no body") != NULL);
    reset();
    /* An error status without a body is plain SMPP 3.4: no warning. */
    e = answered(SMPP_ESME_RSUBMITFAIL, NULL, 0);
    CHECK_EQ_INT(e->status, SMPP_ESME_RSUBMITFAIL);
    CHECK(e->warning == NULL);
    reset();
    e = answered(0, "abc", 4);
    CHECK_EQ_STR(e->message_id, "abc");
    CHECK(e->warning == NULL);
}

TEST(a_message_id_without_its_nul_is_taken_as_sent_with_a_warning)
{
    const seen *e = answered(0, "abc", 3);

    CHECK_EQ_INT(e->outcome, SMPP_OUTCOME_RESPONSE);
    CHECK_EQ_INT(e->status, 0);
    CHECK_EQ_STR(e->message_id, "abc");
    CHECK(e->warning != NULL && strstr(e->warning, "NUL") != NULL);
    reset();
    /* Over the 65-byte limit and unterminated: still the bytes as sent. */
    e = answered(0, "0123456789012345678901234567890123456789012345678901234567890123456789", 70);
    CHECK_EQ_INT(e->outcome, SMPP_OUTCOME_RESPONSE);
    CHECK_EQ_INT(strlen(e->message_id), 70);
    CHECK(e->warning != NULL);
    reset();
    /* Junk after the NUL: the message_id up to it. */
    e = answered(0, "m9\0\1\2", 5);
    CHECK_EQ_INT(e->outcome, SMPP_OUTCOME_RESPONSE);
    CHECK_EQ_STR(e->message_id, "m9");
    CHECK(e->warning != NULL && strstr(e->warning, "malformed") != NULL);
    reset();
    /* An error status with a broken body is still that error. */
    e = answered(SMPP_ESME_RTHROTTLED, "x", 1);
    CHECK_EQ_INT(e->outcome, SMPP_OUTCOME_RESPONSE);
    CHECK_EQ_INT(e->status, SMPP_ESME_RTHROTTLED);
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv);
}
