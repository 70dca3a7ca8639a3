--- Coroutine scheduling on the event loop.
--
-- Every call that can wait (`client:bind`, `submit`, `wait_receipt`,
-- `smpp.sleep`...) runs in one of three ways, chosen by where it is called:
--
-- * with a callback: asynchronous, returns at once;
-- * inside a coroutine started by `spawn`: yields until its result comes,
--   while the loop serves everything else;
-- * anywhere else (the main thread, or a coroutine this module did not
--   start, such as a test framework's): runs the loop until its own result
--   is in, serving everything else meanwhile.
--
-- Our coroutines are kept in a weak-keyed set, so a coroutine of someone
-- else is never yielded across: its owner would not know how to resume it.
--
-- A wait that runs the loop ends with `nil, "nothing to wait for"` when the
-- loop has nothing active left (no connection, no timer) and its result is
-- not in: nothing could bring it any more, and going round would only spin.
--
-- The loop is the backend's (`smpp.backend`): its clock, timers and turns.
-- It is taken on first use, not when this module loads, so that a program
-- may still choose one (`smpp.use`) after `require "smpp"`.
--
-- @module smpp.loop

local backend = require "smpp.backend"
local compat = require "smpp.compat"

local type = type
local error = error
local xpcall = compat.xpcall
local tostring = tostring
local pairs = pairs
local setmetatable = setmetatable
local co_create = coroutine.create
local co_resume = coroutine.resume
local co_yield = coroutine.yield
local co_running = coroutine.running
local co_status = coroutine.status
local tb = debug.traceback
local pack = compat.pack
local unpack = compat.unpack
local stderr = io.stderr

local _M = { _VERSION = "0.1.0" }

-- What a wait ends with when the loop has nothing active left.
local NOTHING = "nothing to wait for"

-- How many stuck coroutines `run` shows the stack of: enough to find the
-- culprit, not thousands of tracebacks.
local MAX_STUCK_SHOWN = 3

-- Our coroutines. Weak keys: a coroutine that nobody can resume any more
-- (its waiter was dropped) must not be kept alive by this set.
local ours = setmetatable({}, { __mode = "k" })
local live = 0           -- spawned and not finished
local stopping = false   -- smpp.stop() was called
local depth = 0          -- > 0 while a loop callback runs

local function report(msg)
  stderr:write("smpp: ", tostring(msg), "\n")
end

-- Replaceable so tests and programs can route failures elsewhere.
_M.report = report

-- Errors in functions the driver calls itself (a client's `trace`, the
-- simulator's handlers, a bare backend timer) reach the backend's
-- on_error, with the traceback the driver took. Sent on to `report`,
-- looked up at each error, so that the one handler given to `on_error`
-- sees every callback error.
local function from_driver(msg)
  _M.report("callback failed: " .. tostring(msg))
end

-- The backend and its functions, once taken (attach). `self_driven`: a
-- host whose own scheduler runs everything (OpenResty, Tarantool): there
-- every caller is a thread of the host that can wait by itself on a
-- condition, and nothing here ever runs the loop.
local host, host_now, host_timer, host_run_once, self_driven
-- Self-driven hosts: signalled when the last spawned thread ends (run).
local idle
-- Self-driven hosts: conditions of waits that ended, for the next ones.
local conds, nconds, MAX_CONDS = {}, 0, 64

local function attach()
  host = backend.get()
  host_now, host_timer, host_run_once = host.now, host.timer, host.run_once
  self_driven = host.self_driven == true
  host.on_error(from_driver)
end

--- The backend in use, taken now when not yet (see `smpp.backend`):
-- callback errors of its functions then reach `on_error`'s handler.
-- @treturn table
function _M.host()
  if not host then
    attach()
  end
  return host
end

--- Set where errors of spawned coroutines and callbacks go: those wrapped
-- by `callback` and those of functions the driver calls itself (`trace`,
-- the simulator's handlers, backend timers), as well as `run`'s
-- report of coroutines left waiting on nothing.
-- @tparam function fn `fn(msg_with_traceback)`; the default writes one
--   block to stderr
-- @treturn function the previous handler
function _M.on_error(fn)
  if type(fn) ~= "function" then
    error("smpp.on_error: expected a function, got " .. type(fn), 2)
  end
  local prev = _M.report
  _M.report = fn
  -- The driver's handler may have been changed since (smpp.ev's
  -- on_error(nil) restores its one-line default); whoever sets this wants
  -- every error.
  if host then
    host.on_error(from_driver)
  end
  return prev
end

local function resume(co, ...)
  if co_status(co) ~= "suspended" then
    -- A result for a coroutine that is running or dead can only come
    -- from a bug; saying so beats a confusing "cannot resume" later.
    _M.report("internal: result for a " .. co_status(co) .. " coroutine dropped\n" .. tb())
    return
  end
  local ok, err = co_resume(co, ...)
  if not ok then
    _M.report("coroutine failed: " .. tb(co, tostring(err)))
  end
  if co_status(co) == "dead" and ours[co] then
    ours[co] = nil
    live = live - 1
  end
end

--- True when the running code is a coroutine started by `spawn` (on a
-- self-driven host, any thread: each can wait by itself).
function _M.in_ours()
  return self_driven or ours[co_running()] == true
end

--- True while a callback wrapped by `callback` runs.
function _M.in_callback()
  return depth > 0
end

-- Run fn(...) as a callback of the loop (see `callback`); async calls it
-- directly, with no wrapper made per call.
local function call_back(fn, ...)
  depth = depth + 1
  local ok, err = xpcall(fn, tb, ...)
  depth = depth - 1
  if not ok then
    _M.report("callback failed: " .. tostring(err))
  end
end

-- For the client layer: call_back without a wrapper (a record that
-- carries its callback needs no closure per call).
_M.call_back = call_back

-- For the client layer, likewise: the running coroutine when it is one of
-- ours that may yield for a result (then `resume(co, ...)` hands the
-- result over), else nil (wait's other ways apply).
function _M.yieldable()
  if self_driven then
    return nil
  end
  local co = co_running()
  if ours[co] then
    return co
  end
end
_M.resume = resume

--- Wrap a function the loop will call, so that its errors are reported
-- (with traceback) instead of reaching the C driver, and so that a blocking
-- call inside it is caught (running the loop from inside one of its own
-- callbacks would re-enter the driver mid-dispatch).
-- @tparam function fn
-- @treturn function
function _M.callback(fn)
  return function(...)
    return call_back(fn, ...)
  end
end

-- Run the loop until done() says so: true then. False when the loop has
-- nothing active left and done() still says no: then the backend's
-- run_once returns at once and nothing can change done() any more, so
-- going round would spin at full CPU for ever. run_once returns true while
-- something is active and false when nothing is (libev's ev_run); nil,
-- from a backend that does not say, counts as "maybe": keep going.
local function spin(done)
  if not host then
    attach()
  end
  while not done() do
    if host_run_once() == false and not done() then
      return false
    end
  end
  return true
end

-- spin() for the blocking forms, which must not run inside a callback.
local function run_until(done, what)
  if depth > 0 then
    error(what .. ": cannot block inside a callback; pass a callback or use smpp.spawn", 3)
  end
  return spin(done)
end

--- Wait for an asynchronous operation in the caller's way (see above).
-- `begin(done)` starts the operation and returns a true value, or `nil,
-- err[, status]` when it could not start (then `done` is never called);
-- `done(...)` is called exactly once with the results.
-- @tparam function begin
-- @tparam string what name for error messages
-- @return the values given to `done`, or `nil, err, status` from `begin`,
--   or `nil, "nothing to wait for"` when the loop ran out of active
--   watchers first (outside our coroutines; in them, `run` says so)
function _M.wait(begin, what)
  if not host then
    attach()
  end
  local co = co_running()
  local results
  if self_driven then
    -- The host's thread waits on a condition; the result may come before
    -- it waits (then it does not).
    if depth > 0 then
      error(what .. ": cannot block inside a callback; pass a callback", 2)
    end
    -- Conditions are reused: `done` runs once, so none is signalled
    -- after its wait is over (and a signal with no waiter leaves nothing).
    local c = conds[nconds]
    if c then
      conds[nconds] = nil
      nconds = nconds - 1
    else
      c = host.cond()
    end
    local ok, err, status = begin(function(...)
      results = pack(...)
      c:signal()
    end)
    if ok then
      while not results do
        c:wait()
      end
    end
    if nconds < MAX_CONDS then
      nconds = nconds + 1
      conds[nconds] = c
    end
    if not ok then
      return nil, err, status
    end
    return unpack(results, 1, results.n)
  end
  if ours[co] then
    local waiting = false
    local ok, err, status = begin(function(...)
      if waiting then
        resume(co, ...)
      else
        results = pack(...)
      end
    end)
    if not ok then
      return nil, err, status
    end
    if results then
      return unpack(results, 1, results.n)
    end
    waiting = true
    return co_yield()
  end

  if depth > 0 then
    error(what .. ": cannot block inside a callback; pass a callback or use smpp.spawn", 3)
  end
  local ok, err, status = begin(function(...)
    results = pack(...)
  end)
  if not ok then
    return nil, err, status
  end
  -- `done` may still come after we gave up (a close, say): it only fills
  -- `results`, which nobody reads any more.
  if not spin(function() return results ~= nil end) then
    return nil, NOTHING
  end
  return unpack(results, 1, results.n)
end

-- For async and the client layer: call_back(fn, ...) from the loop's next
-- turn, for a result that came before the call that asked for it returned.
function _M.call_later(fn, ...)
  local args = pack(...)
  local t
  t = host_timer(0, function()
    t:stop()
    call_back(fn, unpack(args, 1, args.n))
  end)
end

--- Start an asynchronous operation for a caller that gave a callback.
-- The callback runs from the loop, never before this returns, so code
-- after the call always runs first whatever the operation's speed.
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string err when the operation could not start (`cb` is then
--   never called)
function _M.async(begin, cb)
  if not host then
    attach()
  end
  local returned = false
  local ok, err, status = begin(function(...)
    if returned then
      return call_back(cb, ...)
    end
    _M.call_later(cb, ...)
  end)
  returned = true
  if not ok then
    return nil, err, status
  end
  return true
end

--- Start `fn(...)` in a new coroutine on the loop. It runs at once until
-- it first waits. An error in it is reported with its traceback and ends
-- that coroutine only.
-- @tparam function fn
-- @return the coroutine
function _M.spawn(fn, ...)
  if type(fn) ~= "function" then
    error("smpp.spawn: expected a function, got " .. type(fn), 2)
  end
  if not host then
    attach()
  end
  if self_driven then
    -- A thread of the host's own (fiber, timer), so that it waits as
    -- the host's threads do; counted for `run`.
    live = live + 1
    return host.spawn(function(...)
      local ok, err = xpcall(fn, tb, ...)
      live = live - 1
      if not ok then
        _M.report("coroutine failed: " .. tostring(err))
      end
      if live == 0 and idle then
        idle:signal()
      end
    end, ...)
  end
  local co = co_create(fn)
  ours[co] = true
  live = live + 1
  resume(co, ...)
  return co
end

--- Wait `s` seconds: yields inside our coroutines, runs the loop elsewhere.
-- @tparam number s
function _M.sleep(s)
  if type(s) ~= "number" or s < 0 then
    error("smpp.sleep: expected seconds >= 0, got " .. tostring(s), 2)
  end
  if not host then
    attach()
  end
  if self_driven then
    return host.sleep(s)
  end
  local co = co_running()
  if ours[co] then
    local t
    t = host_timer(s, function()
      t:stop()
      resume(co)
    end)
    co_yield()
    return
  end
  local fired = false
  local t = host_timer(s, function()
    fired = true
  end)
  run_until(function()
    return fired
  end, "smpp.sleep")
  t:stop()
end

-- Reported by `run` when its coroutines wait for what cannot come: how
-- many, and where the first few wait.
local function stuck_report()
  local n, shown = 0, {}
  for co in pairs(ours) do
    n = n + 1
    if n <= MAX_STUCK_SHOWN then
      shown[n] = tb(co, "coroutine " .. n .. " waits here:")
    end
  end
  -- A coroutine collected while waiting (whatever would have resumed it
  -- was dropped) can never finish: stop counting it.
  live = n
  local msg = "smpp.run: " .. n .. " spawned coroutine(s) wait, but the loop has nothing"
    .. " active left (no connection, no timer) that could wake them"
  for i = 1, #shown do
    msg = msg .. "\n" .. shown[i]
  end
  return msg
end

--- Run the loop until every spawned coroutine has finished, or `stop` is
-- called. With `fn`, spawn `fn(...)` first.
-- @tparam[opt] function fn
-- @treturn[1] boolean true when all finished, false when stopped
-- @treturn[2] nil when spawned coroutines still wait but the loop has
--   nothing active left that could wake them (reported, with where they
--   wait, to the `on_error` handler); they stay suspended
-- @treturn[2] string `"nothing to wait for"`
function _M.run(fn, ...)
  if not host then
    attach()
  end
  if self_driven then
    -- The host runs everything already: wait (this thread only) until
    -- the spawned threads are done, or stop().
    if fn ~= nil then
      _M.spawn(fn, ...)
    end
    stopping = false
    idle = idle or host.cond()
    while live > 0 and not stopping do
      idle:wait(0.1)
    end
    local finished = not stopping
    stopping = false
    return finished
  end
  if ours[co_running()] then
    error("smpp.run: called inside a spawned coroutine; it already runs on the loop", 2)
  end
  if fn ~= nil then
    _M.spawn(fn, ...)
  end
  stopping = false
  local ok = run_until(function()
    return live == 0 or stopping
  end, "smpp.run")
  if not ok then
    stopping = false
    _M.report(stuck_report())
    return nil, NOTHING
  end
  local finished = not stopping
  stopping = false
  return finished
end

--- Make `run` return after the current loop iteration.
function _M.stop()
  stopping = true
  if idle then
    idle:signal()
  end
end

--- The loop's cached time, in seconds.
-- @treturn number
function _M.now()
  if not host then
    attach()
  end
  return host_now()
end

--- Number of spawned coroutines not finished yet.
-- @treturn integer
function _M.running()
  return live
end

return _M
