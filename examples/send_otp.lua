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
  package.cpath = dir .. "/../build/?.so;" .. package.cpath
end

local smpp = require "smpp"

local function die(msg, code)
  io.stderr:write("send_otp: ", msg, "\n")
  os.exit(code or 1)
end

-- --name value or --name=value; every option takes a value.
local opts = {}
do
  local i = 1
  while arg[i] do
    local name, value = arg[i]:match("^%-%-([%w-]+)=(.*)$")
    if not name then
      name = arg[i]:match("^%-%-([%w-]+)$")
      if not name then
        die("unexpected argument " .. arg[i], 2)
      end
      i = i + 1
      value = arg[i]
      if value == nil then
        die("--" .. name .. " needs a value", 2)
      end
    end
    opts[name] = value
    i = i + 1
  end
end

local host = opts.host or os.getenv("SMPP_HOST")
local conn, sim
if host then
  conn = {
    host = host,
    port = tonumber(opts.port or os.getenv("SMPP_PORT") or "2775"),
    system_id = opts["system-id"] or os.getenv("SMPP_SYSTEM_ID"),
    password = os.getenv("SMPP_PASSWORD"),
  }
  if not conn.system_id or not conn.password then
    die("a gateway needs --system-id (or SMPP_SYSTEM_ID) and SMPP_PASSWORD", 2)
  end
else
  sim = assert(require("smpp.simulator") { port = 0 })
  conn = { host = "127.0.0.1", port = sim:port(), system_id = "test", password = "secret" }
  print(string.format("using the simulator on 127.0.0.1:%d", conn.port))
end

local client = smpp.client(conn)
local ok, err, status = client:bind()
if not ok then
  die(string.format("bind to %s:%d failed: %s%s", conn.host, conn.port, err,
    status and string.format(" (0x%08X)", status) or ""))
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
  die(string.format("not sent: %s%s", err, status and string.format(" (0x%08X)", status) or ""))
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
