-- smpp.simulator.rules alone: the gateway's checks (reference/engagelab-smpp.txt)
-- and the statuses they answer with, on decoded PDU tables. No socket.

local rules = require "smpp.simulator.rules"
local pdu = require "smpp.pdu"

local TEMPLATES = { ["otp-login"] = true, notice = true }
local OTP_JSON = '{"id":"otp-login","language":"default","code":"123456","params":{"app":"Acme"}}'

-- A decoded submit_sm as the session hands it over, UCS2 by default.
local function submit(fields)
  local t = { command = "submit_sm", sequence_number = 1, service_type = "CODE",
              destination_addr = "+6598765432", registered_delivery = 1, data_coding = 8,
              short_message = assert(pdu.utf8_to_ucs2(OTP_JSON)) }
  for k, v in pairs(fields or {}) do t[k] = v end
  return t
end

local function status_of(fields)
  local status, reason = rules.check_submit(submit(fields), TEMPLATES)
  return status, reason
end

describe("smpp.simulator.rules", function()
  describe("bind_refusal", function()
    local accounts = { test = "secret", open = "" }

    it("lets a known system_id with its password in", function()
      assert.is_nil(rules.bind_refusal(accounts, "test", "secret"))
      assert.is_nil(rules.bind_refusal(accounts, "open", ""))
    end)

    it("says why it refuses the others", function()
      assert.are.equal("unknown system_id", rules.bind_refusal(accounts, "nobody", "secret"))
      assert.are.equal("wrong password", rules.bind_refusal(accounts, "test", "Secret"))
      assert.are.equal("wrong password", rules.bind_refusal(accounts, "open", "x"))
    end)
  end)

  describe("check_submit", function()
    it("accepts the gateway's JSON in UCS2 and returns the body and its text", function()
      local status, body, text = rules.check_submit(submit(), TEMPLATES)
      assert.are.equal(0, status)
      assert.are.same({ id = "otp-login", language = "default", code = "123456",
                        params = { app = "Acme" } }, body)
      assert.are.equal(OTP_JSON, text)
    end)

    it("reads any other data_coding as the bytes given", function()
      local status, body = rules.check_submit(submit { data_coding = 0,
                                                       short_message = OTP_JSON }, TEMPLATES)
      assert.are.equal(0, status)
      assert.are.equal("otp-login", body.id)
    end)

    it("takes MSG, CODE, MRKT and empty (MSG) service types, nothing else", function()
      for _, st in ipairs { "MSG", "CODE", "MRKT", "" } do
        assert.are.equal(0, status_of { service_type = st }, st)
      end
      local status, reason = status_of { service_type = "SMS" }
      assert.are.equal(0x32, status)
      assert.are.equal("service_type must be MSG, CODE or MRKT", reason)
    end)

    it("wants + and 7 to 15 digits in destination_addr", function()
      for _, ok in ipairs { "+1234567", "+123456789012345" } do
        assert.are.equal(0, status_of { destination_addr = ok }, ok)
      end
      for _, bad in ipairs { "+123456", "+1234567890123456", "6598765432", "+65 9876 5432",
                             "" } do
        local status, reason = status_of { destination_addr = bad }
        assert.are.equal(0x32, status, bad)
        assert.are.equal("destination_addr must be + and 7 to 15 digits", reason)
      end
    end)

    it("takes the JSON from message_payload when short_message is empty", function()
      local status, body = rules.check_submit(submit {
        short_message = "", tlvs = { message_payload = assert(pdu.utf8_to_ucs2(OTP_JSON)) },
      }, TEMPLATES)
      assert.are.equal(0, status)
      assert.are.equal("otp-login", body.id)
      local both, reason = status_of { tlvs = { message_payload = "x" } }
      assert.are.equal(0x32, both)
      assert.are.equal("both short_message and message_payload are set", reason)
    end)

    it("answers ESME_RINVNUMMSGS for a body that is not the gateway's JSON", function()
      local cases = {
        { short_message = "\0{\0" },            -- odd-length UCS2
        { short_message = assert(pdu.utf8_to_ucs2("not json")) },
        { short_message = assert(pdu.utf8_to_ucs2('{"id":5}')) },
        { short_message = assert(pdu.utf8_to_ucs2('{"id":"otp-login","params":{"a":1}}')) },
      }
      for i, c in ipairs(cases) do
        local status, reason = status_of(c)
        assert.are.equal(0x55, status, i)
        assert.matches("^short_message: ", reason)
      end
    end)

    it("wants a code for service_type CODE only", function()
      local no_code = assert(pdu.utf8_to_ucs2('{"id":"notice"}'))
      local status, reason = status_of { short_message = no_code }
      assert.are.equal(0x55, status)
      assert.are.equal("short_message: code is required for service_type CODE", reason)
      assert.are.equal(0, status_of { short_message = no_code, service_type = "MSG" })
    end)

    it("answers ESME_RSUBMITFAIL for a template it does not know", function()
      local status, reason = status_of {
        short_message = assert(pdu.utf8_to_ucs2('{"id":"promo","code":"1"}')) }
      assert.are.equal(0x45, status)
      assert.are.equal("unknown template id", reason)
    end)
  end)

  describe("fault_fails", function()
    it("fails every n-th submit, counting across calls", function()
      local f, count, out = { every = 3 }, 0, {}
      for i = 1, 7 do
        local fail
        fail, count = rules.fault_fails(f, count)
        out[i] = fail
      end
      assert.are.same({ false, false, true, false, false, true, false }, out)
      assert.are.equal(1, count)
    end)

    it("fails all or none at the extreme rates", function()
      for _ = 1, 20 do
        assert.is_true((rules.fault_fails({ rate = 1 }, 0)))
        assert.is_false((rules.fault_fails({ rate = 0 }, 0)))
      end
    end)

    it("fails nothing for faults that do not fail submits", function()
      assert.are.same({ false, 0 }, { rules.fault_fails({ delay = 1 }, 0) })
    end)
  end)

  describe("drop_reason", function()
    it("drops on PDU limit + 1 only, and says which", function()
      assert.is_nil(rules.drop_reason(3, 3, "submit_sm"))
      assert.is_nil(rules.drop_reason(5, 3, "submit_sm"))
      assert.is_nil(rules.drop_reason(4, nil, "submit_sm"))
      assert.are.equal("PDU 4 (submit_sm) came in, drop_after 3",
                       rules.drop_reason(4, 3, "submit_sm"))
      assert.are.equal("PDU 1 (unframed) came in, drop_after 0", rules.drop_reason(1, 0, nil))
    end)
  end)
end)
