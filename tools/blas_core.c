/* blas_core.c — keeps the sten command off OpenBLAS's generic kernels.
 * OpenBLAS picks its core type in a library constructor, from
 * OPENBLAS_CORETYPE or the CPU model; a release that does not know the CPU
 * runs Prescott (SSE3). Before anything else, main() lets this file export
 * OPENBLAS_CORETYPE=<the CPU's best> and re-execute the same binary with the
 * same argv, once (STEN_BLAS_REEXEC marks the second run). It never
 * overrides a user's OPENBLAS_CORETYPE unless STEN_BLAS_CORETYPE=best. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GUARD "STEN_BLAS_REEXEC" /* set for the re-executed run: the core it replaced */

enum { MODE_AUTO, MODE_KEEP, MODE_BEST };

/* What happened at start, for `sten info`: state of this one process. */
static struct {
    int mode;
    bool user_set;  /* OPENBLAS_CORETYPE came from the user, not from sten */
    char from[32];  /* the core OpenBLAS had picked before sten re-executed, or "" */
    char want[32];  /* the core type a failed re-execution asked for */
    int exec_errno; /* why it failed; 0 if it did not */
} fix;

int cli_blas_core_fix(char **argv)
{
    const char *m = getenv("STEN_BLAS_CORETYPE");
    if (!m || !*m || !strcmp(m, "auto"))
        fix.mode = MODE_AUTO;
    else if (!strcmp(m, "keep"))
        fix.mode = MODE_KEEP;
    else if (!strcmp(m, "best"))
        fix.mode = MODE_BEST;
    else {
        fprintf(stderr, "sten: STEN_BLAS_CORETYPE: unknown value '%s' (expected auto, keep or best)\n", m);
        return CLI_EX_USAGE;
    }
    const char *guard = getenv(GUARD);
    if (guard) { /* the second run: never again, whatever the core is now */
        snprintf(fix.from, sizeof fix.from, "%s", guard);
        unsetenv(GUARD);
        return CLI_EX_OK;
    }
    const char *prev = getenv("OPENBLAS_CORETYPE");
    fix.user_set = prev != NULL;
    if (fix.mode == MODE_KEEP)
        return CLI_EX_OK;
    sten_blas_core c;
    sten_blas_core_get(&c);
    if (!(fix.mode == MODE_BEST ? c.older : c.generic && !fix.user_set))
        return CLI_EX_OK;
    char *saved = prev ? strdup(prev) : NULL;
    snprintf(fix.want, sizeof fix.want, "%s", c.best);
    if (setenv(GUARD, c.core, 1) == 0 && setenv("OPENBLAS_CORETYPE", c.best, 1) == 0) {
        fflush(NULL);
        execv("/proc/self/exe", argv); /* returns only on failure */
    }
    fix.exec_errno = errno ? errno : ENOMEM;
    unsetenv(GUARD);
    if (saved)
        setenv("OPENBLAS_CORETYPE", saved, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    free(saved);
    fprintf(stderr, "sten: warning: could not re-execute with OPENBLAS_CORETYPE=%s (%s); "
            "continuing on OpenBLAS's %s (%s) kernels\n", fix.want, strerror(fix.exec_errno),
            c.core, c.kernels);
    return CLI_EX_OK;
}

void cli_blas_core_describe(char *buf, size_t n)
{
    sten_blas_core c;
    sten_blas_core_get(&c);
    if (fix.from[0] && !c.older) {
        snprintf(buf, n, "%s (%s kernels; sten re-executed itself with OPENBLAS_CORETYPE=%s: "
                 "OpenBLAS had picked %s)", c.core, c.kernels, c.core, fix.from);
        return;
    }
    if (!c.older) {
        snprintf(buf, n, "%s (%s kernels)", c.core, c.kernels);
        return;
    }
    char why[160];
    const char *env = getenv("OPENBLAS_CORETYPE");
    if (fix.from[0])
        snprintf(why, sizeof why, "sten re-executed itself (OpenBLAS had picked %s) but "
                 "OpenBLAS did not take OPENBLAS_CORETYPE=%s", fix.from, env ? env : "");
    else if (fix.exec_errno)
        snprintf(why, sizeof why, "sten could not re-execute itself with OPENBLAS_CORETYPE=%s (%s)",
                 fix.want, strerror(fix.exec_errno));
    else if (fix.mode == MODE_KEEP)
        snprintf(why, sizeof why, "kept because STEN_BLAS_CORETYPE=keep");
    else if (fix.user_set)
        snprintf(why, sizeof why, "OPENBLAS_CORETYPE=%.40s is set%s", env ? env : "",
                 c.generic ? ": unset it, or STEN_BLAS_CORETYPE=best" : "; STEN_BLAS_CORETYPE=best uses it");
    else
        snprintf(why, sizeof why, "STEN_BLAS_CORETYPE=best uses it");
    if (c.generic)
        snprintf(buf, n, "%s: generic %s kernels, 4-11x slower than %s on BLAS-bound work; %s",
                 c.core, c.kernels, c.best, why);
    else
        snprintf(buf, n, "%s (%s kernels; this CPU can run %s: %s)", c.core, c.kernels, c.best,
                 why);
}
