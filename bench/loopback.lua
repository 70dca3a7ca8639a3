-- Loopback benchmark: bin/smpp-sim in a child process, the ev client in
-- this one, over 127.0.0.1.
--
--   lua5.4 bench/loopback.lua [N]          N submits (default 200000, or
--                                          $BENCH_N) at window 1, 10, 100
--   lua5.4 bench/loopback.lua idle [N]     simulator memory for N idle
--                                          bound sessions (default 10000)
--
-- Every submit is answered and gets its receipt (receipt_delay 0); the
-- window is kept full: each answer sends the next submit.

local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local ROOT = script_dir .. "/.."
package.path = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. package.path
package.cpath = ROOT .. "/build/?.so;" .. package.cpath

local ev = require "smpp.ev"
local pdu = require "smpp.pdu"
local socket = require "socket"

local gettime = socket.gettime
local floor = math.floor
local str_format = string.format
local LUA = os.getenv("LUA") or "lua5.4"

local function status_kb(pid, key)
  local f = io.open("/proc/" .. tostring(pid) .. "/status", "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match(key .. ":%s*(%d+) kB"))
end

-- CPU seconds (user + system) a process used so far.
local function cpu_seconds(pid)
  local f = io.open("/proc/" .. tostring(pid) .. "/stat", "r")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  local rest = s:match("%) (.*)$")
  local fields = {}
  for v in rest:gmatch("%S+") do fields[#fields + 1] = v end
  -- utime and stime are fields 14 and 15 of the line, 12 and 13 after ")".
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

local function mb(kb)
  return kb and str_format("%.1f MB", kb / 1024) or "?"
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- bin/smpp-sim in a child; returns pid, port and the pipe.
local function spawn_sim(args, nofile)
  local ulimit = nofile and str_format("ulimit -n %d; ", nofile) or ""
  local inner = str_format("%secho $$; exec %s %s %s", ulimit, LUA, ROOT .. "/bin/smpp-sim", args)
  local p = assert(io.popen("sh -c " .. shell_quote(inner), "r"))
  local pid = tonumber(p:read("l"))
  local line = p:read("l") or ""
  local port = tonumber(line:match(":(%d+)$"))
  if not (pid and port) then error("bin/smpp-sim did not start: " .. line) end
  return { pid = pid, port = port, p = p }
end

local function stop_sim(sim)
  os.execute("kill -TERM " .. sim.pid)
  sim.p:read("a")
  sim.p:close()
end

local function run_until(cond, timeout)
  local deadline = gettime() + timeout
  local guard = ev.timer(0.01, function() end, 0.01)
  while not cond() and gettime() < deadline do ev.run_once() end
  guard:stop()
  return cond()
end

local function bind(port, window)
  local c = ev.client {
    host = "127.0.0.1", port = port, system_id = "test", password = "secret",
    window = window, queue_size = window + 10, enquire_link_interval = 0,
    response_timeout = 30,
  }
  local ok, err
  c:bind(function(r, e) ok, err = r, e or "" end)
  if not run_until(function() return ok or err end, 10) or not ok then
    error("bind failed: " .. tostring(err))
  end
  return c
end

---------------------------------------------------------------------------
-- Throughput and latency at one window size.
local function run_window(port, window, n, sim_pid)
  local c = bind(port, window)
  local body = assert(pdu.utf8_to_ucs2(
    '{"id":"otp-login","language":"default","code":"123456","params":{"app":"Acme"}}'))
  local fields = { service_type = "CODE", destination_addr = "+6598765432", data_coding = 8,
                   short_message = body }

  -- Answers come back in submit order (the simulator answers at once and
  -- in order), so a ring of start times matches them without a closure
  -- per submit. Latency goes to a histogram of whole microseconds.
  local starts, sent, answered, receipts, failed = {}, 0, 0, 0, 0
  local hist = {}
  local t_first, t_answers, t_receipts

  local on_result
  local function send_one()
    sent = sent + 1
    starts[sent % (window * 2 + 1)] = gettime()
    local ok, err = c:submit(fields, on_result)
    if not ok then error("submit: " .. tostring(err)) end
  end
  on_result = function(res)
    answered = answered + 1
    local us = floor((gettime() - starts[answered % (window * 2 + 1)]) * 1e6)
    hist[us] = (hist[us] or 0) + 1
    if not res then failed = failed + 1 end
    if answered == n then
      t_answers = gettime()
      if receipts == n then ev.stop() end
    end
    if sent < n then send_one() end
  end
  c:on_receipt(function()
    receipts = receipts + 1
    if receipts == n then
      t_receipts = gettime()
      if answered == n then ev.stop() end
    end
  end)

  collectgarbage("collect")
  local cpu_c0, cpu_s0 = cpu_seconds("self"), cpu_seconds(sim_pid)
  local guard = ev.timer(tonumber(os.getenv("BENCH_TIMEOUT")) or 300, function() ev.stop() end)
  t_first = gettime()
  for _ = 1, window do
    if sent < n then send_one() end
  end
  ev.run()
  guard:stop()
  if answered < n or receipts < n then
    error(str_format("window %d: only %d answers and %d receipts of %d", window, answered,
                     receipts, n))
  end

  local function pct(p)
    local want, seen = answered * p, 0
    local keys = {}
    for us in pairs(hist) do keys[#keys + 1] = us end
    table.sort(keys)
    for _, us in ipairs(keys) do
      seen = seen + hist[us]
      if seen >= want then return us end
    end
    return keys[#keys]
  end
  c:close()
  run_until(function() return c:state() == "closed" end, 5)
  local t_last = math.max(t_answers, t_receipts)
  local wall = t_last - t_first
  return {
    cpu_client = (cpu_seconds("self") - cpu_c0) / wall,
    cpu_sim = (cpu_seconds(sim_pid) - cpu_s0) / wall,
    window = window,
    submits_per_s = n / (t_answers - t_first),
    receipts_per_s = n / (t_last - t_first),
    p50 = pct(0.50), p99 = pct(0.99), failed = failed,
  }
end

local REFERENCE = {
  [1] = "npm smpp ~6 000/s, p50 100 us, p99 0.7 ms",
  [10] = "-",
  [100] = "npm smpp ~10 600/s",
}

local function throughput(n)
  local sim = spawn_sim("--port 0 --receipt-delay 0 " .. (os.getenv("BENCH_SIM_ARGS") or ""))
  print(str_format("loopback: %d submits per window, each answered and receipted "
                   .. "(receipt_delay 0); simulator pid %d", n, sim.pid))
  print(str_format("%6s %12s %12s %9s %9s %7s %7s   %s", "window", "submits/s", "receipts/s",
                   "p50 us", "p99 us", "cpu cl", "cpu sim", "reference"))
  local results = {}
  local windows = {}
  for w in (os.getenv("BENCH_WINDOWS") or "1,10,100"):gmatch("%d+") do
    windows[#windows + 1] = tonumber(w)
  end
  for _, w in ipairs(windows) do
    local r = run_window(sim.port, w, n, sim.pid)
    results[w] = r
    print(str_format("%6d %12.0f %12.0f %9d %9d %6.0f%% %6.0f%%   %s%s", w, r.submits_per_s,
                     r.receipts_per_s, r.p50, r.p99, r.cpu_client * 100, r.cpu_sim * 100,
                     REFERENCE[w],
                     r.failed > 0 and str_format("  (%d failed)", r.failed) or ""))
  end
  local client_hwm = status_kb("self", "VmHWM")
  local sim_hwm = status_kb(sim.pid, "VmHWM")
  print(str_format("peak RSS (VmHWM): client %s, simulator %s   reference: npm smpp 60-90 MB "
                   .. "per process", mb(client_hwm), mb(sim_hwm)))
  stop_sim(sim)

  local function verdict(ok) return ok and "met" or "MISSED" end
  if not (results[1] and results[100]) then return end
  print("targets:")
  print(str_format("  >= 100 000 submits/s with receipts at window 100: %s (%.0f/s)",
                   verdict(results[100].receipts_per_s >= 100000), results[100].receipts_per_s))
  print(str_format("  window 1 p50 < 50 us: %s (%d us); p99 < 200 us: %s (%d us)",
                   verdict(results[1].p50 < 50), results[1].p50,
                   verdict(results[1].p99 < 200), results[1].p99))
  print(str_format("  client RSS < 10 MB: %s (%s)", verdict(client_hwm and client_hwm < 10240),
                   mb(client_hwm)))
  -- Window 1 is two process wake-ups per round trip: what the machine
  -- itself allows for that, with no SMPP, Lua or libev, puts p50 in scale.
  local pingpong = io.popen("build/bench_pingpong 2>/dev/null")
  local line = pingpong and pingpong:read("l")
  if pingpong then pingpong:close() end
  if line then
    print("  " .. line)
  end
end

---------------------------------------------------------------------------
-- Memory of N idle bound sessions on the simulator.
local function current_nofile()
  local p = io.popen("ulimit -n")
  local v = p:read("l")
  p:close()
  return tonumber(v) or math.huge
end

local function idle(n)
  local need = n + 200
  if current_nofile() < need and not os.getenv("LOOPBACK_REEXEC") then
    -- The client side needs one fd per session too: re-run with a higher
    -- limit (the hard limit allows it when running as root or when raised).
    local cmd = str_format("ulimit -n %d && LOOPBACK_REEXEC=1 exec %s %s idle %d", need, LUA,
                           shell_quote(arg[0]), n)
    local ok = os.execute(cmd)
    os.exit(ok and 0 or 1)
  end
  local sim = spawn_sim("--port 0", need)
  local base = status_kb(sim.pid, "VmRSS")
  print(str_format("idle: %d bound sessions; simulator pid %d, RSS at start %s", n, sim.pid,
                   mb(base)))
  local clients, bound, failed, started = {}, 0, 0, 0
  local t0 = gettime()
  -- Bind in batches so the listen backlog never overflows.
  local BATCH = 256
  local function start_more()
    while started < n and started - bound - failed < BATCH do
      started = started + 1
      local c = ev.client {
        host = "127.0.0.1", port = sim.port, system_id = "test", password = "secret",
        enquire_link_interval = 0, bind_timeout = 30, connect_timeout = 30,
      }
      clients[started] = c
      c:bind(function(ok)
        if ok then bound = bound + 1 else failed = failed + 1 end
      end)
    end
  end
  run_until(function()
    start_more()
    return bound + failed >= n
  end, 120)
  local t_bound = gettime()
  -- Let the simulator settle, then read its memory.
  run_until(function() return false end, 0.5)
  local rss, hwm = status_kb(sim.pid, "VmRSS"), status_kb(sim.pid, "VmHWM")
  print(str_format("  %d bound (%d failed) in %.1f s", bound, failed, t_bound - t0))
  print(str_format("  simulator RSS %s (peak %s), %.1f kB per session over the start; "
                   .. "target: 10 000 sessions under 200 MB", mb(rss), mb(hwm),
                   (rss - base) / math.max(bound, 1)))
  print(str_format("  client process peak RSS %s", mb(status_kb("self", "VmHWM"))))
  for _, c in ipairs(clients) do c:close() end
  run_until(function() return false end, 0.2)
  stop_sim(sim)
end

---------------------------------------------------------------------------
local mode = arg[1]
if mode == "idle" then
  idle(tonumber(arg[2]) or 10000)
else
  local n = tonumber(mode) or tonumber(os.getenv("BENCH_N")) or 200000
  throughput(n)
end
