/*
 * smpp_session.c - the SMPP session state machine for both roles, with no
 * I/O and no clock (see smpp_session.h for the contract).
 *
 * Data structures, chosen for the hot path (PDU in, PDU out, no malloc
 * once warm):
 *  - three byte buffers (input, output, queue) that grow by doubling and
 *    compact only when the dead prefix is at least as big as the live data,
 *    so every byte is moved at most a constant number of times;
 *  - queued requests live encoded in the queue buffer, each as an 8-byte
 *    token followed by the PDU (whose command_length says where the next
 *    record starts), so the FIFO needs no per-request allocation;
 *  - requests in flight live in a slot array (grown by doubling up to
 *    `window`) linked in send order, which is also deadline order because
 *    every request gets the same response_timeout_ms; an open-addressing
 *    table keyed by sequence number finds a slot in O(1);
 *  - events that do not come from a parsed PDU (results at close, bind
 *    failure, the final CLOSED) are not stored one per request: the lists
 *    are walked lazily, one request per next_event call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smpp_receipt.h"
#include "smpp_session.h"
#include "smpp_status.h"

/* PROTOCOL.md, "Framing": sequence numbers run 1..0x7FFFFFFF. */
#define SEQ_MAX 0x7FFFFFFFu
/* Buffers larger than this are given back to malloc once they empty, so
 * a burst (a 64 KiB PDU, a 10 000-deep queue) does not stay resident on
 * an idle session. */
#define BUF_KEEP (64u * 1024u)
#define BUF_MIN 256u
/* Room reserved in the output before a PDU is parsed, so the reply the
 * session writes itself (deliver_sm_resp, enquire_link_resp, unbind_resp,
 * generic_nack: at most 17 bytes) can't fail for lack of memory. */
#define REPLY_ROOM 32u
/* Queue record: the caller's token in front of the encoded PDU. */
#define QREC_HEAD 8u
/* Work put off for lack of memory (queued requests not moved into the
 * window, a received PDU not parsed) is tried again this much later: no
 * other timer may come for a long time (the server has no enquire_link),
 * and a driver must not spin while memory stays short. */
#define OOM_RETRY_MS 10
/* SMPP 3.4 5.2.4: the interface version this session speaks (3.4). */
#define SMPP_VERSION_34 0x34
/* Default bound on unwritten output before requests wait in the queue. */
#define OUT_MAX_DEFAULT (256u * 1024u)
/* A request's out_end once its bytes were taken back out of the output:
 * past any offset, so it counts as never written. */
#define OUT_CUT UINT64_MAX
/* Token bucket units per request: the bucket gains rate_x1000 units a
 * millisecond, so rates down to 0.001/s stay exact in integers. */
#define TOKEN_UNIT 1000000
/* Log messages waiting for next_event; more are counted, then said. */
#define LOG_RING 8
#define LOG_MSG 128
/* Sequence numbers of requests that ended lately, to tell a duplicate or
 * late answer from one for a number never used. */
#define ENDED_RING 32

typedef struct smpp_buf {
    uint8_t *data;
    size_t head; /* first live byte */
    size_t tail; /* end of live bytes */
    size_t cap;
} smpp_buf;

/* One request in flight. */
typedef struct smpp_req {
    uint64_t token;
    uint64_t out_end; /* session output offset where its PDU ends, or
                         OUT_CUT */
    smpp_ms deadline;
    uint32_t seq;
    uint32_t len; /* its PDU's length */
    int32_t prev; /* send order; -1 ends the list */
    int32_t next; /* send order, the retry list, or the free list */
    /* Retry (cfg.retry_count > 0): a copy of the PDU as first encoded,
     * kept with the slot and reused; how often it was put back, and the
     * status that did it last. */
    uint8_t *copy;
    uint32_t copy_cap;
    uint32_t last_status;
    uint8_t tries;
} smpp_req;

struct smpp_session {
    smpp_session_config cfg; /* string and mem pointers point at the copies below */
    smpp_mem mem;
    char system_id[16]; /* client: ours; server: the peer's, echoed */
    char password[9];
    char system_type[13];
    char address_range[41];

    smpp_state state;
    smpp_ms now; /* latest time seen; never goes back */

    smpp_ms connect_deadline;
    smpp_ms bind_deadline;   /* -1 when not running */
    smpp_ms el_next;         /* next enquire_link send, -1 when off */
    smpp_ms el_deadline;     /* enquire_link_resp due (when el_seq != 0) */
    smpp_ms unbind_deadline; /* UNBINDING only */
    smpp_ms last_rx;         /* last PDU received, for idle_timeout_ms */
    smpp_ms ended_at;        /* when the session ended or began unbinding */
    smpp_ms retry_at;        /* work put off for lack of memory, -1 when none */

    uint32_t req_cmd;    /* what submit sends: submit_sm or deliver_sm */
    uint32_t peer_req;   /* what the peer sends us: deliver_sm or submit_sm */
    uint32_t next_seq;   /* next sequence number to try */
    uint32_t bind_seq;   /* client: our bind; server: the peer's bind */
    uint32_t el_seq;     /* our enquire_link awaiting its resp, or 0 */
    uint32_t unbind_seq; /* our unbind awaiting its resp, or 0 */

    smpp_buf in;
    smpp_buf out;
    smpp_buf queue;
    uint64_t out_total; /* bytes ever appended to out */
    uint64_t out_held;  /* output offset up to which smpp_session_hold lent
                           the bytes to the driver, until its sent() */

    smpp_req *reqs;
    uint32_t req_cap;
    uint32_t in_flight;
    uint32_t queued;
    int32_t req_head; /* oldest in flight */
    int32_t req_tail; /* newest in flight */
    int32_t req_free;
    uint32_t *htab; /* slot index + 1, 0 = empty; size hmask + 1 */
    uint32_t hmask;

    /* Requests answered with a retry status, waiting in their slots to
     * go out again (linked by next), before the queue. */
    int32_t retry_head;
    int32_t retry_tail;
    uint32_t retry_n;
    uint32_t resent_in_flight; /* in flight with tries > 0: their deadlines
                                  break send order, see first_due */

    /* Flow control (see smpp_session_config). */
    smpp_ms throttle_until; /* no request moves into the output before */
    smpp_ms throttle_ms;    /* the last pause's length; 0 when recovered */
    smpp_ms bucket_at;      /* time of the last refill */
    int64_t tokens;         /* TOKEN_UNIT per request */
    int64_t tokens_max;

    /* LOG events waiting, oldest at log_head. */
    struct {
        smpp_log_level level;
        char msg[LOG_MSG];
    } logs[LOG_RING];
    uint32_t log_head;
    uint32_t log_n;
    uint32_t log_dropped;
    char log_out[LOG_MSG]; /* the message handed out last */

    uint32_t ended_seq[ENDED_RING];
    uint8_t ended_answered[ENDED_RING];
    uint32_t ended_pos;

    /* Ending: outcomes for the requests still listed, handed out lazily. */
    smpp_outcome in_outcome;
    smpp_outcome queue_outcome;
    uint8_t in_draining;
    uint8_t queue_draining;
    /* Output was thrown away at close: an in-flight request whose bytes
     * were not all written then surely never reached the peer. */
    uint8_t out_dropped;

    uint8_t bind_failed_pending; /* BIND_FAILED event still to hand out */
    uint8_t bind_answer_pending; /* server: BIND_REQUEST not yet answered */
    uint8_t done;                /* CLOSED event handed out */
    uint8_t app_closed;          /* smpp_session_close was called, even after the end */
    smpp_reason bind_failed_reason;
    uint32_t bind_failed_status;
    smpp_reason close_reason;

    smpp_session_stats stats;
    char error[SMPP_ERRMSG_SIZE + 32]; /* smpp_session_error */
    smpp_pdu pdu;                      /* the last parsed PDU; borrows from `in` */
};

/* ---- byte buffers ----------------------------------------------------- */

static size_t buf_len(const smpp_buf *b)
{
    return b->tail - b->head;
}

/* Make room for n more bytes at b->tail. Returns 0 or SMPP_ERR_NOMEM (the
 * buffer is then unchanged). Compacts only when the dead prefix is at least
 * the live size: each byte moves O(1) times, amortized. */
static int buf_reserve(const smpp_mem *m, smpp_buf *b, size_t n)
{
    size_t live = b->tail - b->head, cap;
    uint8_t *p;

    if (b->cap - b->tail >= n)
        return 0;
    if (b->head > 0 && b->head >= live && b->cap - live >= n) {
        memmove(b->data, b->data + b->head, live);
        b->head = 0;
        b->tail = live;
        return 0;
    }
    if (n > SIZE_MAX / 4 - live)
        return SMPP_ERR_NOMEM;
    for (cap = b->cap > BUF_MIN ? b->cap : BUF_MIN; cap < live + n; cap *= 2)
        ;
    p = m->malloc(cap, m->user);
    if (p == NULL)
        return SMPP_ERR_NOMEM;
    if (live != 0)
        memcpy(p, b->data + b->head, live);
    m->free(b->data, m->user);
    b->data = p;
    b->cap = cap;
    b->head = 0;
    b->tail = live;
    return 0;
}

static void buf_consume(const smpp_mem *m, smpp_buf *b, size_t n)
{
    b->head += n;
    if (b->head == b->tail) {
        b->head = b->tail = 0;
        if (b->cap > BUF_KEEP) {
            m->free(b->data, m->user);
            b->data = NULL;
            b->cap = 0;
        }
    }
}

static void buf_free(const smpp_mem *m, smpp_buf *b)
{
    m->free(b->data, m->user);
    b->data = NULL;
    b->head = b->tail = b->cap = 0;
}

/* ---- time -------------------------------------------------------------- */

static void advance(smpp_session *s, smpp_ms now)
{
    if (now > s->now)
        s->now = now;
}

static smpp_ms earliest(smpp_ms a, smpp_ms b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* ---- logs and counters ---------------------------------------------------- */

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* Queue a LOG event. A full ring counts what it drops and says so once it
 * drains; nothing is logged once the CLOSED event was handed out. */
static void PRINTF_LIKE(3, 4)
    session_log(smpp_session *s, smpp_log_level level, const char *fmt, ...)
{
    va_list ap;
    uint32_t i;

    if (s->done)
        return;
    if (s->log_n == LOG_RING) {
        s->log_dropped++;
        return;
    }
    i = (s->log_head + s->log_n) % LOG_RING;
    s->logs[i].level = level;
    va_start(ap, fmt);
    vsnprintf(s->logs[i].msg, LOG_MSG, fmt, ap);
    va_end(ap);
    s->log_n++;
}

/* A status's name for logs and last_error: "ESME_RTHROTTLED", or
 * "0x%08X" in buf when it has none. */
static const char *status_text(uint32_t status, char *buf, size_t cap)
{
    const char *name = smpp_status_name(status);

    if (name != NULL)
        return name;
    snprintf(buf, cap, "0x%08X", (unsigned)status);
    return buf;
}

static void set_last_error(smpp_session *s, const char *text)
{
    size_t n = strlen(text);

    if (n >= sizeof(s->stats.last_error))
        n = sizeof(s->stats.last_error) - 1; /* cut, not wrapped */
    memcpy(s->stats.last_error, text, n);
    s->stats.last_error[n] = 0;
}

static void count_answer(smpp_session *s, uint32_t status)
{
    uint32_t i, n = s->stats.n_answers;

    for (i = 0; i < n; i++)
        if (s->stats.answers[i].status == status) {
            s->stats.answers[i].count++;
            return;
        }
    if (n == SMPP_STATS_STATUSES) {
        s->stats.answers[n - 1].status = UINT32_MAX; /* the rest */
        s->stats.answers[n - 1].count++;
        return;
    }
    s->stats.answers[n].status = status;
    s->stats.answers[n].count = 1;
    s->stats.n_answers++;
}

static void count_receipt(smpp_session *s, const smpp_bytes *stat)
{
    char word[8];
    uint32_t i, n = s->stats.n_receipt_stats;

    if (stat->ptr == NULL || stat->len == 0)
        snprintf(word, sizeof(word), "UNKNOWN");
    else if (stat->len >= sizeof(word))
        snprintf(word, sizeof(word), "OTHER");
    else {
        memcpy(word, stat->ptr, stat->len);
        word[stat->len] = 0;
    }
    for (i = 0; i < n; i++)
        if (strcmp(s->stats.receipt_stats[i].stat, word) == 0) {
            s->stats.receipt_stats[i].count++;
            return;
        }
    if (n == SMPP_STATS_STATS) {
        snprintf(s->stats.receipt_stats[n - 1].stat, 8, "OTHER");
        s->stats.receipt_stats[n - 1].count++;
        return;
    }
    memcpy(s->stats.receipt_stats[n].stat, word, sizeof(word));
    s->stats.receipt_stats[n].count = 1;
    s->stats.n_receipt_stats++;
}

/* A request ended (answered != 0: by an answer): remember its number for
 * a while, to name a second answer for it. */
static void note_ended(smpp_session *s, uint32_t seq, int answered)
{
    s->ended_seq[s->ended_pos] = seq;
    s->ended_answered[s->ended_pos] = (uint8_t)answered;
    s->ended_pos = (s->ended_pos + 1) % ENDED_RING;
}

/* ---- flow control ------------------------------------------------------------ */

/* The bucket's content at s->now, without changing it. */
static int64_t bucket_level(const smpp_session *s)
{
    smpp_ms dt = s->now - s->bucket_at;
    int64_t t = s->tokens;

    if (dt > 0) {
        if (dt > 100000000)
            dt = 100000000; /* no overflow: the bucket is full long before */
        t += (int64_t)dt * (int64_t)s->cfg.rate_x1000;
        if (t > s->tokens_max)
            t = s->tokens_max;
    }
    return t;
}

/* May a request move into the output now, as far as pauses and the rate
 * go? */
static int may_send(const smpp_session *s)
{
    if (s->now < s->throttle_until)
        return 0;
    return s->cfg.rate_x1000 == 0 || bucket_level(s) >= TOKEN_UNIT;
}

/* A request moved into the output: take its token. */
static void bucket_take(smpp_session *s)
{
    if (s->cfg.rate_x1000 == 0)
        return;
    s->tokens = bucket_level(s) - TOKEN_UNIT;
    s->bucket_at = s->now;
}

/* When may_send turns true (it is false now). */
static smpp_ms send_at(const smpp_session *s)
{
    int64_t t, need;

    if (s->now < s->throttle_until)
        return s->throttle_until;
    t = bucket_level(s);
    need = TOKEN_UNIT - t;
    return s->now + (smpp_ms)((need + s->cfg.rate_x1000 - 1) / s->cfg.rate_x1000);
}

/* An answer came with status (of a request that was in flight): throttling
 * answers pause sending, growing; a success after a pause ended resets. */
static void flow_answer(smpp_session *s, uint32_t status)
{
    char buf[16];

    if (status == SMPP_ESME_RTHROTTLED || status == SMPP_ESME_RMSGQFUL) {
        if (s->now < s->throttle_until)
            return; /* sent before this pause began */
        s->throttle_ms = s->throttle_ms > 0 ? s->throttle_ms * 2 : s->cfg.throttle_min_ms;
        if (s->throttle_ms > s->cfg.throttle_max_ms)
            s->throttle_ms = s->cfg.throttle_max_ms;
        s->throttle_until = s->now + s->throttle_ms;
        s->stats.throttled++;
        session_log(s,
                    s->stats.throttled == 1 || s->throttle_ms == s->cfg.throttle_min_ms
                        ? SMPP_LOG_WARN
                        : SMPP_LOG_INFO,
                    "throttled (%s): sending paused for %lld ms",
                    status_text(status, buf, sizeof(buf)), (long long)s->throttle_ms);
        return;
    }
    if (status == 0 && s->throttle_ms > 0 && s->now >= s->throttle_until) {
        s->throttle_ms = 0;
        session_log(s, SMPP_LOG_INFO, "throttling over: sending at full speed again");
    }
}

/* How many times a request answered with status may be retried in all. */
static uint32_t retry_limit(const smpp_session *s, uint32_t status)
{
    uint32_t i;

    for (i = 0; i < s->cfg.retry_count; i++)
        if (s->cfg.retry[i].status == status)
            return s->cfg.retry[i].times;
    return 0;
}

/* ---- requests in flight ------------------------------------------------ */

/* Sequence numbers come in order, so the low bits spread them evenly. */
/* A sequence number's home slot. Sequence numbers come in a row, and taken
 * as they are they would fill one run of adjacent slots: every delete
 * (hash_del) would then walk the whole window. Mixed, runs stay short. */
static inline uint32_t hash_home(const smpp_session *s, uint32_t seq)
{
    uint32_t h = seq * 0x9E3779B1u;

    return (h ^ (h >> 16)) & s->hmask;
}

static uint32_t hash_find(const smpp_session *s, uint32_t seq)
{
    uint32_t i;

    if (s->htab == NULL)
        return UINT32_MAX;
    for (i = hash_home(s, seq); s->htab[i] != 0; i = (i + 1) & s->hmask)
        if (s->reqs[s->htab[i] - 1].seq == seq)
            return i;
    return UINT32_MAX;
}

static void hash_put(smpp_session *s, int32_t idx)
{
    uint32_t i;

    for (i = hash_home(s, s->reqs[idx].seq); s->htab[i] != 0; i = (i + 1) & s->hmask)
        ;
    s->htab[i] = (uint32_t)idx + 1;
}

/* Linear probing delete by backward shift: no tombstones, so lookups stay
 * short however long the session runs. */
static void hash_del(smpp_session *s, uint32_t i)
{
    uint32_t j = i, home;

    for (;;) {
        j = (j + 1) & s->hmask;
        if (s->htab[j] == 0)
            break;
        home = hash_home(s, s->reqs[s->htab[j] - 1].seq);
        /* The entry at j may move to the hole at i unless its home lies
         * cyclically in (i, j]. */
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            s->htab[i] = s->htab[j];
            i = j;
        }
    }
    s->htab[i] = 0;
}

/* Grow the slot array (and the table, kept at least twice its size) by
 * doubling, up to `window`. On failure nothing observable changes. */
static int req_grow(smpp_session *s)
{
    uint32_t cap = s->req_cap ? s->req_cap * 2 : 8, hsize = 16, i;
    smpp_req *r;

    if (cap > s->cfg.window || cap < s->req_cap)
        cap = s->cfg.window;
    if (cap <= s->req_cap)
        return SMPP_ERR_NOMEM;
    /* A window near its cap would overflow size_t on 32-bit builds. */
    if ((uint64_t)cap * sizeof(*r) > SIZE_MAX || 2 * (uint64_t)cap * sizeof(uint32_t) > SIZE_MAX)
        return SMPP_ERR_NOMEM;
    r = s->mem.realloc(s->reqs, (size_t)cap * sizeof(*r), s->mem.user);
    if (r == NULL)
        return SMPP_ERR_NOMEM;
    s->reqs = r;
    while (hsize < 2 * (uint64_t)cap)
        hsize *= 2;
    if (s->htab == NULL || hsize > s->hmask + 1) {
        uint32_t *t = s->mem.malloc((size_t)hsize * sizeof(*t), s->mem.user);
        int32_t k;

        if (t == NULL)
            return SMPP_ERR_NOMEM; /* reqs is bigger, req_cap is not: fine */
        memset(t, 0, (size_t)hsize * sizeof(*t));
        s->mem.free(s->htab, s->mem.user);
        s->htab = t;
        s->hmask = hsize - 1;
        for (k = s->req_head; k >= 0; k = s->reqs[k].next)
            hash_put(s, k);
    }
    for (i = s->req_cap; i < cap; i++) {
        s->reqs[i].next = i + 1 < cap ? (int32_t)(i + 1) : s->req_free;
        s->reqs[i].copy = NULL;
        s->reqs[i].copy_cap = 0;
    }
    s->req_free = (int32_t)s->req_cap;
    s->req_cap = cap;
    return 0;
}

static int32_t req_alloc(smpp_session *s)
{
    int32_t idx;

    if (s->req_free < 0 && req_grow(s) != 0)
        return -1;
    idx = s->req_free;
    s->req_free = s->reqs[idx].next;
    return idx;
}

static void req_release(smpp_session *s, int32_t idx)
{
    s->reqs[idx].next = s->req_free;
    s->req_free = idx;
}

/* Put a filled slot at the end of the send-order list and in the table. */
static void req_link(smpp_session *s, int32_t idx)
{
    smpp_req *r = &s->reqs[idx];

    r->next = -1;
    r->prev = s->req_tail;
    if (s->req_tail >= 0)
        s->reqs[s->req_tail].next = idx;
    else
        s->req_head = idx;
    s->req_tail = idx;
    hash_put(s, idx);
    s->in_flight++;
    if (r->tries > 0)
        s->resent_in_flight++;
}

/* Take a slot out of the list and the table (hpos: its table position),
 * keeping it. */
static void req_detach(smpp_session *s, int32_t idx, uint32_t hpos)
{
    smpp_req *r = &s->reqs[idx];

    if (r->prev >= 0)
        s->reqs[r->prev].next = r->next;
    else
        s->req_head = r->next;
    if (r->next >= 0)
        s->reqs[r->next].prev = r->prev;
    else
        s->req_tail = r->prev;
    hash_del(s, hpos);
    s->in_flight--;
    if (r->tries > 0)
        s->resent_in_flight--;
}

/* Take a slot out of the list and the table, and free it. */
static void req_unlink(smpp_session *s, int32_t idx, uint32_t hpos)
{
    req_detach(s, idx, hpos);
    req_release(s, idx);
}

/* The request in flight whose deadline comes first, or -1: the oldest,
 * unless a resent one (which kept its first deadline) is among them. */
static int32_t first_due(const smpp_session *s)
{
    int32_t i, best = s->req_head;

    if (s->resent_in_flight == 0 || best < 0)
        return best;
    for (i = s->reqs[best].next; i >= 0; i = s->reqs[i].next)
        if (s->reqs[i].deadline < s->reqs[best].deadline)
            best = i;
    return best;
}

/* Room in slot idx's copy for len bytes, when retrying keeps copies.
 * Returns 0 or SMPP_ERR_NOMEM (nothing changed). */
static int req_keep_room(smpp_session *s, int32_t idx, size_t len)
{
    smpp_req *r = &s->reqs[idx];
    uint8_t *p;

    if (s->cfg.retry_count == 0 || r->copy_cap >= len)
        return 0;
    p = s->mem.realloc(r->copy, len, s->mem.user);
    if (p == NULL)
        return SMPP_ERR_NOMEM;
    r->copy = p;
    r->copy_cap = (uint32_t)len;
    return 0;
}

/* Is seq taken by anything still waiting for its answer? */
static int seq_busy(const smpp_session *s, uint32_t seq)
{
    return seq == s->el_seq || seq == s->unbind_seq ||
           (s->cfg.role == SMPP_ROLE_CLIENT && seq == s->bind_seq) ||
           hash_find(s, seq) != UINT32_MAX;
}

/* PROTOCOL.md, "Framing": 1..0x7FFFFFFF, wrapping back to 1, skipping any
 * number still in flight (at most window + 3 of them, so this ends). */
static uint32_t seq_take(smpp_session *s)
{
    for (;;) {
        uint32_t seq = s->next_seq;

        s->next_seq = seq >= SEQ_MAX ? 1 : seq + 1;
        if (!seq_busy(s, seq))
            return seq;
    }
}

/* ---- output ------------------------------------------------------------- */

static void put_header(uint8_t *p, uint32_t len, uint32_t id, uint32_t status, uint32_t seq)
{
    smpp_put_u32(p, len);
    smpp_put_u32(p + 4, id);
    smpp_put_u32(p + 8, status);
    smpp_put_u32(p + 12, seq);
}

static void out_commit(smpp_session *s, size_t n)
{
    s->out.tail += n;
    s->out_total += n;
}

/* A header-only PDU, or with body_nul a body of one empty C-Octet String
 * (deliver_sm_resp's message_id, "always the empty string"). */
static int emit_simple(smpp_session *s, uint32_t id, uint32_t status, uint32_t seq, int body_nul)
{
    uint32_t len = SMPP_HEADER_LEN + (body_nul ? 1 : 0);

    if (buf_reserve(&s->mem, &s->out, len) != 0)
        return SMPP_ERR_NOMEM;
    put_header(s->out.data + s->out.tail, len, id, status, seq);
    if (body_nul)
        s->out.data[s->out.tail + SMPP_HEADER_LEN] = 0;
    out_commit(s, len);
    return 0;
}

/* Encode pdu at b->tail + skip without committing it. Returns its length
 * or a negative code (err names the field). One pass in the common case:
 * encode into the room there is, and only on SMPP_ERR_BUFFER grow to the
 * size the codec reports and encode again. */
static long encode_at(smpp_session *s, smpp_buf *b, size_t skip, const smpp_pdu *pdu,
                      smpp_error *err)
{
    smpp_error e;
    long n;

    if (buf_reserve(&s->mem, b, skip + BUF_MIN) != 0)
        return smpp_error_set(err, SMPP_ERR_NOMEM, "out of memory");
    n = smpp_pdu_encode(pdu, b->data + b->tail + skip, b->cap - b->tail - skip, &e);
    if (n == SMPP_ERR_BUFFER) {
        if (buf_reserve(&s->mem, b, skip + e.limit) != 0)
            return smpp_error_set(err, SMPP_ERR_NOMEM, "out of memory");
        n = smpp_pdu_encode(pdu, b->data + b->tail + skip, b->cap - b->tail - skip, &e);
    }
    if (n < 0) {
        if (err != NULL)
            *err = e;
        return n;
    }
    /* A peer framing with the same cap would take a bigger PDU for a
     * broken stream (PROTOCOL.md, "Framing"). */
    if ((uint64_t)n > s->cfg.max_pdu)
        return smpp_error_set(err, SMPP_ERR_LIMIT, "command_length: %ld bytes, limit max_pdu %u", n,
                              (unsigned)s->cfg.max_pdu);
    return n;
}

/* The request PDU of len bytes just placed at out.tail goes in flight as
 * slot idx (token already set): number it, commit it, start its timer.
 * Requests carry status 0 (gateway: "status in header: set to
 * 0x00000000"); the caller's sequence number is replaced. */
static void send_request(smpp_session *s, int32_t idx, size_t len)
{
    smpp_req *r = &s->reqs[idx];
    uint8_t *p = s->out.data + s->out.tail;

    r->seq = seq_take(s);
    smpp_put_u32(p + 8, 0);
    smpp_put_u32(p + 12, r->seq);
    if (s->cfg.retry_count > 0 && r->tries == 0)
        memcpy(r->copy, p, len); /* room made by req_keep_room */
    out_commit(s, len);
    r->out_end = s->out_total;
    r->len = (uint32_t)len;
    if (r->tries == 0) {
        r->deadline = s->now + s->cfg.response_timeout_ms;
        s->stats.sent++; /* a resend is the same request */
    }
    req_link(s, idx);
    bucket_take(s);
}

/* Output offset below which bytes may have reached the peer: those
 * written, and those the driver holds (see smpp_session_hold). */
static uint64_t out_taken(const smpp_session *s)
{
    return s->out_held > s->stats.bytes_out ? s->out_held : s->stats.bytes_out;
}

/* Work was put off for lack of memory: have the driver tick soon. */
static void retry_later(smpp_session *s)
{
    if (s->retry_at < 0)
        s->retry_at = s->now + OOM_RETRY_MS;
}

/* Move queued requests into the window while there is room. Stops
 * quietly on out-of-memory: the request stays queued and a tick (due at
 * retry_at at the latest) or a result tries again. */
static void pump(smpp_session *s)
{
    while (s->state == SMPP_STATE_BOUND && (s->queued > 0 || s->retry_n > 0) &&
           s->in_flight < s->cfg.window && buf_len(&s->out) < s->cfg.out_max && may_send(s)) {
        const uint8_t *rec;
        uint32_t len;
        int32_t idx;

        if (s->retry_n > 0) {
            /* Put back by an answer: first in line, its own bytes again. */
            idx = s->retry_head;
            len = s->reqs[idx].len;
            if (buf_reserve(&s->mem, &s->out, len) != 0) {
                retry_later(s);
                return;
            }
            s->retry_head = s->reqs[idx].next;
            if (s->retry_head < 0)
                s->retry_tail = -1;
            s->retry_n--;
            memcpy(s->out.data + s->out.tail, s->reqs[idx].copy, len);
            send_request(s, idx, len);
            continue;
        }
        rec = s->queue.data + s->queue.head;
        len = smpp_get_u32(rec + QREC_HEAD);
        idx = req_alloc(s);
        if (idx < 0) {
            retry_later(s);
            return;
        }
        if (buf_reserve(&s->mem, &s->out, len) != 0 || req_keep_room(s, idx, len) != 0) {
            req_release(s, idx);
            retry_later(s);
            return;
        }
        s->reqs[idx].tries = 0;
        memcpy(&s->reqs[idx].token, rec, sizeof(uint64_t));
        memcpy(s->out.data + s->out.tail, rec + QREC_HEAD, len);
        send_request(s, idx, len);
        s->queued--;
        buf_consume(&s->mem, &s->queue, QREC_HEAD + len);
    }
}

/*
 * Take out of the output every in-flight request due by `due` none of
 * whose bytes were written, in one pass; the requests after them keep
 * their offsets in step. The output is written in order, so these are the
 * newest requests, and nothing else is touched (the session's own answers
 * and keep-alive between them stay, in order). Such a request then ends
 * NOT_SENT (see end_in_flight): nothing is written after its outcome is
 * reported. Not once the output was dropped: there is nothing to cut.
 */
static void cut_unwritten(smpp_session *s, smpp_ms due)
{
    uint64_t origin = s->stats.bytes_out; /* output offset of base[0] */
    uint64_t taken = out_taken(s);
    size_t to = 0, from = 0, end = buf_len(&s->out);
    uint64_t removed = 0;
    uint8_t *base;
    int32_t i;

    /* Nothing to cut unless the newest request is still in the output,
     * unwritten: cuts take a prefix of the unwritten ones (they fall due
     * in send order), so if it was cut, so were all the others. */
    if (s->out_dropped || s->req_tail < 0 ||
        (s->reqs[s->req_tail].out_end == OUT_CUT && s->resent_in_flight == 0) ||
        (s->reqs[s->req_tail].out_end != OUT_CUT &&
         s->reqs[s->req_tail].out_end - s->reqs[s->req_tail].len < taken))
        return;
    base = s->out.data + s->out.head; /* the newest request's bytes are there */
    for (i = s->req_head; i >= 0; i = s->reqs[i].next) {
        smpp_req *r = &s->reqs[i];
        size_t at;

        if (r->out_end == OUT_CUT)
            continue;
        if (r->deadline > due || r->out_end - r->len < taken) {
            r->out_end -= removed;
            continue;
        }
        at = (size_t)(r->out_end - r->len - origin);
        if (to != from)
            memmove(base + to, base + from, at - from);
        to += at - from;
        from = at + r->len;
        removed += r->len;
        r->out_end = OUT_CUT;
        if (r->tries == 0)
            s->stats.sent--; /* taken back: it never left */
    }
    if (to != from)
        memmove(base + to, base + from, end - from);
    s->out.tail = s->out.head + to + (end - from);
    s->out_total -= removed;
}

/* ---- ending ------------------------------------------------------------- */

/*
 * The session is over (any cause). Requests still in flight end with
 * inflight, queued ones with queued; they are handed out lazily by
 * next_event, then CLOSED(reason). drop_output throws unsent bytes away
 * when the link is broken and nothing more may reach the peer. A client
 * that was not yet bound also gets BIND_FAILED(reason) first, so a driver
 * has one event to finish its bind with.
 */
static void session_end(smpp_session *s, smpp_reason reason, smpp_outcome inflight,
                        smpp_outcome queued, int drop_output)
{
    if (s->state == SMPP_STATE_CLOSED)
        return;
    if (s->cfg.role == SMPP_ROLE_CLIENT &&
        (s->state == SMPP_STATE_CONNECTING || s->state == SMPP_STATE_BINDING)) {
        s->bind_failed_pending = 1;
        s->bind_failed_reason = reason;
    }
    s->state = SMPP_STATE_CLOSED;
    s->close_reason = reason;
    s->bind_answer_pending = 0;
    if (reason != SMPP_REASON_CLOSED && reason != SMPP_REASON_PEER_UNBIND)
        set_last_error(s, smpp_reason_name(reason));
    if (!s->in_draining) {
        s->ended_at = s->now;
        s->in_draining = 1;
        s->in_outcome = inflight;
    }
    if (!s->queue_draining) {
        s->queue_draining = 1;
        s->queue_outcome = queued;
    }
    if (drop_output) {
        s->out_dropped = 1;
        buf_consume(&s->mem, &s->out, buf_len(&s->out));
    } else {
        /* What is left goes out (an unbind_resp): not the requests that
         * end now and were not written. */
        cut_unwritten(s, INT64_MAX);
    }
    /* Nothing after the close is read. */
    s->in.head = s->in.tail;
}

/* The link is broken: sent requests have an unknown fate, the rest surely
 * did not go out. */
static void session_break(smpp_session *s, smpp_reason reason)
{
    session_end(s, reason, SMPP_OUTCOME_LOST, SMPP_OUTCOME_NOT_SENT, 1);
}

/* ---- events -------------------------------------------------------------- */

static void result(smpp_session *s, smpp_event *ev, uint64_t token, uint32_t seq,
                   smpp_outcome outcome, uint32_t status, const smpp_pdu *pdu)
{
    ev->type = SMPP_EV_RESULT;
    ev->token = token;
    ev->command_id = s->req_cmd;
    ev->sequence_number = seq;
    ev->outcome = outcome;
    ev->status = status;
    ev->pdu = pdu;
    if (outcome == SMPP_OUTCOME_RESPONSE && status == 0) {
        s->stats.succeeded++;
        return;
    }
    s->stats.failed++;
    if (outcome == SMPP_OUTCOME_RESPONSE || outcome == SMPP_OUTCOME_NACK) {
        char buf[16];

        set_last_error(s, status_text(status, buf, sizeof(buf)));
    } else if (outcome != SMPP_OUTCOME_CLOSED) {
        set_last_error(s, smpp_outcome_name(outcome));
    }
}

/* End the in-flight request at table position hpos with an event. */
static void end_in_flight(smpp_session *s, uint32_t hpos, smpp_event *ev, smpp_outcome outcome,
                          uint32_t status, const smpp_pdu *pdu)
{
    int32_t idx = (int32_t)s->htab[hpos] - 1;
    smpp_req r = s->reqs[idx];
    uint64_t written = out_taken(s);

    req_unlink(s, idx, hpos);
    note_ended(s, r.seq, outcome == SMPP_OUTCOME_RESPONSE || outcome == SMPP_OUTCOME_NACK);
    /* Only a request the peer may have got can end with an unknown fate:
     * one with none of its bytes written or held by the driver (they were
     * cut out, see cut_unwritten), or not all of them when the link broke
     * (the peer can't act on half a PDU), surely did not go out. */
    if ((outcome == SMPP_OUTCOME_TIMEOUT || outcome == SMPP_OUTCOME_LOST) &&
        (r.out_end - r.len >= written || (s->out_dropped && r.out_end > written)))
        outcome = SMPP_OUTCOME_NOT_SENT;
    result(s, ev, r.token, r.seq, outcome, status, pdu);
}

/* Events not tied to an incoming PDU, in their fixed order. */
static int synthetic_event(smpp_session *s, smpp_event *ev)
{
    if (s->log_n > 0 || s->log_dropped > 0) {
        ev->type = SMPP_EV_LOG;
        if (s->log_n > 0) {
            ev->level = s->logs[s->log_head].level;
            memcpy(s->log_out, s->logs[s->log_head].msg, LOG_MSG);
            s->log_head = (s->log_head + 1) % LOG_RING;
            s->log_n--;
        } else {
            ev->level = SMPP_LOG_WARN;
            snprintf(s->log_out, sizeof(s->log_out), "%u log messages dropped (too many at once)",
                     (unsigned)s->log_dropped);
            s->log_dropped = 0;
        }
        ev->message = s->log_out;
        return 1;
    }
    if (s->bind_failed_pending) {
        s->bind_failed_pending = 0;
        ev->type = SMPP_EV_BIND_FAILED;
        ev->reason = s->bind_failed_reason;
        ev->status = s->bind_failed_status;
        return 1;
    }
    if (s->in_draining && s->req_head >= 0) {
        const smpp_req *r = &s->reqs[s->req_head];
        /* Timeouts are handed out lazily too: one whose deadline had
         * passed when the session ended had timed out already. */
        smpp_outcome o = r->deadline <= s->ended_at ? SMPP_OUTCOME_TIMEOUT : s->in_outcome;

        end_in_flight(s, hash_find(s, r->seq), ev, o, 0, NULL);
        return 1;
    }
    if (s->queue_draining && s->retry_n > 0) {
        int32_t idx = s->retry_head;

        s->retry_head = s->reqs[idx].next;
        if (s->retry_head < 0)
            s->retry_tail = -1;
        s->retry_n--;
        req_release(s, idx); /* leaves token alone */
        result(s, ev, s->reqs[idx].token, 0, s->queue_outcome, 0, NULL);
        return 1;
    }
    if (s->queue_draining && s->queued > 0) {
        const uint8_t *rec = s->queue.data + s->queue.head;
        uint64_t token;

        memcpy(&token, rec, sizeof(token));
        s->queued--;
        buf_consume(&s->mem, &s->queue, QREC_HEAD + smpp_get_u32(rec + QREC_HEAD));
        result(s, ev, token, 0, s->queue_outcome, 0, NULL);
        return 1;
    }
    if (s->state == SMPP_STATE_CLOSED) {
        s->done = 1;
        ev->type = SMPP_EV_CLOSED;
        ev->reason = s->close_reason;
        return 1;
    }
    return 0;
}

/* SMPP 3.4 4.3: generic_nack for a request we can't or won't handle. */
static void nack(smpp_session *s, uint32_t seq, uint32_t status)
{
    (void)emit_simple(s, SMPP_GENERIC_NACK, status, seq, 0); /* room reserved */
}

static void start_bound(smpp_session *s)
{
    s->state = SMPP_STATE_BOUND;
    s->bind_deadline = -1;
    /* gateway: enquire_link every 30 s (+-5 s), counted from the bind. */
    s->el_next = s->cfg.enquire_link_ms > 0 ? s->now + s->cfg.enquire_link_ms : -1;
    pump(s);
}

/* A command's name for logs: "submit_sm_resp", or "command_id 0x..." in
 * buf. */
static const char *command_text(uint32_t id, char *buf, size_t cap)
{
    const char *name = smpp_command_name(id);

    if (name != NULL)
        return name;
    snprintf(buf, cap, "command_id 0x%08X", (unsigned)id);
    return buf;
}

/* An answer matching no request in flight: say whether its number was
 * never used (lately), or its request ended already. */
static void log_stray(smpp_session *s, uint32_t id, uint32_t seq, uint32_t status)
{
    char nbuf[32], sbuf[16];
    const char *name = command_text(id, nbuf, sizeof(nbuf));
    const char *st = status_text(status, sbuf, sizeof(sbuf));
    uint32_t i;

    for (i = 0; i < ENDED_RING; i++) {
        if (s->ended_seq[i] != seq)
            continue;
        if (s->ended_answered[i])
            session_log(s, SMPP_LOG_WARN,
                        "duplicate %s for sequence number %u (status %s): ignored", name,
                        (unsigned)seq, st);
        else
            session_log(s, SMPP_LOG_WARN,
                        "late %s for sequence number %u (status %s), its request had ended: "
                        "ignored",
                        name, (unsigned)seq, st);
        return;
    }
    session_log(s, SMPP_LOG_WARN, "%s for unknown sequence number %u (status %s): ignored", name,
                (unsigned)seq, st);
}

/* The in-flight request at table position hpos was answered with a retry
 * status it may still be retried for: back to the retry list, to go out
 * again (with a new sequence number) once sending may go on. */
static void put_back(smpp_session *s, uint32_t hpos, uint32_t status)
{
    int32_t idx = (int32_t)s->htab[hpos] - 1;
    smpp_req *r = &s->reqs[idx];
    char buf[16];

    req_detach(s, idx, hpos);
    note_ended(s, r->seq, 1);
    r->tries++;
    r->last_status = status;
    r->next = -1;
    if (s->retry_tail >= 0)
        s->reqs[s->retry_tail].next = idx;
    else
        s->retry_head = idx;
    s->retry_tail = idx;
    s->retry_n++;
    s->stats.retries++;
    session_log(s, SMPP_LOG_DEBUG, "%s for sequence number %u: to be sent again (retry %u of %u)",
                status_text(status, buf, sizeof(buf)), (unsigned)r->seq, (unsigned)r->tries,
                (unsigned)retry_limit(s, status));
}

/* A response from the peer. Returns 1 with ev filled, or 0. */
static int on_response(smpp_session *s, uint32_t id, uint32_t status, uint32_t seq, smpp_event *ev)
{
    uint32_t hpos;

    if (s->cfg.role == SMPP_ROLE_CLIENT && s->state == SMPP_STATE_BINDING) {
        /* Lenient on the sequence number of the bind_transceiver_resp: it
         * is the only answer a binding client waits for. */
        if (id == SMPP_BIND_TRANSCEIVER_RESP && status == 0) {
            s->bind_seq = 0;
            start_bound(s);
            ev->type = SMPP_EV_BOUND;
            ev->sequence_number = seq;
            ev->pdu = &s->pdu;
            return 1;
        }
        if (id == SMPP_BIND_TRANSCEIVER_RESP || (id == SMPP_GENERIC_NACK && seq == s->bind_seq)) {
            s->bind_failed_status = status;
            session_break(s, SMPP_REASON_BIND_STATUS);
        }
        return 0;
    }
    if (s->state == SMPP_STATE_UNBINDING && seq == s->unbind_seq &&
        (id == SMPP_UNBIND_RESP || id == SMPP_GENERIC_NACK)) {
        session_end(s, SMPP_REASON_CLOSED, SMPP_OUTCOME_CLOSED, SMPP_OUTCOME_CLOSED, 0);
        if (id != SMPP_UNBIND_RESP)
            return 0;
        ev->type = SMPP_EV_UNBOUND;
        ev->sequence_number = seq;
        ev->pdu = &s->pdu;
        return 1;
    }
    if (id == SMPP_ENQUIRE_LINK_RESP || (id == SMPP_GENERIC_NACK && seq != 0 && seq == s->el_seq)) {
        /* Any answer shows the link is alive; a peer that echoes the
         * sequence number wrongly is not dead. */
        s->el_seq = 0;
        return 0;
    }
    if (s->in_draining)
        return 0;
    if (id != s->req_cmd + SMPP_RESP_BIT && id != SMPP_GENERIC_NACK) {
        char nbuf[32];

        session_log(s, SMPP_LOG_WARN, "unexpected %s (sequence number %u): ignored",
                    command_text(id, nbuf, sizeof(nbuf)), (unsigned)seq);
        return 0;
    }
    hpos = seq != 0 ? hash_find(s, seq) : UINT32_MAX;
    if (hpos == UINT32_MAX) {
        log_stray(s, id, seq, status); /* unknown, or ended already: ignored */
        return 0;
    }
    count_answer(s, status);
    flow_answer(s, status);
    if (id != SMPP_GENERIC_NACK && status != 0 && s->state == SMPP_STATE_BOUND) {
        smpp_req *r = &s->reqs[s->htab[hpos] - 1];
        smpp_ms resume = s->throttle_until > s->now ? s->throttle_until : s->now;

        /* Not when its deadline would pass before it could go again: its
         * answer is then its outcome. */
        if (r->tries < retry_limit(s, status) && r->deadline > resume) {
            put_back(s, hpos, status);
            pump(s);
            return 0;
        }
    }
    end_in_flight(s, hpos, ev, id == SMPP_GENERIC_NACK ? SMPP_OUTCOME_NACK : SMPP_OUTCOME_RESPONSE,
                  status, &s->pdu);
    pump(s);
    return 1;
}

/* A request from the peer. Returns 1 with ev filled, or 0. */
static int on_request(smpp_session *s, uint32_t id, uint32_t seq, smpp_event *ev)
{
    switch (id) {
    case SMPP_ENQUIRE_LINK:
        /* gateway: answer its enquire_link too; SMPP 3.4 4.11: any state. */
        (void)emit_simple(s, SMPP_ENQUIRE_LINK_RESP, 0, seq, 0);
        return 0;
    case SMPP_UNBIND:
        /* SMPP 3.4 4.2: answer, then the link is over. */
        (void)emit_simple(s, SMPP_UNBIND_RESP, 0, seq, 0);
        if (s->state == SMPP_STATE_BINDING) {
            session_end(s, SMPP_REASON_PEER_UNBIND, SMPP_OUTCOME_LOST, SMPP_OUTCOME_NOT_SENT, 0);
            return 0;
        }
        if (s->state == SMPP_STATE_UNBINDING)
            session_end(s, SMPP_REASON_CLOSED, SMPP_OUTCOME_CLOSED, SMPP_OUTCOME_CLOSED, 0);
        else
            /* Output kept: the unbind_resp must still go out. */
            session_end(s, SMPP_REASON_PEER_UNBIND, SMPP_OUTCOME_LOST, SMPP_OUTCOME_NOT_SENT, 0);
        ev->type = SMPP_EV_UNBOUND;
        ev->sequence_number = seq;
        ev->pdu = &s->pdu;
        return 1;
    case SMPP_BIND_TRANSCEIVER:
        /* Bound already (the first PDU is handled elsewhere). */
        nack(s, seq, s->cfg.role == SMPP_ROLE_SERVER ? SMPP_ESME_RALYBND : SMPP_ESME_RINVCMDID);
        session_log(s, SMPP_LOG_WARN,
                    "unexpected bind_transceiver (sequence number %u): answered generic_nack",
                    (unsigned)seq);
        return 0;
    default:
        break;
    }
    if (id != s->peer_req) {
        char nbuf[32];

        /* gateway: "invalid commands ... GENERIC_NACK" (bind_transmitter,
         * bind_receiver, query_sm and anything unknown). */
        nack(s, seq, SMPP_ESME_RINVCMDID);
        session_log(s, SMPP_LOG_WARN,
                    "unexpected %s (sequence number %u): answered generic_nack ESME_RINVCMDID",
                    command_text(id, nbuf, sizeof(nbuf)), (unsigned)seq);
        return 0;
    }
    if (s->state == SMPP_STATE_BINDING) {
        /* SMPP 3.4 2.3: no deliver_sm before the bind completes. */
        nack(s, seq, SMPP_ESME_RINVBNDSTS);
        session_log(s, SMPP_LOG_WARN,
                    "%s before the bind completed (sequence number %u): answered generic_nack",
                    smpp_command_name(id), (unsigned)seq);
        return 0;
    }
    if (s->cfg.role == SMPP_ROLE_CLIENT) {
        smpp_receipt_pdu rcpt;

        /* gateway: answer every deliver_sm with deliver_sm_resp echoing
         * its sequence number; written before the event is handed out so
         * a slow application never delays the acknowledgement. */
        (void)emit_simple(s, SMPP_DELIVER_SM_RESP, 0, seq, 1);
        s->stats.delivered_in++;
        if (smpp_receipt_from_pdu(&s->pdu, &rcpt))
            count_receipt(s, &rcpt.stat);
        ev->type = SMPP_EV_DELIVER;
    } else {
        s->stats.requests_in++;
        ev->type = SMPP_EV_REQUEST;
    }
    ev->sequence_number = seq;
    ev->pdu = &s->pdu;
    return 1;
}

/* Server, first PDU: it must be bind_transceiver (gateway: "the first
 * packet must send the BindTransceiver command"); anything else closes
 * the socket, as the gateway does. */
static int on_first_pdu(smpp_session *s, int rc, uint32_t id, uint32_t seq, smpp_event *ev)
{
    if (id != SMPP_BIND_TRANSCEIVER) {
        const char *name = smpp_command_name(id);

        if (name != NULL)
            snprintf(s->error, sizeof(s->error), "first PDU was %s, not bind_transceiver", name);
        else
            snprintf(s->error, sizeof(s->error),
                     "first PDU was command_id 0x%08X, not bind_transceiver", (unsigned)id);
    }
    if (rc != 0 || id != SMPP_BIND_TRANSCEIVER) {
        session_log(s, SMPP_LOG_ERROR, "%s: closing", s->error);
        session_break(s, SMPP_REASON_PROTOCOL);
        return 0;
    }
    memcpy(s->system_id, s->pdu.system_id.ptr, s->pdu.system_id.len);
    s->system_id[s->pdu.system_id.len] = 0;
    s->bind_seq = seq;
    s->bind_deadline = -1;
    s->bind_answer_pending = 1;
    ev->type = SMPP_EV_BIND_REQUEST;
    ev->sequence_number = seq;
    ev->pdu = &s->pdu;
    return 1;
}

/*
 * A submit_sm_resp is the gateway's word on a message it may already be
 * delivering: dropping it (the request would end "timeout") or failing
 * its request would invite a resend, and an OTP sent twice. So status 0
 * with no body is a success with an empty message_id, and a body that
 * does not decode still gives its message_id: up to its NUL, or the bytes
 * as sent when the NUL is missing. Either way with a warning. rc is the
 * strict decode's; returns 0 when the pdu holds the answer.
 */
static int submit_resp_lenient(smpp_session *s, const uint8_t *p, size_t n, int rc,
                               const char **warning)
{
    const uint8_t *body = p + SMPP_HEADER_LEN;
    size_t len = n - SMPP_HEADER_LEN;
    const uint8_t *nul;

    if (rc == 0) {
        if (!s->pdu.has_body && s->pdu.command_status == 0)
            *warning = "submit_sm_resp: status 0 with no body, message_id taken as empty";
        return 0;
    }
    nul = memchr(body, 0, len);
    smpp_pdu_clear(&s->pdu);
    s->pdu.command_id = SMPP_SUBMIT_SM_RESP;
    s->pdu.command_status = smpp_get_u32(p + 8);
    s->pdu.sequence_number = smpp_get_u32(p + 12);
    s->pdu.message_id.ptr = body;
    s->pdu.message_id.len = nul != NULL ? (size_t)(nul - body) : len;
    *warning = nul != NULL ? "submit_sm_resp: malformed body, message_id taken up to its NUL"
                           : "submit_sm_resp: message_id without its NUL, taken as sent";
    return 0;
}

/* A framed PDU did not decode: say which and why (smpp_session_error). */
static void note_decode_error(smpp_session *s, uint32_t id, const smpp_error *e)
{
    const char *name = smpp_command_name(id);

    if (name == NULL)
        snprintf(s->error, sizeof(s->error), "%s", e->msg); /* "unknown command_id 0x..." */
    else
        snprintf(s->error, sizeof(s->error), "%s does not decode: %s", name, e->msg);
}

/* Parse one PDU from the input. Returns 1 with an event, 0 when a PDU (or
 * a broken stream) was handled without one, -1 when nothing more can be
 * parsed now. */
static int parse_one(smpp_session *s, smpp_event *ev)
{
    size_t avail = buf_len(&s->in);
    const uint8_t *p;
    uint32_t id, status, seq;
    smpp_error e;
    long n;
    int rc;

    if (avail < SMPP_HEADER_LEN)
        return -1; /* and in.data may still be NULL */
    p = s->in.data + s->in.head;
    n = smpp_frame(p, avail, s->cfg.max_pdu, &e);
    if (n == 0)
        return -1;
    if (n < 0) {
        /* PROTOCOL.md, "Framing": the bytes after a bad command_length
         * can't be trusted; close at once. */
        snprintf(s->error, sizeof(s->error), "broken stream: %s", e.msg);
        session_log(s, SMPP_LOG_ERROR, "%s", s->error);
        session_break(s, SMPP_REASON_PROTOCOL);
        set_last_error(s, s->error);
        return 0;
    }
    if (buf_reserve(&s->mem, &s->out, REPLY_ROOM) != 0) {
        /* The PDU stays for a later call. The peer may send nothing more
         * until it is answered (its bind, say), so ask for a tick: the
         * driver takes events after it, which parses again. */
        retry_later(s);
        return -1;
    }
    s->in.head += (size_t)n;
    s->last_rx = s->now;
    s->stats.pdus_in++;
    rc = smpp_pdu_decode(&s->pdu, p, (size_t)n, &e);
    id = smpp_get_u32(p + 4);
    status = smpp_get_u32(p + 8);
    seq = smpp_get_u32(p + 12);
    if (rc != 0)
        note_decode_error(s, id, &e);

    if (s->cfg.role == SMPP_ROLE_SERVER && s->state == SMPP_STATE_BINDING)
        return on_first_pdu(s, rc, id, seq, ev);
    if (SMPP_IS_RESPONSE(id)) {
        const char *warning = NULL;

        if (id == SMPP_SUBMIT_SM_RESP)
            rc = submit_resp_lenient(s, p, (size_t)n, rc, &warning);
        /* Any other response that does not decode is dropped: its request
         * then ends by timeout (outcome unknown) rather than on a guess. */
        if (rc != 0) {
            session_log(s, SMPP_LOG_WARN, "%s: dropped", s->error);
            return 0;
        }
        rc = on_response(s, id, status, seq, ev);
        if (rc > 0 && ev->type == SMPP_EV_RESULT)
            ev->warning = warning;
        return rc;
    }
    if (rc != 0 && id == s->peer_req) {
        /* Framed but undecodable: the stream is still in step, so answer
         * with generic_nack, RINVCMDLEN (SMPP 3.4 5.1.3: the body does not
         * fit its command_length), and go on. Other requests need no body
         * to be answered (or nacked as unsupported) below. */
        nack(s, seq, SMPP_ESME_RINVCMDLEN);
        session_log(s, SMPP_LOG_WARN, "%s: answered generic_nack ESME_RINVCMDLEN", s->error);
        return 0;
    }
    return on_request(s, id, seq, ev);
}

/* ---- public: lifecycle ------------------------------------------------- */

void smpp_session_config_init(smpp_session_config *config, smpp_role role)
{
    memset(config, 0, sizeof(*config));
    config->role = role;
    config->interface_version = SMPP_VERSION_34;
    config->window = 10;
    config->queue_max = 10000;
    config->max_pdu = SMPP_DEFAULT_MAX_PDU;
    config->out_max = OUT_MAX_DEFAULT;
    config->connect_timeout_ms = 10000;
    config->bind_timeout_ms = 10000;
    config->response_timeout_ms = 10000;
    /* gateway: "send an EnquireLink command every 30 seconds". */
    config->enquire_link_ms = role == SMPP_ROLE_CLIENT ? 30000 : 0;
    config->idle_timeout_ms = 0;
    config->throttle_min_ms = 100;
    config->throttle_max_ms = 5000;
}

static const char *str_or_empty(const char *p)
{
    return p != NULL ? p : "";
}

static void bind_pdu(const smpp_session *s, const smpp_session_config *c, smpp_pdu *pdu)
{
    smpp_pdu_clear(pdu);
    pdu->command_id = SMPP_BIND_TRANSCEIVER;
    pdu->system_id.ptr = (const uint8_t *)str_or_empty(c->system_id);
    pdu->system_id.len = strlen(str_or_empty(c->system_id));
    pdu->password.ptr = (const uint8_t *)str_or_empty(c->password);
    pdu->password.len = strlen(str_or_empty(c->password));
    pdu->system_type.ptr = (const uint8_t *)str_or_empty(c->system_type);
    pdu->system_type.len = strlen(str_or_empty(c->system_type));
    pdu->interface_version = c->interface_version;
    pdu->addr_ton = c->addr_ton;
    pdu->addr_npi = c->addr_npi;
    pdu->address_range.ptr = (const uint8_t *)str_or_empty(c->address_range);
    pdu->address_range.len = strlen(str_or_empty(c->address_range));
    pdu->sequence_number = s != NULL ? s->bind_seq : 1;
}

static int check_config(const smpp_session_config *c, smpp_pdu *scratch, smpp_error *err)
{
    if (c->role != SMPP_ROLE_CLIENT && c->role != SMPP_ROLE_SERVER)
        return smpp_error_set(err, SMPP_ERR_ARG, "role: %d is not client or server", (int)c->role);
    if (c->window < 1 || c->window > SEQ_MAX / 4)
        return smpp_error_set(err, SMPP_ERR_ARG, "window: %u, must be 1..%u", c->window,
                              SEQ_MAX / 4);
    if (c->max_pdu != 0 && c->max_pdu < 256)
        return smpp_error_set(err, SMPP_ERR_ARG, "max_pdu: %u, must be 0 (default) or >= 256",
                              c->max_pdu);
    if (c->connect_timeout_ms <= 0 || c->bind_timeout_ms <= 0 || c->response_timeout_ms <= 0)
        return smpp_error_set(err, SMPP_ERR_ARG,
                              "connect/bind/response_timeout_ms: must be over 0");
    if (c->enquire_link_ms < 0 || c->idle_timeout_ms < 0)
        return smpp_error_set(err, SMPP_ERR_ARG,
                              "enquire_link_ms/idle_timeout_ms: must be 0 (off) or over 0");
    if (c->throttle_min_ms < 1 || c->throttle_max_ms < c->throttle_min_ms)
        return smpp_error_set(err, SMPP_ERR_ARG,
                              "throttle_min_ms/throttle_max_ms: need 1 <= min <= max");
    if (c->retry_count > SMPP_RETRY_MAX)
        return smpp_error_set(err, SMPP_ERR_ARG, "retry: at most %d statuses", SMPP_RETRY_MAX);
    {
        uint32_t i;

        for (i = 0; i < c->retry_count; i++)
            if (c->retry[i].times > 255 || c->retry[i].status == 0)
                return smpp_error_set(err, SMPP_ERR_ARG,
                                      "retry: a status other than 0, 0..255 times");
    }
    if (c->role == SMPP_ROLE_CLIENT) {
        smpp_error e;

        /* The codec knows the field limits (system_id 16 with NUL,
         * password 9, ...): let it name the bad setting. */
        bind_pdu(NULL, c, scratch);
        if (smpp_pdu_encoded_size(scratch, &e) < 0)
            return smpp_error_set(err, SMPP_ERR_ARG, "%s", e.msg);
    }
    return 0;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(str_or_empty(src));

    if (n >= cap)
        n = cap - 1; /* checked already; belt and braces */
    memcpy(dst, str_or_empty(src), n);
    dst[n] = 0;
}

static void *libc_malloc(size_t size, void *user)
{
    (void)user;
    return malloc(size);
}

static void *libc_realloc(void *ptr, size_t size, void *user)
{
    (void)user;
    return realloc(ptr, size);
}

static void libc_free(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

static const smpp_mem libc_mem = {libc_malloc, libc_realloc, libc_free, NULL};

smpp_session *smpp_session_new(const smpp_session_config *config, smpp_ms now, smpp_error *err)
{
    const smpp_mem *m;
    smpp_session *s;

    if (config == NULL) {
        smpp_error_set(err, SMPP_ERR_ARG, "config: NULL");
        return NULL;
    }
    m = config->mem != NULL ? config->mem : &libc_mem;
    if (m->malloc == NULL || m->realloc == NULL || m->free == NULL) {
        smpp_error_set(err, SMPP_ERR_ARG, "mem: malloc, realloc and free are all required");
        return NULL;
    }
    s = m->malloc(sizeof(*s), m->user);
    if (s == NULL) {
        smpp_error_set(err, SMPP_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memset(s, 0, sizeof(*s));
    if (check_config(config, &s->pdu, err) != 0) {
        m->free(s, m->user);
        return NULL;
    }
    s->cfg = *config;
    s->mem = *m;
    s->cfg.mem = &s->mem;
    if (s->cfg.max_pdu == 0)
        s->cfg.max_pdu = SMPP_DEFAULT_MAX_PDU;
    if (s->cfg.out_max == 0)
        s->cfg.out_max = OUT_MAX_DEFAULT;
    copy_str(s->system_id, sizeof(s->system_id), config->system_id);
    copy_str(s->password, sizeof(s->password), config->password);
    copy_str(s->system_type, sizeof(s->system_type), config->system_type);
    copy_str(s->address_range, sizeof(s->address_range), config->address_range);
    s->cfg.system_id = s->system_id;
    s->cfg.password = s->password;
    s->cfg.system_type = s->system_type;
    s->cfg.address_range = s->address_range;

    s->now = now;
    s->next_seq = 1;
    s->req_head = s->req_tail = s->req_free = -1;
    s->el_next = -1;
    s->unbind_deadline = -1;
    s->retry_at = -1;
    s->last_rx = now;
    s->retry_head = s->retry_tail = -1;
    s->throttle_until = INT64_MIN;
    s->bucket_at = now;
    if (s->cfg.rate_x1000 > 0) {
        uint64_t burst = s->cfg.rate_burst;

        if (burst == 0)
            burst = s->cfg.rate_x1000 / 10000; /* a tenth of a second's worth */
        if (burst == 0)
            burst = 1;
        s->tokens_max = (int64_t)burst * TOKEN_UNIT;
        s->tokens = s->tokens_max;
    }
    if (s->cfg.role == SMPP_ROLE_CLIENT) {
        s->state = SMPP_STATE_CONNECTING;
        s->connect_deadline = now + s->cfg.connect_timeout_ms;
        s->bind_deadline = -1;
        s->req_cmd = SMPP_SUBMIT_SM;
        s->peer_req = SMPP_DELIVER_SM;
    } else {
        s->state = SMPP_STATE_BINDING;
        s->connect_deadline = -1;
        s->bind_deadline = now + s->cfg.bind_timeout_ms;
        s->req_cmd = SMPP_DELIVER_SM;
        s->peer_req = SMPP_SUBMIT_SM;
    }
    return s;
}

void smpp_session_free(smpp_session *s)
{
    if (s == NULL)
        return;
    buf_free(&s->mem, &s->in);
    buf_free(&s->mem, &s->out);
    buf_free(&s->mem, &s->queue);
    {
        uint32_t i;

        for (i = 0; i < s->req_cap; i++)
            s->mem.free(s->reqs[i].copy, s->mem.user);
    }
    s->mem.free(s->reqs, s->mem.user);
    s->mem.free(s->htab, s->mem.user);
    /* The session holds the only copy of the allocator it is freed with. */
    {
        smpp_mem m = s->mem;

        m.free(s, m.user);
    }
}

smpp_state smpp_session_state(const smpp_session *s)
{
    return s->state;
}

smpp_reason smpp_session_close_reason(const smpp_session *s)
{
    return s->state == SMPP_STATE_CLOSED ? s->close_reason : SMPP_REASON_NONE;
}

smpp_role smpp_session_role(const smpp_session *s)
{
    return s->cfg.role;
}

const char *smpp_session_error(const smpp_session *s)
{
    return s->error;
}

void smpp_session_get_stats(const smpp_session *s, smpp_session_stats *st)
{
    *st = s->stats;
    st->in_flight = s->in_flight;
    st->queued = s->queued + s->retry_n;
}

int smpp_session_set_next_sequence(smpp_session *s, uint32_t seq)
{
    if (seq < 1 || seq > SEQ_MAX)
        return SMPP_ERR_ARG;
    s->next_seq = seq;
    return 0;
}

int smpp_session_connected(smpp_session *s, smpp_ms now)
{
    smpp_pdu *pdu = &s->pdu;
    uint32_t seq;
    long n;

    if (s->cfg.role != SMPP_ROLE_CLIENT || s->state != SMPP_STATE_CONNECTING)
        return SMPP_ERR_STATE;
    advance(s, now);
    seq = seq_take(s);
    s->bind_seq = seq;
    /* gateway: the first packet must be BindTransceiver. */
    bind_pdu(s, &s->cfg, pdu);
    n = encode_at(s, &s->out, 0, pdu, NULL);
    if (n < 0) {
        s->bind_seq = 0;
        return (int)n; /* NOMEM only: the fields were checked by _new */
    }
    out_commit(s, (size_t)n);
    s->state = SMPP_STATE_BINDING;
    s->connect_deadline = -1;
    s->bind_deadline = s->now + s->cfg.bind_timeout_ms;
    s->last_rx = s->now;
    return 0;
}

void smpp_session_fail(smpp_session *s, smpp_reason reason, smpp_ms now)
{
    if (s->state == SMPP_STATE_CLOSED)
        return;
    advance(s, now);
    if (s->state == SMPP_STATE_UNBINDING) {
        /* We asked to close; the peer closing now is no news. */
        session_end(s, SMPP_REASON_CLOSED, SMPP_OUTCOME_CLOSED, SMPP_OUTCOME_CLOSED, 1);
        return;
    }
    /* gateway: bad credentials just close the socket during bind. */
    if (s->cfg.role == SMPP_ROLE_CLIENT && s->state == SMPP_STATE_BINDING &&
        reason == SMPP_REASON_CONNECTION_LOST)
        reason = SMPP_REASON_AUTH;
    session_break(s, reason);
}

/* ---- public: bytes ------------------------------------------------------ */

/* Parsing moves in.head without releasing bytes, because the last event's
 * pdu borrows them; the space is taken back here, on the next input call. */
static void in_settle(smpp_session *s)
{
    if (s->in.head == s->in.tail)
        buf_consume(&s->mem, &s->in, 0);
}

int smpp_session_recv(smpp_session *s, const uint8_t *data, size_t len)
{
    if (s->state == SMPP_STATE_CLOSED)
        return SMPP_ERR_STATE;
    in_settle(s);
    if (len == 0)
        return 0;
    if (buf_reserve(&s->mem, &s->in, len) != 0)
        return SMPP_ERR_NOMEM;
    memcpy(s->in.data + s->in.tail, data, len);
    s->in.tail += len;
    s->stats.bytes_in += len;
    return 0;
}

int smpp_session_recv_buffer(smpp_session *s, size_t want, uint8_t **buf, size_t *cap)
{
    if (s->state == SMPP_STATE_CLOSED)
        return SMPP_ERR_STATE;
    in_settle(s);
    if (buf_reserve(&s->mem, &s->in, want > 0 ? want : 1) != 0)
        return SMPP_ERR_NOMEM;
    *buf = s->in.data + s->in.tail;
    *cap = s->in.cap - s->in.tail;
    return 0;
}

void smpp_session_recv_commit(smpp_session *s, size_t n)
{
    if (s->state == SMPP_STATE_CLOSED)
        return;
    if (n > s->in.cap - s->in.tail)
        n = s->in.cap - s->in.tail;
    s->in.tail += n;
    s->stats.bytes_in += n;
}

const uint8_t *smpp_session_pending(smpp_session *s, size_t *len)
{
    *len = buf_len(&s->out);
    return *len > 0 ? s->out.data + s->out.head : NULL;
}

const uint8_t *smpp_session_hold(smpp_session *s, size_t *len)
{
    const uint8_t *p = smpp_session_pending(s, len);

    s->out_held = s->stats.bytes_out + *len;
    return p;
}

void smpp_session_sent(smpp_session *s, size_t n)
{
    size_t room = buf_len(&s->out);

    if (s->out_dropped && s->out_held > s->stats.bytes_out)
        /* The output is gone, but the driver still wrote from what it
         * held: those bytes count (their requests may have gone out). */
        room = (size_t)(s->out_held - s->stats.bytes_out);
    if (n > room)
        n = room;
    s->stats.bytes_out += n;
    s->out_held = 0; /* the rest, if any, is the session's again */
    buf_consume(&s->mem, &s->out, n > buf_len(&s->out) ? buf_len(&s->out) : n);
    if (s->queued > 0)
        pump(s);
}

/* ---- public: time -------------------------------------------------------- */

static void send_enquire_link(smpp_session *s)
{
    uint32_t seq = seq_take(s);

    /* gateway: every 30 s regardless of traffic. On out-of-memory this
     * round is skipped; the next one is due an interval later. */
    s->el_next = s->now + s->cfg.enquire_link_ms;
    if (emit_simple(s, SMPP_ENQUIRE_LINK, 0, seq, 0) != 0)
        return;
    s->el_seq = seq;
    s->el_deadline = s->now + s->cfg.response_timeout_ms;
    s->stats.enquire_links_sent++;
}

static int link_up(const smpp_session *s)
{
    return s->state != SMPP_STATE_CONNECTING && s->state != SMPP_STATE_CLOSED;
}

void smpp_session_advance(smpp_session *s, smpp_ms now)
{
    advance(s, now);
}

void smpp_session_tick(smpp_session *s, smpp_ms now)
{
    advance(s, now);
    now = s->now;
    /* Due: pump below and the driver's next_event after this redo the
     * work; they set it again if memory is still short. */
    if (s->retry_at >= 0 && now >= s->retry_at)
        s->retry_at = -1;
    switch (s->state) {
    case SMPP_STATE_CONNECTING:
        if (now >= s->connect_deadline)
            session_break(s, SMPP_REASON_CONNECT_TIMEOUT);
        return;
    case SMPP_STATE_BINDING:
        if (s->bind_deadline >= 0 && now >= s->bind_deadline) {
            session_break(s, SMPP_REASON_BIND_TIMEOUT);
            return;
        }
        break;
    case SMPP_STATE_BOUND:
        if (s->el_seq != 0 && now >= s->el_deadline) {
            /* No enquire_link_resp in time: the link is dead. */
            session_break(s, SMPP_REASON_DEAD_LINK);
            return;
        }
        if (s->el_next >= 0 && now >= s->el_next) {
            if (s->el_seq == 0)
                send_enquire_link(s);
            else
                s->el_next = now + s->cfg.enquire_link_ms; /* one at a time */
        }
        pump(s);
        break;
    case SMPP_STATE_UNBINDING:
        if (now >= s->unbind_deadline) {
            session_end(s, SMPP_REASON_CLOSED, SMPP_OUTCOME_CLOSED, SMPP_OUTCOME_CLOSED, 0);
            return;
        }
        break;
    case SMPP_STATE_CLOSED:
        return;
    }
    if (s->cfg.idle_timeout_ms > 0 && now - s->last_rx >= s->cfg.idle_timeout_ms)
        session_break(s, SMPP_REASON_IDLE);
}

smpp_ms smpp_session_deadline(const smpp_session *s)
{
    smpp_ms d = -1;

    switch (s->state) {
    case SMPP_STATE_CONNECTING:
        return s->connect_deadline;
    case SMPP_STATE_BINDING:
        d = s->bind_deadline;
        break;
    case SMPP_STATE_BOUND: {
        int32_t i = first_due(s);

        d = s->el_next;
        if (s->el_seq != 0)
            d = earliest(d, s->el_deadline);
        if (i >= 0 && !s->in_draining)
            d = earliest(d, s->reqs[i].deadline);
        for (i = s->retry_head; i >= 0; i = s->reqs[i].next)
            d = earliest(d, s->reqs[i].deadline);
        /* A pause or the rate holds back requests that could go. Once it
         * is over (a PDU that came after its end moved the clock past it)
         * they are due at once: a tick moves them. After a failed
         * allocation, retry_at says when to try again instead. */
        if ((s->queued > 0 || s->retry_n > 0) && s->in_flight < s->cfg.window &&
            buf_len(&s->out) < s->cfg.out_max) {
            if (!may_send(s))
                d = earliest(d, send_at(s));
            else if (s->retry_at < 0)
                d = earliest(d, s->now);
        }
        break;
    }
    case SMPP_STATE_UNBINDING:
        d = s->unbind_deadline;
        break;
    case SMPP_STATE_CLOSED:
        return -1;
    }
    if (s->cfg.idle_timeout_ms > 0 && link_up(s))
        d = earliest(d, s->last_rx + s->cfg.idle_timeout_ms);
    return earliest(d, s->retry_at);
}

/* ---- public: events ----------------------------------------------------- */

int smpp_session_next_event(smpp_session *s, smpp_ms now, smpp_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    advance(s, now);
    if (s->done)
        return 0;
    for (;;) {
        int rc;

        if (synthetic_event(s, ev))
            return 1;
        /* Server: hold the stream until the application answers the bind,
         * so nothing is read in the wrong state. */
        if (s->bind_answer_pending)
            return 0;
        rc = parse_one(s, ev);
        if (rc > 0)
            return 1;
        if (rc < 0)
            break;
    }
    /* Input first, then timeouts: an answer that arrived wins over a
     * deadline that passed while the driver was busy. Every request has
     * the same timeout, so only the oldest can be due first, unless one
     * was resent (first_due). */
    if (s->state == SMPP_STATE_BOUND) {
        int32_t i = first_due(s);

        if (i >= 0 && s->reqs[i].deadline <= s->now) {
            /* Those due whose bytes all still wait here must never go out
             * after their outcome: take them out now, all in one pass. */
            cut_unwritten(s, s->now);
            end_in_flight(s, hash_find(s, s->reqs[i].seq), ev, SMPP_OUTCOME_TIMEOUT, 0, NULL);
            pump(s);
            return 1;
        }
        /* Waiting to be resent when its time ran out: its last answer
         * (which said the message was not taken) is its outcome. */
        for (i = s->retry_head; i >= 0; i = s->reqs[i].next)
            if (s->reqs[i].deadline <= s->now)
                break;
        if (i >= 0) {
            int32_t *link = &s->retry_head, prev = -1;

            while (*link != i) {
                prev = *link;
                link = &s->reqs[*link].next;
            }
            *link = s->reqs[i].next;
            if (s->retry_tail == i)
                s->retry_tail = prev;
            s->retry_n--;
            req_release(s, i); /* leaves token and last_status alone */
            result(s, ev, s->reqs[i].token, s->reqs[i].seq, SMPP_OUTCOME_RESPONSE,
                   s->reqs[i].last_status, NULL);
            return 1;
        }
    }
    return 0;
}

/* ---- public: requests ---------------------------------------------------- */

int smpp_session_submit(smpp_session *s, const smpp_pdu *pdu, uint64_t token, smpp_ms now,
                        smpp_error *err)
{
    long n;

    if (s->state == SMPP_STATE_CLOSED && s->close_reason != SMPP_REASON_CLOSED && !s->app_closed)
        return smpp_error_set(err, SMPP_ERR_NOT_SENT, "not sent: the link ended (%s)",
                              smpp_reason_name(s->close_reason));
    if (s->state == SMPP_STATE_UNBINDING || s->state == SMPP_STATE_CLOSED)
        return smpp_error_set(err, SMPP_ERR_STATE, "session is %s", smpp_state_name(s->state));
    if (pdu == NULL || pdu->command_id != s->req_cmd)
        return smpp_error_set(err, SMPP_ERR_ARG, "command_id: this session sends only %s",
                              smpp_command_name(s->req_cmd));
    advance(s, now);

    if (s->state == SMPP_STATE_BOUND && s->queued == 0 && s->retry_n == 0 &&
        s->in_flight < s->cfg.window && buf_len(&s->out) < s->cfg.out_max && may_send(s)) {
        /* Hot path: straight into the output, no copy. */
        int32_t idx = req_alloc(s);

        if (idx < 0)
            return smpp_error_set(err, SMPP_ERR_NOMEM, "out of memory");
        n = encode_at(s, &s->out, 0, pdu, err);
        if (n >= 0 && req_keep_room(s, idx, (size_t)n) != 0)
            n = smpp_error_set(err, SMPP_ERR_NOMEM, "out of memory");
        if (n < 0) {
            req_release(s, idx);
            return (int)n;
        }
        s->reqs[idx].token = token;
        s->reqs[idx].tries = 0;
        send_request(s, idx, (size_t)n);
    } else {
        uint8_t *p;

        if (s->queued >= s->cfg.queue_max)
            return smpp_error_set(err, SMPP_ERR_QUEUE_FULL, "queue full: %u requests wait",
                                  s->queued);
        n = encode_at(s, &s->queue, QREC_HEAD, pdu, err);
        if (n < 0)
            return (int)n;
        p = s->queue.data + s->queue.tail;
        memcpy(p, &token, sizeof(token));
        s->queue.tail += QREC_HEAD + (size_t)n;
        s->queued++;
        /* A pause or the rate may have ended since the last call, with
         * requests still waiting from it: they go now, in order. */
        pump(s);
    }
    s->stats.submitted++;
    return 0;
}

void smpp_session_close(smpp_session *s, int graceful, smpp_ms now)
{
    uint32_t seq;

    /* From now on a submit is refused as "closed", the program's word,
     * even when the link had already ended by itself. */
    s->app_closed = 1;
    if (s->state == SMPP_STATE_CLOSED || (graceful && s->state == SMPP_STATE_UNBINDING))
        return;
    advance(s, now);
    if (!graceful || s->state != SMPP_STATE_BOUND) {
        session_end(s, SMPP_REASON_CLOSED, SMPP_OUTCOME_CLOSED, SMPP_OUTCOME_CLOSED, 0);
        return;
    }
    /* SMPP 3.4 4.2: unbind, then wait for unbind_resp. Requests not yet
     * answered end now (the application asked to stop waiting); those not
     * written at all don't go out after that. */
    cut_unwritten(s, INT64_MAX);
    seq = seq_take(s);
    if (emit_simple(s, SMPP_UNBIND, 0, seq, 0) != 0) {
        session_end(s, SMPP_REASON_CLOSED, SMPP_OUTCOME_CLOSED, SMPP_OUTCOME_CLOSED, 0);
        return;
    }
    s->state = SMPP_STATE_UNBINDING;
    s->unbind_seq = seq;
    s->unbind_deadline = s->now + s->cfg.response_timeout_ms;
    s->el_next = -1;
    s->el_seq = 0;
    s->ended_at = s->now;
    s->in_draining = 1;
    s->in_outcome = SMPP_OUTCOME_CLOSED;
    s->queue_draining = 1;
    s->queue_outcome = SMPP_OUTCOME_CLOSED;
}

/* ---- public: server ------------------------------------------------------ */

int smpp_session_accept_bind(smpp_session *s, uint32_t status, smpp_ms now)
{
    static const uint8_t version = SMPP_VERSION_34;
    smpp_pdu *pdu = &s->pdu;
    long n;

    if (s->cfg.role != SMPP_ROLE_SERVER || !s->bind_answer_pending)
        return SMPP_ERR_STATE;
    advance(s, now);
    smpp_pdu_clear(pdu);
    pdu->command_id = SMPP_BIND_TRANSCEIVER_RESP;
    pdu->command_status = status;
    pdu->sequence_number = s->bind_seq;
    if (status == 0) {
        /* gateway: "fill the system_id field with a value matching the
         * received system_id"; SMPP 3.4 4.1.6: sc_interface_version. */
        pdu->system_id.ptr = (const uint8_t *)s->system_id;
        pdu->system_id.len = strlen(s->system_id);
        pdu->tlvs[0].tag = SMPP_TLV_SC_INTERFACE_VERSION;
        pdu->tlvs[0].len = 1;
        pdu->tlvs[0].value = &version;
        pdu->tlv_count = 1;
    } else {
        pdu->has_body = 0; /* SMPP 3.4: no body on a failed bind */
    }
    n = encode_at(s, &s->out, 0, pdu, NULL);
    if (n < 0)
        return (int)n;
    out_commit(s, (size_t)n);
    s->bind_answer_pending = 0;
    if (status == 0)
        start_bound(s);
    else
        session_end(s, SMPP_REASON_REJECTED, SMPP_OUTCOME_LOST, SMPP_OUTCOME_NOT_SENT, 0);
    return 0;
}

void smpp_session_reject_bind(smpp_session *s, smpp_ms now)
{
    if (s->cfg.role != SMPP_ROLE_SERVER || !s->bind_answer_pending)
        return;
    advance(s, now);
    /* gateway: on bad credentials it just closes the socket. */
    session_break(s, SMPP_REASON_REJECTED);
}

int smpp_session_respond(smpp_session *s, uint32_t command_id, uint32_t sequence_number,
                         uint32_t status, const char *message_id, size_t message_id_len,
                         smpp_error *err)
{
    smpp_pdu pdu;
    long n;

    if (s->cfg.role != SMPP_ROLE_SERVER || command_id != SMPP_SUBMIT_SM)
        return smpp_error_set(err, SMPP_ERR_ARG, "command_id: only submit_sm is answered here");
    if (sequence_number < 1 || sequence_number > SEQ_MAX)
        return smpp_error_set(err, SMPP_ERR_ARG, "sequence_number: %u, must be 1..0x7FFFFFFF",
                              sequence_number);
    if (s->state != SMPP_STATE_BOUND && s->state != SMPP_STATE_UNBINDING)
        return smpp_error_set(err, SMPP_ERR_STATE, "session is %s", smpp_state_name(s->state));
    smpp_pdu_clear(&pdu);
    pdu.command_id = SMPP_SUBMIT_SM_RESP;
    pdu.command_status = status;
    pdu.sequence_number = sequence_number;
    if (status == 0) {
        pdu.message_id.ptr = (const uint8_t *)message_id;
        pdu.message_id.len = message_id != NULL ? message_id_len : 0;
    } else {
        pdu.has_body = 0; /* SMPP 3.4 4.4.2: body may be absent on error */
    }
    n = encode_at(s, &s->out, 0, &pdu, err);
    if (n < 0)
        return (int)n;
    out_commit(s, (size_t)n);
    return 0;
}

/* ---- names ---------------------------------------------------------------- */

const char *smpp_reason_name(smpp_reason reason)
{
    switch (reason) {
    case SMPP_REASON_NONE:
        return "none";
    case SMPP_REASON_CLOSED:
        return "closed";
    case SMPP_REASON_CONNECT_REFUSED:
        return "connection refused";
    case SMPP_REASON_CONNECT_TIMEOUT:
        return "connect timeout";
    case SMPP_REASON_DNS:
        return "dns failure";
    case SMPP_REASON_CONNECT_ERROR:
        return "connect error";
    case SMPP_REASON_BIND_TIMEOUT:
        return "bind timeout";
    case SMPP_REASON_AUTH:
        return "authentication failed";
    case SMPP_REASON_BIND_STATUS:
        return "bind failed";
    case SMPP_REASON_CONNECTION_LOST:
        return "connection lost";
    case SMPP_REASON_PEER_UNBIND:
        return "peer unbind";
    case SMPP_REASON_DEAD_LINK:
        return "dead link";
    case SMPP_REASON_IDLE:
        return "idle timeout";
    case SMPP_REASON_PROTOCOL:
        return "protocol error";
    case SMPP_REASON_REJECTED:
        return "rejected";
    }
    return "unknown";
}

const char *smpp_outcome_name(smpp_outcome outcome)
{
    switch (outcome) {
    case SMPP_OUTCOME_RESPONSE:
        return "response";
    case SMPP_OUTCOME_NACK:
        return "generic_nack";
    case SMPP_OUTCOME_TIMEOUT:
        return "timeout";
    case SMPP_OUTCOME_LOST:
        return "connection lost";
    case SMPP_OUTCOME_NOT_SENT:
        return "not sent";
    case SMPP_OUTCOME_CLOSED:
        return "closed";
    }
    return "unknown";
}

const char *smpp_log_level_name(smpp_log_level level)
{
    switch (level) {
    case SMPP_LOG_ERROR:
        return "error";
    case SMPP_LOG_WARN:
        return "warn";
    case SMPP_LOG_INFO:
        return "info";
    case SMPP_LOG_DEBUG:
        return "debug";
    }
    return "unknown";
}

const char *smpp_state_name(smpp_state state)
{
    switch (state) {
    case SMPP_STATE_CONNECTING:
        return "connecting";
    case SMPP_STATE_BINDING:
        return "binding";
    case SMPP_STATE_BOUND:
        return "bound";
    case SMPP_STATE_UNBINDING:
        return "unbinding";
    case SMPP_STATE_CLOSED:
        return "closed";
    }
    return "unknown";
}
