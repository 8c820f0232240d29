/* What a push makes of a target (lib/compose.c), on any text: a live
 * release's MANIFEST, an archive's and a deployment log, split from the
 * input at NUL bytes. The composition dies with a message or gives a
 * version 2 MANIFEST that parses again, with add rows only, sorted by
 * name: every application the archive adds, with its row, and every
 * live one it neither adds nor removes (none with --replace), with its
 * own, and the plan's counts add up. The history never returns the
 * live release, one rolled back from in the log, or one the target
 * does not hold; what it returns is within one rollback's reach, and
 * taking it pops the stack down to it. The releases a target holds are
 * those the log names, but for lines whose time begins with an odd
 * byte; an odd first input byte also means --replace and no current. */
#include "../lib/transport.h"
#include "fuzz.h"

static struct rep_manifest base, arch, out;
static struct rep_compose c;
static struct rep_plan p;
static struct rep_history h;
static struct rep_strset rels;
static char *text;

static void done(void)
{
	rep_manifest_free(&base);
	rep_manifest_free(&arch);
	rep_manifest_free(&out);
	free((char *)c.text);
	memset(&c, 0, sizeof c);
	rep_plan_free(&p);
	rep_history_free(&h);
	rep_strset_free(&rels);
	free(text);
	text = NULL;
}

static const struct rep_manifest_app *row(const struct rep_manifest *m, const char *name)
{
	long k = rep_strset_find(&m->apps, name);
	return k < 0 ? NULL : m->apps.val[k];
}

static int same_row(const struct rep_manifest_app *a, const struct rep_manifest_app *b)
{
	return a->app.files == b->app.files && a->app.bytes == b->app.bytes &&
	    strcmp(a->app.checksum, b->app.checksum) == 0 && a->dirs == b->dirs;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static jmp_buf back;

	text = malloc(size + 3);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = text[size + 1] = text[size + 2] = 0;
	/* base \0 archive \0 log; the first byte's low bit: --replace */
	char *b = text, *a = b + strlen(b) + 1;
	if (a > text + size)
		a = text + size;
	char *log = a + strlen(a) + 1;
	if (log > text + size + 1)
		log = text + size + 1;
	int replace = size && (data[0] & 1);
	if (FUZZ_TRY(back)) {
		done();
		return 0;
	}
	char *copy = strdup(a);
	rep_manifest_parse("archive", copy, &arch);
	free(copy);
	rep_compose(*b ? b : NULL, "base", &arch, replace, &c, &p);
	if (*b) {
		copy = strdup(b);
		base.release = 1;
		rep_manifest_parse("base", copy, &base);
		free(copy);
	}
	FUZZ_CHECK(strlen(c.text) == c.len && strncmp(c.text, "#rep-manifest\t2\n", 16) == 0);
	copy = strdup(c.text);
	out.release = 1;
	rep_manifest_parse("composed", copy, &out);
	free(copy);
	FUZZ_CHECK(out.version == 2);
	size_t adds = 0, kept = 0;
	for (size_t i = 0; i < out.apps.n; i++) {
		const struct rep_manifest_app *o = out.apps.val[i], *x = row(&arch, o->app.name),
		    *y = row(&base, o->app.name);
		FUZZ_CHECK(!o->remove && o->offset < 0);
		FUZZ_CHECK(i == 0 || strcmp(out.apps.v[i - 1], out.apps.v[i]) < 0);
		if (x && !x->remove) {
			FUZZ_CHECK(same_row(o, x));
		} else {
			FUZZ_CHECK(!replace && !x && y && !y->remove && same_row(o, y));
			kept++;
		}
	}
	for (size_t i = 0; i < arch.apps.n; i++) {
		const struct rep_manifest_app *x = arch.apps.val[i];
		FUZZ_CHECK(!row(&out, x->app.name) == !!x->remove);
		adds += !x->remove;
	}
	FUZZ_CHECK(p.enter + p.change + p.stay == out.apps.n);
	FUZZ_CHECK(adds == out.apps.n - kept);
	size_t left = 0;
	for (size_t i = 0; i < base.apps.n; i++) {
		const struct rep_manifest_app *y = base.apps.val[i];
		left += !y->remove && !row(&out, y->app.name);
	}
	FUZZ_CHECK(p.leave == left);

	const char *cur = "";
	char *lcopy = strdup(log), *save = NULL;
	for (char *line = strtok_r(lcopy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[6] = { 0 };
		int nf = 0;
		for (char *q = line; nf < 6 && q; nf++) {
			f[nf] = q;
			if ((q = strchr(q, '\t')))
				*q++ = 0;
		}
		for (int k = 2; k < nf && k < 4; k++)
			if (rep_release_name(f[k]) && !(f[0][0] & 1))
				rep_releases_put(&rels, f[k], "-");
		if (nf >= 3 && rep_release_name(f[2]))
			cur = f[2];
	}
	char current[REP_NAME_MAX + 1];
	snprintf(current, sizeof current, "%s", replace ? "" : cur);
	free(lcopy);
	rep_history_read(&h, *log ? log : NULL, current, &rels);
	size_t depth = 0;
	const char *r = rep_history_back(&h, &rels, &depth);
	if (r) {
		FUZZ_CHECK(*r && rep_releases_get(&rels, r) && depth >= 1 && depth <= h.n);
		FUZZ_CHECK(rep_history_reaches(&h, &rels, r, 1));
		long k = rep_strset_find(&h.rolled, r);
		FUZZ_CHECK(k < 0 || !h.rolled.val[k]);
		char to[REP_NAME_MAX + 1];
		snprintf(to, sizeof to, "%s", r);
		size_t n = h.n;
		rep_history_apply(&h, "rollback", to, current);
		FUZZ_CHECK(h.n == n - depth);
	}
	done();
	return 0;
}
