/* test_kernels.c — every fast kernel against its plain-loop reference
 * (src/core/kernels_ref.c) on random shapes and edge cases: empty rows,
 * nnz = 0, K >= N, sizes that are not a multiple of the SIMD width; and
 * bit-identical results for 1 and 2 threads. */
#include "check.h"
#include "core/core_int.h"
#include "core/kernels_ref.h"
#include "sten.h"

#include <math.h>
#include <string.h>

static sten_ctx *ctx;
static sten_rng rng;

static float *rand_floats(int64_t n, float lo, float hi)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * sten_rng_uniform(&rng);
    return p;
}

static float *copy_floats(const float *src, int64_t n)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    memcpy(p, src, (size_t)n * sizeof *p);
    return p;
}

/* Random CSR with rows x cols, each row holding 0..max_nnz distinct
 * columns (some rows empty on purpose). */
static void rand_csr(sten_csr *m, uint32_t rows, uint32_t cols, uint32_t max_nnz, bool valued)
{
    uint64_t cap = (uint64_t)rows * max_nnz;
    sten_status st = sten_csr_init(ctx, m, rows, cols, cap ? cap : 1, valued);
    CHECK_EQ(st, STEN_OK);
    uint64_t e = 0;
    for (uint32_t r = 0; r < rows; r++) {
        uint32_t n = cols ? sten_rng_below(&rng, (max_nnz < cols ? max_nnz : cols) + 1) : 0;
        if (r % 5 == 3)
            n = 0;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t c;
            int dup;
            do { /* distinct columns within the row */
                c = sten_rng_below(&rng, cols);
                dup = 0;
                for (uint64_t q = m->row_ptr[r]; q < e; q++)
                    dup |= m->col[q] == c;
            } while (dup);
            m->col[e] = c;
            if (valued)
                m->val[e] = -2.0f + 4.0f * sten_rng_uniform(&rng);
            e++;
        }
        m->row_ptr[r + 1] = e;
    }
    m->rows = rows;
    m->nnz = e;
    CHECK_EQ(sten_csr_validate(ctx, m), STEN_OK);
}

/* Switch sten_gemm to the BLAS (0), the best own kernels (1) or the AVX2
 * ones (2); false, with a line saying so, where this CPU has no such
 * kernels (then the BLAS is in use). */
static bool gemm_mode(int mode)
{
    sten__gemm_set_own(mode);
    if (mode == 1 && !sten__gemm_own())
        printf("  (no AVX2 here: own GEMM kernels not tested)\n");
    else if (mode == 1 && !sten__gemm_own_wide())
        printf("  (no AVX-512 here: the AVX-512 GEMM kernels not tested)\n");
    else if (mode == 2 && !sten__gemm_own_wide() && sten__gemm_own())
        return false; /* the same kernels as mode 1 */
    return mode == 0 || sten__gemm_own();
}

/* Every path of sten_gemm, the own AVX-512 and AVX2 kernels (where the CPU
 * has them) and the BLAS, against plain loops. The shapes cross every
 * blocking edge of the own kernels: rows around the 12-row tile (3-row
 * tiles on AVX2) and the 240-row pass, columns around the 32-column strip
 * and the 512-column chunk, K around the 256 and 1536 blocks, and NT's
 * long-K dot products. */
static void test_gemm(void)
{
    static const int64_t shapes[][3] = {{1, 1, 1},     {3, 5, 7},      {17, 33, 9},
                                        {64, 128, 256}, {130, 31, 67},  {5, 4, 0},
                                        {13, 545, 300}, {253, 40, 257}, {7, 9, 1600},
                                        {256, 128, 3100}, {25, 1030, 128}, {1, 600, 513},
                                        {14, 13, 40}};
    for (int own = 0; own < 3; own++) {
        if (!gemm_mode(own))
            continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    /* leading dimensions with a little padding */
                    const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                    const int64_t arows = ta ? K : M, brows = tb ? N : K;
                    float *A = rand_floats(arows * lda, -1, 1), *B = rand_floats(brows * ldb, -1, 1);
                    float *C = rand_floats(M * ldc, -1, 1), *R = copy_floats(C, M * ldc);
                    const float alpha = 0.75f, beta = (s % 2) ? 0.5f : 0.0f;
                    if (beta == 0.0f) /* beta = 0: C is never read, NaN there included */
                        for (int64_t i = 0; i < M; i++)
                            C[i * ldc] = NAN;
                    sten_gemm(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                    sten__gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
                    /* both bounds grow with K: an fp32 sum of K products of
                     * [-1, 1] values rounds ~K times (OpenBLAS SkylakeX sums in
                     * another order than the reference: 1.3e-5 off at K = 3100) */
                    CHECK_CLOSE(C, R, M * ldc, 1e-5 * (1 + K / 256), 1e-4 * (1 + K / 256));
                    free(A), free(B), free(C), free(R);
                }
        }
    }
    sten__gemm_set_own(-1);
}

/* The AVX2 kernels sum every element in the AVX-512 kernels' order: the same
 * bits from both (NN, TN, NT up to 1536-long sums, beta, and the chunked
 * product's bias), and the same bits on 1 and 2 threads. */
static void test_gemm_avx2_bits(void)
{
    sten__gemm_set_own(2);
    if (!sten__gemm_own()) {
        printf("  (no AVX2 here: not tested)\n");
        sten__gemm_set_own(-1);
        return;
    }
    sten__gemm_set_own(1);
    const bool wide = sten__gemm_own_wide();
    if (!wide)
        printf("  (no AVX-512 here: AVX2 against AVX-512 bits not tested, threads only)\n");
    static const int64_t shapes[][3] = {{37, 545, 300}, {253, 40, 257}, {5, 70, 1400}, {130, 33, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int form = 0; form < 4; form++) { /* NN, TN, NT, chunked NN with bias */
            const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            const int ta = form == 1, tb = form == 2;
            const int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
            float *A = rand_floats((ta ? K : M) * lda, -1, 1), *B = rand_floats((tb ? N : K) * ldb, -1, 1);
            float *bias = rand_floats(N, -1, 1), *C0 = rand_floats(M * ldc, -1, 1);
            float *C[3];
            for (int v = 0; v < 3; v++) { /* AVX2 on 1 and 2 threads, AVX-512 on 2 */
                C[v] = copy_floats(C0, M * ldc);
                sten__gemm_set_own(v < 2 ? 2 : 1);
                sten_ctx_set_threads(ctx, v == 0 ? 1 : 2);
                if (v == 2 && !wide)
                    continue;
                if (form == 3)
                    CHECK_EQ(sten__gemm_chunks(ctx, M, N, K, 0.5f, A, lda, B, ldb, 0.0f, C[v], ldc, bias, NULL, NULL),
                             STEN_OK);
                else
                    sten_gemm(ctx, ta, tb, M, N, K, 0.75f, A, lda, B, ldb, s % 2 ? 0.5f : 0.0f, C[v], ldc);
            }
            CHECK(memcmp(C[0], C[1], (size_t)(M * ldc) * sizeof *C[0]) == 0);
            if (wide)
                CHECK(memcmp(C[0], C[2], (size_t)(M * ldc) * sizeof *C[0]) == 0);
            for (int v = 0; v < 3; v++)
                free(C[v]);
            free(A), free(B), free(bias), free(C0);
        }
    sten_ctx_set_threads(ctx, 0);
    sten__gemm_set_own(-1);
}

/* The chunked product: bias, beta, and every chunk handed over exactly once
 * with its final values, on both paths. */
typedef struct {
    const float *C, *R;
    int64_t M, ldc;
    int *seen;
    int bad;
} chunk_check;

static void check_chunk(void *arg, int64_t chunk, int64_t j0, int64_t j1, float *cp,
                        int64_t ldc)
{
    chunk_check *k = arg;
    if (j0 != chunk * STEN__GEMM_CHUNK || j1 <= j0 || (k->C && cp != k->C + j0))
        __atomic_add_fetch(&k->bad, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&k->seen[chunk], 1, __ATOMIC_RELAXED);
    for (int64_t i = 0; i < k->M; i++)
        for (int64_t j = j0; j < j1; j++) {
            const float c = cp[i * ldc + (j - j0)], r = k->R[i * k->ldc + j];
            if (!(fabsf(c - r) <= 1e-4f * (1.0f + fabsf(r))))
                __atomic_add_fetch(&k->bad, 1, __ATOMIC_RELAXED);
        }
}

/* Both paths, with C (beta and bias) and without (each chunk in a
 * thread's own buffer: bias only). */
static void test_gemm_chunks(void)
{
    static const int64_t shapes[][3] = {{256, 1500, 128}, {7, 513, 300}, {30, 40, 5}};
    for (int own = 0; own < 3; own++) {
        if (!gemm_mode(own))
            continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int mode = 0; mode < 3; mode++) { /* C + beta, C + bias, no C + bias */
                const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                const int64_t lda = K + 1, ldb = N + 3, ldc = N + 2;
                float *A = rand_floats(M * lda, -1, 1), *B = rand_floats(K * ldb, -1, 1);
                float *bias = rand_floats(N, -1, 1);
                float *C = rand_floats(M * ldc, -1, 1), *R = copy_floats(C, M * ldc);
                const float beta = mode == 0 ? 0.5f : 0.0f;
                sten__gemm_ref(0, 0, M, N, K, 1.0f, A, lda, B, ldb, beta, R, ldc);
                if (mode)
                    for (int64_t i = 0; i < M; i++)
                        for (int64_t j = 0; j < N; j++)
                            R[i * ldc + j] += bias[j];
                const int64_t nch = (N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK;
                int *seen = calloc((size_t)nch, sizeof *seen);
                chunk_check k = {mode == 2 ? NULL : C, R, M, ldc, seen, 0};
                CHECK_EQ(sten__gemm_chunks(ctx, M, N, K, 1.0f, A, lda, B, ldb, beta,
                                           mode == 2 ? NULL : C, ldc, mode ? bias : NULL,
                                           check_chunk, &k),
                         STEN_OK);
                CHECK_EQ(k.bad, 0);
                for (int64_t c = 0; c < nch; c++)
                    CHECK_EQ(seen[c], 1);
                if (mode < 2)
                    CHECK_CLOSE(C, R, M * ldc, 1e-5, 1e-4);
                /* B held transposed (ldb < 0: its N columns as rows, an NT product), no C */
                const int64_t ldt = K + 2;
                float *BT = calloc((size_t)(N * ldt), sizeof *BT);
                for (int64_t kk = 0; kk < K; kk++)
                    for (int64_t j = 0; j < N; j++)
                        BT[j * ldt + kk] = B[kk * ldb + j];
                memset(seen, 0, (size_t)nch * sizeof *seen);
                chunk_check kt = {NULL, R, M, ldc, seen, 0};
                if (mode) /* R holds the product plus the bias (beta 0 for modes 1 and 2) */
                    CHECK_EQ(sten__gemm_chunks(ctx, M, N, K, 1.0f, A, lda, BT, -ldt, 0.0f, NULL, 0, bias,
                                               check_chunk, &kt),
                             STEN_OK);
                CHECK_EQ(kt.bad, 0);
                for (int64_t c = 0; mode && c < nch; c++)
                    CHECK_EQ(seen[c], 1);
                free(BT);
                free(A), free(B), free(C), free(R), free(bias), free(seen);
            }
    }
    sten__gemm_set_own(-1);
}

/* The output layer's backward sweep (propagation and SGD update in one
 * pass over D) against the two products taken apart in double, on a
 * catalogue past 16 chunks with ragged shapes; the same bits for 1 and 2
 * threads; declined (no error) below 16 chunks and without sten's AVX-512
 * kernels. */
static void test_gemm_out_backward(void)
{
    const int64_t M = 37, H = 70, N = 16 * STEN__GEMM_CHUNK + 100;
    const int64_t lda = H + 2, ldd = N + 3, ldw = N + 1, ldda = H + 5;
    const float alpha = -0.03f, beta = 0.999f;
    float *A = rand_floats(M * lda, 0, 1), *D = rand_floats(M * ldd, -1, 1);
    float *W0 = rand_floats(H * ldw, -1, 1), *dA0 = rand_floats(M * ldda, -1, 1);
    float *W = copy_floats(W0, H * ldw), *dA = copy_floats(dA0, M * ldda);
    float *Wr = copy_floats(W0, H * ldw), *dAr = copy_floats(dA0, M * ldda);
    for (int64_t i = 0; i < M; i++) /* dA += D W0^T */
        for (int64_t h = 0; h < H; h++) {
            double x = dA0[i * ldda + h];
            for (int64_t j = 0; j < N; j++)
                x += (double)D[i * ldd + j] * W0[h * ldw + j];
            dAr[i * ldda + h] = (float)x;
        }
    for (int64_t h = 0; h < H; h++) /* W = beta W0 + alpha A^T D */
        for (int64_t j = 0; j < N; j++) {
            double x = 0.0;
            for (int64_t i = 0; i < M; i++)
                x += (double)A[i * lda + h] * D[i * ldd + j];
            Wr[h * ldw + j] = (float)(beta * (double)W0[h * ldw + j] + alpha * x);
        }
    const sten_status st = sten__gemm_out_backward(ctx, M, N, H, A, lda, D, ldd, alpha, beta, W, ldw,
                                                   dA, ldda);
    if (sten__gemm_own_wide()) {
        CHECK_EQ(st, STEN_OK);
        CHECK_CLOSE(dA, dAr, M * ldda, 1e-4, 1e-4);
        CHECK_CLOSE(W, Wr, H * ldw, 1e-5, 1e-4);
        float *W1 = copy_floats(W0, H * ldw), *dA1 = copy_floats(dA0, M * ldda);
        sten_ctx_set_threads(ctx, 1);
        CHECK_EQ(sten__gemm_out_backward(ctx, M, N, H, A, lda, D, ldd, alpha, beta, W1, ldw, dA1,
                                         ldda),
                 STEN_OK);
        sten_ctx_set_threads(ctx, 2);
        CHECK(memcmp(W1, W, (size_t)(H * ldw) * sizeof *W) == 0);
        CHECK(memcmp(dA1, dA, (size_t)(M * ldda) * sizeof *dA) == 0);
        free(W1), free(dA1);
        /* fewer chunks: declined, nothing touched */
        CHECK_EQ(sten__gemm_out_backward(ctx, M, 15 * STEN__GEMM_CHUNK, H, A, lda, D, ldd, alpha,
                                         beta, W, ldw, dA, ldda),
                 STEN_E_UNSUPPORTED);
    } else {
        CHECK_EQ(st, STEN_E_UNSUPPORTED);
        CHECK(memcmp(W, W0, (size_t)(H * ldw) * sizeof *W) == 0);
    }
    sten__gemm_set_own(0);
    CHECK_EQ(sten__gemm_out_backward(ctx, M, N, H, A, lda, D, ldd, alpha, beta, W, ldw, dA, ldda),
             STEN_E_UNSUPPORTED);
    sten__gemm_set_own(-1);
    CHECK_EQ(sten_ctx_error(ctx)[0], '\0');
    free(A), free(D), free(W0), free(dA0), free(W), free(dA), free(Wr), free(dAr);
}

/* bf16 products against plain loops over the same bf16-rounded inputs in
 * double: only the fp32 accumulation differs. Rounding itself: ties to
 * even, NaN stays NaN, inf stays inf. */
static float rb(float x)
{
    return sten__bf16_to_float(sten__bf16(x));
}

static void test_bf16_rounding(void)
{
    CHECK_EQ(sten__bf16(1.0f), 0x3f80);
    CHECK_EQ(sten__bf16(-2.0f), 0xc000);
    CHECK_EQ(sten__bf16(1.00390625f), 0x3f80);  /* exactly half an ulp: to even (down) */
    CHECK_EQ(sten__bf16(1.01171875f), 0x3f82);  /* 1 + 3/256: half way, to even (up) */
    CHECK_EQ(sten__bf16(INFINITY), 0x7f80);
    CHECK(isnan(sten__bf16_to_float(sten__bf16(NAN))));
    CHECK_EQ(sten__bf16(3.4e38f), 0x7f80);      /* rounds past the largest bf16 */
    if (!sten__bf16_available())
        return;
    float src[37];
    uint16_t got[37];
    for (int i = 0; i < 37; i++)
        src[i] = (float)(i - 18) * 1.37e-3f + (i == 5 ? NAN : 0.0f);
    sten__to_bf16(ctx, got, src, 37);
    int same = 1;
    for (int i = 0; i < 37; i++)
        same &= got[i] == sten__bf16(src[i]) || (isnan(src[i]) && isnan(sten__bf16_to_float(got[i])));
    CHECK(same);
}

/* The bf16 products of the kernel switched on now (AVX-512 BF16 or AMX)
 * against double-precision references of the rounded inputs. */
static void bgemm_cases(void)
{
    static const int64_t shapes[][3] = {{1, 1, 1},      {13, 545, 300}, {256, 1100, 128},
                                        {25, 40, 257},  {7, 9, 1600},   {256, 128, 3101},
                                        {130, 31, 67},  {5, 4, 0},      {33, 47, 1000},
                                        {64, 600, 31}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        /* NN and TN chunks: A fp32 (rounded inside), B bf16, C and its bf16 copy */
        for (int tn = 0; tn < 2; tn++) {
            const int64_t lda = (tn ? M : K) + 3, ldb = N + 1, ldc = N + 2, ldcb = N + 5;
            float *A = rand_floats((tn ? K : M) * lda, -1, 1), *Bf = rand_floats(K * ldb + 1, -1, 1);
            float *bias = rand_floats(N, -1, 1);
            uint16_t *B = calloc((size_t)(K * ldb + 1), 2), *Cb = calloc((size_t)(M * ldcb), 2);
            for (int64_t e = 0; e < K * ldb; e++)
                B[e] = sten__bf16(Bf[e]);
            float *C = rand_floats(M * ldc, -1, 1), *R = copy_floats(C, M * ldc);
            const float alpha = 0.75f, beta = (s % 2) ? 0.5f : 0.0f;
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double acc = 0;
                    for (int64_t k = 0; k < K; k++)
                        acc += (double)rb(tn ? A[k * lda + i] : A[i * lda + k]) *
                               sten__bf16_to_float(B[k * ldb + j]);
                    R[i * ldc + j] = (float)(alpha * acc + beta * R[i * ldc + j] + bias[j]);
                }
            CHECK_EQ(sten__bgemm_chunks(ctx, tn ? STEN_TRANS : STEN_NO_TRANS, M, N, K, alpha, A, lda,
                                        B, ldb, beta, C, ldc, Cb, ldcb, bias, NULL, NULL),
                     STEN_OK);
            CHECK_CLOSE(C, R, M * ldc, 1e-4, 1e-4);
            if (!tn && K > 0) { /* B packed once: the very same bits (alpha 1, beta 0) */
                uint32_t *P = aligned_alloc(64, (sten__bgemm_packed_words(K, N) * 4 + 63) / 64 * 64);
                float *C1 = rand_floats(M * ldc, -1, 1), *C2 = copy_floats(C1, M * ldc);
                sten__bgemm_pack(ctx, K, N, B, ldb, P);
                CHECK_EQ(sten__bgemm_chunks(ctx, STEN_NO_TRANS, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C1,
                                            ldc, NULL, 0, bias, NULL, NULL),
                         STEN_OK);
                CHECK_EQ(sten__bgemm_chunks_packed(ctx, M, N, K, A, lda, P, C2, ldc, bias, NULL, NULL),
                         STEN_OK);
                CHECK(memcmp(C1, C2, (size_t)(M * ldc) * sizeof *C1) == 0);
                free(P), free(C1), free(C2);
            }
            int cb_ok = 1;
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    cb_ok &= Cb[i * ldcb + j] == sten__bf16(C[i * ldc + j]);
            CHECK(cb_ok);
            free(A), free(Bf), free(bias), free(B), free(Cb), free(C), free(R);
        }
        /* NT: both bf16 */
        const int64_t lda = K + 3, ldb = K + 1, ldc = N + 2;
        uint16_t *A = calloc((size_t)(M * lda + 1), 2), *B = calloc((size_t)(N * ldb + 1), 2);
        for (int64_t e = 0; e < M * lda; e++)
            A[e] = sten__bf16((float)((e * 7919) % 2001 - 1000) / 1000.0f);
        for (int64_t e = 0; e < N * ldb; e++)
            B[e] = sten__bf16((float)((e * 104729) % 2001 - 1000) / 1000.0f);
        float *C = rand_floats(M * ldc, -1, 1), *R = copy_floats(C, M * ldc);
        const float alpha = 1.25f, beta = (s % 2) ? 0.0f : 1.0f;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)sten__bf16_to_float(A[i * lda + k]) * sten__bf16_to_float(B[j * ldb + k]);
                R[i * ldc + j] = (float)(alpha * acc + beta * R[i * ldc + j]);
            }
        sten__bgemm_nt(ctx, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        CHECK_CLOSE(C, R, M * ldc, 1e-4, 1e-4);
        free(A), free(B), free(C), free(R);
    }
}

/* Each product with 1 and 2 threads: the same bits; chunks without a C
 * hand the same values to the chunk function as the stored product. */
static float *chunk_sink;
static int64_t chunk_sink_ld;
static void copy_chunk(void *arg, int64_t ch, int64_t j0, int64_t j1, float *c, int64_t ldc)
{
    const int64_t M = *(const int64_t *)arg;
    (void)ch;
    for (int64_t i = 0; i < M; i++)
        memcpy(chunk_sink + i * chunk_sink_ld + j0, c + i * ldc, (size_t)(j1 - j0) * sizeof *c);
}

static void bgemm_threads(void)
{
    const int64_t M = 96, N = 1700, K = 200;
    float *A = rand_floats(M * K, -1, 1), *bias = rand_floats(N, -1, 1);
    uint16_t *B = calloc((size_t)(K * N), 2), *D = calloc((size_t)(M * N), 2);
    for (int64_t e = 0; e < K * N; e++)
        B[e] = sten__bf16((float)((e * 7919) % 2001 - 1000) / 1000.0f);
    for (int64_t e = 0; e < M * N; e++)
        D[e] = sten__bf16((float)((e * 104729) % 2001 - 1000) / 1000.0f);
    float *C[2], *T[2], *L[2], *S[2], *F = rand_floats(M * N, 0, 0);
    for (int t = 1; t <= 2; t++) {
        sten_ctx_set_threads(ctx, t);
        C[t - 1] = rand_floats(M * N, 0, 0), T[t - 1] = rand_floats(M * K, 0, 0);
        L[t - 1] = rand_floats(40 * 72, 0, 0), S[t - 1] = rand_floats(200 * 100, 0, 0);
        /* one chunk (100 columns): its rows shared among the threads */
        CHECK_EQ(sten__bgemm_chunks(ctx, STEN_NO_TRANS, 200, 100, 64, 1.0f, A, 64, B, 100, 0.0f,
                                    S[t - 1], 100, NULL, 0, bias, NULL, NULL),
                 STEN_OK);
        CHECK_EQ(sten__bgemm_chunks(ctx, STEN_NO_TRANS, M, N, K, 1.0f, A, K, B, N, 0.0f, C[t - 1], N,
                                    NULL, 0, bias, NULL, NULL),
                 STEN_OK);
        /* NT with a short K (one group, row blocks shared) and a long one
         * (K in groups, their parts added in order) */
        sten__bgemm_nt(ctx, M, K, N, 1.0f, D, N, B, N, 0.0f, T[t - 1], K);
        sten__bgemm_nt(ctx, 40, 72, 2100, 1.0f, D, 2100, B, 2100, 0.0f, L[t - 1], 72);
    }
    CHECK(memcmp(C[0], C[1], (size_t)(M * N) * sizeof **C) == 0);
    CHECK(memcmp(T[0], T[1], (size_t)(M * K) * sizeof **T) == 0);
    CHECK(memcmp(L[0], L[1], (size_t)(40 * 72) * sizeof **L) == 0);
    CHECK(memcmp(S[0], S[1], (size_t)(200 * 100) * sizeof **S) == 0);
    chunk_sink = F, chunk_sink_ld = N;
    CHECK_EQ(sten__bgemm_chunks(ctx, STEN_NO_TRANS, M, N, K, 1.0f, A, K, B, N, 0.0f, NULL, 0, NULL, 0,
                                bias, copy_chunk, (void *)&M),
             STEN_OK);
    CHECK(memcmp(F, C[0], (size_t)(M * N) * sizeof *F) == 0);
    sten_ctx_set_threads(ctx, 0);
    free(A), free(bias), free(B), free(D), free(F);
    for (int t = 0; t < 2; t++)
        free(C[t]), free(T[t]), free(L[t]), free(S[t]);
}

static void test_bgemm(void)
{
    if (!sten__bf16_available()) {
        printf("  (no AVX-512 BF16 here: bf16 products not tested)\n");
        return;
    }
    /* both kernels where this CPU has both: AVX-512 BF16, then AMX tiles */
    for (int amx = 0; amx <= (int)sten__amx_hardware(); amx++) {
        sten__amx_force(amx);
        CHECK_EQ(sten__amx_available(), amx == 1);
        bgemm_cases();
        bgemm_threads();
    }
    if (!sten__amx_hardware())
        printf("  (no AMX here: the tile kernels not tested)\n");
    if (sten__amx_hardware()) { /* weights packed for the tiles, used with AMX off: refused */
        const int64_t K = 64, N = 100;
        uint16_t *B = calloc((size_t)(K * N), 2);
        uint32_t *P = aligned_alloc(64, (sten__bgemm_packed_words(K, N) * 4 + 63) / 64 * 64);
        float *A = rand_floats(4 * K, -1, 1), *C = rand_floats(4 * N, 0, 0);
        sten__amx_force(1);
        sten__bgemm_pack(ctx, K, N, B, N, P);
        CHECK(sten__bgemm_packed_current(P));
        sten__amx_force(0);
        CHECK(!sten__bgemm_packed_current(P));
        CHECK_EQ(sten__bgemm_chunks_packed(ctx, 4, N, K, A, K, P, C, N, NULL, NULL, NULL), STEN_E_INVALID);
        CHECK(strstr(sten_ctx_error(ctx), "packed for another kernel (AMX now off)") != NULL);
        sten_ctx_clear_error(ctx);
        free(B), free(P), free(A), free(C);
    }
    sten__amx_force(-1);
}

/* int8 products (qgemm.c) against double sums of the fp32 inputs, within
 * the quantization's bound: each input row's step r (its span / 255; a
 * value may round a whole step at the top of the span) and each weight
 * column's s (its largest |w| / 127) give
 *   |C - exact| <= sum_k (|a_k| s / 2 + |w_kj| r + r s / 2) (+ fp32 slack);
 * the VNNI kernel and the portable loop give the same bits, as do 1 and 2
 * threads. Rows of every kind: ReLU-like (>= 0), mixed signs, all zero,
 * all negative; a column of zero weights; shapes off the 8-row tile, the
 * 32-column block and the sum's fours. */
static void qgemm_case(int64_t M, int64_t N, int64_t K, bool relu, bool with_bias)
{
    float *A = rand_floats(M * K, -1.0f, 1.0f), *W = rand_floats(K * N, -0.5f, 0.5f);
    float *bias = with_bias ? rand_floats(N, -1.0f, 1.0f) : NULL;
    for (int64_t i = 0; i < M; i++)
        for (int64_t k = 0; k < K; k++) {
            float *a = &A[i * K + k];
            *a = i % 4 == 0 ? (*a > 0.0f ? 3.0f * *a : 0.0f) : i % 4 == 2 ? 0.0f : i % 4 == 3 ? -fabsf(*a) - 0.5f : *a;
        }
    for (int64_t k = 0; N > 3 && k < K; k++)
        W[k * N + 2] = 0.0f;
    sten_qmat q = {0};
    CHECK_EQ(sten__qmat_make(ctx, &q, K, N, W, N), STEN_OK);
    float *C[3];
    for (int v = 0; v < 3; v++) { /* best kernel on 2 threads, on 1, the portable loop */
        C[v] = rand_floats(M * N, 0, 0);
        sten__qgemm_set_isa(v == 2 ? 0 : -1);
        sten_ctx_set_threads(ctx, v == 1 ? 1 : 2);
        CHECK_EQ(sten__qgemm(ctx, M, N, K, A, K, &q, bias, relu, C[v], N), STEN_OK);
    }
    sten__qgemm_set_isa(-1);
    sten_ctx_set_threads(ctx, 0);
    CHECK(memcmp(C[0], C[1], (size_t)(M * N) * sizeof(float)) == 0);
    CHECK(memcmp(C[0], C[2], (size_t)(M * N) * sizeof(float)) == 0);
    int bad = 0;
    double worst = 0.0;
    for (int64_t i = 0; i < M; i++) {
        double mn = 0.0, mx = 0.0;
        for (int64_t k = 0; k < K; k++)
            mn = fmin(mn, A[i * K + k]), mx = fmax(mx, A[i * K + k]);
        const double r = (mx - mn) / 255.0;
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0, exact = with_bias ? bias[j] : 0.0, bound = 0.0, mag = fabs(exact);
            for (int64_t k = 0; k < K; k++)
                s = fmax(s, fabs(W[k * N + j]) / 127.0);
            for (int64_t k = 0; k < K; k++) {
                const double a = A[i * K + k], w = W[k * N + j];
                exact += a * w;
                mag += fabs(a * w);
                bound += fabs(a) * s / 2 + fabs(w) * r + r * s / 2;
            }
            if (relu)
                exact = exact > 0.0 ? exact : 0.0;
            const double err = fabs(C[0][i * N + j] - exact);
            worst = fmax(worst, bound > 0.0 ? err / bound : err);
            bad += err > bound + 1e-5 * mag + 1e-6 || (relu && C[0][i * N + j] < 0.0f);
        }
    }
    CHECK_EQ(bad, 0);
    if (bad)
        fprintf(stderr, "  M %lld N %lld K %lld: %d outside the bound (worst %.3g of it)\n", (long long)M,
                (long long)N, (long long)K, bad, worst);
    for (int v = 0; v < 3; v++)
        free(C[v]);
    sten__qmat_free(ctx, &q);
    free(A), free(W), free(bias);
}

static void test_qgemm(void)
{
    if (!sten__qgemm_vnni())
        printf("  (no AVX-512 VNNI here: the int8 products' portable loop only)\n");
    const int64_t shapes[][3] = {{1, 1, 1}, {7, 33, 13}, {8, 32, 64}, {19, 100, 130}, {64, 256, 512}, {9, 1, 256}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int v = 0; v < 4; v++)
            qgemm_case(shapes[s][0], shapes[s][1], shapes[s][2], v & 1, v & 2);
    /* a weight matrix of another shape is refused */
    sten_qmat q = {0};
    float w[6] = {1, 2, 3, 4, 5, 6}, a[3] = {1, 1, 1}, c[2];
    CHECK_EQ(sten__qmat_make(ctx, &q, 3, 2, w, 2), STEN_OK);
    CHECK_EQ(sten__qgemm(ctx, 1, 3, 2, a, 2, &q, NULL, false, c, 3), STEN_E_INVALID);
    sten_ctx_clear_error(ctx);
    CHECK_EQ(sten__qgemm(ctx, 1, 2, 3, a, 3, &q, NULL, false, c, 2), STEN_OK);
    CHECK(fabsf(c[0] - 9.0f) < 0.1f && fabsf(c[1] - 12.0f) < 0.1f);
    /* a NaN in a row counts as 0 on both kernels: the row with 0 there gives the same bits */
    float an[3] = {0.5f, NAN, -1.0f}, a0[3] = {0.5f, 0.0f, -1.0f}, cn[2], c0[2];
    for (int v = 0; v < 2; v++) {
        sten__qgemm_set_isa(v == 0 ? -1 : 0);
        CHECK_EQ(sten__qgemm(ctx, 1, 2, 3, an, 3, &q, NULL, false, cn, 2), STEN_OK);
        CHECK_EQ(sten__qgemm(ctx, 1, 2, 3, a0, 3, &q, NULL, false, c0, 2), STEN_OK);
        CHECK(memcmp(cn, c0, sizeof cn) == 0);
    }
    sten__qgemm_set_isa(-1);
    sten__qmat_free(ctx, &q);
    /* sums longer than int32 can hold for sure are refused (the caller keeps fp32) */
    float *big = calloc(65537, sizeof *big);
    CHECK_EQ(sten__qmat_make(ctx, &q, 65537, 1, big, 1), STEN_E_UNSUPPORTED);
    CHECK(strstr(sten_ctx_error(ctx), "could overflow int32") != NULL);
    sten_ctx_clear_error(ctx);
    free(big);
}

/* The AMX backward sweep against double references of the rounded
 * inputs: dA += D Wb^T from Wb as it was, W = beta W + alpha A^T D, Wb =
 * the new W rounded; with 1 and 2 threads, the same bits. */
static void test_amx_out_backward(void)
{
    if (!sten__amx_hardware()) {
        printf("  (no AMX here: the tile sweep not tested)\n");
        return;
    }
    static const int64_t shapes[][3] = {{96, 4700, 128}, {37, 1100, 50}, {64, 17000, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], H = shapes[s][2];
        float *A = rand_floats(M * H, -1, 1), *W0 = rand_floats(H * N, -1, 1);
        float *dA0 = rand_floats(M * H, -1, 1);
        uint16_t *D = calloc((size_t)(M * N), 2), *Wb0 = calloc((size_t)(H * N), 2);
        for (int64_t e = 0; e < M * N; e++)
            D[e] = sten__bf16((float)((e * 7919) % 2001 - 1000) / 1000.0f);
        for (int64_t e = 0; e < H * N; e++)
            Wb0[e] = sten__bf16(W0[e]);
        const float alpha = -0.01f, beta = 0.999f;
        float *W[2], *dA[2];
        uint16_t *Wb[2];
        for (int t = 1; t <= 2; t++) {
            sten_ctx_set_threads(ctx, t);
            W[t - 1] = copy_floats(W0, H * N), dA[t - 1] = copy_floats(dA0, M * H);
            Wb[t - 1] = malloc((size_t)(H * N) * 2);
            memcpy(Wb[t - 1], Wb0, (size_t)(H * N) * 2);
            CHECK_EQ(sten__amx_out_backward(ctx, M, N, H, A, H, D, N, alpha, beta, W[t - 1], N, Wb[t - 1],
                                            N, dA[t - 1], H),
                     STEN_OK);
        }
        sten_ctx_set_threads(ctx, 0);
        CHECK(memcmp(W[0], W[1], (size_t)(H * N) * 4) == 0);
        CHECK(memcmp(dA[0], dA[1], (size_t)(M * H) * 4) == 0);
        CHECK(memcmp(Wb[0], Wb[1], (size_t)(H * N) * 2) == 0);
        float *Rd = copy_floats(dA0, M * H), *Rw = copy_floats(W0, H * N);
        for (int64_t i = 0; i < M; i++)
            for (int64_t h = 0; h < H; h++) {
                double acc = 0;
                for (int64_t j = 0; j < N; j++)
                    acc += (double)sten__bf16_to_float(D[i * N + j]) * sten__bf16_to_float(Wb0[h * N + j]);
                Rd[i * H + h] = (float)(dA0[i * H + h] + acc);
            }
        for (int64_t h = 0; h < H; h++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t i = 0; i < M; i++)
                    acc += (double)rb(A[i * H + h]) * sten__bf16_to_float(D[i * N + j]);
                Rw[h * N + j] = (float)(beta * W0[h * N + j] + alpha * acc);
            }
        CHECK_CLOSE(dA[0], Rd, M * H, 1e-4, 1e-4);
        CHECK_CLOSE(W[0], Rw, H * N, 1e-5, 1e-5);
        int wb_ok = 1;
        for (int64_t e = 0; e < H * N; e++)
            wb_ok &= Wb[0][e] == sten__bf16(W[0][e]);
        CHECK(wb_ok);
        free(A), free(W0), free(dA0), free(D), free(Wb0), free(Rd), free(Rw);
        for (int t = 0; t < 2; t++)
            free(W[t]), free(dA[t]), free(Wb[t]);
    }
}

static void test_spmm(void)
{
    static const uint32_t shapes[][4] = {/* B, N_in, H, max nnz per row */
                                         {1, 1, 1, 1},   {7, 50, 13, 6}, {33, 1000, 128, 40},
                                         {16, 300, 17, 0}, {5, 8, 31, 8}, {0, 10, 4, 3},
                                         /* an embedding table's lookups: narrow rows, many
                                          * batch rows (split over threads in blocks) */
                                         {3000, 20000, 16, 2}, {700, 5000, 64, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int valued = 0; valued < 2; valued++)
            for (int acc = 0; acc < 2; acc++) {
                const uint32_t B = shapes[s][0], N = shapes[s][1], H = shapes[s][2];
                sten_csr x;
                rand_csr(&x, B, N, shapes[s][3], valued);
                const int64_t ldw = H + 5, ldy = H + 3;
                float *W = rand_floats((int64_t)N * ldw, -1, 1);
                float *Y = rand_floats((int64_t)B * ldy, -1, 1), *R = copy_floats(Y, (int64_t)B * ldy);
                sten_spmm(ctx, &x, W, ldw, H, (float)acc, Y, ldy);
                sten__spmm_ref(&x, W, ldw, H, (float)acc, R, ldy);
                CHECK_CLOSE(Y, R, (int64_t)B * ldy, 1e-5, 1e-5);
                /* scaled (a weight with a deferred scale): Y = (acc ? Y : 0) + 0.5 X W */
                float *P = rand_floats((int64_t)B * ldy, 0, 0);
                sten__spmm_ref(&x, W, ldw, H, 0.0f, P, ldy);
                for (int64_t e = 0; e < (int64_t)B * ldy; e++)
                    R[e] = (e % ldy) < H ? (acc ? R[e] : 0.0f) + 0.5f * P[e] : R[e];
                sten__spmm_scaled(ctx, &x, W, ldw, H, 0.5f, (float)acc, Y, ldy);
                CHECK_CLOSE(Y, R, (int64_t)B * ldy, 1e-5, 1e-5);
                free(W), free(Y), free(R), free(P);
                sten_csr_free(ctx, &x);
            }
}

static void test_spmm_grad(void)
{
    static const uint32_t shapes[][4] = {{1, 1, 1, 1}, {9, 40, 13, 7}, {64, 2000, 128, 50},
                                         {12, 100, 5, 0}, {3, 4, 33, 4}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int valued = 0; valued < 2; valued++) {
            const uint32_t B = shapes[s][0], N = shapes[s][1], H = shapes[s][2];
            sten_csr x, xt;
            rand_csr(&x, B, N, shapes[s][3], valued);
            CHECK_EQ(sten_csr_init(ctx, &xt, N, B, x.cap, valued), STEN_OK);
            CHECK_EQ(sten_csr_transpose(ctx, &x, &xt), STEN_OK);
            const int64_t ldd = H + 1, ldw = H + 7;
            float *dY = rand_floats((int64_t)B * ldd, -1, 1);
            float *dW = rand_floats((int64_t)N * ldw, -1, 1), *R = copy_floats(dW, (int64_t)N * ldw);
            sten_spmm_grad(ctx, &xt, dY, ldd, H, -0.5f, dW, ldw);
            sten__spmm_grad_ref(&x, dY, ldd, H, -0.5f, R, ldw);
            /* rows absent from the batch are untouched: exact equality there */
            CHECK_CLOSE(dW, R, (int64_t)N * ldw, 1e-5, 1e-5);
            free(dY), free(dW), free(R);
            sten_csr_free(ctx, &x);
            sten_csr_free(ctx, &xt);
        }
}

/* The compact transpose (only the columns present) against the full one:
 * the same rows, entries and values, rows ascending by column; and the
 * gradient through it equals the one through the full transpose, bit for bit. */
static void test_transpose_compact(void)
{
    static const uint32_t shapes[][3] = {{1, 1, 1}, {6, 100000, 1}, {64, 5000, 7}, {33, 40, 9},
                                         {2048, 3000000, 1}, {300, 256, 40}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int valued = 0; valued < 2; valued++) {
            const uint32_t B = shapes[s][0], N = shapes[s][1], H = 5;
            sten_csr x, full, comp;
            rand_csr(&x, B, N, shapes[s][2], valued);
            CHECK_EQ(sten_csr_init(ctx, &full, N, B, x.cap, valued), STEN_OK);
            CHECK_EQ(sten_csr_init(ctx, &comp, (uint32_t)x.cap, B, x.cap, valued), STEN_OK);
            uint32_t *rid = malloc((x.nnz + 1) * sizeof *rid);
            uint64_t *keys = malloc(2 * (x.nnz + 1) * sizeof *keys);
            CHECK_EQ(sten_csr_transpose(ctx, &x, &full), STEN_OK);
            CHECK_EQ(sten__csr_transpose_compact(ctx, &x, &comp, rid, keys), STEN_OK);
            uint64_t bad = 0;
            uint32_t q = 0;
            for (uint32_t j = 0; j < N; j++) {
                const uint64_t n = full.row_ptr[j + 1] - full.row_ptr[j];
                if (!n)
                    continue;
                const uint64_t c0 = comp.row_ptr[q];
                bad += rid[q] != j || comp.row_ptr[q + 1] - c0 != n;
                bad += memcmp(full.col + full.row_ptr[j], comp.col + c0, n * 4) != 0;
                if (valued)
                    bad += memcmp(full.val + full.row_ptr[j], comp.val + c0, n * 4) != 0;
                q++;
            }
            CHECK_EQ(bad, 0);
            CHECK_EQ(comp.rows, q);
            const int64_t ldd = H + 1, ldw = H;
            float *dY = rand_floats((int64_t)B * ldd, -1, 1);
            float *g1 = rand_floats((int64_t)N * ldw, -1, 1), *g2 = copy_floats(g1, (int64_t)N * ldw);
            sten_spmm_grad(ctx, &full, dY, ldd, H, 0.5f, g1, ldw);
            float *g3 = copy_floats(g2, (int64_t)N * ldw), *g4 = copy_floats(g2, (int64_t)N * ldw);
            sten__spmm_grad_rows(ctx, &comp, rid, dY, ldd, H, 0.5f, false, g2, ldw);
            CHECK(memcmp(g1, g2, (size_t)N * ldw * 4) == 0);
            /* fresh: the rows present overwritten by their sums, the others untouched */
            for (uint32_t r = 0; r < comp.rows; r++)
                memset(g4 + (int64_t)rid[r] * ldw, 0, (size_t)H * 4);
            sten__spmm_grad_rows(ctx, &comp, rid, dY, ldd, H, 0.5f, false, g4, ldw);
            sten__spmm_grad_rows(ctx, &comp, rid, dY, ldd, H, 0.5f, true, g3, ldw);
            CHECK(memcmp(g3, g4, (size_t)N * ldw * 4) == 0);
            free(dY), free(g1), free(g2), free(g3), free(g4), free(rid), free(keys);
            sten_csr_free(ctx, &x);
            sten_csr_free(ctx, &full);
            sten_csr_free(ctx, &comp);
        }
}

/* The transpose with its columns split between threads (large enough to
 * use them): the same arrays as with one thread, and every entry of xt is
 * one of x, rows ascending. */
static void test_transpose_threads(void)
{
    for (int valued = 0; valued < 2; valued++) {
        sten_csr x, t1, t2;
        rand_csr(&x, 500, 3001, 160, valued);
        CHECK(x.nnz >= 3u << 13); /* three threads' worth */
        CHECK_EQ(sten_csr_init(ctx, &t1, 3001, 500, x.cap, valued), STEN_OK);
        CHECK_EQ(sten_csr_init(ctx, &t2, 3001, 500, x.cap, valued), STEN_OK);
        sten_ctx_set_threads(ctx, 1);
        CHECK_EQ(sten_csr_transpose(ctx, &x, &t1), STEN_OK);
        sten_ctx_set_threads(ctx, 3);
        CHECK_EQ(sten_csr_transpose(ctx, &x, &t2), STEN_OK);
        sten_ctx_set_threads(ctx, 2);
        CHECK_EQ(t2.nnz, x.nnz);
        CHECK(memcmp(t1.row_ptr, t2.row_ptr, (3001 + 1) * sizeof *t1.row_ptr) == 0);
        CHECK(memcmp(t1.col, t2.col, x.nnz * sizeof *t1.col) == 0);
        if (valued)
            CHECK(memcmp(t1.val, t2.val, x.nnz * sizeof *t1.val) == 0);
        uint64_t bad = 0;
        for (uint32_t j = 0; j < 3001; j++)
            for (uint64_t e = t2.row_ptr[j]; e < t2.row_ptr[j + 1]; e++) {
                const uint32_t i = t2.col[e];
                bad += e > t2.row_ptr[j] && t2.col[e - 1] >= i;
                int found = 0;
                for (uint64_t q = x.row_ptr[i]; q < x.row_ptr[i + 1]; q++)
                    found |= x.col[q] == j && (!valued || x.val[q] == t2.val[e]);
                bad += !found;
            }
        CHECK_EQ(bad, 0);
        sten_csr_free(ctx, &x);
        sten_csr_free(ctx, &t1);
        sten_csr_free(ctx, &t2);
    }
}

static void test_activations(void)
{
#define ITEM(name, code, text) name,
    static const sten_act all[] = {STEN_ACT_LIST(ITEM)};
#undef ITEM
    sten_act_params p = sten_act_params_default();
    p.slope = 0.2f;
    p.max = 1.5f;
    const int64_t B = 9, N = 37, ld = 40;
    for (size_t a = 0; a < sizeof all / sizeof all[0]; a++) {
        float *X = rand_floats(B * ld, -4, 4);
        /* values near kinks are where output-based derivatives go wrong;
         * keep test inputs a little away from 0 and +-max */
        for (int64_t i = 0; i < B * ld; i++)
            if (fabsf(X[i]) < 1e-3f || fabsf(fabsf(X[i]) - p.max) < 1e-3f)
                X[i] += 0.01f;
        X[5] = 30.0f;  /* saturating inputs */
        X[6] = -30.0f;
        float *Y = rand_floats(B * ld, 0, 0), *R = rand_floats(B * ld, 0, 0);
        sten_act_forward(ctx, all[a], &p, X, Y, B, N, ld);
        sten__act_forward_ref(all[a], &p, X, R, B, N, ld);
        for (int64_t b = 0; b < B; b++)
            if (!CHECK_CLOSE(Y + b * ld, R + b * ld, N, 1e-6, 1e-5))
                fprintf(stderr, "  forward %s row %lld\n", sten_act_name(all[a]), (long long)b);

        float *dY = rand_floats(B * ld, -1, 1), *dX = rand_floats(B * ld, 0, 0);
        float *dR = rand_floats(B * ld, 0, 0);
        sten_act_backward(ctx, all[a], &p, Y, dY, dX, B, N, ld);
        sten__act_backward_ref(all[a], &p, X, dY, dR, B, N, ld);
        for (int64_t b = 0; b < B; b++)
            if (!CHECK_CLOSE(dX + b * ld, dR + b * ld, N, 1e-5, 1e-3))
                fprintf(stderr, "  backward %s row %lld\n", sten_act_name(all[a]), (long long)b);

        /* in place gives the same answer */
        float *Z = copy_floats(X, B * ld);
        sten_act_forward(ctx, all[a], &p, Z, Z, B, N, ld);
        for (int64_t b = 0; b < B; b++)
            CHECK(memcmp(Z + b * ld, Y + b * ld, (size_t)N * sizeof(float)) == 0);
        free(X), free(Y), free(R), free(dY), free(dX), free(dR), free(Z);
    }
    /* every listed activation parses from its name in any case */
    for (size_t a = 0; a < sizeof all / sizeof all[0]; a++) {
        char up[64];
        const char *n = sten_act_name(all[a]);
        size_t i = 0;
        for (; n[i] && i < sizeof up - 1; i++)
            up[i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 32 : n[i]);
        up[i] = 0;
        sten_act got;
        CHECK_EQ(sten_act_parse(up, &got), STEN_OK);
        CHECK_EQ(got, all[a]);
    }
    sten_act got;
    CHECK_EQ(sten_act_parse("lrelu", &got), STEN_OK);
    CHECK_EQ(got, STEN_ACT_LEAKYRELU);
    CHECK_EQ(sten_act_parse("ScaledExponentialLinear", &got), STEN_OK);
    CHECK_EQ(got, STEN_ACT_SELU);
    CHECK_EQ(sten_act_parse("Sigmod", &got), STEN_E_NOTFOUND);
    CHECK(sten_act_name((sten_act)4) == NULL); /* DSSTNE's unparseable PReLU code */
    /* SoftPlus and SoftSign are real, not the identity DSSTNE ran */
    float x = 2.0f, y;
    sten_act_forward(ctx, STEN_ACT_SOFTPLUS, &p, &x, &y, 1, 1, 1);
    CHECK_NEAR(y, 2.126928, 1e-5, 0);
    sten_act_forward(ctx, STEN_ACT_SOFTSIGN, &p, &x, &y, 1, 1, 1);
    CHECK_NEAR(y, 2.0 / 3.0, 1e-6, 0);
}

static void check_topk_case(const float *S, int64_t lds, int64_t B, int64_t N, int64_t K,
                            const sten_csr *ex)
{
    uint32_t *gi = malloc((size_t)(B * K + 1) * 4), *ri = malloc((size_t)(B * K + 1) * 4);
    float *gv = malloc((size_t)(B * K + 1) * 4), *rv = malloc((size_t)(B * K + 1) * 4);
    uint32_t *gc = malloc((size_t)(B + 1) * 4), *rc = malloc((size_t)(B + 1) * 4);
    CHECK_EQ(sten_topk(ctx, S, lds, B, N, K, ex, gi, gv, gc), STEN_OK);
    CHECK_EQ(sten__topk_ref(S, lds, B, N, K, ex, ri, rv, rc), STEN_OK);
    int same = memcmp(gi, ri, (size_t)(B * K) * 4) == 0 && memcmp(gc, rc, (size_t)B * 4) == 0;
    for (int64_t i = 0; i < B * K && same; i++)
        same = (isnan(gv[i]) && isnan(rv[i])) || gv[i] == rv[i];
    if (!same)
        fprintf(stderr, "  top-k mismatch: B=%lld N=%lld K=%lld exclude=%s\n", (long long)B,
                (long long)N, (long long)K, ex ? "yes" : "no");
    CHECK(same);
    /* never an excluded item */
    for (int64_t b = 0; ex && b < B; b++)
        for (uint32_t r = 0; r < gc[b]; r++)
            for (uint64_t e = ex->row_ptr[b]; e < ex->row_ptr[b + 1]; e++)
                CHECK(gi[b * K + r] != ex->col[e]);
    free(gi), free(ri), free(gv), free(rv), free(gc), free(rc);
}

/* The rescorer of test_topk_screen: the exact scores, row-major. */
typedef struct {
    const float *S;
    int64_t N;
} exact_scores;

static void exact_score(void *arg, int64_t b, const uint32_t *j, int64_t n, float *out)
{
    const exact_scores *e = arg;
    for (int64_t q = 0; q < n; q++)
        out[q] = e->S[b * e->N + j[q]];
}

/* Screening (sten__topk_begin_screen): the chunks carry scores off the
 * exact ones by up to (not past) each item's bound, the chunks arrive out
 * of order, and the result is sten_topk's over the exact scores, bit for
 * bit. The scores' gaps are wider than the bounds, so a threshold set one
 * item too high (a K-best set that lost or doubled an item) drops a true
 * winner; one row is left without a bound (rescored whole). */
static void test_topk_screen(void)
{
    if (!sten__topk_screen_available()) {
        fprintf(stderr, "  (no AVX-512: screening not tested)\n");
        return;
    }
    const int64_t B = 9, N = 2000, chunks = (N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK;
    float *S = rand_floats(B * N, -1, 1), *s = malloc((size_t)(B * N) * 4);
    float *wn = rand_floats(N, 0.5f, 1.5f), rad[B];
    for (int64_t b = 0; b < B; b++)
        rad[b] = b == 4 ? INFINITY : 1e-5f * (float)(b + 1);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < N; j++) {
            const float u = 2.0f * sten_rng_uniform(&rng) - 1.0f;
            const float r = isfinite(rad[b]) ? rad[b] : 1e-3f;
            s[b * N + j] = S[b * N + j] + 0.99f * u * r * wn[j];
        }
    sten_csr ex;
    rand_csr(&ex, (uint32_t)B, (uint32_t)N, 300, false);
    const exact_scores es = {S, N};
    const sten_rescorer r = {exact_score, NULL, (void *)&es};
    static const int64_t Ks[] = {1, 10, 16, 17, 40};
    for (size_t q = 0; q < sizeof Ks / sizeof Ks[0]; q++) {
        const int64_t K = Ks[q];
        uint32_t *gi = malloc((size_t)(B * K) * 4), *ri = malloc((size_t)(B * K) * 4), gc[B], rc[B];
        float *gv = malloc((size_t)(B * K) * 4), *rv = malloc((size_t)(B * K) * 4), *rp, *ap;
        for (int with_ex = 0; with_ex <= 1; with_ex++) {
            const sten_csr *x = with_ex ? &ex : NULL;
            sten__topk_acc *a = NULL;
            CHECK_EQ(sten__topk_begin_screen(ctx, B, N, K, x, wn, 0.0f, &a), STEN_OK);
            sten__topk_screen_rows(a, &rp, &ap);
            for (int64_t b = 0; b < B; b++)
                rp[b] = rad[b], ap[b] = 0.0f;
            for (int64_t c = 0; c < chunks; c++) { /* chunk order 1, 3, ..., 0, 2, ... */
                const int64_t ch = c < chunks / 2 ? 2 * c + 1 : 2 * (c - chunks / 2);
                const int64_t j0 = ch * STEN__GEMM_CHUNK;
                sten__topk_chunk(a, ch, j0, STEN__MIN(N, j0 + STEN__GEMM_CHUNK), s + j0, N);
            }
            sten__topk_end_screen(ctx, a, &r, gi, gv, gc);
            sten__topk_free(ctx, a);
            CHECK_EQ(sten__topk_ref(S, N, B, N, K, x, ri, rv, rc), STEN_OK);
            CHECK(memcmp(gi, ri, (size_t)(B * K) * 4) == 0);
            CHECK(memcmp(gv, rv, (size_t)(B * K) * 4) == 0);
            CHECK(memcmp(gc, rc, sizeof gc) == 0);
        }
        free(gi), free(ri), free(gv), free(rv);
    }
    sten_csr_free(ctx, &ex);
    free(S), free(s), free(wn);
}

static void test_topk(void)
{
    static const int64_t shapes[][3] = {{1, 1, 1}, {4, 10, 3}, {8, 100, 10}, {3, 50, 50},
                                        {5, 20, 25}, {16, 1000, 128}, {2, 0, 4}, {6, 257, 200}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t B = shapes[s][0], N = shapes[s][1], K = shapes[s][2], lds = N + 3;
        float *S = rand_floats(B * lds, -1, 1);
        /* plant ties and NaNs */
        for (int64_t i = 0; i < B * lds; i += 7)
            S[i] = 0.25f;
        for (int64_t i = 3; i < B * lds; i += 23)
            S[i] = NAN;
        if (N > 2)
            S[1] = -INFINITY;
        check_topk_case(S, lds, B, N, K, NULL);
        if (N > 0) {
            sten_csr ex;
            rand_csr(&ex, (uint32_t)B, (uint32_t)N, (uint32_t)(N / 2 + 1), false);
            check_topk_case(S, lds, B, N, K, &ex);
            sten_csr_free(ctx, &ex);
        }
        free(S);
    }
    /* hand-checked: ties by lower index, all excluded -> empty */
    const float S[6] = {0.5f, 0.9f, 0.5f, 0.1f, 0.9f, 0.5f};
    uint32_t idx[4], cnt;
    float val[4];
    CHECK_EQ(sten_topk(ctx, S, 6, 1, 6, 4, NULL, idx, val, &cnt), STEN_OK);
    const uint32_t want[4] = {1, 4, 0, 2};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(idx[i], want[i]);
    CHECK_EQ(cnt, 4);
    sten_csr ex;
    sten_csr_init(ctx, &ex, 1, 6, 6, false);
    for (uint32_t i = 0; i < 6; i++)
        ex.col[i] = 5 - i;
    ex.row_ptr[1] = 6;
    ex.rows = 1;
    ex.nnz = 6;
    CHECK_EQ(sten_topk(ctx, S, 6, 1, 6, 4, &ex, idx, val, &cnt), STEN_OK);
    CHECK_EQ(cnt, 0);
    CHECK_EQ(idx[0], UINT32_MAX);
    CHECK(isinf(val[3]) && val[3] < 0);
    sten_csr_free(ctx, &ex);
    /* NaNs fill the heap first; later numbers, -inf included, beat them */
    const float T[5] = {NAN, NAN, -INFINITY, 1.0f, NAN};
    CHECK_EQ(sten_topk(ctx, T, 5, 1, 5, 2, NULL, idx, val, &cnt), STEN_OK);
    CHECK_EQ(idx[0], 3);
    CHECK_EQ(idx[1], 2);
    CHECK_EQ(sten_topk(ctx, T, 5, 1, 5, 4, NULL, idx, val, &cnt), STEN_OK);
    CHECK_EQ(idx[2], 0); /* then NaNs by index */
    CHECK_EQ(idx[3], 1);
    CHECK(isnan(val[3]));
    /* bad K */
    CHECK_EQ(sten_topk(ctx, S, 6, 1, 6, 0, NULL, idx, val, &cnt), STEN_E_INVALID);
    sten_ctx_clear_error(ctx);
    /* scratch allocation failure: error, nothing leaked */
    size_t before = sten_ctx_bytes_in_use(ctx);
    sten_ctx_fail_alloc_at(ctx, 1);
    CHECK_EQ(sten_topk(ctx, S, 6, 1, 6, 2, NULL, idx, val, &cnt), STEN_E_NOMEM);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), before);
    sten_ctx_clear_error(ctx);
}

/* The same kernel with 1 and 2 threads gives bit-identical output. */
static void test_thread_count_independence(void)
{
    const uint32_t B = 64, N = 3000, H = 96;
    sten_csr x, xt;
    rand_csr(&x, B, N, 80, true);
    sten_csr_init(ctx, &xt, N, B, x.cap, true);
    sten_csr_transpose(ctx, &x, &xt);
    float *W = rand_floats((int64_t)N * H, -1, 1), *dY = rand_floats((int64_t)B * H, -1, 1);
    float *Y1 = rand_floats((int64_t)B * H, 0, 0), *Y2 = rand_floats((int64_t)B * H, 0, 0);
    float *G1 = rand_floats((int64_t)N * H, 0, 0), *G2 = rand_floats((int64_t)N * H, 0, 0);
    float *S = rand_floats((int64_t)B * N, -1, 1);
    uint32_t *i1 = malloc(B * 50 * 4), *i2 = malloc(B * 50 * 4);
    for (int t = 1; t <= 2; t++) {
        sten_ctx_set_threads(ctx, t);
        sten_spmm(ctx, &x, W, H, H, 0.0f, t == 1 ? Y1 : Y2, H);
        sten_spmm_grad(ctx, &xt, dY, H, H, 1.0f, t == 1 ? G1 : G2, H);
        sten_topk(ctx, S, N, B, N, 50, &x, t == 1 ? i1 : i2, NULL, NULL);
    }
    CHECK(memcmp(Y1, Y2, (size_t)B * H * 4) == 0);
    CHECK(memcmp(G1, G2, (size_t)N * H * 4) == 0);
    { /* narrow rows (an embedding table's lookups: blocks of batch rows a thread) */
        const uint32_t Bn = 5000, Hn = 16;
        sten_csr xn;
        rand_csr(&xn, Bn, N, 2, true);
        float *Wn = rand_floats((int64_t)N * Hn, -1, 1);
        float *Z1 = rand_floats((int64_t)Bn * Hn, 0, 0), *Z2 = rand_floats((int64_t)Bn * Hn, 0, 0);
        for (int t = 1; t <= 2; t++) {
            sten_ctx_set_threads(ctx, t);
            sten_spmm(ctx, &xn, Wn, Hn, Hn, 0.0f, t == 1 ? Z1 : Z2, Hn);
        }
        CHECK(memcmp(Z1, Z2, (size_t)Bn * Hn * 4) == 0);
        free(Wn), free(Z1), free(Z2);
        sten_csr_free(ctx, &xn);
    }
    CHECK(memcmp(i1, i2, (size_t)B * 50 * 4) == 0);
    /* sten_gemm where the columns make fewer chunks than threads (an MLP layer: rows split into
     * panel blocks): NN and TN, the same bits for 1 and 2 threads with sten's kernels (OpenBLAS,
     * under STEN_KERNELS=portable, makes no such promise), and right either way */
    const int64_t M = 1000, Nn = 300, K = 257;
    float *A = rand_floats(M * K, -1, 1), *Bm = rand_floats(K * Nn, -1, 1), *At = rand_floats(K * M, -1, 1);
    float *C1 = rand_floats(M * Nn, 0, 0), *C2 = rand_floats(M * Nn, 0, 0), *R = rand_floats(M * Nn, 0, 0);
    for (int tn = 0; tn < 2; tn++) {
        for (int t = 1; t <= 2; t++) {
            sten_ctx_set_threads(ctx, t);
            sten_gemm(ctx, tn ? STEN_TRANS : STEN_NO_TRANS, STEN_NO_TRANS, M, Nn, K, 1.0f, tn ? At : A, tn ? M : K, Bm,
                      Nn, 0.0f, t == 1 ? C1 : C2, Nn);
        }
        if (sten__gemm_own())
            CHECK(memcmp(C1, C2, (size_t)(M * Nn) * 4) == 0);
        sten__gemm_ref(tn, 0, M, Nn, K, 1.0f, tn ? At : A, tn ? M : K, Bm, Nn, 0.0f, R, Nn);
        CHECK_CLOSE(C2, R, M * Nn, 1e-4, 1e-4);
    }
    /* ... and the bf16 kernel likewise (the row split is its too); a CPU without AVX-512 BF16
     * gets an error, not an illegal instruction */
    uint16_t *Bh = malloc(sizeof *Bh * (size_t)(K * Nn));
    for (int64_t i = 0; i < K * Nn; i++)
        Bh[i] = sten__bf16(Bm[i]);
    if (!sten__bf16_available()) {
        CHECK_EQ(sten__bgemm_chunks(ctx, STEN_NO_TRANS, M, Nn, K, 1.0f, A, K, Bh, Nn, 0.0f, C1, Nn, NULL, 0, NULL,
                                    NULL, NULL),
                 STEN_E_UNSUPPORTED);
        printf("  (no AVX-512 BF16: bf16 thread split not tested)\n");
    }
    for (int t = 1; t <= 2 && sten__bf16_available(); t++) {
        sten_ctx_set_threads(ctx, t);
        CHECK_EQ(sten__bgemm_chunks(ctx, STEN_NO_TRANS, M, Nn, K, 1.0f, A, K, Bh, Nn, 0.0f, t == 1 ? C1 : C2, Nn,
                                    NULL, 0, NULL, NULL, NULL),
                 STEN_OK);
    }
    if (sten__bf16_available())
        CHECK(memcmp(C1, C2, (size_t)(M * Nn) * 4) == 0);
    free(Bh);
    free(A), free(Bm), free(At), free(C1), free(C2), free(R);
    free(W), free(dY), free(Y1), free(Y2), free(G1), free(G2), free(S), free(i1), free(i2);
    sten_csr_free(ctx, &x);
    sten_csr_free(ctx, &xt);
    sten_ctx_set_threads(ctx, 0);
}

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return EXIT_FAILURE;
    sten_rng_init(&rng, 2024, 0);
    RUN(test_gemm);
    RUN(test_gemm_chunks);
    RUN(test_gemm_avx2_bits);
    RUN(test_gemm_out_backward);
    RUN(test_bf16_rounding);
    RUN(test_bgemm);
    RUN(test_amx_out_backward);
    RUN(test_qgemm);
    RUN(test_spmm);
    RUN(test_spmm_grad);
    RUN(test_transpose_threads);
    RUN(test_transpose_compact);
    RUN(test_activations);
    RUN(test_topk);
    RUN(test_topk_screen);
    RUN(test_thread_count_independence);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0); /* nothing leaked through the wrapper */
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
