#!/usr/bin/env bats
# The tools composed with pipes, as operators use them.

load helper

setup() {
	rep_setup
	mkapp app-a
	mkapp app-b
	mkapp app-c
	mkapp app-d
	register app-a app-b app-c app-d
	setstatus deployed app-d
}

# pipe CMDLINE: run a pipeline in bash with pipefail, stdin closed off.
pipe() {
	run --separate-stderr bash -o pipefail -c "$1" </dev/null
}

@test "rep-ls -s registered | rep-setstatus ready" {
	pipe 'rep-ls -s registered | rep-setstatus ready'
	assert_success
	assert_records "$(records app-a ready app-b ready app-c ready)"
	assert_stderr 'rep-setstatus: 3 set to ready'
	assert_equal "$(rep-ls -o name,status </dev/null)" "$(lines "app-a${TAB}ready" \
		"app-b${TAB}ready" "app-c${TAB}ready" "app-d${TAB}deployed")"
}

@test "rep-register --all | rep-setstatus ready marks the new applications" {
	mkapp app-e
	mkapp app-f
	pipe 'rep-register -q --all | rep-setstatus ready'
	assert_success
	assert_records "$(records app-e ready app-f ready)"
	assert_stderr 'rep-setstatus: 2 set to ready'
}

@test "rep-ls -o name | rep-register is a no-op refresh" {
	snapshot_appdata
	pipe 'rep-ls -o name | rep-register'
	assert_success
	assert_output ''
	assert_stderr 'rep-register: 0 registered, 0 refreshed, 4 unchanged'
	assert_appdata_unchanged
}

@test "rep-ls | rep-register refreshes only what changed" {
	printf 'x\n' >>rep_applications/app-d/README
	pipe 'rep-ls -H | rep-register'
	assert_success
	# the approval was for the old content
	assert_records "$(record app-d registered)"
	assert_stderr 'rep-register: 0 registered, 1 refreshed, 3 unchanged'
}

@test "echoed records feed the next tool: set, then compare-and-set" {
	pipe 'rep-setstatus ready app-a app-b | rep-setstatus -f ready pending_deployment | rep-setstatus -f pending_deployment deployed'
	assert_success
	assert_records "$(records app-a deployed app-b deployed)"
	# three processes: the order of their summaries is not fixed
	# shellcheck disable=SC2154 # stderr: set by run
	assert_equal "$(sort <<<"$stderr")" "$(lines 'rep-setstatus: 2 set to deployed, 0 skipped (status not pending_deployment)' \
		'rep-setstatus: 2 set to pending_deployment, 0 skipped (status not ready)' 'rep-setstatus: 2 set to ready')"
}

@test "records with more fields | rep-setstatus -M deployed: the extra fields become the note" {
	setstatus ready app-a app-c
	pipe "rep-ls -s ready -o name | awk -v OFS='\t' '{ print \$1, \"rep_applications_20261127_111604\", \"web1:/srv/rep,web2:/srv/rep\" }' | rep-setstatus -M -f ready deployed"
	assert_success
	assert_records "$(records app-a deployed app-c deployed)"
	assert_stderr 'rep-setstatus: 2 set to deployed, 0 skipped (status not ready)'
	run --separate-stderr rep-ls --history -s deployed -o name,from,to,note app-a app-c </dev/null
	assert_success
	assert_output "$(lines "app-a${TAB}-${TAB}registered${TAB}" \
		"app-c${TAB}-${TAB}registered${TAB}" \
		"app-a${TAB}registered${TAB}ready${TAB}" \
		"app-c${TAB}registered${TAB}ready${TAB}" \
		"app-a${TAB}ready${TAB}deployed${TAB}rep_applications_20261127_111604 web1:/srv/rep,web2:/srv/rep" \
		"app-c${TAB}ready${TAB}deployed${TAB}rep_applications_20261127_111604 web1:/srv/rep,web2:/srv/rep")"
}

@test "rep-ls -o name,status | rep-setstatus -M: the note is the rest of the record" {
	pipe 'rep-ls -o name,status app-a app-d | rep-setstatus -M failed'
	assert_success
	assert_equal "$(rep-ls --history -o name,note </dev/null | tail -n 2)" \
		"$(lines "app-a${TAB}registered" "app-d${TAB}deployed")"
}

@test "rep-ls | head -1 ends quietly" {
	mkapps 1500
	register --all
	local status prefix
	# default SIGPIPE disposition, and SIGPIPE ignored (write fails with EPIPE)
	for prefix in '' "trap '' PIPE;"; do
		# shellcheck disable=SC2016 # expanded by the inner bash
		run --separate-stderr bash -c "$prefix"' rep-ls 2>ls.err | head -n 1; echo "${PIPESTATUS[0]}" >ls.status' </dev/null
		assert_success
		assert_equal "$(field 1)" app-001
		refute_stderr
		assert_equal "$(cat ls.err)" ''
		status=$(cat ls.status)
		assert [ "$status" -eq 0 -o "$status" -eq 141 ]
	done
}

@test "rep-ls --history | head -1 ends quietly" {
	mkapps 1500
	register --all
	run --separate-stderr bash -c "trap '' PIPE; rep-ls --history 2>ls.err | head -n 1; echo \"\${PIPESTATUS[0]}\" >ls.status" </dev/null
	assert_success
	assert_equal "$(field 1)" app-a
	assert_equal "$(cat ls.err)" ''
	local status
	status=$(cat ls.status)
	assert [ "$status" -eq 0 -o "$status" -eq 141 ]
}

@test "CRLF input is refused naming the line, for every consumer" {
	snapshot_db
	pipe "rep-ls -o name | sed 's/\$/\\r/' | rep-setstatus ready"
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: stdin:1: CR before LF (convert the input with dos2unix)'
	pipe "printf '# header\\r\\napp-a\\r\\n' | rep-register"
	assert_failure 2
	assert_stderr 'rep-register: stdin:1: CR before LF (convert the input with dos2unix)'
	pipe "printf 'app-a\\napp-b\\r\\n' | rep-setstatus -M deployed"
	assert_failure 2
	assert_stderr 'rep-setstatus: stdin:2: CR before LF (convert the input with dos2unix)'
	assert_db_unchanged
}

@test "CRLF input converted with dos2unix-like tr works" {
	pipe "printf 'app-a\\r\\napp-b\\r\\n' | tr -d '\\r' | rep-setstatus -q ready"
	assert_success
	assert_records "$(records app-a ready app-b ready)"
}

@test "comments, blank lines and -H headers are skipped on input" {
	pipe '{ echo "# chosen by hand"; echo; rep-ls -H -s registered; echo "#app-d"; } | rep-setstatus ready'
	assert_success
	assert_records "$(records app-a ready app-b ready app-c ready)"
	assert_stderr 'rep-setstatus: 3 set to ready'
	pipe 'rep-setstatus -H -q failed app-a | rep-setstatus -H retired'
	assert_success
	assert_records "$(lines "$APP_HEADER" "$(records app-a retired)")"
}

@test "rep-ls --history records feed rep-setstatus by their first field" {
	pipe 'rep-ls --history -H app-b app-c | rep-setstatus -q pending_deployment'
	assert_success
	assert_records "$(records app-b pending_deployment app-c pending_deployment)"
}

@test "a bad name in the middle of a pipeline changes nothing" {
	snapshot_db
	pipe '{ rep-ls -o name; echo app-zz; } | rep-setstatus ready'
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: app-zz: not registered'
	assert_db_unchanged
}

@test "grep and awk over records" {
	setstatus ready app-b
	pipe "rep-ls | awk -F '\\t' '\$2 == \"ready\"' | rep-setstatus -q deployed"
	assert_success
	assert_records "$(record app-b deployed)"
	pipe "rep-ls -o name,status | grep -w deployed | cut -f1"
	assert_success
	assert_output "$(lines app-b app-d)"
}
