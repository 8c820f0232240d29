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
	local a=$1 m
	shift
	REL=$(basename "$a" .tar.gz)
	m=$(tar -xOzf "$a" MANIFEST | sha256sum)
	{
		printf 'stage %s %s %s %s %s\n' "$REL" "$(sha "$a")" "$(stat -c %s "$a")" "${m%% *}" \
			"$(tar -tzf "$a" | grep -c '^rep_applications/.*[^/]$')"
		cat "$a"
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
	swap_shim tee '*' '.rep-push-[0-9]*' 'releases/.rep-push-[0-9]*'
	stage_input "$A"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + .ok)"
	refute_stderr
	assert_equal "$(ls -A victim)" archive
	assert_equal "$(cat victim/archive)" precious
	[ -d "$D/releases/$REL" ] && [ ! -L "$D/releases/$REL" ] || fail "releases/$REL is not a directory"
	diff -r rep_applications/app-a "$D/releases/$REL/rep_applications/app-a"
}

@test "stage: the staging directory swapped for a link before the unpacking: nothing unpacked where it leads" {
	small_archive
	mkdir -p "$D/releases" victim
	chmod 700 victim
	swap_shim chmod '*' 'releases/.rep-push-[0-9]*'
	cp bin/chmod bin/mkdir
	sed -i "s|^exec .*|exec $(command -v mkdir) \"\$@\"|" bin/mkdir
	stage_input "$A"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + .ok)"
	refute_stderr
	assert_equal "$(ls -A victim)" ''
	assert_equal "$(stat -c %a victim)" 700
	[ -d "$D/releases/$REL" ] && [ ! -L "$D/releases/$REL" ] || fail "releases/$REL is not a directory"
	diff -r rep_applications/app-a "$D/releases/$REL/rep_applications/app-a"
}

@test "switch: a link at the far side's private name, or swapped in during the switch: another deployment's current untouched" {
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
	printf 'switch %s %s\n' "$R2" "$R1" >&4
	exec 4>&-
	wait "$pid" || true
	assert_equal "$(readlink victim/current)" releases/keep
	assert_equal "$(ls -A victim)" "$(lines current releases)"
	assert_equal "$(sed -n '5,$p' out)" "$(lines "!.rep-push-$pid: a symbolic link (refused, not followed)" .error)"
	assert_equal "$(cat err)" ''
	assert_equal "$(readlink "$D/current")" "releases/$R1"
	rm -rf "$D/.rep-push-$pid" "$D/moved"
	# swapped in as the new link is made: the switch goes on, unharmed
	swap_shim ln '*' '.rep-push-[0-9]*'
	IN=<(printf 'switch %s %s\n' "$R2" "$R1") PATH=$BATS_TEST_TMPDIR/bin:$PATH \
		run --separate-stderr far lock "$D" me@here now make
	assert_equal "$(readlink victim/current)" releases/keep
	assert_equal "$(ls -A victim)" "$(lines current releases)"
	assert_success
	assert_equal "$(sed -n '5,$p' <<<"$output")" .ok
	refute_stderr
	assert_equal "$(readlink "$D/current")" "releases/$R2"
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
	assert_output "$(lines '|current	' .ok + + + .ok)"
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

# archive: src/ as GNU tar packs it (modes, kinds and links as they are)
# into A, a release's archive; the staging's input in `in`, the release
# in REL
archive() {
	A=$BATS_TEST_TMPDIR/rep_applications_20300101_000000.tar.gz
	REL=rep_applications_20300101_000000
	local m files top
	mapfile -t top < <(cd src && ls -A)
	tar -czf "$A" -C src --sort=name --owner=0 --group=0 "${top[@]}"
	m=$(sha src/MANIFEST)
	files=$(awk -F '\t' '!/^#/ && $6 != "remove" { n += $2 } END { print n + 0 }' src/MANIFEST)
	{
		printf 'stage %s %s %s %s %s\n' "$REL" "$(sha "$A")" "$(stat -c %s "$A")" "$m" "$files"
		cat "$A"
	} >in
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
	assert_equal "$(ls -A "$D")" releases
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
	assert_output "$(lines '|current	' .ok + + + .ok)"
	refute_stderr
	diff -r --no-dereference src "$D/releases/$REL"
	rm -rf "$D"
	# version 2, with a removal row
	manifest 2 app-a app-b app-gone:remove
	archive
	staged
	assert_success
	assert_output "$(lines '|current	' .ok + + + .ok)"
	refute_stderr
	diff -r --no-dereference src "$D/releases/$REL"
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
	assert_output "$(lines '|current	' .ok + + + .ok)"
	refute_stderr
	assert_equal "$(cd "$D/releases/$REL" && find . ! -type l -printf '%p %m\n' | LC_ALL=C sort)" "$(lines \
		'. 755' './MANIFEST 644' './rep_applications 755' './rep_applications/app-a 755' \
		'./rep_applications/app-a/gexec 644' './rep_applications/app-a/none 644' \
		'./rep_applications/app-a/open 755' './rep_applications/app-a/open/f 644' \
		'./rep_applications/app-a/private 644' './rep_applications/app-a/sgid 755' \
		'./rep_applications/app-a/shut 755' './rep_applications/app-a/shut/f 644' \
		'./rep_applications/app-a/suid 755' './rep_applications/app-a/world 644')"
	assert_equal "$(readlink "$D/releases/$REL/rep_applications/app-a/link")" private
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
	assert_output "$(lines '|current	' .ok + + + .ok)"
	refute_stderr
	assert_equal "$(cd "$d/releases/$REL/rep_applications/app-a" && find . -printf '%p %m\n' | LC_ALL=C sort)" \
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

@test "stage: version 1: at most 2 x FILES + 256 directories an application" {
	mkdir -p src/rep_applications/app-a
	echo a >src/rep_applications/app-a/f
	(cd src/rep_applications/app-a && mkdir $(seq 259))
	manifest 1 app-a
	archive
	refused 'app-a: 259 directories after unpacking, more than a version 1 manifest allows (2 x files + 256)'
	rmdir src/rep_applications/app-a/259
	manifest 1 app-a
	archive
	staged
	assert_success
	assert_output "$(lines '|current	' .ok + + + .ok)"
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
	assert_equal "$(ls -A "$D")" releases
}

# verified MESSAGE...: verify REL refused with those messages, nothing left but the release
verified() {
	IN=<(printf 'verify %s\n' "$REL") run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_framed
	assert_equal "$(sed -n '4,$p' <<<"$output")" "$(lines "${@/#/!}" .error)"
	assert_equal "$(ls -A "$D/releases")" "$REL"
	assert_equal "$(ls -A "$D")" releases
}

@test "verify: a file changed in place, a mode changed, an entry added: refused" {
	mkdir src
	odd_app app-a
	manifest 2 app-a
	archive
	staged
	assert_success
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

@test "verify: an entry of another owner (a hard link to a file of theirs, say): refused" {
	mkdir src
	odd_app app-a
	manifest 2 app-a
	archive
	staged
	assert_success
	local r=$D/releases/$REL
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
	mkdir bb
	local a
	for a in $(busybox --list); do
		ln -s "$(command -v busybox)" "bb/$a"
	done
	mkdir src
	odd_app app-a
	manifest 2 app-a
	archive
	mkdir -p "$D/releases"
	PATH=$BATS_TEST_TMPDIR/bb:$PATH IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + .ok)"
	diff -r --no-dereference src "$D/releases/$REL"
	IN=<(printf 'verify %s\n' "$REL") PATH=$BATS_TEST_TMPDIR/bb:$PATH run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" .ok
	printf 'x\n' >"$D/releases/$REL/rep_applications/app-a/sub dir/back\\slash"
	IN=<(printf 'verify %s\n' "$REL") PATH=$BATS_TEST_TMPDIR/bb:$PATH run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" "$(lines "!app-a: content differs in releases/$REL" .error)"
	rm -r "$D/releases/$REL"
	chmod 600 src/rep_applications/app-a/README
	chmod 4755 src/rep_applications/app-a/bin/run
	archive
	PATH=$BATS_TEST_TMPDIR/bb:$PATH IN=in run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_output "$(lines '|current	' .ok + + + .ok)"
	assert_equal "$(stat -c %a "$D/releases/$REL/rep_applications/app-a/README" "$D/releases/$REL/rep_applications/app-a/bin/run")" \
		"$(lines 644 755)"
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
	assert_output "$(lines '|current	' .ok + + + .ok)"
	refute_stderr
	ln -sfn '../README ' "$D/releases/$REL/rep_applications/app-a/bin/readme"
	IN=<(printf 'verify %s\n' "$REL") PATH=$BATS_TEST_TMPDIR/bin:$PATH run --separate-stderr far lock "$D" me@here now make
	assert_success
	assert_equal "$(sed -n '4,$p' <<<"$output")" "$(lines "!app-a: content differs in releases/$REL" .error)"
}
