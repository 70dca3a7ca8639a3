-- smpp.ev server (doc/smpp-ev.md, "Server"), driven by smpp.ev clients in
-- the same loop over loopback.
package.path = "spec/?.lua;" .. package.path

local compat = require "support.compat"
local ev = require "smpp.ev"
local loop = require "support.evloop"

local wait = loop.wait
local socket = require "socket"

-- A bare TCP peer for what an smpp.ev client would never do.
local function raw_client(port)
  local s = assert(socket.connect("127.0.0.1", port))
  s:setoption("tcp-nodelay", true)
  return s
end

local function raw_pdu(id, seq, body)
  return compat.be32(16 + #body, id, 0, seq) .. body
end

describe("smpp.ev server", function()
  local srv, clients

  local function track(c)
    table.insert(clients, c)
    return c
  end

  before_each(function()
    clients, srv = {}, nil
    ev.on_error(nil)
  end)

  after_each(function()
    loop.close_all(clients, srv)
  end)

  it("listens on a port the kernel picks and counts connections", function()
    srv = loop.server {}
    assert.is_true(srv:port() > 0)
    assert.are.equal(0, srv:connections())
    track(loop.bound(srv:port()))
    track(loop.bound(srv:port()))
    assert.are.equal(2, srv:connections())
    assert.matches("^smpp.server%(port %d+, 2 connections%)$", tostring(srv))
  end)

  it("hands the bind to on_bind and describes the conn", function()
    local info
    srv = loop.server {
      on_bind = function(conn, pdu)
        info = {
          command = pdu.command, system_id = pdu.system_id, password = pdu.password,
          id = conn:id(), peer = conn:peer(), state = conn:state(),
        }
        return 0
      end,
    }
    local c = track(loop.bound(srv:port(), { system_id = "acme" }))
    assert.are.equal("bind_transceiver", info.command)
    assert.are.equal("acme", info.system_id)
    assert.are.equal("secret", info.password)
    assert.are.equal("number", type(info.id))
    assert.matches("^127%.0%.0%.1:%d+$", info.peer)
    assert.are.equal("binding", info.state)
    assert.are.equal("bound", c:state())
  end)

  it("gives every conn its own id", function()
    local ids = {}
    srv = loop.server { on_bind = function(conn) ids[#ids + 1] = conn:id(); return 0 end }
    for _ = 1, 3 do track(loop.bound(srv:port())) end
    assert.are.equal(3, #ids)
    assert.are_not.equal(ids[1], ids[2])
    assert.are_not.equal(ids[2], ids[3])
    assert.are_not.equal(ids[1], ids[3])
  end)

  it("accepts `true` from on_bind and closes silently on false or nil", function()
    local answers = { true, false }
    local i = 0
    srv = loop.server { on_bind = function() i = i + 1; return answers[i] end }
    track(loop.bound(srv:port()))
    for _ = 2, 3 do
      local res
      track(loop.client(srv:port())):bind(function(...) res = compat.pack(...) end)
      assert.is_true(wait(function() return res end))
      assert.are.equal("authentication failed", res[2])
    end
  end)

  it("refuses a bind when on_bind raises, and reports the error", function()
    local errors = {}
    ev.on_error(function(m) table.insert(errors, m) end)
    srv = loop.server { on_bind = function() error("bad handler") end }
    local res
    track(loop.client(srv:port())):bind(function(...) res = compat.pack(...) end)
    assert.is_true(wait(function() return res end))
    assert.are.equal("authentication failed", res[2])
    assert.matches("bad handler", errors[1])
  end)

  it("answers submits now or later with conn:respond", function()
    local later = {}
    srv = loop.server {
      on_submit = function(conn, pdu)
        if pdu.destination_addr == "+1" then return 0, "now" end
        table.insert(later, { conn, pdu.sequence_number })
      end,
    }
    local c = track(loop.bound(srv:port()))
    local got = {}
    c:submit({ destination_addr = "+1" }, function(r) got[1] = r.message_id end)
    c:submit({ destination_addr = "+2" }, function(r, e, s)
      got[2] = r and r.message_id or e .. s
    end)
    assert.is_true(wait(function() return got[1] and #later == 1 end))
    assert.is_nil(got[2])
    local conn, seq = later[1][1], later[1][2]
    assert.is_true(conn:respond(seq, "ESME_RSYSERR"))
    assert.is_true(wait(function() return got[2] end))
    assert.are.equal("now", got[1])
    assert.are.equal("ESME_RSYSERR8", got[2])
    assert.has_error(function() conn:respond(0, 0) end)
    assert.has_error(function() conn:respond(1, "NOT_A_STATUS") end)
    local ok, err = conn:respond(seq, 0, ("x"):rep(65))
    assert.is_nil(ok)
    assert.matches("message_id", err)
  end)

  it("answers ESME_RSYSERR when on_submit raises", function()
    local errors = {}
    ev.on_error(function(m) table.insert(errors, m) end)
    srv = loop.server { on_submit = function() error("handler broke") end }
    local c = track(loop.bound(srv:port()))
    local res
    c:submit({ destination_addr = "+1" }, function(...) res = compat.pack(...) end)
    assert.is_true(wait(function() return res end))
    assert.are.same({ n = 3, nil, "ESME_RSYSERR", 8 }, res)
    assert.matches("handler broke", errors[1])
  end)

  it("answers ESME_RSYSERR when on_submit returns a message_id the wire can't carry", function()
    local errors = {}
    ev.on_error(function(m) table.insert(errors, m) end)
    srv = loop.server { on_submit = function() return 0, string.rep("9", 80) end }
    local c = track(loop.bound(srv:port()))
    local res
    c:submit({ destination_addr = "+1" }, function(...) res = compat.pack(...) end)
    assert.is_true(wait(function() return res end))
    assert.are.same({ n = 3, nil, "ESME_RSYSERR", 8 }, res)
    assert.matches("message_id: 80 bytes", errors[1])
  end)

  it("lets on_submit close its conn and still return a status, with no error", function()
    local errors = {}
    ev.on_error(function(m) table.insert(errors, m) end)
    srv = loop.server { on_submit = function(conn) conn:close(); return 0, "x" end }
    local c = track(loop.bound(srv:port()))
    local res
    c:submit({ destination_addr = "+1" }, function(...) res = compat.pack(...) end)
    assert.is_true(wait(function() return res end))
    assert.are.equal("connection lost", res[2])
    assert.are.same({}, errors)
  end)

  it("accepts every submit with counting ids when there is no on_submit", function()
    srv = loop.server {}
    local c = track(loop.bound(srv:port()))
    local ids = {}
    for _ = 1, 2 do
      c:submit({ destination_addr = "+1" }, function(r) ids[#ids + 1] = r.message_id end)
    end
    assert.is_true(wait(function() return #ids == 2 end))
    assert.are_not.equal(ids[1], ids[2])
  end)

  it("delivers with conn:deliver and maps the result like submit", function()
    local conn
    srv = loop.server { on_bind = function(cn) conn = cn; return 0 end }
    local c = track(loop.bound(srv:port()))
    local receipts = {}
    c:on_receipt(function(r) table.insert(receipts, r) end)
    local res, err
    local receipt = loop.receipt_text:format("d1")
    assert.is_true(conn:deliver({ destination_addr = "+65", short_message = receipt },
      function(r, e) res, err = r, e end))
    assert.is_true(wait(function() return res or err end))
    assert.is_nil(err)
    assert.are.equal("", res.message_id)
    assert.are.equal("number", type(res.sequence_number))
    assert.are.equal(1, #receipts)
    assert.are.equal("d1", receipts[1].message_id)
    local bad_ok, bad_err = conn:deliver({ nope = 1 })
    assert.is_nil(bad_ok)
    assert.matches("nope", bad_err)
  end)

  it("passes deliver's extra argument back as the callback's fifth", function()
    local conn
    srv = loop.server { on_bind = function(cn) conn = cn; return 0 end }
    local c = track(loop.bound(srv:port()))
    c:on_receipt(function() end)
    local got
    local tok = {}
    assert.is_true(conn:deliver({ destination_addr = "+65",
                                  short_message = loop.receipt_text:format("d2") },
      function(...) got = compat.pack(...) end, tok))
    assert.is_true(wait(function() return got end))
    assert.are.equal(5, got.n)
    assert.are.equal("", got[1].message_id)
    assert.are.equal(tok, got[5])
    assert.has_error(function() conn:deliver({ destination_addr = "+1" }, nil, tok) end)
  end)

  it("writes a deliver queued for one conn from another conn's handler", function()
    local conns = {}
    srv = loop.server {
      on_bind = function(cn) table.insert(conns, cn); return 0 end,
      on_submit = function(conn)
        local other = conns[1] == conn and conns[2] or conns[1]
        other:deliver { destination_addr = "+1", short_message = loop.receipt_text:format("x") }
        return 0, "a"
      end,
    }
    local a = track(loop.bound(srv:port()))
    local b = track(loop.bound(srv:port()))
    local got
    b:on_receipt(function(r)
      got = r.message_id
      ev.stop()
    end)
    a:submit { destination_addr = "+1" }
    -- No ticking timer: only the flush before the loop blocks writes it.
    local guard = ev.timer(3, function() ev.stop() end)
    ev.run()
    guard:stop()
    assert.are.equal("x", got)
  end)

  it("gets every receipt to a client submitting at window 100 through a small deliver window",
     function()
    -- The simulator's receipt path in small: receipts that find the
    -- session's deliver queue full wait in a backlog, and each finished
    -- deliver_sm lets the next one in. Any lost wakeup (output queued and
    -- never written, a read not resumed) stalls it with receipts parked.
    local N = 3000
    local backlog, first, last = {}, 1, 0
    local n_ids, acked = 0, 0
    local drain
    local function done(res, err, _, _, conn)
      assert(res, err)
      acked = acked + 1
      drain(conn)
    end
    local function try(conn, id)
      local ok, err = conn:deliver({ destination_addr = "+1",
                                     short_message = loop.receipt_text:format(id) }, done, conn)
      if ok then return true end
      assert.are.equal("queue full", err)
      return false
    end
    drain = function(conn)
      while first <= last do
        if not try(conn, backlog[first]) then return end
        backlog[first] = nil
        first = first + 1
      end
    end
    srv = loop.server {
      window = 2, queue_size = 5,
      on_submit = function(conn, pdu)
        n_ids = n_ids + 1
        local id = "r" .. n_ids
        conn:respond(pdu.sequence_number, 0, id)
        if first > last and try(conn, id) then return end
        last = last + 1
        backlog[last] = id
      end,
    }
    local c = track(loop.bound(srv:port(), { window = 100, queue_size = 110,
                                             response_timeout = 10 }))
    local seen, receipts, answered, sent = {}, 0, 0, 0
    c:on_receipt(function(r)
      if not seen[r.message_id] then
        seen[r.message_id] = true
        receipts = receipts + 1
      end
    end)
    local function on_result(res, err)
      assert(res, err)
      answered = answered + 1
      if sent < N then
        sent = sent + 1
        assert(c:submit({ destination_addr = "+1" }, on_result))
      end
    end
    for _ = 1, 100 do
      sent = sent + 1
      assert(c:submit({ destination_addr = "+1" }, on_result))
    end
    assert.is_true(wait(function() return answered == N and receipts == N end, 30),
                   string.format("%d answers, %d receipts of %d; %d waiting", answered,
                                 receipts, N, last - first + 1))
    assert.is_true(wait(function() return acked == N end))
    assert.are.equal(0, last - first + 1)
  end)

  it("ends deliveries a client never answers with timeout", function()
    local conn
    srv = loop.server { on_bind = function(cn) conn = cn; return 0 end, response_timeout = 0.1 }
    local s = raw_client(srv:port())
    s:send(raw_pdu(0x09, 1, "test\0secret\0\0\052\1\1\0"))
    assert.is_true(wait(function() return conn and conn:state() == "bound" end))
    local outcome
    conn:deliver({ destination_addr = "+1" }, function(...) outcome = compat.pack(...) end)
    assert.is_true(wait(function() return outcome end))
    assert.are.same({ n = 2, nil, "timeout" }, outcome)
    s:close()
  end)

  it("calls on_close once, after which conn methods return nil, 'closed'", function()
    local closes, conn = {}, nil
    srv = loop.server {
      on_bind = function(cn) conn = cn; return 0 end,
      on_close = function(cn, reason)
        table.insert(closes, reason)
        assert.are.equal(conn, cn)
        assert.is_string(cn:peer()) -- still valid inside on_close
      end,
    }
    local c = loop.bound(srv:port())
    loop.close(c)
    assert.is_true(wait(function() return #closes == 1 end))
    assert.are.same({ "peer unbind" }, closes)
    assert.are.equal(0, srv:connections())
    assert.are.equal("closed", conn:state())
    local ok, err = conn:deliver({ destination_addr = "+1" })
    assert.is_nil(ok)
    assert.are.equal("closed", err)
    ok, err = conn:respond(1, 0, "x")
    assert.is_nil(ok)
    assert.are.equal("closed", err)
    assert.are.same({ nil, "closed" }, { conn:peer() })
    assert.are.same({ nil, "closed" }, { conn:system_id() })
    assert.are.same({ nil, "closed" }, { conn:stats() })
    assert.is_true(conn:close())
  end)

  it("closes one conn from the server side", function()
    local conn
    srv = loop.server { on_bind = function(cn) conn = cn; return 0 end }
    local c = track(loop.bound(srv:port()))
    local reason
    c:on_close(function(r) reason = r end)
    conn:close()
    assert.is_true(wait(function() return reason end))
    assert.are.equal("connection lost", reason)
  end)

  it("unbinds gracefully with conn:close(true)", function()
    local conn
    srv = loop.server { on_bind = function(cn) conn = cn; return 0 end }
    local c = track(loop.bound(srv:port()))
    local reason
    c:on_close(function(r) reason = r end)
    conn:close(true)
    assert.is_true(wait(function() return reason end))
    assert.are.equal("peer unbind", reason)
  end)

  it("traces every PDU both ways, with the password masked", function()
    local log = {}
    srv = loop.server {
      trace = function(conn, dir, pdu)
        assert.are.equal("number", type(conn:id()))
        table.insert(log, dir .. " " .. pdu.command)
        if pdu.command == "bind_transceiver" then
          assert.are.equal("***", pdu.password)
        end
      end,
      on_submit = function() return 0, "t1" end,
    }
    local ctrace = {}
    local c = track(loop.bound(srv:port(), {
      trace = function(dir, pdu)
        table.insert(ctrace, dir .. " " .. pdu.command)
        if pdu.password then assert.are.equal("***", pdu.password) end
      end,
    }))
    local done
    c:submit({ destination_addr = "+1" }, function() done = true end)
    assert.is_true(wait(function() return done end))
    loop.close(c)
    assert.is_true(wait(function() return #log >= 6 end))
    assert.are.same({
      "in bind_transceiver", "out bind_transceiver_resp",
      "in submit_sm", "out submit_sm_resp",
      "in unbind", "out unbind_resp",
    }, log)
    assert.are.same({
      "out bind_transceiver", "in bind_transceiver_resp",
      "out submit_sm", "in submit_sm_resp",
      "out unbind", "in unbind_resp",
    }, ctrace)
  end)

  it("closes every connection on srv:close()", function()
    local closes = 0
    srv = loop.server { on_close = function() closes = closes + 1 end }
    local reasons = {}
    for i = 1, 3 do
      local c = track(loop.bound(srv:port()))
      c:on_close(function(r) reasons[i] = r end)
    end
    assert.is_true(srv:close())
    assert.is_true(srv:close())
    assert.are.equal(3, closes)
    assert.are.equal(0, srv:connections())
    assert.is_true(wait(function() return #reasons == 3 end))
    assert.are.same({ "connection lost", "connection lost", "connection lost" }, reasons)
    local res
    track(loop.client(srv:port())):bind(function(...) res = compat.pack(...) end)
    assert.is_true(wait(function() return res end))
    assert.are.equal("connection refused", res[2])
  end)

  it("may be closed from inside its own handlers", function()
    local closes = 0
    srv = loop.server {
      on_submit = function() srv:close() end,
      on_close = function() closes = closes + 1 end,
    }
    local c = track(loop.bound(srv:port()))
    local res
    c:submit({ destination_addr = "+1" }, function(...) res = compat.pack(...) end)
    assert.is_true(wait(function() return res end))
    assert.are.equal("connection lost", res[2])
    assert.are.equal(1, closes)
  end)

  it("returns nil, err when the port is taken", function()
    srv = loop.server {}
    local other, err = ev.server { host = "127.0.0.1", port = srv:port() }
    assert.is_nil(other)
    assert.matches("Address already in use", err)
  end)

  it("raises on unknown options and bad handler types", function()
    assert.has_error(function() ev.server { port = 0, on_bnid = function() end } end,
      "smpp.ev.server: unknown option 'on_bnid'")
    assert.has_error(function() ev.server { port = 0, on_bind = 1 } end,
      "option 'on_bind': function expected, got number")
    assert.has_error(function() ev.server { port = 70000 } end)
  end)

  it("serves many clients at once", function()
    local n = 50
    srv = loop.server { on_submit = function(_, pdu) return 0, pdu.destination_addr end }
    local got = 0
    for i = 1, n do
      local c = track(loop.client(srv:port()))
      c:bind(function(ok)
        assert.is_true(ok)
        c:submit({ destination_addr = "+" .. i }, function(r)
          assert.are.equal("+" .. i, r.message_id)
          got = got + 1
        end)
      end)
    end
    assert.is_true(wait(function() return got == n end, 5))
    assert.are.equal(n, srv:connections())
  end)

  it("closes a connection whose first PDU is not a bind; on_close reads why from error()",
    function()
      -- No trace hook: the session keeps the reason itself.
      local closes, conn = {}, nil
      srv = loop.server {
        on_close = function(cn, r)
          conn = cn
          table.insert(closes, { r, cn:error(), cn:stats().pdus_in })
        end,
      }
      local s = raw_client(srv:port())
      s:send(raw_pdu(0x15, 1, "")) -- enquire_link
      assert.is_true(wait(function() return #closes == 1 end))
      assert.are.same({ { "protocol error", "first PDU was enquire_link, not bind_transceiver",
                          1 } }, closes)
      -- Sticky: still there after the conn ended.
      assert.are.equal("first PDU was enquire_link, not bind_transceiver", conn:error())
      s:settimeout(1)
      assert.is_nil(s:receive(1)) -- closed with no answer
      s:close()
    end)

  it("says why a stream broke after the bind, and nil while nothing did", function()
    local closes, conn = {}, nil
    srv = loop.server {
      on_bind = function(cn) conn = cn; return 0 end,
      on_close = function(cn, r) table.insert(closes, { r, cn:error() }) end,
    }
    local s = raw_client(srv:port())
    s:send(raw_pdu(0x09, 1, "test\0secret\0\0\052\0\0\0")) -- bind_transceiver
    assert.is_true(wait(function() return conn and conn:state() == "bound" end))
    assert.is_nil(conn:error())
    assert.are.equal(1, conn:stats().pdus_in)
    s:send(compat.be32(70000, 0x04, 0, 2)) -- over max_pdu
    assert.is_true(wait(function() return #closes == 1 end))
    assert.are.same({ { "protocol error",
                        "broken stream: command_length 70000 is over the cap of 65536 bytes" } },
                    closes)
    s:close()
  end)

  it("closes a connection that never binds after bind_timeout", function()
    local closes = {}
    srv = loop.server { bind_timeout = 0.1, on_close = function(_, r) table.insert(closes, r) end }
    local s = raw_client(srv:port())
    assert.is_true(wait(function() return #closes == 1 end))
    assert.are.equal("bind timeout", closes[1])
    s:close()
  end)
end)
