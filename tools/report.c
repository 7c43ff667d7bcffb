/* report.c — the HTML page and SVG charts of `sten report`: axes with
 * "nice" ticks (linear or base-10 log), grid, legend, lines and points,
 * every name escaped. Colours are CSS variables with a light and a dark
 * set, so one file reads in either scheme. Draws only: the data is read
 * and shaped in report_data.c. */
#include "report.h"

#include <math.h>
#include <string.h>

/* Chart geometry in SVG user units (the SVG scales to its box). */
enum { CH_W = 640, CH_H = 340, CH_L = 64, CH_R = 20, CH_B = 46 };
#define N_COLOURS 8

void rep_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char page_style[] =
    ":root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#57606a;--grid:#e4e7eb;--axis:#8c959f;"
    "--c0:#0b6bcb;--c1:#d9730d;--c2:#1a7f37;--c3:#b4237c;--c4:#6f42c1;--c5:#9a7500;--c6:#0598bc;--c7:#cf222e}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--grid:#262c36;"
    "--axis:#6e7681;--c0:#4493f8;--c1:#f0883e;--c2:#3fb950;--c3:#db61a2;--c4:#a371f7;--c5:#d29922;"
    "--c6:#39c5cf;--c7:#ff7b72}}\n"
    "body{background:var(--bg);color:var(--fg);margin:0;font:15px/1.45 system-ui,sans-serif}\n"
    "main{max-width:1400px;margin:0 auto;padding:12px 24px 32px}\n"
    "h1{font-size:24px;margin:8px 0 2px}h2{font-size:19px;margin:28px 0 6px;border-bottom:1px solid var(--grid)}\n"
    ".sub,figcaption,.note{color:var(--muted);font-size:13px}\n"
    ".charts{display:flex;flex-wrap:wrap;gap:12px 24px}\n"
    "figure{margin:0;flex:1 1 520px;max-width:680px}\n"
    "svg{width:100%;height:auto;display:block}\n"
    "svg text{fill:var(--fg);font:12px system-ui,sans-serif}svg text.t{font-weight:600;font-size:13px}\n"
    ".grid{stroke:var(--grid)}.axis{stroke:var(--axis)}\n"
    "path.line{fill:none;stroke-width:2;stroke-linejoin:round}.dash{stroke-dasharray:6 4}\n"
    ".s0{stroke:var(--c0)}.s1{stroke:var(--c1)}.s2{stroke:var(--c2)}.s3{stroke:var(--c3)}"
    ".s4{stroke:var(--c4)}.s5{stroke:var(--c5)}.s6{stroke:var(--c6)}.s7{stroke:var(--c7)}\n"
    ".f0{fill:var(--c0)}.f1{fill:var(--c1)}.f2{fill:var(--c2)}.f3{fill:var(--c3)}"
    ".f4{fill:var(--c4)}.f5{fill:var(--c5)}.f6{fill:var(--c6)}.f7{fill:var(--c7)}\n"
    "g.pts circle{fill-opacity:.65}path.dots{fill:none;stroke-width:5;stroke-linecap:round;stroke-opacity:.65}\n"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:10px 0;font-size:14px}\n"
    "th,td{padding:3px 10px;border-bottom:1px solid var(--grid);text-align:right}"
    "th:first-child,td:first-child{text-align:left}\n";

void rep_page_begin(FILE *f, const char *title, const char *subtitle)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"color-scheme\" content=\"light dark\">\n"
          /* the page loads nothing: a browser refuses any fetch it would make */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<title>", f);
    rep_escape(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<h1>", page_style);
    rep_escape(f, title);
    fputs("</h1>\n<p class=\"sub\">", f);
    rep_escape(f, subtitle);
    fputs("</p>\n", f);
}

void rep_page_end(FILE *f)
{
    fputs("</main>\n</body>\n</html>\n", f);
}

/* ------------------------------------------------------------------ scales */

typedef struct {
    double lo, hi;  /* domain (log10 of it on a log axis) */
    double step;    /* tick step (in log10 units on a log axis) */
    bool log, integer, percent;
    double p0, p1;  /* pixel range */
} scale;

static double nice_step(double span, bool integer)
{
    if (!(span > 0))
        return 1;
    const double raw = span / 5, mag = pow(10, floor(log10(raw))), r = raw / mag;
    const double step = (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
    return integer && step < 1 ? 1 : step;
}

/* Domain of the finite values (positive ones on a log axis); expand rounds
 * it out to whole ticks. */
static scale make_scale(double lo, double hi, bool log_, bool integer, bool expand, bool zero)
{
    scale s = {.log = log_, .integer = integer};
    if (!(lo <= hi)) /* no values */
        lo = log_ ? 1 : 0, hi = log_ ? 10 : 1;
    if (zero && !log_)
        lo = fmin(lo, 0), hi = fmax(hi, 0);
    if (log_) {
        s.lo = floor(log10(lo));
        s.hi = ceil(log10(hi));
        if (s.hi <= s.lo)
            s.hi = s.lo + 1;
        s.step = ceil((s.hi - s.lo) / 8);
        return s;
    }
    if (hi - lo < 1e-12 * fmax(1, fabs(hi))) { /* one value */
        const double pad = integer ? 1 : fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= pad, hi += pad;
        if (integer && lo < 0 && hi - pad >= 0 && !zero)
            lo = fmax(lo, 0);
    }
    s.step = nice_step(hi - lo, integer);
    s.lo = expand ? floor(lo / s.step) * s.step : lo;
    s.hi = expand ? ceil(hi / s.step) * s.step : hi;
    return s;
}

static double to_px(const scale *s, double v)
{
    const double t = s->log ? log10(v) : v;
    return s->p0 + (t - s->lo) / (s->hi - s->lo) * (s->p1 - s->p0);
}

static bool drawable(const scale *s, double v)
{
    return isfinite(v) && (!s->log || v > 0);
}

static void tick_label(const scale *s, double v, char *buf, size_t n)
{
    if (s->percent) {
        snprintf(buf, n, "%.4g%%", v * 100);
        return;
    }
    const double a = fabs(v);
    if (a >= 1e4 && a == floor(a)) {
        const double d = a >= 1e9 ? 1e9 : a >= 1e6 ? 1e6 : 1e3;
        snprintf(buf, n, "%.4g%s", v / d, d == 1e9 ? "G" : d == 1e6 ? "M" : "k");
    } else {
        snprintf(buf, n, "%.4g", a < 1e-12 ? 0.0 : v);
    }
}

/* The values of the ticks of s, at most max of them. */
static int ticks(const scale *s, double *out, int max)
{
    int n = 0;
    if (s->log) {
        for (double e = s->lo; e <= s->hi + 1e-9 && n < max; e += s->step)
            out[n++] = pow(10, e);
        return n;
    }
    for (double t = ceil(s->lo / s->step - 1e-9) * s->step; t <= s->hi + 1e-9 * s->step && n < max; t += s->step)
        out[n++] = fabs(t) < 1e-12 * s->step ? 0 : t;
    return n;
}

/* ------------------------------------------------------------------- frame */

typedef struct {
    scale x, y;
    int top; /* plot area top, below title and legend */
} frame;

/* The legend's rows, laid out left to right at about 7 units per letter. */
static int legend_rows(const char *const *names, size_t n, bool draw, FILE *f, int y0, const bool *dashed,
                       bool dots)
{
    int x = CH_L, row = 0;
    for (size_t i = 0; i < n; i++) {
        const int w = 30 + 7 * (int)strlen(names[i] ? names[i] : "") + 16;
        if (x + w > CH_W - CH_R && x > CH_L)
            x = CH_L, row++;
        const int y = y0 + row * 18;
        if (draw) {
            if (dots)
                fprintf(f, "<circle class=\"f%zu\" cx=\"%d\" cy=\"%d\" r=\"5\"/>", i % N_COLOURS, x + 10, y - 4);
            else
                fprintf(f, "<path class=\"line key s%zu%s\" d=\"M%d %dh22\"/>", i % N_COLOURS,
                        dashed && dashed[i] ? " dash" : "", x, y - 4);
            fprintf(f, "<text x=\"%d\" y=\"%d\">", x + 28, y);
            rep_escape(f, names[i]);
            fputs("</text>\n", f);
        }
        x += w;
    }
    return n ? row + 1 : 0;
}

static void frame_begin(FILE *f, const rep_axes *ax, frame *fr, const char *const *names, size_t n,
                        const bool *dashed, bool dots)
{
    const int rows = n > 1 || (n == 1 && !dots) ? legend_rows(names, n, false, NULL, 0, NULL, dots) : 0;
    fr->top = 30 + rows * 18;
    const int h = CH_H + rows * 18;
    fr->x.p0 = CH_L, fr->x.p1 = CH_W - CH_R;
    fr->y.p0 = h - CH_B, fr->y.p1 = fr->top;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", CH_W, h);
    rep_escape(f, ax->title);
    fputs("\">\n<text class=\"t\" x=\"8\" y=\"18\">", f);
    rep_escape(f, ax->title);
    fputs("</text>\n", f);
    if (rows)
        legend_rows(names, n, true, f, 44, dashed, dots);
    double tv[64];
    char lab[48];
    const int ny = ticks(&fr->y, tv, 32), nx = ticks(&fr->x, tv + 32, 32);
    fputs("<g>", f);
    for (int i = 0; i < ny; i++) {
        const double py = to_px(&fr->y, tv[i]);
        tick_label(&fr->y, tv[i], lab, sizeof lab);
        fprintf(f, "<path class=\"grid\" d=\"M%d %.1fH%d\"/><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                CH_L, py, CH_W - CH_R, CH_L - 6, py + 4, lab);
    }
    for (int i = 0; i < nx; i++) {
        const double px = to_px(&fr->x, tv[32 + i]);
        tick_label(&fr->x, tv[32 + i], lab, sizeof lab);
        fprintf(f, "<path class=\"axis\" d=\"M%.1f %.1fv5\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                px, fr->y.p0, px, fr->y.p0 + 18, lab);
    }
    fprintf(f, "<path class=\"axis\" d=\"M%d %dV%.1fH%d\" fill=\"none\"/>\n", CH_L, fr->top - 4, fr->y.p0, CH_W - CH_R);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", (CH_L + CH_W - CH_R) / 2.0, h - 6);
    rep_escape(f, ax->xlabel);
    fprintf(f, "</text><text transform=\"rotate(-90)\" x=\"%.1f\" y=\"14\" text-anchor=\"middle\">",
            -(fr->top + fr->y.p0) / 2);
    rep_escape(f, ax->ylabel);
    fputs("</text></g>\n", f);
}

/* Domain of the drawable values of n arrays. */
static void extent(const double *const *v, const size_t *len, size_t n, bool log_, double *lo, double *hi)
{
    *lo = INFINITY, *hi = -INFINITY;
    for (size_t s = 0; s < n; s++)
        for (size_t i = 0; i < len[s]; i++)
            if (isfinite(v[s][i]) && (!log_ || v[s][i] > 0))
                *lo = fmin(*lo, v[s][i]), *hi = fmax(*hi, v[s][i]);
}

void rep_line_chart(FILE *f, const rep_axes *ax, const rep_series *s, size_t n)
{
    const double *xs[REP_MAX_SERIES], *ys[REP_MAX_SERIES];
    size_t len[REP_MAX_SERIES];
    const char *names[REP_MAX_SERIES] = {0};
    bool dashed[REP_MAX_SERIES] = {0};
    n = n > REP_MAX_SERIES ? REP_MAX_SERIES : n;
    for (size_t i = 0; i < n; i++)
        xs[i] = s[i].x, ys[i] = s[i].y, len[i] = s[i].n, names[i] = s[i].name, dashed[i] = s[i].dashed;
    frame fr;
    double lo, hi;
    extent(xs, len, n, ax->xlog, &lo, &hi);
    fr.x = make_scale(lo, hi, ax->xlog, ax->xint, false, false);
    extent(ys, len, n, ax->ylog, &lo, &hi);
    fr.y = make_scale(lo, hi, ax->ylog, false, true, ax->y0);
    fr.y.percent = ax->percent;
    fr.x.percent = ax->xpercent;
    frame_begin(f, ax, &fr, names, n, dashed, false);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "<path class=\"line s%zu%s\" d=\"", i % N_COLOURS, s[i].dashed ? " dash" : "");
        bool pen = false;
        for (size_t j = 0; j < s[i].n; j++) {
            if (!drawable(&fr.x, s[i].x[j]) || !drawable(&fr.y, s[i].y[j])) {
                pen = false;
                continue;
            }
            fprintf(f, "%c%.1f %.1f", pen ? 'L' : 'M', to_px(&fr.x, s[i].x[j]), to_px(&fr.y, s[i].y[j]));
            pen = true;
        }
        fputs("\"/>\n", f);
        if (!s[i].markers)
            continue;
        fputs("<g>", f);
        for (size_t j = 0; j < s[i].n; j++)
            if (drawable(&fr.x, s[i].x[j]) && drawable(&fr.y, s[i].y[j])) {
                fprintf(f, "<circle class=\"f%zu\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"><title>", i % N_COLOURS,
                        to_px(&fr.x, s[i].x[j]), to_px(&fr.y, s[i].y[j]));
                rep_escape(f, s[i].name);
                fprintf(f, ": %.6g at %.6g</title></circle>", s[i].y[j], s[i].x[j]);
            }
        fputs("</g>\n", f);
    }
    fputs("</svg>\n", f);
}

void rep_scatter(FILE *f, const rep_axes *ax, const double *x, const double *y, size_t n,
                 const int *cls, const char *const *cls_names, int n_cls, const char *const *label)
{
    frame fr;
    double lo, hi;
    extent(&x, &n, 1, false, &lo, &hi);
    fr.x = make_scale(lo, hi, false, false, true, false);
    extent(&y, &n, 1, false, &lo, &hi);
    fr.y = make_scale(lo, hi, false, false, true, false);
    frame_begin(f, ax, &fr, cls_names, n_cls > 1 ? (size_t)n_cls : 0, NULL, true);
    /* one path of dots per class keeps the file small; points with a label
     * are circles, so each can carry its tooltip */
    for (int c = (n_cls > 0 ? n_cls : 1) - 1; c >= 0; c--) { /* class 0 (the head) last, on top */
        fprintf(f, "<g class=\"pts\">");
        if (!label) {
            fprintf(f, "<path class=\"dots s%d\" d=\"", c % N_COLOURS);
            for (size_t i = 0; i < n; i++)
                if ((cls ? cls[i] : 0) == c && isfinite(x[i]) && isfinite(y[i]))
                    fprintf(f, "M%.1f %.1fh0", to_px(&fr.x, x[i]), to_px(&fr.y, y[i]));
            fputs("\"/>", f);
        } else {
            for (size_t i = 0; i < n; i++)
                if ((cls ? cls[i] : 0) == c && isfinite(x[i]) && isfinite(y[i])) {
                    fprintf(f, "<circle class=\"f%d\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"><title>", c % N_COLOURS,
                            to_px(&fr.x, x[i]), to_px(&fr.y, y[i]));
                    rep_escape(f, label[i]);
                    fputs("</title></circle>", f);
                }
        }
        fputs("</g>\n", f);
    }
    fputs("</svg>\n", f);
}
