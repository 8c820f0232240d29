#!/usr/bin/env bats
# lib/far.sh's hook runner on its own (issue 21): the ops hook and pending
# as the local transport runs them, sh -c SCRIPT rep-push OP DIR ARG...,
# under dash (Debian's /bin/sh, and a strict POSIX shell) and under bash,
# without rep-push. Each run is in a session and process group of its own
# (setsid), as sshd starts a session's and rep-push the local runner. The
# pushes that run hooks are rep-push's tests.
# shellcheck disable=SC2154,SC2016 # output, stderr, status: set by run; hooks' text

load helper

bats_require_minimum_version 1.5.0

SHELLS='dash bash'

setup() {
	rep_setup
	command -v dash >/dev/null || skip 'dash is not installed'
	SETSID=$(command -v setsid) || skip 'setsid is not installed'
	FAR=$(cat "$BATS_TEST_DIRNAME/../lib/far.sh")
	export FAR
	D=$BATS_TEST_TMPDIR/t
	A=$D/store/$R1/rep_applications/app-a
	mkdir -p "$A/.rep" "$D/releases/$R1/rep_applications"
	ln -s "../../../store/$R1/rep_applications/app-a" "$D/releases/$R1/rep_applications/app-a"
	printf '#rep-manifest\t2\napp-a\t1\t2\t%s\t1\tadd\t-\n' "$S1" >"$D/releases/$R1/MANIFEST"
	PHYS=$(cd -P "$D" && pwd -P)
}

teardown() {
	# a daemon a test's start hook left, by the pid it wrote
	if [ -s "$BATS_TEST_TMPDIR/daemon.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/daemon.pid")" 2>/dev/null || true
	fi
}

R1=rep_applications_20200101_000000
R0=rep_applications_20191231_000000
S1=1111111111111111111111111111111111111111111111111111111111111111
S2=2222222222222222222222222222222222222222222222222222222222222222

# far SHELL OP DIR ARG...: the far side under SHELL, as rep-push starts it
# for a local target, in a session of its own, fd 3 the output
far() {
	local sh=$1
	shift
	"$SETSID" -w "$sh" -c "$FAR" rep-push "$@" </dev/null
}

# hookfile PHASE TEXT: app-a's .rep/PHASE, a shell script of TEXT
hookfile() {
	printf '#!/bin/sh\n%s\n' "$2" >"$A/.rep/$1"
	chmod 755 "$A/.rep/$1"
}

# assert_timed_out: $output is the reply of a hook killed at its timeout
# that wrote "waiting", and perhaps its shell's word on its killed sleep
# (Killed, when the SIGKILL reaches the sleep before the shell)
assert_timed_out() {
	assert_equal "$(grep -vxE '\|output	(Terminated|Killed)' <<<"$output")" \
		"$(lines '|status	timeout' '|tries	1' '|output	waiting' .ok)"
}

# alive PATTERN: the processes (not zombies) whose command line matches
alive() {
	ps -eo stat=,args= | awk -v p="$1" '$1 !~ /^Z/ && $0 ~ p && !/awk/'
}

@test "hook: a hook that succeeds: its records, the world it ran in (arguments, cwd, environment), shared/ and work/ made" {
	hookfile start 'echo "args: $# [$1] [$2] [$3]"
echo "cwd: $(pwd -P)"
env | grep -v "^PWD=\|^SHLVL=\|^_=" | sort
test -d "$REP_SHARED" && test -d "$REP_WORK" && echo made
ls /proc/$$/fd >"$REP_WORK/fds"
echo "fds: $(awk '"'"'$1 >= 3 && $1 <= 9'"'"' "$REP_WORK/fds")"
echo to stderr >&2'
	local sh
	for sh in $SHELLS; do
		rm -rf "$D/shared" "$D/work" "$D/hooks.log"
		HOME=/home/x TZ=UTC LANG=C.UTF-8 SECRET=no run --separate-stderr far "$sh" hook "$D" start app-a "$R1" \
			"$R0" "$S1" 5
		assert_success
		refute_stderr
		# none of 3 to 9 (3: the replies; 3 and 4: bats'), which a shell can close
		assert_output "$(lines '|status	0' '|tries	1' \
			"|output	args: 3 [app-a] [$R1] [$R0]" \
			"|output	cwd: $PHYS/store/$R1/rep_applications/app-a" \
			'|output	HOME=/home/x' '|output	LANG=C.UTF-8' \
			'|output	LOGNAME=tester' \
			'|output	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			'|output	REP_APP=app-a' "|output	REP_CHECKSUM=$S1" "|output	REP_DIR=$PHYS" \
			'|output	REP_PHASE=start' "|output	REP_PREVIOUS=$R0" "|output	REP_RELEASE=$R1" \
			"|output	REP_SHARED=$PHYS/shared/app-a" "|output	REP_WORK=$PHYS/work/app-a/$S1" \
			'|output	TZ=UTC' '|output	USER=tester' \
			'|output	made' '|output	fds: ' '|output	to stderr' .ok)"
		[ -d "$D/shared/app-a" ] && [ -d "$D/work/app-a/$S1" ] || fail "$sh: shared/ or work/ not made"
		# nothing left of the run but its log
		assert_equal "$(ls -A "$D")" "$(lines hooks.log releases shared store work)"
		assert_equal "$(norm_ts <"$D/hooks.log" | head -n 1)" "TIME	start	app-a	$R1	0"
		assert_equal "$(tail -n 1 "$D/hooks.log")" '| to stderr'
	done
}

@test "hook: the previous release '-' is none; a release of the old format (a directory) runs its hook there" {
	rm "$D/releases/$R1/rep_applications/app-a"
	mv "$A" "$D/releases/$R1/rep_applications/app-a"
	A=$D/releases/$R1/rep_applications/app-a
	hookfile stop 'echo "[$3] [$REP_PREVIOUS] $(pwd -P)"'
	local sh
	for sh in $SHELLS; do
		run --separate-stderr far "$sh" hook "$D" stop app-a "$R1" - "$S1" 5
		assert_success
		refute_stderr
		assert_output "$(lines '|status	0' '|tries	1' \
			"|output	[] [] $PHYS/releases/$R1/rep_applications/app-a" .ok)"
	done
}

@test "hook: no such hook (none, a link, a directory, .rep a link): absent, nothing run or made" {
	ln -s /bin/true "$A/.rep/start"
	mkdir "$A/.rep/check"
	local sh phase
	for sh in $SHELLS; do
		for phase in configure start check; do
			run --separate-stderr far "$sh" hook "$D" "$phase" app-a "$R1" - "$S1" 5
			assert_success
			refute_stderr
			assert_output "$(lines '|absent' .ok)"
		done
	done
	rm -r "$A/.rep"
	mkdir -p "$D/elsewhere"
	printf '#!/bin/sh\necho ran\n' >"$D/elsewhere/stop"
	chmod 755 "$D/elsewhere/stop"
	ln -s "$D/elsewhere" "$A/.rep"
	run --separate-stderr far dash hook "$D" stop app-a "$R1" - "$S1" 5
	assert_success
	assert_output "$(lines '|absent' .ok)"
	assert_equal "$(ls -A "$D")" "$(lines elsewhere releases store)"
}

@test "hook: its exit status, whatever it is, is .ok; 126 for one not executable" {
	hookfile stop 'echo failing; exit 7'
	hookfile start 'echo never'
	chmod 644 "$A/.rep/start"
	local sh
	for sh in $SHELLS; do
		run --separate-stderr far "$sh" hook "$D" stop app-a "$R1" - "$S1" 5
		assert_success
		refute_stderr
		assert_output "$(lines '|status	7' '|tries	1' '|output	failing' .ok)"
		run --separate-stderr far "$sh" hook "$D" start app-a "$R1" - "$S1" 5
		assert_success
		refute_stderr
		assert_line --index 0 '|status	126'
		assert_line --index 1 '|tries	1'
		assert_line --partial --index 2 'Permission denied'
	done
	assert_equal "$(grep -v '^| ' "$D/hooks.log" | norm_ts)" "$(lines "TIME	stop	app-a	$R1	exit 7" \
		"TIME	start	app-a	$R1	exit 126" "TIME	stop	app-a	$R1	exit 7" "TIME	start	app-a	$R1	exit 126")"
}

@test "hook: what cannot be run is .error with the reason: a bad argument, no such release or application" {
	hookfile start 'echo ran'
	local sh
	for sh in $SHELLS; do
		run --separate-stderr far "$sh" hook "$D" restart app-a "$R1" - "$S1" 5
		assert_failure 1
		assert_output "$(lines '!hook: restart: not a phase (configure, start, check or stop)' .error)"
		run --separate-stderr far "$sh" hook "$D" start ../app-a "$R1" - "$S1" 5
		assert_failure 1
		assert_output "$(lines '!hook: ../app-a: not an application name' .error)"
		run --separate-stderr far "$sh" hook "$D" start app-a ../x - "$S1" 5
		assert_failure 1
		assert_output "$(lines '!../x: not a release name' .error)"
		run --separate-stderr far "$sh" hook "$D" start app-a "$R1" - "${S1%1}" 5
		assert_failure 1
		assert_output "$(lines "!hook: ${S1%1}: not a checksum" .error)"
		run --separate-stderr far "$sh" hook "$D" start app-a "$R1" - "$S1" 0
		assert_failure 1
		assert_output "$(lines '!hook: 0: not a timeout in seconds' .error)"
		run --separate-stderr far "$sh" hook "$D" start app-a "$R0" - "$S1" 5
		assert_failure 1
		assert_output "$(lines "!releases/$R0: no such release" .error)"
		run --separate-stderr far "$sh" hook "$D" start app-b "$R1" - "$S1" 5
		assert_failure 1
		assert_output "$(lines "!releases/$R1/rep_applications/app-b: no such application in the release" .error)"
	done
	ln -s /tmp "$D/releases/$R1/rep_applications/app-c"
	run --separate-stderr far dash hook "$D" start app-c "$R1" - "$S1" 5
	assert_failure 1
	assert_output "$(lines "!releases/$R1/rep_applications/app-c: not a link to ../../../store/RELEASE/rep_applications/app-c" .error)"
	assert_equal "$(ls -A "$D")" "$(lines releases store)"
}

@test "hook: a link planted at shared, shared/NAME, work or work/NAME is refused, never followed; the hook not run" {
	hookfile start 'echo ran'
	mkdir "$BATS_TEST_TMPDIR/elsewhere"
	local sh where
	for sh in $SHELLS; do
		for where in shared shared/app-a work work/app-a "work/app-a/$S1"; do
			rm -rf "$D/shared" "$D/work"
			mkdir -p "$D/$(dirname "$where")"
			ln -s "$BATS_TEST_TMPDIR/elsewhere" "$D/$where"
			run --separate-stderr far "$sh" hook "$D" start app-a "$R1" - "$S1" 5
			assert_failure 1
			assert_output "$(lines "!$where: a symbolic link (refused, not followed)" .error)"
			assert_equal "$(ls -A "$BATS_TEST_TMPDIR/elsewhere")" ''
			[ ! -e "$D/hooks.log" ] || fail "$sh: $where: the hook ran"
		done
	done
}

@test "hook: check is run again every second until it passes; the last run's output; tries" {
	hookfile check 'n=$(cat "$REP_WORK/n" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n >"$REP_WORK/n"
echo "try $n"
[ "$n" -ge 3 ]'
	local sh start
	for sh in $SHELLS; do
		rm -rf "$D/work"
		start=$SECONDS
		run --separate-stderr far "$sh" hook "$D" check app-a "$R1" - "$S1" 10
		assert_success
		refute_stderr
		assert_output "$(lines '|status	0' '|tries	3' '|output	try 3' .ok)"
		[ $((SECONDS - start)) -lt 5 ] || fail "$sh: took $((SECONDS - start)) s"
	done
	# not up by its deadline: the last run's status and output
	rm -rf "$D/work"
	run --separate-stderr far dash hook "$D" check app-a "$R1" - "$S1" 1
	assert_success
	assert_output "$(lines '|status	1' '|tries	1' '|output	try 1' .ok)"
	# other phases run once
	hookfile start 'echo once; exit 1'
	run --separate-stderr far dash hook "$D" start app-a "$R1" - "$S1" 2
	assert_success
	assert_output "$(lines '|status	1' '|tries	1' '|output	once' .ok)"
}

@test "hook: one still running at its timeout is killed with its children and grandchildren, then reported timeout" {
	local sh start
	for sh in $SHELLS; do
		hookfile configure "sleep 7301 &
sh -c 'sleep 7302 & sleep 7303' &
( sleep 7304 & )
trap '' TERM
echo waiting
sleep 7305"
		start=$SECONDS
		run --separate-stderr far "$sh" hook "$D" configure app-a "$R1" - "$S1" 1
		assert_success
		refute_stderr
		assert_timed_out
		# SIGTERM at 1 s; the hook ignores it: SIGKILL 5 s later
		[ $((SECONDS - start)) -le 8 ] || fail "$sh: took $((SECONDS - start)) s"
		assert_equal "$(alive 'sleep 730[1-5]')" ''
		assert_equal "$(norm_ts <"$D/hooks.log" | sed -n 1,2p)" "$(lines "TIME	configure	app-a	$R1	timeout" '| waiting')"
		rm "$D/hooks.log"
	done
	# what obeys SIGTERM goes at once
	hookfile stop 'sleep 7306 & echo waiting; sleep 7307'
	start=$SECONDS
	run --separate-stderr far dash hook "$D" stop app-a "$R1" - "$S1" 1
	assert_success
	assert_timed_out
	[ $((SECONDS - start)) -le 3 ] || fail "took $((SECONDS - start)) s"
	assert_equal "$(alive 'sleep 730[67]')" ''
}

@test "hook: rep-push gone (the replies' pipe closed) while a hook runs: killed at its timeout all the same, in hooks.log, nothing left" {
	hookfile configure 'sleep 7331 & echo waiting; sleep 7332'
	local sh start
	for sh in $SHELLS; do
		rm -f "$D/hooks.log"
		start=$SECONDS
		# IDLE 1: keepalives into the closed pipe too
		far "$sh" hook "$D" configure app-a "$R1" - "$S1" 1 1 2>err | true
		[ $((SECONDS - start)) -le 4 ] || fail "$sh: took $((SECONDS - start)) s"
		assert_equal "$(alive 'sleep 733[12]')" ''
		assert_equal "$(norm_ts <"$D/hooks.log" | grep -vx '| Terminated')" \
			"$(lines "TIME	configure	app-a	$R1	timeout" '| waiting')"
		assert_equal "$(ls -A "$D")" "$(lines hooks.log releases shared store work)"
	done
}

@test "hook: what was in the process group before (an earlier hook's daemon, its children since) is not killed at a timeout" {
	hookfile start "sh -c 'echo \$\$ >$BATS_TEST_TMPDIR/daemon.pid; while :; do sleep 0.2; done; : 7311' >/dev/null 2>&1 &"
	hookfile check 'sleep 7312'
	# one session for both, as over ssh: its shell, the lock's, starts them
	printf 'hook start app-a %s - %s 5\nhook check app-a %s - %s 1\n' "$R1" "$S1" "$R1" "$S1" >in
	local start=$SECONDS
	run --separate-stderr setsid -w dash -c "$FAR" rep-push lock "$D" me@here now make <in
	assert_success
	assert_output "$(lines '|current	' "|release	$R1	$(sha256sum <"$D/releases/$R1/MANIFEST" | cut -c 1-64)" .ok \
		'|status	0' '|tries	1' .ok '|status	timeout' '|tries	1' .ok)"
	# the daemon's sleeps, started after the check, were not taken for
	# the check's: it was not waited for 5 s more
	[ $((SECONDS - start)) -le 3 ] || fail "took $((SECONDS - start)) s"
	assert_equal "$(alive 'sleep 7312')" ''
	[ -n "$(alive '; : 7311')" ] || fail "the daemon was killed"
}

@test "hook: a start that leaves a daemon holding its output open: answered at once; the daemon runs on" {
	hookfile start "( sh -c 'echo \$\$ >$BATS_TEST_TMPDIR/daemon.pid; while :; do sleep 1; echo tick; done' & )
echo started"
	local sh start
	for sh in $SHELLS; do
		start=$SECONDS
		# through a pipe, as rep-push reads it: its end comes with the runner's
		far "$sh" hook "$D" start app-a "$R1" - "$S1" 5 | cat >out
		assert_equal "$(cat out)" "$(lines '|status	0' '|tries	1' '|output	started' .ok)"
		[ $((SECONDS - start)) -lt 3 ] || fail "$sh: took $((SECONDS - start)) s"
		sleep 1.5
		[ -n "$(alive 'while :; do sleep 1; echo tick')" ] || fail "$sh: the daemon is gone"
		kill "$(cat "$BATS_TEST_TMPDIR/daemon.pid")"
		rm "$BATS_TEST_TMPDIR/daemon.pid"
	done
}

@test "under BusyBox's tools (sh, ps without -p, awk, env, head, tr): the same world, the same kill at the timeout" {
	command -v busybox >/dev/null || skip 'busybox is not installed'
	mkdir bb
	local a
	for a in $(busybox --list); do
		ln -s "$(command -v busybox)" "bb/$a"
	done
	hookfile start 'echo "[$1] [$2] [$3] $(pwd -P) $REP_PHASE $REP_WORK"; printf "a\001b\n"'
	PATH=$BATS_TEST_TMPDIR/bb:$PATH run --separate-stderr far sh hook "$D" start app-a "$R1" - "$S1" 5
	assert_success
	refute_stderr
	assert_output "$(lines '|status	0' '|tries	1' \
		"|output	[app-a] [$R1] [] $PHYS/store/$R1/rep_applications/app-a start $PHYS/work/app-a/$S1" \
		$'|output\ta\001b' .ok)"
	assert_equal "$(tail -n 1 "$D/hooks.log")" '| a?b'
	hookfile stop "sleep 7321 & sh -c 'sleep 7322 & sleep 7323' & ( sleep 7324 & ) ; echo waiting; sleep 7325"
	local start=$SECONDS
	PATH=$BATS_TEST_TMPDIR/bb:$PATH run --separate-stderr far sh hook "$D" stop app-a "$R1" - "$S1" 1
	assert_success
	refute_stderr
	assert_timed_out
	[ $((SECONDS - start)) -le 3 ] || fail "took $((SECONDS - start)) s"
	assert_equal "$(alive 'sleep 732[1-5]')" ''
}

@test "hook: keepalives while it runs, every fifth of IDLE, none inside a record" {
	hookfile configure 'sleep 1; echo done'
	run --separate-stderr far dash hook "$D" configure app-a "$R1" - "$S1" 5 1
	assert_success
	refute_stderr
	local re="^(\\+"$'\n'"){3,}\\|status${TAB}0"$'\n'"\\|tries${TAB}1"$'\n'"\\|output${TAB}done"$'\n'"\\.ok\$"
	[[ $output =~ $re ]] || fail "not ticks, then the records: $output"
}

@test "hook: the output sent is bounded (64 KiB, lines of 4000 bytes, NUL dropped), every line tagged; hooks.log shows control bytes as ?" {
	hookfile stop "printf 'a\\001b\\033[31mc\\td\\r\\000e\\n'
head -c 5000 /dev/zero | tr '\\000' x; echo
printf '.ok\\n!x\\n'
awk 'BEGIN { for (i = 0; i < 8000; i++) print \"line \" i }'
printf 'no newline'"
	local sh
	for sh in $SHELLS; do
		rm -f "$D/hooks.log"
		run --separate-stderr far "$sh" hook "$D" stop app-a "$R1" - "$S1" 5
		assert_success
		refute_stderr
		local x4000 total sent
		x4000=$(head -c 4000 /dev/zero | tr '\000' x)
		assert_equal "$(sed -n 1,6p <<<"$output")" "$(lines '|status	0' '|tries	1' \
			$'|output\ta\001b\033[31mc\td\re' "|output	$x4000" '|output	.ok' '|output	!x')"
		# every line tagged, a 64 KiB cut
		assert_equal "$(grep -cv '^[|.]' <<<"$output")" 0
		total=$(setsid -w dash "$A/.rep/stop" | wc -c)
		sent=$(grep '^|output' <<<"$output" | cut -c 9- | wc -c)
		[ "$sent" -le 65536 ] || fail "$sh: $sent bytes sent"
		# beyond 64 KiB, the NUL byte and the 1000 bytes of x cut
		[ "$total" -gt 70000 ] || fail "$sh: only $total bytes"
		assert_equal "$(tail -n 2 <<<"$output")" "$(lines "|cut	$((total - 65536 + 1 + 1000))" .ok)"
		# hooks.log: all of it (whole lines), control bytes but TAB as ?
		assert_equal "$(sed -n 2,3p "$D/hooks.log")" "$(lines '| a?b?[31mc	d??e' "| $x4000$(head -c 1000 /dev/zero | tr '\000' x)")"
		assert_equal "$(tail -n 1 "$D/hooks.log")" '| no newline'
		assert_equal "$(grep -c '^| line ' "$D/hooks.log")" 8000
	done
}

@test "hooks.log: 1 MiB of a run kept; moved to hooks.log.1 beyond 8 MiB; a link there refused, not followed" {
	hookfile start 'head -c 3000000 /dev/zero | tr "\\000" "y" | fold -w 99'
	run --separate-stderr far dash hook "$D" start app-a "$R1" - "$S1" 5
	assert_success
	local size
	size=$(stat -c %s "$D/hooks.log")
	[ "$size" -gt 1048576 ] && [ "$size" -lt 1100000 ] || fail "hooks.log: $size bytes"
	head -c 8388608 /dev/zero | tr '\000' z >"$D/hooks.log"
	echo >>"$D/hooks.log"
	hookfile start 'echo small'
	run --separate-stderr far dash hook "$D" start app-a "$R1" - "$S1" 5
	assert_success
	assert_output "$(lines '|status	0' '|tries	1' '|output	small' .ok)"
	assert_equal "$(norm_ts <"$D/hooks.log")" "$(lines "TIME	start	app-a	$R1	0" '| small')"
	assert_equal "$(stat -c %s "$D/hooks.log.1")" 8388609
	rm "$D/hooks.log"
	echo mine >"$BATS_TEST_TMPDIR/other"
	ln -s "$BATS_TEST_TMPDIR/other" "$D/hooks.log"
	run --separate-stderr far dash hook "$D" start app-a "$R1" - "$S1" 5
	assert_success
	assert_output "$(lines '!hooks.log: not a regular file (refused, not followed: this run not kept there)' \
		'|status	0' '|tries	1' '|output	small' .ok)"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/other")" mine
}

@test "pending: the mark read, set (as a session command too), cleared; work/ of content no release lists removed" {
	local sh
	for sh in $SHELLS; do
		rm -rf "$D/work" "$D/hooks.pending"
		mkdir -p "$D/work/app-a/$S1" "$D/work/app-a/$S2/deep" "$D/work/app-a/notes" "$D/work/app-b/$S1" \
			"$BATS_TEST_TMPDIR/elsewhere/$S2"
		chmod 0 "$D/work/app-a/$S2/deep"
		ln -s "$BATS_TEST_TMPDIR/elsewhere" "$D/work/app-c"
		run --separate-stderr far "$sh" pending "$D"
		assert_success
		refute_stderr
		assert_output .ok
		run --separate-stderr far "$sh" pending "$D" set "$R1" 10
		assert_success
		assert_output .ok
		assert_equal "$(cat "$D/hooks.pending")" "$R1"
		run --separate-stderr far "$sh" pending "$D" set "$R0"
		assert_success
		assert_output "$(lines "|pending	$R1" .ok)"
		run --separate-stderr far "$sh" pending "$D" 10
		assert_success
		assert_output "$(lines "|pending	$R0" .ok)"
		run --separate-stderr far "$sh" pending "$D" clear
		assert_success
		refute_stderr
		assert_output "$(lines "|pending	$R0" .ok)"
		[ ! -e "$D/hooks.pending" ] || fail "$sh: still marked"
		# what R1 lists kept, and what is not a checksum's; app-b gone
		assert_equal "$(cd "$D/work" && find . | sort)" "$(lines . ./app-a "./app-a/$S1" ./app-a/notes ./app-c)"
		assert_equal "$(ls "$BATS_TEST_TMPDIR/elsewhere")" "$S2"
	done
	printf 'pending set %s\npending\npending clear\npending bogus\n' "$R1" >in
	run --separate-stderr setsid -w dash -c "$FAR" rep-push lock "$D" me@here now make <in
	assert_success
	assert_output "$(lines '|current	' "|release	$R1	$(sha256sum <"$D/releases/$R1/MANIFEST" | cut -c 1-64)" .ok \
		.ok "|pending	$R1" .ok "|pending	$R1" .ok '!pending: [set RELEASE | clear]' .error)"
}

@test "pending: a mark that is no regular file refused, never followed; a release without a MANIFEST: work/ not cleaned" {
	echo "$R1" >"$BATS_TEST_TMPDIR/other"
	ln -s "$BATS_TEST_TMPDIR/other" "$D/hooks.pending"
	local sh
	for sh in $SHELLS; do
		run --separate-stderr far "$sh" pending "$D" clear
		assert_failure 1
		assert_output "$(lines '!hooks.pending: not a regular file (refused, not followed)' .error)"
	done
	[ -h "$D/hooks.pending" ] || fail "the link is gone"
	rm "$D/hooks.pending"
	mkdir -p "$D/releases/$R0" "$D/work/app-b/$S2"
	run --separate-stderr far dash pending "$D" clear
	assert_success
	assert_output "$(lines "!work: not cleaned (releases/$R0/MANIFEST: no such file)" .ok)"
	[ -d "$D/work/app-b/$S2" ] || fail "work/ cleaned"
}
