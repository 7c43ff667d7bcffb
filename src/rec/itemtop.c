/* itemtop.c — what the item-item models share (rec_int.h): a bounded heap
 * keeping an item's best M neighbours, and the check that no row of the
 * interaction matrix lists an item twice. */
#include "rec_int.h"

/* Min-heap on sten__worse: h[0] is the worst kept. */
static void sift_down(sten__scored *h, uint32_t n, uint32_t at)
{
    for (;;) {
        uint32_t l = 2 * at + 1, m = at;
        if (l < n && sten__worse(h[l], h[m]))
            m = l;
        if (l + 1 < n && sten__worse(h[l + 1], h[m]))
            m = l + 1;
        if (m == at)
            return;
        sten__scored t = h[at];
        h[at] = h[m];
        h[m] = t;
        at = m;
    }
}

void sten__heap_offer(sten__scored *h, uint32_t *n, uint32_t M, sten__scored x)
{
    if (*n < M) {
        uint32_t at = (*n)++;
        h[at] = x;
        while (at > 0 && sten__worse(h[at], h[(at - 1) / 2])) {
            sten__scored t = h[at];
            h[at] = h[(at - 1) / 2];
            h[(at - 1) / 2] = t;
            at = (at - 1) / 2;
        }
    } else if (sten__worse(h[0], x)) {
        h[0] = x;
        sift_down(h, *n, 0);
    }
}

void sten__heap_drain(sten__scored *h, uint32_t n, uint32_t *idx, float *val)
{
    for (uint32_t r = n; r-- > 0;) {
        idx[r] = h[0].i;
        val[r] = h[0].v;
        h[0] = h[r];
        sift_down(h, r, 0);
    }
}

sten_status sten__check_unique_rows(sten_ctx *ctx, const sten_csr *X)
{
    sten_status st = sten_csr_validate(ctx, X);
    uint32_t *seen = st ? NULL : sten_calloc(ctx, STEN__MAX(X->cols, 1), sizeof *seen);
    if (!st && !seen)
        st = STEN_E_NOMEM;
    for (uint32_t r = 0; !st && r < X->rows; r++)
        for (uint64_t e = X->row_ptr[r]; !st && e < X->row_ptr[r + 1]; e++) {
            if (seen[X->col[e]] == r + 1)
                st = sten_fail(ctx, STEN_E_INVALID, "X row %u lists item %u twice", r, X->col[e]);
            seen[X->col[e]] = r + 1;
        }
    sten_free(ctx, seen);
    return st;
}
