/* ctx.c — the context: first-error buffer, log and progress callbacks,
 * thread count.
 * Allocation accounting lives in alloc.c; this file never allocates except
 * for the context itself (with plain malloc: it is the accountant). */
#include "core_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

sten_status sten_ctx_init(sten_ctx **out)
{
    sten_ctx *ctx = calloc(1, sizeof *ctx);
    *out = ctx;
    if (!ctx)
        return STEN_E_NOMEM;
    ctx->log_max = STEN_LOG_WARN;
    sten_ctx_set_threads(ctx, 0);
    return STEN_OK;
}

void sten_ctx_free(sten_ctx *ctx)
{
    if (ctx)
        free(ctx->scratch);
    free(ctx);
}

void *sten__scratch(sten_ctx *ctx, size_t bytes)
{
    if (bytes <= ctx->scratch_cap)
        return ctx->scratch;
    const size_t cap = (bytes + 4095) & ~(size_t)4095;
    void *p = aligned_alloc(STEN__ALIGN, cap);
    if (!p)
        return NULL;
    free(ctx->scratch);
    ctx->scratch = p;
    ctx->scratch_cap = cap;
    return p;
}

const char *sten_ctx_error(const sten_ctx *ctx)
{
    return ctx->err;
}

sten_status sten_ctx_error_status(const sten_ctx *ctx)
{
    return ctx->err_status;
}

void sten_ctx_clear_error(sten_ctx *ctx)
{
    ctx->err[0] = '\0';
    ctx->err_status = STEN_OK;
}

sten_status sten__vfail(sten_ctx *ctx, sten_status st, const char *fmt,
                        va_list ap)
{
    if (ctx->err_status == STEN_OK) {
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        ctx->err_status = st;
        sten_log(ctx, STEN_LOG_ERROR, "%s", ctx->err);
    }
    return st;
}

sten_status sten_fail(sten_ctx *ctx, sten_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sten__vfail(ctx, st, fmt, ap);
    va_end(ap);
    return st;
}

void sten_ctx_set_log(sten_ctx *ctx, sten_log_fn fn, void *user,
                      sten_log_level max_level)
{
    ctx->log_fn = fn;
    ctx->log_user = user;
    ctx->log_max = max_level;
}

void sten_log(sten_ctx *ctx, sten_log_level level, const char *fmt, ...)
{
    if (!ctx->log_fn || level > ctx->log_max)
        return;
    char line[STEN__ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ctx->log_fn(ctx->log_user, level, line);
}

void sten_ctx_set_progress(sten_ctx *ctx, sten_progress_fn fn, void *user)
{
    ctx->progress_fn = fn;
    ctx->progress_user = user;
}

void sten__progress(sten_ctx *ctx, const char *task, const char *unit, uint64_t done, uint64_t total)
{
    if (!ctx->progress_fn)
        return;
    const sten_progress p = {task, unit, done, total, 0, 0};
    ctx->progress_fn(ctx->progress_user, &p);
}

void sten__progress_read(sten_ctx *ctx, const char *path, uint64_t lines, uint64_t bytes,
                         uint64_t size)
{
    if (!ctx->progress_fn)
        return;
    char task[256];
    snprintf(task, sizeof task, "reading %s", strcmp(path, "-") ? path : "stdin");
    const sten_progress p = {task, "lines", lines, 0, bytes, size};
    ctx->progress_fn(ctx->progress_user, &p);
}

void sten_ctx_set_threads(sten_ctx *ctx, int n)
{
    if (n <= 0) {
#ifdef _OPENMP
        n = omp_get_num_procs();
#else
        n = 1;
#endif
    }
    ctx->threads = n;
}

int sten_ctx_threads(const sten_ctx *ctx)
{
    return ctx->threads;
}

int sten__threads_for(const sten_ctx *ctx, int64_t work, int64_t grain)
{
    if (grain < 1)
        grain = 1;
    int64_t n = work / grain;
    if (n < 1)
        n = 1;
    return (int)STEN__MIN(n, (int64_t)ctx->threads);
}
