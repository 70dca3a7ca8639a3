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
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "lsmpp_ev.h"
#include "lsmpp_ev_dns.h"
#include "lsmpp_ev_link.h"

/* Slots of the user value table after the LEV_UV_* ones. */
enum {
    UV_ON_RECEIPT = LEV_UV_OWN,
    UV_ON_DELIVER,
    UV_ON_CLOSE,
    UV_BIND_CB,
    UV_ON_LOG,
    UV_PASSWORD, /* until bind; never anywhere else on our side */
    UV_COUNT = UV_PASSWORD
};

typedef struct lev_client {
    lev_link link; /* first: a lev_link * is a lev_client * */
    smpp_session_config cfg;
    char host[256];
    char system_id[16];
    char system_type[13];
    int port;
    unsigned started : 1;    /* bind was called */
    unsigned app_closed : 1; /* the program called close (or __close) */
    uint64_t receipts;
    smpp_session_stats last; /* the session's stats when it ended */
    smpp_reason ended_by;    /* and why it ended */
    lev_lookup *lookup;      /* the host name's lookup while it runs */
} lev_client;

#define CTX_UP(L) ((lev_ctx *)lua_touserdata((L), lua_upvalueindex(1)))

static lev_client *check_client(lua_State *L)
{
    return (lev_client *)luaL_checkudata(L, 1, LEV_CLIENT_MT);
}

/* ---- connect ---------------------------------------------------------- */

static void dns_failed(lev_client *c, int rc, int sys_errno)
{
    lev_link_fail(&c->link, SMPP_REASON_DNS,
                  rc == EAI_SYSTEM ? strerror(sys_errno) : gai_strerror(rc));
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
    if (rc != 0)
        dns_failed(c, rc, sys_errno);
    else
        lev_link_connect(&c->link, res);
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
        lev_link_connect(&c->link, res);
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
        char detail[128];
        snprintf(detail, sizeof detail, "cannot start a lookup: %s", strerror(err));
        lev_link_fail(&c->link, SMPP_REASON_DNS, detail);
    }
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

/* The bind callback runs once: take it out and put it under the event's
 * values past their kind; returns their count, or -1 for no callback. */
static int take_bind_cb(lua_State *L, lev_link *k, int uv, int n)
{
    int argc = lev_link_handler(L, k, uv, UV_BIND_CB, n, 0);
    lua_pushnil(L);
    lua_rawseti(L, uv, UV_BIND_CB);
    return argc;
}

static void client_event(lua_State *L, lev_link *k, const smpp_event *ev, int uv, int n)
{
    lev_client *c = (lev_client *)k;
    int argc;

    switch (ev->type) {
    case SMPP_EV_BOUND:
        argc = take_bind_cb(L, k, uv, n);
        if (argc < 0)
            return;
        lua_pushboolean(L, 1);
        lua_call(L, 1, 0);
        return;
    case SMPP_EV_BIND_FAILED:
        argc = take_bind_cb(L, k, uv, n);
        if (argc < 0)
            return;
        /* cb(nil, err [, status]) */
        lua_pushnil(L);
        lua_insert(L, -argc - 1);
        lua_call(L, argc + 1, 0);
        return;
    case SMPP_EV_DELIVER: {
        /* "receipt", r, bytes or "deliver", pdu */
        int receipt = strcmp(lua_tostring(L, -n), "receipt") == 0;
        if (receipt)
            c->receipts++;
        argc = lev_link_handler(L, k, uv, receipt ? UV_ON_RECEIPT : UV_ON_DELIVER, n, 0);
        if (argc < 0)
            no_handler_line(L, lua_gettop(L) - n + 2, receipt);
        else
            lua_call(L, argc, 0);
        return;
    }
    case SMPP_EV_CLOSED:
        argc = lev_link_handler(L, k, uv, UV_ON_CLOSE, n, 0);
        if (argc >= 0)
            lua_call(L, argc, 0);
        return;
    case SMPP_EV_LOG: /* "log", level, message */
        argc = lev_link_handler(L, k, uv, UV_ON_LOG, n, 0);
        if (argc >= 0)
            lua_call(L, argc, 0);
        else
            lev_link_log_default(ev);
        return;
    default:
        return;
    }
}

static void client_push_uv(lua_State *L, lev_link *k)
{
    lev_link_push_self(L, k);
    if (!lua_isnil(L, -1)) {
        lsmpp_getuv(L, -1);
        lua_replace(L, -2);
    }
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
}

static const lev_link_ops client_ops = {client_event, client_push_uv, client_closed, 0};

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
    lsmpp_getuv(L, 1);
    int uv = lua_gettop(L);
    lua_rawgeti(L, uv, UV_PASSWORD);
    c->cfg.password = lua_tostring(L, -1);

    /* The session is made here, not in ev.client{}: its connect timeout
     * starts counting when it is made. */
    smpp_error err;
    smpp_session *s = smpp_session_new(&c->cfg, smpp_ev_now_ms(&c->link.io), &err);
    c->cfg.password = NULL;
    if (s == NULL) {
        if (err.code == SMPP_ERR_NOMEM)
            return luaL_error(L, "not enough memory");
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    /* From here the link owns s: raising is safe, __gc frees it. */
    c->started = 1;
    lua_rawgeti(L, uv, LEV_UV_TRACE);
    if (lev_link_open(L, &c->link, 1, s, !lua_isnil(L, -1)) != 0)
        return luaL_error(L, "not enough memory");
    lua_pushnil(L);
    lua_rawseti(L, uv, UV_PASSWORD); /* the session has its own copy now */
    lua_pushvalue(L, 2);
    lua_rawseti(L, uv, UV_BIND_CB);

    connect_start(c);
    /* Even a failure known now (DNS, refused at once) reaches cb from the
     * loop, never before bind returns: the timer fires next iteration and
     * the drain there delivers it. */
    lev_link_kick(&c->link);
    lev_link_after(L, &c->link, 0);
    lua_pushboolean(L, 1);
    return 1;
}

static int client_submit(lua_State *L)
{
    lev_client *c = check_client(L);
    /* With the session gone, what it would have said: "not sent" once the
     * link ended by itself, "closed" after the program's close. */
    const char *gone = "not bound: call bind first";
    if (c->started)
        gone = c->ended_by == SMPP_REASON_CLOSED || c->app_closed ? "closed" : "not sent";
    else if (c->link.closed)
        gone = "closed";
    return lev_link_submit(L, &c->link, gone);
}

static int client_error(lua_State *L)
{
    lev_link_push_error(L, &check_client(L)->link);
    return 1;
}

static int set_handler(lua_State *L, int slot)
{
    check_client(L);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lsmpp_getuv(L, 1);
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

static int client_on_log(lua_State *L)
{
    return set_handler(L, UV_ON_LOG);
}

static int client_close(lua_State *L)
{
    lev_client *c = check_client(L);
    c->app_closed = 1;
    lev_link_shutdown(L, &c->link, LEV_GRACEFUL);
    lua_pushboolean(L, 1);
    return 1;
}

static int client_close_now(lua_State *L) /* __close */
{
    lev_client *c = check_client(L);
    c->app_closed = 1;
    lev_link_shutdown(L, &c->link, LEV_IMMEDIATE);
    return 0;
}

static int client_gc(lua_State *L)
{
    lev_link_shutdown(L, &check_client(L)->link, LEV_GC);
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
    lsmpp_push_stats(L, &st, c->receipts, 0);
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
                                             "rate",
                                             "rate_burst",
                                             "throttle_min",
                                             "throttle_max",
                                             "retry",
                                             "trace",
                                             NULL};

int lev_client_new(lua_State *L)
{
    lev_ctx *ctx = CTX_UP(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lsmpp_check_keys(L, 1, "smpp.ev.client", client_options);

    lev_client *c = (lev_client *)lua_newuserdatauv(L, sizeof *c, 1);
    memset(c, 0, sizeof *c);
    lev_link_init(&c->link, ctx, &client_ops);
    smpp_session_config_init(&c->cfg, SMPP_ROLE_CLIENT);
    lev_setmetatable(L, LEV_CLIENT_MT);
    int self = lua_gettop(L);
    int uv = lev_new_uv(L, self, UV_COUNT);

    strcpy(c->host, "127.0.0.1");
    c->port = 2775;
    lua_getfield(L, 1, "host");
    if (!lua_isnil(L, -1))
        lsmpp_opt_string(L, -1, "host", c->host, sizeof c->host);
    lua_getfield(L, 1, "port");
    if (!lua_isnil(L, -1))
        c->port = (int)lsmpp_opt_u32(L, -1, "port", 1, 65535);
    lua_getfield(L, 1, "system_id");
    if (lua_isnil(L, -1))
        luaL_error(L, "option 'system_id' is required");
    lsmpp_opt_string(L, -1, "system_id", c->system_id, sizeof c->system_id);
    lua_getfield(L, 1, "password");
    if (lua_isnil(L, -1))
        luaL_error(L, "option 'password' is required");
    {
        char pw[9];
        lsmpp_opt_string(L, -1, "password", pw, sizeof pw);
        memset(pw, 0, sizeof pw);
    }
    lua_rawseti(L, uv, UV_PASSWORD);
    lua_getfield(L, 1, "system_type");
    if (!lua_isnil(L, -1))
        lsmpp_opt_string(L, -1, "system_type", c->system_type, sizeof c->system_type);
    lsmpp_opt_session(L, 1, &c->cfg);
    lua_getfield(L, 1, "trace");
    if (!lua_isnil(L, -1)) {
        if (!lua_isfunction(L, -1))
            luaL_error(L, "option 'trace': function expected, got %s", luaL_typename(L, -1));
        lua_pushvalue(L, -1);
        lua_rawseti(L, uv, LEV_UV_TRACE);
    }
    lua_settop(L, uv);
    c->cfg.system_id = c->system_id;
    c->cfg.system_type = c->system_type;
    c->link.max_pdu = c->cfg.max_pdu;

    /* Let the session judge the settings now, so that a bad one raises
     * here (misuse) rather than coming back from bind. */
    lua_rawgeti(L, uv, UV_PASSWORD);
    c->cfg.password = lua_tostring(L, -1);
    lev_check_config(L, &c->cfg, "smpp.ev.client");
    c->cfg.password = NULL;
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
                                       {"on_log", client_on_log},
                                       {"close", client_close},
                                       {"state", client_state},
                                       {"stats", client_stats},
                                       {"error", client_error},
                                       {"__gc", client_gc},
                                       {"__close", client_close_now},
                                       {"__tostring", client_tostring},
                                       {NULL, NULL}};
    lev_new_metatable(L, LEV_CLIENT_MT, methods, 1);
}
