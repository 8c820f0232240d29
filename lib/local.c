/* Local directory targets: the lock, staging with libarchive, the
 * switch of current and pruning, all relative to the target's directory
 * descriptor, and never through a link out of it (releases/, the lock
 * and the temporaries are opened without following links). */
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
	if (len > REP_NAME_MAX)
		return 0;
	memcpy(rel, "releases/", 9);
	memcpy(rel + 9, base, len + 1);
	if (!rep_release_name(base) || fstatat(dirfd, "current", &a, 0) < 0 || fstatat(dirfd, rel, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return 0;
	memcpy(out, base, len + 1);
	return 0;
}

/* releases/, never through a link: what a push writes and prunes stays
 * inside DIR. -1 with errno ENOENT when there is none. */
static int open_releases(const struct rep_target *t)
{
	int fd = openat(priv(t)->dirfd, "releases", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR) &&
	    fstatat(priv(t)->dirfd, "releases", &st, AT_SYMLINK_NOFOLLOW) == 0) {
		rep_error_at(t->arg, "releases: %s (refused: rep-push writes only inside the target)",
		    S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory");
		errno = EPERM;
		return -2;
	}
	return fd;
}

/* Reads current and releases/ into t; under the lock, removes what
 * crashed pushes left (a running push's files look the same), warning of
 * what cannot go: a name of its own is never reused, so it is in no
 * push's way. */
static int read_state(struct rep_target *t, int clean)
{
	struct stat st;

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
	if (!same)
		linkat(dirfd, aside, dirfd, LOCK, 0);
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
		return read_state(t, 0) < 0 ? REP_OPEN_FAILED : 0;
	}
	if (how == REP_LOCK_PUSH && mkdirat(l->dirfd, "releases", 0777) < 0 && errno != EEXIST) {
		rep_error_at(t->arg, "releases: %s", strerror(errno));
		return REP_OPEN_FAILED;
	}
	if ((rc = take_lock(t)) < 0)
		return rc;
	remove_dead_lock_files(l->dirfd);
	if (unlinkat(l->dirfd, NEXT_CURRENT, 0) < 0 && errno != ENOENT) {
		rep_error_at(t->arg, "%s: %s", NEXT_CURRENT, strerror(errno));
		return REP_OPEN_FAILED;
	}
	return read_state(t, 1) < 0 ? REP_OPEN_FAILED : 0;
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
 * taking its half-unpacked directory with it. */
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

static int local_stage(struct rep_target *t, const struct rep_stage_src *src, const char *release,
    const struct rep_manifest *m)
{
	static struct staging s;

	if ((s.fd = open_releases(t)) < 0)
		rep_die_errno("releases");
	snprintf(s.name, sizeof s.name, STAGING "%ld", (long)getpid());
	rep_cleanup_add(&s.remove, remove_staging, &s);
	if (mkdirat(s.fd, s.name, 0700) < 0)
		rep_die_errno("releases/%s", s.name);
	int fd = openat(s.fd, s.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* 0755 whatever the umask, as everything the archive holds */
	if (fd < 0 || fchmod(fd, 0755) < 0)
		rep_die_errno("releases/%s", s.name);
	rep_archive_unpack_from(src->feed, src->path, fd, m);
	close(fd);
	if (rep_rename_noreplace(s.fd, s.name, s.fd, release) < 0)
		rep_die_errno("releases/%s", release);
	s.name[0] = 0;
	rep_cleanup_remove(&s.remove);
	if (fsync(s.fd) < 0)
		rep_die_errno("releases");
	close(s.fd);
	return 0;
}

static int local_switch(struct rep_target *t, const char *to)
{
	int dirfd = priv(t)->dirfd;
	char now[REP_NAME_MAX + 1], link[REP_NAME_MAX + 16];

	if (read_current(dirfd, now) < 0 || strcmp(now, t->current) != 0) {
		rep_error_at(t->arg, "current changed during the push (now '%s')", now);
		return REP_SWITCH_FAILED;
	}
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

/* Each release first leaves the release names (renamed to a name the
 * next lock's cleaning removes), then is removed: one that cannot be
 * removed whole is never a release a rollback could return to, and it
 * does not keep the others from going. -1 if any could not be renamed. */
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
		} else if (rep_rm_tree(fd, gone) < 0) {
			rep_error_at(t->arg, "releases/%s: cannot remove all of it (left as releases/%s): %s",
			    names[i], gone, strerror(errno));
		}
	}
	close(fd);
	return rc;
}

/* In a process of its own, which dies naming what differs. */
static int local_verify(struct rep_target *t, const char *release, const char *msha)
{
	pid_t pid = rep_child_fork(SIGKILL, 0);

	if (pid == 0) {
		char label[REP_NAME_MAX + 16];
		int fd = open_releases(t);
		snprintf(label, sizeof label, "releases/%s", release);
		rep_msg_context(t->arg);
		int dirfd = fd < 0 ? -1 : openat(fd, release, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dirfd < 0)
			rep_die_errno("%s", label);
		rep_release_verify(dirfd, label, msha);
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

const struct rep_transport rep_local_transport = {
	.kind = "local", .parse = local_parse, .identity = local_identity,
	.open = local_open, .stage = local_stage, .shares_feed = 1,
	.switch_to = local_switch, .prune = local_prune, .verify = local_verify, .manifest = local_manifest,
	.close = local_close,
};
