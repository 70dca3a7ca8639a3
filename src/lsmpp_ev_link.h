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
    /* An event the link does not handle itself (every type but RESULT),
     * run inside lua_pcall with the owner's user value table at uv.
     * Converts the event to Lua values before any Lua code runs (the
     * event's pdu dies at the next session call). May raise. */
    void (*event)(lua_State *L, struct lev_link *k, const smpp_event *ev, int uv);
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
    /* Addresses still to try while connecting, and the errno of the last
     * one that failed (the detail of "connect error: ..."). */
    struct addrinfo *ai_list;
    struct addrinfo *ai_next;
    int connect_errno;
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
 * refused", "connect timeout" or "connect error" (errno in connect_errno). */
void lev_link_connect(lev_link *k, struct addrinfo *ai);
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
 * 2..4 are the fields table, the callback and its extra argument. Fills
 * the gateway's defaults for command_id under the table, queues the
 * request with the callback's token and returns true, or nil, err (the
 * callback then never runs; err is no_session when the link has no
 * session). Raises on misuse and when out of memory. */
int lev_link_submit(lua_State *L, lev_link *k, uint32_t command_id, const char *no_session);

/* close/__close/__gc of a client or conn. Idempotent. */
void lev_link_shutdown(lua_State *L, lev_link *k, lev_shutdown how);

#endif
