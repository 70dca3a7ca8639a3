/*
 * lsmpp_ev_server.c - ev.server: a listening socket whose accepted
 * connections each run a server-role smpp_session (the gateway's side),
 * for the simulator (doc/smpp-ev.md, "Server").
 *
 * Memory per connection is what 10 000 idle bound sessions can afford: a
 * conn userdata of a few hundred bytes with no user value (the Lua state
 * lives on the server: handlers, and the deliver callbacks by token), and
 * a session whose input buffer is sized by a small read_want.
 */
/* accept4 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lsmpp_ev.h"
#include "lsmpp_ev_link.h"
#include "lsmpp_pdu.h"

/* Slots of the server's user value table after the LEV_UV_* ones, which
 * serve every conn (deliver callbacks by token, the trace function). */
enum { UV_ON_BIND = LEV_UV_OWN, UV_ON_SUBMIT, UV_ON_CLOSE, UV_COUNT = UV_ON_CLOSE };

/* A bind_transceiver is < 100 bytes, a submit_sm a few hundred. */
#define CONN_READ_WANT 2048
#define ACCEPTS_PER_WAKEUP 64

typedef struct lev_conn lev_conn;

typedef struct lev_server {
    lev_ctx *ctx;
    ev_io accept_w;
    ev_timer pause_w; /* accepting paused after EMFILE */
    int fd;
    int anchor; /* registry ref while listening */
    int port;
    smpp_session_config cfg;
    uint64_t next_id;
    uint64_t next_msgid;
    uint32_t nconns;
    lev_conn *head; /* open connections */
    unsigned closed : 1;
    unsigned tracing : 1;
} lev_server;

struct lev_conn {
    lev_link link;   /* first: a lev_link * is a lev_conn * */
    lev_server *srv; /* NULL once closed */
    lev_conn *prev, *next;
    uint64_t id;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer;
    char system_id[16];
};

#define CTX_UP(L) ((lev_ctx *)lua_touserdata((L), lua_upvalueindex(1)))

static lev_server *check_server(lua_State *L)
{
    return (lev_server *)luaL_checkudata(L, 1, LEV_SERVER_MT);
}

static lev_conn *check_conn(lua_State *L)
{
    return (lev_conn *)luaL_checkudata(L, 1, LEV_CONN_MT);
}

static void push_server(lua_State *L, lev_server *srv)
{
    if (srv != NULL && srv->anchor != LUA_NOREF)
        lua_rawgeti(L, LUA_REGISTRYINDEX, srv->anchor);
    else
        lua_pushnil(L);
}

/* Push the server's user value table (or nil when it is gone). */
static void push_server_uv(lua_State *L, lev_server *srv)
{
    push_server(L, srv);
    if (!lua_isnil(L, -1)) {
        lsmpp_getuv(L, -1);
        lua_replace(L, -2);
    }
}

static smpp_ms conn_now(lev_conn *c)
{
    return smpp_ev_now_ms(&c->link.io);
}

/* ---- events -------------------------------------------------------------- */

static void conn_bind_request(lua_State *L, lev_conn *c, int uv, const smpp_event *ev)
{
    const smpp_pdu *pdu = ev->pdu;
    size_t n =
        pdu->system_id.len < sizeof c->system_id ? pdu->system_id.len : sizeof c->system_id - 1;
    if (n)
        memcpy(c->system_id, pdu->system_id.ptr, n);
    c->system_id[n] = '\0';

    lua_rawgeti(L, uv, UV_ON_BIND);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        smpp_session_accept_bind(c->link.s, 0, conn_now(c));
        return;
    }
    lev_link_push_self(L, &c->link);
    lsmpp_push_pdu(L, pdu);
    if (lev_pcall(L, c->link.ctx, 2, 1) != 0) {
        /* The handler broke: refuse the way the gateway does. */
        if (c->link.s)
            smpp_session_reject_bind(c->link.s, conn_now(c));
        return;
    }
    if (c->link.s == NULL)
        return; /* on_bind closed the connection itself */
    uint32_t status = 0;
    if (lua_toboolean(L, -1) == 0) {
        smpp_session_reject_bind(c->link.s, conn_now(c));
    } else if (lua_type(L, -1) == LUA_TBOOLEAN) {
        smpp_session_accept_bind(c->link.s, 0, conn_now(c));
    } else if (lsmpp_get_status(L, -1, &status) == 0) {
        smpp_session_accept_bind(c->link.s, status, conn_now(c));
    } else {
        smpp_session_reject_bind(c->link.s, conn_now(c));
        luaL_error(L, "on_bind: returned %s; expected a status, true, false or nil",
                   luaL_typename(L, -1));
    }
    lua_pop(L, 1);
}

static void conn_respond(lua_State *L, lev_conn *c, uint32_t seq, uint32_t status, int idx)
{
    smpp_error err;
    size_t len = 0;
    const char *id = "";
    if (lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER)
        id = lua_tolstring(L, idx, &len);
    if (smpp_session_respond(c->link.s, SMPP_SUBMIT_SM, seq, status, id, len, &err) != 0) {
        /* A message_id the wire can't carry: still answer (ESME_RSYSERR,
         * "internal error, retry later"), so the client does not wait out
         * its timeout, then say what was wrong. */
        smpp_session_respond(c->link.s, SMPP_SUBMIT_SM, seq, 0x08, NULL, 0, NULL);
        luaL_error(L, "on_submit: %s", err.msg);
    }
}

/* "request", pdu on top of the stack (n = 2). */
static void conn_request(lua_State *L, lev_conn *c, int uv, const smpp_event *ev, int n)
{
    uint32_t seq = ev->sequence_number;
    int argc = lev_link_handler(L, &c->link, uv, UV_ON_SUBMIT, n, 1);
    if (argc < 0) {
        /* No handler: accept everything, ids counting up per server. */
        lua_pushfstring(L, "%d", (int)(++c->srv->next_msgid & 0x7FFFFFFF));
        conn_respond(L, c, seq, 0, -1);
        return;
    }
    if (lev_pcall(L, c->link.ctx, argc, 2) != 0) {
        /* The handler broke: ESME_RSYSERR, "internal error, retry later",
         * rather than leaving the client to time out. */
        if (c->link.s)
            smpp_session_respond(c->link.s, SMPP_SUBMIT_SM, seq, 0x08, NULL, 0, NULL);
        return;
    }
    if (c->link.s == NULL || lua_isnil(L, -2))
        return; /* answered later with conn:respond, or never */
    if (smpp_session_state(c->link.s) == SMPP_STATE_CLOSED)
        return; /* the handler closed the link: nobody to answer */
    uint32_t status;
    if (lsmpp_get_status(L, -2, &status) != 0) {
        smpp_session_respond(c->link.s, SMPP_SUBMIT_SM, seq, 0x08, NULL, 0, NULL);
        luaL_error(L, "on_submit: returned %s as status; expected a status number or name",
                   luaL_typename(L, -2));
    }
    conn_respond(L, c, seq, status, -1);
    lua_pop(L, 2);
}

static void conn_event(lua_State *L, lev_link *k, const smpp_event *ev, int uv, int n)
{
    lev_conn *c = (lev_conn *)k;
    int argc;

    switch (ev->type) {
    case SMPP_EV_BIND_REQUEST:
        /* on_bind gets the whole bind_transceiver, not only the
         * credentials the event's values carry. */
        conn_bind_request(L, c, uv, ev);
        return;
    case SMPP_EV_REQUEST:
        conn_request(L, c, uv, ev, n);
        return;
    case SMPP_EV_CLOSED:
        argc = lev_link_handler(L, k, uv, UV_ON_CLOSE, n, 1);
        if (argc >= 0)
            lua_call(L, argc, 0);
        return;
    case SMPP_EV_LOG: /* "log", level, message: the conn's own handler */
        lev_link_push_self(L, k);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            return;
        }
        lsmpp_getuv(L, -1);
        lua_rawgeti(L, -1, 1);
        if (lua_isnil(L, -1)) {
            lev_link_log_default(ev);
            return;
        }
        lua_pushvalue(L, -n - 2); /* level */
        lua_pushvalue(L, -n - 2); /* message */
        lua_call(L, 2, 0);
        return;
    default:
        return;
    }
}

static void conn_push_uv(lua_State *L, lev_link *k)
{
    push_server_uv(L, ((lev_conn *)k)->srv);
}

static void conn_closed(lua_State *L, lev_link *k)
{
    lev_conn *c = (lev_conn *)k;
    lev_server *srv = c->srv;
    if (srv == NULL)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->nconns--;
    c->srv = NULL;
    /* srv:close() from inside a conn's callback leaves that conn to its
     * own drain; the last one to go lets the server go. */
    if (srv->closed && srv->head == NULL && srv->anchor != LUA_NOREF) {
        luaL_unref(L, LUA_REGISTRYINDEX, srv->anchor);
        srv->anchor = LUA_NOREF;
    }
}

static const lev_link_ops conn_ops = {conn_event, conn_push_uv, conn_closed, 1};

/* ---- accepting ------------------------------------------------------------- */

typedef struct accept_arg {
    lev_server *srv;
    int fd;
    int adopted;
    const struct sockaddr *sa;
    socklen_t salen;
} accept_arg;

static int accept_p(lua_State *L)
{
    accept_arg *a = (accept_arg *)lua_touserdata(L, 1);
    lev_server *srv = a->srv;
    lev_conn *c = (lev_conn *)lua_newuserdatauv(L, sizeof *c, 1);
    memset(c, 0, sizeof *c);
    lua_createtable(L, 1, 0); /* [1] = its on_log handler */
    lsmpp_setuv(L, -2);
    lev_link_init(&c->link, srv->ctx, &conn_ops);
    lev_setmetatable(L, LEV_CONN_MT);
    c->link.max_pdu = srv->cfg.max_pdu;
    c->link.read_want = CONN_READ_WANT;
    if (a->salen <= sizeof c->peer)
        memcpy(&c->peer, a->sa, a->salen);

    smpp_error err;
    smpp_session *s = smpp_session_new(&srv->cfg, conn_now(c), &err);
    if (s == NULL)
        return luaL_error(L, "accept: %s", err.msg);
    /* From here the link owns s: raising is safe, __gc frees it. */
    if (lev_link_open(L, &c->link, -1, s, srv->tracing) != 0)
        return luaL_error(L, "accept: not enough memory");
    c->srv = srv;
    c->id = ++srv->next_id;
    c->next = srv->head;
    if (srv->head)
        srv->head->prev = c;
    srv->head = c;
    srv->nconns++;
    lev_link_start(&c->link, a->fd);
    a->adopted = 1;
    lev_link_after(L, &c->link, 1);
    return 0;
}

static void resume_accepting(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    lev_server *srv = (lev_server *)w->data;
    if (!srv->closed)
        ev_io_start(loop, &srv->accept_w);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    lev_server *srv = (lev_server *)w->data;
    lua_State *L = lev_ctx_L(srv->ctx);
    for (int i = 0; i < ACCEPTS_PER_WAKEUP && !srv->closed; i++) {
        union {
            struct sockaddr sa;
            struct sockaddr_storage ss;
        } addr;
        socklen_t len = sizeof addr;
        int fd = accept4(srv->fd, &addr.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The listening socket stays readable: without a pause
                 * this would spin. Try again in a moment. */
                fprintf(stderr, "smpp.ev: accept: %s; pausing 0.1 s\n", strerror(errno));
                ev_io_stop(loop, &srv->accept_w);
                ev_timer_set(&srv->pause_w, 0.1, 0.0);
                ev_timer_start(loop, &srv->pause_w);
            }
            return;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        accept_arg a = {srv, fd, 0, &addr.sa, len};
        if (!lua_checkstack(L, 8)) {
            close(fd);
            return;
        }
        lua_pushcfunction(L, accept_p);
        lua_pushlightuserdata(L, &a);
        if (lua_pcall(L, 1, 0, 0) != 0) {
            fprintf(stderr, "smpp.ev: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
            lua_pop(L, 1);
        }
        if (!a.adopted)
            close(fd);
    }
}

/* ---- conn methods ------------------------------------------------------------- */

static int closed_result(lua_State *L)
{
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    return 2;
}

static int conn_deliver(lua_State *L)
{
    return lev_link_submit(L, &check_conn(L)->link, "closed");
}

static int conn_respond_m(lua_State *L)
{
    lev_conn *c = check_conn(L);
    int64_t seq;
    uint32_t status;
    if (!lsmpp_get_integer(L, 2, &seq) || seq < 1 || seq > 0x7FFFFFFF)
        return luaL_argerror(L, 2, "sequence number 1..0x7FFFFFFF expected");
    if (lsmpp_get_status(L, 3, &status) != 0)
        return luaL_argerror(L, 3, "status number or name expected");
    size_t len = 0;
    const char *id = luaL_optlstring(L, 4, "", &len);
    if (c->link.s == NULL)
        return closed_result(L);
    smpp_error err;
    int rc = smpp_session_respond(c->link.s, SMPP_SUBMIT_SM, (uint32_t)seq, status, id, len, &err);
    if (rc != 0) {
        if (rc == SMPP_ERR_STATE)
            return closed_result(L);
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lev_link_queued(L, &c->link);
    lua_pushboolean(L, 1);
    return 1;
}

static int conn_close(lua_State *L)
{
    lev_conn *c = check_conn(L);
    int graceful = lua_toboolean(L, 2);
    lev_link_shutdown(L, &c->link, graceful ? LEV_GRACEFUL : LEV_IMMEDIATE);
    lua_pushboolean(L, 1);
    return 1;
}

static int conn_gc(lua_State *L)
{
    lev_link_shutdown(L, &check_conn(L)->link, LEV_GC);
    return 0;
}

static int conn_id(lua_State *L)
{
    lev_conn *c = check_conn(L);
    lua_pushinteger(L, (lua_Integer)c->id);
    return 1;
}

static int conn_system_id(lua_State *L)
{
    lev_conn *c = check_conn(L);
    if (c->link.s == NULL)
        return closed_result(L);
    lua_pushstring(L, c->system_id);
    return 1;
}

static void push_peer(lua_State *L, lev_conn *c)
{
    char host[INET6_ADDRSTRLEN];
    if (c->peer.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &c->peer.in6.sin6_addr, host, sizeof host);
        lua_pushfstring(L, "[%s]:%d", host, (int)ntohs(c->peer.in6.sin6_port));
    } else if (c->peer.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &c->peer.in4.sin_addr, host, sizeof host);
        lua_pushfstring(L, "%s:%d", host, (int)ntohs(c->peer.in4.sin_port));
    } else {
        lua_pushliteral(L, "?");
    }
}

static int conn_peer(lua_State *L)
{
    lev_conn *c = check_conn(L);
    if (c->link.s == NULL)
        return closed_result(L);
    push_peer(L, c);
    return 1;
}

static int conn_error(lua_State *L)
{
    lev_link_push_error(L, &check_conn(L)->link);
    return 1;
}

static int conn_state(lua_State *L)
{
    lev_conn *c = check_conn(L);
    lua_pushstring(L, c->link.s ? smpp_state_name(smpp_session_state(c->link.s)) : "closed");
    return 1;
}

/* conn:on_log(fn) -> prev: fn(level, message) for this connection. */
static int conn_on_log(lua_State *L)
{
    check_conn(L);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lsmpp_getuv(L, 1);
    lua_rawgeti(L, 3, 1);
    lua_pushvalue(L, 2);
    lua_rawseti(L, 3, 1);
    return 1;
}

static int conn_stats(lua_State *L)
{
    lev_conn *c = check_conn(L);
    if (c->link.s == NULL)
        return closed_result(L);
    smpp_session_stats st;
    smpp_session_get_stats(c->link.s, &st);
    lsmpp_push_stats(L, &st, 0, 1);
    return 1;
}

static int conn_tostring(lua_State *L)
{
    lev_conn *c = check_conn(L);
    lua_pushfstring(L, "smpp.conn(%d, ", (int)c->id);
    push_peer(L, c);
    lua_pushfstring(L, ", %s, %s)", c->system_id,
                    c->link.s ? smpp_state_name(smpp_session_state(c->link.s)) : "closed");
    lua_concat(L, 3);
    return 1;
}

/* ---- server methods ------------------------------------------------------------ */

static int server_port(lua_State *L)
{
    lua_pushinteger(L, check_server(L)->port);
    return 1;
}

static int server_connections(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_server(L)->nconns);
    return 1;
}

static void stop_listening(lev_server *srv)
{
    ev_io_stop(srv->ctx->loop, &srv->accept_w);
    ev_timer_stop(srv->ctx->loop, &srv->pause_w);
    if (srv->fd >= 0)
        close(srv->fd);
    srv->fd = -1;
    srv->closed = 1;
}

static int server_close(lua_State *L)
{
    lev_server *srv = check_server(L);
    lua_settop(L, 1);
    if (srv->closed && srv->anchor == LUA_NOREF) {
        lua_pushboolean(L, 1);
        return 1;
    }
    stop_listening(srv);
    /* on_close handlers may close other conns; hold every conn on the
     * stack (in a table) so none can be collected under our feet. */
    lua_createtable(L, (int)srv->nconns, 0);
    int i = 0;
    for (lev_conn *c = srv->head; c; c = c->next) {
        lev_link_push_self(L, &c->link);
        lua_rawseti(L, 2, ++i);
    }
    for (int j = 1; j <= i; j++) {
        lua_rawgeti(L, 2, j);
        lev_conn *c = (lev_conn *)lua_touserdata(L, -1);
        lev_link_shutdown(L, &c->link, LEV_IMMEDIATE);
        lua_pop(L, 1);
    }
    /* A conn closing from inside its own callback is finished by the drain
     * of that callback; it still needs the server's handlers until then,
     * so the anchor goes only when no conn is left. */
    if (srv->head == NULL) {
        luaL_unref(L, LUA_REGISTRYINDEX, srv->anchor);
        srv->anchor = LUA_NOREF;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int server_gc(lua_State *L)
{
    lev_server *srv = check_server(L);
    stop_listening(srv);
    while (srv->head != NULL)
        lev_link_shutdown(L, &srv->head->link, LEV_GC); /* unlinks it */
    luaL_unref(L, LUA_REGISTRYINDEX, srv->anchor);
    srv->anchor = LUA_NOREF;
    return 0;
}

static int server_tostring(lua_State *L)
{
    lev_server *srv = check_server(L);
    lua_pushfstring(L, "smpp.server(port %d, %d connections%s)", srv->port, (int)srv->nconns,
                    srv->closed ? ", closed" : "");
    return 1;
}

/* ---- constructor ---------------------------------------------------------------- */

static const char *const server_options[] = {"host",
                                             "port",
                                             "window",
                                             "queue_size",
                                             "response_timeout",
                                             "bind_timeout",
                                             "enquire_link_interval",
                                             "idle_timeout",
                                             "max_pdu",
                                             "on_bind",
                                             "on_submit",
                                             "on_close",
                                             "trace",
                                             NULL};

static void opt_function(lua_State *L, int uv, const char *key, int slot)
{
    lua_getfield(L, 1, key);
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1))
        luaL_error(L, "option '%s': function expected, got %s", key, luaL_typename(L, -1));
    lua_rawseti(L, uv, slot);
}

static int listen_error(lua_State *L, lev_server *srv, const char *host, int port, const char *what,
                        int err)
{
    if (srv->fd >= 0)
        close(srv->fd);
    srv->fd = -1;
    srv->closed = 1;
    lua_pushnil(L);
    lua_pushfstring(L, "listen %s:%d: %s: %s", host, port, what, strerror(err));
    return 2;
}

int lev_server_new(lua_State *L)
{
    lev_ctx *ctx = CTX_UP(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lsmpp_check_keys(L, 1, "smpp.ev.server", server_options);

    lev_server *srv = (lev_server *)lua_newuserdatauv(L, sizeof *srv, 1);
    memset(srv, 0, sizeof *srv);
    srv->ctx = ctx;
    srv->fd = -1;
    srv->anchor = LUA_NOREF;
    srv->closed = 1; /* until listening */
    smpp_session_config_init(&srv->cfg, SMPP_ROLE_SERVER);
    lev_setmetatable(L, LEV_SERVER_MT);
    int self = lua_gettop(L);
    int uv = lev_new_uv(L, self, UV_COUNT);

    char host[256] = "127.0.0.1";
    int port = 0;
    lua_getfield(L, 1, "host");
    if (!lua_isnil(L, -1))
        lsmpp_opt_string(L, -1, "host", host, sizeof host);
    lua_getfield(L, 1, "port");
    if (!lua_isnil(L, -1))
        port = (int)lsmpp_opt_u32(L, -1, "port", 0, 65535);
    lsmpp_opt_session(L, 1, &srv->cfg);
    lua_settop(L, uv);
    opt_function(L, uv, "on_bind", UV_ON_BIND);
    opt_function(L, uv, "on_submit", UV_ON_SUBMIT);
    opt_function(L, uv, "on_close", UV_ON_CLOSE);
    opt_function(L, uv, "trace", LEV_UV_TRACE);
    lua_rawgeti(L, uv, LEV_UV_TRACE);
    srv->tracing = !lua_isnil(L, -1);
    lua_pop(L, 1);

    lev_check_config(L, &srv->cfg, "smpp.ev.server");

    /* Listen. Runtime failures (address in use...) return nil, err. */
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "listen %s:%d: %s", host, port,
                        rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return 2;
    }
    int fd =
        socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(res);
        return listen_error(L, srv, host, port, "socket", e);
    }
    srv->fd = fd;
    int one = 1;
    /* A restarted simulator must get its port back at once, not after
     * TIME_WAIT. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        int e = errno;
        freeaddrinfo(res);
        return listen_error(L, srv, host, port, "bind", e);
    }
    freeaddrinfo(res);
    if (listen(fd, SOMAXCONN) != 0)
        return listen_error(L, srv, host, port, "listen", errno);
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } local;
    socklen_t llen = sizeof local;
    if (getsockname(fd, &local.sa, &llen) != 0)
        return listen_error(L, srv, host, port, "getsockname", errno);
    srv->port = ntohs(local.sa.sa_family == AF_INET6 ? local.in6.sin6_port : local.in4.sin_port);

    ev_io_init(&srv->accept_w, accept_cb, fd, EV_READ);
    srv->accept_w.data = srv;
    ev_init(&srv->pause_w, resume_accepting);
    srv->pause_w.data = srv;
    ev_io_start(ctx->loop, &srv->accept_w);
    srv->closed = 0;
    lua_pushvalue(L, self);
    srv->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, self);
    return 1;
}

void lev_open_server(lua_State *L)
{
    static const luaL_Reg server_methods[] = {{"port", server_port},
                                              {"connections", server_connections},
                                              {"close", server_close},
                                              {"__close", server_close},
                                              {"__gc", server_gc},
                                              {"__tostring", server_tostring},
                                              {NULL, NULL}};
    static const luaL_Reg conn_methods[] = {{"deliver", conn_deliver},
                                            {"respond", conn_respond_m},
                                            {"close", conn_close},
                                            {"id", conn_id},
                                            {"system_id", conn_system_id},
                                            {"peer", conn_peer},
                                            {"state", conn_state},
                                            {"stats", conn_stats},
                                            {"error", conn_error},
                                            {"on_log", conn_on_log},
                                            {"__gc", conn_gc},
                                            {"__tostring", conn_tostring},
                                            {NULL, NULL}};
    lua_pushvalue(L, -1);
    lev_new_metatable(L, LEV_SERVER_MT, server_methods, 1);
    lev_new_metatable(L, LEV_CONN_MT, conn_methods, 1);
}
