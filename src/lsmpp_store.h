/*
 * lsmpp_store.h - core.receipt_store (lsmpp_store.c): kept receipts in C
 * memory, out of the collector's way.
 */
#ifndef LSMPP_STORE_H
#define LSMPP_STORE_H

#include <lua.h>

/* Sets receipt_store on the table at the top of the stack. */
void lsmpp_store_register(lua_State *L);

#endif
