-- bin/smpp-send, run as a subprocess: output and exit status for every way
-- a send can end.

local LUA = os.getenv("LUA") or "lua5.4"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

-- Run smpp-send with `args` and a clean environment (no SMPP_* from the
-- caller's shell); returns exit status, stdout, stderr.
local function send(args, env)
  local out, err = os.tmpname(), os.tmpname()
  local cmd = string.format("env -u SMPP_HOST -u SMPP_PORT -u SMPP_SYSTEM_ID -u SMPP_PASSWORD "
    .. "%s %s bin/smpp-send %s >%s 2>%s </dev/null", env or "", LUA, args, out, err)
  local _, _, code = os.execute(cmd)
  return code, slurp(out), slurp(err)
end

-- bin/smpp-sim in the background, for gateways that misbehave on purpose.
local function start_sim(args)
  local log = os.tmpname()
  local p = assert(io.popen(string.format("%s bin/smpp-sim --port 0 %s >%s 2>&1 & echo $!",
    LUA, args, log)))
  local pid = assert(tonumber(p:read("l")))
  p:close()
  local port
  for _ = 1, 100 do
    local f = io.open(log)
    local text = f and f:read("a") or ""
    if f then
      f:close()
    end
    port = text:match("listening on [%d.]+:(%d+)")
    if port then
      break
    end
    os.execute("sleep 0.05")
  end
  assert(port, "smpp-sim did not start")
  return { port = tonumber(port), stop = function()
    os.execute("kill " .. pid)
    os.remove(log)
  end }
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
    local sim = start_sim("--no-answer")
    local code, _, err = send(string.format("--host 127.0.0.1 --port %d --system-id test "
      .. "--timeout 0.3 --to +6598765432 --template otp-login --code 1", sim.port),
      "SMPP_PASSWORD=secret")
    sim.stop()
    assert.equal(4, code)
    assert.matches("no answer", err)
  end)

  it("exits 4 when no receipt comes in time", function()
    local sim = start_sim("--receipt-delay 30")
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
    local sim = start_sim("")
    local code, _, err = send(string.format("--host 127.0.0.1 --port %d --system-id test "
      .. "--to +6598765432 --template otp-login --code 1", sim.port), "SMPP_PASSWORD=wrong")
    sim.stop()
    assert.equal(5, code)
    assert.matches("authentication failed", err)
  end)

  it("exits 6 when the link drops after the answer, before the receipt", function()
    -- The simulator closes a link silent for 0.3 s; the receipt would come at 30 s.
    local sim = start_sim("--receipt-delay 30 --idle-timeout 0.3")
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
    local sim = start_sim("--drop-after 1")
    local code, _, err = send(string.format("--host 127.0.0.1 --port %d --system-id test "
      .. "--to +6598765432 --template otp-login --code 1", sim.port), "SMPP_PASSWORD=secret")
    sim.stop()
    assert.equal(6, code)
    assert.matches("outcome is unknown", err)
  end)
end)
