/*
 * fuzz_text.c - libFuzzer target for UTF-8 <-> UCS2: smpp_utf8_check
 * agrees with smpp_utf8_to_ucs2 (same verdict, same offset), valid UTF-8
 * round-trips through UCS2 exactly, and so does valid UCS2 through UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp_text.h"

#define MAX_IN 65536

static uint8_t ucs2[2 * MAX_IN], utf8[2 * MAX_IN], back[2 * MAX_IN];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smpp_error e1, e2;
    int c;
    long u, b;

    if (size > MAX_IN)
        return 0;
    c = smpp_utf8_check(data, size, &e1);
    u = smpp_utf8_to_ucs2(data, size, ucs2, sizeof(ucs2), &e2);
    if ((c == 0) != (u >= 0))
        abort();
    if (c != 0 &&
        (c != SMPP_ERR_UTF8 || u != SMPP_ERR_UTF8 || e1.offset != e2.offset || e1.offset >= size))
        abort();
    if (c == 0) {
        if ((size_t)u > 2 * size)
            abort();
        b = smpp_ucs2_to_utf8(ucs2, (size_t)u, back, sizeof(back), &e1);
        if (b < 0 || (size_t)b != size || memcmp(back, data, size) != 0)
            abort();
    }

    /* The same bytes read as UCS2. */
    u = smpp_ucs2_to_utf8(data, size, utf8, sizeof(utf8), &e1);
    if (u >= 0) {
        if ((size_t)u > 3 * size / 2 || smpp_utf8_check(utf8, (size_t)u, NULL) != 0)
            abort();
        b = smpp_utf8_to_ucs2(utf8, (size_t)u, back, sizeof(back), &e2);
        if (b < 0 || (size_t)b != size || memcmp(back, data, size) != 0)
            abort();
    } else if (u != SMPP_ERR_UCS2 || e1.offset >= size) {
        abort();
    }
    return 0;
}
