-- `make demo`: one OTP through the EngageLab gateway simulator, start to
-- finish, in one process: start the simulator on a free port, bind, send,
-- print the gateway's answer and the delivery receipt, close.

-- From a checkout, use the repository's lua/ and build/ (found relative to
-- this file); installed, the modules are on the default paths.
do
  local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  package.path = dir .. "/../lua/?.lua;" .. dir .. "/../lua/?/init.lua;" .. package.path
  -- build/ holds the Lua 5.4 build; build/5.1/, build/luajit/... the others (make compat)
  local v = rawget(_G, "jit") and "luajit/"
    or _VERSION ~= "Lua 5.4" and _VERSION:sub(5) .. "/" or ""
  package.cpath = dir .. "/../build/" .. v .. "?.so;" .. package.cpath
end

local smpp = require "smpp"
local simulator = require "smpp.simulator"
local cli = require "smpp.cli"

local function fail(what, err, status)
  cli.die("demo", what .. " failed: " .. cli.status_text(err, status))
end

local function line(label, text)
  print(string.format("  %-11s %s", label, text))
end

-- Receipt dates are YYMMDDhhmm[ss] (SMPP 3.4 Appendix B); show them readably.
local function date(s)
  local y, mo, d, h, mi, sec = (s or ""):match("^(%d%d)(%d%d)(%d%d)(%d%d)(%d%d)(%d*)$")
  if not y then
    return tostring(s)
  end
  return string.format("20%s-%s-%s %s:%s%s UTC", y, mo, d, h, mi, sec ~= "" and ":" .. sec or "")
end

local sim = assert(simulator { port = 0 })
local port = sim:port()

print("lua-smpp " .. smpp._VERSION .. ": one OTP through the EngageLab gateway simulator\n")
line("gateway", string.format("simulator on 127.0.0.1:%d, account \"test\"", port))

local client = smpp.client {
  host = "127.0.0.1", port = port, system_id = "test", password = "secret",
}
local ok, err, status = client:bind()
if not ok then
  fail("bind", err, status)
end
line("bind", "bound as " .. tostring(client))

local otp = { to = "+6598765432", template = "otp-login", code = 123456 }
local fields = assert(smpp.otp(otp))
line("submit_sm", string.format("service_type %s to %s, template %q, code %s",
  fields.service_type, fields.destination_addr, otp.template, otp.code))
line("", string.format("body %s", smpp.pdu.ucs2_to_utf8(fields.short_message)))
line("", string.format("(UCS2 on the wire: %d bytes, data_coding %d)",
  #fields.short_message, fields.data_coding))

local t0 = smpp.now()
local res
res, err, status = client:submit(fields)
if not res then
  fail("submit", err, status)
end
line("answer", string.format("submit_sm_resp ESME_ROK, message_id %s", res.message_id))

local r
r, err = client:wait_receipt(res.message_id, 10)
if not r then
  fail("waiting for the receipt", err)
end
line("receipt", string.format("%s (err %s, message_state %s %s) after %.1f ms", r.stat,
  tostring(r.err), tostring(r.message_state), tostring(r.state), (smpp.now() - t0) * 1000))
line("", "message_id  " .. tostring(r.message_id))
line("", "submitted   " .. date(r.submit_date))
line("", "done        " .. date(r.done_date))
line("", "raw         " .. tostring(r.raw))

client:close()
sim:close()
line("close", "unbound and closed")
os.exit(r.stat == "DELIVRD" and 0 or 1)
