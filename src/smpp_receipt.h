/*
 * smpp_receipt.h - delivery receipt text (SMPP 3.4 Appendix B, as used in
 * practice):
 *   id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
 *   stat:SSSSSSS err:EEE text:...
 *
 * Parsing is lenient: keys in any case, dates with or without seconds,
 * fields missing, extra or reordered, text: with spaces running to the end.
 * It never fails on content; fields not found stay empty (len 0, ptr NULL).
 * Every value borrows from the parsed text.
 */
#ifndef SMPP_RECEIPT_H
#define SMPP_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "smpp_error.h"
#include "smpp_pdu.h"

typedef struct smpp_receipt {
    smpp_bytes id;
    smpp_bytes sub;
    smpp_bytes dlvrd;
    smpp_bytes submit_date; /* YYMMDDhhmm or YYMMDDhhmmss, as sent */
    smpp_bytes done_date;
    smpp_bytes stat;
    smpp_bytes err;
    smpp_bytes text;
} smpp_receipt;

/*
 * Parse receipt text. Returns the number of known fields found (0 means
 * the text does not look like a receipt at all: no id: and no stat:).
 */
int smpp_receipt_parse(const uint8_t *text, size_t len, smpp_receipt *r);

/*
 * Format r into out in the canonical order and spelling above; sub, dlvrd
 * and err default to "001", "001" and "000" when empty. Returns bytes
 * written (no NUL), or SMPP_ERR_BUFFER / SMPP_ERR_LIMIT with err filled,
 * or SMPP_ERR_FIELD when a value other than text holds a space (it would
 * not parse back as the same field). Nothing is written on error.
 */
long smpp_receipt_format(const smpp_receipt *r, uint8_t *out, size_t cap, smpp_error *err);

/*
 * r's stat upper-cased into buf (cap bytes; no NUL), so that a lenient
 * "stat:delivrd" compares equal to "DELIVRD"; r's own bytes when longer
 * than cap; ptr NULL when r has no stat. The result borrows from buf or
 * from r's text.
 */
smpp_bytes smpp_receipt_stat(const smpp_receipt *r, uint8_t *buf, size_t cap);

/*
 * A deliver_sm read as a delivery receipt (PROTOCOL.md, "Receipts"). Every
 * smpp_bytes borrows from the deliver_sm's buffer, except stat, which may
 * point into the struct itself (stat_buf): use it while the struct and
 * the buffer live, and don't copy the struct. ptr is NULL for a value the
 * receipt does not carry.
 */
typedef struct smpp_receipt_pdu {
    /* The receipt text's fields (all empty when there is no text). */
    smpp_receipt text;
    /* The text: short_message, else TLV message_payload. */
    smpp_bytes raw;
    /* TLV receipted_message_id without its NUL, else the text's id. */
    smpp_bytes message_id;
    /* The text's stat upper-cased ("delivrd" is seen in the wild, callers
     * compare with "DELIVRD"), else the stat word of message_state. */
    smpp_bytes stat;
    int message_state;                 /* TLV message_state (1 byte), or -1 */
    const uint8_t *network_error_code; /* TLV value, 3 bytes, or NULL */
    int final;                         /* smpp_receipt_is_final */
    uint8_t stat_buf[32];
} smpp_receipt_pdu;

/*
 * Read deliver as a receipt. It is one when it has TLV receipted_message_id
 * or message_state, or its text parses as receipt text, whatever its
 * esm_class (the gateway sends 0x00, standard SMSCs 0x04). Returns 1 with
 * r filled, or 0 (r then holds what was found, no receipt fields) for a
 * deliver_sm that is no receipt or a PDU that is no deliver_sm. Cheap:
 * no allocation, one pass over the text.
 */
int smpp_receipt_from_pdu(const smpp_pdu *deliver, smpp_receipt_pdu *r);

/*
 * Does this receipt end the message's story? Interim receipts (SMPP 3.4
 * 5.2.28 message_state 1 ENROUTE or 6 ACCEPTED; without message_state, a
 * stat ENROUTE or ACCEPTD in any case) may be followed by the final one.
 * message_state is -1 when absent; stat may be NULL or empty.
 */
int smpp_receipt_is_final(int message_state, const smpp_bytes *stat);

#endif
