/* Archives: writing rep's tar.gz with libarchive over the parallel gzip
 * of gz.c, and reading one back to check it against its manifest. */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "rep.h"

#define MANIFEST "MANIFEST"
#define TOP "rep_applications"

struct rep_tar {
	struct archive *a;
	struct archive_entry *e;
	struct rep_gz *gz;
	const char *label;
	int64_t clamp;           /* SOURCE_DATE_EPOCH, or -1 */
};

static _Noreturn void tar_die(struct rep_tar *t)
{
	rep_die("%s: %s", t->label, archive_error_string(t->a));
}

static la_ssize_t tar_out(struct archive *a, void *arg, const void *buf, size_t n)
{
	(void)a;
	rep_gz_write(arg, buf, n);
	return (la_ssize_t)n;
}

struct rep_tar *rep_tar_open(int fd, const char *label, int level, int threads, int64_t clamp)
{
	struct rep_tar *t = calloc(1, sizeof *t);

	if (!t || !(t->a = archive_write_new()) || !(t->e = archive_entry_new()))
		rep_die("out of memory");
	t->label = label;
	t->clamp = clamp;
	t->gz = rep_gz_open(fd, label, level, threads);
	if (archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
	    archive_write_open2(t->a, t->gz, NULL, tar_out, NULL, NULL) != ARCHIVE_OK)
		tar_die(t);
	return t;
}

static void header(struct rep_tar *t, const char *path, int type, int perm, int64_t size,
    int64_t mtime, const char *target)
{
	struct archive_entry *e = t->e;

	archive_entry_clear(e);
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, (unsigned)type);
	archive_entry_set_perm(e, (mode_t)perm);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_size(e, size);
	if (t->clamp >= 0 && mtime > t->clamp)
		mtime = t->clamp;
	archive_entry_set_mtime(e, mtime, 0);
	if (target)
		archive_entry_set_symlink(e, target);
	/* ARCHIVE_WARN: a name that is not UTF-8 went in as binary
	 * (hdrcharset=BINARY); the entry is written. */
	int rc = archive_write_header(t->a, e);
	if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
		tar_die(t);
}

void rep_tar_dir(struct rep_tar *t, const char *path, int64_t mtime)
{
	header(t, path, AE_IFDIR, 0755, 0, mtime, NULL);
}

void rep_tar_symlink(struct rep_tar *t, const char *path, const char *target, int64_t mtime)
{
	header(t, path, AE_IFLNK, 0777, 0, mtime, target);
}

void rep_tar_file(struct rep_tar *t, const char *path, int exec, int64_t size, int64_t mtime)
{
	header(t, path, AE_IFREG, exec ? 0755 : 0644, size, mtime, NULL);
}

void rep_tar_data(struct rep_tar *t, const void *buf, size_t n)
{
	if (archive_write_data(t->a, buf, n) != (la_ssize_t)n)
		tar_die(t);
}

int64_t rep_tar_close(struct rep_tar *t)
{
	if (archive_write_close(t->a) != ARCHIVE_OK)
		tar_die(t);
	archive_write_free(t->a);
	archive_entry_free(t->e);
	int64_t n = rep_gz_close(t->gz);
	free(t);
	return n;
}

/* Whether a symlink at rel (inside an application) pointing to target
 * stays inside the application, on the names alone. Going up is allowed
 * only at the start of the target: then the ".." walk real parent
 * directories, and every later component goes down, so no chain of such
 * links can climb out (one to "." followed by "x/../.." could). */
int rep_link_inside(const char *rel, const char *target)
{
	int depth = 0, ups = 0, down = 0;

	if (target[0] == '/' || target[0] == 0)
		return 0;
	for (const char *p = rel; (p = strchr(p, '/')); p++)
		depth++;
	for (const char *p = target; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (down)
				return 0;
			ups++;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			down++;
		}
		p += n;
		p += *p == '/';
	}
	return ups <= depth;
}

/* libarchive's message, or what a reader with none would mean. */
static const char *read_error(struct archive *a)
{
	const char *e = archive_error_string(a);
	return e ? e : "truncated or corrupt archive";
}

/* The gzip layer of an archive being read, decoded by zlib, which checks
 * every member's CRC-32 and length (libarchive's reader does not): only
 * gzip, and nothing after the last member. */
struct gunzip {
	FILE *fp;
	const char *path;
	z_stream z;
	int ended;                /* the current member is complete */
	unsigned char in[64 * 1024], out[256 * 1024];
};

static la_ssize_t gunzip_read(struct archive *a, void *arg, const void **buf)
{
	struct gunzip *g = arg;
	(void)a;

	g->z.next_out = g->out;
	g->z.avail_out = sizeof g->out;
	while (g->z.avail_out == sizeof g->out) {
		if (g->z.avail_in == 0) {
			g->z.avail_in = (uInt)fread(g->in, 1, sizeof g->in, g->fp);
			g->z.next_in = g->in;
			if (ferror(g->fp))
				rep_die_errno("%s", g->path);
			if (g->z.avail_in == 0) {
				if (!g->ended)
					rep_die("%s: truncated archive", g->path);
				break;
			}
		}
		if (g->ended) {
			/* another member may follow, and nothing else */
			if (g->z.avail_in == 1 && !feof(g->fp)) {
				g->in[0] = g->z.next_in[0];
				g->z.next_in = g->in;
				g->z.avail_in += (uInt)fread(g->in + 1, 1, sizeof g->in - 1, g->fp);
				if (ferror(g->fp))
					rep_die_errno("%s", g->path);
			}
			if (g->z.avail_in < 2 || g->z.next_in[0] != 0x1f || g->z.next_in[1] != 0x8b)
				rep_die("%s: data after the end of the gzip stream", g->path);
			inflateReset(&g->z);
			g->ended = 0;
		}
		int rc = inflate(&g->z, Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			g->ended = 1;
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			rep_die("%s: corrupt gzip data: %s", g->path, g->z.msg ? g->z.msg : "bad stream");
	}
	*buf = g->out;
	return (la_ssize_t)(sizeof g->out - g->z.avail_out);
}

/* Reading an archive back: the manifest first, then every entry checked
 * against it; an application's checksum is folded from its entries. */
struct app_seen {
	struct rep_app want;
	struct rep_entry *e;
	size_t n, cap;
	struct rep_strset links;  /* an entry below one would be written through it */
};

static void parse_manifest(const char *label, char *text, struct rep_strset *apps)
{
	char *save, *line;
	unsigned long lineno = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[5], *end;
		int nf = 0;
		lineno++;
		if (*line == '#')
			continue;
		for (char *p = line; nf < 5 && p; nf++) {
			f[nf] = p;
			if ((p = strchr(p, '\t')))
				*p++ = 0;
		}
		struct app_seen *s = calloc(1, sizeof *s);
		if (!s)
			rep_die("out of memory");
		if (nf != 4 || !rep_name_valid(f[0]) || strlen(f[3]) != 64)
			rep_die("%s: %s:%lu: not a manifest record", label, MANIFEST, lineno);
		snprintf(s->want.name, sizeof s->want.name, "%s", f[0]);
		s->want.files = strtoll(f[1], &end, 10);
		if (*end || s->want.files < 0)
			rep_die("%s: %s:%lu: not a manifest record", label, MANIFEST, lineno);
		s->want.bytes = strtoll(f[2], &end, 10);
		if (*end || s->want.bytes < 0)
			rep_die("%s: %s:%lu: not a manifest record", label, MANIFEST, lineno);
		memcpy(s->want.checksum, f[3], 65);
		if (!rep_strset_add(apps, f[0], s))
			rep_die("%s: %s: %s listed twice", label, MANIFEST, f[0]);
	}
}

static char *read_whole(struct archive *a, const char *label, int64_t size)
{
	if (size < 0 || size > 64 * 1024 * 1024)
		rep_die("%s: %s: too large", label, MANIFEST);
	char *buf = rep_xmalloc((size_t)size + 1);
	if (archive_read_data(a, buf, (size_t)size) != (la_ssize_t)size)
		rep_die("%s: %s: %s", label, MANIFEST, read_error(a));
	buf[size] = 0;
	if (memchr(buf, 0, (size_t)size))
		rep_die("%s: %s: NUL byte", label, MANIFEST);
	return buf;
}

static int bad_path(const char *p)
{
	if (p[0] == '/')
		return 1;
	for (const unsigned char *c = (const unsigned char *)p; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return 1;
	for (const char *s = p; *s;) {
		size_t n = strcspn(s, "/");
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return 1;
		s += n;
		s += *s == '/';
	}
	return 0;
}

static void hash_data(struct archive *a, const char *label, const char *path,
    struct rep_entry *e)
{
	struct sha256_ctx c;
	const void *buf;
	size_t n;
	la_int64_t off;
	int rc;

	sha256_init(&c);
	e->size = 0;
	while ((rc = archive_read_data_block(a, &buf, &n, &off)) == ARCHIVE_OK) {
		if (off != e->size)
			rep_die("%s: %s: sparse entries are not allowed", label, path);
		sha256_update(&c, n, buf);
		e->size += (int64_t)n;
	}
	if (rc != ARCHIVE_EOF)
		rep_die("%s: %s: %s", label, path, read_error(a));
	sha256_digest(&c, sizeof e->digest, e->digest);
}

static void add_seen(struct app_seen *s, const char *rel, char type)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 32;
		s->e = rep_xrealloc(s->e, s->cap * sizeof *s->e);
	}
	memset(&s->e[s->n], 0, sizeof *s->e);
	s->e[s->n].path = rep_xstrdup(rel);
	s->e[s->n].type = type;
	s->n++;
}

static struct rep_entry *check_entry(struct archive *a, struct archive_entry *ae,
    const char *label, struct rep_strset *apps)
{
	const char *path = archive_entry_pathname(ae);
	char name[REP_NAME_MAX + 1];
	int type = (int)archive_entry_filetype(ae);

	if (!path || bad_path(path))
		rep_die("%s: %s: unsafe path", label, path ? path : "(none)");
	if (archive_entry_hardlink(ae))
		rep_die("%s: %s: hard links are not allowed", label, path);
	if (type != AE_IFDIR && type != AE_IFREG && type != AE_IFLNK)
		rep_die("%s: %s: not a regular file, directory or symlink", label, path);
	size_t top = strlen(TOP);
	if (strncmp(path, TOP, top) != 0 || (path[top] != '/' && path[top] != 0))
		rep_die("%s: %s: outside %s/", label, path, TOP);
	const char *p = path + top + (path[top] == '/');
	size_t n = strcspn(p, "/");
	if (n == 0) {
		if (type != AE_IFDIR)
			rep_die("%s: %s: not a directory", label, path);
		return NULL;
	}
	snprintf(name, sizeof name, "%.*s", (int)(n > REP_NAME_MAX ? REP_NAME_MAX + 1 : n), p);
	long i = rep_strset_find(apps, name);
	if (n > REP_NAME_MAX || i < 0)
		rep_die("%s: %s: application not in the manifest", label, path);
	struct app_seen *s = apps->val[i];
	const char *rel = p + n + (p[n] == '/');
	if (!*rel) {
		if (type != AE_IFDIR)
			rep_die("%s: %s: not a directory", label, path);
		return NULL;
	}
	for (const char *slash = rel; (slash = strchr(slash, '/')); slash++) {
		char *parent = rep_xstrdup(rel);
		parent[slash - rel] = 0;
		int through = rep_strset_find(&s->links, parent) >= 0;
		free(parent);
		if (through)
			rep_die("%s: %s: path goes through a symlink", label, path);
	}
	if (type == AE_IFDIR)
		return NULL;
	if (type == AE_IFLNK) {
		rep_strset_add(&s->links, rel, NULL);
		const char *target = archive_entry_symlink(ae);
		if (!target || !rep_link_inside(rel, target))
			rep_die("%s: %s: symlink points outside its application", label, path);
		add_seen(s, rel, 'l');
		struct rep_entry *e = &s->e[s->n - 1];
		struct sha256_ctx c;
		sha256_init(&c);
		sha256_update(&c, strlen(target), (const uint8_t *)target);
		sha256_digest(&c, sizeof e->digest, e->digest);
		return e;
	}
	add_seen(s, rel, archive_entry_perm(ae) & 0100 ? 'x' : 'f');
	hash_data(a, label, path, &s->e[s->n - 1]);
	return &s->e[s->n - 1];
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct rep_entry *)a)->path, ((const struct rep_entry *)b)->path);
}

static void compare(const char *label, struct app_seen *s)
{
	struct rep_fold f;
	struct rep_sum sum;

	if (s->n)
		qsort(s->e, s->n, sizeof *s->e, by_path);
	rep_fold_init(&f);
	for (size_t i = 0; i < s->n; i++) {
		if (i && strcmp(s->e[i - 1].path, s->e[i].path) == 0)
			rep_die("%s: %s/%s/%s: entry twice", label, TOP, s->want.name, s->e[i].path);
		rep_fold_add(&f, s->e[i].type, s->e[i].path, s->e[i].digest, s->e[i].size);
	}
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].path);
	free(s->e);
	rep_strset_free(&s->links);
	rep_fold_end(&f, &sum);
	if (sum.files != s->want.files || sum.bytes != s->want.bytes ||
	    strcmp(sum.checksum, s->want.checksum) != 0)
		rep_die("%s: %s: content does not match the manifest", label, s->want.name);
}

/* Checks an archive; prints its manifest records to out (if not NULL)
 * once everything matched. Dies on the first problem. */
void rep_archive_verify(const char *path, FILE *out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	struct rep_strset apps = { 0 };
	int rc;

	struct gunzip *g = calloc(1, sizeof *g);
	if (!a || !g)
		rep_die("out of memory");
	g->path = path;
	if (!(g->fp = fopen(path, "rb")))
		rep_die_errno("%s", path);
	int c0 = getc(g->fp), c1 = getc(g->fp);
	if (ferror(g->fp))
		rep_die_errno("%s", path);
	if (c0 != 0x1f || c1 != 0x8b)
		rep_die("%s: not a gzip-compressed tar archive", path);
	rewind(g->fp);
	if (inflateInit2(&g->z, 16 + 15) != Z_OK)
		rep_die("out of memory");
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open(a, g, NULL, gunzip_read, NULL) != ARCHIVE_OK)
		rep_die("%s: %s", path, read_error(a));
	rc = archive_read_next_header(a, &ae);
	if (rc != ARCHIVE_OK)
		rep_die("%s: %s", path, rc == ARCHIVE_EOF ? "empty archive" : read_error(a));
	if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_TAR)
		rep_die("%s: not a gzip-compressed tar archive", path);
	if (strcmp(archive_entry_pathname(ae), MANIFEST) != 0 || archive_entry_filetype(ae) != AE_IFREG)
		rep_die("%s: first entry is not %s", path, MANIFEST);
	char *text = read_whole(a, path, archive_entry_size(ae));
	parse_manifest(path, text, &apps);
	free(text);
	while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK)
		check_entry(a, ae, path, &apps);
	if (rc != ARCHIVE_EOF)
		rep_die("%s: %s", path, read_error(a));
	/* After the tar's end: zero padding to the end of the gzip data, and
	 * nothing else (tar would not unpack it, so it was never checked). */
	const void *rest;
	la_ssize_t n;
	while ((n = gunzip_read(a, g, &rest)) > 0)
		for (la_ssize_t i = 0; i < n; i++)
			if (((const unsigned char *)rest)[i])
				rep_die("%s: data after the end of the archive", path);
	archive_read_free(a);
	inflateEnd(&g->z);
	fclose(g->fp);
	free(g);
	for (size_t i = 0; i < apps.n; i++)
		compare(path, apps.val[i]);
	for (size_t i = 0; out && i < apps.n; i++)
		rep_put_app(out, &((struct app_seen *)apps.val[i])->want,
		    rep_manifest_fields, REP_MANIFEST_NFIELDS);
	rep_strset_free(&apps);
}
