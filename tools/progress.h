/* progress.h — the sten command's progress line: one line on stderr,
 * rewritten in place with '\r' while a long run works, shown only when
 * stderr is a terminal (STEN_PROGRESS=0 hides it, STEN_PROGRESS=1 shows it
 * anywhere). It is never a record: lines that must stay are printed as
 * before, after cli_progress_clear. Uses only the public API. */
#ifndef STEN_PROGRESS_H
#define STEN_PROGRESS_H

#include "sten.h"

#include <stdbool.h>
#include <stdint.h>

/* Seconds on the monotonic clock (for elapsed times). */
double cli_now_s(void);

/* Whether the line is shown (decided once, from STEN_PROGRESS or isatty(2)).
 * When it is not, every function below writes nothing. */
bool cli_progress_enabled(void);

/* Sends ctx's progress reports (sten_ctx_set_progress) to the line, which
 * starts "sten CMD: "; a no-op when the line is not shown. */
void cli_progress_attach(sten_ctx *ctx, const char *cmd);

/* A counted step: "sten CMD: TASK: DONE/TOTAL UNIT (P%), R UNIT/s, ETA M:SS"
 * (total 0: no share and no ETA). A new task is drawn at once; the same task
 * at most four times a second. Rates and ETA count from the task's first
 * report. */
void cli_progress_count(const char *task, const char *unit, uint64_t done, uint64_t total);

/* Free text after "sten CMD: ", at most four times a second. */
void cli_progress_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A training batch report (sten_train_opts.progress): "epoch E/EPOCHS:
 * batch B/N (P%), R examples/s, loss L, ETA M:SS". */
void cli_progress_train(uint32_t epochs, const sten_train_progress *p);

/* Erases the line if it is shown. Call before writing anything else to
 * stderr (or to stdout, which may be the same terminal); it also runs at
 * exit. */
void cli_progress_clear(void);

#endif
