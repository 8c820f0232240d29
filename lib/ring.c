/* Small files read in batches: open, read and close of many files in
 * one system call (io_uring), where the kernel allows it.
 *
 * Where a system call costs a microsecond or more (a virtual machine,
 * mitigations), the four per file of open, fstat, read and close cost
 * as much as hashing 16 KiB. A batch makes three of them ring entries,
 * linked per file (open into a slot of the ring's own file table, read,
 * close), and submits up to REP_RING_SLOTS files at once, with the
 * closes of directories whose files an earlier batch read. Whatever
 * does not come out plainly (an error, a file that grew or shrank, a
 * short read) is for the caller to do again the usual way, which
 * reports it as usual. REP_IO_URING=0 in the environment, a kernel
 * without io_uring, or one that refuses it (seccomp,
 * kernel.io_uring_disabled): no ring, and the caller does it all the
 * usual way. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rep.h"

/* The kernel fills the buffers behind memcheck's back: tell it. */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

/* a batch: three entries per file, and as many closes as files */
#define RING_SQ (4 * REP_RING_SLOTS)
#define CLOSE_TAG UINT64_MAX

struct rep_ring {
	struct io_uring ring;
	unsigned char *buf;             /* REP_RING_SLOTS x REP_RING_BUF */
	int n;                          /* files queued */
	int nclose;                     /* plain closes queued */
	int broken;                     /* reads may still be in flight */
	ssize_t got[REP_RING_SLOTS];    /* per slot: bytes read, or -errno */
};

/* ThreadSanitizer sees no close that io_uring makes: a directory closed
 * there, its number opened again by another thread and looked at (fstat)
 * would pass for a race. Its build reads without the ring, as
 * REP_IO_URING=0 does. */
#if defined(__SANITIZE_THREAD__)
#define NO_RING 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NO_RING 1
#endif
#endif
#ifndef NO_RING
#define NO_RING 0
#endif

struct rep_ring *rep_ring_new(void)
{
	const char *env = getenv("REP_IO_URING");
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN };
	struct rep_ring *r;

	if (NO_RING || (env && strcmp(env, "0") == 0))
		return NULL;
	r = rep_xmalloc(sizeof *r);
	memset(r, 0, sizeof *r);
	/* the flags are hints (Linux 6.0); an older kernel refuses them */
	if (io_uring_queue_init_params(RING_SQ, &r->ring, &p) < 0 &&
	    io_uring_queue_init(RING_SQ, &r->ring, 0) < 0) {
		free(r);
		return NULL;
	}
	if (io_uring_register_files_sparse(&r->ring, REP_RING_SLOTS) < 0) {
		io_uring_queue_exit(&r->ring);
		free(r);
		return NULL;
	}
	r->buf = rep_xmalloc((size_t)REP_RING_SLOTS * REP_RING_BUF);
	return r;
}

void rep_ring_free(struct rep_ring *r)
{
	if (!r)
		return;
	if (r->nclose && !r->broken)
		rep_ring_run(r);
	io_uring_queue_exit(&r->ring);
	/* kept if the kernel may still write to it (never seen) */
	if (!r->broken)
		free(r->buf);
	free(r);
}

int rep_ring_queued(const struct rep_ring *r)
{
	return r->n;
}

/* Queues the file NAME of DIRFD (both kept valid until rep_ring_run) to
 * be read into a buffer of REP_RING_BUF bytes; returns its slot, or -1
 * when the batch is full. O_NONBLOCK: a FIFO swapped in fails, not
 * hangs. */
int rep_ring_add(struct rep_ring *r, int dirfd, const char *name)
{
	struct io_uring_sqe *sqe;
	int k = r->n;

	if (k == REP_RING_SLOTS || io_uring_sq_space_left(&r->ring) < 3)
		return -1;
	sqe = io_uring_get_sqe(&r->ring);
	io_uring_prep_openat_direct(sqe, dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, (unsigned)k);
	io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
	sqe->user_data = 3 * (unsigned)k;
	sqe = io_uring_get_sqe(&r->ring);
	io_uring_prep_read(sqe, k, rep_ring_buf(r, k), REP_RING_BUF, 0);
	/* hard link: the close follows a failed read too */
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK);
	sqe->user_data = 3 * (unsigned)k + 1;
	sqe = io_uring_get_sqe(&r->ring);
	io_uring_prep_close_direct(sqe, (unsigned)k);
	sqe->user_data = 3 * (unsigned)k + 2;
	r->got[k] = -ECANCELED;    /* no result yet */
	r->n++;
	return k;
}

/* Queues the close of FD, a plain descriptor that nothing queued or
 * running refers to, for the next rep_ring_run; -1 if there is no
 * room (the caller closes it itself). */
int rep_ring_close(struct rep_ring *r, int fd)
{
	if (r->nclose == REP_RING_SLOTS || io_uring_sq_space_left(&r->ring) < 1)
		return -1;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	io_uring_prep_close(sqe, fd);
	sqe->user_data = CLOSE_TAG;
	r->nclose++;
	return 0;
}

unsigned char *rep_ring_buf(struct rep_ring *r, int slot)
{
	return r->buf + (size_t)slot * REP_RING_BUF;
}

/* What the read of a slot gave: bytes, or -errno (of the open, or of
 * the read). */
ssize_t rep_ring_got(const struct rep_ring *r, int slot)
{
	return r->got[slot];
}

/* Runs the queued batch; afterwards rep_ring_got tells each slot's
 * result, and the batch is empty. Returns -1 if the ring failed as a
 * whole: then no slot has a result, and the ring is to be freed. */
int rep_ring_run(struct rep_ring *r)
{
	int want = 3 * r->n + r->nclose, seen = 0, rc;
	struct io_uring_cqe *cqe;

	r->n = r->nclose = 0;
	if (!want)
		return 0;
	do
		rc = io_uring_submit(&r->ring);
	while (rc == -EINTR);
	/* a part submitted: its reads still write to the buffers, so wait
	 * for them before giving up */
	int submitted = rc < 0 ? 0 : rc;
	while (seen < submitted) {
		rc = io_uring_wait_cqe(&r->ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			r->broken = 1;
			return -1;
		}
		/* a close's result is of no use: the descriptor is gone either way */
		uint64_t tag = cqe->user_data == CLOSE_TAG ? 3 * REP_RING_SLOTS : cqe->user_data;
		unsigned k = (unsigned)(tag / 3), step = (unsigned)(tag % 3);
		if (k < REP_RING_SLOTS && step == 0 && cqe->res < 0)
			r->got[k] = cqe->res;
		else if (k < REP_RING_SLOTS && step == 1 && r->got[k] == -ECANCELED) {
			r->got[k] = cqe->res;
			if (cqe->res > 0)
				VALGRIND_MAKE_MEM_DEFINED(rep_ring_buf(r, (int)k), cqe->res);
		}
		io_uring_cqe_seen(&r->ring, cqe);
		seen++;
	}
	return submitted == want ? 0 : -1;
}
