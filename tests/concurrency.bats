#!/usr/bin/env bats
# Concurrent writers, and a reader who cannot write.

load helper

teardown() {
	if [ -n "${NOBODY_DIR:-}" ]; then
		rm -rf -- "$NOBODY_DIR"
	fi
}

@test "two concurrent rep-setstatus -f ready deployed claim each application exactly once" {
	mkapps 200
	register --all
	rep-ls -o name </dev/null >names
	sort -r names >names.rev
	rep-setstatus -q ready <names >/dev/null
	local p1 p2 s1=0 s2=0
	rep-setstatus -f ready deployed <names >out1 2>err1 &
	p1=$!
	rep-setstatus -f ready deployed <names.rev >out2 2>err2 &
	p2=$!
	wait "$p1" || s1=$?
	wait "$p2" || s2=$?
	assert_equal "$s1 $s2" '0 0'
	# the union of both outputs has each name once
	assert_equal "$(cut -f1 out1 out2 | sort)" "$(cat names)"
	assert_equal "$(cut -f2 out1 out2 | sort -u)" deployed
	# each summary counts what it set and what the other had taken
	local n1 n2 k1 k2
	assert_regex "$(cat err1)" '^rep-setstatus: [0-9]+ set to deployed, [0-9]+ skipped \(status not ready\)$'
	assert_regex "$(cat err2)" '^rep-setstatus: [0-9]+ set to deployed, [0-9]+ skipped \(status not ready\)$'
	read -r _ n1 _ _ _ k1 _ <err1
	read -r _ n2 _ _ _ k2 _ <err2
	assert_equal "$((n1 + n2)) $((k1 + k2))" '200 200'
	assert_equal "$(wc -l <out1) $(wc -l <out2)" "$n1 $n2"
	# the history has exactly one ready -> deployed event per application
	assert_equal "$(rep-ls --history -o name,from,to </dev/null |
		awk -F '\t' '$2 == "ready" && $3 == "deployed" { print $1 }' | sort)" "$(cat names)"
	assert_equal "$(rep-ls -o status </dev/null | sort -u)" deployed
}

# Both find no database: one makes the file, the other takes it as an empty
# database; both switch it to WAL, where SQLite fails one of two at once
# (database is locked) unless it tries again. The race is narrow: 8 rounds.
@test "two concurrent rep-register --all in a fresh directory register each application once" {
	mkapps 50
	local p1 p2 s1 s2 round names
	names=$(cd rep_applications && printf '%s\n' app-*)
	for round in 1 2 3 4 5 6 7 8; do
		rm -f metadata.db metadata.db-wal metadata.db-shm
		s1=0 s2=0
		rep-register --all </dev/null >out1 2>err1 &
		p1=$!
		rep-register --all </dev/null >out2 2>err2 &
		p2=$!
		wait "$p1" || s1=$?
		wait "$p2" || s2=$?
		assert_equal "round $round: $s1 $s2 $(cat err1 err2)" "round $round: 0 0 $(cat err1 err2)"
		assert_equal "$(cut -f1 out1 out2 | sort)" "$names"
		assert_equal "$(rep-ls -o name </dev/null)" "$names"
		assert_equal "$(rep-ls --history -o name,from,to </dev/null | sort)" \
			"$(awk '{ print $0 "\t-\tregistered" }' <<<"$names")"
	done
}

@test "a user who cannot write the directory can list but not change" {
	nobody_dir
	RO=$NOBODY_DIR
	APPS=$RO/rep_applications mkapp app-a
	APPS=$RO/rep_applications mkapp app-b README bin/run
	rep-register -q -C "$RO" app-a app-b </dev/null >/dev/null
	rep-setstatus -q -C "$RO" -m 'by root' ready app-b </dev/null >/dev/null
	chmod 644 "$RO/metadata.db"
	local expected expected_history listing
	expected=$(rep-ls -C "$RO" </dev/null)
	expected_history=$(rep-ls -C "$RO" --history </dev/null)
	# a read-only connection (rep-ls) may leave -wal/-shm behind; the last
	# read-write connection to close (sqlite3) removes them
	snapshot_db "$RO/metadata.db"
	assert_no_side_files "$RO/metadata.db"
	assert [ -f "$RO/metadata.db" ]
	listing=$(ls -lA --time-style=full-iso "$RO")
	cd "$RO"

	run --separate-stderr runuser -u nobody -- "$RO/bin/rep-ls" -C "$RO" </dev/null
	assert_success
	assert_output "$expected"
	refute_stderr
	assert_equal "$(field 1-2)" "$(lines "app-a${TAB}registered" "app-b${TAB}ready")"

	run --separate-stderr runuser -u nobody -- "$RO/bin/rep-ls" --history --db "$RO/metadata.db" </dev/null
	assert_success
	assert_output "$expected_history"
	refute_stderr

	run --separate-stderr runuser -u nobody -- "$RO/bin/rep-setstatus" -C "$RO" deployed app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-setstatus: [^'$'\n'']+$'

	run --separate-stderr runuser -u nobody -- "$RO/bin/rep-register" -C "$RO" app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr --regexp '^rep-register: [^'$'\n'']+$'

	# nothing was created, not even for a moment (the directory is unchanged)
	assert_equal "$(ls -lA --time-style=full-iso "$RO")" "$listing"
	assert_db_unchanged "$RO/metadata.db"
}
