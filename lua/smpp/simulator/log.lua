--- smpp.simulator.log: the simulator's in-memory log, a ring of the newest
-- entries, and the entries' one-line form. Entries are plain tables
-- (doc/simulator.md, "Asserting what your client did"):
--   a PDU:      {time, conn, system_id, dir = "in" | "out", command,
--                sequence_number, command_status, status_name, pdu, error}
--   a decision: {time, conn, system_id, dir = "sim", event, ...}
--
-- @module smpp.simulator.log

local pdu = require "smpp.pdu"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local setmetatable = setmetatable
local math_floor = math.floor
local str_format = string.format
local tbl_concat = table.concat
local os_date = os.date

local status_name = pdu.status_string

local _M = {}
local mt = { __index = _M }

--- A log keeping the newest `size` entries; fn(entry), when given, sees
-- each entry as it is added.
function _M.new(size, fn)
  return setmetatable({ size = size, fn = fn, ring = {}, head = 1, count = 0 }, mt)
end

--- Keep entry e (stamped with `now` unless it has a time).
function _M:add(e, now)
  e.time = e.time or now
  local size = self.size
  local idx = (self.head + self.count - 1) % size + 1
  if self.count < size then
    self.count = self.count + 1
  else
    self.head = self.head % size + 1
  end
  self.ring[idx] = e
  if self.fn then self.fn(e) end
end

--- The kept entries, oldest first; filter is nil, {key = value, ...} (all
-- must match) or function(entry) -> bool.
function _M:entries(filter)
  local out = {}
  local ft = type(filter)
  local ring, head, size = self.ring, self.head, self.size
  for i = 0, self.count - 1 do
    local e = ring[(head + i - 1) % size + 1]
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

--- Forget every kept entry.
function _M:clear()
  self.ring, self.head, self.count = {}, 1, 0
end

--- The entry for PDU p (decoded; p.error set when it does not decode, and
-- p.command nil as well when the bytes could not be framed) going `dir`
-- on connection conn_id, bound as system_id (or nil).
function _M.pdu_entry(conn_id, system_id, dir, p)
  local status = p.command_status
  return {
    conn = conn_id, system_id = system_id, dir = dir, command = p.command,
    sequence_number = p.sequence_number, command_status = status,
    status_name = status and status ~= 0 and status_name(status) or nil, pdu = p,
    error = p.error,
  }
end

--- The one-line form of entry e (what `log = true` prints).
function _M.format(e)
  -- wall: the time of day, which the simulator adds; time is the host's
  -- clock, monotonic on some backends.
  local t = e.wall or e.time or 0
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
  return str_format("%s sim %s %s", head, tostring(e.event), tbl_concat(extra, " "))
end

return _M
