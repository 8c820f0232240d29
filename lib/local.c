/* Local directory targets: the lock, staging with libarchive, the
 * switch of current and pruning, all relative to the target's dirfd. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rep.h"

#define LOCK ".rep-push.lock"
#define STAGING ".rep-push-"
#define NEXT_CURRENT ".rep-push-current"

/* Removes a file or a whole tree below dirfd, never following a link. */
int rep_rm_tree(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (errno = 0, de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			rc = rep_rm_tree(fd, de->d_name);
	if (rc == 0 && errno)
		rc = -1;
	int saved = errno;
	closedir(d);
	errno = saved;
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

static char *read_at(int dirfd, const char *name, size_t max)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	char *buf = rep_xmalloc(max + 1);
	size_t n = 0;
	ssize_t r;
	while (n < max && (r = read(fd, buf + n, max - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = 0;
	return buf;
}

static int sha256_at(int dirfd, const char *name, char out[65])
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct sha256_ctx c;
	unsigned char buf[65536], d[SHA256_DIGEST_SIZE];
	ssize_t r;
	sha256_init(&c);
	while ((r = read(fd, buf, sizeof buf)) > 0)
		sha256_update(&c, (size_t)r, buf);
	close(fd);
	if (r < 0)
		return -1;
	sha256_digest(&c, sizeof d, d);
	rep_hex(d, sizeof d, out);
	return 0;
}

/* The release current points to: "" when there is no current; -1 when
 * current is something else than a link to a release in releases/. */
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
	if (fstatat(dirfd, "current", &a, 0) < 0 || fstatat(dirfd, rel, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return 0;
	memcpy(out, base, len + 1);
	return 0;
}

/* Reads current and releases/ into t; removes what crashed pushes left
 * (only under the lock: a running push's files look the same). */
static int read_state(struct rep_target *t, int clean)
{
	struct stat st;

	if (fstatat(t->dirfd, "current", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode)) {
		rep_target_error(t, "current: exists and is not a symbolic link");
		return -1;
	}
	if (read_current(t->dirfd, t->current) < 0) {
		rep_target_error(t, "current: %s", strerror(errno));
		return -1;
	}
	int fd = openat(t->dirfd, "releases", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		rep_target_error(t, "releases: %s", strerror(errno));
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		char sha[65] = "-", man[300];
		if (clean && strncmp(de->d_name, STAGING, strlen(STAGING)) == 0 &&
		    rep_rm_tree(fd, de->d_name) < 0) {
			rep_target_error(t, "releases/%s: %s", de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
		if (!rep_release_name(de->d_name) ||
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		snprintf(man, sizeof man, "%s/MANIFEST", de->d_name);
		sha256_at(fd, man, sha);
		rep_target_add_release(t, de->d_name, sha);
	}
	closedir(d);
	return 0;
}

/* Locked local targets, unlocked if rep-push dies. */
static struct rep_target **held;
static size_t nheld;
static pid_t held_by;

static void unlock_all(void)
{
	if (getpid() != held_by)
		return;
	for (size_t i = 0; i < nheld; i++)
		if (held[i])
			rep_local_unlock(held[i]);
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

/* The lock appears complete or not at all: written under a private name,
 * then linked to LOCK, which fails if it exists. A lock whose holder died
 * on this host is moved aside, checked to be the one judged dead, and
 * removed; anything else there is a live lock. */
static int take_lock(struct rep_target *t)
{
	char tmp[64], aside[80], who[600];

	snprintf(tmp, sizeof tmp, LOCK ".%ld", (long)getpid());
	snprintf(aside, sizeof aside, "%s.stale", tmp);
	rep_lock_line(t->lock, sizeof t->lock, (long)getpid());
	unlinkat(t->dirfd, tmp, 0);
	int fd = openat(t->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%s\n", t->lock) < 0 || close(fd) < 0) {
		rep_target_error(t, "%s: %s", LOCK, strerror(errno));
		unlinkat(t->dirfd, tmp, 0);
		return -1;
	}
	for (int tries = 0, broken = 0;; tries++) {
		if (linkat(t->dirfd, tmp, t->dirfd, LOCK, 0) == 0)
			break;
		int err = errno;
		char *line = err == EEXIST ? read_at(t->dirfd, LOCK, 1024) : NULL;
		/* released between the link and the read: try again */
		if (err == EEXIST && !line && errno == ENOENT && tries < 100)
			continue;
		if (line)
			line[strcspn(line, "\n")] = 0;
		if (line && !broken && stale(line) &&
		    renameat(t->dirfd, LOCK, t->dirfd, aside) == 0) {
			char *moved = read_at(t->dirfd, aside, 1024);
			int same = moved && strncmp(moved, line, strlen(line)) == 0;
			if (!same)
				linkat(t->dirfd, aside, t->dirfd, LOCK, 0);
			unlinkat(t->dirfd, aside, 0);
			free(moved);
			if (same) {
				broken = 1;
				rep_lock_holder(line, who, sizeof who);
				rep_target_error(t, "breaking a stale lock: held by %s, which is gone", who);
				free(line);
				continue;
			}
		}
		unlinkat(t->dirfd, tmp, 0);
		if (line)
			rep_lock_holder(line, who, sizeof who);
		if (line && mine(line))
			rep_target_error(t, "the same directory as another target");
		else if (line)
			rep_target_error(t, "locked by %s", who);
		else
			rep_target_error(t, "%s: %s", LOCK, strerror(err));
		free(line);
		t->lock[0] = 0;
		return -1;
	}
	unlinkat(t->dirfd, tmp, 0);
	if (!held)
		rep_on_die(unlock_all);
	held_by = getpid();
	held = rep_xrealloc(held, (nheld + 1) * sizeof *held);
	held[nheld++] = t;
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

/* Opens the target and, unless how is REP_LOCK_READ, locks it; then
 * reads its state. A push makes DIR (its parent must exist) and
 * releases/ if missing; a rollback makes nothing. */
int rep_local_lock(struct rep_target *t, enum rep_lock how)
{
	t->dirfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0 && errno == ENOENT && how != REP_LOCK_PUSH)
		return 0;       /* nothing there: nothing live, nothing to lock */
	if (t->dirfd < 0 && errno == ENOENT && how == REP_LOCK_PUSH) {
		/* another push may make it first: then it is there to open */
		if (mkdir(t->dir, 0777) < 0 && errno != EEXIST) {
			rep_target_error(t, "cannot create the directory: %s", strerror(errno));
			return -1;
		}
		t->dirfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (t->dirfd < 0) {
		rep_target_error(t, "%s", strerror(errno));
		return -1;
	}
	if (how == REP_LOCK_READ) {
		char *line = read_at(t->dirfd, LOCK, 1024);
		if (line) {
			line[strcspn(line, "\n")] = 0;
			if (stale(line))
				rep_lock_holder(line, t->stale, sizeof t->stale);
			else
				rep_lock_holder(line, t->holder, sizeof t->holder);
			free(line);
		}
		return read_state(t, 0);
	}
	if (how == REP_LOCK_PUSH && mkdirat(t->dirfd, "releases", 0777) < 0 && errno != EEXIST) {
		rep_target_error(t, "releases: %s", strerror(errno));
		return -1;
	}
	if (take_lock(t) < 0)
		return -1;
	remove_dead_lock_files(t->dirfd);
	if (unlinkat(t->dirfd, NEXT_CURRENT, 0) < 0 && errno != ENOENT) {
		rep_target_error(t, "%s: %s", NEXT_CURRENT, strerror(errno));
		return -1;
	}
	return read_state(t, 1);
}

void rep_local_unlock(struct rep_target *t)
{
	if (t->dirfd < 0)
		return;
	if (t->lock[0]) {
		char *line = read_at(t->dirfd, LOCK, 1024);
		if (line && strncmp(line, t->lock, strlen(t->lock)) == 0 && line[strlen(t->lock)] == '\n')
			unlinkat(t->dirfd, LOCK, 0);
		free(line);
		t->lock[0] = 0;
	}
	for (size_t i = 0; i < nheld; i++)
		if (held[i] == t)
			held[i] = NULL;
	close(t->dirfd);
	t->dirfd = -1;
}

/* Staging runs in a child process of its own: a failure dies there,
 * taking its half-unpacked directory with it. */
static int staging_fd = -1;
static char staging[64];

static void remove_staging(void)
{
	if (staging[0])
		rep_rm_tree(staging_fd, staging);
}

/* The archive is read from its file, or (feed) from a reader process
 * that inflates it for several targets at once. */
int rep_local_stage_from(struct rep_target *t, const struct rep_feed *feed, const char *archive,
    const char *stem, const struct rep_manifest *m)
{
	staging_fd = openat(t->dirfd, "releases", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (staging_fd < 0)
		rep_die_errno("releases");
	snprintf(staging, sizeof staging, STAGING "%ld", (long)getpid());
	rep_on_die(remove_staging);
	if (mkdirat(staging_fd, staging, 0700) < 0)
		rep_die_errno("releases/%s", staging);
	int fd = openat(staging_fd, staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* 0755 whatever the umask, as everything the archive holds */
	if (fd < 0 || fchmod(fd, 0755) < 0)
		rep_die_errno("releases/%s", staging);
	rep_archive_unpack_from(feed, archive, fd, m);
	close(fd);
	int rc = renameat2(staging_fd, staging, staging_fd, stem, RENAME_NOREPLACE);
	if (rc < 0 && errno == EINVAL) {
		struct stat st;
		if (fstatat(staging_fd, stem, &st, AT_SYMLINK_NOFOLLOW) == 0)
			errno = EEXIST;
		else
			rc = renameat(staging_fd, staging, staging_fd, stem);
	}
	if (rc < 0)
		rep_die_errno("releases/%s", stem);
	staging[0] = 0;
	if (fsync(staging_fd) < 0)
		rep_die_errno("releases");
	return 0;
}

int rep_local_stage(struct rep_target *t, const char *archive, const char *stem,
    const struct rep_manifest *m)
{
	return rep_local_stage_from(t, NULL, archive, stem, m);
}

int rep_local_switch(struct rep_target *t, const char *to)
{
	char now[REP_NAME_MAX + 1], link[REP_NAME_MAX + 16];

	if (read_current(t->dirfd, now) < 0 || strcmp(now, t->current) != 0) {
		rep_target_error(t, "current changed during the push (now '%s')", now);
		return -1;
	}
	if (!*to) {
		if (unlinkat(t->dirfd, "current", 0) < 0 && errno != ENOENT) {
			rep_target_error(t, "current: %s", strerror(errno));
			return -1;
		}
	} else {
		snprintf(link, sizeof link, "releases/%s", to);
		unlinkat(t->dirfd, NEXT_CURRENT, 0);
		if (symlinkat(link, t->dirfd, NEXT_CURRENT) < 0 ||
		    renameat(t->dirfd, NEXT_CURRENT, t->dirfd, "current") < 0) {
			rep_target_error(t, "current: %s", strerror(errno));
			unlinkat(t->dirfd, NEXT_CURRENT, 0);
			return -1;
		}
	}
	if (fsync(t->dirfd) < 0 || read_current(t->dirfd, now) < 0 || strcmp(now, to) != 0) {
		rep_target_error(t, "current does not point to %s%s after the switch",
		    *to ? "releases/" : "nothing", to);
		return -1;
	}
	return 0;
}

int rep_local_prune(struct rep_target *t, char **names, size_t n)
{
	int fd = openat(t->dirfd, "releases", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	for (size_t i = 0; fd >= 0 && i < n; i++)
		if (rep_rm_tree(fd, names[i]) < 0) {
			rep_target_error(t, "releases/%s: %s", names[i], strerror(errno));
			close(fd);
			return -1;
		}
	if (fd < 0) {
		rep_target_error(t, "releases: %s", strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

char *rep_local_manifest(struct rep_target *t, const char *release)
{
	char path[REP_NAME_MAX + 32];

	snprintf(path, sizeof path, "releases/%s/MANIFEST", release);
	char *text = read_at(t->dirfd, path, 64 * 1024 * 1024);
	if (!text)
		rep_target_error(t, "%s: %s", path, strerror(errno));
	return text;
}
