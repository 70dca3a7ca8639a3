#!/usr/bin/env tarantool
-- Send one OTP from a Tarantool fiber and print its delivery receipt.
--
--   tarantool examples/tarantool/app.lua             # against a simulator in this instance
--   SMPP_HOST=127.0.0.1 SMPP_PORT=2775 SMPP_SYSTEM_ID=test SMPP_PASSWORD=secret \
--     tarantool examples/tarantool/app.lua --to +6598765432 --code 123456
--
-- Inside Tarantool `require "smpp"` uses the tarantool backend (fibers,
-- fiber.cond, Tarantool's sockets): each call that waits yields its fiber
-- only. Never load smpp.ev here (it refuses: Tarantool runs its own libev).
-- The C module is the LuaJIT build (make compat: build/luajit/smpp/core.so;
-- installed: `tarantoolctl rocks make` or luarocks --lua-version 5.1).

do
  local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  package.path = dir .. "/../../lua/?.lua;" .. dir .. "/../../lua/?/init.lua;" .. package.path
  package.cpath = dir .. "/../../build/luajit/?.so;" .. package.cpath
end

local fiber = require "fiber"
local smpp = require "smpp"
local cli = require "smpp.cli"

local function die(msg, code)
  io.stderr:write("app.lua: ", msg, "\n")
  os.exit(code or 1)
end

local opts = cli.options("app.lua", arg, { to = "value", template = "value", code = "value",
                                           wait = "value" })
local conn, err = cli.gateway({})
local sim
if err then
  die(err, 2)
elseif not conn then
  -- No gateway given: the simulator, in this instance, on the same backend.
  sim, conn = cli.simulator()
  print(string.format("using the simulator on 127.0.0.1:%d", conn.port))
end

local exit_code = 1
local worker = fiber.create(function()
  local client = smpp.client(conn)
  local ok, berr, status = client:bind()
  if not ok then
    print("bind failed: " .. cli.status_text(berr, status))
    return
  end
  local res, serr, sstatus = client:send_otp {
    to = opts.to or "+6598765432",
    template = opts.template or "otp-login",
    code = opts.code or "123456",
    wait_receipt = tonumber(opts.wait or "30"),
  }
  if not res then
    print("not sent: " .. cli.status_text(serr, sstatus))
  else
    print("message_id " .. res.message_id)
    if res.receipt then
      print(string.format("receipt    %s err %s", res.stat, tostring(res.err)))
      if res.stat == "DELIVRD" then exit_code = 0 end
    else
      print("receipt    none (" .. tostring(res.receipt_err) .. ")")
    end
  end
  client:close()
end)
worker:set_joinable(true)
worker:join()
if sim then sim:close() end
os.exit(exit_code)
