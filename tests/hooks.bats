#!/usr/bin/env bats
# Application hooks (issue 21): rep-push runs APP/.rep/configure in the
# staged release, then, once every target switched, stop of the old
# version, start and check of the new one; a start or check that fails
# switches every target back and starts the previous versions again.
# The cases of the issue run on two local targets, "(local)", and on two
# targets over a real sshd on 127.0.0.1, "(ssh)" (tests/sshd); the others
# run locally: a local target runs its hooks through the same far side
# (lib/far.sh) as an ssh one.
#
# Every hook here is one recorder (hook_script): each run appends
# "TARGET PHASE NAME RELEASE CHECKSUM" to $EV (TARGET: t1 or t2, the
# last component of REP_DIR), then sources the flag file
# $FLAGS/TARGET.NAME.PHASE, and $FLAGS/TARGET.NAME.PHASE.RELEASE, if
# there is one (see when): what a test makes that run do. The hooks run
# with sh, dash on Debian, as the far side does.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

setup_file() {
	sshd_start
}

teardown_file() {
	sshd_stop
}

setup() {
	rep_setup
	# The hooks of every target are asserted here in one order: one
	# target after another, -j 1 (its default is 5). rep-push, first on
	# PATH, is the tool with -j 1 before the arguments (a -j among them
	# wins); REAL_PUSH is the tool itself, for the tests of the default.
	REAL_PUSH=$REP_BIN_DIR/rep-push
	mkdir -p "$BATS_TEST_TMPDIR/one-by-one"
	printf '#!/bin/sh\nexec "%s" -j 1 "$@"\n' "$REAL_PUSH" >"$BATS_TEST_TMPDIR/one-by-one/rep-push"
	chmod 755 "$BATS_TEST_TMPDIR/one-by-one/rep-push"
	PATH=$BATS_TEST_TMPDIR/one-by-one:$PATH
	EV=$BATS_TEST_TMPDIR/events
	FLAGS=$BATS_TEST_TMPDIR/flags
	mkdir -p "$FLAGS" dist
	: >"$EV"
	NREL=0
	HOOK_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}

teardown() {
	local f pid
	if [ -n "${PUSH_PID:-}" ]; then
		kill -KILL "$PUSH_PID" 2>/dev/null || true
	fi
	# what hooks of this test left running (daemons; children a failed
	# test did not see killed): each by its pid, if it is still a sleep
	# or a sh
	for f in "$BATS_TEST_TMPDIR"/pids.*; do
		[ -f "$f" ] || continue
		while read -r pid; do
			case $(ps -o comm= -p "$pid" 2>/dev/null) in
			sleep | sh | dash) kill -KILL "$pid" 2>/dev/null || true ;;
			esac
		done <"$f"
	done
}

# --- helpers -------------------------------------------------------------------------

# hook_script: the recorder, the hook of every application here.
hook_script() {
	cat <<EOF
#!/bin/sh
t=\${REP_DIR##*/}
echo "\$t \$REP_PHASE \$REP_APP \$REP_RELEASE \$REP_CHECKSUM" >>'$EV'
for f in '$FLAGS'/"\$t.\$REP_APP.\$REP_PHASE" '$FLAGS'/"\$t.\$REP_APP.\$REP_PHASE.\$REP_RELEASE"; do
	if [ -f "\$f" ]; then . "\$f"; fi
done
exit 0
EOF
}

# mkhooked NAME [PHASE...]: application NAME, a README and the recorder as
# .rep/PHASE for each PHASE (default: all four), executable.
mkhooked() {
	local name=$1 phase
	shift
	[ $# -gt 0 ] || set -- configure start check stop
	mkapp "$name"
	mkdir -p "rep_applications/$name/.rep"
	for phase; do
		hook_script >"rep_applications/$name/.rep/$phase"
		chmod 755 "rep_applications/$name/.rep/$phase"
	done
}

# bump NAME: new content for NAME (its README), not yet registered.
bump() {
	echo "v$NREL" >>"rep_applications/$1/README"
}

# release VAR NAME...: NAME... registered and packaged as the test's next
# release, dist/rep_applications_20260101_NNNNNN.tar.gz; VAR: its name.
release() {
	local var=$1 path
	shift
	NREL=$((NREL + 1))
	register "$@" || return
	path=$(rep-tar -q -d out "$@" </dev/null) || return
	printf -v "$var" 'rep_applications_20260101_%06d' "$NREL"
	mv -- "$path" "dist/${!var}.tar.gz"
}

# sum NAME: the registered checksum of NAME.
sum() {
	rep-ls -o checksum "$1" </dev/null
}

# when TARGET NAME PHASE[.RELEASE] [CODE]: that hook run on TARGET (t1, t2)
# runs CODE (default: stdin), sourced by the recorder: $t is the target,
# $1 $2 $3 the hook's arguments. unwhen undoes it.
when() {
	if [ $# -ge 4 ]; then printf '%s\n' "$4"; else cat; fi >"$FLAGS/$1.$2.$3"
}

unwhen() {
	rm -f "$FLAGS/$1.$2.$3"
}

# push RELEASE OPTION/TARGET...: push it quietly, failing the test if that fails.
push() {
	local rel=$1
	shift
	printf 'dist/%s.tar.gz\n' "$rel" | rep-push -q "$@" >/dev/null
}

# rp RELEASE OPTION/TARGET...: run rep-push OPTION/TARGET... with the
# archive of RELEASE on stdin.
rp() {
	local rel=$1
	shift
	run --separate-stderr rep-push "$@" <<<"dist/$rel.tar.gz"
}

# live_on RELEASE N PLAN: the summary of a push live on N targets, where
# it did PLAN.
live_on() {
	local s=s
	[ "$2" != 1 ] || s=
	printf 'rep-push: %s: live on %s target%s: %s' "$1" "$2" "$s" "$3"
}

# assert_events LINE...: the hooks that ran since the last call, in
# order, are these; then forgets them.
assert_events() {
	local got
	got=$(cat "$EV")
	if [ "$got" != "$(lines "$@")" ]; then
		diff <(lines "$@"; echo) <(printf '%s\n' "$got") |
			batslib_decorate 'the hooks that ran differ (- expected, + ran)' | fail
		return
	fi
	: >"$EV"
}

# assert_log_tail DIR LINE...: the last lines of DIR/log are these,
# "EVENT RELEASE PREVIOUS" each.
assert_log_tail() {
	local dir=$1
	shift
	assert_equal "$(tail -n $# "$dir/log" | cut -f2-4 | tr '\t' ' ')" "$(lines "$@")"
}

# assert_no_pending DIR...: no hooks-pending mark in these targets.
assert_no_pending() {
	local d
	for d; do
		assert_absent "$d/hooks.pending"
	done
}

# release_ok DIR RELEASE: releases/RELEASE, if there, holds what its
# MANIFEST lists.
release_ok() {
	[ ! -e "$1/releases/$2" ] || untraced _assert_live_apps "$1/releases/$2"
}

# hl PHASE NAME RELEASE RESULT: a header line of hooks.log, time as TIME.
hl() {
	printf 'TIME\t%s\t%s\t%s\t%s' "$@"
}

# hooks_log DIR: DIR/hooks.log, times as TIME.
hooks_log() {
	norm_ts <"$1/hooks.log"
}

# alive PID: a process (not a zombie) has that pid.
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [[ $st != Z* ]]
}

# assert_all_gone FILE: none of the pids in FILE is alive (within a
# second: a process signalled may take a moment to be gone).
assert_all_gone() {
	local pid i left
	for ((i = 0; i < 20; i++)); do
		left=''
		while read -r pid; do
			if alive "$pid"; then left+=" $pid"; fi
		done <"$1"
		[ -n "$left" ] || return 0
		sleep 0.05
	done
	fail "still running:$left ($(ps -o pid=,stat=,args= -p "${left# }" 2>&1))"
}

# wait_file FILE SECONDS [PID]: until FILE is there (0), or SECONDS have
# passed or PID ended (1).
wait_file() {
	local end=$((SECONDS + $2))
	while [ ! -s "$1" ]; do
		[ "$SECONDS" -lt "$end" ] || return 1
		if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
			[ -s "$1" ]
			return
		fi
		sleep 0.05
	done
}

# wait_gone PID SECONDS: until PID is not alive, or SECONDS have passed.
wait_gone() {
	local end=$((SECONDS + $2))
	while alive "$1"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# wait_unlocked DIR: until DIR's lock is gone or held by no live process
# (the far side of a killed ssh push may hold it a moment).
wait_unlocked() {
	local f=$1/.rep-push.lock pid end=$((SECONDS + 15))
	while [ -f "$f" ] && [ "$SECONDS" -lt "$end" ]; do
		pid=$(cut -f2 "$f" 2>/dev/null) || break
		if [ -z "$pid" ] || ! alive "$pid"; then
			break
		fi
		sleep 0.1
	done
	wait_runners "$1"
}

# wait_runners DIR: until no hook runner a killed local push left holds
# DIR (each names a directory .rep-push-PID); it outlives its hook a
# moment, to log what the hook said.
wait_runners() {
	local d pid end=$((SECONDS + 15))
	for d in "$1"/.rep-push-*; do
		pid=${d##*/.rep-push-}
		[[ $pid =~ ^[0-9]+$ ]] || continue
		while alive "$pid"; do
			[ "$SECONDS" -lt "$end" ] || return 1
			sleep 0.05
		done
	done
}

# assert_stderr_has LINE...: each LINE is a whole line of $stderr.
assert_stderr_has() {
	local l
	for l; do
		if ! grep -qxF -- "$l" <<<"$stderr"; then
			batslib_print_kv_single_or_multi 8 line "$l" stderr "$stderr" |
				batslib_decorate 'stderr lacks a line' | fail
			return
		fi
	done
}

# assert_stderr_line_re RE: a whole line of $stderr matches the extended
# regular expression RE.
assert_stderr_line_re() {
	if ! grep -qxE -- "$1" <<<"$stderr"; then
		batslib_print_kv_single_or_multi 8 regexp "$1" stderr "$stderr" |
			batslib_decorate 'no line of stderr matches' | fail
	fi
}

# no_stale: $stderr without the lines that break a stale lock.
no_stale() {
	printf '%s\n' "$stderr" | grep -v ': breaking a stale lock: ' || true
}

# phys PATH: its physical path.
phys() {
	(cd "$1" && pwd -P)
}

# two_apps: app-a and app-b, each with the four hooks, as R1, live on T1
# and T2; A1 and B their checksums, the events of that push forgotten.
# Pushes that only set a case up go to t1 and t2 as local directories,
# ssh or not: the same directories, a second less.
two_apps() {
	mkhooked app-a
	mkhooked app-b
	release R1 app-a app-b
	A1=$(sum app-a) B=$(sum app-b)
	push "$R1" t1 t2
	: >"$EV"
}

# next_a: app-a changed, as R2 (app-a alone); A2 its checksum.
next_a() {
	bump app-a
	release R2 app-a
	A2=$(sum app-a)
}

# --- a push: configure, switch, stop, start, check --------------------------------------

order_scenario() {
	targets "$1"
	mkhooked app-a
	mkhooked app-b
	release R1 app-a app-b
	local a1 b a2
	a1=$(sum app-a) b=$(sum app-b)
	rp "$R1" "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a app-b)"
	assert_stderr "$(live_on "$R1" 2 '2 enter (app-a, app-b), 0 change, 0 stay, 0 leave')"
	# configure of each application, in name order, target by target
	# (-j 1); then, on each target, start of each, then check of each
	local -a conf=("configure app-a $R1 $a1" "configure app-b $R1 $b")
	local -a up=("start app-a $R1 $a1" "start app-b $R1 $b" "check app-a $R1 $a1" "check app-b $R1 $b")
	assert_events "${conf[@]/#/t1 }" "${conf[@]/#/t2 }" "${up[@]/#/t1 }" "${up[@]/#/t2 }"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_no_pending t1 t2
	if [ ! -d t1/shared/app-a ] || [ ! -d "t1/work/app-a/$a1" ] || [ ! -d "t2/work/app-b/$b" ]; then
		fail 'REP_SHARED or REP_WORK not made'
	fi
	# app-a changes: its old version stops, the new one starts; app-b,
	# unchanged, runs no hook
	next_a
	a2=$A2
	rp "$R2" "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R2" "$T1,$T2" app-a)"
	assert_stderr "$(live_on "$R2" 2 '0 enter, 1 changes (app-a), 1 stays, 0 leave')"
	conf=("configure app-a $R2 $a2")
	up=("stop app-a $R1 $a1" "start app-a $R2 $a2" "check app-a $R2 $a2")
	assert_events "${conf[@]/#/t1 }" "${conf[@]/#/t2 }" "${up[@]/#/t1 }" "${up[@]/#/t2 }"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	assert_no_pending t1 t2
	assert_log_tail t1 "push $R1 -" "push $R2 $R1"
	assert_log_tail t2 "push $R1 -" "push $R2 $R1"
}

# per_target TARGET...: the events of $EV of each TARGET, in order, each
# sequence on one line (";" between events)
per_target() {
	local t
	for t; do
		grep "^$t " "$EV" | paste -sd ';'
	done
}

@test "at the default -j (5), the targets' hooks run side by side: each target's in order, every configure before any stop, start or check, every start before any check" {
	targets local
	local t
	for t in t3 t4 t5; do
		mkdir -p "$t"
	done
	mkhooked app-a
	mkhooked app-b
	release R1 app-a app-b
	local a1 b
	a1=$(sum app-a) b=$(sum app-b)
	run --separate-stderr "$REAL_PUSH" t1 t2 t3 t4 t5 <<<"dist/$R1.tar.gz"
	assert_success
	assert_output "$(push_records "$R1" t1,t2,t3,t4,t5 app-a app-b)"
	assert_stderr "$(live_on "$R1" 5 '2 enter (app-a, app-b), 0 change, 0 stay, 0 leave')"
	for t in t1 t2 t3 t4 t5; do
		assert_equal "$(per_target "$t")" "$t configure app-a $R1 $a1;$t configure app-b $R1 $b;$t start app-a $R1 $a1;$t start app-b $R1 $b;$t check app-a $R1 $a1;$t check app-b $R1 $b"
		assert_live "$t" "$R1"
	done
	# the phases: the last configure before the first start, the last
	# start before the first check (on whatever target)
	local phases
	phases=$(cut -d' ' -f2 "$EV" | uniq | paste -sd ' ')
	assert_equal "$phases" 'configure start check'
}

@test "a push: configure of what it brings, target by target; then stop of the old version, start and check of the new; an unchanged application runs no hook (local)" {
	order_scenario local
}

@test "a push: configure of what it brings, target by target; then stop of the old version, start and check of the new; an unchanged application runs no hook (ssh)" {
	order_scenario ssh
}

partial_scenario() {
	targets "$1"
	mkhooked app-a
	release R1 app-a
	local a1
	a1=$(sum app-a)
	push "$R1" t1
	: >"$EV"
	# live on T1 already: nothing changes there, no hook runs; on T2 it
	# enters
	rp "$R1" "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a)"
	assert_stderr "$(lines "rep-push: $R1: the targets' live sets differ; each keeps its own" \
		"rep-push: $T1: $R1: 0 enter, 0 change, 1 stays, 0 leave" \
		"rep-push: $T2: $R1: 1 enters (app-a), 0 change, 0 stay, 0 leave" "rep-push: $R1: live on 2 targets")"
	assert_events "t2 configure app-a $R1 $a1" "t2 start app-a $R1 $a1" "t2 check app-a $R1 $a1"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
}

@test "a push runs the hooks of what changes on each target: none where the release is live already" {
	partial_scenario local
}

# --- the hook's world --------------------------------------------------------------------

# DUMP: a flag's code that writes what the hook sees to env.TARGET.PHASE.
dump_code() {
	cat <<EOF
fd0=\$(readlink /proc/\$\$/fd/0) fd1=\$(readlink /proc/\$\$/fd/1) fd2=\$(readlink /proc/\$\$/fd/2)
{
	echo "args=\$#|\$1|\$2|\$3"
	echo "cwd=\$(pwd -P)"
	echo "stdin=\$fd0"
	case \$fd1 in pipe:* | socket:*) echo 'stdout: a pipe' ;; /*) echo 'stdout: a file' ;; *) echo "stdout: \$fd1" ;; esac
	if [ "\$fd1" = "\$fd2" ]; then echo 'stderr: the same file'; else echo "stderr: \$fd2"; fi
	if [ -d "\$REP_SHARED" ]; then echo 'REP_SHARED: a directory'; fi
	if [ -d "\$REP_WORK" ]; then echo 'REP_WORK: a directory'; fi
	env | grep -v '^PWD=' | LC_ALL=C sort
} >'$BATS_TEST_TMPDIR'/env."\$t.\$REP_PHASE"
EOF
}

# dumps TARGET...: each hook of app-a dumps its world on those targets.
dumps() {
	local t p code
	code=$(dump_code)
	for t; do
		for p in configure start check stop; do
			when "$t" app-a "$p" "$code"
		done
	done
}

# hook_env DIR PHASE NAME RELEASE PREVIOUS CHECKSUM: what that run's dump
# holds, but for the variables of the user (HOME LOGNAME USER LANG TZ).
hook_env() {
	local dir cwd
	dir=$(phys "$1")
	cwd=$(phys "$1/releases/$4/rep_applications/$3")
	lines "args=3|$3|$4|$5" "cwd=$cwd" 'stdin=/dev/null' 'stdout: a file' 'stderr: the same file' \
		'REP_SHARED: a directory' 'REP_WORK: a directory' "PATH=$HOOK_PATH" \
		"REP_APP=$3" "REP_CHECKSUM=$6" "REP_DIR=$dir" "REP_PHASE=$2" "REP_PREVIOUS=$5" \
		"REP_RELEASE=$4" "REP_SHARED=$dir/shared/$3" "REP_WORK=$dir/work/$3/$6"
}

# dumped TARGET PHASE: that dump, but for the variables of the user.
dumped() {
	grep -Ev '^(HOME|LOGNAME|USER|LANG|TZ)=' "$BATS_TEST_TMPDIR/env.$1.$2"
}

# user_of TARGET PHASE: the variables of the user in that dump.
user_of() {
	grep -E '^(HOME|LOGNAME|USER|LANG|TZ)=' "$BATS_TEST_TMPDIR/env.$1.$2"
}

env_scenario() {
	targets "$1"
	local user home
	if [ "$1" = ssh ]; then
		# the login's own, as sshd sets them; no LANG or TZ (ssh -F none
		# sends none, the sshd accepts none)
		home=$(getent passwd "$SSH_USER" | cut -d: -f6)
		user=$(lines "HOME=$home" "LOGNAME=$SSH_USER" "USER=$SSH_USER")
	else
		user=$(lines "HOME=$HOME" 'LANG=C' 'LOGNAME=tester' 'TZ=UTC' 'USER=tester')
	fi
	mkhooked app-a
	dumps t1 t2
	release R1 app-a
	local a1 a2 d p
	a1=$(sum app-a)
	# FOO and LC_ALL (rep_setup's) are the caller's: not the hooks'
	run --separate-stderr env FOO=bar LANG=C TZ=UTC rep-push "$T1" "$T2" <<<"dist/$R1.tar.gz"
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a)"
	assert_stderr "$(live_on "$R1" 2 '1 enters (app-a), 0 change, 0 stay, 0 leave')"
	for d in t1 t2; do
		assert_equal "$(dumped "$d" configure)" "$(hook_env "$d" configure app-a "$R1" '' "$a1")"
		assert_equal "$(dumped "$d" start)" "$(hook_env "$d" start app-a "$R1" '' "$a1")"
		assert_equal "$(dumped "$d" check)" "$(hook_env "$d" check app-a "$R1" '' "$a1")"
		assert_absent "$BATS_TEST_TMPDIR/env.$d.stop"
		for p in configure start check; do
			assert_equal "$(user_of "$d" "$p")" "$user"
		done
	done
	rm -f "$BATS_TEST_TMPDIR"/env.*
	# a new version: stop runs the old one's copy (REP_RELEASE: the old
	# release, its checksum, its directory); REP_PREVIOUS the release
	# live before the switch, for all four
	next_a
	a2=$A2
	run --separate-stderr env FOO=bar LANG=C TZ=UTC rep-push "$T1" "$T2" <<<"dist/$R2.tar.gz"
	assert_success
	assert_output "$(push_records "$R2" "$T1,$T2" app-a)"
	assert_stderr "$(live_on "$R2" 2 '0 enter, 1 changes (app-a), 0 stay, 0 leave')"
	for d in t1 t2; do
		assert_equal "$(dumped "$d" configure)" "$(hook_env "$d" configure app-a "$R2" "$R1" "$a2")"
		assert_equal "$(dumped "$d" stop)" "$(hook_env "$d" stop app-a "$R1" "$R1" "$a1")"
		assert_equal "$(dumped "$d" start)" "$(hook_env "$d" start app-a "$R2" "$R1" "$a2")"
		assert_equal "$(dumped "$d" check)" "$(hook_env "$d" check app-a "$R2" "$R1" "$a2")"
		for p in configure stop start check; do
			assert_equal "$(user_of "$d" "$p")" "$user"
		done
	done
	# the working directory is the release's copy, in store/
	assert_equal "$(phys "t1/releases/$R1/rep_applications/app-a")" "$(phys t1)/store/$R1/rep_applications/app-a"
}

@test "the hook's world: cwd its release's physical directory, stdin /dev/null, stdout and stderr one file, \$1 \$2 \$3, a cleared environment with PATH and the REP_ variables; FOO and LC_ALL of the caller not seen (local)" {
	env_scenario local
}

@test "the hook's world: cwd its release's physical directory, stdin /dev/null, stdout and stderr one file, \$1 \$2 \$3, a cleared environment with PATH and the REP_ variables; FOO and LC_ALL of the caller not seen (ssh)" {
	env_scenario ssh
}

@test "the hook's world is the same on a local and an ssh target of one push, but for the user's variables" {
	local t2=$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/t2 p d1 d2
	mkhooked app-a
	dumps t1 t2
	release R1 app-a
	push "$R1" t1 "$t2"
	next_a
	rp "$R2" t1 "$t2"
	assert_success
	assert_output "$(push_records "$R2" "t1,$t2" app-a)"
	assert_stderr "$(live_on "$R2" 2 '0 enter, 1 changes (app-a), 0 stay, 0 leave')"
	d1=$(phys t1) d2=$(phys t2)
	for p in configure stop start check; do
		assert_equal "$(dumped t2 "$p")" "$(dumped t1 "$p" | sed "s|$d1|$d2|g")"
	done
}

# --- 1. configure fails on one target ------------------------------------------------

configure_failure_scenario() {
	targets "$1"
	two_apps
	next_a
	when t2 app-a configure "echo \"cannot configure on \$t\"; exit 1"
	rp "$R2" "$T1" "$T2"
	assert_failure 1
	local why="app-a: configure failed (exit status 1) on $T2; nothing switched"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why" app-a)"
	assert_stderr "$(lines "$T2: app-a: configure: cannot configure on t2" \
		"rep-push: $T2: app-a: configure failed (exit status 1)" "rep-push: $R2: $why")"
	# configure ran on both; nothing switched, so nothing stopped or started
	assert_events "t1 configure app-a $R2 $A2" "t2 configure app-a $R2 $A2"
	local d
	for d in t1 t2; do
		assert_live "$d" "$R1"
		release_ok "$d" "$R2"
		assert_log_tail "$d" "push $R1 -"
		assert_no_pending "$d"
	done
	# configure is run again when the push is: this time it passes
	unwhen t2 app-a configure
	rp "$R2" "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R2" "$T1,$T2" app-a)"
	assert_stderr "$(live_on "$R2" 2 '0 enter, 1 changes (app-a), 1 stays, 0 leave')"
	local -a up=("stop app-a $R1 $A1" "start app-a $R2 $A2" "check app-a $R2 $A2")
	assert_events "t1 configure app-a $R2 $A2" "t2 configure app-a $R2 $A2" "${up[@]/#/t1 }" "${up[@]/#/t2 }"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
}

@test "1. configure failing on one target: nothing switches anywhere, failed records, exit 1; current and the releases as they were; the same push again configures again (local)" {
	configure_failure_scenario local
}

@test "1. configure failing on one target: nothing switches anywhere, failed records, exit 1; current and the releases as they were; the same push again configures again (ssh)" {
	configure_failure_scenario ssh
}

# --- 2. and 7. start fails after the switch: the fleet is reverted ------------------------

start_failure_scenario() {
	targets "$1"
	two_apps
	# app-a changes, app-c enters; app-c's start fails on T2
	next_a
	mkhooked app-c
	release R2 app-a app-c
	local c
	c=$(sum app-c)
	when t2 app-c "start.$R2" "echo \"app-c will not start on \$t\"; exit 2"
	rp "$R2" "$T1" "$T2"
	assert_failure 1
	local why="app-c: start failed (exit status 2) on $T2"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why; every target switched back" app-a app-c)"
	assert_stderr "$(lines "$T2: app-c: start: app-c will not start on t2" \
		"rep-push: $T2: app-c: start failed (exit status 2)" \
		"rep-push: $T1: switched back to $R1" "rep-push: $T2: switched back to $R1" \
		"rep-push: $R2: $why; every target switched back")"
	local -a conf=("configure app-a $R2 $A2" "configure app-c $R2 $c")
	local -a up1=("stop app-a $R1 $A1" "start app-a $R2 $A2" "start app-c $R2 $c" "check app-a $R2 $A2"
		"check app-c $R2 $c")
	local -a up2=("stop app-a $R1 $A1" "start app-a $R2 $A2" "start app-c $R2 $c")
	# the revert: the new versions stopped, the old one started and
	# checked again, on both targets
	local -a back=("stop app-a $R2 $A2" "stop app-c $R2 $c" "start app-a $R1 $A1" "check app-a $R1 $A1")
	assert_events "${conf[@]/#/t1 }" "${conf[@]/#/t2 }" "${up1[@]/#/t1 }" "${up2[@]/#/t2 }" \
		"${back[@]/#/t1 }" "${back[@]/#/t2 }"
	local d
	for d in t1 t2; do
		assert_live "$d" "$R1"
		assert_log_tail "$d" "push $R1 -" "push $R2 $R1" "revert $R1 $R2"
		assert_no_pending "$d"
	done
}

@test "2. start failing on one target after the switch: every target switched back, the new versions stopped, the previous one started and checked again everywhere; failed records, exit 1 (local)" {
	start_failure_scenario local
}

@test "2. start failing on one target after the switch: every target switched back, the new versions stopped, the previous one started and checked again everywhere; failed records, exit 1 (ssh)" {
	start_failure_scenario ssh
}

first_push_failure_scenario() {
	targets "$1"
	mkhooked app-a
	release R1 app-a
	local a1
	a1=$(sum app-a)
	when t2 app-a start 'exit 2'
	rp "$R1" "$T1" "$T2"
	assert_failure 1
	local why="app-a: start failed (exit status 2) on $T2"
	assert_output "$(failed_records "$R1" "$T1,$T2" "$why; every target switched back" app-a)"
	assert_stderr "$(lines "rep-push: $T2: app-a: start failed (exit status 2)" \
		"rep-push: $T1: switched back to no release" "rep-push: $T2: switched back to no release" \
		"rep-push: $R1: $why; every target switched back")"
	# nothing was live before: the new version stopped, nothing started
	assert_events "t1 configure app-a $R1 $a1" "t2 configure app-a $R1 $a1" "t1 start app-a $R1 $a1" \
		"t1 check app-a $R1 $a1" "t2 start app-a $R1 $a1" "t1 stop app-a $R1 $a1" "t2 stop app-a $R1 $a1"
	assert_absent t1/current t2/current t1/hooks.pending t2/hooks.pending
}

@test "2. a first push whose start fails: every target back to no release, the new version stopped" {
	first_push_failure_scenario local
}

interpreter_scenario() {
	targets "$1"
	two_apps
	# the new start's #! names no interpreter there is
	bump app-a
	printf '#!/nonexistent/interpreter\n' >rep_applications/app-a/.rep/start
	release R2 app-a
	A2=$(sum app-a)
	rp "$R2" "$T1" "$T2"
	assert_failure 1
	local why="app-a: start failed (exit status 127) on $T1"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why; every target switched back" app-a)"
	assert_stderr_line_re "$(re "$T1: app-a: start: ").*No such file or directory"
	# t2, after t1 failed, runs none: the push is lost
	assert_stderr_has "rep-push: $T1: app-a: start failed (exit status 127)" \
		"rep-push: $R2: $why; every target switched back"
	if grep -qF "rep-push: $T2: app-a:" <<<"$stderr"; then
		fail "t2 ran hooks after t1 failed: $stderr"
	fi
	assert_live t1 "$R1"
	assert_live t2 "$R1"
}

@test "6. a hook whose interpreter is missing: failed with exit status 127, what was said shown" {
	interpreter_scenario local
}

# the README's pipeline: the failed records reach the database
pipeline_scenario() {
	targets "$1"
	mkhooked app-a
	mkhooked app-b
	register app-a app-b
	setstatus ready app-a app-b
	local ship='rep-ls -s ready | rep-setstatus -q -f ready pending_deployment | rep-tar -q |
		rep-push -q --hook-timeout 1 "$@" | rep-setstatus -q --record'
	run --separate-stderr bash -o pipefail -c "$ship" ship "$T1" "$T2" </dev/null
	assert_success
	assert_stderr ''
	assert_equal "$(rep-ls -o name,status </dev/null)" "$(lines "app-a${TAB}deployed" "app-b${TAB}deployed")"
	local r1
	r1=$(readlink t1/current)
	r1=${r1#releases/}
	# a new app-a, never healthy on T2 (the old one is)
	sleep 1 # another second, another release name
	bump app-a
	register app-a
	setstatus ready app-a
	when t2 app-a check "[ \"\$REP_RELEASE\" = $r1 ] || exit 1"
	run --separate-stderr bash -o pipefail -c "$ship" ship "$T1" "$T2" </dev/null
	assert_failure 1
	assert_equal "$(norm_ts <<<"$output")" "$(rep-ls app-a </dev/null | norm_ts)"
	# failed after its tries, or killed in one at the deadline
	local how='(failed \(exit status 1( after [0-9]+ tries)?\)|timed out after 1 s \(its processes killed\))'
	assert_stderr_line_re "rep-push: $(re "$T2"): app-a: check $how"
	assert_equal "$(rep-ls -o name,status </dev/null)" "$(lines "app-a${TAB}failed" "app-b${TAB}deployed")"
	run rep-ls --history -o from,to,note app-a </dev/null
	assert_line --regexp "^pending_deployment${TAB}failed${TAB}record: not live on $(re "$T1,$T2") in rep_applications_[0-9_]+: app-a: check $how on $(re "$T2"); every target switched back\$"
	assert_live t1 "$r1"
	assert_live t2 "$r1"
}

# re STRING: STRING as an extended regular expression that matches it.
re() {
	# shellcheck disable=SC2016 # sed's $, not the shell's
	printf '%s' "$1" | sed 's/[][\.*^$(){}?+|]/\\&/g'
}

@test "2. the README's pipeline: a check failing after the switch gives failed records; rep-setstatus --record marks the application failed with the reason (local)" {
	pipeline_scenario local
}

@test "2. the README's pipeline: a check failing after the switch gives failed records; rep-setstatus --record marks the application failed with the reason (ssh)" {
	pipeline_scenario ssh
}

# a previous version that does not come back: exit 3
not_back_scenario() {
	targets "$1"
	two_apps
	next_a
	# app-a never starts on T2, whichever version
	when t2 app-a start "echo \"no start on \$t\"; exit 2"
	rp "$R2" "$T1" "$T2"
	assert_failure 3
	local why="app-a: start failed (exit status 2) on $T2"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why; switched back, but not everything came back up" app-a)"
	assert_stderr "$(lines "$T2: app-a: start: no start on t2" \
		"rep-push: $T2: app-a: start failed (exit status 2)" \
		"rep-push: $T1: switched back to $R1" "rep-push: $T2: switched back to $R1" \
		"$T2: app-a: start: no start on t2" "rep-push: $T2: app-a: start failed (exit status 2)" \
		"rep-push: $T2: the versions of $R1 did not all come back up" \
		"rep-push: $R2: $why; switched back, but not everything came back up")"
	local -a up=("stop app-a $R1 $A1" "start app-a $R2 $A2" "check app-a $R2 $A2")
	local -a back=("stop app-a $R2 $A2" "start app-a $R1 $A1" "check app-a $R1 $A1")
	assert_events "t1 configure app-a $R2 $A2" "t2 configure app-a $R2 $A2" "${up[@]/#/t1 }" \
		"t2 stop app-a $R1 $A1" "t2 start app-a $R2 $A2" "${back[@]/#/t1 }" "${back[@]/#/t2 }"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	# T1 is as it was, no mark left there
	assert_no_pending t1
}

@test "7. a previous version that does not come back up after the revert: said on stderr, exit 3 (local)" {
	not_back_scenario local
}

@test "7. a previous version that does not come back up after the revert: said on stderr, exit 3 (ssh)" {
	not_back_scenario ssh
}

@test "7. a target where no hook can be run (fault:hook): its configure is a staging failure; after the switch, the fleet is switched back and that target is told not to have come back (exit 3)" {
	mkhooked app-a
	release R1 app-a
	local a1
	a1=$(sum app-a)
	run --separate-stderr "$FAULT_PUSH" t1 fault:hook:t2 <<<"dist/$R1.tar.gz"
	assert_failure 1
	local why='app-a: configure could not be run on fault:hook:t2; nothing switched'
	assert_output "$(failed_records "$R1" t1,fault:hook:t2 "$why" app-a)"
	assert_stderr "$(lines 'rep-push: fault:hook:t2: hook: injected failure' "rep-push: $R1: $why")"
	assert_events "t1 configure app-a $R1 $a1"
	assert_absent t1/current t2/current
	# no configure: the first hook is the start, after the switch
	mkhooked app-b start
	release R2 app-b
	local b1 b2
	b1=$(sum app-b)
	push "$R2" t1 t2
	: >"$EV"
	bump app-b
	release R3 app-b
	b2=$(sum app-b)
	run --separate-stderr "$FAULT_PUSH" t1 fault:hook:t2 <<<"dist/$R3.tar.gz"
	assert_failure 3
	why='app-b: start could not be run on fault:hook:t2'
	assert_output "$(failed_records "$R3" t1,fault:hook:t2 "$why; switched back, but not everything came back up" app-b)"
	# app-b has a start only: no stop or check is tried
	assert_stderr "$(lines 'rep-push: fault:hook:t2: hook: injected failure' \
		"rep-push: t1: switched back to $R2" "rep-push: fault:hook:t2: switched back to $R2" \
		'rep-push: fault:hook:t2: hook: injected failure' \
		"rep-push: fault:hook:t2: the versions of $R2 did not all come back up" \
		"rep-push: $R3: $why; switched back, but not everything came back up")"
	assert_events "t1 start app-b $R3 $b2" "t1 start app-b $R2 $b1"
	assert_equal "$(readlink t1/current) $(readlink t2/current)" "releases/$R2 releases/$R2"
	assert_no_pending t1
}

# --- 3. check: retried until healthy, or until --hook-timeout --------------------------

check_timeout_scenario() {
	targets "$1"
	two_apps
	next_a
	when t1 app-a "check.$R2" "echo \"unhealthy on \$t\"; exit 1"
	local start=$SECONDS tries n i
	rp "$R2" --hook-timeout 2 "$T1" "$T2"
	assert_failure 1
	[ $((SECONDS - start)) -ge 2 ] || fail "check gave up before its 2 s"
	tries=$(grep -c "^t1 check app-a $R2 " "$EV")
	if [ "$tries" -lt 2 ] || [ "$tries" -gt 4 ]; then
		fail "check tried $tries times in 2 s, once a second"
	fi
	local why="app-a: check failed (exit status 1 after $tries tries) on $T1"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why; every target switched back" app-a)"
	# the output of the tries (each's, or the last's), then the messages
	n=$(grep -cxF "$T1: app-a: check: unhealthy on t1" <<<"$stderr")
	[ "$n" -eq 1 ] || [ "$n" -eq "$tries" ] || fail "the check's output shown $n times for $tries tries"
	local -a shown=()
	for ((i = 0; i < n; i++)); do
		shown+=("$T1: app-a: check: unhealthy on t1")
	done
	assert_stderr "$(lines "${shown[@]}" "rep-push: $T1: app-a: check failed (exit status 1 after $tries tries)" \
		"rep-push: $T1: switched back to $R1" "rep-push: $T2: switched back to $R1" \
		"rep-push: $R2: $why; every target switched back")"
	local -a checks=()
	for ((i = 0; i < tries; i++)); do
		checks+=("t1 check app-a $R2 $A2")
	done
	local -a back=("stop app-a $R2 $A2" "start app-a $R1 $A1" "check app-a $R1 $A1")
	# t2, not started on once t1 failed, is switched back alone
	assert_events "t1 configure app-a $R2 $A2" "t2 configure app-a $R2 $A2" \
		"t1 stop app-a $R1 $A1" "t1 start app-a $R2 $A2" "${checks[@]}" \
		"${back[@]/#/t1 }"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_no_pending t1 t2
	# in hooks.log: the check, an entry for it all or for each try
	n=$(hooks_log t1 | grep -cxF "$(hl check app-a "$R2" 'exit 1')")
	[ "$n" -eq 1 ] || [ "$n" -eq "$tries" ] || fail "$n entries in hooks.log for $tries tries"
}

@test "3. check failing until --hook-timeout 2: tried once a second, then failed 'after K tries'; every target switched back (local)" {
	check_timeout_scenario local
}

@test "3. check failing until --hook-timeout 2: tried once a second, then failed 'after K tries'; every target switched back (ssh)" {
	check_timeout_scenario ssh
}

check_retry_scenario() {
	targets "$1"
	mkhooked app-a
	release R1 app-a
	local a1 cnt=$BATS_TEST_TMPDIR/count
	a1=$(sum app-a)
	when t1 app-a check <<EOF
n=\$(cat '$cnt' 2>/dev/null || echo 0)
n=\$((n + 1))
echo \$n >'$cnt'
if [ \$n -lt 3 ]; then echo "not yet (\$n)"; exit 1; fi
echo healthy
EOF
	rp "$R1" -q --hook-timeout 20 "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a)"
	assert_stderr ''
	local -a up=("start app-a $R1 $a1" "check app-a $R1 $a1")
	assert_events "t1 configure app-a $R1 $a1" "t2 configure app-a $R1 $a1" "${up[@]/#/t1 }" \
		"t1 check app-a $R1 $a1" "t1 check app-a $R1 $a1" "${up[@]/#/t2 }"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
}

@test "3. check failing twice, then healthy: tried again once a second, the push goes live; -q shows none of it" {
	check_retry_scenario local
}

deadline_scenario() {
	targets "$1"
	two_apps
	next_a
	# each try takes half a second: the time is up in the second between
	# two tries, which the timeout ends
	when t1 app-a "check.$R2" "sleep 0.5; exit 1"
	rp "$R2" --hook-timeout 1 "$T1" "$T2"
	assert_failure 1
	local why="app-a: check failed (exit status 1) on $T1"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why; every target switched back" app-a)"
	assert_stderr "$(lines "rep-push: $T1: app-a: check failed (exit status 1)" \
		"rep-push: $T1: switched back to $R1" "rep-push: $T2: switched back to $R1" \
		"rep-push: $R2: $why; every target switched back")"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
}

@test "3. a check still failing when its time is up between two tries: failed, and no word of the shell (Terminated) on stderr (local)" {
	deadline_scenario local
}

@test "3. a check still failing when its time is up between two tries: failed, and no word of the shell (Terminated) on stderr (ssh)" {
	deadline_scenario ssh
}

@test "3. a check whose tries each fail by themselves within a second, the deadline falling in one: 'check failed (exit status 1 after K tries)', not 'timed out' (no try hung)" {
	targets local
	two_apps
	next_a
	# 0.7 s a try: tries at 0 s and 1.7 s; the 2 s deadline falls within
	# the second, which ends by itself at 2.4 s
	when t1 app-a "check.$R2" 'sleep 0.7; exit 1'
	rp "$R2" --hook-timeout 2 t1 t2
	assert_failure 1
	local tries
	tries=$(grep -c "^t1 check app-a $R2 " "$EV")
	local why="app-a: check failed (exit status 1 after $tries tries) on t1"
	assert_output "$(failed_records "$R2" t1,t2 "$why; every target switched back" app-a)"
	assert_stderr "$(lines "rep-push: t1: app-a: check failed (exit status 1 after $tries tries)" \
		"rep-push: t1: switched back to $R1" "rep-push: t2: switched back to $R1" \
		"rep-push: $R2: $why; every target switched back")"
}

# --- 4. a hook that hangs: killed at its timeout with its process group ---------------------

hang_configure_scenario() {
	targets "$1"
	two_apps
	next_a
	local pids=$BATS_TEST_TMPDIR/pids.hang
	when t1 app-a configure <<EOF
echo "hanging on \$t"
sleep 300 &
echo \$! >>'$pids'
sleep 300 &
echo \$! >>'$pids'
echo \$\$ >>'$pids'
wait
EOF
	local start=$SECONDS
	rp "$R2" --hook-timeout 1 "$T1" "$T2"
	assert_failure 1
	[ $((SECONDS - start)) -lt 5 ] || fail "took $((SECONDS - start)) s: not killed at 1 s"
	# the hook and both its children are gone
	assert_equal "$(wc -l <"$pids")" 3
	assert_all_gone "$pids"
	local why="app-a: configure timed out after 1 s (its processes killed) on $T1; nothing switched"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why" app-a)"
	assert_stderr "$(lines "$T1: app-a: configure: hanging on t1" \
		"rep-push: $T1: app-a: configure timed out after 1 s (its processes killed)" "rep-push: $R2: $why")"
	# once t1 failed, t2 configures nothing: the push is lost
	assert_events "t1 configure app-a $R2 $A2"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_equal "$(hooks_log t1 | tail -n 2)" "$(lines "$(hl configure app-a "$R2" timeout)" '| hanging on t1')"
	[ "$(readlink -f /bin/sh)" = "$(readlink -f /bin/dash)" ] ||
		echo "# note: /bin/sh is not dash here" >&3
}

@test "4. a configure that hangs (sh: dash) with children: killed at --hook-timeout 1 with its children, a staging failure (local)" {
	hang_configure_scenario local
}

@test "4. a configure that hangs (sh: dash) with children: killed at --hook-timeout 1 with its children, a staging failure (ssh)" {
	hang_configure_scenario ssh
}

hang_term_scenario() {
	targets "$1"
	two_apps
	next_a
	local pids=$BATS_TEST_TMPDIR/pids.hang
	# a start that ignores SIGTERM, as its child does: SIGKILL 5 s later
	when t1 app-a "start.$R2" <<EOF
trap '' TERM
sleep 300 &
echo \$! >>'$pids'
echo \$\$ >>'$pids'
wait
EOF
	local start=$SECONDS
	rp "$R2" --hook-timeout 1 "$T1" "$T2"
	assert_failure 1
	[ $((SECONDS - start)) -ge 6 ] || fail "took $((SECONDS - start)) s: SIGKILL came before SIGTERM's 5 s"
	assert_all_gone "$pids"
	local why="app-a: start timed out after 1 s (its processes killed) on $T1"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why; every target switched back" app-a)"
	assert_stderr "$(lines "rep-push: $T1: app-a: start timed out after 1 s (its processes killed)" \
		"rep-push: $T1: switched back to $R1" "rep-push: $T2: switched back to $R1" \
		"rep-push: $R2: $why; every target switched back")"
	local -a back=("stop app-a $R2 $A2" "start app-a $R1 $A1" "check app-a $R1 $A1")
	# once t1 failed, t2 runs no hook: it is switched back alone
	assert_events "t1 configure app-a $R2 $A2" "t2 configure app-a $R2 $A2" \
		"t1 stop app-a $R1 $A1" "t1 start app-a $R2 $A2" "${back[@]/#/t1 }"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_no_pending t1 t2
}

@test "4. a start that ignores SIGTERM, and its child: SIGKILL 5 s after the SIGTERM, both gone; every target switched back" {
	hang_term_scenario local
}

daemon_scenario() {
	targets "$1"
	mkhooked app-a start check
	release R1 app-a
	local t
	# start leaves a daemon that keeps the hook's stdout open; check
	# finds it running
	for t in t1 t2; do
		when "$t" app-a start "sleep 300 & echo \$! >'$BATS_TEST_TMPDIR/pids.daemon.$t'; echo \"daemon up on \$t\""
		when "$t" app-a check "kill -0 \$(cat '$BATS_TEST_TMPDIR/pids.daemon.$t')"
	done
	local start=$SECONDS
	run --separate-stderr timeout 30 rep-push "$T1" "$T2" <<<"dist/$R1.tar.gz"
	assert_success
	[ $((SECONDS - start)) -lt 15 ] || fail "took $((SECONDS - start)) s"
	assert_output "$(push_records "$R1" "$T1,$T2" app-a)"
	assert_stderr "$(lines "$T1: app-a: start: daemon up on t1" "$T2: app-a: start: daemon up on t2" \
		"$(live_on "$R1" 2 '1 enters (app-a), 0 change, 0 stay, 0 leave')")"
	# the daemons live on
	sleep 0.5
	alive "$(cat "$BATS_TEST_TMPDIR/pids.daemon.t1")" || fail 'the daemon on t1 is gone'
	alive "$(cat "$BATS_TEST_TMPDIR/pids.daemon.t2")" || fail 'the daemon on t2 is gone'
}

@test "4. a start that leaves a daemon holding its stdout: rep-push does not wait for it, the daemon runs on (local)" {
	daemon_scenario local
}

@test "4. a start that leaves a daemon holding its stdout: rep-push does not wait for it, the daemon runs on (ssh)" {
	daemon_scenario ssh
}

# --- 5. a configure that writes into its release -------------------------------------

write_scenario() {
	targets "$1"
	two_apps
	next_a
	when t1 app-a "configure.$R2" 'touch newfile'
	rp "$R2" "$T1" "$T2"
	assert_failure 1
	local why="releases/$R2 changed by a configure hook on $T1; nothing switched"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why" app-a)"
	# the far side's own words on what differs, then these
	assert_stderr_has "rep-push: $T1: releases/$R2 is not what its MANIFEST lists after configure (a hook wrote into it?)"
	assert_stderr_has "rep-push: $T1: removed releases/$R2"
	assert_equal "${stderr##*$'\n'}" "rep-push: $R2: $why"
	if grep -qF "rep-push: $T2: " <<<"$stderr"; then
		fail "stderr names $T2: $stderr"
	fi
	# it ran in the staged release, which is not kept there
	assert_absent "t1/releases/$R2" "t1/store/$R2"
	[ -d "t2/releases/$R2" ] || fail "t2/releases/$R2: not kept"
	assert_events "t1 configure app-a $R2 $A2"
	local d
	for d in t1 t2; do
		assert_live "$d" "$R1"
		assert_log_tail "$d" "push $R1 -"
		assert_no_pending "$d"
	done
	# the same push again stages it anew there, and goes live
	unwhen t1 app-a "configure.$R2"
	rp "$R2" "$T1" "$T2"
	assert_success
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	assert_absent "t1/store/$R2/rep_applications/app-a/newfile"
}

@test "5. a configure that writes into its release: the release no longer matches its MANIFEST, a staging failure, nothing switched (local)" {
	write_scenario local
}

@test "5. a configure that writes into its release: the release no longer matches its MANIFEST, a staging failure, nothing switched (ssh)" {
	write_scenario ssh
}

# A hook that signals its whole process group (trap 'kill 0' EXIT, a
# common idiom) reaches its own processes, never rep-push's runner or the
# ssh session holding the lock: the push reports the hook's failure and
# reverts, as for any start that fails.
kill0_scenario() {
	targets "$1"
	two_apps
	next_a
	when t1 app-a "start.$R2" 'trap "kill 0" EXIT; echo starting'
	rp "$R2" "$T1" "$T2"
	assert_failure 1
	local why="app-a: start failed (exit status 143) on $T1"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why; every target switched back" app-a)"
	assert_stderr "$(lines "$T1: app-a: start: starting" "rep-push: $T1: app-a: start failed (exit status 143)" \
		"rep-push: $T1: switched back to $R1" "rep-push: $T2: switched back to $R1" \
		"rep-push: $R2: $why; every target switched back")"
	local -a back=("stop app-a $R2 $A2" "start app-a $R1 $A1" "check app-a $R1 $A1")
	assert_events "t1 configure app-a $R2 $A2" "t2 configure app-a $R2 $A2" \
		"t1 stop app-a $R1 $A1" "t1 start app-a $R2 $A2" "${back[@]/#/t1 }"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_no_pending t1 t2
}

@test "4. a hook that kills its process group (kill 0) kills itself alone: its failure reported, every target switched back (local)" {
	kill0_scenario local
}

@test "4. a hook that kills its process group (kill 0) kills itself alone: its failure reported, every target switched back (ssh)" {
	kill0_scenario ssh
}

# What a start (or what it started) writes into its release is found by
# the check of the release after the checks: the push is reverted, as a
# rollback to that release would be refused.
start_write_scenario() {
	targets "$1"
	two_apps
	next_a
	when t2 app-a "start.$R2" 'mkdir -p __pycache__ && echo x >__pycache__/m.pyc'
	rp "$R2" "$T1" "$T2"
	assert_failure 1
	local why="releases/$R2 changed by a hook, or what it started, on $T2"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why; every target switched back" app-a)"
	assert_stderr_has "rep-push: $T2: releases/$R2 is not what its MANIFEST lists after start and check (a hook, or what it started, wrote into it?)" \
		"rep-push: $T1: switched back to $R1" "rep-push: $T2: switched back to $R1" \
		"rep-push: $R2: $why; every target switched back"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_no_pending t1 t2
}

@test "5. a start that writes into its release: found after the checks, the push reverted on every target (local)" {
	start_write_scenario local
}

@test "5. a start that writes into its release: found after the checks, the push reverted on every target (ssh)" {
	start_write_scenario ssh
}

# --- 6. output, exit codes, -q, hooks.log ----------------------------------------------

output_scenario() {
	targets "$1"
	mkhooked app-a start stop
	release R1 app-a
	# bytes 1b, 09 and 0d; no line break at the end
	when t1 app-a start <<'EOF'
printf 'hello from %s\n' "$t"
printf 'esc \033[1mbold\033[0m\ttab\r\n'
printf 'no newline at the end'
EOF
	rp "$R1" "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a)"
	assert_stderr "$(lines "$T1: app-a: start: hello from t1" \
		"$T1: app-a: start: esc \\x1b[1mbold\\x1b[0m\\x09tab\\x0d" \
		"$T1: app-a: start: no newline at the end" \
		"$(live_on "$R1" 2 '1 enters (app-a), 0 change, 0 stay, 0 leave')")"
	assert_equal "$(hooks_log t1)" "$(lines "$(hl start app-a "$R1" 0)" '| hello from t1' \
		"| esc ?[1mbold?[0m${TAB}tab?" '| no newline at the end')"
	assert_equal "$(hooks_log t2)" "$(hl start app-a "$R1" 0)"
	# -q: the output of hooks that pass is not shown (T1's start, here
	# and in the revert), a failed one's is
	bump app-a
	release R2 app-a
	when t2 app-a "start.$R2" "echo \"cannot start on \$t\"; exit 3"
	rp "$R2" -q "$T1" "$T2"
	assert_failure 1
	local why="app-a: start failed (exit status 3) on $T2"
	assert_output "$(failed_records "$R2" "$T1,$T2" "$why; every target switched back" app-a)"
	assert_stderr "$(lines "$T2: app-a: start: cannot start on t2" \
		"rep-push: $T2: app-a: start failed (exit status 3)" \
		"rep-push: $T1: switched back to $R1" "rep-push: $T2: switched back to $R1")"
	assert_equal "$(hooks_log t2)" "$(lines "$(hl start app-a "$R1" 0)" "$(hl stop app-a "$R1" 0)" \
		"$(hl start app-a "$R2" 'exit 3')" '| cannot start on t2' \
		"$(hl stop app-a "$R2" 0)" "$(hl start app-a "$R1" 0)")"
}

@test "6. hook output: each line as 'TARGET: NAME: PHASE: LINE' on stderr, control bytes as \\xHH; -q shows only failed hooks'; DIR/hooks.log keeps every run, a header and '| ' lines (local)" {
	output_scenario local
}

@test "6. hook output: each line as 'TARGET: NAME: PHASE: LINE' on stderr, control bytes as \\xHH; -q shows only failed hooks'; DIR/hooks.log keeps every run, a header and '| ' lines (ssh)" {
	output_scenario ssh
}

big_output_scenario() {
	targets "$1"
	mkhooked app-a start
	release R1 app-a
	# 12000 lines of 100 bytes: 64 KiB of it shown, 1 MiB kept
	when t1 app-a start "yes \"\$(printf '%099d' 0)\" | head -n 12000"
	# a hooks.log beyond 8 MiB is moved aside first
	mkdir -p t1
	yes '| an old line of output, from some earlier run of a hook' | head -c 9000000 >t1/hooks.log
	cp t1/hooks.log old.log
	rp "$R1" "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a)"
	local shown more kept prefix="$T1: app-a: start: "
	# the bytes shown, a line break for each line (the last one shown may
	# be cut: one more than the hook wrote)
	shown=$(grep -F "$prefix" <<<"$stderr" | cut -c$((${#prefix} + 1))- | grep '^0' | wc -c)
	more=$(grep -F "$prefix" <<<"$stderr" | cut -c$((${#prefix} + 1))- |
		sed -n 's/^(\([0-9]*\) more bytes in its hooks.log)$/\1/p')
	[ -n "$more" ] || fail "no line saying where the rest is: $(tail -n 3 <<<"$stderr")"
	if [ "$shown" -gt 65537 ] || [ "$shown" -le $((65536 - 200)) ]; then
		fail "$shown bytes shown"
	fi
	if [ $((shown + more)) -ne 1200000 ] && [ $((shown + more)) -ne 1200001 ]; then
		fail "$shown bytes shown and $more more: not the 1200000 written"
	fi
	assert_equal "${stderr##*$'\n'}" "$(live_on "$R1" 2 '1 enters (app-a), 0 change, 0 stay, 0 leave')"
	# hooks.log: the old one moved to hooks.log.1, at most 1 MiB of the run
	cmp old.log t1/hooks.log.1 || fail 'hooks.log.1 is not the old hooks.log'
	assert_equal "$(head -n 1 t1/hooks.log | norm_ts)" "$(hl start app-a "$R1" 0)"
	kept=$(grep '^| 0' t1/hooks.log | cut -c3- | wc -c)
	if [ "$kept" -gt 1048577 ] || [ "$kept" -le $((1048576 - 200)) ]; then
		fail "$kept bytes of the run kept"
	fi
	assert_absent t2/hooks.log.1
}

@test "6. a hook's output beyond 64 KiB: the rest counted in a last line; hooks.log keeps 1 MiB of a run and is moved to hooks.log.1 beyond 8 MiB (local)" {
	big_output_scenario local
}

@test "6. a hook's output beyond 64 KiB: the rest counted in a last line; hooks.log keeps 1 MiB of a run and is moved to hooks.log.1 beyond 8 MiB (ssh)" {
	big_output_scenario ssh
}

stop_failure_scenario() {
	targets "$1"
	two_apps
	next_a
	when t1 app-a "stop.$R1" "echo \"stop trouble on \$t\"; exit 4"
	rp "$R2" "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R2" "$T1,$T2" app-a)"
	assert_stderr "$(lines "$T1: app-a: stop: stop trouble on t1" "rep-push: $T1: app-a: stop failed (exit status 4)" \
		"$(live_on "$R2" 2 '0 enter, 1 changes (app-a), 1 stays, 0 leave')")"
	local -a up=("stop app-a $R1 $A1" "start app-a $R2 $A2" "check app-a $R2 $A2")
	assert_events "t1 configure app-a $R2 $A2" "t2 configure app-a $R2 $A2" "${up[@]/#/t1 }" "${up[@]/#/t2 }"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	assert_no_pending t1 t2
}

@test "6. a stop that fails is told with its exit status; the push goes on" {
	stop_failure_scenario local
}

# --- 9. rollback --------------------------------------------------------------------------

rollback_scenario() {
	targets "$1"
	two_apps
	# R2: app-a changes, app-c enters
	bump app-a
	mkhooked app-c
	release R2 app-a app-c
	local c
	A2=$(sum app-a) c=$(sum app-c)
	push "$R2" t1 t2
	: >"$EV"
	run --separate-stderr rep-push --rollback "$T1" "$T2" </dev/null
	assert_success
	assert_output "$(lines "$(push_records "$R1" "$T1,$T2" app-a app-b)" "$(left_records "$R1" "$T1,$T2" "$c" app-c)")"
	assert_stderr "rep-push: $R1: live again on 2 targets"
	# no configure; stop of what changes or leaves, from R2; start and
	# check of what comes back, from R1; app-b stays, runs nothing
	local -a back=("stop app-a $R2 $A2" "stop app-c $R2 $c" "start app-a $R1 $A1" "check app-a $R1 $A1")
	assert_events "${back[@]/#/t1 }" "${back[@]/#/t2 }"
	local d
	for d in t1 t2; do
		assert_live "$d" "$R1"
		assert_log_tail "$d" "push $R2 $R1" "rollback $R1 $R2"
		assert_no_pending "$d"
	done
	# forward again, then a rollback whose start fails on T2: every
	# target back on R2, its versions started again
	push "$R2" t1 t2
	: >"$EV"
	when t2 app-a "start.$R1" "echo \"old app-a will not start on \$t\"; exit 2"
	run --separate-stderr rep-push --rollback "$T1" "$T2" </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "$T2: app-a: start: old app-a will not start on t2" \
		"rep-push: $T2: app-a: start failed (exit status 2)" \
		"rep-push: $T1: switched back to $R2" "rep-push: $T2: switched back to $R2" \
		"rep-push: rollback: app-a: start failed (exit status 2) on $T2; every target switched back")"
	local -a again=("stop app-a $R1 $A1" "start app-a $R2 $A2" "start app-c $R2 $c" "check app-a $R2 $A2"
		"check app-c $R2 $c")
	assert_events "${back[@]/#/t1 }" "t2 stop app-a $R2 $A2" "t2 stop app-c $R2 $c" "t2 start app-a $R1 $A1" \
		"${again[@]/#/t1 }" "${again[@]/#/t2 }"
	for d in t1 t2; do
		assert_live "$d" "$R2"
		assert_log_tail "$d" "push $R2 $R1" "rollback $R1 $R2" "revert $R2 $R1"
		assert_no_pending "$d"
	done
	# that rollback undone counts for nothing: the next one goes to R1
	unwhen t2 app-a "start.$R1"
	run --separate-stderr rep-push --rollback "$T1" "$T2" </dev/null
	assert_success
	assert_stderr "rep-push: $R1: live again on 2 targets"
	assert_events "${back[@]/#/t1 }" "${back[@]/#/t2 }"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
}

@test "9. --rollback runs stop of what it takes back (from the release left), start and check of what comes back; one whose start fails goes back and restarts those (local)" {
	rollback_scenario local
}

@test "9. --rollback runs stop of what it takes back (from the release left), start and check of what comes back; one whose start fails goes back and restarts those (ssh)" {
	rollback_scenario ssh
}

retire_scenario() {
	targets "$1"
	two_apps
	# app-b retired: it leaves; its stop runs, from R1, and nothing else
	setstatus retired app-b
	local path
	path=$(rep-tar -q -d out app-b </dev/null)
	NREL=$((NREL + 1))
	printf -v R2 'rep_applications_20260101_%06d' "$NREL"
	mv -- "$path" "dist/$R2.tar.gz"
	rp "$R2" "$T1" "$T2"
	assert_success
	assert_output "$(left_records "$R2" "$T1,$T2" "$B" app-b)"
	assert_stderr "$(live_on "$R2" 2 '0 enter, 0 change, 1 stays, 1 leaves (app-b)')"
	assert_events "t1 stop app-b $R1 $B" "t2 stop app-b $R1 $B"
	assert_log_tail t1 "retire $R2 $R1"
	# the rollback brings it back: its start and check, from R1
	run --separate-stderr rep-push --rollback "$T1" "$T2" </dev/null
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a app-b)"
	assert_stderr "rep-push: $R1: live again on 2 targets"
	local -a up=("start app-b $R1 $B" "check app-b $R1 $B")
	assert_events "${up[@]/#/t1 }" "${up[@]/#/t2 }"
	assert_live t1 "$R1"
	assert_live t2 "$R1"
}

@test "9. a retirement runs the stop of what leaves, from the release it leaves; its rollback starts and checks it again" {
	retire_scenario local
}

# --- 10. rep-push killed during a hook ----------------------------------------------------

# kill_during_start OPTION/TARGET...: R2 pushed in the background and
# SIGKILLed while app-a's start runs on t1 (it waits 2 s there); then
# until that hook and the lock holders are gone.
kill_during_start() {
	local mark=$BATS_TEST_TMPDIR/started pid
	when t1 app-a "start.$R2" "echo \$\$ >'$mark.new' && mv '$mark.new' '$mark'; sleep 2"
	printf 'dist/%s.tar.gz\n' "$R2" >list
	rep-push "$@" <list >push.out 2>push.err 3>&- &
	PUSH_PID=$!
	wait_file "$mark" 30 "$PUSH_PID" || fail "the start hook did not run: $(cat push.err)"
	kill -KILL "$PUSH_PID"
	status=0
	wait "$PUSH_PID" || status=$?
	PUSH_PID=
	assert_equal "$status" 137
	assert_equal "$(cat push.out)" ''
	pid=$(cat "$mark")
	wait_gone "$pid" 10 || fail "the start hook $pid runs on"
	wait_unlocked t1
	wait_unlocked t2
	unwhen t1 app-a "start.$R2"
	rm -f "$mark"
	# both switched, both marked
	local d
	for d in t1 t2; do
		assert_equal "$(readlink "$d/current")" "releases/$R2"
		assert_equal "$(head -n 1 "$d/hooks.pending")" "$R2"
	done
	assert_events "t1 configure app-a $R2 $A2" "t2 configure app-a $R2 $A2" "t1 stop app-a $R1 $A1" \
		"t1 start app-a $R2 $A2"
}

killed_push_scenario() {
	targets "$1"
	two_apps
	next_a
	kill_during_start "$T1" "$T2"
	# a dry run neither says nor clears it
	rp "$R2" -n "$T1" "$T2"
	assert_success
	if grep -qF 'an earlier push was stopped' <<<"$stderr"; then
		fail "-n told of the mark: $stderr"
	fi
	assert_equal "$(cat t1/hooks.pending t2/hooks.pending | head -n 1)" "$R2"
	# the same push again: every application of the live set restarted
	# on both targets, from R2, the release live
	rp "$R2" "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R2" "$T1,$T2" app-a)"
	assert_equal "$(no_stale)" "$(lines \
		"rep-push: $T1: an earlier push left the hooks of $R2 unfinished: every application is restarted" \
		"rep-push: $T2: an earlier push left the hooks of $R2 unfinished: every application is restarted" \
		"$(live_on "$R2" 2 '0 enter, 0 change, 2 stay, 0 leave')")"
	local -a all=("stop app-a $R2 $A2" "stop app-b $R2 $B" "start app-a $R2 $A2" "start app-b $R2 $B"
		"check app-a $R2 $A2" "check app-b $R2 $B")
	assert_events "${all[@]/#/t1 }" "${all[@]/#/t2 }"
	local d
	for d in t1 t2; do
		assert_live "$d" "$R2"
		assert_no_pending "$d"
	done
	# and then, nothing pending: the same push restarts nothing
	rp "$R2" "$T1" "$T2"
	assert_success
	assert_stderr "$(live_on "$R2" 2 '0 enter, 0 change, 2 stay, 0 leave')"
	assert_events
}

@test "10. rep-push SIGKILLed during a start: the mark stays; the same push again says so, restarts every application on every target, exit 0, the mark gone (local)" {
	killed_push_scenario local
}

@test "10. rep-push SIGKILLed during a start: the mark stays; the same push again says so, restarts every application on every target, exit 0, the mark gone (ssh)" {
	killed_push_scenario ssh
}

@test "10. the recovering push whose start fails: nothing to switch back to, and it does not say every target switched back; the mark stays, exit not 0" {
	targets local
	two_apps
	next_a
	kill_during_start t1 t2
	when t2 app-b "start.$R2" "echo \"app-b will not start on \$t\"; exit 5"
	rp "$R2" t1 t2
	[ "$status" -ne 0 ] || fail 'exit 0 with app-b down on t2'
	assert_stderr_has "t2: app-b: start: app-b will not start on t2" "rep-push: t2: app-b: start failed (exit status 5)"
	# R2 was live before this push: no switch back happened, none is logged
	if grep -qF 'switched back' <<<"$stderr"; then
		fail "a switch back is claimed: $stderr"
	fi
	assert_log_tail t1 "push $R1 -" "push $R2 $R1"
	assert_equal "$(readlink t1/current) $(readlink t2/current)" "releases/$R2 releases/$R2"
	# app-b is not up on t2: the next push must restart it
	assert_equal "$(head -n 1 t2/hooks.pending)" "$R2"
}

killed_rollback_scenario() {
	targets "$1"
	two_apps
	next_a
	kill_during_start "$T1" "$T2"
	run --separate-stderr rep-push --rollback "$T1" "$T2" </dev/null
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a app-b)"
	assert_equal "$(no_stale)" "$(lines \
		"rep-push: $T1: an earlier push left the hooks of $R2 unfinished: every application is restarted" \
		"rep-push: $T2: an earlier push left the hooks of $R2 unfinished: every application is restarted" \
		"rep-push: $R1: live again on 2 targets")"
	local -a all=("stop app-a $R2 $A2" "stop app-b $R2 $B" "start app-a $R1 $A1" "start app-b $R1 $B"
		"check app-a $R1 $A1" "check app-b $R1 $B")
	assert_events "${all[@]/#/t1 }" "${all[@]/#/t2 }"
	local d
	for d in t1 t2; do
		assert_live "$d" "$R1"
		assert_log_tail "$d" "push $R2 $R1" "rollback $R1 $R2"
		assert_no_pending "$d"
	done
}

@test "10. rep-push SIGKILLed during a start: while that hook still runs, a local target stays locked by it; once it ends, the push recovers" {
	targets local
	two_apps
	next_a
	local mark=$BATS_TEST_TMPDIR/started pid
	when t1 app-a "start.$R2" "echo \$\$ >'$mark.new' && mv '$mark.new' '$mark'; sleep 4"
	printf 'dist/%s.tar.gz\n' "$R2" >list
	rep-push t1 t2 <list >push.out 2>push.err 3>&- &
	PUSH_PID=$!
	wait_file "$mark" 30 "$PUSH_PID" || fail "the start hook did not run: $(cat push.err)"
	kill -KILL "$PUSH_PID"
	wait "$PUSH_PID" || true
	PUSH_PID=
	pid=$(cat "$mark")
	rp "$R2" t1 t2
	assert_failure 1
	assert_output "$(failed_records "$R2" t1,t2 '1 of 2 targets locked by another push; nothing done' app-a)"
	assert_stderr_line_re "^rep-push: t1: locked by a hook of an earlier push, still running \(process [0-9]+\); try again once it ends \(within its --hook-timeout\)\$"
	wait_gone "$pid" 10 || fail "the start hook $pid runs on"
	wait_unlocked t1
	unwhen t1 app-a "start.$R2"
	rp "$R2" t1 t2
	assert_success
	assert_stderr_has "rep-push: t1: an earlier push left the hooks of $R2 unfinished: every application is restarted"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	assert_no_pending t1 t2
}

@test "10. rep-push SIGKILLed during a start, then --rollback: says so, goes back, restarts every application on every target, the mark gone (local)" {
	killed_rollback_scenario local
}

@test "10. rep-push SIGKILLed during a start, then --rollback: says so, goes back, restarts every application on every target, the mark gone (ssh)" {
	killed_rollback_scenario ssh
}

signal_scenario() {
	targets "$1"
	two_apps
	next_a
	local mark=$BATS_TEST_TMPDIR/started
	when t1 app-a "start.$R2" "echo \$\$ >'$mark.new' && mv '$mark.new' '$mark'; sleep 1"
	printf 'dist/%s.tar.gz\n' "$R2" >list
	env --default-signal=INT rep-push "$T1" "$T2" <list >push.out 2>push.err 3>&- &
	PUSH_PID=$!
	wait_file "$mark" 30 "$PUSH_PID" || fail "the start hook did not run: $(cat push.err)"
	kill -TERM "$PUSH_PID"
	status=0
	wait "$PUSH_PID" || status=$?
	PUSH_PID=
	# the hooks went on to their end on every target, the records are
	# out, then the signal ended rep-push
	assert_equal "$status" 143
	assert_equal "$(cat push.out)" "$(push_records "$R2" "$T1,$T2" app-a)"
	assert_equal "$(cat push.err)" ''
	local -a up=("stop app-a $R1 $A1" "start app-a $R2 $A2" "check app-a $R2 $A2")
	assert_events "t1 configure app-a $R2 $A2" "t2 configure app-a $R2 $A2" "${up[@]/#/t1 }" "${up[@]/#/t2 }"
	assert_live t1 "$R2"
	assert_live t2 "$R2"
	# the hooks are done: no mark says otherwise, no lock is left
	assert_no_pending t1 t2
	assert_absent t1/.rep-push.lock t2/.rep-push.lock
}

@test "10. SIGTERM while a start runs: waits for the hooks on every target and the records, then exit 143; the hooks done, no mark left (local)" {
	signal_scenario local
}

@test "10. SIGTERM while a start runs: waits for the hooks on every target and the records, then exit 143; the hooks done, no mark left (ssh)" {
	signal_scenario ssh
}

# --- --no-hooks, -n, what is a hook --------------------------------------------------------

no_hooks_scenario() {
	targets "$1"
	mkhooked app-a
	release R1 app-a
	local p t
	for t in t1 t2; do
		for p in configure start check stop; do
			when "$t" app-a "$p" 'exit 1'
		done
	done
	rp "$R1" --no-hooks "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a)"
	assert_stderr "$(live_on "$R1" 2 '1 enters (app-a), 0 change, 0 stay, 0 leave')"
	next_a
	rp "$R2" --no-hooks "$T1" "$T2"
	assert_success
	run --separate-stderr rep-push --no-hooks --rollback "$T1" "$T2" </dev/null
	assert_success
	assert_stderr "rep-push: $R1: live again on 2 targets"
	assert_events
	assert_live t1 "$R1"
	assert_live t2 "$R1"
	assert_absent t1/shared t1/work t1/hooks.log t1/hooks.pending t2/hooks.log t2/hooks.pending
}

@test "--no-hooks: a push and a rollback run no hook, even hooks that would fail" {
	no_hooks_scenario local
}

dry_run_scenario() {
	targets "$1"
	mkhooked app-a
	mkhooked app-b start
	release R1 app-a app-b
	rp "$R1" -n "$T1" "$T2"
	assert_success
	assert_output ''
	local first='would run configure of app-a; start of app-a, app-b; check of app-a'
	local plan1='2 enter (app-a, app-b), 0 change, 0 stay, 0 leave'
	assert_stderr "$(lines "rep-push: $T1: $R1: $plan1" "rep-push: $T2: $R1: $plan1" \
		"rep-push: $T1: $first" "rep-push: $T2: $first" \
		"rep-push: $T1: would stage $R1" "rep-push: $T2: would stage $R1" \
		"rep-push: $T1: would point current to $R1" "rep-push: $T2: would point current to $R1" \
		"rep-push: $R1: dry run: live on 2 targets")"
	assert_events
	assert_absent t1 t2
	push "$R1" t1 t2
	: >"$EV"
	# app-a and app-b change, app-c (no hooks) enters
	bump app-a
	bump app-b
	mkapp app-c
	release R2 app-a app-b app-c
	snapshot t1 t2
	rp "$R2" -n "$T1" "$T2"
	assert_success
	assert_output ''
	# (app-b of R1 has no stop)
	local next="would run configure of app-a; stop of app-a (from $R1); start of app-a, app-b; check of app-a"
	local plan2='1 enters (app-c), 2 change (app-a, app-b), 0 stay, 0 leave'
	assert_stderr "$(lines "rep-push: $T1: $R2: $plan2" "rep-push: $T2: $R2: $plan2" \
		"rep-push: $T1: $next" "rep-push: $T2: $next" \
		"rep-push: $T1: would stage $R2" "rep-push: $T2: would stage $R2" \
		"rep-push: $T1: would switch current from $R1 to $R2" "rep-push: $T2: would switch current from $R1 to $R2" \
		"rep-push: $R2: dry run: live on 2 targets")"
	assert_events
	assert_unchanged
	# a rollback's dry run lists no hooks
	push "$R2" t1 t2
	: >"$EV"
	run --separate-stderr rep-push -n --rollback "$T1" "$T2" </dev/null
	assert_success
	assert_stderr "$(lines "rep-push: $T1: would switch current from $R2 to $R1" \
		"rep-push: $T2: would switch current from $R2 to $R1" "rep-push: $R1: dry run: live again on 2 targets")"
	assert_events
}

@test "-n lists per target the hooks that would run: configure, stop (from the live release), start, check; runs none (local)" {
	dry_run_scenario local
}

@test "-n lists per target the hooks that would run: configure, stop (from the live release), start, check; runs none (ssh)" {
	dry_run_scenario ssh
}

noexec_scenario() {
	targets "$1"
	mkapp app-z
	release R0 app-z
	push "$R0" t1 t2
	mkhooked app-a
	mkhooked app-b
	chmod 644 rep_applications/app-a/.rep/start
	release R1 app-a app-b
	snapshot t1 t2
	rp "$R1" "$T1" "$T2"
	assert_failure 1
	local why='app-a: .rep/start: not executable (a hook must be); nothing done'
	assert_output "$(failed_records "$R1" "$T1,$T2" "$why" app-a app-b)"
	assert_stderr "rep-push: $R1: $why"
	assert_unchanged
	assert_events
	# --no-hooks: no hook runs, so none need be executable
	rp "$R1" --no-hooks "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a app-b)"
	assert_stderr "$(live_on "$R1" 2 '2 enter (app-a, app-b), 0 change, 1 stays, 0 leave')"
	assert_events
}

@test "a hook not executable refuses the push before any target is touched: failed records, exit 1; --no-hooks pushes it" {
	noexec_scenario local
}

not_hooks_scenario() {
	targets "$1"
	mkhooked app-a configure
	# .rep/start a symlink to an executable, .rep/check a directory,
	# .rep/stop a symlink to a file that is not executable: no hooks
	hook_script >rep_applications/app-a/run
	chmod 755 rep_applications/app-a/run
	ln -s ../run rep_applications/app-a/.rep/start
	ln -s ../README rep_applications/app-a/.rep/stop
	mkdir rep_applications/app-a/.rep/check
	echo x >rep_applications/app-a/.rep/check/x
	release R1 app-a
	local a1
	a1=$(sum app-a)
	rp "$R1" -n "$T1" "$T2"
	assert_success
	assert_stderr --partial "rep-push: $T1: would run configure of app-a"$'\n'"rep-push: $T2: would run configure of app-a"$'\n'
	rp "$R1" "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a)"
	assert_stderr "$(live_on "$R1" 2 '1 enters (app-a), 0 change, 0 stay, 0 leave')"
	assert_events "t1 configure app-a $R1 $a1" "t2 configure app-a $R1 $a1"
	next_a
	rp "$R2" "$T1" "$T2"
	assert_success
	assert_events "t1 configure app-a $R2 $A2" "t2 configure app-a $R2 $A2"
}

@test "only regular files are hooks: a symlink or a directory named .rep/start, check or stop is not run, nor refused" {
	not_hooks_scenario local
}

# --- -j: targets at once; work directories --------------------------------------------------

parallel_scenario() {
	targets "$1"
	mkhooked app-a
	release R1 app-a
	local t p b=$BATS_TEST_TMPDIR/barrier
	# each waits (5 s at most) until the other target's has started
	for t in t1 t2; do
		for p in configure start; do
			when "$t" app-a "$p" <<EOF
: >'$b'.\$REP_PHASE.\$t
i=0
until [ -e '$b'.\$REP_PHASE.t1 ] && [ -e '$b'.\$REP_PHASE.t2 ]; do
	i=\$((i + 1))
	if [ \$i -gt 50 ]; then echo "alone on \$t"; exit 1; fi
	sleep 0.1
done
EOF
		done
	done
	rp "$R1" -j 2 "$T1" "$T2"
	assert_success
	assert_output "$(push_records "$R1" "$T1,$T2" app-a)"
	assert_stderr "$(live_on "$R1" 2 '1 enters (app-a), 0 change, 0 stay, 0 leave')"
}

@test "-j 2: the hooks run on both targets at once" {
	parallel_scenario local
}

workdir_scenario() {
	targets "$1"
	mkhooked app-a start
	mkhooked app-b start
	release R1 app-a app-b
	local a1 a2 a3 b d
	a1=$(sum app-a) b=$(sum app-b)
	push "$R1" -k 1 "$T1" "$T2"
	bump app-a
	release R2 app-a
	a2=$(sum app-a)
	push "$R2" -k 1 "$T1" "$T2"
	# R1 kept: a rollback goes there
	for d in t1 t2; do
		assert_equal "$(ls "$d/releases")" "$(lines "$R1" "$R2")"
		assert_equal "$(ls "$d/work/app-a")" "$(printf '%s\n' "$a1" "$a2" | LC_ALL=C sort)"
	done
	bump app-a
	release R3 app-a
	a3=$(sum app-a)
	push "$R3" -k 1 "$T1" "$T2"
	# R1 pruned: no release lists app-a's first content, its work
	# directory is removed; app-b's stays, as shared/ does
	for d in t1 t2; do
		assert_equal "$(ls "$d/releases")" "$(lines "$R2" "$R3")"
		assert_equal "$(ls "$d/work/app-a")" "$(printf '%s\n' "$a2" "$a3" | LC_ALL=C sort)"
		assert_equal "$(ls "$d/work/app-b")" "$b"
		assert_equal "$(ls "$d/shared")" "$(lines app-a app-b)"
	done
}

@test "a work directory is removed once no release lists that content (-k 1); shared/ stays (local)" {
	workdir_scenario local
}

@test "a work directory is removed once no release lists that content (-k 1); shared/ stays (ssh)" {
	workdir_scenario ssh
}

# --- usage -----------------------------------------------------------------------------------

@test "--hook-timeout takes 1 to 86400 seconds, --no-hooks no argument: else exit 2 with the usage message, nothing done" {
	local try="(try 'rep-push --help')" a
	for a in 0 abc 86401 -1 1x ''; do
		run --separate-stderr rep-push --hook-timeout "$a" t1 <<<'x.tar.gz'
		assert_failure 2
		assert_output ''
		assert_stderr "rep-push: --hook-timeout $a: not a number from 1 to 86400 $try"
	done
	run --separate-stderr rep-push --hook-timeout=0 --rollback t1 </dev/null
	assert_failure 2
	assert_stderr "rep-push: --hook-timeout 0: not a number from 1 to 86400 $try"
	run --separate-stderr rep-push --no-hooks=1 t1 <<<'x.tar.gz'
	assert_failure 2
	assert_output ''
	assert_stderr "rep-push: --no-hooks: option takes no argument $try"
	run --separate-stderr rep-push t1 --hook-timeout <<<'x.tar.gz'
	assert_failure 2
	assert_output ''
	assert_stderr "rep-push: --hook-timeout: option requires an argument $try"
	assert_absent t1
	# the limits themselves are taken
	run --separate-stderr rep-push -n --hook-timeout 86400 --no-hooks t1 </dev/null
	assert_success
	run --separate-stderr rep-push -n --hook-timeout 1 t1 </dev/null
	assert_success
	assert_absent t1
}


