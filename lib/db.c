/* The metadata database. All SQL of rep lives in this file. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "rep.h"

/* how long a connection waits for another one's lock */
#define BUSY_TIMEOUT_MS 30000

#define REP_APPLICATION_ID 0x72657031 /* "rep1" */

/* Each step brings the schema from version-1 to version; its statements
 * are applied in order, in one BEGIN IMMEDIATE transaction, by writers
 * only. Each is written as SQLite keeps it in sqlite_schema ("CREATE",
 * its kind and its name, one space apart; no ';'): check_objects takes
 * a database's schema for rep's by comparing it with them. */
enum { STEP_MAX = 8 }; /* statements in a step */
static const struct { int version; const char *const sql[STEP_MAX]; } migrations[] = {
	{ 1, {
	  "CREATE TABLE app ("
	  " id INTEGER PRIMARY KEY,"
	  " name TEXT NOT NULL UNIQUE,"
	  " status TEXT NOT NULL CHECK (status IN ('registered','ready',"
	  "  'pending_deployment','deployed','failed','retired')),"
	  " files INTEGER NOT NULL CHECK (files >= 0),"
	  " bytes INTEGER NOT NULL CHECK (bytes >= 0),"
	  " checksum TEXT NOT NULL,"
	  " registered TEXT NOT NULL,"
	  " updated TEXT NOT NULL)",
	  "CREATE TABLE history ("
	  " id INTEGER PRIMARY KEY,"
	  " app_id INTEGER NOT NULL REFERENCES app(id),"
	  " time TEXT NOT NULL,"
	  " old_status TEXT,"
	  " new_status TEXT NOT NULL,"
	  " user TEXT NOT NULL,"
	  " note TEXT NOT NULL DEFAULT '')",
	  "CREATE INDEX history_by_app ON history(app_id, id)",
	  "CREATE TRIGGER history_no_update BEFORE UPDATE ON history"
	  " BEGIN SELECT RAISE(ABORT, 'history is append-only'); END",
	  "CREATE TRIGGER history_no_delete BEFORE DELETE ON history"
	  " BEGIN SELECT RAISE(ABORT, 'history is append-only'); END" } },
	/* The stat cache of rep-diff: what each file looked like when it was
	 * last hashed. Not part of any record; any writer may replace it. */
	{ 2, {
	  "CREATE TABLE file ("
	  " app_id INTEGER NOT NULL REFERENCES app(id),"
	  " path BLOB NOT NULL,"
	  " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,"
	  " ino INTEGER NOT NULL, dev INTEGER NOT NULL, mode INTEGER NOT NULL,"
	  " hash BLOB NOT NULL, cached_ns INTEGER NOT NULL,"
	  " PRIMARY KEY (app_id, path)) WITHOUT ROWID" } },
	/* What is live where, as far as the database knows: one row per
	 * application and target, written by rep-setstatus --record from
	 * rep-push's records. A database migrated from version 2 has none
	 * for what was deployed before: nothing is invented. */
	{ 3, {
	  "CREATE TABLE deployment ("
	  " app_id INTEGER NOT NULL REFERENCES app(id),"
	  " target TEXT NOT NULL,"
	  " checksum TEXT NOT NULL,"
	  " release TEXT NOT NULL,"
	  " time TEXT NOT NULL,"
	  " user TEXT NOT NULL,"
	  " PRIMARY KEY (app_id, target)) WITHOUT ROWID" } },
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

enum stmt {
	ST_SCHEMA, ST_SCHEMA_ROWS, ST_APP_GET, ST_APP_INSERT, ST_APP_UPDATE_SUM,
	ST_INPUT_PUT, ST_INPUT_UNKNOWN, ST_SET_SELECT, ST_SET_EVENTS, ST_SET_UPDATE,
	ST_EVENT, ST_APPS, ST_APPS_BY_ID, ST_EVENTS, ST_CACHE_RANGE, ST_CACHE_APP, ST_CACHE_DEL,
	ST_CACHE_PUT1, ST_CACHE_PUT4, ST_CACHE_PUT16,
	ST_APP_SET_STATUS, ST_DEPLOY_APP, ST_DEPLOY_PUT, ST_DEPLOY_DEL,
	ST_COUNT
};

#define CACHE_PUT "INSERT INTO file (app_id, path, size, mtime_ns, ctime_ns, ino, dev, mode," \
	" hash, cached_ns) VALUES "
#define CACHE_ROW "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define CACHE_ROWS4 CACHE_ROW "," CACHE_ROW "," CACHE_ROW "," CACHE_ROW
enum { CACHE_COLS = 10 };

static const char *const stmt_sql[ST_COUNT] = {
	[ST_SCHEMA] = "SELECT (SELECT application_id FROM pragma_application_id),"
	    " (SELECT user_version FROM pragma_user_version),"
	    " (SELECT count(*) FROM sqlite_schema)",
	/* The schema's statements, which SQLite runs to load it, but for
	 * those of its own statistics tables (ANALYZE makes them; they hold
	 * numbers and run nothing). A row without one is an index SQLite made
	 * for a table's UNIQUE or PRIMARY KEY: it runs nothing either. */
	[ST_SCHEMA_ROWS] = "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL"
	    " AND NOT (type IS 'table' AND name IS tbl_name AND"
	    " (name IS 'sqlite_stat1' AND sql IS 'CREATE TABLE sqlite_stat1(tbl,idx,stat)' OR"
	    "  name IS 'sqlite_stat4' AND sql IS 'CREATE TABLE sqlite_stat4(tbl,idx,neq,nlt,ndlt,sample)'))",
	[ST_APP_GET] = "SELECT id, name, status, files, bytes, checksum, registered, updated"
	    " FROM app WHERE name = ?1",
	[ST_APP_INSERT] = "INSERT INTO app (name, status, files, bytes, checksum, registered, updated)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* a refresh may change the status too (rep-register's rule 2) */
	[ST_APP_UPDATE_SUM] = "UPDATE app SET files = ?2, bytes = ?3, checksum = ?4, updated = ?5,"
	    " status = ?6 WHERE id = ?1",
	[ST_APP_SET_STATUS] = "UPDATE app SET status = ?2, updated = ?3 WHERE id = ?1",
	[ST_DEPLOY_APP] = "SELECT target, checksum, release FROM deployment WHERE app_id = ?1"
	    " ORDER BY target",
	[ST_DEPLOY_PUT] = "INSERT INTO deployment (app_id, target, checksum, release, time, user)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (app_id, target) DO UPDATE SET"
	    " checksum = excluded.checksum, release = excluded.release, time = excluded.time,"
	    " user = excluded.user",
	[ST_DEPLOY_DEL] = "DELETE FROM deployment WHERE app_id = ?1 AND target = ?2",
	/* rep-setstatus works on its whole input at once, set-wise: the
	 * names go into temp.input, in order, each with its id (NULL: not
	 * registered), and three statements do the rest, joining by id: that
	 * spares two lookups by name per application (0.65 s against 0.71 s
	 * for 100,000 names).
	 * ?1 status, ?2 time, ?3 FROM (NULL: any), ?4 user, ?5 note. */
	[ST_INPUT_PUT] = "INSERT INTO temp.input (name, note, app_id)"
	    " VALUES (?1, ?2, (SELECT id FROM app WHERE name = ?1))",
	[ST_INPUT_UNKNOWN] = "SELECT name FROM temp.input WHERE app_id IS NULL ORDER BY seq LIMIT 1",
	[ST_SET_SELECT] = "SELECT a.id, a.name, ?1, a.files, a.bytes, a.checksum, a.registered, ?2"
	    " FROM temp.input i JOIN app a ON a.id = i.app_id"
	    " WHERE ?3 IS NULL OR a.status = ?3 ORDER BY i.seq",
	[ST_SET_EVENTS] = "INSERT INTO history (app_id, time, old_status, new_status, user, note)"
	    " SELECT a.id, ?2, a.status, ?1, ?4, coalesce(i.note, ?5, '')"
	    " FROM temp.input i JOIN app a ON a.id = i.app_id"
	    " WHERE ?3 IS NULL OR a.status = ?3 ORDER BY i.seq",
	[ST_SET_UPDATE] = "UPDATE app SET status = ?1, updated = ?2"
	    " WHERE id IN (SELECT app_id FROM temp.input) AND (?3 IS NULL OR status = ?3)",
	[ST_EVENT] = "INSERT INTO history (app_id, time, old_status, new_status, user, note)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_APPS] = "SELECT id, name, status, files, bytes, checksum, registered, updated"
	    " FROM app ORDER BY name",
	/* the table's own order: no lookup from the name index per row */
	[ST_APPS_BY_ID] = "SELECT id, name, status, files, bytes, checksum, registered, updated"
	    " FROM app ORDER BY id",
	[ST_EVENTS] = "SELECT a.name, h.time, h.old_status, h.new_status, h.user, h.note,"
	    " a.status, a.id FROM history h JOIN app a ON a.id = h.app_id ORDER BY h.id",
	[ST_CACHE_RANGE] = "SELECT app_id, path, size, mtime_ns, ctime_ns, ino, dev, mode, hash, cached_ns"
	    " FROM file WHERE app_id BETWEEN ?1 AND ?2 ORDER BY app_id, path",
	[ST_CACHE_APP] = "SELECT app_id, path, size, mtime_ns, ctime_ns, ino, dev, mode, hash, cached_ns"
	    " FROM file WHERE app_id = ?1 ORDER BY path",
	[ST_CACHE_DEL] = "DELETE FROM file WHERE app_id = ?1",
	/* Cache rows go in by 16, 4 and 1: one step of a statement costs
	 * as much as several rows (a quarter less time for 20,000 rows). */
	[ST_CACHE_PUT1] = CACHE_PUT CACHE_ROW,
	[ST_CACHE_PUT4] = CACHE_PUT CACHE_ROWS4,
	[ST_CACHE_PUT16] = CACHE_PUT CACHE_ROWS4 "," CACHE_ROWS4 "," CACHE_ROWS4 "," CACHE_ROWS4,
};

struct rep_db {
	sqlite3 *h;
	int readonly;
	/* A new database is built under the name aside (the database's
	 * name and ".new"), locked by a flock of its directory (lockfd),
	 * and renamed into place by its commit. */
	char *aside;
	int lockfd;
	sqlite3_stmt *st[ST_COUNT];
	/* the wait for another's lock (busy_wait): since when, whether the
	 * user was told, whether it timed out */
	struct timespec busy_since;
	int busy_told, busy_gave_up;
};

static struct rep_db *created_db;

static void check_side_files(void);

/* SQLite's message, and for a failed I/O the system's reason ("disk I/O
 * error" alone does not say that the disk is full). A side file that
 * SQLite could not open gets its own message, which says why. */
static _Noreturn void db_die(struct rep_db *db)
{
	int rc = sqlite3_extended_errcode(db->h) & 0xff, err = sqlite3_system_errno(db->h);

	if (rc == SQLITE_CANTOPEN)
		check_side_files();
	if (rc == SQLITE_IOERR && err > 0)
		rep_die("%s: %s: %s", rep_opt.db, sqlite3_errmsg(db->h), strerror(err));
	if (rc == SQLITE_BUSY && db->busy_gave_up)
		rep_die("%s: %s: another process held it for %d s", rep_opt.db, sqlite3_errmsg(db->h),
		    BUSY_TIMEOUT_MS / 1000);
	rep_die("%s: %s", rep_opt.db, sqlite3_errmsg(db->h));
}

static void exec(struct rep_db *db, const char *sql)
{
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		db_die(db);
}

static sqlite3_stmt *stmt(struct rep_db *db, enum stmt which)
{
	sqlite3_stmt **st = &db->st[which];

	if (*st) {
		sqlite3_reset(*st);
		sqlite3_clear_bindings(*st);
	} else if (sqlite3_prepare_v3(db->h, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
	    st, NULL) != SQLITE_OK)
		db_die(db);
	return *st;
}

static int step(struct rep_db *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_die(db);
	return rc == SQLITE_ROW;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *st, int i)
{
	const char *s = col(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);

	if (n >= size)
		n = size - 1;
	memcpy(dst, s, n);
	dst[n] = 0;
}

static const char *const side_suffix[] = { "-wal", "-shm", "-journal" };
#define NSIDE (sizeof side_suffix / sizeof side_suffix[0])

static void unlink_side_files(const char *name)
{
	char path[4200];

	for (size_t i = 0; i < NSIDE; i++) {
		snprintf(path, sizeof path, "%s%s", name, side_suffix[i]);
		unlink(path);
	}
}

/* The side file of the database with this suffix: its path, and its
 * name for messages. SQLite resolves a symlink to the database and keeps
 * the side files beside its target, so they are named by that; else
 * by the database's name as configured. */
static void side_file(const char *suffix, char *path, char *label, size_t size)
{
	struct stat st;
	char real[PATH_MAX];

	if (lstat(rep_opt.db_path, &st) == 0 && S_ISLNK(st.st_mode) && realpath(rep_opt.db_path, real)) {
		snprintf(path, size, "%s%s", real, suffix);
		snprintf(label, size, "%s%s", real, suffix);
		return;
	}
	snprintf(path, size, "%s%s", rep_opt.db_path, suffix);
	snprintf(label, size, "%s%s", rep_opt.db, suffix);
}

/* SQLite opens a -wal, -shm or -journal without following a symlink
 * (so that one cannot make it write elsewhere) and fails with a bare
 * "unable to open database file"; one that is not a regular file it
 * would misread. Either way, say which file and why. */
static void check_side_files(void)
{
	char path[4200], label[4200];
	struct stat st;

	for (size_t i = 0; i < NSIDE; i++) {
		side_file(side_suffix[i], path, label, sizeof path);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode))
			rep_die("%s: a symbolic link (refused)", label);
		if (!S_ISREG(st.st_mode))
			rep_die("%s: not a regular file", label);
	}
}

static void unlink_with_side_files(const char *name)
{
	unlink(name);
	unlink_side_files(name);
}

/* Unlinks a database this run created, when the run fails: a failed
 * command leaves the disk as it found it. One built aside may be in use
 * by the main thread while a hashing thread dies: its files go, its
 * connection and the lock of its directory stay until the exit. */
static struct rep_cleanup created_cleanup;

static void remove_created(void *unused)
{
	(void)unused;
	if (created_db->aside) {
		unlink_with_side_files(created_db->aside);
		return;
	}
	rep_db_close(created_db);
	unlink_with_side_files(rep_opt.db_path);
}

static int on_network_fs(const char *path)
{
	static const long remote[] = {
		0x6969 /* NFS */, 0xff534d42 /* CIFS */, 0xfe534d42 /* SMB2 */,
		0x517b /* SMB */, 0x5346414f /* AFS */, 0x01021997 /* 9P */,
		0x73757245 /* CODA */, 0x65735546 /* FUSE */,
	};
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return 0;
	for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++)
		if ((long)(unsigned)sf.f_type == remote[i])
			return 1;
	return 0;
}

/* Whether the database is in WAL mode, after making it so if it can be. */
static int tune_writer(struct rep_db *db)
{
	sqlite3_stmt *st;
	int wal;

	if (sqlite3_prepare_v2(db->h, "PRAGMA journal_mode", -1, &st, NULL) != SQLITE_OK)
		db_die(db);
	step(db, st);
	wal = strcmp(col(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	if (!wal && !on_network_fs(rep_opt.db_path)) {
		/* The switch takes a lock on top of the one its read holds:
		 * when another connection is doing the same, SQLite fails one
		 * of them at once (database is locked), without the busy
		 * timeout, lest they wait for each other. Having failed, it
		 * holds nothing, so it waits here and tries again. */
		struct timespec tick = { 0, 10 * 1000 * 1000 };
		int rc;
		for (int waited = 0;; waited += 10) {
			rc = sqlite3_exec(db->h, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
			if ((rc & 0xff) != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS)
				break;
			nanosleep(&tick, NULL);
		}
		if (rc != SQLITE_OK)
			db_die(db);
		wal = 1;
	}
	/* No mapping of the file: each page read through one counts in
	 * the tool's memory (the whole stat cache, for rep-diff), and a
	 * pread per page costs no more. The page cache stays at SQLite's
	 * 2 MiB: a batch of 100,000 changes spills into the WAL, which is
	 * faster than growing the heap for it. */
	return wal;
}

static void read_schema(struct rep_db *db, int *appid, int *version, int *objects)
{
	sqlite3_stmt *st = stmt(db, ST_SCHEMA);
	step(db, st);
	*appid = sqlite3_column_int(st, 0);
	*version = sqlite3_column_int(st, 1);
	*objects = sqlite3_column_int(st, 2);
	sqlite3_reset(st);
}

/* Only rep-register makes an empty file (a new database) a rep database:
 * to any other program it is as good as none. */
static void check_ids(int appid, int version, int objects, enum rep_open how)
{
	if (appid != REP_APPLICATION_ID && (appid != 0 || version != 0 || objects != 0))
		rep_die("%s: not a rep database", rep_opt.db);
	if (version < 0)   /* rep never writes one; migrations start at 0 */
		rep_die("%s: not a rep database (schema version %d)", rep_opt.db, version);
	if (version > SCHEMA_VERSION)
		rep_die("%s: schema version %d is newer than this rep (%d)", rep_opt.db, version, SCHEMA_VERSION);
	if (version == 0 && how != REP_RW_CREATE)
		rep_die("%s: not a rep database (empty)", rep_opt.db);
}

/* The kth statement of the migrations to a version, or NULL. */
static const char *our_sql(int version, int k)
{
	for (int i = 0; i < version; i++)
		for (int j = 0; j < STEP_MAX && migrations[i].sql[j]; j++)
			if (k-- == 0)
				return migrations[i].sql[j];
	return NULL;
}

/* Which of them row's statement is, or -1. */
static int our_statement(sqlite3_stmt *row, int version)
{
	const char *sql = col(row, 2), *s;

	for (int k = 0; (s = our_sql(version, k)); k++)
		if ((size_t)sqlite3_column_bytes(row, 2) == strlen(s) && strcmp(s, sql) == 0)
			return k;
	return -1;
}

/* "kind name" of one of rep's statements ("CREATE KIND NAME ..."). */
static void our_object(const char *sql, char *buf, size_t size)
{
	char kind[16], name[64];

	if (sscanf(sql, "CREATE %15s %63[^ (]", kind, name) != 2) {
		snprintf(buf, size, "%.60s", sql);
		return;
	}
	for (char *p = kind; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	snprintf(buf, size, "%s %s", kind, name);
}

/* "type name" of row's object, its control bytes shown: anyone who
 * can write the file chooses them. */
static void object_name(sqlite3_stmt *row, char *buf, size_t size)
{
	char *type = rep_visible(col(row, 0), (size_t)sqlite3_column_bytes(row, 0));
	char *name = rep_visible(col(row, 1), (size_t)sqlite3_column_bytes(row, 1));

	snprintf(buf, size, "%.40s %.200s", type, name);
	free(type);
	free(name);
}

/* Whether rep makes an object of that type and name, by another statement. */
static int ours_by_name(const char *what, int version)
{
	char ours[96];
	const char *s;

	for (int k = 0; (s = our_sql(version, k)); k++) {
		our_object(s, ours, sizeof ours);
		if (strcmp(ours, what) == 0)
			return 1;
	}
	return 0;
}

/* Every object in the database is one that rep made, as it made it, and
 * every one it made is there: a trigger, a view, an index on an
 * expression that anyone else put in would run inside rep's
 * transactions, whatever SQLite's defensive settings allow. SQLite
 * builds a schema from its statements alone, so they are what is
 * compared. */
static void check_objects(struct rep_db *db, int version)
{
	sqlite3_stmt *row = stmt(db, ST_SCHEMA_ROWS);
	char found[SCHEMA_VERSION * STEP_MAX] = { 0 };
	char what[256];
	const char *s;
	int k;

	while (step(db, row)) {
		if ((k = our_statement(row, version)) >= 0) {
			found[k] = 1;
			continue;
		}
		object_name(row, what, sizeof what);
		if (ours_by_name(what, version))
			rep_die("%s: not as rep created it: %s changed (restore a backup, or start a new database)",
			    rep_opt.db, what);
		rep_die("%s: not created by rep: %s (remove it with sqlite3, or start a new database)",
		    rep_opt.db, what);
	}
	sqlite3_reset(row);
	for (k = 0; (s = our_sql(version, k)); k++)
		if (!found[k]) {
			our_object(s, what, sizeof what);
			rep_die("%s: not as rep created it: %s missing (restore a backup, or start a new database)",
			    rep_opt.db, what);
		}
}

/* Reads the schema and dies unless it is rep's: returns its version. */
static int check_schema(struct rep_db *db, enum rep_open how)
{
	int appid, version, objects;

	read_schema(db, &appid, &version, &objects);
	check_ids(appid, version, objects, how);
	if (objects)
		check_objects(db, version);
	return version;
}

/* Brings a database of the version checked to this rep's. */
static void migrate(struct rep_db *db, enum rep_open how, int version)
{
	if (version == SCHEMA_VERSION)
		return;
	if (db->readonly)
		rep_die("%s: schema version %d is older than this rep (%d): any writing rep tool upgrades it",
		    rep_opt.db, version, SCHEMA_VERSION);
	rep_db_begin(db);
	version = check_schema(db, how);
	for (int i = version; i < SCHEMA_VERSION; i++)
		for (int j = 0; j < STEP_MAX && migrations[i].sql[j]; j++)
			exec(db, migrations[i].sql[j]);
	char sql[128];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d",
	    SCHEMA_VERSION, REP_APPLICATION_ID);
	exec(db, sql);
	exec(db, "COMMIT");
}

static char *immutable_uri(const char *path)
{
	char *uri = rep_xmalloc(3 * strlen(path) + 32), *p = uri;

	p += sprintf(p, "file:");
	for (; *path; path++)
		p += strchr("%?#", *path) ? sprintf(p, "%%%02x", (unsigned char)*path)
		    : sprintf(p, "%c", *path);
	strcpy(p, "?immutable=1");
	return uri;
}

/* Whether the database's side file -wal or -journal exists. */
static int side_file_exists(const char *suffix)
{
	char path[4200], label[4200];
	side_file(suffix, path, label, sizeof path);
	return access(path, F_OK) == 0;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* SQLite's busy timeout, and a word when a wait begins: nobody should
 * sit through 30 silent seconds. SQLite cannot tell who holds the lock,
 * so the word says what can be said. On a terminal only, and not with
 * -q, as the progress display: a lock is held for milliseconds by
 * another rep run most of the time, and a cron job's mail or a script's
 * stderr should not say so; when the wait times out, the error does. */
static int busy_wait(void *arg, int tries)
{
	struct rep_db *db = arg;

	if (tries == 0) {
		clock_gettime(CLOCK_MONOTONIC, &db->busy_since);
		db->busy_gave_up = 0;
		if (!db->busy_told && !rep_opt.quiet && rep_stderr_tty()) {
			db->busy_told = 1;
			rep_error_at(NULL, "%s: locked by another process; waiting up to %d s", rep_opt.db,
			    BUSY_TIMEOUT_MS / 1000);
		}
	}
	long left = BUSY_TIMEOUT_MS - ms_since(&db->busy_since);
	if (left <= 0) {
		db->busy_gave_up = 1;
		return 0;
	}
	/* short naps first, as SQLite's own timeout: most waits are short */
	long nap = tries < 7 ? 1L << tries : 100;
	struct timespec ts = { 0, (nap < left ? nap : left) * 1000000 };
	nanosleep(&ts, NULL);
	return 1;
}

/* Every connection treats the file as input: defensive mode refuses the
 * SQL that corrupts a database (writable_schema and the like), and an
 * untrusted schema may call no function with side effects; check_schema
 * makes sure the schema is rep's own before anything else runs. */
static int try_open(struct rep_db *db, const char *name, int flags)
{
	int rc = sqlite3_open_v2(name, &db->h, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_busy_handler(db->h, busy_wait, db);
	sqlite3_extended_result_codes(db->h, 1);
	if (sqlite3_db_config(db->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	    sqlite3_db_config(db->h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK)
		db_die(db);
	return rc;
}

/* A reader who cannot create the -shm file next to a WAL database
 * cannot open it normally; with no -wal present there is no writer
 * whose pages it could miss, so it reads the file as immutable. A
 * -journal is a writer's, of a rollback-journal database: a hot one
 * (its writer killed) must be rolled back, which a read-only
 * connection cannot do, and an immutable one would read the pages the
 * writer had written before it died. */
static void open_readonly(struct rep_db *db)
{
	if (try_open(db, rep_opt.db_path, SQLITE_OPEN_READONLY) != SQLITE_OK)
		db_die(db);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->h, stmt_sql[ST_SCHEMA], -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : sqlite3_errcode(db->h);
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_READONLY && side_file_exists("-journal"))
		rep_die("%s: a write to it was interrupted: any rep tool that writes it, run by a user "
		    "who can, rolls it back", rep_opt.db);
	if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_NOTADB || side_file_exists("-wal"))
		return;
	sqlite3_close(db->h);
	char *uri = immutable_uri(rep_opt.db_path);
	rc = try_open(db, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
	free(uri);
	if (rc != SQLITE_OK)
		db_die(db);
}

/* Builds a new database aside (see struct rep_db), in its directory,
 * which stays locked until the commit publishes it or the run ends:
 * another run that would create it waits, then finds it made. Until
 * then readers find no database, and a run that fails or is killed
 * leaves none. With no journal file and no syncs before the one at the
 * end, a first registration writes its data once.
 * Returns 1 if opened so, 0 if the database now exists (made by the
 * run that held the lock), -1 for the way below (a network file
 * system, where flock may not work and WAL does not). */
static int open_aside(struct rep_db *db, enum rep_open how)
{
	size_t n = strlen(rep_opt.db_path);
	char *dir = rep_xstrdup(rep_opt.db_path), *slash = strrchr(dir, '/');

	/* db_path is absolute */
	slash[slash == dir] = '\0';
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (dfd < 0 || on_network_fs(rep_opt.db_path)) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	if (flock(dfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK && rep_stderr_tty() && !rep_opt.quiet)
			rep_warn("%s: another run is creating it: waiting", rep_opt.db);
		while (flock(dfd, LOCK_EX) < 0)
			if (errno != EINTR)
				rep_die_errno("%s: locking its directory", rep_opt.db);
	}
	if (access(rep_opt.db_path, F_OK) == 0) {
		close(dfd);
		return 0;
	}
	db->lockfd = dfd;
	db->aside = rep_xmalloc(n + sizeof ".new");
	memcpy(db->aside, rep_opt.db_path, n);
	memcpy(db->aside + n, ".new", sizeof ".new");
	/* only a run holding the lock makes these: any there are left
	 * from a run that was killed */
	unlink_with_side_files(db->aside);
	created_db = db;
	rep_cleanup_add(&created_cleanup, remove_created, NULL);
	int fd = open(db->aside, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		rep_die_errno("%s.new", rep_opt.db);
	close(fd);
	if (try_open(db, db->aside, SQLITE_OPEN_READWRITE) != SQLITE_OK)
		db_die(db);
	/* a failed run removes the file: it needs no journal on disk, and
	 * publish() syncs it once. SQLite's 2 MiB page cache, as for a
	 * writer: spilling into the file costs less than 64 MiB of fresh
	 * heap pages (10,000 applications of 20 files: 1.01 s and 46 MiB
	 * against 1.08 s and 71 MiB) */
	exec(db, "PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;"
	    " PRAGMA mmap_size = 268435456");
	migrate(db, how, check_schema(db, how));
	return 1;
}

/* Opens for writing, creating the database if it is not there (a run
 * that fails unlinks the database it created). */
static void open_writer(struct rep_db *db, int exists, enum rep_open how)
{
	int made = 0;

	if (!exists && how == REP_RW_CREATE) {
		int rc = open_aside(db, how);
		if (rc == 1)
			return;
		exists = rc == 0;
	}
	int flags = SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE);

	/* One creator: of two runs that both found no database, the one
	 * that makes the file is the one that removes it if it fails; the
	 * other takes it as existing (an empty file is a new database to
	 * rep-register). Any other error, SQLite's open reports. */
	if (!exists) {
		int fd = open(rep_opt.db_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0) {
			close(fd);
			made = 1;
		}
	}
	if (try_open(db, rep_opt.db_path, flags) != SQLITE_OK) {
		if (made)
			unlink(rep_opt.db_path);
		db_die(db);
	}
	/* SQLite opens read-only what it cannot open for writing */
	if (sqlite3_db_readonly(db->h, "main") == 1) {
		if (access(rep_opt.db_path, W_OK) < 0)
			rep_die_errno("%s", rep_opt.db);
		rep_die("%s: cannot be opened for writing", rep_opt.db);
	}
	if (made) {
		created_db = db;
		rep_cleanup_add(&created_cleanup, remove_created, NULL);
	}
	/* before WAL mode, which rewrites the header of a database that
	 * may not be ours */
	int version = check_schema(db, how);
	/* NORMAL is enough with WAL: a commit is synced at checkpoint */
	if (tune_writer(db))
		exec(db, "PRAGMA synchronous = NORMAL");
	migrate(db, how, version);
}

/* A database that does not exist because its directory does not: that
 * is the cause to tell, not SQLite's "unable to open database file" nor
 * "no such database (create it with rep-register)", which would fail. */
static void check_parent(void)
{
	struct stat st;
	char *dir = rep_xstrdup(rep_opt.db);
	char *slash = strrchr(dir, '/');

	if (!slash) {
		free(dir);
		return;
	}
	/* "/m.db": the root; "a//m.db": a */
	while (slash > dir && slash[-1] == '/')
		slash--;
	slash[slash == dir] = 0;
	if (stat(dir, &st) < 0)
		rep_die("%s: %s (the directory of the database)", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		rep_die("%s: not a directory (the directory of the database)", dir);
	free(dir);
}

/* The database open, until it is closed: a run that dies (rep_die)
 * leaves it reachable from here, not leaked (LeakSanitizer, valgrind),
 * wherever the die comes, in the open or after it. */
static struct rep_db *opened;

struct rep_db *rep_db_open(enum rep_open how)
{
	struct stat st;
	int exists = stat(rep_opt.db_path, &st) == 0;

	if (!exists && errno != ENOENT)
		rep_die_errno("%s", rep_opt.db);
	if (!exists)
		check_parent();
	if (!exists && how != REP_RW_CREATE)
		rep_die("%s: no such database (create it with rep-register)", rep_opt.db);
	/* A FIFO would block SQLite's open for ever (a reader) or fail it
	 * with "Illegal seek"; stat(2) neither blocks nor follows anything
	 * but a symlink, which may point to the database. */
	if (exists && !S_ISREG(st.st_mode))
		rep_die("%s: not a regular file", rep_opt.db);
	if (exists)
		check_side_files();
	struct rep_db *db = opened = calloc(1, sizeof *db);
	if (!db)
		rep_die("out of memory");
	db->readonly = how == REP_RO;
	db->lockfd = -1;
	if (db->readonly) {
		open_readonly(db);
		migrate(db, how, check_schema(db, how));
	} else {
		open_writer(db, exists, how);
	}
	return db;
}

/* For dry runs: the database if there is one, else NULL. */
struct rep_db *rep_db_open_maybe(void)
{
	return access(rep_opt.db_path, F_OK) == 0 ? rep_db_open(REP_RO) : NULL;
}

void rep_db_close(struct rep_db *db)
{
	if (!db)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	if (sqlite3_close(db->h) != SQLITE_OK)
		db_die(db);
	/* built aside and not published: nobody else knows it, and the
	 * lock keeps any other creator out until it is gone */
	if (db->aside) {
		unlink_with_side_files(db->aside);
		free(db->aside);
	}
	if (db->lockfd >= 0)
		close(db->lockfd);
	if (db == created_db)
		created_db = NULL;
	if (db == opened)
		opened = NULL;
	free(db);
}

void rep_db_begin(struct rep_db *db)
{
	exec(db, "BEGIN IMMEDIATE");
}

/* Publishes a database built aside: WAL mode, as every writer wants
 * it (it is on a local file system), the file synced, then renamed to its
 * name unless something else has taken that meanwhile, then the
 * directory synced. The connection ends here. */
static void publish(struct rep_db *db)
{
	exec(db, "PRAGMA journal_mode = WAL");
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(db->st[i]);
		db->st[i] = NULL;
	}
	if (sqlite3_close(db->h) != SQLITE_OK)
		db_die(db);
	db->h = NULL;
	int fd = open(db->aside, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fdatasync(fd) < 0)
		rep_die_errno("%s.new", rep_opt.db);
	close(fd);
	/* Side files with no database are left from one removed by hand:
	 * a -wal among them would be read as part of this one. (The lock
	 * keeps rep's creators out; with no database, no connection.) */
	unlink_side_files(rep_opt.db_path);
	int rc = rep_rename_noreplace(AT_FDCWD, db->aside, AT_FDCWD, rep_opt.db_path);
	if (rc < 0 && errno == EEXIST)
		rep_die("%s: made meanwhile by another program: this run's changes are not in it",
		    rep_opt.db);
	if (rc < 0)
		rep_die_errno("%s", rep_opt.db);
	free(db->aside);
	db->aside = NULL;
	created_db = NULL;
	rep_cleanup_remove(&created_cleanup);
	if (fsync(db->lockfd) < 0)
		rep_die_errno("%s: syncing its directory", rep_opt.db);
}

void rep_db_commit(struct rep_db *db)
{
	exec(db, "COMMIT");
	if (db->aside)
		publish(db);
	if (db == created_db) {
		created_db = NULL;
		rep_cleanup_remove(&created_cleanup);
	}
}

static void read_app(sqlite3_stmt *st, struct rep_app *a)
{
	a->id = sqlite3_column_int64(st, 0);
	copy_col(a->name, sizeof a->name, st, 1);
	copy_col(a->status, sizeof a->status, st, 2);
	a->files = sqlite3_column_int64(st, 3);
	a->bytes = sqlite3_column_int64(st, 4);
	copy_col(a->checksum, sizeof a->checksum, st, 5);
	copy_col(a->registered, sizeof a->registered, st, 6);
	copy_col(a->updated, sizeof a->updated, st, 7);
}

/* The statement is reset once read: left on its row, it would hold a
 * read transaction open, and the BEGIN IMMEDIATE that follows would fail
 * at once ("database is locked", no busy wait) if another writer had
 * committed since. */
int rep_db_app_get(struct rep_db *db, const char *name, struct rep_app *a)
{
	sqlite3_stmt *st = stmt(db, ST_APP_GET);
	bind_text(st, 1, name);
	if (!step(db, st))
		return 0;
	read_app(st, a);
	sqlite3_reset(st);
	return 1;
}

/* files, bytes and checksum as parameters k, k+1 and k+2 */
static void bind_sum(sqlite3_stmt *st, int k, const struct rep_app *a)
{
	sqlite3_bind_int64(st, k, a->files);
	sqlite3_bind_int64(st, k + 1, a->bytes);
	bind_text(st, k + 2, a->checksum);
}

void rep_db_app_insert(struct rep_db *db, struct rep_app *a)
{
	sqlite3_stmt *st = stmt(db, ST_APP_INSERT);
	bind_text(st, 1, a->name);
	bind_text(st, 2, a->status);
	bind_sum(st, 3, a);
	bind_text(st, 6, a->registered);
	bind_text(st, 7, a->updated);
	step(db, st);
	a->id = sqlite3_last_insert_rowid(db->h);
}

void rep_db_app_update_sum(struct rep_db *db, const struct rep_app *a)
{
	sqlite3_stmt *st = stmt(db, ST_APP_UPDATE_SUM);
	sqlite3_bind_int64(st, 1, a->id);
	bind_sum(st, 2, a);
	bind_text(st, 5, a->updated);
	bind_text(st, 6, a->status);
	step(db, st);
}

void rep_db_app_set_status(struct rep_db *db, int64_t app_id, const char *status, const char *time)
{
	sqlite3_stmt *st = stmt(db, ST_APP_SET_STATUS);
	sqlite3_bind_int64(st, 1, app_id);
	bind_text(st, 2, status);
	bind_text(st, 3, time);
	step(db, st);
}

/* The deployment rows of an application, sorted by target. */
void rep_db_each_deployment(struct rep_db *db, int64_t app_id, rep_deployment_fn fn, void *arg)
{
	sqlite3_stmt *st = stmt(db, ST_DEPLOY_APP);

	sqlite3_bind_int64(st, 1, app_id);
	while (step(db, st))
		if (fn(col(st, 0), col(st, 1), col(st, 2), arg))
			break;
	sqlite3_reset(st);
}

/* What is live on a target now: the row replaces the one before. */
void rep_db_deployment_put(struct rep_db *db, int64_t app_id, const char *target,
    const char *checksum, const char *release, const char *time)
{
	sqlite3_stmt *st = stmt(db, ST_DEPLOY_PUT);
	sqlite3_bind_int64(st, 1, app_id);
	bind_text(st, 2, target);
	bind_text(st, 3, checksum);
	bind_text(st, 4, release);
	bind_text(st, 5, time);
	bind_text(st, 6, rep_user());
	step(db, st);
}

void rep_db_deployment_del(struct rep_db *db, int64_t app_id, const char *target)
{
	sqlite3_stmt *st = stmt(db, ST_DEPLOY_DEL);
	sqlite3_bind_int64(st, 1, app_id);
	bind_text(st, 2, target);
	step(db, st);
}

static void bind_set(sqlite3_stmt *st, const struct rep_set *set)
{
	bind_text(st, 1, set->status);
	bind_text(st, 2, set->time);
	if (set->from)
		bind_text(st, 3, set->from);
}

/* Sets the status of every named application in one go; prints the
 * records as they are after the change to out and returns how many
 * changed. Dies, changing nothing, on the first unknown name. The
 * caller holds the transaction (or, for a dry run, changes nothing). */
size_t rep_db_set_status(struct rep_db *db, const struct rep_set *set, FILE *out)
{
	sqlite3_stmt *st;
	struct rep_app a;
	size_t n = 0;

	exec(db, "PRAGMA temp_store = MEMORY;"
	    " CREATE TEMP TABLE input (seq INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT,"
	    " app_id INTEGER)");
	for (size_t i = 0; i < set->n; i++) {
		st = stmt(db, ST_INPUT_PUT);
		bind_text(st, 1, set->names[i]);
		if (set->notes && set->notes[i])
			bind_text(st, 2, set->notes[i]);
		step(db, st);
	}
	st = stmt(db, ST_INPUT_UNKNOWN);
	if (step(db, st))
		rep_die("%s: not registered", col(st, 0));
	st = stmt(db, ST_SET_SELECT);
	bind_set(st, set);
	for (; step(db, st); n++) {
		read_app(st, &a);
		rep_put_app(out, &a, NULL, 0);
	}
	if (!db->readonly) {
		st = stmt(db, ST_SET_EVENTS);
		bind_set(st, set);
		bind_text(st, 4, rep_user());
		if (set->note)
			bind_text(st, 5, set->note);
		step(db, st);
		st = stmt(db, ST_SET_UPDATE);
		bind_set(st, set);
		step(db, st);
	}
	exec(db, "DROP TABLE temp.input");
	return n;
}

void rep_db_event(struct rep_db *db, int64_t app_id, const char *time, const char *from,
    const char *to, const char *note)
{
	sqlite3_stmt *st = stmt(db, ST_EVENT);
	sqlite3_bind_int64(st, 1, app_id);
	bind_text(st, 2, time);
	if (from)
		bind_text(st, 3, from);
	bind_text(st, 4, to);
	bind_text(st, 5, rep_user());
	bind_text(st, 6, note ? note : "");
	step(db, st);
}

static void each_app(struct rep_db *db, int which, rep_app_fn fn, void *arg)
{
	sqlite3_stmt *st = stmt(db, which);
	struct rep_app a;

	while (step(db, st)) {
		read_app(st, &a);
		if (fn(&a, arg))
			break;
	}
	sqlite3_reset(st);
}

void rep_db_each_app(struct rep_db *db, rep_app_fn fn, void *arg)
{
	each_app(db, ST_APPS, fn, arg);
}

void rep_db_each_app_by_id(struct rep_db *db, rep_app_fn fn, void *arg)
{
	each_app(db, ST_APPS_BY_ID, fn, arg);
}

void rep_db_each_event(struct rep_db *db, rep_event_fn fn, void *arg)
{
	sqlite3_stmt *st = stmt(db, ST_EVENTS);
	struct rep_event e;

	while (step(db, st)) {
		e.name = col(st, 0);
		e.time = col(st, 1);
		e.from = sqlite3_column_type(st, 2) == SQLITE_NULL ? "-" : col(st, 2);
		e.to = col(st, 3);
		e.user = col(st, 4);
		e.note = col(st, 5);
		e.app_status = col(st, 6);
		e.app_id = sqlite3_column_int64(st, 7);
		if (fn(&e, arg))
			break;
	}
	sqlite3_reset(st);
}

static void add_cached(struct rep_hash_job *job, sqlite3_stmt *st, size_t *cap)
{
	const void *digest = sqlite3_column_blob(st, 8);
	int plen = sqlite3_column_bytes(st, 1);
	const void *path = sqlite3_column_blob(st, 1);

	/* (an empty path, the row of the application's own directory, is
	 * a blob with no pointer) */
	if (sqlite3_column_type(st, 1) != SQLITE_BLOB || (!path && plen) || sqlite3_column_bytes(st, 8) != 32 ||
	    (plen && memchr(path, 0, (size_t)plen)))
		return; /* not a row rep wrote: no hit, and replaced on refresh */
	if (job->ncache == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		job->cache = rep_xrealloc(job->cache, *cap * sizeof *job->cache);
	}
	struct rep_cached *c = &job->cache[job->ncache++];
	c->path = rep_xmalloc((size_t)plen + 1);
	if (plen)
		memcpy(c->path, path, (size_t)plen);
	c->path[plen] = 0;
	c->st = (struct rep_fstat){
		sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
		sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 7),
		-1,
	};
	memcpy(c->digest, digest, 32);
	c->cached_ns = sqlite3_column_int64(st, 9);
}

static int by_app_id(const void *a, const void *b)
{
	int64_t x = (*(struct rep_hash_job *const *)a)->app_id;
	int64_t y = (*(struct rep_hash_job *const *)b)->app_id;
	return (x > y) - (x < y);
}

/* Loads the cache rows of the registered jobs: one scan of their range
 * of ids when they are many and close together (a batch in the order of
 * ids), else a query each, so that batches of ids spread over the table
 * do not each read most of it. Rows come sorted by path (memcmp, as
 * strcmp). */
void rep_db_cache_load(struct rep_db *db, struct rep_hash_job *jobs, size_t n)
{
	struct rep_hash_job **by_id = rep_xmalloc((n ? n : 1) * sizeof *by_id);
	size_t m = 0, cap = 0;

	for (size_t i = 0; i < n; i++)
		if (jobs[i].app_id)
			by_id[m++] = &jobs[i];
	if (m > 64)
		qsort(by_id, m, sizeof *by_id, by_app_id);
	if (m <= 64 || (uint64_t)(by_id[m - 1]->app_id - by_id[0]->app_id) >= 4 * (uint64_t)m) {
		for (size_t i = 0; i < m; i++) {
			sqlite3_stmt *st = stmt(db, ST_CACHE_APP);
			sqlite3_bind_int64(st, 1, by_id[i]->app_id);
			for (cap = 0; step(db, st);)
				add_cached(by_id[i], st, &cap);
		}
	} else {
		sqlite3_stmt *st = stmt(db, ST_CACHE_RANGE);
		sqlite3_bind_int64(st, 1, by_id[0]->app_id);
		sqlite3_bind_int64(st, 2, by_id[m - 1]->app_id);
		struct rep_hash_job *cur = NULL;
		size_t j = 0;
		while (step(db, st)) {
			int64_t id = sqlite3_column_int64(st, 0);
			while (j < m && by_id[j]->app_id < id)
				j++;
			if (j == m)
				break;
			if (by_id[j]->app_id != id)
				continue;
			if (by_id[j] != cur) {
				cur = by_id[j];
				cap = 0;
			}
			add_cached(cur, st, &cap);
		}
		sqlite3_reset(st);
	}
	free(by_id);
}

static void bind_cached(sqlite3_stmt *st, int col, int64_t app_id, const struct rep_cached *c)
{
	sqlite3_bind_int64(st, col + 1, app_id);
	sqlite3_bind_blob(st, col + 2, c->path, (int)strlen(c->path), SQLITE_STATIC);
	sqlite3_bind_int64(st, col + 3, c->st.size);
	sqlite3_bind_int64(st, col + 4, c->st.mtime_ns);
	sqlite3_bind_int64(st, col + 5, c->st.ctime_ns);
	sqlite3_bind_int64(st, col + 6, c->st.ino);
	sqlite3_bind_int64(st, col + 7, c->st.dev);
	sqlite3_bind_int64(st, col + 8, c->st.mode);
	sqlite3_bind_blob(st, col + 9, c->digest, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, col + 10, c->cached_ns);
}

/* Replaces the cache rows of an application; a new one has none. */
void rep_db_cache_store(struct rep_db *db, const struct rep_hash_job *job, int is_new)
{
	sqlite3_stmt *st;

	if (!is_new) {
		st = stmt(db, ST_CACHE_DEL);
		sqlite3_bind_int64(st, 1, job->app_id);
		step(db, st);
	}
	for (size_t i = 0, n; i < job->ncache; i += n) {
		size_t left = job->ncache - i;
		n = left >= 16 ? 16 : left >= 4 ? 4 : 1;
		st = stmt(db, n == 16 ? ST_CACHE_PUT16 : n == 4 ? ST_CACHE_PUT4 : ST_CACHE_PUT1);
		for (size_t j = 0; j < n; j++)
			bind_cached(st, (int)j * CACHE_COLS, job->app_id, &job->cache[i + j]);
		step(db, st);
	}
}

/* Whether the database is new, built aside and unknown to any other
 * process until its commit. */
int rep_db_is_new(const struct rep_db *db)
{
	return db->aside != NULL;
}

int rep_db_readonly(const struct rep_db *db)
{
	return db->readonly;
}
