-- smpp.pdu UTF-8 <-> UCS2 (UTF-16BE, data_coding 8).
local compat = require "support.compat"
local pdu = require "smpp.pdu"

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02X", c:byte()) end))
end

describe("smpp.pdu.utf8_to_ucs2", function()
  it("turns ASCII into big-endian 16-bit units", function()
    assert.equal("007B0022007D", hex(pdu.utf8_to_ucs2('{"}')))
  end)

  it("gives the empty string for the empty string", function()
    assert.equal("", pdu.utf8_to_ucs2(""))
  end)

  it("encodes the Basic Multilingual Plane as one unit per character", function()
    assert.equal("00E9", hex(pdu.utf8_to_ucs2("\195\169")))
    assert.equal("4E2D6587", hex(pdu.utf8_to_ucs2("中文")))
    assert.equal("FFFD", hex(pdu.utf8_to_ucs2("\239\191\189")))
  end)

  it("encodes characters past U+FFFF as surrogate pairs", function()
    assert.equal("D83DDE00", hex(pdu.utf8_to_ucs2("\240\159\152\128")))
    assert.equal("DBFFDFFF", hex(pdu.utf8_to_ucs2("\244\143\191\191")))
    assert.equal("D800DC00", hex(pdu.utf8_to_ucs2("\240\144\128\128")))
  end)

  it("turns the gateway's OTP JSON into the 158 octets of the golden submit_sm", function()
    local json = '{"id":"otp-login","language":"default","code":"123456","params":{"app":"Acme"}}'
    local ucs2 = pdu.utf8_to_ucs2(json)
    assert.equal(158, #ucs2)
    assert.equal((json:gsub(".", "\0%0")), ucs2)
  end)

  it("converts strings longer than its stack buffer", function()
    local s = ("ab\195\169\240\159\152\128"):rep(500)
    local ucs2 = assert(pdu.utf8_to_ucs2(s))
    assert.equal(500 * 10, #ucs2)
    assert.equal(s, pdu.ucs2_to_utf8(ucs2))
  end)

  local bad = {
    { "a stray continuation byte", "ab\128", 2 },
    { "an overlong two-byte form", "\192\128", 0 },
    { "an overlong three-byte form", "x\224\128\128", 1 },
    { "a surrogate encoded in UTF-8", "xy\237\160\128", 2 },
    { "a code point past U+10FFFF", "\244\144\128\128", 0 },
    { "a sequence cut short", "abc\228\184", 3 },
    { "a lead byte without continuation", "\228x", 0 },
    { "the byte 0xFF", "ok\255", 2 },
  }
  for _, case in ipairs(bad) do
    it("refuses " .. case[1] .. ", naming byte " .. case[3], function()
      local out, err = pdu.utf8_to_ucs2(case[2])
      assert.is_nil(out)
      assert.matches("invalid UTF%-8 at byte " .. case[3] .. "%f[^%d]", err)
    end)
  end

  it("raises on misuse: an argument that is not a string", function()
    assert.has_error(function() pdu.utf8_to_ucs2({}) end)
    assert.has_error(function() pdu.utf8_to_ucs2() end)
  end)
end)

describe("smpp.pdu.ucs2_to_utf8", function()
  it("decodes big-endian units and surrogate pairs", function()
    assert.equal("A\195\169\228\184\173\240\159\152\128",
      pdu.ucs2_to_utf8("\0A\0\233\078\045\216\061\222\000"))
  end)

  it("refuses an odd number of bytes, naming the offset", function()
    local out, err = pdu.ucs2_to_utf8("\0A\0")
    assert.is_nil(out)
    assert.matches("byte 2", err)
  end)

  it("refuses a lone high surrogate, naming its offset", function()
    local out, err = pdu.ucs2_to_utf8("\0A\216\061\0B")
    assert.is_nil(out)
    assert.matches("byte 2", err)
  end)

  it("refuses a lone low surrogate, naming its offset", function()
    local out, err = pdu.ucs2_to_utf8("\0A\0B\222\000")
    assert.is_nil(out)
    assert.matches("byte 4", err)
  end)

  it("refuses a high surrogate at the very end", function()
    local out, err = pdu.ucs2_to_utf8("\216\061")
    assert.is_nil(out)
    assert.matches("byte 0", err)
  end)

  it("round trips random code points of every length", function()
    math.randomseed(4242)
    for _ = 1, 300 do
      local cps = {}
      for i = 1, math.random(0, 40) do
        local cp
        repeat
          local r = math.random(4)
          cp = r == 1 and math.random(0, 0x7F) or r == 2 and math.random(0x80, 0x7FF)
            or r == 3 and math.random(0x800, 0xFFFF) or math.random(0x10000, 0x10FFFF)
        until cp < 0xD800 or cp > 0xDFFF
        cps[i] = compat.utf8_char(cp)
      end
      local s = table.concat(cps)
      local ucs2 = assert(pdu.utf8_to_ucs2(s))
      assert.equal(s, pdu.ucs2_to_utf8(ucs2))
    end
  end)
end)
