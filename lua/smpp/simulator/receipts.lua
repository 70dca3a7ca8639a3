--- smpp.simulator.receipts: what a receipt says and whether one is sent.
-- A receipt is a small flat record until it goes out; `fields` turns it
-- into the deliver_sm the gateway sends (gateway: "Delivery Report").
--
--     local receipts = require "smpp.simulator.receipts"
--     local maker = receipts.new { esm_class = 0, text = true, delay = 0 }
--     local rec = maker:record(conn, "test", "+6598765432", "a1", nil, body_text, now)
--     conn:deliver(maker:fields(rec), ...)
--
-- @module smpp.simulator.receipts

local pdu = require "smpp.pdu"

local setmetatable = setmetatable
local math_floor = math.floor
local str_find = string.find
local str_sub = string.sub
local str_byte = string.byte
local str_format = string.format
local os_date = os.date

local format_receipt = pdu.format_receipt

local _M = {}
local mt = { __index = _M }

-- message_state TLV 0x0427 values (PROTOCOL.md "TLVs that matter here").
local STATE_DELIVERED = 2
local STATE_UNDELIVERABLE = 5

-- Appendix B of SMPP 3.4: "text: the first 20 characters of the message".
local TEXT_CHARS = 20

-- A receipt record: { conn, system_id, destination_addr, text,
-- message_id, message_state }. conn is the link it goes (or went) out on.
local R_DEST, R_TEXT, R_ID, R_STATE = 3, 4, 5, 6
_M.CONN, _M.SYSTEM_ID, _M.DEST, _M.TEXT, _M.ID, _M.STATE = 1, 2, R_DEST, R_TEXT, R_ID, R_STATE

--- The first n characters of the UTF-8 string s (a cut never splits a
-- character).
function _M.first_chars(s, n)
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

--- Whether a submit gets a receipt. SMPP 3.4 5.2.17, bits 0-1 of
-- registered_delivery: 0 no receipt, 1 a receipt on the final outcome, 2
-- on failure only (UNDELIV here), 3 reserved, read as 1. The bits above
-- ask for SME acknowledgements and intermediate notifications, which the
-- gateway does not send. `undelivered`: the message's receipt says UNDELIV.
function _M.wanted(registered_delivery, undelivered)
  local want = registered_delivery % 4
  return want == 1 or want == 3 or (want == 2 and undelivered)
end

--- A receipt maker for one simulator: opts.esm_class (the deliver_sm's),
-- opts.text (false: `text:` left empty), opts.delay (seconds from the
-- answer to the receipt: the done date).
function _M.new(opts)
  -- One deliver_sm table reused for every receipt: the driver encodes it
  -- at once (smpp_session_submit checks and encodes immediately).
  -- gateway "Delivery Report": service_type MSG, empty source_addr, the
  -- submit's destination_addr, data_coding 0x00, esm_class 0x00,
  -- receipted_message_id and message_state TLVs.
  local tlvs = { receipted_message_id = "", message_state = STATE_DELIVERED }
  return setmetatable({
    text = opts.text, delay = opts.delay,
    tlvs = tlvs,
    deliver = {
      service_type = "MSG", source_addr = "", destination_addr = "",
      esm_class = opts.esm_class, data_coding = 0, short_message = "",
      registered_delivery = 0, tlvs = tlvs,
    },
    rtext = { id = "", sub = "001", dlvrd = "001", submit_date = "", done_date = "",
              stat = "DELIVRD", err = "000", text = "" },
    date_sec = -1, date_str = "",
  }, mt)
end

-- Dates for receipt text, YYMMDDhhmm (gateway: "delivery receipt format";
-- SMPP 3.4 Appendix B), in UTC, computed once per second.
local function date_at(self, t)
  local s = math_floor(t)
  if s ~= self.date_sec then
    self.date_sec = s
    self.date_str = os_date("!%y%m%d%H%M", s)
  end
  return self.date_str
end

--- The receipt of message msgid, submitted at `now`: DELIVRD, or UNDELIV
-- with err_code (the err field, 3 digits). body_text is the message's
-- UTF-8 text; the receipt's `text:` holds its first 20 characters.
function _M:record(conn, system_id, dest, msgid, err_code, body_text, now)
  local r = self.rtext
  r.id = msgid
  r.submit_date = date_at(self, now)
  r.done_date = date_at(self, now + self.delay)
  if err_code then
    r.stat, r.dlvrd = "UNDELIV", "000"
    r.err = str_format("%03d", err_code % 1000)
  else
    r.stat, r.dlvrd, r.err = "DELIVRD", "001", "000"
  end
  r.text = self.text and _M.first_chars(body_text, TEXT_CHARS) or ""
  return { conn, system_id, dest, format_receipt(r), msgid,
           err_code and STATE_UNDELIVERABLE or STATE_DELIVERED }
end

--- The deliver_sm fields of rec: one table, reused by the next call.
function _M:fields(rec)
  local d = self.deliver
  d.destination_addr = rec[R_DEST]
  d.short_message = rec[R_TEXT]
  self.tlvs.receipted_message_id = rec[R_ID]
  self.tlvs.message_state = rec[R_STATE]
  return d
end

return _M
