-- lua-smpp side by side with npm `smpp` (0.5.x), in one run: bench/compare.sh
-- installs the peer and calls this.
--
--   lua5.4 bench/compare.lua
--
-- Four pairs, each client in its own process against a server in another,
-- over 127.0.0.1; every submit is answered and gets its delivery receipt:
--   ours     smpp.client (callback form, as bench/loopback.lua runs it)
--            against bin/smpp-sim
--   npm      npm smpp's client (bench/npm/client.js) against a
--            gateway-like npm smpp server (bench/npm/server.js, no-delay)
--   ours>npm smpp.client against the npm server
--   npm>ours npm smpp's client against bin/smpp-sim
-- For windows $BENCH_WINDOWS (1,10,100), $BENCH_N messages (200000) a run,
-- the median of $BENCH_RUNS (3) runs: submits/s, receipts/s, p50/p99
-- submit->answer, CPU per message and peak RSS of each process, and our
-- ratio to npm's pair. Each (pair, window) has a fresh server, so its peak
-- RSS is that load's.

local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local ROOT = script_dir .. "/.."
local LUA = os.getenv("LUA") or "lua5.4"
local NODE = os.getenv("NODE") or "node"
local str_format = string.format
local floor = math.floor

local proc = dofile(script_dir .. "/proc.lua")
local status_kb, cpu_seconds, shell_quote = proc.status_kb, proc.cpu_seconds, proc.shell_quote

-- A server in a child: its pid and port (from its "...:PORT" line).
local function spawn_server(cmd)
  local inner = "echo $$; exec " .. cmd .. " 2>/dev/null"
  local p = assert(io.popen("sh -c " .. shell_quote(inner), "r"))
  local pid = tonumber(p:read("l"))
  local line = p:read("l") or ""
  local port = tonumber(line:match(":(%d+)%s*$"))
  if not (pid and port) then error("server did not start: " .. cmd .. ": " .. line) end
  return { pid = pid, port = port, p = p }
end

local function stop_server(s)
  os.execute("kill -TERM " .. s.pid .. " 2>/dev/null")
  s.p:read("a")
  s.p:close()
end

local SERVERS = {
  ours = function()
    return spawn_server(str_format("%s %s --port 0 --receipt-delay 0", LUA,
                                   shell_quote(ROOT .. "/bin/smpp-sim")))
  end,
  npm = function()
    return spawn_server(str_format("%s %s 0", NODE, shell_quote(ROOT .. "/bench/npm/server.js")))
  end,
}

local CLIENTS = {
  ours = function(port, pid, window, n)
    return str_format("%s %s run callback %d %d %d %d", LUA,
                      shell_quote(ROOT .. "/bench/loopback.lua"), window, n, port, pid)
  end,
  npm = function(port, _, window, n)
    return str_format("%s %s 127.0.0.1 %d %d %d", NODE,
                      shell_quote(ROOT .. "/bench/npm/client.js"), port, window, n)
  end,
}

-- name, client, server
local PAIRS = {
  { "ours", "ours", "ours" },
  { "npm", "npm", "npm" },
  { "ours>npm", "ours", "npm" },
  { "npm>ours", "npm", "ours" },
}

local function one_run(client, server, window, n)
  local cpu0 = cpu_seconds(server.pid)
  local cmd = CLIENTS[client](server.port, server.pid, window, n)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  p:close()
  local r = proc.result(out)
  if not r then error(str_format("%s window %d failed:\n%s", cmd, window, out)) end
  -- The server's CPU over the whole client run (bind and unbind included:
  -- a few hundred microseconds against seconds).
  r.srv_us = (cpu_seconds(server.pid) - cpu0) / n * 1e6
  if (r.failed or 0) > 0 then error(str_format("%s: %d submits failed", cmd, r.failed)) end
  return r
end

local function median(list)
  table.sort(list)
  return list[floor((#list + 1) / 2)]
end

local KEYS = { "submits_per_s", "receipts_per_s", "p50", "p99", "cl_us", "srv_us", "rss_kb" }

local function measure(client, server_kind, window, n, runs)
  local server = SERVERS[server_kind]()
  local rs = {}
  for i = 1, runs do rs[i] = one_run(client, server, window, n) end
  local m = { srv_rss_kb = status_kb(server.pid, "VmHWM") or 0 }
  stop_server(server)
  for _, k in ipairs(KEYS) do
    local v = {}
    for i, r in ipairs(rs) do v[i] = r[k] end
    m[k] = median(v)
  end
  return m
end

local list = proc.env_list

local function mb(kb) return str_format("%.1f", kb / 1024) end

local HEAD = "%-9s %6s %10s %10s %8s %8s %8s %8s %7s %7s"
local ROW = "%-9s %6d %10.0f %10.0f %8d %8d %8.2f %8.2f %7s %7s"

local n = tonumber(os.getenv("BENCH_N")) or 200000
local runs = tonumber(os.getenv("BENCH_RUNS")) or 3
local windows = list("BENCH_WINDOWS", "1,10,100")

local function node_version()
  local p = io.popen(NODE .. " --version 2>/dev/null")
  local v = p and p:read("l") or "?"
  if p then p:close() end
  return v
end

local function npm_smpp_version()
  local f = io.open(ROOT .. "/bench/npm/node_modules/smpp/package.json", "r")
  if not f then return "?" end
  local v = f:read("a"):match('"version"%s*:%s*"([^"]+)"') or "?"
  f:close()
  return v
end

print(str_format("compare: %d messages a run, each answered and receipted; median of %d runs;"
                 .. " %s (smpp.client on ev) vs npm smpp %s on node %s", n, runs,
                 _VERSION, npm_smpp_version(), node_version()))
print(str_format(HEAD, "pair", "window", "submits/s", "receipts/s", "p50 us", "p99 us",
                 "cl us", "srv us", "cl MB", "srv MB"))
print("  pair client>server; cl us, srv us: CPU per message of the client and of the server;"
      .. "\n  p50, p99: submit->answer; cl MB, srv MB: peak RSS of each process")
local results = {}
for _, w in ipairs(windows) do
  local window = tonumber(w)
  results[window] = {}
  for _, pair in ipairs(PAIRS) do
    local r = measure(pair[2], pair[3], window, n, runs)
    results[window][pair[1]] = r
    print(str_format(ROW, pair[1], window, r.submits_per_s, r.receipts_per_s, r.p50, r.p99,
                     r.cl_us, r.srv_us, mb(r.rss_kb), mb(r.srv_rss_kb)))
    io.stdout:flush()
  end
end

print("ours / npm (pair against pair):")
print(str_format("%6s %10s %10s %8s %8s %8s %8s", "window", "submits/s", "receipts/s", "p50",
                 "p99", "cl CPU", "srv CPU"))
for _, w in ipairs(windows) do
  local window = tonumber(w)
  local o, t = results[window].ours, results[window].npm
  print(str_format("%6d %9.1fx %9.1fx %7.2fx %7.2fx %7.2fx %7.2fx", window,
                   o.submits_per_s / t.submits_per_s, o.receipts_per_s / t.receipts_per_s,
                   o.p50 / t.p50, o.p99 / t.p99, o.cl_us / t.cl_us, o.srv_us / t.srv_us))
end
local w100 = results[100]
if w100 then
  local ratio = w100.ours.receipts_per_s / w100.npm.receipts_per_s
  print(str_format("target (issue 11): window 100, ours >= 10x the npm pair: %s (%.1fx)",
                   ratio >= 10 and "met" or "MISSED", ratio))
end
