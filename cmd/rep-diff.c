/* rep-diff: compare the applications directory with the database; or,
 * with --live, what rep-push --status says is live with the deployment
 * records. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rep.h"

enum { OPT_REHASH = REP_OPT_TOOL, OPT_LIVE };

static const struct rep_optdef opts[] = {
	{OPT_REHASH, "rehash", NULL, "hash every file, trusting no cached stat data"},
	{OPT_LIVE, "live", NULL, "compare rep-push --status records on stdin with the\n"
	    "deployment records, not the directory"},
	REP_OPTDEF_QUIET,
	REP_OPTDEF_HEADER,
	{0},
};

static const struct rep_tool tool = {
	.synopsis =
	"usage: rep-diff [-q] [-H] [--rehash] [NAME...]\n"
	"       rep-diff --live [-q] [-H] [NAME...] < status records\n"
	"Compare the applications directory with the database and print one\n"
	"line per discrepancy: name<TAB>kind, kind being unregistered, missing,\n"
	"modified or invalid. With --live, compare what rep-push --status says\n"
	"is live with the deployment records: name<TAB>kind<TAB>target<TAB>\n"
	"release<TAB>checksum, kind being unregistered, unrecorded, differs (then\n"
	"the recorded checksum), gone or mixed.\n"
	"A NAME of - reads names from stdin (first field of each record);\n"
	"not with --live, whose stdin holds the status records.\n"
	"Exit 0 when in sync, 1 when not, 2 on error.\n",
	.opts = opts,
	.files = 1,
};

struct found {
	char *name;
	const char *kind;
};

struct held {              /* what an application holds that rep cannot ship */
	const char *name;
	struct rep_problems bad;
};

struct reg {               /* a registered application, present */
	int64_t id, files, bytes;
	const char *name;      /* the copy in dirs */
	char checksum[65];
};

struct diff {
	struct rep_strset only;          /* NAME operands */
	int named;                       /* 0: no operands, all asked */
	struct rep_strset dirs, invalid; /* what the directory holds */
	unsigned char *in_db;            /* by index in dirs: registered */
	struct rep_strset known;         /* registered names not in dirs */
	struct reg *apps;                /* registered and present */
	struct rep_hash_job *jobs;
	size_t napps, capapps;
	struct found *out;
	size_t nout, capout;
	struct rep_db *db;
	int store;                       /* refreshed cache rows are written */
	size_t *dirty, ndirty, capdirty; /* jobs whose rows wait for that */
	struct held *held;               /* problems, told in name order */
	size_t nheld;
};

static int asked(const struct rep_strset *only, int named, const char *name)
{
	return !named || rep_strset_find(only, name) >= 0;
}

static void report(struct diff *d, const char *name, const char *kind)
{
	if (d->nout == d->capout) {
		d->capout = d->capout ? 2 * d->capout : 64;
		d->out = rep_xrealloc(d->out, d->capout * sizeof *d->out);
	}
	d->out[d->nout++] = (struct found){ rep_xstrdup(name), kind };
}

/* Registered applications, in the order of their ids: missing, invalid,
 * or to be checked. One lookup each: a registered directory is marked in
 * in_db; known holds only the registered names that are not there, for
 * the check of the operands. */
static int registered(const struct rep_app *a, void *arg)
{
	struct diff *d = arg;
	long k = rep_strset_find(&d->dirs, a->name);

	if (k >= 0)
		d->in_db[k] = 1;
	else if (d->named)
		rep_strset_add(&d->known, a->name, NULL);
	if (!asked(&d->only, d->named, a->name))
		return 0;
	if (k < 0) {
		/* a directory whose name is invalid is told as such */
		if (rep_strset_find(&d->invalid, a->name) < 0 && strcmp(a->status, "retired") != 0)
			report(d, a->name, "missing");
		return 0;
	}
	if (d->napps == d->capapps) {
		d->capapps = d->capapps ? 2 * d->capapps : 256;
		d->apps = rep_xrealloc(d->apps, d->capapps * sizeof *d->apps);
	}
	struct reg *r = &d->apps[d->napps++];
	*r = (struct reg){ a->id, a->files, a->bytes, d->dirs.v[k], "" };
	memcpy(r->checksum, a->checksum, sizeof r->checksum);
	return 0;
}

/* An entry name can be anything but '/' and NUL: keep the record a record. */
static char *printable(const char *s)
{
	char *p = rep_xstrdup(s);
	for (char *q = p; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	return p;
}

static void unexpected(struct diff *d)
{
	for (size_t i = 0; i < d->dirs.n; i++)
		if (!d->in_db[i] && asked(&d->only, d->named, d->dirs.v[i]))
			report(d, d->dirs.v[i], "unregistered");
	for (size_t i = 0; i < d->invalid.n; i++) {
		if (!asked(&d->only, d->named, d->invalid.v[i]))
			continue;
		char *p = printable(d->invalid.v[i]);
		report(d, p, "invalid");
		free(p);
	}
}

/* Refreshed cache rows are written as each batch is loaded, and at the
 * end: short transactions, and no more rows held than a few batches'. */
static void store_dirty(struct diff *d)
{
	if (!d->ndirty)
		return;
	rep_db_begin(d->db);
	for (size_t i = 0; i < d->ndirty; i++)
		rep_db_cache_store(d->db, &d->jobs[d->dirty[i]], 0);
	rep_db_commit(d->db);
	for (size_t i = 0; i < d->ndirty; i++)
		rep_cache_free(&d->jobs[d->dirty[i]]);
	d->ndirty = 0;
}

static void load(struct rep_hash_job *jobs, size_t n, void *arg)
{
	struct diff *d = arg;

	store_dirty(d);
	rep_db_cache_load(d->db, jobs, n);
}

static void compared(size_t i, void *arg)
{
	struct diff *d = arg;
	const struct rep_sum *s = &d->jobs[i].sum;
	const struct reg *a = &d->apps[i];

	/* what it holds is told (at the end, as the applications are
	 * checked in the order of their ids), and the others are compared
	 * all the same */
	if (d->jobs[i].bad.n) {
		d->held = rep_xrealloc(d->held, (d->nheld + 1) * sizeof *d->held);
		d->held[d->nheld++] = (struct held){ a->name, d->jobs[i].bad };
		memset(&d->jobs[i].bad, 0, sizeof d->jobs[i].bad);
		report(d, a->name, "invalid");
	} else if (a->files != s->files || a->bytes != s->bytes || strcmp(a->checksum, s->checksum))
		report(d, a->name, "modified");
	/* Refreshing the cache changes no record; a reader skips it. */
	if (d->jobs[i].dirty && d->store) {
		if (d->ndirty == d->capdirty) {
			d->capdirty = d->capdirty ? 2 * d->capdirty : 64;
			d->dirty = rep_xrealloc(d->dirty, d->capdirty * sizeof *d->dirty);
		}
		d->dirty[d->ndirty++] = i;
	} else {
		rep_cache_free(&d->jobs[i]);
	}
}

static int by_held_name(const void *a, const void *b)
{
	return strcmp(((const struct held *)a)->name, ((const struct held *)b)->name);
}

/* In the order of ids (as registered() met them), so that a batch's
 * cache rows are read together. */
static void check(struct diff *d, struct rep_db *db, int appsfd, int flags)
{
	d->jobs = calloc(d->napps + 1, sizeof *d->jobs);
	if (!d->jobs)
		rep_die("out of memory");
	for (size_t i = 0; i < d->napps; i++) {
		d->jobs[i].name = d->apps[i].name;
		d->jobs[i].app_id = d->apps[i].id;
	}
	d->db = db;
	d->store = !rep_db_readonly(db);
	rep_hash_apps(appsfd, d->jobs, d->napps, flags,
	    &(struct rep_hash_calls){ .load = load, .each = compared, .arg = d });
	store_dirty(d);
	if (d->nheld)
		qsort(d->held, d->nheld, sizeof *d->held, by_held_name);
	for (size_t i = 0; i < d->nheld; i++) {
		rep_problems_tell(&d->held[i].bad);
		rep_problems_free(&d->held[i].bad);
	}
	free(d->held);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct found *)a)->name, ((const struct found *)b)->name);
}

static int writable(void)
{
	char *dir = rep_xstrdup(rep_opt.db_path);
	*strrchr(dir, '/') = 0;
	int ok = access(rep_opt.db_path, W_OK) == 0 && access(*dir ? dir : "/", W_OK) == 0;
	free(dir);
	return ok;
}

/* --live: the records of rep-push --status, target<TAB>name<TAB>release
 * <TAB>checksum, against the deployment rows (rep-diff(1), LIVE). All
 * input is read and checked before anything is compared or printed. */

struct live {              /* what a status record says is live */
	char *release, *checksum;
	unsigned long line;
	int recorded;          /* a deployment row speaks of it */
};

struct target {            /* a target read, in the order first seen */
	unsigned long empty;   /* the line of its record of nothing live, or 0 */
	unsigned long apps;    /* the line of its first application's, or 0 */
};

struct fleet_app {
	struct rep_strset on;  /* target -> struct live *, in input order */
	int64_t id;            /* 0: not registered (or not asked) */
};

struct finding {
	char *release, *checksum, *recorded; /* recorded: differs only */
	const char *name, *kind;
	size_t target;         /* its index in fleet.targets */
};

struct fleet {
	struct rep_strset only;
	int named;
	struct rep_strset targets; /* -> struct target * */
	struct rep_strset apps;    /* name -> struct fleet_app * */
	struct finding *out;
	size_t nout, capout;
};

static struct fleet_app *fleet_app(struct fleet *f, const char *name)
{
	long i = rep_strset_find(&f->apps, name);

	if (i >= 0)
		return f->apps.val[i];
	struct fleet_app *a = calloc(1, sizeof *a);
	if (!a)
		rep_die("out of memory");
	rep_strset_add(&f->apps, name, a);
	return a;
}

static struct target *target_of(struct fleet *f, const char *name)
{
	long i = rep_strset_find(&f->targets, name);

	if (i >= 0)
		return f->targets.val[i];
	struct target *t = calloc(1, sizeof *t);
	if (!t)
		rep_die("out of memory");
	rep_strset_add(&f->targets, name, t);
	return t;
}

/* "-" for the name (and the rest): the target was read, nothing is live. */
static void check_status(const struct rep_rec *rec)
{
	if (rec->nf != 4)
		rep_die_rec(rec, "%d field%s: a status record has 4 (target, name, release, checksum)",
		    rec->nf, rec->nf == 1 ? "" : "s");
	const char *t = rec->f[0], *name = rec->f[1], *release = rec->f[2], *sum = rec->f[3];
	if (!*t)
		rep_die_rec(rec, "an empty target");
	/* what rep-push refuses as a target never comes from it */
	const char *why = rep_note_error(t);
	if (why) {
		/* shown as rep-push shows such text: \xHH */
		size_t size = 4 * strlen(t) + 1;
		char *shown = rep_xmalloc(size);
		rep_reason_text(shown, size, t);
		rep_die_rec(rec, "target '%s': %s", shown, why);
	}
	if (strchr(t, ','))
		rep_die_rec(rec, "target '%s': a comma, which no target of rep-push has", t);
	if (strcmp(name, "-") == 0) {
		if (strcmp(release, "-") != 0 || strcmp(sum, "-") != 0)
			rep_die_rec(rec, "name - (nothing live on %s): release and checksum must be - too", t);
		return;
	}
	rep_name_check(name, rec);
	if (!rep_release_name(release))
		rep_die_rec(rec, "release '%s': not a release name (rep_applications_YYYYMMDD_HHMMSS[_N])", release);
	if (!rep_sum_valid(sum))
		rep_die_rec(rec, "checksum '%s': not 64 lower-case hex digits", sum);
}

static void read_status(struct rep_rec *rec, void *arg)
{
	struct fleet *f = arg;

	check_status(rec);
	const char *t = rec->f[0], *name = rec->f[1];
	struct target *tg = target_of(f, t);
	if (strcmp(name, "-") == 0) {
		if (tg->empty)
			rep_die_rec(rec, "%s: a second record of nothing live (the first is line %lu)", t, tg->empty);
		if (tg->apps)
			rep_die_rec(rec, "%s: nothing live, but line %lu has an application live there", t, tg->apps);
		tg->empty = rec->line;
		return;
	}
	if (tg->empty)
		rep_die_rec(rec, "%s: %s live, but line %lu has nothing live there", t, name, tg->empty);
	struct fleet_app *a = fleet_app(f, name);
	long i = rep_strset_find(&a->on, t);
	if (i >= 0)
		rep_die_rec(rec, "%s on %s: a second record (the first is line %lu)", name, t,
		    ((struct live *)a->on.val[i])->line);
	if (!tg->apps)
		tg->apps = rec->line;
	struct live *l = rep_xmalloc(sizeof *l);
	*l = (struct live){ rep_xstrdup(rec->f[2]), rep_xstrdup(rec->f[3]), rec->line, 0 };
	rep_strset_add(&a->on, t, l);
}

static void found(struct fleet *f, const char *name, const char *kind, const char *target,
    const char *release, const char *checksum, const char *recorded)
{
	if (f->nout == f->capout) {
		f->capout = f->capout ? 2 * f->capout : 64;
		f->out = rep_xrealloc(f->out, f->capout * sizeof *f->out);
	}
	f->out[f->nout++] = (struct finding){
		rep_xstrdup(release), rep_xstrdup(checksum), recorded ? rep_xstrdup(recorded) : NULL,
		name, kind, (size_t)rep_strset_find(&f->targets, target),
	};
}

static int asked_app(const struct rep_app *a, void *arg)
{
	struct fleet *f = arg;

	if (asked(&f->only, f->named, a->name))
		fleet_app(f, a->name)->id = a->id;
	return 0;
}

struct rows {
	struct fleet *f;
	const char *name;
	struct fleet_app *a;
};

/* A deployment row of a target read: its application is live there
 * with the recorded content, or with other content, or not at all. A
 * release other than the recorded one with the same content is none
 * of these: a rollback's record names the release gone back to. */
static int row(const char *target, const char *checksum, const char *release, void *arg)
{
	struct rows *r = arg;

	if (rep_strset_find(&r->f->targets, target) < 0)
		return 0;
	long i = rep_strset_find(&r->a->on, target);
	if (i < 0) {
		found(r->f, r->name, "gone", target, release, checksum, NULL);
		return 0;
	}
	struct live *l = r->a->on.val[i];
	l->recorded = 1;
	if (strcmp(l->checksum, checksum) != 0)
		found(r->f, r->name, "differs", target, l->release, l->checksum, checksum);
	return 0;
}

/* Live on two targets or more, not with the same content. The same
 * content brought by two pushes (a target caught up later) is alike:
 * the release says which push brought it, and comparing it would flag
 * a fleet that runs the same thing everywhere until its next push. */
static int mixed(const struct fleet_app *a)
{
	if (a->on.n < 2)
		return 0;
	const struct live *first = a->on.val[0];
	for (size_t i = 1; i < a->on.n; i++) {
		const struct live *l = a->on.val[i];
		if (strcmp(l->checksum, first->checksum) != 0)
			return 1;
	}
	return 0;
}

static void compare(struct fleet *f, struct rep_db *db)
{
	for (size_t i = 0; i < f->apps.n; i++) {
		const char *name = f->apps.v[i];
		struct fleet_app *a = f->apps.val[i];
		if (!asked(&f->only, f->named, name))
			continue;
		if (a->id) {
			struct rows r = { f, name, a };
			rep_db_each_deployment(db, a->id, row, &r);
		}
		for (size_t k = 0; k < a->on.n; k++) {
			const struct live *l = a->on.val[k];
			if (!l->recorded)
				found(f, name, a->id ? "unrecorded" : "unregistered", a->on.v[k],
				    l->release, l->checksum, NULL);
		}
		for (size_t k = 0, m = mixed(a); m && k < a->on.n; k++) {
			const struct live *l = a->on.val[k];
			found(f, name, "mixed", a->on.v[k], l->release, l->checksum, NULL);
		}
	}
}

/* By name, then target in input order, then mixed after the others
 * (a target has at most one of the others and one mixed). */
static int by_name_target(const void *x, const void *y)
{
	const struct finding *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	if (c)
		return c;
	if (a->target != b->target)
		return a->target < b->target ? -1 : 1;
	return (strcmp(a->kind, "mixed") == 0) - (strcmp(b->kind, "mixed") == 0);
}

static void fleet_free(struct fleet *f)
{
	for (size_t i = 0; i < f->nout; i++) {
		free(f->out[i].release);
		free(f->out[i].checksum);
		free(f->out[i].recorded);
	}
	free(f->out);
	for (size_t i = 0; i < f->apps.n; i++) {
		struct fleet_app *a = f->apps.val[i];
		for (size_t k = 0; k < a->on.n; k++) {
			struct live *l = a->on.val[k];
			free(l->release);
			free(l->checksum);
		}
		rep_strset_free(&a->on);
	}
	rep_strset_free(&f->apps);
	rep_strset_free(&f->targets);
	rep_strset_free(&f->only);
}

static int live_main(int argc, char **argv)
{
	static const char *const fields[] = { "name", "kind", "target", "release", "checksum" };
	struct fleet f = { .nout = 0 };
	size_t nlive = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-") == 0)
			rep_usage_error("-: with --live, stdin holds the status records");
		rep_name_check(argv[i], NULL);
		rep_strset_add(&f.only, argv[i], NULL);
	}
	f.named = argc > 0;
	rep_each_input(0, NULL, read_status, &f);
	if (f.targets.n == 0) {
		rep_summary("no status records on stdin");
		fleet_free(&f);
		return rep_finish();
	}
	struct rep_db *db = rep_db_open(REP_RO);
	rep_db_each_app(db, asked_app, &f);
	for (size_t i = 0; i < f.only.n; i++)
		if (rep_strset_find(&f.apps, f.only.v[i]) < 0)
			rep_die("%s: no such application (neither registered nor live on a target read)",
			    f.only.v[i]);
	compare(&f, db);
	rep_db_close(db);

	if (f.nout)
		qsort(f.out, f.nout, sizeof *f.out, by_name_target);
	if (rep_opt.header)
		rep_put_header(stdout, fields, (const int[]){ 0, 1, 2, 3, 4 }, 5);
	for (size_t i = 0; i < f.nout; i++) {
		const struct finding *o = &f.out[i];
		const char *v[] = { o->name, o->kind, f.targets.v[o->target], o->release, o->checksum,
		    o->recorded };
		rep_put_fields(stdout, v, o->recorded ? 6 : 5);
	}
	for (size_t i = 0; i < f.apps.n; i++)
		nlive += asked(&f.only, f.named, f.apps.v[i]) && ((struct fleet_app *)f.apps.val[i])->on.n;
	if (f.nout == 0)
		rep_summary("in sync (%zu application%s live on %zu target%s)", nlive,
		    nlive == 1 ? "" : "s", f.targets.n, f.targets.n == 1 ? "" : "s");
	else
		rep_summary("%zu discrepanc%s", f.nout, f.nout == 1 ? "y" : "ies");
	size_t n = f.nout;
	fleet_free(&f);
	rep_finish();
	return n ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const char *const fields[] = { "name", "kind" };
	struct diff d = { .napps = 0 };
	int flags = 0, live = 0, c;

	rep_init(argv[0]);
	while ((c = rep_getopt(argc, argv, &tool)) != -1) {
		if (c == OPT_REHASH)
			flags |= REP_HASH_ALL;
		else if (c == OPT_LIVE)
			live = 1;
	}
	rep_opt_finish();
	if (live && flags)
		rep_usage_error("--live and --rehash are mutually exclusive");
	if (live)
		return live_main(argc - optind, argv + optind);
	d.named = rep_names_read(argc - optind, argv + optind, &d.only);
	int appsfd = rep_open_apps();
	struct rep_db *db = rep_db_open(access(rep_opt.db_path, F_OK) == 0 && writable()
	    ? REP_RW : REP_RO);
	rep_list_apps(appsfd, &d.dirs, &d.invalid);
	d.in_db = calloc(d.dirs.n + 1, 1);
	if (!d.in_db)
		rep_die("out of memory");
	rep_db_each_app_by_id(db, registered, &d);
	unexpected(&d);
	for (size_t i = 0; i < d.only.n; i++) {
		if (rep_strset_find(&d.known, d.only.v[i]) < 0 && rep_strset_find(&d.dirs, d.only.v[i]) < 0 &&
		    rep_strset_find(&d.invalid, d.only.v[i]) < 0)
			rep_die("%s: no such application (neither registered nor in %s)",
			    d.only.v[i], rep_opt.apps);
	}
	check(&d, db, appsfd, flags);
	rep_db_close(db);
	close(appsfd);

	if (d.nout)
		qsort(d.out, d.nout, sizeof *d.out, by_name);
	if (rep_opt.header)
		rep_put_header(stdout, fields, (const int[]){ 0, 1 }, 2);
	for (size_t i = 0; i < d.nout; i++) {
		rep_put_fields(stdout, (const char *[]){ d.out[i].name, d.out[i].kind }, 2);
		free(d.out[i].name);
	}
	if (d.nout == 0)
		rep_summary("in sync (%zu application%s)", d.napps, d.napps == 1 ? "" : "s");
	else
		rep_summary("%zu discrepanc%s", d.nout, d.nout == 1 ? "y" : "ies");
	free(d.jobs);
	free(d.dirty);
	free(d.apps);
	free(d.out);
	rep_strset_free(&d.only);
	rep_strset_free(&d.dirs);
	rep_strset_free(&d.invalid);
	rep_strset_free(&d.known);
	free(d.in_db);
	rep_finish();
	return d.nout ? 1 : 0;
}
