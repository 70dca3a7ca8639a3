--- A pool of binds of one account, with the client's methods.
--
-- `size` clients (each its own link, reconnecting by itself) share one
-- store of receipts and one `on_receipt`: a receipt arriving on any bind
-- reaches its waiter. A submit goes to a bound client with room in its
-- window, the one with the fewest in flight; while none is bound, to the
-- client with the fewest waiting, whose queue holds it for the rebind.
--
--     local p = smpp.pool { size = 4, host = "127.0.0.1", port = 2775,
--                           system_id = "test", password = "secret" }
--     assert(p:bind())
--     local res = assert(p:send_otp { to = "+6598765432",
--         template = "otp-login", code = "123456", wait_receipt = 60 })
--     p:close()
--
-- @classmod smpp.pool

local client = require "smpp.client"
local histogram = require "smpp.histogram"
local loop = require "smpp.loop"

local type = type
local pairs = pairs
local error = error
local tostring = tostring
local setmetatable = setmetatable
local floor = math.floor
local str_format = string.format
local wait = loop.wait
local async = loop.async

local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }

local DEFAULT_SIZE = 2

local function check_cb(cb, what)
  if cb ~= nil and type(cb) ~= "function" then
    error(what .. ": callback must be a function, got " .. type(cb), 3)
  end
end

--- Create a pool. Nothing is sent until `bind`.
-- @tparam table opts `size` (2): how many binds; the rest as `smpp.client`
--   takes them, for each bind
-- @treturn smpp.pool
function _M.new(opts)
  if type(opts) ~= "table" then
    error("smpp.pool: expected a table of options, got " .. type(opts), 2)
  end
  local size = opts.size
  if size == nil then
    size = DEFAULT_SIZE
  elseif type(size) ~= "number" or size < 1 or floor(size) ~= size then
    error("smpp.pool: size must be an integer >= 1, got " .. tostring(size), 2)
  end
  local copts = {}
  for k, v in pairs(opts) do
    if k ~= "size" then
      copts[k] = v
    end
  end
  local acct = client._account(copts)
  local members = {}
  for i = 1, size do
    local c, err = client._member(copts, acct)
    if not c then
      for j = 1, i - 1 do
        members[j]:close()
      end
      return nil, err
    end
    members[i] = c
  end
  return setmetatable({ members = members, size = size, acct = acct,
                        system_id = opts.system_id, host = opts.host, port = opts.port }, mt)
end

--- Bind every client at once.
-- @tparam[opt] function cb `cb(true)` or `cb(nil, err, status)`
-- @treturn[1] true once every bind succeeded
-- @treturn[2] nil, err, status: the first failure (as `client:bind`); the
--   pool is then closed
function _M:bind(cb)
  check_cb(cb, "pool:bind")
  local members = self.members
  local begin = function(done)
    local left, failed = #members, nil
    local function one(ok, err, status)
      left = left - 1
      if not ok and not failed then
        failed = { err, status }
      end
      if left == 0 then
        if failed then
          for i = 1, #members do
            members[i]:close(function() end)
          end
          return done(nil, failed[1], failed[2])
        end
        done(true)
      end
    end
    for i = 1, #members do
      local ok, err, status = members[i]:bind(one)
      if not ok then
        one(nil, err, status)
      end
    end
    return true
  end
  if cb then
    return async(begin, cb)
  end
  return wait(begin, "pool:bind")
end

-- The client a submit goes to: bound with room in its window and the
-- fewest in flight; else bound with the fewest in flight (its own queue
-- holds it); else the open one with the fewest waiting.
function _M:pick()
  local best, best_n, full, full_n, down, down_n
  local members = self.members
  for i = 1, #members do
    local c = members[i]
    local st = c._st
    if st.phase == "bound" then
      local n = st.inflight
      if n < st.window then
        if not best or n < best_n then
          best, best_n = c, n
        end
      elseif not full or n < full_n then
        full, full_n = c, n
      end
    elseif not st.closed and not st.closing and (not down or st.qn < down_n) then
      down, down_n = c, st.qn
    end
  end
  return best or full or down or members[1]
end

--- Submit one message on the best bind (see `client:submit`).
function _M:submit(fields, cb)
  if type(fields) ~= "table" then
    error("pool:submit: expected a table of submit_sm fields (see smpp.otp), got "
      .. type(fields), 2)
  end
  check_cb(cb, "pool:submit")
  return self:pick():submit(fields, cb)
end

--- Send an OTP on the best bind (see `client:send_otp`).
function _M:send_otp(opts, cb)
  if type(opts) ~= "table" then
    error("pool:send_otp: expected a table of fields, got " .. type(opts), 2)
  end
  check_cb(cb, "pool:send_otp")
  return self:pick():send_otp(opts, cb)
end

--- Wait for a receipt, whichever bind it comes on (see
-- `client:wait_receipt`).
function _M:wait_receipt(message_id, timeout, cb)
  if type(message_id) ~= "string" then
    error("pool:wait_receipt: expected a message_id string, got " .. type(message_id), 2)
  end
  check_cb(cb, "pool:wait_receipt")
  return self.members[1]:wait_receipt(message_id, timeout, cb)
end

--- Set the handler of every receipt, from any bind.
function _M:on_receipt(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("pool:on_receipt: expected a function or nil, got " .. type(fn), 2)
  end
  return self.members[1]:on_receipt(fn)
end

-- Set a handler on every client, which gets the client's number last.
local function each(self, method, fn, what)
  if fn ~= nil and type(fn) ~= "function" then
    error("pool:" .. what .. ": expected a function or nil, got " .. type(fn), 3)
  end
  local prev = self[what .. "_fn"]
  self[what .. "_fn"] = fn
  for i = 1, #self.members do
    local c = self.members[i]
    c[method](c, fn and function(a, b)
      return fn(a, b, i)
    end)
  end
  return prev
end

--- `fn(state, reason, i)` for every change of bind `i`'s state.
function _M:on_state(fn)
  return each(self, "on_state", fn, "on_state")
end

--- `fn(level, msg, i)` for bind `i`'s log (see `client:on_log`).
function _M:on_log(fn)
  return each(self, "on_log", fn, "on_log")
end

--- `fn(reason, i)` when bind `i` ends for good.
function _M:on_close(fn)
  return each(self, "on_close", fn, "on_close")
end

--- Close every bind (see `client:close`).
-- @tparam[opt] function cb `cb(true)` once all are closed
-- @treturn true
function _M:close(cb)
  check_cb(cb, "pool:close")
  local members = self.members
  local begin = function(done)
    local left = #members
    for i = 1, #members do
      members[i]:close(function()
        left = left - 1
        if left == 0 then
          done(true)
        end
      end)
    end
    return true
  end
  if cb then
    return async(begin, cb)
  end
  if loop.in_callback() and not loop.in_ours() then
    return begin(function() end)
  end
  return wait(begin, "pool:close")
end

-- How far along each state is, for the pool's own: the best of its binds.
local RANK = { bound = 6, unbinding = 5, binding = 4, connecting = 3, reconnecting = 2,
               idle = 1, closed = 0 }

--- The best state among the binds (`"bound"` while any is).
-- @treturn string
function _M:state()
  local best, rank = "closed", -1
  for i = 1, #self.members do
    local s = self.members[i]:state()
    if RANK[s] > rank then
      best, rank = s, RANK[s]
    end
  end
  return best
end

-- Numbers summed into acc, nested tables (answers by status, receipts by
-- stat) too.
local function add_into(acc, t)
  for k, v in pairs(t) do
    if type(v) == "number" then
      acc[k] = (acc[k] or 0) + v
    elseif type(v) == "table" then
      acc[k] = add_into(type(acc[k]) == "table" and acc[k] or {}, v)
    end
  end
  return acc
end

--- Counters summed over the binds (see `client:stats`), with the store's
-- `receipts_kept` and `receipt_waiters` once, latency over all binds, the
-- last error of any, and `binds`: each bind's state.
-- @treturn table
function _M:stats()
  local members = self.members
  local sum, binds = {}, {}
  local answer = histogram.new()
  local last
  for i = 1, #members do
    local s = members[i]:stats()
    binds[i] = members[i]:state()
    last = s.last_error or last
    s.latency, s.last_error = nil, nil
    s.receipts_kept, s.receipt_waiters = nil, nil
    add_into(sum, s)
    answer:merge(members[i]._st.h_answer)
  end
  local rx = self.acct.rx
  sum.receipts_kept = rx:count()
  sum.receipt_waiters = rx:waiters()
  sum.latency = { answer = answer:summary(), receipt = self.acct.h_receipt:summary() }
  sum.last_error = last
  sum.binds = binds
  return sum
end

function mt.__tostring(self)
  -- Never the password: this string ends up in logs.
  return str_format("smpp.pool{%s@%s:%s, %d binds, %s}", tostring(self.system_id),
    tostring(self.host), tostring(self.port), self.size, self:state())
end

function mt.__close(self)
  self:close()
end

return _M
