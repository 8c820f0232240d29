/* The gzip layer of rep's archives, both ways, on several threads.
 *
 * Writing: the input is cut into blocks of 1 MiB, and each block becomes
 * a gzip member of its own, compressed by libdeflate (whole-buffer
 * deflate, several times faster than zlib's at the same level for about
 * the same size). Members are written in input order; every gzip reader
 * reads a run of members as one stream (RFC 1952, 2.2), and each can be
 * inflated on its own. The blocks do not depend on the number of
 * threads, so neither do the bytes. Each header carries no name and no
 * time, and one extra field (RFC 1952, 2.3.1.1), as htslib's BGZF does:
 * subfield 'R','P' holding the member's whole size, header to trailer,
 * as 4 bytes little-endian. Readers that do not know it skip it.
 *
 * Reading (rep_gzin): the sizes chain the members, so a reader finds
 * each one without inflating the one before and inflates several at
 * once. A size is believed only as far as the member proves it: its
 * deflate data must end exactly where the size says, its CRC-32 and
 * length must match, and the next member must start right after it, so
 * the bytes delivered are those of a sequential gzip -d of the file, or
 * the file is refused. The check inflates with zlib, as strict as gzip;
 * a reading of what the check took, with libdeflate (inflate_fast). */
#include <errno.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "rep.h"

/* Large enough that restarting the dictionary costs well under 1% of
 * the size, small enough that a few per thread stay in the caches'
 * reach and memory stays low. */
#define BLOCK REP_GZ_BLOCK
#define HEADER REP_GZ_HEADER
#define TRAILER 8

enum { FREE, READY, BUSY, DONE };

struct job {
	int state;
	size_t len, outlen;
	unsigned char *in, *out;
};

struct rep_gz {
	int fd, level, nthreads, nslots;
	const char *label;
	struct job *slots;
	size_t cur, oldest;      /* slot being filled; oldest not yet written */
	size_t outcap;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	pthread_t tid[16];
	int stop, failed, members;
	unsigned char header[HEADER];
	int64_t written;
};

static void write_all(struct rep_gz *g, const void *buf, size_t n)
{
	if (rep_write_full(g->fd, buf, n) < 0)
		rep_die_errno("%s", g->label);
	g->written += (int64_t)n;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* j->in as one whole gzip member in j->out. */
static int compress_job(struct rep_gz *g, struct libdeflate_compressor *c, struct job *j)
{
	size_t n = libdeflate_deflate_compress(c, j->in, j->len, j->out + HEADER,
	    g->outcap - HEADER - TRAILER);

	if (n == 0)
		return -1;
	memcpy(j->out, g->header, HEADER);
	put32(j->out + HEADER + n, libdeflate_crc32(0, j->in, j->len));
	put32(j->out + HEADER + n + 4, (uint32_t)j->len);
	j->outlen = HEADER + n + TRAILER;
	put32(j->out + 16, (uint32_t)j->outlen);
	return 0;
}

static void *worker(void *arg)
{
	struct rep_gz *g = arg;
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(g->level);

	pthread_mutex_lock(&g->lock);
	for (;;) {
		struct job *j = NULL;
		for (int k = 0; k < g->nslots && !j; k++) {
			struct job *s = &g->slots[(g->oldest + (size_t)k) % (size_t)g->nslots];
			if (s->state == READY)
				j = s;
		}
		if (!j) {
			if (g->stop)
				break;
			pthread_cond_wait(&g->work, &g->lock);
			continue;
		}
		j->state = BUSY;
		pthread_mutex_unlock(&g->lock);
		int rc = c ? compress_job(g, c, j) : -1;
		pthread_mutex_lock(&g->lock);
		if (rc < 0)
			g->failed = 1;
		j->state = DONE;
		pthread_cond_broadcast(&g->done);
	}
	pthread_mutex_unlock(&g->lock);
	libdeflate_free_compressor(c);
	return NULL;
}

struct rep_gz *rep_gz_open(int fd, const char *label, int level, int threads)
{
	struct rep_gz *g = calloc(1, sizeof *g);

	if (!g)
		rep_die("out of memory");
	/* ID, deflate, FEXTRA, mtime 0, extra flags as gzip sets them, Unix;
	 * 8 bytes of extra field: 'R','P', 4 bytes long, the member's size */
	static const unsigned char header[HEADER] = {
		0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 8, 0, 'R', 'P', 4, 0, 0, 0, 0, 0
	};
	memcpy(g->header, header, HEADER);
	g->header[8] = level == 9 ? 2 : level == 1 ? 4 : 0;
	g->fd = fd;
	g->label = label;
	g->level = level;
	g->nthreads = threads < 1 ? 1 : threads > 16 ? 16 : threads;
	/* one being filled, one per thread, and one ready for each to
	 * take next, bounded: memory does not grow with -j beyond need */
	g->nslots = g->nthreads + 3;
	g->slots = calloc((size_t)g->nslots, sizeof *g->slots);
	if (!g->slots)
		rep_die("out of memory");
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	if (!c)
		rep_die("out of memory");
	g->outcap = HEADER + libdeflate_deflate_compress_bound(c, BLOCK) + TRAILER;
	libdeflate_free_compressor(c);
	for (int i = 0; i < g->nslots; i++) {
		g->slots[i].in = rep_xmalloc(BLOCK);
		g->slots[i].out = rep_xmalloc(g->outcap);
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->work, NULL);
	pthread_cond_init(&g->done, NULL);
	for (int i = 0; i < g->nthreads; i++)
		if (pthread_create(&g->tid[i], NULL, worker, g) != 0)
			rep_die("cannot start a compression thread");
	return g;
}

/* Writes out the oldest member, waiting for it; the caller holds the
 * lock. */
static void flush_oldest(struct rep_gz *g)
{
	struct job *j = &g->slots[g->oldest];

	while (j->state != DONE && !g->failed)
		pthread_cond_wait(&g->done, &g->lock);
	if (g->failed)
		rep_die("%s: compression failed", g->label);
	pthread_mutex_unlock(&g->lock);
	write_all(g, j->out, j->outlen);
	pthread_mutex_lock(&g->lock);
	j->state = FREE;
	j->len = 0;
	g->oldest = (g->oldest + 1) % (size_t)g->nslots;
}

/* Hands the current block to the workers and makes the next slot the
 * current one, writing out members until it is free. */
static void submit(struct rep_gz *g)
{
	struct job *j = &g->slots[g->cur];
	size_t next = (g->cur + 1) % (size_t)g->nslots;

	pthread_mutex_lock(&g->lock);
	j->state = READY;
	g->members++;
	pthread_cond_signal(&g->work);
	while (next == g->oldest || g->slots[next].state != FREE)
		flush_oldest(g);
	g->cur = next;
	pthread_mutex_unlock(&g->lock);
}

void rep_gz_write(struct rep_gz *g, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	while (n) {
		struct job *j = &g->slots[g->cur];
		size_t take = BLOCK - j->len < n ? BLOCK - j->len : n;
		memcpy(j->in + j->len, p, take);
		j->len += take;
		p += take;
		n -= take;
		if (j->len == BLOCK)
			submit(g);
	}
}

/* Finishes the stream and frees everything; returns the bytes written. */
int64_t rep_gz_close(struct rep_gz *g)
{
	/* the last block, or an empty member for an empty stream */
	if (g->slots[g->cur].len || !g->members)
		submit(g);
	pthread_mutex_lock(&g->lock);
	while (g->slots[g->oldest].state != FREE)
		flush_oldest(g);
	g->stop = 1;
	pthread_cond_broadcast(&g->work);
	pthread_mutex_unlock(&g->lock);
	for (int i = 0; i < g->nthreads; i++)
		pthread_join(g->tid[i], NULL);
	int64_t written = g->written;
	for (int i = 0; i < g->nslots; i++) {
		free(g->slots[i].in);
		free(g->slots[i].out);
	}
	free(g->slots);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->work);
	pthread_cond_destroy(&g->done);
	free(g);
	return written;
}

/* Reading. */

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The whole size of the member whose header h holds (REP_GZ_HEADER
 * bytes), if it is in the form rep_gz writes; -1 if not. The time, the
 * extra flags and the system may be anything, as they do not change how
 * the member is read; the flags must be FEXTRA alone and the extra field
 * the size alone, so that the deflate data starts where every reader
 * starts it. */
long rep_gz_member_size(const unsigned char *h)
{
	static const unsigned char id[4] = { 0x1f, 0x8b, 8, 4 };
	static const unsigned char extra[6] = { 8, 0, 'R', 'P', 4, 0 };

	if (memcmp(h, id, 4) != 0 || memcmp(h + 10, extra, 6) != 0)
		return -1;
	uint32_t n = get32(h + 16);
	/* the shortest deflate stream is 2 bytes (an empty fixed block) */
	if (n < HEADER + 2 + TRAILER || n > REP_GZ_MEMBER_MAX)
		return -1;
	return (long)n;
}

enum { SLOT_FREE, SLOT_READ, SLOT_DONE, SLOT_FAILED };

struct member {
	int state;
	size_t len, outlen;
	unsigned char *in, *out;
	char err[512];
};

struct rep_gzin {
	FILE *fp;
	const char *path;
	struct sha256_ctx *raw;   /* of the file's bytes, in file order */
	int nthreads, nslots;
	int strict;               /* inflated by zlib, not libdeflate */
	struct member *slots;
	pthread_t tid[16];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int reading;              /* a thread is reading the next member */
	uint64_t next;            /* the member to be read next */
	uint64_t end;             /* members in the file, once known */
	int ended;                /* end is known, or reading failed */
	uint64_t taken;           /* members handed out */
	int stop;
	int64_t offset;           /* of the next member in the file */
};

/* Reads the member at g->offset into m, and hashes its bytes; 1 if one
 * was read, 0 at the end of the file, -1 with m->err set. */
static int read_member(struct rep_gzin *g, struct member *m)
{
	size_t got = fread(m->in, 1, HEADER, g->fp);

	if (ferror(g->fp)) {
		snprintf(m->err, sizeof m->err, "%s: %s", g->path, strerror(errno));
		return -1;
	}
	sha256_update(g->raw, got, m->in);
	if (got == 0 && g->offset > 0)
		return 0;
	long size = got == HEADER ? rep_gz_member_size(m->in) : -1;
	if (size < 0) {
		if (got >= 2 && m->in[0] == 0x1f && m->in[1] == 0x8b && got == HEADER)
			snprintf(m->err, sizeof m->err,
			    "%s: gzip member at byte %lld has no size field as the first has (not in the form rep-tar writes)",
			    g->path, (long long)g->offset);
		else if (got == 0 || (got < HEADER && m->in[0] == 0x1f && (got == 1 || m->in[1] == 0x8b)))
			snprintf(m->err, sizeof m->err, "%s: truncated archive", g->path);
		else
			snprintf(m->err, sizeof m->err, "%s: data after the end of the gzip stream", g->path);
		return -1;
	}
	m->len = (size_t)size;
	got = fread(m->in + HEADER, 1, m->len - HEADER, g->fp);
	if (ferror(g->fp)) {
		snprintf(m->err, sizeof m->err, "%s: %s", g->path, strerror(errno));
		return -1;
	}
	sha256_update(g->raw, got, m->in + HEADER);
	if (got != m->len - HEADER) {
		snprintf(m->err, sizeof m->err, "%s: truncated archive", g->path);
		return -1;
	}
	g->offset += size;
	return 1;
}

/* Inflates m with zlib, the inflater of the sequential path, for a
 * reading that decides whether the archive is taken (the check): the
 * deflate data must end exactly at the trailer, and what it makes must
 * match the trailer's CRC-32 and length. */
static int inflate_strict(struct rep_gzin *g, z_stream *z, struct member *m, int64_t at)
{
	size_t deflated = m->len - HEADER - TRAILER;
	const unsigned char *t = m->in + m->len - TRAILER;

	if (inflateReset(z) != Z_OK)
		rep_die("zlib: inflateReset failed");
	z->next_in = m->in + HEADER;
	z->avail_in = (uInt)deflated;
	z->next_out = m->out;
	z->avail_out = BLOCK;
	int rc = inflate(z, Z_FINISH);
	size_t out = BLOCK - z->avail_out;

	if (rc == Z_STREAM_END && z->avail_in != 0)
		snprintf(m->err, sizeof m->err,
		    "%s: corrupt gzip data: the member at byte %lld does not end where its size field says",
		    g->path, (long long)at);
	else if (rc == Z_STREAM_END && get32(t) != libdeflate_crc32(0, m->out, out))
		snprintf(m->err, sizeof m->err, "%s: corrupt gzip data: incorrect data check", g->path);
	else if (rc == Z_STREAM_END && get32(t + 4) != (uint32_t)out)
		snprintf(m->err, sizeof m->err, "%s: corrupt gzip data: incorrect length check", g->path);
	else if (rc == Z_STREAM_END) {
		m->outlen = out;
		return 0;
	} else if (rc == Z_DATA_ERROR)
		snprintf(m->err, sizeof m->err, "%s: corrupt gzip data: %s", g->path,
		    z->msg ? z->msg : "invalid deflate data");
	else if (z->avail_out == 0)
		snprintf(m->err, sizeof m->err,
		    "%s: gzip member at byte %lld inflates to more than 1 MiB (not in the form rep-tar writes)",
		    g->path, (long long)at);
	else
		snprintf(m->err, sizeof m->err,
		    "%s: corrupt gzip data: the member at byte %lld does not end where its size field says",
		    g->path, (long long)at);
	return -1;
}

/* The same with libdeflate, about twice as fast, for a reading of an
 * archive the check took: libdeflate accepts deflate data that zlib and
 * gzip refuse (length symbols 286 and 287, distance codes 30 and 31, the
 * unused codeword of a one-symbol code), so it never decides whether an
 * archive is taken; on data zlib took, every inflater makes the same
 * bytes, and the file's SHA-256 proves the data is what the check read. */
static int inflate_fast(struct rep_gzin *g, struct libdeflate_decompressor *d,
    struct member *m, int64_t at)
{
	size_t used = 0, out = 0, deflated = m->len - HEADER - TRAILER;
	enum libdeflate_result rc = libdeflate_deflate_decompress_ex(d, m->in + HEADER,
	    deflated, m->out, BLOCK, &used, &out);
	const unsigned char *t = m->in + m->len - TRAILER;

	if (rc == LIBDEFLATE_INSUFFICIENT_SPACE)
		snprintf(m->err, sizeof m->err,
		    "%s: gzip member at byte %lld inflates to more than 1 MiB (not in the form rep-tar writes)",
		    g->path, (long long)at);
	else if (rc != LIBDEFLATE_SUCCESS)
		snprintf(m->err, sizeof m->err, "%s: corrupt gzip data: invalid deflate data", g->path);
	else if (used != deflated)
		snprintf(m->err, sizeof m->err,
		    "%s: corrupt gzip data: the member at byte %lld does not end where its size field says",
		    g->path, (long long)at);
	else if (get32(t) != libdeflate_crc32(0, m->out, out))
		snprintf(m->err, sizeof m->err, "%s: corrupt gzip data: incorrect data check", g->path);
	else if (get32(t + 4) != (uint32_t)out)
		snprintf(m->err, sizeof m->err, "%s: corrupt gzip data: incorrect length check", g->path);
	else {
		m->outlen = out;
		return 0;
	}
	return -1;
}

/* Each thread takes its turn reading the next member, in file order,
 * then inflates it while the others read and inflate theirs. */
static void *gzin_worker(void *arg)
{
	struct rep_gzin *g = arg;
	z_stream zs = { 0 };
	struct libdeflate_decompressor *fast = g->strict ? NULL : libdeflate_alloc_decompressor();
	void *d = g->strict ? (inflateInit2(&zs, -15) == Z_OK ? (void *)&zs : NULL) : fast;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		uint64_t seq = g->next;
		struct member *m = &g->slots[seq % (uint64_t)g->nslots];
		/* a slot is free once the member nslots before it was handed
		 * out and then let go, at the next take */
		while (!g->stop && !g->ended && (g->reading || m->state != SLOT_FREE)) {
			pthread_cond_wait(&g->cond, &g->lock);
			seq = g->next;
			m = &g->slots[seq % (uint64_t)g->nslots];
		}
		if (g->stop || g->ended)
			break;
		g->reading = 1;
		pthread_mutex_unlock(&g->lock);
		int64_t at = g->offset;
		int rc = d ? read_member(g, m) : -1;
		if (!d)
			snprintf(m->err, sizeof m->err, "out of memory");
		pthread_mutex_lock(&g->lock);
		g->reading = 0;
		if (rc <= 0) {
			g->ended = 1;
			g->end = seq + (rc < 0);
			m->state = rc < 0 ? SLOT_FAILED : SLOT_FREE;
			pthread_cond_broadcast(&g->cond);
			break;
		}
		m->state = SLOT_READ;
		g->next = seq + 1;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
		rc = g->strict ? inflate_strict(g, d, m, at) : inflate_fast(g, d, m, at);
		pthread_mutex_lock(&g->lock);
		m->state = rc < 0 ? SLOT_FAILED : SLOT_DONE;
		pthread_cond_broadcast(&g->cond);
	}
	pthread_mutex_unlock(&g->lock);
	if (g->strict && d)
		inflateEnd(&zs);
	libdeflate_free_decompressor(fast);
	return NULL;
}

/* Starts reading fp, from its start, whose first member is in the form
 * rep_gz writes; the file's bytes go to raw as they are read. strict:
 * the reading decides whether the archive is taken (see inflate_fast). */
struct rep_gzin *rep_gzin_open(FILE *fp, const char *path, struct sha256_ctx *raw, int threads,
    int strict)
{
	struct rep_gzin *g = calloc(1, sizeof *g);

	if (!g)
		rep_die("out of memory");
	g->fp = fp;
	g->path = path;
	g->raw = raw;
	g->strict = strict;
	g->nthreads = threads < 1 ? 1 : threads > 16 ? 16 : threads;
	/* one handed out, one per thread, and two read ahead */
	g->nslots = g->nthreads + 3;
	if (!(g->slots = calloc((size_t)g->nslots, sizeof *g->slots)))
		rep_die("out of memory");
	for (int i = 0; i < g->nslots; i++) {
		g->slots[i].in = rep_xmalloc(REP_GZ_MEMBER_MAX);
		g->slots[i].out = rep_xmalloc(BLOCK);
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	for (int i = 0; i < g->nthreads; i++)
		if ((errno = pthread_create(&g->tid[i], NULL, gzin_worker, g)) != 0)
			rep_die_errno("thread");
	return g;
}

/* The next member's bytes, in file order: 0 at the end, -1 with err
 * set. The buffer handed out before stays valid until this call. */
long rep_gzin_next(struct rep_gzin *g, const void **buf, char err[512])
{
	pthread_mutex_lock(&g->lock);
	if (g->taken > 0) {
		g->slots[(g->taken - 1) % (uint64_t)g->nslots].state = SLOT_FREE;
		pthread_cond_broadcast(&g->cond);
	}
	for (;;) {
		struct member *m = &g->slots[g->taken % (uint64_t)g->nslots];
		while (!(g->ended && g->taken >= g->end) && m->state != SLOT_DONE &&
		    m->state != SLOT_FAILED)
			pthread_cond_wait(&g->cond, &g->lock);
		if (m->state == SLOT_FAILED) {
			snprintf(err, 512, "%s", m->err);
			pthread_mutex_unlock(&g->lock);
			return -1;
		}
		if (m->state != SLOT_DONE) {
			pthread_mutex_unlock(&g->lock);
			return 0;
		}
		g->taken++;
		if (m->outlen > 0) {
			*buf = m->out;
			pthread_mutex_unlock(&g->lock);
			return (long)m->outlen;
		}
		/* an empty member: nothing to hand out */
		m->state = SLOT_FREE;
		pthread_cond_broadcast(&g->cond);
	}
}

/* Stops the threads, at the end or before it, and frees g (not fp). */
void rep_gzin_close(struct rep_gzin *g)
{
	pthread_mutex_lock(&g->lock);
	g->stop = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	for (int i = 0; i < g->nthreads; i++)
		pthread_join(g->tid[i], NULL);
	for (int i = 0; i < g->nslots; i++) {
		free(g->slots[i].in);
		free(g->slots[i].out);
	}
	free(g->slots);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g);
}
