/* rep-tar's own archives against the check (issue 16): hardening that
 * refuses a legitimate archive is a bug. From the input, a few
 * applications are made in a temporary applications directory: nested
 * directories, long names (up to 255 bytes) and long paths (over 100,
 * 255 and 1000 bytes), empty directories, files of 0 bytes to a few
 * hundred KiB, executable or not, symlinks that stay inside their
 * application (rep_link_inside: leading ".." only), names with spaces,
 * UTF-8 (composed and decomposed) and other bytes but no control
 * characters, odd modes, times past 2038 and before 1970. They are
 * registered and packaged by the real tools, built next to the harness
 * (../bin, or $REP_FUZZ_BIN: rep-register, then rep-tar with -j 1..16
 * and -l 1..9 from the input), REP_DB, REP_APPS and REP_DIST pointing
 * into the temporary directory (on a tmpfs if there is one:
 * fuzz_tmpdir). Then rep_archive_check() must pass the archive, in the
 * C locale (rep-push's) and in C.UTF-8 (rep-tar -t's), and its manifest
 * must list exactly the applications packaged, each with the files,
 * bytes and checksum that rep-register recorded (and the files and
 * bytes the harness made). A tool that fails, or a check that refuses,
 * is a broken property; its message is in the report. */
#include <errno.h>
#include <locale.h>
#include <limits.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

extern char **environ;

static char base[1024], apps[1100], dist[1100], db[1100], outp[1100], errp[1100], msgs[1100];
static char bin_register[PATH_MAX + 32], bin_tar[PATH_MAX + 32];
static int outfd, errfd;
static struct rep_manifest m;
static struct fuzz_catch caught;
static unsigned char noise[512 * 1024];
static size_t budget;

static void remove_base(void)
{
	rep_rm_tree(AT_FDCWD, base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char self[PATH_MAX];
	const char *bin = getenv("REP_FUZZ_BIN");
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		abort();
	self[n] = 0;
	*strrchr(self, '/') = 0;
	snprintf(bin_register, sizeof bin_register, "%s/rep-register", bin ? bin : self);
	snprintf(bin_tar, sizeof bin_tar, "%s/rep-tar", bin ? bin : self);
	if (!bin) {
		/* build-fuzz/fuzz/roundtrip: the tools are in build-fuzz/bin */
		snprintf(bin_register, sizeof bin_register, "%s/../bin/rep-register", self);
		snprintf(bin_tar, sizeof bin_tar, "%s/../bin/rep-tar", self);
	}
	if (access(bin_register, X_OK) < 0 || access(bin_tar, X_OK) < 0) {
		fprintf(stderr, "roundtrip: %s or %s missing (make fuzz builds them)\n",
		    bin_register, bin_tar);
		exit(1);
	}
	const char *tmp = fuzz_tmpdir();
	snprintf(base, sizeof base, "%s/rep-roundtrip-XXXXXX", tmp);
	if (!mkdtemp(base))
		abort();
	snprintf(apps, sizeof apps, "%s/apps", base);
	snprintf(dist, sizeof dist, "%s/dist", base);
	snprintf(db, sizeof db, "%s/metadata.db", base);
	snprintf(outp, sizeof outp, "%s/out", base);
	snprintf(errp, sizeof errp, "%s/err", base);
	snprintf(msgs, sizeof msgs, "%s/messages", base);
	outfd = open(outp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	errfd = open(errp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (outfd < 0 || errfd < 0)
		abort();
	setenv("REP_DB", db, 1);
	setenv("REP_APPS", apps, 1);
	setenv("REP_DIST", dist, 1);
	setenv("LC_ALL", "C", 1);
	fuzz_noise(noise, sizeof noise, 16);
	atexit(remove_base);
	return 0;
}

/* The application being made: its directory, its directories (paths
 * relative to it, "" for itself, with their depth), what it holds. */
#define MAX_DIRS 64
#define MAX_ENTRIES 80
#define MAX_REL 3700       /* NAME/REL stays well under PATH_MAX */
struct app {
	char name[REP_NAME_MAX + 1];
	int fd;
	char *dirs[MAX_DIRS];
	int depth[MAX_DIRS];
	int ndirs, entries;
	int64_t files, bytes;
	char *made[MAX_ENTRIES + MAX_DIRS];  /* every entry, for the times */
	int nmade;
};

/* A name of 1 to 255 bytes: no '/', no control character, not "." or
 * "..", in one of several flavours. */
static size_t make_name(struct src *s, char *out, size_t room)
{
	static const char *const utf8[] = {
		"\xc3\xa9", "\xc3\x9f", "\xce\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80",
		"\xe2\x82\xac", "\xd0\x96", "\xef\xbb\xbf", "\xcc\x81", "\xe2\x80\x8b",
	};
	static const char *const odd[] = {
		".hidden", "-dash", "...", ". ", "a\\b", "*", "?", "#x", "%s%n", "~", "'",
		"\"", " ", "a b", "trail ", " lead", "PaxHeaders", "././@LongLink", "MANIFEST",
		"rep_applications", "x=y", "10 path=z", "\xff", "\xc0\xaf", "\xed\xa0\x80",
	};
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	char buf[256];
	size_t n = 0, want;

	if (room > 255)
		room = 255;
	switch (byte(s) % 8) {
	case 0:
	case 1:
		want = pick(s, 1, 8);
		while (n < want)
			buf[n++] = alnum[byte(s) % (sizeof alnum - 1)];
		break;
	case 2:  /* UTF-8, with ASCII around it */
		want = pick(s, 1, 5);
		for (size_t k = 0; k < want; k++) {
			const char *u = byte(s) % 2 ? utf8[byte(s) % 10] : "a";
			memcpy(buf + n, u, strlen(u));
			n += strlen(u);
		}
		break;
	case 3:  /* bytes that are not UTF-8 */
		want = pick(s, 1, 12);
		while (n < want) {
			unsigned c = byte(s);
			buf[n++] = (char)(c >= 0x80 ? c : 0x80 | c);
		}
		break;
	case 4: { /* long: around the 100- and 155-byte fields, up to NAME_MAX */
		static const unsigned lens[] = { 99, 100, 101, 154, 155, 156, 200, 254, 255 };
		want = lens[byte(s) % 9];
		unsigned c = byte(s);
		while (n < want) {
			buf[n] = alnum[(c + n) % (sizeof alnum - 1)];
			if (c % 3 == 0 && n % 7 == 3)
				buf[n] = ' ';
			if (c % 3 == 1 && n % 5 == 2)
				buf[n] = (char)(0x80 + n % 0x7f);
			n++;
		}
		break;
	}
	case 5:  /* any byte but '/', NUL and the control characters */
		want = pick(s, 1, 20);
		while (n < want) {
			unsigned c = byte(s);
			buf[n++] = (char)(c < 0x20 || c == 0x7f || c == '/' ? 'q' : c);
		}
		break;
	default: {
		const char *o = odd[byte(s) % (sizeof odd / sizeof *odd)];
		n = strlen(o);
		memcpy(buf, o, n);
		break;
	}
	}
	if (n > room)
		n = room;
	if (n == 0 || (n == 1 && buf[0] == '.') || (n == 2 && buf[0] == '.' && buf[1] == '.'))
		buf[0] = 'n', n = 1;
	memcpy(out, buf, n);
	out[n] = 0;
	return n;
}

/* A new path in a directory of the application: into path, and its
 * directory's index, or -1 if no name fits. */
static int new_path(struct src *s, struct app *a, char *path, size_t *len)
{
	int d = (int)(byte(s) % (unsigned)a->ndirs);
	size_t dl = strlen(a->dirs[d]);
	size_t used = strlen(a->name) + 1 + dl + 1;
	if (used + 1 >= MAX_REL)
		return -1;
	memcpy(path, a->dirs[d], dl);
	if (dl)
		path[dl++] = '/';
	*len = dl + make_name(s, path + dl, MAX_REL - used);
	return d;
}

static void note(struct app *a, const char *path)
{
	if (a->nmade < MAX_ENTRIES + MAX_DIRS && !(a->made[a->nmade] = strdup(path)))
		abort();
	a->nmade += a->nmade < MAX_ENTRIES + MAX_DIRS;
}

static int make_dir(struct src *s, struct app *a, char *path, int parent)
{
	static const mode_t modes[] = { 0755, 0700, 0750, 0775, 0711 };
	if (a->ndirs == MAX_DIRS || mkdirat(a->fd, path, modes[byte(s) % 5]) < 0)
		return -1;
	if (!(a->dirs[a->ndirs] = strdup(path)))
		abort();
	a->depth[a->ndirs] = a->depth[parent] + 1;
	note(a, path);
	return a->ndirs++;
}

/* Content: a slice of noise, where the input says; at most budget
 * bytes of files in all. */
static void make_file(struct src *s, struct app *a, const char *path)
{
	static const mode_t modes[] = { 0644, 0755, 0600, 0700, 0444, 0555, 0750, 0640, 0744, 0500 };
	static const unsigned sizes[] = { 65535, 65536, 65537, 262143, 262144, 262145, 131072 + 3 };
	unsigned size;
	switch (byte(s) % 8) {
	case 0: case 1: case 2: size = 0; break;
	case 3: case 4: size = pick(s, 1, 100); break;
	case 5: case 6: size = pick(s, 101, 9000); break;
	default: size = sizes[byte(s) % 7]; break;
	}
	if (size > budget)
		size = (unsigned)budget;
	budget -= size;
	mode_t mode = modes[byte(s) % 10];
	int f = openat(a->fd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (f < 0)
		return;
	unsigned char *from = noise + pick(s, 0, 65535) * 4;
	if (write(f, from, size) != (ssize_t)size || fchmod(f, mode) < 0)
		abort();
	close(f);
	a->files++;
	a->bytes += size;
	a->entries++;
	note(a, path);
}

/* A target that stays inside: at most as many leading ".." as the
 * link's directory is deep, then names going down (some of them the
 * application's own directories), with "." and "//" here and there. */
static void make_link(struct src *s, struct app *a, const char *path, int dir)
{
	char target[1200];
	size_t n = 0;
	int ups = a->depth[dir] ? (int)(byte(s) % (unsigned)(a->depth[dir] + 1)) : 0;

	for (int i = 0; i < ups; i++)
		n += (size_t)sprintf(target + n, "%s", byte(s) % 8 ? "../" : "..//");
	unsigned down = byte(s) % 4, shape = byte(s);
	if (shape % 5 == 0)
		n += (size_t)sprintf(target + n, "./");
	if (down && shape % 3 == 0) {
		const char *d = a->dirs[byte(s) % (unsigned)a->ndirs];
		if (strlen(d) + n + 2 < sizeof target)
			n += (size_t)sprintf(target + n, "%s%s", d, *d ? "/" : "");
	}
	for (unsigned i = 0; i < down; i++) {
		char name[256];
		make_name(s, name, sizeof name - 1);
		if (n + strlen(name) + 3 >= sizeof target)
			break;
		n += (size_t)sprintf(target + n, "%s%s", name, shape % 7 == 1 ? "//" : "/");
	}
	if (n && target[n - 1] == '/' && shape % 2)
		n--;           /* "x/" or "x" */
	if (n == 0)
		n = (size_t)sprintf(target, "%s", shape % 4 ? "." : "./");
	target[n] = 0;
	if (!rep_link_inside(path, target))
		fuzz_fail("the harness made a link going outside: %s -> %s", path, target);
	if (symlinkat(target, a->fd, path) < 0)
		return;
	a->files++;
	a->entries++;
	note(a, path);
}

/* Times rep-tar stores as they are, or needs a pax mtime for. */
static void set_times(struct src *s, struct app *a)
{
	static const int64_t times[] = {
		0, 1, 8589934591LL, 8589934592LL, -1, 1LL << 40, 1700000000, 2147483648LL,
	};
	for (int i = a->nmade - 1; i >= 0; i--) {
		unsigned c = byte(s);
		if (c % 4)
			continue;
		struct timespec ts[2] = { { times[c / 4 % 8], 0 }, { times[c / 4 % 8], c % 2 ? 999999999 : 0 } };
		utimensat(a->fd, a->made[i], ts, AT_SYMLINK_NOFOLLOW);
	}
}

static void make_app(struct src *s, struct app *a, const char *name)
{
	memset(a, 0, sizeof *a);
	snprintf(a->name, sizeof a->name, "%s", name);
	char top[1300];
	snprintf(top, sizeof top, "%s/%s", apps, name);
	if (mkdir(top, 0755) < 0 || (a->fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	a->dirs[0] = strdup("");
	a->ndirs = 1;
	unsigned want = byte(s) % MAX_ENTRIES;
	for (unsigned tries = 0; a->entries < (int)want && tries < 2 * MAX_ENTRIES && s->n; tries++) {
		char path[MAX_REL + 300];
		size_t len;
		unsigned op = byte(s) % 16;
		int d = new_path(s, a, path, &len);
		if (d < 0)
			continue;
		if (op < 5) {
			make_file(s, a, path);
		} else if (op < 8) {
			make_dir(s, a, path, d);
		} else if (op < 11) {
			make_link(s, a, path, d);
		} else if (op < 13) {
			/* a chain of long names, a file at its end */
			unsigned deep = pick(s, 1, 8);
			for (unsigned k = 0; k < deep; k++) {
				if ((d = make_dir(s, a, path, d)) < 0)
					break;
				size_t used = strlen(a->name) + 1 + len + 1;
				if (used + 60 >= MAX_REL)
					break;
				path[len++] = '/';
				size_t room = MAX_REL - used;
				len += make_name(s, path + len, room < 255 ? room : pick(s, 50, 255));
			}
			if (d >= 0)
				make_file(s, a, path);
		} else {
			/* an empty directory, maybe several levels of them */
			if ((d = make_dir(s, a, path, d)) >= 0 && byte(s) % 2 && len + 4 < MAX_REL - 200) {
				memcpy(path + len, "/e e", 5);
				make_dir(s, a, path, d);
			}
		}
	}
	set_times(s, a);
	if (byte(s) % 4 == 0) {
		struct timespec ts[2] = { { 0, 0 }, { byte(s) % 2 ? -1 : 8589934592LL, 0 } };
		futimens(a->fd, ts);
	}
	close(a->fd);
}

static void free_app(struct app *a)
{
	for (int i = 0; i < a->ndirs; i++)
		free(a->dirs[i]);
	for (int i = 0; i < a->nmade; i++)
		free(a->made[i]);
}

/* A tool: its exit status (-1: killed by a signal), its stdout in out,
 * its stderr in err; stdin: /dev/null. */
static int run(char *const *argv)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	/* the children write at the offset they share with outfd, errfd */
	if (ftruncate(outfd, 0) < 0 || ftruncate(errfd, 0) < 0 ||
	    lseek(outfd, 0, SEEK_SET) < 0 || lseek(errfd, 0, SEEK_SET) < 0 ||
	    posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, outfd, 1) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, errfd, 2) != 0 ||
	    posix_spawn_file_actions_addchdir_np(&fa, base) != 0 ||
	    posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		abort();
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			abort();
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *contents(int f, char *buf, size_t cap)
{
	ssize_t n = pread(f, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

/* The manifest m lists the napps applications registered (reg) and made,
 * with the files, bytes and checksum of each. */
static void same_as_registered(const struct rep_manifest *got, const struct rep_app *reg,
    const struct app *made, int napps)
{
	if ((int)got->apps.n != napps)
		fuzz_fail("the manifest lists %zu applications, rep-tar packaged %d", got->apps.n, napps);
	for (int i = 0; i < napps; i++) {
		const struct rep_app *r = &reg[i], *a = NULL;
		long k = rep_strset_find(&got->apps, r->name);
		if (k < 0)
			fuzz_fail("%s: registered and packaged, not in the manifest", r->name);
		a = got->apps.val[k];
		if (a->files != r->files || a->bytes != r->bytes || strcmp(a->checksum, r->checksum))
			fuzz_fail("%s: the manifest says %lld files, %lld bytes, %.12s; the database "
			    "%lld, %lld, %.12s", r->name, (long long)a->files, (long long)a->bytes,
			    a->checksum, (long long)r->files, (long long)r->bytes, r->checksum);
		for (int j = 0; j < napps; j++)
			if (!strcmp(made[j].name, r->name) &&
			    (made[j].files != r->files || made[j].bytes != r->bytes))
				fuzz_fail("%s: registered with %lld files, %lld bytes; the harness "
				    "made %lld, %lld", r->name, (long long)r->files, (long long)r->bytes,
				    (long long)made[j].files, (long long)made[j].bytes);
	}
}

#define MAX_APPS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static jmp_buf back;
	static struct app made[MAX_APPS];
	static char out[64 * 1024], err[4096], said[2000];
	static char archive[PATH_MAX];
	struct src s = { data, size };
	char jopt[16], lopt[16];
	char *argv[4 + MAX_APPS + 1];
	int n = 0, napps = 1 + (int)(byte(&s) % MAX_APPS);

	budget = 1024 * 1024;
	rep_rm_tree(AT_FDCWD, apps);
	rep_rm_tree(AT_FDCWD, dist);
	/* the database, and SQLite's files beside it (a stale -wal would
	 * be read into the next database) */
	static const char *const db_files[] = { "", "-wal", "-shm", "-journal" };
	for (int i = 0; i < 4; i++) {
		char name[1200];
		snprintf(name, sizeof name, "%s%s", db, db_files[i]);
		unlink(name);
	}
	if (mkdir(apps, 0755) < 0)
		abort();
	snprintf(jopt, sizeof jopt, "-j%u", pick(&s, 1, 16));
	snprintf(lopt, sizeof lopt, "-l%u", pick(&s, 1, 9));
	if (byte(&s) % 4 == 0) {
		char epoch[32];
		snprintf(epoch, sizeof epoch, "%u", byte(&s) % 2 ? 0u : 1700000000u);
		setenv("SOURCE_DATE_EPOCH", epoch, 1);
	} else {
		unsetenv("SOURCE_DATE_EPOCH");
	}

	/* applications of valid names, each once */
	static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+";
	static const char rest[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-";
	char names[MAX_APPS][REP_NAME_MAX + 1];
	for (int i = 0; i < napps; i++) {
		unsigned len = byte(&s) % 8 == 0 ? REP_NAME_MAX : pick(&s, 1, 12);
		names[i][0] = first[byte(&s) % (sizeof first - 1)];
		for (unsigned k = 1; k < len; k++)
			names[i][k] = rest[byte(&s) % (sizeof rest - 1)];
		names[i][len] = 0;
		int dup = 0;
		for (int k = 0; k < i; k++)
			dup |= !strcmp(names[k], names[i]);
		if (dup)
			snprintf(names[i], sizeof names[i], "app%d", i);
	}
	for (int i = 0; i < napps; i++)
		make_app(&s, &made[i], names[i]);

	argv[n++] = bin_register;
	argv[n++] = "-q";
	for (int i = 0; i < napps; i++)
		argv[n++] = names[i];
	argv[n] = NULL;
	int rc = run(argv);
	if (rc != 0)
		fuzz_fail("rep-register failed (exit %d) on a legitimate tree: %s", rc,
		    contents(errfd, err, sizeof err));
	/* its records: NAME status FILES BYTES CHECKSUM registered updated */
	contents(outfd, out, sizeof out);
	struct rep_app reg[MAX_APPS];
	int nreg = 0;
	for (char *line = out, *next; *line && nreg < MAX_APPS; line = next) {
		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		struct rep_app *r = &reg[nreg++];
		long long files, bytes;
		if (sscanf(line, "%128[^\t]\t%*[^\t]\t%lld\t%lld\t%64[0-9a-f]", r->name, &files,
		    &bytes, r->checksum) != 4)
			fuzz_fail("rep-register's record is not as expected: %.200s", line);
		r->files = files;
		r->bytes = bytes;
	}
	if (nreg != napps)
		fuzz_fail("rep-register printed %d records for %d applications", nreg, napps);

	n = 0;
	argv[n++] = bin_tar;
	argv[n++] = "-q";
	argv[n++] = jopt;
	argv[n++] = lopt;
	for (int i = 0; i < napps; i++)
		argv[n++] = names[i];
	argv[n] = NULL;
	rc = run(argv);
	if (rc != 0)
		fuzz_fail("rep-tar %s %s failed (exit %d) on registered applications: %s", jopt,
		    lopt, rc, contents(errfd, err, sizeof err));
	contents(outfd, archive, sizeof archive);
	archive[strcspn(archive, "\n")] = 0;

	/* rep-tar -t checks in C.UTF-8, rep-push in the locale it was given
	 * (LC_ALL=C here): the verdict may depend on neither */
	for (int loc = 0; loc < 2; loc++) {
		static const char *const locales[] = { "C.UTF-8", "C" };
		static const char *volatile where;
		where = locales[loc];
		if (!setlocale(LC_CTYPE, where))
			abort();
		fuzz_catch(&caught, msgs);
		if (FUZZ_TRY(back)) {
			fuzz_caught(&caught, said, sizeof said);
			fuzz_fail("the check (LC_CTYPE=%s) refused rep-tar %s %s's own archive: %s",
			    where, jopt, lopt, said);
		}
		rep_archive_check(archive, &m);
		fuzz_caught(&caught, said, sizeof said);
		same_as_registered(&m, reg, made, napps);
		rep_manifest_free(&m);
	}
	setlocale(LC_CTYPE, "C");
	for (int i = 0; i < napps; i++)
		free_app(&made[i]);
	return 0;
}
