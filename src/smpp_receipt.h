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

#endif
