/* report.h — `sten report`'s parts: a self-contained HTML page with inline
 * SVG charts (line charts, scatter plots, tables), and the inputs it draws
 * (training metrics, evaluations, the long tail, item embeddings). No
 * scripts, fonts or URLs: the page reads the same offline and without
 * JavaScript. Used by `sten report` and `sten train --report`. */
#ifndef STEN_REPORT_H
#define STEN_REPORT_H

#include "sten.h"

#include <stdbool.h>
#include <stdio.h>

/* Bounds on what untrusted report inputs can grow. */
#define REP_MAX_KEYS 32          /* metrics per JSON line, epoch included */
#define REP_MAX_EPOCHS 1000000   /* lines of a metrics file (train's epoch limit) */
#define REP_MAX_LINE 65536       /* bytes per metrics line */
#define REP_MAX_NAMED 8          /* --eval / --recs entries */
#define REP_NAME_MAX 64          /* a recommender's name, with NUL */
#define REP_MAX_SERIES 12        /* lines per chart */

/* ------------------------------------------------------------------ page */

/* HTML text with &, <, >, " and ' escaped. */
void rep_escape(FILE *f, const char *s);
/* The page's head (styles for light and dark) and heading; rep_page_end
 * closes it. */
void rep_page_begin(FILE *f, const char *title, const char *subtitle);
void rep_page_end(FILE *f);

/* One line of a chart: n points (x[i], y[i]); a NaN y breaks the line. */
typedef struct {
    const char *name;
    const double *x, *y;
    size_t n;
    bool markers; /* a dot at each point (short series, single points) */
    bool dashed;  /* a reference line */
} rep_series;

typedef struct {
    const char *title;          /* above the plot */
    const char *xlabel, *ylabel;
    bool xlog, ylog;            /* base-10 axes (values <= 0 are not drawn) */
    bool xint;                  /* integer ticks only (epochs, k) */
    bool y0;                    /* the y axis includes 0 */
    bool percent;               /* y values are shares, labelled as % */
    bool xpercent;              /* x values are shares, labelled as % */
} rep_axes;

/* An SVG line chart with axes, ticks, grid and a legend. */
void rep_line_chart(FILE *f, const rep_axes *ax, const rep_series *s, size_t n);
/* An SVG scatter plot: point i in class cls[i] (NULL: all 0) of n_cls named
 * classes (a legend when n_cls > 1); label[i] (may be NULL) is its tooltip. */
void rep_scatter(FILE *f, const rep_axes *ax, const double *x, const double *y, size_t n,
                 const int *cls, const char *const *cls_names, int n_cls, const char *const *label);

/* ----------------------------------------------------------------- inputs */

/* Per-epoch metrics: JSON lines as `sten train --metrics` writes them. */
typedef struct rep_metrics rep_metrics;
sten_status rep_metrics_new(sten_ctx *ctx, rep_metrics **out);
void rep_metrics_free(rep_metrics *m);
/* Adds one line (len bytes, no newline); src and line name it in errors
 * ("train.jsonl:3:12: ..."). An epoch not after the previous one starts a
 * new run: the report shows the last run of a file. */
sten_status rep_metrics_add_line(sten_ctx *ctx, rep_metrics *m, const char *line, size_t len,
                                 const char *src, unsigned long long lineno);
sten_status rep_metrics_read(sten_ctx *ctx, rep_metrics *m, const char *path);

/* What a report shows; each section only when its input is given. */
typedef struct {
    const char *title;
    const rep_metrics *metrics;     /* NULL: no training section */
    const char *metrics_src;        /* where the metrics came from, for the caption */
    uint32_t n_eval;
    const char *eval_name[REP_MAX_NAMED], *eval_path[REP_MAX_NAMED];
    const char *train;              /* DSSTNE text: the long tail */
    uint32_t n_recs;
    const char *recs_name[REP_MAX_NAMED], *recs_path[REP_MAX_NAMED];
    const char *features;           /* item index (aligns --train with --model) */
    const char *model;              /* item embeddings */
    uint32_t max_points;            /* scatter points at most */
} rep_inputs;

/* Writes the report to path atomically (a temporary renamed into place).
 * Errors name the input file (file:line where there is one). */
sten_status rep_write(sten_ctx *ctx, const rep_inputs *in, const char *path);

#endif
