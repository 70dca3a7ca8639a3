-- smpp.spawn / sleep / run / stop: coroutines on the loop, and the three
-- ways a waiting call behaves (callback, our coroutine, anywhere else).

local compat = require "support.compat"
local smpp = require "smpp"
local simulator = require "smpp.simulator"
local host = require("smpp.backend").get()

local process = require "support.process"

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

-- Runs fn(...), failing when it is still running after about `secs`
-- seconds: a wait that spins would otherwise stall the whole suite. A count
-- hook raises once the time is up, and again at every count until the
-- error gets out of whatever pcall it first meets.
local function within(secs, fn, ...)
  local deadline = os.time() + secs + 1
  debug.sethook(function()
    if os.time() > deadline then
      error("still running after " .. secs .. " s", 2)
    end
  end, "", 1000)
  local res = compat.pack(pcall(fn, ...))
  debug.sethook()
  assert(res[1], res[2])
  return compat.unpack(res, 2, res.n)
end

-- A fresh copy of smpp.loop on a stand-in backend, chosen with use() on a
-- fresh copy of smpp.backend: `run_once` plays the backend's (true while
-- something is active, false when nothing is).
local function loop_on(run_once)
  local driver = { name = "stand-in", run_once = run_once }
  function driver.now() return 0 end
  function driver.timer() return { stop = function() end } end
  function driver.on_error(fn) driver.handler = fn end
  function driver.client() error("no clients here") end
  driver.server = driver.client
  local function fresh(name)
    return dofile(assert(package.searchpath(name, package.path)))
  end
  local backend = fresh("smpp.backend")
  backend.use(driver)
  local real = package.loaded["smpp.backend"]
  package.loaded["smpp.backend"] = backend
  local ok, mod = pcall(fresh, "smpp.loop")
  package.loaded["smpp.backend"] = real
  assert(ok, mod)
  mod.host() -- taken now: the handler test looks at driver.handler
  return mod, driver
end

describe("smpp.loop when the loop has nothing active", function()
  local function never() return true end -- begins a wait whose result never comes

  it("ends a blocking wait with nothing to wait for instead of spinning", function()
    local loop = loop_on(function() return false end)
    assert.same({ nil, "nothing to wait for" }, { within(2, loop.wait, never, "test") })
  end)

  it("takes a result that came in the loop's last turn", function()
    local done
    local loop = loop_on(function() done("late", 2); return false end)
    assert.same({ "late", 2 }, { within(2, loop.wait, function(d) done = d; return true end,
      "test") })
  end)

  it("keeps going while the driver does not say (nil)", function()
    local turns, done = 0, nil
    local loop = loop_on(function()
      turns = turns + 1
      if turns == 3 then done("third") end
    end)
    assert.same({ "third" }, { within(2, loop.wait, function(d) done = d; return true end,
      "test") })
    assert.equal(3, turns)
  end)

  it("returns from run with nil and a report saying where coroutines wait", function()
    local loop = loop_on(function() return false end)
    local reports = {}
    loop.on_error(function(msg) reports[#reports + 1] = msg end)
    local co = loop.spawn(function() loop.wait(never, "test") end)
    assert.same({ nil, "nothing to wait for" }, { within(2, loop.run) })
    assert.equal(1, #reports)
    assert.matches("smpp.run: 1 spawned coroutine%(s%) wait", reports[1])
    assert.matches("coroutine_spec.lua", reports[1])
    assert.equal("suspended", coroutine.status(co))
  end)

  it("hands the driver's callback errors to the on_error handler", function()
    local loop, driver = loop_on(function() return false end)
    local reports = {}
    loop.on_error(function(msg) reports[#reports + 1] = msg end)
    assert.is_function(driver.handler)
    driver.handler("x.lua:1: boom\nstack traceback:\n\tx.lua:1: in function 'f'")
    assert.same({ "callback failed: x.lua:1: boom\nstack traceback:\n\tx.lua:1: in function 'f'" },
      reports)
  end)

  it("returns from smpp.run with the real driver at once", function()
    local status, out = process.lua([[
      local smpp = require "smpp"
      local loop = require "smpp.loop"
      smpp.on_error(function(msg) print(msg:match("^[^\n]*")) end)
      -- Held, so that a collection can not take it before run counts it.
      local co = smpp.spawn(function() loop.wait(function() return true end, "test") end)
      print(smpp.run())
      assert(co)
    ]])
    assert.equal(0, status, out)
    assert.matches("smpp.run: 1 spawned coroutine%(s%) wait", out)
    assert.matches("nil\tnothing to wait for\n$", out)
  end)
end)

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
    for _ = 1, 10 do
      smpp.spawn(function() smpp.sleep(0.1) end)
    end
    assert.is_true(smpp.run())
    assert.same({ "fast", "slow" }, order)
    -- Together (0.1 s), not one after the other (1.15 s): a bound far from
    -- both, so that a loaded machine does not fail it.
    assert.is_true(smpp.now() - t0 < 0.8)
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
    -- Never shorter than asked; how much longer depends on the machine.
    assert.is_true(smpp.now() - t0 >= 0.045)
  end)

  it("wakes each of many coroutines waiting for receipts once with closed on close", function()
    local slow = assert(simulator { port = 0, receipt_delay = 30 })
    local sc = smpp.client { host = "127.0.0.1", port = slow:port(), system_id = "test",
                             password = "secret" }
    assert(sc:bind())
    local n = 20
    local wakes, results = {}, {}
    local errors = capture_errors(function()
      for i = 1, n do
        smpp.spawn(function()
          local res = assert(sc:submit(otp()))
          local r, err = sc:wait_receipt(res.message_id)
          wakes[i] = (wakes[i] or 0) + 1
          results[i] = { r, err }
        end)
      end
      smpp.spawn(function()
        while sc:stats().receipt_waiters < n do
          smpp.sleep(0.01)
        end
        sc:close()
      end)
      assert.is_true(smpp.run())
      -- Let anything that would wake them a second time come.
      smpp.sleep(0.05)
    end)
    slow:close()
    assert.same({}, errors)
    for i = 1, n do
      assert.equal(1, wakes[i], "coroutine " .. i)
      assert.same({ nil, "closed" }, results[i])
    end
    assert.equal(0, sc:stats().receipt_waiters)
  end)

  it("hands errors of functions the driver calls itself to on_error, with a traceback",
    function()
      local errors = capture_errors(function()
        local t
        t = host.timer(0, function()
          t:stop()
          error("timer boom")
        end)
        local tc = smpp.client { host = "127.0.0.1", port = sim:port(), system_id = "test",
                                 password = "secret", trace = function() error("trace boom") end }
        assert(tc:bind())
        tc:close()
      end)
      local seen = {}
      for _, msg in ipairs(errors) do
        assert.matches("stack traceback", msg)
        seen[msg:match("(%a+ boom)")] = true
      end
      assert.is_true(seen["timer boom"])
      assert.is_true(seen["trace boom"])
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
