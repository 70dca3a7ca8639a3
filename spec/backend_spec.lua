-- smpp.backend: which backend the Lua layer runs on, and how it is chosen.

package.path = "spec/?.lua;" .. package.path
local smpp = require "smpp"

local process = require "support.process"

-- A fresh copy of smpp.backend, with nothing chosen yet.
local function fresh()
  return dofile(assert(package.searchpath("smpp.backend", package.path)))
end

-- A backend table with every function a backend must have.
local function stand_in(name)
  local b = { name = name or "stand-in" }
  for _, k in ipairs { "now", "timer", "on_error", "client", "server" } do
    b[k] = function() end
  end
  return b
end

-- `code` in a fresh interpreter whose backend is only what `env` says.
local function run_in(env, code)
  return process.lua(code, "-u SMPP_BACKEND " .. env)
end

describe("smpp.backend", function()
  it("is the one SMPP_BACKEND names, or libev by default", function()
    local want = os.getenv("SMPP_BACKEND")
    if want == nil or want == "" then want = "ev" end
    assert.equal(want, smpp.backend())
    assert.equal(require("smpp.backend").get(), require("smpp.loop").host())
  end)

  it("gives every backend the host's functions", function()
    local b = require("smpp.backend").get()
    for _, k in ipairs { "now", "timer", "on_error", "run_once", "client", "server" } do
      assert.is_function(b[k], k)
    end
    assert.is_number(b.now())
    local fired = false
    local t = b.timer(0, function() fired = true end)
    smpp.sleep(0.01)
    assert.is_true(fired)
    t:stop()
  end)

  it("takes a backend table before first use, and the same one again", function()
    local backend = fresh()
    local b = stand_in()
    assert.equal(b, backend.use(b))
    assert.equal(b, backend.get())
    assert.equal(b, backend.use(b))
  end)

  it("refuses to change the backend once one is in use", function()
    local backend = fresh()
    backend.use(stand_in("first"))
    assert.has_error(function() backend.use(stand_in("second")) end,
      'smpp.use: backend "first" is already in use; choose "second" before the first client,'
      .. " timer or wait")
  end)

  it("raises on a name or table that is no backend", function()
    local backend = fresh()
    assert.has_error(function() backend.use(42) end,
      "smpp.use: expected a backend name or table, got number")
    assert.has_error(function() backend.use("../x") end, 'smpp.use: bad backend name "../x"')
    assert.has_error(function() backend.use("nope") end)
    local b = stand_in()
    b.timer = nil
    assert.has_error(function() backend.use(b) end, 'smpp.backend: a backend needs "timer"')
    assert.is_nil(rawget(backend, "current"))
  end)

  it("is chosen by SMPP_BACKEND, and a name that does not load raises", function()
    local code, out = run_in("SMPP_BACKEND=ev", 'print(require("smpp").backend())')
    assert.equal(0, code, out)
    assert.equal("ev\n", out)
    code, out = run_in("SMPP_BACKEND=nope", 'require("smpp").client { host = "127.0.0.1",'
      .. ' port = 1, system_id = "a", password = "b" }')
    assert.not_equal(0, code)
    assert.matches('SMPP_BACKEND=nope: backend "nope" does not load', out)
  end)

  it("can be chosen after require \"smpp\", until first use", function()
    local code, out = run_in("", 'local smpp = require "smpp"; smpp.use("socket");'
      .. ' print(smpp.backend(), package.loaded["smpp.ev"] ~= nil)')
    assert.equal(0, code, out)
    assert.equal("socket\tfalse\n", out)
  end)

  it("is the only part of the Lua layer that loads smpp.ev", function()
    local p = assert(io.popen("grep -rlE 'require[ (]*[\"'\\'']smpp\\.ev[\"'\\'']' lua"))
    local files = {}
    for line in p:lines() do files[#files + 1] = line end
    p:close()
    assert.same({ "lua/smpp/backend/ev.lua" }, files)
  end)

  it("never loads smpp.ev on the LuaSocket backend", function()
    -- The simulator in a process of its own (bin/smpp-sim runs on libev);
    -- the client in a fresh one that must never load libev.
    local sim = process.sim("")
    assert(sim.port, sim.line)
    local code, out = run_in("SMPP_BACKEND=socket", string.format([[
      local smpp = require "smpp"
      local core = require "smpp.core"
      local template = require "smpp.template"
      assert(core.session and template.otp)
      local c = smpp.client { host = "127.0.0.1", port = %d, system_id = "test",
                              password = "secret" }
      assert(c:bind())
      local res = assert(c:send_otp { to = "+6598765432", template = "otp-login",
                                      code = "1", wait_receipt = 5 })
      c:close()
      print(smpp.backend(), res.stat, package.loaded["smpp.ev"])
    ]], sim.port))
    sim.stop()
    assert.equal(0, code, out)
    assert.equal("socket\tDELIVRD\tnil\n", out)
  end)

  it("a backend that ends a submit before submit returns: the callback still comes after",
    function()
    -- A backend whose links end every submit at once, inside submit (a
    -- link that fails while writing from top-level code does so).
    local code, out = run_in("", [[
      local smpp = require "smpp"
      local ev = require "smpp.backend.ev"
      local b = {}
      for k, v in pairs(ev) do b[k] = v end
      b.name = "eager"
      b.client = function(opts)
        local link = ev.client(opts)
        local proxy = {}
        function proxy.submit(_, fields, fn, arg)
          fn(nil, "not sent", nil, nil, arg)
          return true
        end
        return setmetatable(proxy, { __index = function(_, k)
          local v = link[k]
          if type(v) == "function" then
            return function(_, ...) return v(link, ...) end
          end
          return v
        end })
      end
      smpp.use(b)
      local c = smpp.client { host = "127.0.0.1", port = 9, system_id = "a", password = "b",
                              reconnect = false }
      local order = {}
      local ok = c:submit(smpp.otp { to = "+6598765432", template = "otp-login", code = "1" },
        function(res, err) order[#order + 1] = "cb " .. tostring(res) .. " " .. err end)
      order[#order + 1] = "returned " .. tostring(ok)
      smpp.sleep(0.01)
      -- From a coroutine: the result, without a yield that nothing resumes.
      smpp.spawn(function()
        local res, err = c:submit(smpp.otp { to = "+6598765432", template = "otp-login",
                                             code = "1" })
        order[#order + 1] = "coroutine " .. tostring(res) .. " " .. err
      end)
      smpp.sleep(0.01)
      print(table.concat(order, ", "))
    ]])
    assert.equal(0, code, out)
    assert.equal("returned true, cb nil not sent, coroutine nil not sent\n", out)
  end)
end)

describe("smpp.backend.socket's loop", function()
  local host = require "smpp.backend.socket"

  -- Turn the loop until it says nothing is left; false after 5 s.
  local function run_out()
    local deadline = host.now() + 5
    while host.run_once() do
      if host.now() > deadline then return false end
    end
    return true
  end

  it("fires timers in time order, not a stopped one, then has nothing left", function()
    local fired = {}
    host.timer(0.03, function() fired[#fired + 1] = "c" end)
    host.timer(0.01, function() fired[#fired + 1] = "a" end)
    local stopped = host.timer(0.02, function() fired[#fired + 1] = "stopped" end)
    host.timer(0.02, function() fired[#fired + 1] = "b" end)
    stopped:stop()
    stopped:stop()
    assert.is_true(run_out())
    assert.same({ "a", "b", "c" }, fired)
    assert.is_false(host.run_once())
  end)

  it("wakes a thread waiting on a condition by signal or by timeout", function()
    local c = host.cond()
    local got = {}
    local function waiter(name, timeout)
      return function()
        local r = { name, c:wait(timeout) }
        got[#got + 1] = r
      end
    end
    host.spawn(waiter("signalled"))
    host.spawn(waiter("timed out", 0.01))
    host.run_once(false) -- both wait now
    assert.same({}, got)
    assert.is_true(run_out())
    assert.same({ { "timed out", nil, "timeout" } }, got)
    c:signal()
    assert.is_true(run_out())
    assert.same({ "signalled", true }, got[2])
  end)

  it("starts a spawned thread only from the loop", function()
    local ran = false
    host.spawn(function() ran = true end)
    assert.is_false(ran)
    host.run_once(false)
    assert.is_true(ran)
  end)

  it("refuses to wait outside a thread", function()
    assert.has_error(function() host.cond():wait() end,
      "cond:wait: must run in a thread started by spawn")
    assert.has_error(function() host.connect("127.0.0.1", 1, 1) end,
      "connect: must run in a thread started by spawn")
  end)

  it("hands errors of timers and threads to on_error, with a traceback", function()
    local errors = {}
    host.on_error(function(msg) errors[#errors + 1] = msg end)
    host.timer(0, function() error("timer boom") end)
    host.spawn(function() error("thread boom") end)
    assert.is_true(run_out())
    host.on_error(nil)
    assert.equal(2, #errors)
    for _, msg in ipairs(errors) do
      assert.matches("boom", msg)
      assert.matches("stack traceback", msg)
    end
  end)
end)

describe("a backend's receipt store", function()
  it("that fails ends the wait at once, saying so, instead of leaving it waiting", function()
    -- The ev backend with a store whose wait raises; receipts come 0.3 s
    -- late so that send_otp has to wait.
    local code, out = run_in("", [[
      local smpp = require "smpp"
      local receipts = require "smpp.receipts"
      local ev = require "smpp.backend.ev"
      local b = setmetatable({ name = "failing-store" }, { __index = ev })
      function b.receipts(opts)
        local s = receipts.new(opts)
        function s.wait() error("no room") end
        return s
      end
      smpp.use(b)
      local sim = assert(smpp.simulator { port = 0, receipt_delay = 0.3 })
      local c = smpp.client { host = "127.0.0.1", port = sim:port(), system_id = "test",
                              password = "secret" }
      local logs = {}
      c:on_log(function(level, msg) logs[#logs + 1] = level .. " " .. msg end)
      assert(c:bind())
      local r = assert(c:send_otp { to = "+6598765432", template = "otp-login", code = "1",
                                    wait_receipt = 5 })
      print("id", r.message_id ~= nil, "receipt_err", r.receipt_err)
      local w, err = c:wait_receipt(r.message_id, 5)
      print("wait", tostring(w), err)
      local logged = table.concat(logs, "|"):match("error receipt store failed: [^|]*no room")
      print("logged", logged ~= nil)
      c:close(); sim:close()]])
    assert.equal(0, code, out)
    assert.matches("id\ttrue\treceipt_err\treceipt store: [^\n]*no room", out)
    assert.matches("wait\tnil\treceipt store: [^\n]*no room", out)
    assert.matches("logged\ttrue", out)
  end)
end)

describe("smpp.backend.ev's timers", function()
  -- A fresh interpreter: the loop must hold nothing but these timers.
  local function fresh_lua(code)
    return process.lua(code, "-u SMPP_BACKEND")
  end

  it("fire in time order, not a stopped one, an error reported and the rest run", function()
    local code, out = fresh_lua([[
      local host = require "smpp.backend.ev"
      local ev = require "smpp.ev"
      local fired = {}
      ev.on_error(function(msg) fired[#fired + 1] = "error:" .. msg:match("boom") end)
      host.timer(0.03, function() fired[#fired + 1] = "c" end)
      host.timer(0.01, function() fired[#fired + 1] = "a" end)
      local stopped = host.timer(0.02, function() fired[#fired + 1] = "stopped" end)
      host.timer(0.02, function() error("boom") end)
      host.timer(0.02, function() fired[#fired + 1] = "b" end)
      -- Added from a timer, due at once: runs in the same turn or the next.
      host.timer(0.01, function()
        host.timer(0, function() fired[#fired + 1] = "a2" end)
      end)
      stopped:stop()
      stopped:stop()
      local t0 = host.now()
      while host.run_once() do end
      print(table.concat(fired, " "), host.now() - t0 >= 0.029)
    ]])
    assert.equal(0, code, out)
    assert.equal("a a2 error:boom b c\ttrue\n", out)
  end)

  it("leave the loop with nothing active once the last one is stopped", function()
    local code, out = fresh_lua([[
      local host = require "smpp.backend.ev"
      local t = host.timer(30, function() print("fired") end)
      local t2 = host.timer(60, function() print("fired") end)
      t:stop()
      t2:stop()
      local t0 = os.time()
      print(host.run_once(), os.time() - t0 < 5)
    ]])
    assert.equal(0, code, out)
    assert.equal("false\ttrue\n", out)
  end)
end)
