/*
 * fuzz_lua_unpack.c - libFuzzer target for core.unpack (lsmpp_store.c),
 * which reads strings other processes wrote (the OpenResty backend's
 * shared dict), with Lua 5.4 embedded. The input, with core.pack's format
 * byte put in front half of the time, goes to core.unpack. Invariants,
 * checked by the script: it never raises; it returns a table, or nil and
 * a message; a table it returns packs again, and that unpacks to an equal
 * table. Any Lua error (a broken invariant, or the binding raising)
 * aborts.
 */
static const char script[] =
    "local core, data = ...\n"
    "if #data > 0 and data:byte(1) % 2 == 0 then data = '\\177' .. data:sub(2) end\n"
    "local t, err = core.unpack(data)\n"
    "if t == nil then\n"
    "  if type(err) ~= 'string' then error('nil without a message') end\n"
    "  return\n"
    "end\n"
    "if type(t) ~= 'table' then error('not a table: ' .. type(t)) end\n"
    "local function same(a, b, depth)\n"
    "  if type(a) ~= 'table' or type(b) ~= 'table' then\n"
    "    return a == b or (a ~= a and b ~= b)\n"
    "  end\n"
    "  if depth > 20 then error('deeper than the packing allows') end\n"
    "  for k, v in pairs(a) do if not same(v, b[k], depth + 1) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "local again = assert(core.unpack(core.pack(t)))\n"
    "if not same(t, again, 0) then error('pack(unpack(x)) does not unpack to the same') end\n";

#include "lua_script_harness.h"
