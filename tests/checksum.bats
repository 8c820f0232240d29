#!/usr/bin/env bats
# The application checksum (rep(7)): a SHA-256 over relative paths, contents,
# symlink targets and the owner-execute bit, recomputable with coreutils.

load helper

A=rep_applications

# checksum_of NAME: register NAME (or refresh it) and print its checksum.
checksum_of() {
	register "$1"
	rep-ls -o checksum "$1" </dev/null
}

# assert_recipe NAME: the registered checksum equals the coreutils recipe.
assert_recipe() {
	local got want
	got=$(checksum_of "$1")
	want=$(recompute_checksum "$A/$1")
	assert_regex "$want" '^[0-9a-f]{64}$'
	assert_equal "$got" "$want"
	# the helper the other test files use agrees with the recipe
	assert_equal "$(tree_info "$A/$1" | cut -f3)" "$want"
}

@test "a known tree has the documented checksum" {
	mkdir -p $A/known/bin
	printf 'hello\n' >$A/known/a
	printf '#!/bin/sh\necho hi\n' >$A/known/bin/run
	chmod 755 $A/known/bin/run
	chmod 644 $A/known/a
	ln -s a $A/known/link
	# computed independently (Python hashlib) from the definition in rep(7)
	assert_equal "$(recompute_checksum $A/known)" 7c1fb8fa4cb2d77f721b71ca8240af13c14b84b7511dc5f29efd9dd7ba5c59d0
	assert_equal "$(checksum_of known)" 7c1fb8fa4cb2d77f721b71ca8240af13c14b84b7511dc5f29efd9dd7ba5c59d0
}

@test "an empty application has the checksum of the empty string" {
	mkdir $A/empty
	mkdir -p $A/empty-dirs/a/b/c $A/empty-dirs/d
	assert_equal "$(checksum_of empty)" "$EMPTY_SHA256"
	assert_equal "$(checksum_of empty-dirs)" "$EMPTY_SHA256"
	assert_equal "$(rep-ls -o files,bytes empty-dirs </dev/null)" "0${TAB}0"
	assert_equal "$(recompute_checksum $A/empty)" "$EMPTY_SHA256"
}

@test "nested directories" {
	mkapp nested top a/one a/b/two a/b/c/three x/y/z/deep
	assert_recipe nested
}

@test "an executable file" {
	mkapp exe run data
	chmod 755 $A/exe/run
	assert_recipe exe
}

# (an absolute symlink leaves the application: refused, see rep-register.bats)
@test "symlinks: relative, dangling, to a directory, up from a subdirectory; never followed" {
	mkapp links target sub/file
	ln -s target $A/links/rel
	ln -s does/not/exist $A/links/dangling
	ln -s sub $A/links/dirlink
	ln -s ../target $A/links/sub/up
	assert_recipe links
	assert_equal "$(rep-ls -o files,bytes links </dev/null)" "6${TAB}$(tree_bytes $A/links)"
}

@test "an empty file" {
	mkapp hasempty README
	: >$A/hasempty/empty
	mkdir $A/hasempty/d
	: >$A/hasempty/d/also-empty
	assert_recipe hasempty
}

# (a control character, TAB included, is refused: see below)
@test "file names with spaces and other odd bytes" {
	mkapp spaces 'with space' 'dir with space/file name' 'star*' 'quote"s' "apo'strophe" 'back\slash' 'ünïcödé' '-dash' \
		$'latin1 \xe9t\xe9' $'\xff'
	assert_recipe spaces
}

@test "paths are sorted bytewise as whole paths, not directory by directory" {
	# whole-path order: "a b" < "a-b" < "a.b" < "a/x" < "a0" < "aB" < "b"
	mkapp order b aB a0 a/x a.b a-b 'a b' A
	assert_recipe order
	# and the order of the lines matters: a per-directory walk would put a/x first
	local per_dir
	per_dir=$(cd $A/order && for p in A a/x 'a b' a-b a.b a0 aB b; do
		printf 'f %s %s\n' "$(sha256sum <"$p" | cut -d' ' -f1)" "$p"
	done | sha256sum | cut -d' ' -f1)
	assert_not_equal "$(rep-ls -o checksum order </dev/null)" "$per_dir"
}

@test "a mixed tree: nested dirs, exec, symlink, empty file, spaces" {
	mkapp mixed 'bin/start app' lib/x/y.py 'conf/a b.conf'
	chmod 700 "$A/mixed/bin/start app"
	: >$A/mixed/lib/__init__.py
	ln -s 'bin/start app' "$A/mixed/start link"
	assert_recipe mixed
}

@test "independent of mtimes, atimes and modes other than owner-execute" {
	mkapp app-a one two sub/three
	local sum
	sum=$(checksum_of app-a)
	touch -d '2001-02-03 04:05:06' $A/app-a/one $A/app-a/sub
	touch -a -d '1999-01-01' $A/app-a/two
	chmod 600 $A/app-a/two
	chmod 654 $A/app-a/one # group and other execute do not count
	chmod 700 $A/app-a/sub
	run --separate-stderr rep-register app-a </dev/null
	assert_success
	assert_output ''
	assert_stderr 'rep-register: 0 registered, 0 refreshed, 1 unchanged'
	assert_equal "$(recompute_checksum $A/app-a)" "$sum"
}

@test "independent of creation order, inode order and copying" {
	mkdir -p $A/first/d $A/second/d
	local f
	for f in z m a d/q d/b; do printf '%s\n' "$f" >"$A/first/$f"; done
	for f in d/b a d/q m z; do printf '%s\n' "$f" >"$A/second/$f"; done
	cp -a $A/first $A/third
	# a copy made file by file in reverse name order
	mkdir -p $A/fourth/d
	for f in z m d/q d/b a; do cp -p "$A/first/$f" "$A/fourth/$f"; done
	touch -d '2010-01-01' $A/fourth/a
	local one
	one=$(checksum_of first)
	assert_equal "$(checksum_of second)" "$one"
	assert_equal "$(checksum_of third)" "$one"
	assert_equal "$(checksum_of fourth)" "$one"
	assert_equal "$(recompute_checksum $A/first)" "$one"
}

@test "changes when content changes" {
	mkapp app-a one two
	local old
	old=$(checksum_of app-a)
	printf 'x' >>$A/app-a/two
	run --separate-stderr rep-register app-a </dev/null
	assert_success
	assert_stderr 'rep-register: 0 registered, 1 refreshed, 0 unchanged'
	assert_not_equal "$(field 5)" "$old"
	assert_equal "$(field 5)" "$(recompute_checksum $A/app-a)"
}

@test "changes when a file is renamed, added or removed" {
	mkapp app-a one two
	local s1 s2 s3
	s1=$(checksum_of app-a)
	mv $A/app-a/two $A/app-a/three
	s2=$(checksum_of app-a)
	assert_not_equal "$s2" "$s1"
	assert_equal "$s2" "$(recompute_checksum $A/app-a)"
	mkdir $A/app-a/sub && mv $A/app-a/three $A/app-a/sub/
	s3=$(checksum_of app-a)
	assert_not_equal "$s3" "$s2"
	assert_equal "$s3" "$(recompute_checksum $A/app-a)"
}

@test "changes when the owner-execute bit changes" {
	mkapp app-a run
	chmod 644 $A/app-a/run
	local old new
	old=$(checksum_of app-a)
	chmod u+x $A/app-a/run
	run --separate-stderr rep-register app-a </dev/null
	assert_success
	assert_stderr 'rep-register: 0 registered, 1 refreshed, 0 unchanged'
	new=$(field 5)
	assert_not_equal "$new" "$old"
	assert_equal "$new" "$(recompute_checksum $A/app-a)"
	chmod u-x $A/app-a/run
	assert_equal "$(checksum_of app-a)" "$old"
}

@test "changes when a symlink target changes, even to an equal file" {
	mkapp app-a one two
	cp $A/app-a/one $A/app-a/same
	ln -s one $A/app-a/link
	local old new
	old=$(checksum_of app-a)
	ln -sfn same $A/app-a/link
	new=$(checksum_of app-a)
	assert_not_equal "$new" "$old"
	assert_equal "$new" "$(recompute_checksum $A/app-a)"
}

@test "a symlink and a file with its target as content differ" {
	mkdir $A/as-link $A/as-file
	ln -s target $A/as-link/x
	printf 'target' >$A/as-file/x
	assert_not_equal "$(checksum_of as-link)" "$(checksum_of as-file)"
	assert_recipe as-link
	assert_recipe as-file
}

# 70 applications: more than 4 per core on up to 16 cores, so each is walked
# and hashed whole by one thread, its files under 64 KiB read in batches of
# up to 32 (io_uring) where the kernel allows it, its directories closed
# after the batch that read their files.
@test "many applications (the batched reader): sizes around its 64 KiB buffer, 40 files in a directory, 40 directories; by the recipe, and as without io_uring" {
	local n with
	mkapps 67
	mkapp deep d{00..39}/f x/y/z/{a..c}
	mkapp sizes README
	for n in 0 1 65535 65536 65537 200000; do
		head -c "$n" /dev/urandom >$A/sizes/f$n
	done
	chmod 755 $A/sizes/f65535 $A/sizes/f65536
	mkapp wide sub/deeper/y f{00..39}
	ln -s f01 $A/wide/link
	run --separate-stderr rep-register -q --all </dev/null
	assert_success
	assert_stderr ''
	assert_equal "${#lines[@]}" 70
	assert_equal "$(rep-ls -o checksum,files deep </dev/null)" "$(recompute_checksum $A/deep)${TAB}43"
	assert_equal "$(rep-ls -o checksum,files,bytes sizes </dev/null)" \
		"$(recompute_checksum $A/sizes)${TAB}7${TAB}$((65535 + 65536 + 65537 + 200000 + 1 + 13))"
	assert_equal "$(rep-ls -o checksum,files app-033 sizes wide </dev/null)" \
		"$(lines "$(recompute_checksum $A/app-033)${TAB}1" "$(recompute_checksum $A/sizes)${TAB}7" \
			"$(recompute_checksum $A/wide)${TAB}42")"
	with=$output
	REP_IO_URING=0 run --separate-stderr rep-register -q --db other.db --all </dev/null
	assert_success
	assert_equal "$(cut -f1-5 <<<"$output")" "$(cut -f1-5 <<<"$with")"
	# the stat cache rows too
	assert_equal "$(sqlite3 other.db 'SELECT app_id, hex(path), size, ino, mode, hex(hash) FROM file ORDER BY 1, 2')" \
		"$(sqlite3 metadata.db 'SELECT app_id, hex(path), size, ino, mode, hex(hash) FROM file ORDER BY 1, 2')"
}

@test "a FIFO inside an application: exit 2, nothing registered" {
	mkapp app-a README
	mkfifo $A/app-a/fifo
	run --separate-stderr timeout 10 rep-register app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines 'rep-register: app-a/fifo: a FIFO, not a regular file, directory or symlink' \
		'rep-register: app-a: holds what rep cannot ship (see rep(7), APPLICATION CONTENTS); nothing registered')"
	assert_no_db
}

@test "a FIFO appearing in a registered application: refresh refused, database unchanged" {
	mkapp app-a README
	mkapp app-b
	register app-a
	mkfifo $A/app-a/fifo
	snapshot_db
	run --separate-stderr timeout 10 rep-register app-b app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines 'rep-register: app-a/fifo: a FIFO, not a regular file, directory or symlink' \
		'rep-register: app-a: holds what rep cannot ship (see rep(7), APPLICATION CONTENTS); nothing registered')"
	assert_db_unchanged
}

@test "a FIFO makes --all fail too" {
	mkapp app-a
	mkapp app-b sub/x
	mkfifo $A/app-b/sub/fifo
	run --separate-stderr timeout 10 rep-register --all </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines 'rep-register: app-b/sub/fifo: a FIFO, not a regular file, directory or symlink' \
		'rep-register: app-b: holds what rep cannot ship (see rep(7), APPLICATION CONTENTS); nothing registered')"
	assert_no_db
}

# --- names with control characters (rep(7), APPLICATION CONTENTS) -----------------

# colliding_trees: one and two, different trees with one checksum by the
# recipe of rep(7), were names with a newline allowed: in one, "a<LF>f HB b"
# (holding "one") and c (holding "good"); in two, a (holding "one") and
# "b<LF>f HC c" (holding "evil"). Both hash the lines "f HA a", "f HB b",
# "f HC c", and hold 2 files of 9 bytes. Sets HB and HC.
colliding_trees() {
	HB=$(printf 'evil\n' | sha256sum | cut -d' ' -f1)
	HC=$(printf 'good\n' | sha256sum | cut -d' ' -f1)
	mkdir $A/one $A/two
	printf 'one\n' >"$A/one/a"$'\n'"f $HB b"
	printf 'good\n' >$A/one/c
	printf 'one\n' >$A/two/a
	printf 'evil\n' >"$A/two/b"$'\n'"f $HC c"
}

@test "a newline in a name would give two trees one checksum: such names are refused, nothing registered" {
	colliding_trees
	# the collision, by the recipe
	assert_equal "$(recompute_checksum $A/two)" "$(recompute_checksum $A/one)"
	assert_equal "$(tree_files $A/two) $(tree_bytes $A/two)" "$(tree_files $A/one) $(tree_bytes $A/one)"
	assert_not_equal "$(cat $A/two/*)" "$(cat $A/one/*)"
	run --separate-stderr rep-register one two </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines "rep-register: one/a\\x0af $HB b: a name with a control character" \
		"rep-register: two/b\\x0af $HC c: a name with a control character" "$(hold rep-register 2)")"
	assert_no_db
}

# The issue's case: a record of tree one (as a rep that took such names
# made it; written here with sqlite3), and tree two in its place.
@test "a tree swapped for one with the same checksum through a newline in a name: rep-diff (and --rehash) says invalid, rep-tar packages nothing" {
	colliding_trees
	mkapp swap
	register swap
	sqlite3 metadata.db "UPDATE app SET files = 2, bytes = 9, checksum = '$(recompute_checksum $A/one)' WHERE name = 'swap'"
	rm -r $A/swap
	cp -a $A/two $A/swap
	rm -r $A/one $A/two
	local opt
	for opt in '' --rehash; do
		run --separate-stderr rep-diff $opt </dev/null
		assert_failure 1
		assert_output "swap${TAB}invalid"
		assert_stderr "$(lines "rep-diff: swap/b\\x0af $HC c: a name with a control character" 'rep-diff: 1 discrepancy')"
	done
	run --separate-stderr rep-tar swap </dev/null
	assert_failure 2
	# its failure record, for rep-push to pass on to rep-setstatus --record
	local why
	why=$(holds rep-tar swap)
	assert_output "swap${TAB}-${TAB}-${TAB}$(rep-ls -o checksum swap </dev/null)${TAB}failed${TAB}${why#rep-tar: }"
	assert_stderr "$(lines "rep-tar: swap/b\\x0af $HC c: a name with a control character" "$why")"
	[ ! -e dist ]
}

@test "a name with any control character (LF, TAB, ESC, CR, 0x01, 0x7f), of a file, a directory or a symlink: refused, shown as \\xHH, its directory not entered" {
	mkapp c-lf README $'new\nline'
	mkapp c-tab README
	mkdir $A/c-tab/$'d\tir'
	mkfifo $A/c-tab/$'d\tir/fifo' # not entered: not told
	mkapp c-esc README $'\e[31mred'
	mkapp c-cr README $'sub/a\rb'
	mkapp c-01 README $'\x01'
	mkapp c-del README $'del\x7f'
	mkapp c-link README
	ln -s README $A/c-link/$'l\e]0;x\a'
	mkapp fine README
	run --separate-stderr rep-register --all </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines \
		'rep-register: c-01/\x01: a name with a control character' \
		'rep-register: c-cr/sub/a\x0db: a name with a control character' \
		'rep-register: c-del/del\x7f: a name with a control character' \
		'rep-register: c-esc/\x1b[31mred: a name with a control character' \
		'rep-register: c-lf/new\x0aline: a name with a control character' \
		'rep-register: c-link/l\x1b]0;x\x07: a name with a control character' \
		'rep-register: c-tab/d\x09ir: a name with a control character' \
		"$(hold rep-register 7)")"
	assert_no_db
	# the control: bytes from 0x20 up are names like any other
	run --separate-stderr rep-register fine </dev/null
	assert_success
}
