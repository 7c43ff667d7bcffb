/* test_files.h — what the built-in algorithms' tests share: the context,
 * a temporary directory (made by the test's main with mkdtemp), small files
 * written into it, and an error check with the file's path in front. */
#ifndef STEN_TEST_FILES_H
#define STEN_TEST_FILES_H

#include "check.h"
#include "sten.h"

#include <stdio.h>

static sten_ctx *ctx;
static char dir[64];

/* Writes text to dir/name; the path stays valid for the next 7 calls. */
static const char *write_file(const char *name, const char *text)
{
    static char path[8][256];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

/* The status and the error message expected, with the file's path in front. */
static void check_error(sten_status got, sten_status want, const char *path, const char *tail)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s%s", path, tail);
    CHECK_EQ(got, want);
    CHECK_STR(sten_ctx_error(ctx), msg);
    sten_ctx_clear_error(ctx);
}

#endif
