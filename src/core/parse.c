/* parse.c — strict number parsing for every text format and option: the
 * whole field must be a number. Slices need not be NUL-terminated, so a
 * parser can hand over a field of a line without copying the line. */
#include "core_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Longest accepted number text; longer fields are rejected as non-numbers
 * (a double needs at most ~25 significant characters). */
#define NUM_MAX 64

static int copy_field(const char *s, size_t len, char *buf)
{
    if (len == 0 || len >= NUM_MAX)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    /* strtoll/strtod skip leading spaces; we do not accept them */
    return !(buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n' || buf[0] == '\r' ||
             buf[0] == '\f' || buf[0] == '\v');
}

sten_status sten_parse_int(const char *s, size_t len, long long lo, long long hi,
                           long long *out)
{
    char buf[NUM_MAX];
    if (!copy_field(s, len, buf))
        return STEN_E_PARSE;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (end != buf + len)
        return STEN_E_PARSE;
    if (errno == ERANGE || v < lo || v > hi)
        return STEN_E_RANGE;
    *out = v;
    return STEN_OK;
}

sten_status sten_parse_double(const char *s, size_t len, double *out)
{
    char buf[NUM_MAX];
    if (!copy_field(s, len, buf))
        return STEN_E_PARSE;
    /* no hex floats, inf or nan spelled out: data files never mean them */
    for (size_t i = 0; i < len; i++)
        if (buf[i] == 'x' || buf[i] == 'X' || buf[i] == 'n' || buf[i] == 'N' ||
            buf[i] == 'i' || buf[i] == 'I')
            return STEN_E_PARSE;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len)
        return STEN_E_PARSE;
    if ((errno == ERANGE && fabs(v) > 1.0) || !isfinite(v))
        return STEN_E_RANGE;
    *out = v;
    return STEN_OK;
}
