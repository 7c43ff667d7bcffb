/* test_core.c — status strings, the error context, allocation accounting and
 * injected failures, dense/CSR containers, and the counter-based RNG. */
#include "check.h"
#include "sten.h"

#include <string.h>
#include <unistd.h>

#include "core/core_int.h"
#include "core/file_int.h"

char *openblas_get_corename(void); /* OpenBLAS, which libsten links */

static void test_status_strings(void)
{
    CHECK_STR(sten_status_str(STEN_OK), "ok");
    CHECK_STR(sten_status_str(STEN_E_PARSE), "parse error");
    CHECK_STR(sten_status_name(STEN_E_NOMEM), "STEN_E_NOMEM");
    CHECK_STR(sten_status_str((sten_status)-999), "unknown status");
    CHECK_STR(sten_status_name((sten_status)42), "STEN_E_UNKNOWN");
    /* every listed status has a distinct, non-empty description */
#define ITEM(name, code, text) name,
    const sten_status all[] = {STEN_STATUS_LIST(ITEM)};
#undef ITEM
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK(strlen(sten_status_str(all[i])) > 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(sten_status_str(all[i]), sten_status_str(all[j])) != 0);
    }
    CHECK_STR(sten_version(), STEN_VERSION_STRING);
}

typedef struct {
    int calls;
    sten_log_level last_level;
    char last[256];
} log_sink;

static void sink_fn(void *user, sten_log_level level, const char *msg)
{
    log_sink *s = user;
    s->calls++;
    s->last_level = level;
    snprintf(s->last, sizeof s->last, "%s", msg);
}

static void test_first_error_wins(void)
{
    sten_ctx *ctx;
    CHECK_EQ(sten_ctx_init(&ctx), STEN_OK);
    log_sink sink = {0};
    sten_ctx_set_log(ctx, sink_fn, &sink, STEN_LOG_INFO);
    CHECK_STR(sten_ctx_error(ctx), "");
    CHECK_EQ(sten_ctx_error_status(ctx), STEN_OK);
    CHECK_EQ(sten_fail(ctx, STEN_E_PARSE, "ratings.csv:%d: expected %d fields, got %d", 12, 4, 3),
             STEN_E_PARSE);
    CHECK_EQ(sten_fail(ctx, STEN_E_IO, "second error"), STEN_E_IO);
    CHECK_STR(sten_ctx_error(ctx), "ratings.csv:12: expected 4 fields, got 3");
    CHECK_EQ(sten_ctx_error_status(ctx), STEN_E_PARSE);
    CHECK_EQ(sink.calls, 1); /* only the recorded error is logged */
    CHECK_EQ(sink.last_level, STEN_LOG_ERROR);
    sten_log(ctx, STEN_LOG_DEBUG, "hidden %d", 1); /* above max level */
    CHECK_EQ(sink.calls, 1);
    sten_log(ctx, STEN_LOG_INFO, "shown %d", 2);
    CHECK_EQ(sink.calls, 2);
    CHECK_STR(sink.last, "shown 2");
    sten_ctx_clear_error(ctx);
    CHECK_STR(sten_ctx_error(ctx), "");
    sten_fail(ctx, STEN_E_IO, "third");
    CHECK_STR(sten_ctx_error(ctx), "third");
    sten_ctx_free(ctx);
    sten_ctx_free(NULL);
}

static void test_threads_setting(void)
{
    sten_ctx *ctx;
    sten_ctx_init(&ctx);
    CHECK(sten_ctx_threads(ctx) >= 1);
    sten_ctx_set_threads(ctx, 3);
    CHECK_EQ(sten_ctx_threads(ctx), 3);
    sten_ctx_set_threads(ctx, 0);
    CHECK(sten_ctx_threads(ctx) >= 1);
    CHECK(strstr(sten_blas_info(), "OpenMP") != NULL); /* never the pthread build */
    sten_ctx_free(ctx);
}

static void test_alloc_accounting(void)
{
    sten_ctx *ctx;
    sten_ctx_init(&ctx);
    void *a = sten_alloc(ctx, 100);
    void *b = sten_calloc(ctx, 10, 30);
    CHECK(a && b);
    CHECK_EQ((uintptr_t)a % 64, 0);
    CHECK_EQ((uintptr_t)b % 64, 0);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 400);
    CHECK_EQ(sten_ctx_live_allocs(ctx), 2);
    for (int i = 0; i < 300; i++)
        CHECK_EQ(((unsigned char *)b)[i], 0);
    sten_free(ctx, a);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 300);
    CHECK_EQ(sten_ctx_bytes_peak(ctx), 400);
    sten_free(ctx, b);
    sten_free(ctx, NULL);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    CHECK_EQ(sten_ctx_live_allocs(ctx), 0);

    /* the 2nd allocation from now fails, the 1st and 3rd succeed */
    sten_ctx_fail_alloc_at(ctx, 2);
    void *p1 = sten_alloc(ctx, 8), *p2 = sten_alloc(ctx, 8), *p3 = sten_alloc(ctx, 8);
    CHECK(p1 != NULL);
    CHECK(p2 == NULL);
    CHECK(p3 != NULL);
    CHECK_EQ(sten_ctx_error_status(ctx), STEN_E_NOMEM);
    CHECK(strstr(sten_ctx_error(ctx), "8 bytes") != NULL);
    sten_free(ctx, p1);
    sten_free(ctx, p3);
    sten_ctx_clear_error(ctx);

    /* overflowing calloc and a memory cap */
    CHECK(sten_calloc(ctx, SIZE_MAX / 2, 4) == NULL);
    sten_ctx_clear_error(ctx);
    sten_ctx_set_mem_limit(ctx, 1000);
    void *ok = sten_alloc(ctx, 600);
    CHECK(ok != NULL);
    CHECK(sten_alloc(ctx, 600) == NULL);
    CHECK(strstr(sten_ctx_error(ctx), "memory limit") != NULL);
    sten_free(ctx, ok);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
}

static void test_mat(void)
{
    sten_ctx *ctx;
    sten_ctx_init(&ctx);
    sten_mat m;
    CHECK_EQ(sten_mat_init(ctx, &m, 3, 17), STEN_OK);
    CHECK_EQ(m.ld, 32);
    CHECK_EQ((uintptr_t)m.data % 64, 0);
    sten_mat_fill(&m, 2.5f);
    CHECK(m.data[2 * m.ld + 16] == 2.5f);
    CHECK(m.data[2 * m.ld + 17] == 0.0f); /* padding untouched */
    sten_mat_free(ctx, &m);
    CHECK(m.data == NULL);
    sten_mat_free(ctx, &m); /* twice is harmless */
    CHECK_EQ(sten_mat_init(ctx, &m, -1, 4), STEN_E_INVALID);
    float buf[6] = {0};
    sten_mat v = sten_mat_view(buf, 2, 3, 3);
    sten_mat_fill(&v, 1.0f);
    sten_mat_free(ctx, &v); /* a view does not free */
    CHECK(buf[5] == 1.0f);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
}

static void test_csr_alloc_failures_leak_nothing(void)
{
    sten_ctx *ctx;
    sten_ctx_init(&ctx);
    for (long n = 1; n <= 3; n++) {
        sten_csr m;
        sten_ctx_fail_alloc_at(ctx, n);
        CHECK_EQ(sten_csr_init(ctx, &m, 10, 100, 50, true), STEN_E_NOMEM);
        CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
        CHECK_EQ(sten_ctx_live_allocs(ctx), 0);
        sten_ctx_clear_error(ctx);
    }
    sten_ctx_fail_alloc_at(ctx, 0);
    sten_ctx_free(ctx);
}

static void test_csr_validate_and_transpose(void)
{
    sten_ctx *ctx;
    sten_ctx_init(&ctx);
    sten_csr x, xt;
    /* 3 x 5: row0 {4:1.5, 1:2}, row1 {}, row2 {1:3, 0:4} */
    CHECK_EQ(sten_csr_init(ctx, &x, 3, 5, 4, true), STEN_OK);
    const uint64_t rp[] = {0, 2, 2, 4};
    const uint32_t col[] = {4, 1, 1, 0};
    const float val[] = {1.5f, 2.0f, 3.0f, 4.0f};
    memcpy(x.row_ptr, rp, sizeof rp);
    memcpy(x.col, col, sizeof col);
    memcpy(x.val, val, sizeof val);
    x.rows = 3;
    x.nnz = 4;
    CHECK_EQ(sten_csr_validate(ctx, &x), STEN_OK);

    CHECK_EQ(sten_csr_init(ctx, &xt, 4, 3, 4, true), STEN_OK);
    CHECK_EQ(sten_csr_transpose(ctx, &x, &xt), STEN_E_INVALID); /* 4 rows < 5 */
    CHECK(strstr(sten_ctx_error(ctx), "room for 4 rows, need 5") != NULL);
    sten_ctx_clear_error(ctx);
    sten_csr_free(ctx, &xt);
    CHECK_EQ(sten_csr_init(ctx, &xt, 5, 3, 4, true), STEN_OK);
    CHECK_EQ(sten_csr_transpose(ctx, &x, &xt), STEN_OK);
    CHECK_EQ(xt.rows, 5);
    CHECK_EQ(xt.cols, 3);
    const uint64_t want_rp[] = {0, 1, 3, 3, 3, 4};
    const uint32_t want_col[] = {2, 0, 2, 0};
    const float want_val[] = {4.0f, 2.0f, 3.0f, 1.5f};
    for (int i = 0; i < 6; i++)
        CHECK_EQ(xt.row_ptr[i], want_rp[i]);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(xt.col[i], want_col[i]);
        CHECK(xt.val[i] == want_val[i]);
    }
    CHECK_EQ(sten_csr_validate(ctx, &xt), STEN_OK);

    x.col[3] = 5; /* out of range */
    CHECK_EQ(sten_csr_validate(ctx, &x), STEN_E_INVALID);
    CHECK_STR(sten_ctx_error(ctx), "sparse batch: row 2 entry 1 has column 5, expected < 5");
    sten_ctx_clear_error(ctx);
    x.col[3] = 0;
    x.row_ptr[2] = 1; /* row 1 ends before it starts */
    CHECK_EQ(sten_csr_validate(ctx, &x), STEN_E_INVALID);
    CHECK(strstr(sten_ctx_error(ctx), "row 1 ends (1) before it starts (2)") != NULL);
    sten_csr_free(ctx, &x);
    sten_csr_free(ctx, &xt);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
}

static void test_philox_known_answers(void)
{
    /* Random123's kat_vectors for philox4x32-10 */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {~0u, ~0u, ~0u, ~0u, ~0u, ~0u, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int t = 0; t < 3; t++) {
        uint32_t out[4];
        sten_philox4x32(kat[t], kat[t] + 4, out);
        for (int i = 0; i < 4; i++)
            CHECK_EQ(out[i], kat[t][6 + i]);
    }
}

static void test_rng_streams(void)
{
    sten_rng a, b;
    sten_rng_init(&a, 42, 7);
    uint32_t seq[10];
    for (int i = 0; i < 10; i++)
        seq[i] = sten_rng_u32(&a);
    /* seeking lands on the same values, from any position */
    for (int start = 0; start < 10; start++) {
        sten_rng_init(&b, 42, 7);
        sten_rng_seek(&b, (uint64_t)start);
        for (int i = start; i < 10; i++)
            CHECK_EQ(sten_rng_u32(&b), seq[i]);
    }
    /* in bulk (sixteen blocks at a time, any start and length, a 64-bit
     * block counter that carries): the same values as one at a time */
    const uint64_t starts[] = {0, 1, 3, 61, 64, 1000003, (1ull << 34) - 5};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
        uint32_t bulk[301];
        sten_rng_init(&b, 42, 7);
        sten__rng_values(&b, starts[s], bulk, 301);
        sten_rng_seek(&b, starts[s]);
        for (int i = 0; i < 301; i++)
            CHECK_EQ(bulk[i], sten_rng_u32(&b));
    }
    /* different streams and seeds differ */
    sten_rng_init(&b, 42, 8);
    CHECK(sten_rng_u32(&b) != seq[0]);
    sten_rng_init(&b, 43, 7);
    CHECK(sten_rng_u32(&b) != seq[0]);

    /* uniform in [0,1), mean ~0.5; below(n) in range and roughly uniform;
     * normal has mean ~0 and variance ~1 */
    sten_rng_init(&a, 1, 0);
    double sum = 0, nsum = 0, nsq = 0;
    int hist[7] = {0};
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        float u = sten_rng_uniform(&a);
        CHECK(u >= 0.0f && u < 1.0f);
        sum += u;
        uint32_t k = sten_rng_below(&a, 7);
        CHECK(k < 7);
        hist[k]++;
        double z = sten_rng_normal(&a);
        nsum += z;
        nsq += z * z;
    }
    CHECK_NEAR(sum / n, 0.5, 0.01, 0);
    for (int k = 0; k < 7; k++)
        CHECK_NEAR(hist[k], n / 7.0, n / 7.0 * 0.03, 0);
    CHECK_NEAR(nsum / n, 0.0, 0.01, 0);
    CHECK_NEAR(nsq / n, 1.0, 0.02, 0);
    CHECK_EQ(sten_rng_below(&a, 1), 0);
}

static void test_parse_numbers(void)
{
    long long i;
    double d;
    CHECK_EQ(sten_parse_int("42", 2, 0, 100, &i), STEN_OK);
    CHECK_EQ(i, 42);
    CHECK_EQ(sten_parse_int("-7,", 2, -10, 10, &i), STEN_OK); /* slice, not string */
    CHECK_EQ(i, -7);
    CHECK_EQ(sten_parse_int("101", 3, 0, 100, &i), STEN_E_RANGE);
    CHECK_EQ(sten_parse_int("99999999999999999999", 20, 0, 100, &i), STEN_E_RANGE);
    CHECK_EQ(sten_parse_int("4x", 2, 0, 100, &i), STEN_E_PARSE);
    CHECK_EQ(sten_parse_int(" 4", 2, 0, 100, &i), STEN_E_PARSE);
    CHECK_EQ(sten_parse_int("", 0, 0, 100, &i), STEN_E_PARSE);
    CHECK_EQ(sten_parse_int("1.5", 3, 0, 100, &i), STEN_E_PARSE);
    CHECK_EQ(sten_parse_double("3.5", 3, &d), STEN_OK);
    CHECK(d == 3.5);
    CHECK_EQ(sten_parse_double("-1e-3", 5, &d), STEN_OK);
    CHECK(d == -1e-3);
    CHECK_EQ(sten_parse_double("1e999", 5, &d), STEN_E_RANGE);
    CHECK_EQ(sten_parse_double("nan", 3, &d), STEN_E_PARSE);
    CHECK_EQ(sten_parse_double("inf", 3, &d), STEN_E_PARSE);
    CHECK_EQ(sten_parse_double("0x10", 4, &d), STEN_E_PARSE);
    CHECK_EQ(sten_parse_double("2.5abc", 6, &d), STEN_E_PARSE);
    CHECK_EQ(sten_parse_double("\t1", 2, &d), STEN_E_PARSE);
    CHECK_EQ(sten_parse_double("5.", 2, &d), STEN_OK); /* as strtod */
    CHECK(d == 5.0);
    CHECK_EQ(sten_parse_double("-", 1, &d), STEN_E_PARSE);
    CHECK_EQ(sten_parse_double(".", 1, &d), STEN_E_PARSE);
    CHECK_EQ(sten_parse_double("1.2.3", 5, &d), STEN_E_PARSE);
    CHECK_EQ(sten_parse_int("-", 1, -10, 10, &i), STEN_E_PARSE);
    CHECK_EQ(sten_parse_int("+7", 2, -10, 10, &i), STEN_OK);
    CHECK_EQ(i, 7);
    /* the fast paths agree with strtod/strtoll bit for bit */
    sten_rng r;
    sten_rng_init(&r, 77, 0);
    char num[40];
    int bad = 0;
    for (int k = 0; k < 100000; k++) {
        const int n = snprintf(num, sizeof num, "%s%u.%0*u", sten_rng_below(&r, 2) ? "-" : "",
                               sten_rng_below(&r, 100000), (int)(1 + sten_rng_below(&r, 7)),
                               sten_rng_below(&r, 10000000));
        double got;
        if (sten_parse_double(num, (size_t)n, &got) != STEN_OK || got != strtod(num, NULL))
            bad++;
        const int m = snprintf(num, sizeof num, "%lld", (long long)sten_rng_u32(&r) * 1000003 - 2000000000000LL);
        long long gi;
        if (sten_parse_int(num, (size_t)m, INT64_MIN, INT64_MAX, &gi) != STEN_OK || gi != strtoll(num, NULL, 10))
            bad++;
    }
    CHECK_EQ(bad, 0);
}

static void test_atomic_file_and_lines(void)
{
    sten_ctx *ctx;
    sten_ctx_init(&ctx);
    char dir[] = "/tmp/sten_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/out.txt", dir);

    /* an aborted write leaves neither the target nor a temporary behind */
    sten__afile af;
    CHECK_EQ(sten__afile_open(ctx, &af, path), STEN_OK);
    fputs("half", af.f);
    sten__afile_abort(ctx, &af);
    CHECK(access(path, F_OK) != 0);

    CHECK_EQ(sten__afile_open(ctx, &af, path), STEN_OK);
    fputs("a\tb\r\n\nlast", af.f);
    CHECK(access(path, F_OK) != 0); /* not visible before commit */
    CHECK_EQ(sten__afile_commit(ctx, &af), STEN_OK);

    sten__lines r;
    char *line;
    size_t len;
    CHECK_EQ(sten__lines_open(ctx, &r, path), STEN_OK);
    CHECK_EQ(sten__lines_next(ctx, &r, &line, &len), 1);
    CHECK_STR(line, "a\tb"); /* CRLF stripped */
    CHECK_EQ(len, 3);
    CHECK_EQ(sten__lines_next(ctx, &r, &line, &len), 1);
    CHECK_EQ(len, 0);
    CHECK_EQ(sten__lines_next(ctx, &r, &line, &len), 1);
    CHECK_STR(line, "last"); /* no final newline */
    CHECK_EQ(r.lineno, 3);
    CHECK_EQ(sten__lines_next(ctx, &r, &line, &len), 0);
    sten__lines_close(&r);

    /* a line across read-ahead blocks */
    CHECK_EQ(sten__afile_open(ctx, &af, path), STEN_OK);
    for (int i = 0; i < 200000; i++)
        fputc('x', af.f);
    fputs("\nshort\n", af.f);
    CHECK_EQ(sten__afile_commit(ctx, &af), STEN_OK);
    CHECK_EQ(sten__lines_open(ctx, &r, path), STEN_OK);
    CHECK_EQ(sten__lines_next(ctx, &r, &line, &len), 1);
    CHECK_EQ(len, 200000);
    CHECK(line[0] == 'x' && line[199999] == 'x' && line[200000] == '\0');
    CHECK_EQ(sten__lines_next(ctx, &r, &line, &len), 1);
    CHECK_STR(line, "short");
    sten__lines_close(&r);
    /* a line over the limit is refused with its number, before more than
     * the limit is held */
    CHECK_EQ(sten__afile_open(ctx, &af, path), STEN_OK);
    fputs("short\n", af.f);
    for (int i = 0; i < 100000; i++)
        fputc('y', af.f);
    fputs("\nnever\n", af.f);
    CHECK_EQ(sten__afile_commit(ctx, &af), STEN_OK);
    CHECK_EQ(sten__lines_open(ctx, &r, path), STEN_OK);
    r.max_line = 1000;
    CHECK_EQ(sten__lines_next(ctx, &r, &line, &len), 1);
    CHECK_STR(line, "short");
    CHECK_EQ(sten__lines_next(ctx, &r, &line, &len), -1);
    char want[400];
    snprintf(want, sizeof want, "%s:2: the line is longer than 1000 bytes (the limit of a line)", path);
    CHECK_STR(sten_ctx_error(ctx), want);
    CHECK(r.cap <= 1024);
    sten_ctx_clear_error(ctx);
    sten__lines_close(&r);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.txt", dir);
    CHECK_EQ(sten__lines_open(ctx, &r, missing), STEN_E_NOTFOUND);
    CHECK(strstr(sten_ctx_error(ctx), "none.txt: cannot open") != NULL);
    sten_ctx_clear_error(ctx);

    /* a temporary in a directory that does not exist: clear error */
    snprintf(missing, sizeof missing, "%s/no/such/dir/out.nc", dir);
    CHECK_EQ(sten__afile_open(ctx, &af, missing), STEN_E_IO);
    CHECK(strstr(sten_ctx_error(ctx), "cannot create a temporary") != NULL);
    unlink(path);
    rmdir(dir);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
}

/* Which OpenBLAS core types count as generic on which CPU, and what replaces them. */
static void test_blas_core_judge(void)
{
    /* constants, so the static table below can use them at any optimisation level */
    enum {
        avx = STEN__CPU_AVX, avx2 = avx | STEN__CPU_AVX2, avx512 = avx2 | STEN__CPU_AVX512,
        bf16 = avx512 | STEN__CPU_AVX512_BF16
    };
    static const struct {
        const char *core;
        unsigned cpu;
        const char *kernels, *best;
        bool generic, older;
    } cases[] = {
        /* the issue: a Sapphire Rapids that OpenBLAS 0.3.21 sends to Prescott */
        {"Prescott", bf16, "SSE3", "Cooperlake", true, true},
        {"prescott", bf16, "SSE3", "Cooperlake", true, true}, /* OpenBLAS compares without case */
        {"Prescott", avx512, "SSE3", "SkylakeX", true, true},
        {"Prescott", avx2, "SSE3", "Haswell", true, true},
        {"Prescott", avx, "SSE3", "Sandybridge", true, true},
        {"Prescott", 0, "SSE3", "Prescott", false, false}, /* nothing better on an SSE-only CPU */
        {"Nehalem", avx2, "SSE4.2", "Haswell", true, true},
        {"Core2", avx512, "SSSE3", "SkylakeX", true, true},
        {"Barcelona", avx2, "SSE4a", "Haswell", true, true},
        /* vector kernels of an older generation: older, not generic */
        {"Sandybridge", avx2, "AVX", "Haswell", false, true},
        {"Haswell", bf16, "AVX2", "Cooperlake", false, true},
        {"Zen", avx512, "AVX2", "SkylakeX", false, true},
        {"SkylakeX", bf16, "AVX-512", "Cooperlake", false, true},
        /* the right one */
        {"Haswell", avx2, "AVX2", "Haswell", false, false},
        {"Zen", avx2, "AVX2", "Zen", false, false},
        {"SkylakeX", avx512, "AVX-512", "SkylakeX", false, false},
        {"Cooperlake", bf16, "AVX-512 BF16", "Cooperlake", false, false},
        {"SapphireRapids", bf16, "AVX-512 BF16", "SapphireRapids", false, false},
        /* newer than the CPU (a forced core): not older */
        {"SkylakeX", avx2, "AVX-512", "SkylakeX", false, false},
        /* AVX-512 bits without AVX2 are not believed: the CPU counts as AVX only */
        {"Prescott", avx | STEN__CPU_AVX512, "SSE3", "Sandybridge", true, true},
        /* names sten does not know (another architecture, a later release) are left alone */
        {"ARMV8", bf16, "unknown", "ARMV8", false, false},
        {"Zen4", bf16, "unknown", "Zen4", false, false},
        {"", bf16, "unknown", "", false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sten_blas_core c;
        sten__blas_core_judge(cases[i].core, cases[i].cpu, &c);
        CHECK_STR(c.core, cases[i].core);
        CHECK_STR(c.kernels, cases[i].kernels);
        CHECK_STR(c.best, cases[i].best);
        CHECK_EQ(c.generic, cases[i].generic);
        CHECK_EQ(c.older, cases[i].older);
    }
    sten_blas_core c;
    sten__blas_core_judge(NULL, bf16, &c);
    CHECK_STR(c.core, "unknown");
    CHECK(!c.generic && !c.older);
    /* the live answer is the rule applied to OpenBLAS's name and this CPU */
    sten_blas_core live, rule;
    sten_blas_core_get(&live);
    sten__blas_core_judge(live.core, sten__cpu_features(), &rule);
    CHECK_STR(live.core, openblas_get_corename());
    CHECK_STR(live.best, rule.best);
    CHECK_EQ(live.generic, rule.generic);
    CHECK_EQ(live.older, rule.older);
}

int main(void)
{
    RUN(test_status_strings);
    RUN(test_first_error_wins);
    RUN(test_threads_setting);
    RUN(test_alloc_accounting);
    RUN(test_mat);
    RUN(test_csr_alloc_failures_leak_nothing);
    RUN(test_csr_validate_and_transpose);
    RUN(test_philox_known_answers);
    RUN(test_rng_streams);
    RUN(test_parse_numbers);
    RUN(test_atomic_file_and_lines);
    RUN(test_blas_core_judge);
    return CHECK_DONE();
}
