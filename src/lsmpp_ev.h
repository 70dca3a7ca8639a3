/*
 * lsmpp_ev.h - the module context of smpp.ev, shared by its files. Not an
 * API: nothing outside smpp.ev includes it.
 *
 * The files of the module, innermost first (each uses only those above):
 *   lsmpp_ev.c         the context: error reporting, userdata helpers; and,
 *                      outermost, the module's open, loop functions, timers
 *                      and signals
 *   lsmpp_ev_dns.c     host name lookups on helper threads (lsmpp_ev_dns.h)
 *   lsmpp_ev_link.c    one session over one socket (lsmpp_ev_link.h)
 *   lsmpp_ev_client.c  ev.client, over a link and a lookup
 *   lsmpp_ev_server.c  ev.server and its conns, each over a link
 */
#ifndef LSMPP_EV_H
#define LSMPP_EV_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "lsmpp_compat.h"
#include "lsmpp_glue.h"
#include "smpp_session.h"

#define LEV_CLIENT_MT "smpp.ev.client"
#define LEV_SERVER_MT "smpp.ev.server"
#define LEV_CONN_MT "smpp.ev.conn"

/* Slots every user value table of a client or a server starts with; the
 * owner's own slots follow from LEV_UV_OWN. The link finds a request's
 * callback and the trace function there. */
enum {
    LEV_UV_CBS = 1, /* token -> callback (luaL_ref on this table) */
    LEV_UV_ARGS,    /* token -> the callback's extra argument, when given */
    LEV_UV_TRACE,   /* the trace function, or nil */
    LEV_UV_CTX,     /* keeps the module context alive as long as we are */
    LEV_UV_OWN
};

/* One per lua_State that loaded the module; a full userdata kept alive by
 * the module's functions and by every object's user value table. */
struct lev_link;
typedef struct lev_dns lev_dns;

typedef struct lev_ctx {
    struct ev_loop *loop;
    lua_State *running; /* thread inside ev.run/run_once, else NULL */
    lua_State *main;    /* fallback when someone else runs the loop */
    int on_error;       /* registry ref of ev.on_error's fn, or LUA_NOREF */
    /* Links with output queued from inside the loop and not yet written
     * (lsmpp_ev_link.h). The prepare watcher writes them before the loop
     * blocks; it is unref'd so that it never keeps ev.run from returning. */
    struct lev_link *dirty;
    ev_prepare flush_w;
    /* Host name lookups in flight on helper threads; made at the first
     * lookup (lsmpp_ev_dns.c). */
    lev_dns *dns;
} lev_ctx;

/* The thread callbacks run on: the one running the loop. Using any other
 * thread from inside ev_run would touch a stack that is not running. */
static inline lua_State *lev_ctx_L(lev_ctx *ctx)
{
    return ctx->running ? ctx->running : ctx->main;
}

/* Stack: [fn, args...] with nargs arguments. Runs fn protected, with a
 * traceback; an error goes to ev.on_error (or one line on stderr) and is
 * popped. Returns 0 when fn ran, -1 when it raised. */
int lev_pcall(lua_State *L, lev_ctx *ctx, int nargs, int nresults);
/* lev_pcall in two parts, for a caller making many protected calls in a
 * row: push lev_msgh once, lua_pcall with its index, and hand an error
 * (the message on top of the stack) to lev_report, which pops it. */
int lev_msgh(lua_State *L);
void lev_report(lua_State *L, lev_ctx *ctx);

/* luaL_setmetatable is 5.2+. */
static inline void lev_setmetatable(lua_State *L, const char *name)
{
    luaL_getmetatable(L, name);
    lua_setmetatable(L, -2);
}

/* Create metatable `name` with methods closing over the nup values on top
 * of the stack (popped); __index is the metatable itself. */
void lev_new_metatable(lua_State *L, const char *name, const luaL_Reg *methods, int nup);

/* Give the userdata at self (made by a constructor whose upvalue 1 is the
 * module context) its user value table of count slots, the LEV_UV_* ones
 * set up. Leaves the table on the stack; returns its index. */
int lev_new_uv(lua_State *L, int self, int count);

/* Let the session judge cfg now, so that a bad setting raises
 * "<what>: <why>" from the constructor (misuse) rather than coming back
 * later from bind or accept. */
void lev_check_config(lua_State *L, const smpp_session_config *cfg, const char *what);
/* Register the client's and the server's metatables; the module context is
 * on top of the stack (popped). */
void lev_open_client(lua_State *L);
void lev_open_server(lua_State *L);
int lev_client_new(lua_State *L);
int lev_server_new(lua_State *L);

#endif
