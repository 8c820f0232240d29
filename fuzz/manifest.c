/* The MANIFEST parser (rep_manifest_parse, lib/archive.c) on any text. It
 * dies with a message or gives applications with valid names, each once,
 * counts that are not negative, a checksum of 64 lowercase hex digits,
 * and the sum of their files. */
#include "fuzz.h"

static struct rep_manifest m;
static char *text;

static void done(void)
{
	rep_manifest_free(&m);
	free(text);
	text = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static jmp_buf back;

	text = fuzz_string(data, size);
	if (FUZZ_TRY(back)) {
		done();
		return 0;
	}
	rep_manifest_parse("fuzz.tar.gz", text, &m);
	int64_t files = 0;
	for (size_t i = 0; i < m.apps.n; i++) {
		const struct rep_app *a = m.apps.val[i];
		FUZZ_CHECK(strcmp(a->name, m.apps.v[i]) == 0 && rep_name_valid(a->name));
		FUZZ_CHECK(rep_strset_find(&m.apps, a->name) == (long)i);
		FUZZ_CHECK(a->files >= 0 && a->bytes >= 0);
		FUZZ_CHECK(strlen(a->checksum) == 64 &&
		    strspn(a->checksum, "0123456789abcdef") == 64);
		FUZZ_CHECK(!__builtin_add_overflow(files, a->files, &files));
	}
	FUZZ_CHECK(files == m.files);
	done();
	return 0;
}
