/* rep-push: deploy archives to local and ssh targets in two phases
 * (lib/deploy.c): stage the release everywhere, then switch every
 * current to it, or switch back the ones already switched. This file
 * reads the options and the archives and prints what the deploy tells. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rep.h"

enum { OPT_ROLLBACK = REP_OPT_TOOL, OPT_TIMEOUT, OPT_REPLACE };

static const struct rep_optdef opts[] = {
	{'n', "dry-run", NULL, "check the archives and show the plan; change nothing"},
	REP_OPTDEF_QUIET,
	{'j', "jobs", "N", "stage on up to N targets at once (default 1)"},
	{'k', "keep", "KEEP", "keep the KEEP newest releases and those KEEP rollbacks could reach (default 5)"},
	{OPT_REPLACE, "replace", NULL, "a release holds the archive's applications only, not what was live"},
	{OPT_ROLLBACK, "rollback", NULL, "undo the most recent push still in effect on every target"},
	{OPT_TIMEOUT, "timeout", "SECONDS", "give up on a target silent for SECONDS (default 300)"},
	{0},
};

static const struct rep_tool tool = {
	.synopsis =
	"usage: rep-push [-nq] [-j N] [-k KEEP] [--replace] [--timeout SECONDS] TARGET... < archives\n"
	"       rep-push [-nq] [-k KEEP] [--timeout SECONDS] --rollback TARGET...\n"
	"Deploy each archive named on stdin (first field of each record) to every\n"
	"TARGET, a local directory or [user@]host:DIR reached with $REP_SSH: on all\n"
	"targets first stage a release of what is live there with the archive's\n"
	"applications added or replaced and those it removes taken out, then\n"
	"switch each DIR/current to it and log the switch in DIR/log. Print name,\n"
	"release and targets of every application the archive put live.\n",
	.opts = opts,
};

struct archive_in {
	const char *path;
	char *release;
	struct rep_manifest m;
};

static void read_archive(struct rep_rec *rec, void *arg)
{
	struct rep_strset *set = arg;
	const char *path = rec->f[0];
	char *release = rep_release_of(path);

	if (!release)
		rep_die("%s: not a rep-tar archive name (rep_applications_YYYYMMDD_HHMMSS[_N].tar.gz)", path);
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(((struct archive_in *)set->val[i])->release, release) == 0)
			rep_die("%s: release %s given twice", path, release);
	struct archive_in *a = calloc(1, sizeof *a);
	if (!a)
		rep_die("out of memory");
	a->path = rep_xstrdup(path);
	a->release = release;
	rep_archive_check(path, &a->m);
	rep_strset_add(set, path, a);
}

/* A step on a target, unless -q: a step of the plan (-n) always,
 * progress only on a terminal. */
static void step(void *arg, int plan, const char *target, const char *fmt, va_list ap)
{
	(void)arg;
	if (!rep_opt.quiet && (plan || rep_stderr_tty()))
		rep_vline(target, fmt, ap, NULL);
}

/* The outcome for one release, unless -q. */
static void outcome(void *arg, const char *release, const char *fmt, va_list ap)
{
	char ctx[PATH_MAX + 16];

	(void)arg;
	if (rep_opt.quiet)
		return;
	snprintf(ctx, sizeof ctx, "%s%s", release, rep_opt.dry_run ? ": dry run" : "");
	rep_vline(ctx, fmt, ap, NULL);
}

/* name, release and targets of each application now live. Once current
 * has switched, output that cannot be written is no reason to go quietly
 * (exit 3, and say what is live). */
static int live(void *arg, const struct rep_manifest *m, const char *release, const char *where)
{
	(void)arg;
	for (size_t i = 0; i < m->apps.n; i++) {
		const char *fields[] = { m->apps.v[i], release, where };
		if (((const struct rep_manifest_app *)m->apps.val[i])->remove)
			continue;
		rep_put_fields(stdout, fields, 3);
	}
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	rep_error_at(release, "live on %s, but its records could not be written: %s", where,
	    strerror(errno));
	return -1;
}

static const struct rep_deploy_cb callbacks = { step, outcome, live };

static int push_all(struct rep_deploy *d, int back, struct rep_strset *archives)
{
	const char *what = back ? "rollback" : ((struct archive_in *)archives->val[0])->release;
	int rc = rep_deploy_open(d, d->dry_run ? REP_LOCK_READ : back ? REP_LOCK_ROLLBACK : REP_LOCK_PUSH, what);

	if (rc == REP_DEPLOY_OK && back)
		return rep_deploy_rollback(d);
	for (size_t i = 0; rc == REP_DEPLOY_OK && i < archives->n; i++) {
		struct archive_in *a = archives->val[i];
		rc = rep_deploy_push(d, a->path, a->release, &a->m);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct rep_strset archives = { 0 };
	struct rep_deploy d = { .jobs = 1, .keep = 5, .cb = &callbacks };
	int c, back = 0;

	rep_init(argv[0]);
	while ((c = rep_getopt(argc, argv, &tool)) != -1) {
		switch (c) {
		case 'j': d.jobs = rep_opt_number("-j", optarg, 1, 64); break;
		case 'k': d.keep = rep_opt_number("-k", optarg, 1, 1000000); break;
		case OPT_ROLLBACK: back = 1; break;
		case OPT_REPLACE: d.replace = 1; break;
		case OPT_TIMEOUT: d.timeout = rep_opt_number("--timeout", optarg, 1, 86400); break;
		}
	}
	rep_opt_finish();
	if (back && d.replace)
		rep_usage_error("--replace is for pushes, not --rollback");
	d.dry_run = rep_opt.dry_run;
	argc -= optind, argv += optind;
	if (argc == 0)
		rep_usage_error("no target");
	rep_deploy_targets(&d, argv, (size_t)argc);
	if (!back) {
		rep_each_input(0, NULL, read_archive, &archives);
		if (archives.n == 0) {
			if (!rep_opt.quiet)
				fprintf(stderr, "%s: nothing to push\n", rep_prog);
			rep_deploy_close(&d);
			return rep_finish();
		}
	}
	rep_cleanup_signals();
	/* a reader gone is a write error to report: the records may matter */
	signal(SIGPIPE, SIG_IGN);
	int rc = push_all(&d, back, &archives);
	rep_deploy_close(&d);
	for (size_t i = 0; i < archives.n; i++) {
		struct archive_in *a = archives.val[i];
		rep_manifest_free(&a->m);
		free(a->release);
		free((char *)a->path);
	}
	rep_strset_free(&archives);
	if (rc == REP_DEPLOY_MIXED)
		return rc;
	if (rep_finish() != 0)
		return 2;
	return rc;
}
