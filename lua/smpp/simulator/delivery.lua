--- smpp.simulator.delivery: which link a receipt goes out on, and what
-- becomes of a receipt no link took (doc/simulator.md, "Receipts that were
-- not acknowledged"). A receipt goes to the link its submit came on, else
-- to another bound link of the same account (the gateway reports per
-- account), else it is kept, in order, for that account's next bind. It
-- waits, in order, while its link's deliver_sm queue is full. With route
-- "any" every receipt goes to the account's bound links in turn
-- (round-robin), whichever link its submit came on: a gateway with several
-- binds of one account may do so.
--
-- A link is anything with `deliver(fields, done, rec)` (smpp.ev's server
-- connections): true, or nil, err ("queue full" when it has no room now);
-- done(res, err, status, ..., rec) once the deliver_sm ended.
--
-- @module smpp.simulator.delivery

local next = next
local setmetatable = setmetatable
local str_format = string.format
local tbl_remove = table.remove

local receipts = require "smpp.simulator.receipts"

local R_CONN, R_SID, R_ID = receipts.CONN, receipts.SYSTEM_ID, receipts.ID

local _M = {}
local mt = { __index = _M }

--- opts: maker (the receipts maker: fields(rec)), max_pending (receipts
-- kept, all accounts together), st (the counters to keep: receipts_sent,
-- receipts_acked, receipts_unacked, receipts_pending, receipts_dropped,
-- receipts_waiting), note(conn, event, fields) (logs a decision), route
-- ("same", the default, or "any": see above).
function _M.new(opts)
  local self = setmetatable({
    maker = opts.maker, max_pending = opts.max_pending, st = opts.st, note = opts.note,
    any = opts.route == "any",
    links = {},      -- bound links: conn -> system_id
    by_account = {}, -- system_id -> { [conn] = true }
    turns = {},      -- system_id -> { conn, ..., next = i }: route "any"'s order
    kept = {},       -- system_id -> { rec, ... }, oldest first
    backlog = {},    -- conn -> { first = i, last = j, [i..j] = rec }
    closed = false,  -- once closed, failed receipts are no longer kept
  }, mt)
  -- conn:deliver hands rec back as the callback's extra argument: one
  -- closure per simulator, none per receipt.
  self.on_done = function(res, err, _, _, rec) self:done(res, err, rec) end
  return self
end

--- Keep rec for its account's next bind, or drop it past max_pending
-- (counted, written on stderr and logged: never silently).
function _M:keep(rec, why)
  local st = self.st
  local sid = rec[R_SID]
  if st.receipts_pending >= self.max_pending then
    st.receipts_dropped = st.receipts_dropped + 1
    io.stderr:write(str_format("smpp-sim: receipt %s for %s dropped: %d receipts already "
                               .. "pending (max_pending)\n", rec[R_ID], sid, st.receipts_pending))
    self.note(nil, "receipt_dropped", { system_id = sid, message_id = rec[R_ID], reason = why })
    return
  end
  local list = self.kept[sid]
  if not list then
    list = {}
    self.kept[sid] = list
  end
  list[#list + 1] = rec
  st.receipts_pending = st.receipts_pending + 1
  self.note(nil, "receipt_pending", { system_id = sid, message_id = rec[R_ID], reason = why })
end

-- Hand rec to conn. Returns false only when its deliver_sm queue is full.
local function try_deliver(self, conn, rec)
  local ok, err = conn:deliver(self.maker:fields(rec), self.on_done, rec)
  if ok then
    self.st.receipts_sent = self.st.receipts_sent + 1
    return true
  end
  if err == "queue full" then return false end
  self:keep(rec, err)
  return true
end

-- Let conn's waiting receipts in, in order, while it has room.
local function drain(self, conn)
  local q = self.backlog[conn]
  local i, last = q.first, q.last
  while i <= last do
    if not try_deliver(self, conn, q[i]) then
      q.first = i
      return
    end
    q[i] = nil
    i = i + 1
    self.st.receipts_waiting = self.st.receipts_waiting - 1
  end
  self.backlog[conn] = nil
end

--- How a deliver_sm ended (the link's callback). rec[R_CONN] is the link
-- it went out on.
function _M:done(res, err, rec)
  local st = self.st
  local conn = rec[R_CONN]
  if res then
    st.receipts_acked = st.receipts_acked + 1
  else
    st.receipts_unacked = st.receipts_unacked + 1
    if not self.closed then self:keep(rec, err) end
  end
  if self.backlog[conn] and self.links[conn] then drain(self, conn) end
end

-- Route "any": the account's next bound link in turn, or nil.
local function next_link(self, sid)
  local t = self.turns[sid]
  if not t or #t == 0 then return nil end
  local i = t.next
  if i > #t then i = 1 end
  t.next = i + 1
  return t[i]
end

--- Send rec: to its link, another bound link of its account, or keep it
-- (route "any": to the account's next bound link in turn).
function _M:send(rec)
  local conn = rec[R_CONN]
  if self.any then
    conn = next_link(self, rec[R_SID])
    if not conn then
      self:keep(rec, "no bound connection")
      return
    end
    rec[R_CONN] = conn
  elseif not self.links[conn] then
    local set = self.by_account[rec[R_SID]]
    conn = set and next(set)
    if not conn then
      self:keep(rec, "no bound connection")
      return
    end
    rec[R_CONN] = conn
  end
  local q = self.backlog[conn]
  if q == nil then
    if try_deliver(self, conn, rec) then return end
    q = { first = 1, last = 0 }
    self.backlog[conn] = q
  end
  q.last = q.last + 1
  q[q.last] = rec
  self.st.receipts_waiting = self.st.receipts_waiting + 1
end

--- conn is bound as system_id: receipts of that account may go out on it.
function _M:bound(conn, system_id)
  self.links[conn] = system_id
  local set = self.by_account[system_id]
  if not set then
    set = {}
    self.by_account[system_id] = set
  end
  set[conn] = true
  local t = self.turns[system_id]
  if not t then
    t = { next = 1 }
    self.turns[system_id] = t
  end
  t[#t + 1] = conn
end

--- conn ended. Its receipts that never left go to another link of the
-- account, or are kept. Returns the system_id it was bound as, or nil.
function _M:unbound(conn)
  local sid = self.links[conn]
  if sid then
    self.links[conn] = nil
    local set = self.by_account[sid]
    set[conn] = nil
    if next(set) == nil then self.by_account[sid] = nil end
    local t = self.turns[sid]
    for i = 1, #t do
      if t[i] == conn then
        tbl_remove(t, i)
        if t.next > i then t.next = t.next - 1 end
        break
      end
    end
  end
  local q = self.backlog[conn]
  if q then
    self.backlog[conn] = nil
    for i = q.first, q.last do
      self.st.receipts_waiting = self.st.receipts_waiting - 1
      self:send(q[i])
    end
  end
  return sid
end

--- The receipts kept for system_id, oldest first, no longer kept; nil
-- when there are none. The caller sends them (on the account's new link).
function _M:take(system_id)
  local list = self.kept[system_id]
  if not list then return nil end
  self.kept[system_id] = nil
  self.st.receipts_pending = self.st.receipts_pending - #list
  return list
end

--- How many receipts are kept for system_id (all accounts when nil).
function _M:count(system_id)
  if system_id == nil then return self.st.receipts_pending end
  local list = self.kept[system_id]
  return list and #list or 0
end

return _M
