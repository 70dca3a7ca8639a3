/*
 * lsmpp_ev.c - the smpp.ev module: its context (error reporting, userdata
 * helpers), the loop functions, timers and signals, and the module's open.
 * The layers under the clients and servers are lsmpp_ev_dns.c (name
 * lookups) and lsmpp_ev_link.c (one session over one socket); the Lua API
 * they make up is doc/smpp-ev.md.
 *
 * No Lua error crosses libev: everything a watcher callback does in Lua
 * runs inside lua_pcall (lev_pcall); errors go to ev.on_error and the loop
 * goes on.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "lsmpp_ev.h"
#include "lsmpp_ev_dns.h"
#include "lsmpp_ev_link.h"

#if defined(__GNUC__)
#define LEV_EXPORT __attribute__((visibility("default")))
#else
#define LEV_EXPORT
#endif

#define LEV_CTX_MT "smpp.ev.ctx"
#define LEV_TIMER_MT "smpp.ev.timer"
#define LEV_SIGNAL_MT "smpp.ev.signal"

/* ---- errors from callbacks --------------------------------------------- */

int lev_msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
#if LUA_VERSION_NUM >= 502 || defined(LUAJIT_VERSION)
    luaL_traceback(L, L, msg, 1);
#else
    /* 5.1 has no luaL_traceback: debug.traceback does the same. */
    lua_getglobal(L, "debug");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "traceback");
        if (lua_isfunction(L, -1)) {
            lua_pushstring(L, msg);
            lua_pushinteger(L, 2);
            lua_call(L, 2, 1);
            return 1;
        }
    }
    lua_pushstring(L, msg);
#endif
    return 1;
}

void lev_report(lua_State *L, lev_ctx *ctx)
{
    if (ctx->on_error != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->on_error);
        lua_pushvalue(L, -2);
        if (lua_pcall(L, 1, 0, 0) == 0) {
            lua_pop(L, 1);
            return;
        }
        /* The handler failed too: say both, the loop must still go on. */
        fprintf(stderr, "smpp.ev: error in on_error handler: %s\n",
                lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_pop(L, 1);
    }
    /* Default: one line, the message without its traceback. */
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL)
        msg = "(no message)";
    const char *nl = strchr(msg, '\n');
    int n = nl ? (int)(nl - msg) : (int)strlen(msg);
    fprintf(stderr, "smpp.ev: error in callback: %.*s\n", n, msg);
    lua_pop(L, 1);
}

int lev_pcall(lua_State *L, lev_ctx *ctx, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs; /* the function's index */
    lua_pushcfunction(L, lev_msgh);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (rc != 0) {
        lev_report(L, ctx);
        return -1;
    }
    return 0;
}

/* ---- context and loop --------------------------------------------------- */

#define CTX(L) ((lev_ctx *)lua_touserdata((L), lua_upvalueindex(1)))

static int l_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)ev_now(CTX(L)->loop));
    return 1;
}

/* Returns ev_run's answer: non-zero while watchers that keep the loop
 * alive are still active. */
static int run_loop(lua_State *L, int flags)
{
    lev_ctx *ctx = CTX(L);
    lua_State *prev = ctx->running;
    int active;
    /* Callbacks of this run use this thread's stack; a nested ev.run from
     * a callback (a blocking call inside a callback) swaps in its own. */
    ctx->running = L;
    active = ev_run(ctx->loop, flags);
    ctx->running = prev;
    /* run_once returns right after the callbacks, with no prepare phase
     * after them: write what they queued before the caller goes on. */
    lev_ctx_flush(ctx);
    return active;
}

static int l_run(lua_State *L)
{
    run_loop(L, 0);
    return 0;
}

/* Returns true while the loop still has active watchers, false when
 * nothing is left that could ever wake it: a caller waiting for a result
 * by calling run_once in a loop must then stop, or it would spin. */
static int l_run_once(lua_State *L)
{
    int block = lua_isnoneornil(L, 1) || lua_toboolean(L, 1);
    lua_pushboolean(L, run_loop(L, block ? EVRUN_ONCE : EVRUN_NOWAIT) != 0);
    return 1;
}

static int l_stop(lua_State *L)
{
    ev_break(CTX(L)->loop, EVBREAK_ONE);
    return 0;
}

/* ev.call(fn, ...) -> true | false: fn(...) as the loop calls its
 * callbacks, an error going to on_error's handler (the backend's timer
 * heap runs each due timer so). */
static int l_call(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushboolean(L, lev_pcall(L, CTX(L), lua_gettop(L) - 1, 0) == 0);
    return 1;
}

static int l_on_error(lua_State *L)
{
    lev_ctx *ctx = CTX(L);
    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    if (ctx->on_error != LUA_NOREF)
        lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->on_error);
    else
        lua_pushnil(L);
    luaL_unref(L, LUA_REGISTRYINDEX, ctx->on_error);
    ctx->on_error = LUA_NOREF;
    if (!lua_isnil(L, 1)) {
        lua_pushvalue(L, 1);
        ctx->on_error = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    return 1;
}

/* lua_states of this process that opened the module: they all share
 * libev's default loop, which is process-wide state itself. */
static int lev_loop_users;

static void ctx_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_ctx_flush((lev_ctx *)w->data);
}

static int ctx_gc(lua_State *L)
{
    lev_ctx *ctx = (lev_ctx *)lua_touserdata(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, ctx->on_error);
    ctx->on_error = LUA_NOREF;
    if (ctx->loop != NULL && ev_is_active(&ctx->flush_w)) {
        ev_ref(ctx->loop); /* undo the ev_unref done when it started */
        ev_prepare_stop(ctx->loop, &ctx->flush_w);
    }
    /* Before the loop may be destroyed below: threads must see it gone. */
    if (ctx->loop != NULL)
        lev_dns_release(ctx);
    /* The context is made before any object of the module, so at
     * lua_close it is finalized after all of them: every watcher is
     * stopped. Give the loop's memory back then; Lua unloads this module
     * and libev with it right after, leaving those blocks lost. Skipped
     * while another lua_State of the process still uses the loop. */
    if (ctx->loop != NULL && --lev_loop_users == 0)
        ev_loop_destroy(ctx->loop);
    ctx->loop = NULL;
    return 0;
}

/* ---- timers -------------------------------------------------------------- */

/* The userdata of a new timer or signal, on top of the stack, gets
 * metatable mt and its user value table: the function (argument 2) at 1,
 * the context at 2 so that it outlives its watchers. */
static void watcher_setup(lua_State *L, const char *mt)
{
    lev_setmetatable(L, mt);
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_rawseti(L, -2, 2);
    lsmpp_setuv(L, -2);
}

/* A timer or signal fired: run fire_p(w) protected on the loop's thread,
 * unless the watcher was stopped meanwhile (anchor gone). */
static void watcher_fire(lev_ctx *ctx, int anchor, lua_CFunction fire_p, void *w)
{
    lua_State *L = lev_ctx_L(ctx);
    if (anchor == LUA_NOREF || !lua_checkstack(L, 8))
        return;
    lua_pushcfunction(L, fire_p);
    lua_pushlightuserdata(L, w);
    (void)lev_pcall(L, ctx, 1, 0);
}

typedef struct lev_timer {
    ev_timer w;
    lev_ctx *ctx;
    int anchor; /* registry ref while active: a running timer is not garbage */
    double after, rep;
} lev_timer;

static void timer_anchor(lua_State *L, lev_timer *t, int idx)
{
    if (t->anchor == LUA_NOREF) {
        lua_pushvalue(L, idx);
        t->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    }
}

static void timer_unanchor(lua_State *L, lev_timer *t)
{
    luaL_unref(L, LUA_REGISTRYINDEX, t->anchor);
    t->anchor = LUA_NOREF;
}

static int timer_fire_p(lua_State *L)
{
    lev_timer *t = (lev_timer *)lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->anchor); /* keep it alive */
    int self = lua_gettop(L);
    /* A one-shot timer is inactive now; let it go before fn runs so that
     * fn can start it again with t:again(). */
    if (!ev_is_active(&t->w))
        timer_unanchor(L, t);
    lsmpp_getuv(L, self);
    lua_rawgeti(L, -1, 1);
    lua_call(L, 0, 0);
    return 0;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_timer *t = (lev_timer *)w->data;
    watcher_fire(t->ctx, t->anchor, timer_fire_p, t);
}

static double check_seconds(lua_State *L, int idx, const char *what)
{
    double v = (double)luaL_checknumber(L, idx);
    if (!(v >= 0.0 && v < 1e9))
        luaL_argerror(L, idx, lua_pushfstring(L, "%s: seconds >= 0 expected", what));
    return v;
}

static int l_timer(lua_State *L)
{
    lev_ctx *ctx = CTX(L);
    double after = check_seconds(L, 1, "after");
    luaL_checktype(L, 2, LUA_TFUNCTION);
    double rep = lua_isnoneornil(L, 3) ? 0.0 : check_seconds(L, 3, "rep");
    lev_timer *t = (lev_timer *)lua_newuserdatauv(L, sizeof *t, 1);
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    t->anchor = LUA_NOREF;
    t->after = after;
    t->rep = rep;
    ev_timer_init(&t->w, timer_cb, after, rep);
    t->w.data = t;
    watcher_setup(L, LEV_TIMER_MT);
    ev_timer_start(ctx->loop, &t->w);
    timer_anchor(L, t, -1);
    return 1;
}

static int timer_stop(lua_State *L)
{
    lev_timer *t = (lev_timer *)luaL_checkudata(L, 1, LEV_TIMER_MT);
    ev_timer_stop(t->ctx->loop, &t->w);
    timer_unanchor(L, t);
    return 0;
}

static int timer_again(lua_State *L)
{
    lev_timer *t = (lev_timer *)luaL_checkudata(L, 1, LEV_TIMER_MT);
    double after =
        lua_isnoneornil(L, 2) ? (t->rep > 0 ? t->rep : t->after) : check_seconds(L, 2, "after");
    ev_timer_stop(t->ctx->loop, &t->w);
    ev_timer_set(&t->w, after, t->rep);
    ev_timer_start(t->ctx->loop, &t->w);
    timer_anchor(L, t, 1);
    lua_settop(L, 1);
    return 1;
}

static int timer_active(lua_State *L)
{
    lev_timer *t = (lev_timer *)luaL_checkudata(L, 1, LEV_TIMER_MT);
    lua_pushboolean(L, ev_is_active(&t->w));
    return 1;
}

static int timer_gc(lua_State *L)
{
    lev_timer *t = (lev_timer *)luaL_checkudata(L, 1, LEV_TIMER_MT);
    if (t->ctx->loop != NULL)
        ev_timer_stop(t->ctx->loop, &t->w);
    timer_unanchor(L, t);
    return 0;
}

static int timer_tostring(lua_State *L)
{
    lev_timer *t = (lev_timer *)luaL_checkudata(L, 1, LEV_TIMER_MT);
    lua_pushfstring(L, "smpp.timer(%s)", ev_is_active(&t->w) ? "active" : "stopped");
    return 1;
}

/* ---- signals ------------------------------------------------------------- */

/* ev.signal(signum, fn): libev turns the signal into a loop event, so fn
 * runs as a callback like any other (never inside the signal handler). */
typedef struct lev_signal {
    ev_signal w;
    lev_ctx *ctx;
    int anchor; /* registry ref while active */
} lev_signal;

static int signal_fire_p(lua_State *L)
{
    lev_signal *g = (lev_signal *)lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, g->anchor);
    lsmpp_getuv(L, -1);
    lua_rawgeti(L, -1, 1);
    lua_pushinteger(L, g->w.signum);
    lua_call(L, 1, 0);
    return 0;
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_signal *g = (lev_signal *)w->data;
    watcher_fire(g->ctx, g->anchor, signal_fire_p, g);
}

static int l_signal(lua_State *L)
{
    lev_ctx *ctx = CTX(L);
    int64_t signum = 0;
    if (!lsmpp_get_integer(L, 1, &signum) || signum < 1 || signum >= 65)
        return luaL_argerror(L, 1, "signal number expected");
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lev_signal *g = (lev_signal *)lua_newuserdatauv(L, sizeof *g, 1);
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    g->anchor = LUA_NOREF;
    ev_signal_init(&g->w, signal_cb, (int)signum);
    g->w.data = g;
    watcher_setup(L, LEV_SIGNAL_MT);
    ev_signal_start(ctx->loop, &g->w);
    lua_pushvalue(L, -1);
    g->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

static int signal_stop(lua_State *L)
{
    lev_signal *g = (lev_signal *)luaL_checkudata(L, 1, LEV_SIGNAL_MT);
    if (g->ctx->loop != NULL)
        ev_signal_stop(g->ctx->loop, &g->w);
    luaL_unref(L, LUA_REGISTRYINDEX, g->anchor);
    g->anchor = LUA_NOREF;
    return 0;
}

static int signal_active(lua_State *L)
{
    lev_signal *g = (lev_signal *)luaL_checkudata(L, 1, LEV_SIGNAL_MT);
    lua_pushboolean(L, ev_is_active(&g->w));
    return 1;
}

/* ---- objects --------------------------------------------------------------- */

void lev_new_metatable(lua_State *L, const char *name, const luaL_Reg *methods, int nup)
{
    /* stack: nup upvalues */
    luaL_newmetatable(L, name);
    lua_insert(L, -(nup + 1));
    luaL_setfuncs(L, methods, nup);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

int lev_new_uv(lua_State *L, int self, int count)
{
    self = lua_absindex(L, self);
    lua_createtable(L, count, 0);
    lua_newtable(L);
    lua_rawseti(L, -2, LEV_UV_CBS);
    lua_newtable(L);
    lua_rawseti(L, -2, LEV_UV_ARGS);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_rawseti(L, -2, LEV_UV_CTX);
    lsmpp_setuv(L, self);
    lsmpp_getuv(L, self);
    return lua_gettop(L);
}

void lev_check_config(lua_State *L, const smpp_session_config *cfg, const char *what)
{
    smpp_error err;
    smpp_session *probe = smpp_session_new(cfg, 0, &err);
    if (probe == NULL) {
        if (err.code == SMPP_ERR_NOMEM)
            luaL_error(L, "not enough memory");
        luaL_error(L, "%s: %s", what, err.msg);
    }
    smpp_session_free(probe);
}

/* ---- module ---------------------------------------------------------------- */

static void lev_open_timer(lua_State *L)
{
    static const luaL_Reg methods[] = {{"stop", timer_stop},           {"again", timer_again},
                                       {"active", timer_active},       {"__gc", timer_gc},
                                       {"__tostring", timer_tostring}, {NULL, NULL}};
    lev_new_metatable(L, LEV_TIMER_MT, methods, 0);
    static const luaL_Reg sig_methods[] = {
        {"stop", signal_stop}, {"active", signal_active}, {"__gc", signal_stop}, {NULL, NULL}};
    lev_new_metatable(L, LEV_SIGNAL_MT, sig_methods, 0);
}

LEV_EXPORT int luaopen_smpp_ev(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"now", l_now},
                                     {"run", l_run},
                                     {"run_once", l_run_once},
                                     {"stop", l_stop},
                                     {"timer", l_timer},
                                     {"signal", l_signal},
                                     {"on_error", l_on_error},
                                     {"call", l_call},
                                     {"client", lev_client_new},
                                     {"server", lev_server_new},
                                     {NULL, NULL}};
    /* Refuse hosts whose own event loop is libev: inside Tarantool our
     * ev_* calls would reach its embedded libev and corrupt its fiber
     * scheduler. Its global says where we are; dladdr catches any other
     * process whose ev_* symbols are not the shared libev we were built
     * against. */
    lua_getglobal(L, "_TARANTOOL");
    if (!lua_isnil(L, -1))
        return luaL_error(L, "smpp.ev: not inside Tarantool: it has its own libev, and ours "
                             "would corrupt its fiber scheduler; require \"smpp\" uses the "
                             "tarantool backend there");
    lua_pop(L, 1);
    Dl_info where;
    if (dladdr((void *)ev_version_major, &where) != 0 && where.dli_fname != NULL &&
        strstr(where.dli_fname, "libev") == NULL)
        return luaL_error(L,
                          "smpp.ev: the libev in this process comes from %s, not the shared "
                          "libev smpp.ev was built with: the host embeds its own event "
                          "loop; use its backend (smpp.use)",
                          where.dli_fname);
    if (ev_version_major() != EV_VERSION_MAJOR || ev_version_minor() < EV_VERSION_MINOR)
        return luaL_error(L, "smpp.ev: built with libev %d.%d, but the libev loaded is %d.%d",
                          EV_VERSION_MAJOR, EV_VERSION_MINOR, ev_version_major(),
                          ev_version_minor());
    struct ev_loop *loop = ev_default_loop(0);
    if (loop == NULL)
        return luaL_error(L, "smpp.ev: libev could not create its default loop");

    lev_ctx *ctx = (lev_ctx *)lua_newuserdatauv(L, sizeof *ctx, 0);
    ctx->loop = loop;
    lev_loop_users++;
    ctx->running = NULL;
    ctx->on_error = LUA_NOREF;
    ctx->dirty = NULL;
    ctx->dns = NULL;
    ev_prepare_init(&ctx->flush_w, ctx_flush_cb);
    ctx->flush_w.data = ctx;
#if LUA_VERSION_NUM >= 502
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    ctx->main = lua_tothread(L, -1);
    lua_pop(L, 1);
#else
    ctx->main = L;
#endif
    if (luaL_newmetatable(L, LEV_CTX_MT)) {
        lua_pushcfunction(L, ctx_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    int ctxi = lua_gettop(L);
    /* Started once the ctx has its __gc, which stops it. Unref'd: it must
     * not count as an active watcher (ev.run returns when nothing else
     * is). */
    ev_prepare_start(loop, &ctx->flush_w);
    ev_unref(loop);

    lev_open_timer(L);
    lua_pushvalue(L, ctxi);
    lev_open_client(L);
    lua_pushvalue(L, ctxi);
    lev_open_server(L);

    lua_createtable(L, 0, (int)(sizeof funcs / sizeof funcs[0]) + 1);
    lua_pushvalue(L, ctxi);
    luaL_setfuncs(L, funcs, 1);
    lua_pushliteral(L, "0.1.0");
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
