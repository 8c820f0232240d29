#!/usr/bin/env bats
# lib/far.sh, the far side of an ssh target, run on its own under dash
# (Debian's /bin/sh, and a strict POSIX shell): the protocol framing and
# the target-side safety, without ssh or rep-push. rep-push-ssh.bats runs
# it through a real sshd.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

setup() {
	rep_setup
	command -v dash >/dev/null || skip 'dash is not installed'
	FAR=$(cat "$BATS_TEST_DIRNAME/../lib/far.sh")
	export FAR
	D=$BATS_TEST_TMPDIR/t
	HOST=$(uname -n)
}

teardown() {
	if [ -n "${NOBODY_DIR:-}" ]; then
		rm -rf "$NOBODY_DIR"
	fi
}

# far OP DIR ARG...: the far side under dash, its stdin from $IN (default
# none), as rep-push starts it: sh -c SCRIPT rep-push OP DIR ARG...
far() {
	dash -c "$FAR" rep-push "$@" <"${IN:-/dev/null}"
}

# assert_framed: every line of the output is tagged, the last one ends a reply
assert_framed() {
	local bad
	bad=$(grep -nv '^[|!+.]' <<<"$output") && fail "untagged lines: $bad"
	[[ $(tail -n 1 <<<"$output") =~ ^\.[a-z]+$ ]] || fail "no final word: $output"
}

# release DIR NAME [MANIFEST-TEXT]: DIR/releases/NAME with that MANIFEST
release() {
	mkdir -p "$1/releases/$2/rep_applications/app-a" &&
		printf '%s' "${3-app-a	1	2	$EMPTY_SHA256
}" >"$1/releases/$2/MANIFEST"
}

# sha FILE: its SHA-256
sha() {
	local s
	s=$(sha256sum <"$1")
	printf '%s' "${s%% *}"
}

# full MANIFEST: the MANIFEST of a release of that archive's MANIFEST
# alone: its applications' rows (directories - for a version 1 row), as
# a version 2 MANIFEST of add rows, sorted by name
full() {
	awk -F '\t' -v OFS='\t' 'FNR == 1 && $0 == "#rep-manifest\t2" { v = 2; next }
	$0 == "" || /^#/ { next }
	v == 2 && $6 == "add" { print $1, $2, $3, $4, $5, "add", "-" }
	v != 2 { print $1, $2, $3, $4, "-", "add", "-" }' "$1" | LC_ALL=C sort | {
		printf '#rep-manifest\t2\n'
		cat
	}
}

# stage_cmd ARCHIVE RELEASE FILES [BASE [FULL]]: the input of a staging:
# its command line (with the word $CUTS, if set, where the archive may
# be cut), the release's MANIFEST (the file FULL, else the archive's
# alone: full), then the archive
stage_cmd() {
	local a=$1 rel=$2 files=$3 base=${4:--} f=${5:-} m
	tar -xOzf "$a" MANIFEST >"$BATS_TEST_TMPDIR/archive.manifest"
	m=$(sha "$BATS_TEST_TMPDIR/archive.manifest")
	if [ -z "$f" ]; then
		f=$BATS_TEST_TMPDIR/full.manifest
		full "$BATS_TEST_TMPDIR/archive.manifest" >"$f"
	fi
	printf 'stage %s %s %s %s %s %s %s %s%s\n' "$rel" "$(sha "$a")" "$(stat -c %s "$a")" "$m" "$files" "$base" \
		"$(stat -c %s "$f")" "$(sha "$f")" "${CUTS:+ $CUTS}"
	cat "$f" "$a"
}

# old_format DIR RELEASE: DIR/releases/RELEASE made as rep-push did before
# releases were composed: what the archive unpacked (store/RELEASE) itself
old_format() {
	rm -r "$1/releases/$2"
	mv "$1/store/$2" "$1/releases/$2"
	rmdir "$1/store" 2>/dev/null || true
}

R1=rep_applications_20200101_000000
R2=rep_applications_20200102_000000

# --- state -------------------------------------------------------------------------------

@test "state: nothing there is .ok alone; a file is 'not a directory'" {
	run --separate-stderr far state "$D"
	assert_success
	assert_output '.ok'
	refute_stderr
	[ ! -e "$D" ] || fail "$D was made"
	echo data >"$D"
	run --separate-stderr far state "$D"
	assert_failure 1
	assert_output "$(lines '!not a directory' .error)"
	refute_stderr
}

@test "state: one record a line, current, each release with its MANIFEST's SHA-256, the live MANIFEST; others skipped" {
	release "$D" "$R1"
	release "$D" "$R2" 'no final newline'
	mkdir "$D/releases/notes" "$D/releases/rep_applications_x
release	$R1	forged"
	ln -s "releases/$R2" "$D/current"
	run --separate-stderr far state "$D"
	assert_success
	assert_framed
	assert_output "$(lines "|current	$R2" \
		"|release	$R1	$(sha "$D/releases/$R1/MANIFEST")" \
		"|release	$R2	$(sha "$D/releases/$R2/MANIFEST")" \
		'|manifest	no final newline' \
		.ok)"
	refute_stderr
	# current elsewhere than releases/ is no release
	mkdir "$D/other"
	ln -sfn other "$D/current"
	run --separate-stderr far state "$D"
	assert_success
	assert_equal "$(sed -n 1p <<<"$output")" "|current	"
}

@test "state: what is wrong with current or releases/ is told" {
	mkdir -p "$D/current"
	run --separate-stderr far state "$D"
	assert_failure 1
	assert_output "$(lines '!current: exists and is not a symbolic link' .error)"
	refute_stderr
	rmdir "$D/current"
	touch "$D/releases"
	run --separate-stderr far state "$D"
	assert_failure 1
	assert_output "$(lines '!releases: not a directory (refused: rep-push writes only inside the target)' .error)"
	rm "$D/releases"
	mkdir elsewhere
	ln -s ../elsewhere "$D/releases"
	run --separate-stderr far state "$D"
	assert_failure 1
	assert_output "$(lines '!releases: a symbolic link (refused: rep-push writes only inside the target)' .error)"
	refute_stderr
}

# --- the lock -------------------------------------------------------------------------------

@test "a lock held: its line as a holder record and .busy; one of several lines is sent empty" {
	mkdir -p "$D/releases"
	local line="far.example	1	bob@build	2020-01-02T03:04:05Z" text
	for text in "$line" "$line"$'\nok' "$line"$'\n.ok' "$line"$'\n|release\tx\ty' ''; do
		printf '%s\n' "$text" >"$D/.rep-push.lock"
		run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
		assert_success
		if [ "$text" = "$line" ]; then
			assert_output "$(lines "|holder	$line" .busy)"
		else
			assert_output "$(lines '|holder	' .busy)"
		fi
		refute_stderr
		assert_equal "$(cat "$D/.rep-push.lock")" "$text"
		assert_equal "$(ls -A "$D")" "$(lines .rep-push.lock releases)"
		run --separate-stderr far state "$D"
		assert_success
		if [ "$text" = "$line" ]; then
			assert_output "$(lines "|holder	$line" '|current	' .ok)"
		else
			assert_output "$(lines '|holder	' '|current	' .ok)"
		fi
	done
}

@test "a stale lock (its process gone on this host) is broken: a stale record, then the listing" {
	mkdir -p "$D/releases"
	sleep 0 &
	local pid=$!
	wait "$pid"
	local line="$HOST	$pid	bob@build	2020-01-02T03:04:05Z"
	printf '%s\n' "$line" >"$D/.rep-push.lock"
	run --separate-stderr far state "$D"
	assert_success
	assert_output "$(lines "|stale-holder	$line" '|current	' .ok)"
	run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_output "$(lines "|stale	$line" '|current	' .ok)"
	refute_stderr
	# the session ended with its stdin: lock and temporaries gone
	assert_equal "$(ls -A "$D")" releases
}

@test "a symbolic link at .rep-push.lock or at the lock's private name: refused, nothing written through it" {
	mkdir -p "$D/releases" victim
	echo precious >victim/file
	local dest
	for dest in "$BATS_TEST_TMPDIR/victim" "$BATS_TEST_TMPDIR/victim/file" "$BATS_TEST_TMPDIR/victim/none"; do
		ln -sfn "$dest" "$D/.rep-push.lock"
		run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
		assert_failure 1
		assert_output "$(lines '!.rep-push.lock: not a regular file (refused, not followed)' .error)"
		refute_stderr
		run --separate-stderr far state "$D"
		assert_failure 1
		assert_output "$(lines '!.rep-push.lock: not a regular file (refused, not followed)' .error)"
		assert_equal "$(ls -A victim)" file
		assert_equal "$(cat victim/file)" precious
		assert_equal "$(ls -A "$D")" "$(lines .rep-push.lock releases)"
	done
	rm "$D/.rep-push.lock"
	# the private name is .rep-push.lock.PID: exec keeps the pid
	# shellcheck disable=SC2016 # expanded by that sh
	run --separate-stderr sh -c 'echo $$ >pid && ln -s "$1" "$2/.rep-push.lock.$$" &&
		exec dash -c "$FAR" rep-push lock "$2" me now make' sh "$BATS_TEST_TMPDIR/victim" "$D" </dev/null
	assert_failure 1
	assert_output "$(lines "!.rep-push.lock.$(cat pid): a symbolic link (refused, not followed)" .error)"
	refute_stderr
	assert_equal "$(ls -A victim)" file
	[ ! -e "$D/.rep-push.lock" ] || fail "a lock was taken"
}

@test "releases/ a symbolic link: the lock refused before anything is written" {
	mkdir -p "$D" elsewhere
	ln -s ../elsewhere "$D/releases"
	run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_failure 1
	assert_output "$(lines '!releases: a symbolic link (refused: rep-push writes only inside the target)' .error)"
	refute_stderr
	assert_equal "$(ls -A elsewhere)" ''
	assert_equal "$(ls -A "$D")" releases
}

@test "lock: DIR made if missing when asked (its parent must exist), else nothing made" {
	run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z ''
	assert_success
	assert_output .ok
	refute_stderr
	[ ! -e "$D" ] || fail "$D was made"
	IN=<(printf 'switch x -\n') run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z ''
	assert_success
	assert_output "$(lines .ok '!no such directory (for switch x -)' .error)"
	run --separate-stderr far lock "$D/sub" me@here 2026-01-01T00:00:00Z make
	assert_failure 1
	assert_output "$(lines '!cannot create the directory: its parent directory does not exist' .error)"
	refute_stderr
	run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_output "$(lines '|current	' .ok)"
	refute_stderr
	assert_equal "$(ls -A "$D")" releases
}

# --- the session's commands -------------------------------------------------------------------

@test "every command is answered: done, refused with the reason, or stopped part-way" {
	release "$D" "$R1"
	release "$D" "$R2"
	ln -s "releases/$R1" "$D/current"
	local m
	m=$(sha "$D/releases/$R1/MANIFEST")
	IN=<(printf '%s\n' "switch $R2 $R1" "switch $R1 -" "switch - $R2" 'switch' 'stage' 'rm -rf /' \
		"prune $R1" 'prune ../x' "manifest $R1" 'manifest ../../../etc') \
		run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_framed
	assert_output "$(lines "|current	$R1" "|release	$R1	$m" "|release	$R2	$m" \
		"|manifest	app-a	1	2	$EMPTY_SHA256" \
		.ok \
		.ok \
		"!current changed during the push (now '$R2')" .error \
		.ok \
		'!switch stopped part-way (status 2)' .unknown \
		'!stage stopped part-way (status 2)' .unknown \
		'!unknown command rm' .error \
		"|gone	$R1" '+' .ok \
		'!../x: not a release name' .error \
		"!releases/$R1/MANIFEST: no such file" .error \
		'!../../../etc: not a release name' .error)"
	# the shell's own words for the two that stopped
	assert_equal "$(grep -c 'parameter not set' <<<"$stderr")" 2
	[ ! -e "$D/current" ] || fail "current is still there"
	assert_equal "$(ls -A "$D")" releases
	assert_equal "$(ls -A "$D/releases")" "$R2"
}

@test "a MANIFEST comes back as data lines: whatever it holds, a last line without a newline whole" {
	release "$D" "$R1" $'app-a\t1\t2\tx\n.ok\n!not a message\n+\n\n|pipe\nlast line'
	IN=<(printf 'manifest %s\n' "$R1") run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_framed
	assert_output "$(lines "|current	" "|release	$R1	$(sha "$D/releases/$R1/MANIFEST")" .ok \
		$'|app-a\t1\t2\tx' '|.ok' '|!not a message' '|+' '|' '||pipe' '|last line' .ok)"
	refute_stderr
}

@test "a tool's output never reaches the protocol: stdout is stderr, but for the replies" {
	mkdir -p "$D/releases/.rep-push-77" bin
	ln -s releases/.rep-push-77 "$D/.rep-push-current"
	# an rm that talks on stdout, as rm -v would
	printf '#!/bin/sh\necho "rm: $*"\nexec /bin/rm "$@"\n' >bin/rm
	chmod +x bin/rm
	PATH=$BATS_TEST_TMPDIR/bin:$PATH run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_output "$(lines '|current	' .ok)"
	# what rm said, all of it on stderr
	assert_stderr --regexp $'^(rm: [^\n]*\n)*rm: [^\n]*$'
	assert_equal "$(ls -A "$D")" releases
}

@test "stage: the archive checked, unpacked and moved into place, keepalives between the long steps" {
	mkapp app-a README sub/file
	rep-register -q app-a </dev/null >/dev/null
	local a
	a=$(rep-tar -q app-a </dev/null)
	local rel m
	rel=$(basename "$a" .tar.gz)
	m=$(tar -xOzf "$a" MANIFEST | sha256sum)
	mkdir -p "$D/releases"
	{
		stage_cmd "$a" "$rel" 2
		printf 'switch %s - 2026-01-01T00:00:01Z push me@here build.example\n' "$rel"
	} >in
	IN=in run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok .ok)"
	refute_stderr
	assert_equal "$(readlink "$D/current")" "releases/$rel"
	assert_equal "$(stat -c %a "$D/releases/$rel" "$D/store/$rel")" "$(lines 755 755)"
	diff -r rep_applications/app-a "$D/store/$rel/rep_applications/app-a"
	diff -r rep_applications/app-a "$D/current/rep_applications/app-a"
	assert_equal "$(readlink "$D/releases/$rel/rep_applications/app-a")" \
		"../../../store/$rel/rep_applications/app-a"
	cmp full.manifest "$D/releases/$rel/MANIFEST"
	cmp <(tar -xOzf "$a" MANIFEST) "$D/store/$rel/MANIFEST"
	assert_equal "$(cat "$D/log")" "2026-01-01T00:00:01Z	push	$rel	-	me@here	build.example"
	assert_equal "$(ls -A "$D")" "$(lines current log releases store)"
	# cut short: refused, nothing left
	stage_cmd "$a" "${rel}_2" 2 >whole
	head -c "$(($(head -n 1 whole | wc -c) + $(stat -c %s full.manifest) + 100))" whole >in
	IN=in run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_output "$(lines '|current	'"$rel" "|release	$rel	${m%% *}" \
		"$(sed 's/^/|manifest	/' full.manifest)" "|log	$(cat "$D/log")" .ok \
		"!the archive arrived incomplete (100 of $(stat -c %s "$a") bytes)" .error)"
	assert_equal "$(ls -A "$D/releases")" "$rel"
	assert_equal "$(ls -A "$D/store")" "$rel"
	assert_equal "$(ls -A "$D")" "$(lines current log releases store)"
	# the release's MANIFEST cut short, or not the one sent
	head -c "$(($(head -n 1 whole | wc -c) + 10))" whole >in
	IN=in run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_equal "$(tail -n 2 <<<"$output")" "$(lines \
		"!the release's MANIFEST arrived incomplete (10 of $(stat -c %s full.manifest) bytes)" .error)"
	printf '#rep-manifest\t2\n' >other.manifest
	printf '#rep-manifest\t3\n' >sent.manifest
	{
		stage_cmd "$a" "${rel}_2" 2 - other.manifest | head -n 1
		cat sent.manifest "$a"
	} >in
	IN=in run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_equal "$(tail -n 2 <<<"$output")" "$(lines \
		"!the release's MANIFEST arrived damaged (SHA-256 $(sha sent.manifest), sent $(sha other.manifest))" .error)"
	assert_equal "$(ls -A "$D/releases")" "$rel"
	assert_equal "$(ls -A "$D/store")" "$rel"
}

# --- leftovers, as a login that is not root ----------------------------------------------

@test "as a user: leftovers at any depth and mode removed; one that cannot be is a warning, the lock taken" {
	nobody_dir
	local d=$NOBODY_DIR/t path
	path=$(printf 'd/%.0s' $(seq 1100))
	mkdir -p "$d/releases/.rep-push-1" "$d/releases/.rep-push-2/x"
	(cd "$d/releases/.rep-push-1" && mkdir -p "$path" && echo bottom >"${path}file") ||
		fail "cannot build the deep tree"
	mkdir "$d/releases/.rep-push-1/ro" "$d/releases/.rep-push-1/none"
	touch "$d/releases/.rep-push-1/ro/f" "$d/releases/.rep-push-1/none/f"
	chown -R nobody "$d"
	# root's: nobody cannot remove what is in it
	touch "$d/releases/.rep-push-2/x/f"
	chown -R root "$d/releases/.rep-push-2/x"
	chmod 555 "$d/releases/.rep-push-1/ro"
	chmod 000 "$d/releases/.rep-push-1/none"
	run --separate-stderr runuser -u nobody -- dash -c "$FAR" rep-push lock "$d" me@here now make </dev/null
	assert_success
	assert_output "$(lines \
		"!releases/.rep-push-2: cannot remove what a failed push left: Permission denied" \
		'|current	' .ok)"
	refute_stderr
	assert_equal "$(ls -A "$d/releases")" .rep-push-2
	assert_equal "$(ls -A "$d")" releases
}

@test "as a user: a release that cannot be removed is renamed out of reach and told, the others pruned; a failed rename is .error" {
	nobody_dir
	local d=$NOBODY_DIR/t
	release "$d" "$R1"
	release "$d" "$R2"
	chown -R nobody "$d"
	chown root "$d/releases/$R1/rep_applications/app-a"
	touch "$d/releases/$R1/rep_applications/app-a/f1" "$d/releases/$R1/rep_applications/app-a/f2"
	local m
	m=$(sha "$d/releases/$R1/MANIFEST")
	printf 'prune %s %s\n' "$R1" "$R2" >cmds
	run --separate-stderr runuser -u nobody -- dash -c "$FAR" rep-push lock "$d" me@here now make <cmds
	assert_success
	assert_framed
	refute_stderr
	# R1 is no longer under its name (a rollback cannot reach it), but
	# under one the next lock tidies; R2 went all the same
	local left
	left=$(ls -A "$d/releases")
	[[ $left =~ ^\.rep-push-[0-9]+-$R1$ ]] || fail "releases/ holds: $left"
	local rm="!rm: cannot remove '$left/rep_applications/app-a"
	assert_equal "$(sed -n '1,5p' <<<"$output")" "$(lines '|current	' "|release	$R1	$m" "|release	$R2	$m" .ok \
		"|gone	$R1")"
	assert_equal "$(sed -n 6p <<<"$output")" "!releases/$R1: cannot remove all of it (left as releases/$left):"
	assert_equal "$(sed -n '7,8p' <<<"$output" | LC_ALL=C sort)" "$(lines "$rm/f1': Permission denied" \
		"$rm/f2': Permission denied")"
	assert_equal "$(sed -n '9,$p' <<<"$output")" "$(lines + "|gone	$R2" + .ok)"
	assert_equal "$(ls -A "$d")" releases
	# a release that cannot even be renamed (root's, in a sticky
	# releases/) stays whole under its name: .error, the others pruned
	# all the same; the leftover is told at the next lock
	release "$d" "$R1"
	release "$d" "$R2"
	chown -R nobody "$d/releases/$R2"
	chown root "$d/releases"
	chmod 1777 "$d/releases"
	printf 'prune %s %s\n' "$R1" "$R2" >cmds
	run --separate-stderr runuser -u nobody -- dash -c "$FAR" rep-push lock "$d" me@here now make <cmds
	assert_success
	assert_framed
	refute_stderr
	assert_output "$(lines \
		"!releases/$left: cannot remove what a failed push left: Permission denied" \
		'|current	' "|release	$R1	$m" "|release	$R2	$m" .ok \
		"!releases/$R1: cannot remove it: Operation not permitted" "|gone	$R2" + .error)"
	assert_equal "$(ls -A "$d/releases")" "$(lines "$left" "$R1")"
	assert_equal "$(ls -A "$d")" releases
}

@test "prune: a release already gone is gone, not an error" {
	release "$D" "$R1"
	local m
	m=$(sha "$D/releases/$R1/MANIFEST")
	IN=<(printf 'prune %s %s\n' "$R2" "$R1") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' "|release	$R1	$m" .ok \
		"|gone	$R2" + "|gone	$R1" + .ok)"
	refute_stderr
	assert_equal "$(ls -A "$D/releases")" ''
}

# --- what is read: regular files only ---------------------------------------------------------

@test "a FIFO at .rep-push.lock is refused and never read: no hang; nor is one as a MANIFEST" {
	mkdir -p "$D/releases"
	mkfifo "$D/.rep-push.lock"
	local op
	for op in lock state; do
		run --separate-stderr timeout 20 dash -c "$FAR" rep-push "$op" "$D" me@here now make </dev/null
		assert_failure 1
		assert_output "$(lines '!.rep-push.lock: not a regular file (refused, not followed)' .error)"
		refute_stderr
	done
	assert_equal "$(ls -A "$D")" "$(lines .rep-push.lock releases)"
	rm "$D/.rep-push.lock"
	release "$D" "$R1"
	rm "$D/releases/$R1/MANIFEST"
	mkfifo "$D/releases/$R1/MANIFEST"
	printf 'manifest %s\n' "$R1" >cmds
	run --separate-stderr timeout 20 dash -c "$FAR" rep-push lock "$D" me@here now make <cmds
	assert_success
	assert_output "$(lines '|current	' "|release	$R1	-" .ok "!releases/$R1/MANIFEST: no such file" .error)"
	refute_stderr
}

# --- names swapped under the far side ---------------------------------------------------------
#
# Anyone who may write DIR may rename what is in it and put a link in its
# place, at any moment. The shims below do it at a set moment: just
# before the far side runs a tool.

# swap_shim TOOL WHEN GLOB...: bin/TOOL, which, when its arguments and
# working directory ("ARGS:DIR") match the pattern WHEN, first moves every
# directory at GLOB (under D) aside, to moved<name>, and puts a link to
# victim/ in its place; then it runs the real TOOL
swap_shim() {
	local tool=$1 when=$2 real g globs=''
	real=$(command -v "$tool")
	shift 2
	for g; do
		globs+=" \"$D\"/$g"
	done
	mkdir -p bin victim
	cat >"bin/$tool" <<EOF
#!/bin/sh
case "\$*:\$(pwd -P)" in
$when)
	for d in$globs; do
		if [ -d "\$d" ] && [ ! -h "\$d" ]; then
			$(command -v mv) "\$d" "\${d%/*}/moved\${d##*/}" &&
				$(command -v ln) -s "$BATS_TEST_TMPDIR/victim" "\$d"
		fi
	done
	;;
esac
exec $real "\$@"
EOF
	chmod +x "bin/$tool"
}

# stage_input ARCHIVE [COMMAND...]: the input of a session that stages
# ARCHIVE, then sends each COMMAND; the release in REL
stage_input() {
	local a=$1
	shift
	REL=$(basename "$a" .tar.gz)
	{
		stage_cmd "$a" "$REL" "$(tar -tzf "$a" | grep -c '^rep_applications/.*[^/]$')"
		if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi
	} >in
}

# small_archive: app-a packaged, its path in A
small_archive() {
	mkapp app-a README sub/file
	rep-register -q app-a </dev/null >/dev/null
	A=$(rep-tar -q app-a </dev/null)
}

@test "stage: the staging directory swapped for a link during the upload: nothing written or removed where it leads" {
	small_archive
	mkdir -p "$D/releases" victim
	echo precious >victim/archive
	swap_shim tee '*' '.rep-push-[0-9]*' 'releases/.rep-push-[0-9]*' 'store/.rep-push-[0-9]*'
	stage_input "$A"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	assert_equal "$(ls -A victim)" archive
	assert_equal "$(cat victim/archive)" precious
	[ -d "$D/releases/$REL" ] && [ ! -L "$D/releases/$REL" ] || fail "releases/$REL is not a directory"
	[ -d "$D/store/$REL" ] && [ ! -L "$D/store/$REL" ] || fail "store/$REL is not a directory"
	diff -r rep_applications/app-a "$D/releases/$REL/rep_applications/app-a"
}

@test "stage: the staging directory swapped for a link before the unpacking: nothing unpacked where it leads" {
	small_archive
	mkdir -p "$D/releases" victim
	chmod 700 victim
	swap_shim chmod '*' 'releases/.rep-push-[0-9]*' 'store/.rep-push-[0-9]*'
	cp bin/chmod bin/mkdir
	sed -i "s|^exec .*|exec $(command -v mkdir) \"\$@\"|" bin/mkdir
	stage_input "$A"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	assert_equal "$(ls -A victim)" ''
	assert_equal "$(stat -c %a victim)" 700
	[ -d "$D/releases/$REL" ] && [ ! -L "$D/releases/$REL" ] || fail "releases/$REL is not a directory"
	[ -d "$D/store/$REL" ] && [ ! -L "$D/store/$REL" ] || fail "store/$REL is not a directory"
	diff -r rep_applications/app-a "$D/releases/$REL/rep_applications/app-a"
}

@test "switch: a link at the far side's private name, or swapped in during the switch: another deployment's current and log untouched" {
	release "$D" "$R1"
	release "$D" "$R2"
	ln -s "releases/$R1" "$D/current"
	mkdir -p victim/releases/keep
	ln -s releases/keep victim/current
	# planted at the private name before the switch (the lock tells the
	# pid): refused, not followed
	mkfifo cmds
	dash -c "$FAR" rep-push lock "$D" me@here now make <cmds >out 2>err &
	local pid=$! i
	exec 4>cmds
	for ((i = 0; i < 100; i++)); do
		if grep -qx '\.ok' out; then
			break
		fi
		sleep 0.1
	done
	if [ -d "$D/.rep-push-$pid" ]; then
		mv "$D/.rep-push-$pid" "$D/moved"
	fi
	ln -s "$BATS_TEST_TMPDIR/victim" "$D/.rep-push-$pid"
	printf 'switch %s %s t1 push u h\n' "$R2" "$R1" >&4
	exec 4>&-
	wait "$pid" || true
	assert_equal "$(readlink victim/current)" releases/keep
	assert_equal "$(ls -A victim)" "$(lines current releases)"
	assert_equal "$(sed -n '6,$p' out)" "$(lines "!.rep-push-$pid: a symbolic link (refused, not followed)" .error)"
	assert_equal "$(cat err)" ''
	assert_equal "$(readlink "$D/current")" "releases/$R1"
	[ ! -e "$D/log" ] || fail "a log line was written"
	rm -rf "$D/.rep-push-$pid" "$D/moved"
	# swapped in as the log's hard link and the new link are made: the
	# switch goes on, unharmed
	printf 't0\tpush\t%s\t-\tu\th\n' "$R1" >"$D/log"
	swap_shim ln '*' '.rep-push-[0-9]*'
	IN=<(printf 'switch %s %s t1 push u h\n' "$R2" "$R1") PATH=$BATS_TEST_TMPDIR/bin:$PATH \
		run --separate-stderr far lock "$D" me@here now make
	assert_equal "$(readlink victim/current)" releases/keep
	assert_equal "$(ls -A victim)" "$(lines current releases)"
	assert_success
	assert_equal "$(sed -n '7,$p' <<<"$output")" .ok
	refute_stderr
	assert_equal "$(readlink "$D/current")" "releases/$R2"
	assert_equal "$(cat "$D/log")" "$(lines "t0	push	$R1	-	u	h" "t1	push	$R2	$R1	u	h")"
}

@test "prune: a release swapped for a link as it is removed: the modes where it leads unchanged" {
	release "$D" "$R1"
	mkdir -p victim/ro
	chmod 500 victim/ro
	# as the release is removed: when chmod is given its path, or is
	# run from inside it under the name it was renamed to
	swap_shim chmod "*releases/$R1*|*/releases/.rep-push-*-$R1" "releases/$R1" 'releases/.rep-push-[0-9]*'
	IN=<(printf 'prune %s\n' "$R1") PATH=$BATS_TEST_TMPDIR/bin:$PATH \
		run --separate-stderr far lock "$D" me@here now make
	assert_equal "$(stat -c %a victim victim/ro)" "$(lines 755 500)"
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" "$(lines "|gone	$R1" + .ok)"
	refute_stderr
	[ ! -e "$D/releases/$R1" ] && [ ! -L "$D/releases/$R1" ] || fail "releases/$R1 is still there"
}

@test "lock: a lock its holder drops between a failed link and its reading is taken, not told as unreadable" {
	mkdir -p "$D/releases" bin
	# held by a push on another host (never judged stale here)
	printf 'elsewhere\t4242\tthem@there\t2026-01-01T00:00:00Z\n' >"$D/.rep-push.lock"
	# the second link to the lock fails, and its holder drops it just then
	cat >bin/ln <<EOF
#!/bin/sh
case "\$*" in
*.rep-push.lock)
	n=\$(cat "$BATS_TEST_TMPDIR/links" 2>/dev/null || echo 0)
	echo \$((n + 1)) >"$BATS_TEST_TMPDIR/links"
	if [ "\$n" = 1 ]; then
		$(command -v ln) "\$@"
		rc=\$?
		rm -f "$D/.rep-push.lock"
		exit \$rc
	fi
	;;
esac
exec $(command -v ln) "\$@"
EOF
	chmod +x bin/ln
	PATH=$BATS_TEST_TMPDIR/bin:$PATH run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok)"
	refute_stderr
	assert_equal "$(cat links)" 3
	# and one that stays: its holder told
	printf 'elsewhere\t4242\tthem@there\t2026-01-01T00:00:00Z\n' >"$D/.rep-push.lock"
	run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines "|holder	elsewhere	4242	them@there	2026-01-01T00:00:00Z" .busy)"
}

@test "lock: a link to a directory planted at .rep-push.lock as the lock is taken: nothing made inside it" {
	mkdir -p "$D/releases" victim
	mkdir bin
	cat >bin/ln <<EOF
#!/bin/sh
if [ ! -e "$D/.rep-push.lock" ] && [ ! -L "$D/.rep-push.lock" ]; then
	$(command -v ln) -s "$BATS_TEST_TMPDIR/victim" "$D/.rep-push.lock"
fi
exec $(command -v ln) "\$@"
EOF
	chmod +x bin/ln
	PATH=$BATS_TEST_TMPDIR/bin:$PATH run --separate-stderr far lock "$D" me@here now make
	assert_failure 1
	assert_output "$(lines '!.rep-push.lock: not a regular file (refused, not followed)' .error)"
	refute_stderr
	assert_equal "$(ls -A victim)" ''
	assert_equal "$(ls -A "$D")" "$(lines .rep-push.lock releases)"
}

# --- keepalives during long steps ---------------------------------------------------------------

# slow_shim TOOL SECONDS: bin/TOOL, which sleeps, then runs the real one
slow_shim() {
	mkdir -p bin
	printf '#!/bin/sh\nsleep %s\nexec %s "$@"\n' "$2" "$(command -v "$1")" >"bin/$1"
	chmod +x "bin/$1"
}

@test "a long step: a keepalive every fifth of IDLE while it runs, none inside a reply or after it" {
	small_archive
	release "$D" "$R1"
	slow_shim tar 2
	stage_input "$A" "manifest $R1"
	# IDLE 1: a tick every 0.2 s while tar runs, besides the three
	PATH=$BATS_TEST_TMPDIR/bin:$PATH IN=in run --separate-stderr far lock "$D" me@here now make 1
	assert_success
	assert_framed
	refute_stderr
	local m
	m=$(sha "$D/releases/$R1/MANIFEST")
	assert_equal "$(sed -n '1,3p' <<<"$output")" "$(lines '|current	' "|release	$R1	$m" .ok)"
	# the staging's reply: ticks, then .ok; the manifest's: no tick
	local reply re
	reply=$(sed -n '4,$p' <<<"$output")
	re="^(\\+"$'\n'"){6,}\\.ok"$'\n'"\\|app-a${TAB}1${TAB}2${TAB}$EMPTY_SHA256"$'\n'"\\.ok\$"
	[[ $reply =~ $re ]] || fail "not ticks, .ok, the MANIFEST and .ok: $reply"
	diff -r rep_applications/app-a "$D/releases/$REL/rep_applications/app-a"
}

@test "a ticker stopped mid-sleep holds nothing open: the session ends with its input" {
	small_archive
	mkdir -p "$D/releases"
	slow_shim tar 1
	stage_input "$A"
	# IDLE 60: the ticker sleeps 12 s; stopped after 1 s, it must not
	# keep the session's output open for the 11 s left
	local start=$SECONDS
	PATH=$BATS_TEST_TMPDIR/bin:$PATH IN=in run --separate-stderr far lock "$D" me@here now make 60
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	[ $((SECONDS - start)) -lt 8 ] || fail "took $((SECONDS - start)) s"
}

@test "prune: a long removal sends keepalives" {
	release "$D" "$R1"
	slow_shim rm 2
	IN=<(printf 'prune %s\n' "$R1") PATH=$BATS_TEST_TMPDIR/bin:$PATH \
		run --separate-stderr far lock "$D" me@here now make 1
	assert_success
	assert_framed
	local reply
	reply=$(sed -n '4,$p' <<<"$output")
	[[ $reply =~ ^\|gone$'\t'$R1$'\n'(\+$'\n'){6,}\.ok$ ]] || fail "not gone, ticks and .ok: $reply"
	[ ! -e "$D/releases/$R1" ] || fail "releases/$R1 is still there"
}

# --- what a staging unpacked, verified (issue 16) ---------------------------------------------
#
# Archives made here with GNU tar from a tree in src/, whatever it holds
# (modes, FIFOs, hard links, names), with a MANIFEST written from src/ by
# rep(7)'s own recipe, so the far side is checked against an independent
# computation.

# checksum DIR: the rep(7) checksum of the tree at DIR, by its recipe
checksum() {
	recompute_checksum "$1"
}

# row VERSION NAME[:remove]: NAME's manifest record, from src/rep_applications/NAME
row() {
	local n=${2%:remove} d=src/rep_applications/${2%:remove} files bytes dirs
	if [ "$n" != "$2" ]; then
		printf '%s\t0\t0\t%s\t0\tremove\t-\n' "$n" "$EMPTY_SHA256"
		return
	fi
	files=$(find "$d" -mindepth 1 \( -type f -o -type l \) -printf x | wc -c)
	bytes=$(find "$d" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	dirs=$(find "$d" -mindepth 1 -type d -printf x | wc -c)
	printf '%s\t%s\t%s\t%s' "$n" "$files" "$bytes" "$(untraced checksum "$d")"
	if [ "$1" = 2 ]; then
		printf '\t%s\tadd\t-' "$dirs"
	fi
	printf '\n'
}

# manifest VERSION NAME[:remove]...: src/MANIFEST for those applications
manifest() {
	local v=$1 n
	shift
	{
		if [ "$v" = 2 ]; then
			printf '#rep-manifest\t2\n'
		fi
		for n; do
			row "$v" "$n"
		done
	} >src/MANIFEST
}

# archive [RELEASE [BASE [FULL]]]: src/ as GNU tar packs it (modes,
# kinds and links as they are) into A, the archive of RELEASE (default
# rep_applications_20300101_000000); the input of its staging on BASE
# (default none), with the release's MANIFEST FULL (default: the
# archive's alone), in `in`; the release in REL
archive() {
	REL=${1:-rep_applications_20300101_000000}
	A=$BATS_TEST_TMPDIR/$REL.tar.gz
	local files top
	mapfile -t top < <(cd src && ls -A)
	tar -czf "$A" -C src --sort=name --owner=0 --group=0 "${top[@]}"
	files=$(awk -F '\t' '!/^#/ && $6 != "remove" { n += $2 } END { print n + 0 }' src/MANIFEST)
	stage_cmd "$A" "$REL" "$files" "${2:--}" "${3:-}" >in
}

# staged: the session that stages A on D
staged() {
	mkdir -p "$D/releases"
	IN=in run --separate-stderr far lock "$D" me@here now make
}

# refused MESSAGE...: A staged, refused with those messages, nothing left
refused() {
	staged
	assert_success
	assert_framed
	assert_output "$(lines '|current	' .ok + + "${@/#/!}" .error)"
	assert_equal "$(ls -A "$D/releases")" ''
	assert_equal "$(ls -A "$D/store")" ''
	assert_equal "$(ls -A "$D")" "$(lines releases store)"
}

# odd_app NAME: src/rep_applications/NAME with names rep must carry
odd_app() {
	local d=src/rep_applications/$1
	mkdir -p "$d/bin" "$d/sub dir/empty" "$d/-dash"
	echo readme >"$d/README"
	printf '#!/bin/sh\n' >"$d/bin/run"
	chmod 755 "$d/bin/run"
	echo a >"$d/sub dir/a b"
	echo b >"$d/sub dir/back\\slash"
	echo c >"$d/-dash/-x"
	echo d >"$d/sub dir/*star?"
	echo e >"$d/sub dir/quo'te\"s"
	echo f >"$d/sub dir/"$'\xff\xfe latin1 \xe9'
	ln -s ../README "$d/bin/readme"
	ln -s $'back\\slash \xff' "$d/sub dir/odd link"
}

@test "stage: version 1 and 2 manifests, names with spaces, backslashes, dashes and bytes that are not UTF-8: verified and in place" {
	mkdir src
	odd_app app-a
	mkdir -p src/rep_applications/app-b
	manifest 1 app-a app-b
	archive
	staged
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	diff -r --no-dereference src "$D/store/$REL"
	assert_equal "$(readlink "$D/releases/$REL/rep_applications/"*)" "$(lines \
		"../../../store/$REL/rep_applications/app-a" "../../../store/$REL/rep_applications/app-b")"
	# a version 1 row: its directories unknown
	assert_equal "$(cat "$D/releases/$REL/MANIFEST")" "$(lines '#rep-manifest	2' \
		"$(sed -n 1p src/MANIFEST)	-	add	-" "$(sed -n 2p src/MANIFEST)	-	add	-")"
	rm -rf "$D"
	# version 2, with a removal row
	manifest 2 app-a app-b app-gone:remove
	archive
	staged
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	diff -r --no-dereference src "$D/store/$REL"
	assert_equal "$(readlink "$D/releases/$REL/rep_applications/"*)" "$(lines \
		"../../../store/$REL/rep_applications/app-a" "../../../store/$REL/rep_applications/app-b")"
	assert_equal "$(ls -A "$D/releases")" "$REL"
}

@test "stage: the modes rep writes, whatever the archive's and the umask: 0755 directories, 0755 or 0644 files, 0644 MANIFEST" {
	mkdir -p src/rep_applications/app-a/open src/rep_applications/app-a/shut src/rep_applications/app-a/sgid
	cd src/rep_applications/app-a
	echo 1 >private
	echo 2 >suid
	echo 3 >world
	echo 4 >none
	echo 5 >gexec
	echo 6 >open/f
	echo 7 >shut/f
	ln -s private link
	chmod 600 private
	chmod 4755 suid
	chmod 666 world
	chmod 000 none
	chmod 610 gexec
	chmod 1777 open
	chmod 700 shut
	chmod 2775 sgid
	cd "$BATS_TEST_TMPDIR"
	manifest 2 app-a
	chmod 4755 src/MANIFEST
	chmod 2777 src/rep_applications
	archive
	# a setgid releases/: what is made in it is setgid
	mkdir -p "$D/releases"
	chmod 2755 "$D/releases"
	umask 077
	staged
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	assert_equal "$(cd "$D/releases/$REL" && find . -printf '%p %m %y\n' | LC_ALL=C sort)" "$(lines \
		'. 755 d' './MANIFEST 644 f' './rep_applications 755 d' './rep_applications/app-a 777 l')"
	assert_equal "$(cd "$D/store/$REL" && find . ! -type l -printf '%p %m\n' | LC_ALL=C sort)" "$(lines \
		'. 755' './MANIFEST 644' './rep_applications 755' './rep_applications/app-a 755' \
		'./rep_applications/app-a/gexec 644' './rep_applications/app-a/none 644' \
		'./rep_applications/app-a/open 755' './rep_applications/app-a/open/f 644' \
		'./rep_applications/app-a/private 644' './rep_applications/app-a/sgid 755' \
		'./rep_applications/app-a/shut 755' './rep_applications/app-a/shut/f 644' \
		'./rep_applications/app-a/suid 755' './rep_applications/app-a/world 644')"
	assert_equal "$(readlink "$D/store/$REL/rep_applications/app-a/link")" private
}

@test "as a user: directories the archive leaves unreadable (0000 at two depths) are opened, the release verified" {
	nobody_dir
	local d=$NOBODY_DIR/t
	mkdir -p src/rep_applications/app-a/a/b/c
	echo x >src/rep_applications/app-a/a/b/c/f
	echo y >src/rep_applications/app-a/a/g
	manifest 2 app-a
	chmod 000 src/rep_applications/app-a/a src/rep_applications/app-a/a/b src/rep_applications/app-a/a/g
	archive
	mkdir -p "$d/releases"
	chown -R nobody "$d"
	cp in "$NOBODY_DIR/in"
	chmod 644 "$NOBODY_DIR/in"
	run --separate-stderr runuser -u nobody -- dash -c "$FAR" rep-push lock "$d" me@here now make <"$NOBODY_DIR/in"
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	assert_equal "$(cd "$d/store/$REL/rep_applications/app-a" && find . -printf '%p %m\n' | LC_ALL=C sort)" \
		"$(lines '. 755' './a 755' './a/b 755' './a/b/c 755' './a/b/c/f 644' './a/g 644')"
}

@test "stage: a file changed after the manifest (content, owner-execute bit, a link's target): refused, nothing left" {
	mkdir src
	odd_app app-a
	manifest 2 app-a
	printf 'README\n' >src/rep_applications/app-a/README
	archive
	refused 'app-a: content differs after unpacking'
	manifest 2 app-a
	chmod 755 src/rep_applications/app-a/README
	archive
	refused 'app-a: content differs after unpacking'
	chmod 644 src/rep_applications/app-a/README
	manifest 2 app-a
	ln -sfn ../READ.ME src/rep_applications/app-a/bin/readme
	archive
	refused 'app-a: content differs after unpacking'
}

@test "stage: an extra file, directory, application or top-level entry; a missing application: refused" {
	mkdir -p src/rep_applications/app-a/d
	echo a >src/rep_applications/app-a/f
	manifest 2 app-a
	echo extra >src/rep_applications/app-a/d/g
	archive
	refused 'app-a: 2 files and symlinks after unpacking, 1 in the manifest' 'app-a: content differs after unpacking'
	rm src/rep_applications/app-a/d/g
	mkdir src/rep_applications/app-a/d/e
	archive
	refused 'app-a: 2 directories after unpacking, 1 in the manifest'
	rmdir src/rep_applications/app-a/d/e
	mkdir src/rep_applications/app-x
	archive
	refused 'rep_applications/app-x: not in the manifest after unpacking'
	rmdir src/rep_applications/app-x
	echo x >src/junk
	archive
	refused 'junk: not part of a release after unpacking'
	rm src/junk
	echo x >src/rep_applications/stray
	archive
	refused 'rep_applications/stray: not in the manifest after unpacking'
	rm src/rep_applications/stray
	mkdir -p src/rep_applications/app-b
	manifest 2 app-a app-b
	rmdir src/rep_applications/app-b
	archive
	refused 'app-b: missing after unpacking'
	# the application a link, to a directory that checks out
	mkdir other
	cp -a src/rep_applications/app-a other/app-a
	manifest 2 app-a
	rm -r src/rep_applications/app-a
	ln -s ../../other/app-a src/rep_applications/app-a
	archive
	refused 'rep_applications/app-a: not a directory after unpacking'
}

@test "stage: an application a removal row names, present in the archive: refused" {
	mkdir -p src/rep_applications/app-a src/rep_applications/app-r
	echo a >src/rep_applications/app-a/f
	manifest 2 app-a app-r:remove
	archive
	refused 'rep_applications/app-r: removed in the manifest, yet there after unpacking'
}

@test "stage: version 1, or - in a version 2 row: at most 2 x FILES + 256 directories an application" {
	mkdir -p src/rep_applications/app-a
	echo a >src/rep_applications/app-a/f
	(cd src/rep_applications/app-a && mkdir $(seq 259))
	manifest 1 app-a
	archive
	refused 'app-a: 259 directories after unpacking, more than a version 1 manifest allows (2 x files + 256)'
	manifest 2 app-a
	sed -i 's/\t259\tadd\t/\t-\tadd\t/' src/MANIFEST
	archive
	refused 'app-a: 259 directories after unpacking, more than a version 1 manifest allows (2 x files + 256)'
	rmdir src/rep_applications/app-a/259
	manifest 2 app-a
	sed -i 's/\t258\tadd\t/\t-\tadd\t/' src/MANIFEST
	archive
	staged
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	assert_equal "$(sed 1d "$D/releases/$REL/MANIFEST" | cut -f 5)" -
	IN=<(printf 'verify %s\n' "$REL") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(replies)" .ok
	rm -r "$D"
	manifest 1 app-a
	archive
	staged
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
}

@test "stage: a FIFO, a hard link, a name with a control character: refused" {
	mkdir -p src/rep_applications/app-a
	echo a >src/rep_applications/app-a/f
	mkfifo src/rep_applications/app-a/p
	manifest 2 app-a
	archive
	refused 'rep_applications/app-a/p: not a regular file, directory or symbolic link after unpacking'
	rm src/rep_applications/app-a/p
	ln src/rep_applications/app-a/f src/rep_applications/app-a/h
	manifest 2 app-a
	archive
	tar -tvzf "$A" | grep -q '^h.* rep_applications/app-a/h link to rep_applications/app-a/f$' ||
		fail "no hard link in the archive"
	refused 'rep_applications/app-a/f: a hard link after unpacking' 'rep_applications/app-a/h: a hard link after unpacking'
	rm src/rep_applications/app-a/h
	echo t >src/rep_applications/app-a/$'a\tb'
	manifest 2 app-a
	archive
	refused $'rep_applications/app-a/a\tb: a control character in its name after unpacking'
	rm src/rep_applications/app-a/$'a\tb'
	mkdir src/rep_applications/app-a/$'new\nD line'
	echo t >src/rep_applications/app-a/$'new\nD line/f'
	manifest 2 app-a
	archive
	# named up to the newline: what follows is never read
	refused 'rep_applications/app-a/new: a control character in its name after unpacking'
}

@test "stage: a MANIFEST of a newer version, or with a record that is none: refused" {
	mkdir -p src/rep_applications/app-a
	printf '#rep-manifest\t3\napp-a\t0\t0\t%s\t0\tadd\t-\n' "$EMPTY_SHA256" >src/MANIFEST
	archive
	refused 'MANIFEST: version 3, written by a newer rep-tar'
	printf '#rep-manifest\t2\napp-a\t0\t0\t%s\n' "$EMPTY_SHA256" >src/MANIFEST
	archive
	refused 'MANIFEST: line 2: not a manifest record'
	printf 'app-a\t0\t0\t%s\t0\tadd\t-\n' "$EMPTY_SHA256" >src/MANIFEST
	archive
	refused 'MANIFEST: line 1: not a manifest record'
	printf '#rep-manifest\t2\n' >src/MANIFEST
	rmdir src/rep_applications/app-a src/rep_applications
	archive
	refused 'rep_applications: missing after unpacking'
}

# busybox_bin: bb/, BusyBox's tools, and no openssl (which BusyBox has
# not; the one on PATH after bb/ would be taken)
busybox_bin() {
	mkdir bb
	local a
	for a in $(busybox --list); do
		ln -s "$(command -v busybox)" "bb/$a"
	done
	printf '#!/bin/sh\nexit 127\n' >bb/openssl
	chmod +x bb/openssl
}

# --- how the far side hashes and unpacks: OpenSSL, pieces at once --------------------------------

# shim TOOL SCRIPT: bin/TOOL runs SCRIPT (sh), with REAL the real TOOL
shim() {
	mkdir -p bin
	printf '#!/bin/sh\nREAL=%s\n%s\n' "$(command -v "$1" || echo /nonexistent)" "$2" >"bin/$1"
	chmod +x "bin/$1"
}

@test "stage: hashed by openssl dgst where it writes sha256sum's lines, else by sha256sum; neither: refused" {
	command -v openssl >/dev/null || skip 'openssl is not installed'
	mkdir src
	odd_app app-a
	manifest 2 app-a
	archive
	# sha256sum broken: the staging goes through on OpenSSL's lines,
	# whose names are never escaped
	shim sha256sum 'exit 1'
	PATH=$BATS_TEST_TMPDIR/bin:$PATH staged
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	diff -r --no-dereference src "$D/store/$REL"
	# an openssl whose line is not sha256sum's: sha256sum (GNU's, which
	# escapes names with a backslash), never openssl
	rm -rf "$D" bin
	# shellcheck disable=SC2016 # expanded by the shim
	shim openssl 'echo "SHA2-256(/dev/null)= e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; echo run >>"$0.log"'
	PATH=$BATS_TEST_TMPDIR/bin:$PATH staged
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	diff -r --no-dereference src "$D/store/$REL"
	assert_equal "$(cat bin/openssl.log)" run
	# neither: the upload's SHA-256 cannot be taken
	rm -rf "$D"
	shim sha256sum 'exit 1'
	PATH=$BATS_TEST_TMPDIR/bin:$PATH staged
	assert_success
	assert_output "$(lines '|current	' .ok '!hashing failed' .error)"
	assert_equal "$(ls -A "$D/releases" "$D/store")" "$(lines "$D/releases:" '' "$D/store:")"
}

@test "check: a target whose path holds * ? [ ] and a backslash: staged and verified as any other, with two processors" {
	mkdir src
	odd_app app-a
	mkdir -p src/rep_applications/app-b
	echo b >src/rep_applications/app-b/f
	manifest 2 app-a app-b
	archive
	shim getconf 'echo 2'
	D=$BATS_TEST_TMPDIR/'t[1]*?\x'
	PATH=$BATS_TEST_TMPDIR/bin:$PATH staged
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	diff -r --no-dereference src "$D/store/$REL"
	# verify checks store/ by its full path
	IN=<(printf 'verify %s\n' "$REL") PATH=$BATS_TEST_TMPDIR/bin:$PATH run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" .ok
	echo changed >"$D/store/$REL/rep_applications/app-b/f"
	IN=<(printf 'verify %s\n' "$REL") PATH=$BATS_TEST_TMPDIR/bin:$PATH run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" "$(lines "!app-b: content differs in store/$REL" .error)"
}

# cuts_of ARCHIVE APP...: the word CUTS of a stage command that cuts
# ARCHIVE (rep-tar's: members of 1 MiB of tar, each with its size in its
# header) where each APP's entries begin, as Python's tarfile reads it:
# the member that holds the point, the bytes before it there, the end of
# the member that holds the byte before it
cuts_of() {
	python3 -c '
import gzip, io, sys, tarfile
data = open(sys.argv[1], "rb").read()
at = []
p = 0
while p < len(data):
    at.append(p)
    p += int.from_bytes(data[p + 16:p + 20], "little")
at.append(len(data))
offset = {m.name: m.offset for m in tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)))}
B = 1 << 20
print(",".join("%d:%d:%d:%d" % (t, at[t // B], t % B, at[(t - 1) // B + 1])
               for t in (offset["rep_applications/" + n] for n in sys.argv[2:])))' "$@"
}

@test "stage: an archive cut where applications begin (CUTS) is unpacked in pieces at once, to the same tree" {
	command -v python3 >/dev/null || skip 'python3 is not installed'
	mkapp app-a README
	mkapp app-b README sub/file
	mkapp app-c README
	# app-b begins in the third member, app-c in the fifth
	head -c 2500000 /dev/urandom >rep_applications/app-a/blob
	head -c 2000000 /dev/urandom >rep_applications/app-b/blob
	rep-register -q --all </dev/null >/dev/null
	A=$(rep-ls -o name </dev/null | rep-tar -q)
	CUTS=$(cuts_of "$A" app-b app-c)
	[[ $CUTS =~ ^[0-9]+:[1-9][0-9]*:[0-9]+:[0-9]+,[0-9]+:[1-9][0-9]*:[0-9]+:[0-9]+$ ]] || fail "cuts: $CUTS"
	export CUTS
	stage_input "$A"
	# two processors: two pieces (app-a, then app-b and app-c); four:
	# three; one: the whole archive, by one tar
	# shellcheck disable=SC2016 # expanded by the shim
	shim tar 'echo "$*" >>"$0.log"; exec "$REAL" "$@"'
	local n pieces
	for n in 2 4 1; do
		rm -rf "$D" bin/tar.log
		shim getconf "echo $n"
		mkdir -p "$D/releases"
		PATH=$BATS_TEST_TMPDIR/bin:$PATH IN=in run --separate-stderr far lock "$D" me@here now make
		assert_success
		assert_output "$(lines '|current	' .ok + + + + .ok)"
		refute_stderr
		diff -r rep_applications "$D/store/$REL/rep_applications"
		pieces=$(grep -c -- '^-x' bin/tar.log)
		assert_equal "$pieces:$(grep -c -- '^-xpzf' bin/tar.log)" "$((n > 3 ? 3 : n)):$((n == 1))"
	done
	# the same under BusyBox's tools, by two
	command -v busybox >/dev/null || skip 'busybox is not installed'
	untraced busybox_bin
	rm -rf "$D"
	mkdir -p "$D/releases"
	printf '#!/bin/sh\necho 2\n' >bb/getconf
	chmod +x bb/getconf
	PATH=$BATS_TEST_TMPDIR/bb:$PATH IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	diff -r rep_applications "$D/store/$REL/rep_applications"
}

@test "stage: CUTS that are not where the archive may be cut: refused, nothing staged" {
	command -v python3 >/dev/null || skip 'python3 is not installed'
	mkapp app-a README
	mkapp app-b README
	head -c 1500000 /dev/urandom >rep_applications/app-a/blob
	rep-register -q --all </dev/null >/dev/null
	A=$(rep-ls -o name </dev/null | rep-tar -q)
	shim getconf 'echo 2'
	local good
	good=$(cuts_of "$A" app-b)
	local word
	# a word that is not one of cuts, a point not after the one before,
	# a piece that begins inside a member (gzip refuses it)
	local t from skip to
	IFS=: read -r t from skip to <<<"$good"
	for word in 12:0:12 '1:0:1:x' "${good},${good}" "$t:$((from + 1)):$skip:$to"; do
		CUTS=$word stage_input "$A"
		rm -rf "$D"
		PATH=$BATS_TEST_TMPDIR/bin:$PATH staged
		assert_success
		if [ "$word" = "$t:$((from + 1)):$skip:$to" ]; then
			assert_output "$(lines '|current	' .ok + '!unpacking: gzip: stdin: not in gzip format' .error)"
		else
			assert_output "$(lines '|current	' .ok + "!unpacking: $word: not where the archive may be cut" .error)"
		fi
		assert_equal "$(ls -A "$D/releases" "$D/store")" "$(lines "$D/releases:" '' "$D/store:")"
	done
}

# --- verify: a release checked again where it is ---------------------------------------------

@test "verify: a release as staged is .ok (and its MANIFEST's SHA-256 if given); nothing left of the check" {
	mkdir src
	odd_app app-a
	manifest 2 app-a
	archive
	staged
	assert_success
	local m
	m=$(sha src/MANIFEST)
	IN=<(printf '%s\n' "verify $REL" "verify $REL $m" "verify $REL $EMPTY_SHA256" 'verify rep_applications_x' \
		'verify ../etc') run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_framed
	assert_output "$(lines '|current	' "|release	$REL	$m" .ok .ok .ok \
		"!releases/$REL/MANIFEST: SHA-256 $m, not $EMPTY_SHA256" .error \
		'!releases/rep_applications_x: no such release' .error \
		'!../etc: not a release name' .error)"
	refute_stderr
	assert_equal "$(ls -A "$D/releases")" "$REL"
	assert_equal "$(ls -A "$D/store")" "$REL"
	assert_equal "$(ls -A "$D")" "$(lines releases store)"
	# the same, of the old format
	old_format "$D" "$REL"
	IN=<(printf '%s\n' "verify $REL" "verify $REL $m") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' "|release	$REL	$m" .ok .ok .ok)"
	refute_stderr
	assert_equal "$(ls -A "$D")" releases
}

# replies: the output after the listing, without keepalives
replies() {
	sed -n '/^\.ok$/,$p' <<<"$output" | sed 1d | grep -v '^+$'
}

# verified MESSAGE...: verify REL refused with those messages, nothing left but the release
verified() {
	IN=<(printf 'verify %s\n' "$REL") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_framed
	assert_equal "$(replies)" "$(lines "${@/#/!}" .error)"
	[ -d "$D/releases/$REL" ] || fail "releases/$REL is gone"
	assert_equal "$(find "$D" -maxdepth 2 -name '.rep-push*')" ''
}

@test "verify, the old format: a file changed in place, a mode changed, an entry added: refused" {
	mkdir src
	odd_app app-a
	manifest 2 app-a
	archive
	staged
	assert_success
	old_format "$D" "$REL"
	local r=$D/releases/$REL
	printf 'READMF\n' >"$r/rep_applications/app-a/README"
	verified "app-a: content differs in releases/$REL"
	printf 'readme\n' >"$r/rep_applications/app-a/README"
	chmod 664 "$r/rep_applications/app-a/README"
	verified "rep_applications/app-a/README: mode other than 0644 or 0755 in releases/$REL"
	chmod 644 "$r/rep_applications/app-a/README"
	chmod 744 "$r/rep_applications/app-a/bin/run"
	verified "rep_applications/app-a/bin/run: mode other than 0644 or 0755 in releases/$REL"
	chmod 644 "$r/rep_applications/app-a/bin/run"
	verified "app-a: content differs in releases/$REL"
	chmod 755 "$r/rep_applications/app-a/bin/run"
	chmod 3755 "$r/rep_applications/app-a/bin"
	verified "rep_applications/app-a/bin: mode other than 0755 in releases/$REL"
	chmod 775 "$r/rep_applications/app-a/bin"
	verified "rep_applications/app-a/bin: mode other than 0755 in releases/$REL"
	chmod 755 "$r/rep_applications/app-a/bin"
	chmod g-s "$r/rep_applications/app-a/bin"
	chmod 664 "$r/MANIFEST"
	verified "MANIFEST: mode other than 0644 or 0755 in releases/$REL"
	chmod 755 "$r/MANIFEST"
	verified "MANIFEST: mode other than 0644 in releases/$REL"
	chmod 644 "$r/MANIFEST"
	chmod 775 "$r"
	verified "the release directory: mode other than 0755 in releases/$REL"
	chmod 755 "$r"
	# the setgid bit, as a setgid releases/ gave earlier stagings'
	# release directory, is no change anyone else can make
	chmod 2755 "$r" "$r/rep_applications"
	IN=<(printf 'verify %s\n' "$REL") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" .ok
	mkfifo "$r/rep_applications/app-a/p"
	verified "rep_applications/app-a/p: not a regular file, directory or symbolic link in releases/$REL"
	rm "$r/rep_applications/app-a/p"
	mkdir "$r/rep_applications/app-a/new"
	verified "app-a: 5 directories in releases/$REL, 4 in the manifest"
	rmdir "$r/rep_applications/app-a/new"
	IN=<(printf 'verify %s\n' "$REL") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" .ok
}

@test "verify: an entry of another owner (a hard link to a file of theirs, say): refused, in releases/ or store/" {
	mkdir src
	odd_app app-a
	manifest 2 app-a
	archive
	staged
	assert_success
	local r=$D/releases/$REL s=$D/store/$REL
	chown 4242 "$s/rep_applications/app-a/README"
	verified "store/$REL/rep_applications/app-a/README: not owned by the login that pushes"
	chown "$(id -u)" "$s/rep_applications/app-a/README"
	chown -h 4242 "$r/rep_applications/app-a"
	verified "releases/$REL/rep_applications/app-a: not owned by the login that pushes"
	chown -h "$(id -u)" "$r/rep_applications/app-a"
	IN=<(printf 'verify %s\n' "$REL") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" .ok
	old_format "$D" "$REL"
	chown 4242 "$r/rep_applications/app-a/README"
	verified "releases/$REL/rep_applications/app-a/README: not owned by the login that pushes"
	chown "$(id -u)" "$r/rep_applications/app-a/README"
	IN=<(printf 'verify %s\n' "$REL") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" .ok
}

@test "verify: a long check sends keepalives" {
	mkdir src
	odd_app app-a
	manifest 2 app-a
	archive
	staged
	assert_success
	slow_shim sha256sum 1
	# the hasher: sha256sum (slowed), not OpenSSL
	shim openssl 'exit 1'
	IN=<(printf 'verify %s\n' "$REL") PATH=$BATS_TEST_TMPDIR/bin:$PATH \
		run --separate-stderr far lock "$D" me@here now make 1
	assert_success
	assert_framed
	local reply
	reply=$(sed -n '4,$p' <<<"$output")
	[[ $reply =~ ^(\+$'\n'){6,}\.ok$ ]] || fail "not ticks and .ok: $reply"
	assert_equal "$(ls -A "$D/releases")" "$REL"
}

@test "under BusyBox's tools (sh, find, sha256sum that does not escape, readlink of one link, tar, awk): the same checks" {
	command -v busybox >/dev/null || skip 'busybox is not installed'
	untraced busybox_bin
	mkdir src
	odd_app app-a
	manifest 2 app-a
	archive
	mkdir -p "$D/releases"
	# through a pipe, from which BusyBox's head reads ahead
	PATH=$BATS_TEST_TMPDIR/bb:$PATH IN=<(cat in) run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	diff -r --no-dereference src "$D/store/$REL"
	IN=<(printf 'verify %s\n' "$REL") PATH=$BATS_TEST_TMPDIR/bb:$PATH run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" .ok
	printf 'x\n' >"$D/store/$REL/rep_applications/app-a/sub dir/back\\slash"
	IN=<(printf 'verify %s\n' "$REL") PATH=$BATS_TEST_TMPDIR/bb:$PATH run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" "$(lines "!app-a: content differs in store/$REL" .error)"
	rm -r "$D/releases/$REL" "$D/store/$REL"
	chmod 600 src/rep_applications/app-a/README
	chmod 4755 src/rep_applications/app-a/bin/run
	archive
	PATH=$BATS_TEST_TMPDIR/bb:$PATH IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	assert_equal "$(stat -c %a "$D/releases/$REL/rep_applications/app-a/README" "$D/releases/$REL/rep_applications/app-a/bin/run")" \
		"$(lines 644 755)"
	# releases composed, an upgrade, the log, the store's collection
	untraced composed "$BATS_TEST_TMPDIR/bb:$PATH"
}

@test "without readlink (GNU ls): the links' targets as ls -ld shows them" {
	mkdir src bin
	odd_app app-a
	manifest 2 app-a
	archive
	printf '#!/bin/sh\nexit 127\n' >bin/readlink
	chmod +x bin/readlink
	mkdir -p "$D/releases"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	ln -sfn '../README ' "$D/store/$REL/rep_applications/app-a/bin/readme"
	IN=<(printf 'verify %s\n' "$REL") PATH=$BATS_TEST_TMPDIR/bin:$PATH run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" "$(lines "!app-a: content differs in store/$REL" .error)"
	ln -sfn '../README' "$D/store/$REL/rep_applications/app-a/bin/readme"
	# the release's links, read the same way
	rm -rf "$D"
	untraced composed "$BATS_TEST_TMPDIR/bin:$PATH"
}

# --- releases that compose (issue 18): store/, links, the log ----------------------------------

# composed PATH: on a new target C, with the tools found on PATH, three
# pushes: R1 (app-a, app-b), then made of the old format (as rep-push
# made releases before); R2 on R1 (app-b changed, app-c added, app-a
# kept: store/R1 a copy of releases/R1); R3 on R2 (app-c removed). Each
# release's links, its verification, the log, and what prune leaves of
# store/.
composed() {
	local p=$1 c=$BATS_TEST_TMPDIR/c
	local r1=rep_applications_20300101_000001 r2=rep_applications_20300101_000002 r3=rep_applications_20300101_000003
	rm -rf src "$c"
	mkdir -p src/rep_applications/app-a src/rep_applications/app-b "$c/releases"
	echo a >src/rep_applications/app-a/f
	echo b >src/rep_applications/app-b/f
	manifest 2 app-a app-b
	archive "$r1"
	PATH=$p IN=in run --separate-stderr far lock "$c" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	refute_stderr
	old_format "$c" "$r1"
	ln -s "releases/$r1" "$c/current"
	# R2: app-b changed, app-c added, app-a kept
	rm -r src/rep_applications/app-a
	echo b2 >src/rep_applications/app-b/f
	mkdir src/rep_applications/app-c
	echo c >src/rep_applications/app-c/f
	manifest 2 app-b app-c
	{
		printf '#rep-manifest\t2\n'
		grep '^app-a' "$c/releases/$r1/MANIFEST"
		sed 1d src/MANIFEST
	} >full2
	archive "$r2" "$r1" full2
	{
		cat in
		printf '%s\n' "switch $r2 $r1 t2 push u h" "verify $r2 $(sha full2)" "verify $r1"
	} >in2
	PATH=$p IN=in2 run --separate-stderr far lock "$c" me@here now make
	assert_success
	assert_framed
	refute_stderr
	assert_equal "$(replies)" "$(lines .ok .ok .ok .ok)"
	assert_equal "$(readlink "$c/releases/$r2/rep_applications/"*)" "$(lines \
		"../../../store/$r1/rep_applications/app-a" "../../../store/$r2/rep_applications/app-b" \
		"../../../store/$r2/rep_applications/app-c")"
	cmp full2 "$c/releases/$r2/MANIFEST"
	diff -r "$c/releases/$r1" "$c/store/$r1"
	diff -r src "$c/store/$r2"
	assert_equal "$(cat "$c/current/rep_applications/"*/f)" "$(lines a b2 c)"
	assert_equal "$(cat "$c/log")" "t2	push	$r2	$r1	u	h"
	# R3: app-c removed (a removal row, no files), on R2
	rm -r src/rep_applications/*
	manifest 2 app-c:remove
	grep -v '^app-c' full2 >full3
	archive "$r3" "$r2" full3
	{
		cat in
		printf '%s\n' "switch $r3 $r2 t3 retire u h" "verify $r3" "prune $r1 $r2" "verify $r3"
	} >in3
	PATH=$p IN=in3 run --separate-stderr far lock "$c" me@here now make
	assert_success
	assert_framed
	refute_stderr
	assert_equal "$(replies)" "$(lines .ok .ok .ok "|gone	$r1" "|gone	$r2" .ok .ok)"
	assert_equal "$(readlink "$c/releases/$r3/rep_applications/"*)" "$(lines \
		"../../../store/$r1/rep_applications/app-a" "../../../store/$r2/rep_applications/app-b")"
	# what no release links to went: store/R3 (nothing of it is live)
	assert_equal "$(ls -A "$c/store")" "$(lines "$r1" "$r2")"
	assert_equal "$(ls -A "$c/releases")" "$r3"
	# the listing: the live MANIFEST and the log
	PATH=$p run --separate-stderr far state "$c"
	assert_success
	assert_output "$(lines "|current	$r3" "|release	$r3	$(sha full3)" "|stored	$r1" "|stored	$r2" \
		"$(sed 's/^/|manifest	/' full3)" \
		"|log	t2	push	$r2	$r1	u	h" "|log	t3	retire	$r3	$r2	u	h" .ok)"
	# the last release pruned: store/ emptied
	PATH=$p IN=<(printf 'prune %s\n' "$r3") run --separate-stderr far lock "$c" me@here now make
	assert_success
	assert_equal "$(ls -A "$c/store")" ''
	assert_equal "$(ls -A "$c")" "$(lines current log releases store)"
}

@test "releases that compose: store/, links, an upgrade of the old format, the log and the store's collection" {
	composed "$PATH"
}

@test "listing: the log and the live release's MANIFEST, line by line; a link, a FIFO or a directory at log refused, never read" {
	release "$D" "$R1" $'#rep-manifest\t2\n.ok\n!x\n\n|y\nlast'
	ln -s "releases/$R1" "$D/current"
	printf 'l1\n\n.ok\n!no\nlast' >"$D/log"
	local m
	m=$(sha "$D/releases/$R1/MANIFEST")
	run --separate-stderr far state "$D"
	assert_success
	assert_framed
	assert_output "$(lines "|current	$R1" "|release	$R1	$m" $'|manifest\t#rep-manifest\t2' '|manifest	.ok' \
		'|manifest	!x' '|manifest	' '|manifest	|y' '|manifest	last' \
		'|log	l1' '|log	' '|log	.ok' '|log	!no' '|log	last' .ok)"
	refute_stderr
	IN=/dev/null run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '3,$p' <<<"$output" | head -n 2)" "$(lines $'|manifest\t#rep-manifest\t2' '|manifest	.ok')"
	# no live release: no MANIFEST
	rm "$D/current"
	run --separate-stderr far state "$D"
	assert_success
	assert_output "$(lines '|current	' "|release	$R1	$m" '|log	l1' '|log	' '|log	.ok' '|log	!no' '|log	last' .ok)"
	mkdir victim
	echo secret >victim/file
	local what
	for what in link fifo dir; do
		rm -f "$D/log"
		case $what in
		link) ln -s "$BATS_TEST_TMPDIR/victim/file" "$D/log" ;;
		fifo) mkfifo "$D/log" ;;
		dir) mkdir "$D/log" ;;
		esac
		run --separate-stderr timeout 20 dash -c "$FAR" rep-push state "$D" </dev/null
		assert_failure 1
		assert_output "$(lines '!log: not a regular file (refused, not followed)' .error)"
		refute_stderr
		run --separate-stderr timeout 20 dash -c "$FAR" rep-push lock "$D" me@here now make </dev/null
		assert_failure 1
		assert_output "$(lines '!log: not a regular file (refused, not followed)' .error)"
		rm -rf "$D/log"
	done
	[ ! -e "$D/.rep-push.lock" ] || fail "the lock was left"
}

@test "the log with a NUL byte: refused by the listing and by a switch, as local targets refuse it, never converted" {
	release "$D" "$R1"
	release "$D" "$R2"
	local m
	m=$(sha "$D/releases/$R1/MANIFEST")
	printf 'l1\nl\0ast\n' >"$D/log"
	cp "$D/log" log.before
	run --separate-stderr far state "$D"
	assert_failure 1
	assert_framed
	assert_output "$(lines '|current	' "|release	$R1	$m" "|release	$R2	$m" '!log: not text: a NUL byte in it' .error)"
	refute_stderr
	IN=<(printf 'switch %s -\n' "$R1") run --separate-stderr far lock "$D" me@here now make
	assert_failure 1
	assert_output "$(lines '|current	' "|release	$R1	$m" "|release	$R2	$m" '!log: not text: a NUL byte in it' .error)"
	[ ! -e "$D/.rep-push.lock" ] || fail "the lock was left"
	[ ! -e "$D/current" ] || fail "current was made"
	# a NUL byte put in the log after the lock was taken: the switch refused,
	# the log and current as they were
	printf 'l1\n' >"$D/log"
	mkfifo cmds
	dash -c "$FAR" rep-push lock "$D" me@here now make <cmds >out 2>err &
	local pid=$! i
	exec 4>cmds
	for ((i = 0; i < 100; i++)); do
		if grep -qx '\.ok' out; then
			break
		fi
		sleep 0.1
	done
	cp log.before "$D/log"
	printf 'switch %s - t push u h\n' "$R1" >&4
	exec 4>&-
	wait "$pid"
	assert_equal "$(sed -n '/^\.ok$/,$p' out | sed 1d)" "$(lines '!log: not text: a NUL byte in it' .error)"
	assert_equal "$(cat err)" ''
	cmp log.before "$D/log"
	[ ! -e "$D/current" ] || fail "current was made"
	assert_equal "$(ls -A "$D")" "$(lines log releases)"
}

@test "listing: store/ a symbolic link or a file: refused, nothing written" {
	mkdir -p "$D/releases" elsewhere
	ln -s ../elsewhere "$D/store"
	run --separate-stderr far lock "$D" me@here now make
	assert_failure 1
	assert_output "$(lines '!store: a symbolic link (refused: rep-push writes only inside the target)' .error)"
	refute_stderr
	assert_equal "$(ls -A elsewhere)" ''
	rm "$D/store"
	touch "$D/store"
	run --separate-stderr far state "$D"
	assert_failure 1
	assert_output "$(lines '!store: not a directory (refused: rep-push writes only inside the target)' .error)"
	assert_equal "$(ls -A "$D")" "$(lines releases store)"
}

@test "switch: the log line written before current moves, the log copied and renamed over; a link at log replaced, never followed" {
	release "$D" "$R1"
	release "$D" "$R2"
	# a last line without its newline: ended before the new one
	printf 'old\tline' >"$D/log"
	IN=<(printf '%s\n' "switch $R1 - 2026-01-01T00:00:00Z push me@here build" \
		"switch $R2 $R2 2026-01-01T00:00:01Z push me@here build" \
		"switch $R2 $R1 2026-01-01T00:00:02Z push me@here build" \
		"switch - $R2 2026-01-01T00:00:03Z rollback me@here build" \
		"switch $R1 - t ev$(printf '\001')il u h") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_framed
	refute_stderr
	assert_equal "$(replies)" "$(lines .ok "!current changed during the push (now '$R1')" .error \
		.ok .ok "!switch: a byte other than ! to ~ in 'ev$(printf '\001')il'" .error)"
	assert_equal "$(cat "$D/log")" "$(lines 'old	line' \
		"2026-01-01T00:00:00Z	push	$R1	-	me@here	build" \
		"2026-01-01T00:00:02Z	push	$R2	$R1	me@here	build" \
		"2026-01-01T00:00:03Z	rollback	-	$R2	me@here	build")"
	assert_equal "$(stat -c %a "$D/log")" 644
	[ ! -e "$D/current" ] || fail "current is still there"
	assert_equal "$(ls -A "$D")" "$(lines log releases)"
	# a link swapped in at log after the lock was taken: replaced by a
	# log of the one line, what it led to neither read nor written
	mkdir victim
	echo secret >victim/file
	mkfifo cmds
	dash -c "$FAR" rep-push lock "$D" me@here now make <cmds >out 2>err &
	local pid=$! i
	exec 4>cmds
	for ((i = 0; i < 100; i++)); do
		if grep -qx '\.ok' out; then
			break
		fi
		sleep 0.1
	done
	ln -sfn "$BATS_TEST_TMPDIR/victim/file" "$D/log"
	printf 'switch %s - t4 push u h\n' "$R1" >&4
	exec 4>&-
	wait "$pid"
	assert_equal "$(tail -n 1 out)" .ok
	assert_equal "$(cat err)" ''
	[ -f "$D/log" ] && [ ! -L "$D/log" ] || fail "log is not a regular file"
	assert_equal "$(cat "$D/log")" "t4	push	$R1	-	u	h"
	assert_equal "$(cat victim/file)" secret
	assert_equal "$(readlink "$D/current")" "releases/$R1"
	assert_equal "$(ls -A "$D")" "$(lines current log releases)"
}

# two_pushes: R1 (app-a, app-b) staged on D, then R2 on it (app-b
# changed, app-a kept); src/ holds R2's tree, full1 and full2 the
# releases' MANIFESTs, in1 and in2 the stagings
two_pushes() {
	mkdir -p src/rep_applications/app-a src/rep_applications/app-b "$D/releases"
	echo a >src/rep_applications/app-a/f
	echo b >src/rep_applications/app-b/f
	manifest 2 app-a app-b
	archive "$R1"
	mv in in1
	full src/MANIFEST >full1
	IN=in1 run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + + .ok)"
	rm -r src/rep_applications/app-a
	echo b2 >src/rep_applications/app-b/f
	manifest 2 app-b
	{
		grep -v '^app-b' full1
		sed 1d src/MANIFEST
	} >full2
	archive "$R2" "$R1" full2
	mv in in2
	IN=in2 run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" "$(lines + + + + .ok)"
	assert_equal "$(readlink "$D/releases/$R2/rep_applications/"*)" "$(lines \
		"../../../store/$R1/rep_applications/app-a" "../../../store/$R2/rep_applications/app-b")"
}

# stage_refused MESSAGE...: `in` staged, refused with MESSAGE..., releases/ as
# it was (the archive may be left in store/, for the next push of it or
# the next prune), nothing left of the staging
stage_refused() {
	local before
	before=$(ls -A "$D/releases")
	IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_framed
	assert_equal "$(replies)" "$(lines "${@/#/!}" .error)"
	assert_equal "$(ls -A "$D/releases")" "$before"
	assert_equal "$(find "$D" -name '.rep-push*')" ''
}

@test "stage on a base: each application linked where the base release has it, checked there; what cannot be is refused" {
	two_pushes
	local r3=rep_applications_20300101_000003
	# an application of the release neither in the archive nor in a base
	archive "$r3" - full2
	stage_refused "app-a: in the release's MANIFEST, not in the archive, and no release to take it from"
	# the base's link for it not of the form rep-push makes
	ln -sfn ../../../store/"$R1"/rep_applications/app-b "$D/releases/$R2/rep_applications/app-a"
	archive "$r3" "$R2" full2
	stage_refused "releases/$R2/rep_applications/app-a: not a link to ../../../store/RELEASE/rep_applications/app-a"
	ln -sfn "/$D/store/$R1/rep_applications/app-a" "$D/releases/$R2/rep_applications/app-a"
	stage_refused "releases/$R2/rep_applications/app-a: not a link to ../../../store/RELEASE/rep_applications/app-a"
	rm "$D/releases/$R2/rep_applications/app-a"
	stage_refused "releases/$R2/rep_applications/app-a: missing (the release's MANIFEST lists it)"
	ln -s "../../../store/$R1/rep_applications/app-a" "$D/releases/$R2/rep_applications/app-a"
	# what it leads to is no directory
	mv "$D/store/$R1/rep_applications/app-a" moved
	ln -s "$BATS_TEST_TMPDIR/moved" "$D/store/$R1/rep_applications/app-a"
	stage_refused "store/$R1/rep_applications/app-a: not a directory"
	rm "$D/store/$R1/rep_applications/app-a"
	mv moved "$D/store/$R1/rep_applications/app-a"
	# its row otherwise than in the store's MANIFEST
	sed 's/^\(app-a\t1\t\)2/\13/' full2 >full3
	archive "$r3" "$R2" full3
	stage_refused "the release's MANIFEST: app-a: not as store/$R1/MANIFEST lists it"
	# a release's MANIFEST has no removal row, and is of version 2
	printf '#rep-manifest\t2\napp-a\t0\t0\t%s\t0\tremove\t-\n' "$EMPTY_SHA256" >full3
	archive "$r3" "$R2" full3
	stage_refused "the release's MANIFEST: app-a: a removal row"
	sed 1d full2 >full3
	archive "$r3" "$R2" full3
	stage_refused "the release's MANIFEST: version 1, not the MANIFEST of a release"
	printf '#rep-manifest\t2\napp-a\t1\t2\n' >full3
	archive "$r3" "$R2" full3
	stage_refused "the release's MANIFEST: line 2: not a row of a release"
	# the release there already, or the store's entry another archive's
	archive "$R2" "$R1" full2
	stage_refused "releases/$R2: already exists"
	local linker=$D/releases/rep_applications_20000101_000000
	mkdir -p "$D/store/$r3/rep_applications" "$linker/rep_applications"
	printf '#rep-manifest\t2\n' >"$D/store/$r3/MANIFEST"
	ln -s "../../../store/$r3/rep_applications/app-b" "$linker/rep_applications/app-b"
	archive "$r3" "$R2" full2
	stage_refused "store/$r3 exists and differs from the archive"
	# linked to by no release, it is what a staging that failed left:
	# made again of the archive
	rm -r "$linker"
	# all well: app-a linked where R2 has it, app-b to the archive's
	IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(readlink "$D/releases/$r3/rep_applications/"*)" "$(lines \
		"../../../store/$R1/rep_applications/app-a" "../../../store/$r3/rep_applications/app-b")"
	assert_equal "$(find "$D" -name '.rep-push*')" ''
}

@test "stage: an archive pushed again, its release pruned, its store entry still used: that entry kept, not unpacked again" {
	two_pushes
	# R1 pruned: store/R1 stays, R2 links into it
	IN=<(printf 'prune %s\n' "$R1") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(ls -A "$D/store")" "$(lines "$R1" "$R2")"
	touch -d 2001-01-01 "$D/store/$R1/rep_applications/app-a/f"
	# R1 pushed again onto R2: app-a from store/R1, app-b from store/R1 too
	IN=in1 run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(readlink "$D/releases/$R1/rep_applications/"*)" "$(lines \
		"../../../store/$R1/rep_applications/app-a" "../../../store/$R1/rep_applications/app-b")"
	assert_equal "$(stat -c %Y "$D/store/$R1/rep_applications/app-a/f")" "$(date -d 2001-01-01 +%s)"
	IN=<(printf 'verify %s\n' "$R1") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(tail -n 1 <<<"$output")" .ok
}

@test "verify, a release of links: its links, its MANIFEST and what they lead to in store/; nothing left of the check" {
	two_pushes
	local r=$D/releases/$R2
	IN=<(printf '%s\n' "verify $R2 $(sha full2)") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(tail -n 1 <<<"$output")" .ok
	REL=$R2
	# a link elsewhere
	ln -sfn "../../../store/$R2/rep_applications/app-b" "$r/rep_applications/app-a"
	verified "rep_applications/app-a: a link to ../../../store/$R2/rep_applications/app-b, not to ../../../store/RELEASE/rep_applications/app-a in releases/$R2"
	ln -sfn "../../../store/x/rep_applications/app-a" "$r/rep_applications/app-a"
	verified "rep_applications/app-a: a link to ../../../store/x/rep_applications/app-a, not to ../../../store/RELEASE/rep_applications/app-a in releases/$R2"
	# a link missing, one too many, a directory among the links
	rm "$r/rep_applications/app-a"
	verified "app-a: missing in releases/$R2"
	ln -s "../../../store/$R1/rep_applications/app-a" "$r/rep_applications/app-a"
	ln -s "../../../store/$R1/rep_applications/app-a" "$r/rep_applications/app-x"
	verified "rep_applications/app-x: not in the manifest in releases/$R2"
	rm "$r/rep_applications/app-x"
	mkdir "$r/rep_applications/app-x"
	verified "rep_applications/app-x: not a symbolic link, as the others are, in releases/$R2"
	rmdir "$r/rep_applications/app-x"
	# what else a release may not hold, the modes
	touch "$r/junk"
	verified "junk: not part of a release in releases/$R2"
	rm "$r/junk"
	chmod 664 "$r/MANIFEST"
	verified "MANIFEST: mode other than 0644 in releases/$R2"
	chmod 644 "$r/MANIFEST"
	chmod 775 "$r/rep_applications"
	verified "rep_applications: mode other than 0755 in releases/$R2"
	chmod 755 "$r/rep_applications"
	# the MANIFEST otherwise than the store's
	sed -i 's/^\(app-a\t1\t\)2/\13/' "$r/MANIFEST"
	verified "releases/$R2/MANIFEST: app-a: not as store/$R1/MANIFEST lists it"
	cp full2 "$r/MANIFEST"
	# what is in store/ changed, or gone
	echo A >"$D/store/$R1/rep_applications/app-a/f"
	verified "app-a: content differs in store/$R1"
	echo a >"$D/store/$R1/rep_applications/app-a/f"
	chmod 600 "$D/store/$R1/rep_applications/app-a/f"
	verified "rep_applications/app-a/f: mode other than 0644 or 0755 in store/$R1"
	chmod 644 "$D/store/$R1/rep_applications/app-a/f"
	mv "$D/store/$R1" moved
	verified "store/$R1: no such directory"
	ln -s "$BATS_TEST_TMPDIR/moved" "$D/store/$R1"
	verified "store/$R1: no such directory"
	rm "$D/store/$R1"
	mv moved "$D/store/$R1"
	IN=<(printf '%s\n' "verify $R2 $(sha full2)" "verify $R1 $(sha full1)") \
		run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(replies)" "$(lines .ok .ok)"
}

@test "prune: store/ entries no release links to removed, the others kept; links unreadable: store/ not cleaned" {
	two_pushes
	mkdir -p "$D/store/rep_applications_20300101_000009/x" "$D/store/notes"
	IN=<(printf '%s\n' "prune $R1") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(replies)" "$(lines "|gone	$R1" .ok)"
	# R2 links into store/R1: kept; what no release links to: gone
	assert_equal "$(ls -A "$D/store")" "$(lines notes "$R1" "$R2")"
	# a link of a release whose text cannot be read as one line
	mkdir -p "$D/store/rep_applications_20300101_000009" "$D/releases/rep_applications_20300101_000008/rep_applications"
	ln -s $'../../../store/x\ny' "$D/releases/rep_applications_20300101_000008/rep_applications/app-z"
	IN=<(printf '%s\n' "prune $R2") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(replies)" "$(lines "|gone	$R2" '!store: not cleaned (what the releases link to is unknown)' .ok)"
	assert_equal "$(ls -A "$D/store")" "$(lines notes "$R1" "$R2" rep_applications_20300101_000009)"
	rm -r "$D/releases/rep_applications_20300101_000008"
	IN=<(printf 'prune\n') run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(replies)" .ok
	assert_equal "$(ls -A "$D/store")" notes
}

@test "lock: what a killed push left in store/ is removed (tidy), and so are its private directories at the end" {
	mkdir -p "$D/releases" "$D/store/.rep-push-77/x" "$D/store/.rep-push-78-$R1/rep_applications"
	chmod 500 "$D/store/.rep-push-77"
	run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok)"
	refute_stderr
	assert_equal "$(ls -A "$D/store")" ''
}

@test "upgrade: store/BASE there already (a push killed after its copy) kept if the same, refused if not; a base changed as it is copied" {
	two_pushes
	# R1 of the old format, R2 gone: a push on R1 keeps app-a of it
	IN=<(printf 'prune %s %s\n' "$R2" "$R1") run --separate-stderr far lock "$D" me@here now make
	assert_success
	IN=in1 run --separate-stderr far lock "$D" me@here now make
	assert_success
	old_format "$D" "$R1"
	mkdir -p "$D/store"
	cp -a "$D/releases/$R1" "$D/store/$R1"
	IN=in2 run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(readlink "$D/releases/$R2/rep_applications/"*)" "$(lines \
		"../../../store/$R1/rep_applications/app-a" "../../../store/$R2/rep_applications/app-b")"
	rm -r "$D/releases/$R2"
	printf '#rep-manifest\t2\n' >"$D/store/$R1/MANIFEST"
	archive "$R2" "$R1" full2
	stage_refused "store/$R1 exists and differs from releases/$R1"
	rm -r "$D/store/$R1"
	# the copy checked against its own MANIFEST
	echo A >"$D/releases/$R1/rep_applications/app-a/f"
	stage_refused "app-a: content differs in the copy of releases/$R1"
	echo a >"$D/releases/$R1/rep_applications/app-a/f"
	chmod 600 "$D/releases/$R1/rep_applications/app-a/f"
	IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(stat -c %a "$D/store/$R1/rep_applications/app-a/f" "$D/releases/$R1/rep_applications/app-a/f")" \
		"$(lines 644 600)"
	IN=<(printf 'verify %s\n' "$R2") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(replies)" .ok
}

@test "stage: store/RELEASE found there (not this staging's) checked whole, as verify checks it, before a release links to it" {
	two_pushes
	# R1 pruned: store/R1 stays, R2 links into it; then R1 pushed again
	IN=<(printf 'prune %s\n' "$R1") run --separate-stderr far lock "$D" me@here now make
	assert_success
	local s=$D/store/$R1
	cp in1 in
	# the same MANIFEST, another content, a mode, an owner, an entry more
	echo A >"$s/rep_applications/app-a/f"
	stage_refused "app-a: content differs in store/$R1"
	echo a >"$s/rep_applications/app-a/f"
	chmod 600 "$s/rep_applications/app-b/f"
	stage_refused "rep_applications/app-b/f: mode other than 0644 or 0755 in store/$R1"
	chmod 644 "$s/rep_applications/app-b/f"
	chmod 775 "$s/rep_applications/app-b"
	stage_refused "rep_applications/app-b: mode other than 0755 in store/$R1"
	chmod 755 "$s/rep_applications/app-b"
	chown 4242 "$s/rep_applications/app-a/f"
	stage_refused "store/$R1/rep_applications/app-a/f: not owned by the login that pushes"
	chown "$(id -u)" "$s/rep_applications/app-a/f"
	echo x >"$s/rep_applications/app-a/g"
	stage_refused "app-a: 2 files and symlinks in store/$R1, 1 in the manifest" "app-a: content differs in store/$R1"
	rm "$s/rep_applications/app-a/g"
	IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(readlink "$D/releases/$R1/rep_applications/"*)" "$(lines \
		"../../../store/$R1/rep_applications/app-a" "../../../store/$R1/rep_applications/app-b")"
}

@test "upgrade: store/BASE found there (not this staging's) checked whole before a release links to it" {
	two_pushes
	# R1 of the old format, R2 gone, store/BASE a copy of R1 left there
	IN=<(printf 'prune %s %s\n' "$R2" "$R1") run --separate-stderr far lock "$D" me@here now make
	assert_success
	IN=in1 run --separate-stderr far lock "$D" me@here now make
	assert_success
	old_format "$D" "$R1"
	mkdir -p "$D/store"
	cp -a "$D/releases/$R1" "$D/store/$R1"
	local s=$D/store/$R1
	archive "$R2" "$R1" full2
	echo A >"$s/rep_applications/app-a/f"
	stage_refused "app-a: content differs in store/$R1"
	echo a >"$s/rep_applications/app-a/f"
	chmod 755 "$s/rep_applications/app-a/f"
	stage_refused "app-a: content differs in store/$R1"
	chmod 664 "$s/rep_applications/app-a/f"
	stage_refused "rep_applications/app-a/f: mode other than 0644 or 0755 in store/$R1"
	chmod 644 "$s/rep_applications/app-a/f"
	chown 4242 "$s/rep_applications/app-b"
	stage_refused "store/$R1/rep_applications/app-b: not owned by the login that pushes"
	chown "$(id -u)" "$s/rep_applications/app-b"
	IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(readlink "$D/releases/$R2/rep_applications/"*)" "$(lines \
		"../../../store/$R1/rep_applications/app-a" "../../../store/$R2/rep_applications/app-b")"
}

@test "stage on a base: what the release takes from the base's links is in directories only the login may change" {
	two_pushes
	local r3=rep_applications_20300101_000003 s=$D/store/$R1 as=' (owned by the login that pushes, mode 755)'
	archive "$r3" "$R2" full2
	chmod 777 "$D/store"
	stage_refused 'store: not as rep-push leaves it (owned by the login that pushes, writable by none other)'
	chmod 755 "$D/store"
	chown 4242 "$D/store"
	stage_refused 'store: not as rep-push leaves it (owned by the login that pushes, writable by none other)'
	chown "$(id -u)" "$D/store"
	chmod 775 "$s"
	stage_refused "store/$R1: not as rep-push leaves it$as"
	chmod 2755 "$s"
	stage_refused "store/$R1: not as rep-push leaves it$as"
	chmod 755 "$s"
	chmod g-s "$s"
	chown 4242 "$s"
	stage_refused "store/$R1: not as rep-push leaves it$as"
	chown "$(id -u)" "$s"
	chmod 757 "$s/rep_applications"
	stage_refused "store/$R1/rep_applications: not as rep-push leaves it$as"
	chmod 755 "$s/rep_applications"
	mv "$s/rep_applications" moved
	ln -s "$BATS_TEST_TMPDIR/moved" "$s/rep_applications"
	stage_refused "store/$R1/rep_applications: not a directory"
	rm "$s/rep_applications"
	mv moved "$s/rep_applications"
	chmod 700 "$s/rep_applications/app-a"
	stage_refused "store/$R1/rep_applications/app-a: not as rep-push leaves it$as"
	chmod 755 "$s/rep_applications/app-a"
	chown 4242 "$s/rep_applications/app-a"
	stage_refused "store/$R1/rep_applications/app-a: not as rep-push leaves it$as"
	chown "$(id -u)" "$s/rep_applications/app-a"
	# store/ with the setgid bit, writable by none other: as the login left it
	chmod 2755 "$D/store"
	IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(readlink "$D/releases/$r3/rep_applications/"*)" "$(lines \
		"../../../store/$R1/rep_applications/app-a" "../../../store/$r3/rep_applications/app-b")"
}

@test "stage: store/ made 0755 whatever the umask (0077, 0002); a push on a push passes the checks of store/" {
	local u
	for u in 0077 0002; do
		rm -rf "$D" src
		umask "$u"
		two_pushes
		umask 0022
		assert_equal "$(stat -c %a "$D/store")" 755
		IN=<(printf 'verify %s\n' "$R2") run --separate-stderr far lock "$D" me@here now make
		assert_success
		assert_equal "$(replies)" .ok
	done
}

@test "release names exactly as rep-push makes them: what prune removes of store/, what a link may name, which releases keep what they link to" {
	two_pushes
	local odd
	for odd in rep_applications_20300101_000009_01 rep_applications_20300101_000009_1 \
		rep_applications_20300101_000009_ rep_applications_20300101_000009_1000000000 \
		rep_applications_20300101_0000099 rep_applications_2030010_0000099 rep_applications_x; do
		mkdir -p "$D/store/$odd/rep_applications"
	done
	mkdir -p "$D/store/rep_applications_20300101_000009" "$D/store/rep_applications_20300101_000009_2" \
		"$D/store/rep_applications_20300101_000009_999999999" "$D/store/rep_applications_20300101_000008"
	# a directory of releases/ not named exactly as a release: not one,
	# what it links to not kept for it (as local targets decide)
	mkdir -p "$D/releases/rep_applications_y/rep_applications"
	ln -s ../../../store/rep_applications_20300101_000008/rep_applications/app-z \
		"$D/releases/rep_applications_y/rep_applications/app-z"
	IN=<(printf 'prune\n') run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(replies)" .ok
	assert_equal "$(LC_ALL=C ls -A "$D/store")" "$(lines "$R1" "$R2" rep_applications_20300101_0000099 \
		rep_applications_20300101_000009_ rep_applications_20300101_000009_01 rep_applications_20300101_000009_1 \
		rep_applications_20300101_000009_1000000000 rep_applications_2030010_0000099 rep_applications_x)"
	rm -r "$D/releases/rep_applications_y"
	# a link into a store entry not named exactly as a release: refused by
	# verify and by a staging on it, even where that entry is a faithful copy
	local r=$D/releases/$R2 o=rep_applications_20300101_000009_01
	rm -r "$D/store/$o"
	cp -a "$D/store/$R1" "$D/store/$o"
	ln -sfn "../../../store/$o/rep_applications/app-a" "$r/rep_applications/app-a"
	REL=$R2
	verified "rep_applications/app-a: a link to ../../../store/$o/rep_applications/app-a, not to ../../../store/RELEASE/rep_applications/app-a in releases/$R2"
	archive rep_applications_20300101_000003 "$R2" full2
	stage_refused "releases/$R2/rep_applications/app-a: not a link to ../../../store/RELEASE/rep_applications/app-a"
	ln -sfn "../../../store/$R1/rep_applications/app-a" "$r/rep_applications/app-a"
	IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(tail -n 1 <<<"$output")" .ok
}
