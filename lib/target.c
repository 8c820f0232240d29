/* The dispatcher between the deploy protocol and the kinds of target:
 * an operand goes to the first kind in rep_transports that claims it,
 * and each operation runs through that kind's table. What the protocol
 * knows of a target (its live release, its releases) is kept here, so
 * that no backend has to. */
#include <stdlib.h>
#include <string.h>

#include "transport.h"

/* What no kind of target may hold: bytes the records and the history
 * could not carry. Anything doubtful is refused before any connection. */
void rep_target_parse(struct rep_target *t, const char *arg)
{
	memset(t, 0, sizeof *t);
	t->arg = arg;
	if (!*arg)
		rep_die("'': empty target");
	const char *why = rep_note_error(arg);
	if (why)
		rep_die("%s: %s", arg, strcmp(why, "not valid UTF-8") == 0 ?
		    "not valid UTF-8 (the output and the history must be)" : "control character in the target");
	if (strchr(arg, ','))
		rep_die("%s: comma in the target (the output joins targets with commas)", arg);
	for (const struct rep_transport *const *k = rep_transports; *k; k++)
		if ((*k)->parse(t, arg)) {
			t->ops = *k;
			return;
		}
	rep_die("%s: not a target rep-push can reach", arg);
}

void rep_target_begin(struct rep_target *t, enum rep_lock how)
{
	if (t->ops->begin)
		t->ops->begin(t, how);
}

int rep_target_open(struct rep_target *t, enum rep_lock how)
{
	return t->ops->open(t, how);
}

int rep_target_live(struct rep_target *t)
{
	return t->ops->live(t);
}

int rep_target_stage(struct rep_target *t, const struct rep_stage_src *src, const char *release,
    const struct rep_manifest *m, const struct rep_compose *c)
{
	return t->ops->stage(t, src, release, m, c);
}

/* Logs line, then points current at release to ("" removes it). */
int rep_target_switch(struct rep_target *t, const char *to, const char *line)
{
	int rc = t->ops->switch_to(t, to, line);
	if (rc == 0)
		snprintf(t->current, sizeof t->current, "%s", to);
	return rc;
}

int rep_target_prune(struct rep_target *t, char *const *names, size_t n)
{
	/* with no names too: what of store/ no release links to goes */
	int rc = t->ops->prune(t, names, n);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rep_releases_put(&t->releases, names[i], NULL);
	return rc;
}

int rep_target_verify(struct rep_target *t, const char *release)
{
	return t->ops->verify(t, release, rep_releases_get(&t->releases, release));
}

char *rep_target_manifest(struct rep_target *t, const char *release)
{
	return t->ops->manifest(t, release);
}

/* res is always filled: freed with rep_hook_result_free() whatever
 * the answer. */
int rep_target_hook(struct rep_target *t, const struct rep_hook *h, struct rep_hook_result *res)
{
	memset(res, 0, sizeof *res);
	int rc = t->ops->hook(t, h, res);
	if (rc < 0)
		rep_hook_result_free(res);
	return rc;
}

int rep_target_pending(struct rep_target *t, const char *set, char *was, size_t size)
{
	if (size)
		was[0] = 0;
	return t->ops->pending(t, set, was, size);
}

void rep_target_close(struct rep_target *t)
{
	if (t->ops)
		t->ops->close(t);
	rep_strset_free(&t->releases);
	rep_strset_free(&t->links);
	rep_strset_free(&t->hooks);
	t->pending[0] = 0;
	free(t->log);
	free(t->live_manifest);
	t->log = t->live_manifest = NULL;
}
