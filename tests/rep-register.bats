#!/usr/bin/env bats
# rep-register [-n] [-q] [-H] (--all | NAME...)
# shellcheck disable=SC2154 # output, stderr, stderr_lines, status: set by run

load helper

teardown() {
	if [ -n "${NOBODY_DIR:-}" ]; then
		rm -rf -- "$NOBODY_DIR"
	fi
	# a directory made unreadable, that a user other than root could not remove
	chmod -R u+rwX "$BATS_TEST_TMPDIR" 2>/dev/null || true
}

# --- registering -----------------------------------------------------------

@test "registers named applications with status registered, echoing their records" {
	mkapp app-a
	mkapp app-b README bin/run
	run --separate-stderr rep-register app-a app-b </dev/null
	assert_success
	assert_records "$(records app-a registered app-b registered)"
	assert_stderr 'rep-register: 2 registered, 0 refreshed, 0 unchanged'
	run --separate-stderr rep-ls </dev/null
	assert_success
	assert_records "$(records app-a registered app-b registered)"
}

@test "records are echoed in input order, not name order" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	run --separate-stderr rep-register app-c app-a app-b </dev/null
	assert_success
	assert_records "$(records app-c registered app-a registered app-b registered)"
}

@test "the record carries files, bytes and checksum of the tree" {
	mkapp app-a one two sub/three
	ln -s one rep_applications/app-a/link
	: >rep_applications/app-a/empty
	run --separate-stderr rep-register app-a </dev/null
	assert_success
	# one, two, sub/three, link, empty; bytes count regular files only
	assert_equal "$(field 3)" 5
	assert_equal "$(field 4)" $((10 + 10 + 16))
	assert_equal "$(field 5)" "$(recompute_checksum rep_applications/app-a)"
}

@test "registered and updated are the same current UTC time" {
	mkapp app-a
	local before after t
	before=$(date -u +%s)
	run --separate-stderr rep-register app-a </dev/null
	after=$(date -u +%s)
	assert_success
	assert_regex "$(field 6)" "^$TS_RE\$"
	assert_equal "$(field 7)" "$(field 6)"
	t=$(date -u -d "$(field 6)" +%s)
	assert [ "$t" -ge "$before" ]
	assert [ "$t" -le "$after" ]
}

@test "registration is recorded in the history: from -, to registered, empty note" {
	mkapp app-a
	mkapp app-b
	register app-b app-a
	assert_equal "$(hist)" "$(lines "$(event app-b - registered)" "$(event app-a - registered)")"
}

@test "history user is \$LOGNAME, else the password database's name (USER is not read), and SUDO_USER" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	mkapp app-d
	LOGNAME=alice USER=bob rep-register -q app-a </dev/null >/dev/null
	env -u LOGNAME USER=bob rep-register -q app-b </dev/null >/dev/null
	LOGNAME='' rep-register -q app-c </dev/null >/dev/null
	SUDO_USER=carol rep-register -q app-d </dev/null >/dev/null
	assert_equal "$(hist -o name,user)" "$(lines "app-a${TAB}alice" "app-b${TAB}$(id -un)" \
		"app-c${TAB}$(id -un)" "app-d${TAB}tester(sudo:carol)")"
}

@test "creates the database with the documented schema markers" {
	mkapp app-a
	register app-a
	assert [ -f metadata.db ]
	assert_equal "$(sqlite3 metadata.db 'PRAGMA application_id')" $((0x72657031))
	assert [ "$(sqlite3 metadata.db 'PRAGMA user_version')" -ge 1 ]
	assert_equal "$(sqlite3 metadata.db "SELECT name, status FROM app")" 'app-a|registered'
}

@test "a new database is built as metadata.db.new, synced, and renamed into place in WAL mode" {
	command -v strace >/dev/null || skip 'needs strace'
	strace -f -o /dev/null true 2>/dev/null || skip 'strace cannot trace here'
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	mkapp app-a README
	run --separate-stderr strace -f -qq -e trace=fdatasync,renameat2 -o trace rep-register app-a </dev/null
	assert_success
	assert_records "$(record app-a registered)"
	assert_stderr 'rep-register: 1 registered, 0 refreshed, 0 unchanged'
	# one sync, of the new file, then the rename that publishes it
	run grep -c 'fdatasync(' trace
	assert_output 1
	run grep -o 'renameat2(.*' trace
	assert_output "renameat2(AT_FDCWD, \"$PWD/metadata.db.new\", AT_FDCWD, \"$PWD/metadata.db\", RENAME_NOREPLACE) = 0"
	assert_equal "$(sqlite3 metadata.db 'PRAGMA journal_mode')" wal
	assert_equal "$(sqlite3 metadata.db 'PRAGMA integrity_check')" ok
	assert_no_db metadata.db.new
}

@test "a metadata.db.new left by a killed run, and its side files, give way to the next one" {
	mkapp app-a README
	local f
	for f in metadata.db.new metadata.db.new-journal metadata.db.new-wal metadata.db.new-shm; do
		printf 'left by a killed run\n' >"$f"
	done
	run --separate-stderr rep-register app-a </dev/null
	assert_success
	assert_records "$(record app-a registered)"
	assert_stderr 'rep-register: 1 registered, 0 refreshed, 0 unchanged'
	assert_no_db metadata.db.new
	assert_equal "$(rep-ls -o name </dev/null)" app-a
}

@test "side files of a database removed by hand are not read into the new one" {
	mkapp app-a README
	# a -wal holding a committed page 1 of another database, its
	# writer gone before the checkpoint
	sqlite3 old.db <<-'EOF'
		PRAGMA journal_mode = WAL;
		CREATE TABLE app (other);
		INSERT INTO app VALUES ('not rep');
		.shell cp old.db-wal metadata.db-wal
		.shell cp old.db-shm metadata.db-shm
	EOF
	assert [ -s metadata.db-wal ]
	run --separate-stderr rep-register app-a </dev/null
	assert_success
	assert_records "$(record app-a registered)"
	assert_stderr 'rep-register: 1 registered, 0 refreshed, 0 unchanged'
	assert_equal "$(rep-ls -o name,status </dev/null)" "app-a${TAB}registered"
	assert_equal "$(sqlite3 metadata.db 'PRAGMA integrity_check')" ok
}

# hold_creation_lock SECONDS CMD: in the background, holds the lock that a
# creating rep-register takes (a flock of the directory) for SECONDS, then
# runs CMD; returns once the lock is held.
hold_creation_lock() {
	# shellcheck disable=SC2016 # the inner sh expands them
	flock . sh -c ': >locked; sleep "$1"; eval "$2"' sh "$@" &
	holder=$!
	while ! [ -e locked ]; do sleep 0.05; done
}

@test "a run that would create the database waits for the one creating it, then registers into it" {
	mkapp app-a README
	mkapp app-b README
	rep-register -q --db made.db app-a </dev/null >/dev/null
	hold_creation_lock 1 'cp made.db metadata.db'
	run --separate-stderr rep-register --all </dev/null
	wait "$holder"
	assert_success
	assert_records "$(record app-b registered)"
	assert_stderr 'rep-register: 1 registered, 0 refreshed, 0 unchanged, 1 already registered (not checked)'
	assert_equal "$(rep-ls -o name </dev/null)" "$(lines app-a app-b)"
	assert_no_db metadata.db.new
}

@test "waiting for another creator is said on a terminal, not with -q" {
	command -v script >/dev/null || skip 'needs script(1)'
	mkapp app-a README
	hold_creation_lock 1 :
	run script -qec 'rep-register app-a </dev/null >/dev/null' /dev/null
	wait "$holder"
	assert_success
	assert_line --index 0 --partial 'rep-register: metadata.db: another run is creating it: waiting'
	assert_line --index 1 --partial 'rep-register: 1 registered, 0 refreshed, 0 unchanged'
	rm metadata.db locked
	hold_creation_lock 1 :
	run script -qec 'rep-register -q app-a </dev/null >/dev/null' /dev/null
	wait "$holder"
	assert_success
	assert_output ''
}

@test "a database made meanwhile by another program is left alone: exit 2, this run's discarded" {
	command -v strace >/dev/null || skip 'needs strace'
	strace -f -o /dev/null true 2>/dev/null || skip 'strace cannot trace here'
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	mkapp app-a README
	# the rename finds a database there (as if another program made it)
	run --separate-stderr strace -f -qq -o /dev/null -e trace=renameat2 \
		-e inject=renameat2:error=EEXIST rep-register app-a </dev/null
	assert_failure 2
	assert_records "$(record app-a registered)"
	assert_stderr "rep-register: metadata.db: made meanwhile by another program: this run's changes are not in it"
	assert_no_db
	# the sync of the new file fails
	run --separate-stderr strace -f -qq -o /dev/null -e trace=fdatasync \
		-e inject=fdatasync:error=EIO rep-register app-a </dev/null
	assert_failure 2
	assert_stderr 'rep-register: metadata.db.new: Input/output error'
	assert_no_db
}

@test "a directory the user cannot write: exit 2, nothing made" {
	nobody_dir
	APPS=$NOBODY_DIR/rep_applications mkapp app-a README
	run --separate-stderr runuser -u nobody -- "$NOBODY_DIR/bin/rep-register" -C "$NOBODY_DIR" app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: metadata.db.new: Permission denied'
	assert_no_db "$NOBODY_DIR/metadata.db"
}

@test "the history table is append-only" {
	mkapp app-a
	register app-a
	run sqlite3 metadata.db "UPDATE history SET note = 'x'"
	assert_failure
	run sqlite3 metadata.db "DELETE FROM history"
	assert_failure
	assert_equal "$(sqlite3 metadata.db 'SELECT count(*) FROM history')" 1
}

# --- names from stdin --------------------------------------------------------

@test "with no operand, names are read from stdin" {
	mkapp app-a
	mkapp app-b
	run --separate-stderr rep-register <<<$'app-b\napp-a'
	assert_success
	assert_records "$(records app-b registered app-a registered)"
	assert_stderr 'rep-register: 2 registered, 0 refreshed, 0 unchanged'
}

@test "stdin records: first field is the name, comments, headers and empty lines skipped" {
	mkapp app-a
	mkapp app-b
	run --separate-stderr rep-register < <(printf '%s\n' "$APP_HEADER" '# a comment' '' \
		"app-a${TAB}ready${TAB}whatever" '' "app-b${TAB}x")
	assert_success
	assert_records "$(records app-a registered app-b registered)"
	assert_stderr 'rep-register: 2 registered, 0 refreshed, 0 unchanged'
}

@test "a last line without newline is read" {
	mkapp app-a
	run --separate-stderr rep-register < <(printf 'app-a')
	assert_success
	assert_records "$(record app-a registered)"
}

@test "empty stdin registers nothing and exits 0" {
	run --separate-stderr rep-register </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-register: 0 registered, 0 refreshed, 0 unchanged'
}

@test "- as an operand reads stdin, in its place among the operands" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	run --separate-stderr rep-register app-c - app-a <<<'app-b'
	assert_success
	assert_records "$(records app-c registered app-b registered app-a registered)"
	assert_stderr 'rep-register: 3 registered, 0 refreshed, 0 unchanged'
}

@test "a name given twice is registered once" {
	mkapp app-a
	mkapp app-b
	run --separate-stderr rep-register app-a app-b app-a </dev/null
	assert_success
	assert_records "$(records app-a registered app-b registered)"
	assert_stderr 'rep-register: 2 registered, 0 refreshed, 0 unchanged'
	assert_equal "$(hist -o name)" "$(lines app-a app-b)"
}

@test "operands may start with + and contain . _ + -" {
	mkapp +x_1.2-b
	mkapp 9
	run --separate-stderr rep-register 9 +x_1.2-b </dev/null
	assert_success
	assert_records "$(records 9 registered +x_1.2-b registered)"
}

@test "a 128-byte name is accepted" {
	local name
	name=$(printf 'a%.0s' {1..128})
	mkapp "$name"
	run --separate-stderr rep-register "$name" </dev/null
	assert_success
	assert_records "$(record "$name" registered)"
}

# --- re-registration ----------------------------------------------------------

@test "re-registering an unchanged application prints nothing and changes nothing" {
	mkapp app-a
	register app-a
	snapshot_appdata
	run --separate-stderr rep-register app-a </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-register: 0 registered, 0 refreshed, 1 unchanged'
	assert_appdata_unchanged
}

@test "changed content is refreshed: new files/bytes/checksum, registered kept, ready set back to registered" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	setstatus ready app-a
	sqlite3 metadata.db "UPDATE app SET registered = '2000-01-01T00:00:00Z', updated = '2000-01-01T00:00:00Z'"
	local old
	old=$(rep-ls -o checksum app-a </dev/null)
	printf 'more\n' >>rep_applications/app-a/README
	printf 'new\n' >rep_applications/app-a/NEW
	run --separate-stderr rep-register app-a app-b </dev/null
	assert_success
	assert_equal "$(field 1-5)" "$(record app-a registered | cut -f1-5)"
	assert_equal "$(field 6)" 2000-01-01T00:00:00Z
	assert_regex "$(field 7)" "^$TS_RE\$"
	assert_not_equal "$(field 7)" 2000-01-01T00:00:00Z
	assert_stderr 'rep-register: 0 registered, 1 refreshed, 1 unchanged'
	local new
	new=$(recompute_checksum rep_applications/app-a)
	run --separate-stderr rep-ls app-a </dev/null
	assert_equal "$(field 1-5)" "$(record app-a registered | cut -f1-5)"
	assert_equal "$(hist app-a)" "$(lines \
		"$(event app-a - registered)" \
		"$(event app-a registered ready)" \
		"$(event app-a ready registered "refreshed: ${old:0:12} -> ${new:0:12}")")"
	# app-b was unchanged: no event
	assert_equal "$(hist app-b)" "$(event app-b - registered)"
}

@test "more applications than a batch (256): every one recorded once, refreshes found in every batch" {
	mkapps 1000
	run --separate-stderr rep-register --all </dev/null
	assert_success
	assert_equal "${#lines[@]}" 1000
	assert_equal "$(printf '%s\n' "$output" | cut -f1 | sort -u | wc -l)" 1000
	assert_equal "$(printf '%s\n' "$output" | cut -f1 | head -1)" app-001
	assert_equal "$(printf '%s\n' "${lines[999]}" | cut -f1-5)" "$(record app-999 registered | cut -f1-5)"
	assert_stderr 'rep-register: 1000 registered, 0 refreshed, 0 unchanged'
	assert_equal "$(sqlite3 metadata.db 'select count(*) from app; select count(*) from file where mode / 4096 = 8')" \
		"$(lines 1000 1000)"
	sqlite3 metadata.db "UPDATE app SET registered = '2000-01-01T00:00:00Z'"
	printf 'more\n' >>rep_applications/app-002/README
	printf 'more\n' >>rep_applications/app-999/README
	# shellcheck disable=SC2046 # the names, one word each
	run --separate-stderr rep-register $(cd rep_applications && printf '%s\n' *) </dev/null
	assert_success
	assert_records "$(records app-002 registered app-999 registered)"
	assert_equal "$(field 6)" "$(lines 2000-01-01T00:00:00Z 2000-01-01T00:00:00Z)"
	assert_stderr 'rep-register: 0 registered, 2 refreshed, 998 unchanged'
}

@test "names in an order that spreads their ids over every batch: each application's own stat cache rows are read" {
	mkapps 1300
	register --all
	# rows that are trusted and wrong: an application whose rows are read
	# is refreshed to a false sum, one whose rows are not is hashed again
	sqlite3 metadata.db 'update file set hash = zeroblob(32), cached_ns = max(mtime_ns, ctime_ns) + 1000000000'
	local names=() r i
	# every fifth: a batch of 256 names spans most of the ids
	for ((r = 1; r <= 5; r++)); do
		for ((i = r; i <= 1300; i += 5)); do names+=("$(printf 'app-%03d' "$i")"); done
	done
	run --separate-stderr rep-register -n "${names[@]}" </dev/null
	assert_success
	assert_equal "${#lines[@]}" 1300
	assert_stderr 'rep-register: dry run: 0 registered, 1300 refreshed, 0 unchanged'
	# and in the order of ids, a batch's rows read in one scan: the same
	# shellcheck disable=SC2046 # the names, one word each
	run --separate-stderr rep-register -n $(cd rep_applications && printf '%s\n' *) </dev/null
	assert_success
	assert_stderr 'rep-register: dry run: 0 registered, 1300 refreshed, 0 unchanged'
}

@test "rule 2: a refresh sets ready, pending_deployment and deployed back to registered; other statuses hold" {
	local s old new
	declare -A after=([registered]=registered [ready]=registered [pending_deployment]=registered
		[deployed]=registered [failed]=failed [retired]=retired)
	for s in registered ready pending_deployment deployed failed retired; do
		mkapp "app-$s"
		register "app-$s"
		[ "$s" = registered ] || setstatus "$s" "app-$s"
	done
	for s in registered ready pending_deployment deployed failed retired; do
		old=$(rep-ls -o checksum "app-$s" </dev/null)
		printf 'changed\n' >>"rep_applications/app-$s/README"
		run --separate-stderr rep-register "app-$s" </dev/null
		assert_success
		assert_records "$(record "app-$s" "${after[$s]}")"
		assert_stderr 'rep-register: 0 registered, 1 refreshed, 0 unchanged'
		new=$(recompute_checksum "rep_applications/app-$s")
		assert_equal "$(hist "app-$s" | tail -1)" \
			"$(event "app-$s" "$s" "${after[$s]}" "refreshed: ${old:0:12} -> ${new:0:12}")"
		assert_equal "$(rep-ls -o status "app-$s" </dev/null)" "${after[$s]}"
	done
}

@test "rule 2: unchanged content keeps its status; -n shows the status a refresh would set, changing nothing" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	setstatus deployed app-a app-b
	run --separate-stderr rep-register app-a </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-register: 0 registered, 0 refreshed, 1 unchanged'
	printf 'changed\n' >>rep_applications/app-b/README
	snapshot_appdata
	run --separate-stderr rep-register -n app-a app-b </dev/null
	assert_success
	assert_records "$(record app-b registered)"
	assert_stderr 'rep-register: dry run: 0 registered, 1 refreshed, 1 unchanged'
	assert_appdata_unchanged
	assert_equal "$(rep-ls -o status </dev/null)" "$(lines deployed deployed)"
}

@test "an edit undone: a refresh to the content live on every target of its deployment records is deployed; live on some only, registered" {
	local r=rep_applications_20260101_000001 old mid app sum
	mkapp app-a
	mkapp app-b
	register app-a app-b
	for app in app-a app-b; do
		sum=$(rep-ls -o checksum "$app" </dev/null)
		printf '%s\t%s\t%s\t%s\tlive\n' "$app" "$r" web1,web2 "$sum"
	done | rep-setstatus -q --record >/dev/null
	# app-b's content on web2 is another one
	printf 'app-b\t%s\tweb2\t%s\tlive\n' "$r" 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef |
		rep-setstatus -q --record >/dev/null
	old=$(rep-ls -o checksum app-a </dev/null)
	cp rep_applications/app-a/README saved
	printf 'oops\n' >>rep_applications/app-a/README
	mid=$(recompute_checksum rep_applications/app-a)
	register app-a
	assert_equal "$(rep-ls -o status app-a </dev/null)" registered
	cp saved rep_applications/app-a/README
	run --separate-stderr rep-register app-a </dev/null
	assert_success
	assert_records "$(record app-a deployed)"
	assert_equal "$(hist app-a | tail -1)" \
		"$(event app-a registered deployed "refreshed: ${mid:0:12} -> ${old:0:12}; live where it was sent")"
	# live on web1 only: registered, as a change would be
	cp rep_applications/app-b/README saved
	printf 'oops\n' >>rep_applications/app-b/README
	register app-b
	cp saved rep_applications/app-b/README
	run --separate-stderr rep-register app-b </dev/null
	assert_success
	assert_records "$(record app-b registered)"
}

@test "new applications and refreshes together, echoed in input order" {
	mkapp app-a
	mkapp app-b
	register app-a
	printf 'x\n' >>rep_applications/app-a/README
	run --separate-stderr rep-register app-b app-a </dev/null
	assert_success
	assert_records "$(records app-b registered app-a registered)"
	assert_stderr 'rep-register: 1 registered, 1 refreshed, 0 unchanged'
}

@test "a refresh to an empty tree is a refresh" {
	mkapp app-a
	register app-a
	rm rep_applications/app-a/README
	run --separate-stderr rep-register app-a </dev/null
	assert_success
	assert_records "$(printf 'app-a\tregistered\t0\t0\t%s\tTIME\tTIME' "$EMPTY_SHA256")"
	assert_stderr 'rep-register: 0 registered, 1 refreshed, 0 unchanged'
}

# --- --all --------------------------------------------------------------------

@test "--all registers every valid unregistered directory, in name order" {
	mkapp app-c
	mkapp app-a
	mkapp app-b
	register app-b
	run --separate-stderr rep-register --all </dev/null
	assert_success
	assert_records "$(records app-a registered app-c registered)"
	assert_stderr 'rep-register: 2 registered, 0 refreshed, 0 unchanged, 1 already registered (not checked)'
	assert_equal "$(rep-ls -o name </dev/null)" "$(lines app-a app-b app-c)"
}

@test "--all sorts bytewise" {
	mkapp b
	mkapp B
	mkapp a-1
	mkapp a.1
	mkapp a_1
	run --separate-stderr rep-register --all </dev/null
	assert_success
	assert_equal "$(field 1)" "$(lines B a-1 a.1 a_1 b)"
}

@test "--all skips and counts invalid entries, ignores hidden ones" {
	mkapp app-a
	mkapp .hidden
	: >rep_applications/.hidden-file
	: >rep_applications/plain-file
	mkdir 'rep_applications/has space' rep_applications/elsewhere-target
	ln -s app-a rep_applications/link-to-dir
	run --separate-stderr rep-register --all </dev/null
	assert_success
	assert_records "$(records app-a registered elsewhere-target registered)"
	assert_stderr 'rep-register: 2 registered, 0 refreshed, 0 unchanged, 3 invalid skipped'
	assert_equal "$(rep-ls -o name </dev/null)" "$(lines app-a elsewhere-target)"
}

@test "--all on an empty applications directory registers nothing" {
	run --separate-stderr rep-register --all </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-register: 0 registered, 0 refreshed, 0 unchanged'
}

@test "--all with a missing applications directory: exit 2, no database" {
	rmdir rep_applications
	run --separate-stderr rep-register --all </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: rep_applications: No such file or directory'
	assert_no_db
}

@test "--all with names is a usage error, named as typed" {
	mkapp app-a
	run --separate-stderr rep-register --all app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-register: --all takes no names (try 'rep-register --help')"
	assert_no_db
	run --separate-stderr rep-register -a app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-register: -a takes no names (try 'rep-register --help')"
	assert_no_db
}

@test "--all does not read stdin" {
	mkapp app-a
	mkapp app-b
	run --separate-stderr rep-register --all <<<'no-such-app'
	assert_success
	assert_records "$(records app-a registered app-b registered)"
}

# --- options ------------------------------------------------------------------

@test "-n reports what it would register and creates no database" {
	mkapp app-a
	run --separate-stderr rep-register -n app-a </dev/null
	assert_success
	assert_records "$(record app-a registered)"
	assert_stderr 'rep-register: dry run: 1 registered, 0 refreshed, 0 unchanged'
	assert_no_db
}

@test "-n with an existing database reports registrations and refreshes, changes nothing" {
	mkapp app-a
	mkapp app-b
	register app-a
	printf 'x\n' >>rep_applications/app-a/README
	snapshot_db
	run --separate-stderr rep-register --dry-run app-a app-b </dev/null
	assert_success
	assert_records "$(records app-a registered app-b registered)"
	assert_stderr 'rep-register: dry run: 1 registered, 1 refreshed, 0 unchanged'
	assert_db_unchanged
}

@test "--all does not call what it did not check unchanged: a registered application modified since is 'already registered (not checked)'" {
	mkapp app-a README
	mkapp app-b README
	register app-a app-b
	echo changed >>rep_applications/app-a/README
	mkapp app-c
	run --separate-stderr rep-register --all </dev/null
	assert_success
	assert_records "$(record app-c registered)"
	assert_stderr 'rep-register: 1 registered, 0 refreshed, 0 unchanged, 2 already registered (not checked)'
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	# named, it is checked: refreshed, and the unchanged one said so
	run --separate-stderr rep-register app-a app-b </dev/null
	assert_success
	assert_stderr 'rep-register: 0 registered, 1 refreshed, 1 unchanged'
}

@test "-n --all reports without registering" {
	mkapp app-a
	register app-a
	mkapp app-b
	snapshot_db
	run --separate-stderr rep-register -n --all </dev/null
	assert_success
	assert_records "$(record app-b registered)"
	assert_stderr 'rep-register: dry run: 1 registered, 0 refreshed, 0 unchanged, 1 already registered (not checked)'
	assert_db_unchanged
}

@test "-q silences the summary, not the records" {
	mkapp app-a
	run --separate-stderr rep-register -q app-a </dev/null
	assert_success
	assert_records "$(record app-a registered)"
	refute_stderr
	mkapp app-b
	run --separate-stderr rep-register --quiet app-b </dev/null
	assert_success
	assert_records "$(record app-b registered)"
	refute_stderr
}

@test "-H prints the header first" {
	mkapp app-a
	mkapp app-b
	run --separate-stderr rep-register -H app-a app-b </dev/null
	assert_success
	assert_records "$(lines "$APP_HEADER" "$(records app-a registered app-b registered)")"
	mkapp app-c
	run --separate-stderr rep-register --header app-c </dev/null
	assert_success
	assert_records "$(lines "$APP_HEADER" "$(records app-c registered)")"
}

@test "options may follow operands" {
	mkapp app-a
	run --separate-stderr rep-register app-a -q </dev/null
	assert_success
	assert_records "$(record app-a registered)"
	refute_stderr
}

@test "-- ends the options" {
	mkapp app-a
	run --separate-stderr rep-register -- -q </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-register: -q: invalid application name ($NAME_RULE)"
	assert_no_db
}

@test "-h and --help print usage on stdout and exit 0" {
	local opt
	for opt in -h --help; do
		run --separate-stderr rep-register "$opt" </dev/null
		assert_success
		assert_output --partial 'rep-register'
		assert_output --partial '--all'
		refute_stderr
	done
	assert_no_db
}

@test "-V and --version print the version" {
	run --separate-stderr rep-register -V </dev/null
	assert_success
	assert_output "rep-register $REP_VERSION"
	refute_stderr
	run --separate-stderr rep-register --version </dev/null
	assert_success
	assert_output "rep-register $REP_VERSION"
	assert_no_db
}

# --- where: -C, --db, --apps, REP_DB, REP_APPS ----------------------------------

@test "--db FILE creates and uses FILE" {
	mkapp app-a
	run --separate-stderr rep-register --db other.db app-a </dev/null
	assert_success
	assert_no_db metadata.db
	assert_equal "$(sqlite3 other.db 'SELECT name FROM app')" app-a
}

@test "REP_DB sets the database; --db beats it" {
	mkapp app-a
	mkapp app-b
	REP_DB=env.db rep-register -q app-a </dev/null >/dev/null
	assert_equal "$(sqlite3 env.db 'SELECT name FROM app')" app-a
	REP_DB=env.db rep-register -q --db opt.db app-b </dev/null >/dev/null
	assert_equal "$(sqlite3 env.db 'SELECT name FROM app')" app-a
	assert_equal "$(sqlite3 opt.db 'SELECT name FROM app')" app-b
	assert_no_db metadata.db
}

@test "--apps DIR and REP_APPS choose the applications directory; --apps beats REP_APPS" {
	APPS=envapps mkapp app-a
	APPS=optapps mkapp app-a README other
	mkapp app-a README third fourth
	run --separate-stderr env REP_APPS=envapps rep-register --db env.db app-a </dev/null
	assert_success
	assert_records "$(record app-a registered envapps)"
	run --separate-stderr env REP_APPS=envapps rep-register --db opt.db --apps optapps app-a </dev/null
	assert_success
	assert_records "$(record app-a registered optapps)"
	run --separate-stderr rep-register --db default.db app-a </dev/null
	assert_success
	assert_records "$(record app-a registered)"
}

@test "a missing directory names the applications directory as configured" {
	mkdir optapps
	run --separate-stderr rep-register --apps optapps app-x </dev/null
	assert_failure 2
	assert_stderr 'rep-register: app-x: no such directory in optapps'
	assert_no_db
	mkdir envapps
	run --separate-stderr env REP_APPS=envapps rep-register app-x </dev/null
	assert_failure 2
	assert_stderr 'rep-register: app-x: no such directory in envapps'
	assert_no_db
}

@test "-C DIR works as if started in DIR" {
	mkdir sub
	APPS=sub/rep_applications mkapp app-a
	run --separate-stderr rep-register -C sub app-a </dev/null
	assert_success
	assert_records "$(record app-a registered sub/rep_applications)"
	assert [ -f sub/metadata.db ]
	assert_no_db metadata.db
}

@test "-C DIR: relative --db, --apps, REP_DB and REP_APPS are relative to DIR" {
	mkdir sub
	APPS=sub/a1 mkapp app-a
	APPS=sub/a2 mkapp app-b
	run --separate-stderr rep-register -C sub --db x.db --apps a1 app-a </dev/null
	assert_success
	assert [ -f sub/x.db ]
	run --separate-stderr env REP_DB=y.db REP_APPS=a2 rep-register -C sub app-b </dev/null
	assert_success
	assert [ -f sub/y.db ]
	assert_equal "$(sqlite3 sub/y.db 'SELECT name FROM app')" app-b
	assert_no_db x.db
	assert_no_db y.db
}

@test "-C with a missing directory: exit 2" {
	mkapp app-a
	run --separate-stderr rep-register -C nowhere app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-register: .*nowhere.*$'
	assert_no_db
}

# --- errors: exit 2, nothing changed ---------------------------------------------

@test "invalid names are refused with the naming rule" {
	local name long
	long=$(printf 'a%.0s' {1..129})
	mkdir -p 'rep_applications/a b' rep_applications/.x "rep_applications/$long" 'rep_applications/a:b'
	for name in .x 'a b' 'a:b' "$long" a/b .. é; do
		run --separate-stderr rep-register "$name" </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr "rep-register: $name: invalid application name ($NAME_RULE)"
		assert_no_db
	done
}

@test "a name starting with - read from stdin is refused as invalid" {
	run --separate-stderr rep-register <<<'-x'
	assert_failure 2
	assert_stderr "rep-register: stdin:1: -x: invalid application name ($NAME_RULE)"
	assert_no_db
}

@test "a missing application directory: exit 2, no database created" {
	run --separate-stderr rep-register app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: app-x: no such directory in rep_applications'
	assert_no_db
}

@test "what a name is when it is not an application directory is said: a symbolic link, a file, nothing; nothing registered" {
	mkapp app-a
	ln -s app-a rep_applications/link
	: >rep_applications/file
	run --separate-stderr rep-register link </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: link: a symbolic link, not a directory (not followed) in rep_applications'
	run --separate-stderr rep-register app-a file </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: file: not a directory in rep_applications'
	assert_no_db
}

@test "--db in a directory that does not exist, or under a file: that directory named, not SQLite's words; nothing made" {
	mkapp app-a
	run --separate-stderr rep-register --db "$BATS_TEST_TMPDIR/no/such/m.db" app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-register: $BATS_TEST_TMPDIR/no/such: No such file or directory (the directory of the database)"
	run --separate-stderr rep-ls --db no/m.db </dev/null
	assert_failure 2
	assert_stderr 'rep-ls: no: No such file or directory (the directory of the database)'
	run --separate-stderr rep-register --db rep_applications/app-a/README/m.db app-a </dev/null
	assert_failure 2
	assert_stderr 'rep-register: rep_applications/app-a/README/m.db: Not a directory'
	assert_absent no
	assert_no_db
}

@test "one bad name among good ones registers nothing (fresh directory)" {
	mkapp app-a
	mkapp app-b
	run --separate-stderr rep-register app-a app-x app-b </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: app-x: no such directory in rep_applications'
	assert_no_db
	run --separate-stderr rep-register <<<$'app-a\n.bad\napp-b'
	assert_failure 2
	assert_output ''
	assert_stderr "rep-register: stdin:2: .bad: invalid application name ($NAME_RULE)"
	assert_no_db
}

@test "one bad name among good ones changes nothing (existing database)" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	register app-a
	printf 'x\n' >>rep_applications/app-a/README
	snapshot_db
	run --separate-stderr rep-register app-a app-b app-x app-c </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: app-x: no such directory in rep_applications'
	assert_db_unchanged
}

@test "an application directory that is a symlink or a plain file is not registered" {
	mkapp app-a
	ln -s app-a rep_applications/app-l
	: >rep_applications/app-f
	register app-a
	snapshot_db
	local name
	for name in app-l app-f; do
		run --separate-stderr rep-register "$name" </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr --regexp "^rep-register: $name: "
		assert_db_unchanged
	done
}

@test "a FIFO inside an application: exit 2 naming it, no database" {
	mkapp app-a README sub/file
	mkfifo rep_applications/app-a/sub/fifo
	run --separate-stderr timeout 10 rep-register app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines 'rep-register: app-a/sub/fifo: a FIFO, not a regular file, directory or symlink' \
		"$(holds rep-register app-a)")"
	assert_no_db
}

# Many applications (more than 4 per core) are hashed whole, one per core
# at a time, not file by file: the results still come in name order.
@test "--all over 60 applications: ids, history and cache rows in name order, one per file" {
	mkapps 60
	local i
	for i in 007 031 059; do
		mkdir rep_applications/app-$i/sub
		printf 'x%s\n' $i >rep_applications/app-$i/sub/more
	done
	run --separate-stderr rep-register --all </dev/null
	assert_success
	assert_stderr 'rep-register: 60 registered, 0 refreshed, 0 unchanged'
	assert_equal "${#lines[@]}" 60
	assert_equal "$(cut -f1 <<<"$output")" "$(cd rep_applications && printf '%s\n' app-*)"
	assert_equal "$(sqlite3 metadata.db 'SELECT name FROM app ORDER BY id')" "$(cut -f1 <<<"$output")"
	assert_equal "$(sqlite3 metadata.db 'SELECT a.name FROM history h JOIN app a ON a.id = h.app_id ORDER BY h.id')" \
		"$(cut -f1 <<<"$output")"
	# a row per file and per directory
	assert_equal "$(sqlite3 metadata.db 'SELECT count(*) FROM file')" $((63 + 63))
	assert_equal "$(sqlite3 metadata.db "SELECT cast(path AS text) FROM file JOIN app ON app.id = app_id WHERE name = 'app-031'")" \
		"$(lines '' README sub/ sub/more)"
	assert_equal "$(sqlite3 metadata.db 'PRAGMA integrity_check')" ok
}

# The batched reader of lib/ring.c: used for many applications where the
# kernel allows io_uring, never with REP_IO_URING=0.
@test "many applications are read through io_uring where the kernel allows it; REP_IO_URING=0 turns it off" {
	command -v strace >/dev/null || skip 'needs strace'
	strace -f -o /dev/null true 2>/dev/null || skip 'strace cannot trace here'
	# LeakSanitizer cannot stop the world under a tracer (check-sanitize)
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	mkapps 70
	# a kernel that refuses io_uring (seccomp, kernel.io_uring_disabled),
	# or lacks what the ring needs (sparse file tables, Linux 5.19)
	strace -f -qq -e trace=io_uring_setup,io_uring_register,io_uring_enter -o trace \
		rep-register -q --db probe.db --all </dev/null >/dev/null
	grep -q 'io_uring_enter(' trace ||
		skip "io_uring is not usable here: $(grep -m 1 ' = -1 ' trace)"
	rm -f probe.db*
	run --separate-stderr strace -f -qq -e trace=io_uring_setup,io_uring_enter,openat -o trace rep-register --all </dev/null
	assert_success
	assert_stderr 'rep-register: 70 registered, 0 refreshed, 0 unchanged'
	assert_equal "${#lines[@]}" 70
	# the READMEs are opened by the ring, not by openat(2)
	run grep -c README trace
	assert_output 0
	run grep -c 'io_uring_enter(' trace
	assert [ "$output" -ge 70 ]
	rm metadata.db
	REP_IO_URING=0 run --separate-stderr strace -f -qq -e trace=io_uring_setup,io_uring_enter,openat -o trace rep-register --all </dev/null
	assert_success
	assert_stderr 'rep-register: 70 registered, 0 refreshed, 0 unchanged'
	run grep -c io_uring trace
	assert_output 0
	run grep -c 'README", O_RDONLY' trace
	assert_output 70
}

@test "a FIFO in one or two of 60 applications: exit 2 naming each once, nothing recorded" {
	mkapps 60
	register app-001 app-002
	local at
	for at in 003 030 060; do
		mkfifo rep_applications/app-$at/fifo
		snapshot_db
		run --separate-stderr timeout 20 rep-register --all </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr "$(lines "rep-register: app-$at/fifo: a FIFO, not a regular file, directory or symlink" \
			"$(holds rep-register "app-$at")")"
		assert_db_unchanged
		rm rep_applications/app-$at/fifo
	done
	rm metadata.db
	mkfifo rep_applications/app-045/fifo
	run --separate-stderr timeout 20 rep-register --all </dev/null
	assert_failure 2
	assert_stderr "$(lines 'rep-register: app-045/fifo: a FIFO, not a regular file, directory or symlink' \
		"$(holds rep-register app-045)")"
	assert_no_db
	# two threads finding one each: both told, in name order, the undo actions once
	mkfifo rep_applications/app-046/fifo
	run --separate-stderr timeout 20 rep-register --all </dev/null
	assert_failure 2
	assert_stderr "$(lines 'rep-register: app-045/fifo: a FIFO, not a regular file, directory or symlink' \
		'rep-register: app-046/fifo: a FIFO, not a regular file, directory or symlink' \
		"$(hold rep-register 2)")"
	assert_no_db
}

@test "an unreadable file inside an application: exit 2, database unchanged" {
	need_unprivileged
	mkapp app-a README secret
	mkapp app-b
	register app-b
	chmod 000 rep_applications/app-a/secret
	snapshot_db
	run --separate-stderr as_unprivileged rep-register app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines 'rep-register: app-a/secret: Permission denied' "$(holds rep-register app-a)")"
	assert_db_unchanged
}

# --- what an application may hold (rep(7), APPLICATION CONTENTS) --------------------

@test "a file name with a newline: exit 2 naming it with \\x0a, nothing registered, the database unchanged or not made" {
	mkapp app-a
	mkapp app-b README $'new\nline'
	run --separate-stderr rep-register app-a app-b </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines 'rep-register: app-b/new\x0aline: a name with a control character' \
		"$(holds rep-register app-b)")"
	assert_no_db
	register app-a
	snapshot_db
	run --separate-stderr rep-register app-b </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines 'rep-register: app-b/new\x0aline: a name with a control character' \
		"$(holds rep-register app-b)")"
	assert_db_unchanged
	# one appearing in a registered application: not refreshed
	touch rep_applications/app-a/$'\n'
	run --separate-stderr rep-register app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines 'rep-register: app-a/\x0a: a name with a control character' \
		"$(holds rep-register app-a)")"
	assert_db_unchanged
}

# A virtualenv made inside an application links to the system's python
# and libraries; /usr/share/doc-style links climb out with ../../.
@test "a virtualenv, a link climbing out, a FIFO, unreadable files and directories: every problem of every application told in one run, nothing registered" {
	need_unprivileged
	mkapp good
	register good
	local A=rep_applications
	mkapp venv README bin/activate lib/python3/site.py etc/key.pem
	ln -s /usr/bin/python3 $A/venv/bin/python
	ln -s python $A/venv/bin/python3 # inside: fine
	ln -s /usr/lib/x86_64-linux-gnu/libz.so.1 $A/venv/lib/libz.so.1
	ln -s ../../share/doc $A/venv/doc
	ln -s ../../README $A/venv/lib/python3/readme # inside: fine
	mkfifo $A/venv/lib/python3/fifo
	chmod 000 $A/venv/etc/key.pem
	mkdir $A/venv/cache
	chmod 000 $A/venv/cache
	mkapp other README
	mkfifo $A/other/fifo
	mkapp good2
	snapshot_db
	run --separate-stderr as_unprivileged rep-register good venv good2 other </dev/null
	assert_failure 2
	assert_output ''
	local -a venv=(
		'rep-register: venv/bin/python -> /usr/bin/python3: symlink points outside the application'
		'rep-register: venv/cache: Permission denied'
		'rep-register: venv/doc -> ../../share/doc: symlink points outside the application'
		'rep-register: venv/etc/key.pem: Permission denied'
		'rep-register: venv/lib/libz.so.1 -> /usr/lib/x86_64-linux-gnu/libz.so.1: symlink points outside the application'
		'rep-register: venv/lib/python3/fifo: a FIFO, not a regular file, directory or symlink'
	)
	local other='rep-register: other/fifo: a FIFO, not a regular file, directory or symlink'
	assert_stderr_lines "${venv[@]}" "$other" "$(hold rep-register 2)"
	# the applications in the order given
	assert_equal "${stderr_lines[6]}" "$other"
	assert_db_unchanged
	# --all: the same, in name order
	run --separate-stderr as_unprivileged rep-register --all </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr_lines "$other" "${venv[@]}" "$(hold rep-register 2)"
	assert_equal "${stderr_lines[0]}" "$other"
	assert_db_unchanged
	chmod 755 $A/venv/cache
}

@test "control bytes in what a message quotes (names on stdin and as operands, --db, --apps, -C) are shown as \\xHH, one line each" {
	mkapp app-a
	run --separate-stderr rep-register < <(printf 'app-a\n\e]0;pwned\a\n')
	assert_failure 2
	assert_output ''
	assert_stderr "rep-register: stdin:2: \\x1b]0;pwned\\x07: invalid application name ($NAME_RULE)"
	run --separate-stderr rep-register -- app-a $'app\nb' </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-register: app\\x0ab: invalid application name ($NAME_RULE)"
	run --separate-stderr rep-register --db $'no\e[1m/x.db' app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: no\x1b[1m: No such file or directory (the directory of the database)'
	run --separate-stderr rep-register --apps $'no\napps' app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: no\x0aapps: No such file or directory'
	run --separate-stderr rep-register -C $'no\ndir' app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-register: -C no\\x0adir: No such file or directory (try 'rep-register --help')"
	assert_no_db
}

@test "CR before LF on stdin: exit 2 naming the line" {
	mkapp app-a
	mkapp app-b
	run --separate-stderr rep-register < <(printf 'app-a\napp-b\r\n')
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: stdin:2: CR before LF (convert the input with dos2unix)'
	assert_no_db
}

@test "a NUL byte on stdin: exit 2 naming the line" {
	mkapp app-a
	run --separate-stderr rep-register < <(printf '# c\napp-a\0\n')
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: stdin:2: NUL byte in line'
	assert_no_db
}

@test "a line longer than 65536 bytes: exit 2 naming the line" {
	mkapp app-a
	run --separate-stderr rep-register < <(printf 'app-a\n'; head -c 70000 /dev/zero | tr '\0' a; printf '\n')
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: stdin:2: line longer than 65536 bytes'
	assert_no_db
}

@test "a file that is not a database is refused and left alone" {
	mkapp app-a
	printf 'not a database, just text that is long enough to matter\n%.0s' {1..20} >metadata.db
	cp metadata.db expected.db
	run --separate-stderr rep-register app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: metadata.db: file is not a database'
	cmp metadata.db expected.db
}

@test "a database with a newer schema version is refused" {
	mkapp app-a
	mkapp app-b
	register app-a
	sqlite3 metadata.db 'PRAGMA user_version = 9999'
	snapshot_db
	run --separate-stderr rep-register app-b </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-register: metadata\.db: schema version 9999 is newer than this rep \([0-9]+\)$'
	assert_db_unchanged
	assert_equal "$(sqlite3 metadata.db 'PRAGMA user_version')" 9999
}

@test "unknown options and missing option arguments are usage errors" {
	mkapp app-a
	run --separate-stderr rep-register -x app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-register: -x: unknown option (try 'rep-register --help')"
	run --separate-stderr rep-register --bogus app-a </dev/null
	assert_failure 2
	assert_stderr "rep-register: --bogus: unknown option (try 'rep-register --help')"
	run --separate-stderr rep-register app-a -C </dev/null
	assert_failure 2
	assert_stderr "rep-register: -C: option requires an argument (try 'rep-register --help')"
	run --separate-stderr rep-register app-a --db </dev/null
	assert_failure 2
	assert_stderr "rep-register: --db: option requires an argument (try 'rep-register --help')"
	assert_no_db
}

@test "a failed write to stdout is an error, the database unchanged" {
	mkapp app-a
	run --separate-stderr bash -c 'rep-register app-a </dev/null >/dev/full'
	assert_failure 2
	assert_stderr --regexp '(^|'$'\n'')rep-register: .*No space left on device$'
	assert_no_db
}
