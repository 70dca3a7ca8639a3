/*
 * test_codec.c - the codec's C specs: golden vectors, round trips, stream
 * splits and every error path. argv[1] is spec/fixtures.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "smpp_error.h"
#include "smpp_pdu.h"
#include "smpp_receipt.h"
#include "smpp_status.h"
#include "smpp_text.h"

#define CHECK_BYTES(b, s) CHECK_MEM((b).ptr, (b).len, (s), strlen(s))
#define CHECK_MSG(err, s) CHECK_MSG_((err), (s), __FILE__, __LINE__)

static void CHECK_MSG_(const smpp_error *err, const char *want, const char *file, int line)
{
    if (strstr(err->msg, want) == NULL) {
        char m[400];

        snprintf(m, sizeof(m), "error message \"%s\" lacks \"%s\"", err->msg, want);
        harness_fail(file, line, m);
    }
}

static smpp_bytes S(const char *s)
{
    smpp_bytes b = {(const uint8_t *)s, strlen(s)};
    return b;
}

static smpp_bytes B(const void *p, size_t n)
{
    smpp_bytes b = {p, n};
    return b;
}

static long load(const char *name, uint8_t *buf, size_t cap)
{
    char rel[128];
    long n;

    snprintf(rel, sizeof(rel), "pdu/%s.hex", name);
    n = harness_load_hex(harness_path(rel), buf, cap);
    if (n < 0)
        fprintf(stderr, "  cannot load %s\n", harness_path(rel));
    return n;
}

/* Deterministic PRNG (xorshift64*), so a failure replays. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static uint32_t rnd_below(uint32_t n)
{
    return n ? rnd() % n : 0;
}

/*
 * The heart of every golden test: the struct encodes to the file's bytes,
 * the file decodes without error, and the decoded struct encodes back to
 * the same bytes. *out receives the decoded pdu (borrowing from buf).
 */
static void golden(const char *name, const smpp_pdu *built, uint8_t *buf, size_t cap, smpp_pdu *out)
{
    uint8_t enc[1024];
    smpp_error err = {0};
    long n = load(name, buf, cap), m;
    int rc;

    CHECK(n >= 16);
    if (n < 16)
        return;
    m = smpp_pdu_encode(built, enc, sizeof(enc), &err);
    CHECK_EQ_INT(m, n);
    if (m > 0)
        CHECK_MEM(enc, (size_t)m, buf, (size_t)n);
    CHECK_EQ_INT(smpp_pdu_encoded_size(built, &err), n);
    CHECK_EQ_INT(smpp_frame(buf, (size_t)n, 0, &err), n);
    rc = smpp_pdu_decode(out, buf, (size_t)n, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "  %s: %s\n", name, err.msg);
    m = smpp_pdu_encode(out, enc, sizeof(enc), &err);
    CHECK_EQ_INT(m, n);
    if (m > 0)
        CHECK_MEM(enc, (size_t)m, buf, (size_t)n);
}

static void header(smpp_pdu *p, uint32_t id, uint32_t status, uint32_t seq)
{
    smpp_pdu_clear(p);
    p->command_id = id;
    p->command_status = status;
    p->sequence_number = seq;
}

static const char otp_json[] = "{\"id\":\"otp-login\",\"language\":\"default\",\"code\":\"123456\","
                               "\"params\":{\"app\":\"Acme\"}}";
static const char receipt_text[] = "id:0123456789abcdef sub:001 dlvrd:001 submit date:2611251200 "
                                   "done date:2611251201 stat:DELIVRD err:000 text:";

/* ---- golden vectors ------------------------------------------------------ */

TEST(golden_generic_nack)
{
    uint8_t buf[256];
    smpp_pdu p, d;

    header(&p, SMPP_GENERIC_NACK, SMPP_ESME_RINVCMDID, 7);
    golden("generic_nack", &p, buf, sizeof(buf), &d);
    CHECK_EQ_INT(d.command_id, SMPP_GENERIC_NACK);
    CHECK_EQ_INT(d.command_status, 3);
    CHECK_EQ_INT(d.sequence_number, 7);
    CHECK_EQ_INT(d.tlv_count, 0);
}

TEST(golden_bind_transceiver)
{
    uint8_t buf[256];
    smpp_pdu p, d;

    header(&p, SMPP_BIND_TRANSCEIVER, 0, 1);
    p.system_id = S("test");
    p.password = S("secret");
    p.interface_version = 0x34;
    golden("bind_transceiver", &p, buf, sizeof(buf), &d);
    CHECK_BYTES(d.system_id, "test");
    CHECK_BYTES(d.password, "secret");
    CHECK_EQ_INT(d.system_type.len, 0);
    CHECK_EQ_INT(d.interface_version, 0x34);
    CHECK_EQ_INT(d.address_range.len, 0);
    CHECK_EQ_INT(d.has_body, 1);
}

TEST(golden_bind_transceiver_resp_with_sc_interface_version)
{
    uint8_t buf[256], v = 0x34;
    smpp_pdu p, d;
    const smpp_tlv *t;

    header(&p, SMPP_BIND_TRANSCEIVER_RESP, 0, 1);
    p.system_id = S("test");
    CHECK_EQ_INT(smpp_pdu_add_tlv(&p, SMPP_TLV_SC_INTERFACE_VERSION, &v, 1, NULL), 0);
    golden("bind_transceiver_resp", &p, buf, sizeof(buf), &d);
    CHECK_BYTES(d.system_id, "test");
    CHECK_EQ_INT(d.tlv_count, 1);
    t = smpp_pdu_find_tlv(&d, SMPP_TLV_SC_INTERFACE_VERSION);
    CHECK(t != NULL);
    if (t != NULL) {
        CHECK_EQ_INT(t->len, 1);
        CHECK_EQ_INT(t->value[0], 0x34);
    }
    CHECK(smpp_pdu_find_tlv(&d, SMPP_TLV_MESSAGE_STATE) == NULL);
}

TEST(golden_bind_transceiver_resp_without_body)
{
    uint8_t buf[256];
    smpp_pdu p, d;

    header(&p, SMPP_BIND_TRANSCEIVER_RESP, SMPP_ESME_RINVPASWD, 1);
    p.has_body = 0;
    golden("bind_transceiver_resp_nobody", &p, buf, sizeof(buf), &d);
    CHECK_EQ_INT(d.has_body, 0);
    CHECK_EQ_INT(d.command_status, 0x0E);
    CHECK_EQ_INT(d.system_id.len, 0);
}

TEST(golden_bind_transmitter_and_resp)
{
    uint8_t buf[256];
    smpp_pdu p, d;

    header(&p, SMPP_BIND_TRANSMITTER, 0, 2);
    p.system_id = S("esme1");
    p.password = S("pw");
    p.system_type = S("OTP");
    p.interface_version = 0x34;
    p.addr_ton = 1;
    p.addr_npi = 1;
    golden("bind_transmitter", &p, buf, sizeof(buf), &d);
    CHECK_BYTES(d.system_type, "OTP");
    CHECK_EQ_INT(d.addr_ton, 1);
    CHECK_EQ_INT(d.addr_npi, 1);

    header(&p, SMPP_BIND_TRANSMITTER_RESP, 0, 2);
    p.system_id = S("SMSC");
    golden("bind_transmitter_resp", &p, buf, sizeof(buf), &d);
    CHECK_BYTES(d.system_id, "SMSC");
    CHECK_EQ_INT(d.sequence_number, 2);
}

TEST(golden_bind_receiver_and_resp)
{
    uint8_t buf[256];
    smpp_pdu p, d;

    header(&p, SMPP_BIND_RECEIVER, 0, 3);
    p.system_id = S("esme1");
    p.password = S("pw");
    p.interface_version = 0x34;
    p.address_range = S("+65");
    golden("bind_receiver", &p, buf, sizeof(buf), &d);
    CHECK_BYTES(d.address_range, "+65");
    CHECK_EQ_INT(d.command_id, SMPP_BIND_RECEIVER);

    header(&p, SMPP_BIND_RECEIVER_RESP, 0, 3);
    p.system_id = S("SMSC");
    golden("bind_receiver_resp", &p, buf, sizeof(buf), &d);
    CHECK_BYTES(d.system_id, "SMSC");
}

static void build_otp_submit(smpp_pdu *p, uint8_t *ucs2, size_t cap)
{
    long n = smpp_utf8_to_ucs2((const uint8_t *)otp_json, strlen(otp_json), ucs2, cap, NULL);

    CHECK_EQ_INT(n, 158);
    header(p, SMPP_SUBMIT_SM, 0, 1);
    p->service_type = S("CODE");
    p->source_addr_ton = 1;
    p->source_addr_npi = 1;
    p->dest_addr_ton = 1;
    p->dest_addr_npi = 1;
    p->destination_addr = S("+6598765432");
    p->registered_delivery = 1;
    p->data_coding = 8;
    p->short_message = B(ucs2, n > 0 ? (size_t)n : 0);
}

TEST(golden_submit_sm_ucs2_otp)
{
    uint8_t buf[512], ucs2[256], utf8[256];
    smpp_pdu p, d;
    long n;

    build_otp_submit(&p, ucs2, sizeof(ucs2));
    golden("submit_sm", &p, buf, sizeof(buf), &d);
    CHECK_BYTES(d.service_type, "CODE");
    CHECK_EQ_INT(d.source_addr.len, 0);
    CHECK_BYTES(d.destination_addr, "+6598765432");
    CHECK_EQ_INT(d.data_coding, 8);
    CHECK_EQ_INT(d.registered_delivery, 1);
    CHECK_EQ_INT(d.short_message.len, 158);
    n = smpp_ucs2_to_utf8(d.short_message.ptr, d.short_message.len, utf8, sizeof(utf8), NULL);
    CHECK_MEM(utf8, n > 0 ? (size_t)n : 0, otp_json, strlen(otp_json));
}

TEST(golden_submit_sm_resp_and_without_body)
{
    uint8_t buf[256];
    smpp_pdu p, d;

    header(&p, SMPP_SUBMIT_SM_RESP, 0, 10);
    p.message_id = S("0123456789abcdef");
    golden("submit_sm_resp", &p, buf, sizeof(buf), &d);
    CHECK_BYTES(d.message_id, "0123456789abcdef");
    CHECK_EQ_INT(d.has_body, 1);

    header(&p, SMPP_SUBMIT_SM_RESP, SMPP_ESME_RSUBMITFAIL, 10);
    p.has_body = 0;
    golden("submit_sm_resp_nobody", &p, buf, sizeof(buf), &d);
    CHECK_EQ_INT(d.has_body, 0);
    CHECK_EQ_INT(d.command_status, 0x45);
    CHECK_EQ_INT(d.message_id.len, 0);
}

TEST(golden_deliver_sm_receipt_with_tlvs)
{
    uint8_t buf[512], state = 2;
    static const char rid[] = "0123456789abcdef"; /* sizeof includes the NUL */
    smpp_pdu p, d;
    smpp_receipt r;
    const smpp_tlv *t;

    header(&p, SMPP_DELIVER_SM, 0, 16);
    p.service_type = S("MSG");
    p.dest_addr_ton = 1;
    p.dest_addr_npi = 1;
    p.destination_addr = S("+6598765432");
    p.short_message = S(receipt_text);
    smpp_pdu_add_tlv(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, rid, sizeof(rid), NULL);
    smpp_pdu_add_tlv(&p, SMPP_TLV_MESSAGE_STATE, &state, 1, NULL);
    golden("deliver_sm_receipt", &p, buf, sizeof(buf), &d);
    CHECK_EQ_INT(smpp_get_u32(buf), 181);
    CHECK_BYTES(d.service_type, "MSG");
    CHECK_EQ_INT(d.esm_class, 0);
    CHECK_EQ_INT(d.data_coding, 0);
    CHECK_BYTES(d.short_message, receipt_text);
    CHECK_EQ_INT(d.tlv_count, 2);
    CHECK_EQ_INT(d.tlvs[0].tag, 0x001E);
    CHECK_EQ_INT(d.tlvs[1].tag, 0x0427);
    t = smpp_pdu_find_tlv(&d, SMPP_TLV_RECEIPTED_MESSAGE_ID);
    CHECK(t != NULL && t->len == 17 && memcmp(t->value, rid, 17) == 0);
    t = smpp_pdu_find_tlv(&d, SMPP_TLV_MESSAGE_STATE);
    CHECK(t != NULL && t->len == 1 && t->value[0] == 2);
    CHECK_EQ_INT(smpp_receipt_parse(d.short_message.ptr, d.short_message.len, &r), 8);
    CHECK_BYTES(r.id, "0123456789abcdef");
    CHECK_BYTES(r.stat, "DELIVRD");
}

TEST(golden_deliver_sm_resp_has_empty_message_id)
{
    uint8_t buf[256];
    smpp_pdu p, d;

    header(&p, SMPP_DELIVER_SM_RESP, 0, 16);
    golden("deliver_sm_resp", &p, buf, sizeof(buf), &d);
    CHECK_EQ_INT(d.has_body, 1);
    CHECK_EQ_INT(d.message_id.len, 0);
    CHECK_EQ_INT(d.sequence_number, 16);
}

TEST(golden_headers_only)
{
    static const struct {
        const char *name;
        uint32_t id, seq;
    } cases[] = {
        {"unbind", SMPP_UNBIND, 4},
        {"unbind_resp", SMPP_UNBIND_RESP, 4},
        {"enquire_link", SMPP_ENQUIRE_LINK, 5},
        {"enquire_link_resp", SMPP_ENQUIRE_LINK_RESP, 5},
    };
    uint8_t buf[64];
    smpp_pdu p, d;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        header(&p, cases[i].id, 0, cases[i].seq);
        golden(cases[i].name, &p, buf, sizeof(buf), &d);
        CHECK_EQ_INT(d.command_id, cases[i].id);
        CHECK_EQ_INT(d.sequence_number, cases[i].seq);
    }
}

TEST(golden_query_sm_and_resp)
{
    uint8_t buf[256];
    smpp_pdu p, d;

    header(&p, SMPP_QUERY_SM, 0, 6);
    p.message_id = S("0123456789abcdef");
    p.source_addr_ton = 1;
    p.source_addr_npi = 1;
    p.source_addr = S("12345");
    golden("query_sm", &p, buf, sizeof(buf), &d);
    CHECK_BYTES(d.message_id, "0123456789abcdef");
    CHECK_BYTES(d.source_addr, "12345");

    header(&p, SMPP_QUERY_SM_RESP, 0, 6);
    p.message_id = S("0123456789abcdef");
    p.final_date = S("261125120100000+");
    p.message_state = 2;
    golden("query_sm_resp", &p, buf, sizeof(buf), &d);
    CHECK_BYTES(d.final_date, "261125120100000+");
    CHECK_EQ_INT(d.message_state, 2);
    CHECK_EQ_INT(d.error_code, 0);
}

TEST(golden_submit_sm_message_payload_and_unknown_tlv)
{
    static const char json[] =
        "{\"id\":\"otp-login\",\"language\":\"default\",\"code\":\"654321\",\"params\":{}}";
    uint8_t buf[512];
    smpp_pdu p, d;

    header(&p, SMPP_SUBMIT_SM, 0, 2);
    p.source_addr_ton = 1;
    p.source_addr_npi = 1;
    p.dest_addr_ton = 1;
    p.dest_addr_npi = 1;
    p.destination_addr = S("+6598765432");
    p.registered_delivery = 1;
    smpp_pdu_add_tlv(&p, SMPP_TLV_MESSAGE_PAYLOAD, json, strlen(json), NULL);
    smpp_pdu_add_tlv(&p, 0x1401, "ab", 2, NULL);
    golden("submit_sm_payload", &p, buf, sizeof(buf), &d);
    CHECK_EQ_INT(d.short_message.len, 0);
    CHECK_EQ_INT(d.tlv_count, 2);
    CHECK_EQ_INT(d.tlvs[0].tag, SMPP_TLV_MESSAGE_PAYLOAD);
    CHECK_MEM(d.tlvs[0].value, d.tlvs[0].len, json, strlen(json));
    CHECK_EQ_INT(d.tlvs[1].tag, 0x1401);
    CHECK_MEM(d.tlvs[1].value, d.tlvs[1].len, "ab", 2);
}

/* ---- tables, names, statuses --------------------------------------------- */

static const uint32_t all_commands[] = {
    SMPP_GENERIC_NACK,          SMPP_BIND_RECEIVER,
    SMPP_BIND_RECEIVER_RESP,    SMPP_BIND_TRANSMITTER,
    SMPP_BIND_TRANSMITTER_RESP, SMPP_QUERY_SM,
    SMPP_QUERY_SM_RESP,         SMPP_SUBMIT_SM,
    SMPP_SUBMIT_SM_RESP,        SMPP_DELIVER_SM,
    SMPP_DELIVER_SM_RESP,       SMPP_UNBIND,
    SMPP_UNBIND_RESP,           SMPP_BIND_TRANSCEIVER,
    SMPP_BIND_TRANSCEIVER_RESP, SMPP_ENQUIRE_LINK,
    SMPP_ENQUIRE_LINK_RESP,
};
#define N_COMMANDS (sizeof(all_commands) / sizeof(all_commands[0]))

TEST(command_names_map_both_ways)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++) {
        const char *name = smpp_command_name(all_commands[i]);

        CHECK(name != NULL);
        if (name != NULL)
            CHECK_EQ_INT(smpp_command_id(name, strlen(name)), all_commands[i]);
    }
    CHECK_EQ_STR(smpp_command_name(SMPP_SUBMIT_SM), "submit_sm");
    CHECK_EQ_STR(smpp_command_name(SMPP_BIND_TRANSCEIVER_RESP), "bind_transceiver_resp");
    CHECK_EQ_STR(smpp_command_name(SMPP_GENERIC_NACK), "generic_nack");
    CHECK(smpp_command_name(0x00000103) == NULL);
    CHECK_EQ_INT(smpp_command_id("submit_s", 8), 0);
    CHECK_EQ_INT(smpp_command_id("submit_smx", 10), 0);
    CHECK_EQ_INT(smpp_command_id("submit_sm_resp", 9), SMPP_SUBMIT_SM);
}

TEST(descriptor_tables_cover_every_command)
{
    size_t i, j, count;
    const smpp_field *f;

    for (i = 0; i < N_COMMANDS; i++) {
        f = smpp_pdu_fields(all_commands[i], &count);
        CHECK(f != NULL);
        for (j = 0; j < count; j++) {
            CHECK(f[j].name != NULL);
            CHECK(f[j].offset < offsetof(smpp_pdu, tlv_count));
        }
    }
    f = smpp_pdu_fields(SMPP_SUBMIT_SM, &count);
    CHECK_EQ_INT(count, 17);
    CHECK_EQ_STR(f[count - 1].name, "short_message");
    CHECK_EQ_INT(f[count - 1].type, SMPP_FT_SM);
    smpp_pdu_fields(SMPP_ENQUIRE_LINK, &count);
    CHECK_EQ_INT(count, 0);
    smpp_pdu_fields(SMPP_BIND_TRANSCEIVER, &count);
    CHECK_EQ_INT(count, 7);
    smpp_pdu_fields(SMPP_QUERY_SM_RESP, &count);
    CHECK_EQ_INT(count, 4);
    CHECK(smpp_pdu_fields(0x00000103, &count) == NULL);
    CHECK_EQ_INT(count, 0);
}

TEST(clear_leaves_the_tlv_array_alone)
{
    smpp_pdu p;

    p.tlvs[5].tag = 0xBEEF;
    p.tlv_count = 9;
    p.has_body = 0;
    p.message_id = S("x");
    smpp_pdu_clear(&p);
    CHECK_EQ_INT(p.tlvs[5].tag, 0xBEEF);
    CHECK_EQ_INT(p.tlv_count, 0);
    CHECK_EQ_INT(p.has_body, 1);
    CHECK(p.message_id.ptr == NULL && p.message_id.len == 0);
}

TEST(status_names_map_both_ways)
{
    static const struct {
        const char *name;
        uint32_t value;
    } cases[] = {
        {"ESME_ROK", 0x00},         {"ESME_RINVMSGLEN", 0x01}, {"ESME_RINVCMDLEN", 0x02},
        {"ESME_RINVCMDID", 0x03},   {"ESME_RINVBNDSTS", 0x04}, {"ESME_RALYBND", 0x05},
        {"ESME_RSYSERR", 0x08},     {"ESME_RINVDSTADR", 0x0B}, {"ESME_RBINDFAIL", 0x0D},
        {"ESME_RINVPASWD", 0x0E},   {"ESME_RINVSYSID", 0x0F},  {"ESME_RMSGQFUL", 0x14},
        {"ESME_RINVSERTYP", 0x15},  {"ESME_RINVPARAM", 0x32},  {"ESME_RSUBMITFAIL", 0x45},
        {"ESME_RINVNUMMSGS", 0x55}, {"ESME_RTHROTTLED", 0x58}, {"ESME_RUNKNOWNERR", 0xFF},
    };
    size_t i, n = sizeof(cases) / sizeof(cases[0]);
    int found;

    CHECK_EQ_INT(smpp_status_count(), n);
    for (i = 0; i < n; i++) {
        CHECK_EQ_STR(smpp_status_name(cases[i].value), cases[i].name);
        found = 0;
        CHECK_EQ_INT(smpp_status_value(cases[i].name, strlen(cases[i].name), &found),
                     cases[i].value);
        CHECK_EQ_INT(found, 1);
        CHECK(smpp_status_name(smpp_status_at(i)) != NULL);
    }
    CHECK(smpp_status_name(0x400) == NULL);
    found = 1;
    CHECK_EQ_INT(smpp_status_value("ESME_RNOPE", 10, &found), 0);
    CHECK_EQ_INT(found, 0);
}

TEST(message_state_names)
{
    static const char *const names[] = {"ENROUTE",       "DELIVERED", "EXPIRED", "DELETED",
                                        "UNDELIVERABLE", "ACCEPTED",  "UNKNOWN", "REJECTED"};
    unsigned i;

    for (i = 1; i <= 8; i++)
        CHECK_EQ_STR(smpp_message_state_name(i), names[i - 1]);
    CHECK(smpp_message_state_name(0) == NULL);
    CHECK(smpp_message_state_name(9) == NULL);
}

TEST(strerror_names_every_code)
{
    static const int codes[] = {
        SMPP_OK,
        SMPP_ERR_FIELD,
        SMPP_ERR_LIMIT,
        SMPP_ERR_BUFFER,
        SMPP_ERR_UNKNOWN_COMMAND,
        SMPP_ERR_UTF8,
        SMPP_ERR_UCS2,
        SMPP_ERR_STATE,
        SMPP_ERR_QUEUE_FULL,
        SMPP_ERR_NOMEM,
        SMPP_ERR_ARG,
        SMPP_ERR_FATAL,
        SMPP_ERR_FRAMING,
        SMPP_ERR_PROTOCOL,
    };
    size_t i, j, n = sizeof(codes) / sizeof(codes[0]);

    for (i = 0; i < n; i++) {
        CHECK(strcmp(smpp_strerror(codes[i]), "unknown error") != 0);
        for (j = 0; j < i; j++)
            CHECK(strcmp(smpp_strerror(codes[i]), smpp_strerror(codes[j])) != 0);
    }
    CHECK_EQ_STR(smpp_strerror(-55), "unknown error");
    CHECK(smpp_is_fatal(SMPP_ERR_FRAMING));
    CHECK(!smpp_is_fatal(SMPP_ERR_UNKNOWN_COMMAND));
}

/* ---- random round trips --------------------------------------------------- */

static void rnd_cstring(smpp_bytes *b, uint8_t *store, const smpp_field *f)
{
    size_t n, i;

    if (f->alt_size != 0)
        n = rnd_below(2) ? (size_t)f->alt_size - 1 : 0;
    else
        n = rnd_below(f->max);
    for (i = 0; i < n; i++)
        store[i] = (uint8_t)(1 + rnd_below(255)); /* anything but NUL */
    *b = B(store, n);
}

/* Fill every field of the command's table with random legal values. */
static void rnd_pdu(smpp_pdu *p, uint32_t id, uint8_t (*store)[256])
{
    size_t count, i;
    const smpp_field *f = smpp_pdu_fields(id, &count);

    header(p, id, SMPP_IS_RESPONSE(id) ? rnd_below(3) : 0, 1 + rnd_below(0x7FFFFFFF));
    for (i = 0; i < count; i++) {
        smpp_bytes *b = (smpp_bytes *)((char *)p + f[i].offset);
        size_t k;

        switch (f[i].type) {
        case SMPP_FT_CSTRING:
            rnd_cstring(b, store[i], &f[i]);
            break;
        case SMPP_FT_U8:
            *((uint8_t *)p + f[i].offset) = (uint8_t)rnd();
            break;
        case SMPP_FT_SM:
            b->len = rnd_below(SMPP_MAX_SHORT_MESSAGE + 1);
            for (k = 0; k < b->len; k++)
                store[i][k] = (uint8_t)rnd();
            b->ptr = store[i];
            break;
        }
    }
    if (count != 0 && SMPP_IS_RESPONSE(id) && rnd_below(4) == 0) {
        p->has_body = 0;
        return;
    }
    for (i = 0, count = rnd_below(5); i < count; i++) {
        static const uint8_t val[65] = "0123456789";
        uint16_t tag = (uint16_t)(0x1400 + rnd_below(16));
        size_t len = rnd_below(40);

        switch (rnd_below(4)) {
        case 0:
            tag = SMPP_TLV_RECEIPTED_MESSAGE_ID;
            len = 1 + rnd_below(65);
            break;
        case 1:
            tag = SMPP_TLV_MESSAGE_STATE;
            len = 1;
            break;
        default:
            break;
        }
        smpp_pdu_add_tlv(p, tag, val, len, NULL);
    }
}

static int field_equal(const smpp_pdu *a, const smpp_pdu *b, const smpp_field *f)
{
    const smpp_bytes *x = (const smpp_bytes *)((const char *)a + f->offset);
    const smpp_bytes *y = (const smpp_bytes *)((const char *)b + f->offset);

    if (f->type == SMPP_FT_U8)
        return *((const uint8_t *)a + f->offset) == *((const uint8_t *)b + f->offset);
    return x->len == y->len && (x->len == 0 || memcmp(x->ptr, y->ptr, x->len) == 0);
}

TEST(random_pdus_round_trip_field_by_field)
{
    uint8_t store[20][256], wire[2048], again[2048];
    size_t round;

    for (round = 0; round < 20000; round++) {
        uint32_t id = all_commands[rnd_below(N_COMMANDS)];
        smpp_pdu p, d;
        smpp_error err = {0};
        size_t count, i;
        const smpp_field *f = smpp_pdu_fields(id, &count);
        long n, m;
        int rc;

        rnd_pdu(&p, id, store);
        n = smpp_pdu_encode(&p, wire, sizeof(wire), &err);
        CHECK(n >= 16);
        if (n < 16) {
            fprintf(stderr, "  round %zu: %s\n", round, err.msg);
            return;
        }
        CHECK_EQ_INT(smpp_pdu_encoded_size(&p, NULL), n);
        rc = smpp_pdu_decode(&d, wire, (size_t)n, &err);
        CHECK_EQ_INT(rc, 0);
        if (rc != 0) {
            fprintf(stderr, "  round %zu: %s\n", round, err.msg);
            return;
        }
        CHECK_EQ_INT(d.command_id, p.command_id);
        CHECK_EQ_INT(d.command_status, p.command_status);
        CHECK_EQ_INT(d.sequence_number, p.sequence_number);
        CHECK_EQ_INT(d.has_body, p.has_body);
        if (p.has_body)
            for (i = 0; i < count; i++)
                CHECK(field_equal(&p, &d, &f[i]));
        CHECK_EQ_INT(d.tlv_count, p.tlv_count);
        for (i = 0; i < d.tlv_count && i < p.tlv_count; i++) {
            CHECK_EQ_INT(d.tlvs[i].tag, p.tlvs[i].tag);
            CHECK_MEM(d.tlvs[i].value, d.tlvs[i].len, p.tlvs[i].value, p.tlvs[i].len);
        }
        m = smpp_pdu_encode(&d, again, sizeof(again), &err);
        CHECK_MEM(again, m > 0 ? (size_t)m : 0, wire, (size_t)n);
    }
}

/* Flip, cut and splice bytes of valid PDUs: decode must never misbehave,
 * and whatever decodes must encode back to the very same bytes. */
TEST(mutated_pdus_that_decode_re_encode_identically)
{
    static const char *const names[] = {
        "submit_sm",         "deliver_sm_receipt", "bind_transceiver", "bind_transceiver_resp",
        "submit_sm_payload", "query_sm_resp",      "submit_sm_resp"};
    enum { NBASE = sizeof(names) / sizeof(names[0]) };
    uint8_t base[NBASE][512], buf[512], out[1024];
    long lens[NBASE];
    size_t round, i;

    for (i = 0; i < NBASE; i++) {
        lens[i] = load(names[i], base[i], sizeof(base[i]));
        CHECK(lens[i] >= 16);
        if (lens[i] < 16)
            return;
    }
    for (round = 0; round < 200000; round++) {
        size_t which = rnd_below(NBASE), n = (size_t)lens[which], k, flips;
        smpp_pdu d;
        smpp_error err;
        long m;
        int rc;

        memcpy(buf, base[which], n);
        flips = 1 + rnd_below(3);
        for (k = 0; k < flips; k++)
            buf[16 + rnd_below((uint32_t)n - 16)] = (uint8_t)rnd();
        if (rnd_below(3) == 0)
            n = 16 + rnd_below((uint32_t)n - 15);
        smpp_put_u32(buf, (uint32_t)n);
        rc = smpp_pdu_decode(&d, buf, n, &err);
        if (rc != 0) {
            CHECK(rc < 0 && err.msg[0] != '\0');
            continue;
        }
        m = smpp_pdu_encode(&d, out, sizeof(out), &err);
        CHECK_MEM(out, m > 0 ? (size_t)m : 0, buf, n);
    }
}

/* ---- framing ------------------------------------------------------------ */

static void stream_feed_check(const uint8_t *stream, size_t total, size_t split, const long *lens,
                              size_t npdus)
{
    uint8_t acc[4096];
    size_t have = 0, fed = 0, got = 0;

    /* Two reads: [0, split) then the rest; frames are taken out eagerly. */
    while (fed < total) {
        size_t chunk = fed < split ? split - fed : total - fed;
        long l;

        memcpy(acc + have, stream + fed, chunk);
        have += chunk;
        fed += chunk;
        while ((l = smpp_frame(acc, have, 0, NULL)) > 0) {
            smpp_pdu d;

            CHECK(got < npdus);
            if (got < npdus)
                CHECK_EQ_INT(l, lens[got]);
            CHECK_EQ_INT(smpp_pdu_decode(&d, acc, (size_t)l, NULL), 0);
            memmove(acc, acc + l, have - (size_t)l);
            have -= (size_t)l;
            got++;
        }
        CHECK(l == 0);
    }
    CHECK_EQ_INT(got, npdus);
    CHECK_EQ_INT(have, 0);
}

TEST(frames_a_stream_split_at_every_point)
{
    static const char *const names[] = {"bind_transceiver_resp", "submit_sm_resp",
                                        "deliver_sm_receipt",    "enquire_link",
                                        "submit_sm_resp_nobody", "submit_sm"};
    uint8_t stream[4096];
    long lens[6];
    size_t total = 0, i, split;

    for (i = 0; i < 6; i++) {
        lens[i] = load(names[i], stream + total, sizeof(stream) - total);
        CHECK(lens[i] > 0);
        if (lens[i] <= 0)
            return;
        total += (size_t)lens[i];
    }
    for (split = 0; split <= total; split++)
        stream_feed_check(stream, total, split, lens, 6);
}

TEST(frames_one_byte_at_a_time)
{
    uint8_t stream[1024], acc[1024];
    long a = load("deliver_sm_receipt", stream, sizeof(stream));
    long b = a > 0 ? load("enquire_link", stream + a, sizeof(stream) - (size_t)a) : -1;
    size_t have = 0, i, got = 0;

    CHECK(a > 0 && b > 0);
    if (a <= 0 || b <= 0)
        return;
    for (i = 0; i < (size_t)(a + b); i++) {
        long l;

        acc[have++] = stream[i];
        l = smpp_frame(acc, have, 0, NULL);
        if (l > 0) {
            CHECK_EQ_INT(l, got == 0 ? a : b);
            CHECK_EQ_INT(have, l);
            have = 0;
            got++;
        }
    }
    CHECK_EQ_INT(got, 2);
}

TEST(frame_refuses_short_and_oversized_command_length)
{
    uint8_t buf[32] = {0};
    smpp_error err = {0};

    CHECK_EQ_INT(smpp_frame(buf, 0, 0, &err), 0);
    CHECK_EQ_INT(smpp_frame(buf, 3, 0, &err), 0);
    smpp_put_u32(buf, 15);
    CHECK_EQ_INT(smpp_frame(buf, 4, 0, &err), SMPP_ERR_FRAMING);
    CHECK_MSG(&err, "command_length 15");
    CHECK_EQ_INT(err.code, SMPP_ERR_FRAMING);
    smpp_put_u32(buf, 0);
    CHECK_EQ_INT(smpp_frame(buf, 16, 0, &err), SMPP_ERR_FRAMING);
    smpp_put_u32(buf, 65537);
    CHECK_EQ_INT(smpp_frame(buf, 4, 0, &err), SMPP_ERR_FRAMING);
    CHECK_MSG(&err, "65537");
    CHECK_MSG(&err, "65536");
    CHECK_EQ_INT(err.limit, 65536);
    smpp_put_u32(buf, 65536);
    CHECK_EQ_INT(smpp_frame(buf, 4, 0, &err), 0);
    smpp_put_u32(buf, 101);
    CHECK_EQ_INT(smpp_frame(buf, 4, 100, &err), SMPP_ERR_FRAMING);
    CHECK_MSG(&err, "cap of 100");
    smpp_put_u32(buf, 16);
    CHECK_EQ_INT(smpp_frame(buf, 15, 0, &err), 0);
    CHECK_EQ_INT(smpp_frame(buf, 32, 0, &err), 16);
}

/* ---- decode errors --------------------------------------------------------- */

/* Decode buf (n bytes, command_length fixed up) and expect code + text. */
static void expect_decode_error(uint8_t *buf, size_t n, int code, const char *msg, int line)
{
    smpp_pdu d;
    smpp_error err = {0};
    int rc;

    smpp_put_u32(buf, (uint32_t)n);
    rc = smpp_pdu_decode(&d, buf, n, &err);
    if (rc != code || err.code != code || strstr(err.msg, msg) == NULL) {
        char m[400];

        snprintf(m, sizeof(m), "decode: got %d \"%s\", want %d \"%s\"", rc, err.msg, code, msg);
        harness_fail(__FILE__, line, m);
    }
}

TEST(decode_refuses_truncated_pdus_at_every_length)
{
    uint8_t buf[512];
    long n = load("deliver_sm_receipt", buf, sizeof(buf));
    size_t cut;
    smpp_pdu d;
    smpp_error err;

    CHECK(n > 0);
    /* Cutting inside the mandatory body or a TLV is always an error; the
     * only clean cut points are the TLV boundaries. */
    for (cut = 17; cut < (size_t)n; cut++) {
        int rc;

        smpp_put_u32(buf, (uint32_t)cut);
        rc = smpp_pdu_decode(&d, buf, cut, &err);
        if (cut == 155 || cut == 176)
            CHECK_EQ_INT(rc, 0);
        else
            CHECK(rc == SMPP_ERR_FIELD || rc == SMPP_ERR_LIMIT);
    }
    CHECK_EQ_INT(smpp_pdu_decode(&d, buf, 12, &err), SMPP_ERR_FRAMING);
    CHECK_MSG(&err, "shorter than the 16-byte header");
    smpp_put_u32(buf, 100);
    CHECK_EQ_INT(smpp_pdu_decode(&d, buf, 99, &err), SMPP_ERR_FRAMING);
    CHECK_MSG(&err, "command_length 100 but 99 bytes");
}

TEST(decode_names_the_field_that_breaks_a_limit)
{
    uint8_t buf[512];
    long n = load("bind_transceiver", buf, sizeof(buf));
    uint8_t pdu[128];
    size_t p;

    CHECK(n > 0);
    /* system_id of 20 chars: over 15 (16 with NUL). */
    memcpy(pdu, buf, 16);
    p = 16;
    memcpy(pdu + p, "abcdefghijklmnopqrst", 21);
    p += 21;
    memcpy(pdu + p, buf + 21, (size_t)n - 21);
    p += (size_t)n - 21;
    expect_decode_error(pdu, p, SMPP_ERR_LIMIT, "system_id: 20 bytes, limit 15 (16 with NUL)",
                        __LINE__);

    /* No NUL anywhere after system_id starts, and more than 16 bytes. */
    memset(pdu + 16, 'x', 30);
    expect_decode_error(pdu, 46, SMPP_ERR_FIELD, "system_id: no NUL within 16 bytes", __LINE__);
    /* Fewer than 16 bytes and no NUL: the PDU ends first. */
    expect_decode_error(pdu, 20, SMPP_ERR_FIELD, "system_id: no NUL before the PDU end", __LINE__);

    /* destination_addr too long in a submit_sm. */
    n = load("submit_sm", buf, sizeof(buf));
    memcpy(pdu, buf, 16 + 8); /* header .. source_addr */
    p = 24;
    pdu[p++] = 1;
    pdu[p++] = 1;
    memcpy(pdu + p, "+659876543210987654321", 23); /* 22 chars + NUL */
    p += 23;
    memset(pdu + p, 0, 9); /* esm_class .. sm_length, all zero */
    p += 9;
    expect_decode_error(pdu, p, SMPP_ERR_LIMIT,
                        "destination_addr: 22 bytes, limit 20 (21 with NUL)", __LINE__);
}

TEST(decode_refuses_dates_that_are_not_empty_or_16)
{
    uint8_t buf[512];
    long n = load("submit_sm_payload", buf, sizeof(buf));
    uint8_t pdu[512];
    size_t p = 0, at = 16 + 1 + 2 + 1 + 2 + 12 + 3; /* schedule_delivery_time */

    CHECK(n > 0);
    memcpy(pdu, buf, at);
    p = at;
    memcpy(pdu + p, "26112512", 9);
    p += 9;
    memcpy(pdu + p, buf + at + 1, (size_t)n - at - 1);
    p += (size_t)n - at - 1;
    expect_decode_error(pdu, p, SMPP_ERR_FIELD,
                        "schedule_delivery_time: 8 chars, must be empty or 16", __LINE__);
}

TEST(decode_refuses_bad_sm_length)
{
    uint8_t buf[512];
    long n = load("submit_sm", buf, sizeof(buf));
    size_t sm_at = 16 + 31; /* sm_length offset in submit_sm.hex */

    CHECK(n > 0 && buf[sm_at] == 158);
    buf[sm_at] = 255;
    expect_decode_error(buf, (size_t)n, SMPP_ERR_LIMIT, "sm_length: 255, limit 254", __LINE__);
    buf[sm_at] = 200;
    expect_decode_error(buf, (size_t)n, SMPP_ERR_FIELD,
                        "short_message: sm_length 200 runs past the PDU end (158 bytes left)",
                        __LINE__);
    buf[sm_at] = 150; /* 8 bytes left over: not a whole TLV */
    expect_decode_error(buf, (size_t)n, SMPP_ERR_FIELD, "TLV 0x0065 at offset 198: length 34",
                        __LINE__);
    buf[sm_at] = 155; /* 3 bytes left over: not even a TLV header */
    expect_decode_error(buf, (size_t)n, SMPP_ERR_FIELD, "TLV header at offset 203", __LINE__);
}

TEST(decode_refuses_bad_tlvs)
{
    uint8_t buf[512];
    long n = load("deliver_sm_receipt", buf, sizeof(buf));
    size_t rid = 155, st = 176; /* TLV offsets in deliver_sm_receipt.hex */
    uint8_t pdu[512];
    size_t i, p;

    CHECK(n == 181 && buf[rid + 1] == 0x1E && buf[st + 1] == 0x27);
    buf[st + 3] = 2; /* message_state length 2: runs past the end */
    expect_decode_error(buf, (size_t)n, SMPP_ERR_FIELD,
                        "TLV 0x0427 at offset 176: length 2 runs past the PDU end", __LINE__);
    buf[st + 3] = 0;
    expect_decode_error(buf, (size_t)n - 1, SMPP_ERR_FIELD,
                        "message_state (TLV 0x0427 at offset 176): 0 bytes, must be 1", __LINE__);
    buf[st + 1] = 0x28; /* an unknown tag may be empty; 1 byte is left over */
    expect_decode_error(buf, (size_t)n, SMPP_ERR_FIELD, "TLV header at offset 180", __LINE__);
    buf[st + 1] = 0x27;
    buf[st + 3] = 1;
    buf[rid + 3] = 0; /* receipted_message_id empty */
    memcpy(pdu, buf, rid + 4);
    expect_decode_error(pdu, rid + 4, SMPP_ERR_FIELD, "receipted_message_id", __LINE__);

    /* receipted_message_id of 66 bytes: over the 65 of the C-Octet String. */
    memcpy(pdu, buf, rid);
    p = rid;
    pdu[p++] = 0x00;
    pdu[p++] = 0x1E;
    pdu[p++] = 0;
    pdu[p++] = 66;
    memset(pdu + p, '7', 66);
    p += 66;
    expect_decode_error(pdu, p, SMPP_ERR_LIMIT, "receipted_message_id (TLV 0x001E at offset 155)",
                        __LINE__);
    /* ...but 16 bytes without NUL are fine (gateways do that). */
    pdu[rid + 3] = 16;
    smpp_put_u32(pdu, (uint32_t)(rid + 20));
    CHECK_EQ_INT(smpp_pdu_decode(&(smpp_pdu){0}, pdu, rid + 20, NULL), 0);

    /* network_error_code must be 3, sc_interface_version 1. */
    pdu[rid] = 0x04;
    pdu[rid + 1] = 0x23;
    pdu[rid + 3] = 2;
    expect_decode_error(pdu, rid + 6, SMPP_ERR_FIELD, "network_error_code", __LINE__);
    pdu[rid] = 0x02;
    pdu[rid + 1] = 0x10;
    expect_decode_error(pdu, rid + 6, SMPP_ERR_FIELD, "sc_interface_version", __LINE__);

    /* 33 TLVs: one more than SMPP_MAX_TLVS. */
    p = rid;
    for (i = 0; i < SMPP_MAX_TLVS + 1; i++) {
        pdu[p++] = 0x14;
        pdu[p++] = 0x00;
        pdu[p++] = 0;
        pdu[p++] = 0;
    }
    expect_decode_error(pdu, p, SMPP_ERR_LIMIT, "more than 32 TLVs", __LINE__);
    smpp_put_u32(pdu, (uint32_t)(p - 4));
    CHECK_EQ_INT(smpp_pdu_decode(&(smpp_pdu){0}, pdu, p - 4, NULL), 0);
}

TEST(decode_reports_unknown_commands_with_the_header_filled)
{
    uint8_t buf[20] = {0};
    smpp_pdu d;
    smpp_error err = {0};

    smpp_put_u32(buf, 20);
    smpp_put_u32(buf + 4, 0x00000103);
    smpp_put_u32(buf + 12, 99);
    CHECK_EQ_INT(smpp_pdu_decode(&d, buf, 20, &err), SMPP_ERR_UNKNOWN_COMMAND);
    CHECK(!smpp_is_fatal(err.code));
    CHECK_EQ_INT(d.command_id, 0x103);
    CHECK_EQ_INT(d.sequence_number, 99);
    CHECK_MSG(&err, "0x00000103");
}

TEST(decode_takes_a_bodiless_response_even_with_status_0)
{
    uint8_t buf[16];
    smpp_pdu d;
    uint8_t out[64];

    smpp_put_u32(buf, 16);
    smpp_put_u32(buf + 4, SMPP_SUBMIT_SM_RESP);
    smpp_put_u32(buf + 8, 0);
    smpp_put_u32(buf + 12, 3);
    CHECK_EQ_INT(smpp_pdu_decode(&d, buf, 16, NULL), 0);
    CHECK_EQ_INT(d.has_body, 0);
    CHECK_EQ_INT(smpp_pdu_encode(&d, out, sizeof(out), NULL), 16);
    CHECK_MEM(out, 16, buf, 16);
    /* A request without its body is not lenient: submit_sm needs one. */
    smpp_put_u32(buf + 4, SMPP_SUBMIT_SM);
    CHECK_EQ_INT(smpp_pdu_decode(&d, buf, 16, NULL), SMPP_ERR_FIELD);
}

/* ---- encode errors --------------------------------------------------------- */

TEST(encode_names_the_field_that_breaks_a_limit)
{
    uint8_t out[512], ucs2[256];
    smpp_pdu p;
    smpp_error err = {0};
    uint8_t big[300] = {0};

    build_otp_submit(&p, ucs2, sizeof(ucs2));
    p.destination_addr = S("+659876543210987654321012"); /* 25 */
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_LIMIT);
    CHECK_MSG(&err, "destination_addr: 25 bytes, limit 20 (21 with NUL)");
    CHECK_EQ_INT(err.limit, 21);
    CHECK_EQ_INT(smpp_pdu_encoded_size(&p, &err), SMPP_ERR_LIMIT);
    /* Even with a buffer too small, the broken limit is what is reported. */
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, 20, &err), SMPP_ERR_LIMIT);

    build_otp_submit(&p, ucs2, sizeof(ucs2));
    p.service_type = S("MARKET");
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_LIMIT);
    CHECK_MSG(&err, "service_type: 6 bytes, limit 5 (6 with NUL)");

    build_otp_submit(&p, ucs2, sizeof(ucs2));
    p.validity_period = S("000001000000000R0");
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_LIMIT);
    p.validity_period = S("000001000000");
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_FIELD);
    CHECK_MSG(&err, "validity_period: 12 chars, must be empty or 16");
    p.validity_period = S("000001000000000R");
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), 206 + 16);

    build_otp_submit(&p, ucs2, sizeof(ucs2));
    p.short_message = B(big, 255);
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_LIMIT);
    CHECK_MSG(&err, "short_message: 255 octets, limit 254");
    p.short_message = B(big, 254);
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), 206 - 158 + 254);

    build_otp_submit(&p, ucs2, sizeof(ucs2));
    p.destination_addr = B("+65\0"
                           "123",
                           7);
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_FIELD);
    CHECK_MSG(&err, "destination_addr: NUL inside the string at byte 3");

    header(&p, SMPP_BIND_TRANSCEIVER, 0, 1);
    p.system_id = S("sixteen-chars-id");
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_LIMIT);
    CHECK_MSG(&err, "system_id: 16 bytes, limit 15 (16 with NUL)");
    p.system_id = S("test");
    p.password = S("123456789");
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_LIMIT);
    CHECK_MSG(&err, "password: 9 bytes, limit 8 (9 with NUL)");
}

TEST(encode_checks_tlv_sizes_and_count)
{
    uint8_t out[1024], two[2] = {1, 2};
    smpp_pdu p;
    smpp_error err = {0};
    size_t i;

    header(&p, SMPP_DELIVER_SM_RESP, 0, 1);
    smpp_pdu_add_tlv(&p, SMPP_TLV_MESSAGE_STATE, two, 2, NULL);
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_FIELD);
    CHECK_MSG(&err, "message_state (TLV 0x0427");
    header(&p, SMPP_DELIVER_SM_RESP, 0, 1);
    smpp_pdu_add_tlv(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, out, 66, NULL);
    CHECK_EQ_INT(smpp_pdu_encoded_size(&p, &err), SMPP_ERR_LIMIT);
    CHECK_MSG(&err, "66 bytes, limit 65");

    header(&p, SMPP_ENQUIRE_LINK, 0, 1);
    for (i = 0; i < SMPP_MAX_TLVS; i++)
        CHECK_EQ_INT(smpp_pdu_add_tlv(&p, 0x1400, NULL, 0, &err), 0);
    CHECK_EQ_INT(smpp_pdu_add_tlv(&p, 0x1400, NULL, 0, &err), SMPP_ERR_LIMIT);
    CHECK_MSG(&err, "more than 32 TLVs");
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), 16 + 4 * 32);
    p.tlv_count = 33;
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_LIMIT);
    header(&p, SMPP_ENQUIRE_LINK, 0, 1);
    CHECK_EQ_INT(smpp_pdu_add_tlv(&p, 0x1400, out, 70000, &err), SMPP_ERR_LIMIT);

    /* A response sent without body can't carry TLVs. */
    header(&p, SMPP_SUBMIT_SM_RESP, 8, 1);
    p.has_body = 0;
    smpp_pdu_add_tlv(&p, 0x1400, NULL, 0, NULL);
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_ARG);
    header(&p, 0x00000103, 0, 1);
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, sizeof(out), &err), SMPP_ERR_ARG);
    CHECK_MSG(&err, "0x00000103");
}

TEST(encode_reports_the_size_needed_when_the_buffer_is_small)
{
    uint8_t out[512], ucs2[256];
    smpp_pdu p;
    size_t cap;

    build_otp_submit(&p, ucs2, sizeof(ucs2));
    for (cap = 0; cap < 206; cap++) {
        smpp_error err = {0};

        CHECK_EQ_INT(smpp_pdu_encode(&p, out, cap, &err), SMPP_ERR_BUFFER);
        CHECK_EQ_INT(err.limit, 206);
    }
    CHECK_EQ_INT(smpp_pdu_encode(&p, out, 206, NULL), 206);
}

/* ---- text ------------------------------------------------------------------ */

static void expect_utf8_error(const char *in, size_t len, size_t offset, int line)
{
    uint8_t out[64];
    smpp_error err = {0}, err2 = {0};
    char want[64];
    long rc = smpp_utf8_to_ucs2((const uint8_t *)in, len, out, sizeof(out), &err);
    int rc2 = smpp_utf8_check((const uint8_t *)in, len, &err2);

    snprintf(want, sizeof(want), "invalid UTF-8 at byte %zu", offset);
    if (rc != SMPP_ERR_UTF8 || rc2 != SMPP_ERR_UTF8 || err.offset != offset ||
        err2.offset != offset || strstr(err.msg, want) == NULL) {
        char m[300];

        snprintf(m, sizeof(m), "utf8 %ld/%d at %zu \"%s\", want offset %zu", rc, rc2, err.offset,
                 err.msg, offset);
        harness_fail(__FILE__, line, m);
    }
}

TEST(utf8_refuses_every_kind_of_bad_sequence_naming_the_offset)
{
    expect_utf8_error("hello w\xC0\x80", 9, 7, __LINE__);    /* overlong NUL */
    expect_utf8_error("abc\xC1\xBF", 5, 3, __LINE__);        /* overlong 2-byte */
    expect_utf8_error("\xE0\x80\xAF", 3, 0, __LINE__);       /* overlong 3-byte */
    expect_utf8_error("ab\xF0\x8F\xBF\xBF", 6, 2, __LINE__); /* overlong 4-byte */
    expect_utf8_error("x\xED\xA0\x80", 4, 1, __LINE__);      /* surrogate U+D800 */
    expect_utf8_error("x\xED\xBF\xBF", 4, 1, __LINE__);      /* surrogate U+DFFF */
    expect_utf8_error("\xF4\x90\x80\x80", 4, 0, __LINE__);   /* U+110000 */
    expect_utf8_error("\xF5\x80\x80\x80", 4, 0, __LINE__);   /* lead past U+10FFFF */
    expect_utf8_error("abcdefgh\xFF", 9, 8, __LINE__);       /* never valid */
    expect_utf8_error("abcdefghij\x80", 11, 10, __LINE__);   /* stray continuation */
    expect_utf8_error("\xE2\x82", 2, 0, __LINE__);           /* truncated at the end */
    expect_utf8_error("\xE2\x82x", 3, 0, __LINE__);          /* truncated by ASCII */
    expect_utf8_error("\xF0\x9F\x98", 3, 0, __LINE__);       /* truncated 4-byte */
    expect_utf8_error("\xC3", 1, 0, __LINE__);               /* lone lead */
    expect_utf8_error("0123456789abcdef\xC3\xA9\xA9", 19, 18, __LINE__);
}

TEST(utf8_to_ucs2_handles_boundaries_and_surrogate_pairs)
{
    /* U+7F U+80 U+7FF U+800 U+D7FF U+E000 U+FFFF U+10000 U+1F600 U+10FFFF */
    static const char in[] = "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80"
                             "\xEF\xBF\xBF\xF0\x90\x80\x80\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF";
    static const uint8_t want[] = {0x00, 0x7F, 0x00, 0x80, 0x07, 0xFF, 0x08, 0x00, 0xD7,
                                   0xFF, 0xE0, 0x00, 0xFF, 0xFF, 0xD8, 0x00, 0xDC, 0x00,
                                   0xD8, 0x3D, 0xDE, 0x00, 0xDB, 0xFF, 0xDF, 0xFF};
    uint8_t out[64], back[64];
    long n, m;

    CHECK_EQ_INT(smpp_utf8_check((const uint8_t *)in, sizeof(in) - 1, NULL), 0);
    n = smpp_utf8_to_ucs2((const uint8_t *)in, sizeof(in) - 1, out, sizeof(out), NULL);
    CHECK_MEM(out, n > 0 ? (size_t)n : 0, want, sizeof(want));
    m = smpp_ucs2_to_utf8(want, sizeof(want), back, sizeof(back), NULL);
    CHECK_MEM(back, m > 0 ? (size_t)m : 0, in, sizeof(in) - 1);
    CHECK_EQ_INT(smpp_utf8_to_ucs2(NULL, 0, out, 0, NULL), 0);
    CHECK_EQ_INT(smpp_ucs2_to_utf8(NULL, 0, out, 0, NULL), 0);
}

TEST(ucs2_refuses_odd_length_and_unpaired_surrogates)
{
    uint8_t out[64];
    smpp_error err = {0};

    CHECK_EQ_INT(smpp_ucs2_to_utf8((const uint8_t *)"\x00h\x00", 3, out, sizeof(out), &err),
                 SMPP_ERR_UCS2);
    CHECK_EQ_INT(err.offset, 2);
    CHECK_MSG(&err, "odd length 3");
    CHECK_EQ_INT(
        smpp_ucs2_to_utf8((const uint8_t *)"\x00h\xDC\x00\x00i", 6, out, sizeof(out), &err),
        SMPP_ERR_UCS2);
    CHECK_MSG(&err, "invalid UCS2 at byte 2: unpaired low surrogate 0xDC00");
    CHECK_EQ_INT(
        smpp_ucs2_to_utf8((const uint8_t *)"\x00h\x00i\xD8\x3D\x00i", 8, out, sizeof(out), &err),
        SMPP_ERR_UCS2);
    CHECK_MSG(&err, "invalid UCS2 at byte 4");
    CHECK_EQ_INT(err.offset, 4);
    CHECK_EQ_INT(smpp_ucs2_to_utf8((const uint8_t *)"\x00h\xD8\x3D", 4, out, sizeof(out), &err),
                 SMPP_ERR_UCS2);
    CHECK_MSG(&err, "at byte 2");
    CHECK_EQ_INT(smpp_ucs2_to_utf8((const uint8_t *)"\xD8\x3D\xD8\x3D", 4, out, sizeof(out), &err),
                 SMPP_ERR_UCS2);
}

TEST(text_reports_the_size_needed_when_the_buffer_is_small)
{
    static const char in[] = "OTP \xE2\x82\xAC \xF0\x9F\x98\x80 0123456789";
    uint8_t out[128], ucs2[128];
    long full = smpp_utf8_to_ucs2((const uint8_t *)in, sizeof(in) - 1, ucs2, sizeof(ucs2), NULL);
    size_t cap;

    CHECK_EQ_INT(full, 2 * 4 + 2 + 2 + 4 + 2 + 20);
    for (cap = 0; cap < (size_t)full; cap++) {
        smpp_error err = {0};

        CHECK_EQ_INT(smpp_utf8_to_ucs2((const uint8_t *)in, sizeof(in) - 1, out, cap, &err),
                     SMPP_ERR_BUFFER);
        CHECK_EQ_INT(err.limit, full);
    }
    for (cap = 0; cap < sizeof(in) - 1; cap++) {
        smpp_error err = {0};

        CHECK_EQ_INT(smpp_ucs2_to_utf8(ucs2, (size_t)full, out, cap, &err), SMPP_ERR_BUFFER);
        CHECK_EQ_INT(err.limit, sizeof(in) - 1);
    }
    /* Bad input beats a small buffer. */
    CHECK_EQ_INT(smpp_utf8_to_ucs2((const uint8_t *)"ab\xFF", 3, out, 1, NULL), SMPP_ERR_UTF8);
    CHECK_EQ_INT(smpp_ucs2_to_utf8((const uint8_t *)"\x00h\xDC\x00", 4, out, 0, NULL),
                 SMPP_ERR_UCS2);
}

static size_t put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

TEST(random_valid_utf8_round_trips_through_ucs2)
{
    uint8_t in[512], ucs2[1024], back[512];
    size_t round;

    for (round = 0; round < 20000; round++) {
        size_t n = 0, chars = rnd_below(100), i;
        long u, b;

        for (i = 0; i < chars; i++) {
            uint32_t cp;

            switch (rnd_below(4)) {
            case 0:
                cp = rnd_below(0x80);
                break;
            case 1:
                cp = 0x80 + rnd_below(0x800 - 0x80);
                break;
            case 2:
                do
                    cp = 0x800 + rnd_below(0x10000 - 0x800);
                while (cp >= 0xD800 && cp <= 0xDFFF);
                break;
            default:
                cp = 0x10000 + rnd_below(0x110000 - 0x10000);
                break;
            }
            n += put_utf8(in + n, cp);
        }
        CHECK_EQ_INT(smpp_utf8_check(in, n, NULL), 0);
        u = smpp_utf8_to_ucs2(in, n, ucs2, sizeof(ucs2), NULL);
        CHECK(u >= 0 && u <= (long)(2 * n));
        b = smpp_ucs2_to_utf8(ucs2, u > 0 ? (size_t)u : 0, back, sizeof(back), NULL);
        CHECK(b >= 0 && b <= 3 * u / 2);
        CHECK_MEM(back, b > 0 ? (size_t)b : 0, in, n);
    }
}

TEST(random_bytes_utf8_check_agrees_with_conversion)
{
    uint8_t in[64], out[256];
    size_t round;

    for (round = 0; round < 50000; round++) {
        size_t n = rnd_below(12), i;
        smpp_error e1 = {0}, e2 = {0};
        int c;
        long u;

        for (i = 0; i < n; i++)
            in[i] = (uint8_t)(rnd_below(3) ? 0x80 + rnd_below(0x80) : rnd());
        c = smpp_utf8_check(in, n, &e1);
        u = smpp_utf8_to_ucs2(in, n, out, sizeof(out), &e2);
        CHECK_EQ_INT(c == 0, u >= 0);
        if (c != 0 && u < 0)
            CHECK_EQ_INT(e1.offset, e2.offset);
    }
}

/* ---- receipts -------------------------------------------------------------- */

static int parse(const char *s, smpp_receipt *r)
{
    return smpp_receipt_parse((const uint8_t *)s, strlen(s), r);
}

TEST(receipt_parses_the_canonical_form)
{
    smpp_receipt r;

    CHECK_EQ_INT(parse(receipt_text, &r), 8);
    CHECK_BYTES(r.id, "0123456789abcdef");
    CHECK_BYTES(r.sub, "001");
    CHECK_BYTES(r.dlvrd, "001");
    CHECK_BYTES(r.submit_date, "2611251200");
    CHECK_BYTES(r.done_date, "2611251201");
    CHECK_BYTES(r.stat, "DELIVRD");
    CHECK_BYTES(r.err, "000");
    CHECK_EQ_INT(r.text.len, 0);
    CHECK(r.text.ptr != NULL);
}

TEST(receipt_parses_leniently)
{
    smpp_receipt r;

    CHECK_EQ_INT(parse("ID:77 Sub:001 DLVRD:000 Submit Date:261125120059 "
                       "DONE DATE:261125120102 STAT:UNDELIV ERR:034 Text:hello  world ",
                       &r),
                 8);
    CHECK_BYTES(r.id, "77");
    CHECK_BYTES(r.submit_date, "261125120059");
    CHECK_BYTES(r.done_date, "261125120102");
    CHECK_BYTES(r.stat, "UNDELIV");
    CHECK_BYTES(r.err, "034");
    CHECK_BYTES(r.text, "hello  world ");

    /* Reordered, extra fields, several spaces, no text:, '_' in a date key. */
    CHECK_EQ_INT(parse("  stat:DELIVRD   foo:bar id:abc submit_date:2611251200 x", &r), 3);
    CHECK_BYTES(r.stat, "DELIVRD");
    CHECK_BYTES(r.id, "abc");
    CHECK_BYTES(r.submit_date, "2611251200");
    CHECK(r.text.ptr == NULL && r.text.len == 0);
    CHECK(r.sub.ptr == NULL);

    /* Duplicates: the first wins. text: swallows what looks like keys. */
    CHECK_EQ_INT(parse("id:1 id:2 text:stat:X err:1", &r), 2);
    CHECK_BYTES(r.id, "1");
    CHECK_BYTES(r.text, "stat:X err:1");
    CHECK(r.stat.ptr == NULL);

    /* Empty values stay found but empty. */
    CHECK_EQ_INT(parse("id: stat: err:", &r), 3);
    CHECK_EQ_INT(r.id.len, 0);
    CHECK(r.id.ptr != NULL);
}

TEST(receipt_parse_says_0_for_text_that_is_no_receipt)
{
    smpp_receipt r;

    CHECK_EQ_INT(parse("", &r), 0);
    CHECK_EQ_INT(parse("hello there", &r), 0);
    CHECK_EQ_INT(parse("sub:001 dlvrd:001 err:000", &r), 0);
    CHECK_EQ_INT(parse("identity:5 status:ok", &r), 0);
    CHECK_EQ_INT(smpp_receipt_parse(NULL, 0, &r), 0);
}

/* A deliver_sm with text as its short_message; tests add the TLVs. */
static void receipt_deliver(smpp_pdu *p, const char *text)
{
    smpp_pdu_clear(p);
    p->command_id = SMPP_DELIVER_SM;
    p->short_message.ptr = (const uint8_t *)text;
    p->short_message.len = strlen(text);
}

TEST(receipt_from_pdu_takes_the_tlv_id_over_the_text_and_upper_cases_stat)
{
    static const char rid[] = "TLVID"; /* with its NUL */
    smpp_receipt_pdu r;
    smpp_pdu p;

    receipt_deliver(&p, "id:42 stat:delivrd err:000");
    CHECK_EQ_INT(smpp_receipt_from_pdu(&p, &r), 1);
    CHECK_BYTES(r.message_id, "42");
    CHECK_BYTES(r.stat, "DELIVRD");
    CHECK_BYTES(r.text.stat, "delivrd");
    CHECK_BYTES(r.raw, "id:42 stat:delivrd err:000");
    CHECK_EQ_INT(r.message_state, -1);
    CHECK(r.network_error_code == NULL);
    CHECK_EQ_INT(r.final, 1);

    smpp_pdu_add_tlv(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, rid, sizeof(rid), NULL);
    CHECK_EQ_INT(smpp_receipt_from_pdu(&p, &r), 1);
    CHECK_BYTES(r.message_id, "TLVID");
    /* Without its NUL, as some gateways send it. */
    p.tlv_count = 0;
    smpp_pdu_add_tlv(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, rid, 5, NULL);
    CHECK_EQ_INT(smpp_receipt_from_pdu(&p, &r), 1);
    CHECK_BYTES(r.message_id, "TLVID");
}

TEST(receipt_from_pdu_reads_tlvs_alone_and_message_payload)
{
    static const uint8_t neterr[3] = {3, 0x01, 0x02};
    uint8_t state = 5;
    smpp_receipt_pdu r;
    smpp_pdu p;

    /* No text: the TLVs make it a receipt, stat comes from message_state. */
    receipt_deliver(&p, "");
    smpp_pdu_add_tlv(&p, SMPP_TLV_MESSAGE_STATE, &state, 1, NULL);
    smpp_pdu_add_tlv(&p, SMPP_TLV_NETWORK_ERROR_CODE, neterr, 3, NULL);
    CHECK_EQ_INT(smpp_receipt_from_pdu(&p, &r), 1);
    CHECK_EQ_INT(r.message_state, 5);
    CHECK_BYTES(r.stat, "UNDELIV");
    CHECK(r.message_id.ptr == NULL);
    CHECK(r.network_error_code != NULL && r.network_error_code[2] == 0x02);
    CHECK_EQ_INT(r.final, 1);

    /* Longer text travels in message_payload when short_message is empty. */
    receipt_deliver(&p, "");
    smpp_pdu_add_tlv(&p, SMPP_TLV_MESSAGE_PAYLOAD, "id:9 stat:ACCEPTD", 17, NULL);
    CHECK_EQ_INT(smpp_receipt_from_pdu(&p, &r), 1);
    CHECK_BYTES(r.message_id, "9");
    CHECK_BYTES(r.raw, "id:9 stat:ACCEPTD");
    CHECK_EQ_INT(r.final, 0);

    /* A plain message, and a PDU that is no deliver_sm, are no receipts. */
    receipt_deliver(&p, "hello there");
    CHECK_EQ_INT(smpp_receipt_from_pdu(&p, &r), 0);
    receipt_deliver(&p, "id:1 stat:DELIVRD");
    p.command_id = SMPP_SUBMIT_SM;
    CHECK_EQ_INT(smpp_receipt_from_pdu(&p, &r), 0);
}

TEST(receipt_is_final_unless_enroute_or_accepted)
{
    smpp_bytes enroute = S("enroute"), acceptd = S("ACCEPTD"), delivrd = S("DELIVRD");

    /* SMPP 3.4 5.2.28: message_state decides when present. */
    CHECK_EQ_INT(smpp_receipt_is_final(1, &delivrd), 0);
    CHECK_EQ_INT(smpp_receipt_is_final(6, NULL), 0);
    CHECK_EQ_INT(smpp_receipt_is_final(2, &enroute), 1);
    CHECK_EQ_INT(smpp_receipt_is_final(0, NULL), 1);
    /* Otherwise the text's stat, in any case. */
    CHECK_EQ_INT(smpp_receipt_is_final(-1, &enroute), 0);
    CHECK_EQ_INT(smpp_receipt_is_final(-1, &acceptd), 0);
    CHECK_EQ_INT(smpp_receipt_is_final(-1, &delivrd), 1);
    CHECK_EQ_INT(smpp_receipt_is_final(-1, NULL), 1);
}

TEST(pdu_defaults_are_the_gateways)
{
    smpp_pdu p;

    smpp_pdu_defaults(&p, SMPP_SUBMIT_SM);
    CHECK_EQ_INT(p.command_id, SMPP_SUBMIT_SM);
    CHECK_BYTES(p.service_type, "MSG");
    CHECK_EQ_INT(p.source_addr_ton, 1);
    CHECK_EQ_INT(p.source_addr_npi, 1);
    CHECK_EQ_INT(p.dest_addr_ton, 1);
    CHECK_EQ_INT(p.dest_addr_npi, 1);
    CHECK_EQ_INT(p.data_coding, 0);
    CHECK_EQ_INT(p.registered_delivery, 1);
    CHECK_EQ_INT(p.source_addr.len, 0);
    /* A receipt asks for no receipt of its own. */
    smpp_pdu_defaults(&p, SMPP_DELIVER_SM);
    CHECK_EQ_INT(p.command_id, SMPP_DELIVER_SM);
    CHECK_BYTES(p.service_type, "MSG");
    CHECK_EQ_INT(p.registered_delivery, 0);
}

TEST(receipt_format_writes_the_canonical_form)
{
    smpp_receipt r;
    uint8_t out[256];
    smpp_error err = {0};
    long n;
    size_t cap;

    memset(&r, 0, sizeof(r));
    r.id = S("0123456789abcdef");
    r.submit_date = S("2611251200");
    r.done_date = S("2611251201");
    r.stat = S("DELIVRD");
    n = smpp_receipt_format(&r, out, sizeof(out), &err);
    CHECK_MEM(out, n > 0 ? (size_t)n : 0, receipt_text, strlen(receipt_text));
    for (cap = 0; cap < strlen(receipt_text); cap++) {
        CHECK_EQ_INT(smpp_receipt_format(&r, out, cap, &err), SMPP_ERR_BUFFER);
        CHECK_EQ_INT(err.limit, strlen(receipt_text));
    }
    r.stat = S("NOT OK");
    CHECK_EQ_INT(smpp_receipt_format(&r, out, sizeof(out), &err), SMPP_ERR_FIELD);
    CHECK_MSG(&err, "stat");
    r.stat = S("UNDELIV");
    r.err = S("034");
    r.text = S("hello  world");
    n = smpp_receipt_format(&r, out, sizeof(out), &err);
    CHECK(n > 0);
    {
        smpp_receipt r2;

        CHECK_EQ_INT(smpp_receipt_parse(out, (size_t)n, &r2), 8);
        CHECK_BYTES(r2.stat, "UNDELIV");
        CHECK_BYTES(r2.err, "034");
        CHECK_BYTES(r2.text, "hello  world");
        CHECK_BYTES(r2.sub, "001");
    }
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv);
}
