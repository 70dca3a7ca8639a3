-- smpp.ev client (doc/smpp-ev.md, "Client"): real sockets on loopback.
-- A well-behaved peer is our own ev.server in the same loop; misbehaving
-- peers are spec/support/rawserver.lua in a child process.
package.path = "spec/?.lua;" .. package.path

local compat = require "support.compat"
local ev = require "smpp.ev"
local loop = require "support.evloop"
local raw = require "support.rawserver"
local process = require "support.process"

local wait = loop.wait

-- Every outcome a submit callback got, by index, so "exactly once" can be
-- checked: calls[i] is a list of argument tables.
local function recorder()
  local calls = {}
  local function cb_for(i)
    calls[i] = calls[i] or {}
    return function(...)
      table.insert(calls[i], compat.pack(...))
    end
  end
  return calls, cb_for
end

local function count(calls)
  local n = 0
  for _, list in pairs(calls) do n = n + #list end
  return n
end

describe("smpp.ev client", function()
  local srv, clients

  local function track(c)
    table.insert(clients, c)
    return c
  end

  before_each(function()
    clients = {}
    srv = nil
    ev.on_error(nil)
  end)

  after_each(function()
    loop.close_all(clients, srv)
  end)

  describe("with a well-behaved server", function()
    it("binds, submits and gets the message_id back", function()
      local seen
      srv = loop.server { on_submit = function(_, pdu) seen = pdu; return 0, "mid-1" end }
      local c = track(loop.bound(srv:port()))
      assert.are.equal("bound", c:state())
      local res, err
      assert.is_true(c:submit({ destination_addr = "+6598765432", short_message = "{}" },
        function(r, e) res, err = r, e end))
      assert.is_true(wait(function() return res or err end))
      assert.is_nil(err)
      assert.are.equal("mid-1", res.message_id)
      assert.are.equal("number", compat.math_type(res.sequence_number) and "number")
      -- the gateway's defaults, filled in by the client
      assert.are.equal("MSG", seen.service_type)
      assert.are.equal("", seen.source_addr)
      assert.are.equal(1, seen.source_addr_ton)
      assert.are.equal(1, seen.source_addr_npi)
      assert.are.equal(1, seen.dest_addr_ton)
      assert.are.equal(1, seen.dest_addr_npi)
      assert.are.equal(1, seen.registered_delivery)
      assert.are.equal(0, seen.data_coding)
      assert.are.equal("+6598765432", seen.destination_addr)
      local st = c:stats()
      assert.are.equal(1, st.submitted)
      assert.are.equal(1, st.succeeded)
      assert.are.equal(0, st.in_flight)
    end)

    it("lets the caller's fields override the defaults", function()
      local seen
      srv = loop.server { on_submit = function(_, pdu) seen = pdu; return 0, "x" end }
      local c = track(loop.bound(srv:port()))
      local done
      c:submit({ destination_addr = "+1", service_type = "CODE", data_coding = 8,
                 registered_delivery = 0, short_message = "\0{" }, function() done = true end)
      assert.is_true(wait(function() return done end))
      assert.are.equal("CODE", seen.service_type)
      assert.are.equal(8, seen.data_coding)
      assert.are.equal(0, seen.registered_delivery)
    end)

    it("hands receipts to on_receipt with every field", function()
      srv = loop.server {
        on_submit = function(conn, pdu)
          conn:deliver {
            destination_addr = pdu.destination_addr,
            short_message = loop.receipt_text:format("m42"),
            tlvs = {
              receipted_message_id = "m42", message_state = 2,
              network_error_code = { network_type = 3, error_code = 5 },
            },
          }
          return 0, "m42"
        end,
      }
      local c = track(loop.bound(srv:port()))
      local r
      c:on_receipt(function(x) r = x end)
      c:submit({ destination_addr = "+6598765432" })
      assert.is_true(wait(function() return r end))
      assert.are.equal("m42", r.message_id)
      assert.are.equal("DELIVRD", r.stat)
      assert.are.equal("000", r.err)
      assert.are.equal("001", r.sub)
      assert.are.equal("001", r.dlvrd)
      assert.are.equal("2501011200", r.submit_date)
      assert.are.equal("2501011201", r.done_date)
      assert.are.equal("hello", r.text)
      assert.are.equal(2, r.message_state)
      assert.are.equal("DELIVERED", r.state)
      assert.are.same({ network_type = 3, error_code = 5 }, r.network_error_code)
      assert.are.equal("+6598765432", r.destination_addr)
      assert.are.equal("", r.source_addr)
      assert.are.equal(0, r.esm_class)
      assert.are.equal(loop.receipt_text:format("m42"), r.raw)
      assert.are.equal("table", type(r.tlvs))
      assert.are.equal("number", type(r.sequence_number))
      assert.is_true(r.final)
      assert.are.equal(1, c:stats().receipts)
      assert.is_nil(c:error())
    end)

    it("does not lose a receipt that arrives before its submit_sm_resp", function()
      srv = loop.server {
        on_submit = function(conn, pdu)
          conn:deliver { destination_addr = pdu.destination_addr,
                         short_message = loop.receipt_text:format("early") }
          assert(conn:respond(pdu.sequence_number, 0, "early"))
        end,
      }
      local c = track(loop.bound(srv:port()))
      local order = {}
      c:on_receipt(function(r) table.insert(order, "receipt " .. r.message_id) end)
      c:submit({ destination_addr = "+1" }, function(res)
        table.insert(order, "result " .. res.message_id)
      end)
      assert.is_true(wait(function() return #order == 2 end))
      assert.are.same({ "receipt early", "result early" }, order)
    end)

    it("hands a deliver_sm that is no receipt to on_deliver", function()
      srv = loop.server {
        on_bind = function(conn)
          ev.timer(0, function()
            conn:deliver { source_addr = "+2", destination_addr = "+1", short_message = "hi" }
          end)
          return 0
        end,
      }
      local got
      local c = track(loop.client(srv:port()))
      c:on_deliver(function(pdu) got = pdu end)
      c:on_receipt(function() error("not a receipt") end)
      c:bind()
      assert.is_true(wait(function() return got end))
      assert.are.equal("deliver_sm", got.command)
      assert.are.equal("hi", got.short_message)
    end)

    it("maps a submit_sm_resp status to its name and number", function()
      local statuses = { 0x45, 0x1234, "ESME_RTHROTTLED" }
      local i = 0
      srv = loop.server { on_submit = function() i = i + 1; return statuses[i] end }
      local c = track(loop.bound(srv:port()))
      local calls, cb = recorder()
      for n = 1, 3 do c:submit({ destination_addr = "+1" }, cb(n)) end
      assert.is_true(wait(function() return count(calls) == 3 end))
      assert.are.same({ n = 3, nil, "ESME_RSUBMITFAIL", 0x45 }, calls[1][1])
      assert.are.same({ n = 3, nil, "0x00001234", 0x1234 }, calls[2][1])
      assert.are.same({ n = 3, nil, "ESME_RTHROTTLED", 0x58 }, calls[3][1])
    end)

    it("passes submit's extra argument back as the callback's fifth, whatever the outcome",
       function()
      local statuses = { 0, 0x45, 0 }
      local i = 0
      srv = loop.server { on_submit = function() i = i + 1; return statuses[i], "m" .. i end }
      local c = track(loop.bound(srv:port()))
      local got = {}
      local function cb(...) got[#got + 1] = compat.pack(...) end
      local arg1, arg2 = { "first" }, { "second" }
      assert.is_true(c:submit({ destination_addr = "+1" }, cb, arg1))
      assert.is_true(c:submit({ destination_addr = "+1" }, cb, arg2))
      assert.is_true(c:submit({ destination_addr = "+1" }, cb)) -- none: as before
      assert.is_true(wait(function() return #got == 3 end))
      assert.are.equal(5, got[1].n)
      assert.are.equal("m1", got[1][1].message_id)
      assert.are.equal(arg1, got[1][5])
      assert.are.same({ n = 5, nil, "ESME_RSUBMITFAIL", 0x45, nil, arg2 }, got[2])
      assert.are.equal(1, got[3].n)
      assert.has_error(function() c:submit({ destination_addr = "+1" }, nil, arg1) end)
    end)

    it("passes the extra argument to a request ended by close()", function()
      srv = loop.server { on_submit = function() end }
      local c = track(loop.bound(srv:port()))
      local got
      c:submit({ destination_addr = "+1" }, function(...) got = compat.pack(...) end, "tok")
      c:close()
      assert.is_true(wait(function() return got end))
      assert.are.same({ n = 5, nil, "closed", nil, nil, "tok" }, got)
    end)

    it("writes a submit made from a timer callback before the loop sleeps", function()
      -- Inside the loop a submit only marks the link dirty. Nothing but the
      -- flush before the loop blocks writes it here: no read, no ticking
      -- timer. Lost, the loop would sleep until the guard.
      srv = loop.server { on_submit = function() return 0, "t" end }
      local c = track(loop.bound(srv:port()))
      local res
      local guard = ev.timer(3, function() ev.stop() end)
      ev.timer(0.01, function()
        assert(c:submit({ destination_addr = "+1" }, function(r)
          res = r
          ev.stop()
        end))
      end)
      ev.run()
      guard:stop()
      assert.are.equal("t", res and res.message_id)
    end)

    it("has written a submit when it returns outside the loop, or when run_once does", function()
      srv = loop.server { on_submit = function() end }
      local c = track(loop.bound(srv:port()))
      local before = c:stats().bytes_out
      assert.is_true(c:submit({ destination_addr = "+1" }))
      local after_top = c:stats().bytes_out
      assert.is_true(after_top > before)
      local fired = false
      ev.timer(0, function()
        fired = true
        c:submit({ destination_addr = "+1" })
      end)
      while not fired do ev.run_once() end
      assert.is_true(c:stats().bytes_out > after_top)
    end)

    it("keeps at most `window` requests in flight and queues the rest", function()
      local pending = {}
      srv = loop.server {
        on_submit = function(conn, pdu) table.insert(pending, { conn, pdu.sequence_number }) end,
      }
      local c = track(loop.bound(srv:port(), { window = 2 }))
      local calls, cb = recorder()
      for n = 1, 5 do assert.is_true(c:submit({ destination_addr = "+1" }, cb(n))) end
      assert.is_true(wait(function() return #pending == 2 end))
      loop.sleep(0.05)
      assert.are.equal(2, #pending)
      local st = c:stats()
      assert.are.equal(2, st.in_flight)
      assert.are.equal(3, st.queued)
      -- answer as they come: the queue drains two at a time
      local answered = 0
      assert.is_true(wait(function()
        while answered < #pending do
          answered = answered + 1
          local p = pending[answered]
          p[1]:respond(p[2], 0, "m" .. answered)
        end
        return count(calls) == 5
      end))
      for n = 1, 5 do
        assert.are.equal(1, #calls[n])
        assert.are.equal("m" .. n, calls[n][1][1].message_id)
      end
    end)

    it("refuses a submit with queue full, without calling its callback", function()
      srv = loop.server { on_submit = function() end }
      local c = track(loop.bound(srv:port(), { window = 1, queue_size = 2 }))
      local calls, cb = recorder()
      assert.is_true(c:submit({ destination_addr = "+1" }, cb(1)))
      assert.is_true(c:submit({ destination_addr = "+1" }, cb(2)))
      assert.is_true(c:submit({ destination_addr = "+1" }, cb(3)))
      local ok, err = c:submit({ destination_addr = "+1" }, cb(4))
      assert.is_nil(ok)
      assert.are.equal("queue full", err)
      c:close()
      assert.is_true(wait(function() return count(calls) == 3 end))
      assert.is_nil(calls[4][1])
    end)

    it("ends every unanswered request exactly once with 'closed' on close()", function()
      srv = loop.server { on_submit = function() end }
      local c = track(loop.bound(srv:port(), { window = 3 }))
      local calls, cb = recorder()
      for n = 1, 6 do c:submit({ destination_addr = "+1" }, cb(n)) end
      loop.sleep(0.05)
      local closes = {}
      c:on_close(function(reason) table.insert(closes, reason) end)
      assert.is_true(c:close())
      assert.is_true(c:close()) -- idempotent
      assert.is_true(wait(function() return c:state() == "closed" end))
      loop.sleep(0.05)
      for n = 1, 6 do
        assert.are.equal(1, #calls[n])
        assert.are.same({ n = 2, nil, "closed" }, calls[n][1])
      end
      assert.are.same({ "closed" }, closes)
      local ok, err = c:submit({ destination_addr = "+1" }, cb(7))
      assert.is_nil(ok)
      assert.are.equal("closed", err)
      local bok, berr = c:bind()
      assert.is_nil(bok)
      assert.are.equal("closed", berr)
    end)

    it("goes on after a callback raises, and reports it to ev.on_error", function()
      srv = loop.server { on_submit = function() return 0, "m" end }
      local c = track(loop.bound(srv:port()))
      local errors = {}
      local prev = ev.on_error(function(msg) table.insert(errors, msg) end)
      assert.is_nil(prev)
      c:submit({ destination_addr = "+1" }, function() error("boom") end)
      local res
      c:submit({ destination_addr = "+1" }, function(r) res = r end)
      assert.is_true(wait(function() return res end))
      assert.are.equal(1, #errors)
      assert.matches("boom", errors[1])
      assert.matches("traceback", errors[1])
      assert.are.equal("bound", c:state())
    end)

    it("allows submit and close from inside callbacks", function()
      srv = loop.server {
        on_submit = function(conn, pdu)
          local text = loop.receipt_text:format("r" .. pdu.sequence_number)
          conn:deliver { destination_addr = "+1", short_message = text }
          return 0, "m" .. pdu.sequence_number
        end,
      }
      local c = track(loop.bound(srv:port()))
      local results, receipts, closes = {}, 0, {}
      local function maybe_close()
        if receipts == 3 and #results == 3 then
          c:close()
          assert.is_nil((c:submit({ destination_addr = "+1" })))
        end
      end
      local function chain(res)
        table.insert(results, res.message_id)
        if #results < 3 then
          assert.is_true(c:submit({ destination_addr = "+1" }, chain))
        end
        maybe_close()
      end
      c:on_receipt(function()
        receipts = receipts + 1
        maybe_close()
      end)
      c:on_close(function(reason) table.insert(closes, reason) end)
      c:submit({ destination_addr = "+1" }, chain)
      assert.is_true(wait(function() return #closes > 0 end))
      assert.are.equal(3, #results)
      assert.are.equal(3, receipts)
      assert.are.same({ "closed" }, closes)
      assert.are.equal("closed", c:state())
    end)

    it("lets a callback run the loop itself while it waits (blocking style)", function()
      srv = loop.server {
        on_submit = function(conn, pdu)
          local text = loop.receipt_text:format("n" .. pdu.sequence_number)
          conn:deliver { destination_addr = "+1", short_message = text }
          return 0, "n" .. pdu.sequence_number
        end,
      }
      local c = track(loop.bound(srv:port()))
      local inner, receipts = nil, 0
      c:on_receipt(function()
        receipts = receipts + 1
        if receipts == 1 then
          -- what a blocking client call does inside a callback
          c:submit({ destination_addr = "+1" }, function(r) inner = r.message_id end)
          assert.is_true(wait(function() return inner end))
        end
      end)
      local first
      c:submit({ destination_addr = "+1" }, function(r) first = r.message_id end)
      assert.is_true(wait(function() return first and inner and receipts == 2 end))
      assert.are_not.equal(first, inner)
    end)

    it("closes from inside its own bind callback", function()
      srv = loop.server {}
      local c = track(loop.client(srv:port()))
      local closes = {}
      c:on_close(function(r) table.insert(closes, r) end)
      c:bind(function(ok)
        assert.is_true(ok)
        c:close()
        c:close()
      end)
      assert.is_true(wait(function() return #closes > 0 end))
      loop.sleep(0.02)
      assert.are.same({ "closed" }, closes)
    end)

    it("checks submit fields and names the one at fault", function()
      srv = loop.server {}
      local c = track(loop.bound(srv:port()))
      local called = false
      local function cb() called = true end
      local ok, err = c:submit({ destination_addr = "+1", foo = 1 }, cb)
      assert.is_nil(ok)
      assert.matches("foo", err)
      ok, err = c:submit({ destination_addr = ("9"):rep(30) }, cb)
      assert.is_nil(ok)
      assert.matches("destination_addr", err)
      ok, err = c:submit({ destination_addr = "+1", short_message = ("x"):rep(300) }, cb)
      assert.is_nil(ok)
      assert.matches("short_message", err)
      ok, err = c:submit({ destination_addr = "+1", esm_class = "x" }, cb)
      assert.is_nil(ok)
      assert.matches("esm_class", err)
      loop.sleep(0.02)
      assert.is_false(called)
      assert.are.equal(0, c:stats().submitted)
    end)

    it("refuses a submit before bind", function()
      local c = track(loop.client(1))
      local ok, err = c:submit({ destination_addr = "+1" })
      assert.is_nil(ok)
      assert.matches("not bound", err)
      assert.are.equal("idle", c:state())
    end)

    it("keeps the password out of tostring", function()
      srv = loop.server {}
      local c = track(loop.client(srv:port(), { password = "s3cr3t!" }))
      local s = tostring(c)
      assert.are.equal("smpp.client(127.0.0.1:" .. srv:port() .. ", test, idle)", s)
      c:bind()
      wait(function() return c:state() == "bound" end)
      s = tostring(c)
      assert.matches("bound", s)
      assert.is_nil(s:find("s3cr3t", 1, true))
    end)

    it("keeps a dropped connected client alive until its link ends", function()
      local closes = 0
      srv = loop.server { on_close = function() closes = closes + 1 end }
      do
        local c = loop.bound(srv:port(), { enquire_link_interval = 0.05 })
        c:on_close(function() end)
      end
      collectgarbage()
      collectgarbage()
      loop.sleep(0.2) -- keep-alives go on: the client was not collected
      assert.are.equal(1, srv:connections())
      assert.are.equal(0, closes)
      srv:close()
      assert.is_true(wait(function() return closes == 1 end))
      loop.sleep(0.02)
      collectgarbage()
      collectgarbage()
      srv = nil
    end)

    it("closes at once on __gc, without calling callbacks", function()
      local closes = {}
      srv = loop.server {
        on_submit = function() end,
        on_close = function(_, reason) table.insert(closes, reason) end,
      }
      local c = loop.bound(srv:port())
      local called = false
      c:submit({ destination_addr = "+1" }, function() called = true end)
      c:on_close(function() called = true end)
      loop.sleep(0.02)
      getmetatable(c).__gc(c)
      getmetatable(c).__gc(c) -- idempotent
      assert.are.equal("closed", c:state())
      assert.is_true(wait(function() return #closes == 1 end))
      assert.are.equal("connection lost", closes[1])
      assert.is_false(called)
      assert.is_nil((c:submit({ destination_addr = "+1" })))
    end)

    -- `<close>` is Lua 5.4 syntax: compiled there only.
    if compat.lua54 then
      it("closes at once when a to-be-closed variable goes out of scope", function()
        local closes = {}
        srv = loop.server { on_close = function(_, reason) table.insert(closes, reason) end }
        local result
        srv = compat.run_54([[
          local loop, srv, done = ...
          do
            local c <close> = loop.bound(srv:port())
            srv:close() -- nothing to do with c; just no more accepts
            srv = loop.server { on_submit = function() end }
            c:submit({ destination_addr = "+1" }, function(_, err) done(err) end)
          end
          return srv]], loop, srv, function(err) result = err end)
        assert.are.equal("closed", result)
        assert.is_true(wait(function() return #closes == 1 end))
      end)
    end
  end)

  describe("bind failures", function()
    local function bind_result(c)
      local res
      c:bind(function(...) res = compat.pack(...) end)
      assert.is_true(wait(function() return res end, 5))
      return res
    end

    it("reports connection refused", function()
      local s = loop.server {}
      local port = s:port()
      s:close()
      local c = track(loop.client(port))
      local closes = {}
      c:on_close(function(r) table.insert(closes, r) end)
      local res = bind_result(c)
      assert.is_nil(res[1])
      assert.are.equal("connection refused", res[2])
      assert.is_true(wait(function() return #closes == 1 end))
      assert.are.same({ "connection refused" }, closes)
      assert.are.equal("closed", c:state())
    end)

    it("never calls the bind callback before bind returns", function()
      local s = loop.server {}
      local port = s:port()
      s:close()
      local c = track(loop.client(port))
      local called = false
      assert.is_true(c:bind(function() called = true end))
      assert.is_false(called)
      assert.is_true(wait(function() return called end))
    end)

    it("reports a DNS failure with the resolver's message", function()
      local c = track(loop.client(2775, { host = "no such host.invalid" }))
      local res = bind_result(c)
      assert.is_nil(res[1])
      assert.matches("^dns failure: .+", res[2])
    end)

    it("reports authentication failed when the server closes during bind", function()
      srv = loop.server { on_bind = function() return false end }
      local res = bind_result(track(loop.client(srv:port())))
      assert.is_nil(res[1])
      assert.are.equal("authentication failed", res[2])
    end)

    it("reports a bind status by name and number", function()
      local got
      srv = loop.server { on_bind = function(_, pdu) got = pdu; return 0x0E end }
      local res = bind_result(track(loop.client(srv:port(), { system_type = "OTP" })))
      assert.are.same({ n = 3, nil, "ESME_RINVPASWD", 0x0E }, res)
      assert.are.equal("test", got.system_id)
      assert.are.equal("secret", got.password)
      assert.are.equal("OTP", got.system_type)
    end)

    it("reports bind timeout when the server never answers", function()
      local rs = raw.start("silent")
      local ok, res = pcall(bind_result, track(loop.client(rs.port, { bind_timeout = 0.2 })))
      rs:stop()
      assert(ok, res)
      assert.is_nil(res[1])
      assert.are.equal("bind timeout", res[2])
    end)

    it("ends requests queued during a failed bind with 'not sent'", function()
      srv = loop.server { on_bind = function() return false end }
      local c = track(loop.client(srv:port()))
      c:bind()
      local calls, cb = recorder()
      assert.is_true(c:submit({ destination_addr = "+1" }, cb(1)))
      assert.is_true(wait(function() return count(calls) == 1 end))
      assert.are.same({ n = 2, nil, "not sent" }, calls[1][1])
    end)
  end)

  describe("host names", function()
    it("binds by name to an in-process server and submits", function()
      srv = loop.server { on_submit = function() return 0, "by-name" end }
      local c = track(loop.bound(srv:port(), { host = "localhost" }))
      assert.are.equal("bound", c:state())
      local res
      c:submit({ destination_addr = "+1" }, function(r) res = r end)
      assert.is_true(wait(function() return res end))
      assert.are.equal("by-name", res.message_id)
    end)

    it("connects to an IPv6 literal without a lookup", function()
      local s6 = ev.server { host = "::1", port = 0 }
      if not s6 then return end -- no IPv6 loopback on this host
      srv = s6
      local c = track(loop.bound(srv:port(), { host = "::1" }))
      assert.are.equal("bound", c:state())
    end)

    it("reports a name that does not resolve as dns failure, to bind and on_close", function()
      local c = track(loop.client(2775, { host = "no-such-host.invalid" }))
      local res, closes = nil, {}
      c:on_close(function(r) table.insert(closes, r) end)
      assert.is_true(c:bind(function(...) res = compat.pack(...) end))
      assert.are.equal("connecting", c:state()) -- the lookup runs meanwhile
      assert.is_nil(res)
      assert.is_true(wait(function() return res and #closes == 1 end))
      assert.is_nil(res[1])
      assert.matches("^dns failure: .+", res[2])
      assert.are.same({ res[2] }, closes)
    end)

    it("ends a client closed during its lookup with 'closed', once, and never connects", function()
      local binds = 0
      srv = loop.server { on_bind = function() binds = binds + 1; return 0 end }
      local c = track(loop.client(srv:port(), { host = "localhost" }))
      local results, closes = {}, {}
      c:on_close(function(r) table.insert(closes, r) end)
      assert.is_true(c:bind(function(...) table.insert(results, compat.pack(...)) end))
      c:close() -- the lookup has not come back: the loop has not run
      loop.sleep(0.2) -- time for the lookup's answer to arrive, and be dropped
      assert.are.equal(1, #results)
      assert.are.same({ nil, "closed", n = 2 }, results[1])
      assert.are.same({ "closed" }, closes)
      assert.are.equal("closed", c:state())
      assert.are.equal(0, binds)
      assert.are.equal(0, srv:connections())
    end)

    it("keeps a client dropped during its lookup until its link ends, then lets it go", function()
      srv = loop.server {}
      local held = setmetatable({}, { __mode = "v" })
      local bound
      do
        local c = loop.client(srv:port(), { host = "localhost" })
        c:bind(function(ok) bound = ok end)
        held[1] = c
      end
      collectgarbage()
      collectgarbage()
      assert.is_not_nil(held[1]) -- the loop holds it from bind on
      assert.is_true(wait(function() return bound end))
      held[1]:close()
      assert.is_true(wait(function() return held[1]:state() == "closed" end))
      collectgarbage()
      collectgarbage()
      assert.is_nil(held[1])
    end)
  end)

  describe("misuse", function()
    it("raises on unknown options, naming the key", function()
      assert.has_error(function()
        ev.client { system_id = "a", password = "b", windwo = 3 }
      end, "smpp.ev.client: unknown option 'windwo'")
    end)

    it("raises on missing or malformed options", function()
      assert.has_error(function() ev.client { password = "b" } end,
        "option 'system_id' is required")
      assert.has_error(function() ev.client { system_id = "a" } end,
        "option 'password' is required")
      assert.has_error(function() ev.client { system_id = "a", password = "123456789" } end,
        "option 'password': at most 8 bytes")
      assert.has_error(function() ev.client { system_id = ("a"):rep(16), password = "b" } end,
        "option 'system_id': at most 15 bytes")
      assert.has_error(function() ev.client { system_id = "a", password = "b", port = "x" } end,
        "option 'port': integer expected, got string")
      assert.has_error(function()
        ev.client { system_id = "a", password = "b", response_timeout = -1 }
      end)
      assert.has_error(function() ev.client { system_id = "a", password = "b", trace = 1 } end,
        "option 'trace': function expected, got number")
      assert.has_error(function() ev.client "x" end)
    end)

    it("raises on wrong argument types", function()
      local c = loop.client(1)
      assert.has_error(function() c:submit("x") end)
      assert.has_error(function() c:submit({}, 3) end)
      assert.has_error(function() c:bind(3) end)
      assert.has_error(function() c:on_receipt(3) end)
      c:close()
    end)
  end)

  describe("with a misbehaving server", function()
    local rs
    after_each(function() if rs then rs:stop() end end)

    local function outcomes(calls, n)
      local out = {}
      for i = 1, n do
        assert.are.equal(1, #calls[i], "submit " .. i .. " ended " .. #calls[i] .. " times")
        local a = calls[i][1]
        out[i] = a[1] and ("ok " .. a[1].message_id) or a[2]
      end
      return out
    end

    it("ends every submit once when the server closes mid-window", function()
      rs = raw.start("close_mid_window")
      local c = track(loop.bound(rs.port, { window = 5 }))
      local closes = {}
      c:on_close(function(r) table.insert(closes, r) end)
      local calls, cb = recorder()
      for i = 1, 8 do c:submit({ destination_addr = "+1" }, cb(i)) end
      assert.is_true(wait(function() return #closes > 0 end))
      loop.sleep(0.05)
      local out = outcomes(calls, 8)
      assert.are.equal("ok m1", out[1])
      local lost, not_sent = 0, 0
      for i = 2, 8 do
        if out[i] == "connection lost" then lost = lost + 1
        elseif out[i] == "not sent" then not_sent = not_sent + 1
        else error("unexpected outcome " .. tostring(out[i])) end
      end
      assert.are.equal(5, lost) -- the window refilled after m1
      assert.are.equal(2, not_sent)
      assert.are.same({ "connection lost" }, closes)
    end)

    it("times out submits the server never answers", function()
      rs = raw.start("never_answer")
      local c = track(loop.bound(rs.port, { response_timeout = 0.2 }))
      local calls, cb = recorder()
      for i = 1, 3 do c:submit({ destination_addr = "+1" }, cb(i)) end
      assert.is_true(wait(function() return count(calls) == 3 end))
      loop.sleep(0.05)
      assert.are.same({ "timeout", "timeout", "timeout" }, outcomes(calls, 3))
    end)

    for scenario, t in pairs {
      garbage = { "drops the link on garbage and ends every submit once",
                  "^broken stream: command_length 5 is less than the 16%-byte header" },
      oversized = { "drops the link on an oversized command_length",
                    "^broken stream: command_length 2147483632 is over the cap of" },
    } do
      it(t[1] .. ", and error() says why", function()
        rs = raw.start(scenario)
        local c = track(loop.bound(rs.port))
        assert.is_nil(c:error())
        local closes, in_close = {}, nil
        c:on_close(function(r)
          table.insert(closes, r)
          in_close = c:error()
        end)
        local calls, cb = recorder()
        for i = 1, 2 do c:submit({ destination_addr = "+1" }, cb(i)) end
        assert.is_true(wait(function() return #closes > 0 end))
        loop.sleep(0.05)
        assert.are.same({ "connection lost", "connection lost" }, outcomes(calls, 2))
        assert.are.same({ "protocol error" }, closes)
        assert.matches(t[2], in_close)
        -- Sticky: still there once the link is gone.
        assert.are.equal("closed", c:state())
        assert.are.equal(in_close, c:error())
      end)
    end

    it("reassembles answers that come one byte at a time", function()
      rs = raw.start("pieces")
      local c = track(loop.bound(rs.port))
      local calls, cb = recorder()
      for i = 1, 3 do c:submit({ destination_addr = "+1" }, cb(i)) end
      assert.is_true(wait(function() return count(calls) == 3 end, 5))
      assert.are.same({ "ok piece1", "ok piece2", "ok piece3" }, outcomes(calls, 3))
    end)

    it("reports generic_nack with its status", function()
      rs = raw.start("nack")
      local c = track(loop.bound(rs.port))
      local calls, cb = recorder()
      c:submit({ destination_addr = "+1" }, cb(1))
      assert.is_true(wait(function() return count(calls) == 1 end))
      assert.are.same({ n = 4, nil, "ESME_RINVCMDID", 3, "generic_nack" }, calls[1][1])
    end)

    it("reports authentication failed when the socket closes during bind", function()
      rs = raw.start("close_on_bind")
      local c = track(loop.client(rs.port))
      local res
      c:bind(function(...) res = compat.pack(...) end)
      assert.is_true(wait(function() return res end))
      assert.are.equal("authentication failed", res[2])
    end)
  end)
end)

describe("smpp.ev loop", function()
  after_each(function() ev.on_error(nil) end)

  it("fires a one-shot timer once and a repeating one until stopped", function()
    local once, rep = 0, 0
    local t1 = ev.timer(0.01, function() once = once + 1 end)
    local t2
    t2 = ev.timer(0.01, function()
      rep = rep + 1
      if rep == 3 then t2:stop() end
    end, 0.01)
    assert.is_true(wait(function() return rep == 3 end))
    loop.sleep(0.05)
    assert.are.equal(1, once)
    assert.are.equal(3, rep)
    assert.is_false(t1:active())
    assert.is_false(t2:active())
    t1:again(0.01)
    assert.is_true(t1:active())
    assert.is_true(wait(function() return once == 2 end))
  end)

  it("keeps time with ev.now and polls with run_once(false)", function()
    local t0 = ev.now()
    loop.sleep(0.05)
    assert.is_true(ev.now() - t0 >= 0.04)
    local started = os.clock()
    ev.run_once(false)
    assert.is_true(os.clock() - started < 0.5)
  end)

  it("returns from ev.run on ev.stop", function()
    local n = 0
    local t
    t = ev.timer(0, function()
      n = n + 1
      if n == 2 then t:stop(); ev.stop() end
    end, 0.005)
    ev.run()
    assert.are.equal(2, n)
  end)

  it("swaps the error handler and returns the previous one", function()
    local function h1() end
    assert.is_nil(ev.on_error(h1))
    assert.are.equal(h1, ev.on_error(nil))
    local got
    ev.on_error(function(m) got = m end)
    ev.timer(0, function() error({}) end)
    assert.is_true(wait(function() return got end))
    assert.matches("table value", got)
  end)

  it("turns a signal into a callback with ev.signal", function()
    local got
    local s = ev.signal(10, function(n) got = n end) -- SIGUSR1
    local pid = io.open("/proc/self/stat"):read("*n")
    os.execute("kill -USR1 " .. pid)
    assert.is_true(wait(function() return got end))
    assert.are.equal(10, got)
    assert.is_true(s:active())
    s:stop()
    assert.is_false(s:active())
    assert.has_error(function() ev.signal("USR1", function() end) end)
  end)
end)

describe("ev.run_once", function()
  -- In a fresh process: watchers other specs left active would answer true.
  it("returns true while watchers are active and false when nothing is left", function()
    local script = [[
      local ev = require "smpp.ev"
      local fired = 0
      ev.timer(0.01, function() fired = fired + 1 end)
      ev.timer(0.03, function() fired = fired + 1 end)
      io.write(tostring(ev.run_once()), fired, " ")
      io.write(tostring(ev.run_once()), fired, " ")
      io.write(tostring(ev.run_once(false)), fired)
    ]]
    local p = assert(io.popen(string.format("LUA_CPATH='%s' %s -e '%s'", package.cpath,
                                            process.LUA, script)))
    local out = p:read("*a")
    p:close()
    assert.equal("true1 false2 false2", out)
  end)
end)

describe("ev.client timeouts", function()
  it("count from the call, not from the loop's last iteration", function()
    local srv = assert(ev.server { port = 0 })
    ev.run_once(false)
    -- Busy outside the loop for longer than the timeouts below: libev's
    -- cached time goes stale meanwhile.
    local t0 = os.clock()
    while os.clock() - t0 < 0.3 do end
    local c = ev.client { port = srv:port(), system_id = "a", password = "b",
                          connect_timeout = 0.2, bind_timeout = 0.2 }
    local got
    assert(c:bind(function(ok, err) got = { ok, err } end))
    assert(wait(function() return got end, 2))
    assert.same({ true }, got)
    c:close()
    srv:close()
  end)
end)

-- The sandboxes these specs run in answer every name at once, so a lookup
-- that takes its time comes from spec/support/slow_getaddrinfo.c, put in
-- front of the C library's getaddrinfo of a child lua with LD_PRELOAD:
-- "ok.slow.test" resolves as localhost after SLOW_GAI_MS, any other
-- "*.slow.test" fails after it.
describe("ev.client name lookups on a slow resolver", function()
  local dir, shim

  setup(function()
    dir = io.popen("mktemp -d"):read("*l")
    shim = dir .. "/slow_getaddrinfo.so"
    -- Built without the sanitizers `make asan` preloads into this process.
    local ok = os.execute("env -u LD_PRELOAD cc -shared -fPIC -O1 -o " .. shim
      .. " spec/support/slow_getaddrinfo.c -ldl")
    assert(ok, "could not build the slow resolver")
  end)

  teardown(function()
    os.execute("rm -rf " .. dir)
  end)

  -- Run body in a child lua with the slow resolver; returns what it
  -- printed (stdout and stderr) and its exit status. The child loads the
  -- same smpp.ev as this process (package.cpath), sanitized or not.
  local function child(body, ms)
    local path = dir .. "/child.lua"
    local f = assert(io.open(path, "w"))
    f:write('package.path = "lua/?.lua;" .. package.path\n',
      'local compat = require "smpp.compat"\n', 'local ev = require "smpp.ev"\n', body)
    f:close()
    local preload = ((os.getenv("LD_PRELOAD") or "") .. " " .. shim):gsub("^ ", "")
    -- Bounded: a child that never sees its result must fail the test, not hang it.
    local cmd = string.format("SLOW_GAI_MS=%d LD_PRELOAD='%s' LUA_CPATH='%s' timeout 60 %s %s 2>&1;"
      .. " echo \"exit:$?\"", ms or 300, preload, package.cpath, process.LUA, path)
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    return out, tonumber(out:match("exit:(%d+)%s*$"))
  end

  it("keeps timers and other clients going while a name is looked up", function()
    local out, code = child([[
      local srv = assert(ev.server { port = 0 })
      local ticks, t0 = 0, ev.now()
      local tick = ev.timer(0.01, function() ticks = ticks + 1 end, 0.01)
      local c = ev.client { host = "ok.slow.test", port = srv:port(),
                            system_id = "a", password = "b" }
      local other = ev.client { port = srv:port(), system_id = "b", password = "b" }
      local res, other_at, idle_seen = nil, nil, false
      assert(c:bind(function(ok, err) res = { ok, err, ticks, ev.now() - t0 } end))
      assert(other:bind(function(ok) other_at = ok and ticks end))
      while not res do
        if not ev.run_once() then idle_seen = true end
      end
      print("bound", tostring(res[1]), tostring(res[2]))
      print("ticks", res[3], "elapsed", res[4], "other_at", other_at, "idle", idle_seen)
      c:close(); other:close(); srv:close(); tick:stop()
      local n = 0
      while ev.run_once() do n = n + 1; assert(n < 1000) end
      print("loop_empty")
    ]], 300)
    assert.are.equal(0, code, out)
    assert.matches("bound\ttrue\tnil", out)
    local ticks, elapsed, other_at = out:match("ticks\t(%d+)\telapsed\t(%S+)\tother_at\t(%d+)")
    assert.is_not_nil(ticks, out)
    assert.is_true(tonumber(elapsed) >= 0.25, out)
    assert.is_true(tonumber(ticks) >= 10, out)      -- the timer fired all along
    assert.is_true(tonumber(other_at) < tonumber(ticks), out) -- bound by IP meanwhile
    assert.matches("idle\tfalse", out)  -- run_once said true while the lookup ran
    assert.matches("loop_empty", out)   -- and nothing is left once it is over
  end)

  it("fails a name that does not resolve with dns failure, the loop going on", function()
    local out, code = child([[
      local ticks = 0
      local tick = ev.timer(0.01, function() ticks = ticks + 1 end, 0.01)
      local c = ev.client { host = "nope.slow.test", port = 1, system_id = "a", password = "b" }
      local res, closes = nil, {}
      c:on_close(function(r) closes[#closes + 1] = r end)
      assert(c:bind(function(...) res = compat.pack(...) end))
      while not res do ev.run_once() end
      tick:stop()
      print("res", tostring(res[1]), res[2], "close", table.concat(closes, ","), "ticks", ticks)
    ]], 200)
    assert.are.equal(0, code, out)
    assert.matches("res\tnil\tdns failure: Name or service not known\tclose\t"
      .. "dns failure: Name or service not known\tticks\t%d%d", out)
  end)

  it("counts the lookup in the connect timeout and drops its late answer", function()
    local out, code = child([[
      local binds = 0
      local srv = assert(ev.server { port = 0,
                                     on_bind = function() binds = binds + 1; return 0 end })
      local t0 = ev.now()
      local c = ev.client { host = "ok.slow.test", port = srv:port(), system_id = "a",
                            password = "b", connect_timeout = 0.1 }
      local results, closes, at = {}, {}, nil
      c:on_close(function(r) closes[#closes + 1] = r end)
      assert(c:bind(function(ok, err)
        results[#results + 1] = tostring(ok) .. "/" .. err
        at = ev.now() - t0
      end))
      local guard = ev.timer(5, function() end)
      while #results == 0 do ev.run_once() end
      guard:stop()
      local done = false
      ev.timer(0.5, function() done = true end)
      while not done do ev.run_once() end
      print("results", table.concat(results, ","), "closes", table.concat(closes, ","),
            "at", at, "binds", binds, "conns", srv:connections())
      srv:close()
    ]], 400)
    assert.are.equal(0, code, out)
    assert.matches("results\tnil/connect timeout\tcloses\tconnect timeout\tat\t%S+"
      .. "\tbinds\t0\tconns\t0", out)
    local at = tonumber(out:match("\tat\t(%S+)"))
    assert.is_true(at >= 0.09 and at < 0.35, out)
  end)

  it("drops the answer of a lookup whose client was closed meanwhile", function()
    local out, code = child([[
      local binds = 0
      local srv = assert(ev.server { port = 0,
                                     on_bind = function() binds = binds + 1; return 0 end })
      local c = ev.client { host = "ok.slow.test", port = srv:port(),
                            system_id = "a", password = "b" }
      local results, closes = {}, {}
      c:on_close(function(r) closes[#closes + 1] = r end)
      assert(c:bind(function(ok, err) results[#results + 1] = tostring(ok) .. "/" .. err end))
      ev.timer(0.05, function() c:close() end)
      local done = false
      ev.timer(0.5, function() done = true end)
      while not done do ev.run_once() end
      print("results", table.concat(results, ","), "closes", table.concat(closes, ","),
            "state", c:state(), "binds", binds, "conns", srv:connections())
      srv:close()
    ]], 200)
    assert.are.equal(0, code, out)
    assert.matches("results\tnil/closed\tcloses\tclosed\tstate\tclosed\tbinds\t0\tconns\t0", out)
  end)

  it("does not count a cancelled lookup as active", function()
    local out, code = child([[
      local c = ev.client { host = "ok.slow.test", port = 9, system_id = "a", password = "b" }
      assert(c:bind(function() end))
      print("while_looking_up", ev.run_once(false))
      c:close()
      -- the thread still waits on the resolver, but nobody waits for it
      print("after_close", ev.run_once(false))
    ]], 300)
    assert.are.equal(0, code, out)
    assert.matches("while_looking_up\ttrue\nafter_close\tfalse", out)
  end)

  it("survives lua_close while a lookup runs: client collected, thread ending after", function()
    local out, code = child([[
      local c = ev.client { host = "ok.slow.test", port = 9, system_id = "a", password = "b" }
      assert(c:bind(function() print("callback after close") end))
      local done = false
      ev.timer(0.05, function() done = true end)
      while not done do ev.run_once() end
      print("leaving", c:state())
    ]], 300)
    assert.are.equal(0, code, out)
    assert.matches("leaving\tconnecting", out)
    assert.not_matches("callback after close", out)
    -- the lookup did outlive the Lua state, so the case was tested
    assert.matches("1 lookups ended after main returned", out)
  end)
end)

describe("ev.client trace", function()
  -- Under ASan (make asan) this caught the link being freed while its
  -- trace was still being flushed.
  it("may close the client and drop the last reference to it", function()
    local srv = assert(ev.server { port = 0 })
    local c, bound
    c = ev.client {
      port = srv:port(), system_id = "a", password = "b",
      trace = function(dir, pdu)
        if c and dir == "out" and pdu.command == "bind_transceiver" then
          c:close()
          c = nil
          collectgarbage()
          collectgarbage()
        end
      end,
    }
    c:bind(function(ok, err) bound = { ok, err } end)
    assert(wait(function() return bound end, 2))
    assert.same({ nil, "closed" }, bound)
    srv:close()
  end)
end)

describe("ev.client against core.session", function()
  local core = require "smpp.core"
  local pack, unpack = compat.pack, compat.unpack

  -- The values from index `from` on, as a list that keeps trailing nils.
  local function from(t, i)
    return pack(unpack(t, i, t.n))
  end

  local MSG = { destination_addr = "+6598765432", short_message = "hello" }
  local INTERIM = {
    destination_addr = "+6598765432",
    short_message = "id:m7 sub:001 dlvrd:000 submit date:2501011200 "
      .. "done date:2501011201 stat:ENROUTE err:000 text:hello",
    tlvs = { receipted_message_id = "m7", message_state = 1 },
  }
  local MO = { source_addr = "+6511111111", destination_addr = "+6522222222",
               short_message = "a reply" }

  -- Each side's server answers the first submit with m7, the second with
  -- ESME_RSUBMITFAIL, then delivers an interim receipt and a message.
  local function via_ev()
    local n, conn = 0, nil
    local srv = loop.server {
      enquire_link_interval = 0,
      on_submit = function(c)
        conn, n = c, n + 1
        if n == 1 then return 0, "m7" end
        return 0x45
      end,
    }
    local c = loop.bound(srv:port(), { enquire_link_interval = 0 })
    local got = {}
    c:on_receipt(function(r) got.receipt = r end)
    c:on_deliver(function(p) got.deliver = p end)
    c:submit(MSG, function(...) got.ok = pack(...) end)
    assert.is_true(wait(function() return got.ok end))
    c:submit(MSG, function(...) got.refused = pack(...) end)
    assert.is_true(wait(function() return got.refused end))
    assert(conn:deliver(INTERIM))
    assert(conn:deliver(MO))
    assert.is_true(wait(function() return got.receipt and got.deliver end))
    got.stats = c:stats()
    loop.close_all({ c }, srv)
    return got
  end

  local function via_core()
    local cs = core.session({ system_id = "test", password = "secret",
                              enquire_link_interval = 0 }, 0)
    local ss = core.session({ role = "server", enquire_link_interval = 0 }, 0)
    local function wire()
      for _ = 1, 2 do
        local b = cs:pending()
        if b then cs:sent(#b); ss:feed(b, 0) end
        b = ss:pending()
        if b then ss:sent(#b); cs:feed(b, 0) end
      end
    end
    local function answer(status, id)
      assert(cs:submit(MSG, 1, 0))
      wire()
      local kind, p = ss:next_event(0)
      assert.are.equal("request", kind)
      assert(ss:respond(p.sequence_number, status, id))
      wire()
      local res = pack(cs:next_event(0))
      assert.are.equal("result", res[1])
      return from(res, 3)
    end
    cs:connected(0)
    wire()
    assert.are.equal("bind_request", (ss:next_event(0)))
    assert(ss:accept_bind(0, 0))
    wire()
    assert.are.equal("bound", (cs:next_event(0)))
    local got = { ok = answer(0, "m7"), refused = answer(0x45) }
    assert(ss:deliver(INTERIM, 1, 0))
    assert(ss:deliver(MO, 2, 0))
    wire()
    local kind
    kind, got.receipt = cs:next_event(0)
    assert.are.equal("receipt", kind)
    kind, got.deliver = cs:next_event(0)
    assert.are.equal("deliver", kind)
    got.stats = cs:stats()
    return got
  end

  it("hands the callbacks exactly the values next_event gives", function()
    local e, c = via_ev(), via_core()
    assert.are.same(c.ok, e.ok)
    assert.are.equal("m7", e.ok[1].message_id)
    assert.are.same(c.refused, e.refused)
    assert.are.same({ n = 3, nil, "ESME_RSUBMITFAIL", 0x45 }, e.refused)
    assert.are.same(c.receipt, e.receipt)
    assert.is_false(e.receipt.final)
    assert.are.same(c.deliver, e.deliver)
    for _, k in ipairs { "submitted", "succeeded", "failed", "receipts", "delivered_in",
                         "pdus_in" } do
      assert.are.equal(c.stats[k], e.stats[k], k)
    end
  end)
end)

describe("ev.client pipelining", function()
  it("writes what its callbacks queue before it has handled a whole window of answers", function()
    -- A peer in this process (LuaSocket): it answers 100 submits in one
    -- write; each answer's callback submits one more. Were the client to
    -- write only once it handled all 100, nothing would have reached the
    -- peer while the callbacks run.
    local socket = require "socket"
    local pdu = require "smpp.pdu"
    local srv = assert(socket.bind("127.0.0.1", 0))
    local _, port = srv:getsockname()
    srv:settimeout(0)
    local c = ev.client { port = tonumber(port), system_id = "a", password = "b", window = 100 }
    local bound
    assert(c:bind(function(ok) bound = ok end))
    local conn
    wait(function() conn = conn or srv:accept(); return conn ~= nil end)
    conn:settimeout(0)
    local inbuf = ""
    -- Whole PDUs the peer has received so far (non-blocking).
    local function take()
      local data, _, partial = conn:receive(65536)
      inbuf = inbuf .. (data or partial or "")
      local got = {}
      while true do
        local len = pdu.frame(inbuf, 1)
        if not len or len == 0 then break end
        got[#got + 1] = assert(pdu.decode(inbuf:sub(1, len)))
        inbuf = inbuf:sub(len + 1)
      end
      return got
    end
    local bind_seq
    wait(function()
      local got = take()
      if got[1] then bind_seq = got[1].sequence_number end
      return bind_seq ~= nil
    end)
    conn:send(pdu.encode { command = "bind_transceiver_resp", sequence_number = bind_seq,
                           system_id = "sim" })
    wait(function() return bound end)
    local fields = { destination_addr = "+6598765432", short_message = ("x"):rep(150) }
    local handled, first_seen = 0, nil
    local function on_answer()
      handled = handled + 1
      -- Has anything this drain queued reached the peer yet?
      if not first_seen and handled < 100 then
        local data, _, partial = conn:receive(65536)
        local bytes = data or partial or ""
        if #bytes > 0 then
          first_seen = handled
          inbuf = inbuf .. bytes
        end
      end
      if handled <= 100 then c:submit(fields, function() end) end
    end
    for _ = 1, 100 do assert(c:submit(fields, on_answer)) end
    local seqs = {}
    wait(function()
      for _, p in ipairs(take()) do seqs[#seqs + 1] = p.sequence_number end
      return #seqs == 100
    end)
    local answers = {}
    for i = 1, 100 do
      answers[i] = pdu.encode { command = "submit_sm_resp", sequence_number = seqs[i],
                                message_id = "m" .. i }
    end
    assert(conn:send(table.concat(answers)))
    wait(function() return handled == 100 end)
    assert.is_not_nil(first_seen, "nothing reached the peer before the window was handled")
    assert.is_true(first_seen < 100)
    c:close()
    conn:close()
    srv:close()
  end)
end)
