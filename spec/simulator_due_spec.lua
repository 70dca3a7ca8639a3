-- smpp.simulator.due alone, on a fake host: a clock the test sets and
-- timers it fires by hand. No socket, no loop.

local due = require "smpp.simulator.due"

-- A host with now() and timer(after, fn); fire() runs the timers whose time
-- has come, as a loop would.
local function fake_host()
  local h = { t = 100, timers = {} }
  function h.now() return h.t end
  function h.timer(after, fn)
    local tm = { at = h.t + after, fn = fn, stopped = false }
    function tm.stop(self) self.stopped = true end
    h.timers[#h.timers + 1] = tm
    return tm
  end
  -- Timers still armed.
  function h.armed()
    local list = {}
    for _, tm in ipairs(h.timers) do
      if not tm.stopped and not tm.fired then list[#list + 1] = tm end
    end
    return list
  end
  function h.advance(dt)
    h.t = h.t + dt
    for _, tm in ipairs(h.armed()) do
      if tm.at <= h.t then
        tm.fired = true
        tm.fn()
      end
    end
  end
  return h
end

describe("smpp.simulator.due", function()
  local host, fired, q

  before_each(function()
    host = fake_host()
    fired = {}
    q = due.new(host, function(item) fired[#fired + 1] = item end)
  end)

  it("fires nothing before its time, then each item in order", function()
    q:push(host.now() + 1, "a")
    q:push(host.now() + 1, "b")
    q:push(host.now() + 2, "c")
    assert.are.equal(3, q:size())
    host.advance(0.5)
    assert.are.same({}, fired)
    host.advance(0.5)
    assert.are.same({ "a", "b" }, fired)
    assert.are.equal(1, q:size())
    host.advance(1)
    assert.are.same({ "a", "b", "c" }, fired)
    assert.are.equal(0, q:size())
  end)

  it("keeps one timer at a time, armed for the next item due", function()
    for i = 1, 50 do q:push(host.now() + 1 + i / 100, i) end
    assert.are.equal(1, #host.armed())
    assert.is_true(math.abs(host.armed()[1].at - 101.01) < 1e-9)
    host.advance(1.1)
    assert.are.equal(10, #fired)
    local armed = host.armed()
    assert.are.equal(1, #armed)
    assert.is_true(math.abs(armed[1].at - 101.11) < 1e-9)
    host.advance(1)
    assert.are.equal(50, #fired)
    assert.are.equal(0, #host.armed())
  end)

  it("fires an item already past due on the next turn", function()
    q:push(host.now() - 5, "late")
    assert.are.equal(100, host.armed()[1].at)
    host.advance(0)
    assert.are.same({ "late" }, fired)
  end)

  it("queues what is pushed while items fire, without a second timer", function()
    local again = true
    q = due.new(host, function(item)
      fired[#fired + 1] = item
      if again then
        again = false
        q:push(host.now() + 1, item .. "+")
      end
    end)
    q:push(host.now() + 1, "x")
    host.advance(1)
    assert.are.same({ "x" }, fired)
    assert.are.equal(1, #host.armed())
    host.advance(1)
    assert.are.same({ "x", "x+" }, fired)
  end)

  it("stops: disarms the timer and counts what it discards", function()
    q:push(host.now() + 1, { receipt = true })
    q:push(host.now() + 1, { receipt = false })
    q:push(host.now() + 1, { receipt = true })
    local t = host.armed()[1]
    assert.are.equal(2, q:stop(function(item) return item.receipt end))
    assert.is_true(t.stopped)
    assert.are.equal(0, q:size())
    host.advance(5)
    assert.are.same({}, fired)
    q:push(host.now() + 1, "after")
    assert.are.equal(1, q:stop())
  end)
end)
