/* json_pos.h — where things are in a JSON text: a light scan that records
 * the line:column of every object key and array element by path
 * ("Layers[1].Activation"), and catches trailing commas, which jansson only
 * reports vaguely. Used by the config parser for its messages. */
#ifndef STEN_JSON_POS_H
#define STEN_JSON_POS_H

#include "core/core_int.h"

typedef struct {
    char *path; /* owned */
    int line, col;
} json_pos_entry;

typedef struct {
    json_pos_entry *e;
    uint64_t n, cap;
} json_pos;

/* Scans text; on a trailing comma records the error (with source:line:col)
 * and returns STEN_E_PARSE. Syntax it cannot follow is left to jansson. */
sten_status json_pos_scan(sten_ctx *ctx, const char *text, size_t len, const char *source,
                          json_pos *out);
/* Position of a path, or of its longest recorded prefix; 0:0 if none. */
void json_pos_find(const json_pos *p, const char *path, int *line, int *col);
void json_pos_free(sten_ctx *ctx, json_pos *p);

#endif
