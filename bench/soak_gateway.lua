-- The soak's gateway: bin/smpp-sim's simulator in a process of its own,
-- which also drops every link every `drop_every` seconds (as a gateway that
-- crashed and came back would), and prints its counters when told to stop.
--
--   lua5.4 bench/soak_gateway.lua DROP_EVERY RECEIPT_DELAY
--   prints "PORT <n>" once listening; SIGTERM ends it.

package.path = "lua/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local smpp = require "smpp"

local drop_every = tonumber(arg[1]) or 60
local receipt_delay = tonumber(arg[2]) or 0

local sim = assert(smpp.simulator { port = 0, receipt_delay = receipt_delay })
io.stdout:write("PORT ", sim:port(), "\n")
io.stdout:flush()

local drops = 0
if drop_every > 0 then
  smpp.spawn(function()
    while true do
      smpp.sleep(drop_every)
      drops = drops + sim:drop_links()
    end
  end)
end
-- libev turns SIGTERM into a loop event: the counters are printed from an
-- ordinary callback.
local ev = require "smpp.ev"
local term = ev.signal(15, function()
  local s = sim:stats()
  io.stderr:write(("gateway: submits %d, receipts sent %d, acked %d, resent %d, pending %d, "
    .. "links dropped %d\n"):format(s.submits, s.receipts_sent, s.receipts_acked,
    s.receipts_resent, s.receipts_pending, drops))
  sim:close()
  smpp.stop()
end)
smpp.run()
term:stop()
