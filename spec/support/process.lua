-- The checkout's programs (bin/, examples/) run as child processes, the
-- way users and their harnesses run them, for the specs of those programs.
--
--   local process = require "support.process"   -- (spec/ is on package.path)
--   local code, out, err = process.run(process.LUA .. " bin/smpp-send --help")
--   local sim = process.sim("--receipt-delay 30")  -- bin/smpp-sim on a free port
--   sim.port; sim.stop("TERM"); sim.stderr()
--   local code, out = process.lua('print(require("smpp").backend())')

local compat = require "support.compat"

local M = {}

M.LUA = os.getenv("LUA") or "lua5.4"

do
  local p = io.popen("pwd")
  M.ROOT = p:read("*l")
  p:close()
end

-- The caller's shell may point at a real gateway: no child sees it.
local CLEAN_ENV = "env -u SMPP_HOST -u SMPP_PORT -u SMPP_SYSTEM_ID -u SMPP_PASSWORD"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  os.remove(path)
  return s
end

-- Run the shell command line cmd with a clean environment plus `env`
-- ("NAME=value ...", optional) and no stdin; returns its exit status,
-- stdout and stderr.
function M.run(cmd, env)
  local out, err = os.tmpname(), os.tmpname()
  local _, _, code = compat.execute(string.format("%s %s %s >%s 2>%s </dev/null", CLEAN_ENV,
                                              env or "", cmd, out, err))
  return code, slurp(out), slurp(err)
end

-- Run the Lua chunk `code` in a fresh interpreter with this process's
-- package paths, a clean environment plus `env` (env(1) words such as
-- "-u SMPP_BACKEND SMPP_BACKEND=ev", optional), killed after 10 s (a wait
-- that spins must fail the test, not stall the suite). Returns its exit
-- status and what it wrote to stdout and stderr, together.
function M.lua(code, env)
  local out = os.tmpname()
  local cmd = string.format("%s %s LUA_PATH='%s' LUA_CPATH='%s' timeout 10 %s -e '%s' >%s 2>&1",
                            CLEAN_ENV, env or "", package.path, package.cpath, M.LUA, code, out)
  local _, _, code_ = compat.execute(cmd)
  return code_, slurp(out)
end

-- Start bin/smpp-sim --port 0 with `args` (and `env`, "NAME=value ...",
-- optional), from another directory (it must find the checkout's modules
-- relative to itself), and read the line it prints once it listens.
-- Returns a handle: pid, line, port (nil when the line did not come),
-- stderr() (what it wrote there so far), and stop([signal]) -> ok, how,
-- code (its exit; default signal TERM; later calls do nothing).
function M.sim(args, env)
  local errfile = os.tmpname()
  -- exec all the way down, so the pid printed is the simulator's and the
  -- exit status popen reports is its own.
  local cmd = string.format("exec sh -c 'cd /tmp; echo $$; exec %s %s %s %s/bin/smpp-sim "
                            .. "--port 0 %s' 2>%s", CLEAN_ENV, env or "", M.LUA, M.ROOT,
                            args or "", errfile)
  local p = compat.popen(cmd)
  local h = { pid = tonumber(p:read("*l")) }
  h.line = p:read("*l")
  h.port = h.line and tonumber(h.line:match("^smpp%-sim listening on [%d.]+:(%d+)$"))
  local err
  function h.stderr()
    if err then return err end
    local f = io.open(errfile, "r")
    local s = f and f:read("*a") or ""
    if f then f:close() end
    return s
  end
  function h.stop(sig)
    if err then return nil end
    os.execute(string.format("kill -%s %d", sig or "TERM", h.pid))
    p:read("*a")
    local ok, how, code = p:close()
    err = slurp(errfile)
    return ok, how, code
  end
  return h
end

return M
