/*
 * lsmpp_ev_dns.h - host name lookups of smpp.ev, each on a helper thread,
 * so that a slow DNS server holds up only the client that asked, never
 * the loop. Knows nothing of links or clients: a lookup hands its answer
 * to whatever function started it.
 */
#ifndef LSMPP_EV_DNS_H
#define LSMPP_EV_DNS_H

#include "lsmpp_ev.h"

struct addrinfo;
typedef struct lev_lookup lev_lookup;

/* Runs on the loop thread, from the loop, once the lookup is over (never
 * after lev_lookup_cancel): rc is 0 or getaddrinfo's EAI_* code, sys_errno
 * the errno for EAI_SYSTEM; res (NULL unless rc is 0) becomes the callee's,
 * to freeaddrinfo. Must not raise: no Lua frame protects it. */
typedef void (*lev_lookup_done)(lua_State *L, void *owner, int rc, int sys_errno,
                                struct addrinfo *res);

/* Resolve host and a numeric port (stream sockets, any family) on a
 * detached thread; both strings are copied. Returns the lookup, or NULL
 * with *err an errno value (ENOMEM, ENAMETOOLONG, or pthread_create's
 * answer) and no thread started. */
lev_lookup *lev_lookup_start(lev_ctx *ctx, const char *host, const char *port, lev_lookup_done done,
                             void *owner, int *err);

/* The owner is going away: done will not be called and the lookup no
 * longer keeps the loop alive. The thread finishes on its own and the
 * loop frees what it returns; q must not be used after this. */
void lev_lookup_cancel(lev_lookup *q);

/* At the context's __gc, before the loop may be destroyed: stop waking
 * the loop and let go of the shared state (threads still running free
 * their own lookups). Every lookup must have been cancelled. */
void lev_dns_release(lev_ctx *ctx);

#endif
