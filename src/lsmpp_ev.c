/*
 * lsmpp_ev.c - the smpp.ev module: loop functions, timers, and the link
 * layer that drives one smpp_session over one non-blocking socket.
 * Clients are in lsmpp_ev_client.c, servers in lsmpp_ev_server.c; the Lua
 * API they make up is doc/smpp-ev.md.
 *
 * Rules kept here:
 *  - C never calls Lua while the session parses: events are drained with
 *    smpp_session_next_event after the session call has returned, and
 *    each is converted to Lua values before any Lua code runs (the event's
 *    pdu dies at the next session call).
 *  - No Lua error crosses libev: everything a watcher callback does in Lua
 *    (even pushing a table, which can fail for memory) runs inside
 *    lua_pcall; errors go to ev.on_error and the loop goes on.
 *  - Writes are coalesced (lsmpp_ev.h says how); every path ends in
 *    link_settle or on the dirty list, which the prepare watcher and
 *    run_loop empty, so no output waits with no watcher to send it.
 *  - A link is freed only between session calls, and its userdata sits on
 *    the Lua stack of every frame using it, so closing it from inside one
 *    of its own callbacks is safe: outer frames see k->s == NULL and stop.
 *  - The loop thread is the only one that runs Lua or touches a watcher;
 *    the helper threads of name lookups only call getaddrinfo, queue the
 *    answer under a mutex and wake the loop with ev_async_send.
 */
/* dladdr and RTLD_NODELETE (glibc hides them otherwise). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lsmpp_ev.h"
#include "lsmpp_pdu.h"
#include "smpp_status.h"

#if defined(__GNUC__)
#define LEV_EXPORT __attribute__((visibility("default")))
#else
#define LEV_EXPORT
#endif

#define LEV_CTX_MT "smpp.ev.ctx"
#define LEV_SIGNAL_MT "smpp.ev.signal"
/* Read at most this many times per wakeup, so one busy peer can't starve
 * the others; the socket stays readable and the loop comes back. */
#define LEV_READS_PER_WAKEUP 8
#define LEV_READ_WANT 16384

/* ---- errors from callbacks --------------------------------------------- */

static int lev_msgh(lua_State *L)
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
    lua_pushstring(L, msg);
#endif
    return 1;
}

/* The error message is on top of the stack; pops it. */
static void lev_report(lua_State *L, lev_ctx *ctx)
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

/* ---- name resolution ------------------------------------------------------ */

/* getaddrinfo may wait seconds for a DNS server, so a lookup runs on a
 * detached thread of its own (lookups are rare: one per bind) and its
 * answer comes back through the context's one ev_async watcher.
 *
 * Who frees what. The shared state (lev_dns) is counted: one reference
 * for the context while it lives, one per helper thread still running;
 * whoever drops the last frees it. So lua_close may finalize the context
 * while threads still wait on DNS: the context only sets loop_gone, under
 * the mutex, and each thread then frees its own lookup instead of queueing
 * it. A thread calls ev_async_send only under that mutex and only while
 * loop_gone is unset, and the context sets it before the loop can be
 * destroyed, so no thread ever wakes a loop that is gone.
 *
 * A lookup whose owner goes away first (client closed, timed out, or
 * collected) is cancelled: its owner pointer is cleared and the loop frees
 * it when it arrives. The helper thread never reads the owner pointer nor
 * the done callback, so those two need no lock: only the loop thread
 * touches them. */
struct lev_dns {
    pthread_mutex_t mu;
    /* Under mu. */
    unsigned refs;    /* the context's (until finalized) + one per thread */
    int loop_gone;    /* the context is finalized: free, don't queue */
    lev_lookup *done; /* finished, for the loop to collect; newest first */
    /* Set up before any thread starts; a thread uses them under mu while
     * loop_gone is unset. */
    struct ev_loop *loop;
    ev_async wake;
    /* Loop thread only. */
    lev_ctx *ctx;
    unsigned live;       /* started, neither delivered nor cancelled */
    unsigned pinned : 1; /* this module can no longer be unloaded */
};

struct lev_lookup {
    lev_lookup *next; /* on dns->done */
    lev_dns *dns;
    /* Loop thread only; owner is NULL once cancelled or delivered. */
    lev_lookup_done done;
    void *owner;
    /* Read by the helper thread, written before it starts. */
    char host[256];
    char port[16];
    /* Written by the helper thread before it queues the lookup; the mutex
     * orders that before the loop thread reads them. */
    int rc, sys_errno;
    struct addrinfo *res;
};

static void lookup_free(lev_lookup *q)
{
    if (q->res)
        freeaddrinfo(q->res);
    free(q);
}

static void dns_free(lev_dns *dns)
{
    pthread_mutex_destroy(&dns->mu);
    free(dns);
}

/* A live lookup keeps ev.run going and makes ev.run_once answer true, as
 * any active watcher would; with none, the async watcher is unref'd so
 * that it never keeps the loop alive by itself (a waiter in the Lua layer
 * relies on run_once's false to see a wait that can never end). One
 * ev_ref covers every live lookup. */
static void dns_live_add(lev_dns *dns)
{
    if (dns->live++ == 0)
        ev_ref(dns->loop);
}

static void dns_live_drop(lev_dns *dns)
{
    if (--dns->live == 0)
        ev_unref(dns->loop);
}

static void *dns_thread(void *arg)
{
    lev_lookup *q = (lev_lookup *)arg;
    lev_dns *dns = q->dns;
    struct addrinfo hints;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    q->res = NULL;
    q->rc = getaddrinfo(q->host, q->port, &hints, &q->res);
    q->sys_errno = q->rc == EAI_SYSTEM ? errno : 0;

    pthread_mutex_lock(&dns->mu);
    int gone = dns->loop_gone;
    if (!gone) {
        q->next = dns->done;
        dns->done = q;
        ev_async_send(dns->loop, &dns->wake);
    }
    int last = --dns->refs == 0;
    pthread_mutex_unlock(&dns->mu);
    if (gone)
        lookup_free(q);
    if (last)
        dns_free(dns);
    return NULL;
}

/* The loop side: hand each finished lookup to its owner, free it. */
static void dns_wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_dns *dns = (lev_dns *)w->data;
    lev_lookup *list, *fifo = NULL;

    pthread_mutex_lock(&dns->mu);
    list = dns->done;
    dns->done = NULL;
    pthread_mutex_unlock(&dns->mu);
    while (list != NULL) { /* oldest first */
        lev_lookup *q = list;
        list = q->next;
        q->next = fifo;
        fifo = q;
    }
    /* The list is ours alone now: a done callback may run the loop again
     * (a nested wait) and that collects only lookups arriving later; one
     * that cancels a lookup still in this list only clears its owner. */
    while (fifo != NULL) {
        lev_lookup *q = fifo;
        fifo = q->next;
        if (q->owner != NULL) {
            void *owner = q->owner;
            struct addrinfo *res = q->res;
            q->owner = NULL;
            q->res = NULL;
            dns_live_drop(dns);
            q->done(lev_ctx_L(dns->ctx), owner, q->rc, q->sys_errno, res);
        }
        lookup_free(q);
    }
}

/* Once a helper thread exists, lua_close must not unload this module: Lua
 * dlcloses it right after finalizing the context, and a thread still
 * inside getaddrinfo would return into unmapped code. Marking the loaded
 * object RTLD_NODELETE keeps it (and libev with it) mapped until the
 * process ends. If the platform can't, lookups still work; only a
 * lua_close racing a lookup stays unsafe there. */
static void dns_pin(lev_dns *dns)
{
    Dl_info info;
    if (dns->pinned)
        return;
    if (dladdr((void *)dns_thread, &info) != 0 && info.dli_fname != NULL &&
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL)
        dns->pinned = 1; /* the handle is never closed, on purpose */
}

static lev_dns *dns_get(lev_ctx *ctx)
{
    if (ctx->dns != NULL)
        return ctx->dns;
    lev_dns *dns = (lev_dns *)calloc(1, sizeof *dns);
    if (dns == NULL)
        return NULL;
    if (pthread_mutex_init(&dns->mu, NULL) != 0) {
        free(dns);
        return NULL;
    }
    dns->refs = 1;
    dns->loop = ctx->loop;
    dns->ctx = ctx;
    ev_async_init(&dns->wake, dns_wake_cb);
    dns->wake.data = dns;
    ev_async_start(ctx->loop, &dns->wake);
    ev_unref(ctx->loop); /* dns_live_add refs it while lookups are live */
    ctx->dns = dns;
    return dns;
}

/* At the context's __gc: stop the watcher, then let go of the shared
 * state; threads still running free their own lookups and, the last one
 * out, the state. Every client was finalized before the context (it is
 * made first), so every lookup is cancelled by now: nothing is called. */
static void dns_release(lev_ctx *ctx)
{
    lev_dns *dns = ctx->dns;
    if (dns == NULL)
        return;
    ctx->dns = NULL;
    if (dns->live == 0)
        ev_ref(dns->loop); /* undo the ev_unref of dns_get */
    ev_async_stop(dns->loop, &dns->wake);
    pthread_mutex_lock(&dns->mu);
    dns->loop_gone = 1;
    lev_lookup *list = dns->done;
    dns->done = NULL;
    int last = --dns->refs == 0;
    pthread_mutex_unlock(&dns->mu);
    while (list != NULL) {
        lev_lookup *q = list;
        list = q->next;
        lookup_free(q);
    }
    if (last)
        dns_free(dns);
}

lev_lookup *lev_lookup_start(lev_ctx *ctx, const char *host, const char *port, lev_lookup_done done,
                             void *owner, int *err)
{
    lev_dns *dns = dns_get(ctx);
    lev_lookup *q = dns ? (lev_lookup *)calloc(1, sizeof *q) : NULL;
    if (q == NULL) {
        *err = ENOMEM;
        return NULL;
    }
    if (strlen(host) >= sizeof q->host || strlen(port) >= sizeof q->port) {
        free(q);
        *err = ENAMETOOLONG;
        return NULL;
    }
    strcpy(q->host, host);
    strcpy(q->port, port);
    q->dns = dns;
    q->done = done;
    q->owner = owner;
    dns_pin(dns);

    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0) {
        free(q);
        *err = rc;
        return NULL;
    }
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The thread's reference is taken before it exists: it may finish
     * (and drop it) before pthread_create returns. */
    pthread_mutex_lock(&dns->mu);
    dns->refs++;
    pthread_mutex_unlock(&dns->mu);
    /* The helper starts with every signal blocked, so the process's
     * signals (ev.signal's, libev's SIGCHLD) still reach the loop's thread
     * as before. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    rc = pthread_create(&tid, &attr, dns_thread, q);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&dns->mu);
        dns->refs--; /* never the last: the context holds one */
        pthread_mutex_unlock(&dns->mu);
        free(q);
        *err = rc;
        return NULL;
    }
    dns_live_add(dns);
    return q;
}

void lev_lookup_cancel(lev_lookup *q)
{
    if (q->owner == NULL)
        return;
    q->owner = NULL;
    dns_live_drop(q->dns);
}

/* ---- context and loop --------------------------------------------------- */

lev_ctx *lev_ctx_get(lua_State *L, int idx)
{
    return (lev_ctx *)luaL_checkudata(L, idx, LEV_CTX_MT);
}

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
        dns_release(ctx);
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
    lev_getuv(L, self);
    lua_rawgeti(L, -1, 1);
    lev_pcall(L, t->ctx, 0, 0);
    return 0;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_timer *t = (lev_timer *)w->data;
    lua_State *L = lev_ctx_L(t->ctx);
    if (t->anchor == LUA_NOREF || !lua_checkstack(L, 8))
        return;
    lua_pushcfunction(L, timer_fire_p);
    lua_pushlightuserdata(L, t);
    if (lua_pcall(L, 1, 0, 0) != 0)
        lev_report(L, t->ctx);
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
    lev_setmetatable(L, LEV_TIMER_MT);
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, lua_upvalueindex(1)); /* the ctx outlives its timers */
    lua_rawseti(L, -2, 2);
    lev_setuv(L, -2);
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
    lev_getuv(L, -1);
    lua_rawgeti(L, -1, 1);
    lua_pushinteger(L, g->w.signum);
    lev_pcall(L, g->ctx, 1, 0);
    return 0;
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_signal *g = (lev_signal *)w->data;
    lua_State *L = lev_ctx_L(g->ctx);
    if (g->anchor == LUA_NOREF || !lua_checkstack(L, 8))
        return;
    lua_pushcfunction(L, signal_fire_p);
    lua_pushlightuserdata(L, g);
    if (lua_pcall(L, 1, 0, 0) != 0)
        lev_report(L, g->ctx);
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
    lev_setmetatable(L, LEV_SIGNAL_MT);
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_rawseti(L, -2, 2);
    lev_setuv(L, -2);
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

/* ---- options ------------------------------------------------------------- */

void lev_check_keys(lua_State *L, int idx, const char *what, const char *const *names)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option keys must be strings, got %s", what, luaL_typename(L, -1));
        const char *key = lua_tostring(L, -1);
        const char *const *n = names;
        while (*n && strcmp(*n, key) != 0)
            n++;
        if (*n == NULL)
            luaL_error(L, "%s: unknown option '%s'", what, key);
    }
}

smpp_ms lev_opt_ms(lua_State *L, int idx, const char *key)
{
    lua_Number v = lua_tonumber(L, idx);
    if (lua_type(L, idx) != LUA_TNUMBER || !(v >= 0 && v < 1e9))
        luaL_error(L, "option '%s': seconds >= 0 expected, got %s", key,
                   lua_type(L, idx) == LUA_TNUMBER ? "a negative or huge number"
                                                   : luaL_typename(L, idx));
    return (smpp_ms)(v * 1000.0 + 0.5);
}

uint32_t lev_opt_u32(lua_State *L, int idx, const char *key, uint32_t min, uint32_t max)
{
    int64_t v = 0;
    if (!lsmpp_get_integer(L, idx, &v))
        luaL_error(L, "option '%s': integer expected, got %s", key, luaL_typename(L, idx));
    if (v < (int64_t)min || v > (int64_t)max)
        luaL_error(L, "option '%s': %d out of range %d..%d", key, (int)v, (int)min, (int)max);
    return (uint32_t)v;
}

/* The session settings ev.client{} and ev.server{} share: one table so the
 * two read them alike. A key a role does not take never gets here:
 * lev_check_keys refused it first. */
static const struct {
    const char *key;
    size_t offset;     /* in smpp_session_config */
    uint32_t min, max; /* integers; both 0 for seconds */
} session_opts[] = {
    {"window", offsetof(smpp_session_config, window), 1, 65535},
    {"queue_size", offsetof(smpp_session_config, queue_max), 0, 100000000},
    {"max_pdu", offsetof(smpp_session_config, max_pdu), 64, 16u << 20},
    {"output_buffer", offsetof(smpp_session_config, out_max), 1, 1u << 30},
    {"connect_timeout", offsetof(smpp_session_config, connect_timeout_ms), 0, 0},
    {"bind_timeout", offsetof(smpp_session_config, bind_timeout_ms), 0, 0},
    {"response_timeout", offsetof(smpp_session_config, response_timeout_ms), 0, 0},
    {"enquire_link_interval", offsetof(smpp_session_config, enquire_link_ms), 0, 0},
    {"idle_timeout", offsetof(smpp_session_config, idle_timeout_ms), 0, 0},
};

void lev_opt_session(lua_State *L, int idx, smpp_session_config *cfg)
{
    size_t i;

    idx = lua_absindex(L, idx);
    for (i = 0; i < sizeof(session_opts) / sizeof(session_opts[0]); i++) {
        char *field = (char *)cfg + session_opts[i].offset;

        lua_getfield(L, idx, session_opts[i].key);
        if (!lua_isnil(L, -1)) {
            if (session_opts[i].max == 0) {
                smpp_ms ms = lev_opt_ms(L, -1, session_opts[i].key);
                memcpy(field, &ms, sizeof(ms));
            } else {
                uint32_t v = lev_opt_u32(L, -1, session_opts[i].key, session_opts[i].min,
                                         session_opts[i].max);
                memcpy(field, &v, sizeof(v));
            }
        }
        lua_pop(L, 1);
    }
}

int lev_new_uv(lua_State *L, int self, int count, int cbs, int args, int ctx)
{
    self = lua_absindex(L, self);
    lua_createtable(L, count, 0);
    lua_newtable(L);
    lua_rawseti(L, -2, cbs);
    lua_newtable(L);
    lua_rawseti(L, -2, args);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_rawseti(L, -2, ctx);
    lev_setuv(L, self);
    lev_getuv(L, self);
    return lua_gettop(L);
}

void lev_pdu_defaults(smpp_pdu *pdu, uint32_t command_id)
{
    smpp_pdu_clear(pdu);
    pdu->command_id = command_id;
    pdu->service_type.ptr = (const uint8_t *)"MSG";
    pdu->service_type.len = 3;
    pdu->source_addr_ton = 1;
    pdu->source_addr_npi = 1;
    pdu->dest_addr_ton = 1;
    pdu->dest_addr_npi = 1;
}

int lev_get_status(lua_State *L, int idx, uint32_t *status)
{
    int64_t v = 0;
    if (lsmpp_get_integer(L, idx, &v)) {
        if (v < 0 || v > 0xFFFFFFFFll)
            return -1;
        *status = (uint32_t)v;
        return 0;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *name = lua_tolstring(L, idx, &len);
        int found = 0;
        *status = smpp_status_value(name, len, &found);
        return found ? 0 : -1;
    }
    return -1;
}

/* ---- results and reasons --------------------------------------------------- */

void lev_push_reason(lua_State *L, smpp_reason reason, const char *detail)
{
    switch (reason) {
    case SMPP_REASON_CONNECT_REFUSED:
        lua_pushliteral(L, "connection refused");
        break;
    case SMPP_REASON_CONNECT_TIMEOUT:
        lua_pushliteral(L, "connect timeout");
        break;
    case SMPP_REASON_DNS:
        lua_pushfstring(L, "dns failure: %s", detail && *detail ? detail : "unknown");
        break;
    case SMPP_REASON_CONNECT_ERROR:
        lua_pushfstring(L, "connect error: %s", detail && *detail ? detail : "unknown");
        break;
    case SMPP_REASON_BIND_TIMEOUT:
        lua_pushliteral(L, "bind timeout");
        break;
    case SMPP_REASON_AUTH:
        lua_pushliteral(L, "authentication failed");
        break;
    case SMPP_REASON_CONNECTION_LOST:
        lua_pushliteral(L, "connection lost");
        break;
    case SMPP_REASON_CLOSED:
        lua_pushliteral(L, "closed");
        break;
    default:
        lua_pushstring(L, smpp_reason_name(reason));
        break;
    }
}

int lev_push_result(lua_State *L, const smpp_event *ev)
{
    switch (ev->outcome) {
    case SMPP_OUTCOME_RESPONSE:
        if (ev->status == 0) {
            lua_createtable(L, 0, 2);
            if (ev->pdu != NULL && ev->pdu->message_id.ptr != NULL)
                lua_pushlstring(L, (const char *)ev->pdu->message_id.ptr, ev->pdu->message_id.len);
            else
                lua_pushliteral(L, "");
            lua_setfield(L, -2, "message_id");
            lsmpp_push_u32(L, ev->sequence_number);
            lua_setfield(L, -2, "sequence_number");
            if (ev->warning != NULL) {
                /* Taken leniently (see smpp_event): say how. */
                lua_pushstring(L, ev->warning);
                lua_setfield(L, -2, "warning");
            }
            return 1;
        }
        lua_pushnil(L);
        lsmpp_push_status(L, ev->status);
        lsmpp_push_u32(L, ev->status);
        return 3;
    case SMPP_OUTCOME_NACK:
        lua_pushnil(L);
        lsmpp_push_status(L, ev->status);
        lsmpp_push_u32(L, ev->status);
        lua_pushliteral(L, "generic_nack");
        return 4;
    case SMPP_OUTCOME_TIMEOUT:
        lua_pushnil(L);
        lua_pushliteral(L, "timeout");
        return 2;
    case SMPP_OUTCOME_LOST:
        lua_pushnil(L);
        lua_pushliteral(L, "connection lost");
        return 2;
    case SMPP_OUTCOME_NOT_SENT:
        lua_pushnil(L);
        lua_pushliteral(L, "not sent");
        return 2;
    case SMPP_OUTCOME_CLOSED:
    default:
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        return 2;
    }
}

void lev_call_result(lua_State *L, int uv, int cbs_slot, int args_slot, const smpp_event *ev)
{
    int ref = (int)ev->token;
    if (ref == 0)
        return;
    lua_rawgeti(L, uv, cbs_slot);
    int cbs = lua_gettop(L);
    lua_rawgeti(L, cbs, ref); /* cbs + 1: the callback */
    luaL_unref(L, cbs, ref);
    lua_rawgeti(L, uv, args_slot);
    int args = lua_gettop(L);
    lua_rawgeti(L, args, ref); /* args + 1: its argument, or nil */
    int has_arg = !lua_isnil(L, -1);
    /* Cleared before the call: a submit from the callback reuses ref. */
    if (has_arg) {
        lua_pushnil(L);
        lua_rawseti(L, args, ref);
    }
    if (lua_isnil(L, cbs + 1))
        return;
    lua_pushvalue(L, cbs + 1);
    int n = lev_push_result(L, ev);
    if (has_arg) {
        /* A fixed place whatever the outcome: the fifth argument. */
        for (; n < 4; n++)
            lua_pushnil(L);
        lua_pushvalue(L, args + 1);
        n++;
    }
    lua_call(L, n, 0);
}

int lev_ref_callback(lua_State *L, int uv, int cbs_slot, int args_slot, int cb_idx, int arg_idx)
{
    if (lua_isnil(L, cb_idx))
        return 0;
    lua_rawgeti(L, uv, cbs_slot);
    lua_pushvalue(L, cb_idx);
    int token = luaL_ref(L, -2);
    lua_pop(L, 1);
    if (!lua_isnil(L, arg_idx)) {
        lua_rawgeti(L, uv, args_slot);
        lua_pushvalue(L, arg_idx);
        lua_rawseti(L, -2, token);
        lua_pop(L, 1);
    }
    return token;
}

void lev_unref_callback(lua_State *L, int uv, int cbs_slot, int args_slot, int token)
{
    if (token == 0)
        return;
    lua_rawgeti(L, uv, args_slot);
    lua_pushnil(L);
    lua_rawseti(L, -2, token);
    lua_pop(L, 1);
    lua_rawgeti(L, uv, cbs_slot);
    luaL_unref(L, -1, token);
    lua_pop(L, 1);
}

void lev_push_stats(lua_State *L, const smpp_session_stats *st, uint64_t receipts, int server)
{
    lua_createtable(L, 0, 12);
#define SET(name, v)                                                                               \
    do {                                                                                           \
        lua_pushnumber(L, (lua_Number)(v));                                                        \
        lua_setfield(L, -2, name);                                                                 \
    } while (0)
#if LUA_VERSION_NUM >= 503
#undef SET
#define SET(name, v)                                                                               \
    do {                                                                                           \
        lua_pushinteger(L, (lua_Integer)(v));                                                      \
        lua_setfield(L, -2, name);                                                                 \
    } while (0)
#endif
    SET("submitted", st->submitted);
    SET("sent", st->sent);
    SET("succeeded", st->succeeded);
    SET("failed", st->failed);
    SET("in_flight", st->in_flight);
    SET("queued", st->queued);
    SET("bytes_in", st->bytes_in);
    SET("bytes_out", st->bytes_out);
    SET("enquire_links", st->enquire_links_sent);
    if (server)
        SET("requests", st->requests_in);
    else
        SET("receipts", receipts);
    SET("delivered_in", st->delivered_in);
#undef SET
}

/* ---- links: socket I/O ------------------------------------------------------ */

static void link_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void link_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void link_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

void lev_link_init(lev_link *k, lev_ctx *ctx, const lev_link_ops *ops)
{
    memset(k, 0, sizeof *k);
    k->ctx = ctx;
    k->ops = ops;
    k->fd = -1;
    k->anchor = LUA_NOREF;
    k->max_pdu = SMPP_DEFAULT_MAX_PDU;
    k->read_want = LEV_READ_WANT;
    smpp_ev_init(&k->io, ctx->loop, -1, k, link_read_cb, link_write_cb, link_timer_cb);
}

void lev_link_start(lev_link *k, int fd)
{
    k->fd = fd;
    smpp_ev_set_fd(&k->io, fd);
    smpp_ev_read(&k->io, 1);
}

void lev_link_anchor(lua_State *L, lev_link *k, int idx)
{
    if (k->anchor == LUA_NOREF) {
        lua_pushvalue(L, idx);
        k->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    }
}

void lev_link_push_self(lua_State *L, lev_link *k)
{
    if (k->anchor != LUA_NOREF)
        lua_rawgeti(L, LUA_REGISTRYINDEX, k->anchor);
    else
        lua_pushnil(L);
}

int lev_link_trace_on(lev_link *k)
{
    k->trace = (lev_buf *)calloc(2, sizeof(lev_buf));
    if (k->trace == NULL)
        return SMPP_ERR_NOMEM;
    k->tracing = 1;
    return 0;
}

static void trace_off(lev_link *k)
{
    if (k->trace) {
        free(k->trace[0].p);
        free(k->trace[1].p);
        free(k->trace);
    }
    k->trace = NULL;
    k->tracing = 0;
}

static void trace_append(lev_link *k, int dir, const uint8_t *p, size_t n)
{
    lev_buf *b = &k->trace[dir];
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = (uint8_t *)realloc(b->p, cap);
        if (np == NULL) {
            /* Tracing is a debugging aid: losing it beats losing the link. */
            fprintf(stderr, "smpp.ev: out of memory, tracing turned off for a link\n");
            trace_off(k);
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* ---- links: the dirty list ---------------------------------------------- */

static void link_mark_dirty(lev_link *k)
{
    lev_ctx *ctx = k->ctx;
    if (k->dirty_prev != NULL)
        return;
    k->dirty_next = ctx->dirty;
    if (ctx->dirty)
        ctx->dirty->dirty_prev = &k->dirty_next;
    ctx->dirty = k;
    k->dirty_prev = &ctx->dirty;
}

static void link_mark_clean(lev_link *k)
{
    if (k->dirty_prev == NULL)
        return;
    *k->dirty_prev = k->dirty_next;
    if (k->dirty_next)
        k->dirty_next->dirty_prev = k->dirty_prev;
    k->dirty_next = NULL;
    k->dirty_prev = NULL;
}

/* Write what the socket takes. Returns -1 when the write failed and the
 * session was failed (it then has events to hand out), else 0. */
static int link_flush(lev_link *k)
{
    if (k->s == NULL || k->fd < 0 || k->connecting)
        return 0;
    for (;;) {
        size_t len = 0;
        const uint8_t *p = smpp_session_pending(k->s, &len);
        if (len == 0)
            return 0;
        /* MSG_NOSIGNAL: a peer gone away gives EPIPE, not SIGPIPE. */
        ssize_t n = send(k->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            if (k->tracing)
                trace_append(k, 1, p, (size_t)n);
            smpp_session_sent(k->s, (size_t)n);
            if ((size_t)n < len)
                return 0; /* the socket buffer is full: the watcher waits */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        smpp_session_fail(k->s, SMPP_REASON_CONNECTION_LOST, smpp_ev_now_ms(&k->io));
        return -1;
    }
}

static void link_read(lev_link *k)
{
    for (int i = 0; i < LEV_READS_PER_WAKEUP && k->s != NULL; i++) {
        uint8_t *buf = NULL;
        size_t cap = 0;
        if (smpp_session_recv_buffer(k->s, k->read_want, &buf, &cap) != 0 || cap == 0) {
            /* Closed (events pending) or out of memory: stop reading;
             * the drain that follows ends the link either way. */
            if (smpp_session_state(k->s) != SMPP_STATE_CLOSED)
                smpp_session_fail(k->s, SMPP_REASON_CONNECTION_LOST, smpp_ev_now_ms(&k->io));
            return;
        }
        ssize_t n = recv(k->fd, buf, cap, 0);
        if (n > 0) {
            if (k->tracing)
                trace_append(k, 0, buf, (size_t)n);
            smpp_session_recv_commit(k->s, (size_t)n);
            if ((size_t)n < cap)
                return; /* a short read: the socket is drained */
            continue;
        }
        smpp_session_recv_commit(k->s, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* EOF or a socket error. While binding the session turns this into
         * "authentication failed" (the gateway's way to refuse a bind). */
        smpp_session_fail(k->s, SMPP_REASON_CONNECTION_LOST, smpp_ev_now_ms(&k->io));
        return;
    }
}

/* Close the socket and stop every watcher; the session stays. */
static void link_close_fd(lev_link *k)
{
    smpp_ev_stop(&k->io);
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
    k->connecting = 0;
}

/* ---- links: tracing ------------------------------------------------------ */

typedef struct trace_arg {
    lev_link *k;
    int dir;
    const uint8_t *p;
    long len; /* < 0: framing error, msg in err */
    const char *err;
} trace_arg;

static int trace_p(lua_State *L)
{
    trace_arg *a = (trace_arg *)lua_touserdata(L, 1);
    int n = a->k->ops->push_trace(L, a->k);
    if (n == 0)
        return 0;
    lua_pushstring(L, a->dir ? "out" : "in");
    if (a->len < 0) {
        lua_createtable(L, 0, 1);
        lua_pushstring(L, a->err);
        lua_setfield(L, -2, "error");
    } else {
        smpp_pdu pdu;
        smpp_error err;
        int rc = smpp_pdu_decode(&pdu, a->p, (size_t)a->len, &err);
        lsmpp_push_pdu(L, &pdu);
        if (rc != 0 && rc != SMPP_ERR_UNKNOWN_COMMAND) {
            lua_pushstring(L, err.msg);
            lua_setfield(L, -2, "error");
        }
        /* The simulator logs every PDU: never let a password reach a log. */
        lua_getfield(L, -1, "password");
        int has = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (has) {
            lua_pushliteral(L, "***");
            lua_setfield(L, -2, "password");
        }
    }
    lua_call(L, n + 1, 0);
    return 0;
}

static void trace_one(lua_State *L, lev_link *k, trace_arg *a)
{
    lua_pushcfunction(L, lev_msgh);
    lua_pushcfunction(L, trace_p);
    lua_pushlightuserdata(L, a);
    if (lua_pcall(L, 1, 0, -3) != 0)
        lev_report(L, k->ctx);
    lua_pop(L, 1);
}

/* Frame both byte streams and hand each whole PDU to the trace function.
 * Offsets, not pointers, survive the Lua call: it may queue output, which
 * appends to (and may move) the buffers. */
static void trace_flush(lua_State *L, lev_link *k)
{
    int top;

    if (k->trace_busy || !lua_checkstack(L, 16))
        return; /* an outer frame is flushing; it will see the new bytes */
    /* On the stack, the userdata can't be collected while we use it, even
     * when the trace function closes the link and drops the last reference. */
    top = lua_gettop(L);
    lev_link_push_self(L, k);
    k->trace_busy = 1;
    for (int dir = 0; dir < 2 && k->tracing; dir++) {
        size_t off = 0;
        while (k->tracing && off < k->trace[dir].len) {
            lev_buf *b = &k->trace[dir];
            smpp_error err;
            long n = smpp_frame(b->p + off, b->len - off, k->max_pdu, &err);
            if (n == 0)
                break;
            trace_arg a = {k, dir, b->p + off, n, err.msg};
            if (n < 0) {
                /* The rest of the stream can't be framed; show why once. */
                trace_one(L, k, &a);
                off = k->tracing ? k->trace[dir].len : 0;
                break;
            }
            trace_one(L, k, &a);
            off += (size_t)n;
        }
        if (k->tracing && off > 0) {
            lev_buf *b = &k->trace[dir];
            memmove(b->p, b->p + off, b->len - off);
            b->len -= off;
        }
    }
    k->trace_busy = 0;
    lua_settop(L, top);
}

/* ---- links: events ------------------------------------------------------- */

static void link_dispatch(lua_State *L, lev_link *k, const smpp_event *ev)
{
    lev_call call = {k, ev};
    lua_pushcfunction(L, lev_msgh);
    lua_pushcfunction(L, k->ops->dispatch);
    lua_pushlightuserdata(L, &call);
    if (lua_pcall(L, 1, 0, -3) != 0)
        lev_report(L, k->ctx);
    lua_pop(L, 1);
}

/* The session said CLOSED: flush what it left (an unbind_resp, a bind
 * refusal), close the socket, free the session, let the owner unlink. */
static void link_finish(lua_State *L, lev_link *k)
{
    (void)link_flush(k);
    if (k->tracing)
        trace_flush(L, k);
    link_mark_clean(k);
    link_close_fd(k);
    k->closed = 1;
    if (k->ops->closed)
        k->ops->closed(L, k);
    if (k->s) {
        smpp_session_free(k->s);
        k->s = NULL;
    }
    trace_off(k);
    luaL_unref(L, LUA_REGISTRYINDEX, k->anchor);
    k->anchor = LUA_NOREF;
}

static void link_drain(lua_State *L, lev_link *k)
{
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 16))
        return;
    /* On the stack, the userdata can't be collected while we use it, even
     * when a callback closes the link and it loses its anchor. */
    lev_link_push_self(L, k);
    k->depth++;
    for (;;) {
        if (k->tracing)
            trace_flush(L, k);
        if (k->s == NULL)
            break;
        smpp_event ev;
        if (!smpp_session_next_event(k->s, smpp_ev_now_ms(&k->io), &ev))
            break;
        link_dispatch(L, k, &ev);
        if (k->s == NULL)
            break; /* closed at __gc/__close from inside the callback */
        if (ev.type == SMPP_EV_CLOSED) {
            link_finish(L, k);
            break;
        }
        /* No write here: what the callbacks queued goes out in one write
         * when the drain is over (link_settle). */
    }
    k->depth--;
    lua_settop(L, top);
}

/* The end of every path that touched the session: (drain != 0) dispatch
 * the events, write once, and make the watchers mirror the session (write
 * watcher iff output is left, timer at the deadline). L may be NULL when
 * drain is 0 (the prepare watcher): Lua then runs only for tracing. */
static void link_settle(lua_State *L, lev_link *k, int drain)
{
    if (drain)
        link_drain(L, k);
    if (k->s == NULL)
        return;
    link_mark_clean(k);
    int failed = link_flush(k) != 0;
    if (k->tracing) {
        /* Trace what just left now, so a trace shows each answer before
         * the peer's next PDU, as it happened. */
        trace_flush(L ? L : lev_ctx_L(k->ctx), k);
        if (k->s == NULL)
            return;
    }
    if (failed) {
        /* The write failed: the session closed and has results and CLOSED
         * to hand out. Where they can't be dispatched now, the timer does
         * it next iteration. */
        if (drain)
            link_drain(L, k);
        else
            smpp_ev_kick(&k->io);
        if (k->s == NULL)
            return;
    }
    smpp_ev_sync(&k->io, k->s);
}

void lev_link_after(lua_State *L, lev_link *k, int drain)
{
    if (k->s != NULL)
        link_settle(L, k, drain);
}

void lev_link_queued(lua_State *L, lev_link *k)
{
    if (k->s == NULL)
        return;
    /* Inside the loop: the wakeup running us, or the prepare watcher
     * before the loop blocks, writes it together with everything else. */
    if (ev_depth(k->ctx->loop) > 0) {
        link_mark_dirty(k);
        return;
    }
    /* Top-level code: nothing else may come to write it; write now. From
     * inside one of this link's callbacks (a drain run by close at top
     * level) the outer drain dispatches the events. */
    link_settle(L, k, k->depth == 0);
}

void lev_ctx_flush(lev_ctx *ctx)
{
    while (ctx->dirty != NULL) {
        lev_link *k = ctx->dirty;
        link_mark_clean(k);
        link_settle(NULL, k, 0);
    }
}

void lev_link_shutdown(lua_State *L, lev_link *k, lev_shutdown how)
{
    if (k->s == NULL) {
        k->closed = 1;
        link_mark_clean(k);
        link_close_fd(k);
        return;
    }
    smpp_ms now = smpp_ev_now_ms(&k->io);
    if (how != LEV_GC) {
        smpp_session_close(k->s, how == LEV_GRACEFUL, now);
        /* From inside one of this link's callbacks the outer drain
         * delivers the events once the callback returns; the kick covers
         * a callback that runs the loop itself while waiting for them. */
        if (k->depth > 0)
            smpp_ev_kick(&k->io);
        lev_link_after(L, k, k->depth == 0);
        return;
    }
    /* __gc: nobody can observe callbacks any more. End the session, drop
     * the requests' callbacks unseen, and free everything now. */
    smpp_session_close(k->s, 0, now);
    smpp_event ev;
    while (smpp_session_next_event(k->s, now, &ev)) {
        if (ev.type == SMPP_EV_RESULT && k->ops->drop_token)
            k->ops->drop_token(L, k, ev.token);
    }
    link_mark_clean(k);
    link_close_fd(k);
    k->closed = 1;
    if (k->ops->closed)
        k->ops->closed(L, k);
    smpp_session_free(k->s);
    k->s = NULL;
    trace_off(k);
    luaL_unref(L, LUA_REGISTRYINDEX, k->anchor);
    k->anchor = LUA_NOREF;
}

/* ---- links: watchers ------------------------------------------------------ */

/* The client's connect completion lives in lsmpp_ev_client.c. */
void lev_client_connect_done(lua_State *L, lev_link *k);

static void link_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_link *k = (lev_link *)w->data;
    if (k->s == NULL)
        return;
    link_read(k);
    lev_link_after(lev_ctx_L(k->ctx), k, 1);
}

static void link_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_link *k = (lev_link *)w->data;
    lua_State *L = lev_ctx_L(k->ctx);
    if (k->s == NULL)
        return;
    if (k->connecting) {
        lev_client_connect_done(L, k);
        return;
    }
    lev_link_after(L, k, 1);
}

static void link_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_link *k = (lev_link *)w->data;
    if (k->s == NULL)
        return;
    smpp_session_tick(k->s, smpp_ev_timer_now(&k->io));
    lev_link_after(lev_ctx_L(k->ctx), k, 1);
}

/* ---- module ---------------------------------------------------------------- */

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
                                     {"client", lev_client_new},
                                     {"server", lev_server_new},
                                     {NULL, NULL}};
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
