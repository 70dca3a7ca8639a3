--- The pure-Lua driver: `core.session` over a backend's sockets, for every
-- backend without a C fast path (LuaSocket now; OpenResty and Tarantool).
--
-- `driver.new(host)` makes `client(opts)` and `server(opts)` with the very
-- faces of `smpp.ev.client` and `smpp.ev.server` (doc/smpp-ev.md), on the
-- host's primitives:
--
--   host.spawn(fn, ...)              a new thread, started after spawn returns
--   host.cond()                      c:wait([timeout]) in a thread, c:signal()
--   host.timer(after, fn)            one-shot, t:stop()
--   host.call(fn, ...)               true, results | false: fn's error went
--                                    to the host's on_error handler
--   host.connect(host, port, secs)   sock | nil, err (in a thread): err is
--                                    "connection refused", "connect timeout",
--                                    "dns failure: ..." or "connect error: ..."
--   host.listen(host, port)          l | nil, err; l:accept() (in a thread),
--                                    l:port(), l:close()
--   sock:send(data)                  bytes the socket took at once (0..#data),
--                                    or nil, err; never waits
--   host.send_waits                  true for a host whose sockets write only
--                                    whole (send(data) may wait, returns #data
--                                    or nil, err; no wait_send): the bytes
--                                    count as sent when handed over
--   sock:wait_send()                 true once it takes more | nil, "closed"
--   sock:receive_some(max)           data | nil, "closed" | err (in a thread)
--   sock:peer(), sock:close()        "ip:port"; a waiting thread gets "closed"
--
-- Each link (a client's connection, or one a server accepted) is a session
-- and up to three threads: the connect (clients), a reader that feeds what
-- arrives, and a writer that waits on a condition and writes what the
-- session has pending in one send (as much as the socket takes). Every
-- path that touched the session ends in `settle`: hand out the session's
-- events (callbacks run there, in the order the session gives them), arm
-- one timer at the session's deadline, wake the writer. So what the
-- callbacks of one wakeup queue leaves in one write (smpp.ev also writes
-- each 4 KB within a wakeup). The session's clock is core.now(), whatever
-- the host's.
--
-- @module smpp.driver

local core = require "smpp.core"
local pdu = require "smpp.pdu"
local compat = require "smpp.compat"

local type = type
local error = error
local pairs = pairs
local pcall = pcall
local tostring = tostring
local setmetatable = setmetatable
local getmetatable = getmetatable
local rawget = rawget
local math_type = compat.math_type
local str_format = string.format
local str_sub = string.sub
local stderr = io.stderr
local new_session = core.session
local core_now = core.now
local frame = pdu.frame
local decode = pdu.decode

local _M = { _VERSION = "0.1.0" }

-- Bytes asked of one read: a window of submit_sm answers and receipts.
local READ_MAX = 16384
-- The ids the server gives when it has no on_submit, counting up, wrap
-- before the wire's 2^31.
local MSGID_WRAP = 0x7FFFFFFF

-- Counters of a client never bound, as the session names them.
local function zero_stats()
  return { submitted = 0, sent = 0, succeeded = 0, failed = 0, in_flight = 0, queued = 0,
           bytes_in = 0, bytes_out = 0, enquire_links = 0, receipts = 0, delivered_in = 0,
           pdus_in = 0, throttled = 0, retries = 0, answers = {}, receipt_stats = {} }
end

-- A "log" event with no on_log handler: warn and error to stderr, the
-- rest dropped (as smpp.ev does).
local function log_default(level, msg)
  if level == "warn" or level == "error" then
    stderr:write("lua-smpp: ", level, ": ", tostring(msg), "\n")
  end
end

local CLIENT_KEYS = { host = true, port = true, trace = true }
local SERVER_KEYS = { host = true, port = true, trace = true, on_bind = true, on_submit = true,
                      on_close = true }

-- Raises at `level` (default: the caller of check_fn's caller).
local function check_fn(v, what, level)
  if v ~= nil and type(v) ~= "function" then
    error(str_format("%s: function expected, got %s", what, type(v)), level or 3)
  end
end

-- The options of client() or server() (`role`), checked as smpp.ev checks
-- them: the session's own (every setting judged now by a session made to
-- see, so that a bad one raises here), host, port (`default_port`, 0 for
-- a server: any free one) and the functions (keys of `own` but host and
-- port). Returns the session's options, host and port; raises at the
-- caller of client()/server().
local function link_opts(opts, role, own, default_port)
  if type(opts) ~= "table" then
    error(str_format("%s: table of options expected, got %s", role, type(opts)), 3)
  end
  local t = { role = role }
  for k, v in pairs(opts) do
    if type(k) ~= "string" then
      error(str_format("%s: option keys must be strings, got %s", role, type(k)), 3)
    end
    if not own[k] then
      t[k] = v
    elseif k ~= "host" and k ~= "port" then
      check_fn(v, str_format("%s: option '%s'", role, k), 4)
    end
  end
  local h, port = opts.host or "127.0.0.1", opts.port or default_port
  if type(h) ~= "string" or #h == 0 or #h > 255 then
    error(role .. ": option 'host': a host name or address expected", 3)
  end
  local min = default_port == 0 and 0 or 1
  if math_type(port) ~= "integer" or port < min or port > 65535 then
    error(str_format("%s: option 'port': integer %d..65535 expected, got %s", role, min,
      tostring(port)), 3)
  end
  local ok, s = pcall(new_session, t)
  if not ok then
    error(role .. ": " .. tostring(s):gsub("^smpp%.session: ", ""), 3)
  end
  s:close()
  return t, h, port
end

-- A method's check of its self: the link behind it (a client's is in
-- `_k`, the threads never see the client object), or a raise at the
-- method's caller.
local function checker(mt, class, noun)
  return function(self, what)
    if getmetatable(self) ~= mt then
      error(str_format("%s:%s: expected %s, got %s", class, what, noun, type(self)), 3)
    end
    return rawget(self, "_k") or self
  end
end

-- A submit's or deliver's callback and its argument, checked as smpp.ev does.
local function check_cb(cb, arg, what)
  if cb ~= nil then
    check_fn(cb, what .. ": callback")
  elseif arg ~= nil then
    error(what .. ": an argument for the callback, but no callback", 3)
  end
end

function _M.new(host)
  local spawn, cond, timer, call = host.spawn, host.cond, host.timer, host.call
  local send_waits = host.send_waits == true
  local connect, listen = host.connect, host.listen

  -- --------------------------------------------------------------------
  -- Tracing: both byte streams framed, each whole PDU decoded and handed
  -- to the trace function, as smpp.ev does (password shown as "***").

  local function trace_one(k, dir, t)
    if k.srv then
      call(k.trace, k, dir, t)
    else
      call(k.trace, dir, t)
    end
  end

  local function trace_flush(k)
    if k.tracing_now then return end -- an outer frame is at it
    k.tracing_now = true
    for dir = 1, 2 do
      local buf = k.tbuf[dir]
      local pos = 1
      local name = dir == 1 and "in" or "out"
      while k.trace and pos <= #buf do
        local len, err = frame(buf, pos, k.max_pdu)
        if len == 0 then break end
        if not len then
          -- The rest of the stream can't be framed: say why once.
          trace_one(k, name, { error = err })
          pos = #buf + 1
          break
        end
        local t, derr = decode(buf, pos, k.max_pdu)
        if not t then
          t = { error = derr }
        elseif t.password ~= nil then
          t.password = "***"
        end
        trace_one(k, name, t)
        pos = pos + len
      end
      if pos > 1 then k.tbuf[dir] = str_sub(buf, pos) end
    end
    k.tracing_now = false
  end

  -- --------------------------------------------------------------------
  -- Links.

  local settle

  -- The session's deadline timer: armed at most once; a deadline that
  -- moved later is caught when the timer fires early and re-arms.
  local function arm(k)
    local d = k.s:deadline()
    local tm = k.tm
    if d == nil or (tm and k.tm_at <= d) then return end
    if tm then tm:stop() end
    k.tm_at = d
    local delay = d - core_now()
    k.tm = timer(delay > 0 and delay or 0, function()
      k.tm = nil
      if k.ended then return end
      k.s:tick()
      settle(k)
    end)
  end

  -- The session said closed: its last bytes go out (the writer closes the
  -- socket after them), the timer stops, nothing waits any more.
  local function finish(k)
    k.ended = true
    if k.tm then
      k.tm:stop()
      k.tm = nil
    end
    if k.writer_busy or not k.wcond then
      -- No writer, or one waiting on a full socket (a peer that reads
      -- nothing): what the socket took is all that goes, as with smpp.ev.
      if k.sock then k.sock:close() end
    else
      k.wcond:signal()
    end
    if k.on_end then k.on_end(k) end
  end

  local function drop_token(k, token)
    k.cbs[token], k.args[token] = nil, nil
  end

  -- "result", token, ...: the request's callback gets the outcome; an
  -- argument given with it comes fifth, whatever the outcome.
  local function on_result(k, token, ...)
    local cb, arg = k.cbs[token], k.args[token]
    -- Cleared before the call: a submit from the callback may reuse it.
    drop_token(k, token)
    if not cb then return end
    if arg == nil then
      return call(cb, ...)
    end
    local a, b, c, d = ...
    return call(cb, a, b, c, d, arg)
  end

  -- One event of next_event; false when there was none.
  local function handle(k, kind, ...)
    if kind == nil then return false end
    if kind == "result" then
      on_result(k, ...)
    else
      k.event(k, kind, ...)
      if kind == "closed" and not k.ended then
        finish(k)
      end
    end
    return true
  end

  local function drain(k)
    local s = k.s
    k.depth = k.depth + 1
    while not k.ended do
      if k.trace then trace_flush(k) end
      if not handle(k, s:next_event()) then break end
    end
    k.depth = k.depth - 1
  end

  -- The end of every path that touched the session (see the top).
  function settle(k)
    if k.depth == 0 then drain(k) end
    if k.ended then return end
    arm(k)
    if k.wcond then k.wcond:signal() end
  end

  -- The first n bytes of out left the session: they now wait for their
  -- answers (a deadline) and show in the trace before the peer's next PDU.
  local function sent(k, out, n)
    k.s:sent(n)
    if k.trace then k.tbuf[2] = k.tbuf[2] .. str_sub(out, 1, n) end
    if not k.ended then
      arm(k)
      if k.trace then trace_flush(k) end
    end
  end

  -- The writer thread. It writes only what the socket takes at once and
  -- asks the session again after every wait: a request whose outcome came
  -- while the socket was full (its response timeout, a close) is taken out
  -- of the output by the session, and must not leave after it. A host
  -- whose sockets only write whole (send_waits: OpenResty's cosockets)
  -- gets all of it, counted as sent before the write may wait; what was
  -- in it can then only end with an answer, a timeout or "connection lost".
  local function writer(k)
    local s, sock, wcond = k.s, k.sock, k.wcond
    while true do
      local out = s:pending()
      if out then
        local n
        if send_waits then
          sent(k, out, #out)
          n = sock:send(out)
        else
          n = sock:send(out)
          if n and n > 0 then sent(k, out, n) end
        end
        if not n then
          if not k.ended then
            s:fail("connection lost")
            settle(k)
          end
          break
        end
        if n < #out then
          k.writer_busy = true
          local ok = sock:wait_send()
          k.writer_busy = false
          if not ok then break end
        end
      elseif k.ended then
        break
      else
        wcond:wait()
      end
    end
    if k.trace then trace_flush(k) end
    sock:close()
  end

  local function reader(k)
    local s, sock = k.s, k.sock
    while not k.ended do
      local data = sock:receive_some(READ_MAX)
      if k.ended then break end
      if data then
        if k.trace then k.tbuf[1] = k.tbuf[1] .. data end
        s:feed(data)
      else
        -- EOF or an error. While binding the session makes this
        -- "authentication failed" (the gateway's way to refuse a bind).
        s:fail("connection lost")
      end
      settle(k)
    end
  end

  -- The socket is up: start reading and writing.
  local function start(k, sock)
    k.sock = sock
    k.wcond = cond()
    spawn(reader, k)
    spawn(writer, k)
  end

  local function new_link(s, trace, max_pdu)
    return {
      s = s, depth = 0, ended = false, cbs = {}, args = {}, next_token = 0,
      trace = trace, tbuf = trace and { "", "" }, max_pdu = max_pdu,
    }
  end

  -- A request (submit_sm, deliver_sm) with its callback: true | nil, err.
  local function request(k, method, fields, cb, arg)
    local token = 0
    if cb then
      token = k.next_token + 1
      k.next_token = token
      k.cbs[token], k.args[token] = cb, arg
    end
    local ok, err = method(k.s, fields, token)
    if not ok then
      drop_token(k, token)
      return nil, err
    end
    if k.wcond then k.wcond:signal() end
    return true
  end

  -- close (graceful or not): the events come from the drain, now at top
  -- level, or from the drain running when called from a callback.
  local function shut(k, graceful)
    -- After the end too: the session then knows the program closed, and
    -- refuses later submits as "closed" rather than "not sent".
    k.s:close(graceful)
    if k.ended then return end
    settle(k)
  end

  -- __gc: nobody can see callbacks any more; end now, drop them unseen.
  local function drop(k)
    if k.ended then return end
    local s = k.s
    s:close(false)
    while s:next_event() do end
    k.cbs, k.args = {}, {}
    finish(k)
  end

  -- --------------------------------------------------------------------
  -- Clients.

  -- Receipts and deliver_sm nobody listens for still leave a trace: a
  -- lost receipt is a support ticket nobody can answer.
  local function no_handler(kind, t)
    if kind == "receipt" then
      stderr:write(str_format("smpp.driver: receipt without on_receipt handler:"
        .. " message_id %s stat %s\n", tostring(t.message_id or "?"), tostring(t.stat or "?")))
    else
      stderr:write(str_format("smpp.driver: deliver_sm without on_deliver handler:"
        .. " from %s to %s\n", tostring(t.source_addr or "?"), tostring(t.destination_addr or "?")))
    end
  end

  local function client_event(k, kind, a, b)
    if kind == "bound" or kind == "bind_failed" then
      local cb = k.bind_cb
      k.bind_cb = nil -- once
      if not cb then return end
      if kind == "bound" then
        call(cb, true)
      elseif b ~= nil then
        call(cb, nil, a, b)
      else
        call(cb, nil, a)
      end
    elseif kind == "receipt" then
      -- The receipt, and its deliver_sm's bytes (a receipt store keeps
      -- those instead of the table).
      if k.on_receipt then call(k.on_receipt, a, b) else no_handler(kind, a) end
    elseif kind == "deliver" then
      if k.on_deliver then call(k.on_deliver, a) else no_handler(kind, a) end
    elseif kind == "closed" then
      if k.on_close then call(k.on_close, a) end
    elseif kind == "log" then
      if k.on_log then call(k.on_log, a, b) else log_default(a, b) end
    end
  end

  local client = {}
  local client_mt = { __index = client }

  local check_client = checker(client_mt, "client", "a client")

  function client:bind(cb)
    local k = check_client(self, "bind")
    check_fn(cb, "client:bind: callback")
    if k.closed then return nil, "closed" end
    if k.s then return nil, "bind already called" end
    -- The session is made here, not in client{}: its connect timeout
    -- starts counting now, and covers the name lookup too.
    local s = new_session(k.sopts)
    k.sopts = nil -- the session has its own copy of the password now
    k.s = s
    k.bind_cb = cb
    -- connect_timeout 0: no limit.
    local d = s:deadline()
    local timeout = d and d - core_now()
    if timeout and timeout < 0 then timeout = 0 end
    spawn(function()
      local sock, err = connect(k.host, k.port, timeout)
      if k.ended or s:state() ~= "connecting" then
        if sock then sock:close() end
        return
      end
      if sock then
        start(k, sock)
        s:connected()
      else
        s:fail(err)
      end
      settle(k)
    end)
    arm(k)
    return true
  end

  function client:submit(fields, cb, arg)
    local k = check_client(self, "submit")
    if type(fields) ~= "table" then
      error("client:submit: table expected, got " .. type(fields), 2)
    end
    check_cb(cb, arg, "client:submit")
    if not k.s then
      return nil, k.closed and "closed" or "not bound: call bind first"
    end
    -- Once the link ended the session says why not: "closed" after the
    -- program's close, else "not sent".
    return request(k, k.s.submit, fields, cb, arg)
  end

  local function handler_setter(field)
    return function(self, fn)
      local k = check_client(self, field)
      check_fn(fn, "client:" .. field)
      local prev = k[field]
      k[field] = fn
      return prev
    end
  end

  client.on_receipt = handler_setter("on_receipt")
  client.on_deliver = handler_setter("on_deliver")
  client.on_close = handler_setter("on_close")
  client.on_log = handler_setter("on_log")

  function client:close()
    local k = check_client(self, "close")
    if not k.s then
      k.closed = true
    else
      shut(k, true)
    end
    return true
  end

  function client:state()
    local k = check_client(self, "state")
    if not k.s then return k.closed and "closed" or "idle" end
    if k.ended then return "closed" end
    return k.s:state()
  end

  function client:stats()
    local k = check_client(self, "stats")
    return k.s and k.s:stats() or zero_stats()
  end

  function client:error()
    local k = check_client(self, "error")
    return k.s and k.s:error()
  end

  function client_mt:__tostring()
    local k = self._k
    -- Never the password: it is not even kept here once bound.
    return str_format("smpp.client(%s:%d, %s, %s)", k.host, k.port, k.system_id,
      self:state())
  end

  -- `local c <close>`: at once, events still come.
  function client_mt:__close()
    local k = self._k
    if k.s then shut(k, false) else k.closed = true end
  end

  -- The threads hold the link, never this object: a client the program
  -- dropped is collected, and ends its link here.
  -- (compat.setgc: also where tables have no __gc, 5.1 and LuaJIT.)
  local function gc(self)
    local k = self._k
    if k.s then drop(k) end
  end

  local function new_client(opts)
    local sopts, h, port = link_opts(opts, "client", CLIENT_KEYS, 2775)
    local k = new_link(nil, opts.trace, opts.max_pdu or pdu.max_pdu)
    k.host, k.port, k.system_id, k.sopts = h, port, opts.system_id, sopts
    k.event = client_event
    return compat.setgc(setmetatable({ _k = k }, client_mt), gc)
  end

  -- --------------------------------------------------------------------
  -- Servers.

  local conn = {}
  local conn_mt = { __index = conn }

  local check_conn = checker(conn_mt, "conn", "a connection")

  local function on_bind(k, system_id, password)
    k.sid = system_id
    local s, fn = k.s, k.srv.on_bind
    if not fn then
      s:accept_bind(0)
      return
    end
    local ok, ret = call(fn, k, { command = "bind_transceiver", system_id = system_id,
                                  password = password })
    if k.ended then return end -- on_bind closed the connection itself
    if not ok or not ret then
      -- Refused, or the handler broke: close the way the gateway does.
      s:reject_bind()
    elseif ret == true then
      s:accept_bind(0)
    elseif not pcall(s.accept_bind, s, ret) then
      s:reject_bind()
      call(error, str_format("on_bind: returned %s; expected a status, true, false or nil",
        type(ret)), 0)
    end
  end

  local function on_submit(k, p)
    local s, srv = k.s, k.srv
    local seq = p.sequence_number
    local fn = srv.on_submit
    if not fn then
      -- No handler: accept everything, ids counting up per server.
      srv.next_msgid = srv.next_msgid % MSGID_WRAP + 1
      s:respond(seq, 0, tostring(srv.next_msgid))
      return
    end
    local ok, status, msgid = call(fn, k, p)
    if k.ended then return end
    if not ok then
      -- ESME_RSYSERR, "internal error, retry later", rather than leaving
      -- the client to time out.
      s:respond(seq, 8)
      return
    end
    if status == nil or s:state() == "closed" then
      return -- answered later with conn:respond, or never
    end
    if type(msgid) ~= "string" and type(msgid) ~= "number" then msgid = nil end
    local pok, rok, rerr = pcall(s.respond, s, seq, status, msgid)
    if not pok then
      s:respond(seq, 8)
      call(error, str_format("on_submit: returned %s as status; expected a status number or"
        .. " name", type(status)), 0)
    elseif not rok then
      -- A message_id the wire can't carry: still answer, then say why.
      s:respond(seq, 8)
      call(error, "on_submit: " .. tostring(rerr), 0)
    end
  end

  local function conn_event(k, kind, a, b)
    if kind == "bind_request" then
      on_bind(k, a, b)
    elseif kind == "request" then
      on_submit(k, a)
    elseif kind == "closed" then
      local fn = k.srv.on_close
      if fn then call(fn, k, a) end
    elseif kind == "log" then
      local fn = k.log_fn -- not on_log: that is conn's method
      if fn then call(fn, a, b) else log_default(a, b) end
    end
  end

  -- A connection leaves its server when its session ends.
  local function conn_ended(k)
    local srv = k.srv
    if srv.conns[k] then
      srv.conns[k] = nil
      srv.n = srv.n - 1
    end
  end

  function conn:deliver(fields, cb, arg)
    check_conn(self, "deliver")
    if type(fields) ~= "table" then
      error("conn:deliver: table expected, got " .. type(fields), 2)
    end
    check_cb(cb, arg, "conn:deliver")
    if self.ended then return nil, "closed" end
    return request(self, self.s.deliver, fields, cb, arg)
  end

  function conn:respond(seq, status, message_id)
    check_conn(self, "respond")
    local ok, err = self.s:respond(seq, status, message_id)
    if ok and self.wcond then self.wcond:signal() end
    return ok, err
  end

  function conn:close(graceful)
    shut(check_conn(self, "close"), graceful and true or false)
    return true
  end

  -- conn:on_log(fn) -> prev: fn(level, message) for this connection.
  function conn:on_log(fn)
    check_conn(self, "on_log")
    check_fn(fn, "conn:on_log")
    local prev = self.log_fn
    self.log_fn = fn
    return prev
  end

  function conn:id()
    return check_conn(self, "id").num
  end

  function conn:system_id()
    check_conn(self, "system_id")
    if self.ended then return nil, "closed" end
    return self.sid or ""
  end

  function conn:peer()
    check_conn(self, "peer")
    if self.ended then return nil, "closed" end
    return self.sock:peer()
  end

  function conn:state()
    check_conn(self, "state")
    return self.ended and "closed" or self.s:state()
  end

  function conn:stats()
    check_conn(self, "stats")
    if self.ended then return nil, "closed" end
    return self.s:stats()
  end

  function conn:error()
    return check_conn(self, "error").s:error()
  end

  function conn_mt:__tostring()
    return str_format("smpp.conn(%d, %s, %s, %s)", self.num,
      self.ended and "?" or tostring(self.sock:peer()), self.sid or "", self:state())
  end

  local server = {}
  local server_mt = { __index = server }

  local check_server = checker(server_mt, "server", "a server")

  local function accept(srv, sock)
    local s = new_session(srv.sopts)
    local k = new_link(s, srv.trace, srv.max_pdu)
    srv.next_id = srv.next_id + 1
    k.num, k.srv = srv.next_id, srv
    k.event, k.on_end = conn_event, conn_ended
    setmetatable(k, conn_mt)
    srv.conns[k] = true
    srv.n = srv.n + 1
    start(k, sock)
    settle(k)
  end

  function server:port()
    return check_server(self, "port").port_n
  end

  function server:connections()
    return check_server(self, "connections").n
  end

  function server:close()
    check_server(self, "close")
    if self.closed then return true end
    self.closed = true
    self.l:close()
    for k in pairs(self.conns) do
      shut(k, false)
    end
    return true
  end

  function server_mt:__tostring()
    return str_format("smpp.server(port %d, %d connections%s)", self.port_n, self.n,
      self.closed and ", closed" or "")
  end

  server_mt.__close = server.close

  local function new_server(opts)
    local sopts, h, port = link_opts(opts, "server", SERVER_KEYS, 0)
    local l, err = listen(h, port)
    if not l then
      return nil, str_format("listen %s:%d: %s", h, port, tostring(err))
    end
    local srv = setmetatable({
      l = l, port_n = l:port(), sopts = sopts, conns = {}, n = 0, next_id = 0,
      next_msgid = 0, closed = false, trace = opts.trace,
      max_pdu = opts.max_pdu or pdu.max_pdu,
      on_bind = opts.on_bind, on_submit = opts.on_submit, on_close = opts.on_close,
    }, server_mt)
    spawn(function()
      while not srv.closed do
        local sock = l:accept()
        if not sock then break end
        if srv.closed then
          sock:close()
        else
          accept(srv, sock)
        end
      end
    end)
    return srv
  end

  return { client = new_client, server = new_server }
end

return _M
