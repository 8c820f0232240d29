#!/usr/bin/env bats
# The completions offer what a target of rep-push can be: a local
# directory, or HOST: for an ssh target, HOST from ssh's own sources
# (~/.ssh/config's Host lines, known_hosts), as ssh's completion does.
# shellcheck disable=SC2154 # output, stderr, status: set by run

load helper

bats_require_minimum_version 1.5.0

TOP=$BATS_TEST_DIRNAME/..

setup() {
	rep_setup
	rmdir rep_applications
	# HOME outside the directory completed in
	mkdir -p home/.ssh w/targetdir
	printf 'Host web1 web2\n  User deploy\nHost *.example\n' >home/.ssh/config
	printf 'db1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEx\n' >home/.ssh/known_hosts
	: >hosts
	cd w || return
}

# bash_complete LINE: what bash offers for the end of LINE, the words
# split as bash splits them (a colon is a word of its own, COMP_WORDBREAKS),
# one a line; then "nospace" if compopt -o nospace was called
bash_complete() {
	[ -f /usr/share/bash-completion/bash_completion ] || skip 'bash-completion not installed'
	run bash -c '
		HOME=$PWD/../home
		HOSTFILE=$PWD/../hosts # not /etc/hosts: the machine'"'"'s own names
		source /usr/share/bash-completion/bash_completion
		source "$1/completions/rep.bash"
		nospace=
		compopt() { [[ " $* " != *" -o nospace "* ]] || nospace=nospace; } # only callable in a real completion
		COMP_LINE=$2 COMP_POINT=${#2}
		read -ra COMP_WORDS <<<"${2//:/ : }"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_rep_complete rep-push
		printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort
		[ -z "$nospace" ] || echo "$nospace"' bash_complete "$TOP" "$1"
}

# fish_complete LINE: what fish offers for the line's last word
fish_complete() {
	command -v fish >/dev/null || skip 'fish not installed'
	# shellcheck disable=SC2016 # fish's own variables
	run env HOME="$PWD/../home" fish -N -c 'source $argv[1]/completions/rep.fish; complete -C $argv[2] | sort' \
		"$TOP" "$1"
}

@test "bash: rep-push offers HOST: from ~/.ssh/config and known_hosts, and local directories" {
	bash_complete 'rep-push '
	assert_success
	assert_output "$(lines db1: targetdir web1: web2: nospace)"
	bash_complete 'rep-push we'
	assert_output "$(lines web1: web2: nospace)"
	bash_complete 'rep-push deploy@w'
	assert_output "$(lines deploy@web1: deploy@web2: nospace)"
	bash_complete 'rep-push t'
	assert_output targetdir
	# the far side's directory is not looked up (that would log in), nor
	# taken for a local one
	local line
	for line in 'rep-push web1:' 'rep-push web1:t' 'rep-push web1:/t' 'rep-push deploy@web1:t' \
		'rep-push -j 2 web1:t'; do
		bash_complete "$line"
		assert_success
		assert_output ''
	done
	# -T takes a file, not a host
	bash_complete 'rep-push -T '
	refute_output --partial web1:
	assert_line targetdir
}

@test "fish: rep-push offers HOST: from ~/.ssh/config and local directories, nothing after the colon" {
	fish_complete 'rep-push we'
	assert_success
	assert_output "$(lines "web1:${TAB}ssh host" "web2:${TAB}ssh host")"
	fish_complete 'rep-push t'
	assert_output "targetdir/${TAB}Directory"
	fish_complete 'rep-push web1:'
	assert_success
	assert_output ''
}

@test "zsh: the completion file parses; rep-push's targets: directories and HOST: (hosts with a ':' suffix), only the far side's message after a colon" {
	command -v zsh >/dev/null || skip 'zsh not installed'
	run zsh -n "$TOP/completions/_rep"
	assert_success
	assert_output ''
	run grep -c "'\*:target:_rep_targets'" "$TOP/completions/_rep"
	assert_output 1
	# _rep_targets on its own, the completion system's functions stood
	# in for by ones that say how they were called (compset -P as zsh
	# does it: the prefix up to the colon moved out of PREFIX)
	cat >targets.zsh <<-'EOF'
		eval "$(sed -n '/^_rep_targets() {/,/^}/p' "$1")"
		compset() { [[ $1 == -P && $3 == '*:' && $PREFIX == *:* ]] && { PREFIX=${PREFIX#*:}; return 0 }; return 1 }
		_message() { print -r -- "message $*" }
		_alternative() { print -r -- "alternative ${(j:|:)@}" }
		for PREFIX in '' we web1: deploy@web1:/srv; do
			print -r -- "$PREFIX: $(_rep_targets)"
		done
	EOF
	run zsh -f targets.zsh "$TOP/completions/_rep"
	assert_success
	assert_output "$(lines \
		": alternative directories:target directory:_directories|hosts:ssh host:_hosts -qS:" \
		"we: alternative directories:target directory:_directories|hosts:ssh host:_hosts -qS:" \
		"web1:: message -e directories directory on the target" \
		"deploy@web1:/srv: message -e directories directory on the target")"
}
