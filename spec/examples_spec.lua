-- The examples and `make demo`, run as subprocesses with short counts.

package.path = "spec/?.lua;" .. package.path
local process = require "support.process"

local LUA = process.LUA
local run = process.run

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do
    n = n + 1
  end
  return n
end

describe("examples", function()
  it("demo.lua sends one OTP and shows the answer and the receipt", function()
    local code, out, err = run(LUA .. " examples/demo.lua")
    assert.equal(0, code, err)
    assert.matches("simulator on 127%.0%.0%.1:%d+", out)
    assert.matches("bound as smpp%.client", out)
    assert.matches("service_type CODE to %+6598765432", out)
    assert.matches('"id":"otp%-login"', out)
    assert.matches("message_id %x+", out)
    assert.matches("receipt +DELIVRD %(err 000, message_state 2 DELIVERED%)", out)
    assert.matches("done +20%d%d%-%d%d%-%d%d %d%d:%d%d UTC", out)
    assert.matches("raw +id:%x+ sub:001 dlvrd:001", out)
    assert.is_nil(out:find("secret", 1, true))
  end)

  it("make demo runs the demo", function()
    local code, out, err = run("make --no-print-directory demo")
    assert.equal(0, code, err)
    assert.matches("examples/demo%.lua", out)
    assert.matches("receipt +DELIVRD", out)
  end)

  it("send_otp.lua sends and waits for the receipt", function()
    local code, out, err = run(LUA .. " examples/send_otp.lua --to +6512345678 --code 999")
    assert.equal(0, code, err)
    assert.matches("message_id %x+", out)
    assert.matches("receipt +DELIVRD err 000", out)
  end)

  it("send_otp.lua wants credentials for a gateway, never guesses them", function()
    local code, _, err = run(LUA .. " examples/send_otp.lua --host 127.0.0.1")
    assert.equal(2, code)
    assert.matches("SMPP_PASSWORD", err)
  end)

  it("the examples refuse options they do not have", function()
    for _, ex in ipairs { "send_otp", "bulk_send", "receipts" } do
      local code, out, err = run(LUA .. " examples/" .. ex .. ".lua --bogus 1")
      assert.are.equal(2, code, ex)
      assert.are.equal("", out)
      assert.are.equal(ex .. ": unknown option --bogus\n", err)
    end
  end)

  it("bulk_send.lua reports counts, rate and latency", function()
    local code, out, err = run(LUA .. " examples/bulk_send.lua --count 300 --window 5")
    assert.equal(0, code, err)
    assert.matches("messages +300 %(window 5, 10 coroutines%)", out)
    assert.matches("accepted +300", out)
    assert.matches("failed +0", out)
    assert.matches("receipts +300", out)
    assert.matches("DELIVRD +300", out)
    assert.matches("rate +%d+ msg/s", out)
    assert.matches("latency +p50 [%d.]+ ms +p95 [%d.]+ ms", out)
    -- The live progress line goes to stderr, ending on the final count.
    assert.matches("sent 300/300 +accepted 300", err)
  end)

  it("receipts.lua prints each receipt as it comes", function()
    local code, out, err = run(LUA .. " examples/receipts.lua --count 6")
    assert.equal(0, code, err)
    assert.equal(6, count(out, "\nsent "))
    assert.equal(4, count(out, "%+659%d+ +DELIVRD"))
    assert.equal(2, count(out, "%+999%d+ +UNDELIV"))
    assert.matches("6 receipts\n$", out)
  end)
end)
