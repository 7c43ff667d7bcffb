/* algo_int.h — what the built-in algorithms (src/algo) share: the distance
 * kernel, the hyperparameter file reader, the model file helpers. */
#ifndef STEN_ALGO_INT_H
#define STEN_ALGO_INT_H

#include "core/core_int.h"

#define STEN__MAXU(a, b) ((a) > (b) ? (a) : (b))

/* out[i] = |row i of X|^2 (n rows of dim). */
void sten__sq_norms(sten_ctx *ctx, const float *X, uint64_t n, uint32_t dim, float *out);
/* For rows X (B x dim, B <= the rows of D): the nearest of the K centres C
 * (cn: their squared norms; ties go to the lower index) in best, and the
 * squared distance to it, summed directly, in d2. D: B x K scratch. */
void sten__nearest(sten_ctx *ctx, const float *X, uint32_t B, const float *C, const float *cn, uint32_t K,
                   uint32_t dim, float *D, uint32_t *best, float *d2);

/* k-NN: the fields derived from a model's saved ones (the points' norms). */
sten_status sten__knn_derive(sten_ctx *ctx, sten_knn *m);

#endif
