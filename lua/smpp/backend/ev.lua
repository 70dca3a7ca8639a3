--- The libev backend: `smpp.ev`'s loop, timers and its C clients and
-- servers, which drive `core.session`'s C session directly (the fast path).
-- The only file of the Lua layer that loads `smpp.ev`.
-- @module smpp.backend.ev

local ev = require "smpp.ev"

return {
  name = "ev",
  now = ev.now,
  -- ev.timer(after, fn) is one-shot; its third argument (repeat) is
  -- smpp.ev's own, not part of the backend's face.
  timer = ev.timer,
  on_error = ev.on_error,
  run_once = ev.run_once,
  client = ev.client,
  server = ev.server,
}
