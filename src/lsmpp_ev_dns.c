/*
 * lsmpp_ev_dns.c - host name lookups of smpp.ev (lsmpp_ev_dns.h).
 *
 * The loop thread is the only one that runs Lua or touches a watcher; a
 * lookup's helper thread only calls getaddrinfo, queues the answer under a
 * mutex and wakes the loop with ev_async_send.
 */
/* dladdr and RTLD_NODELETE (glibc hides them otherwise). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lsmpp_ev_dns.h"

/* getaddrinfo may wait seconds for a DNS server, so a lookup runs on a
 * detached thread of its own (lookups are rare: one per bind) and its
 * answer comes back through the context's one ev_async watcher.
 *
 * Who frees what. The shared state (lev_dns) is counted: one reference
 * for the context while it lives, one per helper thread still running;
 * whoever drops the last frees it. So lua_close may finalize the context
 * while threads still wait on DNS: the context only sets loop_gone, under
 * the mutex, and each thread then frees its own lookup instead of queueing
 * it. A thread calls ev_async_send only under that mutex and only while
 * loop_gone is unset, and the context sets it before the loop can be
 * destroyed, so no thread ever wakes a loop that is gone.
 *
 * A lookup whose owner goes away first (client closed, timed out, or
 * collected) is cancelled: its owner pointer is cleared and the loop frees
 * it when it arrives. The helper thread never reads the owner pointer nor
 * the done callback, so those two need no lock: only the loop thread
 * touches them. */
struct lev_dns {
    pthread_mutex_t mu;
    /* Under mu. */
    unsigned refs;    /* the context's (until finalized) + one per thread */
    int loop_gone;    /* the context is finalized: free, don't queue */
    lev_lookup *done; /* finished, for the loop to collect; newest first */
    /* Set up before any thread starts; a thread uses them under mu while
     * loop_gone is unset. */
    struct ev_loop *loop;
    ev_async wake;
    /* Loop thread only. */
    lev_ctx *ctx;
    unsigned live;       /* started, neither delivered nor cancelled */
    unsigned pinned : 1; /* this module can no longer be unloaded */
};

struct lev_lookup {
    lev_lookup *next; /* on dns->done */
    lev_dns *dns;
    /* Loop thread only; owner is NULL once cancelled or delivered. */
    lev_lookup_done done;
    void *owner;
    /* Read by the helper thread, written before it starts. */
    char host[256];
    char port[16];
    /* Written by the helper thread before it queues the lookup; the mutex
     * orders that before the loop thread reads them. */
    int rc, sys_errno;
    struct addrinfo *res;
};

static void lookup_free(lev_lookup *q)
{
    if (q->res)
        freeaddrinfo(q->res);
    free(q);
}

static void dns_free(lev_dns *dns)
{
    pthread_mutex_destroy(&dns->mu);
    free(dns);
}

/* A live lookup keeps ev.run going and makes ev.run_once answer true, as
 * any active watcher would; with none, the async watcher is unref'd so
 * that it never keeps the loop alive by itself (a waiter in the Lua layer
 * relies on run_once's false to see a wait that can never end). One
 * ev_ref covers every live lookup. */
static void dns_live_add(lev_dns *dns)
{
    if (dns->live++ == 0)
        ev_ref(dns->loop);
}

static void dns_live_drop(lev_dns *dns)
{
    if (--dns->live == 0)
        ev_unref(dns->loop);
}

static void *dns_thread(void *arg)
{
    lev_lookup *q = (lev_lookup *)arg;
    lev_dns *dns = q->dns;
    struct addrinfo hints;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    q->res = NULL;
    q->rc = getaddrinfo(q->host, q->port, &hints, &q->res);
    q->sys_errno = q->rc == EAI_SYSTEM ? errno : 0;

    pthread_mutex_lock(&dns->mu);
    int gone = dns->loop_gone;
    if (!gone) {
        q->next = dns->done;
        dns->done = q;
        ev_async_send(dns->loop, &dns->wake);
    }
    int last = --dns->refs == 0;
    pthread_mutex_unlock(&dns->mu);
    if (gone)
        lookup_free(q);
    if (last)
        dns_free(dns);
    return NULL;
}

/* The loop side: hand each finished lookup to its owner, free it. */
static void dns_wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    lev_dns *dns = (lev_dns *)w->data;
    lev_lookup *list, *fifo = NULL;

    pthread_mutex_lock(&dns->mu);
    list = dns->done;
    dns->done = NULL;
    pthread_mutex_unlock(&dns->mu);
    while (list != NULL) { /* oldest first */
        lev_lookup *q = list;
        list = q->next;
        q->next = fifo;
        fifo = q;
    }
    /* The list is ours alone now: a done callback may run the loop again
     * (a nested wait) and that collects only lookups arriving later; one
     * that cancels a lookup still in this list only clears its owner. */
    while (fifo != NULL) {
        lev_lookup *q = fifo;
        fifo = q->next;
        if (q->owner != NULL) {
            void *owner = q->owner;
            struct addrinfo *res = q->res;
            q->owner = NULL;
            q->res = NULL;
            dns_live_drop(dns);
            q->done(lev_ctx_L(dns->ctx), owner, q->rc, q->sys_errno, res);
        }
        lookup_free(q);
    }
}

/* Once a helper thread exists, lua_close must not unload this module: Lua
 * dlcloses it right after finalizing the context, and a thread still
 * inside getaddrinfo would return into unmapped code. Marking the loaded
 * object RTLD_NODELETE keeps it (and libev with it) mapped until the
 * process ends. If the platform can't, lookups still work; only a
 * lua_close racing a lookup stays unsafe there. */
static void dns_pin(lev_dns *dns)
{
    Dl_info info;
    if (dns->pinned)
        return;
    if (dladdr((void *)dns_thread, &info) != 0 && info.dli_fname != NULL &&
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL)
        dns->pinned = 1; /* the handle is never closed, on purpose */
}

static lev_dns *dns_get(lev_ctx *ctx)
{
    if (ctx->dns != NULL)
        return ctx->dns;
    lev_dns *dns = (lev_dns *)calloc(1, sizeof *dns);
    if (dns == NULL)
        return NULL;
    if (pthread_mutex_init(&dns->mu, NULL) != 0) {
        free(dns);
        return NULL;
    }
    dns->refs = 1;
    dns->loop = ctx->loop;
    dns->ctx = ctx;
    ev_async_init(&dns->wake, dns_wake_cb);
    dns->wake.data = dns;
    ev_async_start(ctx->loop, &dns->wake);
    ev_unref(ctx->loop); /* dns_live_add refs it while lookups are live */
    ctx->dns = dns;
    return dns;
}

/* At the context's __gc: stop the watcher, then let go of the shared
 * state; threads still running free their own lookups and, the last one
 * out, the state. Every client was finalized before the context (it is
 * made first), so every lookup is cancelled by now: nothing is called. */
void lev_dns_release(lev_ctx *ctx)
{
    lev_dns *dns = ctx->dns;
    if (dns == NULL)
        return;
    ctx->dns = NULL;
    if (dns->live == 0)
        ev_ref(dns->loop); /* undo the ev_unref of dns_get */
    ev_async_stop(dns->loop, &dns->wake);
    pthread_mutex_lock(&dns->mu);
    dns->loop_gone = 1;
    lev_lookup *list = dns->done;
    dns->done = NULL;
    int last = --dns->refs == 0;
    pthread_mutex_unlock(&dns->mu);
    while (list != NULL) {
        lev_lookup *q = list;
        list = q->next;
        lookup_free(q);
    }
    if (last)
        dns_free(dns);
}

lev_lookup *lev_lookup_start(lev_ctx *ctx, const char *host, const char *port, lev_lookup_done done,
                             void *owner, int *err)
{
    lev_dns *dns = dns_get(ctx);
    lev_lookup *q = dns ? (lev_lookup *)calloc(1, sizeof *q) : NULL;
    if (q == NULL) {
        *err = ENOMEM;
        return NULL;
    }
    if (strlen(host) >= sizeof q->host || strlen(port) >= sizeof q->port) {
        free(q);
        *err = ENAMETOOLONG;
        return NULL;
    }
    strcpy(q->host, host);
    strcpy(q->port, port);
    q->dns = dns;
    q->done = done;
    q->owner = owner;
    dns_pin(dns);

    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0) {
        free(q);
        *err = rc;
        return NULL;
    }
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The thread's reference is taken before it exists: it may finish
     * (and drop it) before pthread_create returns. */
    pthread_mutex_lock(&dns->mu);
    dns->refs++;
    pthread_mutex_unlock(&dns->mu);
    /* The helper starts with every signal blocked, so the process's
     * signals (ev.signal's, libev's SIGCHLD) still reach the loop's thread
     * as before. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    rc = pthread_create(&tid, &attr, dns_thread, q);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&dns->mu);
        dns->refs--; /* never the last: the context holds one */
        pthread_mutex_unlock(&dns->mu);
        free(q);
        *err = rc;
        return NULL;
    }
    dns_live_add(dns);
    return q;
}

void lev_lookup_cancel(lev_lookup *q)
{
    if (q->owner == NULL)
        return;
    q->owner = NULL;
    dns_live_drop(q->dns);
}
