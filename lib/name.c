/* Application names and statuses. */
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
