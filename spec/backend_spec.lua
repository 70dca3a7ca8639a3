-- smpp.backend: which backend the Lua layer runs on, and how it is chosen.

package.path = "spec/?.lua;" .. package.path
local smpp = require "smpp"

local LUA = os.getenv("LUA") or "lua5.4"

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

-- Runs `code` in a fresh lua5.4 with this checkout's modules and `env`
-- (a shell prefix such as "SMPP_BACKEND=ev"); returns success and output.
local function run_lua(env, code)
  local out = os.tmpname()
  local cmd = string.format("env -u SMPP_BACKEND %s LUA_PATH='%s' LUA_CPATH='%s' timeout 10 %s"
    .. " -e '%s' >%s 2>&1", env, package.path, package.cpath, LUA, code, out)
  local ok = os.execute(cmd)
  local f = assert(io.open(out, "rb"))
  local text = f:read("a")
  f:close()
  os.remove(out)
  return ok, text
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
    local ok, out = run_lua("SMPP_BACKEND=ev", 'print(require("smpp").backend())')
    assert.is_true(ok, out)
    assert.equal("ev\n", out)
    ok, out = run_lua("SMPP_BACKEND=nope", 'require("smpp").client { host = "127.0.0.1",'
      .. ' port = 1, system_id = "a", password = "b" }')
    assert.is_falsy(ok)
    assert.matches('SMPP_BACKEND=nope: backend "nope" does not load', out)
  end)

  it("can be chosen after require \"smpp\", until first use", function()
    local ok, out = run_lua("", 'local smpp = require "smpp"; smpp.use("socket");'
      .. ' print(smpp.backend(), package.loaded["smpp.ev"] ~= nil)')
    assert.is_true(ok, out)
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
    local process = require "support.process"
    local sim = process.sim("")
    assert(sim.port, sim.line)
    local ok, out = run_lua("SMPP_BACKEND=socket", string.format([[
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
    assert.is_true(ok, out)
    assert.equal("socket\tDELIVRD\tnil\n", out)
  end)
end)
