# shellcheck shell=bash disable=SC2154 # output, stderr, status: set by bats' run
# Shared fixture and assertions for the rep test suite.  Load with `load helper`.
#
# Every test runs in a fresh directory ($BATS_TEST_TMPDIR) with no REP_DB or
# REP_APPS in the environment and USER=LOGNAME=tester.  Tools under test never see the
# terminal: every call gives them explicit input.

bats_require_minimum_version 1.5.0

# rep_load_library NAME: bats_load_library, faster.  The libraries' load.bash
# runs $(dirname ...) once per source file, and bats loads this file again for
# every test: that alone cost a fifth of a second per test.  Their src/*.bash
# only define functions, so source them directly from the first BATS_LIB_PATH
# entry that has them; anything else goes to bats_load_library.
rep_load_library() {
	local dir f
	local -a dirs
	IFS=: read -ra dirs <<<"$BATS_LIB_PATH"
	for dir in "${dirs[@]}"; do
		if [ -f "$dir/$1/load.bash" ] && [ -d "$dir/$1/src" ]; then
			for f in "$dir/$1"/src/*.bash; do
				# shellcheck source=/dev/null
				source "$f" || return
			done
			return 0
		fi
	done
	bats_load_library "$1"
}
rep_load_library bats-support
rep_load_library bats-assert

# The tools under test: $REP_BIN, else ../bin, first on PATH, as an absolute path.
REP_BIN_DIR=${REP_BIN:-$BATS_TEST_DIRNAME/../bin}
[[ $REP_BIN_DIR == /* ]] || REP_BIN_DIR=$PWD/$REP_BIN_DIR
# STARTUP: seconds a tool under test may take before it has set up its
# signal handling (a test that signals it mid-run waits that long): under
# valgrind (make check-valgrind), a start takes a second or more.
if [[ $REP_BIN_DIR == */valgrind ]]; then STARTUP=6; else STARTUP=0.5; fi
PATH="$REP_BIN_DIR:$PATH"
export PATH
# rep-push built with the fault-injecting transport (tests/fault.c), beside
# the tools under test: build/test/rep-push for build/bin/rep-push.
FAULT_PUSH=$(dirname "$(readlink -f "$REP_BIN_DIR/rep-push")")/../test/rep-push

# A timestamp as the tools print it: UTC, RFC 3339, second precision.
TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
TAB=$'\t'
VALID_STATUSES='registered, ready, pending_deployment, deployed, failed, retired'
NAME_RULE='1-128 bytes of A-Za-z0-9._+-, not starting with . or -'
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
APP_HEADER="#name${TAB}status${TAB}files${TAB}bytes${TAB}checksum${TAB}registered${TAB}updated"
HISTORY_HEADER="#name${TAB}time${TAB}from${TAB}to${TAB}user${TAB}note"

# untraced CMD...: run CMD without bats' DEBUG trap.  Bats runs it before every
# command of a test and of the functions it calls (set -T), which makes shell
# loops crawl: 3000 iterations take 2.4 s with it, 0.03 s without.  The shell
# functions below that loop over files or entries run under this.
untraced() {
	local saved='' rc=0
	trap -p DEBUG >"$BATS_FILE_TMPDIR/debug-trap"
	read -r -d '' saved <"$BATS_FILE_TMPDIR/debug-trap" || true
	trap - DEBUG
	"$@" || rc=$?
	eval "$saved"
	return "$rc"
}

rep_setup() {
	cd "$BATS_TEST_TMPDIR" || return
	unset REP_DB REP_APPS
	export USER=tester LOGNAME=tester
	unset SUDO_USER
	export LC_ALL=C
	mkdir -p rep_applications
}

setup() {
	rep_setup
}

# mkapp NAME [FILE...]: create application NAME under ${APPS:-rep_applications}
# with the given files (default: README), each holding "NAME/FILE" and a newline.
# FILE may contain slashes; the directories are created.
mkapp() {
	untraced _mkapp "$@"
}

_mkapp() {
	local name=$1 dir f
	shift
	dir=${APPS:-rep_applications}/$name
	[ $# -gt 0 ] || set -- README
	local -a dirs=("$dir")
	for f; do
		if [[ $f == */* ]]; then
			dirs+=("$dir/${f%/*}")
		fi
	done
	mkdir -p -- "${dirs[@]}" || return
	for f; do
		printf '%s/%s\n' "$name" "$f" >"$dir/$f" || return
	done
}

# mkapps N: create app-001 .. app-N (three digits), one small file each.
mkapps() {
	untraced _mkapps "$1"
}

_mkapps() {
	local i names=()
	for ((i = 1; i <= $1; i++)); do
		printf -v 'names[i]' 'app-%03d' "$i"
	done
	(cd rep_applications && mkdir -p "${names[@]}") || return
	for i in "${names[@]}"; do
		printf '%s\n' "$i" >"rep_applications/$i/README" || return
	done
}

# The tools that build fixtures: $REP_FIXTURE_BIN if set (make check-valgrind
# sets it to the tools run directly, so that only the calls under test pay
# for valgrind), else the ones under test.
FIXTURE_BIN=${REP_FIXTURE_BIN:-$REP_BIN_DIR}

# register NAME...: register quietly, failing the test if that fails.
register() {
	"$FIXTURE_BIN/rep-register" -q "$@" </dev/null >/dev/null
}

# setstatus [OPTION...] STATUS NAME...: set quietly, failing the test if that fails.
setstatus() {
	"$FIXTURE_BIN/rep-setstatus" -q "$@" </dev/null >/dev/null
}

# dbdump [FILE]: the database as SQL text, to compare before and after a call.
dbdump() {
	sqlite3 "${1:-metadata.db}" .dump
}

# snapshot_db [FILE] / assert_db_unchanged [FILE]: dump before, compare after.
snapshot_db() {
	DB_BEFORE=$(dbdump "$@")
}

assert_db_unchanged() {
	local after
	after=$(dbdump "$@")
	if [ "$after" != "$DB_BEFORE" ]; then
		diff <(printf '%s\n' "$DB_BEFORE") <(printf '%s\n' "$after") |
			batslib_decorate 'database changed' | fail
	fi
}

# appdump [FILE]: the application records and the history, not the caches.
# A successful no-op may still refresh the stat cache (rep-register re-caches
# rows of files changed in the second they were cached, as git does its index).
appdump() {
	sqlite3 "${1:-metadata.db}" 'SELECT * FROM app ORDER BY id; SELECT * FROM history ORDER BY id'
}

# snapshot_appdata [FILE] / assert_appdata_unchanged [FILE]: the same for appdump.
snapshot_appdata() {
	APPDATA_BEFORE=$(appdump "$@")
}

assert_appdata_unchanged() {
	local after
	after=$(appdump "$@")
	if [ "$after" != "$APPDATA_BEFORE" ]; then
		diff <(printf '%s\n' "$APPDATA_BEFORE") <(printf '%s\n' "$after") |
			batslib_decorate 'records or history changed' | fail
	fi
}

# nobody_dir: skips the test unless root can run commands as nobody;
# else sets NOBODY_DIR to a new directory in /tmp that nobody can enter
# (BATS_TEST_TMPDIR may be in a private TMPDIR), with a copy of the tools
# in NOBODY_DIR/bin (nobody may not reach REP_BIN_DIR either). The
# test file's teardown removes it.
nobody_dir() {
	[ "$(id -u)" -eq 0 ] || skip 'needs root to run a command as nobody (runuser)'
	command -v runuser >/dev/null || skip 'runuser not installed'
	NOBODY_DIR=$(mktemp -d /tmp/rep-nobody.XXXXXX)
	chmod 755 "$NOBODY_DIR"
	mkdir "$NOBODY_DIR/bin"
	cp "$REP_BIN_DIR"/rep-* "$NOBODY_DIR/bin/"
	chmod 755 "$NOBODY_DIR"/bin/*
}

# as_unprivileged COMMAND...: COMMAND subject to file permissions: as root,
# without the capabilities that override them (the files stay root's).
as_unprivileged() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --bounding-set=-dac_override,-dac_read_search -- "$@"
	else
		"$@"
	fi
}

# need_unprivileged: skips the test unless as_unprivileged works.
need_unprivileged() {
	as_unprivileged true 2>/dev/null || skip 'cannot drop CAP_DAC_OVERRIDE (setpriv)'
}

# assert_no_db [FILE]: neither the database nor any of its side files exist,
# nor the new database rep-register builds beside it (FILE.new).
assert_no_db() {
	local db=${1:-metadata.db} f
	for f in "$db" "$db-wal" "$db-shm" "$db-journal" "$db.new" "$db.new-wal" \
		"$db.new-shm" "$db.new-journal"; do
		if [ -e "$f" ] || [ -L "$f" ]; then
			fail "$f exists but should not"
		fi
	done
}

# assert_no_side_files [FILE]: no -wal, -shm or -journal next to the database.
assert_no_side_files() {
	local db=${1:-metadata.db} f
	for f in "$db-wal" "$db-shm" "$db-journal"; do
		if [ -e "$f" ] || [ -L "$f" ]; then
			fail "$f exists but should not"
		fi
	done
}

# recompute_checksum DIR: the application checksum by the coreutils recipe of rep(7).
recompute_checksum() {
	(
		trap - DEBUG # see untraced
		cd -- "$1" || exit 2
		find . -mindepth 1 \( -type f -o -type l \) -printf '%P\0' | LC_ALL=C sort -z |
			while IFS= read -r -d '' p; do
				if [ -L "$p" ]; then
					t=l h=$(readlink -n -- "$p" | sha256sum)
				elif [ $((0$(stat -c %a -- "$p") & 0100)) -ne 0 ]; then
					t=x h=$(sha256sum <"$p")
				else
					t=f h=$(sha256sum <"$p")
				fi
				printf '%s %s %s\n' "$t" "${h%% *}" "$p"
			done | sha256sum | cut -d' ' -f1
	)
}

# tree_files DIR / tree_bytes DIR: the files and bytes fields for a tree.
tree_files() {
	find "$1" -mindepth 1 \( -type f -o -type l \) -printf x | wc -c
}

tree_bytes() {
	find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

# tree_infos DIR...: set TREE_INFO[DIR] to "FILES<TAB>BYTES<TAB>CHECKSUM" for
# each tree.  The same checksum as recompute_checksum (checksum.bats checks
# that), with five processes for any number of trees instead of several per
# file: process creation is what makes a test suite slow.
tree_infos() {
	untraced _tree_infos "$@"
}

_tree_infos() {
	declare -gA TREE_INFO=()
	local dir entry top path type mode size target kind n=0
	local -a inputs=() sums=() dirs=()
	local -A files=() bytes=() lines=()
	for dir; do
		if [ -z "${files[$dir]+set}" ]; then
			dirs+=("$dir")
			files[$dir]=0 bytes[$dir]=0 lines[$dir]=''
		fi
	done
	while IFS= read -r -d '' entry; do
		top=${entry%%$'\001'*} entry=${entry#*$'\001'}
		path=${entry%%$'\001'*} entry=${entry#*$'\001'}
		type=${entry%%$'\001'*} entry=${entry#*$'\001'}
		mode=${entry%%$'\001'*} entry=${entry#*$'\001'}
		size=${entry%%$'\001'*} target=${entry#*$'\001'}
		files[$top]=$((files[$top] + 1))
		if [ "$type" = l ]; then
			kind=l
			printf '%s' "$target" >"$BATS_FILE_TMPDIR/link-target.$n"
			inputs+=("$BATS_FILE_TMPDIR/link-target.$n")
		else
			if ((8#$mode & 8#100)); then kind=x; else kind=f; fi
			bytes[$top]=$((bytes[$top] + size))
			inputs+=("$top/$path")
		fi
		# the line with the index of its hash for now, in sorted order
		lines[$top]+="$kind $n $path"$'\n'
		n=$((n + 1))
	done < <(find "${dirs[@]}" -mindepth 1 \( -type f -o -type l \) \
		-printf '%H\001%P\001%y\001%m\001%s\001%l\0' | LC_ALL=C sort -z)
	[ ${#inputs[@]} -eq 0 ] || mapfile -t -d '' sums < <(sha256sum -z -- "${inputs[@]}")
	# put the hashes in, write each tree's lines to a file, hash those files
	local out rest line index
	n=0
	inputs=()
	for dir in "${dirs[@]}"; do
		out='' rest=${lines[$dir]}
		while [ -n "$rest" ]; do
			line=${rest%%$'\n'*} rest=${rest#*$'\n'}
			kind=${line%% *} line=${line#* }
			index=${line%% *} path=${line#* }
			out+="$kind ${sums[index]:0:64} $path"$'\n'
		done
		printf '%s' "$out" >"$BATS_FILE_TMPDIR/tree-lines.$n"
		inputs+=("$BATS_FILE_TMPDIR/tree-lines.$n")
		n=$((n + 1))
	done
	mapfile -t -d '' sums < <(sha256sum -z -- "${inputs[@]}")
	n=0
	for dir in "${dirs[@]}"; do
		TREE_INFO[$dir]="${files[$dir]}"$'\t'"${bytes[$dir]}"$'\t'"${sums[n]:0:64}"
		n=$((n + 1))
	done
}

# tree_info DIR: "FILES<TAB>BYTES<TAB>CHECKSUM" for one tree.
tree_info() {
	tree_infos "$1"
	printf '%s' "${TREE_INFO[$1]}"
}

# records NAME STATUS [NAME STATUS]...: the expected application records, one
# per line, for the trees under ${APPS:-rep_applications}, with both
# timestamps written as TIME (compare with norm_ts output).
records() {
	untraced _records "$@"
}

_records() {
	local apps=${APPS:-rep_applications} out='' i
	local -a dirs=() args=("$@")
	for ((i = 0; i < $#; i += 2)); do
		dirs+=("$apps/${args[i]}")
	done
	tree_infos "${dirs[@]}"
	for ((i = 0; i < $#; i += 2)); do
		out+="${args[i]}"$'\t'"${args[i + 1]}"$'\t'"${TREE_INFO[$apps/${args[i]}]}"$'\t'TIME$'\t'TIME$'\n'
	done
	printf '%s' "${out%$'\n'}"
}

# record NAME STATUS [APPSDIR]: one expected application record.
record() {
	APPS=${3:-${APPS:-rep_applications}} records "$1" "$2"
}

# event NAME FROM TO [NOTE] [USER]: an expected history record, time as TIME.
event() {
	printf '%s\tTIME\t%s\t%s\t%s\t%s' "$1" "$2" "$3" "${5:-tester}" "${4:-}"
}

# on_tty COMMAND: COMMAND (a shell line) run by script(1) with its stdin
# and stderr on a terminal, fed $TTY_INPUT (default nothing) and then the
# end of input (Ctrl-D); its stdout goes to ./out. output: what the
# terminal showed (the input echoed, stderr), each line's CR before LF
# removed; a progress line's own CRs stay.
on_tty() {
	command -v script >/dev/null || skip 'script(1) not installed'
	run bash -c 'set -o pipefail; printf %s "$2" | script -qec "$1 >out" /dev/null | sed "s/\r\$//"' \
		on_tty "$*" "${TTY_INPUT-}"
}

# The version the tools are built with: the Makefile's, its one place.
REP_VERSION=$(sed -n 's/^VERSION = //p' "$BATS_TEST_DIRNAME/../Makefile")

# lines LINE...: join the arguments with newlines (an expected multi-line output).
lines() {
	local IFS=$'\n'
	printf '%s' "$*"
}

# norm_ts: replace every timestamp on stdin by TIME.
norm_ts() {
	sed -E "s/$TS_RE/TIME/g"
}

# assert_records EXPECTED: $output, timestamps replaced by TIME, equals EXPECTED.
assert_records() {
	local actual
	actual=$(printf '%s' "$output" | norm_ts)
	if [ "$actual" != "$1" ]; then
		batslib_print_kv_single_or_multi 8 expected "$1" actual "$actual" |
			batslib_decorate 'output differs (timestamps as TIME)' | fail
	fi
}

# assert_stderr [--partial | --regexp] EXPECTED / refute_stderr: as
# assert_output and refute_output, for $stderr of `run --separate-stderr`.
assert_stderr() {
	local mode=exact
	case $1 in
	--partial | -p) mode=partial; shift ;;
	--regexp | -e) mode=regexp; shift ;;
	esac
	local ok=0
	case $mode in
	exact) [ "$stderr" = "$1" ] && ok=1 ;;
	partial) [[ $stderr == *"$1"* ]] && ok=1 ;;
	regexp) [[ $stderr =~ $1 ]] && ok=1 ;;
	esac
	if [ "$ok" -eq 0 ]; then
		batslib_print_kv_single_or_multi 8 "expected ($mode)" "$1" stderr "$stderr" |
			batslib_decorate 'stderr differs' | fail
	fi
}

refute_stderr() {
	if [ -n "$stderr" ]; then
		batslib_print_kv_single_or_multi 6 stderr "$stderr" |
			batslib_decorate 'stderr should be empty' | fail
	fi
}

# assert_stderr_lines LINE...: $stderr is exactly these lines, the last one
# last, the others in any order: the problems of one application are told
# in the order its directories are read, which the file system decides.
assert_stderr_lines() {
	local want got
	want=$(printf '%s\n' "${@:1:$#-1}" | LC_ALL=C sort)
	got=$(printf '%s\n' "$stderr" | sed '$d' | LC_ALL=C sort)
	if [ "$got" != "$want" ] || [ "${stderr##*$'\n'}" != "${!#}" ]; then
		batslib_print_kv_single_or_multi 8 "expected (any order but the last)" "$(lines "$@")" \
			stderr "$stderr" | batslib_decorate 'stderr differs' | fail
	fi
}

# holds TOOL NAME / hold TOOL N: the last line of a run of TOOL (rep-register
# or rep-tar) refused for what application NAME, or N applications, hold
# (rep(7), APPLICATION CONTENTS).
holds() {
	printf '%s: %s: holds what rep cannot ship (see rep(7), APPLICATION CONTENTS); %s' \
		"$1" "$2" "$(undone "$1")"
}

hold() {
	printf '%s: %s applications hold what rep cannot ship (see rep(7), APPLICATION CONTENTS); %s' \
		"$1" "$2" "$(undone "$1")"
}

undone() {
	if [ "$1" = rep-tar ]; then echo 'nothing packaged'; else echo 'nothing registered'; fi
}

# field N [LINE]: the Nth TAB-separated field of LINE (default $output).
field() {
	printf '%s\n' "${2-$output}" | cut -f"$1"
}

# hist [OPTION...] [NAME...]: rep-ls --history, timestamps as TIME.
hist() {
	rep-ls --history "$@" </dev/null | norm_ts
}

# --- archives (rep-tar, rep-push) -------------------------------------------------

# python3 for the helpers: the system's, when there is one (a version
# manager's shim on PATH costs half a second a call).
if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi

# pytar OUT ENTRY... ['' OUT ENTRY...]...: write OUT, a tar.gz made by python's
# tarfile, entries in order: f:PATH:DATA (file 0644), d:PATH (directory),
# l:PATH:TARGET (symlink), h:PATH:TARGET (hard link), c:PATH (character
# device).  An empty argument starts another archive (one python for all).
pytar() {
	"$PYTHON" - "$@" <<'EOF'
import io, sys, tarfile

def write(out, specs):
    with tarfile.open(out, 'w:gz', format=tarfile.PAX_FORMAT) as t:
        for spec in specs:
            kind, rest = spec.split(':', 1)
            path, _, arg = rest.partition(':')
            ti = tarfile.TarInfo(path)
            ti.mode = 0o755 if kind == 'd' else 0o777 if kind == 'l' else 0o644
            data = None
            if kind == 'f':
                data = arg.encode()
                ti.size = len(data)
            elif kind == 'd':
                ti.type = tarfile.DIRTYPE
            elif kind == 'l':
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
            elif kind == 'h':
                ti.type, ti.linkname = tarfile.LNKTYPE, arg
            elif kind == 'c':
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            t.addfile(ti, io.BytesIO(data) if data is not None else None)

group = []
for arg in sys.argv[1:] + ['']:
    if arg:
        group.append(arg)
    elif group:
        write(group[0], group[1:])
        group = []
EOF
}

# gzblock IN OUT BLOCK [PAD] [CHANGE...]: IN's tar stream (PAD zero bytes
# appended) in the blocked gzip form rep-tar writes (rep(7), ARCHIVE
# FORMAT): a member per BLOCK bytes, each header with its member's size in
# an 'RP' extra field; then each CHANGE, on member I (of the form before
# any change): size:I:DELTA (its size field off by DELTA), nosize:I (no
# extra field), cover:I (its size covering member I+1 too), swap:I:J,
# drop:I, double:I, strip (no member has the field: rep-tar's form before
# the sizes), tail:BYTES (BYTES zero bytes after the last member). Prints
# the offset of each member in OUT before the changes, one per line.
gzblock() {
	"$PYTHON" - "$@" <<'PY'
import gzip, struct, sys, zlib
src, out, block = sys.argv[1], sys.argv[2], int(sys.argv[3])
args = sys.argv[4:]
pad = int(args.pop(0)) if args and args[0].isdigit() else 0
tar = gzip.decompress(open(src, 'rb').read()) + bytes(pad)

def member(data, sized=True):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    d = c.compress(data) + c.flush()
    trailer = struct.pack('<II', zlib.crc32(data), len(data))
    if not sized:
        return bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]) + d + trailer
    size = 20 + len(d) + 8
    return bytes([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 8, 0, 82, 80, 4, 0]) + \
        struct.pack('<I', size) + d + trailer

chunks = [tar[i:i + block] for i in range(0, len(tar), block)] or [b'']
members = [member(c) for c in chunks]
at = 0
for m in members:
    print(at)
    at += len(m)
tail = b''
for change in args:
    what, *n = change.split(':')
    n = [int(x) for x in n]
    if what == 'size':
        m = bytearray(members[n[0]])
        m[16:20] = struct.pack('<I', len(m) + n[1])
        members[n[0]] = bytes(m)
    elif what == 'nosize':
        members[n[0]] = member(chunks[n[0]], sized=False)
    elif what == 'cover':
        m = bytearray(members[n[0]])
        m[16:20] = struct.pack('<I', len(m) + len(members[n[0] + 1]))
        members[n[0]] = bytes(m)
    elif what == 'swap':
        members[n[0]], members[n[1]] = members[n[1]], members[n[0]]
    elif what == 'drop':
        members[n[0]] = b''
    elif what == 'double':
        members[n[0]] = members[n[0]] * 2
    elif what == 'strip':
        members = [member(c, sized=False) for c in chunks]
    elif what == 'tail':
        tail = bytes(n[0])
    else:
        sys.exit('gzblock: unknown change ' + change)
open(out, 'wb').write(b''.join(members) + tail)
PY
}

# flip_byte FILE OFFSET: invert the bits of one byte in place.
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 -- "$1" | tr -d ' ')
	# shellcheck disable=SC2059 # the format is the byte
	printf "\\x$(printf %02x $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# rebuild DIR OUT [PATH...]: an archive of an extraction in DIR, in the form
# rep-tar writes (MANIFEST, rep_applications/, each application's entries in
# path order, modes 0644/0755, owner 0), written by python's tarfile: other
# bytes, the same form; PATH... of DIR are added at the end.
rebuild() {
	"$PYTHON" - "$@" <<'PY'
import io, os, stat, sys, tarfile
top, out = sys.argv[1], sys.argv[2]

def walk(rel):
    found = []
    def rec(r):
        for n in os.listdir(os.path.join(top.encode(), r)):
            p = os.path.join(r, n)
            found.append(p)
            if stat.S_ISDIR(os.lstat(os.path.join(top.encode(), p)).st_mode):
                rec(p)
    rec(rel)
    return sorted(found)

with tarfile.open(out, 'w:gz', format=tarfile.PAX_FORMAT) as t:
    def add(p):
        full = os.path.join(top.encode(), p)
        st = os.lstat(full)
        ti = tarfile.TarInfo(os.fsdecode(p))
        ti.mtime = int(st.st_mtime)
        data = None
        if stat.S_ISDIR(st.st_mode):
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        elif stat.S_ISLNK(st.st_mode):
            ti.type, ti.mode, ti.linkname = tarfile.SYMTYPE, 0o777, os.fsdecode(os.readlink(full))
        else:
            ti.mode = 0o755 if st.st_mode & 0o100 else 0o644
            data = open(full, 'rb').read()
            ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
    add(b'MANIFEST')
    add(b'rep_applications')
    for app in sorted(os.listdir(os.path.join(top.encode(), b'rep_applications'))):
        add(os.path.join(b'rep_applications', app))
        for p in walk(os.path.join(b'rep_applications', app)):
            add(p)
    for extra in sorted(sys.argv[3:]):
        add(extra.encode())
PY
}

# push_records RELEASE TARGETS APP...: the live records rep-push prints for
# these applications, name<TAB>release<TAB>targets<TAB>checksum<TAB>live;
# each checksum as app_checksum finds it, or as given: APP:CHECKSUM.
push_records() {
	local release=$1 where=$2 app sum out=''
	shift 2
	for app; do
		if [[ $app == *:* ]]; then
			sum=${app#*:} app=${app%%:*}
		else
			sum=$(app_checksum "$release" "$where" "$app") || return
		fi
		out+="$app$TAB$release$TAB$where$TAB$sum${TAB}live"$'\n'
	done
	printf '%s' "${out%$'\n'}"
}

# assert_absent PATH...: nothing at these paths.
assert_absent() {
	local p
	for p; do
		if [ -e "$p" ] || [ -L "$p" ]; then
			fail "$p exists but should not: $(ls -lA -- "$p")"
			return
		fi
	done
}

# state_of PATH...: every entry (type, mode, inode, size, path, link
# target) and every file's SHA-256, or "absent".
state_of() {
	local p
	local -a there=()
	for p; do
		if [ -e "$p" ] || [ -L "$p" ]; then
			there+=("$p")
		else
			printf '%s: absent\n' "$p"
		fi
	done
	[ ${#there[@]} -eq 0 ] ||
		find "${there[@]}" -printf '%y %m %i %s %p -> %l\n' -type f -exec sha256sum -- {} + | LC_ALL=C sort
}

# snapshot PATH... / assert_unchanged: these paths (targets, mostly)
# before a call and after it.
snapshot() {
	SNAP_PATHS=("$@")
	SNAP=$(untraced state_of "$@")
}

assert_unchanged() {
	local now
	now=$(untraced state_of "${SNAP_PATHS[@]}")
	if [ "$now" != "$SNAP" ]; then
		diff <(printf '%s\n' "$SNAP") <(printf '%s\n' "$now") | head -n 20 |
			batslib_decorate 'targets changed' | fail
	fi
}

# assert_live DIR RELEASE: DIR/current is the relative link releases/RELEASE,
# and what runs through it is what the release's MANIFEST lists: in
# current/rep_applications/, exactly the applications it adds, each (a
# link into DIR/store/, followed, or a directory of a release made by the
# earlier rep-push) with the files, bytes and checksum of its row
# (rep-push.bats has its own, which compares the trees with the fixture's).
assert_live() {
	if [ ! -L "$1/current" ]; then
		fail "$1/current is not a symbolic link"
		return
	fi
	assert_equal "$(readlink "$1/current")" "releases/$2" || return
	untraced _assert_live_apps "$1/current"
}

# assert_apps SRC DIR: DIR (a release's rep_applications/, as through
# current/) holds the applications of SRC (a rep_applications/ tree): the
# same names, each the same tree, DIR/NAME followed (a link into store/),
# the links within it not.
assert_apps() {
	local src=$1 dir=$2 app
	assert_equal "$(ls -A "$dir")" "$(ls -A "$src")" || return
	for app in "$src"/* "$src"/.[!.]*; do
		[ -e "$app" ] || continue
		if ! diff -r --no-dereference "$app" "$dir/${app##*/}/"; then
			fail "$dir/${app##*/}: not the tree of $app"
			return
		fi
	done
}

_assert_live_apps() {
	local cur=$1 name files bytes sum dirs state want='' got='' app
	local -a apps=() found=()
	if [ ! -f "$cur/MANIFEST" ]; then
		fail "$cur/MANIFEST: not a file"
		return
	fi
	# a last line without its line break counts too (MANIFESTs of
	# earlier rep-tar versions may end so)
	while IFS=$'\t' read -r name files bytes sum dirs state _ || [ -n "$name" ]; do
		if [ -z "$name" ] || [[ $name == '#'* ]] || [ "${state:-add}" != add ]; then
			continue
		fi
		apps+=("$cur/rep_applications/$name/")
		want+="$name$TAB$files$TAB$bytes$TAB$sum"$'\n'
	done <"$cur/MANIFEST"
	shopt -s dotglob nullglob
	found=("$cur"/rep_applications/*)
	shopt -u dotglob nullglob
	if [ "${found[*]/%//}" != "${apps[*]}" ]; then
		batslib_print_kv_single_or_multi 8 MANIFEST "${apps[*]}" found "${found[*]}" |
			batslib_decorate "$cur/rep_applications: not the applications of its MANIFEST" | fail
		return
	fi
	[ ${#apps[@]} -eq 0 ] || tree_infos "${apps[@]}"
	for app in "${apps[@]}"; do
		name=${app%/}
		got+="${name##*/}$TAB${TREE_INFO[$app]}"$'\n'
	done
	if [ "$got" != "$want" ]; then
		batslib_print_kv_single_or_multi 8 MANIFEST "$want" found "$got" |
			batslib_decorate "$cur: what is live differs from its MANIFEST" | fail
	fi
}

# rep-push records (issue 19)

# app_checksum RELEASE TARGETS APP: the checksum of APP in RELEASE: from
# the archive's MANIFEST (the fixture's copy in $FIX/src/RELEASE, or the
# archive RELEASE.tar.gz in $FIX/dist, dist or here), else the release's
# MANIFEST on the first of TARGETS (a local directory, fault:SPEC:DIR or
# [user@]host:DIR on this host: a release composed of several archives),
# else the database here; an add row only.
app_checksum() {
	local release=$1 target=${2%%,*} app=$3 f sum
	target=${target#fault:*:}
	[[ $target != *:* ]] || target=${target#*:}
	for f in ${FIX:+"$FIX/src/$release/MANIFEST" "$FIX/dist/$release.tar.gz"} "dist/$release.tar.gz" \
		"$release.tar.gz" "$target/releases/$release/MANIFEST"; do
		if [ -f "$f" ]; then
			if [[ $f == *.tar.gz ]]; then
				sum=$(tar -xOzf "$f" MANIFEST 2>/dev/null | manifest_checksum "$app")
			else
				sum=$(manifest_checksum "$app" <"$f")
			fi
			[ -z "$sum" ] || { printf '%s' "$sum"; return; }
		fi
	done
	if [ -f metadata.db ] && sum=$(rep-ls -o checksum "$app" </dev/null 2>/dev/null) && [ -n "$sum" ]; then
		printf '%s' "$sum"
		return
	fi
	echo "app_checksum: no checksum of $app in $release" >&2
	return 1
}

# manifest_checksum APP < MANIFEST: the checksum of APP's add row.
manifest_checksum() {
	awk -F '\t' -v app="$1" '$1 == app && ($6 == "" || $6 == "add") { print $4; exit }'
}

# left_records RELEASE TARGETS CHECKSUM APP...: the left records of these
# applications, whose content CHECKSUM left service on TARGETS in RELEASE
# (CHECKSUM "-": each one's as app_checksum finds it in RELEASE).
left_records() {
	local release=$1 where=$2 sum=$3 app s out=''
	shift 3
	for app; do
		s=$sum
		[ "$s" != - ] || s=$(app_checksum "$release" "$where" "$app") || return
		out+="$app$TAB$release$TAB$where$TAB$s${TAB}left"$'\n'
	done
	printf '%s' "${out%$'\n'}"
}

# failed_records RELEASE TARGETS REASON APP...: the failed records of
# these applications of the archive RELEASE (app_checksum) on TARGETS.
failed_records() {
	local release=$1 where=$2 reason=$3 app sum out=''
	shift 3
	for app; do
		sum=$(app_checksum "$release" "$where" "$app") || return
		out+="$app$TAB$release$TAB$where$TAB$sum${TAB}failed$TAB$reason"$'\n'
	done
	printf '%s' "${out%$'\n'}"
}

# archive_failed ARCHIVE TARGETS REASON: the failed records of every add
# row of ARCHIVE (its MANIFEST read from it), as rep-push prints them when
# that archive did not go live on TARGETS.
archive_failed() {
	local rel=${1##*/}
	rel=${rel%.tar.gz}
	tar -xOzf "$1" MANIFEST | REL=$rel WHERE=$2 WHY=$3 awk -F '\t' \
		'!/^#/ && ($6 == "" || $6 == "add") { print $1 "\t" ENVIRON["REL"] "\t" ENVIRON["WHERE"] "\t" $4 "\tfailed\t" ENVIRON["WHY"] }'
}

# sshd_start (in setup_file): a real sshd on 127.0.0.1 for the file
# (tests/sshd); exports SSHD_DIR, SSH_USER and the REP_SSH that reaches it,
# or fails saying it could not. sshd_stop (in teardown_file) stops it.
sshd_start() {
	SSHD_DIR=$BATS_FILE_TMPDIR/sshd
	SSH_USER=$(id -un)
	export SSHD_DIR SSH_USER
	if ! REP_SSH=$("$BATS_TEST_DIRNAME/sshd" start "$SSHD_DIR") || [ -z "$REP_SSH" ]; then
		echo "tests/sshd could not start an sshd: the ssh tests cannot run" >&2
		return 1
	fi
	export REP_SSH
}

sshd_stop() {
	"$BATS_TEST_DIRNAME/sshd" stop "$SSHD_DIR"
}

# three_apps: app-a, app-b (README, bin/run) and app-c registered; A, B
# and C their checksums.
three_apps() {
	mkapp app-a
	mkapp app-b README bin/run
	mkapp app-c
	register app-a app-b app-c
	A=$(rep-ls -o checksum app-a </dev/null)
	B=$(rep-ls -o checksum app-b </dev/null)
	C=$(rep-ls -o checksum app-c </dev/null)
}

# rec FIELD...: one record, the fields joined by TABs.
rec() {
	local IFS=$'\t'
	printf '%s\n' "$*"
}

# targets local|ssh: T1 and T2, two targets of that kind, t1 and t2 in the
# test's directory (over the sshd of sshd_start for ssh).
targets() {
	if [ "$1" = ssh ]; then
		T1=$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/t1
		T2=$SSH_USER@127.0.0.1:$BATS_TEST_TMPDIR/t2
	else
		T1=t1 T2=t2
	fi
}
