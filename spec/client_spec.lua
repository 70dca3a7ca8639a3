-- smpp.client against the real simulator over loopback.

local compat = require "support.compat"
local smpp = require "smpp"
local simulator = require "smpp.simulator"

local process = require "support.process"

local function new_sim(opts)
  opts = opts or {}
  opts.port = 0
  return assert(simulator(opts))
end

local function new_client(sim, extra)
  local opts = { host = "127.0.0.1", port = sim:port(), system_id = "test", password = "secret" }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  return smpp.client(opts)
end

local function otp(to)
  return assert(smpp.otp { to = to or "+6598765432", template = "otp-login", code = "123456" })
end

-- A port nothing listens on: bind one, note it, close it.
local function closed_port()
  local sim = new_sim()
  local port = sim:port()
  sim:close()
  return port
end

describe("smpp.client", function()
  local sim, c

  after_each(function()
    if c then
      c:close()
      c = nil
    end
    if sim then
      sim:close()
      sim = nil
    end
  end)

  describe("bind", function()
    it("binds and reports the state", function()
      sim = new_sim()
      c = new_client(sim)
      assert.equal("idle", c:state())
      assert.is_true(c:bind())
      assert.equal("bound", c:state())
    end)

    it("reports bad credentials as an authentication failure", function()
      sim = new_sim()
      c = new_client(sim, { password = "wrong" })
      local ok, err = c:bind()
      assert.is_nil(ok)
      assert.equal("authentication failed", err)
    end)

    it("reports a refused connection", function()
      c = smpp.client { host = "127.0.0.1", port = closed_port(), system_id = "test",
                        password = "secret" }
      local ok, err = c:bind()
      assert.is_nil(ok)
      assert.equal("connection refused", err)
    end)

    it("returns at once with a callback, which runs later", function()
      sim = new_sim()
      c = new_client(sim)
      local got
      assert.is_true(c:bind(function(ok, err) got = { ok, err } end))
      assert.is_nil(got)
      smpp.sleep(0.2)
      assert.same({ true }, got)
    end)
  end)

  describe("submit", function()
    it("returns the gateway's message_id", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      local res = assert(c:submit(otp()))
      assert.is_string(res.message_id)
      assert.not_equal("", res.message_id)
    end)

    it("returns the gateway's status by name and number", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      local res, err, status = c:submit(assert(smpp.otp {
        to = "+6598765432", template = "no-such-template", code = "1" }))
      assert.is_nil(res)
      assert.equal("ESME_RSUBMITFAIL", err)
      assert.equal(0x45, status)
    end)

    it("calls back with the result when given a callback", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      local got
      assert.is_true(c:submit(otp(), function(res, err) got = res or err end))
      assert.is_nil(got)
      while not got do
        smpp.sleep(0.01)
      end
      assert.is_string(got.message_id)
    end)

    it("times out when the gateway never answers", function()
      sim = new_sim { faults = { no_answer = true } }
      c = new_client(sim, { response_timeout = 0.2 })
      assert(c:bind())
      local t0 = smpp.now()
      local res, err = c:submit(otp())
      assert.is_nil(res)
      assert.equal("timeout", err)
      -- Not before response_timeout; the upper bound only catches a hang.
      local waited = smpp.now() - t0
      assert.is_true(waited >= 0.15 and waited < 5, tostring(waited))
    end)

    it("raises for a non-table", function()
      sim = new_sim()
      c = new_client(sim)
      assert.has_error(function() c:submit("hello") end,
        "client:submit: expected a table of submit_sm fields (see smpp.otp), got string")
    end)
  end)

  describe("wait_receipt", function()
    it("finds a receipt that came before the wait", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      local res = assert(c:submit(otp()))
      smpp.sleep(0.1) -- the receipt arrives meanwhile
      assert.equal(1, c:stats().receipts_kept)
      -- Timeout 0: anything but a receipt found at once ends in "timeout".
      local r = assert(c:wait_receipt(res.message_id, 0))
      assert.equal(res.message_id, r.message_id)
      assert.equal("DELIVRD", r.stat)
      -- The simulator dates it now, in UTC, on every backend.
      local near = { os.date("!%y%m%d%H%M", os.time() - 60), os.date("!%y%m%d%H%M") }
      assert.is_true(r.submit_date == near[1] or r.submit_date == near[2], r.submit_date)
    end)

    it("waits for a receipt that comes after the call", function()
      sim = new_sim { receipt_delay = 0.2 }
      c = new_client(sim)
      assert(c:bind())
      local res = assert(c:submit(otp()))
      assert.equal(0, c:stats().receipts_kept)
      local r = assert(c:wait_receipt(res.message_id, 5))
      assert.equal("DELIVRD", r.stat)
      assert.equal("000", r.err)
      assert.equal("+6598765432", r.destination_addr)
    end)

    it("keeps a receipt that arrives before the submit's answer", function()
      sim = new_sim { faults = { receipt_first = true } }
      c = new_client(sim)
      assert(c:bind())
      local res = assert(c:submit(otp()))
      local r = assert(c:wait_receipt(res.message_id, 1))
      assert.equal(res.message_id, r.message_id)
    end)

    it("reports UNDELIV receipts", function()
      sim = new_sim { undeliverable = "+999" }
      c = new_client(sim)
      assert(c:bind())
      local res = assert(c:submit(otp("+9991234567")))
      local r = assert(c:wait_receipt(res.message_id, 5))
      assert.equal("UNDELIV", r.stat)
    end)

    it("times out", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      local t0 = smpp.now()
      local r, err = c:wait_receipt("no-such-id", 0.15)
      assert.is_nil(r)
      assert.equal("timeout", err)
      local waited = smpp.now() - t0
      assert.is_true(waited >= 0.1 and waited < 5, tostring(waited))
      assert.equal(0, c:stats().receipt_waiters)
    end)

    it("wakes waiters with closed when the client closes", function()
      sim = new_sim { receipt_delay = 10 }
      c = new_client(sim)
      assert(c:bind())
      local res = assert(c:submit(otp()))
      local results = {}
      for i = 1, 3 do
        smpp.spawn(function()
          results[i] = { c:wait_receipt(res.message_id, 30) }
        end)
      end
      assert.equal(3, c:stats().receipt_waiters)
      smpp.spawn(function()
        smpp.sleep(0.05)
        c:close()
      end)
      assert.is_true(smpp.run())
      for i = 1, 3 do
        assert.same({ nil, "closed" }, results[i])
      end
      assert.equal("closed", c:state())
    end)

    it("returns at once on a client that never bound, with or without a timeout", function()
      -- Nothing is on the loop for such a client: the wait used to spin.
      local status, out = process.lua([[
        local smpp = require "smpp"
        local c = smpp.client { host = "127.0.0.1", port = 1, system_id = "a", password = "b" }
        local function show(r, err) print(r, err) end
        show(c:wait_receipt("x"))
        show(c:wait_receipt("x", 30))
        show(c:wait_receipt("x", nil, function() end))
      ]])
      assert.equal(0, status, out)
      assert.equal("nil\tnot bound: call bind first\n"
        .. "nil\tnot bound: call bind first\n"
        .. "nil\tnot bound: call bind first\n", out)
    end)

    it("returns closed after close", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      c:close()
      assert.same({ nil, "closed" }, { c:wait_receipt("x", 1) })
    end)

    it("wakes waiters with closed when the gateway drops the link and reconnect is off", function()
      sim = new_sim { receipt_delay = 10 }
      c = new_client(sim, { reconnect = false })
      assert(c:bind())
      local res = assert(c:submit(otp()))
      smpp.spawn(function()
        smpp.sleep(0.05)
        sim:close()
      end)
      local r, err = c:wait_receipt(res.message_id, 5)
      assert.is_nil(r)
      assert.equal("closed", err)
    end)

    it("calls a callback later even when the receipt is already there", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      local res = assert(c:submit(otp()))
      smpp.sleep(0.1)
      local got
      assert.is_true(c:wait_receipt(res.message_id, 1, function(r) got = r end))
      assert.is_nil(got)
      smpp.sleep(0.01)
      assert.equal("DELIVRD", got.stat)
    end)

    it("keeps at most receipts_keep receipts", function()
      sim = new_sim()
      c = new_client(sim, { receipts_keep = 2 })
      assert(c:bind())
      local ids = {}
      for i = 1, 4 do
        ids[i] = assert(c:submit(otp())).message_id
      end
      smpp.sleep(0.1)
      assert.equal(2, c:stats().receipts_kept)
      assert.same({ nil, "timeout" }, { c:wait_receipt(ids[1], 0.01) })
      assert.equal(ids[4], assert(c:wait_receipt(ids[4], 0.01)).message_id)
    end)

    it("forgets receipts older than receipts_ttl", function()
      sim = new_sim()
      c = new_client(sim, { receipts_ttl = 0.05 })
      assert(c:bind())
      local id = assert(c:submit(otp())).message_id
      smpp.sleep(0.2)
      assert.same({ nil, "timeout" }, { c:wait_receipt(id, 0.01) })
    end)

    it("waits past interim receipts for the final one", function()
      -- A bare server that reports ENROUTE first, as gateways other than
      -- EngageLab's do; the simulator only ever sends final receipts.
      local host = require("smpp.backend").get()
      local pdu = require "smpp.pdu"
      local function receipt(state, stat)
        return {
          service_type = "MSG", destination_addr = "+6598765432",
          short_message = pdu.format_receipt { id = "m1", stat = stat,
                                               submit_date = "2501010000",
                                               done_date = "2501010000" },
          tlvs = { receipted_message_id = "m1", message_state = state },
        }
      end
      local srv = assert(host.server {
        host = "127.0.0.1", port = 0,
        on_bind = function() return 0 end,
        on_submit = function(conn)
          conn:deliver(receipt(1, "ENROUTE"), function() end)
          local t
          t = host.timer(0.1, function()
            t:stop()
            conn:deliver(receipt(2, "DELIVRD"), function() end)
          end)
          return 0, "m1"
        end,
      })
      c = smpp.client { host = "127.0.0.1", port = srv:port(), system_id = "a", password = "b" }
      local seen = {}
      c:on_receipt(function(r) seen[#seen + 1] = r.stat end)
      assert(c:bind())
      assert.equal("m1", assert(c:submit(otp())).message_id)
      local r = assert(c:wait_receipt("m1", 2))
      assert.equal("DELIVRD", r.stat)
      assert.equal("DELIVERED", r.state)
      assert.same({ "ENROUTE", "DELIVRD" }, seen)
      c:close()
      srv:close()
    end)

    it("still hands every receipt to on_receipt", function()
      sim = new_sim()
      c = new_client(sim)
      local seen = {}
      assert.is_nil(c:on_receipt(function(r) seen[#seen + 1] = r.message_id end))
      assert(c:bind())
      local a = assert(c:submit(otp())).message_id
      local b = assert(c:submit(otp())).message_id
      assert(c:wait_receipt(a, 1))
      assert(c:wait_receipt(b, 1))
      table.sort(seen)
      local want = { a, b }
      table.sort(want)
      assert.same(want, seen)
    end)
  end)

  describe("send_otp", function()
    it("sends without waiting", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      local res = assert(c:send_otp { to = "+6598765432", template = "otp-login", code = 42 })
      assert.is_string(res.message_id)
      assert.is_nil(res.stat)
      assert.is_nil(res.receipt)
    end)

    it("sends and waits for the receipt", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      local res = assert(c:send_otp { to = "+6598765432", template = "otp-login",
                                       code = "123456", params = { app = "Acme" },
                                       wait_receipt = 5 })
      assert.equal("DELIVRD", res.stat)
      assert.equal("000", res.err)
      assert.equal(res.message_id, res.receipt.message_id)
    end)

    it("says when no receipt came in time, keeping the message_id", function()
      sim = new_sim { receipt_delay = 5 }
      c = new_client(sim)
      assert(c:bind())
      local res = assert(c:send_otp { to = "+6598765432", template = "otp-login",
                                       code = "1", wait_receipt = 0.1 })
      assert.is_string(res.message_id)
      assert.is_nil(res.stat)
      assert.equal("timeout", res.receipt_err)
    end)

    it("returns the field error before sending", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      local res, err = c:send_otp { to = "98765432", template = "otp-login", code = "1" }
      assert.is_nil(res)
      assert.matches("^to:", err)
      assert.equal(0, c:stats().submitted)
    end)

    it("returns the gateway's refusal", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      local res, err, status = c:send_otp { to = "+6598765432", template = "nope", code = "1",
                                            wait_receipt = 1 }
      assert.is_nil(res)
      assert.equal("ESME_RSUBMITFAIL", err)
      assert.equal(0x45, status)
    end)

    it("raises for an unknown key", function()
      sim = new_sim()
      c = new_client(sim)
      assert.has_error(function()
        c:send_otp { to = "+6598765432", template = "t", code = "1", wait = 5 }
      end, "client:send_otp: unknown field 'wait'")
    end)
  end)

  describe("lifecycle", function()
    it("counts in stats", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      assert(c:send_otp { to = "+6598765432", template = "otp-login", code = 1,
                          wait_receipt = 2 })
      local s = c:stats()
      assert.equal(1, s.submitted)
      assert.equal(1, s.succeeded)
      assert.equal(1, s.receipts)
      assert.equal(0, s.receipt_waiters)
    end)

    it("never shows the password in tostring", function()
      sim = new_sim()
      c = new_client(sim)
      local s = tostring(c)
      assert.matches("test@127%.0%.0%.1:%d+", s)
      assert.is_nil(s:find("secret", 1, true))
    end)

    it("closes idempotently", function()
      sim = new_sim()
      c = new_client(sim)
      assert(c:bind())
      assert.is_true(c:close())
      assert.is_true(c:close())
      assert.equal("closed", c:state())
    end)

    -- `<close>` is Lua 5.4 syntax: compiled there only.
    if compat.lua54 then
      it("closes a to-be-closed variable at the end of its scope", function()
        sim = new_sim()
        local kept = compat.run_54([[
          local new_client, sim = ...
          local kept
          do
            local cc <close> = new_client(sim)
            assert(cc:bind())
            kept = cc
          end
          return kept]], new_client, sim)
        assert.equal("closed", kept:state())
      end)
    end

    it("closes a dropped client's session when collected", function()
      sim = new_sim()
      do
        local cc = new_client(sim)
        assert(cc:bind())
      end
      assert.equal(1, sim:connections())
      collectgarbage()
      collectgarbage()
      smpp.sleep(0.1)
      assert.equal(0, sim:connections())
    end)

    it("raises on misuse", function()
      assert.has_error(function() smpp.client("127.0.0.1") end)
      assert.has_error(function()
        smpp.client { host = "127.0.0.1", port = 1, system_id = "a", password = "b",
                      receipts_keep = -1 }
      end)
      sim = new_sim()
      c = new_client(sim)
      assert.has_error(function() c:wait_receipt(123) end)
      assert.has_error(function() c:wait_receipt("x", -1) end)
      assert.has_error(function() c:bind("not a function") end)
      assert.has_error(function() c:on_receipt(42) end)
    end)
  end)
end)
