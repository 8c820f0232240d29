/* rep-setstatus: change the status of applications, in one transaction. */
#include <stdlib.h>
#include <string.h>

#include "rep.h"

static const struct rep_optdef opts[] = {
	{'f', "from", "FROM", "change only applications whose status is FROM"},
	{'m', "note", "NOTE", "record NOTE in the history"},
	{'M', "note-from-input", NULL, "take each note from the rest of its input record"},
	REP_OPTDEF_WRITER,
	{0},
};

static const struct rep_tool tool = {
	.synopsis =
	"usage: rep-setstatus [-n] [-q] [-H] [-f FROM] [-m NOTE | -M] STATUS [NAME...]\n"
	"Set the status of the named applications and echo their records.\n"
	"Statuses: registered ready pending_deployment deployed failed retired\n",
	.opts = opts,
	.files = 1,
	.names_from_stdin = 1,
};

static int note_from_input;

static void add_name(struct rep_rec *rec, void *arg)
{
	struct rep_strset *names = arg;
	char *note = NULL;

	rep_name_check(rec->f[0], rec);
	if (note_from_input) {
		const char *why;
		note = rep_join_rest(rec);
		if ((why = rep_note_error(note)))
			rep_die("%s:%lu: note: %s", rec->src, rec->line, why);
	}
	if (!rep_strset_add(names, rec->f[0], note))
		free(note);
}

int main(int argc, char **argv)
{
	struct rep_strset names = { 0 };
	const char *from = NULL, *note = NULL, *status, *why;
	char now[32];
	int c;

	rep_init(argv[0]);
	while ((c = rep_getopt(argc, argv, &tool)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 'm': note = optarg; break;
		case 'M': note_from_input = 1; break;
		}
	}
	rep_opt_finish();
	argc -= optind, argv += optind;
	if (note && note_from_input)
		rep_usage_error("-m and -M are mutually exclusive");
	if (argc < 1)
		rep_usage_error("missing STATUS operand");
	status = argv[0];
	rep_status_check(status);
	if (from)
		rep_status_check(from);
	if (note && (why = rep_note_error(note)))
		rep_die("note: %s", why);
	rep_each_input(argc - 1, argv + 1, add_name, &names);

	/* The records are out before the commit: if they cannot be
	 * written, nothing changes (exit 2, or SIGPIPE). */
	struct rep_db *db = rep_db_open(rep_opt.dry_run ? REP_RO : REP_RW);
	struct rep_set set = {
		status, from, note, rep_now(now), names.v,
		note_from_input ? (char **)names.val : NULL, names.n,
	};
	if (!rep_opt.dry_run)
		rep_db_begin(db);
	if (rep_opt.header)
		rep_put_header(stdout, rep_app_fields, NULL, REP_APP_NFIELDS);
	size_t changed = rep_db_set_status(db, &set, stdout);
	rep_finish();
	if (!rep_opt.dry_run)
		rep_db_commit(db);
	rep_db_close(db);
	if (!rep_opt.quiet) {
		char skipped[128] = "";

		if (from)
			snprintf(skipped, sizeof skipped, ", %zu skipped (not %s)", names.n - changed, from);
		fprintf(stderr, "%s%zu set to %s%s\n", rep_opt.dry_run ? "dry run: " : "",
		    changed, status, skipped);
	}
	rep_strset_free(&names);
	return rep_finish();
}
