/*
 * slow_getaddrinfo.c - a slow DNS server, for the specs of smpp.ev's
 * name lookups (spec/ev_client_spec.lua builds it and LD_PRELOADs it into
 * a child lua). The sandboxes the specs run in answer every name at once,
 * which can't show that the loop keeps going while a lookup waits.
 *
 * Names ending in ".slow.test" take SLOW_GAI_MS milliseconds (default
 * 300): "ok.slow.test" then resolves as "localhost", any other one fails
 * with EAI_NONAME. Every other name goes straight to the real getaddrinfo.
 *
 * At exit, once main has returned (lua.c has run lua_close, which
 * unloads smpp.ev), it waits for the slow lookups still running and gives
 * their threads time to get back into smpp.ev's code: a module unloaded
 * under them would crash the process there. It then prints how many
 * lookups ended after main returned, so a spec can check that it tested
 * that case at all.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static int in_flight;  /* slow lookups running (atomic) */
static int exiting;    /* main has returned (atomic) */
static int after_exit; /* slow lookups that ended after that (atomic) */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    if (node == NULL || !ends_with(node, ".slow.test") ||
        (hints != NULL && (hints->ai_flags & AI_NUMERICHOST)))
        return real(node, service, hints, res);

    __atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
    const char *ms = getenv("SLOW_GAI_MS");
    sleep_ms(ms ? atol(ms) : 300);
    int rc =
        strcmp(node, "ok.slow.test") == 0 ? real("localhost", service, hints, res) : EAI_NONAME;
    if (__atomic_load_n(&exiting, __ATOMIC_SEQ_CST))
        __atomic_add_fetch(&after_exit, 1, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
    return rc;
}

static void at_exit(void)
{
    __atomic_store_n(&exiting, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 500 && __atomic_load_n(&in_flight, __ATOMIC_SEQ_CST) > 0; i++)
        sleep_ms(10);
    sleep_ms(100); /* the thread's way back through smpp.ev */
    fprintf(stderr, "slow_getaddrinfo: %d lookups ended after main returned\n",
            __atomic_load_n(&after_exit, __ATOMIC_SEQ_CST));
}

__attribute__((constructor)) static void init(void)
{
    atexit(at_exit);
}
