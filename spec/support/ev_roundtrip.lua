-- One full round trip on smpp.ev, for valgrind and sanitizer runs:
--   valgrind --leak-check=full lua5.4 spec/support/ev_roundtrip.lua
-- An ev.server and an ev.client in one loop: bind, submits, receipts via
-- conn:deliver, traces both ways, a timer, a client dropped at __gc while
-- connected, a refused bind, then every object closed. Exits 0 when every
-- expected callback ran.
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

local t = ev.timer(5, function() ev.stop() end)
ev.timer(0.01, function()
  if closed == 1 and refused then ev.stop() end
end, 0.01)
ev.run()
t:stop()
assert(closed == 1, "client did not close")
assert(results == N and receipts == N, ("results %d receipts %d"):format(results, receipts))
assert(refused == "connection refused", tostring(refused))
assert(traced > 0)
srv:close()
collectgarbage()
print(("ok: %d submits, %d receipts, %d traced PDUs"):format(results, receipts, traced))
