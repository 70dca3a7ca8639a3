--- Where errors of the functions a backend calls go (timers, threads, and
-- through `call` every handler the driver calls): one piece for every
-- backend, each saying lines in its host's own log.
--
--   local errors = require("smpp.backend.errors").new(function(line)
--     io.stderr:write("smpp.socket: ", line, "\n")
--   end)
--   B.on_error, B.call = errors.on_error, errors.call
--   errors.report(msg)   -- a failure the backend found itself
--
-- @module smpp.backend.errors

local compat = require "smpp.compat"

local type = type
local error = error
local tostring = tostring
local xpcall = compat.xpcall
local tb = debug.traceback
local str_find = string.find
local str_sub = string.sub

local _M = {}

--- The error functions of one backend. `say(line)` writes one line to the
-- host's log (the default handler gives it the message's first line).
function _M.new(say)
  local function default_handler(msg)
    msg = tostring(msg)
    local nl = str_find(msg, "\n", 1, true)
    say("error in callback: " .. (nl and str_sub(msg, 1, nl - 1) or msg))
  end

  local handler = default_handler
  local E = {}

  --- Set where errors of the functions the backend calls go.
  -- @tparam function|nil fn `fn(msg_with_traceback)`; nil restores the
  --   default, one line in the host's log
  -- @treturn function|nil the previous handler (nil for the default)
  function E.on_error(fn)
    if fn ~= nil and type(fn) ~= "function" then
      error("on_error: expected a function or nil, got " .. type(fn), 2)
    end
    local prev = handler
    handler = fn or default_handler
    return prev ~= default_handler and prev or nil
  end

  --- Hand `msg` to the handler; a handler that fails is said in the log.
  function E.report(msg)
    local ok, err = xpcall(handler, tb, msg)
    if not ok then
      say("error in on_error handler: " .. tostring(err))
    end
  end

  local report = E.report

  local function after_call(ok, ...)
    if not ok then
      report(...)
      return false
    end
    return true, ...
  end

  --- Call `fn(...)`; an error goes, with its traceback, to the handler.
  -- Returns true and fn's results, or false.
  function E.call(fn, ...)
    return after_call(xpcall(fn, tb, ...))
  end

  return E
end

return _M
