-- The fault matrix: smpp.client against a gateway that fails in every way
-- README's "When things go wrong" lists, over real loopback sockets (the
-- simulator in this process or in its own, or a scripted server). Each
-- case checks that every submit ended exactly once with a documented
-- outcome and that every receipt sent reached the program once.
--
--   make faults                      (both backends)
--   SMPP_BACKEND=socket lua5.4 spec/fault_matrix.lua [case-name ...]
--
-- Prints one row per case and `check faults <backend>: N passed, M failed`.
-- FAULTS_VERBOSE=1 writes the throttled case's client log to stderr.

package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local smpp = require "smpp"
local simulator = require "smpp.simulator"
local raw = require "support.rawserver"
local process = require "support.process"

-- Every outcome a submit may end with, as README documents them.
local DOCUMENTED = {
  ok = true, ["timeout"] = true, ["connection lost"] = true, ["not sent"] = true,
  ["closed"] = true, ["queue full"] = true, ESME_RTHROTTLED = true, ESME_RMSGQFUL = true,
  ESME_RSYSERR = true, ESME_RINVCMDID = true,
}

local function wait_until(pred, secs)
  local deadline = smpp.now() + secs
  while not pred() and smpp.now() < deadline do
    smpp.sleep(0.01)
  end
  return pred()
end

local function otp(i)
  return assert(smpp.otp { to = "+6598765432", template = "otp-login", code = tostring(i) })
end

-- A run: submits made through one client, their outcomes and receipts.
local Run = {}
Run.__index = Run

local function new_run(c)
  local r = setmetatable({ c = c, n = 0, ended = 0, calls = {}, tokens = {}, ids = {},
                           rx = {}, rx_dup = 0, rx_unknown = 0, answered_at = {},
                           logs = {} }, Run)
  if c then r:watch(c) end
  return r
end

function Run:watch(c)
  self.c = c
  c:on_receipt(function(rc)
    if not rc.final then return end
    local id = rc.message_id
    self.rx[id] = (self.rx[id] or 0) + 1
    if self.rx[id] > 1 then self.rx_dup = self.rx_dup + 1 end
  end)
  c:on_log(function(level, msg)
    self.logs[#self.logs + 1] = level .. " " .. msg
  end)
end

-- One submit through the callback form; its outcome is counted once.
function Run:submit(c)
  c = c or self.c
  self.n = self.n + 1
  local i = self.n
  self.calls[i] = 0
  local ok, err = c:submit(otp(i), function(res, e)
    self.calls[i] = self.calls[i] + 1
    if self.calls[i] == 1 then
      self.ended = self.ended + 1
      local token = res and "ok" or e
      self.tokens[token] = (self.tokens[token] or 0) + 1
      if res then
        self.ids[i] = res.message_id
        self.answered_at[i] = smpp.now()
      end
    end
  end)
  if not ok then -- an outcome at once: counted the same
    self.calls[i] = 1
    self.ended = self.ended + 1
    self.tokens[err] = (self.tokens[err] or 0) + 1
  end
end

function Run:burst(k, c)
  for _ = 1, k do self:submit(c) end
end

function Run:all_ended(secs)
  return wait_until(function() return self.ended == self.n end, secs or 15)
end

-- Receipts expected for the successes answered after `since` (all when nil).
function Run:receipts_missing(since)
  local missing = 0
  for i, id in pairs(self.ids) do
    if (not since or self.answered_at[i] >= since) and not self.rx[id] then
      missing = missing + 1
    end
  end
  return missing
end

function Run:wait_receipts(secs, since)
  return wait_until(function() return self:receipts_missing(since) == 0 end, secs or 10)
end

-- The row: lost = submits with no outcome, twice = with more than one.
function Run:row(name, extra_ok, note)
  local lost, twice, odd = 0, 0, {}
  for i = 1, self.n do
    if self.calls[i] == 0 then lost = lost + 1 end
    if self.calls[i] > 1 then twice = twice + 1 end
  end
  local parts = {}
  for token, k in pairs(self.tokens) do
    parts[#parts + 1] = token .. "=" .. k
    if not DOCUMENTED[token] then odd[#odd + 1] = token end
  end
  table.sort(parts)
  local got = 0
  for _ in pairs(self.rx) do got = got + 1 end
  local pass = lost == 0 and twice == 0 and #odd == 0 and self.rx_dup == 0
               and (extra_ok == nil or extra_ok)
  return { name = name, submits = self.n, outcomes = table.concat(parts, " "), lost = lost,
           twice = twice, receipts = got, rx_dup = self.rx_dup, pass = pass,
           note = (#odd > 0 and ("undocumented: " .. table.concat(odd, ",") .. "; ") or "")
                  .. (note or "") }
end

local function client(port, extra)
  local opts = { host = "127.0.0.1", port = port, system_id = "test", password = "secret",
                 reconnect_min = 0.05, reconnect_max = 0.5, window = 20 }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return smpp.client(opts)
end

local function free_port()
  local sim = assert(simulator { port = 0 })
  local port = sim:port()
  sim:close()
  return port
end

local function count_lines(s, pat)
  local k = 0
  for _ in s:gmatch(pat) do k = k + 1 end
  return k
end

-- ---------------------------------------------------------------------------

local cases = {}
local function case(name, fn) cases[#cases + 1] = { name = name, fn = fn } end

case("gateway killed mid-window, restarted", function()
  local port = free_port()
  local sim = process.sim("--port " .. port .. " --answer-delay 0.3")
  local c = client(port, { window = 50 })
  local run = new_run(c)
  assert(c:bind())
  run:burst(200) -- 50 in flight, 150 queued in the link
  smpp.sleep(0.1)
  sim.stop("KILL")
  smpp.sleep(0.3) -- reconnects are refused meanwhile
  local restarted = smpp.now()
  sim = process.sim("--port " .. port)
  local ended = run:all_ended(15)
  local rx = run:wait_receipts(10, restarted)
  local reconnects = c:stats().reconnects
  c:close()
  sim.stop()
  return run:row(nil, ended and rx and reconnects >= 1,
    ("reconnects=%d, receipts missing=%d"):format(reconnects, run:receipts_missing(restarted)))
end)

case("link dropped repeatedly under load", function()
  -- Each connection carries 60 PDUs in (bind, submits, deliver_sm_resps).
  local sim = assert(simulator { port = 0, faults = { drop_after = 60 }, receipt_delay = 0.05 })
  local c = client(sim:port())
  local run = new_run(c)
  assert(c:bind())
  for _ = 1, 20 do
    run:burst(25)
    smpp.sleep(0.02)
  end
  local ended = run:all_ended(20)
  sim:set_faults(nil)
  local rx = run:wait_receipts(10)
  local reconnects = c:stats().reconnects
  c:close()
  sim:close()
  return run:row(nil, ended and rx and reconnects >= 3,
    ("reconnects=%d, receipts missing=%d"):format(reconnects, run:receipts_missing()))
end)

case("gateway silent (SIGSTOP 3 s)", function()
  local port = free_port()
  local sim = process.sim("--port " .. port)
  local c = client(port, { enquire_link_interval = 0.5, response_timeout = 0.5,
                           bind_timeout = 0.5, reconnect_max = 0.2 })
  local run = new_run(c)
  local dead_at, reason
  c:on_state(function(s, why)
    if s == "reconnecting" and not dead_at then dead_at, reason = smpp.now(), why end
  end)
  assert(c:bind())
  run:burst(10)
  assert(run:all_ended(5))
  local stopped = smpp.now()
  os.execute("kill -STOP " .. sim.pid)
  run:burst(5)
  wait_until(function() return dead_at ~= nil end, 5)
  smpp.sleep(2.5)
  os.execute("kill -CONT " .. sim.pid)
  local bound = wait_until(function() return c:state() == "bound" end, 10)
  run:burst(10)
  local ended = run:all_ended(10)
  local found = dead_at and dead_at - stopped
  c:close()
  sim.stop()
  -- Found within enquire_link_interval + response_timeout (+ a loop's slack).
  return run:row(nil, ended and bound and found and found <= 1.5 and reason == "dead link",
    ("dead link found after %.2f s (reason %s), rebound=%s"):format(found or -1,
      tostring(reason), tostring(bound)))
end)

case("rebind refused by a close: one try", function()
  local port = free_port()
  local sim = process.sim("--port " .. port)
  local c = client(port)
  local run = new_run(c)
  local closed_with
  c:on_close(function(why) closed_with = why end)
  assert(c:bind())
  run:burst(5)
  assert(run:all_ended(5))
  sim.stop()
  sim = process.sim("--port " .. port .. " --account test:other --log")
  wait_until(function() return c:state() == "closed" end, 5)
  run:burst(3) -- after the end: "not sent"
  smpp.sleep(1) -- two reconnect_max: no second try
  run:all_ended(5)
  c:close()
  sim.stop()
  local binds = count_lines(sim.stderr(), "in  bind_transceiver")
  return run:row(nil, closed_with == "authentication failed" and binds == 1,
    ("on_close=%s, bind attempts=%d"):format(tostring(closed_with), binds))
end)

case("throttled for 5 s", function()
  local sim = assert(simulator { port = 0, log = true })
  local c = client(sim:port(), { retry = { ESME_RTHROTTLED = 3 }, throttle_max = 1 })
  local run = new_run(c)
  assert(c:bind())
  sim:set_faults { status = "ESME_RTHROTTLED", rate = 1 }
  local t0 = smpp.now()
  while smpp.now() - t0 < 5 do
    run:burst(5)
    smpp.sleep(0.1)
  end
  sim:set_faults(nil)
  run:burst(20)
  local ended = run:all_ended(20)
  local rx = run:wait_receipts(10)
  local s = c:stats()
  c:close()
  sim:close()
  if os.getenv("FAULTS_VERBOSE") then
    for _, l in ipairs(run.logs) do io.stderr:write("LOG ", l, "\n") end
  end
  -- Paused, never stalled: nothing waits out its response_timeout.
  local stalled = (run.tokens["not sent"] or 0) + (run.tokens.timeout or 0)
  return run:row(nil, ended and rx and s.throttled >= 1 and stalled == 0,
    ("throttled=%d, retries=%d"):format(s.throttled, s.retries))
end)

-- A scripted server that serves one connection: the client's reconnects
-- after it are refused, and close() ends what waits.
local function scripted(scenario, opts, k, settle)
  local srv = raw.start(scenario)
  local c = client(srv.port, opts)
  local run = new_run(c)
  local ok, err = c:bind()
  if ok then
    run:burst(k)
    run:all_ended(settle or 5)
  end
  c:close()
  srv:stop()
  return run, ok, err
end

case("garbage from the gateway", function()
  local run, _, _ = scripted("garbage", nil, 20)
  return run:row(nil, (run.tokens["connection lost"] or 0) >= 1)
end)

case("oversized command_length", function()
  local run = scripted("oversized", nil, 20)
  return run:row(nil, (run.tokens["connection lost"] or 0) >= 1)
end)

case("answers in 1-byte pieces", function()
  local run = scripted("pieces", nil, 30, 10)
  return run:row(nil, run.tokens.ok == 30)
end)

case("duplicate and unknown-sequence answers", function()
  local run = scripted("dup_answers", nil, 30)
  local warned = 0
  for _, l in ipairs(run.logs) do
    if l:match("^warn") then warned = warned + 1 end
  end
  return run:row(nil, run.tokens.ok == 30 and warned >= 30,
    ("warnings logged=%d"):format(warned))
end)

case("slow-reading gateway", function()
  local run = scripted("stall", { output_buffer = 4096, queue_size = 200 }, 400, 15)
  return run:row(nil, (run.tokens.ok or 0) >= 1)
end)

case("client dropped with requests in flight", function()
  local srv = raw.start("never_answer")
  local run = new_run()
  do
    local c = client(srv.port, { response_timeout = 30 })
    run:watch(c)
    assert(c:bind())
    run:burst(25, c)
  end
  run.c = nil
  collectgarbage()
  collectgarbage()
  local ended = run:all_ended(5)
  srv:stop()
  return run:row(nil, ended and run.tokens.closed == 25)
end)

case("an error raised in every callback", function()
  local sim = assert(simulator { port = 0 })
  local c = client(sim:port())
  local raised = 0
  local prev = smpp.on_error(function() raised = raised + 1 end)
  local run = new_run(c)
  c:on_receipt(function() error("on_receipt fails") end)
  c:on_state(function() error("on_state fails") end)
  c:on_close(function() error("on_close fails") end)
  c:on_deliver(function() error("on_deliver fails") end)
  assert(c:bind(function() error("bind callback fails") end))
  wait_until(function() return c:state() == "bound" end, 5)
  local n = 20
  for i = 1, n do
    run.n = run.n + 1
    run.calls[i] = 0
    c:submit(otp(i), function(res, e)
      run.calls[i] = run.calls[i] + 1
      run.ended = run.ended + 1
      local token = res and "ok" or e
      run.tokens[token] = (run.tokens[token] or 0) + 1
      error("submit callback fails")
    end)
  end
  local ended = run:all_ended(10)
  local waited = false
  c:wait_receipt("nope", 0.05, function() waited = true; error("wait callback fails") end)
  wait_until(function() return waited end, 2)
  smpp.sleep(0.2)
  c:close()
  smpp.sleep(0.05)
  smpp.on_error(prev)
  sim:close()
  -- bind, 20 submits, 20 receipts, the wait, several states, the close
  return run:row(nil, ended and run.tokens.ok == n and raised >= 43,
    ("errors reported=%d"):format(raised))
end)

case("bind answered by an unbind", function()
  local srv = raw.start("unbind_on_bind")
  local c = client(srv.port)
  local ok, err = c:bind()
  local run = new_run(c)
  run:burst(3)
  run:all_ended(3)
  c:close()
  srv:stop()
  return run:row(nil, ok == nil and err == "peer unbind" and c:state() == "closed",
    "bind: " .. tostring(err))
end)

-- ---------------------------------------------------------------------------

local only = {}
for _, a in ipairs(arg) do only[a] = true end

local backend = smpp.backend()
io.write(("fault matrix, backend %s\n"):format(backend))
local fmt = "%-42s %7s %-58s %4s %5s %8s %6s  %s\n"
io.write(fmt:format("case", "submits", "outcomes", "lost", "twice", "receipts", "result",
  "notes"))
local passed, failed = 0, 0
for _, cs in ipairs(cases) do
  if next(only) == nil or only[cs.name] then
    local ok, row = pcall(cs.fn)
    if not ok then
      row = { name = cs.name, submits = 0, outcomes = "", lost = "?", twice = "?",
              receipts = "?", pass = false, note = "error: " .. tostring(row) }
    end
    row.name = cs.name
    if row.pass then passed = passed + 1 else failed = failed + 1 end
    io.write(fmt:format(row.name, row.submits, row.outcomes, row.lost, row.twice,
      row.receipts, row.pass and "ok" or "FAIL", row.note or ""))
    io.flush()
  end
end
io.write(("check faults %s: %d passed, %d failed\n"):format(backend, passed, failed))
os.exit(failed == 0 and 0 or 1)
