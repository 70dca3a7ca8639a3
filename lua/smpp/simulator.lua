-- smpp.simulator: the EngageLab SMPP gateway's behaviour on a local port,
-- for examples, tests and users' own test suites.
--
-- Every rule here cites the gateway's text (reference/engagelab-smpp.txt,
-- "gateway:" below) or PROTOCOL.md. The wire work (framing, the bind state
-- machine, enquire_link, unbind, generic_nack for what the gateway does not
-- offer, the deliver_sm window) is the server role of the session in
-- smpp.ev; this file decides what the gateway decides: who may bind, which
-- submits pass, what the receipts say and when they go.
--
-- Hot path (one submit_sm): one rule check, one message_id, one answer and
-- one receipt. Everything else (log entries, fault counters, undeliverable
-- rules, the trace hook that counts PDUs for drop_after) costs nothing
-- unless it is configured.

local ev = require "smpp.ev"
local pdu = require "smpp.pdu"
local core = require "smpp.core"

local type = type
local pairs = pairs
local ipairs = ipairs
local next = next
local tostring = tostring
local error = error
local setmetatable = setmetatable
local math_floor = math.floor
local math_max = math.max
local math_random = math.random
local str_find = string.find
local str_sub = string.sub
local str_byte = string.byte
local str_format = string.format
local str_rep = string.rep
local os_date = os.date
local io_stderr = io.stderr

local ev_now = ev.now
local ev_timer = ev.timer
local parse_body = core.parse_body
local ucs2_to_utf8 = pdu.ucs2_to_utf8
local format_receipt = pdu.format_receipt

local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }

-- command_status values the gateway answers with (gateway: "Failure
-- Response" table; PROTOCOL.md "command_status values").
local ESME_ROK = 0x00000000
local ESME_RSYSERR = 0x00000008
local ESME_RINVPARAM = 0x00000032
local ESME_RSUBMITFAIL = 0x00000045
local ESME_RINVNUMMSGS = 0x00000055

-- message_state TLV 0x0427 values (PROTOCOL.md "TLVs that matter here").
local STATE_DELIVERED = 2
local STATE_UNDELIVERABLE = 5

local DATA_CODING_UCS2 = 0x08

-- gateway: service_type "Values: MSG/CODE/MRKT - Default: MSG"; an empty
-- service_type is SMPP 3.4's "default", which the gateway reads as MSG.
local SERVICE_TYPES = { [""] = true, MSG = true, CODE = true, MRKT = true }

-- gateway: destination_addr "must be in international mobile number format
-- (e.g., +6598765432)": a plus and E.164's 7 to 15 digits.
local DEST_PATTERN = "^%+" .. str_rep("%d", 7) .. str_rep("%d?", 8) .. "$"

-- SMPP 3.4 5.2.1: a system_id is at most 15 bytes, a password at most 8.
local MAX_SYSTEM_ID = 15
local MAX_PASSWORD = 8

-- Defaults, documented in doc/simulator.md.
local DEFAULT_ACCOUNTS = { test = "secret" }
local DEFAULT_TEMPLATES = { "otp-login", "otp-signup", "notice", "promo" }
local DEFAULT_LOG_SIZE = 10000
local DEFAULT_MAX_PENDING = 1000000
-- deliver_sm in flight per link. The gateway's text names no window; 100
-- lets receipts keep pace with a client submitting at window 100 (with
-- the driver's default of 10 they queue up behind each other).
local DEFAULT_WINDOW = 100
-- Appendix B of SMPP 3.4: "text: the first 20 characters of the message".
local RECEIPT_TEXT_CHARS = 20

-- Option keys and their types; anything else is misuse and raises.
local OPTIONS = {
  host = "string", port = "number", accounts = "table", templates = "table",
  receipt_delay = "number", receipt_esm_class = "number",
  receipt_text = "boolean", undeliverable = { string = true, table = true, ["function"] = true },
  enquire_link_interval = "number", idle_timeout = "number",
  response_timeout = "number", bind_timeout = "number", window = "number",
  queue_size = "number", max_pdu = "number", faults = "table",
  log = { boolean = true, ["function"] = true, string = true },
  log_size = "number", max_pending = "number",
}

local FAULT_KEYS = {
  status = { number = true, string = true }, rate = "number", every = "number",
  delay = "number", drop_after = "number", no_answer = "boolean",
  receipt_first = "boolean",
}

local function check_type(where, key, value, want, level)
  local t = type(value)
  if type(want) == "table" then
    if want[t] then return end
    local names = {}
    for k in pairs(want) do names[#names + 1] = k end
    table.sort(names)
    want = table.concat(names, " or ")
  elseif t == want then
    return
  end
  error(str_format("%s: bad option '%s' (%s expected, got %s)", where, key, want, t), level + 1)
end

-- Status names both ways, from the codec's table so a name is spelt once;
-- a number without a name reads "0x%08X".
local status_name = pdu.status_string

local function status_value(where, v, level)
  if type(v) == "number" then
    if v < 0 or v > 0xFFFFFFFF or v ~= math_floor(v) then
      error(str_format("%s: status %s out of range", where, tostring(v)), level + 1)
    end
    return v
  end
  local n = pdu.status_value(v)
  if not n then
    error(str_format("%s: unknown status name '%s'", where, v), level + 1)
  end
  return n
end

local function normalize_accounts(accounts, level)
  local out, n = {}, 0
  local function add(id, pw)
    if type(id) ~= "string" or type(pw) ~= "string" then
      error("simulator: accounts need string system_id and password", level + 2)
    end
    if #id == 0 or #id > MAX_SYSTEM_ID then
      error(str_format("simulator: system_id '%s' must be 1 to %d bytes", id, MAX_SYSTEM_ID),
            level + 2)
    end
    if #pw > MAX_PASSWORD then
      error(str_format("simulator: password of '%s' is over %d bytes (SMPP 3.4 5.2.1)",
                       id, MAX_PASSWORD), level + 2)
    end
    out[id] = pw
    n = n + 1
  end
  if accounts[1] ~= nil then
    for _, a in ipairs(accounts) do
      if type(a) ~= "table" then
        error("simulator: accounts list entries must be {system_id =, password =}", level + 1)
      end
      add(a.system_id, a.password)
    end
  else
    for id, pw in pairs(accounts) do add(id, pw) end
  end
  if n == 0 then error("simulator: accounts is empty", level + 1) end
  return out
end

local function normalize_templates(templates, level)
  local out = {}
  for k, v in pairs(templates) do
    if type(k) == "number" and type(v) == "string" then
      out[v] = true
    elseif type(k) == "string" and v == true then
      out[k] = true
    else
      error("simulator: templates must be a list of template ids", level + 1)
    end
  end
  return out
end

-- undeliverable: a prefix, a list of prefixes, or function(submit) ->
-- true / an err number. Returns a function(dest, submit) -> err or nil, or
-- nil when every message is delivered.
local function undeliverable_rule(u, level)
  if u == nil then return nil end
  if type(u) == "function" then
    -- The submit table is built only for a function rule.
    return function(dest, p, sid, body, msgid)
      local r = u({ system_id = sid, destination_addr = dest, service_type = p.service_type,
                    body = body, message_id = msgid, pdu = p })
      if r == true then return 1 end
      if type(r) == "number" and r > 0 then return r end
      return nil
    end
  end
  local prefixes = type(u) == "string" and { u } or u
  for _, p in ipairs(prefixes) do
    if type(p) ~= "string" or p == "" then
      error("simulator: undeliverable prefixes must be non-empty strings", level + 1)
    end
  end
  return function(dest)
    for i = 1, #prefixes do
      local p = prefixes[i]
      if str_sub(dest, 1, #p) == p then return 1 end
    end
    return nil
  end
end

local function normalize_faults(f, level)
  if f == nil then return nil end
  for k, v in pairs(f) do
    local want = FAULT_KEYS[k]
    if not want then
      error(str_format("simulator: unknown fault '%s'", tostring(k)), level + 1)
    end
    check_type("simulator: faults", k, v, want, level + 1)
  end
  local out = {
    status = f.status ~= nil and status_value("simulator: faults", f.status, level + 1)
      or ESME_RSYSERR,
    rate = f.rate, every = f.every, delay = f.delay, drop_after = f.drop_after,
    no_answer = f.no_answer, receipt_first = f.receipt_first,
  }
  if out.status == ESME_ROK then
    error("simulator: faults.status must be a failure status, not 0", level + 1)
  end
  if out.rate and (out.rate < 0 or out.rate > 1) then
    error("simulator: faults.rate must be between 0 and 1", level + 1)
  end
  if out.every and (out.every < 1 or out.every ~= math_floor(out.every)) then
    error("simulator: faults.every must be a positive integer", level + 1)
  end
  if out.drop_after and (out.drop_after < 0 or out.drop_after ~= math_floor(out.drop_after)) then
    error("simulator: faults.drop_after must be an integer >= 0", level + 1)
  end
  if out.delay and out.delay < 0 then
    error("simulator: faults.delay must be >= 0", level + 1)
  end
  if next(f) == nil then return nil end
  return out
end

-- Receipt text's "text:" field: the first 20 characters of the message body
-- (UTF-8 aware, so a cut never splits a character).
local function first_chars(s, n)
  local head = str_sub(s, 1, n)
  if not str_find(head, "[\128-\255]") then return head end
  local i, count, len = 1, 0, #s
  while i <= len and count < n do
    local c = str_byte(s, i)
    if c < 0x80 then i = i + 1
    elseif c >= 0xF0 then i = i + 4
    elseif c >= 0xE0 then i = i + 3
    else i = i + 2 end
    count = count + 1
  end
  return str_sub(s, 1, i - 1)
end

local function log_line(e)
  local t = e.time or 0
  local head = str_format("%s.%03d #%s", os_date("!%H:%M:%S", math_floor(t)),
                          math_floor((t % 1) * 1000), tostring(e.conn or "-"))
  if e.dir == "in" or e.dir == "out" then
    if e.command == nil then
      -- The driver could not frame the bytes (PROTOCOL.md "Framing").
      return str_format("%s %-3s broken stream: %s", head, e.dir, tostring(e.error))
    end
    local p = e.pdu or {}
    local extra = e.error and " error=" .. e.error or ""
    if e.command == "submit_sm" or e.command == "deliver_sm" then
      extra = extra .. str_format(" service_type=%q dest=%s dc=%s sm=%q",
                                  tostring(p.service_type), tostring(p.destination_addr),
                                  tostring(p.data_coding), tostring(p.short_message))
    elseif e.command == "submit_sm_resp" then
      extra = extra .. " message_id=" .. tostring(p.message_id)
    elseif p.system_id then
      extra = extra .. " system_id=" .. tostring(p.system_id)
    end
    return str_format("%s %-3s %s seq=%s status=%s%s", head, e.dir, tostring(e.command),
                      tostring(e.sequence_number), tostring(e.status_name or e.command_status),
                      extra)
  end
  local extra = {}
  for _, k in ipairs({ "system_id", "message_id", "status_name", "count", "reason" }) do
    if e[k] ~= nil then extra[#extra + 1] = k .. "=" .. tostring(e[k]) end
  end
  return str_format("%s sim %s %s", head, tostring(e.event), table.concat(extra, " "))
end

-- lvl: the error level of the user's call, counted from this frame.
local function create(opts, lvl)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error("simulator: options table expected, got " .. type(opts), lvl)
  end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then error(str_format("simulator: unknown option '%s'", tostring(k)), lvl) end
    check_type("simulator", k, v, want, lvl)
  end
  local accounts = normalize_accounts(opts.accounts or DEFAULT_ACCOUNTS, lvl)
  local templates = normalize_templates(opts.templates or DEFAULT_TEMPLATES, lvl)
  local undeliverable = undeliverable_rule(opts.undeliverable, lvl)
  local faults = normalize_faults(opts.faults, lvl)
  local receipt_delay = opts.receipt_delay or 0
  if receipt_delay < 0 then error("simulator: receipt_delay must be >= 0", lvl) end
  local receipt_esm_class = opts.receipt_esm_class or 0x00
  if receipt_esm_class < 0 or receipt_esm_class > 255 or receipt_esm_class % 1 ~= 0 then
    error("simulator: receipt_esm_class must be an integer 0..255", lvl)
  end
  local receipt_text = opts.receipt_text ~= false
  local log_size = opts.log_size or DEFAULT_LOG_SIZE
  local max_pending = opts.max_pending or DEFAULT_MAX_PENDING

  -- Logging: nil/false off; true: memory + a line on stderr; "memory":
  -- memory only; a function: memory + fn(entry).
  local log_opt = opts.log
  local logging = log_opt ~= nil and log_opt ~= false
  local log_fn
  if log_opt == true then
    log_fn = function(e) io_stderr:write("smpp-sim ", log_line(e), "\n") end
  elseif type(log_opt) == "function" then
    log_fn = log_opt
  elseif type(log_opt) == "string" and log_opt ~= "memory" then
    error("simulator: log must be true, \"memory\" or a function", lvl)
  end

  local self = setmetatable({}, mt)

  -- Counters live in upvalues: the hot path bumps locals, sim:stats()
  -- copies them out.
  local n_binds, n_binds_refused, n_closed_unbound = 0, 0, 0
  local n_submits, n_submits_ok, n_rejected, n_faults = 0, 0, 0, 0
  local n_receipts, n_receipts_sent, n_receipts_acked, n_receipts_unacked = 0, 0, 0, 0
  local n_receipts_resent, n_receipts_dropped, n_pending = 0, 0, 0
  local n_receipts_not_requested, n_receipts_not_sent = 0, 0
  local rejected_by = {}
  local closed = false

  -- Open connections: conn -> system_id once bound, false before.
  local conns = {}
  local n_bound = 0
  -- Bound connections per account: system_id -> { [conn] = true }.
  local by_account = {}
  -- Receipts whose deliver_sm was not acknowledged, per account, in order:
  -- resent on that account's next bind (see doc/simulator.md, "Receipts").
  local pending = {}
  -- Filled only by the trace hook: PDUs received per connection (for the
  -- first-PDU rule and drop_after), and the decode or framing error that
  -- ended a link (the driver's on_close says only "protocol error").
  local pdus_in = setmetatable({}, { __mode = "k" })
  local broken = setmetatable({}, { __mode = "k" })

  -- Bounded log ring.
  local ring, ring_head, ring_count = {}, 1, 0
  local function log(e)
    e.time = e.time or ev_now()
    local idx = (ring_head + ring_count - 1) % log_size + 1
    if ring_count < log_size then
      ring_count = ring_count + 1
    else
      ring_head = ring_head % log_size + 1
    end
    ring[idx] = e
    if log_fn then log_fn(e) end
  end
  local function note(conn, event, fields)
    if not logging then return end
    fields = fields or {}
    fields.dir = "sim"
    fields.event = event
    if conn then
      fields.conn = conn:id()
      fields.system_id = fields.system_id or conns[conn] or nil
    end
    log(fields)
  end

  -- message_id: a per-simulator counter in hex from a random base, so ids
  -- are unique across every connection of one simulator and unlikely to
  -- repeat across simulators (a client's database may outlive one run).
  local id_next = math_random(1, 0x7FFFFF) * 0x1000000

  -- Dates for receipt text, YYMMDDhhmm (gateway: "delivery receipt
  -- format"; SMPP 3.4 Appendix B), in UTC, computed once per second.
  local date_sec, date_str = -1, ""
  local function date_at(t)
    local s = math_floor(t)
    if s ~= date_sec then
      date_sec = s
      date_str = os_date("!%y%m%d%H%M", s)
    end
    return date_str
  end

  -- ----------------------------------------------------------------------
  -- Due queues: receipts and late answers go out after a fixed delay, so
  -- due times only grow and one timer per queue is enough (no timer per
  -- message). fire(item) runs for each item in order.
  local function new_queue(fire)
    local due, items, head, tail = {}, {}, 1, 0
    local timer
    local function run()
      local now = ev_now()
      while head <= tail do
        local t = due[head]
        if t > now then
          timer:again(t - now)
          return
        end
        local item = items[head]
        due[head], items[head] = nil, nil
        head = head + 1
        fire(item)
      end
      head, tail = 1, 0
    end
    local q = {}
    function q.push(at, item)
      tail = tail + 1
      due[tail], items[tail] = at, item
      if not timer then
        timer = ev_timer(math_max(at - ev_now(), 0), run)
      elseif not timer:active() then
        timer:again(math_max(at - ev_now(), 0))
      end
    end
    function q.size() return tail - head + 1 end
    -- Stops the queue; returns how many of the items it discards pass
    -- counts(item) (all of them without counts), so none goes uncounted.
    function q.stop(counts)
      if timer then timer:stop() end
      local n = 0
      for i = head, tail do
        if counts == nil or counts(items[i]) then n = n + 1 end
        due[i], items[i] = nil, nil
      end
      head, tail = 1, 0
      return n
    end
    return q
  end

  -- ----------------------------------------------------------------------
  -- Receipts. A receipt record is an array, kept small and flat:
  -- { conn, system_id, destination_addr, text, message_id, message_state }.
  local R_CONN, R_SID, R_DEST, R_TEXT, R_ID, R_STATE = 1, 2, 3, 4, 5, 6

  -- One deliver_sm table reused for every receipt: conn:deliver encodes it
  -- at once (smpp_session_submit checks and encodes immediately).
  -- gateway "Delivery Report": service_type MSG, empty source_addr, the
  -- submit's destination_addr, data_coding 0x00, esm_class 0x00,
  -- receipted_message_id and message_state TLVs.
  local dtlvs = { receipted_message_id = "", message_state = STATE_DELIVERED }
  local dfields = {
    service_type = "MSG", source_addr = "", destination_addr = "",
    esm_class = receipt_esm_class, data_coding = 0, short_message = "",
    registered_delivery = 0, tlvs = dtlvs,
  }
  local rfields = { id = "", sub = "001", dlvrd = "001", submit_date = "", done_date = "",
                    stat = "DELIVRD", err = "000", text = "" }

  local send_receipt -- forward

  local function keep_pending(rec, why)
    local sid = rec[R_SID]
    if n_pending >= max_pending then
      n_receipts_dropped = n_receipts_dropped + 1
      -- Not silent: counted and always written to stderr, logging or not.
      io_stderr:write(str_format("smpp-sim: receipt %s for %s dropped: %d receipts already "
                                 .. "pending (max_pending)\n", rec[R_ID], sid, n_pending))
      note(nil, "receipt_dropped", { system_id = sid, message_id = rec[R_ID], reason = why })
      return
    end
    local list = pending[sid]
    if not list then
      list = {}
      pending[sid] = list
    end
    list[#list + 1] = rec
    n_pending = n_pending + 1
    if logging then
      note(nil, "receipt_pending", { system_id = sid, message_id = rec[R_ID], reason = why })
    end
  end

  -- Receipts wait here, per connection and in order, while the session's
  -- deliver_sm queue is full (a client that submits faster than it takes
  -- receipts); each finished deliver_sm lets the next one in.
  -- conn -> { first = i, last = j, [i..j] = rec }
  local backlog = {}
  local n_backlog = 0
  local drain -- forward

  -- How a deliver_sm ended; rec comes back as the callback's extra
  -- argument (no closure per receipt). rec[R_CONN] is the link it went
  -- out on: it changes only when the receipt is sent again, after this.
  local function receipt_done(res, e, _, _, rec)
    local conn = rec[R_CONN]
    if res then
      n_receipts_acked = n_receipts_acked + 1
    else
      n_receipts_unacked = n_receipts_unacked + 1
      if not closed then keep_pending(rec, e) end
    end
    if backlog[conn] and conns[conn] then drain(conn) end
  end

  -- Hand rec to the session. Returns false only when its queue is full.
  local function try_deliver(conn, rec)
    dfields.destination_addr = rec[R_DEST]
    dfields.short_message = rec[R_TEXT]
    dtlvs.receipted_message_id = rec[R_ID]
    dtlvs.message_state = rec[R_STATE]
    local ok, err = conn:deliver(dfields, receipt_done, rec)
    if ok then
      n_receipts_sent = n_receipts_sent + 1
      return true
    end
    if err == "queue full" then return false end
    keep_pending(rec, err)
    return true
  end

  drain = function(conn)
    local q = backlog[conn]
    local i, last = q.first, q.last
    while i <= last do
      if not try_deliver(conn, q[i]) then
        q.first = i
        return
      end
      q[i] = nil
      i = i + 1
      n_backlog = n_backlog - 1
    end
    backlog[conn] = nil
  end

  local function deliver_to(conn, rec)
    local q = backlog[conn]
    if q == nil then
      if try_deliver(conn, rec) then return end
      q = { first = 1, last = 0 }
      backlog[conn] = q
    end
    q.last = q.last + 1
    q[q.last] = rec
    n_backlog = n_backlog + 1
  end

  -- A receipt goes to the connection its submit came on, else to any other
  -- bound connection of the same account (the gateway reports per account),
  -- else it waits for that account's next bind.
  send_receipt = function(rec)
    local conn = rec[R_CONN]
    if not conns[conn] then
      local set = by_account[rec[R_SID]]
      conn = set and next(set)
      if not conn then
        keep_pending(rec, "no bound connection")
        return
      end
      rec[R_CONN] = conn
    end
    deliver_to(conn, rec)
  end

  local receipt_queue = new_queue(send_receipt)

  local function schedule_receipt(rec)
    n_receipts = n_receipts + 1
    if receipt_delay == 0 then
      send_receipt(rec)
    else
      receipt_queue.push(ev_now() + receipt_delay, rec)
    end
  end

  local function make_receipt(conn, sid, dest, msgid, err_code, body_text)
    local now = ev_now()
    rfields.id = msgid
    rfields.submit_date = date_at(now)
    rfields.done_date = date_at(now + receipt_delay)
    if err_code then
      rfields.stat, rfields.dlvrd = "UNDELIV", "000"
      rfields.err = str_format("%03d", err_code % 1000)
    else
      rfields.stat, rfields.dlvrd, rfields.err = "DELIVRD", "001", "000"
    end
    rfields.text = receipt_text and first_chars(body_text, RECEIPT_TEXT_CHARS) or ""
    return { conn, sid, dest, format_receipt(rfields), msgid,
             err_code and STATE_UNDELIVERABLE or STATE_DELIVERED }
  end

  -- ----------------------------------------------------------------------
  -- The submit_sm rules (gateway "Message Sending", "Failure Response").
  -- Returns 0, body, utf8_text or status, reason.
  local function check_submit(p)
    local st = p.service_type
    if not SERVICE_TYPES[st] then
      return ESME_RINVPARAM, "service_type must be MSG, CODE or MRKT"
    end
    if not str_find(p.destination_addr, DEST_PATTERN) then
      return ESME_RINVPARAM, "destination_addr must be + and 7 to 15 digits"
    end
    local bytes = p.short_message
    local tlvs = p.tlvs
    local payload = tlvs and tlvs.message_payload
    if payload then
      -- PROTOCOL.md: a message over 254 bytes travels in message_payload
      -- with sm_length 0; both at once is ambiguous (SMPP 3.4 5.3.2.32).
      if bytes ~= "" then
        return ESME_RINVPARAM, "both short_message and message_payload are set"
      end
      bytes = payload
    end
    if p.data_coding == DATA_CODING_UCS2 then
      local text, err = ucs2_to_utf8(bytes)
      if not text then return ESME_RINVNUMMSGS, "short_message: " .. tostring(err) end
      bytes = text
    end
    local body, err = parse_body(bytes)
    if not body then return ESME_RINVNUMMSGS, "short_message: " .. tostring(err) end
    -- gateway: "code ... used only when service_type is code".
    if st == "CODE" and type(body.code) ~= "string" then
      return ESME_RINVNUMMSGS, "short_message: code is required for service_type CODE"
    end
    if not templates[body.id] then
      return ESME_RSUBMITFAIL, "unknown template id"
    end
    return ESME_ROK, body, bytes
  end

  -- ----------------------------------------------------------------------
  -- Faults (doc/simulator.md, "Fault injection").
  local fault_every_count = 0

  -- Late answers: { conn, sequence_number, status, message_id, receipt }.
  local answer_queue = new_queue(function(a)
    local conn, rec = a[1], a[5]
    if conns[conn] then
      conn:respond(a[2], a[3], a[4])
    end
    -- The message was accepted when it came in, so its receipt follows
    -- even when the link dropped before the answer (outcome unknown to
    -- the client, as with the real gateway).
    if rec then schedule_receipt(rec) end
  end)

  -- Returns the message_id, and the receipt record when one is wanted.
  local function accept(conn, p, sid, body, text)
    local msgid = str_format("%x", id_next)
    id_next = id_next + 1
    n_submits_ok = n_submits_ok + 1
    local dest = p.destination_addr
    local err_code
    if undeliverable then
      err_code = undeliverable(dest, p, sid, body, msgid)
    end
    -- SMPP 3.4 5.2.17, bits 0-1 of registered_delivery: 0 no receipt, 1 a
    -- receipt on the final outcome, 2 on failure only (UNDELIV here), 3
    -- reserved, read as 1. The bits above ask for SME acknowledgements and
    -- intermediate notifications, which the gateway does not send.
    local want = p.registered_delivery % 4
    local rec
    if want == 1 or want == 3 or (want == 2 and err_code) then
      rec = make_receipt(conn, sid, dest, msgid, err_code, text)
    else
      n_receipts_not_requested = n_receipts_not_requested + 1
    end
    if logging then
      note(conn, "submit_accepted", { message_id = msgid, sequence_number = p.sequence_number,
                                      template = body.id, destination_addr = dest,
                                      stat = err_code and "UNDELIV" or "DELIVRD",
                                      receipt = rec ~= nil })
    end
    return msgid, rec
  end

  local function reject(conn, p, status, reason)
    n_rejected = n_rejected + 1
    local name = status_name(status)
    rejected_by[name] = (rejected_by[name] or 0) + 1
    if logging then
      note(conn, "submit_rejected", { sequence_number = p.sequence_number, command_status = status,
                                      status_name = name, reason = reason })
    end
  end

  -- The slow path: a fault is configured. Returns what on_submit returns.
  local function submit_with_faults(conn, p, sid)
    local f = faults
    if f.no_answer then
      n_faults = n_faults + 1
      note(conn, "fault_no_answer", { sequence_number = p.sequence_number })
      return
    end
    local fail = false
    if f.every then
      fault_every_count = fault_every_count + 1
      if fault_every_count >= f.every then
        fault_every_count = 0
        fail = true
      end
    end
    if not fail and f.rate and math_random() < f.rate then fail = true end

    local status, msgid, rec
    if fail then
      n_faults = n_faults + 1
      status = f.status
      reject(conn, p, status, "fault injected")
    else
      local body, text
      status, body, text = check_submit(p)
      if status == ESME_ROK then
        msgid, rec = accept(conn, p, sid, body, text)
      else
        reject(conn, p, status, body)
      end
    end

    if f.delay and f.delay > 0 then
      answer_queue.push(ev_now() + f.delay, { conn, p.sequence_number, status, msgid, rec })
      return
    end
    if rec and f.receipt_first then
      -- PROTOCOL.md: "A receipt can arrive before the submit_sm_resp of
      -- the same message"; this fault makes it happen every time.
      schedule_receipt(rec)
      conn:respond(p.sequence_number, status, msgid)
      return
    end
    conn:respond(p.sequence_number, status, msgid)
    if rec then schedule_receipt(rec) end
  end

  local function on_submit(conn, p)
    n_submits = n_submits + 1
    local sid = conns[conn]
    if faults then return submit_with_faults(conn, p, sid) end
    local status, body, text = check_submit(p)
    if status ~= ESME_ROK then
      reject(conn, p, status, body)
      return status
    end
    local msgid, rec = accept(conn, p, sid, body, text)
    -- gateway: "Message delivery is synchronous": the answer goes first,
    -- then the receipt (at once when receipt_delay is 0).
    conn:respond(p.sequence_number, ESME_ROK, msgid)
    if rec then schedule_receipt(rec) end
  end

  -- ----------------------------------------------------------------------
  -- Binds (gateway "Establishing Connection").
  local flush_timers = {}
  local function flush_pending(conn, sid)
    local list = pending[sid]
    if not list then return end
    pending[sid] = nil
    n_pending = n_pending - #list
    -- The bind_transceiver_resp goes out when on_bind returns; deliver_sm
    -- may follow only once bound, so the resend waits one loop turn. The
    -- timer is kept in flush_timers until it fires.
    local t
    t = ev_timer(0, function()
      flush_timers[t] = nil
      for i = 1, #list do
        local rec = list[i]
        n_receipts_resent = n_receipts_resent + 1
        note(conn, "receipt_resent", { message_id = rec[R_ID] })
        rec[R_CONN] = conn
        send_receipt(rec)
      end
    end)
    flush_timers[t] = true
  end

  local function on_bind(conn, p)
    if closed then return false end
    local sid, pw = p.system_id, p.password
    local want = accounts[sid]
    -- gateway: "If authentication fails, the server will disconnect the
    -- TCP connection and log the reason for failure."
    if want == nil or want ~= pw then
      n_binds_refused = n_binds_refused + 1
      if logging then
        note(conn, "bind_refused", {
          system_id = sid,
          reason = want == nil and "unknown system_id" or "wrong password",
        })
      end
      return false
    end
    n_binds = n_binds + 1
    conns[conn] = sid
    n_bound = n_bound + 1
    local set = by_account[sid]
    if not set then
      set = {}
      by_account[sid] = set
    end
    set[conn] = true
    note(conn, "bound", { system_id = sid })
    flush_pending(conn, sid)
    return 0
  end

  local function on_close(conn, reason)
    local sid = conns[conn]
    if sid then
      n_bound = n_bound - 1
      local set = by_account[sid]
      if set then
        set[conn] = nil
        if next(set) == nil then by_account[sid] = nil end
      end
    else
      n_closed_unbound = n_closed_unbound + 1
    end
    conns[conn] = nil
    pdus_in[conn] = nil
    local why = broken[conn]
    broken[conn] = nil
    -- Receipts that never left: to another link of the account, or pending.
    local q = backlog[conn]
    if q then
      backlog[conn] = nil
      for i = q.first, q.last do
        n_backlog = n_backlog - 1
        send_receipt(q[i])
      end
    end
    if logging then
      reason = tostring(reason)
      -- The driver says only "protocol error"; the trace saw what it was.
      if why and reason == "protocol error" then reason = reason .. ": " .. why end
      note(conn, "closed", { system_id = sid or nil, reason = reason })
    end
  end

  -- Why the first PDU of a link is refused, or nil when it is a
  -- bind_transceiver that decodes (on_bind then judges the credentials).
  -- p.error without p.command: the stream could not be framed.
  local function first_pdu_refusal(p)
    local cmd, err = p.command, p.error
    if cmd == nil then return "broken stream: " .. tostring(err) end
    if cmd ~= "bind_transceiver" then
      return "first PDU was " .. cmd .. ", not bind_transceiver"
    end
    if err then return "bind_transceiver does not decode: " .. err end
    return nil
  end

  -- The trace hook sees every PDU in and out, decoded (password "***"),
  -- before the session acts on it. It is on only when the log is, or when
  -- drop_after must count PDUs: it decodes every PDU a second time (the
  -- session parses it too), a price the hot path must not pay otherwise.
  local trace
  if logging or (faults and faults.drop_after) then
    trace = function(conn, dir, p)
      local n
      if dir == "in" then
        n = (pdus_in[conn] or 0) + 1
        pdus_in[conn] = n
        if p.error then broken[conn] = p.error end
      end
      if logging then
        local status = p.command_status
        log({
          conn = conn:id(), system_id = conns[conn] or nil, dir = dir, command = p.command,
          sequence_number = p.sequence_number, command_status = status,
          status_name = status and status ~= 0 and status_name(status) or nil, pdu = p,
          error = p.error,
        })
        -- gateway: "the first packet must send the BindTransceiver
        -- command"; the session closes the socket, the log says why.
        -- Counted, not read from conns: the trace sees a whole read at
        -- once, so PDUs sent right behind the bind come before on_bind.
        if n == 1 then
          local why = first_pdu_refusal(p)
          if why then note(conn, "bind_refused", { reason = why }) end
        end
      end
      -- doc/simulator.md "Fault injection": drop after n PDUs, every PDU
      -- received counting (bind, enquire_link, submit_sm, deliver_sm_resp,
      -- unbind...), not only submits. The trace runs before the session
      -- parses what it shows, so PDU n + 1 is never acted on.
      local limit = n and faults and faults.drop_after
      if limit and n == limit + 1 then
        n_faults = n_faults + 1
        note(conn, "fault_drop", { sequence_number = p.sequence_number,
                                   reason = str_format("PDU %d (%s) came in, drop_after %d", n,
                                                       tostring(p.command or "unframed"),
                                                       limit) })
        conn:close()
      end
    end
  end

  local counting = trace ~= nil

  local srv, err = ev.server {
    host = opts.host or "127.0.0.1",
    port = opts.port or 0,
    window = opts.window or DEFAULT_WINDOW,
    queue_size = opts.queue_size,
    response_timeout = opts.response_timeout,
    bind_timeout = opts.bind_timeout,
    enquire_link_interval = opts.enquire_link_interval or 0,
    idle_timeout = opts.idle_timeout or 0,
    max_pdu = opts.max_pdu,
    on_bind = on_bind,
    on_submit = on_submit,
    on_close = on_close,
    trace = trace,
  }
  if not srv then return nil, err end

  -- ----------------------------------------------------------------------
  -- Methods that need the upvalues; the public ones below go through them.
  self._srv = srv

  local function copy(t)
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    return c
  end

  function self._stats()
    return {
      connections = srv:connections(), bound = n_bound,
      binds = n_binds, binds_refused = n_binds_refused, closed_before_bind = n_closed_unbound,
      submits = n_submits, submits_ok = n_submits_ok, submits_rejected = n_rejected,
      rejected = copy(rejected_by),
      faults = n_faults,
      receipts = n_receipts, receipts_sent = n_receipts_sent,
      receipts_acked = n_receipts_acked, receipts_unacked = n_receipts_unacked,
      receipts_pending = n_pending, receipts_resent = n_receipts_resent,
      receipts_dropped = n_receipts_dropped,
      receipts_not_requested = n_receipts_not_requested,
      receipts_not_sent = n_receipts_not_sent,
      receipts_due = receipt_queue.size(), receipts_waiting = n_backlog,
      answers_due = answer_queue.size(),
    }
  end

  function self._log_entries(filter)
    local out = {}
    local ft = type(filter)
    for i = 0, ring_count - 1 do
      local e = ring[(ring_head + i - 1) % log_size + 1]
      local keep = true
      if ft == "function" then
        keep = filter(e)
      elseif ft == "table" then
        for k, v in pairs(filter) do
          if e[k] ~= v then
            keep = false
            break
          end
        end
      end
      if keep then out[#out + 1] = e end
    end
    return out
  end

  function self._clear_log()
    ring, ring_head, ring_count = {}, 1, 0
  end

  function self._pending(sid)
    if sid == nil then return n_pending end
    local list = pending[sid]
    return list and #list or 0
  end

  function self._set_faults(f)
    local nf = normalize_faults(f, 3)
    if nf and nf.drop_after and not counting then
      -- The trace hook is chosen when the server starts (ev.server).
      error("set_faults: drop_after counts PDUs through the trace hook, on only when the "
            .. "simulator was created with log or with faults.drop_after", 3)
    end
    faults = nf
    fault_every_count = 0
  end

  -- Receipts waiting for receipt_delay, and those of answers held back by
  -- the delay fault, can't be sent once the links are gone: count them
  -- (stats().receipts_not_sent) and log it, never drop them silently.
  local function has_receipt(a) return a[5] ~= nil end

  function self._close()
    if closed then return end
    closed = true
    local not_sent = receipt_queue.stop() + answer_queue.stop(has_receipt)
    n_receipts_not_sent = n_receipts_not_sent + not_sent
    for t in pairs(flush_timers) do t:stop() end
    flush_timers = {}
    srv:close()
    if not_sent > 0 then
      note(nil, "receipts_not_sent", {
        count = not_sent,
        reason = str_format("%d receipts not sent (still waiting for their delay)", not_sent),
      })
    end
    if n_pending > 0 then
      note(nil, "receipts_pending", {
        count = n_pending,
        reason = str_format("%d receipts pending (never acknowledged)", n_pending),
      })
    end
  end

  if logging then
    note(nil, "listening", { reason = str_format("%s:%d", opts.host or "127.0.0.1",
                                                 srv:port()) })
  end
  return self
end

--- syntax: sim, err = simulator.new(opts)  -- also simulator(opts)
function _M.new(opts)
  local sim, err = create(opts, 3)
  return sim, err
end

--- syntax: port = sim:port()
function _M.port(self)
  return self._srv:port()
end

--- syntax: sim:close()  -- stops listening and drops every connection
function _M.close(self)
  self._close()
  return true
end

--- syntax: t = sim:stats()
function _M.stats(self)
  return self._stats()
end

--- syntax: list = sim:log_entries([filter])  -- filter: {key = value} or function(e)
function _M.log_entries(self, filter)
  local ft = type(filter)
  if filter ~= nil and ft ~= "table" and ft ~= "function" then
    error("log_entries: filter must be a table or a function", 2)
  end
  return self._log_entries(filter)
end

--- syntax: sim:clear_log()
function _M.clear_log(self)
  self._clear_log()
end

--- syntax: n = sim:pending([system_id])  -- receipts waiting for a bind
function _M.pending(self, system_id)
  return self._pending(system_id)
end

--- syntax: sim:set_faults(faults or nil)  -- replaces the faults in force
function _M.set_faults(self, faults)
  if faults ~= nil and type(faults) ~= "table" then
    error("set_faults: table or nil expected", 2)
  end
  self._set_faults(faults)
end

--- syntax: n = sim:connections()  -- open connections, bound or not
function _M.connections(self)
  return self._srv:connections()
end

--- syntax: str = simulator.format_log(entry)  -- the one-line form --log prints
_M.format_log = log_line

_M.DEFAULT_ACCOUNTS = DEFAULT_ACCOUNTS
_M.DEFAULT_TEMPLATES = DEFAULT_TEMPLATES

return setmetatable(_M, {
  __call = function(_, opts)
    local sim, err = create(opts, 3)
    return sim, err
  end,
})
