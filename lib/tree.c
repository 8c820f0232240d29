/* Application trees: listing, walking and the checksum of rep(7).
 *
 * An application is walked (its entries listed with their stat data),
 * its files hashed, and its sorted entries folded into its checksum;
 * the work is spread over every core. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rep.h"

#define READ_BUF (256 * 1024)
#define DIRBUF (32 * 1024)

struct pool;
static void cache_drop(struct rep_hash_job *job);

struct tree {
	const char *name;
	struct rep_hash_job *job;
	struct rep_problems *bad; /* the job's or the listing's */
	struct rep_entry *e;
	size_t n, cap;
	int with_dirs;
	struct pool *pool;       /* set: hash files as the walk meets them */
	unsigned char *buf;
	char *dirbuf;            /* getdents64 */
	struct rep_ring *ring;   /* the worker's, if it has one */
	struct queued *q;        /* with the ring: what waits for its batch */
	atomic_int finished;      /* hashed and folded: its job is complete */
	/* directory rows (see walk_known): whether they may stand for a
	 * listing (not with --rehash); the rows of this walk */
	int trust;
	struct dir_row *dirs;
	size_t ndirs, capdirs;
};

/* A directory, with the stat data of the directory listed, taken before
 * it was read: its cache row (path "" for the application's own, else
 * its path and a '/'). Its digest: DIR_PLAIN when the listing held only
 * regular files and directories, each as rep takes it, then what it
 * held (struct listing, little-endian: so that a row of it that went
 * missing is noticed); else DIR_OTHER. Only a DIR_PLAIN row may stand
 * for a listing (trusted_dir). */
struct dir_row {
	char *path;
	struct rep_fstat st;
	unsigned char digest[32];
};
enum { DIR_PLAIN = 'D', DIR_OTHER = 'd' };

/* The entries of a listing: how many, and the sum of a hash of each
 * one's name and kind ('f' or 'd'), which no order changes. */
struct listing {
	uint64_t n, sum;
};

static void listing_add(struct listing *l, const char *name, size_t len, char kind)
{
	uint64_t h = 14695981039346656037ULL;          /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
	h = (h ^ (unsigned char)kind) * 1099511628211ULL;
	l->n++;
	l->sum += h;
}

static void listing_digest(const struct listing *l, int plain, unsigned char d[32])
{
	memset(d, 0, 32);
	d[0] = plain ? DIR_PLAIN : DIR_OTHER;
	for (int i = 0; plain && i < 8; i++) {
		d[1 + i] = (unsigned char)(l->n >> 8 * i);
		d[9 + i] = (unsigned char)(l->sum >> 8 * i);
	}
}

/* A worker's, not a tree's: a tree stays small, as there is one for
 * every application being hashed. */
struct queued {
	struct {                 /* each file queued in the ring */
		size_t entry;
		int dirfd;
		size_t len;      /* of the directory's part of its path */
	} slot[REP_RING_SLOTS];
	int done[REP_RING_SLOTS]; /* directories walked, to close after the batch */
	int ndone;
};

struct file_job {
	const char *app;
	struct rep_entry *e;
};

struct pool {
	int appsfd, flags;
	int64_t cache_time;   /* see use_cache */
	struct tree **trees;  /* a block of REP_HASH_BATCH per batch loaded and not passed */
	size_t ntrees;
	atomic_size_t next_tree;
	atomic_size_t loaded; /* jobs [0, loaded) have their cache rows */
	pthread_mutex_t mu;   /* with cv: a worker waits for a load */
	pthread_cond_t cv;
	struct file_job *files;
	size_t nfiles, total;
	atomic_size_t next, done;
	atomic_llong bytes;
	rep_hashed_fn *each;  /* called for jobs in order, by the calling thread */
	void *arg;
	size_t passed;        /* jobs finished in order, handed to each */
	pthread_t caller;
};

/* At most this many jobs are loaded and not finished. */
enum { AHEAD = 3 * REP_HASH_BATCH };

static struct tree *tree_of(struct pool *p, size_t i)
{
	return &p->trees[i / REP_HASH_BATCH][i % REP_HASH_BATCH];
}

/* Hands each finished job to p->each, in order, up to the first one not
 * finished; a batch's trees go with its last job. Only the calling
 * thread does this. */
static void pass_finished(struct pool *p)
{
	while (p->passed < atomic_load_explicit(&p->loaded, memory_order_acquire) &&
	    atomic_load_explicit(&tree_of(p, p->passed)->finished, memory_order_acquire)) {
		if (p->each)
			p->each(p->passed, p->arg);
		p->passed++;
		if (p->passed % REP_HASH_BATCH == 0 || p->passed == p->ntrees) {
			free(p->trees[(p->passed - 1) / REP_HASH_BATCH]);
			p->trees[(p->passed - 1) / REP_HASH_BATCH] = NULL;
		}
	}
}

void rep_hex(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = 0;
}

/* The SHA-256 of n bytes at buf, in hex. */
void rep_sha256_hex(const void *buf, size_t n, char out[65])
{
	struct sha256_ctx c;
	unsigned char d[SHA256_DIGEST_SIZE];

	sha256_init(&c);
	sha256_update(&c, n, buf);
	sha256_digest(&c, sizeof d, d);
	rep_hex(d, sizeof d, out);
}

int rep_nthreads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 16 ? 16 : (int)n;
}

int rep_open_apps(void)
{
	int fd = open(rep_opt.apps_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		rep_die_errno("%s", rep_opt.apps);
	return fd;
}

int rep_app_dir_exists(int appsfd, const char *name)
{
	struct stat st;
	return fstatat(appsfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Why name under the applications directory is not an application, in
 * words for "NAME: WHY in APPS"; NULL when it is a directory. */
const char *rep_app_dir_problem(int appsfd, const char *name)
{
	struct stat st;

	if (fstatat(appsfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? "no such directory" : strerror(errno);
	if (S_ISDIR(st.st_mode))
		return NULL;
	if (S_ISLNK(st.st_mode))
		return "a symbolic link, not a directory (not followed)";
	return "not a directory";
}

/* d_type spares a stat per application; only DT_UNKNOWN needs one. */
static int is_dir(int dirfd, const struct dirent *de)
{
	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return rep_app_dir_exists(dirfd, de->d_name);
}

/* Sorts the entries of the applications directory into valid
 * application directories and the rest; hidden entries are skipped. */
void rep_list_apps(int appsfd, struct rep_strset *valid, struct rep_strset *invalid)
{
	int fd = openat(appsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (!d)
		rep_die_errno("%s", rep_opt.apps);
	while ((errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (rep_name_valid(de->d_name) && is_dir(appsfd, de))
			rep_strset_add(valid, de->d_name, NULL);
		else
			rep_strset_add(invalid, de->d_name, NULL);
	}
	if (errno)
		rep_die_errno("%s", rep_opt.apps);
	closedir(d);
}

static struct rep_entry *add_entry(struct tree *t, const char *path, char type)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 32;
		t->e = rep_xrealloc(t->e, t->cap * sizeof *t->e);
	}
	struct rep_entry *e = &t->e[t->n++];
	memset(e, 0, sizeof *e);
	e->path = rep_xstrdup(path);
	e->type = type;
	return e;
}

/* Nanoseconds, saturated: a time past 2262 or before 1678 (which some
 * file systems hold) would overflow them. */
static int64_t ns(const struct timespec *t)
{
	int64_t v;

	if (__builtin_mul_overflow((int64_t)t->tv_sec, 1000000000LL, &v) ||
	    __builtin_add_overflow(v, (int64_t)t->tv_nsec, &v))
		return t->tv_sec < 0 ? INT64_MIN : INT64_MAX;
	return v;
}

static struct rep_fstat fstat_of(const struct stat *st)
{
	return (struct rep_fstat){
		st->st_size, ns(&st->st_mtim), ns(&st->st_ctim),
		(int64_t)st->st_ino, (int64_t)st->st_dev, st->st_mode, (int64_t)st->st_uid,
	};
}

static void set_stat(struct rep_entry *e, const struct stat *st)
{
	e->st = fstat_of(st);
}

static void digest_of(const void *p, size_t n, unsigned char digest[SHA256_DIGEST_SIZE])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, n, p);
	sha256_digest(&c, SHA256_DIGEST_SIZE, digest);
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

static void __attribute__((format(printf, 2, 3))) problem(struct tree *t, const char *fmt, ...)
{
	struct rep_problems *p = t->bad;
	va_list ap;
	char *line;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		rep_die("out of memory");
	va_end(ap);
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 8;
		p->v = rep_xrealloc(p->v, p->cap * sizeof *p->v);
	}
	p->v[p->n++] = line;
}

static int by_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Tells each problem, one message line each (control bytes escaped, as
 * in every message), in path order whatever the order the directories
 * were read in; returns how many. */
size_t rep_problems_tell(struct rep_problems *p)
{
	if (p->n > 1)
		qsort(p->v, p->n, sizeof *p->v, by_line);
	for (size_t i = 0; i < p->n; i++)
		rep_warn("%s", p->v[i]);
	return p->n;
}

/* The end of a run that found applications holding what rep cannot
 * ship, each problem told already: nothing was done. */
_Noreturn void rep_problems_die(size_t napps, const char *name, const char *undone)
{
	if (napps == 1)
		rep_die("%s: holds what rep cannot ship (see rep(7), APPLICATION CONTENTS); %s",
		    name, undone);
	rep_die("%zu applications hold what rep cannot ship (see rep(7), APPLICATION CONTENTS); %s",
	    napps, undone);
}

void rep_problems_free(struct rep_problems *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	memset(p, 0, sizeof *p);
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static const char *kind_of(mode_t m)
{
	return S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device" :
	    S_ISBLK(m) ? "a block device" : "of an unknown type";
}

/* A symlink's target is kept (rep-tar stores it) and hashed; one that
 * leaves the application is listed all the same, and told. */
static struct rep_entry *hash_link(struct tree *t, int dirfd, const char *name, const char *rel)
{
	char target[4097];
	ssize_t n = readlinkat(dirfd, name, target, sizeof target);

	if (n < 0 || n == sizeof target) {
		problem(t, "%s/%s: cannot read symlink: %s", t->name, rel,
		    n < 0 ? strerror(errno) : "target too long");
		return NULL;
	}
	struct rep_entry *e = add_entry(t, rel, 'l');
	target[n] = 0;
	e->target = rep_xstrdup(target);
	digest_of(target, (size_t)n, e->digest);
	if (has_control(target))
		problem(t, "%s/%s: a symlink target with a control character", t->name, rel);
	else if (!rep_link_inside(rel, target))
		problem(t, "%s/%s -> %s: symlink points outside the application", t->name, rel, target);
	return e;
}

/* Hashes an open file; returns 0 or an errno. */
static int hash_fd(int fd, struct rep_entry *e, unsigned char *buf)
{
	struct sha256_ctx c;
	ssize_t n;

	sha256_init(&c);
	/* A short read of a regular file means end of file once the size
	 * seen by the walk is reached: that saves a read per file. */
	e->size = 0;
	while ((n = read(fd, buf, READ_BUF)) > 0) {
		sha256_update(&c, (size_t)n, buf);
		e->size += n;
		if (n < READ_BUF && e->size >= e->st.size)
			break;
	}
	int err = n < 0 ? errno : 0;
	close(fd);
	sha256_digest(&c, sizeof e->digest, e->digest);
	return err;
}

/* O_NONBLOCK: a FIFO swapped in since the walk fails, not hangs. */
#define OPEN_FILE (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)

static int hash_file(int appsfd, const char *app, struct rep_entry *e, unsigned char *buf)
{
	char path[4096 + REP_NAME_MAX + 2];

	snprintf(path, sizeof path, "%s/%s", app, e->path);
	int fd = openat(appsfd, path, OPEN_FILE);
	return fd < 0 ? errno : hash_fd(fd, e, buf);
}

static int same_stat(const struct rep_fstat *a, const struct rep_fstat *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns &&
	    a->ino == b->ino && a->dev == b->dev && a->mode == b->mode;
}

static int row_cmp(const void *key, const void *row)
{
	return strcmp(key, ((const struct rep_cached *)row)->path);
}

/* Notes the cache row of a file if its stat data match and it is not
 * racy (the file's mtime or ctime not older than the row: a change in
 * the same clock tick as the row's stat leaves every stat field as it
 * was; with the mtime set back by touch -r or cp -p, only the ctime
 * tells). Such a row's digest is taken, unless everything is to be
 * hashed again (--rehash). */
static void match_row(struct pool *p, struct rep_entry *e, const struct rep_cached *c)
{
	if (!c || e->type == 'l' || e->type == 'd' || !same_stat(&c->st, &e->st) ||
	    c->st.mtime_ns >= c->cached_ns || c->st.ctime_ns >= c->cached_ns)
		return;
	e->row = c;
	if (p->flags & REP_HASH_ALL)
		return;
	memcpy(e->digest, c->digest, sizeof e->digest);
	e->size = e->st.size;
	e->hit = 1;
}

/* A regular file, listed and matched with its cache row. */
static struct rep_entry *note_file(struct tree *t, const struct stat *st, const char *rel)
{
	struct rep_entry *e = add_entry(t, rel, st->st_mode & S_IXUSR ? 'x' : 'f');

	set_stat(e, st);
	if (t->pool && t->job->ncache)
		match_row(t->pool, e, bsearch(rel, t->job->cache, t->job->ncache,
		    sizeof *t->job->cache, row_cmp));
	return e;
}

/* Reads and hashes a file: fd is the file NAME of DIRFD already open,
 * or -1. */
static void read_file(struct tree *t, struct rep_entry *e, int dirfd, const char *name, int fd)
{
	if (fd < 0)
		fd = openat(dirfd, name, OPEN_FILE);
	e->err = fd < 0 ? errno : hash_fd(fd, e, t->buf);
	atomic_fetch_add(&t->pool->bytes, e->size);
}

/* A regular file: listed, matched with its cache row, hashed unless the
 * row served; fd is the file already open, or -1. */
static void visit_file(struct tree *t, int dirfd, const char *nm, const struct stat *st,
    const char *rel, int fd)
{
	struct rep_entry *e = note_file(t, st, rel);

	if (t->pool && !e->hit)
		read_file(t, e, dirfd, nm, fd);
	else if (fd >= 0)
		close(fd);
}

/* Whether every file will be read anyway (no cache rows, or --rehash). */
static int read_all(const struct tree *t)
{
	return t->pool && ((t->pool->flags & REP_HASH_ALL) || !t->job->ncache);
}

/* The files queued in the ring, read: each hashed from its buffer if
 * it was read whole (no error, not shorter than its stat size, not
 * filling the buffer), else read again the usual way, which reports an
 * error as usual. Then the directories walked before are let go: their
 * closes go with the next batch. */
static void ring_flush(struct tree *t)
{
	int n = rep_ring_queued(t->ring), ndone = t->q->ndone;

	if (rep_ring_run(t->ring) < 0) {
		rep_ring_free(t->ring);
		t->ring = NULL;
	}
	for (int k = 0; k < n; k++) {
		struct rep_entry *e = &t->e[t->q->slot[k].entry];
		ssize_t got = t->ring ? rep_ring_got(t->ring, k) : -1;
		if (got >= 0 && got >= e->st.size && got < REP_RING_BUF) {
			digest_of(rep_ring_buf(t->ring, k), (size_t)got, e->digest);
			e->size = got;
			atomic_fetch_add(&t->pool->bytes, e->size);
		} else {
			read_file(t, e, t->q->slot[k].dirfd, e->path + t->q->slot[k].len, -1);
		}
	}
	for (int i = 0; i < ndone; i++)
		if (!t->ring || rep_ring_close(t->ring, t->q->done[i]) < 0)
			close(t->q->done[i]);
	t->q->ndone = 0;
}

/* A directory walked: with a ring, its files may still be queued, so
 * it is closed after their batch. */
static void release_dir(struct tree *t, int dirfd)
{
	if (t->ring && t->q->ndone == REP_RING_SLOTS)
		ring_flush(t);
	if (t->ring)
		t->q->done[t->q->ndone++] = dirfd;
	else
		close(dirfd);
}

/* With a ring, when every file will be read anyway: a small regular
 * file's stat data are taken by path, and its bytes read in a batch of
 * up to REP_RING_SLOTS files of the application (ring_flush, before
 * their directories are closed). A file that is larger is hashed at
 * once. Anything but a regular file goes the usual way. */
static int ring_first(struct tree *t, int dirfd, const char *nm, const char *rel, size_t len,
    struct stat *st)
{
	if (!t->ring || !read_all(t) || fstatat(dirfd, nm, st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st->st_mode))
		return 0;
	if (st->st_size >= REP_RING_BUF) {
		visit_file(t, dirfd, nm, st, rel, -1);
		return 1;
	}
	struct rep_entry *e = note_file(t, st, rel);
	if (e->hit)
		return 1;
	if (rep_ring_queued(t->ring) == REP_RING_SLOTS)
		ring_flush(t);
	int k = t->ring ? rep_ring_add(t->ring, dirfd, e->path + len) : -1;
	if (k < 0) {
		read_file(t, e, dirfd, nm, -1);
		return 1;
	}
	t->q->slot[k].entry = t->n - 1;
	t->q->slot[k].dirfd = dirfd;
	t->q->slot[k].len = len;
	return 1;
}

/* When every file will be read anyway, a file is opened first and its
 * stat data taken from the open file: one path lookup instead of two.
 * Anything but a regular file goes the usual way. */
static int open_first(struct tree *t, int dirfd, const char *nm, const char *rel,
    struct stat *st)
{
	if (!read_all(t))
		return 0;
	int fd = openat(dirfd, nm, OPEN_FILE);
	if (fd < 0)
		return 0;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return 0;
	}
	visit_file(t, dirfd, nm, st, rel, fd);
	return 1;
}

static void walk_dir(struct tree *t, int dirfd, char *rel, size_t len);
static void add_dir_row(struct tree *t, const char *rel, const struct rep_fstat *st,
    const unsigned char digest[32]);

/* One directory: its files and symlinks at once, its subdirectories
 * after the listing (getdents64 straight into the tree's one buffer:
 * no DIR, no fcntl, no 32 KiB malloc per directory). self: the stat data
 * of the directory open at dirfd, taken before it is read (NULL: none,
 * and no row for it). */
static void walk(struct tree *t, int dirfd, char *rel, size_t len, const struct stat *self)
{
	char **subdirs = NULL;
	size_t nsub = 0, capsub = 0;
	struct stat st;
	ssize_t got;
	/* only regular files and directories, each as rep takes it: a
	 * listing a row may stand for */
	int plain = 1;
	struct listing seen = { 0, 0 };

	if (!t->dirbuf)
		t->dirbuf = rep_xmalloc(DIRBUF);
	while ((got = getdents64(dirfd, t->dirbuf, DIRBUF)) > 0) {
		for (ssize_t off = 0; off < got;) {
			struct dirent64 *de = (struct dirent64 *)(t->dirbuf + off);
			const char *nm = de->d_name;
			off += de->d_reclen;
			if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
				continue;
			size_t nlen = strlen(nm);
			/* as rep_applications/NAME/PATH in an archive (a
			 * directory's with its '/', below) */
			size_t in_archive = strlen("rep_applications//") + strlen(t->name) + len + nlen;
			if (in_archive > REP_PATH_MAX) {
				problem(t, "%s/%.*s%s: path too long (an archive holds at most %d bytes)",
				    t->name, (int)len, rel, nm, REP_PATH_MAX);
				plain = 0;
				continue;
			}
			memcpy(rel + len, nm, nlen + 1);
			/* a newline in a name would make the checksum's lines
			 * ambiguous (rep(7)): the entry is told, not listed */
			if (has_control(nm)) {
				problem(t, "%s/%s: a name with a control character", t->name, rel);
				plain = 0;
				continue;
			}
			if (de->d_type == DT_REG && (ring_first(t, dirfd, nm, rel, len, &st) ||
			    open_first(t, dirfd, nm, rel, &st))) {
				listing_add(&seen, nm, nlen, 'f');
				continue;
			}
			if (de->d_type == DT_DIR && !t->with_dirs)
				st.st_mode = S_IFDIR;
			else if (fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				problem(t, "%s/%s: %s", t->name, rel, strerror(errno));
				plain = 0;
				continue;
			}
			if (S_ISREG(st.st_mode)) {
				/* listing only: what could not be packaged is told now */
				if (t->with_dirs && faccessat(dirfd, nm, R_OK, AT_EACCESS) < 0)
					problem(t, "%s/%s: %s", t->name, rel, strerror(errno));
				visit_file(t, dirfd, nm, &st, rel, -1);
				listing_add(&seen, nm, nlen, 'f');
			} else if (S_ISLNK(st.st_mode)) {
				struct rep_entry *e = hash_link(t, dirfd, nm, rel);
				if (e)
					set_stat(e, &st);
				plain = 0;
			} else if (S_ISDIR(st.st_mode)) {
				if (in_archive + 1 > REP_PATH_MAX) {
					problem(t, "%s/%s: path too long (an archive holds at most %d bytes)",
					    t->name, rel, REP_PATH_MAX);
					plain = 0;
					continue;
				}
				if (t->with_dirs)
					set_stat(add_entry(t, rel, 'd'), &st);
				if (nsub == capsub) {
					capsub = capsub ? 2 * capsub : 8;
					subdirs = rep_xrealloc(subdirs, capsub * sizeof *subdirs);
				}
				subdirs[nsub++] = rep_xstrdup(nm);
				listing_add(&seen, nm, nlen, 'd');
			} else {
				problem(t, "%s/%s: %s, not a regular file, directory or symlink", t->name,
				    rel, kind_of(st.st_mode));
				plain = 0;
			}
		}
	}
	rel[len] = 0;
	if (got < 0) {
		problem(t, "%s/%s: %s", t->name, rel, strerror(errno));
		plain = 0;
	}
	if (self && t->job) {
		struct rep_fstat f = fstat_of(self);
		unsigned char d[32];
		listing_digest(&seen, plain, d);
		add_dir_row(t, rel, &f, d);
	}
	for (size_t i = 0; i < nsub; i++) {
		size_t nlen = strlen(subdirs[i]);
		memcpy(rel + len, subdirs[i], nlen);
		rel[len + nlen] = '/';
		rel[len + nlen + 1] = 0;
		int fd = openat(dirfd, subdirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			problem(t, "%s/%.*s: %s", t->name, (int)(len + nlen), rel, strerror(errno));
		else
			walk_dir(t, fd, rel, len + nlen + 1);
		free(subdirs[i]);
	}
	rel[len] = 0;
	free(subdirs);
	release_dir(t, dirfd);
}

/* The directory row at rel (a directory's path and '/', "" for the
 * application's), if its stat data are those of st, its listing held
 * only what a row stands for, and it is not racy (its mtime and ctime
 * older than the row, as for a file's row: an entry made or removed in
 * the same clock tick as the row's stat leaves them as they were).
 * Making, removing or renaming an entry of a directory sets its mtime,
 * and anything else done to it its ctime; so such a row stands for the
 * directory's listing: its entries are the rows below it. Not with
 * --rehash. */
static const struct rep_cached *trusted_dir(const struct tree *t, const char *rel,
    const struct stat *st)
{
	if (!t->trust || !t->job->ncache || !S_ISDIR(st->st_mode))
		return NULL;
	const struct rep_cached *c = bsearch(rel, t->job->cache, t->job->ncache, sizeof *t->job->cache,
	    row_cmp);
	struct rep_fstat now = fstat_of(st);
	if (!c || c->digest[0] != DIR_PLAIN || !same_stat(&c->st, &now) ||
	    c->st.mtime_ns >= c->cached_ns || c->st.ctime_ns >= c->cached_ns)
		return NULL;
	return c;
}

static void add_dir_row(struct tree *t, const char *rel, const struct rep_fstat *st,
    const unsigned char digest[32])
{
	if (t->ndirs == t->capdirs) {
		t->capdirs = t->capdirs ? 2 * t->capdirs : 8;
		t->dirs = rep_xrealloc(t->dirs, t->capdirs * sizeof *t->dirs);
	}
	struct dir_row *d = &t->dirs[t->ndirs++];
	d->path = rep_xstrdup(rel);
	d->st = *st;
	memcpy(d->digest, digest, sizeof d->digest);
}

/* The first row of [lo, hi) that does not begin with prefix (a
 * directory's path and '/'): the rows are in path order, so those that
 * begin with it are together. */
static const struct rep_cached *past(const struct rep_cached *lo, const struct rep_cached *hi,
    const char *prefix, size_t plen)
{
	while (lo < hi) {
		const struct rep_cached *mid = lo + (hi - lo) / 2;
		if (strncmp(mid->path, prefix, plen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void walk_known(struct tree *t, int dirfd, char *rel, size_t len, const struct rep_cached *row,
    const struct stat *self);

/* The directory open at dirfd (rel, len bytes), with its stat data taken
 * before anything was read of it: read (walk), or known from its row. */
static void walk_dir(struct tree *t, int dirfd, char *rel, size_t len)
{
	struct stat st;
	int have = t->job && fstat(dirfd, &st) == 0;
	const struct rep_cached *row = have ? trusted_dir(t, rel, &st) : NULL;

	if (row)
		walk_known(t, dirfd, rel, len, row, &st);
	else
		walk(t, dirfd, rel, len, have ? &st : NULL);
}

/* The directory open at dirfd (rel, len bytes: its path and '/', or ""
 * for the application's own), whose row stands for its listing
 * (trusted_dir): its entries are the rows just below it, each looked at
 * from dirfd as the walk looks at what it reads (files by fstatat and
 * read if need be, directories opened). If they are not what the row
 * says it held, or a file is not there as a regular file, the directory
 * is read after all (walk). */
static void walk_known(struct tree *t, int dirfd, char *rel, size_t len, const struct rep_cached *row,
    const struct stat *self)
{
	const struct rep_cached *c = row + 1, *end = t->job->cache + t->job->ncache;
	struct kid {
		const char *name;   /* in its row's path */
		size_t len;
		struct stat st;     /* a file's */
	} *kid = NULL;
	size_t nkid = 0, capkid = 0;
	struct listing seen = { 0, 0 };
	unsigned char d[32];
	int ok = 1;

	while (ok && c < end && strncmp(c->path, rel, len) == 0) {
		const char *name = c->path + len, *slash = strchr(name, '/');
		size_t n = slash ? (size_t)(slash - name) : strlen(name);
		/* a row below a directory without the directory's own, a
		 * name that is no name of an entry, a path too long: not rows
		 * rep wrote */
		int dots = name[0] == '.' && (n == 1 || (n == 2 && name[1] == '.'));
		if ((slash && slash[1]) || n == 0 || n > 255 || dots || len + n + 2 > REP_PATH_MAX) {
			ok = 0;
			break;
		}
		if (nkid == capkid) {
			capkid = capkid ? 2 * capkid : 16;
			kid = rep_xrealloc(kid, capkid * sizeof *kid);
		}
		struct kid *k = &kid[nkid++];
		k->name = name;
		k->len = n;
		listing_add(&seen, name, n, slash ? 'd' : 'f');
		if (slash) {
			c = past(c + 1, end, c->path, len + n + 1);
			continue;
		}
		ok = fstatat(dirfd, name, &k->st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(k->st.st_mode);
		c++;
	}
	listing_digest(&seen, 1, d);
	if (!ok || memcmp(d, row->digest, sizeof d) != 0) {
		free(kid);
		walk(t, dirfd, rel, len, self);
		return;
	}
	add_dir_row(t, rel, &row->st, row->digest);
	for (size_t i = 0; i < nkid; i++) {
		memcpy(rel + len, kid[i].name, kid[i].len);
		rel[len + kid[i].len] = 0;
		if (kid[i].name[kid[i].len] != '/') {
			visit_file(t, dirfd, rel + len, &kid[i].st, rel, -1);
			continue;
		}
		int fd = openat(dirfd, rel + len, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rel[len + kid[i].len] = '/';
		rel[len + kid[i].len + 1] = 0;
		if (fd < 0)
			problem(t, "%s/%.*s: %s", t->name, (int)(len + kid[i].len), rel, strerror(errno));
		else
			walk_dir(t, fd, rel, len + kid[i].len + 1);
	}
	rel[len] = 0;
	free(kid);
	release_dir(t, dirfd);
}

static void walk_app(int appsfd, struct tree *t)
{
	char rel[4096] = "";
	int fd = openat(appsfd, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			rep_die("%s: not a directory", t->name);
		problem(t, "%s: %s", t->name, strerror(errno));
		return;
	}
	walk_dir(t, fd, rel, 0);
	if (t->ring && (rep_ring_queued(t->ring) || t->q->ndone))
		ring_flush(t);
	free(t->dirbuf);
	t->dirbuf = NULL;
}

static void hash_entry(struct pool *p, const char *app, struct rep_entry *e, unsigned char *buf)
{
	e->err = hash_file(p->appsfd, app, e, buf);
	atomic_fetch_add(&p->bytes, e->size);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct rep_entry *)a)->path, ((const struct rep_entry *)b)->path);
}

static int by_row(const void *a, const void *b)
{
	return strcmp(((const struct rep_cached *)a)->path, ((const struct rep_cached *)b)->path);
}

/* Sorts the entries and matches them with the cache rows (sorted too). */
static void use_cache(struct pool *p, struct tree *t)
{
	const struct rep_cached *c = t->job->cache, *end = c ? c + t->job->ncache : c;

	if (t->n)
		qsort(t->e, t->n, sizeof *t->e, by_path);
	for (size_t i = 0; i < t->n && c < end; i++) {
		struct rep_entry *e = &t->e[i];
		int cmp = 1;
		while (c < end && (cmp = strcmp(c->path, e->path)) < 0)
			c++;
		if (cmp == 0 && !e->row)
			match_row(p, e, c);
	}
}

/* After the fold: when anything was hashed or has gone, the cache rows
 * of the application are replaced by rows for what is there now. */
static void refresh_cache(struct pool *p, struct tree *t)
{
	struct rep_hash_job *job = t->job;
	size_t files = 0, kept = 0;

	/* A row is kept when its file was taken from it, or hashed again to
	 * the same digest and size (--rehash of an unchanged file); a
	 * directory's when it is as it was and was not racy. */
	for (size_t i = 0; i < t->n; i++) {
		const struct rep_entry *e = &t->e[i];
		if (e->type == 'l')
			continue;
		files++;
		kept += e->hit || (e->row && e->size == e->st.size &&
		    memcmp(e->row->digest, e->digest, sizeof e->digest) == 0);
	}
	for (size_t i = 0; i < t->ndirs; i++) {
		const struct dir_row *d = &t->dirs[i];
		const struct rep_cached *c = job->ncache ? bsearch(d->path, job->cache, job->ncache,
		    sizeof *job->cache, row_cmp) : NULL;
		kept += c && memcmp(c->digest, d->digest, sizeof d->digest) == 0 &&
		    same_stat(&c->st, &d->st) && c->st.mtime_ns < c->cached_ns && c->st.ctime_ns < c->cached_ns;
	}
	size_t rows = files + t->ndirs;
	/* a tree with problems is not what any row could describe */
	job->dirty = !job->bad.n && (kept != rows || job->ncache != rows);
	/* rows that are not to be stored again are of no more use */
	if (!job->dirty) {
		cache_drop(job);
		return;
	}
	cache_drop(job);
	job->cache = rep_xmalloc((rows ? rows : 1) * sizeof *job->cache);
	for (size_t i = 0; i < t->ndirs; i++) {
		struct rep_cached *c = &job->cache[job->ncache++];
		c->path = t->dirs[i].path;
		t->dirs[i].path = NULL;
		c->st = t->dirs[i].st;
		memcpy(c->digest, t->dirs[i].digest, sizeof c->digest);
		c->cached_ns = p->cache_time;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct rep_entry *e = &t->e[i];
		if (e->type == 'l')
			continue;
		struct rep_cached *c = &job->cache[job->ncache++];
		c->path = e->path;
		e->path = NULL;
		c->st = e->st;
		memcpy(c->digest, e->digest, sizeof c->digest);
		/* A file that changed while it was read is never a hit. */
		c->cached_ns = e->size == e->st.size ? p->cache_time : 0;
	}
	/* in path order, as they are read back and searched */
	qsort(job->cache, job->ncache, sizeof *job->cache, by_row);
}

void rep_fold_init(struct rep_fold *f)
{
	sha256_init(&f->c);
	f->files = f->bytes = 0;
}

/* One line of the checksum of rep(7): TYPE SP HEX SP PATH LF, in path
 * order; directories are no part of it. */
void rep_fold_add(struct rep_fold *f, char type, const char *path,
    const unsigned char *digest, int64_t size)
{
	char line[4 + 2 * SHA256_DIGEST_SIZE];

	if (type == 'd')
		return;
	f->files++;
	if (type != 'l')
		f->bytes += size;
	line[0] = type;
	line[1] = ' ';
	rep_hex(digest, SHA256_DIGEST_SIZE, line + 2);
	line[2 + 2 * SHA256_DIGEST_SIZE] = ' ';
	sha256_update(&f->c, 3 + 2 * SHA256_DIGEST_SIZE, (const uint8_t *)line);
	sha256_update(&f->c, strlen(path), (const uint8_t *)path);
	sha256_update(&f->c, 1, (const uint8_t *)"\n");
}

void rep_fold_end(struct rep_fold *f, struct rep_sum *sum)
{
	unsigned char d[SHA256_DIGEST_SIZE];

	sha256_digest(&f->c, sizeof d, d);
	rep_hex(d, sizeof d, sum->checksum);
	sum->files = f->files;
	sum->bytes = f->bytes;
}

static void fold(struct tree *t)
{
	struct rep_fold f;

	rep_fold_init(&f);
	for (size_t i = 0; i < t->n; i++) {
		struct rep_entry *e = &t->e[i];
		if (e->err)
			problem(t, "%s/%s: %s", t->name, e->path, strerror(e->err));
		rep_fold_add(&f, e->type, e->path, e->digest, e->size);
	}
	rep_fold_end(&f, &t->job->sum);
}

static void free_entries(struct rep_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].path);
		free(e[i].target);
	}
	free(e);
}

static void finish_tree(struct pool *p, struct tree *t)
{
	fold(t);
	refresh_cache(p, t);
	free_entries(t->e, t->n);
	t->e = NULL;
	for (size_t i = 0; i < t->ndirs; i++)
		free(t->dirs[i].path);
	free(t->dirs);
	t->dirs = NULL;
	t->ndirs = t->capdirs = 0;
}

/* The entries of one application, directories too, in path order. */
void rep_tree_list(int appsfd, const char *name, struct rep_tree *out)
{
	struct tree t = { .name = name, .with_dirs = 1, .bad = &out->bad };

	memset(out, 0, sizeof *out);
	walk_app(appsfd, &t);
	if (t.n)
		qsort(t.e, t.n, sizeof *t.e, by_path);
	out->e = t.e;
	out->n = t.n;
}

void rep_tree_free(struct rep_tree *t)
{
	free_entries(t->e, t->n);
	rep_problems_free(&t->bad);
	t->e = NULL;
	t->n = 0;
}

static void *walk_worker(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next_tree, 1)) < p->ntrees) {
		tree_of(p, i)->trust = !(p->flags & REP_HASH_ALL);
		walk_app(p->appsfd, tree_of(p, i));
		use_cache(p, tree_of(p, i));
	}
	return NULL;
}

static void *file_worker(void *arg)
{
	struct pool *p = arg;
	unsigned char *buf = rep_xmalloc(READ_BUF);
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->nfiles) {
		hash_entry(p, p->files[i].app, p->files[i].e, buf);
		atomic_fetch_add(&p->done, 1);
	}
	free(buf);
	return NULL;
}

/* A worker's own, kept from one application to the next. */
struct reader {
	unsigned char *buf;
	struct rep_ring *ring;
	struct queued q;
};

static void hash_tree(struct pool *p, struct tree *t, struct reader *r)
{
	t->pool = p;
	t->buf = r->buf;
	t->ring = r->ring;
	t->q = &r->q;
	t->trust = !(p->flags & REP_HASH_ALL);
	walk_app(p->appsfd, t);
	r->ring = t->ring;    /* gone if it failed */
	if (t->n)
		qsort(t->e, t->n, sizeof *t->e, by_path);
	finish_tree(p, t);
	atomic_store_explicit(&t->finished, 1, memory_order_release);
	atomic_fetch_add(&p->done, 1);
}

/* Job i may be hashed once its cache rows are loaded. */
static void wait_loaded(struct pool *p, size_t i)
{
	if (i < atomic_load_explicit(&p->loaded, memory_order_acquire))
		return;
	pthread_mutex_lock(&p->mu);
	while (i >= atomic_load_explicit(&p->loaded, memory_order_acquire))
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

static void *app_worker(void *arg)
{
	struct pool *p = arg;
	struct reader r = { .buf = rep_xmalloc(READ_BUF), .ring = rep_ring_new() };
	size_t i;

	while ((i = atomic_fetch_add(&p->next_tree, 1)) < p->ntrees) {
		wait_loaded(p, i);
		hash_tree(p, tree_of(p, i), &r);
		if (pthread_equal(pthread_self(), p->caller))
			pass_finished(p);
	}
	rep_ring_free(r.ring);
	free(r.buf);
	return NULL;
}

static void progress(struct pool *p, struct rep_progress *pr, const char *unit)
{
	rep_progress_draw(pr, (long long)atomic_load(&p->done), (long long)p->total, unit,
	    atomic_load(&p->bytes), 0);
}

/* Runs fn on every core until p->done reaches until (the walk, which
 * counts nothing, from 0). With a progress line (pr), the calling
 * thread draws it; otherwise it takes a share of the work. */
static void run_pool(void *(*fn)(void *), struct pool *p, size_t until, struct rep_progress *pr,
    const char *unit)
{
	int n = rep_nthreads() - !pr, started = 0;
	size_t work = until - atomic_load(&p->done);
	pthread_t tid[16];
	struct timespec tick = { 0, 100 * 1000 * 1000 };

	if ((size_t)n > work)
		n = (int)work;
	for (; started < n; started++)
		if (pthread_create(&tid[started], NULL, fn, p) != 0)
			break;
	/* drawn at once: a run too short for a redraw still shows what it
	 * did */
	if (pr && p->total)
		progress(p, pr, unit);
	if (!pr || started == 0)
		fn(p);
	while (pr && atomic_load(&p->done) < until) {
		progress(p, pr, unit);
		pass_finished(p);
		nanosleep(&tick, NULL);
	}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
}

/* Few applications: walk them all, then spread the files to hash over
 * the cores, so that one large application still uses every core. */
static void hash_by_file(struct pool *p, struct rep_progress *pr)
{
	size_t cap = 0;

	run_pool(walk_worker, p, p->ntrees, NULL, "applications");
	for (size_t i = 0; i < p->ntrees; i++) {
		struct tree *t = tree_of(p, i);
		for (size_t j = 0; j < t->n; j++) {
			if (t->e[j].type == 'l' || t->e[j].hit)
				continue;
			if (p->nfiles == cap) {
				cap = cap ? 2 * cap : 1024;
				p->files = rep_xrealloc(p->files, cap * sizeof *p->files);
			}
			p->files[p->nfiles++] = (struct file_job){ t->name, &t->e[j] };
		}
	}
	p->total = p->nfiles;
	atomic_store(&p->done, 0);
	if (pr)
		rep_progress_begin(pr, "checking");
	run_pool(file_worker, p, p->nfiles, pr, "files");
	if (pr)
		rep_progress_end(pr);
	for (size_t i = 0; i < p->ntrees; i++)
		finish_tree(p, tree_of(p, i));
	free(p->files);
}

/* The time cache rows are written at: whole seconds of the coarse
 * clock that stamps file times, read before any file is looked at, so
 * that a file written after its stat is never older than its row, on
 * file systems with nanosecond or with one-second time stamps. */
static int64_t cache_time(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) < 0)
		rep_die_errno("clock");
	return ts.tv_sec * 1000000000LL;
}

/* Jobs [from, from + m): their cache rows loaded, their trees made,
 * then handed to the workers. The block of trees is freed with the
 * batch's last job (pass_finished), or at the end of rep_hash_apps;
 * gcc's analyzer loses it once it is stored through p->trees, and
 * reports a leak that is not one. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static void load_batch(struct pool *p, struct rep_hash_job *jobs, size_t from, size_t m,
    const struct rep_hash_calls *calls)
{
	if (calls->load)
		calls->load(jobs + from, m, calls->arg);
	struct tree *block = calloc(m ? m : 1, sizeof *block);
	if (!block)
		rep_die("out of memory");
	p->trees[from / REP_HASH_BATCH] = block;
	for (size_t i = from; i < from + m; i++) {
		struct tree *t = &block[i - from];
		t->job = &jobs[i];
		t->name = jobs[i].name;
		t->bad = &jobs[i].bad;
	}
	pthread_mutex_lock(&p->mu);
	atomic_store_explicit(&p->loaded, from + m, memory_order_release);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* Many applications, shared out whole. The calling thread loads the
 * batches ahead of the workers (a batch's rows are read while the one
 * before it is hashed), as long as fewer than three batches' jobs are
 * loaded and not finished: a large application holds back no other, and
 * the rows held stay bounded (a finished job keeps its rows only if it
 * is dirty, until it is handed to each). Once all are loaded, it draws
 * the progress line, or takes a share of the work. */
static void hash_by_app(struct pool *p, struct rep_hash_job *jobs, const struct rep_hash_calls *calls,
    struct rep_progress *pr)
{
	size_t n = p->ntrees, batch = REP_HASH_BATCH, next = 0;
	/* a worker per core: the loads take the calling thread little time */
	int nthreads = rep_nthreads(), started = 0;
	pthread_t tid[16];
	struct timespec tick = { 0, 100 * 1000 * 1000 }, wait = { 0, 1000 * 1000 };
	struct reader solo = { .buf = NULL };

	if ((size_t)nthreads > n)
		nthreads = (int)n;
	for (; started < nthreads; started++)
		if (pthread_create(&tid[started], NULL, app_worker, p) != 0)
			break;
	if (pr)
		progress(p, pr, "applications");
	for (size_t from = 0; from < n;) {
		size_t m = n - from < batch ? n - from : batch;
		pass_finished(p);
		if (started && from - atomic_load(&p->done) + m > AHEAD) {
			if (pr)
				progress(p, pr, "applications");
			nanosleep(&wait, NULL);
			continue;
		}
		load_batch(p, jobs, from, m, calls);
		from += m;
		/* no thread: this one hashes what is loaded, a batch at a time */
		if (!started) {
			if (!solo.buf) {
				solo.buf = rep_xmalloc(READ_BUF);
				solo.ring = rep_ring_new();
			}
			for (; next < from; next++)
				hash_tree(p, tree_of(p, next), &solo);
		}
	}
	rep_ring_free(solo.ring);
	free(solo.buf);
	if (!pr && started)
		app_worker(p);
	while (pr && atomic_load(&p->done) < n) {
		progress(p, pr, "applications");
		pass_finished(p);
		nanosleep(&tick, NULL);
	}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pass_finished(p);
}

/* Fills in each job's files, bytes and checksum, using and refreshing
 * its cache rows. Many applications are shared out whole (walk, hash,
 * fold: no waiting between steps, memory bounded by one application
 * per core) in batches whose cache rows are loaded just ahead of them:
 * what is held grows with the batch, not with the number of
 * applications. A few are walked first, and their files shared out. */
void rep_hash_apps(int appsfd, struct rep_hash_job *jobs, size_t n, int flags,
    const struct rep_hash_calls *calls)
{
	static const struct rep_hash_calls none;
	struct pool p = { .appsfd = appsfd, .flags = flags, .ntrees = n, .total = n,
		.caller = pthread_self() };
	struct rep_progress pr = { .what = NULL }, *show = rep_progress_wanted() ? &pr : NULL;
	int by_file = n < 4 * (size_t)rep_nthreads() && n <= REP_HASH_BATCH; /* one batch */

	if (!calls)
		calls = &none;
	p.each = calls->each;
	p.arg = calls->arg;
	p.cache_time = cache_time();
	p.trees = calloc(n / REP_HASH_BATCH + 1, sizeof *p.trees);
	if (!p.trees)
		rep_die("out of memory");
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	if (by_file) {
		load_batch(&p, jobs, 0, n, calls);
		hash_by_file(&p, show);
		for (size_t i = 0; i < n; i++)
			atomic_store_explicit(&tree_of(&p, i)->finished, 1, memory_order_relaxed);
		pass_finished(&p);
	} else {
		if (show)
			rep_progress_begin(show, "checking");
		hash_by_app(&p, jobs, calls, show);
		if (show)
			rep_progress_end(show);
	}
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	/* all passed: the blocks are gone, but for no job at all */
	for (size_t i = 0; i <= n / REP_HASH_BATCH; i++)
		free(p.trees[i]);
	free(p.trees);
}

static void cache_drop(struct rep_hash_job *job)
{
	for (size_t i = 0; i < job->ncache; i++)
		free(job->cache[i].path);
	free(job->cache);
	job->cache = NULL;
	job->ncache = 0;
}

/* What a job holds once its caller is done with it. */
void rep_cache_free(struct rep_hash_job *job)
{
	cache_drop(job);
	rep_problems_free(&job->bad);
}

/* The SHA-256 of what is left to read of fd, as hex: 0, or -1. */
int rep_sha256_fd(int fd, char out[65])
{
	struct sha256_ctx c;
	unsigned char buf[65536], d[SHA256_DIGEST_SIZE];
	ssize_t r;

	sha256_init(&c);
	while ((r = read(fd, buf, sizeof buf)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		sha256_update(&c, (size_t)r, buf);
	}
	sha256_digest(&c, sizeof d, d);
	rep_hex(d, sizeof d, out);
	return 0;
}

int rep_sha256_at(int dirfd, const char *name, char out[65])
{
	int fd = rep_open_regular(dirfd, name);
	if (fd < 0)
		return -1;
	int rc = rep_sha256_fd(fd, out);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}
