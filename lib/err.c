/* Messages, the exit-code policy and checked allocation. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rep.h"

const char *rep_prog = "rep";

static void ensure_std_fds(void)
{
	/* A closed 0, 1 or 2 would be taken by the next open(), and a
	 * message could end up in the database. The stand-in is read-only:
	 * output written to a closed stdout fails (EBADF) as it would have,
	 * instead of vanishing into /dev/null. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDONLY) < 0)
			_exit(2);
}

void rep_init(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;

	ensure_std_fds();
	/* a file-size limit makes a write fail (EFBIG), which is reported
	 * and cleaned up after, instead of killing the tool mid-write */
	signal(SIGXFSZ, SIG_IGN);
	rep_prog = slash ? slash + 1 : argv0 ? argv0 : rep_prog;
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
}

static const char *context;

/* What every later message is about, after the program's name (the
 * target a child process of rep-push works on). */
void rep_msg_context(const char *ctx)
{
	context = ctx;
}

/* Writes all of buf to fd, over short writes and EINTR: 0, or -1 with
 * errno set. */
int rep_write_full(int fd, const void *buf, size_t n)
{
	for (const char *p = buf; n;) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One message line, "PROG: [CTX: ]MESSAGE[TAIL]\n", written to stderr
 * with one write(2): the children rep-push runs for its targets share
 * the parent's stderr, and a line put out in pieces could be cut into
 * by another's (a pipe keeps a write of up to PIPE_BUF bytes whole).
 * Every message quotes its input (names, paths, lines read) through
 * here, so its control bytes are shown as \xHH here, once for all the
 * tools: a name or a file's line can neither drive the terminal nor
 * forge a line of its own. (Escaping is idempotent: \xHH has none.) */
void rep_vline(const char *ctx, const char *fmt, va_list ap, const char *tail)
{
	char *body = NULL, *line = NULL;
	int n = -1;

	/* on failure, what they leave in body and line is undefined */
	if (vasprintf(&body, fmt, ap) < 0) {
		body = NULL;
	} else {
		char *shown = rep_visible(body, strlen(body));
		char *where = ctx ? rep_visible(ctx, strlen(ctx)) : NULL;
		free(body);
		body = shown;
		/* a progress line it would break into is cleared in the same
		 * write, which no redraw can come between */
		if ((n = asprintf(&line, "%s%s: %s%s%s%s\n", rep_progress_shown() ? "\r\033[K" : "",
		    rep_prog, where ? where : "", where ? ": " : "", body, tail ? tail : "")) < 0)
			line = NULL;
		free(where);
	}
	fflush(stderr);
	if (n >= 0)
		(void)rep_write_full(2, line, (size_t)n);
	else /* out of memory: the bare message rather than none */
		fprintf(stderr, "%s: %s%s%s%s\n", rep_prog, ctx ? ctx : "", ctx ? ": " : "",
		    body ? body : fmt, tail ? tail : "");
	free(body);
	free(line);
}

/* A message that does not end the run, in the context of every later
 * message (rep_msg_context). */
void rep_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rep_vline(context, fmt, ap, NULL);
	va_end(ap);
}

/* Named like every other line on stderr, so that the summaries of the
 * tools of one pipeline can be told apart. */
void rep_summary(const char *fmt, ...)
{
	va_list ap;

	if (rep_opt.quiet)
		return;
	va_start(ap, fmt);
	rep_vline(rep_opt.dry_run ? "dry run" : NULL, fmt, ap, NULL);
	va_end(ap);
}

/* A message about something other than the tool as a whole: a target,
 * a file. */
void rep_error_at(const char *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rep_vline(ctx, fmt, ap, NULL);
	va_end(ap);
}

/* The first n bytes of s with every control byte shown as \xHH, so that
 * text from elsewhere (a remote shell, a file) can neither move the
 * terminal's cursor nor forge a line of its own; malloc'd. */
char *rep_visible(const char *s, size_t n)
{
	char *out = rep_xmalloc(4 * n + 1), *w = out;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			w += sprintf(w, "\\x%02x", c);
		else
			*w++ = (char)c;
	}
	*w = 0;
	return out;
}

static void __attribute__((format(printf, 1, 0)))
vmsg(const char *fmt, va_list ap, const char *why)
{
	char tail[256];

	if (why)
		snprintf(tail, sizeof tail, ": %s", why);
	rep_vline(context, fmt, ap, why ? tail : NULL);
}

#ifdef REP_FUZZ
/* Fuzz builds only (fuzz/, make fuzz): a harness that points this at its
 * jmp_buf gets control back from a failing call, to go on with its next
 * input, instead of exit(2). What the call held is not freed. */
jmp_buf *rep_fuzz_jmp;
#endif

/* A thread that dies takes this lock for good: when two of the threads
 * that hash applications fail at once, one message is printed and the
 * undo actions run once. Recursive: an undo action may die too. */
static pthread_mutex_t die_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static void die_begin(void)
{
	pthread_mutex_lock(&die_lock);
}

/* The undo actions (a created database, a temporary file, a lock) run
 * before exit 2: cleanup.c. */
static _Noreturn void die_now(void)
{
	rep_cleanup_run();
#ifdef REP_FUZZ
	if (rep_fuzz_jmp) {
		pthread_mutex_unlock(&die_lock);
		longjmp(*rep_fuzz_jmp, 1);
	}
#endif
	exit(2);
}

/* The length of the UTF-8 character at p (its code point in *cp), or 0
 * if it is not one: shortest form, no surrogates, at most U+10FFFF. The
 * one decoder of notes, reasons and free text (rep_note_error). Pure:
 * an undo action run on a signal calls it. */
size_t rep_utf8_char(const unsigned char *p, unsigned *cp)
{
	unsigned c = *p, len;

	if (c < 0x80) {
		*cp = c;
		return c != 0;
	}
	if (c >= 0xc2 && c <= 0xdf) { len = 2; *cp = c & 0x1f; }
	else if (c >= 0xe0 && c <= 0xef) { len = 3; *cp = c & 0x0f; }
	else if (c >= 0xf0 && c <= 0xf4) { len = 4; *cp = c & 0x07; }
	else return 0;
	for (unsigned i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && *cp < 0x800) || (len == 4 && (*cp < 0x10000 || *cp > 0x10ffff)) ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

/* Whether code point cp is a control character (C0, DEL or C1), which
 * no note or record may hold. */
int rep_control_char(unsigned cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

/* The length of the valid note character (rep_note_error) at p, or 0:
 * a record's reason must be UTF-8 without control characters. */
static size_t note_char(const unsigned char *p)
{
	unsigned cp;
	size_t len = rep_utf8_char(p, &cp);

	return len && !rep_control_char(cp) ? len : 0;
}

/* msg as the reason of a failure record (rep-tar's, rep-push's): what
 * a note may hold kept, any other byte shown as \xHH, as messages on
 * stderr show control bytes; cut to fit size. No stdio, no malloc: an
 * undo action run on a signal calls it. */
void rep_reason_text(char *dst, size_t size, const char *msg)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)msg;
	size_t n = 0;

	while (*p && n + 5 < size) {
		size_t len = note_char(p);
		if (len) {
			if (n + len >= size)
				break;
			while (len--)
				dst[n++] = (char)*p++;
			continue;
		}
		dst[n++] = '\\';
		dst[n++] = 'x';
		dst[n++] = hex[*p >> 4];
		dst[n++] = hex[*p & 15];
		p++;
	}
	dst[n] = 0;
}

/* The message a run dies with, without the program's name: undo actions
 * that report the failure downstream (failure records) give it as the
 * reason. Empty until rep_die. */
static char dying[512];

const char *rep_dying_message(void)
{
	return dying;
}

/* rep_die() and rep_die_errno() (rep.h): the message, with why after it
 * if not NULL, then exit 2. */
void rep_die_why(const char *why, const char *fmt, ...)
{
	va_list ap, copy;

	die_begin();
	va_start(ap, fmt);
	va_copy(copy, ap);
	int n = snprintf(dying, sizeof dying, "%s%s", context ? context : "", context ? ": " : "");
	if (n < 0 || (size_t)n >= sizeof dying)
		n = 0;
	vsnprintf(dying + n, sizeof dying - (size_t)n, fmt, copy);
	va_end(copy);
	if (why) {
		size_t len = strlen(dying);
		snprintf(dying + len, sizeof dying - len, ": %s", why);
	}
	vmsg(fmt, ap, why);
	va_end(ap);
	die_now();
}

static void (*usage_input)(void);

void rep_on_usage_error(void (*fn)(void))
{
	usage_input = fn;
}

/* The message, then, for a tool in a pipeline that claimed what it
 * reads, its input read (rep_on_usage_error) so that the undo actions
 * give what it held failure records whose reason is "usage error: MSG";
 * then exit 2. */
void rep_usage_error(const char *fmt, ...)
{
	va_list ap, copy;
	char tail[256];
	void (*fn)(void) = usage_input;

	die_begin();
	usage_input = NULL;
	snprintf(tail, sizeof tail, " (try '%s --help')", rep_prog);
	va_start(ap, fmt);
	va_copy(copy, ap);
	int n = snprintf(dying, sizeof dying, "usage error: ");
	vsnprintf(dying + n, sizeof dying - (size_t)n, fmt, copy);
	va_end(copy);
	rep_vline(NULL, fmt, ap, tail);
	va_end(ap);
	if (fn)
		fn();
	die_now();
}

/* A reader that went away (rep-ls | head -1) ends us the way it ends
 * any filter: by SIGPIPE, even when the caller ignored the signal. */
static _Noreturn void broken_pipe(void)
{
	rep_cleanup_run();
	signal(SIGPIPE, SIG_DFL);
	raise(SIGPIPE);
	_exit(2);
}

int rep_finish(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	if (errno == EPIPE)
		broken_pipe();
	rep_die_errno("standard output");
}

void *rep_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		rep_die("out of memory");
	return p;
}

void *rep_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		rep_die("out of memory");
	return p;
}

char *rep_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(rep_xmalloc(n), s, n);
}

int rep_stderr_tty(void)
{
	return isatty(2);
}

/* Whether standard input is a pipe: what a claim upstream in a pipeline
 * passed on, rather than a file or a terminal. */
int rep_stdin_piped(void)
{
	struct stat st;

	return fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}
