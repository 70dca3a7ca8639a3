/*
 * lsmpp_session.c - core.session: one smpp_session as a Lua userdata
 * (metatable "smpp.session"), for drivers that do their I/O in Lua
 * (LuaSocket, OpenResty's cosockets, Tarantool's sockets). The driver
 * feeds bytes in, writes what pending() gives, ticks at deadline() and
 * takes events with next_event(). Nothing here does I/O or blocks, and
 * nothing calls Lua: events come out only when asked for.
 *
 * Every value an event carries is made by lsmpp_glue.c, so smpp.ev's
 * callbacks and core.session's events show the same thing alike.
 *
 * Tokens: any non-nil Lua value travels with a request to its result.
 * Integers 0..2^53 travel inside the C token (the low bit 0); any other
 * value is referenced from the userdata's user value table (the low bit
 * 1) until its result is handed out, so tokens die with the session even
 * when its results are never taken, and a token that refers back to the
 * session keeps no cycle alive.
 *
 * Times are seconds as Lua numbers, on the clock of core.now(); omitted,
 * they are core.now().
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lsmpp_compat.h"
#include "lsmpp_glue.h"
#include "lsmpp_session.h"

#define SESSION_MT "smpp.session"
/* Integers a double holds exactly (LuaJIT and 5.1 have no other). */
#define TOKEN_INT_MAX ((int64_t)1 << 53)

typedef struct lsession {
    smpp_session *s; /* NULL once collected */
    uint64_t receipts;
    size_t held;      /* bytes the last pending() handed out */
    char detail[128]; /* the detail of fail("dns failure: ...") */
} lsession;

static lsession *check_session(lua_State *L)
{
    return (lsession *)luaL_checkudata(L, 1, SESSION_MT);
}

/* ---- time ------------------------------------------------------------------ */

static lua_Number mono_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9;
}

/* Seconds to ms, rounded to the nearest, so that a deadline given back in
 * seconds is that very millisecond again. */
static smpp_ms to_ms(lua_Number t)
{
    double v = (double)t * 1000.0 + 0.5;
    smpp_ms ms = (smpp_ms)v;

    if ((double)ms > v)
        ms--; /* floor for negative times */
    return ms;
}

/* The optional time argument at idx in ms; core.now() when absent. Raises
 * on a value that is not a number. */
static smpp_ms opt_now(lua_State *L, int idx)
{
    lua_Number t;

    if (lua_isnoneornil(L, idx))
        return to_ms(mono_seconds());
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_argerror(L, idx, "time in seconds expected");
    t = lua_tonumber(L, idx);
    if (!(t > -1e12 && t < 1e12))
        luaL_argerror(L, idx, "time in seconds out of range");
    return to_ms(t);
}

/* core.now() -> seconds: CLOCK_MONOTONIC, never goes back. */
static int l_now(lua_State *L)
{
    lua_pushnumber(L, mono_seconds());
    return 1;
}

/* ---- tokens ---------------------------------------------------------------- */

/* The C token for the Lua value at idx (not nil); uv is the user value
 * table. */
static uint64_t token_take(lua_State *L, int idx, int uv)
{
    int64_t v = 0;

#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx) && lsmpp_get_integer(L, idx, &v) && v >= 0 && v < TOKEN_INT_MAX)
        return (uint64_t)v << 1;
#else
    if (lsmpp_get_integer(L, idx, &v) && v >= 0 && v < TOKEN_INT_MAX)
        return (uint64_t)v << 1;
#endif
    lua_pushvalue(L, idx);
    return ((uint64_t)(unsigned)luaL_ref(L, uv) << 1) | 1u;
}

/* Push the Lua value of a token and forget it. */
static void token_give(lua_State *L, uint64_t token, int uv)
{
    if (token & 1u) {
        int ref = (int)(token >> 1);

        lua_rawgeti(L, uv, ref);
        luaL_unref(L, uv, ref);
        return;
    }
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)(token >> 1));
#else
    lua_pushnumber(L, (lua_Number)(token >> 1));
#endif
}

/* A request the session refused: forget its token. */
static void token_drop(lua_State *L, uint64_t token, int uv)
{
    if (token & 1u)
        luaL_unref(L, uv, (int)(token >> 1));
}

/* ---- results ------------------------------------------------------------------ */

static int push_closed(lua_State *L)
{
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    return 2;
}

static int push_true(lua_State *L)
{
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- the link -------------------------------------------------------------- */

/* s:connected([now]) -> true | nil, "closed": the TCP connect finished;
 * bind_transceiver is queued. */
static int s_connected(lua_State *L)
{
    lsession *u = check_session(L);
    smpp_ms now = opt_now(L, 2);
    int rc;

    if (u->s == NULL || smpp_session_state(u->s) == SMPP_STATE_CLOSED)
        return push_closed(L);
    if (smpp_session_role(u->s) != SMPP_ROLE_CLIENT ||
        smpp_session_state(u->s) != SMPP_STATE_CONNECTING)
        return luaL_error(L, "connected: the session is %s, not a connecting client",
                          smpp_state_name(smpp_session_state(u->s)));
    rc = smpp_session_connected(u->s, now);
    if (rc == SMPP_ERR_NOMEM)
        return luaL_error(L, "not enough memory");
    return push_true(L);
}

/* The reasons a driver gives s:fail, as bind_failed and closed show them. */
static const smpp_reason fail_reasons[] = {SMPP_REASON_CONNECTION_LOST, SMPP_REASON_CONNECT_REFUSED,
                                           SMPP_REASON_CONNECT_TIMEOUT, SMPP_REASON_DNS,
                                           SMPP_REASON_CONNECT_ERROR};

/* The reason named by text ("dns failure: <detail>"); *detail points at the
 * detail text, "" when none. Returns SMPP_REASON_NONE when unknown. */
static smpp_reason parse_reason(const char *text, size_t len, const char **detail)
{
    size_t i;

    *detail = "";
    for (i = 0; i < sizeof(fail_reasons) / sizeof(fail_reasons[0]); i++) {
        smpp_reason r = fail_reasons[i];
        const char *name = smpp_reason_name(r);
        size_t n = strlen(name);

        if (len < n || memcmp(text, name, n) != 0)
            continue;
        if (len == n)
            return r;
        if ((r == SMPP_REASON_DNS || r == SMPP_REASON_CONNECT_ERROR) && len > n + 2 &&
            text[n] == ':' && text[n + 1] == ' ') {
            *detail = text + n + 2;
            return r;
        }
    }
    return SMPP_REASON_NONE;
}

/* s:fail(reason [, now]) -> true: the link broke or never came up. */
static int s_fail(lua_State *L)
{
    lsession *u = check_session(L);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    smpp_ms now = opt_now(L, 3);
    const char *detail;
    smpp_reason reason = parse_reason(text, len, &detail);

    if (reason == SMPP_REASON_NONE)
        return luaL_argerror(L, 2,
                             "\"connection lost\", \"connection refused\", \"connect timeout\", "
                             "\"dns failure: ...\" or \"connect error: ...\" expected");
    if (u->s != NULL && smpp_session_state(u->s) != SMPP_STATE_CLOSED) {
        snprintf(u->detail, sizeof(u->detail), "%s", detail);
        smpp_session_fail(u->s, reason, now);
    }
    return push_true(L);
}

/* s:feed(bytes [, now]) -> true | nil, "closed" */
static int s_feed(lua_State *L)
{
    lsession *u = check_session(L);
    size_t len;
    const char *bytes = luaL_checklstring(L, 2, &len);
    smpp_ms now = opt_now(L, 3);
    int rc;

    if (u->s == NULL)
        return push_closed(L);
    rc = smpp_session_recv(u->s, (const uint8_t *)bytes, len);
    if (rc == SMPP_ERR_STATE)
        return push_closed(L);
    if (rc == SMPP_ERR_NOMEM)
        return luaL_error(L, "not enough memory");
    smpp_session_advance(u->s, now);
    return push_true(L);
}

/* s:pending() -> bytes | nil: what to write now (copied). The copy may be
 * written while the driver calls the session again: the session holds
 * those bytes as written until s:sent(n) (smpp_session_hold). */
static int s_pending(lua_State *L)
{
    lsession *u = check_session(L);
    const uint8_t *p = NULL;
    size_t len = 0;

    if (u->s != NULL)
        p = smpp_session_hold(u->s, &len);
    u->held = len;
    if (len == 0)
        lua_pushnil(L);
    else
        lua_pushlstring(L, (const char *)p, len);
    return 1;
}

/* s:sent(n) -> true: n bytes of pending() were written. */
static int s_sent(lua_State *L)
{
    lsession *u = check_session(L);
    size_t len = 0;
    int64_t n = 0;

    if (u->s != NULL)
        (void)smpp_session_pending(u->s, &len);
    if (len < u->held)
        len = u->held; /* the link broke while they were being written */
    if (!lsmpp_get_integer(L, 2, &n) || n < 0 || (uint64_t)n > len)
        return luaL_argerror(L, 2, "a count of pending bytes expected");
    if (u->s != NULL)
        smpp_session_sent(u->s, (size_t)n);
    u->held = 0;
    return push_true(L);
}

/* s:tick([now]) -> true */
static int s_tick(lua_State *L)
{
    lsession *u = check_session(L);
    smpp_ms now = opt_now(L, 2);

    if (u->s != NULL)
        smpp_session_tick(u->s, now);
    return push_true(L);
}

/* s:deadline() -> seconds | nil */
static int s_deadline(lua_State *L)
{
    lsession *u = check_session(L);
    smpp_ms d = u->s != NULL ? smpp_session_deadline(u->s) : -1;

    if (d < 0)
        lua_pushnil(L);
    else
        lua_pushnumber(L, (lua_Number)d / 1000.0);
    return 1;
}

/* ---- requests and events ------------------------------------------------------ */

/* s:submit(fields, token [, now]) (client) and s:deliver(fields, token
 * [, now]) (server) -> true | nil, err */
static int request(lua_State *L, smpp_role role, const char *what)
{
    lsession *u = check_session(L);
    smpp_ms now;
    uint64_t token;
    int n;

    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_argcheck(L, !lua_isnoneornil(L, 3), 3, "a token (any value but nil) expected");
    now = opt_now(L, 4);
    lua_settop(L, 3);
    if (u->s == NULL)
        return push_closed(L);
    if (smpp_session_role(u->s) != role)
        return luaL_error(L, "%s: not for a %s session", what,
                          role == SMPP_ROLE_CLIENT ? "server" : "client");
    lsmpp_getuv(L, 1);
    token = token_take(L, 3, 4);
    n = lsmpp_submit(L, u->s, 2, token, now);
    if (n != 0) {
        token_drop(L, token, 4);
        return n;
    }
    return push_true(L);
}

static int s_submit(lua_State *L)
{
    return request(L, SMPP_ROLE_CLIENT, "submit");
}

static int s_deliver(lua_State *L)
{
    return request(L, SMPP_ROLE_SERVER, "deliver");
}

/* s:next_event([now]) -> nil | kind, ... (lsmpp_push_event) */
static int s_next_event(lua_State *L)
{
    lsession *u = check_session(L);
    smpp_ms now = opt_now(L, 2);
    smpp_event ev;

    lua_settop(L, 1);
    lsmpp_getuv(L, 1);
    while (u->s != NULL && smpp_session_next_event(u->s, now, &ev)) {
        int token = 0, n;

        if (ev.type == SMPP_EV_RESULT) {
            token_give(L, ev.token, 2);
            token = 3;
        }
        n = lsmpp_push_event(L, &ev, token, u->detail);
        if (n == 0) {
            lua_settop(L, 2);
            continue; /* UNBOUND: the closed event that follows says it */
        }
        if (ev.type == SMPP_EV_DELIVER && strcmp(lua_tostring(L, -n), "receipt") == 0)
            u->receipts++;
        return n;
    }
    lua_pushnil(L);
    return 1;
}

/* ---- server ---------------------------------------------------------------- */

static lsession *check_server(lua_State *L, const char *what)
{
    lsession *u = check_session(L);

    if (u->s != NULL && smpp_session_role(u->s) != SMPP_ROLE_SERVER)
        luaL_error(L, "%s: not for a client session", what);
    return u;
}

/* s:accept_bind([status [, now]]) -> true | nil, "closed". status 0 (the
 * default) binds; another status answers with it and closes. */
static int s_accept_bind(lua_State *L)
{
    lsession *u = check_server(L, "accept_bind");
    uint32_t status = 0;
    smpp_ms now;
    int rc;

    if (!lua_isnoneornil(L, 2) && lsmpp_get_status(L, 2, &status) != 0)
        return luaL_argerror(L, 2, "status number or name expected");
    now = opt_now(L, 3);
    if (u->s == NULL || smpp_session_state(u->s) == SMPP_STATE_CLOSED)
        return push_closed(L);
    rc = smpp_session_accept_bind(u->s, status, now);
    if (rc == SMPP_ERR_NOMEM)
        return luaL_error(L, "not enough memory");
    if (rc != 0)
        return luaL_error(L, "accept_bind: no bind_request waits for an answer");
    return push_true(L);
}

/* s:reject_bind([now]) -> true: close with no answer, as the gateway does
 * on bad credentials. */
static int s_reject_bind(lua_State *L)
{
    lsession *u = check_server(L, "reject_bind");
    smpp_ms now = opt_now(L, 2);

    if (u->s != NULL)
        smpp_session_reject_bind(u->s, now);
    return push_true(L);
}

/* s:respond(sequence_number, status [, message_id]) -> true | nil, err:
 * answer a "request" (submit_sm) event. */
static int s_respond(lua_State *L)
{
    lsession *u = check_server(L, "respond");
    int64_t seq;
    uint32_t status;
    size_t len = 0;
    const char *id;
    smpp_error err;
    int rc;

    if (!lsmpp_get_integer(L, 2, &seq) || seq < 1 || seq > 0x7FFFFFFF)
        return luaL_argerror(L, 2, "sequence number 1..0x7FFFFFFF expected");
    if (lsmpp_get_status(L, 3, &status) != 0)
        return luaL_argerror(L, 3, "status number or name expected");
    id = luaL_optlstring(L, 4, "", &len);
    if (u->s == NULL || smpp_session_state(u->s) == SMPP_STATE_CLOSED)
        return push_closed(L);
    rc = smpp_session_respond(u->s, SMPP_SUBMIT_SM, (uint32_t)seq, status, id, len, &err);
    if (rc == SMPP_ERR_NOMEM)
        return luaL_error(L, "not enough memory");
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    return push_true(L);
}

/* ---- state ------------------------------------------------------------------ */

static int s_state(lua_State *L)
{
    lsession *u = check_session(L);

    lua_pushstring(L, u->s != NULL ? smpp_state_name(smpp_session_state(u->s)) : "closed");
    return 1;
}

static int s_stats(lua_State *L)
{
    lsession *u = check_session(L);
    smpp_session_stats st;

    if (u->s == NULL)
        return push_closed(L);
    smpp_session_get_stats(u->s, &st);
    lsmpp_push_stats(L, &st, u->receipts, smpp_session_role(u->s) == SMPP_ROLE_SERVER);
    return 1;
}

/* s:error() -> text | nil: what last failed to frame or decode. */
static int s_error(lua_State *L)
{
    lsession *u = check_session(L);
    const char *e = u->s != NULL ? smpp_session_error(u->s) : "";

    if (*e == '\0')
        lua_pushnil(L);
    else
        lua_pushstring(L, e);
    return 1;
}

static int s_tostring(lua_State *L)
{
    lsession *u = check_session(L);

    lua_pushfstring(L, "smpp.session(%s, %s)",
                    u->s != NULL && smpp_session_role(u->s) == SMPP_ROLE_SERVER ? "server"
                                                                                : "client",
                    u->s != NULL ? smpp_state_name(smpp_session_state(u->s)) : "closed");
    return 1;
}

/* ---- close -------------------------------------------------------------------- */

typedef enum shutdown_how {
    SHUT_CLOSE,     /* s:close([graceful [, now]]): events still come */
    SHUT_IMMEDIATE, /* __close: at once, events still come */
    SHUT_GC         /* __gc: free the session; tokens go with the user value */
} shutdown_how;

/* close, __close and __gc: idempotent, whatever the order. */
static void session_shutdown(lsession *u, shutdown_how how, int graceful, smpp_ms now)
{
    if (u->s == NULL)
        return;
    if (how == SHUT_GC) {
        smpp_session_free(u->s);
        u->s = NULL;
        return;
    }
    smpp_session_close(u->s, how == SHUT_CLOSE && graceful, now);
}

/* s:close([graceful [, now]]) -> true */
static int s_close(lua_State *L)
{
    lsession *u = check_session(L);

    session_shutdown(u, SHUT_CLOSE, lua_toboolean(L, 2), opt_now(L, 3));
    return push_true(L);
}

static int s_close_now(lua_State *L)
{
    session_shutdown(check_session(L), SHUT_IMMEDIATE, 0, to_ms(mono_seconds()));
    return 0;
}

static int s_gc(lua_State *L)
{
    session_shutdown(check_session(L), SHUT_GC, 0, 0);
    return 0;
}

/* ---- constructor ---------------------------------------------------------------- */

static const char *const client_options[] = {"role",
                                             "system_id",
                                             "password",
                                             "system_type",
                                             "window",
                                             "queue_size",
                                             "max_pdu",
                                             "output_buffer",
                                             "rate",
                                             "rate_burst",
                                             "throttle_min",
                                             "throttle_max",
                                             "retry",
                                             "connect_timeout",
                                             "bind_timeout",
                                             "response_timeout",
                                             "enquire_link_interval",
                                             NULL};

static const char *const server_options[] = {"role",
                                             "window",
                                             "queue_size",
                                             "max_pdu",
                                             "bind_timeout",
                                             "response_timeout",
                                             "enquire_link_interval",
                                             "idle_timeout",
                                             NULL};

/* The role option of the table at 1: "client" (default) or "server". */
static smpp_role opt_role(lua_State *L)
{
    const char *role;

    lua_getfield(L, 1, "role");
    role = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (lua_isnil(L, -1) || (role != NULL && strcmp(role, "client") == 0)) {
        lua_pop(L, 1);
        return SMPP_ROLE_CLIENT;
    }
    if (role == NULL || strcmp(role, "server") != 0)
        luaL_error(L, "smpp.session: option 'role': \"client\" or \"server\" expected");
    lua_pop(L, 1);
    return SMPP_ROLE_SERVER;
}

/* A required string option of the table at 1 into dst (size bytes). */
static void opt_required(lua_State *L, const char *key, char *dst, size_t size)
{
    lua_getfield(L, 1, key);
    if (lua_isnil(L, -1))
        luaL_error(L, "smpp.session: option '%s' is required", key);
    lsmpp_opt_string(L, -1, key, dst, size);
    lua_pop(L, 1);
}

/* core.session(opts [, now]) -> session. Raises on a bad option. */
static int l_session(lua_State *L)
{
    char system_id[16] = "", password[9] = "", system_type[13] = "";
    smpp_session_config cfg;
    smpp_error err;
    smpp_role role;
    smpp_ms now;
    lsession *u;

    luaL_checktype(L, 1, LUA_TTABLE);
    now = opt_now(L, 2);
    lua_settop(L, 1);
    role = opt_role(L);
    lsmpp_check_keys(L, 1, "smpp.session",
                     role == SMPP_ROLE_CLIENT ? client_options : server_options);
    smpp_session_config_init(&cfg, role);
    if (role == SMPP_ROLE_CLIENT) {
        opt_required(L, "system_id", system_id, sizeof(system_id));
        opt_required(L, "password", password, sizeof(password));
        lua_getfield(L, 1, "system_type");
        if (!lua_isnil(L, -1))
            lsmpp_opt_string(L, -1, "system_type", system_type, sizeof(system_type));
        lua_pop(L, 1);
        cfg.system_id = system_id;
        cfg.password = password;
        cfg.system_type = system_type;
    }
    lsmpp_opt_session(L, 1, &cfg);

    u = (lsession *)lua_newuserdatauv(L, sizeof(*u), 1);
    memset(u, 0, sizeof(*u));
    luaL_getmetatable(L, SESSION_MT);
    lua_setmetatable(L, -2);
    lua_newtable(L);
    lsmpp_setuv(L, -2);
    u->s = smpp_session_new(&cfg, now, &err);
    memset(password, 0, sizeof(password));
    if (u->s == NULL) {
        if (err.code == SMPP_ERR_NOMEM)
            return luaL_error(L, "not enough memory");
        return luaL_error(L, "smpp.session: %s", err.msg);
    }
    return 1;
}

void lsmpp_session_register(lua_State *L)
{
    static const luaL_Reg methods[] = {{"connected", s_connected},
                                       {"fail", s_fail},
                                       {"feed", s_feed},
                                       {"pending", s_pending},
                                       {"sent", s_sent},
                                       {"tick", s_tick},
                                       {"deadline", s_deadline},
                                       {"submit", s_submit},
                                       {"deliver", s_deliver},
                                       {"next_event", s_next_event},
                                       {"accept_bind", s_accept_bind},
                                       {"reject_bind", s_reject_bind},
                                       {"respond", s_respond},
                                       {"close", s_close},
                                       {"state", s_state},
                                       {"stats", s_stats},
                                       {"error", s_error},
                                       {"__close", s_close_now},
                                       {"__gc", s_gc},
                                       {"__tostring", s_tostring},
                                       {NULL, NULL}};

    luaL_newmetatable(L, SESSION_MT);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, SESSION_MT);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_session);
    lua_setfield(L, -2, "session");
    lua_pushcfunction(L, l_now);
    lua_setfield(L, -2, "now");
}
