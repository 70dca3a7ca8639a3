/*
 * smpp_ev_adapter.h - run one smpp_session on libev watchers.
 *
 * Header-only and all static, in the shape of hiredis's adapters/libev.h:
 * one struct per session with a read and a write ev_io and one ev_timer,
 * idempotent start/stop of each, and smpp_ev_sync(), which the driver calls
 * after session calls, at the latest before the loop next blocks, so the
 * watchers mirror what the session wants whenever libev polls: the write
 * watcher runs iff output is pending, the timer fires at the session's
 * deadline. (The driver may batch several calls, and write once, before
 * one sync.) Knows nothing of Lua.
 */
#ifndef SMPP_EV_ADAPTER_H
#define SMPP_EV_ADAPTER_H

#include <ev.h>

#include "smpp_session.h"

typedef struct smpp_ev_adapter {
    struct ev_loop *loop;
    ev_io rev;
    ev_io wev;
    ev_timer timer;
    /* The session time the timer was armed for, so the timer callback can
     * tick with at least that time: ev_now * 1000 truncated can land a hair
     * before the deadline, and the session would then do nothing and ask
     * for the same deadline again. */
    smpp_ms armed;
    /* Last time handed to the session. ev_now() follows the wall clock,
     * which may step back; the session wants a clock that never does. */
    smpp_ms last;
    unsigned reading : 1;
    unsigned writing : 1;
    unsigned timing : 1;
    unsigned kicked : 1; /* timer set to fire next iteration: keep it so */
} smpp_ev_adapter;

/* The session's clock: libev's cached loop time in ms, never going back.
 * Outside the loop the cache is as old as the last iteration (a program
 * may have slept or worked since): refresh it, or a timeout armed now
 * would count from the past and fire early. */
static inline smpp_ms smpp_ev_now_ms(smpp_ev_adapter *a)
{
    smpp_ms now;

    if (ev_depth(a->loop) == 0)
        ev_now_update(a->loop);
    now = (smpp_ms)(ev_now(a->loop) * 1000.0);
    if (now < a->last)
        now = a->last;
    a->last = now;
    return now;
}

/* Callbacks get the adapter's owner back through watcher.data. */
static inline void smpp_ev_init(smpp_ev_adapter *a, struct ev_loop *loop, int fd, void *owner,
                                void (*read_cb)(struct ev_loop *, ev_io *, int),
                                void (*write_cb)(struct ev_loop *, ev_io *, int),
                                void (*timer_cb)(struct ev_loop *, ev_timer *, int))
{
    a->loop = loop;
    a->reading = a->writing = a->timing = a->kicked = 0;
    a->armed = -1;
    a->last = 0;
    ev_io_init(&a->rev, read_cb, fd, EV_READ);
    ev_io_init(&a->wev, write_cb, fd, EV_WRITE);
    ev_init(&a->timer, timer_cb);
    a->rev.data = a->wev.data = a->timer.data = owner;
}

/* The fd changes while a client tries the addresses of a host in turn. */
static inline void smpp_ev_set_fd(smpp_ev_adapter *a, int fd)
{
    int r = a->reading, w = a->writing;
    if (r)
        ev_io_stop(a->loop, &a->rev);
    if (w)
        ev_io_stop(a->loop, &a->wev);
    ev_io_set(&a->rev, fd, EV_READ);
    ev_io_set(&a->wev, fd, EV_WRITE);
    if (r)
        ev_io_start(a->loop, &a->rev);
    if (w)
        ev_io_start(a->loop, &a->wev);
}

static inline void smpp_ev_read(smpp_ev_adapter *a, int on)
{
    if (on && !a->reading) {
        a->reading = 1;
        ev_io_start(a->loop, &a->rev);
    } else if (!on && a->reading) {
        a->reading = 0;
        ev_io_stop(a->loop, &a->rev);
    }
}

static inline void smpp_ev_write(smpp_ev_adapter *a, int on)
{
    if (on && !a->writing) {
        a->writing = 1;
        ev_io_start(a->loop, &a->wev);
    } else if (!on && a->writing) {
        a->writing = 0;
        ev_io_stop(a->loop, &a->wev);
    }
}

/* Arm the timer for session time `at` (ms), or stop it when at < 0.
 * Re-arming for the same deadline is skipped: most session calls leave the
 * deadline where it was, and ev_timer_stop/start is not free. */
static inline void smpp_ev_timer_at(smpp_ev_adapter *a, smpp_ms at)
{
    if (at < 0) {
        if (a->timing) {
            a->timing = 0;
            ev_timer_stop(a->loop, &a->timer);
        }
        a->armed = -1;
        return;
    }
    if (a->timing && at == a->armed)
        return;
    smpp_ms now = smpp_ev_now_ms(a);
    double after = at > now ? (double)(at - now) / 1000.0 : 0.0;
    if (a->timing)
        ev_timer_stop(a->loop, &a->timer);
    ev_timer_set(&a->timer, after, 0.0);
    ev_timer_start(a->loop, &a->timer);
    a->timing = 1;
    a->armed = at;
}

/* Make the timer fire on the next loop iteration, whatever the deadline:
 * used to hand events to the loop instead of dispatching them inside the
 * call that caused them. */
static inline void smpp_ev_kick(smpp_ev_adapter *a)
{
    smpp_ev_timer_at(a, smpp_ev_now_ms(a));
    a->kicked = 1;
}

/* Time to tick the session with from the timer callback (see `armed`). */
static inline smpp_ms smpp_ev_timer_now(smpp_ev_adapter *a)
{
    smpp_ms now = smpp_ev_now_ms(a);
    a->timing = 0; /* a one-shot ev_timer is stopped when it fires */
    a->kicked = 0;
    if (a->armed > now)
        now = a->armed;
    a->armed = -1;
    a->last = now;
    return now;
}

/* After session calls (and the driver's write): mirror what the session
 * wants. Reading stays on from connect to close and is handled by the
 * driver. */
static inline void smpp_ev_sync(smpp_ev_adapter *a, smpp_session *s)
{
    /* While connecting the write watcher is the connect watcher. */
    if (smpp_session_state(s) != SMPP_STATE_CONNECTING) {
        size_t len = 0;
        (void)smpp_session_pending(s, &len);
        smpp_ev_write(a, len > 0);
    }
    if (!a->kicked)
        smpp_ev_timer_at(a, smpp_session_deadline(s));
}

/* Stop every watcher; safe to call any number of times. */
static inline void smpp_ev_stop(smpp_ev_adapter *a)
{
    smpp_ev_read(a, 0);
    smpp_ev_write(a, 0);
    a->kicked = 0;
    smpp_ev_timer_at(a, -1);
}

#endif
