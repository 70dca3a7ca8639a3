-- smpp.simulator.receipts alone: what a receipt says (SMPP 3.4 Appendix B,
-- the gateway's "Delivery Report"), whether one is sent (registered_delivery,
-- SMPP 3.4 5.2.17), and the deliver_sm it goes out as. No socket.

local receipts = require "smpp.simulator.receipts"
local pdu = require "smpp.pdu"

-- 2025-01-01 12:00:00 UTC
local NOON = 1735732800
local CONN = {}

describe("smpp.simulator.receipts", function()
  describe("first_chars", function()
    it("cuts ASCII at n bytes", function()
      assert.are.equal("abc", receipts.first_chars("abcdef", 3))
      assert.are.equal("ab", receipts.first_chars("ab", 20))
    end)

    it("counts UTF-8 characters, never splitting one", function()
      -- 2-, 3- and 4-byte characters.
      local s = "é€😀x"
      assert.are.equal("é", receipts.first_chars(s, 1))
      assert.are.equal("é€", receipts.first_chars(s, 2))
      assert.are.equal("é€😀", receipts.first_chars(s, 3))
      assert.are.equal(s, receipts.first_chars(s, 20))
    end)
  end)

  describe("wanted", function()
    it("reads bits 0-1 of registered_delivery", function()
      -- { registered_delivery, for DELIVRD, for UNDELIV }
      local cases = {
        { 0, false, false },
        { 1, true, true },
        { 2, false, true },
        { 3, true, true },
        -- The higher bits (SME acknowledgements, intermediate
        -- notifications) do not change it.
        { 0x10, false, false },
        { 0x11, true, true },
        { 0x1E, false, true },
      }
      for _, c in ipairs(cases) do
        assert.are.equal(c[2], receipts.wanted(c[1], false), "DELIVRD " .. c[1])
        assert.are.equal(c[3], receipts.wanted(c[1], true), "UNDELIV " .. c[1])
      end
    end)
  end)

  describe("record", function()
    it("says DELIVRD with the dates in UTC and the text's first 20 characters", function()
      local maker = receipts.new { esm_class = 0, text = true, delay = 0 }
      local rec = maker:record(CONN, "test", "+6598765432", "a1", nil,
                               '{"id":"otp-login","code":"123456"}', NOON + 0.5)
      assert.are.equal(CONN, rec[receipts.CONN])
      assert.are.equal("test", rec[receipts.SYSTEM_ID])
      assert.are.equal("+6598765432", rec[receipts.DEST])
      assert.are.equal("a1", rec[receipts.ID])
      assert.are.equal(2, rec[receipts.STATE])
      assert.are.equal('id:a1 sub:001 dlvrd:001 submit date:2501011200 done date:2501011200 '
                       .. 'stat:DELIVRD err:000 text:{"id":"otp-login","c',
                       rec[receipts.TEXT])
    end)

    it("says UNDELIV with the err code in three digits", function()
      local maker = receipts.new { esm_class = 0, text = true, delay = 0 }
      local r = pdu.parse_receipt(maker:record(CONN, "test", "+999", "b2", 1042, "{}",
                                               NOON)[receipts.TEXT])
      assert.are.equal("UNDELIV", r.stat)
      assert.are.equal("000", r.dlvrd)
      assert.are.equal("042", r.err)
      assert.are.equal(5, maker:record(CONN, "test", "+999", "b3", 1, "{}",
                                       NOON)[receipts.STATE])
    end)

    it("dates the delivery receipt_delay after the submit", function()
      local maker = receipts.new { esm_class = 0, text = true, delay = 3600 }
      local r = pdu.parse_receipt(maker:record(CONN, "t", "+1", "c", nil, "x", NOON)
                                    [receipts.TEXT])
      assert.are.equal("2501011200", r.submit_date)
      assert.are.equal("2501011300", r.done_date)
    end)

    it("leaves text: empty when told to", function()
      local maker = receipts.new { esm_class = 0, text = false, delay = 0 }
      local t = maker:record(CONN, "t", "+1", "d", nil, "secret body", NOON)[receipts.TEXT]
      assert.matches("text:$", t)
    end)
  end)

  describe("fields", function()
    it("gives the gateway's deliver_sm for a record", function()
      local maker = receipts.new { esm_class = 0x04, text = true, delay = 0 }
      local rec = maker:record(CONN, "test", "+6598765432", "a1", 7, "hi", NOON)
      local d = maker:fields(rec)
      assert.are.same({
        service_type = "MSG", source_addr = "", destination_addr = "+6598765432",
        esm_class = 0x04, data_coding = 0, short_message = rec[receipts.TEXT],
        registered_delivery = 0,
        tlvs = { receipted_message_id = "a1", message_state = 5 },
      }, d)
      -- It encodes as a deliver_sm the codec reads back as this receipt.
      d.command, d.sequence_number = "deliver_sm", 1
      local back = assert(pdu.decode(assert(pdu.encode(d))))
      assert.are.equal("a1", back.tlvs.receipted_message_id)
    end)

    it("reuses one table: the next record's fields replace the last", function()
      local maker = receipts.new { esm_class = 0, text = true, delay = 0 }
      local a = maker:fields(maker:record(CONN, "t", "+1111111", "a", nil, "x", NOON))
      local b = maker:fields(maker:record(CONN, "t", "+2222222", "b", nil, "y", NOON))
      assert.are.equal(a, b)
      assert.are.equal("+2222222", a.destination_addr)
      assert.are.equal("b", a.tlvs.receipted_message_id)
    end)
  end)
end)
