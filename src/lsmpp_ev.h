/*
 * lsmpp_ev.h - internals shared by the files of the smpp.ev module
 * (lsmpp_ev.c: loop, timers, links; lsmpp_ev_client.c; lsmpp_ev_server.c).
 * Not an API: nothing outside smpp.ev includes it.
 *
 * A "link" is one TCP connection driven by one smpp_session: a client, or
 * one accepted connection of a server. The link layer (lsmpp_ev.c) does
 * the socket I/O, drains the session's events and hands each event to the
 * owner's dispatch function inside lua_pcall.
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
#ifndef LSMPP_EV_H
#define LSMPP_EV_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "lsmpp_compat.h"
#include "smpp_ev_adapter.h"
#include "smpp_session.h"

#define LEV_CLIENT_MT "smpp.ev.client"
#define LEV_SERVER_MT "smpp.ev.server"
#define LEV_CONN_MT "smpp.ev.conn"
#define LEV_TIMER_MT "smpp.ev.timer"

/* User values: 5.4 has numbered ones, 5.2/5.3 one value, 5.1 the fenv.
 * Every object here keeps a single table there. */
static inline void lev_setuv(lua_State *L, int idx)
{
#if LUA_VERSION_NUM >= 504
    lua_setiuservalue(L, idx, 1);
#elif LUA_VERSION_NUM >= 502
    lua_setuservalue(L, idx);
#else
    lua_setfenv(L, idx);
#endif
}

static inline void lev_getuv(lua_State *L, int idx)
{
#if LUA_VERSION_NUM >= 504
    lua_getiuservalue(L, idx, 1);
#elif LUA_VERSION_NUM >= 502
    lua_getuservalue(L, idx);
#else
    lua_getfenv(L, idx);
#endif
}

/* One per lua_State that loaded the module; a full userdata kept alive by
 * the module's functions and by every object's user value table. */
struct lev_link;
typedef struct lev_dns lev_dns;

typedef struct lev_ctx {
    struct ev_loop *loop;
    lua_State *running; /* thread inside ev.run/run_once, else NULL */
    lua_State *main;    /* fallback when someone else runs the loop */
    int on_error;       /* registry ref of ev.on_error's fn, or LUA_NOREF */
    /* Links with output queued from inside the loop and not yet written.
     * The prepare watcher writes them before the loop blocks; it is
     * unref'd so that it never keeps ev.run from returning. */
    struct lev_link *dirty;
    ev_prepare flush_w;
    /* Host name lookups in flight on helper threads; made at the first
     * lookup. Heap-allocated and shared with those threads (lsmpp_ev.c,
     * "name resolution"), so neither side's end frees it under the other. */
    lev_dns *dns;
} lev_ctx;

/* The thread callbacks run on: the one running the loop. Using any other
 * thread from inside ev_run would touch a stack that is not running. */
static inline lua_State *lev_ctx_L(lev_ctx *ctx)
{
    return ctx->running ? ctx->running : ctx->main;
}

typedef struct lev_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} lev_buf;

typedef struct lev_link_ops {
    /* lua_CFunction run inside lua_pcall: arg 1 is a lightuserdata
     * pointing at a lev_call. Converts the event to Lua values first (the
     * event's pdu dies at the next session call), then calls Lua. */
    lua_CFunction dispatch;
    /* Push the trace function and its leading arguments (the conn for a
     * server); returns how many values were pushed, 0 for no trace. */
    int (*push_trace)(lua_State *L, struct lev_link *k);
    /* After the CLOSED event was dispatched and the socket closed. */
    void (*closed)(lua_State *L, struct lev_link *k);
    /* A RESULT event nobody will see (shutdown at __gc): release the
     * token's Lua callback without calling it. */
    void (*drop_token)(lua_State *L, struct lev_link *k, uint64_t token);
} lev_link_ops;

typedef struct lev_link {
    lev_ctx *ctx;
    const lev_link_ops *ops;
    smpp_session *s; /* NULL before connect (client) and after CLOSED */
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
    unsigned connecting : 1; /* client: non-blocking connect in progress */
    unsigned closed : 1;     /* CLOSED seen (or never opened and closed) */
    unsigned tracing : 1;
    unsigned trace_busy : 1;
    lev_buf *trace; /* [0] bytes in, [1] bytes out; NULL unless tracing */
} lev_link;

/* What a dispatch function receives. */
typedef struct lev_call {
    lev_link *k;
    const smpp_event *ev;
} lev_call;

/* How a link is shut down by close(), __close and __gc: one function. */
typedef enum lev_shutdown {
    LEV_GRACEFUL,  /* unbind when bound; callbacks run */
    LEV_IMMEDIATE, /* close the socket now; callbacks run */
    LEV_GC         /* close the socket now; no Lua code runs */
} lev_shutdown;

lev_ctx *lev_ctx_get(lua_State *L, int idx);

/* luaL_setmetatable is 5.2+. */
static inline void lev_setmetatable(lua_State *L, const char *name)
{
    luaL_getmetatable(L, name);
    lua_setmetatable(L, -2);
}

/* Create metatable `name` with methods closing over the nup values on top
 * of the stack (popped); __index is the metatable itself. */
void lev_new_metatable(lua_State *L, const char *name, const luaL_Reg *methods, int nup);

void lev_link_init(lev_link *k, lev_ctx *ctx, const lev_link_ops *ops);
/* Start watching fd (read side) and take ownership of it. */
void lev_link_start(lev_link *k, int fd);
/* Keep the userdata at idx alive while the session lives. */
void lev_link_anchor(lua_State *L, lev_link *k, int idx);
/* Set up byte-stream tracing; returns 0 or SMPP_ERR_NOMEM. */
int lev_link_trace_on(lev_link *k);
/* Push the link's userdata (from its anchor), or nil. */
void lev_link_push_self(lua_State *L, lev_link *k);
/* After a session call of the driver itself (bind, close, accept): (drain
 * != 0) dispatch every event, then write what the socket takes and sync
 * the watchers. */
void lev_link_after(lua_State *L, lev_link *k, int drain);
/* After a session call that queued output for the application (submit,
 * deliver, respond): inside the loop only mark the link dirty, so one
 * write carries everything a wakeup produced; outside it, write now. */
void lev_link_queued(lua_State *L, lev_link *k);
/* Write every dirty link of ctx and sync its watchers (no Lua runs). */
void lev_ctx_flush(lev_ctx *ctx);
/* close/__close/__gc of a client or conn. */
void lev_link_shutdown(lua_State *L, lev_link *k, lev_shutdown how);
/* Stats into a new table; extra = 1 adds the server-only counters. */
void lev_push_stats(lua_State *L, const smpp_session_stats *st, uint64_t receipts, int server);

/* Call the function at the top of the stack with nargs arguments below
 * it... more exactly: stack is [fn, args...]; runs it protected with a
 * traceback, reports an error to ev.on_error. Returns 0 when it ran. */
int lev_pcall(lua_State *L, lev_ctx *ctx, int nargs, int nresults);

/* Seconds option (number >= 0) to ms; raises naming the key. */
smpp_ms lev_opt_ms(lua_State *L, int idx, const char *key);
/* Unsigned integer option in [min, max]; raises naming the key. */
uint32_t lev_opt_u32(lua_State *L, int idx, const char *key, uint32_t min, uint32_t max);
/* Clear pdu and give it the gateway's defaults for a submit_sm or
 * deliver_sm (PROTOCOL.md: service_type MSG, TON/NPI 1/1 both ways, empty
 * source_addr, data_coding 0); the caller's table overlays them. */
void lev_pdu_defaults(smpp_pdu *pdu, uint32_t command_id);

/* Give the userdata at self (made by a constructor whose upvalue 1 is the
 * module context) its user value table of count slots: fresh tables at cbs
 * and args (callbacks and their extra arguments by token), the context at
 * ctx so it outlives us. Leaves the table on the stack; returns its index. */
int lev_new_uv(lua_State *L, int self, int count, int cbs, int args, int ctx);

/* Read the session settings both roles share (window, queue_size,
 * max_pdu, the timeouts, enquire_link_interval) from the options table at
 * idx into cfg; absent keys keep cfg's values. Raises naming a bad key. */
void lev_opt_session(lua_State *L, int idx, smpp_session_config *cfg);
/* Raise "<what>: unknown option '<key>'" for every key of the table at
 * idx not in names (NULL-terminated). */
void lev_check_keys(lua_State *L, int idx, const char *what, const char *const *names);

/* Text for a reason as bind callbacks and on_close show it. detail is
 * the resolver's or the OS's message for DNS / CONNECT_ERROR. */
void lev_push_reason(lua_State *L, smpp_reason reason, const char *detail);
/* Push a RESULT event as (res, err, status[, "generic_nack"]); returns
 * the number of values pushed. */
int lev_push_result(lua_State *L, const smpp_event *ev);
/* Call a RESULT event's callback: uv[cbs_slot][token] (a luaL_ref there)
 * with the result values and, when the request carried an extra argument
 * (uv[args_slot][token]), that as the fifth, after the result padded
 * with nils. Both are released before the call. */
void lev_call_result(lua_State *L, int uv, int cbs_slot, int args_slot, const smpp_event *ev);
/* Register cb (at cb_idx; none when nil) and its extra argument (at
 * arg_idx; none when nil) for a new request; returns the token, 0 for
 * no callback. */
int lev_ref_callback(lua_State *L, int uv, int cbs_slot, int args_slot, int cb_idx, int arg_idx);
/* Undo lev_ref_callback for a request the session refused. */
void lev_unref_callback(lua_State *L, int uv, int cbs_slot, int args_slot, int token);
/* Parse a status given as an integer or a name ("ESME_RSYSERR"). */
int lev_get_status(lua_State *L, int idx, uint32_t *status);

/* Host names are looked up on a helper thread, so that a slow DNS server
 * holds up only the client that asked, never the loop. */
struct addrinfo;
typedef struct lev_lookup lev_lookup;
/* Runs on the loop thread, from the loop, once the lookup is over (never
 * after lev_lookup_cancel): rc is 0 or getaddrinfo's EAI_* code, sys_errno
 * the errno for EAI_SYSTEM; res (NULL unless rc is 0) becomes the callee's,
 * to freeaddrinfo. Must not raise: no Lua frame protects it. */
typedef void (*lev_lookup_done)(lua_State *L, void *owner, int rc, int sys_errno,
                                struct addrinfo *res);
/* Resolve host and a numeric port (stream sockets, any family) on a
 * detached thread; both strings are copied. Returns the lookup, or NULL
 * with *err an errno value (ENOMEM, or pthread_create's answer) and no
 * thread started. */
lev_lookup *lev_lookup_start(lev_ctx *ctx, const char *host, const char *port, lev_lookup_done done,
                             void *owner, int *err);
/* The owner is going away: done will not be called and the lookup no
 * longer keeps the loop alive. The thread finishes on its own and the
 * loop frees what it returns; q must not be used after this. */
void lev_lookup_cancel(lev_lookup *q);

void lev_open_client(lua_State *L);
void lev_open_server(lua_State *L);
int lev_client_new(lua_State *L);
int lev_server_new(lua_State *L);

#endif
