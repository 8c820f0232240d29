#!/usr/bin/env bats
# What the fuzzers (fuzz/, make fuzz) found, checked through the tools. The
# inputs that crashed a harness are in fuzz/corpus/, where every make fuzz
# runs them again first.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

FORM='(not in the form rep-tar writes)'

bats_require_minimum_version 1.5.0

# mkarchive OUT MANIFEST-TEXT: a tar.gz holding MANIFEST and one empty
# application app-a, whose right manifest record is "app-a 0 0 EMPTY_SHA256".
mkarchive() {
	pytar "$1" "f:MANIFEST:$2" d:rep_applications/ d:rep_applications/app-a/
}

# refused OUT MANIFEST-TEXT LINE: rep-tar -t refuses the archive with MANIFEST
# line LINE, printing nothing and changing nothing.
refused() {
	mkarchive "$1" "$2"
	local before
	before=$(sha256sum "$1")
	run --separate-stderr rep-tar -t "$1" </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: $1: MANIFEST:$3: not a manifest record"
	assert_equal "$(sha256sum "$1")" "$before"
	assert [ ! -e dist ]
	rm "$1"
}

@test "-t: the control, a MANIFEST record of decimal counts and a lowercase hex checksum, passes" {
	mkarchive ok.tgz "app-a${TAB}0${TAB}0${TAB}$EMPTY_SHA256"$'\n'
	run --separate-stderr rep-tar -t ok.tgz </dev/null
	assert_success
	assert_output "app-a${TAB}0${TAB}0${TAB}$EMPTY_SHA256"
	refute_stderr
}

@test "-t: a checksum that is not 64 lowercase hex digits is not a manifest record (was: found only as content not matching)" {
	refused upper.tgz "app-a${TAB}0${TAB}0${TAB}${EMPTY_SHA256^^}"$'\n' 1
	refused nothex.tgz "app-a${TAB}0${TAB}0${TAB}$(printf 'z%.0s' {1..64})"$'\n' 1
}

@test "-t: a count that is empty, signed, spaced or of more than 18 digits is not a manifest record (was: read as 0 or clamped, and passed)" {
	refused empty.tgz "app-a${TAB}${TAB}${TAB}$EMPTY_SHA256"$'\n' 1
	refused plus.tgz "app-a${TAB}+0${TAB}0${TAB}$EMPTY_SHA256"$'\n' 1
	refused space.tgz "app-a${TAB}0${TAB} 0${TAB}$EMPTY_SHA256"$'\n' 1
	refused minus.tgz "app-a${TAB}-0${TAB}0${TAB}$EMPTY_SHA256"$'\n' 1
	refused huge.tgz "app-a${TAB}9223372036854775807${TAB}0${TAB}$EMPTY_SHA256"$'\n' 1
	refused over.tgz "app-a${TAB}0${TAB}99999999999999999999${TAB}$EMPTY_SHA256"$'\n' 1
}

@test "-t: counts whose sum overflows are not a manifest record (was: a signed overflow, undefined)" {
	local m='' i
	for i in 0 1 2 3 4 5 6 7 8 9; do
		m+="app-$i${TAB}999999999999999999${TAB}0${TAB}$EMPTY_SHA256"$'\n'
	done
	refused sum.tgz "$m" 10
}

@test "-t: the line number of a bad MANIFEST record counts blank lines (was: not counted)" {
	refused blank.tgz $'\n\n'"app-a${TAB}x${TAB}0${TAB}$EMPTY_SHA256"$'\n' 3
}

# linkarchive OUT PATH TARGET: a rep archive of one application, app-a,
# holding one symlink at rep_applications/app-a/PATH pointing to TARGET
# (below the directory sub/ if PATH begins with it),
# with the manifest record that matches it (rep(7)'s checksum of the tree).
linkarchive() {
	"$PYTHON" - "$@" <<'PY'
import gzip, hashlib, io, sys, tarfile
out, path, target = sys.argv[1:]
line = 'l %s %s\n' % (hashlib.sha256(target.encode()).hexdigest(), path)
manifest = ('app-a\t1\t0\t%s\n' % hashlib.sha256(line.encode()).hexdigest()).encode()
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo('MANIFEST')
    ti.size = len(manifest)
    t.addfile(ti, io.BytesIO(manifest))
    dirs = ['rep_applications/', 'rep_applications/app-a/']
    if path.startswith('sub/'):
        dirs.append('rep_applications/app-a/sub/')
    for d in dirs:
        ti = tarfile.TarInfo(d)
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        t.addfile(ti)
    ti = tarfile.TarInfo('rep_applications/app-a/' + path)
    ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
    t.addfile(ti)
open(out, 'wb').write(gzip.compress(buf.getvalue(), mtime=0))
PY
}

# pushed_nowhere ARCHIVE MESSAGE: rep-tar -t and rep-push refuse ARCHIVE with
# MESSAGE after its name, and the target directory stays empty.
pushed_nowhere() {
	run --separate-stderr rep-tar -t "$1" </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "rep-tar: $1: $2"
	mkdir target
	run --separate-stderr rep-push target <<<"$1"
	assert_failure 2
	assert_output ''
	assert_stderr "rep-push: $1: $2"
	assert_equal "$(find target)" target
	rmdir target
}

@test "the control: an archive whose symlink stays in its application passes and is pushed" {
	linkarchive rep_applications_20200101_000000.tar.gz sub/l ../README
	run --separate-stderr rep-tar -t rep_applications_20200101_000000.tar.gz </dev/null
	assert_success
	assert_output --regexp "^app-a${TAB}1${TAB}0${TAB}[0-9a-f]{64}\$"
	refute_stderr
	mkdir target
	run --separate-stderr rep-push -q target <<<rep_applications_20200101_000000.tar.gz
	assert_success
	assert_output "$(push_records rep_applications_20200101_000000 target app-a)"
	refute_stderr
	assert_equal "$(readlink target/current/rep_applications/app-a/sub/l)" ../README
}

@test "a symlink named with ./ or // climbs out no more: unsafe path (was: deployed, pointing outside the release)" {
	linkarchive rep_applications_20200101_000000.tar.gz ./././l ../../../x
	pushed_nowhere rep_applications_20200101_000000.tar.gz 'rep_applications/app-a/./././l: unsafe path'
	linkarchive rep_applications_20200101_000001.tar.gz a//l ../../x
	pushed_nowhere rep_applications_20200101_000001.tar.gz 'rep_applications/app-a/a//l: unsafe path'
}

@test "a symlink named with a trailing / is as deep as without it: points outside (was: one level deeper)" {
	linkarchive rep_applications_20200101_000000.tar.gz l/ ..
	pushed_nowhere rep_applications_20200101_000000.tar.gz "rep_applications/app-a/l/: a non-directory name with a trailing '/' $FORM"
}

@test "a name longer than 255 bytes is refused by the check: file name too long (was: passed, then failed half-way through unpacking)" {
	local long
	long=$(printf 'x%.0s' {1..256})
	pytar rep_applications_20200101_000000.tar.gz "f:MANIFEST:app-a${TAB}0${TAB}0${TAB}$EMPTY_SHA256"$'\n' \
		d:rep_applications/ d:rep_applications/app-a/ "d:rep_applications/app-a/$long/"
	pushed_nowhere rep_applications_20200101_000000.tar.gz "rep_applications/app-a/$long/: file name too long"
	linkarchive rep_applications_20200101_000001.tar.gz "sub/$long" ../README
	pushed_nowhere rep_applications_20200101_000001.tar.gz "rep_applications/app-a/sub/$long: file name too long"
}

@test "a name of 255 bytes, the most a directory holds, passes and is pushed" {
	local name
	name=$(printf 'x%.0s' {1..255})
	linkarchive rep_applications_20200101_000000.tar.gz "$name" README
	run --separate-stderr rep-tar -t rep_applications_20200101_000000.tar.gz </dev/null
	assert_success
	assert_output --regexp "^app-a${TAB}1${TAB}0${TAB}[0-9a-f]{64}\$"
	refute_stderr
	mkdir target
	run --separate-stderr rep-push -q target <<<rep_applications_20200101_000000.tar.gz
	assert_success
	assert_output "$(push_records rep_applications_20200101_000000 target app-a)"
	refute_stderr
	assert_equal "$(readlink "target/current/rep_applications/app-a/$name")" README
}

@test "a symlink target of 4096 bytes or more is refused: symlink target too long; 4095 bytes pass" {
	local target
	target=$(printf 'a/%.0s' {1..2047})a
	assert_equal "${#target}" 4095
	linkarchive rep_applications_20200101_000000.tar.gz l "$target"
	run --separate-stderr rep-tar -t rep_applications_20200101_000000.tar.gz </dev/null
	assert_success
	refute_stderr
	mkdir target
	run --separate-stderr rep-push -q target <<<rep_applications_20200101_000000.tar.gz
	assert_success
	assert_equal "$(readlink target/current/rep_applications/app-a/l)" "$target"
	rm -rf target
	linkarchive rep_applications_20200101_000001.tar.gz l "${target}a"
	pushed_nowhere rep_applications_20200101_000001.tar.gz 'rep_applications/app-a/l: symlink target too long'
}

# twice OUT MESSAGE ENTRY...: an archive of app-a whose manifest lists one
# file of 2 bytes, holding ENTRY... (pytar specs below rep_applications/app-a/),
# is refused with MESSAGE before its content is compared.
twice() {
	local out=$1 msg=$2 specs=() e
	shift 2
	for e; do
		specs+=("${e%%:*}:rep_applications/app-a/${e#*:}")
	done
	pytar "$out" "f:MANIFEST:app-a${TAB}1${TAB}2${TAB}$EMPTY_SHA256"$'\n' \
		d:rep_applications/ d:rep_applications/app-a/ "${specs[@]}"
	pushed_nowhere "$out" "$msg"
}

@test "one entry per path, whatever its types: entry twice (was: a directory and a file or symlink of one name passed, then unpacking failed or kept the directory)" {
	twice rep_applications_20200101_000000.tar.gz 'rep_applications/app-a/x: entry twice' d:x/ f:x:hi
	twice rep_applications_20200101_000001.tar.gz 'rep_applications/app-a/x: entry twice' d:x l:x:y
	twice rep_applications_20200101_000002.tar.gz 'rep_applications/app-a/x/: entry twice' f:x:hi d:x/
	twice rep_applications_20200101_000003.tar.gz 'rep_applications/app-a/d/: entry twice' d:d d:d/
}

@test "an entry's parents are directories listed before it: below no directory of the archive (was: passed, then unpacking failed)" {
	twice rep_applications_20200101_000000.tar.gz "rep_applications/app-a/x/y/: below no directory of the archive $FORM" f:x:hi d:x/y/
	twice rep_applications_20200101_000001.tar.gz "rep_applications/app-a/x/y/: below no directory of the archive $FORM" d:x/y/ f:x:hi
	twice rep_applications_20200101_000002.tar.gz "rep_applications/app-a/x/y/: below no directory of the archive $FORM" d:x/y/ l:x:y
}

@test "a directory entry after the entries below it is refused: below no directory of the archive (was: passed, issue 16)" {
	local line manifest
	line="f $(printf hi | sha256sum | cut -d' ' -f1) x/y/z"
	manifest="app-a${TAB}1${TAB}2${TAB}$(printf '%s\n' "$line" | sha256sum | cut -d' ' -f1)"$'\n'
	pytar rep_applications_20200101_000000.tar.gz "f:MANIFEST:$manifest" \
		d:rep_applications/ d:rep_applications/app-a/ f:rep_applications/app-a/x/y/z:hi \
		d:rep_applications/app-a/x/y/ d:rep_applications/app-a/x/
	pushed_nowhere rep_applications_20200101_000000.tar.gz "rep_applications/app-a/x/y/z: below no directory of the archive $FORM"
}

@test "a symlink named with a trailing / is refused (was: passed, and an entry below it too, then unpacking failed)" {
	linkarchive rep_applications_20200101_000000.tar.gz l/ sub
	pushed_nowhere rep_applications_20200101_000000.tar.gz "rep_applications/app-a/l/: a non-directory name with a trailing '/' $FORM"
	twice rep_applications_20200101_000001.tar.gz "rep_applications/app-a/l/: a non-directory name with a trailing '/' $FORM" l:l/:sub f:l/x:hi
}

# What fuzz/roundtrip found: rep-tar's own archives the check refused.

@test "a decomposed UTF-8 name (a + U+0301) is packed, checked and deployed with its bytes (was: refused, libarchive made it NFC)" {
	local nfd=$'a\xcc\x81' nfc=$'\xc3\xa1'
	mkapp app-a README
	echo x >"rep_applications/app-a/$nfd"
	register app-a
	run --separate-stderr rep-tar -q app-a </dev/null
	assert_success
	refute_stderr
	local a=$output
	run --separate-stderr rep-tar -t "$a" </dev/null
	assert_success
	assert_output --partial "app-a${TAB}2${TAB}"
	refute_stderr
	mkdir target
	run --separate-stderr rep-push -q target <<<"$a"
	assert_success
	refute_stderr
	assert [ -f "target/current/rep_applications/app-a/$nfd" ]
	assert [ ! -e "target/current/rep_applications/app-a/$nfc" ]
}

@test "mtimes before 1970 and from 2242 on (base 256 in the header) pass the form check and deploy" {
	mkapp app-a README old new
	touch -d '1960-01-01T00:00:00Z' rep_applications/app-a/old
	touch -d '2250-01-01T00:00:00Z' rep_applications/app-a/new
	register app-a
	run --separate-stderr rep-tar -q app-a </dev/null
	assert_success
	local a=$output
	run --separate-stderr rep-tar -t "$a" </dev/null
	assert_success
	refute_stderr
	mkdir target
	run --separate-stderr rep-push -q target <<<"$a"
	assert_success
	refute_stderr
	assert_equal "$(date -u -r target/current/rep_applications/app-a/old +%Y)" 1960
	assert_equal "$(date -u -r target/current/rep_applications/app-a/new +%Y)" 2250
}

# What the hostile review of issue 16 found.

@test "a symlink target with a control character: refused by the check (was: deployed locally, refused over ssh)" {
	linkarchive rep_applications_20200101_000000.tar.gz sub/l $'README\n'
	pushed_nowhere rep_applications_20200101_000000.tar.gz 'rep_applications/app-a/sub/l: a symlink target with a control character'
	mkapp app-b README
	ln -s $'README\x1b[2J' rep_applications/app-b/l
	run --separate-stderr rep-register app-b </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines 'rep-register: app-b/l: a symlink target with a control character' \
		'rep-register: app-b: holds what rep cannot ship (see rep(7), APPLICATION CONTENTS); nothing registered')"
}

@test "a path of more than 4000 bytes in an archive: refused by the check and by rep-register (was: deployed locally, refused over ssh)" {
	local seg long='' i
	seg=$(printf 'd%.0s' {1..250})
	for i in {1..15}; do long+="$seg/"; done
	# 17 + 6 + 15 x 251 + 235 = 4023 bytes for the file
	local name
	name=$long$(printf 'f%.0s' {1..235})
	mkapp app-a README
	mkdir -p "rep_applications/app-a/$long"
	echo x >"rep_applications/app-a/$name"
	run --separate-stderr rep-register app-a </dev/null
	assert_failure 2
	assert_output ''
	assert_stderr "$(lines "rep-register: app-a/$name: path too long (an archive holds at most 4000 bytes)" \
		'rep-register: app-a: holds what rep cannot ship (see rep(7), APPLICATION CONTENTS); nothing registered')"
	rm "rep_applications/app-a/$name"
	register app-a
	run --separate-stderr rep-tar -q app-a </dev/null
	assert_success
	# the same tree with the long file, made by hand: the check refuses it
	local a=$output
	mkdir x
	tar -C x -xzf "$a"
	echo x >"x/rep_applications/app-a/$name"
	local sum
	sum=$(recompute_checksum x/rep_applications/app-a)
	printf '%s\n' "app-a${TAB}2${TAB}$(( $(stat -c %s x/rep_applications/app-a/README) + 2 ))${TAB}$sum" >x/MANIFEST
	rebuild x rep_applications_20200101_000000.tar.gz
	pushed_nowhere rep_applications_20200101_000000.tar.gz \
		"rep_applications/app-a/$name: path too long (an archive holds at most 4000 bytes)"
}

@test "sizes and times in base 256: taken only where octal cannot hold them, as libarchive writes them" {
	"$PYTHON" - <<'PY'
import gzip

def header(name, size_field, mtime_field, typeflag=b'0', mode=0o644):
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b'%07o\0' % mode
    h[108:116] = b'0000000\0'
    h[116:124] = b'0000000\0'
    h[124:136] = size_field
    h[136:148] = mtime_field
    h[148:156] = b'        '
    h[156:157] = typeflag
    h[257:265] = b'ustar\x0000'
    s = sum(h)
    h[148:156] = b'%06o\0 ' % s
    return bytes(h)

def pax(name, records):
    # a record's length counts its own digits
    out = b''
    for r in records:
        body = b' ' + r + b'\n'
        n = len(body) + 1
        while len(str(n)) + len(body) != n:
            n += 1
        out += str(n).encode() + body
    return header(name, b'%011o ' % len(out), b'%011o ' % 0, b'x') + out + bytes(-len(out) % 512)

def octal(v):
    return b'%011o ' % v

def b256(v):
    return b'\x80' + v.to_bytes(11, 'big')

big = 70_000_000_000
manifest = ('app-a\t1\t%d\t%s\n' % (big, '0' * 64)).encode()
def archive(path, size_field, mtime_field, with_pax):
    t = header(b'MANIFEST', octal(len(manifest)), octal(0)) + manifest + bytes(-len(manifest) % 512)
    t += header(b'rep_applications/', octal(0), octal(0), b'5', 0o755)
    t += header(b'rep_applications/app-a/', octal(0), octal(0), b'5', 0o755)
    if with_pax:
        t += pax(b'PaxHeader/big', [b'size=%d' % big])
    t += header(b'rep_applications/app-a/big', size_field, mtime_field)
    t += bytes(4096)  # the data, cut short
    open(path, 'wb').write(gzip.compress(t, mtime=0))

archive('b256.tar.gz', b256(big), octal(0), True)          # as libarchive writes 70 GB
archive('b256-nopax.tar.gz', b256(big), octal(0), False)   # no pax size
archive('b256-small.tar.gz', b256(5), octal(0), False)     # base 256 where octal would do
archive('b256-c0.tar.gz', octal(0), b'\xc0' + bytes(11), True)  # not a base-256 prefix
PY
	# the first passes the form and stops where the data ends
	run --separate-stderr rep-tar -t b256.tar.gz </dev/null
	assert_failure 2
	assert_stderr --regexp '^rep-tar: b256\.tar\.gz: (truncated archive|rep_applications/app-a/big: .*(Truncated|truncated).*)$'
	run --separate-stderr rep-tar -t b256-nopax.tar.gz </dev/null
	assert_failure 2
	assert_stderr 'rep-tar: b256-nopax.tar.gz: rep_applications/app-a/big: a size of 8 GiB or more without a pax size (not in the form rep-tar writes)'
	run --separate-stderr rep-tar -t b256-small.tar.gz </dev/null
	assert_failure 2
	assert_stderr 'rep-tar: b256-small.tar.gz: rep_applications/app-a/big: a numeric field in another form (not in the form rep-tar writes)'
	run --separate-stderr rep-tar -t b256-c0.tar.gz </dev/null
	assert_failure 2
	assert_stderr 'rep-tar: b256-c0.tar.gz: rep_applications/app-a/big: a numeric field in another form (not in the form rep-tar writes)'
}

@test "a rollback to a release of which an entry has another owner: refused (was: live again, and that owner could change it)" {
	[ "$(id -u)" -eq 0 ] || skip 'chown to another user needs root'
	mkapp app-a README
	register app-a
	local a1 a2
	a1=$(rep-tar -q app-a </dev/null)
	echo changed >rep_applications/app-a/README
	register app-a
	a2=$(rep-tar -q app-a </dev/null)
	mkdir target
	rep-push -q target <<<"$a1"$'\n'"$a2" >/dev/null
	local r1
	r1=$(basename "$a1" .tar.gz)
	chown 4242 "target/releases/$r1/rep_applications/app-a/README"
	run --separate-stderr rep-push --rollback target </dev/null
	assert_failure 1
	assert_output ''
	# the file is in store/r1, where the release's link leads
	assert_stderr "$(lines "rep-push: target: store/$r1/rep_applications/app-a/README: owned by uid 4242, not by the login that pushes" \
		"rep-push: target: releases/$r1 is not what its MANIFEST lists" \
		'rep-push: rollback: not possible on 1 of 1 targets; nothing switched')"
	assert_equal "$(readlink target/current)" "releases/$(basename "$a2" .tar.gz)"
}
