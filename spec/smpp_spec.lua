-- The public module `smpp`: what it gathers, and the README's short example.

local compat = require "support.compat"
local smpp = require "smpp"

-- The first Lua block after the README heading `heading`, verbatim.
local function readme_lua(heading)
  local f = assert(io.open("README.md", "rb"))
  local text = f:read("*a")
  f:close()
  local at = text:find("\n## " .. heading .. "\n", 1, true)
  assert(at, "README.md: no section '" .. heading .. "'")
  return assert(text:match("```lua\n(.-\n)```", at), "README.md: no Lua block in " .. heading)
end

-- `code` with `old` (which must be there exactly once) replaced by `new`:
-- if the README changes, the test says so instead of running something else.
local function swap(code, old, new)
  local i, j = code:find(old, 1, true)
  assert(i, "README example: no " .. old)
  assert(not code:find(old, j + 1, true), "README example: " .. old .. " more than once")
  return code:sub(1, i - 1) .. new .. code:sub(j + 1)
end

describe("smpp", function()
  it("has a version", function()
    assert.equal("0.1.0", smpp._VERSION)
    assert.equal(smpp._VERSION, require("smpp.client")._VERSION)
    assert.equal(smpp._VERSION, require("smpp.template")._VERSION)
    assert.equal(smpp._VERSION, require("smpp.loop")._VERSION)
  end)

  it("gathers the public API", function()
    for _, name in ipairs { "client", "otp", "message", "marketing", "spawn", "sleep", "run",
                            "stop", "now", "on_error" } do
      assert.is_function(smpp[name], name)
    end
    assert.equal(require("smpp.pdu"), smpp.pdu)
    assert.is_function(smpp.pdu.utf8_to_ucs2)
  end)

  it("loads the simulator on first use", function()
    assert.is_nil(rawget(smpp, "simulator"))
    assert.equal(require("smpp.simulator"), smpp.simulator)
  end)

  it("gives every client the same methods", function()
    local c = smpp.client { host = "127.0.0.1", port = 2775, system_id = "a", password = "b" }
    for _, name in ipairs { "bind", "submit", "on_receipt", "on_close", "on_deliver",
                            "wait_receipt", "send_otp", "close", "stats", "state" } do
      assert.is_function(c[name], name)
    end
    c:close()
  end)

  it("runs the README's OTP example, as printed, against the simulator", function()
    local sim = assert(require("smpp.simulator") { port = 0 })
    -- Only the account changes: the gateway's for the simulator's.
    local code = readme_lua("An OTP in five lines")
    code = swap(code, '"otpsmpp.api.engagelab.cc"', '"127.0.0.1"')
    code = swap(code, "port = PORT", "port = " .. sim:port())
    code = swap(code, '"acme"', '"test"')
    code = swap(code, 'os.getenv("SMPP_PASSWORD")', '"secret"')
    local printed = {}
    local env = setmetatable({
      print = function(...) printed[#printed + 1] = compat.pack(...) end,
    }, { __index = _G })
    local ok, err = pcall(assert(compat.load(code, "=README.md", "t", env)))
    sim:close()
    assert(ok, err)
    assert.equal(1, #printed)
    assert.matches("^%x+$", printed[1][1])
    assert.equal("DELIVRD", printed[1][2])
  end)
end)
