-- smpp.simulator.options alone: every option checked and defaulted, misuse
-- raised at the caller's line. No socket.

local options = require "smpp.simulator.options"

local function format(e) return "line " .. tostring(e.event) end

-- The error raised by fn, which must name this file (the caller's line).
local function raised(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "did not raise")
  assert.matches("simulator_options_spec.lua:%d+: ", err)
  return err
end

describe("smpp.simulator.options", function()
  describe("normalize", function()
    it("gives the documented defaults", function()
      local cfg = options.normalize(nil, format, 1)
      assert.are.same({ test = "secret" }, cfg.accounts)
      assert.are.same({ ["otp-login"] = true, ["otp-signup"] = true, notice = true,
                        promo = true }, cfg.templates)
      assert.is_nil(cfg.undeliverable)
      assert.is_nil(cfg.faults)
      assert.are.equal(0, cfg.receipt_delay)
      assert.are.equal(0, cfg.receipt_esm_class)
      assert.is_true(cfg.receipt_text)
      assert.are.equal(10000, cfg.log_size)
      assert.are.equal(1000000, cfg.max_pending)
      assert.is_false(cfg.logging)
      assert.is_nil(cfg.log_fn)
      assert.are.same({ host = "127.0.0.1", port = 0, window = 100, enquire_link_interval = 0,
                        idle_timeout = 0 }, cfg.server)
    end)

    it("passes the link settings to the server options", function()
      local cfg = options.normalize({ host = "0.0.0.0", port = 2775, window = 5, queue_size = 7,
                                      response_timeout = 3, bind_timeout = 4,
                                      enquire_link_interval = 30, idle_timeout = 60,
                                      max_pdu = 4096 }, format, 1)
      assert.are.same({ host = "0.0.0.0", port = 2775, window = 5, queue_size = 7,
                        response_timeout = 3, bind_timeout = 4, enquire_link_interval = 30,
                        idle_timeout = 60, max_pdu = 4096 }, cfg.server)
    end)

    it("raises at the caller's line for an unknown option or a wrong type", function()
      assert.matches("simulator: unknown option 'prot'",
                     raised(function() options.normalize({ prot = 1 }, format, 1) end))
      assert.matches("simulator: bad option 'port' %(number expected, got string%)",
                     raised(function() options.normalize({ port = "1" }, format, 1) end))
      assert.matches("bad option 'log' %(boolean or function or string expected, got number%)",
                     raised(function() options.normalize({ log = 1 }, format, 1) end))
      assert.matches("options table expected, got string",
                     raised(function() options.normalize("x", format, 1) end))
    end)

    it("refuses a negative receipt_delay and an esm_class that is no byte", function()
      assert.matches("receipt_delay must be >= 0",
                     raised(function() options.normalize({ receipt_delay = -1 }, format, 1) end))
      for _, v in ipairs { -1, 256, 1.5 } do
        assert.matches("receipt_esm_class must be an integer 0..255", raised(function()
          options.normalize({ receipt_esm_class = v }, format, 1)
        end))
      end
      assert.are.equal(4, options.normalize({ receipt_esm_class = 4 }, format, 1)
                            .receipt_esm_class)
    end)

    it("counts levels through itself to the user's frame", function()
      -- A wrapper one frame deep passes level 2: the error still names
      -- the line that called the wrapper.
      local function wrapper(o)
        local cfg = options.normalize(o, format, 2)
        return cfg
      end
      local err = raised(function()
        local cfg = wrapper { accounts = { x = "123456789" } } -- not a tail call
        return cfg
      end)
      assert.matches("password of 'x' is over 8 bytes", err)
    end)
  end)

  describe("accounts", function()
    it("takes the map form and the list form", function()
      assert.are.same({ a = "1", b = "" }, options.accounts({ a = "1", b = "" }, 1))
      assert.are.same({ a = "1", b = "2" }, options.accounts({
        { system_id = "a", password = "1" }, { system_id = "b", password = "2" } }, 1))
    end)

    it("refuses what SMPP 3.4 5.2.1 does not allow, and an empty set", function()
      local cases = {
        { { [""] = "x" }, "system_id '' must be 1 to 15 bytes" },
        { { ["1234567890123456"] = "x" }, "must be 1 to 15 bytes" },
        { { a = "123456789" }, "password of 'a' is over 8 bytes %(SMPP 3.4 5.2.1%)" },
        { { a = 1 }, "accounts need string system_id and password" },
        { { "a" }, "accounts list entries must be {system_id =, password =}" },
        { {}, "accounts is empty" },
      }
      for _, c in ipairs(cases) do
        assert.matches(c[2], raised(function() options.accounts(c[1], 1) end))
      end
    end)
  end)

  describe("templates", function()
    it("takes a list (or a set) of ids", function()
      assert.are.same({ a = true, b = true }, options.templates({ "a", "b" }, 1))
      assert.are.same({ a = true }, options.templates({ a = true }, 1))
    end)

    it("refuses anything else", function()
      assert.matches("templates must be a list of template ids",
                     raised(function() options.templates({ a = "b" }, 1) end))
    end)
  end)

  describe("undeliverable", function()
    it("matches destinations by prefix, one or several", function()
      local one = options.undeliverable("+999", 1)
      assert.are.equal(1, one("+9991234567"))
      assert.is_nil(one("+6598765432"))
      local two = options.undeliverable({ "+999", "+888" }, 1)
      assert.are.equal(1, two("+8881234567"))
      assert.is_nil(two("+6598765432"))
      assert.is_nil(options.undeliverable(nil, 1))
    end)

    it("asks a function with the submit, reading true or an err number", function()
      local seen
      local answers = { x = true, y = 42, z = false, w = 0 }
      local rule = options.undeliverable(function(s)
        seen = s
        return answers[s.body.id]
      end, 1)
      local p = { service_type = "CODE" }
      assert.are.equal(1, rule("+6512345678", p, "test", { id = "x" }, "a1"))
      assert.are.same({ system_id = "test", destination_addr = "+6512345678",
                        service_type = "CODE", body = { id = "x" }, message_id = "a1",
                        pdu = p }, seen)
      assert.are.equal(42, rule("+65", p, "test", { id = "y" }, "a2"))
      assert.is_nil(rule("+65", p, "test", { id = "z" }, "a3"))
      assert.is_nil(rule("+65", p, "test", { id = "w" }, "a4"))
    end)

    it("refuses empty or non-string prefixes", function()
      assert.matches("undeliverable prefixes must be non%-empty strings",
                     raised(function() options.undeliverable({ "" }, 1) end))
      assert.matches("non%-empty strings", raised(function() options.undeliverable({ 5 }, 1) end))
    end)
  end)

  describe("faults", function()
    it("reads a status name or number, ESME_RSYSERR by default", function()
      assert.are.equal(0x58, options.faults({ every = 1, status = "ESME_RTHROTTLED" }, 1).status)
      assert.are.equal(0x45, options.faults({ every = 1, status = 0x45 }, 1).status)
      assert.are.equal(0x08, options.faults({ every = 1 }, 1).status)
    end)

    it("is nil for no faults", function()
      assert.is_nil(options.faults(nil, 1))
      assert.is_nil(options.faults({}, 1))
    end)

    it("keeps every fault it knows", function()
      assert.are.same({ status = 8, rate = 0.5, every = 2, delay = 1, drop_after = 0,
                        no_answer = true, receipt_first = true },
                      options.faults({ rate = 0.5, every = 2, delay = 1, drop_after = 0,
                                       no_answer = true, receipt_first = true }, 1))
    end)

    it("refuses faults that can't be meant", function()
      local cases = {
        { { nope = 1 }, "unknown fault 'nope'" },
        { { rate = "x" }, "simulator: faults: bad option 'rate' %(number expected" },
        { { status = "ESME_NOPE" }, "unknown status name 'ESME_NOPE'" },
        { { status = 0x100000000 }, "status 4294967296 out of range" },
        { { status = 0 }, "faults.status must be a failure status, not 0" },
        { { rate = 1.5 }, "faults.rate must be between 0 and 1" },
        { { every = 0 }, "faults.every must be a positive integer" },
        { { every = 1.5 }, "faults.every must be a positive integer" },
        { { drop_after = -1 }, "faults.drop_after must be an integer >= 0" },
        { { delay = -1 }, "faults.delay must be >= 0" },
      }
      for _, c in ipairs(cases) do
        assert.matches(c[2], raised(function() options.faults(c[1], 1) end))
      end
    end)
  end)

  describe("log", function()
    it("is off for nil and false", function()
      assert.are.same({ false }, { options.log(nil, format, 1) })
      assert.are.same({ false }, { options.log(false, format, 1) })
    end)

    it("keeps entries in memory only for \"memory\"", function()
      assert.are.same({ true }, { options.log("memory", format, 1) })
    end)

    it("passes entries to the user's function", function()
      local fn = function() end
      assert.are.same({ true, fn }, { options.log(fn, format, 1) })
    end)

    it("prints each entry's line on stderr for true", function()
      local logging, fn = options.log(true, format, 1)
      assert.is_true(logging)
      local saved = io.stderr
      local got = {}
      -- io.stderr is read when the entry is written: a stand-in catches it.
      -- luacheck: ignore 122
      io.stderr = { write = function(_, ...) got[#got + 1] = table.concat { ... } end }
      local ok, err = pcall(fn, { event = "bound" })
      io.stderr = saved
      assert(ok, err)
      assert.are.same({ "smpp-sim line bound\n" }, got)
    end)

    it("refuses any other string", function()
      assert.matches("log must be true, \"memory\" or a function",
                     raised(function() options.log("stderr", format, 1) end))
    end)
  end)
end)
