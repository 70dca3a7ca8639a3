/*
 * smpp_session.h - the SMPP protocol session, with no I/O and no clock.
 *
 * In the shape of nghttp2's session and hiredis's reader: bytes in
 * (smpp_session_recv, or recv_buffer + recv_commit to read straight into
 * the session), bytes out (smpp_session_pending + smpp_session_sent), time
 * in (every call that can move time takes `now` in milliseconds from any
 * monotonic origin), the next deadline out (smpp_session_deadline), and
 * events out one at a time (smpp_session_next_event).
 *
 * One session serves either role:
 *  - client (ESME): binds with bind_transceiver, submits submit_sm, keeps
 *    the link alive with enquire_link, answers enquire_link, unbind and
 *    every deliver_sm itself, and reports receipts as events;
 *  - server (the gateway side, for the simulator): checks the first PDU is
 *    bind_transceiver, reports bind and submit requests as events for the
 *    application to answer, and sends deliver_sm with the same window
 *    bookkeeping the client uses for submit_sm.
 *
 * Incoming PDUs are parsed lazily by smpp_session_next_event, one per
 * event, so an event's pdu points into the session's input buffer and is
 * valid until the next call on the session. (Precisely: until the next
 * next_event, recv, recv_buffer, accept_bind or free. submit, respond,
 * pending, sent, tick, close and fail leave it alone, so a driver may
 * answer a REQUEST before it is done reading the pdu; read a BIND_REQUEST's
 * pdu before accept_bind, which builds its answer in the same place.) The
 * session never calls out: drivers dispatch each event after the call
 * returns (so user code never runs while the session is parsing).
 *
 * PDUs the session handles itself (enquire_link and its resp, unbind_resp,
 * responses to requests that already ended, generic_nack it sends) give no
 * event; next_event parses past them until one PDU gives an event or the
 * input runs out.
 *
 * Memory (from config->mem, see smpp_mem): buffers are allocated on first
 * use and grow by doubling; one larger than 64 KiB is given back when it
 * empties. A failed allocation loses nothing: the call that needed it
 * returns SMPP_ERR_NOMEM and changes nothing, or the work waits for a
 * retry (see smpp_session_deadline). The input buffer is
 * as large as the biggest `want` the driver passes to recv_buffer (plus a
 * partial PDU), so a driver serving many idle links should ask for a few
 * KiB, not 64.
 *
 * Rules kept here (PROTOCOL.md, "What the gateway expects of a client"):
 * nothing but bind is sent before bound; sequence numbers 1..0x7FFFFFFF
 * wrap back to 1; at most `window` requests in flight, and none moves into
 * the output while out_max bytes of it are unwritten: the rest wait in a
 * bounded FIFO; every request sent through smpp_session_submit ends in
 * exactly one SMPP_EV_RESULT event, whatever happens; enquire_link every
 * enquire_link_ms; no enquire_link_resp within response_timeout_ms closes
 * the link as dead.
 */
#ifndef SMPP_SESSION_H
#define SMPP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "smpp_error.h"
#include "smpp_pdu.h"

typedef int64_t smpp_ms;

/* Statuses smpp_session_config.retry can name. */
#define SMPP_RETRY_MAX 8
/* Distinct answer statuses and receipt stats counted one by one in
 * smpp_session_stats; the rest add up in the last entry (status
 * 0xFFFFFFFF, stat "OTHER"). */
#define SMPP_STATS_STATUSES 16
#define SMPP_STATS_STATS 12

typedef enum smpp_role { SMPP_ROLE_CLIENT = 0, SMPP_ROLE_SERVER = 1 } smpp_role;

typedef enum smpp_state {
    SMPP_STATE_CONNECTING = 0, /* client: waiting for the driver's connect */
    SMPP_STATE_BINDING,        /* client: bind sent; server: waiting for bind */
    SMPP_STATE_BOUND,
    SMPP_STATE_UNBINDING, /* unbind sent, waiting for unbind_resp */
    SMPP_STATE_CLOSED     /* driver should flush pending output and close */
} smpp_state;

/* Why a bind failed or a session closed. */
typedef enum smpp_reason {
    SMPP_REASON_NONE = 0,
    SMPP_REASON_CLOSED,          /* the application closed it */
    SMPP_REASON_CONNECT_REFUSED, /* driver: connection refused */
    SMPP_REASON_CONNECT_TIMEOUT, /* no connection within connect_timeout_ms */
    SMPP_REASON_DNS,             /* driver: host name did not resolve */
    SMPP_REASON_CONNECT_ERROR,   /* driver: other connect error */
    SMPP_REASON_BIND_TIMEOUT,    /* no bind_transceiver_resp in time */
    SMPP_REASON_AUTH,            /* gateway closed the socket during bind:
                                    its way to say "bad credentials" */
    SMPP_REASON_BIND_STATUS,     /* bind_transceiver_resp with status != 0 */
    SMPP_REASON_CONNECTION_LOST, /* peer closed or I/O error while bound */
    SMPP_REASON_PEER_UNBIND,     /* peer sent unbind */
    SMPP_REASON_DEAD_LINK,       /* enquire_link unanswered in time */
    SMPP_REASON_IDLE,            /* server: nothing received for idle_timeout_ms */
    SMPP_REASON_PROTOCOL,        /* broken stream or peer broke the protocol */
    SMPP_REASON_REJECTED         /* server: bind refused by the application */
} smpp_reason;

/* How one request ended. */
typedef enum smpp_outcome {
    SMPP_OUTCOME_RESPONSE = 0, /* answered; status says how (0 = success) */
    SMPP_OUTCOME_NACK,         /* generic_nack for its sequence number */
    SMPP_OUTCOME_TIMEOUT,      /* no answer within response_timeout_ms,
                                  and its bytes were written (wholly or
                                  partly): the message may have gone out */
    SMPP_OUTCOME_LOST,         /* link went down after it was written:
                                  outcome unknown, it may have gone out */
    SMPP_OUTCOME_NOT_SENT,     /* it surely did not go out: the link went
                                  down (or the bind failed) before its bytes
                                  were all written, or its response timeout
                                  (or the peer's unbind) came before any of
                                  them were, and they were taken back out
                                  of the output (see smpp_session_sent) */
    SMPP_OUTCOME_CLOSED        /* the application closed the session */
} smpp_outcome;

typedef enum smpp_event_type {
    SMPP_EV_NONE = 0,
    SMPP_EV_BOUND,        /* client: bound; pdu = bind_transceiver_resp */
    SMPP_EV_BIND_FAILED,  /* client: reason (+ status for BIND_STATUS,
                             from a bind_transceiver_resp or a generic_nack
                             of the bind); a CLOSED event follows. Every
                             way a client ends before BOUND gives one. */
    SMPP_EV_RESULT,       /* a request from smpp_session_submit ended:
                             token, command_id, outcome, status, pdu = the
                             response when outcome is RESPONSE or NACK */
    SMPP_EV_DELIVER,      /* client: deliver_sm received (already answered
                             with deliver_sm_resp); pdu = the deliver_sm */
    SMPP_EV_BIND_REQUEST, /* server: bind_transceiver received; pdu has
                             system_id and password. Answer with
                             smpp_session_accept_bind or _reject_bind. */
    SMPP_EV_REQUEST,      /* server: submit_sm received; answer it with
                             smpp_session_respond (now, later or never) */
    SMPP_EV_UNBOUND,      /* peer sent unbind (answered) or our unbind was
                             answered; a CLOSED event follows */
    SMPP_EV_CLOSED,       /* last event of a session: reason */
    SMPP_EV_LOG           /* something a log should show: level, message
                             (an answer for an unknown or ended sequence
                             number, an unexpected PDU, a throttle pause,
                             a retry). Never changes what other events
                             say; a driver may drop it. */
} smpp_event_type;

typedef enum smpp_log_level {
    SMPP_LOG_ERROR = 0,
    SMPP_LOG_WARN,
    SMPP_LOG_INFO,
    SMPP_LOG_DEBUG
} smpp_log_level;

typedef struct smpp_event {
    smpp_event_type type;
    uint64_t token;           /* RESULT: the caller's token */
    uint32_t command_id;      /* RESULT: the request's command id */
    uint32_t sequence_number; /* RESULT/REQUEST/DELIVER: of the request;
                                 0 for a RESULT of a request never sent */
    smpp_outcome outcome;     /* RESULT */
    uint32_t status;          /* RESULT, BIND_FAILED: command_status */
    smpp_reason reason;       /* BIND_FAILED, CLOSED */
    const smpp_pdu *pdu;      /* borrowed until the next session call; NULL
                                 when the event has no PDU */
    const char *warning;      /* RESULT: static text when the answer was
                                 taken leniently (a submit_sm_resp with no
                                 body, or a message_id without its NUL,
                                 which is then the bytes as sent); NULL
                                 otherwise */
    smpp_log_level level;     /* LOG */
    const char *message;      /* LOG: valid until the next session call */
} smpp_event;

/*
 * Where the session gets its memory: the session itself, its input,
 * output and queue buffers, and the table of requests in flight. Each
 * function gets `user` as its last argument and keeps the libc contract:
 * NULL on failure (the session then returns SMPP_ERR_NOMEM from the call
 * that needed the memory, see each function), realloc(NULL, n) allocates
 * and free(NULL) does nothing. Sizes passed are never 0.
 * smpp_session_new copies the struct, so it may be a temporary; the three
 * functions and whatever `user` points at must outlive the session (until
 * smpp_session_free returns). For tests with failing allocators, and for
 * hosts that account memory per connection.
 */
typedef struct smpp_mem {
    void *(*malloc)(size_t size, void *user);
    void *(*realloc)(void *ptr, size_t size, void *user);
    void (*free)(void *ptr, void *user);
    void *user;
} smpp_mem;

typedef struct smpp_session_config {
    smpp_role role;
    /* client bind fields; copied by smpp_session_new */
    const char *system_id;
    const char *password;
    const char *system_type;
    uint8_t interface_version; /* 0x34 */
    uint8_t addr_ton;
    uint8_t addr_npi;
    const char *address_range;

    uint32_t window;    /* requests in flight at most; default 10 */
    uint32_t queue_max; /* requests waiting for the window; default 10000 */
    uint32_t max_pdu;   /* framing cap; default 65536 */
    uint32_t out_max;   /* bytes of unwritten output at or over which
                           requests wait in the queue instead of being
                           encoded into the output (the bytes the session
                           writes itself, answers and keep-alive, are not
                           held back); 0 = default 262144 */

    smpp_ms connect_timeout_ms;  /* client, 10000 */
    smpp_ms bind_timeout_ms;     /* client; server: time allowed for the
                                    first PDU. 10000 */
    smpp_ms response_timeout_ms; /* per request, and for enquire_link_resp
                                    and unbind_resp. 10000 */
    smpp_ms enquire_link_ms;     /* send enquire_link this often while
                                    bound; 0 = never. Client 30000 (gateway:
                                    every 30 s +-5 s), server 0 */
    smpp_ms idle_timeout_ms;     /* close after nothing received this long;
                                    0 = never (default) */

    /* Flow control. An answer ESME_RTHROTTLED (0x58) or ESME_RMSGQFUL
     * (0x14) pauses moving requests into the output for throttle_min_ms,
     * doubling with each such answer after a pause ended, up to
     * throttle_max_ms; a success answered after a pause ended resets the
     * interval. Answers to requests sent before a pause, arriving during
     * it, don't extend it. rate_x1000 (requests per second times 1000;
     * 0 = no limit) caps sends with a token bucket of rate_burst
     * requests (0 = a tenth of a second's worth, at least 1), full at
     * the start. Both show in smpp_session_deadline. */
    smpp_ms throttle_min_ms; /* 100 */
    smpp_ms throttle_max_ms; /* 5000 */
    uint32_t rate_x1000;     /* 0 */
    uint32_t rate_burst;     /* 0 = default */
    /* Retry: a request answered with retry[i].status (RESPONSE, not a
     * nack) goes back to the head of the queue, to be sent again with a
     * new sequence number after any pause, while it was retried fewer
     * than retry[i].times times in all. It keeps the deadline of its
     * first send; one whose deadline passes (or would pass before the
     * pause ends) while waiting ends with the last answer's status (pdu
     * NULL). Its one RESULT comes when it finally ends. Retrying keeps a
     * copy of every request in flight. None by default. */
    struct {
        uint32_t status;
        uint32_t times; /* 0..255 */
    } retry[SMPP_RETRY_MAX];
    uint32_t retry_count;
    const smpp_mem *mem; /* allocator; NULL (default) = libc's */
} smpp_session_config;

typedef struct smpp_session_stats {
    uint64_t submitted;    /* requests accepted by smpp_session_submit */
    uint64_t sent;         /* of those, put in the output and not taken back */
    uint64_t succeeded;    /* RESULT with RESPONSE and status 0 */
    uint64_t failed;       /* every other RESULT */
    uint64_t delivered_in; /* deliver_sm received (client) */
    uint64_t requests_in;  /* submit_sm received (server) */
    uint64_t enquire_links_sent;
    uint64_t pdus_in; /* PDUs framed from the input, every command */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint32_t in_flight;
    uint32_t queued;    /* waiting for the window, retries included */
    uint64_t throttled; /* pauses begun by a throttling answer */
    uint64_t retries;   /* requests put back to be sent again */
    /* Answers to our requests by status (every answer, retried ones
     * included), n_answers entries used. */
    struct {
        uint32_t status;
        uint64_t count;
    } answers[SMPP_STATS_STATUSES];
    uint32_t n_answers;
    /* Receipts received by stat word ("DELIVRD"; "UNKNOWN" when none). */
    struct {
        char stat[8];
        uint64_t count;
    } receipt_stats[SMPP_STATS_STATS];
    uint32_t n_receipt_stats;
    /* The last failure seen: a request's ("ESME_RTHROTTLED", "timeout"),
     * the link's ("connection lost") or the stream's; "" when none. */
    char last_error[96];
} smpp_session_stats;

typedef struct smpp_session smpp_session;

/* Fill config with the defaults above for role. */
void smpp_session_config_init(smpp_session_config *config, smpp_role role);

/*
 * Create a session. Strings in config and *config->mem are copied. The
 * clock starts at now: a client is CONNECTING (deadline now +
 * connect_timeout_ms), a server is BINDING (deadline now + bind_timeout_ms
 * for the first PDU).
 * Returns NULL with err filled (SMPP_ERR_ARG naming the bad setting, e.g.
 * a system_id over 15 bytes or a mem with a NULL function, or
 * SMPP_ERR_NOMEM).
 */
smpp_session *smpp_session_new(const smpp_session_config *config, smpp_ms now, smpp_error *err);
void smpp_session_free(smpp_session *s);

smpp_state smpp_session_state(const smpp_session *s);
smpp_role smpp_session_role(const smpp_session *s);
void smpp_session_get_stats(const smpp_session *s, smpp_session_stats *st);

/* Client: the driver's TCP connect finished; queues bind_transceiver.
 * Returns 0, SMPP_ERR_STATE (not a client, or not CONNECTING) or
 * SMPP_ERR_NOMEM (still CONNECTING; call _fail or try again). */
int smpp_session_connected(smpp_session *s, smpp_ms now);

/* Set the sequence number the next request, bind, unbind or enquire_link
 * takes (1..0x7FFFFFFF; numbers still in flight are skipped as always).
 * For tests of the wrap at 0x7FFFFFFF. Returns 0 or SMPP_ERR_ARG. */
int smpp_session_set_next_sequence(smpp_session *s, uint32_t seq);

/* The driver failed to connect or lost the link (EOF, I/O error).
 * reason: CONNECT_REFUSED, DNS, CONNECT_ERROR, or CONNECTION_LOST; a
 * CONNECTION_LOST while binding becomes SMPP_REASON_AUTH (the gateway
 * closes the socket on bad credentials). Ends every request and queues
 * the CLOSED event. Idempotent. */
void smpp_session_fail(smpp_session *s, smpp_reason reason, smpp_ms now);

/* Bytes from the peer: copied in. Returns 0, SMPP_ERR_STATE once closed,
 * or SMPP_ERR_NOMEM. Call next_event until it returns 0 afterwards. */
int smpp_session_recv(smpp_session *s, const uint8_t *data, size_t len);
/* Zero-copy form: space for at least `want` bytes at *buf (*cap bytes in
 * all), then commit how many the driver actually read. */
int smpp_session_recv_buffer(smpp_session *s, size_t want, uint8_t **buf, size_t *cap);
void smpp_session_recv_commit(smpp_session *s, size_t n);

/* Bytes to write: pointer valid until the next call on the session; *len 0
 * (and NULL) when there is nothing to write.
 *
 * Bytes not yet reported by smpp_session_sent still belong to the session:
 * a request none of whose bytes were written when its response timeout
 * passes (or when the peer unbinds, or the application closes) is taken
 * back out of them and ends NOT_SENT (CLOSED for the application's close),
 * so that nothing is written after its outcome was reported. A driver that
 * hands the bytes to a writer of its own must therefore call sent() as soon
 * as the writer has them, before any other call on the session.
 *
 * In CLOSED: when the session closed because the link broke (fail, broken
 * stream, dead link, idle, timeouts, reject_bind) the output was thrown
 * away and *len is 0. When it closed in order (the application's close,
 * the peer's unbind answered with unbind_resp, our unbind answered,
 * accept_bind with a status) the last bytes may still wait here: the
 * driver should flush them if the socket takes them at once (a
 * non-blocking write, or a short grace period), then close the socket.
 * Nothing depends on it: every outcome was already decided. */
const uint8_t *smpp_session_pending(smpp_session *s, size_t *len);
/* pending() for a driver that keeps the bytes past this call (a copy for a
 * writer that may still be writing them while the driver calls the session
 * again): until the driver's next smpp_session_sent, the session counts
 * them as written. It never takes a request back out of them, and one in
 * them ends LOST, not NOT_SENT, if the link breaks meanwhile. sent(n) then
 * says how many were written (the rest, if any, is the session's again),
 * even after the link broke. */
const uint8_t *smpp_session_hold(smpp_session *s, size_t *len);
/* n bytes of pending output were written. Requests waiting for the
 * output to drain below out_max move into it here. */
void smpp_session_sent(smpp_session *s, size_t n);

/* Move the clock to now (it never goes back) and nothing else: no timer
 * runs. For a driver that knows when bytes arrived but takes events
 * later. */
void smpp_session_advance(smpp_session *s, smpp_ms now);

/* Advance the clock: fires keep-alive, timeouts, dead-link checks, and
 * retries work an allocation failure put off. Events it causes come out
 * of next_event. */
void smpp_session_tick(smpp_session *s, smpp_ms now);
/* Earliest time tick must be called, or -1 when no timer runs. After an
 * allocation failed inside a call that returns nothing (a queued request
 * not yet moved into the window, a received PDU not yet parsed), it is a
 * few milliseconds away, so the work is retried even if the peer sends
 * nothing; the driver then takes events as after any tick. */
smpp_ms smpp_session_deadline(const smpp_session *s);

/* Next event into ev: returns 1, or 0 when there is none right now.
 * Parses at most one incoming PDU that gives an event per call. Order:
 * BIND_FAILED, then results of requests ended by a close (in flight
 * oldest first, then the queue in order), then CLOSED; otherwise the
 * next PDU's event; then requests whose response timeout passed (checked
 * after the input, so an answer already received wins). A server that
 * handed out BIND_REQUEST reads nothing more until accept_bind or
 * reject_bind. After CLOSED it returns 0 for ever. */
int smpp_session_next_event(smpp_session *s, smpp_ms now, smpp_event *ev);

/*
 * Queue a request: submit_sm for a client, deliver_sm for a server (the
 * pdu's command_id must be that, else SMPP_ERR_ARG; sequence_number is
 * assigned here, the pdu's own is ignored, and command_status is sent as
 * 0 whatever the pdu holds). The pdu is only read during the call: it
 * is encoded and checked at once, and a field over its limit returns
 * SMPP_ERR_LIMIT / SMPP_ERR_FIELD naming it, with nothing queued (also
 * SMPP_ERR_LIMIT for a PDU over max_pdu). SMPP_ERR_QUEUE_FULL when
 * queue_max requests already wait; SMPP_ERR_STATE once the application
 * closed the session (unbinding, closed with reason CLOSED, or
 * smpp_session_close called after the link had ended by itself);
 * SMPP_ERR_NOT_SENT once it closed for any other reason and the
 * application has not called close (the peer, the network, a failed
 * bind: the request surely did not go out);
 * SMPP_ERR_NOMEM. On 0 the request will end in exactly one
 * SMPP_EV_RESULT carrying token. Before BOUND requests wait in the queue.
 */
int smpp_session_submit(smpp_session *s, const smpp_pdu *pdu, uint64_t token, smpp_ms now,
                        smpp_error *err);

/*
 * Close. graceful != 0 and bound: every request not yet answered ends with
 * CLOSED, unbind is sent, and the session closes on unbind_resp (event
 * UNBOUND) or after response_timeout_ms. Otherwise (or not bound) it
 * closes at once; a client not yet bound then also gets BIND_FAILED with
 * reason CLOSED. Either way, a CLOSED event (reason CLOSED) ends the event
 * stream. Idempotent; close(0) during UNBINDING stops waiting.
 */
void smpp_session_close(smpp_session *s, int graceful, smpp_ms now);

/* Server: answer a BIND_REQUEST. status 0 sends bind_transceiver_resp
 * echoing system_id (with TLV sc_interface_version 0x34) and moves to
 * BOUND; otherwise it sends a bodyless resp with that status and closes
 * (reason REJECTED; flush pending output before closing the socket).
 * Returns 0, SMPP_ERR_STATE when no BIND_REQUEST waits, SMPP_ERR_NOMEM. */
int smpp_session_accept_bind(smpp_session *s, uint32_t status, smpp_ms now);
/* Server: refuse a bind by closing the socket with no answer, as the
 * gateway does on bad credentials (reason REJECTED). */
void smpp_session_reject_bind(smpp_session *s, smpp_ms now);

/* Server: answer request sequence_number of command_id (submit_sm) with a
 * submit_sm_resp of status and message_id (message_id ignored and the body
 * left out when status != 0). SMPP_ERR_LIMIT for a message_id over 64,
 * SMPP_ERR_ARG for another command_id or a sequence number outside
 * 1..0x7FFFFFFF, SMPP_ERR_STATE unless BOUND or UNBINDING. The session
 * does not check that the request exists or was not answered already. */
int smpp_session_respond(smpp_session *s, uint32_t command_id, uint32_t sequence_number,
                         uint32_t status, const char *message_id, size_t message_id_len,
                         smpp_error *err);

/* Why the session closed: SMPP_REASON_NONE until it is CLOSED. */
smpp_reason smpp_session_close_reason(const smpp_session *s);

/* What last failed to frame or decode in the input, and why: "broken
 * stream: command_length 70000 is over the cap of 65536 bytes",
 * "submit_sm does not decode: ...", "first PDU was submit_sm, not
 * bind_transceiver", "unknown command_id 0x00000099". Sticky: the latest
 * such error stays until the session is freed. "" when there was none.
 * Owned by the session, valid until the next call on it. */
const char *smpp_session_error(const smpp_session *s);

/* Static names for logs and Lua error tokens. */
const char *smpp_reason_name(smpp_reason reason);      /* "authentication failed" ... */
const char *smpp_outcome_name(smpp_outcome outcome);   /* "timeout" ... */
const char *smpp_state_name(smpp_state state);         /* "bound" ... */
const char *smpp_log_level_name(smpp_log_level level); /* "warn" ... */

#endif
