/*
 * smpp_pdu.h - SMPP 3.4 PDU codec for the EngageLab gateway's subset.
 *
 * No I/O, no clock, no Lua, no global state. Decoding is zero-copy: every
 * string and octet field of a decoded smpp_pdu points into the buffer that
 * was decoded, so the buffer must outlive the pdu. Encoding reads the same
 * struct, so a pdu can be filled from borrowed pointers and encoded without
 * any allocation.
 *
 * One table of field descriptors per command (smpp_pdu_fields) drives
 * encode, decode and the Lua conversion, so a field is described once.
 */
#ifndef SMPP_PDU_H
#define SMPP_PDU_H

#include <stddef.h>
#include <stdint.h>

#include "smpp_error.h"

#define SMPP_HEADER_LEN 16u
#define SMPP_DEFAULT_MAX_PDU 65536u
/* TLVs kept per PDU; a PDU carrying more is refused with SMPP_ERR_LIMIT. */
#define SMPP_MAX_TLVS 32u
/* SMPP 3.4 5.2.21: short_message is 0..254 octets. */
#define SMPP_MAX_SHORT_MESSAGE 254u

/* Command ids: PROTOCOL.md, "Commands"; SMPP 3.4 5.1.2.1. */
enum smpp_command {
    SMPP_GENERIC_NACK = 0x80000000u,
    SMPP_BIND_RECEIVER = 0x00000001u,
    SMPP_BIND_RECEIVER_RESP = 0x80000001u,
    SMPP_BIND_TRANSMITTER = 0x00000002u,
    SMPP_BIND_TRANSMITTER_RESP = 0x80000002u,
    SMPP_QUERY_SM = 0x00000003u,
    SMPP_QUERY_SM_RESP = 0x80000003u,
    SMPP_SUBMIT_SM = 0x00000004u,
    SMPP_SUBMIT_SM_RESP = 0x80000004u,
    SMPP_DELIVER_SM = 0x00000005u,
    SMPP_DELIVER_SM_RESP = 0x80000005u,
    SMPP_UNBIND = 0x00000006u,
    SMPP_UNBIND_RESP = 0x80000006u,
    SMPP_BIND_TRANSCEIVER = 0x00000009u,
    SMPP_BIND_TRANSCEIVER_RESP = 0x80000009u,
    SMPP_ENQUIRE_LINK = 0x00000015u,
    SMPP_ENQUIRE_LINK_RESP = 0x80000015u
};

#define SMPP_RESP_BIT 0x80000000u
#define SMPP_IS_RESPONSE(id) (((id)&SMPP_RESP_BIT) != 0)

/* TLV tags that have names: PROTOCOL.md, "TLVs that matter here". */
enum smpp_tlv_tag {
    SMPP_TLV_RECEIPTED_MESSAGE_ID = 0x001E,
    SMPP_TLV_SC_INTERFACE_VERSION = 0x0210,
    SMPP_TLV_NETWORK_ERROR_CODE = 0x0423,
    SMPP_TLV_MESSAGE_PAYLOAD = 0x0424,
    SMPP_TLV_MESSAGE_STATE = 0x0427
};

/* A borrowed byte string; len never counts a terminating NUL. */
typedef struct smpp_bytes {
    const uint8_t *ptr;
    size_t len;
} smpp_bytes;

typedef struct smpp_tlv {
    uint16_t tag;
    uint16_t len;
    const uint8_t *value; /* raw value bytes, exactly as on the wire */
} smpp_tlv;

/*
 * Every field of every supported command. A command uses the subset its
 * descriptor table names; the rest stay zero. Field names are the SMPP 3.4
 * names, which are also the Lua table keys.
 */
typedef struct smpp_pdu {
    uint32_t command_id;
    uint32_t command_status;
    uint32_t sequence_number;
    /* 0 for a response that came (or is to be sent) with no body at all:
     * SMPP 3.4 allows that when command_status != 0. Decode sets it;
     * encode omits the body when it is 0 and the command is a response. */
    uint8_t has_body;

    /* bind_* */
    smpp_bytes system_id;
    smpp_bytes password;
    smpp_bytes system_type;
    uint8_t interface_version;
    uint8_t addr_ton;
    uint8_t addr_npi;
    smpp_bytes address_range;

    /* submit_sm / deliver_sm (same layout, SMPP 3.4 4.4.1 and 4.6.1) */
    smpp_bytes service_type;
    uint8_t source_addr_ton;
    uint8_t source_addr_npi;
    smpp_bytes source_addr;
    uint8_t dest_addr_ton;
    uint8_t dest_addr_npi;
    smpp_bytes destination_addr;
    uint8_t esm_class;
    uint8_t protocol_id;
    uint8_t priority_flag;
    smpp_bytes schedule_delivery_time;
    smpp_bytes validity_period;
    uint8_t registered_delivery;
    uint8_t replace_if_present_flag;
    uint8_t data_coding;
    uint8_t sm_default_msg_id;
    smpp_bytes short_message; /* octets; sm_length is short_message.len */

    /* submit_sm_resp, deliver_sm_resp, query_sm, query_sm_resp */
    smpp_bytes message_id;

    /* query_sm_resp (SMPP 3.4 4.8.2) */
    smpp_bytes final_date; /* empty, or 16 chars like the other dates */
    uint8_t message_state;
    uint8_t error_code;

    /* TLVs in wire order. Kept last so that clearing a pdu can skip the
     * array (see smpp_pdu_clear). */
    size_t tlv_count;
    smpp_tlv tlvs[SMPP_MAX_TLVS];
} smpp_pdu;

/* Field descriptors: one table per command. */
typedef enum smpp_field_type {
    SMPP_FT_CSTRING, /* C-Octet String; max counts the NUL */
    SMPP_FT_U8,      /* 1-byte integer */
    SMPP_FT_SM       /* sm_length (1 byte) + short_message octets */
} smpp_field_type;

typedef struct smpp_field {
    const char *name;
    smpp_field_type type;
    uint16_t max;     /* CSTRING: size on the wire incl. NUL; SM: max octets */
    uint16_t offset;  /* offsetof(smpp_pdu, field) */
    uint8_t alt_size; /* CSTRING only: a second allowed size (17 for dates:
                         "1 or 17"), 0 when the size is any up to max */
} smpp_field;

/* Descriptor table for a command id; *count receives its length. Returns
 * NULL for an unknown command id. Responses with no body return a table
 * of length 0. The tables are static and live forever. */
const smpp_field *smpp_pdu_fields(uint32_t command_id, size_t *count);

/* Command name ("submit_sm") for an id, or NULL when unknown. */
const char *smpp_command_name(uint32_t command_id);
/* Command id for a name; returns 0 when unknown (0 is no command). */
uint32_t smpp_command_id(const char *name, size_t len);

/* Clear every field of pdu except the TLV array; sets tlv_count = 0 and
 * has_body = 1. Cheap enough for a hot path. */
void smpp_pdu_clear(smpp_pdu *pdu);

/*
 * Clear pdu and give it the gateway's defaults for a request of
 * command_id (PROTOCOL.md, "What the gateway expects of a client" and
 * "Receipts"): service_type "MSG" (static), TON/NPI 1/1 both ways, empty
 * source_addr, data_coding 0; a submit_sm also asks for its receipt
 * (registered_delivery 1: the point of an OTP is its receipt). The
 * application's fields overlay these.
 */
void smpp_pdu_defaults(smpp_pdu *pdu, uint32_t command_id);

/*
 * Framing: look at the start of a byte stream.
 * Returns 0 when more bytes are needed, the command_length L (>= 16) when
 * one whole PDU of L bytes is available at buf, or SMPP_ERR_FRAMING when
 * the stream is broken (command_length < 16 or > max_len); err, if not
 * NULL, then names the problem. max_len 0 means SMPP_DEFAULT_MAX_PDU.
 */
long smpp_frame(const uint8_t *buf, size_t len, uint32_t max_len, smpp_error *err);

/*
 * Decode exactly one PDU of len bytes (len == its command_length, as
 * smpp_frame returned). Every pointer stored in pdu borrows from buf.
 * Returns 0, or a negative smpp_err_code with err filled (field named).
 * Unknown command ids decode with only the header filled and return
 * SMPP_ERR_UNKNOWN_COMMAND (not fatal for a stream: the PDU was framed).
 */
int smpp_pdu_decode(smpp_pdu *pdu, const uint8_t *buf, size_t len, smpp_error *err);

/* Exact encoded size of pdu, or a negative smpp_err_code with err filled
 * when a field breaks its limit. */
long smpp_pdu_encoded_size(const smpp_pdu *pdu, smpp_error *err);

/*
 * Encode pdu into out (capacity cap). Checks every limit first. Returns the
 * number of bytes written, or a negative smpp_err_code with err filled:
 * SMPP_ERR_LIMIT / SMPP_ERR_FIELD naming the field, SMPP_ERR_BUFFER when
 * cap is too small (err->limit then holds the size needed).
 */
long smpp_pdu_encode(const smpp_pdu *pdu, uint8_t *out, size_t cap, smpp_error *err);

/* First TLV with tag, or NULL. */
const smpp_tlv *smpp_pdu_find_tlv(const smpp_pdu *pdu, uint16_t tag);

/* Append a TLV (value borrowed). Returns 0 or SMPP_ERR_LIMIT. */
int smpp_pdu_add_tlv(smpp_pdu *pdu, uint16_t tag, const void *value, size_t len, smpp_error *err);

/* Big-endian helpers shared by the codec and the session. */
static inline uint32_t smpp_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void smpp_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
