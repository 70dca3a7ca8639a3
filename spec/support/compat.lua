-- What the specs need that only some Lua versions have, written for every
-- Lua from 5.1 to 5.4 and LuaJIT (make compat runs the suite on each):
-- smpp.compat's functions, plus
--   be32(n, ...)       4-byte big-endian words (string.pack(">I4I4...", n, ...))
--   read_be32(s, i)    the word at byte i of s (string.unpack(">I4", s, i))
--   utf8_char(cp, ...) UTF-8 text of code points (utf8.char)
--   lua54              true on Lua 5.4 (`<close>` and the like)
--   run_54(src, ...)   runs a chunk written in 5.4 syntax there; elsewhere
--                      returns nothing (a 5.1 parser cannot read it)
local compat = require "smpp.compat"

local M = {}
for k, v in pairs(compat) do M[k] = v end

local floor = math.floor
local str_char = string.char

local function word(n)
  return str_char(floor(n / 16777216) % 256, floor(n / 65536) % 256, floor(n / 256) % 256,
                  n % 256)
end

function M.be32(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = word((select(i, ...))) end
  return table.concat(out)
end

function M.read_be32(s, i)
  local a, b, c, d = s:byte(i or 1, (i or 1) + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

local function char(cp)
  if cp < 0x80 then return str_char(cp) end
  if cp < 0x800 then
    return str_char(0xC0 + floor(cp / 64), 0x80 + cp % 64)
  end
  if cp < 0x10000 then
    return str_char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return str_char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64,
                  0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

function M.utf8_char(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = char((select(i, ...))) end
  return table.concat(out)
end

M.lua54 = compat.lua == "5.4"

-- A shell's wait status as 5.2+ reports it: "exit", code or "signal", number.
local function status(ok, how, code)
  if type(ok) ~= "number" then return ok, how, code end
  if ok % 256 == 0 then
    code = ok / 256
    return code == 0 or nil, "exit", code
  end
  return nil, "signal", ok % 128
end

--- os.execute(cmd) as on 5.2+: true or nil, "exit" or "signal", code
-- (5.1 and LuaJIT return the raw wait status).
function M.execute(cmd)
  return status(os.execute(cmd))
end

--- io.popen(cmd, "r") whose close() returns the command's status, as on
-- 5.2+ (5.1 and LuaJIT give true only): there the shell appends the status
-- to the output, and read/lines/close take it off again. read takes "*l"
-- and "*a" (with or without the star).
local MARK = "\1exit:"

function M.popen(cmd)
  if compat.lua ~= "5.1" and compat.lua ~= "luajit" then
    return assert(io.popen(cmd, "r"))
  end
  local p = assert(io.popen("(" .. cmd .. "); printf '\\001exit:%d\\n' $?", "r"))
  local h, code = {}, nil
  local function take(s) -- s with the mark taken off, when it carries it
    local i = s and s:find(MARK, 1, true)
    if not i then return s end
    code = tonumber(s:match("^(%d+)", i + #MARK))
    return s:sub(1, i - 1)
  end
  function h.read(_, fmt)
    fmt = fmt:gsub("^%*", "")
    if fmt == "a" then
      return take(p:read("*a"))
    end
    if code then return nil end
    local line = p:read("*l")
    if not line then return nil end
    line = take(line)
    if code and line == "" then return nil end
    return line
  end
  function h.lines(self)
    return function() return self:read("*l") end
  end
  function h.close()
    if not code then take(p:read("*a")) end
    p:close()
    code = code or 0
    if code > 128 then return nil, "signal", code - 128 end
    return code == 0 or nil, "exit", code
  end
  return h
end

function M.run_54(src, ...)
  if not M.lua54 then return end
  return assert(compat.load(src, "=5.4 chunk"))(...)
end

return M
