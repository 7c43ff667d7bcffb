/* file.c — the two file primitives every reader and writer shares: atomic
 * output (write a temporary beside the target, fsync, rename; a failure or
 * crash never leaves a half-written file under the real name) and a line
 * reader that tracks line numbers, tolerates CRLF and reads gzip-compressed
 * files as well as plain ones (zlib reads both). */
#define _GNU_SOURCE /* fopencookie: a gzFile as a stdio stream for getline */
#include "file_int.h"

#include <errno.h>
#include <limits.h>
#include <zlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *sten__tmp_path(sten_ctx *ctx, const char *path)
{
    static const char suffix[] = ".tmp.XXXXXX";
    size_t n = strlen(path);
    char *tmp = sten_alloc(ctx, n + sizeof suffix);
    if (!tmp)
        return NULL;
    memcpy(tmp, path, n);
    memcpy(tmp + n, suffix, sizeof suffix);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        sten_fail(ctx, STEN_E_IO, "%s: cannot create a temporary file beside it: %s", path,
                  strerror(errno));
        sten_free(ctx, tmp);
        return NULL;
    }
    /* mkstemp makes 0600; data files are for sharing like any other output */
    fchmod(fd, 0644);
    close(fd);
    return tmp;
}

sten_status sten__commit_path(sten_ctx *ctx, char *tmp, const char *path)
{
    sten_status st = STEN_OK;
    int fd = open(tmp, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0)
        st = sten_fail(ctx, STEN_E_IO, "%s: cannot sync: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (st == STEN_OK && rename(tmp, path) != 0)
        st = sten_fail(ctx, STEN_E_IO, "%s: cannot rename into place: %s", path,
                       strerror(errno));
    if (st != STEN_OK)
        unlink(tmp);
    sten_free(ctx, tmp);
    return st;
}

void sten__abort_path(sten_ctx *ctx, char *tmp)
{
    if (!tmp)
        return;
    unlink(tmp);
    sten_free(ctx, tmp);
}

sten_status sten__afile_open(sten_ctx *ctx, sten__afile *af, const char *path)
{
    memset(af, 0, sizeof *af);
    af->path = path;
    af->tmp = sten__tmp_path(ctx, path);
    if (!af->tmp)
        return sten_ctx_error_status(ctx) ? sten_ctx_error_status(ctx) : STEN_E_IO;
    af->f = fopen(af->tmp, "w");
    if (!af->f) {
        sten_status st = sten_fail(ctx, STEN_E_IO, "%s: cannot open for writing: %s", path,
                                   strerror(errno));
        sten__abort_path(ctx, af->tmp);
        af->tmp = NULL;
        return st;
    }
    return STEN_OK;
}

sten_status sten__afile_commit(sten_ctx *ctx, sten__afile *af)
{
    int bad = ferror(af->f) != 0;
    bad |= fclose(af->f) != 0;
    af->f = NULL;
    if (bad) {
        sten__abort_path(ctx, af->tmp);
        af->tmp = NULL;
        return sten_fail(ctx, STEN_E_IO, "%s: write failed (disk full?)", af->path);
    }
    sten_status st = sten__commit_path(ctx, af->tmp, af->path);
    af->tmp = NULL;
    return st;
}

void sten__afile_abort(sten_ctx *ctx, sten__afile *af)
{
    if (af->f)
        fclose(af->f);
    af->f = NULL;
    sten__abort_path(ctx, af->tmp);
    af->tmp = NULL;
}

/* A gzFile (which passes plain files through) read through stdio. */
static ssize_t gz_read(void *cookie, char *buf, size_t n)
{
    const int got = gzread((gzFile)cookie, buf, (unsigned)(n > INT_MAX ? INT_MAX : n));
    return got < 0 ? -1 : got;
}

static int gz_close(void *cookie)
{
    return gzclose((gzFile)cookie) == Z_OK ? 0 : EOF;
}

enum { LINES_BLOCK = 1 << 16 };

sten_status sten__lines_open(sten_ctx *ctx, sten__lines *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    errno = 0;
    const int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY);
    gzFile gz = fd < 0 ? NULL : gzdopen(fd, "rb");
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
        r->size = (uint64_t)sb.st_size;
    if (gz) {
        r->gz = gz;
        gzbuffer(gz, 1 << 16);
        const cookie_io_functions_t io = {gz_read, NULL, NULL, gz_close};
        if (!(r->f = fopencookie(gz, "r", io)))
            gzclose(gz);
    } else if (fd >= 0) {
        close(fd);
    }
    if (!r->f)
        return sten_fail(ctx, errno == ENOENT ? STEN_E_NOTFOUND : STEN_E_IO,
                         "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    if (!(r->blk = malloc(LINES_BLOCK))) {
        sten__lines_close(r);
        return sten_fail(ctx, STEN_E_NOMEM, "%s: out of memory", path);
    }
    return STEN_OK;
}

int sten__lines_next(sten_ctx *ctx, sten__lines *r, char **line, size_t *len)
{
    const size_t max = r->max_line ? r->max_line : STEN_MAX_LINE_BYTES;
    size_t n = 0;
    int ended = 0; /* a '\n' was found */
    for (;;) {
        if (r->bpos == r->blen) {
            if (r->eof)
                break;
            errno = 0;
            r->blen = fread(r->blk, 1, LINES_BLOCK, r->f);
            r->bpos = 0;
            if (r->blen == 0) {
                if (ferror(r->f)) {
                    sten_fail(ctx, STEN_E_IO, "%s:%llu: read error: %s", r->path, r->lineno + 1,
                              errno ? strerror(errno) : "a corrupt or truncated gzip stream?");
                    return -1;
                }
                r->eof = 1;
                break;
            }
        }
        const char *s = r->blk + r->bpos;
        const size_t avail = r->blen - r->bpos;
        const char *nl = memchr(s, '\n', avail);
        const size_t take = nl ? (size_t)(nl - s) : avail;
        if (take > max - n) {
            sten_fail(ctx, STEN_E_PARSE, "%s:%llu: the line is longer than %zu bytes (the limit of a line)",
                      r->path, r->lineno + 1, max);
            return -1;
        }
        if (n + take + 1 > r->cap) {
            size_t nc = r->cap ? r->cap : 256;
            while (nc < n + take + 1)
                nc *= 2;
            char *b = realloc(r->buf, nc);
            if (!b) {
                sten_fail(ctx, STEN_E_NOMEM, "%s:%llu: out of memory for a %zu-byte line", r->path,
                          r->lineno + 1, n + take);
                return -1;
            }
            r->buf = b;
            r->cap = nc;
        }
        memcpy(r->buf + n, s, take);
        n += take;
        r->bpos += take + (nl != NULL);
        if (nl) {
            ended = 1;
            break;
        }
    }
    if (!ended && n == 0)
        return 0;
    r->lineno++;
    if ((r->lineno & 0xffff) == 0 && sten__progress_on(ctx)) {
        const z_off_t at = gzoffset(r->gz); /* -1 on a pipe */
        sten__progress_read(ctx, r->path, r->lineno, at > 0 ? (uint64_t)at : 0, r->size);
    }
    if (n > 0 && r->buf[n - 1] == '\r')
        n--;
    r->buf[n] = '\0';
    *line = r->buf;
    *len = n;
    return 1;
}

void sten__lines_close(sten__lines *r)
{
    if (r->f)
        fclose(r->f); /* closes the gzFile and its descriptor (a dup of stdin's for "-") */
    free(r->buf);
    free(r->blk);
    memset(r, 0, sizeof *r);
}

struct sten_outfile {
    sten__afile af;
    char path[]; /* the afile borrows it */
};

sten_status sten_outfile_open(sten_ctx *ctx, const char *path, sten_outfile **out, FILE **f)
{
    *out = NULL;
    const size_t n = strlen(path) + 1;
    sten_outfile *o = sten_alloc(ctx, sizeof *o + n);
    if (!o)
        return STEN_E_NOMEM;
    memcpy(o->path, path, n);
    sten_status st = sten__afile_open(ctx, &o->af, o->path);
    if (st) {
        sten_free(ctx, o);
        return st;
    }
    *out = o;
    *f = o->af.f;
    return STEN_OK;
}

sten_status sten_outfile_commit(sten_ctx *ctx, sten_outfile *o)
{
    const sten_status st = sten__afile_commit(ctx, &o->af);
    sten_free(ctx, o);
    return st;
}

void sten_outfile_abort(sten_ctx *ctx, sten_outfile *o)
{
    if (!o)
        return;
    sten__afile_abort(ctx, &o->af);
    sten_free(ctx, o);
}
