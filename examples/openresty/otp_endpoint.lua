--- GET /otp?to=&template=&code=&wait= for examples/openresty/nginx.conf:
-- sends an OTP through the worker's client and answers JSON.
--
--   200 {"message_id":"..","stat":"DELIVRD","err":"000"}   (stat and err null,
--       "receipt_err":"timeout" when no receipt came within `wait` seconds)
--   400 {"err":"..","status":null}       a field the request got wrong
--   502 {"err":"ESME_..","status":N}     the gateway refused the submit, or
--                                        the link fell with it in flight
--                                        ("connection lost": outcome unknown)
--   503 {"err":"..","status":null}       no link now ("not bound", "not sent",
--                                        "queue full", "closed")
--   504 {"err":"timeout","status":null}  no answer within response_timeout
--
-- `start(opts)` runs in init_worker_by_lua: one client per worker, bound
-- in the background; a first bind that fails is tried again every
-- `retry` seconds (a client that was bound once reconnects by itself).

local smpp = require "smpp"

local ngx = ngx
local type = type
local tostring = tostring
local tonumber = tonumber
local str_format = string.format
local str_gsub = string.gsub
local str_byte = string.byte
local ipairs = ipairs

local _M = {}

-- The worker's client (nil until its first bind started).
_M.client = nil

-- Every receipt, whichever worker's bind it came on, counted once in the
-- shared dict (GET /stats shows them): on_receipt runs once per receipt
-- across the workers.
local function count_receipt(dict, r)
  dict:incr("stat:receipts", 1, 0)
  if r.message_id and dict:incr("seen:" .. r.message_id, 1, 0, 3600) > 1 then
    dict:incr("stat:twice", 1, 0)
  end
end

local function start(opts)
  local c = smpp.client(opts.client)
  _M.client = c
  local dict = ngx.shared[opts.client.shared_dict or ""]
  if dict then
    c:on_receipt(function(r) count_receipt(dict, r) end)
  end
  c:bind(function(ok, err)
    if ok then
      ngx.log(ngx.NOTICE, "smpp: bound to ", opts.client.host, ":", opts.client.port)
      return
    end
    ngx.log(ngx.ERR, "smpp: bind failed: ", tostring(err), "; again in ", opts.retry, " s")
    if not ngx.worker.exiting() then
      ngx.timer.at(opts.retry, function(premature)
        if not premature then start(opts) end
      end)
    end
  end)
end

--- Start the worker's client: `opts.client` as smpp.client takes it,
-- `opts.retry` (seconds, 1) between first binds that fail.
function _M.start(opts)
  opts.retry = opts.retry or 1
  start(opts)
end

local function json_string(s)
  if s == nil then return "null" end
  s = str_gsub(tostring(s), '[%c"\\]', function(ch)
    local map = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r",
                  ["\t"] = "\\t" }
    return map[ch] or str_format("\\u%04x", str_byte(ch))
  end)
  return '"' .. s .. '"'
end

local function reply(code, body)
  ngx.status = code
  ngx.header["Content-Type"] = "application/json"
  ngx.say(body)
  return ngx.exit(code)
end

-- What the client's error tokens mean for an HTTP caller.
local UNAVAILABLE = { ["not sent"] = true, ["queue full"] = true, ["closed"] = true,
                      ["not bound: call bind first"] = true }

local function fail(err, status)
  local code
  if err == "timeout" then
    code = 504
  elseif status ~= nil or err == "connection lost" then
    code = 502
  elseif UNAVAILABLE[err] then
    code = 503
  else
    code = 400
  end
  return reply(code, str_format('{"err":%s,"status":%s}', json_string(err),
    status ~= nil and tostring(status) or "null"))
end

--- GET /stats: this worker's client stats plus the receipts counted across
-- workers.
function _M.stats()
  local c = _M.client
  local dict = ngx.shared.smpp_receipts
  local st = c and c:stats() or {}
  ngx.header["Content-Type"] = "application/json"
  ngx.say(str_format('{"worker":%d,"state":%s,"submitted":%d,"reconnects":%d,'
    .. '"receipts_all_workers":%d,"receipts_twice":%d}', ngx.worker.id() or -1,
    json_string(c and c:state()), st.submitted or 0, st.reconnects or 0,
    dict and dict:get("stat:receipts") or 0, dict and dict:get("stat:twice") or 0))
end

--- GET /ping: the handler's own work without the client (arguments,
-- checks, a JSON answer of the same shape): what bench/hosts.sh subtracts
-- to show the client's cost alone.
function _M.ping()
  local args = ngx.req.get_uri_args()
  for _, k in ipairs({ "to", "template", "code" }) do
    if type(args[k]) ~= "string" or args[k] == "" then return fail(k .. ": missing") end
  end
  return reply(200, str_format('{"message_id":%s,"stat":%s,"err":%s,"receipt_err":%s}',
    json_string("0"), json_string("DELIVRD"), json_string("000"), json_string(nil)))
end

--- The content handler of /otp.
function _M.handle()
  local c = _M.client
  if not c then return fail("not bound: call bind first") end
  local args = ngx.req.get_uri_args()
  local wait = tonumber(args.wait or "5")
  if not wait or wait < 0 then return fail("wait: seconds expected") end
  for _, k in ipairs({ "to", "template", "code" }) do
    if type(args[k]) ~= "string" or args[k] == "" then return fail(k .. ": missing") end
  end
  local res, err, status = c:send_otp { to = args.to, template = args.template,
                                        code = args.code, wait_receipt = wait > 0 and wait or nil }
  if not res then return fail(err, status) end
  return reply(200, str_format('{"message_id":%s,"stat":%s,"err":%s,"receipt_err":%s}',
    json_string(res.message_id), json_string(res.stat), json_string(res.err),
    json_string(res.receipt_err)))
end

return _M
