--- The LuaSocket backend: plain Lua without libev, on `socket.select`.
--
-- A small scheduler: threads (coroutines started by `spawn`) that wait on
-- a socket, on a condition or on time, and one-shot timers. `run_once`
-- does one `socket.select` over the sockets threads wait on, with the
-- nearest timer as its timeout, then runs the threads and timers that are
-- due. The socket primitives (`connect`, `listen`, a socket's `send`,
-- `receive_some`, `accept`) are blocking-style: called in a thread they
-- yield it until the socket is ready, while the loop serves everything
-- else. SMPP clients and servers come from `smpp.driver`, which runs
-- `core.session` over these primitives.
--
-- select() watches at most FD_SETSIZE (1024) sockets: enough for a client
-- and for the simulator in tests, not for thousands of links.
--
-- @module smpp.backend.socket

local socket = require "socket"
local core = require "smpp.core"
local driver = require "smpp.driver"
local compat = require "smpp.compat"

local error = error
local pairs = pairs
local tostring = tostring
local select = select
local tonumber = tonumber
local setmetatable = setmetatable
local unpack = compat.unpack
local co_create = coroutine.create
local co_resume = coroutine.resume
local co_yield = coroutine.yield
local co_running = compat.running
local co_status = coroutine.status
local tb = debug.traceback
local str_format = string.format
local stderr = io.stderr
local select_fds = socket.select
local sleep = socket.sleep
local getaddrinfo = socket.dns.getaddrinfo
-- LuaSocket 3's socket.tcp() makes its fd only at bind or connect, so an
-- option set before (reuseaddr) would be lost: tcp4 makes it at once.
local tcp4 = socket.tcp4 or socket.tcp
local tcp6 = socket.tcp6
local now = core.now

local B = { name = "socket", now = now }

-- ---------------------------------------------------------------------------
-- Errors of the functions the loop calls (timers, threads, and through
-- `call` every handler the driver calls).

local errors = require("smpp.backend.errors").new(function(line)
  stderr:write("smpp.socket: ", line, "\n")
end)
local report = errors.report

--- Set where errors of the functions the loop and the driver call go:
-- `fn(msg_with_traceback)`; nil restores the default, one line on stderr.
-- Returns the previous handler (nil for the default).
B.on_error = errors.on_error

--- Call `fn(...)`; an error goes, with its traceback, to the on_error
-- handler. Returns true and fn's results, or false.
B.call = errors.call

-- ---------------------------------------------------------------------------
-- Timers: smpp.timers' heap, served by run_once.

local timers = require("smpp.timers").new(now)

--- A one-shot timer: `fn()` runs from the loop `after` seconds from now.
-- @treturn table with `stop()`
function B.timer(after, fn)
  return timers:add(after, fn)
end

-- ---------------------------------------------------------------------------
-- Threads. A thread waits on one thing at a time, described by a wait
-- record {co =, set =, sock =, timer =}; whatever comes first (the socket,
-- the timeout, a signal, a close) wakes it with its word ("ready",
-- "timeout", "signal", "closed"), and what comes later finds the record
-- done.

local ready, rhead, rtail = {}, 1, 0   -- wait records to resume
local reading, writing = {}, {}       -- socket -> wait record
local nwaiting = 0                    -- records in reading and writing

local function wake(w, why)
  if w.why then return end
  w.why = why
  local set = w.set
  if set and set[w.sock] == w then
    set[w.sock] = nil
    nwaiting = nwaiting - 1
  end
  if w.timer then
    w.timer:stop()
  end
  rtail = rtail + 1
  ready[rtail] = w
end

local function resume(w)
  local co = w.co
  if co_status(co) ~= "suspended" then return end
  local ok, err = co_resume(co, w.why)
  if not ok then
    report("thread failed: " .. tb(co, tostring(err)))
  end
end

--- Start `fn(...)` in a new thread, from the loop's next turn (never before
-- spawn returns).
function B.spawn(fn, ...)
  local args, n = { ... }, select("#", ...)
  local co = co_create(function() return fn(unpack(args, 1, n)) end)
  wake({ co = co }, "start")
  return co
end

local function current(what)
  local co, main = co_running()
  if main then
    error(what .. ": must run in a thread started by spawn", 3)
  end
  return co
end

-- Yield the running thread until w is woken; `timeout` seconds at most
-- (nil: no limit). Returns the wake word.
local function suspend(w, timeout)
  if timeout then
    w.timer = B.timer(timeout, function() wake(w, "timeout") end)
  end
  return co_yield()
end

-- Wait until sock is readable (set `reading`) or writable (`writing`).
local function wait_fd(sock, set, timeout, what)
  local co = current(what)
  if set[sock] then
    error(what .. ": another thread already waits on this socket", 3)
  end
  local w = { co = co, set = set, sock = sock }
  set[sock] = w
  nwaiting = nwaiting + 1
  return suspend(w, timeout)
end

-- The thread waiting on sock, if any, is woken with "closed".
local function unwait(sock)
  local w = reading[sock]
  if w then wake(w, "closed") end
  w = writing[sock]
  if w then wake(w, "closed") end
end

-- ---------------------------------------------------------------------------
-- Conditions.

local cond_mt = {}
cond_mt.__index = cond_mt

--- Wait for `signal`, at most `timeout` seconds (nil: no limit).
-- @return true, or nil, "timeout"
function cond_mt:wait(timeout)
  local w = { co = current("cond:wait") }
  self.waiters[w] = true
  local why = suspend(w, timeout)
  self.waiters[w] = nil
  if why == "timeout" then return nil, "timeout" end
  return true
end

--- Wake every thread waiting on the condition.
function cond_mt:signal()
  for w in pairs(self.waiters) do
    wake(w, "signal")
  end
end

--- A condition threads wait on (`c:wait([timeout])`, `c:signal()`).
function B.cond()
  return setmetatable({ waiters = {} }, cond_mt)
end

-- ---------------------------------------------------------------------------
-- Sockets.

local sock_mt = {}
sock_mt.__index = sock_mt

--- Write what the socket takes of `data` now, without waiting.
-- @return the count of bytes written (0 when the socket is full), or nil, err
function sock_mt:send(data)
  local s = self.s
  if not s then return nil, "closed" end
  local last, err, partial = s:send(data)
  if last then return last end
  if err == "timeout" then return partial end
  return nil, err
end

--- Wait until the socket takes more (in a thread).
-- @return true, or nil, "closed"
function sock_mt:wait_send()
  local s = self.s
  if s and wait_fd(s, writing, nil, "wait_send") ~= "closed" then
    return true
  end
  return nil, "closed"
end

--- Up to `max` bytes, as soon as any are there.
-- @return data, or nil, "timeout" | "closed" | err
function sock_mt:receive_some(max, timeout)
  local s = self.s
  while s do
    local data, err, partial = s:receive(max)
    if data then return data end
    if partial and partial ~= "" then return partial end
    if err ~= "timeout" then
      return nil, err
    end
    local why = wait_fd(s, reading, timeout, "receive_some")
    if why == "timeout" then return nil, "timeout" end
    s = self.s
  end
  return nil, "closed"
end

--- The peer's address, "ip:port" ("[ip]:port" for IPv6).
function sock_mt:peer()
  local s = self.s
  if not s then return nil, "closed" end
  local ip, port, family = s:getpeername()
  if not ip then return nil, port end
  if family == "inet6" then return str_format("[%s]:%s", ip, port) end
  return str_format("%s:%s", ip, port)
end

--- Close; a thread waiting on the socket gets "closed". Idempotent.
function sock_mt:close()
  local s = self.s
  if s then
    self.s = nil
    unwait(s)
    s:close()
  end
end

local function wrap(s)
  s:settimeout(0)
  -- One PDU is one small write that must leave now: no Nagle.
  s:setoption("tcp-nodelay", true)
  return setmetatable({ s = s }, sock_mt)
end

-- One address: a non-blocking connect, then wait until writable. Returns
-- the LuaSocket socket, or nil, err.
local function connect_one(addr, port, deadline)
  local s, err = (addr.family == "inet6" and tcp6 or tcp4)()
  if not s then return nil, err end
  s:settimeout(0)
  local ok
  ok, err = s:connect(addr.addr, port)
  if not ok and err == "timeout" then
    local left = deadline and deadline - now()
    local why = (not left or left > 0) and wait_fd(s, writing, left, "connect") or "timeout"
    if why == "timeout" then
      s:close()
      return nil, "connect timeout"
    end
    -- Connecting again tells how the first attempt ended.
    ok, err = s:connect(addr.addr, port)
    if err == "already connected" then ok = true end
  end
  if not ok then
    s:close()
    return nil, err
  end
  return s
end

--- Connect to host:port within `timeout` seconds (nil: no limit), in a
-- thread.
-- @return a socket, or nil, err: "connection refused", "connect timeout",
--   "dns failure: ...", "connect error: <strerror>"
function B.connect(host, port, timeout)
  current("connect")
  local deadline = timeout and now() + timeout
  -- socket.dns.getaddrinfo blocks the whole process while it waits for a
  -- DNS server (an address literal needs no server). LuaSocket has no
  -- other way; a backend for a host with its own resolver does better.
  local addrs, err = getaddrinfo(host)
  if not addrs or not addrs[1] then
    return nil, "dns failure: " .. tostring(err or "no address")
  end
  local last
  for i = 1, #addrs do
    local s
    s, err = connect_one(addrs[i], port, deadline)
    if s then return wrap(s) end
    last = err
    if err == "connect timeout" then break end
  end
  if last == "connection refused" or last == "connect timeout" then
    return nil, last
  end
  return nil, "connect error: " .. tostring(last)
end

local listener_mt = {}
listener_mt.__index = listener_mt

--- The next connection (in a thread), or nil, "closed" | err.
function listener_mt:accept()
  while self.s do
    local c, err = self.s:accept()
    if c then return wrap(c) end
    if err ~= "timeout" then return nil, err end
    if wait_fd(self.s, reading, nil, "accept") == "closed" then break end
  end
  return nil, "closed"
end

function listener_mt:port()
  return self.port_n
end

--- Stop listening; a thread in accept gets nil, "closed". Idempotent.
function listener_mt:close()
  sock_mt.close(self)
end

--- Listen on host:port (0: any free port).
-- @return a listener, or nil, err
function B.listen(host, port)
  local addrs = getaddrinfo(host)
  local s, err = (addrs and addrs[1] and addrs[1].family == "inet6" and tcp6 or tcp4)()
  if not s then return nil, err end
  -- A restarted simulator must get its port back at once, not after
  -- TIME_WAIT.
  local ok
  ok, err = s:setoption("reuseaddr", true)
  if not ok then
    s:close()
    return nil, "listen: reuseaddr: " .. tostring(err)
  end
  ok, err = s:bind(host, port)
  if ok then ok, err = s:listen(128) end
  if not ok then
    s:close()
    return nil, err
  end
  s:settimeout(0)
  local _, p = s:getsockname()
  return setmetatable({ s = s, port_n = tonumber(p) }, listener_mt)
end

-- ---------------------------------------------------------------------------
-- The loop.

local function run_ready()
  -- Threads woken while these run wait for the next round, so a thread
  -- that keeps waking itself cannot starve the sockets.
  local last = rtail
  while rhead <= last do
    local w = ready[rhead]
    ready[rhead] = nil
    rhead = rhead + 1
    resume(w)
  end
end

local function keys(set)
  local list, n = {}, 0
  for s in pairs(set) do
    n = n + 1
    list[n] = s
  end
  return list
end

--- One turn of the loop: wait for the first socket, timer or thread that
-- is due (not at all when `block` is false), and run what is.
-- @treturn boolean true while anything is active (a thread waiting on a
--   socket or with a timeout, a timer); false when nothing could ever wake
--   the loop again
function B.run_once(block)
  run_ready()
  local busy = rhead <= rtail
  local ntimers = timers:count()
  if nwaiting == 0 and ntimers == 0 and not busy then
    return false
  end
  local timeout = 0
  if block ~= false and not busy then
    local first = timers:next_at()
    timeout = first and first - now()
    if timeout and timeout < 0 then timeout = 0 end
  end
  if nwaiting > 0 then
    local r, w = select_fds(keys(reading), keys(writing), timeout)
    for i = 1, #r do
      local rec = reading[r[i]]
      if rec then wake(rec, "ready") end
    end
    for i = 1, #w do
      local rec = writing[w[i]]
      if rec then wake(rec, "ready") end
    end
  elseif timeout and timeout > 0 then
    sleep(timeout)
  end
  timers:run_due(B.call)
  run_ready()
  return nwaiting > 0 or timers:count() > 0 or rhead <= rtail
end

local d = driver.new(B)
B.client = d.client
B.server = d.server

return B
