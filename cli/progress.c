/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The progress line on standard error (cli/progress.h). */
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "progress.h"

void
progress_line_show(struct progress_line *p, const char *text)
{
	/* The line in one write (standard error is unbuffered): "\r", the
	 * text, blanks over what is left of the last one. */
	char line[1 + 2 * 510];
	size_t n = strlen(text), k, len = 0;

	if (p->cols == 0)
		return;
	/* One column is left free: a line that fills the terminal's width
	 * moves the cursor to the next line on some terminals, and "\r"
	 * would then rewrite that one.  A UTF-8 character is never cut. */
	if (n > p->cols - 1 || n > 510) {
		n = p->cols - 1 < 510 ? p->cols - 1 : 510;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
	}
	line[len++] = '\r';
	for (k = 0; k < n; k++) {
		unsigned char c = (unsigned char)text[k];

		line[len++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	for (k = n; k < p->shown; k++)
		line[len++] = ' ';
	fwrite(line, 1, len, p->f);
	p->shown = n;
	fflush(p->f);
}

void
progress_line_clear(struct progress_line *p)
{
	/* Blanks, not an escape sequence, so that any terminal ("dumb"
	 * ones too) is erased; in one write, as the line was drawn.  Never
	 * wider than a line drawn (progress_line_show). */
	char line[2 + 510];
	size_t n = p->shown < 510 ? p->shown : 510;

	if (p->shown == 0)
		return;
	line[0] = '\r';
	memset(line + 1, ' ', n);
	line[n + 1] = '\r';
	fwrite(line, 1, n + 2, p->f);
	p->shown = 0;
	fflush(p->f);
}

void
progress_line_keep(struct progress_line *p)
{
	if (p->shown == 0)
		return;
	fputc('\n', p->f);
	p->shown = 0;
	fflush(p->f);
}

void
progress_line_step(struct progress_line *p, const char *step, size_t done,
		   size_t total, unsigned seconds)
{
	char text[256];

	if (step == NULL) {
		progress_line_clear(p);
		return;
	}
	if (total)
		snprintf(text, sizeof(text), "kmsprep: %s %zu/%zu", step,
			 done, total);
	else
		snprintf(text, sizeof(text), "kmsprep: %s %u s", step, seconds);
	progress_line_show(p, text);
}

/*
 * Standard error's line.  Whether it is a terminal is asked once; its
 * width before each line, since the window may have been resized.
 */

static struct progress_line err_line;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static int err_tty = -1;	/* -1: not asked yet */

/* Called with err_lock held. */
static void
err_width(void)
{
	struct winsize ws;

	if (err_tty < 0) {
		err_tty = isatty(STDERR_FILENO);
		err_line.f = stderr;
	}
	if (!err_tty)
		return;
	/* A terminal that does not say how wide it is: the usual 80. */
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col < 2)
		err_line.cols = 80;
	else
		err_line.cols = ws.ws_col;
}

void
cli_progress_show(const char *text)
{
	pthread_mutex_lock(&err_lock);
	err_width();
	progress_line_show(&err_line, text);
	pthread_mutex_unlock(&err_lock);
}

void
cli_progress_clear(void)
{
	pthread_mutex_lock(&err_lock);
	progress_line_clear(&err_line);
	pthread_mutex_unlock(&err_lock);
}

void
cli_progress_keep(void)
{
	pthread_mutex_lock(&err_lock);
	progress_line_keep(&err_line);
	pthread_mutex_unlock(&err_lock);
}

void
cli_progress_step(const char *step, size_t done, size_t total,
		  unsigned seconds)
{
	pthread_mutex_lock(&err_lock);
	err_width();
	progress_line_step(&err_line, step, done, total, seconds);
	pthread_mutex_unlock(&err_lock);
}

void
cli_progress_abandon(void)
{
	/* In a signal handler: write(2) only, the line filled by hand. */
	char line[2 + 510];
	size_t n = err_line.shown < 510 ? err_line.shown : 510, k;
	ssize_t w;

	if (n == 0)
		return;
	line[0] = '\r';
	for (k = 1; k <= n; k++)
		line[k] = ' ';
	line[n + 1] = '\r';
	w = write(STDERR_FILENO, line, n + 2);
	(void)w;
}
