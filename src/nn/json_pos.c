/* json_pos.c — see json_pos.h. A small state machine over the raw text:
 * strings (with escapes), a stack of open containers, keys recorded when
 * followed by ':', array elements when they start. Malformed text is
 * followed as far as it goes; jansson's verdict decides what it was, and
 * sten__json_pos_load words the two together. */
#include "json_pos.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char kind;        /* '{' or '[' */
    size_t path_len;  /* length of the container's path */
    long index;       /* array: current element */
    bool expect_elem; /* array: next non-space starts an element */
} frame;

static sten_status record(sten_ctx *ctx, json_pos *p, const char *path, int line, int col)
{
    sten_status st = sten__grow(ctx, (void **)&p->e, &p->cap, p->n + 1, sizeof *p->e);
    if (st)
        return st;
    const size_t l = strlen(path) + 1;
    char *s = sten_alloc(ctx, l);
    if (!s)
        return STEN_E_NOMEM;
    memcpy(s, path, l);
    p->e[p->n++] = (json_pos_entry){s, line, col};
    return STEN_OK;
}

static void stop(json_pos *p, json_pos_stop why, int line, int col)
{
    p->stop = why;
    p->stop_line = line;
    p->stop_col = col;
}

/* Appends ".key" (or "key" at the root) / "[i]" to the container's path;
 * returns the new length (the path is truncated at the buffer). */
static size_t path_key(char *path, size_t plen, const char *key, size_t key_len)
{
    const int w = snprintf(path + plen, JSON_POS_MAX_PATH - plen, "%s%.*s", plen ? "." : "",
                           (int)STEN__MIN(key_len, 200), key);
    plen += w > 0 ? (size_t)w : 0;
    return STEN__MIN(plen, (size_t)JSON_POS_MAX_PATH - 1);
}

static size_t path_index(char *path, size_t plen, long idx)
{
    const int w = snprintf(path + plen, JSON_POS_MAX_PATH - plen, "[%ld]", idx);
    plen += w > 0 ? (size_t)w : 0;
    return STEN__MIN(plen, (size_t)JSON_POS_MAX_PATH - 1);
}

sten_status sten__json_pos_scan(sten_ctx *ctx, const char *t, size_t len, json_pos *out)
{
    memset(out, 0, sizeof *out);
    frame st[JSON_POS_MAX_DEPTH];
    int depth = 0, line = 1, col = 0;
    char path[JSON_POS_MAX_PATH] = "";
    size_t plen = 0;
    const char *key = NULL; /* last string seen in an object, maybe a key */
    size_t key_len = 0;
    int key_line = 0, key_col = 0;
    int comma_line = 0, comma_col = 0;
    bool after_comma = false;
    sten_status rc = STEN_OK;
    for (size_t i = 0; i < len; i++) {
        const char c = t[i];
        if (c == '\n') {
            line++;
            col = 0;
            continue;
        }
        if ((c & 0xC0) != 0x80) /* UTF-8 continuation bytes are not columns */
            col++;
        if (c == ' ' || c == '\t' || c == '\r')
            continue;
        frame *top = depth ? &st[depth - 1] : NULL;
        if (after_comma && (c == ']' || c == '}')) {
            stop(out, JSON_POS_TRAILING_COMMA, comma_line, comma_col);
            out->close = c;
            snprintf(out->container, sizeof out->container, "%.*s",
                     (int)(top ? top->path_len : 0), path);
            return STEN_OK;
        }
        after_comma = false;
        if (top && top->kind == '[' && top->expect_elem && c != ']') {
            top->expect_elem = false;
            plen = path_index(path, top->path_len, top->index);
            if (out->n == JSON_POS_MAX_ENTRIES) {
                stop(out, JSON_POS_TOO_MANY, line, col);
                return STEN_OK;
            }
            if ((rc = record(ctx, out, path, line, col)))
                return rc;
        }
        if (c == '"') {
            const size_t start = i + 1;
            const int sl = line, sc = col;
            for (i++; i < len && t[i] != '"' && t[i] != '\n'; i++) {
                if (t[i] == '\\' && i + 1 < len && t[i + 1] != '\n') {
                    i++;
                    col += 2;
                } else if ((t[i] & 0xC0) != 0x80) {
                    col++;
                }
            }
            if (i < len && t[i] == '\n') {
                i--; /* an unterminated string: let the loop count the line */
                continue;
            }
            col++;
            if (top && top->kind == '{') {
                key = t + start;
                key_len = i - start;
                key_line = sl;
                key_col = sc;
            }
            continue;
        }
        if (c == ':' && top && top->kind == '{' && key) {
            plen = path_key(path, top->path_len, key, key_len);
            if (out->n == JSON_POS_MAX_ENTRIES) {
                stop(out, JSON_POS_TOO_MANY, key_line, key_col);
                return STEN_OK;
            }
            if ((rc = record(ctx, out, path, key_line, key_col)))
                return rc;
            key = NULL;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == JSON_POS_MAX_DEPTH) {
                stop(out, JSON_POS_TOO_DEEP, line, col);
                return STEN_OK;
            }
            st[depth++] = (frame){c, top ? plen : 0, 0, c == '['};
            key = NULL;
            continue;
        }
        if (c == '}' || c == ']') {
            if (depth)
                depth--;
            plen = depth ? st[depth - 1].path_len : 0;
            path[plen] = '\0';
            continue;
        }
        if (c == ',') {
            after_comma = true;
            comma_line = line;
            comma_col = col;
            if (top && top->kind == '[') {
                top->index++;
                top->expect_elem = true;
            }
            plen = top ? top->path_len : 0;
            path[plen] = '\0';
            key = NULL;
        }
    }
    return STEN_OK;
}

/* jansson's parse, and the position index. A trailing comma, too deep a
 * nesting or too many entries is reported where the scan stopped, when that is
 * before the place jansson gave up (or jansson did not). */
sten_status sten__json_pos_load(sten_ctx *ctx, const char *json, size_t len, const char *src,
                          json_t **root, json_pos *q)
{
    json_error_t err;
    *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    sten_status st = sten__json_pos_scan(ctx, json, len, q);
    if (st)
        return st;
    const bool stop_first = q->stop != JSON_POS_DONE &&
                            (*root || err.line < 1 || q->stop_line < err.line ||
                             (q->stop_line == err.line && q->stop_col < err.column));
    if (stop_first && q->stop == JSON_POS_TRAILING_COMMA && !*root)
        return sten_fail(ctx, STEN_E_PARSE, "%s:%d:%d: trailing comma after the last %s of %s%s%s "
                         "(JSON allows no comma before '%c'; remove it)", src, q->stop_line,
                         q->stop_col, q->close == ']' ? "element" : "member",
                         q->container[0] ? "\"" : "", q->container[0] ? q->container : "the top level",
                         q->container[0] ? "\"" : "", q->close);
    if (stop_first && q->stop == JSON_POS_TOO_DEEP)
        return sten_fail(ctx, STEN_E_RANGE, "%s:%d:%d: nesting deeper than %d levels (a network "
                         "config needs 5)", src, q->stop_line, q->stop_col, JSON_POS_MAX_DEPTH);
    if (stop_first && q->stop == JSON_POS_TOO_MANY)
        return sten_fail(ctx, STEN_E_RANGE, "%s:%d:%d: more than %d keys and array elements (a "
                         "network config has hundreds)", src, q->stop_line, q->stop_col,
                         JSON_POS_MAX_ENTRIES);
    if (!*root) {
        size_t i = 0;
        while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\r' || json[i] == '\n'))
            i++;
        if (i == len)
            return sten_fail(ctx, STEN_E_PARSE, "%s: the file is empty (expected a JSON object "
                             "with \"Layers\")", src);
        if (err.line < 1)
            return sten_fail(ctx, STEN_E_PARSE, "%s: %s", src, err.text);
        return sten_fail(ctx, STEN_E_PARSE, "%s:%d:%d: %s", src, err.line, err.column, err.text);
    }
    return STEN_OK;
}

const char *sten__json_pos_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

size_t sten__json_pos_find(const json_pos *p, const char *path, int *line, int *col)
{
    *line = *col = 0;
    size_t best = 0;
    for (size_t i = 0; i < p->n; i++) {
        const size_t l = strlen(p->e[i].path);
        if (l >= best && strncasecmp(p->e[i].path, path, l) == 0 &&
            (path[l] == '\0' || path[l] == '.' || path[l] == '[')) {
            best = l;
            *line = p->e[i].line;
            *col = p->e[i].col;
        }
    }
    return best;
}

void sten__json_pos_free(sten_ctx *ctx, json_pos *p)
{
    for (size_t i = 0; i < p->n; i++)
        sten_free(ctx, p->e[i].path);
    sten_free(ctx, p->e);
    memset(p, 0, sizeof *p);
}
