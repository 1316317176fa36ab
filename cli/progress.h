/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The progress line: what a slow step is doing, on one line of standard
 * error rewritten in place ("\r"), erased when the step is over or before
 * anything else is said there.  It is drawn only on a terminal: in a log,
 * a pipe or a test's captured output there is none of it.
 */
#ifndef KP_CLI_PROGRESS_H
#define KP_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A line on F, COLS columns wide (the text is cut to one fewer, so that
 * the terminal never wraps it); COLS 0 draws nothing. */
struct progress_line {
	FILE *f;
	unsigned cols;
	size_t shown;		/* bytes now on the line; 0: none */
};

/* Show TEXT in place of what the line shows; control characters are
 * shown as '?'. */
void progress_line_show(struct progress_line *p, const char *text);

/* Erase the line, leaving the cursor at its start. */
void progress_line_clear(struct progress_line *p);

/* Keep what the line shows and go on to the next one. */
void progress_line_keep(struct progress_line *p);

/* The library's progress (img_progress_fn, image/session.h) as the line
 * shows it: "kmsprep: STEP DONE/TOTAL", or "kmsprep: STEP N s" for a step
 * that is not counted; STEP NULL erases it. */
void progress_line_step(struct progress_line *p, const char *step,
			size_t done, size_t total, unsigned seconds);

/*
 * Standard error's line, which every command shares: drawn only when
 * standard error is a terminal (its width read once), and safe to call
 * from several threads.
 */
void cli_progress_show(const char *text);
void cli_progress_clear(void);
void cli_progress_keep(void);
void cli_progress_step(const char *step, size_t done, size_t total,
		       unsigned seconds);

/* Erase standard error's line from a signal handler (async-signal-safe),
 * so that no stale step is left where the shell's prompt comes. */
void cli_progress_abandon(void);

#endif
