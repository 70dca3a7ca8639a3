/*
 * smpp_error.h - error codes shared by every C layer of lua-smpp.
 *
 * One enum of negative values (nghttp2 style). Codes at or below
 * SMPP_ERR_FATAL mean the byte stream or the session can't go on.
 * An smpp_error carries the code plus a message that names the field or
 * offset at fault; it is filled only on the error path.
 */
#ifndef SMPP_ERROR_H
#define SMPP_ERROR_H

#include <stddef.h>

typedef enum smpp_err_code {
    SMPP_OK = 0,
    SMPP_ERR_FIELD = -1,           /* a field is malformed (missing NUL, bad size) */
    SMPP_ERR_LIMIT = -2,           /* a field or count is over its limit */
    SMPP_ERR_BUFFER = -3,          /* output buffer too small */
    SMPP_ERR_UNKNOWN_COMMAND = -4, /* framed, but the command id is unknown */
    SMPP_ERR_UTF8 = -5,            /* invalid UTF-8 input */
    SMPP_ERR_UCS2 = -6,            /* invalid UTF-16BE input */
    SMPP_ERR_STATE = -7,           /* call not allowed in the session's state */
    SMPP_ERR_QUEUE_FULL = -8,      /* submit queue is full */
    SMPP_ERR_NOMEM = -9,           /* out of memory */
    SMPP_ERR_ARG = -10,            /* bad argument from the caller */
    SMPP_ERR_NOT_SENT = -11,       /* the link ended without the application
                                      closing it: nothing more goes out */
    SMPP_ERR_FATAL = -100,         /* codes <= this one are fatal */
    SMPP_ERR_FRAMING = -101,       /* command_length < 16 or over the cap */
    SMPP_ERR_PROTOCOL = -102       /* peer broke the protocol beyond repair */
} smpp_err_code;

#define SMPP_ERRMSG_SIZE 128

typedef struct smpp_error {
    int code;
    size_t offset; /* byte offset of the problem, where one applies */
    size_t limit;  /* the limit broken, or bytes needed for SMPP_ERR_BUFFER */
    char msg[SMPP_ERRMSG_SIZE];
} smpp_error;

/* Static text for a code; never NULL. */
const char *smpp_strerror(int code);

static inline int smpp_is_fatal(int code)
{
    return code <= SMPP_ERR_FATAL;
}

/* Fill err (if not NULL) with code and a printf-style message; returns code
 * so callers can `return smpp_error_set(...)`. */
int smpp_error_set(smpp_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((cold, format(printf, 3, 4)))
#endif
    ;

/* The same, plus the byte offset where it happened and the limit broken
 * (the codec's decode and encode errors). */
int smpp_error_at(smpp_error *err, int code, size_t offset, size_t limit, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((cold, format(printf, 5, 6)))
#endif
    ;

#endif
