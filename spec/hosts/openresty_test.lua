-- The OpenResty backend in real nginx (make hosts): examples/openresty/run
-- with two workers against the real simulator, receipts routed to any bind
-- of the account, requests from curl, 50 at a time.
local process = require "support.process"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  local ok, _, code = p:close()
  return out, code or (ok and 0 or 1)
end

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local HTTP_PORT = 20000 + os.time() % 20000
local ROOT = process.ROOT
local prefix, nginx_pid, sim, sim_port

-- GET path on the endpoint: body, or nil when nothing answered.
local function get(path)
  local out, code = sh(string.format("curl -s -m 10 'http://127.0.0.1:%d%s'", HTTP_PORT, path))
  if code ~= 0 then return nil end
  return out
end

-- n requests, `par` at a time, codes from `first`; answers in dir/r<i>.json.
-- In the background with `bg`: returns the shell's pid file to wait on.
local function batch(dir, first, n, bg, wait)
  os.execute("mkdir -p " .. dir)
  local cmd = string.format("curl -s -Z --parallel-max 50 -m 30 -w '%%{http_code}\\n' "
    .. "'http://127.0.0.1:%d/otp?to=%%2B6598765432&template=otp-login&code=[%d-%d]&wait=%d' "
    .. "-o '%s/r#1.json' > %s/codes.txt 2>&1", HTTP_PORT, first, first + n - 1, wait or 5, dir,
    dir)
  if bg then
    os.execute("(" .. cmd .. "; echo done > " .. dir .. "/finished) &")
    return
  end
  os.execute(cmd)
end

local function wait_file(path, secs)
  for _ = 1, secs * 20 do
    if read(path) then return true end
    os.execute("sleep 0.05")
  end
  return false
end

-- Every answer of a batch: counts by kind; `bad` lists what is no answer.
local function answers(dir, first, n)
  local t = { delivered = 0, receipt_err = 0, errors = {}, bad = {} }
  for i = first, first + n - 1 do
    local body = read(string.format("%s/r%d.json", dir, i)) or ""
    if body:match('"stat":"DELIVRD"') then
      t.delivered = t.delivered + 1
    elseif body:match('"message_id":"%x+"') and body:match('"receipt_err":"') then
      t.receipt_err = t.receipt_err + 1
      t.other = (t.other or "") .. body
    elseif body:match('^{"err":"[^"]+","status":') then
      local err = body:match('^{"err":"([^"]+)"')
      t.errors[err] = (t.errors[err] or 0) + 1
      t.other = (t.other or "") .. body
    else
      t.bad[#t.bad + 1] = i .. ": " .. body
    end
  end
  return t
end

local function fmt(errors)
  local parts = {}
  for k, v in pairs(errors) do parts[#parts + 1] = k .. "=" .. v end
  table.sort(parts)
  return #parts > 0 and table.concat(parts, ", ") or "none"
end

local function start_sim()
  -- Receipts 0.2 s late: requests last long enough for a restart or a
  -- reload to catch some in flight.
  sim = process.sim("--receipt-route any --receipt-delay 0.2 --log"
    .. (sim_port and (" --port " .. sim_port) or ""))
  assert(sim.port, sim.stderr())
  sim_port = sim.port
end

local function wait_bound(workers)
  -- Each worker's /stats says bound; requests land on either, so ask often.
  for _ = 1, 100 do
    local seen = {}
    for _ = 1, 10 do
      local s = get("/stats") or ""
      local w, state = s:match('"worker":(%d+),"state":"(%a+)"')
      if w and state == "bound" then seen[w] = true end
    end
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    if n >= workers then return true end
    os.execute("sleep 0.1")
  end
  return false
end

describe("OpenResty: examples/openresty/run, two workers, the real simulator", function()
  setup(function()
    start_sim()
    prefix = sh("mktemp -d /tmp/smpp-or-test.XXXXXX"):gsub("%s+$", "")
    os.execute(string.format("cd %s && SMPP_PASSWORD=secret setsid examples/openresty/run "
      .. "--http-port %d --smpp-host 127.0.0.1 --smpp-port %d --system-id test --workers 2 "
      .. "--prefix %s > %s/run.out 2>&1 & echo $! > %s/run.pid", ROOT, HTTP_PORT, sim_port,
      prefix, prefix, prefix))
    assert(wait_file(prefix .. "/logs/nginx.pid", 10), read(prefix .. "/run.out"))
    nginx_pid = read(prefix .. "/logs/nginx.pid"):match("%d+")
    assert(wait_bound(2), "workers not bound: " .. tostring(read(prefix .. "/logs/error.log")))
  end)

  teardown(function()
    if nginx_pid then
      os.execute("kill -QUIT " .. nginx_pid)
      for _ = 1, 100 do
        if select(2, sh("kill -0 " .. nginx_pid)) ~= 0 then break end
        os.execute("sleep 0.1")
      end
      os.execute("kill -9 " .. nginx_pid .. " 2>/dev/null")
    end
    if sim then sim.stop() end
    if prefix and not os.getenv("KEEP") then os.execute("rm -rf " .. prefix) end
  end)

  it("answers 1 000 requests, 50 at a time, each with its receipt, from either worker", function()
    local dir = prefix .. "/b1"
    batch(dir, 1, 1000)
    local t = answers(dir, 1, 1000)
    assert.same({}, t.bad)
    assert.same({}, t.errors)
    assert.equal(1000, t.delivered)
    -- Receipts came on both binds (route any), each seen once across workers.
    local stats = get("/stats")
    assert.matches('"receipts_twice":0', stats)
    assert.is_true(tonumber(stats:match('"receipts_all_workers":(%d+)')) >= 1000, stats)
  end)

  it("keeps more waits' time limits than nginx keeps timers (1024 a worker)", function()
    -- 2 500 requests each waiting up to 60 s, in 10 s: were each limit an
    -- nginx timer, pending until it fires, a worker would hold over 1 024.
    local dir = prefix .. "/b0"
    batch(dir, 1, 2500, false, 60)
    local t = answers(dir, 1, 2500)
    assert.same({}, t.bad)
    assert.same({}, t.errors)
    assert.equal(2500, t.delivered)
    local log = read(prefix .. "/logs/error.log") or ""
    assert.is_nil(log:match("%[error%][^\n]*"), "nginx's error log")
  end)

  it("says why a submit was refused, and what a request got wrong", function()
    local body = get("/otp?to=%2B6598765432&template=no-such-template&code=1&wait=5")
    assert.matches('^{"err":"ESME_R%u+","status":%d+}', body)
    local out = sh(string.format("curl -s -o /dev/null -w '%%{http_code}' -m 10 "
      .. "'http://127.0.0.1:%d/otp?to=%%2B6598765432&template=nope&code=1'", HTTP_PORT))
    assert.equal("502", out)
    out = sh(string.format("curl -s -w ' %%{http_code}' -m 10 "
      .. "'http://127.0.0.1:%d/otp?to=%%2B6598765432&template=otp-login'", HTTP_PORT))
    assert.matches('{"err":"code: missing","status":null}%s+400', out)
  end)

  it("rides out a simulator restart: the gap's requests end clearly, binds come back", function()
    local dir = prefix .. "/b2"
    batch(dir, 1, 300, true)
    os.execute("sleep 0.3")
    sim.stop("KILL")
    os.execute("sleep 1")
    start_sim()
    assert(wait_file(dir .. "/finished", 60), "the batch never ended")
    local t = answers(dir, 1, 300)
    print(string.format("\nrestart: delivered %d, no receipt in time %d, errors %s", t.delivered,
      t.receipt_err, fmt(t.errors)))
    assert.same({}, t.bad)
    for err in pairs(t.errors) do
      assert.is_truthy(({ ["connection lost"] = true, ["not sent"] = true, timeout = true,
        ["not bound: call bind first"] = true })[err], err)
    end
    assert.is_true(wait_bound(2), "not bound again")
    local dir2 = prefix .. "/b3"
    batch(dir2, 1, 50)
    local t2 = answers(dir2, 1, 50)
    assert.equal(50, t2.delivered, t2.other)
  end)

  it("reloads under load: every request answered, nothing hangs", function()
    local dir = prefix .. "/b4"
    batch(dir, 1, 300, true)
    os.execute("sleep 0.3")
    local out, code = sh("nginx -p " .. prefix .. " -c conf/nginx.conf -s reload")
    assert.equal(0, code, out)
    assert(wait_file(dir .. "/finished", 60), "the batch never ended")
    local t = answers(dir, 1, 300)
    print(string.format("\nreload: delivered %d, no receipt in time %d, errors %s %s", t.delivered,
      t.receipt_err, fmt(t.errors), (t.other or ""):sub(1, 300)))
    if os.getenv("DIAG") then
      local log = sim.stderr()
      for mid in (t.other or ""):gmatch('"message_id":"(%x+)"') do
        print("== " .. mid)
        for line in log:gmatch("[^\n]+") do
          if line:find(mid, 1, true) then print(line:sub(1, 120)) end
        end
      end
    end
    assert.same({}, t.bad)
    assert.is_true(t.delivered + t.receipt_err > 0)
    assert.is_true(wait_bound(2), "not bound after the reload")
    local dir2 = prefix .. "/b5"
    batch(dir2, 1, 50)
    local t2 = answers(dir2, 1, 50)
    assert.equal(50, t2.delivered, t2.other)
    -- The old workers unbound and went: only two workers are left.
    local function workers()
      return (sh("pgrep -c -P " .. nginx_pid):gsub("%s", ""))
    end
    for _ = 1, 100 do
      if workers() == "2" then break end
      os.execute("sleep 0.1")
    end
    assert.equal("2", workers())
  end)
end)
