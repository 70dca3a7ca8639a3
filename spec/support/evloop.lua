-- Helpers for the smpp.ev specs: run the shared libev loop until something
-- happens, and make bound clients against an in-process ev.server.
local ev = require "smpp.ev"

local M = {}

-- Run the loop until cond() is true; false after `timeout` seconds.
-- A ticking timer keeps run_once from blocking for ever when nothing else
-- is active.
function M.wait(cond, timeout)
  ev.run_once(false) -- refresh ev.now() after time spent outside the loop
  local deadline = ev.now() + (timeout or 3)
  local tick = ev.timer(0.01, function() end, 0.01)
  local ok = true
  while not cond() do
    if ev.now() > deadline then
      ok = false
      break
    end
    ev.run_once()
  end
  tick:stop()
  return ok
end

-- Let the loop run for `seconds`.
function M.sleep(seconds)
  local done = false
  local t = ev.timer(seconds, function() done = true end)
  M.wait(function() return done end, seconds + 5)
  t:stop()
end

-- Teardown shared by the ev specs: close every client and the server,
-- wait for the clients to finish closing, and put the error handler back.
function M.close_all(clients, srv)
  for _, c in ipairs(clients) do c:close() end
  if srv then srv:close() end
  M.wait(function()
    for _, c in ipairs(clients) do
      if c:state() ~= "closed" and c:state() ~= "idle" then return false end
    end
    return true
  end, 2)
  ev.on_error(nil)
end

local function merge(a, b)
  local t = {}
  for k, v in pairs(a or {}) do t[k] = v end
  for k, v in pairs(b or {}) do t[k] = v end
  return t
end

-- An ev.server on a free port; options override the defaults.
function M.server(opts)
  return assert(ev.server(merge({ host = "127.0.0.1", port = 0 }, opts)))
end

-- A client for srv (or a port); not bound yet.
function M.client(port, opts)
  return ev.client(merge({
    host = "127.0.0.1", port = port, system_id = "test", password = "secret",
    response_timeout = 2, bind_timeout = 2, connect_timeout = 2,
  }, opts))
end

-- A bound client; fails the test if the bind does not succeed.
function M.bound(port, opts)
  local c = M.client(port, opts)
  local res
  assert(c:bind(function(ok, err, status) res = { ok, err, status } end))
  assert(M.wait(function() return res end), "bind gave no answer")
  assert(res[1], "bind failed: " .. tostring(res[2]))
  return c
end

-- Close c (gracefully) and wait until its session ended.
function M.close(c)
  c:close()
  M.wait(function() return c:state() == "closed" end)
end

M.receipt_text = "id:%s sub:001 dlvrd:001 submit date:2501011200 "
  .. "done date:2501011201 stat:DELIVRD err:000 text:hello"

return M
