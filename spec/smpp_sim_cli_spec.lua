-- bin/smpp-sim: the simulator as a program, run as a child process the way
-- a user's test harness runs it.

package.path = "spec/?.lua;" .. package.path
local evloop = require "support.evloop"
local process = require "support.process"
local simclient = require "support.simclient"

local wait = evloop.wait
local SIM = process.LUA .. " " .. process.ROOT .. "/bin/smpp-sim"

describe("bin/smpp-sim", function()
  local h

  after_each(function()
    if h then h.stop("KILL") end
    h = nil
  end)

  it("prints usage for --help and exits 0", function()
    local code, out = process.run(SIM .. " --help")
    assert.are.equal(0, code)
    assert.matches("usage: smpp%-sim", out)
    for _, opt in ipairs { "--host", "--port", "--account", "--template", "--receipt-delay",
                           "--receipt-esm-class", "--undeliv-prefix", "--fail-rate",
                           "--fail-status", "--log" } do
      assert.is_truthy(out:find(opt, 1, true), opt)
    end
  end)

  it("exits 2 with a message for a bad option", function()
    local cases = {
      { "--bogus", "unknown option %-%-bogus" },
      { "--port", "%-%-port needs a value" },
      { "--port x", "%-%-port needs a number, got x" },
      { "--log=yes", "%-%-log takes no value" },
      { "--account acme", "%-%-account needs ID:PASSWORD" },
      { "--fail-status ESME_RSYSERR",
        "%-%-fail%-status needs %-%-fail%-rate or %-%-fail%-every" },
      { "--fail-every 1 --fail-status ESME_NOPE",
        "simulator: faults: unknown status name 'ESME_NOPE'" },
    }
    for _, c in ipairs(cases) do
      local code, out, err = process.run(SIM .. " " .. c[1])
      assert.are.equal(2, code, c[1])
      assert.are.equal("", out)
      assert.matches("^smpp%-sim: " .. c[2] .. "\n%(try smpp%-sim %-%-help%)\n$", err)
    end
  end)

  it("prints the port it listens on when given --port 0", function()
    h = process.sim("")
    assert.is_number(h.port, "got line: " .. tostring(h.line))
    assert.is_true(h.port > 0)
  end)

  it("serves bind and submit with the accounts and templates given", function()
    h = process.sim("--account acme:pw --template welcome --undeliv-prefix +999 --log")
    assert.is_number(h.port, tostring(h.line))
    local receipt
    local c = simclient.bound(h.port, { system_id = "acme", password = "pw" },
                              function(r) receipt = r end)
    local welcome = simclient.ucs2('{"id":"welcome","params":{"name":"Ann"}}')
    local res, err = simclient.submit(c, { destination_addr = "+9991234567",
                                           service_type = "MSG", short_message = welcome })
    assert.is_table(res, err)
    assert.is_true(wait(function() return receipt end))
    assert.are.equal(res.message_id, receipt.message_id)
    assert.are.equal("UNDELIV", receipt.stat)
    -- The default template is gone when --template is given.
    assert.are.equal("ESME_RSUBMITFAIL", select(2, simclient.submit(c)))
    evloop.close(c)
    h.stop("TERM")
    local log = h.stderr()
    assert.matches("in  submit_sm", log)
    assert.matches("bind_transceiver", log)
  end)

  it("runs on libev, whatever backend SMPP_BACKEND names", function()
    h = process.sim("", "SMPP_BACKEND=no_such_backend")
    assert.is_number(h.port, "got line: " .. tostring(h.line) .. "; " .. h.stderr())
    local c, ok, err = simclient.bound(h.port)
    assert.is_true(ok, err)
    evloop.close(c)
  end)

  it("refuses the default account when --account is given", function()
    h = process.sim("--account acme:pw")
    local c, ok, err = simclient.bound(h.port)
    assert.is_nil(ok)
    assert.are.equal("authentication failed", err)
    c:close()
  end)

  it("counts the bind among the PDUs of --drop-after", function()
    h = process.sim("--drop-after 2")
    -- No receipts: their deliver_sm_resp would count too.
    local quiet = { registered_delivery = 0 }
    local c = simclient.bound(h.port)           -- PDU 1
    assert.is_table(simclient.submit(c, quiet)) -- PDU 2
    assert.are.equal("connection lost", select(2, simclient.submit(c, quiet))) -- PDU 3
    c:close()
  end)

  it("says on stop how many receipts were still waiting for their delay", function()
    h = process.sim("--receipt-delay 30")
    local c = simclient.bound(h.port)
    assert.is_table(simclient.submit(c))
    assert.is_table(simclient.submit(c))
    assert.is_table(simclient.submit(c, { registered_delivery = 0 })) -- asks for none
    h.stop("TERM")
    c:close()
    assert.matches("smpp%-sim: 2 receipts not sent %(still waiting for their delay%)\n",
                   h.stderr())
  end)

  it("says nothing about unsent receipts when none were waiting", function()
    h = process.sim("")
    h.stop("TERM")
    assert.is_nil(h.stderr():find("not sent", 1, true))
  end)

  -- A clean stop: links closed, counters printed, exit 0.
  for _, sig in ipairs { "TERM", "INT" } do
    it("stops on SIG" .. sig .. " with exit status 0, closing its links", function()
      h = process.sim("")
      local c = simclient.bound(h.port)
      local closed
      c:on_close(function(reason) closed = reason end)
      local ok, how, code = h.stop(sig)
      assert.is_true(wait(function() return closed end))
      c:close()
      assert.are.same({ true, "exit", 0 }, { ok, how, code })
      assert.matches("SIG" .. sig .. ": stopped; 1 binds", h.stderr())
    end)
  end
end)
