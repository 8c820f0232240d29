/* Deploy targets: what a TARGET operand names, release names and their
 * order, and the operations rep-push runs on a target, dispatched to a
 * local directory (local.c) or a host over ssh (ssh.c). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "rep.h"

void rep_target_error(const struct rep_target *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rep_vline(t->arg, fmt, ap, NULL);
	va_end(ap);
}

/* Host names and users reach ssh's command line and the remote shell:
 * only the bytes a host name or login can hold. */
static int plain_word(const char *s, const char *extra)
{
	for (const char *c = s; *c; c++)
		if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') &&
		    !(*c >= '0' && *c <= '9') && !strchr(extra, *c))
			return 0;
	return 1;
}

/* [2001:db8::1] or [fe80::1%eth0]: hex digits, ':' and '.', a zone. */
static int ipv6(const char *s)
{
	size_t n = strspn(s, "0123456789abcdefABCDEF:.");

	return strchr(s, ':') && (s[n] == 0 || (s[n] == '%' && s[n + 1] && plain_word(s + n + 1, "._-")));
}

static _Noreturn void bad_target(const char *arg, const char *why)
{
	rep_die("%s: %s", arg, why);
}

/* TARGET is [user@]host:DIR when a ':' comes before any '/' (as with
 * scp and rsync; write ./a:b for a local directory named a:b), else a
 * local directory. Anything doubtful is refused before any connection. */
void rep_target_parse(struct rep_target *t, const char *arg)
{
	memset(t, 0, sizeof *t);
	t->arg = arg;
	t->dirfd = -1;
	t->keeper = -1;
	t->keeper_in = t->keeper_out = t->keeper_err = -1;
	if (!*arg)
		bad_target("''", "empty target");
	const char *why = rep_note_error(arg);
	if (why)
		bad_target(arg, strcmp(why, "not valid UTF-8") == 0 ?
		    "not valid UTF-8 (the output and the history must be)" : "control character in the target");
	if (strchr(arg, ','))
		bad_target(arg, "comma in the target (the output joins targets with commas)");
	size_t slash = strcspn(arg, "/"), at = strcspn(arg, "@");
	const char *host = at < slash && at < strcspn(arg, ":") ? arg + at + 1 : arg;
	const char *colon = host[0] == '[' && strstr(host, "]:") ? strstr(host, "]:") + 1 : strchr(host, ':');
	if (!colon || (size_t)(colon - arg) > slash) {
		if (arg[0] == '-')
			bad_target(arg, "a directory beginning with '-' (write ./ before it)");
		t->dir = rep_xstrdup(arg);
		return;
	}
	if (host != arg) {
		t->user = rep_xstrdup(arg);
		t->user[host - 1 - arg] = 0;
		if (!*t->user)
			bad_target(arg, "empty user name");
		if (t->user[0] == '-')
			bad_target(arg, "a user name beginning with '-'");
		if (!plain_word(t->user, "._-"))
			bad_target(arg, "a user name with characters other than letters, digits, '.', '_' and '-'");
	}
	char *h = rep_xstrdup(host);
	h[colon - host] = 0;
	t->dir = rep_xstrdup(colon + 1);
	size_t n = strlen(h);
	if (!*h)
		bad_target(arg, "empty host name");
	if (h[0] == '-')
		bad_target(arg, "a host name beginning with '-'");
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			bad_target(arg, "not an IPv6 address between [ and ]");
		h[n - 1] = 0;
		memmove(h, h + 1, n - 1);
		if (!ipv6(h))
			bad_target(arg, "not an IPv6 address between [ and ]");
	} else if (!plain_word(h, ".-_")) {
		bad_target(arg, "a host name with characters other than letters, digits, '.', '-' and '_'");
	}
	t->host = h;
	if (t->dir[0] != '/')
		bad_target(arg, "a remote directory must be an absolute path");
}

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

/* "locked by pid 42 on web1 (alice@build since ...)" from a lock line. */
void rep_lock_holder(const char *line, char *out, size_t size)
{
	char *f[4] = { 0 }, *copy = rep_xstrdup(line);
	int nf = 0;

	for (char *p = copy; nf < 4 && p; nf++) {
		f[nf] = p;
		if ((p = strchr(p, '\t')))
			*p++ = 0;
	}
	if (nf == 4)
		snprintf(out, size, "pid %s on %s (%s since %s)", f[1], f[0], f[2], f[3]);
	else
		snprintf(out, size, "an unreadable lock");
	free(copy);
}

int rep_target_lock(struct rep_target *t, enum rep_lock how)
{
	return t->host ? rep_ssh_lock(t, how) : rep_local_lock(t, how);
}

int rep_target_stage(struct rep_target *t, const char *archive, const char *stem,
    const struct rep_manifest *m)
{
	return t->host ? rep_ssh_stage(t, archive, stem, m) : rep_local_stage(t, archive, stem, m);
}

/* Points current at release to ("" removes it) and reads it back. */
int rep_target_switch(struct rep_target *t, const char *to)
{
	int rc = t->host ? rep_ssh_switch(t, to) : rep_local_switch(t, to);
	if (rc == 0)
		snprintf(t->current, sizeof t->current, "%s", to);
	return rc;
}

int rep_target_prune(struct rep_target *t, char **names, size_t n)
{
	if (n == 0)
		return 0;
	int rc = t->host ? rep_ssh_prune(t, names, n) : rep_local_prune(t, names, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		long k = rep_strset_find(&t->releases, names[i]);
		if (k >= 0) {
			free(t->releases.val[k]);
			t->releases.val[k] = NULL;
		}
	}
	return rc;
}

char *rep_target_manifest(struct rep_target *t, const char *release)
{
	return t->host ? rep_ssh_manifest(t, release) : rep_local_manifest(t, release);
}

void rep_target_unlock(struct rep_target *t)
{
	if (t->host)
		rep_ssh_unlock(t);
	else
		rep_local_unlock(t);
}

/* A release listed under the lock: its MANIFEST's SHA-256, or NULL when
 * there is no such release (or it was pruned). */
const char *rep_target_release(const struct rep_target *t, const char *name)
{
	long i = rep_strset_find(&t->releases, name);
	return i < 0 ? NULL : t->releases.val[i];
}

void rep_target_add_release(struct rep_target *t, const char *name, const char *msha)
{
	long i = rep_strset_find(&t->releases, name);
	if (i >= 0) {
		free(t->releases.val[i]);
		t->releases.val[i] = rep_xstrdup(msha);
	} else {
		rep_strset_add(&t->releases, name, rep_xstrdup(msha));
	}
}
