/* rep-setstatus: change the status of applications, in one transaction;
 * or record what rep-push says went live, left service or failed. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "rep.h"

enum { OPT_RECORD = REP_OPT_TOOL };

static const struct rep_optdef opts[] = {
	{'f', "from", "FROM", "change only applications whose status is FROM"},
	{'m', "note", "NOTE", "record NOTE in the history"},
	{'M', "note-from-input", NULL, "take each note from the rest of its input record"},
	{OPT_RECORD, "record", NULL, "record rep-push's records (live, left, failed)\n"
	    "from stdin: statuses and what is live where"},
	REP_OPTDEF_WRITER,
	{0},
};

static const struct rep_tool tool = {
	.synopsis =
	"usage: rep-setstatus [-n] [-q] [-H] [-f FROM] [-m NOTE | -M] STATUS [NAME...]\n"
	"       rep-setstatus [-n] [-q] [-H] --record [-]\n"
	"Set the status of the named applications and echo their records; with\n"
	"--record, record what rep-push's records say and echo the records of the\n"
	"applications they name.\n"
	"Statuses: registered ready pending_deployment deployed failed retired\n",
	.opts = opts,
	.files = 1,
	.names_from_stdin = 1,
};

static int note_from_input;

enum event { EV_LIVE, EV_LEFT, EV_FAILED, EV_NONE };
static const char *const events[] = { "live", "left", "failed" };

static enum event event_of(const char *s)
{
	int e = 0;
	while (e < EV_NONE && strcmp(s, events[e]) != 0)
		e++;
	return (enum event)e;
}

/* Whether a record read is one of rep-push's: taken for names, its
 * failed and left applications would get the status meant for those
 * that went live (the old rep-push | rep-setstatus -M deployed). */
static int push_record(const struct rep_rec *rec)
{
	return rec->line && (rec->nf == 5 || rec->nf == 6) && event_of(rec->f[4]) != EV_NONE &&
	    (rep_sum_valid(rec->f[3]) || strcmp(rec->f[3], "-") == 0);
}

static void add_name(struct rep_rec *rec, void *arg)
{
	struct rep_strset *names = arg;
	char *note = NULL;

	if (push_record(rec))
		rep_die("%s:%lu: a rep-push record: record these with rep-setstatus --record "
		    "(or cut -f1 for the names)", rec->src, rec->line);
	rep_name_check(rec->f[0], rec);
	if (note_from_input) {
		const char *why;
		note = rep_join_rest(rec);
		if ((why = rep_note_check(note)))
			rep_die("%s:%lu: note: %s", rec->src, rec->line, why);
	}
	if (!rep_strset_add(names, rec->f[0], note))
		free(note);
}

/* --record: the reader of rep-push's records (rep-setstatus(1), rep(7)). */

struct precord {
	char *name, *release, *targets, *checksum, *reason; /* reason: NULL if none */
	enum event event;
	const char *src;
	unsigned long line;
	struct app *app;
};

/* An application as the records leave it: its record and its deployment
 * rows (target -> checksum; NULL once deleted), read once, then changed
 * record by record, so that a dry run sees what a run would do. */
struct app {
	struct rep_app a;
	struct rep_strset rows;
	size_t nrows;
	struct rep_strset sent;   /* the targets of its live records in this input */
};

struct reader {
	struct precord *v;
	size_t n, cap;
	size_t count[EV_NONE];
};

/* "-", or targets joined by commas, each non-empty note text. */
static void check_targets(const struct rep_rec *rec, const char *t, int dash)
{
	const char *why;

	if (strcmp(t, "-") == 0) {
		if (!dash)
			rep_die_rec(rec, "targets -: a %s record names its targets", rec->f[4]);
		return;
	}
	for (const char *p = t;; p++) {
		size_t n = strcspn(p, ",");
		if (n == 0)
			rep_die_rec(rec, "targets '%s': an empty target", t);
		p += n;
		if (!*p)
			break;
	}
	if ((why = rep_note_error(t)))
		rep_die_rec(rec, "targets '%s': %s", t, why);
}

static void read_record(struct rep_rec *rec, void *arg)
{
	struct reader *r = arg;
	const char *why;

	if (rec->nf < 5 || rec->nf > 6)
		rep_die_rec(rec, "%d field%s: a rep-push record has 5 (name, release, targets, checksum, event), "
		    "or 6 (and reason) when the event is failed", rec->nf, rec->nf == 1 ? "" : "s");
	enum event ev = event_of(rec->f[4]);
	if (ev == EV_NONE)
		rep_die_rec(rec, "event '%s': not live, left or failed", rec->f[4]);
	if (rec->nf == 6 && ev != EV_FAILED)
		rep_die_rec(rec, "6 fields: only a failed record has a reason");
	rep_name_check(rec->f[0], rec);
	/* "-" is for what never got a release: rep-tar's failure records */
	int dash = ev == EV_FAILED;
	if (!(dash && strcmp(rec->f[1], "-") == 0) && !rep_release_name(rec->f[1]))
		rep_die_rec(rec, "release '%s': not a release name (rep_applications_YYYYMMDD_HHMMSS[_N]%s)",
		    rec->f[1], dash ? ", or -" : "");
	check_targets(rec, rec->f[2], dash);
	if (!(dash && strcmp(rec->f[3], "-") == 0) && !rep_sum_valid(rec->f[3]))
		rep_die_rec(rec, "checksum '%s': not 64 lower-case hex digits%s", rec->f[3], dash ? " or -" : "");
	if (rec->nf == 6 && (why = rep_note_check(rec->f[5])))
		rep_die_rec(rec, "reason: %s", why);

	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->v = rep_xrealloc(r->v, r->cap * sizeof *r->v);
	}
	struct precord *p = &r->v[r->n++];
	p->name = rep_xstrdup(rec->f[0]);
	p->release = rep_xstrdup(rec->f[1]);
	p->targets = rep_xstrdup(rec->f[2]);
	p->checksum = rep_xstrdup(rec->f[3]);
	/* an empty reason says as little as none */
	p->reason = rec->nf == 6 && *rec->f[5] ? rep_xstrdup(rec->f[5]) : NULL;
	p->event = ev;
	p->src = rec->src;
	p->line = rec->line;
	p->app = NULL;
	r->count[ev]++;
}

static int load_row(const char *target, const char *checksum, const char *release, void *arg)
{
	struct app *s = arg;

	(void)release;
	rep_strset_add(&s->rows, target, rep_xstrdup(checksum));
	s->nrows++;
	return 0;
}

static void row_put(struct app *s, const char *target, const char *checksum)
{
	long i = rep_strset_find(&s->rows, target);

	if (i < 0) {
		rep_strset_add(&s->rows, target, rep_xstrdup(checksum));
		s->nrows++;
		return;
	}
	if (!s->rows.val[i])
		s->nrows++;
	free(s->rows.val[i]);
	s->rows.val[i] = rep_xstrdup(checksum);
}

static void row_del(struct app *s, const char *target)
{
	long i = rep_strset_find(&s->rows, target);

	if (i < 0 || !s->rows.val[i])
		return;
	free(s->rows.val[i]);
	s->rows.val[i] = NULL;
	s->nrows--;
}

static const char *row_sum(const struct app *s, const char *target)
{
	long i = rep_strset_find(&s->rows, target);
	return i < 0 ? NULL : s->rows.val[i];
}

/* The next target of a comma-joined list, copied into buf (the list is
 * shorter than a line); NULL at the end. */
static const char *next_target(const char **p, char *buf)
{
	if (!**p)
		return NULL;
	size_t n = strcspn(*p, ",");
	memcpy(buf, *p, n);
	buf[n] = 0;
	*p += n + ((*p)[n] == ',');
	return buf;
}

static char *printed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printed(const char *fmt, ...)
{
	char *s;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		rep_die("out of memory");
	va_end(ap);
	return s;
}

/* One record: the deployment rows, the status, the history event. */
static void apply(struct rep_db *db, const struct precord *p, const char *now, char *tbuf)
{
	struct app *s = p->app;
	const char *reg = s->a.checksum, *t, *to = s->a.status, *list;
	int retired = strcmp(s->a.status, "retired") == 0, same = strcmp(p->checksum, reg) == 0;
	char *note;

	switch (p->event) {
	case EV_LIVE: {
		int back = 0;   /* live on a target where it had left, or never was */
		for (list = p->targets; (t = next_target(&list, tbuf));) {
			back |= !row_sum(s, t);
			row_put(s, t, p->checksum);
			rep_strset_add(&s->sent, t, NULL);
			if (db)
				rep_db_deployment_put(db, s->a.id, t, p->checksum, p->release, now);
		}
		/* deployed when the registered content is live on every
		 * target this input sent the application to: targets that
		 * went back to different releases give a record each, and
		 * two archives of one push a record each, whose order must
		 * not matter */
		int everywhere = 1;
		for (size_t k = 0; k < s->sent.n; k++) {
			const char *sum = row_sum(s, s->sent.v[k]);
			everywhere &= sum && strcmp(sum, reg) == 0;
		}
		/* other content live takes away a deployed status only: an
		 * approval of new content (ready, pending_deployment) still
		 * holds, as does failed. A retired application back where it
		 * had left (a rollback over its retirement) is in service
		 * again; one still live there was retired and not yet taken
		 * out: that is still to do. */
		if (retired && !back)
			;
		else if (everywhere)
			to = "deployed";
		else if (strcmp(s->a.status, "deployed") == 0 || retired)
			to = "registered";
		note = printed("record: live on %s in %s (%.12s%s%.12s)", p->targets, p->release,
		    p->checksum, same ? "" : "; registered content is ", same ? "" : reg);
		break;
	}
	case EV_LEFT:
		for (list = p->targets; (t = next_target(&list, tbuf));) {
			row_del(s, t);
			if (db)
				rep_db_deployment_del(db, s->a.id, t);
		}
		/* out of service: what was deployed is no more; an approval
		 * of other content holds */
		if (!s->nrows && strcmp(s->a.status, "deployed") == 0)
			to = "registered";
		note = printed("record: left service on %s in %s", p->targets, p->release);
		break;
	default: {
		/* a retired application stays retired: failing to ship it
		 * does not bring it back */
		/* nothing changed where that content was live already; and
		 * a deployed application that failed to be packaged again
		 * (targets -) is still live where it was sent */
		int live_anyway = strcmp(p->targets, "-") != 0 || strcmp(s->a.status, "deployed") == 0;
		for (list = strcmp(p->targets, "-") ? p->targets : ""; live_anyway && (t = next_target(&list, tbuf));) {
			const char *sum = row_sum(s, t);
			live_anyway = sum && strcmp(sum, p->checksum) == 0;
		}
		/* content unknown ("-"): whatever it was, it did not go live,
		 * and a claim on the application must not be left standing;
		 * nothing is known to have changed otherwise */
		if (strcmp(p->checksum, "-") == 0)
			to = strcmp(s->a.status, "pending_deployment") == 0 ? "failed" : s->a.status;
		else if (same && !retired)
			to = live_anyway ? "deployed" : "failed";
		const char *reason = p->reason ? p->reason : "see rep-push's stderr";
		if (strcmp(p->release, "-") == 0)
			note = printed("record: not packaged: %s", reason);
		else
			note = printed("record: not live on %s in %s: %s", p->targets, p->release, reason);
	}
	}
	if (db) {
		rep_note_clip(note);
		rep_db_event(db, s->a.id, now, s->a.status, to, note);
		rep_db_app_set_status(db, s->a.id, to, now);
	}
	free(note);
	if (to != s->a.status)
		snprintf(s->a.status, sizeof s->a.status, "%s", to);
	snprintf(s->a.updated, sizeof s->a.updated, "%s", now);
}

static int record_main(void)
{
	struct reader r = { 0 };
	struct rep_strset apps = { 0 };
	char now[32];

	/* A Ctrl-C, a hangup or a stop of the whole pipeline (kill of its
	 * process group, a service stopped) reaches every process in it:
	 * rep-tar and rep-push write the records of what they were doing
	 * as they end, and those must be recorded. The reader reads on to
	 * the end of its input; SIGQUIT or SIGKILL stop it. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	rep_each_input(0, NULL, read_record, &r);

	/* The records are out before the commit: if they cannot be
	 * written, nothing changes (exit 2, or SIGPIPE). */
	struct rep_db *db = rep_db_open(rep_opt.dry_run ? REP_RO : REP_RW);
	if (!rep_opt.dry_run)
		rep_db_begin(db);
	rep_now(now);
	for (size_t i = 0; i < r.n; i++) {
		struct precord *p = &r.v[i];
		long k = rep_strset_find(&apps, p->name);
		if (k >= 0) {
			p->app = apps.val[k];
			continue;
		}
		struct app *s = calloc(1, sizeof *s);
		if (!s)
			rep_die("out of memory");
		rep_strset_add(&apps, p->name, s);
		if (!rep_db_app_get(db, p->name, &s->a))
			rep_die("%s:%lu: %s: not registered", p->src, p->line, p->name);
		rep_db_each_deployment(db, s->a.id, load_row, s);
		p->app = s;
	}
	char *tbuf = rep_xmalloc(REP_LINE_MAX + 1);
	for (size_t i = 0; i < r.n; i++)
		apply(rep_opt.dry_run ? NULL : db, &r.v[i], now, tbuf);
	free(tbuf);
	/* Unlike a status set by hand, what the records tell has happened:
	 * it is committed first, and an echo that cannot be written (a
	 * reader gone, a full disk) loses nothing but the echo. */
	if (!rep_opt.dry_run)
		rep_db_commit(db);
	rep_db_close(db);
	signal(SIGPIPE, SIG_IGN);
	if (rep_opt.header)
		rep_put_header(stdout, rep_app_fields, NULL, REP_APP_NFIELDS);
	for (size_t i = 0; i < apps.n; i++)
		rep_put_app(stdout, &((struct app *)apps.val[i])->a, NULL, 0);
	if (fflush(stdout) != 0 || ferror(stdout))
		rep_die_errno("recorded, but the records could not be written");
	rep_summary("recorded: %zu live, %zu left, %zu failed", r.count[EV_LIVE], r.count[EV_LEFT],
	    r.count[EV_FAILED]);

	for (size_t i = 0; i < apps.n; i++) {
		struct app *s = apps.val[i];
		rep_strset_free(&s->rows);
		rep_strset_free(&s->sent);
	}
	rep_strset_free(&apps);
	for (size_t i = 0; i < r.n; i++) {
		free(r.v[i].name);
		free(r.v[i].release);
		free(r.v[i].targets);
		free(r.v[i].checksum);
		free(r.v[i].reason);
	}
	free(r.v);
	int rc = rep_finish();
	/* every record is recorded all the same; the exit status says a
	 * deploy failed, as the pipeline's should */
	return rc ? rc : r.count[EV_FAILED] ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct rep_strset names = { 0 };
	const char *from = NULL, *note = NULL, *status, *why;
	char now[32];
	int c, record = 0;

	rep_init(argv[0]);
	while ((c = rep_getopt(argc, argv, &tool)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 'm': note = optarg; break;
		case 'M': note_from_input = 1; break;
		case OPT_RECORD: record = 1; break;
		}
	}
	rep_opt_finish();
	argc -= optind, argv += optind;
	if (record) {
		if (from || note || note_from_input)
			rep_usage_error("--record takes no %s", from ? "-f" : note ? "-m" : "-M");
		for (int i = 0; i < argc; i++)
			if (strcmp(argv[i], "-") != 0)
				rep_usage_error("--record takes no operand but -");
		return record_main();
	}
	if (note && note_from_input)
		rep_usage_error("-m and -M are mutually exclusive");
	if (argc < 1)
		rep_usage_error("missing STATUS operand");
	status = argv[0];
	rep_status_check(status);
	if (from)
		rep_status_check(from);
	if (note && (why = rep_note_check(note)))
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
			snprintf(skipped, sizeof skipped, ", %zu skipped (status not %s)", names.n - changed, from);
		rep_summary("%zu set to %s%s", changed, status, skipped);
	}
	rep_strset_free(&names);
	return rep_finish();
}
