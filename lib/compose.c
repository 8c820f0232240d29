/* What a push makes of a target's live release, and what a target's
 * deployment log says a rollback may return to: the pushing side's
 * reading of both, the same for every kind of target.
 *
 * A release composes: it holds what was live, with the archive's
 * applications added or replaced and those it removes taken out. Its
 * MANIFEST lists every application in it (version 2, add rows sorted
 * by name), so that a release says on its own what it runs.
 *
 * The log has one line per switch, written before current moves: a
 * line whose switch never happened (a push killed between the two) is
 * told apart by the next line's previous release, or for the last line
 * by current itself. */
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>

#include "transport.h"

static int by_name(const void *a, const void *b)
{
	const struct rep_manifest_app *x = *(const struct rep_manifest_app *const *)a;
	const struct rep_manifest_app *y = *(const struct rep_manifest_app *const *)b;
	return strcmp(x->app.name, y->app.name);
}

static void add_name(char **list, size_t *n, const char *name)
{
	size_t len = *list ? strlen(*list) : 0;

	/* the first few name themselves; the count says the rest */
	if (++*n > 8)
		return;
	*list = rep_xrealloc(*list, len + strlen(name) + 3);
	snprintf(*list + len, strlen(name) + 3, "%s%s", len ? ", " : "", name);
}

void rep_plan_free(struct rep_plan *p)
{
	free(p->enter_names);
	free(p->change_names);
	free(p->leave_names);
	rep_strset_free(&p->left);
	memset(p, 0, sizeof *p);
}

/* The full MANIFEST of the release that base (the live release's
 * MANIFEST, NULL for none; label names it in messages) and the archive
 * m make, in c; with replace, m's applications only. What enters,
 * changes, stays and leaves goes to p, and the content that leaves
 * (what was live of each) to p->left, for the records that say so. */
void rep_compose(const char *base, const char *label, const struct rep_manifest *m, int replace,
    struct rep_compose *c, struct rep_plan *p)
{
	struct rep_manifest old = { .release = 1 };
	const struct rep_manifest_app **rows;
	size_t n = 0;
	char *text = NULL;
	size_t len = 0;

	memset(p, 0, sizeof *p);
	if (base) {
		char *copy = rep_xstrdup(base);
		rep_manifest_parse(label, copy, &old);
		free(copy);
	}
	rows = rep_xmalloc((old.apps.n + m->apps.n + 1) * sizeof *rows);
	for (size_t i = 0; i < old.apps.n; i++) {
		const struct rep_manifest_app *a = old.apps.val[i];
		long k = rep_strset_find(&m->apps, a->app.name);
		const struct rep_manifest_app *b = k >= 0 ? m->apps.val[k] : NULL;
		if (a->remove)
			continue;
		if (b && !b->remove) {
			if (strcmp(a->app.checksum, b->app.checksum) == 0)
				p->stay++;
			else
				add_name(&p->change_names, &p->change, a->app.name);
		} else if (b || replace) {
			add_name(&p->leave_names, &p->leave, a->app.name);
			char *sum = rep_xstrdup(a->app.checksum);
			if (!rep_strset_add(&p->left, a->app.name, sum))
				free(sum);
		} else {
			p->stay++;
			rows[n++] = a;
		}
	}
	for (size_t i = 0; i < m->apps.n; i++) {
		const struct rep_manifest_app *b = m->apps.val[i];
		long k = rep_strset_find(&old.apps, b->app.name);
		if (b->remove)
			continue;
		if (k < 0 || ((struct rep_manifest_app *)old.apps.val[k])->remove)
			add_name(&p->enter_names, &p->enter, b->app.name);
		rows[n++] = b;
	}
	qsort(rows, n, sizeof *rows, by_name);
	FILE *f = open_memstream(&text, &len);
	if (!f)
		rep_die("out of memory");
	fputs("#rep-manifest\t2\n", f);
	for (size_t i = 0; i < n; i++)
		rep_manifest_row(f, rows[i], 0);
	if (fclose(f) != 0)
		rep_die("out of memory");
	free(rows);
	rep_manifest_free(&old);
	c->text = text;
	c->len = len;
	rep_sha256_hex(text, len, c->sha);
}

/* --- the log ---------------------------------------------------------------- */

/* A field of a log line: no TAB, space or control byte can reach it. */
static void log_field(FILE *f, const char *s)
{
	if (!*s)
		s = "-";
	for (; *s; s++)
		fputc(*s > ' ' && *s < 0x7f ? *s : '?', f);
}

/* The log line of a switch of current from was to to ("" for none). */
char *rep_log_line(const char *event, const char *to, const char *was)
{
	char now[32], *line = NULL;
	size_t len;
	FILE *f = open_memstream(&line, &len);

	if (!f)
		rep_die("out of memory");
	const char *v[] = { rep_now(now), event, to, was, rep_user(), rep_hostname() };
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		if (i)
			fputc('\t', f);
		log_field(f, v[i]);
	}
	if (fclose(f) != 0)
		rep_die("out of memory");
	return line;
}

static void stack_push(struct rep_history *h, const char *r)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 16;
		h->stack = rep_xrealloc(h->stack, h->cap * sizeof *h->stack);
	}
	h->stack[h->n++] = rep_xstrdup(r);
}

/* r rolled back from (on), or pushed again since (off) */
static void mark(struct rep_history *h, const char *r, int on)
{
	long k = rep_strset_find(&h->rolled, r);

	if (k < 0 && on) {
		rep_strset_add(&h->rolled, r, rep_xstrdup("rolled back from"));
	} else if (k >= 0 && !on) {
		free(h->rolled.val[k]);
		h->rolled.val[k] = NULL;
	}
}

static int rolled(const struct rep_history *h, const char *r)
{
	long k = rep_strset_find(&h->rolled, r);
	return k >= 0 && h->rolled.val[k];
}

/* One switch, to to from was ("" for none), as the history takes it. */
void rep_history_apply(struct rep_history *h, const char *event, const char *to, const char *was)
{
	if (strcmp(event, "push") == 0 || strcmp(event, "retire") == 0) {
		stack_push(h, was);
		mark(h, to, 0);
		return;
	}
	/* back to to: what the stack holds above it goes too (releases a
	 * rollback passed over) */
	size_t k = h->n;
	while (k > 0 && strcmp(h->stack[k - 1], to) != 0)
		k--;
	if (k == 0)
		k = h->n;       /* not there: one step back all the same */
	if (strcmp(event, "rollback") == 0)
		mark(h, was, 1);
	while (h->n >= k && h->n > 0)
		free(h->stack[--h->n]);
}

static int oldest_first(const void *a, const void *b)
{
	return rep_release_cmp(*(const char *const *)a, *(const char *const *)b);
}

struct log_line {
	char *f[6];
};

/* "-" in the log is no release */
static const char *rel(const char *s)
{
	return strcmp(s, "-") == 0 ? "" : s;
}

/* The history of a target: its log (NULL: none), its live release and
 * its releases. Lines that are not a switch's, or whose switch never
 * happened, are left out. */
void rep_history_read(struct rep_history *h, const char *log, const char *current,
    const struct rep_strset *releases)
{
	struct log_line *v = NULL;
	size_t n = 0, cap = 0;
	char *copy = log ? rep_xstrdup(log) : NULL, *save = NULL;
	const char *events[] = { "push", "retire", "rollback", "revert" };

	memset(h, 0, sizeof *h);
	for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		struct log_line l = { { 0 } };
		int nf = 0, known = 0;
		for (char *p = line; nf < 6 && p; nf++) {
			l.f[nf] = p;
			if ((p = strchr(p, '\t')))
				*p++ = 0;
			else if (nf < 5)
				break;
		}
		for (size_t i = 0; nf == 6 && i < 4; i++)
			known |= strcmp(l.f[1], events[i]) == 0;
		if (nf != 6 || !known || (*rel(l.f[2]) && !rep_release_name(l.f[2])) ||
		    (*rel(l.f[3]) && !rep_release_name(l.f[3])))
			continue;
		if (n == cap)
			v = rep_xrealloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
		v[n++] = l;
	}
	/* the lines in effect; a revert takes back the switch before it,
	 * whatever that was (a push, or a rollback) */
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const char *to = rel(v[i].f[2]);
		const char *next = i + 1 < n ? rel(v[i + 1].f[3]) : current;
		if (strcmp(next, to) != 0)
			continue;       /* logged, then killed before current moved */
		if (strcmp(v[i].f[1], "revert") == 0 && m > 0 && strcmp(rel(v[m - 1].f[2]), rel(v[i].f[3])) == 0 &&
		    strcmp(rel(v[m - 1].f[3]), to) == 0) {
			m--;
			continue;
		}
		v[m++] = v[i];
	}
	/* Where the log begins (or, with none in effect, where we are): a
	 * target that a rep-push without a log served before went back from
	 * there to the release before by name, and from that one to the
	 * one before it: those are the bottom of the stack */
	const char *cur = m ? rel(v[0].f[3]) : current;
	if (*cur) {
		const char **older = rep_xmalloc((releases->n + 1) * sizeof *older);
		size_t k = 0;
		for (size_t i = 0; i < releases->n; i++)
			if (releases->val[i] && rep_release_cmp(releases->v[i], cur) < 0)
				older[k++] = releases->v[i];
		qsort(older, k, sizeof *older, oldest_first);
		for (size_t i = 0; i < k; i++)
			stack_push(h, older[i]);
		free(older);
	}
	for (size_t i = 0; i < m; i++) {
		rep_history_apply(h, v[i].f[1], rel(v[i].f[2]), rel(v[i].f[3]));
		cur = rel(v[i].f[2]);
	}
	if (strcmp(cur, current) != 0) {
		/* current moved by another hand than rep-push's */
		stack_push(h, cur);
	}
	free(v);
	free(copy);
}

/* The release a rollback returns to, NULL for none: the newest entry of
 * the stack, passing over releases rolled back from and those gone. */
const char *rep_history_back(const struct rep_history *h, const struct rep_strset *releases, size_t *depth)
{
	for (size_t i = h->n; i-- > 0;) {
		const char *r = h->stack[i];
		if (!*r)
			return NULL;
		if (rolled(h, r) || !rep_releases_get(releases, r))
			continue;
		if (depth)
			*depth = h->n - i;
		return r;
	}
	return NULL;
}

/* Whether release r is among what keep successive rollbacks could
 * reach, passing over what rep_history_back does. */
int rep_history_reaches(const struct rep_history *h, const struct rep_strset *releases, const char *r,
    long keep)
{
	long seen = 0;

	for (size_t i = h->n; i-- > 0 && seen < keep;) {
		const char *s = h->stack[i];
		if (!*s)
			return 0;
		if (rolled(h, s) || !rep_releases_get(releases, s))
			continue;
		if (strcmp(s, r) == 0)
			return 1;
		seen++;
	}
	return 0;
}

void rep_history_free(struct rep_history *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->stack[i]);
	free(h->stack);
	rep_strset_free(&h->rolled);
	memset(h, 0, sizeof *h);
}
