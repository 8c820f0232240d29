/* progress.c: the one line that shows how far long work has got, on a
 * terminal only: done/total, the rate and the time left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rep.h"

/* A progress line may be on the terminal: set by this process's draw, or
 * inherited by a child forked while one was (a staging, whose messages
 * then start on a clean line too). */
static int on_screen;

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
}

static void mib(char *dst, size_t size, long long bytes)
{
	if (bytes < 10 << 20)
		snprintf(dst, size, "%.1f", bytes / 1048576.0);
	else
		snprintf(dst, size, "%lld", bytes >> 20);
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
	p->drawn = on_screen = 1;
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
	fprintf(stderr, "\r%s: %s: %s%s%s MiB, %.1f MiB/s%s\033[K", rep_prog, p->what, count, got, of,
	    t > 0 ? bytes / 1048576.0 / t : 0.0, left);
	fflush(stderr);
}

/* Clears the line, if drawn, for what stderr says next. */
void rep_progress_end(struct rep_progress *p)
{
	if (p->drawn)
		rep_progress_clear();
	p->drawn = on_screen = 0;
}

/* Before a message: the line it would break into is cleared (and
 * redrawn by the next draw, on the line after the message). */
void rep_progress_clear(void)
{
	if (on_screen)
		(void)rep_write_full(2, "\r\033[K", 4);
}
