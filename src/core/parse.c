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

/* Plain decimal integers (the common case in data files) without the copy
 * and strtoll: up to 18 digits cannot overflow. */
static int fast_int(const char *s, size_t len, long long *out)
{
    size_t i = 0;
    const int neg = len > 1 && s[0] == '-';
    i += (size_t)neg || (len > 1 && s[0] == '+');
    if (i == len || len - i > 18)
        return 0;
    long long v = 0;
    for (; i < len; i++) {
        const unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return 0;
        v = v * 10 + d;
    }
    *out = neg ? -v : v;
    return 1;
}

sten_status sten_parse_int(const char *s, size_t len, long long lo, long long hi,
                           long long *out)
{
    long long fv;
    if (fast_int(s, len, &fv)) {
        if (fv < lo || fv > hi)
            return STEN_E_RANGE;
        *out = fv;
        return STEN_OK;
    }
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

/* Clinger's fast path: digits[.digits] with at most 15 significant digits
 * is an integer below 2^53 divided by an exact power of ten, and one
 * correctly rounded division gives exactly what strtod would. */
static int fast_double(const char *s, size_t len, double *out)
{
    static const double pow10[16] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
                                     1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    size_t i = 0;
    const int neg = len > 1 && s[0] == '-';
    i += (size_t)neg || (len > 1 && s[0] == '+');
    long long m = 0;
    int digits = 0, frac = -1;
    for (; i < len; i++) {
        if (s[i] == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        const unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || ++digits > 15)
            return 0;
        m = m * 10 + d;
        frac += frac >= 0;
    }
    if (digits == 0 || frac == 0) /* "", "-", "5." and "." go the slow way */
        return 0;
    const double v = frac > 0 ? (double)m / pow10[frac] : (double)m;
    *out = neg ? -v : v;
    return 1;
}

sten_status sten_parse_double(const char *s, size_t len, double *out)
{
    if (fast_double(s, len, out))
        return STEN_OK;
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
