/* The walk of an application (lib/tree.c) against the rule of rep(7),
 * APPLICATION CONTENTS, and its checksum against the recipe of rep(7),
 * CHECKSUM (issue 17, items 1 and 2). From the input, one application
 * directory is made in a temporary applications directory (on a tmpfs if
 * there is one: fuzz_tmpdir): regular files (empty to a few hundred KiB,
 * executable or not), hard links to them, directories (empty or not,
 * nested, chains of long names up to and past the REP_PATH_MAX bytes of
 * an archive's path), symlinks with any target (absolute, "..", "." and
 * "//" leading or inner, names of the tree, raw bytes), FIFOs, sockets
 * and devices,
 * with names of any byte but '/' and NUL (control characters too). The
 * harness keeps its own model of what it made, and computes from it,
 * without the library:
 * (a) the problems rep must report, each as its line: a name with a
 *     control character, a FIFO, socket or device, a symlink whose target
 *     has a control character, or else is absolute or has ".." after a
 *     name or more leading ".." than directories above the link, a path
 *     too long (too_long); none below a directory that is itself a
 *     problem (not walked);
 * (b) with none, the checksum, files and bytes by rep(7)'s recipe.
 * Then rep_hash_apps (one job: the walk, then the files hashed on every
 * core; and, if the input says, as many jobs for the same directory as
 * make it share out whole applications: the walk that hashes as it goes,
 * through io_uring) and rep_tree_list (rep-tar's listing) must report
 * exactly those problems (all of them, nothing else), list exactly the
 * entries of the model, and give that checksum; a second hash with the
 * stat cache of the first (every row made fresh, so that it serves) must
 * give it again and leave the cache as it was. The rule is checked
 * twice over: the model's rule against rep_link_inside, and against the
 * kernel: with no problem, every symlink opened through the tree with
 * RESOLVE_BENEATH (openat2) must stay below the application's directory,
 * and no symlink that climbs out on its names alone (fuzz_climbs_out)
 * may pass the rule. As root, files and directories cannot be made
 * unreadable, so those problems are not made here (tests/ has them).
 * With REP_FUZZ_TREE_SHOW=1 in the environment, the harness prints the
 * entries an input makes and what rep must say of each on stderr (run
 * it on one input, without -close_fd_mask). */
#include <errno.h>
#include <linux/openat2.h>
#include <nettle/sha2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static char base[1024], apps[1100];
static int appsfd;
static unsigned char noise[512 * 1024];

static void remove_base(void)
{
	rep_rm_tree(AT_FDCWD, base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(base, sizeof base, "%s/rep-tree-XXXXXX", fuzz_tmpdir());
	if (!mkdtemp(base))
		abort();
	snprintf(apps, sizeof apps, "%s/apps", base);
	if (mkdir(apps, 0755) < 0 || (appsfd = open(apps, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	rep_opt.apps = rep_opt.apps_path = apps;
	rep_opt.quiet = 1;
	umask(022);
	fuzz_noise(noise, sizeof noise, 17);
	atexit(remove_base);
	return 0;
}

/* The model: directories (the application's own is 0) and entries. */
#define MAX_DIRS 64
#define MAX_ENTS 160
enum { P_NONE, P_LONG, P_CTRL, P_KIND, P_OUT, P_TARGET };
struct dir {
	char *rel;             /* "" for the application's own */
	int fd, depth;         /* depth: names in rel */
	int walked;            /* rep's walk goes in */
};
struct ent {
	char *rel;
	size_t nm;             /* where its name starts in rel */
	char kind;             /* f x l d, p (FIFO) s c b */
	int dir;               /* index of its directory */
	char *target;          /* of a symlink */
	const unsigned char *data;
	size_t size;
	int problem;           /* P_*, if its directory is walked */
	int listed;            /* among the entries rep lists */
};
static struct dir dirs[MAX_DIRS];
static struct ent ents[MAX_ENTS];
static int ndirs, nents;
static size_t budget;
static char app[REP_NAME_MAX + 1];

/* s for a message: a run of more than 8 of one byte shown as "c{N}"
 * (the long names of chains); in one of 4 static buffers. */
static const char *brief(const char *s)
{
	static char buf[4][4096];
	static int k;
	char *out = buf[k++ % 4], *w = out;

	while (*s && w < out + sizeof buf[0] - 16) {
		size_t run = strspn(s, (char[]){ *s, 0 });
		if (run > 8)
			w += sprintf(w, "%c{%zu}", *s, run);
		else
			w += sprintf(w, "%.*s", (int)run, s);
		s += run;
	}
	*w = 0;
	return out;
}

static int has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

/* Splits target into its names: count of leading "..", whether a ".."
 * comes after a name, names going down; "" and "." are nothing. */
static int rule_inside(int depth, const char *target)
{
	int ups = 0, names = 0;

	if (target[0] == '/' || target[0] == 0)
		return 0;
	char *copy = strdup(target), *save = NULL;
	if (!copy)
		abort();
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, ".."))
			ups += names ? 1000000 : 1;  /* after a name: never inside */
		else if (strcmp(c, "."))
			names++;
	}
	free(copy);
	return ups <= depth;
}

/* rep(7): a path is at most REP_PATH_MAX bytes as an archive holds it,
 * rep_applications/NAME/PATH; counted, as lib/tree.c counts it for every
 * entry, with the '/' after it that a directory's has. A longer one is
 * a problem, and not walked. */
/* As the archive would hold it: rep_applications/APP/REL, a directory
 * with its trailing '/' (extra 1). */
static int too_long(size_t rel, int extra)
{
	return strlen("rep_applications/") + strlen(app) + 1 + rel + (size_t)extra > REP_PATH_MAX;
}

/* Records an entry made in directory d under name nm (rel is d's path,
 * '/', nm) and what rep must think of it. */
static struct ent *note(int d, const char *nm, char kind, const char *target)
{
	if (nents == MAX_ENTS)
		abort();
	struct ent *e = &ents[nents++];
	size_t dl = strlen(dirs[d].rel), nl = strlen(nm);
	memset(e, 0, sizeof *e);
	e->rel = malloc(dl + nl + 2);
	if (!e->rel)
		abort();
	sprintf(e->rel, "%s%s%s", dirs[d].rel, dl ? "/" : "", nm);
	e->nm = strlen(e->rel) - nl;
	e->kind = kind;
	e->dir = d;
	if (target && !(e->target = strdup(target)))
		abort();
	if (!dirs[d].walked)
		return e;
	if (too_long(strlen(e->rel), 0))
		e->problem = P_LONG;
	else if (has_control(nm))
		e->problem = P_CTRL;
	else if (strchr("pscb", kind))
		e->problem = P_KIND;
	else if (kind == 'd' && too_long(strlen(e->rel), 1))
		e->problem = P_LONG;
	else if (kind == 'l' && has_control(target))
		e->problem = P_TARGET, e->listed = 1;
	else if (kind == 'l' && !rule_inside(dirs[d].depth, target))
		e->problem = P_OUT, e->listed = 1;
	else
		e->listed = 1;
	return e;
}

/* A name of 1 to 255 bytes, no '/' or NUL, not "." or "..". */
static void make_name(struct src *s, char *out, unsigned maxlen)
{
	static const char clean[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._- ";
	static const char *const odd[] = {
		"...", ".hidden", " ", "a b", "\\", "x:y", "a -> b", "a: b", "\xc3\xa9", "\xff",
		"-", "~", "*", "\n", "a\nf 0000 b", "\t", "\x1b[2J", "\x7f", "\r", "MANIFEST",
	};
	unsigned n = 0, want;

	switch (byte(s) % 8) {
	case 0: case 1: case 2:  /* clean, short */
		want = pick(s, 1, 10);
		while (n < want)
			out[n++] = clean[byte(s) % (sizeof clean - 1)];
		break;
	case 3: case 4:  /* raw bytes */
		want = pick(s, 1, 16);
		while (n < want) {
			unsigned c = byte(s);
			out[n++] = (char)(c == '/' || c == 0 ? '_' : c);
		}
		break;
	case 5: {        /* clean, one control byte in it */
		want = pick(s, 1, 10);
		while (n < want)
			out[n++] = clean[byte(s) % (sizeof clean - 1)];
		unsigned c = byte(s) % 33;
		out[byte(s) % n] = (char)(c == 32 ? 0x7f : c == 0 ? '\n' : c);
		break;
	}
	case 6:          /* long */
		want = pick(s, 100, 255);
		for (unsigned c = byte(s); n < want; n++)
			out[n] = clean[(c + n) % (sizeof clean - 1)];
		break;
	default: {
		const char *o = odd[byte(s) % (sizeof odd / sizeof *odd)];
		n = (unsigned)strlen(o);
		memcpy(out, o, n);
		break;
	}
	}
	if (n > maxlen)
		n = maxlen;
	out[n] = 0;
	if (!strcmp(out, ".") || !strcmp(out, ".."))
		strcpy(out, "n");
}

static int new_dir(int d, const char *nm)
{
	if (ndirs == MAX_DIRS || nents == MAX_ENTS || mkdirat(dirs[d].fd, nm, 0755) < 0)
		return -1;
	int fd = openat(dirs[d].fd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		abort();
	struct ent *e = note(d, nm, 'd', NULL);
	struct dir *n = &dirs[ndirs];
	if (!(n->rel = strdup(e->rel)))
		abort();
	n->fd = fd;
	n->depth = dirs[d].depth + 1;
	n->walked = e->listed;
	return ndirs++;
}

static void new_file(struct src *s, int d, const char *nm)
{
	static const unsigned sizes[] = { 65535, 65536, 65537, 262143, 262144, 262145, 300000 };
	static const mode_t modes[] = { 0644, 0755, 0600, 0700, 0444, 0555, 0100, 0000 };
	unsigned size;

	switch (byte(s) % 8) {
	case 0: case 1: case 2: size = 0; break;
	case 3: case 4: size = pick(s, 1, 300); break;
	case 5: case 6: size = pick(s, 301, 70000); break;
	default: size = sizes[byte(s) % 7]; break;
	}
	if (size > budget)
		size = (unsigned)budget;
	mode_t mode = modes[byte(s) % 8];
	const unsigned char *data = noise + pick(s, 0, 65535) * 3;
	if (nents == MAX_ENTS)
		return;
	int f = openat(dirs[d].fd, nm, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f < 0)
		return;
	if (write(f, data, size) != (ssize_t)size || fchmod(f, mode) < 0)
		abort();
	close(f);
	budget -= size;
	struct ent *e = note(d, nm, mode & S_IXUSR ? 'x' : 'f', NULL);
	e->data = data;
	e->size = size;
}

/* A target: absolute or not, of "..", ".", "" and names (some of them
 * the tree's own directories), or raw bytes. */
static void make_target(struct src *s, char *t, size_t cap)
{
	size_t n = 0;
	unsigned shape = byte(s);

	if (shape % 8 == 7) {  /* raw */
		unsigned want = pick(s, 1, 40);
		for (unsigned i = 0; i < want && n + 1 < cap; i++) {
			unsigned c = byte(s);
			t[n++] = (char)(c ? c : '.');
		}
		t[n] = 0;
		return;
	}
	if (shape % 6 == 0)
		n += (size_t)snprintf(t + n, cap - n, "%s", shape % 12 ? "/" : "//");
	unsigned parts = byte(s) % 7;
	char nm[256];
	for (unsigned i = 0; i < parts && n + 300 < cap; i++) {
		unsigned c = byte(s) % 10;
		const char *p = c < 4 ? ".." : c == 4 ? "." : c == 5 ? "" : NULL;
		if (c == 6) {
			p = dirs[byte(s) % (unsigned)ndirs].rel;
		} else if (!p) {
			make_name(s, nm, 40);
			p = nm;
		}
		n += (size_t)snprintf(t + n, cap - n, "%s%s", i ? "/" : "", p);
		if (n >= cap)
			n = cap - 1;  /* cut: a target is up to 4095 bytes */
	}
	if (shape % 5 == 1 && n + 1 < cap)
		t[n++] = '/';
	t[n] = 0;
	if (n == 0)
		snprintf(t, cap, "%s", shape % 2 ? "." : "./");
}

static void new_link(struct src *s, int d, const char *nm)
{
	char target[4096];

	make_target(s, target, sizeof target);
	if (nents == MAX_ENTS || symlinkat(target, dirs[d].fd, nm) < 0)
		return;
	note(d, nm, 'l', target);
	/* fuzz.h's plainer statement: on the names, without symlinks */
	if (fuzz_climbs_out(ents[nents - 1].rel, target) && rule_inside(dirs[d].depth, target))
		fuzz_fail("the rule passes %s -> %s, which climbs out on its names",
		    brief(ents[nents - 1].rel), brief(target));
	if (rep_link_inside(ents[nents - 1].rel, target) != rule_inside(dirs[d].depth, target))
		fuzz_fail("rep_link_inside(%s, %s) is %d; rep(7)'s rule says the opposite",
		    brief(ents[nents - 1].rel), brief(target), rep_link_inside(ents[nents - 1].rel, target));
}

static void new_special(struct src *s, int d, const char *nm)
{
	static const char kinds[] = "pscb";
	char kind = kinds[byte(s) % 4];
	mode_t mode = kind == 'p' ? S_IFIFO : kind == 's' ? S_IFSOCK : kind == 'c' ? S_IFCHR : S_IFBLK;
	dev_t dev = kind == 'c' ? makedev(1, 3) : kind == 'b' ? makedev(7, 200) : 0;

	if (nents == MAX_ENTS || mknodat(dirs[d].fd, nm, mode | 0644, dev) < 0)
		return;
	note(d, nm, kind, NULL);
}

static void new_hardlink(struct src *s, int d, const char *nm)
{
	int files[MAX_ENTS], n = 0;

	for (int i = 0; i < nents; i++)
		if (ents[i].kind == 'f' || ents[i].kind == 'x')
			files[n++] = i;
	if (!n || nents == MAX_ENTS)
		return;
	const struct ent *from = &ents[files[byte(s) % (unsigned)n]];
	const unsigned char *data = from->data;
	size_t size = from->size;
	char kind = from->kind;
	if (linkat(dirs[from->dir].fd, from->rel + from->nm, dirs[d].fd, nm, 0) < 0)
		return;
	struct ent *e = note(d, nm, kind, NULL);
	e->data = data;
	e->size = size;
}

/* Directories of long names down to a path of about want bytes, then
 * something at its end. */
static void new_chain(struct src *s, int d)
{
	unsigned want = pick(s, 3800, 4200);
	char nm[256];

	for (;;) {
		size_t have = strlen(dirs[d].rel) + (dirs[d].rel[0] != 0);
		if (have >= want)
			return;
		size_t left = want - have;
		if (left <= 255) {
			memset(nm, 'e', left);
			nm[left] = 0;
			switch (byte(s) % 4) {
			case 0: new_file(s, d, nm); break;
			case 1: new_link(s, d, nm); break;
			case 2: new_special(s, d, nm); break;
			default: new_dir(d, nm); break;
			}
			return;
		}
		size_t len = left - 2 < 255 ? left - 2 : 255;
		memset(nm, 'c', len);
		nm[len] = 0;
		nm[0] = (char)('A' + ndirs % 26);
		if ((d = new_dir(d, nm)) < 0)
			return;
	}
}

static void make_app(struct src *s)
{
	static const char *const names[] = { "a", "app", "app-1.2_x+y" };
	char nm[256];

	if (byte(s) % 4 == 0) {
		memset(app, 'q', REP_NAME_MAX);
		app[REP_NAME_MAX] = 0;
	} else {
		snprintf(app, sizeof app, "%s", names[byte(s) % 3]);
	}
	if (mkdirat(appsfd, app, 0755) < 0)
		abort();
	dirs[0].rel = strdup("");
	dirs[0].fd = openat(appsfd, app, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!dirs[0].rel || dirs[0].fd < 0)
		abort();
	dirs[0].depth = 0;
	dirs[0].walked = 1;
	ndirs = 1;
	nents = 0;
	budget = 1024 * 1024;
	unsigned ops = byte(s) % 48;
	for (unsigned i = 0; i < ops && s->n; i++) {
		unsigned op = byte(s) % 16;
		int d = (int)(byte(s) % (unsigned)ndirs);
		make_name(s, nm, 255);
		if (op < 5)
			new_file(s, d, nm);
		else if (op < 8)
			new_dir(d, nm);
		else if (op < 12)
			new_link(s, d, nm);
		else if (op < 14)
			new_special(s, d, nm);
		else if (op < 15)
			new_hardlink(s, d, nm);
		else
			new_chain(s, d);
	}
}

static void free_app(void)
{
	for (int i = 0; i < ndirs; i++) {
		free(dirs[i].rel);
		close(dirs[i].fd);
	}
	for (int i = 0; i < nents; i++) {
		free(ents[i].rel);
		free(ents[i].target);
	}
	rep_rm_tree(appsfd, app);
}

/* --- what rep must say ------------------------------------------------ */

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The problem lines of the model, sorted, in lines[]; their count. */
static size_t expected(char **lines)
{
	size_t n = 0;

	for (int i = 0; i < nents; i++) {
		const struct ent *e = &ents[i];
		const char *kind = e->kind == 'p' ? "a FIFO" : e->kind == 's' ? "a socket" :
		    e->kind == 'c' ? "a character device" : "a block device";
		int rc = 0;
		switch (e->problem) {
		case P_NONE: continue;
		case P_LONG: rc = asprintf(&lines[n], "%s/%s: path too long (an archive holds at most %d bytes)",
		    app, e->rel, REP_PATH_MAX); break;
		case P_CTRL: rc = asprintf(&lines[n], "%s/%s: a name with a control character", app, e->rel); break;
		case P_KIND: rc = asprintf(&lines[n], "%s/%s: %s, not a regular file, directory or symlink",
		    app, e->rel, kind); break;
		case P_OUT: rc = asprintf(&lines[n], "%s/%s -> %s: symlink points outside the application",
		    app, e->rel, e->target); break;
		case P_TARGET: rc = asprintf(&lines[n], "%s/%s: a symlink target with a control character",
		    app, e->rel); break;
		}
		if (rc < 0)
			abort();
		n++;
	}
	qsort(lines, n, sizeof *lines, by_str);
	return n;
}

/* The problems rep found are exactly those of the model. */
static void same_problems(const char *who, const struct rep_problems *got, char **want, size_t nwant)
{
	char **have = malloc((got->n + 1) * sizeof *have);
	if (!have)
		abort();
	if (got->n)
		memcpy(have, got->v, got->n * sizeof *have);
	qsort(have, got->n, sizeof *have, by_str);
	size_t i = 0, j = 0;
	while (i < got->n || j < nwant) {
		int c = i == got->n ? 1 : j == nwant ? -1 : strcmp(have[i], want[j]);
		if (c) {
			static char all[2800];
			size_t w = 0;
			for (size_t k = 0; k < got->n && w < sizeof all - 1; k++)
				w += (size_t)snprintf(all + w, sizeof all - w, "\n  reported: %s", brief(have[k]));
			for (size_t k = 0; k < nwant && w < sizeof all - 1; k++)
				w += (size_t)snprintf(all + w, sizeof all - w, "\n  expected: %s", brief(want[k]));
			fuzz_fail("%s: %s: %s%s", who, c < 0 ? "a problem reported, not one by rep(7)'s rule"
			    : "a problem not reported", brief(c < 0 ? have[i] : want[j]), all);
		}
		i++, j++;
	}
	free(have);
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct ent *const *)a)->rel, (*(const struct ent *const *)b)->rel);
}

/* The listed entries of the model, in path order. */
static size_t listed(const struct ent **out)
{
	size_t n = 0;
	for (int i = 0; i < nents; i++)
		if (ents[i].listed)
			out[n++] = &ents[i];
	qsort(out, n, sizeof *out, ent_cmp);
	return n;
}

static void hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* rep(7), CHECKSUM: "TYPE SP HEX SP PATH LF" for each regular file and
 * symlink, in bytewise order of their paths; the SHA-256 of it all. */
static void recipe(struct rep_sum *sum)
{
	const struct ent *e[MAX_ENTS];
	size_t n = listed(e);
	struct sha256_ctx all, one;
	uint8_t d[SHA256_DIGEST_SIZE];
	char h[2 * SHA256_DIGEST_SIZE + 1];

	sha256_init(&all);
	sum->files = sum->bytes = 0;
	for (size_t i = 0; i < n; i++) {
		if (e[i]->kind == 'd')
			continue;
		sha256_init(&one);
		if (e[i]->kind == 'l')
			sha256_update(&one, strlen(e[i]->target), (const uint8_t *)e[i]->target);
		else
			sha256_update(&one, e[i]->size, e[i]->data);
		sha256_digest(&one, sizeof d, d);
		hex(d, h);
		char *line;
		int len = asprintf(&line, "%c %s %s\n", e[i]->kind, h, e[i]->rel);
		if (len < 0)
			abort();
		sha256_update(&all, (size_t)len, (const uint8_t *)line);
		free(line);
		sum->files++;
		sum->bytes += e[i]->kind == 'l' ? 0 : (int64_t)e[i]->size;
	}
	sha256_digest(&all, sizeof d, d);
	hex(d, sum->checksum);
}

static void same_sum(const char *who, const struct rep_sum *got, const struct rep_sum *want)
{
	if (got->files != want->files || got->bytes != want->bytes || strcmp(got->checksum, want->checksum))
		fuzz_fail("%s: %lld files, %lld bytes, %.16s; rep(7)'s recipe: %lld, %lld, %.16s", who,
		    (long long)got->files, (long long)got->bytes, got->checksum,
		    (long long)want->files, (long long)want->bytes, want->checksum);
}

/* rep_tree_list lists exactly the listed entries of the model. */
static void same_tree(const struct rep_tree *t)
{
	const struct ent *e[MAX_ENTS];
	size_t n = listed(e);

	if (t->n != n)
		fuzz_fail("rep_tree_list: %zu entries; the model %zu", t->n, n);
	for (size_t i = 0; i < n; i++) {
		const struct rep_entry *r = &t->e[i];
		if (strcmp(r->path, e[i]->rel) || r->type != e[i]->kind ||
		    (r->type == 'l') != (r->target != NULL) ||
		    (r->target && strcmp(r->target, e[i]->target)))
			fuzz_fail("rep_tree_list: entry %zu is %c %s%s%s; the model's %c %s%s%s", i,
			    r->type, brief(r->path), r->target ? " -> " : "", r->target ? brief(r->target) : "",
			    e[i]->kind, brief(e[i]->rel), e[i]->target ? " -> " : "",
			    e[i]->target ? brief(e[i]->target) : "");
	}
}

/* With no problem, no symlink leads out of the application, as the
 * kernel resolves it: following every link on the way. */
static void kernel_beneath(void)
{
	for (int i = 0; i < nents; i++) {
		if (ents[i].kind != 'l')
			continue;
		struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
		long fd = syscall(SYS_openat2, dirs[0].fd, ents[i].rel, &how, sizeof how);
		if (fd >= 0)
			close((int)fd);
		else if (errno == EXDEV)
			fuzz_fail("%s/%s -> %s: passed, and the kernel resolves it outside the application",
			    app, brief(ents[i].rel), brief(ents[i].target));
	}
}

static jmp_buf back;

static void hash(struct rep_hash_job *jobs, size_t n, int flags)
{
	if (FUZZ_TRY(back))
		fuzz_fail("rep_hash_apps died on %s (%zu jobs)", app, n);
	rep_hash_apps(appsfd, jobs, n, flags, NULL);
	rep_fuzz_jmp = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rep_hash_job jobs[64];
	static char *want[MAX_ENTS];
	struct src s = { data, size };
	unsigned how = byte(&s);

	make_app(&s);
	size_t nwant = expected(want);
	if (getenv("REP_FUZZ_TREE_SHOW"))  /* what an input makes */
		for (int i = 0; i < nents; i++)
			fprintf(stderr, "%c %s%s%s%s\n", ents[i].kind, brief(ents[i].rel),
			    ents[i].target ? " -> " : "", ents[i].target ? brief(ents[i].target) : "",
			    (const char *[]){ "", ": path too long", ": control character", ": kind",
			    ": outside", ": control character in target" }[ents[i].problem]);
	struct rep_sum sum;
	recipe(&sum);

	/* one job: walked, then its files hashed on every core */
	memset(jobs, 0, sizeof jobs);
	jobs[0].name = app;
	hash(jobs, 1, 0);
	same_problems("rep_hash_apps", &jobs[0].bad, want, nwant);
	if (!nwant)
		same_sum("rep_hash_apps", &jobs[0].sum, &sum);

	/* as many jobs as share out whole applications (lib/tree.c,
	 * app_worker): the walk hashes as it goes */
	if (how % 2) {
		size_t n = 4 * (size_t)rep_nthreads();
		struct rep_hash_job *many = jobs + 1;
		if (n > 63)
			n = 63;
		for (size_t i = 0; i < n; i++)
			many[i].name = app;
		hash(many, n, 0);
		for (size_t i = 0; i < n; i++) {
			same_problems("rep_hash_apps, many jobs", &many[i].bad, want, nwant);
			if (!nwant)
				same_sum("rep_hash_apps, many jobs", &many[i].sum, &sum);
			rep_cache_free(&many[i]);
		}
	}

	/* the listing of rep-tar */
	struct rep_tree tree;
	if (FUZZ_TRY(back))
		fuzz_fail("rep_tree_list died on %s", app);
	rep_tree_list(appsfd, app, &tree);
	rep_fuzz_jmp = NULL;
	same_problems("rep_tree_list", &tree.bad, want, nwant);
	same_tree(&tree);
	rep_tree_free(&tree);

	if (!nwant) {
		kernel_beneath();
		/* the stat cache of the first hash, every row fresh: it
		 * serves (or, with REP_HASH_ALL, is checked), and stays */
		struct rep_hash_job again = { .name = app, .app_id = 1, .cache = jobs[0].cache,
			.ncache = jobs[0].ncache };
		for (size_t i = 0; i < again.ncache; i++)
			again.cache[i].cached_ns = INT64_MAX;
		jobs[0].cache = NULL;
		jobs[0].ncache = 0;
		hash(&again, 1, how & 2 ? REP_HASH_ALL : 0);
		same_problems("rep_hash_apps, with the cache", &again.bad, want, nwant);
		same_sum("rep_hash_apps, with the cache", &again.sum, &sum);
		if (again.dirty)
			fuzz_fail("rep_hash_apps: the cache of an unchanged tree was replaced (%zu rows)",
			    again.ncache);
		rep_cache_free(&again);
	}
	rep_cache_free(&jobs[0]);
	for (size_t i = 0; i < nwant; i++)
		free(want[i]);
	free_app();
	return 0;
}
