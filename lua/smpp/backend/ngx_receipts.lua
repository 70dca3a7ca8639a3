--- The receipt store of the OpenResty backend: receipts in a
-- `lua_shared_dict`, so that a receipt that came on one worker's bind is
-- found by a `wait_receipt` in any worker.
--
-- Made by `smpp.client` when its option `shared_dict` names the dict
-- (`lua_shared_dict smpp_receipts 10m;` in nginx.conf); without it, the
-- in-process store (`smpp.receipts`). Same methods as that one (put, find,
-- wait, wake_all, count, waiters).
--
-- Each receipt is kept as a string under "r:<message_id>" for `ttl`
-- seconds; the dict's size bounds how many (nginx drops the least recently
-- used when it is full, so size it for the receipts of `ttl` seconds: one
-- takes about 400 bytes). A final receipt wakes the waiters of its worker
-- at once; the other workers look for the ids they wait for every POLL
-- seconds, and only while something waits.
--
-- @module smpp.backend.ngx_receipts

local receipts = require "smpp.receipts"
local core = require "smpp.core"

local ngx = ngx
local type = type
local ipairs = ipairs
local error = error
local tostring = tostring
local tonumber = tonumber
local setmetatable = setmetatable
local str_sub = string.sub
local str_find = string.find

local _M = {}
local mt = { __index = _M }

-- How often a worker looks in the dict for receipts other workers got.
local POLL = 0.02

-- ---------------------------------------------------------------------------
-- A receipt as a string and back: the deliver_sm it came in, when the
-- link gives its bytes (a copy; read back with core.receipt, the link's
-- own decoding), else core.pack (C: strings, numbers, booleans and tables
-- of them). Strings of the format before these (a type letter and a length
-- before each key and value) are still read, for the old workers of an
-- upgrade's reload.

local pack, unpack = core.pack, core.unpack

local legacy_decode

-- One value at pos: value, next pos; nil on a malformed string.
local function get_value(s, pos)
  local tag = str_sub(s, pos, pos)
  local colon = str_find(s, ":", pos + 1, true)
  if not colon then return nil end
  local len = tonumber(str_sub(s, pos + 1, colon - 1))
  if not len then return nil end
  local raw = str_sub(s, colon + 1, colon + len)
  local nxt = colon + len + 1
  if tag == "s" then return raw, nxt end
  if tag == "n" then return tonumber(raw), nxt end
  if tag == "b" then return raw == "1", nxt end
  if tag == "t" then return legacy_decode(raw), nxt end
  return nil
end

function legacy_decode(s)
  local t, pos, len = {}, 1, #s
  while pos <= len do
    local k, v
    k, pos = get_value(s, pos)
    if k == nil then return nil end
    v, pos = get_value(s, pos)
    if v == nil then return nil end
    t[k] = v
  end
  return t
end

local receipt_of = core.receipt
local str_byte = string.byte

-- A kept receipt: the deliver_sm's bytes (a command_length below 16 MB
-- starts with a zero byte), core.pack's string, or the old format.
local function decode(s)
  if str_byte(s, 1) == 0 then
    local r = receipt_of(s)
    return r or nil
  end
  return unpack(s) or legacy_decode(s)
end

_M.encode, _M.decode = pack, decode

-- ---------------------------------------------------------------------------
-- The store.

--- A store on the dict `opts.shared_dict`, or the in-process one without.
function _M.new(opts)
  local name = opts.shared_dict
  if name == nil then
    return receipts.new(opts)
  end
  local dict = ngx.shared[name]
  if not dict then
    error("smpp.client: shared_dict '" .. tostring(name) .. "': no such lua_shared_dict in"
      .. " nginx.conf (lua_shared_dict " .. tostring(name) .. " 10m;)", 3)
  end
  return setmetatable({
    dict = dict, keep = opts.keep or 10000, ttl = opts.ttl or 600, timer = opts.timer,
    -- The calls waiting in this worker: an in-process store that keeps no
    -- receipt (keep = 0), only its waiters and their time limits.
    waits = receipts.new { keep = 0, ttl = opts.ttl, now = opts.now, timer = opts.timer },
    polling = false,
  }, mt)
end

local function key(id)
  return "r:" .. id
end

function _M:put(r, bytes)
  local id = r.message_id
  if type(id) ~= "string" or id == "" then return end
  if self.keep > 0 then
    -- A full dict drops its least recently used entries (forcible): the
    -- oldest receipts go, as in the in-process store.
    local ok, err = self.dict:set(key(id), bytes or pack(r), self.ttl > 0 and self.ttl or 0)
    if not ok then
      ngx.log(ngx.ERR, "smpp: shared_dict: receipt for ", id, " not kept: ", tostring(err))
    end
  end
  self.waits:put(r) -- wakes this worker's waiters when final
end

function _M:find(id)
  local s = self.dict:get(key(id))
  if not s then return nil end
  local r = decode(s)
  if r and r.final then return r end
end

-- While something waits: look in the dict for each id waited for.
local function poll(self)
  self.polling = false
  local waits = self.waits
  if waits:waiters() == 0 then return end
  -- Found first, handed out after: a woken call may wait again.
  local found = {}
  for id in waits:waiting_ids() do
    found[#found + 1] = self:find(id)
  end
  for i = 1, #found do
    waits:put(found[i])
  end
  if waits:waiters() > 0 then
    self.polling = true
    self.timer(POLL, function() poll(self) end)
  end
end

function _M:wait(id, timeout, done)
  self.waits:wait(id, timeout, done)
  if not self.polling then
    self.polling = true
    self.timer(POLL, function() poll(self) end)
  end
  return true
end

--- The client closed for good. Receipts still reach the dict through the
-- other workers' binds, so a wait with a time limit goes on until then (a
-- reload's old worker answers its requests with their receipts); one
-- without a limit ends now with `err`.
function _M:wake_all(err)
  self.waits:wake_all(err, true)
end

--- Receipts in the dict now (all workers'): a walk of its keys, for stats.
function _M:count()
  local n = 0
  for _, k in ipairs(self.dict:get_keys(0)) do
    if str_sub(k, 1, 2) == "r:" then n = n + 1 end
  end
  return n
end

function _M:waiters()
  return self.waits:waiters()
end

return _M
