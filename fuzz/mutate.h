/* The mutator of the harnesses whose inputs are tar.gz archives (archive,
 * gnutar), included by each (it defines LLVMFuzzerCustomMutator).
 *
 * Most mutations of gzip bytes only break the CRC, so this mostly works
 * on the tar inside: it inflates the input, mutates that, mends the tar
 * header checksums, and compresses it again. One time in four it mutates
 * the compressed bytes themselves. Half the mutations of the tar are
 * libFuzzer's own; the others are the tar-aware ones that two tar
 * readers may take differently: a header's type flag or mode changed, an
 * 'x' or 'g' pax header with one record inserted before an entry, a GNU
 * long name or link ('L', 'K') inserted, an entry copied elsewhere. */
#ifndef REP_FUZZ_MUTATE_H
#define REP_FUZZ_MUTATE_H

#include <zlib.h>

#include "fuzz.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed);

#define TAR_MAX (1 << 20)
#define TAR_BLOCK 512

static size_t gunzip(const uint8_t *in, size_t n, uint8_t *outbuf, size_t max)
{
	z_stream z = { 0 };
	int rc = Z_OK;

	if (inflateInit2(&z, 16 + 15) != Z_OK)
		return 0;
	z.next_in = (uint8_t *)in;
	z.avail_in = (uInt)n;
	z.next_out = outbuf;
	z.avail_out = (uInt)max;
	while (z.avail_in && z.avail_out) {
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			inflateReset(&z);
		else if (rc != Z_OK)
			break;
	}
	size_t got = rc == Z_OK || rc == Z_STREAM_END ? max - z.avail_out : 0;
	inflateEnd(&z);
	return got;
}

static size_t gzip(const uint8_t *in, size_t n, uint8_t *outbuf, size_t max)
{
	z_stream z = { 0 };

	if (deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	z.next_in = (uint8_t *)in;
	z.avail_in = (uInt)n;
	z.next_out = outbuf;
	z.avail_out = (uInt)max;
	int rc = deflate(&z, Z_FINISH);
	size_t got = rc == Z_STREAM_END ? max - z.avail_out : 0;
	deflateEnd(&z);
	return got;
}

static void put32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The blocked form rep-tar writes (lib/gz.c): members of block bytes of
 * the tar each, whose header carries the member's size in an 'RP' extra
 * field, so that the parallel reader is the one that reads it. */
static size_t gzip_blocked(const uint8_t *in, size_t n, uint8_t *outbuf, size_t max, size_t block)
{
	size_t at = 0, z = 0;

	do {
		size_t len = n - at < block ? n - at : block;
		z_stream s = { 0 };
		if (z + 28 > max || deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return 0;
		static const uint8_t h[16] = { 0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 8, 0, 'R', 'P', 4, 0 };
		memcpy(outbuf + z, h, 16);
		s.next_in = (uint8_t *)in + at;
		s.avail_in = (uInt)len;
		s.next_out = outbuf + z + 20;
		s.avail_out = (uInt)(max - z - 28);
		int rc = deflate(&s, Z_FINISH);
		size_t d = max - z - 28 - s.avail_out;
		deflateEnd(&s);
		if (rc != Z_STREAM_END)
			return 0;
		put32le(outbuf + z + 16, (uint32_t)(d + 28));
		put32le(outbuf + z + 20 + d, (uint32_t)crc32(0, in + at, (uInt)len));
		put32le(outbuf + z + 24 + d, (uint32_t)len);
		z += d + 28;
		at += len;
	} while (at < n);
	return z;
}

/* The chain of member sizes made to lie: a size off by a little, two
 * members swapped, one dropped or doubled, one without its size, or one
 * whose size covers the next one too. Whatever the reader makes of it
 * must be what a sequential gzip -d makes, or a refusal. */
static size_t index_mutate(uint8_t *gz, size_t z, size_t max, unsigned r)
{
	size_t off[64], k = 0;
	static uint8_t tmp[TAR_MAX];

	for (size_t at = 0; at + 20 <= z && k < 64; k++) {
		off[k] = at;
		uint32_t size = (uint32_t)gz[at + 16] | (uint32_t)gz[at + 17] << 8 |
		    (uint32_t)gz[at + 18] << 16 | (uint32_t)gz[at + 19] << 24;
		if (size < 20)
			break;
		at += size;
	}
	if (!k)
		return z;
	size_t i = r % k, j = (r / 64) % k;
	size_t end_i = i + 1 < k ? off[i + 1] : z, len_i = end_i - off[i];
	uint8_t *size_i = gz + off[i] + 16;
	switch ((r / 4096) % 6) {
	case 0: {  /* a size off by -8 to +8 */
		int delta = (int)((r / 65536) % 17) - 8;
		put32le(size_i, (uint32_t)((int64_t)len_i + delta));
		break;
	}
	case 1: {  /* two members swapped */
		if (i == j)
			break;
		size_t a = i < j ? i : j, b = i < j ? j : i;
		size_t end_b = b + 1 < k ? off[b + 1] : z;
		memcpy(tmp, gz + off[a], end_b - off[a]);
		size_t la = off[a + 1] - off[a], lb = end_b - off[b], mid = off[b] - off[a + 1];
		memcpy(gz + off[a], tmp + (off[b] - off[a]), lb);
		memcpy(gz + off[a] + lb, tmp + la, mid);
		memcpy(gz + off[a] + lb + mid, tmp, la);
		break;
	}
	case 2:    /* one dropped */
		memmove(gz + off[i], gz + end_i, z - end_i);
		z -= len_i;
		break;
	case 3:    /* one doubled */
		if (z + len_i > max)
			break;
		memmove(gz + end_i + len_i, gz + end_i, z - end_i);
		memcpy(gz + end_i, gz + off[i], len_i);
		z += len_i;
		break;
	case 4:    /* one without its size: the extra field removed */
		gz[off[i] + 3] = 0;
		memmove(gz + off[i] + 10, gz + off[i] + 20, z - off[i] - 20);
		z -= 10;
		break;
	default:   /* one whose size covers the next as well */
		if (i + 1 < k)
			put32le(size_i, (uint32_t)(len_i + (i + 2 < k ? off[i + 2] : z) - end_i));
		break;
	}
	return z;
}

/* Every block that looks like a ustar header gets its checksum right. */
static void mend_headers(uint8_t *tar, size_t n)
{
	for (size_t off = 0; off + TAR_BLOCK <= n; off += TAR_BLOCK) {
		uint8_t *h = tar + off;
		if (memcmp(h + 257, "ustar", 5) != 0)
			continue;
		unsigned sum = 0;
		memset(h + 148, ' ', 8);
		for (int i = 0; i < TAR_BLOCK; i++)
			sum += h[i];
		char field[8];
		snprintf(field, sizeof field, "%06o", sum & 0777777);
		memcpy(h + 148, field, 7);
	}
}

/* The offsets of the header blocks of tar, read the way tar does (size
 * field, data rounded up to blocks), up to max of them. */
static size_t tar_headers(const uint8_t *tar, size_t n, size_t *off, size_t max)
{
	size_t k = 0;

	for (size_t at = 0; at + TAR_BLOCK <= n && k < max;) {
		const uint8_t *h = tar + at;
		if (memcmp(h + 257, "ustar", 5) != 0)
			break;
		off[k++] = at;
		uint64_t size = 0;
		for (int i = 124; i < 136 && h[i] >= '0' && h[i] <= '7'; i++)
			size = size * 8 + (uint64_t)(h[i] - '0');
		if (size > n)
			break;
		at += TAR_BLOCK + (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
	}
	return k;
}

/* Opens a gap of len bytes at off, if it fits. */
static int tar_gap(uint8_t *tar, size_t *n, size_t off, size_t len)
{
	if (*n + len > TAR_MAX || off > *n)
		return 0;
	memmove(tar + off + len, tar + off, *n - off);
	*n += len;
	return 1;
}

/* A header of type type for data of size bytes, named name. */
static void tar_header(uint8_t *h, const char *name, char type, size_t size)
{
	memset(h, 0, TAR_BLOCK);
	snprintf((char *)h, 100, "%s", name);
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0000000", 7);
	memcpy(h + 116, "0000000", 7);
	snprintf((char *)h + 124, 12, "%011o", (unsigned)size);
	memcpy(h + 136, "00000000000", 11);
	h[156] = (uint8_t)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
}

/* Inserts at off a header of type type whose data is data (len bytes). */
static void tar_insert(uint8_t *tar, size_t *n, size_t off, const char *name, char type,
    const char *data, size_t len)
{
	size_t blocks = 1 + (len + TAR_BLOCK - 1) / TAR_BLOCK;

	if (!tar_gap(tar, n, off, blocks * TAR_BLOCK))
		return;
	memset(tar + off, 0, blocks * TAR_BLOCK);
	tar_header(tar + off, name, type, len);
	memcpy(tar + off + TAR_BLOCK, data, len);
}

/* The path of the header at h (prefix/name), into out. */
static void tar_path(const uint8_t *h, char *out, size_t cap)
{
	if (h[345])
		snprintf(out, cap, "%.155s/%.100s", (const char *)h + 345, (const char *)h);
	else
		snprintf(out, cap, "%.100s", (const char *)h);
}

static size_t tar_mutate(uint8_t *tar, size_t n, unsigned seed)
{
	static const char types[] = "0125xgLKVSM7134\0";
	static const char *const keys[] = {
		"path", "linkpath", "size", "mtime", "hdrcharset", "uid", "gid", "uname",
		"gname", "GNU.sparse.size", "GNU.sparse.realsize", "GNU.sparse.name",
		"GNU.sparse.major", "GNU.sparse.minor", "GNU.sparse.map", "GNU.sparse.numblocks",
		"SCHILY.filetype", "SCHILY.devmajor", "LIBARCHIVE.symlinktype", "comment", "charset",
	};
	static const char *const values[] = {
		"0", "1", "512", "1024", "/etc", "../../../etc", "BINARY", "-1",
		"1.0", "0,0", "fifo", "chardev", "dir", "rep_applications/x",
		"4294967296", "99999999999999999999",
	};
	static const char *const modes[] = {
		"0004755", "0002755", "0000666", "0000000", "0000777", "0001777", "0000600", "0100644",
	};
	size_t off[256], k = tar_headers(tar, n, off, 256);
	unsigned r = seed / 4;

	if (!k)
		return n;
	size_t at = off[r % k];
	r /= 256;
	uint8_t *h = tar + at;
	char path[300], rec[600];
	switch (seed % 4) {
	case 0:    /* the type flag */
		h[156] = (uint8_t)types[r % (sizeof types - 1)];
		break;
	case 1:    /* the mode */
		memcpy(h + 100, modes[r % 8], 7);
		break;
	case 2: {  /* a pax record, or a GNU long name or link, before the entry */
		tar_path(h, path, sizeof path);
		unsigned what = r % 8;
		r /= 8;
		if (what >= 6) {
			/* another entry's path, or this one's with a twist */
			size_t other = off[r % k];
			char name[300];
			tar_path(tar + other, name, sizeof name);
			if (r / 256 % 2)
				snprintf(name + strlen(name), sizeof name - strlen(name), "%s", "x");
			tar_insert(tar, &n, at, "././@LongLink", what == 6 ? 'L' : 'K', name,
			    strlen(name) + 1);
			break;
		}
		const char *key = keys[r % (sizeof keys / sizeof *keys)];
		r /= 32;
		const char *value = values[r % (sizeof values / sizeof *values)];
		r /= 16;
		char v[300];
		if (!strcmp(key, "path") && r % 2)
			snprintf(v, sizeof v, "%s%s", path, r / 2 % 2 ? "x" : "");
		else if (!strcmp(key, "path") && r % 4 == 2)
			snprintf(v, sizeof v, "%s", "rep_applications/../MANIFEST");
		else
			snprintf(v, sizeof v, "%s", value);
		size_t body = strlen(key) + strlen(v) + 3, len = body + 1;
		while (snprintf(NULL, 0, "%zu", len) + body != len)
			len++;
		snprintf(rec, sizeof rec, "%zu %s=%s\n", len, key, v);
		tar_insert(tar, &n, at, what < 4 ? "PaxHeaders/x" : "GlobalHead/x",
		    what < 4 ? 'x' : 'g', rec, strlen(rec));
		break;
	}
	default: { /* an entry copied before another one */
		size_t from = off[(r / 256) % k];
		size_t end = (r / 256) % k + 1 < k ? off[(r / 256) % k + 1] : n;
		size_t len = end - from;
		if (len > 64 * 1024 || !tar_gap(tar, &n, at, len))
			break;
		if (from >= at)
			from += len;
		memcpy(tar + at, tar + from, len);
		break;
	}
	}
	return n;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed)
{
	static uint8_t tar[TAR_MAX], packed[TAR_MAX];

	size_t n = seed % 4 ? gunzip(data, size, tar, sizeof tar) : 0;
	if (!n)
		return LLVMFuzzerMutate(data, size, max_size);
	/* seed's low bits chose the above: the rest takes another draw */
	unsigned mix = seed * 0x9e3779b1u;
	mix ^= mix >> 15;
	if (mix % 2)
		n = tar_mutate(tar, n, mix / 2);
	else
		n = LLVMFuzzerMutate(tar, n, sizeof tar);
	if (seed % 8 != 1)
		mend_headers(tar, n);
	/* half of them in rep-tar's blocked form, of blocks small enough
	 * that an input has several, their sizes sometimes made to lie */
	size_t z;
	if (mix / 64 % 2) {
		z = gzip_blocked(tar, n, packed, sizeof packed, (size_t)512 << (mix / 128 % 6));
		if (z && mix / 1024 % 4 == 0)
			z = index_mutate(packed, z, sizeof packed, mix / 4096);
	} else {
		z = gzip(tar, n, packed, sizeof packed);
	}
	if (!z || z > max_size)
		return LLVMFuzzerMutate(data, size, max_size);
	memcpy(data, packed, z);
	return z;
}

#endif
