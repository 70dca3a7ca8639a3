--- The Tarantool backend: fibers, `fiber.cond` and Tarantool's own
-- non-blocking sockets, so the client runs inside a Tarantool instance
-- beside its other fibers, and never touches libev itself (Tarantool's
-- event loop is its own business: loading `smpp.ev` there would corrupt
-- its fiber scheduler).
--
-- Chosen by `require "smpp"` when it runs inside Tarantool. Every call
-- that waits (`bind`, `submit`, `wait_receipt`, `smpp.sleep`) yields only
-- the fiber that made it. SMPP clients and servers come from
-- `smpp.driver`, which runs `core.session` over these primitives.
--
-- @module smpp.backend.tarantool

local fiber = require "fiber"
local socket = require "socket"
local errno = require "errno"
local log = require "log"
local core = require "smpp.core"
local driver = require "smpp.driver"

local select = select
local tostring = tostring
local setmetatable = setmetatable
local unpack = unpack or table.unpack -- luacheck: ignore (LuaJIT's global)
local str_format = string.format
local now = core.now

local B = { name = "tarantool", now = now, self_driven = true }

-- ---------------------------------------------------------------------------
-- Errors of the functions the backend calls.

local errors = require("smpp.backend.errors").new(function(line)
  log.error("smpp: %s", line)
end)
B.on_error, B.call = errors.on_error, errors.call

-- ---------------------------------------------------------------------------
-- Threads, conditions, timers.

--- `fn(...)` in a new fiber, started once the caller yields (fiber.new
-- does not run it at once, as fiber.create would).
function B.spawn(fn, ...)
  local args, n = { ... }, select("#", ...)
  local f = fiber.new(function()
    B.call(fn, unpack(args, 1, n))
  end)
  f:name("smpp", { truncate = true })
  return f
end

local cond_mt = {}
cond_mt.__index = cond_mt

function cond_mt:wait(timeout)
  if self.c:wait(timeout) then return true end
  -- false: the time was up (or the fiber was woken for another reason,
  -- which a caller treats alike and looks again).
  return nil, "timeout"
end

function cond_mt:signal()
  self.c:broadcast()
end

function B.cond()
  return setmetatable({ c = fiber.cond() }, cond_mt)
end

-- A one-shot timer: a fiber asleep until its time. Stopping it wakes it so
-- that it ends at once instead of sleeping on.
local timer_mt = {}
timer_mt.__index = timer_mt

function timer_mt:stop()
  if self.stopped then return end
  self.stopped = true
  local f = self.f
  self.f = nil
  if f and f:status() ~= "dead" and f ~= fiber.self() then
    f:wakeup()
  end
end

function B.timer(after, fn)
  local t = setmetatable({ stopped = false }, timer_mt)
  local at = now() + (after > 0 and after or 0)
  t.f = fiber.new(function()
    while not t.stopped do
      local left = at - now()
      if left <= 0 then break end
      fiber.sleep(left)
    end
    if t.stopped then return end
    t.stopped = true
    t.f = nil
    B.call(fn)
  end)
  t.f:name("smpp.timer", { truncate = true })
  return t
end

--- Wait `s` seconds (yields the calling fiber).
function B.sleep(s)
  fiber.sleep(s)
end

-- ---------------------------------------------------------------------------
-- Sockets: Tarantool's, used non-blocking (sysread, syswrite) with
-- readable/writable waits, so a write never waits and a close wakes the
-- fiber waiting on the socket.

local sock_mt = {}
sock_mt.__index = sock_mt

local EAGAIN, EWOULDBLOCK, EINTR = errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR

local function again(e)
  return e == EAGAIN or e == EWOULDBLOCK or e == EINTR
end

function sock_mt:send(data)
  local s = self.s
  if not s then return nil, "closed" end
  local n = s:syswrite(data)
  if n then return n end
  local e = s:errno()
  if again(e) then return 0 end
  return nil, errno.strerror(e)
end

-- Wait on the socket in `how` ("readable"/"writable"): true when ready or
-- woken, nil, "closed" when it closed meanwhile, nil, "timeout".
local function wait_fd(self, how, timeout)
  local s = self.s
  if not s then return nil, "closed" end
  self.waiter = fiber.self()
  local ok = s[how](s, timeout)
  self.waiter = nil
  if not self.s then return nil, "closed" end
  if not ok and timeout then return nil, "timeout" end
  return true
end

function sock_mt:wait_send()
  local ok = wait_fd(self, "writable")
  if ok then return true end
  return nil, "closed"
end

function sock_mt:receive_some(max, timeout)
  local deadline = timeout and now() + timeout
  while true do
    local s = self.s
    if not s then return nil, "closed" end
    local data = s:sysread(max)
    if data then
      if data == "" then return nil, "closed" end
      return data
    end
    local e = s:errno()
    if not again(e) then return nil, errno.strerror(e) end
    local left = deadline and deadline - now()
    if left and left <= 0 then return nil, "timeout" end
    local ok, err = wait_fd(self, "readable", left)
    if not ok and err == "closed" then return nil, "closed" end
  end
end

function sock_mt:peer()
  local s = self.s
  if not s then return nil, "closed" end
  local p = s:peer()
  if not p then return nil, errno.strerror() end
  if p.family == "AF_INET6" then return str_format("[%s]:%s", p.host, p.port) end
  return str_format("%s:%s", p.host, p.port)
end

function sock_mt:close()
  local s = self.s
  if not s then return end
  self.s = nil
  s:close()
  local w = self.waiter
  if w and w ~= fiber.self() and w:status() ~= "dead" then
    w:wakeup()
  end
end

local function wrap(s)
  s:nonblock(true)
  s:setsockopt("SOL_TCP", "TCP_NODELAY", true)
  return setmetatable({ s = s }, sock_mt)
end

--- Connect within `timeout` seconds (nil: no limit), in a fiber.
function B.connect(host, port, timeout)
  local deadline = timeout and now() + timeout
  local addrs, err = socket.getaddrinfo(host, port, timeout,
    { type = "SOCK_STREAM", protocol = "tcp" })
  if not addrs or not addrs[1] then
    return nil, "dns failure: " .. tostring(err or "no address")
  end
  local last
  for i = 1, #addrs do
    local left = deadline and deadline - now()
    if left and left <= 0 then return nil, "connect timeout" end
    local s = socket.tcp_connect(addrs[i].host, addrs[i].port, left)
    if s then return wrap(s) end
    local e = errno()
    if e == errno.ECONNREFUSED then
      last = "connection refused"
    elseif e == errno.ETIMEDOUT then
      last = "connect timeout"
    else
      last = "connect error: " .. errno.strerror(e)
    end
    if last == "connect timeout" then break end
  end
  return nil, last
end

local listener_mt = {}
listener_mt.__index = listener_mt

function listener_mt:accept()
  while self.s do
    local c = self.s:accept()
    if c then return wrap(c) end
    local e = self.s:errno()
    if not again(e) then return nil, errno.strerror(e) end
    local ok = wait_fd(self, "readable")
    if not ok then break end
  end
  return nil, "closed"
end

function listener_mt:port()
  return self.port_n
end

function listener_mt:close()
  sock_mt.close(self)
end

--- Listen on host:port (0: any free port).
function B.listen(host, port)
  local s = socket("AF_INET", "SOCK_STREAM", "tcp")
  if not s then return nil, errno.strerror() end
  s:setsockopt("SOL_SOCKET", "SO_REUSEADDR", true)
  if not s:bind(host, port) or not s:listen(128) then
    local err = errno.strerror()
    s:close()
    return nil, err
  end
  s:nonblock(true)
  local name = s:name()
  return setmetatable({ s = s, port_n = name and name.port }, listener_mt)
end

local d = driver.new(B)
B.client = d.client
B.server = d.server

return B
