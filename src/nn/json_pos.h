/* json_pos.h — JSON text with positions: jansson's parse plus a light scan
 * that records the line:column of every object key and array element by path
 * ("Layers[1].Activation") and notes the first trailing comma, which jansson
 * only reports vaguely. Used by the config parser for its messages; the scan
 * does not validate JSON (jansson does). */
#ifndef STEN_JSON_POS_H
#define STEN_JSON_POS_H

#include "core/core_int.h"

#include <jansson.h>

#define JSON_POS_MAX_DEPTH 64        /* a network config nests 5 levels */
#define JSON_POS_MAX_ENTRIES 65536   /* keys + array elements; a config has hundreds */
#define JSON_POS_MAX_PATH 512

typedef struct {
    char *path; /* owned */
    int line, col;
} json_pos_entry;

typedef enum {
    JSON_POS_DONE,           /* scanned to the end */
    JSON_POS_TRAILING_COMMA, /* a ',' right before ']' or '}' */
    JSON_POS_TOO_DEEP,       /* more than JSON_POS_MAX_DEPTH open containers */
    JSON_POS_TOO_MANY        /* more than JSON_POS_MAX_ENTRIES entries */
} json_pos_stop;

typedef struct {
    json_pos_entry *e;
    uint64_t n, cap;
    json_pos_stop stop;   /* why the scan ended */
    int stop_line, stop_col; /* the comma, the bracket or the entry it stopped at */
    char close;              /* trailing comma: the ']' or '}' after it */
    char container[JSON_POS_MAX_PATH]; /* trailing comma: path of the container ("" = root) */
} json_pos;

/* Scans text (lines from 1, columns in characters from 1, as jansson counts
 * them) up to the end or the first reason to stop. STEN_E_NOMEM is the only
 * error; a stop is reported in out->stop for the caller to word. */
sten_status sten__json_pos_scan(sten_ctx *ctx, const char *text, size_t len, json_pos *out);
/* Parses text with jansson (duplicate keys rejected) into *root and scans
 * it into *pos (free both, also on failure). Errors, with src:line:col: the
 * first trailing comma, too deep a nesting or too many entries when the scan
 * meets it before jansson's first complaint; else jansson's; an empty file
 * is said to be one. */
sten_status sten__json_pos_load(sten_ctx *ctx, const char *text, size_t len, const char *src,
                          json_t **root, json_pos *pos);
/* "an object", "a number", ...: what v is, for "expected X, got Y". */
const char *sten__json_pos_kind(const json_t *v);
/* Position of a path (keys compared case-insensitively), or of its longest
 * recorded prefix; 0:0 if none. Returns the length of the path matched. */
size_t sten__json_pos_find(const json_pos *p, const char *path, int *line, int *col);
void sten__json_pos_free(sten_ctx *ctx, json_pos *p);

#endif
