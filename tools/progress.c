/* progress.c — the progress line (see progress.h). Its state is the one
 * line on this process's stderr, so it is process-wide here in the command;
 * the library keeps none and only reports through its callbacks. */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_INTERVAL 0.25 /* seconds between two drawings of one task */

static struct {
    int on;              /* -1 until decided */
    const char *cmd;     /* "synth", ...: the line starts "sten synth: " */
    double drawn_at;     /* when the line was last drawn */
    size_t shown;        /* columns on screen now; 0 = nothing shown */
    char task[256];      /* the task being timed ... */
    double task_t0;      /* ... since its first report ... */
    uint64_t done0, bytes0; /* ... at these counts */
    uint64_t last_done;  /* its latest report's count */
} P = {.on = -1};

double cli_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool cli_progress_enabled(void)
{
    if (P.on < 0) {
        const char *env = getenv("STEN_PROGRESS");
        P.on = env && !strcmp(env, "0") ? 0 : env && !strcmp(env, "1") ? 1 : isatty(2);
        if (P.on)
            atexit(cli_progress_clear);
    }
    return P.on;
}

void cli_progress_clear(void)
{
    if (P.shown)
        fprintf(stderr, "\r%*s\r", (int)P.shown, "");
    P.shown = 0;
}

/* Writes line over the shown one, cut to the terminal's width (a wrapped
 * line could not be rewritten by '\r'). */
static void draw(const char *line, double now)
{
    struct winsize ws;
    size_t width = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col : 80;
    size_t n = strlen(line);
    if (n > width - 1)
        n = width - 1;
    fprintf(stderr, "\r%.*s%*s", (int)n, line, P.shown > n ? (int)(P.shown - n) : 0, "");
    if (P.shown > n) /* back over the blanks that erased the longer line */
        fprintf(stderr, "\r%.*s", (int)n, line);
    fflush(stderr);
    P.shown = n;
    P.drawn_at = now;
}

/* Whether a report of task is drawn now: a new task at once, the same one
 * PROGRESS_INTERVAL after the last drawing. Starts a new task's clock. */
static bool due(const char *task, uint64_t done, uint64_t bytes, double now)
{
    if (!cli_progress_enabled())
        return false;
    const bool again = done < P.last_done; /* the same task begun again (a file read twice) */
    P.last_done = done;
    if (strncmp(task, P.task, sizeof P.task - 1) != 0 || again) {
        snprintf(P.task, sizeof P.task, "%s", task);
        P.task_t0 = now;
        P.done0 = done;
        P.bytes0 = bytes;
        return true;
    }
    return now - P.drawn_at >= PROGRESS_INTERVAL;
}

/* 1234 -> "1234", 138493 -> "138.5k", 20000263 -> "20.00M". */
static void human(char *b, size_t n, double v)
{
    if (v < 1e4)
        snprintf(b, n, "%.0f", v);
    else if (v < 1e6)
        snprintf(b, n, "%.1fk", v / 1e3);
    else if (v < 1e9)
        snprintf(b, n, "%.2fM", v / 1e6);
    else
        snprintf(b, n, "%.2fG", v / 1e9);
}

/* ", ETA M:SS" from the share done and the seconds spent; "" until a second
 * has passed (the first rate is noise). */
static void eta(char *b, size_t n, double share, double seconds)
{
    b[0] = '\0';
    if (seconds < 1.0 || share <= 0.0 || share > 1.0)
        return;
    const long long s = (long long)(seconds * (1.0 - share) / share + 0.5);
    if (s >= 3600)
        snprintf(b, n, ", ETA %lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(b, n, ", ETA %lld:%02lld", s / 60, s % 60);
}

void cli_progress_count(const char *task, const char *unit, uint64_t done, uint64_t total)
{
    const double now = cli_now_s();
    if (!due(task, done, 0, now))
        return;
    char line[512];
    if (!unit[0]) { /* a phase: its name */
        snprintf(line, sizeof line, "sten %s: %s ...", P.cmd ? P.cmd : "", task);
        draw(line, now);
        return;
    }
    const double dt = now - P.task_t0;
    char d[32], t[32], r[48] = "", e[48] = "";
    human(d, sizeof d, (double)done);
    human(t, sizeof t, (double)total);
    if (dt >= 1.0) { /* the first rate is noise */
        char v[32];
        human(v, sizeof v, (double)(done - P.done0) / dt);
        snprintf(r, sizeof r, ", %s/s", v);
    }
    if (total) {
        eta(e, sizeof e, total > P.done0 ? (double)(done - P.done0) / (double)(total - P.done0) : 0, dt);
        snprintf(line, sizeof line, "sten %s: %s: %s/%s %s (%.0f%%)%s%s", P.cmd ? P.cmd : "", task, d, t,
                 unit, 100.0 * (double)done / (double)total, r, e);
    } else {
        snprintf(line, sizeof line, "sten %s: %s: %s %s%s", P.cmd ? P.cmd : "", task, d, unit, r);
    }
    draw(line, now);
}

void cli_progress_text(const char *fmt, ...)
{
    const double now = cli_now_s();
    if (!cli_progress_enabled() || (P.shown && now - P.drawn_at < PROGRESS_INTERVAL))
        return;
    char line[512];
    int n = snprintf(line, sizeof line, "sten %s: ", P.cmd ? P.cmd : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    draw(line, now);
}

void cli_progress_train(uint32_t epochs, const sten_train_progress *p)
{
    const long long left = p->seconds >= 1.0 && p->batch
        ? (long long)(p->seconds * (double)(p->batches - p->batch) / (double)p->batch + 0.5) : -1;
    char rate[48] = "", eta[32] = "";
    if (left >= 0) { /* the first second's rate is noise */
        snprintf(rate, sizeof rate, ", %.0f examples/s", (double)p->examples / p->seconds);
        snprintf(eta, sizeof eta, ", ETA %lld:%02lld", left / 60, left % 60);
    }
    cli_progress_text("epoch %u/%u: batch %llu/%llu (%.0f%%)%s, loss %.5g%s", p->epoch, epochs,
                      (unsigned long long)p->batch, (unsigned long long)p->batches,
                      100.0 * (double)p->batch / (double)p->batches, rate, p->loss, eta);
}

/* A library report: reading shows bytes and the share of the file. */
static void report(void *user, const sten_progress *p)
{
    (void)user;
    const char *task = p->task, *slash = strrchr(task, '/');
    char short_task[256];
    if (slash && !strncmp(task, "reading ", 8)) { /* the file's name, not its path */
        snprintf(short_task, sizeof short_task, "reading %s", slash + 1);
        task = short_task;
    }
    if (!p->bytes && !p->bytes_total) {
        cli_progress_count(task, p->unit, p->done, p->total);
        return;
    }
    const double now = cli_now_s();
    if (!due(task, p->done, p->bytes, now))
        return;
    const double dt = now - P.task_t0;
    char d[32], line[512], e[48] = "";
    human(d, sizeof d, (double)p->done);
    int n = snprintf(line, sizeof line, "sten %s: %s: %s %s, %.0f", P.cmd ? P.cmd : "", task, d,
                     p->unit, (double)p->bytes / 1e6);
    if (p->bytes_total && p->bytes <= p->bytes_total) {
        eta(e, sizeof e, p->bytes_total > P.bytes0 ? (double)(p->bytes - P.bytes0) /
                         (double)(p->bytes_total - P.bytes0) : 0, dt);
        snprintf(line + n, sizeof line - (size_t)n, "/%.0f MB (%.0f%%)%s", (double)p->bytes_total / 1e6,
                 100.0 * (double)p->bytes / (double)p->bytes_total, e);
    } else {
        snprintf(line + n, sizeof line - (size_t)n, " MB");
    }
    draw(line, now);
}

void cli_progress_attach(sten_ctx *ctx, const char *cmd)
{
    P.cmd = cmd;
    if (cli_progress_enabled())
        sten_ctx_set_progress(ctx, report, NULL);
}
