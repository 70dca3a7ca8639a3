std = "lua54"
max_line_length = 100
files["spec/"] = { std = "+busted" }
exclude_files = { "build/", "node_modules/" }
-- Runs on every Lua from 5.1 to 5.4 and LuaJIT.
files["spec/support/compat_smoke.lua"] = { std = "max+luajit" }
-- Run inside nginx (ngx is its global) and Tarantool.
files["lua/smpp/backend/ngx.lua"] = { read_globals = { "ngx" } }
files["lua/smpp/backend/ngx_receipts.lua"] = { read_globals = { "ngx" } }
files["examples/openresty/"] = { globals = { "ngx" } }
