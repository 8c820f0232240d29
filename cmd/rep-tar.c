/* rep-tar: package registered applications into one reproducible
 * .tar.gz, checking every file against the database as it is read. A
 * retired application gets a removal row in the MANIFEST instead, and no
 * entries: pushing the archive takes it out of service. A run that fails
 * says so downstream with a failure record per application. */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rep.h"

static const struct rep_optdef opts[] = {
	{'d', "dist", "DIR", "output directory (default: $REP_DIST or ./dist)"},
	{'l', "level", "LEVEL", "gzip level 1-9 (default 6)"},
	{'j', "threads", "N", "compression threads (default: the number of cores)"},
	{'t', "test", "ARCHIVE", "verify ARCHIVE (and each ARCHIVE operand) against its manifest, print it"},
	REP_OPTDEF_QUIET,
	{0},
};

static const struct rep_tool tool = {
	.synopsis =
	"usage: rep-tar [-q] [-d DIR] [-l LEVEL] [-j THREADS] [NAME...]\n"
	"       rep-tar -t ARCHIVE [ARCHIVE...]\n"
	"Package the named registered applications into\n"
	"DIR/rep_applications_YYYYMMDD_HHMMSS.tar.gz and print its path; every\n"
	"file is checked against the registered checksum while it is read.\n"
	"A retired application is marked as removed in the MANIFEST, with no files:\n"
	"rep-ls -s retired | rep-tar | rep-push TARGET takes it out of service.\n"
	"A run that fails once the names are resolved prints instead, per named\n"
	"application not retired, a failure record: NAME - - CHECKSUM failed REASON\n"
	"(rep-push passes it on to rep-setstatus --record); so does a usage error\n"
	"for the names of a pipe, with CHECKSUM '-'.\n",
	.opts = opts,
	.files = 1,
	.names_from_stdin = 1,
};

#define READ_BUF (256 * 1024)

static char tmp_path[4200];          /* the archive being written */
static char *made_dist;              /* the output directory, if we made it */

/* Failure records: once the names are resolved, a run that fails tells
 * the pipeline, on stdout, which applications it did not package, so
 * that rep-push passes them on and rep-setstatus --record records them
 * instead of the applications silently staying where they were:
 *   name TAB - TAB - TAB checksum TAB failed TAB reason
 * The text up to the reason is built before anything can fail (the
 * signal path may not allocate or use stdio); the reason is known only
 * at the end. */
static struct {
	char *text;         /* "name\t-\t-\tchecksum\tfailed\t\n" per app, input order */
	size_t len;
	volatile sig_atomic_t armed;
} failures;

static char reason[4 * 512 + 64];  /* a dying message, every byte shown as \xHH */
static char chunk[8192];
static size_t chunked;

static void signal_reason(int sig)
{
	char num[16], *d = num + sizeof num;
	const char *lead = "interrupted by signal ";
	size_t n = strlen(lead);

	*--d = 0;
	do
		*--d = (char)('0' + sig % 10);
	while ((sig /= 10) && d > num);
	memcpy(reason, lead, n);
	memcpy(reason + n, d, strlen(d) + 1);
}

static void put(const char *s, size_t n)
{
	while (n) {
		if (chunked == sizeof chunk) {
			(void)rep_write_full(1, chunk, chunked);
			chunked = 0;
		}
		size_t k = sizeof chunk - chunked < n ? sizeof chunk - chunked : n;
		memcpy(chunk + chunked, s, k);
		chunked += k;
		s += k;
		n -= k;
	}
}

/* Writes the records with write(2) only. A reader that went away gets
 * EPIPE instead of ending us by SIGPIPE: the run ends as it was ending
 * (exit 2, or the signal it caught). */
static void print_failures(void)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, was;
	const char *why = rep_dying_message();
	int sig = rep_cleanup_signal();

	if (!failures.armed || !failures.len)
		return;
	failures.armed = 0;
	if (sig)
		signal_reason(sig);
	else /* an exit without a message: no code path does that today */
		rep_reason_text(reason, sizeof reason, *why ? why : "rep-tar failed");
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &was);
	size_t rlen = strlen(reason);
	for (const char *p = failures.text, *end = p + failures.len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		put(p, (size_t)(nl - p));
		put(reason, rlen);
		put("\n", 1);
		p = nl + 1;
	}
	(void)rep_write_full(1, chunk, chunked);
	chunked = 0;
	sigaction(SIGPIPE, &was, NULL);
}

/* Run on die, on a signal and at exit (cleanup.c): async-signal-safe.
 * The temporary goes first: writing the records may block on a reader
 * that does not read, and a run stopped then must leave nothing. */
static void undo(void *unused)
{
	(void)unused;
	if (tmp_path[0])
		unlink(tmp_path);
	if (made_dist)
		rmdir(made_dist);
	print_failures();
}

/* Puts text in place as the failure records, the caught signals held:
 * an undo action on a signal sees the old records or the new, whole. */
static void set_failures(char *text, size_t len)
{
	rep_cleanup_hold();
	char *old = failures.text;
	failures.text = text;
	failures.len = len;
	failures.armed = text != NULL;
	rep_cleanup_deliver();
	free(old);
}

/* Arms failure records of the names read, before the database says
 * more of them: content unknown ("-"), which rep-setstatus --record
 * takes as failed. A Ctrl-C just after the claim upstream, while the
 * names are looked up, strands nothing. */
static void arm_names(const struct rep_strset *names)
{
	size_t len = 0;

	for (size_t i = 0; i < names->n; i++)
		len += strlen(names->v[i]) + sizeof "\t-\t-\t-\tfailed\t\n";
	char *text = rep_xmalloc(len + 1), *w = text;
	for (size_t i = 0; i < names->n; i++)
		w += sprintf(w, "%s\t-\t-\t-\tfailed\t\n", names->v[i]);
	set_failures(text, (size_t)(w - text));
}

/* Arms the failure records of the named applications, in input order;
 * retired ones are being taken out of service, not shipped: none. */
static void arm_failures(const struct rep_strset *names, char **sorted, const struct rep_app *apps)
{
	size_t *at = rep_xmalloc((names->n + 1) * sizeof *at), len = 0;

	for (size_t i = 0; i < names->n; i++)
		at[rep_strset_find(names, sorted[i])] = i;
	for (size_t k = 0; k < names->n; k++)
		len += strlen(apps[at[k]].name) + 64 + sizeof "\t-\t-\t\tfailed\t\n";
	char *text = rep_xmalloc(len + 1), *w = text;
	for (size_t k = 0; k < names->n; k++) {
		const struct rep_app *a = &apps[at[k]];
		if (strcmp(a->status, "retired") != 0)
			w += sprintf(w, "%s\t-\t-\t%s\tfailed\t\n", a->name, a->checksum);
	}
	free(at);
	set_failures(text, (size_t)(w - text));
}

static int64_t source_date_epoch(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		rep_die("SOURCE_DATE_EPOCH=%s: not a number of seconds", s);
	return v;
}

static void add_name(struct rep_rec *rec, void *arg)
{
	rep_name_check(rec->f[0], rec);
	rep_strset_add(arg, rec->f[0], NULL);
}

static struct rep_cleanup cleanup;

/* After a usage error: the valid names only, the others passed over
 * quietly (the message said what is wrong, and no other follows it). */
static void add_valid_name(struct rep_rec *rec, void *arg)
{
	if (rep_name_valid(rec->f[0]))
		rep_strset_add(arg, rec->f[0], NULL);
}

static int main_argc;
static char **main_argv;

static void meant_opt(int c, const char *arg, void *ctx)
{
	(void)arg;
	if (c == 't')
		*(int *)ctx = 0;    /* -t reads no names */
}

/* A usage error: a claim made upstream passed its names on, and they
 * must not stay claimed. When the command line named no application and
 * was not -t, and the names come from a pipe, they get failure records
 * whose reason is the usage error (rep_on_usage_error). */
static void usage_input(void)
{
	static struct rep_strset names;
	int reads = 1;

	if (rep_opt_scan(main_argc, main_argv, &tool, meant_opt, &reads) > 0 || !reads ||
	    !rep_stdin_piped())
		return;
	rep_cleanup_add(&cleanup, undo, NULL);
	rep_cleanup_signals();
	rep_cleanup_hold();
	rep_each_input(0, NULL, add_valid_name, &names);
	arm_names(&names);
	rep_cleanup_deliver();
}

struct pack {
	struct rep_tar *tar;
	int appsfd;
	unsigned char *buf;
	int64_t files, bytes, total_bytes;
	int show;
	size_t done, total;
	struct rep_progress progress;
};

static void progress(struct pack *p)
{
	rep_progress_draw(&p->progress, (long long)p->done, (long long)p->total, "applications",
	    p->bytes, p->total_bytes);
}

/* Reads a file once: into the archive and into its hash together. */
static void pack_file(struct pack *p, const char *app, struct rep_entry *e, const char *path)
{
	char rel[4096 + REP_NAME_MAX + 2];
	struct sha256_ctx c;
	ssize_t n;

	snprintf(rel, sizeof rel, "%s/%s", app, e->path);
	int fd = openat(p->appsfd, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		rep_die_errno("%s", rel);
	rep_tar_file(p->tar, path, e->type == 'x', e->st.size, e->st.mtime_ns / 1000000000);
	sha256_init(&c);
	e->size = 0;
	while ((n = read(fd, p->buf, READ_BUF)) > 0) {
		if (e->size + n > e->st.size)
			break;
		sha256_update(&c, (size_t)n, p->buf);
		rep_tar_data(p->tar, p->buf, (size_t)n);
		e->size += n;
	}
	if (n < 0)
		rep_die_errno("%s", rel);
	close(fd);
	if (e->size != e->st.size)
		rep_die("%s: changed while being packaged", rel);
	sha256_digest(&c, sizeof e->digest, e->digest);
	p->bytes += e->size;
}

/* An application's tree, listed before the MANIFEST is written: its
 * record counts the directories. */
static void list_app(struct pack *p, const struct rep_app *a, struct rep_tree *t, int64_t *dirs,
    int64_t *mtime)
{
	struct stat st;

	const char *why = rep_app_dir_problem(p->appsfd, a->name);
	if (why || fstatat(p->appsfd, a->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		rep_die("%s: %s in %s", a->name, why ? why : strerror(errno), rep_opt.apps);
	*mtime = st.st_mtim.tv_sec;
	rep_tree_list(p->appsfd, a->name, t);
	*dirs = 0;
	for (size_t i = 0; i < t->n; i++)
		*dirs += t->e[i].type == 'd';
}

static void pack_app(struct pack *p, const struct rep_app *a, struct rep_tree *tree, int64_t mtime)
{
	char path[4096 + 2 * REP_NAME_MAX];
	struct rep_tree t = *tree;
	struct rep_fold f;
	struct rep_sum sum;

	snprintf(path, sizeof path, "rep_applications/%s/", a->name);
	rep_tar_dir(p->tar, path, mtime);
	rep_fold_init(&f);
	for (size_t i = 0; i < t.n; i++) {
		struct rep_entry *e = &t.e[i];
		snprintf(path, sizeof path, "rep_applications/%s/%s%s", a->name, e->path,
		    e->type == 'd' ? "/" : "");
		if (e->type == 'd') {
			rep_tar_dir(p->tar, path, e->st.mtime_ns / 1000000000);
		} else if (e->type == 'l') {
			rep_tar_symlink(p->tar, path, e->target, e->st.mtime_ns / 1000000000);
		} else {
			pack_file(p, a->name, e, path);
		}
		rep_fold_add(&f, e->type, e->path, e->digest, e->size);
		if (p->show)
			progress(p);
	}
	rep_fold_end(&f, &sum);
	rep_tree_free(&t);
	if (sum.files != a->files || sum.bytes != a->bytes || strcmp(sum.checksum, a->checksum))
		rep_die("%s: content changed since it was registered (see rep-diff)", a->name);
	p->done++;
	p->files += sum.files;
}

/* The archive's path goes on stdout as a record for the next tool: a
 * TAB, CR or newline in it would make it another record, or two. */
static void recordable(const char *path)
{
	if (strpbrk(path, "\t\r\n"))
		rep_die("%s: a TAB, CR or newline in the path: its archive could not be named in a record",
		    path);
}

static const char *dist_dir(const char *opt)
{
	const char *env = getenv("REP_DIST");
	const char *d = opt ? opt : env && *env ? env : "dist";

	recordable(d);
	/* printed absolute after -C, for the reader of the pipe */
	if (rep_opt_moved() && d[0] != '/') {
		char *cwd = getcwd(NULL, 0);
		if (!cwd)
			rep_die_errno("getcwd");
		recordable(cwd);
		free(cwd);
	}

	if (mkdir(d, 0777) == 0)
		made_dist = rep_xstrdup(d);
	else if (errno != EEXIST)
		rep_die_errno("%s", d);
	return d;
}

/* Publishes the finished temporary under the first free name: an
 * archive is never replaced, two runs in one second get _2, _3, ... */
static char *publish(const char *dir, int dirfd)
{
	char stamp[32], *final = rep_xmalloc(strlen(dir) + 64);
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
	for (int i = 1;; i++) {
		if (i == 1)
			sprintf(final, "%s/rep_applications_%s.tar.gz", dir, stamp);
		else
			sprintf(final, "%s/rep_applications_%s_%d.tar.gz", dir, stamp, i);
		int rc = rep_rename_noreplace(AT_FDCWD, tmp_path, AT_FDCWD, final);
		if (rc == 0)
			break;
		if (errno != EEXIST)
			rep_die_errno("%s", final);
	}
	tmp_path[0] = 0;
	if (fsync(dirfd) < 0)
		rep_die_errno("%s", dir);
	return final;
}

/* A retired application leaves service: a removal row, no entries, and
 * its directory (if any) is not read. */
static int retired(const struct rep_app *a)
{
	return strcmp(a->status, "retired") == 0;
}

static int package(struct rep_strset *names, const char *dir, int level, int threads)
{
	struct rep_db *db = rep_db_open(REP_RO);
	struct rep_app *apps = rep_xmalloc((names->n + 1) * sizeof *apps);
	char **sorted = rep_strset_sorted(names);
	size_t nremove = 0;

	for (size_t i = 0; i < names->n; i++) {
		if (!rep_db_app_get(db, sorted[i], &apps[i])) {
			/* records of a name not registered would make the
			 * reader refuse them all: none */
			set_failures(NULL, 0);
			rep_die("%s: not registered", sorted[i]);
		}
		nremove += retired(&apps[i]);
	}
	arm_failures(names, sorted, apps);
	rep_db_close(db);

	/* static, as what a signal's exit leaves must stay reachable
	 * (valgrind), wherever the compiler keeps p */
	static unsigned char read_buf[READ_BUF];
	struct pack p = { .appsfd = rep_open_apps(), .buf = read_buf,
		.total = names->n - nremove };
	for (size_t i = 0; i < names->n; i++)
		p.total_bytes += retired(&apps[i]) ? 0 : apps[i].bytes;
	if ((p.show = rep_progress_wanted()))
		rep_progress_begin(&p.progress, "packing");
	dir = dist_dir(dir);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		rep_die_errno("%s", dir);
	snprintf(tmp_path, sizeof tmp_path, "%s/.rep-tar-XXXXXX.tmp", dir);
	int fd = mkostemps(tmp_path, 4, O_CLOEXEC);
	if (fd < 0) {
		tmp_path[0] = 0;
		rep_die_errno("%s", dir);
	}
	mode_t mask = umask(0);
	umask(mask);

	int64_t clamp = source_date_epoch();
	p.tar = rep_tar_open(fd, tmp_path, level, threads, clamp);
	struct rep_tree *trees = rep_xmalloc((names->n + 1) * sizeof *trees);
	int64_t *mtimes = rep_xmalloc((names->n + 1) * sizeof *mtimes);
	struct rep_manifest mf = { .version = 2 };
	size_t nbad = 0;
	const char *bad = NULL;
	for (size_t i = 0; i < names->n; i++) {
		struct rep_manifest_app *r = calloc(1, sizeof *r);
		if (!r)
			rep_die("out of memory");
		r->app = apps[i];
		r->offset = -1;
		if (retired(&apps[i])) {
			/* name 0 0 EMPTY-SHA256 0 remove - */
			r->remove = 1;
			r->app.files = r->app.bytes = 0;
			memcpy(r->app.checksum, REP_EMPTY_SHA256, sizeof r->app.checksum);
			rep_strset_add(&mf.apps, apps[i].name, r);
			continue;
		}
		list_app(&p, &apps[i], &trees[i], &r->dirs, &mtimes[i]);
		rep_strset_add(&mf.apps, apps[i].name, r);
		if (rep_problems_tell(&trees[i].bad) && !nbad++)
			bad = apps[i].name;
	}
	if (nbad)
		rep_problems_die(nbad, bad, "nothing packaged");
	char *manifest = NULL;
	size_t mlen = 0;
	FILE *m = open_memstream(&manifest, &mlen);
	if (!m)
		rep_die_errno("memory");
	rep_manifest_print(m, &mf);
	if (fclose(m) != 0)
		rep_die_errno("memory");
	rep_manifest_free(&mf);
	rep_tar_file(p.tar, "MANIFEST", 0, (int64_t)mlen, clamp < 0 ? 0 : clamp);
	rep_tar_data(p.tar, manifest, mlen);
	free(manifest);
	rep_tar_dir(p.tar, "rep_applications/", clamp < 0 ? 0 : clamp);
	for (size_t i = 0; i < names->n; i++)
		if (!retired(&apps[i]))
			pack_app(&p, &apps[i], &trees[i], mtimes[i]);
	free(trees);
	free(mtimes);
	int64_t size = rep_tar_close(p.tar);
	if (fchmod(fd, 0666 & ~mask) < 0 || fsync(fd) < 0 || close(fd) < 0)
		rep_die_errno("%s", tmp_path);
	char *final = publish(dir, dirfd);
	/* after -C, the reader of the pipe is still where rep-tar started:
	 * the path it gets must not depend on -C */
	if (rep_opt_moved() && final[0] != '/') {
		char cwd[4096];
		if (!getcwd(cwd, sizeof cwd))
			rep_die_errno("current directory");
		char *abs = rep_xmalloc(strlen(cwd) + strlen(final) + 2);
		sprintf(abs, "%s/%s", cwd, final);
		free(final);
		final = abs;
	}
	free(made_dist);
	made_dist = NULL;
	close(dirfd);
	close(p.appsfd);
	if (p.show)
		rep_progress_end(&p.progress);
	/* the archive is delivered: from here on only stdout can fail, and
	 * a record could not be written there either */
	set_failures(NULL, 0);
	printf("%s\n", final);
	if (!rep_opt.quiet) {
		char *shown = rep_visible(final, strlen(final)), removals[64] = "";
		size_t nadd = names->n - nremove;
		if (nremove)
			snprintf(removals, sizeof removals, ", %zu removal%s", nremove,
			    nremove == 1 ? "" : "s");
		rep_summary("%zu application%s, %lld file%s, %lld byte%s%s in %s (%lld bytes)",
		    nadd, nadd == 1 ? "" : "s", (long long)p.files, p.files == 1 ? "" : "s",
		    (long long)p.bytes, p.bytes == 1 ? "" : "s", removals, shown, (long long)size);
		free(shown);
	}
	free(final);
	free(apps);
	free(sorted);
	return 0;
}

/* What a checking child of rep-tar -t A B... exits with when standard
 * output failed: the others would fail the same way, and say so again. */
enum { OUT_FAILED = 3 };

/* rep-tar -t: the manifest of path, printed once it checked out. */
static int test_one(const char *path, int several)
{
	struct rep_manifest m;

	rep_archive_check(path, &m);
	if (several) {
		char *shown = rep_visible(path, strlen(path));
		printf("#archive\t%s\n", shown);
		free(shown);
	}
	rep_manifest_print(stdout, &m);
	rep_manifest_free(&m);
	if (several && (fflush(stdout) != 0 || ferror(stdout)) && errno != EPIPE) {
		rep_warn("standard output: %s", strerror(errno));
		_exit(OUT_FAILED);
	}
	return rep_finish();
}

/* rep-tar -t A B...: every archive checked, each in a process of its own
 * (a check ends at its first problem, by dying), in the order given;
 * each manifest after a line #archive TAB PATH. Exit 2 if any failed. */
static int test_all(char **paths, size_t n)
{
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		pid_t pid = rep_child_fork(SIGKILL, 0);
		if (pid == 0)
			_exit(test_one(paths[i], 1));
		int st = rep_child_wait(pid);
		if (st >= 0 && WIFSIGNALED(st)) {
			/* the reader gone (SIGPIPE), or a signal for the
			 * whole group: the rest is not checked, and the exit
			 * status says why, as with one archive */
			signal(WTERMSIG(st), SIG_DFL);
			raise(WTERMSIG(st));
			_exit(128 + WTERMSIG(st));
		}
		/* said once: the rest is not checked */
		if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == OUT_FAILED)
			return 2;
		if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
			failed = 1;
	}
	int rc = rep_finish();
	return rc ? rc : failed ? 2 : 0;
}

int main(int argc, char **argv)
{
	struct rep_strset names = { 0 };
	const char *dir = NULL, *packing = NULL;
	/* every -t ARCHIVE, then the operands: the archives to check (static:
	 * a checking child ends with _exit, and it must stay reachable) */
	static char **tests;
	size_t ntests = 0;
	int level = 6, threads = rep_nthreads(), c;

	rep_init(argv[0]);
	tests = rep_xmalloc(((size_t)argc + 1) * sizeof *tests);
	/* pax stores non-ASCII names as UTF-8: the same bytes whatever the
	 * user's locale, and names that are not UTF-8 as binary. */
	setlocale(LC_CTYPE, "C.UTF-8");
	main_argc = argc, main_argv = argv;
	rep_on_usage_error(usage_input);
	while ((c = rep_getopt(argc, argv, &tool)) != -1) {
		switch (c) {
		case 'd': dir = optarg, packing = "-d"; break;
		case 'l': level = (int)rep_opt_number("-l", optarg, 1, 9), packing = "-l"; break;
		case 'j': threads = (int)rep_opt_number("-j", optarg, 1, 16), packing = "-j"; break;
		case 't': tests[ntests++] = optarg; break;
		}
	}
	if (ntests && packing)
		rep_usage_error("%s is for packaging: -t only checks archives", packing);
	rep_opt_finish();
	argc -= optind, argv += optind;
	if (ntests) {
		for (int i = 0; i < argc; i++)
			tests[ntests++] = argv[i];
		int rc = ntests == 1 ? test_one(tests[0], 0) : test_all(tests, ntests);
		free(tests);
		return rc;
	}
	free(tests);
	rep_on_usage_error(NULL);
	rep_cleanup_add(&cleanup, undo, NULL);
	rep_cleanup_signals();
	/* A Ctrl-C reaches the whole pipeline: the names of a claim made
	 * upstream must come out as failure records. Reading them from a
	 * pipe, the signals wait until the input ends, and the names are
	 * armed first. */
	int piped = rep_stdin_piped();
	if (piped)
		rep_cleanup_hold();
	rep_each_input(argc, argv, add_name, &names);
	arm_names(&names);
	if (piped)
		rep_cleanup_deliver();
	if (names.n == 0) {
		rep_summary("nothing to package");
		return rep_finish();
	}
	package(&names, dir, level, threads);
	rep_strset_free(&names);
	return rep_finish();
}
