--- smpp.simulator.due: items that go out after a delay, in order. Receipts
-- held for receipt_delay and answers held by the delay fault wait here.
-- Each queue has one fixed delay, so due times only grow and one timer per
-- queue is enough (no timer per message).
--
--     local due = require "smpp.simulator.due"
--     local q = due.new(host, function(item) ... end)  -- host: timer(after, fn), now()
--     q:push(host.now() + 0.5, item)
--
-- @module smpp.simulator.due

local setmetatable = setmetatable
local math_max = math.max

local _M = {}
local mt = { __index = _M }

local function arm(self, at)
  local host = self.host
  self.timer = host.timer(math_max(at - host.now(), 0), self.on_timer)
end

-- The timer fired: fire every item that is due, in order, then wait for
-- the next one. While items fire, pushes only queue (self.firing).
local function run(self)
  self.timer = nil
  self.firing = true
  local now = self.host.now()
  local due, items = self.due, self.items
  while self.head <= self.tail do
    local h = self.head
    local t = due[h]
    if t > now then
      self.firing = false
      arm(self, t)
      return
    end
    local item = items[h]
    due[h], items[h] = nil, nil
    self.head = h + 1
    self.fire(item)
  end
  self.head, self.tail = 1, 0
  self.firing = false
end

--- A queue on host's timers that calls fire(item) for each item once due.
function _M.new(host, fire)
  local self = setmetatable({ host = host, fire = fire, due = {}, items = {}, head = 1,
                              tail = 0, timer = nil, firing = false }, mt)
  self.on_timer = function() run(self) end
  return self
end

--- Queue item to fire at time `at` (host.now()'s clock), after every item
-- queued before it.
function _M:push(at, item)
  local tail = self.tail + 1
  self.tail = tail
  self.due[tail], self.items[tail] = at, item
  if not self.timer and not self.firing then arm(self, at) end
end

--- How many items wait.
function _M:size()
  return self.tail - self.head + 1
end

--- Stops the queue; returns how many of the items it discards pass
-- counts(item) (all of them without counts), so none goes uncounted.
function _M:stop(counts)
  if self.timer then
    self.timer:stop()
    self.timer = nil
  end
  local n = 0
  local due, items = self.due, self.items
  for i = self.head, self.tail do
    if counts == nil or counts(items[i]) then n = n + 1 end
    due[i], items[i] = nil, nil
  end
  self.head, self.tail = 1, 0
  return n
end

return _M
