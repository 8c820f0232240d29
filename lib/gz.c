/* A gzip stream compressed on several threads, pigz's way: the input is
 * cut into fixed blocks, each block is deflated on its own with the 32 KiB
 * before it as dictionary and ends on a byte boundary (Z_SYNC_FLUSH), and
 * the raw deflate pieces are written in order inside one gzip member.
 * Block size and dictionary do not depend on the number of threads, so
 * neither do the bytes. The header carries no name and no time. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "rep.h"

#define BLOCK (128 * 1024)
#define DICT (32 * 1024)

enum { FREE, READY, BUSY, DONE };

struct job {
	int state, last;
	size_t len, dictlen, outlen, outcap;
	unsigned long crc;
	unsigned char *in, *out, dict[DICT];
};

struct rep_gz {
	int fd, level, nthreads, nslots;
	const char *label;
	struct job *slots;
	size_t cur, oldest;      /* slot being filled; oldest not yet written */
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	pthread_t tid[16];
	int stop, failed;
	unsigned long crc;
	uint64_t total;
	int64_t written;
};

static void write_all(struct rep_gz *g, const void *buf, size_t n)
{
	if (rep_write_full(g->fd, buf, n) < 0)
		rep_die_errno("%s", g->label);
	g->written += (int64_t)n;
}

static int compress_job(z_stream *z, struct job *j)
{
	if (deflateReset(z) != Z_OK)
		return -1;
	if (j->dictlen && deflateSetDictionary(z, j->dict, (uInt)j->dictlen) != Z_OK)
		return -1;
	z->next_in = j->in;
	z->avail_in = (uInt)j->len;
	j->outlen = 0;
	for (;;) {
		z->next_out = j->out + j->outlen;
		z->avail_out = (uInt)(j->outcap - j->outlen);
		int rc = deflate(z, j->last ? Z_FINISH : Z_SYNC_FLUSH);
		j->outlen = j->outcap - z->avail_out;
		if (rc == Z_STREAM_END || (rc == Z_OK && z->avail_out > 0 && !j->last))
			break;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return -1;
		j->outcap *= 2;
		j->out = rep_xrealloc(j->out, j->outcap);
	}
	j->crc = crc32(0, j->in, (uInt)j->len);
	return 0;
}

static int init_stream(z_stream *z, int level)
{
	memset(z, 0, sizeof *z);
	return deflateInit2(z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK ? 0 : -1;
}

static void *worker(void *arg)
{
	struct rep_gz *g = arg;
	z_stream z;
	int ok = init_stream(&z, g->level) == 0;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		struct job *j = NULL;
		for (int k = 0; k < g->nslots && !j; k++) {
			struct job *c = &g->slots[(g->oldest + (size_t)k) % (size_t)g->nslots];
			if (c->state == READY)
				j = c;
		}
		if (!j) {
			if (g->stop)
				break;
			pthread_cond_wait(&g->work, &g->lock);
			continue;
		}
		j->state = BUSY;
		pthread_mutex_unlock(&g->lock);
		int rc = ok ? compress_job(&z, j) : -1;
		pthread_mutex_lock(&g->lock);
		if (rc < 0)
			g->failed = 1;
		j->state = DONE;
		pthread_cond_broadcast(&g->done);
	}
	pthread_mutex_unlock(&g->lock);
	if (ok)
		deflateEnd(&z);
	return NULL;
}

struct rep_gz *rep_gz_open(int fd, const char *label, int level, int threads)
{
	/* ID, deflate, no flags, mtime 0, extra flags as gzip sets them, Unix */
	unsigned char header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	struct rep_gz *g = calloc(1, sizeof *g);

	header[8] = level == 9 ? 2 : level == 1 ? 4 : 0;
	if (!g)
		rep_die("out of memory");
	g->fd = fd;
	g->label = label;
	g->level = level;
	g->nthreads = threads < 1 ? 1 : threads > 16 ? 16 : threads;
	g->nslots = 2 * g->nthreads + 2;
	g->slots = calloc((size_t)g->nslots, sizeof *g->slots);
	if (!g->slots)
		rep_die("out of memory");
	for (int i = 0; i < g->nslots; i++) {
		g->slots[i].in = rep_xmalloc(BLOCK);
		g->slots[i].outcap = BLOCK + BLOCK / 8 + 1024;
		g->slots[i].out = rep_xmalloc(g->slots[i].outcap);
	}
	g->crc = crc32(0, NULL, 0);
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->work, NULL);
	pthread_cond_init(&g->done, NULL);
	for (int i = 0; i < g->nthreads; i++)
		if (pthread_create(&g->tid[i], NULL, worker, g) != 0)
			rep_die("cannot start a compression thread");
	write_all(g, header, sizeof header);
	return g;
}

/* Writes out the oldest block, waiting for it; the caller holds the lock. */
static void flush_oldest(struct rep_gz *g)
{
	struct job *j = &g->slots[g->oldest];

	while (j->state != DONE && !g->failed)
		pthread_cond_wait(&g->done, &g->lock);
	if (g->failed)
		rep_die("%s: compression failed", g->label);
	pthread_mutex_unlock(&g->lock);
	write_all(g, j->out, j->outlen);
	g->crc = crc32_combine(g->crc, j->crc, (z_off_t)j->len);
	g->total += j->len;
	pthread_mutex_lock(&g->lock);
	j->state = FREE;
	j->len = 0;
	g->oldest = (g->oldest + 1) % (size_t)g->nslots;
}

/* Hands the current block to the workers; the next one starts with the
 * last 32 KiB of this one as its dictionary. */
static void submit(struct rep_gz *g, int last)
{
	struct job *j = &g->slots[g->cur];
	size_t next = (g->cur + 1) % (size_t)g->nslots;

	pthread_mutex_lock(&g->lock);
	j->last = last;
	j->state = READY;
	pthread_cond_signal(&g->work);
	if (!last) {
		while (next == g->oldest || g->slots[next].state != FREE)
			flush_oldest(g);
		struct job *n = &g->slots[next];
		n->dictlen = j->len < DICT ? j->len : DICT;
		memcpy(n->dict, j->in + j->len - n->dictlen, n->dictlen);
		g->cur = next;
	}
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
			submit(g, 0);
	}
}

/* Finishes the stream and frees everything; returns the bytes written. */
int64_t rep_gz_close(struct rep_gz *g)
{
	unsigned char trailer[8];

	submit(g, 1);
	pthread_mutex_lock(&g->lock);
	for (;;) {
		int pending = g->slots[g->oldest].state != FREE;
		if (!pending)
			break;
		flush_oldest(g);
	}
	g->stop = 1;
	pthread_cond_broadcast(&g->work);
	pthread_mutex_unlock(&g->lock);
	for (int i = 0; i < g->nthreads; i++)
		pthread_join(g->tid[i], NULL);
	for (int i = 0; i < 4; i++) {
		trailer[i] = (unsigned char)(g->crc >> (8 * i));
		trailer[4 + i] = (unsigned char)(g->total >> (8 * i));
	}
	write_all(g, trailer, sizeof trailer);
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
