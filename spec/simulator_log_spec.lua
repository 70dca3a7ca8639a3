-- smpp.simulator.log alone: the ring of entries, the filters, the entry of
-- a PDU and the one-line form. No socket.

local simlog = require "smpp.simulator.log"

-- 2025-01-01 12:00:00.250 UTC
local T = 1735732800.25

local function events(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = e.event end
  return out
end

describe("smpp.simulator.log", function()
  describe("the ring", function()
    it("keeps the newest size entries, oldest first", function()
      local log = simlog.new(3)
      for i = 1, 5 do log:add({ event = i }, T) end
      assert.are.same({ 3, 4, 5 }, events(log:entries()))
      log:add({ event = 6 }, T)
      assert.are.same({ 4, 5, 6 }, events(log:entries()))
    end)

    it("stamps entries with the time given, unless they have one", function()
      local log = simlog.new(10)
      log:add({ event = "a" }, T)
      log:add({ event = "b", time = 5 }, T)
      local list = log:entries()
      assert.are.equal(T, list[1].time)
      assert.are.equal(5, list[2].time)
    end)

    it("hands each entry to its function as it is added", function()
      local seen = {}
      local log = simlog.new(1, function(e) seen[#seen + 1] = e.event end)
      log:add({ event = "a" }, T)
      log:add({ event = "b" }, T)
      assert.are.same({ "a", "b" }, seen)
      assert.are.same({ "b" }, events(log:entries()))
    end)

    it("filters by fields (all must match) or by a function", function()
      local log = simlog.new(10)
      log:add({ dir = "in", command = "submit_sm", event = 1 }, T)
      log:add({ dir = "out", command = "submit_sm_resp", event = 2 }, T)
      log:add({ dir = "in", command = "enquire_link", event = 3 }, T)
      assert.are.same({ 1, 3 }, events(log:entries { dir = "in" }))
      assert.are.same({ 1 }, events(log:entries { dir = "in", command = "submit_sm" }))
      assert.are.same({}, events(log:entries { dir = "sim" }))
      assert.are.same({ 2 }, events(log:entries(function(e) return e.dir == "out" end)))
    end)

    it("forgets everything on clear, and keeps going", function()
      local log = simlog.new(2)
      for i = 1, 3 do log:add({ event = i }, T) end
      log:clear()
      assert.are.same({}, log:entries())
      log:add({ event = "x" }, T)
      assert.are.same({ "x" }, events(log:entries()))
    end)
  end)

  describe("pdu_entry", function()
    it("lifts the PDU's header, with a status name only for a failure", function()
      local p = { command = "submit_sm_resp", sequence_number = 7, command_status = 0,
                  message_id = "a1" }
      assert.are.same({ conn = 3, system_id = "test", dir = "out", command = "submit_sm_resp",
                        sequence_number = 7, command_status = 0, pdu = p },
                      simlog.pdu_entry(3, "test", "out", p))
      local nack = simlog.pdu_entry(3, nil, "out", { command = "generic_nack",
                                                       sequence_number = 8, command_status = 3 })
      assert.are.equal("ESME_RINVCMDID", nack.status_name)
      assert.is_nil(nack.system_id)
    end)

    it("keeps the error of bytes that could not be framed or decoded", function()
      local e = simlog.pdu_entry(1, nil, "in", { error = "command_length 5 is less than the "
                                                          .. "16-byte header" })
      assert.is_nil(e.command)
      assert.matches("^command_length 5", e.error)
    end)
  end)

  describe("format", function()
    it("writes a PDU's line with its time, link, direction and status", function()
      local e = simlog.pdu_entry(3, "test", "in", { command = "enquire_link",
                                                     sequence_number = 9, command_status = 0 })
      e.time = T
      assert.are.equal("12:00:00.250 #3 in  enquire_link seq=9 status=0",
                       simlog.format(e))
    end)

    it("shows what a submit_sm or deliver_sm carried, and a submit_sm_resp's id", function()
      local sub = simlog.pdu_entry(1, "test", "in", {
        command = "submit_sm", sequence_number = 2, command_status = 0, service_type = "CODE",
        destination_addr = "+6598765432", data_coding = 0, short_message = '{"id":"x"}' })
      sub.time = T
      assert.are.equal('12:00:00.250 #1 in  submit_sm seq=2 status=0 service_type="CODE" '
                       .. 'dest=+6598765432 dc=0 sm="{\\"id\\":\\"x\\"}"', simlog.format(sub))
      local resp = simlog.pdu_entry(1, "test", "out", { command = "submit_sm_resp",
        sequence_number = 2, command_status = 0x45, message_id = "" })
      resp.time = T
      assert.are.equal("12:00:00.250 #1 out submit_sm_resp seq=2 status=ESME_RSUBMITFAIL "
                       .. "message_id=", simlog.format(resp))
      local bind = simlog.pdu_entry(1, nil, "in", { command = "bind_transceiver",
        sequence_number = 1, command_status = 0, system_id = "test", password = "***" })
      bind.time = T
      assert.matches(" system_id=test$", simlog.format(bind))
    end)

    it("writes a decode error, and bytes that are no PDU as a broken stream", function()
      local bad = simlog.pdu_entry(1, nil, "in", { command = "bind_transceiver",
        sequence_number = 1, command_status = 0, error = "short body" })
      bad.time = T
      assert.matches(" error=short body$", simlog.format(bad))
      local broken = simlog.pdu_entry(1, nil, "in", { error = "command_length 5 is less "
                                                                .. "than the 16-byte header" })
      broken.time = T
      assert.are.equal("12:00:00.250 #1 in  broken stream: command_length 5 is less than "
                       .. "the 16-byte header", simlog.format(broken))
    end)

    it("writes a decision with the fields that say what happened", function()
      assert.are.equal("12:00:00.250 #- sim receipts_not_sent count=2 reason=2 receipts not "
                       .. "sent", simlog.format { time = T, dir = "sim",
                                                 event = "receipts_not_sent", count = 2,
                                                 reason = "2 receipts not sent" })
      assert.are.equal("12:00:00.250 #4 sim bound system_id=test",
                       simlog.format { time = T, conn = 4, dir = "sim", event = "bound",
                                       system_id = "test" })
    end)
  end)
end)
