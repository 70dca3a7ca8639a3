-- smpp.pdu command_status and message_state names.
local pdu = require "smpp.pdu"

-- PROTOCOL.md, "command_status values".
local STATUSES = {
  ESME_ROK = 0x00, ESME_RINVMSGLEN = 0x01, ESME_RINVCMDLEN = 0x02, ESME_RINVCMDID = 0x03,
  ESME_RINVBNDSTS = 0x04, ESME_RALYBND = 0x05, ESME_RSYSERR = 0x08, ESME_RINVDSTADR = 0x0B,
  ESME_RBINDFAIL = 0x0D, ESME_RINVPASWD = 0x0E, ESME_RINVSYSID = 0x0F, ESME_RMSGQFUL = 0x14,
  ESME_RINVSERTYP = 0x15, ESME_RINVPARAM = 0x32, ESME_RSUBMITFAIL = 0x45,
  ESME_RINVNUMMSGS = 0x55, ESME_RTHROTTLED = 0x58, ESME_RUNKNOWNERR = 0xFF,
}

describe("smpp.pdu status names", function()
  it("names every status of PROTOCOL.md, both ways", function()
    for name, value in pairs(STATUSES) do
      assert.equal(name, pdu.status_name(value))
      assert.equal(value, pdu.status_value(name))
      assert.equal(name, pdu.status_string(value))
    end
  end)

  it("lists exactly those statuses in pdu.status", function()
    assert.same(STATUSES, pdu.status)
  end)

  it("has no name for an unknown number, and status_string shows it in hex", function()
    assert.is_nil(pdu.status_name(0x09))
    assert.is_nil(pdu.status_name(0xFFFFFFFF))
    assert.equal("0x00000009", pdu.status_string(9))
    assert.equal("0xDEADBEEF", pdu.status_string(0xDEADBEEF))
  end)

  it("has no number for an unknown name, or a name in other case", function()
    assert.is_nil(pdu.status_value("ESME_RNOPE"))
    assert.is_nil(pdu.status_value("esme_rok"))
    assert.is_nil(pdu.status_value(""))
  end)

  it("raises on misuse: a status that is not an integer 0..0xFFFFFFFF", function()
    assert.has_error(function() pdu.status_name("ESME_ROK") end)
    assert.has_error(function() pdu.status_name(-1) end)
    assert.has_error(function() pdu.status_name(0x100000000) end)
    assert.has_error(function() pdu.status_name(1.5) end)
    assert.has_error(function() pdu.status_value(nil) end)
  end)
end)

describe("smpp.pdu.message_state_name", function()
  it("names the eight states of TLV 0x0427", function()
    local names = { "ENROUTE", "DELIVERED", "EXPIRED", "DELETED", "UNDELIVERABLE",
      "ACCEPTED", "UNKNOWN", "REJECTED" }
    for i, name in ipairs(names) do
      assert.equal(name, pdu.message_state_name(i))
    end
  end)

  it("has no name for 0, 9 or 300", function()
    assert.is_nil(pdu.message_state_name(0))
    assert.is_nil(pdu.message_state_name(9))
    assert.is_nil(pdu.message_state_name(300))
  end)

  it("raises on misuse: a state that is not an integer", function()
    assert.has_error(function() pdu.message_state_name("2") end)
  end)
end)
