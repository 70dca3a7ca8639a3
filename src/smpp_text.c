/*
 * smpp_text.c - strict UTF-8 <-> UTF-16BE for data_coding 0x08
 * (PROTOCOL.md, "Text encodings"; Unicode 15, table 3-7 for the well-formed
 * UTF-8 byte sequences). No allocation; ASCII runs take a fast path.
 */
#include <string.h>

#include "smpp_text.h"

#define ASCII_MASK 0x8080808080808080ull

/* 8 bytes at p are all ASCII. memcpy keeps the load alignment-safe. */
static inline int ascii8(const uint8_t *p)
{
    uint64_t w;

    memcpy(&w, p, sizeof(w));
    return (w & ASCII_MASK) == 0;
}

static inline int is_cont(uint8_t c)
{
    return (c & 0xC0) == 0x80;
}

/*
 * Decode the sequence at s (n bytes available, n >= 1, s[0] >= 0x80).
 * Returns its length with *cp set, or 0 with *why naming the fault.
 * Unicode table 3-7: the second byte's range rules out overlongs (E0, F0),
 * surrogates (ED) and code points past U+10FFFF (F4).
 */
static inline size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp, const char **why)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;

    if (c < 0xC0) {
        *why = "stray continuation byte";
        return 0;
    }
    if (c < 0xC2) {
        *why = "overlong form";
        return 0;
    }
    if (c < 0xE0) {
        len = 2;
        *cp = c & 0x1Fu;
    } else if (c < 0xF0) {
        len = 3;
        *cp = c & 0x0Fu;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        len = 4;
        *cp = c & 0x07u;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *why = c < 0xF8 ? "code point past U+10FFFF" : "byte never valid in UTF-8";
        return 0;
    }
    if (n < 2 || !is_cont(s[1])) {
        *why = "truncated sequence";
        return 0;
    }
    if (s[1] < lo || s[1] > hi) {
        *why = c == 0xED   ? "UTF-16 surrogate"
               : c == 0xF4 ? "code point past U+10FFFF"
                           : "overlong form";
        return 0;
    }
    *cp = (*cp << 6) | (s[1] & 0x3Fu);
    if (len > 2) {
        if (n < 3 || !is_cont(s[2])) {
            *why = "truncated sequence";
            return 0;
        }
        *cp = (*cp << 6) | (s[2] & 0x3Fu);
    }
    if (len > 3) {
        if (n < 4 || !is_cont(s[3])) {
            *why = "truncated sequence";
            return 0;
        }
        *cp = (*cp << 6) | (s[3] & 0x3Fu);
    }
    return len;
}

static int utf8_error(size_t offset, const char *why, smpp_error *err)
{
    return smpp_error_at(err, SMPP_ERR_UTF8, offset, 0, "invalid UTF-8 at byte %zu (%s)", offset,
                         why);
}

int smpp_utf8_check(const uint8_t *in, size_t in_len, smpp_error *err)
{
    size_t i = 0;

    while (i < in_len) {
        uint32_t cp;
        const char *why;
        size_t n;

        if (in_len - i >= 8 && ascii8(in + i)) {
            i += 8;
            continue;
        }
        if (in[i] < 0x80) {
            i++;
            continue;
        }
        n = utf8_next(in + i, in_len - i, &cp, &why);
        if (n == 0)
            return utf8_error(i, why, err);
        i += n;
    }
    return 0;
}

/* Error path of smpp_utf8_to_ucs2: the output did not fit. Report a bad
 * sequence first if there is one, else the exact size needed. */
static long utf8_to_ucs2_short(const uint8_t *in, size_t in_len, size_t cap, smpp_error *err)
{
    size_t i = 0, need = 0;

    while (i < in_len) {
        uint32_t cp = in[i];
        const char *why;
        size_t n = 1;

        if (cp >= 0x80) {
            n = utf8_next(in + i, in_len - i, &cp, &why);
            if (n == 0)
                return utf8_error(i, why, err);
        }
        need += cp >= 0x10000 ? 4 : 2;
        i += n;
    }
    return smpp_error_at(err, SMPP_ERR_BUFFER, 0, need,
                         "UCS2 output needs %zu bytes, buffer has %zu", need, cap);
}

long smpp_utf8_to_ucs2(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, smpp_error *err)
{
    size_t i = 0, o = 0;

    while (i < in_len) {
        uint32_t cp;
        const char *why;
        size_t n;

        if (in_len - i >= 8 && cap - o >= 16 && ascii8(in + i)) {
            size_t k;

            for (k = 0; k < 8; k++) {
                out[o + 2 * k] = 0;
                out[o + 2 * k + 1] = in[i + k];
            }
            i += 8;
            o += 16;
            continue;
        }
        if (in[i] < 0x80) {
            if (cap - o < 2)
                return utf8_to_ucs2_short(in, in_len, cap, err);
            out[o] = 0;
            out[o + 1] = in[i];
            o += 2;
            i++;
            continue;
        }
        n = utf8_next(in + i, in_len - i, &cp, &why);
        if (n == 0)
            return utf8_error(i, why, err);
        if (cp < 0x10000) {
            if (cap - o < 2)
                return utf8_to_ucs2_short(in, in_len, cap, err);
            out[o] = (uint8_t)(cp >> 8);
            out[o + 1] = (uint8_t)cp;
            o += 2;
        } else {
            /* RFC 2781 2.1: a surrogate pair for U+10000..U+10FFFF. */
            uint32_t v = cp - 0x10000;
            uint32_t high = 0xD800 | (v >> 10), low = 0xDC00 | (v & 0x3FF);

            if (cap - o < 4)
                return utf8_to_ucs2_short(in, in_len, cap, err);
            out[o] = (uint8_t)(high >> 8);
            out[o + 1] = (uint8_t)high;
            out[o + 2] = (uint8_t)(low >> 8);
            out[o + 3] = (uint8_t)low;
            o += 4;
        }
        i += n;
    }
    return (long)o;
}

/* Decode one UTF-16BE unit (pair) at in[i]; returns the code point, or -1
 * with err filled for an unpaired surrogate. *step gets 2 or 4. */
static long ucs2_next(const uint8_t *in, size_t in_len, size_t i, size_t *step, smpp_error *err)
{
    uint32_t u = ((uint32_t)in[i] << 8) | in[i + 1], low;

    *step = 2;
    if (u < 0xD800 || u > 0xDFFF)
        return (long)u;
    if (u >= 0xDC00)
        return smpp_error_at(err, SMPP_ERR_UCS2, i, 0,
                             "invalid UCS2 at byte %zu: unpaired low surrogate 0x%04X", i,
                             (unsigned)u);
    if (in_len - i < 4)
        return smpp_error_at(err, SMPP_ERR_UCS2, i, 0,
                             "invalid UCS2 at byte %zu: high surrogate 0x%04X at the end", i,
                             (unsigned)u);
    low = ((uint32_t)in[i + 2] << 8) | in[i + 3];
    if (low < 0xDC00 || low > 0xDFFF)
        return smpp_error_at(
            err, SMPP_ERR_UCS2, i, 0,
            "invalid UCS2 at byte %zu: high surrogate 0x%04X not followed by a low one", i,
            (unsigned)u);
    *step = 4;
    return (long)(0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00));
}

static inline size_t utf8_len(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Error path of smpp_ucs2_to_utf8: bad input first, else the size needed. */
static long ucs2_to_utf8_short(const uint8_t *in, size_t in_len, size_t cap, smpp_error *err)
{
    size_t i = 0, need = 0, step;

    while (i < in_len) {
        long cp = ucs2_next(in, in_len, i, &step, err);

        if (cp < 0)
            return cp;
        need += utf8_len((uint32_t)cp);
        i += step;
    }
    return smpp_error_at(err, SMPP_ERR_BUFFER, 0, need,
                         "UTF-8 output needs %zu bytes, buffer has %zu", need, cap);
}

long smpp_ucs2_to_utf8(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, smpp_error *err)
{
    size_t i = 0, o = 0, step;

    if (in_len & 1)
        return smpp_error_at(err, SMPP_ERR_UCS2, in_len - 1, 0,
                             "invalid UCS2 at byte %zu: odd length %zu", in_len - 1, in_len);
    while (i < in_len) {
        long v;
        uint32_t cp;

        if (in[i] == 0 && in[i + 1] < 0x80) {
            if (o >= cap)
                return ucs2_to_utf8_short(in, in_len, cap, err);
            out[o++] = in[i + 1];
            i += 2;
            continue;
        }
        v = ucs2_next(in, in_len, i, &step, err);
        if (v < 0)
            return v;
        cp = (uint32_t)v;
        if (cap - o < utf8_len(cp))
            return ucs2_to_utf8_short(in, in_len, cap, err);
        if (cp < 0x800) {
            out[o++] = (uint8_t)(0xC0 | (cp >> 6));
        } else if (cp < 0x10000) {
            out[o++] = (uint8_t)(0xE0 | (cp >> 12));
            out[o++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        } else {
            out[o++] = (uint8_t)(0xF0 | (cp >> 18));
            out[o++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        }
        out[o++] = (uint8_t)(0x80 | (cp & 0x3F));
        i += step;
    }
    return (long)o;
}
