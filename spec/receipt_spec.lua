-- smpp.pdu delivery receipts: the text format (SMPP 3.4 Appendix B) and the
-- receipt table a client gets for a deliver_sm.
local pdu = require "smpp.pdu"

local function fixture(name)
  local f = assert(io.open("spec/fixtures/pdu/" .. name .. ".hex", "rb"))
  local text = f:read("*a")
  f:close()
  local hex = text:gsub("#[^\n]*", ""):gsub("%s+", "")
  return (hex:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end

local CANONICAL = "id:0123456789abcdef sub:001 dlvrd:001 submit date:2611251200 "
  .. "done date:2611251201 stat:DELIVRD err:000 text:"

describe("smpp.pdu.parse_receipt", function()
  it("reads every field of the canonical text", function()
    assert.same({
      id = "0123456789abcdef", sub = "001", dlvrd = "001", submit_date = "2611251200",
      done_date = "2611251201", stat = "DELIVRD", err = "000", text = "", raw = CANONICAL,
    }, pdu.parse_receipt(CANONICAL))
  end)

  it("reads keys in any case, dates with seconds, and text with spaces", function()
    local raw = "ID:77 Sub:001 DLVRD:000 Submit Date:261125120059 DONE DATE:261125120130 "
      .. "Stat:UNDELIV Err:012 Text:hello there world"
    local r = pdu.parse_receipt(raw)
    assert.equal("77", r.id)
    assert.equal("261125120059", r.submit_date)
    assert.equal("261125120130", r.done_date)
    assert.equal("UNDELIV", r.stat)
    assert.equal("012", r.err)
    assert.equal("hello there world", r.text)
    assert.equal(raw, r.raw)
  end)

  it("leaves missing fields nil", function()
    local r = pdu.parse_receipt("id:5 stat:EXPIRED")
    assert.equal("5", r.id)
    assert.equal("EXPIRED", r.stat)
    assert.is_nil(r.err)
    assert.is_nil(r.text)
    assert.is_nil(r.submit_date)
  end)

  it("gives only raw for text that is no receipt, and never fails", function()
    assert.same({ raw = "hello" }, pdu.parse_receipt("hello"))
    assert.same({ raw = "" }, pdu.parse_receipt(""))
    assert.same({ raw = "\0\255:" }, pdu.parse_receipt("\0\255:"))
  end)

  it("raises on misuse: text that is not a string", function()
    assert.has_error(function() pdu.parse_receipt({}) end)
  end)
end)

describe("smpp.pdu.format_receipt", function()
  it("writes the canonical order and spelling", function()
    local r = pdu.parse_receipt(CANONICAL)
    assert.equal(CANONICAL, pdu.format_receipt(r))
  end)

  it("defaults sub, dlvrd and err to 001, 001 and 000", function()
    assert.equal("id:9 sub:001 dlvrd:001 submit date: done date: stat:UNDELIV err:000 text:",
      pdu.format_receipt { id = "9", stat = "UNDELIV" })
  end)

  it("refuses a space inside a field other than text", function()
    local out, err = pdu.format_receipt { id = "a b" }
    assert.is_nil(out)
    assert.matches("id", err)
  end)

  it("names an unknown key or a value of the wrong type", function()
    local out, err = pdu.format_receipt { id = "1", state = "x" }
    assert.is_nil(out)
    assert.matches("unknown field 'state'", err)
    out, err = pdu.format_receipt { id = 1 }
    assert.is_nil(out)
    assert.matches("id: string expected, got number", err)
  end)

  it("formats text longer than its stack buffer", function()
    local text = ("t "):rep(1000)
    local out = assert(pdu.format_receipt { id = "1", text = text })
    assert.equal(text, pdu.parse_receipt(out).text)
  end)
end)

describe("smpp.pdu.receipt", function()
  local function deliver(fields)
    local t = { command = "deliver_sm", sequence_number = 16, service_type = "MSG",
      dest_addr_ton = 1, dest_addr_npi = 1, destination_addr = "+6598765432" }
    for k, v in pairs(fields) do t[k] = v end
    return assert(pdu.encode(t))
  end

  it("reads the gateway's receipt (esm_class 0, both TLVs)", function()
    local bytes = fixture("deliver_sm_receipt")
    local r, pos = pdu.receipt(bytes)
    assert.equal(#bytes + 1, pos)
    assert.equal("0123456789abcdef", r.message_id)
    assert.equal("DELIVRD", r.stat)
    assert.equal("000", r.err)
    assert.equal("001", r.sub)
    assert.equal("001", r.dlvrd)
    assert.equal("2611251200", r.submit_date)
    assert.equal("2611251201", r.done_date)
    assert.equal("", r.text)
    assert.equal(2, r.message_state)
    assert.equal("DELIVERED", r.state)
    assert.equal("+6598765432", r.destination_addr)
    assert.equal("", r.source_addr)
    assert.equal(0, r.esm_class)
    assert.equal(CANONICAL, r.raw)
    assert.equal(16, r.sequence_number)
    assert.equal("0123456789abcdef", r.tlvs.receipted_message_id)
    assert.equal(2, r.tlvs.message_state)
    assert.equal(2, #r.tlvs)
    assert.is_true(r.final)
  end)

  it("marks interim receipts (ENROUTE, ACCEPTD, message_state 1 or 6) not final", function()
    local function final(fields) return pdu.receipt(deliver(fields)).final end
    assert.is_false(final { short_message = "id:1 stat:ENROUTE" })
    assert.is_false(final { short_message = "id:1 stat:acceptd" })
    assert.is_false(final { tlvs = { receipted_message_id = "1", message_state = 1 } })
    assert.is_false(final { tlvs = { receipted_message_id = "1", message_state = 6 } })
    -- message_state decides over the text when both are there.
    assert.is_true(final { short_message = "id:1 stat:ENROUTE", tlvs = { message_state = 2 } })
    assert.is_false(final { short_message = "id:1 stat:DELIVRD", tlvs = { message_state = 6 } })
    assert.is_true(final { short_message = "id:1 stat:UNDELIV err:001" })
    assert.is_true(final { short_message = "id:1 err:001" })
  end)

  it("takes message_id from TLV receipted_message_id over the text's id", function()
    local r = pdu.receipt(deliver {
      short_message = "id:TEXTID stat:DELIVRD",
      tlvs = { receipted_message_id = "TLVID" },
    })
    assert.equal("TLVID", r.message_id)
  end)

  it("takes message_id from the text when no TLV carries it", function()
    local r = pdu.receipt(deliver { esm_class = 4, short_message = "id:42 stat:UNDELIV err:001" })
    assert.equal("42", r.message_id)
    assert.equal("UNDELIV", r.stat)
    assert.is_nil(r.message_state)
    assert.is_nil(r.state)
    assert.same({}, r.tlvs)
  end)

  it("counts a deliver_sm with only a message_state TLV as a receipt", function()
    local r = pdu.receipt(deliver { short_message = "hello", tlvs = { message_state = 5 } })
    assert.equal(5, r.message_state)
    assert.equal("UNDELIVERABLE", r.state)
    assert.is_nil(r.message_id)
    assert.equal("hello", r.raw)
  end)

  it("reads the receipt text from message_payload when short_message is empty", function()
    local r = pdu.receipt(deliver { tlvs = { message_payload = "id:7 stat:DELIVRD" } })
    assert.equal("7", r.message_id)
    assert.equal("DELIVRD", r.stat)
  end)

  it("carries network_error_code through", function()
    local r = pdu.receipt(deliver {
      short_message = "id:7 stat:UNDELIV",
      tlvs = { network_error_code = { network_type = 3, error_code = 0x0105 } },
    })
    assert.same({ network_type = 3, error_code = 0x0105 }, r.network_error_code)
  end)

  it("gives stat in upper case whatever case the text used", function()
    local r = pdu.receipt(deliver { short_message = "id:9 Stat:delivrd err:000" })
    assert.equal("DELIVRD", r.stat)
    assert.equal("id:9 Stat:delivrd err:000", r.raw)
  end)

  it("derives stat from message_state when the text has none", function()
    local r = pdu.receipt(deliver { tlvs = { receipted_message_id = "m1", message_state = 2 } })
    assert.equal("DELIVRD", r.stat)
    r = pdu.receipt(deliver { tlvs = { receipted_message_id = "m1", message_state = 5 } })
    assert.equal("UNDELIV", r.stat)
  end)

  it("keeps the text's stat over the one message_state implies", function()
    local r = pdu.receipt(deliver {
      short_message = "id:m1 stat:EXPIRED", tlvs = { message_state = 2 },
    })
    assert.equal("EXPIRED", r.stat)
  end)

  it("keeps a receipted_message_id that came without its NUL", function()
    local r = pdu.receipt(deliver {
      tlvs = { { tag = 0x001E, value = "abc", nul = false } },
    })
    assert.equal("abc", r.message_id)
  end)

  it("says false for a deliver_sm that is no receipt, whatever esm_class", function()
    local r, pos = pdu.receipt(deliver { esm_class = 4, short_message = "hello there" })
    assert.is_false(r)
    assert.is_number(pos)
  end)

  it("refuses other commands, broken PDUs and says what incomplete input needs", function()
    local r, err = pdu.receipt(fixture("submit_sm"))
    assert.is_nil(r)
    assert.equal("not a deliver_sm", err)
    local _, err2, need = pdu.receipt(fixture("deliver_sm_receipt"):sub(1, 100))
    assert.is_nil(err2)
    assert.equal(81, need)
  end)
end)
