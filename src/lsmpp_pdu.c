/*
 * lsmpp_pdu.c - smpp_pdu <-> Lua table, driven by the codec's descriptor
 * tables (smpp_pdu_fields), so a field is described once for the wire and
 * for Lua. Compiled into smpp.core and smpp.ev alike: no state outside the
 * lua_State and the caller's structs.
 *
 * Nothing here raises a Lua error on bad data: fill and convert return
 * negative smpp_err_code values with err->msg naming the key. Only out of
 * memory raises, and no function here holds malloc'd memory.
 */
#include <stdio.h>
#include <string.h>

#include "lsmpp_compat.h"
#include "lsmpp_pdu.h"
#include "smpp_status.h"

/* ---- named TLVs (PROTOCOL.md, "TLVs that matter here") ---------------- */

enum tlv_kind {
    TK_RAW,     /* octets as they are */
    TK_CSTRING, /* C-Octet String: Lua sees it without the NUL */
    TK_U8,      /* 1-byte integer */
    TK_NETERR   /* network_type (1) + error_code (2) */
};

typedef struct named_tlv {
    uint16_t tag;
    uint8_t kind;
    const char *name;
} named_tlv;

/* The order here is the order in which encode appends named keys of the
 * tlvs table that the array part does not already carry. */
static const named_tlv named_tlvs[] = {
    {SMPP_TLV_RECEIPTED_MESSAGE_ID, TK_CSTRING, "receipted_message_id"},
    {SMPP_TLV_MESSAGE_STATE, TK_U8, "message_state"},
    {SMPP_TLV_NETWORK_ERROR_CODE, TK_NETERR, "network_error_code"},
    {SMPP_TLV_SC_INTERFACE_VERSION, TK_U8, "sc_interface_version"},
    {SMPP_TLV_MESSAGE_PAYLOAD, TK_RAW, "message_payload"},
};

#define NAMED_TLV_COUNT (sizeof(named_tlvs) / sizeof(named_tlvs[0]))

static const named_tlv *named_by_tag(uint16_t tag)
{
    size_t i;

    for (i = 0; i < NAMED_TLV_COUNT; i++)
        if (named_tlvs[i].tag == tag)
            return &named_tlvs[i];
    return NULL;
}

static const named_tlv *named_by_name(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < NAMED_TLV_COUNT; i++)
        if (strlen(named_tlvs[i].name) == len && memcmp(named_tlvs[i].name, name, len) == 0)
            return &named_tlvs[i];
    return NULL;
}

/* Every command the codec knows, for the "is not a field of" message. */
static const uint32_t known_commands[] = {
    SMPP_GENERIC_NACK,          SMPP_BIND_RECEIVER,
    SMPP_BIND_RECEIVER_RESP,    SMPP_BIND_TRANSMITTER,
    SMPP_BIND_TRANSMITTER_RESP, SMPP_QUERY_SM,
    SMPP_QUERY_SM_RESP,         SMPP_SUBMIT_SM,
    SMPP_SUBMIT_SM_RESP,        SMPP_DELIVER_SM,
    SMPP_DELIVER_SM_RESP,       SMPP_UNBIND,
    SMPP_UNBIND_RESP,           SMPP_BIND_TRANSCEIVER,
    SMPP_BIND_TRANSCEIVER_RESP, SMPP_ENQUIRE_LINK,
    SMPP_ENQUIRE_LINK_RESP,
};

/* ---- key cache -------------------------------------------------------------
 *
 * Decoding sets ~25 keys per PDU and encoding matches ~12. lua_setfield
 * interns its key on every call (a strcmp through Lua's API string cache),
 * and matching keys by name costs strlen + memcmp per candidate. Instead,
 * each lua_State gets one table of every key string, in the registry under
 * the address of cache_anchor (one per module copy, so smpp.core and
 * smpp.ev each have their own); smpp.core also holds it as an upvalue of
 * its functions, which saves the registry lookup per call. Pushing a key
 * is then lua_rawgeti, and since Lua interns every short string (all keys
 * are short), a key in a user's table is the very same string object as
 * the cached one: its address identifies it.
 *
 * Slots 1..FIELD_SLOTS: the field name whose offsetof(smpp_pdu) is slot-1.
 * Then the fixed keys (enum below), then the command names, then the
 * userdata (key_index) that maps string addresses back to slots.
 */

enum cache_key {
    K_COMMAND,
    K_COMMAND_STATUS,
    K_SEQUENCE_NUMBER,
    K_TLVS,
    K_HAS_BODY,
    K_TAG,
    K_NAME,
    K_VALUE,
    K_NUL,
    K_NETWORK_TYPE,
    K_ERROR_CODE,
    K_ID,
    K_SUB,
    K_DLVRD,
    K_SUBMIT_DATE,
    K_DONE_DATE,
    K_STAT,
    K_ERR,
    K_TEXT,
    K_RAW,
    K_STATE,
    K_MESSAGE_STATE,
    K_NETWORK_ERROR_CODE,
    K_RECEIPTED_MESSAGE_ID,
    K_SC_INTERFACE_VERSION,
    K_MESSAGE_PAYLOAD,
    K_FINAL,
    K_EMPTY,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    "command",
    "command_status",
    "sequence_number",
    "tlvs",
    "has_body",
    "tag",
    "name",
    "value",
    "nul",
    "network_type",
    "error_code",
    "id",
    "sub",
    "dlvrd",
    "submit_date",
    "done_date",
    "stat",
    "err",
    "text",
    "raw",
    "state",
    "message_state",
    "network_error_code",
    "receipted_message_id",
    "sc_interface_version",
    "message_payload",
    "final",
    "", /* not a key: the empty string value, interned once */
};

#define COMMAND_COUNT (sizeof(known_commands) / sizeof(known_commands[0]))
#define FIELD_SLOTS offsetof(smpp_pdu, tlvs)
#define SLOT_FIELD(offset) ((int)(offset) + 1)
#define SLOT_KEY(k) ((int)FIELD_SLOTS + 1 + (int)(k))
#define SLOT_CMD(i) ((int)FIELD_SLOTS + 1 + K_COUNT + (int)(i))
#define SLOT_PTRS ((int)FIELD_SLOTS + 1 + K_COUNT + (int)COMMAND_COUNT)

/* Open addressing over string addresses: ~80 strings in 256 entries keeps
 * probes short. Distinct field names across all commands: under 40. */
#define KEY_HASH_BITS 8
#define KEY_HASH_SIZE (1u << KEY_HASH_BITS)
#define MAX_FIELD_IDS 40
#define NO_FIELD 0xFF

typedef struct key_entry {
    const char *p; /* the cached string's bytes; NULL: empty entry */
    uint16_t slot; /* its cache slot */
    uint8_t fid;   /* field id for field names, else NO_FIELD */
} key_entry;

typedef struct key_index {
    const char *p[FIELD_SLOTS + K_COUNT + COMMAND_COUNT]; /* slot-1 -> string */
    key_entry hash[KEY_HASH_SIZE];
    /* [command index][field id]: index + 1 of the field's descriptor in
     * smpp_pdu_fields(command), 0 when it is no field of that command. */
    uint8_t field_at[COMMAND_COUNT][MAX_FIELD_IDS];
} key_index;

static const char cache_anchor = 0;

static inline size_t key_hash(const char *p)
{
    return (size_t)(((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) >> (64 - KEY_HASH_BITS));
}

/* The entry for the string whose bytes are at p, or NULL: a string that is
 * not cached (any key we don't know) misses after a probe or two. */
static inline const key_entry *key_find(const key_index *ki, const char *p)
{
    size_t h = key_hash(p);

    for (;;) {
        const key_entry *e = &ki->hash[h];

        if (e->p == p)
            return e;
        if (e->p == NULL)
            return NULL;
        h = (h + 1) & (KEY_HASH_SIZE - 1);
    }
}

/* A string cached twice (message_state and error_code are fields of
 * query_sm_resp and keys of their own) keeps its first entry: the field. */
static key_entry *key_insert(key_index *ki, const char *p, int slot)
{
    size_t h = key_hash(p);

    while (ki->hash[h].p != NULL) {
        if (ki->hash[h].p == p)
            return &ki->hash[h];
        h = (h + 1) & (KEY_HASH_SIZE - 1);
    }
    ki->hash[h].p = p;
    ki->hash[h].slot = (uint16_t)slot;
    ki->hash[h].fid = NO_FIELD;
    return &ki->hash[h];
}

/* The index of a named tag's key in the cache. */
static int named_slot(const named_tlv *nt)
{
    switch (nt->tag) {
    case SMPP_TLV_RECEIPTED_MESSAGE_ID:
        return SLOT_KEY(K_RECEIPTED_MESSAGE_ID);
    case SMPP_TLV_MESSAGE_STATE:
        return SLOT_KEY(K_MESSAGE_STATE);
    case SMPP_TLV_NETWORK_ERROR_CODE:
        return SLOT_KEY(K_NETWORK_ERROR_CODE);
    case SMPP_TLV_SC_INTERFACE_VERSION:
        return SLOT_KEY(K_SC_INTERFACE_VERSION);
    default:
        return SLOT_KEY(K_MESSAGE_PAYLOAD);
    }
}

static key_entry *cache_set(lua_State *L, int t, key_index *ki, int slot, const char *s)
{
    lua_pushstring(L, s);
    ki->p[slot - 1] = lua_tostring(L, -1);
    lua_rawseti(L, t, slot);
    /* The table anchors the string, and Lua never moves an object, so the
     * address stays valid for as long as the state lives. */
    return key_insert(ki, ki->p[slot - 1], slot);
}

static int cache_build(lua_State *L)
{
    key_index *ki;
    size_t i, j, n;
    int t, nfid = 0;

    lua_createtable(L, SLOT_PTRS, 0);
    t = lua_gettop(L);
    ki = (key_index *)lua_newuserdatauv(L, sizeof(*ki), 0);
    memset(ki, 0, sizeof(*ki));
    lua_rawseti(L, t, SLOT_PTRS);
    for (i = 0; i < COMMAND_COUNT; i++) {
        const smpp_field *f = smpp_pdu_fields(known_commands[i], &n);

        for (j = 0; j < n; j++) {
            const key_entry *e;

            if (ki->p[f[j].offset] == NULL) {
                key_entry *ne = cache_set(L, t, ki, SLOT_FIELD(f[j].offset), f[j].name);

                /* Fixed sizes: a new field name in smpp_pdu.h that
                 * overflows them must fail loudly in every test. */
                if (nfid >= MAX_FIELD_IDS)
                    luaL_error(L, "lsmpp_pdu.c: raise MAX_FIELD_IDS");
                ne->fid = (uint8_t)nfid++;
            }
            e = key_find(ki, ki->p[f[j].offset]);
            ki->field_at[i][e->fid] = (uint8_t)(j + 1);
        }
        cache_set(L, t, ki, SLOT_CMD(i), smpp_command_name(known_commands[i]));
    }
    for (i = 0; i < K_COUNT; i++)
        cache_set(L, t, ki, SLOT_KEY(i), key_names[i]);
    lua_pushlightuserdata(L, (void *)&cache_anchor);
    lua_pushvalue(L, t);
    lua_rawset(L, LUA_REGISTRYINDEX);
    return t;
}

/* Push the cache table; returns its absolute index. */
static int cache_push(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&cache_anchor);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (lua_type(L, -1) == LUA_TTABLE)
        return lua_gettop(L);
    lua_pop(L, 1);
    return cache_build(L);
}

void lsmpp_push_keys(lua_State *L)
{
    luaL_checkstack(L, 4, NULL);
    (void)cache_push(L);
}

/* The key index of the cache at keys, without leaving anything on the
 * stack (the cache keeps the userdata alive). */
static const key_index *cache_index(lua_State *L, int keys)
{
    const key_index *ki;

    lua_rawgeti(L, keys, SLOT_PTRS);
    ki = (const key_index *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return ki;
}

/* t[cache[slot]] = value on top (popped). For values that must be pushed
 * before their key is known; otherwise push the key first and spare the
 * lua_insert. */
static inline void set_slot(lua_State *L, int cache, int t, int slot)
{
    lua_rawgeti(L, cache, slot);
    lua_insert(L, -2);
    lua_rawset(L, t);
}

/* ---- pushing ------------------------------------------------------------ */

/* The empty string comes from the cache: interning it anew costs a hash
 * lookup, and lua_pushlstring(L, NULL, 0) is not promised by 5.1. */
static inline void push_bytes(lua_State *L, int cache, const uint8_t *p, size_t len)
{
    if (len == 0)
        lua_rawgeti(L, cache, SLOT_KEY(K_EMPTY));
    else
        lua_pushlstring(L, (const char *)p, len);
}

static void push_neterr(lua_State *L, int cache, const uint8_t *v)
{
    int t;

    lua_createtable(L, 0, 2);
    t = lua_gettop(L);
    lua_rawgeti(L, cache, SLOT_KEY(K_NETWORK_TYPE));
    lua_pushinteger(L, v[0]);
    lua_rawset(L, t);
    lua_rawgeti(L, cache, SLOT_KEY(K_ERROR_CODE));
    lua_pushinteger(L, (v[1] << 8) | v[2]);
    lua_rawset(L, t);
}

/* Push the value of t as Lua sees it. Returns 1 when the value is typed
 * (eligible for the tlvs[name] shortcut), 0 when raw. *no_nul is set for a
 * receipted_message_id that came without its NUL, so that encode can
 * reproduce the same bytes. A named TLV of the wrong size (the codec's
 * decoder refuses those, but a pdu may come from elsewhere) goes raw. */
static int push_tlv_value(lua_State *L, int cache, const named_tlv *nt, const smpp_tlv *t,
                          int *no_nul)
{
    *no_nul = 0;
    if (nt != NULL) {
        switch (nt->kind) {
        case TK_CSTRING:
            if (t->len > 0 && t->value[t->len - 1] == 0) {
                push_bytes(L, cache, t->value, t->len - 1u);
            } else {
                push_bytes(L, cache, t->value, t->len);
                *no_nul = 1;
            }
            return 1;
        case TK_U8:
            if (t->len != 1)
                break;
            lua_pushinteger(L, t->value[0]);
            return 1;
        case TK_NETERR:
            if (t->len != 3)
                break;
            push_neterr(L, cache, t->value);
            return 1;
        default:
            push_bytes(L, cache, t->value, t->len);
            return 1;
        }
    }
    push_bytes(L, cache, t->value, t->len);
    return 0;
}

/* Keys go on the stack before their values throughout: lua_rawset then
 * needs no lua_insert (a rotation of the stack top). */
static void push_tlvs(lua_State *L, int cache, const smpp_pdu *pdu)
{
    unsigned seen = 0;
    size_t i;
    int tbl;

    lua_createtable(L, (int)pdu->tlv_count, 2);
    tbl = lua_gettop(L);
    for (i = 0; i < pdu->tlv_count; i++) {
        const smpp_tlv *t = &pdu->tlvs[i];
        const named_tlv *nt = named_by_tag(t->tag);
        int no_nul, typed, e;

        lua_createtable(L, 0, nt != NULL ? 4 : 2);
        e = lua_gettop(L);
        lua_rawgeti(L, cache, SLOT_KEY(K_TAG));
        lua_pushinteger(L, t->tag);
        lua_rawset(L, e);
        if (nt != NULL) {
            lua_rawgeti(L, cache, SLOT_KEY(K_NAME));
            lua_rawgeti(L, cache, named_slot(nt));
            lua_rawset(L, e);
        }
        lua_rawgeti(L, cache, SLOT_KEY(K_VALUE));
        typed = push_tlv_value(L, cache, nt, t, &no_nul);
        /* The first TLV of a named tag also goes to tlvs[name], as the
         * codec's smpp_pdu_find_tlv would pick it. */
        if (typed && !(seen & (1u << (nt - named_tlvs)))) {
            seen |= 1u << (nt - named_tlvs);
            lua_rawgeti(L, cache, named_slot(nt));
            lua_pushvalue(L, -2);
            lua_rawset(L, tbl);
        }
        lua_rawset(L, e);
        if (no_nul) {
            lua_rawgeti(L, cache, SLOT_KEY(K_NUL));
            lua_pushboolean(L, 0);
            lua_rawset(L, e);
        }
        lua_rawseti(L, tbl, (int)i + 1);
    }
}

/* Responses with a mandatory body may come without one (SMPP 3.4 allows it
 * when command_status != 0; gateways do it with 0 too). */
static inline int is_bodyless(const smpp_pdu *pdu, size_t nfields)
{
    return nfields != 0 && SMPP_IS_RESPONSE(pdu->command_id) && !pdu->has_body;
}

static int command_index(uint32_t id)
{
    size_t i;

    for (i = 0; i < COMMAND_COUNT; i++)
        if (known_commands[i] == id)
            return (int)i;
    return -1;
}

static void push_pdu(lua_State *L, int cache, const smpp_pdu *pdu)
{
    size_t n = 0, i;
    const smpp_field *f = smpp_pdu_fields(pdu->command_id, &n);
    int bodyless = f != NULL && is_bodyless(pdu, n);
    int t, cmd = command_index(pdu->command_id);

    lua_createtable(L, 0, 4 + (bodyless ? 0 : (int)n));
    t = lua_gettop(L);
    lua_rawgeti(L, cache, SLOT_KEY(K_COMMAND));
    if (cmd >= 0)
        lua_rawgeti(L, cache, SLOT_CMD(cmd));
    else
        lsmpp_push_u32(L, pdu->command_id);
    lua_rawset(L, t);
    lua_rawgeti(L, cache, SLOT_KEY(K_COMMAND_STATUS));
    lsmpp_push_u32(L, pdu->command_status);
    lua_rawset(L, t);
    lua_rawgeti(L, cache, SLOT_KEY(K_SEQUENCE_NUMBER));
    lsmpp_push_u32(L, pdu->sequence_number);
    lua_rawset(L, t);
    if (f != NULL && bodyless) {
        lua_rawgeti(L, cache, SLOT_KEY(K_HAS_BODY));
        lua_pushboolean(L, 0);
        lua_rawset(L, t);
    } else if (f != NULL) {
        for (i = 0; i < n; i++) {
            const char *base = (const char *)pdu + f[i].offset;

            lua_rawgeti(L, cache, SLOT_FIELD(f[i].offset));
            if (f[i].type == SMPP_FT_U8) {
                lua_pushinteger(L, *(const uint8_t *)base);
            } else {
                const smpp_bytes *b = (const smpp_bytes *)base;
                push_bytes(L, cache, b->ptr, b->len);
            }
            lua_rawset(L, t);
        }
        if (pdu->tlv_count != 0) {
            lua_rawgeti(L, cache, SLOT_KEY(K_TLVS));
            push_tlvs(L, cache, pdu);
            lua_rawset(L, t);
        }
    }
}

void lsmpp_push_pdu(lua_State *L, const smpp_pdu *pdu)
{
    int cache;

    luaL_checkstack(L, 12, NULL);
    cache = cache_push(L);
    push_pdu(L, cache, pdu);
    lua_remove(L, cache);
}

void lsmpp_push_pdu_k(lua_State *L, int keys, const smpp_pdu *pdu)
{
    luaL_checkstack(L, 10, NULL);
    push_pdu(L, keys, pdu);
}

void lsmpp_push_status(lua_State *L, uint32_t status)
{
    const char *name = smpp_status_name(status);

    if (name != NULL) {
        lua_pushstring(L, name);
    } else {
        char buf[16];
        snprintf(buf, sizeof(buf), "0x%08X", (unsigned)status);
        lua_pushstring(L, buf);
    }
}

/* ---- receipts ------------------------------------------------------------ */

/* t[cache[slot]] = b when the receipt had the field (ptr set, even if the
 * value is empty); nil otherwise. */
static void set_receipt_field(lua_State *L, int cache, int t, int slot, const smpp_bytes *b)
{
    if (b->ptr == NULL)
        return;
    lua_rawgeti(L, cache, slot);
    push_bytes(L, cache, b->ptr, b->len);
    lua_rawset(L, t);
}

/* The text fields but id, and stat as given (the receipt text's stat, or
 * the deliver_sm's reading of it). */
static void set_receipt_fields(lua_State *L, int cache, int t, const smpp_receipt *r,
                               const smpp_bytes *stat)
{
    set_receipt_field(L, cache, t, SLOT_KEY(K_STAT), stat);
    set_receipt_field(L, cache, t, SLOT_KEY(K_ERR), &r->err);
    set_receipt_field(L, cache, t, SLOT_KEY(K_SUB), &r->sub);
    set_receipt_field(L, cache, t, SLOT_KEY(K_DLVRD), &r->dlvrd);
    set_receipt_field(L, cache, t, SLOT_KEY(K_SUBMIT_DATE), &r->submit_date);
    set_receipt_field(L, cache, t, SLOT_KEY(K_DONE_DATE), &r->done_date);
    set_receipt_field(L, cache, t, SLOT_KEY(K_TEXT), &r->text);
}

void lsmpp_push_receipt_text_k(lua_State *L, int keys, const uint8_t *text, size_t len, int raw_idx)
{
    uint8_t buf[32];
    smpp_receipt r;
    smpp_bytes stat;
    int t;

    if (raw_idx != 0)
        raw_idx = lua_absindex(L, raw_idx);
    luaL_checkstack(L, 6, NULL);
    smpp_receipt_parse(text, len, &r);
    stat = smpp_receipt_stat(&r, buf, sizeof(buf));
    lua_createtable(L, 0, 9);
    t = lua_gettop(L);
    set_receipt_field(L, keys, t, SLOT_KEY(K_ID), &r.id);
    set_receipt_fields(L, keys, t, &r, &stat);
    lua_rawgeti(L, keys, SLOT_KEY(K_RAW));
    if (raw_idx != 0)
        lua_pushvalue(L, raw_idx);
    else
        push_bytes(L, keys, text, len);
    lua_rawset(L, t);
}

static void push_receipt(lua_State *L, int cache, const smpp_pdu *deliver,
                         const smpp_receipt_pdu *r)
{
    int t;

    lua_createtable(L, 0, 19);
    t = lua_gettop(L);
    set_receipt_field(L, cache, t, SLOT_FIELD(offsetof(smpp_pdu, message_id)), &r->message_id);
    set_receipt_fields(L, cache, t, &r->text, &r->stat);
    if (r->message_state >= 0) {
        const char *state = smpp_message_state_name((unsigned)r->message_state);

        lua_rawgeti(L, cache, SLOT_KEY(K_MESSAGE_STATE));
        lua_pushinteger(L, r->message_state);
        lua_rawset(L, t);
        if (state != NULL) {
            lua_rawgeti(L, cache, SLOT_KEY(K_STATE));
            lua_pushstring(L, state);
            lua_rawset(L, t);
        }
    }
    if (r->network_error_code != NULL) {
        lua_rawgeti(L, cache, SLOT_KEY(K_NETWORK_ERROR_CODE));
        push_neterr(L, cache, r->network_error_code);
        lua_rawset(L, t);
    }
    lua_rawgeti(L, cache, SLOT_KEY(K_FINAL));
    lua_pushboolean(L, r->final);
    lua_rawset(L, t);
    lua_rawgeti(L, cache, SLOT_FIELD(offsetof(smpp_pdu, destination_addr)));
    push_bytes(L, cache, deliver->destination_addr.ptr, deliver->destination_addr.len);
    lua_rawset(L, t);
    lua_rawgeti(L, cache, SLOT_FIELD(offsetof(smpp_pdu, source_addr)));
    push_bytes(L, cache, deliver->source_addr.ptr, deliver->source_addr.len);
    lua_rawset(L, t);
    lua_rawgeti(L, cache, SLOT_FIELD(offsetof(smpp_pdu, esm_class)));
    lua_pushinteger(L, deliver->esm_class);
    lua_rawset(L, t);
    lua_rawgeti(L, cache, SLOT_KEY(K_RAW));
    push_bytes(L, cache, r->raw.ptr, r->raw.len);
    lua_rawset(L, t);
    /* Always a table here, even when empty: receipt handlers index it. */
    lua_rawgeti(L, cache, SLOT_KEY(K_TLVS));
    push_tlvs(L, cache, deliver);
    lua_rawset(L, t);
    lua_rawgeti(L, cache, SLOT_KEY(K_SEQUENCE_NUMBER));
    lsmpp_push_u32(L, deliver->sequence_number);
    lua_rawset(L, t);
}

void lsmpp_push_receipt_k(lua_State *L, int keys, const smpp_pdu *deliver,
                          const smpp_receipt_pdu *r)
{
    luaL_checkstack(L, 12, NULL);
    push_receipt(L, keys, deliver, r);
}

void lsmpp_push_pdu_bytes(lua_State *L, const smpp_pdu *pdu)
{
    uint8_t buf[512];
    smpp_error err;
    long n = smpp_pdu_encode(pdu, buf, sizeof(buf), &err);

    if (n >= 0) {
        lua_pushlstring(L, (const char *)buf, (size_t)n);
    } else if (n == SMPP_ERR_BUFFER) {
        /* A long one (message_payload): GC-owned scratch, so an error
         * raised meanwhile leaks nothing. */
        size_t need = err.limit;
        uint8_t *big = (uint8_t *)lua_newuserdatauv(L, need, 0);

        n = smpp_pdu_encode(pdu, big, need, &err);
        if (n >= 0)
            lua_pushlstring(L, (const char *)big, (size_t)n);
        else
            lua_pushnil(L);
        lua_remove(L, -2);
    } else {
        lua_pushnil(L);
    }
}

/* ---- table -> pdu --------------------------------------------------------- */

/* "integer expected, got string" style message for the value at idx. */
static int type_error(lua_State *L, int idx, const char *label, const char *want, smpp_error *err)
{
    if (lua_type(L, idx) == LUA_TNUMBER)
        return smpp_error_set(err, SMPP_ERR_ARG, "%s: %s expected, got %.14g", label, want,
                              (double)lua_tonumber(L, idx));
    return smpp_error_set(err, SMPP_ERR_ARG, "%s: %s expected, got %s", label, want,
                          luaL_typename(L, idx));
}

/* The integer at idx, checked against 0..max. */
static int get_uint(lua_State *L, int idx, const char *label, uint32_t max, uint32_t *out,
                    smpp_error *err)
{
    int64_t v;

    if (!lsmpp_get_integer(L, idx, &v))
        return type_error(L, idx, label, "integer", err);
    if (v < 0 || v > (int64_t)max)
        return smpp_error_set(err, SMPP_ERR_LIMIT, "%s: %lld out of range 0..%lu", label,
                              (long long)v, (unsigned long)max);
    *out = (uint32_t)v;
    return 0;
}

/* The descriptor named key in a command's table, by name: for error
 * messages only (the hot path matches by identity, field_of). */
static const smpp_field *find_field(const smpp_field *f, size_t n, const char *key, size_t klen)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (f[i].name[0] == key[0] && strlen(f[i].name) == klen &&
            memcmp(f[i].name, key, klen) == 0)
            return &f[i];
    return NULL;
}

/* The descriptor of the key whose cache entry is e, for the command at
 * index cmd of known_commands, by string identity (see "key cache"): no
 * byte is compared. cmd < 0 (a command the cache does not list) scans the
 * command's descriptors instead. */
static inline const smpp_field *field_of(const key_index *ki, const key_entry *e, int cmd,
                                         const smpp_field *f, size_t n)
{
    size_t i;

    if (e->fid == NO_FIELD)
        return NULL;
    if (cmd >= 0)
        return ki->field_at[cmd][e->fid] != 0 ? &f[ki->field_at[cmd][e->fid] - 1] : NULL;
    for (i = 0; i < n; i++)
        if (ki->p[f[i].offset] == e->p)
            return &f[i];
    return NULL;
}

/* Error for a key that is not a field of cmd: say whose field it is, if
 * any command has it, so the mistake is obvious. */
static int not_a_field(const char *key, size_t klen, uint32_t cmd, smpp_error *err)
{
    size_t i, n;

    if (named_by_name(key, klen) != NULL)
        return smpp_error_set(err, SMPP_ERR_ARG, "%s is a TLV: put it under tlvs", key);
    for (i = 0; i < sizeof(known_commands) / sizeof(known_commands[0]); i++) {
        const smpp_field *f = smpp_pdu_fields(known_commands[i], &n);

        if (f != NULL && find_field(f, n, key, klen) != NULL)
            return smpp_error_set(err, SMPP_ERR_ARG, "%s is not a field of %s", key,
                                  smpp_command_name(cmd));
    }
    return smpp_error_set(err, SMPP_ERR_ARG, "unknown field '%s'", key);
}

static int set_field(lua_State *L, int idx, const smpp_field *f, smpp_pdu *pdu, smpp_error *err)
{
    char *base = (char *)pdu + f->offset;

    if (f->type == SMPP_FT_U8) {
        uint32_t v;
        int rc = get_uint(L, idx, f->name, 0xFF, &v, err);

        if (rc < 0)
            return rc;
        *(uint8_t *)base = (uint8_t)v;
    } else {
        smpp_bytes *b = (smpp_bytes *)base;

        /* Numbers are refused, not converted: lua_tolstring would turn the
         * table's value into a new string nobody anchors. */
        if (lua_type(L, idx) != LUA_TSTRING)
            return type_error(L, idx, f->name, "string", err);
        b->ptr = (const uint8_t *)lua_tolstring(L, idx, &b->len);
    }
    return 0;
}

static int set_command(lua_State *L, int idx, smpp_pdu *pdu, smpp_error *err)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *name = lua_tolstring(L, idx, &len);
        uint32_t id = smpp_command_id(name, len);

        if (id == 0)
            return smpp_error_set(err, SMPP_ERR_ARG, "command: unknown command '%s'", name);
        pdu->command_id = id;
        return 0;
    }
    if (lua_type(L, idx) == LUA_TNUMBER) {
        uint32_t id;
        int rc = get_uint(L, idx, "command", 0xFFFFFFFFu, &id, err);

        if (rc < 0)
            return rc;
        pdu->command_id = id;
        /* A distinct code: smpp.core encodes such a table raw (header and
         * body as given), see l_encode. */
        if (smpp_command_name(id) == NULL)
            return smpp_error_set(err, SMPP_ERR_UNKNOWN_COMMAND,
                                  "command: unknown command id 0x%08X", (unsigned)id);
        return 0;
    }
    return type_error(L, idx, "command", "string", err);
}

/* Label for TLV error messages: "tlvs[2] (message_state)" or "tlvs[2]". */
static const char *tlv_label(char *buf, size_t size, int index, const named_tlv *nt)
{
    if (index == 0)
        snprintf(buf, size, "tlvs.%s", nt != NULL ? nt->name : "?");
    else if (nt != NULL)
        snprintf(buf, size, "tlvs[%d] (%s)", index, nt->name);
    else
        snprintf(buf, size, "tlvs[%d]", index);
    return buf;
}

/* Scratch bytes for a typed TLV value. */
static uint8_t *scratch_take(lsmpp_scratch *sc, size_t n)
{
    uint8_t *p;

    if (sc->used + n > sizeof(sc->bytes))
        return NULL;
    p = sc->bytes + sc->used;
    sc->used += n;
    return p;
}

/* The network_error_code table at idx into 3 bytes. */
static int get_neterr(lua_State *L, int idx, const char *label, uint8_t *out, smpp_error *err)
{
    char sub[96]; /* label (< 64) + ".network_type" */
    uint32_t type = 0, code = 0;
    int rc;

    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t klen = 0;
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &klen) : NULL;

        if (k != NULL && klen == 12 && memcmp(k, "network_type", 12) == 0) {
            snprintf(sub, sizeof(sub), "%s.network_type", label);
            rc = get_uint(L, -1, sub, 0xFF, &type, err);
        } else if (k != NULL && klen == 10 && memcmp(k, "error_code", 10) == 0) {
            snprintf(sub, sizeof(sub), "%s.error_code", label);
            rc = get_uint(L, -1, sub, 0xFFFF, &code, err);
        } else {
            rc = smpp_error_set(err, SMPP_ERR_ARG, "%s: unknown field '%s'", label,
                                k != NULL ? k : luaL_typename(L, -2));
        }
        if (rc < 0) {
            lua_pop(L, 2);
            return rc;
        }
        lua_pop(L, 1);
    }
    out[0] = (uint8_t)type;
    out[1] = (uint8_t)(code >> 8);
    out[2] = (uint8_t)code;
    return 0;
}

/*
 * Append one TLV whose value is at vidx. A string value is always the wire
 * bytes (for receipted_message_id minus its NUL, which is added unless
 * with_nul is 0); typed values (integers, the network_error_code table)
 * are accepted for the named tags that have them.
 */
static int add_tlv(lua_State *L, int vidx, uint16_t tag, const named_tlv *nt, int with_nul,
                   int index, smpp_pdu *pdu, lsmpp_scratch *sc, smpp_error *err)
{
    char label[64];
    const uint8_t *value;
    size_t len;
    int rc;

    switch (lua_type(L, vidx)) {
    case LUA_TSTRING:
        value = (const uint8_t *)lua_tolstring(L, vidx, &len);
        /* Lua strings always end in a NUL byte past their length, so the
         * NUL can be borrowed along with the string. */
        if (nt != NULL && nt->kind == TK_CSTRING && with_nul)
            len++;
        break;
    case LUA_TNUMBER:
        if (nt == NULL || nt->kind != TK_U8)
            return type_error(L, vidx, tlv_label(label, sizeof(label), index, nt), "string", err);
        {
            uint32_t v;
            uint8_t *p;

            rc = get_uint(L, vidx, tlv_label(label, sizeof(label), index, nt), 0xFF, &v, err);
            if (rc < 0)
                return rc;
            p = scratch_take(sc, 1);
            if (p == NULL)
                return smpp_error_set(err, SMPP_ERR_LIMIT, "tlvs: more than %u TLVs",
                                      SMPP_MAX_TLVS);
            *p = (uint8_t)v;
            value = p;
            len = 1;
        }
        break;
    case LUA_TTABLE:
        if (nt == NULL || nt->kind != TK_NETERR)
            return type_error(L, vidx, tlv_label(label, sizeof(label), index, nt), "string", err);
        {
            uint8_t *p = scratch_take(sc, 3);

            if (p == NULL)
                return smpp_error_set(err, SMPP_ERR_LIMIT, "tlvs: more than %u TLVs",
                                      SMPP_MAX_TLVS);
            rc = get_neterr(L, vidx, tlv_label(label, sizeof(label), index, nt), p, err);
            if (rc < 0)
                return rc;
            value = p;
            len = 3;
        }
        break;
    default:
        return type_error(L, vidx, tlv_label(label, sizeof(label), index, nt),
                          nt == NULL || nt->kind == TK_RAW || nt->kind == TK_CSTRING
                              ? "string"
                              : (nt->kind == TK_U8 ? "integer or string" : "table or string"),
                          err);
    }
    rc = smpp_pdu_add_tlv(pdu, tag, value, len, err);
    if (rc < 0 && err != NULL) {
        /* Prefix the codec's message with the entry it is about. */
        char msg[SMPP_ERRMSG_SIZE];

        memcpy(msg, err->msg, sizeof(msg));
        /* Precisions keep the sum under SMPP_ERRMSG_SIZE. */
        snprintf(err->msg, sizeof(err->msg), "%.40s: %.80s",
                 tlv_label(label, sizeof(label), index, nt), msg);
    }
    return rc;
}

/* One entry {tag =, name =, value =, nul =} of the tlvs array, at e. */
static int add_tlv_entry(lua_State *L, int e, int index, unsigned *seen, smpp_pdu *pdu,
                         lsmpp_scratch *sc, smpp_error *err)
{
    char label[64];
    const named_tlv *nt = NULL;
    uint32_t tag = 0;
    int has_tag = 0, with_nul = 1, vidx = 0, rc = 0, top = lua_gettop(L);

    /* Every key is checked, so a typo ("vaule") can't drop a value. */
    lua_pushnil(L);
    while (rc == 0 && lua_next(L, e)) {
        size_t klen = 0;
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &klen) : NULL;

        tlv_label(label, sizeof(label), index, NULL);
        if (k != NULL && klen == 3 && memcmp(k, "tag", 3) == 0) {
            rc = get_uint(L, -1, strcat(label, ".tag"), 0xFFFF, &tag, err);
            has_tag = 1;
        } else if (k != NULL && klen == 4 && memcmp(k, "name", 4) == 0) {
            if (lua_type(L, -1) != LUA_TSTRING) {
                rc = type_error(L, -1, strcat(label, ".name"), "string", err);
            } else {
                size_t nlen;
                const char *name = lua_tolstring(L, -1, &nlen);
                const named_tlv *byname = named_by_name(name, nlen);

                if (byname == NULL)
                    rc =
                        smpp_error_set(err, SMPP_ERR_ARG, "%s: unknown TLV name '%s'", label, name);
                else if (nt != NULL && nt != byname)
                    rc = smpp_error_set(err, SMPP_ERR_ARG, "%s: name '%s' and tag 0x%04X disagree",
                                        label, name, (unsigned)nt->tag);
                nt = byname;
            }
        } else if (k != NULL && klen == 5 && memcmp(k, "value", 5) == 0) {
            vidx = -1; /* fetched below, once the keys are known good */
        } else if (k != NULL && klen == 3 && memcmp(k, "nul", 3) == 0) {
            if (lua_type(L, -1) != LUA_TBOOLEAN)
                rc = type_error(L, -1, strcat(label, ".nul"), "boolean", err);
            else
                with_nul = lua_toboolean(L, -1);
        } else {
            rc = smpp_error_set(err, SMPP_ERR_ARG, "%s: unknown field '%s'", label,
                                k != NULL ? k : luaL_typename(L, -2));
        }
        lua_pop(L, 1);
    }
    if (rc < 0)
        goto out;

    if (has_tag) {
        const named_tlv *bytag = named_by_tag((uint16_t)tag);

        if (nt != NULL && nt != bytag) {
            rc = smpp_error_set(err, SMPP_ERR_ARG, "%s: name '%s' and tag 0x%04X disagree",
                                tlv_label(label, sizeof(label), index, NULL), nt->name,
                                (unsigned)tag);
            goto out;
        }
        nt = bytag;
    } else if (nt != NULL) {
        tag = nt->tag;
    } else {
        rc = smpp_error_set(err, SMPP_ERR_ARG, "%s: tag or name needed",
                            tlv_label(label, sizeof(label), index, NULL));
        goto out;
    }
    if (vidx == 0) {
        rc = smpp_error_set(err, SMPP_ERR_ARG, "%s: value missing",
                            tlv_label(label, sizeof(label), index, nt));
        goto out;
    }
    lua_pushliteral(L, "value");
    lua_rawget(L, e);
    vidx = lua_gettop(L);
    if (!with_nul && (nt == NULL || nt->kind != TK_CSTRING)) {
        rc = smpp_error_set(err, SMPP_ERR_ARG, "%s: nul applies to receipted_message_id only",
                            tlv_label(label, sizeof(label), index, nt));
        goto out;
    }
    if (nt != NULL)
        *seen |= 1u << (nt - named_tlvs);
    rc = add_tlv(L, vidx, (uint16_t)tag, nt, with_nul, index, pdu, sc, err);
out:
    lua_settop(L, top);
    return rc;
}

/* The tlvs table at t: the array in order, then named keys whose tag the
 * array did not carry (so a decoded table, which has both, encodes each
 * TLV once). */
static int fill_tlvs(lua_State *L, int t, smpp_pdu *pdu, lsmpp_scratch *sc, smpp_error *err)
{
    size_t n = lua_rawlen(L, t), i;
    unsigned seen = 0;
    int rc = 0;

    pdu->tlv_count = 0;
    /* Refuse keys that would be ignored: a typo must not drop a TLV. */
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int64_t ik;

        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t klen;
            const char *k = lua_tolstring(L, -2, &klen);

            if (named_by_name(k, klen) == NULL)
                rc = smpp_error_set(err, SMPP_ERR_ARG, "tlvs: unknown TLV name '%s'", k);
        } else if (!lsmpp_get_integer(L, -2, &ik) || ik < 1 || (uint64_t)ik > n) {
            rc = smpp_error_set(err, SMPP_ERR_ARG, "tlvs: unexpected key (%s) beside the array",
                                luaL_typename(L, -2));
        }
        if (rc < 0) {
            lua_pop(L, 2);
            return rc;
        }
        lua_pop(L, 1);
    }
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, t, (int)i);
        if (lua_type(L, -1) != LUA_TTABLE) {
            char label[32];

            snprintf(label, sizeof(label), "tlvs[%d]", (int)i);
            rc = type_error(L, -1, label, "table", err);
        } else {
            rc = add_tlv_entry(L, lua_gettop(L), (int)i, &seen, pdu, sc, err);
        }
        lua_pop(L, 1);
        if (rc < 0)
            return rc;
    }
    for (i = 0; i < NAMED_TLV_COUNT; i++) {
        if (seen & (1u << i))
            continue;
        lua_pushstring(L, named_tlvs[i].name);
        lua_rawget(L, t);
        if (!lua_isnil(L, -1))
            rc = add_tlv(L, lua_gettop(L), named_tlvs[i].tag, &named_tlvs[i], 1, 0, pdu, sc, err);
        lua_pop(L, 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The string value `command` at idx, when it names a command by the
 * cached string (every command name is short, hence interned): no
 * strcmp. Returns the command's index in known_commands, or -1 for the
 * other cases, which set_command handles. */
static int cached_command(lua_State *L, int idx, const key_index *ki)
{
    const key_entry *e;

    if (lua_type(L, idx) != LUA_TSTRING)
        return -1;
    e = key_find(ki, lua_tostring(L, idx));
    if (e == NULL || e->slot < SLOT_CMD(0) || e->slot >= SLOT_CMD(COMMAND_COUNT))
        return -1;
    return e->slot - SLOT_CMD(0);
}

/* lsmpp_fill_pdu with the key cache at keys (absolute or upvalue index)
 * and the table at the absolute index idx. */
static int fill_pdu(lua_State *L, int keys, int idx, smpp_pdu *pdu, lsmpp_scratch *scratch,
                    smpp_error *err)
{
    const key_index *ki = cache_index(L, keys);
    const smpp_field *fields;
    size_t nfields = 0;
    int top = lua_gettop(L), rc = 0, body_keys = 0, has_tlvs = 0, has_body = -1, cmd;

    scratch->used = 0;

    /* The command first: it decides which keys are fields. */
    lua_rawgeti(L, keys, SLOT_KEY(K_COMMAND));
    lua_rawget(L, idx);
    cmd = cached_command(L, -1, ki);
    if (cmd >= 0)
        pdu->command_id = known_commands[cmd];
    else if (!lua_isnil(L, -1))
        rc = set_command(L, -1, pdu, err);
    lua_pop(L, 1);
    if (rc < 0)
        return rc;
    fields = smpp_pdu_fields(pdu->command_id, &nfields);
    if (fields == NULL)
        return smpp_error_set(err, SMPP_ERR_ARG, "command missing");
    if (cmd < 0)
        cmd = command_index(pdu->command_id);

    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const key_entry *e;
        const smpp_field *f = NULL;
        int slot = 0;

        if (lua_type(L, -2) != LUA_TSTRING) {
            rc =
                smpp_error_set(err, SMPP_ERR_ARG, "unknown field (a %s key)", luaL_typename(L, -2));
            break;
        }
        /* One probe of the key index decides what the key is. */
        e = key_find(ki, lua_tostring(L, -2));
        if (e != NULL) {
            slot = e->slot;
            f = field_of(ki, e, cmd, fields, nfields);
        }
        if (f != NULL) {
            body_keys++;
            rc = set_field(L, -1, f, pdu, err);
        } else if (slot == SLOT_KEY(K_COMMAND)) {
            /* done above */
        } else if (slot == SLOT_KEY(K_SEQUENCE_NUMBER)) {
            rc = get_uint(L, -1, "sequence_number", 0xFFFFFFFFu, &pdu->sequence_number, err);
        } else if (slot == SLOT_KEY(K_COMMAND_STATUS)) {
            rc = get_uint(L, -1, "command_status", 0xFFFFFFFFu, &pdu->command_status, err);
        } else if (slot == SLOT_KEY(K_TLVS)) {
            body_keys++;
            has_tlvs = 1;
            if (lua_type(L, -1) != LUA_TTABLE)
                rc = type_error(L, -1, "tlvs", "table", err);
        } else if (slot == SLOT_KEY(K_HAS_BODY)) {
            if (lua_type(L, -1) != LUA_TBOOLEAN)
                rc = type_error(L, -1, "has_body", "boolean", err);
            else
                has_body = lua_toboolean(L, -1);
        } else {
            size_t klen;
            const char *k = lua_tolstring(L, -2, &klen);

            rc = not_a_field(k, klen, pdu->command_id, err);
        }
        if (rc < 0)
            break;
        lua_pop(L, 1);
    }
    if (rc < 0) {
        lua_settop(L, top);
        return rc;
    }

    if (has_tlvs) {
        lua_pushliteral(L, "tlvs");
        lua_rawget(L, idx);
        rc = fill_tlvs(L, lua_gettop(L), pdu, scratch, err);
        lua_settop(L, top);
        if (rc < 0)
            return rc;
    }

    /* Body or not (see lsmpp_pdu.h). Only responses with a mandatory body
     * can go without it. */
    if (nfields != 0 && SMPP_IS_RESPONSE(pdu->command_id)) {
        if (has_body == 0 && body_keys != 0)
            return smpp_error_set(err, SMPP_ERR_ARG, "has_body is false but body fields are given");
        if (has_body == -1)
            has_body = !(pdu->command_status != 0 && body_keys == 0);
        pdu->has_body = (uint8_t)has_body;
    } else {
        if (has_body == 0)
            return smpp_error_set(err, SMPP_ERR_ARG, "has_body: %s has no body to leave out",
                                  smpp_command_name(pdu->command_id));
        pdu->has_body = 1;
    }
    return 0;
}

int lsmpp_fill_pdu(lua_State *L, int idx, smpp_pdu *pdu, lsmpp_scratch *scratch, smpp_error *err)
{
    int cache, rc;

    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 9, NULL);
    cache = cache_push(L);
    rc = fill_pdu(L, cache, idx, pdu, scratch, err);
    lua_settop(L, cache - 1);
    return rc;
}

int lsmpp_fill_pdu_k(lua_State *L, int keys, int idx, smpp_pdu *pdu, lsmpp_scratch *scratch,
                     smpp_error *err)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 8, NULL);
    return fill_pdu(L, keys, idx, pdu, scratch, err);
}
