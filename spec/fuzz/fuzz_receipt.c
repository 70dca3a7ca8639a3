/*
 * fuzz_receipt.c - libFuzzer target for the receipt parser: it never
 * crashes, every slice it returns lies inside the input, and format then
 * parse of what it found is stable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp_receipt.h"

static uint8_t out1[2 * 65536], out2[2 * 65536];

static int inside(const uint8_t *base, size_t len, smpp_bytes b)
{
    if (b.len == 0)
        return b.ptr == NULL || (b.ptr >= base && b.ptr <= base + len);
    return b.ptr >= base && b.len <= len && (size_t)(b.ptr - base) <= len - b.len;
}

static int same(smpp_bytes a, smpp_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smpp_receipt r, r2;
    smpp_error err;
    long n, m;
    int found = smpp_receipt_parse(data, size, &r);

    if (found < 0 || found > 8)
        abort();
    if (!inside(data, size, r.id) || !inside(data, size, r.sub) || !inside(data, size, r.dlvrd) ||
        !inside(data, size, r.submit_date) || !inside(data, size, r.done_date) ||
        !inside(data, size, r.stat) || !inside(data, size, r.err) || !inside(data, size, r.text))
        abort();
    if (size > 65536)
        return 0;

    /* Values the parser found never contain a space (but text), so they
     * always format; parsing that gives every field back. */
    n = smpp_receipt_format(&r, out1, sizeof(out1), &err);
    if (n < 0)
        abort();
    if (smpp_receipt_parse(out1, (size_t)n, &r2) != 8)
        abort();
    if (!same(r.id, r2.id) || !same(r.submit_date, r2.submit_date) ||
        !same(r.done_date, r2.done_date) || !same(r.stat, r2.stat) || !same(r.text, r2.text))
        abort();
    if ((r.sub.len != 0 && !same(r.sub, r2.sub)) ||
        (r.dlvrd.len != 0 && !same(r.dlvrd, r2.dlvrd)) || (r.err.len != 0 && !same(r.err, r2.err)))
        abort();
    /* And from there on, format is a fixed point. */
    m = smpp_receipt_format(&r2, out2, sizeof(out2), &err);
    if (m != n || memcmp(out1, out2, (size_t)n) != 0)
        abort();
    return 0;
}
