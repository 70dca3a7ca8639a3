--- The OpenResty backend: nginx's cosockets, timers and semaphores, so the
-- client lives in an nginx worker beside the requests it serves.
--
-- Chosen by `require "smpp"` inside nginx (`ngx.timer` present). What
-- nginx imposes, and how this follows it:
--
-- * A cosocket belongs to the request or timer that made it, and dies with
--   it. So a link never lives in a request: its connect runs in a
--   background timer of its own (`ngx.timer.at(0)`), and its reader and
--   writer are light threads of that same timer (`ngx.thread.spawn`), which
--   lives as long as they do. A request only touches the session (in Lua
--   memory) and wakes the writer through a semaphore.
-- * A request that waits (`submit`, `send_otp`, `wait_receipt`) waits on an
--   `ngx.semaphore`: it yields that request only.
-- * A cosocket writes whole (its send waits until all is taken): the
--   driver counts the bytes as sent when it hands them over (`send_waits`).
-- * Timers are a heap served by one background thread per worker (the
--   ticker), not one nginx timer each: those stay pending until they fire,
--   stopped or not, and lua_max_pending_timers would refuse them.
-- * A reload or a quit runs every pending nginx timer at once,
--   "premature" (the ticker keeps one to hear of it; it also looks every
--   second): every client of the worker is closed gracefully (unbind), no
--   client reconnects from then on (`exiting`), and the ticker serves the
--   timers left (a wait's time limit) before the worker goes.
--
-- There is no SMPP server here: run the simulator in its own process.
--
-- @module smpp.backend.ngx

local core = require "smpp.core"
local driver = require "smpp.driver"
local semaphore = require "ngx.semaphore"

local ngx = ngx
local error = error
local pcall = pcall
local select = select
local pairs = pairs
local tostring = tostring
local setmetatable = setmetatable
local unpack = unpack or table.unpack -- luacheck: ignore (LuaJIT's global)
local co_running = coroutine.running
local str_find = string.find
local str_format = string.format
local timer_at = ngx.timer.at
local thread_spawn = ngx.thread.spawn
local ngx_sleep = ngx.sleep
local ngx_log = ngx.log
local ERR = ngx.ERR
local now = core.now

local B = { name = "ngx", now = now, self_driven = true, send_waits = true,
            shared_receipts = true }

-- A wait with no limit: nginx takes milliseconds in 32 bits (a longer
-- wait wraps to none at all), so a day, and the waiters look again.
local FOREVER = 86400
-- How often a reader blocked on a quiet socket looks whether the socket
-- was closed from another request or timer (which cannot close it itself).
local POLL = 1

-- ---------------------------------------------------------------------------
-- Errors of the functions the backend calls: to nginx's error log.

local errors = require("smpp.backend.errors").new(function(line)
  ngx_log(ERR, "smpp: ", line)
end)
B.on_error, B.call = errors.on_error, errors.call

-- ---------------------------------------------------------------------------
-- The worker's end (reload, quit): every link of the worker closes
-- gracefully (unbind), once.

local exiting = false
local links = setmetatable({}, { __mode = "k" })

local function on_exit()
  if exiting then return end
  exiting = true
  for link in pairs(links) do
    pcall(link.close, link)
  end
end

--- True once the worker is shutting down (reload, quit): no reconnects.
function B.exiting()
  return exiting or ngx.worker.exiting()
end

-- ---------------------------------------------------------------------------
-- Threads: the entry thread of a background timer, or a light thread of
-- one. Coroutines that are such threads are kept (weak) so that a spawn
-- from one stays in its timer: where the link's cosocket lives.

local ours = setmetatable({}, { __mode = "k" })

local function run_thread(fn, args, n)
  ours[co_running()] = true
  B.call(fn, unpack(args, 1, n))
end

--- `fn(...)` in a new thread, started after spawn returns: a light thread
-- of the running background thread, or else a background timer of its own.
function B.spawn(fn, ...)
  local args, n = { ... }, select("#", ...)
  if ours[co_running()] then
    local co, err = thread_spawn(function()
      -- ngx.thread.spawn runs the thread at once: let the caller go on.
      ngx_sleep(0.001)
      run_thread(fn, args, n)
    end)
    if not co then error("smpp: ngx.thread.spawn: " .. tostring(err), 2) end
    return co
  end
  local ok, err = timer_at(0, function(premature)
    ours[co_running()] = true
    if premature then on_exit() end
    run_thread(fn, args, n)
  end)
  if not ok then error("smpp: ngx.timer.at: " .. tostring(err), 2) end
  return true
end

local cond_mt = {}
cond_mt.__index = cond_mt

function cond_mt:wait(timeout)
  local ok, err = self.sema:wait(timeout or FOREVER)
  if ok then return true end
  if err == "timeout" then return nil, "timeout" end
  error("smpp: ngx.semaphore wait: " .. tostring(err), 2)
end

function cond_mt:signal()
  local sema = self.sema
  local waiting = -sema:count()
  if waiting > 0 then sema:post(waiting) end
end

function B.cond()
  return setmetatable({ sema = semaphore.new(0) }, cond_mt)
end

-- Timers: smpp.timers' heap, served by one background thread per worker
-- (the ticker). nginx's own timers each cost a fake request and stay
-- pending until they fire, stopped or not: at thousands of requests a
-- second, their time limits would soon reach lua_max_pending_timers (1024)
-- and be refused. The ticker sleeps on a semaphore until the first timer
-- is due; a timer that comes earlier wakes it. Functions the timers run
-- (and threads they spawn) run in the ticker's background timer.

local timers = require("smpp.timers").new(now)
local tick = semaphore.new(0)
local ticker_on = false
local ticker_wakes_at  -- while the ticker sleeps: when it looks next
-- The ticker looks whether the worker exits at least this often.
local EXIT_POLL = 1
-- The shortest sleep: a shorter one would not yield at all (nginx counts
-- milliseconds).
local MIN_SLEEP = 0.001

local function ticker()
  ours[co_running()] = true
  while true do
    timers:run_due(B.call)
    if not exiting and ngx.worker.exiting() then on_exit() end
    local first = timers:next_at()
    -- Exiting, with nothing left to do: let the worker go.
    if exiting and not first then break end
    local wait = first and first - now() or EXIT_POLL
    if wait > EXIT_POLL then wait = EXIT_POLL end
    if wait > 0 then
      if wait < MIN_SLEEP then wait = MIN_SLEEP end
      ticker_wakes_at = now() + wait
      tick:wait(wait)
      ticker_wakes_at = nil
    end
  end
  ticker_on = false
end

-- nginx runs pending timers early when the worker exits: this one tells
-- the ticker at once (and re-arms itself once a day otherwise).
local function sentinel(premature)
  if premature then
    on_exit()
    tick:post(1)
  else
    timer_at(86400, sentinel)
  end
end

local function start_ticker()
  ticker_on = true
  local ok, err = timer_at(0, function(premature)
    if premature then on_exit() end
    ticker()
  end)
  if not ok and ours[co_running()] then
    -- nginx makes no new timers while the worker exits: a thread then.
    ok, err = thread_spawn(ticker)
  end
  if not ok then
    ticker_on = false
    error("smpp: cannot start the timer thread: " .. tostring(err), 3)
  end
  timer_at(86400, sentinel)
end

--- One-shot timer: `fn()` after `after` seconds, in the ticker's thread;
-- `t:stop()` and it never runs.
function B.timer(after, fn)
  local t = timers:add(after, fn)
  if not ticker_on then
    start_ticker()
  elseif ticker_wakes_at and t.at < ticker_wakes_at then
    ticker_wakes_at = nil -- one wake is enough
    tick:post(1)
  end
  return t
end

function B.sleep(s)
  ngx_sleep(s)
end

-- ---------------------------------------------------------------------------
-- Sockets.

local sock_mt = {}
sock_mt.__index = sock_mt

--- Write all of data (waits, in the link's timer): #data, or nil, err.
function sock_mt:send(data)
  local s = self.s
  if not s then return nil, "closed" end
  s:settimeout(self.send_timeout)
  local n, err = s:send(data)
  if not n then return nil, err end
  return #data
end

function sock_mt:receive_some(max, timeout)
  local deadline = timeout and now() + timeout
  while true do
    local s = self.s
    if not s then return nil, "closed" end
    if self.closing then
      self:close()
      return nil, "closed"
    end
    local left = deadline and deadline - now()
    if left and left <= 0 then return nil, "timeout" end
    local wait = left and left < POLL and left or POLL
    s:settimeout(wait * 1000)
    local data, err = s:receiveany(max)
    if data then return data end
    if err ~= "timeout" then
      self:close()
      return nil, err == "closed" and "closed" or err
    end
  end
end

function sock_mt:peer()
  return self.peer_name
end

--- Close. From another request or timer than the link's, the cosocket
-- cannot be touched: the reader closes it within POLL seconds.
function sock_mt:close()
  local s = self.s
  if not s then return end
  if pcall(s.close, s) then
    self.s = nil
  else
    self.closing = true
  end
end

-- nginx's words for a failed connect, as bind's tokens.
local function connect_error(err)
  err = tostring(err)
  if err == "timeout" then return "connect timeout" end
  if err == "connection refused" then return err end
  if str_find(err, "resolve", 1, true) or str_find(err, "resolver", 1, true) then
    return "dns failure: " .. err
  end
  return "connect error: " .. err
end

--- Connect within `timeout` seconds (nil: no limit), in a background thread.
-- A host name needs nginx's `resolver` directive; an address does not.
function B.connect(host, port, timeout)
  local s = ngx.socket.tcp()
  s:settimeout((timeout and timeout > 0 and timeout or FOREVER) * 1000)
  local ok, err = s:connect(host, port)
  if not ok then
    pcall(s.close, s)
    return nil, connect_error(err)
  end
  return setmetatable({ s = s, peer_name = str_format("%s:%d", host, port),
                        send_timeout = 30000 }, sock_mt)
end

-- No listening here (see the top).
function B.listen()
  return nil, "no SMPP server on the OpenResty backend: run bin/smpp-sim in its own process"
end

local d = driver.new(B)

function B.client(opts)
  local link, err = d.client(opts)
  if link then links[link] = true end
  return link, err
end

function B.server()
  error("smpp: no SMPP server on the OpenResty backend: run bin/smpp-sim in its own process", 2)
end

B.receipts = require("smpp.backend.ngx_receipts").new

return B
