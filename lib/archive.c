/* Archives: writing rep's tar.gz with libarchive over the parallel gzip
 * of gz.c, reading one back to check it against its manifest or to
 * unpack it, and inflating one once for several unpackings. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

/* Whether a symlink at rel (inside an application) pointing to target
 * stays inside the application, on the names alone. Going up is allowed
 * only at the start of the target: then the ".." walk real parent
 * directories, and every later component goes down, so no chain of such
 * links can climb out (one to "." followed by "x/../.." could). The
 * depth of the link's directory counts names, not slashes: "./x", "a//x"
 * and "x/" are no deeper than "x" (make fuzz found that). */
int rep_link_inside(const char *rel, const char *target)
{
	int depth = -1, ups = 0, down = 0;

	if (target[0] == '/' || target[0] == 0)
		return 0;
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		if (n > 0 && !(n == 1 && p[0] == '.'))
			depth++;
		p += n;
		p += *p == '/';
	}
	for (const char *p = target; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (down)
				return 0;
			ups++;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			down++;
		}
		p += n;
		p += *p == '/';
	}
	return ups <= depth;
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
static struct gunzip *gunzip_open(const char *path, char err[512])
{
	struct gunzip *g = calloc(1, sizeof *g);
	struct stat st;

	if (!g)
		rep_die("out of memory");
	g->path = path;
	sha256_init(&g->raw);
	if (!(g->fp = fopen(path, "rb")) || fstat(fileno(g->fp), &st) < 0) {
		snprintf(err, 512, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(err, 512, "%s: not a regular file", path);
	} else {
		int c0 = getc(g->fp), c1 = getc(g->fp);
		if (ferror(g->fp))
			snprintf(err, 512, "%s: %s", path, strerror(errno));
		else if (c0 != 0x1f || c1 != 0x8b)
			snprintf(err, 512, "%s: not a gzip-compressed tar archive", path);
		else
			err[0] = 0;
	}
	if (err[0]) {
		if (g->fp)
			fclose(g->fp);
		free(g);
		return NULL;
	}
	FUZZ_LEFT(g, g);
	rewind(g->fp);
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
	inflateEnd(&g->z);
	fclose(g->fp);
	for (int i = 0; i < GZ_BUFS; i++)
		free(g->out[i]);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g);
}

/* Once everything was read: the SHA-256 of the file's bytes. */
static void gunzip_close(struct gunzip *g, char sha[65])
{
	pthread_join(g->tid, NULL);
	sha256_hex(&g->raw, sha);
	gunzip_free(g);
}

/* Before the end: the thread is told to stop, and waited for. */
static void gunzip_stop(struct gunzip *g)
{
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
	if (g && g->tid) {
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
	if (n > 0) {
		s->last = *buf;
		s->len = (size_t)n;
		s->delivered += n;
	}
	return n;
}

static void source_open(struct source *s, const char *path, const struct rep_feed *feed)
{
	char err[512];

	memset(s, 0, sizeof *s);
	s->path = path;
	s->feed = feed;
	if (feed)
		s->buf = rep_xmalloc(GZ_OUT);
	else if (!(s->g = gunzip_open(path, err)))
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
	struct gunzip *g = gunzip_open(path, err);
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
 * against it; an application's checksum is folded from its entries. */
struct app_seen {
	struct rep_app want;      /* first, so a pointer to it is a struct rep_app */
	struct rep_entry *e;
	size_t n, cap;
	int64_t bytes;            /* of its regular files so far */
	/* paths below the application, without a trailing '/' */
	struct rep_strset paths;  /* every entry */
	struct rep_strset links;  /* its symlinks */
	struct rep_strset dirs;   /* its directories, and those entries lie below */
};

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

/* MANIFEST text into m->apps: name -> struct rep_app, in manifest order. */
void rep_manifest_parse(const char *label, char *text, struct rep_manifest *m)
{
	unsigned long lineno = 0;

	for (char *line = text, *next; line; line = next) {
		char *f[5] = { 0 };
		int nf = 0;
		if ((next = strchr(line, '\n')))
			*next++ = 0;
		lineno++;
		if (!*line || *line == '#')
			continue;
		for (char *p = line; nf < 5 && p; nf++) {
			f[nf] = p;
			if ((p = strchr(p, '\t')))
				*p++ = 0;
		}
		int64_t files, bytes;
		if (nf != 4 || !rep_name_valid(f[0]) || !manifest_count(f[1], &files) ||
		    !manifest_count(f[2], &bytes) || strlen(f[3]) != 64 ||
		    strspn(f[3], "0123456789abcdef") != 64 ||
		    __builtin_add_overflow(m->files, files, &m->files))
			rep_die("%s: %s:%lu: not a manifest record", label, MANIFEST, lineno);
		if (rep_strset_find(&m->apps, f[0]) >= 0)
			rep_die("%s: %s: %s listed twice", label, MANIFEST, f[0]);
		struct app_seen *s = calloc(1, sizeof *s);
		if (!s)
			rep_die("out of memory");
		snprintf(s->want.name, sizeof s->want.name, "%s", f[0]);
		s->want.files = files;
		s->want.bytes = bytes;
		memcpy(s->want.checksum, f[3], 65);
		rep_strset_add(&m->apps, f[0], s);
	}
}

static char *read_whole(struct archive *a, const char *label, int64_t size)
{
	if (size < 0 || size > 64 * 1024 * 1024)
		rep_die("%s: %s: too large", label, MANIFEST);
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

static void add_seen(struct app_seen *s, const char *rel, char type)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 32;
		s->e = rep_xrealloc(s->e, s->cap * sizeof *s->e);
	}
	memset(&s->e[s->n], 0, sizeof *s->e);
	s->e[s->n].path = rep_xstrdup(rel);
	s->e[s->n].type = type;
	s->n++;
}

/* No more files and bytes than the manifest lists, so that a bomb (or
 * any archive that lies) stops at once rather than once all is read. */
static void within_manifest(const struct app_seen *s, struct archive_entry *ae,
    const char *label, const char *path)
{
	if ((int64_t)s->n >= s->want.files)
		rep_die("%s: %s: more files than %s lists for %s", label, path, MANIFEST, s->want.name);
	if (archive_entry_filetype(ae) == AE_IFREG && (archive_entry_size(ae) < 0 ||
	    archive_entry_size(ae) > s->want.bytes - s->bytes))
		rep_die("%s: %s: more bytes than %s lists for %s", label, path, MANIFEST, s->want.name);
}

/* One entry, refused unless it is safe and in the manifest, then (if
 * disk) written: nothing reaches the disk before it has been checked. */
static void check_entry(struct archive *a, struct archive_entry *ae, struct unpack *u,
    int hash, const char *label, struct rep_manifest *m)
{
	const char *path = archive_entry_pathname(ae);
	char name[REP_NAME_MAX + 1];
	int type = (int)archive_entry_filetype(ae);

	if (!path || bad_path(path))
		rep_die("%s: %s: unsafe path", label, path ? path : "(none)");
	if (long_name(path))
		rep_die("%s: %s: file name too long", label, path);
	if (archive_entry_hardlink(ae))
		rep_die("%s: %s: hard links are not allowed", label, path);
	if (type != AE_IFDIR && type != AE_IFREG && type != AE_IFLNK)
		rep_die("%s: %s: not a regular file, directory or symlink", label, path);
	size_t top = strlen(TOP);
	if (strncmp(path, TOP, top) != 0 || (path[top] != '/' && path[top] != 0))
		rep_die("%s: %s: outside %s/", label, path, TOP);
	const char *p = path + top + (path[top] == '/');
	size_t n = strcspn(p, "/");
	if (n == 0) {
		if (type != AE_IFDIR)
			rep_die("%s: %s: not a directory", label, path);
		disk_entry(u, NULL, ae, NULL);
		return;
	}
	snprintf(name, sizeof name, "%.*s", (int)(n > REP_NAME_MAX ? REP_NAME_MAX + 1 : n), p);
	long i = rep_strset_find(&m->apps, name);
	if (n > REP_NAME_MAX || i < 0)
		rep_die("%s: %s: application not in the manifest", label, path);
	struct app_seen *s = m->apps.val[i];
	const char *rel = p + n + (p[n] == '/');
	if (!*rel) {
		if (type != AE_IFDIR)
			rep_die("%s: %s: not a directory", label, path);
		disk_entry(u, NULL, ae, NULL);
		return;
	}
	char *key = rep_xstrdup(rel);
	size_t len = strlen(key);
	if (key[len - 1] == '/')
		key[len - 1] = 0;
	/* One tree: an entry's parents are directories, and each path is
	 * one entry. Unpacking, which overwrites nothing, would otherwise
	 * fail half-way, or skip an entry and leave another tree. */
	for (char *slash = key; (slash = strchr(slash, '/')); *slash++ = '/') {
		*slash = 0;
		if (rep_strset_find(&s->links, key) >= 0)
			rep_die("%s: %s: path goes through a symlink", label, path);
		if (rep_strset_add(&s->dirs, key, NULL) && rep_strset_find(&s->paths, key) >= 0)
			rep_die("%s: %s: path goes through a file", label, path);
	}
	if (!rep_strset_add(&s->paths, key, NULL))
		rep_die("%s: %s: entry twice", label, path);
	if (type == AE_IFDIR)
		rep_strset_add(&s->dirs, key, NULL);
	else if (rep_strset_find(&s->dirs, key) >= 0)
		rep_die("%s: %s: not a directory, but entries lie below it", label, path);
	if (type == AE_IFLNK)
		rep_strset_add(&s->links, key, NULL);
	free(key);
	if (type == AE_IFDIR) {
		disk_entry(u, name, ae, rel);
		return;
	}
	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(ae);
		if (!target || !rep_link_inside(rel, target))
			rep_die("%s: %s: symlink points outside its application", label, path);
		if (strlen(target) >= PATH_MAX)
			rep_die("%s: %s: symlink target too long", label, path);
		if (rel[strlen(rel) - 1] == '/')   /* unpacked, it would lose the '/' */
			rep_die("%s: %s: not a directory", label, path);
		within_manifest(s, ae, label, path);
		add_seen(s, rel, 'l');
		struct rep_entry *e = &s->e[s->n - 1];
		struct sha256_ctx c;
		sha256_init(&c);
		sha256_update(&c, strlen(target), (const uint8_t *)target);
		sha256_digest(&c, sizeof e->digest, e->digest);
		disk_entry(u, name, ae, rel);
		return;
	}
	within_manifest(s, ae, label, path);
	add_seen(s, rel, archive_entry_perm(ae) & 0100 ? 'x' : 'f');
	struct rep_entry *e = &s->e[s->n - 1];
	struct archive *w = NULL;
	char *shown = rep_xstrdup(path);
	if (u) {
		w = writer_for(u, name, ae, rel);
		disk_check(w, archive_write_header(w, ae), label, shown);
	}
	hash_data(a, w, hash, label, shown, e);
	s->bytes += e->size;
	free(shown);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct rep_entry *)a)->path, ((const struct rep_entry *)b)->path);
}

static void free_seen(struct app_seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].path);
	free(s->e);
	s->e = NULL;
	s->n = s->cap = 0;
	rep_strset_free(&s->paths);
	rep_strset_free(&s->links);
	rep_strset_free(&s->dirs);
}

void rep_manifest_free(struct rep_manifest *m)
{
	for (size_t i = 0; i < m->apps.n; i++)
		free_seen(m->apps.val[i]);
	rep_strset_free(&m->apps);
	memset(m, 0, sizeof *m);
}

static void compare(const char *label, struct app_seen *s)
{
	struct rep_fold f;
	struct rep_sum sum;

	if (s->n)
		qsort(s->e, s->n, sizeof *s->e, by_path);
	rep_fold_init(&f);
	for (size_t i = 0; i < s->n; i++)   /* no path twice: check_entry() */
		rep_fold_add(&f, s->e[i].type, s->e[i].path, s->e[i].digest, s->e[i].size);
	free_seen(s);
	rep_fold_end(&f, &sum);
	if (sum.files != s->want.files || sum.bytes != s->want.bytes ||
	    strcmp(sum.checksum, s->want.checksum) != 0)
		rep_die("%s: %s: content does not match the manifest", label, s->want.name);
}

static void read_manifest(struct archive *a, struct archive_entry *ae, struct unpack *u,
    const char *path, struct rep_manifest *m)
{
	struct sha256_ctx c;
	int64_t size = archive_entry_size(ae);

	if (strcmp(archive_entry_pathname(ae), MANIFEST) != 0 || archive_entry_filetype(ae) != AE_IFREG)
		rep_die("%s: first entry is not %s", path, MANIFEST);
	char *text = read_whole(a, path, size);
	sha256_init(&c);
	sha256_update(&c, (size_t)size, (const uint8_t *)text);
	sha256_hex(&c, m->manifest_sha256);
	if (u) {
		struct archive *w = u->outer;
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
 * disk); with hash, every application against its manifest as well. */
static void read_archive(const char *path, const struct rep_feed *feed, struct unpack *u, int hash,
    struct rep_manifest *m)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	struct source s;
	int rc;

	if (!a)
		rep_die("out of memory");
	FUZZ_LEFT(a, a);
	memset(m, 0, sizeof *m);
	source_open(&s, path, feed);
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
	read_manifest(a, ae, u, path, m);
	while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK)
		check_entry(a, ae, u, hash, path, m);
	if (rc != ARCHIVE_EOF)
		rep_die("%s: %s", path, read_error(a));
	/* After the tar's end: zero padding to the end of the gzip data, and
	 * nothing else (tar would not unpack it, so it was never checked).
	 * First what libarchive read ahead and left, at the end of the last
	 * buffer handed out (it reads ahead no more than one record). */
	const void *rest;
	la_ssize_t n;
	int64_t padding = s.delivered - archive_filter_bytes(a, 0);
	if (s.last) {
		if (padding < 0 || (size_t)padding > s.len)
			rep_die("%s: cannot tell where the archive ends", path);
		const unsigned char *tail = s.last + s.len - padding;
		for (int64_t i = 0; i < padding; i++)
			if (tail[i])
				rep_die("%s: data after the end of the archive", path);
	}
	while ((n = source_read(a, &s, &rest)) > 0) {
		for (la_ssize_t i = 0; i < n; i++)
			if (((const unsigned char *)rest)[i])
				rep_die("%s: data after the end of the archive", path);
		if ((padding += n) > 1024 * 1024)
			rep_die("%s: more than 1 MiB of padding after the end of the archive", path);
	}
	archive_read_free(a);
	source_close(&s, m->sha256);
	FUZZ_LEFT(a, NULL);
	FUZZ_LEFT(g, NULL);
	for (size_t i = 0; i < m->apps.n; i++)
		if (hash)
			compare(path, m->apps.val[i]);
		else
			free_seen(m->apps.val[i]);
}

/* Checks an archive against its manifest, filling m. Dies on the first
 * problem. */
void rep_archive_check(const char *path, struct rep_manifest *m)
{
	read_archive(path, NULL, NULL, 1, m);
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
	read_archive(path, feed, &u, 0, &m);
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
