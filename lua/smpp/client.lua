--- The SMPP client for the EngageLab gateway.
--
-- A thin layer over the backend's asynchronous client (`smpp.ev`'s in C on
-- libev, `smpp.driver`'s elsewhere: see `smpp.backend`) that adds the three
-- ways of waiting (callback, coroutine, blocking: see `smpp.loop`), a store
-- of recent receipts so that a receipt is never lost for arriving early, and
-- `send_otp` for the common flow.
--
--     local c = smpp.client { host = "127.0.0.1", port = 2775,
--                             system_id = "test", password = "secret" }
--     assert(c:bind())
--     local res = assert(c:send_otp { to = "+6598765432",
--         template = "otp-login", code = "123456", wait_receipt = 60 })
--     print(res.message_id, res.stat)
--     c:close()
--
-- @classmod smpp.client

local loop = require "smpp.loop"
local template = require "smpp.template"
local receipts = require "smpp.receipts"

local type = type
local pairs = pairs
local ipairs = ipairs
local error = error
local pcall = pcall
local tostring = tostring
local setmetatable = setmetatable
local math_type = math.type
local str_format = string.format
local str_gsub = string.gsub
local wait = loop.wait
local async = loop.async
local callback = loop.callback
local build = template.build

-- The backend's clock, timers and clients, taken at the first
-- smpp.client(): a program may choose the backend until then.
local host_now, host_timer, host_client, host_receipts

-- Timers for the receipt store: its callbacks' errors are reported.
local function rx_timer(after, fn)
  return host_timer(after, callback(fn))
end

local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }

-- The driver's own word for a submit before bind; a wait for a receipt
-- says the same, as nothing can arrive on a session never bound.
local NOT_BOUND = "not bound: call bind first"

local DEFAULT_KEEP = 10000
local DEFAULT_TTL = 600

local function check_cb(cb, what)
  if cb ~= nil and type(cb) ~= "function" then
    error(what .. ": callback must be a function, got " .. type(cb), 3)
  end
end

local function check_seconds(v, what, name)
  if v ~= nil and (type(v) ~= "number" or v < 0 or v ~= v) then
    error(str_format("%s: %s must be seconds >= 0, got %s", what, name, tostring(v)), 3)
  end
end

local function on_receipt(st, r)
  st.rx:put(r)
  if st.handler then
    st.handler(r)
  end
end

local function on_close(st, reason)
  local first = not st.closed
  st.closed = true
  st.reason = st.reason or reason
  -- Nothing more can arrive on this session: no receipt will come.
  st.rx:wake_all("closed")
  local list = st.close_waiters
  st.close_waiters = {}
  for _, done in ipairs(list) do
    done(true)
  end
  if first and st.close_handler then
    st.close_handler(reason)
  end
end

-- begin functions for loop.wait / loop.async -----------------------------

local function begin_wait(st, id, timeout)
  return function(done)
    local r = st.rx:find(id)
    if r then
      done(r)
      return true
    end
    if st.closed or st.closing then
      return nil, "closed"
    end
    -- Before bind the client has no socket and no timer on the loop: a
    -- wait without timeout would have nothing to end it.
    if st.link:state() == "idle" then
      return nil, NOT_BOUND
    end
    return st.rx:wait(id, timeout, done)
  end
end

--- Create a client. Nothing is sent until `bind`.
-- @tparam table opts `host`, `port`, `system_id`, `password` (required);
--   `system_type`, `window` (10), `queue_size` (10000), `connect_timeout`,
--   `bind_timeout`, `response_timeout` (10 s each), `enquire_link_interval`
--   (30 s), `max_pdu`, `trace` as the backend's client takes them; `receipts_keep`
--   (10000) and `receipts_ttl` (600 s) bound the store of recent receipts
-- @treturn smpp.client
function _M.new(opts)
  if type(opts) ~= "table" then
    error("smpp.client: expected a table of options, got " .. type(opts), 2)
  end
  if not host_client then
    local host = loop.host()
    host_now, host_timer, host_client = host.now, host.timer, host.client
    host_receipts = host.receipts or receipts.new
  end
  local keep, ttl = DEFAULT_KEEP, DEFAULT_TTL
  local lopts = {}
  for k, v in pairs(opts) do
    if k == "receipts_keep" then
      if math_type(v) ~= "integer" or v < 0 then
        error("smpp.client: receipts_keep must be an integer >= 0, got " .. tostring(v), 2)
      end
      keep = v
    elseif k == "receipts_ttl" then
      if type(v) ~= "number" or v < 0 then
        error("smpp.client: receipts_ttl must be seconds >= 0, got " .. tostring(v), 2)
      end
      ttl = v
    else
      lopts[k] = v
    end
  end

  -- The driver checks its own options; its complaint is re-raised here so
  -- that it points at the caller's line, not at this file.
  local ok, link, err = pcall(host_client, lopts)
  if not ok then
    error("smpp.client: " .. str_gsub(tostring(link), "^[^:]*:%d+: ", ""), 2)
  end
  if not link then
    return nil, err
  end

  -- The driver's callbacks hold `st`, never the client object, so that a
  -- client the program dropped can be collected (and its __gc close the
  -- session) even when the driver keeps its callbacks alive.
  local st = {
    link = link,
    host = opts.host, port = opts.port, system_id = opts.system_id,
    rx = host_receipts { keep = keep, ttl = ttl, now = host_now, timer = rx_timer },
    close_waiters = {},
    closed = false, closing = false,
  }
  link:on_receipt(callback(function(r)
    on_receipt(st, r)
  end))
  link:on_close(callback(function(reason)
    on_close(st, reason)
  end))
  return setmetatable({ _st = st }, mt)
end

--- Connect and bind (bind_transceiver).
-- @tparam[opt] function cb `cb(true)` or `cb(nil, err, status)`; without it
--   the call waits (yields in `smpp.spawn` coroutines, else runs the loop)
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string err: `"connection refused"`, `"connect timeout"`,
--   `"dns failure: ..."`, `"connect error: <strerror>"`, `"bind timeout"`,
--   `"authentication failed"`, `"closed"` (closed before or while binding),
--   `"bind already called"` (a client binds once), or a
--   bind_transceiver_resp status name
-- @treturn[2] integer status, when the gateway answered with one
function _M:bind(cb)
  check_cb(cb, "client:bind")
  local link = self._st.link
  local begin = function(done)
    return link:bind(done)
  end
  if cb then
    return async(begin, cb)
  end
  return wait(begin, "client:bind")
end

--- Submit one message.
-- @tparam table fields submit_sm fields, as `smpp.otp`, `smpp.message` and
--   `smpp.marketing` build them
-- @tparam[opt] function cb `cb(res, err, status)`
-- @treturn[1] table `{message_id = "...", sequence_number = n}`
-- @treturn[2] nil
-- @treturn[2] string err: a status name (`"ESME_RSUBMITFAIL"`, or
--   `"0x%08X"` when unknown), `"timeout"`, `"connection lost"` (sent,
--   outcome unknown: do not resend blindly), `"not sent"`, `"closed"`,
--   `"queue full"`, `"not bound: call bind first"`, or a field error
-- @treturn[2] integer status, for a gateway status
function _M:submit(fields, cb)
  if type(fields) ~= "table" then
    error("client:submit: expected a table of submit_sm fields (see smpp.otp), got "
      .. type(fields), 2)
  end
  check_cb(cb, "client:submit")
  local link = self._st.link
  local begin = function(done)
    return link:submit(fields, done)
  end
  if cb then
    return async(begin, cb)
  end
  return wait(begin, "client:submit")
end

--- Set the handler every receipt goes to (`wait_receipt` is served too).
-- @tparam function|nil fn `fn(r)`: `r.message_id`, `r.stat`, `r.err`,
--   `r.state`, `r.done_date`, `r.raw`... (see README, "Receipts")
-- @treturn function|nil the previous handler
function _M:on_receipt(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("client:on_receipt: expected a function or nil, got " .. type(fn), 2)
  end
  local st = self._st
  local prev = st.handler_fn
  st.handler_fn = fn
  st.handler = fn and callback(fn)
  return prev
end

--- Set the handler called once when the session ends.
-- @tparam function|nil fn `fn(reason)`
-- @treturn function|nil the previous handler
function _M:on_close(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("client:on_close: expected a function or nil, got " .. type(fn), 2)
  end
  local st = self._st
  local prev = st.close_handler_fn
  st.close_handler_fn = fn
  st.close_handler = fn and callback(fn)
  return prev
end

--- Set the handler for deliver_sm that are not receipts.
-- @tparam function|nil fn `fn(pdu)`
-- @treturn function|nil the previous handler
function _M:on_deliver(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("client:on_deliver: expected a function or nil, got " .. type(fn), 2)
  end
  local st = self._st
  local prev = st.deliver_fn
  st.deliver_fn = fn
  st.link:on_deliver(fn and callback(fn))
  return prev
end

--- Wait for the final receipt of a message. A receipt that came before the
-- call is found too, while it is among the last `receipts_keep` and younger
-- than `receipts_ttl`. Interim receipts (ENROUTE, ACCEPTD) do not end the
-- wait. Any number of callers may wait, for the same or other messages.
-- @tparam string message_id from `submit`
-- @tparam[opt] number timeout seconds; nil waits until the receipt or close
-- @tparam[opt] function cb `cb(r)` or `cb(nil, err)`
-- @treturn[1] table the receipt
-- @treturn[2] nil
-- @treturn[2] string `"timeout"`, `"closed"`, `"not bound: call bind
--   first"` (at once, `bind` was never called), or `"nothing to wait for"`
--   (blocking form: the loop had nothing active left, see `smpp.loop`)
function _M:wait_receipt(message_id, timeout, cb)
  if type(message_id) ~= "string" then
    error("client:wait_receipt: expected a message_id string, got " .. type(message_id), 2)
  end
  check_seconds(timeout, "client:wait_receipt", "timeout")
  check_cb(cb, "client:wait_receipt")
  local begin = begin_wait(self._st, message_id, timeout)
  if cb then
    return async(begin, cb)
  end
  return wait(begin, "client:wait_receipt")
end

--- Send an OTP, and optionally wait for its receipt: the common flow in
-- one call.
-- @tparam table opts the fields of `smpp.otp`, plus `wait_receipt`
--   (seconds to wait for the receipt; leave out not to wait)
-- @tparam[opt] function cb `cb(res)` or `cb(nil, err, status)`
-- @treturn[1] table `{message_id = ...}`; when waited, also `stat`, `err`
--   and `receipt`, or `receipt_err` (`"timeout"`, `"closed"`) when no
--   receipt came: the message was still sent
-- @treturn[2] nil
-- @treturn[2] string err as `smpp.otp` or `submit` give it
-- @treturn[2] integer status, for a gateway status
function _M:send_otp(opts, cb)
  if type(opts) ~= "table" then
    error("client:send_otp: expected a table of fields, got " .. type(opts), 2)
  end
  check_cb(cb, "client:send_otp")
  local secs = opts.wait_receipt
  check_seconds(secs, "client:send_otp", "wait_receipt")
  local fields = {}
  for k, v in pairs(opts) do
    if k ~= "wait_receipt" then
      fields[k] = v
    end
  end
  local submit, err, misuse = build("CODE", fields)
  if misuse then
    error("client:send_otp: " .. misuse, 2)
  end
  if not submit then
    return nil, err
  end

  local st = self._st
  local begin = function(done)
    return st.link:submit(submit, function(res, serr, status)
      if not res then
        return done(nil, serr, status)
      end
      local out = { message_id = res.message_id, warning = res.warning }
      if not secs then
        return done(out)
      end
      local ok, werr = begin_wait(st, res.message_id, secs)(function(r, rerr)
        if r then
          out.stat, out.err, out.receipt = r.stat, r.err, r
        else
          out.receipt_err = rerr
        end
        done(out)
      end)
      if not ok then
        out.receipt_err = werr
        done(out)
      end
    end)
  end
  if cb then
    return async(begin, cb)
  end
  return wait(begin, "client:send_otp")
end

--- Close: unbind when bound, then drop the link. Requests not answered end
-- with `"closed"`, and so do receipt waiters. Idempotent. Without a
-- callback it waits for the unbind to finish (bounded by
-- `response_timeout`), except inside a loop callback, where it only starts
-- the close.
-- @tparam[opt] function cb `cb(true)` once closed
-- @treturn true
function _M:close(cb)
  check_cb(cb, "client:close")
  local st = self._st
  local begin = function(done)
    if st.closed then
      -- The link ended by itself; tell the driver the program closed too,
      -- so that a later submit says "closed", not "not sent".
      st.link:close()
      done(true)
      return true
    end
    st.closing = true
    st.rx:wake_all("closed")
    st.close_waiters[#st.close_waiters + 1] = done
    st.link:close()
    -- A client that never connected may end without reaching on_close.
    if not st.closed and st.link:state() == "closed" then
      on_close(st, "closed")
    end
    return true
  end
  if cb then
    return async(begin, cb)
  end
  if loop.in_callback() and not loop.in_ours() then
    return begin(function() end)
  end
  return wait(begin, "client:close")
end

--- The session state: `"idle"`, `"connecting"`, `"binding"`, `"bound"`,
-- `"unbinding"` or `"closed"`.
-- @treturn string
function _M:state()
  return self._st.link:state()
end

--- Counters: the driver's (`submitted`, `sent`, `succeeded`, `failed`,
-- `receipts`, `in_flight`, `queued`, `bytes_in`, `bytes_out`,
-- `enquire_links`) plus `receipts_kept` and `receipt_waiters`.
-- @treturn table
function _M:stats()
  local st = self._st
  local s = st.link:stats()
  s.receipts_kept = st.rx:count()
  s.receipt_waiters = st.rx:waiters()
  return s
end

function mt.__tostring(self)
  local st = self._st
  -- Never the password: this string ends up in logs.
  return str_format("smpp.client{%s@%s:%s, %s}", tostring(st.system_id), tostring(st.host),
    tostring(st.port), st.link:state())
end

-- `local c <close> = smpp.client{...}` closes at the end of the scope.
function mt.__close(self)
  self:close()
end

-- A dropped client must not keep its session (and socket) alive: the
-- driver may hold our callbacks, which hold `st`, which holds the driver.
function mt.__gc(self)
  local st = self._st
  if not st.closed then
    pcall(st.link.close, st.link)
  end
end

return _M
