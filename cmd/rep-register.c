/* rep-register: add applications to the database, or refresh them. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rep.h"

static const struct rep_optdef opts[] = {
	{'a', "all", NULL, "every valid application directory not registered yet"},
	REP_OPTDEF_WRITER,
	{0},
};

static const struct rep_tool tool = {
	.synopsis =
	"usage: rep-register [-n] [-q] [-H] (--all | NAME...)\n"
	"Hash the named applications and add them to the database with status\n"
	"'registered'; a registered one whose content changed is refreshed (and\n"
	"set back to 'registered' if it was ready, pending_deployment or deployed).\n",
	.opts = opts,
	.files = 1,
	.names_from_stdin = 1,
};

struct input {
	int appsfd;
	struct rep_strset names;
};

static void add_name(struct rep_rec *rec, void *arg)
{
	struct input *in = arg;
	const char *name = rec->f[0];

	rep_name_check(name, rec);
	const char *why = rep_app_dir_problem(in->appsfd, name);
	if (why)
		rep_die("%s: %s in %s", name, why, rep_opt.apps);
	rep_strset_add(&in->names, name, NULL);
}

static int add_registered(const struct rep_app *a, void *arg)
{
	struct rep_strset *registered = arg;
	rep_strset_add(registered, a->name, NULL);
	return 0;
}

/* --all: the valid directories that the database does not know yet. */
static size_t unregistered(struct input *in, struct rep_db *db, size_t *known)
{
	struct rep_strset dirs = { 0 }, registered = { 0 }, invalid = { 0 };
	size_t ninvalid;

	rep_list_apps(in->appsfd, &dirs, &invalid);
	ninvalid = invalid.n;
	rep_strset_free(&invalid);
	if (db)
		rep_db_each_app_by_id(db, add_registered, &registered);
	char **sorted = rep_strset_sorted(&dirs);
	for (size_t i = 0; i < dirs.n; i++)
		if (rep_strset_find(&registered, sorted[i]) < 0)
			rep_strset_add(&in->names, sorted[i], NULL);
	*known = dirs.n - in->names.n;
	free(sorted);
	rep_strset_free(&dirs);
	rep_strset_free(&registered);
	return ninvalid;
}

struct change {            /* a record to print: the job's sum and name */
	size_t job;
	char status[32], registered[32];
};

/* What the run records: each hashed job, in order, becomes an added or
 * refreshed application, or is left as it is. */
struct run {
	struct rep_db *db;
	struct rep_hash_job *jobs;
	struct change *changed;
	size_t nchanged, added, refreshed;
	size_t nbad;             /* applications holding what rep cannot ship */
	const char *bad;         /* the first of them */
	char now[32];
};

/* How many deployment records an application has, and how many of them
 * are of the content sum. */
struct live_check {
	const char *sum;
	size_t n, same;
};

static int count_live(const char *target, const char *checksum, const char *release, void *arg)
{
	struct live_check *lc = arg;

	(void)target, (void)release;
	lc->n++;
	lc->same += strcmp(checksum, lc->sum) == 0;
	return 0;
}

static void record_job(struct run *r, size_t i)
{
	struct rep_hash_job *job = &r->jobs[i];
	struct rep_app app, *a = &app;
	const struct rep_sum *s = &job->sum;

	if (job->bad.n) {
		rep_problems_tell(&job->bad);
		if (!r->nbad++)
			r->bad = job->name;
		return;
	}
	if (r->nbad)   /* nothing will be: the rest is only checked */
		return;
	int found = r->db && rep_db_app_get(r->db, job->name, a);

	if (found && a->files == s->files && a->bytes == s->bytes &&
	    strcmp(a->checksum, s->checksum) == 0) {
		/* registered meanwhile by another run: its id is new */
		job->app_id = a->id;
		if (job->dirty && !rep_opt.dry_run)
			rep_db_cache_store(r->db, job, 0);
		return;
	}
	char note[96], was[sizeof a->status];
	if (found) {
		struct live_check lc = { s->checksum, 0, 0 };
		if (r->db)
			rep_db_each_deployment(r->db, a->id, count_live, &lc);
		int live = lc.n && lc.same == lc.n;
		snprintf(note, sizeof note, "refreshed: %.12s -> %.12s%s", a->checksum, s->checksum,
		    live ? "; live where it was sent" : "");
		r->refreshed++;
		/* the approval, the claim or the deployment was of the old
		 * content: the new one starts over (rule 2); unless the new
		 * content is what is live on every target of its deployment
		 * records (an edit undone), which is deployed */
		strcpy(was, a->status);
		int approved = strcmp(was, "ready") == 0 || strcmp(was, "pending_deployment") == 0 ||
		    strcmp(was, "deployed") == 0;
		if (live && (approved || strcmp(was, "registered") == 0))
			strcpy(a->status, "deployed");
		else if (approved)
			strcpy(a->status, "registered");
	} else {
		memset(a, 0, sizeof *a);
		snprintf(a->name, sizeof a->name, "%s", job->name);
		strcpy(a->status, "registered");
		strcpy(a->registered, r->now);
		r->added++;
	}
	a->files = s->files;
	a->bytes = s->bytes;
	strcpy(a->checksum, s->checksum);
	strcpy(a->updated, r->now);
	struct change *c = &r->changed[r->nchanged++];
	c->job = i;
	strcpy(c->status, a->status);
	strcpy(c->registered, a->registered);
	if (rep_opt.dry_run)
		return;
	if (found) {
		rep_db_app_update_sum(r->db, a);
		rep_db_event(r->db, a->id, r->now, was, a->status, note);
	} else {
		rep_db_app_insert(r->db, a);
		rep_db_event(r->db, a->id, r->now, NULL, "registered", NULL);
	}
	job->app_id = a->id;
	rep_db_cache_store(r->db, job, !found);
}

/* A job recorded, its cache rows are let go: what is held does not
 * grow with the rows of every application. */
static void record(size_t i, void *arg)
{
	struct run *r = arg;

	record_job(r, i);
	rep_cache_free(&r->jobs[i]);
}

static void load(struct rep_hash_job *jobs, size_t n, void *arg)
{
	struct run *r = arg;

	if (r->db)
		rep_db_cache_load(r->db, jobs, n);
}

static void print(const struct run *r, const struct change *c)
{
	const struct rep_hash_job *job = &r->jobs[c->job];
	struct rep_app a = { .files = job->sum.files, .bytes = job->sum.bytes };

	snprintf(a.name, sizeof a.name, "%s", job->name);
	strcpy(a.status, c->status);
	strcpy(a.checksum, job->sum.checksum);
	strcpy(a.registered, c->registered);
	strcpy(a.updated, r->now);
	rep_put_app(stdout, &a, NULL, 0);
}

int main(int argc, char **argv)
{
	struct input in = { 0 };
	struct run r = { 0 };
	int all = 0, c;
	const char *spelled = "-a";
	size_t invalid = 0, known = 0;

	rep_init(argv[0]);
	while ((c = rep_getopt(argc, argv, &tool)) != -1)
		if (c == 'a') {
			/* the message names the option as it was typed: the
			 * word getopt took it from is --all or a prefix of it */
			const char *w = argv[optind - 1];
			size_t n = strlen(w);
			all = 1;
			if (n >= 3 && strncmp(w, "--all", n) == 0)
				spelled = "--all";
		}
	rep_opt_finish();
	argc -= optind, argv += optind;
	if (all && argc)
		rep_usage_error("%s takes no names", spelled);
	in.appsfd = rep_open_apps();
	if (!all)
		rep_each_input(argc, argv, add_name, &in);
	r.db = rep_opt.dry_run ? rep_db_open_maybe() : rep_db_open(REP_RW_CREATE);
	if (all)
		invalid = unregistered(&in, r.db, &known);

	size_t n = in.names.n;
	r.jobs = calloc(n + 1, sizeof *r.jobs);
	r.changed = rep_xmalloc((n + 1) * sizeof *r.changed);
	if (!r.jobs)
		rep_die("out of memory");
	/* --all names only applications the database does not know */
	for (size_t i = 0; i < n; i++) {
		struct rep_app a;
		r.jobs[i].name = in.names.v[i];
		if (r.db && !all && rep_db_app_get(r.db, r.jobs[i].name, &a))
			r.jobs[i].app_id = a.id;
	}
	/* A new database is this run's alone until its commit: its
	 * transaction can take the applications as they are hashed. An
	 * existing one is locked only once all are. */
	int early = r.db && !rep_opt.dry_run && rep_db_is_new(r.db);
	if (early) {
		rep_now(r.now);
		rep_db_begin(r.db);
	}
	rep_hash_apps(in.appsfd, r.jobs, n, 0,
	    &(struct rep_hash_calls){ .load = load, .each = early ? record : NULL, .arg = &r });
	if (!early) {
		rep_now(r.now);
		if (r.db && !rep_opt.dry_run)
			rep_db_begin(r.db);
		for (size_t i = 0; i < n; i++)
			record(i, &r);
	}
	if (r.nbad)
		rep_problems_die(r.nbad, r.bad, "nothing registered");
	/* The records are out before the commit: if they cannot be
	 * written, nothing changes (exit 2, or SIGPIPE). */
	if (rep_opt.header)
		rep_put_header(stdout, rep_app_fields, NULL, REP_APP_NFIELDS);
	for (size_t i = 0; i < r.nchanged; i++)
		print(&r, &r.changed[i]);
	rep_finish();
	if (r.db && !rep_opt.dry_run)
		rep_db_commit(r.db);
	rep_db_close(r.db);
	if (!rep_opt.quiet) {
		char skipped[64] = "", unchecked[64] = "";

		if (invalid)
			snprintf(skipped, sizeof skipped, ", %zu invalid skipped", invalid);
		/* --all reads only what is not registered: the others were
		 * not looked at, and are not called unchanged */
		if (known)
			snprintf(unchecked, sizeof unchecked, ", %zu already registered (not checked)", known);
		rep_summary("%zu registered, %zu refreshed, %zu unchanged%s%s", r.added, r.refreshed,
		    n - r.added - r.refreshed, unchecked, skipped);
	}
	for (size_t i = 0; i < n; i++)
		rep_cache_free(&r.jobs[i]);
	free(r.jobs);
	free(r.changed);
	rep_strset_free(&in.names);
	close(in.appsfd);
	return rep_finish();
}
