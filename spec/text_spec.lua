-- smpp.pdu UTF-8 <-> UCS2 (UTF-16BE, data_coding 8).
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
    assert.equal("00E9", hex(pdu.utf8_to_ucs2("\u{E9}")))
    assert.equal("4E2D6587", hex(pdu.utf8_to_ucs2("中文")))
    assert.equal("FFFD", hex(pdu.utf8_to_ucs2("\u{FFFD}")))
  end)

  it("encodes characters past U+FFFF as surrogate pairs", function()
    assert.equal("D83DDE00", hex(pdu.utf8_to_ucs2("\u{1F600}")))
    assert.equal("DBFFDFFF", hex(pdu.utf8_to_ucs2("\u{10FFFF}")))
    assert.equal("D800DC00", hex(pdu.utf8_to_ucs2("\u{10000}")))
  end)

  it("turns the gateway's OTP JSON into the 158 octets of the golden submit_sm", function()
    local json = '{"id":"otp-login","language":"default","code":"123456","params":{"app":"Acme"}}'
    local ucs2 = pdu.utf8_to_ucs2(json)
    assert.equal(158, #ucs2)
    assert.equal((json:gsub(".", "\0%0")), ucs2)
  end)

  it("converts strings longer than its stack buffer", function()
    local s = ("ab\u{E9}\u{1F600}"):rep(500)
    local ucs2 = assert(pdu.utf8_to_ucs2(s))
    assert.equal(500 * 10, #ucs2)
    assert.equal(s, pdu.ucs2_to_utf8(ucs2))
  end)

  local bad = {
    { "a stray continuation byte", "ab\x80", 2 },
    { "an overlong two-byte form", "\xC0\x80", 0 },
    { "an overlong three-byte form", "x\xE0\x80\x80", 1 },
    { "a surrogate encoded in UTF-8", "xy\xED\xA0\x80", 2 },
    { "a code point past U+10FFFF", "\xF4\x90\x80\x80", 0 },
    { "a sequence cut short", "abc\xE4\xB8", 3 },
    { "a lead byte without continuation", "\xE4x", 0 },
    { "the byte 0xFF", "ok\xFF", 2 },
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
    assert.equal("A\u{E9}\u{4E2D}\u{1F600}",
      pdu.ucs2_to_utf8("\0A\0\xE9\x4E\x2D\xD8\x3D\xDE\x00"))
  end)

  it("refuses an odd number of bytes, naming the offset", function()
    local out, err = pdu.ucs2_to_utf8("\0A\0")
    assert.is_nil(out)
    assert.matches("byte 2", err)
  end)

  it("refuses a lone high surrogate, naming its offset", function()
    local out, err = pdu.ucs2_to_utf8("\0A\xD8\x3D\0B")
    assert.is_nil(out)
    assert.matches("byte 2", err)
  end)

  it("refuses a lone low surrogate, naming its offset", function()
    local out, err = pdu.ucs2_to_utf8("\0A\0B\xDE\x00")
    assert.is_nil(out)
    assert.matches("byte 4", err)
  end)

  it("refuses a high surrogate at the very end", function()
    local out, err = pdu.ucs2_to_utf8("\xD8\x3D")
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
        cps[i] = utf8.char(cp)
      end
      local s = table.concat(cps)
      local ucs2 = assert(pdu.utf8_to_ucs2(s))
      assert.equal(s, pdu.ucs2_to_utf8(ucs2))
    end
  end)
end)
