/* The name rule (lib/name.c) and the rule for free text (rep_note_error
 * in lib/rec.c), each against a second, plainer statement of the same
 * rule; and rep_link_inside (lib/tree.c), which must never pass a
 * symlink whose target, resolved on the names, climbs out of its
 * application (fuzz_climbs_out). */
#include "fuzz.h"

static char *s;

static int name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > REP_NAME_MAX || n[0] == '.' || n[0] == '-')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '+' || c == '-'))
			return 0;
	}
	return 1;
}

/* The length of the well-formed UTF-8 sequence at p (Unicode 15, table
 * 3-7), or 0. */
static int utf8_len(const unsigned char *p)
{
	static const struct { unsigned char lead_lo, lead_hi, lo, hi; int len; } form[] = {
		{ 0x00, 0x7f, 0, 0, 1 },
		{ 0xc2, 0xdf, 0x80, 0xbf, 2 },
		{ 0xe0, 0xe0, 0xa0, 0xbf, 3 },
		{ 0xe1, 0xec, 0x80, 0xbf, 3 },
		{ 0xed, 0xed, 0x80, 0x9f, 3 },
		{ 0xee, 0xef, 0x80, 0xbf, 3 },
		{ 0xf0, 0xf0, 0x90, 0xbf, 4 },
		{ 0xf1, 0xf3, 0x80, 0xbf, 4 },
		{ 0xf4, 0xf4, 0x80, 0x8f, 4 },
	};
	for (size_t i = 0; i < sizeof form / sizeof form[0]; i++) {
		if (p[0] < form[i].lead_lo || p[0] > form[i].lead_hi)
			continue;
		if (form[i].len > 1 && (p[1] < form[i].lo || p[1] > form[i].hi))
			return 0;
		for (int k = 2; k < form[i].len; k++)
			if (p[k] < 0x80 || p[k] > 0xbf)
				return 0;
		return form[i].len;
	}
	return 0;
}

static const char *note_problem(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p;) {
		int len = utf8_len(p);
		if (!len)
			return "not valid UTF-8";
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] <= 0x9f))
			return "control character not allowed";
		p += len;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static jmp_buf back;
	static int valid;

	s = fuzz_string(data, size);
	valid = name_ok(s);
	FUZZ_CHECK(rep_name_valid(s) == valid);
	const char *want = note_problem(s), *got = rep_note_error(s);
	FUZZ_CHECK(want == got || (want && got && strcmp(want, got) == 0));
	/* rel, a newline, target */
	char *nl = strchr(s, '\n');
	if (nl) {
		*nl = 0;
		if (rep_link_inside(s, nl + 1))
			FUZZ_CHECK(!fuzz_climbs_out(s, nl + 1));
		*nl = '\n';
	}
	if (FUZZ_TRY(back)) {
		FUZZ_CHECK(!valid);
	} else {
		struct rep_rec where = { NULL, 0, "stdin", 7 };
		rep_name_check(s, size & 1 ? &where : NULL);
		FUZZ_CHECK(valid);
	}
	free(s);
	s = NULL;
	return 0;
}
