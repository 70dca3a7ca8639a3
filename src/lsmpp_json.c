/*
 * lsmpp_json.c - build_body and parse_body (see lsmpp_json.h) over cJSON.
 *
 * cJSON allocates with malloc. Every tree and printed text is kept in a
 * "box" userdata whose __gc frees it, so a Lua error raised at any point
 * (out of memory in a push) cannot leak; on the normal path the box is
 * emptied at once rather than left to the collector.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "lsmpp_compat.h"
#include "lsmpp_json.h"
#include "smpp_text.h"

#define MSG_SIZE 192

typedef struct json_box {
    cJSON *root;
    char *text;
} json_box;

static void box_clear(json_box *b)
{
    if (b->root != NULL)
        cJSON_Delete(b->root);
    if (b->text != NULL)
        cJSON_free(b->text);
    b->root = NULL;
    b->text = NULL;
}

static int box_gc(lua_State *L)
{
    box_clear((json_box *)lua_touserdata(L, 1));
    return 0;
}

/* A new empty box on the stack; its metatable is upvalue 1 of the caller. */
static json_box *box_new(lua_State *L)
{
    json_box *b = (json_box *)lua_newuserdatauv(L, sizeof(*b), 0);

    b->root = NULL;
    b->text = NULL;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setmetatable(L, -2);
    return b;
}

static int fail(lua_State *L, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

/* The string at idx must be UTF-8 without NUL: the body is text for the
 * gateway, and cJSON strings end at the first NUL. Returns 0 or fills msg. */
static int check_text(lua_State *L, int idx, const char *label, char *msg)
{
    size_t len;
    const uint8_t *s = (const uint8_t *)lua_tolstring(L, idx, &len);
    const uint8_t *nul = memchr(s, 0, len);
    smpp_error err;

    if (nul != NULL) {
        snprintf(msg, MSG_SIZE, "%s: NUL byte at byte %zu", label, (size_t)(nul - s));
        return -1;
    }
    if (smpp_utf8_check(s, len, &err) < 0) {
        /* Precisions keep the sum under MSG_SIZE. */
        snprintf(msg, MSG_SIZE, "%.60s: %.120s", label, err.msg);
        return -1;
    }
    return 0;
}

/* Optional string at slot: nil is fine, anything else but a string is an
 * error naming the field. */
static int check_opt_string(lua_State *L, int slot, const char *label, char *msg)
{
    int t = lua_type(L, slot);

    if (t == LUA_TNIL)
        return 0;
    if (t != LUA_TSTRING) {
        snprintf(msg, MSG_SIZE, "%s: string expected, got %s", label, luaL_typename(L, slot));
        return -1;
    }
    return check_text(L, slot, label, msg);
}

typedef struct param {
    const char *key;
    size_t klen;
    const char *value; /* a Lua string; NULL when the value is in num */
    char num[32];
} param;

static int param_cmp(const void *a, const void *b)
{
    const param *x = (const param *)a, *y = (const param *)b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);

    if (c != 0)
        return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

/* A number param as the gateway wants it: a string; integral values
 * without ".0" (the code 123456 must not become "123456.0"). */
static int format_number(lua_State *L, int idx, char *buf, size_t size)
{
    lua_Number v;

#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx)) {
        snprintf(buf, size, "%lld", (long long)lua_tointeger(L, idx));
        return 0;
    }
#endif
    v = lua_tonumber(L, idx);
    if (v != v || v - v != 0)
        return -1; /* NaN and infinities have no JSON text */
    if (v >= -1e15 && v <= 1e15 && v == (lua_Number)(long long)v)
        snprintf(buf, size, "%lld", (long long)v);
    else
        snprintf(buf, size, "%.14g", (double)v);
    return 0;
}

static int add_string(cJSON *obj, const char *key, const char *value)
{
    cJSON *s = cJSON_CreateString(value);

    if (s == NULL)
        return -1;
    if (!cJSON_AddItemToObject(obj, key, s)) {
        cJSON_Delete(s);
        return -1;
    }
    return 0;
}

/* Stack slots of build_body. */
enum { S_TABLE = 1, S_ID, S_LANGUAGE, S_CODE, S_PARAMS };

/* core.build_body(t) -> json | nil, err (lsmpp_json.h) */
static int l_build_body(lua_State *L)
{
    char msg[MSG_SIZE];
    param *list = NULL;
    size_t n = 0, i;
    json_box *box;
    cJSON *params;

    luaL_checktype(L, S_TABLE, LUA_TTABLE);
    lua_settop(L, S_PARAMS);
    lua_pushnil(L);
    while (lua_next(L, S_TABLE)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int slot = 0;

        if (k != NULL && strcmp(k, "id") == 0)
            slot = S_ID;
        else if (k != NULL && strcmp(k, "language") == 0)
            slot = S_LANGUAGE;
        else if (k != NULL && strcmp(k, "code") == 0)
            slot = S_CODE;
        else if (k != NULL && strcmp(k, "params") == 0)
            slot = S_PARAMS;
        if (slot == 0) {
            if (k != NULL)
                snprintf(msg, sizeof(msg), "unknown field '%s'", k);
            else
                snprintf(msg, sizeof(msg), "unknown field (a %s key)", luaL_typename(L, -2));
            return fail(L, msg);
        }
        lua_replace(L, slot);
    }

    /* PROTOCOL.md: id is the template id; nothing can be sent without it. */
    if (lua_type(L, S_ID) != LUA_TSTRING || lua_rawlen(L, S_ID) == 0) {
        if (lua_type(L, S_ID) == LUA_TSTRING)
            return fail(L, "id: must not be empty");
        snprintf(msg, sizeof(msg), "id: string expected, got %s", luaL_typename(L, S_ID));
        return fail(L, msg);
    }
    if (check_text(L, S_ID, "id", msg) < 0 ||
        check_opt_string(L, S_LANGUAGE, "language", msg) < 0 ||
        check_opt_string(L, S_CODE, "code", msg) < 0)
        return fail(L, msg);
    if (lua_isnil(L, S_LANGUAGE)) {
        lua_pushliteral(L, "default");
        lua_replace(L, S_LANGUAGE);
    }
    if (!lua_isnil(L, S_PARAMS) && lua_type(L, S_PARAMS) != LUA_TTABLE) {
        snprintf(msg, sizeof(msg), "params: table expected, got %s", luaL_typename(L, S_PARAMS));
        return fail(L, msg);
    }

    if (lua_istable(L, S_PARAMS)) {
        lua_pushnil(L);
        while (lua_next(L, S_PARAMS)) {
            n++;
            lua_pop(L, 1);
        }
    }
    /* The list lives in a userdata: freed by the GC whatever happens. */
    list = (param *)lua_newuserdatauv(L, n * sizeof(param) + 1, 0);
    if (n != 0) {
        i = 0;
        lua_pushnil(L);
        while (lua_next(L, S_PARAMS)) {
            char label[MSG_SIZE / 2];
            param *p = &list[i++];

            if (lua_type(L, -2) != LUA_TSTRING) {
                snprintf(msg, sizeof(msg), "params: keys must be strings, got a %s key",
                         luaL_typename(L, -2));
                return fail(L, msg);
            }
            p->key = lua_tolstring(L, -2, &p->klen);
            snprintf(label, sizeof(label), "params.%s", p->key);
            if (check_text(L, -2, label, msg) < 0)
                return fail(L, msg);
            switch (lua_type(L, -1)) {
            case LUA_TSTRING:
                if (check_text(L, -1, label, msg) < 0)
                    return fail(L, msg);
                p->value = lua_tostring(L, -1);
                break;
            case LUA_TNUMBER:
                if (format_number(L, -1, p->num, sizeof(p->num)) < 0) {
                    snprintf(msg, sizeof(msg), "%s: not a finite number", label);
                    return fail(L, msg);
                }
                /* Not p->num yet: qsort moves the entries. */
                p->value = NULL;
                break;
            default:
                snprintf(msg, sizeof(msg), "%s: string or number expected, got %s", label,
                         luaL_typename(L, -1));
                return fail(L, msg);
            }
            lua_pop(L, 1);
        }
        /* lua_next order is the hash order: sort for stable output. */
        qsort(list, n, sizeof(param), param_cmp);
    }

    box = box_new(L);
    box->root = cJSON_CreateObject();
    if (box->root == NULL)
        return luaL_error(L, "out of memory");
    if (add_string(box->root, "id", lua_tostring(L, S_ID)) < 0 ||
        add_string(box->root, "language", lua_tostring(L, S_LANGUAGE)) < 0 ||
        (!lua_isnil(L, S_CODE) && add_string(box->root, "code", lua_tostring(L, S_CODE)) < 0))
        return luaL_error(L, "out of memory");
    params = cJSON_AddObjectToObject(box->root, "params");
    if (params == NULL)
        return luaL_error(L, "out of memory");
    for (i = 0; i < n; i++)
        if (add_string(params, list[i].key, list[i].value != NULL ? list[i].value : list[i].num) <
            0)
            return luaL_error(L, "out of memory");
    box->text = cJSON_PrintUnformatted(box->root);
    if (box->text == NULL)
        return luaL_error(L, "out of memory");
    lua_pushstring(L, box->text);
    box_clear(box);
    return 1;
}

static const char *json_type(const cJSON *item)
{
    if (cJSON_IsString(item))
        return "string";
    if (cJSON_IsNumber(item))
        return "number";
    if (cJSON_IsBool(item))
        return "boolean";
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsArray(item))
        return "array";
    if (cJSON_IsObject(item))
        return "object";
    return "invalid";
}

/* A string member, or NULL when absent; msg filled (and -1) when present
 * with another type. */
static int get_member(const cJSON *root, const char *name, const cJSON **out, char *msg)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);

    *out = NULL;
    if (item == NULL)
        return 0;
    if (!cJSON_IsString(item)) {
        snprintf(msg, MSG_SIZE, "%s: string expected, got %s", name, json_type(item));
        return -1;
    }
    *out = item;
    return 0;
}

/* Check the parsed body; 0 or -1 with msg. No Lua calls: the tree is only
 * walked. */
static int check_body(const cJSON *root, char *msg)
{
    const cJSON *id, *language, *code, *params, *p;

    if (!cJSON_IsObject(root)) {
        snprintf(msg, MSG_SIZE, "not an object: %s", json_type(root));
        return -1;
    }
    if (get_member(root, "id", &id, msg) < 0 || get_member(root, "language", &language, msg) < 0 ||
        get_member(root, "code", &code, msg) < 0)
        return -1;
    if (id == NULL) {
        snprintf(msg, MSG_SIZE, "id missing");
        return -1;
    }
    params = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (params == NULL)
        return 0;
    if (!cJSON_IsObject(params)) {
        snprintf(msg, MSG_SIZE, "params: object expected, got %s", json_type(params));
        return -1;
    }
    cJSON_ArrayForEach(p, params)
    {
        /* Gateway: "val format is string". */
        if (!cJSON_IsString(p)) {
            snprintf(msg, MSG_SIZE, "params.%s: string expected, got %s", p->string, json_type(p));
            return -1;
        }
    }
    return 0;
}

static void set_member(lua_State *L, const cJSON *root, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);

    if (item == NULL)
        return;
    lua_pushstring(L, item->valuestring);
    lua_setfield(L, -2, name);
}

/* core.parse_body(bytes) -> t | nil, err (lsmpp_json.h) */
static int l_parse_body(lua_State *L)
{
    char msg[MSG_SIZE];
    size_t len, i;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *end = NULL;
    const cJSON *params, *p;
    json_box *box = box_new(L);
    int count = 0;

    box->root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (box->root == NULL) {
        i = end != NULL && end >= s && end <= s + len ? (size_t)(end - s) : 0;
        snprintf(msg, sizeof(msg), "not JSON (error at byte %zu)", i);
        return fail(L, msg);
    }
    /* cJSON stops after the first value; anything but spaces after it
     * means the body is not one JSON text. */
    for (i = end != NULL ? (size_t)(end - s) : len; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            break;
    if (i < len) {
        box_clear(box);
        snprintf(msg, sizeof(msg), "not JSON (trailing bytes at byte %zu)", i);
        return fail(L, msg);
    }
    if (check_body(box->root, msg) < 0) {
        box_clear(box);
        return fail(L, msg);
    }

    params = cJSON_GetObjectItemCaseSensitive(box->root, "params");
    cJSON_ArrayForEach(p, params)
    {
        count++;
    }
    lua_createtable(L, 0, 4);
    set_member(L, box->root, "id");
    set_member(L, box->root, "language");
    set_member(L, box->root, "code");
    lua_createtable(L, 0, count);
    cJSON_ArrayForEach(p, params)
    {
        lua_pushstring(L, p->valuestring);
        lua_setfield(L, -2, p->string);
    }
    lua_setfield(L, -2, "params");
    box_clear(box);
    return 1;
}

void lsmpp_json_register(lua_State *L)
{
    /* The box metatable, shared by both functions as their upvalue (no
     * registry name to clash with). */
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_build_body, 1);
    lua_setfield(L, -3, "build_body");
    lua_pushcclosure(L, l_parse_body, 1);
    lua_setfield(L, -2, "parse_body");
}
