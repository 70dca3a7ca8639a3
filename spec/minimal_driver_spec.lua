-- README's "Writing a driver": its code block is examples/minimal_driver.lua,
-- and that driver (smpp.core's session over a blocking LuaSocket socket)
-- runs a whole bind / submit / receipt / unbind exchange against
-- bin/smpp-sim in another process.

local LUA = os.getenv("LUA") or "lua5.4"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- The fenced block of README that follows the driver's introduction.
local function readme_driver_block()
  local readme = read("README.md")
  local from = assert(readme:find("A complete driver, over a blocking LuaSocket socket", 1, true),
    "README has no driver example")
  return readme:match("```lua\n(.-)```", from)
end

describe("the minimal driver of README", function()
  it("is examples/minimal_driver.lua, word for word", function()
    assert.are.equal(read("examples/minimal_driver.lua"), readme_driver_block())
  end)

  it("binds, submits, gets the final receipt and unbinds against bin/smpp-sim", function()
    -- The simulator prints its port on its first line; the driver runs in
    -- the same shell, which stops the simulator whatever the driver did.
    local log = os.tmpname()
    local cmd = table.concat({
      LUA .. " bin/smpp-sim --port 0 >" .. log .. " 2>&1 & sim=$!",
      "for i in $(seq 100); do grep -q listening " .. log .. " && break; sleep 0.05; done",
      "port=$(sed -n 's/.*listening on .*:\\([0-9]*\\)$/\\1/p' " .. log .. ")",
      -- The C modules of the Lua running the specs (build/<v>/ under make compat).
      "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='" .. package.cpath .. "' timeout 20 "
        .. LUA .. " examples/minimal_driver.lua 127.0.0.1 \"$port\"",
      "rc=$?",
      "kill $sim",
      "echo \"exit=$rc\"",
    }, "\n")
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(cmd, "\n")
    f:close()
    local p = assert(io.popen("bash " .. script .. " 2>&1"))
    local out = p:read("*a")
    p:close()
    os.remove(script)
    os.remove(log)
    assert.truthy(out:match("message_id: %x+"), out)
    assert.truthy(out:match("stat: DELIVRD"), out)
    assert.truthy(out:match("exit=0"), out)
  end)
end)
