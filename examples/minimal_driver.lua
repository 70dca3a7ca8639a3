-- A complete SMPP driver in about 50 lines of code: smpp.core's session over a plain
-- LuaSocket socket, no event loop. Binds, sends one OTP, waits for its
-- final receipt, unbinds. README's "Writing a driver" walks through it.
--
--   lua5.4 examples/minimal_driver.lua [host [port]]   (default 127.0.0.1 2775)
local core = require "smpp.core"
local template = require "smpp.template"
local socket = require "socket"

local host, port = arg[1] or "127.0.0.1", tonumber(arg[2]) or 2775
local s = core.session { system_id = os.getenv("SMPP_SYSTEM_ID") or "test",
                         password = os.getenv("SMPP_PASSWORD") or "secret" }
local sock = assert(socket.connect(host, port))
sock:setoption("tcp-nodelay", true)
sock:settimeout(0)
s:connected()                                   -- queues bind_transceiver

-- One turn of the loop: write what the session has, wait for bytes or its
-- next deadline, feed what came, run its timers.
local function turn()
  local out = s:pending()
  while out do
    local last, err, partial = sock:send(out)
    s:sent(last or partial)
    if err == "closed" then return s:fail("connection lost") end
    if not last then socket.select(nil, { sock }, 1) end   -- socket full
    out = s:pending()
  end
  local deadline = s:deadline()
  socket.select({ sock }, nil, deadline and math.max(0, deadline - core.now()))
  local data, err, partial = sock:receive(65536)
  data = data or partial
  if data ~= "" then s:feed(data) end
  if err == "closed" then s:fail("connection lost") end
  s:tick()
end

-- The next event of the session, turning the loop until there is one.
local function got(kind, ...)
  if kind then return kind, ... end
  turn()
  return got(s:next_event())
end
local function event() return got(s:next_event()) end

local first, err, status = event()
assert(first == "bound", ("bind failed: %s %s"):format(tostring(err), tostring(status)))
assert(s:submit(template.otp { to = "+6598765432", template = "otp-login", code = "123456" }, 1))

-- A receipt may come before its submit's answer (PROTOCOL.md): keep it.
local receipts, message_id = {}, nil
while not (message_id and receipts[message_id]) do
  local kind, a, b, c = event()
  if kind == "result" then
    message_id = assert(b, c).message_id
    print("message_id: " .. message_id)
  elseif kind == "receipt" and a.final then
    receipts[a.message_id] = a
  elseif kind == "closed" then
    error("link closed: " .. a)
  end
end
print("stat: " .. receipts[message_id].stat)

s:close(true)                                   -- unbind, wait for its answer
repeat until event() == "closed"
sock:close()
