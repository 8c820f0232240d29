/* Archives: writing rep's tar.gz with libarchive over the parallel gzip
 * of gz.c, reading one back to check it against its manifest or to
 * unpack it, and inflating one once for several unpackings. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "rep.h"

#define MANIFEST "MANIFEST"
#define TOP "rep_applications"

struct rep_tar {
	struct archive *a;
	struct archive_entry *e;
	struct rep_gz *gz;
	const char *label;
	int64_t clamp;           /* SOURCE_DATE_EPOCH, or -1 */
};

static _Noreturn void tar_die(struct rep_tar *t)
{
	rep_die("%s: %s", t->label, archive_error_string(t->a));
}

static la_ssize_t tar_out(struct archive *a, void *arg, const void *buf, size_t n)
{
	(void)a;
	rep_gz_write(arg, buf, n);
	return (la_ssize_t)n;
}

struct rep_tar *rep_tar_open(int fd, const char *label, int level, int threads, int64_t clamp)
{
	struct rep_tar *t = calloc(1, sizeof *t);

	if (!t || !(t->a = archive_write_new()) || !(t->e = archive_entry_new()))
		rep_die("out of memory");
	t->label = label;
	t->clamp = clamp;
	t->gz = rep_gz_open(fd, label, level, threads);
	if (archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
	    archive_write_open2(t->a, t->gz, NULL, tar_out, NULL, NULL) != ARCHIVE_OK)
		tar_die(t);
	return t;
}

static void header(struct rep_tar *t, const char *path, int type, int perm, int64_t size,
    int64_t mtime, const char *target)
{
	struct archive_entry *e = t->e;

	archive_entry_clear(e);
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, (unsigned)type);
	archive_entry_set_perm(e, (mode_t)perm);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_size(e, size);
	if (t->clamp >= 0 && mtime > t->clamp)
		mtime = t->clamp;
	archive_entry_set_mtime(e, mtime, 0);
	if (target)
		archive_entry_set_symlink(e, target);
	/* ARCHIVE_WARN: a name that is not UTF-8 went in as binary
	 * (hdrcharset=BINARY); the entry is written. */
	int rc = archive_write_header(t->a, e);
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
		tar_die(t);
}

void rep_tar_dir(struct rep_tar *t, const char *path, int64_t mtime)
{
	header(t, path, AE_IFDIR, 0755, 0, mtime, NULL);
}

void rep_tar_symlink(struct rep_tar *t, const char *path, const char *target, int64_t mtime)
{
	header(t, path, AE_IFLNK, 0777, 0, mtime, target);
}

void rep_tar_file(struct rep_tar *t, const char *path, int exec, int64_t size, int64_t mtime)
{
	header(t, path, AE_IFREG, exec ? 0755 : 0644, size, mtime, NULL);
}

void rep_tar_data(struct rep_tar *t, const void *buf, size_t n)
{
	if (archive_write_data(t->a, buf, n) != (la_ssize_t)n)
		tar_die(t);
}

int64_t rep_tar_close(struct rep_tar *t)
{
	if (archive_write_close(t->a) != ARCHIVE_OK)
		tar_die(t);
	archive_write_free(t->a);
	archive_entry_free(t->e);
	int64_t n = rep_gz_close(t->gz);
	free(t);
	return n;
}

/* libarchive's message, or what a reader with none would mean. */
static const char *read_error(struct archive *a)
{
	const char *e = archive_error_string(a);
	return e ? e : "truncated or corrupt archive";
}

static void sha256_hex(struct sha256_ctx *c, char out[65])
{
	unsigned char d[SHA256_DIGEST_SIZE];
	sha256_digest(c, sizeof d, d);
	rep_hex(d, sizeof d, out);
}

/* The gzip layer of an archive being read, decoded by zlib, which checks
 * every member's CRC-32 and length (libarchive's reader does not): only
 * gzip, and nothing after the last member. It runs in a thread of its
 * own, a few buffers ahead of the tar reader, as gzip -d | tar would. */
#define GZ_BUFS 4
#define GZ_OUT (256 * 1024)

struct gunzip {
	FILE *fp;
	const char *path;
	struct sha256_ctx raw;    /* of the file's bytes, as read */
	int blocked;              /* in rep's blocked form, read on several threads */
	struct rep_gzin *par;     /* by these, until they are stopped */
	z_stream z;
	int ended;                /* the current member is complete */
	unsigned char in[64 * 1024];
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned char *out[GZ_BUFS];
	size_t len[GZ_BUFS];
	unsigned filled, taken;   /* buffers made and handed out, counting up */
	int done;                 /* the thread made its last buffer */
	int stop;                 /* end the thread early (gunzip_stop) */
	char err[512];            /* why it stopped early, or "" */
};

#ifdef REP_FUZZ
/* What a failing check leaves, for rep_fuzz_archive_reset(). */
static struct {
	struct archive *a;
	struct gunzip *g;
	char *text;               /* the MANIFEST */
	struct rep_form *form;
} fuzz_left;
#define FUZZ_LEFT(field, v) (fuzz_left.field = (v))
#else
#define FUZZ_LEFT(field, v) ((void)0)
#endif

/* Fills out with decoded bytes; 0 at the end; -1 with g->err set. */
static long inflate_some(struct gunzip *g, unsigned char *out, size_t size)
{
	g->z.next_out = out;
	g->z.avail_out = (uInt)size;
	while (g->z.avail_out == size) {
		if (g->z.avail_in == 0) {
			g->z.avail_in = (uInt)fread(g->in, 1, sizeof g->in, g->fp);
			g->z.next_in = g->in;
			if (ferror(g->fp)) {
				snprintf(g->err, sizeof g->err, "%s: %s", g->path, strerror(errno));
				return -1;
			}
			sha256_update(&g->raw, g->z.avail_in, g->in);
			if (g->z.avail_in == 0) {
				if (!g->ended) {
					snprintf(g->err, sizeof g->err, "%s: truncated archive", g->path);
					return -1;
				}
				break;
			}
		}
		if (g->ended) {
			/* another member may follow, and nothing else */
			if (g->z.avail_in == 1 && !feof(g->fp)) {
				g->in[0] = g->z.next_in[0];
				g->z.next_in = g->in;
				size_t more = fread(g->in + 1, 1, sizeof g->in - 1, g->fp);
				if (ferror(g->fp)) {
					snprintf(g->err, sizeof g->err, "%s: %s", g->path, strerror(errno));
					return -1;
				}
				sha256_update(&g->raw, more, g->in + 1);
				g->z.avail_in += (uInt)more;
			}
			if (g->z.avail_in < 2 || g->z.next_in[0] != 0x1f || g->z.next_in[1] != 0x8b) {
				snprintf(g->err, sizeof g->err, "%s: data after the end of the gzip stream", g->path);
				return -1;
			}
			inflateReset(&g->z);
			g->ended = 0;
		}
		int rc = inflate(&g->z, Z_NO_FLUSH);
		if (rc == Z_STREAM_END) {
			g->ended = 1;
		} else if (rc != Z_OK && rc != Z_BUF_ERROR) {
			snprintf(g->err, sizeof g->err, "%s: corrupt gzip data: %s", g->path,
			    g->z.msg ? g->z.msg : "bad stream");
			return -1;
		}
	}
	return (long)(size - g->z.avail_out);
}

static void *gunzip_thread(void *arg)
{
	struct gunzip *g = arg;

	for (;;) {
		pthread_mutex_lock(&g->lock);
		while (g->filled - g->taken >= GZ_BUFS - 1 && !g->stop)
			pthread_cond_wait(&g->cond, &g->lock);
		unsigned slot = g->filled % GZ_BUFS;
		int stop = g->stop;
		pthread_mutex_unlock(&g->lock);
		if (stop)
			return NULL;
		long n = inflate_some(g, g->out[slot], GZ_OUT);
		pthread_mutex_lock(&g->lock);
		g->len[slot] = n > 0 ? (size_t)n : 0;
		if (n > 0)
			g->filled++;
		else
			g->done = 1;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
		if (n <= 0)
			return NULL;
	}
}

/* The next decoded buffer, 0 at the end, -1 with g->err set; the one
 * handed out before it is free again (libarchive keeps a buffer only
 * until its next read). */
static long gunzip_next(struct gunzip *g, const void **buf)
{
	if (g->par)
		return rep_gzin_next(g->par, buf, g->err);
	pthread_mutex_lock(&g->lock);
	while (g->taken == g->filled && !g->done)
		pthread_cond_wait(&g->cond, &g->lock);
	if (g->taken == g->filled) {
		pthread_mutex_unlock(&g->lock);
		return g->err[0] ? -1 : 0;
	}
	/* the thread stays a buffer short of the one handed out last */
	unsigned slot = g->taken++ % GZ_BUFS;
	*buf = g->out[slot];
	long n = (long)g->len[slot];
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	return n;
}

/* The reading of path started, or NULL with why in err. */
static struct gunzip *gunzip_open(const char *file, const char *path, int strict, char err[512])
{
	struct gunzip *g = calloc(1, sizeof *g);
	struct stat st;

	if (!g)
		rep_die("out of memory");
	g->path = path;
	sha256_init(&g->raw);
	/* O_NONBLOCK: a FIFO named as an archive is refused, not waited on */
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, 512, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(err, 512, "%s: not a regular file", path);
	} else if (fcntl(fd, F_SETFL, 0) < 0 || !(g->fp = fdopen(fd, "rb"))) {
		snprintf(err, 512, "%s: %s", path, strerror(errno));
	} else {
		fd = -1;
		unsigned char h[REP_GZ_HEADER];
		size_t got = fread(h, 1, sizeof h, g->fp);
		if (ferror(g->fp))
			snprintf(err, 512, "%s: %s", path, strerror(errno));
		else if (got < 2 || h[0] != 0x1f || h[1] != 0x8b)
			snprintf(err, 512, "%s: not a gzip-compressed tar archive", path);
		else
			err[0] = 0;
		g->blocked = got == sizeof h && rep_gz_member_size(h) > 0;
	}
	if (fd >= 0)
		close(fd);
	if (err[0]) {
		if (g->fp)
			fclose(g->fp);
		free(g);
		return NULL;
	}
	FUZZ_LEFT(g, g);
	rewind(g->fp);
	if (g->blocked) {
		g->par = rep_gzin_open(g->fp, path, &g->raw, rep_nthreads(), strict);
		return g;
	}
	if (inflateInit2(&g->z, 16 + 15) != Z_OK)
		rep_die("out of memory");
	for (int i = 0; i < GZ_BUFS; i++)
		g->out[i] = rep_xmalloc(GZ_OUT);
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	if ((errno = pthread_create(&g->tid, NULL, gunzip_thread, g)) != 0)
		rep_die_errno("thread");
	return g;
}

static void gunzip_free(struct gunzip *g)
{
	if (g->par)
		rep_gzin_close(g->par);
	if (!g->blocked) {
		inflateEnd(&g->z);
		for (int i = 0; i < GZ_BUFS; i++)
			free(g->out[i]);
		pthread_mutex_destroy(&g->lock);
		pthread_cond_destroy(&g->cond);
	}
	fclose(g->fp);
	free(g);
}

/* Once everything was read: the SHA-256 of the file's bytes. */
static void gunzip_close(struct gunzip *g, char sha[65])
{
	if (g->par)
		rep_gzin_close(g->par);
	else
		pthread_join(g->tid, NULL);
	g->par = NULL;                /* stopped: the hash is complete */
	sha256_hex(&g->raw, sha);
	gunzip_free(g);
}

/* Before the end: the thread is told to stop, and waited for. */
static void gunzip_stop(struct gunzip *g)
{
	if (g->par) {
		gunzip_free(g);
		return;
	}
	pthread_mutex_lock(&g->lock);
	g->stop = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->tid, NULL);
	gunzip_free(g);
}

#ifdef REP_FUZZ
/* Fuzz builds return from a failing check to the harness (lib/err.c),
 * which calls this before its next input: the reading thread must not
 * outlive the check, nor its file and buffers pile up. */
void rep_fuzz_archive_reset(void)
{
	struct gunzip *g = fuzz_left.g;

	if (fuzz_left.a)
		archive_read_free(fuzz_left.a);
	free(fuzz_left.text);
	if (fuzz_left.form) {
		rep_form_free(fuzz_left.form);
		free(fuzz_left.form);
	}
	if (g && (g->tid || g->par)) {
		gunzip_stop(g);
	} else if (g) {
		if (g->fp)
			fclose(g->fp);
		free(g);
	}
	memset(&fuzz_left, 0, sizeof fuzz_left);
}
#endif

/* Where read_archive gets the tar from: the file, inflated here, or a
 * feed from rep_archive_tee(), which inflated it for several stagings. */
struct source {
	const char *path;
	struct gunzip *g;
	const struct rep_feed *feed;
	unsigned char *buf;       /* a feed's bytes, as read last */
	const unsigned char *last; /* the buffer handed out last */
	size_t len;               /* its length */
	int64_t delivered;        /* bytes handed out */
	int ended;                /* the feed's verdict was read */
	char sha256[65];          /* of the file, from the verdict */
	struct rep_form *form;    /* of the tar stream, as it is handed out */
};

/* The feed's verdict, once its tar stream ended: the file's SHA-256, or
 * why the reader stopped; nothing if the reader died. */
static void feed_verdict(struct source *s)
{
	char v[1024];
	ssize_t r = rep_read_full(s->feed->verdict, v, sizeof v - 1);
	size_t n = r > 0 ? (size_t)r : 0;

	v[n] = 0;
	if (n == 68 && strncmp(v, "ok ", 3) == 0 && v[67] == '\n' &&
	    strspn(v + 3, "0123456789abcdef") == 64) {
		memcpy(s->sha256, v + 3, 64);
		s->sha256[64] = 0;
		s->ended = 1;
		return;
	}
	if (n > 6 && strncmp(v, "error ", 6) == 0 && v[n - 1] == '\n') {
		v[n - 1] = 0;
		rep_die("%s", v + 6);
	}
	rep_die("%s: the process reading it for several targets died", s->path);
}

static la_ssize_t feed_read(struct source *s, const void **buf)
{
	ssize_t n;

	*buf = s->buf;
	if (s->ended)
		return 0;
	while ((n = read(s->feed->data, s->buf, GZ_OUT)) < 0 && errno == EINTR)
		;
	if (n < 0)
		rep_die_errno("%s", s->path);
	if (n == 0)
		feed_verdict(s);
	return n;
}

static la_ssize_t source_read(struct archive *a, void *arg, const void **buf)
{
	struct source *s = arg;
	(void)a;

	long n = s->g ? gunzip_next(s->g, buf) : feed_read(s, buf);
	if (n < 0)
		rep_die("%s", s->g->err);
	if (n > 0 && rep_form_feed(s->form, *buf, (size_t)n) < 0)
		rep_die("%s: %s", s->path, s->form->err);
	if (n > 0) {
		s->last = *buf;
		s->len = (size_t)n;
		s->delivered += n;
	}
	return n;
}

static void source_open(struct source *s, const char *file, const char *path, const struct rep_feed *feed,
    int strict)
{
	char err[512];

	memset(s, 0, sizeof *s);
	s->path = path;
	s->feed = feed;
	if (!(s->form = calloc(1, sizeof *s->form)))
		rep_die("out of memory");
	FUZZ_LEFT(form, s->form);
	if (feed)
		s->buf = rep_xmalloc(GZ_OUT);
	else if (!(s->g = gunzip_open(file, path, strict, err)))
		rep_die("%s", err);
}

/* Once everything was read: the file's SHA-256. */
static void source_close(struct source *s, char sha[65])
{
	if (s->g)
		gunzip_close(s->g, sha);
	else
		memcpy(sha, s->sha256, 65);
	free(s->buf);
	rep_form_free(s->form);
	free(s->form);
	FUZZ_LEFT(form, NULL);
}

/* Reads and inflates path once for n local stagings: its tar stream goes
 * to the data pipe of each feed, then the verdict to its verdict pipe:
 * "ok SHA-256\n" once the whole file was read (the staging compares it
 * with the one checked), or "error MESSAGE\n". A staging that is gone
 * (EPIPE: SIGPIPE must be ignored) is left out, and the others go on. */
void rep_archive_tee(const char *path, const struct rep_feed *to, size_t n)
{
	char err[512] = "", sha[65] = "";
	int *gone = calloc(n, sizeof *gone);
	size_t left = n;
	const void *buf;
	long len = 0;

	if (!gone)
		rep_die("out of memory");
	struct gunzip *g = gunzip_open(path, path, 0, err);
	while (g && left && (len = gunzip_next(g, &buf)) > 0)
		for (size_t i = 0; i < n; i++)
			if (!gone[i] && rep_write_full(to[i].data, buf, (size_t)len) < 0) {
				gone[i] = 1;
				left--;
			}
	for (size_t i = 0; i < n; i++)
		close(to[i].data);
	if (g && len < 0)
		snprintf(err, sizeof err, "%s", g->err);
	if (g && len == 0 && left)
		gunzip_close(g, sha);
	else if (g)
		gunzip_stop(g);
	for (size_t i = 0; i < n; i++) {
		if (!gone[i] && (sha[0] || err[0]))
			dprintf(to[i].verdict, sha[0] ? "ok %s\n" : "error %s\n", sha[0] ? sha : err);
		close(to[i].verdict);
	}
	free(gone);
}

/* Reading an archive back: the manifest first, then every entry checked
 * against it, in the order rep-tar writes them, so that an application
 * is folded into its checksum as its entries come, and compared with the
 * manifest as soon as it ends: what is held at once is the manifest and
 * the directories of one application. */

/* A count of a manifest record: decimal digits, at most 18 of them, so
 * that no sum of a few overflows. */
static int manifest_count(const char *s, int64_t *v)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > 18 || s[n])
		return 0;
	*v = strtoll(s, NULL, 10);
	return 1;
}

/* MANIFEST text into m->apps: name -> struct rep_manifest_app, in
 * manifest order. Version 1: NAME FILES BYTES CHECKSUM. Version 2, whose
 * first line says so: NAME FILES BYTES CHECKSUM DIRS STATE OFFSET; a
 * version 1 reader finds 7 fields and refuses the record rather than
 * misread it. In a release's full MANIFEST (m->release), DIRS may be
 * "-", not counted, copied from a version 1 row: dirs is then -1, as in
 * version 1; never in an archive's, which rep-tar writes whole. A
 * removal row is NAME 0 0 EMPTY-SHA256 0 remove -. */
void rep_manifest_parse(const char *label, char *text, struct rep_manifest *m)
{
	unsigned long lineno = 0;
	const char *v2 = "#rep-manifest\t2";

	m->version = 1;
	if (strncmp(text, "#rep-manifest\t", 14) == 0) {
		size_t n = strcspn(text, "\n");
		if (n != strlen(v2) || strncmp(text, v2, n) != 0) {
			size_t d = strspn(text + 14, "0123456789");
			if (d == 0 || d > 9 || 14 + d != n)
				rep_die("%s: %s:1: not a manifest record", label, MANIFEST);
			rep_die("%s: %s: version %.*s, written by a newer rep-tar", label, MANIFEST,
			    (int)d, text + 14);
		}
		m->version = 2;
	}
	for (char *line = text, *next; line; line = next) {
		char *f[8] = { 0 };
		int nf = 0, want = m->version == 2 ? 7 : 4;
		if ((next = strchr(line, '\n')))
			*next++ = 0;
		lineno++;
		if (!*line || *line == '#')
			continue;
		for (char *p = line; nf < 8 && p; nf++) {
			f[nf] = p;
			if ((p = strchr(p, '\t')))
				*p++ = 0;
		}
		int64_t files, bytes, dirs = -1, offset = -1;
		int remove = 0;
		if (nf != want || !rep_name_valid(f[0]) || !manifest_count(f[1], &files) ||
		    !manifest_count(f[2], &bytes) || !rep_sum_valid(f[3]) ||
		    (want == 7 && (((!m->release || strcmp(f[4], "-") != 0) && !manifest_count(f[4], &dirs)) ||
		     (strcmp(f[5], "add") != 0 && !(remove = strcmp(f[5], "remove") == 0)) ||
		     (strcmp(f[6], "-") != 0 && !manifest_count(f[6], &offset)))) ||
		    (remove && (files || bytes || dirs || offset >= 0 ||
		     strcmp(f[3], REP_EMPTY_SHA256) != 0)) ||
		    __builtin_add_overflow(m->files, files, &m->files))
			rep_die("%s: %s:%lu: not a manifest record", label, MANIFEST, lineno);
		if (rep_strset_find(&m->apps, f[0]) >= 0)
			rep_die("%s: %s: %s listed twice", label, MANIFEST, f[0]);
		if (m->apps.n >= REP_MANIFEST_APPS)
			rep_die("%s: %s: more than %d applications", label, MANIFEST, REP_MANIFEST_APPS);
		struct rep_manifest_app *s = calloc(1, sizeof *s);
		if (!s)
			rep_die("out of memory");
		snprintf(s->app.name, sizeof s->app.name, "%s", f[0]);
		s->app.files = files;
		s->app.bytes = bytes;
		memcpy(s->app.checksum, f[3], 65);
		s->dirs = dirs;
		s->offset = offset;
		s->remove = remove;
		rep_strset_add(&m->apps, f[0], s);
	}
}

/* The manifest as rep-tar -t prints it: its records, without comments. */
/* A version 2 row of s, with its offset if offset (else -). */
void rep_manifest_row(FILE *fp, const struct rep_manifest_app *s, int offset)
{
	fprintf(fp, "%s\t%lld\t%lld\t%s", s->app.name, (long long)s->app.files,
	    (long long)s->app.bytes, s->app.checksum);
	if (s->dirs >= 0)
		fprintf(fp, "\t%lld", (long long)s->dirs);
	else
		fputs("\t-", fp);
	fprintf(fp, "\t%s\t", s->remove ? "remove" : "add");
	if (offset && s->offset >= 0)
		fprintf(fp, "%lld\n", (long long)s->offset);
	else
		fputs("-\n", fp);
}

void rep_manifest_print(FILE *fp, const struct rep_manifest *m)
{
	if (m->version == 2)
		fputs("#rep-manifest\t2\n", fp);
	for (size_t i = 0; i < m->apps.n; i++) {
		const struct rep_manifest_app *s = m->apps.val[i];
		if (m->version == 2)
			rep_manifest_row(fp, s, 1);
		else
			fprintf(fp, "%s\t%lld\t%lld\t%s\n", s->app.name, (long long)s->app.files,
			    (long long)s->app.bytes, s->app.checksum);
	}
}

static char *read_whole(struct archive *a, const char *label, int64_t size)
{
	if (size < 0 || size > REP_MANIFEST_MAX)
		rep_die("%s: %s: too large (more than %d MiB)", label, MANIFEST, REP_MANIFEST_MAX >> 20);
	char *buf = rep_xmalloc((size_t)size + 1);
	FUZZ_LEFT(text, buf);
	if (archive_read_data(a, buf, (size_t)size) != (la_ssize_t)size)
		rep_die("%s: %s: %s", label, MANIFEST, read_error(a));
	buf[size] = 0;
	if (memchr(buf, 0, (size_t)size))
		rep_die("%s: %s: NUL byte", label, MANIFEST);
	return buf;
}

static int bad_path(const char *p)
{
	if (p[0] == '/')
		return 1;
	for (const unsigned char *c = (const unsigned char *)p; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return 1;
	/* "..", and what gives one entry two names ("./x", "a//x"), which
	 * the checks below compare as strings; a trailing '/' is allowed */
	for (const char *s = p; *s;) {
		size_t n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 1;
		s += n;
		s += *s == '/';
	}
	return 0;
}

/* A path no directory can hold: a component longer than NAME_MAX bytes.
 * No tree rep-tar reads has one, and unpacking it would fail half-way. */
static int long_name(const char *p)
{
	for (const char *s = p; *s;) {
		size_t n = strcspn(s, "/");
		if (n > NAME_MAX)
			return 1;
		s += n;
		s += *s == '/';
	}
	return 0;
}

/* Unpacking: one archive_write_disk for the top of the release, and one
 * per application, run from inside the application's directory so that
 * ARCHIVE_EXTRACT_SECURE_SYMLINKS walks the path within the application
 * (two components on average) rather than all of it for every entry. */
struct unpack {
	int top;                  /* the release directory being filled */
	struct archive *outer;    /* MANIFEST, rep_applications/ and its directories */
	struct archive *inner;    /* the entries of one application */
	char app[REP_NAME_MAX + 1];
	const char *label;
};

static void disk_check(struct archive *disk, int rc, const char *label, const char *path)
{
	if (rc == ARCHIVE_OK)
		return;
	const char *what = archive_error_string(disk) ? archive_error_string(disk) : "cannot write";
	int err = archive_errno(disk);
	if (err > 0 && !strstr(what, strerror(err)))
		rep_die("%s: %s: %s: %s", label, path, what, strerror(err));
	rep_die("%s: %s: %s", label, path, what);
}

static struct archive *writer_new(void)
{
	struct archive *w = archive_write_disk_new();

	if (!w || archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
	    ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
	    ARCHIVE_EXTRACT_NO_OVERWRITE | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM) != ARCHIVE_OK)
		rep_die("out of memory");
	return w;
}

/* Closing applies what libarchive deferred (directory times and modes),
 * relative to the current directory: the one the writer was used in. */
static void writer_close(struct archive **w, const char *label, const char *where)
{
	if (!*w)
		return;
	disk_check(*w, archive_write_close(*w), label, where);
	archive_write_free(*w);
	*w = NULL;
}

static void leave_app(struct unpack *u)
{
	if (!u->inner)
		return;
	writer_close(&u->inner, u->label, u->app);
	if (fchdir(u->top) < 0)
		rep_die_errno("%s", u->label);
}

/* The writer for an entry: outside any application (app NULL) or inside
 * one, where the entry is renamed to its path within the application. */
static struct archive *writer_for(struct unpack *u, const char *app, struct archive_entry *ae,
    const char *rel)
{
	if (!app || !rel) {
		leave_app(u);
		return u->outer;
	}
	if (u->inner && strcmp(u->app, app) == 0) {
		char *copy = rep_xstrdup(rel);
		archive_entry_set_pathname(ae, copy);
		free(copy);
		return u->inner;
	}
	leave_app(u);
	char dir[REP_NAME_MAX + 32];
	snprintf(dir, sizeof dir, TOP "/%s", app);
	int fd = openat(u->top, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchdir(fd) < 0)
		rep_die_errno("%s: %s", u->label, dir);
	close(fd);
	snprintf(u->app, sizeof u->app, "%s", app);
	u->inner = writer_new();
	return writer_for(u, app, ae, rel);
}

static void disk_entry(struct unpack *u, const char *app, struct archive_entry *ae,
    const char *rel)
{
	if (!u)
		return;
	const char *path = archive_entry_pathname(ae);
	char *shown = rep_xstrdup(path);
	struct archive *w = writer_for(u, app, ae, rel);
	disk_check(w, archive_write_header(w, ae), u->label, shown);
	if (archive_entry_filetype(ae) != AE_IFREG)
		disk_check(w, archive_write_finish_entry(w), u->label, shown);
	free(shown);
}

static void hash_data(struct archive *a, struct archive *disk, int hash, const char *label,
    const char *path, struct rep_entry *e)
{
	struct sha256_ctx c;
	const void *buf;
	size_t n;
	la_int64_t off;
	int rc;

	sha256_init(&c);
	e->size = 0;
	while ((rc = archive_read_data_block(a, &buf, &n, &off)) == ARCHIVE_OK) {
		if (off != e->size)
			rep_die("%s: %s: sparse entries are not allowed", label, path);
		if (hash)
			sha256_update(&c, n, buf);
		if (disk && archive_write_data_block(disk, buf, n, off) != ARCHIVE_OK)
			disk_check(disk, ARCHIVE_FATAL, label, path);
		e->size += (int64_t)n;
	}
	if (rc != ARCHIVE_EOF)
		rep_die("%s: %s: %s", label, path, read_error(a));
	sha256_digest(&c, sizeof e->digest, e->digest);
	if (disk)
		disk_check(disk, archive_write_finish_entry(disk), label, path);
}

/* What one reading holds: the application being read, its directories,
 * and the path of the entry before, which the next must follow. */
struct reading {
	const char *label;
	struct archive *a;
	struct unpack *u;
	int hash;
	struct rep_manifest *m;
	struct source *s;
	unsigned long entries;    /* read so far */
	struct rep_manifest_app *app; /* the one being read, or NULL */
	char last_app[REP_NAME_MAX + 1];
	char *last;               /* the previous entry's path in it */
	struct rep_strset dirs;   /* its directories, without the '/' */
	int64_t files, bytes, ndirs, max_dirs;
	struct rep_fold fold;
	struct sha256_ctx tree;   /* of its entries (rep_manifest_app.entries) */
};

/* One entry of the application being read, into the digest of its
 * entries: what tar makes of it, field by field, each path and link
 * target ending in a NUL, which neither holds. */
static void fold_entry(struct reading *r, const struct rep_form_entry *fe)
{
	char head[96];
	int n = snprintf(head, sizeof head, "%c %o %lld %lld ", fe->type, (unsigned)fe->mode,
	    (long long)fe->size, (long long)fe->mtime);

	sha256_update(&r->tree, (size_t)n, (const uint8_t *)head);
	sha256_update(&r->tree, strlen(fe->path) + 1, (const uint8_t *)fe->path);
	if (fe->link)
		sha256_update(&r->tree, strlen(fe->link) + 1, (const uint8_t *)fe->link);
	sha256_update(&r->tree, 1, (const uint8_t *)"\n");
}

static _Noreturn void form_die(struct reading *r, const char *path, const char *what)
{
	rep_die("%s: %s: %s (not in the form rep-tar writes)", r->label, path, what);
}

/* The application read so far is complete: compared with its row. */
static void end_app(struct reading *r)
{
	struct rep_manifest_app *s = r->app;
	struct rep_sum sum;

	if (!s)
		return;
	rep_fold_end(&r->fold, &sum);
	sha256_digest(&r->tree, sizeof s->entries, s->entries);
	if (r->ndirs != s->dirs && s->dirs >= 0)
		rep_die("%s: %s: %lld directories, %lld in %s", r->label, s->app.name,
		    (long long)r->ndirs, (long long)s->dirs, MANIFEST);
	if (r->hash && (sum.files != s->app.files || sum.bytes != s->app.bytes ||
	    strcmp(sum.checksum, s->app.checksum) != 0))
		rep_die("%s: %s: content does not match the manifest", r->label, s->app.name);
	if (r->files != s->app.files || r->bytes != s->app.bytes)
		rep_die("%s: %s: content does not match the manifest", r->label, s->app.name);
	rep_strset_free(&r->dirs);
	free(r->last);
	r->last = NULL;
	r->app = NULL;
}

/* The entry libarchive returned is the one the form check passed, with
 * the same type, mode and size. Its path and link target are taken from
 * the headers as they are: libarchive converts pax names to the locale's
 * charset, normalising decomposed UTF-8 to NFC, where GNU tar keeps the
 * bytes; the check, the checksum and the unpacking all use these. */
static void same_view(struct reading *r, struct archive_entry *ae, struct rep_form_entry *fe)
{
	const char *path = archive_entry_pathname(ae);
	int type = (int)archive_entry_filetype(ae);

	if (!rep_form_next(r->s->form, fe))
		form_die(r, path ? path : "(none)", "an entry read two ways");
	int ftype = fe->type == '0' ? AE_IFREG : fe->type == '5' ? AE_IFDIR : AE_IFLNK;
	if (type != ftype || (int)archive_entry_perm(ae) != fe->mode || archive_entry_hardlink(ae) ||
	    archive_entry_size(ae) != (fe->type == '0' ? fe->size : 0) ||
	    (fe->link != NULL) != (archive_entry_symlink(ae) != NULL))
		form_die(r, fe->path, "an entry read two ways");
	archive_entry_copy_pathname(ae, fe->path);
	if (fe->link)
		archive_entry_copy_symlink(ae, fe->link);
}

/* No more files, bytes and directories than the manifest lists, so that
 * a bomb (or any archive that lies) stops at once. */
static void within_manifest(struct reading *r, int type, int64_t size, const char *path)
{
	const struct rep_manifest_app *s = r->app;

	if (type == AE_IFDIR) {
		if (++r->ndirs > r->max_dirs)
			rep_die("%s: %s: more directories than %s lists for %s", r->label, path,
			    MANIFEST, s->app.name);
		return;
	}
	if (++r->files > s->app.files)
		rep_die("%s: %s: more files than %s lists for %s", r->label, path, MANIFEST, s->app.name);
	if (type == AE_IFREG && (size < 0 || size > s->app.bytes - r->bytes))
		rep_die("%s: %s: more bytes than %s lists for %s", r->label, path, MANIFEST, s->app.name);
	if (type == AE_IFREG)
		r->bytes += size;
}

/* The directory of an application, which opens it: the next in name
 * order, listed in the manifest to be added. */
static void begin_app(struct reading *r, const char *name, const char *path, int type,
    const struct rep_form_entry *fe)
{
	long i = rep_strset_find(&r->m->apps, name);
	if (i < 0)
		rep_die("%s: %s: application not in the manifest", r->label, path);
	if (r->last_app[0] && strcmp(name, r->last_app) <= 0)
		form_die(r, path, "out of order");
	end_app(r);
	struct rep_manifest_app *s = r->m->apps.val[i];
	if (s->remove)
		rep_die("%s: %s: %s marks %s as removed", r->label, path, MANIFEST, name);
	if (type != AE_IFDIR || path[strlen(TOP) + 1 + strlen(name)] != '/' ||
	    path[strlen(TOP) + 2 + strlen(name)])
		form_die(r, path, "before the directory of its application");
	if (s->offset >= 0 && s->offset != fe->offset)
		rep_die("%s: %s: at offset %lld, not %lld as %s says", r->label, path,
		    (long long)fe->offset, (long long)s->offset, MANIFEST);
	snprintf(r->last_app, sizeof r->last_app, "%s", name);
	s->seen = 1;
	s->at = fe->offset;
	r->app = s;
	r->files = r->bytes = r->ndirs = 0;
	/* a version 1 manifest does not count directories: as many as an
	 * application of that many files could sensibly have */
	r->max_dirs = s->dirs >= 0 ? s->dirs : 2 * s->app.files + 256;
	rep_fold_init(&r->fold);
	sha256_init(&r->tree);
	fold_entry(r, fe);
}

/* One entry, refused unless it is safe, in its place and in the
 * manifest, then (if unpacking) written: nothing reaches the disk
 * before it has been checked. */
static void check_entry(struct reading *r, struct archive_entry *ae)
{
	struct rep_form_entry fe;
	same_view(r, ae, &fe);
	const char *path = fe.path, *label = r->label;
	char name[REP_NAME_MAX + 1];
	int type = (int)archive_entry_filetype(ae);
	struct unpack *u = r->u;

	if (bad_path(path))
		rep_die("%s: %s: unsafe path", label, path);
	if (long_name(path))
		rep_die("%s: %s: file name too long", label, path);
	if (strlen(path) > REP_PATH_MAX)
		rep_die("%s: %s: path too long (an archive holds at most %d bytes)", label, path,
		    REP_PATH_MAX);
	size_t top = strlen(TOP);
	if (strncmp(path, TOP, top) != 0 || (path[top] != '/' && path[top] != 0))
		rep_die("%s: %s: outside %s/", label, path, TOP);
	const char *p = path + top + (path[top] == '/');
	size_t n = strcspn(p, "/");
	if (++r->entries == 2) {
		if (n != 0 || type != AE_IFDIR)
			form_die(r, path, "not " TOP "/ after " MANIFEST);
		disk_entry(u, NULL, ae, NULL);
		rep_form_entry_free(&fe);
		return;
	}
	if (n == 0)
		form_die(r, path, TOP "/ twice");
	snprintf(name, sizeof name, "%.*s", (int)(n > REP_NAME_MAX ? REP_NAME_MAX + 1 : n), p);
	if (n > REP_NAME_MAX || !rep_name_valid(name))
		rep_die("%s: %s: application not in the manifest", label, path);
	const char *rel = p + n + (p[n] == '/');
	if (!r->app || strcmp(r->app->app.name, name) != 0 || !*rel) {
		begin_app(r, name, path, type, &fe);
		archive_entry_set_perm(ae, 0755);
		disk_entry(u, NULL, ae, NULL);
		rep_form_entry_free(&fe);
		return;
	}
	if (type == AE_IFLNK) {
		for (const unsigned char *c = (const unsigned char *)fe.link; *c; c++)
			if (*c < 0x20 || *c == 0x7f)
				rep_die("%s: %s: a symlink target with a control character", label, path);
		if (!rep_link_inside(rel, fe.link))
			rep_die("%s: %s: symlink points outside its application", label, path);
		if (strlen(fe.link) >= PATH_MAX)
			rep_die("%s: %s: symlink target too long", label, path);
	}
	char *key = rep_xstrdup(rel);
	size_t len = strlen(key);
	if (key[len - 1] == '/')
		key[len - 1] = 0;
	/* One tree, in rep-tar's order: each path after the one before, so
	 * none twice, and below a directory listed before it. */
	if (r->last && strcmp(key, r->last) == 0)
		rep_die("%s: %s: entry twice", label, path);
	if (r->last && strcmp(key, r->last) < 0)
		form_die(r, path, "out of order");
	char *slash = strrchr(key, '/');
	if (slash) {
		*slash = 0;
		if (rep_strset_find(&r->dirs, key) < 0)
			form_die(r, path, "below no directory of the archive");
		*slash = '/';
	}
	free(r->last);
	r->last = key;
	fold_entry(r, &fe);
	if (type == AE_IFDIR) {
		within_manifest(r, type, 0, path);
		rep_strset_add(&r->dirs, key, NULL);
		archive_entry_set_perm(ae, 0755);
		disk_entry(u, name, ae, rel);
		rep_form_entry_free(&fe);
		return;
	}
	struct rep_entry e = { 0 };
	if (type == AE_IFLNK) {
		const char *target = fe.link;
		within_manifest(r, type, 0, path);
		struct sha256_ctx c;
		sha256_init(&c);
		sha256_update(&c, strlen(target), (const uint8_t *)target);
		sha256_digest(&c, sizeof e.digest, e.digest);
		rep_fold_add(&r->fold, 'l', key, e.digest, 0);
		disk_entry(u, name, ae, rel);
		rep_form_entry_free(&fe);
		return;
	}
	within_manifest(r, type, fe.size, path);
	int exec = fe.mode & 0100;
	/* the application's hooks, which rep-push runs on the targets */
	for (unsigned b = 0; b < 4; b++)
		if (strncmp(key, ".rep/", 5) == 0 && strcmp(key + 5, rep_hook_phases[b]) == 0) {
			r->app->hooks |= 1u << b;
			if (!exec)
				r->app->hooks_noexec |= 1u << b;
		}
	archive_entry_set_perm(ae, exec ? 0755 : 0644);
	struct archive *w = NULL;
	char *shown = rep_xstrdup(path);
	if (u) {
		w = writer_for(u, name, ae, rel);
		disk_check(w, archive_write_header(w, ae), label, shown);
	}
	hash_data(r->a, w, r->hash, label, shown, &e);
	if (e.size != fe.size)
		rep_die("%s: %s: %lld bytes of data, %lld in its header", label, shown,
		    (long long)e.size, (long long)fe.size);
	rep_fold_add(&r->fold, exec ? 'x' : 'f', r->last, e.digest, e.size);
	free(shown);
	rep_form_entry_free(&fe);
}

void rep_manifest_free(struct rep_manifest *m)
{
	rep_strset_free(&m->apps);   /* and the records, its values */
	memset(m, 0, sizeof *m);
}

static void read_manifest(struct reading *r, struct archive_entry *ae)
{
	struct sha256_ctx c;
	struct rep_form_entry fe;
	struct rep_manifest *m = r->m;
	int64_t size = archive_entry_size(ae);
	const char *path = r->label;

	same_view(r, ae, &fe);
	if (strcmp(fe.path, MANIFEST) != 0 || fe.type != '0' || fe.mode != 0644)
		rep_die("%s: first entry is not %s", path, MANIFEST);
	rep_form_entry_free(&fe);
	r->entries = 1;
	char *text = read_whole(r->a, path, size);
	sha256_init(&c);
	sha256_update(&c, (size_t)size, (const uint8_t *)text);
	sha256_hex(&c, m->manifest_sha256);
	if (r->u) {
		struct archive *w = r->u->outer;
		disk_check(w, archive_write_header(w, ae), path, MANIFEST);
		if (size && archive_write_data(w, text, (size_t)size) != (la_ssize_t)size)
			disk_check(w, ARCHIVE_FATAL, path, MANIFEST);
		disk_check(w, archive_write_finish_entry(w), path, MANIFEST);
	}
	rep_manifest_parse(path, text, m);
	free(text);
	FUZZ_LEFT(text, NULL);
}

/* Reads an archive, every entry checked before it is written to disk (if
 * u); with hash, every application against its manifest as well. */
static void read_archive(const char *file, const char *path, const struct rep_feed *feed, struct unpack *u,
    int hash,
    struct rep_manifest *m)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	struct source s;
	struct reading r = { .label = path, .a = a, .u = u, .hash = hash, .m = m, .s = &s };
	int rc;

	if (!a)
		rep_die("out of memory");
	FUZZ_LEFT(a, a);
	memset(m, 0, sizeof *m);
	/* pax paths are UTF-8, or binary (hdrcharset): libarchive converts
	 * them to the locale's charset, which in the C locale fails for any
	 * non-ASCII name; in C.UTF-8 the bytes stay as they are */
	static locale_t utf8;
	if (!utf8 && !(utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0)))
		rep_die("the C.UTF-8 locale is missing");
	locale_t was = uselocale(utf8);
	/* the check decides; an unpacking reads what it took (its SHA-256
	 * compared at the end) */
	source_open(&s, file, path, feed, u == NULL);
	if (u && fchdir(u->top) < 0)
		rep_die_errno("%s", path);
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open(a, &s, NULL, source_read, NULL) != ARCHIVE_OK)
		rep_die("%s: %s", path, read_error(a));
	rc = archive_read_next_header(a, &ae);
	if (rc != ARCHIVE_OK)
		rep_die("%s: %s", path, rc == ARCHIVE_EOF ? "empty archive" : read_error(a));
	if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_TAR)
		rep_die("%s: not a gzip-compressed tar archive", path);
	read_manifest(&r, ae);
	while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK)
		check_entry(&r, ae);
	if (rc != ARCHIVE_EOF)
		rep_die("%s: %s", path, read_error(a));
	if (r.entries < 2)
		rep_die("%s: no %s/ after %s (not in the form rep-tar writes)", path, TOP, MANIFEST);
	end_app(&r);
	/* After the tar's end: zero blocks to the end of the gzip data, and
	 * nothing else (tar would not unpack it, so it was never checked);
	 * the form check sees every byte. */
	const void *rest;
	la_ssize_t n;
	int64_t padding = 0;
	while ((n = source_read(a, &s, &rest)) > 0)
		if ((padding += n) > 1024 * 1024)
			rep_die("%s: more than 1 MiB of padding after the end of the archive", path);
	if (rep_form_end(s.form) < 0)
		rep_die("%s: %s", path, s.form->err);
	m->tar_size = s.form->pos;
	m->tar_end = s.form->pos - s.form->zeros;
	if (s.form->n) {
		struct rep_form_entry fe;
		rep_form_next(s.form, &fe);
		form_die(&r, fe.path, "an entry read two ways");
	}
	archive_read_free(a);
	source_close(&s, m->sha256);
	uselocale(was);
	FUZZ_LEFT(a, NULL);
	FUZZ_LEFT(g, NULL);
	for (size_t i = 0; i < m->apps.n; i++) {
		struct rep_manifest_app *app = m->apps.val[i];
		if (!app->seen && !app->remove)
			rep_die("%s: %s: listed in %s, not in the archive", path, app->app.name, MANIFEST);
	}
}

/* Checks an archive against its manifest, filling m. Dies on the first
 * problem. */
void rep_archive_check(const char *path, struct rep_manifest *m)
{
	read_archive(path, path, NULL, NULL, 1, m);
}

/* The same, of the file at file, named path in messages. */
void rep_archive_check_as(const char *file, const char *path, struct rep_manifest *m)
{
	read_archive(file, path, NULL, NULL, 1, m);
}

/* Unpacks an archive that rep_archive_check() passed into the directory
 * dirfd, which becomes the current directory once path is open: read
 * from the file, or from a feed of rep_archive_tee() (path then only
 * names it). Every entry is checked for safety again before it is
 * written, and the file's SHA-256 must be the one checked, so its
 * contents need no second hashing. */
void rep_archive_unpack_from(const struct rep_feed *feed, const char *path, int dirfd,
    const struct rep_manifest *checked)
{
	struct rep_manifest m;
	struct unpack u = { .top = dirfd, .label = path };

	u.outer = writer_new();
	read_archive(path, path, feed, &u, 0, &m);
	leave_app(&u);
	writer_close(&u.outer, path, TOP);
	if (strcmp(m.sha256, checked->sha256) != 0)
		rep_die("%s: changed since it was checked", path);
	rep_manifest_free(&m);
}

void rep_archive_unpack(const char *path, int dirfd, const struct rep_manifest *checked)
{
	rep_archive_unpack_from(NULL, path, dirfd, checked);
}
