-- An smpp.ev client of the simulator (in this process or bin/smpp-sim),
-- for the simulator's specs: bound as the default account, OTP submits
-- waited for on the loop.
--
--   local simclient = require "support.simclient"   -- (spec/ is on package.path)
--   local c = simclient.bound(port)
--   local res, err, status = simclient.submit(c, { registered_delivery = 0 })

local pdu = require "smpp.pdu"
local evloop = require "support.evloop"

local M = {}

M.OTP_JSON = '{"id":"otp-login","language":"default","code":"123456",'
  .. '"params":{"app":"Acme"}}'

-- UTF-8 -> UCS2, via the codec.
function M.ucs2(s)
  return assert(pdu.utf8_to_ucs2(s))
end

local function merge(a, b)
  local t = {}
  for k, v in pairs(a) do t[k] = v end
  for k, v in pairs(b or {}) do t[k] = v end
  return t
end

-- The submit fields of an OTP in UCS2; extra overrides them.
function M.otp(extra)
  return merge({ destination_addr = "+6598765432", data_coding = 8,
                 short_message = M.ucs2(M.OTP_JSON) }, extra)
end

-- A client of port as test/secret (opts override), bind waited for.
-- on_receipt is set before the bind: a receipt kept for the account may
-- come right after it. Returns the client, and the bind's ok, err.
function M.bound(port, opts, on_receipt)
  local c = evloop.client(port, merge({ enquire_link_interval = 0 }, opts))
  c:on_receipt(on_receipt or function() end)
  local done, ok, err
  c:bind(function(res, e)
    done, ok, err = true, res, e
  end)
  assert(evloop.wait(function() return done end), "bind did not finish")
  return c, ok, err
end

-- Submit an OTP (extra overrides its fields) and wait for its outcome:
-- res, err, status.
function M.submit(c, extra)
  local done, res, err, status
  assert(c:submit(M.otp(extra), function(r, e, s)
    done, res, err, status = true, r, e, s
  end))
  assert(evloop.wait(function() return done end), "submit got no outcome")
  return res, err, status
end

return M
