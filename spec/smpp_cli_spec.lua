-- smpp.cli: the option parser and the settings the command-line programs
-- share. Exiting helpers run in a child process.

package.path = "spec/?.lua;" .. package.path
local cli = require "smpp.cli"
local process = require "support.process"

-- An environment of our own, for cli.gateway.
local function env_of(t)
  return function(name) return t[name] end
end

describe("smpp.cli", function()
  describe("parse", function()
    local SPEC = { to = "value", param = "list", simulator = "flag", ["wait-receipt"] = "optional",
                   help = "flag" }

    it("takes --name VALUE and --name=VALUE, the last one counting", function()
      assert.are.same({ to = "+65" }, cli.parse({ "--to", "+65" }, SPEC))
      assert.are.same({ to = "a=b" }, cli.parse({ "--to=a=b" }, SPEC))
      assert.are.same({ to = "2" }, cli.parse({ "--to", "1", "--to=2" }, SPEC))
      assert.are.same({ to = "" }, cli.parse({ "--to=" }, SPEC))
    end)

    it("gathers a repeatable option in a list, in order", function()
      assert.are.same({ param = { "a=1", "b=2" } },
                      cli.parse({ "--param", "a=1", "--param=b=2" }, SPEC))
    end)

    it("sets flags, and refuses a value for one", function()
      assert.are.same({ simulator = true }, cli.parse({ "--simulator" }, SPEC))
      assert.are.same({ nil, "--simulator takes no value" },
                      { cli.parse({ "--simulator=yes" }, SPEC) })
    end)

    it("takes an optional value only in the = form", function()
      assert.are.same({ ["wait-receipt"] = true, to = "+65" },
                      cli.parse({ "--wait-receipt", "--to", "+65" }, SPEC))
      assert.are.same({ ["wait-receipt"] = "5" }, cli.parse({ "--wait-receipt=5" }, SPEC))
      assert.are.same({ nil, "unexpected argument 5" },
                      { cli.parse({ "--wait-receipt", "5" }, SPEC) })
    end)

    it("reads -h as --help when there is a --help", function()
      assert.are.same({ help = true }, cli.parse({ "-h" }, SPEC))
      assert.are.same({ nil, "unexpected argument -h" }, { cli.parse({ "-h" }, { to = "value" }) })
    end)

    it("says what is wrong with the command line", function()
      assert.are.same({ nil, "unknown option --bogus" }, { cli.parse({ "--bogus" }, SPEC) })
      assert.are.same({ nil, "unexpected argument x" }, { cli.parse({ "x" }, SPEC) })
      assert.are.same({ nil, "--to needs a value" }, { cli.parse({ "--to" }, SPEC) })
      assert.are.same({ nil, "--param needs a value" }, { cli.parse({ "--param" }, SPEC) })
    end)

    it("gives an empty table for no arguments", function()
      assert.are.same({}, cli.parse({}, SPEC))
    end)

    it("raises at the caller's line for a kind it does not know", function()
      local ok, err = pcall(function()
        local opts = cli.parse({}, { to = "text" }) -- not a tail call
        return opts
      end)
      assert.is_false(ok)
      assert.matches("smpp_cli_spec.lua:%d+: cli.parse: option 'to' has unknown kind 'text'", err)
    end)
  end)

  describe("gateway", function()
    it("is nil when no host is named", function()
      assert.are.same({}, { cli.gateway({}, nil, env_of {}) })
    end)

    it("reads the options, then the environment, the password from it only", function()
      local env = env_of { SMPP_HOST = "gw", SMPP_PORT = "2776", SMPP_SYSTEM_ID = "env",
                           SMPP_PASSWORD = "pw" }
      assert.are.same({ host = "gw", port = 2776, system_id = "env", password = "pw" },
                      cli.gateway({}, nil, env))
      assert.are.same({ host = "h", port = 1, system_id = "me", password = "pw" },
                      cli.gateway({ host = "h", port = "1", ["system-id"] = "me" }, nil, env))
      assert.are.same({ host = "h", port = 2775, system_id = "me", password = "pw" },
                      cli.gateway({ host = "h", ["system-id"] = "me" }, nil,
                                  env_of { SMPP_PASSWORD = "pw" }))
    end)

    it("asks for the password when the environment has none, once there is a system_id", function()
      local asked = 0
      local function ask()
        asked = asked + 1
        return "typed"
      end
      assert.are.equal("typed", cli.gateway({ host = "h", ["system-id"] = "me" }, ask,
                                            env_of {}).password)
      assert.are.equal(1, asked)
      assert.is_nil((cli.gateway({ host = "h" }, ask, env_of {})))
      assert.are.equal(1, asked)
    end)

    it("says what is missing or wrong", function()
      local want = "a gateway needs --system-id (or SMPP_SYSTEM_ID) and SMPP_PASSWORD"
      assert.are.same({ nil, want }, { cli.gateway({ host = "h" }, nil,
                                                    env_of { SMPP_PASSWORD = "pw" }) })
      assert.are.same({ nil, want }, { cli.gateway({ host = "h", ["system-id"] = "me" },
                                                    function() return nil end, env_of {}) })
      for _, port in ipairs { "0", "65536", "x", "1.5" } do
        assert.are.same({ nil, "--port must be 1..65535" },
                        { cli.gateway({ host = "h", port = port }, nil, env_of {}) })
      end
    end)
  end)

  describe("simulator", function()
    it("starts a simulator on a free port and gives its default account", function()
      local sim, conn = cli.simulator { undeliverable = "+999" }
      assert.are.same({ host = "127.0.0.1", port = sim:port(), system_id = "test",
                        password = "secret" }, conn)
      assert.is_true(conn.port > 0)
      sim:close()
    end)
  end)

  describe("status_text", function()
    it("adds the command_status in hex when there is one", function()
      assert.are.equal("ESME_RSUBMITFAIL (0x00000045)", cli.status_text("ESME_RSUBMITFAIL", 0x45))
      assert.are.equal("timeout", cli.status_text("timeout", nil))
    end)
  end)

  describe("die and usage_error", function()
    local function lua(code)
      return process.run(string.format("%s -e 'package.path = \"lua/?.lua;\" .. package.path' "
                                       .. "-e '%s'", process.LUA, code))
    end

    it("die writes the program's line on stderr and exits with the code given", function()
      local code, out, err = lua('require("smpp.cli").die("prog", "it broke", 5)')
      assert.are.same({ 5, "", "prog: it broke\n" }, { code, out, err })
      assert.are.equal(1, (lua('require("smpp.cli").die("prog", "it broke")')))
    end)

    it("options ends a program on a bad command line, pointing at --help only if it has one",
       function()
         local function options(argv, spec)
           return lua(string.format('print(require("smpp.cli").options("prog", %s, %s).y)', argv,
                                    spec))
         end
         local code, out, err = options('{ "--x" }', '{ help = "flag" }')
         assert.are.same({ 2, "", "prog: unknown option --x\n(try prog --help)\n" },
                         { code, out, err })
         code, out, err = options('{ "--x" }', '{ y = "flag" }')
         assert.are.same({ 2, "", "prog: unknown option --x\n" }, { code, out, err })
         code, out, err = options('{ "--y" }', '{ y = "flag" }')
         assert.are.same({ 0, "true\n", "" }, { code, out, err })
       end)

    it("usage_error points at --help, without where a Lua error was raised, and exits 2",
       function()
         local code, _, err = lua('require("smpp.cli").usage_error("prog", "x.lua:12: bad port")')
         assert.are.same({ 2, "prog: bad port\n(try prog --help)\n" }, { code, err })
       end)
  end)
end)
