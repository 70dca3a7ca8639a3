-- A misbehaving SMPP peer for the smpp.ev client specs, on LuaSocket, run
-- as a child process so that it shares nothing with the libev loop under
-- test (not even the process).
--
-- As a library:
--   local raw = require "support.rawserver"   -- (spec/ is on package.path)
--   local srv = raw.start("never_answer")      -- child started, port known
--   srv.port; srv:stop()                       -- stop kills the child
--   srv:submits()   -- once the client is gone: waits for the child to end,
--                   -- then every submit_sm it read, in order, as
--                   -- { seq = n, mark = "..." } (mark: the "#...#" in the
--                   -- PDU's bytes, or nil)
-- As a script (what start runs):
--   lua5.4 spec/support/rawserver.lua SCENARIO [RECORD_FILE]
--   prints "PORT <n>" once listening, serves one connection, then exits;
--   appends "<seq> <mark>" to RECORD_FILE for each submit_sm it reads.
--
-- Scenarios (all answer bind_transceiver first, except "silent"):
--   silent           read the bind, never answer it (read until the end)
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
--   unbind_on_bind   read the bind, answer it with an unbind request
--   close_after_bind answer the bind, then close the socket
--   unbind_after_bind answer the bind, then send unbind
--   stall            answer the bind, read nothing for STALL seconds, then
--                    read everything and answer every submit_sm
--   resp_nobody      answer every submit_sm with status 0 and no body
--   resp_nonul       answer every submit_sm with message_id "abc" and no NUL
--   dup_answers      answer every submit_sm twice, and send an answer for a
--                    sequence number never used (0x7FFFFFFF) after each

local M = {}

-- How long "stall" reads nothing.
M.STALL = 1.5

local HERE = debug.getinfo(1, "S").source:match("^@(.*)$")

function M.start(scenario)
  local lua = os.getenv("LUA") or "lua5.4"
  local record = os.tmpname()
  -- exec: the popen'd shell becomes the child, so its pid is the server's.
  local cmd = string.format("exec %s %s %s %s", lua, HERE, scenario, record)
  local p = assert(io.popen("echo $$; " .. cmd, "r"))
  local pid = tonumber(p:read("*l"))
  local line = p:read("*l")
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
    os.remove(record)
  end
  function srv.submits(self)
    -- The pipe ends when the child does: everything it read is recorded.
    self.pipe:read("*a")
    local list = {}
    for entry in io.lines(record) do
      local seq, mark = entry:match("^(%d+) (.*)$")
      list[#list + 1] = { seq = tonumber(seq), mark = mark ~= "" and mark or nil }
    end
    return list
  end
  return srv
end

if not (arg and arg[0] and HERE and arg[0]:match("rawserver%.lua$")) then
  return M
end

-- ---- the server process -------------------------------------------------

local socket = require "socket"

local scenario = arg[1]
local record = arg[2] and assert(io.open(arg[2], "a"))
local lsock = assert(socket.tcp())
assert(lsock:bind("127.0.0.1", 0))
if scenario == "stall" then
  -- A small receive window: the client's own output fills, not the kernel.
  assert(lsock:setoption("recv-buffer-size", 4096))
end
assert(lsock:listen())
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
  local f = math.floor
  return string.char(f(n / 16777216) % 256, f(n / 65536) % 256, f(n / 256) % 256, n % 256)
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
  local p = { id = u32(head, 5), status = u32(head, 9), seq = u32(head, 13), body = body }
  if record and p.id == 0x04 then
    record:write(p.seq, " ", body:match("#[^#]*#") or "", "\n")
    record:flush()
  end
  return p
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
    while read_pdu(5) do end
    os.exit(0)
  elseif scenario == "close_on_bind" then
    conn:close()
    os.exit(0)
  elseif scenario == "unbind_on_bind" then
    send(pdu(UNBIND, 0, 1))
    while read_pdu(2) do end
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
elseif scenario == "nack" or scenario == "stall" or scenario:match("^resp_") then
  local answer = {
    nack = function(seq) return pdu(0x80000000, 3, seq) end,
    stall = function(seq) return pdu(0x80000004, 0, seq, "m" .. seq .. "\0") end,
    resp_nobody = function(seq) return pdu(0x80000004, 0, seq) end,
    resp_nonul = function(seq) return pdu(0x80000004, 0, seq, "abc") end,
  }
  if scenario == "stall" then socket.sleep(M.STALL) end
  while true do
    local p = read_pdu()
    if not p then break end
    if not housekeeping(p) and p.id == SUBMIT then
      send(answer[scenario](p.seq))
    end
  end
elseif scenario == "dup_answers" then
  while true do
    local p = read_pdu()
    if not p then break end
    if not housekeeping(p) and p.id == SUBMIT then
      local resp = pdu(0x80000004, 0, p.seq, "d" .. p.seq .. "\0")
      send(resp .. resp .. pdu(0x80000004, 0, 0x7FFFFFFF, "stray\0"))
    end
  end
elseif scenario == "unbind_after_bind" then
  send(pdu(UNBIND, 0, 1))
  while read_pdu(2) do end
end
conn:close()
os.exit(0)
