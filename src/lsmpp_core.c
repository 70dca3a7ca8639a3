/*
 * lsmpp_core.c - the smpp.core module: the codec as Lua sees it (encode,
 * decode, framing, UCS2, receipt text, status names), the gateway's JSON
 * body (lsmpp_json.c) and the sans-I/O session (core.session,
 * lsmpp_session.c). No libev, no threads here: OpenResty and Tarantool
 * load this module inside their own event loops.
 *
 * Misuse (a wrong argument type) raises; bad data returns nil, err.
 * Output goes through a stack buffer, or a userdata the GC owns when it is
 * bigger, so no error can leak memory.
 *
 * Every function has the key cache of lsmpp_pdu.c as upvalue 1 (KEYS):
 * the codec paths use it without a registry lookup per call.
 */
#include <stdio.h>
#include <string.h>

#include "lsmpp_compat.h"
#include "lsmpp_json.h"
#include "lsmpp_pdu.h"
#include "lsmpp_session.h"
#include "lsmpp_store.h"
#include "smpp_receipt.h"
#include "smpp_status.h"
#include "smpp_text.h"

#define KEYS lua_upvalueindex(1)

/* Big enough for every PDU the gateway exchanges (W1 is 206 bytes). */
#define STACK_OUT 1024

static int fail_msg(lua_State *L, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

/* Out buffer of need bytes: buf when it fits, else a GC-owned userdata
 * (pushed on the stack, so an error raised later frees it). */
static uint8_t *out_buffer(lua_State *L, uint8_t *buf, size_t size, size_t need)
{
    if (need <= size)
        return buf;
    return (uint8_t *)lua_newuserdatauv(L, need, 0);
}

/* Optional 1-based position argument; len + 1 (nothing left) is allowed. */
static size_t opt_pos(lua_State *L, int arg, size_t len)
{
    lua_Integer pos = luaL_optinteger(L, arg, 1);

    luaL_argcheck(L, pos >= 1 && (lua_Integer)(pos - 1) <= (lua_Integer)len, arg,
                  "position out of range");
    return (size_t)(pos - 1);
}

/* Optional framing cap: PROTOCOL.md, "Framing" (64 KiB default). */
static uint32_t opt_max(lua_State *L, int arg)
{
    lua_Integer max = luaL_optinteger(L, arg, SMPP_DEFAULT_MAX_PDU);

    luaL_argcheck(L, max >= (lua_Integer)SMPP_HEADER_LEN && max <= (lua_Integer)0xFFFFFFFF, arg,
                  "max must be 16 .. 4294967295");
    return (uint32_t)max;
}

/* ---- encode ---------------------------------------------------------------- */

/*
 * A table whose command is a number the codec does not know: header plus
 * the raw `body` bytes. Lets tests and the simulator's peers send what a
 * server must nack, and makes decode/encode round trip for such PDUs.
 */
static int encode_unknown(lua_State *L, uint32_t id)
{
    uint8_t stack[STACK_OUT], *out;
    uint32_t status = 0, seq = 0;
    const char *body = NULL;
    size_t blen = 0, total;
    int64_t v = 0;

    lua_pushnil(L);
    while (lua_next(L, 1)) {
        size_t klen = 0;
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &klen) : NULL;
        uint32_t *slot = NULL;

        if (k == NULL) {
            lua_pushfstring(L, "unknown field (a %s key)", luaL_typename(L, -2));
            return fail_msg(L, lua_tostring(L, -1));
        }
        if (strcmp(k, "command") == 0) {
            lua_pop(L, 1);
            continue;
        }
        if (strcmp(k, "body") == 0) {
            if (lua_type(L, -1) != LUA_TSTRING) {
                lua_pushfstring(L, "body: string expected, got %s", luaL_typename(L, -1));
                return fail_msg(L, lua_tostring(L, -1));
            }
            body = lua_tolstring(L, -1, &blen);
            lua_pop(L, 1);
            continue;
        }
        if (strcmp(k, "command_status") == 0)
            slot = &status;
        else if (strcmp(k, "sequence_number") == 0)
            slot = &seq;
        if (slot == NULL) {
            char msg[SMPP_ERRMSG_SIZE];

            /* lua_pushfstring has no %X. */
            snprintf(msg, sizeof(msg), "%s is not a field of command 0x%08X", k, (unsigned)id);
            return fail_msg(L, msg);
        }
        if (!lsmpp_get_integer(L, -1, &v) || v < 0 || v > 0xFFFFFFFFLL) {
            lua_pushfstring(L, "%s: integer 0..4294967295 expected", k);
            return fail_msg(L, lua_tostring(L, -1));
        }
        *slot = (uint32_t)v;
        lua_pop(L, 1);
    }
    if (blen > 0xFFFFFFFFu - SMPP_HEADER_LEN)
        return fail_msg(L, "body: too long for command_length");
    total = SMPP_HEADER_LEN + blen;
    out = out_buffer(L, stack, sizeof(stack), total);
    smpp_put_u32(out, (uint32_t)total);
    smpp_put_u32(out + 4, id);
    smpp_put_u32(out + 8, status);
    smpp_put_u32(out + 12, seq);
    if (blen != 0)
        memcpy(out + SMPP_HEADER_LEN, body, blen);
    lua_pushlstring(L, (const char *)out, total);
    return 1;
}

/* pdu.encode(t) -> bytes | nil, err */
static int l_encode(lua_State *L)
{
    uint8_t stack[STACK_OUT], *out = stack;
    lsmpp_scratch scratch;
    smpp_error err;
    smpp_pdu pdu;
    long n;
    int rc;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    smpp_pdu_clear(&pdu);
    rc = lsmpp_fill_pdu_k(L, KEYS, 1, &pdu, &scratch, &err);
    if (rc == SMPP_ERR_UNKNOWN_COMMAND)
        return encode_unknown(L, pdu.command_id);
    if (rc < 0)
        return fail_msg(L, err.msg);
    n = smpp_pdu_encode(&pdu, stack, sizeof(stack), &err);
    if (n == SMPP_ERR_BUFFER) {
        out = out_buffer(L, stack, sizeof(stack), err.limit);
        n = smpp_pdu_encode(&pdu, out, err.limit, &err);
    }
    if (n < 0)
        return fail_msg(L, err.msg);
    lua_pushlstring(L, (const char *)out, (size_t)n);
    return 1;
}

/* ---- decode / frame ------------------------------------------------------ */

/*
 * Frame at buf[0..avail). Returns the PDU length (> 0); or 0 with *need set
 * to the least number of bytes still missing; or < 0 with err filled.
 */
static long frame(const uint8_t *buf, size_t avail, uint32_t max, size_t *need, smpp_error *err)
{
    long n = smpp_frame(buf, avail, max, err);

    if (n == 0) {
        size_t want = SMPP_HEADER_LEN;

        /* command_length is readable from 4 bytes on: need the whole PDU. */
        if (avail >= 4 && smpp_get_u32(buf) > want)
            want = smpp_get_u32(buf);
        *need = want - avail;
    }
    return n;
}

/*
 * The arguments decode and receipt take, (bytes [, pos [, max]]), framed.
 * Returns the length of the PDU at *s + *pos; or 0 after pushing the
 * answer for "incomplete" (nil, nil, need) or "broken stream" (nil, err),
 * with *nret the number of values pushed.
 */
static long frame_args(lua_State *L, const uint8_t **s, size_t *pos, int *nret)
{
    size_t len, need = 0;
    smpp_error err;
    long n;

    *s = (const uint8_t *)luaL_checklstring(L, 1, &len);
    *pos = opt_pos(L, 2, len);
    n = frame(*s + *pos, len - *pos, opt_max(L, 3), &need, &err);
    if (n < 0) {
        *nret = fail_msg(L, err.msg);
        return 0;
    }
    if (n == 0) {
        lua_pushnil(L);
        lua_pushnil(L);
        lua_pushinteger(L, (lua_Integer)need);
        *nret = 3;
    }
    return n;
}

/*
 * pdu.decode(bytes [, pos [, max]]) ->
 *   t, next_pos                 one PDU decoded
 *   nil, nil, need              incomplete: at least `need` more bytes
 *   nil, err                    broken stream (framing): stop reading
 *   nil, err, nil, next_pos     a framed PDU with a bad body; the stream
 *                               goes on at next_pos
 */
static int l_decode(lua_State *L)
{
    const uint8_t *s;
    size_t pos;
    smpp_error err;
    smpp_pdu pdu;
    int rc, nret;
    long n = frame_args(L, &s, &pos, &nret);

    if (n == 0)
        return nret;
    rc = smpp_pdu_decode(&pdu, s + pos, (size_t)n, &err);
    if (rc == SMPP_ERR_UNKNOWN_COMMAND) {
        /* Header only (the codec knows nothing else of it), plus the raw
         * body so that it encodes back to the same bytes. */
        lsmpp_push_pdu_k(L, KEYS, &pdu);
        lua_pushlstring(L, (const char *)s + pos + SMPP_HEADER_LEN, (size_t)n - SMPP_HEADER_LEN);
        lua_setfield(L, -2, "body");
    } else if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        lua_pushnil(L);
        lua_pushinteger(L, (lua_Integer)(pos + (size_t)n + 1));
        return 4;
    } else {
        lsmpp_push_pdu_k(L, KEYS, &pdu);
    }
    lua_pushinteger(L, (lua_Integer)(pos + (size_t)n + 1));
    return 2;
}

/* pdu.frame(bytes [, pos [, max]]) -> len | 0 | nil, err */
static int l_frame(lua_State *L)
{
    size_t len, pos, need;
    const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &len);
    uint32_t max;
    smpp_error err;
    long n;

    pos = opt_pos(L, 2, len);
    max = opt_max(L, 3);
    n = frame(s + pos, len - pos, max, &need, &err);
    if (n < 0)
        return fail_msg(L, err.msg);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

/*
 * pdu.receipt(bytes [, pos [, max]]) -> r, next_pos | false, next_pos |
 * nil, err: one deliver_sm as the receipt table a client's on_receipt gets,
 * false when it is a deliver_sm that is no receipt.
 */
static int l_receipt(lua_State *L)
{
    const uint8_t *s;
    size_t pos;
    smpp_receipt_pdu r;
    smpp_error err;
    smpp_pdu pdu;
    int nret;
    long n = frame_args(L, &s, &pos, &nret);

    if (n == 0)
        return nret;
    if (smpp_pdu_decode(&pdu, s + pos, (size_t)n, &err) < 0)
        return fail_msg(L, err.msg);
    if (pdu.command_id != SMPP_DELIVER_SM)
        return fail_msg(L, "not a deliver_sm");
    if (smpp_receipt_from_pdu(&pdu, &r))
        lsmpp_push_receipt_k(L, KEYS, &pdu, &r);
    else
        lua_pushboolean(L, 0);
    lua_pushinteger(L, (lua_Integer)(pos + (size_t)n + 1));
    return 2;
}

/* ---- text ------------------------------------------------------------------ */

/* pdu.utf8_to_ucs2(s) -> ucs2 | nil, err (err names the byte offset) */
static int l_utf8_to_ucs2(lua_State *L)
{
    uint8_t stack[STACK_OUT], *out;
    size_t len;
    const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &len);
    smpp_error err;
    long n;

    /* Every UTF-8 sequence of k bytes becomes at most 2k bytes of UTF-16. */
    out = out_buffer(L, stack, sizeof(stack), len * 2);
    n = smpp_utf8_to_ucs2(s, len, out, len * 2, &err);
    if (n < 0)
        return fail_msg(L, err.msg);
    lua_pushlstring(L, (const char *)out, (size_t)n);
    return 1;
}

/* pdu.ucs2_to_utf8(s) -> utf8 | nil, err (err names the byte offset) */
static int l_ucs2_to_utf8(lua_State *L)
{
    uint8_t stack[STACK_OUT], *out;
    size_t len, cap;
    const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &len);
    smpp_error err;
    long n;

    /* 2 bytes of UTF-16 never need more than 3 of UTF-8 (a pair of 4
     * bytes gives 4). */
    cap = len / 2 * 3 + 3;
    out = out_buffer(L, stack, sizeof(stack), cap);
    n = smpp_ucs2_to_utf8(s, len, out, cap, &err);
    if (n < 0)
        return fail_msg(L, err.msg);
    lua_pushlstring(L, (const char *)out, (size_t)n);
    return 1;
}

/* ---- receipt text ----------------------------------------------------------- */

/* pdu.parse_receipt(text) -> {id, sub, dlvrd, submit_date, done_date,
 * stat, err, text, raw}; fields the text lacks are nil. Never fails. */
static int l_parse_receipt(lua_State *L)
{
    size_t len;
    const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &len);

    lsmpp_push_receipt_text_k(L, KEYS, s, len, 1);
    return 1;
}

/* pdu.format_receipt(t) -> text | nil, err. t as parse_receipt gives it
 * (raw is ignored); sub, dlvrd and err default to 001, 001 and 000. */
static int l_format_receipt(lua_State *L)
{
    static const struct {
        const char *name;
        size_t offset;
    } keys[] = {
        {"id", offsetof(smpp_receipt, id)},
        {"sub", offsetof(smpp_receipt, sub)},
        {"dlvrd", offsetof(smpp_receipt, dlvrd)},
        {"submit_date", offsetof(smpp_receipt, submit_date)},
        {"done_date", offsetof(smpp_receipt, done_date)},
        {"stat", offsetof(smpp_receipt, stat)},
        {"err", offsetof(smpp_receipt, err)},
        {"text", offsetof(smpp_receipt, text)},
    };
    uint8_t stack[STACK_OUT], *out = stack;
    smpp_receipt r;
    smpp_error err;
    long n;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    memset(&r, 0, sizeof(r));
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        size_t i;

        if (k == NULL) {
            lua_pushfstring(L, "unknown field (a %s key)", luaL_typename(L, -2));
            return fail_msg(L, lua_tostring(L, -1));
        }
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strcmp(k, keys[i].name) == 0)
                break;
        if (i == sizeof(keys) / sizeof(keys[0])) {
            if (strcmp(k, "raw") != 0) {
                lua_pushfstring(L, "unknown field '%s'", k);
                return fail_msg(L, lua_tostring(L, -1));
            }
        } else {
            smpp_bytes *b = (smpp_bytes *)((char *)&r + keys[i].offset);

            if (lua_type(L, -1) != LUA_TSTRING) {
                lua_pushfstring(L, "%s: string expected, got %s", k, luaL_typename(L, -1));
                return fail_msg(L, lua_tostring(L, -1));
            }
            b->ptr = (const uint8_t *)lua_tolstring(L, -1, &b->len);
        }
        lua_pop(L, 1);
    }
    n = smpp_receipt_format(&r, stack, sizeof(stack), &err);
    if (n == SMPP_ERR_BUFFER) {
        out = out_buffer(L, stack, sizeof(stack), err.limit);
        n = smpp_receipt_format(&r, out, err.limit, &err);
    }
    if (n < 0)
        return fail_msg(L, err.msg);
    lua_pushlstring(L, (const char *)out, (size_t)n);
    return 1;
}

/* ---- status names ------------------------------------------------------------ */

/* The status number at arg: integer 0..0xFFFFFFFF, else raises. */
static uint32_t check_u32(lua_State *L, int arg)
{
    int64_t v = 0;

    if (!lsmpp_get_integer(L, arg, &v) || v < 0 || v > 0xFFFFFFFFLL)
        luaL_argerror(L, arg, "integer 0..0xFFFFFFFF expected");
    return (uint32_t)v;
}

/* pdu.status_name(n) -> name | nil */
static int l_status_name(lua_State *L)
{
    const char *name = smpp_status_name(check_u32(L, 1));

    if (name == NULL)
        lua_pushnil(L);
    else
        lua_pushstring(L, name);
    return 1;
}

/* pdu.status_string(n) -> name, or "0x%08X" for unknown numbers: what the
 * client hands to callbacks. */
static int l_status_string(lua_State *L)
{
    lsmpp_push_status(L, check_u32(L, 1));
    return 1;
}

/* pdu.status_value(name) -> n | nil */
static int l_status_value(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    int found = 0;
    uint32_t v = smpp_status_value(name, len, &found);

    if (!found)
        lua_pushnil(L);
    else
        lsmpp_push_u32(L, v);
    return 1;
}

/* pdu.message_state_name(n) -> "DELIVERED" | nil */
static int l_message_state_name(lua_State *L)
{
    int64_t v = 0;
    const char *name = NULL;

    if (!lsmpp_get_integer(L, 1, &v))
        luaL_argerror(L, 1, "integer expected");
    if (v >= 0 && v <= 0xFF)
        name = smpp_message_state_name((unsigned)v);
    if (name == NULL)
        lua_pushnil(L);
    else
        lua_pushstring(L, name);
    return 1;
}

static const luaL_Reg core_funcs[] = {
    {"encode", l_encode},
    {"decode", l_decode},
    {"frame", l_frame},
    {"receipt", l_receipt},
    {"utf8_to_ucs2", l_utf8_to_ucs2},
    {"ucs2_to_utf8", l_ucs2_to_utf8},
    {"parse_receipt", l_parse_receipt},
    {"format_receipt", l_format_receipt},
    {"status_name", l_status_name},
    {"status_string", l_status_string},
    {"status_value", l_status_value},
    {"message_state_name", l_message_state_name},
    {NULL, NULL},
};

__attribute__((visibility("default"))) int luaopen_smpp_core(lua_State *L)
{
    size_t i, n = smpp_status_count();

    luaL_newlibtable(L, core_funcs);
    lsmpp_push_keys(L);
    luaL_setfuncs(L, core_funcs, 1);
    lsmpp_json_register(L);
    lsmpp_session_register(L);
    lsmpp_store_register(L);

    /* status: name -> number, every status PROTOCOL.md lists. */
    lua_createtable(L, 0, (int)n);
    for (i = 0; i < n; i++) {
        uint32_t v = smpp_status_at(i);

        lsmpp_push_u32(L, v);
        lua_setfield(L, -2, smpp_status_name(v));
    }
    lua_setfield(L, -2, "status");

    lua_pushinteger(L, SMPP_DEFAULT_MAX_PDU);
    lua_setfield(L, -2, "max_pdu");
    return 1;
}
