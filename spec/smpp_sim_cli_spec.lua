-- bin/smpp-sim: the simulator as a program, run as a child process the way
-- a user's test harness runs it.

local ev = require "smpp.ev"
local pdu = require "smpp.pdu"
local socket = require "socket"

local gettime = socket.gettime
local LUA = os.getenv("LUA") or "lua5.4"
local ROOT = io.popen("pwd"):read("l")
local SIM = ROOT .. "/bin/smpp-sim"

local function wait_until(cond, timeout)
  local deadline = gettime() + (timeout or 3)
  local guard = ev.timer(0.001, function() end, 0.001)
  local ok = true
  while not cond() do
    if gettime() > deadline then
      ok = false
      break
    end
    ev.run_once()
  end
  guard:stop()
  return ok
end

-- Start bin/smpp-sim from another directory (it must find the checkout's
-- modules relative to itself). Returns a handle with pid, port, stderr path.
local function spawn(args)
  local errfile = os.tmpname()
  -- exec all the way down, so the pid printed is the simulator's and the
  -- exit status popen reports is its own.
  local cmd = string.format("exec sh -c 'cd /tmp; echo $$; exec %s %s %s' 2>%s", LUA, SIM,
                            args or "", errfile)
  local p = assert(io.popen(cmd, "r"))
  local pid = tonumber(p:read("l"))
  local line = p:read("l")
  local port = line and tonumber(line:match("^smpp%-sim listening on 127%.0%.0%.1:(%d+)$"))
  return { p = p, pid = pid, line = line, port = port, errfile = errfile }
end

local function stderr_of(h)
  local f = io.open(h.errfile, "r")
  local s = f and f:read("a") or ""
  if f then f:close() end
  return s
end

-- Send a signal and collect the exit: ok, how ("exit"/"signal"), code.
local function stop(h, sig)
  os.execute(string.format("kill -%s %d", sig or "TERM", h.pid))
  h.p:read("a")
  local ok, how, code = h.p:close()
  h.stopped = true
  return ok, how, code
end

describe("bin/smpp-sim", function()
  local h

  after_each(function()
    if h and not h.stopped then stop(h, "KILL") end
    if h then os.remove(h.errfile) end
    h = nil
  end)

  it("prints usage for --help and exits 0", function()
    local p = io.popen(LUA .. " " .. SIM .. " --help")
    local out = p:read("a")
    local ok, how, code = p:close()
    assert.is_true(ok)
    assert.are.equal("exit", how)
    assert.are.equal(0, code)
    assert.matches("usage: smpp%-sim", out)
    for _, opt in ipairs { "--host", "--port", "--account", "--template", "--receipt-delay",
                           "--receipt-esm-class", "--undeliv-prefix", "--fail-rate",
                           "--fail-status", "--log" } do
      assert.is_truthy(out:find(opt, 1, true), opt)
    end
  end)

  it("exits 2 with a message for an unknown option", function()
    local p = io.popen(LUA .. " " .. SIM .. " --bogus 2>&1")
    local out = p:read("a")
    local _, how, code = p:close()
    assert.are.equal("exit", how)
    assert.are.equal(2, code)
    assert.matches("unknown option %-%-bogus", out)
  end)

  it("prints the port it listens on when given --port 0", function()
    h = spawn("--port 0")
    assert.is_number(h.port, "got line: " .. tostring(h.line))
    assert.is_true(h.port > 0)
  end)

  it("serves bind and submit with the accounts and templates given", function()
    h = spawn("--port 0 --account acme:pw --template welcome --undeliv-prefix +999 --log")
    assert.is_number(h.port, tostring(h.line))
    local c = ev.client { host = "127.0.0.1", port = h.port, system_id = "acme", password = "pw",
                         enquire_link_interval = 0 }
    local bound, res, err, receipt
    c:on_receipt(function(r) receipt = r end)
    c:bind(function(ok) bound = ok end)
    assert.is_true(wait_until(function() return bound end))
    local body = assert(pdu.utf8_to_ucs2('{"id":"welcome","params":{"name":"Ann"}}'))
    c:submit({ destination_addr = "+9991234567", data_coding = 8, short_message = body },
             function(r, e) res, err = r, e or "" end)
    assert.is_true(wait_until(function() return res or err end))
    assert.is_table(res, err)
    assert.is_true(wait_until(function() return receipt end))
    assert.are.equal(res.message_id, receipt.message_id)
    assert.are.equal("UNDELIV", receipt.stat)
    -- The default template is gone when --template is given.
    res, err = nil, nil
    c:submit({ destination_addr = "+6598765432", data_coding = 8,
               short_message = assert(pdu.utf8_to_ucs2('{"id":"otp-login"}')) },
             function(r, e) res, err = r, e end)
    assert.is_true(wait_until(function() return res or err end))
    assert.are.equal("ESME_RSUBMITFAIL", err)
    c:close()
    wait_until(function() return c:state() == "closed" end)
    stop(h, "TERM")
    local log = stderr_of(h)
    assert.matches("in  submit_sm", log)
    assert.matches("bind_transceiver", log)
  end)

  it("refuses the default account when --account is given", function()
    h = spawn("--port 0 --account acme:pw")
    local c = ev.client { host = "127.0.0.1", port = h.port, system_id = "test",
                         password = "secret", enquire_link_interval = 0 }
    local done, err
    c:bind(function(_, e) done, err = true, e end)
    assert.is_true(wait_until(function() return done end))
    assert.are.equal("authentication failed", err)
    c:close()
  end)

  -- Submit one OTP on a bound ev.client and wait for its answer.
  local function submit(c, fields)
    local t = { destination_addr = "+6598765432", data_coding = 8,
                short_message = assert(pdu.utf8_to_ucs2('{"id":"otp-login"}')) }
    for k, v in pairs(fields or {}) do t[k] = v end
    local res, err
    assert(c:submit(t, function(r, e) res, err = r, e or "" end))
    assert.is_true(wait_until(function() return res or err end))
    return res, err
  end

  local function bound_client(port)
    local c = ev.client { host = "127.0.0.1", port = port, system_id = "test",
                         password = "secret", enquire_link_interval = 0 }
    local bound
    c:bind(function(ok) bound = ok end)
    assert.is_true(wait_until(function() return bound end))
    return c
  end

  it("counts the bind among the PDUs of --drop-after", function()
    h = spawn("--port 0 --drop-after 2")
    -- No receipts: their deliver_sm_resp would count too.
    local quiet = { registered_delivery = 0 }
    local c = bound_client(h.port)    -- PDU 1
    assert.is_table(submit(c, quiet)) -- PDU 2
    assert.are.equal("connection lost", select(2, submit(c, quiet))) -- PDU 3
    c:close()
  end)

  it("says on stop how many receipts were still waiting for their delay", function()
    h = spawn("--port 0 --receipt-delay 30")
    local c = bound_client(h.port)
    assert.is_table(submit(c))
    assert.is_table(submit(c))
    assert.is_table(submit(c, { registered_delivery = 0 })) -- asks for none
    stop(h, "TERM")
    c:close()
    assert.matches("smpp%-sim: 2 receipts not sent %(still waiting for their delay%)\n",
                   stderr_of(h))
  end)

  it("says nothing about unsent receipts when none were waiting", function()
    h = spawn("--port 0")
    stop(h, "TERM")
    assert.is_nil(stderr_of(h):find("not sent", 1, true))
  end)

  -- A clean stop: links closed, counters printed, exit 0.
  for _, sig in ipairs { "TERM", "INT" } do
    it("stops on SIG" .. sig .. " with exit status 0, closing its links", function()
      h = spawn("--port 0")
      local c = ev.client { host = "127.0.0.1", port = h.port, system_id = "test",
                           password = "secret", enquire_link_interval = 0 }
      local bound, closed
      c:on_close(function(reason) closed = reason end)
      c:bind(function(ok) bound = ok end)
      assert.is_true(wait_until(function() return bound end))
      local ok, how, code = stop(h, sig)
      assert.is_true(wait_until(function() return closed end))
      c:close()
      assert.are.same({ true, "exit", 0 }, { ok, how, code })
      assert.matches("SIG" .. sig .. ": stopped; 1 binds", stderr_of(h))
    end)
  end
end)
