/* What the libFuzzer harnesses share. They link the library built with
 * -DREP_FUZZ, whose rep_die() comes back to them through rep_fuzz_jmp
 * (lib/err.c) instead of exiting; a harness catches that with FUZZ_TRY
 * and goes on with its next input. A broken property aborts, which
 * libFuzzer reports as a crash and saves the input. */
#ifndef REP_FUZZ_H
#define REP_FUZZ_H

#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when the library died (rep_die) since FUZZ_TRY was last passed. */
#define FUZZ_TRY(jb) (rep_fuzz_jmp = &(jb), setjmp(jb) != 0)

/* The message goes where the sanitizers' reports go: to stderr even
 * when libFuzzer closed the harness's (-close_fd_mask=2). */
#define FUZZ_CHECK(cond) do { \
	if (!(cond)) { \
		__sanitizer_report_error_summary("property broken: " __FILE__ ":" \
		    FUZZ_STR(__LINE__) ": " #cond); \
		abort(); \
	} \
} while (0)
#define FUZZ_STR(x) FUZZ_STR_(x)
#define FUZZ_STR_(x) #x

/* A broken property, said in a line of its own (line breaks and other
 * control bytes of the message shown escaped), then abort(). */
static inline _Noreturn void __attribute__((format(printf, 1, 2)))
fuzz_fail(const char *fmt, ...)
{
	static char msg[3000], line[sizeof msg * 4 + 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char *w = line + snprintf(line, sizeof line, "property broken: ");
	for (const unsigned char *c = (const unsigned char *)msg; *c; c++)
		if (*c == '\n')
			w += sprintf(w, " | ");
		else if (*c < 0x20 || *c == 0x7f)
			w += sprintf(w, "\\x%02x", *c);
		else
			*w++ = (char)*c;
	*w = 0;
	__sanitizer_report_error_summary(line);
	abort();
}

/* Where a harness that writes many small files makes them: a tmpfs
 * (/dev/shm) if there is one, where that is many times faster than on
 * a disk; else $TMPDIR, else /tmp. $REP_FUZZ_TMPDIR overrides. A crash
 * leaves the harness's directory there (rep-gnutar-*, rep-roundtrip-*). */
static inline const char *fuzz_tmpdir(void)
{
	const char *dir = getenv("REP_FUZZ_TMPDIR");

	if (dir && *dir)
		return dir;
	if (access("/dev/shm", W_OK | X_OK) == 0)
		return "/dev/shm";
	dir = getenv("TMPDIR");
	return dir && *dir ? dir : "/tmp";
}

/* The messages of the library (lib/err.c writes them to fd 2, which
 * libFuzzer's -close_fd_mask=2 closed) caught in a file from
 * fuzz_catch() to fuzz_caught(), which gives them, up to cap bytes, as
 * a string. The sanitizers' reports go elsewhere (libFuzzer gave them
 * its own descriptor). */
struct fuzz_catch {
	int file, saved;
};

static inline void fuzz_catch(struct fuzz_catch *c, const char *path)
{
	if (!c->file) {
		c->file = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (c->file < 0)
			abort();
	}
	if (ftruncate(c->file, 0) < 0 || lseek(c->file, 0, SEEK_SET) < 0)
		abort();
	fflush(stderr);
	c->saved = dup(2);
	if (c->saved < 0 || dup2(c->file, 2) < 0)
		abort();
}

static inline const char *fuzz_caught(struct fuzz_catch *c, char *buf, size_t cap)
{
	fflush(stderr);
	if (c->saved >= 0) {
		dup2(c->saved, 2);
		close(c->saved);
		c->saved = -1;
	}
	ssize_t n = pread(c->file, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

/* The input as a C string: up to its first NUL, in a buffer of its own
 * (so that ASan sees a read past its end). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t n = nul ? (size_t)(nul - data) : size;
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = 0;
	return s;
}

/* Walks path from depth *depth, as the kernel would on names alone
 * (no symlinks): "" and "." stay, ".." goes up; 0 if it goes above the
 * top of the application. */
static inline int fuzz_walk(const char *path, long *depth)
{
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--*depth < 0)
				return 0;
		} else if (n && !(n == 1 && p[0] == '.')) {
			++*depth;
		}
		p += n;
		p += *p == '/';
	}
	return 1;
}

/* Whether target, read from the directory that holds rel, ever leaves
 * the application on the names alone. A rel that leaves it itself is
 * refused before its target is looked at (bad_path). */
static inline int fuzz_climbs_out(const char *rel, const char *target)
{
	long depth = 0;
	char *dir = strdup(rel), *slash;

	if (!dir)
		abort();
	/* the directory: rel less its last name (and any '/' after it) */
	while ((slash = strrchr(dir, '/')) && !slash[1])
		*slash = 0;
	*(slash ? slash : dir) = 0;
	int rel_ok = fuzz_walk(dir, &depth);
	free(dir);
	return rel_ok && (target[0] == '/' || !fuzz_walk(target, &depth));
}

/* The input, read as a stream of choices by the harnesses that build
 * trees or databases from it; zeros once it is used up. */
struct src {
	const uint8_t *p;
	size_t n;
};

static inline unsigned byte(struct src *s)
{
	if (!s->n)
		return 0;
	s->n--;
	return *s->p++;
}

/* A number in [lo, hi]. */
static inline unsigned pick(struct src *s, unsigned lo, unsigned hi)
{
	unsigned v = byte(s);
	if (hi - lo > 255)
		v = v << 8 | byte(s);
	return lo + v % (hi - lo + 1);
}

/* Bytes that look random and are the same every run (file contents). */
static inline void fuzz_noise(unsigned char *buf, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		buf[i] = (unsigned char)(x >> 24);
	}
}

#endif
