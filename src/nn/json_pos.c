/* json_pos.c — see json_pos.h. A small state machine over the raw text:
 * strings (with escapes), a stack of open containers, keys recorded when
 * followed by ':', array elements when they start. */
#include "json_pos.h"

#include <stdio.h>
#include <string.h>

#define JSON_MAX_DEPTH 64
#define JSON_MAX_PATH 512

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

sten_status json_pos_scan(sten_ctx *ctx, const char *t, size_t len, const char *source,
                          json_pos *out)
{
    memset(out, 0, sizeof *out);
    frame st[JSON_MAX_DEPTH];
    int depth = 0, line = 1, col = 0;
    char path[JSON_MAX_PATH] = "";
    size_t plen = 0;
    const char *key = NULL; /* last string seen in an object, maybe a key */
    size_t key_len = 0;
    int key_line = 0, key_col = 0;
    int comma_line = 0, comma_col = 0;
    bool after_comma = false;
    sten_status rc = STEN_OK;
    for (size_t i = 0; i < len && !rc; i++) {
        const char c = t[i];
        if (c == '\n') {
            line++;
            col = 0;
            continue;
        }
        col++;
        if (c == ' ' || c == '\t' || c == '\r')
            continue;
        if (after_comma && (c == ']' || c == '}')) {
            const char *what = depth > 0 && st[depth - 1].path_len ? path : "the top level";
            char name[JSON_MAX_PATH];
            snprintf(name, sizeof name, "%.*s", (int)(depth > 0 ? st[depth - 1].path_len : 0), path);
            return sten_fail(ctx, STEN_E_PARSE,
                             "%s:%d:%d: trailing comma after the last %s of \"%s\" (JSON allows "
                             "no comma before '%c'; remove it)",
                             source, comma_line, comma_col, c == ']' ? "element" : "member",
                             name[0] ? name : what, c);
        }
        after_comma = false;
        frame *top = depth ? &st[depth - 1] : NULL;
        if (top && top->kind == '[' && top->expect_elem && c != ']') {
            top->expect_elem = false;
            plen = top->path_len;
            plen += (size_t)snprintf(path + plen, sizeof path - plen, "[%ld]", top->index);
            if (plen >= sizeof path)
                plen = sizeof path - 1;
            rc = record(ctx, out, path, line, col);
        }
        if (c == '"') {
            const size_t start = i + 1;
            const int sl = line, sc = col;
            for (i++; i < len && t[i] != '"'; i++) {
                if (t[i] == '\\')
                    i++;
                else if (t[i] == '\n')
                    break; /* jansson reports the broken string */
                col++;
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
            plen = top->path_len;
            plen += (size_t)snprintf(path + plen, sizeof path - plen, "%s%.*s", plen ? "." : "",
                                     (int)STEN__MIN(key_len, 200), key);
            if (plen >= sizeof path)
                plen = sizeof path - 1;
            rc = record(ctx, out, path, key_line, key_col);
            key = NULL;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == JSON_MAX_DEPTH)
                return sten_fail(ctx, STEN_E_PARSE, "%s:%d:%d: nesting deeper than %d levels",
                                 source, line, col, JSON_MAX_DEPTH);
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
    return rc;
}

void json_pos_find(const json_pos *p, const char *path, int *line, int *col)
{
    *line = *col = 0;
    size_t best = 0;
    for (size_t i = 0; i < p->n; i++) {
        const size_t l = strlen(p->e[i].path);
        if (l >= best && strncmp(p->e[i].path, path, l) == 0 &&
            (path[l] == '\0' || path[l] == '.' || path[l] == '[')) {
            best = l;
            *line = p->e[i].line;
            *col = p->e[i].col;
        }
    }
}

void json_pos_free(sten_ctx *ctx, json_pos *p)
{
    for (size_t i = 0; i < p->n; i++)
        sten_free(ctx, p->e[i].path);
    sten_free(ctx, p->e);
    memset(p, 0, sizeof *p);
}
