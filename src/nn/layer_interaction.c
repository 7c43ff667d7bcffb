/* layer_interaction.c — DLRM's dot interaction: K sources of one width D
 * (the bottom MLP's output and the embeddings), each example's output the
 * dot products of every pair (i, j), j < i (j <= i with SelfInteraction),
 * in DLRM's order (i ascending, then j), after the first source's own
 * D values when KeepFirst is 1 (DLRM's concatenation of the dense features
 * with their interactions). No weights, no activation. */
#include "net_int.h"

#include <string.h>

enum { INT_SELF = 0, INT_KEEP_FIRST = 1, INT_SETTINGS = 2 };
static const nn_setting int_settings[] = {
    {"SelfInteraction", "sten_self_interaction", INT_SELF, true, 0, 1, 0.0f},
    {"KeepFirst", "sten_keep_first", INT_KEEP_FIRST, true, 0, 1, 0.0f},
};

static bool int_check(const sten_layer_desc *d, char *msg, size_t cap)
{
    if (d->kind != STEN_LAYER_HIDDEN || d->n_sources < 2) {
        snprintf(msg, cap, "an Interaction layer is a Hidden layer with two or more Sources of one width");
        return false;
    }
    return true;
}

static bool with_self(const sten_layer_desc *d)
{
    return sten__setting_or(d, INT_SELF, 0.0f) == 1.0f;
}

static bool keep_first(const sten_layer_desc *d)
{
    return sten__setting_or(d, INT_KEEP_FIRST, 0.0f) == 1.0f;
}

/* Pairs of K sources, and the output width with the first source kept. */
static uint64_t out_width(const sten_layer_desc *d, uint64_t K, uint64_t D)
{
    return (with_self(d) ? K * (K + 1) / 2 : K * (K - 1) / 2) + (keep_first(d) ? D : 0);
}

static uint32_t int_width(const sten_net *net, const nn_layer *L)
{
    uint32_t D = 0;
    for (uint32_t k = 0; k < L->d->n_sources; k++) {
        const int s = sten__net_find_layer(net, L->d->sources[k]);
        if (s < 0 || net->layers[s].N == 0)
            return 0;
        D = net->layers[s].N; /* equal widths are checked when built */
    }
    const uint64_t n = out_width(L->d, L->d->n_sources, D);
    return n > UINT32_MAX ? 0 : (uint32_t)n;
}

static sten_status int_build(sten_ctx *ctx, sten_net *net, nn_layer *L)
{
    const uint32_t D = net->layers[L->src[0]].N;
    for (uint32_t k = 0; k < L->n_src; k++) {
        const nn_layer *S = &net->layers[L->src[k]];
        if (S->sparse_in || S->N != D)
            return sten_fail(ctx, STEN_E_INVALID,
                             "%s:%d:%d: layer \"%s\": an Interaction takes dense Sources of one width; "
                             "\"%s\" is %s%u wide (\"%s\": %u)",
                             net->desc.source, L->d->line, L->d->column, L->d->name, S->d->name,
                             S->sparse_in ? "a sparse input, " : "", S->N, net->layers[L->src[0]].d->name, D);
    }
    const uint64_t n = out_width(L->d, L->n_src, D);
    if (n != L->N)
        return sten_fail(ctx, STEN_E_INVALID,
                         "%s:%d:%d: layer \"%s\": N = %u, but its %u Sources give %llu values (or say "
                         "\"N\": \"auto\")",
                         net->desc.source, L->d->line, L->d->column, L->d->name, L->N, L->n_src,
                         (unsigned long long)n);
    L->fn = STEN_ACT_LINEAR;
    return STEN_OK;
}

static float dot(const float *a, const float *b, uint32_t n)
{
    float s = 0.0f;
    for (uint32_t k = 0; k < n; k++)
        s += a[k] * b[k];
    return s;
}

enum { INT_GRAD_MAX = 64 }; /* sources of the matrix form of the gradients (K x K floats on the stack) */

/* One example's pairs i > j (i >= j with self) through its sources
 * transposed (t[k][j] = s_j[k], K <= ld): each z_ij summed over k in
 * order, as dot() does, but with j the vectorised loop. */
enum { INT_T_MAX = 4096 }; /* K x D floats of the transposed block (on the stack) */
STEN__SIMD_CLONES
static void pairs_t(const float *restrict t, uint32_t ld, uint32_t K, uint32_t D, bool self, float *restrict o)
{
    for (uint32_t i = 0; i < K; i++) {
        const uint32_t n = i + self;
        float *restrict z = o;
        for (uint32_t j = 0; j < n; j++)
            z[j] = 0.0f;
        for (uint32_t k = 0; k < D; k++) {
            const float c = t[(uint64_t)k * ld + i];
            const float *restrict tk = t + (uint64_t)k * ld;
            for (uint32_t j = 0; j < n; j++)
                z[j] += c * tk[j];
        }
        o += n;
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
#include <immintrin.h>
#include "core/simd256.h"
#include "core/simd512.h"
#define HAVE_PAIRS_512 1
/* pairs_t for K <= 32 sources with AVX-512: each output row's sums held in
 * two registers through the D steps (pairs_t goes through memory every
 * step), each lane summed in the same order with the product rounded
 * before the add (no FMA): the same bits. Four output rows at a time, so
 * eight independent sums hide the adds' latency (one row's chain of D adds
 * ran at the add latency: ~1,600 cycles an example at DLRM's 27 x 16). */
enum { PAIR_ROWS = 4 };
__attribute__((target("avx512f"), always_inline)) static inline void
pairs_block(const float *restrict t, uint32_t ld, uint32_t K, uint32_t D, uint32_t i0, bool two, __mmask16 m0,
            __mmask16 m1, __m512 *acc0, __m512 *acc1)
{
    /* rows past K repeat the last one (computed, never stored) */
    const uint32_t r0 = i0, r1 = STEN__MIN(i0 + 1, K - 1), r2 = STEN__MIN(i0 + 2, K - 1),
                   r3 = STEN__MIN(i0 + 3, K - 1);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (uint32_t k = 0; k < D; k++) {
        const float *tk = t + (uint64_t)k * ld;
        const __m512 x0 = _mm512_maskz_loadu_ps(m0, tk);
        const __m512 c0 = _mm512_set1_ps(tk[r0]), c1 = _mm512_set1_ps(tk[r1]), c2 = _mm512_set1_ps(tk[r2]),
                     c3 = _mm512_set1_ps(tk[r3]);
        a0 = _mm512_add_ps(a0, _mm512_mul_ps(c0, x0));
        a1 = _mm512_add_ps(a1, _mm512_mul_ps(c1, x0));
        a2 = _mm512_add_ps(a2, _mm512_mul_ps(c2, x0));
        a3 = _mm512_add_ps(a3, _mm512_mul_ps(c3, x0));
        if (two) {
            const __m512 x1 = _mm512_maskz_loadu_ps(m1, tk + 16);
            b0 = _mm512_add_ps(b0, _mm512_mul_ps(c0, x1));
            b1 = _mm512_add_ps(b1, _mm512_mul_ps(c1, x1));
            b2 = _mm512_add_ps(b2, _mm512_mul_ps(c2, x1));
            b3 = _mm512_add_ps(b3, _mm512_mul_ps(c3, x1));
        }
    }
    acc0[0] = a0, acc0[1] = a1, acc0[2] = a2, acc0[3] = a3;
    acc1[0] = b0, acc1[1] = b1, acc1[2] = b2, acc1[3] = b3;
}

__attribute__((target("avx512f"))) static void pairs_t32(const float *restrict t, uint32_t ld, uint32_t K,
                                                         uint32_t D, bool self, float *restrict o)
{
    const __mmask16 m0 = (__mmask16)(K >= 16 ? 0xffff : (1u << K) - 1u);
    const __mmask16 m1 = (__mmask16)(K <= 16 ? 0 : K >= 32 ? 0xffff : (1u << (K - 16)) - 1u);
    for (uint32_t i0 = 0; i0 < K; i0 += PAIR_ROWS) {
        const uint32_t nr = K - i0 < PAIR_ROWS ? K - i0 : PAIR_ROWS;
        /* the block's last row's pairs reach past the first 16 */
        const bool two = i0 + nr - 1 + self > 16;
        __m512 acc0[PAIR_ROWS], acc1[PAIR_ROWS];
        if (two)
            pairs_block(t, ld, K, D, i0, true, m0, m1, acc0, acc1);
        else
            pairs_block(t, ld, K, D, i0, false, m0, m1, acc0, acc1);
        for (uint32_t r = 0; r < nr; r++) {
            const uint32_t n = i0 + r + self;
            _mm512_mask_storeu_ps(o, (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1u), acc0[r]);
            if (n > 16)
                _mm512_mask_storeu_ps(o + 16, (__mmask16)((1u << (n - 16)) - 1u), acc1[r]);
            o += n;
        }
    }
}

/* t[k][j] = s_j[k] for DLRM's width (D = 16) and up to 32 sources, row
 * length 32 (zero past K): two 16 x 16 register transposes of the sources'
 * rows, where the element by element copy had a third of the layer's
 * profile samples in scoring (the whole scoring pass gained ~1%). */
__attribute__((target("avx512f"))) static void transpose_d16(float *restrict t, const float *const *s, uint32_t K)
{
    for (uint32_t h = 0; h < 32 && h < (K + 15) / 16 * 16; h += 16) {
        __m512i r[16], o[16];
        for (uint32_t j = 0; j < 16; j++)
            r[j] = h + j < K ? _mm512_loadu_si512(s[h + j]) : _mm512_setzero_si512();
        sten__t16(r, o);
        for (uint32_t k = 0; k < 16; k++)
            _mm512_storeu_si512(t + k * 32 + h, o[k]);
    }
}

/* Whether any of n sources has a gradient (input layers have none). */
static bool any_grad(float *const *g, uint32_t n)
{
    for (uint32_t r = 0; r < n; r++)
        if (g[r])
            return true;
    return false;
}

/* int_backward's gradients of one example: g[i] += sum over j of w[i][j]
 * s[j], w the K x K symmetric matrix of the deltas (d z_ij both sides, 2 d
 * z_ii on the diagonal), 8 rows at a time (8 independent sums), 16 of the
 * D values in a register; rows with no g (input layers) are skipped. Where
 * the plain loop goes through memory twice per pair, this keeps the sums
 * in registers. */
__attribute__((target("avx512f,fma"))) static void grads_512(const float *restrict w, uint32_t K,
                                                             uint32_t D, const float *const *s,
                                                             float *const *g)
{
    for (uint32_t i0 = 0; i0 < K; i0 += 8) {
        const uint32_t ni = K - i0 < 8 ? K - i0 : 8;
        if (!any_grad(g + i0, ni))
            continue;
        for (uint32_t k = 0; k < D; k += 16) {
            const __mmask16 m = (__mmask16)(D - k >= 16 ? 0xffff : (1u << (D - k)) - 1u);
            __m512 acc[8];
            for (int r = 0; r < 8; r++)
                acc[r] = _mm512_setzero_ps();
            for (uint32_t j = 0; j < K; j++) {
                const __m512 sj = _mm512_maskz_loadu_ps(m, s[j] + k);
                const float *wj = w + (uint64_t)i0 * K + j;
                for (uint32_t r = 0; r < ni; r++)
                    acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(wj[(uint64_t)r * K]), sj, acc[r]);
            }
            for (uint32_t r = 0; r < ni; r++)
                if (g[i0 + r])
                    _mm512_mask_storeu_ps(g[i0 + r] + k, m,
                                          _mm512_add_ps(_mm512_maskz_loadu_ps(m, g[i0 + r] + k), acc[r]));
        }
    }
}
/* The same two kernels on AVX2 (CPUs without AVX-512: AMD Zen 2/3), each
 * lane summed in the same order, so the same bits: */
#define AVX2_FMA __attribute__((target("avx2,fma")))

/* pairs_t32's sums: four output rows x two 8-lane groups of pairs at a
 * time (eight independent sums), products rounded before the add. */
AVX2_FMA static void pairs_t32_256(const float *restrict t, uint32_t ld, uint32_t K, uint32_t D, bool self,
                                   float *restrict o)
{
    for (uint32_t i0 = 0; i0 < K; i0 += PAIR_ROWS) {
        const uint32_t nr = K - i0 < PAIR_ROWS ? K - i0 : PAIR_ROWS;
        const uint32_t last = i0 + nr - 1 + self; /* pairs of the block's last row */
        uint32_t r_[PAIR_ROWS];
        for (uint32_t r = 0; r < PAIR_ROWS; r++) /* rows past K repeat the last (never stored) */
            r_[r] = STEN__MIN(i0 + r, K - 1);
        for (uint32_t g = 0; 8 * g < last; g += 2) {
            const __m256i m0 = sten__lanes8((int64_t)K - 8 * g), m1 = sten__lanes8((int64_t)K - 8 * g - 8);
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (uint32_t k = 0; k < D; k++) {
                const float *tk = t + (uint64_t)k * ld;
                const __m256 x0 = _mm256_maskload_ps(tk + 8 * g, m0), x1 = _mm256_maskload_ps(tk + 8 * g + 8, m1);
                const __m256 c0 = _mm256_set1_ps(tk[r_[0]]), c1 = _mm256_set1_ps(tk[r_[1]]),
                             c2 = _mm256_set1_ps(tk[r_[2]]), c3 = _mm256_set1_ps(tk[r_[3]]);
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(c0, x0));
                a1 = _mm256_add_ps(a1, _mm256_mul_ps(c1, x0));
                a2 = _mm256_add_ps(a2, _mm256_mul_ps(c2, x0));
                a3 = _mm256_add_ps(a3, _mm256_mul_ps(c3, x0));
                b0 = _mm256_add_ps(b0, _mm256_mul_ps(c0, x1));
                b1 = _mm256_add_ps(b1, _mm256_mul_ps(c1, x1));
                b2 = _mm256_add_ps(b2, _mm256_mul_ps(c2, x1));
                b3 = _mm256_add_ps(b3, _mm256_mul_ps(c3, x1));
            }
            const __m256 a[PAIR_ROWS] = {a0, a1, a2, a3}, b[PAIR_ROWS] = {b0, b1, b2, b3};
            float *z = o;
            for (uint32_t r = 0; r < nr; r++) {
                const int64_t n = (int64_t)(i0 + r + self); /* row r's pairs, from z */
                _mm256_maskstore_ps(z + 8 * g, sten__lanes8(n - 8 * g), a[r]);
                _mm256_maskstore_ps(z + 8 * g + 8, sten__lanes8(n - 8 * g - 8), b[r]);
                z += n;
            }
        }
        for (uint32_t r = 0; r < nr; r++)
            o += i0 + r + self;
    }
}

/* grads_512's sums, 8 lanes of D at a time. */
AVX2_FMA static void grads_256(const float *restrict w, uint32_t K, uint32_t D, const float *const *s,
                               float *const *g)
{
    for (uint32_t i0 = 0; i0 < K; i0 += 8) {
        const uint32_t ni = K - i0 < 8 ? K - i0 : 8;
        if (!any_grad(g + i0, ni))
            continue;
        const float *wr[8]; /* rows past K repeat the last (never stored) */
        for (uint32_t r = 0; r < 8; r++)
            wr[r] = w + (uint64_t)STEN__MIN(i0 + r, K - 1) * K;
        for (uint32_t k = 0; k < D; k += 8) {
            const __m256i m = sten__lanes8((int64_t)D - k);
            __m256 acc[8];
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++)
                acc[r] = _mm256_setzero_ps();
            for (uint32_t j = 0; j < K; j++) {
                const __m256 sj = _mm256_maskload_ps(s[j] + k, m);
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++)
                    acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(wr[r][j]), sj, acc[r]);
            }
#pragma GCC unroll 8
            for (uint32_t r = 0; r < 8; r++)
                if (r < ni && g[i0 + r])
                    _mm256_maskstore_ps(g[i0 + r] + k, m,
                                        _mm256_add_ps(_mm256_maskload_ps(g[i0 + r] + k, m), acc[r]));
        }
    }
}

#endif

/* g += c x (n values), vectorised (g and x never overlap) */
STEN__SIMD_CLONES
static void axpy(float *restrict g, float c, const float *restrict x, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        g[k] += c * x[k];
}

/* Examples are independent: split between threads, each computed alone
 * (the same values for any thread count). */
static void int_forward(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, nn_layer *L)
{
    const uint32_t K = L->n_src, D = net->layers[L->src[0]].N;
    const bool self = with_self(L->d), keep = keep_first(L->d);
    float *z = sten__buf(ws, net, L)->act;
    const int nt = sten__threads_for(ctx, (int64_t)ws->B * L->N * D, 1 << 15);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (uint32_t b = 0; b < ws->B; b++) {
        float *o = z + (uint64_t)b * L->N;
        const float *s0 = ws->buf[L->src[0]].out + (uint64_t)b * D;
        if (keep) {
            memcpy(o, s0, D * sizeof *o);
            o += D;
        }
#ifdef HAVE_PAIRS_512
        if (D == 16 && K <= 32 && sten__simd() == 512) {
            float t[16 * 32] __attribute__((aligned(64)));
            const float *s[32];
            for (uint32_t j = 0; j < K; j++)
                s[j] = ws->buf[L->src[j]].out + (uint64_t)b * D;
            transpose_d16(t, s, K);
            pairs_t32(t, 32, K, D, self, o);
            continue;
        }
#endif
        if ((uint64_t)K * D <= INT_T_MAX) {
            float t[INT_T_MAX];
            for (uint32_t j = 0; j < K; j++) {
                const float *sj = ws->buf[L->src[j]].out + (uint64_t)b * D;
                for (uint32_t k = 0; k < D; k++)
                    t[(uint64_t)k * K + j] = sj[k];
            }
#ifdef HAVE_PAIRS_512
            if (K <= 32 && sten__simd() == 512) {
                pairs_t32(t, K, K, D, self, o);
                continue;
            }
            if (K <= 32 && sten__simd() == 256) {
                pairs_t32_256(t, K, K, D, self, o);
                continue;
            }
#endif
            pairs_t(t, K, K, D, self, o);
            continue;
        }
        for (uint32_t i = 0; i < K; i++) {
            const float *si = ws->buf[L->src[i]].out + (uint64_t)b * D;
            for (uint32_t j = 0; j < i + self; j++)
                *o++ = dot(si, ws->buf[L->src[j]].out + (uint64_t)b * D, D);
        }
    }
}

/* d z_ij / d s_i = s_j and / d s_j = s_i (2 s_i for i = j). */
static void int_backward(sten_ctx *ctx, sten_net *net, sten_workspace *ws, nn_layer *L, const nn_fuse *fz)
{
    (void)fz;
    const uint32_t K = L->n_src, D = net->layers[L->src[0]].N;
    const bool self = with_self(L->d), keep = keep_first(L->d);
    const float *delta = sten__buf(ws, net, L)->delta;
    const int nt = sten__threads_for(ctx, (int64_t)ws->B * L->N * D, 1 << 15);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (uint32_t b = 0; b < ws->B; b++) {
        const float *d = delta + (uint64_t)b * L->N;
        if (keep) {
            if (net->layers[L->src[0]].kind != STEN_LAYER_INPUT) {
                float *g0 = ws->buf[L->src[0]].delta + (uint64_t)b * D;
                for (uint32_t k = 0; k < D; k++)
                    g0[k] += d[k];
            }
            d += D;
        }
#ifdef HAVE_PAIRS_512
        if (K <= INT_GRAD_MAX && sten__simd()) {
            float w[INT_GRAD_MAX * INT_GRAD_MAX];
            const float *s[INT_GRAD_MAX];
            float *g[INT_GRAD_MAX];
            for (uint32_t i = 0; i < K; i++) {
                s[i] = ws->buf[L->src[i]].out + (uint64_t)b * D;
                g[i] = net->layers[L->src[i]].kind == STEN_LAYER_INPUT
                           ? NULL
                           : ws->buf[L->src[i]].delta + (uint64_t)b * D;
                for (uint32_t j = 0; j < i; j++, d++)
                    w[i * K + j] = w[j * K + i] = *d;
                w[i * K + i] = self ? 2.0f * *d++ : 0.0f;
            }
            if (sten__simd() == 512)
                grads_512(w, K, D, s, g);
            else
                grads_256(w, K, D, s, g);
            continue;
        }
#endif
        for (uint32_t i = 0; i < K; i++) {
            const bool in_i = net->layers[L->src[i]].kind == STEN_LAYER_INPUT;
            const float *si = ws->buf[L->src[i]].out + (uint64_t)b * D;
            float *gi = in_i ? NULL : ws->buf[L->src[i]].delta + (uint64_t)b * D;
            for (uint32_t j = 0; j < i; j++, d++) {
                const bool in_j = net->layers[L->src[j]].kind == STEN_LAYER_INPUT;
                const float *sj = ws->buf[L->src[j]].out + (uint64_t)b * D;
                if (gi)
                    axpy(gi, *d, sj, D);
                if (!in_j)
                    axpy(ws->buf[L->src[j]].delta + (uint64_t)b * D, *d, si, D);
            }
            if (self) { /* d z_ii / d s_i = 2 s_i */
                if (gi)
                    axpy(gi, 2.0f * *d, si, D);
                d++;
            }
        }
    }
}

const nn_layer_ops sten__layer_interaction = {
    .name = "Interaction",
    .type = STEN_LAYER_INTERACTION,
    .settings = int_settings,
    .n_settings = sizeof int_settings / sizeof int_settings[0],
    .weightless = true,
    .check = int_check,
    .width = int_width,
    .build = int_build,
    .forward = int_forward,
    .backward = int_backward,
};
