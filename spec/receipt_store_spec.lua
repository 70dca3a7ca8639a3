-- core.receipt_store: kept receipts packed in C memory (lsmpp_store.c).

local core = require "smpp.core"
local compat = require "spec.support.compat"

local function receipt(id, extra)
  local r = {
    message_id = id, stat = "DELIVRD", err = "000", final = true, message_state = 2,
    state = "DELIVERED", done_date = "2612041200", esm_class = 0, sequence_number = 7,
    raw = "id:" .. id .. " sub:001 dlvrd:001 submit date:2612041200 done date:2612041200"
      .. " stat:DELIVRD err:000 text:",
    tlvs = { { tag = 0x001E, name = "receipted_message_id", value = id },
             { tag = 0x0427, name = "message_state", value = 2 },
             receipted_message_id = id, message_state = 2 },
  }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

describe("core.receipt_store", function()
  it("gives back an equal copy of what it kept, nested tables too", function()
    local s = core.receipt_store(10)
    local r = receipt("m1", { weight = 1.5, negative = -42, big = 2 ^ 40, empty = "",
                              long = ("x"):rep(5000), nested = { a = { b = { c = true } } } })
    s:put("m1", r, 1, 0)
    local got = s:find("m1", 0)
    assert.are_not.equal(r, got)
    assert.same(r, got)
    assert.equal(1.5, got.weight)
    assert.equal(-42, got.negative)
    assert.equal(2 ^ 40, got.big)
    if math.type then
      assert.equal("integer", compat.math_type(got.negative))
      assert.equal("float", compat.math_type(got.weight))
    end
  end)

  it("keeps no functions, userdata or tables past its depth limit", function()
    local s = core.receipt_store(10)
    local deep = {}
    local t = deep
    for _ = 1, 20 do t.next = {}; t = t.next end
    local r = receipt("m1", { fn = print, co = coroutine.create(function() end), deep = deep })
    r[print] = "a function key"
    s:put("m1", r, 1, 0)
    local got = s:find("m1", 0)
    assert.is_nil(got.fn)
    assert.is_nil(got.co)
    assert.is_nil(got[print])
    local depth = 0
    t = got.deep
    while t and t.next do depth = depth + 1; t = t.next end
    assert.is_true(depth > 3 and depth < 10)
    assert.equal("DELIVRD", got.stat)
  end)

  it("a table that holds itself is cut at the depth limit, not followed for ever", function()
    local s = core.receipt_store(10)
    local r = receipt("m1")
    r.self = r
    s:put("m1", r, 1, 0)
    assert.equal("m1", s:find("m1", 0).self.self.message_id)
  end)

  it("finds only final receipts", function()
    local s = core.receipt_store(10)
    s:put("m1", receipt("m1", { final = false, stat = "ENROUTE" }), 1, 0)
    assert.is_nil(s:find("m1", 0))
    assert.equal(1, s:count(0))
    s:put("m1", receipt("m1"), 2, 0)
    assert.equal("DELIVRD", s:find("m1", 0).stat)
    assert.equal(1, s:count(0))
  end)

  it("keeps the newest `keep`, the oldest going first", function()
    local s = core.receipt_store(3)
    for i = 1, 5 do s:put("m" .. i, receipt("m" .. i), i, 0) end
    assert.equal(3, s:count(0))
    assert.is_nil(s:find("m1", 0))
    assert.is_nil(s:find("m2", 0))
    for i = 3, 5 do assert.equal("m" .. i, s:find("m" .. i, 0).message_id) end
  end)

  it("a replaced receipt does not count twice, and its old slot is skipped", function()
    local s = core.receipt_store(3)
    s:put("a", receipt("a", { final = false }), 1, 0)
    s:put("b", receipt("b"), 2, 0)
    s:put("a", receipt("a"), 3, 0)
    s:put("c", receipt("c"), 4, 0)
    assert.equal(3, s:count(0))
    s:put("d", receipt("d"), 5, 0)
    -- b is now the oldest: a's first slot was empty.
    assert.is_nil(s:find("b", 0))
    assert.truthy(s:find("a", 0))
    assert.truthy(s:find("d", 0))
  end)

  it("forgets receipts older than min_at", function()
    local s = core.receipt_store(100)
    for i = 1, 10 do s:put("m" .. i, receipt("m" .. i), i, 0) end
    assert.is_nil(s:find("m3", 3.5))
    assert.truthy(s:find("m4", 3.5))
    assert.equal(6, s:count(4.5))
    assert.is_nil(s:find("m4", 0))
    s:put("m11", receipt("m11"), 11, 10.5)
    assert.equal(1, s:count(0))
  end)

  it("stays bounded and correct under many puts and replacements", function()
    local s = core.receipt_store(1000)
    for i = 1, 200000 do
      local id = "m" .. (i % 1500)
      s:put(id, { message_id = id, final = true, i = i }, i, 0)
    end
    assert.equal(1000, s:count(0))
    assert.equal(200000, s:find("m" .. (200000 % 1500), 0).i)
    assert.is_nil(s:find("m" .. ((200000 - 1200) % 1500), 0))
  end)

  it("keeps the deliver_sm's bytes when given, and decodes them as the link did", function()
    local pdu = require "smpp.pdu"
    local bytes = assert(pdu.encode {
      command = "deliver_sm", sequence_number = 16, service_type = "MSG",
      destination_addr = "+6598765432", esm_class = 4, data_coding = 0,
      short_message = "id:0123456789ab sub:001 dlvrd:001 submit date:2611251200"
        .. " done date:2611251201 stat:DELIVRD err:000 text:",
      tlvs = { { tag = 0x001E, value = "0123456789ab" }, { tag = 0x0427, value = 2 } },
    })
    local r = assert(pdu.receipt(bytes))
    local s = core.receipt_store(10)
    r.added_by_handler = true
    s:put("0123456789ab", r, 1, 0, bytes)
    local got = s:find("0123456789ab", 0)
    r.added_by_handler = nil
    assert.same(r, got)
    assert.equal("DELIVERED", got.state)
    assert.equal(2, got.tlvs.message_state)
    assert.has_error(function() s:put("x", r, 1, 0, 42) end)
  end)

  it("keep = 0 keeps nothing", function()
    local s = core.receipt_store(0)
    s:put("m1", receipt("m1"), 1, 0)
    assert.is_nil(s:find("m1", 0))
    assert.equal(0, s:count(0))
  end)

  it("says what is wrong with a bad argument", function()
    assert.has_error(function() core.receipt_store(-1) end)
    local s = core.receipt_store(1)
    assert.has_error(function() s:put("m1", "not a table", 1, 0) end)
    assert.has_error(function() s:put(nil, {}, 1, 0) end)
    assert.has_error(function() s.put({}, "m1", {}, 1, 0) end)
  end)
end)

describe("core.pack and core.unpack", function()
  it("give back an equal table", function()
    local r = receipt("m1", { weight = 1.5, long = ("y"):rep(3000), no = false })
    local s = core.pack(r)
    assert.is_string(s)
    assert.same(r, core.unpack(s))
    -- Known keys and values take a byte: well under the text's size.
    assert.is_true(#core.pack({ message_id = "a", stat = "DELIVRD", state = "DELIVERED" })
      < #"message_idastatDELIVRDstateDELIVERED")
  end)

  it("agree on how deep a table may go: unpack takes what pack writes, no deeper", function()
    -- n tables, each the value of key "a" in the one around it.
    local function nested(n)
      return "\177" .. ("\5\4\1a"):rep(n - 1) .. "\5" .. ("\6"):rep(n)
    end
    local t = assert(core.unpack(nested(8)))
    assert.same(t, core.unpack(core.pack(t)))
    assert.is_nil(core.unpack(nested(9)))
    -- A deeper table is packed cut at the same depth.
    local deep = {}
    local at = deep
    for _ = 1, 12 do at.a = {}; at = at.a end
    assert.same(t, core.unpack(core.pack(deep)))
  end)

  it("refuse, never raise on, what core.pack did not make", function()
    local s = core.pack(receipt("m1"))
    for i = 0, #s - 1 do
      local t, err = core.unpack(s:sub(1, i))
      assert.is_nil(t)
      assert.matches("not a packed table", err)
    end
    assert.matches("format byte", select(2, core.unpack("s3:abc")))
    math.randomseed(7)
    for _ = 1, 5000 do
      local b = { "\177" }
      for j = 2, math.random(2, 60) do b[j] = string.char(math.random(0, 255)) end
      local ok, t, err = pcall(core.unpack, table.concat(b))
      assert.is_true(ok, t)
      assert.is_true(t == nil and type(err) == "string" or type(t) == "table")
    end
  end)
end)
