/*
 * lsmpp_glue.h - the Lua glue every driver of an smpp_session needs,
 * compiled into both smpp.core (core.session) and smpp.ev (ev.client,
 * ev.server): session options, request tables, events, results, reasons,
 * stats and status lookup as Lua values. One place, so that every driver
 * shows the same values for the same thing.
 *
 * Option functions raise (misuse: a bad option is the caller's bug); the
 * others return nil, err through the caller, and raise only on out of
 * memory. Nothing here keeps state outside the lua_State and the
 * caller's structs.
 */
#ifndef LSMPP_GLUE_H
#define LSMPP_GLUE_H

#include <stddef.h>
#include <stdint.h>

#include "lsmpp_compat.h"
#include "smpp_session.h"

/* ---- options ------------------------------------------------------------ */

/* Raise "<what>: unknown option '<key>'" for the first key of the table at
 * idx not in names (NULL-terminated), or "<what>: option keys must be
 * strings" for a key of another type. */
void lsmpp_check_keys(lua_State *L, int idx, const char *what, const char *const *names);

/* The seconds option at idx (a number, 0 <= v < 1e9) in milliseconds,
 * rounded. Raises "option '<key>': seconds >= 0 expected, got ...". */
smpp_ms lsmpp_opt_ms(lua_State *L, int idx, const char *key);

/* The integer option at idx, in min..max. Raises naming the key. */
uint32_t lsmpp_opt_u32(lua_State *L, int idx, const char *key, uint32_t min, uint32_t max);

/* The string option at idx copied into dst (size bytes, NUL included).
 * Raises naming the key when it is not a string, holds a NUL or does
 * not fit. */
void lsmpp_opt_string(lua_State *L, int idx, const char *key, char *dst, size_t size);

/* Read the session settings every role shares (window, queue_size,
 * max_pdu, connect_timeout, bind_timeout, response_timeout,
 * enquire_link_interval, idle_timeout) from the options table at idx into
 * cfg; absent keys keep cfg's values. Raises naming a bad value. Keys a
 * role does not take must be refused first, with lsmpp_check_keys. */
void lsmpp_opt_session(lua_State *L, int idx, smpp_session_config *cfg);

/* The status at idx, given as an integer 0..0xFFFFFFFF or a name
 * ("ESME_RSYSERR"), into *status. Returns 0, or -1 (nothing stored) for
 * anything else. Never raises. */
int lsmpp_get_status(lua_State *L, int idx, uint32_t *status);

/* ---- requests ----------------------------------------------------------- */

/*
 * Queue the request described by the fields table at idx on s: a
 * submit_sm for a client, a deliver_sm for a server. The table overlays
 * the gateway's defaults (smpp_pdu_defaults); its strings are borrowed
 * only during the call (the session encodes at once). token travels with
 * the request to its RESULT event.
 * Returns 0 with nothing pushed, or pushes nil, err and returns 2: err is
 * "queue full", "closed" (unbinding or closed), or the field error naming
 * the key ("destination_addr: ...", "command: a client submits submit_sm
 * only"). Raises only "not enough memory".
 */
int lsmpp_submit(lua_State *L, smpp_session *s, int idx, uint64_t token, smpp_ms now);

/* ---- events and results ------------------------------------------------- */

/* Push the text of a bind failure or close reason ("connection lost",
 * "authentication failed", ...: smpp_reason_name). For DNS and
 * CONNECT_ERROR, detail (the resolver's or the OS's message; NULL or ""
 * for none) follows: "dns failure: <detail>". Raises only on memory. */
void lsmpp_push_reason(lua_State *L, smpp_reason reason, const char *detail);

/* Push a RESULT event's outcome: res ({message_id =, sequence_number =})
 * for a success; nil, status name, status for a refusal; the same plus
 * "generic_nack" for a nack; nil, outcome text ("timeout", "connection
 * lost", "not sent", "closed") otherwise. Returns how many values were
 * pushed (1 to 4). ev->pdu is read during the call only. */
int lsmpp_push_result(lua_State *L, const smpp_event *ev);

/*
 * Push ev as the values of core.session's next_event, kind first:
 *   "bound"
 *   "bind_failed", err [, status]    err: status name when the gateway
 *                                    answered with a status (then status
 *                                    is the number), else the reason text
 *   "result", token, <lsmpp_push_result's values>
 *   "receipt", r, bytes              the receipt table, r.final set; the
 *                                    deliver_sm's bytes (a store keeps
 *                                    them instead of r; nil if they do
 *                                    not encode)
 *   "deliver", pdu                   a deliver_sm that is no receipt
 *   "bind_request", system_id, password
 *   "request", pdu
 *   "closed", reason
 * token: for RESULT, the stack index of the Lua value to show as the
 * token, or 0 to push ev->token as an integer. detail: as for
 * lsmpp_push_reason. Returns the number of values pushed (kind
 * included), or 0 for an event with no Lua face (UNBOUND: a CLOSED event
 * follows, which is what the application sees). ev->pdu is copied out
 * during the call. Raises only on memory.
 */
int lsmpp_push_event(lua_State *L, const smpp_event *ev, int token, const char *detail);

/* Push the stats table: submitted, sent, succeeded, failed, in_flight,
 * queued, bytes_in, bytes_out, enquire_links, pdus_in, delivered_in, and
 * receipts (client) or requests (server). */
void lsmpp_push_stats(lua_State *L, const smpp_session_stats *st, uint64_t receipts, int server);

#endif
