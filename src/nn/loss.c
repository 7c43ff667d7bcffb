/* loss.c — error functions of an output layer: the loss value and the delta
 * dL/dz that back-propagation starts from. Sparse targets take a dense
 * zero-target pass over the row plus a correction on the listed items; dense
 * targets take one pass. Per-example data weights multiply both. */
#include "core/fastmath.h"
#include "net_int.h"

#include <math.h>
#include <string.h>

#define MIN_ERROR 1e-12 /* DSSTNE's clamp on log arguments */

static double lg(double x)
{
    return log(x < MIN_ERROR ? MIN_ERROR : x); /* NaN passes through */
}

typedef struct {
    sten_loss kind;
    bool softmax;    /* SoftMax output with a cross-entropy loss */
    bool canonical;  /* delta computed directly (CE/SMCE with Sigmoid/SoftMax) */
    float one_t, zero_t, one_s, zero_s; /* SMCE margins and scales */
    float boost_one, boost_zero;        /* DeltaBoost (CrossEntropy) */
} loss_cfg;

/* Generic losses: value and dL/da for one unit with target t. */
static double generic(sten_loss kind, float a, float t, float *dlda)
{
    switch (kind) {
    case STEN_LOSS_L1:
        *dlda = a > t ? 1.0f : (a < t ? -1.0f : 0.0f);
        return fabs((double)a - t);
    case STEN_LOSS_HINGE: {
        const double m = 1.0 - (double)t * a;
        *dlda = m > 0 ? -t : 0.0f;
        return m > 0 ? m : 0.0;
    }
    case STEN_LOSS_L2_HINGE: {
        const float d = t > 0 ? fminf(0.0f, a - t) : fmaxf(0.0f, a - t);
        *dlda = d;
        return 0.5 * (double)d * d;
    }
    default: /* L2 */
        *dlda = a - t;
        return 0.5 * ((double)a - t) * ((double)a - t);
    }
}

/* Canonical sigmoid losses: value and dL/dz for one unit; t is the target
 * value (1 for boolean positives, 0 for the zero targets). */
static double sigmoid_canon(const loss_cfg *c, float a, float t, float *dz)
{
    switch (c->kind) {
    case STEN_LOSS_CROSS_ENTROPY: {
        const float boost = t > 0 ? c->boost_one : c->boost_zero;
        *dz = boost * (a - t);
        return -boost * (t * lg(a) + (1.0 - t) * lg(1.0 - a));
    }
    case STEN_LOSS_DATA_SCALED_MARGINAL_CROSS_ENTROPY:
    case STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY: {
        if (t > 0) {
            const float s = c->kind == STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY ? c->one_s : c->one_s * t;
            /* written so that a NaN activation gives a NaN loss, never a silent 0 */
            *dz = !(a >= c->one_t) ? s * (a - 1.0f) : 0.0f;
            return !(a >= c->one_t) ? -s * lg(a) : 0.0;
        }
        *dz = !(a <= c->zero_t) ? c->zero_s * a : 0.0f;
        return !(a <= c->zero_t) ? -c->zero_s * lg(1.0 - a) : 0.0;
    }
    default:
        *dz = 0.0f;
        return 0.0;
    }
}

/* From a pre-activation z and e = exp(-|z|) in (0, 1] (never overflowing):
 * a = sigmoid(z), and -ln(1 - a) = softplus(z) = max(z, 0) + ln(1 + e),
 * clamped to [0, -ln(1e-12)] as lg clamps (NaN stays NaN). Through 1/(1+e)
 * with e = exp(-z), a z below -88.7 overflowed e and gave the clamp's 27.6
 * for a term that is ~0. */
static inline float sig_e(float z, float e)
{
    return z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

static inline float softplus_e(float z, float e)
{
    const float nl = (z >= 0.0f ? z : 0.0f) + fast_logf(1.0f + e);
    return nl > 27.631021f ? 27.631021f : (nl < 0.0f ? 0.0f : nl);
}

static inline float sigmoid(float z)
{
    return sig_e(z, fast_expf(-fabsf(z)));
}

/* -ln(1 - a) with DSSTNE's clamp, in the vectorisable fast log. */
static inline float neg_log1m(float a)
{
    const float om = 1.0f - a;
    return -fast_logf(om < (float)MIN_ERROR ? (float)MIN_ERROR : om);
}

/* -ln(1-a) exactly as sigmoid_zero_pass computes it (from a, or from z). */
static inline float zero_term(float v, int from_z)
{
    if (!from_z)
        return neg_log1m(v);
    return softplus_e(v, fast_expf(-fabsf(v)));
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "core/simd256.h"
#define ZP512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

/* The from-z zero pass on 16 units at once, in AVX-512, through w =
 * exp(-|z|) in (0, 1]: w by range reduction and 2^n through vscalefps;
 * r = 1/(1+w) by rcp14 and a Newton step; a = sigmoid(z) is r for z >= 0
 * and w r below; -ln(1-a) = softplus(z) = max(z, 0) + ln(1+w), ln(1+w) by
 * a degree-8 polynomial in w (relative error under 2.5e-7 on [0, 1]). *x
 * gets a, the result is -ln(1-a) clamped to [0, -ln(1e-12)] as in the
 * portable loop; NaN stays NaN. */
ZP512 static inline __m512 zp16(__m512 z, __m512 *x)
{
    const __m512 t = _mm512_max_ps(_mm512_set1_ps(-104.0f), _mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(z)));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), t);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723212e-6f), r);
    __m512 p = _mm512_set1_ps(1.3981999507e-3f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512 w = _mm512_scalef_ps(p, n);
    const __m512 den = _mm512_add_ps(w, _mm512_set1_ps(1.0f)); /* in [1, 2] */
    __m512 q = _mm512_rcp14_ps(den);
    q = _mm512_fmadd_ps(q, _mm512_fnmadd_ps(den, q, _mm512_set1_ps(1.0f)), q);
    const __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 a = _mm512_mask_mul_ps(q, neg, w, q);
    *x = _mm512_mask_mov_ps(a, _mm512_cmp_ps_mask(z, z, _CMP_UNORD_Q), z); /* NaN in, NaN out */
    __m512 y = _mm512_set1_ps(0.005253457929939032f);
    y = _mm512_fmadd_ps(y, w, _mm512_set1_ps(-0.02958850748836994f));
    y = _mm512_fmadd_ps(y, w, _mm512_set1_ps(0.07836166769266129f));
    y = _mm512_fmadd_ps(y, w, _mm512_set1_ps(-0.13674770295619965f));
    y = _mm512_fmadd_ps(y, w, _mm512_set1_ps(0.19111430644989014f));
    y = _mm512_fmadd_ps(y, w, _mm512_set1_ps(-0.24844369292259216f));
    y = _mm512_fmadd_ps(y, w, _mm512_set1_ps(0.33319270610809326f));
    y = _mm512_fmadd_ps(y, w, _mm512_set1_ps(-0.49999502301216125f));
    y = _mm512_fmadd_ps(y, w, _mm512_set1_ps(1.0f));
    /* max(z, 0) + ln(1+w); NaN z: max gives its second operand, so add z */
    const __m512 nl = _mm512_add_ps(_mm512_max_ps(z, _mm512_setzero_ps()), _mm512_mul_ps(y, w));
    const __m512 nl2 = _mm512_mask_mov_ps(nl, _mm512_cmp_ps_mask(z, z, _CMP_UNORD_Q), z);
    /* clamp to [0, 27.631021]; max/min give their second operand for NaN */
    return _mm512_min_ps(_mm512_set1_ps(27.631021f), _mm512_max_ps(_mm512_setzero_ps(), nl2));
}

/* 16 floats to bf16 as sten__bf16 rounds them (nearest, ties to even; a
 * NaN stays a quiet NaN), in AVX-512F integer steps. */
ZP512 static inline __m256i bf16_of(__m512 x)
{
    const __m512i u = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    const __m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(_mm512_srli_epi32(r, 16), nan, q));
}

/* db: the delta's bf16 copy written alongside d, or NULL. */
ZP512 static double zero_pass_512(float *d, const float *zs, uint32_t N, float scale, float thr,
                                  uint16_t *db)
{
    __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
    const __m512 vs = _mm512_set1_ps(scale), vt = _mm512_set1_ps(thr);
    uint32_t j = 0;
    /* two independent vectors per step: the chain per vector is long */
    for (; j + 32 <= N; j += 32) {
        const __m512 z0 = _mm512_loadu_ps(zs + j), z1 = _mm512_loadu_ps(zs + j + 16);
        __m512 x0, x1;
        const __m512 c0 = zp16(z0, &x0), c1 = zp16(z1, &x1);
        /* keep unless x <= thr: NaN counts, so it surfaces in the loss */
        const __mmask16 k0 = ~_mm512_cmp_ps_mask(x0, vt, _CMP_LE_OQ);
        const __mmask16 k1 = ~_mm512_cmp_ps_mask(x1, vt, _CMP_LE_OQ);
        const __m512 d0 = _mm512_maskz_mul_ps(k0, vs, x0), d1 = _mm512_maskz_mul_ps(k1, vs, x1);
        _mm512_storeu_ps(d + j, d0);
        _mm512_storeu_ps(d + j + 16, d1);
        if (db) {
            _mm256_storeu_si256((__m256i *)(db + j), bf16_of(d0));
            _mm256_storeu_si256((__m256i *)(db + j + 16), bf16_of(d1));
        }
        sum0 = _mm512_mask_add_ps(sum0, k0, sum0, c0);
        sum1 = _mm512_mask_add_ps(sum1, k1, sum1, c1);
    }
    for (; j < N; j += 16) {
        const __mmask16 m = N - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (N - j)) - 1u);
        const __m512 z = _mm512_maskz_loadu_ps(m, zs + j); /* before d (maybe the same slot) */
        __m512 x;
        const __m512 cl = zp16(z, &x);
        const __mmask16 keep = m & ~_mm512_cmp_ps_mask(x, vt, _CMP_LE_OQ);
        const __m512 dv = _mm512_maskz_mul_ps(keep, vs, x);
        _mm512_mask_storeu_ps(d + j, m, dv);
        if (db)
            _mm256_mask_storeu_epi16(db + j, m, bf16_of(dv));
        sum0 = _mm512_mask_add_ps(sum0, keep, sum0, cl);
    }
    return (double)scale * _mm512_reduce_add_ps(_mm512_add_ps(sum0, sum1));
}

/* m <= 16 units through zp16: a exactly as zero_pass_512 had them, and
 * -ln(1-a) as it added them. */
ZP512 static void zp_many(const float *z, int m, float *a, float *zt)
{
    const __mmask16 k = (__mmask16)((1u << m) - 1u);
    __m512 x;
    const __m512 cl = zp16(_mm512_maskz_loadu_ps(k, z), &x);
    _mm512_mask_storeu_ps(a, k, x);
    _mm512_mask_storeu_ps(zt, k, cl);
}

#define ZP256 __attribute__((target("avx2,fma")))

/* zp16's steps on 8 units with AVX2 + FMA: 2^n from exponent bits in two
 * factors (no vscalefps: n reaches -150, past the normal range) and 1/(1+w)
 * by a division (no rcp14), so a and the loss agree with zp16 to an ulp or
 * two, not bit for bit. NaN stays NaN. */
ZP256 static inline __m256 zp8(__m256 z, __m256 *x)
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 t = _mm256_max_ps(_mm256_set1_ps(-104.0f),
                                   _mm256_sub_ps(zero, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z)));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), t);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860682030941723212e-6f), r);
    __m256 p = _mm256_set1_ps(1.3981999507e-3f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, one));
    /* w = p 2^n = (p 2^n1) 2^(n - n1), n1 = max(n, -126): both factors normal */
    const __m256 n1 = _mm256_max_ps(n, _mm256_set1_ps(-126.0f));
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n1), bias), 23));
    const __m256 f2 =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(_mm256_sub_ps(n, n1)), bias), 23));
    const __m256 w = _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
    const __m256 q = _mm256_div_ps(one, _mm256_add_ps(w, one));
    const __m256 a = _mm256_blendv_ps(q, _mm256_mul_ps(w, q), _mm256_cmp_ps(z, zero, _CMP_LT_OQ));
    const __m256 nan = _mm256_cmp_ps(z, z, _CMP_UNORD_Q);
    *x = _mm256_blendv_ps(a, z, nan);
    __m256 y = _mm256_set1_ps(0.005253457929939032f);
    y = _mm256_fmadd_ps(y, w, _mm256_set1_ps(-0.02958850748836994f));
    y = _mm256_fmadd_ps(y, w, _mm256_set1_ps(0.07836166769266129f));
    y = _mm256_fmadd_ps(y, w, _mm256_set1_ps(-0.13674770295619965f));
    y = _mm256_fmadd_ps(y, w, _mm256_set1_ps(0.19111430644989014f));
    y = _mm256_fmadd_ps(y, w, _mm256_set1_ps(-0.24844369292259216f));
    y = _mm256_fmadd_ps(y, w, _mm256_set1_ps(0.33319270610809326f));
    y = _mm256_fmadd_ps(y, w, _mm256_set1_ps(-0.49999502301216125f));
    y = _mm256_fmadd_ps(y, w, one);
    const __m256 nl = _mm256_blendv_ps(_mm256_add_ps(_mm256_max_ps(z, zero), _mm256_mul_ps(y, w)), z, nan);
    return _mm256_min_ps(_mm256_set1_ps(27.631021f), _mm256_max_ps(zero, nl));
}

/* zero_pass_512 on AVX2; db (never on these CPUs' own routes) by sten__bf16. */
ZP256 static double zero_pass_256(float *d, const float *zs, uint32_t N, float scale, float thr,
                                  uint16_t *db)
{
    __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
    const __m256 vs = _mm256_set1_ps(scale), vt = _mm256_set1_ps(thr);
    uint32_t j = 0;
    for (; j + 16 <= N; j += 16) {
        const __m256 z0 = _mm256_loadu_ps(zs + j), z1 = _mm256_loadu_ps(zs + j + 8);
        __m256 x0, x1;
        const __m256 c0 = zp8(z0, &x0), c1 = zp8(z1, &x1);
        /* keep unless x <= thr: NaN counts, so it surfaces in the loss */
        const __m256 k0 = _mm256_cmp_ps(x0, vt, _CMP_NLE_UQ), k1 = _mm256_cmp_ps(x1, vt, _CMP_NLE_UQ);
        _mm256_storeu_ps(d + j, _mm256_and_ps(k0, _mm256_mul_ps(vs, x0)));
        _mm256_storeu_ps(d + j + 8, _mm256_and_ps(k1, _mm256_mul_ps(vs, x1)));
        sum0 = _mm256_add_ps(sum0, _mm256_and_ps(k0, c0));
        sum1 = _mm256_add_ps(sum1, _mm256_and_ps(k1, c1));
    }
    for (; j < N; j += 8) {
        const __m256i m = sten__lanes8((int64_t)N - j);
        const __m256 z = _mm256_maskload_ps(zs + j, m); /* before d (maybe the same slot) */
        __m256 x;
        const __m256 cl = zp8(z, &x);
        const __m256 keep = _mm256_and_ps(_mm256_castsi256_ps(m), _mm256_cmp_ps(x, vt, _CMP_NLE_UQ));
        _mm256_maskstore_ps(d + j, m, _mm256_and_ps(keep, _mm256_mul_ps(vs, x)));
        sum0 = _mm256_add_ps(sum0, _mm256_and_ps(keep, cl));
    }
    float h[8];
    _mm256_storeu_ps(h, _mm256_add_ps(sum0, sum1));
    const float sum = ((h[0] + h[4]) + (h[1] + h[5])) + ((h[2] + h[6]) + (h[3] + h[7]));
    for (uint32_t i = 0; db && i < N; i++)
        db[i] = sten__bf16(d[i]);
    return (double)scale * sum;
}

/* zp_many through zp8. */
ZP256 static void zp_many_256(const float *z, int m, float *a, float *zt)
{
    for (int h = 0; h < m; h += 8) {
        const __m256i k = sten__lanes8(m - h);
        __m256 x;
        const __m256 cl = zp8(_mm256_maskload_ps(z + h, k), &x);
        _mm256_maskstore_ps(a + h, k, x);
        _mm256_maskstore_ps(zt + h, k, cl);
    }
}

#else
static double zero_pass_512(float *d, const float *zs, uint32_t N, float scale, float thr,
                            uint16_t *db)
{
    (void)d, (void)zs, (void)N, (void)scale, (void)thr, (void)db;
    return 0.0;
}
#define zero_pass_256 zero_pass_512
static void zp_many(const float *z, int m, float *a, float *zt)
{
    (void)z, (void)m, (void)a, (void)zt;
}
#define zp_many_256 zp_many
#endif

/* The from-z zero pass's kernels in use: 512 (AVX-512), 256 (AVX2 + FMA),
 * 0 (the portable loop); sten__loss_set_isa (tests) narrows it. */
static int zp_limit = 512;

static int zp_isa(void)
{
    const int c = sten__simd(), l = __atomic_load_n(&zp_limit, __ATOMIC_RELAXED);
    return c <= l ? c : l >= 256 && c >= 256 ? 256 : 0;
}

int sten__loss_set_isa(int isa)
{
    __atomic_store_n(&zp_limit, isa < 0 ? 512 : isa, __ATOMIC_RELAXED);
    return zp_isa();
}

/* The zero-target pass of a Sigmoid output with CrossEntropy or SMCE: every
 * unit above thr gets delta scale*a and loss -scale*ln(1-a). The simd
 * reduction lets the compiler vectorise the sum (a fixed order for a given
 * build and CPU, so results stay reproducible run to run); from z on an
 * AVX-512 CPU zero_pass_512 does it, on an AVX2 one zero_pass_256. */
STEN__SIMD_CLONES
static double sigmoid_zero_pass(float *d, const float *a, uint32_t N, float scale, float thr,
                                int from_z)
{
    float sum = 0.0f;
    if (from_z) {
        /* e = exp(-|z|): a and -ln(1-a) from it (sig_e, softplus_e): one exp, one log */
#pragma omp simd reduction(+ : sum)
        for (uint32_t j = 0; j < N; j++) {
            const float z = a[j]; /* read before d[j] (possibly the same slot) is written */
            const float e = fast_expf(-fabsf(z));
            const float x = sig_e(z, e);
            const int keep = !(x <= thr); /* NaN counts, so it surfaces in the loss */
            d[j] = keep ? scale * x : 0.0f;
            sum += keep ? softplus_e(z, e) : 0.0f;
        }
    } else {
#pragma omp simd reduction(+ : sum)
        for (uint32_t j = 0; j < N; j++) {
            const float x = a[j];
            const int keep = !(x <= thr); /* NaN counts, so it surfaces in the loss */
            d[j] = keep ? scale * x : 0.0f;
            sum += keep ? neg_log1m(x) : 0.0f;
        }
    }
    return (double)scale * sum;
}

/* db: d's bf16 copy (sten__bf16's rounding) written too, or NULL. */
static double zero_pass(float *d, const float *a, uint32_t N, float scale, float thr, int from_z,
                        uint16_t *db)
{
    const int isa = from_z ? zp_isa() : 0;
    if (isa)
        return isa == 512 ? zero_pass_512(d, a, N, scale, thr, db) : zero_pass_256(d, a, N, scale, thr, db);
    const double L = sigmoid_zero_pass(d, a, N, scale, thr, from_z);
    for (uint32_t j = 0; db && j < N; j++)
        db[j] = sten__bf16(d[j]);
    return L;
}

double sten__loss_zero_pass(float *d, const float *z, uint32_t N, float scale, float thr)
{
    return zero_pass(d, z, N, scale, thr, 1, NULL);
}

/* The canonical sparse-target pass over columns [j0, j1) of one row: the
 * zero-target pass, then the listed items in that range corrected to their
 * targets. Column j is at a[j - off] and d[j - off] (off = j0 for a buffer
 * holding only these columns, 0 for a whole row). d may be a itself (the
 * delta overwrites the activations): the listed items' values are kept in
 * stash first. */
static double canon_sparse(const loss_cfg *c, const float *a, float *d, uint32_t off, uint32_t j0,
                           uint32_t j1, const uint32_t *idx, const float *val, uint64_t n,
                           int from_z, float *stash, uint16_t *db)
{
    const bool ce = c->kind == STEN_LOSS_CROSS_ENTROPY;
    const float scale = ce ? c->boost_zero : c->zero_s, thr = ce ? -INFINITY : c->zero_t;
    if (stash)
        for (uint64_t e = 0; e < n; e++)
            if (idx[e] >= j0 && idx[e] < j1)
                stash[e] = a[idx[e] - off];
    double L = zero_pass(d + (j0 - off), a + (j0 - off), j1 - j0, scale, thr, from_z,
                         db ? db + (j0 - off) : NULL);
    float dz;
    const int isa = from_z ? zp_isa() : 0;
    if (isa) { /* 16 listed items at a time through the pass's own code */
        for (uint64_t e0 = 0; e0 < n; e0 += 16) {
            float av[16], aj[16], zt[16];
            uint64_t ee[16];
            int m = 0;
            for (uint64_t e = e0; e < n && e < e0 + 16; e++)
                if (idx[e] >= j0 && idx[e] < j1) {
                    ee[m] = e;
                    av[m++] = stash ? stash[e] : a[idx[e] - off];
                }
            if (isa == 512)
                zp_many(av, m, aj, zt);
            else
                zp_many_256(av, m, aj, zt);
            for (int q = 0; q < m; q++) {
                const uint64_t e = ee[q];
                L -= !(aj[q] <= thr) ? scale * zt[q] : 0.0f; /* as the pass added it */
                L += sigmoid_canon(c, aj[q], val ? val[e] : 1.0f, &dz);
                d[idx[e] - off] = dz;
                if (db)
                    db[idx[e] - off] = sten__bf16(dz);
            }
        }
        return L;
    }
    for (uint64_t e = 0; e < n; e++) {
        const uint32_t j = idx[e];
        if (j < j0 || j >= j1)
            continue;
        const float av = stash ? stash[e] : a[j - off];
        const float aj = from_z ? sigmoid(av) : av;
        const float zt = !(aj <= thr) ? zero_term(av, from_z) : 0.0f;
        L -= !(aj <= thr) ? scale * zt : 0.0f; /* as the pass added it */
        L += sigmoid_canon(c, aj, val ? val[e] : 1.0f, &dz);
        d[j - off] = dz;
        if (db)
            db[j - off] = sten__bf16(dz);
    }
    return L;
}

/* A SoftMax output under CrossEntropy or Multinomial with sparse targets,
 * from its pre-activations z (the forward pass left the activation to the
 * loss): each row visited once while it is in cache — its max, exp(z - max)
 * into d with their sum (16 lanes, then the lanes in order: the same sums
 * for any thread count), d scaled to a sum(t), t subtracted at the listed
 * items; the loss from z itself, -t (z - logsumexp), clamped as lg clamps
 * the activation. A row holding a NaN gets a NaN loss. */
/* The row's largest value (16 lanes; a NaN is passed over here and shows in the sum). */
STEN__SIMD_CLONES
static float row_max(const float *restrict z, uint32_t N)
{
    float m[16];
    for (uint32_t q = 0; q < 16; q++)
        m[q] = -INFINITY;
    uint32_t j = 0;
    for (; j + 16 <= N; j += 16)
        for (uint32_t q = 0; q < 16; q++)
            m[q] = z[j + q] > m[q] ? z[j + q] : m[q];
    for (; j < N; j++)
        m[0] = z[j] > m[0] ? z[j] : m[0];
    float mx = m[0];
    for (uint32_t q = 1; q < 16; q++)
        mx = m[q] > mx ? m[q] : mx;
    return mx;
}

/* d = exp(z - mx), and their sum: 16 lanes, then the lanes in order. */
STEN__SIMD_CLONES
static double exp_shifted(const float *restrict z, float *restrict d, uint32_t N, float mx)
{
    float acc[16] = {0};
    uint32_t j = 0;
    for (; j + 16 <= N; j += 16)
        for (uint32_t q = 0; q < 16; q++) {
            const float e = fast_expf(z[j + q] - mx);
            d[j + q] = e;
            acc[q] += e;
        }
    for (; j < N; j++) {
        d[j] = fast_expf(z[j] - mx);
        acc[j % 16] += d[j];
    }
    double S = 0.0;
    for (uint32_t q = 0; q < 16; q++)
        S += acc[q];
    return S;
}

STEN__SIMD_CLONES
static void scale_row(float *restrict d, uint32_t N, float f)
{
    for (uint32_t j = 0; j < N; j++)
        d[j] *= f;
}

static double softmax_sparse_z(const loss_cfg *c, const float *z, float *d, uint32_t N, const uint32_t *idx,
                               const float *val, uint64_t n)
{
    const float one = c->kind == STEN_LOSS_MULTINOMIAL || n == 0 ? 1.0f : (float)(1.0 / (double)n);
    const float mx = row_max(z, N);
    const double S = exp_shifted(z, d, N, mx);
    double tsum = 0.0;
    for (uint64_t e = 0; e < n; e++)
        tsum += val ? val[e] : one;
    scale_row(d, N, (float)(tsum / S));
    const double lse = (double)mx + log(S), floor_ = log(MIN_ERROR);
    double L = 0.0;
    for (uint64_t e = 0; e < n; e++) {
        const float t = val ? val[e] : one;
        const double lp = (double)z[idx[e]] - lse;
        L -= t * (lp < floor_ ? floor_ : lp); /* NaN passes through */
        d[idx[e]] -= t;
    }
    return L;
}

/* One output row. a: activations, d: delta out, N units. The target is
 * either dense (td) or the listed items (idx/val, n of them). */
static double loss_row(const loss_cfg *c, sten_act act, const sten_act_params *ap,
                       const float *a, float *d, uint32_t N, const float *td,
                       const uint32_t *idx, const float *val, uint64_t n, float w, int from_z,
                       float *stash)
{
    double L = 0.0;
    if (c->softmax && from_z && !td) {
        L = softmax_sparse_z(c, a, d, N, idx, val, n);
    } else if (c->softmax) {
        /* multinomial: dL/dz = a * sum(t) - t; sparse boolean targets form
         * a uniform distribution over the listed items (CrossEntropy, as
         * DSSTNE) or count 1 each (Multinomial) */
        const float one = c->kind == STEN_LOSS_MULTINOMIAL || n == 0 ? 1.0f : (float)(1.0 / (double)n);
        double tsum = 0.0;
        if (td) {
            for (uint32_t j = 0; j < N; j++)
                tsum += td[j];
        } else {
            for (uint64_t e = 0; e < n; e++)
                tsum += val ? val[e] : one;
        }
        const bool smce = c->kind != STEN_LOSS_CROSS_ENTROPY && c->kind != STEN_LOSS_MULTINOMIAL;
        for (uint32_t j = 0; j < N; j++) {
            const float t = td ? td[j] : 0.0f;
            d[j] = smce ? (a[j] > c->zero_t ? c->zero_s * a[j] : 0.0f) : (float)(a[j] * tsum) - t;
            if (t != 0.0f) {
                L -= t * lg(a[j]) * (smce ? c->one_s : 1.0f);
                if (smce)
                    d[j] = a[j] < c->one_t ? a[j] - c->one_s * t : 0.0f;
            }
        }
        for (uint64_t e = 0; !td && e < n; e++) {
            const uint32_t j = idx[e];
            const float t = val ? val[e] : one;
            L -= t * lg(a[j]) * (smce ? c->one_s : 1.0f);
            d[j] = smce ? (a[j] < c->one_t ? a[j] - c->one_s * t : 0.0f) : d[j] - t;
        }
    } else if (c->canonical && !td) {
        L = canon_sparse(c, a, d, 0, 0, N, idx, val, n, from_z, stash, NULL);
    } else if (c->canonical) {
        float dz;
        for (uint32_t j = 0; j < N; j++) {
            L += sigmoid_canon(c, a[j], td[j], &dz);
            d[j] = dz;
        }
    } else {
        float g;
        for (uint32_t j = 0; j < N; j++) {
            L += generic(c->kind, a[j], td ? td[j] : 0.0f, &g);
            d[j] = g;
        }
        for (uint64_t e = 0; !td && e < n; e++) {
            const uint32_t j = idx[e];
            L -= generic(c->kind, a[j], 0.0f, &g);
            L += generic(c->kind, a[j], val ? val[e] : 1.0f, &g);
            d[j] = g;
        }
        /* dL/da -> dL/dz through the activation (SoftMax: its Jacobian) */
        sten__act_backward_row(act, ap, a, d, d, N);
    }
    if (w != 1.0f) {
        for (uint32_t j = 0; j < N; j++)
            d[j] *= w;
        L *= w;
    }
    return L;
}

static loss_cfg cfg_of(const sten_net *net, const nn_layer *L)
{
    const sten_net_desc *nd = &net->desc;
    loss_cfg c = {
        .kind = nd->loss,
        .one_t = nd->smce_one_target, .zero_t = nd->smce_zero_target,
        .one_s = nd->smce_one_scale, .zero_s = nd->smce_zero_scale,
        .boost_one = nd->delta_boost_one, .boost_zero = nd->delta_boost_zero,
    };
    const bool ce = c.kind == STEN_LOSS_CROSS_ENTROPY ||
                    c.kind == STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY ||
                    c.kind == STEN_LOSS_DATA_SCALED_MARGINAL_CROSS_ENTROPY;
    c.softmax = (ce || c.kind == STEN_LOSS_MULTINOMIAL) && L->fn == STEN_ACT_SOFTMAX;
    c.canonical = ce && L->fn == STEN_ACT_SIGMOID;
    return c;
}

/* g[0..n) += z[0..n): a row of the delta into the bias gradient */
STEN__SIMD_CLONES
static void add_row(float *restrict g, const float *restrict z, uint32_t n)
{
    for (uint32_t j = 0; j < n; j++)
        g[j] += z[j];
}

void sten__loss_chunk(const sten_net *net, const sten_workspace *ws, const nn_layer *L, nn_target *T,
                      int64_t chunk, uint32_t j0, uint32_t j1, float *zc, int64_t ldz, float *gb,
                      uint16_t *db, int64_t lddb)
{
    const loss_cfg c = cfg_of(net, L);
    const uint32_t B = ws->B, N = L->N;
    for (uint32_t b = 0; b < B; b++) {
        float *z = zc + (int64_t)b * ldz; /* column j at z[j - j0] */
        /* the row's entries inside [j0, j1), grouped by the batch loader */
        const uint64_t *cs = T->cstart + b * ((N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK + 1);
        const uint64_t e0 = cs[chunk], e1 = cs[chunk + 1];
        const float w = T->weight ? T->weight[b] : 1.0f;
        uint16_t *dr = db ? db + (int64_t)b * lddb : NULL; /* column j at dr[j - j0] */
        double part = canon_sparse(&c, z, z, j0, j0, j1, T->t.col + e0,
                                   T->t.val ? T->t.val + e0 : NULL, e1 - e0, 1, T->stash + e0,
                                   w == 1.0f ? dr : NULL);
        if (w != 1.0f) {
            for (uint32_t j = 0; j < j1 - j0; j++)
                z[j] *= w;
            part *= w;
            if (dr) /* rounded after the weighting */
                sten__to_bf16_row(dr, z, j1 - j0);
        }
        T->part[chunk * B + b] = part;
        if (gb) /* rows in order: the same sums as a separate pass */
            add_row(gb + j0, z, j1 - j0);
    }
}

double sten__loss_layer(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, const nn_layer *L,
                        const nn_target *T, uint32_t B)
{
    const nn_buf *A = sten__buf(ws, net, L);
    if (A->loss_fused) { /* computed during the forward pass: sum in a fixed order */
        const int64_t chunks = (L->N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK;
        double sum = 0.0;
        for (uint32_t b = 0; b < B; b++) {
            double row = 0.0;
            for (int64_t ch = 0; ch < chunks; ch++)
                row += T->part[ch * B + b];
            sum += row;
        }
        return sum;
    }
    const loss_cfg c = cfg_of(net, L);
    const int nt = sten__threads_for(ctx, (int64_t)B * L->N, 1 << 14);
    double *row = ws->row_loss;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
    for (uint32_t b = 0; b < B; b++) {
        const float *a = A->act + (uint64_t)b * L->N;
        float *d = A->delta + (uint64_t)b * L->N;
        const float w = T->weight ? T->weight[b] : 1.0f;
        if (T->dense) {
            row[b] = loss_row(&c, L->fn, &L->ap, a, d, L->N, T->dense + (uint64_t)b * L->N,
                              NULL, NULL, 0, w, 0, NULL);
        } else {
            const uint64_t e0 = T->t.row_ptr[b];
            row[b] = loss_row(&c, L->fn, &L->ap, a, d, L->N, NULL, T->t.col + e0,
                              T->t.val ? T->t.val + e0 : NULL, T->t.row_ptr[b + 1] - e0, w,
                              A->act_deferred, T->stash ? T->stash + e0 : NULL);
        }
    }
    double sum = 0.0;
    for (uint32_t b = 0; b < B; b++)
        sum += row[b];
    return sum;
}
