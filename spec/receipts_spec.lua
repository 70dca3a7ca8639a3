-- smpp.receipts: the store of receipts and their waiters, on a fake clock.

local receipts = require "smpp.receipts"

-- A clock and timers the test moves by hand.
local function fake()
  local f = { t = 0, timers = {} }
  function f.now() return f.t end
  function f.timer(after, fn)
    local tm = { at = f.t + after, fn = fn }
    function tm.stop() tm.stopped = true end
    f.timers[#f.timers + 1] = tm
    return tm
  end
  function f.advance(s)
    f.t = f.t + s
    for _, tm in ipairs(f.timers) do
      if not tm.stopped and tm.at <= f.t then
        tm.stopped = true
        tm.fn()
      end
    end
  end
  return f
end

local function new(opts)
  local f = fake()
  opts = opts or {}
  opts.now, opts.timer = f.now, f.timer
  return receipts.new(opts), f
end

local function final(id) return { message_id = id, stat = "DELIVRD", final = true } end

describe("smpp.receipts", function()
  it("finds a final receipt kept before the call", function()
    local rx = new()
    rx:put(final("a"))
    assert.equal("DELIVRD", rx:find("a").stat)
    assert.is_nil(rx:find("b"))
    assert.equal(1, rx:count())
  end)

  it("does not end a wait with an interim receipt", function()
    local rx = new()
    local got = {}
    rx:wait("a", nil, function(r, err) got[#got + 1] = { r, err } end)
    rx:put({ message_id = "a", stat = "ENROUTE", final = false })
    assert.equal(0, #got)
    assert.is_nil(rx:find("a"))
    rx:put(final("a"))
    assert.equal(1, #got)
    assert.equal("DELIVRD", got[1][1].stat)
    assert.equal(0, rx:waiters())
  end)

  it("keeps the newest receipts, bounded by count and by age", function()
    local rx, f = new { keep = 2, ttl = 10 }
    rx:put(final("a"))
    rx:put(final("b"))
    rx:put(final("c"))
    assert.is_nil(rx:find("a"))
    assert.is_table(rx:find("c"))
    f.advance(11)
    assert.is_nil(rx:find("c"))
    assert.equal(0, rx:count())
  end)

  it("ends a wait with timeout, and only that one", function()
    local rx, f = new()
    local got = {}
    rx:wait("a", 1, function(r, err) got.a = { r, err } end)
    rx:wait("b", 5, function(r, err) got.b = { r, err } end)
    assert.equal(2, rx:waiters())
    f.advance(1)
    assert.same({ nil, "timeout" }, got.a)
    assert.is_nil(got.b)
    assert.equal(1, rx:waiters())
  end)

  it("wakes every waiter with wake_all, and a waiter may wait again", function()
    local rx = new()
    local n, again = 0, nil
    for _ = 1, 3 do
      rx:wait("a", nil, function(_, err)
        n = n + 1
        assert.equal("closed", err)
      end)
    end
    rx:wait("b", nil, function()
      rx:wait("b", nil, function(r) again = r end)
    end)
    rx:wake_all("closed")
    assert.equal(3, n)
    assert.equal(1, rx:waiters())
    rx:put(final("b"))
    assert.is_table(again)
  end)

  it("raises on misuse", function()
    assert.has_error(function() receipts.new {} end)
    assert.has_error(function()
      receipts.new { now = os.time, timer = function() end, keep = -1 }
    end)
  end)
end)
