--- One-shot timers in a binary heap on (at, seq), for backends that serve
-- their own timers (LuaSocket's loop, OpenResty's ticker thread, one
-- libev timer for all). Each timer knows its place, so `stop` is
-- O(log n) and a stopped timer costs nothing more.
--
--   local timers = require("smpp.timers").new(now [, on_empty])
--   local t = timers:add(after, fn)   -- t:stop()
--   timers:next_at()                  -- when the first is due, or nil
--   timers:run_due(call)              -- call(fn) for each one due now
--   timers:count()
--
-- @module smpp.timers

local type = type
local error = error
local tostring = tostring
local setmetatable = setmetatable
local str_format = string.format

local _M = {}
local mt = { __index = _M }

local function less(a, b)
  return a.at < b.at or (a.at == b.at and a.seq < b.seq)
end

local function place(heap, t, i)
  heap[i] = t
  t.i = i
end

local function up(heap, i)
  local t = heap[i]
  while i > 1 do
    local p = (i - i % 2) / 2
    if not less(t, heap[p]) then break end
    place(heap, heap[p], i)
    i = p
  end
  place(heap, t, i)
end

local function down(heap, n, i)
  local t = heap[i]
  while true do
    local c = 2 * i
    if c > n then break end
    if c < n and less(heap[c + 1], heap[c]) then c = c + 1 end
    if not less(heap[c], t) then break end
    place(heap, heap[c], i)
    i = c
  end
  place(heap, t, i)
end

local function remove(self, t)
  local heap, i = self.heap, t.i
  t.i = nil
  local n = self.n
  local last = heap[n]
  heap[n] = nil
  n = n - 1
  self.n = n
  if last ~= t then
    place(heap, last, i)
    up(heap, i)
    down(heap, n, last.i)
  end
end

local timer_mt = {}
timer_mt.__index = timer_mt

--- Stop the timer; it will not fire. Idempotent.
function timer_mt:stop()
  if self.i then
    local set = self.set
    remove(set, self)
    if set.n == 0 and set.on_empty then
      set.on_empty()
    end
  end
end

function timer_mt:__tostring()
  return str_format("smpp.timer(%s)", self.i and "active" or "stopped")
end

--- A set of timers on the clock `now` (a function: seconds).
-- `on_empty` (optional): called when a stop leaves no timer (a backend
-- that serves the set from one timer of its own stops that one then).
function _M.new(now, on_empty)
  return setmetatable({ heap = {}, n = 0, seq = 0, now = now, on_empty = on_empty }, mt)
end

--- `fn()` due `after` seconds from now. Raises at the caller of the
-- backend's timer() on bad arguments.
function _M:add(after, fn)
  if type(after) ~= "number" or after ~= after or after < 0 then
    error("timer: seconds >= 0 expected, got " .. tostring(after), 3)
  end
  if type(fn) ~= "function" then
    error("timer: function expected, got " .. type(fn), 3)
  end
  local seq = self.seq + 1
  self.seq = seq
  local n = self.n + 1
  self.n = n
  local t = setmetatable({ at = self.now() + after, seq = seq, fn = fn, set = self }, timer_mt)
  place(self.heap, t, n)
  up(self.heap, n)
  return t
end

--- When the first timer is due, or nil when there is none.
function _M:next_at()
  local first = self.heap[1]
  return first and first.at
end

--- Run every timer due now, each through `call(fn)`, in order; timers
-- added meanwhile for now or earlier run too.
function _M:run_due(call)
  local t = self.now()
  local heap = self.heap
  while self.n > 0 and heap[1].at <= t do
    local tm = heap[1]
    remove(self, tm)
    call(tm.fn)
  end
end

--- Timers pending.
function _M:count()
  return self.n
end

return _M
