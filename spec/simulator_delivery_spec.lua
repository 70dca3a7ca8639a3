-- smpp.simulator.delivery alone, on fake links: which link a receipt goes
-- out on, the receipts kept for an account's next bind, the wait for room
-- in a link's deliver_sm queue. No socket.

local delivery = require "smpp.simulator.delivery"
local receipts = require "smpp.simulator.receipts"

local NOON = 1735732800

-- A link with room for `room` deliver_sm in flight; finish(i, ok) ends the
-- i-th one still in flight (oldest first by default) as its peer would.
local function link(room)
  local l = { room = room or math.huge, flight = {}, sent = {} }
  function l.deliver(self, fields, done, rec)
    if #self.flight >= self.room then return nil, "queue full" end
    self.sent[#self.sent + 1] = fields.tlvs.receipted_message_id
    self.flight[#self.flight + 1] = { done = done, rec = rec }
    return true
  end
  function l.finish(self, ok, err)
    local f = table.remove(self.flight, 1)
    if ok then f.done({ message_id = "" }, nil, nil, nil, f.rec)
    else f.done(nil, err or "timeout", nil, nil, f.rec) end
  end
  return l
end

describe("smpp.simulator.delivery", function()
  local st, notes, d, maker

  local function rec(conn, sid, id)
    return maker:record(conn, sid or "test", "+6598765432", id, nil, "{}", NOON)
  end

  before_each(function()
    st = { receipts_sent = 0, receipts_acked = 0, receipts_unacked = 0, receipts_pending = 0,
           receipts_dropped = 0, receipts_waiting = 0 }
    notes = {}
    maker = receipts.new { esm_class = 0, text = true, delay = 0 }
    d = delivery.new { maker = maker, max_pending = 3, st = st,
                       note = function(conn, event, fields)
                         fields.conn, fields.event = conn, event
                         notes[#notes + 1] = fields
                       end }
  end)

  it("sends a receipt on the link its submit came on, and counts its answer", function()
    local a = link()
    d:bound(a, "test")
    d:send(rec(a, "test", "m1"))
    assert.are.same({ "m1" }, a.sent)
    assert.are.equal(1, st.receipts_sent)
    a:finish(true)
    assert.are.equal(1, st.receipts_acked)
    assert.are.equal(0, d:count())
  end)

  it("sends it on another bound link of the account when its own is gone", function()
    local a, b, other = link(), link(), link()
    d:bound(a, "test")
    d:bound(b, "test")
    d:bound(other, "acme")
    assert.are.equal("test", d:unbound(a))
    local r = rec(a, "test", "m1")
    d:send(r)
    assert.are.same({ "m1" }, b.sent)
    assert.are.same({}, other.sent)
    assert.are.equal(b, r[receipts.CONN])
  end)

  it("keeps it, in order, for the account's next bind when no link is bound", function()
    local a = link()
    d:send(rec(a, "test", "m1"))
    d:send(rec(a, "test", "m2"))
    d:send(rec(a, "acme", "x1"))
    assert.are.equal(3, d:count())
    assert.are.equal(2, d:count("test"))
    assert.are.equal(0, d:count("nobody"))
    assert.are.equal("no bound connection", notes[1].reason)
    assert.are.equal("receipt_pending", notes[1].event)
    local list = d:take("test")
    assert.are.same({ "m1", "m2" }, { list[1][receipts.ID], list[2][receipts.ID] })
    assert.is_nil(d:take("test"))
    assert.are.equal(1, st.receipts_pending)
  end)

  it("keeps a receipt whose deliver_sm got no good answer, with the reason", function()
    local a = link()
    d:bound(a, "test")
    d:send(rec(a, "test", "m1"))
    a:finish(false, "timeout")
    assert.are.equal(1, st.receipts_unacked)
    assert.are.equal(1, d:count("test"))
    assert.are.equal("timeout", notes[1].reason)
  end)

  it("keeps nothing more once closed", function()
    local a = link()
    d:bound(a, "test")
    d:send(rec(a, "test", "m1"))
    d.closed = true
    a:finish(false, "closed")
    assert.are.equal(1, st.receipts_unacked)
    assert.are.equal(0, d:count())
  end)

  it("holds receipts while the link's queue is full, and lets them in as answers come", function()
    local a = link(2)
    d:bound(a, "test")
    for i = 1, 5 do d:send(rec(a, "test", "m" .. i)) end
    assert.are.same({ "m1", "m2" }, a.sent)
    assert.are.equal(3, st.receipts_waiting)
    a:finish(true)
    assert.are.same({ "m1", "m2", "m3" }, a.sent)
    a:finish(true)
    a:finish(true)
    a:finish(true)
    assert.are.same({ "m1", "m2", "m3", "m4", "m5" }, a.sent)
    assert.are.equal(0, st.receipts_waiting)
    assert.are.equal(0, d:count())
  end)

  it("moves a closed link's waiting receipts to another link of the account", function()
    local a, b = link(1), link()
    d:bound(a, "test")
    d:bound(b, "acme")
    for i = 1, 3 do d:send(rec(a, "test", "m" .. i)) end
    local c = link()
    d:bound(c, "test")
    d:unbound(a)
    assert.are.same({ "m2", "m3" }, c.sent)
    assert.are.same({}, b.sent)
    assert.are.equal(0, st.receipts_waiting)
  end)

  it("keeps a closed link's waiting receipts when the account has no other link", function()
    local a = link(1)
    d:bound(a, "test")
    for i = 1, 3 do d:send(rec(a, "test", "m" .. i)) end
    assert.is_nil(d:unbound(link()))
    d:unbound(a)
    assert.are.equal(2, d:count("test"))
  end)

  it("drops past max_pending: counted, logged and written on stderr", function()
    local saved, lines = io.stderr, {}
    -- luacheck: ignore 122
    io.stderr = { write = function(_, s) lines[#lines + 1] = s end }
    local ok, err = pcall(function()
      for i = 1, 4 do d:send(rec(link(), "test", "m" .. i)) end
    end)
    io.stderr = saved
    assert(ok, err)
    assert.are.equal(3, d:count())
    assert.are.equal(1, st.receipts_dropped)
    assert.are.same({ "smpp-sim: receipt m4 for test dropped: 3 receipts already pending "
                      .. "(max_pending)\n" }, lines)
    assert.are.equal("receipt_dropped", notes[4].event)
  end)

  it("keeps a receipt its link refuses for another reason than a full queue", function()
    local a = link()
    function a.deliver() return nil, "closed" end
    d:bound(a, "test")
    d:send(rec(a, "test", "m1"))
    assert.are.equal(1, d:count("test"))
    assert.are.equal("closed", notes[1].reason)
    assert.are.equal(0, st.receipts_sent)
  end)
end)
