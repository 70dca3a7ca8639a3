--- Message builders for the EngageLab gateway's template messages.
--
-- The gateway does not take free text: `short_message` carries a JSON body
-- naming a template and its values (engagelab-smpp.txt, "Client Packet"):
--
--     {"id": "otp-login", "language": "default", "code": "123456",
--      "params": {"app": "Acme"}}
--
-- `otp`, `message` and `marketing` check every field, build that body and
-- return a ready `submit_sm` field table for `client:submit`. Nothing is sent
-- from here: a bad field is caught before it can cost a message.
--
-- Misuse (the argument is not a table, a key nobody knows) raises at the
-- caller's level; a bad value returns `nil, err`, `err` naming the field.
--
-- @module smpp.template

local core = require "smpp.core"
local pdu = require "smpp.pdu"
local compat = require "smpp.compat"

local type = type
local pairs = pairs
local tostring = tostring
local error = error
local math_type = compat.math_type
local tointeger = compat.tointeger
local floor = math.floor
local huge = math.huge
local str_format = string.format
local str_find = string.find
local str_sub = string.sub
local str_match = string.match
local utf8_len = compat.utf8_len
local build_body = core.build_body
local utf8_to_ucs2 = pdu.utf8_to_ucs2

local _M = { _VERSION = "0.1.0" }

--- SMPP 3.4 5.2.21: short_message holds 0..254 octets; anything longer
-- travels in TLV message_payload (PROTOCOL.md, "Field types").
_M.MAX_SHORT_MESSAGE = 254

--- data_coding values the gateway takes (PROTOCOL.md, "Text encodings").
_M.DATA_CODING_DEFAULT = 0
_M.DATA_CODING_UCS2 = 8

-- Keys each builder accepts. Anything else raises: a typo such as
-- `param = {...}` would otherwise drop the values without a word.
local KNOWN = {
  to = true, template = true, code = true, language = true, params = true,
  data_coding = true, allow_payload = true, registered_delivery = true,
}

-- International form (engagelab-smpp.txt, destination_addr: "+6598765432"):
-- a plus and 7 to 15 digits (ITU-T E.164 allows at most 15).
local function check_to(to)
  if type(to) ~= "string" then
    return nil, "to: expected a string like \"+6598765432\", got " .. type(to)
  end
  if not str_find(to, "^%+%d+$") then
    return nil, str_format("to: %q is not in international form (+ and 7 to 15 digits)", to)
  end
  local digits = #to - 1
  if digits < 7 or digits > 15 then
    return nil, str_format("to: %q has %d digits; international form has 7 to 15", to, digits)
  end
  return to
end

-- A string field that must be present, non-empty and valid UTF-8 (the
-- UCS2 encoder refuses bad UTF-8 anyway; checking here names the field).
local function check_text(name, value, optional)
  if value == nil and optional then
    return nil
  end
  if type(value) ~= "string" then
    return nil, str_format("%s: expected a non-empty string, got %s", name, type(value))
  end
  if value == "" then
    return nil, name .. ": must not be empty"
  end
  if not utf8_len(value) then
    return nil, name .. ": not valid UTF-8"
  end
  return value
end

-- Verification codes are often kept as numbers; the gateway wants a
-- string. Floats are refused: 123456.0 would print as "123456.0".
local function check_code(code)
  if math_type(code) == "integer" then
    if code < 0 then
      return nil, "code: a negative number is not a verification code"
    end
    return str_format("%d", code)
  end
  if type(code) ~= "string" then
    return nil, "code: expected a string or an integer, got " .. (math_type(code) or type(code))
  end
  return check_text("code", code)
end

-- Largest float whose integer neighbours are all floats too (IEEE 754
-- double: 53-bit significand). Past it, 2^53 + 1 reads as 2^53: the float
-- may not be the number the caller computed.
local MAX_EXACT_FLOAT = 2 ^ 53

-- A number as the decimal text a template shows. Integers, and floats
-- holding an exact integer (3.0, say, from a division), become "3". Other
-- floats are refused: which digits to show (0.1 + 0.2 prints as
-- 0.30000000000000004 in full) is the caller's choice, made as a string.
local function number_text(key, v)
  if math_type(v) == "integer" then
    return str_format("%d", v)
  end
  if v ~= v or v == huge or v == -huge then
    return nil, str_format("params.%s: %s is not a number a template can show", key,
      tostring(v))
  end
  if v ~= floor(v) then
    return nil, str_format("params.%s: %s is not an integer; pass the text to show as a "
      .. "string (string.format(\"%%.2f\", x), say)", key, tostring(v))
  end
  if v > MAX_EXACT_FLOAT or v < -MAX_EXACT_FLOAT then
    return nil, str_format("params.%s: %s is a float past 2^53, which may not be the "
      .. "integer meant; pass an integer or a string", key, tostring(v))
  end
  return str_format("%d", tointeger(v))
end

-- The gateway's params: "val format is string". Numbers are turned into
-- strings for convenience; anything else is refused rather than guessed at.
local function check_params(params)
  if params == nil then
    return nil
  end
  if type(params) ~= "table" then
    return nil, "params: expected a table of string keys and values, got " .. type(params)
  end
  local out = {}
  for k, v in pairs(params) do
    if type(k) ~= "string" then
      return nil, str_format("params: keys must be strings, got %s key %s", type(k),
        tostring(k))
    end
    if k == "" then
      return nil, "params: keys must not be empty"
    end
    if not utf8_len(k) then
      return nil, "params: key is not valid UTF-8"
    end
    local tv = type(v)
    if tv == "number" then
      local err
      v, err = number_text(k, v)
      if not v then
        return nil, err
      end
    elseif tv ~= "string" then
      return nil, str_format("params.%s: expected a string or a number, got %s", k, tv)
    elseif not utf8_len(v) then
      return nil, str_format("params.%s: not valid UTF-8", k)
    end
    out[k] = v
  end
  return out
end

-- build_body names the JSON key at fault ("id: NUL byte at byte 1"); say
-- it with the caller's field name, which for the template id differs.
-- Only a problem of the body as a whole stays "body: ...".
local BODY_FIELD = { ["id: "] = "template: ", ["language: "] = "language: ",
                     ["code: "] = "code: " }

local function body_error(err)
  err = tostring(err)
  local field = str_match(err, "^%a+: ")
  if field and BODY_FIELD[field] then
    return BODY_FIELD[field] .. str_sub(err, #field + 1)
  end
  if str_find(err, "^params[.:]") then
    return err
  end
  return "body: " .. err
end

local function build(service_type, opts)
  for k in pairs(opts) do
    if not KNOWN[k] then
      return nil, nil, "unknown field '" .. tostring(k) .. "'"
    end
  end

  local to, err = check_to(opts.to)
  if not to then
    return nil, err
  end

  local id
  id, err = check_text("template", opts.template)
  if not id then
    return nil, err
  end

  local language = "default"
  if opts.language ~= nil then
    language, err = check_text("language", opts.language)
    if not language then
      return nil, err
    end
  end

  local code
  if service_type == "CODE" then
    if opts.code == nil then
      return nil, "code: required for an OTP"
    end
    code, err = check_code(opts.code)
    if not code then
      return nil, err
    end
  elseif opts.code ~= nil then
    -- The gateway reads code "only when service_type is code": sending
    -- one with MSG or MRKT would be dropped on the far side, silently.
    return nil, "code: only OTPs (smpp.otp, service_type CODE) carry a code"
  end

  local params
  params, err = check_params(opts.params)
  if err then
    return nil, err
  end

  local data_coding = opts.data_coding
  if data_coding == nil then
    data_coding = _M.DATA_CODING_UCS2
  elseif data_coding ~= 0 and data_coding ~= 8 then
    return nil, "data_coding: must be 8 (UCS2) or 0 (default alphabet), got "
      .. tostring(data_coding)
  end

  local registered_delivery = opts.registered_delivery
  if registered_delivery == nil then
    registered_delivery = 1
  elseif registered_delivery ~= 0 and registered_delivery ~= 1 then
    return nil, "registered_delivery: must be 1 (receipt wanted) or 0, got "
      .. tostring(registered_delivery)
  end

  local allow_payload = opts.allow_payload
  if allow_payload ~= nil and type(allow_payload) ~= "boolean" then
    return nil, "allow_payload: expected a boolean, got " .. type(allow_payload)
  end

  local body
  body, err = build_body { id = id, language = language, code = code, params = params }
  if not body then
    return nil, body_error(err)
  end

  local wire
  if data_coding == 8 then
    wire, err = utf8_to_ucs2(body)
    if not wire then
      return nil, "body: " .. tostring(err)
    end
  else
    -- data_coding 0 is the gateway's default alphabet: only ASCII is
    -- sure to come through it unchanged (PROTOCOL.md, "Text encodings").
    if str_find(body, "[\128-\255]") then
      return nil, "data_coding: 0 carries ASCII only; this body needs 8 (UCS2)"
    end
    wire = body
  end

  local submit = {
    service_type = service_type,
    destination_addr = to,
    data_coding = data_coding,
    registered_delivery = registered_delivery,
  }
  if #wire <= _M.MAX_SHORT_MESSAGE then
    submit.short_message = wire
  elseif allow_payload then
    submit.short_message = ""
    submit.tlvs = { message_payload = wire }
  else
    return nil, str_format("body: %d bytes on the wire, over the %d-byte short_message "
      .. "limit (set allow_payload = true to send it in message_payload)",
      #wire, _M.MAX_SHORT_MESSAGE)
  end
  return submit
end

--- Check `opts` and build submit_sm fields for `service_type` ("CODE",
-- "MSG" or "MRKT"). For wrappers such as `client:send_otp` that raise
-- misuse at their own caller's level.
-- @treturn[1] table submit_sm fields
-- @treturn[2] nil
-- @treturn[2] string err naming the field, or nil
-- @treturn[2] string misuse message (unknown key), which callers raise
_M.build = build

local function builder(service_type, fname)
  return function(opts)
    if type(opts) ~= "table" then
      error(fname .. ": expected a table of fields, got " .. type(opts), 2)
    end
    local submit, err, misuse = build(service_type, opts)
    if misuse then
      error(fname .. ": " .. misuse, 2)
    end
    return submit, err
  end
end

--- Build a one-time password message (service_type `CODE`).
-- @function otp
-- @tparam table opts `to` (`"+6598765432"`), `template` (template id),
--   `code` (string or integer), and optionally `language` (`"default"`),
--   `params` (table of string keys to string values, or to integers, or
--   floats holding an exact integer, shown without ".0"),
--   `data_coding` (8 UCS2, the default, or 0), `allow_payload` (boolean),
--   `registered_delivery` (1, the default, or 0)
-- @treturn[1] table submit_sm fields for `client:submit`
-- @treturn[2] nil
-- @treturn[2] string error naming the field
_M.otp = builder("CODE", "smpp.otp")

--- Build a notification message (service_type `MSG`). Same fields as
-- `otp` except `code`, which only OTPs carry (`nil, err` when given).
-- @function message
_M.message = builder("MSG", "smpp.message")

--- Build a marketing message (service_type `MRKT`). Same fields as `message`.
-- @function marketing
_M.marketing = builder("MRKT", "smpp.marketing")

return _M
