-- core.session on any Lua from 5.1 to 5.4 and LuaJIT (spec/session_spec.lua
-- needs 5.3+): a client and a server session wired together in memory run
-- bind, submit, a receipt before the answer, and unbind; tokens of several
-- types come back; a session with tokens outstanding is collected. Plain
-- Lua 5.1 syntax.
--   LUA_CPATH="build/luajit/?.so;;" luajit spec/support/session_smoke.lua
package.path = "spec/?.lua;" .. package.path
local core = require "smpp.core"
local peer = require "support.session_peer"

local events, wire = peer.events, peer.wire

local function check(cond, what)
  assert(cond, "session smoke: " .. what)
end

local c = core.session({ system_id = "test", password = "secret", enquire_link_interval = 0 }, 0)
local s = core.session({ role = "server" }, 0)
check(c:connected(0), "connected")
wire(c, s, 0)
local ev = events(s, 0)
check(ev[1][1] == "bind_request" and ev[1][2] == "test" and ev[1][3] == "secret", "bind_request")
check(s:accept_bind(0, 0), "accept_bind")
wire(c, s, 0)
check(events(c, 0)[1][1] == "bound", "bound")

local tok = { "table token" }
check(c:submit({ destination_addr = "+6598765432", short_message = "hi" }, tok, 1), "submit")
check(c:submit({ destination_addr = "+6598765432", short_message = "hi" }, 42, 1), "submit 2")
wire(c, s, 1)
local reqs = events(s, 1)
check(#reqs == 2 and reqs[1][1] == "request", "requests")
check(s:deliver({ short_message = "id:m1 stat:DELIVRD err:000",
                  tlvs = { receipted_message_id = "m1", message_state = 2 } }, "dlr", 1), "deliver")
for _, r in ipairs(reqs) do
  local seq = r[2].sequence_number
  check(s:respond(seq, 0, "m" .. (seq - 1)), "respond")
end
wire(c, s, 1)
ev = events(c, 1)
check(#ev == 3, "three client events")
check(ev[1][1] == "receipt" and ev[1][2].message_id == "m1" and ev[1][2].final == true, "receipt")
check(ev[2][1] == "result" and ev[2][2] == tok and ev[2][3].message_id == "m1", "result 1")
check(ev[3][1] == "result" and ev[3][2] == 42 and ev[3][3].message_id == "m2", "result 2")
wire(c, s, 1)
ev = events(s, 1)
check(ev[1][1] == "result" and ev[1][2] == "dlr", "deliver result")

c:close(true, 2)
wire(c, s, 2)
ev = events(s, 2)
check(ev[1][1] == "closed" and ev[1][2] == "peer unbind", "server closed")
wire(c, s, 2)
ev = events(c, 2)
check(ev[1][1] == "closed" and ev[1][2] == "closed", "client closed")
check(c:stats().receipts == 1 and c:stats().pdus_in == 5, "stats")

-- Collected with tokens outstanding, one of them referring back to it.
local weak = setmetatable({}, { __mode = "k" })
do
  local q = core.session({ system_id = "t", password = "p" }, 0)
  local back = { q }
  weak[back] = true
  q:submit({ destination_addr = "1" }, back, 0)
  weak[q] = true
end
for _ = 1, 3 do collectgarbage() end
check(next(weak) == nil, "collected")
local jit = rawget(_G, "jit")
print("ok: bind, submit, receipt, unbind and collection on " .. (jit and jit.version or _VERSION))
