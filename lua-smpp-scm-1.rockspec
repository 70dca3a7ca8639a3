rockspec_format = "3.0"
package = "lua-smpp"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-smpp/lua-smpp.git",
}
description = {
  summary = "SMPP 3.4 client for the EngageLab OTP gateway, with a local gateway simulator",
  detailed = [[
A C core (PDU codec, a sans-I/O protocol session, a libev driver) exposed to Lua:
bind, submit OTP and template messages, get their delivery receipts back.
Includes a gateway simulator (smpp.simulator, smpp-sim) for offline tests.
]],
  license = "MIT",
  labels = { "smpp", "sms", "otp", "openresty", "tarantool" },
}
dependencies = {
  -- Every Lua from 5.1 (OpenResty's and Tarantool's LuaJIT) to 5.4.
  "lua >= 5.1",
}
-- No libev here: nginx and Tarantool run their own event loops, and the
-- client runs there on their backends. The libev driver (smpp.ev, the fast
-- path for plain Lua programs) is its own rock: lua-smpp-ev.
external_dependencies = {
  CJSON = { header = "cjson/cJSON.h", library = "cjson" },
}
local codec = {
  "src/smpp_error.c", "src/smpp_pdu.c", "src/smpp_text.c", "src/smpp_receipt.c",
  "src/smpp_status.c",
}
-- Rockspecs run without the standard library: no ipairs here.
local function sources(...)
  local list, extra = {}, { ... }
  for i = 1, #codec do list[#list + 1] = codec[i] end
  for i = 1, #extra do list[#list + 1] = extra[i] end
  return list
end
build = {
  type = "builtin",
  modules = {
    ["smpp"] = "lua/smpp.lua",
    ["smpp.client"] = "lua/smpp/client.lua",
    ["smpp.receipts"] = "lua/smpp/receipts.lua",
    ["smpp.histogram"] = "lua/smpp/histogram.lua",
    ["smpp.timers"] = "lua/smpp/timers.lua",
    ["smpp.pool"] = "lua/smpp/pool.lua",
    ["smpp.template"] = "lua/smpp/template.lua",
    ["smpp.loop"] = "lua/smpp/loop.lua",
    ["smpp.compat"] = "lua/smpp/compat.lua",
    ["smpp.backend"] = "lua/smpp/backend.lua",
    ["smpp.backend.ev"] = "lua/smpp/backend/ev.lua",
    ["smpp.backend.errors"] = "lua/smpp/backend/errors.lua",
    -- LuaSocket's backend: needs LuaSocket (Debian's lua-socket, or the
    -- luasocket rock), which only this backend loads.
    ["smpp.backend.socket"] = "lua/smpp/backend/socket.lua",
    ["smpp.driver"] = "lua/smpp/driver.lua",
    -- Loaded only inside nginx and Tarantool (require "smpp" picks them).
    ["smpp.backend.ngx"] = "lua/smpp/backend/ngx.lua",
    ["smpp.backend.ngx_receipts"] = "lua/smpp/backend/ngx_receipts.lua",
    ["smpp.backend.tarantool"] = "lua/smpp/backend/tarantool.lua",
    ["smpp.pdu"] = "lua/smpp/pdu.lua",
    ["smpp.simulator"] = "lua/smpp/simulator.lua",
    ["smpp.simulator.options"] = "lua/smpp/simulator/options.lua",
    ["smpp.simulator.rules"] = "lua/smpp/simulator/rules.lua",
    ["smpp.simulator.receipts"] = "lua/smpp/simulator/receipts.lua",
    ["smpp.simulator.due"] = "lua/smpp/simulator/due.lua",
    ["smpp.simulator.delivery"] = "lua/smpp/simulator/delivery.lua",
    ["smpp.simulator.log"] = "lua/smpp/simulator/log.lua",
    ["smpp.cli"] = "lua/smpp/cli.lua",
    ["smpp.core"] = {
      sources = sources("src/smpp_session.c", "src/lsmpp_pdu.c", "src/lsmpp_json.c",
        "src/lsmpp_glue.c", "src/lsmpp_session.c", "src/lsmpp_store.c", "src/lsmpp_core.c"),
      incdirs = { "src", "$(CJSON_INCDIR)", "$(CJSON_INCDIR)/cjson" },
      libdirs = { "$(CJSON_LIBDIR)" },
      libraries = { "cjson" },
    },
  },
  install = {
    bin = {
      ["smpp-sim"] = "bin/smpp-sim",
      ["smpp-send"] = "bin/smpp-send",
    },
  },
  copy_directories = { "doc", "examples" },
}
