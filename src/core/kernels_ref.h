/* kernels_ref.h — plain-loop reference versions of every fast kernel, kept
 * beside them so tests can check one against the other. Written for
 * obviousness, in double precision, from the mathematical definitions. */
#ifndef STEN_KERNELS_REF_H
#define STEN_KERNELS_REF_H

#include "sten.h"

void sten__gemm_ref(sten_trans ta, sten_trans tb, int64_t M, int64_t N,
                    int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C,
                    int64_t ldc);

void sten__spmm_ref(const sten_csr *X, const float *W, int64_t ldw, int64_t H,
                    float beta, float *Y, int64_t ldy);

/* Takes X itself (not its transpose): dW += alpha * X^T dY. */
void sten__spmm_grad_ref(const sten_csr *X, const float *dY, int64_t ldd,
                         int64_t H, float alpha, float *dW, int64_t ldw);

void sten__act_forward_ref(sten_act a, const sten_act_params *p,
                           const float *X, float *Y, int64_t B, int64_t N,
                           int64_t ld);

/* Derivative from the pre-activation X (not from the output as the fast
 * kernel does), so the test checks the output-based formulas. */
void sten__act_backward_ref(sten_act a, const sten_act_params *p,
                            const float *X, const float *dY, float *dX,
                            int64_t B, int64_t N, int64_t ld);

/* Sorts every eligible item of each row; same contract as sten_topk.
 * Returns STEN_E_NOMEM only if malloc fails. */
sten_status sten__topk_ref(const float *S, int64_t lds, int64_t B, int64_t N,
                           int64_t K, const sten_csr *exclude,
                           uint32_t *out_idx, float *out_val, uint32_t *count);

#endif
