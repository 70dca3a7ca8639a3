-- core.session: the sans-I/O session as a Lua driver sees it. No socket
-- anywhere: a fake clock (every call gets its `now`), hand-made peer bytes
-- (smpp.pdu.encode), or a second core.session in the server role wired to
-- the first in memory. Each scenario asserts the events and the bytes out.
package.path = "spec/?.lua;" .. package.path
local compat = require "support.compat"
local core = require "smpp.core"
local pdu = require "smpp.pdu"
local peer = require "support.session_peer"
local process = require "support.process"

local events, wire = peer.events, peer.wire

local function client(opts, now)
  local o = { system_id = "test", password = "secret" }
  for k, v in pairs(opts or {}) do o[k] = v end
  return core.session(o, now or 0)
end

-- Just the kinds, for checking order.
local function kinds(list)
  local k = {}
  for i, ev in ipairs(list) do k[i] = ev[1] end
  return k
end

-- Take everything the session wants written (all of it is written) and
-- decode it into PDU tables.
local function written(s)
  local bytes = s:pending()
  if not bytes then return {} end
  assert.is_true(s:sent(#bytes))
  local list, pos = {}, 1
  while pos <= #bytes do
    local t, nxt = pdu.decode(bytes, pos)
    assert(t, nxt)
    list[#list + 1] = t
    pos = nxt
  end
  return list
end

local function commands(list)
  local c = {}
  for i, p in ipairs(list) do c[i] = p.command end
  return c
end

local function enc(t) return assert(pdu.encode(t)) end

local function bind_resp(seq, status)
  if status and status ~= 0 then
    return enc { command = "bind_transceiver_resp", sequence_number = seq, command_status = status }
  end
  return enc { command = "bind_transceiver_resp", sequence_number = seq, system_id = "engagelab" }
end

local function submit_resp(seq, id, status)
  if status and status ~= 0 then
    return enc { command = "submit_sm_resp", sequence_number = seq, command_status = status }
  end
  return enc { command = "submit_sm_resp", sequence_number = seq, message_id = id }
end

-- A receipt as the gateway sends it: esm_class 0, both TLVs.
local function receipt(seq, id, state, stat)
  return enc {
    command = "deliver_sm", sequence_number = seq, service_type = "MSG",
    short_message = string.format("id:%s sub:001 dlvrd:001 submit date:2611251200 "
      .. "done date:2611251201 stat:%s err:000 text:", id, stat or "DELIVRD"),
    tlvs = { receipted_message_id = id, message_state = state or 2 },
  }
end

local MSG = { destination_addr = "+6598765432", short_message = "hello" }

-- A client bound at time 0 (its bind answered), output taken.
local function bound(opts)
  local s = client(opts)
  assert.is_true(s:connected(0))
  local out = written(s)
  assert.equal("bind_transceiver", out[1].command)
  s:feed(bind_resp(out[1].sequence_number), 0)
  assert.same({ { "bound" } }, events(s, 0))
  return s
end

describe("core.session", function()
  describe("bind", function()
    it("sends bind_transceiver on connected and says bound on the answer", function()
      local s = client { system_type = "OTP" }
      assert.equal("connecting", s:state())
      assert.is_nil(s:pending())
      assert.same({}, events(s, 0))
      assert.is_true(s:connected(0))
      assert.equal("binding", s:state())
      local out = written(s)
      assert.equal(1, #out)
      local b = out[1]
      assert.equal("bind_transceiver", b.command)
      assert.equal("test", b.system_id)
      assert.equal("secret", b.password)
      assert.equal("OTP", b.system_type)
      assert.equal(0x34, b.interface_version)
      assert.equal(1, b.sequence_number)
      s:feed(bind_resp(1), 1)
      assert.same({ { "bound" } }, events(s, 1))
      assert.equal("bound", s:state())
      assert.is_nil(s:pending())
    end)

    it("gives bind_failed with the status name and number, then closed", function()
      local s = client()
      s:connected(0)
      written(s)
      s:feed(bind_resp(1, 0x0E), 1)
      assert.same({ { "bind_failed", "ESME_RINVPASWD", 14 }, { "closed", "bind failed" } },
        events(s, 1))
      assert.equal("closed", s:state())
      assert.is_nil(s:next_event(2))
    end)

    it("reads the gateway closing the socket during bind as bad credentials", function()
      local s = client()
      s:connected(0)
      written(s)
      assert.is_true(s:fail("connection lost", 1))
      assert.same({ { "bind_failed", "authentication failed" },
                    { "closed", "authentication failed" } }, events(s, 1))
    end)

    it("times out the bind and the connect on the deadline it gives", function()
      local s = client { bind_timeout = 5, connect_timeout = 3 }
      assert.equal(3, s:deadline())
      s:tick(2.999)
      assert.same({}, events(s, 2.999))
      s:tick(3)
      assert.same({ { "bind_failed", "connect timeout" }, { "closed", "connect timeout" } },
        events(s, 3))
      assert.is_nil(s:deadline())

      s = client { bind_timeout = 5 }
      s:connected(1)
      assert.equal(6, s:deadline())
      s:tick(6)
      assert.same({ { "bind_failed", "bind timeout" }, { "closed", "bind timeout" } },
        events(s, 6))
      -- Too late: the driver's connect finishing now changes nothing.
      assert.same({ nil, "closed" }, { s:connected(7) })
    end)

    it("keeps the driver's words for connect failures, detail included", function()
      for _, reason in ipairs { "connection refused", "connect timeout",
                                "dns failure: Name or service not known",
                                "connect error: Network is unreachable" } do
        local s = client()
        s:fail(reason, 0)
        assert.same({ { "bind_failed", reason }, { "closed", reason } }, events(s, 0))
      end
      local s = client()
      s:fail("dns failure", 0)
      assert.same({ "bind_failed", "dns failure: unknown" }, events(s, 0)[1])
    end)

    it("raises for a reason it does not know and for misuse", function()
      local s = client()
      assert.has_error(function() s:fail("gone fishing") end)
      assert.has_error(function() s:fail("connection lost: why") end)
      assert.has_error(function() s:feed({}) end)
      assert.has_error(function() s:tick("soon") end)
      assert.has_error(function() s:sent(1) end) -- nothing pending
      assert.has_error(function() s:submit(MSG) end) -- no token
      assert.has_error(function() s:accept_bind() end) -- a client
      assert.has_error(function() core.session { system_id = "x" } end)
      assert.has_error(function() core.session { system_id = "x", password = "y", host = "h" } end)
      assert.has_error(function() core.session { role = "peer" } end)
      assert.has_error(function() core.session { role = "server", system_id = "x" } end)
      assert.has_error(function() core.session { system_id = ("x"):rep(16), password = "y" } end)
      assert.has_error(function() core.session { system_id = "x", password = "y", window = 0 } end)
    end)
  end)

  describe("requests", function()
    it("sends submit_sm with the gateway's defaults and hands back the answer", function()
      local s = bound { enquire_link_interval = 0 }
      assert.is_true(s:submit(MSG, "token-1", 1))
      local out = written(s)
      assert.equal(1, #out)
      local p = out[1]
      assert.equal("submit_sm", p.command)
      assert.equal("MSG", p.service_type)
      assert.equal(1, p.source_addr_ton)
      assert.equal(1, p.dest_addr_npi)
      assert.equal(1, p.registered_delivery)
      assert.equal(0, p.data_coding)
      assert.equal("+6598765432", p.destination_addr)
      assert.equal(2, p.sequence_number)
      s:feed(submit_resp(2, "m-1"), 2)
      assert.same({ { "result", "token-1", { message_id = "m-1", sequence_number = 2 } } },
        events(s, 2))
    end)

    it("gives refusals, generic_nack and field errors as smpp.ev does", function()
      local s = bound { enquire_link_interval = 0 }
      s:submit(MSG, 1, 1)
      s:submit(MSG, 2, 1)
      written(s)
      s:feed(submit_resp(2, nil, 0x58) ..
        enc { command = "generic_nack", sequence_number = 3, command_status = 3 }, 2)
      assert.same({ { "result", 1, nil, "ESME_RTHROTTLED", 0x58 },
                    { "result", 2, nil, "ESME_RINVCMDID", 3, "generic_nack" } }, events(s, 2))

      local ok, err = s:submit({ destination_addr = ("1"):rep(30) }, 3, 3)
      assert.is_nil(ok)
      assert.matches("destination_addr", err)
      ok, err = s:submit({ colour = "red" }, 3, 3)
      assert.is_nil(ok)
      assert.equal("unknown field 'colour'", err)
      ok, err = s:submit({ command = "deliver_sm" }, 3, 3)
      assert.is_nil(ok)
      assert.equal("command: a client submits submit_sm only", err)
      assert.is_nil(s:pending())
      assert.equal(2, s:stats().submitted)
    end)

    it("keeps window requests in flight, queues the rest and refuses past queue_size", function()
      local s = bound { window = 2, queue_size = 1, enquire_link_interval = 0 }
      assert.is_true(s:submit(MSG, "a", 1))
      assert.is_true(s:submit(MSG, "b", 1))
      assert.is_true(s:submit(MSG, "c", 1))
      assert.same({ nil, "queue full" }, { s:submit(MSG, "d", 1) })
      local out = written(s)
      assert.same({ "submit_sm", "submit_sm" }, commands(out))
      local st = s:stats()
      assert.equal(2, st.in_flight)
      assert.equal(1, st.queued)
      -- An answer frees a slot: the queued one goes out.
      s:feed(submit_resp(out[1].sequence_number, "m-a"), 2)
      assert.same({ "result" }, kinds(events(s, 2)))
      out = written(s)
      assert.same({ "submit_sm" }, commands(out))
      assert.equal(4, out[1].sequence_number)
    end)

    it("queues requests made before bind and sends them once bound", function()
      local s = client { enquire_link_interval = 0 }
      assert.is_true(s:submit(MSG, 1, 0))
      s:connected(0)
      assert.same({ "bind_transceiver" }, commands(written(s)))
      s:feed(bind_resp(1), 1)
      assert.same({ { "bound" } }, events(s, 1))
      assert.same({ "submit_sm" }, commands(written(s)))
    end)

    it("times out an unanswered request at response_timeout", function()
      local s = bound { response_timeout = 5, enquire_link_interval = 0 }
      s:submit(MSG, "late", 1)
      written(s)
      assert.equal(6, s:deadline())
      s:tick(5.999)
      assert.same({}, events(s, 5.999))
      s:tick(6)
      assert.same({ { "result", "late", nil, "timeout" } }, events(s, 6))
      -- The answer that comes after is dropped.
      s:feed(submit_resp(2, "m"), 7)
      assert.same({}, events(s, 7))
      assert.equal("bound", s:state())
    end)
  end)

  describe("keep-alive", function()
    it("sends enquire_link every interval and answers the gateway's", function()
      local s = bound { enquire_link_interval = 30, response_timeout = 10 }
      assert.equal(30, s:deadline())
      s:tick(29)
      assert.is_nil(s:pending())
      s:tick(30)
      local out = written(s)
      assert.same({ "enquire_link" }, commands(out))
      assert.equal(40, s:deadline())
      s:feed(enc { command = "enquire_link_resp", sequence_number = out[1].sequence_number }, 31)
      assert.same({}, events(s, 31))
      assert.equal(60, s:deadline())
      -- The gateway's own enquire_link: answered with its sequence number.
      s:feed(enc { command = "enquire_link", sequence_number = 777 }, 32)
      assert.same({}, events(s, 32))
      out = written(s)
      assert.same({ "enquire_link_resp" }, commands(out))
      assert.equal(777, out[1].sequence_number)
      assert.equal(1, s:stats().enquire_links)
    end)

    it("closes a dead link when enquire_link goes unanswered", function()
      local s = bound { enquire_link_interval = 30, response_timeout = 10 }
      s:submit(MSG, "x", 1)
      written(s)
      s:feed(submit_resp(2, "m"), 2)
      events(s, 2)
      s:tick(30)
      assert.same({ "enquire_link" }, commands(written(s)))
      s:tick(40)
      assert.same({ { "closed", "dead link" } }, events(s, 40))
      assert.equal("closed", s:state())
    end)
  end)

  describe("exactly-once outcomes", function()
    -- Each token's result appears once, with the outcome given.
    local function outcomes(list)
      local seen = {}
      for _, ev in ipairs(list) do
        if ev[1] == "result" then
          assert.is_nil(seen[ev[2]], "token " .. tostring(ev[2]) .. " ended twice")
          seen[ev[2]] = ev[4] or "ok"
        end
      end
      return seen
    end

    it("ends requests in flight and queued once when closed at once", function()
      local s = bound { window = 1, enquire_link_interval = 0 }
      s:submit(MSG, "flight", 1)
      s:submit(MSG, "queued1", 1)
      s:submit(MSG, "queued2", 1)
      written(s)
      assert.is_true(s:close(false, 2))
      local list = events(s, 2)
      assert.same({ "result", "result", "result", "closed" }, kinds(list))
      assert.same({ flight = "closed", queued1 = "closed", queued2 = "closed" }, outcomes(list))
      assert.equal("closed", list[4][2])
      assert.same({ nil, "closed" }, { s:submit(MSG, "after", 3) })
      assert.same({ nil, "closed" }, { s:feed("x", 3) })
      assert.is_true(s:close(true, 3)) -- idempotent
      assert.is_nil(s:next_event(3))
    end)

    it("unbinds on a graceful close and closes on the unbind_resp", function()
      local s = bound { window = 1, enquire_link_interval = 0 }
      s:submit(MSG, 1, 1)
      s:submit(MSG, 2, 1)
      written(s)
      s:close(true, 2)
      assert.equal("unbinding", s:state())
      local out = written(s)
      assert.same({ "unbind" }, commands(out))
      assert.same({ [1] = "closed", [2] = "closed" }, outcomes(events(s, 2)))
      s:feed(enc { command = "unbind_resp", sequence_number = out[1].sequence_number }, 3)
      assert.same({ { "closed", "closed" } }, events(s, 3))
    end)

    it("tells sent requests (connection lost) from unsent ones (not sent)", function()
      local s = bound { window = 2, enquire_link_interval = 0 }
      s:submit(MSG, "written", 1)
      written(s)
      s:submit(MSG, "pending", 1) -- in the window, its bytes never written
      s:submit(MSG, "queued", 1)
      s:fail("connection lost", 2)
      assert.same({ written = "connection lost", pending = "not sent", queued = "not sent" },
        outcomes(events(s, 2)))
      assert.is_nil(s:pending())
    end)

    it("ends everything once when the peer unbinds", function()
      local s = bound { enquire_link_interval = 0 }
      s:submit(MSG, "a", 1)
      written(s)
      s:feed(enc { command = "unbind", sequence_number = 50 }, 2)
      local list = events(s, 2)
      assert.same({ "result", "closed" }, kinds(list))
      assert.same({ a = "connection lost" }, outcomes(list))
      assert.equal("peer unbind", list[2][2])
      local out = written(s)
      assert.same({ "unbind_resp" }, commands(out))
      assert.equal(50, out[1].sequence_number)
    end)
  end)

  describe("receipts", function()
    it("hands out a receipt that comes before its submit's answer, answered at once", function()
      local s = bound { enquire_link_interval = 0 }
      s:submit(MSG, "otp", 1)
      written(s)
      s:feed(receipt(900, "m-7") .. submit_resp(2, "m-7"), 2)
      local list = events(s, 2)
      assert.same({ "receipt", "result" }, kinds(list))
      local r = list[1][2]
      assert.equal("m-7", r.message_id)
      assert.equal("DELIVRD", r.stat)
      assert.equal("000", r.err)
      assert.equal(2, r.message_state)
      assert.equal("DELIVERED", r.state)
      assert.is_true(r.final)
      assert.equal(900, r.sequence_number)
      assert.equal("m-7", list[2][3].message_id)
      local out = written(s)
      assert.same({ "deliver_sm_resp" }, commands(out))
      assert.equal(900, out[1].sequence_number)
      assert.equal(1, s:stats().receipts)
    end)

    it("hands each receipt's deliver_sm bytes with it, long ones too", function()
      local s = bound { enquire_link_interval = 0 }
      local short = receipt(901, "m-8")
      local text = "id:m-9 sub:001 dlvrd:001 submit date:2612041200 done date:2612041201"
        .. " stat:DELIVRD err:000 text:" .. ("x"):rep(600)
      local long = enc { command = "deliver_sm", sequence_number = 902, esm_class = 4,
                         destination_addr = "+6598765432",
                         tlvs = { { tag = 0x0424, value = text }, { tag = 0x0427, value = 2 } } }
      s:feed(short .. long, 2)
      local list = events(s, 2)
      assert.same({ "receipt", "receipt" }, kinds(list))
      assert.equal(short, list[1][3])
      assert.equal(#long, #list[2][3])
      assert.is_true(#list[2][3] > 600)
      assert.same(list[2][2], (pdu.receipt(list[2][3])))
      assert.equal("m-9", list[2][2].message_id)
    end)

    it("marks interim receipts not final and the last one final", function()
      local s = bound { enquire_link_interval = 0 }
      s:feed(receipt(5, "m", 6, "ACCEPTD") .. receipt(6, "m", 1, "ENROUTE")
        .. receipt(7, "m", 2, "DELIVRD"), 1)
      local list = events(s, 1)
      assert.same({ "receipt", "receipt", "receipt" }, kinds(list))
      assert.is_false(list[1][2].final)
      assert.is_false(list[2][2].final)
      assert.is_true(list[3][2].final)
      assert.equal(3, #written(s))
    end)

    it("gives a deliver_sm that is no receipt as deliver", function()
      local s = bound { enquire_link_interval = 0 }
      s:feed(enc { command = "deliver_sm", sequence_number = 8, source_addr = "+65111",
                   short_message = "hi there" }, 1)
      local list = events(s, 1)
      assert.equal("deliver", list[1][1])
      assert.equal("hi there", list[1][2].short_message)
      assert.equal("+65111", list[1][2].source_addr)
      assert.same({ "deliver_sm_resp" }, commands(written(s)))
      assert.equal(0, s:stats().receipts)
      assert.equal(1, s:stats().delivered_in)
    end)
  end)

  describe("input", function()
    -- The whole exchange fed in one piece, then one byte at a time: the
    -- same events and the same bytes out.
    local function run(split)
      local s = client { enquire_link_interval = 0 }
      s:connected(0)
      s:submit(MSG, "t", 0)
      local out = written(s)
      local stream = bind_resp(1) .. receipt(40, "m-2") .. submit_resp(2, "m-2")
        .. enc { command = "enquire_link", sequence_number = 41 }
      local list = {}
      if split then
        for i = 1, #stream do
          s:feed(stream:sub(i, i), 1)
          for _, ev in ipairs(events(s, 1)) do list[#list + 1] = ev end
          for _, p in ipairs(written(s)) do out[#out + 1] = p end
        end
      else
        s:feed(stream, 1)
        list = events(s, 1)
        for _, p in ipairs(written(s)) do out[#out + 1] = p end
      end
      return list, commands(out), s:stats()
    end

    it("takes any split, down to 1 byte", function()
      local whole, out_whole, st_whole = run(false)
      local bytes, out_bytes, st_bytes = run(true)
      assert.same({ "bound", "receipt", "result" }, kinds(whole))
      assert.same(whole, bytes)
      assert.same({ "bind_transceiver", "submit_sm", "deliver_sm_resp", "enquire_link_resp" },
        out_whole)
      assert.same(out_whole, out_bytes)
      assert.equal(4, st_whole.pdus_in)
      assert.equal(4, st_bytes.pdus_in)
    end)

    it("closes on garbage and says why in s:error()", function()
      local s = bound { enquire_link_interval = 0 }
      assert.is_nil(s:error())
      s:submit(MSG, "lost", 1)
      written(s)
      s:feed("\0\0\0\5garbage-bytes!", 2)
      assert.same({ { "result", "lost", nil, "connection lost" }, { "closed", "protocol error" } },
        events(s, 2))
      assert.equal("broken stream: command_length 5 is less than the 16-byte header", s:error())
    end)

    it("closes on an oversized command_length, naming it", function()
      local s = bound { max_pdu = 1024, enquire_link_interval = 0 }
      s:feed(compat.be32(100000, 4, 0, 1), 1)
      assert.same({ { "closed", "protocol error" } }, events(s, 1))
      assert.equal("broken stream: command_length 100000 is over the cap of 1024 bytes",
        s:error())
      -- Sticky: still there after the close.
      assert.equal("closed", s:state())
      assert.matches("100000", s:error())
    end)

    it("nacks a deliver_sm that does not decode, goes on, and keeps the error", function()
      local s = bound { enquire_link_interval = 0 }
      local bad = compat.be32(20, 5, 0, 33) .. "\1\1\1\1" -- fields without NULs
      s:feed(bad, 1)
      assert.same({}, events(s, 1))
      local out = written(s)
      assert.same({ "generic_nack" }, commands(out))
      assert.equal(33, out[1].sequence_number)
      assert.equal(2, out[1].command_status) -- ESME_RINVCMDLEN
      assert.matches("^deliver_sm does not decode: ", s:error())
      assert.equal("bound", s:state())
    end)
  end)

  describe("server role", function()
    local function pair(copts, sopts)
      local c = client(copts)
      local o = { role = "server" }
      for k, v in pairs(sopts or {}) do o[k] = v end
      return c, core.session(o, 0)
    end

    it("runs bind, submit, receipt and unbind against a client session", function()
      local c, s = pair({ enquire_link_interval = 0 })
      c:connected(0)
      wire(c, s, 0)
      assert.same({ { "bind_request", "test", "secret" } }, events(s, 0))
      assert.is_true(s:accept_bind(0, 0))
      wire(c, s, 0)
      assert.same({ { "bound" } }, events(c, 0))
      c:submit(MSG, "otp", 1)
      wire(c, s, 1)
      local req = events(s, 1)
      assert.equal("request", req[1][1])
      local p = req[1][2]
      assert.equal("+6598765432", p.destination_addr)
      assert.equal(1, p.registered_delivery)
      -- A receipt before the answer, as the gateway may send it.
      assert.is_true(s:deliver({ destination_addr = p.destination_addr,
                                 short_message = "id:m9 stat:DELIVRD err:000",
                                 tlvs = { receipted_message_id = "m9", message_state = 2 } },
                               "dlr", 1))
      assert.is_true(s:respond(p.sequence_number, "ESME_ROK", "m9"))
      wire(c, s, 1)
      local list = events(c, 1)
      assert.same({ "receipt", "result" }, kinds(list))
      assert.equal("m9", list[1][2].message_id)
      assert.equal("m9", list[2][3].message_id)
      wire(c, s, 1) -- the client's deliver_sm_resp
      local res = events(s, 1)
      assert.same({ "result" }, kinds(res))
      assert.equal("dlr", res[1][2])
      assert.equal("", res[1][3].message_id)
      c:close(true, 2)
      wire(c, s, 2)
      assert.same({ { "closed", "peer unbind" } }, events(s, 2))
      wire(c, s, 2)
      assert.same({ { "closed", "closed" } }, events(c, 2))
      local st = s:stats()
      assert.equal(1, st.requests)
      assert.is_nil(st.receipts)
      assert.equal(4, st.pdus_in) -- bind, submit_sm, deliver_sm_resp, unbind
    end)

    it("refuses a bind by closing, which the client reads as bad credentials", function()
      local c, s = pair()
      c:connected(0)
      wire(c, s, 0)
      events(s, 0)
      assert.is_true(s:reject_bind(0))
      assert.same({ { "closed", "rejected" } }, events(s, 0))
      assert.is_nil(s:pending())
      -- The driver sees the socket close and tells the client session.
      c:fail("connection lost", 0)
      assert.same({ "bind_failed", "authentication failed" }, events(c, 0)[1])
    end)

    it("answers a bind with a status, and the client gets it", function()
      local c, s = pair()
      c:connected(0)
      wire(c, s, 0)
      events(s, 0)
      assert.is_true(s:accept_bind("ESME_RINVSYSID", 0))
      wire(c, s, 0)
      assert.same({ "bind_failed", "ESME_RINVSYSID", 0x0F }, events(c, 0)[1])
    end)

    it("closes when the first PDU is no bind_transceiver, saying which", function()
      local s = core.session({ role = "server" }, 0)
      s:feed(enc { command = "enquire_link", sequence_number = 1 }, 0)
      assert.same({ { "closed", "protocol error" } }, events(s, 0))
      assert.equal("first PDU was enquire_link, not bind_transceiver", s:error())
    end)

    it("checks server calls", function()
      local s = core.session({ role = "server", idle_timeout = 60 }, 0)
      assert.has_error(function() s:submit(MSG, 1) end)
      assert.has_error(function() s:connected() end)
      assert.has_error(function() s:accept_bind(0) end) -- no bind_request yet
      assert.has_error(function() s:respond(0, 0) end)
      assert.has_error(function() s:respond(1, "ESME_RNOSUCH") end)
      assert.same({ nil, "session is binding" }, { s:respond(1, 0, "x") })
      assert.equal(10, s:deadline()) -- the bind's, before idle_timeout's 60
      s:close()
      assert.same({ nil, "closed" }, { s:respond(1, 0, "x") })
      assert.same({ nil, "closed" }, { s:deliver(MSG, 1) })
    end)
  end)

  describe("tokens", function()
    it("gives back any non-nil value as the token, integers included", function()
      local s = bound { window = 10, enquire_link_interval = 0 }
      local t = {}
      local fn = function() end
      local tokens = { 0, 7, 2 ^ 53, -1, 1.5, "s", t, fn, true, false }
      for _, tok in ipairs(tokens) do assert.is_true(s:submit(MSG, tok, 1)) end
      s:close(false, 2)
      local got = {}
      for _, ev in ipairs(events(s, 2)) do
        if ev[1] == "result" then got[#got + 1] = ev[2] end
      end
      assert.equal(#tokens, #got)
      for i, tok in ipairs(tokens) do
        assert.equal(tok, got[i])
        assert.equal(compat.math_type(tok), compat.math_type(got[i]))
      end
    end)

    it("lets a session with tokens outstanding be collected, tokens and all", function()
      local weak = setmetatable({}, { __mode = "k" })
      do
        local s = bound { window = 1, enquire_link_interval = 0 }
        for i = 1, 5 do
          local tok = { i = i }
          weak[tok] = true
          assert.is_true(s:submit(MSG, tok, 1))
        end
        -- A token that refers back to its session: no cycle may keep it.
        local back = { session = s }
        weak[back] = true
        s:submit(MSG, back, 1)
        weak[s] = true
      end
      for _ = 1, 3 do collectgarbage() end
      assert.is_nil(next(weak))
    end)

    it("closes once through close, __close and __gc in any order", function()
      -- On core.now()'s clock, which __close and __gc use.
      local s = core.session { system_id = "test", password = "secret" }
      s:submit(MSG, "x")
      local mt = getmetatable(s)
      mt.__close(s)
      assert.is_true(s:close(true))
      assert.same({ { "bind_failed", "closed" }, { "result", "x", nil, "closed" },
                    { "closed", "closed" } }, events(s))
      mt.__gc(s)
      mt.__gc(s)
      assert.equal("closed", s:state())
      assert.is_nil(s:next_event())
      assert.same({ nil, "closed" }, { s:feed("x") })
      assert.same({ nil, "closed" }, { s:stats() })
    end)
  end)

  describe("clock", function()
    it("core.now is monotonic seconds and is every omitted now", function()
      local a = core.now()
      local b = core.now()
      assert.is_number(a)
      assert.is_true(b >= a)
      local s = core.session { system_id = "t", password = "p", connect_timeout = 10 }
      local d = s:deadline()
      assert.is_true(d >= a + 10 - 0.001 and d <= core.now() + 10 + 0.001)
    end)
  end)

  it("loads without smpp.ev, as do the template helpers", function()
    -- A fresh interpreter: other specs here have loaded smpp.ev already.
    local script = string.format([[
      package.path = %q
      package.cpath = %q
      local core = require "smpp.core"
      require "smpp.template"
      require "smpp.pdu"
      os.exit(package.loaded["smpp.ev"] == nil and core.session ~= nil and 0 or 3)]],
      package.path, package.cpath)
    local ok, how, code = compat.execute(process.LUA .. " -e '"
      .. script:gsub("'", [['\'']]) .. "'")
    assert.is_true(ok, tostring(how) .. " " .. tostring(code))
  end)
end)
