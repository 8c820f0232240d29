#!/usr/bin/env bats
# Asking the fleet (issue 20): rep-push --status prints what is live on
# each target, read from all of them at once without a lock, and
# rep-push --status ... | rep-diff --live is the fleet check. Each case
# that reads targets runs on local directories and over a real sshd on
# 127.0.0.1 (tests/sshd).
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
	mkapp app-a
	mkapp app-b
	mkapp app-c
	register app-a app-b app-c
	mkdir dist
}

# deploy NAME... -- TARGET...: NAMEs approved, packaged and pushed as the
# README does, the records read by rep-setstatus --record; REL: the
# release it made.
deploy() {
	local -a names=()
	while [ "$1" != -- ]; do
		names+=("$1")
		shift
	done
	shift
	setstatus ready "${names[@]}"
	local archive
	archive=$(rep-tar -q -d dist "${names[@]}" </dev/null) || return
	REL=$(basename "$archive" .tar.gz)
	printf '%s\n' "$archive" | rep-push -q "$@" | rep-setstatus -q --record >/dev/null
}

# refresh NAME: new content for NAME, registered.
refresh() {
	echo v2 >>"rep_applications/$1/README"
	register "$1"
}

# sum NAME: the registered checksum of NAME.
sum() {
	rep-ls -o checksum "$1" </dev/null
}

# st TARGET NAME RELEASE CHECKSUM: a record of rep-push --status.
st() {
	printf '%s\t%s\t%s\t%s' "$@"
}

# fleet TARGET...: rep-push --status TARGET... | rep-diff --live, with
# pipefail, stdin closed off.
fleet() {
	run --separate-stderr bash -o pipefail -c 'rep-push --status "$@" | rep-diff --live' fleet "$@" </dev/null
}

# --- what is live where ---------------------------------------------------------------------

live_scenario() {
	targets "$1"
	deploy app-a app-b -- "$T1" "$T2"
	local r1=$REL a b1
	a=$(sum app-a) b1=$(sum app-b)
	# app-b changes on T1 only: its release there is the push that
	# brought it; app-a stays the content of R1 in both
	refresh app-b
	local b2
	b2=$(sum app-b)
	sleep 1
	deploy app-b -- "$T1"
	local r2=$REL
	mkdir t3
	run --separate-stderr rep-push --status "$T1" "$T2" t3 </dev/null
	assert_success
	assert_output "$(lines "$(st "$T1" app-a "$r1" "$a")" "$(st "$T1" app-b "$r2" "$b2")" \
		"$(st "$T2" app-a "$r1" "$a")" "$(st "$T2" app-b "$r1" "$b1")" "$(st t3 - - -)")"
	assert_stderr ''
	# -H: a header, as rep-ls's
	run --separate-stderr rep-push -H --status "$T2" </dev/null
	assert_success
	assert_output "$(lines "#target${TAB}name${TAB}release${TAB}checksum" "$(st "$T2" app-a "$r1" "$a")" \
		"$(st "$T2" app-b "$r1" "$b1")")"
	# the fleet check: app-b differs between the targets
	fleet "$T1" "$T2"
	assert_failure 1
	assert_output "$(lines "app-b${TAB}mixed${TAB}$(st "$T1" app-b "$r2" "$b2" | cut -f1,3,4)" \
		"app-b${TAB}mixed${TAB}$(st "$T2" app-b "$r1" "$b1" | cut -f1,3,4)")"
	assert_stderr 'rep-diff: 2 discrepancies'
	# the same archive pushed to T2 too: in sync
	printf 'dist/%s.tar.gz\n' "$r2" | rep-push -q "$T2" | rep-setstatus -q --record >/dev/null
	fleet "$T1" "$T2"
	assert_success
	assert_output ''
	assert_stderr 'rep-diff: in sync (2 applications live on 2 targets)'
}

@test "--status: a record per target and application, sorted by name, in the operands' order; each application's release the push that brought it; - - - for a target with nothing live; -H (local)" {
	live_scenario local
}

@test "--status: a record per target and application, sorted by name, in the operands' order; each application's release the push that brought it; - - - for a target with nothing live; -H (ssh)" {
	live_scenario ssh
}

unreadable_scenario() {
	targets "$1"
	deploy app-a -- "$T1"
	local a r1=$REL
	a=$(sum app-a)
	if [ "$1" = ssh ]; then
		missing=$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/nosuch
	else
		missing=nosuch
	fi
	# a current that is not a link: that target is unreadable
	mkdir -p t2
	echo x >t2/current
	run --separate-stderr rep-push -j 1 --status "$missing" "$T1" "$T2" </dev/null
	assert_failure 1
	assert_output "$(st "$T1" app-a "$r1" "$a")"
	assert_stderr "$(lines "rep-push: $missing: no such directory" \
		"rep-push: $T2: current: exists and is not a symbolic link" \
		'rep-push: 2 of 3 targets could not be read')"
	# with pipefail the fleet check fails: a target unread is not in sync;
	# rep-diff compares what was read
	fleet "$missing" "$T1"
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: $missing: no such directory" 'rep-push: 1 of 2 targets could not be read' \
		'rep-diff: in sync (1 application live on 1 target)')"
}

@test "--status: a target that cannot be read (missing, current not a link) is named on stderr, the others printed, exit 1 (local)" {
	unreadable_scenario local
}

@test "--status: a target that cannot be read (missing, current not a link) is named on stderr, the others printed, exit 1 (ssh)" {
	unreadable_scenario ssh
}

@test "--status: an unreachable ssh host among local targets: the local ones printed, the host named, exit 1" {
	deploy app-a -- t1
	local a r1=$REL
	a=$(sum app-a)
	run --separate-stderr env REP_SSH='ssh -F none -p 1 -o ConnectTimeout=5 -o BatchMode=yes' \
		rep-push --status nobody@127.0.0.1:/srv/rep t1 </dev/null
	assert_failure 1
	assert_output "$(st t1 app-a "$r1" "$a")"
	assert_stderr --partial 'rep-push: nobody@127.0.0.1:/srv/rep: '
	assert_stderr --partial 'rep-push: 1 of 2 targets could not be read'
}

@test "--status with the fault transport: an open fault makes that target unreadable, the other is read" {
	deploy app-a -- t1 t2
	local a r1=$REL
	a=$(sum app-a)
	run --separate-stderr "$FAULT_PUSH" --status fault:open:t2 t1 </dev/null
	assert_failure 1
	assert_output "$(st t1 app-a "$r1" "$a")"
	assert_stderr "$(lines 'rep-push: fault:open:t2: injected fault: open' 'rep-push: 1 of 2 targets could not be read')"
}

# --- no lock, no waiting --------------------------------------------------------------------

@test "--status while another rep-push holds the lock: it neither waits nor fails, and prints the release live at that moment" {
	deploy app-a app-b -- t1
	local a b r1=$REL
	a=$(sum app-a) b=$(sum app-b)
	# a push in progress: its lock, held by a live process of this host
	sleep 60 &
	local holder=$!
	printf '%s\t%s\tbob@build\t2026-01-01T00:00:00Z\n' "$(uname -n)" "$holder" >t1/.rep-push.lock
	run --separate-stderr timeout 10 rep-push --status t1 </dev/null
	assert_success
	assert_output "$(lines "$(st t1 app-a "$r1" "$a")" "$(st t1 app-b "$r1" "$b")")"
	assert_stderr ''
	# the lock is still the other's
	assert_equal "$(cut -f2 t1/.rep-push.lock)" "$holder"
	# and a push is refused by it, as before
	run --separate-stderr rep-push -q t1 <<<"dist/$r1.tar.gz"
	kill "$holder"
	assert_failure 1
	assert_stderr --partial "rep-push: t1: locked by pid $holder on $(uname -n)"
}

@test "--status during a stream of pushes: every reading is one whole release, never a mix, never an error" {
	deploy app-a app-b -- t1
	local r1=$REL a1 b
	a1=$(sum app-a) b=$(sum app-b)
	refresh app-a
	local a2
	a2=$(sum app-a)
	sleep 1
	setstatus ready app-a
	local archive
	archive=$(rep-tar -q -d dist app-a </dev/null)
	local r2
	r2=$(basename "$archive" .tar.gz)
	local one two
	one=$(lines "$(st t1 app-a "$r1" "$a1")" "$(st t1 app-b "$r1" "$b")")
	two=$(lines "$(st t1 app-a "$r2" "$a2")" "$(st t1 app-b "$r1" "$b")")
	# pushes of R2 and rollbacks to R1, back to back, while reading
	(
		for _ in 1 2 3 4 5 6 7 8; do
			printf '%s\n' "$archive" | rep-push -q -k 1 t1 >/dev/null 2>&1
			rep-push -q -k 1 --rollback t1 >/dev/null 2>&1
		done
	) &
	local pusher=$! n=0 bad=0 out
	while kill -0 "$pusher" 2>/dev/null || [ "$n" -lt 20 ]; do
		if ! out=$(rep-push --status t1 2>&1 </dev/null) || { [ "$out" != "$one" ] && [ "$out" != "$two" ]; }; then
			bad=$((bad + 1))
			printf 'reading %d:\n%s\n' "$n" "$out" >&3
		fi
		n=$((n + 1))
	done
	wait "$pusher"
	assert_equal "$bad" 0
}

# --- usage -----------------------------------------------------------------------------------

@test "--status refuses what only a push or a rollback means, -H without --status, and no target (exit 2); it reads no stdin" {
	local opt
	for opt in -n '-k 2' --replace --rollback --no-hooks '--hook-timeout 5'; do
		# shellcheck disable=SC2086 # the option and its argument
		run --separate-stderr rep-push $opt --status t1 </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr "rep-push: --status only reads: it takes no -n, -k, --replace, --rollback or hook option (try 'rep-push --help')"
	done
	run --separate-stderr rep-push -H t1 </dev/null
	assert_failure 2
	assert_stderr "rep-push: -H is for --status, whose records have a header (try 'rep-push --help')"
	run --separate-stderr rep-push --status </dev/null
	assert_failure 2
	assert_stderr "rep-push: no target (try 'rep-push --help')"
	# an archive on stdin is not pushed: --status reads targets only
	deploy app-a -- t1
	local r1=$REL a
	a=$(sum app-a)
	setstatus ready app-b
	local archive
	sleep 1
	archive=$(rep-tar -q -d dist app-b </dev/null)
	run --separate-stderr rep-push --status t1 <<<"$archive"
	assert_success
	assert_output "$(st t1 app-a "$r1" "$a")"
	assert_equal "$(readlink t1/current)" "releases/$r1"
	# a target given twice, as for a push
	run --separate-stderr rep-push --status t1 t1 </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-push: t1: target given twice'
}

# --- records lost, recorded again from the fleet --------------------------------------------

lost_scenario() {
	targets "$1"
	deploy app-a -- "$T1" "$T2"
	local r1=$REL a
	a=$(sum app-a)
	# a push whose records nobody read: app-b live, app-a changed, the
	# database unaware
	refresh app-a
	local a2 b
	a2=$(sum app-a) b=$(sum app-b)
	setstatus ready app-a app-b
	sleep 1
	local archive
	archive=$(rep-tar -q -d dist app-a app-b </dev/null)
	local r2
	r2=$(basename "$archive" .tar.gz)
	printf '%s\n' "$archive" | rep-push -q "$T1" "$T2" >/dev/null
	fleet "$T1" "$T2"
	assert_failure 1
	assert_output "$(lines "app-a${TAB}differs${TAB}$T1${TAB}$r2${TAB}$a2${TAB}$a" \
		"app-a${TAB}differs${TAB}$T2${TAB}$r2${TAB}$a2${TAB}$a" \
		"app-b${TAB}unrecorded${TAB}$T1${TAB}$r2${TAB}$b" "app-b${TAB}unrecorded${TAB}$T2${TAB}$r2${TAB}$b")"
	# recorded from what the fleet says (rep-diff(1)): in sync, deployed;
	# without pipefail, as rep-diff exits 1 when it finds something
	# shellcheck disable=SC2016 # expanded by that bash and by awk
	run --separate-stderr bash -c 'rep-push --status "$@" | rep-diff --live |
		awk -F "\t" -v OFS="\t" '\''$2 == "unrecorded" || $2 == "differs" { print $1, $4, $3, $5, "live" }
			$2 == "gone" { print $1, $4, $3, $5, "left" }'\'' | rep-setstatus --record' fleet "$T1" "$T2" </dev/null
	assert_success
	assert_stderr "$(lines 'rep-diff: 4 discrepancies' 'rep-setstatus: recorded: 4 live, 0 left, 0 failed')"
	fleet "$T1" "$T2"
	assert_success
	assert_output ''
	assert_equal "$(rep-ls -o name,status app-a app-b </dev/null)" "$(lines "app-a${TAB}deployed" "app-b${TAB}deployed")"
	# the other way: app-b taken out by hand on T2 (a rollback whose
	# records were lost); the database still says it is live there
	rep-push -q --rollback "$T2" >/dev/null
	fleet "$T1" "$T2"
	assert_failure 1
	# by name, then target, mixed after the others
	assert_output "$(lines "app-a${TAB}mixed${TAB}$T1${TAB}$r2${TAB}$a2" \
		"app-a${TAB}differs${TAB}$T2${TAB}$r1${TAB}$a${TAB}$a2" "app-a${TAB}mixed${TAB}$T2${TAB}$r1${TAB}$a" \
		"app-b${TAB}gone${TAB}$T2${TAB}$r2${TAB}$b")"
}

@test "fleet check: records lost are found (differs, unrecorded, gone) and recorded again from the fleet's answer (local)" {
	lost_scenario local
}

@test "fleet check: records lost are found (differs, unrecorded, gone) and recorded again from the fleet's answer (ssh)" {
	lost_scenario ssh
}

# --- what a target holds that no push made --------------------------------------------------

hostile_scenario() {
	targets "$1"
	deploy app-a app-b -- "$T1"
	local r1=$REL x
	# each case on a copy of t1, as X
	local -a cases=(elsewhere dangling relfile applink appsgone newline trailing)
	for x in "${cases[@]}"; do
		cp -a t1 "$x"
	done
	ln -sfn ../t1/releases/"$r1" elsewhere/current
	# the live release removed by hand
	rm -r "dangling/releases/$r1"
	rm -r relfile/releases
	: >relfile/releases
	rm -r "applink/releases/$r1/rep_applications"
	ln -s ../../store/"$r1"/rep_applications "applink/releases/$r1/rep_applications"
	rm -r "appsgone/releases/$r1/rep_applications"
	ln -sfn "$(printf '../../../store/%s/rep_applications/app-a\nT ../../../store/rep_applications_20990101_000000/rep_applications/app-b' "$r1")" \
		"newline/releases/$r1/rep_applications/app-a"
	# a newline at the end of a link's text, which $(...) would drop from
	# the last link read (here the only one)
	rm "trailing/releases/$r1/rep_applications/app-a"
	ln -sfn "$(readlink "trailing/releases/$r1/rep_applications/app-b")"$'\n' \
		"trailing/releases/$r1/rep_applications/app-b"
	local -a args=() want=()
	for x in "${cases[@]}"; do
		if [ "$1" = ssh ]; then
			args+=("$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/$x")
		else
			args+=("$x")
		fi
	done
	snapshot "${cases[@]}"
	run --separate-stderr rep-push -j 1 --status "${args[@]}" </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: ${args[0]}: current: leads to no release of releases/" \
		"rep-push: ${args[1]}: current: leads to no release of releases/" \
		"rep-push: ${args[2]}: releases: not a directory (refused: rep-push writes only inside the target)" \
		"rep-push: ${args[3]}: releases/$r1/rep_applications: a symbolic link (refused, not followed)" \
		"rep-push: ${args[4]}: releases/$r1/rep_applications: no such directory" \
		"rep-push: ${args[5]}: releases/$r1/rep_applications: a link that cannot be read as one line" \
		"rep-push: ${args[6]}: releases/$r1/rep_applications: a link that cannot be read as one line" \
		'rep-push: 7 of 7 targets could not be read')"
	# -q: the targets named, the summary not
	run --separate-stderr rep-push -q -j 1 --status "${args[0]}" </dev/null
	assert_failure 1
	assert_stderr "rep-push: ${args[0]}: current: leads to no release of releases/"
	# nothing written anywhere
	assert_unchanged
	# an entry no application could be named (a TAB, a newline) is not
	# one of the release's: passed over, whatever its link holds
	ln -s $'a\nb' "t1/releases/$r1/rep_applications/"$'zz\tx'
	ln -s $'a\nb' "t1/releases/$r1/rep_applications/"$'zz\nx'
	run --separate-stderr rep-push --status "$T1" </dev/null
	assert_success
	assert_output "$(lines "$T1${TAB}app-a${TAB}$r1${TAB}$(sum app-a)" "$T1${TAB}app-b${TAB}$r1${TAB}$(sum app-b)")"
}

@test "--status: a current leading to no release or dangling, releases/ a file, a linked or missing rep_applications, a link of two lines: each an error, not a guess; nothing written (local)" {
	hostile_scenario local
}

@test "--status: a current leading to no release or dangling, releases/ a file, a linked or missing rep_applications, a link of two lines: each an error, not a guess; nothing written (ssh)" {
	hostile_scenario ssh
}
