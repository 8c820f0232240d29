/* Release names and their order, the set of releases a target holds,
 * and the lock line: the leaf that every kind of target and the deploy
 * protocol share. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "rep.h"

/* A release is named after its archive, as rep-tar names them:
 * rep_applications_YYYYMMDD_HHMMSS, then _2, _3, ... for later ones
 * made in the same second. Nothing else in releases/ is ours. */
static int digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* The N of _N (no leading zero, at least 2), 1 for none, -1 if bad. */
static long release_seq(const char *s)
{
	const char *p = s + strlen("rep_applications_YYYYMMDD_HHMMSS");
	size_t n = strlen(p + (*p == '_'));

	if (!*p)
		return 1;
	if (p[0] != '_' || n == 0 || n > 9 || p[1] == '0' || !digits(p + 1, (int)n))
		return -1;
	long v = strtol(p + 1, NULL, 10);
	return v >= 2 ? v : -1;
}

int rep_release_name(const char *s)
{
	const char *pre = "rep_applications_";
	size_t n = strlen(pre);

	return strncmp(s, pre, n) == 0 && strlen(s) >= n + 15 && digits(s + n, 8) &&
	    s[n + 8] == '_' && digits(s + n + 9, 6) && release_seq(s) > 0;
}

/* Oldest first: by the time in the name, then by the _N suffix. */
int rep_release_cmp(const char *a, const char *b)
{
	int c = strncmp(a, b, strlen("rep_applications_YYYYMMDD_HHMMSS"));
	if (c)
		return c;
	long x = release_seq(a), y = release_seq(b);
	return (x > y) - (x < y);
}

/* The archive's release name: its file name without .tar.gz. */
char *rep_release_of(const char *archive)
{
	const char *base = strrchr(archive, '/') ? strrchr(archive, '/') + 1 : archive;
	size_t n = strlen(base);

	if (n < 8 || strcmp(base + n - 7, ".tar.gz") != 0)
		return NULL;
	char *stem = rep_xstrdup(base);
	stem[n - 7] = 0;
	if (!rep_release_name(stem)) {
		free(stem);
		return NULL;
	}
	return stem;
}

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
