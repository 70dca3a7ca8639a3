--- smpp.simulator.options: the simulator's options, checked and put in the
-- form the other parts use. Misuse raises at the user's line: every
-- function takes `level`, the user's frame counted from its caller (1: the
-- caller itself is the user's code).
--
-- @module smpp.simulator.options

local pdu = require "smpp.pdu"

local type = type
local pairs = pairs
local ipairs = ipairs
local next = next
local error = error
local tostring = tostring
local math_floor = math.floor
local str_sub = string.sub
local str_format = string.format
local tbl_sort = table.sort
local tbl_concat = table.concat

local _M = {}

-- SMPP 3.4 5.2.1: a system_id is at most 15 bytes, a password at most 8.
local MAX_SYSTEM_ID = 15
local MAX_PASSWORD = 8

-- ESME_RSYSERR (PROTOCOL.md "command_status values"): what a fault answers
-- unless told otherwise.
local DEFAULT_FAULT_STATUS = 0x00000008

-- Defaults, documented in doc/simulator.md.
_M.DEFAULT_ACCOUNTS = { test = "secret" }
_M.DEFAULT_TEMPLATES = { "otp-login", "otp-signup", "notice", "promo" }
_M.DEFAULT_LOG_SIZE = 10000
_M.DEFAULT_MAX_PENDING = 1000000
-- deliver_sm in flight per link. The gateway's text names no window; 100
-- lets receipts keep pace with a client submitting at window 100 (with
-- the driver's default of 10 they queue up behind each other).
_M.DEFAULT_WINDOW = 100

-- Option keys and their types; anything else is misuse and raises.
local OPTIONS = {
  host = "string", port = "number", accounts = "table", templates = "table",
  receipt_delay = "number", receipt_esm_class = "number",
  receipt_text = "boolean", undeliverable = { string = true, table = true, ["function"] = true },
  enquire_link_interval = "number", idle_timeout = "number",
  response_timeout = "number", bind_timeout = "number", window = "number",
  queue_size = "number", max_pdu = "number", faults = "table",
  log = { boolean = true, ["function"] = true, string = true },
  log_size = "number", max_pending = "number", receipt_route = "string",
}

local FAULT_KEYS = {
  status = { number = true, string = true }, rate = "number", every = "number",
  delay = "number", drop_after = "number", no_answer = "boolean",
  receipt_first = "boolean",
}

-- Raises unless type(value) is want (a type name, or a set of them).
local function check_type(where, key, value, want, level)
  local t = type(value)
  if type(want) == "table" then
    if want[t] then return end
    local names = {}
    for k in pairs(want) do names[#names + 1] = k end
    tbl_sort(names)
    want = tbl_concat(names, " or ")
  elseif t == want then
    return
  end
  error(str_format("%s: bad option '%s' (%s expected, got %s)", where, key, want, t), level + 1)
end

-- Raises for a key of t that keys does not have (an unknown `what`), or a
-- value of another type than keys gives for it.
local function check_keys(t, keys, what, where, level)
  for k, v in pairs(t) do
    local want = keys[k]
    if not want then
      error(str_format("simulator: unknown %s '%s'", what, tostring(k)), level + 1)
    end
    check_type(where, k, v, want, level + 1)
  end
end

--- A command_status from a number or a name (the codec's table, so a name
-- is spelt once).
-- @treturn integer the status
function _M.status(where, v, level)
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

--- Accounts as a map system_id -> password, from the map or the list form.
function _M.accounts(accounts, level)
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

--- Template ids as a set, from a list (or a set).
function _M.templates(templates, level)
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

--- undeliverable: a prefix, a list of prefixes, or function(submit) ->
-- true / an err number. Returns function(dest, pdu, system_id, body,
-- message_id) -> err number or nil, or nil when every message is delivered.
function _M.undeliverable(u, level)
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

--- Faults checked, with status as a number; nil for nil or {}.
function _M.faults(f, level)
  if f == nil then return nil end
  check_keys(f, FAULT_KEYS, "fault", "simulator: faults", level + 1)
  local out = {
    status = f.status ~= nil and _M.status("simulator: faults", f.status, level + 1)
      or DEFAULT_FAULT_STATUS,
    rate = f.rate, every = f.every, delay = f.delay, drop_after = f.drop_after,
    no_answer = f.no_answer, receipt_first = f.receipt_first,
  }
  if out.status == 0 then
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

--- Where log entries go besides memory: nil/false: no log at all; true:
-- a line on stderr (format(entry)); "memory": nowhere else; a function:
-- that function. Returns logging (boolean), fn or nil.
function _M.log(v, format, level)
  if v == nil or v == false then return false, nil end
  if v == true then
    -- io.stderr looked up at each entry: a program (or a test) may swap it.
    return true, function(e) io.stderr:write("smpp-sim ", format(e), "\n") end
  end
  if type(v) == "function" then return true, v end
  if v ~= "memory" then
    error("simulator: log must be true, \"memory\" or a function", level + 1)
  end
  return true, nil
end

--- Every option checked and defaulted. `format` is the log line formatter
-- (for log = true). Returns the configuration the simulator runs on, with
-- `server`: the options for the host's SMPP server, handlers not yet set.
function _M.normalize(opts, format, level)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error("simulator: options table expected, got " .. type(opts), level + 1)
  end
  check_keys(opts, OPTIONS, "option", "simulator", level + 1)
  local cfg = {
    accounts = _M.accounts(opts.accounts or _M.DEFAULT_ACCOUNTS, level + 1),
    templates = _M.templates(opts.templates or _M.DEFAULT_TEMPLATES, level + 1),
    undeliverable = _M.undeliverable(opts.undeliverable, level + 1),
    faults = _M.faults(opts.faults, level + 1),
    receipt_delay = opts.receipt_delay or 0,
    receipt_esm_class = opts.receipt_esm_class or 0x00,
    receipt_text = opts.receipt_text ~= false,
    log_size = opts.log_size or _M.DEFAULT_LOG_SIZE,
    max_pending = opts.max_pending or _M.DEFAULT_MAX_PENDING,
    receipt_route = opts.receipt_route or "same",
  }
  if cfg.receipt_route ~= "same" and cfg.receipt_route ~= "any" then
    error("simulator: receipt_route must be \"same\" or \"any\"", level + 1)
  end
  if cfg.receipt_delay < 0 then error("simulator: receipt_delay must be >= 0", level + 1) end
  local esm = cfg.receipt_esm_class
  if esm < 0 or esm > 255 or esm % 1 ~= 0 then
    error("simulator: receipt_esm_class must be an integer 0..255", level + 1)
  end
  cfg.logging, cfg.log_fn = _M.log(opts.log, format, level + 1)
  cfg.server = {
    host = opts.host or "127.0.0.1",
    port = opts.port or 0,
    window = opts.window or _M.DEFAULT_WINDOW,
    queue_size = opts.queue_size,
    response_timeout = opts.response_timeout,
    bind_timeout = opts.bind_timeout,
    enquire_link_interval = opts.enquire_link_interval or 0,
    idle_timeout = opts.idle_timeout or 0,
    max_pdu = opts.max_pdu,
  }
  return cfg
end

return _M
