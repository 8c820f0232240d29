/* The application record and the history record, with -o and -H. */
#include <string.h>

#include "rep.h"

const char *const rep_app_fields[REP_APP_NFIELDS] = {
	"name", "status", "files", "bytes", "checksum", "registered", "updated"
};

const char *const rep_event_fields[REP_EVENT_NFIELDS] = {
	"name", "time", "from", "to", "user", "note"
};

/* Parses "name,status" into field indexes; returns how many. */
int rep_fields_parse(const char *spec, const char *const *names, int nnames, int *sel)
{
	char buf[256], *save, *tok;
	int n = 0;

	if (strlen(spec) >= sizeof buf)
		rep_die("-o: field list too long");
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int i = 0;
		while (i < nnames && strcmp(tok, names[i]) != 0)
			i++;
		if (i == nnames) {
			char valid[128] = "";
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
	char files[24], bytes[24];
	const char *f[REP_APP_NFIELDS] = {
		a->name, a->status, files, bytes, a->checksum, a->registered, a->updated
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
