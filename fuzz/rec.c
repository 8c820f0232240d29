/* The record reader (lib/rec.c) on any bytes as its input. It must either
 * die with a message, when and only when a line holds a NUL or a CR or is
 * longer than REP_LINE_MAX, or give records that the record writer prints
 * back as the input's lines less blank and comment lines. */
#include "fuzz.h"

static struct rep_reader r;
static FILE *in, *out;
static char *printed;
static size_t nprinted;

static void done(void)
{
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	rep_reader_close(&r);
	free(printed);
	memset(&r, 0, sizeof r);
	in = out = NULL;
	printed = NULL;
}

/* Whether the reader must refuse the input. */
static int refused(const uint8_t *data, size_t size)
{
	size_t len = 0;

	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\n') {
			len = 0;
			continue;
		}
		if (data[i] == 0 || data[i] == '\r' || ++len > REP_LINE_MAX)
			return 1;
	}
	return 0;
}

/* The input's records, as the writer prints them, into a new string. */
static char *records(const uint8_t *data, size_t size, size_t *n)
{
	char *s = malloc(size + 2), *p = s;

	if (!s)
		abort();
	for (size_t i = 0; i < size;) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - data - i) : size - i;
		if (len && data[i] != '#') {
			memcpy(p, data + i, len);
			p += len;
			*p++ = '\n';
		}
		i += len + 1;
	}
	*n = (size_t)(p - s);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static jmp_buf back;
	static int must_refuse;
	static unsigned long last;
	struct rep_rec rec;

	must_refuse = refused(data, size);
	if (FUZZ_TRY(back)) {
		FUZZ_CHECK(must_refuse);
		done();
		return 0;
	}
	in = fmemopen((void *)data, size, "r");
	out = open_memstream(&printed, &nprinted);
	if (!in || !out)
		abort();
	rep_reader_open(&r, in, "stdin");
	last = 0;
	while (rep_read_rec(&r, &rec)) {
		FUZZ_CHECK(rec.nf >= 1 && rec.line > last && rec.f == r.f);
		FUZZ_CHECK(rec.f[0][0] != '#');
		last = rec.line;
		rep_put_fields(out, (const char *const *)rec.f, rec.nf);
		char *rest = rep_join_rest(&rec);
		FUZZ_CHECK(rec.nf > 1 || !*rest);
		free(rest);
		rep_name_valid(rec.f[0]);
		rep_note_error(rec.f[rec.nf - 1]);
	}
	FUZZ_CHECK(!must_refuse);
	fclose(out);
	out = NULL;
	size_t nwant;
	char *want = records(data, size, &nwant);
	FUZZ_CHECK(nprinted == nwant && memcmp(printed, want, nwant) == 0);
	free(want);
	done();
	return 0;
}
