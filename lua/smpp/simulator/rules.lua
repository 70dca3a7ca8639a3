--- smpp.simulator.rules: how the gateway judges what comes in: who may
-- bind, which submits pass and with which command_status the others are
-- answered, and when a fault fails a submit. (That a link's first PDU must
-- be bind_transceiver is the session's rule, in C.)
-- Each rule cites the gateway's text (reference/engagelab-smpp.txt,
-- "gateway:") or PROTOCOL.md. No I/O and no state: the simulator holds
-- the counters.
--
-- @module smpp.simulator.rules

local pdu = require "smpp.pdu"
local core = require "smpp.core"

local type = type
local tostring = tostring
local math_random = math.random
local str_find = string.find
local str_rep = string.rep

local parse_body = core.parse_body
local ucs2_to_utf8 = pdu.ucs2_to_utf8

local _M = {}

-- command_status values the gateway answers with (gateway: "Failure
-- Response" table; PROTOCOL.md "command_status values").
local ESME_ROK = 0x00000000
local ESME_RINVPARAM = 0x00000032
local ESME_RSUBMITFAIL = 0x00000045
local ESME_RINVNUMMSGS = 0x00000055
_M.ESME_ROK = ESME_ROK

local DATA_CODING_UCS2 = 0x08

-- gateway: service_type "Values: MSG/CODE/MRKT - Default: MSG"; an empty
-- service_type is SMPP 3.4's "default", which the gateway reads as MSG.
local SERVICE_TYPES = { [""] = true, MSG = true, CODE = true, MRKT = true }

-- gateway: destination_addr "must be in international mobile number format
-- (e.g., +6598765432)": a plus and E.164's 7 to 15 digits.
local DEST_PATTERN = "^%+" .. str_rep("%d", 7) .. str_rep("%d?", 8) .. "$"

--- Why a bind_transceiver is refused, or nil when accounts let it in.
-- gateway: "If authentication fails, the server will disconnect the TCP
-- connection and log the reason for failure."
function _M.bind_refusal(accounts, system_id, password)
  local want = accounts[system_id]
  if want == nil then return "unknown system_id" end
  if want ~= password then return "wrong password" end
  return nil
end

--- The submit_sm rules (gateway "Message Sending", "Failure Response").
-- Returns ESME_ROK, body (the parsed JSON), text (its UTF-8 bytes), or
-- status, reason (the rule that failed).
function _M.check_submit(p, templates)
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

--- Whether the faults f fail this submit (doc/simulator.md, "Fault
-- injection"). `count` is the submits seen since `every` last fired (the
-- caller keeps it across connections); returns fail, the new count.
function _M.fault_fails(f, count)
  local fail = false
  if f.every then
    count = count + 1
    if count >= f.every then
      count = 0
      fail = true
    end
  end
  if not fail and f.rate and math_random() < f.rate then fail = true end
  return fail, count
end

--- doc/simulator.md "Fault injection": with drop_after = limit, the link is
-- dropped when its PDU number limit + 1 comes in (every PDU received
-- counts). Returns the reason to log, or nil to go on.
function _M.drop_reason(n, limit, command)
  if not limit or n ~= limit + 1 then return nil end
  return ("PDU %d (%s) came in, drop_after %d"):format(n, tostring(command or "unframed"), limit)
end

return _M
