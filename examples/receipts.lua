-- Print delivery receipts as they come, with client:on_receipt.
--
--   lua5.4 examples/receipts.lua            # simulator: sends 5 OTPs, one undeliverable
--   SMPP_PASSWORD=... lua5.4 examples/receipts.lua --host H --port P \
--       --system-id ID --duration 600       # listen to a gateway for 10 minutes
--
-- Against the simulator it sends --count OTPs (5 by default; numbers
-- starting +999 are made undeliverable) and stops when every receipt is
-- in. Against a gateway it only listens, for --duration seconds (0:
-- until interrupted), unless --to and --count ask it to send too: the
-- gateway sends an account's receipts to its bound session.
--
-- Options: --count N, --to NUMBER, --template ID (otp-login),
-- --duration SECONDS, --host/--port/--system-id (or SMPP_HOST...;
-- password from SMPP_PASSWORD).

do
  local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  package.path = dir .. "/../lua/?.lua;" .. dir .. "/../lua/?/init.lua;" .. package.path
  -- build/ holds the Lua 5.4 build; build/5.1/, build/luajit/... the others (make compat)
  local v = rawget(_G, "jit") and "luajit/"
    or _VERSION ~= "Lua 5.4" and _VERSION:sub(5) .. "/" or ""
  package.cpath = dir .. "/../build/" .. v .. "?.so;" .. package.cpath
end

local smpp = require "smpp"
local cli = require "smpp.cli"

local function die(msg, code)
  cli.die("receipts", msg, code)
end

local opts = cli.options("receipts", arg, {
  host = "value", port = "value", ["system-id"] = "value", to = "value", template = "value",
  count = "value", duration = "value" })

local conn, err = cli.gateway(opts)
local sim, status, count, duration
if err then
  die(err, 2)
elseif conn then
  count = opts.to and tonumber(opts.count or "1") or 0
  duration = tonumber(opts.duration or "0")
else
  -- A short receipt delay, as a real network has: the receipts then come
  -- after the sends, one by one, while the loop runs.
  sim, conn = cli.simulator { undeliverable = "+999", receipt_delay = 0.1 }
  count = tonumber(opts.count or "5")
  duration = tonumber(opts.duration or "10")
  print(string.format("simulator on 127.0.0.1:%d; numbers starting +999 are undeliverable",
    conn.port))
end
if not count or not duration then
  die("--count and --duration need numbers", 2)
end

local client = smpp.client(conn)
local ok
ok, err, status = client:bind()
if not ok then
  die(string.format("bind to %s:%d failed: %s", conn.host, conn.port, cli.status_text(err, status)))
end

local seen = 0
client:on_receipt(function(r)
  seen = seen + 1
  local t = smpp.now()
  print(string.format("%s.%03d  %-14s %-16s %-8s err %-4s done %s",
    os.date("!%H:%M:%S", math.floor(t)), math.floor(t % 1 * 1000),
    tostring(r.message_id), tostring(r.destination_addr), tostring(r.stat), tostring(r.err),
    tostring(r.done_date)))
  io.stdout:flush()
end)

for n = 1, count do
  -- Every third test number is undeliverable, to show both outcomes.
  local to = opts.to or (n % 3 == 0 and string.format("+999%07d", n)
                                      or string.format("+659%07d", n))
  local res
  res, err, status = client:send_otp { to = to, template = opts.template or "otp-login",
                                       code = string.format("%06d", n) }
  if res then
    print(string.format("sent         %-14s %s", res.message_id, to))
  else
    print(string.format("not sent     %-14s %s: %s", "-", to, cli.status_text(err, status)))
  end
end

-- Wait: for every receipt of what was sent, or for the time allowed.
local deadline = duration > 0 and smpp.now() + duration or math.huge
while (count == 0 or seen < count) and smpp.now() < deadline do
  smpp.sleep(0.05)
end
print(string.format("%d receipt%s", seen, seen == 1 and "" or "s"))

client:close()
if sim then
  sim:close()
end
