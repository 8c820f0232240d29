/* The check's view of an archive against GNU tar's (issue 16). Every
 * input that rep_archive_check() passes is unpacked twice: by
 * rep_archive_unpack() into a/, and by GNU tar into b/ the way the far
 * side of an ssh target does (lib/far.sh: `tar -xpzf - --no-same-owner`
 * reading the archive on stdin, LC_ALL=C). Then:
 *   - GNU tar succeeds, and writes nothing beside b/;
 *   - the two trees are the same: the same paths, types, contents,
 *     symlink targets, owner-execute bits and link counts;
 *   - b/ has the modes rep writes (0644 or 0755 files, 0755 directories);
 *   - each application of the manifest, hashed from b/ by the library's
 *     own tree functions (rep_tree_list, rep_fold_*), has the files,
 *     bytes and checksum of its manifest record.
 * Anything else is a broken property: the far side would deploy a tree
 * that was never checked. The check runs in C.UTF-8, as in rep-tar -t.
 *
 * The mutator is mutate.h's (the tar inside the gzip, with the header
 * kinds two tar readers may take differently); the seeds are rep-tar's
 * own archives and hand-made hostile ones (fuzz/corpus/gnutar). */
#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fuzz.h"
#include "mutate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

extern char **environ;

static char base[1024], path[1100], dir_a[1100], dir_b[1100], tar_err[1100], msgs[1100];
static int fd, basefd, cwd, errfd;
static struct rep_manifest m;
static struct fuzz_catch caught;

static void remove_base(void)
{
	rep_rm_tree(AT_FDCWD, base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = fuzz_tmpdir();
	snprintf(base, sizeof base, "%s/rep-gnutar-XXXXXX", tmp);
	if (!mkdtemp(base))
		abort();
	snprintf(path, sizeof path, "%s/archive.tar.gz", base);
	snprintf(dir_a, sizeof dir_a, "%s/a", base);
	snprintf(dir_b, sizeof dir_b, "%s/b", base);
	snprintf(tar_err, sizeof tar_err, "%s/tar.err", base);
	snprintf(msgs, sizeof msgs, "%s/messages", base);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	errfd = open(tar_err, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || errfd < 0 || basefd < 0 || cwd < 0)
		abort();
	/* GNU tar as the far side runs it; the check as rep-tar -t does */
	setenv("LC_ALL", "C", 1);
	setlocale(LC_CTYPE, "C.UTF-8");
	atexit(remove_base);
	return 0;
}

/* What is in base besides the archive, the two trees and the files of
 * messages: the name of the first such entry, or NULL. */
static const char *beside(void)
{
	static char name[300];
	DIR *d = fdopendir(dup(basefd));
	struct dirent *e;
	const char *found = NULL;

	if (!d)
		abort();
	rewinddir(d);
	while ((e = readdir(d)) && !found)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "archive.tar.gz") && strcmp(e->d_name, "a") &&
		    strcmp(e->d_name, "b") && strcmp(e->d_name, "tar.err") &&
		    strcmp(e->d_name, "messages"))
			found = strncpy(name, e->d_name, sizeof name - 1);
	closedir(d);
	return found;
}

/* GNU tar, as lib/far.sh runs it, in b/: its exit status (-1: killed),
 * its messages in tar.err. */
static int gnu_tar(void)
{
	static char *const argv[] = { "tar", "-xpzf", "-", "--no-same-owner", NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || ftruncate(errfd, 0) < 0 || lseek(errfd, 0, SEEK_SET) < 0 ||
	    posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, in, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, errfd, 1) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, errfd, 2) != 0 ||
	    posix_spawn_file_actions_addchdir_np(&fa, dir_b) != 0 ||
	    posix_spawnp(&pid, "tar", &fa, NULL, argv, environ) != 0)
		abort();
	posix_spawn_file_actions_destroy(&fa);
	close(in);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			abort();
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A tree as both views must agree on: every entry below the top. */
struct node {
	char *path;
	char type;        /* d f l, or p c b s ? for what neither may hold */
	unsigned mode;    /* permission bits */
	nlink_t nlink;    /* of a regular file */
	char hex[65];     /* SHA-256 of a file's content */
	char *target;     /* of a symlink */
};

struct list {
	struct node *v;
	size_t n, cap;
};

static char type_of(mode_t mode)
{
	return S_ISDIR(mode) ? 'd' : S_ISREG(mode) ? 'f' : S_ISLNK(mode) ? 'l' :
	    S_ISFIFO(mode) ? 'p' : S_ISCHR(mode) ? 'c' : S_ISBLK(mode) ? 'b' :
	    S_ISSOCK(mode) ? 's' : '?';
}

/* Walked by descriptor: paths may be longer than PATH_MAX. */
static void list_tree(int dirfd, char **rel, size_t len, size_t *cap, struct list *out)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *e;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		size_t n = strlen(e->d_name);
		while (len + n + 2 > *cap) {
			*cap *= 2;
			if (!(*rel = realloc(*rel, *cap)))
				abort();
		}
		snprintf(*rel + len, *cap - len, "%s%s", len ? "/" : "", e->d_name);
		size_t sub = len + n + (len > 0);
		struct stat st;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			abort();
		if (out->n == out->cap) {
			out->cap = out->cap ? 2 * out->cap : 64;
			if (!(out->v = realloc(out->v, out->cap * sizeof *out->v)))
				abort();
		}
		struct node *nd = &out->v[out->n++];
		memset(nd, 0, sizeof *nd);
		if (!(nd->path = strdup(*rel)))
			abort();
		nd->type = type_of(st.st_mode);
		nd->mode = st.st_mode & 07777;
		if (nd->type == 'f') {
			nd->nlink = st.st_nlink;
			int f = openat(dirfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (f < 0 || rep_sha256_fd(f, nd->hex) < 0)
				abort();
			close(f);
		} else if (nd->type == 'l') {
			char target[PATH_MAX + 1];
			ssize_t got = readlinkat(dirfd, e->d_name, target, sizeof target - 1);
			if (got < 0)
				abort();
			target[got] = 0;
			if (!(nd->target = strdup(target)))
				abort();
		} else if (nd->type == 'd') {
			int below = openat(dirfd, e->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (below < 0)
				abort();
			list_tree(below, rel, sub, cap, out);
		}
		(*rel)[len] = 0;
	}
	closedir(d);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct node *)a)->path, ((const struct node *)b)->path);
}

static void list_dir(const char *top, struct list *out)
{
	size_t cap = 4096;
	char *rel = malloc(cap);
	int dirfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (!rel || dirfd < 0)
		abort();
	rel[0] = 0;
	memset(out, 0, sizeof *out);
	list_tree(dirfd, &rel, 0, &cap, out);
	free(rel);
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, by_path);
}

static void free_list(struct list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].target);
	}
	free(l->v);
}

static const char *shown(const char *s)
{
	static char buf[4][600];
	static int k;
	char *v = rep_visible(s, strlen(s) > 200 ? 200 : strlen(s));
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s%s", v, strlen(s) > 200 ? "..." : "");
	free(v);
	return buf[k];
}

/* The two trees entry by entry. */
static void same_trees(const struct list *a, const struct list *b)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int cmp = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->v[i].path, b->v[j].path);
		if (cmp < 0)
			fuzz_fail("%s: unpacked by the library (type %c), not by GNU tar",
			    shown(a->v[i].path), a->v[i].type);
		if (cmp > 0)
			fuzz_fail("%s: unpacked by GNU tar (type %c, mode %04o), not by the library",
			    shown(b->v[j].path), b->v[j].type, b->v[j].mode);
		const struct node *x = &a->v[i++], *y = &b->v[j++];
		if (x->type != y->type)
			fuzz_fail("%s: type %c for the library, %c for GNU tar", shown(x->path),
			    x->type, y->type);
		if (x->type == 'f' && strcmp(x->hex, y->hex))
			fuzz_fail("%s: content differs (library %.12s, GNU tar %.12s)",
			    shown(x->path), x->hex, y->hex);
		if (x->type == 'f' && (x->mode & 0100) != (y->mode & 0100))
			fuzz_fail("%s: owner-execute bit differs (library %04o, GNU tar %04o)",
			    shown(x->path), x->mode, y->mode);
		if (x->type == 'f' && x->nlink != y->nlink)
			fuzz_fail("%s: link count differs (library %lu, GNU tar %lu)",
			    shown(x->path), (unsigned long)x->nlink, (unsigned long)y->nlink);
		if (x->type == 'l' && strcmp(x->target, y->target))
			fuzz_fail("%s: symlink target differs (library %s, GNU tar %s)",
			    shown(x->path), shown(x->target), shown(y->target));
	}
}

/* What rep writes: 0644 or 0755 files, 0755 directories, and nothing
 * but files, directories and symlinks. */
static void rep_modes(const struct list *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct node *x = &b->v[i];
		if (x->type == 'f' && x->mode != 0644 && x->mode != 0755)
			fuzz_fail("%s: GNU tar made a file of mode %04o", shown(x->path), x->mode);
		if (x->type == 'd' && x->mode != 0755)
			fuzz_fail("%s: GNU tar made a directory of mode %04o", shown(x->path), x->mode);
		if (x->type != 'f' && x->type != 'd' && x->type != 'l')
			fuzz_fail("%s: GNU tar made an entry of type %c", shown(x->path), x->type);
	}
}

/* Each application of the manifest, hashed from b/ with the library's
 * tree functions, as rep-register would (no cache): an application
 * that GNU tar did not make is empty. */
static void b_matches_manifest(void)
{
	char top[1200];
	snprintf(top, sizeof top, "%s/rep_applications", dir_b);
	int appsfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	for (size_t i = 0; i < m.apps.n; i++) {
		const struct rep_app *want = m.apps.val[i];
		struct rep_tree t = { 0 };
		struct rep_fold f;
		struct rep_sum sum;
		int appfd = appsfd < 0 ? -1 :
		    openat(appsfd, want->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (appfd >= 0)
			rep_tree_list(appsfd, want->name, &t);
		rep_fold_init(&f);
		for (size_t k = 0; k < t.n; k++) {
			struct rep_entry *e = &t.e[k];
			if (e->type == 'f' || e->type == 'x') {
				char hex[65];
				int file = openat(appfd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
				if (file < 0 || rep_sha256_fd(file, hex) < 0)
					fuzz_fail("%s/%s: unreadable in GNU tar's tree", want->name,
					    shown(e->path));
				close(file);
				for (int h = 0; h < 32; h++)
					sscanf(hex + 2 * h, "%2hhx", &e->digest[h]);
				e->size = e->st.size;
			}
			rep_fold_add(&f, e->type, e->path, e->digest, e->size);
		}
		rep_fold_end(&f, &sum);
		rep_tree_free(&t);
		if (appfd >= 0)
			close(appfd);
		if (sum.files != want->files || sum.bytes != want->bytes ||
		    strcmp(sum.checksum, want->checksum))
			fuzz_fail("%s: GNU tar's tree has %lld files, %lld bytes, checksum %.12s; "
			    "the manifest %lld, %lld, %.12s", want->name, (long long)sum.files,
			    (long long)sum.bytes, sum.checksum, (long long)want->files,
			    (long long)want->bytes, want->checksum);
	}
	if (appsfd >= 0)
		close(appsfd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static jmp_buf back;
	static const char *volatile step;
	static char said[2000];

	step = NULL;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	fuzz_catch(&caught, msgs);
	if (FUZZ_TRY(back)) {
		fuzz_caught(&caught, said, sizeof said);
		/* a check may fail; nothing after a check that passed may */
		if (step)
			fuzz_fail("%s failed on an archive the check passed: %s", step, said);
		rep_fuzz_archive_reset();
		rep_manifest_free(&m);
		return 0;
	}
	rep_archive_check(path, &m);
	step = "the library's unpack";
	if (mkdir(dir_a, 0755) < 0 || mkdir(dir_b, 0755) < 0)
		abort();
	int a = open(dir_a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a < 0)
		abort();
	rep_archive_unpack(path, a, &m);
	close(a);
	if (fchdir(cwd) < 0)
		abort();
	int rc = gnu_tar();
	if (rc != 0) {
		ssize_t n = pread(errfd, said, sizeof said - 1, 0);
		said[n > 0 ? n : 0] = 0;
		fuzz_fail("GNU tar failed (exit %d) on an archive the check passed: %s", rc, said);
	}
	const char *other = beside();
	if (other)
		fuzz_fail("%s: written beside the release (by GNU tar?)", shown(other));
	struct list la, lb;
	list_dir(dir_a, &la);
	list_dir(dir_b, &lb);
	same_trees(&la, &lb);
	rep_modes(&lb);
	free_list(&la);
	free_list(&lb);
	step = "hashing GNU tar's tree";
	b_matches_manifest();
	fuzz_caught(&caught, said, sizeof said);
	rep_manifest_free(&m);
	if (rep_rm_tree(AT_FDCWD, dir_a) != 0 || rep_rm_tree(AT_FDCWD, dir_b) != 0)
		abort();
	return 0;
}
