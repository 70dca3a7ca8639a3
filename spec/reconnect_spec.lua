-- smpp.client across lost links: reconnect, rebind, what each message
-- becomes, against the real simulator over loopback (both backends: the
-- Makefile runs this file on ev and on socket).

local smpp = require "smpp"
local client = require "smpp.client"
local simulator = require "smpp.simulator"

local function new_sim(opts)
  opts = opts or {}
  opts.port = opts.port or 0
  return assert(simulator(opts))
end

local function new_client(port, extra)
  local opts = { host = "127.0.0.1", port = port, system_id = "test", password = "secret",
                 reconnect_min = 0.05, reconnect_max = 0.2 }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  return smpp.client(opts)
end

local function otp(code)
  return assert(smpp.otp { to = "+6598765432", template = "otp-login", code = code or "1" })
end

-- Runs the loop until pred() is true or `secs` passed; pred()'s last value.
local function wait_until(pred, secs)
  local deadline = smpp.now() + (secs or 5)
  while not pred() and smpp.now() < deadline do
    smpp.sleep(0.01)
  end
  return pred()
end

local function states_of(c)
  local seen = {}
  c:on_state(function(s, reason)
    seen[#seen + 1] = reason and (s .. ":" .. reason) or s
  end)
  return seen
end

describe("reconnect", function()
  local sim, sim2, c
  local random = client.random

  after_each(function()
    client.random = random
    if c then c:close(); c = nil end
    if sim then sim:close(); sim = nil end
    if sim2 then sim2:close(); sim2 = nil end
  end)

  it("rebinds by itself after the gateway drops the link, and reports each state", function()
    -- Each connection carries the bind and one submit_sm; the next PDU drops it
    -- (receipts held back, so that their deliver_sm_resp are not counted).
    sim = new_sim { receipt_delay = 30, faults = { drop_after = 2 } }
    c = new_client(sim:port())
    local seen = states_of(c)
    assert(c:bind())
    assert(c:submit(otp()))
    local res, err = c:submit(otp())
    assert.is_nil(res)
    assert.equal("connection lost", err) -- sent, never answered: outcome unknown
    assert.is_true(wait_until(function() return c:state() == "bound" end))
    assert.equal(1, c:stats().reconnects)
    assert.truthy(c:submit(otp()))
    assert.same({ "connecting", "bound", "reconnecting:connection lost", "connecting",
                  "bound:rebind" }, seen)
    assert.equal("connection lost", c:stats().last_error)
  end)

  it("queues submits made while the link is down and sends them after the rebind", function()
    sim = new_sim { receipt_delay = 30, faults = { drop_after = 2 } }
    c = new_client(sim:port(), { reconnect_min = 0.3, reconnect_max = 0.3 })
    client.random = function() return 0.999 end
    assert(c:bind())
    assert(c:submit(otp()))
    assert.is_nil(c:submit(otp()))
    assert.equal("reconnecting", c:state())
    local got
    assert.is_true(c:submit(otp("42"), function(r, e) got = { r, e } end))
    assert.equal(1, c:stats().queued)
    assert.is_true(wait_until(function() return got ~= nil end))
    assert.is_table(got[1], tostring(got[2]))
    assert.is_string(got[1].message_id)
  end)

  it("ends a queued submit not sent within its response_timeout with not sent", function()
    sim = new_sim { faults = { drop_after = 1 } } -- the bind goes through, nothing else
    c = new_client(sim:port(), { response_timeout = 0.3, reconnect_min = 5, reconnect_max = 5 })
    client.random = function() return 0.999 end
    assert(c:bind())
    local t0 = smpp.now()
    c:submit(otp()) -- drops the link: connection lost
    assert.equal("reconnecting", c:state())
    local res, err = c:submit(otp())
    assert.is_nil(res)
    assert.equal("not sent", err)
    local waited = smpp.now() - t0
    assert.is_true(waited >= 0.25 and waited < 2, tostring(waited))
  end)

  it("says queue full past queue_size while the link is down", function()
    sim = new_sim { faults = { drop_after = 1 } }
    c = new_client(sim:port(), { queue_size = 2, reconnect_min = 5, reconnect_max = 5 })
    assert(c:bind())
    c:submit(otp())
    assert.equal("reconnecting", c:state())
    local outcomes = {}
    for i = 1, 2 do
      assert.is_true(c:submit(otp(), function(_, e) outcomes[i] = e end))
    end
    assert.same({ nil, "queue full" }, { c:submit(otp()) })
    c:close()
    assert.same({ "closed", "closed" }, outcomes) -- each queued submit ends once
  end)

  it("delivers a receipt for a message answered before the drop to a wait begun before it",
    function()
      sim = new_sim { receipt_delay = 0.3, faults = { drop_after = 2 } }
      c = new_client(sim:port())
      assert(c:bind())
      local seen = {}
      c:on_receipt(function(r) seen[#seen + 1] = r.message_id end)
      local res = assert(c:submit(otp()))
      local got
      smpp.spawn(function()
        got = { c:wait_receipt(res.message_id, 5) }
      end)
      assert.is_nil(c:submit(otp())) -- the drop, before the receipt is due
      assert.is_true(wait_until(function() return got ~= nil end))
      assert.is_table(got[1], tostring(got[2]))
      assert.equal("DELIVRD", got[1].stat)
      assert.same({ res.message_id }, seen) -- once
      assert.equal(1, c:stats().reconnects)
    end)

  it("stops for good when the rebind is refused for bad credentials", function()
    sim = new_sim()
    local port = sim:port()
    c = new_client(port)
    local seen = states_of(c)
    local closed_with
    c:on_close(function(reason) closed_with = reason end)
    assert(c:bind())
    sim:close()
    -- Back on the same port, but the account's password changed.
    sim2 = new_sim { port = port, accounts = { test = "other" }, log = true }
    sim = nil
    assert.is_true(wait_until(function() return c:state() == "closed" end))
    assert.equal("authentication failed", closed_with)
    smpp.sleep(0.5) -- several reconnect_max: no second try
    local binds = sim2:log_entries(function(e) return e.command == "bind_transceiver" end)
    assert.equal(1, #binds)
    assert.equal("closed:authentication failed", seen[#seen])
    -- The link ended by itself: the program did not close it.
    assert.same({ nil, "not sent" }, { c:submit(otp()) })
  end)

  it("comes back after the gateway drops every link, with its receipts", function()
    sim = new_sim { receipt_delay = 0.2 }
    c = new_client(sim:port())
    assert(c:bind())
    local res = assert(c:submit(otp()))
    assert.equal(1, sim:drop_links())
    assert.is_true(wait_until(function() return c:state() == "bound" end))
    local r = assert(c:wait_receipt(res.message_id, 5))
    assert.equal("DELIVRD", r.stat)
    assert.equal(1, c:stats().reconnects)
    assert.equal(1, sim:stats().faults)
  end)

  it("keeps trying while the gateway is down, and binds once it is back", function()
    sim = new_sim()
    local port = sim:port()
    c = new_client(port)
    assert(c:bind())
    sim:close()
    sim = nil
    assert.is_true(wait_until(function() return c:state() == "reconnecting" end))
    smpp.sleep(0.5) -- refused a few times meanwhile
    sim2 = new_sim { port = port }
    assert.is_true(wait_until(function() return c:state() == "bound" end))
    assert.truthy(c:submit(otp()))
    assert.equal(1, c:stats().reconnects)
  end)

  it("waits with exponential backoff and full jitter", function()
    sim = new_sim()
    local port = sim:port()
    c = new_client(port, { reconnect_min = 0.01, reconnect_max = 0.04 })
    local delays = {}
    c:on_log(function(_, msg)
      local d = msg:match("^reconnect in ([%d.]+) s")
      if d then delays[#delays + 1] = tonumber(d) end
    end)
    client.random = function() return 0.5 end
    assert(c:bind())
    sim:close()
    sim = nil
    assert.is_true(wait_until(function() return #delays >= 5 end))
    -- half of 0.01, 0.02, 0.04, then capped at reconnect_max
    assert.same({ 0.005, 0.01, 0.02, 0.02, 0.02 }, { delays[1], delays[2], delays[3],
      delays[4], delays[5] })
  end)

  it("does not reconnect with reconnect = false", function()
    sim = new_sim { faults = { drop_after = 1 } }
    c = new_client(sim:port(), { reconnect = false })
    local closed_with
    c:on_close(function(reason) closed_with = reason end)
    assert(c:bind())
    assert.same({ nil, "connection lost" }, { c:submit(otp()) })
    assert.equal("closed", c:state())
    assert.equal("connection lost", closed_with)
    assert.same({ nil, "not sent" }, { c:submit(otp()) })
  end)

  it("stops reconnecting on close, ending queued submits and receipt waits with closed", function()
    sim = new_sim { faults = { drop_after = 1 } }
    c = new_client(sim:port(), { reconnect_min = 5, reconnect_max = 5 })
    assert(c:bind())
    c:submit(otp())
    assert.equal("reconnecting", c:state())
    local sub, waited
    c:submit(otp(), function(r, e) sub = { r, e } end)
    c:wait_receipt("no-such-id", 10, function(r, e) waited = { r, e } end)
    c:close()
    assert.equal("closed", c:state())
    assert.same({ nil, "closed" }, sub)
    assert.same({ nil, "closed" }, waited)
    local before = sim:stats().connections
    smpp.sleep(0.2)
    assert.equal(before, sim:stats().connections)
  end)

  it("rejects bad reconnect options", function()
    assert.has_error(function() smpp.client { host = "h", port = 1, system_id = "a",
      password = "b", reconnect = "yes" } end,
      "smpp.client: reconnect must be a boolean, got string")
    assert.has_error(function() smpp.client { host = "h", port = 1, system_id = "a",
      password = "b", reconnect_min = 2, reconnect_max = 1 } end,
      "smpp.client: reconnect_max (1) is less than reconnect_min (2)")
    assert.has_error(function() smpp.client { host = "h", port = 1, system_id = "a",
      password = "b", reconnect_min = -1 } end,
      "smpp.client: reconnect_min must be seconds >= 0, got -1")
  end)
end)
