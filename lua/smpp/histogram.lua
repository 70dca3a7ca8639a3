--- A fixed-bucket histogram of durations, for latency percentiles.
--
-- Recording a value is one log and one array increment: no table per
-- value, so the submit path (issue 11 measures it) pays next to nothing.
-- Buckets grow by 2^(1/8) (about 9 %) from 10 us to about 3 hours; a
-- percentile is the upper bound of its bucket, so it reads at most ~9 %
-- high. Values beyond either end count in the first or last bucket.
--
--     local h = histogram.new()
--     h:add(0.012)
--     h:summary()   --> { p50 = ..., p99 = ..., p999 = ..., n = 1 }
--
-- @module smpp.histogram

local setmetatable = setmetatable
local log = math.log
local floor = math.floor

local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }

local MIN = 1e-5
local PER_OCTAVE = 8
local K = PER_OCTAVE / log(2)
local NBUCKETS = 240
local LOG_MIN = log(MIN)

--- A new, empty histogram.
-- @treturn smpp.histogram
function _M.new()
  local counts = {}
  for i = 1, NBUCKETS do
    counts[i] = 0
  end
  return setmetatable({ counts = counts, n = 0 }, mt)
end

--- Count one duration.
-- @tparam number v seconds
function _M:add(v)
  local i = 1
  if v > MIN then
    i = floor((log(v) - LOG_MIN) * K) + 2
    if i > NBUCKETS then
      i = NBUCKETS
    end
  end
  local counts = self.counts
  counts[i] = counts[i] + 1
  self.n = self.n + 1
end

--- Add another histogram's counts into this one.
-- @tparam smpp.histogram other
-- @treturn smpp.histogram self
function _M:merge(other)
  local a, b = self.counts, other.counts
  for i = 1, NBUCKETS do
    a[i] = a[i] + b[i]
  end
  self.n = self.n + other.n
  return self
end

-- The upper bound of bucket i, in seconds.
local function upper(i)
  return MIN * 2 ^ ((i - 1) / PER_OCTAVE)
end

--- The percentiles: `{ p50 =, p99 =, p999 =, n = }`, seconds (nil while
-- nothing was counted).
-- @treturn table
function _M:summary()
  local n = self.n
  local out = { n = n }
  if n == 0 then
    return out
  end
  local want = { { "p50", 0.5 }, { "p99", 0.99 }, { "p999", 0.999 } }
  local w, seen, counts = 1, 0, self.counts
  for i = 1, NBUCKETS do
    seen = seen + counts[i]
    while w <= #want and seen >= want[w][2] * n do
      out[want[w][1]] = upper(i)
      w = w + 1
    end
    if w > #want then
      break
    end
  end
  return out
end

return _M
