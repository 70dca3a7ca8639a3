/*
 * lsmpp_json.h - the gateway's JSON body (PROTOCOL.md, "What the gateway
 * expects of a client": {"id", "language", "code", "params"}), built and
 * checked through cJSON so that escaping is right.
 */
#ifndef LSMPP_JSON_H
#define LSMPP_JSON_H

#include <lua.h>

/*
 * Add build_body and parse_body to the module table on top of the stack.
 *
 * build_body{id =, language =, code =, params = {k = v}} -> json | nil, err
 *   Keys in the order id, language, code, params; language defaults to
 *   "default"; code is left out when nil; params is always an object, its
 *   keys sorted by byte value so that output is stable. id must be a
 *   non-empty string; code and language strings; params keys strings and
 *   values strings or numbers (numbers become strings, integral ones
 *   without ".0"). Every string must be valid UTF-8 without NUL bytes.
 *   err names the field ("params.app: ...").
 *
 * parse_body(bytes) -> {id =, language =, code =, params = {}} | nil, err
 *   err for: not JSON (with the byte offset), not an object, id missing or
 *   not a string, language or code not a string, params not an object, a
 *   param value not a string (naming the key). Absent language and code
 *   stay nil; absent params gives {}. Other keys are ignored.
 */
void lsmpp_json_register(lua_State *L);

#endif
