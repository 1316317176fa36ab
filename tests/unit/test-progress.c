/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The progress line (cli/progress.c), driven as the appliance drives the
 * CLI's hook: what reaches a terminal, byte for byte, and that nothing
 * reaches anything else. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/progress.h"
#include "image/session.h"
#include "unit.h"

/* A line on a memory stream: what a terminal of COLS columns would get
 * (COLS 0: standard error is not a terminal). */
struct screen {
	struct progress_line line;
	char *out;
	size_t len;
};

static void
screen_open(struct screen *s, unsigned cols)
{
	memset(s, 0, sizeof(*s));
	s->line.f = open_memstream(&s->out, &s->len);
	s->line.cols = cols;
}

/* What was written; the caller frees it. */
static char *
screen_close(struct screen *s)
{
	fclose(s->line.f);
	return s->out;
}

/* The CLI's hook as image_progress forwards it. */
static void
hook(void *ud, const char *step, size_t done, size_t total, unsigned seconds)
{
	progress_line_step(ud, step, done, total, seconds);
}

/* What the appliance says for a launch of SECONDS and a search of NVOL
 * volumes, through FN. */
static void
appliance(img_progress_fn *fn, void *ud, unsigned seconds, size_t nvol)
{
	unsigned t;
	size_t i;

	for (t = 0; t <= seconds; t++)
		fn(ud, "starting the appliance (TCG)", 0, 0, t);
	fn(ud, NULL, 0, 0, seconds);
	for (i = 0; i < nvol; i++)
		fn(ud, "looking for Windows", i, nvol, 0);
	fn(ud, NULL, nvol, nvol, 0);
}

static void
launch_on_terminal(void)
{
	struct screen s;
	char *out;

	screen_open(&s, 80);
	appliance(hook, &s.line, 2, 2);
	out = screen_close(&s);
	CHECK_STR(out,
		  "\rkmsprep: starting the appliance (TCG) 0 s"
		  "\rkmsprep: starting the appliance (TCG) 1 s"
		  "\rkmsprep: starting the appliance (TCG) 2 s"
		  /* erased, the cursor left where the next line begins */
		  "\r                                         \r"
		  "\rkmsprep: looking for Windows 0/2"
		  "\rkmsprep: looking for Windows 1/2"
		  "\r                                \r");
	free(out);
}

static void
nothing_elsewhere(void)
{
	struct screen s;
	char *out;

	screen_open(&s, 0);
	appliance(hook, &s.line, 3, 4);
	progress_line_show(&s.line, "[....] 0/4 images");
	progress_line_keep(&s.line);
	progress_line_clear(&s.line);
	out = screen_close(&s);
	CHECK_EQ(s.len, 0);
	free(out);
}

/* A shorter line blanks what the longer one left; erasing an erased
 * line writes nothing; a kept line ends with a newline. */
static void
rewrite_and_keep(void)
{
	struct screen s;
	char *out;

	screen_open(&s, 80);
	progress_line_show(&s.line, "abcdef");
	progress_line_show(&s.line, "xyz");
	progress_line_show(&s.line, "[##..] 2/4");
	progress_line_keep(&s.line);
	progress_line_clear(&s.line);
	progress_line_show(&s.line, "q");
	progress_line_clear(&s.line);
	progress_line_clear(&s.line);
	out = screen_close(&s);
	CHECK_STR(out, "\rabcdef\rxyz   \r[##..] 2/4\n\rq\r \r");
	free(out);
}

/* Never wider than the terminal less a column, never cutting a UTF-8
 * character, and no control character reaches the terminal. */
static void
cut_and_escaped(void)
{
	struct screen s;
	char *out;

	screen_open(&s, 8);
	progress_line_show(&s.line, "abcdefghij");
	progress_line_show(&s.line, "abcdef\xc3\xa9");
	progress_line_show(&s.line, "a\033[2Jb\n");
	out = screen_close(&s);
	CHECK_STR(out, "\rabcdefg\rabcdef \ra?[2Jb?");
	free(out);
}

/* Seconds for a step that is not counted, DONE/TOTAL for one that is. */
static void
step_text(void)
{
	struct screen s;
	char *out;

	screen_open(&s, 200);
	progress_line_step(&s.line, "starting the appliance", 0, 0, 75);
	progress_line_step(&s.line, "looking for Windows", 7, 8, 75);
	out = screen_close(&s);
	CHECK_STR(out, "\rkmsprep: starting the appliance 75 s"
		       "\rkmsprep: looking for Windows 7/8    ");
	free(out);
}

/* Each line reaches the terminal in one write, as standard error is
 * unbuffered: a write(2) per byte would be slow on a remote terminal,
 * and a line another thread's write could split.  A packet socket
 * keeps each write apart. */
static void
one_write_per_line(void)
{
	static const char *const want[] = {
		"\rkmsprep: looking for Windows 1/2",
		"\rabc                             ",
		"\r[##..] 2/4",
		"\r          \r",
	};
	struct progress_line l = { NULL, 80, 0 };
	char got[256];
	int sv[2];
	size_t i;
	ssize_t n;

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	l.f = fdopen(sv[0], "w");
	CHECK(l.f != NULL);
	if (l.f == NULL)
		return;
	setvbuf(l.f, NULL, _IONBF, 0);
	progress_line_show(&l, "kmsprep: looking for Windows 1/2");
	progress_line_show(&l, "abc");
	progress_line_show(&l, "[##..] 2/4");
	/* Erased in one write too. */
	progress_line_clear(&l);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		n = recv(sv[1], got, sizeof(got) - 1, MSG_DONTWAIT);
		got[n > 0 ? n : 0] = '\0';
		CHECK_STR(got, want[i]);
	}
	CHECK(recv(sv[1], got, sizeof(got), MSG_DONTWAIT) < 0);
	fclose(l.f);
	close(sv[1]);
}

static const struct unit_test tests[] = {
	TEST(launch_on_terminal), TEST(nothing_elsewhere),
	TEST(rewrite_and_keep), TEST(cut_and_escaped), TEST(step_text),
	TEST(one_write_per_line),
};

UNIT_MAIN(tests)
