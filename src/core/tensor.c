/* tensor.c — dense float32 matrices and CSR sparse batches: allocation,
 * validation and transposition. Arithmetic lives in the kernel files. */
#include "core_int.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

sten_status sten_mat_init(sten_ctx *ctx, sten_mat *m, int64_t rows, int64_t cols)
{
    memset(m, 0, sizeof *m);
    if (rows < 0 || cols < 0)
        return sten_fail(ctx, STEN_E_INVALID, "matrix shape %lld x %lld is negative",
                         (long long)rows, (long long)cols);
    int64_t ld = (cols + 15) / 16 * 16;
    if (ld && rows > INT64_MAX / ld / (int64_t)sizeof(float))
        return sten_fail(ctx, STEN_E_NOMEM, "matrix %lld x %lld is too large",
                         (long long)rows, (long long)cols);
    float *d = sten_calloc(ctx, (size_t)(rows * ld), sizeof(float));
    if (!d)
        return STEN_E_NOMEM;
    *m = (sten_mat){.rows = rows, .cols = cols, .ld = ld, .data = d, .owned = true};
    return STEN_OK;
}

sten_mat sten_mat_view(float *data, int64_t rows, int64_t cols, int64_t ld)
{
    return (sten_mat){.rows = rows, .cols = cols, .ld = ld, .data = data, .owned = false};
}

void sten_mat_free(sten_ctx *ctx, sten_mat *m)
{
    if (m->owned)
        sten_free(ctx, m->data);
    memset(m, 0, sizeof *m);
}

void sten_mat_fill(sten_mat *m, float v)
{
    for (int64_t r = 0; r < m->rows; r++) {
        float *row = m->data + r * m->ld;
        for (int64_t c = 0; c < m->cols; c++)
            row[c] = v;
    }
}

sten_status sten_csr_init(sten_ctx *ctx, sten_csr *m, uint32_t row_cap,
                          uint32_t cols, uint64_t cap, bool valued)
{
    memset(m, 0, sizeof *m);
    m->row_ptr = sten_calloc(ctx, (size_t)row_cap + 1, sizeof *m->row_ptr);
    m->col = sten_alloc(ctx, cap * sizeof *m->col);
    m->val = valued ? sten_alloc(ctx, cap * sizeof *m->val) : NULL;
    if (!m->row_ptr || !m->col || (valued && !m->val)) {
        sten_csr_free(ctx, m);
        return STEN_E_NOMEM;
    }
    m->cols = cols;
    m->cap = cap;
    m->row_cap = row_cap;
    return STEN_OK;
}

void sten_csr_free(sten_ctx *ctx, sten_csr *m)
{
    sten_free(ctx, m->row_ptr);
    sten_free(ctx, m->col);
    sten_free(ctx, m->val);
    memset(m, 0, sizeof *m);
}

sten_status sten_csr_validate(sten_ctx *ctx, const sten_csr *m)
{
    if (!m->row_ptr || m->row_ptr[0] != 0)
        return sten_fail(ctx, STEN_E_INVALID, "sparse batch: row_ptr[0] must be 0");
    for (uint32_t r = 0; r < m->rows; r++) {
        uint64_t a = m->row_ptr[r], b = m->row_ptr[r + 1];
        if (b < a)
            return sten_fail(ctx, STEN_E_INVALID,
                             "sparse batch: row %u ends (%llu) before it starts (%llu)",
                             r, (unsigned long long)b, (unsigned long long)a);
        if (b > m->cap)
            return sten_fail(ctx, STEN_E_INVALID,
                             "sparse batch: row %u ends at %llu, past capacity %llu", r,
                             (unsigned long long)b, (unsigned long long)m->cap);
        for (uint64_t e = a; e < b; e++)
            if (m->col[e] >= m->cols)
                return sten_fail(ctx, STEN_E_INVALID,
                                 "sparse batch: row %u entry %llu has column %u, expected < %u",
                                 r, (unsigned long long)(e - a), m->col[e], m->cols);
    }
    if (m->row_ptr[m->rows] != m->nnz)
        return sten_fail(ctx, STEN_E_INVALID,
                         "sparse batch: nnz is %llu but row_ptr ends at %llu",
                         (unsigned long long)m->nnz,
                         (unsigned long long)m->row_ptr[m->rows]);
    return STEN_OK;
}

/* Counting sort by column: one pass to count, a prefix sum, one pass to
 * scatter. Scattering x's rows in order keeps each xt row sorted by x row.
 * With several threads each owns a range of columns (reading every entry,
 * placing only its own): the same result. */
sten_status sten_csr_transpose(sten_ctx *ctx, const sten_csr *x, sten_csr *xt)
{
    if (xt->row_cap < x->cols)
        return sten_fail(ctx, STEN_E_INVALID,
                         "transpose: target has room for %u rows, need %u",
                         xt->row_cap, x->cols);
    if (xt->cap < x->nnz || (x->val && !xt->val))
        return sten_fail(ctx, STEN_E_INVALID,
                         "transpose: target holds %llu entries%s, need %llu%s",
                         (unsigned long long)xt->cap, xt->val ? " with values" : "",
                         (unsigned long long)x->nnz, x->val ? " with values" : "");
    uint64_t *ptr = xt->row_ptr;
    enum { MAXT = 64 };
    uint64_t tot[MAXT];
    const int nt = STEN__MIN(sten__threads_for(ctx, (int64_t)x->nnz, 1 << 13), MAXT);
    ptr[0] = 0;
#pragma omp parallel num_threads(nt)
    {
        int t = 0, n = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        n = omp_get_num_threads();
#endif
        const uint32_t c0 = (uint32_t)((uint64_t)x->cols * (uint64_t)t / (uint64_t)n);
        const uint32_t c1 = (uint32_t)((uint64_t)x->cols * (uint64_t)(t + 1) / (uint64_t)n);
        memset(ptr + (size_t)c0 + 1, 0, (size_t)(c1 - c0) * sizeof *ptr);
        for (uint64_t e = 0; e < x->nnz; e++)
            if (x->col[e] >= c0 && x->col[e] < c1)
                ptr[x->col[e] + 1]++;
        uint64_t run = 0;
        for (uint32_t j = c0; j < c1; j++)
            ptr[j + 1] = run += ptr[j + 1];
        tot[t] = run;
#pragma omp barrier
        uint64_t off = 0;
        for (int u = 0; u < t; u++)
            off += tot[u];
        for (uint32_t j = c0; j < c1; j++)
            ptr[j + 1] += off;
#pragma omp barrier
        /* ptr[j] is now the next free slot of row j; it is advanced while
         * scattering and shifted back afterwards */
        for (uint32_t i = 0; i < x->rows; i++)
            for (uint64_t e = x->row_ptr[i]; e < x->row_ptr[i + 1]; e++) {
                const uint32_t c = x->col[e];
                if (c < c0 || c >= c1)
                    continue;
                const uint64_t dst = ptr[c]++;
                xt->col[dst] = i;
                if (xt->val)
                    xt->val[dst] = x->val ? x->val[e] : 1.0f;
            }
    }
    memmove(ptr + 1, ptr, (size_t)x->cols * sizeof *ptr);
    ptr[0] = 0;
    xt->rows = x->cols;
    xt->cols = x->rows;
    xt->nnz = x->nnz;
    return STEN_OK;
}


sten_status sten__csr_transpose_compact(sten_ctx *ctx, const sten_csr *x, sten_csr *xt, uint32_t *rid,
                                        uint64_t *keys)
{
    if (xt->cap < x->nnz || (x->val && !xt->val) || x->nnz > UINT32_MAX)
        return sten_fail(ctx, STEN_E_INVALID, "compact transpose: target holds %llu entries, need %llu",
                         (unsigned long long)xt->cap, (unsigned long long)x->nnz);
    /* entry e sorts as (column, e): x-rows ascend with e. An LSD radix sort
     * on the column's bytes (stable, so e stays ascending within a column):
     * a pass per byte the widest column needs, O(nnz) each */
    const uint64_t n = x->nnz;
    uint64_t *a = keys, *b = keys + n;
    for (uint64_t e = 0; e < n; e++)
        a[e] = (uint64_t)x->col[e] << 32 | e;
    for (uint32_t shift = 32, top = x->cols ? x->cols - 1 : 0; shift < 64 && (top >> (shift - 32)); shift += 8) {
        uint64_t count[257] = {0};
        for (uint64_t k = 0; k < n; k++)
            count[((a[k] >> shift) & 255) + 1]++;
        for (int d = 0; d < 256; d++)
            count[d + 1] += count[d];
        for (uint64_t k = 0; k < n; k++)
            b[count[(a[k] >> shift) & 255]++] = a[k];
        uint64_t *t = a;
        a = b, b = t;
    }
    uint32_t *row_of = (uint32_t *)b; /* the other half, free now: entry -> its x-row */
    for (uint32_t r = 0; r < x->rows; r++)
        for (uint64_t e = x->row_ptr[r]; e < x->row_ptr[r + 1]; e++)
            row_of[e] = r;
    uint32_t q = 0;
    xt->row_ptr[0] = 0;
    for (uint64_t k = 0; k < n; k++) {
        const uint32_t c = (uint32_t)(a[k] >> 32), e = (uint32_t)a[k];
        if (k == 0 || c != rid[q - 1]) {
            if (k)
                xt->row_ptr[q] = k;
            rid[q++] = c;
        }
        xt->col[k] = row_of[e];
        if (x->val)
            xt->val[k] = x->val[e];
    }
    xt->row_ptr[q] = x->nnz;
    xt->rows = q;
    xt->cols = x->rows;
    xt->nnz = x->nnz;
    return STEN_OK;
}
