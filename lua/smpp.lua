--- lua-smpp: send OTPs and template messages through the EngageLab SMPP
-- gateway, and get their delivery receipts back.
--
--     local smpp = require "smpp"
--     local c = smpp.client { host = "127.0.0.1", port = 2775,
--                             system_id = "test", password = "secret" }
--     assert(c:bind())
--     local res = assert(c:send_otp { to = "+6598765432",
--         template = "otp-login", code = "123456", wait_receipt = 60 })
--     print(res.message_id, res.stat)
--     c:close()
--
-- This module gathers the public API: `client`, the message builders
-- (`otp`, `message`, `marketing`), the coroutine helpers (`spawn`, `sleep`,
-- `run`, `stop`, `now`), the codec (`pdu`), the choice of backend (`use`,
-- `backend`) and, loaded on first use, the gateway simulator (`simulator`).
--
-- @module smpp

local client = require "smpp.client"
local template = require "smpp.template"
local loop = require "smpp.loop"
local pdu = require "smpp.pdu"
local backend = require "smpp.backend"

local setmetatable = setmetatable
local rawset = rawset
local require = require

local _M = { _VERSION = "0.1.0" }

--- Create a client (see `smpp.client`).
-- @function client
_M.client = client.new

--- Create a pool of binds of one account (see `smpp.pool`).
-- @function pool
_M.pool = require("smpp.pool").new

--- Build an OTP (service_type CODE); see `smpp.template.otp`.
-- @function otp
_M.otp = template.otp

--- Build a notification (service_type MSG); see `smpp.template.message`.
-- @function message
_M.message = template.message

--- Build a marketing message (service_type MRKT); see
-- `smpp.template.marketing`.
-- @function marketing
_M.marketing = template.marketing

--- Start a function in a coroutine on the loop; see `smpp.loop.spawn`.
-- @function spawn
_M.spawn = loop.spawn

--- Wait some seconds without stopping the loop; see `smpp.loop.sleep`.
-- @function sleep
_M.sleep = loop.sleep

--- Run the loop until every spawned coroutine is done; see `smpp.loop.run`.
-- @function run
_M.run = loop.run

--- Make `run` return; see `smpp.loop.stop`.
-- @function stop
_M.stop = loop.stop

--- The loop's cached time in seconds; see `smpp.loop.now`.
-- @function now
_M.now = loop.now

--- Set where errors in spawned coroutines and callbacks (those the C
-- driver calls itself included) are reported.
-- @function on_error
_M.on_error = loop.on_error

--- Choose the backend everything runs on ("ev": libev, "socket":
-- LuaSocket, or a backend table), before the first client, timer or wait;
-- see `smpp.backend`. Without it: SMPP_BACKEND, else "ev" when `smpp.ev`
-- loads, else "socket".
-- @function use
-- @tparam string|table name
-- @treturn table the backend now in use
_M.use = backend.use

--- The name of the backend in use ("ev", "socket"...), choosing the
-- default now when none is chosen yet.
-- @treturn string
function _M.backend()
  return loop.host().name
end

--- The PDU codec, text conversions and status names (`smpp.pdu`).
_M.pdu = pdu

-- `smpp.simulator` is loaded on first use: programs that only talk to the
-- real gateway never load it.
return setmetatable(_M, {
  __index = function(t, k)
    if k == "simulator" then
      local sim = require "smpp.simulator"
      rawset(t, k, sim)
      return sim
    end
  end,
})
