/*
 * lsmpp_glue.c - the Lua glue of every smpp_session driver (see
 * lsmpp_glue.h): compiled into smpp.core and smpp.ev alike, so it keeps no
 * state outside the lua_State and the caller's structs.
 */
#include <stddef.h>
#include <string.h>

#include "lsmpp_glue.h"
#include "lsmpp_pdu.h"
#include "smpp_receipt.h"
#include "smpp_status.h"

/* ---- options ------------------------------------------------------------- */

void lsmpp_check_keys(lua_State *L, int idx, const char *what, const char *const *names)
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

smpp_ms lsmpp_opt_ms(lua_State *L, int idx, const char *key)
{
    lua_Number v = lua_tonumber(L, idx);
    if (lua_type(L, idx) != LUA_TNUMBER || !(v >= 0 && v < 1e9))
        luaL_error(L, "option '%s': seconds >= 0 expected, got %s", key,
                   lua_type(L, idx) == LUA_TNUMBER ? "a negative or huge number"
                                                   : luaL_typename(L, idx));
    return (smpp_ms)(v * 1000.0 + 0.5);
}

uint32_t lsmpp_opt_u32(lua_State *L, int idx, const char *key, uint32_t min, uint32_t max)
{
    int64_t v = 0;
    if (!lsmpp_get_integer(L, idx, &v))
        luaL_error(L, "option '%s': integer expected, got %s", key, luaL_typename(L, idx));
    if (v < (int64_t)min || v > (int64_t)max)
        luaL_error(L, "option '%s': %d out of range %d..%d", key, (int)v, (int)min, (int)max);
    return (uint32_t)v;
}

void lsmpp_opt_string(lua_State *L, int idx, const char *key, char *dst, size_t size)
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

/* The session settings every driver reads alike: one table. A key a role
 * does not take never gets here: lsmpp_check_keys refused it first. */
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
    {"rate_burst", offsetof(smpp_session_config, rate_burst), 1, 10000000},
    {"throttle_min", offsetof(smpp_session_config, throttle_min_ms), 0, 0},
    {"throttle_max", offsetof(smpp_session_config, throttle_max_ms), 0, 0},
};

/* rate = n: requests per second (a number > 0, fractions allowed). */
static void opt_rate(lua_State *L, int idx, smpp_session_config *cfg)
{
    lua_Number v;

    lua_getfield(L, idx, "rate");
    if (!lua_isnil(L, -1)) {
        v = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !(v >= 0.001 && v <= 1000000))
            luaL_error(L, "option 'rate': requests per second 0.001..1000000 expected, got %s",
                       lua_type(L, -1) == LUA_TNUMBER ? "a number out of range"
                                                      : luaL_typename(L, -1));
        cfg->rate_x1000 = (uint32_t)(v * 1000.0 + 0.5);
    }
    lua_pop(L, 1);
}

/* retry = {ESME_RTHROTTLED = 3, [0x14] = 3}: statuses (names or numbers)
 * and how many times a request answered with each is sent again. */
static void opt_retry(lua_State *L, int idx, smpp_session_config *cfg)
{
    lua_getfield(L, idx, "retry");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "option 'retry': table of status = times expected, got %s",
                   luaL_typename(L, -1));
    cfg->retry_count = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        uint32_t status, times;

        if (lsmpp_get_status(L, -2, &status) != 0 || status == 0)
            luaL_error(L, "option 'retry': key %s is not a status name or number other than 0",
                       lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2));
        times = lsmpp_opt_u32(L, -1, "retry", 0, 255);
        if (cfg->retry_count == SMPP_RETRY_MAX)
            luaL_error(L, "option 'retry': at most %d statuses", SMPP_RETRY_MAX);
        cfg->retry[cfg->retry_count].status = status;
        cfg->retry[cfg->retry_count].times = times;
        cfg->retry_count++;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void lsmpp_opt_session(lua_State *L, int idx, smpp_session_config *cfg)
{
    size_t i;

    idx = lua_absindex(L, idx);
    for (i = 0; i < sizeof(session_opts) / sizeof(session_opts[0]); i++) {
        char *field = (char *)cfg + session_opts[i].offset;

        lua_getfield(L, idx, session_opts[i].key);
        if (!lua_isnil(L, -1)) {
            if (session_opts[i].max == 0) {
                smpp_ms ms = lsmpp_opt_ms(L, -1, session_opts[i].key);
                memcpy(field, &ms, sizeof(ms));
            } else {
                uint32_t v = lsmpp_opt_u32(L, -1, session_opts[i].key, session_opts[i].min,
                                           session_opts[i].max);
                memcpy(field, &v, sizeof(v));
            }
        }
        lua_pop(L, 1);
    }
    opt_rate(L, idx, cfg);
    opt_retry(L, idx, cfg);
    if (cfg->throttle_min_ms < 1 || cfg->throttle_max_ms < cfg->throttle_min_ms)
        luaL_error(L, "options 'throttle_min', 'throttle_max': need 0.001 <= min <= max seconds");
}

int lsmpp_get_status(lua_State *L, int idx, uint32_t *status)
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
        uint32_t v32 = smpp_status_value(name, len, &found);
        if (!found)
            return -1;
        *status = v32;
        return 0;
    }
    return -1;
}

/* ---- requests -------------------------------------------------------------- */

static int push_fail(lua_State *L, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

int lsmpp_submit(lua_State *L, smpp_session *s, int idx, uint64_t token, smpp_ms now)
{
    int client = smpp_session_role(s) == SMPP_ROLE_CLIENT;
    uint32_t command = client ? SMPP_SUBMIT_SM : SMPP_DELIVER_SM;
    lsmpp_scratch scratch;
    smpp_error err;
    smpp_pdu pdu;
    int rc;

    smpp_pdu_defaults(&pdu, command);
    rc = lsmpp_fill_pdu(L, idx, &pdu, &scratch, &err);
    if (rc == SMPP_ERR_NOMEM)
        return luaL_error(L, "not enough memory");
    if (rc == 0 && pdu.command_id != command)
        return push_fail(L, client ? "command: a client submits submit_sm only"
                                   : "command: a server delivers deliver_sm only");
    if (rc == 0)
        rc = smpp_session_submit(s, &pdu, token, now, &err);
    switch (rc) {
    case 0:
        return 0;
    case SMPP_ERR_NOMEM:
        return luaL_error(L, "not enough memory");
    case SMPP_ERR_QUEUE_FULL:
        return push_fail(L, "queue full");
    case SMPP_ERR_STATE:
        return push_fail(L, "closed");
    case SMPP_ERR_NOT_SENT:
        return push_fail(L, "not sent");
    default:
        return push_fail(L, err.msg);
    }
}

/* ---- events and results ---------------------------------------------------- */

void lsmpp_push_reason(lua_State *L, smpp_reason reason, const char *detail)
{
    if (reason == SMPP_REASON_DNS || reason == SMPP_REASON_CONNECT_ERROR)
        lua_pushfstring(L, "%s: %s", smpp_reason_name(reason),
                        detail != NULL && *detail ? detail : "unknown");
    else
        lua_pushstring(L, smpp_reason_name(reason));
}

/* nil, status name, status: how a refusal by the peer shows. */
static int push_refusal(lua_State *L, uint32_t status)
{
    lua_pushnil(L);
    lsmpp_push_status(L, status);
    lsmpp_push_u32(L, status);
    return 3;
}

int lsmpp_push_result(lua_State *L, const smpp_event *ev)
{
    switch (ev->outcome) {
    case SMPP_OUTCOME_RESPONSE:
        if (ev->status != 0)
            return push_refusal(L, ev->status);
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
    case SMPP_OUTCOME_NACK:
        push_refusal(L, ev->status);
        lua_pushstring(L, smpp_outcome_name(ev->outcome));
        return 4;
    default:
        lua_pushnil(L);
        lua_pushstring(L, smpp_outcome_name(ev->outcome));
        return 2;
    }
}

/* Push a C-Octet String field, "" when absent. */
static void push_field(lua_State *L, const smpp_bytes *b)
{
    lua_pushlstring(L, b->ptr != NULL ? (const char *)b->ptr : "", b->len);
}

int lsmpp_push_event(lua_State *L, const smpp_event *ev, int token, const char *detail)
{
    smpp_receipt_pdu r;
    int n;

    if (token != 0)
        token = lua_absindex(L, token);
    luaL_checkstack(L, 8, NULL);
    switch (ev->type) {
    case SMPP_EV_BOUND:
        lua_pushliteral(L, "bound");
        return 1;
    case SMPP_EV_BIND_FAILED:
        lua_pushliteral(L, "bind_failed");
        if (ev->reason == SMPP_REASON_BIND_STATUS) {
            lsmpp_push_status(L, ev->status);
            lsmpp_push_u32(L, ev->status);
            return 3;
        }
        lsmpp_push_reason(L, ev->reason, detail);
        return 2;
    case SMPP_EV_RESULT:
        lua_pushliteral(L, "result");
        if (token != 0)
            lua_pushvalue(L, token);
        else
#if LUA_VERSION_NUM >= 503
            lua_pushinteger(L, (lua_Integer)ev->token);
#else
            lua_pushnumber(L, (lua_Number)ev->token);
#endif
        n = lsmpp_push_result(L, ev);
        return n + 2;
    case SMPP_EV_DELIVER:
        if (smpp_receipt_from_pdu(ev->pdu, &r)) {
            lua_pushliteral(L, "receipt");
            lsmpp_push_keys(L);
            lsmpp_push_receipt_k(L, lua_gettop(L), ev->pdu, &r);
            lua_remove(L, -2);
            lsmpp_push_pdu_bytes(L, ev->pdu);
            return 3;
        }
        lua_pushliteral(L, "deliver");
        lsmpp_push_pdu(L, ev->pdu);
        return 2;
    case SMPP_EV_BIND_REQUEST:
        lua_pushliteral(L, "bind_request");
        push_field(L, &ev->pdu->system_id);
        push_field(L, &ev->pdu->password);
        return 3;
    case SMPP_EV_REQUEST:
        lua_pushliteral(L, "request");
        lsmpp_push_pdu(L, ev->pdu);
        return 2;
    case SMPP_EV_CLOSED:
        lua_pushliteral(L, "closed");
        lsmpp_push_reason(L, ev->reason, detail);
        return 2;
    case SMPP_EV_LOG:
        lua_pushliteral(L, "log");
        lua_pushstring(L, smpp_log_level_name(ev->level));
        lua_pushstring(L, ev->message != NULL ? ev->message : "");
        return 3;
    default:
        return 0;
    }
}

void lsmpp_push_stats(lua_State *L, const smpp_session_stats *st, uint64_t receipts, int server)
{
    uint32_t i;

    lua_createtable(L, 0, 18);
#if LUA_VERSION_NUM >= 503
#define SET(name, v)                                                                               \
    do {                                                                                           \
        lua_pushinteger(L, (lua_Integer)(v));                                                      \
        lua_setfield(L, -2, name);                                                                 \
    } while (0)
#else
#define SET(name, v)                                                                               \
    do {                                                                                           \
        lua_pushnumber(L, (lua_Number)(v));                                                        \
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
    SET("pdus_in", st->pdus_in);
    if (server)
        SET("requests", st->requests_in);
    else
        SET("receipts", receipts);
    SET("delivered_in", st->delivered_in);
    SET("throttled", st->throttled);
    SET("retries", st->retries);
    lua_createtable(L, 0, (int)st->n_answers);
    for (i = 0; i < st->n_answers; i++) {
        if (st->answers[i].status == UINT32_MAX)
            lua_pushliteral(L, "other");
        else
            lsmpp_push_status(L, st->answers[i].status);
#if LUA_VERSION_NUM >= 503
        lua_pushinteger(L, (lua_Integer)st->answers[i].count);
#else
        lua_pushnumber(L, (lua_Number)st->answers[i].count);
#endif
        lua_settable(L, -3);
    }
    lua_setfield(L, -2, "answers");
    lua_createtable(L, 0, (int)st->n_receipt_stats);
    for (i = 0; i < st->n_receipt_stats; i++)
        SET(st->receipt_stats[i].stat, st->receipt_stats[i].count);
    lua_setfield(L, -2, "receipt_stats");
    if (st->last_error[0] != '\0') {
        lua_pushstring(L, st->last_error);
        lua_setfield(L, -2, "last_error");
    }
#undef SET
}
