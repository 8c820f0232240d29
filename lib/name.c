/* Names: of applications, statuses and releases. */
#include <stdlib.h>
#include <string.h>

#include "rep.h"

const char *const rep_statuses[] = {
	"registered", "ready", "pending_deployment", "deployed", "failed", "retired", NULL
};

int rep_name_valid(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-");

	return n > 0 && n <= REP_NAME_MAX && s[n] == 0 && s[0] != '.' && s[0] != '-';
}

/* A SHA-256 checksum as every record and MANIFEST writes it: 64
 * lower-case hex digits. */
int rep_sum_valid(const char *s)
{
	return strspn(s, "0123456789abcdef") == 64 && s[64] == 0;
}

void rep_name_check(const char *s, const struct rep_rec *where)
{
	if (rep_name_valid(s))
		return;
	if (where && where->line)
		rep_die("%s:%lu: %s: invalid application name (1-128 bytes of A-Za-z0-9._+-, not starting with . or -)",
		    where->src, where->line, s);
	rep_die("%s: invalid application name (1-128 bytes of A-Za-z0-9._+-, not starting with . or -)", s);
}

int rep_status_valid(const char *s)
{
	for (int i = 0; rep_statuses[i]; i++)
		if (strcmp(s, rep_statuses[i]) == 0)
			return 1;
	return 0;
}

void rep_status_check(const char *s)
{
	if (!rep_status_valid(s))
		rep_die("%s: invalid status (valid: registered, ready, pending_deployment, deployed, failed, retired)", s);
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

const char *const rep_hook_phases[4] = { "configure", "start", "check", "stop" };
