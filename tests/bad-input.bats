#!/usr/bin/env bats
# The bad input corpus: every tool refuses broken or hostile input the same
# way (exit 2, nothing on stdout but the failure records of rep-tar and
# rep-push, one line on stderr that names the problem)
# and changes nothing: the database (its dump and its file), the
# applications directory, dist/ and a push target are compared before and
# after each case (see state).
# A case is one call of `refuse` (REP_CASES_LOG=FILE lists them, one a line).
# The tools' own files test the same messages one by one; this file is the
# one place that puts every tool through every kind of bad input.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

# The fixture (made once by setup_file, copied into each test's directory):
# app-a (a file, an executable, a symlink), app-b and abc, registered, app-b
# ready; dist/$R1.tar.gz holds app-a and app-b and is live on target/;
# arch/KIND/$HOSTILE are bad archives; dbs/KIND.db are bad databases.
R1=rep_applications_20260101_000001
HOSTILE=rep_applications_20260102_000001.tar.gz
ARCHIVE_KINDS='truncated notgzip bomb bombcut padding dotdot absolute hardlink device symlink through manifestname manifestcrlf'

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
		mkapp abc
		register app-a app-b abc || exit 1
		setstatus -m first ready app-b || exit 1
		path=$(SOURCE_DATE_EPOCH=1700000000 rep-tar -q app-a app-b </dev/null) || exit 1
		mv -- "$path" "dist/$R1.tar.gz" || exit 1
		rep-push -q target <<<"dist/$R1.tar.gz" >/dev/null || exit 1
		hostile_archives "dist/$R1.tar.gz" arch || exit 1
		bad_databases dbs || exit 1
	)
}

# Each test works in ./w, away from the files of bats' own.
setup() {
	rep_setup
	mkdir w && cd w && cp -a "$BATS_FILE_TMPDIR/fix/." .
}

# hostile_archives GOOD DIR: DIR/KIND/$HOSTILE for each of $ARCHIVE_KINDS,
# made from the archive GOOD (its MANIFEST and entries, plus the bad part).
hostile_archives() {
	"$PYTHON" - "$1" "$2" "$HOSTILE" <<'EOF'
import gzip, io, os, sys, tarfile
good, out, name = sys.argv[1:]
raw = gzip.open(good).read()
src = tarfile.open(fileobj=io.BytesIO(raw))
members = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]
manifest = members[0][1]

def put(kind, data):
    os.makedirs(os.path.join(out, kind))
    with open(os.path.join(out, kind, name), 'wb') as f:
        f.write(data)

def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)

def entry(path, kind, arg=None):
    ti = tarfile.TarInfo(path)
    ti.mode = 0o644
    if kind == 'f':
        ti.size = len(arg)
        return ti, arg
    if kind == 'h':
        ti.type, ti.linkname = tarfile.LNKTYPE, arg
    elif kind == 'l':
        ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, arg, 0o777
    elif kind == 'c':
        ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
    return ti, None

def tar(extra=(), swap=None):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode='w', format=tarfile.PAX_FORMAT) as t:
        for m, d in members:
            if swap and m.name == swap[0].name:
                m, d = swap
            t.addfile(m, io.BytesIO(d) if d is not None else None)
        for m, d in extra:
            t.addfile(m, io.BytesIO(d) if d is not None else None)
    return b.getvalue()

def with_manifest(text):
    m = tarfile.TarInfo('MANIFEST')
    m.mode, m.size = 0o644, len(text)
    return gz(tar(swap=(m, text)))

g = open(good, 'rb').read()
put('truncated', g[:len(g) // 2])
put('notgzip', raw)
# README, listed with 2 bytes, as 50 MiB of zeros; cut at 20 kB of the
# 50 kB of gzip, a reader that went on past its header would say so
readme = tarfile.TarInfo('rep_applications/app-a/README')
readme.mode, readme.size = 0o644, 50 << 20
bomb = gz(tar(swap=(readme, bytes(50 << 20))))
put('bomb', bomb)
put('bombcut', bomb[:20000])
put('padding', gz(raw + bytes(1536 << 10)))
put('dotdot', gz(tar([entry('rep_applications/app-a/../../x', 'f', b'evil\n')])))
put('absolute', gz(tar([entry('/tmp/rep-evil', 'f', b'evil\n')])))
put('hardlink', gz(tar([entry('rep_applications/app-a/hard', 'h', 'rep_applications/app-a/README')])))
put('device', gz(tar([entry('rep_applications/app-a/null', 'c')])))
put('symlink', gz(tar(swap=entry('rep_applications/app-a/start', 'l', '../../../etc'))))
put('through', gz(tar([entry('rep_applications/app-a/start/x', 'f', b'evil\n')])))
put('manifestname', with_manifest(manifest.replace(b'app-b\t', b'../x\t')))
put('manifestcrlf', with_manifest(manifest.replace(b'\n', b'\r\n')))
EOF
}

# bad_databases DIR: files that are not a rep database of this version,
# made from ./metadata.db: DIR/KIND.db.
bad_databases() {
	mkdir "$1" || return
	echo 'not a database' >"$1/text.db"
	: >"$1/empty.db"
	head -c 100 metadata.db >"$1/header.db"
	head -c 6000 metadata.db >"$1/cut.db"
	sqlite3 "$1/foreign.db" 'CREATE TABLE app (name TEXT)' || return
	cp metadata.db "$1/otherapp.db" && sqlite3 "$1/otherapp.db" 'PRAGMA application_id = 42' || return
	cp metadata.db "$1/newer.db" && sqlite3 "$1/newer.db" 'PRAGMA user_version = 4'
}

# state: what a call could change, as text: the database's dump, and every
# file under the test's directory with its type, mode, size, inode number,
# modification and change times (a write to a file, a chmod, a rename over
# it all show), a symlink with its target, a directory with its mode (not
# its times: sqlite3 makes and removes files next to the database).
# SQLite's -wal and -shm files are left out: a reader or a failed writer may
# leave them behind, and what they hold is not in the database unless
# committed (the dump says whether anything was; sqlite3, the last
# connection to close, removes them).
state() {
	if [ -f metadata.db ]; then
		sqlite3 metadata.db .dump 2>&1
	fi
	find . \( -name '*.db-wal' -o -name '*.db-shm' \) -prune -o \
		-type d -printf '%y %m %i %P\n' -o \
		-printf '%y %m %s %i %T@ %C@ %P -> %l\n' | LC_ALL=C sort
}

# baseline: the state that every following case must leave as it found.
baseline() {
	STATE_BEFORE=$(state)
}

assert_unchanged() {
	local after
	after=$(state)
	if [ "$after" != "$STATE_BEFORE" ]; then
		diff <(printf '%s\n' "$STATE_BEFORE") <(printf '%s\n' "$after") |
			batslib_decorate 'something changed' | fail
	fi
}

# only_failure_records MESSAGE: $output is empty or, from rep-tar and
# rep-push only, failure records (issue 19: what a run that dies after
# reading its input did not deploy): each of 6 fields, the 5th "failed", the
# 6th the message the run died with (MESSAGE's last line without "TOOL: ";
# a control byte, \xHH there, may be ? in the record, which holds note text).
only_failure_records() {
	local tool=${1%%:*} reason=${1##*$'\n'} shown line
	local -a f
	reason=${reason#"$tool: "}
	shown=$(sed -E 's/\\x[0-9a-f]{2}/?/g' <<<"$reason")
	[ -n "$output" ] || return 0
	case $tool in
	rep-tar | rep-push) ;;
	*) assert_output '' ;;
	esac
	while IFS= read -r line; do
		IFS=$'\t' read -r -a f <<<"$line"
		if [ "${#f[@]}" -ne 6 ] || [ "${f[4]}" != failed ] ||
			{ [ "${f[5]}" != "$reason" ] && [ "${f[5]}" != "$shown" ]; }; then
			batslib_print_kv_single_or_multi 8 "reason" "$reason" output "$output" |
				batslib_decorate 'stdout holds other than failure records with the reason' | fail
		fi
	done <<<"$output"
}

# refuse INPUT MESSAGE COMMAND...: one case.  COMMAND, with the file INPUT
# on stdin, exits 2 with nothing on stdout (but the failure records of
# only_failure_records) and exactly MESSAGE on stderr, and leaves the state
# of the last baseline.  (COMMAND runs as with `run
# --separate-stderr`, setting status, output and stderr, but without run's
# bookkeeping, which would double the time of the file's 200-odd cases.)
refuse() {
	local input=$1 message=$2 out=$BATS_TEST_TMPDIR/case.out err=$BATS_TEST_TMPDIR/case.err
	shift 2
	printf '# case:' # shown if the test fails
	printf ' %q' "$@"
	printf ' <%s\n' "$input"
	status=0
	"$@" <"$input" >"$out" 2>"$err" || status=$?
	output=$(<"$out") stderr=$(<"$err")
	assert_failure 2
	only_failure_records "$message"
	assert_stderr "$message"
	assert_unchanged
	count_case "$message"
}

# count_case MESSAGE: one more case, in $REP_CASES_LOG if set.
count_case() {
	if [ -n "${REP_CASES_LOG:-}" ]; then
		printf '%s\t%s\n' "$BATS_TEST_DESCRIPTION" "$1" >>"$REP_CASES_LOG"
	fi
}

# (as_unprivileged and need_unprivileged: see helper.bash)

# The commands that read records on stdin, and what each reads: names,
# (rep-push) archive paths, or (rep-setstatus --record) rep-push's records.
READERS=(rep-register 'rep-setstatus ready' rep-tar 'rep-push target' 'rep-setstatus --record')

# reader_input READER FILE: FILE as READER's input: for rep-push, its first
# line is the good archive, for --record a good record, so that a bad second
# line is read after a good one.
reader_input() {
	case $1 in
	rep-push*) sed "1s|.*|dist/$R1.tar.gz|" "$2" ;;
	*--record) sed "1s|.*|app-a\t$R1\ttarget\t$EMPTY_SHA256\tlive|" "$2" ;;
	*) cat "$2" ;;
	esac
}

# --- records on stdin ---------------------------------------------------------------

@test "records: a NUL byte, a line over 65536 bytes, CR before LF, a lone CR: every reader refuses them, naming the line" {
	local reader tool kind
	local -a cmd
	printf 'app-a\napp-b\0\n' >in-nul
	{
		echo app-a
		head -c 65537 /dev/zero | tr '\0' a
		echo
	} >in-long
	printf 'app-a\r\n' >in-crlf1
	printf 'app-a\napp-b\r\n' >in-crlf
	printf 'app-a\napp\rb\n' >in-cr
	for reader in "${READERS[@]}"; do
		for kind in nul long crlf cr; do
			reader_input "$reader" "in-$kind" >"in-$kind-${reader// /_}"
		done
	done
	baseline
	for reader in "${READERS[@]}"; do
		read -ra cmd <<<"$reader"
		tool=${cmd[0]}
		refuse "in-nul-${reader// /_}" "$tool: stdin:2: NUL byte in line" "${cmd[@]}"
		refuse "in-long-${reader// /_}" "$tool: stdin:2: line longer than 65536 bytes" "${cmd[@]}"
		refuse "in-crlf-${reader// /_}" "$tool: stdin:2: CR before LF (convert the input with dos2unix)" "${cmd[@]}"
		refuse "in-cr-${reader// /_}" "$tool: stdin:2: CR in line" "${cmd[@]}"
	done
	refuse in-crlf1 'rep-setstatus: stdin:1: CR before LF (convert the input with dos2unix)' \
		rep-setstatus -M ready
	# the control: a line of 65536 bytes is a record (its second field of
	# 65530 bytes unread), but not a note, which holds 4096 bytes at most
	{
		printf 'app-a\t'
		head -c 65530 /dev/zero | tr '\0' n
		echo
	} >in-max
	run --separate-stderr rep-setstatus -q -M failed <in-max
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: stdin:1: note: longer than 4096 bytes'
	run --separate-stderr rep-setstatus -q failed <in-max
	assert_success
	assert_equal "$(field 1-2)" "app-a${TAB}failed"
	refute_stderr
}

# --- names --------------------------------------------------------------------------

@test "names: '/', '..', a leading '-' or '.', over 128 bytes, empty, not ASCII, SQL: every tool refuses them" {
	local name idx long
	long=$(printf '%0129d' 0 | tr 0 a)
	local -a names=(a/b .. -x .hidden "$long" "a'b" '' $'caf\xc3\xa9' $'app\xff' \
		'x;DROP TABLE app' '%' 'app*' 'a b')
	for idx in "${!names[@]}"; do
		printf 'app-a\n%s\n' "${names[idx]}" >"in-$idx"
	done
	baseline
	for idx in "${!names[@]}"; do
		name=${names[idx]}
		local why="$name: invalid application name ($NAME_RULE)"
		refuse /dev/null "rep-ls: $why" rep-ls -- "$name"
		refuse /dev/null "rep-diff: $why" rep-diff -- "$name"
		refuse /dev/null "rep-setstatus: $why" rep-setstatus -- ready "$name"
		refuse /dev/null "rep-register: $why" rep-register -- "$name"
		refuse /dev/null "rep-tar: $why" rep-tar -- "$name"
		# on stdin, the first six
		if [ "$idx" -lt 6 ]; then
			refuse "in-$idx" "rep-register: stdin:2: $why" rep-register
			refuse "in-$idx" "rep-setstatus: stdin:2: $why" rep-setstatus ready
			refuse "in-$idx" "rep-tar: stdin:2: $why" rep-tar
		fi
	done
}

@test "names: '_' and '.' are literal, not patterns: app_a and app.a are not app-a, a_c is not abc" {
	local name
	baseline
	for name in app_a app.a a_c; do
		refuse /dev/null "rep-ls: $name: not registered" rep-ls "$name"
		refuse /dev/null "rep-setstatus: $name: not registered" rep-setstatus ready "$name"
		refuse /dev/null "rep-tar: $name: not registered" rep-tar "$name"
		refuse /dev/null "rep-diff: $name: no such application (neither registered nor in rep_applications)" \
			rep-diff "$name"
		refuse /dev/null "rep-register: $name: no such directory in rep_applications" rep-register "$name"
	done
	# a_c, registered, is itself and nothing else
	mkapp a_c
	register a_c
	run --separate-stderr rep-setstatus -q deployed a_c </dev/null
	assert_success
	assert_equal "$(field 1-2)" "a_c${TAB}deployed"
	assert_equal "$(rep-ls -o name,status </dev/null)" \
		"$(lines "a_c${TAB}deployed" "abc${TAB}registered" "app-a${TAB}registered" "app-b${TAB}ready")"
}

# --- other arguments ----------------------------------------------------------------

@test "arguments: SQL and shell metacharacters in statuses, fields, paths and targets are refused or literal" {
	local valid="(valid: $VALID_STATUSES)"
	printf 'dist/%s.tar.gz\n' "x';DROP TABLE app" >in-push
	baseline
	refuse /dev/null "rep-setstatus: ready' OR '1'='1: invalid status $valid" \
		rep-setstatus "ready' OR '1'='1" app-a
	refuse /dev/null "rep-setstatus: %: invalid status $valid" rep-setstatus -f % ready app-a
	refuse /dev/null "rep-ls: _: invalid status $valid" rep-ls -s _
	refuse /dev/null "rep-ls: -o: unknown field 'name;DROP TABLE app' (valid: name, status, files, bytes, checksum, registered, updated, live, release, targets)" \
		rep-ls -o 'name;DROP TABLE app'
	refuse /dev/null "rep-ls: x';DROP TABLE app;--.db: no such database (create it with rep-register)" \
		rep-ls --db "x';DROP TABLE app;--.db"
	refuse /dev/null "rep-diff: a'b: No such file or directory" rep-diff --apps "a'b"
	# shellcheck disable=SC2016 # a directory by that name, not a command
	refuse /dev/null "rep-ls: -C \$(rm -rf x): No such file or directory (try 'rep-ls --help')" rep-ls -C '$(rm -rf x)'
	refuse /dev/null "rep-push: x;DROP TABLE app:/srv: a host name with characters other than letters, digits, '.', '-' and '_'" \
		rep-push 'x;DROP TABLE app:/srv'
	refuse /dev/null "rep-push: -t: a directory beginning with '-' (write ./ before it)" rep-push -- -t
	refuse in-push "rep-push: dist/x';DROP TABLE app.tar.gz: not a rep-tar archive name (rep_applications_YYYYMMDD_HHMMSS[_N].tar.gz)" \
		rep-push target
	# a note is free text: stored and printed as given
	local note="x'); DROP TABLE app; --"
	run --separate-stderr rep-setstatus -q -m "$note" failed app-a </dev/null
	assert_success
	assert_equal "$(rep-ls --history -o name,note </dev/null | tail -1)" "app-a${TAB}${note}"
	assert_equal "$(rep-ls -o name </dev/null)" "$(lines abc app-a app-b)"
}

@test "notes: invalid UTF-8 (bad bytes, overlong, surrogate, too large, cut) and control characters, with -m and -M" {
	local bad
	printf 'app-a\tgood\napp-b\tfrom \376\n' >in-utf8
	printf 'app-a\tgood\napp-b\ta\001b\n' >in-ctl
	printf 'app-a\tgood\napp-b\tok\tthen \302\205\n' >in-c1
	baseline
	for bad in $'\xff' $'\xc0\xaf' $'\xed\xa0\x80' $'\xf4\x90\x80\x80' $'caf\xc3'; do
		refuse /dev/null 'rep-setstatus: note: not valid UTF-8' rep-setstatus -m "$bad" ready app-a
	done
	for bad in $'a\tb' $'a\x1bb' $'\x7f' $'\xc2\x85'; do
		refuse /dev/null 'rep-setstatus: note: control character not allowed' rep-setstatus -m "$bad" ready app-a
	done
	refuse in-utf8 'rep-setstatus: stdin:2: note: not valid UTF-8' rep-setstatus -M ready
	refuse in-ctl 'rep-setstatus: stdin:2: note: control character not allowed' rep-setstatus -M ready
	refuse in-c1 'rep-setstatus: stdin:2: note: control character not allowed' rep-setstatus -M ready
}

# --- messages -----------------------------------------------------------------------

@test "messages: control bytes in what they quote (names on stdin and as operands, --db, --apps, -C, -d, -t, archives, targets) are shown as \\xHH, one line each" {
	local tool why
	local -a cmd
	printf 'app-a\n\e]0;pwned\a\n' >in-esc
	for tool in "${READERS[@]}"; do
		reader_input "${tool%% *}" in-esc >"in-esc-${tool%% *}"
	done
	printf '%s\n' "dist/$R1.tar.gz" $'dist/\e[1mx.tar.gz' >in-push-esc
	mkdir $'arch/\e[1m'
	cp "arch/truncated/$HOSTILE" $'arch/\e[1m/'"$HOSTILE"
	printf '%s\n' "dist/$R1.tar.gz" $'arch/\e[1m/'"$HOSTILE" >in-push-arch
	echo x >afile
	printf 'app-a\t%s\tweb1\t%s\tlive\napp-b\t\e]0;pwned\a\tweb1\t%s\tlive\n' "$R1" "$EMPTY_SHA256" \
		"$EMPTY_SHA256" >in-esc-record
	baseline
	why="\\x1b]0;pwned\\x07: invalid application name ($NAME_RULE)"
	for tool in rep-register 'rep-setstatus ready' rep-tar; do
		read -ra cmd <<<"$tool"
		refuse "in-esc-${cmd[0]}" "${cmd[0]}: stdin:2: $why" "${cmd[@]}"
	done
	refuse in-esc-record "rep-setstatus: stdin:2: release '\\x1b]0;pwned\\x07': not a release name (rep_applications_YYYYMMDD_HHMMSS[_N])" \
		rep-setstatus --record
	why="a\\x0ab: invalid application name ($NAME_RULE)"
	for tool in rep-ls rep-diff 'rep-setstatus ready' rep-register rep-tar; do
		read -ra cmd <<<"$tool"
		refuse /dev/null "${cmd[0]}: $why" "${cmd[@]}" -- app-a $'a\nb'
	done
	why='x\x0a\x1b[1m.db: no such database (create it with rep-register)'
	for tool in rep-ls rep-diff 'rep-setstatus ready app-a' 'rep-tar app-a'; do
		read -ra cmd <<<"$tool"
		refuse /dev/null "${cmd[0]}: $why" "${cmd[0]}" --db $'x\n\e[1m.db' "${cmd[@]:1}"
	done
	refuse /dev/null 'rep-register: x\x0a\x1b[1m: No such file or directory (the directory of the database)' \
		rep-register --db $'x\n\e[1m/m.db' app-a
	for tool in rep-diff 'rep-register app-a' 'rep-tar app-a'; do
		read -ra cmd <<<"$tool"
		refuse /dev/null "${cmd[0]}: no\\x0aapps: No such file or directory" "${cmd[0]}" --apps $'no\napps' "${cmd[@]:1}"
	done
	for tool in rep-ls rep-diff 'rep-setstatus ready app-a' 'rep-register app-a' 'rep-tar app-a' 'rep-push target'; do
		read -ra cmd <<<"$tool"
		refuse /dev/null "${cmd[0]}: -C no\\x0a\\x1b[1m: No such file or directory (try '${cmd[0]} --help')" "${cmd[0]}" -C $'no\n\e[1m' "${cmd[@]:1}"
	done
	refuse /dev/null 'rep-tar: afile/\x1b[1m: Not a directory' rep-tar -d $'afile/\e[1m' app-a
	refuse /dev/null 'rep-tar: a\x0ab.tar.gz: No such file or directory' rep-tar -t $'a\nb.tar.gz'
	refuse /dev/null "rep-tar: arch/\\x1b[1m/$HOSTILE: truncated archive" rep-tar -t $'arch/\e[1m/'"$HOSTILE"
	refuse in-push-arch "rep-push: arch/\\x1b[1m/$HOSTILE: truncated archive" rep-push target
	refuse in-push-esc "rep-push: dist/\\x1b[1mx.tar.gz: not a rep-tar archive name (rep_applications_YYYYMMDD_HHMMSS[_N].tar.gz)" \
		rep-push target
	refuse /dev/null 'rep-push: t\x1b[1m: control character in the target' rep-push target $'t\e[1m'
}

@test "options: unknown, missing or unwanted values, out of range, in conflict: a usage error from every tool" {
	baseline
	refuse /dev/null "rep-register: -Z: unknown option (try 'rep-register --help')" rep-register -Z app-a
	refuse /dev/null "rep-register: --all takes no names (try 'rep-register --help')" rep-register --all app-a
	refuse /dev/null "rep-register: -a takes no names (try 'rep-register --help')" rep-register -qa app-a
	refuse /dev/null "rep-register: --all takes no names (try 'rep-register --help')" rep-register --al app-a
	# options that mean nothing there
	refuse /dev/null "rep-tar: -d is for packaging: -t only checks archives (try 'rep-tar --help')" \
		rep-tar -t "dist/$R1.tar.gz" -d elsewhere
	refuse /dev/null "rep-tar: -l is for packaging: -t only checks archives (try 'rep-tar --help')" \
		rep-tar -l 9 -t "dist/$R1.tar.gz"
	refuse /dev/null "rep-ls: -o: an empty field in 'name,,status'" rep-ls -o name,,status
	refuse /dev/null "rep-ls: -o: an empty field in 'name,'" rep-ls -o name,
	# an abbreviation that could mean several: they are listed
	refuse /dev/null "rep-ls: --h: ambiguous option (--history, --header, --help) (try 'rep-ls --help')" rep-ls --h
	refuse /dev/null "rep-setstatus: --no: ambiguous option (--note, --note-from-input) (try 'rep-setstatus --help')" \
		rep-setstatus --no x ready app-a
	refuse /dev/null "rep-push: --r: ambiguous option (--replace, --rollback) (try 'rep-push --help')" rep-push --r t
	refuse /dev/null "rep-diff: --bogus: unknown option (try 'rep-diff --help')" rep-diff --bogus
	refuse /dev/null "rep-diff: --rehash: option takes no argument (try 'rep-diff --help')" rep-diff --rehash=yes
	refuse /dev/null "rep-setstatus: --note-from-input: option takes no argument (try 'rep-setstatus --help')" \
		rep-setstatus --note-from-input=x ready app-a
	refuse /dev/null "rep-setstatus: -m and -M are mutually exclusive (try 'rep-setstatus --help')" \
		rep-setstatus -m x -M ready app-a
	refuse /dev/null "rep-setstatus: missing STATUS operand (try 'rep-setstatus --help')" rep-setstatus
	refuse /dev/null "rep-setstatus: --record takes no operand but - (try 'rep-setstatus --help')" \
		rep-setstatus --record deployed
	refuse /dev/null "rep-setstatus: --record takes no operand but - (try 'rep-setstatus --help')" \
		rep-setstatus --record - app-a
	refuse /dev/null "rep-setstatus: --record takes no -f (try 'rep-setstatus --help')" \
		rep-setstatus --record -f ready
	refuse /dev/null "rep-setstatus: --record takes no -m (try 'rep-setstatus --help')" \
		rep-setstatus -m note --record
	refuse /dev/null "rep-setstatus: --record takes no -M (try 'rep-setstatus --help')" \
		rep-setstatus --record -M
	refuse /dev/null "rep-setstatus: --record: option takes no argument (try 'rep-setstatus --help')" \
		rep-setstatus --record=x
	refuse /dev/null "rep-ls: -s: option requires an argument (try 'rep-ls --help')" rep-ls -s
	refuse /dev/null "rep-tar: -l 10: not a number from 1 to 9 (try 'rep-tar --help')" rep-tar -l 10 app-a
	refuse /dev/null "rep-tar: -j 1x: not a number from 1 to 16 (try 'rep-tar --help')" rep-tar -j 1x app-a
	refuse /dev/null "rep-push: -x: unknown option (try 'rep-push --help')" rep-push -x target
	refuse /dev/null "rep-push: -k 0: not a number from 1 to 1000000 (try 'rep-push --help')" rep-push -k 0 target
	refuse /dev/null "rep-push: --rollback: option takes no argument (try 'rep-push --help')" \
		rep-push --rollback=1 target
	refuse /dev/null "rep-push: no target (try 'rep-push --help')" rep-push
}

# --- the database -------------------------------------------------------------------

@test "databases: not SQLite (text, empty, cut), not rep's, a newer schema: every tool refuses them, leaves them alone" {
	local kind why
	local -A whys=(
		[text]='file is not a database'
		[empty]='not a rep database (empty)'
		[header]='database disk image is malformed'
		[cut]='database disk image is malformed'
		[foreign]='not a rep database'
		[otherapp]='not a rep database'
		[newer]='schema version 4 is newer than this rep (3)'
	)
	baseline
	for kind in text empty header cut foreign otherapp newer; do
		why="dbs/$kind.db: ${whys[$kind]}"
		refuse /dev/null "rep-ls: $why" rep-ls --db "dbs/$kind.db"
		refuse /dev/null "rep-diff: $why" rep-diff --db "dbs/$kind.db"
		refuse /dev/null "rep-setstatus: $why" rep-setstatus --db "dbs/$kind.db" ready app-a
		refuse /dev/null "rep-tar: $why" rep-tar --db "dbs/$kind.db" app-a
		# rep-register makes an empty file a database, as it creates one
		if [ "$kind" != empty ]; then
			refuse /dev/null "rep-register: $why" rep-register --db "dbs/$kind.db" app-a
		fi
	done
}

# --- directories and the disk ---------------------------------------------------------

@test "the applications directory missing, a file, unreadable, or an application's file unreadable: exit 2 (rep-diff: invalid), nothing made" {
	need_unprivileged
	echo x >afile
	cp -a rep_applications noread
	chmod 311 noread
	chmod 000 rep_applications/app-b/README
	baseline
	refuse /dev/null 'rep-register: nodir: No such file or directory' rep-register --apps nodir app-a
	refuse /dev/null 'rep-register: nodir: No such file or directory' rep-register --apps nodir --all
	refuse /dev/null 'rep-diff: nodir: No such file or directory' rep-diff --apps nodir
	refuse /dev/null 'rep-tar: nodir: No such file or directory' rep-tar --apps nodir -d out app-a
	refuse /dev/null 'rep-register: afile: Not a directory' rep-register --apps afile app-a
	refuse /dev/null 'rep-diff: afile: Not a directory' rep-diff --apps afile
	refuse /dev/null 'rep-register: noread: Permission denied' as_unprivileged rep-register --apps noread --all
	refuse /dev/null 'rep-diff: noread: Permission denied' as_unprivileged rep-diff --apps noread
	refuse /dev/null 'rep-tar: noread: Permission denied' as_unprivileged rep-tar --apps noread -d out app-a
	refuse /dev/null "$(lines 'rep-register: app-b/README: Permission denied' "$(holds rep-register app-b)")" \
		as_unprivileged rep-register app-b
	refuse /dev/null "$(lines 'rep-tar: app-b/README: Permission denied' "$(holds rep-tar app-b)")" \
		as_unprivileged rep-tar -d out app-b
	# rep-diff reports the application invalid, and compares the others
	diff_invalid app-b 'rep-diff: app-b/README: Permission denied' as_unprivileged rep-diff
}

# diff_invalid APP PROBLEM COMMAND...: COMMAND (a rep-diff) exits 1 reporting
# APP invalid, and nothing else, with PROBLEM and the summary on stderr; the
# records, the history and APP's cache rows unchanged (rep-diff may refresh
# the cache rows of the applications it compared).
diff_invalid() {
	local app=$1 problem=$2 out=$BATS_TEST_TMPDIR/case.out err=$BATS_TEST_TMPDIR/case.err
	local sql="SELECT * FROM app; SELECT * FROM history;
		SELECT * FROM file WHERE app_id = (SELECT id FROM app WHERE name = '$app')" before
	shift 2
	printf '# case:'
	printf ' %q' "$@"
	printf ' </dev/null\n'
	before=$(sqlite3 metadata.db "$sql")
	status=0
	"$@" </dev/null >"$out" 2>"$err" || status=$?
	output=$(<"$out") stderr=$(<"$err")
	assert_failure 1
	assert_output "$app${TAB}invalid"
	assert_stderr "$(lines "$problem" 'rep-diff: 1 discrepancy')"
	assert_equal "$(sqlite3 metadata.db "$sql")" "$before"
	count_case "$problem"
}

# 70 applications: more than 4 per core on up to 16 cores, so each is walked
# and hashed whole by one thread, its small files read in batches (io_uring)
# where the kernel allows it. A file the batch cannot read is read again the
# usual way, which names it; with REP_IO_URING=0 the message is the same.
@test "an unreadable file among many applications (the batched reader): the same message, exit 2 (rep-diff: invalid), nothing made" {
	need_unprivileged
	mkapps 70
	register app-001 app-002 app-003 app-004 app-005 app-006 app-007 app-008 app-009 app-010
	chmod 000 rep_applications/app-040/README
	baseline
	local told
	told=$(lines 'rep-register: app-040/README: Permission denied' "$(holds rep-register app-040)")
	refuse /dev/null "$told" as_unprivileged rep-register --all
	refuse /dev/null "$told" as_unprivileged env REP_IO_URING=0 rep-register --all
	chmod 644 rep_applications/app-040/README
	register --all
	chmod 000 rep_applications/app-007/README
	baseline
	diff_invalid app-007 'rep-diff: app-007/README: Permission denied' as_unprivileged rep-diff --rehash
	diff_invalid app-007 'rep-diff: app-007/README: Permission denied' as_unprivileged env REP_IO_URING=0 rep-diff --rehash
}

# rep(7), APPLICATION CONTENTS: each application here holds one problem
# (the order of an application's own problems is the file system's).
@test "application contents: a newline in a name, a FIFO, symlinks leaving: rep-register and rep-tar exit 2 telling each problem and what was not done, rep-diff says invalid; nothing changed" {
	local A=rep_applications
	: >$A/app-a/$'new\nline'
	mkfifo $A/app-b/fifo
	ln -s /usr/bin/python3 $A/abc/python
	mkapp up
	ln -s ../../share/doc $A/up/doc
	local a='rep-register: app-a/new\x0aline: a name with a control character'
	local b='rep-register: app-b/fifo: a FIFO, not a regular file, directory or symlink'
	local c='rep-register: abc/python -> /usr/bin/python3: symlink points outside the application'
	local u='rep-register: up/doc -> ../../share/doc: symlink points outside the application'
	baseline
	refuse /dev/null "$(lines "$a" "$(holds rep-register app-a)")" rep-register app-a
	refuse /dev/null "$(lines "$u" "$(holds rep-register up)")" rep-register up
	refuse /dev/null "$(lines "$u" "$(holds rep-register up)")" rep-register --all
	# in the order given, every one
	refuse /dev/null "$(lines "$b" "$c" "$a" "$u" "$(hold rep-register 4)")" rep-register app-b abc app-a up
	refuse /dev/null "$(lines "$u" "$(holds rep-register up)")" rep-register --db new.db up
	# rep-tar: in name order
	refuse /dev/null "$(lines "${a/rep-register/rep-tar}" "$(holds rep-tar app-a)")" rep-tar app-a
	refuse /dev/null "$(lines "${c/rep-register/rep-tar}" "${a/rep-register/rep-tar}" "${b/rep-register/rep-tar}" \
		"$(hold rep-tar 3)")" rep-tar -d newdist app-b abc app-a
	# rep-diff: each told, each invalid, the unregistered one not looked into
	local out=$BATS_TEST_TMPDIR/case.out err=$BATS_TEST_TMPDIR/case.err
	status=0
	rep-diff </dev/null >"$out" 2>"$err" || status=$?
	output=$(<"$out") stderr=$(<"$err")
	assert_failure 1
	assert_output "$(lines "abc${TAB}invalid" "app-a${TAB}invalid" "app-b${TAB}invalid" "up${TAB}unregistered")"
	assert_stderr "$(lines "${c/rep-register/rep-diff}" "${a/rep-register/rep-diff}" "${b/rep-register/rep-diff}" \
		'rep-diff: 4 discrepancies')"
	assert_unchanged
	count_case "$stderr"
}

@test "an output directory that cannot be written or made: rep-tar exits 2, writes nothing" {
	need_unprivileged
	mkdir ro
	chmod 555 ro
	echo x >afile
	baseline
	refuse /dev/null 'rep-tar: ro: Permission denied' as_unprivileged rep-tar -d ro app-a
	refuse /dev/null 'rep-tar: ro/sub: Permission denied' as_unprivileged rep-tar -d ro/sub app-a
	refuse /dev/null 'rep-tar: afile: Not a directory' rep-tar -d afile app-a
	refuse /dev/null 'rep-tar: afile/sub: Not a directory' rep-tar -d afile/sub app-a
}

# in_full_fs KIB COMMAND...: run COMMAND in a new mount namespace where
# ./full is a 64 KiB tmpfs, holding a copy of ./full.seed/ (if there is one)
# and a filler that leaves KIB KiB free.  Sets status, output and stderr,
# and FULL_BEFORE and FULL_AFTER: the state of ./full before the filler and
# after COMMAND, once the filler is gone.  Skips unless it can mount.
in_full_fs() {
	[ "$(id -u)" -eq 0 ] || skip 'needs root to mount a tmpfs'
	unshare -m true 2>/dev/null || skip 'cannot make a mount namespace'
	mkdir -p full
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare -m bash -c '
		mount -t tmpfs -o size=64k tmpfs full || exit 1
		if [ -d full.seed ]; then cp -a full.seed/. full/ || exit 1; fi
		eval "$1"
		(cd full && state) >full.before
		head -c 1M /dev/zero >full/filler 2>/dev/null
		truncate -s "-$2K" full/filler || exit 1
		shift 2
		"$@" >full.out 2>full.err
		echo $? >full.rc
		rm full/filler
		(cd full && state) >full.after
	' in_full_fs "$(declare -f state)" "$@" || fail "in_full_fs: could not run $*"
	status=$(cat full.rc) output=$(cat full.out) stderr=$(cat full.err)
	FULL_BEFORE=$(cat full.before) FULL_AFTER=$(cat full.after)
}

@test "a full disk (64 KiB tmpfs) under the database or dist/: exit 2, nothing changed or left" {
	mkdir full.seed
	cp metadata.db full.seed/
	# room for the -shm file, none for a page of the -wal
	in_full_fs 32 rep-setstatus --db full/metadata.db -m note deployed app-a app-b abc
	assert_failure 2
	# the records go out before the commit (so that a failed write to
	# stdout changes nothing): here, the commit is what fails
	assert_equal "$(field 1-2)" "$(lines "app-a${TAB}deployed" "app-b${TAB}deployed" "abc${TAB}deployed")"
	assert_stderr 'rep-setstatus: full/metadata.db: database or disk is full'
	assert_equal "$FULL_AFTER" "$FULL_BEFORE"
	count_case "$stderr"
	rm -r full.seed

	in_full_fs 0 rep-register --db full/new.db app-a
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-register: full/new\.db: (database or disk is full|disk I/O error: No space left on device)$'
	assert_equal "$FULL_AFTER" "$FULL_BEFORE"
	count_case "$stderr"

	in_full_fs 0 rep-tar -d full app-a app-b
	assert_failure 2
	assert_stderr --regexp '^rep-tar: full(/[^ ]*)?: No space left on device$'
	only_failure_records "$stderr"
	assert_equal "$FULL_AFTER" "$FULL_BEFORE"
	count_case "$stderr"
}

# --- archives -------------------------------------------------------------------------

@test "archives: truncated, not gzip, a bomb, padding, unsafe paths, links, devices, bad manifests: rep-tar -t and rep-push refuse them" {
	local kind path why
	local -A whys=(
		[truncated]='truncated archive'
		[notgzip]='not a gzip-compressed tar archive'
		[bomb]='rep_applications/app-a/README: more bytes than MANIFEST lists for app-a'
		[bombcut]='rep_applications/app-a/README: more bytes than MANIFEST lists for app-a'
		[padding]='more than 1 MiB of padding after the end of the archive'
		[dotdot]='rep_applications/app-a/../../x: unsafe path'
		[absolute]='/tmp/rep-evil: unsafe path'
		[hardlink]='rep_applications/app-a/hard: a hard link (not in the form rep-tar writes)'
		[device]='rep_applications/app-a/null: a character device (not in the form rep-tar writes)'
		[symlink]='rep_applications/app-a/start: symlink points outside its application'
		[through]='rep_applications/app-a/start/x: out of order (not in the form rep-tar writes)'
		[manifestname]='MANIFEST:3: not a manifest record'
		[manifestcrlf]='MANIFEST:1: not a manifest record'
	)
	mkdir "$HOSTILE" # a directory by an archive's name
	for kind in $ARCHIVE_KINDS; do
		printf '%s\n' "dist/$R1.tar.gz" "arch/$kind/$HOSTILE" >"in-$kind"
	done
	printf '%s\n' "$HOSTILE" >in-dir
	printf '%s\n' "nosuch/$HOSTILE" >in-missing
	baseline
	for kind in $ARCHIVE_KINDS; do
		path=arch/$kind/$HOSTILE why="arch/$kind/$HOSTILE: ${whys[$kind]}"
		refuse /dev/null "rep-tar: $why" rep-tar -t "$path"
		# after a good archive: all are checked before any target is touched
		refuse "in-$kind" "rep-push: $why" rep-push target
	done
	refuse /dev/null "rep-tar: $HOSTILE: not a regular file" rep-tar -t "$HOSTILE"
	refuse in-dir "rep-push: $HOSTILE: not a regular file" rep-push target
	refuse /dev/null "rep-tar: nosuch/$HOSTILE: No such file or directory" rep-tar -t "nosuch/$HOSTILE"
	refuse in-missing "rep-push: nosuch/$HOSTILE: No such file or directory" rep-push target
}
