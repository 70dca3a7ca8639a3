--- smpp.cli: what the command-line programs share (bin/smpp-send,
-- bin/smpp-sim, the examples): the option parser, the gateway a program
-- is pointed at, the simulator it falls back to, error lines.
--
--     local cli = require "smpp.cli"
--     local opts, err = cli.parse(arg, { to = "value", param = "list", simulator = "flag" })
--     if not opts then cli.usage_error("smpp-send", err) end
--
-- @module smpp.cli

local compat = require "smpp.compat"

local type = type
local next = next
local pairs = pairs
local error = error
local assert = assert
local require = require
local tostring = tostring
local tonumber = tonumber
local getenv = os.getenv
local os_exit = os.exit
local math_tointeger = compat.tointeger
local str_gsub = string.gsub
local str_match = string.match
local str_format = string.format

local _M = { _VERSION = "0.1.0" }

-- What an option takes (the kinds of cli.parse).
local KINDS = { value = true, list = true, flag = true, optional = true }

--- syntax: opts, err = cli.parse(argv, spec)
-- spec maps each option's name (without the dashes) to what it takes:
-- "value" (`--name VALUE` or `--name=VALUE`; the last one given counts),
-- "list" (the same, repeatable: opts[name] is the list), "flag" (`--name`
-- alone: true) or "optional" (`--name` alone: true, or `--name=VALUE`;
-- never the next argument, so a following option is not swallowed). `-h`
-- stands for `--help` when spec has help. Returns opts, or nil and what
-- is wrong (an unknown option, a missing value...).
function _M.parse(argv, spec)
  for name, kind in pairs(spec) do
    if not KINDS[kind] then
      error(str_format("cli.parse: option '%s' has unknown kind '%s'", tostring(name),
                       tostring(kind)), 2)
    end
  end
  local opts = {}
  local i = 1
  while argv[i] ~= nil do
    local a = argv[i]
    local name, inline = str_match(a, "^%-%-([%w-]+)=(.*)$")
    name = name or str_match(a, "^%-%-([%w-]+)$")
    if a == "-h" and spec.help then name = "help" end
    if not name then
      return nil, "unexpected argument " .. a
    end
    local kind = spec[name]
    if not kind then
      return nil, "unknown option --" .. name
    end
    if kind == "flag" then
      if inline then return nil, "--" .. name .. " takes no value" end
      opts[name] = true
    elseif kind == "optional" then
      opts[name] = inline or true
    else
      local v = inline
      if v == nil then
        i = i + 1
        v = argv[i]
        if v == nil then return nil, "--" .. name .. " needs a value" end
      end
      if kind == "list" then
        local list = opts[name] or {}
        list[#list + 1] = v
        opts[name] = list
      else
        opts[name] = v
      end
    end
    i = i + 1
  end
  return opts
end

--- syntax: opts = cli.options(prog, argv, spec)
-- cli.parse, for a program: what is wrong with the command line ends it
-- with exit status 2 (a usage error pointing at --help when spec has help).
function _M.options(prog, argv, spec)
  local opts, err = _M.parse(argv or {}, spec)
  if opts then return opts end
  if spec.help then _M.usage_error(prog, err) end
  _M.die(prog, err, 2)
end

--- syntax: conn, err = cli.gateway(opts [, ask_password [, env]])
-- The gateway a program is pointed at: opts.host, opts.port and
-- opts["system-id"] (from --host, --port, --system-id), else SMPP_HOST,
-- SMPP_PORT (2775) and SMPP_SYSTEM_ID; the password only ever from
-- SMPP_PASSWORD (argv is visible to other users), else from
-- ask_password() when given. env reads the environment (os.getenv by
-- default). Returns {host, port, system_id, password}; nil when no host
-- is named; nil, err when something is missing or wrong.
function _M.gateway(opts, ask_password, env)
  env = env or getenv
  local host = opts.host or env("SMPP_HOST")
  if not host then return nil end
  local port = math_tointeger(tonumber(opts.port or env("SMPP_PORT") or "2775"))
  if not port or port < 1 or port > 65535 then
    return nil, "--port must be 1..65535"
  end
  local system_id = opts["system-id"] or env("SMPP_SYSTEM_ID")
  local password = system_id and (env("SMPP_PASSWORD") or (ask_password and ask_password()))
  if not system_id or not password then
    return nil, "a gateway needs --system-id (or SMPP_SYSTEM_ID) and SMPP_PASSWORD"
  end
  return { host = host, port = port, system_id = system_id, password = password }
end

--- syntax: sim, conn = cli.simulator(opts)
-- A simulator in this process on a free port (opts: smpp.simulator's
-- options), and the connection settings of its default account. Its own
-- account always: SMPP_PASSWORD may hold a real gateway's password, which
-- the simulator would (rightly) refuse.
function _M.simulator(opts)
  local simulator = require "smpp.simulator"
  opts = opts or {}
  opts.port = opts.port or 0
  local sim = assert(simulator(opts))
  local system_id, password = next(simulator.DEFAULT_ACCOUNTS)
  return sim, { host = "127.0.0.1", port = sim:port(), system_id = system_id,
                password = password }
end

--- syntax: text = cli.status_text(err, status)
-- An error token with its command_status, when there is one:
-- "ESME_RSUBMITFAIL (0x00000045)".
function _M.status_text(err, status)
  if type(status) == "number" then return str_format("%s (0x%08X)", tostring(err), status) end
  return tostring(err)
end

--- syntax: cli.die(prog, msg [, code])
-- Writes "prog: msg" on stderr and exits with code (default 1).
function _M.die(prog, msg, code)
  io.stderr:write(prog, ": ", msg, "\n")
  os_exit(code or 1)
end

--- syntax: cli.usage_error(prog, msg)
-- A usage error: "prog: msg", a pointer to --help, exit status 2. A
-- message raised by a Lua call (with "file:line: ") is shown without
-- where it was raised.
function _M.usage_error(prog, msg)
  msg = str_gsub(tostring(msg), "^[^:]*:%d+: ", "", 1)
  io.stderr:write(prog, ": ", msg, "\n(try ", prog, " --help)\n")
  os_exit(2)
end

return _M
