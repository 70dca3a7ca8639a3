-- smpp.client under a throttling gateway: pauses, retry, the rate cap and
-- the counters that show them, against the real simulator (both backends).

local smpp = require "smpp"
local simulator = require "smpp.simulator"

local function new_client(sim, extra)
  local opts = { host = "127.0.0.1", port = sim:port(), system_id = "test", password = "secret",
                 throttle_min = 0.02, throttle_max = 0.1 }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  return smpp.client(opts)
end

local function otp()
  return assert(smpp.otp { to = "+6598765432", template = "otp-login", code = "1" })
end

-- n submits at once; returns their outcomes once all ended.
local function burst(c, n)
  local out, left = {}, n
  for i = 1, n do
    assert.is_true(c:submit(otp(), function(res, err, status)
      out[i] = res and "ok" or (err .. ":" .. tostring(status))
      left = left - 1
    end))
  end
  local deadline = smpp.now() + 10
  while left > 0 and smpp.now() < deadline do
    smpp.sleep(0.01)
  end
  assert.equal(0, left, "submits without an outcome")
  return out
end

describe("throttling", function()
  local sim, c

  after_each(function()
    if c then c:close(); c = nil end
    if sim then sim:close(); sim = nil end
  end)

  it("hands ESME_RTHROTTLED to the caller when retry is not asked for", function()
    sim = assert(simulator { port = 0, faults = { status = "ESME_RTHROTTLED", every = 2 } })
    c = new_client(sim)
    local logs = {}
    c:on_log(function(level, msg) logs[#logs + 1] = level .. " " .. msg end)
    assert(c:bind())
    local out = burst(c, 6)
    local throttled = 0
    for _, o in ipairs(out) do
      if o == "ESME_RTHROTTLED:88" then throttled = throttled + 1 end
    end
    assert.equal(3, throttled)
    local s = c:stats()
    assert.equal(3, s.answers.ESME_RTHROTTLED)
    assert.equal(3, s.answers.ESME_ROK)
    assert.is_true(s.throttled >= 1)
    assert.equal(0, s.retries)
    assert.equal("ESME_RTHROTTLED", s.last_error)
    local paused = false
    for _, l in ipairs(logs) do
      if l:find("throttl") then paused = true end
    end
    assert.is_true(paused, table.concat(logs, "\n"))
  end)

  it("retries throttled submits with retry, each ending once", function()
    sim = assert(simulator { port = 0, faults = { status = "ESME_RTHROTTLED", every = 2 } })
    c = new_client(sim, { retry = { ESME_RTHROTTLED = 3 } })
    assert(c:bind())
    local out = burst(c, 8)
    for i = 1, 8 do
      assert.equal("ok", out[i])
    end
    local s = c:stats()
    assert.equal(8, s.succeeded)
    assert.is_true(s.retries >= 1)
    assert.equal(s.retries, s.answers.ESME_RTHROTTLED)
    assert.equal(8 + s.retries, sim:stats().submits)
    -- Latency from the call to the last answer, one per submit.
    assert.equal(8, s.latency.answer.n)
    assert.is_true(s.latency.answer.p50 > 0 and s.latency.answer.p99 < 10)
  end)

  it("gives up after the retries asked for", function()
    sim = assert(simulator { port = 0, faults = { status = "ESME_RMSGQFUL", every = 1 } })
    c = new_client(sim, { retry = { ESME_RMSGQFUL = 2 } })
    assert(c:bind())
    assert.same({ "ESME_RMSGQFUL:20" }, burst(c, 1))
    assert.equal(3, sim:stats().submits) -- the first try and two more
    assert.equal(2, c:stats().retries)
  end)

  it("caps submits per second with rate", function()
    sim = assert(simulator { port = 0 })
    c = new_client(sim, { rate = 50, rate_burst = 5, window = 100 })
    assert(c:bind())
    local t0 = smpp.now()
    local out = burst(c, 30)
    local took = smpp.now() - t0
    for i = 1, 30 do
      assert.equal("ok", out[i])
    end
    -- 5 at once, then 25 at 50/s: at least half a second.
    assert.is_true(took >= 0.45, "30 submits at rate 50 took " .. took .. " s")
  end)

  it("rejects bad flow options with the option's name", function()
    local ok, err = pcall(smpp.client, { host = "h", port = 1, system_id = "a",
      password = "b", retry = { ESME_NOSUCH = 1 } })
    assert.is_false(ok)
    assert.matches("retry", err)
    ok, err = pcall(smpp.client, { host = "h", port = 1, system_id = "a", password = "b",
      rate = -1 })
    assert.is_false(ok)
    assert.matches("rate", err)
  end)
end)
