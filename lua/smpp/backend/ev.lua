--- The libev backend: `smpp.ev`'s loop, timers and its C clients and
-- servers, which drive `core.session`'s C session directly (the fast path).
-- The only file of the Lua layer that loads `smpp.ev`.
--
-- Timers: smpp.timers' heap, served by one libev timer due with its first.
-- A libev timer each (a userdata with a finalizer, a registry reference)
-- cost about 2.3 us to make and stop; a wait for a receipt with a time
-- limit makes one per call.
-- @module smpp.backend.ev

local ev = require "smpp.ev"

local ev_timer, ev_call, now = ev.timer, ev.call, ev.now

local ticker      -- the libev timer serving the heap, nil when none runs
local ticker_at   -- when it is due
local timers

-- (Re)start the ticker for the first timer, unless it is due by then.
local function arm()
  local at = timers:next_at()
  if at == nil then
    if ticker then
      ticker:stop()
      ticker_at = nil
    end
    return
  end
  if ticker_at and ticker_at <= at and ticker:active() then
    return
  end
  local after = at - now()
  if after < 0 then
    after = 0
  end
  ticker_at = at
  if ticker then
    ticker:again(after)
  else
    ticker = ev_timer(after, function()
      ticker_at = nil
      -- Each timer as the loop calls a callback: an error goes to
      -- on_error's handler and the others still run.
      timers:run_due(ev_call)
      arm()
    end)
  end
end

timers = require("smpp.timers").new(now, function()
  if ticker then
    ticker:stop()
    ticker_at = nil
  end
end)

return {
  name = "ev",
  now = now,
  -- One-shot, `t:stop()`; smpp.ev's own timers (repeating, `again`) are
  -- not part of the backend's face.
  timer = function(after, fn)
    local t = timers:add(after, fn)
    if not ticker_at or t.at < ticker_at then
      arm()
    end
    return t
  end,
  on_error = ev.on_error,
  run_once = ev.run_once,
  client = ev.client,
  server = ev.server,
}
