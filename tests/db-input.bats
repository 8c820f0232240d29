#!/usr/bin/env bats
# The database as input (issue 17, item 4): a metadata.db is a file that
# anyone who can write it may have prepared. Its schema must be rep's own
# (a planted trigger would run inside rep's transactions), its path a
# regular file (a FIFO hung readers for ever), its side files not
# symlinks, and a lock held by another process is waited for out loud.

load helper

# app-a registered, app-b ready
setup() {
	rep_setup
	mkapp app-a
	mkapp app-b
	register app-a app-b
	setstatus ready app-b
}

teardown() {
	if [ -n "${HOLDER:-}" ]; then
		kill "$HOLDER" 2>/dev/null || true
		wait "$HOLDER" 2>/dev/null || true
	fi
}

# Every tool that opens the database, with the database given as $DB
# (--db), one command per line: readers, dry runs and writers.
tool_cmds() {
	cat <<-'EOF'
		rep-ls
		rep-ls --history
		rep-diff
		rep-setstatus -n ready app-a
		rep-setstatus ready app-a
		rep-setstatus -n --record
		rep-setstatus --record
		rep-register -n app-a
		rep-register app-a
		rep-tar -d dist app-a
	EOF
}

# refused_by_all WHY [DB]: every tool, pointed at DB (default
# metadata.db), exits 2 at once with nothing on stdout (but rep-tar's
# failure record of app-a, content unknown, WHY its reason) and exactly
# "TOOL: WHY" on stderr, and makes no dist/. (timeout: a FIFO used to
# hang the readers for ever.)
refused_by_all() {
	local why=$1 db=${2:-metadata.db} line
	local -a cmd
	while IFS= read -r line; do
		read -r -a cmd <<<"$line"
		printf '# case: %s --db %s %s\n' "${cmd[0]}" "$db" "${cmd[*]:1}"
		run --separate-stderr timeout 20 "${cmd[0]}" --db "$db" "${cmd[@]:1}" </dev/null
		assert_failure 2
		if [ "${cmd[0]}" = rep-tar ]; then
			assert_output "app-a${TAB}-${TAB}-${TAB}-${TAB}failed${TAB}$why"
		else
			assert_output ''
		fi
		assert_stderr "${cmd[0]}: $why"
		assert [ ! -e dist ]
	done < <(tool_cmds)
}

# entries: the names in the current directory, but bats' own files.
entries() {
	find . -mindepth 1 -maxdepth 1 ! -name 'separate-stderr-*' | LC_ALL=C sort
}

# --- the schema: only rep's objects --------------------------------------------------

@test "a planted trigger is refused by every tool, before it can run: nothing changes" {
	sqlite3 metadata.db "CREATE TRIGGER t AFTER UPDATE ON app BEGIN
		INSERT INTO history (app_id, time, new_status, user) VALUES (new.id, 'x', 'deployed', 'mallory');
		END"
	snapshot_db
	refused_by_all 'metadata.db: not created by rep: trigger t (remove it with sqlite3, or start a new database)'
	assert_db_unchanged
	assert_equal "$(sqlite3 metadata.db "SELECT count(*) FROM history WHERE user = 'mallory'")" 0
}

@test "a negative schema version with rep's application id: refused by every tool (was: writers read before their migrations, fuzz/db)" {
	rm -f metadata.db
	sqlite3 metadata.db 'PRAGMA application_id = 1919250481; PRAGMA user_version = -1'
	snapshot_db
	refused_by_all 'metadata.db: not a rep database (schema version -1)'
	assert_db_unchanged
}

@test "a trigger that writes elsewhere, on the history, is refused too" {
	sqlite3 metadata.db "CREATE TRIGGER steal AFTER INSERT ON history BEGIN
		UPDATE app SET status = 'deployed'; END"
	snapshot_db
	run --separate-stderr rep-setstatus -m secret ready app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: metadata.db: not created by rep: trigger steal (remove it with sqlite3, or start a new database)'
	assert_db_unchanged
}

@test "a view, an index on an expression, a table of someone else's: refused, named" {
	local kind
	local -A sql=(
		[view]='CREATE VIEW v AS SELECT name FROM app'
		[index]='CREATE INDEX i ON app (lower(name))'
		[table]='CREATE TABLE t (x)'
	)
	local -A name=([view]=v [index]=i [table]=t)
	cp metadata.db clean.db
	for kind in view index table; do
		cp clean.db metadata.db
		sqlite3 metadata.db "${sql[$kind]}"
		snapshot_db
		refused_by_all "metadata.db: not created by rep: $kind ${name[$kind]} (remove it with sqlite3, or start a new database)"
		assert_db_unchanged
	done
}

@test "one of rep's own objects changed or missing: refused, named" {
	cp metadata.db clean.db
	sqlite3 metadata.db "DROP TRIGGER history_no_delete;
		CREATE TRIGGER history_no_delete BEFORE DELETE ON history BEGIN SELECT 1; END"
	snapshot_db
	refused_by_all 'metadata.db: not as rep created it: trigger history_no_delete changed (restore a backup, or start a new database)'
	assert_db_unchanged

	cp clean.db metadata.db
	sqlite3 metadata.db 'DROP INDEX history_by_app'
	snapshot_db
	refused_by_all 'metadata.db: not as rep created it: index history_by_app missing (restore a backup, or start a new database)'
	assert_db_unchanged
}

@test "an object's name with control bytes is shown visibly" {
	sqlite3 metadata.db "CREATE VIEW \"x"$'\e'"[2J"$'\n'"y\" AS SELECT 1"
	run --separate-stderr rep-ls </dev/null
	assert_failure 2
	assert_stderr 'rep-ls: metadata.db: not created by rep: view x\x1b[2J\x0ay (remove it with sqlite3, or start a new database)'
}

# v2_db FILE: a database of schema version 2 (rep 0.1.0 before deployment
# records), made by the sqlite3 CLI from the statements of versions 1 and 2
# as rep wrote them: app-a deployed (its history says so), app-b registered.
v2_db() {
	sqlite3 "$1" <<-'EOF'
		PRAGMA journal_mode = WAL;
		CREATE TABLE app ( id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, status TEXT NOT NULL CHECK (status IN ('registered','ready',  'pending_deployment','deployed','failed','retired')), files INTEGER NOT NULL CHECK (files >= 0), bytes INTEGER NOT NULL CHECK (bytes >= 0), checksum TEXT NOT NULL, registered TEXT NOT NULL, updated TEXT NOT NULL);
		CREATE TABLE history ( id INTEGER PRIMARY KEY, app_id INTEGER NOT NULL REFERENCES app(id), time TEXT NOT NULL, old_status TEXT, new_status TEXT NOT NULL, user TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
		CREATE INDEX history_by_app ON history(app_id, id);
		CREATE TRIGGER history_no_update BEFORE UPDATE ON history BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
		CREATE TRIGGER history_no_delete BEFORE DELETE ON history BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
		CREATE TABLE file ( app_id INTEGER NOT NULL REFERENCES app(id), path BLOB NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, ino INTEGER NOT NULL, dev INTEGER NOT NULL, mode INTEGER NOT NULL, hash BLOB NOT NULL, cached_ns INTEGER NOT NULL, PRIMARY KEY (app_id, path)) WITHOUT ROWID;
		INSERT INTO app VALUES (1, 'app-a', 'deployed', 1, 12, '1111111111111111111111111111111111111111111111111111111111111111', '2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z');
		INSERT INTO app VALUES (2, 'app-b', 'registered', 1, 12, '2222222222222222222222222222222222222222222222222222222222222222', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z');
		INSERT INTO history VALUES (1, 1, '2025-01-01T00:00:00Z', NULL, 'registered', 'tester', '');
		INSERT INTO history VALUES (2, 2, '2025-01-01T00:00:00Z', NULL, 'registered', 'tester', '');
		INSERT INTO history VALUES (3, 1, '2025-01-02T00:00:00Z', 'registered', 'deployed', 'tester', 'rep_applications_20250102_000000 web1');
		PRAGMA application_id = 1919250481;
		PRAGMA user_version = 2;
	EOF
}

@test "a version-2 database: readers ask for a writer, the first writer migrates it, deployed applications show no live content (-)" {
	rm metadata.db*
	v2_db metadata.db >/dev/null
	snapshot_db
	run --separate-stderr rep-ls </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-ls: metadata.db: schema version 2 is older than this rep (3): any writing rep tool upgrades it'
	assert_db_unchanged
	# a dry run does not write: it cannot migrate either
	run --separate-stderr rep-setstatus -n --record </dev/null
	assert_failure 2
	assert_stderr 'rep-setstatus: metadata.db: schema version 2 is older than this rep (3): any writing rep tool upgrades it'
	assert_db_unchanged
	run --separate-stderr rep-setstatus ready app-b </dev/null
	assert_success
	assert_stderr 'rep-setstatus: 1 set to ready'
	assert_equal "$(sqlite3 metadata.db 'PRAGMA user_version')" 3
	assert_equal "$(sqlite3 metadata.db 'SELECT count(*) FROM deployment')" 0
	run --separate-stderr rep-ls -o name,status,checksum,live,release,targets </dev/null
	assert_success
	assert_output "$(lines \
		"app-a${TAB}deployed${TAB}$(printf '1%.0s' {1..64})${TAB}-${TAB}-${TAB}-" \
		"app-b${TAB}ready${TAB}$(printf '2%.0s' {1..64})${TAB}-${TAB}-${TAB}-")"
	refute_stderr
	# the history is kept as it was, and goes on
	assert_equal "$(rep-ls --history -o name,from,to,note </dev/null)" "$(lines \
		"app-a${TAB}-${TAB}registered${TAB}" "app-b${TAB}-${TAB}registered${TAB}" \
		"app-a${TAB}registered${TAB}deployed${TAB}rep_applications_20250102_000000 web1" \
		"app-b${TAB}registered${TAB}ready${TAB}")"
}

@test "a version-2 database with a deployment table of its own is refused, not migrated" {
	rm metadata.db*
	v2_db metadata.db >/dev/null
	sqlite3 metadata.db 'CREATE TABLE deployment (app_id INTEGER, target TEXT)'
	snapshot_db
	refused_by_all 'metadata.db: not created by rep: table deployment (remove it with sqlite3, or start a new database)'
	assert_db_unchanged
}

@test "a deployment table changed by hand is refused by every tool" {
	sqlite3 metadata.db 'DROP TABLE deployment; CREATE TABLE deployment (app_id INTEGER, target TEXT)'
	snapshot_db
	refused_by_all 'metadata.db: not as rep created it: table deployment changed (restore a backup, or start a new database)'
	assert_db_unchanged
}

@test "a database of an older schema with a planted trigger: the writer refuses it before upgrading" {
	sqlite3 metadata.db 'DROP TABLE deployment; DROP TABLE file; PRAGMA user_version = 1;
		CREATE TRIGGER t AFTER INSERT ON app BEGIN DELETE FROM app; END'
	snapshot_db
	run --separate-stderr rep-setstatus ready app-a </dev/null
	assert_failure 2
	assert_stderr 'rep-setstatus: metadata.db: not created by rep: trigger t (remove it with sqlite3, or start a new database)'
	assert_db_unchanged
	assert_equal "$(sqlite3 metadata.db 'PRAGMA user_version')" 1
}

@test "the control: an older schema as rep made it is upgraded; SQLite's ANALYZE tables are fine" {
	sqlite3 metadata.db 'DROP TABLE deployment; DROP TABLE file; PRAGMA user_version = 1'
	run --separate-stderr rep-setstatus -q ready app-a </dev/null
	assert_success
	assert_equal "$(sqlite3 metadata.db 'PRAGMA user_version')" 3
	sqlite3 metadata.db 'ANALYZE'
	assert_equal "$(sqlite3 metadata.db "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'sqlite_stat%'")" 1
	run --separate-stderr rep-ls -o name,status </dev/null
	assert_success
	assert_output "$(lines "app-a${TAB}ready" "app-b${TAB}ready")"
	run --separate-stderr rep-setstatus -q deployed app-a </dev/null
	assert_success
	run --separate-stderr rep-diff -q </dev/null
	assert_success
}

# --- the file: a regular file, or a symlink to one -----------------------------------

@test "a FIFO, a directory or a device as the database: refused at once, nothing made" {
	mkfifo fifo.db
	mkdir dir.db
	local before
	before=$(entries)
	refused_by_all 'fifo.db: not a regular file' fifo.db
	refused_by_all 'dir.db: not a regular file' dir.db
	refused_by_all '/dev/null: not a regular file' /dev/null
	assert_equal "$(entries)" "$before"
	assert [ -p fifo.db ]
}

@test "REP_DB naming a FIFO: refused the same way" {
	mkfifo fifo.db
	run --separate-stderr env REP_DB=fifo.db timeout 20 rep-ls </dev/null
	assert_failure 2
	assert_stderr 'rep-ls: fifo.db: not a regular file'
}

@test "the control: a symlink to a database is followed; its side files are beside its target" {
	mkdir real
	mv metadata.db real/rep.db
	ln -s real/rep.db metadata.db
	run --separate-stderr rep-setstatus -q deployed app-b </dev/null
	assert_success
	run --separate-stderr rep-ls -o name,status app-b </dev/null
	assert_success
	assert_output "app-b${TAB}deployed"
	assert [ -L metadata.db ]
	assert [ ! -e metadata.db-wal ]
}

# --- side files: -wal, -shm, -journal -----------------------------------------------

@test "a symlinked -wal, -shm or -journal: every tool says which and why; nothing changes, nothing is written through it" {
	local side
	cp metadata.db before.db
	for side in wal shm journal; do
		ln -s "$BATS_TEST_TMPDIR/elsewhere" "metadata.db-$side"
		refused_by_all "metadata.db-$side: a symbolic link (refused)"
		assert [ ! -e elsewhere ]
		assert [ -L "metadata.db-$side" ]
		cmp metadata.db before.db
		rm "metadata.db-$side"
	done
}

@test "a symlinked -wal beside the target of a symlinked database is named by its path" {
	mkdir real
	mv metadata.db real/rep.db
	ln -s real/rep.db metadata.db
	ln -s /nonexistent real/rep.db-wal
	run --separate-stderr rep-ls </dev/null
	assert_failure 2
	assert_stderr "rep-ls: $BATS_TEST_TMPDIR/real/rep.db-wal: a symbolic link (refused)"
	run --separate-stderr rep-setstatus ready app-a </dev/null
	assert_failure 2
	assert_stderr "rep-setstatus: $BATS_TEST_TMPDIR/real/rep.db-wal: a symbolic link (refused)"
}

@test "a -wal that is a FIFO or a directory: refused, not read" {
	mkfifo metadata.db-wal
	refused_by_all 'metadata.db-wal: not a regular file'
	rm metadata.db-wal
	mkdir metadata.db-shm
	refused_by_all 'metadata.db-shm: not a regular file'
}

# --- a lock held by another process ---------------------------------------------------

# hold SECONDS: a process that holds the database's write lock for
# SECONDS, then commits; returns once it holds it.
hold() {
	rm -f held
	"$PYTHON" - metadata.db held "$1" <<-'EOF' &
		import sqlite3, sys, time
		c = sqlite3.connect(sys.argv[1], isolation_level=None)
		c.execute('BEGIN IMMEDIATE')
		open(sys.argv[2], 'w').close()
		time.sleep(float(sys.argv[3]))
		c.execute('COMMIT')
	EOF
	HOLDER=$!
	local i
	for ((i = 0; i < 200; i++)); do
		[ -e held ] && return 0
		sleep 0.05
	done
	fail 'the holder did not take the lock'
}

@test "a database locked by another process: on a terminal, the wait is announced once, then the change is made" {
	hold 2
	SECONDS=0
	on_tty rep-setstatus deployed app-a
	assert_success
	assert_output "$(lines 'rep-setstatus: metadata.db: locked by another process; waiting up to 30 s' \
		'rep-setstatus: 1 set to deployed')"
	assert [ "$SECONDS" -ge 1 ]
	assert_equal "$(cut -f1-2 out)" "app-a${TAB}deployed"
	wait "$HOLDER"
	HOLDER=
	assert_equal "$(sqlite3 metadata.db "SELECT status FROM app WHERE name = 'app-a'")" deployed
}

@test "a locked database, stderr not a terminal or -q: the same wait, silently (cron, scripts)" {
	hold 1.5
	run --separate-stderr rep-setstatus deployed app-a </dev/null
	assert_success
	assert_stderr 'rep-setstatus: 1 set to deployed'
	wait "$HOLDER"
	hold 1.5
	on_tty rep-setstatus -q failed app-a
	assert_success
	assert_output ''
	wait "$HOLDER"
	HOLDER=
	assert_equal "$(sqlite3 metadata.db "SELECT status FROM app WHERE name = 'app-a'")" failed
}
