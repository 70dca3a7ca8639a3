-- bin/smpp-send, run as a subprocess: output and exit status for every way
-- a send can end.

package.path = "spec/?.lua;" .. package.path
local process = require "support.process"

-- Run smpp-send with `args` (and `env`, "NAME=value"); returns exit status,
-- stdout, stderr.
local function send(args, env)
  return process.run(process.LUA .. " bin/smpp-send " .. args, env)
end

-- A port nothing listens on.
local function closed_port()
  local sim = assert(require("smpp.simulator") { port = 0 })
  local port = sim:port()
  sim:close()
  return port
end

describe("smpp-send", function()
  it("prints help and exits 0", function()
    local code, out = send("--help")
    assert.equal(0, code)
    assert.matches("usage: smpp%-send", out)
    assert.matches("exit status", out)
  end)

  it("sends an OTP to the simulator and prints the message_id", function()
    -- A real gateway's password in the environment does not reach the simulator.
    local code, out, err = send("--simulator --to +6598765432 --template otp-login --code 123456",
      "SMPP_PASSWORD=real-one")
    assert.equal(0, code, err)
    assert.matches("^message_id: %x+\n$", out)
  end)

  it("waits for the receipt and exits 0 when delivered", function()
    local code, out, err = send("--simulator --to +6598765432 --template otp-login "
      .. "--code 123456 --param app=Acme --param n=2 --wait-receipt=5")
    assert.equal(0, code, err)
    assert.matches("stat: DELIVRD", out)
    assert.matches("err: 000", out)
  end)

  it("sends a MSG when no code is given", function()
    local code, out, err = send("--simulator --to +6598765432 --template notice "
      .. "--data-coding 0 --wait-receipt")
    assert.equal(0, code, err)
    assert.matches("stat: DELIVRD", out)
  end)

  it("exits 1 when the receipt says undelivered", function()
    local code, out = send("--simulator --simulator-undeliverable=+999 --to +9991234567 "
      .. "--template otp-login --code 1 --wait-receipt=5")
    assert.equal(1, code)
    assert.matches("stat: UNDELIV", out)
  end)

  it("exits 2 on usage errors", function()
    local code, _, err = send("--template otp-login")
    assert.equal(2, code)
    assert.matches("%-%-to is required", err)
    code = send("--simulator --to +6598765432 --template t --bogus")
    assert.equal(2, code)
    code = send("--simulator --to +6598765432 --template t --service-type SMS")
    assert.equal(2, code)
    code, _, err = send("--to +6598765432 --template t")
    assert.equal(2, code)
    assert.matches("%-%-host", err)
  end)

  it("exits 2 when the message fails its checks, naming the field", function()
    local code, out, err = send("--simulator --to 6598765432 --template otp-login --code 1")
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("to: .*international form", err)
    code, out, err = send("--simulator --to +6598765432 --template notice --service-type MRKT "
      .. "--code 1")
    assert.equal("", out)
    assert.equal(2, code)
    assert.matches("code:", err)
  end)

  it("exits 3 when the gateway rejects the message", function()
    local code, _, err = send("--simulator --to +6598765432 --template no-such --code 1")
    assert.equal(3, code)
    assert.matches("ESME_RSUBMITFAIL %(0x00000045%)", err)
  end)

  it("exits 4 when the gateway does not answer", function()
    local sim = process.sim("--no-answer")
    local code, _, err = send(string.format("--host 127.0.0.1 --port %d --system-id test "
      .. "--timeout 0.3 --to +6598765432 --template otp-login --code 1", sim.port),
      "SMPP_PASSWORD=secret")
    sim.stop()
    assert.equal(4, code)
    assert.matches("no answer", err)
  end)

  it("exits 4 when no receipt comes in time", function()
    local sim = process.sim("--receipt-delay 30")
    local code, out, err = send(string.format("--host 127.0.0.1 --port %d --system-id test "
      .. "--to +6598765432 --template otp-login --code 1 --wait-receipt=0.3", sim.port),
      "SMPP_PASSWORD=secret")
    sim.stop()
    assert.equal(4, code)
    assert.matches("message_id:", out)
    assert.matches("no receipt", err)
  end)

  it("exits 5 when the connection is refused", function()
    local code, _, err = send(string.format("--host 127.0.0.1 --port %d --system-id test "
      .. "--to +6598765432 --template otp-login --code 1", closed_port()), "SMPP_PASSWORD=x")
    assert.equal(5, code)
    assert.matches("connection refused", err)
  end)

  it("exits 5 on bad credentials", function()
    local sim = process.sim("")
    local code, _, err = send(string.format("--host 127.0.0.1 --port %d --system-id test "
      .. "--to +6598765432 --template otp-login --code 1", sim.port), "SMPP_PASSWORD=wrong")
    sim.stop()
    assert.equal(5, code)
    assert.matches("authentication failed", err)
  end)

  it("exits 6 when the link drops after the answer, before the receipt", function()
    -- The simulator closes a link silent for 0.3 s; the receipt would come at 30 s.
    local sim = process.sim("--receipt-delay 30 --idle-timeout 0.3")
    local code, out, err = send(string.format("--host 127.0.0.1 --port %d --system-id test "
      .. "--to +6598765432 --template otp-login --code 1 --wait-receipt=5", sim.port),
      "SMPP_PASSWORD=secret")
    sim.stop()
    assert.equal(6, code, err)
    assert.matches("^message_id: %x+\n$", out)
    assert.matches("link lost after sending.*outcome is unknown", err)
  end)

  it("exits 6 when the link drops after sending", function()
    -- PDU 1 is the bind, answered; PDU 2, the submit, drops the link.
    local sim = process.sim("--drop-after 1")
    local code, _, err = send(string.format("--host 127.0.0.1 --port %d --system-id test "
      .. "--to +6598765432 --template otp-login --code 1", sim.port), "SMPP_PASSWORD=secret")
    sim.stop()
    assert.equal(6, code)
    assert.matches("outcome is unknown", err)
  end)
end)
