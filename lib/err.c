/* Messages, the exit-code policy and checked allocation. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rep.h"

const char *rep_prog = "rep";
static void (*die_hooks[4])(void);

static void ensure_std_fds(void)
{
	/* A closed 0, 1 or 2 would be taken by the next open(), and a
	 * message could end up in the database. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			_exit(2);
}

void rep_init(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;

	ensure_std_fds();
	rep_prog = slash ? slash + 1 : argv0 ? argv0 : rep_prog;
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
}

/* Undo actions for a failing run (a created database, a temporary
 * file); run once, newest first, before exit 2. */
void rep_on_die(void (*fn)(void))
{
	for (size_t i = 0; i < sizeof die_hooks / sizeof die_hooks[0]; i++)
		if (!die_hooks[i]) {
			die_hooks[i] = fn;
			return;
		}
	rep_die("too many cleanup hooks");
}

void rep_on_die_cancel(void (*fn)(void))
{
	for (size_t i = 0; i < sizeof die_hooks / sizeof die_hooks[0]; i++)
		if (die_hooks[i] == fn)
			die_hooks[i] = NULL;
}

static const char *context;

/* What every later message is about, after the program's name (the
 * target a child process of rep-push works on). */
void rep_msg_context(const char *ctx)
{
	context = ctx;
}

static void __attribute__((format(printf, 1, 0)))
vmsg(const char *fmt, va_list ap, const char *why)
{
	fprintf(stderr, "%s: ", rep_prog);
	if (context)
		fprintf(stderr, "%s: ", context);
	vfprintf(stderr, fmt, ap);
	if (why)
		fprintf(stderr, ": %s", why);
	fputc('\n', stderr);
}

#ifdef REP_FUZZ
/* Fuzz builds only (fuzz/, make fuzz): a harness that points this at its
 * jmp_buf gets control back from a failing call, to go on with its next
 * input, instead of exit(2). What the call held is not freed. */
jmp_buf *rep_fuzz_jmp;
#endif

static _Noreturn void die_now(void)
{
	for (size_t i = sizeof die_hooks / sizeof die_hooks[0]; i-- > 0;) {
		void (*fn)(void) = die_hooks[i];
		die_hooks[i] = NULL;
		if (fn)
			fn();
	}
#ifdef REP_FUZZ
	if (rep_fuzz_jmp)
		longjmp(*rep_fuzz_jmp, 1);
#endif
	exit(2);
}

void rep_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap, NULL);
	va_end(ap);
	die_now();
}

void rep_die_errno(const char *fmt, ...)
{
	const char *why = strerror(errno);
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap, why);
	va_end(ap);
	die_now();
}

void rep_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", rep_prog);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (try '%s --help')\n", rep_prog);
	va_end(ap);
	die_now();
}

/* A reader that went away (rep-ls | head -1) ends us the way it ends
 * any filter: by SIGPIPE, even when the caller ignored the signal. */
static _Noreturn void broken_pipe(void)
{
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
