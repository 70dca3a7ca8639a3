-- OTPs with receipts through smpp.client, `conc` at a time, on whichever
-- backend the host gives (lua5.4: ev; tarantool: tarantool). Prints one
-- line: backend, messages, seconds, messages/s, CPU µs per message.
--   lua5.4 bench/hosts_client.lua PORT [N [CONC]]
--   tarantool bench/hosts_client.lua PORT [N [CONC]]
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (rawget(_G, "jit") and "build/luajit/?.so;" or "build/?.so;") .. package.cpath

local smpp = require "smpp"
local port = tonumber(arg[1])
local n = tonumber(arg[2] or "20000")
local conc = tonumber(arg[3] or "50")

local c = smpp.client { host = "127.0.0.1", port = port, system_id = "test", password = "secret",
                        window = 100, receipts_keep = 1000 }
assert(c:bind())
local sent, delivered, failed = 0, 0, 0
local t0, c0 = smpp.now(), os.clock()
for _ = 1, conc do
  smpp.spawn(function()
    while sent < n do
      sent = sent + 1
      local r = c:send_otp { to = "+6598765432", template = "otp-login", code = "123456",
                             wait_receipt = 10 }
      if r and r.stat == "DELIVRD" then delivered = delivered + 1 else failed = failed + 1 end
    end
  end)
end
smpp.run()
local wall, cpu = smpp.now() - t0, os.clock() - c0
c:close()
print(string.format("%s %d %.2f %.0f %.1f %d", smpp.backend(), delivered, wall, delivered / wall,
  cpu / delivered * 1e6, failed))
os.exit(failed == 0 and 0 or 1)
