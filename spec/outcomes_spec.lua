-- Every outcome means what it says: smpp.client over a real loopback socket
-- against scripted gateways (spec/support/rawserver.lua) that record every
-- submit_sm they read. A submit reported "not sent" never reaches the
-- gateway, and none reaches it after its "timeout" unless it was written
-- before; a submit after the link ended is "not sent", after the
-- program's close "closed"; odd submit_sm_resp bodies are answers.
package.path = "spec/?.lua;" .. package.path

local smpp = require "smpp"
local raw = require "support.rawserver"

local function client(srv, opts)
  local o = {
    host = "127.0.0.1", port = srv.port, system_id = "test", password = "secret",
    response_timeout = 2, bind_timeout = 2, connect_timeout = 2,
  }
  for k, v in pairs(opts or {}) do o[k] = v end
  return smpp.client(o)
end

-- submit_sm fields carrying a mark the gateway records: "#<i>#"; with
-- `payload`, that many more bytes in message_payload.
local function fields(i, payload)
  return { destination_addr = "+6598765432", short_message = "#" .. i .. "#",
           tlvs = payload and { message_payload = string.rep("x", payload) } or nil }
end

-- Run the loop until cond() holds; false after `secs`.
local function wait_for(cond, secs)
  local deadline = smpp.now() + secs
  while not cond() do
    if smpp.now() > deadline then return false end
    smpp.sleep(0.02)
  end
  return true
end

local function marks(list)
  local set = {}
  for _, s in ipairs(list) do
    if s.mark then set[s.mark] = (set[s.mark] or 0) + 1 end
  end
  return set
end

describe("outcomes", function()
  local srv, c

  after_each(function()
    if c then c:close() end
    if srv then srv:stop() end
    c, srv = nil, nil
  end)

  describe("a gateway that stops reading", function()
    it("gets no submit after its timeout unless it was written before, and none that was not sent",
      function()
        srv = raw.start("stall")
        -- Where each submit_sm starts in the byte stream the client wrote
        -- (from the trace: the bind, then every PDU re-encoded), and how
        -- many bytes the client had written when each result came.
        local at, start, ended = nil, {}, {}
        c = client(srv, {
          window = 3000, queue_size = 10000, response_timeout = 0.3,
          output_buffer = 8192, enquire_link_interval = 0,
          trace = function(dir, p)
            if dir == "out" and at and p.command ~= "bind_transceiver" then
              if p.command == "submit_sm" then start[p.short_message:match("#%d+#")] = at end
              at = at + #smpp.pdu.encode(p)
            end
          end,
        })
        assert.is_true(c:bind())
        at = c:stats().bytes_out -- the bind, and nothing else yet
        -- 12 MB: more than the kernel's socket buffers take (up to 4 MB
        -- for the sender on Linux), so most of it stays in the client.
        local N = 3000
        for i = 1, N do
          assert.is_true(c:submit(fields(i, 4000), function(res, err)
            assert.is_nil(ended[i], "ended twice")
            ended[i] = { out = c:stats().bytes_out, err = res and "ok" or err }
          end))
        end
        assert.is_true(wait_for(function()
          local n = 0
          for _ in pairs(ended) do n = n + 1 end
          return n == N
        end, 20 + raw.STALL))
        c:close()
        local got = marks(srv:submits())

        local count = { ok = 0, timeout = 0, ["not sent"] = 0 }
        for i = 1, N do
          local e, mark = ended[i], "#" .. i .. "#"
          count[e.err] = count[e.err] + 1
          assert.is_true(got[mark] == nil or got[mark] == 1, mark .. " reached the gateway twice")
          if e.err == "not sent" then
            assert.is_nil(got[mark], mark .. " was reported not sent but reached the gateway")
            assert.is_nil(start[mark], mark .. " was reported not sent but was written")
          elseif e.err == "ok" then
            assert.are.equal(1, got[mark])
          elseif got[mark] then
            -- A timeout the gateway got: its first byte had left before
            -- the timeout was reported (a PDU the stalled socket cut in
            -- two goes on after it: the gateway can't act on half).
            assert.is_true(start[mark] < e.out, mark .. " went out after its timeout")
          end
        end
        -- The socket took some before the stall (they time out); the rest
        -- waited in the client: those in its output when their time came
        -- were taken back (not sent), the others waited in the queue and
        -- went once the gateway read again.
        assert.is_true(count.timeout > 0, "no timeout")
        assert.is_true(count["not sent"] > 0, "none not sent")
        assert.are.equal(N, count.ok + count.timeout + count["not sent"])
      end)
  end)

  -- With reconnect off: with it on, such a submit waits for the rebind
  -- (spec/reconnect_spec.lua).
  describe("a submit after the link ended", function()
    local function ended_by(scenario, opts, want_bind, want_close)
      srv = raw.start(scenario)
      c = client(srv, opts)
      local reason
      c:on_close(function(r) reason = r end)
      local ok, err = c:bind()
      if want_bind then
        assert.is_nil(ok)
        assert.are.equal(want_bind, err)
      else
        assert.is_true(ok)
      end
      assert.is_true(wait_for(function() return reason ~= nil end, 5))
      assert.are.equal(want_close, reason)
      assert.are.same({ nil, "not sent" }, { c:submit(fields(1)) })
      assert.are.same({ nil, "not sent" }, { c:send_otp { to = "+6598765432",
                                                          template = "otp-login", code = "1" } })
      c:close()
      -- Once the program closed the client, its own word: "closed", even
      -- though the link had ended before.
      assert.are.same({ nil, "closed" }, { c:submit(fields(2)) })
      assert.are.same({}, srv:submits())
    end

    it("is not sent when the gateway closed the socket", function()
      ended_by("close_after_bind", { reconnect = false }, nil, "connection lost")
    end)

    it("is not sent when the gateway unbound", function()
      ended_by("unbind_after_bind", { reconnect = false }, nil, "peer unbind")
    end)

    it("is not sent after an authentication failure", function()
      ended_by("close_on_bind", nil, "authentication failed", "authentication failed")
    end)

    it("is not sent after a bind timeout", function()
      ended_by("silent", { bind_timeout = 0.2 }, "bind timeout", "bind timeout")
    end)

    it("is closed after the program's close", function()
      srv = raw.start("never_answer")
      c = client(srv)
      assert.is_true(c:bind())
      c:close()
      assert.are.same({ nil, "closed" }, { c:submit(fields(1)) })
      assert.are.same({}, srv:submits())
    end)
  end)

  it("gives peer unbind from a bind answered by unbind, and the waiting submit is not sent",
    function()
      srv = raw.start("unbind_on_bind")
      c = client(srv)
      local early
      assert.is_true(c:bind(function() end))
      c:submit(fields(1), function(res, err) early = { res, err } end)
      assert.is_true(wait_for(function() return early ~= nil end, 5))
      assert.are.same({ nil, "not sent" }, early)
      assert.are.equal("closed", c:state())
      c:close()
      assert.are.same({}, srv:submits())

      srv:stop()
      srv = raw.start("unbind_on_bind")
      c = client(srv)
      assert.are.same({ nil, "peer unbind" }, { c:bind() })
    end)

  describe("a submit_sm_resp with status 0", function()
    it("and no body is a success with an empty message_id and a warning", function()
      srv = raw.start("resp_nobody")
      c = client(srv)
      assert.is_true(c:bind())
      local res, err = c:submit(fields(1))
      assert.is_nil(err)
      assert.are.equal("", res.message_id)
      assert.matches("no body", res.warning)
      local otp = assert(c:send_otp { to = "+6598765432", template = "otp-login", code = "1" })
      assert.are.equal("", otp.message_id)
      assert.matches("no body", otp.warning)
    end)

    it("and a message_id without its NUL is a success with the bytes as sent", function()
      srv = raw.start("resp_nonul")
      c = client(srv)
      assert.is_true(c:bind())
      local res, err = c:submit(fields(1))
      assert.is_nil(err)
      assert.are.equal("abc", res.message_id)
      assert.matches("NUL", res.warning)
      c:close()
      assert.are.same({ { seq = 2, mark = "#1#" } }, srv:submits())
    end)
  end)

  it("reports a timeout for a submit that was written, and the gateway has it", function()
    srv = raw.start("never_answer")
    local written
    c = client(srv, { response_timeout = 0.5, trace = function(dir, p)
      if dir == "out" and p.command == "submit_sm" then written = true end
    end })
    assert.is_true(c:bind())
    local res, err = c:submit(fields(7))
    assert.is_nil(res)
    assert.are.equal("timeout", err)
    assert.is_true(written)
    c:close()
    assert.are.same({ { seq = 2, mark = "#7#" } }, srv:submits())
  end)
end)
