/*
 * fuzz_lua_pdu.c - libFuzzer target for the Lua table -> PDU path
 * (lsmpp_fill_pdu, as pdu.encode, client:submit and core.session use it),
 * with Lua 5.4 embedded. The input is read as a recipe for a table: keys
 * from a dictionary of every name the conversion knows (and some it does
 * not), values of every Lua type, nested tables for tlvs and
 * network_error_code. Invariants: the conversion never raises and
 * returns 0 or a negative code with a message; a table that converts and
 * encodes decodes back, and the decoded PDU, pushed as a table and
 * converted again, encodes to the very same bytes. The Lua stack is left
 * as it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lsmpp_pdu.h"

#define MAX_OUT (SMPP_DEFAULT_MAX_PDU + 16)

static lua_State *L;
static uint8_t out[MAX_OUT];
static uint8_t again[MAX_OUT];

typedef struct recipe {
    const uint8_t *p;
    size_t n;
} recipe;

static uint8_t take(recipe *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

static const char *const names[] = {
    /* header and shape */
    "command", "command_status", "sequence_number", "tlvs", "has_body",
    /* fields */
    "system_id", "password", "system_type", "interface_version", "addr_ton", "addr_npi",
    "address_range", "service_type", "source_addr_ton", "source_addr_npi", "source_addr",
    "dest_addr_ton", "dest_addr_npi", "destination_addr", "esm_class", "protocol_id",
    "priority_flag", "schedule_delivery_time", "validity_period", "registered_delivery",
    "replace_if_present_flag", "data_coding", "sm_default_msg_id", "short_message", "message_id",
    "final_date", "message_state", "error_code",
    /* TLV entries and named TLVs */
    "tag", "name", "value", "nul", "receipted_message_id", "network_error_code",
    "sc_interface_version", "message_payload", "network_type",
    /* command names */
    "submit_sm", "submit_sm_resp", "deliver_sm", "deliver_sm_resp", "bind_transceiver",
    "bind_transceiver_resp", "bind_transmitter", "bind_receiver", "query_sm", "query_sm_resp",
    "enquire_link", "enquire_link_resp", "unbind", "unbind_resp", "generic_nack",
    /* nothing the conversion knows */
    "colour", ""};

#define NAME_COUNT (sizeof(names) / sizeof(names[0]))

static void push_value(recipe *r, int depth);

/* A table of up to 8 entries: named keys, or array slots 1..4. */
static void push_table(recipe *r, int depth)
{
    int i, count = take(r) % 9;

    lua_createtable(L, 4, 4);
    for (i = 0; i < count && r->n > 0; i++) {
        uint8_t k = take(r);

        if (k < 48)
            lua_pushinteger(L, 1 + k % 4);
        else
            lua_pushstring(L, names[k % NAME_COUNT]);
        push_value(r, depth + 1);
        lua_rawset(L, -3);
    }
}

static void push_value(recipe *r, int depth)
{
    uint8_t kind = take(r);
    size_t len;
    int64_t v;

    switch (kind % 9) {
    case 0:
        lua_pushinteger(L, take(r));
        break;
    case 1:
        v = (int64_t)((uint64_t)take(r) << 24 | (uint64_t)take(r) << 16 | (uint64_t)take(r) << 8 |
                      take(r));
        lua_pushinteger(L, kind & 0x80 ? -v : v);
        break;
    case 2:
    case 3:
        len = take(r) % 80;
        if (len > r->n)
            len = r->n;
        lua_pushlstring(L, (const char *)r->p, len);
        r->p += len;
        r->n -= len;
        break;
    case 4:
        lua_pushnumber(L, (lua_Number)take(r) / 7.0);
        break;
    case 5:
        lua_pushboolean(L, kind & 0x10);
        break;
    case 6:
        lua_pushstring(L, names[take(r) % NAME_COUNT]);
        break;
    default:
        if (depth < 3)
            push_table(r, depth);
        else
            lua_pushinteger(L, kind);
        break;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    recipe r = {data, size};
    lsmpp_scratch scratch, scratch2;
    smpp_error err;
    smpp_pdu pdu, d, back;
    int top = lua_gettop(L), rc;
    long n, m;

    push_table(&r, 0);
    /* Defaults as a request starts from them; the table may change the
     * command. */
    smpp_pdu_defaults(&pdu, (size & 1) ? SMPP_SUBMIT_SM : SMPP_DELIVER_SM);
    err.msg[0] = '\0';
    rc = lsmpp_fill_pdu(L, -1, &pdu, &scratch, &err);
    if (lua_gettop(L) != top + 1)
        abort(); /* the stack moved */
    if (rc > 0 || (rc < 0 && err.msg[0] == '\0'))
        abort();
    if (rc == 0) {
        n = smpp_pdu_encode(&pdu, out, sizeof(out), &err);
        if (n > 0) {
            if (smpp_pdu_decode(&d, out, (size_t)n, &err) != 0)
                abort(); /* what encodes must decode */
            /* Back through Lua: the table decode gives encodes the same. */
            lsmpp_push_pdu(L, &d);
            smpp_pdu_clear(&back);
            if (lsmpp_fill_pdu(L, -1, &back, &scratch2, &err) != 0)
                abort();
            m = smpp_pdu_encode(&back, again, sizeof(again), &err);
            if (m != n || memcmp(out, again, (size_t)n) != 0)
                abort();
        }
    }
    lua_settop(L, top);
    /* Keep the state small between inputs. */
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
