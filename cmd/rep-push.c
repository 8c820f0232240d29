/* rep-push: deploy archives to local and ssh targets in two phases:
 * stage the release everywhere, then switch every current to it, or
 * switch back the ones already switched. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rep.h"

static const char usage[] =
	"usage: rep-push [-nq] [-j N] [-k KEEP] TARGET... < archives\n"
	"       rep-push [-nq] --rollback TARGET...\n"
	"Deploy each archive named on stdin (first field of each record) to every\n"
	"TARGET, a local directory or [user@]host:DIR reached with $REP_SSH:\n"
	"unpack it into DIR/releases/ on all targets first, then switch each\n"
	"DIR/current to it. Print name, release and targets of every application\n"
	"now live on all targets.\n"
	"\n"
	"  -n, --dry-run         check the archives and show the plan; change nothing\n"
	"  -q, --quiet           no summary on stderr\n"
	"  -j, --jobs N          stage on up to N targets at once (default 1)\n"
	"  -k, --keep KEEP       keep the KEEP newest releases on a target (default 5)\n"
	"      --rollback        switch every target back to its previous release\n"
	"  -C DIR                work as if started in DIR\n"
	"  -h, --help            show this help\n"
	"  -V, --version         show the version\n";

enum { OPT_ROLLBACK = REP_OPT_TOOL };

static const struct option longopts[] = {
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"dry-run", no_argument, NULL, 'n'},
	{"quiet", no_argument, NULL, 'q'},
	{"jobs", required_argument, NULL, 'j'},
	{"keep", required_argument, NULL, 'k'},
	{"rollback", no_argument, NULL, OPT_ROLLBACK},
	{NULL, 0, NULL, 0},
};

struct archive_in {
	const char *path;
	char *release;
	struct rep_manifest m;
};

static struct rep_target *targets;
static size_t ntargets;
static long jobs = 1, keep = 5;
static int *failed;         /* targets out of the run, by index */
static pid_t *staging;      /* running staging processes, by target */
static pid_t *readers;      /* running rep_archive_tee processes */
static size_t nreaders;

/* A line about a target on stderr, unless -q: a step of the plan (-n)
 * always, progress only on a terminal. */
static void __attribute__((format(printf, 3, 4)))
say(int always, const struct rep_target *t, const char *fmt, ...)
{
	va_list ap;

	if (rep_opt.quiet || (!always && !rep_stderr_tty()))
		return;
	va_start(ap, fmt);
	rep_vline(t->arg, fmt, ap, NULL);
	va_end(ap);
}

static void on_signal(int sig)
{
	for (size_t i = 0; staging && i < ntargets; i++)
		if (staging[i] > 0)
			kill(-staging[i], SIGTERM);
	for (size_t i = 0; i < nreaders; i++)
		kill(-readers[i], SIGTERM);
	for (size_t i = 0; i < ntargets; i++)
		if (!targets[i].host && targets[i].dirfd >= 0 && targets[i].lock[0])
			unlinkat(targets[i].dirfd, ".rep-push.lock", 0);
	signal(sig, SIG_DFL);
	raise(sig);
}

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

/* A process for a part of staging, in a process group of its own (see
 * on_signal), killed if rep-push dies. Returns as fork() does. */
static pid_t fork_stager(void)
{
	fflush(NULL);
	pid_t parent = getpid(), pid = fork();
	if (pid < 0)
		rep_die_errno("fork");
	if (pid == 0) {
		/* no staging goes on once rep-push is gone */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		return 0;
	}
	setpgid(pid, pid);
	return pid;
}

/* Whether target t needs the release staged; says why not. */
static int needs_staging(struct rep_target *t, struct archive_in *a, size_t *nfailed)
{
	const char *have = rep_target_release(t, a->release);

	if (failed[t->index])
		return 0;
	if (have && strcmp(have, a->m.manifest_sha256) == 0) {
		say(rep_opt.dry_run, t, "%s is already staged", a->release);
		return 0;
	}
	if (have) {
		rep_target_error(t, "releases/%s exists and differs from %s", a->release, a->path);
		failed[t->index] = 1;
		(*nfailed)++;
		return 0;
	}
	if (rep_opt.dry_run) {
		say(1, t, "would stage %s", a->release);
		rep_target_add_release(t, a->release, a->m.manifest_sha256);
		return 0;
	}
	return 1;
}

static _Noreturn void stage_here(struct rep_target *t, struct archive_in *a, const struct rep_feed *feed)
{
	rep_msg_context(t->arg);
	int rc = feed ? rep_local_stage_from(t, feed, a->path, a->release, &a->m) :
	    rep_target_stage(t, a->path, a->release, &a->m);
	_exit(rc == 0 ? 0 : 1);
}

static void close_feeds(const struct rep_feed *f, size_t n, size_t except)
{
	for (size_t i = 0; i < n; i++)
		if (i != except) {
			close(f[i].data);
			close(f[i].verdict);
		}
}

/* Starts staging on n targets, each in a process of its own. Several
 * (local ones) share one reading and inflating of the archive: a reader
 * process feeds each of them the tar stream, then the verdict on the
 * file (rep_archive_tee). */
static void start_staging(struct archive_in *a, struct rep_target **group, size_t n)
{
	if (n == 1) {
		pid_t pid = fork_stager();
		if (pid == 0)
			stage_here(group[0], a, NULL);
		staging[group[0]->index] = pid;
		return;
	}
	/* on the stack (n <= jobs <= 64): the processes end inside this
	 * frame, where heap memory held only by it would count as leaked */
	struct rep_feed in[64], out[64];
	for (size_t i = 0; i < n; i++) {
		int data[2], verdict[2];
		if (pipe2(data, O_CLOEXEC) < 0 || pipe2(verdict, O_CLOEXEC) < 0)
			rep_die_errno("pipe");
		/* fewer switches between the reader and the stagings; the
		 * default size works too */
		fcntl(data[1], F_SETPIPE_SZ, 1 << 20);
		in[i] = (struct rep_feed){ data[0], verdict[0] };
		out[i] = (struct rep_feed){ data[1], verdict[1] };
	}
	for (size_t i = 0; i < n; i++) {
		pid_t pid = fork_stager();
		if (pid == 0) {
			/* only its own read ends: EOF when the reader is gone,
			 * EPIPE for the reader when this process is */
			close_feeds(out, n, SIZE_MAX);
			close_feeds(in, n, i);
			stage_here(group[i], a, &in[i]);
		}
		staging[group[i]->index] = pid;
	}
	pid_t pid = fork_stager();
	if (pid == 0) {
		close_feeds(in, n, SIZE_MAX);
		signal(SIGPIPE, SIG_IGN);
		rep_archive_tee(a->path, out, n);
		_exit(0);
	}
	readers[nreaders++] = pid;
	close_feeds(in, n, SIZE_MAX);
	close_feeds(out, n, SIZE_MAX);
}

/* A local target waits while local stagings run, if fewer places are
 * free than the local targets left could take: those stagings, fed by
 * one reader, end about together, and the next ones can then share one. */
static int wait_for_group(size_t next, size_t running)
{
	size_t busy = 0, left = 0, free_now = (size_t)jobs - running;

	for (size_t i = 0; i < ntargets; i++)
		busy += staging[i] > 0 && !targets[i].host;
	for (size_t i = next; busy && i < ntargets && left <= free_now; i++)
		left += !targets[i].host && !failed[i];
	return busy && free_now < left;
}

/* Stages on every target that lacks the release, up to -j at once, each
 * in a process of its own; returns the number of targets that failed. */
static size_t stage_all(struct archive_in *a)
{
	size_t next = 0, running = 0, nfailed = 0;
	struct rep_target *group[64];      /* n <= jobs <= 64 */

	staging = calloc(ntargets, sizeof *staging);
	readers = calloc(ntargets, sizeof *readers);
	if (!staging || !readers)
		rep_die("out of memory");
	for (;;) {
		size_t n = 0;
		while (running + n < (size_t)jobs && next < ntargets) {
			struct rep_target *t = &targets[next];
			if (!t->host && n == 0 && wait_for_group(next, running))
				break;
			next++;
			if (!needs_staging(t, a, &nfailed))
				continue;
			if (t->host) {
				start_staging(a, &t, 1);
				running++;
			} else {
				group[n++] = t;
			}
		}
		if (n)
			start_staging(a, group, n);
		running += n;
		if (running == 0 && nreaders == 0)
			break;
		int status;
		pid_t pid = wait(&status);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			rep_die_errno("wait");
		/* a reader's end says nothing: its stagings report */
		for (size_t i = 0; i < nreaders; i++)
			if (readers[i] == pid)
				readers[i] = readers[--nreaders];
		for (size_t i = 0; i < ntargets; i++) {
			if (staging[i] != pid)
				continue;
			staging[i] = 0;
			running--;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				rep_target_add_release(&targets[i], a->release, a->m.manifest_sha256);
				say(0, &targets[i], "staged %s", a->release);
			} else {
				if (WIFSIGNALED(status))
					rep_target_error(&targets[i], "staging killed by signal %d", WTERMSIG(status));
				failed[i] = 1;
				nfailed++;
			}
		}
	}
	free(staging);
	free(readers);
	staging = readers = NULL;
	return nfailed;
}

/* Switches every target to release; if one fails, the targets already
 * switched go back to where they were. Returns 0 when all switched; else
 * -1, with stuck counting the targets that could not go back. */
static size_t stuck;

static int switch_all(const char *release)
{
	char (*was)[REP_NAME_MAX + 1] = rep_xmalloc(ntargets * sizeof *was);
	size_t i;
	int rc = 0;

	for (i = 0; i < ntargets; i++) {
		struct rep_target *t = &targets[i];
		snprintf(was[i], sizeof was[i], "%s", t->current);
		if (strcmp(t->current, release) == 0) {
			say(rep_opt.dry_run, t, "%s is already live", release);
			continue;
		}
		if (rep_opt.dry_run) {
			if (t->current[0])
				say(1, t, "would switch current from %s to %s", t->current, release);
			else
				say(1, t, "would point current to %s", release);
			snprintf(t->current, sizeof t->current, "%s", release);
			continue;
		}
		if (rep_target_switch(t, release) < 0)
			break;
		say(0, t, "current is now %s", release);
	}
	if (i < ntargets) {
		rc = -1;
		for (size_t j = i; j-- > 0;) {
			struct rep_target *t = &targets[j];
			if (strcmp(t->current, was[j]) == 0)
				continue;
			if (rep_target_switch(t, was[j]) == 0) {
				rep_target_error(t, "switched back to %s", *was[j] ? was[j] : "no release");
			} else {
				rep_target_error(t, "could not switch back to %s: still on %s",
				    *was[j] ? was[j] : "no release", release);
				stuck++;
			}
		}
	}
	free(was);
	return rc;
}

static int newest_first(const void *a, const void *b)
{
	return rep_release_cmp(*(char *const *)b, *(char *const *)a);
}

/* Old releases go, except the KEEP newest, the live one and the one
 * before it; nothing that is not named like a release is touched. */
static void prune(struct rep_target *t)
{
	char **v = rep_xmalloc((t->releases.n + 1) * sizeof *v), **gone = rep_xmalloc((t->releases.n + 1) * sizeof *gone);
	size_t n = 0, ngone = 0;
	int before_live = 0;

	for (size_t i = 0; i < t->releases.n; i++)
		if (t->releases.val[i])
			v[n++] = t->releases.v[i];
	qsort(v, n, sizeof *v, newest_first);
	for (size_t i = 0; i < n; i++) {
		int live = strcmp(v[i], t->current) == 0;
		int older = t->current[0] && rep_release_cmp(v[i], t->current) < 0;
		if (live || (older && !before_live++) || (long)i < keep)
			continue;
		gone[ngone++] = v[i];
	}
	if (ngone && rep_opt.dry_run) {
		for (size_t i = 0; i < ngone; i++)
			say(1, t, "would remove releases/%s", gone[i]);
	} else if (ngone && rep_target_prune(t, gone, ngone) == 0) {
		for (size_t i = 0; i < ngone; i++)
			say(0, t, "removed releases/%s", gone[i]);
	}
	free(v);
	free(gone);
}

static void print_apps(const struct rep_manifest *m, const char *release)
{
	char *where;
	size_t len;
	FILE *f = open_memstream(&where, &len);

	if (!f)
		rep_die("out of memory");
	for (size_t i = 0; i < ntargets; i++)
		fprintf(f, "%s%s", i ? "," : "", targets[i].arg);
	if (fclose(f) != 0)
		rep_die("out of memory");
	for (size_t i = 0; i < m->apps.n; i++) {
		const char *fields[] = { m->apps.v[i], release, where };
		rep_put_fields(stdout, fields, 3);
	}
	free(where);
}

/* The outcome for one release, unless -q. */
static void __attribute__((format(printf, 2, 3)))
summary(const char *release, const char *fmt, ...)
{
	char ctx[PATH_MAX + 16];
	va_list ap;

	if (rep_opt.quiet)
		return;
	snprintf(ctx, sizeof ctx, "%s%s", release, rep_opt.dry_run ? ": dry run" : "");
	va_start(ap, fmt);
	rep_vline(ctx, fmt, ap, NULL);
	va_end(ap);
}

static void switch_failed(const char *release)
{
	if (stuck)
		summary(release, "a switch failed, and %zu target%s could not be switched back: "
		    "still on it", stuck, stuck == 1 ? "" : "s");
	else
		summary(release, "a switch failed; no target was left on it");
}

static int push(struct archive_in *a)
{
	size_t nfailed = stage_all(a);

	if (nfailed) {
		summary(a->release, "staging failed on %zu of %zu targets; nothing switched", nfailed, ntargets);
		return -1;
	}
	if (switch_all(a->release) < 0) {
		switch_failed(a->release);
		return -1;
	}
	for (size_t i = 0; i < ntargets; i++)
		prune(&targets[i]);
	print_apps(&a->m, a->release);
	if (fflush(stdout) != 0)
		rep_finish();
	summary(a->release, "live on %zu target%s", ntargets, ntargets == 1 ? "" : "s");
	return 0;
}

static const char *release_before(const struct rep_target *t)
{
	const char *best = NULL;

	for (size_t i = 0; i < t->releases.n; i++) {
		const char *r = t->releases.v[i];
		if (t->releases.val[i] && rep_release_cmp(r, t->current) < 0 &&
		    (!best || rep_release_cmp(r, best) > 0))
			best = r;
	}
	return best;
}

/* Every target goes back to the release before its live one, the same
 * release on all of them, or none does. */
static int rollback(void)
{
	const char *to = NULL, *first = NULL, *sha = NULL;
	size_t nfailed = 0;

	for (size_t i = 0; i < ntargets; i++) {
		struct rep_target *t = &targets[i];
		const char *r = t->current[0] ? release_before(t) : NULL;
		if (!t->current[0]) {
			rep_target_error(t, "no release is live");
		} else if (!r) {
			rep_target_error(t, "no release before %s", t->current);
		} else if (!to) {
			to = r, first = t->arg, sha = rep_target_release(t, r);
			continue;
		} else if (strcmp(r, to) != 0) {
			rep_target_error(t, "would go back to %s, but %s to %s", r, first, to);
		} else if (strcmp(rep_target_release(t, r), sha) != 0) {
			rep_target_error(t, "releases/%s differs from the one on %s", r, first);
		} else {
			continue;
		}
		failed[i] = 1;
		nfailed++;
	}
	if (nfailed || !to) {
		summary("rollback", "not possible on %zu of %zu targets; nothing switched", nfailed, ntargets);
		return -1;
	}
	char *text = rep_target_manifest(&targets[0], to);
	if (!text) {
		summary("rollback", "nothing switched");
		return -1;
	}
	struct rep_manifest m = { 0 };
	char label[REP_NAME_MAX + 700];
	snprintf(label, sizeof label, "%s: releases/%s", targets[0].arg, to);
	rep_manifest_parse(label, text, &m);
	free(text);
	char *release = rep_xstrdup(to);
	if (switch_all(release) < 0) {
		switch_failed(release);
		return -1;
	}
	print_apps(&m, release);
	summary(release, "live again on %zu target%s", ntargets, ntargets == 1 ? "" : "s");
	rep_manifest_free(&m);
	free(release);
	return 0;
}

/* Two local targets that are one directory would lock each other out. */
static void same_directory(void)
{
	struct stat *st = rep_xmalloc(ntargets * sizeof *st);

	for (size_t i = 0; i < ntargets; i++) {
		if (targets[i].host || stat(targets[i].dir, &st[i]) < 0) {
			st[i].st_ino = 0;
			continue;
		}
		for (size_t j = 0; j < i; j++)
			if (st[j].st_ino && st[j].st_dev == st[i].st_dev && st[j].st_ino == st[i].st_ino)
				rep_die("%s: the same directory as %s", targets[i].arg, targets[j].arg);
	}
	free(st);
}

int main(int argc, char **argv)
{
	struct rep_strset archives = { 0 };
	int c, back = 0, rc = 0;

	rep_init(argv[0]);
	while ((c = rep_getopt(argc, argv, "nqj:k:", longopts, usage)) != -1) {
		switch (c) {
		case 'j': jobs = rep_opt_number("-j", optarg, 1, 64); break;
		case 'k': keep = rep_opt_number("-k", optarg, 1, 1000000); break;
		case OPT_ROLLBACK: back = 1; break;
		}
	}
	rep_opt_finish();
	argc -= optind, argv += optind;
	if (argc == 0)
		rep_usage_error("no target");
	ntargets = (size_t)argc;
	targets = rep_xmalloc(ntargets * sizeof *targets);
	for (size_t i = 0; i < ntargets; i++) {
		rep_target_parse(&targets[i], argv[i]);
		targets[i].index = (int)i;
		for (size_t j = 0; j < i; j++)
			if (strcmp(argv[i], argv[j]) == 0)
				rep_die("%s: target given twice", argv[i]);
		if (targets[i].host)
			rep_ssh_init();
	}
	same_directory();
	if (!back) {
		rep_each_input(0, NULL, read_archive, &archives);
		if (archives.n == 0) {
			if (!rep_opt.quiet)
				fprintf(stderr, "%s: nothing to push\n", rep_prog);
			return rep_finish();
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	failed = calloc(ntargets, sizeof *failed);
	if (!failed)
		rep_die("out of memory");
	size_t nfailed = 0;
	for (size_t i = 0; i < ntargets; i++)
		if (rep_target_lock(&targets[i], rep_opt.dry_run ? REP_LOCK_READ :
		    back ? REP_LOCK_ROLLBACK : REP_LOCK_PUSH) < 0) {
			failed[i] = 1;
			nfailed++;
		} else if (rep_opt.dry_run && targets[i].holder[0]) {
			rep_target_error(&targets[i], "locked by %s", targets[i].holder);
			failed[i] = 1;
			nfailed++;
		} else if (rep_opt.dry_run && targets[i].stale[0]) {
			say(1, &targets[i], "would break a stale lock: held by %s, which is gone",
			    targets[i].stale);
		}
	if (nfailed) {
		summary(back ? "rollback" : ((struct archive_in *)archives.val[0])->release,
		    "cannot lock %zu of %zu targets; nothing done", nfailed, ntargets);
		rc = 1;
	} else if (back) {
		rc = rollback() < 0;
	} else {
		for (size_t i = 0; i < archives.n && rc == 0; i++)
			rc = push(archives.val[i]) < 0;
	}
	for (size_t i = 0; i < ntargets; i++)
		rep_target_unlock(&targets[i]);
	free(failed);
	for (size_t i = 0; i < archives.n; i++) {
		struct archive_in *a = archives.val[i];
		rep_manifest_free(&a->m);
		free(a->release);
		free((char *)a->path);
	}
	rep_strset_free(&archives);
	if (rep_finish() != 0)
		return 2;
	return rc;
}
