/* filter.c — what a recommendation must leave out, and how a list is
 * written. An exclusion set holds, per sample, the items not to recommend
 * (the items a user already has, a filter file's items), from any number of
 * sources; each batch gets the union of its samples' rows as the CSR that
 * top-K skips. And DSSTNE's recommendation line,
 * "user<TAB>item,score:item,score:...:". Reading the files is io's. */
#include "core/core_int.h"

#include <string.h>

/* One source of exclusions: rows of items, and which row each sample id has. */
typedef struct {
    sten_csr m;
    int64_t *row_of; /* by sample id, -1 = none; n_ids entries */
    uint32_t n_ids;
} ex_source;

struct sten_exclusion {
    ex_source *src;
    uint32_t n_src;
};

sten_status sten_exclusion_new(sten_ctx *ctx, sten_exclusion **out)
{
    *out = sten_calloc(ctx, 1, sizeof **out);
    return *out ? STEN_OK : STEN_E_NOMEM;
}

void sten_exclusion_free(sten_ctx *ctx, sten_exclusion *ex)
{
    if (!ex)
        return;
    for (uint32_t k = 0; k < ex->n_src; k++) {
        sten_csr_free(ctx, &ex->src[k].m);
        sten_free(ctx, ex->src[k].row_of);
    }
    sten_free(ctx, ex->src);
    sten_free(ctx, ex);
}

sten_status sten_exclusion_add(sten_ctx *ctx, sten_exclusion *ex, const sten_csr *m, const uint32_t *ids)
{
    uint32_t n_ids = 0;
    for (uint32_t r = 0; r < m->rows; r++)
        n_ids = STEN__MAX(n_ids, ids[r] + 1);
    ex_source *grown = sten_alloc(ctx, ((size_t)ex->n_src + 1) * sizeof *grown);
    if (!grown)
        return STEN_E_NOMEM;
    if (ex->n_src)
        memcpy(grown, ex->src, (size_t)ex->n_src * sizeof *grown);
    sten_free(ctx, ex->src);
    ex->src = grown;
    ex_source *s = &ex->src[ex->n_src];
    memset(s, 0, sizeof *s);
    sten_status st = sten_csr_init(ctx, &s->m, STEN__MAX(m->rows, 1u), m->cols, m->nnz, false);
    if (!st && !(s->row_of = sten_alloc(ctx, ((size_t)n_ids + 1) * sizeof *s->row_of)))
        st = STEN_E_NOMEM;
    if (st) {
        sten_csr_free(ctx, &s->m);
        return st;
    }
    memcpy(s->m.row_ptr, m->row_ptr, ((size_t)m->rows + 1) * sizeof *m->row_ptr);
    memcpy(s->m.col, m->col, (size_t)m->nnz * sizeof *m->col);
    s->m.rows = m->rows;
    s->m.nnz = m->nnz;
    s->n_ids = n_ids;
    for (uint32_t i = 0; i < n_ids; i++)
        s->row_of[i] = -1;
    for (uint32_t r = 0; r < m->rows; r++)
        s->row_of[ids[r]] = r;
    ex->n_src++;
    return STEN_OK;
}

/* Row of sample `id` in source s, or -1. */
static int64_t row_of(const ex_source *s, uint32_t id)
{
    return id < s->n_ids ? s->row_of[id] : -1;
}

sten_status sten_exclusion_batch(sten_ctx *ctx, const sten_exclusion *ex, const uint32_t *ids, uint32_t B,
                                 sten_csr *out)
{
    uint64_t need = 0;
    for (uint32_t k = 0; k < ex->n_src; k++)
        for (uint32_t b = 0; b < B; b++) {
            const int64_t r = row_of(&ex->src[k], ids[b]);
            if (r >= 0)
                need += ex->src[k].m.row_ptr[r + 1] - ex->src[k].m.row_ptr[r];
        }
    if (need > out->cap || B > out->row_cap || !out->row_ptr) {
        sten_csr_free(ctx, out);
        sten_status st = sten_csr_init(ctx, out, STEN__MAX(B, 1u), UINT32_MAX, need * 2 + 1, false);
        if (st)
            return st;
    }
    uint64_t e = 0;
    for (uint32_t b = 0; b < B; b++) {
        for (uint32_t k = 0; k < ex->n_src; k++) {
            const ex_source *s = &ex->src[k];
            const int64_t r = row_of(s, ids[b]);
            for (uint64_t q = r >= 0 ? s->m.row_ptr[r] : 0; r >= 0 && q < s->m.row_ptr[r + 1]; q++)
                out->col[e++] = s->m.col[q];
        }
        out->row_ptr[b + 1] = e;
    }
    out->rows = B;
    out->nnz = e;
    return STEN_OK;
}

bool sten_recs_format_ok(const char *fmt)
{
    if (!fmt || fmt[0] != '%')
        return false;
    const char *p = fmt + 1;
    while (*p && strchr("-+ #0", *p))
        p++;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return (*p == 'f' || *p == 'e' || *p == 'g') && p[1] == '\0' && p - fmt < 12;
}

sten_status sten_recs_write(sten_ctx *ctx, FILE *f, const char *user, const uint32_t *idx,
                            const float *val, uint32_t n, const sten_index *items, const char *fmt)
{
    if (!sten_recs_format_ok(fmt))
        return sten_fail(ctx, STEN_E_INVALID, "score format \"%s\": expected one %%f, %%e or %%g "
                         "conversion such as %%4.3f", fmt ? fmt : "(null)");
    fputs(user, f);
    fputc('\t', f);
    for (uint32_t r = 0; r < n; r++) {
        const char *label = sten_index_label(items, idx[r]);
        if (!label)
            continue;
        fputs(label, f);
        fputc(',', f);
        fprintf(f, fmt, (double)val[r]);
        fputc(':', f);
    }
    fputc('\n', f);
    return ferror(f) ? sten_fail(ctx, STEN_E_IO, "writing recommendations: %s", "write error") : STEN_OK;
}
