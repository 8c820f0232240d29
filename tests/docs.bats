#!/usr/bin/env bats
# What the README and the man pages tell operators to type does what they
# say: the examples are taken from the documents and run.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

TOP=$BATS_TEST_DIRNAME/..
TOOLS='rep-diff rep-ls rep-push rep-register rep-setstatus rep-tar'

@test "each tool's SEE ALSO lists every other tool and rep(7)" {
	local t other see
	for t in $TOOLS; do
		see=$(sed -n '/^\.Sh SEE ALSO/,/^\.Sh /p' "$TOP/man/$t.1")
		for other in $TOOLS; do
			[ "$other" = "$t" ] && continue
			grep -q "^\.Xr $other 1" <<<"$see" || fail "$t(1): SEE ALSO lacks $other(1)"
		done
		grep -q '^\.Xr rep 7' <<<"$see" || fail "$t(1): SEE ALSO lacks rep(7)"
	done
}

@test "README and the pages pick rep-diff's kind by its field, never by grep -w (which matches names too)" {
	run grep -n 'rep-diff.*| *grep -w' "$TOP/README.md" "$TOP"/man/*.[17]
	assert_failure 1
	# the README's line, as written, on a name that holds the word
	local line
	line=$(grep -m1 "rep-diff | grep 'unregistered\$' | rep-register" "$TOP/README.md")
	[ -n "$line" ]
	mkapp old-unregistered
	mkapp new-app
	register old-unregistered
	echo changed >>rep_applications/old-unregistered/README
	# rep-diff exits 1, as it found differences: the line's status is
	# rep-register's
	run --separate-stderr bash -c "${line%%#*}" </dev/null
	assert_success
	assert_records "$(record new-app registered)"
	assert_equal "$(rep-ls -o name,status </dev/null)" "$(lines "new-app${TAB}registered" "old-unregistered${TAB}registered")"
}

@test "rep(7)'s crontab line writes nothing when all goes well, rep-setstatus's records go to deploys.tsv; a failure is told" {
	local line cmd
	line=$(grep -m1 '^\*/15 \* \* \* \* ' "$TOP/man/rep.7")
	[ -n "$line" ]
	cmd=${line#'*/15 * * * * '}
	cmd=${cmd//cd \/srv\/rep-admin/cd $BATS_TEST_TMPDIR}
	cmd=${cmd//web1:\/srv\/rep/$BATS_TEST_TMPDIR/web1}
	mkapp app-a
	register app-a
	setstatus ready app-a
	# as cron runs it: sh, no terminal, stdin closed
	run --separate-stderr sh -c "$cmd" </dev/null
	assert_success
	assert_output ''
	refute_stderr
	assert_equal "$(cut -f 1,2 deploys.tsv)" "app-a${TAB}deployed"
	assert_equal "$(rep-ls -o status app-a </dev/null)" deployed
	# nothing ready: still silent
	run --separate-stderr sh -c "$cmd" </dev/null
	assert_success
	assert_output ''
	refute_stderr
	# a target that cannot be written: told on stderr, which cron mails
	echo v2 >>rep_applications/app-a/README
	register app-a
	setstatus ready app-a
	rm -rf web1
	: >web1
	run --separate-stderr sh -c "$cmd" </dev/null
	assert_output ''
	[ -n "$stderr" ]
	assert_equal "$(rep-ls -o status app-a </dev/null)" failed
}

@test "rep(7)'s join example pairs each application that differs with its status, under LC_ALL=C" {
	local line
	line=$(grep -m1 '^LC_ALL=C join ' "$TOP/man/rep.7")
	[ -n "$line" ]
	line=${line//\\e/\\}
	mkapp app-b
	mkapp App-a
	mkapp app_c
	register app-b App-a app_c
	setstatus ready app_c
	echo changed >>rep_applications/app-b/README
	echo changed >>rep_applications/app_c/README
	mkapp app-d
	run --separate-stderr bash -c "$line" </dev/null
	assert_success
	assert_output "$(lines "app-b${TAB}registered${TAB}modified" "app_c${TAB}ready${TAB}modified")"
}

@test "the completions' comments say how make install puts them" {
	run grep -n symlinks "$TOP/completions/rep.fish"
	assert_failure 1
	grep -q 'make install' "$TOP/completions/rep.bash"
	grep -q 'make install' "$TOP/completions/rep.fish"
}

@test "the README's and rep-ls(1)'s 'rep-diff | awk ... | rep-ls -' print the modified applications' records, and none when nothing is" {
	local line page
	line=$(grep -m1 "rep-diff | awk .* | rep-ls -" "$TOP/README.md")
	page=$(grep -m1 "^rep-diff | awk .* | rep-ls -\$" "$TOP/man/rep-ls.1")
	[ -n "$line" ] && [ -n "$page" ]
	page=${page//\\e/\\}
	mkapp app-a
	mkapp app-b
	mkapp app-c
	register app-a app-b app-c
	echo changed >>rep_applications/app-b/README
	mkapp app-d
	for cmd in "${line%%#*}" "$page"; do
		run --separate-stderr bash -c "$cmd" </dev/null
		assert_success
		assert_equal "$(cut -f1,2 <<<"$output")" "app-b${TAB}registered"
	done
	register app-b
	run --separate-stderr bash -c "${line%%#*}" </dev/null
	assert_success
	assert_output ''
}

@test "the version is the Makefile's alone: -V of every tool, and the footer of every man page as built" {
	local t page
	[ -n "$REP_VERSION" ]
	run grep -rnF -- "$REP_VERSION" "$TOP/man" "$TOP/cmd" "$TOP/lib"
	assert_failure 1
	for t in $TOOLS; do
		run --separate-stderr "$t" -V
		assert_success
		assert_output "$t $REP_VERSION"
	done
	for page in $TOOLS rep; do
		[ "$page" = rep ] && page=rep.7 || page=$page.1
		run make -s -C "$TOP" O="$BATS_TEST_TMPDIR/o" "$BATS_TEST_TMPDIR/o/man/$page"
		assert_success
		run bash -c 'mandoc -Tascii "$1" | tail -1' _ "$BATS_TEST_TMPDIR/o/man/$page"
		assert_output --regexp "^rep $REP_VERSION +[A-Z][a-z]+ [0-9]+, [0-9]{4} +rep $REP_VERSION\$"
	done
}
