/* fuzz_convert.c — fuzz driver for convert's interaction-log readers:
 * sten_interactions_read (the format told from the first line, and two
 * delimited layouts, one with a header and a rating floor), as is and with
 * one allocation failed, and sten_convert_log with a budget of a few
 * records, so even small inputs go through its sorted runs on disk and
 * their merge. Plain or gzip: zlib reads both. A success must give records
 * whose user and item are in their indexes. tests/fuzz/fuzz.h has the
 * rest. */
#include "fuzz/fuzz.h"

#include <math.h>

static void read_once(sten_ctx *ctx, const char *path, const sten_log_opts *o, long fail_at)
{
    sten_interactions in;
    memset(&in, 0, sizeof in);
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_interactions_read(ctx, path, o, &in);
    sten_ctx_fail_alloc_at(ctx, 0);
    fuzz_outcome(ctx, st, path, fail_at > 0, false);
    if (st == STEN_OK) {
        REQUIRE(in.n <= in.cap && (in.n == 0 || in.x != NULL));
        REQUIRE(in.users != NULL && in.items != NULL);
        for (uint64_t k = 0; k < in.n; k++) {
            REQUIRE(in.x[k].user < sten_index_span(in.users));
            REQUIRE(in.x[k].item < sten_index_span(in.items));
            REQUIRE(isnan(o->min_rating) || in.x[k].rating >= o->min_rating);
        }
        sten_interactions_sort(&in);
        const uint64_t n = in.n, removed = sten_interactions_dedupe(&in);
        REQUIRE(removed <= n && in.n == n - removed);
    }
    sten_interactions_free(ctx, &in);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_file(path, sizeof path, "fuzz.log", data, size);
    const sten_log_opts autodetect = {.format = STEN_FMT_AUTO, .min_rating = NAN};
    const sten_log_opts semicolon = {.format = STEN_FMT_DELIMITED, .delimiter = ';',
                                     .columns = "item,-,user", .header = true, .min_rating = NAN};
    const sten_log_opts floor = {.format = STEN_FMT_DELIMITED, .delimiter = ',',
                                 .columns = "user,item,rating,timestamp", .min_rating = 3.5};
    read_once(ctx, path, &autodetect, 0);
    read_once(ctx, path, &semicolon, 0);
    read_once(ctx, path, &floor, 0);
    read_once(ctx, path, size % 2 ? &autodetect : &floor, 1 + (long)(size % 13));

    static FILE *sink;
    if (!sink)
        REQUIRE((sink = fopen("/dev/null", "w")) != NULL);
    sten_convert_stats stats;
    memset(&stats, 0, sizeof stats);
    const sten_status st = sten_convert_log(ctx, path, &autodetect, (sten_value_kind)(size % 3), 3, sink,
                                            &stats);
    fuzz_outcome(ctx, st, path, false, false);
    return 0;
}
