/*
 * smpp_pdu.c - SMPP 3.4 PDU codec driven by one descriptor table per
 * command. No I/O, no allocation, no global mutable state.
 */
#include <string.h>

#include "smpp_pdu.h"

/* clang-format off */
/* clang-format can't lay out brace macros or one-per-line tables. */
#define FIELD(f, type, max, alt) {#f, (type), (max), (uint16_t)offsetof(smpp_pdu, f), (alt)}
#define CSTR(f, size) FIELD(f, SMPP_FT_CSTRING, (size), 0)
/* SMPP 3.4 7.1: absolute and relative times are empty or exactly 16 chars. */
#define DATE(f) FIELD(f, SMPP_FT_CSTRING, 17, 17)
#define U8(f) FIELD(f, SMPP_FT_U8, 1, 0)
#define SM(f) FIELD(f, SMPP_FT_SM, SMPP_MAX_SHORT_MESSAGE, 0)

/* SMPP 3.4 4.1.1, 4.1.3, 4.1.5: the three bind requests share a body. */
static const smpp_field bind_fields[] = {
    CSTR(system_id, 16),
    CSTR(password, 9),
    CSTR(system_type, 13),
    U8(interface_version),
    U8(addr_ton),
    U8(addr_npi),
    CSTR(address_range, 41),
};
/* clang-format on */

/* SMPP 3.4 4.1.2, 4.1.4, 4.1.6: system_id only (TLVs follow). */
static const smpp_field bind_resp_fields[] = {
    CSTR(system_id, 16),
};

/* SMPP 3.4 4.4.1 and 4.6.1: submit_sm and deliver_sm share a layout. */
static const smpp_field sm_fields[] = {
    CSTR(service_type, 6),
    U8(source_addr_ton),
    U8(source_addr_npi),
    CSTR(source_addr, 21),
    U8(dest_addr_ton),
    U8(dest_addr_npi),
    CSTR(destination_addr, 21),
    U8(esm_class),
    U8(protocol_id),
    U8(priority_flag),
    DATE(schedule_delivery_time),
    DATE(validity_period),
    U8(registered_delivery),
    U8(replace_if_present_flag),
    U8(data_coding),
    U8(sm_default_msg_id),
    SM(short_message),
};

/* SMPP 3.4 4.4.2 and 4.6.2. deliver_sm_resp's message_id is always empty
 * on the wire we send; on input any id up to 65 is accepted. */
static const smpp_field message_id_fields[] = {
    CSTR(message_id, 65),
};

/* SMPP 3.4 4.8.1. */
static const smpp_field query_sm_fields[] = {
    CSTR(message_id, 65),
    U8(source_addr_ton),
    U8(source_addr_npi),
    CSTR(source_addr, 21),
};

/* SMPP 3.4 4.8.2. */
static const smpp_field query_sm_resp_fields[] = {
    CSTR(message_id, 65),
    DATE(final_date),
    U8(message_state),
    U8(error_code),
};

typedef struct command_desc {
    uint32_t id;
    const char *name;
    const smpp_field *fields;
    size_t count;
} command_desc;

#define CMD(id, name, table)                                                                       \
    {                                                                                              \
        (id), (name), (table), sizeof(table) / sizeof((table)[0])                                  \
    }
#define CMD0(id, name)                                                                             \
    {                                                                                              \
        (id), (name), NULL, 0                                                                      \
    }

/* PROTOCOL.md, "Commands"; SMPP 3.4 5.1.2.1. */
static const command_desc commands[] = {
    CMD0(SMPP_GENERIC_NACK, "generic_nack"),
    CMD(SMPP_BIND_RECEIVER, "bind_receiver", bind_fields),
    CMD(SMPP_BIND_RECEIVER_RESP, "bind_receiver_resp", bind_resp_fields),
    CMD(SMPP_BIND_TRANSMITTER, "bind_transmitter", bind_fields),
    CMD(SMPP_BIND_TRANSMITTER_RESP, "bind_transmitter_resp", bind_resp_fields),
    CMD(SMPP_QUERY_SM, "query_sm", query_sm_fields),
    CMD(SMPP_QUERY_SM_RESP, "query_sm_resp", query_sm_resp_fields),
    CMD(SMPP_SUBMIT_SM, "submit_sm", sm_fields),
    CMD(SMPP_SUBMIT_SM_RESP, "submit_sm_resp", message_id_fields),
    CMD(SMPP_DELIVER_SM, "deliver_sm", sm_fields),
    CMD(SMPP_DELIVER_SM_RESP, "deliver_sm_resp", message_id_fields),
    CMD0(SMPP_UNBIND, "unbind"),
    CMD0(SMPP_UNBIND_RESP, "unbind_resp"),
    CMD(SMPP_BIND_TRANSCEIVER, "bind_transceiver", bind_fields),
    CMD(SMPP_BIND_TRANSCEIVER_RESP, "bind_transceiver_resp", bind_resp_fields),
    CMD0(SMPP_ENQUIRE_LINK, "enquire_link"),
    CMD0(SMPP_ENQUIRE_LINK_RESP, "enquire_link_resp"),
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

/* A switch, not a scan of the table: this runs once per PDU. */
static const command_desc *command_find(uint32_t id)
{
    size_t i;

    switch (id) {
    case SMPP_GENERIC_NACK:
        i = 0;
        break;
    case SMPP_BIND_RECEIVER:
        i = 1;
        break;
    case SMPP_BIND_RECEIVER_RESP:
        i = 2;
        break;
    case SMPP_BIND_TRANSMITTER:
        i = 3;
        break;
    case SMPP_BIND_TRANSMITTER_RESP:
        i = 4;
        break;
    case SMPP_QUERY_SM:
        i = 5;
        break;
    case SMPP_QUERY_SM_RESP:
        i = 6;
        break;
    case SMPP_SUBMIT_SM:
        i = 7;
        break;
    case SMPP_SUBMIT_SM_RESP:
        i = 8;
        break;
    case SMPP_DELIVER_SM:
        i = 9;
        break;
    case SMPP_DELIVER_SM_RESP:
        i = 10;
        break;
    case SMPP_UNBIND:
        i = 11;
        break;
    case SMPP_UNBIND_RESP:
        i = 12;
        break;
    case SMPP_BIND_TRANSCEIVER:
        i = 13;
        break;
    case SMPP_BIND_TRANSCEIVER_RESP:
        i = 14;
        break;
    case SMPP_ENQUIRE_LINK:
        i = 15;
        break;
    case SMPP_ENQUIRE_LINK_RESP:
        i = 16;
        break;
    default:
        return NULL;
    }
    return &commands[i];
}

static inline smpp_bytes *field_bytes(smpp_pdu *pdu, const smpp_field *f)
{
    return (smpp_bytes *)((char *)pdu + f->offset);
}

static inline const smpp_bytes *field_cbytes(const smpp_pdu *pdu, const smpp_field *f)
{
    return (const smpp_bytes *)((const char *)pdu + f->offset);
}

static inline uint8_t *field_u8(smpp_pdu *pdu, const smpp_field *f)
{
    return (uint8_t *)pdu + f->offset;
}

static inline uint8_t field_cu8(const smpp_pdu *pdu, const smpp_field *f)
{
    return *((const uint8_t *)pdu + f->offset);
}

static inline uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

const smpp_field *smpp_pdu_fields(uint32_t command_id, size_t *count)
{
    const command_desc *cmd = command_find(command_id);

    if (count != NULL)
        *count = cmd != NULL ? cmd->count : 0;
    if (cmd == NULL)
        return NULL;
    /* A bodiless command still gets a non-NULL table so NULL always means
     * "unknown command". */
    return cmd->fields != NULL ? cmd->fields : bind_fields;
}

const char *smpp_command_name(uint32_t command_id)
{
    const command_desc *cmd = command_find(command_id);

    return cmd != NULL ? cmd->name : NULL;
}

uint32_t smpp_command_id(const char *name, size_t len)
{
    size_t i;

    if (name == NULL)
        return 0;
    for (i = 0; i < COMMAND_COUNT; i++)
        if (strlen(commands[i].name) == len && memcmp(commands[i].name, name, len) == 0)
            return commands[i].id;
    return 0;
}

void smpp_pdu_clear(smpp_pdu *pdu)
{
    /* The TLV array is the bulk of the struct; tlv_count = 0 makes its
     * contents dead, so it is left alone. */
    memset(pdu, 0, offsetof(smpp_pdu, tlvs));
    pdu->has_body = 1;
}

long smpp_frame(const uint8_t *buf, size_t len, uint32_t max_len, smpp_error *err)
{
    uint32_t cmd_len;

    if (max_len == 0)
        max_len = SMPP_DEFAULT_MAX_PDU;
    if (len < 4)
        return 0;
    cmd_len = smpp_get_u32(buf);
    /* PROTOCOL.md, "Framing": a length under the header or over the cap
     * means the stream can't be trusted past this point. */
    if (cmd_len < SMPP_HEADER_LEN)
        return smpp_error_at(err, SMPP_ERR_FRAMING, 0, SMPP_HEADER_LEN,
                             "command_length %u is less than the 16-byte header", cmd_len);
    if (cmd_len > max_len)
        return smpp_error_at(err, SMPP_ERR_FRAMING, 0, max_len,
                             "command_length %u is over the cap of %u bytes", cmd_len, max_len);
    return len >= cmd_len ? (long)cmd_len : 0;
}

/* Size rules for the TLVs that have names (PROTOCOL.md, "TLVs that matter
 * here"; SMPP 3.4 5.3.2). Unknown tags are carried through unchecked. */
static int tlv_check(uint16_t tag, size_t len, size_t offset, smpp_error *err)
{
    switch (tag) {
    case SMPP_TLV_RECEIPTED_MESSAGE_ID:
        /* C-Octet String of 65; gateways may drop the NUL, so 1..65. */
        if (len == 0)
            return smpp_error_at(err, SMPP_ERR_FIELD, offset, 65,
                                 "receipted_message_id (TLV 0x001E at offset %zu): empty value",
                                 offset);
        if (len > 65)
            return smpp_error_at(
                err, SMPP_ERR_LIMIT, offset, 65,
                "receipted_message_id (TLV 0x001E at offset %zu): %zu bytes, limit 65", offset,
                len);
        return 0;
    case SMPP_TLV_MESSAGE_STATE:
    case SMPP_TLV_SC_INTERFACE_VERSION:
        if (len != 1)
            return smpp_error_at(err, SMPP_ERR_FIELD, offset, 1,
                                 "%s (TLV 0x%04X at offset %zu): %zu bytes, must be 1",
                                 tag == SMPP_TLV_MESSAGE_STATE ? "message_state"
                                                               : "sc_interface_version",
                                 (unsigned)tag, offset, len);
        return 0;
    case SMPP_TLV_NETWORK_ERROR_CODE:
        if (len != 3)
            return smpp_error_at(
                err, SMPP_ERR_FIELD, offset, 3,
                "network_error_code (TLV 0x0423 at offset %zu): %zu bytes, must be 3", offset, len);
        return 0;
    default:
        return 0;
    }
}

/* Error path of a C-Octet String decode: say why no acceptable NUL was
 * found in the first f->max bytes at buf[p..len). */
static int cstring_decode_error(const smpp_field *f, const uint8_t *buf, size_t p, size_t len,
                                smpp_error *err)
{
    const uint8_t *nul = memchr(buf + p, 0, len - p);
    size_t n;

    if (nul == NULL) {
        if (len - p < f->max)
            return smpp_error_at(err, SMPP_ERR_FIELD, p, f->max,
                                 "%s: no NUL before the PDU end (offset %zu)", f->name, p);
        return smpp_error_at(err, SMPP_ERR_FIELD, p, f->max, "%s: no NUL within %u bytes", f->name,
                             (unsigned)f->max);
    }
    n = (size_t)(nul - (buf + p));
    return smpp_error_at(err, SMPP_ERR_LIMIT, p, f->max, "%s: %zu bytes, limit %u (%u with NUL)",
                         f->name, n, (unsigned)f->max - 1, (unsigned)f->max);
}

int smpp_pdu_decode(smpp_pdu *pdu, const uint8_t *buf, size_t len, smpp_error *err)
{
    const command_desc *cmd;
    size_t p, i;

    smpp_pdu_clear(pdu);
    if (len < SMPP_HEADER_LEN)
        return smpp_error_at(err, SMPP_ERR_FRAMING, 0, SMPP_HEADER_LEN,
                             "PDU of %zu bytes is shorter than the 16-byte header", len);
    if (smpp_get_u32(buf) != len)
        return smpp_error_at(err, SMPP_ERR_FRAMING, 0, len, "command_length %u but %zu bytes given",
                             smpp_get_u32(buf), len);
    pdu->command_id = smpp_get_u32(buf + 4);
    pdu->command_status = smpp_get_u32(buf + 8);
    pdu->sequence_number = smpp_get_u32(buf + 12);

    cmd = command_find(pdu->command_id);
    if (cmd == NULL)
        return smpp_error_at(err, SMPP_ERR_UNKNOWN_COMMAND, 4, 0, "unknown command_id 0x%08X",
                             pdu->command_id);

    /* SMPP 3.4 allows a response without body when command_status != 0;
     * gateways also send one with status 0, so take it either way. */
    if (cmd->count != 0 && SMPP_IS_RESPONSE(pdu->command_id) && len == SMPP_HEADER_LEN) {
        pdu->has_body = 0;
        return 0;
    }

    p = SMPP_HEADER_LEN;
    for (i = 0; i < cmd->count; i++) {
        const smpp_field *f = &cmd->fields[i];
        smpp_bytes *b;
        const uint8_t *s;
        size_t n, room;

        switch (f->type) {
        case SMPP_FT_CSTRING:
            /* These strings are a few bytes long: a loop beats memchr. */
            room = len - p < f->max ? len - p : f->max;
            s = buf + p;
            for (n = 0; n < room && s[n] != 0; n++)
                ;
            if (n == room)
                return cstring_decode_error(f, buf, p, len, err);
            if (f->alt_size != 0 && n != 0 && n + 1 != f->alt_size)
                return smpp_error_at(err, SMPP_ERR_FIELD, p, f->alt_size,
                                     "%s: %zu chars, must be empty or %u", f->name, n,
                                     (unsigned)f->alt_size - 1);
            b = field_bytes(pdu, f);
            b->ptr = buf + p;
            b->len = n;
            p += n + 1;
            break;
        case SMPP_FT_U8:
            if (p >= len)
                return smpp_error_at(err, SMPP_ERR_FIELD, p, 1, "%s: PDU ends at offset %zu",
                                     f->name, p);
            *field_u8(pdu, f) = buf[p++];
            break;
        case SMPP_FT_SM:
            if (p >= len)
                return smpp_error_at(err, SMPP_ERR_FIELD, p, 1, "sm_length: PDU ends at offset %zu",
                                     p);
            n = buf[p++];
            /* SMPP 3.4 5.2.21: at most 254 octets. */
            if (n > f->max)
                return smpp_error_at(err, SMPP_ERR_LIMIT, p - 1, f->max, "sm_length: %zu, limit %u",
                                     n, (unsigned)f->max);
            if (n > len - p)
                return smpp_error_at(err, SMPP_ERR_FIELD, p - 1, len - p,
                                     "%s: sm_length %zu runs past the PDU end (%zu bytes left)",
                                     f->name, n, len - p);
            b = field_bytes(pdu, f);
            b->ptr = buf + p;
            b->len = n;
            p += n;
            break;
        }
    }

    /* SMPP 3.4 3.2.4: optional parameters fill the rest of the PDU. */
    while (p < len) {
        uint16_t tag, tlen;
        int rc;

        if (len - p < 4)
            return smpp_error_at(err, SMPP_ERR_FIELD, p, 4,
                                 "TLV header at offset %zu runs past the PDU end (%zu bytes left)",
                                 p, len - p);
        tag = get_u16(buf + p);
        tlen = get_u16(buf + p + 2);
        if (tlen > len - p - 4)
            return smpp_error_at(err, SMPP_ERR_FIELD, p, len - p - 4,
                                 "TLV 0x%04X at offset %zu: length %u runs past the PDU end",
                                 (unsigned)tag, p, (unsigned)tlen);
        if (pdu->tlv_count == SMPP_MAX_TLVS)
            return smpp_error_at(err, SMPP_ERR_LIMIT, p, SMPP_MAX_TLVS,
                                 "tlvs: more than %u TLVs (offset %zu)", SMPP_MAX_TLVS, p);
        rc = tlv_check(tag, tlen, p, err);
        if (rc < 0)
            return rc;
        pdu->tlvs[pdu->tlv_count].tag = tag;
        pdu->tlvs[pdu->tlv_count].len = tlen;
        pdu->tlvs[pdu->tlv_count].value = buf + p + 4;
        pdu->tlv_count++;
        p += 4u + tlen;
    }
    return 0;
}

/* Limits of one C-Octet String on encode; same rules as decode so that
 * whatever encodes also decodes. */
static int cstring_check(const smpp_field *f, const smpp_bytes *b, smpp_error *err)
{
    const uint8_t *nul;

    if (b->len + 1 > f->max)
        return smpp_error_at(err, SMPP_ERR_LIMIT, 0, f->max,
                             "%s: %zu bytes, limit %u (%u with NUL)", f->name, b->len,
                             (unsigned)f->max - 1, (unsigned)f->max);
    if (f->alt_size != 0 && b->len != 0 && b->len + 1 != f->alt_size)
        return smpp_error_at(err, SMPP_ERR_FIELD, 0, f->alt_size,
                             "%s: %zu chars, must be empty or %u", f->name, b->len,
                             (unsigned)f->alt_size - 1);
    nul = b->len != 0 ? memchr(b->ptr, 0, b->len) : NULL;
    if (nul != NULL)
        return smpp_error_at(err, SMPP_ERR_FIELD, (size_t)(nul - b->ptr), f->max,
                             "%s: NUL inside the string at byte %zu", f->name,
                             (size_t)(nul - b->ptr));
    return 0;
}

static int encodes_body(const smpp_pdu *pdu, const command_desc *cmd, smpp_error *err)
{
    if (cmd->count == 0 || !SMPP_IS_RESPONSE(pdu->command_id) || pdu->has_body)
        return 1;
    /* TLVs come after the mandatory body; without it they'd be misread. */
    if (pdu->tlv_count != 0)
        return smpp_error_at(err, SMPP_ERR_ARG, 0, 0, "%s: TLVs need a body (has_body is 0)",
                             cmd->name);
    return 0;
}

long smpp_pdu_encoded_size(const smpp_pdu *pdu, smpp_error *err)
{
    const command_desc *cmd = command_find(pdu->command_id);
    size_t size = SMPP_HEADER_LEN, i;
    int rc;

    if (cmd == NULL)
        return smpp_error_at(err, SMPP_ERR_ARG, 0, 0, "can't encode unknown command_id 0x%08X",
                             pdu->command_id);
    if (pdu->tlv_count > SMPP_MAX_TLVS)
        return smpp_error_at(err, SMPP_ERR_LIMIT, 0, SMPP_MAX_TLVS, "tlvs: %zu TLVs, limit %u",
                             pdu->tlv_count, SMPP_MAX_TLVS);
    rc = encodes_body(pdu, cmd, err);
    if (rc <= 0)
        return rc < 0 ? rc : (long)size;
    for (i = 0; i < cmd->count; i++) {
        const smpp_field *f = &cmd->fields[i];
        const smpp_bytes *b;

        switch (f->type) {
        case SMPP_FT_CSTRING:
            b = field_cbytes(pdu, f);
            rc = cstring_check(f, b, err);
            if (rc < 0)
                return rc;
            size += b->len + 1;
            break;
        case SMPP_FT_U8:
            size++;
            break;
        case SMPP_FT_SM:
            b = field_cbytes(pdu, f);
            if (b->len > f->max)
                return smpp_error_at(err, SMPP_ERR_LIMIT, 0, f->max, "%s: %zu octets, limit %u",
                                     f->name, b->len, (unsigned)f->max);
            size += 1 + b->len;
            break;
        }
    }
    for (i = 0; i < pdu->tlv_count; i++) {
        rc = tlv_check(pdu->tlvs[i].tag, pdu->tlvs[i].len, size, err);
        if (rc < 0)
            return rc;
        size += 4u + pdu->tlvs[i].len;
    }
    return (long)size;
}

long smpp_pdu_encode(const smpp_pdu *pdu, uint8_t *out, size_t cap, smpp_error *err)
{
    const command_desc *cmd = command_find(pdu->command_id);
    size_t p = SMPP_HEADER_LEN, i, k;
    long need;
    int rc;

    if (cmd == NULL)
        return smpp_error_at(err, SMPP_ERR_ARG, 0, 0, "can't encode unknown command_id 0x%08X",
                             pdu->command_id);
    if (pdu->tlv_count > SMPP_MAX_TLVS)
        return smpp_error_at(err, SMPP_ERR_LIMIT, 0, SMPP_MAX_TLVS, "tlvs: %zu TLVs, limit %u",
                             pdu->tlv_count, SMPP_MAX_TLVS);
    if (cap < SMPP_HEADER_LEN)
        goto too_small;
    rc = encodes_body(pdu, cmd, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        goto header;

    for (i = 0; i < cmd->count; i++) {
        const smpp_field *f = &cmd->fields[i];
        const smpp_bytes *b;

        switch (f->type) {
        case SMPP_FT_CSTRING:
            b = field_cbytes(pdu, f);
            if (b->len + 1 > f->max ||
                (f->alt_size != 0 && b->len != 0 && b->len + 1 != f->alt_size))
                return cstring_check(f, b, err);
            if (b->len + 1 > cap - p)
                goto too_small;
            /* Copy and look for a NUL inside in one pass; short strings. */
            for (k = 0; k < b->len; k++) {
                if (b->ptr[k] == 0)
                    return cstring_check(f, b, err);
                out[p + k] = b->ptr[k];
            }
            p += b->len;
            out[p++] = 0;
            break;
        case SMPP_FT_U8:
            if (p >= cap)
                goto too_small;
            out[p++] = field_cu8(pdu, f);
            break;
        case SMPP_FT_SM:
            b = field_cbytes(pdu, f);
            if (b->len > f->max)
                return smpp_error_at(err, SMPP_ERR_LIMIT, 0, f->max, "%s: %zu octets, limit %u",
                                     f->name, b->len, (unsigned)f->max);
            if (b->len + 1 > cap - p)
                goto too_small;
            out[p++] = (uint8_t)b->len;
            if (b->len != 0)
                memcpy(out + p, b->ptr, b->len);
            p += b->len;
            break;
        }
    }
    for (i = 0; i < pdu->tlv_count; i++) {
        const smpp_tlv *t = &pdu->tlvs[i];

        rc = tlv_check(t->tag, t->len, p, err);
        if (rc < 0)
            return rc;
        if (4u + t->len > cap - p)
            goto too_small;
        put_u16(out + p, t->tag);
        put_u16(out + p + 2, t->len);
        if (t->len != 0)
            memcpy(out + p + 4, t->value, t->len);
        p += 4u + t->len;
    }

header:
    smpp_put_u32(out, (uint32_t)p);
    smpp_put_u32(out + 4, pdu->command_id);
    smpp_put_u32(out + 8, pdu->command_status);
    smpp_put_u32(out + 12, pdu->sequence_number);
    return (long)p;

too_small:
    /* A broken limit further on wins over the short buffer: "checks every
     * limit first". */
    need = smpp_pdu_encoded_size(pdu, err);
    if (need < 0)
        return need;
    return smpp_error_at(err, SMPP_ERR_BUFFER, 0, (size_t)need,
                         "buffer of %zu bytes, PDU needs %ld", cap, need);
}

const smpp_tlv *smpp_pdu_find_tlv(const smpp_pdu *pdu, uint16_t tag)
{
    size_t i;

    for (i = 0; i < pdu->tlv_count; i++)
        if (pdu->tlvs[i].tag == tag)
            return &pdu->tlvs[i];
    return NULL;
}

int smpp_pdu_add_tlv(smpp_pdu *pdu, uint16_t tag, const void *value, size_t len, smpp_error *err)
{
    if (pdu->tlv_count >= SMPP_MAX_TLVS)
        return smpp_error_at(err, SMPP_ERR_LIMIT, 0, SMPP_MAX_TLVS, "tlvs: more than %u TLVs",
                             SMPP_MAX_TLVS);
    /* SMPP 3.4 3.2.4: the length field is 2 octets. */
    if (len > 0xFFFF)
        return smpp_error_at(err, SMPP_ERR_LIMIT, 0, 0xFFFF, "TLV 0x%04X: %zu bytes, limit 65535",
                             (unsigned)tag, len);
    pdu->tlvs[pdu->tlv_count].tag = tag;
    pdu->tlvs[pdu->tlv_count].len = (uint16_t)len;
    pdu->tlvs[pdu->tlv_count].value = value;
    pdu->tlv_count++;
    return 0;
}

void smpp_pdu_defaults(smpp_pdu *pdu, uint32_t command_id)
{
    smpp_pdu_clear(pdu);
    pdu->command_id = command_id;
    pdu->service_type.ptr = (const uint8_t *)"MSG";
    pdu->service_type.len = 3;
    pdu->source_addr_ton = 1;
    pdu->source_addr_npi = 1;
    pdu->dest_addr_ton = 1;
    pdu->dest_addr_npi = 1;
    if (command_id == SMPP_SUBMIT_SM)
        pdu->registered_delivery = 1;
}
