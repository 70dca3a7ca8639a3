-- One full round trip on smpp.ev, for valgrind and sanitizer runs:
--   valgrind --leak-check=full lua5.4 spec/support/ev_roundtrip.lua
-- An ev.server and an ev.client in one loop: bind, submits, receipts via
-- conn:deliver, traces both ways, a timer, a client dropped at __gc while
-- connected, a refused bind, host names (a bind by name, a name that does
-- not resolve, a client closed while its lookup runs, one left looking up
-- at exit), then every object closed. Exits 0 when every expected
-- callback ran.
package.cpath = package.cpath .. ";build/?.so" -- after any path the caller set
local ev = require "smpp.ev"

local N = tonumber(arg and arg[1]) or 20
local receipts, results, closed, traced = 0, 0, 0, 0

local srv = assert(ev.server {
  port = 0,
  trace = function() traced = traced + 1 end,
  on_submit = function(conn, pdu)
    conn:deliver({
      destination_addr = pdu.destination_addr,
      short_message = "id:m" .. pdu.sequence_number .. " sub:001 dlvrd:001 submit date:2501011200 "
        .. "done date:2501011201 stat:DELIVRD err:000 text:x",
      tlvs = { receipted_message_id = "m" .. pdu.sequence_number, message_state = 2 },
    }, function() end)
    return 0, "m" .. pdu.sequence_number
  end,
})

local c = ev.client {
  port = srv:port(), system_id = "vg", password = "pw",
  trace = function(_, pdu) assert(pdu.password == nil or pdu.password == "***") end,
}
c:on_receipt(function(r)
  assert(r.stat == "DELIVRD")
  receipts = receipts + 1
  if receipts == N and results == N then c:close() end
end)
c:on_close(function() closed = closed + 1 end)
c:bind(function(ok, err)
  assert(ok, err)
  for i = 1, N do
    assert(c:submit({ destination_addr = "+659876543" .. (i % 10), short_message = "{}" },
      function(res, e)
        assert(res, e)
        results = results + 1
        if receipts == N and results == N then c:close() end
      end))
  end
end)

-- a client left connected and dropped: freed at exit by lua_close
do
  local dropped = ev.client { port = srv:port(), system_id = "drop", password = "pw" }
  dropped:bind()
end

-- a refused bind
local refused
local probe = assert(ev.server { port = 0 })
local port = probe:port()
probe:close()
ev.client({ port = port, system_id = "x", password = "y" }):bind(function(_, err) refused = err end)

-- host names: looked up on helper threads, answers back through the loop
local by_name, no_name, cancelled = nil, nil, {}
local named = ev.client { host = "localhost", port = srv:port(), system_id = "nm", password = "pw" }
named:bind(function(ok, err)
  by_name = ok or err
  named:close()
end)
ev.client({ host = "no-such-host.invalid", port = 1, system_id = "x", password = "y" })
  :bind(function(_, err) no_name = err end)
local quitter = ev.client { host = "localhost", port = srv:port(), system_id = "q", password = "p" }
quitter:bind(function(_, err) cancelled[#cancelled + 1] = err end)
quitter:close()

local t = ev.timer(5, function() ev.stop() end)
ev.timer(0.01, function()
  if closed == 1 and refused and by_name and no_name and named:state() == "closed" then
    ev.stop()
  end
end, 0.01)
ev.run()
t:stop()
assert(closed == 1, "client did not close")
assert(results == N and receipts == N, ("results %d receipts %d"):format(results, receipts))
assert(refused == "connection refused", tostring(refused))
assert(traced > 0)
assert(by_name == true, tostring(by_name))
assert(no_name and no_name:match("^dns failure: "), tostring(no_name))
assert(#cancelled == 1 and cancelled[1] == "closed", tostring(cancelled[1]))
-- its lookup still out (or its answer not collected) when lua_close comes
ev.client({ host = "localhost", port = srv:port(), system_id = "exit", password = "pw" }):bind()
srv:close()
collectgarbage()
print(("ok: %d submits, %d receipts, %d traced PDUs"):format(results, receipts, traced))
