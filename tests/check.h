/* check.h — a minimal test harness: CHECK macros that print file, line,
 * expression and both values on failure and count failures; a test program's
 * exit code is the verdict. Header-only so each test is one program. */
#ifndef STEN_CHECK_H
#define STEN_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                            \
    do {                                                                       \
        check_count++;                                                         \
        if (!(cond)) {                                                         \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        check_count++;                                                         \
        if (a_ != b_) {                                                        \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n",  \
                    __FILE__, __LINE__, #a, #b, a_, b_);                       \
        }                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        check_count++;                                                         \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                               \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK_STR(%s, %s) failed:\n  \"%s\"\n  \"%s\"\n", \
                    __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)",            \
                    b_ ? b_ : "(null)");                                       \
        }                                                                      \
    } while (0)

/* |got - want| <= abs + rel * |want|; NaN only matches NaN. */
#define CHECK_NEAR(got, want, abs_tol, rel_tol)                                \
    do {                                                                       \
        double g_ = (got), w_ = (want);                                        \
        check_count++;                                                         \
        int ok_ = (isnan(g_) && isnan(w_)) || g_ == w_ ||                      \
                  fabs(g_ - w_) <= (abs_tol) + (rel_tol) * fabs(w_);           \
        if (!ok_) {                                                            \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK_NEAR(%s, %s) failed: %.9g vs %.9g\n", \
                    __FILE__, __LINE__, #got, #want, g_, w_);                  \
        }                                                                      \
    } while (0)

/* Compares two float arrays element-wise; reports the first 5 mismatches and
 * the largest difference, counts one check. */
static inline int check_close_(const char *file, int line, const char *what,
                               const float *got, const float *want, long n,
                               double abs_tol, double rel_tol)
{
    long bad = 0;
    double worst = 0;
    for (long i = 0; i < n; i++) {
        double g = got[i], w = want[i], d = fabs(g - w);
        int ok = (isnan(g) && isnan(w)) || g == w || d <= abs_tol + rel_tol * fabs(w);
        if (!ok) {
            if (bad < 5)
                fprintf(stderr, "%s:%d: %s[%ld]: got %.9g want %.9g\n", file, line,
                        what, i, g, w);
            bad++;
            if (d > worst)
                worst = d;
        }
    }
    check_count++;
    if (bad) {
        check_failures++;
        fprintf(stderr, "%s:%d: %s: %ld of %ld elements differ (max diff %.3g)\n",
                file, line, what, bad, n, worst);
    }
    return bad == 0;
}
#define CHECK_CLOSE(got, want, n, abs_tol, rel_tol)                            \
    check_close_(__FILE__, __LINE__, #got, (got), (want), (long)(n), (abs_tol), (rel_tol))

#define RUN(test)                                                              \
    do {                                                                       \
        int before_ = check_failures;                                          \
        test();                                                                \
        fprintf(stderr, "%-40s %s\n", #test,                                   \
                check_failures == before_ ? "ok" : "FAILED");                  \
    } while (0)

#define CHECK_DONE()                                                           \
    (fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures),   \
     check_failures ? EXIT_FAILURE : EXIT_SUCCESS)

#endif
