/*
 * smpp_error.c - error texts and the one place that formats an error.
 */
#include <stdarg.h>
#include <stdio.h>

#include "smpp_error.h"

const char *smpp_strerror(int code)
{
    switch (code) {
    case SMPP_OK:
        return "success";
    case SMPP_ERR_FIELD:
        return "malformed field";
    case SMPP_ERR_LIMIT:
        return "field or count over its limit";
    case SMPP_ERR_BUFFER:
        return "output buffer too small";
    case SMPP_ERR_UNKNOWN_COMMAND:
        return "unknown command id";
    case SMPP_ERR_UTF8:
        return "invalid UTF-8";
    case SMPP_ERR_UCS2:
        return "invalid UCS2 (UTF-16BE)";
    case SMPP_ERR_STATE:
        return "not allowed in the session's state";
    case SMPP_ERR_QUEUE_FULL:
        return "submit queue full";
    case SMPP_ERR_NOMEM:
        return "out of memory";
    case SMPP_ERR_ARG:
        return "bad argument";
    case SMPP_ERR_NOT_SENT:
        return "not sent: the link ended";
    case SMPP_ERR_FATAL:
        return "fatal error";
    case SMPP_ERR_FRAMING:
        return "broken framing (bad command_length)";
    case SMPP_ERR_PROTOCOL:
        return "protocol violation by the peer";
    default:
        return "unknown error";
    }
}

/* Only error paths come here, so vsnprintf's cost never hits a hot path. */
static int error_vset(smpp_error *err, int code, size_t offset, size_t limit, const char *fmt,
                      va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->offset = offset;
    err->limit = limit;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int smpp_error_set(smpp_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    code = error_vset(err, code, 0, 0, fmt, ap);
    va_end(ap);
    return code;
}

int smpp_error_at(smpp_error *err, int code, size_t offset, size_t limit, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    code = error_vset(err, code, offset, limit, fmt, ap);
    va_end(ap);
    return code;
}
