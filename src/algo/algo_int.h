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

/* Linear Learner: what is wrong with o's loss for its predictor_type (a
 * message in buf, *code STEN_E_UNSUPPORTED or STEN_E_RANGE), or NULL. */
const char *sten__linear_loss_problem(const sten_linear_opts *o, sten_status *code, char *buf, size_t n);
/* The mean loss of m's raw scores on rows X (n x m->dim) with labels y, and
 * its gradient as a training step computes it: gW (dim x outputs), gb
 * (outputs). NaN when out of memory. For the finite-difference test. */
double sten__linear_gradient(sten_ctx *ctx, const sten_linear *m, const float *X, const float *y, uint64_t n,
                             float *gW, float *gb);

#endif
