#!/usr/bin/env bats
# rep-push to [user@]host:DIR targets, against a real sshd on 127.0.0.1
# (tests/sshd: generated keys, login as the current user).  Local targets
# are in rep-push.bats.  The target directories are on this machine, so the
# tests look at them directly; state a push would have left is made by hand
# (plant), so that only the push under test goes through ssh: every ssh
# session costs the far side's login shell.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

# --- the sshd and the ssh stand-ins --------------------------------------------------------

# The sshd is started once for the file; if it cannot be, every test fails.
# REP_SSH: the real ssh command for it.  FAKE_SSH: the same through fake-ssh
# (below).  NO_SSH: a REP_SSH for where no connection may be made.
setup_file() {
	sshd_start || return
	SSH_PORT=$(sed -E 's/.* -p ([0-9]+) .*/\1/' <<<"$REP_SSH")
	HOST=$(uname -n)
	export SSH_PORT HOST

	# fake-ssh: runs the real ssh, between it and rep-push. It logs "OP DIR"
	# for the session and "COMMAND DIR" for each command rep-push sends on
	# it to $SSH_LOG (if set), and misbehaves for one DIR when told to.
	cat >"$BATS_FILE_TMPDIR/fake-ssh" <<'EOF'
#!/usr/bin/env python3
import os, shlex, subprocess, sys, threading, time
env = os.environ.get
words = shlex.split(sys.argv[-1]) if "rep-push" in sys.argv[-1] else []
op, d = (words[4], words[5]) if len(words) > 5 else ("", "")
def log(what):
    if env("SSH_LOG"):
        with open(env("SSH_LOG"), "a") as f:
            f.write("%s %s\n" % (what, d))
log(op)
ssh = subprocess.Popen(["ssh"] + sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
out_lock = threading.Lock()
def reply(data):
    with out_lock:
        os.write(1, data)
def copy_out():
    while True:
        b = os.read(ssh.stdout.fileno(), 65536)
        if not b:
            return
        reply(b)
t = threading.Thread(target=copy_out)
t.start()
inp, to = sys.stdin.buffer, ssh.stdin
try:
    while True:
        line = inp.readline()
        if not line:
            break
        cmd = line.split()
        log(cmd[0].decode())
        # STAGE_LOG: the size of each archive staged, as sent
        if cmd[0] == b"stage" and env("STAGE_LOG"):
            with open(env("STAGE_LOG"), "a") as f:
                f.write("%s\n" % cmd[3].decode())
        # CUT_LOG: where each archive staged may be cut (CUTS)
        if cmd[0] == b"stage" and env("CUT_LOG"):
            with open(env("CUT_LOG"), "a") as f:
                f.write("%s\n" % cmd[9].decode())
        # FAIL_SWITCH=DIR: the switch on DIR fails as the far side would say it
        if cmd[0] == b"switch" and d == env("FAIL_SWITCH"):
            reply(b"!injected failure\n.error\n")
            continue
        # HANG_SWITCH=DIR: the switch on DIR is never answered
        if cmd[0] == b"switch" and d == env("HANG_SWITCH"):
            continue
        # GARBLE_SWITCH=DIR: the switch on DIR is answered out of protocol
        if cmd[0] == b"switch" and d == env("GARBLE_SWITCH"):
            reply(b"ok\n")
            continue
        # STALL_STAGE=DIR: the upload to DIR is no longer read
        if cmd[0] == b"stage" and d == env("STALL_STAGE"):
            time.sleep(60)
        to.write(line)
        if cmd[0] != b"stage":
            to.flush()
            continue
        # stage ... SIZE ... FULLSIZE FULLSHA: the release's MANIFEST
        # (FULLSIZE bytes), then the archive (SIZE bytes)
        full = int(cmd[7])
        data = inp.read(full + int(cmd[3]))
        # CORRUPT_STAGE=DIR: one byte of the archive flipped on the way
        # (the archive as sent is kept in $CORRUPT_COPY)
        if d == env("CORRUPT_STAGE"):
            k = full + (len(data) - full) // 2
            data = data[:k] + bytes([data[k] ^ 255]) + data[k + 1:]
            open(env("CORRUPT_COPY"), "wb").write(data[full:])
        # STEAL_LOCK=DIR: DIR's lock is removed before its upload
        if d == env("STEAL_LOCK"):
            os.unlink(os.path.join(d, ".rep-push.lock"))
        # CUT_STAGE=DIR: the upload loses its last 100 bytes, then the
        # connection its input
        if d == env("CUT_STAGE"):
            to.write(data[:-100])
            break
        # SLOW_STAGE=SECONDS: the upload stalls that long after 64 KiB
        # of the archive
        if env("SLOW_STAGE"):
            to.write(data[:full + 65536])
            to.flush()
            time.sleep(float(env("SLOW_STAGE")))
            data = data[full + 65536:]
        to.write(data)
        to.flush()
except BrokenPipeError:
    pass
try:
    to.close()
except BrokenPipeError:
    pass
t.join()
sys.exit(ssh.wait())
EOF
	# no-ssh: records the destination it was given, fails like ssh
	cat >"$BATS_FILE_TMPDIR/no-ssh" <<'EOF'
#!/bin/sh
while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
printf 'called: %s\n' "${2-}" >>"$NO_SSH_LOG"
echo 'no-ssh: no connection may be made here' >&2
exit 255
EOF
	# barrier-ssh: a session that asks for the lock or the listing first
	# marks its start in $BARRIER_DIR and waits (up to $BARRIER_WAIT
	# seconds) until $BARRIER_N have started, then logs how many had
	# started to $BARRIER_LOG and runs ssh: a log of N N N shows N
	# targets connecting at once
	cat >"$BATS_FILE_TMPDIR/barrier-ssh" <<'EOF'
#!/usr/bin/env python3
import os, shlex, sys, time
words = shlex.split(sys.argv[-1]) if "rep-push" in sys.argv[-1] else []
if len(words) > 5 and words[4] in ("lock", "state"):
    bd, n = os.environ["BARRIER_DIR"], int(os.environ["BARRIER_N"])
    open(os.path.join(bd, str(os.getpid())), "w").close()
    end = time.time() + float(os.environ["BARRIER_WAIT"])
    while len(os.listdir(bd)) < n and time.time() < end:
        time.sleep(0.02)
    with open(os.environ["BARRIER_LOG"], "a") as f:
        f.write("%d\n" % len(os.listdir(bd)))
os.execvp("ssh", ["ssh"] + sys.argv[1:])
EOF
	chmod +x "$BATS_FILE_TMPDIR/fake-ssh" "$BATS_FILE_TMPDIR/no-ssh" "$BATS_FILE_TMPDIR/barrier-ssh"
	FAKE_SSH="$BATS_FILE_TMPDIR/fake-ssh ${REP_SSH#ssh }"
	NO_SSH=$BATS_FILE_TMPDIR/no-ssh
	BARRIER_SSH="$BATS_FILE_TMPDIR/barrier-ssh ${REP_SSH#ssh }"
	export FAKE_SSH NO_SSH BARRIER_SSH
}

teardown_file() {
	sshd_stop
}

# Each test: its own TMPDIR (rep-push keeps ssh's messages there, in an
# unlinked file: it must be empty again after a push), T a target in the
# test's directory and D that directory.
setup() {
	rep_setup
	TMPDIR=$(mktemp -d /tmp/rep-push-ssh.XXXXXX)
	export TMPDIR
	export NO_SSH_LOG=$BATS_TEST_TMPDIR/ssh-called
	D=$BATS_TEST_TMPDIR/t
	T=$SSH_USER@127.0.0.1:$D
	BG_PIDS=()
}

teardown() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	if [ -n "${IMMUTABLE:-}" ]; then
		# shellcheck disable=SC2086 # paths without blanks
		chattr -i $IMMUTABLE 2>/dev/null || true
	fi
	rm -rf -- "$TMPDIR"
}

# --- helpers -------------------------------------------------------------------------------

# mkarchive VAR APP...: register APP... as they are now and package them;
# the archive's path goes into VAR, its release into VAR_REL.  Archives
# made one after the other sort in that order.
mkarchive() {
	local var=$1 path
	shift
	rep-register -q "$@" </dev/null >/dev/null || return
	path=$(rep-tar -q "$@" </dev/null) || return
	printf -v "$var" '%s' "$path"
	printf -v "${var}_REL" '%s' "$(basename "$path" .tar.gz)"
}

# plant DIR ARCHIVE [live]: DIR/releases/<release> unpacked by hand, as a
# push would have left it; with live, current points to it.
plant() {
	local r
	r=$(basename "$2" .tar.gz)
	mkdir -p "$1/releases/$r" && tar -C "$1/releases/$r" -xzf "$2" || return
	if [ "${3-}" = live ]; then
		ln -sfn "releases/$r" "$1/current"
	fi
}

# assert_clean DIR: no lock and nothing a push leaves while it runs.
assert_clean() {
	local leftovers
	leftovers=$(find "$1" -maxdepth 2 \( -name '.rep-push*' \) -print)
	assert_equal "$leftovers" ''
}

# assert_no_ssh: the ssh stand-in of NO_SSH never ran.
assert_no_ssh() {
	if [ -e "$NO_SSH_LOG" ]; then
		fail "ssh ran: $(cat "$NO_SSH_LOG")"
	fi
}

# assert_tmp_empty: rep-push left nothing in TMPDIR.
assert_tmp_empty() {
	assert_equal "$(ls -A "$TMPDIR")" ''
}

# tree DIR: DIR's entries relative to it: type, mode, size and mtime of
# files, link targets; what an unpacked release must show.
tree() {
	(cd "$1" && find . -mindepth 1 \( -type f -printf '%P f %m %s %T@\n' \) \
		-o \( -type l -printf '%P -> %l\n' \) -o -printf '%P %y %m\n') | LC_ALL=C sort
}

# assert_staged DIR ARCHIVE: DIR/store/<release> holds what ARCHIVE holds
# (as GNU tar unpacks it), the content the same; and DIR/releases/<release>
# is the release of ARCHIVE's applications alone (none carried over from
# another release): its MANIFEST, the archive's (every row of which adds
# an application), and in rep_applications/ a link into store/<release>
# for each application.
assert_staged() {
	local r ref app want
	r=$(basename "$2" .tar.gz)
	ref=$BATS_TEST_TMPDIR/ref-$r
	if [ ! -d "$ref" ]; then
		mkdir "$ref" && tar -C "$ref" -xzf "$2" || return
	fi
	if [ ! -d "$1/store/$r" ] || [ -L "$1/store/$r" ]; then
		fail "$1/store/$r: not a directory"
		return
	fi
	assert_equal "$(tree "$1/store/$r")" "$(tree "$ref")"
	local d
	if ! d=$(diff -r --no-dereference "$ref" "$1/store/$r" 2>&1); then
		fail "$1/store/$r differs from $2: $d"
	fi
	if [ ! -d "$1/releases/$r" ] || [ -L "$1/releases/$r" ]; then
		fail "$1/releases/$r: not a directory"
		return
	fi
	want=$(
		echo 'MANIFEST f 644'
		echo 'rep_applications d 755'
		for app in "$ref"/rep_applications/*; do
			app=${app##*/}
			echo "rep_applications/$app -> ../../../store/$r/rep_applications/$app"
		done
	)
	assert_equal "$(cd "$1/releases/$r" && find . -mindepth 1 \( -type l -printf '%P -> %l\n' \) \
		-o -printf '%P %y %m\n' | LC_ALL=C sort)" "$want"
	if ! cmp -s "$ref/MANIFEST" "$1/releases/$r/MANIFEST"; then
		fail "$1/releases/$r/MANIFEST is not the MANIFEST of $2"
	fi
}

# live_on RELEASE N PLAN: the summary of a push live on N targets, where
# it did PLAN (the same on each).
live_on() {
	local s=s
	[ "$2" != 1 ] || s=
	printf 'rep-push: %s: live on %s target%s: %s' "$1" "$2" "$s" "$3"
}

# What an archive does to a target's live release (the plan, rep-push(1)):
# APP_A_ENTERS (app-a alone) and TWO_ENTER (app-a and app-b) on a new
# target, APP_A_CHANGES on a release of app-a alone, TWO_STAY an archive
# of app-a and app-b on the release it made itself.
APP_A_ENTERS='1 enters (app-a), 0 change, 0 stay, 0 leave'
TWO_ENTER='2 enter (app-a, app-b), 0 change, 0 stay, 0 leave'
APP_A_CHANGES='0 enter, 1 changes (app-a), 0 stay, 0 leave'
TWO_STAY='0 enter, 0 change, 2 stay, 0 leave'
# what follows "releases/RELEASE exists and differs from ARCHIVE"
DIFFERS=' (staged on another live set? a new archive from rep-tar pushes the same applications)'

# logged DIR LINE...: DIR/log holds these lines, "EVENT RELEASE PREVIOUS"
# each (the time, tester and this host added).
logged() {
	local dir=$1 line event release previous want=''
	shift
	for line; do
		read -r event release previous <<<"$line"
		want+="TIME$TAB$event$TAB$release$TAB$previous${TAB}tester$TAB$HOST"$'\n'
	done
	if [ ! -f "$dir/log" ] || [ -L "$dir/log" ]; then
		fail "$dir/log: not a regular file"
		return
	fi
	assert_equal "$(norm_ts <"$dir/log")" "${want%$'\n'}"
}

# unstore DIR: DIR/store is an empty directory, mode 0755, which a
# staging makes before the upload and leaves when it fails; removed, so
# that assert_unchanged sees DIR as it was.
unstore() {
	if [ ! -d "$1/store" ] || [ -L "$1/store" ]; then
		fail "$1/store: not a directory"
		return
	fi
	assert_equal "$(stat -c %a "$1/store")" 755
	assert_equal "$(ls -A "$1/store")" ''
	rmdir "$1/store"
}

# three_releases [FILE...]: app-a (README and FILE...) packaged three
# times, as R1, R2 and R3: R1 staged on D, R2 live there.
three_releases() {
	local i
	mkapp app-a README "$@"
	for i in 1 2 3; do
		echo "$i" >rep_applications/app-a/README
		mkarchive "R$i" app-a || return
	done
	plant "$D" "$R1" && plant "$D" "$R2" live
}

# lockline HOST PID: a lock as the far side writes it.
lockline() {
	printf '%s\t%s\tsomeone@elsewhere\t2020-01-02T03:04:05Z\n' "$1" "$2"
}

# wait_gone PATH SECONDS: wait until nothing is at PATH; fails after SECONDS.
wait_gone() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if [ ! -e "$1" ] && [ ! -L "$1" ]; then
			return 0
		fi
		sleep 0.1
	done
	fail "$1 still there after $2 s"
}

# --- a push ---------------------------------------------------------------------------------

# four_archives: R1..R4, four versions of app-a (mkarchive sets R1..R4,
# R1_REL..R4_REL).
four_archives() {
	local i
	mkapp app-a
	for i in 1 2 3 4; do
		echo "$i" >rep_applications/app-a/README
		mkarchive "R$i" app-a
	done
}

@test "a push over ssh: store/<release> as in the archive, releases/<release> of links to it, current, the log, the records" {
	mkapp app-a README bin/run sub/file
	mkapp app-b
	ln -s sub/file rep_applications/app-a/link
	ln -s ../README rep_applications/app-a/sub/up
	mkdir rep_applications/app-a/empty
	chmod 600 rep_applications/app-a/README
	chmod 700 rep_applications/app-a/bin/run rep_applications/app-a/sub
	find rep_applications -exec touch -h -d @1600000000 {} +
	mkarchive A app-a app-b
	run --separate-stderr rep-push "$T" <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$T" app-a app-b)"
	assert_stderr "$(live_on "$A_REL" 1 "$TWO_ENTER")"
	assert_live "$D" "$A_REL"
	assert_equal "$(ls -A "$D")" "$(lines current log releases store)"
	assert_equal "$(ls -A "$D/releases")" "$A_REL"
	assert_equal "$(ls -A "$D/store")" "$A_REL"
	# store/<release>: the archive unpacked, with the modes rep-tar gives
	# (0755 directories and executables, 0644 the rest), the times and
	# the links of the source
	assert_equal "$(tree "$D/store/$A_REL")" "$(lines \
		"MANIFEST f 644 $(stat -c %s "$D/store/$A_REL/MANIFEST") $(stat -c %Y "$D/store/$A_REL/MANIFEST").0000000000" \
		'rep_applications d 755' \
		'rep_applications/app-a d 755' \
		'rep_applications/app-a/README f 644 13 1600000000.0000000000' \
		'rep_applications/app-a/bin d 755' \
		'rep_applications/app-a/bin/run f 755 14 1600000000.0000000000' \
		'rep_applications/app-a/empty d 755' \
		'rep_applications/app-a/link -> sub/file' \
		'rep_applications/app-a/sub d 755' \
		'rep_applications/app-a/sub/file f 644 15 1600000000.0000000000' \
		'rep_applications/app-a/sub/up -> ../README' \
		'rep_applications/app-b d 755' \
		'rep_applications/app-b/README f 644 13 1600000000.0000000000')"
	diff -r --no-dereference rep_applications "$D/store/$A_REL/rep_applications"
	assert_equal "$(cat "$D/store/$A_REL/MANIFEST")" "$(tar -xOzf "$A" MANIFEST)"
	# releases/<release>: the full MANIFEST (here the archive's: it adds
	# every application live) and a link for each application
	assert_equal "$(find "$D/releases/$A_REL" -mindepth 1 -printf '%m %y %P %l\n' | sed 's/ $//' | LC_ALL=C sort)" \
		"$(lines '644 f MANIFEST' \
			'755 d rep_applications' \
			"777 l rep_applications/app-a ../../../store/$A_REL/rep_applications/app-a" \
			"777 l rep_applications/app-b ../../../store/$A_REL/rep_applications/app-b")"
	assert_equal "$(cat "$D/releases/$A_REL/MANIFEST")" "$(tar -xOzf "$A" MANIFEST)"
	# what services see through current
	diff -r --no-dereference rep_applications/app-a "$D/current/rep_applications/app-a/"
	diff -r --no-dereference rep_applications/app-b "$D/current/rep_applications/app-b/"
	logged "$D" "push $A_REL -"
	assert_clean "$D"
	assert_tmp_empty
}

@test "a target that runs part of the archive is sent only the rest, checked; the release is whole, the records and log as for the whole" {
	mkapp app-a README bin/run
	mkapp app-b
	mkapp app-c conf/x.ini
	mkarchive A app-a app-b app-c
	run rep-push "$T" <<<"$A"
	assert_success
	echo more >>rep_applications/app-b/README
	# the same files in one more directory: the same checksum, another tree
	mkdir rep_applications/app-c/empty
	mkapp app-d
	mkarchive B app-a app-b app-c app-d
	STAGE_LOG=$BATS_TEST_TMPDIR/stage.log REP_SSH=$FAKE_SSH run --separate-stderr rep-push "$T" <<<"$B"
	assert_success
	assert_output "$(push_records "$B_REL" "$T" app-a app-b app-c app-d)"
	assert_stderr "$(live_on "$B_REL" 1 '1 enters (app-d), 1 changes (app-b), 2 stay, 0 leave')"
	# store/<release>: what was sent, app-a not among it; its MANIFEST
	# the archive's rows of what it holds
	assert_equal "$(ls "$D/store/$B_REL/rep_applications")" "$(lines app-b app-c app-d)"
	assert_equal "$(cat "$D/store/$B_REL/MANIFEST")" "$(tar -xOzf "$B" MANIFEST | grep -v '^app-a')"
	sent=$(cat stage.log)
	[ "$sent" -lt "$(stat -c %s "$B")" ] || fail "sent $sent bytes, the archive has $(stat -c %s "$B")"
	# the release: the archive's MANIFEST, app-a where the last release has it
	assert_equal "$(cat "$D/releases/$B_REL/MANIFEST")" "$(tar -xOzf "$B" MANIFEST)"
	assert_equal "$(find "$D/releases/$B_REL/rep_applications" -mindepth 1 -printf '%P %l\n' | LC_ALL=C sort)" \
		"$(lines "app-a ../../../store/$A_REL/rep_applications/app-a" \
			"app-b ../../../store/$B_REL/rep_applications/app-b" \
			"app-c ../../../store/$B_REL/rep_applications/app-c" \
			"app-d ../../../store/$B_REL/rep_applications/app-d")"
	assert_live "$D" "$B_REL"
	logged "$D" "push $A_REL -" "push $B_REL $A_REL"
	assert_clean "$D"
	assert_tmp_empty
	# a rollback sees the release as any other
	run rep-push --rollback "$T"
	assert_success
	assert_live "$D" "$A_REL"
}

# cut_at ARCHIVE CUT: the application whose entries begin at CUT
# (TAR:FROM:SKIP:TO), if the members before FROM hold TAR - SKIP bytes of
# tar, those from FROM less SKIP bytes are a tar stream that begins with
# its directory, and those up to TO hold the bytes before TAR and less
# than a member more; else what is wrong
cut_at() {
	local t from skip to first before end
	IFS=: read -r t from skip to <<<"$2"
	before=$(head -c "$from" "$1" | gzip -dc | wc -c)
	first=$(tail -c "+$((from + 1))" "$1" | gzip -dc | tail -c "+$((skip + 1))" | tar -tf - | head -n 1)
	end=$(head -c "$to" "$1" | gzip -dc | wc -c)
	if [ "$before" -ne "$((t - skip))" ] || [ "$end" -lt "$t" ] || [ "$((end - t))" -ge $((1 << 20)) ]; then
		echo "members to $from: $before bytes, to $to: $end bytes; the point is at $t, $skip into a member"
	elif [[ $first =~ ^rep_applications/([^/]+)/$ ]]; then
		echo "${BASH_REMATCH[1]}"
	else
		echo "the piece begins with $first"
	fi
}

@test "an archive of several MiB goes with where it may be cut for the far side's processors: where applications begin" {
	local a
	for a in app-a app-b app-c app-d; do
		mkapp "$a" README
		head -c 3500000 /dev/urandom >"rep_applications/$a/blob"
	done
	mkapp app-e README
	mkarchive A app-a app-b app-c app-d app-e
	CUT_LOG=$BATS_TEST_TMPDIR/cut.log REP_SSH=$FAKE_SSH run --separate-stderr rep-push "$T" <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$T" app-a app-b app-c app-d app-e)"
	assert_staged "$D" "$A"
	assert_live "$D" "$A_REL"
	# 14 MB of tar: three pieces of 4 MiB or more, cut where app-b and
	# app-d begin, the nearest to a third and two
	local cuts
	IFS=, read -ra cuts <cut.log
	assert_equal "${#cuts[@]}" 2
	assert_equal "$(cut_at "$A" "${cuts[0]}")" app-b
	assert_equal "$(cut_at "$A" "${cuts[1]}")" app-d
	# the part that a re-push sends, four applications changed: cut too,
	# where they begin in it; app-e alone: not at all
	rm cut.log
	for a in app-a app-b app-c app-d; do
		head -c 3500000 /dev/urandom >"rep_applications/$a/blob"
	done
	mkarchive B app-a app-b app-c app-d app-e
	CUT_LOG=$BATS_TEST_TMPDIR/cut.log REP_SSH=$FAKE_SSH run --separate-stderr rep-push "$T" <<<"$B"
	assert_success
	assert_equal "$(ls "$D/store/$B_REL/rep_applications")" "$(lines app-a app-b app-c app-d)"
	assert_equal "$(tr , '\n' <cut.log | wc -l)" 2
	assert_live "$D" "$B_REL"
	diff -r rep_applications "$D/current/rep_applications"
	rm cut.log
	echo more >>rep_applications/app-e/README
	mkarchive C app-a app-b app-c app-d app-e
	CUT_LOG=$BATS_TEST_TMPDIR/cut.log REP_SSH=$FAKE_SSH run --separate-stderr rep-push "$T" <<<"$C"
	assert_success
	assert_equal "$(cat cut.log)" -
	assert_live "$D" "$C_REL"
	diff -r rep_applications "$D/current/rep_applications"
}

@test "what decides that the whole archive goes: a target with no release, one that lacks all of it, store/<release> there" {
	mkapp app-a
	mkapp app-b
	mkarchive A app-a app-b
	# nothing live: the whole archive
	STAGE_LOG=$BATS_TEST_TMPDIR/stage.log REP_SSH=$FAKE_SSH run rep-push "$T" <<<"$A"
	assert_success
	echo more >>rep_applications/app-a/README
	echo more >>rep_applications/app-b/README
	mkarchive B app-a app-b
	# both changed: the whole archive
	STAGE_LOG=$BATS_TEST_TMPDIR/stage.log REP_SSH=$FAKE_SSH run rep-push -k 1 "$T" <<<"$B"
	assert_success
	assert_staged "$D" "$B"
	local e
	for e in C E; do
		echo more >>rep_applications/app-a/README
		mkarchive "$e" app-a app-b
		STAGE_LOG=$BATS_TEST_TMPDIR/stage.log REP_SSH=$FAKE_SSH run rep-push -k 1 "$T" <<<"${!e}"
		assert_success
	done
	assert_equal "$(ls "$D/store/$E_REL/rep_applications")" app-a
	# B again: its release was pruned, its store/ entry kept (app-b links
	# into it): it goes whole, and store/<release> is kept as it was
	assert_equal "$(ls "$D/releases")" "$(lines "$C_REL" "$E_REL")"
	STAGE_LOG=$BATS_TEST_TMPDIR/stage.log REP_SSH=$FAKE_SSH run rep-push -k 1 "$T" <<<"$B"
	assert_success
	assert_live "$D" "$B_REL"
	assert_staged "$D" "$B"
	assert_equal "$(cat stage.log)" "$(lines "$(stat -c %s "$A")" "$(stat -c %s "$B")" \
		"$(sed -n 3p stage.log)" "$(sed -n 4p stage.log)" "$(stat -c %s "$B")")"
	[ "$(sed -n 3p stage.log)" -lt "$(stat -c %s "$C")" ]
	[ "$(sed -n 4p stage.log)" -lt "$(stat -c %s "$E")" ]
}

@test "a store/<release> that a failed staging left, of another part, linked to by no release: made again of what is sent" {
	mkapp app-a
	mkapp app-b
	mkarchive A app-a app-b
	run rep-push "$T" <<<"$A"
	assert_success
	echo more >>rep_applications/app-a/README
	mkarchive B app-a app-b
	# what a staging of B's app-b alone would have left
	mkdir -p "$D/store/$B_REL/rep_applications/app-b"
	tar -xOzf "$B" MANIFEST | grep -v '^app-a' >"$D/store/$B_REL/MANIFEST"
	STAGE_LOG=$BATS_TEST_TMPDIR/stage.log REP_SSH=$FAKE_SSH run --separate-stderr rep-push "$T" <<<"$B"
	assert_success
	assert_live "$D" "$B_REL"
	assert_staged "$D" "$B"
	assert_equal "$(cat stage.log)" "$(stat -c %s "$B")"
	assert_clean "$D"
}

@test "an archive changed after its check, before its part is made: refused, nothing switched" {
	mkapp app-a
	mkapp app-b
	mkarchive A app-a app-b
	run rep-push "$T" <<<"$A"
	assert_success
	echo more >>rep_applications/app-b/README
	mkarchive B app-a app-b
	echo other >>rep_applications/app-b/README
	mkarchive X app-a app-b
	# the stand-in ssh puts X's bytes in B's place as the lock is asked
	# for, after rep-push checked B
	printf '#!/bin/sh\ncat "%s" >"%s"\nexec ssh "$@"\n' "$X" "$B" >swap-ssh
	chmod +x swap-ssh
	REP_SSH="$PWD/swap-ssh ${REP_SSH#ssh }" run --separate-stderr rep-push "$T" <<<"$B"
	assert_failure 1
	assert_stderr_lines \
		"rep-push: $T: $B (the part the target lacks): rep_applications/app-b/README: more bytes than MANIFEST lists for app-b" \
		"rep-push: $B_REL: staging failed on 1 of 1 targets; nothing switched"
	assert_live "$D" "$A_REL"
	assert_equal "$(ls "$D/releases")" "$A_REL"
}

@test "an archive swapped after its check for one of the same MANIFEST and another empty directory: refused, nothing switched" {
	mkapp app-a
	mkapp app-b
	mkarchive A app-a app-b
	run rep-push "$T" <<<"$A"
	assert_success
	echo more >>rep_applications/app-b/README
	mkdir rep_applications/app-b/checked
	mkarchive B app-a app-b
	rmdir rep_applications/app-b/checked
	mkdir rep_applications/app-b/other
	mkarchive X app-a app-b
	# the same rows: the checksum covers no directory
	assert_equal "$(tar -xOzf "$X" MANIFEST)" "$(tar -xOzf "$B" MANIFEST)"
	printf '#!/bin/sh\ncat "%s" >"%s"\nexec ssh "$@"\n' "$X" "$B" >swap-ssh
	chmod +x swap-ssh
	REP_SSH="$PWD/swap-ssh ${REP_SSH#ssh }" run --separate-stderr rep-push "$T" <<<"$B"
	assert_failure 1
	assert_stderr_lines \
		"rep-push: $T: $B: changed since it was checked (app-b differs in the part made of it)" \
		"rep-push: $B_REL: staging failed on 1 of 1 targets; nothing switched"
	assert_live "$D" "$A_REL"
	assert_equal "$(ls "$D/releases")" "$A_REL"
}

@test "an archive whose MANIFEST rows are not in name order: its part is cut in the order of its entries" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	mkarchive A app-a app-b app-c
	run rep-push "$T" <<<"$A"
	assert_success
	echo more >>rep_applications/app-b/README
	echo more >>rep_applications/app-c/README
	mkarchive B app-a app-b app-c
	# B again, its rows last to first, as one member with rep-tar's
	# size field
	python3 - "$B" <<-'EOF'
	import gzip, struct, sys, zlib
	tar = gzip.open(sys.argv[1]).read()
	size = int(tar[124:136].rstrip(b'\0 '), 8)
	lines = tar[512:512 + size].decode().split('\n')
	rows = [l for l in lines if l and not l.startswith('#')]
	data = ('\n'.join([lines[0]] + rows[::-1]) + '\n').encode()
	assert len(data) == size
	h = bytearray(tar[:512])
	h[148:156] = b' ' * 8
	h[148:156] = b'%06o\0 ' % sum(h)
	tar = bytes(h) + data + tar[512 + size:]
	c = zlib.compressobj(6, zlib.DEFLATED, -15)
	d = c.compress(tar) + c.flush()
	head = b'\x1f\x8b\x08\x04\0\0\0\0\0\x03\x08\0RP\x04\0' + struct.pack('<I', 28 + len(d))
	open(sys.argv[1], 'wb').write(head + d + struct.pack('<II', zlib.crc32(tar), len(tar)))
	EOF
	run rep-tar -t "$B"
	assert_success
	assert_line --index 1 --regexp '^app-c'
	STAGE_LOG=$BATS_TEST_TMPDIR/stage.log REP_SSH=$FAKE_SSH run --separate-stderr rep-push "$T" <<<"$B"
	assert_success
	assert_equal "$(ls "$D/store/$B_REL/rep_applications")" "$(lines app-b app-c)"
	[ "$(cat stage.log)" -lt "$(stat -c %s "$B")" ]
	assert_live "$D" "$B_REL"
}

@test "an archive pushed again whose store/<release> holds the part of it releases still use: that part sent, the entry kept" {
	mkapp app-a
	mkapp app-b
	mkarchive A app-a app-b
	run rep-push "$T" <<<"$A"
	assert_success
	# B changes app-a (store/B: app-a alone); C changes app-b; E puts
	# app-b back as A and B have it. B's release is pruned, store/B
	# stays: C and E link app-a into it.
	echo more >>rep_applications/app-a/README
	mkarchive B app-a app-b
	local was e
	was=$(cat rep_applications/app-b/README)
	echo more >>rep_applications/app-b/README
	mkarchive C app-a app-b
	printf '%s\n' "$was" >rep_applications/app-b/README
	mkarchive E app-a app-b
	for e in B C E; do
		run rep-push -k 1 "$T" <<<"${!e}"
		assert_success
	done
	assert_equal "$(ls "$D/releases")" "$(lines "$C_REL" "$E_REL")"
	assert_equal "$(ls "$D/store/$B_REL/rep_applications")" app-a
	# B again: the target lacks nothing store/B does not hold
	STAGE_LOG=$BATS_TEST_TMPDIR/stage.log REP_SSH=$FAKE_SSH run --separate-stderr rep-push -k 1 "$T" <<<"$B"
	assert_success
	assert_live "$D" "$B_REL"
	assert_equal "$(ls "$D/store/$B_REL/rep_applications")" app-a
	[ "$(cat stage.log)" -lt "$(stat -c %s "$B")" ]
	assert_equal "$(readlink "$D/releases/$B_REL/rep_applications/"*)" "$(lines \
		"../../../store/$B_REL/rep_applications/app-a" "../../../store/$E_REL/rep_applications/app-b")"
}

@test "an archive pushed again whose store/<release>, still used, lacks what the target lacks: refused; a copy under another name goes" {
	mkapp app-a
	mkapp app-b
	mkarchive A app-a app-b
	run rep-push "$T" <<<"$A"
	assert_success
	echo more >>rep_applications/app-a/README
	mkarchive B app-a app-b
	echo more >>rep_applications/app-b/README
	mkarchive C app-a app-b
	echo again >>rep_applications/app-b/README
	mkarchive E app-a app-b
	local e
	for e in B C E; do
		run rep-push -k 1 "$T" <<<"${!e}"
		assert_success
	done
	assert_equal "$(ls "$D/releases")" "$(lines "$C_REL" "$E_REL")"
	snapshot "$D"
	run --separate-stderr rep-push -k 1 "$T" <<<"$B"
	assert_failure 1
	assert_stderr_lines \
		"rep-push: $T: store/$B_REL exists and differs from the archive" \
		"rep-push: $B_REL: staging failed on 1 of 1 targets; nothing switched"
	assert_unchanged
	# as it says
	cp "$B" dist/rep_applications_20300101_000000.tar.gz
	run rep-push -k 1 "$T" <<<dist/rep_applications_20300101_000000.tar.gz
	assert_success
	assert_live "$D" rep_applications_20300101_000000
}

@test "on a terminal: a line counts the bytes sent to the ssh targets of all to go, cleared before each step; none with TERM=dumb" {
	mkapp app-a
	head -c 3000000 /dev/urandom >rep_applications/app-a/blob
	mkarchive A app-a
	local size mib
	size=$(stat -c %s "$A")
	mib=$(awk -v s="$size" 'BEGIN { printf "%.1f", 2 * s / 1048576 }')
	# -j 1: the line drawn last before each staging's end is the
	# sending line (side by side, two ends may follow each other)
	TERM=xterm TTY_INPUT="$A"$'\n' on_tty rep-push -j 1 "$T" "$T-2"
	assert_success
	# the archive once to each target: two of them
	assert_output --regexp $'\r''rep-push: sending '"$A_REL"': [0-9.]+/'"$mib"' MiB, [0-9.]+ MiB/s[^'$'\n'']*'$'\r\e''\[Krep-push: '"$T"': staged '"$A_REL"
	assert_live "$D" "$A_REL"
	assert_live "$D-2" "$A_REL"
	# no line drawn for a dumb terminal; the steps still shown
	TERM=dumb TTY_INPUT="$A"$'\n' on_tty rep-push "$T-3"
	assert_success
	refute_output --partial 'sending'
	refute_output --partial $'\r'
	assert_output --partial "rep-push: $T-3: staged $A_REL"
}

@test "on a terminal: the sending line counts the part of the archive a target lacks, not the whole" {
	mkapp app-a
	head -c 3000000 /dev/urandom >rep_applications/app-a/blob
	mkapp app-b
	mkarchive A app-a app-b
	run rep-push "$T" <<<"$A"
	assert_success
	echo more >>rep_applications/app-b/README
	mkarchive B app-a app-b
	TERM=xterm TTY_INPUT="$B"$'\n' on_tty rep-push "$T"
	assert_success
	# the part, app-b alone, is well under 0.1 MiB; the archive 2.9 MiB,
	# which the line counts only until the staging says what it sends
	assert_equal "$(grep -o "sending $B_REL: [0-9.]*/[0-9.]* MiB" <<<"$output" | tail -n 1)" \
		"sending $B_REL: 0.0/0.0 MiB"
	assert_live "$D" "$B_REL"
}

@test "on a terminal: a staging's message during the upload line starts on a cleared line; the line fits the terminal's width" {
	mkapp app-a
	head -c 2000000 /dev/urandom >rep_applications/app-a/blob
	mkarchive A app-a
	local bad=$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/bad
	# the first stagings start before the line's first redraw: they
	# clear it too
	TERM=xterm TTY_INPUT="$A"$'\n' CORRUPT_STAGE=$BATS_TEST_TMPDIR/bad \
		CORRUPT_COPY=$BATS_TEST_TMPDIR/sent.bin REP_SSH=$FAKE_SSH \
		on_tty "stty cols 60; rep-push -j 2 $T $bad"
	assert_failure 1
	assert_output --regexp $'\r\e''\[Krep-push: '"$bad"': the archive arrived damaged'
	refute_output --regexp $'MiB/s[^\r\n]*rep-push: '
	# every progress line within 60 columns (59, and \r...\e[K)
	local line
	while IFS= read -r line; do
		[ "${#line}" -le 59 ] || fail "wider than the terminal: '$line'"
	done < <(grep -o $'\r[^\r\e]*\e\\[K' <<<"$output" | tr -d $'\r\e' | sed 's/\[K$//')
	assert_output --regexp $'\r''rep-push: sending: [0-9.]+/[0-9.]+ MiB'
}

@test "a directory with a space, a quote, \$, backquotes and a backslash reaches the far side as one word" {
	mkapp app-a
	mkarchive A app-a
	local name="it's a \$HOME \"dir\" \`touch pwned\` \\ * here"
	local dir=$BATS_TEST_TMPDIR/$name
	run --separate-stderr rep-push "$SSH_USER@127.0.0.1:$dir" <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$SSH_USER@127.0.0.1:$dir" app-a)"
	assert_stderr "$(live_on "$A_REL" 1 "$APP_A_ENTERS")"
	assert_live "$dir" "$A_REL"
	assert_staged "$dir" "$A"
	assert_clean "$dir"
	# no other directory was made, nothing ran here or in the far side's home
	assert_equal "$(find "$BATS_TEST_TMPDIR" -mindepth 1 -maxdepth 1 -type d ! -name 'ref-*' -printf '%P\n' |
		LC_ALL=C sort)" "$(printf '%s\n' dist "$name" rep_applications | LC_ALL=C sort)"
	assert_equal "$(find "$BATS_TEST_TMPDIR" "$HOME" -maxdepth 1 -name pwned)" ''
}

@test "an ssh and a local target in one push; the same archive again is a no-op with one ssh session" {
	mkapp app-a
	mkapp app-b
	mkarchive A app-a app-b
	run --separate-stderr rep-push "$T" local <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$T,local" app-a app-b)"
	assert_stderr "$(live_on "$A_REL" 2 "$TWO_ENTER")"
	assert_live "$D" "$A_REL"
	assert_live local "$A_REL"
	assert_staged "$D" "$A"
	assert_staged local "$A"
	logged "$D" "push $A_REL -"
	logged local "push $A_REL -"
	assert_clean "$D"
	assert_clean local
	snapshot "$D" local
	# again: the same records, nothing changed, no upload and no switch;
	# only the pruning every push ends with, which names no release here
	# (then store/ is collected: nothing to remove)
	SSH_LOG=$BATS_TEST_TMPDIR/ssh.log REP_SSH=$FAKE_SSH run --separate-stderr rep-push "$T" local <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$T,local" app-a app-b)"
	assert_stderr "$(live_on "$A_REL" 2 "$TWO_STAY")"
	assert_unchanged
	assert_equal "$(cat ssh.log)" "$(lines "lock $D" "prune $D")"
	assert_tmp_empty
}

@test "a release staged with another MANIFEST: that target fails, nothing switched" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	plant "$D" "$A"
	echo '# not the same' >>"$D/releases/$A_REL/MANIFEST"
	snapshot "$D"
	run --separate-stderr rep-push "$T" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$T" 'staging failed on 1 of 1 targets; nothing switched')"
	assert_stderr "$(lines \
		"rep-push: $T: releases/$A_REL exists and differs from $A$DIFFERS" \
		"rep-push: $A_REL: staging failed on 1 of 1 targets; nothing switched")"
	assert_unchanged
	# what the archive unpacks to, store/<release>, with another MANIFEST
	# and linked to by a release: the far side refuses it, and leaves it
	mkdir "$D/store"
	mv "$D/releases/$A_REL" "$D/store/$A_REL"
	mkdir -p "$D/releases/$A_REL/rep_applications"
	ln -s "../../../store/$A_REL/rep_applications/app-a" "$D/releases/$A_REL/rep_applications/app-a"
	mv "$D/releases/$A_REL" "$D/releases/rep_applications_20000101_000000"
	snapshot "$D"
	run --separate-stderr rep-push "$T" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$T" 'staging failed on 1 of 1 targets; nothing switched')"
	assert_stderr "$(lines \
		"rep-push: $T: store/$A_REL exists and differs from the archive" \
		"rep-push: $A_REL: staging failed on 1 of 1 targets; nothing switched")"
	assert_unchanged
	# linked to by none: left by a staging that failed, made again
	rm -rf "$D/releases/rep_applications_20000101_000000"
	run --separate-stderr rep-push "$T" <<<"$A"
	assert_success
	assert_live "$D" "$A_REL"
	assert_staged "$D" "$A"
}

# --- targets that fail -------------------------------------------------------------------------

@test "unreachable and unusable targets with a good one: exit 1 naming each and why, nothing done" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	mkdir -p cur/current
	snapshot "$D"
	local refused="$SSH_USER@127.0.0.2:$BATS_TEST_TMPDIR/x"
	local noparent="$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/no/such"
	local notlink="$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/cur"
	run --separate-stderr rep-push "$T" "$refused" "$noparent" "$notlink" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$T,$refused,$noparent,$notlink" '3 of 4 targets could not be opened; nothing done')"
	assert_stderr "$(lines \
		"rep-push: $refused: ssh: connect to host 127.0.0.2 port $SSH_PORT: Connection refused" \
		"rep-push: $noparent: cannot create the directory: its parent directory does not exist" \
		"rep-push: $notlink: current: exists and is not a symbolic link" \
		"rep-push: $A_REL: 3 of 4 targets could not be opened; nothing done")"
	# the good target was locked, then let go: nothing staged or switched
	assert_unchanged
	assert_live "$D" "$OLD_REL"
	# the unusable one is as it was, but for releases/ (made when locked)
	assert_equal "$(find cur -printf '%y %m %p %l\n' | LC_ALL=C sort)" \
		"$(lines 'd 755 cur ' 'd 755 cur/current ' 'd 755 cur/releases ')"
	[ ! -e x ] || fail "x was made"
	[ ! -e no ] || fail "no was made"
	assert_tmp_empty
}

@test "a switch fails after others switched: they are switched back, exit 1, nothing printed" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive NEW app-a
	local t1="$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/t1" t2="$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/t2"
	local t3="$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/t3"
	# t1 has no release yet, t2 and t3 have OLD live; the switch on t3 fails
	plant t2 "$OLD" live
	plant t3 "$OLD" live
	SSH_LOG=$BATS_TEST_TMPDIR/ssh.log FAIL_SWITCH=$BATS_TEST_TMPDIR/t3 REP_SSH=$FAKE_SSH \
		run --separate-stderr rep-push -j 3 "$t1" "$t2" "$t3" <<<"$NEW"
	assert_failure 1
	assert_output "$(archive_failed "$NEW" "$t1,$t2,$t3" 'a switch failed; no target was left on it')"
	# t1's live set (none) differs from the others': each told its plan
	assert_stderr "$(lines \
		"rep-push: $NEW_REL: the targets' live sets differ; each keeps its own" \
		"rep-push: $t1: $NEW_REL: $APP_A_ENTERS" \
		"rep-push: $t2: $NEW_REL: $APP_A_CHANGES" \
		"rep-push: $t3: $NEW_REL: $APP_A_CHANGES" \
		"rep-push: $t3: injected failure" \
		"rep-push: $t2: switched back to $OLD_REL" \
		"rep-push: $t1: switched back to no release" \
		"rep-push: $NEW_REL: a switch failed; no target was left on it")"
	assert_equal "$(grep '^switch ' ssh.log)" "$(lines "switch $BATS_TEST_TMPDIR/t1" \
		"switch $BATS_TEST_TMPDIR/t2" "switch $BATS_TEST_TMPDIR/t3" \
		"switch $BATS_TEST_TMPDIR/t2" "switch $BATS_TEST_TMPDIR/t1")"
	if [ -e t1/current ] || [ -L t1/current ]; then
		fail "t1/current is still there"
	fi
	assert_live t2 "$OLD_REL"
	assert_live t3 "$OLD_REL"
	# the new release stays staged everywhere
	assert_staged t1 "$NEW"
	assert_staged t2 "$NEW"
	assert_staged t3 "$NEW"
	# the switches and the switches back logged; t3 never got its switch
	logged t1 "push $NEW_REL -" "revert - $NEW_REL"
	logged t2 "push $NEW_REL $OLD_REL" "revert $OLD_REL $NEW_REL"
	assert_absent t3/log
	assert_clean t1
	assert_clean t2
	assert_clean t3
	assert_tmp_empty
}

@test "an upload damaged on the way: the far side refuses it, nothing switched anywhere" {
	mkapp app-a README src/main.c
	mkarchive OLD app-a
	head -c 200000 /dev/urandom >rep_applications/app-a/blob
	mkarchive A app-a
	local good="$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/good" bad="$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/bad"
	plant good "$OLD" live
	plant bad "$OLD" live
	snapshot bad
	CORRUPT_STAGE=$BATS_TEST_TMPDIR/bad CORRUPT_COPY=$BATS_TEST_TMPDIR/sent.bin REP_SSH=$FAKE_SSH \
		run --separate-stderr rep-push -j 2 "$good" "$bad" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$good,$bad" 'staging failed on 1 of 2 targets; nothing switched')"
	local sent sum
	sent=$(sha256sum <sent.bin)
	sum=$(sha256sum <"$A")
	[ "$sent" != "$sum" ] || fail "the stand-in did not damage the upload"
	assert_stderr "$(lines \
		"rep-push: $bad: the archive arrived damaged (SHA-256 ${sent%% *}, sent ${sum%% *})" \
		"rep-push: $A_REL: staging failed on 1 of 2 targets; nothing switched")"
	# nothing left on the damaged one (but store/, made before the
	# upload); on the other the release is staged, not live
	assert_clean bad
	unstore bad
	assert_unchanged
	assert_live good "$OLD_REL"
	assert_staged good "$A"
	assert_clean good
	# an upload cut short is refused too
	CUT_STAGE=$BATS_TEST_TMPDIR/bad REP_SSH=$FAKE_SSH run --separate-stderr rep-push "$bad" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$bad" 'staging failed on 1 of 1 targets; nothing switched')"
	local size
	size=$(stat -c %s "$A")
	assert_stderr "$(lines \
		"rep-push: $bad: the archive arrived incomplete ($((size - 100)) of $size bytes)" \
		"rep-push: $A_REL: staging failed on 1 of 1 targets; nothing switched")"
	assert_clean bad
	unstore bad
	assert_unchanged
	assert_tmp_empty
}

@test "the lock removed by someone else during the push: the far side stops, nothing switched" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	snapshot "$D"
	STEAL_LOCK=$D REP_SSH=$FAKE_SSH run --separate-stderr rep-push "$T" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$T" 'staging failed on 1 of 1 targets; nothing switched')"
	assert_stderr "$(lines \
		"rep-push: $T: lost the lock (removed or broken by someone else)" \
		"rep-push: $A_REL: staging failed on 1 of 1 targets; nothing switched")"
	unstore "$D"
	assert_unchanged
}

# --- the protocol: every reply framed, every wait bounded ----------------------------------

@test "a message of several lines from the far side after the switch: each line told, the records printed, no hang" {
	three_releases NOTES
	# two files not even root may remove: pruning R1 (after the switch)
	# fails, and rm says so in two lines
	local app=$D/releases/$R1_REL/rep_applications/app-a
	IMMUTABLE="$app/README $app/NOTES"
	# shellcheck disable=SC2086 # two paths without blanks
	chattr +i $IMMUTABLE 2>/dev/null || skip 'chattr +i is not supported here'
	run --separate-stderr timeout 60 rep-push -k 1 "$T" <<<"$R3"
	# R1 was renamed out of a rollback's reach before it was removed
	local left
	left=$(cd "$D/releases" && echo .rep-push-*-"$R1_REL")
	if [ -d "$D/releases/$left" ]; then
		app=$D/releases/$left/rep_applications/app-a
		IMMUTABLE="$app/README $app/NOTES"
	fi
	# shellcheck disable=SC2086
	chattr -i $IMMUTABLE
	assert_success
	assert_output "$(push_records "$R3_REL" "$T" app-a)"
	# rm goes through a directory in no set order
	local rm="rep-push: $T: rm: cannot remove '$left/rep_applications/app-a"
	assert_equal "$(sed -n 1p <<<"$stderr")" \
		"rep-push: $T: releases/$R1_REL: cannot remove all of it (left as releases/$left):"
	assert_equal "$(sed -n 2,3p <<<"$stderr" | LC_ALL=C sort)" "$(lines \
		"$rm/NOTES': Operation not permitted" "$rm/README': Operation not permitted")"
	assert_equal "$(sed -n '4,$p' <<<"$stderr")" "$(live_on "$R3_REL" 1 "$APP_A_CHANGES")"
	assert_live "$D" "$R3_REL"
	assert_equal "$(ls "$D/releases")" "$(lines "$R2_REL" "$R3_REL")"
	# --rollback cannot reach it: it goes back to R2
	run --separate-stderr timeout 60 rep-push --rollback "$T" </dev/null
	assert_success
	assert_output "$(push_records "$R2_REL" "$T" app-a)"
	assert_live "$D" "$R2_REL"
	# the session that took the lock removed what was left
	assert_clean "$D"
	assert_equal "$(ls -A "$D/releases")" "$(lines "$R2_REL" "$R3_REL")"
	assert_tmp_empty
}

@test "a release that cannot be renamed out of the way: told, the others pruned all the same, the push done" {
	four_archives
	plant "$D" "$R1"
	plant "$D" "$R2"
	plant "$D" "$R3" live
	# R2, pruned first (newest first), cannot be renamed, not even by root
	IMMUTABLE=$D/releases/$R2_REL
	chattr +i "$IMMUTABLE" 2>/dev/null || skip 'chattr +i is not supported here'
	run --separate-stderr timeout 60 rep-push -k 1 "$T" <<<"$R4"
	chattr -i "$IMMUTABLE"
	assert_success
	assert_output "$(push_records "$R4_REL" "$T" app-a)"
	assert_stderr "$(lines "rep-push: $T: releases/$R2_REL: cannot remove it: Operation not permitted" \
		"$(live_on "$R4_REL" 1 "$APP_A_CHANGES")")"
	assert_live "$D" "$R4_REL"
	assert_equal "$(ls "$D/releases")" "$(lines "$R2_REL" "$R3_REL" "$R4_REL")"
	assert_clean "$D"
	assert_tmp_empty
}

# path_ssh: PATH_SSH, a REP_SSH that puts $BATS_TEST_TMPDIR/bin first on
# the far side's PATH, for the shims there
path_ssh() {
	mkdir -p bin
	cat >path-ssh <<'EOS'
#!/bin/bash
bin=$(cd "$(dirname "$0")" && pwd)/bin
set -- "${@:1:$#-1}" "PATH=$bin:\$PATH ${*: -1}"
exec ssh "$@"
EOS
	chmod +x path-ssh
	PATH_SSH="$BATS_TEST_TMPDIR/path-ssh ${REP_SSH#ssh }"
}

# slow TOOL SECONDS [PATTERN]: bin/TOOL, which sleeps that long (when its
# arguments match PATTERN) before it runs the real TOOL
slow() {
	mkdir -p bin
	printf '#!/bin/sh\ncase "$*" in %s) sleep %s ;; esac\nexec %s "$@"\n' "${3:-*}" "$2" "$(command -v "$1")" >"bin/$1"
	chmod +x "bin/$1"
}

@test "steps longer than --timeout on a healthy target (an unpack, a removal): keepalives, no timeout" {
	three_releases
	path_ssh
	slow tar 4
	slow rm 4 "*.rep-push-*-$R1_REL"
	run --separate-stderr timeout 60 env REP_SSH="$PATH_SSH" rep-push --timeout 2 -k 1 "$T" <<<"$R3"
	assert_success
	assert_output "$(push_records "$R3_REL" "$T" app-a)"
	assert_stderr "$(live_on "$R3_REL" 1 "$APP_A_CHANGES")"
	assert_live "$D" "$R3_REL"
	assert_staged "$D" "$R3"
	assert_equal "$(ls -A "$D/releases")" "$(lines "$R2_REL" "$R3_REL")"
	assert_clean "$D"
	assert_tmp_empty
}

@test "--rollback to a release whose MANIFEST has no final newline: its last line read whole, no hang" {
	mkapp app-a
	mkapp app-b
	mkarchive R1 app-a app-b
	echo changed >rep_applications/app-a/README
	mkarchive R2 app-a
	plant "$D" "$R1"
	plant "$D" "$R2" live
	local m=$D/releases/$R1_REL/MANIFEST
	printf '%s' "$(cat "$m")" >"$m.new" && mv "$m.new" "$m"
	[ "$(tail -c 1 "$m" | od -An -c | tr -d ' ')" != '\n' ] || fail "the MANIFEST still ends in a newline"
	run --separate-stderr timeout 60 rep-push --rollback "$T" </dev/null
	assert_success
	assert_output "$(push_records "$R1_REL" "$T" app-a app-b)"
	assert_stderr "rep-push: $R1_REL: live again on 1 target"
	assert_live "$D" "$R1_REL"
	assert_clean "$D"
}

@test "--rollback to a release changed since it was staged: the far side refuses it, nothing switched" {
	mkapp app-a README bin/run
	mkarchive R1 app-a
	echo changed >rep_applications/app-a/README
	mkarchive R2 app-a
	run --separate-stderr rep-push "$T" <<<"$R1"$'\n'"$R2"
	assert_success
	# releases/R1 (links) and store/R1 (the content), kept as they are
	local rel=$D/releases/$R1_REL sto=$D/store/$R1_REL c
	cp -a "$rel" good-release
	cp -a "$sto" good-store
	# each a change that leaves the MANIFEST as it was: to the content,
	# or to a link
	for c in "printf X | dd of=$sto/rep_applications/app-a/README bs=1 conv=notrunc status=none@@app-a: content differs in store/$R1_REL" \
		"chmod 4755 $sto/rep_applications/app-a/bin/run@@rep_applications/app-a/bin/run: mode other than 0644 or 0755 in store/$R1_REL" \
		"mkdir $sto/rep_applications/app-a/new@@app-a: 2 directories in store/$R1_REL, 1 in the manifest" \
		"ln -sfn ../../../store/$R2_REL/rep_applications/app-a $rel/rep_applications/app-a@@releases/$R1_REL/MANIFEST: app-a: not as store/$R2_REL/MANIFEST lists it"; do
		rm -rf "$rel" "$sto" && cp -a good-release "$rel" && cp -a good-store "$sto"
		eval "${c%%@@*}"
		snapshot "$D"
		run --separate-stderr timeout 60 rep-push --rollback "$T" </dev/null
		assert_failure 1
		assert_output ''
		assert_stderr "$(lines "rep-push: $T: ${c#*@@}" \
			"rep-push: $T: releases/$R1_REL is not what its MANIFEST lists" \
			'rep-push: rollback: not possible on 1 of 1 targets; nothing switched')"
		assert_unchanged
		assert_live "$D" "$R2_REL"
	done
	rm -rf "$rel" "$sto" && cp -a good-release "$rel" && cp -a good-store "$sto"
	run --separate-stderr timeout 60 rep-push --rollback "$T" </dev/null
	assert_success
	assert_output "$(push_records "$R1_REL" "$T" app-a)"
	assert_live "$D" "$R1_REL"
	logged "$D" "push $R1_REL -" "push $R2_REL $R1_REL" "rollback $R1_REL $R2_REL"
}

@test "a lock file whose last line reads ok or .ok is a lock held, not one granted; -n says so too" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	local last
	for last in ok .ok 'locked' $'ok\r'; do
		printf '%s\n%s\n' "$(lockline far.example 1)" "$last" >"$D/.rep-push.lock"
		snapshot "$D"
		run --separate-stderr timeout 60 rep-push "$T" <<<"$A"
		assert_failure 1
		assert_output "$(archive_failed "$A" "$T" '1 of 1 targets locked by another push; nothing done')"
		assert_stderr "$(lines "rep-push: $T: locked by an unreadable lock" \
			"rep-push: $A_REL: 1 of 1 targets locked by another push; nothing done")"
		assert_unchanged
		run --separate-stderr timeout 60 rep-push -n "$T" <<<"$A"
		assert_failure 1
		assert_output ''
		assert_stderr "$(lines "rep-push: $T: locked by an unreadable lock" \
			"rep-push: $A_REL: dry run: 1 of 1 targets locked by another push; nothing done")"
		assert_unchanged
	done
}

@test "a lock line with control bytes is shown with them escaped" {
	mkapp app-a
	mkarchive A app-a
	mkdir "$D"
	printf 'far.example\t1\tev\033[2Jil\tnow\n' >"$D/.rep-push.lock"
	run --separate-stderr rep-push "$T" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$T" '1 of 1 targets locked by another push; nothing done')"
	assert_stderr "$(lines 'rep-push: '"$T"': locked by pid 1 on far.example (ev\x1b[2Jil since now)' \
		"rep-push: $A_REL: 1 of 1 targets locked by another push; nothing done")"
}

@test "a far side silent from the start: --timeout gives up on it, exit 1, nothing made" {
	mkapp app-a
	mkarchive A app-a
	# connects, then runs sleep instead of the far side
	cat >silent-ssh <<'EOS'
#!/bin/bash
set -- "${@:1:$#-1}" 'exec sleep 60'
exec ssh "$@"
EOS
	chmod +x silent-ssh
	local start=$SECONDS
	REP_SSH="$BATS_TEST_TMPDIR/silent-ssh ${REP_SSH#ssh }" \
		run --separate-stderr timeout 60 rep-push --timeout 2 "$T" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$T" '1 of 1 targets could not be opened; nothing done')"
	assert_stderr "$(lines "rep-push: $T: no reply for 2 seconds: giving up (see --timeout)" \
		"rep-push: $A_REL: 1 of 1 targets could not be opened; nothing done")"
	[ $((SECONDS - start)) -lt 20 ] || fail "took $((SECONDS - start)) s"
	[ ! -e "$D" ] || fail "$D was made"
	assert_tmp_empty
	# --status too; the wait is one --timeout, not two (the first reply
	# is waited for once, whether the handshake could be tried again)
	start=$SECONDS
	REP_SSH="$BATS_TEST_TMPDIR/silent-ssh ${REP_SSH#ssh }" \
		run --separate-stderr timeout 60 rep-push --timeout 3 --status "$T"
	assert_failure 1
	assert_stderr "$(lines "rep-push: $T: no reply for 3 seconds: giving up (see --timeout)" \
		"rep-push: 1 of 1 target could not be read")"
	[ $((SECONDS - start)) -lt 6 ] || fail "took $((SECONDS - start)) s for a --timeout of 3"
}

@test "a far side that stops reading the upload: --timeout gives up, the lock goes, nothing switched" {
	big_release
	snapshot "$D"
	STALL_STAGE=$D REP_SSH=$FAKE_SSH run --separate-stderr timeout 60 rep-push --timeout 2 "$T" <<<"$BIG"
	assert_failure 1
	assert_output "$(archive_failed "$BIG" "$T" 'staging failed on 1 of 1 targets; nothing switched')"
	assert_stderr "$(lines "rep-push: $T: the far side stopped reading for 2 seconds: giving up (see --timeout)" \
		"rep-push: $BIG_REL: staging failed on 1 of 1 targets; nothing switched")"
	wait_gone "$D/.rep-push.lock" 10
	local i
	for ((i = 0; i < 50; i++)); do
		[ -n "$(find "$D" -name '.rep-push*')" ] || break
		sleep 0.1
	done
	assert_unchanged
}

@test "a switch never answered, or answered out of protocol: the target may have moved, said so, exit 3" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	HANG_SWITCH=$D REP_SSH=$FAKE_SSH run --separate-stderr timeout 60 rep-push --timeout 2 "$T" <<<"$A"
	assert_failure 3
	assert_output "$(archive_failed "$A" "$T" 'switch-back failed: the fleet is mixed')"
	assert_stderr "$(lines "rep-push: $T: no reply for 2 seconds: giving up (see --timeout)" \
		"rep-push: $T: may be on $A_REL or still on $OLD_REL: it stopped answering during the switch" \
		"rep-push: $A_REL: what is live now: unknown on $T" \
		"rep-push: $A_REL: a switch failed, and 1 target could not be switched back")"
	# (the stand-in never passed the switch on)
	assert_live "$D" "$OLD_REL"
	wait_gone "$D/.rep-push.lock" 10
	# an answer out of protocol (the old one's "ok") is no answer either
	GARBLE_SWITCH=$D REP_SSH=$FAKE_SSH run --separate-stderr timeout 60 rep-push "$T" <<<"$A"
	assert_failure 3
	assert_output "$(archive_failed "$A" "$T" 'switch-back failed: the fleet is mixed')"
	assert_stderr "$(lines "rep-push: $T: protocol error: the far side sent 'ok'" \
		"rep-push: $T: may be on $A_REL or still on $OLD_REL: it stopped answering during the switch" \
		"rep-push: $A_REL: what is live now: unknown on $T" \
		"rep-push: $A_REL: a switch failed, and 1 target could not be switched back")"
	assert_live "$D" "$OLD_REL"
	wait_gone "$D/.rep-push.lock" 10
}

@test "anything a login shell prints before the far side speaks is a protocol error, not skipped" {
	mkapp app-a
	mkarchive A app-a
	cat >chatty-ssh <<'EOS'
#!/bin/sh
printf 'Welcome to \033[1mweb1\033[0m!\n'
exec ssh "$@"
EOS
	chmod +x chatty-ssh
	REP_SSH="$BATS_TEST_TMPDIR/chatty-ssh ${REP_SSH#ssh }" run --separate-stderr timeout 60 rep-push "$T" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$T" '1 of 1 targets could not be opened; nothing done')"
	assert_stderr "$(lines \
		"rep-push: $T: protocol error: the far side sent 'Welcome to \\x1b[1mweb1\\x1b[0m!' (do the login shell's start-up files print anything?)" \
		"rep-push: $A_REL: 1 of 1 targets could not be opened; nothing done")"
	wait_gone "$D/.rep-push.lock" 10
}

# --- target-side safety --------------------------------------------------------------------

@test "releases/ a symbolic link: refused, nothing written or removed where it points; -n and --rollback too" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	mkdir -p "$D" elsewhere/releases
	plant elsewhere "$OLD"
	ln -s ../elsewhere/releases "$D/releases"
	ln -s "releases/$OLD_REL" "$D/current"
	snapshot "$D" elsewhere
	local why="rep-push: $T: releases: a symbolic link (refused: rep-push writes only inside the target)"
	run --separate-stderr rep-push -k 1 "$T" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$T" '1 of 1 targets could not be opened; nothing done')"
	assert_stderr "$(lines "$why" "rep-push: $A_REL: 1 of 1 targets could not be opened; nothing done")"
	assert_unchanged
	run --separate-stderr rep-push -n "$T" <<<"$A"
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "$why" "rep-push: $A_REL: dry run: 1 of 1 targets could not be opened; nothing done")"
	run --separate-stderr rep-push --rollback "$T" </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "$why" "rep-push: rollback: 1 of 1 targets could not be opened; nothing done")"
	assert_unchanged
}

@test "a symbolic link at .rep-push.lock: refused, not followed, its destination untouched" {
	mkapp app-a
	mkarchive A app-a
	mkdir -p "$D/releases" victim
	echo precious >victim/file
	local dest
	for dest in ../victim ../victim/file ../victim/none; do
		ln -sfn "$dest" "$D/.rep-push.lock"
		snapshot "$D" victim
		run --separate-stderr rep-push "$T" <<<"$A"
		assert_failure 1
		assert_output "$(archive_failed "$A" "$T" '1 of 1 targets could not be opened; nothing done')"
		assert_stderr "$(lines "rep-push: $T: .rep-push.lock: not a regular file (refused, not followed)" \
			"rep-push: $A_REL: 1 of 1 targets could not be opened; nothing done")"
		assert_unchanged
		run --separate-stderr rep-push -n "$T" <<<"$A"
		assert_failure 1
		assert_stderr "$(lines "rep-push: $T: .rep-push.lock: not a regular file (refused, not followed)" \
			"rep-push: $A_REL: dry run: 1 of 1 targets could not be opened; nothing done")"
	done
	assert_equal "$(cat victim/file)" precious
}

@test "a leftover staging 1,100 levels deep, with 0555 and 0000 directories, is removed and the push goes on" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	local deep=$D/releases/.rep-push-4242 path
	path=$(printf 'd/%.0s' $(seq 1100))
	mkdir "$deep"
	(cd "$deep" && mkdir -p "$path" && echo bottom >"${path}file") || fail "cannot build the deep tree"
	mkdir "$deep/ro" "$deep/none"
	touch "$deep/ro/file" "$deep/none/file"
	chmod 555 "$deep/ro"
	chmod 000 "$deep/none"
	ln -s /etc "$deep/etc"
	run --separate-stderr rep-push "$T" <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$T" app-a)"
	assert_stderr "$(live_on "$A_REL" 1 "$APP_A_CHANGES")"
	assert_live "$D" "$A_REL"
	assert_clean "$D"
	assert_equal "$(ls "$D/releases")" "$(lines "$OLD_REL" "$A_REL")"
	[ -e /etc/passwd ] || fail "the link was followed"
}

@test "a planted .rep-push-current link to a directory elsewhere is removed, not written through" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	mkdir victim
	ln -s ../victim "$D/.rep-push-current"
	run --separate-stderr rep-push "$T" <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$T" app-a)"
	assert_stderr "$(live_on "$A_REL" 1 "$APP_A_CHANGES")"
	assert_live "$D" "$A_REL"
	assert_clean "$D"
	assert_equal "$(ls -A victim)" ''
}

@test "a remote target that is a file, or under one: 'not a directory', nothing written" {
	mkapp app-a
	mkarchive A app-a
	echo data >file
	local t1=$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/file t2=$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/file/sub
	run --separate-stderr rep-push "$t1" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$t1" '1 of 1 targets could not be opened; nothing done')"
	assert_stderr "$(lines "rep-push: $t1: not a directory" \
		"rep-push: $A_REL: 1 of 1 targets could not be opened; nothing done")"
	run --separate-stderr rep-push -n "$t1" <<<"$A"
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: $t1: not a directory" \
		"rep-push: $A_REL: dry run: 1 of 1 targets could not be opened; nothing done")"
	run --separate-stderr rep-push "$t2" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$t2" '1 of 1 targets could not be opened; nothing done')"
	assert_stderr "$(lines "rep-push: $t2: cannot create the directory: its parent is not a directory" \
		"rep-push: $A_REL: 1 of 1 targets could not be opened; nothing done")"
	assert_equal "$(cat file)" data
}

# --- refused before any connection ---------------------------------------------------------

@test "bad, truncated, corrupted and hostile archives: exit 2 before any connection, targets untouched" {
	mkapp app-a README sub/file
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	snapshot "$D"
	local new="$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/new" size m stamp=20200101_000000 n=0 c NL=$'\n'
	size=$(stat -c %s "$A")
	m=$(tar -xOzf "$A" MANIFEST)
	mkdir x
	tar -C x -xzf "$A"
	# bad/N/rep_applications_<stamp>.tar.gz: the variants, each under a valid name
	bad() {
		n=$((n + 1))
		mkdir -p "bad/$n"
		BAD=bad/$n/rep_applications_$stamp.tar.gz
	}
	# try EXPECTED-STDERR INPUT [READ]: refused, exit 2, nothing ran or
	# changed; the archive READ before the bad one gets failed records,
	# the message their reason
	try() {
		run --separate-stderr rep-push "$T" "$new" <<<"$2"
		assert_failure 2
		if [ -n "${3-}" ]; then
			assert_output "$(archive_failed "$3" "$T,$new" "${1#rep-push: }")"
		else
			assert_output ''
		fi
		if [[ $1 == '~'* ]]; then assert_stderr --regexp "${1#\~}"; else assert_stderr "$1"; fi
		assert_no_ssh
		assert_unchanged
		[ ! -e new ] || fail "new was made"
	}
	export REP_SSH=$NO_SSH
	try "rep-push: dist/x.tar.gz: not a rep-tar archive name (rep_applications_YYYYMMDD_HHMMSS[_N].tar.gz)" dist/x.tar.gz
	try "rep-push: dist/rep_applications_2020_1.tar.gz: not a rep-tar archive name (rep_applications_YYYYMMDD_HHMMSS[_N].tar.gz)" \
		dist/rep_applications_2020_1.tar.gz
	bad
	try "rep-push: $BAD: No such file or directory" "$A"$'\n'"$BAD" "$A"
	try "rep-push: $A: release $A_REL given twice" "$A"$'\n'"$A" "$A"
	bad
	echo 'just text' >"$BAD"
	try "rep-push: $BAD: not a gzip-compressed tar archive" "$BAD"
	bad
	head -c $((size / 2)) "$A" >"$BAD"
	try "rep-push: $BAD: truncated archive" "$A"$'\n'"$BAD" "$A"
	bad
	head -c $((size - 4)) "$A" >"$BAD"
	try "rep-push: $BAD: truncated archive" "$BAD"
	bad
	cp "$A" "$BAD"
	flip_byte "$BAD" $((size / 2))
	try "~^rep-push: ${BAD//./\\.}: [^$NL]+\$" "$BAD"
	bad
	cp "$A" "$BAD"
	flip_byte "$BAD" $((size - 6)) # the gzip CRC-32
	try "~^rep-push: ${BAD//./\\.}: [^$NL]+\$" "$BAD"
	bad
	tar -C x -czf "$BAD" rep_applications MANIFEST
	try "rep-push: $BAD: rep_applications/: a header that is not POSIX ustar (not in the form rep-tar writes)" "$BAD"
	bad
	pytar "$BAD" d:rep_applications/ "f:MANIFEST:$m"
	try "rep-push: $BAD: first entry is not MANIFEST" "$BAD"
	bad
	echo extra >x/rep_applications/app-a/extra
	rebuild x "$BAD"
	rm x/rep_applications/app-a/extra
	try "rep-push: $BAD: rep_applications/app-a/sub/file: more files than MANIFEST lists for app-a" "$BAD"
	bad
	cp x/rep_applications/app-a/README readme
	printf '%040d\n' 0 >x/rep_applications/app-a/README
	rebuild x "$BAD"
	try "rep-push: $BAD: rep_applications/app-a/README: more bytes than MANIFEST lists for app-a" "$BAD"
	bad
	echo CHANGED >x/rep_applications/app-a/README # the same size
	rebuild x "$BAD"
	cp readme x/rep_applications/app-a/README
	try "rep-push: $BAD: app-a: content does not match the manifest" "$BAD"
	bad
	mkdir x/rep_applications/app-z
	echo z >x/rep_applications/app-z/README
	rebuild x "$BAD"
	rm -r x/rep_applications/app-z
	try "rep-push: $BAD: rep_applications/app-z/: application not in the manifest" "$BAD"
	bad
	echo evil >x/zzz
	rebuild x "$BAD" zzz
	rm x/zzz
	try "rep-push: $BAD: zzz: outside rep_applications/" "$BAD"
	bad
	{ gzip -dc "$A"; head -c 300000 /dev/zero; echo x; } | gzip >"$BAD"
	try "rep-push: $BAD: data after the end of the archive" "$BAD"
	bad
	{ gzip -dc "$A"; head -c 3000000 /dev/zero; } | gzip >"$BAD"
	try "rep-push: $BAD: more than 1 MiB of padding after the end of the archive" "$BAD"
	# hostile entries, in python's archive of the same content
	local -a base=("f:MANIFEST:$m"$'\n' d:rep_applications/ d:rep_applications/app-a/
		"f:rep_applications/app-a/README:changed"$'\n' d:rep_applications/app-a/sub/
		"f:rep_applications/app-a/sub/file:app-a/sub/file"$'\n')
	bad
	pytar "$BAD" "${base[@]}"
	run --separate-stderr rep-tar -t "$BAD" </dev/null
	assert_success # the control: this one is fine
	for c in \
		'f:../x:evil|../x: unsafe path' \
		'f:/tmp/rep-push-evil:evil|/tmp/rep-push-evil: unsafe path' \
		'f:rep_applications/app-a/../../x:evil|rep_applications/app-a/../../x: unsafe path' \
		'l:rep_applications/app-a/out:/etc|rep_applications/app-a/out: symlink points outside its application' \
		'l:rep_applications/app-a/up:../..|rep_applications/app-a/up: symlink points outside its application' \
		'h:rep_applications/app-a/hard:rep_applications/app-a/README|rep_applications/app-a/hard: a hard link (not in the form rep-tar writes)' \
		'c:rep_applications/app-a/null|rep_applications/app-a/null: a character device (not in the form rep-tar writes)'; do
		bad
		pytar "$BAD" "${base[@]}" "${c%%|*}"
		try "rep-push: $BAD: ${c#*|}" "$BAD"
	done
	# (a manifest listing more files, or the count would stop it first)
	bad
	pytar "$BAD" "f:MANIFEST:$(awk -F'\t' -v OFS='\t' '!/^#/ { $2 = 10; $3 = 1000 } 1' <<<"$m")"$'\n' "${base[@]:1}" \
		'l:rep_applications/app-a/zlnk:sub' 'f:rep_applications/app-a/zlnk/x:evil'
	try "rep-push: $BAD: rep_applications/app-a/zlnk/x: below no directory of the archive (not in the form rep-tar writes)" "$BAD"
}

@test "data right after the end of the tar (in the same gzip stream): exit 2 before any connection" {
	mkapp app-a
	mkarchive A app-a
	local junk
	mkdir bad
	export REP_SSH=$NO_SSH
	for junk in 1 1024; do
		{ gzip -dc "$A"; head -c "$junk" /dev/zero | tr '\0' x; } | gzip >"bad/$A_REL.tar.gz"
		run --separate-stderr rep-push "$T" <<<"bad/$A_REL.tar.gz"
		assert_failure 2
		assert_output ''
		assert_stderr "rep-push: bad/$A_REL.tar.gz: data after the end of the archive"
		assert_no_ssh
	done
}

@test "targets that could smuggle options or commands to ssh or the far side: exit 2, no connection" {
	mkapp app-a
	mkarchive A app-a
	export REP_SSH=$NO_SSH
	local h=127.0.0.1 d=$BATS_TEST_TMPDIR/d t why nl=$'\n' shown_nl='\x0a'
	local -a cases=(
		"-oProxyCommand=sh:$d|a host name beginning with '-'"
		"-p:$d|a host name beginning with '-'"
		"-l@$h:$d|a user name beginning with '-'"
		"-oProxyCommand=x@$h:$d|a user name beginning with '-'"
		"$h;touch x:$d|a host name with characters other than letters, digits, '.', '-' and '_'"
		"$h -oProxyCommand=x:$d|a host name with characters other than letters, digits, '.', '-' and '_'"
		"\$(touch x):$d|a host name with characters other than letters, digits, '.', '-' and '_'"
		"\`touch x\`:$d|a host name with characters other than letters, digits, '.', '-' and '_'"
		"$h'x:$d|a host name with characters other than letters, digits, '.', '-' and '_'"
		"$h|x:$d|a host name with characters other than letters, digits, '.', '-' and '_'"
		"u;id@$h:$d|a user name with characters other than letters, digits, '.', '_' and '-'"
		"u x@$h:$d|a user name with characters other than letters, digits, '.', '_' and '-'"
		"\$USER@$h:$d|a user name with characters other than letters, digits, '.', '_' and '-'"
		"@$h:$d|empty user name"
		"$SSH_USER@:$d|empty host name"
		":$d|empty host name"
		"[::1;id]:$d|not an IPv6 address between [ and ]"
		"$h:relative/dir|a remote directory must be an absolute path"
		"$h:-oProxyCommand=x|a remote directory must be an absolute path"
		"$h:~/d|a remote directory must be an absolute path"
		"$h:|a remote directory must be an absolute path"
		"[::1]:d|a remote directory must be an absolute path"
		"$h:$d,$h:/x|comma in the target (the output joins targets with commas)"
		"$h:$d"$'\n'"x|control character in the target"
		"-d|a directory beginning with '-' (write ./ before it)"
	)
	for t in "${cases[@]}"; do
		why=${t##*|}
		t=${t%|*}
		# after a good target: nothing is done on that one either
		run --separate-stderr rep-push -- "$T" "$t" <<<"$A"
		assert_failure 2
		# refused once the input is read: its application failed
		assert_failed_only app-a "$why"
		# control bytes shown as \xHH
		assert_stderr "rep-push: ${t//$nl/$shown_nl}: $why"
		assert_no_ssh
	done
	# without --, what begins with - is an option
	printf '%s\n' "$A" >list
	run --separate-stderr rep-push "$T" -oProxyCommand=sh:/x <list
	assert_failure 2
	assert_output ''
	assert_stderr "rep-push: -o: unknown option (try 'rep-push --help')"
	# its input a pipe, it fails what that holds (a claim upstream)
	run --separate-stderr rep-push "$T" -oProxyCommand=sh:/x <<<"$A"
	assert_failure 2
	assert_failed_only app-a "usage error: -o: unknown option"
	assert_stderr "rep-push: -o: unknown option (try 'rep-push --help')"
	run --separate-stderr rep-push "$T" '' <<<"$A"
	assert_failure 2
	assert_failed_only app-a "'': empty target"
	assert_stderr "rep-push: '': empty target"
	run --separate-stderr rep-push "$T" "$T" <<<"$A"
	assert_failure 2
	assert_failed_only app-a "$T: target given twice"
	assert_stderr "rep-push: $T: target given twice"
	assert_no_ssh
	[ ! -e "$D" ] && [ ! -e d ] && [ ! -e x ] || fail "a directory was made"
}

@test "an IPv6 address between brackets reaches ssh as the bare address" {
	mkapp app-a
	mkarchive A app-a
	REP_SSH=$NO_SSH run --separate-stderr rep-push "[::1]:$D" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "[::1]:$D" '1 of 1 targets could not be opened; nothing done')"
	assert_stderr "$(lines "rep-push: [::1]:$D: no-ssh: no connection may be made here" \
		"rep-push: $A_REL: 1 of 1 targets could not be opened; nothing done")"
	assert_equal "$(cat "$NO_SSH_LOG")" 'called: ::1'
}

@test "user@[IPv6]:DIR reaches ssh as user@address" {
	mkapp app-a
	mkarchive A app-a
	REP_SSH=$NO_SSH run --separate-stderr rep-push "$SSH_USER@[::1]:$D" <<<"$A"
	assert_failure 1
	assert_output "$(archive_failed "$A" "$SSH_USER@[::1]:$D" '1 of 1 targets could not be opened; nothing done')"
	assert_stderr "$(lines "rep-push: $SSH_USER@[::1]:$D: no-ssh: no connection may be made here" \
		"rep-push: $A_REL: 1 of 1 targets could not be opened; nothing done")"
	assert_equal "$(cat "$NO_SSH_LOG")" "called: $SSH_USER@::1"
}

# --- REP_SSH ---------------------------------------------------------------------------------

@test "REP_SSH is split like a shell: quoted program, identity file with a space, option with a space" {
	mkapp app-a
	mkarchive A app-a
	mkdir "my keys" "ssh bin"
	cp "$SSHD_DIR/id" "my keys/id"
	chmod 600 "my keys/id"
	# a wrapper that records its arguments (one file per call) and runs ssh
	cat >"ssh bin/my ssh" <<'EOF'
#!/bin/bash
n=$(find "$ARGV_DIR" -type f | wc -l)
printf '%s\0' "$@" >"$ARGV_DIR/$n"
exec ssh "$@"
EOF
	chmod +x "ssh bin/my ssh"
	mkdir argv
	export ARGV_DIR=$BATS_TEST_TMPDIR/argv
	local keys=$BATS_TEST_TMPDIR/my\ keys/id
	REP_SSH="'$BATS_TEST_TMPDIR/ssh bin/my ssh' -F none -p $SSH_PORT -i \"$keys\" -o 'ConnectTimeout 5' \
-o IdentitiesOnly\\=yes -o UserKnownHostsFile=$SSHD_DIR/known_hosts -o StrictHostKeyChecking=yes -o LogLevel=ERROR" \
		run --separate-stderr rep-push "$T" <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$T" app-a)"
	assert_stderr "$(live_on "$A_REL" 1 "$APP_A_ENTERS")"
	assert_live "$D" "$A_REL"
	# one call, for the whole push (it holds the lock and runs every
	# step): ours first, then the user's words as one word each, then
	# ours, --, the destination and the command
	local -a argv
	mapfile -t -d '' argv <argv/0
	local n=${#argv[@]}
	assert_equal "$(printf '%s\n' "${argv[@]:0:n-1}")" "$(lines \
		-o BatchMode=yes \
		-F none -p "$SSH_PORT" -i "$keys" -o 'ConnectTimeout 5' -o IdentitiesOnly=yes \
		-o "UserKnownHostsFile=$SSHD_DIR/known_hosts" -o StrictHostKeyChecking=yes -o LogLevel=ERROR \
		-o ServerAliveInterval=15 -- "$SSH_USER@127.0.0.1")"
	# the command, as the far side's shell splits it
	local -a cmd
	eval "cmd=(${argv[n - 1]})"
	assert_equal "${#cmd[@]}" 10
	assert_equal "${cmd[0]} ${cmd[1]}" 'sh -c'
	assert_equal "${cmd[3]} ${cmd[4]} ${cmd[5]} ${cmd[6]}" "rep-push lock $D tester@$HOST"
	[[ ${cmd[7]} =~ ^$TS_RE$ ]] || fail "not a time: ${cmd[7]}"
	assert_equal "${cmd[8]}" make
	# the idle timeout, which paces the far side's keepalives
	assert_equal "${cmd[9]}" 300
	assert_equal "$(find argv -type f | wc -l)" 1
	assert_tmp_empty
}

# assert_failed_only NAME WHY: stdout is the one failed record of NAME,
# its reason ending in WHY (rep-push checks its targets and REP_SSH once
# it read its input: what it read gets its records).
assert_failed_only() {
	assert_equal "$(wc -l <<<"$output")" 1
	assert_equal "$(cut -f 1,5 <<<"$output")" "$1${TAB}failed"
	[[ $(cut -f 6 <<<"$output") == *"$2" ]] || fail "reason: $(cut -f 6 <<<"$output"), not ending in $2"
}

@test "REP_SSH with an unterminated quote or no command: exit 2, no connection" {
	mkapp app-a
	mkarchive A app-a
	REP_SSH="$NO_SSH -o 'ConnectTimeout 5" run --separate-stderr rep-push "$T" <<<"$A"
	assert_failure 2
	assert_failed_only app-a "${stderr#rep-push: }"
	assert_stderr "rep-push: REP_SSH: unterminated ' quote"
	REP_SSH="$NO_SSH -i \"my keys/id" run --separate-stderr rep-push "$T" <<<"$A"
	assert_failure 2
	assert_failed_only app-a "${stderr#rep-push: }"
	assert_stderr 'rep-push: REP_SSH: unterminated " quote'
	REP_SSH='  ' run --separate-stderr rep-push "$T" <<<"$A"
	assert_failure 2
	assert_failed_only app-a "${stderr#rep-push: }"
	assert_stderr 'rep-push: REP_SSH: no command'
	assert_no_ssh
	[ ! -e "$D" ] || fail "$D was made"
}

@test "REP_SSH with an unterminated quote leaves a local target given before the ssh one untouched" {
	mkapp app-a
	mkarchive A app-a
	REP_SSH="$NO_SSH -o 'ConnectTimeout 5" run --separate-stderr rep-push local "$T" <<<"$A"
	assert_failure 2
	assert_failed_only app-a "REP_SSH: unterminated ' quote"
	assert_stderr "rep-push: REP_SSH: unterminated ' quote"
	assert_no_ssh
	[ ! -e local ] || fail "local was made: $(find local)"
	[ ! -e "$D" ] || fail "$D was made"
}

# --- locks --------------------------------------------------------------------------------------

@test "a lock held on the far side: exit 1 naming its holder, nothing done; from another host or unreadable too" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	sleep 60 >/dev/null 2>&1 3>&- &
	local pid=$! lock
	BG_PIDS+=("$pid")
	for lock in "$(lockline "$HOST" "$pid")" "$(lockline far.example 1)" 'garbage'; do
		printf '%s\n' "$lock" >"$D/.rep-push.lock"
		snapshot "$D"
		run --separate-stderr rep-push "$T" <<<"$A"
		assert_failure 1
		assert_output "$(archive_failed "$A" "$T" '1 of 1 targets locked by another push; nothing done')"
		case $lock in
		garbage) assert_stderr "$(lines "rep-push: $T: locked by an unreadable lock" \
			"rep-push: $A_REL: 1 of 1 targets locked by another push; nothing done")" ;;
		far.*) assert_stderr "$(lines \
			"rep-push: $T: locked by pid 1 on far.example (someone@elsewhere since 2020-01-02T03:04:05Z)" \
			"rep-push: $A_REL: 1 of 1 targets locked by another push; nothing done")" ;;
		*) assert_stderr "$(lines \
			"rep-push: $T: locked by pid $pid on $HOST (someone@elsewhere since 2020-01-02T03:04:05Z)" \
			"rep-push: $A_REL: 1 of 1 targets locked by another push; nothing done")" ;;
		esac
		assert_unchanged
		assert_equal "$(cat "$D/.rep-push.lock")" "$lock"
	done
	# -n reads the lock and fails the same way
	printf '%s\n' "$(lockline "$HOST" "$pid")" >"$D/.rep-push.lock"
	snapshot "$D"
	run --separate-stderr rep-push -n "$T" <<<"$A"
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines \
		"rep-push: $T: locked by pid $pid on $HOST (someone@elsewhere since 2020-01-02T03:04:05Z)" \
		"rep-push: $A_REL: dry run: 1 of 1 targets locked by another push; nothing done")"
	assert_unchanged
}

@test "a stale lock on the far side (its pid is gone) is broken with a message, the push goes on" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	sleep 0 &
	local pid=$!
	wait "$pid"
	lockline "$HOST" "$pid" >"$D/.rep-push.lock"
	snapshot "$D"
	# -n says it would break it, and leaves it
	run --separate-stderr rep-push -n "$T" <<<"$A"
	assert_success
	assert_output ''
	assert_stderr "$(lines \
		"rep-push: $T: would break a stale lock: held by pid $pid on $HOST (someone@elsewhere since 2020-01-02T03:04:05Z), which is gone" \
		"rep-push: $T: $A_REL: $APP_A_CHANGES" \
		"rep-push: $T: would stage $A_REL" \
		"rep-push: $T: would switch current from $OLD_REL to $A_REL" \
		"rep-push: $A_REL: dry run: live on 1 target")"
	assert_unchanged
	run --separate-stderr rep-push "$T" <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$T" app-a)"
	assert_stderr "$(lines \
		"rep-push: $T: breaking a stale lock: held by pid $pid on $HOST (someone@elsewhere since 2020-01-02T03:04:05Z), which is gone" \
		"$(live_on "$A_REL" 1 "$APP_A_CHANGES")")"
	assert_live "$D" "$A_REL"
	assert_staged "$D" "$A"
	assert_clean "$D"
}

@test "two pushes to one ssh target at once: one is refused by the lock or they run one after the other" {
	mkapp app-a
	mkarchive OLD app-a
	echo one >rep_applications/app-a/README
	mkarchive A1 app-a
	echo two >rep_applications/app-a/README
	mkarchive A2 app-a
	plant "$D" "$OLD" live
	rep-push "$T" <<<"$A1" >out1 2>err1 3>&- &
	local p1=$! s1=0 s2=0 i rel ok=() refused
	rep-push "$T" <<<"$A2" >out2 2>err2 3>&- &
	local p2=$!
	wait "$p1" || s1=$?
	wait "$p2" || s2=$?
	for i in 1 2; do
		local s=s$i a=A$i
		rel=$(basename "${!a}" .tar.gz)
		if [ "${!s}" -eq 0 ]; then
			assert_equal "$(cat "out$i")" "$(push_records "$rel" "$T" app-a)"
			# on OLD or on the other's release: app-a changes
			assert_equal "$(cat "err$i")" "$(live_on "$rel" 1 "$APP_A_CHANGES")"
			assert_staged "$D" "${!a}"
			ok+=("$rel")
		else
			assert_equal "${!s}" 1
			assert_equal "$(cat "out$i")" "$(archive_failed "${!a}" "$T" '1 of 1 targets locked by another push; nothing done')"
			refused="rep-push: $T: locked by pid PID on $HOST (tester@$HOST since TIME)"$'\n'
			refused+="rep-push: $rel: 1 of 1 targets locked by another push; nothing done"
			assert_equal "$(sed -E "s/ pid [0-9]+ / pid PID /" "err$i" | norm_ts)" "$refused"
		fi
	done
	[ ${#ok[@]} -ge 1 ] || fail "neither push went through"
	rel=$(readlink "$D/current")
	[[ " ${ok[*]} " == *" ${rel#releases/} "* ]] || fail "current -> $rel, not a release pushed"
	assert_clean "$D"
}

# --- killed pushes --------------------------------------------------------------------------------

# push_and_kill SIGNAL ARCHIVE: push ARCHIVE to T with an upload that stalls
# after its first 64 KiB, send SIGNAL once that has reached the far side,
# wait; sets status, output and stderr as run does.
push_and_kill() {
	local pid i
	SLOW_STAGE=20 REP_SSH=$FAKE_SSH rep-push "$T" <<<"$2" >out 2>err 3>&- &
	pid=$!
	local size
	for ((i = 0; i < 600; i++)); do
		size=$(stat -c %s "$D"/store/.rep-push-*/upload 2>/dev/null) || size=0
		if [ "${size:-0}" -ge 65536 ]; then
			break
		fi
		sleep 0.05
	done
	[ "$i" -lt 600 ] || fail "the upload never started"
	kill -s "$1" "$pid"
	status=0
	wait "$pid" || status=$?
	output=$(cat out)
	stderr=$(cat err)
}

# big_release: OLD live on D and BIG, an archive of some megabytes.
big_release() {
	mkapp app-a
	mkarchive OLD app-a
	head -c 3000000 /dev/urandom >rep_applications/app-a/blob
	mkarchive BIG app-a
	plant "$D" "$OLD" live
}

# push_after_kill: leftovers of a killed push planted, then a push of BIG
# goes through and removes them.
push_after_kill() {
	mkdir -p "$D/releases/.rep-push-4242/rep_applications" "$D/store/.rep-push-4242/tree/rep_applications"
	echo x >"$D/releases/.rep-push-4242.tar.gz"
	echo x >"$D/store/.rep-push-4242/upload"
	ln -s releases/.rep-push-4242 "$D/.rep-push-current"
	run --separate-stderr rep-push "$T" <<<"$BIG"
	assert_success
	assert_output "$(push_records "$BIG_REL" "$T" app-a)"
	assert_stderr "$(live_on "$BIG_REL" 1 "$APP_A_CHANGES")"
	assert_live "$D" "$BIG_REL"
	assert_staged "$D" "$BIG"
	assert_clean "$D"
	assert_equal "$(ls "$D/releases")" "$(lines "$OLD_REL" "$BIG_REL")"
	assert_equal "$(ls -A "$D/store")" "$BIG_REL"
}

@test "rep-push killed by SIGTERM while uploading: the far side drops the lock and the upload" {
	big_release
	push_and_kill TERM "$BIG"
	assert_equal "$status" $((128 + 15))
	# the archive read and not pushed: failed, for the signal
	assert_output "$(archive_failed "$BIG" "$T" 'interrupted by signal 15')"
	assert_stderr ''
	wait_gone "$D/.rep-push.lock" 5
	local i
	for ((i = 0; i < 50; i++)); do
		[ -n "$(find "$D/releases" "$D/store" -name '.rep-push-*')" ] || break
		sleep 0.1
	done
	assert_clean "$D"
	assert_live "$D" "$OLD_REL"
	assert_equal "$(ls "$D/releases")" "$OLD_REL"
	assert_equal "$(ls -A "$D/store")" ''
	# nothing of rep-push's is left in TMPDIR
	local left
	left=$(ls -A "$TMPDIR")
	push_after_kill
	assert_equal "$left" ''
}

@test "rep-push killed by SIGKILL while uploading: the lock goes when the session ends, current untouched" {
	big_release
	push_and_kill KILL "$BIG"
	assert_equal "$status" $((128 + 9))
	assert_output ''
	assert_stderr ''
	# its staging process may finish the upload: then the lock goes
	wait_gone "$D/.rep-push.lock" 10
	assert_live "$D" "$OLD_REL"
	assert_equal "$(find "$D/releases" "$D/store" -name '.rep-push-*')" ''
	push_after_kill
}

# --- rollback, pruning, dry run -------------------------------------------------------------------

@test "--rollback over ssh: back to the previous release, its applications printed; none before: exit 1" {
	mkapp app-a
	mkapp app-b
	mkapp app-c
	mkarchive R1 app-a app-b
	mkarchive R2 app-a app-c
	plant "$D" "$R1"
	plant "$D" "$R2" live
	run --separate-stderr rep-push --rollback "$T" <<<'not read'
	assert_success
	assert_output "$(lines "$(push_records "$R1_REL" "$T" app-a app-b)" \
		"$(left_records "$R1_REL" "$T" "$(app_checksum "$R2_REL" "$T" app-c)" app-c)")"
	assert_stderr "rep-push: $R1_REL: live again on 1 target"
	assert_live "$D" "$R1_REL"
	assert_equal "$(ls "$D/releases")" "$(lines "$R1_REL" "$R2_REL")"
	logged "$D" "rollback $R1_REL $R2_REL"
	assert_clean "$D"
	snapshot "$D"
	run --separate-stderr rep-push --rollback "$T" </dev/null
	assert_failure 1
	assert_output ''
	assert_stderr "$(lines "rep-push: $T: no release before $R1_REL" \
		"rep-push: rollback: not possible on 1 of 1 targets; nothing switched")"
	assert_unchanged
}

@test "-k over ssh, two archives in one push: the older releases go, not the one a rollback goes to nor other names" {
	four_archives
	plant "$D" "$R1"
	plant "$D" "$R2" live
	mkdir "$D/releases/notes" "$D/releases/rep_applications_2020"
	run --separate-stderr rep-push -k 1 "$T" <<<"$R3"$'\n'"$R4"
	assert_success
	assert_output "$(push_records "$R3_REL" "$T" app-a; echo; push_records "$R4_REL" "$T" app-a)"
	assert_stderr "$(lines "$(live_on "$R3_REL" 1 "$APP_A_CHANGES")" "$(live_on "$R4_REL" 1 "$APP_A_CHANGES")")"
	assert_live "$D" "$R4_REL"
	# R3: where a rollback goes (R2 live before R3 went)
	assert_equal "$(ls "$D/releases")" "$(printf '%s\n' notes "$R3_REL" "$R4_REL" rep_applications_2020 | LC_ALL=C sort)"
	assert_equal "$(ls -A "$D/store")" "$(lines "$R3_REL" "$R4_REL")"
	assert_staged "$D" "$R3"
	assert_staged "$D" "$R4"
	logged "$D" "push $R3_REL $R2_REL" "push $R4_REL $R3_REL"
	assert_clean "$D"
}

@test "-n over ssh: the plan on stderr, nothing on stdout, no lock taken, nothing made" {
	mkapp app-a
	mkarchive OLD app-a
	echo changed >rep_applications/app-a/README
	mkarchive A app-a
	plant "$D" "$OLD" live
	local new="$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/new"
	snapshot "$D"
	SSH_LOG=$BATS_TEST_TMPDIR/ssh.log REP_SSH=$FAKE_SSH run --separate-stderr rep-push -n "$T" "$new" <<<"$A"
	assert_success
	assert_output ''
	assert_stderr "$(lines \
		"rep-push: $A_REL: dry run: the targets' live sets differ; each keeps its own" \
		"rep-push: $T: $A_REL: $APP_A_CHANGES" \
		"rep-push: $new: $A_REL: $APP_A_ENTERS" \
		"rep-push: $T: would stage $A_REL" \
		"rep-push: $new: would stage $A_REL" \
		"rep-push: $T: would switch current from $OLD_REL to $A_REL" \
		"rep-push: $new: would point current to $A_REL" \
		"rep-push: $A_REL: dry run: live on 2 targets")"
	assert_unchanged
	[ ! -e new ] || fail "new was made"
	# one session each, begun side by side (-j 5): in either order
	assert_equal "$(LC_ALL=C sort ssh.log)" "$(lines "state $BATS_TEST_TMPDIR/new" "state $D")"
	assert_tmp_empty
}

# barrier_push N WAIT ARGS...: rep-push ARGS (its stdin: $A) through
# barrier-ssh waiting for N sessions for up to WAIT seconds; the counts
# each session saw, in $BATS_TEST_TMPDIR/barrier.log
barrier_push() {
	local n=$1 wait=$2
	shift 2
	rm -rf "$BATS_TEST_TMPDIR/barrier" "$BATS_TEST_TMPDIR/barrier.log"
	mkdir "$BATS_TEST_TMPDIR/barrier"
	BARRIER_DIR=$BATS_TEST_TMPDIR/barrier BARRIER_N=$n BARRIER_WAIT=$wait \
		BARRIER_LOG=$BATS_TEST_TMPDIR/barrier.log REP_SSH=$BARRIER_SSH \
		run --separate-stderr rep-push "$@" <<<"$A"
}

@test "-j N: up to N targets connect and ask for the lock at once (5 by default), never more than 8; records in the operands' order" {
	mkapp app-a
	mkarchive A app-a
	local targets=() i
	for i in 1 2 3; do targets+=("$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/t$i"); done
	# -j 3: the three sessions start before any is answered
	barrier_push 3 20 -q -j 3 "${targets[@]}"
	assert_success
	assert_output "$(push_records "$A_REL" "$(IFS=,; echo "${targets[*]}")" app-a)"
	refute_stderr
	assert_equal "$(cat barrier.log)" "$(lines 3 3 3)"
	for i in 1 2 3; do assert_live "t$i" "$A_REL"; done
	# no -j: 5 at once, so the three
	rm -rf t1 t2 t3
	barrier_push 3 20 -q "${targets[@]}"
	assert_success
	assert_equal "$(cat barrier.log)" "$(lines 3 3 3)"
	# -j 1: one after the other, each alone when it starts
	rm -rf t1 t2 t3
	barrier_push 3 0.5 -q -j 1 "${targets[@]}"
	assert_success
	assert_equal "$(cat barrier.log)" "$(lines 1 2 3)"
	# -j 2: two at once, the third once the first is answered
	rm -rf t1 t2 t3
	barrier_push 3 0.5 -q -j 2 "${targets[@]}"
	assert_success
	assert_equal "$(cat barrier.log)" "$(lines 2 2 3)"
	# -j 16 on 10 targets (-n: the listing, no lock): 8 at once, the
	# others as the first are answered; the ninth, a file, named
	targets=()
	for i in 1 2 3 4 5 6 7 8 9 10; do targets+=("$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/n$i"); done
	: >n9
	barrier_push 9 1 -n -j 16 "${targets[@]}"
	assert_failure 1
	assert_output ''
	assert_equal "$(sort -n barrier.log | uniq -c | awk '{ print $1 "x" $2 }')" "$(lines 8x8 1x9 1x10)"
	assert_stderr --partial "rep-push: ${targets[8]}: "
}

# reset_ssh K: $BATS_TEST_TMPDIR/reset-ssh, a REP_SSH whose first K
# sessions that ask for the lock, the listing or what is live fail as
# ssh does when sshd's MaxStartups drops the connection; each session
# logged to reset.log as "reset" or "ssh"
reset_ssh() {
	cat >reset-ssh <<-EOF
		#!/bin/sh
		n=\$(wc -l <"$BATS_TEST_TMPDIR/reset.log" 2>/dev/null || echo 0)
		case "\$*" in
		*"'lock'"* | *"'state'"* | *"'live'"*)
			if [ "\$n" -lt $1 ]; then
				echo reset >>"$BATS_TEST_TMPDIR/reset.log"
				echo 'kex_exchange_identification: read: Connection reset by peer' >&2
				echo 'Connection reset by 127.0.0.1 port 22' >&2
				exit 255
			fi ;;
		esac
		echo ssh >>"$BATS_TEST_TMPDIR/reset.log"
		exec $REP_SSH "\$@"
	EOF
	chmod +x reset-ssh
	rm -f reset.log
}

@test "a handshake the server resets (sshd's MaxStartups) is tried again, 3 times at most; then the target fails with ssh's words" {
	mkapp app-a
	mkarchive A app-a
	reset_ssh 3
	REP_SSH=$BATS_TEST_TMPDIR/reset-ssh run --separate-stderr rep-push -q "$T" <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$T" app-a)"
	refute_stderr
	assert_equal "$(head -n 4 reset.log)" "$(lines reset reset reset ssh)"
	assert_live "$D" "$A_REL"
	# --status too
	reset_ssh 2
	REP_SSH=$BATS_TEST_TMPDIR/reset-ssh run --separate-stderr rep-push --status "$T"
	assert_success
	assert_output "$T${TAB}app-a$TAB$A_REL$TAB$(app_checksum "$A_REL" - app-a)"
	assert_equal "$(cat reset.log)" "$(lines reset reset ssh)"
	# four resets: given up, the target named with ssh's last words
	snapshot "$D"
	reset_ssh 4
	REP_SSH=$BATS_TEST_TMPDIR/reset-ssh run --separate-stderr rep-push -q "$T" <<<"$A"
	assert_failure 1
	assert_line --partial "${TAB}failed$TAB"
	assert_stderr --partial "rep-push: $T: Connection reset by 127.0.0.1 port 22"
	assert_equal "$(cat reset.log)" "$(lines reset reset reset reset)"
	assert_unchanged
	# any other failure is not tried again
	reset_ssh 0
	REP_SSH=$NO_SSH run --separate-stderr rep-push -q "$T" <<<"$A"
	assert_failure 1
	assert_equal "$(wc -l <"$NO_SSH_LOG")" 1
}

@test "a fleet of 20 ssh targets under a soft limit of 48 descriptors: rep-push raises its own (3 a target), the push goes through" {
	mkapp app-a
	mkarchive A app-a
	local targets=() i
	for i in $(seq 1 20); do targets+=("$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/f$i"); done
	# shellcheck disable=SC2016 # expanded by bash -c
	run --separate-stderr bash -c 'ulimit -S -n 48 && exec rep-push -q -j 8 "$@"' _ "${targets[@]}" <<<"$A"
	assert_success
	assert_output "$(push_records "$A_REL" "$(IFS=,; echo "${targets[*]}")" app-a)"
	refute_stderr
	for i in $(seq 1 20); do assert_live "f$i" "$A_REL"; done
}

@test "-n -k over ssh lists the releases the push would remove" {
	three_releases
	snapshot "$D"
	run --separate-stderr rep-push -n -k 1 "$T" <<<"$R3"
	assert_success
	assert_output ''
	local plan
	plan=$(lines \
		"rep-push: $T: $R3_REL: $APP_A_CHANGES" \
		"rep-push: $T: would stage $R3_REL" \
		"rep-push: $T: would switch current from $R2_REL to $R3_REL" \
		"rep-push: $T: would remove releases/$R1_REL" \
		"rep-push: $R3_REL: dry run: live on 1 target")
	assert_stderr "$plan"
	assert_unchanged
}
