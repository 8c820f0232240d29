# The far side of an ssh target: what rep-push runs on the host, as
# `sh -c SCRIPT rep-push OP DIR ARGS...` (lib/ssh.c; the Makefile makes
# this file a C string). A POSIX sh and standard tools, nothing of rep.
#
#   state DIR                 lists the target (rep-push -n)
#   lock DIR WHO TIME [make] [IDLE]
#                             takes the lock (make: DIR and releases/ made
#                             if missing), lists the target, then runs one
#                             command per line of stdin until EOF, when it
#                             drops the lock; IDLE: rep-push's --timeout
#     stage RELEASE SHA256 SIZE MANIFEST_SHA256 FILES, then SIZE bytes
#     switch TO WAS           (- for none)
#     prune NAME...
#     manifest NAME
#     verify NAME [MANIFEST_SHA256]
#                             releases/NAME checked where it is, as a
#                             staging checks what it unpacked (modes
#                             refused, not forced), and its MANIFEST's
#                             SHA-256 if given: before a rollback
#                             switches to it
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
# our private names: the lock being taken, a switch's directory (the next
# current) and, in releases/, a staging's (the uploaded archive, the
# unpacked tree); a release being pruned is releases/.rep-push-PID-NAME.
# The next push removes what a killed one left (tidy).
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
first() { printf '%s\n' "$1" | head -n 1; }
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
		if regular "$d/MANIFEST"; then
			s=$(sha256sum <"$d/MANIFEST") || s=-
			s=${s%% *}
		fi
		record release "${d#releases/}$tab$s"
	done
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
		if ! ln -n line "$root/.rep-push.lock" 2>/dev/null; then
			record holder "$(held)"
			reply busy
			exit 0
		fi
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
# (check_release refuses it).
# shellcheck disable=SC2016 # expanded by that sh
links='printf "L %s\n" "$@"
if t=$(readlink -- "$@" 2>/dev/null) && [ $(($(printf "%s\n" "$t" | wc -l))) -eq $# ]; then
	printf "%s\n" "$t"
else
	for p; do
		readlink -- "$p" 2>/dev/null || { u=$(ls -ld -- "$p") && printf "%s\n" "${u#*" $p -> "}"; }
	done
fi | sed "s/^/T /"'
# shellcheck disable=SC2016 # expanded by that sh
xsums='sha256sum "$@" | sed "s/^/X/"'

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
#    (version 2; version 1: at most 2 x FILES + 256) and the checksum of
#    rep(7), computed from the tree, those of the MANIFEST.
# One find for the whole tree: it tags each entry by kind, hashes the
# regular files with sha256sum and reads the links' targets, a process a
# batch of entries (not one an entry; but one a link where readlink takes
# only one); awk sorts that out per application. Each link's target goes
# to a file of its own, l/N, so that one sha256sum hashes them all; each
# application's checksum lines to c/NAME, hashed the same way. Names
# with a backslash come out of GNU sha256sum escaped, a line beginning
# with \; BusyBox's are as they are. No parentheses in the find
# expressions: BusyBox's find (1.35) never runs an -exec {} + batch made
# inside them. total: the files and symbolic links.
check_release() {
	tree=$1 where=$2
	e=$(mkdir l c 2>&1) || fail "checking: $(why "$e")"
	find "$tree" -name '*[[:cntrl:]]*' -prune -exec printf 'C %s\n' {} + -o \
		-type d ! -perm 755 ! -perm 2755 -exec printf 'N %s\n' {} + -o \
		-type d -exec printf 'D %s\n' {} + -o \
		-type l -exec sh -c "$links" sh {} + -o \
		-type f -links "$3" -exec printf 'H %s\n' {} + -o \
		-type f ! -perm 755 ! -perm 644 -exec printf 'M %s\n' {} + -o \
		-type f -perm 755 -exec sh -c "$xsums" sh {} + -o \
		-type f -exec sha256sum {} + -o \
		-exec printf 'O %s\n' {} + >walk 2>walk.err
	found=$?
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
			bad("sha256sum: unexpected output " where)
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
		    (v == 2 && (!count(f[5]) || (f[6] != "add" && f[6] != "remove") || (f[7] != "-" && !count(f[7]))))) {
			bad("MANIFEST: line " FNR ": not a manifest record")
			stop = 1
			exit
		}
		if (f[1] in state) { bad("MANIFEST: " f[1] " listed twice"); stop = 1; exit }
		state[f[1]] = v == 2 ? f[6] : "add"
		if (state[f[1]] == "add") {
			order[++napps] = f[1]
			want[f[1]] = f[2] "\t" f[4] "\t" (v == 2 ? f[5] : -1)
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
	}' pass=1 "$tree/MANIFEST" pass=2 walk >errs || fail "checking the release $where: awk failed"
	if [ -s errs ]; then fail "$(some "$(sort errs)")"; fi
	[ "$found" -eq 0 ] || fail "checking the release $where: $(first "$(cat walk.err)")"
	: >>ents
	: >>rows
	if [ -s lidx ]; then
		find l -type f -exec sha256sum {} + >lsums || fail "checking the release $where: sha256sum failed"
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
	find c -type f -exec sha256sum {} + >csums || fail "checking the release $where: sha256sum failed"
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

# stage: uploaded, checked and unpacked in a staging directory of ours in
# releases/, then moved to its name beside it (.. of where we are: the
# releases/ that holds the staging directory, whatever is at that name now)
stage() {
	stem=$1 sha=$2 size=$3 msha=$4 nfiles=$5
	named "$stem" || fail "$stem: not a release name"
	in_releases
	own "$own" "releases/$own"
	private=$own
	s=$(head -c "$size" | tee archive | sha256sum) || fail 'sha256sum failed'
	s=${s%% *}
	n=$(wc -c <archive) || fail 'cannot read the uploaded archive'
	[ "$((n))" -eq "$size" ] || fail "the archive arrived incomplete ($((n)) of $size bytes)"
	[ "$s" = "$sha" ] || fail "the archive arrived damaged (SHA-256 $s, sent $sha)"
	tick
	mine
	absent "../$stem" "releases/$stem"
	tick_on
	e=$(mkdir -m 755 tree 2>&1) || fail "unpacking: $(why "$e")"
	e=$( (cd -P tree && exec tar -xpzf - --no-same-owner) <archive 2>&1) || fail "unpacking: $(first "$e")"
	rm -f archive
	tick
	force_modes tree
	regular tree/MANIFEST || fail 'no MANIFEST after unpacking'
	chmod "$plain" tree/MANIFEST || fail 'MANIFEST: cannot set its mode after unpacking'
	s=$(sha256sum <tree/MANIFEST) || fail 'no MANIFEST after unpacking'
	[ "${s%% *}" = "$msha" ] || fail 'MANIFEST differs after unpacking'
	check_release tree 'after unpacking' +1
	[ "$total" -eq "$nfiles" ] || fail "$total files and symlinks after unpacking, $nfiles in the manifest"
	tick
	mine
	absent "../$stem" "releases/$stem"
	e=$(rename tree "../$stem" 2>&1) || fail "releases/$stem: $(why "$e")"
	cleanup
	reply ok
}

# switch TO WAS: current replaced by a new link, made in a directory of
# ours and renamed over it
switch() {
	to=${1#-} expect=${2#-}
	mine
	if [ -e "$root/current" ] && [ ! -h "$root/current" ]; then fail 'current: exists and is not a symbolic link'; fi
	now=$(live)
	[ "$now" = "$expect" ] || fail "current changed during the push (now '$now')"
	if [ -z "$to" ]; then
		e=$(rm -f -- "$root/current" 2>&1) || fail "current: $(why "$e")"
	else
		if [ ! -d "$root/releases/$to" ] || [ -h "$root/releases/$to" ]; then fail "releases/$to: no such release"; fi
		own "$own"
		private=$own
		e=$(ln -s "releases/$to" next 2>&1) || fail "$(why "$e")"
		e=$(rename next "$root/current" 2>&1) || fail "current: $(why "$e")"
		cleanup
	fi
	if [ "$(live)" != "$to" ]; then
		say "current does not point to releases/$to after the switch"
		reply unknown
		exit 1
	fi
	reply ok
}

# prune NAME...: each release first renamed out of a rollback's reach (it
# must never switch to a release half removed), to a name tidy removes at
# the next lock if need be, then removed. One that cannot be removed does
# not stop the others: each failure is told; .ok when every rename worked
# (a release renamed is gone for rollback), .error when one did not. A
# record `gone NAME` for each release that is out of releases/NAME.
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
	reply "$word"
}

manifest() {
	named "$1" || fail "$1: not a release name"
	m=releases/$1/MANIFEST
	regular "$root/$m" || fail "$m: no such file"
	awk '{ print "|" $0 }' "$root/$m" >&3 || fail "$m: cannot read"
	reply ok
}

# verify NAME [MANIFEST_SHA256]: releases/NAME checked where it is, from
# a directory of ours beside it (for the temporaries)
verify() {
	mine
	named "$1" || fail "$1: not a release name"
	in_releases
	if [ ! -d "$1" ] || [ -h "$1" ]; then fail "releases/$1: no such release"; fi
	own "$own" "releases/$own"
	private=$own
	regular "../$1/MANIFEST" || fail "releases/$1/MANIFEST: no such file"
	if [ -n "${2:-}" ]; then
		s=$(sha256sum <"../$1/MANIFEST") || fail "releases/$1/MANIFEST: cannot read"
		[ "${s%% *}" = "$2" ] || fail "releases/$1/MANIFEST: SHA-256 ${s%% *}, not $2"
	fi
	tick_on
	# another owner could change the release, through a hard link to a
	# file of theirs put in its place, say
	e=$(find "../$1" ! -user "$(id -u)" -print 2>&1 | head -n 1)
	if [ -n "$e" ]; then fail "releases/${e#../}: not owned by the login that pushes"; fi
	check_release "../$1" "in releases/$1" 0
	cleanup
	reply ok
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
		stage | switch | prune | manifest | verify) ;;
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
lock)
	pace "${4:-}"
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
	listing
	reply ok
	serve
	;;
*) fail "unknown operation $op" ;;
esac
