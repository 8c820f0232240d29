/* A fault-injecting kind of target, for the tests only: linked into
 * build/test/rep-push in place of lib/transports.c, never into the
 * installed tools. `fault:SPEC:DIR` is the local directory DIR with the
 * faults SPEC names ('+' between them) injected:
 *   open       opening (locking) fails, and reading what is live
 *   stage      staging fails
 *   switchN    the Nth switch fails, current untouched ("switch": the 1st)
 *   lostN      the Nth switch is made, then the target stops answering:
 *              that switch and every later step report a lost connection
 *   slow       every switch takes a second more (to signal rep-push
 *              while it switches)
 *   prune      pruning fails
 *   manifest   reading a release's MANIFEST fails
 *   verify     verifying a release already there fails (as if changed)
 *   hook       running any hook fails ("hook: injected failure"): it
 *              could not be run at all, as when the far side cannot
 *              (the hooks-pending mark works as locally)
 * so that every compensation path of lib/deploy.c can be driven from a
 * test with real directories. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transport.h"

struct fault {
	void *inner;        /* the local transport's state */
	char spec[256];
	int switches;       /* switch calls so far */
	int lost;
};

static int has(const struct fault *f, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = f->spec; *p; p += strcspn(p, "+"), p += *p == '+')
		if (strncmp(p, word, n) == 0 && (p[n] == '+' || p[n] == 0))
			return 1;
	return 0;
}

/* Runs a local operation with the local transport's state in place. */
#define LOCAL(t, call) ({ \
	struct fault *f_ = (t)->priv; \
	(t)->priv = f_->inner; \
	__typeof__(call) r_ = (call); \
	f_->inner = (t)->priv; \
	(t)->priv = f_; \
	r_; })

static int injected(const struct rep_target *t, const char *what)
{
	rep_error_at(t->arg, "injected fault: %s", what);
	return -1;
}

static int gone(const struct rep_target *t)
{
	struct fault *f = t->priv;

	if (f->lost)
		rep_error_at(t->arg, "connection lost");
	return f->lost;
}

static int fault_parse(struct rep_target *t, const char *arg)
{
	const char *colon;

	if (strncmp(arg, "fault:", 6) != 0)
		return 0;
	if (!(colon = strchr(arg + 6, ':')) || (size_t)(colon - arg - 6) >= sizeof ((struct fault *)0)->spec)
		rep_die("%s: not fault:SPEC:DIR", arg);
	struct fault *f = calloc(1, sizeof *f);
	if (!f)
		rep_die("out of memory");
	memcpy(f->spec, arg + 6, (size_t)(colon - arg - 6));
	rep_local_transport.parse(t, colon + 1);
	f->inner = t->priv;
	t->priv = f;
	return 1;
}

static void fault_identity(const struct rep_target *t, char *buf, size_t size)
{
	struct rep_target copy = *t;

	copy.priv = ((struct fault *)t->priv)->inner;
	rep_local_transport.identity(&copy, buf, size);
}

static int fault_open(struct rep_target *t, enum rep_lock how)
{
	if (has(t->priv, "open"))
		return injected(t, "open");
	return LOCAL(t, rep_local_transport.open(t, how));
}

/* rep-push --status: the open fault makes the target unreadable too */
static int fault_live(struct rep_target *t)
{
	if (has(t->priv, "open"))
		return injected(t, "open");
	return LOCAL(t, rep_local_transport.live(t));
}

static int fault_stage(struct rep_target *t, const struct rep_stage_src *src, const char *release,
    const struct rep_manifest *m, const struct rep_compose *c)
{
	if (has(t->priv, "stage"))
		return injected(t, "stage");
	return LOCAL(t, rep_local_transport.stage(t, src, release, m, c));
}

static int fault_switch(struct rep_target *t, const char *to, const char *line)
{
	struct fault *f = t->priv;
	char word[32];

	if (gone(t))
		return REP_SWITCH_UNKNOWN;
	if (has(f, "slow"))
		sleep(1);
	f->switches++;
	snprintf(word, sizeof word, "switch%d", f->switches);
	if (has(f, word) || (f->switches == 1 && has(f, "switch"))) {
		injected(t, word);
		return REP_SWITCH_FAILED;
	}
	snprintf(word, sizeof word, "lost%d", f->switches);
	int rc = LOCAL(t, rep_local_transport.switch_to(t, to, line));
	if (rc == 0 && has(f, word)) {
		f->lost = 1;
		gone(t);
		return REP_SWITCH_UNKNOWN;
	}
	return rc;
}

static int fault_prune(struct rep_target *t, char *const *names, size_t n)
{
	if (gone(t))
		return -1;
	if (has(t->priv, "prune"))
		return injected(t, "prune");
	return LOCAL(t, rep_local_transport.prune(t, names, n));
}

static char *fault_manifest(struct rep_target *t, const char *release)
{
	if (gone(t))
		return NULL;
	if (has(t->priv, "manifest")) {
		injected(t, "manifest");
		return NULL;
	}
	return LOCAL(t, rep_local_transport.manifest(t, release));
}

static int fault_verify(struct rep_target *t, const char *release, const char *msha)
{
	if (gone(t))
		return -1;
	if (has(t->priv, "verify"))
		return injected(t, "verify");
	return LOCAL(t, rep_local_transport.verify(t, release, msha));
}

static int fault_hook(struct rep_target *t, const struct rep_hook *h, struct rep_hook_result *res)
{
	memset(res, 0, sizeof *res);
	if (gone(t))
		return -1;
	if (has(t->priv, "hook")) {
		rep_error_at(t->arg, "hook: injected failure");
		return -1;
	}
	return LOCAL(t, rep_local_transport.hook(t, h, res));
}

static int fault_pending(struct rep_target *t, const char *set, char *was, size_t size)
{
	if (gone(t))
		return -1;
	return LOCAL(t, rep_local_transport.pending(t, set, was, size));
}

static void fault_close(struct rep_target *t)
{
	struct fault *f = t->priv;

	if (!f)
		return;
	t->priv = f->inner;
	rep_local_transport.close(t);
	free(f);
	t->priv = NULL;
}

static const struct rep_transport fault_transport = {
	.kind = "fault", .parse = fault_parse, .identity = fault_identity,
	.open = fault_open, .live = fault_live, .stage = fault_stage, .shares_feed = 1,
	.switch_to = fault_switch, .prune = fault_prune, .verify = fault_verify,
	.hook = fault_hook, .pending = fault_pending, .manifest = fault_manifest,
	.close = fault_close,
};

const struct rep_transport *const rep_transports[] = {
	&fault_transport,
	&rep_ssh_transport,
	&rep_local_transport,
	NULL,
};
