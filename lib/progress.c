/* progress.c: the one line that shows how far long work has got, on a
 * terminal only: done/total, the rate and the time left. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "rep.h"

/* A progress line may be on the terminal: set by this process's draw
 * (or rep_progress_begin), or inherited by a child forked after it (a
 * staging, whose messages then start on a clean line too); read by the
 * threads that may die while the calling thread draws. */
static atomic_int on_screen;

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Never into a pipe or a file, whose reader wants lines, nor on a dumb
 * terminal (Emacs' shell buffer, a CI log that records a pty), which
 * shows every redraw; never with -q. */
int rep_progress_wanted(void)
{
	const char *term = getenv("TERM");

	return !rep_opt.quiet && isatty(2) && !(term && strcmp(term, "dumb") == 0);
}

void rep_progress_begin(struct rep_progress *p, const char *what)
{
	p->what = what;
	p->start = seconds();
	p->last = 0;
	p->drawn = 0;
	/* the processes forked from here on clear the line before their
	 * messages, though it is drawn after they start */
	on_screen = 1;
}

static void mib(char *dst, size_t size, long long bytes)
{
	if (bytes < 10 << 20)
		snprintf(dst, size, "%.1f", bytes / 1048576.0);
	else
		snprintf(dst, size, "%lld", bytes >> 20);
}

/* The terminal's width, 80 when it cannot be told. */
static int columns(void)
{
	struct winsize ws;

	return ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

/* Draws the line, at most ten times a second: done of total units
 * (unit NULL: no count), bytes of total_bytes (0: not known). The time
 * left follows the bytes when their total is known, else the count,
 * and is shown once a second has passed. */
void rep_progress_draw(struct rep_progress *p, long long done, long long total, const char *unit,
    long long bytes, long long total_bytes)
{
	double now = seconds(), t = now - p->start, f;
	char count[96] = "", got[32], of[40] = "", left[40] = "";

	if (p->drawn && now - p->last < 0.1)
		return;
	p->last = now;
	p->drawn = 1;
	on_screen = 1;
	f = total_bytes > 0 ? (double)bytes / (double)total_bytes :
	    total > 0 ? (double)done / (double)total : 0;
	if (t >= 1 && f > 0 && f < 1) {
		long s = (long)(t * (1 - f) / f + 0.5);
		if (s >= 3600)
			snprintf(left, sizeof left, ", %ld:%02ld:%02ld left", s / 3600, s / 60 % 60, s % 60);
		else
			snprintf(left, sizeof left, ", %ld:%02ld left", s / 60, s % 60);
	}
	if (unit)
		snprintf(count, sizeof count, "%lld/%lld %s, ", done, total, unit);
	mib(got, sizeof got, bytes);
	if (total_bytes > 0) {
		of[0] = '/';
		mib(of + 1, sizeof of - 1, total_bytes);
	}
	/* within one row: a line that wraps is not cleared by \r\033[K but
	 * scrolls, a new one each redraw. What is cut first is what
	 * follows the first word of what (a release's name), then the end. */
	char rest[256], line[512];
	int width = columns() - 1, n;
	size_t cut = strcspn(p->what, " ");

	snprintf(rest, sizeof rest, "%s%s%s MiB, %.1f MiB/s%s", count, got, of,
	    t > 0 ? bytes / 1048576.0 / t : 0.0, left);
	n = snprintf(line, sizeof line, "%s: %s: %s", rep_prog, p->what, rest);
	if (n > width)
		n = snprintf(line, sizeof line, "%s: %.*s: %s", rep_prog, (int)cut, p->what, rest);
	if (n > width)
		n = width > 0 ? width : 0;
	if (n >= (int)sizeof line)
		n = sizeof line - 1;
	fprintf(stderr, "\r%.*s\033[K", n, line);
	fflush(stderr);
}

/* Clears the line, if drawn, for what stderr says next. */
void rep_progress_end(struct rep_progress *p)
{
	if (p->drawn)
		(void)rep_write_full(2, "\r\033[K", 4);
	p->drawn = 0;
	on_screen = 0;
}

/* Whether a message must clear the line first (and the next draw then
 * redraws it, on the line after the message). */
int rep_progress_shown(void)
{
	return on_screen;
}
