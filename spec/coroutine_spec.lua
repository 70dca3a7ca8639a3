-- smpp.spawn / sleep / run / stop: coroutines on the loop, and the three
-- ways a waiting call behaves (callback, our coroutine, anywhere else).

local smpp = require "smpp"
local simulator = require "smpp.simulator"

local function otp(to)
  return assert(smpp.otp { to = to or "+6598765432", template = "otp-login", code = "123456" })
end

-- Collects what the error handler gets, and puts the old one back.
local function capture_errors(fn)
  local got = {}
  local prev = smpp.on_error(function(msg) got[#got + 1] = msg end)
  local ok, err = pcall(fn)
  smpp.on_error(prev)
  assert(ok, err)
  return got
end

describe("smpp coroutines", function()
  local sim, c

  before_each(function()
    sim = assert(simulator { port = 0 })
    c = smpp.client { host = "127.0.0.1", port = sim:port(), system_id = "test",
                      password = "secret", window = 10 }
    assert(c:bind())
  end)

  after_each(function()
    c:close()
    sim:close()
  end)

  it("runs a spawned function at once, up to its first wait", function()
    local steps = {}
    smpp.spawn(function()
      steps[#steps + 1] = "started"
      smpp.sleep(0.01)
      steps[#steps + 1] = "woke"
    end)
    assert.same({ "started" }, steps)
    assert.is_true(smpp.run())
    assert.same({ "started", "woke" }, steps)
  end)

  it("passes arguments to the spawned function", function()
    local got
    smpp.spawn(function(a, b) got = a + b end, 2, 3)
    assert.equal(5, got)
  end)

  it("serves 50 senders each waiting for its own receipt", function()
    local results = {}
    for i = 1, 50 do
      smpp.spawn(function()
        local res, err = c:submit(otp(string.format("+6590000%03d", i)))
        if not res then
          results[i] = err
          return
        end
        local r, werr = c:wait_receipt(res.message_id, 5)
        results[i] = r and { id = res.message_id, rid = r.message_id, stat = r.stat } or werr
      end)
    end
    assert.is_true(smpp.run())
    local ids = {}
    for i = 1, 50 do
      local r = results[i]
      assert.is_table(r, "sender " .. i .. ": " .. tostring(r))
      assert.equal(r.id, r.rid)
      assert.equal("DELIVRD", r.stat)
      assert.is_nil(ids[r.id], "message_id repeated")
      ids[r.id] = true
    end
    assert.equal(50, c:stats().succeeded)
  end)

  it("runs sleeping coroutines side by side", function()
    local order = {}
    local t0 = smpp.now()
    smpp.spawn(function() smpp.sleep(0.1); order[#order + 1] = "slow" end)
    smpp.spawn(function() smpp.sleep(0.05); order[#order + 1] = "fast" end)
    smpp.run()
    assert.same({ "fast", "slow" }, order)
    -- Together, not one after the other (0.15 s).
    assert.is_true(smpp.now() - t0 < 0.14)
  end)

  it("reports an error in a coroutine with its traceback and goes on", function()
    local finished = false
    local errors = capture_errors(function()
      smpp.spawn(function()
        smpp.sleep(0.01)
        error("boom")
      end)
      smpp.spawn(function()
        smpp.sleep(0.03)
        finished = true
      end)
      assert.is_true(smpp.run())
    end)
    assert.is_true(finished)
    assert.equal(1, #errors)
    assert.matches("boom", errors[1])
    assert.matches("stack traceback", errors[1])
    assert.matches("coroutine_spec.lua", errors[1])
  end)

  it("stops run with smpp.stop", function()
    local reached = false
    smpp.spawn(function()
      smpp.sleep(0.01)
      smpp.stop()
    end)
    local waiter = smpp.spawn(function()
      c:wait_receipt("no-such-id")
      reached = true
    end)
    assert.is_false(smpp.run())
    assert.is_false(reached)
    assert.equal("suspended", coroutine.status(waiter))
    -- Closing wakes the waiter, so it ends and later runs are not held up.
    c:close()
    assert.is_true(reached)
    assert.equal("dead", coroutine.status(waiter))
  end)

  it("runs the loop in a coroutine it did not start, like the main thread", function()
    local co = coroutine.wrap(function()
      local res = c:submit(otp())
      return res and res.message_id
    end)
    assert.is_string(co())
  end)

  it("refuses to block inside a callback, and says what to do", function()
    local errors = capture_errors(function()
      local done = false
      c:on_receipt(function()
        done = true
        c:submit(otp()) -- no callback, not in a coroutine: would re-enter the loop
      end)
      assert(c:submit(otp()))
      while not done do
        smpp.sleep(0.01)
      end
      c:on_receipt(nil)
    end)
    assert.equal(1, #errors)
    assert.matches("cannot block inside a callback; pass a callback or use smpp.spawn",
      errors[1])
  end)

  it("lets callbacks spawn coroutines that wait", function()
    local got
    c:on_receipt(function(r)
      c:on_receipt(nil)
      smpp.spawn(function()
        local res = c:submit(otp())
        got = { first = r.message_id, second = res and res.message_id }
      end)
    end)
    assert(c:submit(otp()))
    while not got do
      smpp.sleep(0.01)
    end
    assert.is_string(got.second)
    assert.not_equal(got.first, got.second)
  end)

  it("sleeps in the main thread by running the loop", function()
    local t0 = smpp.now()
    local ticked = false
    smpp.spawn(function() smpp.sleep(0.02); ticked = true end)
    smpp.sleep(0.05)
    assert.is_true(ticked)
    assert.near(0.05, smpp.now() - t0, 0.04)
  end)

  it("raises on misuse", function()
    assert.has_error(function() smpp.spawn(42) end,
      "smpp.spawn: expected a function, got number")
    assert.has_error(function() smpp.sleep(-1) end)
    assert.has_error(function() smpp.sleep("1") end)
    local err
    smpp.spawn(function()
      err = select(2, pcall(smpp.run))
    end)
    assert.matches("smpp.run: called inside a spawned coroutine", err)
  end)
end)
