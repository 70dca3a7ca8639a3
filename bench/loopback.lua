-- Loopback benchmark: bin/smpp-sim in a child process, a client in another,
-- over 127.0.0.1.
--
--   lua5.4 bench/loopback.lua [N]          N submits (default 200000, or
--                                          $BENCH_N) per form and window
--   lua5.4 bench/loopback.lua idle [N]     simulator memory for N idle
--                                          bound sessions (default 10000)
--
-- Forms ($BENCH_FORMS, default "callback,coroutine,ev"):
--   callback   smpp.client as a user writes it: each submit's callback
--              submits the next, an on_receipt handler counts receipts, the
--              main thread waits in smpp.sleep
--   coroutine  smpp.client in `window` coroutines (smpp.spawn), each
--              submitting in turn and waiting for its answer
--   ev         smpp.ev's client directly (no Lua client layer)
-- Windows: $BENCH_WINDOWS (default "1,10,100"). $BENCH_RUNS (default 1):
-- runs of each, every column the median. $SMPP_BACKEND chooses the
-- backend of the smpp.client forms, as for any program.
--
-- Every submit is answered and gets its receipt (receipt_delay 0); the
-- window is kept full. Each (form, window) runs in a fresh client process,
-- so its CPU, peak RSS and garbage collector are its own. CPU is on-CPU
-- time from /proc/<pid>/schedstat (nanoseconds), of the client and of the
-- simulator over the same interval. The same run at window 100 with the
-- collector stopped (fewer messages) gives what a message allocates (the
-- heap's growth); its CPU is no measure of the collector's share, as a
-- heap that only grows pays in page faults and cache misses instead;
-- $BENCH_GC=0 leaves that run out. $BENCH_RECEIPTS_KEEP sets the
-- smpp.client forms' receipts_keep (default 10 000).

local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local ROOT = script_dir .. "/.."
package.path = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. package.path
package.cpath = ROOT .. "/build/?.so;" .. package.cpath

local socket = require "socket"

local gettime = socket.gettime
local floor = math.floor
local str_format = string.format
local LUA = os.getenv("LUA") or "lua5.4"

local proc = dofile(script_dir .. "/proc.lua")
local status_kb, cpu_seconds, shell_quote = proc.status_kb, proc.cpu_seconds, proc.shell_quote

local function mb(kb)
  return kb and str_format("%.1f MB", kb / 1024) or "?"
end

local OTP = { to = "+6598765432", template = "otp-login", code = "123456",
              params = { app = "Acme" } }

---------------------------------------------------------------------------
-- One run, in a client process of its own:
--   loopback.lua run FORM WINDOW N PORT SIM_PID [gcstop]
-- prints one line "result key=value ...".

-- Latency histogram in whole microseconds.
local function histogram()
  local h = { n = 0 }
  function h.add(us)
    h[us] = (h[us] or 0) + 1
    h.n = h.n + 1
  end
  function h.pct(p)
    local keys = {}
    for us in pairs(h) do
      if type(us) == "number" then keys[#keys + 1] = us end
    end
    table.sort(keys)
    local want, seen = h.n * p, 0
    for _, us in ipairs(keys) do
      seen = seen + h[us]
      if seen >= want then return us end
    end
    return keys[#keys] or 0
  end
  return h
end

-- Counts finished collector cycles: a finalizer that re-arms itself.
local gc_cycles, gc_counting = 0, false
local function gc_sentinel()
  setmetatable({}, { __gc = function()
    if gc_counting then
      gc_cycles = gc_cycles + 1
      gc_sentinel()
    end
  end })
end

local function run_form(form, window, n, port, sim_pid, gcstop)
  local hist = histogram()
  local ring = window * 2 + 1
  local starts = {}
  local sent, answered, receipts, failed = 0, 0, 0, 0
  local t_answers, t_receipts
  local started -- the measuring starts: CPU, heap and clock readings
  local function start()
    collectgarbage("collect")
    if gcstop then collectgarbage("stop") end
    gc_counting = true
    gc_sentinel()
    started = { cpu_c = cpu_seconds("self"), cpu_s = cpu_seconds(sim_pid),
                heap = collectgarbage("count"), t = gettime() }
  end
  local function answer_in(ok)
    answered = answered + 1
    if not ok then failed = failed + 1 end
    if answered == n then t_answers = gettime() end
  end
  local function receipt_in()
    receipts = receipts + 1
    if receipts == n then t_receipts = gettime() end
  end
  local copts = {
    host = "127.0.0.1", port = port, system_id = "test", password = "secret",
    window = window, queue_size = window + 10, enquire_link_interval = 0,
    response_timeout = 30,
    -- smpp.client only: the receipts kept for wait_receipt (README,
    -- "Receipts"); the default 10 000 unless $BENCH_RECEIPTS_KEEP says.
    receipts_keep = form ~= "ev" and tonumber(os.getenv("BENCH_RECEIPTS_KEEP")) or nil,
  }
  local deadline = gettime() + (tonumber(os.getenv("BENCH_TIMEOUT")) or 300)

  if form == "ev" then
    local ev = require "smpp.ev"
    local fields = require("smpp.template").otp(OTP)
    local function run_until(cond)
      local guard = ev.timer(0.01, function() end, 0.01)
      while not cond() and gettime() < deadline do ev.run_once() end
      guard:stop()
      return cond()
    end
    local c = ev.client(copts)
    local ok, err
    c:bind(function(r, e) ok, err = r, e or "" end)
    if not run_until(function() return ok or err end) or not ok then
      error("bind failed: " .. tostring(err))
    end
    -- Answers come in submit order (the simulator answers at once and in
    -- order), so a ring of start times matches them without a closure per
    -- submit.
    local on_result
    local function send_one()
      sent = sent + 1
      starts[sent % ring] = gettime()
      local sok, serr = c:submit(fields, on_result)
      if not sok then error("submit: " .. tostring(serr)) end
    end
    on_result = function(res)
      hist.add(floor((gettime() - starts[(answered + 1) % ring]) * 1e6))
      answer_in(res)
      if sent < n then send_one() end
    end
    c:on_receipt(receipt_in)
    start()
    for _ = 1, window do
      if sent < n then send_one() end
    end
    run_until(function() return answered >= n and receipts >= n end)
    c:close()
    run_until(function() return c:state() == "closed" end)
  else
    local smpp = require "smpp"
    local fields = assert(smpp.otp(OTP))
    local c = smpp.client(copts)
    assert(c:bind())
    c:on_receipt(receipt_in)
    if form == "callback" then
      local on_result
      local function send_one()
        sent = sent + 1
        starts[sent % ring] = gettime()
        local sok, serr = c:submit(fields, on_result)
        if not sok then error("submit: " .. tostring(serr)) end
      end
      on_result = function(res)
        hist.add(floor((gettime() - starts[(answered + 1) % ring]) * 1e6))
        answer_in(res)
        if sent < n then send_one() end
      end
      start()
      for _ = 1, window do
        if sent < n then send_one() end
      end
    elseif form == "coroutine" then
      start()
      for _ = 1, window do
        smpp.spawn(function()
          while sent < n do
            sent = sent + 1
            local t0 = gettime()
            local res = c:submit(fields)
            hist.add(floor((gettime() - t0) * 1e6))
            answer_in(res)
          end
        end)
      end
    else
      error("unknown form " .. tostring(form))
    end
    while (answered < n or receipts < n) and gettime() < deadline do
      smpp.sleep(0.005)
    end
    c:close()
  end

  gc_counting = false
  if answered < n or receipts < n then
    error(str_format("%s window %d: only %d answers and %d receipts of %d", form, window,
                     answered, receipts, n))
  end
  local t_last = math.max(t_answers, t_receipts)
  local cpu_c = cpu_seconds("self") - started.cpu_c
  local cpu_s = cpu_seconds(sim_pid) - started.cpu_s
  local heap = collectgarbage("count")
  local out = {
    form = form, window = window, n = n, gcstop = gcstop and 1 or 0,
    submits_per_s = n / (t_answers - started.t),
    receipts_per_s = n / (t_last - started.t),
    cl_us = cpu_c / n * 1e6, sim_us = cpu_s / n * 1e6,
    cl_load = cpu_c / (t_last - started.t), sim_load = cpu_s / (t_last - started.t),
    p50 = hist.pct(0.50), p99 = hist.pct(0.99), p999 = hist.pct(0.999),
    gc_cycles = gc_cycles,
    alloc_b = (heap - started.heap) * 1024 / n, heap_kb = heap,
    rss_kb = status_kb("self", "VmHWM") or 0, failed = failed,
  }
  local parts = {}
  for k, v in pairs(out) do parts[#parts + 1] = k .. "=" .. tostring(v) end
  table.sort(parts)
  print("result " .. table.concat(parts, " "))
end

---------------------------------------------------------------------------
-- The orchestrating process.

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

local function one_run(form, window, n, sim, gcstop)
  local cmd = str_format("%s %s run %s %d %d %d %d%s", LUA, shell_quote(arg[0]), form, window, n,
                         sim.port, sim.pid, gcstop and " gcstop" or "")
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  p:close()
  local r = proc.result(out)
  if not r then error(str_format("%s window %d failed:\n%s", form, window, out)) end
  return r
end

local function median(rs, key)
  local v = {}
  for i, r in ipairs(rs) do v[i] = r[key] end
  table.sort(v)
  return v[floor((#v + 1) / 2)]
end

local function measure(form, window, n, sim, runs, gcstop)
  local rs = {}
  for i = 1, runs do rs[i] = one_run(form, window, n, sim, gcstop) end
  local m = {}
  for k, v in pairs(rs[1]) do
    m[k] = type(v) == "number" and median(rs, k) or v
  end
  return m
end

local list = proc.env_list

local function pingpong_floor()
  local p = io.popen(ROOT .. "/build/bench_pingpong 2>/dev/null")
  local line = p and p:read("l")
  if p then p:close() end
  return line, line and tonumber(line:match("p50 ([%d.]+) us"))
end

local HEAD = "%-14s %6s %10s %10s %7s %7s %5s %5s %7s %7s %7s %5s %7s %7s %8s"
local ROW = "%-14s %6d %10.0f %10.0f %7.2f %7.2f %4.0f%% %4.0f%% %7d %7d %7d %5d %7.1f %7s %8s%s"

local function row(name, r)
  return str_format(ROW, name, r.window, r.submits_per_s, r.receipts_per_s, r.cl_us, r.sim_us,
                    r.cl_load * 100, r.sim_load * 100, r.p50, r.p99, r.p999, r.gc_cycles,
                    r.heap_kb / 1024, mb(r.rss_kb),
                    r.gcstop == 1 and str_format("%.0f", r.alloc_b) or "-",
                    r.failed > 0 and str_format("  (%d failed)", r.failed) or "")
end

local function throughput(n)
  local runs = tonumber(os.getenv("BENCH_RUNS")) or 1
  local backend = os.getenv("SMPP_BACKEND") or "ev"
  print(str_format("loopback: %d submits per form and window, each answered and receipted "
                   .. "(receipt_delay 0); median of %d run(s); smpp.client on the %s backend",
                   n, runs, backend))
  print(str_format(HEAD, "form", "window", "submits/s", "receipts/s", "cl us", "sim us", "cl",
                   "sim", "p50 us", "p99 us", "p999 us", "gc", "heap MB", "cl RSS", "B/msg"))
  print("  cl us, sim us: CPU per message of the client and of the simulator; cl, sim: share of"
        .. " a core;\n  p50..p999: submit->answer; gc: collector cycles; heap MB: Lua heap at"
        .. " the end;\n  cl RSS: client peak RSS; B/msg: bytes allocated per message (collector"
        .. " stopped)")
  local results, sim_rss = {}, {}
  for _, form in ipairs(list("BENCH_FORMS", "callback,coroutine,ev")) do
    local sim = spawn_sim("--port 0 --receipt-delay 0 " .. (os.getenv("BENCH_SIM_ARGS") or ""))
    results[form] = {}
    for _, w in ipairs(list("BENCH_WINDOWS", "1,10,100")) do
      local window = tonumber(w)
      local r = measure(form, window, n, sim, runs)
      results[form][window] = r
      print(row(form, r))
    end
    -- The collector's share: the same run with it stopped (fewer messages,
    -- as nothing is freed meanwhile).
    local base = results[form][100]
    if form ~= "ev" and base and os.getenv("BENCH_GC") ~= "0" then
      local r = measure(form, 100, math.min(n, 50000), sim, runs, true)
      results[form].gcstop = r
      print(row(form .. " GC off", r))
      print(str_format("  %s: %.2f us of client CPU per message with the collector stopped, "
                       .. "%.2f with it (a heap that only grows pays page faults and cache "
                       .. "misses);\n  a message allocates %.0f bytes", form, r.cl_us, base.cl_us,
                       r.alloc_b))
    end
    sim_rss[form] = status_kb(sim.pid, "VmHWM")
    stop_sim(sim)
  end
  local floor_line, floor_p50 = pingpong_floor()
  local parts = {}
  for form, kb in pairs(sim_rss) do parts[#parts + 1] = form .. " " .. mb(kb) end
  table.sort(parts)
  print("simulator peak RSS (VmHWM) per form: " .. table.concat(parts, ", ")
        .. "   reference: npm smpp 60-90 MB per process")
  if floor_line then print(floor_line) end

  local function verdict(ok) return ok and "met" or "MISSED" end
  local pub = results.callback or results.coroutine
  if not pub then return end
  print("targets (issue 11; smpp.client, " .. (results.callback and "callback" or "coroutine")
        .. " form):")
  local w100, w1 = pub[100], pub[1]
  if w100 then
    print(str_format("  window 100: >= 100 000 submits/s with receipts: %s (%.0f/s)",
                     verdict(w100.receipts_per_s >= 100000), w100.receipts_per_s))
    print(str_format("  window 100: <= 4 us client CPU per message: %s (%.2f us)",
                     verdict(w100.cl_us <= 4), w100.cl_us))
    print(str_format("  window 100: p99 submit->answer <= 5 ms: %s (%.2f ms)",
                     verdict(w100.p99 <= 5000), w100.p99 / 1000))
    print(str_format("  peak RSS: client < 5 MB: %s (%s), simulator < 16 MB: %s (%s)",
                     verdict(w100.rss_kb < 5 * 1024), mb(w100.rss_kb),
                     verdict((sim_rss.callback or sim_rss.coroutine or 0) < 16 * 1024),
                     mb(sim_rss.callback or sim_rss.coroutine)))
  end
  if w1 and floor_p50 then
    print(str_format("  window 1: p50 within 1.3x of the ping-pong floor (%.0f us): %s (%d us, "
                     .. "%.2fx)", floor_p50, verdict(w1.p50 <= 1.3 * floor_p50), w1.p50,
                     w1.p50 / floor_p50))
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
  local ev = require "smpp.ev"
  local function run_until(cond, timeout)
    local deadline = gettime() + timeout
    local guard = ev.timer(0.01, function() end, 0.01)
    while not cond() and gettime() < deadline do ev.run_once() end
    guard:stop()
    return cond()
  end
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
elseif mode == "run" then
  run_form(arg[2], tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6]),
           arg[7] == "gcstop")
else
  local n = tonumber(mode) or tonumber(os.getenv("BENCH_N")) or 200000
  throughput(n)
end
