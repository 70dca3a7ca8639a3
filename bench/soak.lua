-- The soak: smpp.client against the simulator in another process for a
-- long while, at a steady rate, with receipts, while the gateway drops
-- every link on a schedule. Checks that no submit lost its outcome, that
-- every receipt of a success came once, and that the memory of both
-- processes stayed flat after a warm-up; prints the figures.
--
--   lua5.4 bench/soak.lua [--seconds 600] [--rate 5000] [--drop-every 60]
--                         [--window 100] [--receipt-delay 0]
--   (make soak; CI runs a short one)
--
-- Ends with `check soak: 1 passed, 0 failed` (or 0 passed, 1 failed) and
-- exits non-zero on failure.

package.path = "lua/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local smpp = require "smpp"

local opts = { seconds = 600, rate = 5000, ["drop-every"] = 60, window = 100,
               ["receipt-delay"] = 0 }
do
  local i = 1
  while arg[i] do
    local k = arg[i]:match("^%-%-(.+)$")
    if not k or opts[k] == nil or not tonumber(arg[i + 1]) then
      io.stderr:write("usage: soak.lua [--seconds N] [--rate N] [--drop-every N] ",
        "[--window N] [--receipt-delay N]\n")
      os.exit(2)
    end
    opts[k] = tonumber(arg[i + 1])
    i = i + 2
  end
end

-- RSS in KiB of a process, from /proc.
local function rss_kib(pid)
  local f = io.open("/proc/" .. pid .. "/status", "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

local function self_pid()
  local f = assert(io.open("/proc/self/stat", "r"))
  local pid = f:read("a"):match("^(%d+)")
  f:close()
  return pid
end

-- The gateway, in its own process.
local gw = assert(io.popen("echo $$; exec " .. (os.getenv("LUA") or "lua5.4")
  .. " bench/soak_gateway.lua " .. opts["drop-every"] .. " " .. opts["receipt-delay"], "r"))
local gw_pid = tonumber(gw:read("l"))
local gw_port = tonumber((gw:read("l") or ""):match("^PORT (%d+)$"))
assert(gw_port, "the gateway did not start")

local c = smpp.client { host = "127.0.0.1", port = gw_port, system_id = "test",
                        password = "secret", window = opts.window, queue_size = 20000,
                        reconnect_min = 0.1, reconnect_max = 1 }
c:on_log(function(level, msg)
  if level == "error" then io.stderr:write("client: ", msg, "\n") end
end)
assert(c:bind())

-- What every submit became, and the receipts still owed.
local submitted, ended, refused_at_once = 0, 0, 0
local tokens = {}
local owed, n_owed = {}, 0 -- message_id -> true: answered, receipt not yet seen
local receipts, unexpected = 0, 0
local twice = 0

c:on_receipt(function(r)
  if not r.final then return end
  receipts = receipts + 1
  local id = r.message_id
  if owed[id] then
    owed[id] = nil
    n_owed = n_owed - 1
  else
    -- A duplicate, or the receipt of a submit that ended "connection lost"
    -- or "timeout" (sent, outcome unknown): it did go out.
    unexpected = unexpected + 1
  end
end)

local function count(token)
  tokens[token] = (tokens[token] or 0) + 1
end

local function submit_one(fields)
  submitted = submitted + 1
  local done = false
  local ok, err = c:submit(fields, function(res, e)
    if done then
      twice = twice + 1
      return
    end
    done = true
    ended = ended + 1
    if res then
      count("ok")
      if not owed[res.message_id] then
        owed[res.message_id] = true
        n_owed = n_owed + 1
      end
    else
      count(e)
    end
  end)
  if not ok then
    done = true
    ended = ended + 1
    refused_at_once = refused_at_once + 1
    count(err)
  end
end

local fields = assert(smpp.otp { to = "+6598765432", template = "otp-login", code = "123456" })

local me = self_pid()
local samples = {}
local t0 = smpp.now()
local warm_at = t0 + opts.seconds * 0.2
local tick = 0.01
local next_sample = t0

io.write(("soak: %d s at %d submits/s, window %d, links dropped every %s s\n"):format(
  opts.seconds, opts.rate, opts.window, opts["drop-every"]))
io.flush()

-- Pace: every 10 ms, the submits due by then (a client queue past 5 000
-- means the link can't carry the rate: the soak waits rather than piling
-- up, and the achieved rate says so).
while smpp.now() - t0 < opts.seconds do
  smpp.sleep(tick)
  local now = smpp.now()
  local due = math.floor(opts.rate * (now - t0)) - submitted
  local backlog = submitted - ended
  while due > 0 and backlog < 5000 do
    submit_one(fields)
    due = due - 1
    backlog = backlog + 1
  end
  if now >= next_sample then
    next_sample = now + math.max(1, opts.seconds / 60)
    samples[#samples + 1] = { t = now - t0, client = rss_kib(me), gw = rss_kib(gw_pid),
                              heap = math.floor(collectgarbage("count")), submitted = submitted }
    if os.getenv("SOAK_VERBOSE") then
      local x = samples[#samples]
      io.stderr:write(("%6.1f s  client %d KiB (Lua heap %d KiB)  gateway %d KiB  %d submits\n")
        :format(x.t, x.client, x.heap, x.gw or 0, x.submitted))
    end
  end
end

-- Drain: every outcome, then the receipts still due.
local deadline = smpp.now() + 30
while (ended < submitted or n_owed > 0) and smpp.now() < deadline do
  smpp.sleep(0.05)
end
local elapsed = smpp.now() - t0
local s = c:stats()
c:close()
os.execute("kill -TERM " .. gw_pid)
gw:read("a")
gw:close()

-- Memory: after the warm-up, the highest sample against the first one.
local function flat(key)
  local base, top
  for _, x in ipairs(samples) do
    if x.t >= warm_at - t0 and x[key] then
      base = base or x[key]
      top = math.max(top or 0, x[key])
    end
  end
  if not base then return nil, 0, 0 end
  return (top - base) / base, base, top
end
local c_growth, c_base, c_top = flat("client")
local g_growth, g_base, g_top = flat("gw")

local parts = {}
for k, v in pairs(tokens) do parts[#parts + 1] = k .. "=" .. v end
table.sort(parts)
local lost = submitted - ended

io.write("\n")
local row = "%-34s %s\n"
io.write(row:format("seconds", ("%.0f"):format(elapsed)))
io.write(row:format("submits", submitted))
io.write(row:format("outcomes", table.concat(parts, " ")))
io.write(row:format("lost outcomes (must be 0)", lost))
io.write(row:format("outcomes twice (must be 0)", twice))
io.write(row:format("receipts owed, not come (must be 0)", n_owed))
io.write(row:format("receipts", ("%d (%d for submits of unknown outcome)"):format(receipts,
  unexpected)))
io.write(row:format("reconnects", s.reconnects))
io.write(row:format("achieved rate", ("%.0f submits/s"):format(submitted / opts.seconds)))
io.write(row:format("latency answer p50/p99", ("%.2f / %.2f ms"):format(
  (s.latency.answer.p50 or 0) * 1e3, (s.latency.answer.p99 or 0) * 1e3)))
io.write(row:format("RSS client (warm, max, growth)", ("%d KiB, %d KiB, %+.1f %%"):format(
  c_base or 0, c_top or 0, (c_growth or 0) * 100)))
io.write(row:format("RSS gateway (warm, max, growth)", ("%d KiB, %d KiB, %+.1f %%"):format(
  g_base or 0, g_top or 0, (g_growth or 0) * 100)))

local pass = lost == 0 and twice == 0 and n_owed == 0 and submitted > 0
  and c_growth and c_growth <= 0.05 and g_growth and g_growth <= 0.05
  and (opts["drop-every"] == 0 or s.reconnects >= 1)
io.write(row:format("result", pass and "PASS" or "FAIL"))
io.write(("check soak: %d passed, %d failed\n"):format(pass and 1 or 0, pass and 0 or 1))
os.exit(pass and 0 or 1)
