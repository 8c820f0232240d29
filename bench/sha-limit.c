/* sha-limit: the machine's SHA-256 limit, with the library rep hashes
 * with (nettle): hash BYTES of memory split over every core, as fast as
 * the cores can, and exit. bench/run times it as the peer that rep-register
 * cannot beat: no file system, no database, only the hashing.
 *
 * usage: sha-limit BYTES [THREADS]   (THREADS: default, the online CPUs)
 *
 * Each thread hashes its share from one 1 MiB buffer (warm in cache, as
 * file data read from the page cache is in rep's 256 KiB reads), in
 * pieces of the bench tree's mean file size, each piece a digest of its
 * own as a file's would be. */
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF (1024 * 1024)
#define PIECE 16384

struct share {
	long long bytes;
	unsigned char digest[SHA256_DIGEST_SIZE];
};

static unsigned char *buf;

static void *hash(void *arg)
{
	struct share *s = arg;
	unsigned char d[SHA256_DIGEST_SIZE];
	struct sha256_ctx c;
	size_t off = 0;

	memset(s->digest, 0, sizeof s->digest);
	for (long long left = s->bytes; left > 0;) {
		size_t n = left < PIECE ? (size_t)left : PIECE;
		if (off + n > BUF)
			off = 0;
		sha256_init(&c);
		sha256_update(&c, n, buf + off);
		sha256_digest(&c, sizeof d, d);
		s->digest[0] ^= d[0];   /* used: the work cannot be left out */
		off += n;
		left -= (long long)n;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: sha-limit BYTES [THREADS]\n");
		return 2;
	}
	long long bytes = atoll(argv[1]);
	long n = argc == 3 ? atol(argv[2]) : sysconf(_SC_NPROCESSORS_ONLN);
	if (bytes < 0 || n < 1 || n > 256) {
		fprintf(stderr, "sha-limit: bad BYTES or THREADS\n");
		return 2;
	}
	buf = malloc(BUF);
	struct share *s = calloc((size_t)n, sizeof *s);
	pthread_t *t = calloc((size_t)n, sizeof *t);
	if (!buf || !s || !t)
		return 2;
	for (size_t i = 0; i < BUF; i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	for (long i = 0; i < n; i++) {
		s[i].bytes = bytes / n + (i < bytes % n);
		if (pthread_create(&t[i], NULL, hash, &s[i]) != 0)
			return 2;
	}
	unsigned char x = 0;
	for (long i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		x ^= s[i].digest[0];
	}
	/* stdout is /dev/null under bench/run */
	printf("%02x\n", x);
	return 0;
}
