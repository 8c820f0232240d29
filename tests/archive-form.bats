#!/usr/bin/env bats
# Issue 16: what lands in a release is exactly the tree that was checked.
# The check accepts only archives in the form rep-tar writes and refuses
# anything else, naming the entry: "ARCHIVE: ENTRY: WHAT (not in the form
# rep-tar writes)".  The hostile archives come from tests/craft: each is
# rep-tar's form with one departure, and a MANIFEST that matches the tree
# the checker of rep 1.x (libarchive) sees, so that only the form can
# refuse it (the attack is two readers reading one archive differently;
# see tests/craft --list for what each reader makes of each).  Every one is
# refused by rep-tar -t with a version 1 and a version 2 manifest, and by a
# local rep-push, which leaves its target (a good release live) as it was;
# a subset over ssh too.  Then what must keep working: archives of today's
# rep-tar and of earlier ones check and deploy with the modes rep-push(1)
# promises, whatever the umask.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

CRAFT=$BATS_TEST_DIRNAME/craft
FIXTURES=$BATS_TEST_DIRNAME/fixtures
NL=$'\n'
FORM='\(not in the form rep-tar writes\)'
# the name every hostile archive gets (rep-push takes only release names)
HOSTILE=rep_applications_20200101_000000.tar.gz

# A good release, live in a target that each test copies; and the sshd of
# tests/sshd for the ssh tests (as in rep-push-ssh.bats): if it cannot be
# started, those tests skip.
setup_file() {
	local here=$PWD
	export GOOD_DIR=$BATS_FILE_TMPDIR/good
	mkdir -p "$GOOD_DIR/rep_applications" && cd "$GOOD_DIR" || return
	unset REP_DB REP_APPS
	USER=tester LOGNAME=tester LC_ALL=C mkapp app-a README bin/run
	chmod 755 rep_applications/app-a/bin/run
	USER=tester LOGNAME=tester LC_ALL=C register app-a || return
	GOOD=$GOOD_DIR/$(LC_ALL=C "$FIXTURE_BIN/rep-tar" -q app-a </dev/null) || return
	GOOD_REL=$(basename "$GOOD" .tar.gz)
	export GOOD GOOD_REL
	LC_ALL=C "$FIXTURE_BIN/rep-push" -q "$GOOD_DIR/target" <<<"$GOOD" >/dev/null || return
	cd "$here" || return

	SSHD_DIR=$BATS_FILE_TMPDIR/sshd
	export SSHD_DIR SSH_USER
	SSH_USER=$(id -un)
	if REP_SSH=$("$BATS_TEST_DIRNAME/sshd" start "$SSHD_DIR" 2>"$BATS_FILE_TMPDIR/sshd.err") &&
		[ -n "$REP_SSH" ]; then
		export REP_SSH
	else
		NO_SSHD="tests/sshd could not start an sshd: $(tail -n 1 "$BATS_FILE_TMPDIR/sshd.err")"
		export NO_SSHD
	fi
}

teardown_file() {
	"$BATS_TEST_DIRNAME/sshd" stop "$BATS_FILE_TMPDIR/sshd"
}

# --- helpers -------------------------------------------------------------------------------

# craft [-m 1|2] VARIANT OUT...: tests/craft.
craft() {
	"$PYTHON" "$CRAFT" "$@" || fail "tests/craft $* failed"
}

# ere STRING: an extended regular expression that matches STRING.
ere() {
	printf '%s' "$1" | sed 's/[][\.*^$?+(){}|]/\\&/g'
}

# form ENTRY-ERE [WHAT-ERE]: the message of a refusal for the form, after
# "ARCHIVE: ", as an ERE (WHAT: any one line by default).
form() {
	printf '%s: %s %s' "$1" "${2:-[^$NL]+}" "$FORM"
}

# live_target DIR: DIR, a target with the good release live.
live_target() {
	cp -a "$GOOD_DIR/target" "$1"
}


# refused VARIANT MESSAGE: tests/craft's VARIANT, with a version 1 and a
# version 2 manifest, is refused by rep-tar -t and by a local rep-push with
# MESSAGE (an ERE for what follows "ARCHIVE: "), exit 2, nothing on standard
# output; the push leaves its target, the good release live, as it was.
refused() {
	local v=$1 msg=$2 m a
	mkdir -p v1 v2
	craft -m 1 "$v" "v1/$HOSTILE" -m 2 "$v" "v2/$HOSTILE"
	live_target t
	snapshot t
	for m in 1 2; do
		a=v$m/$HOSTILE
		run --separate-stderr rep-tar -t "$a" </dev/null
		assert_failure 2
		assert_output ''
		assert_stderr --regexp "^rep-tar: $(ere "$a"): $msg\$"
		run --separate-stderr rep-push t <<<"$a"
		assert_failure 2
		assert_output ''
		assert_stderr --regexp "^rep-push: $(ere "$a"): $msg\$"
		assert_unchanged
		assert_live t "$GOOD_REL"
	done
}

# The entries the variants are about, as EREs.
DATA=rep_applications/app-a/data
# a pax header's own name (libarchive's DIR/PaxHeader/NAME) or its entry's
PAX_DATA='rep_applications/app-a/(PaxHeader/)?data'

# --- the control: tests/craft writes rep-tar's form --------------------------------------------

@test "tests/craft's canonical archive is the tar stream rep-tar writes for its tree, and checks and deploys" {
	local long a m
	long=$(printf 'd%.0s' {1..120})
	# the tree of craft's canonical variant
	mkdir -p rep_applications/app-a/bin rep_applications/app-a/empty "rep_applications/app-a/$long" \
		rep_applications/app-b/bin
	printf 'app-a/README\n' >rep_applications/app-a/README
	printf '#!/bin/sh\necho run\n' >rep_applications/app-a/bin/run
	ln -s ../README rep_applications/app-a/bin/readme
	printf 'deep\n' >"rep_applications/app-a/$long/$long"
	printf 'utf-8\n' >rep_applications/app-a/$'\xc3\xa9'
	printf 'latin-1\n' >rep_applications/app-a/$'\xff'
	printf 'app-b/README\n' >rep_applications/app-b/README
	printf '#!/bin/sh\necho run\n' >rep_applications/app-b/bin/run
	chmod 755 rep_applications/app-a/bin/run rep_applications/app-b/bin/run
	find rep_applications -mindepth 2 -exec touch -h -d @1600000000 {} +
	touch -d @1600000000 rep_applications/app-a rep_applications/app-b
	register app-a app-b
	a=$(rep-tar -q app-a app-b </dev/null)
	# the manifest version rep-tar writes, then craft's archive with it
	m=1
	if [ "$(tar -xOzf "$a" MANIFEST | head -n 1)" = "#rep-manifest${TAB}2" ]; then
		m=2
	fi
	mkdir c
	craft -m "$m" canonical "c/$HOSTILE"
	run cmp <(gzip -dc "$a") <(gzip -dc "c/$HOSTILE")
	assert_success
	assert_output ''
	run --separate-stderr rep-tar -t "c/$HOSTILE" </dev/null
	assert_success
	assert_output "$(tar -xOzf "$a" MANIFEST)"
	refute_stderr
	live_target t
	run --separate-stderr rep-push t <<<"c/$HOSTILE"
	assert_success
	assert_output "$(push_records "${HOSTILE%.tar.gz}" t app-a app-b)"
	# on the good release, of app-a
	assert_stderr "rep-push: ${HOSTILE%.tar.gz}: live on 1 target: 1 enters (app-b), 1 changes (app-a), 0 stay, 0 leave"
	assert_apps rep_applications t/current/rep_applications
	# and with the other manifest version
	craft -m $((3 - m)) canonical "c/$HOSTILE"
	run --separate-stderr rep-tar -t "c/$HOSTILE" </dev/null
	assert_success
	assert_output "$(tar -xOzf "c/$HOSTILE" MANIFEST)"
	refute_stderr
}

# --- item 1: header kinds, pax keys and fields that are not rep-tar's -------------------------

@test "a global pax header with path= (GNU tar unpacks the next file over bin/run): refused" {
	refused global-path "$(form "$DATA")"
}

@test "a global pax header with size=0 (GNU tar unpacks a symlink to /etc from a file's data): refused" {
	refused global-size "$(form "$DATA")"
}

@test "a GNU long name before a pax path (libarchive takes the one, GNU tar the other): refused" {
	refused gnu-longname "$(form "$DATA" 'a GNU long name')"
}

@test "a GNU long link before a pax linkpath (GNU tar's symlink points to /etc): refused" {
	refused gnu-longlink "$(form "$DATA")"
}

@test "a volume label carrying data (GNU tar unpacks a symlink to /etc libarchive read as data): refused" {
	refused volume-label "$(form "$DATA")"
}

@test "a multi-volume continuation header: refused for its form" {
	refused multivolume "$(form "$DATA")"
}

@test "a GNU sparse entry with a trailing hole (hashed 5 bytes, unpacked 8192): refused" {
	refused gnu-sparse "$(form "$DATA")"
}

@test "a pax GNU.sparse.* entry: refused" {
	refused pax-sparse "$(form "$PAX_DATA")"
}

@test "a pax size= smaller than the ustar size (a file's data hides an entry): refused" {
	refused pax-size-smaller "$(form "$PAX_DATA")"
}

@test "a pax size= larger than the ustar size (a file swallows the next header): refused" {
	refused pax-size-larger "$(form "$PAX_DATA")"
}

@test "a pax key rep-tar never writes: refused" {
	refused pax-key-unknown "$(form "$PAX_DATA")"
}

@test "a pax uid=: refused" {
	refused pax-key-uid "$(form "$PAX_DATA")"
}

@test "a pax header with path= twice: refused" {
	refused pax-path-twice "$(form 'rep_applications/app-a/(PaxHeader/data|data|evil)')"
}

@test "a file of typeflag NUL: refused" {
	refused typeflag-nul "$(form "$DATA")"
}

@test "a file of typeflag 7 (contiguous): refused" {
	refused typeflag-7 "$(form "$DATA")"
}

@test "a pax header with no entry after it: refused for its form" {
	refused pax-no-entry "$(form "$PAX_DATA")"
}

@test "a size in base-256: refused" {
	refused base256-size "$(form "$DATA")"
}

@test "a file owned by uid and gid 1000: refused" {
	refused owner-uid "$(form "$DATA")"
}

@test "a file with the user and group names root: refused" {
	refused owner-name "$(form "$DATA")"
}

@test "a header with GNU's magic: refused" {
	refused magic-gnu "$(form "$DATA")"
}

@test "a directory entry with data (another reader would skip it): refused" {
	refused dir-size "$(form 'rep_applications/app-a/dir/?')"
}

@test "a symlink entry with data (GNU tar's listing skips it, its extraction and libarchive do not): refused" {
	refused link-size "$(form "$DATA")"
}

# --- item 3: modes ---------------------------------------------------------------------------

@test "a setuid file: refused, mode named" {
	refused mode-setuid "$(form rep_applications/app-a/bin/run 'mode 4755')"
}

@test "a setgid file: refused, mode named" {
	refused mode-setgid "$(form rep_applications/app-a/bin/run 'mode 2755')"
}

@test "a world-writable file: refused, mode named" {
	refused mode-world-writable "$(form "$DATA" 'mode 0*666')"
}

@test "a file of mode 0000: refused, mode named" {
	refused mode-0000 "$(form "$DATA" 'mode 0+')"
}

@test "a directory of mode 0777: refused, mode named" {
	refused mode-dir-0777 "$(form 'rep_applications/app-a/dir/?' 'mode 0*777')"
}

# --- item 4: bombs ---------------------------------------------------------------------------

@test "'0 files, 0 bytes, 0 directories' (manifest v2) with 50,000 directories: refused at the first" {
	mkdir v2
	craft -m 2 dirs-bomb "v2/$HOSTILE"
	live_target t
	snapshot t
	run --separate-stderr rep-tar -t "v2/$HOSTILE" </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: v2/$HOSTILE: rep_applications/app-a/d00000/: more directories than MANIFEST lists for app-a"
	run --separate-stderr rep-push t <<<"v2/$HOSTILE"
	assert_failure 2
	assert_output ''
	assert_stderr "rep-push: v2/$HOSTILE: rep_applications/app-a/d00000/: more directories than MANIFEST lists for app-a"
	assert_unchanged
}

@test "'0 files, 0 bytes' (manifest v1) with 50,000 directories: refused past 2 x FILES + 256 directories" {
	mkdir v1
	craft -m 1 dirs-bomb "v1/$HOSTILE"
	live_target t
	snapshot t
	run --separate-stderr rep-tar -t "v1/$HOSTILE" </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: v1/$HOSTILE: rep_applications/app-a/d00256/: more directories than MANIFEST lists for app-a"
	run --separate-stderr rep-push t <<<"v1/$HOSTILE"
	assert_failure 2
	assert_output ''
	assert_stderr "rep-push: v1/$HOSTILE: rep_applications/app-a/d00256/: more directories than MANIFEST lists for app-a"
	assert_unchanged
}

@test "a MANIFEST of 800,000 applications under ulimit -v 300 MiB: checked, or refused with a clear message, never out of memory" {
	# (a sanitizer's build cannot start with its address space bounded)
	# shellcheck disable=SC2016 # expanded by that bash
	if ! bash -c 'ulimit -v 307200 && exec rep-tar -V' >/dev/null 2>&1 </dev/null; then
		skip 'rep-tar does not start under ulimit -v 307200 (a sanitizer build?)'
	fi
	craft apps-800k "$HOSTILE"
	# shellcheck disable=SC2016 # expanded by that bash
	run --separate-stderr bash -c 'ulimit -v 307200 && exec rep-tar -t "$1" >out' _ "$HOSTILE" </dev/null
	assert_output ''
	if [ "$status" -eq 0 ]; then
		refute_stderr
		cmp out <(tar -xOzf "$HOSTILE" MANIFEST) || fail 'rep-tar -t did not print the manifest'
	else
		assert_equal "$status" 2
		assert_stderr --regexp "^rep-tar: $(ere "$HOSTILE"): [^$NL]+\$"
		if [[ $stderr == *'out of memory'* ]]; then
			fail "ran out of memory: $stderr"
		fi
		assert_equal "$(wc -c <out)" 0
	fi
}

# --- item 5: unpacks that cannot fail half-way --------------------------------------------------

@test "an application without its directory entry (the local unpack failed half-way): refused" {
	refused app-dir-missing "$(form rep_applications/app-b/README)"
}

@test "an application whose directory entry comes after its files: refused" {
	refused app-dir-after "$(form rep_applications/app-b/README)"
}

@test "entries out of order: refused, the first out of place named" {
	refused out-of-order "$(form rep_applications/app-a/cata 'out of order')"
}

@test "a pax 1.0 sparse file with a trailing hole, as GNU tar -S writes it (hashed short, deployed long): refused" {
	refused sparse-hole "$(form 'rep_applications/app-a/(PaxHeaders/|GNUSparseFile\.0/)?data')"
}

@test "rep-tar -t of a FIFO fails at once: not a regular file" {
	mkfifo "$HOSTILE"
	run --separate-stderr timeout 10 rep-tar -t "$HOSTILE" </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: $HOSTILE: not a regular file"
}

@test "a FIFO among rep-push's archive paths fails at once: not a regular file, nothing done" {
	mkdir f
	mkfifo "f/$HOSTILE"
	live_target t
	snapshot t
	run --separate-stderr timeout 10 rep-push t <<<"f/$HOSTILE"
	assert_failure 2
	assert_output ''
	assert_stderr "rep-push: f/$HOSTILE: not a regular file"
	assert_unchanged
	# after a good archive, too: nothing of either is pushed
	run --separate-stderr timeout 10 rep-push t <<<"$GOOD"$'\n'"f/$HOSTILE"
	assert_failure 2
	# the good one read, then rep-push died: its failure, with the reason
	assert_output "$(archive_failed "$GOOD" t "f/$HOSTILE: not a regular file")"
	assert_stderr "rep-push: f/$HOSTILE: not a regular file"
	assert_unchanged
}

# --- what keeps working ---------------------------------------------------------------------

# modes_tree: app-a and app-b with long, UTF-8 and non-UTF-8 names,
# symlinks, empty directories and executables, in modes rep-tar must not
# keep (setuid, sticky, 0000, 0777...).
modes_tree() {
	local long=$1 a=rep_applications/app-a
	mkdir -p "$a/bin" "$a/empty" "$a/$long" rep_applications/app-b
	printf 'README\n' >"$a/README"
	printf '#!/bin/sh\n' >"$a/bin/run"
	printf '#!/bin/sh\n' >"$a/bin/tool"
	printf 'deep\n' >"$a/$long/$long"
	printf 'none\n' >"$a/none"
	printf 'ro\n' >"$a/ro"
	printf 'utf-8\n' >"$a/"$'\xc3\xa9'
	printf 'latin-1\n' >"$a/"$'\xff'
	printf 'b\n' >rep_applications/app-b/README
	ln -s ../README "$a/bin/readme"
	ln -s bin "$a/lnk"
	chmod 600 "$a/README"
	chmod 700 "$a/bin/run" "$a/bin"
	chmod 4755 "$a/bin/tool"
	chmod 1777 "$a/empty"
	chmod 777 "$a/$long"
	chmod 666 "$a/$long/$long"
	chmod 000 "$a/none"
	chmod 444 "$a/ro"
}

# modes_expected LONG: what find -printf '%P %y %m' shows of what the
# archive of it unpacks (store/RELEASE).
modes_expected() {
	local long=$1 a=rep_applications/app-a
	printf '%s\n' 'MANIFEST f 644' 'rep_applications d 755' "$a d 755" "$a/README f 644" \
		"$a/bin d 755" "$a/bin/readme l 777" "$a/bin/run f 755" "$a/bin/tool f 755" \
		"$a/empty d 755" "$a/$long d 755" "$a/$long/$long f 644" "$a/lnk l 777" \
		"$a/none f 644" "$a/ro f 644" "$a/"$'\xc3\xa9 f 644' "$a/"$'\xff f 644' \
		'rep_applications/app-b d 755' 'rep_applications/app-b/README f 644' | LC_ALL=C sort
}

@test "archives of today's rep-tar (long, UTF-8 and non-UTF-8 names, symlinks, empty dirs, executables) check and deploy 0644/0755, under umask 000 and 077" {
	local um a rel long
	long=$(printf 'l%.0s' {1..120})
	for um in 000 077; do
		rm -rf rep_applications dist metadata.db t
		mkdir rep_applications
		(umask "$um" && modes_tree "$long")
		register app-a app-b
		a=$(umask "$um" && rep-tar -q app-a app-b </dev/null)
		rel=$(basename "$a" .tar.gz)
		run --separate-stderr rep-tar -t "$a" </dev/null
		assert_success
		assert_output "$(tar -xOzf "$a" MANIFEST)"
		refute_stderr
		# its records are the trees'
		tree_infos rep_applications/app-a rep_applications/app-b
		assert_equal "$(grep -v '^#' <<<"$output" | cut -f1-4)" \
			"$(lines "app-a$TAB${TREE_INFO[rep_applications/app-a]}" "app-b$TAB${TREE_INFO[rep_applications/app-b]}")"
		# shellcheck disable=SC2016 # expanded by that bash
		run --separate-stderr bash -c 'umask "$1" && exec rep-push t' _ "$um" <<<"$a"
		assert_success
		assert_output "$(push_records "$rel" t app-a app-b)"
		assert_stderr "rep-push: $rel: live on 1 target: 2 enter (app-a, app-b), 0 change, 0 stay, 0 leave"
		assert_live t "$rel"
		assert_equal "$(find "t/store/$rel/" -mindepth 1 -printf '%P %y %m\n' | LC_ALL=C sort)" \
			"$(modes_expected "$long")"
		assert_equal "$(find t/current/ -mindepth 1 -printf '%P %y %m %l\n' | LC_ALL=C sort)" "$(links_expected "$rel" app-a app-b)"
		assert_apps rep_applications t/current/rep_applications
	done
}

# links_expected RELEASE APP...: what find -printf '%P %y %m %l' shows of a
# release of these applications, all brought by RELEASE.
links_expected() {
	local rel=$1 app
	shift
	{
		printf '%s\n' 'MANIFEST f 644 ' 'rep_applications d 755 '
		for app; do
			printf 'rep_applications/%s l 777 ../../../store/%s/rep_applications/%s\n' "$app" "$rel" "$app"
		done
	} | LC_ALL=C sort
}

# fixture_expected LONG [UTF8]: what an earlier rep-tar's fixture unpacks.
fixture_expected() {
	local a=rep_applications/app-a
	{
		printf '%s\n' 'MANIFEST f 644' 'rep_applications d 755' "$a d 755" "$a/README f 644" \
			"$a/bin d 755" "$a/bin/readme l 777" "$a/bin/run f 755" "$a/empty d 755" \
			"$a/$1 d 755" "$a/$1/$1 f 644" 'rep_applications/app-b d 755' \
			'rep_applications/app-b/README f 644'
		if [ -n "${2-}" ]; then printf '%s\n' "$a/"$'\xc3\xa9 f 644'; fi
	} | LC_ALL=C sort
}

@test "archives written by earlier rep-tar versions (f3b2a72, 8d4bf50) still check, deploy and roll back to" {
	local c a rel long
	long=$(printf 'l%.0s' {1..110})
	for c in f3b2a72 8d4bf50; do
		a=$(echo "$FIXTURES/rep-tar-$c"/rep_applications_*.tar.gz)
		rel=$(basename "$a" .tar.gz)
		run --separate-stderr rep-tar -t "$a" </dev/null
		assert_success
		assert_output "$(cat "$FIXTURES/rep-tar-$c/manifest")"
		refute_stderr
		live_target "t-$c"
		run --separate-stderr rep-push "t-$c" <<<"$a"
		assert_success
		assert_output "$(push_records "$rel" "t-$c" app-a app-b)"
		assert_stderr "rep-push: $rel: live on 1 target: 1 enters (app-b), 1 changes (app-a), 0 stay, 0 leave"
		assert_live "t-$c" "$rel"
		assert_equal "$(find "t-$c/store/$rel/" -mindepth 1 -printf '%P %y %m\n' | LC_ALL=C sort)" \
			"$(fixture_expected "$long" "$([ "$c" = f3b2a72 ] || echo utf8)")"
		assert_equal "$(find "t-$c/current/" -mindepth 1 -printf '%P %y %m %l\n' | LC_ALL=C sort)" \
			"$(links_expected "$rel" app-a app-b)"
		mkdir "x-$c"
		tar -C "x-$c" -xzf "$a"
		diff -r --no-dereference "x-$c" "t-$c/store/$rel"
		assert_apps "x-$c/rep_applications" "t-$c/current/rep_applications"
		# a release of a version 1 manifest is verified, and goes live again
		mkdir "r-$c"
		rep-push -q "r-$c" <<<"$a"$'\n'"$GOOD" >/dev/null
		run --separate-stderr rep-push --rollback "r-$c" </dev/null
		assert_success
		assert_output "$(push_records "$rel" "r-$c" app-a app-b)"
		assert_stderr "rep-push: $rel: live again on 1 target"
		assert_live "r-$c" "$rel"
	done
}

# --- over ssh: the far side's GNU tar ----------------------------------------------------------

@test "over ssh: hostile archives of each class are refused before anything is changed on the target" {
	[ -n "${REP_SSH:-}" ] || skip "$NO_SSHD"
	local v d=$BATS_TEST_TMPDIR/t n=0 a
	local -A msg=(
		[global-size]="$(form "$DATA")"
		[gnu-longname]="$(form "$DATA" 'a GNU long name')"
		[gnu-longlink]="$(form "$DATA")"
		[volume-label]="$(form "$DATA")"
		[gnu-sparse]="$(form "$DATA")"
		[pax-size-smaller]="$(form "$PAX_DATA")"
		[mode-setuid]="$(form rep_applications/app-a/bin/run 'mode 4755')"
		[mode-world-writable]="$(form "$DATA" 'mode 0*666')"
		[app-dir-missing]="$(form rep_applications/app-b/README)"
		[out-of-order]="$(form rep_applications/app-a/cata 'out of order')"
		[sparse-hole]="$(form 'rep_applications/app-a/(PaxHeaders/|GNUSparseFile\.0/)?data')"
	)
	local -a args=()
	for v in "${!msg[@]}"; do
		args+=("$v" "$v.tar.gz")
	done
	mkdir hostile
	(cd hostile && craft "${args[@]}")
	live_target "$d"
	snapshot "$d"
	for v in "${!msg[@]}"; do
		n=$((n + 1))
		mkdir "h$n"
		a=h$n/$HOSTILE
		mv "hostile/$v.tar.gz" "$a"
		run --separate-stderr rep-push "$SSH_USER@127.0.0.1:$d" <<<"$a"
		assert_failure 2
		assert_output ''
		assert_stderr --regexp "^rep-push: $(ere "$a"): ${msg[$v]}\$"
		assert_unchanged
	done
	# the bomb, with a version 2 manifest
	mkdir bomb
	craft -m 2 dirs-bomb "bomb/$HOSTILE"
	run --separate-stderr rep-push "$SSH_USER@127.0.0.1:$d" <<<"bomb/$HOSTILE"
	assert_failure 2
	assert_output ''
	assert_stderr "rep-push: bomb/$HOSTILE: rep_applications/app-a/d00000/: more directories than MANIFEST lists for app-a"
	assert_unchanged
	assert_live "$d" "$GOOD_REL"
}

@test "over ssh: archives of today's and of earlier rep-tar versions deploy with 0644/0755 files and 0755 directories" {
	[ -n "${REP_SSH:-}" ] || skip "$NO_SSHD"
	local d=$BATS_TEST_TMPDIR/t a rel c long
	long=$(printf 'l%.0s' {1..120})
	modes_tree "$long"
	register app-a app-b
	a=$(rep-tar -q app-a app-b </dev/null)
	rel=$(basename "$a" .tar.gz)
	live_target "$d"
	run --separate-stderr rep-push "$SSH_USER@127.0.0.1:$d" <<<"$a"
	assert_success
	assert_output "$(push_records "$rel" "$SSH_USER@127.0.0.1:$d" app-a app-b)"
	assert_stderr "rep-push: $rel: live on 1 target: 1 enters (app-b), 1 changes (app-a), 0 stay, 0 leave"
	assert_live "$d" "$rel"
	assert_equal "$(find "$d/store/$rel/" -mindepth 1 -printf '%P %y %m\n' | LC_ALL=C sort)" \
		"$(modes_expected "$long")"
	assert_equal "$(find "$d/current/" -mindepth 1 -printf '%P %y %m %l\n' | LC_ALL=C sort)" \
		"$(links_expected "$rel" app-a app-b)"
	assert_apps rep_applications "$d/current/rep_applications"
	long=$(printf 'l%.0s' {1..110})
	local -A plan=([f3b2a72]='0 enter, 2 change (app-a, app-b), 0 stay, 0 leave'
		[8d4bf50]='0 enter, 1 changes (app-a), 1 stays, 0 leave')
	for c in f3b2a72 8d4bf50; do
		a=$(echo "$FIXTURES/rep-tar-$c"/rep_applications_*.tar.gz)
		rel=$(basename "$a" .tar.gz)
		run --separate-stderr rep-push "$SSH_USER@127.0.0.1:$d" <<<"$a"
		assert_success
		assert_output "$(push_records "$rel" "$SSH_USER@127.0.0.1:$d" app-a app-b)"
		assert_stderr "rep-push: $rel: live on 1 target: ${plan[$c]}"
		assert_live "$d" "$rel"
		assert_equal "$(find "$d/store/$rel/" -mindepth 1 -printf '%P %y %m\n' | LC_ALL=C sort)" \
			"$(fixture_expected "$long" "$([ "$c" = f3b2a72 ] || echo utf8)")"
		assert_equal "$(find "$d/current/" -mindepth 1 -printf '%P %y %m %l\n' | LC_ALL=C sort)" \
			"$(links_expected "$rel" app-a app-b)"
	done
}
