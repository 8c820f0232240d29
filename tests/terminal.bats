#!/usr/bin/env bats
# What the tools show on a terminal, and only there: the note that stdin
# (a terminal) is being read, and the progress line of long work. Run
# through script(1) (on_tty), the only way to give a tool a terminal.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

HINT='reading stdin from the terminal (end the input with Ctrl-D)'
# a progress line's end, as a regular expression
CLEAR=$'\r\e''\[K'

setup() {
	rep_setup
	mkapp app-a
	mkapp app-b README bin/run
	export TERM=xterm
}

@test "stdin a terminal: each tool that reads it says so once, then reads it as a pipe" {
	register app-a app-b
	TTY_INPUT=$'app-a\n' on_tty rep-setstatus ready
	assert_success
	assert_output "$(lines app-a "rep-setstatus: $HINT" 'rep-setstatus: 1 set to ready')"
	assert_equal "$(cut -f1,2 out)" "app-a${TAB}ready"
	# nothing typed: the same as an empty pipe
	on_tty rep-register
	assert_success
	assert_output "$(lines "rep-register: $HINT" 'rep-register: 0 registered, 0 refreshed, 0 unchanged')"
	on_tty rep-tar
	assert_success
	assert_output "$(lines "rep-tar: $HINT" 'rep-tar: nothing to package')"
	on_tty rep-push t
	assert_success
	assert_output "$(lines "rep-push: $HINT" 'rep-push: nothing to push')"
	assert [ ! -e t ]
	TTY_INPUT=$'app-b\n' on_tty rep-ls -o name,status -
	assert_success
	assert_output "$(lines app-b "rep-ls: $HINT")"
	assert_equal "$(cat out)" "app-b${TAB}registered"
	on_tty rep-diff -
	assert_success
	assert_output "$(lines "rep-diff: $HINT" 'rep-diff: in sync (0 applications)')"
	on_tty rep-diff --live
	assert_success
	assert_output "$(lines "rep-diff: $HINT" 'rep-diff: no status records on stdin')"
}

@test "stdin a terminal: not said when stderr goes to a file (only who sees the terminal is told)" {
	register app-a
	TTY_INPUT=$'app-a\n' on_tty 'rep-ls -o name - 2>err'
	assert_success
	assert_output app-a
	assert_equal "$(cat err)" ''
	assert_equal "$(cat out)" app-a
}

@test "stdin a terminal: not said with -q, nor when stdin is not read or not a terminal" {
	register app-a app-b
	on_tty rep-setstatus -q ready
	assert_success
	assert_output ''
	# operands: stdin is not read
	on_tty rep-setstatus ready app-a
	assert_success
	assert_output 'rep-setstatus: 1 set to ready'
	on_tty rep-ls
	assert_success
	assert_output ''
	assert_equal "$(cut -f1 out)" "$(lines app-a app-b)"
	run --separate-stderr rep-setstatus ready </dev/null
	assert_success
	assert_stderr 'rep-setstatus: 0 set to ready'
}

# progress LINE: whether output holds a progress line matching the
# regular expression LINE, drawn with a CR and cleared before the summary
assert_progress() {
	assert_output --regexp $'^\r'"$1"$'\e''\[K.*'"$CLEAR$2"'$'
}

@test "progress on a terminal: rep-register and rep-diff count the files hashed, rep-tar the applications packed, then clear the line" {
	mkapp app-c README a b c
	on_tty rep-register --all
	assert_success
	assert_progress 'rep-register: checking: [0-9]+/[0-9]+ files, [0-9.]+ MiB, [0-9.]+ MiB/s' \
		'rep-register: 3 registered, 0 refreshed, 0 unchanged'
	on_tty rep-diff --rehash
	assert_success
	assert_progress 'rep-diff: checking: [0-9]+/[0-9]+ files, [0-9.]+ MiB, [0-9.]+ MiB/s' \
		'rep-diff: in sync \(3 applications\)'
	on_tty rep-tar app-a app-b app-c
	assert_success
	assert_progress 'rep-tar: packing: [0-9]/3 applications, [0-9.]+/0.0 MiB, [0-9.]+ MiB/s' \
		'rep-tar: 3 applications, 7 files, [0-9]+ bytes in dist/.*'
	# the archive is as without a terminal
	run rep-tar -q -t "$(cat out)"
	assert_success
}

@test "progress over more applications than a batch (256): one count of them all, that never goes back" {
	mkapps 1000 # and app-a, app-b of setup
	on_tty rep-register --all
	assert_success
	assert_progress 'rep-register: checking: [0-9]+/1002 applications, [0-9.]+ MiB, [0-9.]+ MiB/s' \
		'rep-register: 1002 registered, 0 refreshed, 0 unchanged'
	local counts
	counts=$(printf '%s\n' "$output" | grep -o 'checking: [0-9]*/[0-9]*' | cut -d' ' -f2)
	assert_equal "$(printf '%s\n' "$counts" | cut -d/ -f2 | sort -u)" 1002
	assert_equal "$counts" "$(printf '%s\n' "$counts" | sort -t/ -k1,1n)"
}

@test "no progress line with TERM=dumb, with -q, or with stderr not a terminal" {
	TERM=dumb on_tty rep-register --all
	assert_success
	assert_output 'rep-register: 2 registered, 0 refreshed, 0 unchanged'
	TERM=dumb on_tty rep-tar app-a app-b
	assert_success
	assert_output --regexp '^rep-tar: 2 applications, 3 files, [0-9]+ bytes in dist/[^'$'\r'']*$'
	on_tty rep-diff -q --rehash
	assert_success
	assert_output ''
	on_tty rep-tar -q app-a
	assert_success
	assert_output ''
	run --separate-stderr rep-diff --rehash
	assert_success
	assert_stderr 'rep-diff: in sync (2 applications)'
}

@test "the progress line is cut to the terminal's width: the label's detail first, then its end" {
	local name
	for name in app-a app-b app-c app-d app-e app-f; do
		mkapp "$name" README a b c d e f g h
	done
	on_tty 'stty cols 60; rep-register --all'
	assert_success
	assert_progress 'rep-register: checking: [0-9]+/[0-9]+ files, [0-9.]+ MiB, [0-9.]+ MiB/s' \
		'rep-register: 6 registered, 0 refreshed, 0 unchanged'
	on_tty 'stty cols 30; rep-tar app-a app-b app-c app-d app-e app-f'
	assert_success
	# 29 columns: the end cut
	assert_output --regexp $'^\r''rep-tar: packing: 0/6 applica'$'\e''\[K'
}

@test "a message during progress starts on a cleared line" {
	mkapp app-c README
	register app-a app-b app-c
	echo changed >>rep_applications/app-c/README
	on_tty rep-tar app-a app-b app-c
	assert_failure 2
	assert_output --regexp $'\r''rep-tar: packing: .*'"$CLEAR"'rep-tar: app-c: content changed since it was registered \(see rep-diff\)$'
}
