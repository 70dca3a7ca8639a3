/*
 * lsmpp_compat.h - the few Lua C API differences between 5.1 (and LuaJIT),
 * 5.2, 5.3 and 5.4 that the bindings meet. Everything is static inline and
 * renamed by macro, so a host that already has a function (LuaJIT 2.1 has
 * luaL_setfuncs) keeps working without clashing symbols.
 */
#ifndef LSMPP_COMPAT_H
#define LSMPP_COMPAT_H

#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM < 502

static inline int lsmpp_compat_absindex(lua_State *L, int idx)
{
    return (idx > 0 || idx <= LUA_REGISTRYINDEX) ? idx : lua_gettop(L) + idx + 1;
}
#define lua_absindex lsmpp_compat_absindex

#define lua_rawlen(L, idx) lua_objlen((L), (idx))

static inline void lsmpp_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    int i;

    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
#define luaL_setfuncs lsmpp_compat_setfuncs

/* LuaJIT 2.1 defines these two already. */
#ifndef luaL_newlibtable
#define luaL_newlibtable(L, l) lua_createtable((L), 0, (int)(sizeof(l) / sizeof((l)[0])) - 1)
#endif
#ifndef luaL_newlib
#define luaL_newlib(L, l) (luaL_newlibtable((L), (l)), luaL_setfuncs((L), (l), 0))
#endif

static inline void *lsmpp_compat_testudata(lua_State *L, int idx, const char *tname)
{
    void *p = lua_touserdata(L, idx);

    if (p == NULL || !lua_getmetatable(L, idx))
        return NULL;
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2))
        p = NULL;
    lua_pop(L, 2);
    return p;
}
#define luaL_testudata lsmpp_compat_testudata

#endif /* LUA_VERSION_NUM < 502 */

#if LUA_VERSION_NUM < 504
/* 5.4 gives full userdata user values; none of ours needs any. */
#define lua_newuserdatauv(L, size, nuv) lua_newuserdata((L), (size))
#endif

/* The one user value of a full userdata: numbered ones on 5.4, a single
 * value on 5.2/5.3, the environment table on 5.1 and LuaJIT (so it must
 * be a table). lsmpp_setuv pops the value; lsmpp_getuv pushes it. */
static inline void lsmpp_setuv(lua_State *L, int idx)
{
#if LUA_VERSION_NUM >= 504
    lua_setiuservalue(L, idx, 1);
#elif LUA_VERSION_NUM >= 502
    lua_setuservalue(L, idx);
#else
    lua_setfenv(L, idx);
#endif
}

static inline void lsmpp_getuv(lua_State *L, int idx)
{
#if LUA_VERSION_NUM >= 504
    lua_getiuservalue(L, idx, 1);
#elif LUA_VERSION_NUM >= 502
    lua_getuservalue(L, idx);
#else
    lua_getfenv(L, idx);
#endif
}

/*
 * Integers. 5.3+ has a 64-bit integer subtype; 5.1 and 5.2 have only
 * doubles, which hold every uint32_t exactly, so protocol numbers are pushed
 * as numbers there.
 */
static inline void lsmpp_push_u32(lua_State *L, uint32_t v)
{
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)v);
#else
    lua_pushnumber(L, (lua_Number)v);
#endif
}

/*
 * The value at idx as an integer, when it is a number with an integral
 * value (a float like 3.0 counts; the string "3" does not: field values are
 * typed). Returns 1 and sets *out, or 0.
 */
static inline int lsmpp_get_integer(lua_State *L, int idx, int64_t *out)
{
#if LUA_VERSION_NUM >= 503
    int isnum = 0;
    lua_Integer v;

    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
    v = lua_tointegerx(L, idx, &isnum);
    if (!isnum)
        return 0;
    *out = (int64_t)v;
    return 1;
#else
    lua_Number n;

    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
    n = lua_tonumber(L, idx);
    /* Beyond 2^63 the cast is undefined; nothing here needs such values. */
    if (!(n >= -9.2e18 && n <= 9.2e18) || n != (lua_Number)(int64_t)n)
        return 0;
    *out = (int64_t)n;
    return 1;
#endif
}

#endif
