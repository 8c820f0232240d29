/* The database as input (lib/db.c, issue 17 item 4). A metadata.db that
 * rep made (two applications, their history, cache rows) is changed as
 * the input says, through SQLite's C API with none of rep's defences:
 * triggers, views, indexes (on expressions, partial), tables (with
 * CHECK, DEFAULT and generated columns), ALTER TABLE, PRAGMA user_version
 * and application_id, rep's own objects dropped, recreated as they were
 * or otherwise, sqlite_schema edited directly (writable_schema), ANALYZE,
 * odd rows, SQL straight from the input; names from the input bytes. It
 * may be left in WAL mode with frames in its -wal, or with a hot
 * -journal (a transaction cut short), or replaced: a FIFO, a directory,
 * a symlink to it or to a FIFO; a side file a symlink, a FIFO or a
 * directory. Then the library opens it, read-only (REP_RO) and for
 * writing (REP_RW), in the order the input says; opened, it reads
 * everything and writes (an event, a sum, a status, the cache rows).
 * Each must either be refused with one message line (rep_die, which
 * returns here in fuzz builds; control bytes shown escaped) or succeed,
 * and then the schema must be exactly rep's: its statements those of a
 * database rep made (SQLite's sqlite_stat1 aside), version 2, rep's
 * application id. Whatever happened, no code from the file may have run:
 * every function a planted object can call (rep_fuzz_ran, innocuous, so
 * that SQLite lets a schema call it even with trusted_schema off, and
 * rep_fuzz_unsafe) counts its calls, which must stay 0 while the library
 * works, a planted trigger that RAISEs must never be what stopped it,
 * and one that writes to the table marker must never have written. A
 * refused open changes nothing in the database (what it holds, read
 * before and after); a path that is not a regular file is refused. The
 * library's connection left open by a refusal is closed here (it is
 * known by the sqlite3_open_v2 and sqlite3_close below, which stand in
 * for SQLite's own). With REP_FUZZ_DB_SHOW=1 in the environment, the
 * harness prints the SQL an input runs and what the library said on
 * stderr (run it on one input, without -close_fd_mask). */
#include <dlfcn.h>
#include <errno.h>
#include <nettle/sha2.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static char base[1024], dir[1100], dbpath[1200], realpath_[1200], msgs[1100];
static unsigned char *pristine;
static size_t pristine_len;
static char **rep_sql;         /* the statements of rep's schema */
static size_t nrep_sql;
static struct fuzz_catch caught;
static FILE *devnull;

/* --- SQLite's open and close, watched --------------------------------- */

static int armed;              /* the library is at work */
static long ran;               /* calls of the planted functions meanwhile */
static sqlite3 *lib_handles[8];

int sqlite3_open_v2(const char *name, sqlite3 **h, int flags, const char *vfs)
{
	static int (*real)(const char *, sqlite3 **, int, const char *);
	if (!real && !(real = (int (*)(const char *, sqlite3 **, int, const char *))
	    dlsym(RTLD_NEXT, "sqlite3_open_v2")))
		abort();
	int rc = real(name, h, flags, vfs);
	if (armed && *h)
		for (int i = 0; i < 8; i++)
			if (!lib_handles[i]) {
				lib_handles[i] = *h;
				break;
			}
	return rc;
}

static void forget(sqlite3 *h)
{
	for (int i = 0; i < 8; i++)
		if (lib_handles[i] == h)
			lib_handles[i] = NULL;
}

int sqlite3_close(sqlite3 *h)
{
	static int (*real)(sqlite3 *);
	if (!real && !(real = (int (*)(sqlite3 *))dlsym(RTLD_NEXT, "sqlite3_close")))
		abort();
	int rc = real(h);
	if (rc == SQLITE_OK)
		forget(h);
	return rc;
}

/* The connections a refusal left open: their statements finalized,
 * closed (which rolls back what they began). */
static void close_leftovers(void)
{
	for (int i = 0; i < 8; i++) {
		sqlite3 *h = lib_handles[i];
		sqlite3_stmt *st;
		if (!h)
			continue;
		while ((st = sqlite3_next_stmt(h, NULL)))
			sqlite3_finalize(st);
		if (sqlite3_close(h) != SQLITE_OK)
			fuzz_fail("a connection of the library cannot be closed: %s", sqlite3_errmsg(h));
	}
}

static void planted(sqlite3_context *c, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	ran += armed;
	sqlite3_result_int(c, 1);
}

/* on every connection, the library's too */
static int add_functions(sqlite3 *h, char **err, const void *api)
{
	(void)err;
	(void)api;
	sqlite3_create_function(h, "rep_fuzz_ran", -1,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL, planted, NULL, NULL);
	sqlite3_create_function(h, "rep_fuzz_unsafe", -1, SQLITE_UTF8, NULL, planted, NULL, NULL);
	return SQLITE_OK;
}

/* --- the files -------------------------------------------------------- */

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

static unsigned char *read_file(const char *path, size_t *n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		abort();
	unsigned char *p = malloc((size_t)st.st_size + 1);
	if (!p || read(fd, p, (size_t)st.st_size) != st.st_size)
		abort();
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

static void copy_file(const char *from, const char *to)
{
	size_t n;
	if (access(from, F_OK) < 0)
		return;
	unsigned char *p = read_file(from, &n);
	write_file(to, p, n);
	free(p);
}

static void exec_ok(sqlite3 *h, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK)
		fuzz_fail("the harness's SQL failed: %s: %s", sql, err);
}

/* A digest of what the database holds: its schema's rows and every
 * table's rows (read by a connection of the harness); NULL if it cannot
 * be read. */
static char *dump(sqlite3 *h)
{
	sqlite3_stmt *st, *t;
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];
	char *out = NULL;

	if (!h)
		return NULL;
	sha256_init(&c);
	if (sqlite3_prepare_v2(h, "SELECT type, name, tbl_name, rootpage, sql FROM sqlite_schema"
	    " ORDER BY rowid", -1, &st, NULL) != SQLITE_OK)
		goto done;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < 5; i++) {
			const unsigned char *v = sqlite3_column_text(st, i);
			sha256_update(&c, (size_t)sqlite3_column_bytes(st, i) + 1, v ? v : (const uint8_t *)"");
		}
		if (strcmp((const char *)sqlite3_column_text(st, 0), "table"))
			continue;
		char *q = sqlite3_mprintf("SELECT * FROM \"%w\"", (const char *)sqlite3_column_text(st, 1));
		if (sqlite3_prepare_v2(h, q, -1, &t, NULL) == SQLITE_OK) {
			while (sqlite3_step(t) == SQLITE_ROW)
				for (int i = 0; i < sqlite3_column_count(t); i++) {
					const void *v = sqlite3_column_blob(t, i);
					int n = sqlite3_column_bytes(t, i);
					sha256_update(&c, (size_t)n, v ? v : "");
					sha256_update(&c, 1, (const uint8_t *)"\x1f");
				}
			sqlite3_finalize(t);
		}
		sqlite3_free(q);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE) {
		sha256_digest(&c, sizeof d, d);
		out = malloc(2 * sizeof d + 1);
		if (!out)
			abort();
		for (size_t i = 0; i < sizeof d; i++)
			sprintf(out + 2 * i, "%02x", d[i]);
	}
done:
	return out;
}

/* A connection of the harness to read it, or NULL. */
static sqlite3 *reader(const char *path)
{
	sqlite3 *h;
	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
		return h;
	sqlite3_close(h);
	return NULL;
}

/* --- the database rep makes ------------------------------------------- */

static void make_pristine(void)
{
	static jmp_buf back;
	char path[1200];

	snprintf(path, sizeof path, "%s/pristine.db", base);
	rep_opt.db = "pristine.db";
	rep_opt.db_path = path;
	if (FUZZ_TRY(back))
		abort();
	struct rep_db *db = rep_db_open(REP_RW_CREATE);
	rep_db_begin(db);
	static const char *const names[] = { "app-a", "app-b" };
	struct rep_cached rows[2] = {
		{ .path = "bin/run", .st = { .size = 3, .mtime_ns = 1, .mode = 0100755 }, .cached_ns = 5 },
		{ .path = "x", .st = { .mtime_ns = 1, .mode = 0100644 }, .cached_ns = 5 },
	};
	for (int i = 0; i < 2; i++) {
		struct rep_app a = { .status = "registered", .files = 2, .bytes = 3,
			.registered = "2024-01-01T00:00:00Z", .updated = "2024-01-01T00:00:00Z" };
		snprintf(a.name, sizeof a.name, "%s", names[i]);
		memset(a.checksum, 'a', 64);
		rep_db_app_insert(db, &a);
		rep_db_event(db, a.id, a.registered, NULL, "registered", "");
		struct rep_hash_job job = { .app_id = a.id, .cache = rows, .ncache = 2 };
		rep_db_cache_store(db, &job, 1);
	}
	rep_db_commit(db);
	rep_db_close(db);
	rep_fuzz_jmp = NULL;
	pristine = read_file(path, &pristine_len);

	sqlite3 *h;
	sqlite3_stmt *st;
	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL", -1, &st,
	    NULL) != SQLITE_OK)
		abort();
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (!(rep_sql = realloc(rep_sql, (nrep_sql + 1) * sizeof *rep_sql)) ||
		    !(rep_sql[nrep_sql++] = strdup((const char *)sqlite3_column_text(st, 0))))
			abort();
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	if (nrep_sql < 6)
		abort();
}

static void remove_base(void)
{
	rep_rm_tree(AT_FDCWD, base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(base, sizeof base, "%s/rep-db-XXXXXX", fuzz_tmpdir());
	if (!mkdtemp(base))
		abort();
	atexit(remove_base);
	snprintf(dir, sizeof dir, "%s/d", base);
	snprintf(msgs, sizeof msgs, "%s/messages", base);
	rep_opt.quiet = 1;
	setenv("LOGNAME", "fuzz", 1);
	unsetenv("SUDO_USER");
	sqlite3_auto_extension((void (*)(void))add_functions);
	if (!(devnull = fopen("/dev/null", "w")))
		abort();
	make_pristine();
	return 0;
}

/* --- the input -------------------------------------------------------- */

/* A quoted name: one of rep's, or of the input's bytes. */
static void name(struct src *s, char *out, size_t cap)
{
	static const char *const known[] = {
		"app", "history", "file", "history_by_app", "history_no_update", "history_no_delete",
		"marker", "t", "v", "i", "sqlite_stat1", "App", "temp", "main",
	};
	unsigned c = byte(s);
	char raw[32];
	size_t n = 0;

	if (c % 2) {
		snprintf(raw, sizeof raw, "%s", known[c / 2 % (sizeof known / sizeof *known)]);
	} else {
		unsigned want = 1 + c / 2 % 12;
		while (n < want) {
			unsigned b = byte(s);
			raw[n++] = (char)(b ? b : 'x');
		}
		raw[n] = 0;
	}
	char *q = sqlite3_mprintf("\"%w\"", raw);
	snprintf(out, cap, "%s", q);
	sqlite3_free(q);
}

static const char *one_of(struct src *s, const char *const *v, size_t n)
{
	return v[byte(s) % n];
}
#define PICK(s, v) one_of(s, v, sizeof v / sizeof *v)

static const char *const tables[] = { "app", "history", "file", "marker", "sqlite_stat1", "v" };
static const char *const bodies[] = {
	"INSERT INTO marker VALUES (1)", "SELECT rep_fuzz_ran()", "SELECT rep_fuzz_unsafe()",
	"SELECT RAISE(ABORT, 'REP-FUZZ-TRIGGER')", "UPDATE app SET status = 'deployed'",
	"DELETE FROM file", "INSERT INTO history (app_id, time, new_status, user) VALUES (1, 'x', 'deployed', 'mallory')",
};
static const char *const exprs[] = {
	"rep_fuzz_ran()", "rep_fuzz_unsafe()", "rep_fuzz_ran(1) > 0", "1", "NULL",
	"(SELECT rep_fuzz_ran())", "random()", "abs(-1)",
};
static const char *const columns[] = { "name", "status", "note", "path", "app_id", "x", "1" };

/* One change, as SQL, into sql. */
static void change(struct src *s, char *sql, size_t cap, sqlite3 *h)
{
	char n1[128], n2[128];
	unsigned op = byte(s) % 13;

	name(s, n1, sizeof n1);
	switch (op) {
	case 0: {
		static const char *const when[] = { "BEFORE", "AFTER", "INSTEAD OF", "" };
		static const char *const ev[] = { "INSERT", "UPDATE", "DELETE", "UPDATE OF status" };
		/* one pick a statement: in the order of the input */
		const char *w = PICK(s, when), *e = PICK(s, ev), *t = PICK(s, tables);
		const char *cond = byte(s) % 2 ? "" : "WHEN rep_fuzz_ran()";
		snprintf(sql, cap, "CREATE TRIGGER %s %s %s ON %s %s BEGIN %s; END", n1, w, e, t, cond,
		    PICK(s, bodies));
		break;
	}
	case 1: {
		const char *e = PICK(s, exprs);
		snprintf(sql, cap, "CREATE VIEW %s AS SELECT %s, * FROM %s", n1, e, PICK(s, tables));
		break;
	}
	case 2: {
		const char *t = PICK(s, tables), *col = PICK(s, columns);
		switch (byte(s) % 3) {
		case 0: snprintf(sql, cap, "CREATE INDEX %s ON %s (%s)", n1, t, col); break;
		case 1: snprintf(sql, cap, "CREATE INDEX %s ON %s (rep_fuzz_ran(%s))", n1, t, col); break;
		default: snprintf(sql, cap, "CREATE INDEX %s ON %s (%s) WHERE %s", n1, t, col, PICK(s, exprs)); break;
		}
		break;
	}
	case 3: {
		const char *a = PICK(s, exprs), *b = PICK(s, exprs);
		snprintf(sql, cap, "CREATE TABLE %s (x CHECK (%s), y DEFAULT (%s), z AS (%s))", n1, a, b,
		    PICK(s, exprs));
		break;
	}
	case 4: {
		name(s, n2, sizeof n2);
		unsigned kind = byte(s) % 4;
		const char *t = PICK(s, tables);
		switch (kind) {
		case 0: snprintf(sql, cap, "ALTER TABLE %s ADD COLUMN %s DEFAULT 0 CHECK (%s)", t, n2, PICK(s, exprs)); break;
		case 1: snprintf(sql, cap, "ALTER TABLE %s RENAME TO %s", t, n2); break;
		case 2: snprintf(sql, cap, "ALTER TABLE %s RENAME COLUMN %s TO %s", t, PICK(s, columns), n2); break;
		default: snprintf(sql, cap, "ALTER TABLE %s DROP COLUMN %s", t, PICK(s, columns)); break;
		}
		break;
	}
	case 5: {
		static const char *const pragmas[] = { "user_version", "application_id" };
		static const long values[] = { 0, 1, 2, 3, -1, 0x72657031, 0x72657030, -2147483647 - 1 };
		const char *which = PICK(s, pragmas);
		snprintf(sql, cap, "PRAGMA %s = %ld", which, values[byte(s) % 8]);
		break;
	}
	case 6: {  /* sqlite_schema itself */
		static const char *const edits[] = {
			"UPDATE sqlite_schema SET sql = replace(sql, 'BEGIN', 'BEGIN SELECT rep_fuzz_ran();') WHERE type = 'trigger'",
			"UPDATE sqlite_schema SET sql = replace(sql, 'ABORT', 'IGNORE') WHERE type = 'trigger'",
			"UPDATE sqlite_schema SET name = 'x' || name WHERE type = 'trigger'",
			"UPDATE sqlite_schema SET type = 'index' WHERE type = 'trigger'",
			"UPDATE sqlite_schema SET tbl_name = 'file' WHERE name = 'history_by_app'",
			"UPDATE sqlite_schema SET sql = sql || ' ' WHERE name = 'app'",
			"UPDATE sqlite_schema SET sql = lower(sql) WHERE name = 'history_no_delete'",
			"UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (files >= 0)', 'CHECK (rep_fuzz_ran(files))') WHERE name = 'app'",
			"INSERT INTO sqlite_schema SELECT type, 'y' || name, tbl_name, rootpage, sql FROM sqlite_schema WHERE type = 'trigger'",
			"INSERT INTO sqlite_schema VALUES ('trigger', 'planted', 'app', 0, 'CREATE TRIGGER planted AFTER UPDATE ON app BEGIN SELECT rep_fuzz_ran(); END')",
			"INSERT INTO sqlite_schema VALUES ('table', 'sqlite_stat1', 'sqlite_stat1', 0, 'CREATE TABLE sqlite_stat1(tbl,idx,stat)')",
			"UPDATE sqlite_schema SET sql = NULL WHERE type = 'trigger'",
			"DELETE FROM sqlite_schema WHERE name = 'history_by_app'",
			"UPDATE sqlite_schema SET rootpage = (SELECT rootpage FROM sqlite_schema WHERE name = 'history') WHERE name = 'app'",
		};
		sqlite3_db_config(h, SQLITE_DBCONFIG_DEFENSIVE, 0, NULL);
		snprintf(sql, cap, "PRAGMA writable_schema = ON; %s; PRAGMA writable_schema = OFF", PICK(s, edits));
		break;
	}
	case 7: {  /* one of rep's own, dropped, maybe made again as it was */
		static const char *const objs[] = {
			"TRIGGER history_no_update", "TRIGGER history_no_delete", "INDEX history_by_app", "TABLE file",
			"TABLE history", "TABLE app",
		};
		const char *o = PICK(s, objs);
		const char *nm = strchr(o, ' ') + 1;
		const char *again = "";
		for (size_t i = 0; i < nrep_sql; i++)
			if (strstr(rep_sql[i], nm) && !strncmp(rep_sql[i] + 7, o, strlen(o)) && byte(s) % 4)
				again = rep_sql[i];
		snprintf(sql, cap, "DROP %s; %s", o, again);
		break;
	}
	case 8:
		snprintf(sql, cap, "%s", byte(s) % 2 ? "ANALYZE" : "ANALYZE app");
		break;
	case 9: {  /* SQL of the input, up to a NUL */
		size_t n = 0;
		while (s->n && n + 1 < cap) {
			unsigned b = byte(s);
			if (!b)
				break;
			sql[n++] = (char)b;
		}
		sql[n] = 0;
		break;
	}
	case 10:
		snprintf(sql, cap, "CREATE TABLE marker (x)");
		break;
	case 11:  /* odd rows */
		name(s, n2, sizeof n2);
		switch (byte(s) % 6) {
		case 0: snprintf(sql, cap, "INSERT INTO app (name, status, files, bytes, checksum, registered,"
		    " updated) VALUES (%s, 'ready', 0, 0, 'x', 'r', 'u')", n2); break;
		case 1: snprintf(sql, cap, "PRAGMA ignore_check_constraints = ON; INSERT INTO app (name, status,"
		    " files, bytes, checksum, registered, updated) VALUES (%s, 'bogus', -1, -1, %s, '', '')",
		    n2, n1); break;
		case 2: snprintf(sql, cap, "UPDATE app SET name = %s WHERE id = 1", n2); break;
		case 3: snprintf(sql, cap, "UPDATE app SET checksum = hex(randomblob(100)) || %s", n2); break;
		case 4: snprintf(sql, cap, "INSERT INTO file VALUES (1, %s, 0, 0, 0, 0, 0, 0, x'00', 0)", n2); break;
		default: snprintf(sql, cap, "INSERT INTO history (app_id, time, new_status, user, note)"
		    " VALUES (99, %s, 'x', 'y', %s)", n2, n1); break;
		}
		break;
	default: {
		static const char *const misc[] = { "VACUUM", "PRAGMA journal_mode = DELETE", "REINDEX", "PRAGMA page_size = 512; VACUUM" };
		snprintf(sql, cap, "%s", PICK(s, misc));
		break;
	}
	}
}

/* --- one run of the library ------------------------------------------- */

/* What may be said on refusal: one line, "rep: ...", no control byte
 * but its newline, and never a planted trigger's words. */
static void one_line(const char *said, const char *how)
{
	size_t n = strlen(said);
	if (n == 0)
		fuzz_fail("%s: refused without a word", how);
	if (strncmp(said, "rep: ", 5) || said[n - 1] != '\n')
		fuzz_fail("%s: the message is not one line \"rep: ...\": %s", how, said);
	for (size_t i = 0; i + 1 < n; i++)
		if ((unsigned char)said[i] < 0x20 || said[i] == 0x7f)
			fuzz_fail("%s: a control byte (0x%02x) in the message: %s", how, said[i], said);
	if (strstr(said, "REP-FUZZ-TRIGGER"))
		fuzz_fail("%s: a planted trigger ran: %s", how, said);
}

static int each_app(const struct rep_app *a, void *arg)
{
	char ***names = arg;
	if (strlen(a->name) < REP_NAME_MAX)
		for (int i = 0; i < 3; i++)
			if (!(*names)[i]) {
				(*names)[i] = strdup(a->name);
				break;
			}
	return 0;
}

static int each_event(const struct rep_event *e, void *arg)
{
	(void)e;
	++*(long *)arg;
	return 0;
}

/* Opens it as how says, and reads (and writes) through it; whether it
 * was opened, and in said what the library said. */
static int use(enum rep_open how, char *said, size_t cap)
{
	static jmp_buf back;
	static struct rep_db *volatile db;
	static char *names[4];
	static volatile int opened;

	db = NULL;
	opened = 0;
	memset(names, 0, sizeof names);
	fuzz_catch(&caught, msgs);
	armed = 1;
	if (FUZZ_TRY(back)) {
		armed = 0;
		rep_fuzz_jmp = NULL;
		fuzz_caught(&caught, said, cap);
		close_leftovers();
		for (int i = 0; i < 3; i++)
			free(names[i]);
		return opened;
	}
	db = rep_db_open(how);
	opened = 1;
	char **n = names;
	long events = 0;
	rep_db_each_app(db, each_app, &n);
	rep_db_each_event(db, each_event, &events);
	struct rep_app a;
	if (rep_db_app_get(db, "app-a", &a)) {
		struct rep_hash_job job = { .name = "app-a", .app_id = a.id };
		rep_db_cache_load(db, &job, 1);
		if (how != REP_RO) {
			rep_db_begin(db);
			rep_db_event(db, a.id, "2024-01-02T00:00:00Z", a.status, a.status, "fuzz");
			a.files++;
			rep_db_app_update_sum(db, &a);
			rep_db_cache_store(db, &job, 0);
			size_t k = 0;
			while (k < 3 && names[k])
				k++;
			struct rep_set set = { .status = "deployed", .time = "2024-01-03T00:00:00Z",
				.names = names, .n = k };
			rep_db_set_status(db, &set, devnull);
			rep_db_commit(db);
		}
		rep_cache_free(&job);
	}
	rep_db_close(db);
	armed = 0;
	rep_fuzz_jmp = NULL;
	fuzz_caught(&caught, said, cap);
	for (int i = 0; i < 3; i++)
		free(names[i]);
	return 2;   /* opened and used */
}

/* After the library opened it: nothing but rep's schema. */
static void only_reps(sqlite3 *h, const char *how)
{
	sqlite3_stmt *st;
	int version = -1, appid = -1;
	char *seen = calloc(nrep_sql, 1);

	if (!seen)
		abort();
	if (!h)
		fuzz_fail("%s: opened by the library, not by the harness", how);
	if (sqlite3_prepare_v2(h, "SELECT type, name, sql FROM sqlite_schema", -1, &st, NULL) != SQLITE_OK)
		fuzz_fail("%s: opened by the library, its schema unreadable: %s", how, sqlite3_errmsg(h));
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *nm = (const char *)sqlite3_column_text(st, 1);
		const char *sql = (const char *)sqlite3_column_text(st, 2);
		size_t i;
		if (!sql)
			continue;  /* an index SQLite made for UNIQUE, PRIMARY KEY */
		if (!strcmp(sql, "CREATE TABLE sqlite_stat1(tbl,idx,stat)") ||
		    !strcmp(sql, "CREATE TABLE sqlite_stat4(tbl,idx,neq,nlt,ndlt,sample)"))
			continue;
		for (i = 0; i < nrep_sql && (seen[i] || strcmp(sql, rep_sql[i])); i++)
			;
		if (i == nrep_sql)
			fuzz_fail("%s: opened by the library with %s %s in it, not rep's: %s", how, type, nm, sql);
		seen[i] = 1;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < nrep_sql; i++)
		if (!seen[i])
			fuzz_fail("%s: opened by the library without rep's %s", how, rep_sql[i]);
	if (sqlite3_prepare_v2(h, "SELECT (SELECT user_version FROM pragma_user_version),"
	    " (SELECT application_id FROM pragma_application_id)", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		version = sqlite3_column_int(st, 0);
		appid = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	free(seen);
	if (version != 3 || appid != 0x72657031)
		fuzz_fail("%s: opened by the library with user_version %d, application_id %#x", how,
		    version, appid);
}

/* The rows of marker, if there is such a table. */
static long markers(sqlite3 *h)
{
	sqlite3_stmt *st;
	long n = 0;

	if (h && sqlite3_prepare_v2(h, "SELECT count(*) FROM marker WHERE (SELECT type FROM sqlite_schema"
	    " WHERE name = 'marker') = 'table'", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	return n;
}

/* --- one input -------------------------------------------------------- */

static long steps;

/* The input's SQL may attach a temporary database ("", as VACUUM does),
 * not a file. */
static int no_files(void *unused, int action, const char *a, const char *b, const char *c,
    const char *d)
{
	(void)unused, (void)b, (void)c, (void)d;
	return action == SQLITE_ATTACH && a && *a ? SQLITE_DENY : SQLITE_OK;
}

static int enough(void *unused)
{
	(void)unused;
	return ++steps > 2000;
}

enum { J_DELETE, J_WAL, J_FRAMES, J_HOT };
enum { F_NONE, F_FIFO, F_DIR, F_LINK, F_LINK_FIFO, F_WAL_LINK, F_WAL_FIFO, F_SHM_DIR,
	F_JOURNAL_LINK, F_WAL_DIR };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct src s = { data, size };
	unsigned flags = byte(&s), journal = flags & 3, fileop = flags >> 4;
	if (getenv("REP_FUZZ_DB_SHOW"))
		fprintf(stderr, "journal %u, version %d, %s first, file case %u\n", journal,
		    flags & 4 ? 1 : 2, flags & 8 ? "REP_RW" : "REP_RO", fileop < 6 ? 0 : fileop - 5);
	char sql[4096], side[1300], said[4096];
	sqlite3 *h;

	fileop = fileop < 6 ? F_NONE : fileop - 5;   /* most inputs: a file */
	rep_rm_tree(AT_FDCWD, dir);
	if (mkdir(dir, 0755) < 0)
		abort();
	snprintf(dbpath, sizeof dbpath, "%s/metadata.db", dir);
	snprintf(realpath_, sizeof realpath_, "%s/%s", dir, fileop == F_LINK ? "real.db" : "metadata.db");
	write_file(realpath_, pristine, pristine_len);
	if (fileop == F_LINK && symlink("real.db", dbpath) < 0)
		abort();

	if (sqlite3_open_v2(realpath_, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		abort();
	/* the input's SQL: no other file (ATTACH, VACUUM INTO), no huge
	 * value, no endless query */
	sqlite3_set_authorizer(h, no_files, NULL);
	sqlite3_limit(h, SQLITE_LIMIT_LENGTH, 1 << 20);
	sqlite3_progress_handler(h, 1000, enough, NULL);
	steps = 0;
	exec_ok(h, journal == J_DELETE || journal == J_HOT ? "PRAGMA journal_mode = DELETE"
	    : "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0");
	if (flags & 4)   /* the schema of version 1, as rep made it */
		exec_ok(h, "DROP TABLE deployment; DROP TABLE file; PRAGMA user_version = 1");
	int in_txn = 0;
	for (int ops = 0; s.n && ops < 24; ops++) {
		if (journal == J_HOT && !in_txn && byte(&s) % 4 == 0)
			/* the rest is a transaction cut short */
			in_txn = sqlite3_exec(h, "PRAGMA cache_size = 2; BEGIN", NULL, NULL, NULL) == SQLITE_OK;
		change(&s, sql, sizeof sql, h);
		int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
		if (getenv("REP_FUZZ_DB_SHOW"))  /* what an input does */
			fprintf(stderr, "%s%s: %s\n", in_txn ? "(in the cut transaction) " : "", sql,
			    rc == SQLITE_OK ? "done" : sqlite3_errmsg(h));
		sqlite3_db_config(h, SQLITE_DBCONFIG_DEFENSIVE, 0, NULL);
	}
	if (journal == J_HOT && !in_txn)
		in_txn = sqlite3_exec(h, "PRAGMA cache_size = 2; BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_exec(h, "PRAGMA writable_schema = OFF", NULL, NULL, NULL);
	if (in_txn && sqlite3_get_autocommit(h))
		in_txn = 0;   /* the input's SQL ended it */
	char *before = NULL;
	long marked = 0;
	if (!in_txn) {
		sqlite3 *r = reader(realpath_);
		before = dump(r);
		marked = markers(r);
		sqlite3_close(r);
	}
	if (journal == J_HOT && in_txn) {
		/* pages spilled into the file, the journal holds them as
		 * they were: a copy of both is a writer killed mid-way */
		sqlite3_exec(h, "CREATE TABLE filler (x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL"
		    " SELECT i + 1 FROM c WHERE i < 40) INSERT INTO filler SELECT zeroblob(3000) FROM c",
		    NULL, NULL, NULL);
		char cdb[1300], cj[1300];
		snprintf(cdb, sizeof cdb, "%s/cut.db", base);
		snprintf(cj, sizeof cj, "%s/cut.db-journal", base);
		snprintf(side, sizeof side, "%s-journal", realpath_);
		unlink(cj);
		copy_file(realpath_, cdb);
		copy_file(side, cj);
		sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
		sqlite3 *r = reader(realpath_);
		before = dump(r);
		marked = markers(r);
		sqlite3_close(r);
		sqlite3_close(h);
		if (rename(cdb, realpath_) < 0 || (access(cj, F_OK) == 0 && rename(cj, side) < 0))
			abort();
	} else if (journal == J_FRAMES) {
		/* the changes left in the -wal, as a writer leaves them */
		char cdb[1300], cw[1300];
		snprintf(cdb, sizeof cdb, "%s/cut.db", base);
		snprintf(cw, sizeof cw, "%s/cut.db-wal", base);
		snprintf(side, sizeof side, "%s-wal", realpath_);
		unlink(cw);
		copy_file(realpath_, cdb);
		copy_file(side, cw);
		sqlite3_close(h);
		if (rename(cdb, realpath_) < 0 || (access(cw, F_OK) == 0 && rename(cw, side) < 0))
			abort();
	} else {
		sqlite3_close(h);
	}

	/* the file itself */
	int must_refuse = 1;
	switch (fileop) {
	case F_FIFO:
	case F_DIR:
		unlink(dbpath);
		if ((fileop == F_FIFO ? mkfifo(dbpath, 0644) : mkdir(dbpath, 0755)) < 0)
			abort();
		break;
	case F_LINK_FIFO:
		unlink(dbpath);
		snprintf(side, sizeof side, "%s/fifo", dir);
		if (mkfifo(side, 0644) < 0 || symlink("fifo", dbpath) < 0)
			abort();
		break;
	case F_WAL_LINK:
	case F_JOURNAL_LINK:
		snprintf(side, sizeof side, "%s%s", realpath_, fileop == F_WAL_LINK ? "-wal" : "-journal");
		unlink(side);
		if (symlink(byte(&s) % 2 ? "/nonexistent" : "elsewhere", side) < 0)
			abort();
		break;
	case F_WAL_FIFO:
	case F_WAL_DIR:
	case F_SHM_DIR:
		snprintf(side, sizeof side, "%s%s", realpath_, fileop == F_SHM_DIR ? "-shm" : "-wal");
		unlink(side);
		if ((fileop == F_WAL_FIFO ? mkfifo(side, 0644) : mkdir(side, 0755)) < 0)
			abort();
		break;
	default:
		must_refuse = 0;
	}

	rep_opt.db = "metadata.db";
	rep_opt.db_path = dbpath;
	enum rep_open order[2] = { REP_RO, REP_RW };
	if (flags & 8)
		order[0] = REP_RW, order[1] = REP_RO;
	for (int k = 0; k < 2; k++) {
		const char *how = order[k] == REP_RO ? "REP_RO" : "REP_RW";
		ran = 0;
		int got = use(order[k], said, sizeof said);
		if (getenv("REP_FUZZ_DB_SHOW"))
			fprintf(stderr, "%s: %s%s", how, got == 2 ? "opened and used\n" : got ? "opened, then: "
			    : "refused: ", got == 2 ? "" : said);
		if (ran)
			fuzz_fail("%s: code of the database ran %ld times (the library %s)", how, ran,
			    got == 2 ? "opened it" : said);
		if (got == 2 && must_refuse)
			fuzz_fail("%s: opened what is not a regular file (file case %u)", how, fileop);
		if (got < 2)
			one_line(said, how);
		else if (*said)
			fuzz_fail("%s: opened, with a message: %s", how, said);
		if (must_refuse)
			continue;
		sqlite3 *r = reader(realpath_);
		if (got == 2)
			only_reps(r, how);
		long now = markers(r);
		if (now > marked)
			fuzz_fail("%s: a planted trigger wrote to marker (%ld rows, %ld before)", how, now,
			    marked);
		char *after = dump(r);
		sqlite3_close(r);
		/* refused: nothing changed (a hot journal may be rolled
		 * back, to what was committed); read-only: nothing either.
		 * (Opened for writing, then refused: its upgrade stays.) */
		if ((got == 0 || order[k] == REP_RO) && before && after && strcmp(before, after))
			fuzz_fail("%s: %s, and the database changed", how, got < 2 ? said : "read");
		if (got && order[k] != REP_RO) {
			free(before);
			before = after;
		} else {
			free(after);
		}
	}
	free(before);
	return 0;
}
