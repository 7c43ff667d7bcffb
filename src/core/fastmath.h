/* fastmath.h — branch-free float exp and log that loops can vectorise
 * (glibc's expf/logf are scalar calls unless -ffast-math, which sten never
 * uses). Accurate to a few ulp; used by activations and losses. */
#ifndef STEN_FASTMATH_H
#define STEN_FASTMATH_H

#include <stdint.h>

/* e^x for float, branch-free so loops calling it vectorise (glibc's expf is
 * a scalar call without -ffast-math). Cody-Waite range reduction x = n ln2 + r,
 * |r| <= ln2/2, then a degree-6 polynomial: max relative error ~2 ulp over
 * the clamped range; overflows to +inf above 88.7 and flushes to 0 below
 * -87.3 like expf. */
static inline float fast_expf(float x)
{
    const float hi = 88.7228f, lo = -87.3365f;
    /* NaN takes the lo branch here (so the integer conversion below is
     * defined) and is given back at the end */
    const float xc = x > hi ? hi : (x >= lo ? x : lo);
    /* round to nearest by adding and removing 1.5 * 2^23 (no libcall) */
    const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693145751953125f; /* ln2 split: exact high part */
    r -= n * 1.42860682030941723212e-6f;
    float p = 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        float f;
        uint32_t u;
    } scale = {.u = (uint32_t)((int32_t)n + 127) << 23}; /* n in [-126, 128] */
    float y = p * scale.f;
    /* restore the saturations the clamp hid, and NaN */
    y = x > hi ? __builtin_inff() : y;
    y = x < lo ? 0.0f : y;
    return x != x ? x : y;
}

/* ln(x) for x > 0 (Cephes logf: mantissa in [sqrt(1/2), sqrt(2)), degree-8
 * polynomial); NaN and +inf come back unchanged; x <= 0 is the caller's
 * business (clamp first). */
static inline float fast_logf(float x)
{
    union {
        float f;
        uint32_t i;
    } u = {.f = x};
    float e = (float)((int)((u.i >> 23) & 0xff) - 126);
    u.i = (u.i & 0x007fffffu) | 0x3f000000u; /* mantissa in [0.5, 1) */
    float m = u.f;
    const int small = m < 0.707106781186547524f;
    e = small ? e - 1.0f : e;
    m = small ? m + m - 1.0f : m - 1.0f;
    const float z = m * m;
    float y = 7.0376836292e-2f;
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    const float r = m + y + 0.693359375f * e;
    return x < 3.4e38f ? r : x; /* false for NaN and +inf: they pass through */
}

#endif
