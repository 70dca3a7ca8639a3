-- An independent SMPP client, the npm `smpp` package (spec/npm/client.js),
-- against bin/smpp-sim: bind_transceiver, a UCS2 JSON OTP, the receipt,
-- deliver_sm_resp, unbind.

local json = require "dkjson" -- ships with busted (Debian lua-busted depends on it)

package.path = "spec/?.lua;" .. package.path
local process = require "support.process"
local compat = require "support.compat"

local NPM_DIR = process.ROOT .. "/spec/npm"

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

local function have_node()
  local p = io.popen("command -v node")
  local out = p:read("*a")
  p:close()
  return out ~= ""
end

local function run_client(port, system_id, password, dest)
  local cmd = string.format("node %s/client.js 127.0.0.1 %d %s %s %s 8000 2>&1", NPM_DIR, port,
                            system_id, password, dest or "+6598765432")
  local p = compat.popen(cmd)
  local out = p:read("*a")
  local _, _, code = p:close()
  local last = out:match("([^\n]*)\n?$")
  return code, json.decode(last), out
end

describe("npm smpp client against bin/smpp-sim", function()
  local ready = exists(NPM_DIR .. "/node_modules/smpp/package.json") and have_node()
  local why = "spec/npm/node_modules or node is missing: run `npm install --prefix spec/npm`"

  if not ready then
    if os.getenv("CI") == "true" then
      it("has the npm client installed", function()
        error(why .. " (CI installs it before the tests)")
      end)
    else
      pending(why)
    end
    return
  end

  local h
  after_each(function()
    if h then h.stop() end
    h = nil
  end)

  it("binds, submits a UCS2 OTP, gets and answers its receipt, and unbinds", function()
    h = process.sim("--receipt-delay 0.05")
    assert.is_number(h.port)
    local code, s, out = run_client(h.port, "test", "secret")
    assert.are.equal(0, code, out)
    assert.is_true(s.bound)
    assert.are.equal("test", s.system_id)
    assert.are.equal(0, s.submit_status)
    assert.matches("^%x+$", s.message_id)
    local r = s.receipt
    assert.are.equal("MSG", r.service_type)
    assert.are.equal("", r.source_addr)
    assert.are.equal("+6598765432", r.destination_addr)
    assert.are.equal(0, r.esm_class)
    assert.are.equal(0, r.data_coding)
    assert.are.equal(s.message_id, r.receipted_message_id)
    assert.are.equal(2, r.message_state)
    assert.matches("^id:" .. s.message_id .. " sub:001 dlvrd:001 .* stat:DELIVRD err:000", r.text)
    assert.is_true(s.unbound)
    assert.are.equal(0, s.unbind_status)
  end)

  it("sees UNDELIV for an undeliverable destination", function()
    h = process.sim("--undeliv-prefix +999")
    local code, s, out = run_client(h.port, "test", "secret", "+9991234567")
    assert.are.equal(0, code, out)
    assert.are.equal(5, s.receipt.message_state)
    assert.matches("stat:UNDELIV", s.receipt.text)
  end)

  it("is disconnected without an answer on a wrong password", function()
    h = process.sim("")
    local code, s = run_client(h.port, "test", "wrong")
    assert.are_not.equal(0, code)
    assert.is_false(s.bound)
    assert.are.equal("connection closed", s.error)
  end)
end)
