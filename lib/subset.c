/* Part of a checked archive as an archive of its own: what a push sends a
 * target that already runs the rest (rep-push(1), "What travels").
 *
 * The tar stream of rep's archives holds each application's entries as
 * one run of bytes, from its directory's header to the next one's (the
 * offsets a check reads, rep_manifest_app.at), and its gzip members each
 * hold 1 MiB of that stream. So the part is made without unpacking
 * anything: a new head (a MANIFEST of the applications sent, then
 * rep_applications/), the runs of those applications copied from the
 * members that hold them, and the end-of-archive blocks, compressed as
 * rep-tar compresses. The caller checks what this writes as any archive
 * is checked, against rows copied from the checked archive's MANIFEST:
 * what the copy read is what was checked, or the push stops. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rep.h"

#define TAR_BLOCK 512
#define TAR_RECORD 10240

struct members {
	int fd;
	int64_t *at;              /* each member's offset in the file */
	size_t n;
	long cached;              /* the member inflated last, or -1 */
	unsigned char *in, *out;
	size_t outlen;
	struct libdeflate_decompressor *d;
};

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int read_at(int fd, void *buf, size_t n, int64_t at)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(at + (int64_t)got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* The chain of members, each of 1 MiB of tar but the last: 0, or -1 when
 * the file is not in that form (an archive of an earlier version). */
static int chain(struct members *ms, int64_t size, int64_t tar_size)
{
	size_t cap = 0;
	int64_t at = 0, data = 0;
	unsigned char h[REP_GZ_HEADER], t[4];

	while (at < size) {
		long len = read_at(ms->fd, h, sizeof h, at) < 0 ? -1 : rep_gz_member_size(h);
		if (len < 0 || at + len > size || read_at(ms->fd, t, 4, at + len - 4) < 0)
			return -1;
		if (data != (int64_t)ms->n * REP_GZ_BLOCK)
			return -1;        /* a member before this one held less than 1 MiB */
		if (ms->n == cap) {
			cap = cap ? 2 * cap : 64;
			ms->at = realloc(ms->at, cap * sizeof *ms->at);
			if (!ms->at)
				rep_die("out of memory");
		}
		ms->at[ms->n++] = at;
		data += get32(t);
		at += len;
	}
	return data == tar_size ? 0 : -1;
}

/* Member k inflated into ms->out; -1 if it does not inflate to what its
 * trailer says (the file changed since it was checked). */
static int inflate_member(struct members *ms, size_t k)
{
	if (ms->cached == (long)k)
		return 0;
	int64_t end = k + 1 < ms->n ? ms->at[k + 1] : -1;
	struct stat st;
	if (end < 0) {
		if (fstat(ms->fd, &st) < 0)
			return -1;
		end = st.st_size;
	}
	size_t len = (size_t)(end - ms->at[k]);
	if (len > REP_GZ_MEMBER_MAX || read_at(ms->fd, ms->in, len, ms->at[k]) < 0)
		return -1;
	size_t in_used = 0, out = 0;
	if (libdeflate_gzip_decompress_ex(ms->d, ms->in, len, ms->out, REP_GZ_BLOCK, &in_used, &out) !=
	    LIBDEFLATE_SUCCESS || in_used != len)
		return -1;
	ms->cached = (long)k;
	ms->outlen = out;
	return 0;
}

/* Bytes [from, to) of the tar stream, written to gz. */
static int copy_run(struct members *ms, struct rep_gz *gz, int64_t from, int64_t to)
{
	while (from < to) {
		size_t k = (size_t)(from / REP_GZ_BLOCK);
		if (k >= ms->n || inflate_member(ms, k) < 0)
			return -1;
		size_t off = (size_t)(from % REP_GZ_BLOCK);
		size_t n = ms->outlen > off ? ms->outlen - off : 0;
		if ((int64_t)n > to - from)
			n = (size_t)(to - from);
		if (n == 0)
			return -1;
		rep_gz_write(gz, ms->out + off, n);
		from += (int64_t)n;
	}
	return 0;
}

/* MANIFEST and rep_applications/, as rep-tar writes them (time 0): the
 * tar bytes before the first application's, malloc'd into *head. */
static size_t head_of(const char *label, const char *manifest, size_t mlen, unsigned char **head)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t cap = mlen + 8 * TAR_BLOCK, used = 0;
	unsigned char *buf = rep_xmalloc(cap);

	if (!a || !e)
		rep_die("out of memory");
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK)
		rep_die("%s: %s", label, archive_error_string(a));
	const char *names[2] = { "MANIFEST", "rep_applications/" };
	for (int i = 0; i < 2; i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_filetype(e, i ? AE_IFDIR : AE_IFREG);
		archive_entry_set_perm(e, i ? 0755 : 0644);
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		archive_entry_set_size(e, i ? 0 : (int64_t)mlen);
		archive_entry_set_mtime(e, 0, 0);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    (!i && mlen && archive_write_data(a, manifest, mlen) != (la_ssize_t)mlen))
			rep_die("%s: %s", label, archive_error_string(a));
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		rep_die("%s: %s", label, archive_error_string(a));
	archive_entry_free(e);
	archive_write_free(a);
	/* what close added: the two zero blocks of the end */
	if (used < 2 * TAR_BLOCK || used % TAR_BLOCK)
		rep_die("%s: the head of the archive came out %zu bytes long", label, used);
	*head = buf;
	return used - 2 * TAR_BLOCK;
}

/* An application read, and whether it is sent. */
struct run {
	const struct rep_manifest_app *app;
	int send;
};

static int by_offset(const void *a, const void *b)
{
	int64_t x = ((const struct run *)a)->app->at, y = ((const struct run *)b)->app->at;

	return (x > y) - (x < y);
}

int rep_archive_subset(const char *path, const struct rep_manifest *m, const unsigned char *send,
    int out, const char *label)
{
	struct members ms = { .cached = -1 };
	struct stat st;

	ms.fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (ms.fd < 0 || fstat(ms.fd, &st) < 0)
		rep_die_errno("%s", path);
	if (!S_ISREG(st.st_mode))
		rep_die("%s: not a regular file", path);
	if (m->tar_end <= 0 || chain(&ms, st.st_size, m->tar_size) < 0) {
		free(ms.at);
		close(ms.fd);
		return -1;
	}
	ms.in = rep_xmalloc(REP_GZ_MEMBER_MAX);
	ms.out = rep_xmalloc(REP_GZ_BLOCK);
	if (!(ms.d = libdeflate_alloc_decompressor()))
		rep_die("out of memory");

	/* the applications read, in the order of the tar stream (the
	 * MANIFEST's rows may be in any order): each one's run ends where
	 * the next one's begins */
	size_t nrun = 0;
	struct run *run = rep_xmalloc((m->apps.n + 1) * sizeof *run);
	for (size_t i = 0; i < m->apps.n; i++) {
		const struct rep_manifest_app *a = m->apps.val[i];
		if (a->seen && !a->remove)
			run[nrun++] = (struct run){ a, send[i] };
	}
	qsort(run, nrun, sizeof *run, by_offset);
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		rep_die("out of memory");
	fputs("#rep-manifest\t2\n", f);
	for (size_t i = 0; i < nrun; i++)
		if (run[i].send)
			rep_manifest_row(f, run[i].app, 0);
	if (fclose(f) != 0)
		rep_die("out of memory");
	unsigned char *head;
	size_t hlen = head_of(label, text, len, &head);
	free(text);

	struct rep_gz *gz = rep_gz_open(out, label, 6, rep_nthreads());
	rep_gz_write(gz, head, hlen);
	free(head);
	int64_t total = (int64_t)hlen;
	for (size_t i = 0; i < nrun; i++) {
		const struct rep_manifest_app *a = run[i].app;
		int64_t to = i + 1 < nrun ? run[i + 1].app->at : m->tar_end;
		if (!run[i].send)
			continue;
		if (to < a->at || copy_run(&ms, gz, a->at, to) < 0)
			rep_die("%s: changed since it was checked", path);
		total += to - a->at;
	}
	free(run);
	static const unsigned char zeros[TAR_BLOCK];
	int64_t end = total + 2 * TAR_BLOCK;
	end += (TAR_RECORD - end % TAR_RECORD) % TAR_RECORD;
	for (; total < end; total += TAR_BLOCK)
		rep_gz_write(gz, zeros, TAR_BLOCK);
	rep_gz_close(gz);
	libdeflate_free_decompressor(ms.d);
	free(ms.in);
	free(ms.out);
	free(ms.at);
	close(ms.fd);
	return 0;
}

static int by_value(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

size_t rep_archive_cuts(int fd, const struct rep_manifest *m, struct rep_cut *cut, size_t max)
{
	struct members ms = { .fd = fd, .cached = -1 };
	struct stat st;
	size_t pieces = m->tar_end > 0 ? (size_t)(m->tar_end / REP_CUT_MIN) : 0, n = 0, nat = 0;

	if (pieces > max + 1)
		pieces = max + 1;
	if (pieces < 2 || fstat(fd, &st) < 0 || chain(&ms, st.st_size, m->tar_size) < 0) {
		free(ms.at);
		return 0;
	}
	int64_t *at = rep_xmalloc((m->apps.n + 1) * sizeof *at);
	for (size_t i = 0; i < m->apps.n; i++) {
		const struct rep_manifest_app *a = m->apps.val[i];
		if (a->seen && !a->remove)
			at[nat++] = a->at;
	}
	qsort(at, nat, sizeof *at, by_value);
	/* each point the run that begins nearest its share's end, after the
	 * first run (the head is no piece of its own) and the point before
	 * it, and before the end blocks */
	for (size_t j = 1, i = 1; j < pieces; j++) {
		int64_t want = m->tar_end / (int64_t)pieces * (int64_t)j;
		while (i < nat && (at[i] < want || (n && at[i] <= cut[n - 1].tar)))
			i++;
		if (i > 1 && at[i - 1] > (n ? cut[n - 1].tar : 0) &&
		    (i == nat || want - at[i - 1] < at[i] - want))
			i--;
		if (i == nat || at[i] >= m->tar_end)
			break;
		size_t k = (size_t)(at[i] / REP_GZ_BLOCK), before = (size_t)((at[i] - 1) / REP_GZ_BLOCK);
		if (k >= ms.n)
			break;
		cut[n++] = (struct rep_cut){ at[i], ms.at[k], at[i] % REP_GZ_BLOCK,
			before + 1 < ms.n ? ms.at[before + 1] : (int64_t)st.st_size };
		i++;
	}
	free(at);
	free(ms.at);
	return n;
}
