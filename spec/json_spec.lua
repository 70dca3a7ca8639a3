-- smpp.pdu JSON body: what the gateway expects in short_message.
local pdu = require "smpp.pdu"

describe("smpp.pdu.build_body", function()
  it("writes id, language, code, params in that order", function()
    assert.equal('{"id":"otp-login","language":"default","code":"123456","params":{"app":"Acme"}}',
      pdu.build_body { id = "otp-login", code = "123456", params = { app = "Acme" } })
  end)

  it("defaults language to default and keeps a given one", function()
    assert.equal('{"id":"t","language":"default","params":{}}', pdu.build_body { id = "t" })
    assert.equal('{"id":"t","language":"zh_CN","params":{}}',
      pdu.build_body { id = "t", language = "zh_CN" })
  end)

  it("leaves code out when nil and writes params as {} when empty", function()
    assert.equal('{"id":"t","language":"default","params":{}}',
      pdu.build_body { id = "t", params = {} })
  end)

  it("sorts params by key so the output is stable", function()
    assert.equal('{"id":"t","language":"default","params":{"a":"1","b":"2","ba":"3","c":"4"}}',
      pdu.build_body { id = "t", params = { c = "4", ba = "3", a = "1", b = "2" } })
  end)

  it("turns numbers into strings, integral ones without .0", function()
    local json = pdu.build_body { id = "t", params = { n = 42, f = 2.0, g = 1.5, m = -7 } }
    assert.equal('{"id":"t","language":"default","params":{"f":"2","g":"1.5","m":"-7","n":"42"}}',
      json)
  end)

  it("escapes quotes, backslashes and control characters", function()
    local json = pdu.build_body { id = 'a"b\\c', params = { k = "line\nbreak\ttab\1" } }
    assert.equal('{"id":"a\\"b\\\\c","language":"default","params":'
      .. '{"k":"line\\nbreak\\ttab\\u0001"}}', json)
    local back = pdu.parse_body(json)
    assert.equal('a"b\\c', back.id)
    assert.equal("line\nbreak\ttab\1", back.params.k)
  end)

  it("keeps UTF-8 text as it is", function()
    local json = pdu.build_body { id = "t", params = { name = "Zoë 中文 \240\159\152\128" } }
    assert.equal("Zoë 中文 \240\159\152\128", pdu.parse_body(json).params.name)
  end)

  local function fails(t, pattern)
    local out, err = pdu.build_body(t)
    assert.is_nil(out)
    assert.matches(pattern, err)
  end

  it("refuses a missing, empty or non-string id", function()
    fails({}, "id: string expected, got nil")
    fails({ id = "" }, "id: must not be empty")
    fails({ id = 5 }, "id: string expected, got number")
  end)

  it("refuses a code or language that is not a string", function()
    fails({ id = "t", code = 123456 }, "code: string expected, got number")
    fails({ id = "t", language = {} }, "language: string expected, got table")
  end)

  it("refuses params that are not a table", function()
    fails({ id = "t", params = "x" }, "params: table expected, got string")
  end)

  it("refuses param keys that are not strings", function()
    fails({ id = "t", params = { "x" } }, "params: keys must be strings")
  end)

  it("refuses param values that are tables or booleans, naming the key", function()
    fails({ id = "t", params = { nested = {} } },
      "params.nested: string or number expected, got table")
    fails({ id = "t", params = { flag = true } },
      "params.flag: string or number expected, got boolean")
  end)

  it("refuses numbers without a JSON text", function()
    fails({ id = "t", params = { x = 0 / 0 } }, "params.x: not a finite number")
    fails({ id = "t", params = { y = math.huge } }, "params.y: not a finite number")
  end)

  it("refuses an unknown key", function()
    fails({ id = "t", template = "x" }, "unknown field 'template'")
  end)

  it("refuses invalid UTF-8 and NUL bytes, naming the field", function()
    fails({ id = "t", params = { app = "Ac\255me" } }, "params.app: invalid UTF%-8 at byte 2")
    fails({ id = "t\0x" }, "id: NUL byte at byte 1")
    fails({ id = "t", code = "\192\128" }, "code: invalid UTF%-8")
  end)

  it("raises on misuse: an argument that is not a table", function()
    assert.has_error(function() pdu.build_body("x") end)
  end)
end)

describe("smpp.pdu.parse_body", function()
  it("reads the four keys of a body", function()
    assert.same({ id = "otp-login", language = "default", code = "123456",
      params = { app = "Acme" } },
      pdu.parse_body('{"id":"otp-login","language":"default","code":"123456",'
        .. '"params":{"app":"Acme"}}'))
  end)

  it("reads what build_body writes", function()
    local t = { id = "x", language = "en", code = "0042", params = { a = "1", b = "two" } }
    assert.same(t, pdu.parse_body(pdu.build_body(t)))
  end)

  it("leaves absent language and code nil, gives {} for absent params, ignores other keys",
    function()
      assert.same({ id = "t", params = {} }, pdu.parse_body(' {"id":"t","extra":[1,2]} \n'))
    end)

  local function fails(body, pattern)
    local t, err = pdu.parse_body(body)
    assert.is_nil(t)
    assert.matches(pattern, err)
  end

  it("refuses text that is not JSON, with the byte offset", function()
    fails("", "not JSON")
    fails('{"id":"t",}', "not JSON %(error at byte %d+%)")
    fails('{"id":"t"} x', "not JSON %(trailing bytes at byte 11%)")
    fails('{"id":"t"', "not JSON")
  end)

  it("refuses JSON that is not an object", function()
    fails('["id"]', "not an object: array")
    fails('"id"', "not an object: string")
  end)

  it("refuses a missing or non-string id", function()
    fails('{"language":"default"}', "id missing")
    fails('{"id":7}', "id: string expected, got number")
  end)

  it("refuses a language or code that is not a string", function()
    fails('{"id":"t","language":null}', "language: string expected, got null")
    fails('{"id":"t","code":123456}', "code: string expected, got number")
  end)

  it("refuses params that are not an object", function()
    fails('{"id":"t","params":["a"]}', "params: object expected, got array")
  end)

  it("refuses a param value that is not a string, naming the key", function()
    fails('{"id":"t","params":{"ok":"1","app":5}}', "params.app: string expected, got number")
    fails('{"id":"t","params":{"deep":{}}}', "params.deep: string expected, got object")
  end)

  it("raises on misuse: an argument that is not a string", function()
    assert.has_error(function() pdu.parse_body({}) end)
  end)
end)
