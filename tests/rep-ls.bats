#!/usr/bin/env bats
# rep-ls [-H] [-s STATUS]... [-o FIELDS] [--history] [NAME...]

load helper

# app-a: registered; app-b: ready; app-c: deployed (via ready); B-up: registered
setup() {
	rep_setup
	mkapp app-c
	mkapp app-a README src/main.c
	mkapp app-b
	mkapp B-up
	register app-c app-a app-b B-up
	setstatus ready app-b app-c
	setstatus -m 'to web1' deployed app-c
}

all_records() {
	records B-up registered app-a registered app-b ready app-c deployed
}

# --- listing --------------------------------------------------------------------

@test "lists every application record, sorted bytewise by name" {
	run --separate-stderr rep-ls </dev/null
	assert_success
	assert_records "$(all_records)"
	refute_stderr
}

@test "timestamps are UTC RFC 3339 with second precision" {
	run --separate-stderr rep-ls -o registered,updated </dev/null
	assert_success
	local line
	while IFS= read -r line; do
		assert_regex "$line" "^$TS_RE$TAB$TS_RE\$"
	done <<<"$output"
}

@test "files counts regular files and symlinks, bytes only regular files" {
	mkapp app-d one sub/two
	ln -s one rep_applications/app-d/link
	ln -s nonexistent rep_applications/app-d/dangling
	: >rep_applications/app-d/empty
	mkdir rep_applications/app-d/emptydir
	register app-d
	run --separate-stderr rep-ls -o name,files,bytes,checksum app-d </dev/null
	assert_success
	assert_output "app-d${TAB}5${TAB}$((10 + 14))${TAB}$(recompute_checksum rep_applications/app-d)"
}

@test "does not read stdin" {
	run --separate-stderr rep-ls <<<'app-a'
	assert_success
	assert_records "$(all_records)"
}

@test "- reads names from stdin in its place (a record's first field, comments skipped), with the other names" {
	run --separate-stderr rep-ls - <<<$'#name\tkind\napp-c\tmodified\nB-up'
	assert_success
	assert_records "$(records B-up registered app-c deployed)"
	refute_stderr
	run --separate-stderr rep-ls -o name,status app-a - - <<<'app-b'
	assert_success
	assert_output "$(lines "app-a${TAB}registered" "app-b${TAB}ready")"
	# what another tool printed
	run --separate-stderr bash -c 'rep-ls -s ready | rep-ls -o name,status -s ready -s deployed -' </dev/null
	assert_success
	assert_output "app-b${TAB}ready"
	run --separate-stderr bash -c 'rep-ls -o name,status app-c | rep-ls --history -o name,to -' </dev/null
	assert_success
	assert_output "$(lines "app-c${TAB}registered" "app-c${TAB}ready" "app-c${TAB}deployed")"
}

@test "- with an empty stdin names none: nothing listed (not every application), the header of -H alone" {
	run --separate-stderr rep-ls - </dev/null
	assert_success
	assert_output ''
	refute_stderr
	run --separate-stderr rep-ls -H -o name - </dev/null
	assert_success
	assert_output '#name'
	run --separate-stderr rep-ls --history - <<<'# a comment alone'
	assert_success
	assert_output ''
}

@test "- with a name not registered or invalid on stdin: exit 2 naming the line, nothing printed" {
	run --separate-stderr rep-ls - <<<$'app-a\napp-x'
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-ls: app-x: not registered'
	run --separate-stderr rep-ls - <<<$'app-a\n.x\tkind'
	assert_failure 2
	assert_output ''
	assert_stderr "rep-ls: stdin:2: .x: invalid application name ($NAME_RULE)"
	run --separate-stderr rep-ls - <<<$'app-a\r'
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-ls: stdin:1: CR before LF (convert the input with dos2unix)'
}

@test "an empty database lists nothing" {
	rm metadata.db
	mkdir empty
	register --apps empty </dev/null
	assert [ -f metadata.db ]
	run --separate-stderr rep-ls </dev/null
	assert_success
	assert_output ''
	refute_stderr
}

@test "NAME... lists those applications, sorted" {
	run --separate-stderr rep-ls app-c B-up app-a </dev/null
	assert_success
	assert_records "$(records B-up registered app-a registered app-c deployed)"
	refute_stderr
}

@test "a name given twice is listed once" {
	run --separate-stderr rep-ls app-a app-a </dev/null
	assert_success
	assert_records "$(record app-a registered)"
}

@test "an unknown NAME: exit 2, no output" {
	run --separate-stderr rep-ls app-a app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-ls: app-x: not registered'
}

@test "an invalid NAME is refused with the naming rule" {
	run --separate-stderr rep-ls app-a .x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-ls: .x: invalid application name ($NAME_RULE)"
}

# entries: the names in the current directory, SQLite's -wal/-shm left out.
entries() {
	local f
	for f in .[!.]* *; do
		if [[ (-e $f || -L $f) && $f != *-wal && $f != *-shm ]]; then
			printf '%s\n' "$f"
		fi
	done
}

@test "rep-ls changes nothing and creates no files but SQLite's -wal/-shm" {
	snapshot_db
	local before
	before=$(entries)
	# not with run --separate-stderr: that leaves its own files here
	rep-ls --history </dev/null >/dev/null
	rep-ls </dev/null >/dev/null
	assert_equal "$(entries)" "$before"
	assert_db_unchanged
}

# --- -s STATUS ---------------------------------------------------------------------

@test "-s STATUS lists the applications in that status" {
	run --separate-stderr rep-ls -s registered </dev/null
	assert_success
	assert_records "$(records B-up registered app-a registered)"
	run --separate-stderr rep-ls --status deployed </dev/null
	assert_success
	assert_records "$(record app-c deployed)"
	run --separate-stderr rep-ls --status=retired </dev/null
	assert_success
	assert_output ''
	refute_stderr
}

@test "-s repeated lists the union, sorted by name" {
	run --separate-stderr rep-ls -s deployed -s registered </dev/null
	assert_success
	assert_records "$(records B-up registered app-a registered app-c deployed)"
	run --separate-stderr rep-ls -s ready -s ready </dev/null
	assert_success
	assert_records "$(record app-b ready)"
}

@test "-s with names lists the intersection" {
	run --separate-stderr rep-ls -s registered -s ready app-a app-b app-c </dev/null
	assert_success
	assert_records "$(records app-a registered app-b ready)"
	run --separate-stderr rep-ls -s failed app-a </dev/null
	assert_success
	assert_output ''
}

@test "-s with names still refuses an unknown name" {
	run --separate-stderr rep-ls -s registered app-a app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-ls: app-x: not registered'
}

@test "-s with an invalid status is refused" {
	run --separate-stderr rep-ls -s registered -s bogus </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-ls: bogus: invalid status (valid: $VALID_STATUSES)"
}

# --- -o FIELDS, -H ---------------------------------------------------------------

@test "-o chooses and orders the fields" {
	run --separate-stderr rep-ls -o name,status </dev/null
	assert_success
	assert_output "$(lines "B-up${TAB}registered" "app-a${TAB}registered" "app-b${TAB}ready" "app-c${TAB}deployed")"
	run --separate-stderr rep-ls --output status,name app-b </dev/null
	assert_success
	assert_output "ready${TAB}app-b"
	run --separate-stderr rep-ls -o name app-a app-b </dev/null
	assert_success
	assert_output "$(lines app-a app-b)"
}

@test "-o with every field in a new order" {
	run --separate-stderr rep-ls -o updated,checksum,bytes,files,status,name,registered app-a </dev/null
	assert_success
	local r
	r=$(record app-a registered)
	assert_equal "$(printf '%s' "$output" | norm_ts)" \
		"$(printf 'TIME\t%s\t%s\t%s\t%s\t%s\tTIME' "$(field 5 "$r")" "$(field 4 "$r")" \
			"$(field 3 "$r")" registered app-a)"
}

@test "-o with an unknown field is refused with the valid ones" {
	run --separate-stderr rep-ls -o name,size </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-ls: -o: unknown field 'size' (valid: name, status, files, bytes, checksum, registered, updated, live, release, targets)"
	run --separate-stderr rep-ls -o note </dev/null
	assert_failure 2
	assert_stderr "rep-ls: -o: unknown field 'note' (valid: name, status, files, bytes, checksum, registered, updated, live, release, targets)"
}

# --- what is live where: live, release, targets ----------------------------------

R1=rep_applications_20260101_000001
R2=rep_applications_20260101_000001_2
R3=rep_applications_20260102_000000

# live NAME RELEASE TARGETS [CHECKSUM]: record that NAME's checksum (default:
# its registered one) went live, as rep-push's record says.
live() {
	local sum=${4:-$(rep-ls -o checksum "$1" </dev/null)}
	printf '%s\t%s\t%s\t%s\tlive\n' "$1" "$2" "$3" "$sum" |
		"$FIXTURE_BIN/rep-setstatus" -q --record >/dev/null
}

@test "-o live,release,targets: - where the database knows of no deployment; not in the default output" {
	run --separate-stderr rep-ls -o name,status,live,release,targets </dev/null
	assert_success
	assert_output "$(lines "B-up${TAB}registered${TAB}-${TAB}-${TAB}-" "app-a${TAB}registered${TAB}-${TAB}-${TAB}-" \
		"app-b${TAB}ready${TAB}-${TAB}-${TAB}-" "app-c${TAB}deployed${TAB}-${TAB}-${TAB}-")"
	refute_stderr
	live app-b "$R1" web2,web1
	run --separate-stderr rep-ls app-b </dev/null
	assert_success
	assert_records "$(record app-b deployed)"
}

@test "-o name,checksum,live: an application changed since its deploy shows both checksums" {
	local old new
	live app-a "$R1" web1
	old=$(rep-ls -o checksum app-a </dev/null)
	run --separate-stderr rep-ls -o name,checksum,live,release,targets app-a </dev/null
	assert_success
	assert_output "app-a${TAB}$old${TAB}$old${TAB}$R1${TAB}web1"
	printf 'changed\n' >>rep_applications/app-a/README
	register app-a
	new=$(recompute_checksum rep_applications/app-a)
	run --separate-stderr rep-ls -o name,checksum,live app-a app-b </dev/null
	assert_success
	assert_output "$(lines "app-a${TAB}$new${TAB}$old" "app-b${TAB}$(rep-ls -o checksum app-b </dev/null)${TAB}-")"
	# the filter by status sees the refresh too (rule 2)
	assert_equal "$(rep-ls -s deployed -o name,live </dev/null)" "app-c${TAB}-"
}

@test "targets that differ: distinct checksums and releases joined by commas, sorted; targets sorted" {
	local old new
	old=$(rep-ls -o checksum app-a </dev/null)
	live app-a "$R3" web3,web1
	printf 'changed\n' >>rep_applications/app-a/README
	register app-a
	new=$(rep-ls -o checksum app-a </dev/null)
	live app-a "$R2" web2
	live app-a "$R1" web1   # replaces web1's row
	local sums
	sums=$(printf '%s\n' "$old" "$new" | LC_ALL=C sort | paste -sd,)
	run --separate-stderr rep-ls -H -o live,release,targets,name app-a </dev/null
	assert_success
	assert_output "$(lines "#live${TAB}release${TAB}targets${TAB}name" \
		"$sums${TAB}$R1,$R2,$R3${TAB}web1,web2,web3${TAB}app-a")"
	refute_stderr
}

@test "--history does not take the deployment fields" {
	run --separate-stderr rep-ls --history -o name,live </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-ls: -o: unknown field 'live' (valid: name, time, from, to, user, note)"
}

@test "-H prints the header first" {
	run --separate-stderr rep-ls -H </dev/null
	assert_success
	assert_records "$(lines "$APP_HEADER" "$(all_records)")"
	run --separate-stderr rep-ls --header -s deployed </dev/null
	assert_success
	assert_records "$(lines "$APP_HEADER" "$(records app-c deployed)")"
}

@test "-H with -o names the chosen fields" {
	run --separate-stderr rep-ls -H -o status,name app-b </dev/null
	assert_success
	assert_output "$(lines "#status${TAB}name" "ready${TAB}app-b")"
}

@test "-H prints the header even when nothing matches" {
	run --separate-stderr rep-ls -H -s retired </dev/null
	assert_success
	assert_output "$APP_HEADER"
}

# --- --history --------------------------------------------------------------------

@test "--history prints every event, oldest first" {
	run --separate-stderr rep-ls --history </dev/null
	assert_success
	refute_stderr
	assert_records "$(lines \
		"$(event app-c - registered)" \
		"$(event app-a - registered)" \
		"$(event app-b - registered)" \
		"$(event B-up - registered)" \
		"$(event app-b registered ready)" \
		"$(event app-c registered ready)" \
		"$(event app-c ready deployed 'to web1')")"
}

@test "--history with names or -s filters by application" {
	run --separate-stderr rep-ls --history app-c </dev/null
	assert_success
	assert_records "$(lines "$(event app-c - registered)" "$(event app-c registered ready)" \
		"$(event app-c ready deployed 'to web1')")"
	# -s selects by the current status, and shows the whole history of those
	run --separate-stderr rep-ls --history -s ready -s deployed </dev/null
	assert_success
	assert_records "$(lines \
		"$(event app-c - registered)" \
		"$(event app-b - registered)" \
		"$(event app-b registered ready)" \
		"$(event app-c registered ready)" \
		"$(event app-c ready deployed 'to web1')")"
	run --separate-stderr rep-ls --history -s ready app-a app-b </dev/null
	assert_success
	assert_records "$(lines "$(event app-b - registered)" "$(event app-b registered ready)")"
}

@test "--history with an unknown name: exit 2, no output" {
	run --separate-stderr rep-ls --history app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-ls: app-x: not registered'
}

@test "--history -H prints the history header" {
	run --separate-stderr rep-ls --history -H app-a </dev/null
	assert_success
	assert_records "$(lines "$HISTORY_HEADER" "$(event app-a - registered)")"
}

@test "--history -o chooses among the history fields" {
	run --separate-stderr rep-ls --history -o to,from,note,user,name app-c </dev/null
	assert_success
	assert_output "$(lines "registered${TAB}-${TAB}${TAB}tester${TAB}app-c" \
		"ready${TAB}registered${TAB}${TAB}tester${TAB}app-c" \
		"deployed${TAB}ready${TAB}to web1${TAB}tester${TAB}app-c")"
	run --separate-stderr rep-ls --history -H -o name,time app-a </dev/null
	assert_success
	assert_records "$(lines "#name${TAB}time" "app-a${TAB}TIME")"
}

@test "--history -o with an application field is refused with the history fields" {
	run --separate-stderr rep-ls --history -o name,status </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-ls: -o: unknown field 'status' (valid: name, time, from, to, user, note)"
}

@test "--history times are RFC 3339 UTC and not after the record's updated time" {
	run --separate-stderr rep-ls --history -o time app-c </dev/null
	assert_success
	local t updated
	updated=$(rep-ls -o updated app-c </dev/null)
	while IFS= read -r t; do
		assert_regex "$t" "^$TS_RE\$"
		assert [ "$t" \< "$updated" -o "$t" = "$updated" ]
	done <<<"$output"
	assert_equal "$(printf '%s\n' "$output" | tail -n 1)" "$updated"
}

# --- options ------------------------------------------------------------------------

@test "options may follow operands" {
	run --separate-stderr rep-ls app-b -o name,status </dev/null
	assert_success
	assert_output "app-b${TAB}ready"
}

@test "-- ends the options" {
	run --separate-stderr rep-ls -- -s </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-ls: -s: invalid application name ($NAME_RULE)"
}

@test "-h and --help print usage on stdout and exit 0" {
	local opt
	for opt in -h --help; do
		run --separate-stderr rep-ls "$opt" </dev/null
		assert_success
		assert_output --partial 'rep-ls'
		assert_output --partial '--history'
		refute_stderr
	done
}

@test "-V and --version print the version" {
	run --separate-stderr rep-ls -V </dev/null
	assert_success
	assert_output "rep-ls $REP_VERSION"
	refute_stderr
	run --separate-stderr rep-ls --version </dev/null
	assert_success
	assert_output "rep-ls $REP_VERSION"
}

@test "unknown options and missing option arguments are usage errors" {
	run --separate-stderr rep-ls -x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-ls: -x: unknown option (try 'rep-ls --help')"
	run --separate-stderr rep-ls -s </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-ls: -s: option requires an argument (try 'rep-ls --help')"
	run --separate-stderr rep-ls app-a -o </dev/null
	assert_failure 2
	assert_stderr "rep-ls: -o: option requires an argument (try 'rep-ls --help')"
	run --separate-stderr rep-ls -n </dev/null
	assert_failure 2
	assert_stderr "rep-ls: -n: unknown option (try 'rep-ls --help')"
}

# --- where: -C, --db, --apps, REP_DB, REP_APPS ----------------------------------

@test "precedence: --db beats REP_DB beats ./metadata.db" {
	mkdir other
	APPS=other mkapp env-app
	APPS=other mkapp opt-app
	REP_DB=env.db REP_APPS=other rep-register -q env-app </dev/null >/dev/null
	rep-register -q --db opt.db --apps other opt-app </dev/null >/dev/null
	run --separate-stderr rep-ls -o name </dev/null
	assert_output "$(lines B-up app-a app-b app-c)"
	run --separate-stderr env REP_DB=env.db rep-ls -o name </dev/null
	assert_success
	assert_output env-app
	run --separate-stderr env REP_DB=env.db rep-ls --db opt.db -o name </dev/null
	assert_success
	assert_output opt-app
}

@test "--apps and REP_APPS are accepted and not needed" {
	run --separate-stderr rep-ls --apps nowhere -o name app-a </dev/null
	assert_success
	assert_output app-a
	run --separate-stderr env REP_APPS=nowhere rep-ls -o name app-a </dev/null
	assert_success
	assert_output app-a
}

@test "-C DIR works as if started in DIR, relative --db and REP_DB inside DIR" {
	mkdir sub
	mv metadata.db sub/
	cp sub/metadata.db sub/copy.db
	local expected
	expected=$(all_records)
	run --separate-stderr rep-ls -C sub </dev/null
	assert_success
	assert_records "$expected"
	run --separate-stderr rep-ls -C sub --db copy.db -o name app-a </dev/null
	assert_success
	assert_output app-a
	run --separate-stderr env REP_DB=copy.db rep-ls -C sub -o name app-b </dev/null
	assert_success
	assert_output app-b
}

@test "-C a -C b works in a/b, each -C relative to the one before (as make and git); an absolute one starts over; one that cannot be entered is named" {
	mkdir -p a/b
	mv metadata.db a/b/
	run --separate-stderr rep-ls -C a -C b -o name app-a </dev/null
	assert_success
	assert_output app-a
	run --separate-stderr rep-ls -C nowhere-x -C "$PWD/a/b" -o name app-a </dev/null
	assert_failure 2
	assert_stderr "rep-ls: -C nowhere-x: No such file or directory (try 'rep-ls --help')"
	run --separate-stderr rep-ls -C /tmp -C "$PWD/a" -C b -o name app-a </dev/null
	assert_success
	assert_output app-a
	run --separate-stderr rep-ls -C a -C a -o name </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-ls: -C a: No such file or directory (try 'rep-ls --help')"
	# an empty one is no move (as git -C ""), wherever it comes
	run --separate-stderr rep-ls -C '' -C a -C '' -C b -C '' -o name app-a </dev/null
	assert_success
	assert_output app-a
	refute_stderr
	run --separate-stderr rep-ls -C '' -o name app-a </dev/null
	assert_failure 2
	assert_stderr 'rep-ls: metadata.db: no such database (create it with rep-register)'
}

# --- errors ---------------------------------------------------------------------------

@test "a missing database is reported, with how to create one, and not created" {
	rm metadata.db
	run --separate-stderr rep-ls </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-ls: metadata.db: no such database (create it with rep-register)'
	assert_no_db
	run --separate-stderr rep-ls --db nowhere.db --history </dev/null
	assert_failure 2
	assert_stderr 'rep-ls: nowhere.db: no such database (create it with rep-register)'
	assert_no_db nowhere.db
	run --separate-stderr env REP_DB=env.db rep-ls </dev/null
	assert_failure 2
	assert_stderr 'rep-ls: env.db: no such database (create it with rep-register)'
	assert_no_db env.db
}

@test "a database in a missing directory: the directory is named as missing (rep-register could not create it either)" {
	run --separate-stderr rep-ls --db nodir/x.db </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-ls: nodir: No such file or directory (the directory of the database)'
	assert [ ! -e nodir ]
}

@test "a file that is not a database is refused and left alone" {
	printf 'hello, I am text\n%.0s' {1..50} >junk.db
	cp junk.db expected.db
	run --separate-stderr rep-ls --db junk.db </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-ls: junk.db: file is not a database'
	cmp junk.db expected.db
}

@test "an empty file is not a database either, and is left alone" {
	: >empty.db
	run --separate-stderr rep-ls --db empty.db </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-ls: empty\.db: '
	assert [ ! -s empty.db ]
}

@test "a database with a newer schema version is refused, not migrated" {
	sqlite3 metadata.db 'PRAGMA user_version = 9999'
	snapshot_db
	run --separate-stderr rep-ls </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-ls: metadata\.db: schema version 9999 is newer than this rep \([0-9]+\)$'
	assert_db_unchanged
	assert_equal "$(sqlite3 metadata.db 'PRAGMA user_version')" 9999
}
