/* The one reader of the far side's replies (lib/far.sh tells the
 * format): a reply is read whole, line by line, each line's tag
 * checked, until its final '.WORD'. Nothing read from a target can end
 * a reply or pass for data, since the far side tags every line of such
 * text; a line without a known tag is a protocol error, never skipped.
 *
 * Every wait is bounded by an idle timeout: silence for that long, on a
 * read or on a write to the session, gives up. Any byte that arrives
 * counts as life, so the far side sends a keepalive ('+') between the
 * long steps of a staging or a pruning, and every fifth of the timeout
 * while one runs (it is told the timeout when it takes the lock): a big
 * archive or a slow disk needs no longer timeout, and a far side that
 * died is still given up on. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transport.h"

int rep_frame_seconds(int timeout)
{
	return timeout > 0 ? timeout : REP_FRAME_IDLE;
}

static int idle_ms(int timeout)
{
	int s = rep_frame_seconds(timeout);
	return s > INT_MAX / 1000 ? -1 : s * 1000;
}

/* Waits until fd is ready for events: 1, 0 after the idle timeout, -1
 * on error. */
static int wait_for(int fd, short events, int timeout)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int n = poll(&p, 1, idle_ms(timeout));
		if (n >= 0 || errno != EINTR)
			return n > 0 ? 1 : n;
	}
}

/* Appends line (n bytes) and a newline to a NUL-terminated buffer of
 * *len bytes; its size is always the power of two above *len, so the
 * growth needs no field of its own. */
static void append(char **buf, size_t *len, const char *line, size_t n)
{
	size_t need = *len + n + 2, have = *buf ? 64 : 0;

	while (have && have < *len + 1)
		have *= 2;
	if (need > have) {
		size_t size = 64;
		while (size < need)
			size *= 2;
		*buf = rep_xrealloc(*buf, size);
	}
	memcpy(*buf + *len, line, n);
	(*buf)[*len + n] = '\n';
	*len += n + 1;
	(*buf)[*len] = 0;
}

static int bad(struct rep_reply *r, const char *line, size_t n)
{
	char *v = rep_visible(line, n < 60 ? n : 60);

	snprintf(r->bad, sizeof r->bad, "%s%s", v, n > 60 ? "..." : "");
	free(v);
	return REP_FRAME_BAD;
}

/* One line of a reply: 1 to read on, 0 at its end, or REP_FRAME_BAD. */
static int take(struct rep_reply *r, const char *line, size_t n)
{
	if (memchr(line, 0, n))
		return bad(r, line, n);
	switch (n ? line[0] : 0) {
	case '|':
		append(&r->data, &r->ndata, line + 1, n - 1);
		return 1;
	case '!':
		append(&r->text, &r->ntext, line + 1, n - 1);
		return 1;
	case '+':
		if (n == 1)
			return 1;
		break;
	case '.':
		if (n > 1 && n - 1 < sizeof r->word && strspn(line + 1, "abcdefghijklmnopqrstuvwxyz") >= n - 1) {
			memcpy(r->word, line + 1, n - 1);
			r->word[n - 1] = 0;
			return 0;
		}
		break;
	}
	return bad(r, line, n);
}

/* More bytes into f->buf, after making room: 0, or why not. */
static int fill(struct rep_frame *f)
{
	if (f->off) {
		memmove(f->buf, f->buf + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
	}
	for (;;) {
		int ready = wait_for(f->fd, POLLIN, f->timeout);
		if (ready == 0)
			return REP_FRAME_TIMEOUT;
		ssize_t got = ready < 0 ? -1 : read(f->fd, f->buf + f->len, sizeof f->buf - f->len);
		if (got > 0) {
			f->len += (size_t)got;
			return 0;
		}
		if (got == 0 || (errno != EINTR && errno != EAGAIN))
			return REP_FRAME_EOF;
	}
}

/* Reads one whole reply into r (rep_reply_free() it, whatever the
 * answer): 0, or REP_FRAME_EOF (the connection ended first),
 * REP_FRAME_TIMEOUT or REP_FRAME_BAD (r->bad shows the line). */
int rep_frame_read(struct rep_frame *f, struct rep_reply *r)
{
	memset(r, 0, sizeof *r);
	for (;;) {
		char *line = f->buf + f->off, *nl = memchr(line, '\n', f->len - f->off);
		if (nl) {
			size_t n = (size_t)(nl - line);
			f->off += n + 1;
			int rc = take(r, line, n);
			if (rc <= 0)
				return rc;
			continue;
		}
		if (f->off == 0 && f->len == sizeof f->buf)
			return bad(r, line, f->len);
		int rc = fill(f);
		if (rc < 0)
			return rc;
	}
}

void rep_reply_free(struct rep_reply *r)
{
	free(r->data);
	free(r->text);
	r->data = r->text = NULL;
	r->ndata = r->ntext = 0;
}

/* Writes all of buf to fd (made non-blocking), waiting at most the idle
 * timeout for room each time: 0, or -1 with errno set (ETIMEDOUT when
 * the reader stopped reading). */
int rep_frame_send(int fd, const void *buf, size_t n, int timeout)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0))
		return -1;
	for (const char *p = buf; n;) {
		ssize_t w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		int ready = wait_for(fd, POLLOUT, timeout);
		if (ready <= 0) {
			if (ready == 0)
				errno = ETIMEDOUT;
			return -1;
		}
	}
	return 0;
}

/* A run's output line (n bytes) and a newline appended to res->output. */
static void add_output(struct rep_hook_result *res, size_t *len, const char *line, size_t n)
{
	res->output = rep_xrealloc(res->output, *len + n + 2);
	memcpy(res->output + *len, line, n);
	res->output[*len + n] = '\n';
	*len += n + 1;
	res->output[*len] = 0;
}

/* A number of a record, at most max: its value, or -1 if it is none. */
static long long number(const char *s, size_t n, long long max)
{
	long long v = 0;

	if (n == 0 || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* The records of a hook's reply (far.sh: hook), KIND TAB VALUE each:
 * absent (no such hook: nothing ran), status (N, or timeout: killed at
 * its timeout), tries, output (a line of its output, in order), cut
 * (bytes not sent). Unknown kinds are skipped, for far sides newer than
 * us; a reply of a hook that ran without a status is none. The output
 * is kept as sent: control bytes are the caller's to show. */
int rep_hook_reply(const struct rep_target *t, const struct rep_reply *r, struct rep_hook_result *res)
{
	size_t len = 0;
	int absent = 0, status = 0;

	memset(res, 0, sizeof *res);
	res->ran = 1;
	res->status = -1;
	res->tries = 1;
	for (const char *p = r->data ? r->data : ""; *p;) {
		size_t n = strcspn(p, "\n"), k = strcspn(p, "\t\n");
		const char *v = p + k + (k < n);
		size_t vn = k < n ? n - k - 1 : 0;
		long long x;
		if (k == 6 && memcmp(p, "absent", 6) == 0) {
			absent = 1;
		} else if (k == 6 && memcmp(p, "status", 6) == 0) {
			if (vn == 7 && memcmp(v, "timeout", 7) == 0)
				res->status = -1, status = 1;
			else if ((x = number(v, vn, 255)) >= 0)
				res->status = (int)x, status = 1;
		} else if (k == 5 && memcmp(p, "tries", 5) == 0) {
			if ((x = number(v, vn, 1000000000)) > 0)
				res->tries = (int)x;
		} else if (k == 6 && memcmp(p, "output", 6) == 0) {
			add_output(res, &len, v, vn);
		} else if (k == 3 && memcmp(p, "cut", 3) == 0) {
			if ((x = number(v, vn, LLONG_MAX / 10)) >= 0)
				res->cut = x;
		}
		p += n + (p[n] == '\n');
	}
	if (absent) {
		rep_hook_result_free(res);
		res->ran = 0;
		res->status = 0;
		res->tries = 0;
		res->cut = 0;
		return 0;
	}
	if (!status) {
		rep_error_at(t->arg, "the far side's reply to a hook has no status");
		rep_hook_result_free(res);
		return -1;
	}
	return 0;
}

void rep_hook_result_free(struct rep_hook_result *res)
{
	free(res->output);
	res->output = NULL;
}

/* The hooks-pending mark of a pending reply (far.sh: pending) into was
 * ("" none): a pending record's release, or "-" (no release); a mark
 * that holds neither is still a mark. */
void rep_pending_value(const char *v, size_t n, char *was, size_t size)
{
	char name[REP_NAME_MAX + 1];

	if (n <= REP_NAME_MAX) {
		memcpy(name, v, n);
		name[n] = 0;
	}
	snprintf(was, size, "%s", n <= REP_NAME_MAX && (rep_release_name(name) ||
	    strcmp(name, "-") == 0) ? name : "an unknown release");
}

void rep_pending_reply(const struct rep_reply *r, char *was, size_t size)
{
	if (size)
		was[0] = 0;
	for (const char *p = r->data ? r->data : ""; *p && size;) {
		size_t n = strcspn(p, "\n");
		if (n >= 8 && memcmp(p, "pending\t", 8) == 0)
			rep_pending_value(p + 8, n - 8, was, size);
		p += n + (p[n] == '\n');
	}
}
