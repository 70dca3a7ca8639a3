/*
 * test_session.c - the SMPP session with no sockets: scripted bytes fed in
 * (down to 1 byte at a time), a fake clock, and client and server sessions
 * wired to each other in memory. Every path checks that each submitted
 * token ends in exactly one RESULT and that nothing follows CLOSED.
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

/* ---- fixtures ------------------------------------------------------------ */

#define MAX_TOKENS 20100
#define MAX_EVENTS 40000
#define MAX_LOGS 256
#define OUT_CAP (4u << 20)
#define MAX_OUT_PDUS 40000

/* What the tests need of an event after its pdu is gone. */
typedef struct rec {
    smpp_event_type type;
    uint64_t token;
    uint32_t command_id;
    uint32_t seq;
    smpp_outcome outcome;
    uint32_t status;
    smpp_reason reason;
    uint32_t pdu_id;     /* command_id of ev.pdu, 0 without one */
    char text[70];       /* message_id, system_id or receipted_message_id */
    size_t out_at_event; /* client output pending when the event came */
} rec;

static struct {
    rec ev[MAX_EVENTS];
    int n;
    /* LOG events, kept apart from ev: level and text of each. */
    smpp_log_level log_level[MAX_LOGS];
    char log[MAX_LOGS][128];
    int nlog;
    int ends[MAX_TOKENS];
    int closed;       /* CLOSED seen */
    int after_closed; /* events after CLOSED: must stay 0 */
} L;

/* Output captured from one session, split into PDUs. */
typedef struct wire {
    uint8_t bytes[OUT_CAP];
    size_t len;
    size_t at[MAX_OUT_PDUS];
    size_t count;
    size_t scanned;
} wire;

static wire W;

static void log_reset(void)
{
    memset(&L, 0, sizeof(L));
    W.len = W.count = W.scanned = 0;
}

static void copy_bytes(char *dst, smpp_bytes b)
{
    size_t n = b.len < 69 ? b.len : 69;
    if (n)
        memcpy(dst, b.ptr, n);
    dst[n] = 0;
}

static void record(smpp_session *s, const smpp_event *ev)
{
    rec *r = &L.ev[L.n < MAX_EVENTS ? L.n : MAX_EVENTS - 1];
    size_t pend = 0;

    if (ev->type == SMPP_EV_LOG) {
        int i = L.nlog < MAX_LOGS ? L.nlog++ : MAX_LOGS - 1;

        L.log_level[i] = ev->level;
        snprintf(L.log[i], sizeof(L.log[i]), "%s", ev->message);
        return;
    }

    if (L.closed)
        L.after_closed++;
    memset(r, 0, sizeof(*r));
    r->type = ev->type;
    r->token = ev->token;
    r->command_id = ev->command_id;
    r->seq = ev->sequence_number;
    r->outcome = ev->outcome;
    r->status = ev->status;
    r->reason = ev->reason;
    (void)smpp_session_pending(s, &pend);
    r->out_at_event = pend;
    if (ev->pdu != NULL) {
        const smpp_tlv *t = smpp_pdu_find_tlv(ev->pdu, SMPP_TLV_RECEIPTED_MESSAGE_ID);
        r->pdu_id = ev->pdu->command_id;
        if (t != NULL) {
            smpp_bytes b = {t->value, t->len};
            copy_bytes(r->text, b);
        } else if (ev->pdu->command_id == SMPP_SUBMIT_SM_RESP ||
                   ev->pdu->command_id == SMPP_DELIVER_SM_RESP) {
            copy_bytes(r->text, ev->pdu->message_id);
        } else {
            copy_bytes(r->text, ev->pdu->system_id);
        }
    }
    if (ev->type == SMPP_EV_RESULT && ev->token < MAX_TOKENS)
        L.ends[ev->token]++;
    if (ev->type == SMPP_EV_CLOSED)
        L.closed = 1;
    L.n++;
}

/* Take every event the session has now. */
static int drain(smpp_session *s, smpp_ms now)
{
    smpp_event ev;
    int n = 0;

    while (smpp_session_next_event(s, now, &ev)) {
        record(s, &ev);
        n += ev.type != SMPP_EV_LOG;
    }
    return n;
}

static int count(smpp_event_type type)
{
    int i, n = 0;
    for (i = 0; i < L.n; i++)
        n += L.ev[i].type == type;
    return n;
}

static int count_outcome(smpp_outcome o)
{
    int i, n = 0;
    for (i = 0; i < L.n; i++)
        n += L.ev[i].type == SMPP_EV_RESULT && L.ev[i].outcome == o;
    return n;
}

static const rec *last(smpp_event_type type)
{
    int i;
    for (i = L.n - 1; i >= 0; i--)
        if (L.ev[i].type == type)
            return &L.ev[i];
    return NULL;
}

/* Every token in [0, n) ended exactly once. */
static int all_ended_once(int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (L.ends[i] != 1) {
            fprintf(stderr, "  token %d ended %d times\n", i, L.ends[i]);
            return 0;
        }
    for (i = n; i < MAX_TOKENS; i++)
        if (L.ends[i] != 0)
            return 0;
    return 1;
}

/* Move a session's pending output into W, all of it or `max` bytes. */
static size_t take_out_max(smpp_session *s, size_t max)
{
    size_t len = 0;
    const uint8_t *p = smpp_session_pending(s, &len);

    if (len > max)
        len = max;
    if (len > 0 && W.len + len <= OUT_CAP) {
        memcpy(W.bytes + W.len, p, len);
        W.len += len;
        smpp_session_sent(s, len);
    }
    while (W.len - W.scanned >= 16) {
        uint32_t l = smpp_get_u32(W.bytes + W.scanned);
        if (l < 16 || W.len - W.scanned < l)
            break;
        if (W.count < MAX_OUT_PDUS)
            W.at[W.count++] = W.scanned;
        W.scanned += l;
    }
    return len;
}

static size_t take_out(smpp_session *s)
{
    return take_out_max(s, SIZE_MAX);
}

/* Decode the i-th captured PDU (pdu borrows from W). */
static int out_pdu(size_t i, smpp_pdu *pdu)
{
    if (i >= W.count)
        return -1;
    return smpp_pdu_decode(pdu, W.bytes + W.at[i], smpp_get_u32(W.bytes + W.at[i]), NULL);
}

static uint32_t out_id(size_t i)
{
    return i < W.count ? smpp_get_u32(W.bytes + W.at[i] + 4) : 0;
}

static uint32_t out_status(size_t i)
{
    return i < W.count ? smpp_get_u32(W.bytes + W.at[i] + 8) : 0xFFFFFFFFu;
}

static uint32_t out_seq(size_t i)
{
    return i < W.count ? smpp_get_u32(W.bytes + W.at[i] + 12) : 0;
}

/* Feed bytes `chunk` at a time (alternating the copying and the zero-copy
 * input), draining events after every piece. */
static void feed(smpp_session *s, const uint8_t *b, size_t len, size_t chunk, smpp_ms now)
{
    size_t off = 0;
    int flip = 0;

    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (flip) {
            uint8_t *buf;
            size_t cap;
            if (smpp_session_recv_buffer(s, n, &buf, &cap) != 0)
                return;
            memcpy(buf, b + off, n);
            smpp_session_recv_commit(s, n);
        } else if (smpp_session_recv(s, b + off, n) != 0) {
            return;
        }
        flip = !flip;
        off += n;
        drain(s, now);
    }
}

/* PDU builders, through the codec. */
static size_t enc(const smpp_pdu *pdu, uint8_t *buf)
{
    long n = smpp_pdu_encode(pdu, buf, 4096, NULL);
    return n > 0 ? (size_t)n : 0;
}

static size_t hdr(uint8_t *b, uint32_t id, uint32_t status, uint32_t seq)
{
    smpp_put_u32(b, 16);
    smpp_put_u32(b + 4, id);
    smpp_put_u32(b + 8, status);
    smpp_put_u32(b + 12, seq);
    return 16;
}

static void set_str(smpp_bytes *b, const char *s)
{
    b->ptr = (const uint8_t *)s;
    b->len = strlen(s);
}

static size_t submit_resp(uint8_t *b, uint32_t seq, uint32_t status, const char *msgid)
{
    smpp_pdu p;
    smpp_pdu_clear(&p);
    p.command_id = SMPP_SUBMIT_SM_RESP;
    p.command_status = status;
    p.sequence_number = seq;
    set_str(&p.message_id, msgid);
    return enc(&p, b);
}

static size_t bind_resp(uint8_t *b, uint32_t seq, uint32_t status)
{
    smpp_pdu p;
    smpp_pdu_clear(&p);
    p.command_id = SMPP_BIND_TRANSCEIVER_RESP;
    p.command_status = status;
    p.sequence_number = seq;
    if (status != 0)
        p.has_body = 0;
    else
        set_str(&p.system_id, "engagelab");
    return enc(&p, b);
}

static size_t bind_req(uint8_t *b, uint32_t id, uint32_t seq, const char *sysid)
{
    smpp_pdu p;
    smpp_pdu_clear(&p);
    p.command_id = id;
    p.sequence_number = seq;
    set_str(&p.system_id, sysid);
    set_str(&p.password, "secret");
    p.interface_version = 0x34;
    return enc(&p, b);
}

/* A receipt as the gateway sends it: deliver_sm, esm_class 0, TLVs
 * receipted_message_id and message_state. */
static size_t receipt(uint8_t *b, uint32_t seq, const char *msgid)
{
    static char text[200];
    static const uint8_t delivered = 2;
    smpp_pdu p;

    smpp_pdu_clear(&p);
    p.command_id = SMPP_DELIVER_SM;
    p.sequence_number = seq;
    set_str(&p.service_type, "MSG");
    set_str(&p.destination_addr, "+6598765432");
    snprintf(text, sizeof(text),
             "id:%s sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 "
             "stat:DELIVRD err:000 text:",
             msgid);
    set_str(&p.short_message, text);
    smpp_pdu_add_tlv(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, msgid, strlen(msgid) + 1, NULL);
    smpp_pdu_add_tlv(&p, SMPP_TLV_MESSAGE_STATE, &delivered, 1, NULL);
    return enc(&p, b);
}

/* The gateway's OTP submit: JSON body, international destination. */
static void otp_pdu(smpp_pdu *p, uint32_t command_id)
{
    static const char json[] = "{\"id\":\"otp-login\",\"language\":\"default\",\"code\":\"123456\","
                               "\"params\":{\"app\":\"Acme\"}}";
    smpp_pdu_clear(p);
    p->command_id = command_id;
    set_str(&p->service_type, "CODE");
    p->dest_addr_ton = 1;
    p->dest_addr_npi = 1;
    set_str(&p->destination_addr, "+6598765432");
    p->registered_delivery = 1;
    set_str(&p->short_message, json);
}

static int submit(smpp_session *s, uint64_t token, smpp_ms now)
{
    smpp_pdu p;
    otp_pdu(&p, SMPP_SUBMIT_SM);
    return smpp_session_submit(s, &p, token, now, NULL);
}

static smpp_session *client(smpp_ms now, uint32_t window, uint32_t queue_max)
{
    smpp_session_config c;
    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.system_id = "test";
    c.password = "secret";
    c.window = window;
    c.queue_max = queue_max;
    return smpp_session_new(&c, now, NULL);
}

static smpp_session *server(smpp_ms now)
{
    smpp_session_config c;
    smpp_session_config_init(&c, SMPP_ROLE_SERVER);
    return smpp_session_new(&c, now, NULL);
}

/* Connect and bind a client at `now`; W holds the bind afterwards. */
static smpp_session *bound_client(smpp_ms now, uint32_t window, uint32_t queue_max)
{
    uint8_t b[64];
    smpp_session *s = client(now, window, queue_max);

    log_reset();
    smpp_session_connected(s, now);
    take_out(s);
    feed(s, b, bind_resp(b, out_seq(0), 0), 4096, now);
    return s;
}

/* ---- client: bind ------------------------------------------------------------ */

TEST(sends_bind_transceiver_first_with_the_configured_credentials)
{
    smpp_session *s = client(0, 10, 100);
    smpp_pdu p;
    size_t len = 0;

    log_reset();
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_CONNECTING);
    CHECK(smpp_session_pending(s, &len) == NULL && len == 0);
    CHECK_EQ_INT(submit(s, 0, 0), 0); /* waits in the queue */
    CHECK_EQ_INT(smpp_session_connected(s, 5), 0);
    CHECK_EQ_INT(smpp_session_connected(s, 5), SMPP_ERR_STATE);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_BINDING);
    take_out(s);
    CHECK_EQ_INT(W.count, 1); /* nothing but bind before bound */
    CHECK_EQ_INT(out_pdu(0, &p), 0);
    CHECK_EQ_INT(p.command_id, SMPP_BIND_TRANSCEIVER);
    CHECK_MEM(p.system_id.ptr, p.system_id.len, "test", 4);
    CHECK_MEM(p.password.ptr, p.password.len, "secret", 6);
    CHECK_EQ_INT(p.interface_version, 0x34);
    CHECK(p.sequence_number >= 1);
    CHECK_EQ_INT(smpp_session_deadline(s), 5 + 10000);
    smpp_session_free(s);
}

TEST(binds_with_the_resp_fed_one_byte_at_a_time_then_sends_the_queued_submit)
{
    smpp_session *s = client(0, 10, 100);
    uint8_t b[64];
    size_t n;

    log_reset();
    CHECK_EQ_INT(submit(s, 0, 0), 0);
    smpp_session_connected(s, 0);
    take_out(s);
    n = bind_resp(b, out_seq(0), 0);
    feed(s, b, n, 1, 10);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_BOUND);
    CHECK_EQ_INT(count(SMPP_EV_BOUND), 1);
    CHECK_EQ_INT(L.ev[0].pdu_id, SMPP_BIND_TRANSCEIVER_RESP);
    CHECK_EQ_STR(L.ev[0].text, "engagelab");
    take_out(s);
    CHECK_EQ_INT(W.count, 2);
    CHECK_EQ_INT(out_id(1), SMPP_SUBMIT_SM);
    CHECK(out_seq(1) != out_seq(0));
    CHECK_EQ_INT(out_status(1), 0);
    smpp_session_free(s);
}

TEST(rejects_a_system_id_over_15_bytes_and_a_password_over_8_naming_them)
{
    smpp_session_config c;
    smpp_error err;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.system_id = "0123456789abcdef";
    c.password = "x";
    CHECK(smpp_session_new(&c, 0, &err) == NULL);
    CHECK_EQ_INT(err.code, SMPP_ERR_ARG);
    CHECK(strstr(err.msg, "system_id") != NULL);
    c.system_id = "0123456789abcde";
    c.password = "123456789";
    CHECK(smpp_session_new(&c, 0, &err) == NULL);
    CHECK(strstr(err.msg, "password") != NULL);
    c.password = "12345678";
    c.window = 0;
    CHECK(smpp_session_new(&c, 0, &err) == NULL);
    CHECK(strstr(err.msg, "window") != NULL);
    c.window = 10;
    {
        smpp_session *s = smpp_session_new(&c, 0, &err);
        CHECK(s != NULL);
        smpp_session_free(s);
    }
}

TEST(reports_a_bind_status_error_and_ends_queued_submits_not_sent)
{
    smpp_session *s = client(0, 10, 100);
    uint8_t b[64];
    const rec *r;

    log_reset();
    submit(s, 0, 0);
    submit(s, 1, 0);
    smpp_session_connected(s, 0);
    take_out(s);
    feed(s, b, bind_resp(b, out_seq(0), SMPP_ESME_RINVPASWD), 3, 10);
    r = last(SMPP_EV_BIND_FAILED);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_INT(r->reason, SMPP_REASON_BIND_STATUS);
        CHECK_EQ_INT(r->status, SMPP_ESME_RINVPASWD);
    }
    CHECK_EQ_INT(count_outcome(SMPP_OUTCOME_NOT_SENT), 2);
    CHECK(all_ended_once(2));
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_BIND_STATUS);
    CHECK_EQ_INT(L.ev[L.n - 1].type, SMPP_EV_CLOSED);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_CLOSED);
    CHECK_EQ_INT(submit(s, 2, 20), SMPP_ERR_NOT_SENT);
    CHECK_EQ_INT(drain(s, 30), 0);
    take_out(s);
    CHECK_EQ_INT(W.count, 1); /* only the bind ever went out */
    smpp_session_free(s);
}

TEST(reports_a_generic_nack_of_the_bind_as_a_bind_status_error)
{
    smpp_session *s = client(0, 10, 100);
    uint8_t b[64];

    log_reset();
    smpp_session_connected(s, 0);
    take_out(s);
    feed(s, b, hdr(b, SMPP_GENERIC_NACK, SMPP_ESME_RINVCMDID, out_seq(0) + 1), 16, 1);
    CHECK_EQ_INT(L.n, 0); /* not the bind's: ignored */
    feed(s, b, hdr(b, SMPP_GENERIC_NACK, SMPP_ESME_RINVCMDID, out_seq(0)), 16, 1);
    CHECK_EQ_INT(L.n, 2);
    CHECK_EQ_INT(L.ev[0].reason, SMPP_REASON_BIND_STATUS);
    CHECK_EQ_INT(L.ev[0].status, SMPP_ESME_RINVCMDID);
    smpp_session_free(s);
}

TEST(reports_the_gateway_closing_the_socket_during_bind_as_authentication_failed)
{
    smpp_session *s = client(0, 10, 100);

    log_reset();
    submit(s, 0, 0);
    smpp_session_connected(s, 0);
    smpp_session_fail(s, SMPP_REASON_CONNECTION_LOST, 50);
    smpp_session_fail(s, SMPP_REASON_CONNECTION_LOST, 60); /* idempotent */
    drain(s, 60);
    CHECK_EQ_INT(L.n, 3);
    CHECK_EQ_INT(L.ev[0].type, SMPP_EV_BIND_FAILED);
    CHECK_EQ_INT(L.ev[0].reason, SMPP_REASON_AUTH);
    CHECK_EQ_STR(smpp_reason_name(L.ev[0].reason), "authentication failed");
    CHECK_EQ_INT(L.ev[1].outcome, SMPP_OUTCOME_NOT_SENT);
    CHECK_EQ_INT(L.ev[2].type, SMPP_EV_CLOSED);
    CHECK_EQ_INT(L.ev[2].reason, SMPP_REASON_AUTH);
    CHECK(all_ended_once(1));
    CHECK_EQ_INT(smpp_session_deadline(s), -1);
    smpp_session_free(s);
}

TEST(times_out_the_connect_and_the_bind)
{
    smpp_session *s = client(1000, 10, 100);

    log_reset();
    submit(s, 0, 1000);
    CHECK_EQ_INT(smpp_session_deadline(s), 11000);
    smpp_session_tick(s, 10999);
    CHECK_EQ_INT(drain(s, 10999), 0);
    smpp_session_tick(s, 11000);
    drain(s, 11000);
    CHECK_EQ_INT(L.ev[0].type, SMPP_EV_BIND_FAILED);
    CHECK_EQ_INT(L.ev[0].reason, SMPP_REASON_CONNECT_TIMEOUT);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_CONNECT_TIMEOUT);
    CHECK(all_ended_once(1));
    CHECK_EQ_INT(smpp_session_connected(s, 11001), SMPP_ERR_STATE);
    smpp_session_free(s);

    s = client(0, 10, 100);
    log_reset();
    smpp_session_connected(s, 100);
    CHECK_EQ_INT(smpp_session_deadline(s), 10100);
    smpp_session_tick(s, 10099);
    CHECK_EQ_INT(drain(s, 10099), 0);
    smpp_session_tick(s, 10100);
    drain(s, 10100);
    CHECK_EQ_INT(L.ev[0].reason, SMPP_REASON_BIND_TIMEOUT);
    CHECK_EQ_INT(L.n, 2);
    {
        size_t len;
        smpp_session_pending(s, &len);
        CHECK_EQ_INT(len, 0); /* link broken: output dropped */
    }
    smpp_session_free(s);
}

TEST(closing_before_bound_gives_bind_failed_closed_then_closed)
{
    smpp_session *s = client(0, 10, 100);

    log_reset();
    submit(s, 0, 0);
    smpp_session_connected(s, 0);
    smpp_session_close(s, 1, 5);
    drain(s, 5);
    CHECK_EQ_INT(L.n, 3);
    CHECK_EQ_INT(L.ev[0].type, SMPP_EV_BIND_FAILED);
    CHECK_EQ_INT(L.ev[0].reason, SMPP_REASON_CLOSED);
    CHECK_EQ_INT(L.ev[1].outcome, SMPP_OUTCOME_CLOSED);
    CHECK_EQ_INT(L.ev[2].reason, SMPP_REASON_CLOSED);
    CHECK(all_ended_once(1));
    smpp_session_free(s);
}

/* ---- client: keep-alive ----------------------------------------------------------- */

TEST(sends_enquire_link_every_30_s_and_not_before_regardless_of_traffic)
{
    smpp_session *s = bound_client(0, 10, 100);
    uint8_t b[64];
    smpp_ms t;

    CHECK_EQ_INT(smpp_session_deadline(s), 30000);
    for (t = 1000; t < 30000; t += 1000) {
        /* traffic does not move the schedule */
        submit(s, (uint64_t)(t / 1000 - 1), t);
        take_out(s);
        feed(s, b, submit_resp(b, out_seq(W.count - 1), 0, "m"), 4096, t);
        smpp_session_tick(s, t);
    }
    smpp_session_tick(s, 29999);
    take_out(s);
    {
        size_t i;
        for (i = 0; i < W.count; i++)
            CHECK(out_id(i) != SMPP_ENQUIRE_LINK);
    }
    smpp_session_tick(s, 30000);
    take_out(s);
    CHECK_EQ_INT(out_id(W.count - 1), SMPP_ENQUIRE_LINK);
    CHECK_EQ_INT(smpp_session_deadline(s), 40000); /* its resp is due */
    feed(s, b, hdr(b, SMPP_ENQUIRE_LINK_RESP, 0, out_seq(W.count - 1)), 1, 30010);
    CHECK_EQ_INT(smpp_session_deadline(s), 60000);
    smpp_session_tick(s, 40000);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_BOUND);
    smpp_session_tick(s, 60000);
    take_out(s);
    CHECK_EQ_INT(out_id(W.count - 1), SMPP_ENQUIRE_LINK);
    {
        smpp_session_stats st;
        smpp_session_get_stats(s, &st);
        CHECK_EQ_INT(st.enquire_links_sent, 2);
    }
    CHECK(all_ended_once(29));
    smpp_session_free(s);
}

TEST(closes_a_dead_link_when_enquire_link_goes_unanswered)
{
    smpp_session *s = bound_client(0, 2, 100);
    int i;

    for (i = 0; i < 5; i++)
        submit(s, (uint64_t)i, 0);
    take_out(s); /* the two in flight are written */
    smpp_session_tick(s, 30000);
    take_out(s);
    CHECK_EQ_INT(out_id(W.count - 1), SMPP_ENQUIRE_LINK);
    /* the submits' own timeouts come first: answer them late-but-not-dead */
    smpp_session_tick(s, 39999);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_BOUND);
    smpp_session_tick(s, 40000);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_CLOSED);
    drain(s, 40000);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_DEAD_LINK);
    /* the two sent at 0 had timed out at 10 s, before the link died */
    CHECK_EQ_INT(count_outcome(SMPP_OUTCOME_TIMEOUT), 2);
    CHECK_EQ_INT(count_outcome(SMPP_OUTCOME_NOT_SENT), 3);
    CHECK(all_ended_once(5));
    CHECK_EQ_INT(L.after_closed, 0);
    smpp_session_free(s);
}

TEST(answers_the_gateways_enquire_link_with_the_same_sequence_number)
{
    smpp_session *s = bound_client(0, 10, 100);
    uint8_t b[64];

    feed(s, b, hdr(b, SMPP_ENQUIRE_LINK, 0, 0x1234567), 1, 10);
    take_out(s);
    CHECK_EQ_INT(out_id(W.count - 1), SMPP_ENQUIRE_LINK_RESP);
    CHECK_EQ_INT(out_seq(W.count - 1), 0x1234567);
    CHECK_EQ_INT(L.n, 1); /* BOUND only: no event for it */
    smpp_session_free(s);
}

/* ---- client: requests ----------------------------------------------------------- */

TEST(times_out_a_request_and_ignores_its_late_response)
{
    smpp_session *s = bound_client(0, 10, 100);
    uint8_t b[128];
    uint32_t seq;

    submit(s, 0, 100);
    submit(s, 1, 200);
    take_out(s);
    seq = out_seq(1);
    CHECK_EQ_INT(smpp_session_deadline(s), 10100);
    smpp_session_tick(s, 10100);
    drain(s, 10100);
    CHECK_EQ_INT(L.ends[0], 1);
    CHECK_EQ_INT(L.ends[1], 0);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->outcome, SMPP_OUTCOME_TIMEOUT);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->seq, seq);
    feed(s, b, submit_resp(b, seq, 0, "late"), 5, 10150);
    CHECK_EQ_INT(L.ends[0], 1);
    CHECK_EQ_INT(smpp_session_deadline(s), 10200);
    drain(s, 10200);
    CHECK(all_ended_once(2));
    smpp_session_free(s);
}

TEST(keeps_window_10_in_flight_and_refuses_the_queue_max_plus_11th_submit)
{
    enum { N = 25 };
    smpp_session *s = bound_client(0, 10, N);
    smpp_session_stats st;
    smpp_error err;
    uint8_t b[128];
    int i;
    smpp_pdu p;

    for (i = 0; i < N + 10; i++)
        CHECK_EQ_INT(submit(s, (uint64_t)i, 1), 0);
    otp_pdu(&p, SMPP_SUBMIT_SM);
    CHECK_EQ_INT(smpp_session_submit(s, &p, N + 10, 1, &err), SMPP_ERR_QUEUE_FULL);
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.in_flight, 10);
    CHECK_EQ_INT(st.queued, N);
    take_out(s);
    CHECK_EQ_INT(W.count, 11); /* bind + window */
    /* Each answer lets one queued request out, in order. */
    for (i = 0; i < N + 10; i++) {
        size_t k = 1 + (size_t)i;
        feed(s, b, submit_resp(b, out_seq(k), 0, "id"), 7, 2);
        take_out(s);
    }
    CHECK_EQ_INT(W.count, 1 + N + 10);
    CHECK(all_ended_once(N + 10));
    for (i = 0; i < L.n; i++)
        if (L.ev[i].type == SMPP_EV_RESULT)
            CHECK_EQ_INT(L.ev[i].outcome, SMPP_OUTCOME_RESPONSE);
    /* FIFO: tokens came back in submit order */
    {
        uint64_t want = 0;
        for (i = 0; i < L.n; i++)
            if (L.ev[i].type == SMPP_EV_RESULT)
                CHECK_EQ_INT(L.ev[i].token, want++);
    }
    smpp_session_free(s);
}

TEST(checks_a_submit_at_once_and_queues_nothing_on_a_bad_field)
{
    smpp_session *s = bound_client(0, 10, 100);
    smpp_error err;
    smpp_pdu p;
    smpp_session_stats st;
    char big[300];

    memset(big, 'x', sizeof(big));
    otp_pdu(&p, SMPP_SUBMIT_SM);
    p.destination_addr.ptr = (const uint8_t *)big;
    p.destination_addr.len = 21;
    CHECK_EQ_INT(smpp_session_submit(s, &p, 1, 0, &err), SMPP_ERR_LIMIT);
    CHECK(strstr(err.msg, "destination_addr") != NULL);
    otp_pdu(&p, SMPP_SUBMIT_SM);
    p.short_message.ptr = (const uint8_t *)big;
    p.short_message.len = 255;
    CHECK(smpp_session_submit(s, &p, 1, 0, &err) < 0);
    CHECK(strstr(err.msg, "short_message") != NULL);
    otp_pdu(&p, SMPP_DELIVER_SM);
    CHECK_EQ_INT(smpp_session_submit(s, &p, 1, 0, &err), SMPP_ERR_ARG);
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.submitted + st.in_flight + st.queued, 0);
    take_out(s);
    CHECK_EQ_INT(W.count, 1);
    smpp_session_free(s);
}

TEST(wraps_the_sequence_number_at_0x7FFFFFFF_back_to_1_skipping_those_in_flight)
{
    smpp_session *s = bound_client(0, 4, 100);
    uint8_t b[128];

    CHECK_EQ_INT(smpp_session_set_next_sequence(s, 0), SMPP_ERR_ARG);
    CHECK_EQ_INT(smpp_session_set_next_sequence(s, 0x80000000u), SMPP_ERR_ARG);
    CHECK_EQ_INT(smpp_session_set_next_sequence(s, 0x7FFFFFFE), 0);
    submit(s, 0, 0);
    submit(s, 1, 0);
    submit(s, 2, 0);
    take_out(s);
    CHECK_EQ_INT(out_seq(1), 0x7FFFFFFE);
    CHECK_EQ_INT(out_seq(2), 0x7FFFFFFF);
    CHECK_EQ_INT(out_seq(3), 1);
    /* 0x7FFFFFFF and 1 still in flight: the next wrap skips them */
    feed(s, b, submit_resp(b, 0x7FFFFFFE, 0, "a"), 16, 1);
    smpp_session_set_next_sequence(s, 0x7FFFFFFF);
    submit(s, 3, 1);
    take_out(s);
    CHECK_EQ_INT(out_seq(4), 2);
    feed(s, b, submit_resp(b, 0x7FFFFFFF, 0, "b"), 16, 2);
    feed(s, b, submit_resp(b, 1, 0, "c"), 16, 2);
    feed(s, b, submit_resp(b, 2, 0, "d"), 16, 2);
    CHECK(all_ended_once(4));
    CHECK_EQ_STR(L.ev[L.n - 1].text, "d");
    CHECK_EQ_INT(L.ev[L.n - 1].token, 3);
    smpp_session_free(s);
}

TEST(takes_a_receipt_that_comes_before_its_submit_sm_resp)
{
    smpp_session *s = bound_client(0, 10, 100);
    uint8_t b[1024];
    size_t n = 0;
    const rec *d, *r;

    submit(s, 0, 0);
    take_out(s);
    /* receipt first, then the resp, in one read */
    n += receipt(b, 77, "msg-1");
    n += submit_resp(b + n, out_seq(1), 0, "msg-1");
    feed(s, b, n, n, 5);
    CHECK_EQ_INT(L.n, 3);
    d = &L.ev[1];
    r = &L.ev[2];
    CHECK_EQ_INT(d->type, SMPP_EV_DELIVER);
    CHECK_EQ_STR(d->text, "msg-1");
    CHECK_EQ_INT(d->seq, 77);
    /* the deliver_sm_resp was written before the event was handed out */
    CHECK_EQ_INT(d->out_at_event, 17);
    CHECK_EQ_INT(r->type, SMPP_EV_RESULT);
    CHECK_EQ_STR(r->text, "msg-1");
    take_out(s);
    CHECK_EQ_INT(out_id(2), SMPP_DELIVER_SM_RESP);
    CHECK_EQ_INT(out_seq(2), 77);
    CHECK_EQ_INT(smpp_get_u32(W.bytes + W.at[2]), 17); /* message_id "" */
    CHECK(all_ended_once(1));
    smpp_session_free(s);
}

TEST(ends_the_right_request_on_generic_nack_and_ignores_nack_0_and_unknown)
{
    smpp_session *s = bound_client(0, 10, 100);
    uint8_t b[64];

    submit(s, 0, 0);
    submit(s, 1, 0);
    submit(s, 2, 0);
    take_out(s);
    feed(s, b, hdr(b, SMPP_GENERIC_NACK, SMPP_ESME_RINVCMDLEN, 0), 1, 1);
    feed(s, b, hdr(b, SMPP_GENERIC_NACK, SMPP_ESME_RINVCMDLEN, 999), 1, 1);
    feed(s, b, submit_resp(b, 4242, 0, "nobody"), 2, 1);
    CHECK_EQ_INT(count(SMPP_EV_RESULT), 0);
    feed(s, b, hdr(b, SMPP_GENERIC_NACK, SMPP_ESME_RINVCMDID, out_seq(2)), 1, 2);
    CHECK_EQ_INT(count(SMPP_EV_RESULT), 1);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->token, 1);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->outcome, SMPP_OUTCOME_NACK);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->status, SMPP_ESME_RINVCMDID);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->pdu_id, SMPP_GENERIC_NACK);
    smpp_session_close(s, 0, 3);
    drain(s, 3);
    CHECK(all_ended_once(3));
    smpp_session_free(s);
}

TEST(answers_the_peers_unbind_then_ends_in_flight_lost_and_queued_not_sent)
{
    smpp_session *s = bound_client(0, 2, 100);
    uint8_t b[64];
    size_t len;

    submit(s, 0, 0);
    submit(s, 1, 0);
    submit(s, 2, 0);
    take_out(s);
    feed(s, b, hdr(b, SMPP_UNBIND, 0, 555), 1, 10);
    CHECK_EQ_INT(L.ev[1].type, SMPP_EV_UNBOUND);
    CHECK_EQ_INT(count_outcome(SMPP_OUTCOME_LOST), 2);
    CHECK_EQ_INT(count_outcome(SMPP_OUTCOME_NOT_SENT), 1);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_PEER_UNBIND);
    CHECK(all_ended_once(3));
    smpp_session_pending(s, &len);
    CHECK_EQ_INT(len, 16); /* the unbind_resp waits to be flushed */
    take_out(s);
    CHECK_EQ_INT(out_id(W.count - 1), SMPP_UNBIND_RESP);
    CHECK_EQ_INT(out_seq(W.count - 1), 555);
    CHECK_EQ_INT(smpp_session_recv(s, b, 16), SMPP_ERR_STATE);
    smpp_session_free(s);
}

TEST(closes_on_a_broken_stream_and_tells_sent_from_unsent)
{
    smpp_session *s = bound_client(0, 3, 100);
    uint8_t b[64];

    submit(s, 0, 0);
    take_out(s); /* written */
    submit(s, 1, 0);
    submit(s, 2, 0); /* in flight, never written */
    submit(s, 3, 0); /* queued */
    smpp_put_u32(b, 15);
    memset(b + 4, 0, 12);
    CHECK_EQ_STR(smpp_session_error(s), "");
    feed(s, b, 16, 1, 5);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_PROTOCOL);
    CHECK_EQ_STR(smpp_session_error(s),
                 "broken stream: command_length 15 is less than the 16-byte header");
    CHECK_EQ_INT(L.ends[0], 1);
    CHECK_EQ_INT(L.ev[1].outcome, SMPP_OUTCOME_LOST);
    CHECK_EQ_INT(L.ev[2].outcome, SMPP_OUTCOME_NOT_SENT);
    CHECK_EQ_INT(L.ev[3].outcome, SMPP_OUTCOME_NOT_SENT);
    CHECK_EQ_INT(L.ev[4].outcome, SMPP_OUTCOME_NOT_SENT);
    CHECK(all_ended_once(4));
    smpp_session_free(s);

    /* and a command_length over max_pdu */
    s = bound_client(0, 3, 100);
    smpp_put_u32(b, 65537);
    feed(s, b, 16, 16, 5);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_PROTOCOL);
    CHECK_EQ_STR(smpp_session_error(s),
                 "broken stream: command_length 65537 is over the cap of 65536 bytes");
    smpp_session_free(s);
}

TEST(nacks_a_request_it_cannot_decode_or_does_not_know_and_goes_on)
{
    smpp_session *s = bound_client(0, 10, 100);
    uint8_t b[256];
    size_t n;

    /* deliver_sm whose body stops short */
    smpp_session_stats st;

    n = receipt(b, 9, "m");
    smpp_put_u32(b, 30);
    feed(s, b, 30, 1, 1);
    CHECK(strncmp(smpp_session_error(s), "deliver_sm does not decode: ", 28) == 0);
    feed(s, b, hdr(b, 0x00000777, 0, 10), 1, 1);
    CHECK_EQ_STR(smpp_session_error(s), "unknown command_id 0x00000777");
    feed(s, b, hdr(b, SMPP_QUERY_SM, 0, 11), 16, 1);
    feed(s, b, bind_req(b, SMPP_BIND_TRANSMITTER, 12, "x"), 5, 1);
    feed(s, b, hdr(b, 0x80000777, 0, 13), 1, 1); /* unknown response: dropped */
    take_out(s);
    CHECK_EQ_INT(W.count, 5);
    CHECK_EQ_INT(out_id(1), SMPP_GENERIC_NACK);
    CHECK_EQ_INT(out_status(1), SMPP_ESME_RINVCMDLEN);
    CHECK_EQ_INT(out_seq(1), 9);
    CHECK_EQ_INT(out_status(2), SMPP_ESME_RINVCMDID);
    CHECK_EQ_INT(out_seq(2), 10);
    CHECK_EQ_INT(out_status(3), SMPP_ESME_RINVCMDID);
    CHECK_EQ_INT(out_status(4), SMPP_ESME_RINVCMDID);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_BOUND);
    n = receipt(b, 14, "m2");
    feed(s, b, n, 3, 2);
    CHECK_EQ_INT(last(SMPP_EV_DELIVER)->seq, 14);
    /* Every framed PDU counts, answered by the session or not; the
     * error stays until something else fails. */
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.pdus_in, 7);
    CHECK_EQ_STR(smpp_session_error(s), "unknown command_id 0x80000777");
    smpp_session_free(s);
}

TEST(closes_an_idle_link_in_either_role)
{
    smpp_session_config c;
    smpp_session *s;
    uint8_t b[64];

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.system_id = "t";
    c.idle_timeout_ms = 5000;
    c.enquire_link_ms = 0;
    s = smpp_session_new(&c, 0, NULL);
    log_reset();
    smpp_session_connected(s, 0);
    take_out(s);
    feed(s, b, bind_resp(b, out_seq(0), 0), 64, 1000);
    CHECK_EQ_INT(smpp_session_deadline(s), 6000);
    feed(s, b, hdr(b, SMPP_ENQUIRE_LINK, 0, 5), 16, 4000);
    CHECK_EQ_INT(smpp_session_deadline(s), 9000);
    smpp_session_tick(s, 8999);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_BOUND);
    smpp_session_tick(s, 9000);
    drain(s, 9000);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_IDLE);
    smpp_session_free(s);

    smpp_session_config_init(&c, SMPP_ROLE_SERVER);
    c.idle_timeout_ms = 3000;
    c.bind_timeout_ms = 60000;
    s = smpp_session_new(&c, 0, NULL);
    log_reset();
    CHECK_EQ_INT(smpp_session_deadline(s), 3000);
    smpp_session_tick(s, 3000);
    drain(s, 3000);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_IDLE);
    smpp_session_free(s);
}

/* ---- close ------------------------------------------------------------------------ */

TEST(graceful_close_ends_every_request_once_unbinds_and_waits_for_unbind_resp)
{
    enum { N = 10000 };
    smpp_session *s = bound_client(0, 100, N);
    uint8_t b[64];
    uint32_t unbind_seq;
    int i;

    for (i = 0; i < N + 100; i++)
        CHECK_EQ_INT(submit(s, (uint64_t)i, 1), 0);
    take_out(s);
    smpp_session_close(s, 1, 2);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_UNBINDING);
    CHECK_EQ_INT(submit(s, N + 100, 2), SMPP_ERR_STATE);
    take_out(s);
    CHECK_EQ_INT(out_id(W.count - 1), SMPP_UNBIND);
    unbind_seq = out_seq(W.count - 1);
    drain(s, 3);
    CHECK_EQ_INT(count_outcome(SMPP_OUTCOME_CLOSED), N + 100);
    CHECK(all_ended_once(N + 100));
    CHECK_EQ_INT(count(SMPP_EV_CLOSED), 0);
    /* a late submit_sm_resp is dropped; a receipt is still acknowledged */
    feed(s, b, submit_resp(b, out_seq(1), 0, "x"), 16, 4);
    CHECK(all_ended_once(N + 100));
    feed(s, b, hdr(b, SMPP_UNBIND_RESP, 0, unbind_seq), 1, 5);
    CHECK_EQ_INT(L.ev[L.n - 2].type, SMPP_EV_UNBOUND);
    CHECK_EQ_INT(L.ev[L.n - 1].type, SMPP_EV_CLOSED);
    CHECK_EQ_INT(L.ev[L.n - 1].reason, SMPP_REASON_CLOSED);
    CHECK_EQ_INT(L.after_closed, 0);
    smpp_session_close(s, 1, 6);
    CHECK_EQ_INT(drain(s, 6), 0);
    smpp_session_free(s);
}

TEST(graceful_close_gives_up_on_unbind_resp_after_the_response_timeout)
{
    smpp_session *s = bound_client(0, 10, 100);

    submit(s, 0, 0);
    smpp_session_close(s, 1, 100);
    CHECK_EQ_INT(smpp_session_deadline(s), 10100);
    smpp_session_tick(s, 10099);
    drain(s, 10099);
    CHECK_EQ_INT(count(SMPP_EV_CLOSED), 0);
    smpp_session_tick(s, 10100);
    drain(s, 10100);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_CLOSED);
    CHECK_EQ_INT(count(SMPP_EV_UNBOUND), 0);
    CHECK(all_ended_once(1));
    smpp_session_free(s);
}

TEST(link_lost_ends_in_flight_lost_and_queued_not_sent_exactly_once)
{
    smpp_session *s = bound_client(0, 5, 100);
    int i;

    for (i = 0; i < 20; i++)
        submit(s, (uint64_t)i, 0);
    take_out(s);
    drain(s, 0);
    smpp_session_fail(s, SMPP_REASON_CONNECTION_LOST, 1);
    /* events interleaved with calls that must not add or lose any */
    for (i = 0; i < 30; i++) {
        smpp_event ev;
        smpp_session_tick(s, 2 + i);
        CHECK_EQ_INT(submit(s, 100, 2 + i), i == 0 ? SMPP_ERR_NOT_SENT : SMPP_ERR_STATE);
        smpp_session_close(s, 1, 2 + i);
        if (smpp_session_next_event(s, 2 + i, &ev))
            record(s, &ev);
    }
    CHECK_EQ_INT(count_outcome(SMPP_OUTCOME_LOST), 5);
    CHECK_EQ_INT(count_outcome(SMPP_OUTCOME_NOT_SENT), 15);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_CONNECTION_LOST);
    CHECK(all_ended_once(20));
    CHECK_EQ_INT(L.after_closed, 0);
    smpp_session_free(s);
}

/* ---- output buffer ------------------------------------------------------------------- */

TEST(keeps_output_bytes_in_order_across_partial_writes)
{
    smpp_session *s = bound_client(0, 1000, 100);
    uint8_t b[128];
    int i;

    for (i = 0; i < 3000; i++) {
        if (i < 1000)
            submit(s, (uint64_t)i, 0);
        take_out_max(s, (size_t)(i % 37) + 1);
    }
    while (take_out(s) > 0)
        ;
    CHECK_EQ_INT(W.count, 1001);
    for (i = 1; i <= 1000; i++) {
        CHECK_EQ_INT(out_id((size_t)i), SMPP_SUBMIT_SM);
        CHECK_EQ_INT(out_seq((size_t)i), out_seq((size_t)i - 1) + 1);
    }
    for (i = 1000; i >= 1; i--)
        feed(s, b, submit_resp(b, out_seq((size_t)i), 0, "x"), 64, 1);
    CHECK(all_ended_once(1000));
    smpp_session_free(s);
}

/* ---- server ---------------------------------------------------------------------------- */

static smpp_session *bound_server(smpp_ms now)
{
    uint8_t b[128];
    smpp_session *s = server(now);

    log_reset();
    feed(s, b, bind_req(b, SMPP_BIND_TRANSCEIVER, 1, "acme"), 4096, now);
    smpp_session_accept_bind(s, 0, now);
    drain(s, now);
    take_out(s);
    return s;
}

TEST(server_closes_when_the_first_pdu_is_not_bind_transceiver)
{
    uint32_t ids[] = {SMPP_ENQUIRE_LINK, SMPP_SUBMIT_SM, SMPP_BIND_TRANSMITTER, 0x777};
    size_t i;

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        smpp_session *s = server(0);
        uint8_t b[128];

        log_reset();
        if (ids[i] == SMPP_BIND_TRANSMITTER)
            feed(s, b, bind_req(b, ids[i], 1, "acme"), 1, 1);
        else
            feed(s, b, hdr(b, ids[i], 0, 1), 1, 1);
        CHECK_EQ_INT(L.n, 1);
        CHECK_EQ_INT(L.ev[0].type, SMPP_EV_CLOSED);
        CHECK_EQ_INT(L.ev[0].reason, SMPP_REASON_PROTOCOL);
        CHECK(strncmp(smpp_session_error(s), "first PDU was ", 14) == 0);
        CHECK(strstr(smpp_session_error(s), ", not bind_transceiver") != NULL);
        take_out(s);
        CHECK_EQ_INT(W.len, 0);
        smpp_session_free(s);
    }
}

TEST(server_accepts_a_bind_echoing_system_id_with_sc_interface_version)
{
    smpp_session *s = server(0);
    uint8_t b[256];
    smpp_pdu p;
    const smpp_tlv *t;
    size_t n;

    log_reset();
    /* a submit right behind the bind is held until the bind is answered */
    n = bind_req(b, SMPP_BIND_TRANSCEIVER, 7, "acme");
    n += hdr(b + n, SMPP_ENQUIRE_LINK, 0, 8);
    feed(s, b, n, n, 1);
    CHECK_EQ_INT(L.n, 1);
    CHECK_EQ_INT(L.ev[0].type, SMPP_EV_BIND_REQUEST);
    CHECK_EQ_STR(L.ev[0].text, "acme");
    CHECK_EQ_INT(smpp_session_deadline(s), -1);
    CHECK_EQ_INT(smpp_session_accept_bind(s, 0, 2), 0);
    CHECK_EQ_INT(smpp_session_accept_bind(s, 0, 2), SMPP_ERR_STATE);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_BOUND);
    drain(s, 2);
    take_out(s);
    CHECK_EQ_INT(W.count, 2);
    CHECK_EQ_INT(out_pdu(0, &p), 0);
    CHECK_EQ_INT(p.command_id, SMPP_BIND_TRANSCEIVER_RESP);
    CHECK_EQ_INT(p.sequence_number, 7);
    CHECK_MEM(p.system_id.ptr, p.system_id.len, "acme", 4);
    t = smpp_pdu_find_tlv(&p, SMPP_TLV_SC_INTERFACE_VERSION);
    CHECK(t != NULL && t->len == 1 && t->value[0] == 0x34);
    CHECK_EQ_INT(out_id(1), SMPP_ENQUIRE_LINK_RESP);
    CHECK_EQ_INT(out_seq(1), 8);
    CHECK_EQ_INT(smpp_session_deadline(s), -1); /* server: no enquire_link */
    smpp_session_free(s);
}

TEST(server_nacks_a_second_bind_and_unknown_commands)
{
    smpp_session *s = bound_server(0);
    uint8_t b[256];

    feed(s, b, bind_req(b, SMPP_BIND_TRANSCEIVER, 2, "acme"), 1, 1);
    feed(s, b, bind_req(b, SMPP_BIND_RECEIVER, 3, "acme"), 1, 1);
    feed(s, b, hdr(b, SMPP_QUERY_SM, 0, 4), 1, 1);
    feed(s, b, hdr(b, 0x00000100, 0, 5), 1, 1);
    feed(s, b, receipt(b, 6, "m"), 1, 1); /* deliver_sm is not for a server */
    take_out(s);
    CHECK_EQ_INT(W.count, 6);
    CHECK_EQ_INT(out_id(1), SMPP_GENERIC_NACK);
    CHECK_EQ_INT(out_status(1), SMPP_ESME_RALYBND);
    CHECK_EQ_INT(out_seq(1), 2);
    CHECK_EQ_INT(out_status(2), SMPP_ESME_RINVCMDID);
    CHECK_EQ_INT(out_status(3), SMPP_ESME_RINVCMDID);
    CHECK_EQ_INT(out_status(4), SMPP_ESME_RINVCMDID);
    CHECK_EQ_INT(out_seq(4), 5);
    CHECK_EQ_INT(out_status(5), SMPP_ESME_RINVCMDID);
    CHECK_EQ_INT(smpp_session_state(s), SMPP_STATE_BOUND);
    smpp_session_free(s);
}

TEST(server_rejects_a_bind_with_a_bodyless_resp_or_by_closing)
{
    smpp_session *s = server(0);
    uint8_t b[128];
    size_t len;

    log_reset();
    feed(s, b, bind_req(b, SMPP_BIND_TRANSCEIVER, 3, "acme"), 2, 1);
    CHECK_EQ_INT(smpp_session_accept_bind(s, SMPP_ESME_RINVPASWD, 2), 0);
    drain(s, 2);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_REJECTED);
    take_out(s);
    CHECK_EQ_INT(W.count, 1);
    CHECK_EQ_INT(smpp_get_u32(W.bytes), 16);
    CHECK_EQ_INT(out_id(0), SMPP_BIND_TRANSCEIVER_RESP);
    CHECK_EQ_INT(out_status(0), SMPP_ESME_RINVPASWD);
    CHECK_EQ_INT(out_seq(0), 3);
    smpp_session_free(s);

    s = server(0);
    log_reset();
    feed(s, b, bind_req(b, SMPP_BIND_TRANSCEIVER, 3, "acme"), 2, 1);
    smpp_session_reject_bind(s, 2);
    drain(s, 2);
    CHECK_EQ_INT(L.n, 2);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_REJECTED);
    smpp_session_pending(s, &len);
    CHECK_EQ_INT(len, 0);
    smpp_session_free(s);
}

TEST(server_closes_when_no_bind_comes_within_bind_timeout)
{
    smpp_session *s = server(0);

    log_reset();
    CHECK_EQ_INT(smpp_session_deadline(s), 10000);
    smpp_session_tick(s, 9999);
    CHECK_EQ_INT(drain(s, 9999), 0);
    smpp_session_tick(s, 10000);
    drain(s, 10000);
    CHECK_EQ_INT(L.n, 1);
    CHECK_EQ_INT(L.ev[0].reason, SMPP_REASON_BIND_TIMEOUT);
    smpp_session_free(s);
}

TEST(server_reports_submits_answers_them_and_matches_deliver_sm_resp)
{
    smpp_session *s = bound_server(0);
    uint8_t b[1024];
    smpp_pdu p;
    smpp_error err;
    char long_id[66];

    smpp_pdu_clear(&p);
    otp_pdu(&p, SMPP_SUBMIT_SM);
    p.sequence_number = 40;
    feed(s, b, enc(&p, b), 3, 1);
    CHECK_EQ_INT(last(SMPP_EV_REQUEST)->seq, 40);
    CHECK_EQ_INT(smpp_session_respond(s, SMPP_SUBMIT_SM, 40, 0, "abc", 3, &err), 0);
    CHECK_EQ_INT(smpp_session_respond(s, SMPP_SUBMIT_SM, 41, SMPP_ESME_RSUBMITFAIL, NULL, 0, &err),
                 0);
    memset(long_id, 'x', 65);
    CHECK_EQ_INT(smpp_session_respond(s, SMPP_SUBMIT_SM, 42, 0, long_id, 65, &err), SMPP_ERR_LIMIT);
    CHECK_EQ_INT(smpp_session_respond(s, SMPP_DELIVER_SM, 42, 0, "a", 1, &err), SMPP_ERR_ARG);
    take_out(s);
    CHECK_EQ_INT(out_pdu(1, &p), 0);
    CHECK_EQ_INT(p.command_id, SMPP_SUBMIT_SM_RESP);
    CHECK_EQ_INT(p.sequence_number, 40);
    CHECK_MEM(p.message_id.ptr, p.message_id.len, "abc", 3);
    CHECK_EQ_INT(smpp_get_u32(W.bytes + W.at[2]), 16);
    CHECK_EQ_INT(out_status(2), SMPP_ESME_RSUBMITFAIL);

    /* the server's own requests: deliver_sm with the same bookkeeping */
    otp_pdu(&p, SMPP_DELIVER_SM);
    CHECK_EQ_INT(smpp_session_submit(s, &p, 5, 2, &err), 0);
    CHECK_EQ_INT(smpp_session_submit(s, &p, 6, 2, &err), 0);
    otp_pdu(&p, SMPP_SUBMIT_SM);
    CHECK_EQ_INT(smpp_session_submit(s, &p, 7, 2, &err), SMPP_ERR_ARG);
    take_out(s);
    CHECK_EQ_INT(out_id(3), SMPP_DELIVER_SM);
    smpp_pdu_clear(&p);
    p.command_id = SMPP_DELIVER_SM_RESP;
    p.sequence_number = out_seq(4);
    feed(s, b, enc(&p, b), 1, 3);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->token, 6);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->command_id, SMPP_DELIVER_SM);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->outcome, SMPP_OUTCOME_RESPONSE);
    smpp_session_tick(s, 10002);
    drain(s, 10002);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->token, 5);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->outcome, SMPP_OUTCOME_TIMEOUT);
    /* unbind from the client: answered, then closed */
    feed(s, b, hdr(b, SMPP_UNBIND, 0, 50), 1, 10003);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_PEER_UNBIND);
    take_out(s);
    CHECK_EQ_INT(out_id(W.count - 1), SMPP_UNBIND_RESP);
    CHECK_EQ_INT(out_seq(W.count - 1), 50);
    smpp_session_free(s);
}

/* ---- client and server wired together ------------------------------------------------- */

/* Move bytes from one session's output into the other's input, `chunk` at
 * a time; returns the bytes moved. */
static size_t pipe_bytes(smpp_session *from, smpp_session *to, size_t chunk)
{
    size_t len = 0, moved = 0;
    const uint8_t *p = smpp_session_pending(from, &len);

    while (len > 0) {
        size_t n = len < chunk ? len : chunk;
        if (smpp_session_recv(to, p, n) != 0) {
            smpp_session_sent(from, len);
            return moved + len;
        }
        smpp_session_sent(from, n);
        moved += n;
        p = smpp_session_pending(from, &len);
    }
    return moved;
}

/* The server side of the loop: answer binds and submits at once, and send
 * a receipt for each submit (sometimes before the resp). */
static int server_events(smpp_session *srv, smpp_ms now, int *msg_no, int *receipts_due)
{
    smpp_event ev;
    int n = 0;

    while (smpp_session_next_event(srv, now, &ev)) {
        n++;
        if (ev.type == SMPP_EV_BIND_REQUEST) {
            smpp_session_accept_bind(srv, 0, now);
        } else if (ev.type == SMPP_EV_REQUEST) {
            char id[16];
            uint32_t seq = ev.sequence_number;
            int k = (*msg_no)++;
            snprintf(id, sizeof(id), "m%d", k);
            if (k % 2 == 0) {
                smpp_session_respond(srv, SMPP_SUBMIT_SM, seq, 0, id, strlen(id), NULL);
                (*receipts_due)++;
            } else {
                /* receipt first, then the resp */
                smpp_pdu p;
                static const uint8_t st = 2;
                smpp_pdu_clear(&p);
                p.command_id = SMPP_DELIVER_SM;
                set_str(&p.service_type, "MSG");
                smpp_pdu_add_tlv(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, id, strlen(id) + 1, NULL);
                smpp_pdu_add_tlv(&p, SMPP_TLV_MESSAGE_STATE, &st, 1, NULL);
                smpp_session_submit(srv, &p, (uint64_t)k, now, NULL);
                smpp_session_respond(srv, SMPP_SUBMIT_SM, seq, 0, id, strlen(id), NULL);
            }
        }
    }
    return n;
}

static void loopback(size_t chunk, uint32_t window, int total)
{
    smpp_session_config c;
    smpp_session *cli, *srv;
    int msg_no = 0, receipts_due = 0, submitted = 0, delivered = 0, guard;
    smpp_ms now = 0;
    smpp_event ev;
    smpp_session_stats st;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.system_id = "loop";
    c.password = "pw";
    c.window = window;
    c.queue_max = (uint32_t)total;
    cli = smpp_session_new(&c, now, NULL);
    smpp_session_config_init(&c, SMPP_ROLE_SERVER);
    c.window = window;
    c.queue_max = (uint32_t)total;
    srv = smpp_session_new(&c, now, NULL);
    log_reset();
    smpp_session_connected(cli, now);
    for (guard = 0; guard < 1000000; guard++) {
        int moved = 0;
        while (submitted < total && submitted < (guard + 1) * 7)
            CHECK_EQ_INT(submit(cli, (uint64_t)submitted++, now), 0);
        moved += (int)pipe_bytes(cli, srv, chunk);
        moved += server_events(srv, now, &msg_no, &receipts_due);
        moved += (int)pipe_bytes(srv, cli, chunk);
        while (smpp_session_next_event(cli, now, &ev)) {
            record(cli, &ev);
            delivered += ev.type == SMPP_EV_DELIVER;
            moved++;
        }
        if (!moved && submitted == total)
            break;
        now++;
    }
    CHECK(all_ended_once(total));
    CHECK_EQ_INT(count_outcome(SMPP_OUTCOME_RESPONSE), total);
    CHECK_EQ_INT(delivered, total / 2);
    /* the server saw every deliver_sm_resp */
    smpp_session_get_stats(srv, &st);
    CHECK_EQ_INT(st.succeeded, total / 2);
    CHECK_EQ_INT(st.in_flight, 0);
    smpp_session_get_stats(cli, &st);
    CHECK_EQ_INT(st.succeeded, total);
    CHECK_EQ_INT(st.delivered_in, total / 2);
    /* and a graceful close both ways */
    smpp_session_close(cli, 1, now);
    pipe_bytes(cli, srv, chunk);
    server_events(srv, now, &msg_no, &receipts_due);
    pipe_bytes(srv, cli, chunk);
    drain(cli, now);
    CHECK_EQ_INT(smpp_session_state(cli), SMPP_STATE_CLOSED);
    CHECK_EQ_INT(smpp_session_state(srv), SMPP_STATE_CLOSED);
    CHECK_EQ_INT(count(SMPP_EV_UNBOUND), 1);
    CHECK_EQ_INT(last(SMPP_EV_CLOSED)->reason, SMPP_REASON_CLOSED);
    smpp_session_free(cli);
    smpp_session_free(srv);
}

TEST(client_and_server_in_memory_with_receipts_before_and_after_responses)
{
    loopback(1 << 16, 100, 5000);
}

TEST(client_and_server_in_memory_one_byte_at_a_time)
{
    loopback(1, 3, 200);
}

/* ---- out of memory ------------------------------------------------------------------- */

/*
 * A counting allocator that fails the Nth allocation (malloc or realloc),
 * or with `from_then_on` that one and every later one too. Each block
 * carries a header, so a block the session got from libc but frees here
 * (or the other way round) is caught, and `live` proves that
 * smpp_session_free gives everything back.
 */
typedef struct fail_mem {
    long calls;       /* malloc and realloc calls so far */
    long fail_at;     /* the call that fails; 0 = none */
    int from_then_on; /* and every later call fails too */
    long failed;      /* calls that returned NULL */
    long live;        /* blocks handed out and not freed */
    long foreign;     /* pointers freed here that did not come from here */
    long zero_sized;  /* requests for 0 bytes (the contract says never) */
} fail_mem;

#define MEM_MAGIC 0x6d656d5f736d7070ull

typedef union mem_head {
    struct {
        uint64_t magic;
        size_t size;
    } h;
    max_align_t align; /* what follows is aligned as malloc's would be */
} mem_head;

static int mem_should_fail(fail_mem *fm, size_t size)
{
    fm->calls++;
    if (size == 0)
        fm->zero_sized++;
    if (fm->fail_at > 0 &&
        (fm->calls == fm->fail_at || (fm->from_then_on && fm->calls > fm->fail_at))) {
        fm->failed++;
        return 1;
    }
    return 0;
}

static mem_head *mem_head_of(fail_mem *fm, void *ptr)
{
    mem_head *h = (mem_head *)ptr - 1;

    if (h->h.magic != MEM_MAGIC) {
        fm->foreign++;
        return NULL;
    }
    return h;
}

static void *fm_malloc(size_t size, void *user)
{
    fail_mem *fm = user;
    mem_head *h;

    if (mem_should_fail(fm, size))
        return NULL;
    h = malloc(sizeof(*h) + size);
    if (h == NULL)
        return NULL;
    h->h.magic = MEM_MAGIC;
    h->h.size = size;
    fm->live++;
    return h + 1;
}

static void *fm_realloc(void *ptr, size_t size, void *user)
{
    fail_mem *fm = user;
    mem_head *h, *n;

    if (ptr == NULL)
        return fm_malloc(size, user); /* counts as one call */
    if (mem_should_fail(fm, size))
        return NULL;
    h = mem_head_of(fm, ptr);
    if (h == NULL)
        return NULL;
    n = realloc(h, sizeof(*n) + size);
    if (n == NULL)
        return NULL;
    n->h.size = size;
    return n + 1;
}

static void fm_free(void *ptr, void *user)
{
    fail_mem *fm = user;
    mem_head *h;

    if (ptr == NULL)
        return;
    h = mem_head_of(fm, ptr);
    if (h == NULL)
        return; /* leaked rather than freed wrongly; `foreign` says so */
    h->h.magic = 0;
    free(h);
    fm->live--;
}

/* One scripted run: the session, its allocator, and what was accepted. */
typedef struct oom_run {
    smpp_session *s;
    fail_mem fm;
    smpp_mem mem;
    smpp_ms now;
    uint8_t accepted[MAX_TOKENS];
    uint64_t next_token;
    size_t answered;      /* PDUs of W already looked at by answer_all */
    uint32_t timeout_seq; /* the request left unanswered to time out */
    uint32_t window;
    int checkpoint; /* oom_settle calls so far */
    int refused;    /* submits that returned SMPP_ERR_NOMEM */
    int bad_rc;     /* calls that returned what they may not */
} oom_run;

static void oom_begin(oom_run *r, long fail_at, int from_then_on)
{
    memset(r, 0, sizeof(*r));
    r->fm.fail_at = fail_at;
    r->fm.from_then_on = from_then_on;
    r->mem.malloc = fm_malloc;
    r->mem.realloc = fm_realloc;
    r->mem.free = fm_free;
    r->mem.user = &r->fm;
    log_reset();
}

/* 0 or out of memory: what any call may return here. */
static void rc_ok(oom_run *r, int rc)
{
    if (rc != 0 && rc != SMPP_ERR_NOMEM) {
        fprintf(stderr, "  unexpected return %d\n", rc);
        r->bad_rc++;
    }
}

/* A driver's answer to SMPP_ERR_NOMEM: try once more, and if memory is
 * still short drop the link (as smpp.ev does). */
static int oom_retry_failed(oom_run *r, int rc)
{
    if (rc == SMPP_ERR_NOMEM && smpp_session_state(r->s) != SMPP_STATE_CLOSED)
        smpp_session_fail(r->s, SMPP_REASON_CONNECTION_LOST, r->now);
    return rc != 0;
}

/* Server: answer what the client asks at once, retrying once. */
static void oom_events(oom_run *r)
{
    smpp_event ev;

    while (smpp_session_next_event(r->s, r->now, &ev)) {
        record(r->s, &ev);
        if (ev.type == SMPP_EV_BIND_REQUEST) {
            int rc = smpp_session_accept_bind(r->s, 0, r->now);
            rc_ok(r, rc);
            if (rc == SMPP_ERR_NOMEM) {
                rc = smpp_session_accept_bind(r->s, 0, r->now);
                rc_ok(r, rc);
                if (rc != 0)
                    smpp_session_reject_bind(r->s, r->now);
            }
        } else if (ev.type == SMPP_EV_REQUEST) {
            char id[16];
            int rc, tries;

            snprintf(id, sizeof(id), "m%u", (unsigned)ev.sequence_number);
            for (tries = 0; tries < 2; tries++) {
                rc = smpp_session_respond(r->s, SMPP_SUBMIT_SM, ev.sequence_number, 0, id,
                                          strlen(id), NULL);
                rc_ok(r, rc);
                if (rc == 0)
                    break;
            }
        }
    }
}

/* Peer bytes, `chunk` at a time, alternating the copying and the
 * zero-copy input, with every event taken after each piece. */
static void oom_feed(oom_run *r, const uint8_t *b, size_t len, size_t chunk)
{
    size_t off = 0;
    int flip = 0;

    while (off < len && smpp_session_state(r->s) != SMPP_STATE_CLOSED) {
        size_t n = len - off < chunk ? len - off : chunk;
        int rc = 0, tries;

        for (tries = 0; tries < 2; tries++) {
            if (flip) {
                uint8_t *buf;
                size_t cap;

                rc = smpp_session_recv_buffer(r->s, n, &buf, &cap);
                if (rc == 0) {
                    memcpy(buf, b + off, n);
                    smpp_session_recv_commit(r->s, n);
                }
            } else {
                rc = smpp_session_recv(r->s, b + off, n);
            }
            rc_ok(r, rc);
            if (rc == 0)
                break;
        }
        if (oom_retry_failed(r, rc))
            break;
        flip = !flip;
        off += n;
        oom_events(r);
    }
}

static void oom_submit(oom_run *r, uint32_t command_id)
{
    smpp_pdu p;
    uint64_t token = r->next_token++;
    int rc;

    otp_pdu(&p, command_id);
    rc = smpp_session_submit(r->s, &p, token, r->now, NULL);
    /* STATE (or NOT_SENT) once the session closed under us; never
     * QUEUE_FULL here. */
    if (rc != SMPP_ERR_STATE && rc != SMPP_ERR_NOT_SENT)
        rc_ok(r, rc);
    if (rc == 0)
        r->accepted[token] = 1;
    r->refused += rc == SMPP_ERR_NOMEM;
}

static void oom_tick(oom_run *r, smpp_ms now)
{
    r->now = now;
    smpp_session_tick(r->s, now);
    oom_events(r);
}

/* Events of the checked type seen at each oom_settle of the run with no
 * failure, for the runs with one to match (SMPP_EV_NONE: none checked). */
#define OOM_CHECKPOINTS 16
static int oom_expected[OOM_CHECKPOINTS];

/*
 * What a driver does between reads: tick whenever the session's deadline
 * comes, for a short while (less than any protocol timer). Then, when
 * only one allocation failed, the session must have caught up: nothing
 * owed to the window, and as many events of `type` so far as with no
 * failure. A session that postponed work after the failure and set no
 * deadline to redo it would sit there until the peer happened to send
 * something.
 */
static void oom_settle(oom_run *r, smpp_event_type type)
{
    int k = r->checkpoint++, seen;
    smpp_ms until = r->now + 1000;
    smpp_session_stats st;
    smpp_ms d;

    while ((d = smpp_session_deadline(r->s)) >= 0 && d <= until) {
        oom_tick(r, d > r->now ? d : r->now);
        while (take_out_max(r->s, 50) > 0)
            ;
    }
    if (r->fm.from_then_on || smpp_session_state(r->s) == SMPP_STATE_CLOSED)
        return;
    smpp_session_get_stats(r->s, &st);
    if (smpp_session_state(r->s) == SMPP_STATE_BOUND)
        CHECK(st.queued == 0 || st.in_flight == r->window);
    if (type == SMPP_EV_NONE)
        return;
    /* A refused submit gives no RESULT: count it as one. */
    seen = count(type) + (type == SMPP_EV_RESULT ? r->refused : 0);
    if (r->fm.fail_at == 0)
        oom_expected[k] = seen;
    else
        CHECK_EQ_INT(seen, oom_expected[k]);
}

/* Answer, 1 byte at a time, every request the session wrote since the
 * last call: submit_sm with submit_sm_resp (every other one preceded by
 * its receipt), deliver_sm with deliver_sm_resp, enquire_link with its
 * resp. The first request of the run is left to time out. Writes are
 * taken 50 bytes at a time, so the output is consumed in pieces. */
static void oom_answer_all(oom_run *r)
{
    uint8_t b[512];
    int progress = 1;

    while (progress) {
        progress = 0;
        while (take_out_max(r->s, 50) > 0)
            ;
        for (; r->answered < W.count; r->answered++) {
            uint32_t id = out_id(r->answered), seq = out_seq(r->answered);
            char msgid[16];
            size_t n = 0;

            snprintf(msgid, sizeof(msgid), "m%u", (unsigned)seq);
            if (id != SMPP_SUBMIT_SM && id != SMPP_DELIVER_SM && id != SMPP_ENQUIRE_LINK)
                continue;
            if (id != SMPP_ENQUIRE_LINK && r->timeout_seq == 0) {
                r->timeout_seq = seq;
                continue;
            }
            if (id == SMPP_SUBMIT_SM && seq % 2 == 0)
                n = receipt(b, seq + 1000, msgid);
            if (id == SMPP_SUBMIT_SM)
                n += submit_resp(b + n, seq, 0, msgid);
            if (id == SMPP_DELIVER_SM) {
                smpp_pdu p;

                smpp_pdu_clear(&p);
                p.command_id = SMPP_DELIVER_SM_RESP;
                p.sequence_number = seq;
                n = enc(&p, b);
            }
            if (id == SMPP_ENQUIRE_LINK)
                n = hdr(b, SMPP_ENQUIRE_LINK_RESP, 0, seq);
            oom_feed(r, b, n, 1);
            progress = 1;
        }
    }
}

/* Every accepted request ended exactly once and nothing else did; one
 * CLOSED, nothing after it; no stray return codes; all memory back. */
static void oom_end(oom_run *r)
{
    uint64_t t;

    if (r->s != NULL) {
        /* A driver that is done closes whatever the script left open. */
        if (smpp_session_state(r->s) != SMPP_STATE_CLOSED)
            smpp_session_close(r->s, 0, r->now);
        oom_events(r);
        CHECK_EQ_INT(smpp_session_state(r->s), SMPP_STATE_CLOSED);
        CHECK_EQ_INT(count(SMPP_EV_CLOSED), 1);
        CHECK_EQ_INT(L.ev[L.n - 1].type, SMPP_EV_CLOSED);
        CHECK_EQ_INT(drain(r->s, r->now + 100000), 0);
        smpp_session_free(r->s);
    }
    for (t = 0; t < r->next_token; t++)
        CHECK_EQ_INT(L.ends[t], r->accepted[t]);
    CHECK_EQ_INT(L.after_closed, 0);
    CHECK_EQ_INT(r->bad_rc, 0);
    CHECK_EQ_INT(r->fm.live, 0);
    CHECK_EQ_INT(r->fm.foreign, 0);
    CHECK_EQ_INT(r->fm.zero_sized, 0);
}

/* A client: submits queued before the bind, the bind_resp in 1-byte
 * pieces, submits past the window so they queue, responses and receipts
 * byte by byte, a timeout, enquire_link, a 70 000-byte read buffer
 * (given back once empty), then the end: 0 closes gracefully with
 * requests in flight and queued and the unbind_resp comes back, 1 closes
 * at once, 2 loses the link. */
static void oom_client(oom_run *r, int ending)
{
    smpp_session_config c;
    smpp_error err;
    uint8_t b[512], *buf;
    size_t cap;
    int i, rc;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.system_id = "test";
    c.password = "secret";
    c.window = 10;
    c.queue_max = 100;
    c.mem = &r->mem;
    r->window = c.window;
    r->s = smpp_session_new(&c, 0, &err);
    if (r->s == NULL) {
        CHECK_EQ_INT(err.code, SMPP_ERR_NOMEM);
        return;
    }
    /* Four wait for the bind: once bound they outgrow the first output
     * buffer, so moving them into the window needs memory too. */
    for (i = 0; i < 4; i++)
        oom_submit(r, SMPP_SUBMIT_SM);
    rc = smpp_session_connected(r->s, 0);
    rc_ok(r, rc);
    if (rc != 0) {
        rc = smpp_session_connected(r->s, 0);
        rc_ok(r, rc);
        oom_retry_failed(r, rc);
    }
    while (take_out_max(r->s, 7) > 0)
        ;
    r->answered = W.count;
    oom_feed(r, b, bind_resp(b, out_seq(0), 0), 1);
    oom_settle(r, SMPP_EV_BOUND);
    for (i = 0; i < 14; i++)
        oom_submit(r, SMPP_SUBMIT_SM);
    oom_settle(r, SMPP_EV_NONE);
    oom_answer_all(r);
    oom_settle(r, SMPP_EV_NONE);
    oom_feed(r, b, hdr(b, SMPP_ENQUIRE_LINK, 0, 777), 1);
    oom_tick(r, 10000);
    oom_answer_all(r);
    oom_tick(r, 30000);
    oom_answer_all(r);
    oom_settle(r, SMPP_EV_RESULT); /* all 18 so far ended */
    /* A driver asking for a big read: the buffer goes back once empty. */
    rc = smpp_session_recv_buffer(r->s, 70000, &buf, &cap);
    if (rc != SMPP_ERR_STATE)
        rc_ok(r, rc);
    if (rc == 0) {
        size_t n = receipt(b, 5000, "big");

        CHECK(cap >= 70000);
        memcpy(buf, b, n);
        smpp_session_recv_commit(r->s, n);
        oom_events(r);
    }
    oom_tick(r, 30001);
    for (i = 0; i < 14; i++)
        oom_submit(r, SMPP_SUBMIT_SM);
    take_out_max(r->s, 100);
    if (ending == 0) {
        smpp_session_close(r->s, 1, r->now);
        oom_events(r);
        take_out(r->s);
        if (W.count > 0 && out_id(W.count - 1) == SMPP_UNBIND)
            oom_feed(r, b, hdr(b, SMPP_UNBIND_RESP, 0, out_seq(W.count - 1)), 1);
    } else if (ending == 1) {
        smpp_session_close(r->s, 0, r->now);
    } else {
        smpp_session_fail(r->s, SMPP_REASON_CONNECTION_LOST, r->now);
    }
    oom_events(r);
}

/* A server: the bind_transceiver in 1-byte pieces (accepted), the peer's
 * enquire_link and submits answered, deliver_sm past a window of 2 so
 * they queue, their resps byte by byte, a timeout, then the peer's unbind
 * (ending 0) or a close with deliver_sm in flight and queued (1). */
static void oom_server(oom_run *r, int ending)
{
    smpp_session_config c;
    smpp_error err;
    smpp_pdu p;
    uint8_t b[512];
    int i;

    smpp_session_config_init(&c, SMPP_ROLE_SERVER);
    c.window = 2;
    c.queue_max = 100;
    c.mem = &r->mem;
    r->window = c.window;
    r->s = smpp_session_new(&c, 0, &err);
    if (r->s == NULL) {
        CHECK_EQ_INT(err.code, SMPP_ERR_NOMEM);
        return;
    }
    oom_feed(r, b, bind_req(b, SMPP_BIND_TRANSCEIVER, 1, "acme"), 1);
    oom_settle(r, SMPP_EV_BIND_REQUEST);
    oom_feed(r, b, hdr(b, SMPP_ENQUIRE_LINK, 0, 2), 1);
    for (i = 0; i < 3; i++) {
        otp_pdu(&p, SMPP_SUBMIT_SM);
        p.sequence_number = 10 + (uint32_t)i;
        oom_feed(r, b, enc(&p, b), 1);
        oom_settle(r, SMPP_EV_REQUEST);
    }
    for (i = 0; i < 6; i++)
        oom_submit(r, SMPP_DELIVER_SM);
    oom_settle(r, SMPP_EV_NONE);
    oom_answer_all(r);
    oom_settle(r, SMPP_EV_NONE);
    /* 11 s: the first deliver_sm times out even if a retry sent it late. */
    oom_tick(r, 11000);
    oom_answer_all(r);
    oom_settle(r, SMPP_EV_RESULT); /* all 6 ended */
    for (i = 0; i < 5; i++)
        oom_submit(r, SMPP_DELIVER_SM);
    take_out_max(r->s, 100);
    if (ending == 0)
        oom_feed(r, b, hdr(b, SMPP_UNBIND, 0, 50), 1);
    else
        smpp_session_close(r->s, 0, r->now);
    oom_events(r);
}

typedef void (*oom_scenario)(oom_run *r, int ending);

/* Run the scenario with no failure to count its allocations, then once
 * for every N of them with the Nth failing (alone, then with every later
 * one). Returns the count. */
static long oom_every_allocation(oom_scenario run, int ending, const char *name)
{
    oom_run *r = malloc(sizeof(*r));
    long total, n;
    int sticky;

    oom_begin(r, 0, 0);
    run(r, ending);
    total = r->fm.calls;
    oom_end(r);
    CHECK(total > 0);
    for (sticky = 0; sticky < 2; sticky++)
        for (n = 1; n <= total; n++) {
            int before = harness.current_failed;

            oom_begin(r, n, sticky);
            run(r, ending);
            CHECK(r->fm.failed >= 1);
            oom_end(r);
            if (harness.current_failed != before) {
                /* The first N that fails says it. */
                fprintf(stderr, "  (%s: allocation %ld of %ld fails%s)\n", name, n, total,
                        sticky ? ", and every one after it" : "");
                break;
            }
        }
    free(r);
    return total;
}

TEST(client_survives_every_failed_allocation_closing_gracefully)
{
    CHECK(oom_every_allocation(oom_client, 0, "client, graceful close") >= 10);
}

TEST(client_survives_every_failed_allocation_closing_at_once)
{
    oom_every_allocation(oom_client, 1, "client, close at once");
}

TEST(client_survives_every_failed_allocation_losing_the_link)
{
    oom_every_allocation(oom_client, 2, "client, link lost");
}

TEST(server_survives_every_failed_allocation_until_the_peer_unbinds)
{
    CHECK(oom_every_allocation(oom_server, 0, "server, peer unbind") >= 5);
}

TEST(server_survives_every_failed_allocation_closing_with_deliver_sm_queued)
{
    oom_every_allocation(oom_server, 1, "server, close at once");
}

TEST(refuses_an_allocator_without_all_three_functions)
{
    smpp_session_config c;
    smpp_mem m = {fm_malloc, NULL, fm_free, NULL};
    smpp_error err;

    smpp_session_config_init(&c, SMPP_ROLE_SERVER);
    CHECK(c.mem == NULL);
    c.mem = &m;
    CHECK(smpp_session_new(&c, 0, &err) == NULL);
    CHECK_EQ_INT(err.code, SMPP_ERR_ARG);
    CHECK(strstr(err.msg, "mem") != NULL);
}

TEST(names_reasons_outcomes_and_states)
{
    CHECK_EQ_STR(smpp_reason_name(SMPP_REASON_CONNECT_TIMEOUT), "connect timeout");
    CHECK_EQ_STR(smpp_reason_name(SMPP_REASON_CONNECT_REFUSED), "connection refused");
    CHECK_EQ_STR(smpp_reason_name(SMPP_REASON_BIND_TIMEOUT), "bind timeout");
    CHECK_EQ_STR(smpp_outcome_name(SMPP_OUTCOME_LOST), "connection lost");
    CHECK_EQ_STR(smpp_outcome_name(SMPP_OUTCOME_NOT_SENT), "not sent");
    CHECK_EQ_STR(smpp_outcome_name(SMPP_OUTCOME_NACK), "generic_nack");
    CHECK_EQ_STR(smpp_outcome_name(SMPP_OUTCOME_TIMEOUT), "timeout");
    CHECK_EQ_STR(smpp_outcome_name(SMPP_OUTCOME_CLOSED), "closed");
    CHECK_EQ_STR(smpp_state_name(SMPP_STATE_UNBINDING), "unbinding");
    CHECK_EQ_STR(smpp_state_name(SMPP_STATE_BOUND), "bound");
}

/* ---- flow control: throttling, rate, retry, logs, stats ------------------------ */

/* A client bound at `now` with the settings in c (window 10, queue 100
 * unless set); W holds the bind afterwards. */
static smpp_session *bound_with(smpp_session_config *c, smpp_ms now)
{
    uint8_t b[64];
    smpp_session *s;

    c->system_id = "test";
    c->password = "secret";
    c->enquire_link_ms = 0;
    s = smpp_session_new(c, now, NULL);
    log_reset();
    smpp_session_connected(s, now);
    take_out(s);
    feed(s, b, bind_resp(b, out_seq(0), 0), 4096, now);
    return s;
}

/* Answer the i-th captured PDU (a submit_sm) with status at now. */
static void answer(smpp_session *s, size_t i, uint32_t status, smpp_ms now)
{
    uint8_t b[128];
    char id[16];

    snprintf(id, sizeof(id), "m%u", (unsigned)out_seq(i));
    feed(s, b, submit_resp(b, out_seq(i), status, status == 0 ? id : ""), 4096, now);
}

/* Has a LOG event with text containing `part` come? */
static int logged(const char *part)
{
    int i;
    for (i = 0; i < L.nlog; i++)
        if (strstr(L.log[i], part) != NULL)
            return 1;
    return 0;
}

static uint64_t answers_of(smpp_session *s, uint32_t status)
{
    smpp_session_stats st;
    uint32_t i;

    smpp_session_get_stats(s, &st);
    for (i = 0; i < st.n_answers; i++)
        if (st.answers[i].status == status)
            return st.answers[i].count;
    return 0;
}

TEST(a_throttling_answer_pauses_sending_doubling_and_a_success_after_resets)
{
    smpp_session_config c;
    smpp_session_stats st;
    smpp_session *s;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    s = bound_with(&c, 0);
    submit(s, 0, 0);
    submit(s, 1, 0);
    take_out(s);                              /* W: bind, 0, 1 */
    answer(s, 1, SMPP_ESME_RTHROTTLED, 1000); /* token 0 refused: pause */
    CHECK_EQ_INT(L.ends[0], 1);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->status, SMPP_ESME_RTHROTTLED);
    CHECK(logged("sending paused for 100 ms"));
    CHECK_EQ_INT(L.log_level[0], SMPP_LOG_WARN);
    CHECK_EQ_INT(submit(s, 2, 1000), 0); /* waits out the pause */
    CHECK_EQ_INT(take_out(s), 0);
    CHECK_EQ_INT(smpp_session_deadline(s), 1100);
    /* Sent before the pause: its refusal during the pause changes nothing. */
    answer(s, 2, SMPP_ESME_RMSGQFUL, 1050);
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.throttled, 1);
    CHECK_EQ_INT(st.queued, 1);
    smpp_session_tick(s, 1099);
    CHECK_EQ_INT(take_out(s), 0);
    smpp_session_tick(s, 1100);
    drain(s, 1100);
    CHECK(take_out(s) > 0); /* token 2 */
    CHECK_EQ_INT(out_id(3), SMPP_SUBMIT_SM);
    /* Refused again after the pause: twice as long. */
    answer(s, 3, SMPP_ESME_RTHROTTLED, 1200);
    CHECK(logged("sending paused for 200 ms"));
    submit(s, 3, 1200);
    CHECK_EQ_INT(smpp_session_deadline(s), 1400);
    smpp_session_tick(s, 1400);
    take_out(s);           /* token 3 */
    answer(s, 4, 0, 1500); /* a success: recovered */
    CHECK(logged("throttling over"));
    submit(s, 4, 1500);
    take_out(s);
    answer(s, 5, SMPP_ESME_RTHROTTLED, 1600);
    CHECK_EQ_INT(smpp_session_deadline(s), -1); /* nothing waits */
    submit(s, 5, 1600);
    CHECK_EQ_INT(smpp_session_deadline(s), 1700); /* 100 ms again */
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.throttled, 3);
    CHECK_EQ_INT(st.retries, 0);
    CHECK_EQ_INT(answers_of(s, SMPP_ESME_RTHROTTLED), 3);
    CHECK_EQ_INT(answers_of(s, SMPP_ESME_RMSGQFUL), 1);
    CHECK_EQ_INT(answers_of(s, 0), 1);
    CHECK_EQ_STR(st.last_error, "ESME_RTHROTTLED");
    CHECK(all_ended_once(5));
    smpp_session_free(s);
}

TEST(the_pause_grows_to_throttle_max_and_no_further)
{
    smpp_session_config c;
    smpp_ms t = 0, want = 100;
    size_t i = 1;
    int k;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.throttle_max_ms = 500;
    smpp_session *s = bound_with(&c, 0);
    submit(s, 0, t);
    take_out(s);
    for (k = 1; k <= 6; k++) {
        answer(s, i++, SMPP_ESME_RTHROTTLED, t);
        submit(s, (uint64_t)k, t); /* waits for the pause */
        CHECK_EQ_INT(smpp_session_deadline(s), t + want);
        t += want;
        smpp_session_tick(s, t);
        take_out(s);
        want = want * 2 > 500 ? 500 : want * 2;
    }
    CHECK_EQ_INT(W.count, 8);
    answer(s, 7, 0, t);
    CHECK(all_ended_once(7));
    smpp_session_free(s);
}

TEST(rate_caps_sends_with_a_token_bucket_shown_in_the_deadline)
{
    smpp_session_config c;
    smpp_session *s;
    int k;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.rate_x1000 = 10000; /* 10/s: one every 100 ms */
    c.rate_burst = 2;
    s = bound_with(&c, 0);
    for (k = 0; k < 6; k++)
        CHECK_EQ_INT(submit(s, (uint64_t)k, 0), 0);
    take_out(s);
    CHECK_EQ_INT(W.count, 3); /* bind + the burst of 2 */
    CHECK_EQ_INT(smpp_session_deadline(s), 100);
    smpp_session_tick(s, 99);
    take_out(s);
    CHECK_EQ_INT(W.count, 3);
    smpp_session_tick(s, 100);
    take_out(s);
    CHECK_EQ_INT(W.count, 4);
    CHECK_EQ_INT(smpp_session_deadline(s), 200);
    smpp_session_tick(s, 250); /* 1.5 tokens came: one goes, half stays */
    take_out(s);
    CHECK_EQ_INT(W.count, 5);
    CHECK_EQ_INT(smpp_session_deadline(s), 300);
    smpp_session_tick(s, 1000); /* long idle: the bucket holds 2 at most */
    take_out(s);
    CHECK_EQ_INT(W.count, 7);
    CHECK_EQ_INT(submit(s, 6, 1000), 0);
    take_out(s);
    CHECK_EQ_INT(W.count, 7); /* the hot path keeps the rate too */
    CHECK_EQ_INT(smpp_session_deadline(s), 1100);
    drain(s, 1000);
    CHECK_EQ_INT(count(SMPP_EV_RESULT), 0);
    smpp_session_free(s);
}

TEST(the_default_burst_is_a_tenth_of_a_seconds_worth)
{
    smpp_session_config c;
    smpp_session *s;
    int k;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.window = 100;
    c.rate_x1000 = 200000; /* 200/s: burst 20 */
    s = bound_with(&c, 0);
    for (k = 0; k < 30; k++)
        submit(s, (uint64_t)k, 0);
    take_out(s);
    CHECK_EQ_INT(W.count, 21);
    CHECK_EQ_INT(smpp_session_deadline(s), 5);
    smpp_session_free(s);
}

TEST(a_retried_request_goes_first_with_a_new_number_and_ends_once_at_the_limit)
{
    smpp_session_config c;
    smpp_session_stats st;
    smpp_session *s;
    smpp_pdu a, b;
    size_t first;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.retry[0].status = SMPP_ESME_RTHROTTLED;
    c.retry[0].times = 2;
    c.retry_count = 1;
    s = bound_with(&c, 0);
    submit(s, 0, 0);
    submit(s, 1, 0);
    take_out(s); /* W: bind, 0, 1 */
    answer(s, 2, SMPP_ESME_RTHROTTLED, 10);
    CHECK_EQ_INT(L.ends[1], 0); /* not ended: put back */
    CHECK(logged("retry 1 of 2"));
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.retries, 1);
    CHECK_EQ_INT(st.queued, 1);
    CHECK_EQ_INT(st.in_flight, 1);
    CHECK_EQ_INT(st.sent, 2);
    submit(s, 2, 20); /* after the retried one */
    CHECK_EQ_INT(smpp_session_deadline(s), 110);
    smpp_session_tick(s, 110);
    take_out(s); /* W: ..., 1 again, 2 */
    CHECK_EQ_INT(W.count, 5);
    first = 3;
    CHECK(out_seq(first) != out_seq(2));
    CHECK_EQ_INT(out_pdu(2, &a), 0);
    CHECK_EQ_INT(out_pdu(first, &b), 0);
    CHECK(a.short_message.len == b.short_message.len &&
          memcmp(a.short_message.ptr, b.short_message.ptr, a.short_message.len) == 0);
    CHECK_EQ_INT(out_seq(4), out_seq(first) + 1); /* token 2 after it */
    /* Refused again, then a third time: the limit (2) is reached. */
    answer(s, first, SMPP_ESME_RTHROTTLED, 120);
    CHECK_EQ_INT(L.ends[1], 0);
    smpp_session_tick(s, 320); /* 200 ms pause */
    take_out(s);
    CHECK_EQ_INT(W.count, 6);
    answer(s, 5, SMPP_ESME_RTHROTTLED, 330);
    CHECK_EQ_INT(L.ends[1], 1);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->status, SMPP_ESME_RTHROTTLED);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->outcome, SMPP_OUTCOME_RESPONSE);
    answer(s, 1, 0, 340);
    answer(s, 4, 0, 340);
    CHECK(all_ended_once(3));
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.retries, 2);
    CHECK_EQ_INT(st.sent, 3);
    CHECK_EQ_INT(st.succeeded, 2);
    CHECK_EQ_INT(st.failed, 1);
    CHECK_EQ_INT(answers_of(s, SMPP_ESME_RTHROTTLED), 3);
    smpp_session_free(s);
}

TEST(a_retried_request_keeps_its_first_deadline)
{
    smpp_session_config c;
    smpp_session *s;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.response_timeout_ms = 1000;
    c.retry[0].status = SMPP_ESME_RMSGQFUL;
    c.retry[0].times = 5;
    c.retry_count = 1;
    s = bound_with(&c, 0);
    submit(s, 0, 0);
    submit(s, 1, 0);
    take_out(s);
    /* Token 1 is put back at 500, resent at 600, never answered. */
    answer(s, 2, SMPP_ESME_RMSGQFUL, 500);
    CHECK_EQ_INT(smpp_session_deadline(s), 600);
    smpp_session_tick(s, 600);
    take_out(s);
    CHECK_EQ_INT(W.count, 4);
    CHECK_EQ_INT(smpp_session_deadline(s), 1000);
    /* Token 0 refused at 950: the pause would outlast its deadline, so
     * the refusal is its outcome now. */
    answer(s, 1, SMPP_ESME_RMSGQFUL, 950);
    CHECK_EQ_INT(L.ends[0], 1);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->status, SMPP_ESME_RMSGQFUL);
    smpp_session_tick(s, 1000);
    drain(s, 1000);
    CHECK_EQ_INT(L.ends[1], 1);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->outcome, SMPP_OUTCOME_TIMEOUT);
    CHECK(all_ended_once(2));
    smpp_session_free(s);
}

TEST(a_request_waiting_for_its_retry_ends_with_its_last_answer_or_not_sent)
{
    smpp_session_config c;
    smpp_session *s;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.response_timeout_ms = 5000;
    c.throttle_min_ms = 400;
    c.throttle_max_ms = 5000;
    c.retry[0].status = SMPP_ESME_RTHROTTLED;
    c.retry[0].times = 1;
    c.retry_count = 1;
    s = bound_with(&c, 0);
    submit(s, 0, 0);
    submit(s, 1, 0);
    take_out(s);
    answer(s, 1, SMPP_ESME_RTHROTTLED, 100); /* pause to 500, put back */
    smpp_session_tick(s, 500);
    take_out(s);
    answer(s, 3, SMPP_ESME_RTHROTTLED, 550); /* retried once already: ends */
    CHECK_EQ_INT(L.ends[0], 1);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->status, SMPP_ESME_RTHROTTLED);
    /* Token 1, refused during the pause, waits; the link drops. */
    answer(s, 2, SMPP_ESME_RTHROTTLED, 600);
    CHECK_EQ_INT(L.ends[1], 0);
    smpp_session_fail(s, SMPP_REASON_CONNECTION_LOST, 700);
    drain(s, 700);
    CHECK_EQ_INT(L.ends[1], 1);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->outcome, SMPP_OUTCOME_NOT_SENT);
    CHECK(all_ended_once(2));
    CHECK_EQ_INT(L.after_closed, 0);
    smpp_session_free(s);

    /* Waiting when its deadline passes: the answer is its outcome. */
    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.response_timeout_ms = 1000;
    c.throttle_min_ms = 300;
    c.retry[0].status = SMPP_ESME_RTHROTTLED;
    c.retry[0].times = 3;
    c.retry_count = 1;
    c.window = 1;
    s = bound_with(&c, 0);
    submit(s, 0, 0);
    submit(s, 1, 0);
    take_out(s);
    answer(s, 1, 0, 10); /* token 0 done; token 1 goes out at 10 */
    take_out(s);
    answer(s, 2, SMPP_ESME_RTHROTTLED, 600); /* pause to 900, put back */
    CHECK_EQ_INT(smpp_session_deadline(s), 900);
    smpp_session_tick(s, 900);
    take_out(s);
    answer(s, 3, SMPP_ESME_RTHROTTLED, 950); /* 950 + 600 > 1010: ends now */
    CHECK_EQ_INT(L.ends[1], 1);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->status, SMPP_ESME_RTHROTTLED);
    CHECK(all_ended_once(2));
    smpp_session_free(s);
}

TEST(graceful_close_ends_a_request_waiting_for_its_retry_closed)
{
    smpp_session_config c;
    smpp_session *s;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.retry[0].status = SMPP_ESME_RTHROTTLED;
    c.retry[0].times = 1;
    c.retry_count = 1;
    s = bound_with(&c, 0);
    submit(s, 0, 0);
    take_out(s);
    answer(s, 1, SMPP_ESME_RTHROTTLED, 10);
    CHECK_EQ_INT(L.ends[0], 0);
    smpp_session_close(s, 1, 20);
    drain(s, 20);
    CHECK_EQ_INT(L.ends[0], 1);
    CHECK_EQ_INT(last(SMPP_EV_RESULT)->outcome, SMPP_OUTCOME_CLOSED);
    smpp_session_free(s);
}

TEST(logs_unknown_duplicate_and_late_answers_and_unexpected_pdus)
{
    smpp_session_config c;
    smpp_session *s;
    uint8_t b[256];

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.response_timeout_ms = 1000;
    s = bound_with(&c, 0);
    submit(s, 0, 0);
    submit(s, 1, 0);
    take_out(s);
    feed(s, b, submit_resp(b, 777, 0, "x"), 4096, 10);
    CHECK(logged("submit_sm_resp for unknown sequence number 777 (status ESME_ROK)"));
    answer(s, 1, 0, 20);
    answer(s, 1, 0, 30);
    CHECK(logged("duplicate submit_sm_resp for sequence number 2"));
    smpp_session_tick(s, 1000);
    drain(s, 1000);
    answer(s, 2, 0, 1100);
    CHECK(logged("late submit_sm_resp for sequence number 3"));
    feed(s, b, hdr(b, SMPP_QUERY_SM_RESP, 0, 5), 4096, 1200);
    CHECK(logged("unexpected query_sm_resp"));
    feed(s, b, hdr(b, SMPP_QUERY_SM, 0, 6), 4096, 1200);
    CHECK(logged("unexpected query_sm (sequence number 6): answered generic_nack"));
    CHECK_EQ_INT(L.log_level[0], SMPP_LOG_WARN);
    CHECK(all_ended_once(2));
    CHECK_EQ_INT(count(SMPP_EV_RESULT), 2);
    smpp_session_free(s);
}

TEST(counts_receipts_by_stat_and_keeps_the_last_error)
{
    smpp_session_config c;
    smpp_session_stats st;
    smpp_session *s;
    uint8_t b[512];

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    s = bound_with(&c, 0);
    feed(s, b, receipt(b, 10, "m1"), 4096, 1);
    feed(s, b, receipt(b, 11, "m2"), 4096, 1);
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.n_receipt_stats, 1);
    CHECK_EQ_STR(st.receipt_stats[0].stat, "DELIVRD");
    CHECK_EQ_INT(st.receipt_stats[0].count, 2);
    CHECK_EQ_STR(st.last_error, "");
    smpp_session_fail(s, SMPP_REASON_CONNECTION_LOST, 2);
    drain(s, 2);
    smpp_session_get_stats(s, &st);
    CHECK_EQ_STR(st.last_error, "connection lost");
    smpp_session_free(s);
}

TEST(queue_and_output_stay_bounded_while_paused_and_rate_limited)
{
    smpp_session_config c;
    smpp_session *s;
    size_t len = 0;
    int k, full = 0, max_out = 0;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.window = 1000;
    c.queue_max = 50;
    c.out_max = 2000;
    c.rate_x1000 = 1000000; /* 1000/s */
    s = bound_with(&c, 0);
    /* The peer reads nothing: nothing is ever reported sent. */
    for (k = 0; k < 500; k++) {
        int rc = submit(s, (uint64_t)k, k);

        smpp_session_tick(s, k);
        (void)smpp_session_pending(s, &len);
        if ((int)len > max_out)
            max_out = (int)len;
        if (rc == SMPP_ERR_QUEUE_FULL)
            full++;
    }
    CHECK(max_out < 2000 + 300); /* out_max plus one PDU at most */
    CHECK(full > 0);
    {
        smpp_session_stats st;
        smpp_session_get_stats(s, &st);
        CHECK_EQ_INT(st.queued, 50);
    }
    smpp_session_free(s);
}

TEST(rejects_bad_flow_settings)
{
    smpp_session_config c;
    smpp_error e;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.system_id = "test";
    c.password = "secret";
    c.throttle_min_ms = 0;
    CHECK(smpp_session_new(&c, 0, &e) == NULL);
    CHECK(strstr(e.msg, "throttle") != NULL);
    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.system_id = "test";
    c.password = "secret";
    c.retry_count = 1;
    c.retry[0].status = 0;
    CHECK(smpp_session_new(&c, 0, &e) == NULL);
    CHECK(strstr(e.msg, "retry") != NULL);
}

TEST(every_request_ends_once_under_random_throttling_with_retry_and_rate)
{
    enum { N = 300 };
    smpp_session_config c;
    smpp_session_stats st;
    smpp_session *s;
    uint32_t rnd = 12345, fed = 0;
    size_t next = 1; /* W: the bind first */
    smpp_ms t = 0;
    int k;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    c.window = 7;
    c.queue_max = N;
    c.response_timeout_ms = 20000;
    c.rate_x1000 = 500000; /* 500/s */
    c.throttle_min_ms = 5;
    c.throttle_max_ms = 80;
    c.retry[0].status = SMPP_ESME_RTHROTTLED;
    c.retry[0].times = 3;
    c.retry[1].status = SMPP_ESME_RMSGQFUL;
    c.retry[1].times = 1;
    c.retry_count = 2;
    s = bound_with(&c, 0);
    for (k = 0; k < N; k++)
        CHECK_EQ_INT(submit(s, (uint64_t)k, 0), 0);
    while (t < 100000 && count(SMPP_EV_RESULT) < N) {
        smpp_session_tick(s, t);
        drain(s, t);
        take_out(s);
        for (; next < W.count; next++) {
            uint32_t status = 0;

            rnd = rnd * 1103515245u + 12345u;
            if ((rnd >> 16) % 10 < 4)
                status = SMPP_ESME_RTHROTTLED;
            else if ((rnd >> 16) % 10 == 4)
                status = SMPP_ESME_RMSGQFUL;
            answer(s, next, status, t);
            fed++;
            if ((rnd >> 20) % 16 == 0)
                answer(s, next, status, t); /* a duplicate: logged, ignored */
        }
        t += 3;
    }
    CHECK(all_ended_once(N));
    CHECK_EQ_INT(L.after_closed, 0);
    smpp_session_get_stats(s, &st);
    CHECK_EQ_INT(st.succeeded + st.failed, N);
    CHECK_EQ_INT(st.sent, N);
    CHECK_EQ_INT(st.in_flight, 0);
    CHECK_EQ_INT(st.queued, 0);
    CHECK_EQ_INT(answers_of(s, 0) + answers_of(s, SMPP_ESME_RTHROTTLED) +
                     answers_of(s, SMPP_ESME_RMSGQFUL),
                 fed);
    CHECK_EQ_INT(fed, N + st.retries);
    CHECK(st.retries > 0 && st.throttled > 0 && st.failed > 0);
    CHECK(logged("duplicate"));
    smpp_session_free(s);
}

TEST(a_submit_after_a_pause_ended_sends_what_waited_from_it)
{
    smpp_session_config c;
    smpp_session *s;

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    s = bound_with(&c, 0);
    submit(s, 0, 0);
    take_out(s);                              /* W: bind, 0 */
    answer(s, 1, SMPP_ESME_RTHROTTLED, 1000); /* pause until 1100 */
    CHECK_EQ_INT(submit(s, 1, 1050), 0);      /* waits out the pause */
    CHECK_EQ_INT(take_out(s), 0);
    /* No tick came at 1100 (a driver may be late); the next submit, after
     * the pause, takes the waiting one out first, then itself. */
    CHECK_EQ_INT(submit(s, 2, 1200), 0);
    CHECK(take_out(s) > 0);
    CHECK_EQ_INT(out_id(2), SMPP_SUBMIT_SM);
    CHECK_EQ_INT(out_id(3), SMPP_SUBMIT_SM);
    CHECK(out_seq(2) < out_seq(3)); /* in order */
    CHECK_EQ_INT(smpp_session_deadline(s) > 1200 || smpp_session_deadline(s) < 0, 1);
    smpp_session_free(s);
}

TEST(requests_held_by_a_pause_are_due_once_a_later_pdu_moved_the_clock_past_it)
{
    smpp_session_config c;
    smpp_session *s;
    uint8_t b[64];

    smpp_session_config_init(&c, SMPP_ROLE_CLIENT);
    s = bound_with(&c, 0);
    submit(s, 0, 0);
    take_out(s);
    answer(s, 1, SMPP_ESME_RTHROTTLED, 1000); /* pause until 1100 */
    submit(s, 1, 1050);
    CHECK_EQ_INT(smpp_session_deadline(s), 1100);
    /* The driver's tick is late; an enquire_link from the peer comes at
     * 1300 first. The waiting request is then due at once, not forgotten. */
    feed(s, b, hdr(b, SMPP_ENQUIRE_LINK, 0, 77), 16, 1300);
    CHECK(smpp_session_deadline(s) <= 1300);
    smpp_session_tick(s, 1300);
    drain(s, 1300);
    take_out(s);
    CHECK_EQ_INT(out_id(W.count - 1), SMPP_SUBMIT_SM);
    smpp_session_free(s);
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv);
}
