/*
 * fuzz_lua_session.c - libFuzzer target for core.session driven through
 * its Lua face, with Lua 5.4 embedded: a client or a server session (the
 * first byte says which) fed the input as peer bytes in splits the input
 * chooses, and whole peer PDUs picked by the input (so that every state
 * is reached: bound, receipts, unbind...), with clock ticks, submits or delivers (integer and table
 * tokens), partial writes, closes and link failures interleaved, and the
 * server answering binds and requests as the input says. Invariants,
 * checked by the script: every token ends exactly once, nothing follows
 * "closed", "closed" comes, a failed result says why, in_flight never
 * passes the window. Any Lua error (a broken invariant, or the binding
 * raising where it should return nil, err) aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_smpp_core(lua_State *L);

static const char script[] =
    "local core, data = ...\n"
    "local pos, t = 1, 0\n"
    "local function byte() local b = data:byte(pos) or 0; pos = pos + 1; return b end\n"
    "local server = byte() % 2 == 1\n"
    "local s\n"
    "if server then\n"
    "  s = core.session({ role = 'server', window = 4, queue_size = 4, response_timeout = 1,\n"
    "                     idle_timeout = 5, max_pdu = 1024 }, 0)\n"
    "else\n"
    "  s = core.session({ system_id = 'f', password = 'p', window = 4, queue_size = 4,\n"
    "                     response_timeout = 1, enquire_link_interval = 2, max_pdu = 1024 }, 0)\n"
    "  s:connected(0)\n"
    "end\n"
    "local issued, ended, closed, ntok = {}, {}, false, 0\n"
    "local function drain()\n"
    "  while true do\n"
    "    local ev = table.pack(s:next_event(t))\n"
    "    local kind = ev[1]\n"
    "    if kind == nil then break end\n"
    "    if closed then error('an event after closed: ' .. kind) end\n"
    "    if kind == 'result' then\n"
    "      local tok = ev[2]\n"
    "      if not issued[tok] or ended[tok] then error('token unknown or ended twice') end\n"
    "      ended[tok] = true\n"
    "      if ev[3] == nil and type(ev[4]) ~= 'string' then error('a failure without err') end\n"
    "    elseif kind == 'closed' then\n"
    "      closed = true\n"
    "      if type(ev[2]) ~= 'string' then error('closed without a reason') end\n"
    "    elseif kind == 'bind_request' then\n"
    "      if byte() % 4 == 0 then s:reject_bind(t)\n"
    "      else s:accept_bind(byte() % 3 == 0 and 'ESME_RINVPASWD' or 0, t) end\n"
    "    elseif kind == 'request' then\n"
    "      local seq = ev[2].sequence_number\n"
    "      if byte() % 3 ~= 0 then\n"
    "        s:respond(seq, byte() % 2 == 0 and 0 or 'ESME_RSYSERR', 'id' .. seq)\n"
    "      end\n"
    "    elseif kind == 'receipt' then\n"
    "      if type(ev[2].final) ~= 'boolean' then error('receipt without final') end\n"
    "    end\n"
    "  end\n"
    "  if s:stats().in_flight > 4 then error('in_flight over the window') end\n"
    "end\n"
    "-- Whole PDUs a peer sends, so that the input reaches every state.\n"
    "local function canned(k, seq, b)\n"
    "  if k == 0 then return core.encode { command = 'bind_transceiver_resp', sequence_number = "
    "1,\n"
    "                                      system_id = 'gw' } end\n"
    "  if k == 1 then return core.encode { command = 'bind_transceiver', sequence_number = seq,\n"
    "                                      system_id = 'f', password = 'p' } end\n"
    "  if k == 2 then return core.encode { command = 'submit_sm_resp', sequence_number = seq,\n"
    "                                      command_status = b % 2 * 0x58, message_id = 'm' .. seq "
    "} end\n"
    "  if k == 3 then return core.encode { command = 'deliver_sm', sequence_number = seq,\n"
    "    short_message = 'id:m' .. b % 8 .. ' stat:' .. (b % 3 == 0 and 'ENROUTE' or 'DELIVRD'),\n"
    "    tlvs = b % 2 == 0 and { receipted_message_id = 'm' .. seq, message_state = b % 9 } or nil "
    "} end\n"
    "  if k == 4 then return core.encode { command = 'submit_sm', sequence_number = seq,\n"
    "                                      destination_addr = '+65', short_message = 'x' } end\n"
    "  if k == 5 then return core.encode { command = 'deliver_sm_resp', sequence_number = seq } "
    "end\n"
    "  if k == 6 then return core.encode { command = 'generic_nack', sequence_number = seq,\n"
    "                                      command_status = 3 } end\n"
    "  if k == 7 then return core.encode { command = 'enquire_link', sequence_number = seq } end\n"
    "  if k == 8 then return core.encode { command = 'enquire_link_resp', sequence_number = seq } "
    "end\n"
    "  if k == 9 then return core.encode { command = 'unbind', sequence_number = seq } end\n"
    "  return core.encode { command = 'unbind_resp', sequence_number = seq }\n"
    "end\n"
    "while pos <= #data do\n"
    "  local c = byte()\n"
    "  local op = c % 8\n"
    "  if op <= 1 then\n"
    "    local n = byte() % 64 + 1\n"
    "    s:feed(data:sub(pos, pos + n - 1), t)\n"
    "    pos = pos + n\n"
    "  elseif op == 2 then\n"
    "    local b = byte()\n"
    "    local bytes = canned(b % 11, byte() % 8 + 1, b >> 4)\n"
    "    -- Split in two where the input says.\n"
    "    local cut = c >> 3\n"
    "    s:feed(bytes:sub(1, cut), t)\n"
    "    s:feed(bytes:sub(cut + 1), t)\n"
    "  elseif op == 3 then\n"
    "    t = t + (c >> 3) / 16\n"
    "    s:tick(t)\n"
    "  elseif op == 4 then\n"
    "    ntok = ntok + 1\n"
    "    local tok = (c & 0x10) ~= 0 and { ntok } or ntok\n"
    "    local ok\n"
    "    if server then\n"
    "      ok = s:deliver({ short_message = 'id:' .. ntok .. ' stat:DELIVRD',\n"
    "                       tlvs = { message_state = c % 9 } }, tok, t)\n"
    "    else\n"
    "      ok = s:submit({ destination_addr = '+65',\n"
    "                      short_message = data:sub(pos, pos + (c >> 5)) }, tok, t)\n"
    "    end\n"
    "    if ok then issued[tok] = true end\n"
    "  elseif op == 5 then\n"
    "    local p = s:pending()\n"
    "    if p then s:sent(math.min(#p, c >> 2)) end\n"
    "  elseif op == 6 then\n"
    "    if c >= 0xF0 then s:close(c & 1 == 1, t)\n"
    "    elseif c >= 0xE0 then s:fail('connection lost', t) end\n"
    "  else\n"
    "    local d = s:deadline()\n"
    "    if d then t = math.max(t, d); s:tick(t) end\n"
    "  end\n"
    "  drain()\n"
    "  s:error()\n"
    "end\n"
    "s:close(false, t)\n"
    "drain()\n"
    "for tok in pairs(issued) do\n"
    "  if not ended[tok] then error('a token never ended') end\n"
    "end\n"
    "if not closed then error('no closed event') end\n";

static lua_State *L;
static int script_ref;
static int core_ref;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    lua_pushcfunction(L, luaopen_smpp_core);
    lua_call(L, 0, 1);
    core_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (luaL_loadstring(L, script) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        abort();
    }
    script_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, script_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, core_ref);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        abort();
    }
    /* Sessions and their tokens go now, under ASan's eye. */
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
