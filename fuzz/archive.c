/* Archive validation (rep_archive_check, lib/archive.c) on any file. It
 * dies with a message or passes; an archive that passes has the SHA-256
 * of the file, and unpacks (rep_archive_unpack) into a directory of its
 * own, with nothing written beside it, and every symlink in it inside its
 * application (on the names: fuzz_climbs_out).
 *
 * The mutator (mutate.h, shared with gnutar.c) mostly works on the tar
 * inside the gzip. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "mutate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static char base[1024], path[1100], out[1100];
static int fd, basefd, cwd;
static struct rep_manifest m;

/* Trees whose directories may be read-only and whose paths may be
 * longer than PATH_MAX: rep_rm_tree walks them by descriptor. */
static void remove_base(void)
{
	rep_rm_tree(AT_FDCWD, base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR");
	snprintf(base, sizeof base, "%s/rep-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base))
		abort();
	snprintf(path, sizeof path, "%s/archive.tar.gz", base);
	snprintf(out, sizeof out, "%s/release", base);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || basefd < 0 || cwd < 0)
		abort();
	atexit(remove_base);
	return 0;
}

/* The directory holds the archive and, if any, the release unpacked. */
static int beside_release(void)
{
	DIR *d = fdopendir(dup(basefd));
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	rewinddir(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "archive.tar.gz") && strcmp(e->d_name, "release"))
			n++;
	closedir(d);
	return n;
}

/* Every symlink of the unpacked release, walked by descriptor (its paths
 * may be longer than PATH_MAX): it must be in an application, and point
 * inside it. rel is the path below the release, of capacity cap. */
static void links_inside(int dirfd, char *rel, size_t len, size_t cap)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *e;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		size_t n = strlen(e->d_name);
		struct stat st;
		if (len + n + 2 > cap || fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			abort();
		snprintf(rel + len, cap - len, "%s%s", len ? "/" : "", e->d_name);
		size_t sub = len + n + (len > 0);
		if (S_ISDIR(st.st_mode)) {
			int below = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (below < 0)
				abort();
			links_inside(below, rel, sub, cap);
		} else if (S_ISLNK(st.st_mode)) {
			const char *top = "rep_applications/";
			FUZZ_CHECK(strncmp(rel, top, strlen(top)) == 0);
			const char *in = strchr(rel + strlen(top), '/');
			FUZZ_CHECK(in && in[1]);
			char target[PATH_MAX];
			ssize_t got = readlinkat(dirfd, e->d_name, target, sizeof target - 1);
			FUZZ_CHECK(got > 0);
			target[got] = 0;
			FUZZ_CHECK(!fuzz_climbs_out(in + 1, target));
		}
		rel[len] = 0;
	}
	closedir(d);
}

static void unpacked(void)
{
	struct rep_manifest checked = m;
	int dir;

	if (mkdir(out, 0755) < 0 || (dir = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	rep_archive_unpack(path, dir, &checked);
	close(dir);
	if (fchdir(cwd) < 0)
		abort();
	FUZZ_CHECK(beside_release() == 0);
	static char rel[1 << 20];
	int top = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		abort();
	rel[0] = 0;
	links_inside(top, rel, 0, sizeof rel);
	if (rep_rm_tree(AT_FDCWD, out) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static jmp_buf back;
	static int checked;

	checked = 0;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (FUZZ_TRY(back)) {
		/* a check may fail; an unpack of what it passed may not */
		FUZZ_CHECK(!checked);
		rep_fuzz_archive_reset();
		rep_manifest_free(&m);
		return 0;
	}
	rep_archive_check(path, &m);
	checked = 1;
	struct sha256_ctx c;
	unsigned char d[SHA256_DIGEST_SIZE];
	char hex[65];
	sha256_init(&c);
	sha256_update(&c, size, data);
	sha256_digest(&c, sizeof d, d);
	rep_hex(d, sizeof d, hex);
	FUZZ_CHECK(strcmp(hex, m.sha256) == 0);
	unpacked();
	rep_manifest_free(&m);
	return 0;
}
