-- smpp.template: the gateway's JSON body, checked before anything leaves.

local template = require "smpp.template"
local pdu = require "smpp.pdu"
local core = require "smpp.core"

local otp, message, marketing = template.otp, template.message, template.marketing

-- The body a submit table carries, decoded back to a Lua table.
local function body_of(submit)
  local bytes = submit.short_message
  if bytes == "" and submit.tlvs then
    bytes = submit.tlvs.message_payload
  end
  if submit.data_coding == 8 then
    bytes = assert(pdu.ucs2_to_utf8(bytes))
  end
  return assert(core.parse_body(bytes)), bytes
end

local function base(extra)
  local t = { to = "+6598765432", template = "otp-login", code = "123456" }
  for k, v in pairs(extra or {}) do
    t[k] = v
  end
  return t
end

describe("smpp.otp", function()
  it("builds a CODE submit with the JSON body in UCS2 and a receipt asked for", function()
    local s = assert(otp(base { params = { app = "Acme" } }))
    assert.equal("CODE", s.service_type)
    assert.equal("+6598765432", s.destination_addr)
    assert.equal(8, s.data_coding)
    assert.equal(1, s.registered_delivery)
    local body, json = body_of(s)
    assert.same({ id = "otp-login", language = "default", code = "123456",
                  params = { app = "Acme" } }, body)
    -- UTF-16BE: every ASCII character is a zero byte then itself.
    assert.equal(2 * #json, #s.short_message)
    assert.equal("\0{", s.short_message:sub(1, 2))
  end)

  it("sends the JSON as is with data_coding 0", function()
    local s = assert(otp(base { data_coding = 0 }))
    assert.equal(0, s.data_coding)
    assert.equal("{", s.short_message:sub(1, 1))
    assert.same({ id = "otp-login", language = "default", code = "123456", params = {} },
      (core.parse_body(s.short_message)))
  end)

  it("turns an integer code into a string", function()
    local body = body_of(assert(otp(base { code = 123456 })))
    assert.equal("123456", body.code)
  end)

  it("keeps leading zeros of a string code", function()
    assert.equal("000123", body_of(assert(otp(base { code = "000123" }))).code)
  end)

  it("takes a language", function()
    assert.equal("zh_CN", body_of(assert(otp(base { language = "zh_CN" }))).language)
  end)

  it("turns integer params into their decimal text, integral floats without .0", function()
    local body = body_of(assert(otp(base { data_coding = 0, params = {
      n = 5, neg = -12, big = math.maxinteger, f = 3.0, half = 7 / 1, top = 2 ^ 53,
      s = "x" } })))
    -- math.maxinteger: 5.3 and 5.4 only (nil elsewhere: no such key either side).
    assert.same({ n = "5", neg = "-12", big = math.maxinteger and tostring(math.maxinteger),
                  f = "3", half = "7",
                  top = "9007199254740992", s = "x" }, body.params)
  end)

  it("carries non-ASCII text through UCS2, surrogate pairs included", function()
    local s = assert(otp(base { params = { name = "Zoë 李 😀" } }))
    assert.equal("Zoë 李 😀", body_of(s).params.name)
    assert.truthy(s.short_message:find("\216\061\222\000", 1, true)) -- U+1F600 as D83D DE00
  end)

  it("can turn receipts off", function()
    assert.equal(0, assert(otp(base { registered_delivery = 0 })).registered_delivery)
  end)

  it("accepts 7 and 15 digits", function()
    assert.truthy(otp(base { to = "+1234567" }))
    assert.truthy(otp(base { to = "+123456789012345" }))
  end)

  describe("refuses, naming the field", function()
    local cases = {
      { "to missing", { to = false }, "^to:" },
      { "to as a number", { to = 6598765432 }, "^to:" },
      { "to without a plus", { to = "6598765432" }, "^to:.*international" },
      { "to with letters", { to = "+65abc5432" }, "^to:" },
      { "to with spaces", { to = "+65 9876 5432" }, "^to:" },
      { "to of 6 digits", { to = "+123456" }, "^to:.*6 digits" },
      { "to of 16 digits", { to = "+1234567890123456" }, "^to:.*16 digits" },
      { "an empty template", { template = "" }, "^template:" },
      { "a template that is not a string", { template = 12 }, "^template:" },
      { "an empty code", { code = "" }, "^code:" },
      { "a float code", { code = 1234.5 }, "^code:.*float" },
      { "a negative code", { code = -1 }, "^code:" },
      { "a boolean code", { code = true }, "^code:" },
      { "an empty language", { language = "" }, "^language:" },
      { "params that are not a table", { params = "a=b" }, "^params:" },
      { "a boolean param", { params = { ok = true } }, "^params%.ok:" },
      { "a table param", { params = { t = {} } }, "^params%.t:" },
      { "a list of params", { params = { "a", "b" } }, "^params: keys must be strings" },
      { "a non-string param key", { params = { [1.5] = "x" } }, "^params: keys" },
      { "an invalid UTF-8 param", { params = { bad = "\255\254" } }, "^params%.bad:.*UTF%-8" },
      { "an invalid UTF-8 template", { template = "a\192" }, "^template:.*UTF%-8" },
      { "a template with a NUL byte", { template = "otp\0login" }, "^template: .*NUL" },
      { "a language with a NUL byte", { language = "en\0" }, "^language: .*NUL" },
      { "a code with a NUL byte", { code = "12\0" }, "^code: .*NUL" },
      { "a param with a NUL byte", { params = { app = "A\0" } }, "^params%.app: .*NUL" },
      { "a fractional float param", { params = { ratio = 1.5 } },
        "^params%.ratio: 1%.5 is not an integer" },
      { "a NaN param", { params = { x = 0 / 0 } }, "^params%.x: .*not a number" },
      { "an infinite param", { params = { x = math.huge } }, "^params%.x: inf" },
      { "a negative infinite param", { params = { x = -math.huge } }, "^params%.x: %-inf" },
      { "a float param past 2^53", { params = { x = 2 ^ 53 * 2 } }, "^params%.x: .*2%^53" },
      { "data_coding 3", { data_coding = 3 }, "^data_coding:" },
      { "non-ASCII with data_coding 0", { data_coding = 0, params = { n = "é" } },
        "^data_coding:.*ASCII" },
      { "registered_delivery 2", { registered_delivery = 2 }, "^registered_delivery:" },
      { "allow_payload that is not a boolean", { allow_payload = 1 }, "^allow_payload:" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local fields = base(case[2])
        if fields.to == false then
          fields.to = nil
        end
        local s, err = otp(fields)
        assert.is_nil(s)
        assert.is_string(err)
        assert.matches(case[3], err)
      end)
    end

    it("a missing template", function()
      local s, err = otp { to = "+6598765432", code = "1" }
      assert.is_nil(s)
      assert.matches("^template:", err)
    end)

    it("a missing code", function()
      local s, err = otp { to = "+6598765432", template = "t" }
      assert.is_nil(s)
      assert.matches("^code: required", err)
    end)
  end)

  describe("body size", function()
    -- A template id that makes the UCS2 body exactly `bytes` long.
    local function fields_of_size(bytes)
      local base_len = #core.build_body { id = "t", language = "default", code = "1" } - 1
      return { to = "+6598765432", code = "1",
               template = ("t"):rep(math.floor(bytes / 2) - base_len) }
    end

    it("takes 254 bytes in short_message", function()
      local s = assert(otp(fields_of_size(254)))
      assert.equal(254, #s.short_message)
      assert.is_nil(s.tlvs)
    end)

    it("refuses 256 bytes, pointing at allow_payload", function()
      local s, err = otp(fields_of_size(256))
      assert.is_nil(s)
      assert.matches("^body: 256 bytes.*254.*allow_payload", err)
    end)

    it("sends a long body in message_payload when allowed", function()
      local f = fields_of_size(600)
      f.allow_payload = true
      local s = assert(otp(f))
      assert.equal("", s.short_message)
      assert.equal(600, #s.tlvs.message_payload)
      assert.equal(f.template, body_of(s).id)
    end)

    it("counts the bytes on the wire, not the characters", function()
      -- 100 x "李": 100 characters, 200 bytes of UCS2 in the params alone.
      local s, err = otp(base { params = { n = ("李"):rep(100) } })
      assert.is_nil(s)
      assert.matches("^body:", err)
    end)
  end)

  describe("misuse raises at the caller's line", function()
    it("for a non-table", function()
      local ok, err = pcall(otp, "+6598765432")
      assert.is_false(ok)
      assert.matches("smpp.otp: expected a table", err)
      local _, e2 = pcall(function() otp(42) end)
      assert.matches("template_spec.lua:%d+:", e2)
    end)

    it("for an unknown key", function()
      local _, err = pcall(function() otp(base { param = { a = "b" } }) end)
      assert.matches("template_spec.lua:%d+: smpp.otp: unknown field 'param'", err)
    end)
  end)
end)

describe("smpp.message", function()
  it("builds a MSG submit with no code", function()
    local s = assert(message { to = "+6598765432", template = "notice",
                               params = { order = "A-17" } })
    assert.equal("MSG", s.service_type)
    assert.same({ id = "notice", language = "default", params = { order = "A-17" } },
      body_of(s))
  end)

  it("refuses a code: only OTPs carry one", function()
    local s, err = message { to = "+6598765432", template = "notice", code = "1" }
    assert.is_nil(s)
    assert.matches("^code: only OTPs", err)
  end)

  it("raises for a non-table", function()
    assert.has_error(function() message() end)
  end)
end)

describe("smpp.marketing", function()
  it("builds an MRKT submit", function()
    local s = assert(marketing { to = "+6598765432", template = "promo" })
    assert.equal("MRKT", s.service_type)
    assert.equal("promo", body_of(s).id)
  end)

  it("refuses a code", function()
    assert.is_nil((marketing { to = "+6598765432", template = "promo", code = 1 }))
  end)
end)

describe("the submit table", function()
  it("encodes as a submit_sm with the codec", function()
    local s = assert(otp(base()))
    s.command = "submit_sm"
    s.sequence_number = 1
    local bytes = assert(pdu.encode(s))
    local back = assert(pdu.decode(bytes))
    assert.equal("CODE", back.service_type)
    assert.equal(s.short_message, back.short_message)
  end)
end)
