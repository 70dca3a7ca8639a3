/*
 * smpp_receipt.c - delivery receipt text (SMPP 3.4 Appendix B), parsed
 * leniently and formatted canonically. No allocation, no snprintf.
 */
#include <string.h>

#include "smpp_receipt.h"

typedef struct receipt_key {
    const char *name; /* lowercase; ' ' also matches '_' */
    uint8_t len;
    uint8_t slot; /* index into the smpp_receipt fields, in struct order */
} receipt_key;

enum { SLOT_ID, SLOT_SUB, SLOT_DLVRD, SLOT_SUBMIT, SLOT_DONE, SLOT_STAT, SLOT_ERR, SLOT_TEXT };

#define KEY(s, slot)                                                                               \
    {                                                                                              \
        (s), sizeof(s) - 1, (slot)                                                                 \
    }

/* Canonical order and spelling: SMPP 3.4 Appendix B. */
static const receipt_key keys[] = {
    KEY("id:", SLOT_ID),          KEY("sub:", SLOT_SUB),
    KEY("dlvrd:", SLOT_DLVRD),    KEY("submit date:", SLOT_SUBMIT),
    KEY("done date:", SLOT_DONE), KEY("stat:", SLOT_STAT),
    KEY("err:", SLOT_ERR),        KEY("text:", SLOT_TEXT),
};

#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]))

static inline smpp_bytes *slot_field(smpp_receipt *r, unsigned slot)
{
    switch (slot) {
    case SLOT_ID:
        return &r->id;
    case SLOT_SUB:
        return &r->sub;
    case SLOT_DLVRD:
        return &r->dlvrd;
    case SLOT_SUBMIT:
        return &r->submit_date;
    case SLOT_DONE:
        return &r->done_date;
    case SLOT_STAT:
        return &r->stat;
    case SLOT_ERR:
        return &r->err;
    default:
        return &r->text;
    }
}

static inline const smpp_bytes *slot_cfield(const smpp_receipt *r, unsigned slot)
{
    return slot_field((smpp_receipt *)r, slot);
}

/* Case-insensitive match of key k at s (n bytes left); the space in
 * "submit date:" also matches '_', seen from some SMSCs. */
static int key_match_ci(const receipt_key *k, const uint8_t *s, size_t n)
{
    size_t i;

    if (n < k->len)
        return 0;
    for (i = 0; i < k->len; i++) {
        uint8_t c = s[i], want = (uint8_t)k->name[i];

        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + ('a' - 'A'));
        if (c != want && !(want == ' ' && c == '_'))
            return 0;
    }
    return 1;
}

static inline uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* The exact lowercase spelling, which nearly every SMSC sends; a literal
 * length lets the compiler turn memcmp into a couple of word compares. */
#define EXACT(lit, slot)                                                                           \
    do {                                                                                           \
        if (n >= sizeof(lit) - 1 && memcmp(s, lit, sizeof(lit) - 1) == 0)                          \
            return &keys[slot];                                                                    \
    } while (0)

/* Which key starts at s (n >= 1 bytes left); NULL for none. The first
 * letters pick the one candidate; other spellings go the slow way. */
static const receipt_key *key_find(const uint8_t *s, size_t n)
{
    const receipt_key *k;

    switch (lower(s[0])) {
    case 'i':
        EXACT("id:", SLOT_ID);
        k = &keys[SLOT_ID];
        break;
    case 'd':
        EXACT("dlvrd:", SLOT_DLVRD);
        EXACT("done date:", SLOT_DONE);
        if (n < 2)
            return NULL;
        k = lower(s[1]) == 'l' ? &keys[SLOT_DLVRD] : &keys[SLOT_DONE];
        break;
    case 's':
        EXACT("sub:", SLOT_SUB);
        EXACT("stat:", SLOT_STAT);
        EXACT("submit date:", SLOT_SUBMIT);
        if (n < 4)
            return NULL;
        if (lower(s[1]) == 't')
            k = &keys[SLOT_STAT];
        else
            k = lower(s[3]) == 'm' ? &keys[SLOT_SUBMIT] : &keys[SLOT_SUB];
        break;
    case 'e':
        EXACT("err:", SLOT_ERR);
        k = &keys[SLOT_ERR];
        break;
    case 't':
        EXACT("text:", SLOT_TEXT);
        k = &keys[SLOT_TEXT];
        break;
    default:
        return NULL;
    }
    return key_match_ci(k, s, n) ? k : NULL;
}

/* Index of the next space at or after i, or len. Values are a few bytes
 * long, so a plain loop beats a call to memchr. */
static inline size_t token_end(const uint8_t *text, size_t i, size_t len)
{
    while (i < len && text[i] != ' ')
        i++;
    return i;
}

/* SMPP 3.4 Appendix B leaves sub, dlvrd and err as 3 digits; "001" and
 * "000" are what a single delivered message reports. */
static const char *default_value(unsigned slot)
{
    switch (slot) {
    case SLOT_SUB:
    case SLOT_DLVRD:
        return "001";
    case SLOT_ERR:
        return "000";
    default:
        return NULL;
    }
}

int smpp_receipt_parse(const uint8_t *text, size_t len, smpp_receipt *r)
{
    unsigned seen = 0;
    int found = 0;
    size_t i = 0;

    memset(r, 0, sizeof(*r));
    while (i < len) {
        const receipt_key *k;
        smpp_bytes *f;
        size_t end;

        if (text[i] == ' ') {
            i++;
            continue;
        }
        k = key_find(text + i, len - i);
        if (k == NULL) {
            /* An unknown token ("foo:bar"): skip it. */
            i = token_end(text, i, len);
            continue;
        }
        i += k->len;
        /* text: runs to the end, spaces and all. */
        end = k->slot == SLOT_TEXT ? len : token_end(text, i, len);
        f = slot_field(r, k->slot);
        /* The first occurrence wins. */
        if (!(seen & (1u << k->slot))) {
            seen |= 1u << k->slot;
            f->ptr = text + i;
            f->len = end - i;
            found++;
        }
        i = end;
    }
    /* Header: 0 means "not a receipt" (neither id: nor stat:). */
    if (!(seen & ((1u << SLOT_ID) | (1u << SLOT_STAT))))
        return 0;
    return found;
}

long smpp_receipt_format(const smpp_receipt *r, uint8_t *out, size_t cap, smpp_error *err)
{
    size_t o = 0, need = 0, k;

    /* Measure first: no partial output on error. A space inside any value
     * but text would not parse back as the same field. */
    for (k = 0; k < KEY_COUNT; k++) {
        const smpp_bytes *f = slot_cfield(r, keys[k].slot);
        const char *def = default_value(keys[k].slot);

        if (keys[k].slot != SLOT_TEXT && f->len != 0 && memchr(f->ptr, ' ', f->len) != NULL)
            return smpp_error_set(err, SMPP_ERR_FIELD, "receipt field %.*s has a space in it",
                                  (int)keys[k].len - 1, keys[k].name);
        need += (k != 0) + keys[k].len + (f->len == 0 && def != NULL ? strlen(def) : f->len);
    }
    if (need > cap) {
        smpp_error_set(err, SMPP_ERR_BUFFER, "receipt needs %zu bytes, buffer has %zu", need, cap);
        if (err != NULL)
            err->limit = need;
        return SMPP_ERR_BUFFER;
    }
    for (k = 0; k < KEY_COUNT; k++) {
        const smpp_bytes *f = slot_cfield(r, keys[k].slot);
        const char *def = default_value(keys[k].slot);
        const void *v = f->ptr;
        size_t vlen = f->len;

        if (vlen == 0 && def != NULL) {
            v = def;
            vlen = strlen(def);
        }
        if (k != 0)
            out[o++] = ' ';
        memcpy(out + o, keys[k].name, keys[k].len);
        o += keys[k].len;
        if (vlen != 0)
            memcpy(out + o, v, vlen);
        o += vlen;
    }
    return (long)o;
}

/* ---- receipts in a deliver_sm ------------------------------------------ */

/* The receipt text: short_message, or message_payload when short_message is
 * empty (PROTOCOL.md: longer messages travel in TLV 0x0424). */
static smpp_bytes receipt_text(const smpp_pdu *d)
{
    smpp_bytes b = d->short_message;

    if (b.len == 0) {
        const smpp_tlv *p = smpp_pdu_find_tlv(d, SMPP_TLV_MESSAGE_PAYLOAD);

        if (p != NULL) {
            b.ptr = p->value;
            b.len = p->len;
        }
    }
    return b;
}

/* The receipt-text stat word for a message_state (SMPP 3.4 Appendix B and
 * 5.2.28), for receipts that carry the TLV but no text. */
static const char *stat_for_state(int state)
{
    static const char *const stats[] = {"ENROUTE", "DELIVRD", "EXPIRED", "DELETED",
                                        "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD"};

    return state >= 1 && state <= 8 ? stats[state - 1] : NULL;
}

/* b equals the upper-case literal up, in any case. */
static int equal_upper(const smpp_bytes *b, const char *up, size_t n)
{
    size_t i;

    if (b->len != n)
        return 0;
    for (i = 0; i < n; i++) {
        uint8_t c = b->ptr[i];

        if ((c >= 'a' && c <= 'z' ? (uint8_t)(c - 'a' + 'A') : c) != (uint8_t)up[i])
            return 0;
    }
    return 1;
}

smpp_bytes smpp_receipt_stat(const smpp_receipt *r, uint8_t *buf, size_t cap)
{
    smpp_bytes up = r->stat;
    size_t i;

    if (r->stat.ptr == NULL || r->stat.len > cap)
        return up;
    for (i = 0; i < r->stat.len; i++) {
        uint8_t c = r->stat.ptr[i];

        buf[i] = c >= 'a' && c <= 'z' ? (uint8_t)(c - 'a' + 'A') : c;
    }
    up.ptr = buf;
    return up;
}

int smpp_receipt_is_final(int message_state, const smpp_bytes *stat)
{
    if (message_state >= 0)
        return message_state != 1 && message_state != 6;
    if (stat == NULL)
        return 1;
    return !equal_upper(stat, "ENROUTE", 7) && !equal_upper(stat, "ACCEPTD", 7);
}

int smpp_receipt_from_pdu(const smpp_pdu *deliver, smpp_receipt_pdu *r)
{
    const smpp_tlv *id, *state, *neterr;
    int found = 0;

    memset(r, 0, sizeof(*r));
    r->message_state = -1;
    if (deliver->command_id != SMPP_DELIVER_SM)
        return 0;
    r->raw = receipt_text(deliver);
    if (r->raw.len != 0)
        found = smpp_receipt_parse(r->raw.ptr, r->raw.len, &r->text);
    id = smpp_pdu_find_tlv(deliver, SMPP_TLV_RECEIPTED_MESSAGE_ID);
    state = smpp_pdu_find_tlv(deliver, SMPP_TLV_MESSAGE_STATE);
    if (found == 0 && id == NULL && state == NULL)
        return 0;

    if (id != NULL) {
        /* A C-Octet String; some gateways drop its NUL. */
        r->message_id.ptr = id->value;
        r->message_id.len = id->len > 0 && id->value[id->len - 1] == 0 ? id->len - 1u : id->len;
    } else {
        r->message_id = r->text.id;
    }
    if (state != NULL && state->len == 1)
        r->message_state = state->value[0];
    r->stat = smpp_receipt_stat(&r->text, r->stat_buf, sizeof(r->stat_buf));
    if (r->stat.ptr == NULL && stat_for_state(r->message_state) != NULL) {
        r->stat.ptr = (const uint8_t *)stat_for_state(r->message_state);
        r->stat.len = strlen((const char *)r->stat.ptr);
    }
    neterr = smpp_pdu_find_tlv(deliver, SMPP_TLV_NETWORK_ERROR_CODE);
    if (neterr != NULL && neterr->len == 3)
        r->network_error_code = neterr->value;
    r->final = smpp_receipt_is_final(r->message_state, &r->stat);
    return 1;
}
