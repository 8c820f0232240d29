/* Application trees: listing, walking and the checksum of rep(7).
 *
 * Work goes in chunks of applications: walk (one thread), hash the
 * file contents (every core, one file at a time), then fold each
 * application's sorted entries into its checksum. Memory stays
 * bounded by the chunk, whatever the number of applications. */
#include <dirent.h>
#include <errno.h>
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

#define CHUNK_APPS 256
#define READ_BUF (256 * 1024)

struct entry {
	char *path;           /* relative to the application directory */
	char type;            /* 'f', 'x' or 'l', as in the checksum lines */
	int err;              /* errno of a failed read */
	int64_t size;
	unsigned char digest[SHA256_DIGEST_SIZE];
};

struct tree {
	struct rep_hash_job *job;
	struct entry *e;
	size_t n, cap;
};

struct file_job {
	const char *app;
	struct entry *e;
};

struct pool {
	int appsfd;
	struct file_job *files;
	size_t nfiles;
	atomic_size_t next, done;
	atomic_llong bytes;
};

void rep_hex(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = 0;
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

/* Every valid application directory, by name; counts the rest. */
int rep_list_apps(const char *appsdir, int appsfd, struct rep_strset *valid, size_t *invalid)
{
	int fd = openat(appsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (!d)
		rep_die_errno("%s", appsdir);
	while ((errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (rep_name_valid(de->d_name) && rep_app_dir_exists(appsfd, de->d_name))
			rep_strset_add(valid, de->d_name, NULL);
		else
			++*invalid;
	}
	if (errno)
		rep_die_errno("%s", appsdir);
	closedir(d);
	return 0;
}

static struct entry *add_entry(struct tree *t, const char *path, char type)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 32;
		t->e = rep_xrealloc(t->e, t->cap * sizeof *t->e);
	}
	struct entry *e = &t->e[t->n++];
	memset(e, 0, sizeof *e);
	e->path = rep_xstrdup(path);
	e->type = type;
	return e;
}

static void hash_link(struct tree *t, int dirfd, const char *name, const char *rel)
{
	char target[4097];
	ssize_t n = readlinkat(dirfd, name, target, sizeof target);
	struct sha256_ctx c;

	if (n < 0 || n == sizeof target)
		rep_die("%s/%s: cannot read symlink: %s", t->job->name, rel,
		    n < 0 ? strerror(errno) : "target too long");
	struct entry *e = add_entry(t, rel, 'l');
	sha256_init(&c);
	sha256_update(&c, (size_t)n, (const uint8_t *)target);
	sha256_digest(&c, sizeof e->digest, e->digest);
}

static void walk(struct tree *t, int dirfd, char *rel, size_t len)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;
	struct stat st;

	if (!d)
		rep_die("%s/%s: %s", t->job->name, rel, strerror(errno));
	while ((errno = 0, de = readdir(d))) {
		const char *nm = de->d_name;
		if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
			continue;
		size_t nlen = strlen(nm);
		if (len + nlen + 2 > 4096)
			rep_die("%s/%s%s: path too long", t->job->name, rel, nm);
		memcpy(rel + len, nm, nlen + 1);
		if (fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rep_die("%s/%s: %s", t->job->name, rel, strerror(errno));
		if (S_ISREG(st.st_mode)) {
			add_entry(t, rel, st.st_mode & S_IXUSR ? 'x' : 'f')->size = st.st_size;
		} else if (S_ISLNK(st.st_mode)) {
			hash_link(t, dirfd, nm, rel);
		} else if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				rep_die("%s/%s: %s", t->job->name, rel, strerror(errno));
			rel[len + nlen] = '/';
			rel[len + nlen + 1] = 0;
			walk(t, fd, rel, len + nlen + 1);
		} else {
			rep_die("%s/%s: not a regular file, directory or symlink", t->job->name, rel);
		}
		rel[len] = 0;
	}
	if (errno)
		rep_die("%s/%s: %s", t->job->name, rel, strerror(errno));
	closedir(d);
}

static void walk_app(int appsfd, struct tree *t)
{
	char rel[4096] = "";
	int fd = openat(appsfd, t->job->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		rep_die("%s: %s", t->job->name, errno == ENOTDIR || errno == ELOOP
		    ? "not a directory" : strerror(errno));
	walk(t, fd, rel, 0);
}

static int hash_file(int appsfd, const char *app, struct entry *e, unsigned char *buf)
{
	char path[4096 + REP_NAME_MAX + 2];
	struct sha256_ctx c;
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%s", app, e->path);
	fd = openat(appsfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errno ? errno : EINVAL;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	sha256_init(&c);
	e->size = 0;
	while ((n = read(fd, buf, READ_BUF)) > 0) {
		sha256_update(&c, (size_t)n, buf);
		e->size += n;
	}
	int err = n < 0 ? errno : 0;
	close(fd);
	sha256_digest(&c, sizeof e->digest, e->digest);
	return err;
}

static void *hash_worker(void *arg)
{
	struct pool *p = arg;
	unsigned char *buf = rep_xmalloc(READ_BUF);
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->nfiles) {
		struct file_job *f = &p->files[i];
		f->e->err = hash_file(p->appsfd, f->app, f->e, buf);
		atomic_fetch_add(&p->bytes, f->e->size);
		atomic_fetch_add(&p->done, 1);
	}
	free(buf);
	return NULL;
}

static void progress(struct pool *p, size_t apps_done, size_t apps)
{
	fprintf(stderr, "\r%s: hashing: %zu/%zu applications, %lld MiB", rep_prog,
	    apps_done, apps, (long long)(atomic_load(&p->bytes) >> 20));
}

/* Hashes the pool's files on every core. When a progress line is
 * wanted, the calling thread draws it; otherwise it takes a share. */
static void hash_pool(struct pool *p, int show, size_t apps_done, size_t apps)
{
	int n = rep_nthreads() - !show, started = 0;
	pthread_t tid[16];
	struct timespec tick = { 0, 100 * 1000 * 1000 };

	if ((size_t)n > p->nfiles)
		n = (int)p->nfiles;
	for (; started < n; started++)
		if (pthread_create(&tid[started], NULL, hash_worker, p) != 0)
			break;
	if (!show || started == 0)
		hash_worker(p);
	while (show && atomic_load(&p->done) < p->nfiles) {
		progress(p, apps_done, apps);
		nanosleep(&tick, NULL);
	}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	if (show)
		progress(p, apps_done, apps);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static void fold(struct tree *t)
{
	struct sha256_ctx c;
	unsigned char d[SHA256_DIGEST_SIZE];
	char line[4 + 2 * SHA256_DIGEST_SIZE];
	struct rep_sum *sum = &t->job->sum;

	qsort(t->e, t->n, sizeof *t->e, by_path);
	sha256_init(&c);
	sum->files = (int64_t)t->n;
	sum->bytes = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct entry *e = &t->e[i];
		if (e->err)
			rep_die("%s/%s: %s", t->job->name, e->path, strerror(e->err));
		if (e->type != 'l')
			sum->bytes += e->size;
		line[0] = e->type;
		line[1] = ' ';
		rep_hex(e->digest, sizeof e->digest, line + 2);
		line[2 + 2 * SHA256_DIGEST_SIZE] = ' ';
		sha256_update(&c, 3 + 2 * SHA256_DIGEST_SIZE, (const uint8_t *)line);
		sha256_update(&c, strlen(e->path), (const uint8_t *)e->path);
		sha256_update(&c, 1, (const uint8_t *)"\n");
		free(e->path);
	}
	sha256_digest(&c, sizeof d, d);
	rep_hex(d, sizeof d, sum->checksum);
	free(t->e);
}

static void hash_chunk(int appsfd, struct rep_hash_job *jobs, size_t n, int show,
    size_t apps_done, size_t apps)
{
	struct tree *trees = calloc(n, sizeof *trees);
	struct pool p = { .appsfd = appsfd };
	size_t cap = 0;

	if (!trees)
		rep_die("out of memory");
	for (size_t i = 0; i < n; i++) {
		trees[i].job = &jobs[i];
		walk_app(appsfd, &trees[i]);
		for (size_t j = 0; j < trees[i].n; j++) {
			if (trees[i].e[j].type == 'l')
				continue;
			if (p.nfiles == cap) {
				cap = cap ? 2 * cap : 1024;
				p.files = rep_xrealloc(p.files, cap * sizeof *p.files);
			}
			p.files[p.nfiles++] = (struct file_job){ jobs[i].name, &trees[i].e[j] };
		}
	}
	hash_pool(&p, show, apps_done, apps);
	for (size_t i = 0; i < n; i++)
		fold(&trees[i]);
	free(p.files);
	free(trees);
}

/* Fills in each job's files, bytes and checksum. */
void rep_hash_apps(int appsfd, struct rep_hash_job *jobs, size_t n)
{
	int show = !rep_opt.quiet && rep_stderr_tty();

	for (size_t i = 0; i < n; i += CHUNK_APPS) {
		size_t m = n - i < CHUNK_APPS ? n - i : CHUNK_APPS;
		hash_chunk(appsfd, jobs + i, m, show, i, n);
	}
	if (show)
		fputs("\r\033[K", stderr);
}
