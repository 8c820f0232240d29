/* rep-diff: compare the applications directory with the database. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rep.h"

enum { OPT_REHASH = REP_OPT_TOOL };

static const struct rep_optdef opts[] = {
	{OPT_REHASH, "rehash", NULL, "hash every file, trusting no cached stat data"},
	REP_OPTDEF_QUIET,
	REP_OPTDEF_HEADER,
	{0},
};

static const struct rep_tool tool = {
	.synopsis =
	"usage: rep-diff [-q] [-H] [--rehash] [NAME...]\n"
	"Compare the applications directory with the database and print one\n"
	"line per discrepancy: name<TAB>kind, kind being unregistered, missing,\n"
	"modified or invalid. Exit 0 when in sync, 1 when not, 2 on error.\n",
	.opts = opts,
	.files = 1,
};

struct found {
	char *name;
	const char *kind;
};

struct diff {
	struct rep_strset only;          /* NAME operands; empty: all */
	struct rep_strset dirs, invalid; /* what the directory holds */
	struct rep_strset known;         /* registered names */
	struct rep_app *apps;            /* registered and present */
	struct rep_hash_job *jobs;
	size_t napps, capapps;
	struct found *out;
	size_t nout, capout;
};

static int asked(const struct diff *d, const char *name)
{
	return d->only.n == 0 || rep_strset_find(&d->only, name) >= 0;
}

static void report(struct diff *d, const char *name, const char *kind)
{
	if (d->nout == d->capout) {
		d->capout = d->capout ? 2 * d->capout : 64;
		d->out = rep_xrealloc(d->out, d->capout * sizeof *d->out);
	}
	d->out[d->nout++] = (struct found){ rep_xstrdup(name), kind };
}

/* Registered applications: missing, invalid, or to be checked. */
static int registered(const struct rep_app *a, void *arg)
{
	struct diff *d = arg;

	rep_strset_add(&d->known, a->name, NULL);
	if (!asked(d, a->name))
		return 0;
	if (rep_strset_find(&d->invalid, a->name) >= 0)
		return 0;
	if (rep_strset_find(&d->dirs, a->name) < 0) {
		if (strcmp(a->status, "retired") != 0)
			report(d, a->name, "missing");
		return 0;
	}
	if (d->napps == d->capapps) {
		d->capapps = d->capapps ? 2 * d->capapps : 256;
		d->apps = rep_xrealloc(d->apps, d->capapps * sizeof *d->apps);
	}
	d->apps[d->napps++] = *a;
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
		if (asked(d, d->dirs.v[i]) && rep_strset_find(&d->known, d->dirs.v[i]) < 0)
			report(d, d->dirs.v[i], "unregistered");
	for (size_t i = 0; i < d->invalid.n; i++) {
		if (!asked(d, d->invalid.v[i]))
			continue;
		char *p = printable(d->invalid.v[i]);
		report(d, p, "invalid");
		free(p);
	}
}

static void check(struct diff *d, struct rep_db *db, int appsfd, int flags)
{
	size_t dirty = 0;

	d->jobs = calloc(d->napps + 1, sizeof *d->jobs);
	if (!d->jobs)
		rep_die("out of memory");
	for (size_t i = 0; i < d->napps; i++) {
		d->jobs[i].name = d->apps[i].name;
		d->jobs[i].app_id = d->apps[i].id;
	}
	rep_db_cache_load(db, d->jobs, d->napps);
	rep_hash_apps(appsfd, d->jobs, d->napps, flags, NULL, NULL);
	for (size_t i = 0; i < d->napps; i++) {
		const struct rep_sum *s = &d->jobs[i].sum;
		const struct rep_app *a = &d->apps[i];
		/* what it holds is told, and the others are compared all the same */
		if (rep_problems_tell(&d->jobs[i].bad)) {
			report(d, a->name, "invalid");
			continue;
		}
		if (a->files != s->files || a->bytes != s->bytes || strcmp(a->checksum, s->checksum))
			report(d, a->name, "modified");
		dirty += d->jobs[i].dirty;
	}
	/* Refreshing the cache changes no record; a reader skips it. */
	if (dirty && !rep_db_readonly(db)) {
		rep_db_begin(db);
		for (size_t i = 0; i < d->napps; i++)
			if (d->jobs[i].dirty)
				rep_db_cache_store(db, &d->jobs[i], 0);
		rep_db_commit(db);
	}
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

int main(int argc, char **argv)
{
	static const char *const fields[] = { "name", "kind" };
	struct diff d = { .napps = 0 };
	int flags = 0, c;

	rep_init(argv[0]);
	while ((c = rep_getopt(argc, argv, &tool)) != -1)
		if (c == OPT_REHASH)
			flags |= REP_HASH_ALL;
	rep_opt_finish();
	for (int i = optind; i < argc; i++) {
		rep_name_check(argv[i], NULL);
		rep_strset_add(&d.only, argv[i], NULL);
	}
	int appsfd = rep_open_apps();
	struct rep_db *db = rep_db_open(access(rep_opt.db_path, F_OK) == 0 && writable()
	    ? REP_RW : REP_RO);
	rep_list_apps(appsfd, &d.dirs, &d.invalid);
	rep_db_each_app(db, registered, &d);
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
	if (!rep_opt.quiet && d.nout == 0)
		fprintf(stderr, "in sync (%zu application%s)\n", d.napps, d.napps == 1 ? "" : "s");
	else if (!rep_opt.quiet)
		fprintf(stderr, "%zu discrepanc%s\n", d.nout, d.nout == 1 ? "y" : "ies");
	for (size_t i = 0; i < d.napps; i++)
		rep_cache_free(&d.jobs[i]);
	free(d.jobs);
	free(d.apps);
	free(d.out);
	rep_strset_free(&d.only);
	rep_strset_free(&d.dirs);
	rep_strset_free(&d.invalid);
	rep_strset_free(&d.known);
	rep_finish();
	return d.nout ? 1 : 0;
}
