-- A misbehaving SMPP peer for the smpp.ev client specs, on LuaSocket, run
-- as a child process so that it shares nothing with the libev loop under
-- test (not even the process).
--
-- As a library:
--   local raw = require "support.rawserver"   -- (spec/ is on package.path)
--   local srv = raw.start("never_answer")      -- child started, port known
--   srv.port; srv:stop()                       -- stop kills the child
-- As a script (what start runs):
--   lua5.4 spec/support/rawserver.lua SCENARIO
--   prints "PORT <n>" once listening, serves one connection, then exits.
--
-- Scenarios (all answer bind_transceiver first, except "silent"):
--   silent           read the bind, never answer it
--   close_mid_window answer the first submit_sm, then close the socket while
--                    the others are in flight
--   never_answer     read everything, answer nothing more (not even
--                    enquire_link)
--   garbage          after the first submit_sm, send bytes that are no PDU
--   oversized        after the first submit_sm, send a header whose
--                    command_length is 0x7FFFFFF0
--   pieces           answer every submit_sm, one byte per write, with pauses
--   nack             answer every submit_sm with generic_nack (status 3)
--   close_on_bind    read the bind, close (the gateway's "bad credentials")

local M = {}

local HERE = debug.getinfo(1, "S").source:match("^@(.*)$")

function M.start(scenario)
  local lua = os.getenv("LUA") or "lua5.4"
  -- exec: the popen'd shell becomes the child, so its pid is the server's.
  local cmd = string.format("exec %s %s %s", lua, HERE, scenario)
  local p = assert(io.popen("echo $$; " .. cmd, "r"))
  local pid = tonumber(p:read("l"))
  local line = p:read("l")
  local port = line and tonumber(line:match("^PORT (%d+)$"))
  if not port then
    p:close()
    error("rawserver " .. scenario .. " did not start: " .. tostring(line))
  end
  local srv = { port = port, pid = pid, pipe = p }
  function srv.stop(self)
    if self.pid then
      os.execute("kill " .. self.pid .. " 2>/dev/null")
      self.pid = nil
      -- The exit status is of no interest (and libev may have reaped it).
      pcall(self.pipe.close, self.pipe)
    end
  end
  return srv
end

if not (arg and arg[0] and HERE and arg[0]:match("rawserver%.lua$")) then
  return M
end

-- ---- the server process -------------------------------------------------

local socket = require "socket"

local scenario = arg[1]
local lsock = assert(socket.bind("127.0.0.1", 0))
local _, port = lsock:getsockname()
io.stdout:write("PORT ", port, "\n")
io.stdout:flush()

lsock:settimeout(10)
local conn = lsock:accept()
if not conn then os.exit(1) end
conn:setoption("tcp-nodelay", true)

local function u32(s, i)
  local a, b, c, d = s:byte(i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

local function be32(n)
  return string.char((n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255)
end

local function pdu(cmd, status, seq, body)
  body = body or ""
  return be32(16 + #body) .. be32(cmd) .. be32(status) .. be32(seq) .. body
end

-- One PDU, or nil when the peer is gone or `timeout` seconds pass.
local function read_pdu(timeout)
  conn:settimeout(timeout or 10)
  local head = conn:receive(16)
  if not head then return nil end
  local len = u32(head, 1)
  local body = ""
  if len > 16 then
    body = conn:receive(len - 16)
    if not body then return nil end
  end
  return { id = u32(head, 5), status = u32(head, 9), seq = u32(head, 13), body = body }
end

local SUBMIT, BIND, ENQUIRE, UNBIND = 0x04, 0x09, 0x15, 0x06

local function send(bytes)
  conn:settimeout(10)
  conn:send(bytes)
end

local function answer_bind()
  local p = read_pdu()
  if not p or p.id ~= BIND then os.exit(1) end
  if scenario == "silent" then
    socket.sleep(5)
    os.exit(0)
  elseif scenario == "close_on_bind" then
    conn:close()
    os.exit(0)
  end
  send(pdu(0x80000009, 0, p.seq, "raw\0"))
end

-- Housekeeping every scenario does the same way.
local function housekeeping(p)
  if p.id == ENQUIRE then
    send(pdu(0x80000015, 0, p.seq))
    return true
  elseif p.id == UNBIND then
    send(pdu(0x80000006, 0, p.seq))
    conn:close()
    os.exit(0)
  end
  return false
end

answer_bind()

if scenario == "close_mid_window" then
  while true do
    local p = read_pdu()
    if not p then break end
    if not housekeeping(p) and p.id == SUBMIT then
      send(pdu(0x80000004, 0, p.seq, "m1\0"))
      -- Let the rest of the window arrive, then drop them all.
      while read_pdu(0.2) do end
      break
    end
  end
  conn:close()
elseif scenario == "never_answer" then
  while read_pdu(5) do end
elseif scenario == "garbage" or scenario == "oversized" then
  while true do
    local p = read_pdu()
    if not p then break end
    if not housekeeping(p) and p.id == SUBMIT then
      if scenario == "garbage" then
        send("\0\0\0\5 this is not smpp at all")
      else
        send(be32(0x7FFFFFF0) .. be32(0x80000004) .. be32(0) .. be32(p.seq))
      end
      while read_pdu(2) do end
      break
    end
  end
elseif scenario == "pieces" then
  local n = 0
  while true do
    local p = read_pdu()
    if not p then break end
    if not housekeeping(p) and p.id == SUBMIT then
      n = n + 1
      local bytes = pdu(0x80000004, 0, p.seq, "piece" .. n .. "\0")
      for i = 1, #bytes do
        send(bytes:sub(i, i))
        socket.sleep(0.001)
      end
    end
  end
elseif scenario == "nack" then
  while true do
    local p = read_pdu()
    if not p then break end
    if not housekeeping(p) and p.id == SUBMIT then
      send(pdu(0x80000000, 3, p.seq))
    end
  end
end
conn:close()
os.exit(0)
