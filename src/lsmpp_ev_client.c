/*
 * lsmpp_ev_client.c - ev.client: an ESME bound to the gateway with
 * bind_transceiver, on a non-blocking socket (doc/smpp-ev.md, "Client").
 *
 * The userdata holds the C state; its user value table holds the Lua
 * state: the per-submit callbacks (indexed by the token that travels with
 * the request through the session), the handlers, and the password until
 * bind copies it into the session.
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

#include "lsmpp_ev.h"
#include "lsmpp_pdu.h"

/* Slots of the user value table. */
enum {
    UV_CBS = 1, /* token -> callback (luaL_ref on this table) */
    UV_ARGS,    /* token -> the callback's extra argument, when given */
    UV_ON_RECEIPT,
    UV_ON_DELIVER,
    UV_ON_CLOSE,
    UV_TRACE,
    UV_BIND_CB,
    UV_PASSWORD, /* until bind; never anywhere else on our side */
    UV_CTX,      /* keeps the module context alive as long as we are */
    UV_COUNT = UV_CTX
};

typedef struct lev_client {
    lev_link link; /* first: a lev_link * is a lev_client * */
    smpp_session_config cfg;
    char host[256];
    char system_id[16];
    char system_type[13];
    int port;
    unsigned started : 1; /* bind was called */
    uint64_t receipts;
    smpp_session_stats last;  /* the session's stats when it ended */
    smpp_reason ended_by;     /* and why it ended */
    struct addrinfo *ai_list; /* addresses still to try while connecting */
    struct addrinfo *ai_next;
    lev_lookup *lookup; /* the host name's lookup while it runs */
    char detail[128];   /* resolver or connect error text */
} lev_client;

#define CTX_UP(L) ((lev_ctx *)lua_touserdata((L), lua_upvalueindex(1)))

static lev_client *check_client(lua_State *L)
{
    return (lev_client *)luaL_checkudata(L, 1, LEV_CLIENT_MT);
}

static smpp_ms now_ms(lev_client *c)
{
    return smpp_ev_now_ms(&c->link.io);
}

/* ---- connect ---------------------------------------------------------- */

static void free_addrs(lev_client *c)
{
    if (c->ai_list)
        freeaddrinfo(c->ai_list);
    c->ai_list = c->ai_next = NULL;
}

static void connect_failed(lev_client *c, int err)
{
    smpp_reason reason = SMPP_REASON_CONNECT_ERROR;
    free_addrs(c);
    if (err == ECONNREFUSED)
        reason = SMPP_REASON_CONNECT_REFUSED;
    else if (err == ETIMEDOUT)
        reason = SMPP_REASON_CONNECT_TIMEOUT;
    else
        snprintf(c->detail, sizeof c->detail, "%s", strerror(err));
    smpp_session_fail(c->link.s, reason, now_ms(c));
}

static void connected(lev_client *c, int fd)
{
    free_addrs(c);
    c->link.connecting = 0;
    smpp_ev_write(&c->link.io, 0);
    lev_link_start(&c->link, fd);
    if (smpp_session_connected(c->link.s, now_ms(c)) != 0)
        smpp_session_fail(c->link.s, SMPP_REASON_CONNECTION_LOST, now_ms(c));
}

/* Try the remaining addresses of the host in turn (an IPv6 and an IPv4
 * address for "localhost", say) until one connects or is in progress. */
static void connect_next(lev_client *c, int last)
{
    while (c->ai_next != NULL) {
        struct addrinfo *ai = c->ai_next;
        c->ai_next = ai->ai_next;
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
            connected(c, fd);
            return;
        }
        if (errno == EINPROGRESS || errno == EINTR) {
            c->link.fd = fd;
            c->link.connecting = 1;
            smpp_ev_set_fd(&c->link.io, fd);
            smpp_ev_write(&c->link.io, 1); /* writable = connect finished */
            return;
        }
        last = errno;
        close(fd);
    }
    connect_failed(c, last);
}

static void dns_failed(lev_client *c, int rc, int sys_errno)
{
    snprintf(c->detail, sizeof c->detail, "%s",
             rc == EAI_SYSTEM ? strerror(sys_errno) : gai_strerror(rc));
    smpp_session_fail(c->link.s, SMPP_REASON_DNS, now_ms(c));
}

/* The owner is done with the lookup (closed, timed out, collected): its
 * answer, whenever it comes, is dropped. */
static void cancel_lookup(lev_client *c)
{
    if (c->lookup != NULL) {
        lev_lookup_cancel(c->lookup);
        c->lookup = NULL;
    }
}

/* The host name's lookup is over (lev_lookup_done, from the loop). */
static void resolved(lua_State *L, void *owner, int rc, int sys_errno, struct addrinfo *res)
{
    lev_client *c = (lev_client *)owner;
    c->lookup = NULL;
    /* The lookup is cancelled when the CLOSED event is handed out, and a
     * close from inside a callback leaves that event to the kick timer of
     * a later iteration, which the answer may beat: the session is over,
     * the answer of no use. */
    if (c->link.s == NULL || smpp_session_state(c->link.s) != SMPP_STATE_CONNECTING) {
        if (res)
            freeaddrinfo(res);
        return;
    }
    if (rc != 0) {
        dns_failed(c, rc, sys_errno);
    } else {
        c->ai_list = c->ai_next = res;
        connect_next(c, ECONNREFUSED);
    }
    lev_link_after(L, &c->link, 1);
}

/* Runs in bind, after the session is made: its connect timeout, counting
 * from then, covers the lookup as well as the TCP connect. */
static void connect_start(lev_client *c)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* An address literal (IPv4 or IPv6) parses here without any lookup,
     * so it connects at once with no thread. */
    hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
    snprintf(port, sizeof port, "%d", c->port);
    int rc = getaddrinfo(c->host, port, &hints, &res);
    if (rc == 0) {
        c->ai_list = c->ai_next = res;
        connect_next(c, ECONNREFUSED);
        return;
    }
    if (rc != EAI_NONAME) {
        dns_failed(c, rc, errno);
        return;
    }
    /* A name: getaddrinfo may wait seconds on a DNS server, so it runs on
     * a helper thread and the loop goes on serving everything else. */
    int err = 0;
    c->lookup = lev_lookup_start(c->link.ctx, c->host, port, resolved, c, &err);
    if (c->lookup == NULL) {
        snprintf(c->detail, sizeof c->detail, "cannot start a lookup: %s", strerror(err));
        smpp_session_fail(c->link.s, SMPP_REASON_DNS, now_ms(c));
    }
}

/* The write watcher fired while connecting (called from lsmpp_ev.c). */
void lev_client_connect_done(lua_State *L, lev_link *k)
{
    lev_client *c = (lev_client *)k;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        connected(c, k->fd);
    } else {
        smpp_ev_write(&k->io, 0);
        close(k->fd);
        k->fd = -1;
        k->connecting = 0;
        connect_next(c, err);
    }
    lev_link_after(L, k, 1);
}

/* ---- events ------------------------------------------------------------ */

/* Receipts and deliver_sm nobody listens for still leave a trace: a lost
 * receipt is a support ticket nobody can answer. */
static void no_handler_line(lua_State *L, int t, int receipt)
{
    lua_getfield(L, t, receipt ? "message_id" : "source_addr");
    lua_getfield(L, t, receipt ? "stat" : "destination_addr");
    if (receipt)
        fprintf(stderr, "smpp.ev: receipt without on_receipt handler: message_id %s stat %s\n",
                lua_tostring(L, -2) ? lua_tostring(L, -2) : "?",
                lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    else
        fprintf(stderr, "smpp.ev: deliver_sm without on_deliver handler: from %s to %s\n",
                lua_tostring(L, -2) ? lua_tostring(L, -2) : "?",
                lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    lua_pop(L, 2);
}

static int client_dispatch_p(lua_State *L)
{
    lev_call *call = (lev_call *)lua_touserdata(L, 1);
    lev_client *c = (lev_client *)call->k;
    const smpp_event *ev = call->ev;
    smpp_receipt r;

    lev_link_push_self(L, &c->link);
    lev_getuv(L, -1);
    int uv = lua_gettop(L);

    switch (ev->type) {
    case SMPP_EV_BOUND:
    case SMPP_EV_BIND_FAILED:
        /* The bind callback runs once: take it out before calling. */
        lua_rawgeti(L, uv, UV_BIND_CB);
        lua_pushnil(L);
        lua_rawseti(L, uv, UV_BIND_CB);
        if (lua_isnil(L, -1))
            return 0;
        if (ev->type == SMPP_EV_BOUND) {
            lua_pushboolean(L, 1);
            lua_call(L, 1, 0);
        } else if (ev->reason == SMPP_REASON_BIND_STATUS) {
            lua_pushnil(L);
            lsmpp_push_status(L, ev->status);
            lsmpp_push_u32(L, ev->status);
            lua_call(L, 3, 0);
        } else {
            lua_pushnil(L);
            lev_push_reason(L, ev->reason, c->detail);
            lua_call(L, 2, 0);
        }
        return 0;
    case SMPP_EV_RESULT:
        lev_call_result(L, uv, UV_CBS, UV_ARGS, ev);
        return 0;
    case SMPP_EV_DELIVER: {
        int receipt = lsmpp_is_receipt(ev->pdu, &r);
        if (receipt) {
            c->receipts++;
            lsmpp_push_receipt(L, ev->pdu);
            lua_rawgeti(L, uv, UV_ON_RECEIPT);
        } else {
            lsmpp_push_pdu(L, ev->pdu);
            lua_rawgeti(L, uv, UV_ON_DELIVER);
        }
        if (lua_isnil(L, -1)) {
            no_handler_line(L, lua_gettop(L) - 1, receipt);
            return 0;
        }
        lua_insert(L, -2);
        lua_call(L, 1, 0);
        return 0;
    }
    case SMPP_EV_CLOSED:
        lua_rawgeti(L, uv, UV_ON_CLOSE);
        if (lua_isnil(L, -1))
            return 0;
        lev_push_reason(L, ev->reason, c->detail);
        lua_call(L, 1, 0);
        return 0;
    default:
        /* UNBOUND: a CLOSED event follows, which is what users see. */
        return 0;
    }
}

static int client_push_trace(lua_State *L, lev_link *k)
{
    lev_link_push_self(L, k);
    if (lua_isnil(L, -1))
        return 0;
    lev_getuv(L, -1);
    lua_rawgeti(L, -1, UV_TRACE);
    lua_replace(L, -3);
    lua_pop(L, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

static void client_closed(lua_State *L, lev_link *k)
{
    lev_client *c = (lev_client *)k;
    (void)L;
    if (k->s) {
        smpp_session_get_stats(k->s, &c->last);
        c->ended_by = smpp_session_close_reason(k->s);
    }
    cancel_lookup(c);
    free_addrs(c);
}

static const lev_link_ops client_ops = {client_dispatch_p, client_push_trace, client_closed, NULL};

/* ---- methods ------------------------------------------------------------- */

static int client_bind(lua_State *L)
{
    lev_client *c = check_client(L);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    if (c->link.closed) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        return 2;
    }
    if (c->started) {
        lua_pushnil(L);
        lua_pushliteral(L, "bind already called");
        return 2;
    }
    lev_getuv(L, 1);
    int uv = lua_gettop(L);
    lua_rawgeti(L, uv, UV_PASSWORD);
    c->cfg.password = lua_tostring(L, -1);

    /* The session is made here, not in ev.client{}: its connect timeout
     * starts counting when it is made. */
    smpp_error err;
    smpp_session *s = smpp_session_new(&c->cfg, now_ms(c), &err);
    c->cfg.password = NULL;
    if (s == NULL) {
        if (err.code == SMPP_ERR_NOMEM)
            return luaL_error(L, "not enough memory");
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    /* From here the userdata owns s: raising is safe, __gc frees it. */
    c->link.s = s;
    c->started = 1;
    lua_pushnil(L);
    lua_rawseti(L, uv, UV_PASSWORD); /* the session has its own copy now */
    lua_pushvalue(L, 2);
    lua_rawseti(L, uv, UV_BIND_CB);
    lua_rawgeti(L, uv, UV_TRACE);
    if (!lua_isnil(L, -1) && lev_link_trace_on(&c->link) != 0)
        return luaL_error(L, "not enough memory");
    lev_link_anchor(L, &c->link, 1);

    connect_start(c);
    /* Even a failure known now (DNS, refused at once) reaches cb from the
     * loop, never before bind returns: the timer fires next iteration and
     * the drain there delivers it. */
    smpp_ev_kick(&c->link.io);
    lev_link_after(L, &c->link, 0);
    lua_pushboolean(L, 1);
    return 1;
}

static int submit_error(lua_State *L, const smpp_error *err)
{
    lua_pushnil(L);
    switch (err->code) {
    case SMPP_ERR_QUEUE_FULL:
        lua_pushliteral(L, "queue full");
        break;
    case SMPP_ERR_STATE:
        lua_pushliteral(L, "closed");
        break;
    case SMPP_ERR_NOT_SENT:
        lua_pushliteral(L, "not sent");
        break;
    default:
        lua_pushstring(L, err->msg);
        break;
    }
    return 2;
}

static int client_submit(lua_State *L)
{
    lev_client *c = check_client(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TFUNCTION);
    else if (!lua_isnoneornil(L, 4))
        luaL_argerror(L, 4, "an argument for the callback, but no callback");
    lua_settop(L, 4);
    if (c->link.s == NULL) {
        smpp_error ended;
        if (!c->started && !c->link.closed) {
            lua_pushnil(L);
            lua_pushliteral(L, "not bound: call bind first");
            return 2;
        }
        /* The session is gone: say what it would have said. */
        ended.code =
            c->started && c->ended_by != SMPP_REASON_CLOSED ? SMPP_ERR_NOT_SENT : SMPP_ERR_STATE;
        return submit_error(L, &ended);
    }

    /* The gateway's defaults (PROTOCOL.md, "What the gateway expects of a
     * client"), overlaid by whatever the caller's table says. */
    smpp_pdu pdu;
    lsmpp_scratch scratch;
    smpp_error err;
    lev_pdu_defaults(&pdu, SMPP_SUBMIT_SM);
    pdu.registered_delivery = 1; /* the point of an OTP is its receipt */
    int rc = lsmpp_fill_pdu(L, 2, &pdu, &scratch, &err);
    if (rc == SMPP_ERR_NOMEM)
        return luaL_error(L, "not enough memory");
    if (rc != 0)
        return submit_error(L, &err);
    if (pdu.command_id != SMPP_SUBMIT_SM) {
        lua_pushnil(L);
        lua_pushliteral(L, "command: a client submits submit_sm only");
        return 2;
    }

    lev_getuv(L, 1);
    int uv = lua_gettop(L);
    int token = lev_ref_callback(L, uv, UV_CBS, UV_ARGS, 3, 4);
    rc = smpp_session_submit(c->link.s, &pdu, (uint64_t)token, now_ms(c), &err);
    if (rc != 0) {
        lev_unref_callback(L, uv, UV_CBS, UV_ARGS, token);
        if (rc == SMPP_ERR_NOMEM)
            return luaL_error(L, "not enough memory");
        return submit_error(L, &err);
    }
    lev_link_queued(L, &c->link);
    lua_pushboolean(L, 1);
    return 1;
}

static int set_handler(lua_State *L, int slot)
{
    check_client(L);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lev_getuv(L, 1);
    lua_rawgeti(L, 3, slot);
    lua_pushvalue(L, 2);
    lua_rawseti(L, 3, slot);
    return 1;
}

static int client_on_receipt(lua_State *L)
{
    return set_handler(L, UV_ON_RECEIPT);
}

static int client_on_deliver(lua_State *L)
{
    return set_handler(L, UV_ON_DELIVER);
}

static int client_on_close(lua_State *L)
{
    return set_handler(L, UV_ON_CLOSE);
}

static void shutdown_client(lua_State *L, lev_client *c, lev_shutdown how)
{
    if (!c->started) {
        c->link.closed = 1;
        return;
    }
    lev_link_shutdown(L, &c->link, how);
    if (how == LEV_GC)
        free_addrs(c);
}

static int client_close(lua_State *L)
{
    shutdown_client(L, check_client(L), LEV_GRACEFUL);
    lua_pushboolean(L, 1);
    return 1;
}

static int client_close_now(lua_State *L) /* __close */
{
    shutdown_client(L, check_client(L), LEV_IMMEDIATE);
    return 0;
}

static int client_gc(lua_State *L)
{
    shutdown_client(L, check_client(L), LEV_GC);
    return 0;
}

static const char *client_state_name(lev_client *c)
{
    if (!c->started)
        return c->link.closed ? "closed" : "idle";
    if (c->link.s == NULL)
        return "closed";
    return smpp_state_name(smpp_session_state(c->link.s));
}

static int client_state(lua_State *L)
{
    lua_pushstring(L, client_state_name(check_client(L)));
    return 1;
}

static int client_stats(lua_State *L)
{
    lev_client *c = check_client(L);
    smpp_session_stats st = c->last;
    if (c->link.s)
        smpp_session_get_stats(c->link.s, &st);
    lev_push_stats(L, &st, c->receipts, 0);
    return 1;
}

static int client_tostring(lua_State *L)
{
    lev_client *c = check_client(L);
    /* Never the password: it is not even stored here. */
    lua_pushfstring(L, "smpp.client(%s:%d, %s, %s)", c->host, c->port, c->system_id,
                    client_state_name(c));
    return 1;
}

/* ---- constructor ------------------------------------------------------------ */

static const char *const client_options[] = {"host",
                                             "port",
                                             "system_id",
                                             "password",
                                             "system_type",
                                             "window",
                                             "queue_size",
                                             "connect_timeout",
                                             "bind_timeout",
                                             "response_timeout",
                                             "enquire_link_interval",
                                             "max_pdu",
                                             "output_buffer",
                                             "trace",
                                             NULL};

/* A string option copied into dst (size bytes with the NUL); raises. */
static void opt_string(lua_State *L, int idx, const char *key, char *dst, size_t size)
{
    size_t len;
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "option '%s': string expected, got %s", key, luaL_typename(L, idx));
    const char *s = lua_tolstring(L, idx, &len);
    if (len >= size)
        luaL_error(L, "option '%s': at most %d bytes", key, (int)size - 1);
    if (strlen(s) != len)
        luaL_error(L, "option '%s': embedded NUL", key);
    memcpy(dst, s, len + 1);
}

int lev_client_new(lua_State *L)
{
    lev_ctx *ctx = CTX_UP(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lev_check_keys(L, 1, "smpp.ev.client", client_options);

    lev_client *c = (lev_client *)lua_newuserdatauv(L, sizeof *c, 1);
    memset(c, 0, sizeof *c);
    lev_link_init(&c->link, ctx, &client_ops);
    smpp_session_config_init(&c->cfg, SMPP_ROLE_CLIENT);
    lev_setmetatable(L, LEV_CLIENT_MT);
    int self = lua_gettop(L);
    int uv = lev_new_uv(L, self, UV_COUNT, UV_CBS, UV_ARGS, UV_CTX);

    strcpy(c->host, "127.0.0.1");
    c->port = 2775;
    lua_getfield(L, 1, "host");
    if (!lua_isnil(L, -1))
        opt_string(L, -1, "host", c->host, sizeof c->host);
    lua_getfield(L, 1, "port");
    if (!lua_isnil(L, -1))
        c->port = (int)lev_opt_u32(L, -1, "port", 1, 65535);
    lua_getfield(L, 1, "system_id");
    if (lua_isnil(L, -1))
        luaL_error(L, "option 'system_id' is required");
    opt_string(L, -1, "system_id", c->system_id, sizeof c->system_id);
    lua_getfield(L, 1, "password");
    if (lua_isnil(L, -1))
        luaL_error(L, "option 'password' is required");
    {
        char pw[9];
        opt_string(L, -1, "password", pw, sizeof pw);
        memset(pw, 0, sizeof pw);
    }
    lua_rawseti(L, uv, UV_PASSWORD);
    lua_getfield(L, 1, "system_type");
    if (!lua_isnil(L, -1))
        opt_string(L, -1, "system_type", c->system_type, sizeof c->system_type);
    lev_opt_session(L, 1, &c->cfg);
    lua_getfield(L, 1, "trace");
    if (!lua_isnil(L, -1)) {
        if (!lua_isfunction(L, -1))
            luaL_error(L, "option 'trace': function expected, got %s", luaL_typename(L, -1));
        lua_pushvalue(L, -1);
        lua_rawseti(L, uv, UV_TRACE);
    }
    lua_settop(L, uv);
    c->cfg.system_id = c->system_id;
    c->cfg.system_type = c->system_type;
    c->link.max_pdu = c->cfg.max_pdu;

    /* Let the session judge the settings now, so that a bad one raises
     * here (misuse) rather than coming back from bind. */
    lua_rawgeti(L, uv, UV_PASSWORD);
    c->cfg.password = lua_tostring(L, -1);
    smpp_error err;
    smpp_session *probe = smpp_session_new(&c->cfg, 0, &err);
    c->cfg.password = NULL;
    if (probe == NULL) {
        if (err.code == SMPP_ERR_NOMEM)
            return luaL_error(L, "not enough memory");
        return luaL_error(L, "smpp.ev.client: %s", err.msg);
    }
    smpp_session_free(probe);
    lua_settop(L, self);
    return 1;
}

void lev_open_client(lua_State *L)
{
    static const luaL_Reg methods[] = {{"bind", client_bind},
                                       {"submit", client_submit},
                                       {"on_receipt", client_on_receipt},
                                       {"on_deliver", client_on_deliver},
                                       {"on_close", client_on_close},
                                       {"close", client_close},
                                       {"state", client_state},
                                       {"stats", client_stats},
                                       {"__gc", client_gc},
                                       {"__close", client_close_now},
                                       {"__tostring", client_tostring},
                                       {NULL, NULL}};
    lev_new_metatable(L, LEV_CLIENT_MT, methods, 1);
}
