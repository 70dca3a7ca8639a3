-- smpp.driver: core.session over a backend's sockets, client and server
-- role, on the LuaSocket backend over real loopback sockets; and the same
-- values and tokens as smpp.ev's C clients and servers.

local compat = require "support.compat"
local host = require "smpp.backend.socket"
local driver = require "smpp.driver"
local pdu = require "smpp.pdu"
local core = require "smpp.core"

local ev_ok, ev = pcall(require, "smpp.ev")

-- Turn the socket backend's loop (and libev's, when loaded) until cond()
-- is true; false after `timeout` seconds.
local function wait(cond, timeout)
  local deadline = core.now() + (timeout or 5)
  while not cond() do
    if core.now() > deadline then return false end
    host.run_once(false)
    if ev_ok then ev.run_once(false) end
    require("socket").sleep(0.001)
  end
  return true
end

local function sleep(secs)
  local t = core.now() + secs
  wait(function() return core.now() >= t end, secs + 1)
end

local function server(opts)
  opts = opts or {}
  opts.host, opts.port = "127.0.0.1", 0
  return assert(host.server(opts))
end

local function client(port, opts, new)
  local o = { host = "127.0.0.1", port = port, system_id = "test", password = "secret",
              response_timeout = 2, bind_timeout = 2, connect_timeout = 2 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return (new or host.client)(o)
end

-- Bind c and wait: the callback's values.
local function bind(c)
  local res
  assert(c:bind(function(...) res = compat.pack(...) end))
  assert(wait(function() return res end), "bind gave no answer")
  return compat.unpack(res, 1, res.n)
end

-- Submit on c and wait: the callback's values.
local function submit(c, fields, arg)
  local res
  assert(c:submit(fields or { destination_addr = "+6598765432", short_message = "hi" },
    function(...) res = compat.pack(...) end, arg))
  assert(wait(function() return res end), "submit gave no answer")
  return compat.unpack(res, 1, res.n)
end

local function receipt_for(id, state, stat)
  return {
    destination_addr = "+6598765432",
    short_message = pdu.format_receipt { id = id, stat = stat, submit_date = "2501010000",
                                         done_date = "2501010000", err = "000" },
    tlvs = { receipted_message_id = id, message_state = state },
  }
end

-- Close everything and wait until the loop has nothing left: no socket, no
-- timer, no thread.
local function close_all(clients, srv)
  for _, c in ipairs(clients) do c:close() end
  if srv then srv:close() end
  return wait(function() return host.run_once(false) == false end, 5)
end

describe("smpp.driver on the LuaSocket backend", function()
  local srv, c

  after_each(function()
    assert.is_true(close_all({ c }, srv), "something was left on the loop")
    srv, c = nil, nil
    host.on_error(nil)
  end)

  it("binds, submits and hands out the server's answer", function()
    local seen
    srv = server { on_submit = function(conn, p)
      seen = { conn:system_id(), p.command, p.destination_addr, p.registered_delivery }
      return 0, "m-1"
    end }
    c = client(srv:port())
    assert.equal("idle", c:state())
    assert.same({ true }, { bind(c) })
    assert.equal("bound", c:state())
    local res = submit(c)
    assert.same({ message_id = "m-1", sequence_number = 2 }, res)
    assert.same({ "test", "submit_sm", "+6598765432", 1 }, seen)
    assert.equal(1, srv:connections())
  end)

  it("numbers the answers itself without on_submit", function()
    srv = server()
    c = client(srv:port())
    bind(c)
    assert.equal("1", submit(c).message_id)
    assert.equal("2", submit(c).message_id)
  end)

  it("gives a refused bind as the gateway does: a status, or a closed socket", function()
    srv = server { on_bind = function(_, p) return p.password == "secret" and 13 or false end }
    c = client(srv:port())
    assert.same({ nil, "ESME_RBINDFAIL", 13 }, { bind(c) })
    local c2 = client(srv:port(), { password = "wrong" })
    assert.same({ nil, "authentication failed" }, { bind(c2) })
    assert.equal("closed", c2:state())
  end)

  it("says why a connect failed, with smpp.ev's tokens", function()
    srv = server()
    local port = srv:port()
    srv:close()
    c = client(port)
    assert.same({ nil, "connection refused" }, { bind(c) })
    local c2 = client(1, { host = "no-such-host.invalid" })
    local ok, err = bind(c2)
    assert.is_nil(ok)
    assert.matches("^dns failure: ", err)
  end)

  it("refuses what smpp.ev refuses, in its words", function()
    srv = server()
    c = client(srv:port())
    assert.same({ nil, "not bound: call bind first" }, { c:submit({}) })
    bind(c)
    assert.same({ nil, "bind already called" }, { c:bind() })
    assert.has_error(function() c:submit({}, nil, "arg") end,
      "client:submit: an argument for the callback, but no callback")
    assert.has_error(function() host.client { system_id = "a", password = "b", nope = 1 } end,
      "client: unknown option 'nope'")
    assert.has_error(function() host.client { system_id = "a", password = "123456789" } end)
    c:close()
    wait(function() return c:state() == "closed" end)
    assert.same({ nil, "closed" }, { c:submit({}) })
  end)

  it("passes a callback's argument fifth, whatever the outcome", function()
    srv = server { on_submit = function() return "ESME_RSUBMITFAIL" end }
    c = client(srv:port())
    bind(c)
    assert.same({ n = 5, nil, "ESME_RSUBMITFAIL", 0x45, nil, "mine" },
      compat.pack(submit(c, nil, "mine")))
  end)

  it("times out a submit the server never answers", function()
    srv = server { on_submit = function() end }
    c = client(srv:port(), { response_timeout = 0.2 })
    bind(c)
    local t0 = core.now()
    assert.same({ nil, "timeout" }, { submit(c) })
    assert.is_true(core.now() - t0 >= 0.15)
  end)

  it("ends every submit exactly once when the link drops", function()
    local conns = {}
    srv = server { on_submit = function(conn) conns[#conns + 1] = conn end, window = 5 }
    c = client(srv:port(), { window = 5 })
    bind(c)
    local got, N = {}, 20
    for i = 1, N do
      assert(c:submit({ destination_addr = "+6598765432" }, function(_, err)
        got[i] = (got[i] or 0) + 1
        got["err" .. i] = err
      end))
    end
    assert(wait(function() return #conns == 5 end))
    conns[1]:close()
    assert(wait(function() return c:state() == "closed" end))
    sleep(0.05)
    for i = 1, N do
      assert.equal(1, got[i], "submit " .. i)
      assert.is_true(got["err" .. i] == "connection lost" or got["err" .. i] == "not sent",
        tostring(got["err" .. i]))
    end
  end)

  it("writes what one wakeup queued in one send", function()
    -- The backend's sockets, counting the sends of the client's link.
    local sends = 0
    local counting = setmetatable({
      connect = function(...)
        local sock, err = host.connect(...)
        if not sock then return nil, err end
        local send = sock.send
        return setmetatable({ send = function(_, data)
          sends = sends + 1
          return send(sock, data)
        end }, { __index = function(_, k)
          return function(_, ...) return sock[k](sock, ...) end
        end })
      end,
    }, { __index = host })
    srv = server()
    c = client(srv:port(), { window = 50 }, driver.new(counting).client)
    bind(c)
    sends = 0
    local n = 0
    for _ = 1, 50 do
      c:submit({ destination_addr = "+6598765432" }, function() n = n + 1 end)
    end
    assert(wait(function() return n == 50 end))
    assert.equal(1, sends)
  end)

  it("delivers receipts, final or not, and answers them", function()
    local conn
    srv = server { on_submit = function(cn) conn = cn; return 0, "m1" end }
    c = client(srv:port())
    local receipts = {}
    c:on_receipt(function(r) receipts[#receipts + 1] = r end)
    bind(c)
    submit(c)
    local acks = {}
    conn:deliver(receipt_for("m1", 1, "ENROUTE"), function(res) acks[#acks + 1] = res end)
    conn:deliver(receipt_for("m1", 2, "DELIVRD"), function(res) acks[#acks + 1] = res end)
    assert(wait(function() return #acks == 2 end))
    assert.same({ "ENROUTE", "DELIVRD" }, { receipts[1].stat, receipts[2].stat })
    assert.same({ false, true }, { receipts[1].final, receipts[2].final })
    assert.equal("m1", receipts[2].message_id)
    assert.is_table(acks[1])
    assert.equal(2, c:stats().receipts)
  end)

  it("traces every PDU both ways, never the password", function()
    local lines = {}
    srv = server()
    c = client(srv:port(), { trace = function(dir, p)
      lines[#lines + 1] = dir .. " " .. p.command .. (p.password and " " .. p.password or "")
    end })
    bind(c)
    submit(c)
    assert.same({ "out bind_transceiver ***", "in bind_transceiver_resp", "out submit_sm",
                  "in submit_sm_resp" }, lines)
  end)

  it("hands callback errors to the backend's on_error with a traceback", function()
    local errors = {}
    host.on_error(function(msg) errors[#errors + 1] = msg end)
    srv = server { on_submit = function() error("handler boom") end }
    c = client(srv:port())
    bind(c)
    assert.same({ nil, "ESME_RSYSERR", 8 }, { submit(c) })
    assert.equal(1, #errors)
    assert.matches("handler boom", errors[1])
    assert.matches("stack traceback", errors[1])
  end)

  it("closes a dropped client's link when it is collected", function()
    srv = server()
    do
      local dropped = client(srv:port())
      bind(dropped)
    end
    assert.equal(1, srv:connections())
    collectgarbage()
    collectgarbage()
    assert(wait(function() return srv:connections() == 0 end))
  end)

  it("unbinds on close and leaves nothing on the loop", function()
    local reasons = {}
    srv = server { on_close = function(_, why) reasons[#reasons + 1] = why end }
    c = client(srv:port())
    c:on_close(function(why) reasons[#reasons + 1] = why end)
    bind(c)
    c:close()
    assert(wait(function() return #reasons == 2 end))
    table.sort(reasons)
    assert.same({ "closed", "peer unbind" }, reasons)
    assert.equal(0, srv:connections())
  end)
end)

describe("smpp.driver and smpp.ev", function()
  if not ev_ok then
    pending("smpp.ev does not load here")
    return
  end

  -- One scenario through each client against one driver server: what each
  -- client's callbacks got.
  local function scenario(new)
    local srv = server {
      on_bind = function(_, p) return p.system_id == "test" and 0 or "ESME_RINVSYSID" end,
      on_submit = function(conn, p)
        if p.destination_addr == "+1" then return nil end
        conn:deliver(receipt_for("id-" .. p.destination_addr, 2, "DELIVRD"), function() end)
        return 0, "id-" .. p.destination_addr
      end,
    }
    local out = {}
    local refused = client(srv:port(), { system_id = "other" }, new)
    out.refused = compat.pack(bind(refused))
    local c = client(srv:port(), { response_timeout = 0.2 }, new)
    local r
    c:on_receipt(function(x) r = x end)
    out.bound = compat.pack(bind(c))
    out.result = compat.pack(submit(c, { destination_addr = "+6598765432" }, "arg"))
    assert(wait(function() return r end))
    r.raw = nil
    out.receipt = r
    out.timeout = compat.pack(submit(c, { destination_addr = "+1" }))
    local why
    c:on_close(function(x) why = x end)
    c:close()
    assert(wait(function() return why end))
    out.closed = why
    out.stats = c:stats()
    out.tostring = tostring(c):gsub("%d+", "N")
    srv:close()
    assert(close_all({ refused, c }))
    return out
  end

  it("give the same values and tokens", function()
    local by_driver = scenario(host.client)
    local by_ev = scenario(ev.client)
    assert.same(by_ev, by_driver)
  end)
end)
