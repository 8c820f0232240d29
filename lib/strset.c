/* A set of strings that remembers the order they came in: input
 * names are processed once each, in the order the user gave them. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "rep.h"

/* Keys come from input (names, archive paths): with a public hash an
 * archive of names chosen to collide makes every lookup walk them all
 * (100,000 of FNV-1a's took rep-tar -t two minutes). So the hash is
 * keyed, with a key drawn once per process: SHA-256 of the key and the
 * string, from the library that hashes everything else. */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static unsigned char key[16];

static void key_init(void)
{
	if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
		rep_die_errno("getrandom");
}

static size_t hash(const char *s)
{
	struct sha256_ctx c;
	unsigned char d[SHA256_DIGEST_SIZE];
	size_t h;

	pthread_once(&key_once, key_init);
	sha256_init(&c);
	sha256_update(&c, sizeof key, key);
	sha256_update(&c, strlen(s), (const uint8_t *)s);
	sha256_digest(&c, sizeof d, d);
	memcpy(&h, d, sizeof h);
	return h;
}

/* The slot of str (hash h): its own, or the empty one where it would
 * go. A string's hash is kept beside it, so that a collision costs no
 * string comparison and growing the table no hashing. */
static size_t *probe(const struct rep_strset *s, const char *str, size_t h)
{
	size_t i = h & (s->nslot - 1), k;

	while ((k = s->slot[i]) && (s->hash[k - 1] != h || strcmp(s->v[k - 1], str) != 0))
		i = (i + 1) & (s->nslot - 1);
	return &s->slot[i];
}

static void grow(struct rep_strset *s)
{
	free(s->slot);
	s->nslot = s->nslot ? 2 * s->nslot : 64;
	s->slot = calloc(s->nslot, sizeof *s->slot);
	if (!s->slot)
		rep_die("out of memory");
	for (size_t i = 0; i < s->n; i++) {
		size_t k = s->hash[i] & (s->nslot - 1);
		while (s->slot[k])
			k = (k + 1) & (s->nslot - 1);
		s->slot[k] = i + 1;
	}
}

long rep_strset_find(const struct rep_strset *s, const char *str)
{
	return s->nslot ? (long)*probe(s, str, hash(str)) - 1 : -1;
}

/* Returns 1 if str was added, 0 if it was there already. */
int rep_strset_add(struct rep_strset *s, const char *str, void *val)
{
	if (2 * (s->n + 1) > s->nslot)
		grow(s);
	size_t h = hash(str);
	size_t *slot = probe(s, str, h);
	if (*slot)
		return 0;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = rep_xrealloc(s->v, s->cap * sizeof *s->v);
		s->val = rep_xrealloc(s->val, s->cap * sizeof *s->val);
		s->hash = rep_xrealloc(s->hash, s->cap * sizeof *s->hash);
	}
	s->v[s->n] = rep_xstrdup(str);
	s->val[s->n] = val;
	s->hash[s->n] = h;
	*slot = ++s->n;
	return 1;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The strings in bytewise order, as a new array (the strings stay the
 * set's); sorting v in place would break the set's lookups. */
char **rep_strset_sorted(const struct rep_strset *s)
{
	char **v = rep_xmalloc((s->n + 1) * sizeof *v);

	if (s->n) {
		memcpy(v, s->v, s->n * sizeof *v);
		qsort(v, s->n, sizeof *v, by_string);
	}
	return v;
}

void rep_strset_free(struct rep_strset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i]);
		free(s->val[i]);
	}
	free(s->v);
	free(s->val);
	free(s->hash);
	free(s->slot);
	memset(s, 0, sizeof *s);
}
