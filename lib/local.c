/* Local directory targets: the lock, staging with libarchive, the
 * switch of current and pruning, all relative to the target's directory
 * descriptor, and never through a link out of it (releases/, store/, the
 * log, the lock and the temporaries are opened without following
 * links). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "transport.h"

#define LOCK ".rep-push.lock"
#define STAGING ".rep-push-"
#define NEXT_CURRENT ".rep-push-current"
#define NEXT_LOG ".rep-push-log"
#define LOG_MAX (64 * 1024 * 1024)

struct local {
	char *dir;
	int dirfd;
	char lock[1024];              /* our lock line, while we hold it */
	struct rep_cleanup unlock;    /* drops it if rep-push dies */
};

static struct local *priv(const struct rep_target *t)
{
	return t->priv;
}

/* Any operand that no other kind claimed is a local directory. */
static int local_parse(struct rep_target *t, const char *arg)
{
	if (arg[0] == '-')
		rep_die("%s: a directory beginning with '-' (write ./ before it)", arg);
	struct local *l = rep_xmalloc(sizeof *l);
	memset(l, 0, sizeof *l);
	l->dir = rep_xstrdup(arg);
	l->dirfd = -1;
	t->priv = l;
	return 1;
}

/* Two operands that are one directory would lock each other out. */
static void local_identity(const struct rep_target *t, char *buf, size_t size)
{
	struct stat st;

	if (stat(priv(t)->dir, &st) == 0)
		snprintf(buf, size, "local:%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	else
		buf[0] = 0;
}

/* The release current points to: "" when there is none, or when current
 * leads anywhere else than to a release in releases/ (a name that is
 * not a release's is never taken for one, nor printed); -1 when it
 * cannot be read. */
static int read_current(int dirfd, char out[REP_NAME_MAX + 1])
{
	char link[4096];
	struct stat a, b;

	out[0] = 0;
	ssize_t n = readlinkat(dirfd, "current", link, sizeof link - 1);
	if (n < 0)
		return errno == ENOENT ? 0 : -1;
	link[n] = 0;
	const char *base = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	size_t len = strlen(base);
	char rel[REP_NAME_MAX + 16];
	if (fstatat(dirfd, "current", &a, 0) < 0)
		return 0;
	if (len <= REP_NAME_MAX && rep_release_name(base)) {
		memcpy(rel, "releases/", 9);
		memcpy(rel + 9, base, len + 1);
		if (fstatat(dirfd, rel, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino) {
			memcpy(out, base, len + 1);
			return 0;
		}
	}
	/* written otherwise (releases/R/, releases/R/rep_applications/..):
	 * the release it leads to, as the far side's cd -P finds it */
	int fd = openat(dirfd, "releases", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (rep_release_name(de->d_name) && fstatat(fd, de->d_name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(b.st_mode) && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
		    strlen(de->d_name) <= REP_NAME_MAX) {
			memcpy(out, de->d_name, strlen(de->d_name) + 1);
			break;
		}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	return 0;
}

/* releases/ or store/, never through a link: what a push writes and
 * prunes stays inside DIR. -1 with errno ENOENT when there is none, -2
 * when it is refused (told). */
static int open_sub(const struct rep_target *t, const char *name)
{
	int fd = openat(priv(t)->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR) &&
	    fstatat(priv(t)->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		rep_error_at(t->arg, "%s: %s (refused: rep-push writes only inside the target)", name,
		    S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory");
		errno = EPERM;
		return -2;
	}
	return fd;
}

static int open_releases(const struct rep_target *t)
{
	return open_sub(t, "releases");
}

static int open_store(const struct rep_target *t)
{
	return open_sub(t, "store");
}

/* A text file below dirfd read whole, NUL-terminated, into *out: 0, or
 * -1 with errno set (ENOENT: none; ELOOP: a link, not followed; EINVAL:
 * not a regular file; EFBIG: more than max bytes; EILSEQ: a NUL byte in
 * it; EAGAIN: it changed while being read). */
static int read_text(int dirfd, const char *name, size_t max, char **out)
{
	struct stat st;
	int fd = rep_open_regular(dirfd, name);

	*out = NULL;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (uintmax_t)st.st_size > max) {
		int saved = errno;
		close(fd);
		errno = (uintmax_t)st.st_size > max ? EFBIG : saved;
		return -1;
	}
	char *text = rep_xmalloc((size_t)st.st_size + 1);
	ssize_t n = rep_read_full(fd, text, (size_t)st.st_size + 1);
	int saved = errno;
	close(fd);
	if (n != st.st_size || memchr(text, 0, (size_t)n)) {
		free(text);
		errno = n < 0 ? saved : n != st.st_size ? EAGAIN : EILSEQ;
		return -1;
	}
	text[n] = 0;
	*out = text;
	return 0;
}

static const char *text_error(int err)
{
	switch (err) {
	case ELOOP: return "a symbolic link (refused, not followed)";
	case EINVAL: return "not a regular file";
	case EILSEQ: return "not text: a NUL byte in it";
	case EAGAIN: return "changed while being read";
	default: return strerror(err);
	}
}

/* Removes what crashed pushes left in releases/ or store/ (fd): their
 * private names. Under the lock: a running push's look the same. */
static void tidy(const struct rep_target *t, int fd, const char *where)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	struct dirent *de;

	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return;
	}
	while ((de = readdir(d)))
		if (strncmp(de->d_name, STAGING, strlen(STAGING)) == 0 && rep_rm_tree(fd, de->d_name) < 0)
			rep_error_at(t->arg, "%s/%s: cannot remove what a failed push left: %s",
			    where, de->d_name, strerror(errno));
	closedir(d);
}

/* Reads current and releases/ into t; under the lock, removes what
 * crashed pushes left in releases/ and store/ (a running push's files
 * look the same), warning of what cannot go: a name of its own is never
 * reused, so it is in no push's way. */
static int read_state(struct rep_target *t, int clean)
{
	struct stat st;
	int sfd = open_store(t);

	if (sfd == -2 || (sfd == -1 && errno != ENOENT)) {
		if (sfd == -1)
			rep_error_at(t->arg, "store: %s", strerror(errno));
		return -1;
	}
	if (sfd >= 0) {
		if (clean)
			tidy(t, sfd, "store");
		close(sfd);
	}

	if (fstatat(priv(t)->dirfd, "current", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode)) {
		rep_error_at(t->arg, "current: exists and is not a symbolic link");
		return -1;
	}
	if (read_current(priv(t)->dirfd, t->current) < 0) {
		rep_error_at(t->arg, "current: %s", strerror(errno));
		return -1;
	}
	int fd = open_releases(t);
	if (fd == -1 && errno == ENOENT)
		return 0;
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd == -1)
			rep_error_at(t->arg, "releases: %s", strerror(errno));
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		char sha[65] = "-", man[300];
		if (clean && strncmp(de->d_name, STAGING, strlen(STAGING)) == 0 &&
		    rep_rm_tree(fd, de->d_name) < 0)
			rep_error_at(t->arg, "releases/%s: cannot remove what a failed push left: %s",
			    de->d_name, strerror(errno));
		if (!rep_release_name(de->d_name) ||
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		snprintf(man, sizeof man, "%s/MANIFEST", de->d_name);
		rep_sha256_at(fd, man, sha);
		rep_releases_put(&t->releases, de->d_name, sha);
	}
	closedir(d);
	return 0;
}

static int stale(const char *line)
{
	char *f[3] = { 0 }, *copy = rep_xstrdup(line);
	int nf = 0, dead;

	for (char *p = copy; nf < 3 && p; nf++) {
		f[nf] = p;
		if ((p = strchr(p, '\t')))
			*p++ = 0;
	}
	long pid = nf == 3 ? strtol(f[1], NULL, 10) : 0;
	dead = nf == 3 && pid > 0 && strcmp(f[0], rep_hostname()) == 0 &&
	    kill((pid_t)pid, 0) < 0 && errno == ESRCH;
	free(copy);
	return dead;
}

/* Whether a lock line is this process's own. */
static int mine(const char *line)
{
	char own[64];

	snprintf(own, sizeof own, "%s\t%ld\t", rep_hostname(), (long)getpid());
	return strncmp(line, own, strlen(own)) == 0;
}

/* The lock file's first line; NULL, errno set, if there is none. A link
 * there is not a lock: it is refused, never followed. */
static char *lock_line(int dirfd)
{
	char *line = rep_read_small(dirfd, LOCK, 1024);

	if (line)
		line[strcspn(line, "\n")] = 0;
	return line;
}

/* Drops the lock if it is still ours. Run by the cleanup registry, on a
 * signal too: only system calls, no allocation. */
static void unlock_now(void *arg)
{
	struct local *l = arg;
	char buf[1100];
	size_t n = strlen(l->lock);

	if (!l->lock[0] || l->dirfd < 0)
		return;
	int fd = openat(l->dirfd, LOCK, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	ssize_t r = fd < 0 ? -1 : read(fd, buf, sizeof buf);
	if (fd >= 0)
		close(fd);
	if (r == (ssize_t)n + 1 && memcmp(buf, l->lock, n) == 0 && buf[n] == '\n')
		unlinkat(l->dirfd, LOCK, 0);
	l->lock[0] = 0;
}

/* A live holder: the lock's holder is told, REP_OPEN_BUSY. */
static int busy(struct rep_target *t, const char *line)
{
	char who[600];

	rep_lock_holder(line, who, sizeof who);
	if (mine(line)) {
		rep_error_at(t->arg, "the same directory as another target");
		return REP_OPEN_FAILED;
	}
	rep_error_at(t->arg, "locked by %s", who);
	return REP_OPEN_BUSY;
}

/* Moves a lock whose holder died on this host aside, checks it is the
 * one judged dead, and removes it: 1 if broken. */
static int break_stale(struct rep_target *t, const char *line, const char *aside)
{
	int dirfd = priv(t)->dirfd;
	char who[600];

	if (!stale(line) || renameat(dirfd, LOCK, dirfd, aside) < 0)
		return 0;
	char *moved = rep_read_small(dirfd, aside, 1024);
	int same = moved && strncmp(moved, line, strlen(line)) == 0;
	/* not the lock judged dead: put back, unless a new lock took its
	 * place meanwhile (then that one stands, and this one goes) */
	if (!same && linkat(dirfd, aside, dirfd, LOCK, 0) < 0 && errno != EEXIST)
		rep_error_at(t->arg, "%s: %s", LOCK, strerror(errno));
	unlinkat(dirfd, aside, 0);
	free(moved);
	if (same) {
		rep_lock_holder(line, who, sizeof who);
		rep_error_at(t->arg, "breaking a stale lock: held by %s, which is gone", who);
	}
	return same;
}

/* The lock appears complete or not at all: written under a private name,
 * then linked to LOCK, which fails if anything is there (a link too). */
static int take_lock(struct rep_target *t)
{
	struct local *l = priv(t);
	char tmp[64], aside[80];
	int rc = 0;

	snprintf(tmp, sizeof tmp, LOCK ".%ld", (long)getpid());
	snprintf(aside, sizeof aside, "%s.stale", tmp);
	rep_lock_line(l->lock, sizeof l->lock, (long)getpid());
	/* our own pid's name: anything there is a dead push's */
	rep_rm_tree(l->dirfd, tmp);
	int fd = openat(l->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%s\n", l->lock) < 0 || close(fd) < 0) {
		rep_error_at(t->arg, "%s: %s", tmp, strerror(errno));
		unlinkat(l->dirfd, tmp, 0);
		l->lock[0] = 0;
		return REP_OPEN_FAILED;
	}
	for (int tries = 0, broken = 0; linkat(l->dirfd, tmp, l->dirfd, LOCK, 0) < 0; tries++) {
		int err = errno;
		struct stat st;
		char *line = err == EEXIST ? lock_line(l->dirfd) : NULL;
		/* released between the link and the read: try again */
		if (err == EEXIST && !line && errno == ENOENT && tries < 100)
			continue;
		if (!line && err == EEXIST && fstatat(l->dirfd, LOCK, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(st.st_mode))
			rep_error_at(t->arg, "%s: not a regular file (refused, not followed)", LOCK);
		else if (!line)
			rep_error_at(t->arg, "%s: %s", LOCK, strerror(err == EEXIST ? errno : err));
		if (line && !broken && (broken = break_stale(t, line, aside))) {
			free(line);
			continue;
		}
		rc = line ? busy(t, line) : REP_OPEN_FAILED;
		free(line);
		break;
	}
	unlinkat(l->dirfd, tmp, 0);
	if (rc < 0) {
		l->lock[0] = 0;
		return rc;
	}
	rep_cleanup_add(&l->unlock, unlock_now, l);
	return 0;
}

/* The private lock files (LOCK.PID, LOCK.PID.stale) of pushes killed
 * while they took a lock: those whose process is gone on this host. */
static void remove_dead_lock_files(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	size_t n = strlen(LOCK ".");

	while (d && (de = readdir(d))) {
		char *end;
		if (strncmp(de->d_name, LOCK ".", n) != 0)
			continue;
		long pid = strtol(de->d_name + n, &end, 10);
		if (end == de->d_name + n || (*end && strcmp(end, ".stale") != 0) || pid <= 0)
			continue;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			unlinkat(dirfd, de->d_name, 0);
	}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
}

/* The private directories (.rep-push-PID) that hook runners (far.sh,
 * run by local_hook) left in DIR when they were killed: those whose
 * process is gone on this host. Under the lock, as the far side's tidy.
 * One whose process runs is a hook of a push killed mid-way, which
 * still holds the target as the far side of an ssh one would: its pid,
 * else 0. */
static long remove_dead_runners(const struct rep_target *t)
{
	long alive = 0;
	int dirfd = priv(t)->dirfd, fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	size_t n = strlen(STAGING);

	while (d && (de = readdir(d))) {
		const char *p = de->d_name + n;
		if (strncmp(de->d_name, STAGING, n) != 0 || !*p || strspn(p, "0123456789") != strlen(p) ||
		    strlen(p) > 9)
			continue;
		long pid = strtol(p, NULL, 10);
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			alive = pid;
		else if (rep_rm_tree(dirfd, de->d_name) < 0)
			rep_error_at(t->arg, "%s: cannot remove what a failed push left: %s", de->d_name,
			    strerror(errno));
	}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	return alive;
}

/* Opens DIR; a push makes it if missing (its parent must exist). */
static int open_dir(struct rep_target *t, enum rep_lock how)
{
	struct local *l = priv(t);
	struct stat st;

	l->dirfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dirfd < 0 && errno == ENOENT && how == REP_LOCK_PUSH) {
		/* another push may make it first: then it is there to open */
		if (mkdir(l->dir, 0777) < 0 && errno != EEXIST) {
			rep_error_at(t->arg, "cannot create the directory: %s", errno == ENOENT ?
			    "its parent directory does not exist" : strerror(errno));
			return REP_OPEN_FAILED;
		}
		l->dirfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (l->dirfd >= 0 || (errno == ENOENT && how != REP_LOCK_PUSH))
		return 0;
	if (errno == ENOTDIR && stat(l->dir, &st) == 0)
		rep_error_at(t->arg, "not a directory");
	else
		rep_error_at(t->arg, "%s", strerror(errno));
	return REP_OPEN_FAILED;
}

static void read_holder(struct rep_target *t)
{
	char *line = lock_line(priv(t)->dirfd);

	if (line && stale(line))
		rep_lock_holder(line, t->stale, sizeof t->stale);
	else if (line)
		rep_lock_holder(line, t->holder, sizeof t->holder);
	else if (errno != ENOENT)
		rep_lock_holder("", t->holder, sizeof t->holder);
	free(line);
}

/* The hooks of the live release's applications into t->hooks, as the
 * far side's hook finds them (.rep a directory, no link; PHASE a
 * regular file): rep-push runs only these of what leaves or changes. */
static void read_hooks(struct rep_target *t)
{
	char path[REP_NAME_MAX + 32];
	int fd = open_releases(t), afd;
	DIR *d;

	snprintf(path, sizeof path, "%s/rep_applications", t->current);
	afd = fd < 0 ? -1 : openat(fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	if (afd < 0 || !(d = fdopendir(afd))) {
		if (afd >= 0)
			close(afd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		char rep[sizeof de->d_name + 8], key[sizeof de->d_name + 24];
		if (!rep_name_valid(de->d_name))
			continue;
		snprintf(rep, sizeof rep, "%s/.rep", de->d_name);
		if (fstatat(afd, rep, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		for (unsigned b = 0; b < 4; b++) {
			snprintf(key, sizeof key, "%s/%s", rep, rep_hook_phases[b]);
			if (fstatat(afd, key, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
				continue;
			snprintf(key, sizeof key, "%s\t%s", de->d_name, rep_hook_phases[b]);
			rep_strset_add(&t->hooks, key, NULL);
		}
	}
	closedir(d);
}

/* The deployment log and the live release's MANIFEST into t. One that
 * cannot be read fails a push, which composes on it; a rollback, which
 * does not, goes on without it. */
static int read_texts(struct rep_target *t, enum rep_lock how)
{
	char path[REP_NAME_MAX + 16];

	if (read_text(priv(t)->dirfd, "log", LOG_MAX, &t->log) < 0 && errno != ENOENT) {
		rep_error_at(t->arg, "log: %s", errno == EFBIG ? "larger than 64 MiB" : text_error(errno));
		return -1;
	}
	char *mark;
	if (read_text(priv(t)->dirfd, "hooks.pending", 4096, &mark) < 0 && errno != ENOENT) {
		rep_error_at(t->arg, "hooks.pending: %s", text_error(errno));
		return -1;
	}
	if (mark)
		rep_pending_value(mark, strcspn(mark, "\n"), t->pending, sizeof t->pending);
	free(mark);
	if (!t->current[0])
		return 0;
	read_hooks(t);
	snprintf(path, sizeof path, "%s/MANIFEST", t->current);
	int fd = open_releases(t);
	int rc = fd < 0 ? -1 : read_text(fd, path, REP_MANIFEST_MAX, &t->live_manifest);
	int err = errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0 && how == REP_LOCK_PUSH) {
		rep_error_at(t->arg, "releases/%s: %s", path, err == EFBIG ? "larger than a MANIFEST may be" :
		    text_error(err));
		return -1;
	}
	return 0;
}

/* Opens the target and, unless how is REP_LOCK_READ, locks it; then
 * reads its state. A push makes DIR and releases/ if missing; a rollback
 * makes nothing. */
static int local_open(struct rep_target *t, enum rep_lock how)
{
	struct local *l = priv(t);
	int rc = open_dir(t, how);

	if (rc < 0 || l->dirfd < 0)
		return rc;      /* nothing there: nothing live, nothing to lock */
	if (how == REP_LOCK_READ) {
		read_holder(t);
		return read_state(t, 0) < 0 || read_texts(t, how) < 0 ? REP_OPEN_FAILED : 0;
	}
	/* a store/ that will be refused: refused before anything is made */
	int sfd = open_store(t);
	if (sfd == -2)
		return REP_OPEN_FAILED;
	if (sfd >= 0)
		close(sfd);
	if (how == REP_LOCK_PUSH && mkdirat(l->dirfd, "releases", 0777) < 0 && errno != EEXIST) {
		rep_error_at(t->arg, "releases: %s", strerror(errno));
		return REP_OPEN_FAILED;
	}
	if ((rc = take_lock(t)) < 0)
		return rc;
	remove_dead_lock_files(l->dirfd);
	long runner = remove_dead_runners(t);
	if (runner) {
		rep_error_at(t->arg, "locked by a hook of an earlier push, still running (process %ld);"
		    " try again once it ends (within its --hook-timeout)", runner);
		return REP_OPEN_BUSY;
	}
	const char *next[] = { NEXT_CURRENT, NEXT_LOG };
	for (size_t i = 0; i < 2; i++)
		if (unlinkat(l->dirfd, next[i], 0) < 0 && errno != ENOENT) {
			rep_error_at(t->arg, "%s: %s", next[i], strerror(errno));
			return REP_OPEN_FAILED;
		}
	return read_state(t, 1) < 0 || read_texts(t, how) < 0 ? REP_OPEN_FAILED : 0;
}

/* Whether a MANIFEST's text has a row (a line not a comment). */
static int has_rows(const char *text)
{
	for (const char *p = text; *p; p += strcspn(p, "\n"), p += *p == '\n')
		if (*p != '#' && *p != '\n')
			return 1;
	return 0;
}

/* The MANIFEST and the links of releases/R, R being t->current: 0, -1
 * with why (a push may have pruned R since current named it), or -2
 * (told). */
static int read_live(struct rep_target *t, char *why, size_t size)
{
	char path[REP_NAME_MAX + 32], link[4096];
	int fd = open_releases(t);

	snprintf(path, sizeof path, "%s/MANIFEST", t->current);
	if (fd < 0 || read_text(fd, path, REP_MANIFEST_MAX, &t->live_manifest) < 0) {
		if (fd == -2)
			return -2;      /* told */
		if (fd == -1)
			snprintf(why, size, "releases: %s", strerror(errno));
		else
			snprintf(why, size, "releases/%s: %s", path,
			    errno == EFBIG ? "larger than a MANIFEST may be" : text_error(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(path, sizeof path, "%s/rep_applications", t->current);
	int afd = openat(fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int err = errno;
	DIR *d = afd < 0 ? NULL : fdopendir(afd);
	if (!d) {
		struct stat st;
		if (afd >= 0)
			close(afd);
		if (afd < 0 && err == ENOENT && !has_rows(t->live_manifest))
			*why = 0;       /* a release without applications may have none */
		else if (afd < 0 && err == ENOENT)
			snprintf(why, size, "releases/%s: no such directory", path);
		else if (afd < 0 && (err == ELOOP || err == ENOTDIR) &&
		    fstatat(fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			snprintf(why, size, "releases/%s: a symbolic link (refused, not followed)", path);
		else
			snprintf(why, size, "releases/%s: %s", path, strerror(afd < 0 ? err : errno));
		close(fd);
		return *why ? -1 : 0;
	}
	close(fd);
	struct dirent *de;
	int rc = 0;
	errno = 0;
	while ((de = readdir(d))) {
		/* no application's name, as the far side skips them */
		if (strpbrk(de->d_name, "\t\n"))
			continue;
		ssize_t n = readlinkat(afd, de->d_name, link, sizeof link - 1);
		if (n < 0 && errno != EINVAL) {
			snprintf(why, size, "releases/%s/%s: %s", path, de->d_name, strerror(errno));
			rc = -1;
			break;
		}
		if (n >= 0) {
			link[n] = 0;
			/* refused as the far side refuses it, which reads
			 * links a line each */
			if (strchr(link, '\n')) {
				snprintf(why, size, "releases/%s: a link that cannot be read as one line", path);
				rc = -1;
				break;
			}
			rep_strset_add(&t->links, de->d_name, rep_xstrdup(link));
		}
		errno = 0;
	}
	if (rc == 0 && errno) {
		snprintf(why, size, "releases/%s: %s", path, strerror(errno));
		rc = -1;
	}
	closedir(d);
	return rc;
}

/* rep-push --status: current, the MANIFEST of the release it names and
 * its links, read from that release and never through current again,
 * with no lock. A push in progress only moves current, and its pruning
 * may remove the release being read: then, current having moved, the
 * new one is read instead. */
static int local_live(struct rep_target *t)
{
	struct local *l = priv(t);
	char why[REP_NAME_MAX * 2 + 512], was[REP_NAME_MAX + 1];
	struct stat st;
	int rc = open_dir(t, REP_LOCK_READ);

	if (rc < 0)
		return rc;
	/* a target misspelt must not pass for one with nothing live */
	if (l->dirfd < 0) {
		rep_error_at(t->arg, "no such directory");
		return REP_OPEN_FAILED;
	}
	/* a releases/ that is not a directory is refused (told), as the
	 * far side refuses it */
	int fd = open_releases(t);
	if (fd == -2)
		return REP_OPEN_FAILED;
	if (fd >= 0)
		close(fd);
	for (int tries = 1;; tries++) {
		if (fstatat(l->dirfd, "current", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode)) {
			rep_error_at(t->arg, "current: exists and is not a symbolic link");
			return REP_OPEN_FAILED;
		}
		if (read_current(l->dirfd, t->current) < 0) {
			rep_error_at(t->arg, "current: %s", strerror(errno));
			return REP_OPEN_FAILED;
		}
		if (!t->current[0]) {
			/* dangling (a release removed by hand) or leading
			 * elsewhere: what is live is not known */
			if (fstatat(l->dirfd, "current", &st, AT_SYMLINK_NOFOLLOW) == 0) {
				rep_error_at(t->arg, "current: leads to no release of releases/");
				return REP_OPEN_FAILED;
			}
			return 0;
		}
		rc = read_live(t, why, sizeof why);
		/* the reading counts if current still names that release:
		 * else a push may have pruned it while it was read */
		memcpy(was, t->current, sizeof was);
		if (read_current(l->dirfd, t->current) < 0) {
			rep_error_at(t->arg, "current: %s", strerror(errno));
			return REP_OPEN_FAILED;
		}
		if (strcmp(was, t->current) == 0) {
			if (rc == 0)
				return 0;
			if (rc == -1)
				rep_error_at(t->arg, "%s", why);
			return REP_OPEN_FAILED;
		}
		free(t->live_manifest);
		t->live_manifest = NULL;
		rep_strset_free(&t->links);
		if (tries == 9) {
			rep_error_at(t->arg, "current: switched %d times while it was read; try again", tries);
			return REP_OPEN_FAILED;
		}
	}
}

static void local_close(struct rep_target *t)
{
	struct local *l = priv(t);

	if (!l)
		return;
	rep_cleanup_remove(&l->unlock);
	unlock_now(l);
	if (l->dirfd >= 0)
		close(l->dirfd);
	free(l->dir);
	free(l);
	t->priv = NULL;
}

/* Staging runs in a child process of its own: a failure dies there,
 * taking its private directories (the unpacked archive, the copy of an
 * old release, the release being made) with it. */
struct staging {
	int fd;
	char name[64];
	struct rep_cleanup remove;
};

static void remove_staging(void *arg)
{
	struct staging *s = arg;

	if (s->name[0])
		rep_rm_tree(s->fd, s->name);
}

/* A private name below fd, removed (whatever it then is) if the
 * staging dies while it is there. */
static void private_name(struct staging *s, int fd, const char *suffix)
{
	s->fd = fd;
	snprintf(s->name, sizeof s->name, STAGING "%ld%s", (long)getpid(), suffix);
	rep_cleanup_add(&s->remove, remove_staging, s);
}

/* A private directory of mode 0755 (whatever the umask, as everything
 * the archive holds) below fd; its descriptor. */
static int private_dir(struct staging *s, int fd, const char *where, const char *suffix)
{
	private_name(s, fd, suffix);
	if (mkdirat(fd, s->name, 0700) < 0)
		rep_die_errno("%s/%s", where, s->name);
	int d = openat(fd, s->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0 || fchmod(d, 0755) < 0)
		rep_die_errno("%s/%s", where, s->name);
	return d;
}

/* The private directory becomes to (which must not exist) below it. */
static void private_keep(struct staging *s, const char *where, const char *to)
{
	if (rep_rename_noreplace(s->fd, s->name, s->fd, to) < 0)
		rep_die_errno("%s/%s", where, to);
	s->name[0] = 0;
	rep_cleanup_remove(&s->remove);
	if (fsync(s->fd) < 0)
		rep_die_errno("%s", where);
}

static void private_drop(struct staging *s, const char *where)
{
	if (rep_rm_tree(s->fd, s->name) < 0)
		rep_die_errno("%s/%s", where, s->name);
	s->name[0] = 0;
	rep_cleanup_remove(&s->remove);
}

/* A directory below fd, not through a link. */
static int open_subdir(int fd, const char *name, const char *where)
{
	int d = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (d < 0 && (errno == ELOOP || errno == ENOTDIR) &&
	    fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		rep_die("%s/%s: %s", where, name, S_ISLNK(st.st_mode) ?
		    "a symbolic link (refused, not followed)" : "not a directory");
	if (d < 0)
		rep_die_errno("%s/%s", where, name);
	return d;
}

/* The SHA-256 of the MANIFEST of name below fd (where: its label). */
static void manifest_sha(int fd, const char *where, const char *name, char sha[65])
{
	int d = open_subdir(fd, name, where);

	if (rep_sha256_at(d, "MANIFEST", sha) < 0)
		rep_die("%s/%s/MANIFEST: %s", where, name, text_error(errno));
	close(d);
}

/* The parsed MANIFEST of store/S, read once per staging. */
static const struct rep_manifest *store_manifest(int storefd, const char *s, struct rep_strset *cache)
{
	long k = rep_strset_find(cache, s);
	char *text;

	if (k >= 0)
		return cache->val[k];
	struct rep_manifest *m = rep_xmalloc(sizeof *m);
	char label[REP_NAME_MAX + 16];
	memset(m, 0, sizeof *m);
	snprintf(label, sizeof label, "store/%s", s);
	int d = open_subdir(storefd, s, "store");
	if (read_text(d, "MANIFEST", REP_MANIFEST_MAX, &text) < 0)
		rep_die("%s/MANIFEST: %s", label, errno == EFBIG ? "larger than a MANIFEST may be" :
		    text_error(errno));
	close(d);
	rep_manifest_parse(label, text, m);
	free(text);
	rep_strset_add(cache, s, m);
	return m;
}

/* Copies releases/BASE, of the old format, to store/BASE, checked as an
 * unpacked archive is, unless it is there: its applications are then
 * linked to as any push's. */
static void upgrade(struct rep_target *t, int relfd, int storefd, const char *base)
{
	static struct staging copy;
	struct stat st;
	char have[65], want[65], label[REP_NAME_MAX + 32];

	if (fstatat(storefd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		manifest_sha(storefd, "store", base, have);
		manifest_sha(relfd, "releases", base, want);
		if (strcmp(have, want) != 0)
			rep_die("store/%s exists and differs from releases/%s", base, base);
		/* not made by this push: checked whole before any release
		 * links to it, as whoever may write DIR could have made it */
		int fd = open_subdir(storefd, base, "store");
		snprintf(label, sizeof label, "store/%s", base);
		rep_release_verify(-1, fd, label, want);
		close(fd);
		return;
	}
	if (errno != ENOENT)
		rep_die_errno("store/%s", base);
	private_name(&copy, storefd, "-base");
	if (rep_copy_tree(relfd, base, storefd, copy.name) < 0)
		rep_die("releases/%s: cannot copy it to store/: %s", base, errno == EINVAL ?
		    "it holds what is no directory, regular file or symbolic link" : strerror(errno));
	int fd = open_subdir(storefd, copy.name, "store");
	/* what differs in the copy differs in the release */
	snprintf(label, sizeof label, "releases/%s", base);
	rep_release_verify(-1, fd, label, rep_releases_get(&t->releases, base));
	if (fsync(fd) < 0)
		rep_die_errno("store/%s", copy.name);
	close(fd);
	private_keep(&copy, "store", base);
}

/* Where the release's application name (row a) is: store/RELEASE if the
 * archive brings it as it is to be, else where the base release's link
 * for it leads, or store/BASE if the base is of the old format (*old
 * then set). Into s. */
static void source_of(const struct rep_compose *c, int relfd, int *basefd, const char *release,
    const struct rep_manifest *m, const struct rep_manifest_app *a, char s[REP_NAME_MAX + 1], int *old)
{
	const char *name = a->app.name;
	long k = rep_strset_find(&m->apps, name);
	const struct rep_manifest_app *in = k >= 0 ? m->apps.val[k] : NULL;
	char link[4096];
	struct stat st;

	if (in && !in->remove && strcmp(in->app.checksum, a->app.checksum) == 0) {
		snprintf(s, REP_NAME_MAX + 1, "%s", release);
		return;
	}
	if (!*c->base)
		rep_die("%s: in the release's MANIFEST, not in the archive, and no release to take it from", name);
	if (*basefd < 0) {
		char where[REP_NAME_MAX + 16];
		int b = open_subdir(relfd, c->base, "releases");
		snprintf(where, sizeof where, "releases/%s", c->base);
		*basefd = open_subdir(b, "rep_applications", where);
		close(b);
	}
	if (fstatat(*basefd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		rep_die("releases/%s/rep_applications/%s: %s (the release's MANIFEST lists it)", c->base, name,
		    errno == ENOENT ? "missing" : strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		snprintf(s, REP_NAME_MAX + 1, "%s", c->base);
		*old = 1;
		return;
	}
	ssize_t n = S_ISLNK(st.st_mode) ? readlinkat(*basefd, name, link, sizeof link - 1) : -1;
	if (n < 0)
		rep_die("releases/%s/rep_applications/%s: %s", c->base, name,
		    S_ISLNK(st.st_mode) ? strerror(errno) : "neither a directory nor a symbolic link");
	link[n] = 0;
	if (!rep_store_link(link, name, s))
		rep_die("releases/%s/rep_applications/%s: not a link to " REP_STORE_LINK
		    "RELEASE/rep_applications/%s", c->base, name, name);
}

/* The directory fd (what) is one a push made: the login's, mode 0755,
 * so that no other could have put or changed anything in it. */
static void ours(int fd, const char *what, const char *name)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		rep_die_errno("%s%s", what, name);
	if (st.st_uid != geteuid() || (st.st_mode & 07777) != 0755)
		rep_die("%s%s: not as rep-push leaves it (owned by the login that pushes, mode 755)", what, name);
}

/* store/S/rep_applications/NAME is a directory (not through a link) with
 * the content of row a, in directories only the login may change: the
 * content itself was checked when it was unpacked, or just now
 * (upgrade(), a store entry found there), or is live already. */
static void check_source(int storefd, const char *s, const struct rep_manifest_app *a,
    const struct rep_manifest *sm)
{
	char where[REP_NAME_MAX + 32];

	snprintf(where, sizeof where, "store/%s", s);
	struct stat st;
	if (fstat(storefd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022))
		rep_die("store: not as rep-push leaves it (owned by the login that pushes, writable by none other)");
	int d = open_subdir(storefd, s, "store");
	ours(d, where, "");
	int apps = open_subdir(d, "rep_applications", where);
	ours(apps, where, "/rep_applications");
	int app = openat(apps, a->app.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (app < 0)
		rep_die("%s/rep_applications/%s: %s", where, a->app.name,
		    errno == ELOOP || errno == ENOTDIR ? "not a directory" : strerror(errno));
	snprintf(where + strlen(where), sizeof where - strlen(where), "/rep_applications/");
	ours(app, where, a->app.name);
	close(app);
	close(apps);
	close(d);
	long k = rep_strset_find(&sm->apps, a->app.name);
	if (k < 0 || !rep_release_same_app(a, sm->apps.val[k]))
		rep_die("%s: the release's MANIFEST lists it otherwise than %s/MANIFEST", a->app.name, where);
}

/* The release's own directory, made privately: its MANIFEST (the full
 * one, c), and in rep_applications/ a link per application into store/
 * (from[i] for row i). */
static void make_release(int relfd, const char *release, const struct rep_compose *c,
    const struct rep_manifest *full, char (*from)[REP_NAME_MAX + 1])
{
	static struct staging made;
	char link[2 * REP_NAME_MAX + 64];
	int fd = private_dir(&made, relfd, "releases", "");
	int mfd = openat(fd, "MANIFEST", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (mfd < 0 || fchmod(mfd, 0644) < 0 || rep_write_full(mfd, c->text, c->len) < 0 ||
	    fsync(mfd) < 0 || close(mfd) < 0)
		rep_die_errno("releases/%s/MANIFEST", made.name);
	if (mkdirat(fd, "rep_applications", 0700) < 0)
		rep_die_errno("releases/%s/rep_applications", made.name);
	int apps = openat(fd, "rep_applications", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (apps < 0 || fchmod(apps, 0755) < 0)
		rep_die_errno("releases/%s/rep_applications", made.name);
	for (size_t i = 0; i < full->apps.n; i++) {
		snprintf(link, sizeof link, REP_STORE_LINK "%s/rep_applications/%s", from[i], full->apps.v[i]);
		if (symlinkat(link, apps, full->apps.v[i]) < 0)
			rep_die_errno("releases/%s/rep_applications/%s", made.name, full->apps.v[i]);
	}
	if (fsync(apps) < 0 || fsync(fd) < 0)
		rep_die_errno("releases/%s", made.name);
	close(apps);
	close(fd);
	private_keep(&made, "releases", release);
}

/* Unpacks the archive as store/RELEASE (or finds it there, the same),
 * copies an old-format base to store/ if the release takes any of its
 * applications, then makes releases/RELEASE of links. */
static int local_stage(struct rep_target *t, const struct rep_stage_src *src, const char *release,
    const struct rep_manifest *m, const struct rep_compose *c)
{
	static struct staging unpacked;
	struct stat st;
	char sha[65];
	int relfd = open_releases(t), storefd;

	if (relfd < 0)
		rep_die_errno("releases");
	/* 0755 whatever the umask: what another may rename in store/ could
	 * become what a release links to */
	int made = mkdirat(priv(t)->dirfd, "store", 0700) == 0;
	if (!made && errno != EEXIST)
		rep_die_errno("store");
	if ((storefd = open_store(t)) < 0 || (made && fchmod(storefd, 0755) < 0))
		rep_die_errno("store");

	/* the full MANIFEST first: a bad one fails before the unpacking */
	rep_sha256_hex(c->text, c->len, sha);
	if (strcmp(sha, c->sha) != 0 || memchr(c->text, 0, c->len))
		rep_die("the release's MANIFEST: not the one composed (SHA-256 %s, not %s)", sha, c->sha);
	struct rep_manifest full = { .release = 1 };
	char *text = rep_xmalloc(c->len + 1);
	memcpy(text, c->text, c->len);
	text[c->len] = 0;
	rep_manifest_parse("the release's MANIFEST", text, &full);
	free(text);
	if (full.version != 2)
		rep_die("the release's MANIFEST: version 1, not the MANIFEST of a release");
	for (size_t i = 0; i < full.apps.n; i++)
		if (((const struct rep_manifest_app *)full.apps.val[i])->remove)
			rep_die("the release's MANIFEST: %s: a removal row", full.apps.v[i]);

	int fd = private_dir(&unpacked, storefd, "store", "");
	rep_archive_unpack_from(src->feed, src->path, fd, m);
	close(fd);
	if (fstatat(storefd, release, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		/* pushed before, its release pruned since: the same archive
		 * only (what is there is not read again) */
		manifest_sha(storefd, "store", release, sha);
		if (strcmp(sha, m->manifest_sha256) != 0)
			rep_die("store/%s exists and differs from the archive", release);
		/* live nowhere, perhaps, since it was checked: checked again
		 * whole before a release links to it */
		char label[REP_NAME_MAX + 16];
		snprintf(label, sizeof label, "store/%s", release);
		fd = open_subdir(storefd, release, "store");
		rep_release_verify(-1, fd, label, sha);
		close(fd);
		private_drop(&unpacked, "store");
	} else if (errno != ENOENT) {
		rep_die_errno("store/%s", release);
	} else {
		private_keep(&unpacked, "store", release);
	}

	int basefd = -1, old = 0;
	char (*from)[REP_NAME_MAX + 1] = rep_xmalloc((full.apps.n + 1) * sizeof *from);
	for (size_t i = 0; i < full.apps.n; i++)
		source_of(c, relfd, &basefd, release, m, full.apps.val[i], from[i], &old);
	if (old)
		upgrade(t, relfd, storefd, c->base);
	struct rep_strset cache = { 0 };
	for (size_t i = 0; i < full.apps.n; i++)
		check_source(storefd, from[i], full.apps.val[i],
		    strcmp(from[i], release) == 0 ? m : store_manifest(storefd, from[i], &cache));
	for (size_t i = 0; i < cache.n; i++)
		rep_manifest_free(cache.val[i]);
	rep_strset_free(&cache);
	make_release(relfd, release, c, &full, from);
	free(from);
	rep_manifest_free(&full);
	if (basefd >= 0)
		close(basefd);
	close(storefd);
	close(relfd);
	return 0;
}

/* Appends line and a line break to DIR/log: the log as it is and the
 * line are written to a private file, made durable and renamed over the
 * log (a link there is replaced, never followed, as anything else that
 * is not a regular file); 0, or -1 (told) with the log as it was. */
static int append_log(struct rep_target *t, const char *line)
{
	int dirfd = priv(t)->dirfd;
	char *old = NULL;

	if (strchr(line, '\n')) {
		rep_error_at(t->arg, "log: a line with a line break in it");
		return -1;
	}
	if (read_text(dirfd, "log", LOG_MAX, &old) < 0 && errno != ENOENT && errno != ELOOP &&
	    errno != EINVAL) {
		rep_error_at(t->arg, "log: %s", errno == EFBIG ? "larger than 64 MiB" : text_error(errno));
		return -1;
	}
	size_t n = old ? strlen(old) : 0;
	int fd = -1;
	if (unlinkat(dirfd, NEXT_LOG, 0) < 0 && errno != ENOENT)
		goto fail;
	fd = openat(dirfd, NEXT_LOG, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || rep_write_full(fd, old ? old : "", n) < 0 ||
	    (n && old[n - 1] != '\n' && rep_write_full(fd, "\n", 1) < 0) ||
	    rep_write_full(fd, line, strlen(line)) < 0 || rep_write_full(fd, "\n", 1) < 0 ||
	    fsync(fd) < 0)
		goto fail;
	int rc = close(fd);
	fd = -1;
	if (rc < 0 || renameat(dirfd, NEXT_LOG, dirfd, "log") < 0)
		goto fail;
	free(old);
	if (fsync(dirfd) < 0) {
		/* renamed: the line may be there or not */
		rep_error_at(t->arg, "log: %s", strerror(errno));
		return -1;
	}
	return 0;
fail:
	rep_error_at(t->arg, "log: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, NEXT_LOG, 0);
	free(old);
	return -1;
}

/* Logs line (unless NULL), then switches. */
static int local_switch(struct rep_target *t, const char *to, const char *line)
{
	int dirfd = priv(t)->dirfd;
	char now[REP_NAME_MAX + 1], link[REP_NAME_MAX + 16];

	if (read_current(dirfd, now) < 0 || strcmp(now, t->current) != 0) {
		rep_error_at(t->arg, "current changed during the push (now '%s')", now);
		return REP_SWITCH_FAILED;
	}
	if (line && append_log(t, line) < 0)
		return REP_SWITCH_FAILED;
	if (!*to) {
		if (unlinkat(dirfd, "current", 0) < 0 && errno != ENOENT) {
			rep_error_at(t->arg, "current: %s", strerror(errno));
			return REP_SWITCH_FAILED;
		}
	} else {
		snprintf(link, sizeof link, "releases/%s", to);
		unlinkat(dirfd, NEXT_CURRENT, 0);
		if (symlinkat(link, dirfd, NEXT_CURRENT) < 0 ||
		    renameat(dirfd, NEXT_CURRENT, dirfd, "current") < 0) {
			rep_error_at(t->arg, "current: %s", strerror(errno));
			unlinkat(dirfd, NEXT_CURRENT, 0);
			return REP_SWITCH_FAILED;
		}
	}
	if (fsync(dirfd) < 0 || read_current(dirfd, now) < 0 || strcmp(now, to) != 0) {
		rep_error_at(t->arg, "current does not point to %s%s after the switch",
		    *to ? "releases/" : "nothing", to);
		return REP_SWITCH_UNKNOWN;
	}
	return 0;
}

/* Adds to used every S that the links of releases/NAME/rep_applications
 * lead into (store/S/...); -1 (told) if it cannot be read. */
static int links_of(const struct rep_target *t, int relfd, const char *name, struct rep_strset *used)
{
	char link[4096], sub[REP_NAME_MAX + 32];
	size_t pre = strlen(REP_STORE_LINK);
	struct stat st;
	struct dirent *de;

	snprintf(sub, sizeof sub, "%s/rep_applications", name);
	int fd = openat(relfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), err = errno;
	if (fd < 0 && (err == ENOENT ||
	    (fstatat(relfd, sub, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))))
		return 0;    /* no applications: it links to nothing */
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		rep_error_at(t->arg, "releases/%s: %s", sub, strerror(fd < 0 ? err : errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d))) {
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
			continue;
		ssize_t n = readlinkat(fd, de->d_name, link, sizeof link - 1);
		if (n < 0)
			break;
		link[n] = 0;
		/* whatever follows: a store entry a link names is kept */
		if (strncmp(link, REP_STORE_LINK, pre) != 0)
			continue;
		link[pre + strcspn(link + pre, "/")] = 0;
		if (rep_strset_find(used, link + pre) < 0)
			rep_strset_add(used, link + pre, NULL);
	}
	err = errno;
	closedir(d);
	if (err) {
		rep_error_at(t->arg, "releases/%s: %s", sub, strerror(err));
		return -1;
	}
	return 0;
}

/* Removes every store/S that no release (of releases/, any format) links
 * into; store entries that are no release's name are left to the lock's
 * tidying (a push's private ones) or alone. Nothing goes if any release
 * cannot be read. */
static void collect_store(struct rep_target *t, int relfd)
{
	struct rep_strset used = { 0 };
	struct dirent *de;
	struct stat st;
	char gone[REP_NAME_MAX + 64];
	int storefd = open_store(t), ok = 1;

	if (storefd < 0) {
		if (storefd == -1 && errno != ENOENT)
			rep_error_at(t->arg, "store: %s", strerror(errno));
		return;
	}
	int fd = dup(relfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		ok = 0;
	}
	if (d)
		rewinddir(d);
	while (ok && (errno = 0, de = readdir(d)))
		if (rep_release_name(de->d_name) && fstatat(relfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode) && links_of(t, relfd, de->d_name, &used) < 0)
			ok = 0;
	if (ok && errno) {
		rep_error_at(t->arg, "releases: %s", strerror(errno));
		ok = 0;
	}
	if (d)
		closedir(d);
	fd = ok ? dup(storefd) : -1;
	d = fd < 0 ? NULL : fdopendir(fd);
	if (ok && !d && fd >= 0)
		close(fd);
	char **names = NULL;
	size_t n = 0, cap = 0;
	while (d && (errno = 0, de = readdir(d))) {
		if (!rep_release_name(de->d_name) || rep_strset_find(&used, de->d_name) >= 0)
			continue;
		if (n == cap)
			names = rep_xrealloc(names, (cap = cap ? 2 * cap : 16) * sizeof *names);
		names[n++] = rep_xstrdup(de->d_name);
	}
	if (d)
		closedir(d);
	if (!ok)
		rep_error_at(t->arg, "store: not cleaned (what the releases link to is unknown)");
	for (size_t i = 0; i < n; i++) {
		snprintf(gone, sizeof gone, STAGING "%ld-%s", (long)getpid(), names[i]);
		if (rep_rename_noreplace(storefd, names[i], storefd, gone) < 0)
			rep_error_at(t->arg, "store/%s: %s", names[i], strerror(errno));
		else if (rep_rm_tree(storefd, gone) < 0)
			rep_error_at(t->arg, "store/%s: cannot remove all of it (left as store/%s): %s",
			    names[i], gone, strerror(errno));
		free(names[i]);
	}
	free(names);
	rep_strset_free(&used);
	close(storefd);
}

/* Each release first leaves the release names (renamed to a name the
 * next lock's cleaning removes), then is removed: one that cannot be
 * removed whole is never a release a rollback could return to, and it
 * does not keep the others from going. -1 if any could not be renamed.
 * Then what of store/ no release left links to goes. */
static int local_prune(struct rep_target *t, char *const *names, size_t n)
{
	int fd = open_releases(t), rc = 0;
	char gone[REP_NAME_MAX + 64];

	if (fd < 0) {
		if (fd == -1)
			rep_error_at(t->arg, "releases: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(gone, sizeof gone, STAGING "%ld-%s", (long)getpid(), names[i]);
		if (rep_rename_noreplace(fd, names[i], fd, gone) < 0) {
			rep_error_at(t->arg, "releases/%s: %s", names[i], strerror(errno));
			rc = -1;
			continue;
		}
		/* out of the release names: gone, whatever the others do */
		rep_releases_put(&t->releases, names[i], NULL);
		if (rep_rm_tree(fd, gone) < 0) {
			rep_error_at(t->arg, "releases/%s: cannot remove all of it (left as releases/%s): %s",
			    names[i], gone, strerror(errno));
		}
	}
	collect_store(t, fd);
	close(fd);
	return rc;
}

/* In a process of its own, which dies naming what differs. */
static int local_verify(struct rep_target *t, const char *release, const char *msha)
{
	pid_t pid = rep_child_fork(SIGKILL, 0);

	if (pid == 0) {
		char label[REP_NAME_MAX + 16];
		int fd = open_releases(t), storefd = open_store(t), err = errno;
		snprintf(label, sizeof label, "releases/%s", release);
		rep_msg_context(t->arg);
		int dirfd = fd < 0 ? -1 : openat(fd, release, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dirfd < 0)
			rep_die_errno("%s", label);
		if (storefd == -2)
			_exit(1);
		if (storefd == -1 && (errno = err) != ENOENT)
			rep_die_errno("store");
		/* no store/: a release of links misses what it links to */
		rep_release_verify(storefd < 0 ? REP_NO_STORE : storefd, dirfd, label, msha);
		_exit(0);
	}
	int status = rep_child_wait(pid);
	if (status < 0)
		rep_die_errno("wait");
	if (WIFSIGNALED(status))
		rep_error_at(t->arg, "releases/%s: checking it was killed by signal %d", release,
		    WTERMSIG(status));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static char *local_manifest(struct rep_target *t, const char *release)
{
	char path[REP_NAME_MAX + 32];
	int fd = open_releases(t);

	snprintf(path, sizeof path, "%s/MANIFEST", release);
	char *text = fd < 0 ? NULL : rep_read_small(fd, path, 64 * 1024 * 1024);
	if (!text && fd != -2)
		rep_error_at(t->arg, "releases/%s: %s", path, errno == EINVAL ? "not a regular file" : strerror(errno));
	if (fd >= 0)
		close(fd);
	return text;
}

/* --- hooks: lib/far.sh, run here ----------------------------------------------- */

/* Runs far.sh's OP on DIR (sh -c rep_far_script rep-push OP . ARGS...,
 * in DIR: the directory locked, whatever its path has become) and reads
 * its reply into r: 0, or -1 (the reason told). The far side runs in a
 * process group of its own, which it shares with the hooks it runs (a
 * hook's watchdog kills what of that group a hook left at its
 * timeout), and with no death signal: a hook killed mid-way when
 * rep-push is would leave a service half started, and its watchdog
 * must still run. Its stdin is /dev/null, its stdout our pipe (far.sh
 * replies on it: exec 3>&1 1>&2), its stderr ours; it gets no other
 * descriptor of ours, and the signals as a program starts with them. */
static int far_run(struct rep_target *t, const char *const *args, size_t nargs, struct rep_reply *r)
{
	const char *argv[16];
	size_t n = 0;
	int out[2], in = open("/dev/null", O_RDONLY | O_CLOEXEC);

	memset(r, 0, sizeof *r);
	if (priv(t)->dirfd < 0) {
		if (in >= 0)
			close(in);
		rep_error_at(t->arg, "no such directory");
		return -1;
	}
	argv[n++] = "sh";
	argv[n++] = "-c";
	argv[n++] = rep_far_script;
	argv[n++] = "rep-push";
	for (size_t i = 0; i < nargs && n < sizeof argv / sizeof argv[0] - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (in < 0)
		rep_die_errno("/dev/null");
	if (pipe2(out, O_CLOEXEC) < 0)
		rep_die_errno("pipe");
	pid_t pid = rep_child_fork(0, REP_CHILD_GROUP);
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGXFSZ, SIG_DFL);
		/* as sshd starts the far side: a rep-push run under nohup,
		 * or in the background, has these ignored */
		signal(SIGHUP, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (fchdir(priv(t)->dirfd) < 0 || dup2(in, 0) < 0 || dup2(out[1], 1) < 0)
			_exit(255);
		if (close_range(3, ~0U, 0) < 0)
			for (int fd = 3; fd < 1024; fd++)
				close(fd);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "%s: %s: %s\n", rep_prog, argv[0], strerror(errno));
		_exit(255);
	}
	close(in);
	close(out[1]);
	/* 64 KiB of buffer: not on the stack of whatever thread runs this */
	struct rep_frame *f = rep_xmalloc(sizeof *f);
	f->fd = out[0];
	f->timeout = t->timeout;
	f->off = f->len = 0;
	int rc = rep_frame_read(f, r);
	free(f);
	if (rc == 0) {
		for (const char *m = r->text; m && *m;) {
			size_t k = strcspn(m, "\n");
			char *v = rep_visible(m, k);
			rep_error_at(t->arg, "%s", v);
			free(v);
			m += k + (m[k] == '\n');
		}
		if (strcmp(r->word, "ok") != 0) {
			if (!r->text)
				rep_error_at(t->arg, "the hook runner failed (.%s) without saying why", r->word);
			rc = -1;
		}
	} else if (rc == REP_FRAME_TIMEOUT) {
		rep_error_at(t->arg, "the hook runner said nothing for %d seconds: giving up (see --timeout)",
		    rep_frame_seconds(t->timeout));
	} else if (rc == REP_FRAME_BAD) {
		rep_error_at(t->arg, "the hook runner sent '%s'", r->bad);
	} else {
		rep_error_at(t->arg, "the hook runner ended without a reply");
	}
	/* the runner alone, never its group: the hook's watchdog is there */
	if (rc == REP_FRAME_TIMEOUT || rc == REP_FRAME_BAD)
		kill(pid, SIGKILL);
	close(out[0]);
	rep_child_wait(pid);
	return rc == 0 ? 0 : -1;
}

/* hook . PHASE NAME RELEASE PREVIOUS CHECKSUM TIMEOUT IDLE */
static int local_hook(struct rep_target *t, const struct rep_hook *h, struct rep_hook_result *res)
{
	char timeout[16], idle[16];
	struct rep_reply r;

	memset(res, 0, sizeof *res);
	snprintf(timeout, sizeof timeout, "%d", h->timeout > 0 ? h->timeout : 1);
	snprintf(idle, sizeof idle, "%d", rep_frame_seconds(t->timeout));
	const char *args[] = { "hook", ".", h->phase, h->name, h->release,
		h->previous && *h->previous ? h->previous : "-", h->checksum, timeout, idle };
	int rc = far_run(t, args, sizeof args / sizeof args[0], &r);
	if (rc == 0 && rep_hook_reply(t, &r, res) < 0)
		rc = -1;
	rep_reply_free(&r);
	return rc;
}

/* pending . [set RELEASE | clear] IDLE */
static int local_pending(struct rep_target *t, const char *set, char *was, size_t size)
{
	char idle[16];
	struct rep_reply r;
	const char *args[5] = { "pending", "." };
	size_t n = 2;

	if (size)
		was[0] = 0;
	/* no directory (a rollback's target never pushed to): no mark to
	 * read or clear */
	if (priv(t)->dirfd < 0 && (!set || !*set))
		return 0;
	if (set && *set) {
		args[n++] = "set";
		args[n++] = set;
	} else if (set) {
		args[n++] = "clear";
	}
	snprintf(idle, sizeof idle, "%d", rep_frame_seconds(t->timeout));
	args[n++] = idle;
	int rc = far_run(t, args, n, &r);
	if (rc == 0)
		rep_pending_reply(&r, was, size);
	rep_reply_free(&r);
	return rc;
}

const struct rep_transport rep_local_transport = {
	.kind = "local", .parse = local_parse, .identity = local_identity,
	.open = local_open, .live = local_live, .stage = local_stage, .shares_feed = 1,
	.switch_to = local_switch, .prune = local_prune, .verify = local_verify,
	.hook = local_hook, .pending = local_pending, .manifest = local_manifest,
	.close = local_close,
};
