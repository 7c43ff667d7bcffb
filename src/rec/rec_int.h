/* rec_int.h — internals the item-item models share (similar.c, nbhd.c). */
#ifndef STEN_REC_INT_H
#define STEN_REC_INT_H

#include "core/core_int.h"

typedef struct {
    float v;
    uint32_t i;
} sten__scored;

/* a ranks below b: lower score, or the same score and a larger id */
static inline int sten__worse(sten__scored a, sten__scored b)
{
    return a.v != b.v ? a.v < b.v : a.i > b.i;
}

/* Keeps the best M offered in the min-heap h (n kept; h[0] the worst). */
void sten__heap_offer(sten__scored *h, uint32_t *n, uint32_t M, sten__scored x);
/* Writes the n kept, best first, to idx/val; empties the heap. */
void sten__heap_drain(sten__scored *h, uint32_t n, uint32_t *idx, float *val);

/* Sums over users go wrong when a row lists an item twice: refuses that
 * ("X row R lists item I twice", STEN_E_INVALID) after sten_csr_validate. */
sten_status sten__check_unique_rows(sten_ctx *ctx, const sten_csr *X);

#endif
