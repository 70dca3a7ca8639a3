--- The host's primitives the Lua layer runs on: which backend is in use.
--
-- A backend is a table (`lua/smpp/backend/<name>.lua`) that gives
-- `smpp.loop`, `smpp.client` and the simulator what they need of the host:
-- a clock, one-shot timers, where errors of the functions it calls go, a
-- turn of the loop where the program drives it, and SMPP clients and
-- servers (`client(opts)`, `server(opts)`) with `smpp.ev`'s methods. The
-- libev backend has its own in C; every other one gets them from
-- `smpp.driver`, which runs `core.session` over the backend's sockets.
-- README, "Writing a driver", has the whole table.
--
-- One backend serves the whole process, chosen once, on first use: the one
-- given to `use` before that, else the one named by the environment
-- variable SMPP_BACKEND, else the host's own inside Tarantool
-- ("tarantool") and nginx ("ngx"), else "ev" when `smpp.ev` loads, else
-- "socket" (LuaSocket).
--
-- @module smpp.backend

local type = type
local rawget = rawget
local error = error
local pcall = pcall
local ipairs = ipairs
local require = require
local tostring = tostring
local getenv = os.getenv
local str_find = string.find
local str_format = string.format

local _M = { _VERSION = "0.1.0" }

-- What every backend has; `run_once` only where the program drives the
-- loop (ev, socket), so it is not among them.
local REQUIRED = { "name", "now", "timer", "on_error", "client", "server" }

local current

-- The host the process is, when it is one with its own scheduler: there
-- its backend is the only right one (libev inside Tarantool would corrupt
-- its fiber scheduler; a blocking loop inside nginx would stall a worker).
local function hosted_in()
  if rawget(_G, "_TARANTOOL") ~= nil then
    return "tarantool"
  end
  local n = rawget(_G, "ngx")
  if type(n) == "table" and type(n.timer) == "table" and type(n.socket) == "table" then
    return "ngx"
  end
end

-- The backend table named `name`, or nil, err.
local function load(name)
  if not str_find(name, "^[%w_]+$") then
    return nil, str_format("bad backend name %q", name)
  end
  local ok, b = pcall(require, "smpp.backend." .. name)
  if not ok then
    return nil, str_format("backend %q does not load: %s", name, tostring(b))
  end
  return b
end

local function check(b, level)
  for _, k in ipairs(REQUIRED) do
    if b[k] == nil then
      error(str_format("smpp.backend: a backend needs %q", k), level + 1)
    end
  end
  return b
end

--- The backend in use, chosen now when none is yet (see above).
-- Raises when SMPP_BACKEND names one that does not load: a program told to
-- run on a backend must not quietly run on another.
-- @treturn table the backend
function _M.get()
  if current then
    return current
  end
  local name = getenv("SMPP_BACKEND")
  if name and name ~= "" then
    local b, err = load(name)
    if not b then
      error("smpp: SMPP_BACKEND=" .. name .. ": " .. err, 2)
    end
    current = check(b, 2)
    return current
  end
  local hosted = hosted_in()
  if hosted then
    local hb, err = load(hosted)
    if not hb then
      error("smpp: running in " .. hosted .. ", but its backend " .. err, 2)
    end
    current = check(hb, 2)
    return current
  end
  local b = load("ev") or load("socket")
  if not b then
    error("smpp: no backend: smpp.ev (libev) and LuaSocket both fail to load", 2)
  end
  current = check(b, 2)
  return current
end

--- Choose the backend, before anything uses one. Choosing the one already
-- in use again is allowed; another one raises (clients and timers made on
-- the first would be stranded).
-- @tparam string|table b a name ("ev", "socket") or a backend table
-- @treturn table the backend
function _M.use(b)
  local chosen
  if type(b) == "string" then
    local err
    chosen, err = load(b)
    if not chosen then
      error("smpp.use: " .. err, 2)
    end
  elseif type(b) == "table" then
    chosen = b
  else
    error("smpp.use: expected a backend name or table, got " .. type(b), 2)
  end
  check(chosen, 2)
  if current and current ~= chosen then
    error(str_format("smpp.use: backend %q is already in use; choose %q before the first"
      .. " client, timer or wait", current.name, tostring(chosen.name)), 2)
  end
  current = chosen
  return current
end

return _M
