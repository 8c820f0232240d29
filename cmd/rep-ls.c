/* rep-ls: print application records, or their history. */
#include <stdlib.h>
#include <string.h>

#include "rep.h"

enum { OPT_HISTORY = REP_OPT_TOOL };

static const struct rep_optdef opts[] = {
	{'s', "status", "STATUS", "only applications in STATUS (repeatable)"},
	{'o', "output", "FIELDS", "fields to print, comma-separated:\n"
	    "name,status,files,bytes,checksum,registered,updated;\n"
	    "live,release,targets: what is live where (- for none)\n"
	    "(--history: name,time,from,to,user,note)"},
	{OPT_HISTORY, "history", NULL, "print the history, oldest first"},
	REP_OPTDEF_HEADER,
	{0},
};

static const struct rep_tool tool = {
	.synopsis =
	"usage: rep-ls [-H] [-s STATUS]... [-o FIELDS] [--history] [NAME...]\n"
	"Print application records sorted by name: all, the named ones, or those\n"
	"in any of the given statuses; with --history, their status history.\n"
	"A NAME of - reads names from stdin (first field of each record).\n",
	.opts = opts,
	.files = 1,
};

struct filter {
	const char *status[8];
	int nstatus;
	struct rep_strset names;
	int named;           /* names were given: only they are printed */
	int sel[32], nsel;
	struct rep_db *db;
	int live;            /* a field of the deployment rows is printed */
};

static int wanted(const struct filter *f, const char *name, const char *status)
{
	int ok = f->nstatus == 0;
	for (int i = 0; !ok && i < f->nstatus; i++)
		ok = strcmp(status, f->status[i]) == 0;
	return ok && (!f->named || rep_strset_find(&f->names, name) >= 0);
}

static int print_app(const struct rep_app *a, void *arg)
{
	const struct filter *f = arg;
	struct rep_live l = { 0 };

	if (!wanted(f, a->name, a->status))
		return 0;
	/* a query per application, made only when asked for */
	if (f->live)
		rep_live_load(f->db, a->id, &l);
	rep_put_app_live(stdout, a, &l, f->nsel ? f->sel : NULL, f->nsel);
	rep_live_free(&l);
	return 0;
}

static int print_event(const struct rep_event *e, void *arg)
{
	const struct filter *f = arg;
	if (wanted(f, e->name, e->app_status))
		rep_put_event(stdout, e, f->nsel ? f->sel : NULL, f->nsel);
	return 0;
}

static void add_status(struct filter *f, const char *s)
{
	rep_status_check(s);
	for (int i = 0; i < f->nstatus; i++)
		if (strcmp(f->status[i], s) == 0)
			return;
	f->status[f->nstatus++] = s;
}

int main(int argc, char **argv)
{
	struct filter f = { .nstatus = 0 };
	const char *fields = NULL;
	int history = 0, c;

	rep_init(argv[0]);
	while ((c = rep_getopt(argc, argv, &tool)) != -1) {
		switch (c) {
		case 's': add_status(&f, optarg); break;
		case 'o': fields = optarg; break;
		case OPT_HISTORY: history = 1; break;
		}
	}
	rep_opt_finish();
	const char *const *names = history ? rep_event_fields : rep_app_fields;
	int nnames = history ? REP_EVENT_NFIELDS : REP_APP_NFIELDS_ALL;
	if (fields)
		f.nsel = rep_fields_parse(fields, names, nnames, f.sel);
	for (int i = 0; !history && i < f.nsel; i++)
		f.live |= f.sel[i] >= REP_APP_NFIELDS;
	f.named = rep_names_read(argc - optind, argv + optind, &f.names);

	struct rep_db *db = f.db = rep_db_open(REP_RO);
	struct rep_app *named = rep_xmalloc((f.names.n + 1) * sizeof *named);
	char **sorted = rep_strset_sorted(&f.names);
	for (size_t i = 0; i < f.names.n; i++)
		if (!rep_db_app_get(db, sorted[i], &named[i]))
			rep_die("%s: not registered", sorted[i]);
	if (rep_opt.header)
		rep_put_header(stdout, names, f.nsel ? f.sel : NULL,
		    f.nsel ? f.nsel : history ? REP_EVENT_NFIELDS : REP_APP_NFIELDS);
	if (history) {
		rep_db_each_event(db, print_event, &f);
	} else if (f.named) {
		for (size_t i = 0; i < f.names.n; i++)
			print_app(&named[i], &f);
	} else {
		rep_db_each_app(db, print_app, &f);
	}
	free(named);
	free(sorted);
	rep_db_close(db);
	rep_strset_free(&f.names);
	return rep_finish();
}
