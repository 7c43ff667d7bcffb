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

/* Selects the best K of one row into heap (capacity K); returns the count.
 * Once the heap is full, `thr` holds the worst kept score and one compare
 * rejects almost every item before the exclusion mask is even looked at.
 * Items come in increasing index, so a candidate equal to thr always loses
 * the index tie-break: "> thr" is exact. */
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
            int64_t n = Kh ? select_row(S + b * lds, N, Kh, mask, heap) : 0;
            /* Pop the worst to the back: the list ends up best first. */
            for (int64_t r = n - 1; r >= 0; r--) {
                out_idx[b * K + r] = heap[0].i;
                if (out_val)
                    out_val[b * K + r] = heap[0].v;
                heap[0] = heap[r];
                sift_down(heap, r, 0);
            }
            for (int64_t r = n; r < K; r++) {
                out_idx[b * K + r] = UINT32_MAX;
                if (out_val)
                    out_val[b * K + r] = -INFINITY;
            }
            if (count)
                count[b] = (uint32_t)n;
            for (uint64_t e = e0; e < e1; e++) /* leave the mask clean */
                if (exclude->col[e] < N)
                    mask[exclude->col[e] >> 6] = 0;
        }
    }
    sten_free(ctx, heaps);
    sten_free(ctx, masks);
    return STEN_OK;
}
