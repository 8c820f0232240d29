#!/usr/bin/env bats
# Concurrency and crash safety: the short runs of tests/soak (make soak runs
# the long ones). Each part checks every command it runs and the state after
# it (database, history, dist/, target) and prints its figures; a broken
# promise is a line on stderr and exit 1.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

# soak PART [VAR=VALUE...]: run tests/soak PART on the tools under test.
soak() {
	local part=$1
	shift
	run --separate-stderr env SOAK_DIR="$BATS_TEST_TMPDIR/soak" REP_BIN="$REP_BIN_DIR" "$@" \
		"$BATS_TEST_DIRNAME/soak" "$part"
	# what broke is on stderr: shown with the failure, not only counted
	[ "$status" = 0 ] || printf 'stderr:\n%s\n' "$stderr"
}

# total KILLS: the last line of a run that found nothing wrong.
total() {
	printf '\nsoak: [0-9]+ commands, %s kills, 0 failed, 0 database is locked, 0 problems; seed [0-9]+; [0-9]+ s$' "$1"
}

@test "8 writers, 2 readers, rep-diff and rep-tar at once: nothing fails or is locked, each change is in the history once" {
	soak writers SOAK_ROUNDS=3
	assert_success
	refute_stderr
	assert_output --regexp "^writers: 8 writers x 3 rounds, 2 readers, rep-diff and rep-tar at once: [0-9]+ commands, 0 failed, 0 database is locked; [0-9]+ changes in the history once each, [0-9]+ compare-and-set skips, [1-9][0-9]* archives verified; [0-9]+ s$(total 0)"
	# 8 writers x 3 rounds: each round sets 3 + 2 of its own, refreshes one
	# and registers one, and claims 0 to 6 shared applications
	[[ $output =~ \;\ ([0-9]+)\ changes ]]
	assert [ "${BASH_REMATCH[1]}" -ge $((8 * 3 * 7)) ]
	assert [ "${BASH_REMATCH[1]}" -le $((8 * 3 * 13)) ]
}

@test "two rep-push to one target at once: each succeeds or fails with 'locked by'; current is complete, composed, and logged once per push after each round" {
	soak push SOAK_ROUNDS=3
	assert_success
	refute_stderr
	assert_output --regexp "^push: 3 rounds of 2 rep-push to one target at once: [0-3] both in turn, [0-3] one locked out, 0 failed; target complete after each; [0-9]+ s$(total 0)"
}

@test "SIGKILL during rep-register --all: all or nothing, no database rather than a half-made one, the next run registers everything" {
	soak kill-register SOAK_KILLS=4
	assert_success
	refute_stderr
	assert_output --regexp "^kill-register: rep-register --all of 300 applications \([0-9]+ ms\): [0-4] kills: [0-4] before the commit \\([0-4] of them with no database yet, [0-4] leaving a metadata.db.new\\), [0-4] after; [0-4] finished first; [0-9]+ s$(total '[0-4]')"
}

@test "SIGKILL during rep-setstatus of 5000 names: the whole batch or none of it, in the statuses and the history" {
	soak kill-setstatus SOAK_KILLS=4
	assert_success
	refute_stderr
	assert_output --regexp "^kill-setstatus: rep-setstatus of 5000 names \([0-9]+ ms\): [0-4] kills: [0-4] before the commit, [0-4] after; [0-4] finished first; [0-9]+ s$(total '[0-4]')"
}

@test "SIGKILL during rep-tar: dist/ holds complete archives or none, never a partial one under a final name" {
	soak kill-tar SOAK_KILLS=4
	assert_success
	refute_stderr
	assert_output --regexp "^kill-tar: rep-tar of 120 applications, 3 MiB \([0-9]+ ms\): [0-4] kills: [0-4] before the rename, [0-4] after; [0-4] temporaries left; [0-4] archives verified; [0-4] finished first; [0-9]+ s$(total '[0-4]')"
}

@test "SIGKILL during a local rep-push: current, the releases, store/ and the log consistent; the next push breaks the lock and finishes" {
	soak kill-push SOAK_KILLS=4
	assert_success
	refute_stderr
	assert_output --regexp "^kill-push: local rep-push of 100 applications, 3 MiB \([0-9]+ ms\): [0-4] kills: [0-4] before the release was staged, [0-4] staged not live, [0-4] live; [0-4] logged a switch not made; [0-4] left the lock; [0-4] lock temporaries never removed; [0-4] finished first; [0-9]+ s$(total '[0-4]')"
}

@test "a push removes the private lock files that a killed push left (.rep-push.lock.PID)" {
	mkapp app-a
	register app-a
	local a dead host
	a=$(rep-tar -q app-a </dev/null)
	cp "$a" rep_applications_20260101_000001.tar.gz
	cp "$a" rep_applications_20260101_000002.tar.gz
	rep-push -q target <<<rep_applications_20260101_000001.tar.gz >/dev/null
	# what a push killed between writing its lock line and linking it leaves
	sh -c 'exit 0' &
	dead=$!
	wait "$dead"
	host=$(uname -n)
	printf '%s\t%s\ttester@%s\t2026-01-01T00:00:00Z\n' "$host" "$dead" "$host" >"target/.rep-push.lock.$dead"
	cp "target/.rep-push.lock.$dead" "target/.rep-push.lock.$dead.stale"
	run --separate-stderr rep-push -q target <<<rep_applications_20260101_000002.tar.gz
	assert_success
	assert_output "$(push_records rep_applications_20260101_000002 target app-a)"
	refute_stderr
	assert_equal "$(ls -A target)" "$(lines current log releases store)"
	assert_equal "$(readlink target/current)" releases/rep_applications_20260101_000002
}

# fake_tool TOOL SCRIPT: bin/ with the tools under test, TOOL replaced by
# SCRIPT (bash; $real is the real one).
fake_tool() {
	mkdir -p fake
	ln -s "$REP_BIN_DIR"/rep-* fake/
	rm fake/"$1"
	printf '#!/bin/bash\nreal=%q\n%s\n' "$REP_BIN_DIR/$1" "$2" >fake/"$1"
	chmod +x fake/"$1"
}

@test "the soak sees a change recorded twice" {
	# a rep-setstatus that records each -m change a second time
	# shellcheck disable=SC2016 # the script of the fake, expanded when it runs
	fake_tool rep-setstatus '"$real" "$@" || exit
case " $* " in *" -m "*) "$real" "$@" >/dev/null 2>&1 ;; esac'
	run --separate-stderr env SOAK_DIR="$BATS_TEST_TMPDIR/soak" REP_BIN="$PWD/fake" \
		SOAK_ROUNDS=1 SOAK_WRITERS=2 "$BATS_TEST_DIRNAME/soak" writers
	assert_failure 1
	assert_regex "$stderr" $'^soak: writers: history: an event no writer was told of \\(or twice\\): [a-z0-9-]+\t[a-z_]+\t[a-z_]+\tw[12]\tw[12] r1 (own|cas)\n'
	assert_regex "$output" '^writers: 2 writers x 1 rounds, .*[1-9][0-9]* problems;'
}

@test "the soak sees a batch half applied" {
	# a rep-setstatus that sets only the first half of its batch
	# shellcheck disable=SC2016 # the script of the fake, expanded when it runs
	fake_tool rep-setstatus 'mapfile -t names
"$real" "$@" "${names[@]:0:${#names[@]} / 2}"'
	run --separate-stderr env SOAK_DIR="$BATS_TEST_TMPDIR/soak" REP_BIN="$PWD/fake" \
		SOAK_KILLS=1 SOAK_BATCH=100 "$BATS_TEST_DIRNAME/soak" kill-setstatus
	assert_failure 1
	assert_regex "$stderr" '^soak: kill-setstatus: kill 1: not all or nothing: statuses 50 [a-z]+ 50 [a-z]+ , events (0|50), expected 100 ready or 100 deployed$'
	assert_regex "$output" '[1-9][0-9]* problems;'
}
