/* The set of releases a target holds, and the lock line: the leaf that
 * every kind of target and the deploy protocol share. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "rep.h"

const char *rep_hostname(void)
{
	static struct utsname u;

	if (!u.nodename[0] && uname(&u) < 0)
		snprintf(u.nodename, sizeof u.nodename, "localhost");
	return u.nodename;
}

/* Who pushes, as the lock records it: user@host. */
const char *rep_pusher(void)
{
	static char who[512];

	if (!who[0])
		snprintf(who, sizeof who, "%s@%s", rep_user(), rep_hostname());
	return who;
}

/* The lock line: where its holder runs (host and pid, so that a holder
 * that died can be told from a live one), who pushes, and since when. */
void rep_lock_line(char *buf, size_t size, long pid)
{
	char now[32];

	snprintf(buf, size, "%s\t%ld\t%s\t%s", rep_hostname(), pid, rep_pusher(), rep_now(now));
}

/* "pid 42 on web1 (alice@build since ...)" from a lock line, for
 * "locked by ...": a lock is text from the target, shown with its
 * control bytes visible. */
void rep_lock_holder(const char *line, char *out, size_t size)
{
	char *f[4] = { 0 }, *copy = rep_xstrdup(line);
	int nf = 0;

	for (char *p = copy; nf < 4 && p; nf++) {
		f[nf] = rep_visible(p, strcspn(p, "\t"));
		if ((p = strchr(p, '\t')))
			p++;
	}
	if (nf == 4)
		snprintf(out, size, "pid %s on %s (%s since %s)", f[1], f[0], f[2], f[3]);
	else
		snprintf(out, size, "an unreadable lock");
	for (int i = 0; i < nf; i++)
		free(f[i]);
	free(copy);
}

/* A release's MANIFEST SHA-256 in a target's set: NULL when there is no
 * such release (or it was pruned). */
const char *rep_releases_get(const struct rep_strset *s, const char *name)
{
	long i = rep_strset_find(s, name);
	return i < 0 ? NULL : s->val[i];
}

void rep_releases_put(struct rep_strset *s, const char *name, const char *msha)
{
	long i = rep_strset_find(s, name);
	if (i >= 0) {
		free(s->val[i]);
		s->val[i] = msha ? rep_xstrdup(msha) : NULL;
	} else if (msha) {
		rep_strset_add(s, name, rep_xstrdup(msha));
	}
}

/* Every name in the directory dirfd but . and .., hidden ones too. */
static void dir_names(int dirfd, const char *label, struct rep_strset *out)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (!d)
		rep_die_errno("%s", label);
	while ((errno = 0, de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			rep_strset_add(out, de->d_name, NULL);
	if (errno)
		rep_die_errno("%s", label);
	closedir(d);
}


/* The S of a link of a release's rep_applications/NAME whose text is
 * exactly ../../../store/S/rep_applications/NAME, S a release's name:
 * 1 (S copied to s unless NULL), else 0. */
int rep_store_link(const char *text, const char *name, char s[REP_NAME_MAX + 1])
{
	const char *apps = "/rep_applications/";
	size_t pre = strlen(REP_STORE_LINK);
	char buf[REP_NAME_MAX + 1];

	if (strncmp(text, REP_STORE_LINK, pre) != 0)
		return 0;
	const char *p = text + pre, *slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) > REP_NAME_MAX)
		return 0;
	memcpy(buf, p, (size_t)(slash - p));
	buf[slash - p] = 0;
	if (!rep_release_name(buf) || strncmp(slash, apps, strlen(apps)) != 0 ||
	    strcmp(slash + strlen(apps), name) != 0)
		return 0;
	if (s)
		memcpy(s, buf, (size_t)(slash - p) + 1);
	return 1;
}

/* Two MANIFEST rows of one application with the same content: name,
 * files, bytes and checksum, and directories unless either is unknown. */
int rep_release_same_app(const struct rep_manifest_app *a, const struct rep_manifest_app *b)
{
	return strcmp(a->app.name, b->app.name) == 0 && a->remove == b->remove &&
	    a->app.files == b->app.files && a->app.bytes == b->app.bytes &&
	    strcmp(a->app.checksum, b->app.checksum) == 0 &&
	    (a->dirs < 0 || b->dirs < 0 || a->dirs == b->dirs);
}

/* The MANIFEST of the release at dirfd, as rep-push leaves it: mode
 * 0644, the login's, with the SHA-256 msha (unless NULL or "-"); parsed
 * into m. */
static void read_manifest(int dirfd, const char *label, const char *msha, struct rep_manifest *m,
    int release)
{
	struct stat st;
	char sha[65];
	int fd = rep_open_regular(dirfd, "MANIFEST");

	if (fd < 0 || fstat(fd, &st) < 0)
		rep_die_errno("%s/MANIFEST", label);
	if (st.st_size > REP_MANIFEST_MAX || (st.st_mode & 07777) != 0644 || st.st_uid != geteuid())
		rep_die("%s/MANIFEST: not as rep-push leaves it", label);
	char *text = rep_xmalloc((size_t)st.st_size + 1);
	ssize_t n = rep_read_full(fd, text, (size_t)st.st_size + 1);
	if (n != st.st_size || memchr(text, 0, (size_t)n))
		rep_die("%s/MANIFEST: changed while being read", label);
	text[n] = 0;
	close(fd);
	rep_sha256_hex(text, (size_t)n, sha);
	if (msha && strcmp(msha, "-") != 0 && strcmp(sha, msha) != 0)
		rep_die("%s/MANIFEST: changed since it was listed", label);
	m->release = release;
	rep_manifest_parse(label, text, m);
	free(text);
}

/* MANIFEST and rep_applications/ beside it, nothing else; the
 * descriptor of rep_applications/, checked for its mode and owner. */
static int open_apps(int dirfd, const char *label)
{
	struct rep_strset top = { 0 };
	struct stat st, top_st;
	const char *want[] = { "MANIFEST", "rep_applications" };

	dir_names(dirfd, label, &top);
	for (size_t i = 0; i < top.n; i++)
		if (strcmp(top.v[i], want[0]) != 0 && strcmp(top.v[i], want[1]) != 0)
			rep_die("%s/%s: not part of a release", label, top.v[i]);
	rep_strset_free(&top);
	int appsfd = openat(dirfd, "rep_applications", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (appsfd < 0 || fstat(appsfd, &st) < 0)
		rep_die_errno("%s/rep_applications", label);
	if ((st.st_mode & 07777) != 0755)
		rep_die("%s/rep_applications: mode %o, not 755", label, (unsigned)(st.st_mode & 07777));
	if (fstat(dirfd, &top_st) < 0)
		rep_die_errno("%s", label);
	if (top_st.st_uid != geteuid() || st.st_uid != geteuid())
		rep_die("%s: owned by another than the login that pushes", label);
	return appsfd;
}

/* The old format, as an unpacked archive is: in rep_applications/ the
 * applications the MANIFEST adds and nothing else, each a directory with
 * its files, bytes, checksum and (version 2) directories, and the modes
 * a release has (0755 directories, 0644 and 0755 files). */
static void check_apps(int appsfd, const char *label, const struct rep_manifest *m,
    const struct rep_strset *apps)
{
	struct stat st;

	for (size_t i = 0; i < apps->n; i++) {
		long k = rep_strset_find(&m->apps, apps->v[i]);
		const struct rep_manifest_app *a = k >= 0 ? m->apps.val[k] : NULL;
		if (!a || a->remove)
			rep_die("%s/rep_applications/%s: not in its MANIFEST", label, apps->v[i]);
	}
	struct rep_hash_job *jobs = calloc(m->apps.n + 1, sizeof *jobs);
	size_t nj = 0;
	if (!jobs)
		rep_die("out of memory");
	for (size_t i = 0; i < m->apps.n; i++) {
		const struct rep_manifest_app *a = m->apps.val[i];
		if (a->remove)
			continue;
		if (rep_strset_find(apps, a->app.name) < 0)
			rep_die("%s/rep_applications/%s: missing", label, a->app.name);
		if (fstatat(appsfd, a->app.name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
		    (st.st_mode & 07777) != 0755 || st.st_uid != geteuid())
			rep_die("%s/rep_applications/%s: not a directory of mode 755 owned by the login that pushes",
			    label, a->app.name);
		struct rep_tree t;
		int64_t dirs = 0;
		rep_tree_list(appsfd, a->app.name, &t);
		if (rep_problems_tell(&t.bad))
			rep_die("%s/rep_applications/%s: holds what no release does", label, a->app.name);
		for (size_t j = 0; j < t.n; j++) {
			const struct rep_entry *e = &t.e[j];
			unsigned mode = (unsigned)(e->st.mode & 07777);
			/* another owner could change it, through a hard link to a
			 * file of theirs put in its place, say */
			if (e->st.uid != (int64_t)geteuid())
				rep_die("%s/rep_applications/%s/%s: owned by uid %lld, not by the login that pushes",
				    label, a->app.name, e->path, (long long)e->st.uid);
			unsigned want_mode = e->type == 'd' || e->type == 'x' ? 0755 : 0644;
			dirs += e->type == 'd';
			if (e->type != 'l' && mode != want_mode)
				rep_die("%s/rep_applications/%s/%s: mode %o, not %o", label, a->app.name,
				    e->path, mode, want_mode);
		}
		rep_tree_free(&t);
		if (a->dirs >= 0 && dirs != a->dirs)
			rep_die("%s/rep_applications/%s: %lld directories, %lld in its MANIFEST", label,
			    a->app.name, (long long)dirs, (long long)a->dirs);
		jobs[nj++].name = a->app.name;
	}
	rep_opt.quiet = 1;   /* no progress line of its own */
	rep_hash_apps(appsfd, jobs, nj, REP_HASH_ALL, NULL);
	for (size_t i = 0; i < nj; i++) {
		const struct rep_manifest_app *a = m->apps.val[rep_strset_find(&m->apps, jobs[i].name)];
		if (rep_problems_tell(&jobs[i].bad))
			rep_die("%s/rep_applications/%s: cannot be read whole", label, a->app.name);
		if (jobs[i].sum.files != a->app.files || jobs[i].sum.bytes != a->app.bytes ||
		    strcmp(jobs[i].sum.checksum, a->app.checksum) != 0)
			rep_die("%s/rep_applications/%s: content differs from its MANIFEST", label, a->app.name);
	}
	for (size_t i = 0; i < nj; i++)
		rep_cache_free(&jobs[i]);
	free(jobs);
}

/* A tree of the old format whole (a release rep-push made before
 * releases were composed, or a store entry), its MANIFEST left in m. */
static void verify_tree(int dirfd, const char *label, const char *msha, struct rep_manifest *m)
{
	struct rep_strset apps = { 0 };

	read_manifest(dirfd, label, msha, m, 0);
	int appsfd = open_apps(dirfd, label);
	dir_names(appsfd, label, &apps);
	check_apps(appsfd, label, m, &apps);
	close(appsfd);
	rep_strset_free(&apps);
}

/* Whether rep_applications/ holds links: a release of the new format. */
static int has_links(int appsfd, const struct rep_strset *apps)
{
	struct stat st;

	for (size_t i = 0; i < apps->n; i++)
		if (fstatat(appsfd, apps->v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			return 1;
	return 0;
}

/* The new format: a full MANIFEST (version 2, add rows only), one link
 * per row into store/S, each store/S checked whole as an unpacked
 * archive, and each row the same as the one that brought it. */
static void check_links(int storefd, int appsfd, const char *label, const struct rep_manifest *m,
    const struct rep_strset *apps)
{
	struct rep_strset stores = { 0 };
	struct stat st;
	char link[4096], s[REP_NAME_MAX + 1];
	char **where = calloc(m->apps.n + 1, sizeof *where);

	if (!where)
		rep_die("out of memory");
	if (m->version != 2)
		rep_die("%s/MANIFEST: version 1, not the MANIFEST of a release of links", label);
	for (size_t i = 0; i < m->apps.n; i++)
		if (((const struct rep_manifest_app *)m->apps.val[i])->remove)
			rep_die("%s/MANIFEST: %s: a removal row in the MANIFEST of a release of links", label,
			    m->apps.v[i]);
	for (size_t i = 0; i < apps->n; i++) {
		const char *name = apps->v[i];
		long k = rep_strset_find(&m->apps, name);
		if (k < 0)
			rep_die("%s/rep_applications/%s: not in its MANIFEST", label, name);
		if (fstatat(appsfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rep_die_errno("%s/rep_applications/%s", label, name);
		if (!S_ISLNK(st.st_mode))
			rep_die("%s/rep_applications/%s: not a symbolic link, as the others are", label, name);
		if (st.st_uid != geteuid())
			rep_die("%s/rep_applications/%s: owned by another than the login that pushes", label, name);
		ssize_t n = readlinkat(appsfd, name, link, sizeof link - 1);
		if (n < 0)
			rep_die_errno("%s/rep_applications/%s", label, name);
		link[n] = 0;
		if (!rep_store_link(link, name, s)) {
			char *shown = rep_visible(link, (size_t)n);
			rep_die("%s/rep_applications/%s: a link to %s, not to " REP_STORE_LINK
			    "RELEASE/rep_applications/%s", label, name, shown, name);
		}
		where[k] = rep_xstrdup(s);
		if (rep_strset_find(&stores, s) < 0)
			rep_strset_add(&stores, s, NULL);
	}
	for (size_t i = 0; i < m->apps.n; i++)
		if (!where[i])
			rep_die("%s/rep_applications/%s: missing", label, m->apps.v[i]);
	for (size_t j = 0; j < stores.n; j++) {
		char slabel[REP_NAME_MAX + 16];
		struct rep_manifest sm = { 0 };
		snprintf(slabel, sizeof slabel, "store/%s", stores.v[j]);
		int sfd = storefd < 0 ? (errno = ENOENT, -1) :
		    openat(storefd, stores.v[j], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0)
			rep_die_errno("%s", slabel);
		verify_tree(sfd, slabel, NULL, &sm);
		close(sfd);
		for (size_t i = 0; i < m->apps.n; i++) {
			if (strcmp(where[i], stores.v[j]) != 0)
				continue;
			long k = rep_strset_find(&sm.apps, m->apps.v[i]);
			if (k < 0 || !rep_release_same_app(m->apps.val[i], sm.apps.val[k]))
				rep_die("%s/MANIFEST: %s: not as %s/MANIFEST lists it", label, m->apps.v[i], slabel);
		}
		rep_manifest_free(&sm);
	}
	for (size_t i = 0; i < m->apps.n; i++)
		free(where[i]);
	free(where);
	rep_strset_free(&stores);
}

/* A release on a local target is exactly what its MANIFEST says: the
 * MANIFEST with the SHA-256 msha (unless NULL or "-"), rep_applications/
 * beside it and nothing else. Of the old format (storefd -1: only that),
 * in it the applications the MANIFEST adds, as check_apps() checks them;
 * of the new, a link for each into store/, and what they link to
 * checked (check_links()). Dies naming what differs, and quiets rep_opt:
 * run it in a child process. */
void rep_release_verify(int storefd, int dirfd, const char *label, const char *msha)
{
	struct rep_manifest m = { 0 };
	struct rep_strset apps = { 0 };

	read_manifest(dirfd, label, msha, &m, 1);
	int appsfd = open_apps(dirfd, label);
	dir_names(appsfd, label, &apps);
	rep_opt.quiet = 1;
	if (storefd != -1 && has_links(appsfd, &apps))
		check_links(storefd, appsfd, label, &m, &apps);
	else
		check_apps(appsfd, label, &m, &apps);
	close(appsfd);
	rep_strset_free(&apps);
	rep_manifest_free(&m);
}
