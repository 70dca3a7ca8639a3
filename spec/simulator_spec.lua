-- smpp.simulator: the gateway's rules (reference/engagelab-smpp.txt) over
-- real loopback sockets, driven by ev.client and by raw PDUs on LuaSocket.

package.path = "spec/?.lua;" .. package.path
local compat = require "support.compat"
local ev = require "smpp.ev"
local pdu = require "smpp.pdu"
local simulator = require "smpp.simulator"
local socket = require "socket"
local evloop = require "support.evloop"
local simclient = require "support.simclient"

local gettime = socket.gettime
local wait_until = evloop.wait
local ucs2 = simclient.ucs2
local OTP_JSON = simclient.OTP_JSON
local bound_client = simclient.bound
local otp = simclient.otp
local submit = simclient.submit

---------------------------------------------------------------------------
-- A raw SMPP peer on a LuaSocket connection; the loop runs while it waits,
-- so the in-process simulator keeps serving.
local Raw = {}
Raw.__index = Raw

local function raw_connect(port)
  local s = assert(socket.tcp())
  s:settimeout(1)
  assert(s:connect("127.0.0.1", port))
  s:setoption("tcp-nodelay", true)
  s:settimeout(0)
  return setmetatable({ sock = s, buf = "", seq = 0 }, Raw)
end

function Raw:send(t)
  if not t.sequence_number then
    self.seq = self.seq + 1
    t.sequence_number = self.seq
  end
  t.command_status = t.command_status or 0
  local bytes = assert(pdu.encode(t))
  self:send_bytes(bytes)
  return t.sequence_number
end

function Raw:send_bytes(bytes)
  local i = 1
  local deadline = gettime() + 2
  while i <= #bytes do
    local n, err, partial = self.sock:send(bytes, i)
    n = n or partial
    if err == "closed" then return nil, "closed" end
    if n and n >= i then i = n + 1 end
    if i <= #bytes then
      assert(gettime() < deadline, "send timed out")
      ev.run_once(false)
    end
  end
  return true
end

-- Next PDU as a decoded table, or nil, "closed" / "timeout".
function Raw:read(timeout)
  local got, closed
  local function try()
    if #self.buf >= 16 then
      local len = compat.read_be32(self.buf)
      if #self.buf >= len then
        local bytes = self.buf:sub(1, len)
        self.buf = self.buf:sub(len + 1)
        got = assert(pdu.decode(bytes))
        return true
      end
    end
    local data, err, partial = self.sock:receive(65536)
    data = data or partial
    if data and #data > 0 then
      self.buf = self.buf .. data
      return false
    end
    if err == "closed" then
      closed = true
      return true
    end
    return false
  end
  -- The simulator runs on this loop: turn it without blocking, then give
  -- the raw socket a moment to bring the simulator's bytes.
  local deadline = gettime() + (timeout or 2)
  while not try() and gettime() < deadline do
    ev.run_once(false)
    socket.select({ self.sock }, nil, 0.001)
  end
  if got then return got end
  return nil, closed and "closed" or "timeout"
end

-- Read until a PDU of command name arrives (others are kept in order).
function Raw:expect(command, timeout)
  local p, err = self:read(timeout)
  assert(p, "expected " .. command .. ", got " .. tostring(err))
  assert.are.equal(command, p.command)
  return p
end

function Raw:bind(system_id, password)
  local seq = self:send { command = "bind_transceiver", system_id = system_id or "test",
                          password = password or "secret", system_type = "",
                          interface_version = 0x34, addr_ton = 0, addr_npi = 0,
                          address_range = "" }
  local r = self:expect("bind_transceiver_resp")
  assert.are.equal(seq, r.sequence_number)
  return r
end

function Raw:submit(fields)
  local t = {
    command = "submit_sm", service_type = "MSG", source_addr_ton = 0, source_addr_npi = 0,
    source_addr = "", dest_addr_ton = 1, dest_addr_npi = 1,
    destination_addr = "+6598765432", esm_class = 0, protocol_id = 0, priority_flag = 0,
    schedule_delivery_time = "", validity_period = "", registered_delivery = 1,
    replace_if_present_flag = 0, data_coding = 8, sm_default_msg_id = 0,
    short_message = ucs2(OTP_JSON),
  }
  for k, v in pairs(fields or {}) do t[k] = v end
  return self:send(t)
end

-- Submit and return the submit_sm_resp (receipts that come first are kept).
function Raw:submit_resp(fields)
  local seq = self:submit(fields)
  self.early = self.early or {}
  while true do
    local p = assert(self:read())
    if p.command == "submit_sm_resp" then
      assert.are.equal(seq, p.sequence_number)
      return p
    end
    self.early[#self.early + 1] = p
  end
end

function Raw:close()
  self.sock:close()
end

describe("smpp.simulator", function()
  local sim, port

  local function start(opts)
    opts = opts or {}
    opts.port = opts.port or 0
    if opts.log == nil then opts.log = "memory" end
    sim = assert(simulator(opts))
    port = sim:port()
    return sim
  end

  -- start(opts), then a raw peer bound as test/secret.
  local function bound_raw(opts)
    start(opts)
    local raw = raw_connect(port)
    raw:bind()
    return raw
  end

  after_each(function()
    if sim then sim:close() end
    sim = nil
    evloop.sleep(0.005)
  end)

  describe("options", function()
    it("listens on a free port when port is 0", function()
      start()
      assert.is_true(port > 0)
      local other = assert(simulator { port = 0 })
      assert.are_not.equal(port, other:port())
      other:close()
    end)

    it("raises at the caller's line for an unknown option", function()
      local ok, err = pcall(function()
        local s = simulator { prot = 2775 } -- not a tail call: keep this frame
        return s
      end)
      assert.is_false(ok)
      assert.matches("unknown option 'prot'", err)
      assert.matches("simulator_spec.lua", err)
    end)

    it("refuses a password over 8 bytes (SMPP 3.4 5.2.1)", function()
      assert.has_error(function()
        simulator { port = 0, accounts = { acme = "123456789" } }
      end)
    end)

    it("raises for an unknown fault status name", function()
      assert.has_error(function()
        simulator { port = 0, faults = { every = 1, status = "ESME_NOPE" } }
      end)
    end)

    it("returns nil and an error when the port is taken", function()
      start()
      local other, err = simulator { port = port }
      assert.is_nil(other)
      assert.is_string(err)
    end)
  end)

  describe("bind (gateway: Establishing Connection)", function()
    it("answers bind_transceiver with bind_transceiver_resp echoing system_id", function()
      start()
      local raw = raw_connect(port)
      local r = raw:bind("test", "secret")
      assert.are.equal(0, r.command_status)
      assert.are.equal("test", r.system_id)
      raw:close()
    end)

    it("accepts each configured account, list or map form", function()
      start { accounts = { { system_id = "acme", password = "pw1" }, { system_id = "beta",
                                                                        password = "" } } }
      local a = raw_connect(port)
      assert.are.equal("acme", a:bind("acme", "pw1").system_id)
      local b = raw_connect(port)
      assert.are.equal("beta", b:bind("beta", "").system_id)
      a:close()
      b:close()
    end)

    it("closes the socket with no answer on a wrong password, and logs why", function()
      start()
      local raw = raw_connect(port)
      raw:send { command = "bind_transceiver", system_id = "test", password = "wrong" }
      local p, err = raw:read()
      assert.is_nil(p)
      assert.are.equal("closed", err)
      local refused = sim:log_entries { event = "bind_refused" }
      assert.are.equal(1, #refused)
      assert.are.equal("wrong password", refused[1].reason)
      assert.are.equal(1, sim:stats().binds_refused)
    end)

    it("closes the socket on an unknown system_id", function()
      start()
      local raw = raw_connect(port)
      raw:send { command = "bind_transceiver", system_id = "nobody", password = "secret" }
      assert.are.equal("closed", select(2, raw:read()))
      assert.are.equal("unknown system_id", sim:log_entries { event = "bind_refused" }[1].reason)
    end)

    it("closes the socket when the first PDU is not bind_transceiver", function()
      for _, first in ipairs { "enquire_link", "bind_transmitter", "bind_receiver" } do
        start()
        local raw = raw_connect(port)
        local t = { command = first }
        if first ~= "enquire_link" then
          t.system_id, t.password = "test", "secret"
        end
        raw:send(t)
        local p, err = raw:read()
        assert.is_nil(p, first .. " got an answer")
        assert.are.equal("closed", err)
        local refused = sim:log_entries { event = "bind_refused" }
        assert.are.equal(1, #refused, first)
        assert.matches("first PDU was " .. first, refused[1].reason)
        sim:close()
      end
    end)

    it("says why it closed a connection whose first bytes are not a PDU", function()
      start()
      local raw = raw_connect(port)
      raw:send_bytes(compat.be32(5, 0x00000009, 0, 1)) -- command_length 5 < 16
      assert.are.same({ nil, "closed" }, { raw:read() })
      local want = "command_length 5 is less than the 16-byte header"
      local refused = sim:log_entries { event = "bind_refused" }
      assert.are.equal(1, #refused)
      assert.are.equal("broken stream: " .. want, refused[1].reason)
      local pin = sim:log_entries { dir = "in" }[1]
      assert.are.equal(want, pin.error)
      local line = simulator.format_log(pin)
      assert.matches("in  broken stream: " .. want, line, 1, true)
      assert.is_nil(line:find("nil", 1, true), line)
      assert.is_nil(simulator.format_log(refused[1]):find("nil", 1, true))
      assert.is_true(wait_until(function() return #sim:log_entries { event = "closed" } == 1 end))
      assert.are.equal("protocol error: broken stream: " .. want,
                       sim:log_entries { event = "closed" }[1].reason)
    end)

    it("says why it refused a bind_transceiver that does not decode", function()
      start()
      local raw = raw_connect(port)
      -- system_id "ab", then the body ends: no password, no system_type.
      raw:send_bytes(compat.be32(20, 0x00000009, 0, 1) .. "ab\0\0")
      assert.are.same({ nil, "closed" }, { raw:read() })
      local refused = sim:log_entries { event = "bind_refused" }
      assert.are.equal(1, #refused)
      assert.matches("^bind_transceiver does not decode: ", refused[1].reason)
      assert.matches("error=", simulator.format_log(sim:log_entries { dir = "in" }[1]))
    end)

    it("does not blame a PDU sent right behind the bind in the same write", function()
      start()
      local raw = raw_connect(port)
      local bind = assert(pdu.encode { command = "bind_transceiver", sequence_number = 1,
                                       command_status = 0, system_id = "test",
                                       password = "secret" })
      local el = assert(pdu.encode { command = "enquire_link", sequence_number = 2,
                                     command_status = 0 })
      raw:send_bytes(bind .. el)
      raw:expect("bind_transceiver_resp")
      assert.are.equal(2, raw:expect("enquire_link_resp").sequence_number)
      assert.are.equal(0, #sim:log_entries { event = "bind_refused" })
      raw:close()
    end)

    it("reports bad credentials to ev.client as an authentication failure", function()
      start()
      local c, ok, err = bound_client(port, { password = "nope" })
      assert.is_nil(ok)
      assert.are.equal("authentication failed", err)
      c:close()
    end)

    it("masks the password in the PDU log", function()
      local seen = {}
      local raw = bound_raw { log = function(e) seen[#seen + 1] = e end }
      local bind = sim:log_entries { dir = "in", command = "bind_transceiver" }[1]
      assert.are.equal("***", bind.pdu.password)
      assert.are.equal("test", bind.pdu.system_id)
      assert.is_true(#seen >= 3) -- listening, bind in, bound, resp out
      raw:close()
    end)
  end)

  describe("commands the gateway does not offer (gateway: Invalid Commands)", function()
    it("answers them with generic_nack carrying their sequence number", function()
      local raw = bound_raw()
      local cases = {
        { command = "bind_transceiver", system_id = "test", password = "secret" },
        { command = "bind_transmitter", system_id = "test", password = "secret" },
        { command = "bind_receiver", system_id = "test", password = "secret" },
        { command = "query_sm", message_id = "1", source_addr = "" },
      }
      for _, t in ipairs(cases) do
        local seq = raw:send(t)
        local p = raw:expect("generic_nack")
        assert.are.equal(seq, p.sequence_number, t.command)
        assert.are_not.equal(0, p.command_status)
      end
      -- An unknown command id (0x00000103, data_sm) with an empty body.
      raw:send_bytes(compat.be32(16, 0x00000103, 0, 77))
      local p = raw:expect("generic_nack")
      assert.are.equal(77, p.sequence_number)
      -- The link is still usable.
      assert.are.equal(0, raw:submit_resp().command_status)
      raw:close()
    end)

    it("answers enquire_link with the same sequence number, and unbind", function()
      local raw = bound_raw()
      local seq = raw:send { command = "enquire_link" }
      assert.are.equal(seq, raw:expect("enquire_link_resp").sequence_number)
      seq = raw:send { command = "unbind" }
      assert.are.equal(seq, raw:expect("unbind_resp").sequence_number)
      assert.are.equal("closed", select(2, raw:read()))
    end)
  end)

  describe("submit_sm (gateway: Message Sending)", function()
    local raw
    before_each(function()
      start()
      raw = raw_connect(port)
      raw:bind()
    end)
    after_each(function() raw:close() end)

    local function status_of(fields)
      return raw:submit_resp(fields).command_status
    end

    it("accepts service_type MSG, empty, CODE and MRKT with distinct message ids", function()
      local ids = {}
      for _, st in ipairs { "MSG", "", "CODE", "MRKT" } do
        local r = raw:submit_resp { service_type = st }
        assert.are.equal(0, r.command_status, st)
        assert.matches("^%x+$", r.message_id)
        assert.is_nil(ids[r.message_id])
        ids[r.message_id] = true
      end
    end)

    it("answers ESME_RINVPARAM (0x32) for another service_type", function()
      assert.are.equal(0x32, status_of { service_type = "OTP" })
      assert.are.equal(0x32, status_of { service_type = "msg" })
      local e = sim:log_entries { event = "submit_rejected" }[1]
      assert.matches("service_type", e.reason)
      assert.are.equal("ESME_RINVPARAM", e.status_name)
    end)

    it("checks destination_addr is + and 7 to 15 digits (0x32 otherwise)", function()
      assert.are.equal(0, status_of { destination_addr = "+1234567" })
      assert.are.equal(0, status_of { destination_addr = "+123456789012345" })
      for _, bad in ipairs { "6598765432", "+123456", "+1234567890123456", "+65 9876 5432",
                             "+65abc98765", "", "++6598765432" } do
        assert.are.equal(0x32, status_of { destination_addr = bad }, bad)
      end
    end)

    it("answers ESME_RINVNUMMSGS (0x55) when short_message is not the gateway's JSON", function()
      local bad = {
        "hello", "[1,2]", '{"language":"default"}', '{"id":5}',
        '{"id":"otp-login","params":{"k":1}}', '{"id":"otp-login","params":"x"}',
        '{"id":"otp-login","language":7}', '{"id":"otp-login"', "",
      }
      for _, body in ipairs(bad) do
        assert.are.equal(0x55, status_of { short_message = ucs2(body) }, body)
      end
    end)

    it("needs a string code when service_type is CODE (0x55)", function()
      local body = ucs2('{"id":"otp-login","params":{}}')
      assert.are.equal(0x55, status_of { service_type = "CODE", short_message = body })
      assert.are.equal(0, status_of { service_type = "MSG", short_message = body })
      assert.are.equal(0x55, status_of {
        service_type = "CODE", short_message = ucs2('{"id":"otp-login","code":123456}') })
    end)

    it("answers ESME_RSUBMITFAIL (0x45) for an unknown template id", function()
      assert.are.equal(0x45, status_of { short_message = ucs2('{"id":"nope","params":{}}') })
      for _, id in ipairs { "otp-login", "otp-signup", "notice", "promo" } do
        assert.are.equal(0, status_of { short_message = ucs2('{"id":"' .. id .. '"}') }, id)
      end
    end)

    it("reads data_coding 0 as ASCII JSON", function()
      assert.are.equal(0, status_of { data_coding = 0, short_message = OTP_JSON })
    end)

    it("refuses UCS2 that is not UTF-16BE (odd length) with 0x55", function()
      assert.are.equal(0x55, status_of { short_message = ucs2(OTP_JSON) .. "\0" })
    end)

    it("takes the JSON from TLV message_payload when it is over 254 bytes", function()
      local long = '{"id":"notice","params":{"text":"' .. string.rep("x", 300) .. '"}}'
      local r = raw:submit_resp { short_message = "", data_coding = 0,
                                  tlvs = { message_payload = long } }
      assert.are.equal(0, r.command_status)
      local r2 = raw:submit_resp { short_message = "", tlvs = { message_payload = ucs2(long) } }
      assert.are.equal(0, r2.command_status)
      assert.are.equal(0x55, status_of { short_message = "",
                                         tlvs = { message_payload = ucs2("{}") } })
    end)

    it("gives unique message ids across connections", function()
      local other = raw_connect(port)
      other:bind()
      local seen = {}
      for _ = 1, 20 do
        for _, r in ipairs { raw, other } do
          local id = r:submit_resp().message_id
          assert.is_nil(seen[id])
          seen[id] = true
        end
      end
      other:close()
    end)

    it("counts submits by outcome", function()
      status_of {}
      status_of { service_type = "X" }
      status_of { short_message = ucs2('{"id":"nope"}') }
      local st = sim:stats()
      assert.are.equal(3, st.submits)
      assert.are.equal(1, st.submits_ok)
      assert.are.equal(2, st.submits_rejected)
      assert.are.equal(1, st.rejected.ESME_RINVPARAM)
      assert.are.equal(1, st.rejected.ESME_RSUBMITFAIL)
    end)
  end)

  describe("receipts (gateway: Delivery Report)", function()
    it("sends a deliver_sm shaped as the gateway's text says, after the answer", function()
      local raw = bound_raw()
      local r = raw:submit_resp { destination_addr = "+6591234567" }
      assert.are.equal(0, #raw.early, "receipt came before submit_sm_resp")
      local d = raw:expect("deliver_sm")
      assert.are.equal("MSG", d.service_type)
      assert.are.equal("", d.source_addr)
      assert.are.equal("+6591234567", d.destination_addr)
      assert.are.equal(0, d.data_coding)
      assert.are.equal(0, d.esm_class)
      assert.are.equal(r.message_id, d.tlvs.receipted_message_id)
      assert.are.equal(2, d.tlvs.message_state)
      local text = d.short_message
      assert.matches("^id:" .. r.message_id .. " sub:001 dlvrd:001 submit date:%d%d%d%d%d%d%d%d%d%d"
                     .. " done date:%d%d%d%d%d%d%d%d%d%d stat:DELIVRD err:000 text:", text)
      assert.matches("text:{\"id\":\"otp%-login\",\"l$", text) -- first 20 characters
      -- Dates are now, in UTC (never the backend's monotonic clock).
      local date = text:match("submit date:(%d+)")
      local near = { os.date("!%y%m%d%H%M", os.time() - 60), os.date("!%y%m%d%H%M") }
      assert.is_true(date == near[1] or date == near[2], date)
      raw:send { command = "deliver_sm_resp", sequence_number = d.sequence_number,
                 message_id = "" }
      assert.is_true(wait_until(function() return sim:stats().receipts_acked == 1 end))
      raw:close()
    end)

    it("sends no receipt when registered_delivery is 0 (SMPP 3.4 5.2.17)", function()
      local raw = bound_raw()
      local r = raw:submit_resp { registered_delivery = 0 }
      assert.are.equal(0, r.command_status)
      -- 0x10 asks for intermediate notifications only: bits 0-1 are 0.
      assert.are.equal(0, raw:submit_resp { registered_delivery = 0x10 }.command_status)
      assert.are.same({ nil, "timeout" }, { raw:read(0.1) })
      local st = sim:stats()
      assert.are.equal(2, st.submits_ok)
      assert.are.equal(0, st.receipts)
      assert.are.equal(2, st.receipts_not_requested)
      assert.is_false(sim:log_entries { event = "submit_accepted" }[1].receipt)
      raw:close()
    end)

    it("sends a receipt on failure only when registered_delivery is 2", function()
      local raw = bound_raw { undeliverable = "+999" }
      raw:submit_resp { registered_delivery = 2, destination_addr = "+6591234567" }
      local bad = raw:submit_resp { registered_delivery = 2, destination_addr = "+9991234567" }
      local d = raw:expect("deliver_sm")
      assert.are.equal(bad.message_id, d.tlvs.receipted_message_id)
      assert.matches("stat:UNDELIV", d.short_message)
      assert.are.same({ nil, "timeout" }, { raw:read(0.1) })
      assert.are.equal(1, sim:stats().receipts)
      raw:close()
    end)

    it("reads registered_delivery 3 (reserved) as 1 and ignores bits above 0-1", function()
      local raw = bound_raw { undeliverable = "+999" }
      for _, rd in ipairs { 1, 3, 0x05, 0x1D } do
        for _, dest in ipairs { "+6591234567", "+9991234567" } do
          local r = raw:submit_resp { registered_delivery = rd, destination_addr = dest }
          local d = raw:expect("deliver_sm")
          assert.are.equal(r.message_id, d.tlvs.receipted_message_id, rd .. " " .. dest)
        end
      end
      raw:close()
    end)

    it("marks receipts with esm_class 0x04 on request", function()
      local raw = bound_raw { receipt_esm_class = 0x04 }
      raw:submit_resp()
      assert.are.equal(4, raw:expect("deliver_sm").esm_class)
      raw:close()
    end)

    it("leaves text: empty when receipt_text is false", function()
      local raw = bound_raw { receipt_text = false }
      raw:submit_resp()
      assert.matches("text:$", raw:expect("deliver_sm").short_message)
      raw:close()
    end)

    it("says UNDELIV for destinations with an undeliverable prefix", function()
      start { undeliverable = { "+999", "+888" } }
      local c = bound_client(port)
      local got = {}
      c:on_receipt(function(rc) got[rc.message_id] = rc end)
      local ok1 = submit(c, { destination_addr = "+9991234567" })
      local ok2 = submit(c, { destination_addr = "+8881234567" })
      local ok3 = submit(c, { destination_addr = "+6591234567" })
      assert.is_true(wait_until(function()
        return got[ok1.message_id] and got[ok2.message_id] and got[ok3.message_id]
      end))
      for _, id in ipairs { ok1.message_id, ok2.message_id } do
        assert.are.equal("UNDELIV", got[id].stat)
        assert.are.equal(5, got[id].message_state)
        assert.are.equal("000", got[id].dlvrd)
        assert.are.equal("001", got[id].err)
      end
      assert.are.equal("DELIVRD", got[ok3.message_id].stat)
      assert.are.equal(2, got[ok3.message_id].message_state)
      assert.are.equal("000", got[ok3.message_id].err)
      c:close()
    end)

    it("asks an undeliverable function, which may choose the err code", function()
      local asked
      start { undeliverable = function(s)
        asked = s
        return s.body.params.fail == "yes" and 42 or nil
      end }
      local c = bound_client(port)
      local got = {}
      c:on_receipt(function(rc) got[#got + 1] = rc end)
      submit(c, { short_message = ucs2('{"id":"promo","params":{"fail":"yes"}}') })
      submit(c, { short_message = ucs2('{"id":"promo","params":{"fail":"no"}}') })
      assert.is_true(wait_until(function() return #got == 2 end))
      table.sort(got, function(a, b) return a.stat > b.stat end)
      assert.are.equal("UNDELIV", got[1].stat)
      assert.are.equal("042", got[1].err)
      assert.are.equal("DELIVRD", got[2].stat)
      assert.are.equal("test", asked.system_id)
      assert.are.equal("promo", asked.body.id)
      c:close()
    end)

    it("waits receipt_delay before the receipt", function()
      start { receipt_delay = 0.15 }
      local c = bound_client(port)
      local at
      c:on_receipt(function() at = gettime() end)
      local t0 = gettime()
      assert.is_table(submit(c))
      assert.is_true(wait_until(function() return at end, 2))
      assert.is_true(at - t0 >= 0.14, "receipt came after " .. (at - t0) .. " s")
      c:close()
    end)

    it("delivers one receipt per submit with one queue, in order", function()
      start { receipt_delay = 0.02 }
      local c = bound_client(port, { window = 50 })
      local ids, got = {}, {}
      c:on_receipt(function(rc) got[#got + 1] = rc.message_id end)
      for i = 1, 200 do
        c:submit(otp(), function(res) ids[i] = res and res.message_id end)
      end
      assert.is_true(wait_until(function() return #got == 200 end, 5))
      assert.is_true(wait_until(function() return sim:stats().receipts_acked == 200 end))
      for i = 1, 200 do assert.are.equal(ids[i], got[i]) end
      local st = sim:stats()
      assert.are.equal(200, st.receipts_acked)
      assert.are.equal(0, st.receipts_due)
      c:close()
    end)

    it("holds receipts back while the deliver_sm queue is full, losing none", function()
      start { window = 1, queue_size = 1 }
      local got = {}
      local c = bound_client(port, { window = 50 }, function(rc) got[#got + 1] = rc end)
      local answered = 0
      for _ = 1, 50 do
        assert(c:submit(otp(), function(res) if res then answered = answered + 1 end end))
      end
      assert.is_true(wait_until(function() return #got == 50 end, 5))
      assert.are.equal(50, answered)
      local st = sim:stats()
      assert.are.equal(0, st.receipts_pending)
      assert.are.equal(0, st.receipts_waiting)
      assert.are.equal(0, #sim:log_entries { event = "receipt_pending" })
      c:close()
    end)

    it("keeps an unacknowledged receipt and resends it when the account binds again", function()
      local raw = bound_raw()
      local r = raw:submit_resp()
      local d = raw:expect("deliver_sm") -- and never answer it
      assert.are.equal(r.message_id, d.tlvs.receipted_message_id)
      raw:close()
      assert.is_true(wait_until(function() return sim:pending("test") == 1 end))
      local got
      local c = bound_client(port, nil, function(rc) got = rc end)
      assert.is_true(wait_until(function() return got end))
      assert.are.equal(r.message_id, got.message_id)
      assert.is_true(wait_until(function() return sim:stats().receipts_acked == 1 end))
      assert.are.equal(0, sim:pending())
      assert.are.equal(1, sim:stats().receipts_resent)
      c:close()
    end)

    it("keeps receipts due after the link dropped for that account's next bind", function()
      local raw = bound_raw { receipt_delay = 0.05 }
      local r = raw:submit_resp()
      raw:close()
      assert.is_true(wait_until(function() return sim:pending("test") == 1 end))
      local got
      local c = bound_client(port, nil, function(rc) got = rc end)
      assert.is_true(wait_until(function() return got end))
      assert.are.equal(r.message_id, got.message_id)
      c:close()
    end)

    it("sends a receipt due on a closed link to another bound link of the account", function()
      start { receipt_delay = 0.05 }
      local c2 = bound_client(port)
      local got
      c2:on_receipt(function(rc) got = rc end)
      local raw = raw_connect(port)
      raw:bind()
      local r = raw:submit_resp()
      raw:close()
      assert.is_true(wait_until(function() return got end))
      assert.are.equal(r.message_id, got.message_id)
      assert.are.equal(0, sim:pending())
      c2:close()
    end)
  end)

  describe("on the backend in use (smpp.backend)", function()
    -- A stand-in host: a clock the test sets, timers it fires, and a
    -- server that records its options; the simulator is loaded afresh
    -- against a fresh smpp.backend that has this host in use.
    local host, t, timers, server_opts

    local function load_on_stand_in()
      t, timers = 1000, {}
      host = {
        name = "stand-in",
        now = function() return t end,
        timer = function(after, fn)
          local tm = { at = t + after, fn = fn, stop = function(self) self.stopped = true end }
          timers[#timers + 1] = tm
          return tm
        end,
        on_error = function() end, client = function() end,
        server = function(opts)
          server_opts = opts
          return { port = function() return 2775 end, connections = function() return 1 end,
                   close = function() end }
        end,
      }
      local fresh = dofile(package.searchpath("smpp.backend", package.path))
      fresh.use(host)
      local saved = package.loaded["smpp.backend"]
      package.loaded["smpp.backend"] = fresh
      local ok, mod = pcall(dofile, package.searchpath("smpp.simulator", package.path))
      package.loaded["smpp.backend"] = saved
      assert(ok, mod)
      return mod
    end

    local function fire_due()
      for _, tm in ipairs(timers) do
        if not tm.stopped and not tm.fired and tm.at <= t then
          tm.fired = true
          tm.fn()
        end
      end
    end

    -- A connection as the host's server hands it to the handlers.
    local function fake_conn()
      local c = { answers = {}, delivered = {} }
      function c.id() return 7 end
      function c.error() return nil end
      function c.respond(_, seq, status, msgid)
        c.answers[#c.answers + 1] = { seq, status, msgid }
      end
      function c.deliver(_, fields, done, rec)
        c.delivered[#c.delivered + 1] = { id = fields.tlvs.receipted_message_id, done = done,
                                          rec = rec }
        return true
      end
      return c
    end

    it("takes its server, timers and clock from the backend", function()
      local stand_in_sim = load_on_stand_in()
      local sim2 = assert(stand_in_sim { receipt_delay = 5, log = "memory", window = 3 })
      assert.are.equal(2775, sim2:port())
      assert.are.equal(3, server_opts.window)
      assert.are.equal(1000, sim2:log_entries { event = "listening" }[1].time)
      local conn = fake_conn()
      assert.are.equal(0, server_opts.on_bind(conn, { system_id = "test", password = "secret" }))
      server_opts.on_submit(conn, {
        command = "submit_sm", sequence_number = 9, service_type = "CODE",
        destination_addr = "+6598765432", registered_delivery = 1, data_coding = 8,
        short_message = ucs2(OTP_JSON) })
      local answer = conn.answers[1]
      assert.are.same({ 9, 0 }, { answer[1], answer[2] })
      -- The receipt waits receipt_delay on the backend's clock.
      assert.are.equal(1, sim2:stats().receipts_due)
      t = 1004.9
      fire_due()
      assert.are.equal(0, #conn.delivered)
      t = 1005
      fire_due()
      assert.are.equal(answer[3], conn.delivered[1].id)
      local d = conn.delivered[1]
      d.done({ message_id = "" }, nil, nil, nil, d.rec)
      assert.are.equal(1, sim2:stats().receipts_acked)
      server_opts.on_close(conn, "closed")
      assert.are.equal(0, sim2:stats().bound)
      sim2:close()
    end)
  end)

  describe("with the user-facing client", function()
    it("takes an OTP from smpp.client and returns its receipt", function()
      local smpp = require "smpp"
      start { receipt_delay = 0.01, undeliverable = "+999" }
      local c = smpp.client { host = "127.0.0.1", port = port, system_id = "test",
                              password = "secret" }
      assert(c:bind())
      local res = assert(c:send_otp { to = "+6598765432", template = "otp-login",
                                      code = "123456", params = { app = "Acme" },
                                      wait_receipt = 2 })
      assert.matches("^%x+$", res.message_id)
      assert.are.equal("DELIVRD", res.stat)
      local bad = assert(c:send_otp { to = "+9991234567", template = "otp-signup",
                                      code = "42", wait_receipt = 2 })
      assert.are.equal("UNDELIV", bad.stat)
      local nope, err = c:send_otp { to = "+6598765432", template = "no-such", code = "1" }
      assert.is_nil(nope)
      assert.are.equal("ESME_RSUBMITFAIL", err)
      local sub = sim:log_entries { dir = "in", command = "submit_sm" }[1]
      assert.are.equal(8, sub.pdu.data_coding)
      c:close()
    end)
  end)

  describe("keep-alive (gateway: Keep-alive)", function()
    it("sends its own enquire_link when enquire_link_interval is set", function()
      local raw = bound_raw { enquire_link_interval = 0.05 }
      local p = raw:expect("enquire_link", 1)
      raw:send { command = "enquire_link_resp", sequence_number = p.sequence_number }
      raw:close()
    end)

    it("closes a link idle past idle_timeout", function()
      local raw = bound_raw { idle_timeout = 0.1 }
      local t0 = gettime()
      local p, err = raw:read(2)
      while p do p, err = raw:read(2) end
      assert.are.equal("closed", err)
      assert.is_true(gettime() - t0 >= 0.09)
    end)
  end)

  describe("faults", function()
    it("answers every Nth submit with the chosen status", function()
      start { faults = { every = 2, status = "ESME_RTHROTTLED" } }
      local c = bound_client(port)
      local out = {}
      for i = 1, 4 do
        local res, err, status = submit(c)
        out[i] = res and 0 or status
        if i % 2 == 0 then assert.are.equal("ESME_RTHROTTLED", err) end
      end
      assert.are.same({ 0, 0x58, 0, 0x58 }, out)
      assert.are.equal(2, sim:stats().faults)
      c:close()
    end)

    it("answers a share of submits with the chosen status", function()
      start { faults = { rate = 1, status = 0x08 } }
      local c = bound_client(port)
      local _, err, status = submit(c)
      assert.are.equal("ESME_RSYSERR", err)
      assert.are.equal(8, status)
      sim:set_faults { rate = 0 }
      assert.is_table(submit(c))
      sim:set_faults(nil)
      assert.is_table(submit(c))
      c:close()
    end)

    it("delays answers by the chosen seconds, receipts after them", function()
      start { faults = { delay = 0.15 } }
      local c = bound_client(port)
      local receipt_at
      c:on_receipt(function() receipt_at = gettime() end)
      local t0 = gettime()
      local res = submit(c)
      local answered = gettime()
      assert.is_table(res)
      assert.is_true(answered - t0 >= 0.14)
      assert.is_true(wait_until(function() return receipt_at end))
      assert.is_true(receipt_at >= answered - 0.01)
      c:close()
    end)

    it("drops the connection when PDU number N+1 comes in, the bind counting", function()
      start { faults = { drop_after = 3 } }
      -- No receipts: their deliver_sm_resp would count too (next test).
      local quiet = { registered_delivery = 0 }
      local c = bound_client(port)      -- PDU 1
      assert.is_table(submit(c, quiet)) -- PDU 2
      assert.is_table(submit(c, quiet)) -- PDU 3
      local res, err = submit(c, quiet) -- PDU 4: dropped
      assert.is_nil(res)
      assert.are.equal("connection lost", err)
      local drops = sim:log_entries { event = "fault_drop" }
      assert.are.equal(1, #drops)
      assert.matches("PDU 4 .*drop_after 3", drops[1].reason)
      c:close()
    end)

    it("counts every PDU received for drop_after, not only submits", function()
      start { faults = { drop_after = 4 } }
      local raw = raw_connect(port)
      raw:bind()                                                    -- 1
      raw:send { command = "enquire_link" }                         -- 2
      raw:expect("enquire_link_resp")
      local r = raw:submit_resp()                                   -- 3
      local d = raw:expect("deliver_sm")
      raw:send { command = "deliver_sm_resp", sequence_number = d.sequence_number,
                 message_id = "" }                                  -- 4
      assert.is_true(wait_until(function() return sim:stats().receipts_acked == 1 end))
      assert.matches("^%x+$", r.message_id)
      raw:send { command = "enquire_link" }                         -- 5: dropped
      assert.are.same({ nil, "closed" }, { raw:read() })
      assert.are.equal(1, sim:stats().faults)
    end)

    it("counts PDUs for drop_after with logging off, and drops an unbind too", function()
      local raw = bound_raw { log = false, faults = { drop_after = 1 } }
      raw:send { command = "unbind" }
      assert.are.same({ nil, "closed" }, { raw:read() })
      assert.are.equal(1, sim:stats().faults)
    end)

    it("refuses drop_after in set_faults when PDUs are not being counted", function()
      start { log = false }
      local ok, err = pcall(function()
        sim:set_faults { drop_after = 1 } -- not a tail call: keep this frame
        return true
      end)
      assert.is_false(ok)
      assert.matches("drop_after", err)
      assert.matches("simulator_spec.lua", err)
      -- With the log on, PDUs are counted: it may be set mid-test.
      sim:close()
      start { log = "memory" }
      sim:set_faults { drop_after = 1 }
      local raw = raw_connect(port)
      raw:bind()
      raw:send { command = "enquire_link" }
      assert.are.same({ nil, "closed" }, { raw:read() })
    end)

    it("never answers submits when no_answer is set", function()
      start { faults = { no_answer = true } }
      local c = bound_client(port, { response_timeout = 0.1 })
      local res, err = submit(c)
      assert.is_nil(res)
      assert.are.equal("timeout", err)
      c:close()
    end)

    it("can send the receipt before the submit_sm_resp", function()
      local raw = bound_raw { faults = { receipt_first = true } }
      local r = raw:submit_resp()
      assert.are.equal(1, #raw.early)
      assert.are.equal("deliver_sm", raw.early[1].command)
      assert.are.equal(r.message_id, raw.early[1].tlvs.receipted_message_id)
      raw:close()
    end)
  end)

  describe("log and stats", function()
    it("logs every PDU in and out with its connection and direction", function()
      local raw = bound_raw()
      raw:submit_resp()
      local d = raw:expect("deliver_sm")
      raw:send { command = "deliver_sm_resp", sequence_number = d.sequence_number,
                 message_id = "" }
      assert.is_true(wait_until(function()
        return #sim:log_entries { command = "deliver_sm_resp" } == 1
      end))
      local seq = {}
      for _, e in ipairs(sim:log_entries(function(e) return e.dir ~= "sim" end)) do
        seq[#seq + 1] = e.dir .. " " .. e.command
        assert.is_number(e.conn)
        assert.is_number(e.time)
      end
      assert.are.same({ "in bind_transceiver", "out bind_transceiver_resp", "in submit_sm",
                        "out submit_sm_resp", "out deliver_sm", "in deliver_sm_resp" }, seq)
      local acc = sim:log_entries { event = "submit_accepted" }[1]
      assert.are.equal("otp-login", acc.template)
      raw:close()
    end)

    it("keeps at most log_size entries, the newest", function()
      local raw = bound_raw { log_size = 5 }
      for _ = 1, 5 do raw:submit_resp() end
      local entries = sim:log_entries()
      assert.are.equal(5, #entries)
      sim:clear_log()
      assert.are.equal(0, #sim:log_entries())
      raw:close()
    end)

    it("builds no log entries when logging is off", function()
      local raw = bound_raw { log = false }
      raw:submit_resp()
      assert.are.equal(0, #sim:log_entries())
      assert.are.equal(1, sim:stats().submits_ok)
      raw:close()
    end)

    it("counts and logs the receipts still waiting for their delay at close", function()
      local raw = bound_raw { receipt_delay = 30 }
      for _ = 1, 3 do raw:submit_resp() end
      raw:submit_resp { registered_delivery = 0 } -- no receipt to lose
      assert.are.equal(3, sim:stats().receipts_due)
      sim:close()
      local st = sim:stats()
      assert.are.equal(3, st.receipts_not_sent)
      assert.are.equal(0, st.receipts_due)
      local e = sim:log_entries { event = "receipts_not_sent" }
      assert.are.equal(1, #e)
      assert.are.equal(3, e[1].count)
      assert.matches("3 receipts not sent %(still waiting for their delay%)",
                     simulator.format_log(e[1]))
      raw:close()
    end)

    it("counts the receipts of answers held back by the delay fault at close", function()
      local raw = bound_raw { faults = { delay = 30 } }
      raw:submit()
      raw:submit { registered_delivery = 0 }
      assert.is_true(wait_until(function() return sim:stats().answers_due == 2 end))
      sim:close()
      assert.are.equal(1, sim:stats().receipts_not_sent)
      assert.are.equal(1, sim:log_entries { event = "receipts_not_sent" }[1].count)
      raw:close()
    end)

    it("logs nothing about lost receipts when none were waiting at close", function()
      start()
      sim:close()
      assert.are.equal(0, sim:stats().receipts_not_sent)
      assert.are.equal(0, #sim:log_entries { event = "receipts_not_sent" })
    end)

    it("counts binds, connections and receipts", function()
      start()
      local c = bound_client(port)
      submit(c)
      assert.is_true(wait_until(function() return sim:stats().receipts_acked == 1 end))
      local st = sim:stats()
      assert.are.equal(1, st.binds)
      assert.are.equal(1, st.bound)
      assert.are.equal(1, st.connections)
      assert.are.equal(1, st.receipts)
      c:close()
      assert.is_true(wait_until(function() return sim:stats().bound == 0 end))
    end)
  end)
end)
