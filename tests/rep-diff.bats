#!/usr/bin/env bats
# rep-diff [-q] [-H] [--rehash] [NAME...]
# rep-diff --live [-q] [-H] [NAME...] < status records
# shellcheck disable=SC2154 # output, stderr, stderr_lines, status: set by run

load helper

bats_require_minimum_version 1.5.0

teardown() {
	if [ -n "${NOBODY_DIR:-}" ]; then
		rm -rf -- "$NOBODY_DIR"
	fi
	# a directory made unreadable, that a user other than root could not remove
	chmod -R u+rwX "$BATS_TEST_TMPDIR" 2>/dev/null || true
}

# rows_of NAME: the stat cache rows of application NAME.
rows_of() {
	sqlite3 metadata.db "SELECT * FROM file WHERE app_id = (SELECT id FROM app WHERE name = '$1')"
}

# The stat cache as SQL text, to compare before and after a call.
filedump() {
	sqlite3 metadata.db '.dump file'
}

# What rep-diff must never change: the records and the history.
records_and_history() {
	sqlite3 metadata.db 'select * from app; select * from history'
}

# cache SQL: run SQL on the stat cache (to simulate rows written at other times).
cache() {
	sqlite3 metadata.db "$1"
}

# A row that rep-diff trusts, with a hash that is not the file's: a report of
# `modified` then proves the file was not read; `in sync` proves it was.
poison_cache() {
	cache 'update file set hash = zeroblob(32), cached_ns = max(mtime_ns, ctime_ns) + 1000000000'
}

# same_size_edit FILE: change FILE's content, keeping its size, mtime and inode.
same_size_edit() {
	local size
	size=$(stat -c %s -- "$1")
	touch -r "$1" "$BATS_TEST_TMPDIR/ref"
	head -c "$size" /dev/zero | tr '\0' 'Z' >"$1"
	touch -r "$BATS_TEST_TMPDIR/ref" "$1"
}

# --- in sync ----------------------------------------------------------------------

@test "in sync: exit 0, no output, 'in sync (N applications)' on stderr, singular for 1" {
	mkapp app-a README src/main.c
	register app-a
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	mkapp app-b
	mkapp B-up
	register app-b B-up
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (3 applications)'
}

@test "an empty directory and an empty database are in sync (0 applications)" {
	rep-register -q --all </dev/null
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (0 applications)'
}

@test "hidden entries of the applications directory are ignored" {
	mkapp app-a
	register app-a
	mkdir rep_applications/.git rep_applications/.-x
	: >rep_applications/.hidden
	ln -s app-a rep_applications/.link
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
}

# --- each kind --------------------------------------------------------------------

@test "unregistered: a valid directory that is not in the database" {
	mkapp app-a
	register app-a
	mkapp app-new
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-new${TAB}unregistered"
	assert_stderr 'rep-diff: 1 discrepancy'
	# names are operands only: stdin is not read
	run --separate-stderr rep-diff <<<'app-a'
	assert_failure 1
	assert_output "app-new${TAB}unregistered"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "missing: a registered (here deployed) application without its directory" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	setstatus deployed app-b
	rm -r rep_applications/app-b
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-b${TAB}missing"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "a retired application without its directory is not missing, nor counted" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	setstatus retired app-b
	rm -r rep_applications/app-b
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	# whatever the status before retirement
	setstatus deployed app-a
	setstatus retired app-a
	rm -r rep_applications/app-a
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (0 applications)'
}

@test "modified: a file's content changed" {
	mkapp app-a README src/main.c
	register app-a
	echo more >>rep_applications/app-a/src/main.c
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "modified: a file added, removed or renamed" {
	mkapp app-a README
	mkapp app-b README old
	mkapp app-c README old
	register app-a app-b app-c
	mkapp app-a new
	rm rep_applications/app-b/old
	mv rep_applications/app-c/old rep_applications/app-c/new
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "$(lines "app-a${TAB}modified" "app-b${TAB}modified" "app-c${TAB}modified")"
	assert_stderr 'rep-diff: 3 discrepancies'
}

@test "modified: every file deleted but the directory kept" {
	mkapp app-a README src/main.c
	mkapp app-b
	register app-a app-b
	rm -r rep_applications/app-a/*
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	run --separate-stderr rep-diff --rehash </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "invalid: directories with bad names" {
	mkapp app-a
	register app-a
	local long
	long=$(printf 'a%.0s' {1..129})
	mkdir rep_applications/-dash "rep_applications/has space" rep_applications/bad:colon \
		"rep_applications/$long" rep_applications/é
	mkapp "$(printf 'b%.0s' {1..128})" # the longest valid name
	register "$(printf 'b%.0s' {1..128})"
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "$(lines "-dash${TAB}invalid" "$long${TAB}invalid" "bad:colon${TAB}invalid" \
		"has space${TAB}invalid" "é${TAB}invalid")"
	assert_stderr 'rep-diff: 5 discrepancies'
}

@test "invalid: a plain file with a valid name" {
	mkapp app-a
	register app-a
	echo notes >rep_applications/notes.txt
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "notes.txt${TAB}invalid"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "invalid: a symlink to a directory, even to an application" {
	mkapp app-a
	register app-a
	ln -s app-a rep_applications/app-link
	mkdir elsewhere
	ln -s ../elsewhere rep_applications/app-out
	ln -s /nonexistent rep_applications/dangling
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "$(lines "app-link${TAB}invalid" "app-out${TAB}invalid" "dangling${TAB}invalid")"
	assert_stderr 'rep-diff: 3 discrepancies'
}

@test "a registered application replaced by a file or a symlink is invalid only" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	register app-a app-b app-c
	rm -r rep_applications/app-b rep_applications/app-c
	echo x >rep_applications/app-b
	ln -s app-a rep_applications/app-c
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "$(lines "app-b${TAB}invalid" "app-c${TAB}invalid")"
	assert_stderr 'rep-diff: 2 discrepancies'
}

@test "control characters in an invalid entry's name are printed as ?" {
	mkapp app-a
	register app-a
	mkdir rep_applications/$'a\tb' rep_applications/$'c\nd' rep_applications/$'e\x7ff'
	: >rep_applications/$'g\rh'
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "$(lines "a?b${TAB}invalid" "c?d${TAB}invalid" "e?f${TAB}invalid" "g?h${TAB}invalid")"
	assert_stderr 'rep-diff: 4 discrepancies'
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 4 ]
}

@test "several kinds at once, sorted bytewise by name" {
	mkapp app-a
	mkapp app-b
	mkapp Zeta
	mkapp app-d
	mkapp app-e
	register app-a app-b Zeta app-d app-e
	setstatus retired app-e
	rm -r rep_applications/app-b rep_applications/app-e
	echo changed >rep_applications/Zeta/README
	mkapp app-c
	mkapp B-new
	: >rep_applications/_file
	ln -s app-a rep_applications/app-aa
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "$(lines "B-new${TAB}unregistered" "Zeta${TAB}modified" "_file${TAB}invalid" \
		"app-aa${TAB}invalid" "app-b${TAB}missing" "app-c${TAB}unregistered")"
	assert_stderr 'rep-diff: 6 discrepancies'
}

# --- what an application may hold (rep(7), APPLICATION CONTENTS) --------------------

@test "invalid: a name with a newline, TAB or ESC in a registered application, with and without --rehash; the others still compared" {
	mkapp app-a
	mkapp app-b
	mkapp app-c README sub/file
	mkapp app-d
	register app-a app-b app-c app-d
	: >rep_applications/app-a/$'new\nline'
	echo changed >rep_applications/app-b/README
	mkdir rep_applications/app-c/sub/$'\e[2Jx'
	: >rep_applications/app-d/$'a\tb'
	local rows
	rows=$(rows_of app-a; rows_of app-c; rows_of app-d)
	snapshot_appdata
	local opt
	for opt in '' --rehash; do
		run --separate-stderr rep-diff $opt </dev/null
		assert_failure 1
		assert_output "$(lines "app-a${TAB}invalid" "app-b${TAB}modified" "app-c${TAB}invalid" "app-d${TAB}invalid")"
		assert_stderr "$(lines 'rep-diff: app-a/new\x0aline: a name with a control character' \
			'rep-diff: app-c/sub/\x1b[2Jx: a name with a control character' \
			'rep-diff: app-d/a\x09b: a name with a control character' \
			'rep-diff: 4 discrepancies')"
		# no cache row written for what cannot be described
		assert_equal "$(rows_of app-a; rows_of app-c; rows_of app-d)" "$rows"
		assert_appdata_unchanged
	done
	# -q silences the summary, not the problems
	run --separate-stderr rep-diff -q app-a </dev/null
	assert_failure 1
	assert_output "app-a${TAB}invalid"
	assert_stderr 'rep-diff: app-a/new\x0aline: a name with a control character'
}

# A virtualenv made inside an application links to the system's python
# and libraries; /usr/share/doc-style links climb out with ../../.
@test "invalid: a virtualenv, a link climbing out, a FIFO, unreadable files and directories: all told in one run; a modified application still reported" {
	need_unprivileged
	local A=rep_applications
	mkapp venv README bin/activate lib/python3/site.py etc/key.pem
	ln -s python $A/venv/bin/python3
	mkdir $A/venv/cache
	mkapp app-m
	mkapp app-z
	register venv app-m app-z
	ln -s /usr/bin/python3 $A/venv/bin/python
	ln -s /usr/lib/x86_64-linux-gnu/libz.so.1 $A/venv/lib/libz.so.1
	ln -s ../../share/doc $A/venv/doc
	mkfifo $A/venv/lib/python3/fifo
	chmod 000 $A/venv/etc/key.pem $A/venv/cache
	echo changed >>$A/app-m/README
	rm -r $A/app-z
	mkapp app-new
	local opt
	for opt in '' --rehash; do
		run --separate-stderr as_unprivileged rep-diff $opt </dev/null
		assert_failure 1
		assert_output "$(lines "app-m${TAB}modified" "app-new${TAB}unregistered" "app-z${TAB}missing" "venv${TAB}invalid")"
		assert_stderr_lines \
			'rep-diff: venv/bin/python -> /usr/bin/python3: symlink points outside the application' \
			'rep-diff: venv/cache: Permission denied' \
			'rep-diff: venv/doc -> ../../share/doc: symlink points outside the application' \
			'rep-diff: venv/etc/key.pem: Permission denied' \
			'rep-diff: venv/lib/libz.so.1 -> /usr/lib/x86_64-linux-gnu/libz.so.1: symlink points outside the application' \
			'rep-diff: venv/lib/python3/fifo: a FIFO, not a regular file, directory or symlink' \
			'rep-diff: 4 discrepancies'
	done
	chmod 755 $A/venv/cache
}

# 70 applications: more than 4 per core on up to 16 cores, so each is walked
# and hashed whole by one thread (the batched reader).
@test "a FIFO or an absolute symlink in some of 70 applications hides nothing: the others' discrepancies still reported" {
	mkapps 70
	register --all
	mkfifo rep_applications/app-030/fifo
	ln -s /etc/passwd rep_applications/app-066/passwd
	echo changed >>rep_applications/app-010/README
	rm -r rep_applications/app-050
	mkapp app-new
	local expected
	expected=$(lines "app-010${TAB}modified" "app-030${TAB}invalid" "app-050${TAB}missing" \
		"app-066${TAB}invalid" "app-new${TAB}unregistered")
	run --separate-stderr timeout 20 rep-diff </dev/null
	assert_failure 1
	assert_output "$expected"
	assert_stderr "$(lines 'rep-diff: app-030/fifo: a FIFO, not a regular file, directory or symlink' \
		'rep-diff: app-066/passwd -> /etc/passwd: symlink points outside the application' \
		'rep-diff: 5 discrepancies')"
	local with=$stderr
	REP_IO_URING=0 run --separate-stderr timeout 20 rep-diff --rehash </dev/null
	assert_failure 1
	assert_output "$expected"
	assert_stderr "$with"
}

# --- what is a modification -------------------------------------------------------

@test "content changed with size and mtime kept (touch -r) is modified" {
	mkapp app-a README src/main.c
	register app-a
	local f=rep_applications/app-a/src/main.c before
	before=$(stat -c '%s %y %i' "$f")
	same_size_edit "$f"
	[ "$(stat -c '%s %y %i' "$f")" = "$before" ]
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	run --separate-stderr rep-diff --rehash </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "the executable bit set or removed is modified; setting it back is in sync" {
	mkapp app-a README run.sh
	register app-a
	chmod u+x rep_applications/app-a/run.sh
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	chmod u-x rep_applications/app-a/run.sh
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	# and the other way round
	chmod 755 rep_applications/app-a/run.sh
	register app-a
	chmod 644 rep_applications/app-a/run.sh
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "mode bits other than owner-execute, owners and mtimes are no change" {
	mkapp app-a README run.sh
	register app-a
	chmod go+wx rep_applications/app-a/run.sh
	chmod 600 rep_applications/app-a/README
	touch -d @1000000000 rep_applications/app-a/README
	chown nobody rep_applications/app-a/run.sh 2>/dev/null || true
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
}

@test "a file replaced by a symlink, or a symlink target changed, is modified" {
	mkapp app-a README other
	printf 'app-a/README\n' >rep_applications/app-a/other # same content as README
	register app-a
	rm rep_applications/app-a/README
	ln -s other rep_applications/app-a/README
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	run --separate-stderr rep-diff --rehash </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	# a symlink whose target changed
	mkapp app-b README other
	ln -s README rep_applications/app-b/link
	register app-b
	ln -sfn other rep_applications/app-b/link
	run --separate-stderr rep-diff app-b </dev/null
	assert_failure 1
	assert_output "app-b${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "a new empty directory inside an application is no change" {
	mkapp app-a README src/main.c
	register app-a
	mkdir -p rep_applications/app-a/empty rep_applications/app-a/src/deep/er
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
}

@test "a modification stays reported until it is reverted or registered" {
	mkapp app-a README
	mkapp app-b
	register app-a app-b
	cp -p rep_applications/app-a/README saved
	echo changed >rep_applications/app-a/README
	for _ in 1 2; do
		run --separate-stderr rep-diff </dev/null
		assert_failure 1
		assert_output "app-a${TAB}modified"
		assert_stderr 'rep-diff: 1 discrepancy'
	done
	cp saved rep_applications/app-a/README
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
	echo changed again >rep_applications/app-a/README
	register app-a
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
}

# --- a change right after a check (the racy case) -----------------------------------

@test "a change right after a check, size and mtime kept (touch -r), is modified" {
	mkapp app-a README src/main.c
	register app-a
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	# at once: most likely the same second as the check
	same_size_edit rep_applications/app-a/README
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	run --separate-stderr rep-diff --rehash </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "a change right after a check, mtime set back to an old time (touch -d), is modified" {
	mkapp app-a README src/main.c
	touch -d @1600000000 rep_applications/app-a/README rep_applications/app-a/src/main.c
	register app-a
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	printf 'APP-A/README\n' >rep_applications/app-a/README # same size
	touch -d @1600000000 rep_applications/app-a/README     # old mtime, new ctime
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	run --separate-stderr rep-diff --rehash </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

# The cache rows are edited to stand for rows written at another time: a row
# whose hash is wrong shows whether rep-diff trusted it (modified) or re-read
# the file (in sync).

@test "the cache is used: a row whose stat data match and is older than the file is trusted" {
	mkapp app-a README
	register app-a
	poison_cache
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "racy: a file whose mtime is not older than its row is re-hashed" {
	mkapp app-a README
	register app-a
	poison_cache
	cache 'update file set cached_ns = mtime_ns'
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	poison_cache
	cache 'update file set cached_ns = mtime_ns - mtime_ns % 1000000000' # the same second
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	# the mtime alone: a file stamped in the future (clock skew, an archive
	# from another host) has an old ctime but is never older than its row
	touch -d "@$(($(date +%s) + 86400))" rep_applications/app-a/README
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	cache 'update file set hash = zeroblob(32), cached_ns = ctime_ns + 1000000000'
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
}

@test "racy: a file whose ctime is not older than its row is re-hashed, even with an old mtime" {
	# A change in the same clock tick as the row's stat leaves size, mtime
	# (set back with touch -d/-r, cp -p, rsync -t), inode and ctime as the row
	# has them: only the ctime's second tells that it may be newer than the row.
	mkapp app-a README
	touch -d @1600000000 rep_applications/app-a/README
	register app-a
	poison_cache
	cache 'update file set cached_ns = ctime_ns - ctime_ns % 1000000000'
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
}

@test "a file whose size, mtime, ctime, inode, device or mode differ from its row is re-hashed" {
	mkapp app-a README
	register app-a
	local col
	for col in size mtime_ns ctime_ns ino dev mode; do
		poison_cache
		cache "update file set $col = $col + 1"
		run --separate-stderr rep-diff </dev/null
		assert_success
		assert_output ''
		assert_stderr 'rep-diff: in sync (1 application)'
	done
}

# --- --rehash -----------------------------------------------------------------------

@test "--rehash ignores the cache and rewrites it" {
	mkapp app-a README
	mkapp app-b
	register app-a app-b
	poison_cache
	run --separate-stderr rep-diff --rehash </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
	[ "$(cache 'select count(*) from file where hash = zeroblob(32)')" -eq 0 ]
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
}

@test "--rehash reports the same as without" {
	mkapp app-a README src/main.c
	mkapp app-b
	mkapp app-c
	mkapp app-d
	register app-a app-b app-c app-d
	same_size_edit rep_applications/app-a/src/main.c
	chmod u+x rep_applications/app-b/README
	rm -r rep_applications/app-c
	mkapp app-e
	mkdir 'rep_applications/bad name'
	mkdir rep_applications/app-d/empty
	local expected
	expected=$(lines "app-a${TAB}modified" "app-b${TAB}modified" "app-c${TAB}missing" \
		"app-e${TAB}unregistered" "bad name${TAB}invalid")
	run --separate-stderr rep-diff --rehash </dev/null
	assert_failure 1
	assert_output "$expected"
	assert_stderr 'rep-diff: 5 discrepancies'
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "$expected"
	assert_stderr 'rep-diff: 5 discrepancies'
}

# --- the stat cache -----------------------------------------------------------------

@test "rep-register caches one row per regular file and per directory, the application's too (not symlinks)" {
	mkapp app-a README src/main.c src/lib/util.c
	mkapp app-b
	ln -s README rep_applications/app-a/link
	mkdir rep_applications/app-b/empty
	register app-a app-b
	assert_equal "$(cache 'select count(*) from file')" \
		"$(find rep_applications -mindepth 1 \( -type f -o -type d \) | wc -l)"
	# a directory's path ends in /, the application's own is empty; its
	# digest says whether it held only files and directories (D) or not (d)
	assert_equal "$(cache "select app_id, cast(path as text),
		case when mode / 4096 = 4 then char(unicode(hash)) else '-' end from file order by app_id, path")" \
		"$(lines "1||d" "1|README|-" "1|src/|D" "1|src/lib/|D" "1|src/lib/util.c|-" "1|src/main.c|-" \
			"2||D" "2|README|-" "2|empty/|D")"
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
	assert_equal "$(cache 'select count(*) from file')" 9
}

@test "a check of an unchanged tree leaves the cache byte-identical" {
	mkapp app-a README src/main.c
	mkapp app-b
	ln -s README rep_applications/app-b/link
	sleep 1.1 # the files are older than the second the rows are written in
	register app-a app-b
	local before
	before=$(filedump)
	snapshot_db
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
	assert_equal "$(filedump)" "$before"
	assert_db_unchanged
	# rows that are racily clean (written in the files' second) are
	# re-hashed and rewritten once, then left alone
	poison_cache
	cache 'update file set cached_ns = mtime_ns'
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
	assert_equal "$(cache 'select count(*) from file where cached_ns <= mtime_ns or hash = zeroblob(32)')" 0
	before=$(filedump)
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications)'
	assert_equal "$(filedump)" "$before"
}

@test "more applications than a batch (256), ids not in name order: each checked against its own rows, refreshed rows stored" {
	mkapps 1000
	# registered in reverse: ids run against the names
	# shellcheck disable=SC2046 # the names, one word each
	register $(cd rep_applications && printf '%s\n' * | sort -r)
	assert_equal "$(sqlite3 metadata.db "select id from app where name = 'app-001'")" 1000
	poison_cache
	# every application's rows were read, in every batch: all trusted, all wrong
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_equal "${#lines[@]}" 1000
	assert_line --index 0 "app-001${TAB}modified"
	assert_line --index 999 "app-999${TAB}modified"
	assert_stderr 'rep-diff: 1000 discrepancies'
	# racily clean rows: every file hashed again, every row rewritten
	# (whether the new rows are trusted depends on the clock's second)
	cache 'update file set cached_ns = mtime_ns'
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1000 applications)'
	assert_equal "$(cache 'select count(*) from file where hash = zeroblob(32)')" 0
	assert_equal "$(cache 'select count(*) from file where mode / 4096 = 8; select count(*) from file')" \
		"$(lines 1000 2000)"
	# changes in several batches of ids, and a file added
	local a
	for a in app-1000 app-500 app-005; do
		printf 'changed\n' >>"rep_applications/$a/README"
	done
	mkapp app-800 extra
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "$(printf 'app-005\tmodified\napp-1000\tmodified\napp-500\tmodified\napp-800\tmodified')"
	assert_stderr 'rep-diff: 4 discrepancies'
	assert_equal "$(cache 'select count(*) from file where mode / 4096 = 8')" 1001
}

@test "rows of deleted files are dropped, rows of new files added" {
	mkapp app-a README old
	register app-a
	rm rep_applications/app-a/old
	mkapp app-a new1 new2
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	assert_equal "$(cache "select cast(path as text) from file order by path")" \
		"$(lines '' README new1 new2)"
}

# trust_rows: every row trusted, as rows written a second after the
# stat data they hold
trust_rows() {
	cache 'update file set cached_ns = max(mtime_ns, ctime_ns) + 1000000000'
}

# lie_dir APP DIR: DIR's row (DIR ending in /) given DIR's stat data as
# they are now, trusted: a row taken before an entry was made in it, in
# the same clock tick
lie_dir() {
	local d=rep_applications/$1/${2%/} mtime ctime
	mtime=$(stat -c %.9Y "$d" | tr -d .)
	ctime=$(stat -c %.9Z "$d" | tr -d .)
	cache "update file set size = $(stat -c %s "$d"), mtime_ns = $mtime, ctime_ns = $ctime,
		ino = $(stat -c %i "$d"), cached_ns = $ctime + 1000000000
		where path = cast('$2' as blob) and app_id = (select id from app where name = '$1')"
}

@test "a directory as its row says is not read again: the row stands for its listing (so a row that lies hides an entry); --rehash reads it" {
	mkapp app-a README sub/a sub/deep/b
	register app-a
	trust_rows
	mkapp app-a sub/new
	lie_dir app-a sub/
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	# --rehash trusts no row
	run --separate-stderr rep-diff --rehash </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "racy: a directory whose mtime or ctime is not older than its row is read" {
	mkapp app-a README sub/a
	register app-a
	trust_rows
	mkapp app-a sub/new
	lie_dir app-a sub/
	local when
	for when in mtime_ns 'mtime_ns - mtime_ns % 1000000000' ctime_ns; do
		cache "update file set cached_ns = $when where path = cast('sub/' as blob)"
		run --separate-stderr rep-diff </dev/null
		assert_failure 1
		assert_output "app-a${TAB}modified"
		assert_stderr 'rep-diff: 1 discrepancy'
		lie_dir app-a sub/
	done
}

@test "a directory whose row lists an entry that is gone, or another kind, is read after all" {
	mkapp app-a README sub/a sub/b
	register app-a
	trust_rows
	rm rep_applications/app-a/sub/b
	lie_dir app-a sub/
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	register app-a
	trust_rows
	rm rep_applications/app-a/sub/a
	mkdir rep_applications/app-a/sub/a
	lie_dir app-a sub/
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "a directory that holds a symlink is read every time (its row says so): a link is no row" {
	mkapp app-a README sub/a
	ln -s a rep_applications/app-a/sub/link
	register app-a
	assert_equal "$(cache "select char(unicode(hash)) from file where path = cast('sub/' as blob)")" d
	trust_rows
	ln -sfn README rep_applications/app-a/sub/link
	mkapp app-a sub/new
	lie_dir app-a sub/
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "a directory row whose entries' rows went missing or were added by hand: the directory is read; rep-register records the tree" {
	mkapp app-a README sub/a sub/b
	register app-a
	trust_rows
	local checksum
	checksum=$(rep-ls -o files,checksum app-a </dev/null)
	cache "delete from file where path = cast('sub/b' as blob)"
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	# the rows written again hold sub/b
	assert_equal "$(cache "select count(*) from file where path = cast('sub/b' as blob)")" 1
	trust_rows
	cache "delete from file where path = cast('sub/b' as blob)"
	register app-a
	assert_equal "$(rep-ls -o files,checksum app-a </dev/null)" "$checksum"
	# rows below a directory that name no entry, or one outside it
	trust_rows
	echo secret >outside
	local row
	for row in sub/../outside ../outside sub//a sub/./a sub/../; do
		cache "insert into file select app_id, cast('$row' as blob), size, mtime_ns, ctime_ns, ino, dev,
			mode, hash, cached_ns from file where path = cast('sub/a' as blob)"
		run --separate-stderr rep-diff </dev/null
		assert_success
		assert_output ''
		assert_stderr 'rep-diff: in sync (1 application)'
		register app-a
		assert_equal "$(rep-ls -o files,checksum app-a </dev/null)" "$checksum"
		trust_rows
	done
}

@test "a tree 1,900 directories deep: its rows stand for it, a change at the bottom is seen" {
	local d=rep_applications/app-a i
	mkdir -p "$d"
	echo top >"$d/README"
	for ((i = 0; i < 1900; i++)); do d+=/d; done
	mkdir -p "$d"
	echo bottom >"$d/f"
	register app-a
	trust_rows
	run --separate-stderr rep-diff </dev/null
	assert_success
	assert_stderr 'rep-diff: in sync (1 application)'
	echo new >"$d/g"
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "app-a${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "through trusted directory rows, every change to a directory is seen: entries made, removed, renamed, replaced" {
	local change
	for change in 'mkapp app-a sub/deep/new' 'rm rep_applications/app-a/sub/a' \
		'mv rep_applications/app-a/sub/a rep_applications/app-a/sub/c' \
		'rm rep_applications/app-a/sub/deep/b && mkdir rep_applications/app-a/sub/deep/b' \
		'ln -s ../README rep_applications/app-a/sub/deep/l' \
		'mv rep_applications/app-a/sub/deep rep_applications/app-a/moved' \
		'rm -r rep_applications/app-a/sub/deep && mkapp app-a sub/deep/c'; do
		rm -rf rep_applications/app-a
		mkapp app-a README sub/a sub/deep/b
		mkapp app-b README
		register app-a app-b
		trust_rows
		run --separate-stderr rep-diff </dev/null
		assert_success
		eval "$change"
		run --separate-stderr rep-diff </dev/null
		assert_failure 1
		assert_output "app-a${TAB}modified"
		assert_stderr 'rep-diff: 1 discrepancy'
		# and the rows written then say so again
		run --separate-stderr rep-diff </dev/null
		assert_failure 1
		assert_output "app-a${TAB}modified"
	done
}

@test "rep-diff never changes application records or the history" {
	mkapp app-a README src/main.c
	mkapp app-b
	mkapp app-c
	register app-a app-b app-c
	setstatus -m 'to web1' deployed app-b
	echo changed >rep_applications/app-a/README
	same_size_edit rep_applications/app-b/README
	rm -r rep_applications/app-c
	mkapp app-d
	local before
	before=$(records_and_history)
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "$(lines "app-a${TAB}modified" "app-b${TAB}modified" "app-c${TAB}missing" \
		"app-d${TAB}unregistered")"
	assert_stderr 'rep-diff: 4 discrepancies'
	run --separate-stderr rep-diff --rehash </dev/null
	assert_failure 1
	assert_output "$(lines "app-a${TAB}modified" "app-b${TAB}modified" "app-c${TAB}missing" \
		"app-d${TAB}unregistered")"
	assert_stderr 'rep-diff: 4 discrepancies'
	assert_equal "$(records_and_history)" "$before"
	assert_no_side_files
}

# --- NAME operands ------------------------------------------------------------------

@test "with names, only those applications are checked and reported" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	mkapp app-d
	register app-a app-b app-c app-d
	echo changed >rep_applications/app-a/README
	echo changed >rep_applications/app-c/README
	rm -r rep_applications/app-d
	mkapp app-e
	: >rep_applications/file
	run --separate-stderr rep-diff app-c app-b </dev/null
	assert_failure 1
	assert_output "app-c${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	run --separate-stderr rep-diff app-b </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	run --separate-stderr rep-diff app-e file app-d app-b app-e </dev/null
	assert_failure 1
	assert_output "$(lines "app-d${TAB}missing" "app-e${TAB}unregistered" "file${TAB}invalid")"
	assert_stderr 'rep-diff: 3 discrepancies'
	# a named retired application without its directory
	setstatus retired app-d
	run --separate-stderr rep-diff app-d </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (0 applications)'
}

@test "- reads the names from stdin in its place (a record's first field), with the others; an empty stdin names none" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	register app-a app-b app-c
	echo changed >rep_applications/app-a/README
	echo changed >rep_applications/app-c/README
	mkapp app-e
	run --separate-stderr rep-diff - <<<$'#name\tstatus\napp-c\tready\napp-b'
	assert_failure 1
	assert_output "app-c${TAB}modified"
	assert_stderr 'rep-diff: 1 discrepancy'
	run --separate-stderr rep-diff app-e - <<<'app-a'
	assert_failure 1
	assert_output "$(lines "app-a${TAB}modified" "app-e${TAB}unregistered")"
	# the records of another tool: rep-ls's
	run --separate-stderr bash -c 'rep-ls -o name app-b | rep-diff -' </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	# nothing read: nothing asked, not everything
	run --separate-stderr rep-diff - </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (0 applications)'
}

@test "- with an unknown or invalid name on stdin: exit 2 naming it, nothing printed, database unchanged; --live refuses -" {
	mkapp app-a
	register app-a
	echo changed >rep_applications/app-a/README
	snapshot_db
	run --separate-stderr rep-diff - <<<$'app-a\napp-x'
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: app-x: no such application (neither registered nor in rep_applications)'
	run --separate-stderr rep-diff - <<<$'app-a\n-x'
	assert_failure 2
	assert_output ''
	assert_stderr "rep-diff: stdin:2: -x: invalid application name ($NAME_RULE)"
	assert_db_unchanged
	# stdin holds the status records
	run --separate-stderr rep-diff --live app-a - </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-diff: -: with --live, stdin holds the status records (try 'rep-diff --help')"
}

@test "an unknown name is an error (exit 2), nothing printed, database unchanged" {
	mkapp app-a
	register app-a
	echo changed >rep_applications/app-a/README
	snapshot_db
	run --separate-stderr rep-diff app-a app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: app-x: no such application (neither registered nor in rep_applications)'
	assert_db_unchanged
	# the message names the applications directory as configured
	mv rep_applications apps
	mkapp app-a
	run --separate-stderr rep-diff --apps apps app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: app-x: no such application (neither registered nor in apps)'
	# -q does not silence errors
	run --separate-stderr rep-diff -q --apps apps app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: app-x: no such application (neither registered nor in apps)'
}

@test "an invalid name is an error (exit 2)" {
	mkapp app-a
	register app-a
	mkdir 'rep_applications/bad name'
	snapshot_db
	run --separate-stderr rep-diff app-a .x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-diff: .x: invalid application name ($NAME_RULE)"
	run --separate-stderr rep-diff -- 'bad name' </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-diff: bad name: invalid application name ($NAME_RULE)"
	run --separate-stderr rep-diff -- -x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-diff: -x: invalid application name ($NAME_RULE)"
	assert_db_unchanged
}

# --- errors -------------------------------------------------------------------------

@test "a missing applications directory is an error (exit 2)" {
	mkapp app-a
	register app-a
	rm -r rep_applications
	snapshot_db
	run --separate-stderr rep-diff </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: rep_applications: No such file or directory'
	assert_db_unchanged
	[ ! -e rep_applications ]
	run --separate-stderr rep-diff -q --apps nowhere </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: nowhere: No such file or directory'
}

@test "a missing database is an error (exit 2) and nothing is created" {
	mkapp app-a
	run --separate-stderr rep-diff </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: metadata.db: no such database (create it with rep-register)'
	assert_no_db
	run --separate-stderr rep-diff --db other.db app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: other.db: no such database (create it with rep-register)'
	assert_no_db other.db
	# bats' own files aside
	assert_equal "$(find . -mindepth 1 -maxdepth 1 ! -name 'separate-stderr-*' -printf '%P\n')" rep_applications
}

@test "a file that is not a database is an error (exit 2)" {
	mkapp app-a
	echo 'not a database' >metadata.db
	run --separate-stderr rep-diff </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: metadata.db: file is not a database'
	assert_equal "$(cat metadata.db)" 'not a database'
	assert_no_side_files
}

@test "a read-only database: works, reports the same, changes nothing" {
	nobody_dir
	RO_DIR=$NOBODY_DIR
	cd "$RO_DIR"
	umask 022
	mkdir rep_applications
	mkapp app-a README src/main.c
	mkapp app-b
	mkapp app-c
	register app-a app-b app-c
	same_size_edit rep_applications/app-a/src/main.c
	rm -r rep_applications/app-c
	mkapp app-d
	touch rep_applications/app-b/README # re-hashed: a cache refresh it cannot write
	chmod 644 metadata.db
	cp -p metadata.db "$BATS_TEST_TMPDIR/before.db"
	local expected
	expected=$(lines "app-a${TAB}modified" "app-c${TAB}missing" "app-d${TAB}unregistered")
	run --separate-stderr runuser -u nobody -- "$RO_DIR/bin/rep-diff" -C "$RO_DIR" </dev/null
	assert_failure 1
	assert_output "$expected"
	assert_stderr 'rep-diff: 3 discrepancies'
	cmp metadata.db "$BATS_TEST_TMPDIR/before.db"
	assert_no_side_files
	run --separate-stderr runuser -u nobody -- "$RO_DIR/bin/rep-diff" -C "$RO_DIR" --rehash app-b </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	cmp metadata.db "$BATS_TEST_TMPDIR/before.db"
	assert_no_side_files
	# the owner gets the same answer
	run --separate-stderr "$RO_DIR/bin/rep-diff" </dev/null
	assert_failure 1
	assert_output "$expected"
	assert_stderr 'rep-diff: 3 discrepancies'
}

# --- -q, -H ------------------------------------------------------------------------

@test "-q silences the summary, not the report or the exit status" {
	mkapp app-a
	mkapp app-b
	register app-a
	run --separate-stderr rep-diff -q </dev/null
	assert_failure 1
	assert_output "app-b${TAB}unregistered"
	assert_stderr ''
	register app-b
	run --separate-stderr rep-diff --quiet </dev/null
	assert_success
	assert_output ''
	assert_stderr ''
}

@test "-H prints the header first, even when in sync" {
	mkapp app-a
	mkapp app-b
	register app-a
	run --separate-stderr rep-diff -H </dev/null
	assert_failure 1
	assert_output "$(lines "#name${TAB}kind" "app-b${TAB}unregistered")"
	assert_stderr 'rep-diff: 1 discrepancy'
	run --separate-stderr rep-diff --header -q app-b </dev/null
	assert_failure 1
	assert_output "$(lines "#name${TAB}kind" "app-b${TAB}unregistered")"
	assert_stderr ''
	# even when in sync
	register app-b
	run --separate-stderr rep-diff -H </dev/null
	assert_success
	assert_output "#name${TAB}kind"
	assert_stderr 'rep-diff: in sync (2 applications)'
}

# --- composition, common options ------------------------------------------------------

@test "rep-diff | grep -w unregistered | rep-register registers exactly those" {
	mkapp app-a
	mkapp app-b
	mkapp app-m
	register app-a app-b app-m
	echo changed >rep_applications/app-a/README
	rm -r rep_applications/app-m
	mkapp app-c
	mkapp Up-d
	mkdir 'rep_applications/bad name'
	local before
	before=$(sqlite3 metadata.db 'select * from app where name in ("app-a", "app-b", "app-m")')
	run --separate-stderr bash -c 'rep-diff | grep -w unregistered | rep-register'
	assert_success
	assert_records "$(lines "$(record Up-d registered)" "$(record app-c registered)")"
	# rep-diff's summary is written before its records reach rep-register
	assert_stderr "$(lines 'rep-diff: 5 discrepancies' 'rep-register: 2 registered, 0 refreshed, 0 unchanged')"
	# and with -H: the header is a comment to rep-register
	mkapp app-e
	run --separate-stderr bash -c 'rep-diff -H -q | grep -we unregistered -e "^#" | rep-register -q'
	assert_success
	assert_records "$(record app-e registered)"
	assert_stderr ''
	assert_equal "$(sqlite3 metadata.db 'select * from app where name in ("app-a", "app-b", "app-m")')" \
		"$before"
	run --separate-stderr rep-diff </dev/null
	assert_failure 1
	assert_output "$(lines "app-a${TAB}modified" "app-m${TAB}missing" "bad name${TAB}invalid")"
	assert_stderr 'rep-diff: 3 discrepancies'
}

@test "--db, --apps, REP_DB, REP_APPS and -C" {
	mkdir work
	APPS=work/apps mkapp app-a
	(cd work && REP_DB=meta.db REP_APPS=apps rep-register -q app-a >/dev/null)
	APPS=work/apps mkapp app-b
	run --separate-stderr rep-diff -C work --db meta.db --apps apps </dev/null
	assert_failure 1
	assert_output "app-b${TAB}unregistered"
	assert_stderr 'rep-diff: 1 discrepancy'
	REP_DB=meta.db REP_APPS=apps run --separate-stderr rep-diff -C work </dev/null
	assert_failure 1
	assert_output "app-b${TAB}unregistered"
	assert_stderr 'rep-diff: 1 discrepancy'
	# options beat the environment
	REP_DB=none.db REP_APPS=none run --separate-stderr rep-diff -C work --db meta.db --apps apps app-a </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application)'
	[ ! -e work/none.db ]
}

@test "-h prints the usage, -V the version, an unknown option is exit 2" {
	run --separate-stderr rep-diff -h </dev/null
	assert_success
	assert_line --index 0 'usage: rep-diff [-q] [-H] [--rehash] [NAME...]'
	assert_line --index 1 '       rep-diff --live [-q] [-H] [NAME...] < status records'
	assert_line --regexp '^      --live  +compare rep-push --status records on stdin with the$'
	assert_stderr ''
	run --separate-stderr rep-diff --version </dev/null
	assert_success
	assert_output "rep-diff $REP_VERSION"
	assert_stderr ''
	run --separate-stderr rep-diff -x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-diff: -x: unknown option (try 'rep-diff --help')"
}

# --- --live: what rep-push --status says is live, against the deployment records -----
# The status records (target, name, release, checksum) are written here by
# hand, as rep-push --status prints them; the deployment rows are recorded
# by rep-setstatus --record from hand-written rep-push records.

R1=rep_applications_20260101_000001
R2=rep_applications_20260101_000002
T1=web1:/srv/rep
T2=web2:/srv/rep
T3=/srv/rep
OTHER=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
LIVE_HEADER="#name${TAB}kind${TAB}target${TAB}release${TAB}checksum"


# deployed NAME RELEASE TARGETS CHECKSUM: record that it went live there.
deployed() {
	rec "$1" "$2" "$3" "$4" live | "$FIXTURE_BIN/rep-setstatus" -q --record >/dev/null
}

# live_diff [ARG...] < status records: run rep-diff --live ARG..., stdout
# and stderr apart.
live_diff() {
	run --separate-stderr rep-diff --live "$@"
}

# refuse_live MESSAGE < status records: rep-diff --live refuses them, exit 2,
# nothing on stdout.
refuse_live() {
	live_diff
	assert_failure 2
	assert_output ''
	assert_stderr "$1"
}

@test "--live: the fleet agrees with the records: exit 0, nothing printed, the count on stderr, nothing changed" {
	three_apps
	deployed app-a "$R1" "$T1,$T2" "$A"
	deployed app-b "$R1" "$T1,$T2" "$B"
	snapshot_db
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T1" app-b "$R1" "$B"
		rec "$T2" app-a "$R1" "$A"; rec "$T2" app-b "$R1" "$B")
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications live on 2 targets)'
	assert_db_unchanged
	# T2 not read: its rows are not checked
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T1" app-b "$R1" "$B")
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications live on 1 target)'
	# a target read with nothing live, and no row for it
	live_diff < <(rec "$T3" - - -)
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (0 applications live on 1 target)'
}

@test "--live: another release with the recorded content is no discrepancy (a rollback records the release gone back to)" {
	three_apps
	deployed app-a "$R2" "$T1" "$A"
	live_diff < <(rec "$T1" app-a "$R1" "$A")
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application live on 1 target)'
}

@test "--live: unregistered: live on a target, not in the database" {
	three_apps
	live_diff < <(rec "$T1" app-x "$R1" "$OTHER")
	assert_failure 1
	assert_output "app-x${TAB}unregistered${TAB}$T1${TAB}$R1${TAB}$OTHER"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "--live: unrecorded: registered and live, no deployment row for that target" {
	three_apps
	deployed app-a "$R1" "$T1" "$A"
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T2" app-a "$R1" "$A"; rec "$T1" app-c "$R2" "$C")
	assert_failure 1
	assert_output "$(lines "app-a${TAB}unrecorded${TAB}$T2${TAB}$R1${TAB}$A" \
		"app-c${TAB}unrecorded${TAB}$T1${TAB}$R2${TAB}$C")"
	assert_stderr 'rep-diff: 2 discrepancies'
}

@test "--live: differs: other content live than recorded; what is live, then the recorded checksum" {
	three_apps
	deployed app-a "$R1" "$T1" "$A"
	live_diff < <(rec "$T1" app-a "$R2" "$OTHER")
	assert_failure 1
	assert_output "app-a${TAB}differs${TAB}$T1${TAB}$R2${TAB}$OTHER${TAB}$A"
	assert_stderr 'rep-diff: 1 discrepancy'
	# the same release, other content
	live_diff < <(rec "$T1" app-a "$R1" "$B")
	assert_failure 1
	assert_output "app-a${TAB}differs${TAB}$T1${TAB}$R1${TAB}$B${TAB}$A"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "--live: gone: recorded on a target read, not live there; the recorded release and checksum" {
	three_apps
	deployed app-a "$R1" "$T1,$T2" "$A"
	deployed app-b "$R2" "$T2" "$OTHER"
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T2" app-c "$R1" "$C")
	assert_failure 1
	assert_output "$(lines "app-a${TAB}gone${TAB}$T2${TAB}$R1${TAB}$A" \
		"app-b${TAB}gone${TAB}$T2${TAB}$R2${TAB}$OTHER" \
		"app-c${TAB}unrecorded${TAB}$T2${TAB}$R1${TAB}$C")"
	assert_stderr 'rep-diff: 3 discrepancies'
	# a target read with nothing live
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T2" - - -)
	assert_failure 1
	assert_output "$(lines "app-a${TAB}gone${TAB}$T2${TAB}$R1${TAB}$A" \
		"app-b${TAB}gone${TAB}$T2${TAB}$R2${TAB}$OTHER")"
	assert_stderr 'rep-diff: 2 discrepancies'
}

@test "--live: the rows of a target not read are not checked" {
	three_apps
	deployed app-a "$R1" "$T1,$T2,$T3" "$A"
	deployed app-b "$R1" "$T2" "$B"
	live_diff < <(rec "$T1" app-a "$R1" "$A")
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application live on 1 target)'
	# nor gone on a target that could not be read (it gives no record)
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T3" app-a "$R1" "$A")
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application live on 2 targets)'
}

@test "--live: mixed: other content in other releases on other targets, each line what is live there" {
	three_apps
	deployed app-a "$R1" "$T1" "$A"
	deployed app-a "$R2" "$T2" "$OTHER"
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T2" app-a "$R2" "$OTHER")
	assert_failure 1
	assert_output "$(lines "app-a${TAB}mixed${TAB}$T1${TAB}$R1${TAB}$A" \
		"app-a${TAB}mixed${TAB}$T2${TAB}$R2${TAB}$OTHER")"
	assert_stderr 'rep-diff: 2 discrepancies'
}

@test "--live: the same content brought by two pushes (a target caught up later) is not mixed" {
	three_apps
	deployed app-a "$R1" "$T1" "$A"
	deployed app-a "$R2" "$T2" "$A"
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T2" app-a "$R2" "$A")
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application live on 2 targets)'
}

@test "--live: mixed: other content on other targets, in one release, on three targets" {
	three_apps
	deployed app-a "$R1" "$T1,$T3" "$A"
	deployed app-a "$R1" "$T2" "$OTHER"
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T2" app-a "$R1" "$OTHER"; rec "$T3" app-a "$R1" "$A")
	assert_failure 1
	assert_output "$(lines "app-a${TAB}mixed${TAB}$T1${TAB}$R1${TAB}$A" \
		"app-a${TAB}mixed${TAB}$T2${TAB}$R1${TAB}$OTHER" \
		"app-a${TAB}mixed${TAB}$T3${TAB}$R1${TAB}$A")"
	assert_stderr 'rep-diff: 3 discrepancies'
	# unregistered applications too
	live_diff app-x < <(rec "$T1" app-x "$R1" "$OTHER"; rec "$T2" app-x "$R2" "$A")
	assert_failure 1
	assert_output "$(lines "app-x${TAB}unregistered${TAB}$T1${TAB}$R1${TAB}$OTHER" \
		"app-x${TAB}mixed${TAB}$T1${TAB}$R1${TAB}$OTHER" \
		"app-x${TAB}unregistered${TAB}$T2${TAB}$R2${TAB}$A" \
		"app-x${TAB}mixed${TAB}$T2${TAB}$R2${TAB}$A")"
	assert_stderr 'rep-diff: 4 discrepancies'
}

@test "--live: live on some targets and not on others, as recorded, is not mixed" {
	three_apps
	deployed app-a "$R1" "$T1" "$A"
	deployed app-b "$R2" "$T2,$T3" "$B"
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T2" app-b "$R2" "$B"; rec "$T3" app-b "$R2" "$B")
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications live on 3 targets)'
}

@test "--live: a retired application follows the same rules" {
	three_apps
	deployed app-a "$R1" "$T1,$T2" "$A"
	setstatus retired app-a
	live_diff < <(rec "$T1" app-a "$R1" "$A"; rec "$T2" - - -)
	assert_failure 1
	assert_output "app-a${TAB}gone${TAB}$T2${TAB}$R1${TAB}$A"
	assert_stderr 'rep-diff: 1 discrepancy'
}

@test "--live: the order: by name (bytewise), then target in input order, then mixed after the others" {
	three_apps
	mkapp B-up
	register B-up
	deployed app-a "$R1" "$T1,$T2" "$A"
	deployed app-b "$R1" "$T1" "$B"
	# T2 first seen before T1, app-b before app-a
	live_diff < <(rec "$T2" app-b "$R1" "$B"; rec "$T2" app-a "$R2" "$OTHER"; rec "$T3" - - -
		rec "$T1" app-b "$R1" "$B"; rec "$T1" app-a "$R1" "$A"; rec "$T1" B-up "$R1" "$OTHER")
	assert_failure 1
	assert_output "$(lines "B-up${TAB}unrecorded${TAB}$T1${TAB}$R1${TAB}$OTHER" \
		"app-a${TAB}differs${TAB}$T2${TAB}$R2${TAB}$OTHER${TAB}$A" \
		"app-a${TAB}mixed${TAB}$T2${TAB}$R2${TAB}$OTHER" \
		"app-a${TAB}mixed${TAB}$T1${TAB}$R1${TAB}$A" \
		"app-b${TAB}unrecorded${TAB}$T2${TAB}$R1${TAB}$B")"
	assert_stderr 'rep-diff: 5 discrepancies'
}

@test "--live with names: only those applications; each registered or live in the input" {
	three_apps
	deployed app-a "$R1" "$T1" "$A"
	deployed app-b "$R1" "$T1" "$B"
	status_records() {
		rec "$T1" app-a "$R2" "$OTHER"
		rec "$T1" app-x "$R1" "$OTHER"
	}
	live_diff app-b < <(status_records)
	assert_failure 1
	assert_output "app-b${TAB}gone${TAB}$T1${TAB}$R1${TAB}$B"
	assert_stderr 'rep-diff: 1 discrepancy'
	live_diff app-x app-a < <(status_records)
	assert_failure 1
	assert_output "$(lines "app-a${TAB}differs${TAB}$T1${TAB}$R2${TAB}$OTHER${TAB}$A" \
		"app-x${TAB}unregistered${TAB}$T1${TAB}$R1${TAB}$OTHER")"
	assert_stderr 'rep-diff: 2 discrepancies'
	# registered, with no row and not live: nothing to say
	live_diff app-c < <(status_records)
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (0 applications live on 1 target)'
	live_diff app-a app-y < <(status_records)
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: app-y: no such application (neither registered nor live on a target read)'
	live_diff .x < <(status_records)
	assert_failure 2
	assert_output ''
	assert_stderr "rep-diff: .x: invalid application name ($NAME_RULE)"
}

@test "--live -H prints the header first, even when in sync; -q silences the summary, not the report or the exit status" {
	three_apps
	deployed app-a "$R1" "$T1" "$A"
	live_diff -H < <(rec "$T1" - - -)
	assert_failure 1
	assert_output "$(lines "$LIVE_HEADER" "app-a${TAB}gone${TAB}$T1${TAB}$R1${TAB}$A")"
	assert_stderr 'rep-diff: 1 discrepancy'
	live_diff -q < <(rec "$T1" - - -)
	assert_failure 1
	assert_output "app-a${TAB}gone${TAB}$T1${TAB}$R1${TAB}$A"
	assert_stderr ''
	live_diff --header --quiet < <(rec "$T1" app-a "$R1" "$A")
	assert_success
	assert_output "$LIVE_HEADER"
	assert_stderr ''
	# the header of rep-push --status is a comment
	live_diff < <(echo "#target${TAB}name${TAB}release${TAB}checksum"; rec "$T1" app-a "$R1" "$A")
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application live on 1 target)'
}

@test "--live: no status record: nothing done, exit 0, said on stderr unless -q" {
	live_diff </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: no status records on stdin'
	live_diff -q -H < <(echo "#target${TAB}name${TAB}release${TAB}checksum"; echo)
	assert_success
	assert_output ''
	assert_stderr ''
}

@test "--live reads the database only: not the applications directory; a missing database is an error" {
	three_apps
	deployed app-a "$R1" "$T1" "$A"
	mv rep_applications elsewhere
	live_diff < <(rec "$T1" app-a "$R1" "$A")
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (1 application live on 1 target)'
	mkdir sub
	live_diff -C sub --db ../metadata.db < <(rec "$T1" app-a "$R1" "$OTHER")
	assert_failure 1
	assert_output "app-a${TAB}differs${TAB}$T1${TAB}$R1${TAB}$OTHER${TAB}$A"
	assert_stderr 'rep-diff: 1 discrepancy'
	live_diff --db none.db < <(rec "$T1" app-a "$R1" "$A")
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-diff: none.db: no such database (create it with rep-register)'
	assert_no_db none.db
}

@test "--live: a read-only database: the same answer, nothing changed" {
	three_apps
	deployed app-a "$R1" "$T1" "$A"
	need_unprivileged
	snapshot_db
	chmod a-w metadata.db .
	run --separate-stderr as_unprivileged rep-diff --live < <(rec "$T1" app-a "$R1" "$OTHER")
	chmod u+w .
	assert_failure 1
	assert_output "app-a${TAB}differs${TAB}$T1${TAB}$R1${TAB}$OTHER${TAB}$A"
	assert_stderr 'rep-diff: 1 discrepancy'
	assert_db_unchanged
	assert_no_side_files
}

@test "--live: bad status records: the line and why, exit 2, nothing printed" {
	three_apps
	deployed app-a "$R1" "$T1" "$A"
	refuse_live "rep-diff: stdin:1: 3 fields: a status record has 4 (target, name, release, checksum)" \
		< <(rec "$T1" app-a "$R1")
	refuse_live "rep-diff: stdin:1: 5 fields: a status record has 4 (target, name, release, checksum)" \
		< <(rec "$T1" app-a "$R1" "$A" live)
	refuse_live "rep-diff: stdin:1: 1 field: a status record has 4 (target, name, release, checksum)" \
		< <(echo app-a)
	refuse_live 'rep-diff: stdin:1: an empty target' < <(rec '' app-a "$R1" "$A")
	refuse_live "rep-diff: stdin:1: target 'web\\x01:/srv': control character not allowed" \
		< <(rec $'web\001:/srv' app-a "$R1" "$A")
	refuse_live "rep-diff: stdin:1: target 'web\\xff:/srv': not valid UTF-8" \
		< <(rec $'web\377:/srv' app-a "$R1" "$A")
	refuse_live "rep-diff: stdin:1: target 'a,b:/srv': a comma, which no target of rep-push has" \
		< <(rec 'a,b:/srv' app-a "$R1" "$A")
	refuse_live "rep-diff: stdin:1: .app: invalid application name ($NAME_RULE)" \
		< <(rec "$T1" .app "$R1" "$A")
	refuse_live "rep-diff: stdin:1: name - (nothing live on $T1): release and checksum must be - too" \
		< <(rec "$T1" - "$R1" -)
	refuse_live "rep-diff: stdin:1: name - (nothing live on $T1): release and checksum must be - too" \
		< <(rec "$T1" - - "$A")
	refuse_live "rep-diff: stdin:1: release '-': not a release name (rep_applications_YYYYMMDD_HHMMSS[_N])" \
		< <(rec "$T1" app-a - "$A")
	refuse_live "rep-diff: stdin:1: release 'r1': not a release name (rep_applications_YYYYMMDD_HHMMSS[_N])" \
		< <(rec "$T1" app-a r1 "$A")
	refuse_live "rep-diff: stdin:1: checksum '${A^^}': not 64 lower-case hex digits" \
		< <(rec "$T1" app-a "$R1" "${A^^}")
	refuse_live "rep-diff: stdin:1: checksum '-': not 64 lower-case hex digits" \
		< <(rec "$T1" app-a "$R1" -)
	refuse_live "rep-diff: stdin:3: app-a on $T1: a second record (the first is line 1)" \
		< <(rec "$T1" app-a "$R1" "$A"; rec "$T2" app-a "$R1" "$A"; rec "$T1" app-a "$R2" "$A")
	refuse_live "rep-diff: stdin:2: $T1: a second record of nothing live (the first is line 1)" \
		< <(rec "$T1" - - -; rec "$T1" - - -)
	refuse_live "rep-diff: stdin:2: $T1: nothing live, but line 1 has an application live there" \
		< <(rec "$T1" app-a "$R1" "$A"; rec "$T1" - - -)
	refuse_live "rep-diff: stdin:3: $T1: app-b live, but line 2 has nothing live there" \
		< <(rec "$T2" app-a "$R1" "$A"; rec "$T1" - - -; rec "$T1" app-b "$R1" "$B")
	refuse_live 'rep-diff: stdin:1: CR before LF (convert the input with dos2unix)' \
		< <(printf '%s\t%s\t%s\t%s\r\n' "$T1" app-a "$R1" "$A")
	# all input is read first: discrepancies before a bad line are not printed
	refuse_live "rep-diff: stdin:2: checksum 'x': not 64 lower-case hex digits" \
		< <(rec "$T1" app-x "$R1" "$A"; rec "$T2" app-a "$R1" x)
}

@test "--live with --rehash is a usage error" {
	three_apps
	live_diff --rehash < <(rec "$T1" app-a "$R1" "$A")
	assert_failure 2
	assert_output ''
	assert_stderr "rep-diff: --live and --rehash are mutually exclusive (try 'rep-diff --help')"
}

@test "--live: the discrepancies, made rep-push records, recorded by rep-setstatus --record: then in sync" {
	three_apps
	deployed app-a "$R1" "$T1,$T2" "$A"
	deployed app-b "$R1" "$T1" "$B"
	# the fleet: app-a went to R2 with other content on both (unrecorded
	# push), app-b left T1, app-c went live on T2 (records lost)
	status_records() {
		rec "$T1" app-a "$R2" "$OTHER"
		rec "$T2" app-a "$R2" "$OTHER"
		rec "$T2" app-c "$R2" "$C"
	}
	live_diff < <(status_records)
	assert_failure 1
	assert_output "$(lines "app-a${TAB}differs${TAB}$T1${TAB}$R2${TAB}$OTHER${TAB}$A" \
		"app-a${TAB}differs${TAB}$T2${TAB}$R2${TAB}$OTHER${TAB}$A" \
		"app-b${TAB}gone${TAB}$T1${TAB}$R1${TAB}$B" \
		"app-c${TAB}unrecorded${TAB}$T2${TAB}$R2${TAB}$C")"
	status_records >status.tsv
	# the pipeline of rep-diff(1), EXAMPLES
	run --separate-stderr bash -c "rep-diff --live <status.tsv |
    awk -F '\t' -v OFS='\t' '\$2 == \"unrecorded\" || \$2 == \"differs\" { print \$1, \$4, \$3, \$5, \"live\" }
        \$2 == \"gone\" { print \$1, \$4, \$3, \$5, \"left\" }' | rep-setstatus --record"
	assert_success
	assert_records "$(records app-a registered app-b registered app-c deployed)"
	assert_stderr "$(lines 'rep-diff: 4 discrepancies' 'rep-setstatus: recorded: 3 live, 1 left, 0 failed')"
	live_diff < <(status_records)
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications live on 2 targets)'
}
