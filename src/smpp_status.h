/*
 * smpp_status.h - command_status names (PROTOCOL.md, "command_status
 * values") and message_state names (PROTOCOL.md, TLV 0x0427).
 */
#ifndef SMPP_STATUS_H
#define SMPP_STATUS_H

#include <stddef.h>
#include <stdint.h>

enum smpp_status {
    SMPP_ESME_ROK = 0x00000000u,
    SMPP_ESME_RINVMSGLEN = 0x00000001u,
    SMPP_ESME_RINVCMDLEN = 0x00000002u,
    SMPP_ESME_RINVCMDID = 0x00000003u,
    SMPP_ESME_RINVBNDSTS = 0x00000004u,
    SMPP_ESME_RALYBND = 0x00000005u,
    SMPP_ESME_RSYSERR = 0x00000008u,
    SMPP_ESME_RINVDSTADR = 0x0000000Bu,
    SMPP_ESME_RBINDFAIL = 0x0000000Du,
    SMPP_ESME_RINVPASWD = 0x0000000Eu,
    SMPP_ESME_RINVSYSID = 0x0000000Fu,
    SMPP_ESME_RMSGQFUL = 0x00000014u,
    SMPP_ESME_RINVSERTYP = 0x00000015u,
    SMPP_ESME_RINVPARAM = 0x00000032u,
    SMPP_ESME_RSUBMITFAIL = 0x00000045u,
    SMPP_ESME_RINVNUMMSGS = 0x00000055u,
    SMPP_ESME_RTHROTTLED = 0x00000058u,
    SMPP_ESME_RUNKNOWNERR = 0x000000FFu
};

/* Name for a status ("ESME_RSYSERR"), or NULL when the number is unknown. */
const char *smpp_status_name(uint32_t status);
/* Status for a name; returns 0 and sets *found = 0 when unknown. */
uint32_t smpp_status_value(const char *name, size_t len, int *found);
/* Count of known statuses, and the i-th one, for listing them all. */
size_t smpp_status_count(void);
uint32_t smpp_status_at(size_t i);

/* message_state name (1 "ENROUTE" .. 8 "REJECTED"), or NULL. */
const char *smpp_message_state_name(unsigned state);

#endif
