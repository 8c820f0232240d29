# The far side of an ssh target: what rep-push runs on the host, as
# `sh -c SCRIPT rep-push OP DIR ARGS...` (lib/ssh.c; the Makefile makes
# this file a C string, lib/far.c). A POSIX sh and standard tools,
# nothing of rep. The local transport runs it too, for hook and pending
# alone (lib/local.c), so that a hook sees one world wherever it runs.
#
#   state DIR                 lists the target (rep-push -n)
#   live DIR                  what is live, no lock taken or waited for
#                             (rep-push --status): current, the live
#                             release's MANIFEST and its links
#   lock DIR WHO TIME [make] [IDLE]
#                             takes the lock (make: DIR and releases/ made
#                             if missing), lists the target, then runs one
#                             command per line of stdin until EOF, when it
#                             drops the lock; IDLE: rep-push's --timeout
#     stage RELEASE SHA256 SIZE MANIFEST_SHA256 FILES BASE FULLSIZE FULLSHA
#           CUTS, then FULLSIZE bytes, the release's MANIFEST (its SHA-256
#           FULLSHA), then SIZE bytes, the archive
#           (or the part of it the target lacks: the
#           applications the base release does not hold as
#           it lists them)
#                             the archive unpacked and checked as
#                             store/RELEASE (or that one kept, when it is
#                             the same, and checked whole), releases/BASE
#                             copied to store/BASE if it is of the old
#                             format and the release keeps some of it
#                             (BASE: - for none; one there kept, when the
#                             same, and checked whole), then releases/
#                             RELEASE made of the MANIFEST and a link for
#                             each application, in directories of store/
#                             only the login may change
#     switch TO WAS TIME EVENT USER HOST
#                             the line TIME EVENT TO WAS USER HOST
#                             (TAB-separated; TO, WAS: - for none)
#                             appended to the log, then current moved
#                             (switch TO WAS: no line; a log with a NUL
#                             byte, or beyond 64 MiB: refused)
#     prune NAME...           the releases, then what of store/ (named
#                             exactly as a release) no release left
#                             links to
#     manifest NAME [store]   releases/NAME/MANIFEST (store: store/NAME's)
#     verify NAME [MANIFEST_SHA256]
#                             releases/NAME checked where it is, as a
#                             staging checks what it unpacked (modes
#                             refused, not forced), and its MANIFEST's
#                             SHA-256 if given: before a rollback
#                             switches to it; a release of links, its
#                             links and each store/S it links into
#     hook PHASE NAME RELEASE PREVIOUS CHECKSUM TIMEOUT
#                             the hook PHASE (configure, start, check,
#                             stop) of application NAME in releases/
#                             RELEASE run, if it has one, killed with its
#                             processes at TIMEOUT seconds (check: run
#                             again each second until it passes or then);
#                             PREVIOUS: the release live before the
#                             switch, - for none; CHECKSUM: its content,
#                             which names its work directory
#     pending [set RELEASE | clear]
#                             the hooks-pending mark read, then set or
#                             cleared; clear: then the work directories
#                             no release lists removed
#   hook DIR PHASE NAME RELEASE PREVIOUS CHECKSUM TIMEOUT [IDLE]
#   pending DIR [set RELEASE | clear] [IDLE]
#                             the same, on their own, no lock taken: the
#                             local rep-push that runs them holds it
#
# The listing: one record a line, KIND TAB VALUE: current (the live
# release, empty if none), release (NAME TAB its MANIFEST's SHA-256, or
# -), stored (NAME, an entry of store/ named as a release, where
# releases/ has none of that name), log (a line
# of DIR/log, in order; a log with a NUL byte is refused), manifest (a
# line of the live release's MANIFEST, in order),
# and the lock's holder, stale-holder (state) or stale (a stale lock
# broken); live's, link (NAME TAB what the link releases/R/
# rep_applications/NAME holds, for each one that is a link); hook (NAME
# TAB PHASE, each hook of the live release's applications); pending (the
# release of the hooks-pending mark, if there is one).
# A hook's reply: absent (no such hook: nothing ran), or status (its exit
# status, or timeout: killed at it), tries (its runs), output (a line of
# what it wrote, in order: at most 64 KiB of it, each line cut to 4000
# bytes, NUL bytes dropped) and cut (the bytes of it not sent, if any).
# pending's: pending (the release of the mark, as it was), if marked.
#
# The layout of DIR: current -> releases/R, the live release; each
# releases/R a MANIFEST (the full one: every application live in R) and
# rep_applications/NAME, a link ../../../store/S/rep_applications/NAME,
# or, made by earlier versions (the old format), a directory; store/S
# what the archive of push S unpacked (the old format); log, one line a
# switch; hooks.log (and hooks.log.1, the one before), every run of a
# hook with what it wrote; hooks.pending, the release whose hooks a push
# started and did not finish; shared/NAME, an application's own, for
# all its versions, and work/NAME/CHECKSUM, one version's, both made for
# its hooks.
#
# Replies go to fd 3, the session's stdout; what the tools print goes to
# stderr. Every line of a reply begins with a tag:
#   '|' TEXT  a line of data: a record of the listing, a MANIFEST's line
#   '!' TEXT  a line of a message (an error; before .ok, a warning)
#   '+'       a keepalive: between the long steps of a staging or a
#             pruning, and every fifth of IDLE while one runs
#   '.' WORD  the end: .ok; .error (not done, nothing changed); .busy (the
#             lock is held: a holder record); .unknown (stopped part-way:
#             a switch may have moved current)
# Text read from the target (names, files, a lock, error messages) goes
# out only through emit, which tags every line of it, and a record is
# one line, so nothing read there can pass for protocol.
#
# Anyone who may write DIR may rename what is in it and put a link in its
# place at any moment. So no path through DIR is trusted for longer than
# one call: DIR's own entries are named from $root, its physical path,
# and only read through, or acted on in their last component (ln -n, mv
# -T, rm, none of which follows a link there); and each directory of our
# own is made with mkdir, entered once, its path checked (into), and then
# used only relative to itself, from the command's own subshell.
set -u
LC_ALL=C
export LC_ALL
exec 3>&1 1>&2
op=$1 dir=$2
shift 2
tab=$(printf '\t')
nl='
'
# hash: what hashes files (named as arguments, a line "HEX  NAME" or
# "HEX *NAME" each) or its input. OpenSSL's dgst -r writes sha256sum's
# lines and uses the processor's SHA instructions, which coreutils'
# sha256sum does not (several times faster where they exist); it is taken
# only where it gives the right line for a known input, else sha256sum.
# Its lines never escape a name (sha256sum's begin with \ then), which
# check_release reads either way; names with a newline are refused before
# any is hashed.
hash=sha256sum
if [ "$(openssl dgst -sha256 -r /dev/null 2>/dev/null)" = \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 */dev/null" ]; then
	hash='openssl dgst -sha256 -r'
fi
# cpus: the processors here, for the work that is split among processes
cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null) || cpus=$(nproc 2>/dev/null) || cpus=1
case $cpus in '' | *[!0-9]* | 0) cpus=1 ;; esac
# our private names: the lock being taken, a switch's directory (the next
# log and current), a hook's or pending's (the hook's output, the
# processes before it, its entry of hooks.log; the next mark), in
# store/, a staging's (the upload, MANIFEST and archive, the unpacked
# tree, a copy of an old release), and in releases/, a staging's second
# one (the release of links) or a verify's; a release being pruned is releases/
# .rep-push-PID-NAME, a store entry store/.rep-push-PID-NAME. The next
# push removes what a killed one left (tidy; a local target's, rep-push,
# once the runner's process is gone).
w=.rep-push.lock.$$ own=.rep-push-$$
# lock: our lock line, once the lock is ours; root: DIR's physical path;
# private: the private directory the command is in, if any; ticker: the
# keepalive's process, while one runs
lock='' root='' private='' ticker=''
inside='(refused: rep-push writes only inside the target)'

emit() {
	tick_off
	printf '%s\n' "$2" | awk -v tag="$1" '{ print tag $0 }' >&3
}
say() { emit '!' "$*"; }
reply() {
	tick_off
	printf '.%s\n' "$1" >&3
}
tick() { printf '+\n' >&3; }
fail() {
	say "$@"
	cleanup
	reply error
	exit 1
}
# record KIND VALUE: a line of data; a VALUE of several lines is sent
# empty, so that none of its lines can pass for a record of its own
record() {
	case $2 in *"$nl"*) set -- "$1" '' ;; esac
	emit '|' "$1$tab$2"
}

# first TEXT: its first line that is not empty (gzip begins a message with
# a newline)
first() { printf '%s\n' "$1" | awk '/./ { print; exit }'; }
# some TEXT: its first lines, and how many more there were
some() { printf '%s\n' "$1" | awk 'NR <= 3; END { if (NR > 3) print "(" NR - 3 " more lines)" }'; }
why() {
	e=$(first "$1")
	printf '%s' "${e##*: }"
}

# pace IDLE: the keepalive's period, a fifth of rep-push's idle timeout
# IDLE (default 300 s) in whole seconds, slept a second at a time (steps
# of step seconds); under 5 s, one step of a fifth of IDLE, where sleep
# takes tenths (GNU, BusyBox, the BSDs), else of a second.
pace() {
	idle=300
	case ${1:-} in '' | 0* | *[!0-9]*) ;; *) idle=$1 ;; esac
	step=1 steps=$((idle / 5))
	if [ "$steps" -lt 1 ]; then step=0.$((idle * 2)) steps=1; fi
}
pace ''

# tick_on ... tick_off: a keepalive every period while a long step runs
# (an unpack, the checks, a removal), so that a slow but healthy step
# never times out while a dead far side still does. The shell that
# starts it stops it, and writes nothing else to fd 3 meanwhile: emit and
# reply stop it first, so no tick falls inside a reply's line. It is
# stopped by SIGKILL, which no trap it inherited can delay or lose, and
# its sleep holds none of the session's descriptors and ends within a
# second: nothing of it keeps the session open.
tick_on() {
	tick_off
	(
		exec </dev/null >/dev/null 2>&1
		n=0
		while sleep "$step" 3>&- || sleep 1 3>&-; do
			n=$((n + 1))
			if [ "$n" -ge "$steps" ]; then
				n=0
				tick || exit 0
			fi
		done
	) &
	ticker=$!
}
tick_off() {
	if [ -n "$ticker" ]; then
		kill -s KILL "$ticker" 2>/dev/null
		wait "$ticker" 2>/dev/null
		ticker=''
	fi
}

# regular PATH: a file that may be read: not a FIFO (cat would wait for
# a writer for ever), a device or a link
regular() { [ -f "$1" ] && [ ! -h "$1" ]; }

# into NAME: into the directory NAME in the working directory, checked to
# be that one and not one a link swapped in for it leads to; false, and
# perhaps somewhere else, if not (the caller fails at once)
into() {
	here=$(pwd -P)
	cd -P -- "$1" 2>/dev/null && [ "$(pwd -P)" = "${here%/}/$1" ]
}

# remove NAME: NAME in the working directory, a file, or a tree at any
# depth whatever the modes a failed unpack left in it (0555, 0000); a
# link is removed, never followed. chmod -R follows a link given to it,
# so it runs from inside the tree, once that is checked to be NAME.
remove() {
	if [ ! -e "$1" ] && [ ! -h "$1" ]; then return 0; fi
	if [ -d "$1" ] && [ ! -h "$1" ]; then
		(into "$1" && chmod -R u+rwx . 2>/dev/null)
	fi
	rm -rf -- "$1"
}

# own NAME [SHOWN]: a new directory of ours at NAME in the working
# directory, entered; mkdir never follows a link, and one planted there
# is refused, not removed
own() {
	shown=${2:-$1}
	if [ -h "$1" ]; then fail "$shown: a symbolic link (refused, not followed)"; fi
	remove "$1"
	e=$(mkdir -m 700 "$1" 2>&1) || fail "$shown: $(why "$e")"
	into "$1" || fail "$shown: replaced as it was made (refused, not followed)"
}

# cleanup: the command's private directory (it is in it) removed, with
# keepalives while that takes; before its reply, and on its way out
cleanup() {
	if [ -n "$private" ]; then
		tick_on
		if cd -P ..; then remove "$private"; fi
		private=''
	fi
	tick_off
}

# rename FROM TO: FROM renamed to TO, over a link at TO rather than into
# the directory it leads to (mv -T, or BSD's mv -h)
rename() {
	e=$(mv -T -- "$1" "$2" 2>&1) || mv -h -- "$1" "$2" 2>/dev/null || {
		printf '%s\n' "$e" >&2
		return 1
	}
}

absent() {
	if [ -e "$1" ] || [ -h "$1" ]; then fail "$2: already exists"; fi
}

alive() { kill -0 "$1" 2>/dev/null || ps -p "$1" >/dev/null 2>&1 || [ -d "/proc/$1" ]; }

# The lock is a file in DIR, never a link: ln and mv would act where a
# link points. It is read only when it is a regular file.
lock_file_ok() {
	if [ -h "$root/.rep-push.lock" ] || { [ -e "$root/.rep-push.lock" ] && [ ! -f "$root/.rep-push.lock" ]; }; then
		fail '.rep-push.lock: not a regular file (refused, not followed)'
	fi
}
held() {
	if regular "$root/.rep-push.lock"; then cat -- "$root/.rep-push.lock" 2>/dev/null; fi
}
mine() {
	lock_file_ok
	[ "$(held)" = "$lock" ] || fail 'lost the lock (removed or broken by someone else)'
}
# holder_pid LOCK: pid is its process, when LOCK is one lock line
holder_pid() {
	pid=${1#*"$tab"}
	pid=${pid%%"$tab"*}
	case $1 in *"$nl"*) pid= ;; esac
	case $pid in '' | *[!0-9]*) pid= ;; esac
}
# stale LOCK: its holder ran on this host and is gone
stale() {
	holder_pid "$1"
	[ "${1%%"$tab"*}" = "$(uname -n)" ] && [ -n "$pid" ] && ! alive "$pid"
}

enter() {
	if [ ! -d "$dir" ]; then fail 'not a directory'; fi
	cd -P -- "$dir" 2>/dev/null || fail 'Permission denied'
	root=$(pwd -P)
	root=${root%/}
}

# makedir: DIR for a push; its parent must exist
makedir() {
	e=$(mkdir -- "$dir" 2>&1) && return 0
	if [ -d "$dir" ]; then return 0; fi
	p=${dir%/}
	p=${p%/*}
	if [ ! -e "${p:-/}" ]; then fail 'cannot create the directory: its parent directory does not exist'; fi
	if [ ! -d "${p:-/}" ]; then fail 'cannot create the directory: its parent is not a directory'; fi
	fail "cannot create the directory: $(why "$e")"
}

# named NAME: NAME has the shape of a release's (rep-push checks it
# exactly): one word, nothing that leads out of releases/
named() {
	case $1 in
	rep_applications_*[!A-Za-z0-9_]* | rep_applications_) return 1 ;;
	rep_applications_*) [ ${#1} -le 128 ] ;;
	*) return 1 ;;
	esac
}

# release_name NAME: NAME is exactly a release's, as rep-push names one
# (lib/release.c): rep_applications_YYYYMMDD_HHMMSS, then for a later
# one of the same second _N, N 2 to 999999999 without a leading zero.
# What is removed from store/, and what a link may name there.
release_name() {
	case $1 in
	rep_applications_[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]_[0-9][0-9][0-9][0-9][0-9][0-9]) return 0 ;;
	rep_applications_[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]_[0-9][0-9][0-9][0-9][0-9][0-9]_*) ;;
	*) return 1 ;;
	esac
	case ${1#rep_applications_????????_??????_} in
	'' | 0* | 1 | *[!0-9]* | ??????????*) return 1 ;;
	esac
}

# live: the release current points to, if it is one: a name in releases/
live() {
	[ -h "$root/current" ] || return 0
	p=$(cd -P "$root/current" 2>/dev/null && pwd -P) || return 0
	r=$(cd -P "$root/releases" 2>/dev/null && pwd -P) || return 0
	if [ "${p%/*}" = "$r" ] && named "${p##*/}"; then printf '%s' "${p##*/}"; fi
}

# releases/ is never a link: what a push writes and prunes stays in DIR
releases_ok() {
	if [ -h releases ]; then fail "releases: a symbolic link $inside"; fi
	if [ -e releases ] && [ ! -d releases ]; then fail "releases: not a directory $inside"; fi
}

# in_releases: into releases/, for a command that writes there
in_releases() {
	releases_ok
	into releases || fail "releases: moved or replaced during the push $inside"
}

# store/ is never a link either
store_ok() {
	if [ -h store ]; then fail "store: a symbolic link $inside"; fi
	if [ -e store ] && [ ! -d store ]; then fail "store: not a directory $inside"; fi
}

# in_store: into store/, made if missing (0755 whatever the umask: what
# another may rename in store/ could become what a release links to),
# for a staging
in_store() {
	store_ok
	if [ ! -e store ]; then
		e=$(mkdir -m 755 store 2>&1) || [ -d store ] || fail "store: $(why "$e")"
	fi
	into store || fail "store: moved or replaced during the push $inside"
}

# The log is a file in DIR, never a link, read only when it is a regular
# file, never beyond 64 MiB (rep-push's bound), and text: a NUL byte in
# it is refused (as local targets refuse it), not turned into another.
log_ok() {
	if [ -h "$root/log" ] || { [ -e "$root/log" ] && [ ! -f "$root/log" ]; }; then
		fail 'log: not a regular file (refused, not followed)'
	fi
}

# log_text FILE: FILE, the log or its hard link, is one rep-push reads:
# at most 64 MiB, no NUL byte
log_text() {
	z=$(wc -c <"$1") || fail 'log: cannot read it'
	[ "$((z))" -le 67108864 ] || fail 'log: larger than 64 MiB'
	y=$(tr -d '\000' <"$1" | wc -c) || fail 'log: cannot read it'
	[ "$((y))" -eq "$((z))" ] || fail 'log: not text: a NUL byte in it'
}

# records KIND FILE: a record for each line of FILE, in order, cut to
# 4096 bytes and a NUL made '?' (none in a log: text), so that each is
# one line of a reply
records() {
	tr '\000' '?' <"$2" | awk -v kind="$1" -v tab="$tab" '{ print "|" kind tab substr($0, 1, 4096) }' >&3
}

# listing: what is wrong with current, releases/, store/ or the log, or
# the live release, every release with its MANIFEST's SHA-256, the live
# release's MANIFEST and the log
listing() {
	if [ -e current ] && [ ! -h current ]; then fail 'current: exists and is not a symbolic link'; fi
	releases_ok
	store_ok
	log_ok
	r=$(live)
	record current "$r"
	if [ -d releases ]; then
		if [ ! -r releases ] || [ ! -x releases ]; then fail 'releases: Permission denied'; fi
		for d in releases/rep_applications_*; do
			if ! named "${d#releases/}" || [ ! -d "$d" ] || [ -h "$d" ]; then continue; fi
			s=-
			if regular "$d/MANIFEST"; then
				s=$($hash <"$d/MANIFEST") || s=-
				s=${s%% *}
			fi
			record release "${d#releases/}$tab$s"
		done
	fi
	# what store/ holds, named as a release that releases/ lacks: a
	# staging sends the whole archive where store/RELEASE is (one
	# archive's, never two), and releases/RELEASE there refuses it
	if [ -d store ]; then
		for d in store/rep_applications_*; do
			n=${d#store/}
			if release_name "$n" && [ ! -e "releases/$n" ] && [ ! -h "releases/$n" ]; then record stored "$n"; fi
		done
	fi
	if [ -n "$r" ] && regular "releases/$r/MANIFEST"; then
		records manifest "releases/$r/MANIFEST" || fail "releases/$r/MANIFEST: cannot read it"
	fi
	if [ -e hooks.pending ] || [ -h hooks.pending ]; then
		regular hooks.pending || fail 'hooks.pending: not a regular file (refused, not followed)'
		record pending "$(head -c 256 hooks.pending | tr -d '\000' | head -n 1)"
	fi
	# the live applications' hooks, as hook finds them: rep-push runs
	# only these of what leaves or changes (a hint: hook checks again)
	if [ -n "$r" ]; then
		for f in "releases/$r/rep_applications"/*/.rep/*; do
			p=${f%/.rep/*} h=${f##*/}
			case $h in configure | start | check | stop) ;; *) continue ;; esac
			if regular "$f" && [ ! -h "$p/.rep" ]; then record hook "${p##*/}$tab$h"; fi
		done
	fi
	if [ -e log ]; then
		log_text log
		records log log || fail 'log: cannot read it'
	fi
}

# take_lock WHO TIME: the lock line appears whole or not at all: written
# in a directory of our own, then linked to .rep-push.lock, which fails
# if that exists. ln -n (GNU, BSD and BusyBox have it): a link to a
# directory planted there fails too, instead of getting our line inside
# that directory. A lock whose holder died on this host is moved aside,
# checked to be the one judged dead, and removed. lock is set only once
# the lock is ours.
take_lock() {
	line=$(uname -n)$tab$$$tab$1$tab$2
	own "$w"
	e=$({ printf '%s\n' "$line" >line; } 2>&1) || fail ".rep-push.lock: $(why "$e")"
	lock_file_ok
	if ! ln -n line "$root/.rep-push.lock" 2>/dev/null; then
		lock_file_ok
		break_stale
		lock_file_ok
		# a lock gone by the time it is read was dropped in between:
		# taken again, twice at most, else its holder told
		tries=0
		while ! ln -n line "$root/.rep-push.lock" 2>/dev/null; do
			h=$(held)
			tries=$((tries + 1))
			if [ -n "$h" ] || [ "$tries" -gt 2 ]; then
				record holder "$h"
				reply busy
				exit 0
			fi
			lock_file_ok
		done
	fi
	lock=$line
	mine
	cd -P -- "$root" || fail 'cannot enter the directory again'
	remove "$w"
}

# break_stale: run in our directory $w
break_stale() {
	h=$(held)
	stale "$h" || return 0
	mv -f -- "$root/.rep-push.lock" stale 2>/dev/null || return 0
	if regular stale && [ "$(cat stale)" = "$h" ]; then
		record stale "$h"
	else
		ln -n stale "$root/.rep-push.lock" 2>/dev/null
	fi
	rm -f stale
}

# drop: on the way out, the lock if it is still ours, then our temporaries
# (a command killed by a signal could not remove its own), with
# keepalives while rep-push waits for the session to end
drop() {
	tick_off
	cd -P -- "$root" 2>/dev/null || return 0
	if [ -n "$lock" ] && [ "$(held)" = "$lock" ]; then rm -f -- "$root/.rep-push.lock"; fi
	tick_on
	if [ -d releases ]; then (into releases && remove "$own"); fi
	if [ -d store ]; then (into store && remove "$own"); fi
	remove "$own"
	remove "$w"
	tick_off
}

# leftovers [SHOWN]: what killed pushes left in the working directory
leftovers() {
	for d in .rep-push-*; do
		if [ -e "$d" ] || [ -h "$d" ]; then
			tick_on
			e=$(remove "$d" 2>&1) || say "${1:-}$d: cannot remove what a failed push left: $(why "$e")"
			tick_off
		fi
	done
}

# tidy: what killed pushes left (only under the lock: a running push's
# files look the same). One that cannot be removed is told, and the push
# goes on: it must not lock the target out for good.
tidy() {
	leftovers
	if [ -d releases ] && [ ! -h releases ]; then (into releases && leftovers releases/); fi
	if [ -d store ] && [ ! -h store ]; then (into store && leftovers store/); fi
	for d in .rep-push.lock.*; do
		p=${d#.rep-push.lock.}
		case $p in '' | *[!0-9]*) continue ;; esac
		if ! alive "$p"; then remove "$d"; fi
	done
}

# The modes rep writes: a directory, and a file with the owner-execute
# bit, 0755; another file 0644. Symbolic, so that setuid, setgid and the
# sticky bit go too (GNU chmod keeps a directory's for a numeric mode),
# whatever the umask.
exe=a-st,u=rwx,go=rx plain=a-st,u=rw,go=r

# force_modes TREE: the modes rep writes, in the tree GNU tar unpacked
# with the archive's. Directories first, a round at a time: one left
# unreadable is opened before the next round goes into it; a round that
# changes nothing ends it, and check_release tells what is left. A file
# with several links (a hard link: refused) is not touched.
force_modes() {
	last=-
	while :; do
		round=$(find "$1" -type d ! -perm 755 -print -exec chmod "$exe" {} + -o \
			-type f -links 1 -perm -100 ! -perm 755 -exec chmod "$exe" {} + -o \
			-type f -links 1 ! -perm -100 ! -perm 644 -exec chmod "$plain" {} + 2>/dev/null)
		if [ -z "$round" ] || [ "$round" = "$last" ]; then break; fi
		last=$round
	done
}

# The links given to `sh -c "$links" sh LINK...`, as lines "L LINK", then
# their targets in the same order as lines "T TARGET": one readlink for
# all of them where it takes several (GNU), else one for each, else what
# ls -ld prints after "LINK -> ". A target with a newline breaks the count
# (check_release refuses it), a last one too: the "." keeps $(...) from
# taking its newline away.
# shellcheck disable=SC2016 # expanded by that sh
links='printf "L %s\n" "$@"
if t=$(readlink -- "$@" 2>/dev/null && echo .) && t=${t%.} && [ $(($(printf "%s" "$t" | wc -l))) -eq $# ]; then
	printf "%s" "$t"
else
	for p; do
		readlink -- "$p" 2>/dev/null || { u=$(ls -ld -- "$p") && printf "%s\n" "${u#*" $p -> "}"; }
	done
fi | sed "s/^/T /"'
# sh -c "$sums" TAG FILE...: $hash of the files, each line after TAG (-:
# none)
# shellcheck disable=SC2016 # expanded by that sh
sums='if [ "$0" = - ]; then exec '"$hash"' "$@"; fi
'"$hash"' "$@" | sed "s/^/$0/"'

# check_release TREE WHERE LINKS: the release at TREE (a path from the
# private directory we are in) is exactly what its MANIFEST says, or fail
# with what is not, each message naming a path relative to the release
# and ending with WHERE ("after unpacking"). Checked:
#  - every entry a directory, a regular file or a symbolic link, none with
#    a control character in its name, no regular file with more than
#    LINKS links (+1 refuses hard links; 0 checks nothing);
#  - the modes rep writes: 0755 for directories (TREE too), 0755 or 0644
#    for files, 0644 for MANIFEST; a directory may have the setgid bit,
#    which changes nothing of what others may do, and which a setgid
#    releases/ gave the release directory of earlier versions (mkdir -m
#    755 keeps it);
#  - TREE holds MANIFEST and rep_applications/ only, rep_applications/ the
#    directory of each application its MANIFEST adds (version 2: STATE
#    add; version 1: each) and nothing else;
#  - for each, the files and symbolic links, the directories below it
#    (version 2; version 1, or - in a version 2 row, carried from a
#    version 1 one: at most 2 x FILES + 256) and the checksum of rep(7),
#    computed from the tree, those of the MANIFEST.
# One find for the whole tree: it tags each entry by kind, hashes the
# regular files with $hash (sums) and reads the links' targets, a process a
# batch of entries (not one an entry; but one a link where readlink takes
# only one); awk sorts that out per application. Each link's target goes
# to a file of its own, l/N, so that one $hash hashes them all; each
# application's checksum lines to c/NAME, hashed the same way. Names
# with a backslash come out of GNU sha256sum escaped, a line beginning
# with \; BusyBox's and OpenSSL's are as they are. No parentheses in the find
# expressions: BusyBox's find (1.35) never runs an -exec {} + batch made
# inside them. total: the files and symbolic links. What an earlier
# check left in the private directory goes first.
# tree_walk PATH [EXPRESSION -o]: check_release's find from PATH, what the
# expression matches left out; nlinks: check_release's LINKS
tree_walk() {
	find "$@" -name '*[[:cntrl:]]*' -prune -exec printf 'C %s\n' {} + -o \
		-type d ! -perm 755 ! -perm 2755 -exec printf 'N %s\n' {} + -o \
		-type d -exec printf 'D %s\n' {} + -o \
		-type l -exec sh -c "$links" sh {} + -o \
		-type f -links "$nlinks" -exec printf 'H %s\n' {} + -o \
		-type f ! -perm 755 ! -perm 644 -exec printf 'M %s\n' {} + -o \
		-type f -perm 755 -exec sh -c "$sums" X {} + -o \
		-type f -exec sh -c "$sums" - {} + -o \
		-exec printf 'O %s\n' {} +
}

check_release() {
	tree=$1 where=$2
	rm -rf -- l c walk walk.err walk2 walk2.err errs ents rows lidx lsums csums
	e=$(mkdir l c 2>&1) || fail "checking: $(why "$e")"
	nlinks=$3
	# with two processors or more, a second walk takes the applications
	# whose names end in one of half the characters (odd digits, every
	# second letter), at the same time; each checks its own application
	# directories, the first one all else
	apps=$tree/rep_applications half='*[13579BDFHJLNPRTVXZbdfhjlnprtvxz_]' second=''
	: >walk2
	# pat: $apps in the -path patterns, any *, ?, [, ] or backslash of
	# DIR's path escaped (a pattern that failed to match would send applications to
	# both walks or to neither, and the check would refuse them); a path
	# with a newline is walked once
	pat=$(printf '%s\n' "$apps" | sed 's/[][*?\\]/\\&/g') || pat=''
	case $apps in *"$nl"*) pat='' ;; esac
	if [ "$cpus" -gt 1 ] && [ -n "$pat" ]; then
		tree_walk "$apps" ! -path "$pat/*" -o -path "$pat/*" ! -path "$pat/*/*" ! -name "$half" -prune -o \
			>walk2 2>walk2.err &
		second=$!
		tree_walk "$tree" -path "$pat/*" ! -path "$pat/*/*" -name "$half" -prune -o >walk 2>walk.err
	else
		tree_walk "$tree" >walk 2>walk.err
	fi
	found=$?
	if [ -n "$second" ]; then wait "$second" || found=1; fi
	awk -v tree="$tree" -v top="$tree/" -v where="$where" '
	function bad(m) { print m; if (++nbad > 50) { stop = 1; exit } }
	function count(s) { return s ~ /^[0-9]+$/ && length(s) <= 18 }
	function unescape(s,   o, i, c) {
		o = ""
		while ((i = index(s, "\\")) > 0) {
			c = substr(s, i + 1, 1)
			o = o substr(s, 1, i - 1) (c == "n" ? "\n" : c == "r" ? "\r" : c)
			s = substr(s, i + 2)
		}
		return o s
	}
	# where P (an entry of kind K: D, L, F, X) is: its application and its
	# path in it ("APP/REL"), or "" when it is no entry of an application;
	# what is not in its place is told
	function place(p, k,   r, i, a) {
		if (p == tree) return ""
		if (substr(p, 1, length(top)) != top) { bad(p ": not in the release " where); return "" }
		r = substr(p, length(top) + 1)
		if (r == "MANIFEST") {
			if (k == "X") bad("MANIFEST: mode other than 0644 " where)
			else if (k != "F") bad("MANIFEST: not a regular file " where)
			return ""
		}
		if (r == "rep_applications") {
			if (k == "D") apps = 1
			else bad("rep_applications: not a directory " where)
			return ""
		}
		if (substr(r, 1, 17) != "rep_applications/") {
			if (index(r, "/") == 0) bad(r ": not part of a release " where)
			return ""
		}
		r = substr(r, 18)
		if ((i = index(r, "/")) == 0) {
			if (!(r in state)) bad("rep_applications/" r ": not in the manifest " where)
			else if (state[r] != "add") bad("rep_applications/" r ": removed in the manifest, yet there " where)
			else if (k != "D") bad("rep_applications/" r ": not a directory " where)
			seen[r] = 1
			return ""
		}
		a = substr(r, 1, i - 1)
		if (!(a in state) || state[a] != "add") return ""
		return r
	}
	# a regular file: a line of sha256sum
	function sum(s, k,   esc, h, p, r) {
		if ((esc = substr(s, 1, 1) == "\\")) s = substr(s, 2)
		h = substr(s, 1, 64)
		if (h !~ /^[0-9a-f]+$/ || length(h) != 64 || (substr(s, 65, 2) != "  " && substr(s, 65, 2) != " *")) {
			bad("hashing: unexpected output " where)
			return
		}
		p = substr(s, 67)
		if (esc) p = unescape(p)
		if ((r = place(p, k)) == "") return
		entry(r, (k == "X" ? "x " : "f ") h)
	}
	function entry(r, line,   i, a) {
		i = index(r, "/")
		a = substr(r, 1, i - 1)
		files[a]++
		print a "\t" substr(r, i + 1) "\t" line >"ents"
	}
	function rel(p) { return p == tree ? "the release directory" : substr(p, length(top) + 1) }
	pass == 1 {
		if (FNR == 1 && substr($0, 1, 14) == "#rep-manifest\t") {
			if ($0 != "#rep-manifest\t2") { bad("MANIFEST: version " substr($0, 15) ", written by a newer rep-tar"); stop = 1; exit }
			v = 2
			next
		}
		if ($0 == "" || substr($0, 1, 1) == "#") next
		n = split($0, f, "\t")
		if (n != (v == 2 ? 7 : 4) || length(f[1]) > 128 || f[1] !~ /^[A-Za-z0-9_+][A-Za-z0-9._+-]*$/ ||
		    !count(f[2]) || !count(f[3]) || f[4] !~ /^[0-9a-f]+$/ || length(f[4]) != 64 ||
		    (v == 2 && ((f[5] != "-" && !count(f[5])) || (f[6] != "add" && f[6] != "remove") || (f[7] != "-" && !count(f[7]))))) {
			bad("MANIFEST: line " FNR ": not a manifest record")
			stop = 1
			exit
		}
		if (f[1] in state) { bad("MANIFEST: " f[1] " listed twice"); stop = 1; exit }
		state[f[1]] = v == 2 ? f[6] : "add"
		if (state[f[1]] == "add") {
			order[++napps] = f[1]
			want[f[1]] = f[2] "\t" f[4] "\t" (v == 2 && f[5] != "-" ? f[5] : -1)
		}
		next
	}
	pass == 2 && (t = substr($0, 1, 1)) == "C" {
		# the rest of its name may be on the next lines: nothing more is read
		bad(rel(substr($0, 3)) ": a control character in its name " where)
		stop = 1
		exit
	}
	pass == 2 {
		p = substr($0, 3)
		if (t == "D" || t == "N") {
			if (t == "N") bad(rel(p) ": mode other than 0755 " where)
			if ((r = place(p, "D")) != "") dirs[substr(r, 1, index(r, "/") - 1)]++
		} else if (t == "L") {
			queue[++nl] = place(p, "L")
		} else if (t == "T") {
			if (++nt > nl) { bad("symbolic links: their targets misread " where); stop = 1; exit }
			if ((r = queue[nt]) != "") {
				printf "%s", p >("l/" nt)
				close("l/" nt)
				print nt "\t" r >"lidx"
				files[substr(r, 1, index(r, "/") - 1)]++
			}
			delete queue[nt]
		} else if (t == "H") {
			bad(rel(p) ": a hard link " where)
		} else if (t == "M") {
			bad(rel(p) ": mode other than 0644 or 0755 " where)
		} else if (t == "O") {
			bad(rel(p) ": not a regular file, directory or symbolic link " where)
		} else if (t == "X") {
			sum(substr($0, 2), "X")
		} else if (t ~ /[0-9a-f\\]/) {
			sum($0, "F")
		} else {
			bad("find: unexpected output " where)
		}
	}
	END {
		if (stop) exit
		if (nt != nl) bad("symbolic links: their targets misread " where)
		if (!apps) bad("rep_applications: missing " where)
		for (i = 1; i <= napps; i++) {
			a = order[i]
			if (!(a in seen)) {
				bad(a ": missing " where)
				continue
			}
			print a "\t" want[a] "\t" files[a] + 0 "\t" dirs[a] + 0 >"rows"
		}
		close("ents")
		close("rows")
	}' pass=1 "$tree/MANIFEST" pass=2 walk walk2 >errs || fail "checking the release $where: awk failed"
	if [ -s errs ]; then fail "$(some "$(sort errs)")"; fi
	[ "$found" -eq 0 ] || fail "checking the release $where: $(first "$(cat walk.err walk2.err 2>/dev/null)")"
	: >>ents
	: >>rows
	if [ -s lidx ]; then
		# shellcheck disable=SC2086 # $hash: a command and its options
		find l -type f -exec $hash {} + >lsums || fail "checking the release $where: hashing failed"
		awk -F "$tab" 'pass == 1 { r[$1] = $2; next }
		{
			n = substr($0, 69)
			i = index(r[n], "/")
			print substr(r[n], 1, i - 1) "\t" substr(r[n], i + 1) "\tl " substr($0, 1, 64)
		}' pass=1 lidx pass=2 lsums >>ents || fail "checking the release $where: awk failed"
	fi
	# each application's checksum lines in the order of rep(7): its
	# entries bytewise by path (no byte of a path sorts before the TAB)
	sort ents | awk -F "$tab" 'pass == 1 { printf "" >("c/" $1); close("c/" $1); next }
	$1 != a { close("c/" a); a = $1 }
	{ print $3 " " $2 >("c/" a) }' pass=1 rows pass=2 - ||
		fail "checking the release $where: awk failed"
	# shellcheck disable=SC2086 # $hash: a command and its options
	find c -type f -exec $hash {} + >csums || fail "checking the release $where: hashing failed"
	e=$(awk -F "$tab" -v where="$where" '
	pass == 1 { sum[substr($0, 69)] = substr($0, 1, 64); next }
	{
		a = $1
		if ($5 != $2)
			print a ": " $5 " files and symlinks " where ", " $2 " in the manifest"
		if ($4 >= 0 && $6 != $4)
			print a ": " $6 " directories " where ", " $4 " in the manifest"
		if ($4 < 0 && $6 > 2 * $2 + 256)
			print a ": " $6 " directories " where ", more than a version 1 manifest allows (2 x files + 256)"
		if (sum[a] != $3)
			print a ": content differs " where
		total += $5
	}
	END { print "=" total + 0 }' pass=1 csums pass=2 rows) || fail "checking the release $where: awk failed"
	total=${e##*=}
	e=${e%=*}
	if [ -n "$e" ]; then fail "$(some "${e%"$nl"}")"; fi
}

# release_row: awk's row(), which reads the line $0 of a release's
# MANIFEST (named label in messages), split at TABs: 1 for the row of an
# application (name, files, bytes, checksum, directories or -, add, -),
# 0 for a line that is none (the first, #rep-manifest TAB 2, which sets
# head; an empty line, a comment), -1 (told) for one that is neither.
# A release's MANIFEST is of version 2, and has no removal rows.
# shellcheck disable=SC2016 # awk's
release_row='function count(s) { return s ~ /^[0-9]+$/ && length(s) <= 18 }
function row() {
	if (FNR == 1) {
		if ($0 == "#rep-manifest\t2") { head = 1; return 0 }
		if (substr($0, 1, 14) == "#rep-manifest\t") print label ": version " substr($0, 15) ", written by a newer rep-tar"
		else print label ": version 1, not the MANIFEST of a release"
		return -1
	}
	if ($0 == "" || substr($0, 1, 1) == "#") return 0
	if (NF == 7 && $6 == "remove") { print label ": " $1 ": a removal row"; return -1 }
	if (NF != 7 || length($1) > 128 || $1 !~ /^[A-Za-z0-9_+][A-Za-z0-9._+-]*$/ || !count($2) || !count($3) ||
	    $4 !~ /^[0-9a-f]+$/ || length($4) != 64 || ($5 != "-" && !count($5)) || $6 != "add" || $7 != "-") {
		print label ": line " FNR ": not a row of a release"
		return -1
	}
	if ($1 in listed) { print label ": " $1 " listed twice"; return -1 }
	listed[$1] = 1
	return 1
}
'

# release_ok FILE LABEL: FILE (named LABEL) is the MANIFEST of a release
release_ok() {
	e=$(awk -F "$tab" -v label="$2" "$release_row"'
	row() < 0 { stop = 1; exit }
	END { if (!stop && !head) print label ": version 1, not the MANIFEST of a release" }' "$1") ||
		fail "$2: awk failed"
	if [ -n "$e" ]; then fail "$e"; fi
}

# same_rows STORE LABEL PLAN MANIFEST: each row of the release's
# MANIFEST (named LABEL) as STORE/S/MANIFEST adds it, for the S that
# PLAN (lines NAME TAB S) gives its application: files, bytes, checksum,
# and directories unless either is - (unknown: a version 1 row); each
# STORE/S/MANIFEST already found a regular file
same_rows() {
	e=$(awk -F "$tab" -v store="$1" -v label="$2" '
	# the rows STORE/S/MANIFEST adds (version 1: every row), as
	# add[S, NAME] = FILES TAB BYTES TAB CHECKSUM TAB DIRS
	function load(s,   f, line, g, n, v, k, r) {
		loaded[s] = 1
		f = store "/" s "/MANIFEST"
		v = 1
		while ((r = (getline line < f)) > 0) {
			if (++k == 1 && line == "#rep-manifest\t2") { v = 2; continue }
			if (line == "" || substr(line, 1, 1) == "#") continue
			n = split(line, g, "\t")
			if (v == 1 && n == 4) add[s, g[1]] = g[2] "\t" g[3] "\t" g[4] "\t-"
			else if (v == 2 && n == 7 && g[6] == "add") add[s, g[1]] = g[2] "\t" g[3] "\t" g[4] "\t" g[5]
		}
		if (r < 0) print "store/" s "/MANIFEST: cannot read it"
		close(f)
	}
	pass == 1 { at[$1] = $2; next }
	FNR == 1 || $0 == "" || substr($0, 1, 1) == "#" || !($1 in at) { next }
	{
		s = at[$1]
		if (!(s in loaded)) load(s)
		split((s, $1) in add ? add[s, $1] : "", g, "\t")
		if (!((s, $1) in add) || g[1] != $2 || g[2] != $3 || g[3] != $4 || (g[4] != "-" && $5 != "-" && g[4] != $5))
			print label ": " $1 ": not as store/" s "/MANIFEST lists it"
	}' pass=1 "$3" pass=2 "$4") || fail "$2: awk failed"
	if [ -n "$e" ]; then fail "$(some "$e")"; fi
}

# link_text LINK: what the link LINK holds (readlink, else what ls -ld
# prints after "LINK -> ")
link_text() {
	readlink -- "$1" 2>/dev/null || { u=$(ls -ld -- "$1") && printf '%s\n' "${u#*" $1 -> "}"; }
}

# kept DIR MANIFEST_SHA256: DIR, a directory of store/, is the release
# whose MANIFEST has that SHA-256
kept() {
	[ -d "$1" ] && [ ! -h "$1" ] && regular "$1/MANIFEST" && s=$($hash <"$1/MANIFEST") &&
		[ "${s%% *}" = "$2" ]
}

# whole S: store/S (../S from the staging directory), found there and
# kept, checked whole before a release links to it, as verify checks a
# store entry: it is not this staging's, and whoever may write DIR could
# have made it, or changed it since the release that was live on it went
whole() {
	tick_on
	owned "../$1" "store/$1"
	check_release "../$1" "in store/$1" 0
	tick
}

# as_left PATH SHOWN: PATH, a directory (not a link), is as rep-push
# leaves it: the login's, mode 755 (no other bit), so that no other
# could have put or changed anything in it
as_left() {
	[ -n "$(find "$1" -prune -user "$(id -u)" -perm 755 2>/dev/null)" ] ||
		fail "$2: not as rep-push leaves it (owned by the login that pushes, mode 755)"
}

# stage RELEASE SHA256 SIZE MANIFEST_SHA256 FILES BASE FULLSIZE FULLSHA:
# in a staging directory of ours in store/, the release's MANIFEST and
# the archive uploaded, the archive checked and unpacked, the tree moved
# beside it as store/RELEASE (or that one kept: the same archive, pushed
# before), and the place of each application of the release found
# (compose); then, in a directory of ours in releases/, the release made
# (build) and moved beside it
stage() {
	stem=$1 sha=$2 size=$3 msha=$4 nfiles=$5 base=$6 fullsize=$7 fullsha=$8 cuts=${9:--}
	for n in "$fullsize" "$size"; do
		case $n in '' | *[!0-9]*) fail "$n: not a size" ;; esac
	done
	named "$stem" || fail "$stem: not a release name"
	if [ "$base" != - ]; then named "$base" || fail "$base: not a release name"; fi
	in_store
	own "$own" "store/$own"
	private=$own
	# one head for both, into one file (BusyBox's reads ahead from a
	# pipe, so a second one would miss what the first took beyond its
	# count), the archive's SHA-256 taken on the way; the MANIFEST is
	# cut from the file, where head -c is exact, and the archive read
	# from it with tail -c +N (dd, exact on a pipe, reads a byte a call)
	s=$(head -c "$((fullsize + size))" | tee upload | tail -c "+$((fullsize + 1))" | $hash) ||
		fail 'hashing failed'
	s=${s%% *}
	n=$(wc -c <upload) || fail 'cannot read the upload'
	if [ "$((n))" -lt "$fullsize" ]; then
		fail "the release's MANIFEST arrived incomplete ($((n)) of $fullsize bytes)"
	fi
	[ "$((n))" -eq "$((fullsize + size))" ] || fail "the archive arrived incomplete ($((n - fullsize)) of $size bytes)"
	[ "$s" = "$sha" ] || fail "the archive arrived damaged (SHA-256 $s, sent $sha)"
	head -c "$fullsize" upload >full || fail "cannot read the release's MANIFEST uploaded"
	s=$($hash <full) || fail 'hashing failed'
	[ "${s%% *}" = "$fullsha" ] || fail "the release's MANIFEST arrived damaged (SHA-256 ${s%% *}, sent $fullsha)"
	release_ok full "the release's MANIFEST"
	tick
	mine
	absent "$root/releases/$stem" "releases/$stem"
	tick_on
	unpack "$cuts"
	rm -f upload
	tick
	force_modes tree
	regular tree/MANIFEST || fail 'no MANIFEST after unpacking'
	chmod "$plain" tree/MANIFEST || fail 'MANIFEST: cannot set its mode after unpacking'
	s=$($hash <tree/MANIFEST) || fail 'no MANIFEST after unpacking'
	[ "${s%% *}" = "$msha" ] || fail 'MANIFEST differs after unpacking'
	check_release tree 'after unpacking' +1
	[ "$total" -eq "$nfiles" ] || fail "$total files and symlinks after unpacking, $nfiles in the manifest"
	tick
	mine
	if { [ -e "../$stem" ] || [ -h "../$stem" ]; } && ! kept "../$stem" "$msha" && unused "$stem"; then
		# what a staging that failed after making it left, of another
		# part of the archive perhaps: no release links into it, so it
		# goes, as the next pruning would take it
		g=.rep-push-$$-$stem
		(cd -P .. && remove "$g" && rename "$stem" "$g" && remove "$g") ||
			fail "store/$stem: linked to by no release, and cannot be removed"
	fi
	if [ -e "../$stem" ] || [ -h "../$stem" ]; then
		kept "../$stem" "$msha" || fail "store/$stem exists and differs from the archive"
		whole "$stem"
	else
		e=$(rename tree "../$stem" 2>&1) || fail "store/$stem: $(why "$e")"
	fi
	compose
	# what build needs of the staging directory, which goes
	text=$(cat full && echo .) || fail "cannot read the release's MANIFEST uploaded"
	targets=$(awk -F "$tab" '{ print "../../../store/" $2 "/rep_applications/" $1 }' plan) ||
		fail 'composing the release: awk failed'
	cleanup
	cd -P -- "$root" || fail 'cannot enter the directory again'
	build
	reply ok
}

# unpack CUTS: the archive in upload (after the release's MANIFEST, of
# size bytes) unpacked into tree, in as many pieces at once as there are
# processors here and CUTS allows: the points where rep-push found an
# application's entries begin, "TAR:FROM:SKIP:TO" each, joined by commas
# (- for none). Each piece inflates the gzip members that hold it (FROM
# of the cut it begins at, to TO of the one it ends at), drops the bytes
# before its point (SKIP) and unpacks the tar of its own that begins
# there (a tar stream may end where an entry begins). Each piece is read
# by the tar here; whatever it made is checked whole after (check_release).
unpack() {
	e=$(mkdir -m 755 tree 2>&1) || fail "unpacking: $(why "$e")"
	if [ "$1" = - ] || [ "$cpus" -lt 2 ]; then
		e=$(tail -c "+$((fullsize + 1))" upload | (cd -P tree && exec tar -xpzf - --no-same-owner) 2>&1) ||
			fail "unpacking: $(first "$e")"
		return 0
	fi
	# pieces FROM TO SKIP LEN (-: to the end), cut at p - 1 of the n
	# points, spread as evenly as the points are
	pieces=$(awk -v cuts="$1" -v p="$cpus" -v size="$size" 'BEGIN {
		n = split(cuts, c, ",")
		for (i = 1; i <= n; i++) {
			if (split(c[i], f, ":") != 4) exit 1
			for (k = 1; k <= 4; k++) if (f[k] !~ /^[0-9]+$/ || length(f[k]) > 15) exit 1
			tar[i] = f[1] + 0; from[i] = f[2] + 0; skip[i] = f[3] + 0; to[i] = f[4] + 0
			if ((i > 1 && tar[i] <= tar[i - 1]) || to[i] > size || from[i] >= size) exit 1
		}
		if (p > n + 1) p = n + 1
		for (j = 1; j <= p; j++) {
			b = j < p ? int(j * (n + 1) / p) : 0
			f0 = a ? from[a] : 0
			e0 = b ? to[b] : size
			if (e0 <= f0) exit 1
			printf "%.0f %.0f %.0f ", f0, e0, a ? skip[a] : 0
			if (b) printf "%.0f\n", tar[b] - (a ? tar[a] : 0); else print "-"
			a = b
		}
	}') || fail "unpacking: $1: not where the archive may be cut"
	e=$(mkdir -m 755 tree/rep_applications 2>&1) || fail "unpacking: $(why "$e")"
	i=0 pids=''
	while read -r from to skip len; do
		i=$((i + 1))
		piece "$i" "$from" "$to" "$skip" "$len" 2>"e.$i" &
		pids="$pids $!"
	done <<EOF
$pieces
EOF
	i=0 bad=''
	for pid in $pids; do
		i=$((i + 1))
		wait "$pid" || bad=${bad:-$i}
	done
	[ -z "$bad" ] || fail "unpacking: $(first "$(cat "e.$bad")")"
	rm -f e.* z.*
}

# piece N FROM TO SKIP LEN: a piece of unpack's, the Nth: tar's status,
# or where it is 0, gzip's (none is piped to a process that stopped
# reading: untar reads to the end)
piece() {
	if [ "$4" -gt 0 ]; then
		inflate "$1" "$2" "$3" | tail -c "+$(($4 + 1))" | untar "$5"
	else
		inflate "$1" "$2" "$3" | untar "$5"
	fi || return
	[ "$(cat "z.$1")" = 0 ]
}

# inflate N FROM TO: bytes FROM to TO of the archive in upload, inflated;
# gzip's status to z.N
inflate() {
	tail -c "+$((fullsize + $2 + 1))" upload | head -c "$(($3 - $2))" | gzip -dc
	echo "$?" >"z.$1"
}

# untar LEN: LEN bytes of the input (-: all) unpacked into tree, the rest
# read and left
untar() {
	if [ "$1" = - ]; then
		(cd -P tree && exec tar -xpf - --no-same-owner)
	else
		head -c "$1" | (cd -P tree && exec tar -xpf - --no-same-owner)
	fi
	s=$?
	cat >/dev/null
	return "$s"
}

# compose: in the staging directory, where each application of the
# release (full) is, as lines NAME TAB S in plan: store/RELEASE (..) for
# those the archive adds as the release has them, else where releases/
# BASE has it: the store/S its link leads into, or store/BASE for a
# release of the old format, copied there first if need be (upgrade).
# Each checked there, in directories only the login may change (store/
# the login's and writable by none other; store/S, its rep_applications/
# and the application's own directory, not links, the login's, mode
# 755): its content was checked as this staging unpacked or copied it,
# or found it (whole), or is live already; and its row in the release's
# MANIFEST as store/S/MANIFEST adds it.
compose() {
	awk -F "$tab" -v label="the release's MANIFEST" -v stem="$stem" "$release_row"'
	pass == 1 {
		if (FNR == 1 && $0 == "#rep-manifest\t2") v = 2
		else if ($0 != "" && substr($0, 1, 1) != "#" && (v != 2 || $6 == "add")) sum[$1] = $4
		next
	}
	(r = row()) < 0 { stop = 1; exit }
	r { print $1 "\t" (($1 in sum) && sum[$1] == $4 ? stem : "-") >"found" }
	END { if (!stop && !head) print label ": version 1, not the MANIFEST of a release" }' \
		pass=1 "../$stem/MANIFEST" pass=2 full >errs || fail 'composing the release: awk failed'
	if [ -s errs ]; then fail "$(cat errs)"; fi
	: >>found
	awk -F "$tab" '$2 != "-"' found >plan || fail 'composing the release: awk failed'
	awk -F "$tab" '$2 == "-" { print $1 }' found >need || fail 'composing the release: awk failed'
	old=''
	if [ -s need ]; then
		[ "$base" != - ] ||
			fail "$(head -n 1 need): in the release's MANIFEST, not in the archive, and no release to take it from"
		r=$root/releases/$base
		if [ ! -d "$r" ] || [ -h "$r" ]; then fail "releases/$base: no such release"; fi
		: >linked
		while read -r n; do
			if [ -h "$r/rep_applications/$n" ]; then
				printf '%s\n' "$n" >>linked
			elif [ -d "$r/rep_applications/$n" ]; then
				printf '%s\t%s\n' "$n" "$base" >>plan
				old=1
			elif [ -e "$r/rep_applications/$n" ]; then
				fail "releases/$base/rep_applications/$n: neither a directory nor a symbolic link"
			else
				fail "releases/$base/rep_applications/$n: missing (the release's MANIFEST lists it)"
			fi
		done <need
		# what the links hold, read by a few processes for all of them
		# (one each costs more than the rest of a push that sends one
		# application of a thousand); names hold no blank, quote or
		# backslash, so xargs splits the lines as they are
		if [ -s linked ]; then
			(cd -P -- "$r/rep_applications" && exec xargs sh -c "$links" sh) <linked >texts ||
				fail "releases/$base/rep_applications: cannot read its links"
			awk 'substr($0, 1, 2) == "L " { q[++nl] = substr($0, 3); next }
			substr($0, 1, 2) == "T " { if (++nt <= nl) print q[nt] "\t" substr($0, 3); next }
			{ exit 1 }
			END { if (nt != nl) exit 1 }' texts >pairs ||
				fail "releases/$base/rep_applications: its links misread"
			while IFS="$tab" read -r n t; do
				s=${t#../../../store/}
				s=${s%/rep_applications/"$n"}
				if [ "$t" != "../../../store/$s/rep_applications/$n" ] || ! release_name "$s"; then
					fail "releases/$base/rep_applications/$n: not a link to ../../../store/RELEASE/rep_applications/$n"
				fi
				printf '%s\t%s\n' "$n" "$s"
			done <pairs >>plan
		fi
	fi
	if [ -n "$old" ]; then upgrade; fi
	if [ -s plan ] && [ -z "$(find .. -prune -user "$(id -u)" ! -perm -020 ! -perm -002 2>/dev/null)" ]; then
		fail 'store: not as rep-push leaves it (owned by the login that pushes, writable by none other)'
	fi
	if [ -s plan ] && as_left_all; then
		same_rows .. "the release's MANIFEST" plan full
		return
	fi
	# one of them is not: which, and how, one at a time
	while IFS="$tab" read -r n s; do
		if [ ! -d "../$s" ] || [ -h "../$s" ]; then fail "store/$s: no such directory"; fi
		as_left "../$s" "store/$s"
		regular "../$s/MANIFEST" || fail "store/$s/MANIFEST: no such file"
		d=../$s/rep_applications
		if [ ! -d "$d" ] || [ -h "$d" ]; then fail "store/$s/rep_applications: not a directory"; fi
		as_left "$d" "store/$s/rep_applications"
		d=$d/$n
		if [ ! -d "$d" ] || [ -h "$d" ]; then fail "store/$s/rep_applications/$n: not a directory"; fi
		as_left "$d" "store/$s/rep_applications/$n"
	done <plan
	same_rows .. "the release's MANIFEST" plan full
}

# as_left_all: every directory the plan takes an application from
# (store/S, its rep_applications and rep_applications/NAME) is as
# as_left wants it, and each store/S has its MANIFEST: one find for all
# of them, where checking each in turn would cost processes per
# application; false when any is not, or cannot be looked at
as_left_all() {
	awk -F "$tab" '{ s = "../" $2; if (!(s in seen)) { seen[s] = 1; print s; print s "/rep_applications" }
		print s "/rep_applications/" $1 }' plan >dirs || return 1
	awk -F "$tab" '!($2 in seen) { seen[$2] = 1; print $2 }' plan >stores || return 1
	while read -r s; do
		regular "../$s/MANIFEST" || return 1
	done <stores
	# names and release names hold no blank, quote or backslash: xargs
	# splits the lines as they are
	# shellcheck disable=SC2016 # the inner sh expands them
	bad=$(xargs sh -c 'find "$@" -prune ! \( -type d -user "$0" -perm 755 \) -print 2>&1 || echo failed' \
		"$(id -u)" <dirs) || return 1
	[ -z "$bad" ]
}

# upgrade: store/BASE for the old format's releases/BASE, whose
# applications the release keeps: kept if there (the same MANIFEST;
# checked whole: it is not this staging's),
# else copied (cp -RP: links as links) here, given the modes rep writes,
# checked as an unpacked archive against its own MANIFEST, and moved
# beside us. Once for a target of earlier versions, at its first push.
upgrade() {
	r=$root/releases/$base
	regular "$r/MANIFEST" || fail "releases/$base/MANIFEST: no such file"
	m=$($hash <"$r/MANIFEST") || fail "releases/$base/MANIFEST: cannot read it"
	m=${m%% *}
	if [ -e "../$base" ] || [ -h "../$base" ]; then
		kept "../$base" "$m" || fail "store/$base exists and differs from releases/$base"
		whole "$base"
		return 0
	fi
	tick
	tick_on
	e=$(cp -RP -- "$r" copy 2>&1) || fail "releases/$base: cannot copy it to store/: $(first "$e")"
	if [ ! -d copy ] || [ -h copy ]; then fail "releases/$base: not a directory (refused, not followed)"; fi
	force_modes copy
	regular copy/MANIFEST || fail "releases/$base/MANIFEST: no such file in its copy"
	chmod "$plain" copy/MANIFEST || fail "releases/$base/MANIFEST: cannot set its mode in its copy"
	s=$($hash <copy/MANIFEST) || fail "releases/$base/MANIFEST: cannot read its copy"
	[ "${s%% *}" = "$m" ] || fail "releases/$base: changed as it was copied"
	check_release copy "in the copy of releases/$base" +1
	tick
	mine
	e=$(rename copy "../$base" 2>&1) || fail "store/$base: $(why "$e")"
}

# build: in a directory of ours in releases/, the release: its MANIFEST
# (text, checked against its SHA-256 again) and, in rep_applications/,
# a link for each application (targets, the links' texts: each named
# for what it leads to), then moved beside it as releases/RELEASE
build() {
	in_releases
	own "$own" "releases/$own"
	private=$own
	e=$(mkdir release release/rep_applications 2>&1) || fail "$(why "$e")"
	chmod "$exe" release release/rep_applications || fail 'rep_applications: cannot set its mode'
	e=$({ printf '%s' "${text%.}" >release/MANIFEST; } 2>&1) || fail "MANIFEST: $(why "$e")"
	chmod "$plain" release/MANIFEST || fail 'MANIFEST: cannot set its mode'
	s=$($hash <release/MANIFEST) || fail 'hashing failed'
	[ "${s%% *}" = "$fullsha" ] || fail "MANIFEST: SHA-256 ${s%% *} as written, not $fullsha"
	# shellcheck disable=SC2086 # one word a link: names and paths of release names
	set -- $targets
	if [ $# -gt 0 ]; then
		e=$(ln -s -- "$@" release/rep_applications 2>&1) || fail "rep_applications: $(why "$e")"
	fi
	tick
	mine
	absent "../$stem" "releases/$stem"
	e=$(rename release "../$stem" 2>&1) || fail "releases/$stem: $(why "$e")"
	cleanup
}

# switch TO WAS [TIME EVENT USER HOST]: in a directory of ours, the
# line TIME EVENT TO WAS USER HOST added to a copy of the log, which is
# renamed over it (a kill before: no line; after: a line of a switch
# that may not have happened); then current replaced by a new link, made
# there and renamed over it. The log is read through a hard link to it
# made there (ln -P, or ln, which makes one to a link itself: GNU,
# BusyBox), and only when that is a regular file: a link or a FIFO
# swapped in at DIR/log is replaced, never read.
switch() {
	to=${1#-} expect=${2#-}
	for f in "$@"; do
		case $f in *[!!-~]*) fail "switch: a byte other than ! to ~ in '$f'" ;; esac
	done
	for f in "$to" "$expect"; do
		if [ -n "$f" ]; then named "$f" || fail "$f: not a release name"; fi
	done
	mine
	if [ -e "$root/current" ] && [ ! -h "$root/current" ]; then fail 'current: exists and is not a symbolic link'; fi
	now=$(live)
	[ "$now" = "$expect" ] || fail "current changed during the push (now '$now')"
	if [ -n "$to" ]; then
		if [ ! -d "$root/releases/$to" ] || [ -h "$root/releases/$to" ]; then fail "releases/$to: no such release"; fi
	fi
	own "$own"
	private=$own
	if [ $# -gt 2 ]; then log "$3$tab$4$tab$1$tab$2$tab$5$tab$6"; fi
	if [ -z "$to" ]; then
		e=$(rm -f -- "$root/current" 2>&1) || fail "current: $(why "$e")"
	else
		e=$(ln -s "releases/$to" next 2>&1) || fail "$(why "$e")"
		e=$(rename next "$root/current" 2>&1) || fail "current: $(why "$e")"
	fi
	cleanup
	if [ "$(live)" != "$to" ]; then
		say "current does not point to releases/$to after the switch"
		reply unknown
		exit 1
	fi
	reply ok
}

# log LINE: LINE appended to the log, from our directory in DIR
log() {
	if [ -e ../log ] || [ -h ../log ]; then
		e=$(ln -P -- ../log old 2>&1) || e=$(ln -- ../log old 2>&1) || fail "log: $(why "$e")"
		if regular old; then
			log_text old
			e=$(cat old 2>&1 >log) || fail "log: $(why "$e")"
			if [ -n "$(tail -c 1 log)" ]; then echo >>log; fi
		fi
	fi
	e=$({ printf '%s\n' "$1" >>log; } 2>&1) || fail "log: $(why "$e")"
	chmod "$plain" log || fail 'log: cannot set its mode'
	mine
	e=$(rename log ../log 2>&1) || fail "log: $(why "$e")"
}

# prune NAME...: each release first renamed out of a rollback's reach (it
# must never switch to a release half removed), to a name tidy removes at
# the next lock if need be, then removed. One that cannot be removed does
# not stop the others: each failure is told; .ok when every rename worked
# (a release renamed is gone for rollback), .error when one did not. A
# record `gone NAME` for each release that is out of releases/NAME. Then
# what of store/ no release left links to (gc).
prune() {
	mine
	for n in "$@"; do
		named "$n" || fail "$n: not a release name"
	done
	in_releases
	word=ok
	for n in "$@"; do
		g=.rep-push-$$-$n
		if [ -e "$n" ] || [ -h "$n" ]; then
			remove "$g"
			if ! e=$(rename "$n" "$g" 2>&1); then
				say "releases/$n: cannot remove it: $(why "$e")"
				word=error
				continue
			fi
		fi
		record gone "$n"
		tick_on
		e=$(remove "$g" 2>&1) || say "releases/$n: cannot remove all of it (left as releases/$g):$nl$(some "$e")"
		tick
	done
	gc
	reply "$word"
}

# used: the S of each store/S a release (named exactly as one) links
# into (a link ../../../store/S/... in its rep_applications/, whatever
# its name), one a line; false when the links of a release cannot all
# be read
used() {
	set +f
	for d in releases/rep_applications_*; do
		if ! release_name "${d#releases/}" || [ ! -d "$d" ] || [ -h "$d" ]; then continue; fi
		if [ ! -d "$d/rep_applications" ]; then continue; fi
		if [ ! -r "$d/rep_applications" ] || [ ! -x "$d/rep_applications" ]; then return 1; fi
		# every link of the release, read by a few processes (building
		# a list of them in the shell costs time that grows as their
		# square); a name with a newline makes the texts fewer or more
		# than the links, and all unknown
		find "$d/rep_applications/." ! -name . -prune -type l -exec sh -c "$links" sh {} + | awk '
		substr($0, 1, 2) == "L " && length($0) > 2 { n++ }
		substr($0, 1, 2) == "T " {
			t++
			if (substr($0, 3, 15) == "../../../store/") {
				s = substr($0, 18)
				print (index(s, "/") ? substr(s, 1, index(s, "/") - 1) : s)
			}
		}
		END { exit t != n }' || return 1
	done
}

# unused S: no release links into store/S (false as well when what the
# releases link to is unknown)
unused() {
	u=$(cd -P -- "$root" && used) || return 1
	case $nl$u$nl in *"$nl$1$nl"*) return 1 ;; esac
}

# gc: each entry of store/ named exactly like a release (release_name:
# nothing else there is ours) that no release links into, removed as
# prune removes a release (renamed out of a staging's reach first, to
# store/.rep-push-PID-NAME); what cannot be is told, and nothing is
# removed when the links of a release cannot all be read
gc() {
	cd -P -- "$root" || fail 'cannot enter the directory again'
	if [ ! -e store ] && [ ! -h store ]; then return 0; fi
	store_ok
	if ! keep=$(used); then
		say 'store: not cleaned (what the releases link to is unknown)'
		return 0
	fi
	into store || fail "store: moved or replaced during the push $inside"
	set +f
	for n in rep_applications_*; do
		if ! release_name "$n" || { [ ! -e "$n" ] && [ ! -h "$n" ]; }; then continue; fi
		case $nl$keep$nl in *"$nl$n$nl"*) continue ;; esac
		g=.rep-push-$$-$n
		remove "$g"
		if ! e=$(rename "$n" "$g" 2>&1); then
			say "store/$n: cannot remove it: $(why "$e")"
			continue
		fi
		tick_on
		e=$(remove "$g" 2>&1) || say "store/$n: cannot remove all of it (left as store/$g):$nl$(some "$e")"
		tick
	done
	set -f
}

# manifest NAME [store]: releases/NAME/MANIFEST, or store/NAME/MANIFEST
manifest() {
	named "$1" || fail "$1: not a release name"
	m=releases/$1/MANIFEST
	if [ "${2-}" = store ]; then m=store/$1/MANIFEST; fi
	regular "$root/$m" || fail "$m: no such file"
	awk '{ print "|" $0 }' "$root/$m" >&3 || fail "$m: cannot read"
	reply ok
}

# verify NAME [MANIFEST_SHA256]: releases/NAME checked where it is, from
# a directory of ours beside it (for the temporaries): of the old format
# as an unpacked archive (check_release), of links by check_links
verify() {
	mine
	named "$1" || fail "$1: not a release name"
	in_releases
	if [ ! -d "$1" ] || [ -h "$1" ]; then fail "releases/$1: no such release"; fi
	own "$own" "releases/$own"
	private=$own
	regular "../$1/MANIFEST" || fail "releases/$1/MANIFEST: no such file"
	if [ -n "${2:-}" ]; then
		s=$($hash <"../$1/MANIFEST") || fail "releases/$1/MANIFEST: cannot read"
		[ "${s%% *}" = "$2" ] || fail "releases/$1/MANIFEST: SHA-256 ${s%% *}, not $2"
	fi
	tick_on
	# another owner could change the release, through a hard link to a
	# file of theirs put in its place, say
	owned "../$1" "releases/$1"
	if linked "../$1"; then
		check_links "$1"
	else
		check_release "../$1" "in releases/$1" 0
	fi
	cleanup
	reply ok
}

# owned TREE SHOWN: everything in TREE (shown as SHOWN) is the login's
owned() {
	e=$(find "$1" ! -user "$(id -u)" -print 2>&1 | head -n 1)
	if [ -n "$e" ]; then fail "$2${e#"$1"}: not owned by the login that pushes"; fi
}

# linked TREE: the release at TREE is of links: rep_applications/ holds
# one (one without applications reads the same either way)
linked() {
	set +f
	for a in "$1"/rep_applications/*; do
		if [ -h "$a" ]; then
			set -f
			return 0
		fi
	done
	set -f
	return 1
}

# check_links RELEASE: releases/RELEASE, a release of links, checked from
# a directory of ours beside it: it holds its MANIFEST (a release's, mode
# 0644) and rep_applications/ only, which holds a link for each
# application of the MANIFEST and nothing else, each exactly
# ../../../store/S/rep_applications/NAME (S a release name), which gives
# plan; directories 0755 (or with the setgid bit). Then each store/S
# linked into is the login's and checked as a staging checks what it
# unpacked (check_release), and each row of the MANIFEST is as
# store/S/MANIFEST adds it. One find, no deeper than rep_applications/
# NAME/.
check_links() {
	tree=../$1 where="in releases/$1"
	find "$tree" -path "$tree/*/*/*" -prune -o -name '*[[:cntrl:]]*' -prune -exec printf 'C %s\n' {} + -o \
		-type d ! -perm 755 ! -perm 2755 -exec printf 'N %s\n' {} + -o \
		-type d -exec printf 'D %s\n' {} + -o \
		-type l -exec sh -c "$links" sh {} + -o \
		-type f -perm 644 -exec printf 'F %s\n' {} + -o \
		-type f -exec printf 'M %s\n' {} + -o \
		-exec printf 'O %s\n' {} + >walk 2>walk.err
	found=$?
	awk -F "$tab" -v tree="$tree" -v where="$where" -v label="releases/$1/MANIFEST" "$release_row"'
	function bad(m) { print m; if (++nbad > 50) { stop = 1; exit } }
	function rel(p) { return p == tree ? "the release directory" : substr(p, length(tree) + 2) }
	# s is exactly a release name, as release_name checks it
	function release(s) {
		return s ~ /^rep_applications_[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]_[0-9][0-9][0-9][0-9][0-9][0-9](_[1-9][0-9]*)?$/ &&
		    length(s) <= 42 && substr(s, 33) != "_1"
	}
	# the link of application a holds t
	function link(a, t,   s, i) {
		if (a == "") return
		seen[a] = 1
		if (!(a in listed)) { bad("rep_applications/" a ": not in the manifest " where); return }
		s = substr(t, 16)
		i = index(s, "/")
		if (substr(t, 1, 15) != "../../../store/" || substr(s, i) != "/rep_applications/" a ||
		    !release((s = substr(s, 1, i - 1)))) {
			bad("rep_applications/" a ": a link to " t ", not to ../../../store/RELEASE/rep_applications/" a " " where)
			return
		}
		print a "\t" s >"plan"
	}
	pass == 1 {
		if ((r = row()) < 0) { stop = 1; exit }
		if (r) order[++napps] = $1
		next
	}
	pass == 2 && (k = substr($0, 1, 1)) == "C" {
		bad(rel(substr($0, 3)) ": a control character in its name " where)
		stop = 1
		exit
	}
	pass == 2 && k == "T" {
		if (++nt > nl) { bad("symbolic links: their targets misread " where); stop = 1; exit }
		link(queue[nt], substr($0, 3))
		delete queue[nt]
		next
	}
	pass == 2 {
		p = substr($0, 3)
		r = rel(p)
		if (k == "L") queue[++nl] = ""
		if (p == tree) {
			if (k == "N") bad("the release directory: mode other than 0755 " where)
		} else if (r == "MANIFEST") {
			if (k == "M") bad("MANIFEST: mode other than 0644 " where)
			else if (k != "F") bad("MANIFEST: not a regular file " where)
		} else if (r == "rep_applications") {
			if (k == "N") bad("rep_applications: mode other than 0755 " where)
			else if (k != "D") bad("rep_applications: not a directory " where)
			apps = 1
		} else if (index(r, "/") == 0) {
			bad(r ": not part of a release " where)
		} else if (substr(r, 1, 17) == "rep_applications/" && index(substr(r, 18), "/") == 0) {
			if (k == "L") queue[nl] = substr(r, 18)
			else {
				seen[substr(r, 18)] = 1
				bad(r ": not a symbolic link, as the others are, " where)
			}
		}
	}
	END {
		if (stop) exit
		if (!head) { bad(label ": version 1, not the MANIFEST of a release"); exit }
		if (nt != nl) bad("symbolic links: their targets misread " where)
		if (!apps) bad("rep_applications: missing " where)
		for (i = 1; i <= napps; i++)
			if (!(order[i] in seen)) bad(order[i] ": missing " where)
	}' pass=1 "$tree/MANIFEST" pass=2 walk >errs || fail "checking the release $where: awk failed"
	if [ -s errs ]; then fail "$(some "$(sort errs)")"; fi
	[ "$found" -eq 0 ] || fail "checking the release $where: $(first "$(cat walk.err)")"
	: >>plan
	if [ -h "$root/store" ]; then fail "store: a symbolic link $inside"; fi
	# shellcheck disable=SC2013 # one word a line: release names
	for s in $(cut -f 2 plan | sort -u); do
		d=$root/store/$s
		if [ ! -d "$d" ] || [ -h "$d" ]; then fail "store/$s: no such directory"; fi
		regular "$d/MANIFEST" || fail "store/$s/MANIFEST: no such file"
		owned "$d" "store/$s"
		check_release "$d" "in store/$s" 0
	done
	same_rows "$root/store" "releases/$1/MANIFEST" plan "../$1/MANIFEST"
}

# --- hooks ---------------------------------------------------------------------------
#
# An application's hooks are the regular files .rep/configure, start,
# check and stop in its directory of a release. hook runs one, for a
# local target too (lib/local.c runs this file for it), so that a hook
# sees the same world wherever it runs: its application's directory,
# stdin /dev/null, its stdout and stderr one file (never a pipe: a
# daemon it leaves behind holding them must not hold the session, or
# rep-push, open), no other descriptor of ours, and a cleared
# environment.

# app_named NAME: NAME has the shape of an application's name (rep(7)):
# 1 to 128 bytes of A-Za-z0-9._+-, not beginning with . or -
app_named() {
	case $1 in '' | [.-]* | *[!A-Za-z0-9._+-]*) return 1 ;; esac
	[ ${#1} -le 128 ]
}

# sum_named WORD: WORD is a checksum, 64 hex digits
sum_named() {
	case $1 in *[!0-9a-f]*) return 1 ;; esac
	[ ${#1} -eq 64 ]
}

# app_dir RELEASE NAME: appdir, the physical path of the application's
# directory in releases/RELEASE: where its link there leads, exactly
# ../../../store/S/rep_applications/NAME (S a release name), or, of the
# old format, the directory itself; through no other link (from $root)
app_dir() {
	r=releases/$1 a=releases/$1/rep_applications/$2
	releases_ok
	if [ ! -d "$r" ] || [ -h "$r" ]; then fail "$r: no such release"; fi
	if [ ! -d "$r/rep_applications" ] || [ -h "$r/rep_applications" ]; then
		fail "$r/rep_applications: not a directory"
	fi
	if [ -h "$a" ]; then
		t=$(link_text "$a")
		s=${t#../../../store/}
		s=${s%/rep_applications/"$2"}
		if [ "$t" != "../../../store/$s/rep_applications/$2" ] || ! release_name "$s"; then
			fail "$a: not a link to ../../../store/RELEASE/rep_applications/$2"
		fi
		want=$root/store/$s/rep_applications/$2
	elif [ -d "$a" ]; then
		want=$root/$a
	elif [ -e "$a" ]; then
		fail "$a: neither a directory nor a symbolic link"
	else
		fail "$a: no such application in the release"
	fi
	appdir=$(cd -P -- "$a" 2>/dev/null && pwd -P) || fail "$a: cannot enter it"
	[ "$appdir" = "$want" ] || fail "$a: leads out of its place through a symbolic link (refused, not followed)"
}

# made DIR...: DIR, DIR/..., below $root, each made if missing (mkdir
# never follows a link) and checked to be there, not a link (one planted
# is refused, not followed); the hook's REP_SHARED and REP_WORK. Ends in
# $root.
made() {
	cd -P -- "$root" || fail 'cannot enter the directory again'
	p=''
	for c; do
		p=$p${p:+/}$c
		if [ -h "$c" ]; then fail "$p: a symbolic link (refused, not followed)"; fi
		if [ ! -d "$c" ]; then
			e=$(mkdir -- "$c" 2>&1) || [ -d "$c" ] || fail "$p: $(why "$e")"
		fi
		into "$c" || fail "$p: a symbolic link or moved (refused, not followed)"
	done
	cd -P -- "$root" || fail 'cannot enter the directory again'
}

# procs: every process, one a line: PID PPID PGID STATE, the state where
# ps tells it (procps, BusyBox, the BSDs: Z for a zombie, which no
# signal ends: one that init does not reap, in a container, say) and -
# where only POSIX's columns are known. BusyBox's ps lists them all
# without -A, which it may not take.
procs() {
	ps -A -o pid= -o ppid= -o pgid= -o stat= 2>/dev/null || ps -o pid= -o ppid= -o pgid= -o stat= 2>/dev/null ||
		ps -A -o pid= -o ppid= -o pgid= 2>/dev/null | awk '{ print $0 " -" }'
}

# victims WATCHDOG: the processes of the hook, which its watchdog
# (WATCHDOG) kills at its timeout. Where setsid(1) is, the hook runs in a
# session and group of its own (hookgrp); elsewhere its processes share
# the runner's process group (grp): the ssh session's, which sshd makes
# for it, or, locally, the one rep-push starts the runner in, as a POSIX
# sh without a terminal (dash) cannot give it one (set -m needs one).
# Either way the hook's are told from the others of the group by the
# snapshot the runner takes just before it starts the hook (before):
# the hook's are those that were not there then, and either are below
# the runner ($me) (its children, grandchildren, whatever their group),
# or are of the group and below none of the group that was there (what
# left the hook's tree: a daemon that double-forked, reparented to init
# or a subreaper). Never the runner or its ancestors, nor what was there
# before (the session's shells, daemons that earlier hooks started) or
# runs below one of those of the group (a daemon's own children, made
# since), nor the watchdog, the ticker or what those two run. Zombies
# are skipped: no signal ends them, and init may not reap them soon (in
# a container). Escapes this: what left both the hook's tree and its
# group (setsid, setpgid: a daemon that made a session of its own, which
# rep-push does not manage).
victims() {
	# the hook's own group, where once could give it one
	vg=$grp
	if [ -s hookgrp ]; then vg=$(cat hookgrp); fi
	case $vg in '' | *[!0-9]*) vg=$grp ;; esac
	procs | awk -v g="$vg" -v r="$me" -v w="$1" -v t="$ticker" '
	pass == 1 { old[$1] = 1; next }
	NF >= 3 { up[$1] = $2; group[$1] = $3; if (substr($4, 1, 1) == "Z") gone[$1] = 1 }
	END {
		for (p in group) {
			# the runner and its ancestors were there before
			if ((p in old) || (p in gone) || p == w || p == t)
				continue
			# 1: of the hook; -1: not; 0: below none of those
			mark = 0
			k = 0
			for (q = up[p]; (q in up) && k++ < 100000; q = up[q]) {
				if (q == w || q == t) { mark = -1; break }
				if (q == r) { mark = 1; break }
				if ((q in old) && group[q] == g) { mark = -1; break }
			}
			if (mark == 1 || (mark == 0 && group[p] == g))
				print p
		}
	}' pass=1 before pass=2 -
}

# watch: the hook's watchdog, in the background: TIMEOUT seconds after
# it starts, it marks the run timed out (the file timedout) and sends
# SIGTERM to the hook's processes, then SIGKILL to what is left of them
# 5 s later. It counts the seconds one sleep at a time, so that stopped
# early (the hook ended in time: then nothing is killed, and a daemon a
# start hook left runs on) no sleep of it outlives it by more than a
# second; and it holds none of the session's descriptors. rep-push
# killed (or its connection lost), it still does its work.
watch() {
	(
		exec </dev/null >/dev/null 2>&1 3>&-
		# shellcheck disable=SC2016 # expanded by that sh: its parent, this subshell
		w=$(exec sh -c 'echo "$PPID"')
		n=0
		while [ "$n" -lt "$limit" ]; do
			sleep 1
			n=$((n + 1))
		done
		: >timedout
		v=$(victims "$w")
		# shellcheck disable=SC2086 # pids, one a line
		if [ -n "$v" ]; then kill -s TERM $v; fi
		# a fifth of a second at a time where sleep takes tenths
		n=0
		while [ "$n" -lt 50 ]; do
			if sleep 0.2 2>/dev/null; then n=$((n + 2)); else sleep 1 && n=$((n + 10)); fi
			v=$(victims "$w")
			if [ -z "$v" ]; then exit 0; fi
		done
		# shellcheck disable=SC2086 # pids, one a line
		kill -s KILL $v
	) &
	watcher=$!
}

# once: one run of the hook, in its application's directory, its output
# to the file out, with the environment rep(7) promises it: cleared but
# for HOME LOGNAME USER LANG TZ (when set), PATH, and rep's REP_ ones;
# its arguments NAME RELEASE PREVIOUS. In the foreground: an
# asynchronous command of a shell without job control would start with
# SIGINT and SIGQUIT ignored, and so would every daemon it left. Its exit
# status.
once() {
	(
		# a session of its own where setsid(1) is (util-linux,
		# BusyBox): what the hook signals through its group (kill 0)
		# is its own, and its group (hookgrp, this pid) is what its
		# timeout kills; else it shares the runner's
		s=''
		if command -v setsid >/dev/null 2>&1; then
			s=setsid
			# shellcheck disable=SC2016 # expanded by that sh: its parent, this subshell
			(exec sh -c 'echo "$PPID"') >hookgrp || exit 126
		fi
		if ! cd -P -- "$appdir" || [ "$(pwd -P)" != "$appdir" ]; then
			echo "rep-push: $appdir: moved as the hook was started (not run)"
			exit 126
		fi
		set --
		for v in HOME LOGNAME USER LANG TZ; do
			eval "if [ -n \"\${$v+x}\" ]; then set -- \"\$@\" \"$v=\${$v}\"; fi"
		done
		exec $s env -i "$@" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			REP_PHASE="$phase" REP_APP="$app" REP_RELEASE="$hrel" REP_PREVIOUS="$hprev" \
			REP_CHECKSUM="$hsum" REP_DIR="$root" REP_SHARED="$root/shared/$app" \
			REP_WORK="$root/work/$app/$hsum" "./.rep/$phase" "$app" "$hrel" "$hprev"
	) </dev/null >out 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
}

# run_hook: in the private directory, the hook run (check: again a
# second after each failure, until it passes or TIMEOUT seconds after its
# first try), keepalives sent meanwhile; st its exit status (the last
# try's) or timeout (killed at it), tries the runs. The runner runs
# nothing else while the watchdog watches (what it ran would be taken
# for the hook's), but the sleep between tries, which the timeout ends.
run_hook() {
	# shellcheck disable=SC2016 # expanded by that sh: its parent, this shell
	me=$(exec sh -c 'echo "$PPID"')
	grp=$(procs | awk -v r="$me" '$1 == r { print $3 }')
	case $grp in '' | *[!0-9]*) fail "ps: cannot tell the runner's process group (needed to stop a hook at its timeout)" ;; esac
	tick_on
	if ! procs >before 2>/dev/null || [ ! -s before ]; then
		fail 'ps: cannot list the processes (needed to stop a hook at its timeout)'
	fi
	watch
	tries=0
	while :; do
		tries=$((tries + 1))
		st=0
		# not a word of the shell's about it (Terminated) on our stderr
		once 2>/dev/null || st=$?
		if [ -e timedout ]; then
			# a check's time ran out in a later try: it failed as
			# the try before it did, which is what it reports
			if [ "$tries" -gt 1 ] && mv -f last out 2>/dev/null; then
				st=$prev_st
			else
				st=timeout
			fi
			break
		fi
		if [ "$st" -eq 0 ] || [ "$phase" != check ]; then break; fi
		prev_st=$st
		mv -f out last || break
		# killed at the timeout too: not a word of the shell's either
		{ sleep 1; } 2>/dev/null
		if [ -e timedout ]; then
			mv -f last out
			break
		fi
	done
	# timed out: the watchdog finishes its work (SIGKILL within 5 s)
	if [ ! -e timedout ]; then kill -s KILL "$watcher" 2>/dev/null; fi
	wait "$watcher" 2>/dev/null
	tick_off
}

# report: the run's entry in hooks.log, first (rep-push may be gone,
# and the replies with it), then its records (status, tries, its
# output: at most 64 KiB, NUL bytes dropped, each line cut to 4000 bytes
# and tagged, as rep-push shows them; cut: the bytes that were not sent)
report() {
	case $st in
	0) result=0 ;;
	timeout) result=timeout ;;
	*) result="exit $st" ;;
	esac
	hooks_log
	record status "$st"
	record tries "$tries"
	head -c 65536 out | tr -d '\000' >shown
	awk -v tab="$tab" '{
		if (length($0) > 4000) { cut += length($0) - 4000; $0 = substr($0, 1, 4000) }
		print "|output" tab $0
	}
	END { print cut + 0 >"cutlines" }' shown >&3 || fail 'reading the output of the hook: awk failed'
	left=$(($(wc -c <out) - $(wc -c <shown) + $(cat cutlines)))
	if [ "$left" -gt 0 ]; then record cut "$left"; fi
}

# hooks_log: the run added to DIR/hooks.log: the line TIME PHASE NAME
# RELEASE RESULT (TAB-separated), then at most 1 MiB of its output, each
# line after "| ", control bytes other than TAB as '?'. The log is
# appended to through a hard link to it made here (ln -P; ln, which
# makes one to a link itself), only when that is a regular file, so
# never through a link; made by a link to our entry when missing; moved
# to hooks.log.1 first when beyond 8 MiB. A log that cannot be written is
# told, and the run is still the hook's: it ran.
hooks_log() {
	if ! {
		printf '%s\t%s\t%s\t%s\t%s\n' "$when" "$phase" "$app" "$hrel" "$result"
		# the set's 31 bytes each made '?'
		head -c 1048576 out | tr '\000-\010\013-\037\177' "$(printf '%31s' '' | tr ' ' '?')" |
			awk '{ print "| " $0 }'
	} >entry 2>/dev/null; then
		say 'hooks.log: cannot write the entry of this run'
		return 0
	fi
	if [ -e ../hooks.log ] || [ -h ../hooks.log ]; then
		if ! ln -P -- ../hooks.log cur 2>/dev/null && ! ln -- ../hooks.log cur 2>/dev/null; then
			say 'hooks.log: not a regular file, or cannot be linked to (this run not kept there)'
			return 0
		fi
		if ! regular cur; then
			rm -f cur
			say 'hooks.log: not a regular file (refused, not followed: this run not kept there)'
			return 0
		fi
		if [ "$(($(wc -c <cur)))" -gt 8388608 ]; then
			if e=$(rename ../hooks.log ../hooks.log.1 2>&1); then
				rm -f cur
			else
				say "hooks.log: cannot move it to hooks.log.1 (this run added all the same): $(why "$e")"
			fi
		fi
	fi
	# the links to the log go at once: remove (cleanup, tidy) gives what
	# it removes u+rwx
	if [ -e cur ]; then
		e=$({ cat entry >>cur; } 2>&1) || say "hooks.log: $(why "$e")"
		rm -f cur
	elif ! ln -- entry ../hooks.log 2>/dev/null; then
		say 'hooks.log: made by another as this run was added (this run not kept there)'
	fi
	rm -f entry
}

# hook PHASE NAME RELEASE PREVIOUS CHECKSUM TIMEOUT: the hook PHASE of
# application NAME in releases/RELEASE run, if it has one (.rep/PHASE a
# regular file, in a .rep that is no link: else a record absent, nothing
# run or made), with DIR/shared/NAME and DIR/work/NAME/CHECKSUM made if
# missing. .ok whenever it ran, whatever its status; .error when it
# could not be run. No lock taken or checked as a top-level operation:
# the local rep-push that runs it holds it.
hook() {
	[ $# -eq 6 ] || fail 'hook: PHASE NAME RELEASE PREVIOUS CHECKSUM TIMEOUT'
	phase=$1 app=$2 hrel=$3 hprev=${4#-} hsum=$5 limit=$6
	case $phase in
	configure | start | check | stop) ;;
	*) fail "hook: $phase: not a phase (configure, start, check or stop)" ;;
	esac
	app_named "$app" || fail "hook: $app: not an application name"
	named "$hrel" || fail "$hrel: not a release name"
	if [ "$4" != - ]; then named "$4" || fail "$4: not a release name"; fi
	sum_named "$hsum" || fail "hook: $hsum: not a checksum"
	case $limit in '' | 0* | *[!0-9]* | ?????????*) fail "hook: $limit: not a timeout in seconds" ;; esac
	if [ -n "$lock" ]; then mine; fi
	cd -P -- "$root" || fail 'cannot enter the directory again'
	app_dir "$hrel" "$app"
	if [ -h "$appdir/.rep" ] || [ ! -d "$appdir/.rep" ] || ! regular "$appdir/.rep/$phase"; then
		emit '|' absent
		reply ok
		return 0
	fi
	made shared "$app"
	made work "$app" "$hsum"
	own "$own"
	private=$own
	when=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	run_hook
	report
	cleanup
	reply ok
}

# pending [set RELEASE | clear]: the hooks-pending mark, DIR/hooks.pending
# (a regular file holding the release whose hooks a push was running, -
# for none: a rollback to no release, whose stop hooks were running):
# a record pending RELEASE if it is there, then set to RELEASE (written
# here and renamed over it) or removed, and then each work/NAME/CHECKSUM
# no release lists removed (work_gc). A mark that is no regular file is
# refused, never read or followed.
pending() {
	case ${1:-} in
	'') [ $# -eq 0 ] ;;
	set) [ $# -eq 2 ] && { [ "$2" = - ] || named "$2"; } ;;
	clear) [ $# -eq 1 ] ;;
	*) false ;;
	esac || fail 'pending: [set RELEASE | clear]'
	if [ -n "$lock" ]; then mine; fi
	cd -P -- "$root" || fail 'cannot enter the directory again'
	if [ -e hooks.pending ] || [ -h hooks.pending ]; then
		regular hooks.pending || fail 'hooks.pending: not a regular file (refused, not followed)'
		m=$(head -c 256 hooks.pending | tr -d '\000' | head -n 1)
		record pending "$m"
	fi
	case ${1:-} in
	set)
		own "$own"
		private=$own
		e=$({ printf '%s\n' "$2" >mark; } 2>&1) || fail "hooks.pending: $(why "$e")"
		chmod "$plain" mark || fail 'hooks.pending: cannot set its mode'
		if [ -n "$lock" ]; then mine; fi
		e=$(rename mark ../hooks.pending 2>&1) || fail "hooks.pending: $(why "$e")"
		cleanup
		;;
	clear)
		e=$(rm -f -- hooks.pending 2>&1) || fail "hooks.pending: $(why "$e")"
		work_gc
		;;
	esac
	reply ok
}

# work_gc: each work/NAME/CHECKSUM (a checksum's name, 64 hex digits)
# that no release lists (no row NAME ... CHECKSUM, removal rows aside, in
# the MANIFEST of a directory of releases/ named as a release) removed
# as remove removes (never through a link), with keepalives; then each
# work/NAME left empty. Nothing is removed when what the releases list is
# not known (a release without a MANIFEST that can be read), nor below a
# link: told.
work_gc() {
	cd -P -- "$root" || fail 'cannot enter the directory again'
	if [ ! -e work ] && [ ! -h work ]; then return 0; fi
	if [ -h work ] || [ ! -d work ]; then
		say 'work: not a directory (refused, not followed: not cleaned)'
		return 0
	fi
	set +f
	set --
	for d in releases/rep_applications_*; do
		if ! named "${d#releases/}" || [ ! -d "$d" ] || [ -h "$d" ]; then continue; fi
		if ! regular "$d/MANIFEST"; then
			say "work: not cleaned ($d/MANIFEST: no such file)"
			set -f
			return 0
		fi
		set -- "$@" "$d/MANIFEST"
	done
	keep=''
	if [ $# -gt 0 ] && ! keep=$(awk -F "$tab" '!/^#/ && NF >= 4 && $6 != "remove" { print $1 "/" $4 }' "$@"); then
		say 'work: not cleaned (the releases cannot be read)'
		set -f
		return 0
	fi
	if ! into work; then
		say 'work: moved or replaced (refused, not followed: not cleaned)'
		set -f
		return 0
	fi
	for a in *; do
		if ! app_named "$a" || [ -h "$a" ] || [ ! -d "$a" ]; then continue; fi
		if ! into "$a"; then
			cd -P -- "$root/work" || fail 'cannot enter the directory again'
			continue
		fi
		for s in *; do
			sum_named "$s" || continue
			case $nl$keep$nl in *"$nl$a/$s$nl"*) continue ;; esac
			tick_on
			e=$(remove "$s" 2>&1) || say "work/$a/$s: cannot remove all of it:$nl$(some "$e")"
			tick_off
		done
		cd -P .. || fail 'cannot enter the directory again'
		rmdir -- "$a" 2>/dev/null
	done
	set -f
	cd -P -- "$root" || fail 'cannot enter the directory again'
}

# serve: one command per line of stdin, each in a subshell (a failure
# leaves the lock held) and each answered, even one that dies; a
# command's private directory and ticker go with it, however it ends
serve() {
	set -f
	while IFS=' ' read -r cmd args; do
		# shellcheck disable=SC2086 # the arguments are words
		set -- $args
		case $cmd in
		stage | switch | prune | manifest | verify | hook | pending) ;;
		*)
			say "unknown command $cmd"
			reply error
			continue
			;;
		esac
		rc=0
		(
			trap cleanup EXIT
			trap 'exit 1' HUP INT TERM PIPE
			"$cmd" "$@"
		) || rc=$?
		case $rc in
		0 | 1) ;;
		*)
			say "$cmd stopped part-way (status $rc)"
			reply unknown
			;;
		esac
	done
}

case $op in
state)
	if [ ! -e "$dir" ] && [ ! -h "$dir" ]; then
		reply ok
		exit 0
	fi
	enter
	lock_file_ok
	if [ -e .rep-push.lock ]; then
		h=$(held)
		if stale "$h"; then record stale-holder "$h"; else record holder "$h"; fi
	fi
	listing
	reply ok
	;;
live)
	# read from releases/R, R the release current named: a release does
	# not change once made, and a push in progress only moves current;
	# its pruning may remove R while it is read, so a reading counts once
	# current still names R after it (nine tries). A DIR misspelt must
	# not pass for one with nothing live, nor a current that leads
	# elsewhere.
	if [ ! -e "$dir" ] && [ ! -h "$dir" ]; then fail 'no such directory'; fi
	enter
	releases_ok
	n=0
	while :; do
		if [ -e current ] && [ ! -h current ]; then fail 'current: exists and is not a symbolic link'; fi
		r=$(live) m='' l='' why=''
		# dangling, or leading elsewhere: what is live is not known
		if [ -z "$r" ] && [ -h current ]; then fail 'current: leads to no release of releases/'; fi
		if [ -n "$r" ]; then
			a=releases/$r/rep_applications
			f=releases/$r/MANIFEST
			if ! regular "$f"; then
				why="$f: no such file"
			elif [ "$(($(wc -c <"$f")))" -gt 16777216 ]; then
				why="$f: larger than a MANIFEST may be"
			elif ! m=$(awk -v tab="$tab" '{ print "|manifest" tab substr($0, 1, 4096) }' "$f"); then
				why="$f: cannot read it"
			elif [ -h "$a" ]; then
				why="$a: a symbolic link (refused, not followed)"
			elif [ ! -e "$a" ]; then
				# a release without applications may have none
				if awk '!/^#/ && NF { f = 1 } END { exit !f }' "$f"; then why="$a: no such directory"; fi
			elif [ ! -r "$a" ] || [ ! -x "$a" ]; then
				why="$a: Permission denied"
			else
				# each L line's NAME with the T line of the same
				# rank; a link text with a newline breaks the count
				l=$(find "$a/." ! -name . -prune -type l ! -name "*$nl*" ! -name "*$tab*" \
					-exec sh -c "$links" sh {} + |
					awk -v tab="$tab" '
					/^L / { q[++k] = substr($0, 3); next }
					/^T / { p = q[++j]; sub(/.*\//, "", p); print "|link" tab p tab substr($0, 3) }
					END { exit k != j }') || why="$a: a link that cannot be read as one line"
			fi
		fi
		n=$((n + 1))
		if [ "$(live)" = "$r" ]; then break; fi
		if [ "$n" -ge 9 ]; then fail "current: switched $n times while it was read; try again"; fi
	done
	if [ -n "$why" ]; then fail "$why"; fi
	record current "$r"
	if [ -n "$m" ]; then printf '%s\n' "$m" >&3; fi
	if [ -n "$l" ]; then printf '%s\n' "$l" >&3; fi
	reply ok
	;;
lock)
	pace "${4:-}"
	if [ ! -e "$dir" ] && [ ! -h "$dir" ] && [ "$3" != make ]; then
		# nothing there to lock or roll back; nor a mark of hooks
		# pending to read or clear
		reply ok
		while read -r cmd; do
			case $cmd in
			pending | 'pending clear') reply ok ;;
			*)
				say "no such directory (for $cmd)"
				reply error
				;;
			esac
		done
		exit 0
	fi
	if [ ! -e "$dir" ] && [ ! -h "$dir" ]; then makedir; fi
	enter
	releases_ok
	if [ ! -e releases ] && [ "$3" = make ]; then
		e=$(mkdir releases 2>&1) || [ -d releases ] || fail "releases: $(why "$e")"
	fi
	trap drop EXIT
	trap 'exit 1' HUP INT TERM PIPE
	take_lock "$1" "$2"
	tidy
	listing
	reply ok
	serve
	;;
hook)
	# no lock taken: the local rep-push that runs it holds it (so the
	# lock's checks, mine, are skipped); IDLE: rep-push's --timeout
	if [ $# -eq 7 ]; then
		pace "$7"
		set -- "$1" "$2" "$3" "$4" "$5" "$6"
	fi
	enter
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM PIPE
	hook "$@"
	;;
pending)
	# likewise; a last argument of digits is IDLE
	n=$# i=0
	for a; do
		i=$((i + 1))
		case $i:$a in
		"$n":*[!0-9]* | "$n":) set -- "$@" "$a" ;;
		"$n":*) pace "$a" ;;
		*) set -- "$@" "$a" ;;
		esac
	done
	shift "$n"
	enter
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM PIPE
	pending "$@"
	;;
*) fail "unknown operation $op" ;;
esac
