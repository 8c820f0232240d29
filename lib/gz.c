/* A gzip stream compressed on several threads: the input is cut into
 * blocks of 1 MiB, and each block becomes a gzip member of its own,
 * compressed by libdeflate (whole-buffer deflate, several times faster
 * than zlib's at the same level for about the same size). Members are
 * written in input order; every gzip reader reads a run of members as
 * one stream (RFC 1952, 2.2), and each can be inflated on its own.
 * The blocks do not depend on the number of threads, so neither do the
 * bytes. Each header carries no name and no time. */
#include <errno.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rep.h"

/* Large enough that restarting the dictionary costs well under 1% of
 * the size, small enough that a few per thread stay in the caches'
 * reach and memory stays low. */
#define BLOCK (1024 * 1024)
#define HEADER 10
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
	/* ID, deflate, no flags, mtime 0, extra flags as gzip sets them, Unix */
	static const unsigned char header[HEADER] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
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
