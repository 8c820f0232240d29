#!/usr/bin/env bats
# rep-setstatus [-n] [-q] [-H] [-f FROM] [-m NOTE | -M] STATUS [NAME...]

load helper

setup() {
	rep_setup
	mkapp app-a
	mkapp app-b README bin/run
	mkapp app-c
	register app-a app-b app-c
}

# --- setting -----------------------------------------------------------------

@test "sets the status of the named applications and echoes their records" {
	run --separate-stderr rep-setstatus ready app-a app-b </dev/null
	assert_success
	assert_records "$(records app-a ready app-b ready)"
	assert_stderr 'rep-setstatus: 2 set to ready'
	assert_equal "$(rep-ls -o name,status </dev/null)" \
		"$(lines "app-a${TAB}ready" "app-b${TAB}ready" "app-c${TAB}registered")"
}

@test "echoes in input order" {
	run --separate-stderr rep-setstatus ready app-c app-a </dev/null
	assert_success
	assert_records "$(records app-c ready app-a ready)"
}

@test "every change is in the history with old and new status, user and empty note" {
	setstatus ready app-a
	setstatus deployed app-a
	LOGNAME=alice rep-setstatus -q failed app-a </dev/null >/dev/null
	assert_equal "$(hist app-a)" "$(lines \
		"$(event app-a - registered)" \
		"$(event app-a registered ready)" \
		"$(event app-a ready deployed)" \
		"$(event app-a deployed failed '' alice)")"
}

@test "user is LOGNAME, else the password database's name (USER is not read); SUDO_USER is added" {
	local me
	me=$(id -un)
	env -u LOGNAME USER=bob rep-setstatus -q ready app-a </dev/null >/dev/null
	LOGNAME='' rep-setstatus -q ready app-b </dev/null >/dev/null
	SUDO_USER=alice rep-setstatus -q failed app-a </dev/null >/dev/null
	assert_equal "$(hist -o name,to,user app-a app-b)" "$(lines "app-a${TAB}registered${TAB}tester" \
		"app-b${TAB}registered${TAB}tester" "app-a${TAB}ready${TAB}$me" "app-b${TAB}ready${TAB}$me" \
		"app-a${TAB}failed${TAB}tester(sudo:alice)")"
}

@test "every valid status is accepted, in any order" {
	local s info
	info=$(tree_info rep_applications/app-a)
	for s in retired deployed registered failed pending_deployment ready registered; do
		run --separate-stderr rep-setstatus "$s" app-a </dev/null
		assert_success
		assert_records "app-a${TAB}$s${TAB}$info${TAB}TIME${TAB}TIME"
		assert_stderr "rep-setstatus: 1 set to $s"
	done
	assert_equal "$(hist -o from,to app-a)" "$(lines "-${TAB}registered" \
		"registered${TAB}retired" "retired${TAB}deployed" "deployed${TAB}registered" \
		"registered${TAB}failed" "failed${TAB}pending_deployment" \
		"pending_deployment${TAB}ready" "ready${TAB}registered")"
}

@test "setting the same status again still records an event" {
	setstatus ready app-a
	run --separate-stderr rep-setstatus -m 'second try' ready app-a </dev/null
	assert_success
	assert_records "$(record app-a ready)"
	assert_stderr 'rep-setstatus: 1 set to ready'
	assert_equal "$(hist app-a | tail -n 1)" "$(event app-a ready ready 'second try')"
}

@test "updated changes, registered and the tree fields do not" {
	sqlite3 metadata.db "UPDATE app SET registered = '2000-01-01T00:00:00Z', updated = '2000-01-01T00:00:00Z'"
	local before
	before=$(rep-ls app-a </dev/null)
	run --separate-stderr rep-setstatus ready app-a </dev/null
	assert_success
	assert_equal "$(field 1)" app-a
	assert_equal "$(field 2)" ready
	assert_equal "$(field 3-6)" "$(field 3-6 "$before")"
	assert_regex "$(field 7)" "^$TS_RE\$"
	assert_not_equal "$(field 7)" 2000-01-01T00:00:00Z
	assert_equal "$(rep-ls app-a </dev/null)" "$output"
	# the event time is the updated time: one timestamp per command
	assert_equal "$(rep-ls --history -o time app-a </dev/null | tail -n 1)" "$(field 7)"
}

# --- names from stdin ---------------------------------------------------------

@test "with no name operand, names are read from stdin" {
	run --separate-stderr rep-setstatus ready <<<$'app-c\napp-a'
	assert_success
	assert_records "$(records app-c ready app-a ready)"
	assert_stderr 'rep-setstatus: 2 set to ready'
}

@test "stdin records: first field is the name; comments, headers, empty lines skipped" {
	run --separate-stderr rep-setstatus ready < <(printf '%s\n' "$APP_HEADER" '#x' '' \
		"app-b${TAB}registered${TAB}1" '' "app-a")
	assert_success
	assert_records "$(records app-b ready app-a ready)"
	assert_stderr 'rep-setstatus: 2 set to ready'
}

@test "- as an operand reads stdin in its place" {
	run --separate-stderr rep-setstatus ready app-c - app-a <<<'app-b'
	assert_success
	assert_records "$(records app-c ready app-b ready app-a ready)"
}

@test "empty stdin sets nothing and exits 0" {
	snapshot_db
	run --separate-stderr rep-setstatus ready </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-setstatus: 0 set to ready'
	assert_db_unchanged
}

@test "a name given twice is set once" {
	run --separate-stderr rep-setstatus ready <<<$'app-a\napp-b\napp-a'
	assert_success
	assert_records "$(records app-a ready app-b ready)"
	assert_stderr 'rep-setstatus: 2 set to ready'
	assert_equal "$(hist -o name,to -s ready)" \
		"$(lines "app-a${TAB}registered" "app-b${TAB}registered" "app-a${TAB}ready" "app-b${TAB}ready")"
}

# --- -f FROM ------------------------------------------------------------------

@test "-f FROM changes only applications in FROM, counts the others" {
	setstatus ready app-a app-c
	run --separate-stderr rep-setstatus -f ready deployed app-a app-b app-c </dev/null
	assert_success
	assert_records "$(records app-a deployed app-c deployed)"
	assert_stderr 'rep-setstatus: 2 set to deployed, 1 skipped (status not ready)'
	assert_equal "$(rep-ls -o name,status </dev/null)" \
		"$(lines "app-a${TAB}deployed" "app-b${TAB}registered" "app-c${TAB}deployed")"
	# the skipped application has no new event
	assert_equal "$(hist app-b)" "$(event app-b - registered)"
}

@test "-f FROM with nothing to skip still reports the skipped count" {
	run --separate-stderr rep-setstatus --from registered ready app-a </dev/null
	assert_success
	assert_records "$(record app-a ready)"
	assert_stderr 'rep-setstatus: 1 set to ready, 0 skipped (status not registered)'
}

@test "-f FROM matching nothing: exit 0, nothing echoed, database unchanged" {
	snapshot_db
	run --separate-stderr rep-setstatus --from=ready deployed app-a app-b </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-setstatus: 0 set to deployed, 2 skipped (status not ready)'
	assert_db_unchanged
}

@test "-f with an invalid FROM status is refused" {
	snapshot_db
	run --separate-stderr rep-setstatus -f bogus ready app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-setstatus: bogus: invalid status (valid: $VALID_STATUSES)"
	assert_db_unchanged
}

@test "-f with an unregistered name is still an error" {
	snapshot_db
	run --separate-stderr rep-setstatus -f registered ready app-a app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: app-x: not registered'
	assert_db_unchanged
}

# --- notes ---------------------------------------------------------------------

@test "-m NOTE goes into the history of every application" {
	run --separate-stderr rep-setstatus -m 'release 42 by hand' ready app-a app-b </dev/null
	assert_success
	assert_records "$(records app-a ready app-b ready)"
	assert_equal "$(hist -s ready)" "$(lines \
		"$(event app-a - registered)" "$(event app-b - registered)" \
		"$(event app-a registered ready 'release 42 by hand')" \
		"$(event app-b registered ready 'release 42 by hand')")"
}

@test "--note accepts UTF-8 text and an empty note" {
	run --separate-stderr rep-setstatus --note 'déployé ✓ über' ready app-a </dev/null
	assert_success
	run --separate-stderr rep-setstatus --note '' ready app-b </dev/null
	assert_success
	assert_equal "$(hist -o name,note -s ready)" "$(lines "app-a${TAB}" "app-b${TAB}" \
		"app-a${TAB}déployé ✓ über" "app-b${TAB}")"
}

@test "-m with invalid UTF-8 is refused" {
	snapshot_db
	run --separate-stderr rep-setstatus -m $'bad \xff byte' ready app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: note: not valid UTF-8'
	assert_db_unchanged
	run --separate-stderr rep-setstatus -m $'overlong \xc0\xaf' ready app-a </dev/null
	assert_failure 2
	assert_stderr 'rep-setstatus: note: not valid UTF-8'
	assert_db_unchanged
}

@test "a note holds at most 4096 bytes, however it comes (-m, -M): one longer is refused, nothing changed; one of 4096 reads back from the history" {
	snapshot_db
	local long ok
	long=$(printf 'é%.0s' {1..2048})x   # 4097 bytes
	ok=${long%x}                        # 4096
	run --separate-stderr rep-setstatus -m "$long" ready app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: note: longer than 4096 bytes'
	assert_db_unchanged
	run --separate-stderr rep-setstatus -M ready < <(printf 'app-b\n'; printf 'app-a\t%s\n' "$long")
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: stdin:2: note: longer than 4096 bytes'
	assert_db_unchanged
	run --separate-stderr rep-setstatus -m "$ok" ready app-a </dev/null
	assert_success
	assert_equal "$(hist -o note app-a | tail -n 1)" "$ok"
	# and rep's own readers take the history back
	rep-ls --history app-a </dev/null | rep-setstatus -q -n deployed >/dev/null
}

@test "-m with a control character is refused" {
	snapshot_db
	local note
	for note in $'a\tb' $'a\nb' $'a\rb' $'a\x01b' $'a\x1bb'; do
		run --separate-stderr rep-setstatus -m "$note" ready app-a </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr 'rep-setstatus: note: control character not allowed'
		assert_db_unchanged
	done
}

@test "-M takes each note from the rest of its record, fields joined by spaces" {
	run --separate-stderr rep-setstatus -M deployed < <(printf '%s\n' \
		"app-a${TAB}rel-1${TAB}web1,web2" "app-b" "app-c${TAB}rel-2 x${TAB}${TAB}web3")
	assert_success
	assert_records "$(records app-a deployed app-b deployed app-c deployed)"
	assert_stderr 'rep-setstatus: 3 set to deployed'
	assert_equal "$(hist -o name,note -s deployed)" "$(lines \
		"app-a${TAB}" "app-b${TAB}" "app-c${TAB}" \
		"app-a${TAB}rel-1 web1,web2" "app-b${TAB}" "app-c${TAB}rel-2 x  web3")"
}

@test "rep-push's records are refused without --record: exit 2 naming the line, nothing changed" {
	local sum r=rep_applications_20260101_000001
	sum=$(rep-ls -o checksum app-a </dev/null)
	snapshot_db
	for opt in -M -m; do
		local -a args=("$opt")
		[ "$opt" = -m ] && args=(-m note)
		run --separate-stderr rep-setstatus "${args[@]}" deployed < <(printf '%s\n' \
			"app-b${TAB}old-style note" "app-a${TAB}$r${TAB}web1,web2${TAB}$sum${TAB}live")
		assert_failure 2
		assert_output ''
		assert_stderr 'rep-setstatus: stdin:2: a rep-push record: record these with rep-setstatus --record (or cut -f1 for the names)'
		assert_db_unchanged
	done
	# left and failed ones, the checksum "-" of rep-tar's failure records, and with "-"
	for line in "app-a${TAB}$r${TAB}web1${TAB}$sum${TAB}left" \
		"app-a${TAB}$r${TAB}web1${TAB}$sum${TAB}failed" \
		"app-a${TAB}-${TAB}-${TAB}-${TAB}failed${TAB}rep-tar: app-a: modified" \
		"app-a${TAB}$r${TAB}web1${TAB}$sum${TAB}failed${TAB}lock held"; do
		run --separate-stderr rep-setstatus deployed - <<<"$line"
		assert_failure 2
		assert_output ''
		assert_stderr 'rep-setstatus: stdin:1: a rep-push record: record these with rep-setstatus --record (or cut -f1 for the names)'
		assert_db_unchanged
	done
}

@test "the control: records that only look like rep-push's are names (and notes with -M)" {
	local sum r=rep_applications_20260101_000001
	sum=$(rep-ls -o checksum app-a </dev/null)
	# a 5th field that is no event, a 4th that is no checksum, 4 or 7 fields
	run --separate-stderr rep-setstatus -M deployed < <(printf '%s\n' \
		"app-a${TAB}$r${TAB}web1${TAB}$sum${TAB}gone" \
		"app-b${TAB}$r${TAB}web1${TAB}${sum^^}${TAB}live" \
		"app-c${TAB}$r${TAB}web1${TAB}$sum${TAB}live${TAB}x${TAB}y")
	assert_success
	assert_records "$(records app-a deployed app-b deployed app-c deployed)"
	assert_stderr 'rep-setstatus: 3 set to deployed'
	# a name operand is a name, whatever it looks like (and cannot hold a TAB)
	run --separate-stderr rep-setstatus -q ready live </dev/null
	assert_failure 2
	assert_stderr 'rep-setstatus: live: not registered'
}

@test "-M with duplicate names keeps the first occurrence and its note" {
	run --separate-stderr rep-setstatus --note-from-input deployed < <(printf '%s\n' \
		"app-a${TAB}first" "app-a${TAB}second")
	assert_success
	assert_records "$(record app-a deployed)"
	assert_stderr 'rep-setstatus: 1 set to deployed'
	assert_equal "$(hist -o note app-a | tail -n 1)" first
}

@test "-M with name operands: the notes are empty" {
	run --separate-stderr rep-setstatus -M deployed app-a </dev/null
	assert_success
	assert_records "$(record app-a deployed)"
	assert_equal "$(hist app-a | tail -n 1)" "$(event app-a registered deployed)"
}

@test "-M with invalid UTF-8 in a note names the line" {
	snapshot_db
	run --separate-stderr rep-setstatus -M deployed < <(printf 'app-a\tok\napp-b\tbad \377\n')
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: stdin:2: note: not valid UTF-8'
	assert_db_unchanged
}

@test "-M with a control character in a note names the line" {
	snapshot_db
	run --separate-stderr rep-setstatus -M deployed < <(printf '#h\napp-a\tok\napp-b\tbad \001\n')
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: stdin:3: note: control character not allowed'
	assert_db_unchanged
}

@test "-m and -M are mutually exclusive" {
	snapshot_db
	run --separate-stderr rep-setstatus -m x -M deployed app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-setstatus: -m and -M are mutually exclusive (try 'rep-setstatus --help')"
	assert_db_unchanged
}

# --- options ---------------------------------------------------------------------

@test "-n reports what it would set and changes nothing" {
	setstatus ready app-a
	snapshot_db
	run --separate-stderr rep-setstatus -n -f ready deployed app-a app-b </dev/null
	assert_success
	assert_records "$(record app-a deployed)"
	assert_stderr 'rep-setstatus: dry run: 1 set to deployed, 1 skipped (status not ready)'
	assert_db_unchanged
	run --separate-stderr rep-setstatus --dry-run failed app-b </dev/null
	assert_success
	assert_records "$(record app-b failed)"
	assert_stderr 'rep-setstatus: dry run: 1 set to failed'
	assert_db_unchanged
}

@test "-q silences the summary, not the records" {
	run --separate-stderr rep-setstatus -q ready app-a </dev/null
	assert_success
	assert_records "$(record app-a ready)"
	refute_stderr
	run --separate-stderr rep-setstatus --quiet -f ready deployed app-a app-b </dev/null
	assert_success
	assert_records "$(record app-a deployed)"
	refute_stderr
}

@test "-H prints the header first" {
	run --separate-stderr rep-setstatus -H ready app-a app-b </dev/null
	assert_success
	assert_records "$(lines "$APP_HEADER" "$(records app-a ready app-b ready)")"
	run --separate-stderr rep-setstatus --header deployed app-c </dev/null
	assert_success
	assert_records "$(lines "$APP_HEADER" "$(records app-c deployed)")"
}

@test "options may follow the operands" {
	run --separate-stderr rep-setstatus ready app-a -q -m late </dev/null
	assert_success
	assert_records "$(record app-a ready)"
	refute_stderr
	assert_equal "$(hist -o note app-a | tail -n 1)" late
}

@test "-- ends the options" {
	run --separate-stderr rep-setstatus -- ready -q </dev/null
	assert_failure 2
	assert_stderr "rep-setstatus: -q: invalid application name ($NAME_RULE)"
}

@test "-h and --help print usage on stdout and exit 0" {
	local opt
	snapshot_db
	for opt in -h --help; do
		run --separate-stderr rep-setstatus "$opt" </dev/null
		assert_success
		assert_output --partial 'rep-setstatus'
		assert_output --partial 'STATUS'
		assert_output --partial 'rep-setstatus [-n] [-q] [-H] --record [-]'
		assert_output --partial '--record'
		refute_stderr
	done
	assert_db_unchanged
}

@test "-V and --version print the version" {
	run --separate-stderr rep-setstatus -V </dev/null
	assert_success
	assert_output "rep-setstatus $REP_VERSION"
	refute_stderr
	run --separate-stderr rep-setstatus --version </dev/null
	assert_success
	assert_output "rep-setstatus $REP_VERSION"
}

# --- where: -C, --db, --apps, REP_DB, REP_APPS ----------------------------------

@test "--db FILE, REP_DB, and --db beating REP_DB" {
	cp metadata.db env.db
	cp metadata.db opt.db
	snapshot_db metadata.db
	REP_DB=env.db rep-setstatus -q ready app-a </dev/null >/dev/null
	REP_DB=env.db rep-setstatus -q --db opt.db failed app-a </dev/null >/dev/null
	assert_equal "$(rep-ls --db env.db -o status app-a </dev/null)" ready
	assert_equal "$(rep-ls --db opt.db -o status app-a </dev/null)" failed
	assert_db_unchanged metadata.db
}

@test "--apps and REP_APPS are accepted and not needed" {
	run --separate-stderr rep-setstatus --apps nowhere ready app-a </dev/null
	assert_success
	assert_records "$(record app-a ready)"
	run --separate-stderr env REP_APPS=nowhere rep-setstatus ready app-b </dev/null
	assert_success
	assert_records "$(record app-b ready)"
}

@test "-C DIR works as if started in DIR, relative REP_DB and --db inside DIR" {
	mkdir sub
	mv metadata.db sub/
	cp sub/metadata.db sub/other.db
	run --separate-stderr rep-setstatus -C sub ready app-a </dev/null
	assert_success
	assert_equal "$(field 1-2)" "app-a${TAB}ready"
	run --separate-stderr env REP_DB=other.db rep-setstatus -C sub failed app-b </dev/null
	assert_success
	assert_equal "$(rep-ls --db sub/other.db -o name,status </dev/null)" \
		"$(lines "app-a${TAB}registered" "app-b${TAB}failed" "app-c${TAB}registered")"
	assert_equal "$(rep-ls --db sub/metadata.db -o name,status </dev/null)" \
		"$(lines "app-a${TAB}ready" "app-b${TAB}registered" "app-c${TAB}registered")"
	assert_no_db
}

# --- errors: exit 2, nothing changed ---------------------------------------------

@test "an invalid status is refused with the list of valid ones" {
	snapshot_db
	local s
	for s in bogus READY '' 'ready ' deployed,ready; do
		run --separate-stderr rep-setstatus "$s" app-a </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr "rep-setstatus: $s: invalid status (valid: $VALID_STATUSES)"
		assert_db_unchanged
	done
}

@test "a missing STATUS operand is a usage error" {
	snapshot_db
	run --separate-stderr rep-setstatus </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-setstatus: missing STATUS operand (try 'rep-setstatus --help')"
	run --separate-stderr rep-setstatus -q -f ready </dev/null
	assert_failure 2
	assert_stderr "rep-setstatus: missing STATUS operand (try 'rep-setstatus --help')"
	assert_db_unchanged
}

@test "an unregistered name changes nothing" {
	snapshot_db
	run --separate-stderr rep-setstatus ready app-a app-x app-b </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: app-x: not registered'
	assert_db_unchanged
	run --separate-stderr rep-setstatus ready <<<$'app-a\napp-b\napp-y'
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: app-y: not registered'
	assert_db_unchanged
}

@test "an invalid name is refused with the naming rule" {
	snapshot_db
	local name
	for name in .x 'a b' "$(printf 'a%.0s' {1..129})"; do
		run --separate-stderr rep-setstatus ready app-a "$name" </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr "rep-setstatus: $name: invalid application name ($NAME_RULE)"
		assert_db_unchanged
	done
}

@test "CR before LF on stdin: exit 2 naming the line" {
	snapshot_db
	run --separate-stderr rep-setstatus ready < <(printf 'app-a\n\napp-b\r\n')
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: stdin:3: CR before LF (convert the input with dos2unix)'
	assert_db_unchanged
}

@test "a NUL byte or an overlong line on stdin: exit 2 naming the line" {
	snapshot_db
	run --separate-stderr rep-setstatus ready < <(printf 'app-a\0\n')
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: stdin:1: NUL byte in line'
	assert_db_unchanged
	run --separate-stderr rep-setstatus ready < <(printf 'app-a\n'; head -c 70000 /dev/zero | tr '\0' a; printf '\n')
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: stdin:2: line longer than 65536 bytes'
	assert_db_unchanged
}

@test "a missing database is reported and not created" {
	rm metadata.db
	run --separate-stderr rep-setstatus ready app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: metadata.db: no such database (create it with rep-register)'
	assert_no_db
	run --separate-stderr rep-setstatus --db other.db ready app-a </dev/null
	assert_failure 2
	assert_stderr 'rep-setstatus: other.db: no such database (create it with rep-register)'
	assert_no_db other.db
}

@test "a file that is not a database is refused and left alone" {
	printf 'plain text, not SQLite\n%.0s' {1..50} >junk.db
	cp junk.db expected.db
	run --separate-stderr rep-setstatus --db junk.db ready app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: junk.db: file is not a database'
	cmp junk.db expected.db
}

@test "a database with a newer schema version is refused" {
	sqlite3 metadata.db 'PRAGMA user_version = 9999'
	snapshot_db
	run --separate-stderr rep-setstatus ready app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-setstatus: metadata\.db: schema version 9999 is newer than this rep \([0-9]+\)$'
	assert_db_unchanged
}

@test "unknown options and missing option arguments are usage errors" {
	snapshot_db
	run --separate-stderr rep-setstatus -x ready app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-setstatus: -x: unknown option (try 'rep-setstatus --help')"
	run --separate-stderr rep-setstatus ready app-a -m </dev/null
	assert_failure 2
	assert_stderr "rep-setstatus: -m: option requires an argument (try 'rep-setstatus --help')"
	run --separate-stderr rep-setstatus ready app-a -f </dev/null
	assert_failure 2
	assert_stderr "rep-setstatus: -f: option requires an argument (try 'rep-setstatus --help')"
	run --separate-stderr rep-setstatus --all ready app-a </dev/null
	assert_failure 2
	assert_stderr "rep-setstatus: --all: unknown option (try 'rep-setstatus --help')"
	assert_db_unchanged
}

@test "a failed write to stdout is an error, the database unchanged" {
	snapshot_db
	run --separate-stderr bash -c 'rep-setstatus ready app-a </dev/null >/dev/full'
	assert_failure 2
	assert_stderr --regexp '(^|'$'\n'')rep-setstatus: .*No space left on device$'
	assert_db_unchanged
}
