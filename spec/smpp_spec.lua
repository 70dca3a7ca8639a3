-- The public module `smpp`: what it gathers, and the README's short example.

local smpp = require "smpp"

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

  it("runs the README's OTP example against the simulator", function()
    local sim = assert(require("smpp.simulator") { port = 0 })
    local c = smpp.client { host = "127.0.0.1", port = sim:port(), system_id = "test",
                            password = "secret" }
    assert(c:bind())
    local res = assert(c:send_otp { to = "+6598765432", template = "otp-login",
                                    code = "123456", wait_receipt = 10 })
    assert.equal("DELIVRD", res.stat)
    c:close()
    sim:close()
  end)
end)
