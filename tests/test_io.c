/* test_io.c — data files: index files (good and bad), the DSSTNE text reader
 * (CRLF, directories, duplicates, unknown features, errors with positions),
 * and NetCDF datasets of every kind sten reads, written here with libnetcdf
 * directly where sten's writer does not produce them; round trips; refusals;
 * Criteo TSV (hashing, vocabulary, plain and gzip, errors); who frees a
 * dataset; SageMaker's JSON inference input. */
#include "check.h"
#include "sten.h"

#include <netcdf.h>
#include <zlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_MIN_(a, b) ((a) < (b) ? (a) : (b))

static sten_ctx *ctx;
static char dir[64];

static const char *path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");
    fputs(text, f);
    fclose(f);
}

static void expect_index_error(const char *text, const char *msg)
{
    write_file("bad.idx", text);
    sten_index *ix;
    sten_index_new(ctx, &ix);
    CHECK_EQ(sten_index_load(ctx, ix, path("bad.idx")), STEN_E_PARSE);
    char want[512];
    snprintf(want, sizeof want, "%s/bad.idx%s", dir, msg);
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
    sten_index_free(ctx, ix);
}

static void test_index_files(void)
{
    write_file("f.idx", "b\t3\na\t0\n\nc\t7\n");
    sten_index *ix;
    CHECK_EQ(sten_index_new(ctx, &ix), STEN_OK);
    CHECK_EQ(sten_index_load(ctx, ix, path("f.idx")), STEN_OK);
    CHECK_EQ(sten_index_size(ix), 3);
    CHECK_EQ(sten_index_span(ix), 8);
    uint32_t id;
    CHECK(sten_index_find(ix, "c", 1, &id) && id == 7);
    CHECK(!sten_index_find(ix, "d", 1, &id));
    CHECK_EQ(sten_index_add(ctx, ix, "d", 1, &id), STEN_OK);
    CHECK_EQ(id, 8);
    CHECK_STR(sten_index_label(ix, 3), "b");
    CHECK(sten_index_label(ix, 4) == NULL);
    CHECK_EQ(sten_index_save(ctx, ix, path("g.idx")), STEN_OK);
    FILE *f = fopen(path("g.idx"), "r");
    char got[64] = {0};
    CHECK_EQ(fread(got, 1, sizeof got - 1, f), 16);
    fclose(f);
    CHECK_STR(got, "a\t0\nb\t3\nc\t7\nd\t8\n"); /* in integer order */
    sten_index_free(ctx, ix);
    expect_index_error("a\t1\nb 2\n", ":2: expected \"label<TAB>integer\", found no TAB");
    expect_index_error("\t1\n", ":1: expected \"label<TAB>integer\", the label is empty");
    expect_index_error("a\tx1\n", ":1:3: expected an integer in [0, 4294967294], got \"x1\"");
    expect_index_error("a\t1\na\t2\n", ":2: duplicate label \"a\" (already 1)");
    expect_index_error("a\t1\nb\t1\n", ":2: duplicate integer 1 (already \"a\")");
    /* a 13-byte file naming integer 4294967294 is refused before a 16 GiB
     * table is allocated for it */
    write_file("far.idx", "a\t4294967294\n");
    sten_index_new(ctx, &ix);
    CHECK_EQ(sten_index_load(ctx, ix, path("far.idx")), STEN_E_RANGE);
    CHECK(strstr(sten_ctx_error(ctx), "far.idx:1: integer 4294967294 is far beyond the file's 1 entries"));
    CHECK(sten_ctx_bytes_in_use(ctx) < (1u << 20));
    sten_ctx_clear_error(ctx);
    sten_index_free(ctx, ix);
    /* a NUL byte inside a label: refused with its column */
    f = fopen(path("nul.idx"), "wb");
    fwrite("a\t1\nc\0d\t3\n", 1, 11, f);
    fclose(f);
    sten_index_new(ctx, &ix);
    CHECK_EQ(sten_index_load(ctx, ix, path("nul.idx")), STEN_E_PARSE);
    CHECK(strstr(sten_ctx_error(ctx), "nul.idx:2:2: a NUL byte in the label"));
    sten_ctx_clear_error(ctx);
    sten_index_free(ctx, ix);
}

static void test_text_reader(void)
{
    sten_index *feat, *samp;
    sten_index_new(ctx, &feat);
    sten_index_new(ctx, &samp);
    /* CRLF, trailing ':', values, a repeated feature, a repeated sample */
    write_file("t.txt", "u1\ta,1.5:b:\r\nu2\tb,2:a,3:b,4\r\n\nu1\tc,7,9\n");
    sten_csr x;
    uint32_t *ids;
    sten_text_stats ts;
    CHECK_EQ(sten_text_read(ctx, path("t.txt"), feat, true, samp, true, &x, &ids, &ts), STEN_OK);
    CHECK_EQ(x.rows, 2);
    CHECK_EQ(ts.replaced_samples, 1);
    CHECK_EQ(ts.duplicate_features, 1);
    CHECK_EQ(ts.extra_values, 1);
    CHECK_EQ(ts.lines, 4);
    /* row 0 = u1's later line {c:7}; row 1 = u2 {b:4, a:3} */
    CHECK_EQ(x.row_ptr[1], 1);
    CHECK_EQ(x.col[0], 2);
    CHECK(x.val[0] == 7.0f);
    CHECK_EQ(x.row_ptr[2], 3);
    CHECK_EQ(x.col[1], 1);
    CHECK(x.val[1] == 4.0f);
    CHECK(x.val[2] == 3.0f);
    sten_csr_free(ctx, &x);
    sten_free(ctx, ids);
    /* read-only features: unknown ones are counted, not silently lost */
    write_file("u.txt", "u3\ta:zz:yy\n");
    CHECK_EQ(sten_text_read(ctx, path("u.txt"), feat, false, samp, false, &x, &ids, &ts), STEN_OK);
    CHECK_EQ(ts.unknown_features, 2);
    CHECK_EQ(x.nnz, 1);
    CHECK(x.val == NULL);
    sten_csr_free(ctx, &x);
    sten_free(ctx, ids);
    /* a directory: files in name order */
    mkdir(path("d"), 0755);
    write_file("d/2.txt", "s2\ta\n");
    write_file("d/1.txt", "s1\tb\n");
    sten_index *s2;
    sten_index_new(ctx, &s2);
    CHECK_EQ(sten_text_read(ctx, path("d"), feat, false, s2, false, &x, &ids, &ts), STEN_OK);
    CHECK_STR(sten_index_label(s2, 0), "s1");
    CHECK_EQ(x.rows, 2);
    sten_csr_free(ctx, &x);
    sten_free(ctx, ids);
    sten_index_free(ctx, s2);
    /* errors with positions */
    write_file("e.txt", "u1\ta,1\nu2\ta,1e\n");
    CHECK_EQ(sten_text_read(ctx, path("e.txt"), feat, true, samp, true, &x, &ids, &ts), STEN_E_PARSE);
    char want[256];
    snprintf(want, sizeof want, "%s/e.txt:2:6: feature \"a\": value \"1e\" is not a number", dir);
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
    write_file("e2.txt", "u1\t,3\n");
    CHECK_EQ(sten_text_read(ctx, path("e2.txt"), feat, true, samp, true, &x, &ids, &ts), STEN_E_PARSE);
    snprintf(want, sizeof want, "%s/e2.txt:1:4: expected a feature name before ','", dir);
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
    /* a UTF-8 byte order mark before the first label is not part of it */
    write_file("bom.txt", "\xEF\xBB\xBFu9\ta\n");
    CHECK_EQ(sten_text_read(ctx, path("bom.txt"), feat, true, samp, true, &x, &ids, &ts), STEN_OK);
    uint32_t sid;
    CHECK(sten_index_find(samp, "u9", 2, &sid));
    sten_csr_free(ctx, &x);
    sten_free(ctx, ids);
    /* a NUL byte: refused with its position, not read as the line's end */
    FILE *f = fopen(path("nul.txt"), "wb");
    fwrite("u1\ta\nu2\tb\0c\n", 1, 13, f);
    fclose(f);
    CHECK_EQ(sten_text_read(ctx, path("nul.txt"), feat, true, samp, true, &x, &ids, &ts), STEN_E_PARSE);
    snprintf(want, sizeof want, "%s/nul.txt:2:5: a NUL byte (is this a text file?)", dir);
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
    /* one sample with 300000 distinct features and one repeat: every
     * feature kept, the repeat counted (the check is linear in the line) */
    f = fopen(path("wide.txt"), "w");
    fputs("wide\t", f);
    for (int i = 0; i < 300000; i++)
        fprintf(f, "w%d:", i);
    fputs("w7\n", f);
    fclose(f);
    CHECK_EQ(sten_text_read(ctx, path("wide.txt"), feat, true, samp, true, &x, &ids, &ts), STEN_OK);
    CHECK_EQ(x.rows, 1);
    CHECK_EQ(x.nnz, 300000);
    CHECK_EQ(ts.duplicate_features, 1);
    sten_csr_free(ctx, &x);
    sten_free(ctx, ids);
    sten_index_free(ctx, feat);
    sten_index_free(ctx, samp);
}

/* A sparse dataset written by hand with netCDF: values of type vt, start/end
 * of type st, optional weights/index, to check every variant is read. */
static void write_variant(const char *file, nc_type vt, nc_type st, bool weighted, bool indexed,
                          uint32_t data_type, uint32_t attributes)
{
    int nc, d_ex, d_nz, d_u, v;
    nc_create(path(file), NC_CLOBBER | NC_NETCDF4, &nc);
    unsigned one = 1, n = 2, w = 5;
    nc_put_att_uint(nc, NC_GLOBAL, "datasets", NC_UINT, 1, &one);
    nc_put_att_text(nc, NC_GLOBAL, "name0", 4, "data");
    nc_put_att_uint(nc, NC_GLOBAL, "attributes0", NC_UINT, 1, &attributes);
    nc_put_att_uint(nc, NC_GLOBAL, "dataType0", NC_UINT, 1, &data_type);
    nc_put_att_uint(nc, NC_GLOBAL, "dimensions0", NC_UINT, 1, &one);
    nc_put_att_uint(nc, NC_GLOBAL, "width0", NC_UINT, 1, &w);
    nc_def_dim(nc, "examplesDim0", indexed ? 3 : 2, &d_ex);
    nc_def_dim(nc, "sparseDataDim0", 3, &d_nz);
    int rows = d_ex;
    if (indexed) {
        nc_def_dim(nc, "uniqueExamplesDim0", n, &d_u);
        rows = d_u;
    }
    int vs, ve, vi, vd = -1, vw = -1, vx = -1;
    nc_def_var(nc, "sparseStart0", st, 1, &rows, &vs);
    nc_def_var(nc, "sparseEnd0", st, 1, &rows, &ve);
    nc_def_var(nc, "sparseIndex0", NC_UINT, 1, &d_nz, &vi);
    if (!(attributes & STEN_DS_BOOLEAN))
        nc_def_var(nc, "sparseData0", vt, 1, &d_nz, &vd);
    if (weighted)
        nc_def_var(nc, "dataWeight0", NC_FLOAT, 1, &d_ex, &vw);
    if (indexed)
        nc_def_var(nc, "index0", NC_UINT, 1, &d_ex, &vx);
    nc_enddef(nc);
    const unsigned long long s[2] = {0, 1}, e[2] = {1, 3};
    const unsigned idx[3] = {4, 0, 2};
    const double val[3] = {2.0, 3.0, 4.0};
    const float wt[3] = {0.5f, 2.0f, 1.0f};
    const unsigned ex_index[3] = {1, 0, 1};
    nc_put_var_ulonglong(nc, vs, s);
    nc_put_var_ulonglong(nc, ve, e);
    nc_put_var_uint(nc, vi, idx);
    if (vd >= 0)
        nc_put_var_double(nc, vd, val);
    if (vw >= 0)
        nc_put_var_float(nc, vw, wt);
    if (vx >= 0)
        nc_put_var_uint(nc, vx, ex_index);
    (void)v;
    nc_close(nc);
}

static void test_netcdf_variants(void)
{
    static const struct {
        nc_type vt, st;
        uint32_t dt;
        float scale;
    } kinds[] = {{NC_FLOAT, NC_UINT, 4, 1}, {NC_DOUBLE, NC_UINT64, 5, 1}, {NC_UINT, NC_UINT, 0, 1},
                 {NC_INT, NC_UINT64, 1, 1}, {NC_UBYTE, NC_UINT, 8, 1.0f / 256}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        write_variant("v.nc", kinds[k].vt, kinds[k].st, k == 1, k == 3, kinds[k].dt,
                      STEN_DS_SPARSE | (k == 1 ? STEN_DS_WEIGHTED : 0) | (k == 3 ? STEN_DS_INDEXED : 0));
        sten_dataset *ds;
        size_t n;
        CHECK_EQ(sten_dataset_read_netcdf(ctx, path("v.nc"), &ds, &n), STEN_OK);
        if (sten_ctx_error_status(ctx)) {
            fprintf(stderr, "  %s\n", sten_ctx_error(ctx));
            sten_ctx_clear_error(ctx);
            continue;
        }
        CHECK_EQ(n, 1);
        CHECK_STR(ds[0].name, "data");
        CHECK_EQ(ds[0].sparse.rows, 2);
        CHECK_EQ(ds[0].sparse.row_ptr[2], 3);
        CHECK_EQ(ds[0].sparse.col[0], 4);
        CHECK_NEAR(ds[0].sparse.val[2], 4.0 * kinds[k].scale, 1e-6, 0);
        if (k == 1)
            CHECK(ds[0].weight && ds[0].weight[1] == 2.0f);
        if (k == 3) {
            CHECK_EQ(ds[0].examples, 3);
            CHECK_EQ(ds[0].unique, 2);
            CHECK_EQ(ds[0].index[2], 1);
        }
        sten_datasets_free(ctx, ds, n);
    }
    /* refusals name the file, the attribute and the value */
    write_variant("r.nc", NC_FLOAT, NC_UINT, false, false, 7, STEN_DS_SPARSE);
    sten_dataset *ds;
    size_t n;
    CHECK_EQ(sten_dataset_read_netcdf(ctx, path("r.nc"), &ds, &n), STEN_E_FORMAT);
    char want[512];
    snprintf(want, sizeof want, "%s/r.nc: attribute dataType0 = 7 (supported: 0 UInt, 1 Int, 4 Float, "
             "5 Double, 6 RGB8, 8 UChar, 9 Char)", dir);
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
    write_variant("r2.nc", NC_FLOAT, NC_UINT, false, false, 4, STEN_DS_SPARSE | STEN_DS_WEIGHTED);
    CHECK_EQ(sten_dataset_read_netcdf(ctx, path("r2.nc"), &ds, &n), STEN_E_FORMAT);
    CHECK(strstr(sten_ctx_error(ctx), "variable dataWeight0") != NULL);
    sten_ctx_clear_error(ctx);
    CHECK_EQ(sten_dataset_read_netcdf(ctx, path("none.nc"), &ds, &n), STEN_E_NOTFOUND);
    sten_ctx_clear_error(ctx);
}

/* sten's writer: several datasets (sparse analog, boolean, dense, weighted)
 * in one file, read back identically; failures leave no file. */
static void test_write_read_round_trip(void)
{
    sten_dataset d[3];
    memset(d, 0, sizeof d);
    d[0].name = "a";
    d[0].attributes = STEN_DS_SPARSE;
    d[0].dtype = 4;
    d[0].dims = 1;
    d[0].width = 128;
    d[0].examples = d[0].unique = 2;
    sten_csr_init(ctx, &d[0].sparse, 2, 128, 3, true);
    const uint32_t col[3] = {5, 1, 127};
    const float val[3] = {0.5f, 1.5f, -2.0f};
    memcpy(d[0].sparse.col, col, sizeof col);
    memcpy(d[0].sparse.val, val, sizeof val);
    d[0].sparse.row_ptr[1] = 1;
    d[0].sparse.row_ptr[2] = 3;
    d[0].sparse.rows = 2;
    d[0].sparse.nnz = 3;
    d[1] = d[0];
    d[1].name = "b";
    d[1].attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN | STEN_DS_WEIGHTED;
    d[1].sparse.val = NULL;
    float w[2] = {1.0f, 3.0f};
    d[1].weight = w;
    float dense[2 * 3] = {1, 2, 3, 4, 5, 6};
    d[2].name = "c";
    d[2].dims = 1;
    d[2].width = 3;
    d[2].examples = d[2].unique = 2;
    d[2].dense = dense;
    CHECK_EQ(sten_dataset_write_netcdf(ctx, path("rt.nc"), d, 3), STEN_OK);
    sten_dataset *r;
    size_t n;
    CHECK_EQ(sten_dataset_read_netcdf(ctx, path("rt.nc"), &r, &n), STEN_OK);
    CHECK_EQ(n, 3);
    if (n == 3) {
        CHECK(memcmp(r[0].sparse.col, col, sizeof col) == 0);
        CHECK(memcmp(r[0].sparse.val, val, sizeof val) == 0);
        CHECK(r[1].sparse.val == NULL);
        CHECK(r[1].weight[1] == 3.0f);
        CHECK(memcmp(r[2].dense, dense, sizeof dense) == 0);
        CHECK_STR(r[2].name, "c");
    }
    sten_datasets_free(ctx, r, n);
    /* rows without a single entry (analog and boolean) read back as empty rows */
    sten_dataset e[2];
    memset(e, 0, sizeof e);
    e[0].name = "empty";
    e[0].attributes = STEN_DS_SPARSE;
    e[0].dtype = 4;
    e[0].dims = 1;
    e[0].width = 16;
    e[0].examples = e[0].unique = 3;
    CHECK_EQ(sten_csr_init(ctx, &e[0].sparse, 3, 16, 1, true), STEN_OK);
    e[0].sparse.rows = 3;
    e[0].sparse.nnz = 0;
    memset(e[0].sparse.row_ptr, 0, 4 * sizeof *e[0].sparse.row_ptr);
    e[1] = e[0];
    e[1].name = "emptybool";
    e[1].attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
    e[1].sparse.val = NULL;
    CHECK_EQ(sten_dataset_write_netcdf(ctx, path("empty.nc"), e, 2), STEN_OK);
    CHECK_EQ(sten_dataset_read_netcdf(ctx, path("empty.nc"), &r, &n), STEN_OK);
    CHECK_EQ(n, 2);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(r[i].sparse.rows, 3);
        CHECK_EQ(r[i].sparse.row_ptr[3], 0);
    }
    sten_datasets_free(ctx, r, n);
    e[1].sparse.val = e[0].sparse.val;
    sten_csr_free(ctx, &e[0].sparse);
    /* every allocation failure while reading is clean */
    const size_t before = sten_ctx_bytes_in_use(ctx);
    for (long k = 1; k < 200; k++) {
        sten_ctx_fail_alloc_at(ctx, k);
        const sten_status st = sten_dataset_read_netcdf(ctx, path("rt.nc"), &r, &n);
        sten_ctx_fail_alloc_at(ctx, 0);
        sten_ctx_clear_error(ctx);
        if (st == STEN_OK) {
            sten_datasets_free(ctx, r, n);
            break;
        }
        CHECK_EQ(sten_ctx_bytes_in_use(ctx), before);
    }
    /* a failing write leaves nothing behind */
    d[0].sparse.rows = 5; /* inconsistent */
    CHECK_EQ(sten_dataset_write_netcdf(ctx, path("bad.nc"), d, 1), STEN_E_INVALID);
    sten_ctx_clear_error(ctx);
    CHECK(access(path("bad.nc"), F_OK) != 0);
    d[0].sparse.rows = 2;
    sten_csr_free(ctx, &d[0].sparse); /* d[1] only borrowed these arrays */
}

/* Stripes (sten_dataset_read_netcdf_part, data-parallel training): stripe
 * p of P keeps example p + k P as its row k, for sparse analog and boolean
 * rows, weights and dense rows; rows longer than a read block too; the
 * stripes of P = 1 are the whole file. */
static void check_stripe_rows(const sten_dataset *whole, const sten_dataset *part, uint32_t p, uint32_t P)
{
    CHECK_EQ(part->examples, (whole->examples - p + P - 1) / P);
    for (uint64_t k = 0; k < part->examples; k++) {
        const uint64_t g = p + k * P;
        if (whole->attributes & STEN_DS_SPARSE) {
            const uint64_t a = whole->sparse.row_ptr[g], len = whole->sparse.row_ptr[g + 1] - a;
            const uint64_t b = part->sparse.row_ptr[k];
            CHECK_EQ(part->sparse.row_ptr[k + 1] - b, len);
            CHECK(memcmp(part->sparse.col + b, whole->sparse.col + a, len * 4) == 0);
            if (whole->sparse.val)
                CHECK(memcmp(part->sparse.val + b, whole->sparse.val + a, len * 4) == 0);
        } else {
            CHECK(memcmp(part->dense + k * whole->width, whole->dense + g * whole->width, whole->width * 4) == 0);
        }
        if (whole->weight)
            CHECK(part->weight[k] == whole->weight[g]);
    }
}

static void test_netcdf_stripes(void)
{
    enum { ROWS = 1001 };
    sten_dataset d[4];
    memset(d, 0, sizeof d);
    sten_rng r;
    sten_rng_init(&r, 7, 0);
    d[0].name = "x";
    d[0].attributes = STEN_DS_SPARSE | STEN_DS_WEIGHTED;
    d[0].dtype = 4;
    d[0].dims = 1;
    d[0].width = 256;
    d[0].examples = d[0].unique = ROWS;
    CHECK_EQ(sten_csr_init(ctx, &d[0].sparse, ROWS, 256, ROWS * 8, true), STEN_OK);
    uint64_t e = 0;
    for (uint32_t i = 0; i < ROWS; i++) {
        const uint32_t len = i % 17 == 3 ? 0 : sten_rng_below(&r, 8) + 1;
        for (uint32_t j = 0; j < len; j++, e++) {
            d[0].sparse.col[e] = (i * 7 + j * 31) % 256;
            d[0].sparse.val[e] = sten_rng_uniform(&r);
        }
        d[0].sparse.row_ptr[i + 1] = e;
    }
    d[0].sparse.rows = ROWS;
    d[0].sparse.nnz = e;
    float *w = malloc(ROWS * sizeof *w), *dense = malloc(ROWS * 3 * sizeof *dense);
    for (uint32_t i = 0; i < ROWS; i++) {
        w[i] = (float)i;
        for (int c = 0; c < 3; c++)
            dense[i * 3 + c] = (float)(i * 3 + c);
    }
    d[0].weight = w;
    d[1] = d[0];
    d[1].name = "y";
    d[1].attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
    d[1].sparse.val = NULL;
    d[1].weight = NULL;
    d[2].name = "z";
    d[2].dims = 1;
    d[2].width = 3;
    d[2].examples = d[2].unique = ROWS;
    d[2].dense = dense;
    /* three rows, the middle one longer than a read block (2^22 entries) */
    const uint32_t long_len = (1u << 22) + 5;
    d[3].name = "long";
    d[3].attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
    d[3].dims = 1;
    d[3].width = 1u << 23;
    d[3].examples = d[3].unique = 3;
    CHECK_EQ(sten_csr_init(ctx, &d[3].sparse, 3, 1u << 23, long_len + 2, false), STEN_OK);
    d[3].sparse.col[0] = 9;
    for (uint32_t j = 0; j < long_len; j++)
        d[3].sparse.col[1 + j] = j;
    d[3].sparse.col[long_len + 1] = 4;
    d[3].sparse.row_ptr[1] = 1;
    d[3].sparse.row_ptr[2] = long_len + 1;
    d[3].sparse.row_ptr[3] = long_len + 2;
    d[3].sparse.rows = 3;
    d[3].sparse.nnz = long_len + 2;
    CHECK_EQ(sten_dataset_write_netcdf(ctx, path("stripes.nc"), d, 3), STEN_OK);
    CHECK_EQ(sten_dataset_write_netcdf(ctx, path("long.nc"), d + 3, 1), STEN_OK);
    for (uint32_t P = 1; P <= 4; P++)
        for (uint32_t p = 0; p < P; p++) {
            sten_dataset *s;
            size_t n;
            CHECK_EQ(sten_dataset_read_netcdf_part(ctx, path("stripes.nc"), p, P, &s, &n), STEN_OK);
            CHECK_EQ(n, 3);
            for (size_t i = 0; i < n && n == 3; i++)
                check_stripe_rows(&d[i], &s[i], p, P);
            sten_datasets_free(ctx, s, n);
            if (P > 2)
                continue;
            CHECK_EQ(sten_dataset_read_netcdf_part(ctx, path("long.nc"), p, P, &s, &n), STEN_OK);
            if (n == 1)
                check_stripe_rows(&d[3], &s[0], p, P);
            sten_datasets_free(ctx, s, n);
        }
    /* more ranks than examples, and a stripe that does not exist */
    sten_dataset *s = NULL;
    size_t n = 0;
    CHECK_EQ(sten_dataset_read_netcdf_part(ctx, path("long.nc"), 3, 4, &s, &n), STEN_E_FORMAT);
    CHECK(strstr(sten_ctx_error(ctx), "fewer examples than ranks") != NULL);
    sten_ctx_clear_error(ctx);
    CHECK_EQ(sten_dataset_read_netcdf_part(ctx, path("long.nc"), 4, 4, &s, &n), STEN_E_INVALID);
    sten_ctx_clear_error(ctx);
    CHECK(s == NULL && n == 0);
    sten_csr_free(ctx, &d[0].sparse);
    sten_csr_free(ctx, &d[3].sparse);
    free(w), free(dense);
}

/* ---- index fingerprints: their definition, their dataset attributes, the
 * check predict and serve make */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static sten_index *load_index(const char *name, const char *text)
{
    write_file(name, text);
    sten_index *ix;
    CHECK_EQ(sten_index_new(ctx, &ix), STEN_OK);
    CHECK_EQ(sten_index_load(ctx, ix, path(name)), STEN_OK);
    return ix;
}

static char logged[1024];
static void keep_log(void *user, sten_log_level level, const char *msg)
{
    (void)user, (void)level;
    snprintf(logged, sizeof logged, "%s", msg);
}

static void test_fingerprints(void)
{
    sten_index *a = load_index("fa.idx", "b\t3\na\t0\nc\t7\n");
    sten_index *b = load_index("fb.idx", "c\t7\na\t0\n\nb\t3\n"); /* the same map, another order */
    sten_index *s = load_index("fs.idx", "a\t3\nb\t0\nc\t7\n");   /* two labels swapped */
    const sten_fingerprint fa = sten_index_fingerprint(a);
    CHECK_EQ(fa.entries, 3);
    CHECK(fa.hash == fnv1a("a\t0\nb\t3\nc\t7\n")); /* the index file as sten_index_save writes it */
    CHECK(sten_fingerprint_equal(fa, sten_index_fingerprint(b)));
    const sten_fingerprint fs = sten_index_fingerprint(s);
    CHECK_EQ(fs.entries, 3);
    CHECK(fs.hash != fa.hash);
    const uint32_t all[3] = {0, 3, 7}, some[3] = {3, 7, 5}; /* 5 has no label: skipped */
    CHECK(sten_fingerprint_equal(sten_index_fingerprint_ids(a, all, 3), fa));
    const sten_fingerprint fsome = sten_index_fingerprint_ids(a, some, 3);
    CHECK_EQ(fsome.entries, 2);
    CHECK(fsome.hash == fnv1a("b\t3\nc\t7\n"));

    /* written as sten_* attributes of the dataset (DSSTNE's are untouched) and read back */
    sten_dataset d[2];
    memset(d, 0, sizeof d);
    d[0].name = "x";
    d[0].attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
    d[0].dims = 1;
    d[0].width = 128;
    d[0].examples = d[0].unique = 1;
    sten_csr_init(ctx, &d[0].sparse, 1, 128, 1, false);
    d[0].sparse.rows = 1;
    d[0].sparse.col[0] = 3;
    d[0].sparse.row_ptr[1] = d[0].sparse.nnz = 1;
    d[0].features = fa;
    d[0].samples = fsome;
    d[1] = d[0];
    d[1].name = "y";
    d[1].features = d[1].samples = (sten_fingerprint){0, 0}; /* DSSTNE's data: none */
    CHECK_EQ(sten_dataset_write_netcdf(ctx, path("fp.nc"), d, 2), STEN_OK);
    sten_csr_free(ctx, &d[0].sparse);
    sten_dataset *r;
    size_t n;
    CHECK_EQ(sten_dataset_read_netcdf(ctx, path("fp.nc"), &r, &n), STEN_OK);
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK(sten_fingerprint_equal(r[0].features, fa));
        CHECK(sten_fingerprint_equal(r[0].samples, fsome));
        CHECK_EQ(r[1].features.entries, 0);
        CHECK_EQ(r[1].samples.entries, 0);
    }
    sten_datasets_free(ctx, r, n);
    int nc;
    char hex[17] = "";
    unsigned entries = 0;
    CHECK_EQ(nc_open(path("fp.nc"), NC_WRITE, &nc), NC_NOERR);
    CHECK_EQ(nc_get_att_uint(nc, NC_GLOBAL, "sten_featureEntries0", &entries), NC_NOERR);
    CHECK_EQ(nc_get_att_text(nc, NC_GLOBAL, "sten_featureFingerprint0", hex), NC_NOERR);
    CHECK_EQ(entries, 3);
    char want[512];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)fa.hash);
    CHECK_STR(hex, want);
    CHECK(nc_inq_att(nc, NC_GLOBAL, "sten_featureEntries1", NULL, NULL) == NC_ENOTATT);
    /* damaged attributes are refused, naming the file and the attribute */
    nc_redef(nc);
    nc_put_att_text(nc, NC_GLOBAL, "sten_featureFingerprint0", 16, "00112233445566zz");
    nc_del_att(nc, NC_GLOBAL, "sten_sampleFingerprint0");
    CHECK_EQ(nc_close(nc), NC_NOERR);
    CHECK_EQ(sten_dataset_read_netcdf(ctx, path("fp.nc"), &r, &n), STEN_E_FORMAT);
    snprintf(want, sizeof want, "%s: attribute sten_featureFingerprint0 = \"00112233445566zz\" is not 16 hex "
             "digits (an index fingerprint)", path("fp.nc"));
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
    CHECK_EQ(nc_open(path("fp.nc"), NC_WRITE, &nc), NC_NOERR);
    nc_redef(nc);
    nc_put_att_text(nc, NC_GLOBAL, "sten_featureFingerprint0", 16, hex);
    CHECK_EQ(nc_close(nc), NC_NOERR);
    CHECK_EQ(sten_dataset_read_netcdf(ctx, path("fp.nc"), &r, &n), STEN_E_FORMAT);
    snprintf(want, sizeof want, "%s: attribute sten_sampleEntries0 without sten_sampleFingerprint0 (an index "
             "fingerprint is both)", path("fp.nc"));
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);

    /* the check: the model's index, another one, one wider than the layer */
    sten_layer_desc l;
    sten_layer_desc_defaults(&l);
    snprintf(l.name, sizeof l.name, "Output");
    l.kind = STEN_LAYER_OUTPUT;
    l.N = 128;
    l.features = fa;
    CHECK_EQ(sten_index_check(ctx, b, "b.idx", &l, "m.nc"), STEN_OK);
    CHECK_EQ(sten_index_check(ctx, s, "s.idx", &l, "m.nc"), STEN_E_FORMAT);
    snprintf(want, sizeof want, "s.idx: this feature index (3 entries, fingerprint %016llx) is not the one layer "
             "\"Output\" of model m.nc was trained with (3 entries, fingerprint %016llx): predictions would "
             "name the wrong items; use the index files generate-netcdf wrote beside the training data",
             (unsigned long long)fs.hash, (unsigned long long)fa.hash);
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
    sten_index *e = load_index("fe.idx", "a\t0\nb\t3\nc\t7\nd\t8\n"); /* grown since (generate-netcdf -m) */
    CHECK_EQ(sten_index_check(ctx, e, "e.idx", &l, "m.nc"), STEN_E_FORMAT);
    snprintf(want, sizeof want, "e.idx: this feature index (4 entries, fingerprint %016llx) is the one layer "
             "\"Output\" of model m.nc was trained with (3 entries, fingerprint %016llx) plus 1 entry added "
             "since (generate-netcdf -m?), which the model has no trained units for: it could recommend them; "
             "use the index as it was when the model was trained",
             (unsigned long long)sten_index_fingerprint(e).hash, (unsigned long long)fa.hash);
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
    sten_index_free(ctx, e);
    l.features = (sten_fingerprint){0, 0}; /* a DSSTNE model: widths only */
    CHECK_EQ(sten_index_check(ctx, s, "s.idx", &l, "m.nc"), STEN_OK);
    l.kind = STEN_LAYER_INPUT;
    snprintf(l.name, sizeof l.name, "Input");
    l.N = 4;
    CHECK_EQ(sten_index_check(ctx, s, "s.idx", &l, "m.nc"), STEN_E_FORMAT);
    CHECK_STR(sten_ctx_error(ctx), "s.idx: this feature index numbers 8 units (its largest integer is 7) but "
              "layer \"Input\" of model m.nc has N = 4: it is not the index the model was trained with, and the "
              "model would read the wrong features; use the index files generate-netcdf wrote beside the "
              "training data");
    sten_ctx_clear_error(ctx);
    l.N = 256; /* narrower than the layer: DSSTNE allowed N above the data's width */
    sten_ctx_set_log(ctx, keep_log, NULL, STEN_LOG_WARN);
    logged[0] = '\0';
    CHECK_EQ(sten_index_check(ctx, s, "s.idx", &l, "m.nc"), STEN_OK);
    CHECK(strstr(logged, "s.idx: this feature index is 128 units wide (rounded up to 128) but layer \"Input\" "
                 "of model m.nc has N = 256") != NULL);
    sten_ctx_set_log(ctx, NULL, NULL, STEN_LOG_WARN);
    sten_index_free(ctx, a);
    sten_index_free(ctx, b);
    sten_index_free(ctx, s);
}

/* ---- a tiny protobuf encoder for RecordIO test files */
typedef struct {
    uint8_t b[512];
    size_t n;
} pb;

static void pb_varint(pb *p, uint64_t v)
{
    do {
        p->b[p->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void pb_ld(pb *p, uint32_t num, const pb *sub)
{
    pb_varint(p, (uint64_t)num << 3 | 2);
    pb_varint(p, sub->n);
    memcpy(p->b + p->n, sub->b, sub->n);
    p->n += sub->n;
}

/* Record{features{"values": Float32Tensor}, label{"values": Float32Tensor{label}}} */
static pb record(const float *vals, size_t nv, const uint64_t *keys, size_t nk, uint64_t shape,
                 const float *label)
{
    pb t = {0}, packed = {0}, value = {0}, entry = {0}, rec = {0}, key = {0};
    memcpy(packed.b, vals, nv * 4);
    packed.n = nv * 4;
    pb_ld(&t, 1, &packed);
    if (nk) {
        pb k = {0}, sh = {0};
        for (size_t i = 0; i < nk; i++)
            pb_varint(&k, keys[i]);
        pb_ld(&t, 2, &k);
        pb_varint(&sh, shape);
        pb_ld(&t, 3, &sh);
    }
    pb_ld(&value, 2, &t);
    memcpy(key.b, "values", 6);
    key.n = 6;
    pb_ld(&entry, 1, &key);
    pb_ld(&entry, 2, &value);
    pb_ld(&rec, 1, &entry);
    if (label) {
        pb lt = {0}, lp = {0}, lv = {0}, le = {0};
        memcpy(lp.b, label, 4);
        lp.n = 4;
        pb_ld(&lt, 1, &lp);
        pb_ld(&lv, 2, &lt);
        pb_ld(&le, 1, &key);
        pb_ld(&le, 2, &lv);
        pb_ld(&rec, 2, &le);
    }
    return rec;
}

static void write_records(const char *name, const pb *recs, int n, int truncate_last, uint32_t magic)
{
    FILE *f = fopen(path(name), "wb");
    for (int i = 0; i < n; i++) {
        const uint32_t head[2] = {magic, (uint32_t)recs[i].n};
        fwrite(head, 4, 2, f);
        size_t len = (recs[i].n + 3) & ~(size_t)3;
        static const uint8_t zero[4] = {0};
        if (i == n - 1 && truncate_last)
            len = recs[i].n / 2;
        fwrite(recs[i].b, 1, CHECK_MIN_(len, recs[i].n), f);
        if (len > recs[i].n)
            fwrite(zero, 1, len - recs[i].n, f);
    }
    fclose(f);
}

static void expect_recordio_error(const char *name, const char *msg)
{
    sten_dataset x, y;
    CHECK(sten_recordio_read(ctx, path(name), 10, "x", "y", &x, &y) != STEN_OK);
    char want[512];
    snprintf(want, sizeof want, "%s/%s: %s", dir, name, msg);
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
}

static void test_recordio(void)
{
    const float v1[2] = {1.0f, 0.5f}, v2[3] = {2.0f, 0.0f, 3.0f}, one = 1.0f, zero = 0.0f;
    const uint64_t k1[2] = {2, 7};
    pb recs[2] = {record(v1, 2, k1, 2, 10, &one), record(v2, 3, NULL, 0, 0, &zero)};
    write_records("good.rec", recs, 2, 0, 0xCED7230Au);
    sten_dataset x, y;
    CHECK_EQ(sten_recordio_read(ctx, path("good.rec"), 10, "x", "y", &x, &y), STEN_OK);
    CHECK_EQ(x.examples, 2);
    CHECK_EQ(x.sparse.row_ptr[1], 2);
    CHECK_EQ(x.sparse.col[1], 7);
    CHECK(x.sparse.val[1] == 0.5f);
    CHECK_EQ(x.sparse.row_ptr[2], 4); /* the dense record's zero is not stored */
    CHECK_EQ(x.sparse.col[3], 2);
    CHECK(y.dense[0] == 1.0f && y.dense[1] == 0.0f);
    sten_dataset_clear(ctx, &x); /* the structs are ours: cleared, not sten_datasets_free'd */
    sten_dataset_clear(ctx, &y);
    write_records("trunc.rec", recs, 2, 1, 0xCED7230Au);
    expect_recordio_error("trunc.rec", "record 2: truncated record (the file ends inside it)");
    write_records("magic.rec", recs, 1, 0, 0x12345678u);
    expect_recordio_error("magic.rec", "record 1: bad RecordIO magic (expected 0xCED7230A)");
    pb mism = record(v2, 3, k1, 2, 10, &one);
    write_records("mism.rec", &mism, 1, 0, 0xCED7230Au);
    expect_recordio_error("mism.rec", "record 1: keys and values differ in length");
    const uint64_t k2[2] = {7, 2};
    pb uns[2] = {recs[0], record(v1, 2, k2, 2, 10, &one)};
    write_records("uns.rec", uns, 2, 0, 0xCED7230Au);
    expect_recordio_error("uns.rec", "record 2: keys are not increasing");
    pb nolab = record(v1, 2, k1, 2, 10, NULL);
    write_records("nolab.rec", &nolab, 1, 0, 0xCED7230Au);
    expect_recordio_error("nolab.rec", "record 1: expected one label[\"values\"] value");
    const uint64_t k3[2] = {2, 12};
    pb wide = record(v1, 2, k3, 2, 20, &one);
    write_records("wide.rec", &wide, 1, 0, 0xCED7230Au);
    expect_recordio_error("wide.rec", "record 1: a sparse tensor needs a shape no wider than feature_dim");
    pb garbage = {{0x0a, 0xff, 0xff}, 3};
    write_records("garbage.rec", &garbage, 1, 0, 0xCED7230Au);
    expect_recordio_error("garbage.rec", "record 1: malformed protobuf");
}

/* Who frees what (sten.h): the readers that fill the caller's structs are
 * undone by sten_dataset_clear on each, which returns every byte and leaves
 * the struct zeroed; sten_datasets_free is for the arrays readers allocate.
 * A libsvm line with a label only (no features) reads as an empty row (it
 * once copied from a NULL buffer, which UBSan aborts on). */
static void test_dataset_ownership(void)
{
    const size_t before = sten_ctx_bytes_in_use(ctx);
    write_file("own.svm", "1\n0 3:2\n1\n");
    sten_dataset x, y;
    CHECK_EQ(sten_libsvm_read(ctx, path("own.svm"), 0, 8, "x", "y", &x, &y), STEN_OK);
    CHECK_EQ(x.examples, 3);
    CHECK_EQ(x.sparse.nnz, 1);
    CHECK_EQ(x.sparse.row_ptr[1], 0);
    CHECK_EQ(x.sparse.row_ptr[2], 1);
    CHECK_EQ(x.sparse.row_ptr[3], 1);
    CHECK(y.dense[0] == 1.0f && y.dense[1] == 0.0f && y.dense[2] == 1.0f);
    CHECK(sten_ctx_bytes_in_use(ctx) > before);
    sten_dataset_clear(ctx, &x);
    sten_dataset_clear(ctx, &y);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), before);
    CHECK(x.name == NULL && x.sparse.col == NULL && x.examples == 0 && y.dense == NULL);
    sten_dataset_clear(ctx, &x); /* cleared twice: harmless */
    sten_dataset_clear(ctx, NULL);
    /* a failed read leaves the structs owning nothing */
    write_file("bad.svm", "1 3:2\nx 1:1\n");
    CHECK(sten_libsvm_read(ctx, path("bad.svm"), 0, 8, "x", "y", &x, &y) != STEN_OK);
    sten_ctx_clear_error(ctx);
    CHECK(x.name == NULL && y.dense == NULL);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), before);
    /* sten_labeled_read: the same rule, through every format; y NULL drops the labels */
    CHECK_EQ(sten_labeled_read(ctx, path("own.svm"), 0, 8, "x", "y", &x, &y), STEN_OK);
    sten_dataset_clear(ctx, &x);
    sten_dataset_clear(ctx, &y);
    CHECK_EQ(sten_labeled_read(ctx, path("own.svm"), 0, 8, "x", NULL, &x, NULL), STEN_OK);
    CHECK_EQ(x.examples, 3);
    sten_dataset_clear(ctx, &x);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), before);
    /* JSON requests are features only: refused where labels are wanted */
    write_file("one.json", "{\"instances\": [{\"features\": [0, 2, 0, 1]}]}");
    CHECK_EQ(sten_labeled_read(ctx, path("one.json"), 0, 8, "x", "y", &x, &y), STEN_E_FORMAT);
    sten_ctx_clear_error(ctx);
    CHECK_EQ(sten_labeled_read(ctx, path("one.json"), -1, 8, "x", NULL, &x, NULL), STEN_OK);
    CHECK_EQ(x.sparse.nnz, 2);
    sten_dataset_clear(ctx, &x);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), before);
    /* every allocation failure while reading is clean too */
    for (long k = 1; k < 100; k++) {
        sten_ctx_fail_alloc_at(ctx, k);
        const sten_status st = sten_libsvm_read(ctx, path("own.svm"), 0, 8, "x", "y", &x, &y);
        sten_ctx_fail_alloc_at(ctx, 0);
        sten_ctx_clear_error(ctx);
        sten_dataset_clear(ctx, &x);
        sten_dataset_clear(ctx, &y);
        CHECK_EQ(sten_ctx_bytes_in_use(ctx), before);
        if (st == STEN_OK)
            break;
    }
    /* a data file and a model file told apart without reading the data */
    sten_nc_kind kind;
    char names[64];
    CHECK_EQ(sten_netcdf_kind(ctx, path("rt.nc"), &kind, names, sizeof names), STEN_OK);
    CHECK_EQ(kind, STEN_NC_DATA);
    CHECK_STR(names, "a, b, c");
    CHECK_EQ(sten_netcdf_kind(ctx, path("own.svm"), &kind, NULL, 0), STEN_E_FORMAT);
    sten_ctx_clear_error(ctx);
}

static void expect_instances(const char *text, uint32_t width, const char *msg)
{
    write_file("req.json", text);
    sten_dataset x;
    CHECK(sten_instances_read(ctx, path("req.json"), width, "x", &x) != STEN_OK);
    char want[512];
    snprintf(want, sizeof want, "%s/req.json%s", dir, msg);
    CHECK_STR(sten_ctx_error(ctx), want);
    CHECK(x.name == NULL);
    sten_ctx_clear_error(ctx);
}

/* SageMaker's JSON inference input: {"instances": [...]}, JSON Lines, dense
 * and sparse instances, and the exact errors. */
static void test_instances(void)
{
    sten_dataset x;
    write_file("req.json", "{\"instances\": [{\"features\": [0, 1.5, 0, 2]},\n"
                           " {\"data\": {\"features\": {\"keys\": [1, 6], \"shape\": [8], \"values\": [3, 4]}}},\n"
                           " {\"data\": {\"features\": {\"keys\": [7], \"shape\": [8]}}}]}\n");
    CHECK_EQ(sten_instances_read(ctx, path("req.json"), 8, "fm_input", &x), STEN_OK);
    CHECK_EQ(x.examples, 3);
    CHECK_EQ(x.width, 8);
    CHECK_STR(x.name, "fm_input");
    const uint64_t rp[4] = {0, 2, 4, 5};
    const uint32_t col[5] = {1, 3, 1, 6, 7};
    const float val[5] = {1.5f, 2, 3, 4, 1};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(x.sparse.row_ptr[i], rp[i]);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(x.sparse.col[i], col[i]);
        CHECK(x.sparse.val[i] == val[i]);
    }
    sten_dataset_clear(ctx, &x);
    /* JSON Lines, a BOM and blank lines */
    write_file("req.json", "\xEF\xBB\xBF{\"features\": [1]}\n\n{\"data\": {\"features\": {\"keys\": [2]}}}\r\n");
    CHECK_EQ(sten_instances_read(ctx, path("req.json"), 8, "x", &x), STEN_OK);
    CHECK_EQ(x.examples, 2);
    CHECK_EQ(x.sparse.col[1], 2);
    sten_dataset_clear(ctx, &x);
    expect_instances("{\"instances\": []}", 8, ": no instances");
    expect_instances("", 8, ": no instances");
    expect_instances("{\"instances\": {}}", 8, ": \"instances\" must be an array");
    expect_instances("{\"instances\": [], \"extra\": 1}", 8,
                     ": unknown key \"extra\" in the request (expected instances)");
    expect_instances("{\"instances\": [{\"features\": [1, 2, 3]}]}", 2, ": instance 1: 3 dense values, more than feature_dim");
    expect_instances("{\"instances\": [{\"features\": [1, \"a\"]}]}", 8, ": instance 1: values[1] is not a number");
    expect_instances("{\"instances\": [{\"data\": {\"features\": {\"keys\": [1, 9]}}}]}", 8,
                     ": instance 1: keys[1] is not below the shape / feature_dim");
    expect_instances("{\"instances\": [{\"data\": {\"features\": {\"keys\": [1], \"shape\": [9]}}}]}", 8,
                     ": instance 1: shape must be a positive integer no larger than feature_dim 8");
    expect_instances("{\"instances\": [{\"data\": {\"features\": {\"keys\": [1], \"values\": [1, 2]}}}]}", 8,
                     ": instance 1: keys and values differ in length");
    expect_instances("{\"instances\": [{\"data\": {\"feature\": {}}}]}", 8,
                     ": instance 1: unknown key \"feature\" in \"data\" (expected features)");
    expect_instances("{\"instances\": [3]}", 8,
                     ": instance 1: expected an object {\"features\": ...} or {\"data\": {\"features\": ...}}");
    expect_instances("{\"features\": [1]}\n{\"features\": {\"value\": [1]}}\n", 8,
                     ":2: unknown key \"value\" in a features tensor (expected values, keys, shape)");
    expect_instances("{\"instances\": [\n{\"features\": [1,]}]}", 8, ":2:17: unexpected token near ']'");
    expect_instances("{\"features\": [1]}\n{\"features\": [1\n", 8, ":2:15: ']' expected near end of file");
}

/* Converting with 16 records in memory (many spilled runs) equals the
 * in-memory result, repeated pairs merged across runs included. */
static void test_convert_runs(void)
{
    FILE *f = fopen(path("log.csv"), "w");
    fputs("userId,movieId,rating,timestamp\n", f);
    for (int i = 0; i < 300; i++) /* 5 users x 13 items: pairs repeat across the file */
        fprintf(f, "%d,%d,%d.0,%d\n", (i * 7) % 5, (i * 3) % 13, 1 + i % 5, 1000 + (i * 31) % 97);
    fclose(f);
    sten_log_opts o = {.format = STEN_FMT_AUTO, .min_rating = NAN};
    char *out[2] = {NULL, NULL};
    size_t len[2];
    sten_convert_stats cs[2];
    for (int k = 0; k < 2; k++) {
        FILE *m = open_memstream(&out[k], &len[k]);
        CHECK_EQ(sten_convert_log(ctx, path("log.csv"), &o, STEN_VALUE_RATING, k ? 16 : 1000000, m, &cs[k]),
                 STEN_OK);
        fclose(m);
    }
    CHECK_EQ(cs[0].runs, 0);
    CHECK(cs[1].runs >= 18);
    CHECK(cs[0].merged_pairs > 0);
    CHECK_EQ(cs[0].merged_pairs, cs[1].merged_pairs);
    CHECK_EQ(cs[0].written + cs[0].merged_pairs, 300);
    CHECK(len[0] == len[1] && memcmp(out[0], out[1], len[0]) == 0);
    free(out[0]);
    free(out[1]);
}

/* A Criteo line: label, 13 integers, 26 categorical values; cat(k) gives C(k+1). */
static void criteo_line(char *buf, size_t cap, int label, const char *ints, const char *(*cat)(int))
{
    size_t n = (size_t)snprintf(buf, cap, "%d\t%s", label, ints);
    for (int k = 0; k < 26; k++)
        n += (size_t)snprintf(buf + n, cap - n, "\t%s", cat(k));
    snprintf(buf + n, cap - n, "\n");
}

static const char *cat_a(int k) { return k == 3 ? "" : k % 2 ? "68fd1e64" : "05db9164"; }
static const char *cat_b(int k) { return k == 3 ? "" : k % 2 ? "80e26c9b" : "05db9164"; }

static void expect_criteo_error(const char *text, const char *msg)
{
    write_file("bad.tsv", text);
    sten_dataset *ds;
    size_t n;
    sten_criteo_stats cs;
    const sten_criteo_opts o = {.hash_buckets = 100};
    CHECK_EQ(sten_criteo_read(ctx, path("bad.tsv"), &o, &ds, &n, &cs), STEN_E_PARSE);
    CHECK(ds == NULL && n == 0);
    char want[512];
    snprintf(want, sizeof want, "%s/bad.tsv%s", dir, msg);
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
}

/* Criteo TSV: DLRM's dense transform, missing values, hashing (the same
 * value, the same index, in any file) and a vocabulary with a minimum
 * frequency; errors name the line and the field. */
static void test_criteo(void)
{
    const char *ints = "3\t-1\t\t0\t2\t0\t3\t0\t0\t1\t1\t\t0";
    char a[1024], b[1024], c[1024], text[4096];
    criteo_line(a, sizeof a, 0, ints, cat_a);
    criteo_line(b, sizeof b, 1, ints, cat_b);
    criteo_line(c, sizeof c, 1, ints, cat_a);
    snprintf(text, sizeof text, "%s%s\n%s", a, b, c); /* an empty line is skipped */
    write_file("c.tsv", text);
    sten_dataset *ds = NULL;
    size_t n = 0;
    sten_criteo_stats cs;
    sten_criteo_opts o = {.hash_buckets = 1000};
    CHECK_EQ(sten_criteo_read(ctx, path("c.tsv"), &o, &ds, &n, &cs), STEN_OK);
    CHECK_EQ(n, 28);
    if (ds) {
        CHECK_STR(ds[0].name, "dense");
        CHECK_STR(ds[1].name, "C1");
        CHECK_STR(ds[26].name, "C26");
        CHECK_STR(ds[27].name, "label");
        CHECK_EQ(cs.rows, 3);
        CHECK_EQ(cs.missing_dense, 3 * 2);
        CHECK_EQ(cs.missing_cat, 3);
        CHECK_EQ(ds[0].width, 13);
        CHECK_NEAR(ds[0].dense[0], log(4.0), 1e-6, 1e-6); /* log(1 + 3) */
        CHECK_EQ(ds[0].dense[1], 0.0);                    /* -1 clipped to 0 */
        CHECK_NEAR(ds[0].dense[13 + 4], log(3.0), 1e-6, 1e-6);
        CHECK(ds[27].dense[0] == 0.0f && ds[27].dense[1] == 1.0f);
        const sten_csr *c4 = &ds[4].sparse, *c1 = &ds[1].sparse, *c2 = &ds[2].sparse;
        CHECK_EQ(ds[1].width, 1000);
        CHECK(c1->nnz == 3 && c1->row_ptr[3] == 3 && !c1->val);
        CHECK_EQ(c4->col[0], 0);                       /* C4 is empty: index 0 */
        CHECK(c1->col[0] == c1->col[1] && c1->col[0] >= 1 && c1->col[0] < 1000);
        CHECK(c2->col[0] != c2->col[1] && c2->col[0] == c2->col[2]);
        CHECK(c1->col[0] == ds[3].sparse.col[0]);      /* the same value in another field */
        sten_datasets_free(ctx, ds, n);
    }
    /* the same file gzip-compressed: the same datasets (every line reader takes gzip) */
    gzFile gz = gzopen(path("c.tsv.gz"), "wb");
    gzputs(gz, text);
    gzclose(gz);
    sten_dataset *dz = NULL;
    size_t nz = 0;
    CHECK_EQ(sten_criteo_read(ctx, path("c.tsv.gz"), &o, &dz, &nz, &cs), STEN_OK);
    CHECK_EQ(sten_criteo_read(ctx, path("c.tsv"), &o, &ds, &n, &cs), STEN_OK);
    if (dz && ds) {
        CHECK(memcmp(dz[0].dense, ds[0].dense, 3 * 13 * 4) == 0);
        for (int k = 1; k <= 26; k++)
            CHECK(memcmp(dz[k].sparse.col, ds[k].sparse.col, 3 * 4) == 0);
    }
    sten_datasets_free(ctx, dz, nz);
    sten_datasets_free(ctx, ds, n);
    o = (sten_criteo_opts){.hash_buckets = 0, .min_freq = 2};
    CHECK_EQ(sten_criteo_read(ctx, path("c.tsv"), &o, &ds, &n, &cs), STEN_OK);
    if (ds) {
        /* C2: 68fd1e64 twice (index 2), 80e26c9b once (rare: 1); C1: one value, three times */
        CHECK(ds[2].sparse.col[0] == 2 && ds[2].sparse.col[1] == 1 && ds[2].sparse.col[2] == 2);
        CHECK_EQ(ds[2].width, 3);
        CHECK_EQ(cs.width[0], 3);
        CHECK_EQ(ds[4].sparse.col[1], 0);
        sten_datasets_free(ctx, ds, n);
    }
    o.min_freq = 0;
    CHECK_EQ(sten_criteo_read(ctx, path("c.tsv"), &o, &ds, &n, &cs), STEN_E_INVALID);
    sten_ctx_clear_error(ctx);
    /* errors: where, and what was expected */
    char bad[1024];
    criteo_line(bad, sizeof bad, 2, ints, cat_a);
    snprintf(text, sizeof text, "%s%s", a, bad);
    expect_criteo_error(text, ":2: field label: expected 0 or 1, got \"2\"");
    criteo_line(bad, sizeof bad, 1, "3\t1\t2\tx7\t0\t0\t0\t0\t0\t0\t0\t0\t0", cat_a);
    expect_criteo_error(bad, ":1: field I4: expected an integer, got \"x7\"");
    expect_criteo_error("1\t2\t3\n", ":1: expected 40 TAB-separated fields (label, I1..I13, C1..C26), got 3");
    snprintf(text, sizeof text, "%.*s\textra\n", (int)strlen(a) - 1, a);
    expect_criteo_error(text, ":1: expected 40 TAB-separated fields (label, I1..I13, C1..C26), got more than 40");
    expect_criteo_error("\n", ": no examples");
}

/* Every allocation the text reader and the index loader make, failed in
 * turn: each failure is reported as out of memory, frees all it took, and
 * leaves the caller's indexes as they were; then the same call succeeds. */
static void test_allocation_failures(void)
{
    write_file("af.idx", "b\t3\na\t0\nc\t7\nd\t1\ne\t2\n");
    write_file("af.txt", "u1\ta,1:b,2:zz,3\nu2\tc:a\n\nu1\td,4:e:b\nu3\tf,1:g,2:h,3:i:j:k:l:m\n");
    long failed = 0, n;
    for (n = 1; n < 10000; n++) {
        sten_index *ix;
        CHECK_EQ(sten_index_new(ctx, &ix), STEN_OK);
        const size_t before = sten_ctx_live_allocs(ctx);
        sten_ctx_fail_alloc_at(ctx, n);
        const sten_status st = sten_index_load(ctx, ix, path("af.idx"));
        sten_ctx_fail_alloc_at(ctx, 0);
        if (st == STEN_OK) {
            CHECK_EQ(sten_index_size(ix), 5);
            sten_index_free(ctx, ix);
            break;
        }
        failed++;
        CHECK_EQ(st, STEN_E_NOMEM);
        CHECK(strstr(sten_ctx_error(ctx), "allocation of") != NULL);
        CHECK_EQ(sten_ctx_live_allocs(ctx), before);
        CHECK_EQ(sten_index_size(ix), 0);
        sten_ctx_clear_error(ctx);
        sten_index_free(ctx, ix);
    }
    CHECK(failed >= 3); /* the sweep reached the loader's own allocations */
    CHECK_EQ(sten_ctx_live_allocs(ctx), 0);

    failed = 0;
    for (n = 1; n < 10000; n++) {
        sten_index *feat, *samp;
        CHECK_EQ(sten_index_new(ctx, &feat), STEN_OK);
        CHECK_EQ(sten_index_new(ctx, &samp), STEN_OK);
        uint32_t id;
        CHECK_EQ(sten_index_add(ctx, feat, "a", 1, &id), STEN_OK);
        sten_csr x;
        uint32_t *ids = NULL;
        sten_text_stats ts;
        sten_ctx_fail_alloc_at(ctx, n);
        const sten_status st = sten_text_read(ctx, path("af.txt"), feat, true, samp, true, &x, &ids, &ts);
        sten_ctx_fail_alloc_at(ctx, 0);
        if (st == STEN_OK) {
            CHECK_EQ(x.rows, 3);
            CHECK_EQ(x.nnz, 13); /* u1 twice: the later line (d, e, b) */
            sten_csr_free(ctx, &x);
            sten_free(ctx, ids);
            sten_index_free(ctx, feat);
            sten_index_free(ctx, samp);
            break;
        }
        failed++;
        CHECK_EQ(st, STEN_E_NOMEM);
        CHECK(strstr(sten_ctx_error(ctx), "allocation of") != NULL);
        /* entries the reader added to the indexes may stay (they are the
         * caller's, and still consistent): the indexes still work */
        CHECK(sten_index_find(feat, "a", 1, &id) && id == 0);
        sten_ctx_clear_error(ctx);
        sten_index_free(ctx, feat);
        sten_index_free(ctx, samp);
        CHECK_EQ(sten_ctx_live_allocs(ctx), 0);
    }
    CHECK(failed >= 3);
    CHECK_EQ(sten_ctx_live_allocs(ctx), 0);
}

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return EXIT_FAILURE;
    snprintf(dir, sizeof dir, "/tmp/sten_io_XXXXXX");
    if (!mkdtemp(dir))
        return EXIT_FAILURE;
    RUN(test_index_files);
    RUN(test_text_reader);
    RUN(test_netcdf_variants);
    RUN(test_write_read_round_trip);
    RUN(test_netcdf_stripes);
    RUN(test_fingerprints);
    RUN(test_recordio);
    RUN(test_dataset_ownership);
    RUN(test_instances);
    RUN(test_convert_runs);
    RUN(test_criteo);
    RUN(test_allocation_failures);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
