#!/usr/bin/env bats
# Releases that compose (issue 18): a push adds to what is live on each
# target; unpacked archives kept once in DIR/store and linked from every
# release that holds them; the full MANIFEST of each release; the
# deployment log, and --rollback and -k by it; the plan; targets made by
# the earlier rep-push; kills, locks and hostile targets.  Local targets,
# and one over the real sshd (tests/sshd).
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

# The fixture's archives (setup_file): R1 holds a (a file, an executable,
# a symlink, an empty directory), R2 holds b, R3 holds a changed, R4 holds
# c.  Each is pushed alone: what a release holds besides comes from what
# was live on the target.
R1=rep_applications_20260201_000001
R2=rep_applications_20260201_000002
R3=rep_applications_20260201_000003
R4=rep_applications_20260201_000004
T0=1700000000
NL=$'\n'

setup_file() {
	(
		fix=$BATS_FILE_TMPDIR/fix
		mkdir -p "$fix/dist" "$fix/src" && cd "$fix" || exit 1
		umask 022
		export USER=tester LOGNAME=tester LC_ALL=C; unset SUDO_USER
		mkapp a README bin/run
		chmod 755 rep_applications/a/bin/run
		ln -s bin/run rep_applications/a/start
		mkdir rep_applications/a/var
		mkapp b
		mkapp c README doc/notes
		fixture_release "$R1" a || exit 1
		fixture_release "$R2" b || exit 1
		echo 'a v3' >>rep_applications/a/README
		fixture_release "$R3" a || exit 1
		fixture_release "$R4" c || exit 1
	)
}

# fixture_release RELEASE APP...: register the applications, package them
# as dist/RELEASE.tar.gz, and keep in src/RELEASE the archive's MANIFEST
# and a copy of each application's tree.
fixture_release() {
	local name=$1 path app
	shift
	rep-register -q "$@" </dev/null >/dev/null || return
	path=$(SOURCE_DATE_EPOCH=$T0 rep-tar -q -d out "$@" </dev/null) || return
	mv -- "$path" "dist/$name.tar.gz" || return
	mkdir -p "src/$name" || return
	tar -xOzf "dist/$name.tar.gz" MANIFEST >"src/$name/MANIFEST" || return
	for app; do
		cp -a "rep_applications/$app" "src/$name/" || return
	done
	rm -r out
}

setup() {
	rep_setup
	FIX=$BATS_FILE_TMPDIR/fix
	A1=$FIX/dist/$R1.tar.gz
	A2=$FIX/dist/$R2.tar.gz
	A3=$FIX/dist/$R3.tar.gz
	A4=$FIX/dist/$R4.tar.gz
	HOST=$(uname -n)
	# the content of each application in the fixture's archives: what a
	# left record says left service
	SUM_A1=$(app_checksum "$R1" - a)
	SUM_A3=$(app_checksum "$R3" - a)
	SUM_B=$(app_checksum "$R2" - b)
	SUM_C=$(app_checksum "$R4" - c)
}

teardown() {
	if [ -n "${PUSH_PID:-}" ]; then
		kill -KILL "$PUSH_PID" 2>/dev/null || true
	fi
	if [ -n "${SSHD_DIR:-}" ]; then
		"$BATS_TEST_DIRNAME/sshd" stop "$SSHD_DIR"
	fi
}

# --- helpers -------------------------------------------------------------------------

# push ARCHIVE... -- OPTION/TARGET...: push quietly, failing the test if that fails.
push() {
	local -a archives=()
	while [ "$1" != -- ]; do
		archives+=("$1")
		shift
	done
	shift
	printf '%s\n' "${archives[@]}" | rep-push -q "$@" >/dev/null
}

# counted N WORD: "N WORDs" as the plan says it: "1 enters", "2 enter".
counted() {
	if [ "$1" -eq 1 ]; then
		printf '%s %ss' "$1" "$2"
	else
		printf '%s %s' "$1" "$2"
	fi
}

# named N WORD NAME...: counted, with the names in parentheses when there are any.
named() {
	local n=$1 word=$2 IFS=,
	shift 2
	counted "$n" "$word"
	if [ $# -gt 0 ]; then
		local list="$*"
		printf ' (%s)' "${list//,/, }"
	fi
}

# plan TARGET RELEASE ENTER CHANGE STAY LEAVE: the plan's line for one
# target; ENTER, CHANGE and LEAVE are names separated by spaces ('' none),
# STAY a count.
plan() {
	local -a enter change leave
	read -ra enter <<<"$3"
	read -ra change <<<"$4"
	read -ra leave <<<"$6"
	printf 'rep-push: %s: %s: %s, %s, %s, %s' "$1" "$2" \
		"$(named ${#enter[@]} enter "${enter[@]}")" "$(named ${#change[@]} change "${change[@]}")" \
		"$(counted "$5" stay)" "$(named ${#leave[@]} leave "${leave[@]}")"
}

# summary RELEASE [dry] PLAN...: the lines that tell how a push of RELEASE
# went live (or, with dry, would) on the targets whose plans are given.
# A push says the plan once, in its count line, when it is the same on
# every target; a dry run, or a push whose plans differ, says each
# target's plan first, then the count.  The one place that says how the
# plan and the summary are worded.
summary() {
	local rel=$1 dry='' n words='' same=1 p s
	shift
	if [ "${1-}" = dry ]; then
		dry='dry run: '
		shift
	fi
	n=$#
	s=s
	[ "$n" -ne 1 ] || s=''
	for p in "$@"; do
		p=${p#rep-push: *: "$rel": }
		[ -z "$words" ] || [ "$words" = "$p" ] || same=0
		words=$p
	done
	if [ -z "$dry" ] && [ "$same" -eq 1 ]; then
		printf 'rep-push: %s: live on %s target%s: %s\n' "$rel" "$n" "$s" "$words"
		return
	fi
	printf '%s\n' "$@"
	printf 'rep-push: %s: %slive on %s target%s\n' "$rel" "$dry" "$n" "$s"
}

# assert_pushed RELEASE PLAN... [-- LINE...]: $stderr is the summary of a
# push of RELEASE to the targets whose plans are given, and LINE... (any
# order); assert_dry: the same for a dry run (-n).
assert_pushed() {
	_assert_summary "$1" '' "${@:2}"
}

assert_dry() {
	_assert_summary "$1" dry "${@:2}"
}

_assert_summary() {
	local rel=$1 dry=$2 text
	local -a plans=() want=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		plans+=("$1")
		shift
	done
	[ $# -eq 0 ] || shift
	if [ -n "$dry" ]; then
		text=$(summary "$rel" dry "${plans[@]}")
	else
		text=$(summary "$rel" "${plans[@]}")
	fi
	mapfile -t want <<<"$text"
	assert_stderr_set "${want[@]}" "$@"
}

# no_rollback TARGET: what a rollback says of a target with nowhere to go
# back to from its live release.
no_rollback() {
	local cur
	cur=$(readlink "$1/current")
	printf 'rep-push: %s: no release before %s' "$1" "${cur##*/}"
}

# apart N [dry]: what a rollback of N targets to different releases says
# (rep-push -n tells each target's).
apart() {
	local dry=''
	[ "${2-}" != dry ] || dry='dry run: '
	printf 'rep-push: rollback: %sthe targets go back to different releases, as their logs say\n' "$dry"
	printf 'rep-push: rollback: %sdone on %s targets\n' "$dry" "$1"
}

# differ RELEASE [dry]: the line that says the targets' live sets differ.
differ() {
	if [ "${2-}" = dry ]; then
		printf "rep-push: %s: dry run: the targets' live sets differ; each keeps its own" "$1"
	else
		printf "rep-push: %s: the targets' live sets differ; each keeps its own" "$1"
	fi
}

# assert_stderr_set LINE... / assert_output_set LINE...: $stderr (or
# $output) is exactly these lines, in any order (the order of the plan's
# lines among the others is not the point here).
assert_stderr_set() {
	_assert_set stderr "$stderr" "$@"
}

assert_output_set() {
	_assert_set output "$output" "$@"
}

_assert_set() {
	local what=$1 text=$2 want got
	shift 2
	want=$(printf '%s\n' "$@" | LC_ALL=C sort)
	got=$(printf '%s\n' "$text" | LC_ALL=C sort)
	if [ "$got" != "$want" ]; then
		batslib_print_kv_single_or_multi 8 "expected (any order)" "$(lines "$@")" \
			"$what" "$text" | batslib_decorate "$what differs" | fail
	fi
}

# unplanned: $stderr without the plan's lines (for runs that fail, where
# whether the plan is told is not the point).
unplanned() {
	printf '%s\n' "$stderr" | grep -Ev '^rep-push: [^ ]+: [^ ]+: [0-9]+ enters?, ' || true
}

# row RELEASE APP: APP's row in a full MANIFEST when the archive of RELEASE
# brought it: the archive's row, the last field -.
row() {
	awk -F '\t' -v OFS='\t' -v app="$2" '$1 == app { $7 = "-"; print }' "$FIX/src/$1/MANIFEST"
}

# full RELEASE:APP...: the full MANIFEST of a release holding these
# applications (given in name order), each as RELEASE's archive brought it.
full() {
	local x
	printf '#rep-manifest\t2\n'
	for x; do
		row "${x%%:*}" "${x#*:}"
	done
}

# tree_of DIR: the entries under DIR (followed if a link): mode, type,
# path, link target.
tree_of() {
	(cd "$1" && find . -mindepth 1 -printf '%m %y %P %l\n') | LC_ALL=C sort
}

# assert_release DIR RELEASE RELEASE:APP...: DIR/releases/RELEASE holds its
# full MANIFEST (0644) and rep_applications/ (0755) with one link per
# application into the store entry of the push that brought it, and
# nothing else; through each link, that push's tree.
assert_release() {
	local dir=$1 rel=$2 x want got
	shift 2
	if [ ! -d "$dir/releases/$rel" ] || [ -L "$dir/releases/$rel" ]; then
		fail "$dir/releases/$rel: not a directory"
		return
	fi
	want=$(
		printf '644 f MANIFEST\n755 d rep_applications\n'
		for x; do
			printf '777 l rep_applications/%s ../../../store/%s/rep_applications/%s\n' \
				"${x#*:}" "${x%%:*}" "${x#*:}"
		done
	)
	got=$(find "$dir/releases/$rel" -mindepth 1 -printf '%m %y %P %l\n' | sed 's/ $//')
	assert_equal "$(LC_ALL=C sort <<<"$got")" "$(LC_ALL=C sort <<<"$want")"
	assert_equal "$(cat "$dir/releases/$rel/MANIFEST")" "$(full "$@")"
	for x; do
		assert_equal "$(tree_of "$dir/releases/$rel/rep_applications/${x#*:}")" \
			"$(tree_of "$FIX/src/${x%%:*}/${x#*:}")"
		diff -r "$FIX/src/${x%%:*}/${x#*:}" "$dir/releases/$rel/rep_applications/${x#*:}/" ||
			fail "$dir/releases/$rel/rep_applications/${x#*:}: not the tree of ${x%%:*}"
	done
}

# assert_store DIR RELEASE APP...: DIR/store/RELEASE is what RELEASE's
# archive unpacked: its MANIFEST and these applications, real directories.
assert_store() {
	local dir=$1 rel=$2 app
	shift 2
	assert_equal "$(ls -A "$dir/store/$rel")" "$(lines MANIFEST rep_applications)"
	cmp "$FIX/src/$rel/MANIFEST" "$dir/store/$rel/MANIFEST" || fail "$dir/store/$rel/MANIFEST: not the archive's"
	assert_equal "$(find "$dir/store/$rel/rep_applications" -mindepth 1 -maxdepth 1 -printf '%y %f\n' | LC_ALL=C sort)" \
		"$(printf 'd %s\n' "$@")"
	for app; do
		assert_equal "$(tree_of "$dir/store/$rel/rep_applications/$app")" "$(tree_of "$FIX/src/$rel/$app")"
	done
}

# entries DIR: the names in DIR (hidden ones included), each followed by a space.
entries() {
	find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | tr '\n' ' '
}

# assert_stores DIR RELEASE...: DIR/store holds exactly these (hidden ones included).
assert_stores() {
	local dir=$1
	shift
	assert_equal "$(entries "$dir/store")" "$(printf '%s ' "$@")"
}

# assert_releases DIR RELEASE...: DIR/releases holds exactly these.
assert_releases() {
	local dir=$1
	shift
	assert_equal "$(entries "$dir/releases")" "$(printf '%s ' "$@")"
}

# assert_top DIR: DIR holds what a target holds between pushes, nothing else
# (no lock, no temporary).
assert_top() {
	assert_equal "$(entries "$1")" 'current log releases store '
	assert_equal "$(find "$1" -maxdepth 2 -name '.rep-push*')" ''
}

# logline EVENT RELEASE PREVIOUS [USER]: a log line, its time as TIME.
logline() {
	printf '%s\t%s\t%s\t%s\t%s\t%s' TIME "$1" "$2" "$3" "${4:-tester}" "$HOST"
}

# assert_log DIR LINE...: DIR/log is a regular file of these lines (times as TIME).
assert_log() {
	local dir=$1
	shift
	if [ ! -f "$dir/log" ] || [ -L "$dir/log" ]; then
		fail "$dir/log: not a regular file"
		return
	fi
	assert_equal "$(norm_ts <"$dir/log")" "$(lines "$@")"
	assert_equal "$(tail -c 1 "$dir/log" | od -An -c | tr -d ' ')" '\n'
}

# plant DIR ARCHIVE [live]: DIR/releases/<release> as the earlier rep-push
# left it: the archive unpacked (MANIFEST, real directories); with live,
# current points to it.  No log, no store.
plant() {
	local r
	r=$(basename "$2" .tar.gz)
	mkdir -p "$1/releases/$r" && tar -C "$1/releases/$r" -xzf "$2" || return
	if [ "${3-}" = live ]; then
		ln -sfn "releases/$r" "$1/current"
	fi
}

# archive_as RELEASE [ARCHIVE]: a copy of ARCHIVE (default A1) named
# RELEASE.tar.gz in the current directory; prints its name.
archive_as() {
	cp -- "${2:-$A1}" "$1.tar.gz"
	printf '%s\n' "$1.tar.gz"
}

# stale_lock DIR: the line a push prints when it breaks the lock
# of a killed push on DIR (a regular expression).
stale_lock() {
	printf 'rep-push: %s: breaking a stale lock: held by pid [0-9]+ on %s \\(tester@%s since %s\\), which is gone' \
		"$1" "$HOST" "$HOST" "$TS_RE"
}

# rolled DIR: DIR/current's release.
rolled() {
	local l
	l=$(readlink "$1/current")
	printf '%s' "${l#releases/}"
}

# --- composing --------------------------------------------------------------------------

@test "a push of b after a: the release holds both, links into store/, its full MANIFEST; a not unpacked or copied again" {
	run --separate-stderr rep-push t1 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1 a)"
	assert_pushed "$R1" "$(plan t1 "$R1" a '' 0 '')"
	assert_live t1 "$R1"
	assert_release t1 "$R1" "$R1:a"
	assert_store t1 "$R1" a
	local inode
	inode=$(stat -L -c %i t1/current/rep_applications/a/README)

	run --separate-stderr rep-push t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1 b)"
	assert_pushed "$R2" "$(plan t1 "$R2" b '' 1 '')"
	assert_live t1 "$R2"
	assert_top t1
	assert_release t1 "$R2" "$R1:a" "$R2:b"
	assert_release t1 "$R1" "$R1:a"
	assert_stores t1 "$R1" "$R2"
	assert_store t1 "$R1" a
	assert_store t1 "$R2" b
	# the path services use, and the same files through both releases
	assert_equal "$(cat t1/current/rep_applications/a/README t1/current/rep_applications/b/README)" \
		"$(lines a/README b/README)"
	assert_equal "$(stat -L -c %i "t1/releases/$R1/rep_applications/a/README")" "$inode"
	assert_equal "$(stat -L -c %i "t1/releases/$R2/rep_applications/a/README")" "$inode"
	assert_equal "$(stat -L -c %i "t1/releases/$R2/rep_applications/a/bin/run")" \
		"$(stat -L -c %i "t1/releases/$R1/rep_applications/a/bin/run")"
	# one copy of each file on the target
	assert_equal "$(find t1 -type f -path '*/rep_applications/*' | LC_ALL=C sort)" "$(lines \
		"t1/store/$R1/rep_applications/a/README" "t1/store/$R1/rep_applications/a/bin/run" \
		"t1/store/$R2/rep_applications/b/README")"
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")"
}

@test "a changed application replaces the old one; the releases before stay as they were; --rollback returns to them" {
	push "$A1" "$A2" -- t1
	snapshot "t1/releases/$R1" "t1/releases/$R2" "t1/store/$R1" "t1/store/$R2"
	run --separate-stderr rep-push t1 <<<"$A3"
	assert_success
	assert_output "$(push_records "$R3" t1 a)"
	assert_pushed "$R3" "$(plan t1 "$R3" '' a 1 '')"
	assert_live t1 "$R3"
	assert_release t1 "$R3" "$R3:a" "$R2:b"
	assert_equal "$(cat t1/current/rep_applications/a/README)" "$(lines a/README 'a v3')"
	# R1, R2 and their store entries untouched: only R3 added
	assert_unchanged
	assert_release t1 "$R2" "$R1:a" "$R2:b"
	assert_stores t1 "$R1" "$R2" "$R3"

	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(push_records "$R2" t1 a b)"
	assert_stderr "rep-push: $R2: live again on 1 target"
	assert_live t1 "$R2"
	assert_equal "$(cat t1/current/rep_applications/a/README)" a/README
	assert_releases t1 "$R1" "$R2" "$R3"
	assert_top t1
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline push "$R3" "$R2")" \
		"$(logline rollback "$R2" "$R3")"
}

@test "rep-setstatus retired a; rep-ls -s retired | rep-tar | rep-push T: a leaves the next release; logged as retire; --rollback brings it back" {
	push "$A1" "$A2" -- t1
	cp "$FIX"/metadata.db* .
	setstatus retired a
	# the archive: a removal row, no files
	local archive ret
	archive=$(rep-ls -s retired </dev/null | rep-tar -q)
	ret=$(basename "$archive" .tar.gz)
	assert_equal "$(tar -xOzf "$archive" MANIFEST)" "$(lines "#rep-manifest${TAB}2" \
		"a${TAB}0${TAB}0${TAB}$EMPTY_SHA256${TAB}0${TAB}remove${TAB}-")"
	snapshot t1
	run --separate-stderr rep-push -n t1 <<<"$archive"
	assert_success
	assert_output ''
	assert_dry "$ret" "$(plan t1 "$ret" '' '' 1 a)" -- "rep-push: t1: would stage $ret" \
		"rep-push: t1: would switch current from $R2 to $ret"
	assert_unchanged
	rm -r dist

	run --separate-stderr bash -o pipefail -c 'rep-ls -s retired | rep-tar -q | rep-push t1' </dev/null
	assert_success
	ret=$(cd dist && echo rep_applications_*.tar.gz)
	ret=${ret%.tar.gz}
	# nothing went live: a left record alone (a is not recorded deployed)
	assert_output "$(left_records "$ret" t1 "$SUM_A1" a)"
	assert_pushed "$ret" "$(plan t1 "$ret" '' '' 1 a)"
	assert_live t1 "$ret"
	assert_release t1 "$ret" "$R2:b"
	assert_absent t1/current/rep_applications/a
	assert_release t1 "$R2" "$R1:a" "$R2:b"
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline retire "$ret" "$R2")"

	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(push_records "$R2" t1 a b)"
	assert_stderr "rep-push: $R2: live again on 1 target"
	assert_live t1 "$R2"
	assert_equal "$(cat t1/current/rep_applications/a/README)" a/README
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline retire "$ret" "$R2")" \
		"$(logline rollback "$R2" "$ret")"
	assert_top t1
}

@test "--replace: the release holds only the archive's applications; --rollback brings the others back" {
	push "$A1" "$A2" -- t1
	run --separate-stderr rep-push --replace t1 <<<"$A4"
	assert_success
	assert_output "$(lines "$(push_records "$R4" t1 c)" "$(left_records "$R4" t1 "$SUM_A1" a)" "$(left_records "$R4" t1 "$SUM_B" b)")"
	assert_pushed "$R4" "$(plan t1 "$R4" c '' 0 'a b')"
	assert_live t1 "$R4"
	assert_release t1 "$R4" "$R4:c"
	assert_absent t1/current/rep_applications/a t1/current/rep_applications/b
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline push "$R4" "$R2")"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R2" t1 a b)" "$(left_records "$R2" t1 "$SUM_C" c)")"
	assert_stderr "rep-push: $R2: live again on 1 target"
	assert_release t1 "$R2" "$R1:a" "$R2:b"
	assert_live t1 "$R2"
}

@test "-n: per target, what enters, changes, stays and leaves, and that the live sets differ; nothing on stdout, nothing changed" {
	push "$A1" -- t1
	snapshot t1 t2
	run --separate-stderr rep-push -n t1 t2 <<<"$A2"
	assert_success
	assert_output ''
	assert_dry "$R2" "$(plan t1 "$R2" b '' 1 '')" "$(plan t2 "$R2" b '' 0 '')" -- "$(differ "$R2" dry)" \
		"rep-push: t1: would stage $R2" "rep-push: t2: would stage $R2" \
		"rep-push: t1: would switch current from $R1 to $R2" "rep-push: t2: would point current to $R2"
	assert_unchanged
	# several archives: each planned on what the one before would leave
	run --separate-stderr rep-push -n t1 < <(printf '%s\n' "$A3" "$A4")
	assert_success
	assert_output ''
	assert_stderr_set "rep-push: t1: would stage $R3" "rep-push: t1: would switch current from $R1 to $R3" \
		"$(summary "$R3" dry "$(plan t1 "$R3" '' a 0 '')")" \
		"rep-push: t1: would stage $R4" "rep-push: t1: would switch current from $R3 to $R4" \
		"$(summary "$R4" dry "$(plan t1 "$R4" c '' 1 '')")"
	# --replace, and an archive whose applications are all live already
	run --separate-stderr rep-push -n --replace t1 <<<"$A4"
	assert_success
	assert_output ''
	assert_dry "$R4" "$(plan t1 "$R4" c '' 0 a)" -- "rep-push: t1: would stage $R4" \
		"rep-push: t1: would switch current from $R1 to $R4"
	archive_as rep_applications_20260301_000001 >/dev/null
	run --separate-stderr rep-push -n t1 <<<rep_applications_20260301_000001.tar.gz
	assert_success
	assert_output ''
	assert_dry rep_applications_20260301_000001 "$(plan t1 rep_applications_20260301_000001 '' '' 1 '')" -- \
		"rep-push: t1: would stage rep_applications_20260301_000001" \
		"rep-push: t1: would switch current from $R1 to rep_applications_20260301_000001"
	run --separate-stderr rep-push -n -q t1 t2 <<<"$A2"
	assert_success
	assert_output ''
	refute_stderr
	assert_unchanged
	assert_absent t2
}

# --- the log -----------------------------------------------------------------------------

@test "the log: one line per switch, 6 TAB fields: time (RFC 3339 UTC), event, release, previous, user, host; bytes outside !-~ as ?" {
	local start end t
	start=$(date -u +%s)
	run --separate-stderr env LOGNAME='té st' rep-push -q t1 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1 a)"
	refute_stderr
	end=$(date -u +%s)
	assert_log t1 "$(logline push "$R1" - 't???st')"
	# the time: the switch's, UTC
	t=$(cut -f1 t1/log)
	[[ $t =~ ^$TS_RE$ ]] || fail "time: $t"
	t=$(date -u -d "$t" +%s)
	assert [ "$t" -ge "$start" ]
	assert [ "$t" -le "$end" ]
	push "$A2" -- t1
	push -- --rollback t1 </dev/null
	assert_equal "$(awk -F '\t' '{ print NF }' t1/log | tr '\n' ' ')" '6 6 6 '
	assert_log t1 "$(logline push "$R1" - 't???st')" "$(logline push "$R2" "$R1")" "$(logline rollback "$R1" "$R2")"
	# a push of a release already live switches nothing: no line
	run --separate-stderr rep-push t1 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1 a)"
	assert_pushed "$R1" "$(plan t1 "$R1" '' '' 1 '')"
	assert_equal "$(wc -l <t1/log)" 3
}

@test "revert: a switch that fails on another target switches this one back, logged as revert, which a rollback undoes no further" {
	push "$A1" -- t1 t2
	printf '%s\n' "$A2" >list
	run --separate-stderr "$FAULT_PUSH" t1 fault:switch:t2 <list
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,fault:switch:t2 'a switch failed; no target was left on it' b)"
	stderr=$(unplanned)
	assert_stderr "$(lines "rep-push: fault:switch:t2: injected fault: switch1" \
		"rep-push: t1: switched back to $R1" "rep-push: $R2: a switch failed; no target was left on it")"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline revert "$R1" "$R2")"
	assert_log t2 "$(logline push "$R1" -)"
	snapshot t1
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "$(no_rollback t1)" \
		'rep-push: rollback: not possible on 1 of 1 targets; nothing switched')"
	assert_unchanged
}

@test "a rollback switched back (another target failed) leaves the history as it was: the next rollback and -k see the push stack whole" {
	push "$A1" -- t1 t2
	push "$A2" -- t1 t2
	push "$A3" -- t1 t2
	run --separate-stderr "$FAULT_PUSH" --rollback t1 fault:switch:t2 </dev/null
	assert_failure 1
	assert_output ''
	stderr=$(unplanned)
	assert_stderr "$(lines "rep-push: fault:switch:t2: injected fault: switch1" \
		"rep-push: t1: switched back to $R3" "rep-push: rollback: a switch failed; no target was left on it")"
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline push "$R3" "$R2")" \
		"$(logline rollback "$R2" "$R3")" "$(logline revert "$R3" "$R2")"
	# R3 was not rolled back from: -k 2 keeps what two rollbacks reach
	push "$A4" -- -k 2 t1 t2
	assert_equal "$(ls t1/releases)" "$(printf '%s\n' "$R2" "$R3" "$R4")"
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_stderr "rep-push: $R3: live again on 2 targets"
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_stderr "rep-push: $R2: live again on 2 targets"
}

@test "a live release whose MANIFEST is gone: a push refuses that target (composed on nothing, it would take everything out of service)" {
	push "$A1" -- t1
	rm "t1/releases/$R1/MANIFEST"
	snapshot t1
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1 '1 of 1 targets could not be opened; nothing done' b)"
	assert_stderr "$(lines "rep-push: t1: releases/$R1/MANIFEST: No such file or directory" "rep-push: $R2: 1 of 1 targets could not be opened; nothing done")"
	assert_unchanged
	run --separate-stderr rep-push -n t1 <<<"$A2"
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: releases/$R1/MANIFEST: missing or unreadable: no release can be composed on it" "rep-push: $R2: dry run: not possible on 1 of 1 targets; nothing switched")"
	assert_unchanged
}

@test "a log none of whose lines took effect (the first push of a target of the earlier rep-push, killed after its line): the rule by name" {
	push "$A1" -- t1
	push "$A2" -- t1
	printf '%s\t%s\t%s\t%s\ttester\t%s\n' 2026-01-01T00:00:00Z push "$R3" "$R2" "$HOST" >t1/log
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_stderr "rep-push: $R1: live again on 1 target"
}

@test "a store entry a push finds there (its release pruned, or planted) is checked whole before a release links to it" {
	push "$A1" -- t1
	push "$A2" -- t1
	push "$A4" -- -k 1 t1
	assert_equal "$(ls t1/releases)" "$(printf '%s\n' "$R2" "$R4")"
	assert_equal "$(ls t1/store)" "$(printf '%s\n' "$R1" "$R2" "$R4")"
	chmod u+w "t1/store/$R1/rep_applications/a/README"
	echo planted >>"t1/store/$R1/rep_applications/a/README"
	snapshot t1
	run --separate-stderr rep-push t1 <<<"$A1"
	assert_failure 1
	assert_output "$(failed_records "$R1" t1 'staging failed on 1 of 1 targets; nothing switched' a)"
	assert_stderr "$(lines "rep-push: t1: store/$R1/rep_applications/a: content differs from its MANIFEST" \
		"rep-push: $R1: staging failed on 1 of 1 targets; nothing switched")"
	assert_unchanged
}

# --- rollback by the log -------------------------------------------------------------------

@test "rollback is an undo stack: push R1, R2, roll back, push R3 -k 1: R2 pruned, R1 kept; --rollback goes to R1, then no further" {
	push "$A1" "$A2" -- t1
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1 a)" "$(left_records "$R1" t1 "$SUM_B" b)")"
	assert_stderr "rep-push: $R1: live again on 1 target"
	run --separate-stderr rep-push -k 1 t1 <<<"$A3"
	assert_success
	assert_output "$(push_records "$R3" t1 a)"
	assert_pushed "$R3" "$(plan t1 "$R3" '' a 0 '')"
	# R2 was rolled back from: no rollback reaches it; R1 is where one goes
	assert_releases t1 "$R1" "$R3"
	assert_stores t1 "$R1" "$R3"
	assert_release t1 "$R3" "$R3:a"
	assert_release t1 "$R1" "$R1:a"
	assert_top t1
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(push_records "$R1" t1 a)"
	assert_stderr "rep-push: $R1: live again on 1 target"
	assert_live t1 "$R1"
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline rollback "$R1" "$R2")" \
		"$(logline push "$R3" "$R1")" "$(logline rollback "$R1" "$R3")"
	# R1 was live first: nothing before it; R3, rolled back from, is no target
	snapshot t1
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "$(no_rollback t1)" \
		'rep-push: rollback: not possible on 1 of 1 targets; nothing switched')"
	assert_unchanged
	run --separate-stderr rep-push -n --rollback t1 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "$(no_rollback t1)" \
		'rep-push: rollback: dry run: not possible on 1 of 1 targets; nothing switched')"
}

@test "-k KEEP keeps the live release, what KEEP rollbacks reach and the KEEP newest by name; nothing else" {
	push "$A1" "$A2" "$A3" "$A4" -- t1
	push -- --rollback t1 </dev/null
	push -- --rollback t1 </dev/null
	assert_live t1 "$R2"
	# X sorts before every other release; one rollback from it reaches R2,
	# R4 is the newest by name; R1 and R3 go
	local x=rep_applications_20260101_000001
	archive_as "$x" "$A4" >/dev/null
	run --separate-stderr rep-push -k 1 t1 <<<"$x.tar.gz"
	assert_success
	assert_output "$(push_records "$x" t1 c)"
	assert_pushed "$x" "$(plan t1 "$x" c '' 2 '')"
	assert_releases t1 "$x" "$R2" "$R4"
	# R4 links to store/R3: it stays
	assert_stores t1 "$x" "$R1" "$R2" "$R3" "$R4"
	assert_release t1 "$R4" "$R3:a" "$R2:b" "$R4:c"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R2" t1 a b)" "$(left_records "$R2" t1 "$SUM_C" c)")"
	assert_stderr "rep-push: $R2: live again on 1 target"
	# -k 2, R2 live: the stack holds R1 (pruned already) and none; R4 and R2
	# are the newest by name; X, rolled back from and the oldest, goes, and
	# its store entry with it
	run --separate-stderr rep-push -k 2 t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1 b)"
	assert_pushed "$R2" "$(plan t1 "$R2" '' '' 2 '')"
	assert_releases t1 "$R2" "$R4"
	assert_stores t1 "$R1" "$R2" "$R3" "$R4"
	assert_top t1
}

@test "--rollback again goes one push further back; a release since removed is passed over" {
	push "$A1" "$A2" "$A4" -- t1
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R2" t1 a b)" "$(left_records "$R2" t1 "$SUM_C" c)")"
	assert_stderr "rep-push: $R2: live again on 1 target"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1 a)" "$(left_records "$R1" t1 "$SUM_B" b)")"
	assert_stderr "rep-push: $R1: live again on 1 target"
	assert_live t1 "$R1"
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline push "$R4" "$R2")" \
		"$(logline rollback "$R2" "$R4")" "$(logline rollback "$R1" "$R2")"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "$(no_rollback t1)" \
		'rep-push: rollback: not possible on 1 of 1 targets; nothing switched')"
	# the release a rollback would go to, removed by hand: the one before it
	push "$A1" "$A2" "$A4" -- t2
	rm -rf "t2/releases/$R2"
	run --separate-stderr rep-push --rollback t2 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t2 a)" "$(left_records "$R1" t2 "$SUM_B" b)" "$(left_records "$R1" t2 "$SUM_C" c)")"
	assert_stderr "rep-push: $R1: live again on 1 target"
	assert_live t2 "$R1"
}

@test "a release rolled back from is never a rollback target, even where the stack holds it; a switch by hand counts as a push" {
	push "$A1" "$A2" -- t1
	# R1 pushed again from R2, then rolled back from: the stack is R1 (rolled
	# back from), none
	local now
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	printf '%s\t%s\t%s\t%s\ttester\t%s\n' \
		"$now" push "$R1" - "$HOST" "$now" push "$R2" "$R1" "$HOST" \
		"$now" push "$R1" "$R2" "$HOST" "$now" rollback "$R2" "$R1" "$HOST" >t1/log
	snapshot t1
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "$(no_rollback t1)" \
		'rep-push: rollback: not possible on 1 of 1 targets; nothing switched')"
	assert_unchanged
	# current switched by hand from R4 to R1: as if R1 was pushed from R4...
	# which the log does not know: the last line is no longer in effect,
	# R2 is what the log had live, so R1 counts as pushed from R2
	push "$A1" "$A2" "$A4" -- t2
	ln -sfn "releases/$R1" t2/current
	run --separate-stderr rep-push --rollback t2 </dev/null
	assert_success
	assert_output "$(push_records "$R2" t2 a b)"
	assert_stderr "rep-push: $R2: live again on 1 target"
	assert_live t2 "$R2"
	assert_log t2 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline push "$R4" "$R2")" \
		"$(logline rollback "$R2" "$R1")"
}

@test "a release pushed again after a rollback from it: staged already, switched to, logged; a rollback target again" {
	push "$A1" "$A2" -- t1
	push -- --rollback t1 </dev/null
	local inode
	inode=$(stat -c %i "t1/releases/$R2/MANIFEST")
	# composed on R1 again, R2 is what it was: not staged again
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1 b)"
	assert_pushed "$R2" "$(plan t1 "$R2" b '' 1 '')"
	assert_live t1 "$R2"
	assert_equal "$(stat -c %i "t1/releases/$R2/MANIFEST")" "$inode"
	push "$A4" -- t1
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline rollback "$R1" "$R2")" \
		"$(logline push "$R2" "$R1")" "$(logline push "$R4" "$R2")"
	# R2 was rolled back from, then pushed again: that push is what counts
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R2" t1 a b)" "$(left_records "$R2" t1 "$SUM_C" c)")"
	assert_stderr "rep-push: $R2: live again on 1 target"
	assert_live t1 "$R2"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1 a)" "$(left_records "$R1" t1 "$SUM_B" b)")"
	assert_stderr "rep-push: $R1: live again on 1 target"
	assert_live t1 "$R1"
}

@test "targets whose live sets differ: told, each keeps its own; --rollback takes each back to its own, all or none" {
	push "$A1" -- t1
	push "$A4" -- t2
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1,t2 b)"
	assert_pushed "$R2" "$(plan t1 "$R2" b '' 1 '')" "$(plan t2 "$R2" b '' 1 '')" -- "$(differ "$R2")"
	assert_release t1 "$R2" "$R1:a" "$R2:b"
	assert_release t2 "$R2" "$R2:b" "$R4:c"
	assert_equal "$(entries t1/current/rep_applications)" 'a b '
	assert_equal "$(entries t2/current/rep_applications)" 'b c '
	# a enters on t2, changes on t1
	run --separate-stderr rep-push t1 t2 <<<"$A3"
	assert_success
	assert_output "$(push_records "$R3" t1,t2 a)"
	assert_pushed "$R3" "$(plan t1 "$R3" '' a 1 '')" "$(plan t2 "$R3" a '' 2 '')" -- "$(differ "$R3")"
	assert_release t1 "$R3" "$R3:a" "$R2:b"
	assert_release t2 "$R3" "$R3:a" "$R2:b" "$R4:c"
	# back to R2 on both, which holds something else on each
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_output_set "$(push_records "$R2" t1 a)" "$(push_records "$R2" t1,t2 b)" "$(push_records "$R2" t2 c)" \
		"$(left_records "$R2" t2 "$SUM_A3" a)"
	assert_stderr "rep-push: $R2: live again on 2 targets"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	# then each to the release before its own push of R2: the plan says where
	snapshot t1 t2
	run --separate-stderr rep-push -n --rollback t1 t2 </dev/null
	assert_success
	assert_output ''
	assert_stderr_set "$(apart 2 dry)" "rep-push: t1: would switch current from $R2 to $R1" \
		"rep-push: t2: would switch current from $R2 to $R4"
	assert_unchanged
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_output_set "$(push_records "$R1" t1 a)" "$(push_records "$R4" t2 c)" \
		"$(left_records "$R1" t1 "$SUM_B" b)" "$(left_records "$R4" t2 "$SUM_B" b)"
	assert_stderr_set "$(apart 2)"
	assert_live t1 "$R1"
	assert_live t2 "$R4"
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline push "$R3" "$R2")" \
		"$(logline rollback "$R2" "$R3")" "$(logline rollback "$R1" "$R2")"
	assert_log t2 "$(logline push "$R4" -)" "$(logline push "$R2" "$R4")" "$(logline push "$R3" "$R2")" \
		"$(logline rollback "$R2" "$R3")" "$(logline rollback "$R4" "$R2")"
	# t1 can go back again, t2 cannot: neither switches
	archive_as rep_applications_20260301_000001 "$A4" >/dev/null
	push rep_applications_20260301_000001.tar.gz -- t1
	snapshot t1 t2
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "$(no_rollback t2)" \
		'rep-push: rollback: not possible on 1 of 2 targets; nothing switched')"
	assert_unchanged
}

@test "over ssh, three targets whose live sets differ (local, far, far of the earlier rep-push): each composes on its own; far log, store, verify" {
	SSHD_DIR=$BATS_TEST_TMPDIR/sshd
	REP_SSH=$("$BATS_TEST_DIRNAME/sshd" start "$SSHD_DIR") || fail 'tests/sshd could not start an sshd'
	export REP_SSH
	local d=$BATS_TEST_TMPDIR/far e=$BATS_TEST_TMPDIR/old t u
	t=$(id -un)@127.0.0.1:$d
	u=$(id -un)@127.0.0.1:$e
	push "$A1" -- t1
	push "$A4" -- "$d"
	plant "$e" "$A1" live
	snapshot "$e/releases/$R1"
	run --separate-stderr rep-push t1 "$t" "$u" <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" "t1,$t,$u" b)"
	assert_pushed "$R2" "$(plan t1 "$R2" b '' 1 '')" "$(plan "$t" "$R2" b '' 1 '')" "$(plan "$u" "$R2" b '' 1 '')" \
		-- "$(differ "$R2")"
	assert_release t1 "$R2" "$R1:a" "$R2:b"
	assert_live "$d" "$R2"
	assert_release "$d" "$R2" "$R2:b" "$R4:c"
	assert_stores "$d" "$R2" "$R4"
	assert_store "$d" "$R2" b
	assert_top "$d"
	assert_log "$d" "$(logline push "$R4" -)" "$(logline push "$R2" "$R4")"
	# the far side's upgrade: R1 copied into store/ once, left as it was
	assert_live "$e" "$R2"
	assert_release "$e" "$R2" "$R1:a" "$R2:b"
	assert_stores "$e" "$R1" "$R2"
	assert_store "$e" "$R1" a
	assert_unchanged
	assert_top "$e"
	assert_log "$e" "$(logline push "$R2" "$R1")"
	# the far side verifies a release before a rollback makes it live again
	flip_byte "$d/store/$R4/rep_applications/c/README" 0
	snapshot "$d"
	run --separate-stderr rep-push --rollback "$t" </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr --regexp "^(rep-push: $t: [^$NL]+$NL)+rep-push: rollback: not possible on 1 of 1 targets; nothing switched\$"
	assert_stderr --partial "store/$R4"
	assert_unchanged
	flip_byte "$d/store/$R4/rep_applications/c/README" 0
	run --separate-stderr rep-push --rollback "$t" </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R4" "$t" c)" "$(left_records "$R4" "$t" "$SUM_B" b)")"
	assert_stderr "rep-push: $R4: live again on 1 target"
	assert_live "$d" "$R4"
	assert_log "$d" "$(logline push "$R4" -)" "$(logline push "$R2" "$R4")" "$(logline rollback "$R4" "$R2")"
	assert_top "$d"
}

# --- targets of the earlier rep-push ---------------------------------------------------------

@test "upgrade: a target of the earlier rep-push (real directories, no log): a push of b composes on it, a copied into store/ once; rollback" {
	plant t1 "$A1" live
	local old
	old=$(stat -c %i "t1/releases/$R1/rep_applications/a/README")
	snapshot "t1/releases/$R1"
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1 b)"
	assert_pushed "$R2" "$(plan t1 "$R2" b '' 1 '')"
	assert_live t1 "$R2"
	assert_top t1
	assert_unchanged
	assert_release t1 "$R2" "$R1:a" "$R2:b"
	assert_stores t1 "$R1" "$R2"
	assert_store t1 "$R1" a
	assert_store t1 "$R2" b
	local copy
	copy=$(stat -c %i "t1/store/$R1/rep_applications/a/README")
	assert [ "$copy" != "$old" ]
	assert_log t1 "$(logline push "$R2" "$R1")"
	# back to the old release, still as it was
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1 a)" "$(left_records "$R1" t1 "$SUM_B" b)")"
	assert_stderr "rep-push: $R1: live again on 1 target"
	assert_live t1 "$R1"
	assert_unchanged
	# composed on it again: the copy in store/ is used, not made again
	run --separate-stderr rep-push t1 <<<"$A4"
	assert_success
	assert_output "$(push_records "$R4" t1 c)"
	assert_pushed "$R4" "$(plan t1 "$R4" c '' 1 '')"
	assert_release t1 "$R4" "$R1:a" "$R4:c"
	assert_equal "$(stat -L -c %i "t1/current/rep_applications/a/README")" "$copy"
	assert_log t1 "$(logline push "$R2" "$R1")" "$(logline rollback "$R1" "$R2")" "$(logline push "$R4" "$R1")"
	assert_top t1
	assert_unchanged
}

@test "upgrade: --rollback on a target of the earlier rep-push goes to the release before current by name; the log starts there" {
	plant t1 "$A1"
	plant t1 "$A2" live
	snapshot t1/releases
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1 a)" "$(left_records "$R1" t1 "$SUM_B" b)")"
	assert_stderr "rep-push: $R1: live again on 1 target"
	assert_live t1 "$R1"
	assert_unchanged
	assert_log t1 "$(logline rollback "$R1" "$R2")"
	# -k 1 prunes old-format releases as before
	run --separate-stderr rep-push -k 1 t1 <<<"$A4"
	assert_success
	assert_output "$(push_records "$R4" t1 c)"
	assert_pushed "$R4" "$(plan t1 "$R4" c '' 1 '')"
	assert_releases t1 "$R1" "$R4"
	assert_release t1 "$R4" "$R1:a" "$R4:c"
	assert_stores t1 "$R1" "$R4"
}

@test "upgrade: successive rollbacks on a target of the earlier rep-push go back by name, one release each, as that rep-push did" {
	plant t1 "$A1"
	plant t1 "$A2"
	plant t1 "$A3" live
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_stderr "rep-push: $R2: live again on 1 target"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_stderr "rep-push: $R1: live again on 1 target"
	assert_log t1 "$(logline rollback "$R2" "$R3")" "$(logline rollback "$R1" "$R2")"
	snapshot t1
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_failure 1
	assert_stderr "$(lines "$(no_rollback t1)" \
		'rep-push: rollback: not possible on 1 of 1 targets; nothing switched')"
	assert_unchanged
}

@test "upgrade: an old release's file with a group or other execute bit only is copied as plain (0644), as its checksum counts it" {
	plant t1 "$A1" live
	chmod 0645 "t1/releases/$R1/rep_applications/a/README"
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1 b)"
	assert_pushed "$R2" "$(plan t1 "$R2" b '' 1 '')"
	assert_equal "$(stat -c %a "t1/store/$R1/rep_applications/a/README")" 644
	assert_release t1 "$R2" "$R1:a" "$R2:b"
}

@test "current written otherwise than rep-push writes it (a trailing slash, a way through ..): the release it leads to is the live one" {
	push "$A1" -- t1
	push "$A2" -- t1
	local link
	for link in "releases/$R2/" "releases/$R2/rep_applications/.." "./releases/$R2"; do
		ln -sfn "$link" t1/current
		run --separate-stderr rep-push -n t1 <<<"$A4"
		assert_success
		assert_output ''
		assert_dry "$R4" "$(plan t1 "$R4" c '' 2 '')" -- \
			"rep-push: t1: would stage $R4" "rep-push: t1: would switch current from $R2 to $R4"
	done
}

@test "upgrade: a push that carries nothing over from the old release copies nothing into store/" {
	plant t1 "$A1" live
	run --separate-stderr rep-push t1 <<<"$A3"
	assert_success
	assert_output "$(push_records "$R3" t1 a)"
	assert_pushed "$R3" "$(plan t1 "$R3" '' a 0 '')"
	assert_release t1 "$R3" "$R3:a"
	assert_stores t1 "$R3"
	run --separate-stderr rep-push --replace t1 <<<"$A4"
	assert_success
	assert_output "$(lines "$(push_records "$R4" t1 c)" "$(left_records "$R4" t1 "$SUM_A3" a)")"
	assert_stores t1 "$R3" "$R4"
	# nor does a rollback to it and a push with --replace from there
	push -- --rollback t1 </dev/null
	push -- --rollback t1 </dev/null
	assert_live t1 "$R1"
	run --separate-stderr rep-push --replace t1 <<<"$A2"
	assert_success
	assert_output "$(lines "$(push_records "$R2" t1 b)" "$(left_records "$R2" t1 "$SUM_A1" a)")"
	assert_pushed "$R2" "$(plan t1 "$R2" b '' 0 a)"
	assert_release t1 "$R2" "$R2:b"
	assert_stores t1 "$R2" "$R3" "$R4"
}

@test "upgrade from a release of a version-1 MANIFEST: the rows it brings have dirs -; such a release verifies for a rollback" {
	local old=rep_applications_20200913_122640 fx=$BATS_TEST_DIRNAME/fixtures/rep-tar-f3b2a72 v1
	plant t1 "$fx/$old.tar.gz" live
	v1=$(awk -F '\t' -v OFS='\t' '{ print $1, $2, $3, $4, "-", "add", "-" }' "t1/releases/$old/MANIFEST")
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1 b)"
	assert_pushed "$R2" "$(plan t1 "$R2" b '' 2 '')"
	assert_equal "$(cat "t1/releases/$R2/MANIFEST")" "$(lines "#rep-manifest${TAB}2" "$v1" "$(row "$R2" b)")"
	assert_equal "$(find "t1/releases/$R2/rep_applications" -mindepth 1 -printf '%f %y %l\n' | LC_ALL=C sort)" "$(lines \
		"app-a l ../../../store/$old/rep_applications/app-a" "app-b l ../../../store/$old/rep_applications/app-b" \
		"b l ../../../store/$R2/rep_applications/b")"
	cmp "t1/releases/$old/MANIFEST" "t1/store/$old/MANIFEST"
	diff -r --no-dereference "t1/releases/$old/rep_applications" "t1/store/$old/rep_applications"
	push "$A4" -- t1
	assert_equal "$(cat "t1/releases/$R4/MANIFEST")" "$(lines "#rep-manifest${TAB}2" "$v1" "$(row "$R2" b)" "$(row "$R4" c)")"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R2" t1 app-a app-b b)" "$(left_records "$R2" t1 "$SUM_C" c)")"
	assert_stderr "rep-push: $R2: live again on 1 target"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$old" t1 app-a app-b)" "$(left_records "$old" t1 "$SUM_B" b)")"
	assert_stderr "rep-push: $old: live again on 1 target"
	assert_live t1 "$old"
	assert_log t1 "$(logline push "$R2" "$old")" "$(logline push "$R4" "$R2")" "$(logline rollback "$R2" "$R4")" \
		"$(logline rollback "$old" "$R2")"
}

@test "retiring the last application: a release that holds none; a push composes on it; rollbacks to and from it" {
	push "$A1" -- t1
	cp "$FIX"/metadata.db* .
	setstatus retired a
	local archive ret
	archive=$(rep-ls -s retired </dev/null | rep-tar -q)
	ret=$(basename "$archive" .tar.gz)
	run --separate-stderr rep-push t1 <<<"$archive"
	assert_success
	assert_output "$(left_records "$ret" t1 "$SUM_A1" a)"
	assert_pushed "$ret" "$(plan t1 "$ret" '' '' 0 a)"
	assert_live t1 "$ret"
	assert_release t1 "$ret"
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1 b)"
	assert_pushed "$R2" "$(plan t1 "$R2" b '' 0 '')"
	assert_release t1 "$R2" "$R2:b"
	# back by the log, not by name: R2 sorts before the retirement
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(left_records "$ret" t1 "$SUM_B" b)"
	assert_stderr "rep-push: $ret: live again on 1 target"
	assert_live t1 "$ret"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(push_records "$R1" t1 a)"
	assert_stderr "rep-push: $R1: live again on 1 target"
	assert_live t1 "$R1"
	assert_log t1 "$(logline push "$R1" -)" "$(logline retire "$ret" "$R1")" "$(logline push "$R2" "$ret")" \
		"$(logline rollback "$ret" "$R2")" "$(logline rollback "$R1" "$ret")"
	assert_top t1
}

# --- the store -------------------------------------------------------------------------------

@test "store/S kept while a release links to it, reused by a push of S again, removed when none does; a stale .rep-push-* in store/ removed" {
	push "$A1" "$A2" -- t1
	mkdir -p t1/store/.rep-push-424242/rep_applications/a
	run --separate-stderr rep-push -k 1 t1 <<<"$A4"
	assert_success
	assert_output "$(push_records "$R4" t1 c)"
	assert_pushed "$R4" "$(plan t1 "$R4" c '' 2 '')"
	# R1 pruned; its store entry stays: R2 and R4 link to it
	assert_releases t1 "$R2" "$R4"
	assert_stores t1 "$R1" "$R2" "$R4"
	assert_release t1 "$R4" "$R1:a" "$R2:b" "$R4:c"
	local inode
	inode=$(stat -c %i "t1/store/$R1/rep_applications/a/README")
	# R1 again: its store entry is the archive's; used, not unpacked again
	run --separate-stderr rep-push t1 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1 a)"
	assert_pushed "$R1" "$(plan t1 "$R1" '' '' 3 '')"
	assert_release t1 "$R1" "$R1:a" "$R2:b" "$R4:c"
	assert_equal "$(stat -c %i "t1/store/$R1/rep_applications/a/README")" "$inode"
	assert_top t1
	# store entries no release links to any more go with the last release
	# that did: X (a changed) and Y (c), each alone
	archive_as rep_applications_20260301_000001 "$A3" >/dev/null
	archive_as rep_applications_20260301_000002 "$A4" >/dev/null
	run --separate-stderr rep-push --replace -k 1 t1 <<<rep_applications_20260301_000001.tar.gz
	assert_success
	assert_output "$(lines "$(push_records "rep_applications_20260301_000001" t1 a)" "$(left_records "rep_applications_20260301_000001" t1 "$SUM_B" b)" "$(left_records "rep_applications_20260301_000001" t1 "$SUM_C" c)")"
	assert_pushed rep_applications_20260301_000001 "$(plan t1 rep_applications_20260301_000001 '' a 0 'b c')"
	# R1 is where a rollback goes; it links to R2's and R4's entries too
	assert_releases t1 "$R1" rep_applications_20260301_000001
	assert_stores t1 "$R1" "$R2" "$R4" rep_applications_20260301_000001
	run --separate-stderr rep-push --replace -k 1 t1 <<<rep_applications_20260301_000002.tar.gz
	assert_success
	assert_output "$(lines "$(push_records "rep_applications_20260301_000002" t1 c)" "$(left_records "rep_applications_20260301_000002" t1 "$SUM_A3" a)")"
	assert_pushed rep_applications_20260301_000002 "$(plan t1 rep_applications_20260301_000002 c '' 0 a)"
	assert_releases t1 rep_applications_20260301_000001 rep_applications_20260301_000002
	assert_stores t1 rep_applications_20260301_000001 rep_applications_20260301_000002
	assert_top t1
}

@test "store/S there with another MANIFEST than the archive's: that target fails, nothing switched" {
	push "$A1" -- t1 t2
	mkdir -p "t1/store/$R2/rep_applications/b"
	cp "$FIX/src/$R4/MANIFEST" "t1/store/$R2/MANIFEST"
	snapshot t1 t2
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,t2 'staging failed on 1 of 2 targets; nothing switched' b)"
	stderr=$(unplanned)
	assert_stderr "$(lines "rep-push: t1: store/$R2 exists and differs from the archive" \
		"rep-push: $R2: staging failed on 1 of 2 targets; nothing switched")"
	assert_equal "$(rolled t1) $(rolled t2)" "$R1 $R1"
	assert_equal "$(norm_ts <t1/log)" "$(logline push "$R1" -)"
	assert_equal "$(ls -A "t1/store/$R2/rep_applications")" b
}

# --- kills, locks ------------------------------------------------------------------------------

# kill_shim: ./kill.so, for LD_PRELOAD: a rename to a path whose last
# component is NAME kills the process (SIGKILL) before it when KILL_AT is
# before:NAME, after it when KILL_AT is after:NAME.
kill_shim() {
	cat >kill.c <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void at(const char *when, const char *to)
{
	const char *w = getenv("KILL_AT"), *base = strrchr(to, '/');
	size_t n = strlen(when);

	base = base ? base + 1 : to;
	if (w && strncmp(w, when, n) == 0 && w[n] == ':' && strcmp(w + n + 1, base) == 0)
		kill(getpid(), SIGKILL);
}

int renameat2(int fd1, const char *a, int fd2, const char *b, unsigned flags)
{
	int (*real)(int, const char *, int, const char *, unsigned) =
	    (int (*)(int, const char *, int, const char *, unsigned))dlsym(RTLD_NEXT, "renameat2");
	at("before", b);
	int r = real(fd1, a, fd2, b, flags);
	if (r == 0)
		at("after", b);
	return r;
}

int renameat(int fd1, const char *a, int fd2, const char *b)
{
	int (*real)(int, const char *, int, const char *) =
	    (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
	at("before", b);
	int r = real(fd1, a, fd2, b);
	if (r == 0)
		at("after", b);
	return r;
}

int rename(const char *a, const char *b)
{
	int (*real)(const char *, const char *) = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	at("before", b);
	int r = real(a, b);
	if (r == 0)
		at("after", b);
	return r;
}
EOF
	"${CC:-cc}" -shared -fPIC -o kill.so kill.c -ldl
}

@test "SIGKILL before the log line, between it and the switch, after the switch: current, releases and log consistent; --rollback goes where it should" {
	kill_shim || fail 'cannot build the kill shim'
	local point d live back want
	for point in before:log after:log after:current; do
		d=t-${point/:/-}
		push "$A1" "$A2" -- "$d"
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=$PWD/kill.so \
			KILL_AT=$point run --separate-stderr rep-push "$d" <<<"$A3"
		assert_equal "$point: $status" "$point: 137"
		assert_output ''
		refute_stderr
		# staged in full whatever the point
		assert_release "$d" "$R3" "$R3:a" "$R2:b"
		case $point in
		before:log)
			live=$R2 back=$R1
			want=$(lines "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")")
			;;
		after:log)
			# a line whose switch never happened
			live=$R2 back=$R1
			want=$(lines "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline push "$R3" "$R2")")
			;;
		after:current)
			live=$R3 back=$R2
			want=$(lines "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline push "$R3" "$R2")")
			;;
		esac
		assert_equal "$point: $(rolled "$d")" "$point: $live"
		assert_equal "$point: $(norm_ts <"$d/log")" "$point: $want"
		run --separate-stderr rep-push --rollback "$d" </dev/null
		assert_success
		if [ "$back" = "$R1" ]; then
			assert_output "$(lines "$(push_records "$R1" "$d" a)" "$(left_records "$R1" "$d" "$SUM_B" b)")"
		else
			assert_output "$(push_records "$R2" "$d" a b)"
		fi
		assert_stderr --regexp "^$(stale_lock "$d")${NL}rep-push: $back: live again on 1 target\$"
		assert_equal "$point: $(rolled "$d")" "$point: $back"
		assert_log "$d" "$want" "$(logline rollback "$back" "$live")"
		assert_top "$d"
	done
}

@test "SIGKILL between two targets' switches: one switched and logged, the other neither; each rolls back by its own log" {
	push "$A1" "$A2" -- t1 t2
	printf '%s\n' "$A3" >list
	"$FAULT_PUSH" -j 1 fault:slow:t1 fault:slow:t2 <list >out 2>err 3>&- &
	PUSH_PID=$!
	local i
	for ((i = 0; i < 2000; i++)); do
		[ "$(readlink t1/current)" != "releases/$R3" ] || break
		sleep 0.01
	done
	kill -KILL "$PUSH_PID"
	status=0
	wait "$PUSH_PID" || status=$?
	PUSH_PID=
	assert_equal "$status" 137
	assert_equal "$(cat out) $(cat err)" ' '
	assert_equal "$(rolled t1) $(rolled t2)" "$R3 $R2"
	assert_equal "$(norm_ts <t1/log)" "$(lines "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" \
		"$(logline push "$R3" "$R2")")"
	assert_equal "$(norm_ts <t2/log)" "$(lines "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")")"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(push_records "$R2" t1 a b)"
	assert_stderr --regexp "^$(stale_lock t1)${NL}rep-push: $R2: live again on 1 target\$"
	run --separate-stderr rep-push --rollback t2 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t2 a)" "$(left_records "$R1" t2 "$SUM_B" b)")"
	assert_stderr --regexp "^$(stale_lock t2)${NL}rep-push: $R1: live again on 1 target\$"
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline push "$R3" "$R2")" \
		"$(logline rollback "$R2" "$R3")"
	assert_log t2 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline rollback "$R1" "$R2")"
	assert_top t1
	assert_top t2
}

@test "a push while another switches (holds the lock): refused, no line in the log; the first one's line is its only one" {
	push "$A1" "$A2" -- t1
	printf '%s\n' "$A3" >list
	"$FAULT_PUSH" fault:slow:t1 <list >out 2>err 3>&- &
	PUSH_PID=$!
	local i
	for ((i = 0; i < 2000; i++)); do
		[ ! -f t1/.rep-push.lock ] || break
		sleep 0.01
	done
	run --separate-stderr rep-push t1 <<<"$A4"
	assert_failure 1
	assert_output "$(failed_records "$R4" t1 '1 of 1 targets locked by another push; nothing done' c)"
	assert_stderr --regexp "^rep-push: t1: locked by pid $PUSH_PID on $HOST \\(tester@$HOST since $TS_RE\\)${NL}rep-push: $R4: 1 of 1 targets locked by another push; nothing done\$"
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr --regexp "^rep-push: t1: locked by pid $PUSH_PID on $HOST \\(tester@$HOST since $TS_RE\\)${NL}rep-push: rollback: 1 of 1 targets locked by another push; nothing done\$"
	status=0
	wait "$PUSH_PID" || status=$?
	PUSH_PID=
	assert_equal "$status" 0
	assert_equal "$(cat out)" "$(push_records "$R3" fault:slow:t1 a)"
	stderr=$(cat err)
	assert_pushed "$R3" "$(plan fault:slow:t1 "$R3" '' a 1 '')"
	assert_live t1 "$R3"
	assert_log t1 "$(logline push "$R1" -)" "$(logline push "$R2" "$R1")" "$(logline push "$R3" "$R2")"
	assert_top t1
}

@test "two pushes to one target at once, four rounds: never interleaved; one log line per push that succeeded, each from the one before" {
	push "$A1" -- t1
	local round s1 s2 p1 p2 x y r ok=1
	for round in 1 2 3 4; do
		x=rep_applications_20260301_00000$round y=rep_applications_20260302_00000$round
		archive_as "$x" "$A2" >/dev/null
		archive_as "$y" "$A4" >/dev/null
		rep-push -q t1 <<<"$x.tar.gz" >out1 2>err1 3>&- &
		p1=$!
		rep-push -q t1 <<<"$y.tar.gz" >out2 2>err2 3>&- &
		p2=$!
		s1=0 s2=0
		wait "$p1" || s1=$?
		wait "$p2" || s2=$?
		for r in 1 2; do
			local s=s$r rel=$x app=b other=$p2
			[ "$r" = 1 ] || rel=$y app=c other=$p1
			if [ "${!s}" -eq 0 ]; then
				ok=$((ok + 1))
				assert_equal "$(cat "out$r")" "$(push_records "$rel" t1 "$app")"
				assert_equal "$(cat "err$r")" ''
			else
				assert_equal "round $round push $r: ${!s}" "round $round push $r: 1"
				assert_equal "$(cat "out$r")" "$(failed_records "$rel" t1 '1 of 1 targets locked by another push; nothing done' "$app")"
				assert_regex "$(cat "err$r")" "^rep-push: t1: locked by pid $other on $HOST \\(tester@$HOST since $TS_RE\\)\$"
			fi
		done
		[ "$s1" -eq 0 ] || [ "$s2" -eq 0 ] || fail "round $round: both failed: $(cat err1 err2)"
	done
	# the log: a chain of pushes, its last the live one
	assert_equal "$(wc -l <t1/log)" "$ok"
	assert_equal "$(awk -F '\t' 'NR > 1 && $4 != prev { print "line " NR ": previous " $4 ", not " prev } { prev = $3 }' t1/log)" ''
	assert_equal "$(tail -n 1 t1/log | cut -f3)" "$(rolled t1)"
	assert_equal "$(cut -f2 t1/log | sort -u)" push
	assert_top t1
}

# --- hostile targets ---------------------------------------------------------------------------

@test "DIR/log a symlink, a FIFO or a directory: refused, never followed or waited on; the file it points to untouched" {
	push "$A1" -- t1
	cp t1/log precious
	rm t1/log
	ln -s ../precious t1/log
	snapshot t1 precious
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1 '1 of 1 targets could not be opened; nothing done' b)"
	assert_stderr --regexp "^rep-push: t1: log: [^$NL]+${NL}rep-push: $R2: 1 of 1 targets could not be opened; nothing done\$"
	assert_unchanged
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr --regexp "^rep-push: t1: log: [^$NL]+${NL}rep-push: rollback: 1 of 1 targets could not be opened; nothing done\$"
	assert_unchanged
	rm t1/log
	mkfifo t1/log
	snapshot t1
	run --separate-stderr timeout 20 rep-push t1 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1 '1 of 1 targets could not be opened; nothing done' b)"
	assert_stderr --regexp "^rep-push: t1: log: [^$NL]+${NL}rep-push: $R2: 1 of 1 targets could not be opened; nothing done\$"
	assert_unchanged
	rm t1/log
	mkdir t1/log
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1 '1 of 1 targets could not be opened; nothing done' b)"
	assert_stderr --regexp "^rep-push: t1: log: [^$NL]+${NL}rep-push: $R2: 1 of 1 targets could not be opened; nothing done\$"
	assert_equal "$(rolled t1)" "$R1"
}

@test "store/ a symlink: refused, nothing written where it points, exit 1" {
	mkdir -p t1 elsewhere
	ln -s ../elsewhere t1/store
	snapshot t1 elsewhere
	run --separate-stderr rep-push t1 <<<"$A1"
	assert_failure 1
	assert_output "$(failed_records "$R1" t1 '1 of 1 targets could not be opened; nothing done' a)"
	assert_stderr "$(lines "rep-push: t1: store: a symbolic link (refused: rep-push writes only inside the target)" \
		"rep-push: $R1: 1 of 1 targets could not be opened; nothing done")"
	assert_unchanged
	# on a target with releases: the same, and no rollback either
	rm -rf t1 elsewhere
	push "$A1" "$A2" -- t1
	mv t1/store elsewhere
	ln -s ../elsewhere t1/store
	snapshot t1 elsewhere
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr --partial "rep-push: t1: store: a symbolic link (refused: rep-push writes only inside the target)"
	assert_unchanged
}

@test "--rollback to a release whose links were redirected or whose store content changed: refused (verified), exit 1, nothing changed" {
	push "$A1" "$A2" "$A3" -- t1
	cp -a t1 base
	local rel=t1/releases/$R2/rep_applications store=t1/store/$R1/rep_applications/a
	# each a change to what a rollback to R2 would make live, and what the
	# message names
	local -a changes=(
		"ln -sfn ../../../store/$R3/rep_applications/a $rel/a@@store/$R3"
		"ln -sfn ../../../store/$R2/rep_applications/a $rel/a@@store/$R2"
		"ln -sfn $PWD/t1/store/$R1/rep_applications/a $rel/a@@rep_applications/a"
		"ln -sfn ../../../store/$R1/rep_applications/./a $rel/a@@rep_applications/a"
		"ln -sfn ../../../store/$R2/rep_applications/b $rel/a@@rep_applications/a"
		"rm $rel/a && cp -a t1/store/$R1/rep_applications/a $rel/a@@rep_applications/a"
		"rm $rel/b@@rep_applications/b"
		"ln -s ../../../store/$R4/rep_applications/c $rel/c@@rep_applications/c"
		"touch t1/releases/$R2/extra@@extra"
		"printf 'A' | dd of=$store/README bs=1 conv=notrunc status=none@@store/$R1"
		"chmod 0666 $store/README@@store/$R1"
		"chmod 0775 $store/bin@@store/$R1"
		"touch $store/new@@store/$R1"
		"rm $store/start@@store/$R1"
		"mkdir t1/store/$R1/rep_applications/z@@store/$R1"
	)
	local c
	for c in "${changes[@]}"; do
		rm -rf t1 && cp -a base t1
		eval "${c%%@@*}"
		snapshot t1
		run --separate-stderr rep-push --rollback t1 </dev/null
		assert_equal "${c%%@@*}: $status" "${c%%@@*}: 1"
		assert_output ''
		assert_stderr --regexp "^(rep-push: t1: [^$NL]+$NL)+rep-push: rollback: not possible on 1 of 1 targets; nothing switched\$"
		assert_stderr --partial "${c#*@@}"
		assert_unchanged
	done
	# the control: as pushed, R2 goes live again
	rm -rf t1 && cp -a base t1
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_success
	assert_output "$(push_records "$R2" t1 a b)"
	assert_stderr "rep-push: $R2: live again on 1 target"
	assert_live t1 "$R2"
}
