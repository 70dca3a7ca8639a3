--- The store of recent delivery receipts and the calls waiting for them.
--
-- A receipt can come before the submit_sm_resp of its message, and a
-- program may ask for it after it came (PROTOCOL.md: "a client must not
-- lose such a receipt"), so receipts are kept by message_id, bounded by
-- count and by age; `wait_receipt` calls wait here until theirs comes.
-- The store belongs to the client, not to its link: it lives across
-- reconnects, and a pool's clients share one.
--
-- This is the in-process store. A backend may offer its own (a host whose
-- workers share memory, say) as `backend.receipts(opts)`, returning an
-- object with these methods; `smpp.client` then uses it (README, "Writing
-- a backend"):
--
--     local store = receipts.new { keep = 10000, ttl = 600,
--                                  now = host.now, timer = host.timer }
--     store:put(r, bytes)          -- keep r (or the deliver_sm bytes it
--                                  -- came in, when given); wake its
--                                  -- waiters when final
--     local r = store:find(id)     -- the final receipt kept for id, or nil
--     store:wait(id, timeout, done) -- done(r) or done(nil, "timeout")
--     store:wake_all("closed")     -- every waiter gets done(nil, err)
--     store:count(), store:waiters()
--
-- @module smpp.receipts

local type = type
local ipairs = ipairs
local pairs = pairs
local next = next
local error = error
local tostring = tostring
local setmetatable = setmetatable
local floor = math.floor
local tbl_remove = table.remove
local core = require "smpp.core"

local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }

local DEFAULT_KEEP = 10000
local DEFAULT_TTL = 600

--- Create a store.
-- @tparam table opts `now` (function: seconds) and `timer` (function
--   `timer(after, fn)` returning `t` with `t:stop()`), required; `keep`
--   (integer >= 0, 10000): receipts kept, the newest; `ttl` (seconds, 600):
--   for how long
-- @treturn smpp.receipts
function _M.new(opts)
  if type(opts) ~= "table" or type(opts.now) ~= "function"
      or type(opts.timer) ~= "function" then
    error("smpp.receipts.new: expected a table with now and timer functions", 2)
  end
  local keep, ttl = opts.keep or DEFAULT_KEEP, opts.ttl or DEFAULT_TTL
  if type(keep) ~= "number" or keep < 0 or floor(keep) ~= keep then
    error("smpp.receipts.new: keep must be an integer >= 0, got " .. tostring(keep), 2)
  end
  if type(ttl) ~= "number" or ttl < 0 or ttl ~= ttl then
    error("smpp.receipts.new: ttl must be seconds >= 0, got " .. tostring(ttl), 2)
  end
  return setmetatable({
    now = opts.now, timer = opts.timer, keep = keep, ttl = ttl,
    -- The receipts themselves, in C memory (lsmpp_store.c: kept as Lua
    -- tables they cost the collector more than the rest of a message).
    kept = core.receipt_store(keep),
    list = {}, nwaiters = 0,
  }, mt)
end

-- Every waiter for `id` gets (r, err); the list is detached first so a
-- waiter that waits again is not served twice.
local function wake(self, id, r, err)
  local list = self.list[id]
  if not list then
    return
  end
  self.list[id] = nil
  self.nwaiters = self.nwaiters - #list
  for _, w in ipairs(list) do
    if w.timer then
      w.timer:stop()
    end
    w.done(r, err)
  end
end

--- Keep a receipt (one with a message_id, while `keep` > 0) and, when it is
-- final (`r.final`), wake the calls waiting for its message_id.
-- @tparam table r the receipt table
-- @tparam[opt] string bytes the deliver_sm it came in: kept instead of the
--   table (`find` decodes it again), which costs a copy, not a packing
function _M:put(r, bytes)
  local id = r.message_id
  if type(id) ~= "string" or id == "" then
    return
  end
  if self.keep > 0 then
    local now = self.now()
    self.kept:put(id, r, now, now - self.ttl, bytes)
  end
  -- Interim receipts (final = false: SMPP 3.4 message_state ENROUTE,
  -- ACCEPTED) are no outcome: a wait goes on past them.
  if r.final then
    wake(self, id, r)
  end
end

--- The final receipt kept for a message_id: a fresh table, decoded from
-- the deliver_sm `put` was given, else a copy of the table (its strings,
-- numbers, booleans and tables of them).
-- @tparam string id
-- @treturn table|nil
function _M:find(id)
  return self.kept:find(id, self.now() - self.ttl)
end

-- Put waiter w on the list of id.
local function add(self, id, w)
  local list = self.list[id]
  if not list then
    list = {}
    self.list[id] = list
  end
  list[#list + 1] = w
  self.nwaiters = self.nwaiters + 1
end

--- Wait for the final receipt of `id`: `done(r)` when it comes, or
-- `done(nil, "timeout")` after `timeout` seconds (nil: no limit). `done`
-- runs from `put`, `wake_all` or the timer, never from `wait` itself (call
-- `find` first for one already kept).
-- @tparam string id
-- @tparam number|nil timeout
-- @tparam function done
-- @treturn true
function _M:wait(id, timeout, done)
  local w = { done = done }
  add(self, id, w)
  if timeout then
    w.timer = self.timer(timeout, function()
      w.timer:stop()
      local l = self.list[id]
      for i = 1, l and #l or 0 do
        if l[i] == w then
          tbl_remove(l, i)
          self.nwaiters = self.nwaiters - 1
          if #l == 0 then
            self.list[id] = nil
          end
          break
        end
      end
      done(nil, "timeout")
    end)
  end
  return true
end

--- End every wait with `done(nil, err)` (the client closed for good);
-- with `keep_timed`, only those without a time limit (a store whose
-- receipts may still come another way lets the others run to their end).
-- @tparam string err
-- @tparam[opt] boolean keep_timed
function _M:wake_all(err, keep_timed)
  -- Detached first: a waiter that waits again joins the new list.
  local all = self.list
  self.list = {}
  self.nwaiters = 0
  for id, list in pairs(all) do
    for _, w in ipairs(list) do
      if keep_timed and w.timer then
        add(self, id, w)
      else
        if w.timer then
          w.timer:stop()
        end
        w.done(nil, err)
      end
    end
  end
end

--- The message_ids calls wait for now: an iterator (for a store that also
-- looks for their receipts elsewhere). A receipt `put` meanwhile may end
-- the wait of the id at hand.
function _M:waiting_ids()
  return next, self.list, nil
end

--- Receipts kept now.
-- @treturn integer
function _M:count()
  return self.kept:count(self.now() - self.ttl)
end

--- Calls waiting now.
-- @treturn integer
function _M:waiters()
  return self.nwaiters
end

return _M
