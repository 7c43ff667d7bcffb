/* qgemm.c — int8 products for inference (`--precision int8`): C = A W + bias
 * with W quantized once (signed 8 bits, one scale per output column, the
 * column's largest |w| at 127) and each row of A quantized as it is read
 * (unsigned 8 bits with a zero point, one scale per row spanning the row's
 * min(0, .) .. max(0, .), so ReLU outputs use all 255 steps and zero is
 * exact); the sums of products are exact int32, then
 *   C[i][j] = (acc - zp_i colsum_j) (r_i s_j) + bias_j     (one fma)
 * AVX-512 VNNI's vpdpbusd does 64 u8 x s8 products an instruction at the
 * fp32 FMA's issue rate: four times its multiply-adds. The portable loop
 * gives the same bits (integer sums are exact; the row statistics, the
 * rounding to integers and the fma are the same operations).
 *
 * W packed: blocks of 32 columns, in each block the sum's k in fours, for
 * each four 32 columns x 4 bytes (two zmm of 16 columns); K padded to a
 * multiple of 4 and N to 32 with zeros. */
#include "core_int.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define QMR 8 /* rows of a micro-tile: 16 accumulators */
#define QNR 32
#define QMAX_K 65536 /* 65,536 x 255 x 127 < 2^31: the int32 sums cannot overflow */

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
#include <immintrin.h>
#define HAVE_VNNI 1
#define VNNI __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx512vnni,fma,avx2")))
#include "simd512.h"
#endif

static int q_isa = -1; /* sten__qgemm_set_isa: 0 the portable loop, -1 the CPU's best */

bool sten__qgemm_vnni(void)
{
#ifdef HAVE_VNNI
    return __atomic_load_n(&q_isa, __ATOMIC_RELAXED) != 0 && sten__avx512() &&
           __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

bool sten__qgemm_set_isa(int isa)
{
    __atomic_store_n(&q_isa, isa, __ATOMIC_RELAXED);
    return sten__qgemm_vnni();
}

const char *sten_int8_kernel(void)
{
    return sten__qgemm_vnni() ? "AVX-512 VNNI (vpdpbusd)" : "portable loop";
}

void sten__qmat_free(sten_ctx *ctx, sten_qmat *m)
{
    if (!m)
        return;
    sten_free(ctx, m->q);
    sten_free(ctx, m->scale);
    sten_free(ctx, m->colsum);
    memset(m, 0, sizeof *m);
}

sten_status sten__qmat_make(sten_ctx *ctx, sten_qmat *m, int64_t K, int64_t N, const float *W, int64_t ldw)
{
    if (K > QMAX_K)
        return sten_fail(ctx, STEN_E_UNSUPPORTED, "int8 product: a sum of %lld products could overflow int32 "
                         "(at most %d)", (long long)K, QMAX_K);
    const int64_t K4 = (K + 3) / 4 * 4, N32 = (N + QNR - 1) / QNR * QNR;
    if (m->K != K || m->N != N) {
        sten__qmat_free(ctx, m);
        m->q = sten_alloc(ctx, (size_t)(K4 * N32));
        m->scale = sten_alloc(ctx, (size_t)N32 * sizeof *m->scale);
        m->colsum = sten_alloc(ctx, (size_t)N32 * sizeof *m->colsum);
        if (!m->q || !m->scale || !m->colsum) {
            sten__qmat_free(ctx, m);
            return STEN_E_NOMEM;
        }
        m->K = K, m->N = N;
    }
    memset(m->q, 0, (size_t)(K4 * N32));
    for (int64_t j = 0; j < N32; j++) {
        float amax = 0.0f;
        for (int64_t k = 0; j < N && k < K; k++) {
            const float a = fabsf(W[k * ldw + j]);
            amax = a > amax ? a : amax;
        }
        /* a column of zeros (or of non-finite values) gets scale 0: its
         * products are 0 */
        const float s = amax > 0.0f && amax <= 3.0e38f ? amax / 127.0f : 0.0f;
        const float inv = s > 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        int8_t *blk = m->q + (j / QNR) * K4 * QNR;
        for (int64_t k = 0; j < N && k < K; k++) {
            float v = rintf(W[k * ldw + j] * inv);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v == v ? v : 0.0f;
            const int8_t q = (int8_t)v;
            blk[(k / 4) * QNR * 4 + (j % QNR) * 4 + k % 4] = q;
            sum += q;
        }
        m->scale[j] = s;
        m->colsum[j] = sum;
    }
    return STEN_OK;
}

/* A row's quantization: r (its step), zp (the integer 0 maps to) and 1/r. */
typedef struct {
    float r, inv;
    int32_t zp;
} qrow;

static qrow row_params(float mn, float mx)
{
    qrow p = {0.0f, 0.0f, 0};
    mn = mn < 0.0f ? mn : 0.0f;
    mx = mx > 0.0f ? mx : 0.0f;
    const float span = mx - mn;
    if (!(span > 0.0f) || span > 3.0e38f) /* all zero, or not finite: products 0 */
        return p;
    p.r = span / 255.0f;
    p.inv = 255.0f / span;
    const float z = rintf(-mn * p.inv);
    p.zp = z > 255.0f ? 255 : (int32_t)z;
    return p;
}

/* What vcvtps2dq gives in the default rounding mode: x rounded to nearest
 * even, INT32_MIN where it does not fit (NaN too). */
static int32_t cvt_rne(float x)
{
    const float v = rintf(x);
    return v >= -2147483648.0f && v < 2147483648.0f ? (int32_t)v : INT32_MIN;
}

static uint8_t quant(float x, const qrow *p)
{
    int32_t v = cvt_rne(x * p->inv);
    v = v == INT32_MIN ? p->zp : v + p->zp; /* NaN: as 0, as the vector path */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Rows [i0, i0 + mr) of A quantized into qa (QMR rows of K4 bytes, rows past
 * mr and k past K zero), their parameters into p. Portable. */
static void quant_rows(const float *A, int64_t lda, int64_t i0, int mr, int64_t K, int64_t K4, uint8_t *qa,
                       qrow *p)
{
    memset(qa, 0, (size_t)(QMR * K4));
    for (int r = 0; r < QMR; r++)
        p[r] = (qrow){0.0f, 0.0f, 0};
    for (int r = 0; r < mr; r++) {
        const float *a = A + (i0 + r) * lda;
        float mn = 0.0f, mx = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            mn = a[k] < mn ? a[k] : mn;
            mx = a[k] > mx ? a[k] : mx;
        }
        p[r] = row_params(mn, mx);
        for (int64_t k = 0; k < K; k++)
            qa[r * K4 + k] = quant(a[k], &p[r]);
    }
}

static float out_value(int32_t acc, const qrow *p, const sten_qmat *W, int64_t j, const float *bias, bool relu)
{
    const float f = (float)(acc - p->zp * W->colsum[j]);
    const float z = fmaf(f, p->r * W->scale[j], bias ? bias[j] : 0.0f);
    return relu && !(z > 0.0f) ? 0.0f : z; /* vmaxps(z, 0): 0 for -0 and NaN too */
}

static void tile_portable(const uint8_t *qa, const qrow *p, int mr, int64_t K4, const sten_qmat *W, int64_t j0,
                          int64_t N, const float *bias, bool relu, float *C, int64_t ldc)
{
    const int8_t *blk = W->q + (j0 / QNR) * K4 * QNR;
    for (int r = 0; r < mr; r++)
        for (int64_t j = j0; j < j0 + QNR && j < N; j++) {
            int32_t acc = 0;
            for (int64_t k = 0; k < K4; k++)
                acc += (int32_t)qa[r * K4 + k] * blk[(k / 4) * QNR * 4 + (j - j0) * 4 + k % 4];
            C[r * ldc + j] = out_value(acc, &p[r], W, j, bias, relu);
        }
}

#ifdef HAVE_VNNI
/* The same quantization, 16 values at a time. */
VNNI static void quant_rows_vnni(const float *A, int64_t lda, int64_t i0, int mr, int64_t K, int64_t K4,
                                 uint8_t *qa, qrow *p)
{
    memset(qa + (int64_t)mr * K4, 0, (size_t)((QMR - mr) * K4));
    for (int r = mr; r < QMR; r++)
        p[r] = (qrow){0.0f, 0.0f, 0};
    for (int r = 0; r < mr; r++) {
        const float *a = A + (i0 + r) * lda;
        /* four chains of min and max (their latency, not the loads, bound one) */
        __m512 mn0 = _mm512_setzero_ps(), mn1 = mn0, mn2 = mn0, mn3 = mn0, mx0 = mn0, mx1 = mn0, mx2 = mn0,
               mx3 = mn0;
        int64_t k = 0;
        for (; k + 64 <= K; k += 64) {
            const __m512 x0 = _mm512_loadu_ps(a + k), x1 = _mm512_loadu_ps(a + k + 16),
                         x2 = _mm512_loadu_ps(a + k + 32), x3 = _mm512_loadu_ps(a + k + 48);
            /* min(x, mn) keeps mn where x is NaN, as the portable compare does */
            mn0 = _mm512_min_ps(x0, mn0), mx0 = _mm512_max_ps(x0, mx0);
            mn1 = _mm512_min_ps(x1, mn1), mx1 = _mm512_max_ps(x1, mx1);
            mn2 = _mm512_min_ps(x2, mn2), mx2 = _mm512_max_ps(x2, mx2);
            mn3 = _mm512_min_ps(x3, mn3), mx3 = _mm512_max_ps(x3, mx3);
        }
        for (; k < K; k += 16) {
            const __m512 x = _mm512_maskz_loadu_ps(sten__lanes16(K - k), a + k);
            mn0 = _mm512_min_ps(x, mn0), mx0 = _mm512_max_ps(x, mx0);
        }
        mn0 = _mm512_min_ps(_mm512_min_ps(mn0, mn1), _mm512_min_ps(mn2, mn3));
        mx0 = _mm512_max_ps(_mm512_max_ps(mx0, mx1), _mm512_max_ps(mx2, mx3));
        p[r] = row_params(_mm512_reduce_min_ps(mn0), _mm512_reduce_max_ps(mx0));
        const __m512 inv = _mm512_set1_ps(p[r].inv);
        const __m512i zp = _mm512_set1_epi32(p[r].zp), lo = _mm512_setzero_si512(),
                      hi = _mm512_set1_epi32(255), bad = _mm512_set1_epi32(INT32_MIN);
        uint8_t *q = qa + (int64_t)r * K4;
        for (k = 0; k < K4; k += 16) {
            const __mmask16 m = sten__lanes16(K - k);
            const __m512 x = _mm512_maskz_loadu_ps(m, a + k);
            const __m512i c = _mm512_cvtps_epi32(_mm512_mul_ps(x, inv));
            __m512i v = _mm512_mask_blend_epi32(_mm512_cmpeq_epi32_mask(c, bad), _mm512_add_epi32(c, zp), zp);
            v = _mm512_maskz_mov_epi32(m, _mm512_min_epi32(_mm512_max_epi32(v, lo), hi));
            const __m128i b = _mm512_cvtepi32_epi8(v);
            if (K4 - k >= 16)
                _mm_storeu_si128((__m128i *)(q + k), b);
            else /* K4 - k is 4, 8 or 12 */
                memcpy(q + k, &b, (size_t)(K4 - k));
        }
    }
}

/* A QMR x 32 tile over the whole sum, then its epilogue into C. */
VNNI static void tile_vnni(const uint8_t *qa, const qrow *p, int mr, int64_t K4, const sten_qmat *W, int64_t j0,
                           int64_t N, const float *bias, bool relu, float *C, int64_t ldc)
{
    const int8_t *blk = W->q + (j0 / QNR) * K4 * QNR;
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
            c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (int64_t k = 0; k < K4; k += 4) {
        const __m512i b0 = _mm512_load_si512(blk + k * QNR), b1 = _mm512_load_si512(blk + k * QNR + 64);
#define ROW(r)                                                                                     \
    {                                                                                              \
        int32_t w;                                                                                 \
        memcpy(&w, qa + (r) * K4 + k, 4);                                                          \
        const __m512i a = _mm512_set1_epi32(w);                                                    \
        c##r##0 = _mm512_dpbusd_epi32(c##r##0, a, b0);                                             \
        c##r##1 = _mm512_dpbusd_epi32(c##r##1, a, b1);                                             \
    }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
    }
    const __m512i acc[QMR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                                 {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    for (int h = 0; h < 2; h++) {
        const int64_t j = j0 + 16 * h;
        if (j >= N)
            break;
        const __mmask16 m = sten__lanes16(N - j);
        const __m512 s = _mm512_load_ps(W->scale + j);
        const __m512i cs = _mm512_load_si512(W->colsum + j);
        const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + j) : _mm512_setzero_ps();
        for (int r = 0; r < mr; r++) {
            const __m512i d = _mm512_sub_epi32(acc[r][h], _mm512_mullo_epi32(_mm512_set1_epi32(p[r].zp), cs));
            const __m512 rs = _mm512_mul_ps(_mm512_set1_ps(p[r].r), s);
            __m512 z = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), rs, b);
            if (relu)
                z = _mm512_max_ps(z, _mm512_setzero_ps());
            _mm512_mask_storeu_ps(C + r * ldc + j, m, z);
        }
    }
}
#endif

/* Rows [i0, i1) of the product, QMR at a time (sten__qgemm hands each task one block). */
static void rows(const float *A, int64_t lda, int64_t i0, int64_t i1, int64_t N, int64_t K, const sten_qmat *W,
                 const float *bias, bool relu, float *C, int64_t ldc, uint8_t *qa, bool vnni)
{
    const int64_t K4 = (K + 3) / 4 * 4;
    qrow p[QMR];
    for (int64_t i = i0; i < i1; i += QMR) {
        const int mr = i1 - i >= QMR ? QMR : (int)(i1 - i);
#ifdef HAVE_VNNI
        if (vnni) {
            quant_rows_vnni(A, lda, i, mr, K, K4, qa, p);
            for (int64_t j = 0; j < N; j += QNR)
                tile_vnni(qa, p, mr, K4, W, j, N, bias, relu, C + i * ldc, ldc);
            continue;
        }
#endif
        (void)vnni;
        quant_rows(A, lda, i, mr, K, K4, qa, p);
        for (int64_t j = 0; j < N; j += QNR)
            tile_portable(qa, p, mr, K4, W, j, N, bias, relu, C + i * ldc, ldc);
    }
}

sten_status sten__qgemm(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                        const sten_qmat *W, const float *bias, bool relu, float *C, int64_t ldc)
{
    if (W->K != K || W->N != N)
        return sten_fail(ctx, STEN_E_INVALID, "int8 product: weights of %lld x %lld for a sum of %lld over %lld",
                         (long long)W->K, (long long)W->N, (long long)K, (long long)N);
    const int64_t K4 = (K + 3) / 4 * 4;
    const bool vnni = sten__qgemm_vnni();
    const int64_t blocks = (M + QMR - 1) / QMR;
    int nt = sten__threads_for(ctx, M * N * K, 1 << 20);
    nt = nt > blocks ? (int)(blocks > 0 ? blocks : 1) : nt;
    const size_t slice = ((size_t)(QMR * K4) + 63) / 64 * 64; /* a thread's quantized rows */
    uint8_t *qa = sten__scratch(ctx, slice * (size_t)nt);
    if (!qa)
        return sten_fail(ctx, STEN_E_NOMEM, "int8 product: no memory for the quantized rows");
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        const int64_t i = b * QMR;
        rows(A, lda, i, i + QMR < M ? i + QMR : M, N, K, W, bias, relu, C, ldc, qa + slice * (size_t)t, vnni);
    }
    return STEN_OK;
}
