/*
 * lsmpp_ev_link.h - the link layer of smpp.ev: one smpp_session driven
 * over one non-blocking socket (a client, or one accepted connection of a
 * server). The link does the socket I/O (connect, read, write), drains
 * the session's events, calls the requests' callbacks, traces, and shuts
 * down; everything else about an event it hands to its owner, and it
 * reaches its owner only through the owner's lev_link_ops.
 *
 * Writes are coalesced: a wakeup of a link reads what the socket has,
 * dispatches every event, then writes once. A session call the
 * application makes from inside the loop (a callback, a timer) only marks
 * its link dirty; the dirty links are written after the wakeup that runs
 * the call, or at the latest by a prepare watcher just before the loop
 * blocks, and when ev.run/run_once return. From outside the loop the call
 * writes at once. Every path ends in a "settle" (write, then sync the
 * watchers), so output is never left pending with neither the write
 * watcher armed nor the link on the dirty list: that would be a lost
 * wakeup, a link stalled until something else happens to wake it.
 */
#ifndef LSMPP_EV_LINK_H
#define LSMPP_EV_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "lsmpp_ev.h"
#include "smpp_ev_adapter.h"
#include "smpp_session.h"

struct addrinfo;
struct lev_link;

typedef struct lev_link_ops {
    /* An event the link does not handle itself (every type but RESULT
     * and UNBOUND), run inside lua_pcall with the owner's user value table
     * at uv and the n values lsmpp_push_event made of the event (kind
     * first), as core.session's next_event gives them, on top. May raise. */
    void (*event)(lua_State *L, struct lev_link *k, const smpp_event *ev, int uv, int n);
    /* Push the user value table holding the link's LEV_UV_* slots, or nil
     * when it is gone. */
    void (*push_uv)(lua_State *L, struct lev_link *k);
    /* The link's end, once, before its session is freed (the session's
     * stats can still be read). No Lua code may run. */
    void (*closed)(lua_State *L, struct lev_link *k);
    /* The trace function takes the link's userdata before its own
     * arguments (a server's conn: one trace function serves every conn). */
    int trace_self;
} lev_link_ops;

typedef struct lev_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} lev_buf;

typedef struct lev_link {
    lev_ctx *ctx;
    const lev_link_ops *ops;
    smpp_session *s; /* NULL before bind (client) and after its end */
    smpp_ev_adapter io;
    int fd;
    int anchor;       /* registry ref of the userdata while s lives */
    uint32_t max_pdu; /* for framing the traced byte streams */
    /* Bytes asked of the session per read. The session keeps an input
     * buffer that large, so a server with thousands of idle links asks for
     * little, a client pushing traffic for more. */
    uint32_t read_want;
    uint16_t depth; /* event drains of this link in progress */
    /* On ctx->dirty iff dirty_prev != NULL (O(1) removal at close). */
    struct lev_link *dirty_next;
    struct lev_link **dirty_prev;
    /* Addresses still to try while connecting. */
    struct addrinfo *ai_list;
    struct addrinfo *ai_next;
    /* Heap copies, NULL for none: the resolver's or the OS's text for a
     * link that never came up ("dns failure: <detail>"), and the session's
     * sticky error once the session is gone (lev_link_push_error). */
    char *detail;
    char *error;
    unsigned connecting : 1; /* a non-blocking connect is in progress */
    unsigned closed : 1;     /* ended (or never opened and closed) */
    unsigned tracing : 1;
    unsigned trace_busy : 1;
    lev_buf *trace; /* [0] bytes in, [1] bytes out; NULL unless tracing */
} lev_link;

/* How a link is shut down by close(), __close and __gc: one function. */
typedef enum lev_shutdown {
    LEV_GRACEFUL,  /* unbind when bound; callbacks run */
    LEV_IMMEDIATE, /* close the socket now; callbacks run */
    LEV_GC         /* close the socket now; no Lua code runs */
} lev_shutdown;

/* A link with no session and no socket yet. */
void lev_link_init(lev_link *k, lev_ctx *ctx, const lev_link_ops *ops);
/* The link's session from now on (made by the owner, freed by the link),
 * the userdata at idx kept alive while it lives, and tracing turned on
 * when trace is set. Returns 0 or SMPP_ERR_NOMEM (tracing could not be
 * set up; the session is the link's all the same). */
int lev_link_open(lua_State *L, lev_link *k, int idx, smpp_session *s, int trace);
/* Start reading an accepted, non-blocking fd (the link owns it now). */
void lev_link_start(lev_link *k, int fd);
/* Connect to the addresses of ai in turn (the link owns the list now),
 * until one connects; the session hears connected, or fail with "connection
 * refused", "connect timeout" or "connect error" (the OS's text as detail). */
void lev_link_connect(lev_link *k, struct addrinfo *ai);
/* Fail the session for a reason the driver found (DNS, connect), detail
 * (copied; NULL for none) completing its text in bind_failed and closed. */
void lev_link_fail(lev_link *k, smpp_reason reason, const char *detail);
/* Push the session's sticky error (what last failed to frame or decode),
 * also after the link ended, or nil when there was none. */
void lev_link_push_error(lua_State *L, lev_link *k);
/* For an owner's event: put the handler at uv[slot] under the event's
 * values past its kind (the n values on top of the stack; the kind gives
 * way to it), with the link's userdata first when self. Returns the
 * number of arguments for the call, or -1 (the stack as it was) when the
 * slot holds nil. */
int lev_link_handler(lua_State *L, lev_link *k, int uv, int slot, int n, int self);
/* A LOG event nobody handles: warn and error go to stderr as
 * "lua-smpp: <level>: <message>", info and debug are dropped. */
void lev_link_log_default(const smpp_event *ev);
/* Push the link's userdata (from its anchor), or nil. */
void lev_link_push_self(lua_State *L, lev_link *k);

/* After a session call of the driver itself (bind, accept, a lookup's
 * answer): (drain != 0) dispatch every event, then write what the socket
 * takes and sync the watchers. */
void lev_link_after(lua_State *L, lev_link *k, int drain);
/* Hand the session's events to the loop instead of dispatching them inside
 * the call that caused them: the timer fires next iteration and drains. */
void lev_link_kick(lev_link *k);
/* After a session call that queued output for the application (submit,
 * deliver, respond): inside the loop only mark the link dirty, so one
 * write carries everything a wakeup produced; outside it, write now. */
void lev_link_queued(lua_State *L, lev_link *k);
/* Write every dirty link of ctx and sync its watchers. */
void lev_ctx_flush(lev_ctx *ctx);

/* A Lua method's body for ev.client's submit and a conn's deliver: args
 * 2..4 are the fields table, the callback and its extra argument. Queues
 * the request (lsmpp_submit: a submit_sm or deliver_sm by the session's
 * role) with the callback's token and returns true, or nil, err (the
 * callback then never runs; err is no_session when the link has no
 * session). Raises on misuse and when out of memory. */
int lev_link_submit(lua_State *L, lev_link *k, const char *no_session);

/* close/__close/__gc of a client or conn. Idempotent; LEV_GC also frees
 * what the link kept after its end. */
void lev_link_shutdown(lua_State *L, lev_link *k, lev_shutdown how);

#endif
