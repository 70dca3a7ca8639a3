-- smpp.histogram: percentiles of durations, at most ~9 % high.

local histogram = require "smpp.histogram"

local function near(want, got)
  assert.is_true(got >= want and got <= want * 1.1, ("want %g, got %g"):format(want, got))
end

describe("smpp.histogram", function()
  it("has no percentiles while empty", function()
    assert.same({ n = 0 }, histogram.new():summary())
  end)

  it("reads percentiles to within a bucket, never low", function()
    local h = histogram.new()
    for i = 1, 1000 do
      h:add(i / 1000) -- 1 ms .. 1 s
    end
    local s = h:summary()
    assert.equal(1000, s.n)
    near(0.5, s.p50)
    near(0.99, s.p99)
    near(0.999, s.p999)
  end)

  it("counts values past either end in the end buckets", function()
    local h = histogram.new()
    h:add(0)
    h:add(1e9)
    local s = h:summary()
    assert.equal(2, s.n)
    assert.is_true(s.p50 <= 2e-5)
    assert.is_true(s.p999 > 3600)
  end)

  it("merges another histogram's counts", function()
    local a, b = histogram.new(), histogram.new()
    for _ = 1, 90 do a:add(0.001) end
    for _ = 1, 10 do b:add(0.1) end
    assert.equal(a, a:merge(b))
    local s = a:summary()
    assert.equal(100, s.n)
    near(0.001, s.p50)
    near(0.1, s.p99)
  end)
end)
