/*
 * fuzz_decode.c - libFuzzer target: frame and decode arbitrary bytes.
 * Whatever decodes must encode back to the very same bytes; receipt text
 * and UCS2 in short_message are parsed too. Decode must never read past
 * its input (ASan) nor hand out pointers outside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp_pdu.h"
#include "smpp_receipt.h"
#include "smpp_text.h"

#define MAX_PDU (SMPP_DEFAULT_MAX_PDU + 16)

static uint8_t out[MAX_PDU];
static uint8_t patched[MAX_PDU];
static uint8_t text[3 * 256];

static int inside(const uint8_t *base, size_t len, const uint8_t *p, size_t n)
{
    return n == 0 || (p >= base && n <= len && (size_t)(p - base) <= len - n);
}

static void check_pdu(const uint8_t *buf, size_t len)
{
    smpp_pdu d;
    smpp_error err;
    smpp_receipt r;
    size_t count, i;
    const smpp_field *f;
    long n;
    int rc = smpp_pdu_decode(&d, buf, len, &err);

    if (rc != 0) {
        if (rc >= 0 || err.msg[0] == '\0')
            abort();
        return;
    }
    f = smpp_pdu_fields(d.command_id, &count);
    for (i = 0; i < count; i++) {
        const smpp_bytes *b = (const smpp_bytes *)((const char *)&d + f[i].offset);

        if (f[i].type != SMPP_FT_U8 && !inside(buf, len, b->ptr, b->len))
            abort();
    }
    for (i = 0; i < d.tlv_count; i++)
        if (!inside(buf, len, d.tlvs[i].value, d.tlvs[i].len))
            abort();

    /* The round-trip rule: decode then encode gives back the input. */
    n = smpp_pdu_encode(&d, out, sizeof(out), &err);
    if (n < 0 || (size_t)n != len || memcmp(out, buf, len) != 0)
        abort();
    if (smpp_pdu_encoded_size(&d, &err) != n)
        abort();

    if (d.short_message.len != 0) {
        smpp_receipt_parse(d.short_message.ptr, d.short_message.len, &r);
        if (!inside(d.short_message.ptr, d.short_message.len, r.id.ptr, r.id.len) ||
            !inside(d.short_message.ptr, d.short_message.len, r.text.ptr, r.text.len))
            abort();
        smpp_ucs2_to_utf8(d.short_message.ptr, d.short_message.len, text, sizeof(text), &err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    /* As a stream: frame, decode, move on. */
    while (off < size) {
        smpp_error err;
        long l = smpp_frame(data + off, size - off, 0, &err);

        if (l < 0 && !smpp_is_fatal((int)l))
            abort();
        if (l <= 0)
            break;
        if (l < (long)SMPP_HEADER_LEN || (size_t)l > size - off)
            abort();
        check_pdu(data + off, (size_t)l);
        off += (size_t)l;
    }

    /* As one PDU with command_length patched to fit, so that bodies get
     * explored without the fuzzer having to guess the length. */
    if (size >= SMPP_HEADER_LEN && size <= SMPP_DEFAULT_MAX_PDU) {
        memcpy(patched, data, size);
        smpp_put_u32(patched, (uint32_t)size);
        check_pdu(patched, size);
    }
    return 0;
}
