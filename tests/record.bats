#!/usr/bin/env bats
# rep-setstatus [-n] [-q] [-H] --record [-]: the reader of rep-push's records
#   name  release  targets  checksum  event  [reason]
# (rep-setstatus(1), rep(7)). The records are written here by hand, as
# rep-push and rep-tar print them: these tests do not run either.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

R1=rep_applications_20260101_000001
R2=rep_applications_20260101_000002
OTHER=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

# app-a, app-b, app-c registered; A, B, C their checksums
setup() {
	rep_setup
	three_apps
}

# record_quietly: rep-setstatus -q --record, stdin as given, output dropped.
record_quietly() {
	"$FIXTURE_BIN/rep-setstatus" -q --record >/dev/null
}

# where NAME...: "name status live release targets" of each, as rep-ls shows them.
where() {
	rep-ls -o name,status,live,release,targets "$@" </dev/null
}

# last_event NAME: the last history event of NAME as "from to user note".
last_event() {
	rep-ls --history -o from,to,user,note "$1" </dev/null | tail -1
}

# --- live ----------------------------------------------------------------------------

@test "live: the registered content went live: deployed, a row per target, echoed, counted" {
	run --separate-stderr rep-setstatus --record < <(rec app-a "$R1" web1,web2 "$A" live;
		rec app-b "$R1" web1,web2 "$B" live)
	assert_success
	assert_records "$(records app-a deployed app-b deployed)"
	assert_stderr 'rep-setstatus: recorded: 2 live, 0 left, 0 failed'
	assert_equal "$(where app-a app-b app-c)" "$(lines \
		"app-a${TAB}deployed${TAB}$A${TAB}$R1${TAB}web1,web2" \
		"app-b${TAB}deployed${TAB}$B${TAB}$R1${TAB}web1,web2" \
		"app-c${TAB}registered${TAB}-${TAB}-${TAB}-")"
	assert_equal "$(last_event app-a)" \
		"registered${TAB}deployed${TAB}tester${TAB}record: live on web1,web2 in $R1 (${A:0:12})"
	# the rows say who and when
	assert_equal "$(sqlite3 metadata.db 'SELECT target, user FROM deployment ORDER BY app_id, target')" \
		"$(lines 'web1|tester' 'web2|tester' 'web1|tester' 'web2|tester')"
	run sqlite3 metadata.db 'SELECT DISTINCT time FROM deployment'
	assert_regex "$output" "^$TS_RE\$"
}

@test "the note a record makes (the targets and the reason quoted) is cut to 4096 bytes at a character, ending in ...; a reason longer than a note is refused" {
	local targets i
	# the first target, all two-byte characters from byte 16 of the note
	# on ("record: live on "): the cut at byte 4093 falls inside one, and
	# backs up to its start (4092 bytes, then "...")
	targets=$(printf 'é%.0s' {1..2100})
	for i in $(seq 1 300); do targets+=",wéb-$i.example.org:/srv/rep"; done
	run --separate-stderr rep-setstatus --record < <(rec app-a "$R1" "$targets" "$A" live)
	assert_success
	assert_records "$(record app-a deployed)"
	local note
	note=$(rep-ls --history -o note app-a </dev/null | tail -n 1)
	assert_equal "$(printf '%s' "$note" | wc -c)" 4095
	[[ $note == "record: live on ééé"* ]]
	assert_equal "${note: -5}" 'é...' # bytes, in the C locale
	printf '%s' "$note" | iconv -f UTF-8 -t UTF-8 >/dev/null
	# the history reads back through rep's own reader
	rep-ls --history app-a </dev/null | rep-setstatus -q -n deployed >/dev/null
	# a reason is a note: refused when longer, nothing recorded
	snapshot_db
	run --separate-stderr rep-setstatus --record < <(rec app-b "$R1" web1 "$B" failed "$(printf 'r%.0s' {1..4097})")
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: stdin:1: reason: longer than 4096 bytes'
	assert_db_unchanged
}

@test "live: content other than the registered one (a stale checksum): a deployed application is registered, an approval holds; the note says both" {
	setstatus ready app-a
	setstatus deployed app-b
	run --separate-stderr rep-setstatus --record < <(rec app-a "$R1" web1 "$OTHER" live; rec app-b "$R1" web1 "$OTHER" live)
	assert_success
	assert_records "$(records app-a ready app-b registered)"
	assert_stderr 'rep-setstatus: recorded: 2 live, 0 left, 0 failed'
	assert_equal "$(where app-a)" "app-a${TAB}ready${TAB}$OTHER${TAB}$R1${TAB}web1"
	assert_equal "$(last_event app-a)" "ready${TAB}ready${TAB}tester${TAB}record: live on web1 in $R1 (${OTHER:0:12}; registered content is ${A:0:12})"
	assert_equal "$(last_event app-b)" "deployed${TAB}registered${TAB}tester${TAB}record: live on web1 in $R1 (${OTHER:0:12}; registered content is ${B:0:12})"
}

@test "live: two archives of one push, the older content first: deployed, as the registered content is what is live" {
	setstatus pending_deployment app-a
	run --separate-stderr rep-setstatus --record < <(rec app-a "$R1" web1,web2 "$OTHER" live; rec app-a "$R2" web1,web2 "$A" live)
	assert_success
	assert_records "$(record app-a deployed)"
	assert_equal "$(where app-a)" "app-a${TAB}deployed${TAB}$A${TAB}$R2${TAB}web1,web2"
}

@test "live: a retired application live again (a rollback over its retirement) is in service: deployed with its registered content, else registered" {
	setstatus retired app-a app-b
	run --separate-stderr rep-setstatus -q --record < <(rec app-a "$R1" web1 "$A" live; rec app-b "$R1" web1 "$OTHER" live)
	assert_success
	assert_records "$(records app-a deployed app-b registered)"
	refute_stderr
	assert_equal "$(where app-a app-b)" "$(lines "app-a${TAB}deployed${TAB}$A${TAB}$R1${TAB}web1" \
		"app-b${TAB}registered${TAB}$OTHER${TAB}$R1${TAB}web1")"
	assert_equal "$(last_event app-a)" "retired${TAB}deployed${TAB}tester${TAB}record: live on web1 in $R1 (${A:0:12})"
	assert_equal "$(last_event app-b)" "retired${TAB}registered${TAB}tester${TAB}record: live on web1 in $R1 (${OTHER:0:12}; registered content is ${B:0:12})"
}

@test "live: a retired application still live where the record says (its retirement not pushed yet) stays retired" {
	rec app-a "$R1" web1 "$A" live | record_quietly
	setstatus retired app-a
	# a rollback to a release that holds it, before the retirement went out
	run --separate-stderr rep-setstatus -q --record < <(rec app-a "$R2" web1 "$A" live)
	assert_success
	assert_records "$(record app-a retired)"
	assert_equal "$(where app-a)" "app-a${TAB}retired${TAB}$A${TAB}$R2${TAB}web1"
	# live on a target where it never was: in service there again
	run --separate-stderr rep-setstatus -q --record < <(rec app-a "$R2" web1,web2 "$A" live)
	assert_success
	assert_records "$(record app-a deployed)"
}

@test "live: a later release replaces a target's row, other targets keep theirs" {
	rec app-a "$R1" web1,web2 "$A" live | record_quietly
	rec app-a "$R2" web2,web3 "$A" live | record_quietly
	assert_equal "$(sqlite3 metadata.db 'SELECT target, release FROM deployment ORDER BY target')" \
		"$(lines "web1|$R1" "web2|$R2" "web3|$R2")"
	assert_equal "$(where app-a)" "app-a${TAB}deployed${TAB}$A${TAB}$R1,$R2${TAB}web1,web2,web3"
}

# --- left ----------------------------------------------------------------------------

@test "left: rows go per target; with none left, registered; with some left, the status holds" {
	rec app-a "$R1" web1,web2 "$A" live | record_quietly
	run --separate-stderr rep-setstatus --record < <(rec app-a "$R2" web1 "$A" left)
	assert_success
	assert_records "$(record app-a deployed)"
	assert_stderr 'rep-setstatus: recorded: 0 live, 1 left, 0 failed'
	assert_equal "$(where app-a)" "app-a${TAB}deployed${TAB}$A${TAB}$R1${TAB}web2"
	assert_equal "$(last_event app-a)" "deployed${TAB}deployed${TAB}tester${TAB}record: left service on web1 in $R2"
	run --separate-stderr rep-setstatus --record < <(rec app-a "$R2" web2 "$A" left)
	assert_success
	assert_records "$(record app-a registered)"
	assert_equal "$(where app-a)" "app-a${TAB}registered${TAB}-${TAB}-${TAB}-"
	assert_equal "$(last_event app-a)" "deployed${TAB}registered${TAB}tester${TAB}record: left service on web2 in $R2"
}

@test "left: a retired application stays retired; a deployed one live nowhere goes to registered; an approval holds" {
	rec app-a "$R1" web1 "$A" live | record_quietly
	rec app-b "$R1" web1 "$B" live | record_quietly
	rec app-c "$R1" web1 "$C" live | record_quietly
	setstatus retired app-a
	setstatus ready app-c
	run --separate-stderr rep-setstatus --record < <(rec app-a "$R2" web1 "$A" left;
		rec app-b "$R2" web1 "$B" left; rec app-c "$R2" web1 "$C" left)
	assert_success
	assert_records "$(records app-a retired app-b registered app-c ready)"
	assert_stderr 'rep-setstatus: recorded: 0 live, 3 left, 0 failed'
	assert_equal "$(where app-a app-b app-c)" "$(lines "app-a${TAB}retired${TAB}-${TAB}-${TAB}-" \
		"app-b${TAB}registered${TAB}-${TAB}-${TAB}-" "app-c${TAB}ready${TAB}-${TAB}-${TAB}-")"
	assert_equal "$(last_event app-b)" "deployed${TAB}registered${TAB}tester${TAB}record: left service on web1 in $R2"
}

# --- failed --------------------------------------------------------------------------

@test "failed: the registered content did not go live: failed, with the reason; exit 1, recorded all the same" {
	setstatus pending_deployment app-a app-b
	run --separate-stderr rep-setstatus --record < <(
		rec app-a "$R1" web1,web2 "$A" failed 'staging failed on 1 of 2 targets; nothing switched'
		rec app-b "$R1" web1,web2 "$B" failed)
	assert_failure 1
	assert_records "$(records app-a failed app-b failed)"
	assert_stderr 'rep-setstatus: recorded: 0 live, 0 left, 2 failed'
	assert_equal "$(last_event app-a)" "pending_deployment${TAB}failed${TAB}tester${TAB}record: not live on web1,web2 in $R1: staging failed on 1 of 2 targets; nothing switched"
	assert_equal "$(last_event app-b)" "pending_deployment${TAB}failed${TAB}tester${TAB}record: not live on web1,web2 in $R1: see rep-push's stderr"
	assert_equal "$(where app-a)" "app-a${TAB}failed${TAB}-${TAB}-${TAB}-"
}

@test "failed: not packaged (rep-tar's record, release -) or content unknown (-): failed; another checksum: the status holds" {
	setstatus pending_deployment app-a app-b
	run --separate-stderr rep-setstatus --record < <(
		rec app-a - - "$A" failed 'app-b: modified since registered'
		rec app-b - - - failed 'interrupted by signal 15'
		rec app-c "$R1" web1 "$OTHER" failed 'not tried: rep_applications_20260101_000000 failed')
	assert_failure 1
	assert_records "$(records app-a failed app-b failed app-c registered)"
	assert_stderr 'rep-setstatus: recorded: 0 live, 0 left, 3 failed'
	assert_equal "$(last_event app-a)" "pending_deployment${TAB}failed${TAB}tester${TAB}record: not packaged: app-b: modified since registered"
	assert_equal "$(last_event app-b)" "pending_deployment${TAB}failed${TAB}tester${TAB}record: not packaged: interrupted by signal 15"
	assert_equal "$(last_event app-c)" "registered${TAB}registered${TAB}tester${TAB}record: not live on web1 in $R1: not tried: rep_applications_20260101_000000 failed"
}

@test "failed: content unknown (-) releases a claim only: deployed, ready, registered and failed hold, the failure in the history" {
	rec app-a "$R1" web1 "$A" live | record_quietly
	setstatus ready app-b
	run --separate-stderr rep-setstatus --record < <(
		rec app-a - - - failed 'usage error: --bogus: unknown option'
		rec app-b - - - failed 'usage error: --bogus: unknown option'
		rec app-c - - - failed 'interrupted by signal 2')
	assert_failure 1
	assert_records "$(records app-a deployed app-b ready app-c registered)"
	assert_equal "$(last_event app-a)" "deployed${TAB}deployed${TAB}tester${TAB}record: not packaged: usage error: --bogus: unknown option"
	assert_equal "$(last_event app-b)" "ready${TAB}ready${TAB}tester${TAB}record: not packaged: usage error: --bogus: unknown option"
	assert_equal "$(where app-a)" "app-a${TAB}deployed${TAB}$A${TAB}$R1${TAB}web1"
}

@test "failed: not packaged again (rep-tar's record) while deployed: still deployed, the failure in its history" {
	rec app-a "$R1" web1 "$A" live | record_quietly
	run --separate-stderr rep-setstatus --record < <(rec app-a - - "$A" failed 'app-a: content changed since it was registered')
	assert_failure 1
	assert_records "$(record app-a deployed)"
	assert_equal "$(last_event app-a)" "deployed${TAB}deployed${TAB}tester${TAB}record: not packaged: app-a: content changed since it was registered"
	assert_equal "$(where app-a)" "app-a${TAB}deployed${TAB}$A${TAB}$R1${TAB}web1"
}

@test "failed: already live with that content on every target: deployed; on some only: failed" {
	rec app-a "$R1" web1,web2 "$A" live | record_quietly
	rec app-b "$R1" web1 "$B" live | record_quietly
	setstatus pending_deployment app-a app-b
	run --separate-stderr rep-setstatus --record < <(
		rec app-a "$R2" web1,web2 "$A" failed 'lock held by x'
		rec app-b "$R2" web1,web2 "$B" failed 'lock held by x')
	assert_failure 1
	assert_records "$(records app-a deployed app-b failed)"
	assert_stderr 'rep-setstatus: recorded: 0 live, 0 left, 2 failed'
	# the rows are what they were
	assert_equal "$(where app-a app-b)" "$(lines "app-a${TAB}deployed${TAB}$A${TAB}$R1${TAB}web1,web2" \
		"app-b${TAB}failed${TAB}$B${TAB}$R1${TAB}web1")"
	# live there with other content: failed
	rec app-c "$R1" web1 "$OTHER" live | record_quietly
	rec app-c "$R2" web1 "$C" failed 'x' | record_quietly || true
	assert_equal "$(rep-ls -o status app-c </dev/null)" failed
}

@test "failed: a retired application stays retired" {
	setstatus retired app-a
	run --separate-stderr rep-setstatus -q --record < <(rec app-a "$R1" web1 "$A" failed 'x')
	assert_failure 1
	assert_records "$(record app-a retired)"
	refute_stderr
}

# --- the run -------------------------------------------------------------------------

@test "live: targets that went back to different contents: registered, whatever the order of the records" {
	for order in 1 2; do
		setstatus deployed app-a
		if [ "$order" = 1 ]; then
			run --separate-stderr rep-setstatus --record < <(rec app-a "$R1" web1 "$OTHER" live; rec app-a "$R2" web2 "$A" live)
		else
			run --separate-stderr rep-setstatus --record < <(rec app-a "$R2" web2 "$A" live; rec app-a "$R1" web1 "$OTHER" live)
		fi
		assert_success
		assert_records "$(record app-a registered)"
		assert_stderr 'rep-setstatus: recorded: 2 live, 0 left, 0 failed'
		assert_equal "$(where app-a)" "app-a${TAB}registered${TAB}$(printf '%s\n' "$OTHER" "$A" | sort | paste -sd,)${TAB}$R1,$R2${TAB}web1,web2"
	done
}

@test "records in input order: each application echoed once, in its final state, in order of first appearance; -H" {
	run --separate-stderr rep-setstatus -H --record < <(
		rec app-c "$R1" web1 "$C" live
		rec app-a "$R1" web1 "$A" live
		rec app-c "$R2" web1 "$C" left
		rec app-a "$R2" web1 "$A" live)
	assert_success
	assert_records "$(lines "$APP_HEADER" "$(records app-c registered app-a deployed)")"
	assert_stderr 'rep-setstatus: recorded: 3 live, 1 left, 0 failed'
	assert_equal "$(rep-ls --history -o name,from,to app-a app-c </dev/null | tail -4)" "$(lines \
		"app-c${TAB}registered${TAB}deployed" "app-a${TAB}registered${TAB}deployed" \
		"app-c${TAB}deployed${TAB}registered" "app-a${TAB}deployed${TAB}deployed")"
	assert_equal "$(where app-a)" "app-a${TAB}deployed${TAB}$A${TAB}$R2${TAB}web1"
}

@test "comments and empty lines are skipped; - reads stdin; no records: nothing to record" {
	run --separate-stderr rep-setstatus --record - < <(printf '#name\trelease\n\n'; rec app-a "$R1" w "$A" live)
	assert_success
	assert_records "$(record app-a deployed)"
	assert_stderr 'rep-setstatus: recorded: 1 live, 0 left, 0 failed'
	snapshot_db
	run --separate-stderr rep-setstatus --record </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-setstatus: recorded: 0 live, 0 left, 0 failed'
	assert_db_unchanged
}

@test "-n: echoes what would be, changes nothing; -q: no summary; -n exits 1 for failed records too" {
	rec app-a "$R1" web1 "$A" live | record_quietly
	snapshot_db
	run --separate-stderr rep-setstatus -n --record < <(
		rec app-a "$R2" web1 "$A" left
		rec app-b "$R2" web1,web2 "$B" live
		rec app-c "$R2" web1 "$C" failed 'x')
	assert_failure 1
	assert_records "$(records app-a registered app-b deployed app-c failed)"
	assert_stderr 'rep-setstatus: dry run: recorded: 1 live, 1 left, 1 failed'
	assert_db_unchanged
	run --separate-stderr rep-setstatus -n -q --record < <(rec app-b "$R2" web1 "$B" live)
	assert_success
	assert_records "$(record app-b deployed)"
	refute_stderr
	assert_db_unchanged
}

@test "the history's user is LOGNAME, and the sudo caller" {
	rec app-a "$R1" web1 "$A" live | LOGNAME=alice SUDO_USER=bob record_quietly
	assert_equal "$(last_event app-a | cut -f3)" 'alice(sudo:bob)'
	assert_equal "$(sqlite3 metadata.db 'SELECT user FROM deployment')" 'alice(sudo:bob)'
}

@test "an echo that cannot be written loses nothing but the echo: recorded, exit 2 saying so; -n changes nothing" {
	[ -w /dev/full ] || skip 'no /dev/full'
	rec app-a "$R1" web1 "$A" live >in
	snapshot_db
	run --separate-stderr bash -c 'rep-setstatus -n --record <in >/dev/full'
	assert_failure 2
	assert_stderr 'rep-setstatus: recorded, but the records could not be written: No space left on device'
	assert_db_unchanged
	run --separate-stderr bash -c 'rep-setstatus --record <in >/dev/full'
	assert_failure 2
	assert_stderr 'rep-setstatus: recorded, but the records could not be written: No space left on device'
	assert_equal "$(where app-a)" "app-a${TAB}deployed${TAB}$A${TAB}$R1${TAB}web1"
	# a reader gone: the same
	{ rec app-b "$R1" web1 "$B" live; rec app-c "$R1" web1 "$C" live; } >in
	run --separate-stderr bash -c 'rep-setstatus --record <in | true'
	assert_equal "$(rep-ls -o name,status app-b app-c </dev/null)" "$(lines "app-b${TAB}deployed" "app-c${TAB}deployed")"
}

@test "SIGINT, SIGHUP and SIGTERM (a Ctrl-C, a hangup or a stop of the whole pipeline) do not stop the reader: it records what its input still brings" {
	mkfifo fifo
	rep-setstatus -q --record <fifo >out 2>err &
	local pid=$!
	exec 4>fifo
	rec app-a "$R1" web1 "$A" live >&4
	# the reader has started, and is reading
	sleep "$STARTUP"
	kill -INT "$pid"
	kill -HUP "$pid"
	kill -TERM "$pid"
	sleep 0.2
	rec app-b "$R1" web1 "$B" failed 'interrupted by signal 2' >&4
	exec 4>&-
	local rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 1
	assert_equal "$(rep-ls -o name,status app-a app-b </dev/null)" "$(lines "app-a${TAB}deployed" "app-b${TAB}failed")"
	assert_equal "$(cat err)" ''
}

# --- bad input: exit 2, the line named, nothing changed ------------------------------

# refused LINE MESSAGE: LINE, after a good record, is refused with
# "rep-setstatus: stdin:2: MESSAGE", exit 2, nothing on stdout, the database
# unchanged; with -n too.
refused() {
	local opt
	for opt in --record -n; do
		local -a args=(--record)
		[ "$opt" = -n ] && args=(-n --record)
		printf '# case: %q\n' "$1"
		run --separate-stderr rep-setstatus "${args[@]}" < <(rec app-b "$R1" web1 "$B" live; printf '%s\n' "$1")
		assert_failure 2
		assert_output ''
		assert_stderr "rep-setstatus: stdin:2: $2"
		assert_db_unchanged
	done
}

@test "bad input: fields, events and reasons" {
	snapshot_db
	refused 'app-a' '1 field: a rep-push record has 5 (name, release, targets, checksum, event), or 6 (and reason) when the event is failed'
	refused "$(rec app-a "$R1" web1 "$A")" '4 fields: a rep-push record has 5 (name, release, targets, checksum, event), or 6 (and reason) when the event is failed'
	refused "$(rec app-a "$R1" web1 "$A" failed why more)" '7 fields: a rep-push record has 5 (name, release, targets, checksum, event), or 6 (and reason) when the event is failed'
	refused "$(rec app-a "$R1" web1 "$A" deployed)" "event 'deployed': not live, left or failed"
	refused "$(rec app-a "$R1" web1 "$A" LIVE)" "event 'LIVE': not live, left or failed"
	refused "$(rec app-a "$R1" web1 "$A" live why)" '6 fields: only a failed record has a reason'
	refused "$(rec app-a "$R1" web1 "$A" left why)" '6 fields: only a failed record has a reason'
	refused "$(rec app-a "$R1" web1 "$A" failed $'a\x01b')" 'reason: control character not allowed'
	refused "$(rec app-a "$R1" web1 "$A" failed $'caf\xc3')" 'reason: not valid UTF-8'
}

@test "bad input: names, releases, targets, checksums" {
	snapshot_db
	refused "$(rec ../x "$R1" web1 "$A" live)" "../x: invalid application name ($NAME_RULE)"
	refused "$(rec app-z "$R1" web1 "$A" live)" 'app-z: not registered'
	refused "$(rec app-a release-7 web1 "$A" live)" "release 'release-7': not a release name (rep_applications_YYYYMMDD_HHMMSS[_N])"
	refused "$(rec app-a "${R1}_1" web1 "$A" live)" "release '${R1}_1': not a release name (rep_applications_YYYYMMDD_HHMMSS[_N])"
	refused "$(rec app-a - web1 "$A" live)" "release '-': not a release name (rep_applications_YYYYMMDD_HHMMSS[_N])"
	refused "$(rec app-a - web1 "$A" left)" "release '-': not a release name (rep_applications_YYYYMMDD_HHMMSS[_N])"
	refused "$(rec app-a x web1 "$A" failed)" "release 'x': not a release name (rep_applications_YYYYMMDD_HHMMSS[_N], or -)"
	refused "$(rec app-a "$R1" '' "$A" live)" "targets '': an empty target"
	refused "$(rec app-a "$R1" web1,,web2 "$A" live)" "targets 'web1,,web2': an empty target"
	refused "$(rec app-a "$R1" ,web1 "$A" live)" "targets ',web1': an empty target"
	refused "$(rec app-a "$R1" web1, "$A" live)" "targets 'web1,': an empty target"
	refused "$(rec app-a "$R1" - "$A" live)" 'targets -: a live record names its targets'
	refused "$(rec app-a "$R1" - "$A" left)" 'targets -: a left record names its targets'
	refused "$(rec app-a "$R1" $'web\x1b[1m' "$A" live)" "targets 'web\\x1b[1m': control character not allowed"
	refused "$(rec app-a "$R1" $'web\xff' "$A" live)" $'targets \'web\xff\': not valid UTF-8'
	refused "$(rec app-a "$R1" web1 "${A^^}" live)" "checksum '${A^^}': not 64 lower-case hex digits"
	refused "$(rec app-a "$R1" web1 "${A:1}" live)" "checksum '${A:1}': not 64 lower-case hex digits"
	refused "$(rec app-a "$R1" web1 - live)" "checksum '-': not 64 lower-case hex digits"
	refused "$(rec app-a "$R1" web1 - left)" "checksum '-': not 64 lower-case hex digits"
	refused "$(rec app-a "$R1" web1 "${A}0" failed)" "checksum '${A}0': not 64 lower-case hex digits or -"
}

@test "bad input anywhere changes nothing, even after records that were good" {
	snapshot_db
	run --separate-stderr rep-setstatus --record < <(
		rec app-a "$R1" web1 "$A" live
		rec app-b "$R1" web1 "$B" failed x
		rec app-c "$R1" web1 "$C" live
		rec app-z "$R1" web1 "$C" live)
	assert_failure 2
	assert_output ''
	assert_stderr 'rep-setstatus: stdin:4: app-z: not registered'
	assert_db_unchanged
	run --separate-stderr rep-setstatus --record < <(
		rec app-a "$R1" web1 "$A" live
		echo
		rec app-c "$R1" web1 "$C" gone)
	assert_failure 2
	assert_stderr "rep-setstatus: stdin:3: event 'gone': not live, left or failed"
	assert_db_unchanged
}
