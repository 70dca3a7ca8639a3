/*
 * lsmpp_pdu.h - conversion between smpp_pdu and Lua tables, shared by the
 * C modules smpp.core and smpp.ev (both compile lsmpp_pdu.c in, so nothing
 * here keeps state outside the lua_State and the caller's structs).
 *
 * Table shape (documented for users in lua/smpp/pdu.lua):
 *   command          name string ("submit_sm"); the number for an unknown id
 *   command_status   integer
 *   sequence_number  integer
 *   <field>          every body field of the command, by its SMPP 3.4 name
 *                    as in smpp_pdu.h: strings for C-Octet Strings and
 *                    short_message (raw octets), integers for 1-byte fields
 *   tlvs             array of {tag =, name =, value =} in wire order, plus
 *                    tlvs[name] = typed value for the first TLV of each
 *                    named tag; absent when the PDU carried no TLV
 *   has_body         false for a response decoded without its body
 *                    (pdu->has_body == 0); such a table has no body keys
 */
#ifndef LSMPP_PDU_H
#define LSMPP_PDU_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "smpp_error.h"
#include "smpp_pdu.h"
#include "smpp_receipt.h"

/* Bytes for TLV values that have no Lua string to borrow from: integer
 * TLVs (message_state, sc_interface_version: 1 byte) and
 * network_error_code (3 bytes). At most SMPP_MAX_TLVS of them. */
#define LSMPP_SCRATCH_SIZE (SMPP_MAX_TLVS * 4u)

typedef struct lsmpp_scratch {
    size_t used;
    uint8_t bytes[LSMPP_SCRATCH_SIZE];
} lsmpp_scratch;

/*
 * Push a new table for pdu (shape above). Copies every string out of pdu,
 * so the decoded buffer may go away afterwards. Raises only on out of
 * memory. Needs 6 free stack slots (checked).
 */
void lsmpp_push_pdu(lua_State *L, const smpp_pdu *pdu);

/*
 * Fill pdu from the table at idx. pdu comes in holding defaults (at least
 * command_id, or the table names `command`); only keys present in the
 * table override them. When the table has a `tlvs` key, it replaces the
 * pdu's TLVs; otherwise the pdu's TLVs stay.
 *
 * Borrows: string fields point into Lua strings owned by the table (valid
 * while the table lives and is not changed); typed TLV values point into
 * scratch, which must live as long as pdu is used. scratch needs no
 * initialisation.
 *
 * Field limits are not checked here: smpp_pdu_encode (or
 * smpp_session_submit, which encodes at once) checks them, naming the
 * field.
 *
 * Returns 0, or a negative smpp_err_code with err->msg naming the key:
 * "unknown field 'foo'", "system_id is not a field of submit_sm",
 * SMPP_ERR_UNKNOWN_COMMAND for a numeric `command` the codec does not know
 * (pdu->command_id is then set to it),
 * "esm_class: integer expected, got string", "esm_class: 300 out of range
 * 0..255". The Lua stack
 * is left as it was. Does not raise except on out of memory.
 *
 * A response table with command_status != 0 and no body key (not even
 * tlvs) gives has_body = 0: the response goes out without a body.
 */
int lsmpp_fill_pdu(lua_State *L, int idx, smpp_pdu *pdu, lsmpp_scratch *scratch, smpp_error *err);

/* Push the status name ("ESME_RSYSERR"), or "0x%08X" for unknown numbers. */
void lsmpp_push_status(lua_State *L, uint32_t status);

/*
 * The same conversions with the key cache passed in, for a module that
 * keeps it as an upvalue of its functions (smpp.core): that saves the
 * registry lookup the functions above make on every call.
 *
 * lsmpp_push_keys pushes the cache of the interned key strings every
 * function here uses (created on first use; one per lua_State and module
 * copy, anchored in the registry). keys is where it sits: an upvalue
 * index (lua_upvalueindex) or an absolute stack index. Borrowing, returns,
 * errors and the stack needs are those of the function without _k.
 */
void lsmpp_push_keys(lua_State *L);
void lsmpp_push_pdu_k(lua_State *L, int keys, const smpp_pdu *pdu);
int lsmpp_fill_pdu_k(lua_State *L, int keys, int idx, smpp_pdu *pdu, lsmpp_scratch *scratch,
                     smpp_error *err);
/* Push the receipt table for deliver (README, "Receipts") from what
 * smpp_receipt_from_pdu read into r: message_id (TLV 0x001E, else the
 * text's id), stat (upper-cased; from message_state when the text has
 * none), err, sub, dlvrd, submit_date, done_date, text, message_state,
 * state, network_error_code, final, destination_addr, source_addr,
 * esm_class, raw, tlvs, sequence_number. Values the receipt lacks are
 * nil. Copies every string. */
void lsmpp_push_receipt_k(lua_State *L, int keys, const smpp_pdu *deliver,
                          const smpp_receipt_pdu *r);
/* Push pdu's bytes as a string (the deliver_sm a receipt came in, for a
 * receipt store that keeps it instead of the table), or nil when it does
 * not encode (it always does: it was decoded). */
void lsmpp_push_pdu_bytes(lua_State *L, const smpp_pdu *pdu);
/* Push the table pdu.parse_receipt gives for receipt text: id, sub, dlvrd,
 * submit_date, done_date, stat (upper-cased), err, text (nil when missing)
 * and raw (the string at raw_idx when raw_idx != 0, saving a copy; else
 * text). */
void lsmpp_push_receipt_text_k(lua_State *L, int keys, const uint8_t *text, size_t len,
                               int raw_idx);

#endif
