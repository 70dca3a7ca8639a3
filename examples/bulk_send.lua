-- Send many OTPs through one client, from coroutines, and report what
-- happened: a live progress line on stderr, then a summary with counts,
-- rate and submit latency on stdout.
--
--   lua5.4 examples/bulk_send.lua --count 5000 --window 20
--   SMPP_PASSWORD=... lua5.4 examples/bulk_send.lua --host H --port P \
--       --system-id ID --to +6598765432 --count 10
--
-- Options: --count N (1000), --window N (10: submits in flight at once),
-- --workers N (2 x window: coroutines submitting), --to NUMBER (default: a
-- run of test numbers, simulator only), --template ID (otp-login),
-- --receipt-wait SECONDS (10: how long to wait for the last receipts),
-- --host/--port/--system-id (or SMPP_HOST...; password from SMPP_PASSWORD).

do
  local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  package.path = dir .. "/../lua/?.lua;" .. dir .. "/../lua/?/init.lua;" .. package.path
  -- build/ holds the Lua 5.4 build; build/5.1/, build/luajit/... the others (make compat)
  local v = rawget(_G, "jit") and "luajit/"
    or _VERSION ~= "Lua 5.4" and _VERSION:sub(5) .. "/" or ""
  package.cpath = dir .. "/../build/" .. v .. "?.so;" .. package.cpath
end

local smpp = require "smpp"
local cli = require "smpp.cli"

local function die(msg, code)
  cli.die("bulk_send", msg, code)
end

local opts = cli.options("bulk_send", arg, {
  host = "value", port = "value", ["system-id"] = "value", to = "value", template = "value",
  count = "value", window = "value", workers = "value", ["receipt-wait"] = "value" })

local function int_opt(name, default)
  local v = opts[name]
  if v == nil then
    return default
  end
  v = tonumber(v)
  if not v or v < 1 or v % 1 ~= 0 then
    die("--" .. name .. " needs a positive integer", 2)
  end
  return math.floor(v) -- an integer on 5.3+ too ("5.0" is 5.0 there)
end

local count = int_opt("count", 1000)
local window = int_opt("window", 10)
local workers = math.min(int_opt("workers", 2 * window), count)
local receipt_wait = tonumber(opts["receipt-wait"] or "10")

local conn, err = cli.gateway(opts)
local sim, status
if err then
  die(err, 2)
elseif conn then
  -- A real gateway sends real messages: never invent numbers for it.
  if not opts.to then
    die("a gateway needs --to", 2)
  end
else
  sim, conn = cli.simulator()
end
conn.window = window
-- Every message may wait in the client's queue at once.
conn.queue_size = math.max(count, 10000)

local client = smpp.client(conn)
local ok
ok, err, status = client:bind()
if not ok then
  die(string.format("bind to %s:%d failed: %s", conn.host, conn.port, cli.status_text(err, status)))
end

local accepted, failed, receipts = 0, 0, 0
local failures, stats = {}, {}
local latencies = {}
client:on_receipt(function(r)
  receipts = receipts + 1
  stats[r.stat or "?"] = (stats[r.stat or "?"] or 0) + 1
end)

local t0 = smpp.now()
local next_index = 0
local senders_done = 0

local function progress(final)
  local elapsed = smpp.now() - t0
  io.stderr:write(string.format("\r  sent %d/%d  accepted %d  failed %d  receipts %d  %.0f msg/s ",
    accepted + failed, count, accepted, failed, receipts,
    elapsed > 0 and (accepted + failed) / elapsed or 0), final and "\n" or "")
end

-- Workers take the next message number until none is left; each submit
-- yields its coroutine while the others keep the window full.
local function worker()
  while next_index < count do
    next_index = next_index + 1
    local n = next_index
    local to = opts.to or string.format("+659%07d", n)
    local fields = assert(smpp.otp { to = to, template = opts.template or "otp-login",
                                     code = string.format("%06d", n % 1000000) })
    local started = smpp.now()
    local res, serr = client:submit(fields)
    if res then
      accepted = accepted + 1
      latencies[#latencies + 1] = smpp.now() - started
    else
      failed = failed + 1
      failures[serr] = (failures[serr] or 0) + 1
    end
  end
  senders_done = senders_done + 1
end

for _ = 1, workers do
  smpp.spawn(worker)
end

smpp.spawn(function()
  while senders_done < workers do
    progress()
    smpp.sleep(0.2)
  end
  local submit_time = smpp.now() - t0
  -- Receipts trail the answers; wait a bounded time for the rest.
  local deadline = smpp.now() + receipt_wait
  while receipts < accepted and smpp.now() < deadline do
    progress()
    smpp.sleep(0.05)
  end
  progress(true)

  table.sort(latencies)
  local function pct(p)
    if #latencies == 0 then
      return 0
    end
    return latencies[math.max(1, math.ceil(#latencies * p))] * 1000
  end
  print(string.format("messages   %d (window %d, %d coroutines)", count, window, workers))
  print(string.format("accepted   %d", accepted))
  print(string.format("failed     %d", failed))
  for name, n in pairs(failures) do
    print(string.format("  %-24s %d", name, n))
  end
  print(string.format("receipts   %d", receipts))
  for name, n in pairs(stats) do
    print(string.format("  %-24s %d", name, n))
  end
  print(string.format("time       %.3f s to submit, %.3f s with receipts", submit_time,
    smpp.now() - t0))
  print(string.format("rate       %.0f msg/s", submit_time > 0 and count / submit_time or 0))
  print(string.format("latency    p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms", pct(0.5),
    pct(0.95), pct(0.99), pct(1)))
end)

smpp.run()
client:close()
if sim then
  sim:close()
end
os.exit((failed == 0 and receipts == accepted) and 0 or 1)
