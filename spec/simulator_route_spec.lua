-- receipt_route: which bound link of an account a receipt goes out on.
-- "same" (the default): the link its submit came on; "any": the account's
-- links in turn, as a gateway with several binds of one account may do.

package.path = "spec/?.lua;" .. package.path
local delivery = require "smpp.simulator.delivery"
local receipts = require "smpp.simulator.receipts"
local options = require "smpp.simulator.options"
local process = require "support.process"

local NOON = 1735732800

-- A fake link that takes every deliver_sm and notes its message_id.
local function link()
  local l = { sent = {} }
  function l.deliver(self, fields)
    self.sent[#self.sent + 1] = fields.tlvs.receipted_message_id
    return true
  end
  return l
end

describe("simulator receipt_route", function()
  local maker, st

  local function new(route)
    st = { receipts_sent = 0, receipts_acked = 0, receipts_unacked = 0, receipts_pending = 0,
           receipts_dropped = 0, receipts_waiting = 0 }
    maker = receipts.new { esm_class = 0, text = true, delay = 0 }
    return delivery.new { maker = maker, max_pending = 10, st = st, route = route,
                          note = function() end }
  end

  local function rec(conn, id)
    return maker:record(conn, "test", "+6598765432", id, nil, "{}", NOON)
  end

  it("same: every receipt on the link its submit came on", function()
    local d = new("same")
    local a, b = link(), link()
    d:bound(a, "test")
    d:bound(b, "test")
    for i = 1, 4 do d:send(rec(a, "m" .. i)) end
    assert.are.same({ "m1", "m2", "m3", "m4" }, a.sent)
    assert.are.same({}, b.sent)
  end)

  it("any: the account's bound links in turn, whichever submitted", function()
    local d = new("any")
    local a, b, c, other = link(), link(), link(), link()
    d:bound(a, "test")
    d:bound(b, "test")
    d:bound(c, "test")
    d:bound(other, "acme")
    for i = 1, 6 do d:send(rec(a, "m" .. i)) end
    assert.are.same({ "m1", "m4" }, a.sent)
    assert.are.same({ "m2", "m5" }, b.sent)
    assert.are.same({ "m3", "m6" }, c.sent)
    assert.are.same({}, other.sent)
    -- A link that leaves drops out of the turn; the others go on.
    d:unbound(b)
    for i = 7, 10 do d:send(rec(a, "m" .. i)) end
    assert.are.same({ "m1", "m4", "m7", "m9" }, a.sent)
    assert.are.same({ "m3", "m6", "m8", "m10" }, c.sent)
    -- No link left: kept for the account's next bind.
    d:unbound(a)
    d:unbound(c)
    d:send(rec(a, "m11"))
    assert.are.equal(1, d:count("test"))
  end)

  it("refuses a route it does not know", function()
    assert.has_error(function() options.normalize({ receipt_route = "all" }, nil, 1) end,
      'simulator: receipt_route must be "same" or "any"')
    assert.are.equal("same", options.normalize({}, nil, 1).receipt_route)
  end)

  it("bin/smpp-sim --receipt-route any: receipts of one client's submits reach both binds",
    function()
      local sim = process.sim("--receipt-route any")
      finally(function() sim.stop("KILL") end)
      assert.is_number(sim.port, sim.stderr())
      local code, out = process.lua(([[
        local smpp = require "smpp"
        local function client()
          local c = smpp.client { host = "127.0.0.1", port = %d, system_id = "test",
                                  password = "secret" }
          assert(c:bind())
          return c
        end
        local a, b = client(), client()
        local got = { a = 0, b = 0 }
        a:on_receipt(function() got.a = got.a + 1 end)
        b:on_receipt(function() got.b = got.b + 1 end)
        for i = 1, 6 do
          assert(a:send_otp { to = "+6598765432", template = "otp-login", code = tostring(i) })
        end
        local t = smpp.now() + 5
        while got.a + got.b < 6 and smpp.now() < t do smpp.sleep(0.02) end
        print("a=" .. got.a .. " b=" .. got.b)
        a:close(); b:close()
      ]]):format(sim.port))
      assert.are.equal(0, code, out)
      assert.are.equal("a=3 b=3", out:match("a=%d+ b=%d+"), out)
    end)
end)
