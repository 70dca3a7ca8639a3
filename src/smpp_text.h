/*
 * smpp_text.h - UTF-8 <-> UCS2 (UTF-16BE) for data_coding 0x08.
 *
 * Characters past U+FFFF travel as surrogate pairs (PROTOCOL.md, "Text
 * encodings"). Invalid input is an error naming the byte offset; nothing is
 * ever replaced or dropped silently. No allocation: callers size the output.
 */
#ifndef SMPP_TEXT_H
#define SMPP_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "smpp_error.h"

/*
 * UTF-8 to UTF-16BE. Returns bytes written to out, or SMPP_ERR_UTF8 (err
 * names the byte offset of the first bad sequence: overlong forms,
 * surrogates encoded in UTF-8, code points past U+10FFFF, truncated or
 * stray continuation bytes are all refused), or SMPP_ERR_BUFFER.
 * The output never needs more than 2 * in_len bytes.
 */
long smpp_utf8_to_ucs2(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, smpp_error *err);

/*
 * UTF-16BE to UTF-8. Returns bytes written, or SMPP_ERR_UCS2 (odd length,
 * unpaired surrogate; err names the byte offset), or SMPP_ERR_BUFFER.
 * The output never needs more than 3 * in_len / 2 bytes.
 */
long smpp_ucs2_to_utf8(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, smpp_error *err);

/* Returns 0 when in is valid UTF-8, else SMPP_ERR_UTF8 with the offset. */
int smpp_utf8_check(const uint8_t *in, size_t in_len, smpp_error *err);

#endif
