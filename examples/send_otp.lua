-- Send one OTP and wait for its delivery receipt, with client:send_otp.
--
--   lua5.4 examples/send_otp.lua                     # against an in-process simulator
--   SMPP_PASSWORD=... lua5.4 examples/send_otp.lua \
--       --host otpsmpp.api.engagelab.cc --port PORT --system-id ID \
--       --to +6598765432 --template otp-login --code 123456
--
-- Options: --host, --port, --system-id (or SMPP_HOST, SMPP_PORT,
-- SMPP_SYSTEM_ID; the password only ever from SMPP_PASSWORD), --to,
-- --template, --code, --language, --wait SECONDS (default 30).

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
  cli.die("send_otp", msg, code)
end

local opts = cli.options("send_otp", arg, {
  host = "value", port = "value", ["system-id"] = "value", to = "value", template = "value",
  code = "value", language = "value", wait = "value" })

local conn, err = cli.gateway(opts)
local sim, status
if err then
  die(err, 2)
elseif not conn then
  sim, conn = cli.simulator()
  print(string.format("using the simulator on 127.0.0.1:%d", conn.port))
end

local client = smpp.client(conn)
local ok
ok, err, status = client:bind()
if not ok then
  die(string.format("bind to %s:%d failed: %s", conn.host, conn.port, cli.status_text(err, status)))
end

local res
res, err, status = client:send_otp {
  to = opts.to or "+6598765432",
  template = opts.template or "otp-login",
  code = opts.code or "123456",
  language = opts.language,
  wait_receipt = tonumber(opts.wait or "30"),
}
if not res then
  client:close()
  die("not sent: " .. cli.status_text(err, status))
end

print("message_id " .. res.message_id)
if res.receipt then
  print(string.format("receipt    %s err %s done %s", res.stat, tostring(res.err),
    tostring(res.receipt.done_date)))
else
  print("receipt    none (" .. tostring(res.receipt_err) .. ")")
end

client:close()
if sim then
  sim:close()
end
os.exit(res.stat == "DELIVRD" and 0 or 1)
