#!/usr/bin/env tarantool
-- The tarantool backend in real Tarantool (make hosts): a TAP test of the
-- client against bin/smpp-sim in its own process. Run from the checkout:
--   tarantool spec/hosts/tarantool_tap.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/luajit/?.so;" .. package.cpath

local tap = require "tap"
local fiber = require "fiber"
local smpp = require "smpp"

local LUA = os.getenv("LUA") or "lua5.4"
local test = tap.test("smpp on tarantool")
test:plan(14)

-- bin/smpp-sim on `port` (0: a free one) in the background; its port.
local function start_sim(port, extra)
  local out = os.tmpname()
  os.execute(string.format("%s bin/smpp-sim --port %d %s > %s 2>/dev/null & echo $! > %s.pid",
    LUA, port, extra or "", out, out))
  for _ = 1, 100 do
    local f = io.open(out)
    local line = f and f:read("*l")
    if f then f:close() end
    local p = line and tonumber(line:match(":(%d+)$"))
    if p then
      local pf = io.open(out .. ".pid")
      local pid = pf:read("*l")
      pf:close()
      return p, pid
    end
    fiber.sleep(0.05)
  end
  error("the simulator did not start")
end

local function opts(port, extra)
  local t = { host = "127.0.0.1", port = port, system_id = "test", password = "secret",
              reconnect_min = 0.1, reconnect_max = 0.5 }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

test:is(smpp.backend(), "tarantool", "require 'smpp' picks the tarantool backend")
local ok, err = pcall(require, "smpp.ev")
test:ok(not ok and tostring(err):find("not inside Tarantool", 1, true),
  "smpp.ev refuses to load, saying why")

local port, pid = start_sim(0, "--receipt-delay 0.1")

-- Bind and an OTP with its receipt, from a fiber; other fibers go on.
local ticks = 0
local ticker = fiber.create(function()
  while true do
    fiber.sleep(0.01)
    ticks = ticks + 1
  end
end)
local c = smpp.client(opts(port))
test:ok(c:bind(), "bind")
test:is(c:state(), "bound", "state bound")
local res, serr = c:send_otp { to = "+6598765432", template = "otp-login", code = "123456",
                               wait_receipt = 5 }
test:ok(res and res.message_id, "send_otp answered: " .. tostring(res and res.message_id or serr))
test:is(res and res.stat, "DELIVRD", "with its receipt")
test:ok(ticks >= 5, "other fibers ran while it waited (" .. ticks .. " ticks)")

-- Many at once, from many fibers.
local done, delivered = 0, 0
for i = 1, 50 do
  fiber.create(function()
    local r = c:send_otp { to = "+6598765432", template = "otp-login", code = tostring(i),
                           wait_receipt = 5 }
    if r and r.stat == "DELIVRD" then delivered = delivered + 1 end
    done = done + 1
  end)
end
while done < 50 do fiber.sleep(0.01) end
test:is(delivered, 50, "50 fibers, each OTP with its receipt")

-- A simulator restart: the link comes back by itself.
local states = {}
c:on_state(function(state) states[#states + 1] = state end)
os.execute("kill " .. pid)
fiber.sleep(0.3)
local _, pid2 = start_sim(port, "--receipt-delay 0.1")
local t0 = fiber.clock()
while c:state() ~= "bound" and fiber.clock() - t0 < 10 do fiber.sleep(0.05) end
test:is(c:state(), "bound", "rebound after the simulator restart")
test:ok(table.concat(states, ","):find("reconnecting", 1, true),
  "on_state said reconnecting: " .. table.concat(states, ","))
test:is(c:stats().reconnects, 1, "stats().reconnects counts it")
res = c:send_otp { to = "+6598765432", template = "otp-login", code = "1", wait_receipt = 5 }
test:is(res and res.stat, "DELIVRD", "an OTP after the restart")
c:close()

-- A refused bind (bad password): an error, exactly as documented.
local bad = smpp.client(opts(port, { password = "wrong" }))
local bok, berr = bad:bind()
test:ok(not bok and berr == "authentication failed", "bad password: " .. tostring(berr))
test:is(bad:state(), "closed", "and the client is closed")

ticker:cancel()
os.execute("kill " .. pid2)
os.exit(test:check() and 0 or 1)
