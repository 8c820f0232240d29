#!/usr/bin/env bats
# Read-only and odd environments: a user who can read but not write the
# database, a database on a read-only file system, HOME, USER and LOGNAME unset, SUDO_USER,
# TMPDIR missing or unwritable, umask 077.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

# The fixture (made once, copied into each test's directory): app-a (a file,
# an executable, a symlink) and app-b, registered by "tester", app-b ready;
# dist/$R1.tar.gz holds both.
R1=rep_applications_20260101_000001

setup_file() {
	(
		fix=$BATS_FILE_TMPDIR/fix
		mkdir -p "$fix" && cd "$fix" || exit 1
		umask 022
		export USER=tester LOGNAME=tester LC_ALL=C; unset SUDO_USER
		mkapp app-a README bin/run
		chmod 755 rep_applications/app-a/bin/run
		ln -s bin/run rep_applications/app-a/start
		mkapp app-b
		register app-a app-b || exit 1
		setstatus -m 'by tester' ready app-b || exit 1
		path=$(SOURCE_DATE_EPOCH=1700000000 rep-tar -q app-a app-b </dev/null) || exit 1
		mv -- "$path" "dist/$R1.tar.gz"
	)
}

setup() {
	rep_setup
	cp -a "$BATS_FILE_TMPDIR/fix/." .
	umask 022
}

teardown() {
	if [ -n "${RO:-}" ]; then
		rm -rf -- "$RO"
	fi
}

# as_nobody COMMAND...: COMMAND as uid and gid 65534, with no other group.
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

# nobody_fixture: RO, a directory of /tmp that uid 65534 can reach (the test's
# directory is private): RO/bin, copies of the tools (the checkout may be out
# of its reach too); RO/db, root's, mode 0755, with the fixture's database
# (0644) and applications; RO/out, 65534's.  Skips unless that can be done.
nobody_fixture() {
	[ "$(id -u)" -eq 0 ] || skip 'needs root to run a command as uid 65534 (setpriv)'
	as_nobody true 2>/dev/null || skip 'setpriv cannot switch to uid 65534'
	RO=$(mktemp -d /tmp/rep-env.XXXXXX)
	chmod 755 "$RO"
	mkdir "$RO/bin" "$RO/db" "$RO/out"
	cp "$REP_BIN_DIR"/rep-* "$RO/bin/"
	chmod 755 "$RO"/bin/* "$RO/db"
	cp -a metadata.db rep_applications "$RO/db/"
	chmod 644 "$RO/db/metadata.db"
	chown 65534:65534 "$RO/out"
}

# listing DIR: DIR and its entries, times to the nanosecond: to see that
# nothing was made or touched there, not even for a moment.
listing() {
	stat -c '%n %y' -- "$1"
	ls -lA --time-style=full-iso -- "$1"
}

@test "a user who can read but not write the database (uid 65534, no -wal/-shm): reads work, writes exit 2, nothing changes" {
	local expected history before
	expected=$(rep-ls </dev/null)
	history=$(rep-ls --history </dev/null)
	nobody_fixture
	cd "$RO/db"
	assert_no_side_files
	snapshot_db
	before=$(listing .)

	run --separate-stderr as_nobody "$RO/bin/rep-ls" </dev/null
	assert_success
	assert_output "$expected"
	refute_stderr
	run --separate-stderr as_nobody "$RO/bin/rep-ls" --history </dev/null
	assert_success
	assert_output "$history"
	refute_stderr
	run --separate-stderr as_nobody "$RO/bin/rep-diff" </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
	run --separate-stderr as_nobody "$RO/bin/rep-diff" --rehash app-a </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	run --separate-stderr as_nobody "$RO/bin/rep-tar" -q -d ../out app-a app-b </dev/null
	assert_success
	assert_output --regexp '^\.\./out/rep_applications_[0-9]{8}_[0-9]{6}\.tar\.gz$'
	refute_stderr
	rep-tar -t "$output" >/dev/null </dev/null
	run --separate-stderr as_nobody "$RO/bin/rep-setstatus" -n deployed app-a </dev/null
	assert_success
	assert_equal "$(field 1-2)" "app-a${TAB}deployed"
	assert_stderr 'rep-setstatus: dry run: 1 set to deployed'
	run --separate-stderr as_nobody "$RO/bin/rep-register" -n app-a </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-register: dry run: 0 registered, 0 refreshed, 1 unchanged'

	run --separate-stderr as_nobody "$RO/bin/rep-setstatus" deployed app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: metadata.db: Permission denied'
	run --separate-stderr as_nobody "$RO/bin/rep-setstatus" -m note -f ready retired app-b </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: metadata.db: Permission denied'
	run --separate-stderr as_nobody "$RO/bin/rep-register" app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: metadata.db: Permission denied'

	assert_equal "$(listing .)" "$before"
	assert_no_side_files
	assert_db_unchanged
}

@test "the same reader, with a -wal and -shm that another reader left, or a file name with ?, # and %" {
	local expected
	expected=$(rep-ls </dev/null)
	nobody_fixture
	cd "$RO/db"
	# root's reader leaves the -wal and -shm files (root's, 0644) behind
	rep-ls >/dev/null </dev/null
	assert [ -f metadata.db-wal ]
	assert [ -f metadata.db-shm ]
	snapshot_db
	run --separate-stderr as_nobody "$RO/bin/rep-ls" </dev/null
	assert_success
	assert_output "$expected"
	refute_stderr
	run --separate-stderr as_nobody "$RO/bin/rep-diff" </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
	run --separate-stderr as_nobody "$RO/bin/rep-setstatus" deployed app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: metadata.db: Permission denied'
	assert_db_unchanged

	# read as immutable, through a URI: the name must not be taken for one
	sqlite3 metadata.db 'PRAGMA user_version' >/dev/null # the last writer: side files go
	assert_no_side_files
	mv metadata.db 'meta?data#1%20.db'
	run --separate-stderr as_nobody "$RO/bin/rep-ls" --db 'meta?data#1%20.db' </dev/null
	assert_success
	assert_output "$expected"
	refute_stderr
	assert_no_side_files 'meta?data#1%20.db'
}

# in_ro_fs SCRIPT: the bash SCRIPT in a new mount namespace where ./ro is
# bind-mounted read-only, run from ./ro.  In SCRIPT, `call NAME COMMAND...`
# runs COMMAND and keeps its outputs for `called NAME` (afterwards) to put
# in status, output and stderr.  Skips unless root can mount.
in_ro_fs() {
	[ "$(id -u)" -eq 0 ] || skip 'needs root to mount'
	unshare -m true 2>/dev/null || skip 'cannot make a mount namespace'
	mkdir -p calls
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare -m bash -c '
		mount --bind ro ro && mount -o remount,bind,ro ro || exit 1
		cd ro || exit 1
		call() {
			local name=$1
			shift
			"$@" >"../calls/$name.out" 2>"../calls/$name.err" </dev/null
			echo $? >"../calls/$name.rc"
		}
		'"$1" || fail "in_ro_fs: the script failed"
}

called() {
	status=$(cat "calls/$1.rc") output=$(cat "calls/$1.out") stderr=$(cat "calls/$1.err")
}

# A database in rollback-journal mode (a network file system's), its writer
# killed after its first pages reached the file: readers open it read-only,
# so they cannot roll the hot journal back, and must not read the file as if
# nothing had happened (as immutable): they refuse; the next writer rolls
# the change back.
@test "a writer killed with a hot -journal: readers refuse it, root or not; the next writer rolls it back" {
	local expected history dist
	expected=$(rep-ls </dev/null)
	history=$(rep-ls --history </dev/null)
	sqlite3 metadata.db 'PRAGMA journal_mode = DELETE' >/dev/null
	# a cache of a few pages: the change spills into the file before the kill
	sqlite3 metadata.db >/dev/null 2>&1 <<-'EOF' || true
		PRAGMA cache_size = 1;
		BEGIN;
		UPDATE app SET status = 'retired', updated = 'interrupted';
		INSERT INTO history (app_id, time, new_status, user, note)
		  SELECT 1, 'interrupted', 'retired', 'killer', hex(randomblob(200)) FROM generate_series(1, 2000);
		.shell kill -9 $PPID
	EOF
	assert [ -s metadata.db-journal ]
	assert_not_equal "$(sqlite3 'file:metadata.db?immutable=1' 'SELECT DISTINCT updated FROM app')" \
		"$(cut -f7 <<<"$expected" | sort -u)"
	run --separate-stderr rep-ls </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-ls: metadata.db: a write to it was interrupted: any rep tool that writes it, run by a user who can, rolls it back'
	run --separate-stderr rep-ls --history </dev/null
	assert_failure 2
	assert_output ''
	# every other tool that only reads refuses alike, and makes nothing
	run --separate-stderr rep-setstatus -n ready app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: metadata.db: a write to it was interrupted: any rep tool that writes it, run by a user who can, rolls it back'
	dist=$(ls -A dist)
	run --separate-stderr rep-tar -q -d dist app-a </dev/null
	assert_failure 2
	# a failure record, content unknown (the database unreadable)
	assert_output "app-a${TAB}-${TAB}-${TAB}-${TAB}failed${TAB}metadata.db: a write to it was interrupted: any rep tool that writes it, run by a user who can, rolls it back"
	assert_stderr 'rep-tar: metadata.db: a write to it was interrupted: any rep tool that writes it, run by a user who can, rolls it back'
	assert_equal "$(ls -A dist)" "$dist"
	if [ "$(id -u)" -eq 0 ] && as_nobody true 2>/dev/null; then
		nobody_fixture
		cp metadata.db-journal "$RO/db/"
		chmod 644 "$RO/db/metadata.db-journal"
		run --separate-stderr as_nobody "$RO/bin/rep-ls" --db "$RO/db/metadata.db" </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr "rep-ls: $RO/db/metadata.db: a write to it was interrupted: any rep tool that writes it, run by a user who can, rolls it back"
		# rep-diff cannot write the database, so it only reads it: it refuses too
		run --separate-stderr as_nobody "$RO/bin/rep-diff" --db "$RO/db/metadata.db" --apps "$RO/db/rep_applications" </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr "rep-diff: $RO/db/metadata.db: a write to it was interrupted: any rep tool that writes it, run by a user who can, rolls it back"
		assert [ -s "$RO/db/metadata.db-journal" ]
	fi
	run --separate-stderr rep-setstatus -m after ready app-a </dev/null
	assert_success
	assert_no_side_files
	assert_equal "$(rep-ls </dev/null | cut -f1,2)" "$(lines "app-a${TAB}ready" "app-b${TAB}ready")"
	assert_equal "$(rep-ls --history </dev/null | head -n -1)" "$history"
	assert_equal "$(sqlite3 metadata.db 'PRAGMA journal_mode; PRAGMA integrity_check')" "$(lines wal ok)"
}

@test "a database on a read-only file system: rep-ls, rep-diff, rep-tar work; writes exit 2, change nothing" {
	local expected history before
	expected=$(rep-ls </dev/null)
	history=$(rep-ls --history </dev/null)
	sqlite3 metadata.db 'PRAGMA user_version' >/dev/null # side files go
	mkdir ro
	mv metadata.db rep_applications ro/
	snapshot_db ro/metadata.db
	before=$(listing ro)
	in_ro_fs '
		call ls rep-ls
		call history rep-ls --history
		call diff rep-diff
		call rehash rep-diff --rehash
		call tar rep-tar -q -d ../out app-a app-b
		call dry rep-setstatus -n deployed app-a
		call setstatus rep-setstatus deployed app-a
		call register rep-register app-a
		call all rep-register --all'
	called ls
	assert_success
	assert_output "$expected"
	refute_stderr
	called history
	assert_success
	assert_output "$history"
	refute_stderr
	called diff
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
	called rehash
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
	called tar
	assert_success
	assert_output --regexp '^\.\./out/rep_applications_[0-9]{8}_[0-9]{6}\.tar\.gz$'
	refute_stderr
	called dry
	assert_success
	assert_equal "$(field 1-2)" "app-a${TAB}deployed"
	assert_stderr 'rep-setstatus: dry run: 1 set to deployed'
	called setstatus
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: metadata.db: Read-only file system'
	called register
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: metadata.db: Read-only file system'
	called all
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-register: metadata.db: Read-only file system'
	assert_equal "$(listing ro)" "$before"
	assert_db_unchanged ro/metadata.db
}

@test "HOME, USER and LOGNAME unset, LOGNAME empty or not text: the history records the password database's name" {
	local me
	me=$(id -un)
	mkapp app-c
	run --separate-stderr env -u HOME -u USER -u LOGNAME rep-register app-c </dev/null
	assert_success
	assert_records "$(record app-c registered)"
	assert_stderr 'rep-register: 1 registered, 0 refreshed, 0 unchanged'
	run --separate-stderr env -u HOME -u LOGNAME USER=bob rep-setstatus -q -m 'no login name' ready app-c </dev/null
	assert_success
	run --separate-stderr env LOGNAME= rep-setstatus -q failed app-c </dev/null
	assert_success
	run --separate-stderr env LOGNAME=$'bad\tuser' rep-setstatus -q deployed app-c </dev/null
	assert_success
	run --separate-stderr env LOGNAME=$'\xff' rep-setstatus -q retired app-c </dev/null
	assert_success
	# longer than 256 bytes: the history line must stay one a reader takes
	run --separate-stderr env LOGNAME="$(printf 'u%.0s' {1..70000})" SUDO_USER="$(printf 's%.0s' {1..257})" \
		rep-setstatus -q -m "$(printf 'n%.0s' {1..4096})" registered app-c </dev/null
	assert_success
	assert_equal "$(hist app-c | head -n 5)" "$(lines \
		"$(event app-c - registered '' "$me")" \
		"$(event app-c registered ready 'no login name' "$me")" \
		"$(event app-c ready failed '' "$me")" \
		"$(event app-c failed deployed '' "$me")" \
		"$(event app-c deployed retired '' "$me")")"
	assert_equal "$(hist -o user app-c | tail -n 1)" "$me"
	rep-ls --history app-c </dev/null | rep-setstatus -q -n ready >/dev/null
	rep-setstatus -q retired app-c </dev/null >/dev/null
	# the events of the fixture keep their user
	assert_equal "$(hist -o user app-a app-b)" "$(lines tester tester tester)"
	# the rest of the procedure needs neither
	run --separate-stderr env -u HOME -u USER -u LOGNAME rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (3 applications)'
	run --separate-stderr env -u HOME -u USER -u LOGNAME rep-ls -o name,status </dev/null
	assert_success
	assert_output "$(lines "app-a${TAB}registered" "app-b${TAB}ready" "app-c${TAB}retired")"
	refute_stderr
	run --separate-stderr env -u HOME -u USER -u LOGNAME rep-tar -q -d out app-a </dev/null
	assert_success
	assert_output --regexp '^out/rep_applications_[0-9]{8}_[0-9]{6}\.tar\.gz$'
	refute_stderr
	run --separate-stderr env -u HOME -u USER -u LOGNAME rep-push -q target <<<"dist/$R1.tar.gz"
	assert_success
	assert_output "$(push_records "$R1" target app-a app-b)"
	refute_stderr
	assert_equal "$(readlink target/current)" "releases/$R1"
}

@test "a user ID the password database does not know, LOGNAME unset: the history records the number" {
	[ "$(id -u)" -eq 0 ] || skip 'needs root to run a command as another uid (setpriv)'
	! getent passwd 4242 >/dev/null || skip 'uid 4242 has a name here'
	setpriv --reuid=4242 --regid=4242 --clear-groups -- true 2>/dev/null ||
		skip 'setpriv cannot switch to uid 4242'
	RO=$(mktemp -d /tmp/rep-env.XXXXXX)
	chmod 755 "$RO"
	mkdir "$RO/bin" "$RO/db"
	cp "$REP_BIN_DIR"/rep-* "$RO/bin/"
	chmod 755 "$RO"/bin/*
	cp -a metadata.db rep_applications "$RO/db/"
	chown -R 4242:4242 "$RO/db"
	cd "$RO/db"
	run --separate-stderr env -u LOGNAME setpriv --reuid=4242 --regid=4242 --clear-groups -- \
		"$RO/bin/rep-setstatus" -m 'who?' ready app-a </dev/null
	assert_success
	assert_stderr 'rep-setstatus: 1 set to ready'
	run --separate-stderr env -u LOGNAME SUDO_USER=alice setpriv --reuid=4242 --regid=4242 \
		--clear-groups -- "$RO/bin/rep-setstatus" -q failed app-a </dev/null
	assert_success
	assert_equal "$(hist -o from,to,user,note app-a | tail -2)" "$(lines \
		"registered${TAB}ready${TAB}4242${TAB}who?" "ready${TAB}failed${TAB}4242(sudo:alice)${TAB}")"
}

@test "under sudo the history names both, NAME(sudo:SUDO_USER); SUDO_USER the same, empty or not text: the name alone" {
	local me
	me=$(id -un)
	SUDO_USER=alice rep-setstatus -q ready app-a </dev/null >/dev/null
	SUDO_USER=alice env -u LOGNAME rep-setstatus -q failed app-a </dev/null >/dev/null
	SUDO_USER=tester rep-setstatus -q deployed app-a </dev/null >/dev/null
	SUDO_USER='' rep-setstatus -q retired app-a </dev/null >/dev/null
	SUDO_USER=$'al\tice' rep-setstatus -q registered app-a </dev/null >/dev/null
	SUDO_USER=$'\xff' USER=bob rep-setstatus -q ready app-a </dev/null >/dev/null
	assert_equal "$(hist -o to,user app-a | tail -6)" "$(lines "ready${TAB}tester(sudo:alice)" \
		"failed${TAB}$me(sudo:alice)" "deployed${TAB}tester" "retired${TAB}tester" \
		"registered${TAB}tester" "ready${TAB}tester")"
	# rep-register's events name them the same way
	printf 'new\n' >>rep_applications/app-a/README
	SUDO_USER=alice rep-register -q app-a </dev/null >/dev/null
	assert_equal "$(hist -o to,user app-a | tail -1)" "registered${TAB}tester(sudo:alice)"
}

# procedure WRAPPER...: the whole procedure, each tool run by WRAPPER (a
# command prefix), every step checked: register app-c, diff, set ready,
# list | package | push | record what went live.
procedure() {
	mkapp app-c
	run --separate-stderr "$@" rep-register --all </dev/null
	assert_success
	assert_records "$(record app-c registered)"
	assert_stderr 'rep-register: 1 registered, 0 refreshed, 0 unchanged, 2 already registered (not checked)'
	run --separate-stderr "$@" rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (3 applications)'
	run --separate-stderr "$@" rep-setstatus -q ready app-a app-c </dev/null
	assert_success
	assert_equal "$(field 1-2)" "$(lines "app-a${TAB}ready" "app-c${TAB}ready")"
	run --separate-stderr "$@" rep-ls -s ready -o name </dev/null
	assert_success
	assert_output "$(lines app-a app-b app-c)"
	printf '%s\n' "$output" >names
	run --separate-stderr "$@" rep-tar -q -d out <names
	assert_success
	assert_output --regexp '^out/rep_applications_[0-9]{8}_[0-9]{6}\.tar\.gz$'
	refute_stderr
	local archive=$output release
	release=$(basename "$archive" .tar.gz)
	run --separate-stderr "$@" rep-push -q target <<<"$archive"
	assert_success
	assert_output "$(push_records "$release" target app-a app-b app-c)"
	refute_stderr
	printf '%s\n' "$output" >pushed
	run --separate-stderr "$@" rep-setstatus -q --record <pushed
	assert_success
	assert_equal "$(field 1-2)" "$(lines "app-a${TAB}deployed" "app-b${TAB}deployed" "app-c${TAB}deployed")"
	assert_equal "$(readlink target/current)" "releases/$release"
	local a b c
	a=$(rep-ls -o checksum app-a </dev/null) b=$(rep-ls -o checksum app-b </dev/null)
	c=$(rep-ls -o checksum app-c </dev/null)
	assert_equal "$(hist -o name,note -s deployed | tail -3)" "$(lines \
		"app-a${TAB}record: live on target in $release (${a:0:12})" \
		"app-b${TAB}record: live on target in $release (${b:0:12})" \
		"app-c${TAB}record: live on target in $release (${c:0:12})")"
	assert_equal "$(rep-ls -o name,live,release,targets </dev/null)" "$(lines \
		"app-a${TAB}$a${TAB}$release${TAB}target" "app-b${TAB}$b${TAB}$release${TAB}target" \
		"app-c${TAB}$c${TAB}$release${TAB}target")"
}

@test "TMPDIR missing or not a directory: the whole procedure works without it" {
	procedure env TMPDIR=/nonexistent/tmp
	find . -mindepth 1 -delete
	cp -a "$BATS_FILE_TMPDIR/fix/." .
	echo x >afile
	procedure env TMPDIR="$PWD/afile"
	assert_equal "$(cat afile)" x
}

@test "TMPDIR unwritable: the whole procedure works without it" {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --bounding-set=-dac_override,-dac_read_search true 2>/dev/null ||
			skip 'cannot drop CAP_DAC_OVERRIDE (setpriv)'
	fi
	mkdir rotmp
	chmod 555 rotmp
	# as root, without the capability that would let it write there anyway
	local -a wrap=(env TMPDIR="$PWD/rotmp")
	if [ "$(id -u)" -eq 0 ]; then
		# shellcheck disable=SC2054 # the commas are setpriv's
		wrap=(setpriv --bounding-set=-dac_override,-dac_read_search -- "${wrap[@]}")
	fi
	procedure "${wrap[@]}"
	assert_equal "$(find rotmp -mindepth 1)" ''
}

# modes DIR: each entry under DIR with its mode, symlinks as such.
modes() {
	find "$1" -mindepth 1 -printf '%y %m %P\n' | LC_ALL=C sort
}

@test "umask 077: a new database 0600 (and its -wal, -shm); dist/ 0700, the archive 0600; a release as the archive says" {
	local archive release
	rm metadata.db
	rm -r dist
	umask 077
	register app-a app-b
	assert_equal "$(stat -c %a metadata.db)" 600
	# a reader leaves the side files, which SQLite gives the database's mode
	rep-ls >/dev/null </dev/null
	assert_equal "$(stat -c %a metadata.db-wal metadata.db-shm)" "$(lines 600 600)"
	archive=$(rep-tar -q app-a app-b </dev/null)
	release=$(basename "$archive" .tar.gz)
	assert_equal "$(stat -c %a dist "$archive")" "$(lines 700 600)"
	run --separate-stderr rep-push -q target <<<"$archive"
	assert_success
	assert_output "$(push_records "$release" target app-a app-b)"
	refute_stderr
	# DIR, releases/ and the log, made by the push, get what the umask
	# gives; store/ 0755 (writable by the login alone: what is in it may
	# be linked to); the release and what the archive unpacked in store/,
	# 0755 and what the archive holds, whatever the umask
	assert_equal "$(stat -c %a target target/releases target/store)" "$(lines 700 700 755)"
	assert_equal "$(modes target)" "$(lines \
		"d 700 releases" \
		"d 755 releases/$release" \
		"d 755 releases/$release/rep_applications" \
		"d 755 store" \
		"d 755 store/$release" \
		"d 755 store/$release/rep_applications" \
		"d 755 store/$release/rep_applications/app-a" \
		"d 755 store/$release/rep_applications/app-a/bin" \
		"d 755 store/$release/rep_applications/app-b" \
		"f 600 log" \
		"f 644 releases/$release/MANIFEST" \
		"f 644 store/$release/MANIFEST" \
		"f 644 store/$release/rep_applications/app-a/README" \
		"f 644 store/$release/rep_applications/app-b/README" \
		"f 755 store/$release/rep_applications/app-a/bin/run" \
		"l 777 current" \
		"l 777 releases/$release/rep_applications/app-a" \
		"l 777 releases/$release/rep_applications/app-b" \
		"l 777 store/$release/rep_applications/app-a/start")"
	# the same as under umask 022
	umask 022
	run --separate-stderr rep-push -q target022 <<<"$archive"
	assert_success
	assert_equal "$(modes "target022/releases/$release")" "$(modes "target/releases/$release")"
	assert_equal "$(modes "target022/store/$release")" "$(modes "target/store/$release")"
	assert_equal "$(stat -c %a target022 target022/releases target022/store target022/log)" "$(lines 755 755 755 644)"
}
