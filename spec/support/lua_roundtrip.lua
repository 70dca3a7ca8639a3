-- The whole Lua layer once, for valgrind (make valgrind) and sanitizer runs:
-- the simulator in-process, a client sending OTPs in every waiting form
-- (blocking, spawned coroutines, callbacks), UNDELIV receipts, a refused
-- bind, a client dropped while bound, then everything closed. Exits 0 when
-- every outcome came as expected.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = package.cpath .. ";build/?.so" -- after any path the caller set
local smpp = require "smpp"

local N = tonumber(arg and arg[1]) or 10
local sim = smpp.simulator { port = 0, undeliverable = "+999" }
local opts = { host = "127.0.0.1", port = sim:port(), system_id = "test", password = "secret" }

local c = smpp.client(opts)
assert(c:bind())

-- blocking, with the receipt
local res = assert(c:send_otp { to = "+6598765432", template = "otp-login", code = "123456",
                                wait_receipt = 5 })
assert(res.stat == "DELIVRD", res.stat)

-- spawned coroutines, each waiting for its own receipt; one undeliverable
local stats = {}
for i = 1, N do
  smpp.spawn(function()
    local to = i == 1 and "+9991234567" or ("+659876" .. string.format("%04d", i))
    local r = assert(c:send_otp { to = to, template = "otp-login", code = tostring(i),
                                  params = { app = "Acme" }, wait_receipt = 5 })
    stats[#stats + 1] = r.stat
  end)
end
smpp.run()
local undeliv = 0
for _, s in ipairs(stats) do if s == "UNDELIV" then undeliv = undeliv + 1 end end
assert(#stats == N and undeliv == 1, "coroutine receipts")

-- callbacks
local done = 0
for i = 1, N do
  assert(c:submit(assert(smpp.otp { to = "+6598765432", template = "otp-login",
                                    code = tostring(i) }), function(r, err)
    assert(r, err)
    done = done + 1
  end))
end
while done < N do smpp.sleep(0.01) end

-- a refused bind, and a client dropped while bound
local bad = smpp.client { host = "127.0.0.1", port = sim:port(), system_id = "test",
                          password = "wrong" }
local ok, err = bad:bind()
assert(not ok and err == "authentication failed", tostring(err))
local dropped = smpp.client(opts)
assert(dropped:bind())
dropped = nil -- luacheck: ignore
collectgarbage()

c:close()
sim:close()
smpp.sleep(0.05)
print(string.format("ok: %d OTPs with receipts, %d undelivered", N + 1, undeliv))
