/* The form of rep's tar stream, checked block by block on the bytes the
 * archive reader is given.
 *
 * libarchive merges what comes before an entry (pax, global and GNU
 * headers, volume labels) into the entry it returns, and says nothing
 * of how; GNU tar, which unpacks on an ssh target, merges them its own
 * way, and the two disagree on some. An archive that two readers can
 * read as two trees is one whose check proves nothing, so only the
 * header kinds, pax keys and field forms rep-tar writes pass here, and
 * each entry is handed on as its headers say, for lib/archive.c to
 * compare with libarchive's view. This is a gate in front of
 * libarchive, not a reader: it never extracts, and what it passes is
 * what both readers read alike. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rep.h"

#define BLOCK 512
#define PAX_MAX (64 * 1024)     /* a path and a link target, with room */
#define OCTAL_11 077777777777LL /* the largest ustar size, 8 GiB - 1 */

enum { HEADER, PAX, DATA, END };

/* Every header field that holds text: the bytes after its first NUL
 * are NUL too (what one reader would ignore, another might not). */
static int padded(const unsigned char *f, size_t w)
{
	const unsigned char *nul = memchr(f, 0, w);
	if (!nul)
		return 1;
	for (size_t i = (size_t)(nul - f); i < w; i++)
		if (f[i])
			return 0;
	return 1;
}

static size_t field_len(const unsigned char *f, size_t w)
{
	const unsigned char *nul = memchr(f, 0, w);
	return nul ? (size_t)(nul - f) : w;
}

/* A numeric field as libarchive and GNU tar write it: octal digits, then
 * spaces or NULs to its end; no leading blanks, no base-256. */
static int octal(const unsigned char *f, size_t w, int64_t *v)
{
	size_t i = 0;

	*v = 0;
	while (i < w && f[i] >= '0' && f[i] <= '7') {
		if (*v > (INT64_MAX >> 3))
			return 0;
		*v = *v * 8 + (f[i++] - '0');
	}
	if (i == 0)
		return 0;
	for (; i < w; i++)
		if (f[i] != ' ' && f[i] != 0)
			return 0;
	return 1;
}

/* A numeric field in base 256, as libarchive writes a value octal cannot
 * hold (a size of 64 GiB or more, a time before 1970 or from 2242): a
 * first byte 0x80 (positive) or 0xff (negative), then the value's bytes,
 * which must fit in 64 bits (sign-extended beyond them). */
static int base256(const unsigned char *f, size_t w, int64_t *v)
{
	if (f[0] != 0x80 && f[0] != 0xff)
		return 0;
	unsigned char fill = f[0] == 0xff ? 0xff : 0;
	uint64_t u = 0;
	for (size_t i = 1; i < w; i++) {
		if (i < w - 8 && f[i] != fill)
			return 0;
		u = (u << 8) | f[i];
	}
	*v = (int64_t)u;
	/* only for a value octal cannot hold: as libarchive writes it */
	return fill ? *v < 0 : *v > OCTAL_11;
}

static int all_nul(const unsigned char *f, size_t w)
{
	for (size_t i = 0; i < w; i++)
		if (f[i])
			return 0;
	return 1;
}

static int all_zero(const unsigned char *b)
{
	return all_nul(b, BLOCK);
}

static void set_err(struct rep_form *f, const char *entry, size_t n, const char *why)
{
	char *shown = rep_visible(entry, n);

	snprintf(f->err, sizeof f->err, "%s: %s (not in the form rep-tar writes)", shown, why);
	free(shown);
	f->failed = 1;
}

static int __attribute__((format(printf, 2, 3))) fail(struct rep_form *f, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	set_err(f, f->name, strlen(f->name), why);
	return -1;
}

static const char *kind(int type)
{
	switch (type) {
	case 'g': return "a global pax header";
	case 'L': return "a GNU long name";
	case 'K': return "a GNU long link name";
	case 'V': return "a volume label";
	case 'M': return "a multi-volume continuation";
	case 'S': return "a GNU sparse file";
	case 'N': return "a GNU old long name";
	case 'D': return "a GNU directory dump";
	case '1': return "a hard link";
	case '3': return "a character device";
	case '4': return "a block device";
	case '6': return "a FIFO";
	case '7': return "a contiguous file";
	case 0: return "an old-style file header";
	default: return NULL;
	}
}

/* The pax records of one 'x' header: "LEN KEY=VALUE\n", LEN counting the
 * whole record, each key once and only those rep-tar's writer uses. */
static int pax_records(struct rep_form *f)
{
	const char *p = (const char *)f->pax, *end = p + f->paxlen;

	if (memchr(p, 0, f->paxlen))
		return fail(f, "%s", "a NUL byte in a pax header");
	while (p < end) {
		size_t digits = strspn(p, "0123456789");
		if (digits == 0 || digits > 6 || p[0] == '0' || p + digits >= end || p[digits] != ' ')
			return fail(f, "%s", "a malformed pax record");
		long len = strtol(p, NULL, 10);
		if (len > end - p || p[len - 1] != '\n')
			return fail(f, "%s", "a malformed pax record");
		const char *key = p + digits + 1, *eq = memchr(key, '=', (size_t)(p + len - 1 - key));
		if (!eq || eq == key)
			return fail(f, "%s", "a malformed pax record");
		size_t klen = (size_t)(eq - key), vlen = (size_t)(p + len - 1 - (eq + 1));
		const char *val = eq + 1;
		char k[32];
		snprintf(k, sizeof k, "%.*s", (int)(klen < sizeof k - 1 ? klen : sizeof k - 1), key);
		if (vlen == 0)
			return fail(f, "an empty pax key %s", k);
		char **to = NULL;
		int bit;
		if (klen == 4 && memcmp(key, "path", 4) == 0) {
			to = &f->pax_path, bit = 1;
		} else if (klen == 8 && memcmp(key, "linkpath", 8) == 0) {
			to = &f->pax_link, bit = 2;
		} else if (klen == 4 && memcmp(key, "size", 4) == 0) {
			bit = 4;
			if (vlen > 18 || strspn(val, "0123456789") != vlen ||
			    (f->pax_size = strtoll(val, NULL, 10)) <= OCTAL_11)
				return fail(f, "%s", "a pax size that ustar can hold");
		} else if (klen == 5 && memcmp(key, "mtime", 5) == 0) {
			bit = 8;
			size_t i = val[0] == '-';
			size_t d = strspn(val + i, "0123456789");
			if (d == 0 || d > 18 || (i + d < vlen && (val[i + d] != '.' ||
			    strspn(val + i + d + 1, "0123456789") != vlen - i - d - 1)))
				return fail(f, "%s", "a malformed pax mtime");
		} else if (klen == 10 && memcmp(key, "hdrcharset", 10) == 0) {
			bit = 16;
			if (vlen != 6 || memcmp(val, "BINARY", 6) != 0)
				return fail(f, "%s", "a pax hdrcharset other than BINARY");
		} else {
			char *shown = rep_visible(key, klen);
			char what[128];
			snprintf(what, sizeof what, "the pax key %.100s", shown);
			free(shown);
			return fail(f, "%s", what);
		}
		if (f->pax_keys & bit)
			return fail(f, "the pax key %s twice", k);
		f->pax_keys |= bit;
		if (to) {
			free(*to);
			*to = rep_xmalloc(vlen + 1);
			memcpy(*to, val, vlen);
			(*to)[vlen] = 0;
		}
		p += len;
	}
	return 0;
}

static void push(struct rep_form *f, struct rep_form_entry *e)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct rep_form_entry *q = rep_xmalloc(cap * sizeof *q);
		for (size_t i = 0; i < f->n; i++)
			q[i] = f->q[(f->head + i) % f->cap];
		free(f->q);
		f->q = q;
		f->cap = cap;
		f->head = 0;
	}
	f->q[(f->head + f->n++) % f->cap] = *e;
}

/* One header block: an 'x' header, whose records come next, or an entry,
 * queued; its data is skipped. */
static int header(struct rep_form *f, const unsigned char *h)
{
	size_t nlen = field_len(h, 100), plen = field_len(h + 345, 155);
	int type = h[156];
	int64_t mode, uid, gid, size, mtime = 0, sum, major, minor;

	/* the name, for messages: the pax path once there is one */
	if (f->pax_path)
		snprintf(f->name, sizeof f->name, "%s", f->pax_path);
	else if (plen && memcmp(h + 257, "ustar\0", 6) == 0)
		snprintf(f->name, sizeof f->name, "%.*s/%.*s", (int)plen, h + 345, (int)nlen, h);
	else
		snprintf(f->name, sizeof f->name, "%.*s", (int)nlen, h);

	unsigned long s = 0;
	for (size_t i = 0; i < BLOCK; i++)
		s += i >= 148 && i < 156 ? ' ' : h[i];
	if (!octal(h + 148, 8, &sum) || (unsigned long)sum != s)
		return fail(f, "%s", "a header with a wrong checksum");
	if (memcmp(h + 257, "ustar\0" "00", 8) != 0)
		return fail(f, "%s", "a header that is not POSIX ustar");
	if (type != '0' && type != '5' && type != '2' && type != 'x') {
		char what[64];
		const char *k = kind(type);
		if (!k)
			snprintf(what, sizeof what, "an entry of type '%c'", type > 0x20 && type < 0x7f ? type : '?');
		return fail(f, "%s", k ? k : what);
	}
	/* a size or time ustar cannot hold is written in base 256, which
	 * both readers take (a size must then be the pax size too); device
	 * numbers are 0, or left empty as some writers do when the entry is
	 * no device (both readers take that as 0) */
	if (!octal(h + 100, 8, &mode) || !octal(h + 108, 8, &uid) || !octal(h + 116, 8, &gid) ||
	    (!octal(h + 124, 12, &size) && !base256(h + 124, 12, &size)) ||
	    (!octal(h + 136, 12, &mtime) && !base256(h + 136, 12, &mtime)) ||
	    (!octal(h + 329, 8, &major) && !(major = 0, all_nul(h + 329, 8))) ||
	    (!octal(h + 337, 8, &minor) && !(minor = 0, all_nul(h + 337, 8))))
		return fail(f, "%s", "a numeric field in another form");
	if (!padded(h, 100) || !padded(h + 157, 100) || !padded(h + 265, 32) ||
	    !padded(h + 297, 32) || !padded(h + 345, 155))
		return fail(f, "%s", "bytes after the end of a name");
	for (size_t i = 500; i < BLOCK; i++)
		if (h[i])
			return fail(f, "%s", "bytes in the header's padding");
	if (uid || gid || h[265] || h[297])
		return fail(f, "%s", "an owner other than 0 with no name");
	if (major || minor)
		return fail(f, "%s", "device numbers");
	if (type == 'x') {
		if (f->in_pax)
			return fail(f, "%s", "two pax headers for one entry");
		if (size > PAX_MAX)
			return fail(f, "%s", "a pax header too large");
		if (h[157])
			return fail(f, "%s", "a link name on a pax header");
		f->in_pax = 1;
		f->pax_offset = f->pos;
		f->paxlen = 0;
		f->left = size;
		f->pad = (BLOCK - size % BLOCK) % BLOCK;
		if (!f->pax)
			f->pax = rep_xmalloc(PAX_MAX);
		f->state = size ? PAX : HEADER;
		if (!size)
			return fail(f, "%s", "an empty pax header");
		return 0;
	}

	struct rep_form_entry e = { .type = type, .mode = (int)mode, .mtime = mtime };
	e.offset = f->in_pax ? f->pax_offset : f->pos;
	/* a reader that took the ustar size where the other takes the pax
	 * size would split the stream elsewhere: the two must agree */
	if ((f->pax_keys & 4) && size != f->pax_size)
		return fail(f, "%s", "a pax size and a ustar size that differ");
	if (!(f->pax_keys & 4) && size > OCTAL_11)
		return fail(f, "%s", "a size of 8 GiB or more without a pax size");
	e.size = size;
	if (f->pax_path) {
		e.path = f->pax_path;
		f->pax_path = NULL;
	} else {
		e.path = rep_xstrdup(f->name);
	}
	if (f->pax_link) {
		e.link = f->pax_link;
		f->pax_link = NULL;
	} else if (h[157]) {
		e.link = rep_xmalloc(101);
		snprintf(e.link, 101, "%.*s", (int)field_len(h + 157, 100), h + 157);
	}
	f->in_pax = 0;
	f->pax_keys = 0;
	size_t len = strlen(e.path);
	char what[64];
	int bad = 0;
	if (type == '0')
		bad = (mode != 0644 && mode != 0755) || (len && e.path[len - 1] == '/');
	else if (type == '5')
		bad = mode != 0755 || e.size != 0 || !len || e.path[len - 1] != '/';
	else
		bad = mode != 0777 || e.size != 0 || !e.link || !e.link[0] || (len && e.path[len - 1] == '/');
	if (type != '2' && e.link)
		bad = 1;
	if (bad) {
		if ((type == '0' && mode != 0644 && mode != 0755) || (type == '5' && mode != 0755) ||
		    (type == '2' && mode != 0777))
			snprintf(what, sizeof what, "mode %llo", (long long)mode);
		else if (type != '0' && e.size)
			snprintf(what, sizeof what, "data on a %s", type == '5' ? "directory" : "symlink");
		else if (type != '2' && e.link)
			snprintf(what, sizeof what, "a link name on a %s", type == '5' ? "directory" : "file");
		else if (type == '2' && (!e.link || !e.link[0]))
			snprintf(what, sizeof what, "a symlink with no target");
		else
			snprintf(what, sizeof what, "a %s name %s '/'", type == '5' ? "directory" : "non-directory",
			    type == '5' ? "without a trailing" : "with a trailing");
		set_err(f, e.path, len, what);
		free(e.path);
		free(e.link);
		return -1;
	}
	push(f, &e);
	f->left = type == '0' ? e.size : 0;
	f->pad = (BLOCK - f->left % BLOCK) % BLOCK;
	f->state = f->left ? DATA : HEADER;
	return 0;
}

int rep_form_feed(struct rep_form *f, const void *buf, size_t n)
{
	const unsigned char *p = buf, *end = p + n;

	if (f->failed)
		return -1;
	while (p < end) {
		if (f->state == DATA) {
			/* an entry's data, then its padding (zero, as written) */
			if (f->left) {
				size_t k = (size_t)(end - p) < (uint64_t)f->left ? (size_t)(end - p) : (size_t)f->left;
				p += k, f->pos += (int64_t)k, f->left -= (int64_t)k;
				continue;
			}
			for (; f->pad && p < end; p++, f->pos++, f->pad--)
				if (*p)
					return fail(f, "%s", "bytes in the padding after its data");
			if (!f->pad)
				f->state = HEADER;
			continue;
		}
		if (f->state == PAX) {
			if (f->left) {
				size_t k = (size_t)(end - p) < (uint64_t)f->left ? (size_t)(end - p) : (size_t)f->left;
				memcpy(f->pax + f->paxlen, p, k);
				f->paxlen += k;
				p += k, f->pos += (int64_t)k, f->left -= (int64_t)k;
				continue;
			}
			for (; f->pad && p < end; p++, f->pos++, f->pad--)
				if (*p)
					return fail(f, "%s", "bytes in the padding after its data");
			if (f->pad)
				continue;
			f->state = HEADER;
			if (pax_records(f) < 0)
				return -1;
			continue;
		}
		if (f->state == END) {
			/* after the first zero block: zeros to the end */
			for (; p < end; p++, f->pos++, f->zeros++)
				if (*p) {
					snprintf(f->err, sizeof f->err,
					    "data after the end of the archive");
					f->failed = 1;
					return -1;
				}
			break;
		}
		/* a header, or the first zero block: a block at a time */
		size_t k = BLOCK - f->have;
		if (k > (size_t)(end - p))
			k = (size_t)(end - p);
		memcpy(f->block + f->have, p, k);
		f->have += k, p += k;
		if (f->have < BLOCK)
			break;
		f->have = 0;
		if (all_zero(f->block)) {
			if (f->in_pax)
				return fail(f, "%s", "a pax header with no entry after it");
			f->state = END;
			f->zeros = BLOCK;
		} else if (header(f, f->block) < 0) {
			return -1;
		}
		f->pos += BLOCK;
	}
	return 0;
}

int rep_form_end(struct rep_form *f)
{
	if (f->failed)
		return -1;
	if (f->state != END || f->zeros < 2 * BLOCK) {
		snprintf(f->err, sizeof f->err, "%s", "no end-of-archive blocks (not in the form rep-tar writes)");
		f->failed = 1;
		return -1;
	}
	return 0;
}

int rep_form_next(struct rep_form *f, struct rep_form_entry *e)
{
	if (!f->n)
		return 0;
	*e = f->q[f->head];
	f->head = (f->head + 1) % f->cap;
	f->n--;
	return 1;
}

void rep_form_entry_free(struct rep_form_entry *e)
{
	free(e->path);
	free(e->link);
	e->path = e->link = NULL;
}

void rep_form_free(struct rep_form *f)
{
	struct rep_form_entry e;

	while (rep_form_next(f, &e))
		rep_form_entry_free(&e);
	free(f->q);
	free(f->pax);
	free(f->pax_path);
	free(f->pax_link);
	memset(f, 0, sizeof *f);
}
