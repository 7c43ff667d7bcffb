/* convert.c — interaction logs to DSSTNE text in bounded memory: records
 * are read in chunks of at most max_records, each chunk sorted by (user,
 * time, item) and spilled to an anonymous temporary file, and the runs are
 * merged back so every user's records arrive together; a user's repeated
 * items keep their latest record. One chunk, no spill. */
#include "core/core_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_BUF 8192 /* records buffered per run while merging */

typedef struct {
    FILE **runs;
    uint64_t n_runs, cap_runs;
    uint64_t records; /* in all runs, for progress */
} spill;

static sten_status spill_chunk(sten_ctx *ctx, sten_interactions *in, void *user)
{
    spill *sp = user;
    if (in->n > 1) /* x may be NULL when empty */
        qsort(in->x, in->n, sizeof *in->x, sten__cmp_user_time);
    FILE *f = tmpfile(); /* unlinked already: gone even if we crash */
    if (!f)
        return sten_fail(ctx, STEN_E_IO, "cannot create a temporary file for sorting (TMPDIR full?)");
    sten_status st = sten__grow(ctx, (void **)&sp->runs, &sp->cap_runs, sp->n_runs + 1, sizeof *sp->runs);
    if (st) {
        fclose(f);
        return st;
    }
    sp->runs[sp->n_runs++] = f;
    sp->records += in->n;
    if (fwrite(in->x, sizeof *in->x, in->n, f) != in->n || fflush(f) != 0)
        return sten_fail(ctx, STEN_E_IO, "cannot write a sort run to a temporary file (disk full?)");
    rewind(f);
    in->n = 0;
    return STEN_OK;
}

/* One user's records: keep the latest per item, write them in time order. */
typedef struct {
    sten_ctx *ctx;
    const sten_interactions *in;
    sten_value_kind value;
    FILE *out;
    sten_interaction *u;
    uint64_t n, cap;
    sten_convert_stats *stats;
} emitter;

static sten_status emit_flush(emitter *e)
{
    if (!e->n)
        return STEN_OK;
    qsort(e->u, e->n, sizeof *e->u, sten__cmp_user_item);
    uint64_t w = 0;
    for (uint64_t i = 0; i < e->n; i++)
        if (i + 1 == e->n || e->u[i + 1].item != e->u[i].item)
            e->u[w++] = e->u[i];
    e->stats->merged_pairs += e->n - w;
    qsort(e->u, w, sizeof *e->u, sten__cmp_user_time);
    e->stats->written += w;
    e->stats->users++;
    e->n = 0;
    return sten_interactions_write_text(e->ctx, e->in, e->u, w, e->value, e->out);
}

static sten_status emit(emitter *e, const sten_interaction *x)
{
    sten_status st;
    if (e->n && e->u[0].user != x->user && (st = emit_flush(e)))
        return st;
    if ((st = sten__grow(e->ctx, (void **)&e->u, &e->cap, e->n + 1, sizeof *e->u)))
        return st;
    e->u[e->n++] = *x;
    return STEN_OK;
}

typedef struct {
    sten_interaction buf[RUN_BUF];
    size_t n, at;
    FILE *f;
} run_reader;

static int run_next(run_reader *r, sten_interaction *x)
{
    if (r->at == r->n) {
        r->n = fread(r->buf, sizeof *r->buf, RUN_BUF, r->f);
        r->at = 0;
        if (r->n == 0)
            return 0;
    }
    *x = r->buf[r->at++];
    return 1;
}

/* k-way merge of sorted runs through a binary heap of their heads. */
static sten_status merge(sten_ctx *ctx, spill *sp, emitter *e)
{
    const uint64_t k = sp->n_runs;
    run_reader *rr = sten_calloc(ctx, k, sizeof *rr);
    sten_interaction *head = sten_alloc(ctx, k * sizeof *head);
    uint64_t *heap = sten_alloc(ctx, k * sizeof *heap);
    if (!rr || !head || !heap) {
        sten_free(ctx, rr), sten_free(ctx, head), sten_free(ctx, heap);
        return STEN_E_NOMEM;
    }
    uint64_t n = 0;
    for (uint64_t i = 0; i < k; i++) {
        rr[i].f = sp->runs[i];
        if (run_next(&rr[i], &head[i]))
            heap[n++] = i;
    }
#define LESS(a, b) (sten__cmp_user_time(&head[heap[a]], &head[heap[b]]) < 0 || \
                    (sten__cmp_user_time(&head[heap[a]], &head[heap[b]]) == 0 && heap[a] < heap[b]))
    for (uint64_t i = n / 2; i-- > 0;) /* heapify */
        for (uint64_t at = i;;) {
            uint64_t l = 2 * at + 1, m = at;
            if (l < n && LESS(l, m)) m = l;
            if (l + 1 < n && LESS(l + 1, m)) m = l + 1;
            if (m == at) break;
            const uint64_t t = heap[at]; heap[at] = heap[m]; heap[m] = t; at = m;
        }
    sten_status st = STEN_OK;
    sten__progress(ctx, "merging", "records", 0, sp->records);
    for (uint64_t done = 1; n && !st; done++) {
        const uint64_t r = heap[0];
        st = emit(e, &head[r]);
        if ((done & 0xffff) == 0)
            sten__progress(ctx, "merging", "records", done, sp->records);
        if (!run_next(&rr[r], &head[r]))
            heap[0] = heap[--n];
        for (uint64_t at = 0;;) {
            uint64_t l = 2 * at + 1, m = at;
            if (l < n && LESS(l, m)) m = l;
            if (l + 1 < n && LESS(l + 1, m)) m = l + 1;
            if (m == at) break;
            const uint64_t t = heap[at]; heap[at] = heap[m]; heap[m] = t; at = m;
        }
    }
#undef LESS
    for (uint64_t i = 0; !st && i < k; i++)
        if (ferror(rr[i].f))
            st = sten_fail(ctx, STEN_E_IO, "cannot read back a sort run");
    sten_free(ctx, rr), sten_free(ctx, head), sten_free(ctx, heap);
    return st;
}

sten_status sten_convert_log(sten_ctx *ctx, const char *path, const sten_log_opts *o,
                             sten_value_kind value, uint64_t max_records, FILE *out,
                             sten_convert_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    if (max_records < 16)
        max_records = 16;
    sten_interactions in = {0};
    spill sp = {0};
    sten_status st = sten__interactions_read_sink(ctx, path, o, &in, max_records, spill_chunk, &sp);
    emitter e = {ctx, &in, value, out, NULL, 0, 0, stats};
    if (!st && sp.n_runs && in.n)
        st = spill_chunk(ctx, &in, &sp);
    if (!st && sp.n_runs) {
        st = merge(ctx, &sp, &e);
    } else if (!st) { /* everything fitted: sort in memory */
        sten__progress(ctx, "sorting", "", 0, 0);
        qsort(in.x, in.n, sizeof *in.x, sten__cmp_user_time);
        for (uint64_t i = 0; i < in.n && !st; i++) {
            if ((i & 0xffff) == 0)
                sten__progress(ctx, "writing", "records", i, in.n);
            st = emit(&e, &in.x[i]);
        }
    }
    if (!st)
        st = emit_flush(&e);
    stats->runs = sp.n_runs;
    stats->items = in.items ? sten_index_size(in.items) : 0;
    for (uint64_t i = 0; i < sp.n_runs; i++)
        fclose(sp.runs[i]);
    sten_free(ctx, sp.runs);
    sten_free(ctx, e.u);
    sten_interactions_free(ctx, &in);
    return st;
}
