/* The application record and the history record, with -o and -H. */
#include <stdlib.h>
#include <string.h>

#include "rep.h"

/* The first REP_APP_NFIELDS are the record; the others, from the
 * deployment rows, only -o prints. */
const char *const rep_app_fields[REP_APP_NFIELDS_ALL] = {
	"name", "status", "files", "bytes", "checksum", "registered", "updated",
	"live", "release", "targets"
};

const char *const rep_event_fields[REP_EVENT_NFIELDS] = {
	"name", "time", "from", "to", "user", "note"
};

/* Parses "name,status" into field indexes; returns how many. */
int rep_fields_parse(const char *spec, const char *const *names, int nnames, int *sel)
{
	char buf[256], *tok, *next;
	int n = 0;

	if (strlen(spec) >= sizeof buf)
		rep_die("-o: field list too long");
	if (!*spec)
		rep_die("-o: no fields");
	strcpy(buf, spec);
	/* an empty field (",,", a comma first or last) is a mistake, not
	 * nothing: a column the reader of the output counts on */
	for (tok = buf; tok; tok = next) {
		if ((next = strchr(tok, ',')))
			*next++ = 0;
		if (!*tok)
			rep_die("-o: an empty field in '%s'", spec);
		int i = 0;
		while (i < nnames && strcmp(tok, names[i]) != 0)
			i++;
		if (i == nnames) {
			char valid[256] = "";
			for (int j = 0; j < nnames; j++)
				strcat(strcat(valid, j ? ", " : ""), names[j]);
			rep_die("-o: unknown field '%s' (valid: %s)", tok, valid);
		}
		if (n == 32)
			rep_die("-o: too many fields");
		sel[n++] = i;
	}
	if (n == 0)
		rep_die("-o: no fields");
	return n;
}

static void put_selected(FILE *fp, const char *const *all, const int *sel, int nsel)
{
	const char *f[32];
	for (int i = 0; i < nsel; i++)
		f[i] = all[sel[i]];
	rep_put_fields(fp, f, nsel);
}

static const int all_fields[] = { 0, 1, 2, 3, 4, 5, 6 };

/* The manifest record of an archive: name, files, bytes, checksum. */
const int rep_manifest_fields[REP_MANIFEST_NFIELDS] = { 0, 2, 3, 4 };

void rep_put_header(FILE *fp, const char *const *names, const int *sel, int nsel)
{
	char first[64];
	const char *f[32];

	if (nsel < 1)
		return;
	for (int i = 0; i < nsel; i++)
		f[i] = names[sel ? sel[i] : all_fields[i]];
	snprintf(first, sizeof first, "#%s", f[0]);
	f[0] = first;
	rep_put_fields(fp, f, nsel);
}

void rep_put_app(FILE *fp, const struct rep_app *a, const int *sel, int nsel)
{
	rep_put_app_live(fp, a, NULL, sel, nsel);
}

/* l may be NULL: no deployment row (-). */
void rep_put_app_live(FILE *fp, const struct rep_app *a, const struct rep_live *l,
    const int *sel, int nsel)
{
	char files[24], bytes[24];
	const char *f[REP_APP_NFIELDS_ALL] = {
		a->name, a->status, files, bytes, a->checksum, a->registered, a->updated,
		l && l->checksum ? l->checksum : "-",
		l && l->release ? l->release : "-",
		l && l->targets ? l->targets : "-",
	};

	rep_put_u64((uint64_t)a->files, files);
	rep_put_u64((uint64_t)a->bytes, bytes);
	put_selected(fp, f, sel ? sel : all_fields, sel ? nsel : REP_APP_NFIELDS);
}

void rep_put_event(FILE *fp, const struct rep_event *e, const int *sel, int nsel)
{
	const char *f[REP_EVENT_NFIELDS] = { e->name, e->time, e->from, e->to, e->user, e->note };

	put_selected(fp, f, sel ? sel : all_fields, sel ? nsel : REP_EVENT_NFIELDS);
}

struct live_rows {
	struct rep_strset sums, releases, targets;
};

static int add_row(const char *target, const char *checksum, const char *release, void *arg)
{
	struct live_rows *r = arg;

	rep_strset_add(&r->targets, target, NULL);
	rep_strset_add(&r->sums, checksum, NULL);
	rep_strset_add(&r->releases, release, NULL);
	return 0;
}

/* The set's strings sorted bytewise (as sort(1) in the C locale) and
 * joined by commas; NULL for none. */
static char *joined(const struct rep_strset *s)
{
	if (!s->n)
		return NULL;
	char **v = rep_strset_sorted(s);
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += strlen(v[i]) + 1;
	char *out = rep_xmalloc(n), *p = out;
	for (size_t i = 0; i < s->n; i++) {
		size_t len = strlen(v[i]);
		if (i)
			*p++ = ',';
		memcpy(p, v[i], len);
		p += len;
	}
	*p = 0;
	free(v);
	return out;
}

void rep_live_load(struct rep_db *db, int64_t app_id, struct rep_live *l)
{
	struct live_rows r = { 0 };

	rep_db_each_deployment(db, app_id, add_row, &r);
	l->checksum = joined(&r.sums);
	l->release = joined(&r.releases);
	l->targets = joined(&r.targets);
	rep_strset_free(&r.sums);
	rep_strset_free(&r.releases);
	rep_strset_free(&r.targets);
}

void rep_live_free(struct rep_live *l)
{
	free(l->checksum);
	free(l->release);
	free(l->targets);
	memset(l, 0, sizeof *l);
}
