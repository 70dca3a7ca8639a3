--- smpp.simulator: the EngageLab SMPP gateway's behaviour on a local port,
-- for examples, tests and users' own test suites (doc/simulator.md).
--
-- The wire work (framing, the bind state machine, enquire_link, unbind,
-- generic_nack for what the gateway does not offer, the deliver_sm window)
-- is the server role of the session, run by the host's SMPP server; the
-- simulator decides what the gateway decides, in parts that can be tested
-- alone: smpp.simulator.options (what may be configured),
-- smpp.simulator.rules (who may bind, which submits pass),
-- smpp.simulator.receipts (what a receipt says, whether one goes),
-- smpp.simulator.due (what waits for a delay), smpp.simulator.delivery
-- (which link a receipt goes out on, the receipts kept for an account's
-- next bind) and smpp.simulator.log. This file ties them to the host's
-- server: binds, submits, faults, closes and the counters.
--
-- Hot path (one submit_sm): one rule check, one message_id, one answer and
-- one receipt. Everything else (log entries, fault counters, undeliverable
-- rules, the trace hook that counts PDUs for drop_after) costs nothing
-- unless it is configured.
--
-- @module smpp.simulator

local options = require "smpp.simulator.options"
local rules = require "smpp.simulator.rules"
local receipts = require "smpp.simulator.receipts"
local due = require "smpp.simulator.due"
local delivery = require "smpp.simulator.delivery"
local simlog = require "smpp.simulator.log"
local pdu = require "smpp.pdu"
local backend = require "smpp.backend"

-- The host's primitives the simulator runs on: server(opts) (smpp.ev.server's
-- interface), timer(after, fn) (a one-shot timer with :stop()) and now(),
-- from the backend in use (smpp.backend), taken when a simulator is made so
-- a program may still choose the backend after require.
local function host()
  return backend.get()
end

local type = type
local pairs = pairs
local tostring = tostring
local error = error
local setmetatable = setmetatable
local math_random = math.random
local str_format = string.format
local os_time = os.time

local status_name = pdu.status_string
local check_submit = rules.check_submit
local fault_fails = rules.fault_fails
local receipt_wanted = receipts.wanted
local ESME_ROK = rules.ESME_ROK
local R_CONN, R_ID = receipts.CONN, receipts.ID

local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }

-- A decision, logged as {dir = "sim", event = event, ...fields} when the
-- log is on; conn (when given) adds its id and its account.
local function note(self, conn, event, fields)
  local log = self.log
  if not log then return end
  fields = fields or {}
  fields.dir = "sim"
  fields.event = event
  if conn then
    fields.conn = conn:id()
    fields.system_id = fields.system_id or self.delivery.links[conn]
  end
  local now = self.host.now()
  fields.wall = now + self.wall
  log:add(fields, now)
end

-- A receipt is due: at once (receipt_delay 0), or after receipt_delay.
local function schedule_receipt(self, rec)
  self.st.receipts = self.st.receipts + 1
  local delay = self.cfg.receipt_delay
  if delay == 0 then
    self.delivery:send(rec)
  else
    self.receipt_queue:push(self.host.now() + delay, rec)
  end
end

-- ------------------------------------------------------------------------
-- Submits (gateway "Message Sending").

-- Returns the message_id, and the receipt record when one is wanted.
local function accept(self, conn, p, sid, body, text)
  local st = self.st
  local msgid = str_format("%x", self.id_next)
  self.id_next = self.id_next + 1
  st.submits_ok = st.submits_ok + 1
  local dest = p.destination_addr
  local undeliverable = self.cfg.undeliverable
  local err_code = undeliverable and undeliverable(dest, p, sid, body, msgid)
  local rec
  if receipt_wanted(p.registered_delivery, err_code ~= nil) then
    -- Receipt dates are wall-clock time; the host's now() is monotonic.
    rec = self.maker:record(conn, sid, dest, msgid, err_code, text, os_time())
  else
    st.receipts_not_requested = st.receipts_not_requested + 1
  end
  if self.log then
    note(self, conn, "submit_accepted", { message_id = msgid, sequence_number = p.sequence_number,
                                          template = body.id, destination_addr = dest,
                                          stat = err_code and "UNDELIV" or "DELIVRD",
                                          receipt = rec ~= nil })
  end
  return msgid, rec
end

local function reject(self, conn, p, status, reason)
  self.st.submits_rejected = self.st.submits_rejected + 1
  local name = status_name(status)
  self.rejected[name] = (self.rejected[name] or 0) + 1
  if self.log then
    note(self, conn, "submit_rejected", { sequence_number = p.sequence_number,
                                          command_status = status, status_name = name,
                                          reason = reason })
  end
end

-- The slow path: a fault is configured (doc/simulator.md, "Fault
-- injection"). Returns what on_submit returns.
local function submit_with_faults(self, conn, p, sid)
  local f = self.faults
  if f.no_answer then
    self.st.faults = self.st.faults + 1
    note(self, conn, "fault_no_answer", { sequence_number = p.sequence_number })
    return
  end
  local fail
  fail, self.fault_count = fault_fails(f, self.fault_count)

  local status, msgid, rec
  if fail then
    self.st.faults = self.st.faults + 1
    status = f.status
    reject(self, conn, p, status, "fault injected")
  else
    local body, text
    status, body, text = check_submit(p, self.cfg.templates)
    if status == ESME_ROK then
      msgid, rec = accept(self, conn, p, sid, body, text)
    else
      reject(self, conn, p, status, body)
    end
  end

  if f.delay and f.delay > 0 then
    self.answer_queue:push(self.host.now() + f.delay,
                           { conn, p.sequence_number, status, msgid, rec })
    return
  end
  if rec and f.receipt_first then
    -- PROTOCOL.md: "A receipt can arrive before the submit_sm_resp of the
    -- same message"; this fault makes it happen every time.
    schedule_receipt(self, rec)
    conn:respond(p.sequence_number, status, msgid)
    return
  end
  conn:respond(p.sequence_number, status, msgid)
  if rec then schedule_receipt(self, rec) end
end

local function on_submit(self, conn, p)
  self.st.submits = self.st.submits + 1
  local sid = self.delivery.links[conn]
  if self.faults then return submit_with_faults(self, conn, p, sid) end
  local status, body, text = check_submit(p, self.cfg.templates)
  if status ~= ESME_ROK then
    reject(self, conn, p, status, body)
    return status
  end
  local msgid, rec = accept(self, conn, p, sid, body, text)
  -- gateway: "Message delivery is synchronous": the answer goes first,
  -- then the receipt (at once when receipt_delay is 0).
  conn:respond(p.sequence_number, ESME_ROK, msgid)
  if rec then schedule_receipt(self, rec) end
end

-- A late answer (the delay fault): { conn, sequence_number, status,
-- message_id, receipt }.
local function answer_late(self, a)
  local conn, rec = a[1], a[5]
  if self.delivery.links[conn] then
    conn:respond(a[2], a[3], a[4])
  end
  -- The message was accepted when it came in, so its receipt follows even
  -- when the link dropped before the answer (outcome unknown to the
  -- client, as with the real gateway).
  if rec then schedule_receipt(self, rec) end
end

-- ------------------------------------------------------------------------
-- Binds (gateway "Establishing Connection") and closes.

-- Receipts kept for sid go out on conn. The bind_transceiver_resp goes out
-- when on_bind returns and deliver_sm may follow only once bound, so the
-- resend waits one loop turn; its timer is kept in flush_timers until it
-- fires.
local function flush_pending(self, conn, sid)
  local list = self.delivery:take(sid)
  if not list then return end
  local t
  t = self.host.timer(0, function()
    self.flush_timers[t] = nil
    for i = 1, #list do
      local rec = list[i]
      self.st.receipts_resent = self.st.receipts_resent + 1
      note(self, conn, "receipt_resent", { message_id = rec[R_ID] })
      rec[R_CONN] = conn
      self.delivery:send(rec)
    end
  end)
  self.flush_timers[t] = true
end

local function on_bind(self, conn, p)
  if self.closed then return false end
  local sid = p.system_id
  local why = rules.bind_refusal(self.cfg.accounts, sid, p.password)
  if why then
    self.st.binds_refused = self.st.binds_refused + 1
    note(self, conn, "bind_refused", { system_id = sid, reason = why })
    return false
  end
  self.st.binds = self.st.binds + 1
  self.st.bound = self.st.bound + 1
  self.delivery:bound(conn, sid)
  note(self, conn, "bound", { system_id = sid })
  flush_pending(self, conn, sid)
  return 0
end

local function on_close(self, conn, reason)
  local st = self.st
  -- Receipts that never left go to another link of the account, or wait.
  local sid = self.delivery:unbound(conn)
  if sid then
    st.bound = st.bound - 1
  else
    st.closed_before_bind = st.closed_before_bind + 1
  end
  self.pdus_in[conn] = nil
  if self.log then
    reason = tostring(reason)
    -- The driver says only "protocol error"; the session kept what it was.
    local why = reason == "protocol error" and conn:error()
    if why then
      -- gateway: "the first packet must send the BindTransceiver command":
      -- the session closed the socket, the log says why.
      if not sid then note(self, conn, "bind_refused", { reason = why }) end
      reason = reason .. ": " .. why
    end
    note(self, conn, "closed", { system_id = sid, reason = reason })
  end
end

-- The trace hook sees every PDU in and out, decoded (password "***"),
-- before the session acts on it. It is on only when the log is, or when
-- drop_after must count PDUs: it decodes every PDU a second time (the
-- session parses it too), a price the hot path must not pay otherwise.
local function trace(self, conn, dir, p)
  if self.log then
    local now = self.host.now()
    local e = simlog.pdu_entry(conn:id(), self.delivery.links[conn], dir, p)
    e.wall = now + self.wall
    self.log:add(e, now)
  end
  if dir ~= "in" then return end
  -- Counted here, from the link's first byte, not read from the session's
  -- pdus_in: the trace sees a whole read before the session parses it, so
  -- PDU n + 1 is never acted on.
  local n = (self.pdus_in[conn] or 0) + 1
  self.pdus_in[conn] = n
  local f = self.faults
  local why = f and rules.drop_reason(n, f.drop_after, p.command)
  if why then
    self.st.faults = self.st.faults + 1
    note(self, conn, "fault_drop", { sequence_number = p.sequence_number, reason = why })
    conn:close()
  end
end

-- ------------------------------------------------------------------------
-- The simulator.

-- level: the user's frame, counted from create's caller.
local function create(opts, level)
  local cfg = options.normalize(opts, simlog.format, level + 1)
  local h = host()
  local self = setmetatable({
    cfg = cfg, host = h, faults = cfg.faults, fault_count = 0, closed = false,
    -- Entries' `time` is the host's clock (monotonic); `wall` adds this
    -- offset, for the printed form.
    wall = os_time() - h.now(),
    log = cfg.logging and simlog.new(cfg.log_size, cfg.log_fn) or nil,
    -- Counters, named as sim:stats() names them.
    st = {
      bound = 0, binds = 0, binds_refused = 0, closed_before_bind = 0,
      submits = 0, submits_ok = 0, submits_rejected = 0, faults = 0,
      receipts = 0, receipts_sent = 0, receipts_acked = 0, receipts_unacked = 0,
      receipts_pending = 0, receipts_resent = 0, receipts_dropped = 0,
      receipts_not_requested = 0, receipts_not_sent = 0, receipts_waiting = 0,
    },
    rejected = {},           -- submits rejected, by status name
    flush_timers = {},
    -- Filled only by the trace hook: PDUs received per connection, for
    -- drop_after.
    pdus_in = setmetatable({}, { __mode = "k" }),
    -- message_id: a per-simulator counter in hex from a random base, so
    -- ids are unique across every connection of one simulator and
    -- unlikely to repeat across simulators (a client's database may
    -- outlive one run).
    id_next = math_random(1, 0x7FFFFF) * 0x1000000,
    maker = receipts.new { esm_class = cfg.receipt_esm_class, text = cfg.receipt_text,
                           delay = cfg.receipt_delay },
  }, mt)
  self.delivery = delivery.new { maker = self.maker, max_pending = cfg.max_pending, st = self.st,
                                 route = cfg.receipt_route,
                                 note = function(conn, event, fields)
                                   note(self, conn, event, fields)
                                 end }
  -- The callbacks the host calls, made once per simulator.
  self.receipt_queue = due.new(h, function(rec) self.delivery:send(rec) end)
  self.answer_queue = due.new(h, function(a) answer_late(self, a) end)

  local srv_opts = cfg.server
  srv_opts.on_bind = function(conn, p) return on_bind(self, conn, p) end
  srv_opts.on_submit = function(conn, p) return on_submit(self, conn, p) end
  srv_opts.on_close = function(conn, reason) on_close(self, conn, reason) end
  -- The trace is chosen when the server starts.
  self.counting = cfg.logging or (cfg.faults and cfg.faults.drop_after) ~= nil
  if self.counting then
    srv_opts.trace = function(conn, dir, p) trace(self, conn, dir, p) end
  end
  local srv, err = h.server(srv_opts)
  if not srv then return nil, err end
  self.srv = srv
  note(self, nil, "listening", { reason = str_format("%s:%d", srv_opts.host, srv:port()) })
  return self
end

--- syntax: sim, err = simulator.new(opts)  -- also simulator(opts)
function _M.new(opts)
  local sim, err = create(opts, 2)
  return sim, err
end

--- syntax: port = sim:port()
function _M.port(self)
  return self.srv:port()
end

-- Receipts waiting for receipt_delay, and those of answers held back by
-- the delay fault, can't be sent once the links are gone: count them
-- (stats().receipts_not_sent) and log it, never drop them silently.
local function has_receipt(a) return a[5] ~= nil end

--- syntax: sim:close()  -- stops listening and drops every connection
function _M.close(self)
  if self.closed then return true end
  self.closed = true
  self.delivery.closed = true
  local st = self.st
  local not_sent = self.receipt_queue:stop() + self.answer_queue:stop(has_receipt)
  st.receipts_not_sent = st.receipts_not_sent + not_sent
  for t in pairs(self.flush_timers) do t:stop() end
  self.flush_timers = {}
  self.srv:close()
  if not_sent > 0 then
    note(self, nil, "receipts_not_sent", {
      count = not_sent,
      reason = str_format("%d receipts not sent (still waiting for their delay)", not_sent),
    })
  end
  if st.receipts_pending > 0 then
    note(self, nil, "receipts_pending", {
      count = st.receipts_pending,
      reason = str_format("%d receipts pending (never acknowledged)", st.receipts_pending),
    })
  end
  return true
end

--- syntax: t = sim:stats()
function _M.stats(self)
  local t = {}
  for k, v in pairs(self.st) do t[k] = v end
  local rejected = {}
  for k, v in pairs(self.rejected) do rejected[k] = v end
  t.rejected = rejected
  t.connections = self.srv:connections()
  t.receipts_due = self.receipt_queue:size()
  t.answers_due = self.answer_queue:size()
  return t
end

--- syntax: list = sim:log_entries([filter])  -- filter: {key = value} or function(e)
function _M.log_entries(self, filter)
  local ft = type(filter)
  if filter ~= nil and ft ~= "table" and ft ~= "function" then
    error("log_entries: filter must be a table or a function", 2)
  end
  if not self.log then return {} end
  return self.log:entries(filter)
end

--- syntax: sim:clear_log()
function _M.clear_log(self)
  if self.log then self.log:clear() end
end

--- syntax: n = sim:pending([system_id])  -- receipts waiting for a bind
function _M.pending(self, system_id)
  return self.delivery:count(system_id)
end

--- syntax: sim:set_faults(faults or nil)  -- replaces the faults in force
function _M.set_faults(self, faults)
  if faults ~= nil and type(faults) ~= "table" then
    error("set_faults: table or nil expected", 2)
  end
  local f = options.faults(faults, 2)
  if f and f.drop_after and not self.counting then
    error("set_faults: drop_after counts PDUs through the trace hook, on only when the "
          .. "simulator was created with log or with faults.drop_after", 2)
  end
  self.faults = f
  self.fault_count = 0
end

--- syntax: n = sim:drop_links()  -- close every bound link at once, as a
-- gateway that crashed and came back would (the listener stays): receipts
-- not yet acknowledged wait for the account's next bind. Returns how many.
function _M.drop_links(self)
  local list = {}
  for conn in pairs(self.delivery.links) do list[#list + 1] = conn end
  for _, conn in ipairs(list) do
    self.st.faults = self.st.faults + 1
    note(self, conn, "fault_drop", { reason = "drop_links" })
    conn:close()
  end
  return #list
end

--- syntax: n = sim:connections()  -- open connections, bound or not
function _M.connections(self)
  return self.srv:connections()
end

--- syntax: str = simulator.format_log(entry)  -- the one-line form --log prints
_M.format_log = simlog.format

_M.DEFAULT_ACCOUNTS = options.DEFAULT_ACCOUNTS
_M.DEFAULT_TEMPLATES = options.DEFAULT_TEMPLATES

return setmetatable(_M, {
  __call = function(_, opts)
    local sim, err = create(opts, 2)
    return sim, err
  end,
})
