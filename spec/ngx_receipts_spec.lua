-- smpp.backend.ngx_receipts' strings (the store itself runs in nginx: make
-- hosts): what goes into the shared dict reads back as the receipt.

local pdu = require "smpp.pdu"
local core = require "smpp.core"

-- The module reads the ngx global only inside nginx's calls.
local codec = (function()
  local saved = rawget(_G, "ngx")
  rawset(_G, "ngx", saved or {})
  local m = require "smpp.backend.ngx_receipts"
  rawset(_G, "ngx", saved)
  return m
end)()

local bytes = assert(pdu.encode {
  command = "deliver_sm", sequence_number = 9, service_type = "MSG",
  destination_addr = "+6598765432", esm_class = 4, data_coding = 0,
  short_message = "id:a1 sub:001 dlvrd:001 submit date:2612041200"
    .. " done date:2612041201 stat:DELIVRD err:000 text:",
  tlvs = { { tag = 0x001E, value = "a1" }, { tag = 0x0427, value = 2 } },
})

describe("smpp.backend.ngx_receipts strings", function()
  it("a receipt's deliver_sm reads back as the link decodes it", function()
    assert.same(assert(pdu.receipt(bytes)), codec.decode(bytes))
  end)

  it("a table without bytes is packed and reads back equal", function()
    local r = assert(pdu.receipt(bytes))
    local s = codec.encode(r)
    assert.equal(0xB1, s:byte(1))
    assert.same(r, codec.decode(s))
  end)

  it("still reads the format before core.pack", function()
    local inner = "s13:message_staten1:2"
    local old = "s10:message_ids2:a1s4:stats7:DELIVRDs5:finalb1:1s4:tlvst" .. #inner .. ":" .. inner
    assert.same({ message_id = "a1", stat = "DELIVRD", final = true,
                  tlvs = { message_state = 2 } }, codec.decode(old))
  end)

  it("says nil to a string none of them made", function()
    assert.is_nil(codec.decode("\177garbage"))
    assert.is_nil(codec.decode("xyz"))
    assert.is_nil(codec.decode(bytes:sub(1, 20)))
  end)

  it("core.pack is what it packs with", function()
    assert.equal(core.pack, codec.encode)
  end)
end)
