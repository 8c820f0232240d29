/* TSV records: the one reader and the one writer of every tool. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rep.h"

void rep_reader_open(struct rep_reader *r, FILE *fp, const char *label)
{
	memset(r, 0, sizeof *r);
	r->fp = fp;
	r->label = label;
	r->buf = rep_xmalloc(REP_LINE_MAX + 1);
}

void rep_reader_close(struct rep_reader *r)
{
	free(r->buf);
	free(r->f);
}

/* Reads one line into r->buf; returns its length, or -1 at end of input.
 * A line is bounded, holds no NUL and does not end in CR. */
static long read_line(struct rep_reader *r)
{
	long n = 0;
	int c;

	while ((c = getc_unlocked(r->fp)) != EOF && c != '\n') {
		if (n == REP_LINE_MAX)
			rep_die("%s:%lu: line longer than %d bytes", r->label, r->line + 1, REP_LINE_MAX);
		if (c == 0)
			rep_die("%s:%lu: NUL byte in line", r->label, r->line + 1);
		r->buf[n++] = (char)c;
	}
	if (ferror(r->fp))
		rep_die_errno("%s", r->label);
	if (c == EOF && n == 0)
		return -1;
	r->line++;
	char *cr = memchr(r->buf, '\r', (size_t)n);
	if (cr && cr == r->buf + n - 1)
		rep_die("%s:%lu: CR before LF (convert the input with dos2unix)", r->label, r->line);
	if (cr)
		rep_die("%s:%lu: CR in line", r->label, r->line);
	r->buf[n] = 0;
	return n;
}

static void split(struct rep_reader *r, struct rep_rec *rec)
{
	char *p = r->buf;

	rec->nf = 0;
	for (;;) {
		if (rec->nf == r->fcap) {
			r->fcap = r->fcap ? 2 * r->fcap : 16;
			r->f = rep_xrealloc(r->f, r->fcap * sizeof *r->f);
		}
		r->f[rec->nf++] = p;
		p = strchr(p, '\t');
		if (!p)
			break;
		*p++ = 0;
	}
	rec->f = r->f;
}

int rep_read_rec(struct rep_reader *r, struct rep_rec *rec)
{
	long n;

	while ((n = read_line(r)) >= 0) {
		if (n == 0 || r->buf[0] == '#')
			continue;
		split(r, rec);
		rec->src = r->label;
		rec->line = r->line;
		return 1;
	}
	return 0;
}

static void each_stdin(rep_rec_fn fn, void *arg)
{
	struct rep_reader r;
	struct rep_rec rec;

	/* a tool that reads its input silently looks hung to someone who
	 * typed it without a pipe; said where that someone looks, not into
	 * a log */
	if (!rep_opt.quiet && isatty(0) && isatty(2))
		rep_warn("reading stdin from the terminal (end the input with Ctrl-D)");
	rep_reader_open(&r, stdin, "stdin");
	while (rep_read_rec(&r, &rec))
		fn(&rec, arg);
	rep_reader_close(&r);
}

/* What is wrong with s as a note (-m, -M, a record's reason): note
 * text (rep_note_error) of at most REP_NOTE_MAX bytes; NULL if nothing. */
const char *rep_note_check(const char *s)
{
	_Static_assert(REP_NOTE_MAX == 4096, "the message below says 4096");
	if (strlen(s) > REP_NOTE_MAX)
		return "longer than 4096 bytes";
	return rep_note_error(s);
}

/* A note rep writes itself (rep-setstatus --record's, which quote the
 * targets and a reason), cut to REP_NOTE_MAX bytes at a character's
 * start and ended with "..." when longer: a note is for people, and
 * the history's lines stay readable by rep's own readers. */
void rep_note_clip(char *s)
{
	size_t n = strlen(s);

	if (n <= REP_NOTE_MAX)
		return;
	n = REP_NOTE_MAX - 3;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(s + n, "...", 4);
}

/* The argument loop: operands, or records on stdin when there are
 * none; "-" reads stdin in place. */
void rep_each_input(int argc, char **argv, rep_rec_fn fn, void *arg)
{
	int stdin_done = 0;

	if (argc == 0)
		each_stdin(fn, arg);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-") == 0) {
			if (!stdin_done++)
				each_stdin(fn, arg);
			continue;
		}
		struct rep_rec rec = { &argv[i], 1, "argument", 0 };
		fn(&rec, arg);
	}
}

static void add_name(struct rep_rec *rec, void *arg)
{
	rep_name_check(rec->f[0], rec);
	rep_strset_add(arg, rec->f[0], NULL);
}

/* For the tools that take all applications when given no names: "-" is
 * asked for explicitly, so that a cron job's stdin is never read by
 * surprise, and an empty input then names none rather than all. */
int rep_names_read(int argc, char **argv, struct rep_strset *names)
{
	if (argc > 0)
		rep_each_input(argc, argv, add_name, names);
	return argc > 0;
}

/* The note of -M: the fields after the name, joined by spaces. */
char *rep_join_rest(const struct rep_rec *rec)
{
	size_t n = 1;
	for (int i = 1; i < rec->nf; i++)
		n += strlen(rec->f[i]) + 1;
	char *s = rep_xmalloc(n), *p = s;
	*p = 0;
	for (int i = 1; i < rec->nf; i++) {
		if (i > 1)
			*p++ = ' ';
		size_t len = strlen(rec->f[i]);
		memcpy(p, rec->f[i], len + 1);
		p += len;
	}
	return s;
}

/* Dies naming the record's source and line: what is wrong with it. */
_Noreturn void rep_die_rec(const struct rep_rec *rec, const char *fmt, ...)
{
	char *msg;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		rep_die("out of memory");
	va_end(ap);
	rep_die("%s:%lu: %s", rec->src, rec->line, msg);
}

/* Free text must be UTF-8 (shortest form, no surrogates) without
 * control characters; returns what is wrong, or NULL. */
const char *rep_note_error(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned cp;
		size_t len = rep_utf8_char(p, &cp);
		if (!len)
			return "not valid UTF-8";
		if (rep_control_char(cp))
			return "control character not allowed";
		p += len;
	}
	return NULL;
}

static void put_field(FILE *fp, const char *s)
{
	if (strpbrk(s, "\t\r\n"))
		rep_die("refusing to print a field with TAB, CR or LF (was the database edited by hand?)");
	fputs_unlocked(s, fp);
}

void rep_put_fields(FILE *fp, const char *const *f, int n)
{
	for (int i = 0; i < n; i++) {
		if (i)
			putc_unlocked('\t', fp);
		put_field(fp, f[i]);
	}
	if (putc_unlocked('\n', fp) == EOF)
		rep_finish();
}

void rep_put_u64(uint64_t v, char *buf)
{
	char tmp[24];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*buf++ = tmp[--n];
	*buf = 0;
}
