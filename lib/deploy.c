/* The deploy protocol, over any kind of target (transport.h): lock every
 * target, stage the release on all of them (each in a process of its
 * own, up to -j at once), and only if all staged switch every current to
 * it; a failed switch switches back the targets already switched. Then
 * prune. A rollback switches every target to the release before its live
 * one. What happens is told through the caller's callbacks; what went
 * wrong on a target, on stderr as it happens. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "transport.h"

enum { MAX_JOBS = 64, OPEN_AT_ONCE = 8 };

/* The hooks a push or rollback runs on a target (hook_plan): name ->
 * struct hookapp, each set run in name order. */
struct hookplan {
	struct rep_strset configure, stop, start;
	char pending[REP_NAME_MAX + 1];  /* an earlier push's hooks left pending: its release */
};

struct rep_deploy_state {
	struct rep_target *t;
	size_t n;
	int *failed;                /* targets out of the run, by index */
	pid_t *staging;             /* running staging processes, by target */
	pid_t readers[MAX_JOBS];    /* running rep_archive_tee processes */
	size_t nreaders;
	char *where;                /* the operands joined by commas */
	struct rep_cleanup stop;    /* stops the stagings if rep-push dies */
	struct rep_compose *comp;   /* what the push at hand makes, by target */
	struct rep_history *hist;   /* each target's undo stack */
	char **plan;                /* what the push at hand does there, in words */
	struct rep_strset *left;    /* what leaves there with it: name -> checksum */
	struct hookplan *hp;        /* the hooks it runs there */
	volatile long long *sent;   /* bytes sent to each target, then (from n on)
	                             * the bytes each sends in all, shared with its
	                             * staging process; NULL: not counted */
	char why[512];              /* the last outcome: the reason of failed records */
};

static void __attribute__((format(printf, 4, 5)))
step(struct rep_deploy *d, int plan, const struct rep_target *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	d->cb->step(d->arg, plan, t->arg, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
outcome(struct rep_deploy *d, const char *release, const char *fmt, ...)
{
	va_list ap;

	/* a failure's outcome is the reason its records give */
	va_start(ap, fmt);
	vsnprintf(d->s->why, sizeof d->s->why, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	d->cb->outcome(d->arg, release, fmt, ap);
	va_end(ap);
}

/* On a signal too: only kill(2). The stagings' groups take their
 * children (ssh, tar) with them. */
static void stop_children(void *arg)
{
	struct rep_deploy_state *s = arg;

	for (size_t i = 0; s->staging && i < s->n; i++)
		if (s->staging[i] > 0)
			kill(-s->staging[i], SIGTERM);
	for (size_t i = 0; i < s->nreaders; i++)
		kill(-s->readers[i], SIGTERM);
}

/* Parses the operands; one place named twice is refused, as two locks of
 * one directory would shut each other out. */
void rep_deploy_targets(struct rep_deploy *d, char *const *args, size_t n)
{
	struct rep_deploy_state *s = rep_xmalloc(sizeof *s);
	char (*id)[600] = rep_xmalloc(n * sizeof *id);
	size_t len;
	FILE *f;

	memset(s, 0, sizeof *s);
	d->s = s;
	s->n = n;
	s->t = rep_xmalloc(n * sizeof *s->t);
	s->failed = calloc(n, sizeof *s->failed);
	s->staging = calloc(n, sizeof *s->staging);
	s->comp = calloc(n, sizeof *s->comp);
	s->hist = calloc(n, sizeof *s->hist);
	s->plan = calloc(n, sizeof *s->plan);
	s->left = calloc(n, sizeof *s->left);
	s->hp = calloc(n, sizeof *s->hp);
	if (!s->failed || !s->staging || !s->comp || !s->hist || !s->plan || !s->left || !s->hp ||
	    !(f = open_memstream(&s->where, &len)))
		rep_die("out of memory");
	for (size_t i = 0; i < n; i++) {
		rep_target_parse(&s->t[i], args[i]);
		s->t[i].index = (int)i;
		s->t[i].timeout = (int)d->timeout;
		fprintf(f, "%s%s", i ? "," : "", args[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(args[i], args[j]) == 0)
				rep_die("%s: target given twice", args[i]);
	}
	if (fclose(f) != 0)
		rep_die("out of memory");
	for (size_t i = 0; i < n; i++) {
		s->t[i].ops->identity(&s->t[i], id[i], sizeof id[i]);
		for (size_t j = 0; id[i][0] && j < i; j++)
			if (strcmp(id[i], id[j]) == 0)
				rep_die("%s: the same directory as %s", args[i], args[j]);
	}
	free(id);
}

/* Opens every target (locked unless a dry run): 0, or
 * REP_DEPLOY_UNCHANGED when any cannot be, all then let go. */
int rep_deploy_open(struct rep_deploy *d, enum rep_lock how, const char *what)
{
	struct rep_deploy_state *s = d->s;
	size_t nbusy = 0, nfailed = 0, begun = 0;
	/* up to -j targets connect and ask at once, and never more than
	 * OPEN_AT_ONCE: sshd's MaxStartups begins refusing connections while
	 * 10 are unauthenticated (several targets on one host count
	 * together); each answer is read in the
	 * operands' order, so messages come as one at a time would */
	size_t window = d->jobs < OPEN_AT_ONCE ? (size_t)d->jobs : OPEN_AT_ONCE;

	for (size_t i = 0; i < s->n; i++) {
		struct rep_target *t = &s->t[i];
		while (begun < s->n && begun < i + window)
			rep_target_begin(&s->t[begun++], how);
		int rc = rep_target_open(t, how);
		if (rc == 0 && how == REP_LOCK_READ && t->holder[0]) {
			rep_error_at(t->arg, "locked by %s", t->holder);
			rc = REP_OPEN_BUSY;
		} else if (rc == 0 && how == REP_LOCK_READ && t->stale[0]) {
			step(d, 1, t, "would break a stale lock: held by %s, which is gone", t->stale);
		}
		if (rc < 0) {
			s->failed[i] = 1;
			nfailed++;
			nbusy += rc == REP_OPEN_BUSY;
		}
	}
	/* newer than the targets' own entries, so run before them: the
	 * stagings stop before their locks go */
	rep_cleanup_add(&s->stop, stop_children, s);
	for (size_t i = 0; i < s->n; i++)
		if (!s->failed[i])
			rep_history_read(&s->hist[i], s->t[i].log, s->t[i].current, &s->t[i].releases);
	/* a push killed while it ran hooks left its mark: what it
	 * started is not known to be up, so all is started again */
	for (size_t i = 0; !nfailed && how != REP_LOCK_READ && !d->no_hooks && i < s->n; i++) {
		struct hookplan *hp = &s->hp[i];
		snprintf(hp->pending, sizeof hp->pending, "%s", s->t[i].pending);
		if (hp->pending[0])
			rep_error_at(s->t[i].arg, "an earlier push left the hooks of %s unfinished:"
			    " every application is restarted", hp->pending);
	}
	if (!nfailed)
		return 0;
	if (nbusy == nfailed)
		outcome(d, what, "%zu of %zu targets locked by another push; nothing done", nfailed, s->n);
	else
		outcome(d, what, "%zu of %zu targets could not be opened; nothing done", nfailed, s->n);
	return REP_DEPLOY_UNCHANGED;
}

/* The next child of ours to end, and its wait status. */
static pid_t wait_any(int *status)
{
	pid_t pid;

	while ((pid = wait(status)) < 0 && errno == EINTR)
		;
	if (pid < 0)
		rep_die_errno("wait");
	return pid;
}

/* Whether target t needs the release staged; says why not. */
static int needs_staging(struct rep_deploy *d, struct rep_target *t, const char *archive,
    const char *release, const struct rep_manifest *m, size_t *nfailed)
{
	const char *have = rep_releases_get(&t->releases, release);
	const struct rep_compose *c = &d->s->comp[t->index];

	if (d->s->failed[t->index])
		return 0;
	/* live already: made by this push, or by an earlier rep-push, whose
	 * releases were the archive's MANIFEST alone */
	if (have && strcmp(t->current, release) == 0 && strcmp(have, m->manifest_sha256) == 0)
		have = c->sha;
	if (have && strcmp(have, c->sha) == 0) {
		/* what was staged earlier goes live only as it was checked */
		if (!d->dry_run && strcmp(t->current, release) != 0 &&
		    rep_target_verify(t, release) < 0) {
			rep_error_at(t->arg, "releases/%s is not what its MANIFEST lists", release);
			d->s->failed[t->index] = 1;
			(*nfailed)++;
			return 0;
		}
		step(d, d->dry_run, t, "%s is already staged", release);
		return 0;
	}
	if (have) {
		/* a release composes on what was live when it was staged */
		rep_error_at(t->arg, "releases/%s exists and differs from %s (staged on another live set?"
		    " a new archive from rep-tar pushes the same applications)", release, archive);
		d->s->failed[t->index] = 1;
		(*nfailed)++;
		return 0;
	}
	if (d->dry_run) {
		step(d, 1, t, "would stage %s", release);
		rep_releases_put(&t->releases, release, c->sha);
		return 0;
	}
	return 1;
}

static void close_feeds(const struct rep_feed *f, size_t n, size_t except)
{
	for (size_t i = 0; i < n; i++)
		if (i != except) {
			close(f[i].data);
			close(f[i].verdict);
		}
}

struct stage_job {
	const char *archive, *release;
	const struct rep_manifest *m;
};

static _Noreturn void stage_here(struct rep_deploy_state *s, struct rep_target *t,
    const struct stage_job *j, const struct rep_feed *feed)
{
	struct rep_stage_src src = { j->archive, feed, s->sent ? &s->sent[t->index] : NULL,
	    s->sent ? &s->sent[s->n + (size_t)t->index] : NULL };

	rep_msg_context(t->arg);
	_exit(rep_target_stage(t, &src, j->release, j->m, &s->comp[t->index]) == 0 ? 0 : 1);
}

/* Starts staging on n targets, each in a process of its own, killed if
 * rep-push dies. Several that take a feed share one reading and
 * inflating of the archive: a reader process feeds each of them the tar
 * stream, then the verdict on the file (rep_archive_tee). */
static void start_staging(struct rep_deploy_state *s, const struct stage_job *j,
    struct rep_target **group, size_t n)
{
	if (n == 1) {
		pid_t pid = rep_child_fork(SIGKILL, REP_CHILD_GROUP);
		if (pid == 0)
			stage_here(s, group[0], j, NULL);
		s->staging[group[0]->index] = pid;
		return;
	}
	/* on the stack: the processes end inside this frame, where heap
	 * memory held only by it would count as leaked */
	struct rep_feed in[MAX_JOBS], out[MAX_JOBS];
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
		pid_t pid = rep_child_fork(SIGKILL, REP_CHILD_GROUP);
		if (pid == 0) {
			/* only its own read ends: EOF when the reader is gone,
			 * EPIPE for the reader when this process is */
			close_feeds(out, n, SIZE_MAX);
			close_feeds(in, n, i);
			stage_here(s, group[i], j, &in[i]);
		}
		s->staging[group[i]->index] = pid;
	}
	pid_t pid = rep_child_fork(SIGKILL, REP_CHILD_GROUP);
	if (pid == 0) {
		close_feeds(in, n, SIZE_MAX);
		signal(SIGPIPE, SIG_IGN);
		rep_archive_tee(j->archive, out, n);
		_exit(0);
	}
	s->readers[s->nreaders++] = pid;
	close_feeds(in, n, SIZE_MAX);
	close_feeds(out, n, SIZE_MAX);
}

/* A target that takes a feed waits while such stagings run, if fewer
 * places are free than the feeding targets left could take: those
 * stagings, fed by one reader, end about together, and the next ones can
 * then share one. */
static int wait_for_group(struct rep_deploy *d, size_t next, size_t running)
{
	struct rep_deploy_state *s = d->s;
	size_t busy = 0, left = 0, free_now = (size_t)d->jobs - running;

	for (size_t i = 0; i < s->n; i++)
		busy += s->staging[i] > 0 && s->t[i].ops->shares_feed;
	for (size_t i = next; busy && i < s->n && left <= free_now; i++)
		left += s->t[i].ops->shares_feed && !s->failed[i];
	return busy && free_now < left;
}

/* A staging process ended: its target staged, or is out of the run. */
static void staged(struct rep_deploy *d, pid_t pid, int status, const struct stage_job *j,
    size_t *running, size_t *nfailed)
{
	struct rep_deploy_state *s = d->s;

	/* a reader's end says nothing: its stagings report */
	for (size_t i = 0; i < s->nreaders; i++)
		if (s->readers[i] == pid)
			s->readers[i] = s->readers[--s->nreaders];
	for (size_t i = 0; i < s->n; i++) {
		if (s->staging[i] != pid)
			continue;
		s->staging[i] = 0;
		(*running)--;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			rep_releases_put(&s->t[i].releases, j->release, s->comp[i].sha);
			step(d, 0, &s->t[i], "staged %s", j->release);
		} else {
			if (WIFSIGNALED(status))
				rep_error_at(s->t[i].arg, "staging killed by signal %d", WTERMSIG(status));
			s->failed[i] = 1;
			(*nfailed)++;
		}
	}
}

/* The bytes to send, of the targets that upload: what each that started
 * said it sends (all of the archive until it says; what it sent, if it
 * failed), and all of the archive to each not yet looked at (from next
 * on). */
static void show_sent(struct rep_deploy *d, const struct stage_job *j, off_t size, size_t next,
    const int *started)
{
	struct rep_deploy_state *s = d->s;
	long long sent = 0, total = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (!s->t[i].ops->uploads)
			continue;
		sent += s->sent[i];
		if (started[i] && s->failed[i])
			total += s->sent[i];
		else if (started[i] && s->sent[s->n + i] > 0)
			total += s->sent[s->n + i];
		else if (started[i] || (i >= next && !s->failed[i]))
			total += (long long)size;
	}
	if (total > 0)
		d->cb->progress(d->arg, j->release, sent, total);
}

/* The next child of ours to end, as wait_any, showing the bytes sent
 * meanwhile. */
static pid_t wait_showing(struct rep_deploy *d, const struct stage_job *j, off_t size,
    size_t next, const int *started, int *status)
{
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	pid_t pid;

	for (;;) {
		show_sent(d, j, size, next, started);
		if ((pid = waitpid(-1, status, WNOHANG)) > 0)
			return pid;
		if (pid < 0 && errno != EINTR)
			rep_die_errno("wait");
		nanosleep(&tick, NULL);
	}
}

/* Whether the bytes sent are counted and shown: when asked for, and a
 * target uploads. */
static int counting(struct rep_deploy *d)
{
	struct rep_deploy_state *s = d->s;
	int any = 0;

	for (size_t i = 0; i < s->n; i++)
		any |= s->t[i].ops->uploads;
	if (!d->cb->progress || !any || d->dry_run)
		return 0;
	/* each target's bytes sent, then the bytes it sends in all */
	if (!s->sent) {
		void *m = mmap(NULL, 2 * s->n * sizeof *s->sent, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return 0;
		s->sent = m;
	}
	for (size_t i = 0; i < 2 * s->n; i++)
		s->sent[i] = 0;
	return 1;
}

/* Stages on every target that lacks the release, up to -j at once;
 * returns the number of targets that failed. */
static size_t stage_all(struct rep_deploy *d, const struct stage_job *j)
{
	struct rep_deploy_state *s = d->s;
	size_t next = 0, running = 0, nfailed = 0;
	struct rep_target *group[MAX_JOBS];
	int show = counting(d), *started = NULL;
	struct stat st;
	off_t size = show && stat(j->archive, &st) == 0 ? st.st_size : 0;

	if (show && !(started = calloc(s->n, sizeof *started)))
		rep_die("out of memory");
	/* drawn before the stagings are forked, so that they know to clear
	 * it before a message */
	if (show)
		show_sent(d, j, size, 0, started);

	for (;;) {
		size_t n = 0;
		while (running + n < (size_t)d->jobs && next < s->n) {
			struct rep_target *t = &s->t[next];
			if (t->ops->shares_feed && n == 0 && wait_for_group(d, next, running))
				break;
			next++;
			if (!needs_staging(d, t, j->archive, j->release, j->m, &nfailed))
				continue;
			if (started)
				started[t->index] = 1;
			if (t->ops->shares_feed) {
				group[n++] = t;
			} else {
				start_staging(s, j, &t, 1);
				running++;
			}
		}
		if (n)
			start_staging(s, j, group, n);
		running += n;
		if (running == 0 && s->nreaders == 0)
			break;
		int status;
		pid_t pid = show ? wait_showing(d, j, size, next, started, &status) : wait_any(&status);
		staged(d, pid, status, j, &running, &nfailed);
	}
	if (show)
		d->cb->progress(d->arg, NULL, 0, 0);
	free(started);
	return nfailed;
}

/* After a failed switch and the switches back: what is live where, for
 * the operator to act on (not silenced by -q). */
static void tell_mixed(struct rep_deploy *d, const char *what, const int *unknown)
{
	struct rep_deploy_state *s = d->s;
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		rep_die("out of memory");
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "%s%s on %s", i ? ", " : "", unknown[i] ? "unknown" :
		    *s->t[i].current ? s->t[i].current : "no release", s->t[i].arg);
	if (fclose(f) != 0)
		rep_die("out of memory");
	rep_error_at(what, "what is live now: %s", text);
	free(text);
}

static const char *shown(const char *release)
{
	return *release ? release : "no release";
}

/* Switches every target t[i] to to[i], logging each switch as event;
 * if one fails, the targets already switched go back to where they
 * were (logged as reverts). REP_DEPLOY_OK when all switched;
 * REP_DEPLOY_UNCHANGED when all are back; REP_DEPLOY_MIXED when some
 * could not go back (or may have moved), and then says what is where.
 * was[i] gets where each was, on[i] whether it ended on to[i], *known
 * whether that is known of every target (none stopped answering). */
static int switch_all(struct rep_deploy *d, const char *what, char *const *to, const char *event,
    char (*was)[REP_NAME_MAX + 1], int *on, int *known)
{
	struct rep_deploy_state *s = d->s;
	int *unknown = calloc(s->n, sizeof *unknown), rc = REP_DEPLOY_OK;
	size_t i, stuck = 0;

	if (!unknown)
		rep_die("out of memory");
	for (i = 0; i < s->n; i++) {
		struct rep_target *t = &s->t[i];
		snprintf(was[i], sizeof was[i], "%s", t->current);
		if (strcmp(t->current, to[i]) == 0) {
			step(d, d->dry_run, t, "%s is already live", shown(to[i]));
		} else if (d->dry_run) {
			if (t->current[0])
				step(d, 1, t, "would switch current from %s to %s", t->current, to[i]);
			else
				step(d, 1, t, "would point current to %s", to[i]);
			snprintf(t->current, sizeof t->current, "%s", to[i]);
		} else {
			char *line = rep_log_line(event, to[i], t->current);
			int r = rep_target_switch(t, to[i], line);
			free(line);
			if (r == REP_SWITCH_UNKNOWN) {
				rep_error_at(t->arg, "may be on %s or still on %s: it stopped answering during the switch",
				    shown(to[i]), shown(was[i]));
				unknown[i] = 1;
				stuck++;
			}
			if (r < 0)
				break;
			step(d, 0, t, "current is now %s", to[i]);
		}
	}
	if (i < s->n) {
		rc = REP_DEPLOY_UNCHANGED;
		for (size_t k = i; k-- > 0;) {
			struct rep_target *t = &s->t[k];
			if (strcmp(t->current, was[k]) == 0)
				continue;
			char *line = rep_log_line("revert", was[k], t->current);
			int r = rep_target_switch(t, was[k], line);
			free(line);
			if (r == 0) {
				rep_error_at(t->arg, "switched back to %s", shown(was[k]));
				continue;
			}
			unknown[k] = r == REP_SWITCH_UNKNOWN;
			rep_error_at(t->arg, "could not switch back to %s: %s %s",
			    shown(was[k]), unknown[k] ? "perhaps still on" : "still on", to[k]);
			stuck++;
		}
		if (stuck) {
			tell_mixed(d, what, unknown);
			outcome(d, what, "a switch failed, and %zu target%s could not be switched back",
			    stuck, stuck == 1 ? "" : "s");
			rc = REP_DEPLOY_MIXED;
		} else {
			outcome(d, what, "a switch failed; no target was left on it");
		}
	}
	*known = 1;
	for (i = 0; i < s->n; i++) {
		on[i] = !unknown[i] && strcmp(s->t[i].current, to[i]) == 0;
		*known &= !unknown[i];
	}
	free(unknown);
	return rc;
}

static int newest_first(const void *a, const void *b)
{
	return rep_release_cmp(*(char *const *)b, *(char *const *)a);
}

/* Old releases go, except the KEEP newest, the live one and those KEEP
 * successive rollbacks could return to; nothing that is not named like
 * a release is touched. */
static size_t prune(struct rep_deploy *d, struct rep_target *t)
{
	char **v = rep_xmalloc((t->releases.n + 1) * sizeof *v);
	char **gone = rep_xmalloc((t->releases.n + 1) * sizeof *gone);
	size_t n = 0, ngone = 0;

	for (size_t i = 0; i < t->releases.n; i++)
		if (t->releases.val[i])
			v[n++] = t->releases.v[i];
	qsort(v, n, sizeof *v, newest_first);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i], t->current) == 0 || (long)i < d->keep ||
		    rep_history_reaches(&d->s->hist[t->index], &t->releases, v[i], d->keep))
			continue;
		gone[ngone++] = v[i];
	}
	if (ngone && d->dry_run) {
		for (size_t i = 0; i < ngone; i++)
			step(d, 1, t, "would remove releases/%s", gone[i]);
	} else if (!d->dry_run && rep_target_prune(t, gone, ngone) == 0) {
		for (size_t i = 0; i < ngone; i++)
			step(d, 0, t, "removed releases/%s", gone[i]);
	} else {
		ngone = 0;
	}
	free(v);
	free(gone);
	return d->dry_run ? 0 : ngone;
}

/* --- the records ------------------------------------------------------------ */

/* Records on their way to the caller: each owns its name, targets and
 * checksum; release, event and why outlive it. */
struct recs {
	struct rep_deploy_rec *v;
	size_t n, cap;
};

static void rec_add(struct recs *r, const char *name, const char *release, char *targets,
    const char *checksum, const char *event, const char *why)
{
	if (r->n == r->cap)
		r->v = rep_xrealloc(r->v, (r->cap = r->cap ? 2 * r->cap : 32) * sizeof *r->v);
	r->v[r->n++] = (struct rep_deploy_rec){ rep_xstrdup(name), release, targets,
	    rep_xstrdup(checksum), event, why };
}

/* Hands the records over, which must not be cut short by a signal: the
 * caller counts what it printed, and a signal's undo action prints the
 * rest. A dry run has none. -1 if they could not be written. */
static int recs_send(struct rep_deploy *d, struct recs *r)
{
	int rc = 0;

	if (!d->dry_run && r->n) {
		rep_cleanup_hold();
		rc = d->cb->records(d->arg, r->v, r->n);
		rep_cleanup_deliver();
	}
	for (size_t i = 0; i < r->n; i++) {
		free((char *)r->v[i].name);
		free((char *)r->v[i].targets);
		free((char *)r->v[i].checksum);
	}
	free(r->v);
	memset(r, 0, sizeof *r);
	return rc;
}

/* The operands of the targets with !on[i] == !want, joined by commas in
 * command-line order; "" for none. */
static char *targets_where(const struct rep_deploy_state *s, const int *on, int want)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		rep_die("out of memory");
	for (size_t i = 0, k = 0; i < s->n; i++)
		if (!on[i] == !want)
			fprintf(f, "%s%s", k++ ? "," : "", s->t[i].arg);
	if (fclose(f) != 0)
		rep_die("out of memory");
	return text;
}

/* Content that left service on target i since release went live there:
 * the set maps "name TAB release TAB checksum" to the targets where the
 * same happened (an int per target), so that each is one record. */
static void left_on(struct rep_strset *set, const struct rep_deploy_state *s, size_t i,
    const char *name, const char *release, const char *checksum)
{
	char key[2 * REP_NAME_MAX + 80];
	long k;

	snprintf(key, sizeof key, "%s\t%s\t%s", name, release, checksum);
	if ((k = rep_strset_find(set, key)) < 0) {
		int *on = calloc(s->n, sizeof *on);
		if (!on)
			rep_die("out of memory");
		rep_strset_add(set, key, on);
		k = (long)set->n - 1;
	}
	((int *)set->val[k])[i] = 1;
}

/* The left records of the set, sorted by name (TAB sorts before any
 * byte of a name), then release; the set is emptied. The records'
 * releases point into rels, which the caller frees after sending. */
static void left_records(struct recs *r, const struct rep_deploy_state *s, struct rep_strset *set,
    struct rep_strset *rels)
{
	char **keys = rep_strset_sorted(set);

	for (size_t i = 0; i < set->n; i++) {
		/* left_on made each key name TAB release TAB checksum */
		char *key = rep_xstrdup(keys[i]), *rel = strchr(key, '\t'), *sum = rel ? strchr(rel + 1, '\t') : NULL;
		if (!sum)
			rep_die("left records: a key without its fields");
		*rel++ = 0;
		*sum++ = 0;
		rep_strset_add(rels, rel, NULL);
		rec_add(r, key, rels->v[rep_strset_find(rels, rel)],
		    targets_where(s, set->val[rep_strset_find(set, keys[i])], 1), sum, "left", NULL);
		free(key);
	}
	free(keys);
	rep_strset_free(set);
}

/* The records of pushing m as release: on the targets with on[i] set its
 * applications went live (then what left there), on the others they
 * failed, for why. */
static int push_records(struct rep_deploy *d, const struct rep_manifest *m, const char *release,
    const int *on, const char *why)
{
	struct rep_deploy_state *s = d->s;
	struct recs r = { 0 };
	struct rep_strset left = { 0 }, rels = { 0 };
	char *live = targets_where(s, on, 1), *failed = targets_where(s, on, 0);

	for (size_t i = 0; i < m->apps.n; i++) {
		const struct rep_manifest_app *a = m->apps.val[i];
		if (a->remove)
			continue;
		if (*live)
			rec_add(&r, a->app.name, release, rep_xstrdup(live), a->app.checksum, "live", NULL);
		if (*failed)
			rec_add(&r, a->app.name, release, rep_xstrdup(failed), a->app.checksum, "failed", why);
	}
	for (size_t i = 0; i < s->n; i++)
		for (size_t k = 0; on[i] && k < s->left[i].n; k++)
			left_on(&left, s, i, s->left[i].v[k], release, s->left[i].val[k]);
	left_records(&r, s, &left, &rels);
	free(live);
	free(failed);
	int rc = recs_send(d, &r);
	rep_strset_free(&rels);
	return rc;
}

/* The records of a push that changed no target: failed everywhere, the
 * outcome just told being the reason. */
static int push_failed(struct rep_deploy *d, const struct rep_manifest *m, const char *release)
{
	int *none = calloc(d->s->n, sizeof *none);

	if (!none)
		rep_die("out of memory");
	int rc = push_records(d, m, release, none, d->s->why);
	free(none);
	return rc;
}

static void plan_line(FILE *f, size_t n, const char *one, const char *many, const char *names)
{
	fprintf(f, "%zu %s", n, n == 1 ? one : many);
	if (n)
		fprintf(f, " (%s%s)", names, n > 8 ? ", ..." : "");
}

/* What the push makes of each target's live release, and the plan in
 * words: a dry run tells it for each target; a push, in its summary,
 * once for all when it is the same everywhere (the return value), else
 * for each target first. */
static const char *plan_all(struct rep_deploy *d, const char *release, const struct rep_manifest *m,
    size_t *nfailed)
{
	struct rep_deploy_state *s = d->s;
	const char *first = NULL, *same = NULL;
	int differ = 0, seen = 0, plans_differ = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct rep_target *t = &s->t[i];
		struct rep_plan p;
		char label[REP_NAME_MAX + 700], *text;
		size_t len;
		rep_strset_free(&s->left[i]);
		if (s->failed[i])
			continue;
		if (t->current[0] && !t->live_manifest) {
			/* composed on nothing, it would take every live
			 * application out of service */
			rep_error_at(t->arg, "releases/%s/MANIFEST: missing or unreadable: no release can be composed on it",
			    t->current);
			s->failed[i] = 1;
			(*nfailed)++;
			continue;
		}
		if (seen++ && (!first != !t->live_manifest || (first && strcmp(first, t->live_manifest) != 0)))
			differ = 1;
		first = t->live_manifest;
		free((char *)s->comp[i].text);
		snprintf(label, sizeof label, "%s: releases/%s", t->arg, t->current);
		rep_compose(t->live_manifest, label, m, d->replace, &s->comp[i], &p);
		s->comp[i].base = t->current;
		s->left[i] = p.left;    /* for the left records */
		memset(&p.left, 0, sizeof p.left);
		FILE *f = open_memstream(&text, &len);
		if (!f)
			rep_die("out of memory");
		plan_line(f, p.enter, "enters", "enter", p.enter_names);
		fputs(", ", f);
		plan_line(f, p.change, "changes", "change", p.change_names);
		fprintf(f, ", %zu %s, ", p.stay, p.stay == 1 ? "stays" : "stay");
		plan_line(f, p.leave, "leaves", "leave", p.leave_names);
		if (fclose(f) != 0)
			rep_die("out of memory");
		free(s->plan[i]);
		s->plan[i] = text;
		plans_differ |= same && strcmp(same, text) != 0;
		same = text;
		rep_plan_free(&p);
	}
	if (differ)
		outcome(d, release, "the targets' live sets differ; each keeps its own");
	for (size_t i = 0; i < s->n; i++)
		if (s->plan[i] && (d->dry_run || plans_differ))
			step(d, 1, &s->t[i], "%s: %s", release, s->plan[i]);
	return d->dry_run || plans_differ ? NULL : same;
}

/* --- hooks ------------------------------------------------------------------ */

/* An application a target runs hooks of: its content there, and the
 * REP_HOOK_ bits of the hooks that content has, -1 when not known here
 * (the far side then says whether it has one). */
struct hookapp {
	char sum[65];
	int bits;
};

static void hook_app(struct rep_strset *set, const char *name, const char *sum, int bits)
{
	struct hookapp *h = rep_xmalloc(sizeof *h);

	snprintf(h->sum, sizeof h->sum, "%s", sum);
	h->bits = bits;
	rep_strset_add(set, name, h);
}

/* What a target's switch from a live set (old) to another (new) runs:
 * stop of each application that changes or leaves, from the release it
 * leaves; start and check of each that enters or changes; configure
 * of those the archive m brings (NULL: a rollback, which configures
 * nothing). A target an earlier push left with hooks pending restarts
 * every application. */
/* The REP_HOOK_ bits of name's hooks in the live release (t->hooks). */
static int live_bits(const struct rep_target *t, const char *name)
{
	char key[REP_NAME_MAX + 16];
	int bits = 0;

	for (unsigned b = 0; b < 4; b++) {
		snprintf(key, sizeof key, "%s\t%s", name, rep_hook_phases[b]);
		if (rep_strset_find(&t->hooks, key) >= 0)
			bits |= 1 << b;
	}
	return bits;
}

static void hook_plan(struct hookplan *hp, const struct rep_target *t, const char *label, const char *old_text,
    const char *new_text, const struct rep_manifest *m)
{
	struct rep_manifest old = { .release = 1 }, new = { .release = 1 };
	char *a = old_text ? rep_xstrdup(old_text) : NULL, *b = new_text ? rep_xstrdup(new_text) : NULL;

	rep_strset_free(&hp->configure);
	rep_strset_free(&hp->stop);
	rep_strset_free(&hp->start);
	if (a)
		rep_manifest_parse(label, a, &old);
	if (b)
		rep_manifest_parse(label, b, &new);
	free(a);
	free(b);
	for (size_t i = 0; i < new.apps.n; i++) {
		const struct rep_manifest_app *x = new.apps.val[i];
		long k = rep_strset_find(&old.apps, x->app.name);
		const struct rep_manifest_app *y = k < 0 ? NULL : old.apps.val[k];
		int changed = !y || y->remove || strcmp(y->app.checksum, x->app.checksum) != 0;
		if (x->remove || (!changed && !hp->pending[0]))
			continue;
		/* the archive's content: its hooks are known */
		long w = m ? rep_strset_find(&m->apps, x->app.name) : -1;
		const struct rep_manifest_app *z = w < 0 ? NULL : m->apps.val[w];
		int bits = z && !z->remove && strcmp(z->app.checksum, x->app.checksum) == 0 ? (int)z->hooks :
		    !changed ? live_bits(t, x->app.name) : -1;
		if (changed && bits > 0 && (bits & REP_HOOK_CONFIGURE))
			hook_app(&hp->configure, x->app.name, x->app.checksum, bits);
		hook_app(&hp->start, x->app.name, x->app.checksum, bits);
	}
	for (size_t i = 0; i < old.apps.n; i++) {
		const struct rep_manifest_app *y = old.apps.val[i];
		long k = rep_strset_find(&new.apps, y->app.name);
		const struct rep_manifest_app *x = k < 0 ? NULL : new.apps.val[k];
		int changed = !x || x->remove || strcmp(y->app.checksum, x->app.checksum) != 0;
		if (!y->remove && (changed || hp->pending[0]))
			hook_app(&hp->stop, y->app.name, y->app.checksum, live_bits(t, y->app.name));
	}
	rep_manifest_free(&old);
	rep_manifest_free(&new);
}

/* Whether set has an application whose hook of one of bits may run. */
static int may_run(const struct rep_strset *set, int bits)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct hookapp *h = set->val[i];
		if (h->bits < 0 || (h->bits & bits))
			return 1;
	}
	return 0;
}

/* Whether a target runs hooks after its switch. */
static int hooks_after(const struct hookplan *hp)
{
	return may_run(&hp->stop, REP_HOOK_STOP) || may_run(&hp->start, REP_HOOK_START | REP_HOOK_CHECK);
}

/* The names of set whose hook of bit may run, for a plan: "a, b" */
static void plan_names(FILE *f, const struct rep_strset *set, int bit, int *any, const char *phase,
    const char *tail)
{
	char **v = rep_strset_sorted(set);
	int n = 0;

	for (size_t i = 0; i < set->n; i++) {
		const struct hookapp *h = set->val[rep_strset_find(set, v[i])];
		if (h->bits >= 0 && !(h->bits & bit))
			continue;
		if (n++)
			fprintf(f, ", %s", v[i]);
		else
			fprintf(f, "%s%s of %s", *any ? "; " : "", phase, v[i]);
	}
	if (n && tail)
		fputs(tail, f);
	*any |= n > 0;
	free(v);
}

/* A dry run's list of the hooks a target would run. */
static void plan_hooks(struct rep_deploy *d, struct rep_target *t, const struct hookplan *hp,
    const char *from)
{
	char *text, tail[REP_NAME_MAX + 64];
	size_t len;
	int any = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		rep_die("out of memory");
	snprintf(tail, sizeof tail, " (from %s)", from);
	plan_names(f, &hp->configure, REP_HOOK_CONFIGURE, &any, "configure", NULL);
	plan_names(f, &hp->stop, REP_HOOK_STOP, &any, "stop", tail);
	plan_names(f, &hp->start, REP_HOOK_START, &any, "start", NULL);
	plan_names(f, &hp->start, REP_HOOK_CHECK, &any, "check", NULL);
	if (fclose(f) != 0)
		rep_die("out of memory");
	if (any)
		step(d, 1, t, "would run %s", text);
	free(text);
}

/* Runs the hook of bit for application name (content h) in release on
 * t: 0 when it passed or there is none, 1 when it failed, -1 when it
 * could not be run; why says which, for the failed records. */
static int run_hook(struct rep_deploy *d, struct rep_target *t, int bit, const char *name,
    const struct hookapp *h, const char *release, const char *previous, char *why, size_t size)
{
	const char *phase = rep_hook_phases[__builtin_ctz((unsigned)bit)];
	struct rep_hook hk = { phase, name, release, previous, h->sum, (int)d->hook_timeout };
	struct rep_hook_result res;

	if (h->bits >= 0 && !(h->bits & bit))
		return 0;
	if (rep_target_hook(t, &hk, &res) < 0) {
		snprintf(why, size, "%s: %s could not be run on %s", name, phase, t->arg);
		return -1;
	}
	int ok = res.ran && res.status == 0;
	if (res.ran && d->cb->hook)
		d->cb->hook(d->arg, t->arg, name, phase, res.output, res.cut, ok);
	if (res.ran && !ok) {
		char how[128];
		if (res.status < 0)
			snprintf(how, sizeof how, "timed out after %ld s (its processes killed)", d->hook_timeout);
		else if (res.tries > 1)
			snprintf(how, sizeof how, "failed (exit status %d after %d tries)", res.status, res.tries);
		else
			snprintf(how, sizeof how, "failed (exit status %d)", res.status);
		rep_error_at(t->arg, "%s: %s %s", name, phase, how);
		snprintf(why, size, "%s: %s %s on %s", name, phase, how, t->arg);
	}
	rep_hook_result_free(&res);
	return ok || !res.ran ? 0 : 1;
}

/* Runs the hook of bit of each application of set (in name order) on t,
 * in release; stops at the first that fails unless keep_going. */
static int run_hooks(struct rep_deploy *d, struct rep_target *t, const struct rep_strset *set, int bit,
    const char *release, const char *previous, int keep_going, char *why, size_t size)
{
	char **v = rep_strset_sorted(set), later[512] = "";
	int rc = 0;

	/* why: the first failure's */
	for (size_t i = 0; i < set->n && (keep_going || rc == 0); i++) {
		int r = run_hook(d, t, bit, v[i], set->val[rep_strset_find(set, v[i])], release, previous,
		    rc ? later : why, rc ? sizeof later : size);
		if (r != 0 && rc == 0)
			rc = r;
	}
	free(v);
	return rc;
}

/* Where each target's run of hooks ends: 0, or its failure and why. */
struct hook_slot {
	int rc;
	char why[512];
};

enum hook_job { CONFIGURE, AFTER_SWITCH, REVERT };

/* The hooks of one job on target i, in a process of its own. */
static int hook_job(struct rep_deploy *d, size_t i, enum hook_job job, const char *release,
    const char *was, char *why, size_t size)
{
	struct rep_deploy_state *s = d->s;
	struct rep_target *t = &s->t[i];
	struct hookplan *hp = &s->hp[i];
	const char *prev = *was ? was : "-";
	char later[512] = "";
	int rc;

	switch (job) {
	case CONFIGURE:
		rc = run_hooks(d, t, &hp->configure, REP_HOOK_CONFIGURE, release, prev, 0, why, size);
		/* a release is shared and never changes: a hook that wrote
		 * into it fails the staging, as it would every later check;
		 * checked after a failed configure too, which may have */
		if (rc >= 0 && rep_target_verify(t, release) < 0) {
			rep_error_at(t->arg, "releases/%s is not what its MANIFEST lists after configure"
			    " (a hook wrote into it?)", release);
			if (!rc)
				snprintf(why, size, "releases/%s changed by a configure hook on %s", release, t->arg);
			rc = 1;
			/* not kept: the next push stages it anew */
			char *gone = (char *)release;
			if (strcmp(t->current, release) != 0 && rep_target_prune(t, &gone, 1) == 0)
				rep_error_at(t->arg, "removed releases/%s", release);
		}
		return rc;
	case AFTER_SWITCH:
		/* a stop that fails is the old version's: told, not fatal */
		run_hooks(d, t, &hp->stop, REP_HOOK_STOP, prev, prev, 1, later, sizeof later);
		if ((rc = run_hooks(d, t, &hp->start, REP_HOOK_START, release, prev, 0, why, size)) ||
		    (rc = run_hooks(d, t, &hp->start, REP_HOOK_CHECK, release, prev, 0, why, size)))
			return rc;
		/* what started, and what it runs, must not have written into
		 * the release either: a rollback to it would be refused */
		if (may_run(&hp->start, REP_HOOK_START | REP_HOOK_CHECK) && rep_target_verify(t, release) < 0) {
			rep_error_at(t->arg, "releases/%s is not what its MANIFEST lists after start and check"
			    " (a hook, or what it started, wrote into it?)", release);
			snprintf(why, size, "releases/%s changed by a hook, or what it started, on %s", release, t->arg);
			return 1;
		}
		return 0;
	case REVERT:
		/* back on was: the new versions stopped, the old ones up again */
		run_hooks(d, t, &hp->start, REP_HOOK_STOP, release, release, 1, later, sizeof later);
		rc = run_hooks(d, t, &hp->stop, REP_HOOK_START, prev, release, 1, why, size);
		if (run_hooks(d, t, &hp->stop, REP_HOOK_CHECK, prev, release, 1, rc ? later : why,
		    rc ? sizeof later : size) && !rc)
			rc = 1;
		return rc;
	}
	return 0;
}

/* Runs job on each target with run[i] set, each in a process of its
 * own, up to -j at once; was[i]: where target i was before the switch.
 * The number that failed, each with its reason in slots[i]; run[i]
 * cleared where it was not run after all. */
static size_t hook_all(struct rep_deploy *d, enum hook_job job, char *const *to,
    char (*was)[REP_NAME_MAX + 1], int *run, struct hook_slot *slots)
{
	struct rep_deploy_state *s = d->s;
	size_t next = 0, running = 0, nfailed = 0;
	struct hook_slot *shared = mmap(NULL, s->n * sizeof *shared, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (shared == MAP_FAILED)
		rep_die_errno("mmap");
	memset(shared, 0, s->n * sizeof *shared);
	for (;;) {
		while (running < (size_t)d->jobs && next < s->n) {
			size_t i = next++;
			if (!run[i])
				continue;
			/* once one failed, the push is lost: the targets not
			 * started on go back (or stay) as they are; run[i]
			 * says which ran */
			if (nfailed && job != REVERT) {
				run[i] = 0;
				continue;
			}
			pid_t pid = rep_child_fork(SIGKILL, REP_CHILD_GROUP);
			if (pid == 0) {
				shared[i].rc = hook_job(d, i, job, to[i], was[i], shared[i].why, sizeof shared[i].why);
				_exit(shared[i].rc ? 1 : 0);
			}
			s->staging[i] = pid;
			running++;
		}
		if (running == 0)
			break;
		int status;
		pid_t pid = wait_any(&status);
		for (size_t i = 0; i < s->n; i++) {
			if (s->staging[i] != pid)
				continue;
			s->staging[i] = 0;
			running--;
			slots[i] = shared[i];
			if (!WIFEXITED(status)) {
				rep_error_at(s->t[i].arg, "running hooks killed by signal %d", WTERMSIG(status));
				slots[i].rc = -1;
				snprintf(slots[i].why, sizeof slots[i].why, "running hooks on %s was killed",
				    s->t[i].arg);
			}
			nfailed += slots[i].rc != 0;
		}
	}
	munmap(shared, s->n * sizeof *shared);
	return nfailed;
}

/* The first failure's reason, in the operands' order. */
static const char *first_why(const struct rep_deploy_state *s, const struct hook_slot *slots)
{
	for (size_t i = 0; i < s->n; i++)
		if (slots[i].rc)
			return slots[i].why;
	return "";
}

/* Marks the hooks pending on the targets with on[i] (the mark: to[i],
 * the release switched to), or clears the mark there (to NULL), which
 * also removes the work directories no release there lists. */
static void mark_all(struct rep_deploy *d, char *const *to, const int *on)
{
	struct rep_deploy_state *s = d->s;
	char was[REP_NAME_MAX + 1];

	for (size_t i = 0; i < s->n; i++) {
		if (!on[i])
			continue;
		if (rep_target_pending(&s->t[i], to ? (*to[i] ? to[i] : "-") : "", was, sizeof was) == 0 && !to)
			s->hp[i].pending[0] = 0;
	}
}

/* After every target switched from was[i] to to[i]: the hooks of what
 * changed, on all at once. If a start or check fails anywhere, every
 * target goes back to was[i] and the versions there are started again.
 * REP_DEPLOY_OK; REP_DEPLOY_UNCHANGED when all went back and came up;
 * REP_DEPLOY_MIXED when not (said what is where). why: the failure. */
static int after_switch(struct rep_deploy *d, const char *what, char *const *to,
    char (*was)[REP_NAME_MAX + 1], char *why, size_t size)
{
	struct rep_deploy_state *s = d->s;
	struct hook_slot *slots = calloc(s->n, sizeof *slots);
	int *run = calloc(s->n, sizeof *run), *unknown = calloc(s->n, sizeof *unknown), rc = REP_DEPLOY_OK;
	size_t stuck = 0;

	if (!slots || !run || !unknown)
		rep_die("out of memory");
	for (size_t i = 0; i < s->n; i++)
		run[i] = hooks_after(&s->hp[i]);
	if (!hook_all(d, AFTER_SWITCH, to, was, run, slots))
		goto out;
	char first[512];
	size_t moved = 0;
	int *ran = calloc(s->n, sizeof *ran), *back = calloc(s->n, sizeof *back);
	if (!ran || !back)
		rep_die("out of memory");
	memcpy(ran, run, s->n * sizeof *run);
	snprintf(first, sizeof first, "%s", first_why(s, slots));
	/* every target back where it was: those that ran no hook too, as
	 * the release is the fleet's or no one's */
	for (size_t i = 0; i < s->n; i++) {
		struct rep_target *t = &s->t[i];
		run[i] = 0;
		if (strcmp(t->current, was[i]) == 0)
			continue;
		moved++;
		char *line = rep_log_line("revert", was[i], t->current);
		int r = rep_target_switch(t, was[i], line);
		free(line);
		if (r == 0) {
			rep_error_at(t->arg, "switched back to %s", shown(was[i]));
			/* its old versions up again, where its hooks ran */
			back[i] = 1;
			run[i] = ran[i];
			continue;
		}
		unknown[i] = r == REP_SWITCH_UNKNOWN;
		rep_error_at(t->arg, "could not switch back to %s: %s %s", shown(was[i]),
		    unknown[i] ? "perhaps still on" : "still on", to[i]);
		stuck++;
	}
	size_t down = hook_all(d, REVERT, to, was, run, slots);
	for (size_t i = 0; i < s->n; i++)
		if (run[i] && slots[i].rc)
			rep_error_at(s->t[i].arg, "the versions of %s did not all come back up", shown(was[i]));
	/* why: the reason of the failed records, as the outcome says it */
	if (stuck) {
		tell_mixed(d, what, unknown);
		snprintf(why, size, "%.400s; %zu target%s could not be switched back", first, stuck, stuck == 1 ? "" : "s");
		rc = REP_DEPLOY_MIXED;
	} else if (down) {
		snprintf(why, size, "%.400s; switched back, but not everything came back up", first);
		rc = REP_DEPLOY_MIXED;
	} else if (!moved) {
		/* a push of what was live already, restarting after a killed
		 * one: nowhere to go back to; its mark stays */
		snprintf(why, size, "%.400s; it was live already: its hooks stay pending", first);
		rc = REP_DEPLOY_UNCHANGED;
	} else {
		snprintf(why, size, "%.400s; every target switched back", first);
		rc = REP_DEPLOY_UNCHANGED;
	}
	outcome(d, what, "%s", why);
	/* what came back is as it was: nothing pending there */
	for (size_t i = 0; i < s->n; i++)
		back[i] = back[i] && !(run[i] && slots[i].rc);
	mark_all(d, NULL, back);
	free(ran);
	free(back);
out:
	free(slots);
	free(run);
	free(unknown);
	return rc;
}

/* A push that only takes applications out of service is logged so. */
static const char *push_event(const struct rep_manifest *m)
{
	int adds = 0, removes = 0;

	for (size_t i = 0; i < m->apps.n; i++) {
		const struct rep_manifest_app *a = m->apps.val[i];
		adds += !a->remove;
		removes += a->remove;
	}
	return !adds && removes ? "retire" : "push";
}

/* t->hooks once text, composed of the archive m on the live release,
 * is live: the archive's applications' hooks, the others' as they were. */
static void live_hooks(struct rep_target *t, const char *text, const struct rep_manifest *m)
{
	struct rep_manifest now = { .release = 1 };
	struct rep_strset hooks = { 0 };
	char *copy = rep_xstrdup(text), key[REP_NAME_MAX + 16];

	rep_manifest_parse(t->arg, copy, &now);
	free(copy);
	for (size_t i = 0; i < now.apps.n; i++) {
		const struct rep_manifest_app *x = now.apps.val[i];
		long w = rep_strset_find(&m->apps, x->app.name);
		const struct rep_manifest_app *z = w < 0 ? NULL : m->apps.val[w];
		int bits = z && !z->remove ? (int)z->hooks : live_bits(t, x->app.name);
		for (unsigned b = 0; !x->remove && b < 4; b++)
			if (bits & (1 << b)) {
				snprintf(key, sizeof key, "%s\t%s", x->app.name, rep_hook_phases[b]);
				rep_strset_add(&hooks, key, NULL);
			}
	}
	rep_manifest_free(&now);
	rep_strset_free(&t->hooks);
	t->hooks = hooks;
}

/* An archive with a hook that is not executable is refused before
 * anything: it would fail on every target at once. */
static int hooks_executable(struct rep_deploy *d, const char *release, const struct rep_manifest *m)
{
	for (size_t i = 0; !d->no_hooks && i < m->apps.n; i++) {
		const struct rep_manifest_app *a = m->apps.val[i];
		for (unsigned b = 0; b < 4; b++)
			if (a->hooks_noexec & (1u << b)) {
				outcome(d, release, "%s: .rep/%s: not executable (a hook must be); nothing done",
				    a->app.name, rep_hook_phases[b]);
				return 0;
			}
	}
	return 1;
}

/* The hooks each target runs for the push of m (its composed release
 * in s->comp); a dry run lists them. */
static void plan_push_hooks(struct rep_deploy *d, const struct rep_manifest *m)
{
	struct rep_deploy_state *s = d->s;

	for (size_t i = 0; !d->no_hooks && i < s->n; i++) {
		struct rep_target *t = &s->t[i];
		char label[REP_NAME_MAX + 700];
		if (s->failed[i])
			continue;
		snprintf(label, sizeof label, "%s: releases/%s", t->arg, t->current);
		hook_plan(&s->hp[i], t, label, t->live_manifest, s->comp[i].text, m);
		if (d->dry_run)
			plan_hooks(d, t, &s->hp[i], *t->current ? t->current : "no release");
	}
}

/* configure on every target that stages an application with one; 0, or
 * the number of targets where it failed (the outcome told). */
static size_t configure_all(struct rep_deploy *d, const char *release, char **to,
    char (*was)[REP_NAME_MAX + 1])
{
	struct rep_deploy_state *s = d->s;
	struct hook_slot *slots = calloc(s->n, sizeof *slots);
	int *run = calloc(s->n, sizeof *run), any = 0;
	size_t nfailed = 0;

	if (!slots || !run)
		rep_die("out of memory");
	for (size_t i = 0; !d->no_hooks && !d->dry_run && i < s->n; i++)
		any |= run[i] = s->hp[i].configure.n > 0;
	if (any && (nfailed = hook_all(d, CONFIGURE, to, was, run, slots)))
		outcome(d, release, "%s; nothing switched", first_why(s, slots));
	free(slots);
	free(run);
	return nfailed;
}

int rep_deploy_push(struct rep_deploy *d, const char *archive, const char *release,
    const struct rep_manifest *m)
{
	struct rep_deploy_state *s = d->s;
	struct stage_job j = { archive, release, m };
	size_t nfailed = 0;
	if (!hooks_executable(d, release, m)) {
		push_failed(d, m, release);
		return REP_DEPLOY_UNCHANGED;
	}
	const char *plan = plan_all(d, release, m, &nfailed);
	if (nfailed) {
		outcome(d, release, "not possible on %zu of %zu targets; nothing switched", nfailed, s->n);
		push_failed(d, m, release);
		return REP_DEPLOY_UNCHANGED;
	}
	plan_push_hooks(d, m);
	nfailed = stage_all(d, &j);
	if (nfailed) {
		outcome(d, release, "staging failed on %zu of %zu targets; nothing switched", nfailed, s->n);
		push_failed(d, m, release);
		return REP_DEPLOY_UNCHANGED;
	}
	char **to = rep_xmalloc(s->n * sizeof *to);
	char (*was)[REP_NAME_MAX + 1] = rep_xmalloc(s->n * sizeof *was);
	int *on = calloc(s->n, sizeof *on), *hooked = calloc(s->n, sizeof *hooked), known, rc;
	int *marked = calloc(s->n, sizeof *marked);
	const char *event = push_event(m);
	if (!on || !hooked || !marked)
		rep_die("out of memory");
	for (size_t i = 0; i < s->n; i++) {
		to[i] = (char *)release;
		snprintf(was[i], sizeof was[i], "%s", s->t[i].current);
		hooked[i] = !d->no_hooks && !d->dry_run && hooks_after(&s->hp[i]);
	}
	if (configure_all(d, release, to, was)) {
		push_failed(d, m, release);
		rc = REP_DEPLOY_UNCHANGED;
		goto out;
	}
	/* a signal now would leave the fleet half switched, or switched and
	 * not reported, or its applications half started: it waits until
	 * the records are out. A SIGKILL leaves the mark. */
	rep_cleanup_hold();
	/* a mark already there already means all is restarted */
	for (size_t i = 0; i < s->n; i++)
		marked[i] = hooked[i] && !s->hp[i].pending[0];
	mark_all(d, to, marked);
	rc = switch_all(d, release, to, event, was, on, &known);
	if (rc == REP_DEPLOY_UNCHANGED)
		mark_all(d, NULL, marked);
	char why[512] = "";
	if (rc == REP_DEPLOY_OK && !d->dry_run)
		rc = after_switch(d, release, to, was, why, sizeof why);
	if (rc == REP_DEPLOY_OK) {
		/* if they cannot be written, the release is live all the
		 * same, which the caller must say */
		if (push_records(d, m, release, on, NULL) < 0)
			rc = REP_DEPLOY_MIXED;
		/* done: the marks cleared before a signal has its way, and
		 * the work directories of what no release holds removed,
		 * where hooks may have made some */
		for (size_t i = 0; i < s->n; i++)
			hooked[i] = !d->no_hooks && !d->dry_run &&
			    (hooked[i] || s->hp[i].pending[0] || s->t[i].hooks.n || s->hp[i].configure.n);
		mark_all(d, NULL, hooked);
	} else if (*why) {
		/* its hooks failed: failed everywhere, also where it could not
		 * be taken back, as what is there did not all come up */
		memset(on, 0, s->n * sizeof *on);
		push_records(d, m, release, on, why);
	} else if (rc == REP_DEPLOY_UNCHANGED) {
		push_failed(d, m, release);
	} else {
		/* what is true where it is known; failed everywhere else */
		if (!known)
			memset(on, 0, s->n * sizeof *on);
		push_records(d, m, release, on, "switch-back failed: the fleet is mixed");
	}
	rep_cleanup_deliver();
	if (rc == REP_DEPLOY_OK) {
		for (size_t i = 0; i < s->n; i++) {
			struct rep_target *t = &s->t[i];
			if (strcmp(was[i], release) != 0)
				rep_history_apply(&s->hist[i], event, release, was[i]);
			live_hooks(t, s->comp[i].text, m);
			free(t->live_manifest);
			t->live_manifest = rep_xstrdup(s->comp[i].text);
		}
		/* the work directories of the releases pruned go too */
		for (size_t i = 0; i < s->n; i++)
			hooked[i] = prune(d, &s->t[i]) && hooked[i];
		mark_all(d, NULL, hooked);
		outcome(d, release, "live on %zu target%s%s%s", s->n, s->n == 1 ? "" : "s",
		    plan ? ": " : "", plan ? plan : "");
	}
out:
	free(on);
	free(hooked);
	free(marked);
	free(to);
	free(was);
	return rc;
}

/* Where each target goes back to (to[i]), or 0 when one cannot (each
 * reason told). Targets that go back to different releases are told,
 * not refused: their histories differ. */
static int rollback_targets(struct rep_deploy *d, char **to)
{
	struct rep_deploy_state *s = d->s;
	size_t nfailed = 0;
	int differ = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct rep_target *t = &s->t[i];
		const char *r = t->current[0] ? rep_history_back(&s->hist[i], &t->releases, NULL) : NULL;
		to[i] = r ? rep_xstrdup(r) : NULL;
		if (!t->current[0]) {
			rep_error_at(t->arg, "no release is live");
		} else if (!r) {
			rep_error_at(t->arg, "no release before %s", t->current);
		} else {
			differ |= i > 0 && to[0] && strcmp(to[0], r) != 0;
			continue;
		}
		s->failed[i] = 1;
		nfailed++;
	}
	if (nfailed) {
		outcome(d, "rollback", "not possible on %zu of %zu targets; nothing switched", nfailed, s->n);
		return 0;
	}
	if (differ)
		outcome(d, "rollback", "the targets go back to different releases, as their logs say");
	return 1;
}

/* The records of a rollback, on the targets with on[i] set (all, unless
 * a switch-back failed): each application of the releases gone back to,
 * once for the targets where the same content of it is live again (one
 * release name may hold other applications, or other content, on other
 * targets: a release composes on what was live on each); then each
 * application that was live there and is not in the release gone back
 * to, once for the targets where the same content left. */
struct rolled {
	int *on;                           /* the targets */
	const char *release;
	const struct rep_manifest_app *a;  /* its row on the first of them */
};

static int rolled_back(struct rep_deploy *d, char **to, char **text, const int *on)
{
	struct rep_deploy_state *s = d->s;
	struct rep_manifest *m = calloc(s->n, sizeof *m);
	struct rep_strset seen = { 0 };   /* name TAB release TAB checksum -> struct rolled */
	struct rep_strset left = { 0 }, rels = { 0 };
	struct recs r = { 0 };

	if (!m)
		rep_die("out of memory");
	for (size_t i = 0; i < s->n; i++) {
		char label[REP_NAME_MAX + 700], *copy;
		if (!on[i])
			continue;
		copy = rep_xstrdup(text[i]);
		m[i].release = 1;
		snprintf(label, sizeof label, "%s: releases/%s", s->t[i].arg, to[i]);
		rep_manifest_parse(label, copy, &m[i]);
		free(copy);
		for (size_t k = 0; k < m[i].apps.n; k++) {
			const struct rep_manifest_app *a = m[i].apps.val[k];
			char key[REP_NAME_MAX * 2 + 80];
			if (a->remove)
				continue;
			snprintf(key, sizeof key, "%s\t%s\t%s", a->app.name, to[i], a->app.checksum);
			long w = rep_strset_find(&seen, key);
			struct rolled *x = w >= 0 ? seen.val[w] : NULL;
			if (!x) {
				x = rep_xmalloc(sizeof *x);
				*x = (struct rolled){ calloc(s->n, sizeof *x->on), to[i], a };
				if (!x->on)
					rep_die("out of memory");
				rep_strset_add(&seen, key, x);
			}
			x->on[i] = 1;
		}
		/* what was live there (the MANIFEST read at open) and is not
		 * in the release gone back to */
		if (s->t[i].live_manifest) {
			struct rep_manifest was = { .release = 1 };
			copy = rep_xstrdup(s->t[i].live_manifest);
			snprintf(label, sizeof label, "%s: releases/%s", s->t[i].arg, s->t[i].current);
			rep_manifest_parse(label, copy, &was);
			free(copy);
			for (size_t k = 0; k < was.apps.n; k++) {
				const struct rep_manifest_app *a = was.apps.val[k];
				long w = rep_strset_find(&m[i].apps, a->app.name);
				if (!a->remove && (w < 0 || ((struct rep_manifest_app *)m[i].apps.val[w])->remove))
					left_on(&left, s, i, a->app.name, to[i], a->app.checksum);
			}
			rep_manifest_free(&was);
		}
	}
	for (size_t w = 0; w < seen.n; w++) {
		struct rolled *x = seen.val[w];
		rec_add(&r, x->a->app.name, x->release, targets_where(s, x->on, 1), x->a->app.checksum,
		    "live", NULL);
		free(x->on);
	}
	left_records(&r, s, &left, &rels);
	int rc = recs_send(d, &r) < 0 ? REP_DEPLOY_MIXED : REP_DEPLOY_OK;
	rep_strset_free(&rels);
	rep_strset_free(&seen);
	for (size_t i = 0; i < s->n; i++)
		rep_manifest_free(&m[i]);
	free(m);
	return rc;
}

/* Every target goes back to where its history says, or none does. */
int rep_deploy_rollback(struct rep_deploy *d)
{
	struct rep_deploy_state *s = d->s;
	char **to = calloc(s->n, sizeof *to), **text = calloc(s->n, sizeof *text);
	char (*was)[REP_NAME_MAX + 1] = rep_xmalloc(s->n * sizeof *was);
	int rc = REP_DEPLOY_UNCHANGED;
	size_t nfailed = 0;

	if (!to || !text)
		rep_die("out of memory");
	if (!rollback_targets(d, to))
		goto out;
	/* a release goes live again only as it was checked when staged:
	 * whoever could write it since could have changed it. A dry run
	 * holds no lock, under which alone a far side checks anything */
	for (size_t i = 0; i < s->n && !d->dry_run; i++) {
		if (!(text[i] = rep_target_manifest(&s->t[i], to[i]))) {
			nfailed++;
		} else if (rep_target_verify(&s->t[i], to[i]) < 0) {
			rep_error_at(s->t[i].arg, "releases/%s is not what its MANIFEST lists", to[i]);
			nfailed++;
		}
	}
	if (nfailed) {
		outcome(d, "rollback", "not possible on %zu of %zu targets; nothing switched", nfailed, s->n);
		goto out;
	}
	int *on = calloc(s->n, sizeof *on), *hooked = calloc(s->n, sizeof *hooked), known;
	if (!on || !hooked)
		rep_die("out of memory");
	/* what changes runs its stop, start and check, as in a push; the
	 * release was configured when it was staged */
	for (size_t i = 0; i < s->n && !d->no_hooks && !d->dry_run; i++) {
		char label[REP_NAME_MAX + 700];
		snprintf(label, sizeof label, "%s: releases/%s", s->t[i].arg, to[i]);
		hook_plan(&s->hp[i], &s->t[i], label, s->t[i].live_manifest, text[i], NULL);
		/* a mark already there already means all is restarted */
		hooked[i] = hooks_after(&s->hp[i]) && !s->hp[i].pending[0];
	}
	rep_cleanup_hold();
	mark_all(d, to, hooked);
	rc = switch_all(d, "rollback", to, "rollback", was, on, &known);
	if (rc == REP_DEPLOY_UNCHANGED)
		mark_all(d, NULL, hooked);
	char why[512];
	if (rc == REP_DEPLOY_OK && !d->dry_run && (rc = after_switch(d, "rollback", to, was, why, sizeof why)))
		for (size_t i = 0; i < s->n; i++)
			on[i] = strcmp(s->t[i].current, to[i]) == 0;
	if (rc == REP_DEPLOY_OK && !d->dry_run) {
		rc = rolled_back(d, to, text, on);
		for (size_t i = 0; i < s->n; i++)
			hooked[i] = !d->no_hooks && (hooked[i] || s->hp[i].pending[0] || s->t[i].hooks.n);
		mark_all(d, NULL, hooked);
	} else if (rc == REP_DEPLOY_MIXED && known) {
		/* what is true of the targets that went back and stayed;
		 * one that went back and came again changed nothing */
		rolled_back(d, to, text, on);
	}
	rep_cleanup_deliver();
	free(on);
	free(hooked);
	if (rc == REP_DEPLOY_OK) {
		for (size_t i = 0; i < s->n; i++) {
			rep_history_apply(&s->hist[i], "rollback", to[i], was[i]);
			free(s->t[i].live_manifest);
			s->t[i].live_manifest = text[i];
			text[i] = NULL;
		}
		int same = 1;
		for (size_t i = 1; i < s->n; i++)
			same &= strcmp(to[0], to[i]) == 0;
		if (same)
			outcome(d, to[0], "live again on %zu target%s", s->n, s->n == 1 ? "" : "s");
		else
			outcome(d, "rollback", "done on %zu targets", s->n);
	}
out:
	for (size_t i = 0; i < s->n; i++) {
		free(to[i]);
		free(text[i]);
	}
	free(to);
	free(text);
	free(was);
	return rc;
}

/* --- rep-push --status ------------------------------------------------------ */

static int by_app_name(const void *a, const void *b)
{
	const struct rep_manifest_app *x = *(const struct rep_manifest_app *const *)a;
	const struct rep_manifest_app *y = *(const struct rep_manifest_app *const *)b;
	return strcmp(x->app.name, y->app.name);
}

/* In the child reading target t: its records, "name TAB release TAB
 * checksum" lines sorted by name and then a line ".", to fd; exits 0, or
 * 1 with the reason told. The release of an application is the push
 * whose store entry its link leads into; one of the old format, or
 * linked otherwise, is the live release's own. */
static _Noreturn void status_here(struct rep_target *t, int fd)
{
	struct rep_manifest m = { .release = 1 };
	char label[REP_NAME_MAX + 32], from[REP_NAME_MAX + 1];
	FILE *out = fdopen(fd, "w");

	rep_msg_context(t->arg);
	if (!out)
		rep_die_errno("reading it");
	if (rep_target_live(t) < 0)
		_exit(1);
	if (t->current[0]) {
		snprintf(label, sizeof label, "releases/%s/MANIFEST", t->current);
		rep_manifest_parse(label, t->live_manifest, &m);
	}
	const struct rep_manifest_app **v = rep_xmalloc((m.apps.n + 1) * sizeof *v);
	size_t n = 0;
	for (size_t i = 0; i < m.apps.n; i++)
		if (!((const struct rep_manifest_app *)m.apps.val[i])->remove)
			v[n++] = m.apps.val[i];
	qsort(v, n, sizeof *v, by_app_name);
	for (size_t i = 0; i < n; i++) {
		const char *name = v[i]->app.name, *link;
		long k = rep_strset_find(&t->links, name);
		link = k < 0 ? NULL : t->links.val[k];
		fprintf(out, "%s\t%s\t%s\n", name, link && rep_store_link(link, name, from) ? from : t->current,
		    v[i]->app.checksum);
	}
	fputs(".\n", out);
	free(v);
	rep_manifest_free(&m);
	_exit(fclose(out) == 0 ? 0 : 1);
}

struct status_job {
	pid_t pid;
	int fd;                /* the read end; -1 once at its end */
	char *text;
	size_t len, cap;
	int done, ok;
};

/* A finished target's records to the callback: nothing live gives one
 * record with name NULL. A child that did not end with "." (killed,
 * its output cut) failed. */
static int status_out(struct rep_target *t, struct status_job *j, rep_status_fn fn, void *arg)
{
	char *p = j->text, *end = j->text + j->len;

	if (!j->ok || j->len < 2 || memcmp(end - 2, ".\n", 2) != 0) {
		if (j->ok)
			rep_error_at(t->arg, "reading it ended part-way");
		return 1;
	}
	end -= 2;
	if (p == end)
		return fn(arg, t->arg, NULL, NULL, NULL) < 0 ? -1 : 0;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *f2, *f3;
		if (!nl)
			nl = end;
		*nl = 0;
		if (!(f2 = strchr(p, '\t')) || !(f3 = strchr(f2 + 1, '\t'))) {
			rep_error_at(t->arg, "reading it gave a bad record");
			return 1;
		}
		*f2++ = 0;
		*f3++ = 0;
		if (fn(arg, t->arg, p, f2, f3) < 0)
			return -1;
		p = nl + 1;
	}
	return 0;
}

/* Reads what is live on every target, up to d->jobs at once, each in a
 * process of its own with a connection of its own, taking no lock and
 * waiting for none; gives the records to fn in the operands' order, a
 * target's own sorted by name. The number of targets that could not be
 * read (each told), or -1 once fn failed. */
int rep_deploy_status(struct rep_deploy *d, rep_status_fn fn, void *arg)
{
	struct rep_deploy_state *s = d->s;
	/* static: a reading child ends with _exit, and what it inherited
	 * must stay reachable (valgrind) */
	static struct status_job *j;
	j = calloc(s->n + 1, sizeof *j);
	size_t next = 0, printed = 0, running = 0;
	int unread = 0, stopped = 0;

	if (!j)
		rep_die("out of memory");
	while (printed < s->n) {
		while (next < s->n && running < (size_t)d->jobs) {
			int p[2];
			if (pipe2(p, O_CLOEXEC) < 0)
				rep_die_errno("pipe");
			pid_t pid = rep_child_fork(SIGKILL, REP_CHILD_GROUP);
			if (pid == 0) {
				close(p[0]);
				status_here(&s->t[next], p[1]);
			}
			close(p[1]);
			j[next].pid = pid;
			j[next].fd = p[0];
			next++, running++;
		}
		/* wait for output from any running one */
		struct pollfd pf[MAX_JOBS] = { { 0 } };
		size_t idx[MAX_JOBS], np = 0;
		for (size_t i = printed; i < next && np < MAX_JOBS; i++)
			if (j[i].fd >= 0) {
				pf[np] = (struct pollfd){ .fd = j[i].fd, .events = POLLIN };
				idx[np++] = i;
			}
		if (np && poll(pf, np, -1) < 0 && errno != EINTR)
			rep_die_errno("poll");
		for (size_t k = 0; k < np; k++) {
			struct status_job *x = &j[idx[k]];
			if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (x->cap - x->len < 65536) {
				x->cap = x->cap ? 2 * x->cap : 65536;
				x->text = rep_xrealloc(x->text, x->cap);
			}
			ssize_t r = read(x->fd, x->text + x->len, x->cap - x->len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r > 0) {
				x->len += (size_t)r;
				continue;
			}
			close(x->fd);
			x->fd = -1;
			int st = rep_child_wait(x->pid);
			x->ok = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
			if (st >= 0 && WIFSIGNALED(st))
				rep_error_at(s->t[idx[k]].arg, "reading it was killed by signal %d", WTERMSIG(st));
			x->done = 1;
			running--;
		}
		/* in the operands' order, as soon as each is there */
		while (printed < next && j[printed].done) {
			int rc = stopped ? 0 : status_out(&s->t[printed], &j[printed], fn, arg);
			if (rc < 0)
				stopped = 1;
			unread += rc > 0;
			free(j[printed].text);
			printed++;
		}
	}
	free(j);
	return stopped ? -1 : unread;
}

void rep_deploy_close(struct rep_deploy *d)
{
	struct rep_deploy_state *s = d->s;

	if (!s)
		return;
	rep_cleanup_remove(&s->stop);
	for (size_t i = 0; i < s->n; i++)
		rep_target_close(&s->t[i]);
	free(s->t);
	free(s->failed);
	free(s->staging);
	if (s->sent)
		munmap((void *)s->sent, 2 * s->n * sizeof *s->sent);
	for (size_t i = 0; i < s->n; i++) {
		free((char *)s->comp[i].text);
		free(s->plan[i]);
		rep_history_free(&s->hist[i]);
	}
	for (size_t i = 0; i < s->n; i++) {
		rep_strset_free(&s->left[i]);
		rep_strset_free(&s->hp[i].configure);
		rep_strset_free(&s->hp[i].stop);
		rep_strset_free(&s->hp[i].start);
	}
	free(s->left);
	free(s->hp);
	free(s->plan);
	free(s->comp);
	free(s->hist);
	free(s->where);
	free(s);
	d->s = NULL;
}
