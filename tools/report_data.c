/* report_data.c — what `sten report` reads and the page's sections: per-epoch
 * metrics (JSON lines), `sten evaluate --json` objects, the long tail of a
 * training file against recommendation lists, and a 2-D PCA of a model's
 * item vectors. Each section is written only when its input is given.
 * Charts and HTML are drawn by report.c; this file does no drawing itself. */
#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ------------------------------------------------------------ metrics lines */

struct rep_metrics {
    char *key[REP_MAX_KEYS]; /* key[0] is "epoch" */
    int n_keys;
    double *v;               /* rows x REP_MAX_KEYS, NaN where a line lacks the key */
    size_t rows, cap;
    unsigned runs;           /* runs seen (an epoch not after the last starts one) */
    unsigned long long first_line, last_line; /* the last run's lines */
};

sten_status rep_metrics_new(sten_ctx *ctx, rep_metrics **out)
{
    rep_metrics *m = calloc(1, sizeof *m);
    if (!m || !(m->key[0] = strdup("epoch"))) {
        free(m);
        return sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    }
    m->n_keys = 1;
    *out = m;
    return STEN_OK;
}

void rep_metrics_free(rep_metrics *m)
{
    if (!m)
        return;
    for (int k = 0; k < m->n_keys; k++)
        free(m->key[k]);
    free(m->v);
    free(m);
}

static int metrics_key(rep_metrics *m, const char *name)
{
    for (int k = 0; k < m->n_keys; k++)
        if (!strcmp(m->key[k], name))
            return k;
    if (m->n_keys == REP_MAX_KEYS || !(m->key[m->n_keys] = strdup(name)))
        return -1;
    return m->n_keys++;
}

sten_status rep_metrics_add_line(sten_ctx *ctx, rep_metrics *m, const char *line, size_t len,
                                 const char *src, unsigned long long lineno)
{
    json_error_t e;
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        return sten_fail(ctx, STEN_E_PARSE, "%s:%llu:%d: %s", src, lineno, e.column, e.text);
    sten_status st = STEN_OK;
    json_t *ep = json_object_get(j, "epoch");
    if (!json_is_object(j))
        st = sten_fail(ctx, STEN_E_PARSE, "%s:%llu: expected one JSON object per line (sten train --metrics)",
                       src, lineno);
    else if (!json_is_integer(ep) || json_integer_value(ep) < 1 || json_integer_value(ep) > REP_MAX_EPOCHS)
        st = sten_fail(ctx, STEN_E_PARSE, "%s:%llu: \"epoch\" must be an integer in [1, %d]", src, lineno,
                       REP_MAX_EPOCHS);
    const double epoch = st ? 0 : (double)json_integer_value(ep);
    if (!st && (m->rows == 0 || epoch <= m->v[(m->rows - 1) * REP_MAX_KEYS])) {
        m->rows = 0, m->runs++, m->first_line = lineno;
    }
    if (!st && m->rows == m->cap) {
        const size_t cap = m->cap ? m->cap * 2 : 64;
        double *v = cap <= REP_MAX_EPOCHS ? realloc(m->v, cap * REP_MAX_KEYS * sizeof *v) : NULL;
        if (!v)
            st = sten_fail(ctx, cap > REP_MAX_EPOCHS ? STEN_E_RANGE : STEN_E_NOMEM,
                           "%s:%llu: more than %d metrics lines", src, lineno, REP_MAX_EPOCHS);
        else
            m->v = v, m->cap = cap;
    }
    double *row = st ? NULL : m->v + m->rows * REP_MAX_KEYS;
    for (int k = 0; row && k < REP_MAX_KEYS; k++)
        row[k] = NAN;
    const char *name;
    json_t *val;
    json_object_foreach(st ? NULL : j, name, val) {
        if (!json_is_number(val)) {
            st = sten_fail(ctx, STEN_E_PARSE, "%s:%llu: \"%s\" must be a number", src, lineno, name);
            break;
        }
        const int k = metrics_key(m, name);
        if (k < 0) {
            st = sten_fail(ctx, STEN_E_RANGE, "%s:%llu: more than %d metrics (\"%s\")", src, lineno,
                           REP_MAX_KEYS, name);
            break;
        }
        row[k] = json_number_value(val);
    }
    json_decref(j);
    if (!st)
        m->rows++, m->last_line = lineno;
    return st;
}

sten_status rep_metrics_read(sten_ctx *ctx, rep_metrics *m, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: cannot open", path);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long long ln = 0;
    sten_status st = STEN_OK;
    while (!st && (len = getline(&buf, &cap, f)) != -1) {
        ln++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            len--;
        if (len > REP_MAX_LINE)
            st = sten_fail(ctx, STEN_E_RANGE, "%s:%llu: line longer than %d bytes", path, ln, REP_MAX_LINE);
        else if (len > 0)
            st = rep_metrics_add_line(ctx, m, buf, (size_t)len, path, ln);
    }
    if (!st && ferror(f))
        st = sten_fail(ctx, STEN_E_IO, "%s: read error", path);
    if (!st && m->rows == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no metrics lines (expected JSON lines as sten train --metrics "
                       "writes)", path);
    free(buf);
    fclose(f);
    return st;
}

/* ------------------------------------------------------------------ helpers */

static void caption(FILE *f, const char *what, const char *src)
{
    fputs("<figcaption>", f);
    rep_escape(f, what);
    if (src) {
        fputs(" From ", f);
        rep_escape(f, src);
        fputc('.', f);
    }
    fputs("</figcaption>\n", f);
}

static void section(FILE *f, const char *id, const char *title)
{
    fprintf(f, "<section id=\"%s\">\n<h2>", id);
    rep_escape(f, title);
    fputs("</h2>\n", f);
}

/* A table cell: a number with 6 significant digits, or a dash. */
static void cell(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "<td>%.6g</td>", v);
    else
        fputs("<td>&#8211;</td>", f);
}

/* ---------------------------------------------------------------- training */

static int key_index(const rep_metrics *m, const char *name)
{
    for (int k = 0; k < m->n_keys; k++)
        if (!strcmp(m->key[k], name))
            return k;
    return -1;
}

static bool has_values(const rep_metrics *m, int k)
{
    if (k < 0)
        return false;
    for (size_t r = 0; r < m->rows; r++)
        if (isfinite(m->v[r * REP_MAX_KEYS + k]))
            return true;
    return false;
}

/* Keys drawn in the loss chart; the other metrics (test:auc, ...) get a
 * chart of their own, and timing keys only the table. */
static bool is_loss_key(const char *k) { return !strcmp(k, "loss") || !strcmp(k, "valid_loss"); }
static bool is_other_key(const char *k)
{
    static const char *const skip[] = {"epoch", "loss", "valid_loss", "reg", "seconds", "examples_per_s",
                                       "alpha", "skipped_batches"};
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (!strcmp(k, skip[i]))
            return false;
    return true;
}

static sten_status training_section(sten_ctx *ctx, FILE *f, const rep_metrics *m, const char *src)
{
    double *x = malloc((m->rows ? m->rows : 1) * sizeof *x), *y[REP_MAX_KEYS] = {0};
    sten_status st = x ? STEN_OK : sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (int k = 0; !st && k < m->n_keys; k++)
        if (!(y[k] = malloc((m->rows ? m->rows : 1) * sizeof **y)))
            st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (size_t r = 0; !st && r < m->rows; r++)
        for (int k = 0; k < m->n_keys; k++)
            y[k][r] = m->v[r * REP_MAX_KEYS + k];
    if (!st) {
        x = memcpy(x, y[0], m->rows * sizeof *x);
        section(f, "training", "Training");
        rep_series s[REP_MAX_SERIES];
        size_t n = 0, n_other = 0;
        const bool dots = m->rows <= 30;
        for (int k = 1; k < m->n_keys && n < REP_MAX_SERIES; k++)
            if (is_loss_key(m->key[k]) && has_values(m, k))
                s[n++] = (rep_series){.name = m->key[k], .x = x, .y = y[k], .n = m->rows, .markers = dots};
        fputs("<div class=\"charts\">\n<figure>\n", f);
        rep_line_chart(f, &(rep_axes){.title = "Loss per epoch", .xlabel = "epoch", .ylabel = "loss per example",
                                      .xint = true}, s, n);
        char what[256];
        snprintf(what, sizeof what, "Training loss%s per example after each epoch (epochs %.0f-%.0f%s).",
                 n > 1 ? " and validation loss" : "", y[0][0], y[0][m->rows - 1],
                 m->runs > 1 ? "; the last run of several in the file" : "");
        caption(f, what, src);
        fputs("</figure>\n", f);
        n = 0;
        for (int k = 1; k < m->n_keys && n < REP_MAX_SERIES; k++)
            if (is_other_key(m->key[k]) && has_values(m, k))
                s[n++] = (rep_series){.name = m->key[k], .x = x, .y = y[k], .n = m->rows, .markers = dots};
        n_other = n;
        if (n_other) {
            fputs("<figure>\n", f);
            rep_line_chart(f, &(rep_axes){.title = "Validation metrics per epoch", .xlabel = "epoch",
                                          .ylabel = "value", .xint = true}, s, n);
            caption(f, "Metrics of the held-out data after each epoch.", src);
            fputs("</figure>\n", f);
        }
        fputs("</div>\n", f);
        if (!n_other && !has_values(m, key_index(m, "valid_loss")))
            fputs("<p class=\"note\">No validation metrics in this run: sten train --validate FILE adds "
                  "valid_loss per epoch.</p>\n", f);
        /* every epoch up to 60 rows; beyond, evenly spaced ones and the last */
        const size_t every = m->rows <= 60 ? 1 : (m->rows + 59) / 60;
        fputs("<table>\n<tr>", f);
        for (int k = 0; k < m->n_keys; k++)
            if (has_values(m, k)) {
                fputs("<th>", f);
                rep_escape(f, m->key[k]);
                fputs("</th>", f);
            }
        fputs("</tr>\n", f);
        for (size_t r = 0; r < m->rows; r++) {
            if (r % every && r + 1 != m->rows)
                continue;
            fputs("<tr>", f);
            for (int k = 0; k < m->n_keys; k++)
                if (has_values(m, k))
                    cell(f, y[k][r]);
            fputs("</tr>\n", f);
        }
        fputs("</table>\n</section>\n", f);
    }
    free(x);
    for (int k = 0; k < REP_MAX_KEYS; k++)
        free(y[k]);
    return st;
}

/* ------------------------------------------------------------- evaluations */

typedef struct {
    uint32_t n;
    double k[STEN_EVAL_MAX_K], v[6][STEN_EVAL_MAX_K]; /* in at_keys order */
    double mrr, coverage, users;
} eval_data;

static const char *const at_keys[6] = {"precision", "recall", "recall_trunc", "ndcg", "map", "hit_rate"};

static sten_status eval_read(sten_ctx *ctx, const char *path, eval_data *d)
{
    json_error_t e;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        return sten_fail(ctx, strstr(e.text, "unable to open") ? STEN_E_NOTFOUND : STEN_E_PARSE, "%s:%d:%d: %s",
                         path, e.line, e.column, e.text);
    sten_status st = STEN_OK;
    memset(d, 0, sizeof *d);
    d->mrr = d->coverage = d->users = NAN;
    const char *key;
    json_t *val, *at = NULL;
    if (!json_is_object(j))
        st = sten_fail(ctx, STEN_E_PARSE, "%s: expected the JSON object of sten evaluate --json", path);
    else if (json_object_get(j, "rmse"))
        st = sten_fail(ctx, STEN_E_PARSE, "%s: holds score metrics (sten evaluate --scores); the report draws "
                       "ranking metrics (sten evaluate -r RECS -t TRUTH --json)", path);
    json_object_foreach(st ? NULL : j, key, val) {
        double *slot = !strcmp(key, "mrr") ? &d->mrr : !strcmp(key, "coverage") ? &d->coverage
                     : !strcmp(key, "users") ? &d->users : NULL;
        if (!strcmp(key, "at") && json_is_array(val))
            at = val;
        else if (!strcmp(key, "users_without_list") && json_is_number(val))
            ;
        else if (slot && json_is_number(val))
            *slot = json_number_value(val);
        else {
            st = sten_fail(ctx, STEN_E_PARSE, "%s: %s \"%s\" (expected users, users_without_list, mrr, coverage "
                           "and the array at, as sten evaluate --json writes)", path,
                           slot || !strcmp(key, "at") || !strcmp(key, "users_without_list") ? "bad value of"
                                                                                             : "unknown key", key);
            break;
        }
    }
    if (!st && (!at || json_array_size(at) == 0 || json_array_size(at) > STEN_EVAL_MAX_K))
        st = sten_fail(ctx, STEN_E_PARSE, "%s: \"at\" must list 1 to %d cut-offs", path, STEN_EVAL_MAX_K);
    for (size_t i = 0; !st && i < json_array_size(at); i++) {
        json_t *o = json_array_get(at, i), *k = json_object_get(o, "k");
        if (!json_is_integer(k) || json_integer_value(k) < 1 ||
            (i && (double)json_integer_value(k) <= d->k[i - 1])) {
            st = sten_fail(ctx, STEN_E_PARSE, "%s: at[%zu]: \"k\" must be an integer >= 1, increasing", path, i);
            break;
        }
        d->k[i] = (double)json_integer_value(k);
        for (int m = 0; m < 6; m++)
            d->v[m][i] = NAN;
        json_object_foreach(o, key, val) {
            int m = 0;
            while (m < 6 && strcmp(key, at_keys[m]))
                m++;
            if (!strcmp(key, "k"))
                continue;
            if (m == 6 || !json_is_number(val)) {
                st = sten_fail(ctx, STEN_E_PARSE, "%s: at[%zu]: %s \"%s\"", path, i,
                               m == 6 ? "unknown key" : "not a number:", key);
                break;
            }
            d->v[m][i] = json_number_value(val);
        }
        d->n++;
    }
    json_decref(j);
    return st;
}

static sten_status ranking_section(sten_ctx *ctx, FILE *f, const rep_inputs *in)
{
    eval_data *d = calloc(in->n_eval, sizeof *d);
    if (!d)
        return sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    sten_status st = STEN_OK;
    for (uint32_t i = 0; !st && i < in->n_eval; i++)
        st = eval_read(ctx, in->eval_path[i], &d[i]);
    if (!st) {
        section(f, "ranking", "Ranking quality");
        char src[1024] = "";
        size_t o = 0;
        for (uint32_t i = 0; i < in->n_eval && o < sizeof src; i++)
            o += (size_t)snprintf(src + o, sizeof src - o, "%s%s", i ? ", " : "", in->eval_path[i]);
        fputs("<div class=\"charts\">\n", f);
        for (int m = 1; m <= 3; m += 2) { /* recall, ndcg */
            rep_series s[REP_MAX_NAMED];
            for (uint32_t i = 0; i < in->n_eval; i++)
                s[i] = (rep_series){.name = in->eval_name[i], .x = d[i].k, .y = d[i].v[m], .n = d[i].n,
                                    .markers = true};
            fputs("<figure>\n", f);
            const bool recall = m == 1;
            rep_line_chart(f, &(rep_axes){.title = recall ? "Recall@k" : "NDCG@k", .xlabel = "k (list length)",
                                          .ylabel = recall ? "Recall@k" : "NDCG@k", .xint = true, .y0 = true},
                           s, in->n_eval);
            caption(f, recall ? "Share of each user's held-out items found in the top k, averaged over users."
                              : "Discounted gain of the hits in the top k over the best possible, averaged "
                                "over users.", src);
            fputs("</figure>\n", f);
        }
        fputs("</div>\n<table>\n<tr><th>recommender</th><th>k</th><th>Precision</th><th>Recall</th>"
              "<th>Recall*</th><th>NDCG</th><th>MAP</th><th>HitRate</th><th>MRR</th><th>coverage</th></tr>\n", f);
        for (uint32_t i = 0; i < in->n_eval; i++)
            for (uint32_t c = 0; c < d[i].n; c++) {
                fputs("<tr><td>", f);
                rep_escape(f, in->eval_name[i]);
                fprintf(f, "</td><td>%.0f</td>", d[i].k[c]);
                for (int m = 0; m < 6; m++)
                    cell(f, d[i].v[m][c]);
                cell(f, d[i].mrr);
                cell(f, d[i].coverage);
                fputs("</tr>\n", f);
            }
        fputs("</table>\n<p class=\"note\">Definitions: docs/evaluate.md (Recall* = hits / min(k, held-out)).</p>\n"
              "</section>\n", f);
    }
    free(d);
    return st;
}

/* --------------------------------------------------------------- long tail */

typedef struct {
    sten_index *items, *users;
    sten_csr T, R[REP_MAX_NAMED];
    uint32_t *tid, *rid[REP_MAX_NAMED];
    uint32_t n;          /* catalogue: items of the index */
    double *pop;         /* training interactions per item id */
    uint32_t *order;     /* item ids by decreasing popularity (ties: lower id) */
} tail_data;

typedef struct {
    double pop;
    uint32_t id;
} pop_id;

static int by_pop(const void *a, const void *b)
{
    const pop_id *x = a, *y = b;
    return x->pop != y->pop ? (x->pop < y->pop ? 1 : -1) : (x->id > y->id) - (x->id < y->id);
}

static void tail_free(sten_ctx *ctx, tail_data *t)
{
    sten_csr_free(ctx, &t->T);
    sten_free(ctx, t->tid);
    for (int i = 0; i < REP_MAX_NAMED; i++) {
        sten_csr_free(ctx, &t->R[i]);
        sten_free(ctx, t->rid[i]);
    }
    sten_index_free(ctx, t->items);
    sten_index_free(ctx, t->users);
    free(t->pop);
    free(t->order);
}

/* Reads --features (or grows an index), --train and every --recs, and
 * counts training interactions per item. */
static sten_status tail_read(sten_ctx *ctx, const rep_inputs *in, tail_data *t)
{
    sten_text_stats ts;
    sten_status st = sten_index_new(ctx, &t->items);
    if (!st && in->features)
        st = sten_index_load(ctx, t->items, in->features);
    if (!st)
        st = sten_index_new(ctx, &t->users);
    if (!st && in->train)
        st = sten_text_read(ctx, in->train, t->items, !in->features, t->users, false, &t->T, &t->tid, &ts);
    for (uint32_t i = 0; !st && i < in->n_recs; i++)
        st = sten_text_read(ctx, in->recs_path[i], t->items, !in->features, t->users, false, &t->R[i], &t->rid[i],
                            &ts);
    t->n = st ? 0 : sten_index_span(t->items);
    if (!st && t->n == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no items", in->train ? in->train : in->recs_path[0]);
    if (!st && (!(t->pop = calloc(t->n, sizeof *t->pop)) || !(t->order = malloc(t->n * sizeof *t->order))))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (uint64_t e = 0; !st && e < t->T.nnz; e++)
        t->pop[t->T.col[e]]++;
    pop_id *pi = st ? NULL : malloc(t->n * sizeof *pi);
    if (!st && !pi)
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (uint32_t i = 0; !st && i < t->n; i++)
        pi[i] = (pop_id){t->pop[i], i};
    if (!st)
        qsort(pi, t->n, sizeof *pi, by_pop);
    for (uint32_t i = 0; !st && i < t->n; i++)
        t->order[i] = pi[i].id;
    free(pi);
    return st;
}

/* Cumulative share of the entries of m going to the items of ranks
 * < r (r = 1..n), at the sampled ranks xs (1-based, as shares of n). */
static sten_status cumulative(sten_ctx *ctx, const tail_data *t, const sten_csr *m, const double *xs, size_t np,
                              double *out, uint32_t *distinct, double *head)
{
    double *cnt = calloc(t->n, sizeof *cnt);
    if (!cnt)
        return sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (uint64_t e = 0; e < m->nnz; e++)
        cnt[m->col[e]]++;
    double sum = 0, total = (double)(m->nnz ? m->nnz : 1);
    size_t p = 0;
    *distinct = 0;
    *head = 0;
    const uint32_t head_n = (uint32_t)ceil(t->n * 0.2);
    while (p < np && xs[p] <= 0)
        out[p++] = 0;
    for (uint32_t r = 0; r < t->n; r++) {
        const double c = cnt[t->order[r]];
        sum += c;
        *distinct += c > 0;
        if (r + 1 == head_n)
            *head = sum / total;
        while (p < np && xs[p] * t->n <= r + 1 + 1e-9)
            out[p++] = sum / total;
    }
    while (p < np)
        out[p++] = sum / total;
    free(cnt);
    return STEN_OK;
}

static sten_status tail_section(sten_ctx *ctx, FILE *f, const rep_inputs *in)
{
    tail_data t;
    memset(&t, 0, sizeof t);
    sten_status st = tail_read(ctx, in, &t);
    /* ranks sampled for the curves: every item up to 600, else 600 evenly */
    const size_t np = st ? 0 : (t.n <= 600 ? t.n : 600) + 1;
    double *rank = calloc(np + 1, sizeof *rank), *cnt = calloc(np + 1, sizeof *cnt);
    double *share = calloc(np + 1, sizeof *share), *cum[REP_MAX_NAMED + 1] = {0};
    uint32_t distinct[REP_MAX_NAMED + 1];
    double head[REP_MAX_NAMED + 1];
    if (!st && (!rank || !cnt || !share))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (uint32_t i = 0; !st && i <= in->n_recs; i++)
        if (!(cum[i] = calloc(np + 1, sizeof **cum)))
            st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (size_t p = 0; !st && p < np; p++) { /* p = 0 is the origin of the share curves */
        const uint32_t r = p == 0 ? 0 : (uint32_t)((double)(p - 1) * (t.n - 1) / (double)(np - 2 > 0 ? np - 2 : 1));
        rank[p] = r + 1;
        cnt[p] = t.pop[t.order[r]];
        share[p] = p == 0 ? 0 : (double)(r + 1) / t.n;
    }
    for (uint32_t i = 0; !st && in->train && i == 0; i++)
        st = cumulative(ctx, &t, &t.T, share, np, cum[0], &distinct[0], &head[0]);
    for (uint32_t i = 0; !st && i < in->n_recs; i++)
        st = cumulative(ctx, &t, &t.R[i], share, np, cum[i + 1], &distinct[i + 1], &head[i + 1]);
    if (!st) {
        section(f, "long-tail", "Item popularity and coverage");
        fputs("<div class=\"charts\">\n", f);
        if (in->train) {
            fputs("<figure>\n", f);
            rep_line_chart(f, &(rep_axes){.title = "The long tail", .xlabel = "item rank by popularity",
                                          .ylabel = "training interactions", .ylog = true},
                           &(rep_series){.name = "interactions per item", .x = rank + 1, .y = cnt + 1, .n = np - 1},
                           1);
            char what[256];
            snprintf(what, sizeof what, "Training interactions of each item, most popular first (log scale); "
                     "the top 20%% of the %u items hold %.1f%% of them.", t.n, 100 * head[0]);
            caption(f, what, in->train);
            fputs("</figure>\n", f);
        }
        if (in->n_recs) {
            rep_series s[REP_MAX_NAMED + 1];
            size_t n = 0;
            if (in->train)
                s[n++] = (rep_series){.name = "training interactions", .x = share, .y = cum[0], .n = np,
                                      .dashed = true};
            for (uint32_t i = 0; i < in->n_recs; i++)
                s[n++] = (rep_series){.name = in->recs_name[i], .x = share, .y = cum[i + 1], .n = np};
            fputs("<figure>\n", f);
            rep_line_chart(f, &(rep_axes){.title = "Where the recommendations go",
                                          .xlabel = in->train ? "items, most popular first" : "items, by id",
                                          .ylabel = "cumulative share of list slots", .y0 = true,
                                          .percent = true, .xpercent = true}, s, n);
            char what[512];
            snprintf(what, sizeof what, "Share of all recommendation slots that go to the most popular x%% of "
                     "items%s; a curve near the top-left corner recommends only the head.",
                     in->train ? " (popularity from the training file, dashed)" : "");
            caption(f, what, NULL);
            fputs("</figure>\n", f);
        }
        fputs("</div>\n<table>\n<tr><th>source</th><th>users</th><th>entries</th><th>distinct items</th>"
              "<th>coverage</th><th>in the top 20% of items</th></tr>\n", f);
        for (uint32_t i = in->train ? 0 : 1; i <= in->n_recs; i++) {
            const sten_csr *m = i ? &t.R[i - 1] : &t.T;
            fputs("<tr><td>", f);
            rep_escape(f, i ? in->recs_name[i - 1] : "training interactions");
            fprintf(f, " (");
            rep_escape(f, i ? in->recs_path[i - 1] : in->train);
            fprintf(f, ")</td><td>%u</td><td>%llu</td><td>%u</td><td>%.2f%%</td><td>%.2f%%</td></tr>\n", m->rows,
                    (unsigned long long)m->nnz, distinct[i], 100.0 * distinct[i] / t.n, 100 * head[i]);
        }
        fprintf(f, "</table>\n<p class=\"note\">Coverage: distinct items in the lists over the catalogue of %u "
                "items (%s).</p>\n</section>\n", t.n, in->features ? "the --features index" : "items in these files");
    }
    free(rank), free(cnt), free(share);
    for (uint32_t i = 0; i <= REP_MAX_NAMED; i++)
        free(cum[i]);
    tail_free(ctx, &t);
    return st;
}

/* -------------------------------------------------------------- embeddings */

/* Item vectors of a model with one sparse input layer and a hidden layer:
 * the first hidden layer's activation with only item i's input on, i.e.
 * act(W_i + b), the encoder's row for the item. Items are the input units
 * below `items` (0: the entries of the index the model was trained with,
 * else all units; the rest is DSSTNE's padding). *why says why a model
 * has none (then STEN_OK and *X NULL). */
static sten_status item_vectors(sten_ctx *ctx, const char *model, uint32_t items, float **X, uint32_t *n,
                                uint32_t *dim, char *hidden, const char **why)
{
    sten_net_desc *d = NULL;
    *X = NULL;
    *why = NULL;
    sten_status st = sten_model_read_desc(ctx, model, &d);
    if (st)
        return st;
    const sten_layer_desc *in = NULL, *h = NULL;
    uint32_t n_in = 0;
    for (uint32_t i = 0; i < d->n_layers; i++) {
        if (d->layers[i].kind == STEN_LAYER_INPUT)
            in = &d->layers[i], n_in++;
        else if (d->layers[i].kind == STEN_LAYER_HIDDEN && !h)
            h = &d->layers[i];
    }
    if (n_in != 1 || !in->sparse || !in->dataset[0] || in->N == 0)
        *why = "the model does not have exactly one sparse input layer";
    else if (!h || h->type != STEN_LAYER_FULLY_CONNECTED || h->N < 2)
        *why = "the model has no fully connected hidden layer of two or more units";
    if (*why) {
        sten_net_desc_free(ctx, d);
        return STEN_OK;
    }
    char dname[STEN_NAME_MAX];
    snprintf(dname, sizeof dname, "%s", in->dataset);
    snprintf(hidden, STEN_NAME_MAX, "%s", h->name);
    const uint32_t N = in->N;
    if (!items)
        items = in->features.entries;
    const uint32_t n_items = items && items < N ? items : N;
    sten_net_desc_free(ctx, d);
    /* one example per item: row i holds only item i */
    sten_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.name = dname;
    ds.attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
    ds.dims = 1;
    ds.width = N;
    ds.examples = ds.unique = n_items;
    sten_net *net = NULL;
    const uint32_t B = 256;
    uint32_t ids[256];
    st = sten_csr_init(ctx, &ds.sparse, n_items, N, n_items, false);
    if (!st) {
        for (uint32_t i = 0; i < n_items; i++)
            ds.sparse.row_ptr[i] = i, ds.sparse.col[i] = i;
        ds.sparse.row_ptr[n_items] = n_items;
        ds.sparse.rows = n_items;
        ds.sparse.nnz = n_items;
        st = sten_net_load(ctx, model, &ds, 1, B, false, &net);
    }
    for (uint32_t i = 0; !st && i < n_items; i += B) {
        const uint32_t nb = n_items - i < B ? n_items - i : B;
        for (uint32_t b = 0; b < nb; b++)
            ids[b] = i + b;
        const float *a;
        uint32_t w;
        st = sten_net_infer(ctx, net, ids, nb, hidden, &a, &w);
        if (!st && !*X && !(*X = malloc((size_t)n_items * w * sizeof **X)))
            st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
        if (!st)
            memcpy(*X + (size_t)i * w, a, (size_t)nb * w * sizeof **X), *dim = w;
    }
    *n = n_items;
    sten_net_free(ctx, net);
    sten_csr_free(ctx, &ds.sparse);
    if (st)
        free(*X), *X = NULL;
    return st;
}

static sten_status embedding_section(sten_ctx *ctx, FILE *f, const rep_inputs *in)
{
    float *X = NULL, *Y = NULL;
    uint32_t n = 0, dim = 0;
    char hidden[STEN_NAME_MAX] = "";
    const char *why = NULL;
    sten_pca pca;
    memset(&pca, 0, sizeof pca);
    tail_data t;
    memset(&t, 0, sizeof t);
    /* the --features index: item names, and how many input units are items */
    sten_index *fx = NULL;
    sten_status st = STEN_OK;
    if (in->features && !(st = sten_index_new(ctx, &fx)))
        st = sten_index_load(ctx, fx, in->features);
    if (!st)
        st = item_vectors(ctx, in->model, fx ? sten_index_span(fx) : 0, &X, &n, &dim, hidden, &why);
    if (!st && why) {
        section(f, "embeddings", "Item embeddings");
        fputs("<p class=\"note\">No item embeddings: ", f);
        rep_escape(f, why);
        fputs(" (", f);
        rep_escape(f, in->model);
        fputs(").</p>\n</section>\n", f);
        sten_index_free(ctx, fx);
        return STEN_OK;
    }
    if (!st) {
        sten_pca_opts o = sten_pca_defaults();
        o.num_components = 2;
        o.feature_dim = dim;
        o.mode = dim > 4096 ? STEN_PCA_RANDOMIZED : STEN_PCA_REGULAR;
        st = sten_pca_fit(ctx, X, n, &o, &pca);
    }
    if (!st && !(Y = malloc((size_t)n * 2 * sizeof *Y)))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    if (!st)
        st = sten_pca_project(ctx, &pca, X, n, Y);
    /* popularity classes need items numbered as the model's inputs: --features */
    const bool classes = !st && in->train && in->features;
    if (classes)
        st = tail_read(ctx, &(rep_inputs){.train = in->train, .features = in->features}, &t);
    const size_t np = n < in->max_points ? n : in->max_points;
    double *px = malloc((np ? np : 1) * sizeof *px), *py = malloc((np ? np : 1) * sizeof *py);
    int *cls = calloc(np ? np : 1, sizeof *cls);
    const char **label = in->features ? calloc(np ? np : 1, sizeof *label) : NULL;
    char(*num)[24] = in->features ? calloc(np ? np : 1, sizeof *num) : NULL;
    if (!st && (!px || !py || !cls || (in->features && (!label || !num))))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    uint32_t *rank_of = NULL;
    if (!st && classes && !(rank_of = malloc(t.n * sizeof *rank_of)))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (uint32_t r = 0; !st && classes && r < t.n; r++)
        rank_of[t.order[r]] = r;
    for (size_t p = 0; !st && p < np; p++) { /* evenly spaced items when there are more than max_points */
        const uint32_t i = (uint32_t)((double)p * n / (double)np);
        px[p] = Y[(size_t)i * 2], py[p] = Y[(size_t)i * 2 + 1];
        if (classes)
            cls[p] = i >= t.n || t.pop[i] == 0 ? 2 : rank_of[i] < ceil(t.n * 0.2) ? 0 : 1;
        if (label) {
            snprintf(num[p], sizeof num[p], "unit %u", i);
            label[p] = num[p];
        }
    }
    for (size_t p = 0; !st && label && p < np; p++) {
        const char *l = sten_index_label(fx, (uint32_t)((double)p * n / (double)np));
        if (l)
            label[p] = l;
    }
    if (!st) {
        section(f, "embeddings", "Item embeddings");
        static const char *const names[3] = {"top 20% of items", "other items", "no training interactions"};
        fputs("<div class=\"charts\">\n<figure>\n", f);
        rep_scatter(f, &(rep_axes){.title = "Item vectors, first two principal components", .xlabel = "PC1",
                                   .ylabel = "PC2"}, px, py, np, classes ? cls : NULL, names, classes ? 3 : 1,
                    label);
        char what[768];
        const double tv = pca.total_variance > 0 ? pca.total_variance : 1;
        snprintf(what, sizeof what, "Each item's vector in layer %s (its activation with only that item's "
                 "input on: %u values) projected on the first two principal components (%.1f%% and %.1f%% of "
                 "the variance); %zu of %u items%s.%s", hidden, dim, 100 * pca.eigenvalues[0] / tv,
                 100 * pca.eigenvalues[1] / tv, np, n, np < n ? ", evenly spaced" : "",
                 classes ? " Colour: popularity in the training file." : "");
        caption(f, what, in->model);
        fputs("</figure>\n</div>\n</section>\n", f);
    }
    sten_index_free(ctx, fx);
    free(rank_of);
    free(px), free(py), free(cls), free(label), free(num);
    tail_free(ctx, &t);
    sten_pca_free(ctx, &pca);
    free(X), free(Y);
    return st;
}

/* ------------------------------------------------------------------- page */

sten_status rep_write(sten_ctx *ctx, const rep_inputs *in, const char *path)
{
    sten_outfile *of = NULL;
    FILE *f = NULL;
    sten_status st = sten_outfile_open(ctx, path, &of, &f);
    if (st)
        return st;
    char sub[2048];
    size_t o = (size_t)snprintf(sub, sizeof sub, "sten %s report, from", sten_version());
    const char *files[4 + 2 * REP_MAX_NAMED];
    size_t nf = 0;
    if (in->metrics)
        files[nf++] = in->metrics_src;
    for (uint32_t i = 0; i < in->n_eval; i++)
        files[nf++] = in->eval_path[i];
    if (in->train)
        files[nf++] = in->train;
    for (uint32_t i = 0; i < in->n_recs; i++)
        files[nf++] = in->recs_path[i];
    if (in->model)
        files[nf++] = in->model;
    for (size_t i = 0; i < nf && o < sizeof sub; i++)
        o += (size_t)snprintf(sub + o, sizeof sub - o, "%s %s", i ? "," : "", files[i]);
    rep_page_begin(f, in->title ? in->title : "sten report", sub);
    if (in->metrics && in->metrics->rows)
        st = training_section(ctx, f, in->metrics, in->metrics_src);
    else if (in->metrics)
        fputs("<section id=\"training\"><h2>Training</h2><p class=\"note\">No epochs were trained in this "
              "run.</p></section>\n", f);
    if (!st && in->n_eval)
        st = ranking_section(ctx, f, in);
    if (!st && (in->train || in->n_recs))
        st = tail_section(ctx, f, in);
    if (!st && in->model)
        st = embedding_section(ctx, f, in);
    if (st) {
        sten_outfile_abort(ctx, of);
        return st;
    }
    rep_page_end(f);
    return sten_outfile_commit(ctx, of);
}
