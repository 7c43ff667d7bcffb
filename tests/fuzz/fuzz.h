/* fuzz.h — what the file-reader fuzz drivers (tests/fuzz_*.c) share: the
 * input written to a file (every reader takes a path), the checks every
 * outcome must pass, and the replay program used where libFuzzer is not.
 * A driver includes this, then defines fuzz_one(): one input, through its
 * own context (checked for leaks after).
 *
 * Built with -DSTEN_FUZZ=ON (clang) a driver is a libFuzzer target under
 * ASan+UBSan; otherwise a plain program that replays the files and
 * directories it is given, each whole and cut at many lengths (CTest runs it
 * over tests/fuzz/corpus/<name>). A wrong outcome aborts: a leak through the
 * context, an error without a message naming the file, a result that breaks
 * its documented shape, or running out of a memory cap that no input of a
 * fuzzer's size can justify. docs/fuzzing.md. */
#ifndef STEN_FUZZ_H
#define STEN_FUZZ_H

#include "sten.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Helpers a driver may leave unused. */
#define FUZZ_API static __attribute__((unused))

#define REQUIRE(c)                                                                  \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "%s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #c); \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* What a reader may allocate through its context on one input: far more
 * than any input a fuzzer makes (at most a few hundred KB) can justify, far
 * less than would slow the fuzzer down. Readers must fail cleanly at it. */
#define FUZZ_MEM_LIMIT ((size_t)256 << 20)

/* The directory the inputs are written to: tmpfs where there is one (the
 * atomic writers fsync), made once per process, removed at exit. */
static char fuzz_dir[256];

static void fuzz_dir_remove(void)
{
    DIR *d = opendir(fuzz_dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", fuzz_dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(fuzz_dir);
}

FUZZ_API void fuzz_dir_make(void)
{
    if (fuzz_dir[0])
        return;
    const char *base = getenv("STEN_FUZZ_TMPDIR");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/sten-fuzz-XXXXXX", base);
    REQUIRE(mkdtemp(fuzz_dir) != NULL);
    atexit(fuzz_dir_remove);
}

/* The path of file `name` in the fuzz directory, into buf. */
FUZZ_API const char *fuzz_path(char *buf, size_t n, const char *name)
{
    fuzz_dir_make();
    snprintf(buf, n, "%s/%s", fuzz_dir, name);
    return buf;
}

/* Writes data to file `name` (replacing it); its path goes into buf. */
FUZZ_API const char *fuzz_file(char *buf, size_t n, const char *name, const uint8_t *data, size_t size)
{
    fuzz_path(buf, n, name);
    const int fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    for (size_t done = 0; done < size;) {
        const ssize_t w = write(fd, data + done, size - done);
        REQUIRE(w > 0);
        done += (size_t)w;
    }
    REQUIRE(close(fd) == 0);
    return buf;
}

/* A context as a server would hold one: one thread (the fuzzer runs many
 * processes), a memory cap. */
FUZZ_API sten_ctx *fuzz_ctx(void)
{
    sten_ctx *ctx;
    REQUIRE(sten_ctx_init(&ctx) == STEN_OK);
    sten_ctx_set_threads(ctx, 1);
    sten_ctx_set_mem_limit(ctx, FUZZ_MEM_LIMIT);
    return ctx;
}

/* The outcome of one call: on failure the context has a message that names
 * the file (out of memory under an injected failure excepted) and, unless
 * the caller allows it (NetCDF, where compressed data can justify any
 * size), the failure is not the memory cap. The error is cleared. */
FUZZ_API void fuzz_outcome(sten_ctx *ctx, sten_status st, const char *file, bool injected,
                         bool cap_allowed)
{
    static int verbose = -1; /* STEN_FUZZ_VERBOSE=1: every outcome on stderr (seeing what a seed reaches) */
    if (verbose < 0)
        verbose = getenv("STEN_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "fuzz: %s%s\n", st ? "error: " : "ok", st ? sten_ctx_error(ctx) : "");
    if (st == STEN_OK) {
        REQUIRE(sten_ctx_error_status(ctx) == STEN_OK || injected || cap_allowed);
        sten_ctx_clear_error(ctx);
        return;
    }
    const char *msg = sten_ctx_error(ctx);
    REQUIRE(msg != NULL && msg[0] != '\0');
    if (st == STEN_E_NOMEM) {
        if (!injected && !cap_allowed) {
            fprintf(stderr, "fuzz: out of memory under a %zu MB cap: %s\n", FUZZ_MEM_LIMIT >> 20, msg);
            REQUIRE(!"an input this small must not need so much memory");
        }
    } else {
        const char *base = strrchr(file, '/');
        if (!strstr(msg, base ? base + 1 : file)) {
            fprintf(stderr, "fuzz: message does not name %s: %s\n", file, msg);
            REQUIRE(!"every error names the file");
        }
    }
    sten_ctx_clear_error(ctx);
}

/* A CSR's documented shape: row starts from 0 up to nnz, columns below cols. */
FUZZ_API void fuzz_check_csr(const sten_csr *m)
{
    REQUIRE(m->row_ptr != NULL || m->rows == 0);
    if (!m->row_ptr)
        return;
    REQUIRE(m->row_ptr[0] == 0 && m->row_ptr[m->rows] == m->nnz);
    for (uint32_t r = 0; r < m->rows; r++)
        REQUIRE(m->row_ptr[r] <= m->row_ptr[r + 1]);
    for (uint64_t k = 0; k < m->nnz; k++)
        REQUIRE(m->col[k] < m->cols);
}

/* A dataset as its readers promise it. */
FUZZ_API void fuzz_check_dataset(const sten_dataset *d)
{
    REQUIRE(d->name != NULL);
    if (d->attributes & STEN_DS_SPARSE) {
        REQUIRE(d->sparse.rows == d->unique && d->dense == NULL);
        REQUIRE((d->sparse.val == NULL) == ((d->attributes & STEN_DS_BOOLEAN) != 0));
        fuzz_check_csr(&d->sparse);
    }
    if (d->index)
        for (uint64_t e = 0; e < d->examples; e++)
            REQUIRE(d->index[e] < d->unique);
    else
        REQUIRE(d->unique == d->examples);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size);

#ifdef FUZZ_NETCDF
/* libnetcdf sizes some allocations from a file's header (a name's length,
 * a count) and copes when they fail. Under ASan a huge one would abort (or
 * crawl, poisoning terabytes of shadow) where the C library returns NULL or
 * overcommits: here any allocation past 1 GiB fails, as on a host with a
 * memory limit. sten's own allocations stay under FUZZ_MEM_LIMIT. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=1024";
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sten_ctx *ctx = fuzz_ctx();
    fuzz_one(ctx, data, size);
    REQUIRE(sten_ctx_bytes_in_use(ctx) == 0);
    sten_ctx_free(ctx);
    return 0;
}

#ifndef STEN_LIBFUZZER
/* Replays one file whole and cut: at every length up to 2048 bytes, then at
 * about 2048 lengths spread over the rest. */
static int fuzz_replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static uint8_t buf[1 << 20];
    const size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const size_t step = n > 2048 ? (n - 2048) / 2048 + 1 : 1;
    for (size_t len = 0;; len = len < 2048 ? len + 1 : (n - len > step ? len + step : n)) {
        /* a copy of exactly len bytes, so ASan sees any read past the end */
        uint8_t *cut = malloc(len ? len : 1);
        REQUIRE(cut != NULL);
        memcpy(cut, buf, len);
        LLVMFuzzerTestOneInput(cut, len);
        free(cut);
        if (len == n)
            break;
    }
    return 1;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int a = 1; a < argc; a++) {
        struct stat sb;
        if (stat(argv[a], &sb) != 0) {
            fprintf(stderr, "%s: not found\n", argv[a]);
            return EXIT_FAILURE;
        }
        if (!S_ISDIR(sb.st_mode)) {
            files += fuzz_replay_file(argv[a]);
            continue;
        }
        DIR *dir = opendir(argv[a]);
        for (struct dirent *e; dir && (e = readdir(dir));) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
                files += fuzz_replay_file(path);
        }
        if (dir)
            closedir(dir);
    }
    printf("%s: replayed %d files (each whole and cut at many lengths)\n", argv[0], files);
    return files > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
#endif

#endif
