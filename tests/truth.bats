#!/usr/bin/env bats
# The database tells the truth (issue 19): after each pipeline the README
# documents, an application is `deployed` if and only if its registered
# content is live where it was sent, and the deployment records say which
# content is live where.  Each scenario runs on local targets and on
# [user@]host:DIR targets over a real sshd on 127.0.0.1 (tests/sshd).
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
	mkapp app-d
	register app-a app-b app-c app-d
	# set by hand, before any record: shown as deployed, nothing invented
	setstatus deployed app-d
	declare -gA LABEL=()
	label app-a A
	label app-b B
	label app-c C
	label app-d D
}

# pipe CMDLINE [ARG...]: run a pipeline in bash with pipefail, stdin closed
# off, the ARGs as $1...
pipe() {
	local cmd=$1
	shift
	run --separate-stderr bash -o pipefail -c "$cmd" pipe "$@" </dev/null
}

# ship TARGET...: the README's pipeline, from what is ready to the records.
SHIP='rep-ls -s ready | rep-setstatus -q -f ready pending_deployment | rep-tar -q | rep-push -q "$@" | rep-setstatus -q --record'
ship() {
	pipe "$SHIP" "$@"
}

# in_sync TARGET...: the fleet check (rep-push(1), rep-diff(1)) after a
# pipeline: what the targets say is live is what the database says.
in_sync() {
	pipe 'rep-push --status "$@" | rep-diff --live' "$@"
	assert_success
	assert_output ''
	assert_stderr --regexp '^rep-diff: in sync \([0-9]+ applications? live on [0-9]+ targets?\)$'
}

# label NAME TAG: views show the checksum NAME has now as TAG.
label() {
	LABEL[$(rep-ls -o checksum "$1" </dev/null)]=$2
}

# release TAG: views show the newest release on t1 as TAG.
release() {
	LABEL[$(find t1/releases -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tail -n 1)]=$1
}

# relabel: stdin with every labelled checksum or release and T1, T2 shown
# by their tags.
relabel() {
	local text k
	text=$(cat)
	# longest first: a release name is the start of its _N successors'
	while IFS= read -r k; do
		[ -z "$k" ] || text=${text//$k/${LABEL[$k]}}
	done < <(for k in "${!LABEL[@]}"; do printf '%s %s\n' "${#k}" "$k"; done | sort -rn | cut -d' ' -f2-)
	text=${text//$T1/T1}
	printf '%s\n' "${text//$T2/T2}"
}

# view: name, status, checksum, live checksum, release and targets of
# every application, relabelled.
view() {
	rep-ls -o name,status,checksum,live,release,targets </dev/null | relabel
}

# row FIELD...: one line of a view.
row() {
	local IFS=$'\t'
	printf '%s' "$*"
}

assert_view() {
	assert_equal "$(view)" "$(lines "$@")"
}

# last_event NAME: the newest history event of NAME as from, to, user, note.
last_event() {
	rep-ls --history -o from,to,user,note "$1" </dev/null | tail -n 1 | relabel
}

# --- 1. a rollback: what left goes back to registered, the old content is recorded --------

rollback_scenario() {
	targets "$1"
	setstatus ready app-a app-b
	ship "$T1" "$T2"
	assert_success
	in_sync "$T1" "$T2"
	release R1
	label app-a A1
	label app-b B1
	# app-b changes and is approved again; app-c is new
	echo v2 >>rep_applications/app-b/README
	register app-b
	label app-b B2
	setstatus ready app-b app-c
	label app-c C1
	ship "$T1" "$T2"
	assert_success
	assert_records "$(records app-b deployed app-c deployed)"
	in_sync "$T1" "$T2"
	release R2
	assert_view "$(row app-a deployed A1 A1 R1 T1,T2)" "$(row app-b deployed B2 B2 R2 T1,T2)" \
		"$(row app-c deployed C1 C1 R2 T1,T2)" "$(row app-d deployed D - - -)"

	pipe 'rep-push -q --rollback "$@" | rep-setstatus --record' "$T1" "$T2"
	assert_success
	assert_stderr 'rep-setstatus: recorded: 2 live, 1 left, 0 failed'
	assert_view "$(row app-a deployed A1 A1 R1 T1,T2)" "$(row app-b registered B2 B1 R1 T1,T2)" \
		"$(row app-c registered C1 - - -)" "$(row app-d deployed D - - -)"
	in_sync "$T1" "$T2"
	local b1 b2
	b1=$(sum_of B1) b2=$(sum_of B2)
	assert_equal "$(last_event app-b)" "$(row deployed registered tester \
		"record: live on T1,T2 in R1 (${b1:0:12}; registered content is ${b2:0:12})")"
	assert_equal "$(last_event app-c)" "$(row deployed registered tester 'record: left service on T1,T2 in R1')"
	# what changed since its deploy, at a glance
	run --separate-stderr rep-ls -o name,checksum,live app-b </dev/null
	assert_success
	assert_equal "$(relabel <<<"$output")" "$(row app-b B2 B1)"
}

# sum_of TAG: the checksum labelled TAG.
sum_of() {
	local k
	for k in "${!LABEL[@]}"; do
		if [ "${LABEL[$k]}" = "$1" ]; then
			printf '%s' "$k"
			return
		fi
	done
	fail "no checksum labelled $1"
}

@test "1. rollback | rep-setstatus --record: an application only in the release rolled back from is registered again, a refreshed one shows the content that runs (local)" {
	rollback_scenario local
}

@test "1. rollback | rep-setstatus --record: an application only in the release rolled back from is registered again, a refreshed one shows the content that runs (ssh)" {
	rollback_scenario ssh
}

# --- 2. a refresh withdraws the approval -------------------------------------------------

refresh_scenario() {
	targets "$1"
	setstatus ready app-a app-b app-c
	setstatus pending_deployment app-c
	echo changed >>rep_applications/app-b/README
	echo changed >>rep_applications/app-c/README
	echo changed >>rep_applications/app-d/README
	run --separate-stderr rep-register app-b app-c app-d </dev/null
	assert_success
	assert_records "$(records app-b registered app-c registered app-d registered)"
	assert_equal "$(last_event app-b | cut -f1-3)" "$(row ready registered tester)"
	assert_equal "$(last_event app-c | cut -f1-3)" "$(row pending_deployment registered tester)"
	assert_equal "$(last_event app-d | cut -f1-3)" "$(row deployed registered tester)"
	# the next ready pipeline ships app-a alone
	ship "$T1"
	assert_success
	assert_records "$(records app-a deployed)"
	assert_equal "$(ls t1/current/rep_applications)" app-a
}

@test "2. rep-register: a refresh of ready, pending_deployment or deployed content sets registered; the change does not ship unreviewed (local)" {
	refresh_scenario local
}

@test "2. rep-register: a refresh of ready, pending_deployment or deployed content sets registered; the change does not ship unreviewed (ssh)" {
	refresh_scenario ssh
}

# --- 3. failures strand nothing, and the pipeline says it failed -------------------------

@test "3. a modified application: rep-tar refuses, every claimed application is failed with the reason, the pipeline fails even without pipefail" {
	targets local
	setstatus ready app-a app-b app-c
	echo sneaky >>rep_applications/app-b/README
	run --separate-stderr bash -c "$SHIP" ship t1 </dev/null
	assert_failure 1
	# the reader's echo: the records as they are now
	assert_equal "$(norm_ts <<<"$output")" "$(rep-ls app-a app-b app-c </dev/null | norm_ts)"
	assert_stderr --partial 'rep-tar: app-b: '
	run --separate-stderr rep-ls -o name,status </dev/null
	assert_output "$(lines "app-a${TAB}failed" "app-b${TAB}failed" "app-c${TAB}failed" "app-d${TAB}deployed")"
	for app in app-a app-b app-c; do
		run last_event "$app"
		assert_output --regexp "^pending_deployment${TAB}failed${TAB}tester${TAB}record: not packaged: app-b: .+"
	done
	assert_absent t1
	# with pipefail as well
	setstatus ready app-a app-b app-c
	ship t1
	assert_failure 1
	assert_equal "$(rep-ls -o name,status </dev/null)" "$(lines "app-a${TAB}failed" "app-b${TAB}failed" "app-c${TAB}failed" "app-d${TAB}deployed")"
	assert_absent t1
}

staging_failure_scenario() {
	targets "$1"
	setstatus ready app-a app-b
	mkdir t1
	: >t2   # not a directory: the push fails there
	ship "$T1" "$T2"
	assert_failure 1
	assert_records "$(records app-a failed app-b failed)"
	assert_stderr --partial "$T2: not a directory"
	# nothing went live anywhere (a first push leaves releases/, empty)
	assert_absent t1/current t1/log
	assert_equal "$(find t1 t2 | sort)" "$(lines t1 t1/releases t2)"
	assert_view "$(row app-a failed A - - -)" "$(row app-b failed B - - -)" \
		"$(row app-c registered C - - -)" "$(row app-d deployed D - - -)"
	in_sync "$T1"
	run last_event app-a
	assert_output --regexp "^pending_deployment${TAB}failed${TAB}tester${TAB}record: not live on T1,T2 in rep_applications_[0-9_]+: .+$"
}

@test "3. a target that cannot be staged: nothing switches, the claimed applications are failed with the reason, exit 1 (local)" {
	staging_failure_scenario local
}

@test "3. a target that cannot be staged: nothing switches, the claimed applications are failed with the reason, exit 1 (ssh)" {
	staging_failure_scenario ssh
}

# --- 4. a dry run records nothing ---------------------------------------------------------

dry_run_scenario() {
	targets "$1"
	setstatus ready app-a
	rep-tar -q -d dist app-a </dev/null >archive
	snapshot_db
	pipe 'rep-push -n "$@" <archive | rep-setstatus --record' "$T1"
	assert_success
	assert_output ''
	assert_stderr --partial 'would '
	assert_db_unchanged
	assert_absent t1/current
	# nor can its plan be recorded the old way
	pipe 'rep-push -n "$@" <archive | rep-setstatus -M deployed' "$T1"
	assert_success
	assert_output ''
	assert_db_unchanged
	# and the old way refuses what a real push prints
	pipe 'rep-push -q "$@" <archive | rep-setstatus -M deployed' "$T1"
	assert_failure 2
	assert_output ''
	assert_stderr --partial 'a rep-push record: record these with rep-setstatus --record'
	assert_db_unchanged
}

@test "4. rep-push -n | rep-setstatus: nothing is recorded; real push records are refused without --record (local)" {
	dry_run_scenario local
}

@test "4. rep-push -n | rep-setstatus: nothing is recorded; real push records are refused without --record (ssh)" {
	dry_run_scenario ssh
}

# --- 5. who ---------------------------------------------------------------------------------

who_scenario() {
	targets "$1"
	setstatus ready app-a
	export LOGNAME=alice SUDO_USER=bob
	ship "$T1"
	assert_success
	assert_equal "$(last_event app-a | cut -f1-3)" "$(row pending_deployment deployed 'alice(sudo:bob)')"
	assert_equal "$(rep-ls --history -o user app-a </dev/null | sed -n 3p)" 'alice(sudo:bob)'
	assert_equal "$(cut -f5 t1/log)" 'alice(sudo:bob)'
	assert_equal "$(sqlite3 metadata.db 'SELECT user FROM deployment')" 'alice(sudo:bob)'
	in_sync "$T1"
	# without LOGNAME: the password database's name, not $USER
	unset LOGNAME SUDO_USER
	export USER=impostor
	setstatus retired app-a
	assert_equal "$(last_event app-a | cut -f3)" "$(id -un)"
}

@test "5. the history, the deployment record and the target's log name LOGNAME and the sudo caller (local)" {
	who_scenario local
}

@test "5. the history, the deployment record and the target's log name LOGNAME and the sudo caller (ssh)" {
	who_scenario ssh
}

# --- 6. which content is live where ------------------------------------------------------

where_scenario() {
	targets "$1"
	setstatus ready app-a app-b
	ship "$T1" "$T2"
	assert_success
	release R1
	label app-a A1
	label app-b B1
	# a partial push: app-a changes on T1 only
	echo v2 >>rep_applications/app-a/README
	register app-a
	label app-a A2
	setstatus ready app-a
	ship "$T1"
	assert_success
	release R2
	# distinct values sorted, joined by commas
	local both
	both=$(printf '%s\n' "$(sum_of A1)" "$(sum_of A2)" | sort | paste -sd, | relabel)
	assert_view "$(row app-a deployed A2 "$both" R1,R2 T1,T2)" "$(row app-b deployed B1 B1 R1 T1,T2)" \
		"$(row app-c registered C - - -)" "$(row app-d deployed D - - -)"
	assert_equal "$(sqlite3 -separator ' ' metadata.db "SELECT a.name, d.target, d.checksum, d.release, d.user FROM deployment d JOIN app a ON a.id = d.app_id ORDER BY 1, 2" | relabel)" \
		"$(lines 'app-a T1 A2 R2 tester' 'app-a T2 A1 R1 tester' 'app-b T1 B1 R1 tester' 'app-b T2 B1 R1 tester')"
	# the database agrees with the fleet; the fleet is not alike
	fleet_mixed "$T1" "$T2"
	# retirement: app-b leaves both targets and stays retired
	setstatus retired app-b
	pipe 'rep-ls -s retired | rep-tar -q | rep-push -q "$@" | rep-setstatus -q --record' "$T1" "$T2"
	assert_success
	release R3
	assert_equal "$(rep-ls -o name,status,live,targets app-b </dev/null)" "$(row app-b retired - -)"
	assert_equal "$(last_event app-b | cut -f1,2,4)" "$(row retired retired 'record: left service on T1,T2 in R3')"
	fleet_mixed "$T1" "$T2"
	# app-a pushed to T2 as well: the fleet is alike again
	setstatus ready app-a
	ship "$T2"
	assert_success
	in_sync "$T1" "$T2"
}

# fleet_mixed T1 T2 (where_scenario): the fleet check finds app-a, of the
# partial push, not alike on the two targets, and nothing else.
fleet_mixed() {
	pipe 'rep-push --status "$@" | rep-diff --live' "$@"
	assert_failure 1
	assert_equal "$(relabel <<<"$output")" "$(lines "$(row app-a mixed T1 R2 A2)" "$(row app-a mixed T2 R1 A1)")"
	assert_stderr 'rep-diff: 2 discrepancies'
}

@test "6. rep-ls -o name,checksum,live,release,targets: which content is live where, after a partial push and a retirement (local)" {
	where_scenario local
}

@test "6. rep-ls -o name,checksum,live,release,targets: which content is live where, after a partial push and a retirement (ssh)" {
	where_scenario ssh
}

# --- a Ctrl-C strands nothing ---------------------------------------------------------------

@test "Ctrl-C on the whole pipeline while rep-tar packs: rep-push passes its failure records on, the reader records them; nothing stays claimed" {
	mkapp app-big
	head -c $((64 << 20)) /dev/urandom >rep_applications/app-big/blob
	register app-big
	setstatus ready app-a app-big
	mkdir dist
	# a process group of its own, SIGINT not ignored (as a terminal's
	# foreground job): what a Ctrl-C reaches
	env --default-signal=INT setsid bash -o pipefail -c 'rep-ls -s ready | rep-setstatus -q -f ready pending_deployment |
		rep-tar -q -l 9 -j 1 | rep-push -q t1 | rep-setstatus -q --record >out 2>err' </dev/null &
	local pid=$! i
	for ((i = 0; i < 300; i++)); do
		[ -z "$(ls -A dist)" ] || break
		sleep 0.05
	done
	[ -n "$(ls -A dist)" ] || fail "rep-tar never started"
	sleep 0.2
	kill -INT -- "-$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -ne 0 ] || fail "the pipeline exited 0"
	assert_equal "$(rep-ls -o name,status </dev/null)" "$(lines "app-a${TAB}failed" "app-b${TAB}registered" \
		"app-big${TAB}failed" "app-c${TAB}registered" "app-d${TAB}deployed")"
	run last_event app-big
	assert_output "pending_deployment${TAB}failed${TAB}tester${TAB}record: not packaged: interrupted by signal 2"
	assert_equal "$(cat err)" ''
	assert_absent t1
	assert_equal "$(ls -A dist)" ''
}

# --- a usage error of a later step strands nothing --------------------------------------------

# usage_ship OPTION... -- PUSHOPTION...: the claim pipeline with rep-tar
# given OPTIONs and rep-push PUSHOPTIONs (and t1 after them).
usage_ship() {
	local tar=() push=()
	while [ "$1" != -- ]; do tar+=("$1"); shift; done
	shift
	push=("$@")
	pipe "rep-ls -s ready | rep-setstatus -q -f ready pending_deployment | rep-tar -q ${tar[*]} | rep-push -q ${push[*]} | rep-setstatus -q --record"
}

# assert_failed_by_usage NOTE_RE: app-a and app-b, claimed, are failed
# with a note matching NOTE_RE; app-c and app-d untouched; nothing pushed.
assert_failed_by_usage() {
	assert_equal "$(rep-ls -o name,status </dev/null)" "$(lines "app-a${TAB}failed" "app-b${TAB}failed" \
		"app-c${TAB}registered" "app-d${TAB}deployed")"
	local app
	for app in app-a app-b; do
		run last_event "$app"
		assert_output --regexp "^pending_deployment${TAB}failed${TAB}tester${TAB}$1\$"
	done
	assert_absent t1
}

@test "a usage error of rep-tar or rep-push in the claim pipeline: each claimed application is failed, the usage error its reason; the pipeline fails" {
	setstatus ready app-a app-b
	usage_ship --bogus -- t1
	assert_failure 1
	assert_stderr "rep-tar: --bogus: unknown option (try 'rep-tar --help')"
	assert_failed_by_usage 'record: not packaged: usage error: --bogus: unknown option'

	setstatus ready app-a app-b
	usage_ship -l 10 -- t1
	assert_failure 1
	assert_stderr --partial "rep-tar: -l 10: not a number from 1 to 9 (try 'rep-tar --help')"
	assert_failed_by_usage 'record: not packaged: usage error: -l 10: not a number from 1 to 9'

	setstatus ready app-a app-b
	usage_ship -- -j 0 t1
	assert_failure 1
	assert_stderr --partial "rep-push: -j 0: not a number from 1 to 64 (try 'rep-push --help')"
	assert_failed_by_usage "record: not live on - in rep_applications_[0-9_]+: usage error: -j 0: not a number from 1 to 64"

	# no target at all
	setstatus ready app-a app-b
	pipe 'rep-ls -s ready | rep-setstatus -q -f ready pending_deployment | rep-tar -q | rep-push -q | rep-setstatus -q --record'
	assert_failure 1
	assert_stderr --partial "rep-push: no target (try 'rep-push --help')"
	assert_failed_by_usage "record: not live on - in rep_applications_[0-9_]+: usage error: no target"
	# the archives made are left in dist/ for a push by hand
	run ls dist
	assert_line --regexp '^rep_applications_[0-9_]+\.tar\.gz$'
}

@test "a usage error reads no terminal or file: from a file, a usage error prints nothing on stdout; from a pipe, the names and archives get failure records" {
	setstatus ready app-a
	printf 'app-a\n' >names
	run --separate-stderr rep-tar --bogus <names
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: --bogus: unknown option (try 'rep-tar --help')"
	pipe 'printf "app-a\n" | rep-tar --bogus'
	assert_failure 2
	assert_output "app-a${TAB}-${TAB}-${TAB}-${TAB}failed${TAB}usage error: --bogus: unknown option"
	assert_stderr "rep-tar: --bogus: unknown option (try 'rep-tar --help')"
	# what is not a name in the piped input is passed over quietly
	pipe 'printf "../x\napp-a\n-x\n" | rep-tar --bogus'
	assert_failure 2
	assert_output "app-a${TAB}-${TAB}-${TAB}-${TAB}failed${TAB}usage error: --bogus: unknown option"
	assert_stderr "rep-tar: --bogus: unknown option (try 'rep-tar --help')"
	# rep-push: an archive and an upstream failure record, piped
	rep-tar -q -d dist app-a </dev/null >archive
	local rel
	rel=$(basename "$(cat archive)" .tar.gz)
	run --separate-stderr rep-push --bogus t1 <archive
	assert_failure 2
	assert_output ''
	pipe 'printf "app-b\t-\t-\t-\tfailed\tit broke\nx.tar.gz\n../y\t-\t-\t-\tfailed\n" | cat - archive archive | rep-push --bogus t1'
	assert_failure 2
	assert_output "$(lines "app-b${TAB}-${TAB}-${TAB}-${TAB}failed${TAB}it broke" \
		"app-a${TAB}$rel${TAB}-${TAB}$(rep-ls -o checksum app-a </dev/null)${TAB}failed${TAB}usage error: --bogus: unknown option")"
	assert_stderr "rep-push: --bogus: unknown option (try 'rep-push --help')"
	assert_absent t1
	# a dry run's usage error prints nothing, as a dry run does
	pipe 'cat archive | rep-push -n --bogus t1'
	assert_failure 2
	assert_output ''
}

# unread CMD...: CMD reads its stdin from a FIFO whose writer stays open
# (ssh host CMD, an interactive session): it must end at once, exit 2.
unread() {
	mkfifo "$BATS_TEST_TMPDIR/open"
	sleep 60 >"$BATS_TEST_TMPDIR/open" &
	local writer=$!
	run --separate-stderr timeout 20 "$@" <"$BATS_TEST_TMPDIR/open"
	kill "$writer"
	wait "$writer" || true
	rm "$BATS_TEST_TMPDIR/open"
	assert_failure 2
	assert_output ''
}

@test "a usage error of a command line that reads no input (--rollback, --status, -n, -t, names), in any order: nothing read, nothing printed" {
	setstatus ready app-a
	rep-tar -q -d dist app-a </dev/null >archive
	local opt
	for opt in --rollback --status -n; do
		# shellcheck disable=SC2016 # expanded by the pipeline's bash
		pipe 'cat archive | rep-push "$1" --bogus t1' "$opt"
		assert_failure 2
		assert_output ''
		assert_stderr "rep-push: --bogus: unknown option (try 'rep-push --help')"
		# shellcheck disable=SC2016 # expanded by the pipeline's bash
		pipe 'cat archive | rep-push --bogus "$1" t1' "$opt"
		assert_failure 2
		assert_output ''
		unread rep-push --bogus "$opt" t1
		assert_stderr "rep-push: --bogus: unknown option (try 'rep-push --help')"
	done
	unread rep-push -j 0 --rollback t1
	assert_stderr "rep-push: -j 0: not a number from 1 to 64 (try 'rep-push --help')"
	# shellcheck disable=SC2016 # expanded by the pipeline's bash
	pipe 'echo app-a | rep-tar -t "$(cat archive)" --bogus'
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: --bogus: unknown option (try 'rep-tar --help')"
	unread rep-tar --bogus -t "$(cat archive)"
	# names on the command line: stdin is not theirs
	pipe 'echo app-a | rep-tar --bogus app-z'
	assert_failure 2
	assert_output ''
	unread rep-tar --bogus app-z
	assert_absent t1
}

@test "a usage error in a pipeline that claimed nothing changes no status: deployed, ready and registered hold" {
	setstatus ready app-a app-b
	ship t1
	assert_success
	setstatus ready app-c
	pipe 'rep-ls -s deployed -s ready | rep-tar -q --bogus | rep-push -q t1 | rep-setstatus -q --record'
	assert_failure 1
	assert_stderr "rep-tar: --bogus: unknown option (try 'rep-tar --help')"
	assert_equal "$(rep-ls -o name,status </dev/null)" "$(lines "app-a${TAB}deployed" "app-b${TAB}deployed" \
		"app-c${TAB}ready" "app-d${TAB}deployed")"
	run last_event app-c
	assert_output "ready${TAB}ready${TAB}tester${TAB}record: not packaged: usage error: --bogus: unknown option"
	# rep-push -C DIR: the archives named relative to DIR are read there
	rep-setstatus -q -f ready pending_deployment app-c </dev/null >/dev/null
	rep-tar -q app-c </dev/null >list
	mkdir elsewhere
	pipe 'cat list | (cd elsewhere && rep-push -C .. --bogus t1) | rep-setstatus -q --record'
	assert_failure 1
	run last_event app-c
	assert_output --regexp "^pending_deployment${TAB}failed${TAB}tester${TAB}record: not live on - in rep_applications_[0-9_]+: usage error: --bogus: unknown option\$"
}
