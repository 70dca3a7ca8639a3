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
local histogram = require "smpp.histogram"
local compat = require "smpp.compat"

local type = type
local pairs = pairs
local ipairs = ipairs
local error = error
local pcall = pcall
local tostring = tostring
local setmetatable = setmetatable
local floor = math.floor
local min = math.min
local str_format = string.format
local str_gsub = string.gsub
local stderr = io.stderr
local wait = loop.wait
local async = loop.async
local callback = loop.callback
local call_back = loop.call_back
local call_later = loop.call_later
local yieldable = loop.yieldable
local resume = loop.resume
local pack = compat.pack
local unpack = compat.unpack
local co_yield = coroutine.yield
local build = template.build

-- The backend's clock, timers, clients and receipt store, taken at the
-- first smpp.client(): a program may choose the backend until then.
local host_now, host_timer, host_client, host_receipts, host_exiting, host_shared

-- Timers for the receipt store: its callbacks' errors are reported.
local function rx_timer(after, fn)
  return host_timer(after, callback(fn))
end

local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }
local collected -- below: what collecting a dropped client does

--- Where reconnect waits draw their jitter: a function returning a number
-- in [0, 1). Replaceable, so that tests can check the waits.
_M.random = math.random

-- The driver's own word for a submit before bind; a wait for a receipt
-- says the same, as nothing can arrive on a session never bound.
local NOT_BOUND = "not bound: call bind first"

local DEFAULT_KEEP = 10000
local DEFAULT_TTL = 600
local DEFAULT_QUEUE = 10000
local DEFAULT_TIMEOUT = 10
local DEFAULT_WINDOW = 10
local RECONNECT_MIN = 0.5
local RECONNECT_MAX = 30

-- Bind answers that say the account itself is refused: never retried.
local REFUSED = { ESME_RINVPASWD = true, ESME_RINVSYSID = true, ESME_RBINDFAIL = true,
                  ESME_RINVSYSTYP = true }

-- Levels of on_log; without a handler the first two go to stderr.
local LOUD = { error = true, warn = true }

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

local function log(st, level, msg)
  local fn = st.log_handler
  if fn then
    fn(level, msg)
  elseif LOUD[level] then
    stderr:write("lua-smpp: ", msg, "\n")
  end
end

-- ---------------------------------------------------------------------------
-- What one client or every client of a pool shares: the receipt store and
-- its waiters, the on_receipt handler, the submit times of recent messages
-- (for receipt latency and to tell receipts of unknown messages).

-- The option shared_dict: the name of an nginx lua_shared_dict, where the
-- workers' clients keep receipts for each other (the OpenResty backend's
-- store); nil elsewhere. Raises at the caller of smpp.client / smpp.pool.
local function shared_dict_option(v)
  if v == nil then return nil end
  if type(v) ~= "string" or v == "" then
    error("smpp.client: shared_dict must be the name of a lua_shared_dict, got " .. type(v), 4)
  end
  if not host_shared then
    error("smpp.client: shared_dict: only on the OpenResty backend (nginx's"
      .. " lua_shared_dict), not on " .. tostring(loop.host().name), 4)
  end
  return v
end

local function new_account(keep, ttl, shared_dict)
  local size = keep > 0 and keep or DEFAULT_KEEP
  return {
    rx = host_receipts { keep = keep, ttl = ttl, now = host_now, timer = rx_timer,
                         shared_dict = shared_dict },
    sent = {}, ring = {}, ring_pos = 0, ring_size = size,
    h_receipt = histogram.new(),
    live = 0,            -- clients not closed nor closing
    bind_called = false,
  }
end

-- A message answered: remember when it was submitted, bounded (the oldest
-- entry goes first), unless its receipt came already.
local function remember(acct, id, t0, now)
  if acct.rx:find(id) then
    acct.h_receipt:add(now - t0)
    return
  end
  local pos = acct.ring_pos % acct.ring_size + 1
  acct.ring_pos = pos
  local old = acct.ring[pos]
  if old then
    acct.sent[old] = nil
  end
  acct.ring[pos] = id
  acct.sent[id] = t0
end

-- r: the receipt table; bytes: its deliver_sm as it came, when the link
-- gives it (the store keeps those instead of r).
local function on_receipt(st, r, bytes)
  local acct = st.acct
  local id = r.message_id
  if type(id) == "string" then
    -- A gateway resends a receipt whose deliver_sm_resp it never got (the
    -- link fell first): the program sees it once.
    local prev = r.final and id ~= "" and acct.rx:find(id)
    if prev and prev.stat == r.stat then
      log(st, "info", "duplicate receipt for message_id " .. id .. " (" .. tostring(r.stat)
        .. "): already delivered, not passed on again")
      return
    end
    local t0 = acct.sent[id]
    if t0 then
      if r.final then
        acct.h_receipt:add(host_now() - t0)
        acct.sent[id] = nil
      end
    elseif id ~= "" and not acct.rx:find(id) then
      log(st, "info", "receipt for unknown message_id " .. id .. " (" .. tostring(r.stat)
        .. "): not submitted by this client, older than its last " .. acct.ring_size
        .. " submits, or ahead of its submit_sm_resp")
    end
  end
  acct.rx:put(r, bytes)
  -- Called as it is: this runs inside the link's receipt callback, whose
  -- wrapper (attach) reports an error raised here.
  local fn = acct.handler_fn
  if fn then
    fn(r)
  end
end

-- ---------------------------------------------------------------------------
-- States and the end of the client.

local function set_phase(st, phase, reason)
  if st.phase == phase then
    return
  end
  st.phase = phase
  log(st, "info", reason and (phase .. " (" .. reason .. ")") or phase)
  if st.state_handler then
    st.state_handler(phase, reason)
  end
end

-- The client will not be used any more by the program (closing or ended):
-- once no client of the account is left, no receipt can come.
local function leave(st)
  if st.left then
    return
  end
  st.left = true
  local acct = st.acct
  acct.live = acct.live - 1
  if acct.live == 0 then
    acct.rx:wake_all("closed")
  end
end

local finish_rec

local function drain_queue(st, err)
  local q = st.q
  while st.qhead <= st.qtail do
    local rec = q[st.qhead]
    q[st.qhead] = nil
    st.qhead = st.qhead + 1
    st.qn = st.qn - 1
    finish_rec(rec, nil, err)
  end
  if st.qtimer then
    st.qtimer:stop()
    st.qtimer = nil
  end
end

-- The client ended for good: program close, authentication failure, a
-- link lost with reconnect off, a first bind that failed.
local function final(st, reason)
  if st.closed then
    return
  end
  st.closed = true
  st.reason = reason
  if st.rtimer then
    st.rtimer:stop()
    st.rtimer = nil
  end
  -- Submits still in the client's queue never reached a socket.
  drain_queue(st, st.closing and "closed" or "not sent")
  leave(st)
  set_phase(st, "closed", reason)
  local list = st.close_waiters
  st.close_waiters = {}
  for _, done in ipairs(list) do
    done(true)
  end
  if st.close_handler then
    st.close_handler(reason)
  end
end

-- ---------------------------------------------------------------------------
-- Submits. Each is a record: its fields, the caller's done, when it was
-- called (its deadline in the client's queue, its latency) and the link it
-- went to.

local function will_reconnect(st)
  return st.reconnect and st.ever_bound and not st.closing and not st.closed
    -- A host shutting down (nginx reload or quit) closes its links: no
    -- new ones.
    and not (host_exiting and host_exiting())
end

local enqueue

-- Records of the callback and coroutine forms carry the caller's cb or
-- coroutine instead of a done closure: no closure per submit. A result
-- that comes before submit returned (a link that fails at once, from
-- top-level code) is held: a callback gets it from the loop, as
-- loop.async does (code after the call always runs first); a coroutine's
-- submit returns it.
local function deliver(rec, n, res, err, status, nack)
  -- A coroutine's submit is resumed with the result, a callback's called.
  local go, target = call_back, rec.cb
  if rec.co then
    go, target = resume, rec.co
  end
  if not rec.started then
    if rec.co then
      -- Not yielded yet: submit returns these itself.
      rec.early = pack(res, err, status, nack)
      rec.early.n = n
      return
    end
    return call_later(target, res, err, status, nack)
  end
  if n == 1 then
    return go(target, res)
  elseif n == 2 then
    return go(target, nil, err)
  elseif n == 3 then
    return go(target, res, err, status)
  end
  return go(target, res, err, status, nack)
end

-- done() with as many values as the link gave, so that results read the
-- same as the link's own.
function finish_rec(rec, res, err, status, nack)
  local done = rec.done
  if not done then
    return deliver(rec, nack and 4 or status and 3 or err and 2 or 1, res, err, status, nack)
  end
  if nack then
    return done(res, err, status, nack)
  elseif status then
    return done(res, err, status)
  elseif err then
    return done(nil, err)
  end
  return done(res)
end

local function on_result(res, err, status, nack, rec)
  local st = rec.st
  if rec.link == st.link then
    st.inflight = st.inflight - 1
  end
  local now = host_now()
  -- Never written, and the link is gone for a new one: the next link may
  -- carry it, within its deadline (issue 12: "not sent" is never written).
  if err == "not sent" and will_reconnect(st) and rec.link:state() == "closed"
      and now < rec.t0 + st.rto then
    enqueue(st, rec)
    return
  end
  if res then
    st.h_answer:add(now - rec.t0)
    local id = res.message_id
    if type(id) == "string" and id ~= "" then
      remember(st.acct, id, rec.t0, now)
    end
  else
    if status then
      st.h_answer:add(now - rec.t0)
    end
    st.last_error = err
  end
  return finish_rec(rec, res, err, status, nack)
end

-- Hand a record to the bound link: true, or nil, err at once.
local function send(st, rec)
  local link = st.link
  rec.link = link
  local ok, sent, err = pcall(link.submit, link, rec.fields, on_result, rec)
  if not ok then
    -- Fields the link refuses (a misuse it raises for): said here, since a
    -- queued submit has no caller's line to raise at any more.
    return nil, str_gsub(tostring(sent), "^[^:]*:%d+: ", "")
  end
  if not sent then
    return nil, err
  end
  st.inflight = st.inflight + 1
  return true
end

local function expire(st)
  st.qtimer = nil
  local now, q = host_now(), st.q
  while st.qhead <= st.qtail do
    local rec = q[st.qhead]
    local left = rec.t0 + st.rto - now
    if left > 0 then
      st.qtimer = host_timer(left, callback(function()
        expire(st)
      end))
      return
    end
    q[st.qhead] = nil
    st.qhead = st.qhead + 1
    st.qn = st.qn - 1
    -- It waited its response_timeout in the client: surely never written.
    finish_rec(rec, nil, "not sent")
  end
end

function enqueue(st, rec)
  st.qtail = st.qtail + 1
  st.q[st.qtail] = rec
  st.qn = st.qn + 1
  if not st.qtimer then
    local left = rec.t0 + st.rto - host_now()
    st.qtimer = host_timer(left > 0 and left or 0, callback(function()
      st.qtimer:stop()
      expire(st)
    end))
  end
end

-- After a rebind: the queue goes out, in order.
local function flush(st)
  if st.qtimer then
    st.qtimer:stop()
    st.qtimer = nil
  end
  local q = st.q
  while st.qhead <= st.qtail and st.phase == "bound" do
    local rec = q[st.qhead]
    q[st.qhead] = nil
    st.qhead = st.qhead + 1
    st.qn = st.qn - 1
    local ok, err = send(st, rec)
    if not ok then
      finish_rec(rec, nil, err)
    end
  end
end

-- Start a submit's record: true (its result comes later) or nil, err at
-- once.
local function start_rec(st, rec)
  local phase = st.phase
  if phase == "bound" or not will_reconnect(st) then
    -- The link answers for itself: queued until bound, "not bound",
    -- "not sent", "closed", "queue full".
    local link = st.link
    rec.link = link
    local ok, err = link:submit(rec.fields, on_result, rec)
    if not ok then
      return nil, err
    end
    st.inflight = st.inflight + 1
    return true
  end
  -- Between links: wait in the client for the rebind.
  if st.qn >= st.queue_size then
    return nil, "queue full"
  end
  enqueue(st, rec)
  return true
end

local function start_submit(st, fields, done)
  return start_rec(st, { st = st, done = done, fields = fields, t0 = host_now() })
end

-- ---------------------------------------------------------------------------
-- Links: each bind is a fresh backend client.

local attach, schedule

-- Counters of links gone: folded into the client's, nested tables too.
local function fold(acc, s)
  for k, v in pairs(s) do
    if type(v) == "number" then
      acc[k] = (acc[k] or 0) + v
    elseif type(v) == "table" then
      acc[k] = fold(type(acc[k]) == "table" and acc[k] or {}, v)
    end
  end
  return acc
end

local function link_closed(st, link, reason)
  if link ~= st.link or st.closed then
    return
  end
  st.inflight = 0
  if reason ~= "closed" then
    st.last_error = reason
  end
  -- A link that stayed bound a while resets the backoff.
  if st.bound_at and host_now() - st.bound_at >= st.rmax then
    st.attempt = 0
  end
  st.bound_at = nil
  if st.stop or not will_reconnect(st) then
    -- A first bind's failure is the bind's answer already: no warning.
    if reason ~= "closed" then
      log(st, st.ever_bound and "warn" or "info", "link ended: " .. tostring(st.stop or reason))
    end
    return final(st, st.stop or reason)
  end
  -- A rebind that failed was logged as such already.
  if st.phase == "bound" then
    log(st, "warn", "link lost: " .. tostring(reason))
  end
  schedule(st, reason)
end

local function rebound(st, link, ok, err)
  if link ~= st.link or st.closed then
    return
  end
  if ok then
    st.reconnects = st.reconnects + 1
    st.bound_at = host_now()
    set_phase(st, "bound", "rebind")
    return flush(st)
  end
  st.last_error = err
  -- The gateway refused the account: retrying would hammer it with a bad
  -- password. It closes the socket on bad credentials; a gateway that
  -- answers says so with one of REFUSED's statuses. Other failures (a
  -- refused connection, ESME_RSYSERR, a timeout) are tried again.
  if err == "authentication failed" or REFUSED[err] then
    st.stop = err
    log(st, "error", "bind refused, not retrying: " .. tostring(err))
  else
    log(st, "warn", "rebind failed: " .. tostring(err))
  end
end

local function reattach(st)
  st.rtimer = nil
  if st.closed or st.closing then
    return
  end
  fold(st.acc, st.link:stats())
  local ok, link, err = pcall(host_client, st.lopts)
  if not ok or not link then
    log(st, "error", "new link: " .. tostring(ok and err or link))
    return schedule(st, "link failed")
  end
  st.link = link
  attach(st, link)
  set_phase(st, "connecting")
  local started, berr = link:bind(function(bok, e)
    rebound(st, link, bok, e)
  end)
  if not started then
    log(st, "warn", "rebind failed: " .. tostring(berr))
    schedule(st, berr)
  end
end

-- Exponential backoff with full jitter: the n-th wait (from 0) is drawn
-- uniformly in [0, min(reconnect_max, reconnect_min * 2^n)).
function schedule(st, reason)
  set_phase(st, "reconnecting", reason)
  local cap = min(st.rmax, st.rmin * 2 ^ st.attempt)
  local delay = _M.random() * cap
  st.attempt = st.attempt + 1
  st.last_delay = delay
  log(st, "info", str_format("reconnect in %.3f s (attempt %d)", delay, st.attempt))
  st.rtimer = host_timer(delay, callback(function()
    st.rtimer:stop()
    reattach(st)
  end))
end

function attach(st, link)
  link:on_receipt(callback(function(r, bytes)
    on_receipt(st, r, bytes)
  end))
  link:on_close(callback(function(reason)
    link_closed(st, link, reason)
  end))
  if st.deliver_fn then
    link:on_deliver(callback(st.deliver_fn))
  end
  if link.on_log then
    link:on_log(function(level, msg)
      log(st, level, msg)
    end)
  end
end

-- begin functions for loop.wait / loop.async -----------------------------

local function begin_wait(st, id, timeout)
  return function(done)
    local acct = st.acct
    local r = acct.rx:find(id)
    if r then
      done(r)
      return true
    end
    if acct.live == 0 then
      return nil, "closed"
    end
    -- Before bind the client has no socket and no timer on the loop: a
    -- wait without timeout would have nothing to end it.
    if not acct.bind_called then
      return nil, NOT_BOUND
    end
    -- A store that raises (a backend's, say) must not leave the caller
    -- waiting for ever: the wait ends now, saying why.
    local ok, res, err = pcall(acct.rx.wait, acct.rx, id, timeout, done)
    if not ok then
      log(st, "error", "receipt store failed: " .. tostring(res))
      return nil, "receipt store: " .. tostring(res)
    end
    return res, err
  end
end

local function option_number(v, name, default, integer)
  if v == nil then
    return default
  end
  if type(v) ~= "number" or v < 0 or v ~= v or (integer and floor(v) ~= v) then
    error(str_format("smpp.client: %s must be %s >= 0, got %s", name,
      integer and "an integer" or "seconds", tostring(v)), 3)
  end
  return v
end

-- Options this layer reads; the rest go to the backend's client, which
-- also reads queue_size, response_timeout and window.
local OWN = { receipts_keep = true, receipts_ttl = true, reconnect = true,
              reconnect_min = true, reconnect_max = true, shared_dict = true }

local function new_client(opts, acct)
  if type(opts) ~= "table" then
    error("smpp.client: expected a table of options, got " .. type(opts), 3)
  end
  if not host_client then
    local host = loop.host()
    host_now, host_timer, host_client = host.now, host.timer, host.client
    host_receipts = host.receipts or receipts.new
    host_exiting = host.exiting
    host_shared = host.shared_receipts == true
  end
  local keep = option_number(opts.receipts_keep, "receipts_keep", DEFAULT_KEEP, true)
  local ttl = option_number(opts.receipts_ttl, "receipts_ttl", DEFAULT_TTL)
  local rmin = option_number(opts.reconnect_min, "reconnect_min", RECONNECT_MIN)
  local rmax = option_number(opts.reconnect_max, "reconnect_max", RECONNECT_MAX)
  if rmax < rmin then
    error(str_format("smpp.client: reconnect_max (%s) is less than reconnect_min (%s)",
      tostring(rmax), tostring(rmin)), 3)
  end
  local reconnect = opts.reconnect
  if reconnect ~= nil and type(reconnect) ~= "boolean" then
    error("smpp.client: reconnect must be a boolean, got " .. type(reconnect), 3)
  end
  local lopts = {}
  for k, v in pairs(opts) do
    if not OWN[k] then
      lopts[k] = v
    end
  end

  -- The driver checks its own options; its complaint is re-raised here so
  -- that it points at the caller's line, not at this file.
  local ok, link, err = pcall(host_client, lopts)
  if not ok then
    error("smpp.client: " .. str_gsub(tostring(link), "^[^:]*:%d+: ", ""), 3)
  end
  if not link then
    return nil, err
  end

  local shared = shared_dict_option(opts.shared_dict)
  acct = acct or new_account(keep, ttl, shared)
  acct.live = acct.live + 1
  -- The driver's callbacks hold `st`, never the client object, so that a
  -- client the program dropped can be collected (and its __gc close the
  -- session) even when the driver keeps its callbacks alive.
  local st = {
    link = link, lopts = lopts, acct = acct,
    host = opts.host, port = opts.port, system_id = opts.system_id,
    phase = "idle", ever_bound = false,
    reconnect = reconnect ~= false, rmin = rmin, rmax = rmax, attempt = 0,
    reconnects = 0,
    rto = opts.response_timeout or DEFAULT_TIMEOUT,
    queue_size = opts.queue_size or DEFAULT_QUEUE,
    window = opts.window or DEFAULT_WINDOW,
    q = {}, qhead = 1, qtail = 0, qn = 0,
    inflight = 0,
    acc = {}, h_answer = histogram.new(),
    close_waiters = {},
    closed = false, closing = false,
  }
  attach(st, link)
  -- No __gc for tables on 5.1 and LuaJIT: compat.setgc works everywhere.
  return compat.setgc(setmetatable({ _st = st }, mt), collected)
end

--- Create a client. Nothing is sent until `bind`.
-- @tparam table opts `host`, `port`, `system_id`, `password` (required);
--   `system_type`, `window` (10), `queue_size` (10000), `connect_timeout`,
--   `bind_timeout`, `response_timeout` (10 s each), `enquire_link_interval`
--   (30 s), `max_pdu`, `output_buffer`, `trace` as the backend's client
--   takes them; `receipts_keep` (10000) and `receipts_ttl` (600 s) bound the
--   store of recent receipts; `reconnect` (true), `reconnect_min` (0.5 s)
--   and `reconnect_max` (30 s) for links lost after the first bind
-- @treturn smpp.client
function _M.new(opts)
  return new_client(opts)
end

-- For smpp.pool: a client sharing `acct` (receipts, on_receipt) with others.
function _M._member(opts, acct)
  return new_client(opts, acct)
end

-- For smpp.pool: an account to share.
function _M._account(opts)
  if not host_client then
    local host = loop.host()
    host_now, host_timer, host_client = host.now, host.timer, host.client
    host_receipts = host.receipts or receipts.new
    host_exiting = host.exiting
    host_shared = host.shared_receipts == true
  end
  return new_account(option_number(opts.receipts_keep, "receipts_keep", DEFAULT_KEEP, true),
    option_number(opts.receipts_ttl, "receipts_ttl", DEFAULT_TTL),
    shared_dict_option(opts.shared_dict))
end

--- Connect and bind (bind_transceiver). The first bind's failure is
-- returned as it is, and the client is then closed: reconnecting applies
-- to links lost once a bind succeeded.
-- @tparam[opt] function cb `cb(true)` or `cb(nil, err, status)`; without it
--   the call waits (yields in `smpp.spawn` coroutines, else runs the loop)
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string err: `"connection refused"`, `"connect timeout"`,
--   `"dns failure: ..."`, `"connect error: <strerror>"`, `"bind timeout"`,
--   `"authentication failed"`, `"peer unbind"`, `"protocol error"`,
--   `"closed"` (closed before or while binding), `"bind already called"`
--   (a client binds once), or a bind_transceiver_resp status name
-- @treturn[2] integer status, when the gateway answered with one
function _M:bind(cb)
  check_cb(cb, "client:bind")
  local st = self._st
  local begin = function(done)
    local link = st.link
    if st.phase ~= "idle" or st.closed then
      return link:bind(done)
    end
    local ok, err = link:bind(function(bok, berr, status)
      if bok and link == st.link and not st.closed then
        st.ever_bound = true
        st.bound_at = host_now()
        set_phase(st, "bound")
      elseif not bok then
        st.last_error = berr
      end
      done(bok, berr, status)
    end)
    if ok then
      st.acct.bind_called = true
      set_phase(st, "connecting")
    end
    return ok, err
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
  local st = self._st
  if cb ~= nil then
    check_cb(cb, "client:submit")
    local rec = { st = st, cb = cb, fields = fields, t0 = host_now(), started = false }
    local ok, err, status = start_rec(st, rec)
    rec.started = true
    if not ok then
      return nil, err, status
    end
    return true
  end
  local co = yieldable()
  if co then
    -- One of smpp.spawn's coroutines: it yields for the result, which the
    -- record hands over (no closure per call).
    local rec = { st = st, co = co, fields = fields, t0 = host_now(), started = false }
    local ok, err, status = start_rec(st, rec)
    if not ok then
      return nil, err, status
    end
    local early = rec.early
    if early then
      return unpack(early, 1, early.n)
    end
    rec.started = true
    return co_yield()
  end
  return wait(function(done)
    return start_submit(st, fields, done)
  end, "client:submit")
end

--- Set the handler every receipt goes to (`wait_receipt` is served too).
-- @tparam function|nil fn `fn(r)`: `r.message_id`, `r.stat`, `r.err`,
--   `r.state`, `r.done_date`, `r.raw`... (see README, "Receipts")
-- @treturn function|nil the previous handler
function _M:on_receipt(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("client:on_receipt: expected a function or nil, got " .. type(fn), 2)
  end
  local acct = self._st.acct
  local prev = acct.handler_fn
  acct.handler_fn = fn
  return prev
end

--- Set the handler called once when the client ends for good (close,
-- authentication failure, a link lost with reconnect off, a first bind
-- that failed); a link lost while reconnecting goes to `on_state`.
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

--- Set the handler of every change of `state()`.
-- @tparam function|nil fn `fn(state, reason)`: `"connecting"`, `"bound"`,
--   `"reconnecting"` (reason: why the link ended), `"unbinding"`,
--   `"closed"` (reason: why)
-- @treturn function|nil the previous handler
function _M:on_state(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("client:on_state: expected a function or nil, got " .. type(fn), 2)
  end
  local st = self._st
  local prev = st.state_handler_fn
  st.state_handler_fn = fn
  st.state_handler = fn and callback(fn)
  return prev
end

--- Set where the client's log goes.
-- @tparam function|nil fn `fn(level, msg)`, level `"error"`, `"warn"`,
--   `"info"` or `"debug"`; without it `"error"` and `"warn"` go to stderr
-- @treturn function|nil the previous handler
function _M:on_log(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("client:on_log: expected a function or nil, got " .. type(fn), 2)
  end
  local st = self._st
  local prev = st.log_handler_fn
  st.log_handler_fn = fn
  st.log_handler = fn and callback(fn)
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
-- Waits survive reconnects.
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
    return start_submit(st, submit, function(res, serr, status)
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

--- Close: unbind when bound, then drop the link; a reconnect under way
-- stops. Requests not answered end with `"closed"`, and so do receipt
-- waiters (of a pool: once every client closed). Idempotent. Without a
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
      st.closing = true
      st.link:close()
      done(true)
      return true
    end
    st.closing = true
    if st.rtimer then
      st.rtimer:stop()
      st.rtimer = nil
    end
    drain_queue(st, "closed")
    leave(st)
    st.close_waiters[#st.close_waiters + 1] = done
    local link = st.link
    if st.phase == "bound" and link:state() == "bound" then
      set_phase(st, "unbinding")
    end
    link:close()
    -- Between links, or a client that never connected: the link may end
    -- without reaching on_close.
    if not st.closed and link:state() == "closed" then
      final(st, "closed")
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

--- The state: `"idle"` (before bind), `"connecting"`, `"binding"`,
-- `"bound"`, `"reconnecting"` (waiting to connect again after a link was
-- lost), `"unbinding"` or `"closed"`.
-- @treturn string
function _M:state()
  local st = self._st
  local phase = st.phase
  if phase == "connecting" then
    local s = st.link:state()
    if s == "binding" then
      return s
    end
  end
  return phase
end

--- Counters, summed over every link the client had: the driver's
-- (`submitted`, `sent`, `succeeded`, `failed`, `receipts`, `in_flight`,
-- `queued`, `bytes_in`, `bytes_out`, `pdus_in`, `enquire_links`) plus
-- `reconnects`, `receipts_kept`, `receipt_waiters`, `latency` (`answer`
-- and `receipt`: `{p50, p99, p999, n}` in seconds) and `last_error`.
-- @treturn table
function _M:stats()
  local st = self._st
  local s = fold(fold({}, st.acc), st.link:stats())
  local rx = st.acct.rx
  s.queued = (s.queued or 0) + st.qn
  s.reconnects = st.reconnects
  s.receipts_kept = rx:count()
  s.receipt_waiters = rx:waiters()
  s.latency = { answer = st.h_answer:summary(), receipt = st.acct.h_receipt:summary() }
  s.last_error = st.last_error or s.last_error
  return s
end

function mt.__tostring(self)
  local st = self._st
  -- Never the password: this string ends up in logs.
  return str_format("smpp.client{%s@%s:%s, %s}", tostring(st.system_id), tostring(st.host),
    tostring(st.port), self:state())
end

-- `local c <close> = smpp.client{...}` closes at the end of the scope.
function mt.__close(self)
  self:close()
end

-- A dropped client must not keep its session (and socket) alive: the
-- driver may hold our callbacks, which hold `st`, which holds the driver.
-- Nor may it reconnect.
function collected(self)
  local st = self._st
  st.closing = true
  if st.rtimer then
    st.rtimer:stop()
    st.rtimer = nil
  end
  if not st.closed then
    pcall(st.link.close, st.link)
  end
end

return _M
