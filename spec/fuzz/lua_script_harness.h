/*
 * lua_script_harness.h - the libFuzzer entry points of the fuzzers that
 * run a Lua script over smpp.core (fuzz_lua_session.c, fuzz_lua_unpack.c):
 * define `static const char script[]` (a chunk called with core and the
 * input as a string; any Lua error aborts, which libFuzzer reports), then
 * include this. A full collection after each input puts what it made
 * under ASan's eye.
 */
#ifndef LUA_SCRIPT_HARNESS_H
#define LUA_SCRIPT_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_smpp_core(lua_State *L);

static lua_State *L;
static int script_ref;
static int core_ref;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    lua_pushcfunction(L, luaopen_smpp_core);
    lua_call(L, 0, 1);
    core_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (luaL_loadstring(L, script) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        abort();
    }
    script_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, script_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, core_ref);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        abort();
    }
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}

#endif
