--- The few library calls that differ between Lua 5.1, 5.2, 5.3, 5.4 and
-- LuaJIT 2.1, in one place. Each is the built-in one where the running Lua
-- has it, otherwise an equivalent written in Lua 5.1.
--
--   local compat = require "smpp.compat"
--   local t = compat.pack(...); compat.unpack(t, 1, t.n)
--   compat.math_type(3) --> "integer" (5.1, 5.2, LuaJIT: an integral
--                            number that a double holds exactly)
--   compat.setgc(obj, fn)  -- fn(obj) runs when obj is collected, on every Lua
--
-- @module smpp.compat

local type = type
local select = select
local pcall = pcall
local xpcall = xpcall
local rawset = rawset
local setmetatable = setmetatable
local getmetatable = getmetatable
local floor = math.floor
local str_byte = string.byte

local M = {}

--- The running Lua: "5.1", "5.2", "5.3", "5.4" or "luajit".
M.lua = rawget(_G, "jit") and "luajit" or _VERSION:match("%d+%.%d+")

--- `table.pack`: the arguments in a table, their count in `n`.
M.pack = table.pack or function(...)
  return { n = select("#", ...), ... }
end

--- `table.unpack` (5.1 and LuaJIT: the global `unpack`).
M.unpack = table.unpack or rawget(_G, "unpack")

-- Numbers of 5.1 and 5.2 are doubles: an integral one within +-2^53 is what
-- 5.3 would have as an integer.
local MAX_EXACT = 2 ^ 53

local function integral(v)
  return type(v) == "number" and v == floor(v) and v >= -MAX_EXACT and v <= MAX_EXACT
end

--- `math.type`: "integer", "float", or nil for a non-number.
M.math_type = math.type or function(v)
  if type(v) ~= "number" then return nil end
  return integral(v) and "integer" or "float"
end

--- `math.tointeger`: v when it is a number with an integral value, else nil
-- (any argument, as in 5.4).
if math.tointeger and pcall(math.tointeger, nil) then
  M.tointeger = math.tointeger
elseif math.tointeger then
  local tointeger = math.tointeger
  M.tointeger = function(v)
    if type(v) ~= "number" then return nil end
    return tointeger(v)
  end
else
  M.tointeger = function(v)
    if integral(v) then return v end
    return nil
  end
end

-- utf8.len(s) of 5.4 (strict: no surrogates, nothing above U+10FFFF, no
-- overlong forms): the count of characters, or nil and the byte position of
-- the first invalid one.
local function utf8_len(s)
  local n, i, len = 0, 1, #s
  while i <= len do
    local c = str_byte(s, i)
    local need, min, cp
    if c < 0x80 then
      need, min, cp = 0, 0, c
    elseif c >= 0xC2 and c < 0xE0 then
      need, min, cp = 1, 0x80, c - 0xC0
    elseif c >= 0xE0 and c < 0xF0 then
      need, min, cp = 2, 0x800, c - 0xE0
    elseif c >= 0xF0 and c < 0xF5 then
      need, min, cp = 3, 0x10000, c - 0xF0
    else
      return nil, i
    end
    for j = i + 1, i + need do
      local b = str_byte(s, j)
      if not b or b < 0x80 or b >= 0xC0 then return nil, i end
      cp = cp * 64 + (b - 0x80)
    end
    if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then
      return nil, i
    end
    n, i = n + 1, i + need + 1
  end
  return n
end

--- `utf8.len(s)`: the number of UTF-8 characters in s, or nil and the
-- position of the first byte that is not valid UTF-8.
M.utf8_len = rawget(_G, "utf8") and utf8.len or utf8_len
M.utf8_len_lua = utf8_len -- the Lua version, whatever the running Lua has

--- `xpcall(f, msgh, ...)`: 5.1 passes no arguments to f; this one does.
if select(2, xpcall(function(a) return a end, function() end, true)) then
  M.xpcall = xpcall
else
  local unpack = M.unpack
  M.xpcall = function(f, msgh, ...)
    local n = select("#", ...)
    if n == 0 then return xpcall(f, msgh) end
    local args = { ... }
    return xpcall(function() return f(unpack(args, 1, n)) end, msgh)
  end
end

--- `coroutine.running()` as in 5.2+: the running coroutine and true when it
-- is the main one (5.1 and LuaJIT give nil in the main one).
local co_running = coroutine.running
function M.running()
  local co, main = co_running()
  if co == nil then return nil, true end
  return co, main == true
end

--- `load(chunk, name, mode, env)` for a string chunk, on every Lua
-- (5.1's load takes only functions; it has loadstring and setfenv).
if pcall(load, "return") then
  M.load = load
else
  local loadstring, setfenv = rawget(_G, "loadstring"), rawget(_G, "setfenv")
  M.load = function(chunk, name, _, env)
    local fn, err = loadstring(chunk, name)
    if fn and env ~= nil then setfenv(fn, env) end
    return fn, err
  end
end

--- True where tables may have a `__gc` metamethod (5.2 and later).
M.table_gc = M.lua ~= "5.1" and M.lua ~= "luajit"

local newproxy = rawget(_G, "newproxy")
local SENTINEL = {} -- the key obj keeps its sentinel under

--- Make `fn(obj)` run once when the table obj is collected (or when the
-- state closes), on every Lua: a sentinel stored in obj carries the
-- finalizer (a userdata from `newproxy` on 5.1 and LuaJIT, whose tables have
-- no `__gc`; a table with `__gc` elsewhere). A `__gc` in obj's own
-- metatable would run too on 5.2+: use one or the other. Returns obj.
-- @tparam table obj
-- @tparam function fn
-- @treturn table obj
function M.setgc(obj, fn)
  local function gc() fn(obj) end
  local sentinel
  if M.table_gc or not newproxy then
    sentinel = setmetatable({}, { __gc = gc })
  else
    sentinel = newproxy(true)
    getmetatable(sentinel).__gc = gc
  end
  rawset(obj, SENTINEL, sentinel)
  return obj
end

return M
