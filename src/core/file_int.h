/* file_int.h — atomic output and line-by-line input (src/core/file.c),
 * shared by every reader and writer in src/io. */
#ifndef STEN_FILE_INT_H
#define STEN_FILE_INT_H

#include "core_int.h"

#include <stdio.h>

/* A unique temporary path beside `path` (the file exists, empty). Owned by
 * the caller: pass it to sten__commit_path or sten__abort_path. NULL on
 * failure, with the error recorded. Used directly by writers that create the
 * file through another library (netCDF). */
char *sten__tmp_path(sten_ctx *ctx, const char *path);
/* fsync tmp and rename it to path; frees tmp; on failure removes tmp. */
sten_status sten__commit_path(sten_ctx *ctx, char *tmp, const char *path);
/* Removes and frees tmp; NULL is a no-op. */
void sten__abort_path(sten_ctx *ctx, char *tmp);

/* A stdio stream writing to a temporary that replaces `path` on commit. */
typedef struct {
    FILE *f;
    const char *path; /* borrowed */
    char *tmp;
} sten__afile;

sten_status sten__afile_open(sten_ctx *ctx, sten__afile *af, const char *path);
/* Checks the stream had no write error, closes, syncs, renames. */
sten_status sten__afile_commit(sten_ctx *ctx, sten__afile *af);
/* Closes and deletes the temporary; the target is left as it was. */
void sten__afile_abort(sten_ctx *ctx, sten__afile *af);

/* Line reader: "-" reads stdin. Plain or gzip-compressed (whatever the
 * name). The trailing "\n" or "\r\n" is removed. A line longer than
 * max_line bytes (STEN_MAX_LINE_BYTES unless set after opening) is an
 * error that names the file and line, found before more than max_line
 * bytes are held. lineno is the number of the line last returned. Every
 * 65,536 lines it reports progress (sten__progress_read). */
#define STEN_MAX_LINE_BYTES ((size_t)64 << 20)

typedef struct {
    FILE *f;
    const char *path; /* borrowed */
    char *buf;        /* the line */
    size_t cap;
    char *blk;        /* read-ahead */
    size_t bpos, blen;
    size_t max_line;
    int eof;
    unsigned long long lineno;
    void *gz;         /* the gzFile under f, for progress: bytes consumed */
    uint64_t size;    /* the file's size when it is a regular file, else 0 */
} sten__lines;

sten_status sten__lines_open(sten_ctx *ctx, sten__lines *r, const char *path);
/* 1 = a line in *line (NUL-terminated, *len bytes, valid until the next
 * call), 0 = end of file, -1 = read error or a line over the limit
 * (recorded). */
int sten__lines_next(sten_ctx *ctx, sten__lines *r, char **line, size_t *len);
void sten__lines_close(sten__lines *r);

#endif
