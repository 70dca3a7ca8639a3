-- In-memory peers for core.session, for spec/session_spec.lua and
-- spec/support/session_smoke.lua (plain Lua 5.1 syntax): a session's
-- events, and two sessions wired together with no socket.
local M = {}

--- Every event the session has at `now`, each as a list of its values
-- (nil values inside keep their place). "log" events are left out of the
-- list and appended to `logs` (a list of { level, message }) when given.
function M.events(s, now, logs)
  local list = {}
  while true do
    local ev = { s:next_event(now) }
    if ev[1] == nil then return list end
    if ev[1] == "log" then
      if logs then logs[#logs + 1] = { ev[2], ev[3] } end
    else
      list[#list + 1] = ev
    end
  end
end

--- Carry the bytes each of `a` and `b` wants written to the other until
-- neither has any (what they answer comes with their next events).
function M.wire(a, b, now)
  for _ = 1, 20 do
    local x, y = a:pending(), b:pending()
    if not x and not y then return end
    if x then a:sent(#x); b:feed(x, now) end
    if y then b:sent(#y); a:feed(y, now) end
  end
end

return M
