/* fuzz_config.c — fuzz driver for the network config parser. Built with
 * -DSTEN_FUZZ=ON (clang) it is a libFuzzer target; otherwise a plain program
 * that replays the files and directories it is given, each whole and cut at
 * every length (CTest runs it over tests/data/config). Each input is parsed
 * as is and with one allocation failed; a wrong outcome (a leak, a
 * descriptor with an error, an error without a located message, a
 * descriptor that breaks its documented bounds) aborts. */
#include "sten.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #c); \
            abort();                                                           \
        }                                                                      \
    } while (0)

static void check_name(const char *s, bool may_be_empty)
{
    REQUIRE(memchr(s, '\0', STEN_NAME_MAX) != NULL);
    REQUIRE(may_be_empty || s[0]);
}

static void check_desc(const sten_net_desc *d)
{
    REQUIRE(d->n_layers >= 1 && d->layers);
    REQUIRE(d->denoising_p >= 0 && d->denoising_p < 1);
    REQUIRE(d->training.epochs >= 1 && d->training.batch_size >= 1);
    for (uint32_t i = 0; i < d->n_layers; i++) {
        const sten_layer_desc *l = &d->layers[i];
        check_name(l->name, false);
        check_name(l->dataset, true);
        REQUIRE(l->N_auto ? l->dataset[0] != '\0' : l->N >= 1);
        REQUIRE(l->p_dropout >= 0 && l->p_dropout < 1);
        REQUIRE(l->n_sources <= STEN_MAX_SOURCES && l->n_skips <= STEN_MAX_SKIPS);
        REQUIRE(l->n_shared <= STEN_MAX_SHARED);
        REQUIRE(isnan(l->relu_slope) || (l->relu_slope >= 0 && l->relu_slope <= 1));
        for (uint32_t k = 0; k < l->n_sources; k++)
            check_name(l->sources[k], false);
        for (uint32_t k = 0; k < l->n_skips; k++)
            check_name(l->skips[k], false);
        for (uint32_t j = 0; j < i; j++)
            REQUIRE(strcmp(l->name, d->layers[j].name) != 0);
    }
}

static void parse_once(sten_ctx *ctx, const uint8_t *data, size_t size, long fail_at)
{
    sten_net_desc *d = NULL;
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_net_desc_parse(ctx, (const char *)data, size, "fuzz.json", &d);
    sten_ctx_fail_alloc_at(ctx, 0);
    if (st == STEN_OK) {
        REQUIRE(d != NULL);
        check_desc(d);
        sten_net_desc_free(ctx, d);
    } else {
        REQUIRE(d == NULL);
        const char *msg = sten_ctx_error(ctx);
        REQUIRE(msg != NULL);
        /* every message but out-of-memory names the text */
        REQUIRE(st == STEN_E_NOMEM || strncmp(msg, "fuzz.json", 9) == 0);
        sten_ctx_clear_error(ctx);
    }
    REQUIRE(sten_ctx_bytes_in_use(ctx) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sten_ctx *ctx;
    if (sten_ctx_init(&ctx) != STEN_OK)
        return 0;
    parse_once(ctx, data, size, 0);
    parse_once(ctx, data, size, 1 + (long)(size % 13));
    sten_ctx_free(ctx);
    return 0;
}

#ifndef STEN_LIBFUZZER
/* Replays one file whole and cut at every length. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static uint8_t buf[1 << 20];
    const size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t len = 0; len <= n; len++) {
        /* a copy of exactly len bytes, so ASan sees any read past the end */
        uint8_t *cut = malloc(len ? len : 1);
        REQUIRE(cut != NULL);
        memcpy(cut, buf, len);
        LLVMFuzzerTestOneInput(cut, len);
        free(cut);
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
            files += replay_file(argv[a]);
            continue;
        }
        DIR *dir = opendir(argv[a]);
        for (struct dirent *e; dir && (e = readdir(dir));) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
                files += replay_file(path);
        }
        if (dir)
            closedir(dir);
    }
    printf("fuzz_config: replayed %d files (each whole and cut at every length)\n", files);
    return files > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
#endif
