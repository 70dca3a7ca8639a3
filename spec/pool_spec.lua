-- smpp.pool: several binds of one account against the real simulator.

local smpp = require "smpp"
local simulator = require "smpp.simulator"

local function new_pool(sim, extra)
  local opts = { size = 3, host = "127.0.0.1", port = sim:port(), system_id = "test",
                 password = "secret", reconnect_min = 0.05, reconnect_max = 0.2 }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  return smpp.pool(opts)
end

local function otp()
  return assert(smpp.otp { to = "+6598765432", template = "otp-login", code = "1" })
end

local function wait_until(pred, secs)
  local deadline = smpp.now() + (secs or 5)
  while not pred() and smpp.now() < deadline do
    smpp.sleep(0.01)
  end
  return pred()
end

describe("smpp.pool", function()
  local sim, p

  after_each(function()
    if p then p:close(); p = nil end
    if sim then sim:close(); sim = nil end
  end)

  it("binds every link and spreads submits over them", function()
    sim = assert(simulator { port = 0 })
    p = new_pool(sim)
    assert.is_true(p:bind())
    assert.equal(3, sim:connections())
    assert.equal("bound", p:state())
    local left, failed = 60, 0
    for _ = 1, 60 do
      p:submit(otp(), function(res) left = left - 1; if not res then failed = failed + 1 end end)
    end
    assert.is_true(wait_until(function() return left == 0 end))
    assert.equal(0, failed)
    local s = p:stats()
    assert.equal(60, s.succeeded)
    assert.same({ "bound", "bound", "bound" }, s.binds)
    local used = 0
    for i = 1, 3 do
      if p.members[i]:stats().succeeded > 0 then used = used + 1 end
    end
    assert.is_true(used >= 2, "submits went to " .. used .. " link(s)")
  end)

  it("finds a receipt whichever link it comes on", function()
    sim = assert(simulator { port = 0, receipt_route = "any", receipt_delay = 0.05 })
    p = new_pool(sim)
    assert.is_true(p:bind())
    local seen = 0
    p:on_receipt(function() seen = seen + 1 end)
    local ids = {}
    for i = 1, 12 do
      ids[i] = assert(p:submit(otp())).message_id
    end
    for i = 1, 12 do
      local r = assert(p:wait_receipt(ids[i], 5))
      assert.equal("DELIVRD", r.stat)
    end
    assert.is_true(wait_until(function() return seen == 12 end))
  end)

  it("carries on over the other links while one reconnects", function()
    sim = assert(simulator { port = 0, log = true })
    p = new_pool(sim, { size = 2, reconnect_min = 0.5, reconnect_max = 0.5 })
    local states = {}
    p:on_state(function(s, _, i) states[#states + 1] = i .. ":" .. s end)
    assert.is_true(p:bind())
    -- The gateway drops the link the next submit_sm comes on.
    sim:set_faults { drop_after = 1 }
    assert.same({ nil, "connection lost" }, { p:submit(otp()) })
    sim:set_faults(nil)
    local down = p.members[1]:state() == "reconnecting" and 1 or 2
    assert.equal("reconnecting", p.members[down]:state())
    assert.equal("bound", p.members[3 - down]:state())
    assert.equal("bound", p:state())
    for _ = 1, 5 do
      assert.truthy(p:submit(otp())) -- on the bound one, at once
    end
    assert.equal(5, p.members[3 - down]:stats().succeeded)
    assert.is_true(wait_until(function() return p.members[down]:state() == "bound" end))
    assert.equal(1, p:stats().reconnects)
    assert.same({ down .. ":reconnecting", down .. ":connecting", down .. ":bound" },
      { states[#states - 2], states[#states - 1], states[#states] })
  end)

  it("rejects a bad size", function()
    assert.has_error(function() smpp.pool { size = 0, host = "h", port = 1, system_id = "a",
      password = "b" } end, "smpp.pool: size must be an integer >= 1, got 0")
  end)
end)
