-- smpp.pdu: PDU tables <-> bytes (golden vectors, round trips, streams,
-- every error path through Lua).
local compat = require "support.compat"
local pdu = require "smpp.pdu"

local FIXTURES = "spec/fixtures/pdu/"

-- Hex fixture: whitespace ignored, '#' comments to the end of the line.
local function fixture(name)
  local f = assert(io.open(FIXTURES .. name .. ".hex", "rb"))
  local text = f:read("*a")
  f:close()
  local hex = text:gsub("#[^\n]*", ""):gsub("%s+", "")
  assert(#hex % 2 == 0, name .. ": odd number of hex digits")
  return (hex:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02X", c:byte()) end))
end

local function u32(n) return compat.be32(n) end

-- A header plus body bytes, with command_length computed.
local function raw_pdu(id, status, seq, body)
  return u32(16 + #body) .. u32(id) .. u32(status) .. u32(seq) .. body
end

-- Every field of submit_sm / deliver_sm at its zero value, then overrides.
local function sm(command, fields)
  local t = {
    command = command, command_status = 0, sequence_number = 0,
    service_type = "", source_addr_ton = 0, source_addr_npi = 0, source_addr = "",
    dest_addr_ton = 0, dest_addr_npi = 0, destination_addr = "",
    esm_class = 0, protocol_id = 0, priority_flag = 0,
    schedule_delivery_time = "", validity_period = "",
    registered_delivery = 0, replace_if_present_flag = 0, data_coding = 0,
    sm_default_msg_id = 0, short_message = "",
  }
  for k, v in pairs(fields) do t[k] = v end
  return t
end

local function bind(command, fields)
  local t = {
    command = command, command_status = 0, sequence_number = 0,
    system_id = "", password = "", system_type = "", interface_version = 0,
    addr_ton = 0, addr_npi = 0, address_range = "",
  }
  for k, v in pairs(fields) do t[k] = v end
  return t
end

local JSON = '{"id":"otp-login","language":"default","code":"123456","params":{"app":"Acme"}}'
local PAYLOAD_JSON = '{"id":"otp-login","language":"default","code":"654321","params":{}}'
local RECEIPT = "id:0123456789abcdef sub:001 dlvrd:001 submit date:2611251200 "
  .. "done date:2611251201 stat:DELIVRD err:000 text:"

-- Expected decodes, written from PROTOCOL.md and the fixture comments.
local golden = {
  generic_nack = { command = "generic_nack", command_status = 3, sequence_number = 7 },
  bind_transceiver = bind("bind_transceiver", {
    sequence_number = 1, system_id = "test", password = "secret", interface_version = 0x34,
  }),
  bind_transceiver_resp = {
    command = "bind_transceiver_resp", command_status = 0, sequence_number = 1,
    system_id = "test",
    tlvs = {
      { tag = 0x0210, name = "sc_interface_version", value = 0x34 },
      sc_interface_version = 0x34,
    },
  },
  bind_transceiver_resp_nobody = {
    command = "bind_transceiver_resp", command_status = 0x0E, sequence_number = 1,
    has_body = false,
  },
  bind_transmitter = bind("bind_transmitter", {
    sequence_number = 2, system_id = "esme1", password = "pw", system_type = "OTP",
    interface_version = 0x34, addr_ton = 1, addr_npi = 1,
  }),
  bind_transmitter_resp = {
    command = "bind_transmitter_resp", command_status = 0, sequence_number = 2,
    system_id = "SMSC",
  },
  bind_receiver = bind("bind_receiver", {
    sequence_number = 3, system_id = "esme1", password = "pw", interface_version = 0x34,
    address_range = "+65",
  }),
  bind_receiver_resp = {
    command = "bind_receiver_resp", command_status = 0, sequence_number = 3,
    system_id = "SMSC",
  },
  submit_sm = sm("submit_sm", {
    sequence_number = 1, service_type = "CODE", source_addr_ton = 1, source_addr_npi = 1,
    dest_addr_ton = 1, dest_addr_npi = 1, destination_addr = "+6598765432",
    registered_delivery = 1, data_coding = 8,
    short_message = (JSON:gsub(".", "\0%0")),
  }),
  submit_sm_resp = {
    command = "submit_sm_resp", command_status = 0, sequence_number = 10,
    message_id = "0123456789abcdef",
  },
  submit_sm_resp_nobody = {
    command = "submit_sm_resp", command_status = 0x45, sequence_number = 10, has_body = false,
  },
  submit_sm_payload = sm("submit_sm", {
    sequence_number = 2, source_addr_ton = 1, source_addr_npi = 1,
    dest_addr_ton = 1, dest_addr_npi = 1, destination_addr = "+6598765432",
    registered_delivery = 1,
    tlvs = {
      { tag = 0x0424, name = "message_payload", value = PAYLOAD_JSON },
      { tag = 0x1401, value = "ab" },
      message_payload = PAYLOAD_JSON,
    },
  }),
  deliver_sm_receipt = sm("deliver_sm", {
    sequence_number = 16, service_type = "MSG", dest_addr_ton = 1, dest_addr_npi = 1,
    destination_addr = "+6598765432", short_message = RECEIPT,
    tlvs = {
      { tag = 0x001E, name = "receipted_message_id", value = "0123456789abcdef" },
      { tag = 0x0427, name = "message_state", value = 2 },
      receipted_message_id = "0123456789abcdef",
      message_state = 2,
    },
  }),
  deliver_sm_resp = {
    command = "deliver_sm_resp", command_status = 0, sequence_number = 16, message_id = "",
  },
  unbind = { command = "unbind", command_status = 0, sequence_number = 4 },
  unbind_resp = { command = "unbind_resp", command_status = 0, sequence_number = 4 },
  enquire_link = { command = "enquire_link", command_status = 0, sequence_number = 5 },
  enquire_link_resp = { command = "enquire_link_resp", command_status = 0, sequence_number = 5 },
  query_sm = {
    command = "query_sm", command_status = 0, sequence_number = 6,
    message_id = "0123456789abcdef", source_addr_ton = 1, source_addr_npi = 1,
    source_addr = "12345",
  },
  query_sm_resp = {
    command = "query_sm_resp", command_status = 0, sequence_number = 6,
    message_id = "0123456789abcdef", final_date = "261125120100000+",
    message_state = 2, error_code = 0,
  },
}

describe("smpp.pdu golden vectors", function()
  local names = {}
  for name in pairs(golden) do names[#names + 1] = name end
  table.sort(names)

  for _, name in ipairs(names) do
    it("decodes " .. name .. ".hex to the fields the spec gives", function()
      local bytes = fixture(name)
      local t, next_pos = pdu.decode(bytes)
      assert.same(golden[name], t)
      assert.equal(#bytes + 1, next_pos)
    end)

    it("encodes the " .. name .. " table to exactly the bytes of " .. name .. ".hex", function()
      local bytes = fixture(name)
      local out, err = pdu.encode(golden[name])
      assert.is_nil(err)
      assert.equal(hex(bytes), hex(out))
    end)
  end

  it("has a table for every fixture file", function()
    local p = assert(io.popen("ls " .. FIXTURES))
    for file in p:lines() do
      local name = file:match("^(.*)%.hex$")
      if name then assert.is_table(golden[name], "no expected table for " .. file) end
    end
    p:close()
  end)

  it("encodes the gateway's OTP submit_sm in 206 bytes and its receipt in 181", function()
    assert.equal(206, #fixture("submit_sm"))
    assert.equal(181, #fixture("deliver_sm_receipt"))
  end)
end)

describe("smpp.pdu.encode", function()
  it("gives every field left out its zero value", function()
    local full = assert(pdu.encode(sm("submit_sm", { sequence_number = 9 })))
    local short = assert(pdu.encode { command = "submit_sm", sequence_number = 9 })
    assert.equal(hex(full), hex(short))
    -- header + 17 fields of one byte each (empty strings are a lone NUL)
    assert.equal(16 + 17, #short)
  end)

  it("sends a failed response without a body when no body field is given", function()
    local out = assert(pdu.encode {
      command = "submit_sm_resp", command_status = 0x45, sequence_number = 10,
    })
    assert.equal(hex(fixture("submit_sm_resp_nobody")), hex(out))
  end)

  it("keeps the body of a failed response that names a body field", function()
    local out = assert(pdu.encode {
      command = "submit_sm_resp", command_status = 0x45, sequence_number = 10, message_id = "",
    })
    assert.equal(17, #out)
  end)

  it("sends a successful response with its body even when no field is given", function()
    local out = assert(pdu.encode { command = "deliver_sm_resp", sequence_number = 16 })
    assert.equal(hex(fixture("deliver_sm_resp")), hex(out))
  end)

  it("leaves the body out of a status-0 response when has_body is false", function()
    local out = assert(pdu.encode {
      command = "submit_sm_resp", sequence_number = 3, has_body = false,
    })
    assert.equal(16, #out)
    local t = pdu.decode(out)
    assert.is_false(t.has_body)
    assert.is_nil(t.message_id)
    assert.equal(out, pdu.encode(t))
  end)

  it("accepts a command number the codec knows", function()
    local out = assert(pdu.encode { command = 0x15, sequence_number = 5 })
    assert.equal(hex(fixture("enquire_link")), hex(out))
  end)

  it("writes named TLV keys whose tag the array does not carry, after the array", function()
    local out = assert(pdu.encode {
      command = "deliver_sm",
      tlvs = {
        { tag = 0x1401, value = "ab" },
        message_state = 2,
        receipted_message_id = "abc",
        network_error_code = { network_type = 3, error_code = 0x0102 },
      },
    })
    local tail = out:sub(16 + 17 + 1)
    assert.equal(hex("\020\001\0\2ab" .. "\0\030\0\4abc\0" .. "\004\039\0\1\2"
      .. "\004\035\0\3\3\1\2"), hex(tail))
  end)

  it("does not write a named key twice when the array carries its tag", function()
    local out = assert(pdu.encode {
      command = "deliver_sm",
      tlvs = { { tag = 0x0427, value = 5 }, message_state = 2 },
    })
    assert.equal(hex("\004\039\0\1\5"), hex(out:sub(16 + 17 + 1)))
  end)

  it("takes a TLV entry by name alone", function()
    local out = assert(pdu.encode {
      command = "deliver_sm", tlvs = { { name = "message_state", value = 7 } },
    })
    assert.equal(hex("\004\039\0\1\7"), hex(out:sub(16 + 17 + 1)))
  end)

  it("takes a string value of an integer TLV as its raw bytes", function()
    local out = assert(pdu.encode {
      command = "deliver_sm", tlvs = { { tag = 0x0427, value = "\3" } },
    })
    assert.equal(hex("\004\039\0\1\3"), hex(out:sub(16 + 17 + 1)))
  end)

  it("leaves the NUL off receipted_message_id when nul is false", function()
    local out = assert(pdu.encode {
      command = "deliver_sm", tlvs = { { tag = 0x001E, value = "abc", nul = false } },
    })
    assert.equal(hex("\0\030\0\3abc"), hex(out:sub(16 + 17 + 1)))
  end)

  it("writes short_message of 254 octets and sm_length 254", function()
    local out = assert(pdu.encode { command = "submit_sm", short_message = ("x"):rep(254) })
    assert.equal(254, out:byte(16 + 16 + 1))
    assert.equal(16 + 16 + 1 + 254, #out)
  end)

  it("encodes a PDU bigger than its stack buffer (message_payload of 60000 bytes)", function()
    local big = ("y"):rep(60000)
    local out = assert(pdu.encode { command = "submit_sm", tlvs = { message_payload = big } })
    assert.equal(16 + 17 + 4 + 60000, #out)
    local t = assert(pdu.decode(out))
    assert.equal(big, t.tlvs.message_payload)
  end)
end)

describe("smpp.pdu.encode errors", function()
  local function fails(t, pattern)
    local out, err = pdu.encode(t)
    assert.is_nil(out)
    assert.is_string(err)
    assert.matches(pattern, err)
  end

  it("names an unknown key", function()
    fails({ command = "submit_sm", foo = 1 }, "unknown field 'foo'")
  end)

  it("names a field that belongs to another command", function()
    fails({ command = "submit_sm", system_id = "x" }, "system_id is not a field of submit_sm")
    fails({ command = "enquire_link", message_id = "x" },
      "message_id is not a field of enquire_link")
  end)

  it("points a TLV name used as a field to tlvs", function()
    fails({ command = "submit_sm", receipted_message_id = "x" }, "receipted_message_id.*tlvs")
  end)

  it("refuses a non-string key", function()
    fails({ command = "submit_sm", [1] = "x" }, "unknown field")
  end)

  -- The encoder recognises keys by the address of the interned string, from
  -- one index of every key string the codec uses; these keys are in that
  -- index without being fields of the command at hand.
  it("refuses key strings the codec knows that are no field of the command", function()
    fails({ command = "submit_sm", tag = 1 }, "unknown field 'tag'")
    fails({ command = "submit_sm", raw = "x" }, "unknown field 'raw'")
    fails({ command = "submit_sm", [""] = "x" }, "unknown field ''")
    fails({ command = "submit_sm", deliver_sm = 1 }, "unknown field 'deliver_sm'")
    fails({ command = "submit_sm", message_state = 2 }, "message_state is a TLV: put it under tlvs")
    fails({ command = "submit_sm", error_code = 0 }, "error_code is not a field of submit_sm")
  end)

  it("takes message_state and error_code as the fields of query_sm_resp", function()
    local t = assert(pdu.decode(assert(pdu.encode {
      command = "query_sm_resp", message_id = "a", message_state = 2, error_code = 7,
    })))
    assert.equal(2, t.message_state)
    assert.equal(7, t.error_code)
  end)

  it("refuses a command name that is a known key but no command", function()
    fails({ command = "tlvs" }, "unknown command 'tlvs'")
    fails({ command = "destination_addr" }, "unknown command 'destination_addr'")
    fails({ command = ("submit_sm"):rep(5) }, "unknown command")
  end)

  it("refuses an unknown command name", function()
    fails({ command = "submit_multi" }, "unknown command 'submit_multi'")
  end)

  it("refuses a table without a command", function()
    fails({ sequence_number = 1 }, "command")
  end)

  it("names a field of the wrong type", function()
    fails({ command = "submit_sm", esm_class = "4" }, "esm_class: integer expected, got string")
    fails({ command = "submit_sm", esm_class = 1.5 }, "esm_class: integer expected, got 1.5")
    fails({ command = "submit_sm", destination_addr = 6598765432 },
      "destination_addr: string expected")
    fails({ command = "submit_sm", short_message = {} }, "short_message: string expected")
    fails({ command = "submit_sm", sequence_number = "1" }, "sequence_number: integer expected")
    fails({ command = "submit_sm", tlvs = "x" }, "tlvs: table expected")
    fails({ command = true }, "command: string expected")
  end)

  it("names a one-byte field out of range", function()
    fails({ command = "submit_sm", esm_class = 256 }, "esm_class: 256 out of range 0..255")
    fails({ command = "submit_sm", data_coding = -1 }, "data_coding: %-1 out of range")
    fails({ command = "submit_sm", sequence_number = 0x100000000 }, "sequence_number")
  end)

  it("names a string over its SMPP limit", function()
    fails({ command = "submit_sm", destination_addr = ("9"):rep(21) }, "destination_addr")
    fails({ command = "submit_sm", service_type = "CODEXY" }, "service_type")
    fails({ command = "bind_transceiver", password = "123456789" }, "password")
    fails({ command = "bind_transceiver", system_id = ("s"):rep(16) }, "system_id")
    fails({ command = "submit_sm_resp", message_id = ("m"):rep(65) }, "message_id")
  end)

  it("takes strings exactly at the limit", function()
    assert.is_string((pdu.encode { command = "submit_sm", destination_addr = ("9"):rep(20) }))
    assert.is_string((pdu.encode { command = "bind_transceiver", password = "12345678" }))
  end)

  it("refuses a short_message over 254 octets", function()
    fails({ command = "submit_sm", short_message = ("x"):rep(255) }, "short_message")
  end)

  it("refuses a date that is neither empty nor 16 characters", function()
    fails({ command = "submit_sm", schedule_delivery_time = "2611251200" },
      "schedule_delivery_time")
    assert.is_string((pdu.encode {
      command = "submit_sm", validity_period = "261125120000000R",
    }))
  end)

  it("refuses a NUL inside a C-Octet String", function()
    fails({ command = "submit_sm", destination_addr = "+65\0 1" }, "destination_addr")
  end)

  it("refuses has_body = false beside body fields", function()
    fails({ command = "submit_sm_resp", has_body = false, message_id = "x" }, "has_body")
    fails({ command = "submit_sm", has_body = false }, "has_body")
  end)

  it("names bad TLV entries", function()
    fails({ command = "deliver_sm", tlvs = { 5 } }, "tlvs%[1%]: table expected")
    fails({ command = "deliver_sm", tlvs = { { value = "x" } } }, "tlvs%[1%]: tag or name")
    fails({ command = "deliver_sm", tlvs = { { tag = 0x1401 } } }, "tlvs%[1%]: value missing")
    fails({ command = "deliver_sm", tlvs = { { tag = 0x10000, value = "" } } }, "tlvs%[1%].tag")
    fails({ command = "deliver_sm", tlvs = { { name = "bogus", value = 1 } } },
      "unknown TLV name 'bogus'")
    fails({ command = "deliver_sm", tlvs = { { tag = 0x0427, name = "message_payload",
      value = "x" } } }, "disagree")
    fails({ command = "deliver_sm", tlvs = { { tag = 0x1401, vaule = "x" } } },
      "unknown field 'vaule'")
    fails({ command = "deliver_sm", tlvs = { { tag = 0x0427, value = 256 } } },
      "tlvs%[1%] %(message_state%): 256 out of range")
    fails({ command = "deliver_sm", tlvs = { { tag = 0x1401, value = 1 } } },
      "tlvs%[1%]: string expected")
    fails({ command = "deliver_sm", tlvs = { { tag = 0x1401, value = "x", nul = false } } },
      "nul applies to receipted_message_id")
    fails({ command = "deliver_sm", tlvs = { bogus = 1 } }, "unknown TLV name 'bogus'")
    fails({ command = "deliver_sm", tlvs = { network_error_code = { network_type = 1,
      code = 2 } } }, "tlvs.network_error_code: unknown field 'code'")
    fails({ command = "deliver_sm", tlvs = { network_error_code = { error_code = 0x10000 } } },
      "error_code: 65536 out of range")
    fails({ command = "deliver_sm", tlvs = { message_state = true } },
      "tlvs.message_state: integer or string expected, got boolean")
  end)

  it("names a TLV value over its limit", function()
    fails({ command = "deliver_sm", tlvs = { receipted_message_id = ("r"):rep(65) } },
      "receipted_message_id")
    fails({ command = "deliver_sm", tlvs = { { tag = 0x0427, value = "\1\2" } } },
      "message_state")
    fails({ command = "deliver_sm", tlvs = { { tag = 0x1401, value = ("z"):rep(65536) } } },
      "65535")
  end)

  it("refuses more than 32 TLVs", function()
    local tlvs = {}
    for i = 1, 33 do tlvs[i] = { tag = 0x1400 + i, value = "" } end
    fails({ command = "deliver_sm", tlvs = tlvs }, "32")
  end)

  it("raises on misuse: an argument that is not a table", function()
    assert.has_error(function() pdu.encode("submit_sm") end)
    assert.has_error(function() pdu.encode() end)
  end)
end)

describe("smpp.pdu.decode", function()
  it("decodes at a given position and returns where the next PDU starts", function()
    local a, b = fixture("enquire_link"), fixture("submit_sm_resp")
    local stream = "xyz" .. a .. b
    local t, pos = pdu.decode(stream, 4)
    assert.equal("enquire_link", t.command)
    assert.equal(4 + #a, pos)
    t, pos = pdu.decode(stream, pos)
    assert.equal("submit_sm_resp", t.command)
    assert.equal(#stream + 1, pos)
  end)

  it("says how many more bytes it needs, at least, without an error", function()
    local bytes = fixture("submit_sm")
    for n = 0, #bytes - 1 do
      local t, err, need = pdu.decode(bytes:sub(1, n))
      assert.is_nil(t)
      assert.is_nil(err)
      local want = n < 4 and 16 - n or #bytes - n
      assert.equal(want, need, "prefix of " .. n)
    end
  end)

  it("decodes a stream of several PDUs split at every point", function()
    local names = { "bind_transceiver", "submit_sm", "deliver_sm_receipt", "enquire_link",
      "submit_sm_resp_nobody", "submit_sm_payload" }
    local stream = {}
    for i, name in ipairs(names) do stream[i] = fixture(name) end
    stream = table.concat(stream)

    for split = 0, #stream do
      local got, buf, pos = {}, "", 1
      for _, chunk in ipairs { stream:sub(1, split), stream:sub(split + 1) } do
        buf = buf .. chunk
        while true do
          local t, err, need = pdu.decode(buf, pos)
          if t then
            got[#got + 1] = t.command
            pos = err
          else
            assert.is_nil(err)
            assert.is_true(need > 0)
            break
          end
        end
      end
      assert.equal(#stream + 1, pos, "split at " .. split)
      assert.same({ "bind_transceiver", "submit_sm", "deliver_sm", "enquire_link",
        "submit_sm_resp", "submit_sm" }, got)
    end
  end)

  it("calls a command_length under 16 a broken stream", function()
    local t, err, need = pdu.decode(u32(15) .. u32(0x15) .. u32(0) .. u32(1))
    assert.is_nil(t)
    assert.matches("command_length 15", err)
    assert.is_nil(need)
  end)

  it("sees a broken command_length from its first 4 bytes", function()
    local t, err = pdu.decode(u32(8))
    assert.is_nil(t)
    assert.matches("command_length", err)
  end)

  it("calls a command_length over the cap a broken stream (default 65536)", function()
    local t, err = pdu.decode(u32(65537) .. u32(4))
    assert.is_nil(t)
    assert.matches("65537", err)
    local _, _, need = pdu.decode(u32(65536) .. u32(4))
    assert.equal(65536 - 8, need)
  end)

  it("takes a cap per call", function()
    local bytes = fixture("submit_sm")
    local t, err = pdu.decode(bytes, 1, 205)
    assert.is_nil(t)
    assert.matches("205", err)
    assert.is_table((pdu.decode(bytes, 1, 206)))
    assert.equal(65536, pdu.max_pdu)
  end)

  it("reports a bad body with the position after it, so the stream can go on", function()
    -- destination_addr runs to the end without a NUL
    local bad = raw_pdu(4, 0, 9, "\0\1\1\0\1\1+6598")
    local stream = bad .. fixture("enquire_link")
    local t, err, need, next_pos = pdu.decode(stream)
    assert.is_nil(t)
    assert.is_nil(need)
    assert.matches("destination_addr", err)
    assert.equal(#bad + 1, next_pos)
    t = pdu.decode(stream, next_pos)
    assert.equal("enquire_link", t.command)
  end)

  it("names a C-Octet String without its NUL", function()
    local _, err = pdu.decode(raw_pdu(9, 0, 1, ("s"):rep(20)))
    assert.matches("system_id", err)
    assert.matches("NUL", err)
  end)

  it("names a C-Octet String over its limit", function()
    local _, err = pdu.decode(raw_pdu(9, 0, 1, ("s"):rep(16) .. "\0pw\0\0\52\0\0\0"))
    assert.matches("system_id", err)
    assert.matches("limit 15", err)
  end)

  it("names a truncated body", function()
    local _, err = pdu.decode(raw_pdu(4, 0, 1, "\0\1\1\0\1\1\0"))
    assert.matches("esm_class", err)
  end)

  it("names an sm_length that runs past the end", function()
    local body = "\0\1\1\0\1\1\0" .. ("\0"):rep(9) .. "\20" .. "abc"
    local _, err = pdu.decode(raw_pdu(4, 0, 1, body))
    assert.matches("short_message", err)
  end)

  it("names a TLV whose length runs past the end", function()
    local body = ("\0"):rep(17) .. "\020\001\0\9ab"
    local _, err = pdu.decode(raw_pdu(5, 0, 1, body))
    assert.matches("TLV 0x1401", err)
  end)

  it("names a TLV header cut short", function()
    local _, err = pdu.decode(raw_pdu(5, 0, 1, ("\0"):rep(17) .. "\020\001\0"))
    assert.matches("TLV header", err)
  end)

  it("names a named TLV of the wrong size", function()
    local _, err = pdu.decode(raw_pdu(5, 0, 1, ("\0"):rep(17) .. "\004\039\0\2\1\2"))
    assert.matches("message_state", err)
  end)

  it("decodes an unknown command id as its number, header and raw body", function()
    local bytes = raw_pdu(0x00000103, 0, 42, "\1\2\3")
    local t, pos = pdu.decode(bytes)
    assert.same({ command = 0x103, command_status = 0, sequence_number = 42,
      body = "\1\2\3" }, t)
    assert.equal(#bytes + 1, pos)
    assert.equal(hex(bytes), hex(pdu.encode(t)))
  end)

  it("refuses keys an unknown command can't carry", function()
    local out, err = pdu.encode { command = 0x103, system_id = "x" }
    assert.is_nil(out)
    assert.matches("system_id is not a field of command 0x00000103", err)
  end)

  it("keeps a receipted_message_id that came without its NUL, byte for byte", function()
    local body = ("\0"):rep(17) .. "\0\030\0\3abc"
    local bytes = raw_pdu(5, 0, 1, body)
    local t = assert(pdu.decode(bytes))
    assert.equal("abc", t.tlvs.receipted_message_id)
    assert.is_false(t.tlvs[1].nul)
    assert.equal(hex(bytes), hex(pdu.encode(t)))
  end)

  it("names only the first TLV of a tag on the tlvs table", function()
    local body = ("\0"):rep(17) .. "\004\039\0\1\2" .. "\004\039\0\1\5"
    local t = assert(pdu.decode(raw_pdu(5, 0, 1, body)))
    assert.equal(2, t.tlvs.message_state)
    assert.equal(5, t.tlvs[2].value)
    assert.equal(hex(raw_pdu(5, 0, 1, body)), hex(pdu.encode(t)))
  end)

  it("decodes network_error_code as a table", function()
    local t = assert(pdu.decode(raw_pdu(5, 0, 1, ("\0"):rep(17) .. "\004\035\0\3\3\1\2")))
    assert.same({ network_type = 3, error_code = 0x0102 }, t.tlvs.network_error_code)
  end)

  it("raises on misuse: bytes that are not a string, or a position out of range", function()
    assert.has_error(function() pdu.decode({}) end)
    assert.has_error(function() pdu.decode("abc", 0) end)
    assert.has_error(function() pdu.decode("abc", 5) end)
    assert.has_error(function() pdu.decode("abc", 1, 15) end)
  end)
end)

describe("smpp.pdu.frame", function()
  it("gives the PDU length, 0 for more bytes, or nil and an error", function()
    local bytes = fixture("submit_sm")
    assert.equal(206, pdu.frame(bytes))
    assert.equal(206, pdu.frame(bytes .. "more"))
    assert.equal(0, pdu.frame(bytes:sub(1, 205)))
    assert.equal(0, pdu.frame(""))
    assert.equal(16, pdu.frame("xx" .. fixture("unbind"), 3))
    local n, err = pdu.frame(u32(3) .. "abcd")
    assert.is_nil(n)
    assert.matches("command_length 3", err)
    n, err = pdu.frame(bytes, 1, 100)
    assert.is_nil(n)
    assert.matches("over the cap", err)
  end)
end)

describe("smpp.pdu round trips", function()
  -- Random values within every limit; fixed seed so a failure repeats.
  math.randomseed(20261125)
  local random = math.random

  local function rstring(max, alphabet)
    local n = random(0, max)
    local t = {}
    for i = 1, n do
      if alphabet then
        local k = random(1, #alphabet)
        t[i] = alphabet:sub(k, k)
      else
        t[i] = string.char(random(0, 255))
      end
    end
    return table.concat(t)
  end

  local PRINTABLE = "0123456789+abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_ "
  local function cstring(max) return rstring(max - 1, PRINTABLE) end
  local function u8() return random(0, 255) end

  -- SMPP 3.4 7.1: a time is empty or exactly 16 characters.
  local function random_date()
    if random(2) == 1 then return "" end
    local t = {}
    for i = 1, 15 do t[i] = tostring(random(0, 9)) end
    t[16] = ({ "+", "-", "R" })[random(1, 3)]
    return table.concat(t)
  end

  local function random_tlvs()
    local tlvs = {}
    for i = 1, random(0, 6) do
      local kind = random(1, 6)
      if kind == 1 then
        tlvs[i] = { tag = 0x001E, value = cstring(65) }
        if random(2) == 1 and #tlvs[i].value > 0 then tlvs[i].nul = false end
      elseif kind == 2 then
        tlvs[i] = { tag = 0x0427, value = u8() }
      elseif kind == 3 then
        tlvs[i] = { tag = 0x0423, value = { network_type = u8(), error_code = random(0, 65535) } }
      elseif kind == 4 then
        tlvs[i] = { tag = 0x0424, value = rstring(300) }
      elseif kind == 5 then
        tlvs[i] = { tag = 0x0210, value = u8() }
      else
        tlvs[i] = { tag = random(0x1400, 0x3FFF), value = rstring(20) }
      end
    end
    return tlvs
  end

  local makers = {
    function(seq)
      return {
        command = random(2) == 1 and "submit_sm" or "deliver_sm", sequence_number = seq,
        service_type = cstring(6), source_addr_ton = u8(), source_addr_npi = u8(),
        source_addr = cstring(21), dest_addr_ton = u8(), dest_addr_npi = u8(),
        destination_addr = cstring(21), esm_class = u8(), protocol_id = u8(),
        priority_flag = u8(), schedule_delivery_time = random_date(),
        validity_period = random_date(), registered_delivery = u8(),
        replace_if_present_flag = u8(), data_coding = u8(), sm_default_msg_id = u8(),
        short_message = rstring(254), tlvs = random_tlvs(),
      }
    end,
    function(seq)
      local names = { "bind_transceiver", "bind_transmitter", "bind_receiver" }
      return {
        command = names[random(1, 3)], sequence_number = seq,
        system_id = cstring(16), password = cstring(9), system_type = cstring(13),
        interface_version = u8(), addr_ton = u8(), addr_npi = u8(),
        address_range = cstring(41),
      }
    end,
    function(seq)
      return {
        command = "submit_sm_resp", sequence_number = seq, command_status = random(0, 0xFF),
        message_id = cstring(65),
      }
    end,
    function(seq)
      return {
        command = "bind_transceiver_resp", sequence_number = seq, system_id = cstring(16),
        tlvs = { { tag = 0x0210, value = u8() } },
      }
    end,
    function(seq)
      local names = { "enquire_link", "enquire_link_resp", "unbind", "unbind_resp",
        "generic_nack" }
      return { command = names[random(1, 5)], sequence_number = seq,
        -- In two halves: 5.1's math.random takes no bound past 2^31.
        command_status = random(0, 0xFFFF) * 0x10000 + random(0, 0xFFFF) }
    end,
  }

  -- What decode gives for t: t plus the tlvs[name] shortcuts, and every
  -- field at its value (t here names them all).
  local function expected(t)
    t.command_status = t.command_status or 0
    if not t.tlvs then return t end
    if #t.tlvs == 0 then
      t.tlvs = nil
      return t
    end
    local names = { [0x001E] = "receipted_message_id", [0x0427] = "message_state",
      [0x0423] = "network_error_code", [0x0424] = "message_payload",
      [0x0210] = "sc_interface_version" }
    for _, e in ipairs(t.tlvs) do
      e.name = names[e.tag]
      if e.name and t.tlvs[e.name] == nil then t.tlvs[e.name] = e.value end
    end
    return t
  end

  it("decode(encode(t)) gives t back and encode(decode(b)) gives b back (2000 PDUs)", function()
    for seq = 1, 2000 do
      local t = makers[random(1, #makers)](seq)
      local bytes, err = pdu.encode(t)
      assert.is_nil(err, err)
      local back, pos = pdu.decode(bytes)
      assert.equal(#bytes + 1, pos)
      assert.same(expected(t), back)
      assert.equal(bytes, pdu.encode(back))
    end
  end)

  it("a decoded PDU encodes to the same bytes after any random mutation decode accepts", function()
    local seeds = { "submit_sm", "deliver_sm_receipt", "bind_transceiver_resp", "query_sm_resp",
      "submit_sm_payload" }
    local accepted = 0
    for i = 1, 3000 do
      local b = fixture(seeds[i % #seeds + 1])
      local k = random(17, #b)
      b = b:sub(1, k - 1) .. string.char(random(0, 255)) .. b:sub(k + 1)
      local t = pdu.decode(b)
      if t then
        accepted = accepted + 1
        assert.equal(hex(b), hex(pdu.encode(t)))
      end
    end
    assert.is_true(accepted > 1000)
  end)
end)
