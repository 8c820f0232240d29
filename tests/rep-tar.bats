#!/usr/bin/env bats
# rep-tar [-q] [-d DIR] [-l LEVEL] [-j THREADS] [NAME...]  |  rep-tar -t ARCHIVE
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

# The tree generator of the benchmarks (a python stand-in of the same shape
# when it is not there, e.g. in a clone without ../shared).
GEN_APPS=${GEN_APPS:-$BATS_TEST_DIRNAME/../../shared/bench/gen-apps}

# The fixed mtime of the sample trees, and how GNU tar shows it in UTC.
T0=1600000000
T0_TV='2020-09-13 12:26:40'
EPOCH_TV='1970-01-01 00:00:00'

ARCHIVE_RE='^rep_applications_[0-9]{8}_[0-9]{6}(_[0-9]+)?\.tar\.gz$'

# --- helpers -------------------------------------------------------------------------

# gen_apps DIR OPTION...: a synthetic applications tree in DIR.
gen_apps() {
	local dir=$1
	shift
	if [ -f "$GEN_APPS" ]; then
		"$PYTHON" "$GEN_APPS" "$@" "$dir" >/dev/null
		return
	fi
	"$PYTHON" - "$dir" "$@" <<'EOF'
import argparse, os, random, sys
p = argparse.ArgumentParser()
p.add_argument('dir')
p.add_argument('-n', type=int, default=10)
p.add_argument('-f', type=int, default=10)
p.add_argument('-s', type=int, default=4096)
p.add_argument('--seed', type=int, default=1)
a = p.parse_args(sys.argv[1:])
words = [b'alpha', b'beta', b'gamma', b'delta', b'config', b'return', b'value', b'import']
for i in range(a.n):
    rng = random.Random(a.seed * 1000003 + i)
    for j in range(a.f):
        d = os.path.join(a.dir, 'app-%05d' % i, 'd%d' % (j % 3))
        os.makedirs(d, exist_ok=True)
        n = max(1, int(rng.expovariate(1 / a.s)))
        data = b' '.join(rng.choice(words) + b'%d' % rng.randrange(10000) for _ in range(n // 6 + 1))
        with open(os.path.join(d, 'f%03d.txt' % j), 'wb') as f:
            f.write(data[:n])
EOF
}

# shared_tree VAR OPTION...: a gen_apps tree made once per run of this file
# (tests only read it: they register it into their own database); its path
# goes into VAR.
shared_tree() {
	local var=$1 dir tmp
	shift
	dir=$BATS_FILE_TMPDIR/tree-$(printf '%s' "$*" | tr -c 'A-Za-z0-9' _)
	if [ ! -d "$dir" ]; then
		tmp=$(mktemp -d "$BATS_FILE_TMPDIR/gen.XXXXXX")
		gen_apps "$tmp/apps" "$@"
		mv -T "$tmp/apps" "$dir" 2>/dev/null || true
		rm -rf -- "$tmp"
	fi
	printf -v "$var" '%s' "$dir"
}

# touch_tree DIR SECONDS: every entry of DIR (symlinks themselves) gets that mtime.
touch_tree() {
	find "$1" -exec touch -h -d "@$2" {} +
}

# sample_tree: app-a with every kind of entry (odd modes, a hard link, an
# empty directory, symlinks, names that sort differently by component) and
# app-b; every mtime is T0.
sample_tree() {
	mkapp app-a README bin/run sub/file sub-x sub.c
	mkapp app-b
	mkdir rep_applications/app-a/empty
	ln rep_applications/app-a/README rep_applications/app-a/hard
	ln -s sub/file rep_applications/app-a/link
	ln -s ../README rep_applications/app-a/sub/up
	chmod 600 rep_applications/app-a/README
	chmod 700 rep_applications/app-a/bin/run rep_applications/app-a/sub
	chmod 750 rep_applications/app-a/bin
	touch_tree rep_applications "$T0"
}

# same_size_edit FILE: change FILE's content, keeping its size and mtime.
same_size_edit() {
	local size
	size=$(stat -c %s -- "$1")
	touch -r "$1" "$BATS_TEST_TMPDIR/ref"
	head -c "$size" /dev/zero | tr '\0' 'Z' >"$1"
	touch -r "$BATS_TEST_TMPDIR/ref" "$1"
}

# with_umask MASK CMD...: run CMD under MASK (inside run's subshell).
with_umask() {
	umask "$1"
	shift
	"$@"
}

# manifest [APPS=DIR] NAME[:remove]...: the expected MANIFEST (version 2,
# without its last newline) for these applications, in the order given:
# files, bytes and checksum recomputed from the trees, and their
# directories; NAME:remove is the removal row of a retired application.
manifest() {
	local apps=${APPS:-rep_applications} n out="#rep-manifest${TAB}2"$'\n'
	local -a dirs=()
	for n; do
		[[ $n == *:remove ]] || dirs+=("$apps/$n")
	done
	[ ${#dirs[@]} -eq 0 ] || tree_infos "${dirs[@]}"
	for n; do
		if [[ $n == *:remove ]]; then
			out+="${n%:remove}${TAB}0${TAB}0$TAB$EMPTY_SHA256${TAB}0${TAB}remove$TAB-"$'\n'
			continue
		fi
		out+="$n$TAB${TREE_INFO[$apps/$n]}$TAB$(find "$apps/$n" -mindepth 1 -type d | wc -l)${TAB}add$TAB-"$'\n'
	done
	printf '%s' "${out%$'\n'}"
}

# rows_of MANIFEST-TEXT: its records as name, files, bytes, checksum (the
# fields of rep-ls -o name,files,bytes,checksum), without the version line.
rows_of() {
	grep -v '^#' <<<"$1" | cut -f 1-4
}

# archive_manifest ARCHIVE: the MANIFEST entry.
archive_manifest() {
	tar -xOzf "$1" MANIFEST
}

# plural N WORD: "1 WORD" or "N WORDs".
plural() {
	if [ "$1" -eq 1 ]; then printf '%s %s' "$1" "$2"; else printf '%s %ss' "$1" "$2"; fi
}

# summary ARCHIVE: the expected summary line for ARCHIVE as printed by rep-tar,
# its counts taken from its manifest (files = regular files and symlinks;
# removal rows counted apart, and only told when there are some).
summary() {
	local apps files bytes removals size
	read -r apps files bytes removals < <(tar -xOzf "$1" MANIFEST |
		awk -F'\t' '/^#/ { next } $6 == "remove" { r++; next } { a++; f += $2; b += $3 }
			END { print a + 0, f + 0, b + 0, r + 0 }')
	size=$(stat -c %s -- "$1")
	printf 'rep-tar: %s, %s, %s%s in %s (%s)' "$(plural "$apps" application)" "$(plural "$files" file)" \
		"$(plural "$bytes" byte)" "$(if [ "$removals" -gt 0 ]; then printf ', %s' "$(plural "$removals" removal)"; fi)" \
		"$1" "$(plural "$size" byte)"
}

# assert_archive DIR: $output is one line DIR/rep_applications_YYYYMMDD_HHMMSS[_N].tar.gz
# naming a regular file; sets ARCHIVE to it.
assert_archive() {
	local base=${output##*/}
	if [ "$output" != "$1/$base" ] || ! [[ $base =~ $ARCHIVE_RE ]]; then
		batslib_print_kv_single_or_multi 8 expected "$1/rep_applications_YYYYMMDD_HHMMSS.tar.gz" \
			output "$output" | batslib_decorate 'not the path of an archive' | fail
		return
	fi
	if [ ! -f "$output" ] || [ -L "$output" ]; then
		fail "$output: not a regular file"
		return
	fi
	ARCHIVE=$output
}

# assert_entries DIR [NAME...]: DIR is a directory holding exactly NAMEs
# (hidden entries included: a leftover .rep-tar-*.tmp shows).
assert_entries() {
	local dir=$1 actual expected
	shift
	if [ ! -d "$dir" ]; then
		fail "$dir: not a directory"
		return
	fi
	actual=$(ls -A -- "$dir")
	expected=$(if [ $# -gt 0 ]; then printf '%s\n' "$@" | LC_ALL=C sort; fi)
	if [ "$actual" != "$expected" ]; then
		batslib_print_kv_single_or_multi 8 expected "$expected" actual "$actual" |
			batslib_decorate "entries of $dir differ" | fail
	fi
}

# assert_absent PATH...: nothing at these paths.
assert_absent() {
	local p
	for p; do
		if [ -e "$p" ] || [ -L "$p" ]; then
			fail "$p exists but should not: $(ls -lA -- "$p")"
			return
		fi
	done
}

# listing ARCHIVE: GNU tar's verbose listing in UTC, spaces squeezed.
listing() {
	TZ=UTC tar --full-time -tvzf "$1" | tr -s ' '
}

# headers ARCHIVE: one line per raw tar header: TYPEFLAG MAGIC UID GID UNAME GNAME
# (empty names as -), and for a pax header the keys of its records.
headers() {
	"$PYTHON" - "$1" <<'EOF'
import gzip, sys
d = gzip.open(sys.argv[1]).read()
i = 0
while i + 512 <= len(d):
    h = d[i:i + 512]
    if h == b'\0' * 512:
        break
    num = lambda b: int(b.split(b'\0')[0].strip() or b'0', 8)
    s = lambda b: b.split(b'\0')[0].decode() or '-'
    size = num(h[124:136])
    t = chr(h[156])
    line = '%s %s %d %d %s %s' % (t, h[257:265].replace(b'\0', b'_').decode(), num(h[108:116]),
                                  num(h[116:124]), s(h[265:297]), s(h[297:329]))
    if t in 'xg':
        data = d[i + 512:i + 512 + size].decode()
        keys = []
        while data:
            n = int(data.split(' ', 1)[0])
            keys.append(data[:n].split(' ', 1)[1].split('=', 1)[0])
            data = data[n:]
        line += ' ' + ','.join(keys)
    print(line)
    i += 512 + (size + 511) // 512 * 512
EOF
}

# wait_tmp DIR: wait (10 s at most) until rep-tar's temporary appears in DIR.
wait_tmp() {
	local i
	for ((i = 0; i < 1000; i++)); do
		if compgen -G "$1/.rep-tar-*.tmp" >/dev/null; then
			return 0
		fi
		sleep 0.01
	done
}

# pack_and_kill SIGNAL DIR: start rep-tar -j 1 on the names in ./names with
# output directory DIR, send SIGNAL 0.2 s after its temporary appeared, wait;
# sets status, output and stderr as run does.  If it finished first, it
# starts again and signals at once.
pack_and_kill() {
	local sig=$1 dir=$2 delay=0.2 try pid
	for try in 1 2 3; do
		# bash starts a background job with SIGINT ignored, and rep-tar
		# leaves ignored signals ignored (nohup)
		env --default-signal=INT rep-tar -j 1 -d "$dir" <names >out 2>err &
		pid=$!
		wait_tmp "$dir"
		sleep "$delay"
		kill -s "$sig" "$pid" 2>/dev/null || true
		status=0
		wait "$pid" || status=$?
		output=$(cat out)
		stderr=$(cat err)
		[ "$status" -eq 0 ] || return 0
		echo "# try $try: rep-tar finished before SIG$sig; again" >&3
		rm -f -- "$dir"/rep_applications_*.tar.gz
		delay=0
	done
}

# failed_records REASON NAME...: the failure records rep-tar prints on stdout
# when it fails with REASON (its message without "rep-tar: ") after resolving
# its names: one per NAME, in the order given, with the checksum the database
# has for it.
failed_records() {
	local reason=$1 name sum
	shift
	for name; do
		sum=$("$FIXTURE_BIN/rep-ls" -o checksum "$name" </dev/null) || return
		printf '%s\t-\t-\t%s\tfailed\t%s\n' "$name" "$sum" "$reason"
	done
}

# --- names and output -------------------------------------------------------------------

@test "names as operands: prints the archive's path, summary on stderr, the applications inside" {
	mkapp app-a README src/main.c
	mkapp app-b README
	mkapp app-c
	register app-a app-b app-c
	run --separate-stderr rep-tar app-b app-a </dev/null
	assert_success
	assert_archive dist
	assert_stderr "$(summary "$ARCHIVE")"
	assert_stderr "rep-tar: 2 applications, 3 files, $((13 + 17 + 13)) bytes in $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
	assert_equal "$(archive_manifest "$ARCHIVE")" "$(manifest app-a app-b)"
	assert_equal "$(tar -tzf "$ARCHIVE")" "$(lines MANIFEST rep_applications/ \
		rep_applications/app-a/ rep_applications/app-a/README rep_applications/app-a/src/ \
		rep_applications/app-a/src/main.c rep_applications/app-b/ rep_applications/app-b/README)"
	assert_entries dist "${ARCHIVE#dist/}"
}

@test "the archive's name is the UTC time of the run, whatever TZ says" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	local before after stamp
	before=$(date -u +%Y%m%d_%H%M%S)
	TZ=XYZ-14 run --separate-stderr rep-tar -q app-a app-b </dev/null
	after=$(date -u +%Y%m%d_%H%M%S)
	assert_success
	assert_archive dist
	refute_stderr
	stamp=${ARCHIVE#dist/rep_applications_}
	stamp=${stamp%.tar.gz}
	if [[ $stamp < $before || $stamp > $after ]]; then
		fail "stamp $stamp is not between $before and $after (UTC)"
	fi
}

@test "names from stdin: rep-ls -o name | rep-tar; full records of rep-ls -H -s ready (header skipped)" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	register app-a app-b app-c
	setstatus ready app-a app-c
	run --separate-stderr bash -c 'rep-ls -o name | rep-tar' </dev/null
	assert_success
	assert_archive dist
	assert_stderr "$(summary "$ARCHIVE")"
	assert_equal "$(archive_manifest "$ARCHIVE")" "$(manifest app-a app-b app-c)"
	run --separate-stderr bash -c 'rep-ls -H -s ready | rep-tar -d ready' </dev/null
	assert_success
	assert_archive ready
	assert_stderr "$(summary "$ARCHIVE")"
	assert_equal "$(archive_manifest "$ARCHIVE")" "$(manifest app-a app-c)"
}

@test "'-' reads stdin among operands; duplicates are packed once; any status but retired is packed" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	mkapp app-d
	register app-a app-b app-c app-d
	setstatus failed app-c
	setstatus deployed app-d
	run --separate-stderr rep-tar app-b - app-a app-b app-d <<<$'app-c\tfailed\n\n# a comment\napp-a\n'
	assert_success
	assert_archive dist
	assert_stderr "$(summary "$ARCHIVE")"
	assert_stderr "rep-tar: 4 applications, 4 files, 52 bytes in $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
	assert_equal "$(archive_manifest "$ARCHIVE")" "$(manifest app-a app-b app-c app-d)"
	assert_equal "$(tar -tzf "$ARCHIVE" | grep -c '/README$')" 4
}

# --- retired applications: removal rows -----------------------------------------------

@test "a retired application: a removal row and no entries; its directory is not read" {
	mkapp app-a README sub/file
	mkapp app-r README sub/file
	register app-a app-r
	setstatus retired app-r
	# what would stop rep-tar in an application it packs: content changed
	# since registration, a FIFO, a link leaving it
	echo changed >rep_applications/app-r/README
	mkfifo rep_applications/app-r/fifo
	ln -s /etc/passwd rep_applications/app-r/out
	run --separate-stderr rep-tar app-r </dev/null
	assert_success
	assert_archive dist
	assert_stderr "rep-tar: 0 applications, 0 files, 0 bytes, 1 removal in $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
	assert_stderr "$(summary "$ARCHIVE")"
	assert_equal "$(archive_manifest "$ARCHIVE")" \
		"$(printf '#rep-manifest\t2\napp-r\t0\t0\t%s\t0\tremove\t-' "$EMPTY_SHA256")"
	assert_equal "$(tar -tzf "$ARCHIVE")" "$(lines MANIFEST rep_applications/)"
	assert_equal "$(listing "$ARCHIVE" | cut -d ' ' -f 1,2)" "$(lines '-rw-r--r-- 0/0' 'drwxr-xr-x 0/0')"
	assert_entries dist "${ARCHIVE#dist/}"
	# the same without its directory
	rm -r rep_applications/app-r
	run --separate-stderr rep-tar app-r </dev/null
	assert_success
	assert_archive dist
	assert_stderr "$(summary "$ARCHIVE")"
	assert_equal "$(archive_manifest "$ARCHIVE")" "$(manifest app-r:remove)"
	assert_equal "$(tar -tzf "$ARCHIVE")" "$(lines MANIFEST rep_applications/)"
	# a removal has no content: the two archives hold the same bytes once
	# their mtimes are clamped alike
	rm -r dist
	SOURCE_DATE_EPOCH=0 rep-tar -q -d one app-r </dev/null >/dev/null
	mkapp app-r README
	SOURCE_DATE_EPOCH=0 rep-tar -q -d two app-r </dev/null >/dev/null
	cmp one/rep_applications_*.tar.gz two/rep_applications_*.tar.gz
}

@test "retired and other applications in one archive: removal rows in name order, the others packed" {
	mkapp app-a README src/main.c
	mkapp app-b
	mkapp app-c
	mkapp app-d
	register app-a app-b app-c app-d
	setstatus ready app-a app-c
	setstatus retired app-b app-d
	rm -r rep_applications/app-d
	run --separate-stderr rep-tar app-d app-c app-b app-a </dev/null
	assert_success
	assert_archive dist
	assert_stderr "rep-tar: 2 applications, 3 files, $((13 + 17 + 13)) bytes, 2 removals in $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
	assert_stderr "$(summary "$ARCHIVE")"
	assert_equal "$(archive_manifest "$ARCHIVE")" "$(manifest app-a app-b:remove app-c app-d:remove)"
	assert_equal "$(tar -tzf "$ARCHIVE")" "$(lines MANIFEST rep_applications/ \
		rep_applications/app-a/ rep_applications/app-a/README rep_applications/app-a/src/ \
		rep_applications/app-a/src/main.c rep_applications/app-c/ rep_applications/app-c/README)"
	# -t checks it and prints its MANIFEST as it is
	run --separate-stderr rep-tar -t "$ARCHIVE" </dev/null
	assert_success
	assert_output "$(manifest app-a app-b:remove app-c app-d:remove)"
	refute_stderr
	# one of each, singular
	run --separate-stderr rep-tar app-c app-d </dev/null
	assert_success
	assert_archive dist
	assert_stderr "rep-tar: 1 application, 1 file, 13 bytes, 1 removal in $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
}

@test "rep-ls -s retired | rep-tar: an archive of removal rows only, which rep-tar -t accepts" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	register app-a app-b app-c
	setstatus retired app-a app-c
	rm -r rep_applications/app-a
	run --separate-stderr bash -c 'rep-ls -s retired | rep-tar' </dev/null
	assert_success
	assert_archive dist
	assert_stderr "rep-tar: 0 applications, 0 files, 0 bytes, 2 removals in $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
	assert_equal "$(archive_manifest "$ARCHIVE")" "$(manifest app-a:remove app-c:remove)"
	assert_equal "$(tar -tzf "$ARCHIVE")" "$(lines MANIFEST rep_applications/)"
	run --separate-stderr rep-tar -t "$ARCHIVE" </dev/null
	assert_success
	assert_output "$(manifest app-a:remove app-c:remove)"
	refute_stderr
	# GNU tar unpacks it to an empty rep_applications/
	mkdir x
	tar -C x -xzf "$ARCHIVE"
	assert_equal "$(cd x && find . | LC_ALL=C sort)" "$(lines . ./MANIFEST ./rep_applications)"
	# nothing retired: nothing to package, as before
	setstatus registered app-a app-c
	run --separate-stderr bash -c 'rep-ls -s retired | rep-tar -d none' </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-tar: nothing to package'
	assert_absent none
}

@test "retired applications change none of the failures: unregistered names, bad content elsewhere, nothing written; no failure record for them" {
	mkapp app-a
	mkapp app-b
	mkapp app-r
	register app-a app-b app-r
	setstatus retired app-r
	# an unregistered name is not a removal
	run --separate-stderr rep-tar app-r app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: app-x: not registered'
	assert_absent dist
	run --separate-stderr rep-tar app-r .hidden </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: .hidden: invalid application name ($NAME_RULE)"
	assert_absent dist
	# an application that is packed and changed: nothing written
	same_size_edit rep_applications/app-b/README
	run --separate-stderr rep-tar app-a app-r app-b </dev/null
	assert_failure 2
	assert_output "$(failed_records 'app-b: content changed since it was registered (see rep-diff)' app-a app-b)"
	assert_stderr 'rep-tar: app-b: content changed since it was registered (see rep-diff)'
	assert_absent dist
	# an application that is packed and gone: nothing written
	rm -r rep_applications/app-a
	run --separate-stderr rep-tar app-r app-a </dev/null
	assert_failure 2
	assert_output "$(failed_records 'app-a: no such directory in rep_applications' app-a)"
	assert_stderr 'rep-tar: app-a: no such directory in rep_applications'
	assert_absent dist
	# only retired ones, and the output directory cannot be made: no record at all
	: >afile
	run --separate-stderr rep-tar -d afile/sub app-r </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: afile/sub: Not a directory'

}

@test "-q silences the summary, the path is still printed" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	run --separate-stderr rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	run --separate-stderr rep-tar --quiet app-a app-b </dev/null
	assert_success
	assert_archive dist
	refute_stderr
}

@test "the summary counts files as the manifest does: regular files and symlinks" {
	mkapp app-a README sub/file
	mkapp app-b
	ln -s sub/file rep_applications/app-a/link
	ln -s README rep_applications/app-b/link
	register app-a app-b
	run --separate-stderr rep-tar app-a app-b </dev/null
	assert_success
	assert_archive dist
	assert_stderr "rep-tar: 2 applications, 5 files, $((13 + 15 + 13)) bytes in $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
}

@test "the summary of one application and one file is in the singular" {
	mkapp app-a
	register app-a
	run --separate-stderr rep-tar app-a </dev/null
	assert_success
	assert_archive dist
	assert_stderr "rep-tar: 1 application, 1 file, 13 bytes in $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
}

@test "a progress line only when stderr is a terminal, erased before the summary; none with -q" {
	command -v script >/dev/null || skip 'script(1) is not installed'
	mkapp app-a
	mkapp app-b
	register app-a app-b
	# script(1): the tool's stderr is a terminal; $output is what it showed
	run --separate-stderr script -qec 'rep-tar app-a app-b >path' /dev/null </dev/null
	assert_success
	refute_stderr
	ARCHIVE=$(cat path)
	[[ $output == $'\r'"rep-tar: "*"applications"*$'\r\e[K'"$(summary "$ARCHIVE")"$'\r' ]] ||
		fail "no progress line erased before the summary: $(printf '%q' "$output")"
	run --separate-stderr script -qec 'rep-tar -q app-a app-b >path' /dev/null </dev/null
	assert_success
	assert_output ''
	refute_stderr
	[[ $(cat path) =~ ^dist/rep_applications_ ]]
}

@test "no input: exit 0, nothing written (no output directory), 'nothing to package'; -q silences it" {
	mkapp app-a
	register app-a
	run --separate-stderr rep-tar </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-tar: nothing to package'
	run --separate-stderr rep-tar - </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-tar: nothing to package'
	run --separate-stderr rep-tar -d out <<<$'\n# only a comment\n\n'
	assert_success
	assert_output ''
	assert_stderr 'rep-tar: nothing to package'
	run --separate-stderr bash -c 'rep-ls -s ready | REP_DIST=env rep-tar' </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-tar: nothing to package'
	run --separate-stderr rep-tar -q </dev/null
	assert_success
	assert_output ''
	refute_stderr
	assert_absent dist out env
}

@test "an unregistered or invalid name: exit 2, nothing written" {
	mkapp app-a
	mkapp app-x
	register app-a
	run --separate-stderr rep-tar app-a app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: app-x: not registered'
	assert_absent dist
	run --separate-stderr rep-tar <<<$'app-a\nnope'
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: nope: not registered'
	assert_absent dist
	run --separate-stderr rep-tar app-a .hidden </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: .hidden: invalid application name ($NAME_RULE)"
	assert_absent dist
	mkdir dist
	run --separate-stderr rep-tar -d dist app-x </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: app-x: not registered'
	assert_entries dist
}

@test "a CR before LF in the input is an error naming the line, nothing written" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	run --separate-stderr rep-tar <<<$'app-a\napp-b\r'
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: stdin:2: CR before LF (convert the input with dos2unix)'
	assert_absent dist
}

@test "a missing database: exit 2, nothing created; a failure record of unknown content (-)" {
	mkapp app-a
	run --separate-stderr rep-tar app-a </dev/null
	assert_failure 2
	assert_output "app-a${TAB}-${TAB}-${TAB}-${TAB}failed${TAB}metadata.db: no such database (create it with rep-register)"
	assert_stderr 'rep-tar: metadata.db: no such database (create it with rep-register)'
	assert_no_db
	assert_absent dist
}

@test "an application directory gone since registration: exit 2, nothing written, a failure record per name" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	rm -r rep_applications/app-b
	run --separate-stderr rep-tar app-a app-b </dev/null
	assert_failure 2
	assert_output "$(failed_records 'app-b: no such directory in rep_applications' app-a app-b)"
	assert_stderr 'rep-tar: app-b: no such directory in rep_applications'
	assert_absent dist
	mv rep_applications apps
	run --separate-stderr rep-tar --apps apps app-b app-a </dev/null
	assert_failure 2
	assert_output "$(failed_records 'app-b: no such directory in apps' app-b app-a)"
	assert_stderr 'rep-tar: app-b: no such directory in apps'
	assert_absent dist
	# replaced by a link to a directory: said so, not followed
	ln -s app-a apps/app-b
	run --separate-stderr rep-tar --apps apps app-a app-b </dev/null
	assert_failure 2
	assert_stderr 'rep-tar: app-b: a symbolic link, not a directory (not followed) in apps'
	assert_absent dist
}

# --- the archive -------------------------------------------------------------------------

@test "entries: MANIFEST first, sorted by path, modes 0644/0755, dirs 0755, symlinks, owner 0/0 without names" {
	sample_tree
	register app-a app-b
	run --separate-stderr rep-tar -q app-b app-a </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	local m a=rep_applications/app-a
	m=$(manifest app-a app-b)$'\n' # its size: one line per application, each ending in LF
	assert_equal "$(archive_manifest "$ARCHIVE")" "${m%$'\n'}"
	# plain `tar tv` (no --numeric-owner) shows 0/0: no user or group names are stored
	assert_equal "$(listing "$ARCHIVE")" "$(lines \
		"-rw-r--r-- 0/0 ${#m} $EPOCH_TV MANIFEST" \
		"drwxr-xr-x 0/0 0 $EPOCH_TV rep_applications/" \
		"drwxr-xr-x 0/0 0 $T0_TV $a/" \
		"-rw-r--r-- 0/0 13 $T0_TV $a/README" \
		"drwxr-xr-x 0/0 0 $T0_TV $a/bin/" \
		"-rwxr-xr-x 0/0 14 $T0_TV $a/bin/run" \
		"drwxr-xr-x 0/0 0 $T0_TV $a/empty/" \
		"-rw-r--r-- 0/0 13 $T0_TV $a/hard" \
		"lrwxrwxrwx 0/0 0 $T0_TV $a/link -> sub/file" \
		"drwxr-xr-x 0/0 0 $T0_TV $a/sub/" \
		"-rw-r--r-- 0/0 12 $T0_TV $a/sub-x" \
		"-rw-r--r-- 0/0 12 $T0_TV $a/sub.c" \
		"-rw-r--r-- 0/0 15 $T0_TV $a/sub/file" \
		"lrwxrwxrwx 0/0 0 $T0_TV $a/sub/up -> ../README" \
		"drwxr-xr-x 0/0 0 $T0_TV rep_applications/app-b/" \
		"-rw-r--r-- 0/0 13 $T0_TV rep_applications/app-b/README")"
	# the same seen by bsdtar: the hard link is a second regular file
	assert_equal "$(bsdtar -tvzf "$ARCHIVE" | awk '{ print $1, $3, $4, $5 }' | sort -u)" "$(lines \
		'-rw-r--r-- 0 0 12' '-rw-r--r-- 0 0 13' '-rw-r--r-- 0 0 15' "-rw-r--r-- 0 0 ${#m}" \
		'-rwxr-xr-x 0 0 14' 'drwxr-xr-x 0 0 0' 'lrwxrwxrwx 0 0 0')"
}

@test "format: ustar headers, uid/gid 0 and no names; pax only for a name that needs it, with only a path" {
	mkapp app-a README bin/run
	ln -s README rep_applications/app-a/link
	"$PYTHON" -c 'import os, sys; os.setxattr(sys.argv[1], "user.rep", b"x")' \
		rep_applications/app-a/README 2>/dev/null || true
	register app-a
	run --separate-stderr rep-tar -q app-a </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	assert_equal "$(headers "$ARCHIVE" | sort -u)" "$(lines '0 ustar_00 0 0 - -' '2 ustar_00 0 0 - -' \
		'5 ustar_00 0 0 - -')"
	# a 150-byte file name does not fit ustar: a pax header with the path alone
	local long
	long=$(printf 'n%.0s' {1..150})
	mkapp app-b "$long"
	register app-b
	run --separate-stderr rep-tar -q -d long app-b </dev/null
	assert_success
	assert_archive long
	refute_stderr
	assert_equal "$(headers "$ARCHIVE" | sort -u)" "$(lines '0 ustar_00 0 0 - -' '5 ustar_00 0 0 - -' \
		'x ustar_00 0 0 - - path')"
	assert_equal "$(tar -tzf "$ARCHIVE" | tail -n 1)" "rep_applications/app-b/$long"
}

@test "gzip: a member per MiB of the tar stream, each whole on its own, no name, mtime 0, OS 3, its size in an 'RP' extra field; gzip -t, pigz -t and every reader accept it" {
	local tree
	shared_tree tree -n 4 -f 8 -s 65536 --seed 7
	export REP_APPS=$tree
	rep-register -q --all >/dev/null </dev/null
	run --separate-stderr bash -c 'rep-ls -o name | rep-tar -q' </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	gzip -t "$ARCHIVE"
	pigz -t "$ARCHIVE"
	# each member: the fixed header with FEXTRA, an extra field 'RP' of
	# 4 bytes holding the member's whole size (which is where the member
	# ends), inflated by itself, 1 MiB but the last, its CRC and length
	# its own; together the whole tar stream
	run python3 - "$ARCHIVE" <<-'PY'
		import struct, sys, zlib
		data = open(sys.argv[1], 'rb').read()
		total, sizes = b'', []
		while data:
		    assert data[:16] == bytes([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 8, 0, 82, 80, 4, 0]), data[:16].hex()
		    size = struct.unpack('<I', data[16:20])[0]
		    d = zlib.decompressobj(16 + 15)
		    out = d.decompress(data)
		    assert d.eof, 'a member that does not end'
		    assert len(data) - len(d.unused_data) == size, (size, len(data) - len(d.unused_data))
		    sizes.append(len(out))
		    total += out
		    data = d.unused_data
		assert all(n == 1 << 20 for n in sizes[:-1]) and 0 < sizes[-1] <= 1 << 20, sizes
		import gzip
		assert gzip.decompress(open(sys.argv[1], 'rb').read()) == total
		print(len(sizes), len(total))
	PY
	assert_success
	local size
	size=$(gzip -dc "$ARCHIVE" | wc -c)
	[ "$size" -gt $((1024 * 1024)) ] # two members at least
	assert_output "$(( (size + 1048575) / 1048576 )) $size"
}

@test "MANIFEST equals rep-ls -o name,files,bytes,checksum of the packed applications, sorted bytewise" {
	mkapp app-a README src/main.c
	mkapp B-up
	mkapp app-c
	mkapp app-d
	ln -s src/main.c rep_applications/app-a/main
	chmod +x rep_applications/app-a/src/main.c
	register app-a B-up app-c app-d
	run --separate-stderr rep-tar app-c app-a B-up </dev/null
	assert_success
	assert_archive dist
	assert_stderr "$(summary "$ARCHIVE")"
	assert_equal "$(rows_of "$(archive_manifest "$ARCHIVE")")" "$(rep-ls -o name,files,bytes,checksum app-a B-up app-c </dev/null)"
	assert_equal "$(archive_manifest "$ARCHIVE")" "$(manifest B-up app-a app-c)"
	assert_equal "$(tar -tzf "$ARCHIVE" | head -n 1)" MANIFEST
}

@test "GNU tar, bsdtar and Python's tarfile extract the same tree: the applications as they are, plus MANIFEST" {
	sample_tree
	local long
	long=$(printf 'l%.0s' {1..140})
	mkapp app-c "deep/$long"
	register app-a app-b app-c
	run --separate-stderr rep-tar -q app-a app-b app-c </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	mkdir gnu bsd py
	tar -C gnu -xzf "$ARCHIVE"
	bsdtar -C bsd -xzf "$ARCHIVE"
	"$PYTHON" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
		"$ARCHIVE" py
	diff -r --no-dereference gnu bsd
	diff -r --no-dereference gnu py
	diff <(cd gnu && find . -printf '%P %y %m %l\n' | sort) <(cd bsd && find . -printf '%P %y %m %l\n' | sort)
	diff <(cd gnu && find . -printf '%P %y %m %l\n' | sort) <(cd py && find . -printf '%P %y %m %l\n' | sort)
	assert_equal "$(ls gnu)" "$(lines MANIFEST rep_applications)"
	diff -r --no-dereference rep_applications gnu/rep_applications
	# types, exec bits and link targets as in the original; modes normalised
	diff <(cd rep_applications && find . -mindepth 1 -printf '%P %y %l\n' | sort) \
		<(cd gnu/rep_applications && find . -mindepth 1 -printf '%P %y %l\n' | sort)
	assert_equal "$(stat -c '%a %h' gnu/rep_applications/app-a/README gnu/rep_applications/app-a/bin/run \
		gnu/rep_applications/app-a/sub gnu/rep_applications/app-a/bin gnu/rep_applications/app-a/hard)" \
		"$(lines '644 1' '755 1' '755 2' '755 2' '644 1')"
}

# --- reproducibility -----------------------------------------------------------------------

@test "reproducible: two runs a second apart under umask 022 and 077 give the same bytes; modes 0644 and 0600" {
	sample_tree
	register app-a app-b
	run --separate-stderr with_umask 022 rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	local first=$ARCHIVE
	sleep 1
	run --separate-stderr with_umask 077 rep-tar -q app-b app-a </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	[ "$ARCHIVE" != "$first" ]
	cmp "$first" "$ARCHIVE"
	assert_equal "$(stat -c %a "$first" "$ARCHIVE")" "$(lines 644 600)"
	assert_entries dist "${first#dist/}" "${ARCHIVE#dist/}"
}

@test "SOURCE_DATE_EPOCH clamps mtimes (older ones kept); the same content elsewhere gives the same bytes" {
	sample_tree
	touch -d @1500000000 rep_applications/app-b/README # 2017-07-14 02:40:00, before the epoch
	register app-a app-b
	export SOURCE_DATE_EPOCH=1550000000 # 2019-02-12 19:33:20
	run --separate-stderr with_umask 022 rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	local first=$ARCHIVE
	assert_equal "$(listing "$first" | awk '{ print $4, $5, $6 }')" "$(lines \
		'2019-02-12 19:33:20 MANIFEST' \
		'2019-02-12 19:33:20 rep_applications/' \
		'2019-02-12 19:33:20 rep_applications/app-a/' \
		'2019-02-12 19:33:20 rep_applications/app-a/README' \
		'2019-02-12 19:33:20 rep_applications/app-a/bin/' \
		'2019-02-12 19:33:20 rep_applications/app-a/bin/run' \
		'2019-02-12 19:33:20 rep_applications/app-a/empty/' \
		'2019-02-12 19:33:20 rep_applications/app-a/hard' \
		'2019-02-12 19:33:20 rep_applications/app-a/link' \
		'2019-02-12 19:33:20 rep_applications/app-a/sub/' \
		'2019-02-12 19:33:20 rep_applications/app-a/sub-x' \
		'2019-02-12 19:33:20 rep_applications/app-a/sub.c' \
		'2019-02-12 19:33:20 rep_applications/app-a/sub/file' \
		'2019-02-12 19:33:20 rep_applications/app-a/sub/up' \
		'2019-02-12 19:33:20 rep_applications/app-b/' \
		'2017-07-14 02:40:00 rep_applications/app-b/README')"
	# a second later, other mtimes (after the epoch), umask 077: the same bytes
	sleep 1
	touch_tree rep_applications/app-a 1700000000
	run --separate-stderr with_umask 077 rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	[ "$ARCHIVE" != "$first" ]
	cmp "$first" "$ARCHIVE"
	assert_equal "$(stat -c %a "$first" "$ARCHIVE")" "$(lines 644 600)"
	# a copy made under umask 077 (other modes, inodes, order; the hard link
	# now two files) registered in another database: the same bytes
	(umask 077 && cp -R rep_applications copy)
	touch -d @1500000000 copy/app-b/README
	rep-register -q --apps copy --db copy.db app-b app-a >/dev/null </dev/null
	run --separate-stderr rep-tar -q --apps copy --db copy.db -d copy-dist app-b app-a </dev/null
	assert_success
	assert_archive copy-dist
	refute_stderr
	cmp "$first" "$ARCHIVE"
}

@test "a SOURCE_DATE_EPOCH that is not a number of seconds: exit 2, nothing written" {
	mkapp app-a
	register app-a
	SOURCE_DATE_EPOCH=yesterday run --separate-stderr rep-tar app-a </dev/null
	assert_failure 2
	assert_stderr --regexp '^rep-tar: SOURCE_DATE_EPOCH[=:].*yesterday'
	# found out after the names were resolved: a failure record
	assert_output "$(failed_records "${stderr#rep-tar: }" app-a)"
	assert_absent dist
}

@test "-j 1, 2, 4, 16 and the default give the same bytes; -l 6 is the default" {
	local tree
	shared_tree tree -n 4 -f 8 -s 65536 --seed 7
	export REP_APPS=$tree
	rep-register -q --all >/dev/null </dev/null
	rep-ls -o name </dev/null >names
	local j first=''
	for j in 1 2 4 16 default l6; do
		case $j in
		default) run --separate-stderr rep-tar -q -d "d-$j" <names ;;
		l6) run --separate-stderr rep-tar -q -l 6 -d "d-$j" <names ;;
		*) run --separate-stderr rep-tar -q -j "$j" -d "d-$j" <names ;;
		esac
		assert_success
		assert_archive "d-$j"
		refute_stderr
		if [ -z "$first" ]; then first=$ARCHIVE; else cmp "$first" "$ARCHIVE"; fi
	done
	[ "$(gzip -dc "$first" | wc -c)" -gt $((1024 * 1024)) ] # several members
}

@test "-l 1 and -l 9 are valid, differ from each other, and hold the same tar" {
	local tree
	shared_tree tree -n 4 -f 8 -s 65536 --seed 7
	export REP_APPS=$tree
	rep-register -q --all >/dev/null </dev/null
	rep-ls -o name </dev/null >names
	run --separate-stderr rep-tar -q -l 1 -d l1 <names
	assert_success
	assert_archive l1
	refute_stderr
	local fast=$ARCHIVE
	run --separate-stderr rep-tar -q --level=9 --threads=2 -d l9 <names
	assert_success
	assert_archive l9
	refute_stderr
	local best=$ARCHIVE
	if cmp -s "$fast" "$best"; then
		fail '-l 1 and -l 9 gave the same bytes'
	fi
	[ "$(stat -c %s "$best")" -lt "$(stat -c %s "$fast")" ]
	gzip -t "$fast" "$best"
	cmp <(gzip -dc "$fast") <(gzip -dc "$best")
	run --separate-stderr rep-tar -t "$best" </dev/null
	assert_success
	assert_equal "$(rows_of "$output")" "$(rep-ls -o name,files,bytes,checksum </dev/null)"
	refute_stderr
}

@test "bad -l and -j values: exit 2 with the message, nothing written" {
	mkapp app-a
	register app-a
	local v
	for v in 0 10 x '' 1x -1 6.0; do
		run --separate-stderr rep-tar -l "$v" app-a </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr "rep-tar: -l $v: not a number from 1 to 9 (try 'rep-tar --help')"
	done
	for v in 0 17 x '' 2x -2; do
		run --separate-stderr rep-tar -j "$v" app-a </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr "rep-tar: -j $v: not a number from 1 to 16 (try 'rep-tar --help')"
	done
	run --separate-stderr rep-tar app-a -l </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: -l: option requires an argument (try 'rep-tar --help')"
	run --separate-stderr rep-tar -x app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: -x: unknown option (try 'rep-tar --help')"
	assert_absent dist
}

# --- checked while packed ------------------------------------------------------------------

@test "content changed after registration (same size, same mtime): exit 2 naming it, nothing left, a failure record per name in input order" {
	mkapp app-a README src/main.c
	mkapp app-b
	register app-a app-b
	same_size_edit rep_applications/app-a/src/main.c
	run --separate-stderr rep-tar app-b app-a </dev/null
	assert_failure 2
	# every named application, in input order, with its registered
	# checksum; the reason names the modified one
	assert_output "$(lines \
		"app-b${TAB}-${TAB}-${TAB}$(rep-ls -o checksum app-b)${TAB}failed${TAB}app-a: content changed since it was registered (see rep-diff)" \
		"app-a${TAB}-${TAB}-${TAB}$(rep-ls -o checksum app-a)${TAB}failed${TAB}app-a: content changed since it was registered (see rep-diff)")"
	assert_equal "$(rep-ls -o checksum app-a)" "$(sqlite3 metadata.db "SELECT checksum FROM app WHERE name = 'app-a'")"
	assert_stderr 'rep-tar: app-a: content changed since it was registered (see rep-diff)'
	assert_absent dist # it made it, it removed it
	# an existing output directory and archive are left as they were;
	# names from stdin, a duplicate recorded once, at its first place
	mkdir dist
	echo old >dist/rep_applications_20200101_000000.tar.gz
	run --separate-stderr rep-tar <<<$'app-a\napp-b\napp-a'
	assert_failure 2
	assert_output "$(failed_records 'app-a: content changed since it was registered (see rep-diff)' app-a app-b)"
	assert_stderr 'rep-tar: app-a: content changed since it was registered (see rep-diff)'
	assert_entries dist rep_applications_20200101_000000.tar.gz
	assert_equal "$(cat dist/rep_applications_20200101_000000.tar.gz)" old
}

@test "failure records | rep-setstatus --record: every named application failed, not packaged, the reason in its history" {
	mkapp app-a
	mkapp app-b
	mkapp app-r
	register app-a app-b app-r
	setstatus ready app-a app-b
	setstatus retired app-r
	same_size_edit rep_applications/app-b/README
	# shellcheck disable=SC2016 # expanded by the inner shell
	run --separate-stderr bash -c 'set -o pipefail
		rep-ls -s ready -s retired -o name | rep-tar -q | rep-setstatus -q --record
		s=("$?" "${PIPESTATUS[@]}"); echo "${s[*]:1}" >pipestatus; exit "${s[0]}"' </dev/null
	assert_failure 1 # rep-setstatus says a failed record was read
	assert_equal "$(cat pipestatus)" '0 2 1'
	assert_stderr 'rep-tar: app-b: content changed since it was registered (see rep-diff)'
	assert_output "$(rep-ls app-a app-b)"
	assert_equal "$(rep-ls -o name,status)" "$(lines "app-a${TAB}failed" "app-b${TAB}failed" "app-r${TAB}retired")"
	assert_equal "$(rep-ls --history -o name,from,to,note app-a app-b | tail -n 2)" "$(lines \
		"app-a${TAB}ready${TAB}failed${TAB}record: not packaged: app-b: content changed since it was registered (see rep-diff)" \
		"app-b${TAB}ready${TAB}failed${TAB}record: not packaged: app-b: content changed since it was registered (see rep-diff)")"
	assert_absent dist
}

@test "a file added, removed, made executable, or a symlink retargeted after registration: exit 2" {
	mkapp app-add
	mkapp app-del README other
	mkapp app-exe
	mkapp app-lnk
	ln -s README rep_applications/app-lnk/link
	mkapp app-ok
	register app-add app-del app-exe app-lnk app-ok
	echo new >rep_applications/app-add/new
	rm rep_applications/app-del/other
	chmod +x rep_applications/app-exe/README
	ln -sfn ./README rep_applications/app-lnk/link
	mkdir rep_applications/app-ok/empty # directories are not content: no change
	local app
	for app in app-add app-del app-exe app-lnk; do
		run --separate-stderr rep-tar app-ok "$app" </dev/null
		assert_failure 2
		assert_output "$(failed_records "$app: content changed since it was registered (see rep-diff)" app-ok "$app")"
		assert_stderr "rep-tar: $app: content changed since it was registered (see rep-diff)"
		assert_absent dist
	done
	run --separate-stderr rep-tar -q app-ok </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	tar -tzf "$ARCHIVE" | grep -qx 'rep_applications/app-ok/empty/'
}

@test "a FIFO, a socket or a device inside an application: exit 2, nothing written; all told in one run" {
	mkapp app-fifo
	mkapp app-sock
	mkapp app-dev
	register app-fifo app-sock app-dev
	mkfifo rep_applications/app-fifo/fifo
	(cd rep_applications/app-sock && "$PYTHON" -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")')
	local -A kind=([app-fifo/fifo]='a FIFO' [app-sock/sock]='a socket' [app-dev/null]='a character device')
	local kinds='app-fifo/fifo app-sock/sock' p
	local -a all=()
	if mknod rep_applications/app-dev/null c 1 3 2>/dev/null; then
		kinds="app-dev/null $kinds"
	fi
	for p in $kinds; do
		run --separate-stderr rep-tar "${p%/*}" </dev/null
		assert_failure 2
		assert_output "$(failed_records "$(holds rep-tar "${p%/*}" | sed 's/^rep-tar: //')" "${p%/*}")"
		assert_stderr "$(lines "rep-tar: $p: ${kind[$p]}, not a regular file, directory or symlink" \
			"$(holds rep-tar "${p%/*}")")"
		assert_absent dist
		all+=("rep-tar: $p: ${kind[$p]}, not a regular file, directory or symlink")
	done
	# every one at once, in name order
	run --separate-stderr rep-tar app-sock app-fifo app-dev </dev/null
	assert_failure 2
	assert_output "$(failed_records "$(hold rep-tar ${#all[@]} | sed 's/^rep-tar: //')" app-sock app-fifo app-dev)"
	assert_stderr "$(lines "${all[@]}" "$(hold rep-tar ${#all[@]})")"
	assert_absent dist
}

# (rep-register refuses them too: here they appear after registration)
@test "a symlink leaving its application: exit 2 (absolute, climbing out, through a link to .); all told in one run" {
	mkapp esc-abs
	mkapp esc-up
	mkapp esc-app
	mkapp esc-sub sub/file
	mkapp esc-chain
	ln -s . rep_applications/esc-chain/q
	mkapp esc-mid sub/file
	register esc-abs esc-up esc-app esc-sub esc-chain esc-mid
	ln -s /etc/passwd rep_applications/esc-abs/abs
	ln -s ../../x rep_applications/esc-up/up
	ln -s ../esc-abs/README rep_applications/esc-app/other
	ln -s ../../x rep_applications/esc-sub/sub/up
	ln -s q/../x rep_applications/esc-chain/p
	ln -s sub/../../x rep_applications/esc-mid/m
	local p
	local -a all=()
	# in name order
	for p in 'esc-abs/abs -> /etc/passwd' 'esc-app/other -> ../esc-abs/README' 'esc-chain/p -> q/../x' \
		'esc-mid/m -> sub/../../x' 'esc-sub/sub/up -> ../../x' 'esc-up/up -> ../../x'; do
		run --separate-stderr rep-tar "${p%%/*}" </dev/null
		assert_failure 2
		assert_output "$(failed_records "$(holds rep-tar "${p%%/*}" | sed 's/^rep-tar: //')" "${p%%/*}")"
		assert_stderr "$(lines "rep-tar: $p: symlink points outside the application" "$(holds rep-tar "${p%%/*}")")"
		assert_absent dist
		all+=("rep-tar: $p: symlink points outside the application")
	done
	run --separate-stderr rep-tar esc-up esc-abs esc-app esc-sub esc-chain esc-mid </dev/null
	assert_failure 2
	assert_output "$(failed_records "$(hold rep-tar 6 | sed 's/^rep-tar: //')" \
		esc-up esc-abs esc-app esc-sub esc-chain esc-mid)"
	assert_stderr "$(lines "${all[@]}" "$(hold rep-tar 6)")"
	assert_absent dist
}

@test "symlinks staying inside their application are stored as symlinks" {
	mkapp app-a README sibling sub/file sub/deep/file
	ln -s ../sibling rep_applications/app-a/sub/l
	ln -s sub/file rep_applications/app-a/l2
	ln -s ../../README rep_applications/app-a/sub/deep/l3
	ln -s . rep_applications/app-a/self
	ln -s ./sub/missing rep_applications/app-a/dangling
	register app-a
	run --separate-stderr rep-tar -q app-a </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	assert_equal "$(tar -tvzf "$ARCHIVE" | awk '/^l/ { print $(NF - 2), $NF }')" "$(lines \
		'rep_applications/app-a/dangling ./sub/missing' \
		'rep_applications/app-a/l2 sub/file' \
		'rep_applications/app-a/self .' \
		'rep_applications/app-a/sub/deep/l3 ../../README' \
		'rep_applications/app-a/sub/l ../sibling')"
	run --separate-stderr rep-tar -t "$ARCHIVE" </dev/null
	assert_success
	assert_output "$(manifest app-a)"
	refute_stderr
}

@test "a name with a newline, TAB or ESC in a registered application: exit 2 naming each as \\xHH, nothing written" {
	mkapp app-a README sub/file
	mkapp app-b
	mkapp app-c
	register app-a app-b app-c
	: >rep_applications/app-a/sub/$'new\nline'
	mkdir rep_applications/app-b/$'\e[2J'
	echo x >rep_applications/app-b/$'\e[2J/f'
	ln -s README rep_applications/app-c/$'a\tb'
	mkdir dist
	run --separate-stderr rep-tar app-a </dev/null
	assert_failure 2
	assert_output "$(failed_records "$(holds rep-tar app-a | sed 's/^rep-tar: //')" app-a)"
	assert_stderr "$(lines 'rep-tar: app-a/sub/new\x0aline: a name with a control character' "$(holds rep-tar app-a)")"
	assert_entries dist
	run --separate-stderr rep-tar app-c app-b app-a </dev/null
	assert_failure 2
	assert_output "$(failed_records "$(hold rep-tar 3 | sed 's/^rep-tar: //')" app-c app-b app-a)"
	assert_stderr "$(lines 'rep-tar: app-a/sub/new\x0aline: a name with a control character' \
		'rep-tar: app-b/\x1b[2J: a name with a control character' \
		'rep-tar: app-c/a\x09b: a name with a control character' \
		"$(hold rep-tar 3)")"
	assert_entries dist
}

# A virtualenv made inside an application after its registration links to
# the system's python and libraries; /usr/share/doc-style links climb out.
@test "a virtualenv, a link climbing out, a FIFO, unreadable files and directories: every problem of every application told in one run, nothing written" {
	need_unprivileged
	local A=rep_applications
	mkapp venv README bin/activate lib/python3/site.py etc/key.pem
	mkdir $A/venv/cache
	mkapp other
	mkapp good
	register venv other good
	ln -s /usr/bin/python3 $A/venv/bin/python
	ln -s python $A/venv/bin/python3 # inside: fine
	ln -s /usr/lib/x86_64-linux-gnu/libz.so.1 $A/venv/lib/libz.so.1
	ln -s ../../share/doc $A/venv/doc
	mkfifo $A/venv/lib/python3/fifo
	chmod 000 $A/venv/etc/key.pem $A/venv/cache
	mkfifo $A/other/fifo
	run --separate-stderr as_unprivileged rep-tar -d out venv good other </dev/null
	assert_failure 2
	assert_output "$(failed_records "$(hold rep-tar 2 | sed 's/^rep-tar: //')" venv good other)"
	assert_stderr_lines \
		'rep-tar: other/fifo: a FIFO, not a regular file, directory or symlink' \
		'rep-tar: venv/bin/python -> /usr/bin/python3: symlink points outside the application' \
		'rep-tar: venv/cache: Permission denied' \
		'rep-tar: venv/doc -> ../../share/doc: symlink points outside the application' \
		'rep-tar: venv/etc/key.pem: Permission denied' \
		'rep-tar: venv/lib/libz.so.1 -> /usr/lib/x86_64-linux-gnu/libz.so.1: symlink points outside the application' \
		'rep-tar: venv/lib/python3/fifo: a FIFO, not a regular file, directory or symlink' \
		"$(hold rep-tar 2)"
	# in name order
	assert_equal "${stderr_lines[0]}" 'rep-tar: other/fifo: a FIFO, not a regular file, directory or symlink'
	assert_absent out
	chmod 755 $A/venv/cache
}

@test "control bytes in what a message quotes (a name on stdin, an archive path, the output directory) are shown as \\xHH, one line each" {
	mkapp app-a
	register app-a
	run --separate-stderr rep-tar < <(printf 'app-a\n\e[2Japp-b\n')
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: stdin:2: \\x1b[2Japp-b: invalid application name ($NAME_RULE)"
	run --separate-stderr rep-tar -t $'a\nb.tar.gz' </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: a\x0ab.tar.gz: No such file or directory'
	run --separate-stderr rep-tar -t $'\e]0;x\a.tar.gz' </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: \x1b]0;x\x07.tar.gz: No such file or directory'
	: >afile
	run --separate-stderr rep-tar -d $'afile/\e[1m' app-a </dev/null
	assert_failure 2
	# the failure record's reason shows them the same way: a record is one
	# line of text without control characters
	assert_output "$(failed_records 'afile/\x1b[1m: Not a directory' app-a)"
	assert_stderr 'rep-tar: afile/\x1b[1m: Not a directory'
	assert_absent dist
	# and what is not UTF-8, or a C1 control in UTF-8 (U+0085), as \xHH;
	# other UTF-8 as it is
	run --separate-stderr rep-tar -d $'afile/\xff\xc2\x85\xc3\xa9' app-a </dev/null
	assert_failure 2
	assert_output "$(failed_records $'afile/\\xff\\xc2\\x85\xc3\xa9: Not a directory' app-a)"
	assert_stderr $'rep-tar: afile/\xff\xc2\x85\xc3\xa9: Not a directory'
	assert_absent dist
	# the summary too (stdout has the path as it is, for the next tool)
	local dir=$'out\e[1mx' esc=$'\e' shown
	run --separate-stderr rep-tar -d "$dir" app-a </dev/null
	assert_success
	assert_archive "$dir"
	shown=$(summary "$ARCHIVE")
	assert_stderr "${shown//$esc/'\x1b'}"
}

@test "an output directory whose path holds a TAB, CR or newline (given, or the directory -C leads to) is refused: its archive could not be named in a record" {
	mkapp app-a
	register app-a
	local d shown
	for d in $'out\nx' $'out\tx' $'out\rx'; do
		run --separate-stderr rep-tar -d "$d" app-a </dev/null
		assert_failure 2
		# the reason shows the byte as \xHH: a record is one line
		shown=${d//$'\n'/'\x0a'}
		shown=${shown//$'\t'/'\x09'}
		shown=${shown//$'\r'/'\x0d'}
		assert_output "$(failed_records "$shown: a TAB, CR or newline in the path: its archive could not be named in a record" app-a)"
		assert_stderr --partial ': a TAB, CR or newline in the path: its archive could not be named in a record'
		assert_absent "$d"
	done
	# the same through -C: the path printed would be absolute
	mkdir -p $'w\nx'
	cp metadata.db $'w\nx/'
	cp -r rep_applications $'w\nx/'
	run --separate-stderr rep-tar -C $'w\nx' app-a </dev/null
	assert_failure 2
	assert_stderr --partial 'a TAB, CR or newline in the path'
	assert_absent $'w\nx/dist'
}

# --- output directory, atomicity ----------------------------------------------------------

@test "-d beats REP_DIST beats ./dist; the directory is created if missing; the path printed as given" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	run --separate-stderr env REP_DIST=env-dist rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive env-dist
	refute_stderr
	run --separate-stderr env REP_DIST=env-dist rep-tar -q -d opt-dist app-a app-b </dev/null
	assert_success
	assert_archive opt-dist
	refute_stderr
	run --separate-stderr env REP_DIST=env-dist rep-tar -q --dist=long-dist app-a app-b </dev/null
	assert_success
	assert_archive long-dist
	refute_stderr
	run --separate-stderr env REP_DIST= rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	run --separate-stderr rep-tar -q -d "$BATS_TEST_TMPDIR/abs" app-a app-b </dev/null
	assert_success
	assert_archive "$BATS_TEST_TMPDIR/abs"
	refute_stderr
	local d
	for d in env-dist opt-dist long-dist dist abs; do
		[ "$(find "$d" -mindepth 1 | wc -l)" -eq 1 ]
	done
}

@test "-C DIR: the database, applications and output directory are found in DIR; the path printed is absolute, for the reader of the pipe" {
	mkdir proj
	(cd proj && mkapp app-a && mkapp app-b && register app-a app-b)
	run --separate-stderr rep-tar -C proj -q app-a app-b </dev/null
	assert_absent dist
	assert_success
	assert_archive "$PWD/proj/dist"
	refute_stderr
	(cd proj && assert_equal "$(archive_manifest "$ARCHIVE")" "$(manifest app-a app-b)")
	# as the README pipes it, from where rep-tar was started
	run --separate-stderr bash -o pipefail -c 'rep-tar -C proj -q app-a | rep-push -q t1' </dev/null
	assert_success
	assert_line --index 0 --partial "app-a$TAB"
	[ -L t1/current ]
	# -d relative to -C, and -C given twice: each entered in turn
	mkdir -p top/proj
	mv proj/* top/proj/
	run --separate-stderr rep-tar -C top -C proj -q -d out app-b </dev/null
	assert_success
	assert_archive "$PWD/top/proj/out"
}

@test "an output directory that cannot be made or is not a directory: exit 2, a failure record per name" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	echo data >somefile
	run --separate-stderr rep-tar -d somefile/sub app-a app-b </dev/null
	assert_failure 2
	assert_output "$(failed_records 'somefile/sub: Not a directory' app-a app-b)"
	assert_stderr 'rep-tar: somefile/sub: Not a directory'
	run --separate-stderr rep-tar -d somefile app-b app-a </dev/null
	assert_failure 2
	assert_output "$(failed_records 'somefile: Not a directory' app-b app-a)"
	assert_stderr 'rep-tar: somefile: Not a directory'
	assert_equal "$(cat somefile)" data
	assert_absent dist
}

@test "a read-only output directory: exit 2, nothing written, a failure record per name" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	mkdir ro
	unshare -m sh -c 'mount --bind ro ro && mount -o remount,bind,ro ro' 2>/dev/null ||
		skip 'cannot mount in a new mount namespace'
	run --separate-stderr unshare -m sh -c \
		'mount --bind ro ro && mount -o remount,bind,ro ro || exit 99; rep-tar -d ro app-b app-a' </dev/null
	assert_failure 2
	assert_stderr --regexp '^rep-tar: ro(/[^ ]*)?: Read-only file system$'
	assert_output "$(failed_records "${stderr#rep-tar: }" app-b app-a)"
	assert_entries ro
}

@test "a full disk (64 KiB tmpfs): exit 2, no archive, no temporary" {
	mkapp app-a
	mkapp app-b
	head -c 300000 /dev/urandom >rep_applications/app-b/blob
	register app-a app-b
	mkdir full
	unshare -m sh -c 'mount -t tmpfs -o size=64k tmpfs full' 2>/dev/null ||
		skip 'cannot mount a tmpfs in a new mount namespace'
	# shellcheck disable=SC2016 # expanded by the inner shell
	run --separate-stderr unshare -m sh -c 'mount -t tmpfs -o size=64k tmpfs full || exit 99
		rep-tar -d full app-a app-b; rc=$?; ls -A full >left; exit $rc' </dev/null
	assert_failure 2
	assert_stderr --regexp '^rep-tar: full(/[^ ]*)?: No space left on device$'
	assert_output "$(failed_records "${stderr#rep-tar: }" app-a app-b)"
	assert_equal "$(cat left)" ''
}

@test "a file size limit (ulimit -f, EFBIG): exit 2, no archive, no temporary" {
	mkapp app-a
	mkapp app-b
	head -c 1000000 /dev/urandom >rep_applications/app-b/blob
	register app-a app-b
	mkdir dist
	# 128 KiB: room for the database's side files, not for the archive
	run --separate-stderr bash -c "trap '' XFSZ; ulimit -f 128; exec rep-tar app-a app-b" </dev/null
	assert_failure 2
	assert_stderr --regexp '^rep-tar: dist(/[^ ]*)?: File too large$'
	assert_output "$(failed_records "${stderr#rep-tar: }" app-a app-b)"
	assert_entries dist
}

@test "SIGTERM, SIGINT or SIGHUP mid-run: killed by it, no archive, no temporary, failure records; SIGKILL leaves a .rep-tar-*.tmp" {
	local tree sig code
	shared_tree tree -n 50 -f 20 -s 65536 --seed 3
	export REP_APPS=$tree
	rep-register -q --all >/dev/null </dev/null
	# input order is not name order: the records follow the input
	rep-ls -o name </dev/null | sort -r >names
	mkdir dist
	for sig in TERM INT HUP; do
		pack_and_kill "$sig" dist
		code=$(kill -l "$sig")
		assert_equal "$status" $((128 + code))
		# shellcheck disable=SC2046 # one name a line
		assert_output "$(failed_records "interrupted by signal $code" $(cat names))"
		refute_stderr
		assert_entries dist
	done
	# SIGKILL cannot be caught: the temporary stays, recognisable by its name
	pack_and_kill KILL dist
	assert_equal "$status" 137
	assert_output ''
	refute_stderr
	assert_equal "$(find dist -mindepth 1 -printf '%P\n' | grep -Ec '^\.rep-tar-[A-Za-z0-9]{6}\.tmp$')" 1
	assert_equal "$(find dist -mindepth 1 | wc -l)" 1
}

@test "SIGTERM while a large application is packed: failure records through a pipe, none for the retired one, no temporary" {
	local pid catpid
	mkapp app-big
	head -c $((128 << 20)) /dev/urandom >rep_applications/app-big/blob
	mkapp app-a
	mkapp app-r
	register app-big app-a app-r
	setstatus retired app-r
	mkdir dist
	# stdout is a pipe, as in rep-tar | rep-push; -l 9 -j 1 takes seconds
	# on 128 MiB
	mkfifo pipe
	cat pipe >out &
	catpid=$!
	env --default-signal=INT rep-tar -l 9 -j 1 app-r app-big app-a </dev/null >pipe 2>err &
	pid=$!
	wait_tmp dist
	sleep 0.2
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	wait "$catpid"
	assert_equal "$status" 143
	assert_equal "$(cat out)" "$(failed_records 'interrupted by signal 15' app-big app-a)"
	assert_equal "$(cat err)" ''
	assert_entries dist
}

@test "reading its names from a pipe, a signal waits for the input's end; then every name gets a failure record" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	mkfifo names
	env --default-signal=INT rep-tar <names >out 2>err &
	local pid=$!
	exec 4>names
	printf 'app-b\n' >&4
	sleep "$STARTUP"
	kill -INT "$pid"
	sleep 0.3
	# still reading
	kill -0 "$pid" || fail "rep-tar ended before its input did"
	printf 'app-a\n' >&4
	exec 4>&-
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 130
	# delivered as the input ends, before the database is read: content
	# unknown, which the reader takes as failed
	assert_equal "$(cat out)" "$(lines "app-b${TAB}-${TAB}-${TAB}-${TAB}failed${TAB}interrupted by signal 2" \
		"app-a${TAB}-${TAB}-${TAB}-${TAB}failed${TAB}interrupted by signal 2")"
	assert_equal "$(cat err)" ''
	assert_absent dist
}

@test "signals ignored on entry stay ignored (nohup): SIGHUP mid-run does not stop rep-tar" {
	local tree pid
	shared_tree tree -n 50 -f 20 -s 65536 --seed 3
	export REP_APPS=$tree
	rep-register -q --all >/dev/null </dev/null
	rep-ls -o name </dev/null >names
	mkdir dist
	env --ignore-signal=HUP rep-tar -q -j 1 -d dist <names >out 2>err &
	pid=$!
	wait_tmp dist
	kill -HUP "$pid" 2>/dev/null || true
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 0
	assert_equal "$(cat err)" ''
	assert_equal "$(cat out)" "$(ls dist/rep_applications_*.tar.gz)"
	run --separate-stderr rep-tar -t "$(cat out)"
	assert_success
}

@test "a signal also removes the output directory the run created" {
	local tree
	shared_tree tree -n 50 -f 20 -s 65536 --seed 3
	export REP_APPS=$tree
	rep-register -q --all >/dev/null </dev/null
	rep-ls -o name </dev/null >names
	pack_and_kill TERM new-dist
	assert_equal "$status" 143
	# shellcheck disable=SC2046 # one name a line
	assert_output "$(failed_records 'interrupted by signal 15' $(cat names))"
	refute_stderr
	assert_absent new-dist
}

@test "an existing archive is never overwritten: runs in the same second get _2, _3" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	# two runs in a row: distinct names, the first one intact
	run --separate-stderr rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	local first=$ARCHIVE
	cp "$first" first.copy
	run --separate-stderr rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	[ "$ARCHIVE" != "$first" ]
	if [ "${ARCHIVE%_2.tar.gz}" != "$ARCHIVE" ]; then
		assert_equal "$ARCHIVE" "${first%.tar.gz}_2.tar.gz"
	fi
	cmp first.copy "$first"
	cmp "$first" "$ARCHIVE"
	# archives taken for this second and the next ones: _2, then _3
	rm -r dist
	mkdir dist
	local now s stamp
	local -a stamps=()
	now=$(date -u +%s)
	for ((s = now; s <= now + 5; s++)); do
		stamp=$(date -u -d "@$s" +%Y%m%d_%H%M%S)
		stamps+=("$stamp")
		echo "old $stamp" >"dist/rep_applications_$stamp.tar.gz"
	done
	run --separate-stderr rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	[[ $ARCHIVE =~ _([0-9]{8}_[0-9]{6})_2\.tar\.gz$ ]] || fail "$ARCHIVE: no _2"
	[[ " ${stamps[*]} " == *" ${BASH_REMATCH[1]} "* ]] || fail "$ARCHIVE: unexpected stamp"
	for stamp in "${stamps[@]}"; do
		echo "old ${stamp}_2" >>"dist/rep_applications_${stamp}_2.tar.gz"
	done
	run --separate-stderr rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	refute_stderr
	[[ $ARCHIVE =~ _[0-9]{8}_[0-9]{6}_3\.tar\.gz$ ]] || fail "$ARCHIVE: no _3"
	for stamp in "${stamps[@]}"; do
		assert_equal "$(cat "dist/rep_applications_$stamp.tar.gz")" "old $stamp"
	done
}

# --- rep-tar -t -------------------------------------------------------------------------

@test "-t ARCHIVE verifies it and prints the manifest (no database needed)" {
	sample_tree
	register app-a app-b
	run --separate-stderr rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	mkdir elsewhere
	run --separate-stderr rep-tar -C elsewhere -t "../$ARCHIVE" </dev/null
	assert_success
	assert_output "$(manifest app-a app-b)"
	refute_stderr
	assert_entries elsewhere
	run --separate-stderr rep-tar --test="$ARCHIVE" </dev/null
	assert_success
	assert_output "$(manifest app-a app-b)"
	refute_stderr
	# another writer's archive of an extraction in rep-tar's form has other
	# bytes, the same content: fine
	mkdir x
	tar -C x -xzf "$ARCHIVE"
	rebuild x py.tgz
	run --separate-stderr rep-tar -t py.tgz </dev/null
	assert_success
	assert_output "$(manifest app-a app-b)"
	refute_stderr
	# GNU tar's own form (its magic, owner names) is not rep-tar's: refused,
	# since GNU tar and libarchive do not read every header alike
	tar -C x --sort=name --owner=0 --group=0 --numeric-owner -czf gnu.tgz MANIFEST rep_applications
	run --separate-stderr rep-tar -t gnu.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: gnu.tgz: MANIFEST: a header that is not POSIX ustar (not in the form rep-tar writes)'
}

@test "-t A B...: every archive checked in order, each manifest after #archive TAB PATH; a bad one told, the others checked, exit 2" {
	mkapp app-a
	mkapp app-b
	register app-a app-b
	local a b
	a=$(rep-tar -q app-a </dev/null)
	sleep 1
	b=$(rep-tar -q app-a app-b </dev/null)
	[ "$a" != "$b" ]
	echo 'not an archive' >bad.tar.gz
	# the README's own check, with two archives in dist/
	run --separate-stderr rep-tar -t dist/rep_applications_*.tar.gz </dev/null
	assert_success
	refute_stderr
	assert_output "$(printf '#archive\t%s\n' "$a"; rep-tar -t "$a" </dev/null; printf '#archive\t%s\n' "$b"; rep-tar -t "$b" </dev/null)"
	run --separate-stderr rep-tar -t "$a" bad.tar.gz nope.tar.gz "$b" </dev/null
	assert_failure 2
	assert_output "$(printf '#archive\t%s\n' "$a"; rep-tar -t "$a" </dev/null; printf '#archive\t%s\n' "$b"; rep-tar -t "$b" </dev/null)"
	assert_stderr "$(lines 'rep-tar: bad.tar.gz: not a gzip-compressed tar archive' \
		'rep-tar: nope.tar.gz: No such file or directory')"
	# -t given twice: both checked
	run --separate-stderr rep-tar -t nope.tar.gz -t "$a" </dev/null
	assert_failure 2
	assert_output "$(printf '#archive\t%s\n' "$a"; rep-tar -t "$a" </dev/null)"
	assert_stderr 'rep-tar: nope.tar.gz: No such file or directory'
	# the reader gone: ended by SIGPIPE, as with one archive, the rest
	# not checked
	local many=() i
	for i in $(seq 1 100); do many+=("$a"); done
	# shellcheck disable=SC2016 # expanded by bash -c
	run bash -c 'rep-tar -t "$@" | head -n 1; echo "${PIPESTATUS[0]}"' _ "${many[@]}"
	assert_output "$(lines "#archive${TAB}$a" 141)"
	# stdout full or closed: said once, the rest not checked, exit 2
	# shellcheck disable=SC2016 # expanded by bash -c
	run --separate-stderr bash -c 'rep-tar -t "$@" >/dev/full' _ "$a" "$b" "$a" </dev/null
	assert_failure 2
	assert_stderr 'rep-tar: standard output: No space left on device'
	# shellcheck disable=SC2016 # expanded by bash -c
	run --separate-stderr bash -c 'rep-tar -t "$@" >&-' _ "$a" "$b" "$a" </dev/null
	assert_failure 2
	assert_stderr 'rep-tar: standard output: Bad file descriptor'
	# a name is not an archive
	run --separate-stderr rep-tar -t "$a" app-a </dev/null
	assert_failure 2
	assert_stderr 'rep-tar: app-a: No such file or directory'
	# a single archive: its manifest alone, as before
	run --separate-stderr rep-tar -t "$b" </dev/null
	assert_success
	refute_line --partial '#archive'
	assert_line --index 0 "#rep-manifest${TAB}2"
}

@test "-t without an archive is a usage error" {
	run --separate-stderr rep-tar -t </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: -t: option requires an argument (try 'rep-tar --help')"
}

@test "-t on a missing archive: exit 2 saying why" {
	run --separate-stderr rep-tar -t nope.tar.gz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: nope\.tar\.gz: .*No such file or directory$'
}

@test "-t on a corrupted archive (a byte flipped in the middle): exit 2 with a message" {
	local tree
	shared_tree tree -n 4 -f 8 -s 65536 --seed 7
	export REP_APPS=$tree
	rep-register -q --all >/dev/null </dev/null
	run --separate-stderr bash -c 'rep-ls -o name | rep-tar -q' </dev/null
	assert_success
	assert_archive dist
	local size off
	size=$(stat -c %s "$ARCHIVE")
	for off in $((size / 3)) $((size / 2)) $((size * 2 / 3)); do
		cp "$ARCHIVE" corrupt.tgz
		flip_byte corrupt.tgz "$off"
		run --separate-stderr rep-tar -t corrupt.tgz </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr --regexp '^rep-tar: corrupt\.tgz: [^'$'\n'']+$'
		[[ $stderr != *'(null)'* ]] || fail "no message: $stderr"
	done
}

@test "-t on a truncated archive: exit 2 saying it is truncated" {
	sample_tree
	register app-a app-b
	run --separate-stderr rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	local size
	size=$(stat -c %s "$ARCHIVE")
	head -c $((size / 2)) "$ARCHIVE" >half.tgz
	run --separate-stderr rep-tar -t half.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: half\.tgz: .*truncated'
	head -c 10 "$ARCHIVE" >head.tgz
	run --separate-stderr rep-tar -t head.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: head\.tgz: .*(truncated|empty)'
}

@test "-t on an archive cut in its gzip trailer: exit 2 saying it is truncated" {
	sample_tree
	register app-a app-b
	run --separate-stderr rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	local size cut
	size=$(stat -c %s "$ARCHIVE")
	for cut in 1 4 8; do
		head -c $((size - cut)) "$ARCHIVE" >short.tgz
		run --separate-stderr rep-tar -t short.tgz </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr --regexp '^rep-tar: short\.tgz: .*truncated'
	done
}

@test "-t on an archive whose gzip CRC or length is wrong (gzip -t rejects it): exit 2" {
	sample_tree
	register app-a app-b
	run --separate-stderr rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	local size
	size=$(stat -c %s "$ARCHIVE")
	cp "$ARCHIVE" crc.tgz
	flip_byte crc.tgz $((size - 6)) # CRC-32
	run ! gzip -t crc.tgz
	run --separate-stderr rep-tar -t crc.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: crc\.tgz: .*(CRC|crc|checksum|corrupt)'
	cp "$ARCHIVE" len.tgz
	flip_byte len.tgz $((size - 2)) # ISIZE
	run ! gzip -t len.tgz
	run --separate-stderr rep-tar -t len.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: len\.tgz: .*(length|size|corrupt)'
}

@test "-t on what is not a gzip-compressed rep archive: exit 2 with a message" {
	mkapp app-a
	register app-a
	run --separate-stderr rep-tar -q app-a </dev/null
	assert_success
	assert_archive dist
	mkdir x
	tar -C x -xzf "$ARCHIVE"
	local not_gz='(not a gzip-compressed tar archive|Unrecognized archive format)'
	echo 'just text' >text.txt
	run --separate-stderr rep-tar -t text.txt </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp "^rep-tar: text\\.txt: $not_gz\$"
	: >empty.tgz
	run --separate-stderr rep-tar -t empty.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp "^rep-tar: empty\\.tgz: ($not_gz|empty archive)\$"
	gzip -c text.txt >text.gz
	run --separate-stderr rep-tar -t text.gz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp "^rep-tar: text\\.gz: $not_gz\$"
	# the right tar, not compressed
	tar -C x -cf plain.tar MANIFEST rep_applications
	run --separate-stderr rep-tar -t plain.tar </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: plain.tar: not a gzip-compressed tar archive'
	# the right tar, other compression
	bzip2 -c plain.tar >plain.tar.bz2 2>/dev/null || xz -c plain.tar >plain.tar.bz2
	run --separate-stderr rep-tar -t plain.tar.bz2 </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp "^rep-tar: plain\\.tar\\.bz2: $not_gz\$"
}

@test "-t on a gzip of a tar that is not rep's: exit 2, first entry is not MANIFEST" {
	mkapp app-a
	register app-a
	tar -czf other.tgz rep_applications
	run --separate-stderr rep-tar -t other.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: other.tgz: rep_applications/: a header that is not POSIX ustar (not in the form rep-tar writes)'
	tar -H posix -czf other.tgz rep_applications
	run --separate-stderr rep-tar -t other.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp "^rep-tar: other.tgz: .*rep_applications.*: (the pax key [a-z]+|an owner other than 0 with no name|mode [0-7]+) \\(not in the form rep-tar writes\\)\$"
	run --separate-stderr rep-tar -q app-a </dev/null
	assert_success
	assert_archive dist
	mkdir x
	tar -C x -xzf "$ARCHIVE"
	pytar late.tgz d:rep_applications/ d:rep_applications/app-a/ "f:MANIFEST:$(cat x/MANIFEST)"
	run --separate-stderr rep-tar -t late.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: late.tgz: first entry is not MANIFEST'
}

@test "-t on an archive with an entry not in the manifest or a modified file: exit 2 naming it" {
	mkapp app-a README src/main.c
	mkapp app-b
	register app-a app-b
	run --separate-stderr rep-tar -q app-a app-b </dev/null
	assert_success
	assert_archive dist
	mkdir x
	tar -C x -xzf "$ARCHIVE"
	# an extra file in a listed application
	echo extra >x/rep_applications/app-a/extra
	rebuild x extra.tgz
	run --separate-stderr rep-tar -t extra.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: extra\.tgz: rep_applications/app-a/[^:]+: more files than MANIFEST lists for app-a$'
	rm x/rep_applications/app-a/extra
	# an application that is not in the manifest
	mkdir x/rep_applications/app-z
	echo z >x/rep_applications/app-z/README
	rebuild x app.tgz
	run --separate-stderr rep-tar -t app.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: app\.tgz: rep_applications/app-z/?: application not in the manifest$'
	rm -r x/rep_applications/app-z
	# an entry outside rep_applications/
	echo evil >x/zzz
	rebuild x outside.tgz zzz
	run --separate-stderr rep-tar -t outside.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: outside\.tgz: zzz: .+$'
	rm x/zzz
	# a modified file, same size
	same_size_edit x/rep_applications/app-a/src/main.c
	rebuild x modified.tgz
	run --separate-stderr rep-tar -t modified.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: modified\.tgz: (rep_applications/)?app-a/?: content does not match the manifest$'
	# a file missing
	rm x/rep_applications/app-b/README
	rebuild x missing.tgz
	run --separate-stderr rep-tar -t missing.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: missing\.tgz: (rep_applications/)?app-(a|b)/?: content does not match the manifest$'
}

@test "-t on removal rows: the application's entries, or a removal row that is not 0 0 EMPTY 0 remove -: exit 2" {
	mkapp app-a
	mkapp app-r
	register app-a app-r
	run --separate-stderr rep-tar -q app-a app-r </dev/null
	assert_success
	assert_archive dist
	mkdir x
	tar -C x -xzf "$ARCHIVE"
	local good
	good=$(cat x/MANIFEST)
	# entries of an application its MANIFEST marks as removed
	printf '%s\n' "$good" | sed "s/^app-r\t.*/app-r\t0\t0\t$EMPTY_SHA256\t0\tremove\t-/" >x/MANIFEST
	rebuild x entries.tgz
	run --separate-stderr rep-tar -t entries.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: entries.tgz: rep_applications/app-r/: MANIFEST marks app-r as removed'
	# the same without them is an archive of one application and one removal
	rm -r x/rep_applications/app-r
	rebuild x removal.tgz
	run --separate-stderr rep-tar -t removal.tgz </dev/null
	assert_success
	assert_output "$(manifest app-a app-r:remove)"
	refute_stderr
	# removal rows with counts, another checksum, directories, an offset,
	# or dirs "-": not a manifest record
	local row
	for row in "1${TAB}0$TAB$EMPTY_SHA256${TAB}0" "0${TAB}1$TAB$EMPTY_SHA256${TAB}0" \
		"0${TAB}0$TAB${EMPTY_SHA256/e3/e4}${TAB}0" "0${TAB}0$TAB$EMPTY_SHA256${TAB}1" \
		"0${TAB}0$TAB$EMPTY_SHA256${TAB}-"; do
		printf '%s\n' "$good" | sed "s/^app-r\t.*/app-r\t$row\tremove\t-/" >x/MANIFEST
		rebuild x bad.tgz
		run --separate-stderr rep-tar -t bad.tgz </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr 'rep-tar: bad.tgz: MANIFEST:3: not a manifest record'
	done
	printf '%s\n' "$good" | sed "s/^app-r\t.*/app-r\t0\t0\t$EMPTY_SHA256\t0\tremove\t512/" >x/MANIFEST
	rebuild x bad.tgz
	run --separate-stderr rep-tar -t bad.tgz </dev/null
	assert_failure 2
	assert_stderr 'rep-tar: bad.tgz: MANIFEST:3: not a manifest record'
}

@test "-t on a version 2 MANIFEST with dirs '-': refused (only a release's full MANIFEST may say it; rep-tar always counts)" {
	mkapp app-a README sub/file
	register app-a
	run --separate-stderr rep-tar -q app-a </dev/null
	assert_success
	assert_archive dist
	mkdir x
	tar -C x -xzf "$ARCHIVE"
	local good f
	good=$(cat x/MANIFEST)
	# the control: the archive rebuilt as it was passes
	rebuild x same.tgz
	run --separate-stderr rep-tar -t same.tgz </dev/null
	assert_success
	assert_output "$good"
	refute_stderr
	# '-' in dirs, files or bytes: not the form rep-tar writes, and a
	# wider bound on directories than the count it stands for
	for f in 5 2 3; do
		awk -F '\t' -v OFS='\t' -v f=$f '$1 == "app-a" { $f = "-" } { print }' <<<"$good" >x/MANIFEST
		rebuild x bad.tgz
		run --separate-stderr rep-tar -t bad.tgz </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr 'rep-tar: bad.tgz: MANIFEST:2: not a manifest record'
	done
}

@test "-t on a hostile archive (../, absolute path, link tricks, devices): exit 2 naming the entry" {
	mkapp app-a
	register app-a
	local m base
	m=$(manifest app-a)$'\n'
	base=("f:MANIFEST:$m" d:rep_applications/ d:rep_applications/app-a/
		"f:rep_applications/app-a/README:app-a/README"$'\n')
	# the control: python's archive of the same content passes
	pytar ok.tgz "${base[@]}"
	run --separate-stderr rep-tar -t ok.tgz </dev/null
	assert_success
	assert_output "${m%$'\n'}"
	refute_stderr
	pytar h1.tgz "${base[@]}" 'f:../x:evil'
	run --separate-stderr rep-tar -t h1.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: h1.tgz: ../x: unsafe path'
	pytar h2.tgz "${base[@]}" 'f:/tmp/rep-tar-evil:evil'
	run --separate-stderr rep-tar -t h2.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: h2.tgz: /tmp/rep-tar-evil: unsafe path'
	pytar h3.tgz "${base[@]}" 'f:rep_applications/app-a/../../x:evil'
	run --separate-stderr rep-tar -t h3.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: h3.tgz: rep_applications/app-a/../../x: unsafe path'
	pytar h4.tgz "${base[@]}" 'l:rep_applications/app-a/out:/etc'
	run --separate-stderr rep-tar -t h4.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: h4\.tgz: rep_applications/app-a/out: symlink points outside'
	pytar h5.tgz "${base[@]}" 'l:rep_applications/app-a/up:../..'
	run --separate-stderr rep-tar -t h5.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: h5\.tgz: rep_applications/app-a/up: symlink points outside'
	# (the link in place of README, so that the manifest's count allows it)
	pytar h6.tgz "${base[@]:0:3}" 'l:rep_applications/app-a/lnk:.' 'f:rep_applications/app-a/lnk/x:evil'
	run --separate-stderr rep-tar -t h6.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: h6.tgz: rep_applications/app-a/lnk/x: below no directory of the archive (not in the form rep-tar writes)'
	pytar h7.tgz "${base[@]}" 'h:rep_applications/app-a/hard:rep_applications/app-a/README'
	run --separate-stderr rep-tar -t h7.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-tar: h7\.tgz: rep_applications/app-a/hard: .*hard link'
	pytar h8.tgz "${base[@]}" 'c:rep_applications/app-a/null'
	run --separate-stderr rep-tar -t h8.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: h8.tgz: rep_applications/app-a/null: a character device (not in the form rep-tar writes)'
	# a manifest naming an application the archive does not hold
	pytar h9.tgz "f:MANIFEST:${m}app-z${TAB}1${TAB}2${TAB}${EMPTY_SHA256}${TAB}0${TAB}add${TAB}-"$'\n' "${base[@]:1}"
	run --separate-stderr rep-tar -t h9.tgz </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-tar: h9.tgz: app-z: listed in MANIFEST, not in the archive'
}

@test "-t on an archive holding a file twice (the manifest made to match): exit 2 naming it" {
	local one two sum order=1
	one=$(printf 'one\n' | sha256sum)
	two=$(printf 'two\n' | sha256sum)
	# the checksum of both entries, in either order: extracted, the second one wins
	for sum in "$(printf 'f %s README\nf %s README\n' "${one%% *}" "${two%% *}" | sha256sum)" \
		"$(printf 'f %s README\nf %s README\n' "${two%% *}" "${one%% *}" | sha256sum)"; do
		pytar "dup$order.tgz" "f:MANIFEST:app-a${TAB}2${TAB}8${TAB}${sum%% *}"$'\n' \
			d:rep_applications/ d:rep_applications/app-a/ \
			"f:rep_applications/app-a/README:one"$'\n' "f:rep_applications/app-a/README:two"$'\n'
		run --separate-stderr rep-tar -t "dup$order.tgz" </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr --regexp "^rep-tar: dup$order\\.tgz: rep_applications/app-a/README: .*twice"
		order=$((order + 1))
	done
}

@test "-h prints the usage on stdout, -V the version" {
	run --separate-stderr rep-tar -h </dev/null
	assert_success
	assert_line --index 0 'usage: rep-tar [-q] [-d DIR] [-l LEVEL] [-j THREADS] [NAME...]'
	assert_line --index 1 '       rep-tar -t ARCHIVE [ARCHIVE...]'
	assert_output --partial "failure record: NAME - - CHECKSUM failed REASON"
	refute_stderr
	run --separate-stderr rep-tar -V </dev/null
	assert_success
	assert_output "rep-tar $REP_VERSION"
	refute_stderr
}
