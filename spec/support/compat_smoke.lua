-- Smoke test of the C modules on any Lua from 5.1 to 5.4 and LuaJIT (the
-- specs themselves need 5.3+): the codec both ways, text, receipts, JSON,
-- and one bind/submit/receipt round trip on smpp.ev. Plain Lua 5.1 syntax.
--   LUA_CPATH="build/luajit/?.so;;" luajit spec/support/compat_smoke.lua
local core = require "smpp.core"
local ev = require "smpp.ev"

local function check(cond, what)
  if not cond then
    io.stderr:write("compat: ", what, "\n")
    os.exit(1)
  end
end

local body = assert(core.build_body {
  id = "otp-login", code = "123456", params = { app = "Acme" },
})
local ucs2 = assert(core.utf8_to_ucs2(body))
check(core.ucs2_to_utf8(ucs2) == body, "UCS2 round trip")
local bytes = assert(core.encode {
  command = "submit_sm", sequence_number = 7, service_type = "CODE",
  destination_addr = "+6598765432", data_coding = 8, short_message = ucs2,
  tlvs = { message_state = 2 },
})
local t, nxt = core.decode(bytes)
check(t and t.command == "submit_sm" and t.sequence_number == 7, "decode header")
check(t.destination_addr == "+6598765432" and t.short_message == ucs2, "decode body")
check(t.tlvs.message_state == 2 and nxt == #bytes + 1, "decode TLV")
check(core.encode(t) == bytes, "byte-identical round trip")
local r = core.parse_receipt("id:42 stat:delivrd err:000")
check(r.id == "42", "receipt text")
check(core.parse_body(body).params.app == "Acme", "JSON body")
check(core.status_name(0x45) == "ESME_RSUBMITFAIL", "status names")

local receipts, answered = 0, nil
local srv = assert(ev.server {
  port = 0,
  on_submit = function(conn, pdu)
    conn:deliver({ destination_addr = pdu.destination_addr,
                   short_message = "id:m1 stat:DELIVRD err:000",
                   tlvs = { receipted_message_id = "m1", message_state = 2 } },
                 function() end)
    return 0, "m1"
  end,
})
local c = ev.client { port = srv:port(), system_id = "compat", password = "pw" }
c:on_receipt(function(rc)
  check(rc.message_id == "m1" and rc.stat == "DELIVRD", "receipt table")
  receipts = receipts + 1
end)
c:bind(function(ok, err)
  check(ok, "bind: " .. tostring(err))
  c:submit({ destination_addr = "+6598765432", short_message = body },
           function(res, err2) answered = res and res.message_id or err2 end)
end)
local deadline = ev.now() + 5
while (receipts == 0 or answered == nil) and ev.now() < deadline do
  ev.run_once()
end
check(answered == "m1" and receipts == 1, "round trip over smpp.ev")
c:close()
srv:close()
print("compat ok: " .. (jit and jit.version or _VERSION))
