/* File-system steps that every tool takes the same way: a rename that
 * never replaces, a tree removed at any depth and mode, a small file
 * read whole. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rep.h"

/* renameat2(RENAME_NOREPLACE), or where the file system lacks it, link
 * and unlink (as exclusive) for a file, and a check before a plain
 * rename for a directory (which cannot be linked): there only a
 * directory made in between by another program could be replaced. */
int rep_rename_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
	struct stat st;

	if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (fstatat(fromfd, from, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		if (linkat(fromfd, from, tofd, to, 0) < 0)
			return -1;
		return unlinkat(fromfd, from, 0);
	}
	if (fstatat(tofd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(fromfd, from, tofd, to);
}

/* One directory on the way down: how to find it again from its parent
 * (name) and how to know it is the same one (dev, ino). */
struct level {
	char *name;
	dev_t dev;
	ino_t ino;
};

/* Opens directory name below dirfd without following a link, making it
 * readable and writable first if we may (a 0555 or 0000 directory left
 * by a failed unpack is ours to remove). */
static int open_dir(int dirfd, const char *name, struct level *l)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == EACCES && fchmodat(dirfd, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	if ((st.st_mode & 0700) != 0700)
		(void)fchmod(fd, st.st_mode | 0700);
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Removes the files and links of directory fd as it reads it, and stops
 * at its first subdirectory: 1 with its name in out, 0 when nothing is
 * left, -1 on error. Each file costs one readdir entry, so a directory of
 * many files is read once; only the way back from a subdirectory reads
 * it again, to find what is left. */
static int next_subdir(int fd, char *out, size_t size)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	struct dirent *de;
	struct stat st;
	int rc = 0;

	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return -1;
	}
	rewinddir(d);
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = errno == ENOENT ? 0 : -1;
		else if (S_ISDIR(st.st_mode))
			rc = snprintf(out, size, "%s", de->d_name) > 0;
		else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
			rc = -1;
	}
	if (rc == 0 && !de && errno)
		rc = -1;
	int saved = errno;
	closedir(d);
	errno = saved;
	return rc;
}

/* Back up from fd to its parent, which must be the directory we came
 * down from: a tree moved meanwhile ends the removal instead of leading
 * it out of the tree. */
static int go_up(int fd, const struct level *parent)
{
	struct stat st;
	int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	close(fd);
	if (up < 0)
		return -1;
	if (fstat(up, &st) < 0 || st.st_dev != parent->dev || st.st_ino != parent->ino) {
		close(up);
		errno = ESTALE;
		return -1;
	}
	return up;
}

/* Removes a file or a whole tree below dirfd, never following a link.
 * One descriptor at a time whatever the depth (a tree 1,100 levels deep
 * would exhaust them if each level kept one), the way back checked
 * against what was seen on the way down. */
int rep_rm_tree(int dirfd, const char *name)
{
	struct stat st;
	struct level *lv = NULL;
	size_t depth = 0, cap = 0;
	char entry[NAME_MAX + 1];
	int fd, rc = -1;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	lv = rep_xmalloc(sizeof *lv * (cap = 16));
	lv[0].name = rep_xstrdup(name);
	if ((fd = open_dir(dirfd, name, &lv[0])) < 0)
		goto out;
	for (;;) {
		int got = next_subdir(fd, entry, sizeof entry);
		if (got < 0)
			break;
		if (got == 0) {
			/* empty: remove it from its parent */
			if (depth == 0) {
				close(fd);
				fd = -1;
				rc = unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
				break;
			}
			if ((fd = go_up(fd, &lv[depth - 1])) < 0)
				break;
			if (fstatat(fd, lv[depth].name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    st.st_dev != lv[depth].dev || st.st_ino != lv[depth].ino ||
			    unlinkat(fd, lv[depth].name, AT_REMOVEDIR) < 0)
				break;
			free(lv[depth--].name);
			continue;
		}
		if (depth + 1 == cap)
			lv = rep_xrealloc(lv, sizeof *lv * (cap *= 2));
		struct level *next = &lv[depth + 1];
		int sub = open_dir(fd, entry, next);
		if (sub < 0)
			break;
		next->name = rep_xstrdup(entry);
		depth++;
		close(fd);
		fd = sub;
	}
out:;
	int saved = errno;
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i <= depth; i++)
		free(lv[i].name);
	free(lv);
	errno = saved;
	return rc;
}

/* Up to max bytes of a file below dirfd, NUL-terminated; NULL with errno
 * set if it cannot be opened (a link is not followed), and with EINVAL
 * if it is not a regular file (a FIFO there would block for ever). */
char *rep_read_small(int dirfd, const char *name, size_t max)
{
	int fd = rep_open_regular(dirfd, name);
	if (fd < 0)
		return NULL;
	char *buf = rep_xmalloc(max + 1);
	size_t n = 0;
	ssize_t r = 0;
	while (n < max && ((r = read(fd, buf + n, max - n)) > 0 || (r < 0 && errno == EINTR)))
		n += r > 0 ? (size_t)r : 0;
	int saved = errno;
	close(fd);
	if (r < 0) {
		free(buf);
		errno = saved;
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

/* Opens a regular file below dirfd for reading, not through a link, and
 * without blocking on a FIFO: the descriptor, or -1 with errno set
 * (EINVAL: not a regular file). */
int rep_open_regular(int dirfd, const char *name)
{
	struct stat st = { 0 };
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		return fd;
	int saved = S_ISREG(st.st_mode) ? errno : EINVAL;
	close(fd);
	errno = saved;
	return -1;
}

/* Reads up to n bytes, over short reads and EINTR, stopping at EOF: the
 * number read, or -1 with errno set. */
ssize_t rep_read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* One regular file copied to a new file: mode 0755 if the original has
 * the owner-execute bit, else 0644 (as the checksum counts it). */
static int copy_file(int fromfd, const char *from, int tofd, const char *to)
{
	struct stat st;
	char buf[128 * 1024];
	int in = rep_open_regular(fromfd, from), out = -1, rc = -1;
	ssize_t n;

	if (in < 0 || fstat(in, &st) < 0)
		goto out;
	out = openat(tofd, to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		goto out;
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || rep_write_full(out, buf, (size_t)n) < 0)
			goto out;
	}
	if (fchmod(out, st.st_mode & S_IXUSR ? 0755 : 0644) < 0)
		goto out;
	rc = 0;
out:;
	int saved = errno;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0 && rc == 0)
		saved = errno, rc = -1;
	errno = saved;
	return rc;
}

/* The entries of the open directory fd into the new directory tofd. */
static int copy_dir(int fd, int tofd)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return -1;
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = rep_copy_tree(fd, de->d_name, tofd, de->d_name);
	}
	if (rc == 0 && errno)
		rc = -1;
	int saved = errno;
	closedir(d);
	errno = saved;
	return rc;
}

/* Copies the directory, file or symlink from below fromfd to the new
 * name to below tofd, never following a link: directories made 0755,
 * files 0755 if the original has the owner-execute bit, else 0644, symlinks as
 * they read. Anything else is refused (EINVAL). 0, or -1 with errno set;
 * what was made is left for the caller to remove. Holds two descriptors
 * per level, as the walk of a tree does. */
int rep_copy_tree(int fromfd, const char *from, int tofd, const char *to)
{
	struct stat st;
	char link[PATH_MAX + 1];

	if (fstatat(fromfd, from, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (S_ISREG(st.st_mode))
		return copy_file(fromfd, from, tofd, to);
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlinkat(fromfd, from, link, sizeof link);
		if (n < 0)
			return -1;
		if ((size_t)n == sizeof link) {
			errno = ENAMETOOLONG;
			return -1;
		}
		link[n] = 0;
		return symlinkat(link, tofd, to);
	}
	if (!S_ISDIR(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	int in = openat(fromfd, from, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), out = -1, rc = -1;
	if (in < 0 || mkdirat(tofd, to, 0700) < 0)
		goto out;
	out = openat(tofd, to, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (out >= 0 && copy_dir(in, out) == 0 && fchmod(out, 0755) == 0)
		rc = 0;
out:;
	int saved = errno;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	errno = saved;
	return rc;
}
