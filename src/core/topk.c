/* topk.c — per-row top-K with an exclusion list, by a bounded min-heap: one
 * pass over the row, most items rejected by a single comparison with the
 * worst kept item; never sorts the whole row. Order is fully determined:
 * higher score first, ties by lower index, NaN below every number. */
#include "core_int.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    float v;
    uint32_t i;
} scored;

/* true when a ranks strictly below b */
static inline int worse(scored a, scored b)
{
    const int an = isnan(a.v), bn = isnan(b.v);
    if (an != bn)
        return an;
    if (!an && a.v != b.v)
        return a.v < b.v;
    return a.i > b.i;
}

/* Min-heap on `worse`: h[0] is the worst kept item. */
static void sift_down(scored *h, int64_t n, int64_t at)
{
    for (;;) {
        int64_t l = 2 * at + 1, m = at;
        if (l < n && worse(h[l], h[m]))
            m = l;
        if (l + 1 < n && worse(h[l + 1], h[m]))
            m = l + 1;
        if (m == at)
            return;
        scored t = h[at];
        h[at] = h[m];
        h[m] = t;
        at = m;
    }
}

static void sift_up(scored *h, int64_t at)
{
    while (at > 0) {
        int64_t up = (at - 1) / 2;
        if (!worse(h[at], h[up]))
            return;
        scored t = h[at];
        h[at] = h[up];
        h[up] = t;
        at = up;
    }
}

/* x into a heap of at most K items: added while there is room, else in
 * place of the worst kept if better. */
static inline void offer(scored *h, int64_t *n, int64_t K, scored x)
{
    if (*n < K) {
        h[*n] = x;
        sift_up(h, (*n)++);
    } else if (worse(h[0], x)) {
        h[0] = x;
        sift_down(h, *n, 0);
    }
}

/* A heap of n items out as a row of K, best first (popping the worst to
 * the back), unused slots UINT32_MAX / -inf, n into *count if given.
 * Empties the heap. */
static void emit_row(scored *h, int64_t n, int64_t K, uint32_t *idx, float *val, uint32_t *count)
{
    if (count)
        *count = (uint32_t)n;
    for (int64_t r = n - 1; r >= 0; r--) {
        idx[r] = h[0].i;
        if (val)
            val[r] = h[0].v;
        h[0] = h[r];
        sift_down(h, r, 0);
    }
    for (int64_t r = n; r < K; r++) {
        idx[r] = UINT32_MAX;
        if (val)
            val[r] = -INFINITY;
    }
}

/* Whether any of s[0..64) is > thr (or >= thr with ties; NaN never is). */
static inline int any_above(const float *s, float thr)
{
    int any = 0;
#pragma omp simd reduction(| : any)
    for (int i = 0; i < 64; i++)
        any |= s[i] > thr;
    return any;
}

/* Whether any of s[0..64) is >= thr (NaN never is). */
static inline int any_at_or_above(const float *s, float thr)
{
    int any = 0;
#pragma omp simd reduction(| : any)
    for (int i = 0; i < 64; i++)
        any |= s[i] >= thr;
    return any;
}

/* Bit i set when s[i] >= thr, i < 16 (NaN never is). */
static inline unsigned at_or_above16(const float *s, float thr)
{
    unsigned m = 0;
#pragma omp simd reduction(| : m)
    for (int i = 0; i < 16; i++)
        m |= (unsigned)(s[i] >= thr) << i;
    return m;
}

/* Selects the best K of one row into heap (capacity K); returns the count.
 * Once the heap is full, `thr` holds the worst kept score and one compare
 * rejects almost every item before the exclusion mask is even looked at.
 * Items come in increasing index, so a candidate equal to thr always loses
 * the index tie-break: "> thr" is exact. */
STEN__SIMD_CLONES
static int64_t select_row(const float *s, int64_t N, int64_t K,
                          const uint64_t *skip, scored *heap)
{
    int64_t n = 0, j = 0;
    for (; j < N && n < K; j++) {
        if (skip && (skip[j >> 6] >> (j & 63) & 1))
            continue;
        heap[n] = (scored){s[j], (uint32_t)j};
        sift_up(heap, n++);
    }
    if (n < K)
        return n;
    /* while a NaN is kept, any number beats it, -inf included */
    int nan_kept = isnan(heap[0].v);
    float thr = heap[0].v;
    for (; j < N; j++) {
        /* a block of 64 with nothing above thr is skipped in one vector pass */
        if (!nan_kept && (j & 63) == 0 && j + 64 <= N && !any_above(s + j, thr)) {
            j += 63;
            continue;
        }
        if (!(s[j] > thr) && !(nan_kept && !isnan(s[j])))
            continue; /* not better than the worst kept */
        if (skip && (skip[j >> 6] >> (j & 63) & 1))
            continue;
        scored c = {s[j], (uint32_t)j};
        if (worse(heap[0], c)) {
            heap[0] = c;
            sift_down(heap, n, 0);
            thr = heap[0].v;
            nan_kept = isnan(thr);
        }
    }
    return n;
}

sten_status sten_topk(sten_ctx *ctx, const float *S, int64_t lds, int64_t B,
                      int64_t N, int64_t K, const sten_csr *exclude,
                      uint32_t *out_idx, float *out_val, uint32_t *count)
{
    if (K < 1 || N < 0 || B < 0 || N > UINT32_MAX)
        return sten_fail(ctx, STEN_E_INVALID,
                         "top-k: need K >= 1 and 0 <= N <= 2^32-1 (got K=%lld, N=%lld)",
                         (long long)K, (long long)N);
    if (exclude && exclude->rows < B)
        return sten_fail(ctx, STEN_E_INVALID,
                         "top-k: exclusion list has %u rows, scores have %lld",
                         exclude->rows, (long long)B);
    const int64_t Kh = STEN__MIN(K, N); /* heap never needs more than N */
    const int64_t words = (N + 63) / 64;
    const int nt = sten__threads_for(ctx, B * N, 1 << 14);
    scored *heaps = sten_alloc(ctx, (size_t)nt * (size_t)STEN__MAX(Kh, 1) * sizeof *heaps);
    uint64_t *masks = exclude ? sten_calloc(ctx, (size_t)nt * (size_t)words, sizeof *masks) : NULL;
    if (!heaps || (exclude && !masks)) {
        sten_free(ctx, heaps);
        sten_free(ctx, masks);
        return STEN_E_NOMEM;
    }
#pragma omp parallel num_threads(nt)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        scored *heap = heaps + (size_t)t * (size_t)STEN__MAX(Kh, 1);
        uint64_t *mask = masks ? masks + (size_t)t * (size_t)words : NULL;
#pragma omp for schedule(dynamic, 8)
        for (int64_t b = 0; b < B; b++) {
            uint64_t e0 = 0, e1 = 0;
            if (mask) {
                e0 = exclude->row_ptr[b];
                e1 = exclude->row_ptr[b + 1];
                for (uint64_t e = e0; e < e1; e++)
                    if (exclude->col[e] < N)
                        mask[exclude->col[e] >> 6] |= 1ull << (exclude->col[e] & 63);
            }
            const int64_t n = Kh ? select_row(S + b * lds, N, Kh, mask, heap) : 0;
            emit_row(heap, n, K, out_idx + b * K, out_val ? out_val + b * K : NULL,
                     count ? count + b : NULL);
            for (uint64_t e = e0; e < e1; e++) /* leave the mask clean */
                if (exclude->col[e] < N)
                    mask[exclude->col[e] >> 6] = 0;
        }
    }
    sten_free(ctx, heaps);
    sten_free(ctx, masks);
    return STEN_OK;
}

/* Top-K over scores that arrive in column chunks, in any order and from any
 * thread (the consumer of sten__gemm_chunks): each thread keeps a heap per
 * row, merged at the end. The K best under the total order above do not
 * depend on the order of arrival, so neither does the result. */
struct sten__topk_acc {
    int64_t B, N, K, Kh, chunks;
    int nt;
    uint64_t nnz;      /* exclusions */
    void *mem;         /* every buffer below, carved from one block kept
                          across calls (sten__topk_begin's *out) */
    size_t mem_cap;
    scored *heaps;     /* nt x B x Kh */
    int64_t *n;        /* nt x B: items in each heap */
    float *floor;      /* nt x B: the worst kept score of each full heap, or
                          -inf: a bound the other threads may skip below */
    uint32_t *ex_col;  /* exclusions grouped by (row, chunk) */
    uint64_t *ex_start; /* B x (chunks + 1) */
    /* screening (sten__topk_screen): the chunks carry approximate scores
     * s with |exact - s| <= eps = rad[b] * wn[j] + rel * |s| + abs[b]; the
     * heaps keep lower bounds, the candidates their upper bounds */
    bool screen;
    bool exact;        /* the chunks carry the final scores (no bounds, no
                          rescoring: sten__topk_end_exact) */
    const float *wn;   /* N (exact: zeros of its own, wn0) */
    float *wn0;
    float *wnmax;      /* chunks: the largest wn in each chunk */
    float *rad, *abs_; /* B */
    float rel;
    int64_t cap;       /* candidates per (thread, row) */
    float *cand_v;     /* nt x B x cap: the candidates' upper bounds */
    uint32_t *cand_i;  /* nt x B x cap: their items */
    int64_t *nc;       /* nt x B */
    int64_t KV;        /* Kh rounded up to 16 */
    float *lbk;        /* nt x B x KV: the Kh best lower bounds of (thread,
                          row) as vectors: unfilled lanes -inf, lanes past
                          Kh +inf, so the smallest lane is the threshold */
    unsigned char *full; /* B: some thread ran out of room (rescore the row whole) */
};

/* The threads' heaps of row b merged into thread 0's; returns its size. */
static int64_t merge_row(sten__topk_acc *a, int64_t b)
{
    scored *h = a->heaps + b * a->Kh;
    int64_t n = a->n[b];
    for (int t = 1; t < a->nt; t++) {
        const int64_t slot = (int64_t)t * a->B + b;
        const scored *o = a->heaps + slot * a->Kh;
        for (int64_t q = 0; q < a->n[slot]; q++)
            offer(h, &n, a->Kh, o[q]);
    }
    return n;
}

void sten__topk_free(sten_ctx *ctx, sten__topk_acc *a)
{
    if (!a)
        return;
    sten_free(ctx, a->mem);
    sten_free(ctx, a);
}

/* The buffers' places in a->mem (when base is given), for the shape set in
 * a; returns the bytes they take, each 64-byte aligned. */
static size_t layout(sten__topk_acc *a, char *base)
{
    size_t off = 0;
#define CARVE(field, count)                                                                 \
    do {                                                                                    \
        if (base)                                                                           \
            a->field = (void *)(base + off);                                                \
        off += ((size_t)(count) * sizeof *a->field + 63) / 64 * 64;                         \
    } while (0)
    const size_t rows = (size_t)STEN__MAX(a->B, 1), slots = (size_t)a->nt * rows;
    CARVE(heaps, slots * (size_t)a->Kh);
    CARVE(n, slots);
    CARVE(floor, slots);
    CARVE(ex_start, rows * (size_t)(a->chunks + 1));
    CARVE(ex_col, STEN__MAX(a->nnz, 1));
    if (a->screen) {
        CARVE(rad, rows);
        CARVE(abs_, rows);
        CARVE(cand_v, slots * (size_t)a->cap);
        CARVE(cand_i, slots * (size_t)a->cap);
        CARVE(nc, slots);
        CARVE(full, rows);
        CARVE(wnmax, STEN__MAX(a->chunks, 1));
        CARVE(lbk, slots * (size_t)a->KV);
        if (a->exact)
            CARVE(wn0, STEN__MAX(a->N, 1));
    }
#undef CARVE
    return off;
}

/* The common part of both begins: the shape, the buffers (the earlier
 * call's block where it is large enough), the exclusions sorted by chunk. */
static sten_status begin(sten_ctx *ctx, int64_t B, int64_t N, int64_t K, const sten_csr *exclude,
                         bool screen, bool exact, sten__topk_acc **out)
{
    if (K < 1 || N < 0 || B < 0 || N > UINT32_MAX)
        return sten_fail(ctx, STEN_E_INVALID,
                         "top-k: need K >= 1 and 0 <= N <= 2^32-1 (got K=%lld, N=%lld)",
                         (long long)K, (long long)N);
    if (exclude && exclude->rows < B)
        return sten_fail(ctx, STEN_E_INVALID, "top-k: exclusion list has %u rows, scores have %lld",
                         exclude->rows, (long long)B);
    sten__topk_acc *a = *out;
    if (!a && !(a = *out = sten_calloc(ctx, 1, sizeof *a)))
        return STEN_E_NOMEM;
    a->B = B, a->N = N, a->K = K, a->Kh = STEN__MAX(STEN__MIN(K, N), 1);
    a->chunks = (N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK;
    a->nt = STEN__MAX(sten_ctx_threads(ctx), 1);
    a->nnz = exclude && B ? exclude->row_ptr[B] - exclude->row_ptr[0] : 0;
    a->screen = screen;
    a->exact = exact;
    a->cap = STEN__MAX(256, 8 * a->Kh);
    a->KV = (a->Kh + 15) / 16 * 16;
    const size_t need = layout(a, NULL);
    if (a->mem_cap < need) {
        sten_free(ctx, a->mem);
        a->mem_cap = 0;
        if (!(a->mem = sten_alloc(ctx, need)))
            return STEN_E_NOMEM;
        a->mem_cap = need;
    }
    layout(a, a->mem);
    /* per row: the threads' heaps empty, and a stable counting sort of its
     * exclusions by chunk, in its own part of ex_col */
    const uint64_t base = exclude && B ? exclude->row_ptr[0] : 0;
    const int nt = sten__threads_for(ctx, (int64_t)a->nnz + B * (a->chunks + 1), 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < B; b++) {
        for (int t = 0; t < a->nt; t++) {
            a->n[(int64_t)t * B + b] = 0;
            a->floor[(int64_t)t * B + b] = -INFINITY;
        }
        uint64_t *cs = a->ex_start + b * (a->chunks + 1);
        memset(cs, 0, (size_t)(a->chunks + 1) * sizeof *cs);
        if (!exclude)
            continue;
        const uint64_t e0 = exclude->row_ptr[b], e1 = exclude->row_ptr[b + 1];
        for (uint64_t e = e0; e < e1; e++)
            if (exclude->col[e] < N)
                cs[exclude->col[e] / STEN__GEMM_CHUNK + 1]++;
        cs[0] = e0 - base;
        for (int64_t c = 1; c <= a->chunks; c++)
            cs[c] += cs[c - 1];
        for (uint64_t e = e0; e < e1; e++)
            if (exclude->col[e] < N)
                a->ex_col[cs[exclude->col[e] / STEN__GEMM_CHUNK]++] = exclude->col[e];
        for (int64_t c = a->chunks; c > 0; c--)
            cs[c] = cs[c - 1];
        cs[0] = e0 - base;
    }
    return STEN_OK;
}

sten_status sten__topk_begin(sten_ctx *ctx, int64_t B, int64_t N, int64_t K,
                             const sten_csr *exclude, sten__topk_acc **out)
{
    return begin(ctx, B, N, K, exclude, false, false, out);
}

/* Row b's scores s[0..j1-j0) for items [j0, j1) into heap h (n items). */
STEN__SIMD_CLONES
static void chunk_row(const float *s, int64_t j0, int64_t j1, const uint64_t *skip, int64_t K,
                      float floor, scored *h, int64_t *np)
{
    int64_t n = *np, j = j0;
    for (; j < j1 && n < K; j++) {
        const int64_t o = j - j0;
        /* below another thread's full heap: K better items exist already
         * (without one, not-a-number scores are kept: they rank last) */
        if ((floor > -INFINITY && !(s[o] >= floor)) || (skip[o >> 6] >> (o & 63) & 1))
            continue;
        h[n] = (scored){s[o], (uint32_t)j};
        sift_up(h, n++);
    }
    *np = n;
    if (n < K)
        return;
    int nan_kept = isnan(h[0].v);
    float thr = h[0].v;
    if (!nan_kept && floor > thr)
        thr = floor; /* a filter only: the heap's own worst is still h[0] */
    for (; j < j1; j++) {
        const int64_t o = j - j0;
        /* ties pass (>=): an earlier item may come later from another chunk.
         * 64 at a time where none is at or above thr; else 16 at a time: a
         * mask of those at or above thr, then only its bits */
        if (!nan_kept && (o & 63) == 0 && j + 64 <= j1 && !any_at_or_above(s + o, thr)) {
            j += 63;
            continue;
        }
        if (!nan_kept && (o & 15) == 0 && j + 16 <= j1) {
            unsigned m = at_or_above16(s + o, thr);
            while (m) {
                const int q = __builtin_ctz(m);
                m &= m - 1;
                const int64_t oq = o + q;
                if (!(s[oq] >= thr) || (skip[oq >> 6] >> (oq & 63) & 1))
                    continue; /* thr rose since the mask was taken, or excluded */
                const scored c = {s[oq], (uint32_t)(j + q)};
                if (worse(h[0], c)) {
                    h[0] = c;
                    sift_down(h, n, 0);
                    thr = h[0].v > floor ? h[0].v : floor;
                }
            }
            j += 15; /* (thr is a number here, so nan_kept stays false) */
            continue;
        }
        if (!(s[o] >= thr) && !(nan_kept && !isnan(s[o])))
            continue;
        if (skip[o >> 6] >> (o & 63) & 1)
            continue;
        const scored c = {s[o], (uint32_t)j};
        if (worse(h[0], c)) {
            h[0] = c;
            sift_down(h, n, 0);
            thr = h[0].v;
            nan_kept = isnan(thr);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
#include <immintrin.h>
#define SCREEN_512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))

/* The smallest lane of the Kh best lower bounds v[0..KV) (KV/16 vectors). */
SCREEN_512 static float lbk_min(const float *v, int64_t KV)
{
    __m512 m = _mm512_load_ps(v);
    for (int64_t q = 16; q < KV; q += 16)
        m = _mm512_min_ps(m, _mm512_load_ps(v + q));
    return _mm512_reduce_min_ps(m);
}

/* x in place of one lane equal to kth (the smallest); returns the new
 * smallest. Whole vectors are written back, so the reads that follow are
 * forwarded from the stores. */
SCREEN_512 static float lbk_insert(float *v, int64_t KV, float kth, float x)
{
    for (int64_t q = 0; q < KV; q += 16) {
        const __m512 l = _mm512_load_ps(v + q);
        const __mmask16 eq = _mm512_cmp_ps_mask(l, _mm512_set1_ps(kth), _CMP_EQ_OQ);
        if (eq) {
            _mm512_store_ps(v + q, _mm512_mask_mov_ps(l, eq & (__mmask16)-eq, _mm512_set1_ps(x)));
            break;
        }
    }
    return lbk_min(v, KV);
}

/* Keeps the candidates whose upper bound still reaches thr; returns how many. */
static int64_t cand_compact(float *cv, uint32_t *ci, int64_t nc, float thr)
{
    int64_t q2 = 0;
    for (int64_t q = 0; q < nc; q++)
        if (cv[q] >= thr)
            cv[q2] = cv[q], ci[q2++] = ci[q];
    return q2;
}

/* The Kh (<= 16) best lower bounds held sorted ascending in one vector
 * (lanes past Kh +inf, so lane 0 is the threshold): x (> lane 0, finite)
 * goes in after every lane below it, the lanes below it moving down one and
 * the smallest dropping out. A few cycles and no reduction, where
 * lbk_insert's min over lanes is a chain of shuffles. */
SCREEN_512 static inline __m512 sorted_insert(__m512 l, float x)
{
    const __m512i up = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15);
    const __mmask16 lt = _mm512_cmp_ps_mask(l, _mm512_set1_ps(x), _CMP_LT_OQ); /* lanes 0 .. p-1 */
    const __mmask16 down = (__mmask16)(lt >> 1), at = (__mmask16)(lt & ~down);
    l = _mm512_mask_mov_ps(l, down, _mm512_permutexvar_ps(up, l));
    return _mm512_mask_mov_ps(l, at, _mm512_set1_ps(x));
}

/* A threshold for a row's first chunk on this thread, before any of its
 * scores is kept: the Kh-th largest of the 16 lanes' largest lower bounds
 * (16 different items, so at least Kh of them reach it), computed the way
 * screen_row computes them. -inf where it cannot tell (fewer than Kh
 * eligible lanes, or a bound that is not a number: the scan handles those). */
SCREEN_512 static float first_threshold(const sten__topk_acc *a, const float *s, int64_t j0,
                                        int64_t len, const uint64_t *skip, __m512 radv, __m512 relv,
                                        __m512 absv)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t o0 = 0; o0 < len; o0 += 16) {
        const __mmask16 lanes = len - o0 >= 16 ? 0xffff : (__mmask16)((1u << (len - o0)) - 1u);
        const __mmask16 m = lanes & (__mmask16)~(skip[o0 >> 6] >> (o0 & 63));
        const __m512 v = _mm512_maskz_loadu_ps(m, s + o0);
        const __m512 wn = _mm512_maskz_loadu_ps(m, a->wn + j0 + o0);
        const __m512 e = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(radv, wn),
                                                     _mm512_mul_ps(relv, _mm512_abs_ps(v))),
                                       absv);
        const __m512 ub = _mm512_add_ps(v, e), lb = _mm512_sub_ps(v, e);
        if (_mm512_mask_fpclass_ps_mask(m, ub, 0x99) | _mm512_mask_fpclass_ps_mask(m, lb, 0x99))
            return -INFINITY;
        mx = _mm512_mask_max_ps(mx, m, mx, lb);
    }
    float l[16], best = -INFINITY;
    _mm512_storeu_ps(l, mx);
    for (int q = 0; q < 16; q++) /* the largest lane value reached by >= Kh lanes */
        if (l[q] > best &&
            __builtin_popcount(_mm512_cmp_ps_mask(mx, _mm512_set1_ps(l[q]), _CMP_GE_OQ)) >= a->Kh)
            best = l[q];
    return best;
}

/* Screening: row b's approximate scores s for items [j0, j1), 16 at a
 * time. Every item whose upper bound reaches the running threshold (the
 * K-th best lower bound seen so far, or another thread's, or the first
 * chunk's first_threshold) becomes a candidate; its lower bound goes into
 * the thread's K best where it beats them. The threshold only rises, and
 * every value it takes has Kh different items' lower bounds at or above it,
 * so the final one keeps a superset of the exact top K (see
 * sten__topk_end_screen); a lower bound not kept can only lower it.
 * Returns the K-th best lower bound (or -inf). */
SCREEN_512 static float screen_row(sten__topk_acc *a, int64_t b, int64_t slot, const float *s,
                                   int64_t j0, int64_t j1, const uint64_t *skip, float floor)
{
    float *cv = a->cand_v + slot * a->cap, *lbk = a->lbk + slot * a->KV;
    uint32_t *ci = a->cand_i + slot * a->cap;
    int64_t nc = a->nc[slot];
    const int64_t KV = a->KV, len = j1 - j0;
    const bool vec = KV == 16; /* the K best in a register (K <= 16) */
    __m512 best = _mm512_load_ps(lbk);
    float kth = vec ? _mm512_cvtss_f32(best) : lbk_min(lbk, KV);
    if (__atomic_load_n(&a->full[b], __ATOMIC_RELAXED))
        return kth; /* the row is rescored whole */
    const float rad = a->rad[b], abs_ = a->abs_[b];
    const __m512 radv = _mm512_set1_ps(rad), relv = _mm512_set1_ps(a->rel),
                 absv = _mm512_set1_ps(abs_);
    /* every bound in this chunk is at most E (the chunk's largest norm) plus
     * rel |s|: a score below thr - E, less a margin that covers rel |s| and
     * the rounding of these few operations, cannot be a candidate */
    const float E = rad * a->wnmax[j0 / STEN__GEMM_CHUNK] + abs_;
    float thr = kth > floor ? kth : floor;
    if (vec && thr == -INFINITY && len >= 128)
        thr = first_threshold(a, s, j0, len, skip, radv, relv, absv);
    float cut = thr - E - (fabsf(thr - E) + fabsf(thr) + E) * 0x1p-20f;
    /* 64 scores a step: one test where none reaches the cut (nearly
     * always); else their bounds, and the candidates one by one */
    for (int64_t o0 = 0; o0 < len; o0 += 64) {
        __m512 v[4];
        __mmask16 m[4];
        const __m512 cutv = _mm512_set1_ps(cut);
        for (int q = 0; q < 4; q++) {
            const __mmask16 lanes = (__mmask16)(len - o0 - 16 * q >= 16 ? 0xffff
                                                : len - o0 - 16 * q <= 0
                                                    ? 0
                                                    : (1u << (len - o0 - 16 * q)) - 1u);
            v[q] = _mm512_maskz_loadu_ps(lanes, s + o0 + 16 * q);
            m[q] = _mm512_mask_cmp_ps_mask(lanes, v[q], cutv, _CMP_GE_OQ);
        }
        if (!(m[0] | m[1] | m[2] | m[3]))
            continue;
        const uint64_t sk = skip[o0 >> 6]; /* o0 is a multiple of 64 */
        float ubs[64], lbs[64];
        uint64_t C = 0;
        __mmask16 bad = 0;
        for (int q = 0; q < 4; q++) {
            const __mmask16 mq = m[q] & (__mmask16) ~(sk >> (16 * q));
            const __m512 wn = _mm512_maskz_loadu_ps(mq, a->wn + j0 + o0 + 16 * q);
            const __m512 e = _mm512_add_ps(
                _mm512_add_ps(_mm512_mul_ps(radv, wn), _mm512_mul_ps(relv, _mm512_abs_ps(v[q]))),
                absv);
            const __m512 ub = _mm512_add_ps(v[q], e), lb = _mm512_sub_ps(v[q], e);
            bad |= _mm512_mask_fpclass_ps_mask(mq, ub, 0x99) | _mm512_mask_fpclass_ps_mask(mq, lb, 0x99);
            C |= (uint64_t)_mm512_mask_cmp_ps_mask(mq, ub, _mm512_set1_ps(thr), _CMP_GE_OQ) << (16 * q);
            _mm512_storeu_ps(ubs + 16 * q, ub);
            _mm512_storeu_ps(lbs + 16 * q, lb);
        }
        if (bad) { /* no bound (inf, NaN): the row is rescored whole */
            __atomic_store_n(&a->full[b], 1, __ATOMIC_RELAXED);
            break;
        }
        for (; C; C &= C - 1) {
            const int q = __builtin_ctzll(C);
            if (nc == a->cap) { /* drop those the threshold has passed since */
                nc = cand_compact(cv, ci, nc, thr);
                if (nc == a->cap) {
                    __atomic_store_n(&a->full[b], 1, __ATOMIC_RELAXED);
                    break;
                }
            }
            cv[nc] = ubs[q];
            ci[nc++] = (uint32_t)(j0 + o0 + q);
            /* its lower bound, where it beats the K-th best and reaches the
             * threshold (candidates found before a rise stay: a superset) */
            const float l = lbs[q];
            if (!(l > kth) || !(l >= thr))
                continue;
            if (vec) {
                best = sorted_insert(best, l);
                kth = _mm512_cvtss_f32(best);
            } else {
                kth = lbk_insert(lbk, KV, kth, l);
            }
            if (kth > thr) {
                thr = kth;
                cut = thr - E - (fabsf(thr - E) + fabsf(thr) + E) * 0x1p-20f;
            }
        }
        if (__atomic_load_n(&a->full[b], __ATOMIC_RELAXED))
            break;
    }
    if (vec)
        _mm512_store_ps(lbk, best);
    a->nc[slot] = nc;
    return kth;
}
#define HAVE_SCREEN 1
#endif

bool sten__topk_screen_available(void)
{
#ifdef HAVE_SCREEN
    return sten__avx512();
#else
    return false;
#endif
}

sten_status sten__topk_begin_screen(sten_ctx *ctx, int64_t B, int64_t N, int64_t K,
                                    const sten_csr *exclude, const float *wn, float rel,
                                    sten__topk_acc **out)
{
    if (!sten__topk_screen_available())
        return sten_fail(ctx, STEN_E_UNSUPPORTED, "top-k screening needs AVX-512");
    sten_status st = begin(ctx, B, N, K, exclude, true, !wn, out);
    if (st)
        return st;
    sten__topk_acc *a = *out;
    if (!wn) { /* exact scores: every bound 0 */
        memset(a->wn0, 0, (size_t)STEN__MAX(N, 1) * sizeof *a->wn0);
        wn = a->wn0, rel = 0.0f;
    }
    a->wn = wn;
    a->rel = rel;
    const size_t slots = (size_t)a->nt * (size_t)STEN__MAX(B, 1);
    memset(a->nc, 0, slots * sizeof *a->nc);
    memset(a->full, 0, (size_t)STEN__MAX(B, 1));
    for (size_t q = 0; q < slots; q++)
        for (int64_t l = 0; l < a->KV; l++)
            a->lbk[q * (size_t)a->KV + (size_t)l] = l < a->Kh ? -INFINITY : INFINITY;
    /* until the caller sets them: rescore whole rows (exact: no bounds) */
    for (int64_t b = 0; b < B; b++)
        a->rad[b] = a->exact ? 0.0f : INFINITY, a->abs_[b] = 0.0f;
    for (int64_t c = 0; c < a->chunks; c++) {
        float m = 0.0f;
        for (int64_t j = c * STEN__GEMM_CHUNK; j < STEN__MIN(N, (c + 1) * STEN__GEMM_CHUNK); j++)
            m = wn[j] > m ? wn[j] : m; /* (NaN norms never get here: the caller checks) */
        a->wnmax[c] = m;
    }
    return STEN_OK;
}

void sten__topk_screen_rows(sten__topk_acc *a, float **rad, float **abs_)
{
    *rad = a->rad;
    *abs_ = a->abs_;
}

/* Row b's items its[0..n) rescored (in groups of RESCORE) into heap h. */
enum { RESCORE = 512 };
static void rescore_into(const sten_rescorer *r, int64_t b, const uint32_t *its, int64_t n,
                         scored *h, int64_t *nh, int64_t Kh)
{
    float v[RESCORE];
    for (int64_t q0 = 0; q0 < n; q0 += RESCORE) {
        const int64_t m = STEN__MIN(RESCORE, n - q0);
        r->score(r->arg, b, its + q0, m, v);
        for (int64_t q = 0; q < m; q++)
            offer(h, nh, Kh, (scored){v[q], its[q0 + q]});
    }
}

/* Row b's candidates, those still above the K-th best lower bound over all
 * threads, kept (in place); false when the row is rescored whole. */
static bool keep_candidates(sten__topk_acc *a, int64_t b)
{
    if (__atomic_load_n(&a->full[b], __ATOMIC_RELAXED))
        return false;
    scored *h = a->heaps + b * a->Kh; /* (only values matter here) */
    int64_t n = 0;
    for (int t = 0; t < a->nt; t++) {
        const float *l = a->lbk + ((int64_t)t * a->B + b) * a->KV;
        for (int64_t q = 0; q < a->Kh; q++)
            if (isfinite(l[q]))
                offer(h, &n, a->Kh, (scored){l[q], 0});
    }
    const float thr = n == a->Kh ? h[0].v : -INFINITY;
    for (int t = 0; t < a->nt; t++) {
        const int64_t slot = (int64_t)t * a->B + b;
        a->nc[slot] = cand_compact(a->cand_v + slot * a->cap, a->cand_i + slot * a->cap,
                                   a->nc[slot], thr);
    }
    return true;
}

void sten__topk_end_screen(sten_ctx *ctx, sten__topk_acc *a, const sten_rescorer *r,
                           uint32_t *out_idx, float *out_val, uint32_t *count)
{
    const int64_t K = a->K, Kh = a->Kh, B = a->B;
    const int nt = sten__threads_for(ctx, B * a->nt * a->cap, 1 << 12);
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++)
            keep_candidates(a, b);
        /* the exact scores of the candidates, into each row's heap (now of
         * exact scores); the rows two ahead are asked for first, their
         * items' data being scattered over memory */
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++) {
            for (int t = 0; r->touch && b + 2 < B && t < a->nt; t++) {
                const int64_t slot = (int64_t)t * B + b + 2;
                r->touch(r->arg, a->cand_i + slot * a->cap, a->nc[slot]);
            }
            scored *h = a->heaps + b * Kh;
            int64_t n = 0, ni = 0;
            uint32_t its[RESCORE];
            const uint64_t *cs = a->ex_start + b * (a->chunks + 1);
            if (__atomic_load_n(&a->full[b], __ATOMIC_RELAXED)) { /* every eligible item */
                for (int64_t c = 0; c < a->chunks; c++) {
                    uint64_t skip[STEN__GEMM_CHUNK / 64] = {0};
                    const int64_t j0 = c * STEN__GEMM_CHUNK, j1 = STEN__MIN(a->N, j0 + STEN__GEMM_CHUNK);
                    for (uint64_t e = cs[c]; e < cs[c + 1]; e++) {
                        const uint32_t o = a->ex_col[e] - (uint32_t)j0;
                        skip[o >> 6] |= 1ull << (o & 63);
                    }
                    ni = 0;
                    for (int64_t j = j0; j < j1; j++)
                        if (!(skip[(j - j0) >> 6] >> ((j - j0) & 63) & 1))
                            its[ni++] = (uint32_t)j;
                    rescore_into(r, b, its, ni, h, &n, Kh);
                }
            } else {
                for (int t = 0; t < a->nt; t++) {
                    const int64_t slot = (int64_t)t * B + b;
                    rescore_into(r, b, a->cand_i + slot * a->cap, a->nc[slot], h, &n, Kh);
                }
            }
            if (a->N == 0)
                n = 0;
            emit_row(h, n, K, out_idx + b * K, out_val ? out_val + b * K : NULL,
                     count ? count + b : NULL);
        }
    }
}

bool sten__topk_end_exact(sten_ctx *ctx, sten__topk_acc *a, uint32_t *out_idx, float *out_val,
                          uint32_t *count)
{
    const int64_t K = a->K, Kh = a->Kh, B = a->B;
    const int nt = sten__threads_for(ctx, B * a->nt * a->cap, 1 << 12);
    /* every row must have kept Kh candidates: a row with fewer finite
     * scores (not numbers skipped, ties overflowing) ranks the rest as
     * sten_topk does only on the plain path */
    int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
    for (int64_t b = 0; b < B; b++) {
        int64_t n = 0;
        if (keep_candidates(a, b))
            for (int t = 0; t < a->nt; t++)
                n += a->nc[(int64_t)t * B + b];
        bad |= n < Kh && a->N > 0;
    }
    if (bad)
        return false;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < B; b++) {
        scored *h = a->heaps + b * Kh;
        int64_t n = 0;
        for (int t = 0; t < a->nt; t++) {
            const int64_t slot = (int64_t)t * B + b;
            const float *cv = a->cand_v + slot * a->cap;
            const uint32_t *ci = a->cand_i + slot * a->cap;
            for (int64_t q = 0; q < a->nc[slot]; q++)
                offer(h, &n, Kh, (scored){cv[q], ci[q]});
        }
        if (a->N == 0)
            n = 0;
        emit_row(h, n, K, out_idx + b * K, out_val ? out_val + b * K : NULL, count ? count + b : NULL);
    }
    return true;
}

void sten__topk_rows(sten__topk_acc *a, int64_t chunk, int64_t i0, int64_t i1, int64_t j0,
                     int64_t j1, const float *S, int64_t lds)
{
    int t = 0;
#ifdef _OPENMP
    t = omp_get_thread_num();
#endif
    if (t >= a->nt || j0 >= a->N)
        return; /* cannot happen: threads never exceed the context's */
    j1 = STEN__MIN(j1, a->N);
    uint64_t skip[STEN__GEMM_CHUNK / 64];
    for (int64_t b = i0; b < STEN__MIN(i1, a->B); b++) {
        const uint64_t *cs = a->ex_start + b * (a->chunks + 1);
        memset(skip, 0, sizeof skip);
        for (uint64_t e = cs[chunk]; e < cs[chunk + 1]; e++) {
            const uint32_t o = a->ex_col[e] - (uint32_t)j0;
            skip[o >> 6] |= 1ull << (o & 63);
        }
        /* the best bound the other threads' heaps for this row give (read
         * while they may be writing it: any value seen is a valid bound) */
        float floor = -INFINITY;
        for (int u = 0; u < a->nt; u++) {
            float f;
            __atomic_load(&a->floor[(int64_t)u * a->B + b], &f, __ATOMIC_RELAXED);
            if (u != t && f > floor)
                floor = f;
        }
        const int64_t slot = (int64_t)t * a->B + b;
        scored *h = a->heaps + slot * a->Kh;
        float worst = -INFINITY; /* the K-th best kept, or -inf */
#ifdef HAVE_SCREEN
        if (a->screen)
            worst = screen_row(a, b, slot, S + (b - i0) * lds, j0, j1, skip, floor);
        else
#endif
        {
            chunk_row(S + (b - i0) * lds, j0, j1, skip, a->Kh, floor, h, a->n + slot);
            if (a->n[slot] == a->Kh && !isnan(h[0].v))
                worst = h[0].v;
        }
        if (worst > -INFINITY)
            __atomic_store(&a->floor[slot], &worst, __ATOMIC_RELAXED);
    }
}

void sten__topk_chunk(sten__topk_acc *a, int64_t chunk, int64_t j0, int64_t j1, const float *S,
                      int64_t lds)
{
    sten__topk_rows(a, chunk, 0, a->B, j0, j1, S, lds);
}

void sten__topk_end(sten_ctx *ctx, sten__topk_acc *a, uint32_t *out_idx, float *out_val,
                    uint32_t *count)
{
    const int64_t K = a->K, Kh = a->Kh;
    const int nt = sten__threads_for(ctx, a->B * a->nt * Kh, 1 << 12);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < a->B; b++) {
        /* merge the threads' heaps into thread 0's slot for this row */
        scored *h = a->heaps + b * Kh;
        int64_t n = merge_row(a, b);
        if (a->N == 0)
            n = 0;
        emit_row(h, n, K, out_idx + b * K, out_val ? out_val + b * K : NULL,
                 count ? count + b : NULL);
    }
}
