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

@test "state: one record a line, current and each release with its MANIFEST's SHA-256; others skipped" {
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
		.ok \
		.ok \
		"!current changed during the push (now '$R2')" .error \
		.ok \
		'!switch stopped part-way (status 2)' .unknown \
		'!stage stopped part-way (status 2)' .unknown \
		'!unknown command rm' .error \
		'+' .ok \
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
		printf 'stage %s %s %s %s 2\n' "$rel" "$(sha "$a")" "$(stat -c %s "$a")" "${m%% *}"
		cat "$a"
		printf 'switch %s -\n' "$rel"
	} >in
	IN=in run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_output "$(lines '|current	' .ok + + + .ok .ok)"
	refute_stderr
	assert_equal "$(readlink "$D/current")" "releases/$rel"
	assert_equal "$(stat -c %a "$D/releases/$rel")" 755
	diff -r rep_applications/app-a "$D/releases/$rel/rep_applications/app-a"
	assert_equal "$(ls -A "$D")" "$(lines current releases)"
	# cut short: refused, nothing left
	{
		printf 'stage %s_2 %s %s %s 2\n' "$rel" "$(sha "$a")" "$(stat -c %s "$a")" "${m%% *}"
		head -c 100 "$a"
	} >in
	IN=in run --separate-stderr far lock "$D" me@here 2026-01-01T00:00:00Z make
	assert_success
	assert_output "$(lines '|current	'"$rel" "|release	$rel	${m%% *}" .ok \
		"!the archive arrived incomplete (100 of $(stat -c %s "$a") bytes)" .error)"
	assert_equal "$(ls -A "$D/releases")" "$rel"
	assert_equal "$(ls -A "$D")" "$(lines current releases)"
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

@test "as a user: a release that cannot be pruned is told in several lines, the lock kept to the end" {
	nobody_dir
	local d=$NOBODY_DIR/t
	release "$d" "$R1"
	release "$d" "$R2"
	chown -R nobody "$d"
	chown root "$d/releases/$R1/rep_applications/app-a"
	touch "$d/releases/$R1/rep_applications/app-a/f1" "$d/releases/$R1/rep_applications/app-a/f2"
	local m
	m=$(sha "$d/releases/$R1/MANIFEST")
	printf 'prune %s\nprune %s\n' "$R1" "$R2" >cmds
	run --separate-stderr runuser -u nobody -- dash -c "$FAR" rep-push lock "$d" me@here now make <cmds
	assert_success
	assert_framed
	local rm="!rm: cannot remove 'releases/$R1/rep_applications/app-a"
	assert_equal "$(sed -n '1,4p' <<<"$output")" "$(lines '|current	' "|release	$R1	$m" "|release	$R2	$m" .ok)"
	assert_equal "$(sed -n 5p <<<"$output")" "!releases/$R1: cannot remove it:"
	assert_equal "$(sed -n '6,7p' <<<"$output" | LC_ALL=C sort)" "$(lines "$rm/f1': Permission denied" \
		"$rm/f2': Permission denied")"
	assert_equal "$(sed -n '8,$p' <<<"$output")" "$(lines .error + .ok)"
	refute_stderr
	assert_equal "$(ls -A "$d/releases")" "$R1"
	assert_equal "$(ls -A "$d")" releases
}
