/* precision.c — which precision is faster on this CPU, measured.
 *
 * bf16 products are not faster everywhere: on AMD Zen 4/5 vdpbf16ps runs at
 * twice the fp32 FMA rate, on Intel Xeons with AVX512-BF16 it runs at about
 * half of it, and where AMX tiles exist they run ~10x past both. So rather
 * than a table of CPU models, sten times the two paths once per process on
 * the product that dominates its workloads — an output layer's forward
 * product, (256 x 128) x (128 x 4096), fp32 through sten_gemm and bf16
 * through the kernel bgemm.c picks (AMX or AVX-512 BF16) — alternating, the
 * best of five each, ~10 ms in all. STEN_PRECISION_AUTO and the fp32
 * recommender's bf16 screening follow the result; `sten info` prints it. */
#include "core_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static bool probed;
static sten_precision_report probe_result;
static int fast_forced = -1;

#define PM 256
#define PK 128
#define PN 4096

/* False where it could not run (no memory): not kept, tried again next time. */
static bool measure(sten_ctx *ctx, sten_precision_report *r)
{
    bool ok = false;
    memset(r, 0, sizeof *r);
    r->bf16 = sten__bf16_available();
    r->amx = sten__amx_available();
    r->threads = sten_ctx_threads(ctx);
    r->choice = STEN_PRECISION_FP32;
    if (!r->bf16)
        return true;
    float *A = sten_alloc(ctx, (size_t)PM * PK * sizeof *A);
    float *W = sten_alloc(ctx, (size_t)PK * PN * sizeof *W);
    float *C = sten_alloc(ctx, (size_t)PM * PN * sizeof *C);
    uint16_t *Wb = sten_alloc(ctx, (size_t)PK * PN * sizeof *Wb);
    if (!A || !W || !C || !Wb) {
        sten_ctx_clear_error(ctx);
        goto out;
    }
    for (int64_t e = 0; e < (int64_t)PM * PK; e++)
        A[e] = (float)((e * 7919) % 2001 - 1000) * 1e-3f;
    for (int64_t e = 0; e < (int64_t)PK * PN; e++)
        W[e] = (float)((e * 104729) % 2001 - 1000) * 1e-3f;
    sten__to_bf16(ctx, Wb, W, (int64_t)PK * PN);
    double t32 = 1e30, t16 = 1e30;
    for (int rep = 0; rep < 6; rep++) { /* the first round warms up */
        double t0 = now_s();
        sten_gemm(ctx, STEN_NO_TRANS, STEN_NO_TRANS, PM, PN, PK, 1.0f, A, PK, W, PN, 0.0f, C, PN);
        const double a = now_s() - t0;
        t0 = now_s();
        const sten_status st = sten__bgemm_chunks(ctx, STEN_NO_TRANS, PM, PN, PK, 1.0f, A, PK, Wb,
                                                  PN, 0.0f, C, PN, NULL, 0, NULL, NULL, NULL);
        const double b = now_s() - t0;
        if (st) {
            sten_ctx_clear_error(ctx);
            goto out;
        }
        if (rep > 0) {
            t32 = a < t32 ? a : t32;
            t16 = b < t16 ? b : t16;
        }
    }
    const double flop = 2.0 * PM * PN * PK;
    r->fp32_gflops = flop / t32 / 1e9;
    r->bf16_gflops = flop / t16 / 1e9;
    r->choice = t16 < t32 ? STEN_PRECISION_BF16 : STEN_PRECISION_FP32;
    ok = true;
out:
    sten_free(ctx, A), sten_free(ctx, W), sten_free(ctx, C), sten_free(ctx, Wb);
    return ok;
}

sten_status sten_precision_probe(sten_ctx *ctx, sten_precision_report *out)
{
    pthread_mutex_lock(&probe_lock);
    if (!probed || probe_result.amx != sten__amx_available() ||
        probe_result.bf16 != sten__bf16_available()) {
        probed = measure(ctx, &probe_result);
    }
    *out = probe_result;
    pthread_mutex_unlock(&probe_lock);
    return STEN_OK;
}

bool sten__bf16_fast(sten_ctx *ctx)
{
    const int f = __atomic_load_n(&fast_forced, __ATOMIC_RELAXED);
    if (f >= 0)
        return f == 1 && sten__bf16_available();
    if (!sten__bf16_available())
        return false;
    sten_precision_report r;
    sten_precision_probe(ctx, &r);
    return r.choice == STEN_PRECISION_BF16;
}

void sten__bf16_fast_force(int on)
{
    __atomic_store_n(&fast_forced, on, __ATOMIC_RELAXED);
}

const char *sten_precision_kernel(void)
{
    return sten__amx_available()    ? "AMX tiles (tdpbf16ps)"
           : sten__bf16_available() ? "AVX-512 BF16 (vdpbf16ps)"
                                    : "none";
}

void sten_precision_describe(const sten_precision_report *r, char *buf, size_t n)
{
    if (!r->bf16) {
        snprintf(buf, n, "fp32 (no bf16 products on this CPU: they need AVX-512 BF16, and "
                         "STEN_KERNELS unset)");
        return;
    }
    if (r->fp32_gflops <= 0) {
        snprintf(buf, n, "fp32 (the bf16 probe could not run)");
        return;
    }
    snprintf(buf, n, "%s (measured on %d thread%s, (256x128)x(128x4096): bf16 through %s %.0f "
                     "GFLOP/s, fp32 %.0f GFLOP/s)",
             r->choice == STEN_PRECISION_BF16 ? "bf16" : "fp32", r->threads,
             r->threads == 1 ? "" : "s", r->amx ? "AMX tiles" : "AVX-512 BF16", r->bf16_gflops,
             r->fp32_gflops);
}
