rockspec_format = "3.0"
package = "lua-smpp-ev"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-smpp/lua-smpp.git",
}
description = {
  summary = "The libev driver of lua-smpp: the fast path for plain Lua programs",
  detailed = [[
smpp.ev runs lua-smpp's protocol session on libev, in C. With it installed,
require "smpp" uses it in plain Lua programs (the "ev" backend); without
it, the LuaSocket backend. Never install it for nginx or Tarantool: they
have their own backends, and smpp.ev refuses to load inside Tarantool.
]],
  license = "MIT",
  labels = { "smpp", "sms", "otp", "libev" },
}
dependencies = {
  "lua >= 5.1",
  "lua-smpp",
}
external_dependencies = {
  LIBEV = { header = "ev.h", library = "ev" },
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
    ["smpp.ev"] = {
      sources = sources("src/smpp_session.c", "src/lsmpp_pdu.c", "src/lsmpp_glue.c",
        "src/lsmpp_ev.c", "src/lsmpp_ev_dns.c", "src/lsmpp_ev_link.c", "src/lsmpp_ev_client.c",
        "src/lsmpp_ev_server.c"),
      incdirs = { "src", "$(LIBEV_INCDIR)" },
      libdirs = { "$(LIBEV_LIBDIR)" },
      -- pthread: host names are looked up on helper threads (glibc 2.34+
      -- has it in libc; older systems and the BSDs need it named).
      libraries = { "ev", "pthread" },
    },
  },
}
