/*
 * smpp_status.c - command_status and message_state names, both ways.
 */
#include <string.h>

#include "smpp_status.h"

typedef struct status_name {
    uint32_t value;
    const char *name;
} status_name;

/* PROTOCOL.md, "command_status values"; sorted by value. */
static const status_name statuses[] = {
    {SMPP_ESME_ROK, "ESME_ROK"},
    {SMPP_ESME_RINVMSGLEN, "ESME_RINVMSGLEN"},
    {SMPP_ESME_RINVCMDLEN, "ESME_RINVCMDLEN"},
    {SMPP_ESME_RINVCMDID, "ESME_RINVCMDID"},
    {SMPP_ESME_RINVBNDSTS, "ESME_RINVBNDSTS"},
    {SMPP_ESME_RALYBND, "ESME_RALYBND"},
    {SMPP_ESME_RSYSERR, "ESME_RSYSERR"},
    {SMPP_ESME_RINVDSTADR, "ESME_RINVDSTADR"},
    {SMPP_ESME_RBINDFAIL, "ESME_RBINDFAIL"},
    {SMPP_ESME_RINVPASWD, "ESME_RINVPASWD"},
    {SMPP_ESME_RINVSYSID, "ESME_RINVSYSID"},
    {SMPP_ESME_RMSGQFUL, "ESME_RMSGQFUL"},
    {SMPP_ESME_RINVSERTYP, "ESME_RINVSERTYP"},
    {SMPP_ESME_RINVPARAM, "ESME_RINVPARAM"},
    {SMPP_ESME_RSUBMITFAIL, "ESME_RSUBMITFAIL"},
    {SMPP_ESME_RINVNUMMSGS, "ESME_RINVNUMMSGS"},
    {SMPP_ESME_RTHROTTLED, "ESME_RTHROTTLED"},
    {SMPP_ESME_RUNKNOWNERR, "ESME_RUNKNOWNERR"},
};

#define STATUS_COUNT (sizeof(statuses) / sizeof(statuses[0]))

const char *smpp_status_name(uint32_t status)
{
    size_t i;

    for (i = 0; i < STATUS_COUNT; i++)
        if (statuses[i].value == status)
            return statuses[i].name;
    return NULL;
}

uint32_t smpp_status_value(const char *name, size_t len, int *found)
{
    size_t i;

    for (i = 0; i < STATUS_COUNT; i++) {
        if (strlen(statuses[i].name) == len && memcmp(statuses[i].name, name, len) == 0) {
            if (found != NULL)
                *found = 1;
            return statuses[i].value;
        }
    }
    if (found != NULL)
        *found = 0;
    return 0;
}

size_t smpp_status_count(void)
{
    return STATUS_COUNT;
}

/* i >= smpp_status_count() is a caller bug; answer ESME_RUNKNOWNERR rather
 * than read past the table. */
uint32_t smpp_status_at(size_t i)
{
    return i < STATUS_COUNT ? statuses[i].value : SMPP_ESME_RUNKNOWNERR;
}

/* PROTOCOL.md, TLV 0x0427; SMPP 3.4 5.3.2.35. */
static const char *const states[] = {
    NULL,       "ENROUTE", "DELIVERED", "EXPIRED", "DELETED", "UNDELIVERABLE",
    "ACCEPTED", "UNKNOWN", "REJECTED",
};

const char *smpp_message_state_name(unsigned state)
{
    return state < sizeof(states) / sizeof(states[0]) ? states[state] : NULL;
}
