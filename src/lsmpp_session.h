/*
 * lsmpp_session.h - core.session and core.now in smpp.core (the Lua face
 * of smpp_session for drivers written in Lua; README, "Writing a driver").
 */
#ifndef LSMPP_SESSION_H
#define LSMPP_SESSION_H

#include <lua.h>

/* Add session and now to the module table on top of the stack, and make
 * the "smpp.session" metatable. */
void lsmpp_session_register(lua_State *L);

#endif
