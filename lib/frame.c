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
