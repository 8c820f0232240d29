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
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rep.h"

enum { OPT_ROLLBACK = REP_OPT_TOOL, OPT_TIMEOUT, OPT_REPLACE, OPT_STATUS, OPT_NO_HOOKS, OPT_HOOK_TIMEOUT };

static const struct rep_optdef opts[] = {
	{'n', "dry-run", NULL, "check the archives and show the plan; change nothing"},
	REP_OPTDEF_QUIET,
	{'j', "jobs", "N", "connect, stage and run hooks on up to N targets at once (default 5; --status: 8)"},
	{'k', "keep", "KEEP", "keep the KEEP newest releases and those KEEP rollbacks could reach (default 5)"},
	{OPT_REPLACE, "replace", NULL, "a release holds the archive's applications only, not what was live"},
	{OPT_ROLLBACK, "rollback", NULL, "undo the most recent push still in effect on every target"},
	{OPT_TIMEOUT, "timeout", "SECONDS", "give up on a target silent for SECONDS (default 300)"},
	{OPT_NO_HOOKS, "no-hooks", NULL, "run no application's hooks (.rep/configure, start, check, stop)"},
	{OPT_HOOK_TIMEOUT, "hook-timeout", "SECONDS", "kill a hook still running after SECONDS; retry check until then (default 60)"},
	{OPT_STATUS, "status", NULL, "print what is live on each target; change nothing, lock nothing"},
	{'T', "targets", "FILE", "the targets in FILE too, a word a line (# comments), before the operands"},
	REP_OPTDEF_HEADER,
	{0},
};

static const struct rep_tool tool = {
	.synopsis =
	"usage: rep-push [-nq] [-j N] [-k KEEP] [--replace] [--no-hooks] [--hook-timeout SECONDS]\n"
	"                [--timeout SECONDS] [-T FILE]... [TARGET...] < archives\n"
	"       rep-push [-nq] [-j N] [-k KEEP] [--no-hooks] [--hook-timeout SECONDS] [--timeout SECONDS]\n"
	"                [-T FILE]... --rollback [TARGET...]\n"
	"       rep-push [-H] [-j N] [--timeout SECONDS] [-T FILE]... --status [TARGET...]\n"
	"At least one TARGET, given or read from a -T FILE.\n"
	"Deploy each archive named on stdin (first field of each record) to every\n"
	"TARGET, a local directory or [user@]host:DIR reached with $REP_SSH: on all\n"
	"targets first stage a release of what is live there with the archive's\n"
	"applications added or replaced and those it removes taken out, then\n"
	"switch each DIR/current to it and log the switch in DIR/log. Print a\n"
	"record per application and event: name, release, targets, checksum and\n"
	"live, left or failed (then the reason). Failure records on stdin (from\n"
	"rep-tar) are passed on first. A dry run (-n) prints no record. A usage\n"
	"error with stdin a pipe fails the archives there: records with targets -.\n"
	"Each application's hooks run on the targets (rep(7) HOOKS): configure in\n"
	"the staged release before any switch; after all switched, stop of the\n"
	"old version, start and check of the new; a failed start or check switches\n"
	"every target back and starts the previous versions again.\n"
	"--status prints a record per target and application live there: target,\n"
	"name, release and checksum (- - - for a target with nothing live).\n",
	.opts = opts,
};

/* An archive read, with the failure records it would get if rep-push
 * ended before reporting it, prebuilt: on a signal they are written
 * with write(2) alone. */
struct archive_in {
	const char *path;
	char *release;
	struct rep_manifest m;
	char *dead;            /* "name TAB release TAB targets TAB checksum TAB failed TAB" LF, per add row */
	volatile sig_atomic_t reported;  /* its records are out (or were tried) */
};

/* The archives read, as the undo action that reports them sees them:
 * changed only with the caught signals held. */
static struct rep_strset archives;
static char *where;            /* the operands joined by commas */
static int passed_on;          /* upstream failure records copied */
static struct archive_in *pushing;  /* the archive whose records the deploy prints */
static char why[512];          /* the last outcome, the reason of failed records */
static int usage_failed;       /* reading the input after a usage error */

/* A failed record's reason: as rep_reason_text shows it, and never
 * empty. Async-signal-safe. */
static void sanitize(char *dst, size_t size, const char *msg)
{
	rep_reason_text(dst, size, msg);
	if (!*dst)
		snprintf(dst, size, "rep-push ended before reporting it");
}

/* The undo action: the add rows of every archive read and not reported
 * get a failed record, the reason being why rep-push ends. On a signal
 * too: write(2) of prebuilt text only. */
static void report_stranded(void *arg)
{
	static char reason[4 * 512 + 64];
	int sig = rep_cleanup_signal();

	(void)arg;
	if (rep_opt.dry_run)
		return;
	if (sig) {
		char num[16], *p = num + sizeof num;
		*--p = 0;
		do
			*--p = (char)('0' + sig % 10);
		while ((sig /= 10) > 0);
		strcpy(reason, "interrupted by signal ");
		strcat(reason, p);
	} else {
		sanitize(reason, sizeof reason, rep_dying_message());
	}
	for (size_t i = 0; i < archives.n; i++) {
		struct archive_in *a = archives.val[i];
		if (a->reported)
			continue;
		a->reported = 1;
		for (const char *line = a->dead, *end; *line; line = end + 1) {
			end = strchr(line, '\n');
			if (rep_write_full(1, line, (size_t)(end - line)) < 0 ||
			    rep_write_full(1, reason, strlen(reason)) < 0 || rep_write_full(1, "\n", 1) < 0)
				return;
		}
	}
}

static struct rep_cleanup strand = { 0 };

/* A failure record from upstream (rep-tar's, rep-setstatus's reader's
 * format): checked, then copied as it is, and it makes the exit status
 * 1 at least. Not by a dry run, which prints nothing. */
static void pass_on(const struct rep_rec *rec)
{
	if (usage_failed && (!rep_name_valid(rec->f[0]) || (!rep_sum_valid(rec->f[3]) && strcmp(rec->f[3], "-") != 0)))
		return;
	rep_name_check(rec->f[0], rec);
	if (!rep_sum_valid(rec->f[3]) && strcmp(rec->f[3], "-") != 0)
		rep_die("%s:%lu: %s: a failure record whose checksum is neither 64 lower-case hex digits nor '-'",
		    rec->src, rec->line, rec->f[0]);
	passed_on = 1;
	if (rep_opt.dry_run)
		return;
	/* whole and out before anything is pushed, and before any undo
	 * action's write(2) */
	rep_cleanup_hold();
	rep_put_fields(stdout, (const char *const *)rec->f, rec->nf);
	rep_finish();
	rep_cleanup_deliver();
}

static char *prebuild(const struct archive_in *a)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		rep_die("out of memory");
	for (size_t i = 0; i < a->m.apps.n; i++) {
		const struct rep_manifest_app *r = a->m.apps.val[i];
		if (!r->remove)
			fprintf(f, "%s\t%s\t%s\t%s\tfailed\t\n", r->app.name, a->release, where, r->app.checksum);
	}
	if (fclose(f) != 0)
		rep_die("out of memory");
	return text;
}

static void read_archive(struct rep_rec *rec, void *arg)
{
	const char *path = rec->f[0];
	char *release;

	(void)arg;
	if ((rec->nf == 5 || rec->nf == 6) && strcmp(rec->f[4], "failed") == 0) {
		pass_on(rec);
		return;
	}
	/* after a usage error, only what holds a claim matters: the
	 * message said what is wrong, and no other follows it */
	if (!(release = rep_release_of(path))) {
		if (usage_failed)
			return;
		rep_die("%s: not a rep-tar archive name (rep_applications_YYYYMMDD_HHMMSS[_N].tar.gz)", path);
	}
	for (size_t i = 0; i < archives.n; i++)
		if (strcmp(((struct archive_in *)archives.val[i])->release, release) == 0) {
			if (usage_failed) {
				free(release);
				return;
			}
			rep_die("%s: release %s given twice", path, release);
		}
	struct stat st;
	if (usage_failed && (stat(path, &st) < 0 || !S_ISREG(st.st_mode))) {
		free(release);
		return;
	}
	struct archive_in *a = calloc(1, sizeof *a);
	if (!a)
		rep_die("out of memory");
	a->path = rep_xstrdup(path);
	a->release = release;
	rep_archive_check(path, &a->m);
	a->dead = prebuild(a);
	rep_cleanup_hold();
	rep_strset_add(&archives, path, a);
	rep_cleanup_deliver();
}

static int main_argc;
static char **main_argv;

struct meant {
	int reads;             /* a push: the input is archives */
};

static void meant_opt(int c, const char *arg, void *ctx)
{
	struct meant *m = ctx;

	(void)arg;
	if (c == OPT_ROLLBACK || c == OPT_STATUS || c == 'n')
		m->reads = 0;   /* no input, or a dry run: no record */
}

/* A usage error: the archives rep-tar made of what a claim upstream
 * passed on must not leave it claimed. When the command line was a push
 * (not --rollback, --status or -n) and the input is a pipe, they get
 * failed records that name no target, whose reason is the usage error,
 * and failure records from upstream are passed on (rep_on_usage_error). */
static void usage_input(void)
{
	struct meant m = { 1 };

	rep_opt_scan(main_argc, main_argv, &tool, meant_opt, &m);
	if (!m.reads || !rep_stdin_piped())
		return;
	/* archives named relative to -C DIR; if it cannot be entered,
	 * archives named by absolute paths are read all the same */
	(void)rep_opt_enter(NULL);
	usage_failed = 1;
	free(where);
	where = rep_xstrdup("-");
	rep_cleanup_signals();
	rep_cleanup_add(&strand, report_stranded, NULL);
	signal(SIGPIPE, SIG_IGN);
	rep_cleanup_hold();
	rep_each_input(0, NULL, read_archive, NULL);
	rep_cleanup_deliver();
}

/* A step on a target, unless -q: a step of the plan (-n) always,
 * progress only on a terminal. */
static void step(void *arg, int plan, const char *target, const char *fmt, va_list ap)
{
	(void)arg;
	if (!rep_opt.quiet && (plan || rep_stderr_tty()))
		rep_vline(target, fmt, ap, NULL);
}

/* The outcome for one release, unless -q; kept, as the reason of the
 * failed records of archives the deploy was not given. */
static void outcome(void *arg, const char *release, const char *fmt, va_list ap)
{
	char ctx[PATH_MAX + 16];
	va_list copy;

	(void)arg;
	va_copy(copy, ap);
	vsnprintf(why, sizeof why, fmt, copy);
	va_end(copy);
	if (rep_opt.quiet)
		return;
	snprintf(ctx, sizeof ctx, "%s%s", release, rep_opt.dry_run ? ": dry run" : "");
	rep_vline(ctx, fmt, ap, NULL);
}

/* The records of one archive pushed, or of a rollback. Once current has
 * switched, output that cannot be written is no reason to go quietly
 * (exit 3, and say what is live). */
static int records(void *arg, const struct rep_deploy_rec *v, size_t n)
{
	const char *live = NULL;

	(void)arg;
	/* printed at most once, even if only in part */
	if (pushing)
		pushing->reported = 1;
	for (size_t i = 0; i < n; i++) {
		const char *fields[] = { v[i].name, v[i].release, v[i].targets, v[i].checksum, v[i].event, v[i].why };
		char reason[4 * sizeof why + 64];
		if (v[i].why) {
			sanitize(reason, sizeof reason, v[i].why);
			fields[5] = reason;
		}
		if (!live && strcmp(v[i].event, "live") == 0)
			live = v[i].targets;
		rep_put_fields(stdout, fields, v[i].why ? 6 : 5);
	}
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	if (live)
		rep_error_at(v[0].release, "live on %s, but its records could not be written: %s", live,
		    strerror(errno));
	else
		rep_error_at(v[0].release, "its records could not be written: %s", strerror(errno));
	return -1;
}

/* A hook's output, each line "TARGET: NAME: PHASE: LINE" with control
 * bytes shown; with -q, only a failed hook's. */
static void hook_output(void *arg, const char *target, const char *name, const char *phase,
    const char *output, long long cut, int ok)
{
	(void)arg;
	if (rep_opt.quiet && ok)
		return;
	for (const char *line = output; line && *line;) {
		size_t n = strcspn(line, "\n");
		char *v = rep_visible(line, n);
		fprintf(stderr, "%s: %s: %s: %s\n", target, name, phase, v);
		free(v);
		line += n + (line[n] == '\n');
	}
	if (cut > 0)
		fprintf(stderr, "%s: %s: %s: (%lld more bytes in its hooks.log)\n", target, name, phase, cut);
	fflush(stderr);
}

/* The bytes sent to ssh targets, on a terminal. */
static void upload_progress(void *arg, const char *release, long long sent, long long total)
{
	static struct rep_progress p;
	static char what[REP_NAME_MAX + 16];

	(void)arg;
	if (!release) {
		rep_progress_end(&p);
		memset(what, 0, sizeof what);
		return;
	}
	if (strcmp(what + 8, release) != 0) {
		snprintf(what, sizeof what, "sending %s", release);
		rep_progress_begin(&p, what);
	}
	rep_progress_draw(&p, 0, 0, NULL, sent, total);
}

static struct rep_deploy_cb callbacks = { step, outcome, records, hook_output, NULL };

/* The failed records of an archive the deploy was not given, or gave up
 * on before telling (a lock held, an earlier archive failed). */
static void not_pushed(struct archive_in *a, const char *reason)
{
	struct rep_deploy_rec *v = rep_xmalloc((a->m.apps.n + 1) * sizeof *v);
	size_t n = 0;

	for (size_t i = 0; i < a->m.apps.n; i++) {
		const struct rep_manifest_app *r = a->m.apps.val[i];
		if (!r->remove)
			v[n++] = (struct rep_deploy_rec){ r->app.name, a->release, where, r->app.checksum,
			    "failed", reason };
	}
	rep_cleanup_hold();
	pushing = a;
	/* nothing more once the records could not be written: said once */
	if (n && !ferror(stdout))
		records(NULL, v, n);
	a->reported = 1;
	pushing = NULL;
	rep_cleanup_deliver();
	free(v);
}

static int push_all(struct rep_deploy *d, int back)
{
	const char *what = back ? "rollback" : ((struct archive_in *)archives.val[0])->release;
	int rc = rep_deploy_open(d, d->dry_run ? REP_LOCK_READ : back ? REP_LOCK_ROLLBACK : REP_LOCK_PUSH, what);
	const char *failed = NULL;

	if (rc == REP_DEPLOY_OK && back)
		return rep_deploy_rollback(d);
	for (size_t i = 0; i < archives.n; i++) {
		struct archive_in *a = archives.val[i];
		if (rc == REP_DEPLOY_OK) {
			pushing = a;
			rc = rep_deploy_push(d, a->path, a->release, &a->m);
			pushing = NULL;
		}
		if (d->dry_run || a->reported)
			;
		else if (!failed)
			not_pushed(a, why);
		else {
			char reason[REP_NAME_MAX + 32];
			snprintf(reason, sizeof reason, "not tried: %s failed", failed);
			not_pushed(a, reason);
		}
		if (rc != REP_DEPLOY_OK && !failed)
			failed = a->release;
	}
	return rc;
}

/* A record of --status; '-' for the fields of a target with nothing
 * live. */
static int status_record(void *arg, const char *target, const char *name, const char *release,
    const char *checksum)
{
	const char *f[] = { target, name ? name : "-", release ? release : "-", checksum ? checksum : "-" };

	(void)arg;
	rep_put_fields(stdout, f, 4);
	return ferror(stdout) ? -1 : 0;
}

/* rep-push --status: what is live where, read from every target at
 * once; exit 1 when a target could not be read (the others printed). */
static int status(struct rep_deploy *d, char **targets, size_t n)
{
	/* as rep_put_header writes one (app.c, which needs the database) */
	static const char *const header[] = { "#target", "name", "release", "checksum" };

	rep_deploy_targets(d, targets, n);
	if (rep_opt.header)
		rep_put_fields(stdout, header, 4);
	int unread = rep_deploy_status(d, status_record, NULL);
	rep_deploy_close(d);
	if (unread > 0 && !rep_opt.quiet)
		rep_warn("%d of %zu target%s could not be read", unread, n, n == 1 ? "" : "s");
	if (rep_finish() != 0 || unread < 0)
		return 2;
	return unread ? 1 : 0;
}

/* An ssh target holds three descriptors (its session's pipes and the
 * file of ssh's messages) from the lock to the end of the push: a fleet
 * of a few hundred needs more than the usual soft limit of 1024. Raised
 * as far as the hard limit allows, only as far as needed, since the
 * children (ssh, the hooks of local targets) inherit it. */
static void enough_descriptors(size_t n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)n * 4 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

/* The targets: those of each -T FILE, in order, then the operands. */
static char **targets;
static size_t ntargets, targets_cap;

static void add_target(const char *t)
{
	if (ntargets == targets_cap) {
		targets_cap = targets_cap ? 2 * targets_cap : 16;
		targets = rep_xrealloc(targets, targets_cap * sizeof *targets);
	}
	targets[ntargets++] = rep_xstrdup(t);
}

/* -T FILE: a target per line, its first word (blanks, spaces or TABs,
 * separate words; the rest is free for a comment), as in pssh's host
 * files; lines empty, blank or whose first word begins with # skipped.
 * Read a bounded line at a time: a line longer than 4096 bytes, a NUL
 * or a CR before LF is refused. Part of the command line: a file that
 * cannot be read is a usage error, so that the archives on a piped
 * stdin get failed records. */
static void read_targets(const char *path)
{
	char line[4097];
	size_t n = 0;
	unsigned long no = 1;
	int c;
	FILE *f;

	if (strcmp(path, "-") == 0)
		rep_usage_error("-T -: stdin holds the archives; name a file");
	if (!(f = fopen(path, "r")))
		rep_usage_error("-T %s: %s", path, strerror(errno));
	for (;;) {
		c = getc(f);
		if (c != EOF && c != '\n') {
			if (c == 0)
				rep_usage_error("-T %s:%lu: NUL byte in line", path, no);
			if (n == sizeof line - 1)
				rep_usage_error("-T %s:%lu: line longer than 4096 bytes", path, no);
			line[n++] = (char)c;
			continue;
		}
		if (c == EOF && ferror(f))
			rep_usage_error("-T %s: %s", path, strerror(errno));
		if (c == EOF && n == 0)
			break;
		if (n > 0 && line[n - 1] == '\r')
			rep_usage_error("-T %s:%lu: CR before LF (convert the file with dos2unix)", path, no);
		line[n] = 0;
		char *w = line + strspn(line, " \t");
		w[strcspn(w, " \t")] = 0;
		if (*w && *w != '#')
			add_target(w);
		n = 0;
		no++;
		if (c == EOF)
			break;
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	/* -j 5 by default, as Ansible's forks: a fleet is worked on in
	 * parallel without being asked, and 5 sessions starting at once stay
	 * well under sshd's MaxStartups (10) */
	struct rep_deploy d = { .jobs = 5, .keep = 5, .hook_timeout = 60, .cb = &callbacks };
	int c, back = 0, live = 0, jobs = 0, keep = 0, hooks = 0;
	size_t len, nfiles = 0;
	FILE *f;
	const char **files = rep_xmalloc((size_t)argc * sizeof *files);

	rep_init(argv[0]);
	main_argc = argc, main_argv = argv;
	rep_on_usage_error(usage_input);
	while ((c = rep_getopt(argc, argv, &tool)) != -1) {
		switch (c) {
		case 'j': d.jobs = rep_opt_number("-j", optarg, 1, 64), jobs = 1; break;
		case 'k': d.keep = rep_opt_number("-k", optarg, 1, 1000000), keep = 1; break;
		case OPT_STATUS: live = 1; break;
		case OPT_ROLLBACK: back = 1; break;
		case 'T': files[nfiles++] = optarg; break;
		case OPT_REPLACE: d.replace = 1; break;
		case OPT_TIMEOUT: d.timeout = rep_opt_number("--timeout", optarg, 1, 86400); break;
		case OPT_NO_HOOKS: d.no_hooks = 1, hooks = 1; break;
		case OPT_HOOK_TIMEOUT:
			d.hook_timeout = rep_opt_number("--hook-timeout", optarg, 1, 86400), hooks = 1;
			break;
		}
	}
	rep_opt_finish();
	if (rep_progress_wanted())
		callbacks.progress = upload_progress;
	if (back && d.replace)
		rep_usage_error("--replace is for pushes, not --rollback");
	if (live && (back || d.replace || keep || hooks || rep_opt.dry_run))
		rep_usage_error("--status only reads: it takes no -n, -k, --replace, --rollback or hook option");
	if (rep_opt.header && !live)
		rep_usage_error("-H is for --status, whose records have a header");
	d.dry_run = rep_opt.dry_run;
	argc -= optind, argv += optind;
	/* after -C: a relative FILE is read where the archives are */
	for (size_t i = 0; i < nfiles; i++)
		read_targets(files[i]);
	free(files);
	for (int i = 0; i < argc; i++)
		add_target(argv[i]);
	if (ntargets == 0)
		rep_usage_error(nfiles ? "no target (none in the -T files)" : "no target");
	rep_on_usage_error(NULL);
	enough_descriptors(ntargets);
	if (live) {
		if (!jobs)
			d.jobs = 8;
		return status(&d, targets, ntargets);
	}
	if (!(f = open_memstream(&where, &len)))
		rep_die("out of memory");
	for (size_t i = 0; i < ntargets; i++)
		fprintf(f, "%s%s", i ? "," : "", targets[i]);
	if (fclose(f) != 0)
		rep_die("out of memory");
	/* targets that a record cannot name (they are refused, once the
	 * input is read) give failed records that name none */
	for (size_t i = 0; i < ntargets; i++)
		if (!*targets[i] || strchr(targets[i], ',') || rep_note_error(targets[i])) {
			free(where);
			where = rep_xstrdup("-");
			break;
		}
	/* from the first archive read, whichever way rep-push ends, what it
	 * read and did not report gets failed records: nothing upstream
	 * claimed stays stranded */
	rep_cleanup_signals();
	rep_cleanup_add(&strand, report_stranded, NULL);
	/* a reader gone is a write error to report: the records may matter */
	signal(SIGPIPE, SIG_IGN);
	int rc = REP_DEPLOY_OK;
	if (!back) {
		/* A Ctrl-C reaches the whole pipeline: rep-tar, ending on it,
		 * writes the failure records of what it was packaging, which
		 * must reach the reader. Reading from a pipe, the signals
		 * wait until the input ends; then they have their way, and
		 * the archives read get their failed records. */
		int piped = rep_stdin_piped();
		if (piped)
			rep_cleanup_hold();
		rep_each_input(0, NULL, read_archive, NULL);
		if (piped)
			rep_cleanup_deliver();
	}
	/* the targets are checked once the input is read: a target refused
	 * gives its archives failed records, with why */
	rep_deploy_targets(&d, targets, ntargets);
	if (!back && archives.n == 0) {
		rep_summary("nothing to push");
	} else {
		rc = push_all(&d, back);
	}
	rep_deploy_close(&d);
	/* every archive is reported by now */
	rep_cleanup_remove(&strand);
	for (size_t i = 0; i < archives.n; i++) {
		struct archive_in *a = archives.val[i];
		rep_manifest_free(&a->m);
		free(a->release);
		free(a->dead);
		free((char *)a->path);
	}
	rep_strset_free(&archives);
	free(where);
	for (size_t i = 0; i < ntargets; i++)
		free(targets[i]);
	free(targets);
	if (rc == REP_DEPLOY_MIXED)
		return rc;
	if (rep_finish() != 0)
		return 2;
	/* an upstream failure passed on: the pipeline failed, if nothing
	 * here did */
	return rc == REP_DEPLOY_OK && passed_on ? 1 : rc;
}
