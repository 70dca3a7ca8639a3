/*
 * lsmpp_ev_link.c - the link layer of smpp.ev (lsmpp_ev_link.h).
 *
 * Rules kept here:
 *  - C never calls Lua while the session parses: events are drained with
 *    smpp_session_next_event after the session call has returned, and
 *    each is converted to Lua values before any Lua code runs (the event's
 *    pdu dies at the next session call).
 *  - No Lua error crosses libev: everything a watcher callback does in Lua
 *    (even pushing a table, which can fail for memory) runs inside
 *    lua_pcall; errors go to ev.on_error and the loop goes on.
 *  - Writes are coalesced (lsmpp_ev_link.h says how); every path ends in
 *    link_settle or on the dirty list, which the prepare watcher and
 *    run_loop empty, so no output waits with no watcher to send it.
 *  - A link is freed only between session calls, and its userdata sits on
 *    the Lua stack of every frame using it, so closing it from inside one
 *    of its own callbacks is safe: outer frames see k->s == NULL and stop.
 *  - A link ends in link_end, whichever way it ends (the session's CLOSED,
 *    or __gc), and the owner hears of it once, through ops->closed.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lsmpp_ev_link.h"
#include "lsmpp_pdu.h"

/* Read at most this many times per wakeup, so one busy peer can't starve
 * the others; the socket stays readable and the loop comes back. */
#define LEV_READS_PER_WAKEUP 8
#define LEV_READ_WANT 16384
/* While a drain hands out events, write as soon as this much output is
 * pending (the answers and new submits its callbacks queued) instead of
 * once at its end: the peer then works on the first of a window while we
 * handle the rest, rather than the two sides taking turns. Small enough
 * to start the peer early, large enough that a write carries a few dozen
 * PDUs (1 KB writes measured slower). */
#define LEV_FLUSH_AT 4096

static void link_io_cb(struct ev_loop *loop, ev_io *w, int revents);
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
    smpp_ev_init(&k->io, ctx->loop, -1, k, link_io_cb, link_io_cb, link_timer_cb);
}

void lev_link_start(lev_link *k, int fd)
{
    k->fd = fd;
    smpp_ev_set_fd(&k->io, fd);
    smpp_ev_read(&k->io, 1);
}

void lev_link_push_self(lua_State *L, lev_link *k)
{
    if (k->anchor != LUA_NOREF)
        lua_rawgeti(L, LUA_REGISTRYINDEX, k->anchor);
    else
        lua_pushnil(L);
}

static smpp_ms link_now(lev_link *k)
{
    return smpp_ev_now_ms(&k->io);
}

/* ---- tracing: buffers ------------------------------------------------------ */

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

int lev_link_open(lua_State *L, lev_link *k, int idx, smpp_session *s, int trace)
{
    k->s = s;
    if (trace) {
        k->trace = (lev_buf *)calloc(2, sizeof(lev_buf));
        if (k->trace == NULL)
            return SMPP_ERR_NOMEM; /* not anchored: __gc frees s */
        k->tracing = 1;
    }
    lua_pushvalue(L, idx);
    k->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* ---- the dirty list ---------------------------------------------------------- */

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

/* ---- socket I/O ---------------------------------------------------------------- */

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
        smpp_session_fail(k->s, SMPP_REASON_CONNECTION_LOST, link_now(k));
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
                smpp_session_fail(k->s, SMPP_REASON_CONNECTION_LOST, link_now(k));
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
        smpp_session_fail(k->s, SMPP_REASON_CONNECTION_LOST, link_now(k));
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

/* ---- connecting ---------------------------------------------------------------- */

static void link_free_addrs(lev_link *k)
{
    if (k->ai_list)
        freeaddrinfo(k->ai_list);
    k->ai_list = k->ai_next = NULL;
}

static void link_connected(lev_link *k, int fd)
{
    link_free_addrs(k);
    k->connecting = 0;
    smpp_ev_write(&k->io, 0);
    lev_link_start(k, fd);
    if (smpp_session_connected(k->s, link_now(k)) != 0)
        smpp_session_fail(k->s, SMPP_REASON_CONNECTION_LOST, link_now(k));
}

/* Try the remaining addresses in turn (an IPv6 and an IPv4 address for
 * "localhost", say) until one connects or is in progress; last is the
 * errno of the attempt before. */
static void link_connect_next(lev_link *k, int last)
{
    while (k->ai_next != NULL) {
        struct addrinfo *ai = k->ai_next;
        k->ai_next = ai->ai_next;
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        /* One PDU is one small write that must leave now: no Nagle. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            link_connected(k, fd);
            return;
        }
        if (errno == EINPROGRESS || errno == EINTR) {
            k->fd = fd;
            k->connecting = 1;
            smpp_ev_set_fd(&k->io, fd);
            smpp_ev_write(&k->io, 1); /* writable = connect finished */
            return;
        }
        last = errno;
        close(fd);
    }
    link_free_addrs(k);
    if (last == ECONNREFUSED)
        lev_link_fail(k, SMPP_REASON_CONNECT_REFUSED, NULL);
    else if (last == ETIMEDOUT)
        lev_link_fail(k, SMPP_REASON_CONNECT_TIMEOUT, NULL);
    else
        lev_link_fail(k, SMPP_REASON_CONNECT_ERROR, strerror(last));
}

void lev_link_fail(lev_link *k, smpp_reason reason, const char *detail)
{
    free(k->detail);
    /* Out of memory, the text says "unknown": the reason still shows. */
    k->detail = detail != NULL ? strdup(detail) : NULL;
    smpp_session_fail(k->s, reason, link_now(k));
}

void lev_link_connect(lev_link *k, struct addrinfo *ai)
{
    k->ai_list = k->ai_next = ai;
    link_connect_next(k, ECONNREFUSED);
}

/* The write watcher fired while connecting: the connect is over. */
static void link_connect_done(lev_link *k)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        link_connected(k, k->fd);
        return;
    }
    smpp_ev_write(&k->io, 0);
    close(k->fd);
    k->fd = -1;
    k->connecting = 0;
    link_connect_next(k, err);
}

/* ---- requests and their callbacks ------------------------------------------- */

/* Register cb (at cb_idx; none when nil) and its extra argument (at
 * arg_idx; none when nil) in the user value table at uv for a new
 * request; returns the token, 0 for no callback. */
static int ref_callback(lua_State *L, int uv, int cb_idx, int arg_idx)
{
    if (lua_isnil(L, cb_idx))
        return 0;
    lua_rawgeti(L, uv, LEV_UV_CBS);
    lua_pushvalue(L, cb_idx);
    int token = luaL_ref(L, -2);
    lua_pop(L, 1);
    if (!lua_isnil(L, arg_idx)) {
        lua_rawgeti(L, uv, LEV_UV_ARGS);
        lua_pushvalue(L, arg_idx);
        lua_rawseti(L, -2, token);
        lua_pop(L, 1);
    }
    return token;
}

/* Release a token's callback and argument without calling it: a request
 * the session refused, or a result nobody will see (__gc). */
static void unref_callback(lua_State *L, int uv, int token)
{
    if (token == 0)
        return;
    lua_rawgeti(L, uv, LEV_UV_ARGS);
    lua_pushnil(L);
    lua_rawseti(L, -2, token);
    lua_pop(L, 1);
    lua_rawgeti(L, uv, LEV_UV_CBS);
    luaL_unref(L, -1, token);
    lua_pop(L, 1);
}

/* Call a RESULT event's callback with the result's values, the ones
 * lsmpp_push_result makes for core.session's next_event too, and, when
 * the request carried an extra argument, that as the fifth, after the
 * result padded with nils. Both are released before the call. */
static void call_result(lua_State *L, int uv, const smpp_event *ev)
{
    int ref = (int)ev->token;
    if (ref == 0)
        return;
    lua_rawgeti(L, uv, LEV_UV_CBS);
    int cbs = lua_gettop(L);
    lua_rawgeti(L, cbs, ref); /* cbs + 1: the callback */
    luaL_unref(L, cbs, ref);
    lua_rawgeti(L, uv, LEV_UV_ARGS);
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
    int n = lsmpp_push_result(L, ev);
    if (has_arg) {
        /* A fixed place whatever the outcome: the fifth argument. */
        for (; n < 4; n++)
            lua_pushnil(L);
        lua_pushvalue(L, args + 1);
        n++;
    }
    lua_call(L, n, 0);
}

int lev_link_submit(lua_State *L, lev_link *k, const char *no_session)
{
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TFUNCTION);
    else if (!lua_isnoneornil(L, 4))
        luaL_argerror(L, 4, "an argument for the callback, but no callback");
    lua_settop(L, 4);
    if (k->s == NULL) {
        lua_pushnil(L);
        lua_pushstring(L, no_session);
        return 2;
    }
    k->ops->push_uv(L, k);
    int uv = lua_gettop(L);
    int token = ref_callback(L, uv, 3, 4);
    if (lsmpp_submit(L, k->s, 2, (uint64_t)token, link_now(k)) != 0) {
        unref_callback(L, uv, token);
        return 2;
    }
    lev_link_queued(L, k);
    lua_pushboolean(L, 1);
    return 1;
}

void lev_link_push_error(lua_State *L, lev_link *k)
{
    const char *e = k->s != NULL ? smpp_session_error(k->s) : k->error;
    if (e != NULL && *e != '\0')
        lua_pushstring(L, e);
    else
        lua_pushnil(L);
}

/* ---- tracing --------------------------------------------------------------------- */

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
    lev_link *k = a->k;
    k->ops->push_uv(L, k);
    if (lua_isnil(L, -1))
        return 0;
    lua_rawgeti(L, -1, LEV_UV_TRACE);
    if (lua_isnil(L, -1))
        return 0;
    int n = 1;
    if (k->ops->trace_self) {
        lev_link_push_self(L, k);
        n++;
    }
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
    lua_pushcfunction(L, trace_p);
    lua_pushlightuserdata(L, a);
    (void)lev_pcall(L, k->ctx, 1, 0);
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

/* ---- events ---------------------------------------------------------------------- */

/* What link_event_p receives besides the owner's user value table. */
typedef struct link_call {
    lev_link *k;
    const smpp_event *ev;
} link_call;

/* link_event_p(uv, call): one event, inside lua_pcall. */
static int link_event_p(lua_State *L)
{
    link_call *call = (link_call *)lua_touserdata(L, 2);
    const smpp_event *ev = call->ev;
    if (lua_isnil(L, 1))
        return 0; /* the owner is gone */
    if (ev->type == SMPP_EV_RESULT) {
        call_result(L, 1, ev);
        return 0;
    }
    /* The values core.session's next_event gives, made by the same glue. */
    int n = lsmpp_push_event(L, ev, 0, call->k->detail);
    if (n > 0) /* none for UNBOUND: CLOSED follows, which users see */
        call->k->ops->event(L, call->k, ev, 1, n);
    return 0;
}

void lev_link_log_default(const smpp_event *ev)
{
    if (ev->level <= SMPP_LOG_WARN)
        fprintf(stderr, "lua-smpp: %s: %s\n", smpp_log_level_name(ev->level),
                ev->message != NULL ? ev->message : "");
}

int lev_link_handler(lua_State *L, lev_link *k, int uv, int slot, int n, int self)
{
    lua_rawgeti(L, uv, slot);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return -1;
    }
    lua_replace(L, -n - 1);
    if (!self)
        return n - 1;
    lev_link_push_self(L, k);
    lua_insert(L, -n);
    return n;
}

/* The end of a link, whichever way it ends: close the socket, tell the
 * owner, free the session, let the userdata go. Idempotent. */
static void link_end(lua_State *L, lev_link *k)
{
    link_mark_clean(k);
    link_close_fd(k);
    link_free_addrs(k);
    if (k->closed)
        return;
    k->closed = 1;
    k->ops->closed(L, k);
    if (k->s) {
        const char *e = smpp_session_error(k->s);
        /* Out of memory, error() says nil: nothing else is lost. */
        if (*e != '\0')
            k->error = strdup(e);
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
    lua_pushcfunction(L, lev_msgh);
    int msgh = lua_gettop(L);
    k->ops->push_uv(L, k);
    int uv = lua_gettop(L);
    k->depth++;
    for (;;) {
        if (k->tracing)
            trace_flush(L, k);
        if (k->s == NULL)
            break;
        smpp_event ev;
        if (!smpp_session_next_event(k->s, link_now(k), &ev))
            break;
        link_call call = {k, &ev};
        lua_pushcfunction(L, link_event_p);
        lua_pushvalue(L, uv);
        lua_pushlightuserdata(L, &call);
        if (lua_pcall(L, 2, 0, msgh) != 0)
            lev_report(L, k->ctx);
        if (k->s == NULL)
            break; /* closed at __gc/__close from inside the callback */
        if (ev.type == SMPP_EV_CLOSED) {
            /* Flush what the session left (an unbind_resp, a bind
             * refusal) and show it in the trace before the end. */
            (void)link_flush(k);
            if (k->tracing)
                trace_flush(L, k);
            link_end(L, k);
            break;
        }
        /* What the callbacks queued goes out when the drain is over
         * (link_settle), or now once LEV_FLUSH_AT bytes wait. A failed
         * write fails the session: its results come next in this loop. */
        size_t pending = 0;
        if (k->depth == 1 && smpp_session_pending(k->s, &pending) != NULL &&
            pending >= LEV_FLUSH_AT)
            (void)link_flush(k);
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

void lev_link_kick(lev_link *k)
{
    smpp_ev_kick(&k->io);
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
    if (k->s != NULL && how != LEV_GC) {
        smpp_session_close(k->s, how == LEV_GRACEFUL, link_now(k));
        /* From inside one of this link's callbacks the outer drain
         * delivers the events once the callback returns; the kick covers
         * a callback that runs the loop itself while waiting for them. */
        if (k->depth > 0)
            smpp_ev_kick(&k->io);
        link_settle(L, k, k->depth == 0);
        return;
    }
    if (k->s != NULL) {
        /* __gc: nobody can observe callbacks any more. End the session and
         * drop the requests' callbacks unseen. */
        smpp_ms now = link_now(k);
        smpp_event ev;
        smpp_session_close(k->s, 0, now);
        k->ops->push_uv(L, k);
        int uv = lua_gettop(L);
        while (smpp_session_next_event(k->s, now, &ev)) {
            if (ev.type == SMPP_EV_RESULT && lua_istable(L, uv))
                unref_callback(L, uv, (int)ev.token);
        }
        lua_pop(L, 1);
    }
    link_end(L, k);
    if (how == LEV_GC) {
        free(k->detail);
        free(k->error);
        k->detail = k->error = NULL;
    }
}

/* ---- watchers ------------------------------------------------------------------- */

/* The read and the write watcher: readable, or writable (the connect is
 * over while connecting, else the socket takes more output). */
static void link_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    lev_link *k = (lev_link *)w->data;
    if (k->s == NULL)
        return;
    if (revents & EV_READ)
        link_read(k);
    else if (k->connecting)
        link_connect_done(k);
    link_settle(lev_ctx_L(k->ctx), k, 1);
}

static void link_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_link *k = (lev_link *)w->data;
    if (k->s == NULL)
        return;
    smpp_session_tick(k->s, smpp_ev_timer_now(&k->io));
    link_settle(lev_ctx_L(k->ctx), k, 1);
}
