/*
 * lsmpp_store.c - core.receipt_store: the receipts a client keeps for
 * wait_receipt, in C memory, one allocation each; and core.pack /
 * core.unpack, the same packing for stores kept elsewhere.
 *
 * Why C: a client keeps its last receipts_keep (10 000) receipts. Kept as
 * Lua tables (two dozen tables and strings each) they made the Lua heap
 * 20-30 MB, and every collector cycle marked and swept them: about 7 us of
 * client CPU a message and 10-20 ms stalls (issue 11). Here a kept receipt
 * is one malloc'd block the collector never sees: the deliver_sm it came
 * in when the link gives its bytes (a copy, ~0.2 us), else a packing of
 * the table (a walk of it, ~1.8 us). find() makes a fresh table, which
 * only a wait for a receipt that came before it needs.
 *
 * Entries sit in a ring in arrival order (the oldest goes first when more
 * than `keep` are live, or once older than the caller's min_at) and in an
 * open-addressing index by message_id (linear probing, backward-shift
 * delete, so no tombstones). A newer receipt for the same id replaces the
 * old one, whose ring slot is left empty and skipped.
 *
 * Packing keeps strings, numbers, booleans and tables of them (to a depth
 * of 8); other values (functions, userdata) are not kept. Keys and values
 * the receipt tables use again and again ("message_id", "DELIVRD") take one
 * byte each.
 */
#include <stdlib.h>
#include <string.h>

#include "lsmpp_compat.h"
#include "lsmpp_pdu.h"
#include "lsmpp_store.h"
#include "smpp_pdu.h"
#include "smpp_receipt.h"

#define STORE_MT "smpp.receipt_store"
#define MAX_DEPTH 8

/* Packed values: a tag byte, then its bytes. */
enum { T_FALSE, T_TRUE, T_INT, T_NUM, T_STR, T_TABLE, T_END, T_KNOWN };

/* Strings of receipt tables that pack to T_KNOWN + one byte (index + 1 in
 * the upvalue table KNOWN). At most 255; append only (core.pack's strings
 * may outlive a process: a new one reads an old one's). */
static const char *const known_strings[] = {
    "message_id",
    "stat",
    "err",
    "message_state",
    "state",
    "submit_date",
    "done_date",
    "sub",
    "dlvrd",
    "text",
    "network_error_code",
    "destination_addr",
    "source_addr",
    "esm_class",
    "raw",
    "final",
    "tlvs",
    "sequence_number",
    "tag",
    "name",
    "value",
    "nul",
    "receipted_message_id",
    "user_message_reference",
    "message_payload",
    "DELIVRD",
    "UNDELIV",
    "EXPIRED",
    "DELETED",
    "REJECTD",
    "UNKNOWN",
    "ACCEPTD",
    "ENROUTE",
    "DELIVERED",
    "UNDELIVERABLE",
    "ACCEPTED",
    "REJECTED",
    "000",
    "001",
    "network_type",
    "error_code",
};
#define KNOWN_COUNT (sizeof(known_strings) / sizeof(known_strings[0]))
#define KNOWN lua_upvalueindex(1)

typedef struct entry {
    uint64_t seq; /* its ring position */
    double at;
    uint32_t hash;
    uint32_t idlen;
    uint32_t bloblen;
    uint8_t final;
    uint8_t pdu;          /* the blob is the deliver_sm's bytes, not a packing */
    unsigned char data[]; /* the id, then the blob */
} entry;

/* Known strings by address: short strings are interned, so while KNOWN
 * holds them every string of that text is that very object. Per store, as
 * addresses belong to one Lua state. */
#define KSLOTS 128

/* What packing needs: the scratch buffer and the known strings'
 * addresses. A store has one; core.pack has one of its own. */
typedef struct packer {
    unsigned char *buf;
    size_t blen, bcap;
    int oom;
    const char *kptr[KSLOTS];
    unsigned char kidx[KSLOTS];
} packer;

typedef struct store {
    entry **ring; /* ring[seq & (rcap - 1)], seq in [head, tail) */
    size_t rcap;
    uint64_t head, tail;
    entry **index; /* icap slots, at most half used */
    size_t icap;
    size_t live, keep;
    packer pk;
} store;

/* ---- packing ------------------------------------------------------------ */

static inline size_t kslot(const char *p)
{
    return ((uintptr_t)p >> 4) & (KSLOTS - 1);
}

static void known_fill(lua_State *L, packer *s, int known)
{
    size_t i;

    for (i = 0; i < KNOWN_COUNT; i++) {
        const char *p;
        size_t k;

        lua_rawgeti(L, known, (int)i + 1);
        p = lua_tostring(L, -1);
        lua_pop(L, 1);
        for (k = kslot(p); s->kptr[k] != NULL; k = (k + 1) & (KSLOTS - 1))
            ;
        s->kptr[k] = p;
        s->kidx[k] = (unsigned char)(i + 1);
    }
}

/* Index + 1 of a known string's address, or 0. */
static inline unsigned known_find(const packer *s, const char *p)
{
    size_t k;

    for (k = kslot(p); s->kptr[k] != NULL; k = (k + 1) & (KSLOTS - 1))
        if (s->kptr[k] == p)
            return s->kidx[k];
    return 0;
}

/* Room for n more bytes in the scratch buffer; 0 (and oom set) if none. */
static int reserve(packer *s, size_t n)
{
    size_t cap;
    unsigned char *nb;

    if (s->bcap - s->blen >= n)
        return 1;
    if (s->oom)
        return 0;
    cap = s->bcap ? s->bcap : 512;
    while (cap - s->blen < n)
        cap *= 2;
    nb = realloc(s->buf, cap);
    if (nb == NULL) {
        s->oom = 1;
        return 0;
    }
    s->buf = nb;
    s->bcap = cap;
    return 1;
}

/* Callers reserve first. */
static inline void put_varint(packer *s, uint64_t v)
{
    unsigned char *b = s->buf + s->blen;

    while (v >= 0x80) {
        *b++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *b++ = (unsigned char)v;
    s->blen = (size_t)(b - s->buf);
}

static inline void put_byte(packer *s, unsigned char c)
{
    if (reserve(s, 1))
        s->buf[s->blen++] = c;
}

/* Can a value of type t be packed (at this depth)? */
static inline int packable(int t, int depth)
{
    return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN ||
           (t == LUA_TTABLE && depth < MAX_DEPTH);
}

static void pack_table(lua_State *L, packer *s, int idx, int depth);

/* The value at idx, of type t (packable). */
static void pack_value(lua_State *L, packer *s, int idx, int t, int depth)
{
    if (t == LUA_TSTRING) {
        size_t len;
        const char *p = lua_tolstring(L, idx, &len);
        unsigned k = len <= 24 ? known_find(s, p) : 0;

        if (k != 0) {
            if (reserve(s, 2)) {
                s->buf[s->blen++] = T_KNOWN;
                s->buf[s->blen++] = (unsigned char)k;
            }
        } else if (reserve(s, 11 + len)) {
            s->buf[s->blen++] = T_STR;
            put_varint(s, len);
            memcpy(s->buf + s->blen, p, len);
            s->blen += len;
        }
    } else if (t == LUA_TNUMBER) {
        if (!reserve(s, 11))
            return;
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, idx)) {
            lua_Integer i = lua_tointeger(L, idx);

            s->buf[s->blen++] = T_INT;
            /* zigzag: small negatives stay short */
            put_varint(s, ((uint64_t)i << 1) ^ (i < 0 ? ~(uint64_t)0 : 0));
            return;
        }
#endif
        {
            lua_Number n = lua_tonumber(L, idx);

            s->buf[s->blen++] = T_NUM;
            memcpy(s->buf + s->blen, &n, sizeof(n));
            s->blen += sizeof(n);
        }
    } else if (t == LUA_TBOOLEAN) {
        put_byte(s, lua_toboolean(L, idx) ? T_TRUE : T_FALSE);
    } else {
        pack_table(L, s, idx, depth);
    }
}

static void pack_table(lua_State *L, packer *s, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 4, NULL);
    put_byte(s, T_TABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int kt = lua_type(L, -2), vt = lua_type(L, -1);

        if (kt != LUA_TTABLE && packable(kt, 0) && packable(vt, depth + 1)) {
            pack_value(L, s, -2, kt, depth + 1);
            pack_value(L, s, -1, vt, depth + 1);
        }
        lua_pop(L, 1);
    }
    put_byte(s, T_END);
}

/* Unpacking reads with bounds: a store's bytes are its own, but core.unpack
 * reads strings from elsewhere (a shared dict other processes write). */
typedef struct reader {
    const unsigned char *p, *end;
} reader;

static int get_varint(reader *r, uint64_t *v)
{
    int shift = 0;

    *v = 0;
    while (r->p < r->end && shift < 64) {
        unsigned char b = *r->p++;

        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return 1;
        shift += 7;
    }
    return 0;
}

/* Push the value packed at r: 1, or 0 (nothing pushed) when the bytes are
 * not a packed value. */
static int unpack_value(lua_State *L, reader *r, int depth)
{
    unsigned char tag;

    if (r->p >= r->end)
        return 0;
    tag = *r->p++;
    switch (tag) {
    case T_FALSE:
    case T_TRUE:
        lua_pushboolean(L, tag == T_TRUE);
        return 1;
    case T_INT: {
        uint64_t z;
        int64_t i;

        if (!get_varint(r, &z))
            return 0;
        i = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
#if LUA_VERSION_NUM >= 503
        lua_pushinteger(L, (lua_Integer)i);
#else
        lua_pushnumber(L, (lua_Number)i);
#endif
        return 1;
    }
    case T_NUM: {
        lua_Number n;

        if ((size_t)(r->end - r->p) < sizeof(n))
            return 0;
        memcpy(&n, r->p, sizeof(n));
        r->p += sizeof(n);
        lua_pushnumber(L, n);
        return 1;
    }
    case T_STR: {
        uint64_t len;

        if (!get_varint(r, &len) || len > (uint64_t)(r->end - r->p))
            return 0;
        lua_pushlstring(L, (const char *)r->p, (size_t)len);
        r->p += len;
        return 1;
    }
    case T_KNOWN:
        if (r->p >= r->end || *r->p == 0 || *r->p > KNOWN_COUNT)
            return 0;
        lua_rawgeti(L, KNOWN, *r->p++);
        return 1;
    case T_TABLE:
        if (depth >= MAX_DEPTH) /* deeper than pack writes */
            return 0;
        luaL_checkstack(L, 4, NULL);
        lua_createtable(L, 0, 0);
        for (;;) {
            if (r->p >= r->end)
                break;
            if (*r->p == T_END) {
                r->p++;
                return 1;
            }
            if (!unpack_value(L, r, depth + 1))
                break;
            /* A key: never a table here, never NaN (rawset would raise). */
            if (lua_type(L, -1) == LUA_TTABLE ||
                (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) != lua_tonumber(L, -1))) {
                lua_pop(L, 1);
                break;
            }
            if (!unpack_value(L, r, depth + 1)) {
                lua_pop(L, 1);
                break;
            }
            lua_rawset(L, -3);
        }
        lua_pop(L, 1);
        return 0;
    default:
        return 0;
    }
}

/* ---- index -------------------------------------------------------------- */

/* FNV-1a: message_ids are short. */
static uint32_t hash_id(const char *id, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= 16777619u;
    }
    return h;
}

static size_t index_find(const store *s, const char *id, size_t len, uint32_t h)
{
    size_t mask = s->icap - 1, i = h & mask;

    while (s->index[i] != NULL) {
        const entry *e = s->index[i];

        if (e->hash == h && e->idlen == len && memcmp(e->data, id, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i; /* the empty slot where it would go */
}

static void index_insert(store *s, entry *e)
{
    size_t mask = s->icap - 1, i = e->hash & mask;

    while (s->index[i] != NULL)
        i = (i + 1) & mask;
    s->index[i] = e;
}

/* Empty slot i, shifting later entries of its probe run back. */
static void index_delete(store *s, size_t i)
{
    size_t mask = s->icap - 1, j = i;

    s->index[i] = NULL;
    for (;;) {
        size_t k;

        j = (j + 1) & mask;
        if (s->index[j] == NULL)
            return;
        k = s->index[j]->hash & mask;
        /* Move j's entry to i unless its home k lies cyclically in (i, j]. */
        if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
            s->index[i] = s->index[j];
            s->index[j] = NULL;
            i = j;
        }
    }
}

static int index_grow(store *s)
{
    size_t old = s->icap, cap = old ? old * 2 : 64, i;
    entry **prev = s->index, **nx = calloc(cap, sizeof(*nx));

    if (nx == NULL)
        return 0;
    s->index = nx;
    s->icap = cap;
    for (i = 0; i < old; i++)
        if (prev[i] != NULL)
            index_insert(s, prev[i]);
    free(prev);
    return 1;
}

/* ---- ring --------------------------------------------------------------- */

/* Room for one more slot: a bigger ring, or the same one with the empty
 * slots of replaced receipts squeezed out. */
static int ring_room(store *s)
{
    uint64_t n = s->tail - s->head, q;
    size_t cap = s->rcap, mask = cap - 1;
    entry **nr;
    uint64_t t = 0;

    if (n < cap)
        return 1;
    if (cap == 0 || s->live + 1 > cap / 2)
        cap = cap ? cap * 2 : 64;
    nr = malloc(cap * sizeof(*nr));
    if (nr == NULL)
        return 0;
    for (q = s->head; q < s->tail; q++) {
        entry *e = s->ring[q & mask];

        if (e != NULL) {
            e->seq = t;
            nr[t++] = e;
        }
    }
    free(s->ring);
    s->ring = nr;
    s->rcap = cap;
    s->head = 0;
    s->tail = t;
    return 1;
}

static void drop(store *s, entry *e)
{
    size_t i = index_find(s, (const char *)e->data, e->idlen, e->hash);

    index_delete(s, i);
    s->ring[e->seq & (s->rcap - 1)] = NULL;
    s->live--;
    free(e);
}

/* Drop from the oldest end: empty slots, entries over `keep`, entries
 * that came before min_at. */
static void prune(store *s, double min_at)
{
    size_t mask = s->rcap - 1;

    while (s->head < s->tail) {
        entry *e = s->ring[s->head & mask];

        if (e != NULL) {
            if (s->live <= s->keep && e->at >= min_at)
                return;
            drop(s, e);
        }
        s->head++;
    }
}

/* ---- Lua face ----------------------------------------------------------- */

static store *check_store(lua_State *L)
{
    return (store *)luaL_checkudata(L, 1, STORE_MT);
}

/* store:put(id, r, at, min_at [, bytes]): keep r (a table) for id,
 * received at `at`; entries older than min_at go. With bytes (the
 * deliver_sm r was decoded from), those are kept instead of a packing of
 * r: a copy is cheaper than a walk of the table. */
static int l_put(lua_State *L)
{
    store *s = check_store(L);
    size_t len;
    const char *id = luaL_checklstring(L, 2, &len);
    double at = luaL_checknumber(L, 4), min_at = luaL_checknumber(L, 5);
    uint32_t h = hash_id(id, len);
    size_t i, bloblen;
    entry *e;
    const char *blob;
    int pdu = lua_type(L, 6) == LUA_TSTRING;

    luaL_checktype(L, 3, LUA_TTABLE);
    if (!pdu && !lua_isnoneornil(L, 6))
        luaL_argerror(L, 6, "the deliver_sm's bytes (a string) or nil expected");
    if (s->keep == 0)
        return 0;
    if (pdu) {
        blob = lua_tolstring(L, 6, &bloblen);
    } else {
        s->pk.blen = 0;
        s->pk.oom = 0;
        pack_table(L, &s->pk, 3, 0);
        if (s->pk.oom)
            return luaL_error(L, "receipt store: out of memory");
        blob = (const char *)s->pk.buf;
        bloblen = s->pk.blen;
    }
    if (bloblen > UINT32_MAX)
        return luaL_error(L, "receipt store: a receipt of %zu bytes", bloblen);
    if ((s->live + 1) * 2 > s->icap && !index_grow(s))
        return luaL_error(L, "receipt store: out of memory");
    i = index_find(s, id, len, h);
    if (s->index[i] != NULL) {
        drop(s, s->index[i]);
        i = index_find(s, id, len, h);
    }
    if (!ring_room(s))
        return luaL_error(L, "receipt store: out of memory");
    e = malloc(sizeof(*e) + len + bloblen);
    if (e == NULL)
        return luaL_error(L, "receipt store: out of memory");
    e->at = at;
    e->hash = h;
    e->idlen = (uint32_t)len;
    e->bloblen = (uint32_t)bloblen;
    e->pdu = (uint8_t)pdu;
    lua_getfield(L, 3, "final");
    e->final = (uint8_t)lua_toboolean(L, -1);
    lua_pop(L, 1);
    memcpy(e->data, id, len);
    memcpy(e->data + len, blob, bloblen);
    e->seq = s->tail;
    s->ring[s->tail & (s->rcap - 1)] = e;
    s->tail++;
    s->index[i] = e;
    s->live++;
    prune(s, min_at);
    return 0;
}

/* The receipt table of a kept deliver_sm, decoded as the link decoded it. */
static int push_kept_pdu(lua_State *L, const unsigned char *p, size_t len)
{
    smpp_pdu pdu;
    smpp_receipt_pdu r;
    smpp_error err;
    int keys;

    if (smpp_pdu_decode(&pdu, p, len, &err) < 0 || !smpp_receipt_from_pdu(&pdu, &r))
        return luaL_error(L, "receipt store: a kept deliver_sm does not decode");
    lsmpp_push_keys(L);
    keys = lua_gettop(L);
    lsmpp_push_receipt_k(L, keys, &pdu, &r);
    return 1;
}

/* store:find(id, min_at) -> a copy of the final receipt kept for id, when
 * it came at min_at or later; else nil. */
static int l_find(lua_State *L)
{
    store *s = check_store(L);
    size_t len;
    const char *id = luaL_checklstring(L, 2, &len);
    double min_at = luaL_checknumber(L, 3);
    const entry *e;
    reader r;

    if (s->live == 0)
        return 0;
    e = s->index[index_find(s, id, len, hash_id(id, len))];
    if (e == NULL || !e->final || e->at < min_at)
        return 0;
    if (e->pdu)
        return push_kept_pdu(L, e->data + e->idlen, e->bloblen);
    r.p = e->data + e->idlen;
    r.end = r.p + e->bloblen;
    if (!unpack_value(L, &r, 0))
        return luaL_error(L, "receipt store: a kept receipt does not unpack");
    return 1;
}

/* store:count(min_at) -> receipts kept that came at min_at or later. */
static int l_count(lua_State *L)
{
    store *s = check_store(L);

    if (s->rcap != 0)
        prune(s, luaL_checknumber(L, 2));
    lua_pushinteger(L, (lua_Integer)s->live);
    return 1;
}

static int l_gc(lua_State *L)
{
    store *s = check_store(L);
    uint64_t q;

    for (q = s->head; q < s->tail; q++)
        free(s->ring[q & (s->rcap - 1)]);
    free(s->ring);
    free(s->index);
    free(s->pk.buf);
    memset(s, 0, sizeof(*s));
    return 0;
}

/* core.receipt_store(keep) */
static int l_new(lua_State *L)
{
    lua_Integer keep = luaL_checkinteger(L, 1);
    store *s;

    luaL_argcheck(L, keep >= 0, 1, "keep must be >= 0");
    s = (store *)lua_newuserdatauv(L, sizeof(*s), 0);
    memset(s, 0, sizeof(*s));
    s->keep = (size_t)keep;
    known_fill(L, &s->pk, KNOWN);
    luaL_getmetatable(L, STORE_MT);
    lua_setmetatable(L, -2);
    return 1;
}

/* core.pack's format byte: what it makes, core.unpack takes. */
#define PACK_FORMAT 0xB1
#define PACKER lua_upvalueindex(2)

/* core.pack(t) -> string: t packed as the store packs receipts, for
 * whoever keeps them elsewhere (the OpenResty backend's shared dict). */
static int l_pack(lua_State *L)
{
    packer *pk = (packer *)lua_touserdata(L, PACKER);

    luaL_checktype(L, 1, LUA_TTABLE);
    pk->blen = 0;
    pk->oom = 0;
    put_byte(pk, PACK_FORMAT);
    pack_table(L, pk, 1, 0);
    if (pk->oom)
        return luaL_error(L, "core.pack: out of memory");
    lua_pushlstring(L, (const char *)pk->buf, pk->blen);
    return 1;
}

/* core.unpack(s) -> the table, or nil, err when s is not one core.pack
 * made (of this version). */
static int l_unpack(lua_State *L)
{
    size_t len;
    const char *str = luaL_checklstring(L, 1, &len);
    reader r;

    r.p = (const unsigned char *)str;
    r.end = r.p + len;
    if (len == 0 || *r.p != PACK_FORMAT) {
        lua_pushnil(L);
        lua_pushstring(L, "not a packed table (format byte)");
        return 2;
    }
    r.p++;
    if (r.p >= r.end || *r.p != T_TABLE || !unpack_value(L, &r, 0) || r.p != r.end) {
        lua_pushnil(L);
        lua_pushstring(L, "not a packed table (malformed)");
        return 2;
    }
    return 1;
}

static int packer_gc(lua_State *L)
{
    packer *pk = (packer *)lua_touserdata(L, 1);

    free(pk->buf);
    pk->buf = NULL;
    pk->bcap = pk->blen = 0;
    return 0;
}

static const luaL_Reg store_methods[] = {
    {"put", l_put},
    {"find", l_find},
    {"count", l_count},
    {NULL, NULL},
};

void lsmpp_store_register(lua_State *L)
{
    size_t i;

    packer *pk;

    /* KNOWN: index -> string (it also keeps them, so their addresses hold). */
    lua_createtable(L, (int)KNOWN_COUNT, 0);
    for (i = 0; i < KNOWN_COUNT; i++) {
        lua_pushstring(L, known_strings[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }

    /* core.pack and core.unpack: KNOWN and one packer. */
    lua_pushvalue(L, -1);
    pk = (packer *)lua_newuserdatauv(L, sizeof(*pk), 0);
    memset(pk, 0, sizeof(*pk));
    known_fill(L, pk, lua_absindex(L, -2));
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, packer_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, l_pack, 2);
    lua_setfield(L, -5, "pack");
    lua_pushcclosure(L, l_unpack, 2);
    lua_setfield(L, -3, "unpack");
    luaL_newmetatable(L, STORE_MT);
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, l_gc, 1);
    lua_setfield(L, -2, "__gc");
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, -3);
    luaL_setfuncs(L, store_methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1); /* metatable */
    lua_pushcclosure(L, l_new, 1);
    lua_setfield(L, -2, "receipt_store");
}
