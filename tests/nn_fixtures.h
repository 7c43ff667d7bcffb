/* nn_fixtures.h — builders for the engine tests: network descriptions with
 * DSSTNE's defaults (without going through the JSON parser), and small
 * in-memory datasets. */
#ifndef STEN_NN_FIXTURES_H
#define STEN_NN_FIXTURES_H

#include "sten.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline sten_net_desc fx_desc(sten_layer_desc *layers, uint32_t n)
{
    sten_net_desc d;
    sten_net_desc_defaults(&d);
    strcpy(d.name, "test");
    strcpy(d.source, "test.json");
    d.layers = layers;
    d.n_layers = n;
    return d;
}

static inline sten_layer_desc fx_layer(const char *name, sten_layer_kind kind, uint32_t N,
                                       sten_act act)
{
    sten_layer_desc l;
    sten_layer_desc_defaults(&l);
    snprintf(l.name, sizeof l.name, "%s", name);
    l.kind = kind;
    l.N = N;
    l.activation = act;
    l.line = 1;
    l.column = 1;
    return l;
}

/* A sparse dataset of `rows` examples over `width` features; row r holds
 * the features (r * 7 + k * 5 + k * k) % width for k < 1 + (r % maxn). */
static inline sten_status fx_sparse(sten_ctx *ctx, sten_dataset *d, const char *name,
                                    uint32_t rows, uint32_t width, uint32_t maxn, bool valued)
{
    memset(d, 0, sizeof *d);
    d->name = (char *)name;
    d->attributes = STEN_DS_SPARSE | (valued ? 0 : STEN_DS_BOOLEAN);
    d->dims = 1;
    d->width = width;
    d->examples = d->unique = rows;
    sten_status st = sten_csr_init(ctx, &d->sparse, rows, width, (uint64_t)rows * maxn, valued);
    if (st)
        return st;
    uint64_t e = 0;
    for (uint32_t r = 0; r < rows; r++) {
        uint32_t n = 1 + r % maxn;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t c = (r * 7 + k * 5 + k * k) % width;
            bool dup = false;
            for (uint64_t q = d->sparse.row_ptr[r]; q < e; q++)
                dup |= d->sparse.col[q] == c;
            if (dup)
                continue;
            d->sparse.col[e] = c;
            if (valued)
                d->sparse.val[e] = 0.25f + 0.5f * (float)((r + k) % 3);
            e++;
        }
        d->sparse.row_ptr[r + 1] = e;
    }
    d->sparse.rows = rows;
    d->sparse.nnz = e;
    return STEN_OK;
}

static inline sten_status fx_dense(sten_ctx *ctx, sten_dataset *d, const char *name, uint32_t rows,
                                   uint32_t width, float lo, float hi)
{
    memset(d, 0, sizeof *d);
    d->name = (char *)name;
    d->dims = 1;
    d->width = width;
    d->examples = d->unique = rows;
    d->dense = sten_alloc(ctx, (size_t)rows * width * sizeof(float));
    if (!d->dense)
        return STEN_E_NOMEM;
    for (uint64_t i = 0; i < (uint64_t)rows * width; i++)
        d->dense[i] = lo + (hi - lo) * (float)((i * 37 + 11) % 101) / 100.0f;
    return STEN_OK;
}

static inline void fx_free(sten_ctx *ctx, sten_dataset *d)
{
    sten_csr_free(ctx, &d->sparse);
    sten_free(ctx, d->dense);
    sten_free(ctx, d->weight);
    sten_free(ctx, d->index);
}

#endif
