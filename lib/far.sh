# The far side of an ssh target: what rep-push runs on the host, as
# `sh -c SCRIPT rep-push OP DIR ARGS...` (lib/ssh.c; the Makefile makes
# this file a C string). A POSIX sh and standard tools, nothing of rep.
#
#   state DIR                 lists the target (rep-push -n)
#   lock DIR WHO TIME [make]  takes the lock (make: DIR and releases/ made
#                             if missing), lists the target, then runs one
#                             command per line of stdin until EOF, when it
#                             drops the lock:
#     stage RELEASE SHA256 SIZE MANIFEST_SHA256 FILES, then SIZE bytes
#     switch TO WAS           (- for none)
#     prune NAME...
#     manifest NAME
#
# Replies go to fd 3, the session's stdout; what the tools print goes to
# stderr. Every line of a reply begins with a tag:
#   '|' TEXT  a line of data: a record of the listing, a MANIFEST's line
#   '!' TEXT  a line of a message (an error; before .ok, a warning)
#   '+'       a keepalive between the long steps of a staging
#   '.' WORD  the end: .ok; .error (not done, nothing changed); .busy (the
#             lock is held: a holder record); .unknown (stopped part-way:
#             a switch may have moved current)
# Text read from the target (names, files, a lock, error messages) goes
# out only through emit, which tags every line of it, and a record is
# one line, so nothing read there can pass for protocol.
set -u
LC_ALL=C
export LC_ALL
exec 3>&1 1>&2
op=$1 dir=$2
shift 2
tab=$(printf '\t')
nl='
'
# our private names: the lock being taken, the session's own directory
# (the uploaded archive, the next current), the staging
w=.rep-push.lock.$$ own=.rep-push-$$ t=releases/.rep-push-$$
lock=
inside='(refused: rep-push writes only inside the target)'

emit() { printf '%s\n' "$2" | awk -v tag="$1" '{ print tag $0 }' >&3; }
say() { emit '!' "$*"; }
reply() { printf '.%s\n' "$1" >&3; }
tick() { printf '+\n' >&3; }
fail() {
	say "$@"
	reply error
	exit 1
}
# record KIND VALUE: a line of data; a VALUE of several lines is sent
# empty, so that none of its lines can pass for a record of its own
record() {
	case $2 in *"$nl"*) set -- "$1" '' ;; esac
	emit '|' "$1$tab$2"
}
first() { printf '%s\n' "$1" | head -n 1; }
# some TEXT: its first lines, and how many more there were
some() { printf '%s\n' "$1" | awk 'NR <= 3; END { if (NR > 3) print "(" NR - 3 " more lines)" }'; }
why() {
	e=$(first "$1")
	printf '%s' "${e##*: }"
}

# remove PATH: a file, or a tree at any depth whatever the modes a failed
# unpack left in it (0555, 0000); a link is removed, never followed
remove() {
	if [ -d "$1" ] && [ ! -h "$1" ]; then chmod -R u+rwx -- "$1" 2>/dev/null; fi
	rm -rf -- "$1"
}

# own NAME: a directory of our own at NAME; mkdir never follows a link,
# and one planted there is refused, not removed
own() {
	if [ -h "$1" ]; then fail "$1: a symbolic link (refused, not followed)"; fi
	remove "$1"
	e=$(mkdir -m 700 "$1" 2>&1) || fail "$1: $(why "$e")"
}

absent() {
	if [ -e "$1" ] || [ -h "$1" ]; then fail "$1: already exists"; fi
}

alive() { kill -0 "$1" 2>/dev/null || ps -p "$1" >/dev/null 2>&1 || [ -d "/proc/$1" ]; }

# The lock is a file in DIR, never a link: ln and mv would act where a
# link points.
lock_file_ok() {
	if [ -h .rep-push.lock ] || { [ -e .rep-push.lock ] && [ ! -f .rep-push.lock ]; }; then
		fail '.rep-push.lock: not a regular file (refused, not followed)'
	fi
}
held() { cat .rep-push.lock 2>/dev/null; }
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
	cd -- "$dir" 2>/dev/null || fail 'Permission denied'
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

# live: the release current points to, if it is one: a name in releases/
live() {
	[ -h current ] || return 0
	p=$(cd -P current 2>/dev/null && pwd -P) || return 0
	r=$(cd -P releases 2>/dev/null && pwd -P) || return 0
	if [ "${p%/*}" = "$r" ] && named "${p##*/}"; then printf '%s' "${p##*/}"; fi
}

# releases/ is never a link: what a push writes and prunes stays in DIR
releases_ok() {
	if [ -h releases ]; then fail "releases: a symbolic link $inside"; fi
	if [ -e releases ] && [ ! -d releases ]; then fail "releases: not a directory $inside"; fi
}

# listing: what is wrong with current or releases/, or the live release
# and every release with its MANIFEST's SHA-256
listing() {
	if [ -e current ] && [ ! -h current ]; then fail 'current: exists and is not a symbolic link'; fi
	releases_ok
	record current "$(live)"
	if [ ! -d releases ]; then return 0; fi
	if [ ! -r releases ] || [ ! -x releases ]; then fail 'releases: Permission denied'; fi
	for d in releases/rep_applications_*; do
		if ! named "${d#releases/}" || [ ! -d "$d" ] || [ -h "$d" ]; then continue; fi
		s=-
		if [ -f "$d/MANIFEST" ] && [ ! -h "$d/MANIFEST" ]; then
			s=$(sha256sum <"$d/MANIFEST") || s=-
			s=${s%% *}
		fi
		record release "${d#releases/}$tab$s"
	done
}

# take_lock WHO TIME: the lock line appears whole or not at all: written
# in a directory of our own, then linked to .rep-push.lock, which fails
# if that exists. A lock whose holder died on this host is moved aside,
# checked to be the one judged dead, and removed.
take_lock() {
	lock=$(uname -n)$tab$$$tab$1$tab$2
	own "$w"
	e=$({ printf '%s\n' "$lock" >"$w/line"; } 2>&1) || fail ".rep-push.lock: $(why "$e")"
	lock_file_ok
	if ! ln "$w/line" .rep-push.lock 2>/dev/null; then
		lock_file_ok
		break_stale
		lock_file_ok
		if ! ln "$w/line" .rep-push.lock 2>/dev/null; then
			record holder "$(held)"
			reply busy
			exit 0
		fi
	fi
	remove "$w"
}

break_stale() {
	h=$(held)
	stale "$h" || return 0
	mv -f .rep-push.lock "$w/stale" 2>/dev/null || return 0
	if [ "$(cat "$w/stale")" = "$h" ]; then
		record stale "$h"
	else
		ln "$w/stale" .rep-push.lock 2>/dev/null
	fi
	rm -f "$w/stale"
}

# drop: on the way out, the lock if it is still ours, and our temporaries
# (a staging killed by a signal could not remove its own)
drop() {
	if [ -n "$lock" ] && [ ! -h .rep-push.lock ] && [ "$(held)" = "$lock" ]; then rm -f .rep-push.lock; fi
	remove "$t"
	remove "$own"
	remove "$w"
}

# tidy: what killed pushes left (only under the lock: a running push's
# files look the same). One that cannot be removed is told, and the push
# goes on: it must not lock the target out for good.
tidy() {
	for d in .rep-push-* releases/.rep-push-*; do
		if [ -e "$d" ] || [ -h "$d" ]; then
			e=$(remove "$d" 2>&1) || say "$d: cannot remove what a failed push left: $(why "$e")"
		fi
	done
	for d in .rep-push.lock.*; do
		p=${d#.rep-push.lock.}
		case $p in '' | *[!0-9]*) continue ;; esac
		if ! alive "$p"; then remove "$d"; fi
	done
}

stage() {
	stem=$1 sha=$2 size=$3 msha=$4 nfiles=$5
	named "$stem" || fail "$stem: not a release name"
	a=$own/archive
	trap 'remove "$t"; rm -f "$a"' EXIT
	s=$(head -c "$size" | tee "$a" | sha256sum) || fail 'sha256sum failed'
	s=${s%% *}
	n=$(wc -c <"$a") || fail 'cannot read the uploaded archive'
	[ "$((n))" -eq "$size" ] || fail "the archive arrived incomplete ($((n)) of $size bytes)"
	[ "$s" = "$sha" ] || fail "the archive arrived damaged (SHA-256 $s, sent $sha)"
	tick
	mine
	absent "releases/$stem"
	own "$t"
	chmod 755 "$t"
	e=$( (cd "$t" && exec tar -xpzf - --no-same-owner) <"$a" 2>&1) || fail "unpacking: $(first "$e")"
	rm -f "$a"
	tick
	s=$(sha256sum <"$t/MANIFEST") || fail 'no MANIFEST after unpacking'
	[ "${s%% *}" = "$msha" ] || fail 'MANIFEST differs after unpacking'
	# shellcheck disable=SC2013 # application names are words
	for name in $(awk -F "$tab" '$1 != "" && substr($1, 1, 1) != "#" { print $1 }' "$t/MANIFEST"); do
		[ -d "$t/rep_applications/$name" ] || fail "$name: missing after unpacking"
	done
	n=$(find "$t/rep_applications" '(' -type f -o -type l ')' -exec printf '%.0sx\n' {} + | wc -l)
	[ "$((n))" -eq "$nfiles" ] || fail "$((n)) files and symlinks after unpacking, $nfiles in the manifest"
	tick
	mine
	absent "releases/$stem"
	e=$(mv -- "$t" "releases/$stem" 2>&1) || fail "releases/$stem: $(why "$e")"
	trap - EXIT
	reply ok
}

# switch TO WAS: current replaced by a new link, made in our own
# directory and renamed over it (mv -T, or BSD's mv -h: a plain mv would
# move it into the directory current points to)
switch() {
	to=${1#-} expect=${2#-}
	mine
	if [ -e current ] && [ ! -h current ]; then fail 'current: exists and is not a symbolic link'; fi
	now=$(live)
	[ "$now" = "$expect" ] || fail "current changed during the push (now '$now')"
	if [ -z "$to" ]; then
		e=$(rm -f current 2>&1) || fail "current: $(why "$e")"
	else
		if [ ! -d "releases/$to" ] || [ -h "releases/$to" ]; then fail "releases/$to: no such release"; fi
		next=$own/current
		rm -f "$next"
		e=$(ln -s "releases/$to" "$next" 2>&1) || fail "$(why "$e")"
		if ! e=$(mv -T "$next" current 2>&1) && ! mv -h "$next" current 2>/dev/null; then
			rm -f "$next"
			fail "current: $(why "$e")"
		fi
	fi
	if [ "$(live)" != "$to" ]; then
		say "current does not point to releases/$to after the switch"
		reply unknown
		exit 1
	fi
	reply ok
}

prune() {
	mine
	for n in "$@"; do
		named "$n" || fail "$n: not a release name"
		e=$(remove "releases/$n" 2>&1) || fail "releases/$n: cannot remove it:$nl$(some "$e")"
		tick
	done
	reply ok
}

manifest() {
	named "$1" || fail "$1: not a release name"
	m=releases/$1/MANIFEST
	if [ ! -f "$m" ] || [ -h "$m" ]; then fail "$m: no such file"; fi
	awk '{ print "|" $0 }' "$m" >&3 || fail "$m: cannot read"
	reply ok
}

# serve: one command per line of stdin, each in a subshell (a failure
# leaves the lock held) and each answered, even one that dies
serve() {
	set -f
	while IFS=' ' read -r cmd args; do
		# shellcheck disable=SC2086 # the arguments are words
		set -- $args
		case $cmd in
		stage | switch | prune | manifest) ;;
		*)
			say "unknown command $cmd"
			reply error
			continue
			;;
		esac
		rc=0
		("$cmd" "$@") || rc=$?
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
lock)
	if [ ! -e "$dir" ] && [ ! -h "$dir" ] && [ "$3" != make ]; then
		# nothing there to lock or roll back
		reply ok
		while read -r cmd; do
			say "no such directory (for $cmd)"
			reply error
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
	own "$own"
	listing
	reply ok
	serve
	;;
*) fail "unknown operation $op" ;;
esac
