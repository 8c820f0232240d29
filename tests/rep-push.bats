#!/usr/bin/env bats
# rep-push [-nq] [-j N] [-k KEEP] [--replace] TARGET... < archives  |  rep-push [-nq] [-k KEEP] --rollback TARGET...
# Local directory targets; ssh targets are in rep-push-ssh.bats, releases
# composed of several pushes, retirements and the log at length in
# compose.bats.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

# The releases of the fixture (made once per run of this file by setup_file):
# R1 holds app-a (a file, an executable, a file with a space in its name,
# two symlinks) and app-b (a file, an empty directory); R2 changes app-b and
# adds app-c; R3 changes app-a.  RBIG (big_archive) holds app-big, 16 MB of
# random bytes, for tests that need a push to take a while.
R1=rep_applications_20260101_000001
R2=rep_applications_20260101_000002
R3=rep_applications_20260101_000003
RBIG=rep_applications_20260101_000100
# SOURCE_DATE_EPOCH of the fixture's archives: the mtime of every entry.
T0=1700000000
# What each archive does to a target's live release (the plan, rep-push(1)):
# A1 on a new target, A2 or A3 on a new target, A2 on R1, A3 on R2, A3 on
# R1, A1 on R2, A1 on R3, an archive on the release it made itself.
NEW1='2 enter (app-a, app-b), 0 change, 0 stay, 0 leave'
NEW3='3 enter (app-a, app-b, app-c), 0 change, 0 stay, 0 leave'
UP12='1 enters (app-c), 1 changes (app-b), 1 stays, 0 leave'
UP23='0 enter, 1 changes (app-a), 2 stay, 0 leave'
UP13='1 enters (app-c), 2 change (app-a, app-b), 0 stay, 0 leave'
DOWN21='0 enter, 1 changes (app-b), 2 stay, 0 leave'
DOWN31='0 enter, 2 change (app-a, app-b), 1 stays, 0 leave'
SAME1='0 enter, 0 change, 2 stay, 0 leave'
SAME3='0 enter, 0 change, 3 stay, 0 leave'
# what follows "releases/RELEASE exists and differs from ARCHIVE"
DIFFERS=' (staged on another live set? a new archive from rep-tar pushes the same applications)'
# ABIG on R1, and the release it makes there (assert_live)
BIG1P='1 enters (app-big), 0 change, 2 stay, 0 leave'
BIG1=("app-a:$R1:$R1" "app-b:$R1:$R1" "app-big:$RBIG:$RBIG")

setup_file() {
	(
		fix=$BATS_FILE_TMPDIR/fix
		mkdir -p "$fix/dist" "$fix/src" && cd "$fix" || exit 1
		umask 022
		export USER=tester LOGNAME=tester LC_ALL=C; unset SUDO_USER
		mkapp app-a README bin/run 'doc/a b.txt'
		chmod 755 rep_applications/app-a/bin/run
		ln -s bin/run rep_applications/app-a/start
		ln -s ../README rep_applications/app-a/doc/readme
		mkapp app-b
		mkdir rep_applications/app-b/var
		fixture_release "$R1" app-a app-b || exit 1
		echo 'app-b v2' >rep_applications/app-b/README
		mkapp app-c
		fixture_release "$R2" app-a app-b app-c || exit 1
		echo 'app-a v3' >>rep_applications/app-a/README
		fixture_release "$R3" app-a app-b app-c || exit 1
	)
}

# fixture_release RELEASE APP...: register the applications, package them as
# dist/RELEASE.tar.gz and keep in src/RELEASE what a target's store/RELEASE
# must hold once the archive is unpacked there: the MANIFEST and a copy of
# the trees under rep_applications/ (releases/RELEASE then holds links to
# them, or to what earlier pushes unpacked: see assert_live).
fixture_release() {
	local name=$1 path app
	shift
	rep-register -q "$@" </dev/null >/dev/null || return
	path=$(SOURCE_DATE_EPOCH=$T0 rep-tar -q -d out "$@" </dev/null) || return
	mv -- "$path" "dist/$name.tar.gz" || return
	mkdir -p "src/$name/rep_applications" || return
	tar -xOzf "dist/$name.tar.gz" MANIFEST >"src/$name/MANIFEST" || return
	for app; do
		cp -a "rep_applications/$app" "src/$name/rep_applications/" || return
	done
	rm -r out
}

setup() {
	rep_setup
	FIX=$BATS_FILE_TMPDIR/fix
	A1=$FIX/dist/$R1.tar.gz
	A2=$FIX/dist/$R2.tar.gz
	A3=$FIX/dist/$R3.tar.gz
	HOST=$(uname -n)
	# app-c's content, which leaves service when R1 (without it) goes live again
	C2=$(app_checksum "$R2" - app-c)
}

teardown() {
	# a push stopped by a test that failed, a sleep that holds a lock
	if [ -n "${PUSH_PID:-}" ]; then
		kill -CONT "$PUSH_PID" 2>/dev/null || true
		kill -KILL "$PUSH_PID" 2>/dev/null || true
	fi
	if [ -n "${SLEEP_PID:-}" ]; then
		kill "$SLEEP_PID" 2>/dev/null || true
	fi
	if [ -n "${NOBODY_DIR:-}" ]; then
		rm -rf "$NOBODY_DIR"
	fi
}

# --- helpers -------------------------------------------------------------------------

# live_on RELEASE N PLAN: the summary of a push live on N targets, where
# it did PLAN.
live_on() {
	local s=s
	[ "$2" != 1 ] || s=
	printf 'rep-push: %s: live on %s target%s: %s' "$1" "$2" "$s" "$3"
}

# logged DIR LINE...: DIR/log holds these lines, "EVENT RELEASE PREVIOUS"
# each (the time, tester and this host added).
logged() {
	local dir=$1 line event release previous want=''
	shift
	for line; do
		read -r event release previous <<<"$line"
		want+="TIME$TAB$event$TAB$release$TAB$previous${TAB}tester$TAB$HOST"$'\n'
	done
	assert_equal "$(norm_ts <"$dir/log")" "${want%$'\n'}"
}

# logged_last DIR LINE...: the last lines of DIR/log are these, as for
# logged (what came before may depend on how often a test had to try).
logged_last() {
	local dir=$1 line event release previous want=''
	shift
	for line; do
		read -r event release previous <<<"$line"
		want+="TIME$TAB$event$TAB$release$TAB$previous${TAB}tester$TAB$HOST"$'\n'
	done
	assert_equal "$(tail -n $# "$dir/log" | norm_ts)" "${want%$'\n'}"
}

# big_archive: ABIG, the archive of release RBIG (made once per run).
big_archive() {
	ABIG=$FIX/dist/$RBIG.tar.gz
	[ ! -f "$ABIG" ] || return 0
	(
		cd "$FIX" || exit 1
		mkdir -p rep_applications/app-big || exit 1
		head -c 14M /dev/urandom >rep_applications/app-big/blob || exit 1
		for i in 1 2 3 4 5 6 7 8 9 10; do
			head -c 200K /dev/urandom >"rep_applications/app-big/f$i" || exit 1
		done
		rep-register -q app-big </dev/null >/dev/null || exit 1
		path=$(rep-tar -q -l 1 -d out app-big </dev/null) || exit 1
		mv -- "$path" "$ABIG" && mkdir -p "src/$RBIG/rep_applications" &&
			tar -xOzf "$ABIG" MANIFEST >"src/$RBIG/MANIFEST" &&
			cp -a rep_applications/app-big "src/$RBIG/rep_applications/" && rm -r out
	)
}

# archive_as RELEASE [ARCHIVE]: a copy of ARCHIVE (default A1) named
# RELEASE.tar.gz in the current directory; prints its name.
archive_as() {
	cp -- "${2:-$A1}" "$1.tar.gz"
	printf '%s\n' "$1.tar.gz"
}

# assert_clean DIR: nothing of a push left in DIR: no lock, no staging
# directory, no temporary current.
assert_clean() {
	local left
	left=$(find "$1" -maxdepth 2 -name '.rep-push*')
	if [ -n "$left" ]; then
		fail "$1: leftovers: $left"
	fi
}

# assert_live DIR RELEASE [AS | APP:FIX:S...]: DIR/current -> releases/RELEASE,
# a release of links that holds exactly the fixture's release AS (default
# RELEASE), each application linked into store/RELEASE (an archive holding
# them all brought them); or, given as APP:FIX:S, exactly the applications
# APP, each as the fixture's release FIX holds it, linked into store/S
# (a release composed of several pushes). DIR is clean.
assert_live() {
	untraced _assert_live "$@"
}

_assert_live() {
	local dir=$1 release=$2 found
	# current and any leftover, in one process
	found=$(find "$dir" -maxdepth 2 \( -name current -o -name '.rep-push*' \) -printf '%P -> %l\n')
	if [ "$found" != "current -> releases/$release" ]; then
		batslib_print_kv_single_or_multi 8 expected "current -> releases/$release" actual "$found" |
			batslib_decorate "$dir: current or leftovers differ" | fail
		return
	fi
	_assert_release "$@"
}

# assert_release DIR RELEASE [AS | APP:FIX:S...]: releases/RELEASE as
# assert_live has it, whether live or not.
assert_release() {
	untraced _assert_release "$@"
}

_assert_release() {
	local dir=$1 release=$2 spec app fix s manifest row link got found
	local -a specs=()
	shift 2
	if [ $# -le 1 ] && [[ ${1:-} != *:* ]]; then
		for app in "$FIX/src/${1:-$release}"/rep_applications/*; do
			specs+=("${app##*/}:${1:-$release}:$release")
		done
	else
		specs=("$@")
	fi
	# the full MANIFEST: each application's row from the manifest that brought it
	manifest="#rep-manifest${TAB}2"$'\n'
	got=''
	for spec in "${specs[@]}"; do
		IFS=: read -r app fix s <<<"$spec"
		row=$(grep "^$app$TAB" "$FIX/src/$fix/MANIFEST") || { fail "no $app in $fix"; return; }
		manifest+=$row$'\n'
		got+=" $app"
	done
	found=$(find "$dir/releases/$release" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort)
	if [ "$found" != "$(lines MANIFEST rep_applications)" ]; then
		fail "$dir/releases/$release holds $found"
		return
	fi
	if ! cmp -s <(printf '%s' "$manifest") "$dir/releases/$release/MANIFEST"; then
		diff <(printf '%s' "$manifest") "$dir/releases/$release/MANIFEST" |
			batslib_decorate "$dir/releases/$release/MANIFEST differs" | fail
		return
	fi
	assert_equal "$(find "$dir/releases/$release/rep_applications" -mindepth 1 -maxdepth 1 -printf '%f\n' |
		LC_ALL=C sort | sed 's/^/ /' | tr -d '\n')" "$got" || return
	for spec in "${specs[@]}"; do
		IFS=: read -r app fix s <<<"$spec"
		link=$dir/releases/$release/rep_applications/$app
		[ -L "$link" ] || { fail "$link is not a symbolic link"; return; }
		assert_equal "$(readlink "$link")" "../../../store/$s/rep_applications/$app" || return
		# the content, through the link
		if ! diff -r --no-dereference "$FIX/src/$fix/rep_applications/$app" "$link/"; then
			fail "$link differs from $app of the release $fix"
			return
		fi
	done
}

# assert_releases DIR RELEASE...: DIR/releases holds exactly these entries
# (hidden ones included), given in C order.
assert_releases() {
	untraced _assert_releases "$@"
}

_assert_releases() {
	local -a got
	shopt -s dotglob nullglob
	got=("$1"/releases/*)
	shopt -u dotglob nullglob
	got=("${got[@]#"$1"/releases/}")
	shift
	assert_equal "${got[*]}" "$*"
}

# assert_store DIR S...: DIR/store holds exactly these entries (hidden ones
# included), given in C order.
assert_store() {
	untraced _assert_store "$@"
}

_assert_store() {
	local -a got
	shopt -s dotglob nullglob
	got=("$1"/store/*)
	shopt -u dotglob nullglob
	got=("${got[@]#"$1"/store/}")
	shift
	assert_equal "${got[*]}" "$*"
}

# push ARCHIVE... -- OPTION/TARGET...: push quietly, failing the test if that fails.
push() {
	untraced _push "$@"
}

_push() {
	local -a archives=()
	while [ "$1" != -- ]; do
		archives+=("$1")
		shift
	done
	shift
	printf '%s\n' "${archives[@]}" | rep-push -q "$@" >/dev/null
}

# fake_lock DIR HOST PID: the lock another rep-push would hold on DIR.
fake_lock() {
	mkdir -p "$1"
	printf '%s\t%s\tbob@build\t2026-01-01T00:00:00Z\n' "$2" "$3" >"$1/.rep-push.lock"
}

# gone_pid: the pid of a process that has exited.
gone_pid() {
	local pid
	sh -c 'exit 0' &
	pid=$!
	wait "$pid"
	printf '%s\n' "$pid"
}

# start_push DIR RESET OPTION/TARGET...: start rep-push in the background
# (stdin ./list, stdout ./out, stderr ./err), PUSH_PID its pid, and wait
# until it stages into DIR; STAGER is then the staging process (a new
# store/.rep-push-PID, where the archive is unpacked, or releases/.rep-push-PID,
# not one an earlier push left).  If rep-push ended before (a loaded
# machine), RESET puts the targets back and it starts again.
start_push() {
	local dir=$1 reset=$2 left try
	shift 2
	for try in 1 2 3 4 5; do
		left=$(shopt -s nullglob && echo " " "$dir"/store/.rep-push-* "$dir"/releases/.rep-push-* " ")
		# bash starts a background job with SIGINT ignored, and rep-push
		# leaves ignored signals ignored (nohup)
		env --default-signal=INT rep-push "$@" <list >out 2>err 3>&- &
		PUSH_PID=$!
		if untraced _wait_staging "$dir" "$left"; then
			return 0
		fi
		echo "# try $try: rep-push ended before it staged in $dir: $(cat err); again" >&3
		finish_push
		"$reset" || return
	done
	return 1
}

# reset_t1 / reset_t1_t2: RBIG gone, R1 live again (as A1 alone makes it:
# composed on RBIG, it would hold app-big too).
reset_t1() {
	push "$A1" -- --replace t1 && rm -rf -- t1/{releases,store}/"$RBIG"
}

reset_t1_t2() {
	push "$A1" -- --replace t1 t2 && rm -rf -- t[12]/{releases,store}/"$RBIG"
}

_wait_staging() {
	local f end=$((SECONDS + 20))
	while [ "$SECONDS" -lt "$end" ]; do
		for f in "$1"/store/.rep-push-* "$1"/releases/.rep-push-*; do
			if [ -d "$f" ] && [[ $2 != *" $f "* ]]; then
				STAGER=${f##*/.rep-push-}
				return 0
			fi
		done
		kill -0 "$PUSH_PID" 2>/dev/null || return 1
	done
	return 1
}

# finish_push: wait for the background rep-push; status, output and stderr
# as run sets them.
finish_push() {
	status=0
	wait "$PUSH_PID" || status=$?
	PUSH_PID=
	output=$(cat out)
	stderr=$(cat err)
}

# --- deploying -------------------------------------------------------------------------

@test "one local target: releases/RELEASE with the full MANIFEST and links into store/RELEASE, current -> releases/RELEASE, a log line" {
	run --separate-stderr rep-push t1 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1 app-a app-b)"
	assert_stderr "$(live_on "$R1" 1 "$NEW1")"
	assert_equal "$(ls -A t1)" "$(lines current log releases store)"
	assert_releases t1 "$R1"
	assert_store t1 "$R1"
	[ -L t1/current ] || fail 't1/current is not a symlink'
	assert_live t1 "$R1"
	# store/R1 is the archive unpacked: its MANIFEST and the trees
	diff -r --no-dereference "$FIX/src/$R1" "t1/store/$R1"
	assert_equal "$(readlink "t1/store/$R1/rep_applications/app-a/start")" bin/run
	assert_equal "$(readlink "t1/releases/$R1/rep_applications/app-a")" "../../../store/$R1/rep_applications/app-a"
	assert_equal "$(readlink "t1/current/rep_applications/app-a/doc/readme")" ../README
	assert_equal "$(cat t1/current/rep_applications/app-a/start)" app-a/bin/run
	logged t1 "push $R1 -"
}

@test "a target another push creates between our open and our mkdir: used, not refused" {
	# The race of two pushes to a new directory, made certain: this mkdir
	# creates the directory and then fails with EEXIST, as if another push
	# had been first.
	printf '%s\n' '#define _GNU_SOURCE' '#include <dlfcn.h>' '#include <errno.h>' \
		'#include <string.h>' '#include <sys/stat.h>' \
		'int mkdir(const char *p, mode_t m) {' \
		'	int (*real)(const char *, mode_t) = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");' \
		'	if (strcmp(p, "t1") == 0 && real(p, m) == 0) { errno = EEXIST; return -1; }' \
		'	return real(p, m);' '}' >lost.c
	"${CC:-cc}" -shared -fPIC -o lost.so lost.c -ldl || fail 'cannot build the mkdir shim'
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=$PWD/lost.so \
		run --separate-stderr rep-push t1 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1 app-a app-b)"
	assert_stderr "$(live_on "$R1" 1 "$NEW1")"
	assert_live t1 "$R1"
}

@test "exact modes 0755/0644 and the archive's mtimes, whatever the umask" {
	run --separate-stderr bash -c 'umask 077 && exec rep-push t1' <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1 app-a app-b)"
	assert_stderr "$(live_on "$R1" 1 "$NEW1")"
	# the archive unpacked in store/, the release composed of links to it
	assert_equal "$(find "t1/store/$R1" -mindepth 1 -printf '%m %y %P %l\n' | sed 's/ $//' | LC_ALL=C sort)" \
		"$(lines '644 f MANIFEST' \
			'644 f rep_applications/app-a/README' \
			'644 f rep_applications/app-a/doc/a b.txt' \
			'644 f rep_applications/app-b/README' \
			'755 d rep_applications' \
			'755 d rep_applications/app-a' \
			'755 d rep_applications/app-a/bin' \
			'755 d rep_applications/app-a/doc' \
			'755 d rep_applications/app-b' \
			'755 d rep_applications/app-b/var' \
			'755 f rep_applications/app-a/bin/run' \
			'777 l rep_applications/app-a/doc/readme ../README' \
			'777 l rep_applications/app-a/start bin/run')"
	assert_equal "$(find "t1/store/$R1" -mindepth 1 -printf '%T@\n' | sort -u)" "$T0.0000000000"
	assert_equal "$(find "t1/releases/$R1" -mindepth 1 -printf '%m %y %P %l\n' | sed 's/ $//' | LC_ALL=C sort)" \
		"$(lines '644 f MANIFEST' \
			'755 d rep_applications' \
			"777 l rep_applications/app-a ../../../store/$R1/rep_applications/app-a" \
			"777 l rep_applications/app-b ../../../store/$R1/rep_applications/app-b")"
	assert_equal "$(stat -c %a "t1/releases/$R1" "t1/store/$R1")" "$(lines 755 755)"
	assert_live t1 "$R1"
}

@test "the release directory itself is 0755 whatever the umask" {
	mkdir -p t1/releases
	chmod 755 t1 t1/releases
	run --separate-stderr bash -c 'umask 077 && exec rep-push t1' <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1 app-a app-b)"
	assert_stderr "$(live_on "$R1" 1 "$NEW1")"
	assert_equal "$(stat -c %a "t1/releases/$R1" "t1/store" "t1/store/$R1")" "$(lines 755 755 755)"
}

@test "two local targets: both get the release; records name them in operand order" {
	run --separate-stderr rep-push t2 t1 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t2,t1 app-a app-b)"
	assert_stderr "$(live_on "$R1" 2 "$NEW1")"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_releases t1 "$R1"
	assert_releases t2 "$R1"
	# the next release on both: the previous one stays
	run --separate-stderr rep-push t2 t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t2,t1 app-a app-b app-c)"
	assert_stderr "$(live_on "$R2" 2 "$UP12")"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	assert_releases t1 "$R1" "$R2"
	assert_releases t2 "$R1" "$R2"
	assert_release t1 "$R1"
	assert_store t1 "$R1" "$R2"
	logged t1 "push $R1 -" "push $R2 $R1"
	logged t2 "push $R1 -" "push $R2 $R1"
	# a new target among them: its live set differs, and so does its plan
	run --separate-stderr rep-push t2 t3 t1 <<<"$A3"
	assert_success
	assert_output "$(push_records "$R3" t2,t3,t1 app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: $R3: the targets' live sets differ; each keeps its own" \
		"rep-push: t2: $R3: $UP23" "rep-push: t3: $R3: $NEW3" "rep-push: t1: $R3: $UP23" \
		"rep-push: $R3: live on 3 targets")"
	assert_live t1 "$R3"
	assert_live t2 "$R3"
	assert_live t3 "$R3"
	logged t3 "push $R3 -"
}

@test "rep-ls -s ready | rep-tar | rep-push T1 T2 | rep-setstatus --record records release, targets and checksum" {
	mkapp app-a
	mkapp app-b README bin/run
	mkapp app-x
	register app-a app-b app-x
	setstatus ready app-a app-b
	local a b
	a=$(rep-ls -o checksum app-a </dev/null) b=$(rep-ls -o checksum app-b </dev/null)
	run --separate-stderr bash -o pipefail -c \
		'rep-ls -s ready | rep-tar -q | rep-push t1 t2 | rep-setstatus --record' </dev/null
	assert_success
	assert_records "$(records app-a deployed app-b deployed)"
	local release
	release=$(cd dist && echo rep_applications_*.tar.gz)
	release=${release%.tar.gz}
	[[ $release =~ ^rep_applications_[0-9]{8}_[0-9]{6}$ ]] || fail "release: $release"
	assert_stderr "$(lines "$(live_on "$release" 2 '2 enter (app-a, app-b), 0 change, 0 stay, 0 leave')" \
		'rep-setstatus: recorded: 2 live, 0 left, 0 failed')"
	assert_equal "$(hist app-a app-b)" "$(lines \
		"$(event app-a - registered)" "$(event app-b - registered)" \
		"$(event app-a registered ready)" "$(event app-b registered ready)" \
		"$(event app-a ready deployed "record: live on t1,t2 in $release (${a:0:12})")" \
		"$(event app-b ready deployed "record: live on t1,t2 in $release (${b:0:12})")")"
	assert_equal "$(readlink t1/current) $(readlink t2/current)" "releases/$release releases/$release"
	diff -r --no-dereference rep_applications/app-b "t1/current/rep_applications/app-b/"
	assert_absent t1/current/rep_applications/app-x
}

@test "a target path and an archive path with spaces" {
	mkdir 'my targets' 'my archives'
	cp "$A1" 'my archives/'
	run --separate-stderr rep-push 'my targets/t 1' t2 <<<"my archives/$R1.tar.gz"
	assert_success
	assert_output "$(push_records "$R1" 'my targets/t 1,t2' app-a app-b)"
	assert_stderr "$(live_on "$R1" 2 "$NEW1")"
	assert_live 'my targets/t 1' "$R1"
	assert_live t2 "$R1"
	assert_equal "$(ls -A 'my targets')" 't 1'
}

@test "input records: the first field is the archive; comments, empty lines and other fields ignored" {
	run --separate-stderr rep-push t1 <<<$'# archives\n\n'"$A1"$'\tignored\tfields\n# end'
	assert_success
	assert_output "$(push_records "$R1" t1 app-a app-b)"
	assert_stderr "$(live_on "$R1" 1 "$NEW1")"
	assert_live t1 "$R1"
}

@test "several archives: pushed in input order, records of each once it is live" {
	run --separate-stderr rep-push t1 t2 < <(printf '%s\n' "$A2" "$A1" "$A3")
	assert_success
	assert_output "$(lines "$(push_records "$R2" t1,t2 app-a app-b app-c)" "$(push_records "$R1" t1,t2 app-a app-b)" \
		"$(push_records "$R3" t1,t2 app-a app-b app-c)")"
	# R1 composes on R2: app-c stays; R3 on that R1
	assert_stderr "$(lines "$(live_on "$R2" 2 "$NEW3")" "$(live_on "$R1" 2 "$DOWN21")" \
		"$(live_on "$R3" 2 '0 enter, 2 change (app-a, app-b), 1 stays, 0 leave')")"
	assert_live t1 "$R3"
	assert_live t2 "$R3"
	assert_releases t1 "$R1" "$R2" "$R3"
	assert_releases t2 "$R1" "$R2" "$R3"
	assert_release t1 "$R1" "app-a:$R1:$R1" "app-b:$R1:$R1" "app-c:$R2:$R2"
	assert_release t2 "$R1" "app-a:$R1:$R1" "app-b:$R1:$R1" "app-c:$R2:$R2"
	logged t1 "push $R2 -" "push $R1 $R2" "push $R3 $R1"
}

@test "pushing the same archive again is a no-op: exit 0, same output, nothing rewritten" {
	push "$A1" -- t1 t2
	snapshot t1 t2
	local inode
	inode=$(stat -c %i "t1/releases/$R1")
	run --separate-stderr rep-push t1 t2 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1,t2 app-a app-b)"
	assert_stderr "$(live_on "$R1" 2 "$SAME1")"
	assert_unchanged
	assert_equal "$(stat -c %i "t1/releases/$R1")" "$inode"
	# already staged, not live: only the switch, when the release composes
	# the same on what is live (forward again after a rollback)
	push "$A2" -- t1 t2
	rep-push -q --rollback t1 t2 >/dev/null
	inode=$(stat -c %i "t1/releases/$R2")
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1,t2 app-a app-b app-c)"
	assert_stderr "$(live_on "$R2" 2 "$UP12")"
	assert_equal "$(stat -c %i "t1/releases/$R2")" "$inode"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	assert_store t1 "$R1" "$R2"
	# or as --replace makes it, of the archive's applications only
	inode=$(stat -c %i "t1/releases/$R1")
	run --separate-stderr rep-push --replace t1 t2 <<<"$A1"
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1,t2 app-a app-b)" "$(left_records "$R1" t1,t2 "$C2" app-c)")"
	assert_stderr "$(live_on "$R1" 2 '0 enter, 1 changes (app-b), 1 stays, 1 leaves (app-c)')"
	assert_equal "$(stat -c %i "t1/releases/$R1")" "$inode"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	logged t1 "push $R1 -" "push $R2 $R1" "rollback $R1 $R2" "push $R2 $R1" "push $R1 $R2"
}

@test "progress on a terminal: staged, already staged, current is now, already live, removed; none with -q" {
	command -v script >/dev/null || skip 'script(1) is not installed'
	printf '%s\n' "$A1" >list
	run --separate-stderr script -qec 'rep-push t1 t2 <list >out' /dev/null </dev/null
	assert_success
	refute_stderr
	# the two stagings run side by side (-j 5): they end in either order;
	# the switches are made one after the other
	assert_equal "$(tr -d '\r' <<<"$output" | sed -n 1,2p | LC_ALL=C sort)" \
		"$(lines "rep-push: t1: staged $R1" "rep-push: t2: staged $R1")"
	assert_equal "$(tr -d '\r' <<<"$output" | sed 1,2d)" "$(lines \
		"rep-push: t1: current is now $R1" "rep-push: t2: current is now $R1" "$(live_on "$R1" 2 "$NEW1")")"
	assert_equal "$(cat out)" "$(push_records "$R1" t1,t2 app-a app-b)"
	printf '%s\n' "$A1" "$A2" >list
	run --separate-stderr script -qec 'rep-push -k 1 t1 <list >out' /dev/null </dev/null
	assert_success
	refute_stderr
	assert_equal "$(tr -d '\r' <<<"$output")" "$(lines "rep-push: t1: $R1 is already staged" \
		"rep-push: t1: $R1 is already live" "$(live_on "$R1" 1 "$SAME1")" \
		"rep-push: t1: staged $R2" "rep-push: t1: current is now $R2" "$(live_on "$R2" 1 "$UP12")")"
	printf '%s\n' "$A3" >list
	run --separate-stderr script -qec 'rep-push -k 1 t1 <list >out' /dev/null </dev/null
	assert_success
	refute_stderr
	assert_equal "$(tr -d '\r' <<<"$output")" "$(lines "rep-push: t1: staged $R3" \
		"rep-push: t1: current is now $R3" "rep-push: t1: removed releases/$R1" "$(live_on "$R3" 1 "$UP23")")"
	# what no release links to any more goes with it, silently
	assert_releases t1 "$R2" "$R3"
	assert_store t1 "$R2" "$R3"
	run --separate-stderr script -qec 'rep-push -q t2 <list >out' /dev/null </dev/null
	assert_success
	assert_output ''
	refute_stderr
	assert_equal "$(cat out)" "$(push_records "$R3" t2 app-a app-b app-c)"
}

@test "-q: the same records, no summary" {
	run --separate-stderr rep-push -q t1 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1 app-a app-b)"
	refute_stderr
	run --separate-stderr rep-push --quiet t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1 app-a app-b app-c)"
	refute_stderr
	assert_live t1 "$R2"
}

@test "-C DIR: archives and targets relative to DIR" {
	mkdir -p w/dist
	cp "$A1" "$A2" w/dist/
	run --separate-stderr rep-push -C w t1 <<<"dist/$R1.tar.gz"
	assert_success
	assert_output "$(push_records "$R1" t1 app-a app-b)"
	assert_stderr "$(live_on "$R1" 1 "$NEW1")"
	assert_live w/t1 "$R1"
	assert_absent t1
	push "w/dist/$R2.tar.gz" -- w/t1
	run --separate-stderr rep-push -C w --rollback t1 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1 app-a app-b)" "$(left_records "$R1" t1 "$C2" app-c)")"
	assert_stderr "rep-push: $R1: live again on 1 target"
	assert_live w/t1 "$R1"
	assert_absent t1
}

@test "-C a -C b: archives and targets relative to a/b; a usage error fails the archives of the pipe read there too" {
	mkdir -p a/b/dist
	cp "$A1" a/b/dist/
	run --separate-stderr rep-push -q -C a -C b t1 <<<"dist/$R1.tar.gz"
	assert_success
	assert_output "$(push_records "$R1" t1 app-a app-b)"
	assert_live a/b/t1 "$R1"
	assert_absent t1 a/t1
	# a usage error found after -C were entered: they are not entered twice
	# shellcheck disable=SC2016 # expanded by bash -c
	run --separate-stderr bash -c 'echo "$1" | rep-push -C a -C b --keep 0 t1' _ "dist/$R1.tar.gz"
	assert_failure 2
	assert_output "$(failed_records "$R1" - "usage error: -k 0: not a number from 1 to 1000000" app-a app-b)"
	# a -C that cannot be entered is a usage error too: what the pipe
	# brought is failed, not left claimed (absolute paths are read)
	# shellcheck disable=SC2016 # expanded by bash -c
	run --separate-stderr bash -c 'echo "$1" | rep-push -C a -C nope t1' _ "$A1"
	assert_failure 2
	assert_stderr "rep-push: -C nope: No such file or directory (try 'rep-push --help')"
	assert_output "$(failed_records "$R1" - "usage error: -C nope: No such file or directory" app-a app-b)"
	# shellcheck disable=SC2016 # expanded by bash -c
	run --separate-stderr bash -c 'echo "$1" | rep-push -C a -C b' _ "dist/$R1.tar.gz"
	assert_failure 2
	assert_stderr "rep-push: no target (try 'rep-push --help')"
	assert_output "$(failed_records "$R1" - "usage error: no target" app-a app-b)"
}

@test "./-dir and ./a:b are local directories" {
	run --separate-stderr rep-push ./-t ./a:b <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" ./-t,./a:b app-a app-b)"
	assert_stderr "$(live_on "$R1" 2 "$NEW1")"
	assert_live ./-t "$R1"
	assert_live ./a:b "$R1"
}

@test "-j 2 and -j 3 with three targets give what -j 1 gives" {
	mkdir j1 j2 j3
	run --separate-stderr rep-push -C j1 -j 1 t1 t2 t3 < <(printf '%s\n' "$A1" "$A2")
	assert_success
	local out1=$output err1=$stderr j t
	assert_output "$(lines "$(push_records "$R1" t1,t2,t3 app-a app-b)" "$(push_records "$R2" t1,t2,t3 app-a app-b app-c)")"
	assert_stderr "$(lines "$(live_on "$R1" 3 "$NEW1")" "$(live_on "$R2" 3 "$UP12")")"
	# -j 2: t1 and t2 share a reading of the archive, t3 reads it alone;
	# -j 3: all three share one
	for j in 2 3; do
		run --separate-stderr rep-push -C "j$j" --jobs "$j" t1 t2 t3 < <(printf '%s\n' "$A1" "$A2")
		assert_success
		assert_output "$out1"
		assert_stderr "$err1"
		assert_equal "$(cd "j$j" && find . -printf '%y %m %p %l\n' | LC_ALL=C sort)" \
			"$(cd j1 && find . -printf '%y %m %p %l\n' | LC_ALL=C sort)"
		# the same but for the times of the log lines
		diff -r --no-dereference --exclude=log j1 "j$j"
		for t in t1 t2 t3; do
			assert_live "j$j/$t" "$R2"
			assert_releases "j$j/$t" "$R1" "$R2"
			assert_equal "$(norm_ts <"j$j/$t/log")" "$(norm_ts <"j1/$t/log")"
		done
	done
	# more jobs than targets
	run --separate-stderr rep-push -C j2 -j 64 t1 t2 t3 <<<"$A3"
	assert_success
	assert_output "$(push_records "$R3" t1,t2,t3 app-a app-b app-c)"
	assert_stderr "$(live_on "$R3" 3 "$UP23")"
	for t in t1 t2 t3; do
		assert_live "j2/$t" "$R3"
	done
}

# opens ARCHIVE: how many times the traced rep-push (./trace) opened ARCHIVE
# (a call another process interrupts ends its line with "<unfinished ...>").
opens() {
	grep -c "^[0-9]* *openat([^\"]*\"$1\", " trace
}

@test "local targets staged together read the archive once: -j 3 opens it twice (check, reader), -j 1 four times, -j 2 to four three" {
	command -v strace >/dev/null || skip 'needs strace'
	strace -f -o /dev/null true 2>/dev/null || skip 'strace cannot trace here'
	# LeakSanitizer cannot stop the world under a tracer (check-sanitize)
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	run --separate-stderr strace -f -e trace=openat -o trace rep-push -j 3 a1 a2 a3 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" a1,a2,a3 app-a app-b)"
	assert_stderr "$(live_on "$R1" 3 "$NEW1")"
	assert_equal "$(opens "$A1")" 2
	run --separate-stderr strace -f -e trace=openat -o trace rep-push -j 1 b1 b2 b3 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" b1,b2,b3 app-a app-b)"
	assert_stderr "$(live_on "$R1" 3 "$NEW1")"
	assert_equal "$(opens "$A1")" 4
	# -j 2 to four: c3 and c4 wait for both of c1 and c2, and share one too
	run --separate-stderr strace -f -e trace=openat -o trace rep-push -j 2 c1 c2 c3 c4 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" c1,c2,c3,c4 app-a app-b)"
	assert_stderr "$(live_on "$R1" 4 "$NEW1")"
	assert_equal "$(opens "$A1")" 3
	diff -r --no-dereference --exclude=log a1 b1
	local t
	for t in a1 a2 a3 b1 b2 b3 c1 c2 c3 c4; do
		assert_live "$t" "$R1"
	done
}

@test "-j 3, one target's file system full mid-stream: it fails alone; the others stage completely; nothing switched" {
	[ "$(id -u)" -eq 0 ] || skip 'needs root to mount a tmpfs'
	unshare -m true 2>/dev/null || skip 'cannot make a mount namespace'
	big_archive
	push "$A1" -- t1 t3
	mkdir t2
	# t2 is a 64 KiB tmpfs, seen only in this mount namespace: the lock
	# and the MANIFEST fit, the 14 MiB blob does not
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare -m bash -c '
		mount -t tmpfs -o size=64k tmpfs t2 || exit 1
		rep-push -j 3 t1 t2 t3 <<<"$1" >out 2>err
		echo $? >rc
		(cd t2 && find . -printf "%y %p\n" | LC_ALL=C sort) >t2.after
	' bash "$ABIG" || fail 'could not run rep-push in a mount namespace'
	assert_equal "$(cat rc)" 1
	assert_equal "$(cat out)" "$(failed_records "$RBIG" t1,t2,t3 'staging failed on 1 of 3 targets; nothing switched' app-big)"
	stderr=$(cat err)
	# t2 is new: its live set differs from the others', and so does its plan
	assert_stderr "$(lines "rep-push: $RBIG: the targets' live sets differ; each keeps its own" \
		"rep-push: t1: $RBIG: 1 enters (app-big), 0 change, 2 stay, 0 leave" \
		"rep-push: t2: $RBIG: 1 enters (app-big), 0 change, 0 stay, 0 leave" \
		"rep-push: t3: $RBIG: 1 enters (app-big), 0 change, 2 stay, 0 leave" \
		"rep-push: t2: $ABIG: rep_applications/app-big/blob: Write failed: No space left on device" \
		"rep-push: $RBIG: staging failed on 1 of 3 targets; nothing switched")"
	assert_equal "$(cat t2.after)" "$(lines 'd .' 'd ./releases' 'd ./store')"
	local t
	for t in t1 t3; do
		assert_live "$t" "$R1"
		assert_releases "$t" "$R1" "$RBIG"
		assert_release "$t" "$RBIG" "app-a:$R1:$R1" "app-b:$R1:$R1" "app-big:$RBIG:$RBIG"
		diff -r --no-dereference "$FIX/src/$RBIG" "$t/store/$RBIG"
	done
}

# stagers_sorted N: $stderr with the lines of the stagers, which run at
# once, in C order: those between the first N lines and the last one.
stagers_sorted() {
	head -n "$1" <<<"$stderr"
	head -n -1 <<<"$stderr" | tail -n +"$(($1 + 1))" | LC_ALL=C sort
	tail -n 1 <<<"$stderr"
}

# reset_t123: RBIG and R2 gone, R1 live on t1, t2 and t3.
reset_t123() {
	push "$A1" -- --replace t1 t2 t3 && rm -rf -- t[123]/{releases,store}/{"$RBIG","$R2"}
}

# stop_stager DIR: start_push has seen STAGER stage into DIR; stop it
# (SIGSTOP) while it is still staging.  The reader then stops too, once the
# pipe to STAGER is full.  Fails if STAGER was done already.
stop_stager() {
	kill -STOP "$STAGER" 2>/dev/null && [[ $(ps -o stat= -p "$STAGER") == T* ]] && [ -d "$1/store/.rep-push-$STAGER" ]
}

# reader_of PID...: the child of PUSH_PID other than the stagers PID...: the
# process that reads the archive for them.
reader_of() {
	local pid
	for pid in $(ps -o pid= --ppid "$PUSH_PID"); do
		[[ " $* " == *" $pid "* ]] || { printf '%s\n' "$pid"; return 0; }
	done
	return 1
}

@test "an archive changed between its check and its staging by a shared reader: every target fails, nothing staged" {
	big_archive
	push "$A1" -- t1 t2 t3
	cp "$A2" "$R2.tar.gz"
	printf '%s\n' "$ABIG" "$R2.tar.gz" >list
	local try
	for try in 1 2 3 4 5; do
		start_push t1 reset_t123 -j 3 t1 t2 t3 || fail "rep-push ended before it staged: $(cat err)"
		# both archives are checked; RBIG cannot finish staging while
		# t1's stager is stopped, so R2 is read only once changed
		if stop_stager t1; then
			cat "$A3" >"$R2.tar.gz"
			kill -CONT "$STAGER"
			break
		fi
		kill -CONT "$STAGER" 2>/dev/null || true
		finish_push
		echo "# try $try: RBIG was staged before its stager was stopped; again" >&3
		cp "$A2" "$R2.tar.gz"
		reset_t123
	done
	finish_push
	assert_equal "$status" 1
	assert_output "$(lines "$(push_records "$RBIG" t1,t2,t3 app-big)" \
		"$(failed_records "$R2" t1,t2,t3 'staging failed on 3 of 3 targets; nothing switched' app-a app-b app-c)")"
	assert_equal "$(stagers_sorted 1)" "$(lines \
		"$(live_on "$RBIG" 3 "$BIG1P")" \
		"rep-push: t1: $R2.tar.gz: changed since it was checked" \
		"rep-push: t2: $R2.tar.gz: changed since it was checked" \
		"rep-push: t3: $R2.tar.gz: changed since it was checked" \
		"rep-push: $R2: staging failed on 3 of 3 targets; nothing switched")"
	local t
	for t in t1 t2 t3; do
		assert_live "$t" "$RBIG" "${BIG1[@]}"
		assert_releases "$t" "$R1" "$RBIG"
		assert_store "$t" "$R1" "$RBIG"
	done
}

@test "the shared reader killed mid-stream: every target it fed fails saying so, nothing staged or switched" {
	big_archive
	push "$A1" -- t1 t2
	printf '%s\n' "$ABIG" >list
	local try s1 s2 reader
	for try in 1 2 3 4 5; do
		start_push t1 reset_t1_t2 -j 2 t1 t2 || fail "rep-push ended before it staged: $(cat err)"
		s1=$STAGER
		if untraced _wait_staging t2 " " && s2=$STAGER && STAGER=$s1 && stop_stager t1 &&
			reader=$(reader_of "$s1" "$s2") && [[ $(ps -o stat= -p "$reader") != Z* ]]; then
			kill -KILL "$reader"
			kill -CONT "$s1"
			break
		fi
		kill -CONT "$s1" 2>/dev/null || true
		finish_push
		echo "# try $try: the reader was done before t1's stager was stopped; again" >&3
		reset_t1_t2
	done
	finish_push
	assert_equal "$status" 1
	assert_output "$(failed_records "$RBIG" t1,t2 'staging failed on 2 of 2 targets; nothing switched' app-big)"
	assert_equal "$(stagers_sorted 0)" "$(lines \
		"rep-push: t1: $ABIG: the process reading it for several targets died" \
		"rep-push: t2: $ABIG: the process reading it for several targets died" \
		"rep-push: $RBIG: staging failed on 2 of 2 targets; nothing switched")"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_releases t1 "$R1"
	assert_releases t2 "$R1"
	assert_store t1 "$R1"
	assert_store t2 "$R1"
}

# --- targets that fail ---------------------------------------------------------------

@test "releases/RELEASE exists with another MANIFEST: that target fails, nothing switched anywhere" {
	push "$A1" -- t1 t2
	# t2 has a release named R2 that holds R1
	mkdir other
	(cd other && archive_as "$R2" >/dev/null)
	push "other/$R2.tar.gz" -- t2
	push "$A1" -- t2
	snapshot t2
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,t2 'staging failed on 1 of 2 targets; nothing switched' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: t2: releases/$R2 exists and differs from $A2$DIFFERS" \
		"rep-push: $R2: staging failed on 1 of 2 targets; nothing switched")"
	assert_unchanged
	# t1 keeps what it staged, but stays on R1
	assert_live t1 "$R1"
	assert_releases t1 "$R1" "$R2"
	assert_release t1 "$R2" "app-a:$R2:$R2" "app-b:$R2:$R2" "app-c:$R2:$R2"
	assert_store t1 "$R1" "$R2"
	# an empty directory of that name differs too
	rm -r "t2/releases/$R2"
	mkdir "t2/releases/$R2"
	snapshot t1 t2
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,t2 'staging failed on 1 of 2 targets; nothing switched' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: t2: releases/$R2 exists and differs from $A2$DIFFERS" \
		"rep-push: $R2: staging failed on 1 of 2 targets; nothing switched")"
	assert_unchanged
	# so does store/R2, what the other archive of that name unpacked
	rmdir "t2/releases/$R2"
	snapshot t1 t2
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,t2 'staging failed on 1 of 2 targets; nothing switched' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: t2: store/$R2 exists and differs from the archive" \
		"rep-push: $R2: staging failed on 1 of 2 targets; nothing switched")"
	assert_unchanged
}

@test "each message is one write(2) of a whole line, so the stagers' messages never cut into each other" {
	command -v strace >/dev/null || skip 'needs strace'
	strace -f -o /dev/null true 2>/dev/null || skip 'strace cannot trace here'
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	local t
	for t in t1 t2 t3; do
		mkdir -p "$t/releases/$R2"
	done
	snapshot t1 t2 t3
	# -ff: one trace file per process, so no call is split by another's
	run --separate-stderr strace -ff -qq -e trace=write -e signal=none -s 1024 -o trace \
		rep-push -j 3 t1 t2 t3 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,t2,t3 'staging failed on 3 of 3 targets; nothing switched' app-a app-b app-c)"
	assert_equal "$(sort <<<"$stderr")" "$(lines \
		"rep-push: $R2: staging failed on 3 of 3 targets; nothing switched" \
		"rep-push: t1: releases/$R2 exists and differs from $A2$DIFFERS" \
		"rep-push: t2: releases/$R2 exists and differs from $A2$DIFFERS" \
		"rep-push: t3: releases/$R2 exists and differs from $A2$DIFFERS")"
	assert_unchanged
	# every write to stderr, in whichever process: one line, whole
	run grep -h '^write(2, ' trace.*
	assert_success
	assert_equal "${#lines[@]}" 4
	run grep -hv '^write(2, "rep-push: [^"]*\\n", \([0-9]*\)) = \1$' <(grep -h '^write(2, ' trace.*)
	assert_failure 1
	assert_output ''
}

@test "two targets, one unusable (missing parent, a file in the way): exit 1, nothing switched, nothing printed" {
	push "$A1" -- t1
	snapshot t1
	run --separate-stderr rep-push t1 missing/t2 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,missing/t2 '1 of 2 targets could not be opened; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines 'rep-push: missing/t2: cannot create the directory: its parent directory does not exist' \
		"rep-push: $R2: 1 of 2 targets could not be opened; nothing done")"
	assert_unchanged
	assert_absent missing
	# the unusable one first: the same
	run --separate-stderr rep-push missing/t2 t1 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" missing/t2,t1 '1 of 2 targets could not be opened; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines 'rep-push: missing/t2: cannot create the directory: its parent directory does not exist' \
		"rep-push: $R2: 1 of 2 targets could not be opened; nothing done")"
	assert_unchanged
	echo data >file
	run --separate-stderr rep-push t1 file <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,file '1 of 2 targets could not be opened; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines 'rep-push: file: not a directory' \
		"rep-push: $R2: 1 of 2 targets could not be opened; nothing done")"
	assert_unchanged
	assert_equal "$(cat file)" data
	run --separate-stderr rep-push t1 file/t2 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,file/t2 '1 of 2 targets could not be opened; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines 'rep-push: file/t2: Not a directory' \
		"rep-push: $R2: 1 of 2 targets could not be opened; nothing done")"
	assert_unchanged
}

@test "a target whose current is not a symlink fails, the other one is not switched" {
	push "$A1" -- t1
	mkdir -p t2/current t2/releases
	snapshot t1 t2
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,t2 '1 of 2 targets could not be opened; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines 'rep-push: t2: current: exists and is not a symbolic link' \
		"rep-push: $R2: 1 of 2 targets could not be opened; nothing done")"
	assert_unchanged
}

@test "a switch that fails after another target switched: that one is switched back" {
	big_archive
	push "$A1" -- t1 t2
	printf '%s\n' "$ABIG" >list
	start_push t2 reset_t1_t2 t1 t2 || fail "rep-push ended before it staged on t2: $(cat err)"
	kill -STOP "$PUSH_PID"
	assert_equal "$(readlink t1/current)" "releases/$R1"
	# someone removes t2's current while t2 is being staged
	rm t2/current
	kill -CONT "$PUSH_PID"
	finish_push
	assert_failure 1
	assert_output "$(failed_records "$RBIG" t1,t2 'a switch failed; no target was left on it' app-big)"
	assert_stderr "$(lines "rep-push: t2: current changed during the push (now '')" \
		"rep-push: t1: switched back to $R1" \
		"rep-push: $RBIG: a switch failed; no target was left on it")"
	assert_live t1 "$R1"
	assert_absent t2/current
	assert_clean t2
	assert_releases t1 "$R1" "$RBIG"
	assert_releases t2 "$R1" "$RBIG"
	# t1's switch and its switch back are logged; t2 was not switched
	logged_last t1 "push $R1 -" "push $RBIG $R1" "revert $R1 $RBIG"
	logged_last t2 "push $R1 -"
}

# reset_t2: t1 gone, RBIG gone from t2, R1 live there again.
reset_t2() {
	rm -rf t1 && push "$A1" -- --replace t2 && rm -rf -- t2/{releases,store}/"$RBIG"
}

@test "a switch that fails where another target had no release: its current is removed again" {
	big_archive
	push "$A1" -- t2
	printf '%s\n' "$ABIG" >list
	start_push t2 reset_t2 t1 t2 || fail "rep-push ended before it staged on t2: $(cat err)"
	kill -STOP "$PUSH_PID"
	assert_absent t1/current
	rm t2/current
	kill -CONT "$PUSH_PID"
	finish_push
	assert_failure 1
	assert_output "$(failed_records "$RBIG" t1,t2 'a switch failed; no target was left on it' app-big)"
	assert_stderr "$(lines "rep-push: $RBIG: the targets' live sets differ; each keeps its own" \
		"rep-push: t1: $RBIG: 1 enters (app-big), 0 change, 0 stay, 0 leave" \
		"rep-push: t2: $RBIG: $BIG1P" \
		"rep-push: t2: current changed during the push (now '')" \
		'rep-push: t1: switched back to no release' \
		"rep-push: $RBIG: a switch failed; no target was left on it")"
	assert_absent t1/current t2/current
	assert_clean t1
	assert_clean t2
	assert_releases t1 "$RBIG"
	assert_release t1 "$RBIG" "app-big:$RBIG:$RBIG"
	logged t1 "push $RBIG -" "revert - $RBIG"
}

@test "several archives, the second fails on a target: the first stays live, the rest is not pushed" {
	mkdir other
	(cd other && archive_as "$R2" >/dev/null)
	push "other/$R2.tar.gz" -- t2
	rm t2/current
	run --separate-stderr rep-push t1 t2 < <(printf '%s\n' "$A1" "$A2" "$A3")
	assert_failure 1
	assert_output "$(lines "$(push_records "$R1" t1,t2 app-a app-b)" \
		"$(failed_records "$R2" t1,t2 'staging failed on 1 of 2 targets; nothing switched' app-a app-b app-c)" \
		"$(failed_records "$R3" t1,t2 "not tried: $R2 failed" app-a app-b app-c)")"
	assert_stderr "$(lines "$(live_on "$R1" 2 "$NEW1")" \
		"rep-push: t2: releases/$R2 exists and differs from $A2$DIFFERS" \
		"rep-push: $R2: staging failed on 1 of 2 targets; nothing switched")"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_releases t1 "$R1" "$R2"
	assert_releases t2 "$R1" "$R2"
}

# --- bad archives: exit 2, targets untouched --------------------------------------------

# setup for the tests below: t1 has R1 live, t2 does not exist
bad_archive_setup() {
	push "$A1" -- t1
	snapshot t1 t2
}

# refused ARCHIVE WHY: pushing ARCHIVE to t1 and t2 fails with exit 2 and
# "rep-push: ARCHIVE: WHY", t1 unchanged, t2 not created.
refused() {
	untraced _refused "$@"
}

_refused() {
	run --separate-stderr rep-push t1 t2 <<<"$1"
	assert_failure 2 && assert_output '' && assert_stderr "rep-push: $1: $2" && assert_unchanged
}

# refused_names WHY NAME...: a copy of A2 under each NAME is refused as
# refused does (the targets compared once, after all of them).
refused_names() {
	untraced _refused_names "$@"
}

_refused_names() {
	local why=$1 name
	shift
	for name; do
		cp "$A2" "$name" || return
		run --separate-stderr rep-push t1 t2 <<<"$name"
		assert_failure 2 && assert_output '' && assert_stderr "rep-push: $name: $why" || return
	done
	assert_unchanged
}

@test "a truncated archive: exit 2, truncated archive" {
	bad_archive_setup
	local f=$R2.tar.gz size
	size=$(stat -c %s "$A2")
	head -c $((size / 2)) "$A2" >"$f"
	refused "$f" 'truncated archive'
	head -c $((size - 4)) "$A2" >"$f"
	refused "$f" 'truncated archive'
	head -c 10 "$A2" >"$f"
	refused "$f" 'truncated archive'
}

@test "a corrupted archive (a byte flipped): exit 2, corrupt gzip data" {
	bad_archive_setup
	local f=$R2.tar.gz size
	size=$(stat -c %s "$A2")
	cp "$A2" "$f"
	flip_byte "$f" $((size - 6)) # CRC-32
	refused "$f" 'corrupt gzip data: incorrect data check'
	cp "$A2" "$f"
	flip_byte "$f" $((size - 2)) # ISIZE
	refused "$f" 'corrupt gzip data: incorrect length check'
	cp "$A2" "$f"
	flip_byte "$f" $((size / 2))
	run --separate-stderr rep-push t1 t2 <<<"$f"
	assert_failure 2
	assert_output ''
	assert_stderr --regexp "^rep-push: $f: corrupt gzip data: [^"$'\n'"]+\$"
	assert_unchanged
}

@test "rep-tar's blocked gzip in members of any size reads as gzip -d reads it: checked and deployed; the form before the size fields too" {
	local f=$R2.tar.gz block
	for block in 512 3000 1048576; do
		gzblock "$A2" "$f" "$block" >/dev/null
		cmp <(gzip -dc "$f") <(gzip -dc "$A2")
		run --separate-stderr rep-tar -t "$f" </dev/null
		assert_success
		assert_equal "$output" "$(rep-tar -t "$A2" </dev/null)"
	done
	gzblock "$A2" "$f" 512 strip >/dev/null
	[ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" = 1f8b0800 ]
	run --separate-stderr rep-tar -t "$f" </dev/null
	assert_success
	assert_equal "$output" "$(rep-tar -t "$A2" </dev/null)"
	run --separate-stderr rep-push t0 <<<"$f"
	assert_success
	assert_output "$(push_records "$R2" t0 app-a app-b app-c)"
	assert_live t0 "$R2"
	gzblock "$A2" "$f" 512 >/dev/null
	run --separate-stderr rep-push t1 <<<"$f"
	assert_success
	assert_output "$(push_records "$R2" t1 app-a app-b app-c)"
	assert_live t1 "$R2"
	diff -r --no-dereference t0/store t1/store
}

@test "rep-tar's blocked gzip whose size fields lie, or whose members were moved: exit 2 saying where, targets untouched" {
	bad_archive_setup
	local f=$R2.tar.gz at
	mapfile -t at < <(gzblock "$A2" "$f" 512)
	[ "${#at[@]}" -ge 4 ]
	gzblock "$A2" "$f" 512 size:1:1 >/dev/null
	refused "$f" "corrupt gzip data: the member at byte ${at[1]} does not end where its size field says"
	gzblock "$A2" "$f" 512 cover:0 >/dev/null
	refused "$f" 'corrupt gzip data: the member at byte 0 does not end where its size field says'
	gzblock "$A2" "$f" 512 nosize:2 >/dev/null
	refused "$f" "gzip member at byte ${at[2]} has no size field as the first has (not in the form rep-tar writes)"
	run --separate-stderr rep-tar -t "$f" </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: $f: gzip member at byte ${at[2]} has no size field as the first has (not in the form rep-tar writes)"
	gzblock "$A2" "$f" 512 tail:30 >/dev/null
	refused "$f" 'data after the end of the gzip stream'
	gzblock "$A2" "$f" 512 tail:7 >/dev/null
	refused "$f" 'data after the end of the gzip stream'
	gzblock "$A2" "$f" 2097152 1200000 >/dev/null
	refused "$f" 'gzip member at byte 0 inflates to more than 1 MiB (not in the form rep-tar writes)'
	local change
	for change in size:1:-1 size:2:-8 size:1:8; do
		gzblock "$A2" "$f" 512 "$change" >/dev/null
		run --separate-stderr rep-push t1 t2 <<<"$f"
		assert_failure 2
		assert_output ''
		assert_stderr --regexp "^rep-push: $f: (corrupt gzip data: [^"$'\n'"]+|truncated archive|data after the end of the gzip stream|gzip member at byte [0-9]+ has no size field as the first has \(not in the form rep-tar writes\))\$"
		assert_unchanged
	done
	# each member whole, in another order: the tar stream is not rep's,
	# as gzip -d would show it
	for change in swap:1:2 drop:1 double:1; do
		gzblock "$A2" "$f" 512 "$change" >/dev/null
		gzip -t "$f"
		! cmp -s <(gzip -dc "$f") <(gzip -dc "$A2")
		run --separate-stderr rep-push t1 t2 <<<"$f"
		assert_failure 2
		assert_output ''
		assert_stderr --regexp "^rep-push: $f: [^"$'\n'"]+\$"
		assert_unchanged
	done
}

# fixed_member IN OUT SYMBOL: IN's tar stream as one member in rep-tar's
# blocked form, deflated by hand in one fixed-Huffman block of literals but
# for one match of 258 zeros, written with length symbol SYMBOL: 285 is
# RFC 1951's; 286 and 287 are not in the code (zlib and gzip refuse them,
# libdeflate takes them for 258).
fixed_member() {
	"$PYTHON" - "$@" <<'PY'
import gzip, struct, sys, zlib
data = gzip.decompress(open(sys.argv[1], 'rb').read())
sym = int(sys.argv[3])
bits = []
def put(v, n):
    bits.extend((v >> i) & 1 for i in range(n))
def code(c, n):
    bits.extend((c >> i) & 1 for i in range(n - 1, -1, -1))
def lit(s):
    if s < 144: code(0x30 + s, 8)
    elif s < 256: code(0x190 + s - 144, 9)
    elif s < 280: code(s - 256, 7)
    else: code(0xc0 + s - 280, 8)
put(1, 1); put(1, 2)
i, matched = 0, False
while i < len(data):
    if not matched and i > 0 and data[i - 1] == 0 and data[i:i + 258] == bytes(258):
        lit(sym); code(0, 5)   # distance symbol 0: distance 1
        i += 258; matched = True
        continue
    lit(data[i]); i += 1
lit(256)
assert matched
d = bytearray((len(bits) + 7) // 8)
for k, b in enumerate(bits):
    d[k // 8] |= b << (k % 8)
size = 20 + len(d) + 8
open(sys.argv[2], 'wb').write(bytes([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 8, 0, 82, 80, 4, 0]) +
    struct.pack('<I', size) + bytes(d) + struct.pack('<II', zlib.crc32(data), len(data)))
PY
}

@test "deflate data that only a lax inflater takes (length symbol 286 or 287): refused as gzip -d refuses it, targets untouched; symbol 285 deploys" {
	bad_archive_setup
	local f=$R2.tar.gz sym
	for sym in 286 287; do
		fixed_member "$A2" "$f" "$sym"
		run gzip -t "$f"
		assert_failure
		refused "$f" 'corrupt gzip data: invalid literal/length code'
		run --separate-stderr rep-tar -t "$f" </dev/null
		assert_failure 2
		assert_stderr "rep-tar: $f: corrupt gzip data: invalid literal/length code"
	done
	fixed_member "$A2" "$f" 285
	cmp <(gzip -dc "$f") <(gzip -dc "$A2")
	run --separate-stderr rep-push t1 <<<"$f"
	assert_success
	assert_output "$(push_records "$R2" t1 app-a app-b app-c)"
	assert_live t1 "$R2"
}

@test "what is not a gzip-compressed tar archive, or has data after its end: exit 2" {
	bad_archive_setup
	local f=$R2.tar.gz
	echo 'just text' >"$f"
	refused "$f" 'not a gzip-compressed tar archive'
	: >"$f"
	refused "$f" 'not a gzip-compressed tar archive'
	mkdir x
	tar -C x -xzf "$A2"
	tar -C x -cf "$f" MANIFEST rep_applications
	refused "$f" 'not a gzip-compressed tar archive'
	echo 'just text' | gzip >"$f"
	run --separate-stderr rep-push t1 t2 <<<"$f"
	assert_failure 2
	assert_output ''
	assert_stderr --regexp "^rep-push: $f: (not a gzip-compressed tar archive|Unrecognized archive format)\$"
	assert_unchanged
	# not rep's: MANIFEST missing or not first
	tar -C x -czf "$f" rep_applications
	refused "$f" 'rep_applications/: a header that is not POSIX ustar (not in the form rep-tar writes)'
	pytar "$f" d:rep_applications/ "f:MANIFEST:$(cat x/MANIFEST)"
	refused "$f" 'first entry is not MANIFEST'
	# data after the end
	{ cat "$A2" && printf 'garbage'; } >"$f"
	refused "$f" 'data after the end of the gzip stream'
	{ cat "$A2" && printf 'garbage' | gzip; } >"$f"
	refused "$f" "gzip member at byte $(stat -c %s "$A2") has no size field as the first has (not in the form rep-tar writes)"
	{ gzip -dc "$A2" | gzip -n && printf 'garbage' | gzip; } >"$f"
	refused "$f" 'data after the end of the archive'
	{ gzip -dc "$A2" && head -c 2M /dev/zero; } | gzip >"$f"
	refused "$f" 'more than 1 MiB of padding after the end of the archive'
	# zeros up to 1 MiB are padding
	{ gzip -dc "$A2" && head -c 512K /dev/zero; } | gzip >"$f"
	run --separate-stderr rep-push t2 <<<"$f"
	assert_success
	assert_output "$(push_records "$R2" t2 app-a app-b app-c)"
	assert_stderr "$(live_on "$R2" 1 "$NEW3")"
	assert_live t2 "$R2"
}

@test "archives of the previous format (one gzip member of 128 KiB pieces, as pigz -b 128 writes) and of plain gzip check and deploy" {
	local d
	mkdir old plain
	gzip -dc "$A1" | pigz -6 -n -T -b 128 >"old/$R1.tar.gz"
	gzip -dc "$A1" | gzip -6 -n >"plain/$R1.tar.gz"
	for d in old plain; do
		# one member: the trailer's length is that of the whole tar stream
		assert_equal "$(tail -c 4 "$d/$R1.tar.gz" | od -An -tu4 --endian=little | tr -d ' ')" \
			"$(gzip -dc "$A1" | wc -c)"
		run --separate-stderr rep-tar -t "$d/$R1.tar.gz" </dev/null
		assert_success
		assert_equal "$output" "$(rep-tar -t "$A1" </dev/null)"
		run --separate-stderr rep-push "t-$d" <<<"$d/$R1.tar.gz"
		assert_success
		assert_output "$(push_records "$R1" "t-$d" app-a app-b)"
		assert_live "t-$d" "$R1"
		diff -r --no-dereference "$FIX/src/$R1" "t-$d/store/$R1"
	done
}

@test "an archive that is not a regular file (a FIFO): exit 2 saying so, nothing touched" {
	bad_archive_setup
	local f=$R2.tar.gz writer
	mkfifo "$f"
	# a writer, in case rep-push reads it (killed once rep-push is done)
	# shellcheck disable=SC2016 # expanded by sh
	timeout 20 sh -c 'cat "$1" >"$2"' _ "$A2" "$f" 3>&- &
	writer=$!
	run --separate-stderr rep-push t1 t2 <<<"$f"
	kill "$writer" 2>/dev/null || true
	wait "$writer" || true
	assert_failure 2
	assert_output ''
	assert_unchanged
	assert_stderr "rep-push: $f: not a regular file"
}

@test "an archive whose content does not match its manifest: exit 2 naming the application" {
	bad_archive_setup
	local f=$R2.tar.gz
	mkdir x
	tar -C x -xzf "$A2"
	# one file more, more bytes (refused as they come), other bytes, one file less
	echo extra >x/rep_applications/app-b/extra
	rebuild x "$f"
	refused "$f" 'rep_applications/app-b/extra: more files than MANIFEST lists for app-b'
	rm x/rep_applications/app-b/extra
	echo 'app-c/README and more' >x/rep_applications/app-c/README
	rebuild x "$f"
	refused "$f" 'rep_applications/app-c/README: more bytes than MANIFEST lists for app-c'
	echo 'app-c/READMX' >x/rep_applications/app-c/README
	rebuild x "$f"
	refused "$f" 'app-c: content does not match the manifest'
	tar -C x -xzf "$A2"
	rm x/rep_applications/app-a/start
	rebuild x "$f"
	refused "$f" 'app-a: content does not match the manifest'
	# the control: GNU tar's archive of the extraction passes
	tar -C x -xzf "$A2"
	rebuild x "$f"
	run --separate-stderr rep-push t2 <<<"$f"
	assert_success
	assert_output "$(push_records "$R2" t2 app-a app-b app-c)"
	assert_stderr "$(live_on "$R2" 1 "$NEW3")"
	assert_live t2 "$R2"
}

@test "hostile archives (../, absolute, symlink out, links, entries not in the manifest): exit 2, targets untouched" {
	mkapp app-h
	register app-h
	local m sum
	m=$(rep-tar -q -d h app-h </dev/null) || fail 'rep-tar failed'
	m=$(tar -xOzf "$m" MANIFEST)
	sum=$(grep -v '^#' <<<"$m" | cut -f 4)
	# a manifest that allows more files and bytes than there are: every
	# entry gets as far as its own check
	local -a base=("f:MANIFEST:app-h${TAB}100${TAB}100000${TAB}$sum"$'\n' d:rep_applications/
		d:rep_applications/app-h/ "f:rep_applications/app-h/README:app-h/README"$'\n')
	# WHY|ENTRY...: each a copy of base with the hostile entries after it
	local -a cases=(
		"../x: unsafe path|f:../x:evil"
		"$BATS_TEST_TMPDIR/evil: unsafe path|f:$BATS_TEST_TMPDIR/evil:evil"
		"rep_applications/app-h/../../x: unsafe path|f:rep_applications/app-h/../../x:evil"
		"rep_applications/app-h/a\\x01b: unsafe path|f:rep_applications/app-h/a"$'\x01'"b:evil"
		"rep_applications/app-h/out: symlink points outside its application|l:rep_applications/app-h/out:$BATS_TEST_TMPDIR"
		"rep_applications/app-h/up: symlink points outside its application|l:rep_applications/app-h/up:../.."
		"rep_applications/app-h/lnk/x: below no directory of the archive (not in the form rep-tar writes)|l:rep_applications/app-h/lnk:.|f:rep_applications/app-h/lnk/x:evil"
		"rep_applications/app-h/hard: a hard link (not in the form rep-tar writes)|h:rep_applications/app-h/hard:rep_applications/app-h/README"
		"rep_applications/app-h/null: a character device (not in the form rep-tar writes)|c:rep_applications/app-h/null"
		"rep_applications/app-z/README: application not in the manifest|f:rep_applications/app-z/README:z"
		"zzz: outside rep_applications/|f:zzz:evil"
		"app-h: content does not match the manifest|f:rep_applications/app-h/extra:evil"
	)
	# the control: the same content with the true manifest and nothing hostile
	local ok=rep_applications_20260102_000099
	local -a args=("$ok.tar.gz" "f:MANIFEST:$m"$'\n' "${base[@]:1}") extra
	local i
	for i in "${!cases[@]}"; do
		IFS='|' read -ra extra <<<"${cases[i]}"
		args+=('' "rep_applications_20260102_0000$((10 + i)).tar.gz" "${base[@]}" "${extra[@]:1}")
	done
	pytar "${args[@]}"
	bad_archive_setup
	for i in "${!cases[@]}"; do
		refused "rep_applications_20260102_0000$((10 + i)).tar.gz" "${cases[i]%%|*}"
	done
	assert_absent "$BATS_TEST_TMPDIR/evil" "$BATS_TEST_TMPDIR/x" x zzz
	run --separate-stderr rep-push t2 <<<"$ok.tar.gz"
	assert_success
	assert_output "$(push_records "$ok" t2 app-h)"
	assert_stderr "$(live_on "$ok" 1 '1 enters (app-h), 0 change, 0 stay, 0 leave')"
	diff -r rep_applications/app-h "t2/current/rep_applications/app-h/"
}

@test "archive names that are not rep-tar's, missing archives: exit 2, nothing touched" {
	bad_archive_setup
	local why='not a rep-tar archive name (rep_applications_YYYYMMDD_HHMMSS[_N].tar.gz)'
	refused_names "$why" x.tar.gz "$R2.tgz" "$R2.tar" "${R2}_1.tar.gz" "${R2}_02.tar.gz" "${R2}x.tar.gz" \
		rep_applications_2026010_000002.tar.gz rep_applications_20260101-000002.tar.gz \
		"app_$R2.tar.gz" "$R2.tar.gz.bak" .tar.gz
	mkdir -p "d/$R2.tar.gz"
	refused "d/$R2.tar.gz" 'not a regular file'
	refused "nope/$R2.tar.gz" 'No such file or directory'
	refused "$R2.tar.gz" 'No such file or directory'
	# a good archive before a bad one: nothing is pushed
	cp "$A2" "$R2.tar.gz"
	run --separate-stderr rep-push t1 t2 < <(printf '%s\n' "$R2.tar.gz" x.tar.gz)
	assert_failure 2
	assert_output "$(failed_records "$R2" t1,t2 "x.tar.gz: $why" app-a app-b app-c)"
	assert_stderr "rep-push: x.tar.gz: $why"
	assert_unchanged
	# _N names are fine
	cp "$A2" "${R2}_2.tar.gz"
	cp "$A2" "${R2}_20.tar.gz"
	run --separate-stderr rep-push t2 < <(printf '%s\n' "${R2}_2.tar.gz" "${R2}_20.tar.gz")
	assert_success
	assert_output "$(lines "$(push_records "${R2}_2" t2 app-a app-b app-c)" "$(push_records "${R2}_20" t2 app-a app-b app-c)")"
	assert_stderr "$(lines "$(live_on "${R2}_2" 1 "$NEW3")" "$(live_on "${R2}_20" 1 "$SAME3")")"
	assert_live t2 "${R2}_20" "$R2"
}

@test "_10 to _19 are release names too (rep-tar's tenth to nineteenth archive in one second)" {
	local n
	for n in 9 10 11 19 100; do
		archive_as "${R1}_$n" >>list
	done
	run --separate-stderr rep-push -q t1 <list
	assert_success
	assert_output "$(lines "$(push_records "${R1}_9" t1 app-a app-b)" "$(push_records "${R1}_10" t1 app-a app-b)" \
		"$(push_records "${R1}_11" t1 app-a app-b)" "$(push_records "${R1}_19" t1 app-a app-b)" "$(push_records "${R1}_100" t1 app-a app-b)")"
	refute_stderr
	assert_releases t1 "${R1}_10" "${R1}_100" "${R1}_11" "${R1}_19" "${R1}_9"
	assert_live t1 "${R1}_100" "$R1"
}

@test "an archive given twice, or two archives of one release: exit 2, nothing touched" {
	bad_archive_setup
	run --separate-stderr rep-push t1 t2 < <(printf '%s\n' "$A2" "$A2")
	assert_failure 2
	assert_output "$(failed_records "$R2" t1,t2 "$A2: release $R2 given twice" app-a app-b app-c)"
	assert_stderr "rep-push: $A2: release $R2 given twice"
	assert_unchanged
	cp "$A2" .
	run --separate-stderr rep-push t1 t2 < <(printf '%s\n' "$A2" "./$R2.tar.gz")
	assert_failure 2
	assert_output "$(failed_records "$R2" t1,t2 "./$R2.tar.gz: release $R2 given twice" app-a app-b app-c)"
	assert_stderr "rep-push: ./$R2.tar.gz: release $R2 given twice"
	assert_unchanged
}

@test "a CR before LF in the input: exit 2 naming the line, nothing touched" {
	bad_archive_setup
	run --separate-stderr rep-push t1 t2 <<<"$A2"$'\r'
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-push: stdin:1: CR before LF (convert the input with dos2unix)'
	assert_unchanged
}

@test "no archive on stdin: nothing to push, exit 0, no target created; -q silences it" {
	run --separate-stderr rep-push t1 </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-push: nothing to push'
	run --separate-stderr rep-push t1 t2 <<<$'# nothing\n\n'
	assert_success
	assert_output ''
	assert_stderr 'rep-push: nothing to push'
	run --separate-stderr rep-push -q t1 </dev/null
	assert_success
	assert_output ''
	refute_stderr
	assert_absent t1 t2
}

# --- -n ------------------------------------------------------------------------------------

@test "-n: the plan on stderr, nothing on stdout (no record of what did not happen), nothing created or changed, no lock" {
	push "$A1" "$A2" -- t1
	snapshot t1 t2
	# a lock taken and removed would change the directory's times
	local times
	times=$(stat -c '%y %z' t1 t1/releases)
	run --separate-stderr rep-push -n t1 t2 <<<"$A3"
	assert_success
	assert_output ''
	assert_stderr "$(lines "rep-push: $R3: dry run: the targets' live sets differ; each keeps its own" \
		"rep-push: t1: $R3: $UP23" "rep-push: t2: $R3: $NEW3" \
		"rep-push: t1: would stage $R3" "rep-push: t2: would stage $R3" \
		"rep-push: t1: would switch current from $R2 to $R3" "rep-push: t2: would point current to $R3" \
		"rep-push: $R3: dry run: live on 2 targets")"
	assert_unchanged
	assert_equal "$(stat -c '%y %z' t1 t1/releases)" "$times"
	# pruning, -q
	run --separate-stderr rep-push -n -k 1 t1 <<<"$A3"
	assert_success
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: $R3: $UP23" \
		"rep-push: t1: would stage $R3" "rep-push: t1: would switch current from $R2 to $R3" \
		"rep-push: t1: would remove releases/$R1" "rep-push: $R3: dry run: live on 1 target")"
	run --separate-stderr rep-push -n -q -k 1 t1 t2 <<<"$A3"
	assert_success
	assert_output ''
	refute_stderr
	assert_unchanged
	# a target locked by someone else
	sleep 60 3>&- &
	SLEEP_PID=$!
	fake_lock t1 "$HOST" "$SLEEP_PID"
	snapshot t1 t2
	run --separate-stderr rep-push -n t1 t2 <<<"$A3"
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: locked by pid $SLEEP_PID on $HOST (bob@build since 2026-01-01T00:00:00Z)" \
		"rep-push: $R3: dry run: 1 of 2 targets locked by another push; nothing done")"
	assert_unchanged
}

@test "-n with a stale lock: it would be broken, the plan goes on; nothing changed" {
	push "$A1" -- t1
	local pid
	pid=$(gone_pid)
	fake_lock t1 "$HOST" "$pid"
	snapshot t1
	run --separate-stderr rep-push -n t1 <<<"$A2"
	assert_success
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: would break a stale lock: held by pid $pid on $HOST (bob@build since 2026-01-01T00:00:00Z), which is gone" \
		"rep-push: t1: $R2: $UP12" \
		"rep-push: t1: would stage $R2" "rep-push: t1: would switch current from $R1 to $R2" \
		"rep-push: $R2: dry run: live on 1 target")"
	assert_unchanged
}

@test "-n on targets that have the release: nothing to stage, the switch and the pruning planned" {
	push "$A1" "$A2" "$A3" -- t1
	push "$A1" "$A3" -- t2
	snapshot t1 t2
	# staged and live on both: the plan says so (as part of the plan, it is
	# printed without a terminal too)
	run --separate-stderr rep-push -n t1 t2 <<<"$A3"
	assert_unchanged
	assert_success
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: $R3: $SAME3" "rep-push: t2: $R3: $SAME3" \
		"rep-push: t1: $R3 is already staged" "rep-push: t2: $R3 is already staged" \
		"rep-push: t1: $R3 is already live" "rep-push: t2: $R3 is already live" \
		"rep-push: $R3: dry run: live on 2 targets")"
	# A2 on R3 composes what releases/R2 holds (R2 was made on R1): only
	# the switch
	run --separate-stderr rep-push -n t1 <<<"$A2"
	assert_success
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: $R2: 0 enter, 1 changes (app-a), 2 stay, 0 leave" \
		"rep-push: t1: $R2 is already staged" \
		"rep-push: t1: would switch current from $R3 to $R2" "rep-push: $R2: dry run: live on 1 target")"
	# A1 on R3 keeps app-c, which releases/R1 does not hold: a push would fail
	run --separate-stderr rep-push -n t1 <<<"$A1"
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: $R1: $DOWN31" \
		"rep-push: t1: releases/$R1 exists and differs from $A1$DIFFERS" \
		"rep-push: $R1: dry run: staging failed on 1 of 1 targets; nothing switched")"
	run --separate-stderr rep-push -n -k 1 t1 <<<"$A3"
	assert_success
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: $R3: $SAME3" \
		"rep-push: t1: $R3 is already staged" "rep-push: t1: $R3 is already live" \
		"rep-push: t1: would remove releases/$R1" "rep-push: $R3: dry run: live on 1 target")"
	assert_unchanged
}

@test "-n with several archives: each step planned from the state the previous one would leave" {
	push "$A1" -- t1
	snapshot t1
	run --separate-stderr rep-push -n t1 < <(printf '%s\n' "$A2" "$A3")
	assert_success
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: $R2: $UP12" \
		"rep-push: t1: would stage $R2" "rep-push: t1: would switch current from $R1 to $R2" \
		"rep-push: $R2: dry run: live on 1 target" \
		"rep-push: t1: $R3: $UP23" \
		"rep-push: t1: would stage $R3" "rep-push: t1: would switch current from $R2 to $R3" \
		"rep-push: $R3: dry run: live on 1 target")"
	assert_unchanged
}

# --- -k -------------------------------------------------------------------------------------

@test "-k 2: after four pushes the live one and the two that rollbacks reach remain" {
	local r
	for r in rep_applications_20260105_000001 rep_applications_20260105_000002 \
		rep_applications_20260105_000003 rep_applications_20260105_000004; do
		archive_as "$r" >/dev/null
		run --separate-stderr rep-push -k 2 t1 <<<"$r.tar.gz"
		assert_success
		assert_output "$(push_records "$r" t1 app-a app-b)"
		if [ "$r" = rep_applications_20260105_000001 ]; then
			assert_stderr "$(live_on "$r" 1 "$NEW1")"
		else
			assert_stderr "$(live_on "$r" 1 "$SAME1")"
		fi
	done
	# 3 and 2: where one rollback and a second one go
	assert_releases t1 rep_applications_20260105_00000{2,3,4}
	assert_store t1 rep_applications_20260105_00000{2,3,4}
	assert_live t1 rep_applications_20260105_000004 "$R1"
	# the same in one run; -k 1 still keeps the one a rollback goes to
	run --separate-stderr rep-push --keep 1 t2 < <(ls rep_applications_20260105_*.tar.gz)
	assert_success
	assert_releases t2 rep_applications_20260105_000003 rep_applications_20260105_000004
	assert_store t2 rep_applications_20260105_000003 rep_applications_20260105_000004
	assert_live t2 rep_applications_20260105_000004 "$R1"
}

@test "-k: the default keeps 5, and the 5 that successive rollbacks reach" {
	local i
	for i in 1 2 3 4 5 6 7; do
		archive_as "rep_applications_20260105_00000$i" >>list
	done
	run --separate-stderr rep-push -q t1 <list
	assert_success
	# 3 to 7 the newest; 6 to 2 where five rollbacks go
	assert_releases t1 rep_applications_20260105_00000{2,3,4,5,6,7}
}

@test "-k never removes the live release or those KEEP rollbacks reach, even older than the KEEP newest" {
	local r
	for r in 1 2 3 4 5; do
		archive_as "rep_applications_20260105_00000$r" >>list
	done
	local -a archives
	mapfile -t archives <list
	push "${archives[@]}" -- t1
	# back to release 2: 3, 4 and 5 are rolled back from
	for r in 1 2 3; do
		rep-push -q --rollback t1 >/dev/null
	done
	assert_live t1 rep_applications_20260105_000002 "$R1"
	# 6 and 5 are the newest, 6 is live, rollbacks go to 2, then 1
	archive_as rep_applications_20260105_000006 >/dev/null
	run --separate-stderr rep-push -k 2 t1 <<<rep_applications_20260105_000006.tar.gz
	assert_success
	assert_output "$(push_records rep_applications_20260105_000006 t1 app-a app-b)"
	assert_stderr "$(live_on rep_applications_20260105_000006 1 "$SAME1")"
	assert_releases t1 rep_applications_20260105_00000{1,2,5,6}
	assert_store t1 rep_applications_20260105_00000{1,2,5,6}
	assert_live t1 rep_applications_20260105_000006 "$R1"
	logged t1 "push rep_applications_20260105_000001 -" \
		"push rep_applications_20260105_000002 rep_applications_20260105_000001" \
		"push rep_applications_20260105_000003 rep_applications_20260105_000002" \
		"push rep_applications_20260105_000004 rep_applications_20260105_000003" \
		"push rep_applications_20260105_000005 rep_applications_20260105_000004" \
		"rollback rep_applications_20260105_000004 rep_applications_20260105_000005" \
		"rollback rep_applications_20260105_000003 rep_applications_20260105_000004" \
		"rollback rep_applications_20260105_000002 rep_applications_20260105_000003" \
		"push rep_applications_20260105_000006 rep_applications_20260105_000002"
	# -k 1: 6 live and newest, 2 where a rollback goes
	archive_as rep_applications_20260105_000007 >/dev/null
	push rep_applications_20260105_000007.tar.gz -- -k 1 t1
	assert_releases t1 rep_applications_20260105_00000{6,7}
	rep-push -q --rollback t1 >/dev/null
	assert_live t1 rep_applications_20260105_000006 "$R1"
}

@test "-k orders releases by time, then _N as a number (_20 after _3)" {
	local r
	for r in rep_applications_20260105_000009 rep_applications_20260105_000009_3 \
		rep_applications_20260105_000009_20 rep_applications_20260105_000008_4; do
		archive_as "$r" >>list
	done
	run --separate-stderr rep-push -k 1 t1 <list
	assert_success
	assert_output "$(lines "$(push_records rep_applications_20260105_000009 t1 app-a app-b)" \
		"$(push_records rep_applications_20260105_000009_3 t1 app-a app-b)" \
		"$(push_records rep_applications_20260105_000009_20 t1 app-a app-b)" \
		"$(push_records rep_applications_20260105_000008_4 t1 app-a app-b)")"
	assert_stderr "$(lines "$(live_on rep_applications_20260105_000009 1 "$NEW1")" \
		"$(live_on rep_applications_20260105_000009_3 1 "$SAME1")" \
		"$(live_on rep_applications_20260105_000009_20 1 "$SAME1")" \
		"$(live_on rep_applications_20260105_000008_4 1 "$SAME1")")"
	# 8_4 live, 9_20 the newest and the one before it
	assert_releases t1 rep_applications_20260105_000008_4 rep_applications_20260105_000009_20
	assert_live t1 rep_applications_20260105_000008_4 "$R1"
	# after 9_20: 9_3 is the one before it, 9 goes
	rm -r t1
	head -3 list | rep-push -q -k 1 t1 >/dev/null
	assert_releases t1 rep_applications_20260105_000009_20 rep_applications_20260105_000009_3
}

@test "-k never touches what is not named like a release" {
	mkdir -p t1/releases/{backup,.hidden,rep_applications_20000101_000000_1,rep_applications_2000,rep_applications_20000101_000000.old}
	echo notes >t1/releases/notes.txt
	echo file >t1/releases/rep_applications_20000101_000001
	ln -s backup t1/releases/rep_applications_20000101_000002
	echo keep >t1/releases/backup/file
	local others
	others=$(cd t1/releases && find . -printf '%y %p %l\n' | LC_ALL=C sort)
	archive_as rep_applications_20260105_000001 >list
	archive_as rep_applications_20260105_000002 >>list
	archive_as rep_applications_20260105_000003 >>list
	run --separate-stderr rep-push -q -k 1 t1 <list
	assert_success
	assert_equal "$(cd t1/releases && find . -printf '%y %p %l\n' | grep -v ' ./rep_applications_20260105_' | LC_ALL=C sort)" \
		"$others"
	assert_equal "$(cd t1/releases && echo rep_applications_20260105_*)" \
		'rep_applications_20260105_000002 rep_applications_20260105_000003'
}

# --- --rollback -------------------------------------------------------------------------------

@test "--rollback goes back one release at a time, prints what is live again; nothing older: exit 1" {
	push "$A1" -- t1 t2
	push "$A2" -- t1 t2
	push "$A3" -- t1 t2
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_output "$(push_records "$R2" t1,t2 app-a app-b app-c)"
	assert_stderr "rep-push: $R2: live again on 2 targets"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1,t2 app-a app-b)" "$(left_records "$R1" t1,t2 "$C2" app-c)")"
	assert_stderr "rep-push: $R1: live again on 2 targets"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_releases t1 "$R1" "$R2" "$R3"
	snapshot t1 t2
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: no release before $R1" "rep-push: t2: no release before $R1" \
		'rep-push: rollback: not possible on 2 of 2 targets; nothing switched')"
	assert_unchanged
	# a push goes forward again: it composes on R1 what releases/R3 holds
	run --separate-stderr rep-push t1 t2 <<<"$A3"
	assert_success
	assert_output "$(push_records "$R3" t1,t2 app-a app-b app-c)"
	assert_stderr "$(live_on "$R3" 2 "$UP13")"
	assert_live t1 "$R3"
	# and a rollback undoes that push: back to R1, not to R2 by name
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1,t2 app-a app-b)" "$(left_records "$R1" t1,t2 "$C2" app-c)")"
	assert_stderr "rep-push: $R1: live again on 2 targets"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	logged t1 "push $R1 -" "push $R2 $R1" "push $R3 $R2" "rollback $R2 $R3" "rollback $R1 $R2" \
		"push $R3 $R1" "rollback $R1 $R3"
	assert_equal "$(norm_ts <t2/log)" "$(norm_ts <t1/log)"
}

@test "--rollback | rep-setstatus --record records the content live again, and what left" {
	# the fixture's applications, registered with their newest content:
	# R1 holds older app-a and app-b, and no app-c
	cp -a "$FIX/metadata.db" "$FIX/rep_applications" .
	push "$A1" "$A2" -- t1
	setstatus deployed app-a app-b app-c
	local a b a1 b1
	a=$(rep-ls -o checksum app-a </dev/null) b=$(rep-ls -o checksum app-b </dev/null)
	a1=$(app_checksum "$R1" t1 app-a) b1=$(app_checksum "$R1" t1 app-b)
	run --separate-stderr bash -o pipefail -c 'rep-push --rollback t1 | rep-setstatus --record' </dev/null
	assert_success
	# none of them has its registered content live any more
	assert_records "$(records app-a registered app-b registered app-c registered)"
	assert_stderr "$(lines "rep-push: $R1: live again on 1 target" 'rep-setstatus: recorded: 2 live, 1 left, 0 failed')"
	assert_equal "$(hist app-a app-b app-c | tail -n 3)" "$(lines \
		"$(event app-a deployed registered "record: live on t1 in $R1 (${a1:0:12}; registered content is ${a:0:12})")" \
		"$(event app-b deployed registered "record: live on t1 in $R1 (${b1:0:12}; registered content is ${b:0:12})")" \
		"$(event app-c deployed registered "record: left service on t1 in $R1")")"
}

@test "--rollback does not read stdin; -q; -n shows the plan and changes nothing" {
	push "$A1" "$A2" -- t1 t2
	snapshot t1 t2
	run --separate-stderr rep-push -n --rollback t1 t2 <<<$'not read\r'
	assert_success
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: would switch current from $R2 to $R1" \
		"rep-push: t2: would switch current from $R2 to $R1" "rep-push: $R1: dry run: live again on 2 targets")"
	assert_unchanged
	run --separate-stderr rep-push -q --rollback t1 t2 <<<$'not read\r'
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1,t2 app-a app-b)" "$(left_records "$R1" t1,t2 "$C2" app-c)")"
	refute_stderr
	assert_live t1 "$R1"
	assert_live t2 "$R1"
}

@test "--rollback with nothing live: exit 1, nothing changed" {
	mkdir -p t1/releases "t2/releases/$R1"
	snapshot t1 t2
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines 'rep-push: t1: no release is live' 'rep-push: t2: no release is live' \
		'rep-push: rollback: not possible on 2 of 2 targets; nothing switched')"
	assert_unchanged
	run --separate-stderr rep-push -n --rollback t3 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines 'rep-push: t3: no release is live' \
		'rep-push: rollback: dry run: not possible on 1 of 1 targets; nothing switched')"
	assert_absent t3
}

@test "--rollback creates nothing: not the directory, not releases/" {
	mkdir t2
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines 'rep-push: t1: no release is live' 'rep-push: t2: no release is live' \
		'rep-push: rollback: not possible on 2 of 2 targets; nothing switched')"
	assert_absent t1 t2/releases
}

@test "--rollback of targets whose logs differ: each goes back where its log says, all switch; records of what is live where" {
	push "$A1" "$A3" -- t1
	push "$A2" "$A3" -- t2
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1 app-a app-b)" "$(push_records "$R2" t2 app-a app-b app-c)" \
		"$(left_records "$R1" t1 "$C2" app-c)")"
	assert_stderr "$(lines 'rep-push: rollback: the targets go back to different releases, as their logs say' \
		'rep-push: rollback: done on 2 targets')"
	assert_live t1 "$R1"
	assert_live t2 "$R2"
	logged t1 "push $R1 -" "push $R3 $R1" "rollback $R1 $R3"
	logged t2 "push $R2 -" "push $R3 $R2" "rollback $R2 $R3"
	# the same name, another content: each application with the targets
	# where it is live in it, as it is there (app-c is in t3's R1 alone,
	# app-b is another one in each)
	mkdir other
	(cd other && archive_as "$R1" "$A2" >/dev/null)
	push "other/$R1.tar.gz" "$A3" -- t3
	push "$A3" -- t1
	run --separate-stderr rep-push --rollback t3 t1 </dev/null
	assert_success
	# t3's R1 holds A2's app-b: not the one A1 put in t1's
	assert_output "$(lines "$(push_records "$R1" t3,t1 app-a)" \
		"$(push_records "$R1" t3 "app-b:$(app_checksum "$R2" - app-b)" app-c)" \
		"$(push_records "$R1" t1 app-b)" "$(left_records "$R1" t1 "$C2" app-c)")"
	assert_stderr "rep-push: $R1: live again on 2 targets"
	assert_live t1 "$R1"
	assert_live t3 "$R1" "app-a:$R2:$R1" "app-b:$R2:$R1" "app-c:$R2:$R1"
}

@test "--rollback to a release changed since it was staged: exit 1 naming what differs, nothing switched" {
	push "$A1" "$A2" -- t1 t2
	# the release's links, and what they lead to (R2 links to store/R2 only)
	local rel=t1/releases/$R1/rep_applications store=t1/store/$R1/rep_applications
	# each a change that leaves the size and the MANIFEST as they were
	local -a changes=(
		"printf 'app-A' | dd of=$rel/app-a/README bs=1 conv=notrunc status=none@@store/$R1/rep_applications/app-a: content differs from its MANIFEST"
		"chmod 0666 $rel/app-a/README@@store/$R1/rep_applications/app-a/README: mode 666, not 644"
		"chmod 4755 $rel/app-a/bin/run@@store/$R1/rep_applications/app-a/bin/run: mode 4755, not 755"
		"chmod 0775 $rel/app-a/bin@@store/$R1/rep_applications/app-a/bin: mode 775, not 755"
		"mkdir $rel/app-a/new@@store/$R1/rep_applications/app-a: 3 directories, 2 in its MANIFEST"
		"ln -s README $rel/app-a/extra@@store/$R1/rep_applications/app-a: content differs from its MANIFEST"
		"mkfifo $rel/app-a/fifo@@app-a/fifo: a FIFO, not a regular file, directory or symlink
rep-push: t1: store/$R1/rep_applications/app-a: holds what no release does"
		"mkdir $store/app-z@@store/$R1/rep_applications/app-z: not in its MANIFEST"
		"touch t1/store/$R1/extra@@store/$R1/extra: not part of a release"
		"chmod 0775 $store@@store/$R1/rep_applications: mode 775, not 755"
		"touch t1/releases/$R1/extra@@releases/$R1/extra: not part of a release"
		"chmod 0664 t1/releases/$R1/MANIFEST@@releases/$R1/MANIFEST: not as rep-push leaves it"
		"chmod 0775 $rel@@releases/$R1/rep_applications: mode 775, not 755"
		"mkdir $rel/app-z@@releases/$R1/rep_applications/app-z: not in its MANIFEST"
		"ln -s ../../../store/$R1/rep_applications/app-a $rel/app-z@@releases/$R1/rep_applications/app-z: not in its MANIFEST"
		"rm $rel/app-b && cp -a $store/app-b $rel/@@releases/$R1/rep_applications/app-b: not a symbolic link, as the others are"
		"ln -sfn ../../../store/$R1/rep_applications/app-b/ $rel/app-b@@releases/$R1/rep_applications/app-b: a link to ../../../store/$R1/rep_applications/app-b/, not to ../../../store/RELEASE/rep_applications/app-b"
		"ln -sfn $PWD/$store/app-b $rel/app-b@@releases/$R1/rep_applications/app-b: a link to $PWD/$store/app-b, not to ../../../store/RELEASE/rep_applications/app-b"
		"ln -sfn ../../../store/$R1/rep_applications/app-a $rel/app-b@@releases/$R1/rep_applications/app-b: a link to ../../../store/$R1/rep_applications/app-a, not to ../../../store/RELEASE/rep_applications/app-b"
		"ln -sfn ../../../store/$R2/rep_applications/app-b $rel/app-b@@releases/$R1/MANIFEST: app-b: not as store/$R2/MANIFEST lists it"
	)
	local c
	for c in "${changes[@]}"; do
		rm -rf t1/{releases,store}/"$R1" && cp -a t2/releases/"$R1" t1/releases/ && cp -a t2/store/"$R1" t1/store/
		eval "${c%%@@*}"
		snapshot t1 t2
		run --separate-stderr rep-push --rollback t1 t2 </dev/null
		assert_failure 1
		assert_output ''
		assert_stderr "$(lines "rep-push: t1: ${c#*@@}" \
			"rep-push: t1: releases/$R1 is not what its MANIFEST lists" \
			'rep-push: rollback: not possible on 1 of 2 targets; nothing switched')"
		assert_unchanged
	done
	# the control: the release as it was staged goes live again
	rm -rf t1/{releases,store}/"$R1" && cp -a t2/releases/"$R1" t1/releases/ && cp -a t2/store/"$R1" t1/store/
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1,t2 app-a app-b)" "$(left_records "$R1" t1,t2 "$C2" app-c)")"
	assert_stderr "rep-push: $R1: live again on 2 targets"
}

@test "a release already staged but changed since: that target fails, nothing switched; as staged, it goes live" {
	# R2 rolled back from: pushed again, it composes on R1 what it holds
	push "$A1" "$A2" -- t1 t2
	rep-push -q --rollback t1 t2 >/dev/null
	printf 'app-B' | dd of="t1/releases/$R2/rep_applications/app-b/README" bs=1 conv=notrunc status=none
	snapshot t1 t2
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,t2 'staging failed on 1 of 2 targets; nothing switched' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: t1: store/$R2/rep_applications/app-b: content differs from its MANIFEST" \
		"rep-push: t1: releases/$R2 is not what its MANIFEST lists" \
		"rep-push: $R2: staging failed on 1 of 2 targets; nothing switched")"
	assert_unchanged
	rm -rf t1/{releases,store}/"$R2" && cp -a t2/releases/"$R2" t1/releases/ && cp -a t2/store/"$R2" t1/store/
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1,t2 app-a app-b app-c)"
	assert_stderr "$(live_on "$R2" 2 "$UP12")"
	assert_live t1 "$R2"
}

# --- locks ---------------------------------------------------------------------------------

@test "a lock held by a live process on this host: exit 1 naming it, nothing done anywhere" {
	push "$A1" -- t1 t2
	sleep 60 3>&- &
	SLEEP_PID=$!
	fake_lock t2 "$HOST" "$SLEEP_PID"
	snapshot t1 t2
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,t2 '1 of 2 targets locked by another push; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: t2: locked by pid $SLEEP_PID on $HOST (bob@build since 2026-01-01T00:00:00Z)" \
		"rep-push: $R2: 1 of 2 targets locked by another push; nothing done")"
	assert_unchanged
	run --separate-stderr rep-push --rollback t2 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: t2: locked by pid $SLEEP_PID on $HOST (bob@build since 2026-01-01T00:00:00Z)" \
		'rep-push: rollback: 1 of 1 targets locked by another push; nothing done')"
	assert_unchanged
}

@test "a stale lock (its process is gone) is broken with a message and the push proceeds" {
	push "$A1" -- t1
	local pid
	pid=$(gone_pid)
	! kill -0 "$pid" 2>/dev/null || skip "pid $pid was reused"
	fake_lock t1 "$HOST" "$pid"
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1 app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: t1: breaking a stale lock: held by pid $pid on $HOST (bob@build since 2026-01-01T00:00:00Z), which is gone" \
		"$(live_on "$R2" 1 "$UP12")")"
	assert_live t1 "$R2"
}

@test "a lock from another host is never broken; an unreadable lock is not either" {
	push "$A1" -- t1
	local pid
	pid=$(gone_pid)
	fake_lock t1 "not-$HOST" "$pid"
	snapshot t1
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1 '1 of 1 targets locked by another push; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: t1: locked by pid $pid on not-$HOST (bob@build since 2026-01-01T00:00:00Z)" \
		"rep-push: $R2: 1 of 1 targets locked by another push; nothing done")"
	assert_unchanged
	echo 'garbage' >t1/.rep-push.lock
	snapshot t1
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1 '1 of 1 targets locked by another push; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines 'rep-push: t1: locked by an unreadable lock' \
		"rep-push: $R2: 1 of 1 targets locked by another push; nothing done")"
	assert_unchanged
}

@test "a push while another holds the lock: refused naming it; the first one completes" {
	big_archive
	push "$A1" -- t1
	printf '%s\n' "$ABIG" >list
	start_push t1 reset_t1 t1 || fail "rep-push ended before it staged: $(cat err)"
	kill -STOP "$PUSH_PID"
	# the lock: host, pid, user@host, time
	[[ $(cat t1/.rep-push.lock) =~ ^"$HOST"$'\t'"$PUSH_PID"$'\t'"tester@$HOST"$'\t'$TS_RE$ ]] ||
		fail "lock: $(cat t1/.rep-push.lock)"
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_failure 1
	assert_output "$(failed_records "$R2" t1 '1 of 1 targets locked by another push; nothing done' app-a app-b app-c)"
	assert_stderr --regexp "^rep-push: t1: locked by pid $PUSH_PID on $HOST \\(tester@$HOST since $TS_RE\\)"$'\n'"rep-push: $R2: 1 of 1 targets locked by another push; nothing done\$"
	assert_equal "$(readlink t1/current)" "releases/$R1"
	kill -CONT "$PUSH_PID"
	finish_push
	assert_success
	assert_output "$(push_records "$RBIG" t1 app-big)"
	assert_stderr "$(live_on "$RBIG" 1 "$BIG1P")"
	assert_live t1 "$RBIG" "${BIG1[@]}"
	assert_releases t1 "$R1" "$RBIG"
	logged_last t1 "push $R1 -" "push $RBIG $R1"
}

@test "two pushes to one target at once: each succeeds or is refused for the lock; the target ends consistent" {
	big_archive
	push "$A1" -- t1
	local s1 s2 live
	rep-push t1 <<<"$ABIG" >out1 2>err1 3>&- &
	local p1=$!
	rep-push t1 <<<"$A2" >out2 2>err2 3>&- &
	local p2=$!
	s1=0 s2=0
	wait "$p1" || s1=$?
	wait "$p2" || s2=$?
	# the second of two that both succeeded composes on the first
	local first=''
	if [ "$s1" -eq 0 ] && [ "$s2" -eq 0 ]; then
		first=$(tail -n 2 t1/log | head -n 1 | cut -f 3)
	fi
	if [ "$s1" -eq 0 ]; then
		assert_equal "$(cat out1)" "$(push_records "$RBIG" t1 app-big)"
		if [ "$first" = "$R2" ]; then
			assert_equal "$(cat err1)" "$(live_on "$RBIG" 1 '1 enters (app-big), 0 change, 3 stay, 0 leave')"
		else
			assert_equal "$(cat err1)" "$(live_on "$RBIG" 1 "$BIG1P")"
		fi
	else
		assert_equal "$s1" 1
		assert_equal "$(cat out1)" "$(failed_records "$RBIG" t1 '1 of 1 targets locked by another push; nothing done' app-big)"
		assert_regex "$(cat err1)" "^rep-push: t1: locked by pid $p2 on $HOST \\(tester@$HOST since $TS_RE\\)"$'\n'"rep-push: $RBIG: 1 of 1 targets locked by another push; nothing done\$"
	fi
	if [ "$s2" -eq 0 ]; then
		assert_equal "$(cat out2)" "$(push_records "$R2" t1 app-a app-b app-c)"
		if [ "$first" = "$RBIG" ]; then
			assert_equal "$(cat err2)" "$(live_on "$R2" 1 '1 enters (app-c), 1 changes (app-b), 2 stay, 0 leave')"
		else
			assert_equal "$(cat err2)" "$(live_on "$R2" 1 "$UP12")"
		fi
	else
		assert_equal "$s2" 1
		assert_equal "$(cat out2)" "$(failed_records "$R2" t1 '1 of 1 targets locked by another push; nothing done' app-a app-b app-c)"
		assert_regex "$(cat err2)" "^rep-push: t1: locked by pid $p1 on $HOST \\(tester@$HOST since $TS_RE\\)"$'\n'"rep-push: $R2: 1 of 1 targets locked by another push; nothing done\$"
	fi
	[ "$s1" -eq 0 ] || [ "$s2" -eq 0 ] || fail "both failed: $(cat err1 err2)"
	live=$(readlink t1/current)
	live=${live#releases/}
	if [ "$s1" -ne 0 ]; then
		assert_equal "$live" "$R2"
		assert_live t1 "$R2"
		logged t1 "push $R1 -" "push $R2 $R1"
	elif [ "$s2" -ne 0 ]; then
		assert_equal "$live" "$RBIG"
		assert_live t1 "$RBIG" "${BIG1[@]}"
		logged t1 "push $R1 -" "push $RBIG $R1"
	elif [ "$first" = "$R2" ]; then
		assert_equal "$live" "$RBIG"
		assert_live t1 "$RBIG" "app-a:$R2:$R2" "app-b:$R2:$R2" "app-big:$RBIG:$RBIG" "app-c:$R2:$R2"
		logged t1 "push $R1 -" "push $R2 $R1" "push $RBIG $R2"
	else
		assert_equal "$first" "$RBIG"
		assert_equal "$live" "$R2"
		assert_live t1 "$R2" "app-a:$R2:$R2" "app-b:$R2:$R2" "app-big:$RBIG:$RBIG" "app-c:$R2:$R2"
		logged t1 "push $R1 -" "push $RBIG $R1" "push $R2 $RBIG"
	fi
}

@test "leftovers of a killed push (staging directory, temporary current, stale lock) are cleaned by the next push" {
	push "$A1" -- t1
	local pid
	pid=$(gone_pid)
	fake_lock t1 "$HOST" "$pid"
	mkdir -p "t1/releases/.rep-push-$pid/rep_applications/app-a" "t1/store/.rep-push-$pid/rep_applications/app-a"
	echo half >"t1/releases/.rep-push-$pid/rep_applications/app-a/README"
	echo half >"t1/store/.rep-push-$pid/rep_applications/app-a/README"
	ln -s "releases/$R1" t1/.rep-push-current
	cp t1/log t1/.rep-push-log
	echo half >>t1/.rep-push-log
	run --separate-stderr rep-push t1 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1 app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: t1: breaking a stale lock: held by pid $pid on $HOST (bob@build since 2026-01-01T00:00:00Z), which is gone" \
		"$(live_on "$R2" 1 "$UP12")")"
	assert_live t1 "$R2"
	assert_releases t1 "$R1" "$R2"
	assert_store t1 "$R1" "$R2"
	logged t1 "push $R1 -" "push $R2 $R1"
}

@test "SIGKILL while staging: current untouched, a stale lock left; the next push works" {
	big_archive
	push "$A1" -- t1
	printf '%s\n' "$ABIG" >list
	start_push t1 reset_t1 t1 || fail "rep-push ended before it staged: $(cat err)"
	local pid=$PUSH_PID
	kill -KILL "$PUSH_PID"
	kill -KILL "$STAGER" 2>/dev/null || true
	finish_push
	assert_equal "$status" 137
	assert_output ''
	refute_stderr
	assert_equal "$(readlink t1/current)" "releases/$R1"
	[[ $(cat t1/.rep-push.lock) =~ ^"$HOST"$'\t'"$pid"$'\t' ]] || fail "lock: $(cat t1/.rep-push.lock)"
	run --separate-stderr rep-push t1 <<<"$ABIG"
	assert_success
	assert_output "$(push_records "$RBIG" t1 app-big)"
	assert_stderr --regexp "^rep-push: t1: breaking a stale lock: held by pid $pid on $HOST \\(tester@$HOST since $TS_RE\\), which is gone"$'\n'"rep-push: $RBIG: live on 1 target: 1 enters \\(app-big\\), 0 change, 2 stay, 0 leave\$"
	assert_live t1 "$RBIG" "${BIG1[@]}"
	assert_releases t1 "$R1" "$RBIG"
	assert_store t1 "$R1" "$RBIG"
	logged_last t1 "push $R1 -" "push $RBIG $R1"
}

@test "SIGTERM, SIGINT or SIGHUP while staging: killed by it, lock removed, current untouched; the next push works" {
	big_archive
	push "$A1" -- t1
	printf '%s\n' "$ABIG" >list
	local sig
	for sig in TERM INT HUP; do
		start_push t1 reset_t1 t1 || fail "rep-push ended before it staged: $(cat err)"
		kill -s "$sig" "$PUSH_PID"
		finish_push
		assert_equal "$status" $((128 + $(kill -l "$sig")))
		assert_output "$(failed_records "$RBIG" t1 "interrupted by signal $(kill -l "$sig")" app-big)"
		refute_stderr
		assert_equal "$(readlink t1/current)" "releases/$R1"
		assert_absent t1/.rep-push.lock
	done
	run --separate-stderr rep-push t1 <<<"$ABIG"
	assert_success
	assert_output "$(push_records "$RBIG" t1 app-big)"
	assert_stderr "$(live_on "$RBIG" 1 "$BIG1P")"
	assert_live t1 "$RBIG" "${BIG1[@]}"
}

# --- the deploy protocol under injected faults (tests/fault.c) -------------------------------

# fpush OPTION/TARGET... < list: the fault-injecting build of rep-push, run.
fpush() {
	run --separate-stderr "$FAULT_PUSH" "$@"
}

@test "fault: a switch that fails on target 3 of 3: targets 1 and 2 switched back, exit 1" {
	push "$A1" -- t1 t2 t3
	printf '%s\n' "$A2" >list
	fpush t1 t2 fault:switch:t3 <list
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,t2,fault:switch:t3 'a switch failed; no target was left on it' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: fault:switch:t3: injected fault: switch1" \
		"rep-push: t2: switched back to $R1" "rep-push: t1: switched back to $R1" \
		"rep-push: $R2: a switch failed; no target was left on it")"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_live t3 "$R1"
	assert_releases t3 "$R1" "$R2"
	assert_clean t1
	assert_clean t3
	# the switches and the switches back are logged; t3 never switched
	logged t1 "push $R1 -" "push $R2 $R1" "revert $R1 $R2"
	logged t2 "push $R1 -" "push $R2 $R1" "revert $R1 $R2"
	logged t3 "push $R1 -"
	# the push undone, a rollback has nowhere to go
	run --separate-stderr rep-push --rollback t1 t2 t3 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: t1: no release before $R1" "rep-push: t2: no release before $R1" \
		"rep-push: t3: no release before $R1" 'rep-push: rollback: not possible on 3 of 3 targets; nothing switched')"
}

@test "fault: a stage that fails after the others staged: nothing switched, exit 1, the staged release kept" {
	push "$A1" -- t1 t2
	printf '%s\n' "$A2" >list
	fpush -j 1 t1 fault:stage:t2 <list
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,fault:stage:t2 'staging failed on 1 of 2 targets; nothing switched' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: fault:stage:t2: injected fault: stage" \
		"rep-push: $R2: staging failed on 1 of 2 targets; nothing switched")"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_releases t1 "$R1" "$R2"
	assert_releases t2 "$R1"
	assert_clean t1
	assert_clean t2
}

@test "fault: a verification that fails on one target of two: no rollback and no reuse anywhere, exit 1" {
	push "$A1" "$A2" -- t1 t2
	snapshot t1 t2
	fpush --rollback t1 fault:verify:t2 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: fault:verify:t2: injected fault: verify" \
		"rep-push: fault:verify:t2: releases/$R1 is not what its MANIFEST lists" \
		'rep-push: rollback: not possible on 1 of 2 targets; nothing switched')"
	assert_unchanged
	# a release already staged is verified before it goes live again (A1
	# alone makes what releases/R1 holds)
	fpush --replace t1 fault:verify:t2 <<<"$A1"
	assert_failure 1
	assert_output "$(failed_records "$R1" t1,fault:verify:t2 'staging failed on 1 of 2 targets; nothing switched' app-a app-b)"
	assert_stderr "$(lines "rep-push: fault:verify:t2: injected fault: verify" \
		"rep-push: fault:verify:t2: releases/$R1 is not what its MANIFEST lists" \
		"rep-push: $R1: staging failed on 1 of 2 targets; nothing switched")"
	assert_unchanged
}

@test "fault: the connection lost mid-switch: the others switched back, exit 3 saying what is where" {
	push "$A1" -- t1 t2 t3
	printf '%s\n' "$A2" >list
	fpush t1 fault:lost1:t2 t3 <list
	assert_failure 3
	assert_output "$(failed_records "$R2" t1,fault:lost1:t2,t3 'switch-back failed: the fleet is mixed' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: fault:lost1:t2: connection lost" \
		"rep-push: fault:lost1:t2: may be on $R2 or still on $R1: it stopped answering during the switch" \
		"rep-push: t1: switched back to $R1" \
		"rep-push: $R2: what is live now: $R1 on t1, unknown on fault:lost1:t2, $R1 on t3" \
		"rep-push: $R2: a switch failed, and 1 target could not be switched back")"
	assert_live t1 "$R1"
	assert_live t2 "$R2"
	assert_live t3 "$R1"
	# the lock is released whatever happened
	assert_clean t2
	# t2's switch was logged before it was made
	logged t1 "push $R1 -" "push $R2 $R1" "revert $R1 $R2"
	logged t2 "push $R1 -" "push $R2 $R1"
	logged t3 "push $R1 -"
}

@test "fault: a switch-back that fails: exit 3, the fleet's releases named, -q does not hide it; records of what is true" {
	push "$A1" -- t1 t2 t3
	printf '%s\n' "$A2" >list
	fpush -q t1 fault:switch2:t2 fault:switch1:t3 <list
	assert_failure 3
	# live where it is stuck, failed where it was switched back or never went
	local -a want=()
	local app
	for app in app-a app-b app-c; do
		want+=("$(push_records "$R2" fault:switch2:t2 "$app")" \
			"$(failed_records "$R2" t1,fault:switch1:t3 'switch-back failed: the fleet is mixed' "$app")")
	done
	assert_output "$(lines "${want[@]}")"
	assert_stderr "$(lines "rep-push: fault:switch1:t3: injected fault: switch1" \
		"rep-push: fault:switch2:t2: injected fault: switch2" \
		"rep-push: fault:switch2:t2: could not switch back to $R1: still on $R2" \
		"rep-push: t1: switched back to $R1" \
		"rep-push: $R2: what is live now: $R1 on t1, $R2 on fault:switch2:t2, $R1 on fault:switch1:t3")"
	assert_live t1 "$R1"
	assert_live t2 "$R2"
	assert_live t3 "$R1"
	assert_clean t1
	assert_clean t2
	assert_clean t3
	logged t1 "push $R1 -" "push $R2 $R1" "revert $R1 $R2"
	logged t2 "push $R1 -" "push $R2 $R1"
	logged t3 "push $R1 -"
}

@test "fault: a rollback whose switch fails on one target: the other goes back to where it was" {
	push "$A1" "$A2" -- t1 t2
	fpush --rollback t1 fault:switch:t2 </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: fault:switch:t2: injected fault: switch1" \
		"rep-push: t1: switched back to $R2" \
		"rep-push: rollback: a switch failed; no target was left on it")"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	logged t1 "push $R1 -" "push $R2 $R1" "rollback $R1 $R2" "revert $R2 $R1"
	logged t2 "push $R1 -" "push $R2 $R1"
	# the rollback undone, the next one goes where it would have gone
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1,t2 app-a app-b)" "$(left_records "$R1" t1,t2 "$C2" app-c)")"
	assert_stderr "rep-push: $R1: live again on 2 targets"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
}

@test "fault: a target that cannot be opened: nothing done anywhere, the others let go" {
	push "$A1" -- t1
	snapshot t1
	printf '%s\n' "$A2" >list
	fpush t1 fault:open:t2 <list
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,fault:open:t2 '1 of 2 targets could not be opened; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: fault:open:t2: injected fault: open" \
		"rep-push: $R2: 1 of 2 targets could not be opened; nothing done")"
	assert_unchanged
	assert_absent t2
}

@test "fault: pruning that fails is told, the release stays live, exit 0" {
	push "$A1" "$A2" -- t1
	printf '%s\n' "$A3" >list
	fpush -k 1 fault:prune:t1 <list
	assert_success
	assert_output "$(push_records "$R3" fault:prune:t1 app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: fault:prune:t1: injected fault: prune" "$(live_on "$R3" 1 "$UP23")")"
	assert_live t1 "$R3"
	assert_releases t1 "$R1" "$R2" "$R3"
}

@test "the installed rep-push has no fault transport: fault:SPEC:DIR is a host" {
	printf '%s\n' "$A1" >list
	REP_SSH=false run --separate-stderr rep-push fault:/t1 <list
	assert_failure 1
	assert_output "$(failed_records "$R1" fault:/t1 '1 of 1 targets could not be opened; nothing done' app-a app-b)"
	assert_stderr --partial "rep-push: fault:/t1: "
	run --separate-stderr rep-push fault:switch:/t1 <list
	assert_failure 2
	assert_stderr "rep-push: fault:switch:/t1: a remote directory must be an absolute path"
}

# --- exits after the switch -------------------------------------------------------------------

# no_reader CMD...: CMD with its stdout a pipe whose reader is already
# gone (| head -c 0 races: head may still be there for the first write).
no_reader() {
	python3 -c 'import os, subprocess, sys
r, w = os.pipe()
os.close(r)
sys.exit(subprocess.call(sys.argv[1:], stdout=w))' "$@"
}

@test "a reader gone after the switch (| head -c 0): exit 3 naming the live release, the lock released" {
	push "$A1" -- t1
	printf '%s\n' "$A2" >list
	run --separate-stderr no_reader rep-push t1 <list
	assert_failure 3
	assert_output ''
	assert_stderr "rep-push: $R2: live on t1, but its records could not be written: Broken pipe"
	assert_live t1 "$R2"
	assert_absent t1/.rep-push.lock
}

@test "a full stdout after the switch: exit 3 naming the live release, the lock released" {
	push "$A1" -- t1 t2
	# shellcheck disable=SC2016 # expanded by the inner shell
	run --separate-stderr bash -c 'rep-push t1 t2 <<<"$1" >/dev/full' - "$A2"
	assert_failure 3
	assert_output ''
	assert_stderr "rep-push: $R2: live on t1,t2, but its records could not be written: No space left on device"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	assert_absent t1/.rep-push.lock t2/.rep-push.lock
}

@test "a reader gone after a rollback: exit 3, the lock released" {
	push "$A1" "$A2" -- t1
	run --separate-stderr no_reader rep-push --rollback t1 </dev/null
	assert_failure 3
	assert_output ''
	assert_stderr "rep-push: $R1: live on t1, but its records could not be written: Broken pipe"
	assert_live t1 "$R1"
	assert_absent t1/.rep-push.lock
}

@test "signals ignored on entry stay ignored (nohup): SIGHUP while staging does not stop the push" {
	big_archive
	push "$A1" -- t1
	printf '%s\n' "$ABIG" >list
	env --ignore-signal=HUP rep-push t1 <list >out 2>err 3>&- &
	PUSH_PID=$!
	untraced _wait_staging t1 "  " || fail "rep-push ended before it staged: $(cat err)"
	kill -HUP "$PUSH_PID"
	finish_push
	assert_equal "$status" 0
	assert_output "$(push_records "$RBIG" t1 app-big)"
	assert_stderr "$(live_on "$RBIG" 1 "$BIG1P")"
	assert_live t1 "$RBIG" "${BIG1[@]}"
}

@test "a signal while the fleet switches waits: every target switched, the records out, then the signal; no lock left" {
	push "$A1" -- t1 t2 t3
	printf '%s\n' "$A2" >list
	env --default-signal=INT "$FAULT_PUSH" fault:slow:t1 fault:slow:t2 fault:slow:t3 <list >out 2>err 3>&- &
	PUSH_PID=$!
	local i
	for ((i = 0; i < 500; i++)); do
		[ "$(readlink t1/current)" = "releases/$R2" ] && break
		sleep 0.01
	done
	kill -TERM "$PUSH_PID"
	finish_push
	assert_equal "$status" 143
	assert_output "$(push_records "$R2" fault:slow:t1,fault:slow:t2,fault:slow:t3 app-a app-b app-c)"
	refute_stderr
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	assert_live t3 "$R2"
}

@test "stdout closed (>&-): the records cannot be written, exit 3 naming the live release" {
	push "$A1" -- t1
	# shellcheck disable=SC2016 # expanded by the inner shell
	run --separate-stderr bash -c 'rep-push t1 <<<"$1" >&-' - "$A2"
	assert_failure 3
	assert_output ''
	assert_stderr "rep-push: $R2: live on t1, but its records could not be written: Bad file descriptor"
	assert_live t1 "$R2"
}

@test "a file-size limit on stdout: exit 3 naming the live release, not killed by SIGXFSZ; the lock released" {
	push "$A1" -- t1
	head -c 1024 /dev/zero >records
	# shellcheck disable=SC2016 # expanded by the inner shell
	run --separate-stderr bash -c 'ulimit -f 1; rep-push t1 <<<"$1" >>records' - "$A2"
	assert_failure 3
	assert_output ''
	assert_stderr "rep-push: $R2: live on t1, but its records could not be written: File too large"
	assert_live t1 "$R2"
}

# --- the target directory is hostile -------------------------------------------------------

@test "releases/ a symlink: refused, nothing written where it points, exit 1" {
	mkdir -p t1 elsewhere
	ln -s ../elsewhere t1/releases
	snapshot t1 elsewhere
	printf '%s\n' "$A1" >list
	run --separate-stderr rep-push t1 <list
	assert_failure 1
	assert_output "$(failed_records "$R1" t1 '1 of 1 targets could not be opened; nothing done' app-a app-b)"
	assert_stderr "$(lines "rep-push: t1: releases: a symbolic link (refused: rep-push writes only inside the target)" \
		"rep-push: $R1: 1 of 1 targets could not be opened; nothing done")"
	assert_unchanged
	run --separate-stderr rep-push --rollback t1 </dev/null
	assert_failure 1
	assert_unchanged
}

@test ".rep-push.lock a symlink: refused, never followed or removed" {
	push "$A1" -- t1
	echo precious >precious
	ln -s ../precious t1/.rep-push.lock
	snapshot t1
	printf '%s\n' "$A2" >list
	run --separate-stderr rep-push t1 <list
	assert_failure 1
	assert_output "$(failed_records "$R2" t1 '1 of 1 targets could not be opened; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: t1: .rep-push.lock: not a regular file (refused, not followed)" \
		"rep-push: $R2: 1 of 1 targets could not be opened; nothing done")"
	assert_unchanged
	assert_equal "$(cat precious)" precious
}

@test "a FIFO where the lock or a MANIFEST should be: refused or passed over, never waited on" {
	push "$A1" -- t1
	mkfifo t1/.rep-push.lock
	printf '%s\n' "$A2" >list
	run --separate-stderr timeout 20 rep-push t1 <list
	assert_failure 1
	assert_output "$(failed_records "$R2" t1 '1 of 1 targets could not be opened; nothing done' app-a app-b app-c)"
	assert_stderr "$(lines "rep-push: t1: .rep-push.lock: not a regular file (refused, not followed)" \
		"rep-push: $R2: 1 of 1 targets could not be opened; nothing done")"
	run --separate-stderr timeout 20 rep-push -n t1 <list
	assert_failure 1
	assert_stderr "$(lines "rep-push: t1: locked by an unreadable lock" \
		"rep-push: $R2: dry run: 1 of 1 targets locked by another push; nothing done")"
	rm t1/.rep-push.lock
	mkdir "t1/releases/rep_applications_20200101_000000"
	mkfifo "t1/releases/rep_applications_20200101_000000/MANIFEST"
	run --separate-stderr timeout 20 rep-push t1 <list
	assert_success
	assert_stderr "$(live_on "$R2" 1 "$UP12")"
	assert_live t1 "$R2"
}

@test "control bytes in a lock are shown escaped; current leading to a name that is not a release's is no release" {
	mkdir -p t1
	printf '%s\t%s\t\033[31mevil@x\t2026-01-01T00:00:00Z\n' "not-$(uname -n)" 1 >t1/.rep-push.lock
	printf '%s\n' "$A1" >list
	run --separate-stderr rep-push t1 <list
	assert_failure 1
	assert_stderr "$(lines "rep-push: t1: locked by pid 1 on not-$HOST (\\x1b[31mevil@x since 2026-01-01T00:00:00Z)" \
		"rep-push: $R1: 1 of 1 targets locked by another push; nothing done")"
	rm t1/.rep-push.lock
	mkdir -p t1/releases/$'EVIL\e[31m\nline2'
	ln -s releases/$'EVIL\e[31m\nline2' t1/current
	run --separate-stderr rep-push -n t1 <list
	assert_success
	assert_stderr "$(lines "rep-push: t1: $R1: $NEW1" \
		"rep-push: t1: would stage $R1" "rep-push: t1: would point current to $R1" \
		"rep-push: $R1: dry run: live on 1 target")"
}

@test "a leftover in the way of the lock's private name is cleared" {
	push "$A1" -- t1
	printf '%s\n' "$A2" >list
	# the private name of the next process: bash's pid for exec
	run --separate-stderr bash -c 'mkdir -p "t1/.rep-push.lock.$$/x" && exec rep-push t1 <list'
	assert_success
	assert_stderr "$(live_on "$R2" 1 "$UP12")"
	assert_live t1 "$R2"
	assert_clean t1
}

@test "as a login that is not root: a release that cannot be removed whole leaves the release names and does not stop pruning" {
	nobody_dir
	local t=$NOBODY_DIR/t1 r
	mkdir "$t" && chown nobody "$t"
	for r in "$A1" "$A2" "$A3"; do
		cp "$r" "$NOBODY_DIR/"
	done
	# shellcheck disable=SC2016 # expanded by the inner shell
	runuser -u nobody -- sh -c 'printf "%s\n" "$1" "$2" | "$3"/rep-push -q "$4"' - \
		"$NOBODY_DIR/$R1.tar.gz" "$NOBODY_DIR/$R2.tar.gz" "$NOBODY_DIR/bin" "$t" >/dev/null
	# R1 holds a directory the login cannot empty, and so does what it
	# links to in store/ (R2 links to store/R2 alone)
	mkdir "$t/releases/$R1/root-owned" "$t/releases/$R1/rep_applications/app-a/root-owned"
	touch "$t/releases/$R1/root-owned/f" "$t/store/$R1/rep_applications/app-a/root-owned/f"
	# shellcheck disable=SC2016 # expanded by the inner shell
	run --separate-stderr runuser -u nobody -- sh -c 'printf "%s\n" "$1" | "$2"/rep-push -k 1 "$3"' - \
		"$NOBODY_DIR/$R3.tar.gz" "$NOBODY_DIR/bin" "$t"
	assert_success
	assert_stderr --regexp "^rep-push: $NOBODY_DIR/t1: releases/$R1: cannot remove all of it \\(left as releases/\\.rep-push-[0-9]+-$R1\\): Permission denied"$'\n'"rep-push: $NOBODY_DIR/t1: store/$R1: cannot remove all of it \\(left as store/\\.rep-push-[0-9]+-$R1\\): Permission denied"$'\n'"rep-push: $R3: live on 1 target: 0 enter, 1 changes \\(app-a\\), 2 stay, 0 leave\$"
	assert_equal "$(cd "$t/releases" && ls)" "$(lines "$R2" "$R3")"
	assert_equal "$(cd "$t/store" && ls)" "$(lines "$R2" "$R3")"
	# a rollback goes to R2, never to the half-removed R1
	run --separate-stderr runuser -u nobody -- "$NOBODY_DIR/bin/rep-push" --rollback "$t"
	assert_success
	run --separate-stderr runuser -u nobody -- "$NOBODY_DIR/bin/rep-push" --rollback "$t"
	assert_failure 1
	# what is left is named at every lock, and stays out of the way
	assert_stderr --regexp "^rep-push: $t: store/\\.rep-push-[0-9]+-$R1: cannot remove what a failed push left: Permission denied"$'\n'"rep-push: $t: releases/\\.rep-push-[0-9]+-$R1: cannot remove what a failed push left: Permission denied"$'\n'"rep-push: $t: no release before $R2"$'\n'"rep-push: rollback: not possible on 1 of 1 targets; nothing switched\$"
}

# deep_dir DIR DEPTH: DIR/d/d/.../d, DEPTH levels, deeper than PATH_MAX
# allows to name from the top.
deep_dir() {
	local i
	mkdir -p "$1" && cd "$1" || return
	for ((i = 0; i < $2; i++)); do
		mkdir d && cd d || return
	done
	echo bottom >file
}

@test "a failed staging 1,100 levels deep is removed by the next push, which succeeds" {
	push "$A1" -- t1
	(untraced deep_dir t1/releases/.rep-push-99999999 1100) || fail 'could not make the deep tree'
	printf '%s\n' "$A2" >list
	run --separate-stderr rep-push t1 <list
	assert_success
	assert_output "$(push_records "$R2" t1 app-a app-b app-c)"
	assert_stderr "$(live_on "$R2" 1 "$UP12")"
	assert_live t1 "$R2"
	assert_clean t1
}

@test "as a login that is not root: a failed staging with 0555 and 0000 directories is removed; old releases pruned" {
	nobody_dir
	local t=$NOBODY_DIR/t1
	cp "$A1" "$A2" "$A3" "$NOBODY_DIR/"
	mkdir "$t" && chown nobody "$t"
	# shellcheck disable=SC2016 # expanded by the inner shell
	runuser -u nobody -- sh -c 'printf "%s\n" "$1" | "$2"/rep-push -q "$3"' - "$NOBODY_DIR/$R1.tar.gz" "$NOBODY_DIR/bin" "$t" >/dev/null
	runuser -u nobody -- mkdir -p "$t/releases/.rep-push-99999999/a/b" "$t/releases/.rep-push-99999999/c"
	chmod 0555 "$t/releases/.rep-push-99999999/a/b" "$t/releases/.rep-push-99999999/a"
	chmod 0000 "$t/releases/.rep-push-99999999/c"
	# shellcheck disable=SC2016 # expanded by the inner shell
	run --separate-stderr runuser -u nobody -- sh -c 'printf "%s\n" "$1" "$2" | "$3"/rep-push -k 1 "$4"' - \
		"$NOBODY_DIR/$R2.tar.gz" "$NOBODY_DIR/$R3.tar.gz" "$NOBODY_DIR/bin" "$t"
	assert_success
	assert_stderr "$(lines "$(live_on "$R2" 1 "$UP12")" "$(live_on "$R3" 1 "$UP23")")"
	assert_equal "$(ls -A "$t/releases")" "$(lines "$R2" "$R3")"
	assert_equal "$(ls -A "$t/store")" "$(lines "$R2" "$R3")"
	assert_equal "$(readlink "$t/current")" "releases/$R3"
}

# --- usage -----------------------------------------------------------------------------------

# usage_error MESSAGE ARG...: rep-push ARG... (stdin: a file naming A1) exits
# 2, nothing on stdout, "rep-push: MESSAGE" on stderr. (From a pipe, the
# archives there get failed records: truth.bats.)
usage_error() {
	untraced _usage_error "$@"
}

_usage_error() {
	local why=$1
	shift
	printf '%s\n' "$A1" >"$BATS_TEST_TMPDIR/usage.in"
	run --separate-stderr rep-push "$@" <"$BATS_TEST_TMPDIR/usage.in"
	assert_failure 2 && assert_output '' && assert_stderr "rep-push: $why"
}

@test "bad options and no target: exit 2 with the message, nothing created" {
	local try="(try 'rep-push --help')"
	usage_error "-j 0: not a number from 1 to 64 $try" -j 0 t1
	usage_error "-j 65: not a number from 1 to 64 $try" -j 65 t1
	usage_error "-j x: not a number from 1 to 64 $try" --jobs x t1
	usage_error "-j 1x: not a number from 1 to 64 $try" --jobs=1x t1
	usage_error "-k 0: not a number from 1 to 1000000 $try" -k 0 t1
	usage_error "-k x: not a number from 1 to 1000000 $try" -k x t1
	usage_error "-k 1000001: not a number from 1 to 1000000 $try" --keep 1000001 t1
	usage_error "-k -1: not a number from 1 to 1000000 $try" -k -1 t1
	usage_error "-x: unknown option $try" -x t1
	usage_error "--bogus: unknown option $try" --bogus t1
	usage_error "--rollback: option takes no argument $try" --rollback=1 t1
	usage_error "--replace: option takes no argument $try" --replace=1 t1
	usage_error "--replace is for pushes, not --rollback $try" --replace --rollback t1
	usage_error "--replace is for pushes, not --rollback $try" --rollback t1 --replace
	usage_error "--db: unknown option $try" --db x.db t1
	usage_error "--apps: unknown option $try" --apps x t1
	usage_error "-j: option requires an argument $try" -j
	usage_error "no target $try"
	usage_error "no target $try" -n -q
	usage_error "no target $try" --rollback
	assert_absent t1 x.db x
}

# target_refused MESSAGE WHERE ARG...: rep-push ARG... (stdin: A1) exits 2
# with "rep-push: MESSAGE", once it read its input: the archive's
# applications get failed records on WHERE (- when a record could not name
# the targets), MESSAGE their reason; nothing is created.
target_refused() {
	untraced _target_refused "$@"
}

_target_refused() {
	local why=$1 where=$2 reason
	shift 2
	reason=$why
	run --separate-stderr rep-push "$@" <<<"$A1"
	assert_failure 2 && assert_stderr "rep-push: $why" &&
		assert_output "$(failed_records "$R1" "$where" "$reason" app-a app-b)"
}

@test "targets refused once the input is read: '-dir', a comma, a control character, empty, given twice; the archives' applications failed" {
	target_refused "-t: a directory beginning with '-' (write ./ before it)" ok,-t -- ok -t
	target_refused "a,b: comma in the target (the output joins targets with commas)" - ok a,b
	# shown as \xHH, as every control byte in a message
	target_refused 'a\x09b: control character in the target' - ok "a${TAB}b"
	target_refused 'a\x0ab: control character in the target' - ok $'a\nb'
	target_refused 'a\x7fb: control character in the target' - ok $'a\x7fb'
	target_refused "'': empty target" - ok ''
	target_refused 'ok: target given twice' ok,t1,ok ok t1 ok
	# nothing read, nothing to report: a rollback, a dry run
	usage_error 'ok: target given twice' --rollback ok ok
	usage_error 'ok: target given twice' -n ok ok
	assert_absent ok t1 -t a,b "a${TAB}b" $'a\nb' $'a\x7fb'
}

@test "one directory named twice in two ways is refused before anything changes" {
	push "$A1" -- t1
	snapshot t1
	run --separate-stderr rep-push t1 ./t1 <<<"$A2"
	assert_failure 2
	assert_output "$(failed_records "$R2" t1,./t1 './t1: the same directory as t1' app-a app-b app-c)"
	assert_stderr 'rep-push: ./t1: the same directory as t1'
	assert_unchanged
}

@test "-T FILE: its targets (first word, # comments and blank lines skipped) before the operands, in records, --rollback and --status; relative to -C" {
	mkdir sub
	printf '%s\n' '# the fleet' '' "t1${TAB}first host" '#t9' '  # indented' '	t2   # the second' >sub/fleet
	printf '%s\n' t4 >sub/more
	run --separate-stderr rep-push -q -C sub -T fleet -T more t3 <<<"$A1"
	assert_success
	assert_output "$(push_records "$R1" t1,t2,t4,t3 app-a app-b)"
	refute_stderr
	local t
	for t in t1 t2 t3 t4; do assert_live "sub/$t" "$R1"; done
	assert_absent sub/t9 t9 t1
	run --separate-stderr rep-push -q -C sub --targets=fleet -T more t3 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1,t2,t4,t3 app-a app-b app-c)"
	run --separate-stderr rep-push -C sub --targets=fleet --status
	assert_success
	local expected='' app
	for t in t1 t2; do
		for app in app-a app-b app-c; do
			expected+="$t$TAB$app$TAB$(rep-push --status "sub/$t" | awk -F "$TAB" -v a="$app" '$2 == a { print $3 TAB $4 }' TAB="$TAB")"$'\n'
		done
	done
	[ "${#lines[@]}" -eq 6 ]
	assert_output "${expected%$'\n'}"
	run --separate-stderr rep-push -q -C sub -T fleet -T more --rollback t3
	assert_success
	for t in t1 t2 t3 t4; do assert_live "sub/$t" "$R1"; done
}

@test "-T: a file missing, '-', with a CR, a NUL or a long line, or no target at all: usage error, exit 2, nothing done; a piped input's archives failed" {
	local try="(try 'rep-push --help')"
	printf 't1\r\n' >cr
	printf 't1\n\0t2\n' >nul
	{ echo t1; printf '%05000d\n' 0; } >long
	printf '# nobody\n\n' >none
	usage_error "-T nope: No such file or directory $try" -T nope t1
	usage_error "-T -: stdin holds the archives; name a file $try" -T - t1
	usage_error "-T cr:1: CR before LF (convert the file with dos2unix) $try" -T cr t1
	usage_error "-T nul:2: NUL byte in line $try" -T nul t1
	usage_error "-T long:2: line longer than 4096 bytes $try" --targets long t1
	usage_error "-T /dev/zero:1: NUL byte in line $try" -T /dev/zero t1
	usage_error "no target (none in the -T files) $try" -T none --status
	usage_error "no target (none in the -T files) $try" -T none --rollback
	assert_absent t1 t2
	# from a pipe, what upstream claimed is failed, with why
	# shellcheck disable=SC2016 # expanded by bash -c
	run --separate-stderr bash -c 'echo "$1" | rep-push -T nope t1' _ "$A1"
	assert_failure 2
	assert_stderr "rep-push: -T nope: No such file or directory $try"
	assert_output "$(failed_records "$R1" - "usage error: -T nope: No such file or directory" app-a app-b)"
	assert_absent t1
}

@test "-h prints the usage on stdout, -V the version" {
	run --separate-stderr rep-push -h </dev/null
	assert_success
	assert_line --index 0 'usage: rep-push [-nq] [-j N] [-k KEEP] [--replace] [--no-hooks] [--hook-timeout SECONDS]'
	assert_line --index 1 '                [--timeout SECONDS] [-T FILE]... [TARGET...] < archives'
	assert_line --index 2 '       rep-push [-nq] [-j N] [-k KEEP] [--no-hooks] [--hook-timeout SECONDS] [--timeout SECONDS]'
	assert_line --index 3 '                [-T FILE]... --rollback [TARGET...]'
	assert_line --index 4 '       rep-push [-H] [-j N] [--timeout SECONDS] [-T FILE]... --status [TARGET...]'
	assert_line --index 5 'At least one TARGET, given or read from a -T FILE.'
	local opt
	for opt in '-n, --dry-run' '-q, --quiet' '-j, --jobs N' '-k, --keep KEEP' '--replace' '--rollback' '-C DIR' \
		'--no-hooks' '--hook-timeout SECONDS' '-T, --targets FILE' \
		'-h, --help' '-V, --version'; do
		assert_line --partial "  $opt "
	done
	refute_stderr
	local usage=$output
	run --separate-stderr rep-push --help t1 </dev/null
	assert_success
	assert_output "$usage"
	refute_stderr
	assert_absent t1
	run --separate-stderr rep-push -V </dev/null
	assert_success
	assert_output "rep-push $(rep-tar -V </dev/null | cut -d' ' -f2)"
	assert_output --regexp '^rep-push [0-9]+\.[0-9]+\.[0-9]+$'
	refute_stderr
}

# --- records (issue 19): live, left, failed; failure records passed on -------------------

# FAILED_X, FAILED_Y: failure records as rep-tar writes them (section 3 of issue 19).
FAILED_X="app-x$TAB-$TAB-$TAB$EMPTY_SHA256${TAB}failed${TAB}app-x: content changed since it was registered"
FAILED_Y="app-y$TAB-$TAB-$TAB-${TAB}failed"

@test "records: name, release, targets in command-line order, checksum of the archive's MANIFEST, event; one live per add row" {
	run --separate-stderr rep-push t2 t1 <<<"$A1"
	assert_success
	local a b
	a=$(tar -xOzf "$A1" MANIFEST | awk -F '\t' '$1 == "app-a" { print $4 }')
	b=$(tar -xOzf "$A1" MANIFEST | awk -F '\t' '$1 == "app-b" { print $4 }')
	[[ $a =~ ^[0-9a-f]{64}$ && $b =~ ^[0-9a-f]{64}$ ]] || fail "MANIFEST checksums: $a $b"
	assert_output "$(lines "app-a$TAB$R1${TAB}t2,t1$TAB$a${TAB}live" "app-b$TAB$R1${TAB}t2,t1$TAB$b${TAB}live")"
	# every line 5 fields
	assert_equal "$(awk -F '\t' 'NF != 5' <<<"$output")" ''
}

@test "records: what a push takes out of service is left, per target where the same content was live, after the live ones" {
	push "$A1" -- t1
	push "$A2" -- t2
	# --replace with R1: app-c (live on t2 only) leaves t2; app-b changes on t2 (a live record, no left)
	run --separate-stderr rep-push --replace t1 t2 <<<"$A1"
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1,t2 app-a app-b)" "$(left_records "$R1" t2 "$C2" app-c)")"
	# the same content leaving two targets (one by a rollback from R3, the
	# other from R2): one record
	push "$A3" -- t1
	push "$A2" -- t2
	run --separate-stderr rep-push --rollback t1 t2 </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" t1,t2 app-a app-b)" "$(left_records "$R1" t1,t2 "$C2" app-c)")"
	# nothing leaves: no left record
	run --separate-stderr rep-push t1 t2 <<<"$A2"
	assert_success
	assert_output "$(push_records "$R2" t1,t2 app-a app-b app-c)"
}

@test "records: a failed push prints failed for every add row, reason the outcome; archives after it: not tried; exit 1" {
	push "$A1" -- t1 t2
	# a release of that name that differs: t2 fails (t1 stages, as always)
	mkdir "t2/releases/$R2"
	snapshot t2
	run --separate-stderr rep-push t1 t2 < <(printf '%s\n' "$A2" "$A3")
	assert_failure 1
	assert_output "$(lines \
		"$(failed_records "$R2" t1,t2 'staging failed on 1 of 2 targets; nothing switched' app-a app-b app-c)" \
		"$(failed_records "$R3" t1,t2 "not tried: $R2 failed" app-a app-b app-c)")"
	# 6 fields each, reason valid text
	assert_equal "$(awk -F '\t' 'NF != 6' <<<"$output")" ''
	assert_unchanged
	assert_live t1 "$R1"
}

@test "records: a lock held at open: failed records for every archive, the first for the lock, the rest not tried" {
	push "$A1" -- t1
	local pid
	pid=$(gone_pid)
	fake_lock t1 "not-$HOST" "$pid"
	snapshot t1
	run --separate-stderr rep-push t1 < <(printf '%s\n' "$A2" "$A3")
	assert_failure 1
	assert_output "$(lines \
		"$(failed_records "$R2" t1 '1 of 1 targets locked by another push; nothing done' app-a app-b app-c)" \
		"$(failed_records "$R3" t1 "not tried: $R2 failed" app-a app-b app-c)")"
	assert_unchanged
}

# reset_t1_r2: RBIG gone, R2 live again.
reset_t1_r2() {
	push "$A2" -- --replace t1 && rm -rf -- t1/{releases,store}/"$RBIG"
}

@test "records: SIGTERM while staging: what was printed stays printed once; every archive read and not reported is failed, interrupted" {
	big_archive
	push "$A2" -- t1
	# A2 is live already: its records come out at once; RBIG stages, A1 waits
	printf '%s\n' "$A2" "$ABIG" "$A1" >list
	start_push t1 reset_t1_r2 t1 || fail "rep-push ended before it staged: $(cat err)"
	kill -TERM "$PUSH_PID"
	finish_push
	assert_equal "$status" 143
	assert_output "$(lines "$(push_records "$R2" t1 app-a app-b app-c)" \
		"$(failed_records "$RBIG" t1 'interrupted by signal 15' app-big)" \
		"$(failed_records "$R1" t1 'interrupted by signal 15' app-a app-b)")"
	assert_equal "$(readlink t1/current)" "releases/$R2"
	assert_absent t1/.rep-push.lock
}

@test "records: rep-push dying after it read archives (a bad one later in the input): failed records of those read, reason its message" {
	bad_archive_setup
	printf 'not an archive\n' >"$R3.tar.gz"
	run --separate-stderr rep-push t1 t2 < <(printf '%s\n' "$A2" "$R3.tar.gz")
	assert_failure 2
	local why
	why=${stderr#rep-push: }
	[ -n "$why" ] && [ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "stderr: $stderr"
	assert_output "$(failed_records "$R2" t1,t2 "$why" app-a app-b app-c)"
	assert_unchanged
}

@test "records: a reason holds what a note may hold; other bytes are shown as \\xHH, as on stderr" {
	local e=$'\xc3\xa9' ff=$'\xff' tail=': not a rep-tar archive name (rep_applications_YYYYMMDD_HHMMSS[_N].tar.gz)'
	bad_archive_setup
	run --separate-stderr rep-push t1 t2 < <(printf '%s\n' "$A2" $'bad\x01'"$e$ff.tar.gz")
	assert_failure 2
	assert_stderr "rep-push: bad\\x01$e$ff.tar.gz$tail"
	assert_output "$(failed_records "$R2" t1,t2 "bad\\x01$e\\xff.tar.gz$tail" app-a app-b app-c)"
	assert_unchanged
	# which the reader takes as it is
	run --separate-stderr rep-setstatus -n --db "$BATS_FILE_TMPDIR/fix/metadata.db" --record <<<"$output"
	assert_failure 1
	assert_stderr 'rep-setstatus: dry run: recorded: 0 live, 0 left, 3 failed'
}

@test "failure records on stdin (5 or 6 fields, failed) are copied first, unchanged; the archives are pushed; exit 1" {
	run --separate-stderr rep-push t1 < <(printf '%s\n' "$FAILED_X" "$A1" "$FAILED_Y")
	assert_failure 1
	assert_output "$(lines "$FAILED_X" "$FAILED_Y" "$(push_records "$R1" t1 app-a app-b)")"
	assert_stderr "$(live_on "$R1" 1 "$NEW1")"
	assert_live t1 "$R1"
	# alone: nothing to push, exit 1 all the same
	run --separate-stderr rep-push -q t1 <<<"$FAILED_Y"
	assert_failure 1
	assert_output "$FAILED_Y"
	refute_stderr
	# a push that fails keeps its status, and prints its own failures after
	local pid
	pid=$(gone_pid)
	fake_lock t1 "not-$HOST" "$pid"
	run --separate-stderr rep-push -q t1 < <(printf '%s\n' "$A2" "$FAILED_X")
	assert_failure 1
	assert_output "$(lines "$FAILED_X" \
		"$(failed_records "$R2" t1 '1 of 1 targets locked by another push; nothing done' app-a app-b app-c)")"
}

@test "failure records on stdin that are not right: exit 2, naming the line; nothing pushed" {
	push "$A1" -- t1
	snapshot t1
	run --separate-stderr rep-push t1 < <(printf '%s\n' "bad name$TAB-$TAB-$TAB-${TAB}failed" "$A2")
	assert_failure 2
	assert_output ''
	assert_stderr "rep-push: stdin:1: bad name: invalid application name ($NAME_RULE)"
	assert_unchanged
	run --separate-stderr rep-push t1 < <(printf '%s\n' "app-x$TAB-$TAB-${TAB}ABC${TAB}failed${TAB}why" "$A2")
	assert_failure 2
	assert_output ''
	assert_stderr "rep-push: stdin:1: app-x: a failure record whose checksum is neither 64 lower-case hex digits nor '-'"
	assert_unchanged
	# other events are not failure records: the first field is an archive
	run --separate-stderr rep-push t1 <<<"app-x$TAB$R1${TAB}t1$TAB$EMPTY_SHA256${TAB}live"
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-push: app-x: not a rep-tar archive name (rep_applications_YYYYMMDD_HHMMSS[_N].tar.gz)'
	assert_unchanged
}

@test "-n prints nothing on stdout, ever: no live, left or failed record, no failure record passed on" {
	push "$A1" "$A2" -- t1
	snapshot t1
	run --separate-stderr rep-push -n --replace t1 < <(printf '%s\n' "$FAILED_X" "$A1")
	assert_failure 1
	assert_output ''
	assert_stderr --partial "rep-push: $R1: dry run: live on 1 target"
	# a target that cannot be opened, a bad archive after a good one
	: >file
	run --separate-stderr rep-push -n t1 file <<<"$A3"
	assert_failure 1
	assert_output ''
	run --separate-stderr rep-push -n t1 < <(printf '%s\n' "$A3" nope.tar.gz)
	assert_failure 2
	assert_output ''
	run --separate-stderr rep-push -n --rollback t1 </dev/null
	assert_success
	assert_output ''
	assert_unchanged
}

@test "a target with a comma is refused before anything changes: exit 2; the records name no target" {
	push "$A1" -- t1
	snapshot t1
	local opt why='a,b: comma in the target (the output joins targets with commas)'
	for opt in --quiet --rollback -n; do
		run --separate-stderr rep-push "$opt" t1 a,b < <(printf '%s\n' "$FAILED_X" "$A2")
		assert_failure 2
		if [ "$opt" = --quiet ]; then
			# what it read is reported: the failure passed on, the
			# archive's applications failed
			assert_output "$(lines "$FAILED_X" "$(failed_records "$R2" - "$why" app-a app-b app-c)")"
		else
			assert_output ''
		fi
		assert_stderr "rep-push: $why"
	done
	assert_unchanged
	assert_absent a,b a b
}
