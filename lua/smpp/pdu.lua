--- SMPP 3.4 PDUs as Lua tables, and the text helpers around them.
--
-- A thin face over the C module `smpp.core`: every function here is the C
-- function itself, so there is no Lua call in between.
--
-- **Table shape.** Keys are the SMPP 3.4 field names, exactly as in
-- `src/smpp_pdu.h`:
--
--  * `command`: the command name (`"submit_sm"`, `"deliver_sm_resp"`, ...);
--    for a command id the codec does not know, the number (see below).
--  * `command_status`, `sequence_number`: integers.
--  * body fields of the command: C-Octet Strings as Lua strings without the
--    NUL (`system_id`, `password`, `system_type`, `address_range`,
--    `service_type`, `source_addr`, `destination_addr`,
--    `schedule_delivery_time`, `validity_period`, `message_id`, ...),
--    1-byte integers (`interface_version`, `addr_ton`, `addr_npi`,
--    `source_addr_ton`, `source_addr_npi`, `dest_addr_ton`, `dest_addr_npi`,
--    `esm_class`, `protocol_id`, `priority_flag`, `registered_delivery`,
--    `replace_if_present_flag`, `data_coding`, `sm_default_msg_id`), and
--    `short_message` (raw octets; `sm_length` is its length).
--  * `tlvs`: an array of `{tag = 0x001E, name = "receipted_message_id",
--    value = ...}` in wire order. Named tags have typed values:
--    `receipted_message_id` a string without its NUL (an entry that came
--    without the NUL has `nul = false`, and encodes without it again),
--    `message_state` and `sc_interface_version` integers,
--    `network_error_code` a table `{network_type = n, error_code = n}`,
--    `message_payload` a raw string. Unknown tags have no name and a raw
--    string value. A string value for an integer or table TLV is taken as
--    its raw wire bytes. Decode also sets `tlvs[name]` to the value of the
--    first TLV of each named tag (`t.tlvs.message_state == 2`). Encode
--    writes the array entries in order, then each named key whose tag the
--    array does not carry (in the order receipted_message_id,
--    message_state, network_error_code, sc_interface_version,
--    message_payload), so `tlvs = {message_state = 2}` is enough.
--    Decode leaves `tlvs` out when the PDU has no TLV.
--  * `has_body = false`: a response that came without its body (SMPP 3.4
--    allows it when command_status != 0). Such a table has no body keys.
--
-- Encoding: a field left out takes its zero value (0 or ""); an unknown key,
-- a key that is not a field of the command, a value of the wrong type or
-- out of range, or a string over its SMPP limit is an error naming the key.
-- A response whose command_status is not 0 and which has no body key (not
-- even `tlvs`) is sent without a body, as is one with `has_body = false`.
-- Decoding any PDU and encoding the table gives back the same bytes.
--
-- **Unknown command ids.** `decode` gives `{command = <number>,
-- command_status = n, sequence_number = n, body = <raw bytes after the
-- header>}`: enough for a server to answer with generic_nack and the same
-- sequence_number. `encode` of a table whose `command` is a number the
-- codec does not know writes the header and `body` as they are.
--
-- Misuse (an argument of the wrong type) raises; bad data returns `nil, err`.
-- @module smpp.pdu

local core = require "smpp.core"

local M = {}

--- Encode a PDU table.
-- syntax: `bytes, err = pdu.encode(t)`
-- @tparam table t the PDU (shape above)
-- @treturn[1] string the PDU bytes
-- @treturn[2] nil
-- @treturn[2] string err naming the key at fault
-- @function encode
M.encode = core.encode

--- Decode the PDU at `pos` of a byte stream.
-- syntax: `t, next_pos = pdu.decode(bytes [, pos [, max]])`
--
-- Returns one of:
--
--  * `t, next_pos`: a PDU decoded; the next one starts at `next_pos`.
--  * `nil, nil, need`: incomplete input (not an error); at least `need`
--    more bytes are needed.
--  * `nil, err`: a broken stream (command_length under 16 or over `max`):
--    nothing after it can be trusted; close the connection.
--  * `nil, err, nil, next_pos`: a framed PDU whose body is malformed; the
--    stream goes on at `next_pos`.
-- @tparam string bytes
-- @tparam[opt=1] integer pos where the PDU starts
-- @tparam[opt=65536] integer max cap on command_length
-- @function decode
M.decode = core.decode

--- Look at the start of a byte stream.
-- syntax: `len, err = pdu.frame(bytes [, pos [, max]])`
-- @treturn[1] integer the length of the whole PDU at `pos`, or 0 when more
-- bytes are needed
-- @treturn[2] nil
-- @treturn[2] string err: a broken stream
-- @function frame
M.frame = core.frame

--- Decode a deliver_sm as the receipt table a client's `on_receipt` gets.
-- syntax: `r, next_pos = pdu.receipt(bytes [, pos [, max]])`
--
-- `r` has `message_id` (TLV receipted_message_id, else the text's id),
-- `stat`, `err`, `sub`, `dlvrd`, `submit_date`, `done_date`, `text`,
-- `message_state`, `state`, `network_error_code`, `final`,
-- `destination_addr`, `source_addr`, `esm_class`, `raw`, `tlvs`,
-- `sequence_number`. `final` is false for an interim receipt (message_state
-- 1 ENROUTE or 6 ACCEPTED; without message_state, stat `ENROUTE` or
-- `ACCEPTD`), which a later receipt for the same message follows. `r` is
-- `false` for a deliver_sm that is no receipt (no receipted_message_id or
-- message_state TLV, and text that does not parse as a receipt).
-- Incomplete input gives `nil, nil, need`; other PDUs and errors `nil, err`.
-- @function receipt
M.receipt = core.receipt

--- UTF-8 to UCS2 (UTF-16BE, data_coding 8), with surrogate pairs.
-- syntax: `ucs2, err = pdu.utf8_to_ucs2(s)`; err names the byte offset of
-- the first invalid sequence.
-- @function utf8_to_ucs2
M.utf8_to_ucs2 = core.utf8_to_ucs2

--- UCS2 (UTF-16BE) to UTF-8.
-- syntax: `s, err = pdu.ucs2_to_utf8(ucs2)`; err names the byte offset
-- (odd length, unpaired surrogate).
-- @function ucs2_to_utf8
M.ucs2_to_utf8 = core.ucs2_to_utf8

--- Parse delivery receipt text (SMPP 3.4 Appendix B), leniently.
-- syntax: `r = pdu.parse_receipt(text)`
-- @treturn table `id`, `sub`, `dlvrd`, `submit_date`, `done_date`, `stat`,
-- `err`, `text` (nil when the text lacks them) and `raw` (the text)
-- @function parse_receipt
M.parse_receipt = core.parse_receipt

--- Format receipt text in the canonical order; sub, dlvrd and err default
-- to "001", "001" and "000".
-- syntax: `text, err = pdu.format_receipt(r)`
-- @function format_receipt
M.format_receipt = core.format_receipt

--- command_status name for a number (`"ESME_RSYSERR"`), or nil.
-- @function status_name
M.status_name = core.status_name

--- command_status name, or `"0x%08X"` for a number without one (what the
-- client reports to callbacks).
-- @function status_string
M.status_string = core.status_string

--- command_status number for a name, or nil.
-- @function status_value
M.status_value = core.status_value

--- message_state name (TLV 0x0427: 1 `"ENROUTE"` .. 8 `"REJECTED"`), or nil.
-- @function message_state_name
M.message_state_name = core.message_state_name

--- Every known command_status, name -> number. Read it; don't change it.
-- @table status
M.status = core.status

--- The default cap on command_length (65536). Pass `max` to `decode` or
-- `frame` for another cap; changing this field changes nothing.
M.max_pdu = core.max_pdu

--- The gateway's JSON body: `{"id", "language", "code", "params"}`.
-- syntax: `json, err = pdu.build_body{id =, language =, code =, params =}`
--
-- Keys come in that order; language defaults to "default"; code is left
-- out when nil; params is always an object, keys sorted. id is a non-empty
-- string, code and language strings, params values strings or numbers
-- (turned into strings, integral ones without ".0"). err names the field.
-- @function build_body
M.build_body = core.build_body

--- Check a JSON body as the gateway would read it.
-- syntax: `t, err = pdu.parse_body(bytes)`
-- @treturn[1] table `{id =, language =, code =, params = {}}`
-- @treturn[2] nil
-- @treturn[2] string err: not JSON, not an object, id missing or not a
-- string, language/code not a string, params not an object, a param value
-- not a string (named)
-- @function parse_body
M.parse_body = core.parse_body

return M
