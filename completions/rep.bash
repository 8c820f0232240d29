# bash completion for the rep tools: rep-register, rep-diff, rep-setstatus,
# rep-ls, rep-tar, rep-push (see rep(7)).  Needs bash-completion 2.
# bash-completion loads a file by the name of the command, so make install
# puts this file in $(datadir)/bash-completion/completions/rep with a
# symlink to it under each tool's name; or source it from ~/.bashrc.
#
# To add a tool: list its options in _rep_opts and _rep_argopts, complete
# its option arguments in _rep_optarg and its operands in _rep_complete, and
# add it to the complete line at the end.

_rep_statuses='registered ready pending_deployment deployed failed retired'

# _rep_opts CMD: every option of CMD
_rep_opts()
{
    local opts='-C -h --help -V --version'
    [[ $1 == rep-push ]] || opts+=' --db --apps'
    case $1 in
        rep-register)
            opts+=' -a --all -H --header -n --dry-run -q --quiet' ;;
        rep-diff)
            opts+=' -q --quiet -H --header --rehash --live' ;;
        rep-setstatus)
            opts+=' -H --header -n --dry-run -q --quiet -f --from'
            opts+=' -m --note -M --note-from-input --record' ;;
        rep-ls)
            opts+=' -H --header -s --status -o --output --history' ;;
        rep-tar)
            opts+=' -q --quiet -d --dist -l --level -j --threads -t --test' ;;
        rep-push)
            opts+=' -n --dry-run -q --quiet -j --jobs -k --keep --replace'
            opts+=' --rollback --timeout --status -H --header'
            opts+=' --no-hooks --hook-timeout -T --targets' ;;
    esac
    printf '%s\n' "$opts"
}

# _rep_argopts CMD: the options of CMD that take an argument
_rep_argopts()
{
    local opts='-C'
    [[ $1 == rep-push ]] || opts+=' --db --apps'
    case $1 in
        rep-setstatus) opts+=' -f --from -m --note' ;;
        rep-ls) opts+=' -s --status -o --output' ;;
        rep-tar) opts+=' -d --dist -l --level -j --threads -t --test' ;;
        rep-push) opts+=' -j --jobs -k --keep --timeout --hook-timeout -T --targets' ;;
    esac
    printf '%s\n' "$opts"
}

# _rep_untilde WORD: WORD with a leading ~ or ~/ expanded, as the shell will
_rep_untilde()
{
    case $1 in
        \~) printf '%s\n' "$HOME" ;;
        \~/*) printf '%s\n' "$HOME/${1#\~/}" ;;
        *) printf '%s\n' "$1" ;;
    esac
}

# _rep_seen OPTION VALUE: note an option that precedes the current word
_rep_seen()
{
    case $1 in
        -C | --db | --apps) where+=("$1" "$(_rep_untilde "$2")") ;;
        -a | --all) [[ $cmd == rep-register ]] && all=1 ;;
        --history) history=1 ;;
        -t | --test) [[ $cmd == rep-tar ]] && tartest=1 ;;
        --record) [[ $cmd == rep-setstatus ]] && record=1 ;;
    esac
}

# _rep_parse: read words[1..cword-1] of $cmd into the caller's nargs (number
# of operands), ddash (-- seen), pending (option whose argument is the
# current word), where (-C, --db and --apps as given), all, history,
# tartest (rep-tar -t) and record (rep-setstatus --record)
_rep_parse()
{
    local argopts i j w o
    argopts=" $(_rep_argopts "$cmd") "
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ $ddash ]]; then
            nargs=$((nargs + 1))
            continue
        fi
        case $w in
            --) ddash=1 ;;
            --*=*) _rep_seen "${w%%=*}" "${w#*=}" ;;
            --?*)
                if [[ $argopts != *" $w "* ]]; then
                    _rep_seen "$w" ''
                elif ((i + 1 < cword)); then
                    i=$((i + 1))
                    _rep_seen "$w" "${words[i]}"
                else
                    pending=$w
                fi
                ;;
            -?*)
                for ((j = 1; j < ${#w}; j++)); do
                    o=-${w:j:1}
                    if [[ $argopts != *" $o "* ]]; then
                        _rep_seen "$o" ''
                        continue
                    fi
                    if ((j + 1 < ${#w})); then
                        _rep_seen "$o" "${w:j+1}"
                    elif ((i + 1 < cword)); then
                        i=$((i + 1))
                        _rep_seen "$o" "${words[i]}"
                    else
                        pending=$o
                    fi
                    break
                done
                ;;
            *) nargs=$((nargs + 1)) ;;
        esac
    done
}

# _rep_words LIST: the words of LIST that start with $cur
_rep_words()
{
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

# _rep_fields: a comma-separated list of record fields for rep-ls -o
_rep_fields()
{
    local fields='name status files bytes checksum registered updated'
    fields+=' live release targets'
    local head=''
    [[ $history ]] && fields='name time from to user note'
    [[ $cur == *,* ]] && head=${cur%,*},
    mapfile -t COMPREPLY < <(compgen -P "$head" -W "$fields" -- "${cur##*,}")
    compopt -o nospace
}

# _rep_names: the registered applications, from the database the command
# line names so far
_rep_names()
{
    _rep_words "$(rep-ls "${where[@]}" -o name 2>/dev/null)"
}

# _rep_appdirs: the sub-directories of the applications directory the
# command line names so far
_rep_appdirs()
{
    local dir=${REP_APPS:-rep_applications} chdir='' d i
    local -a dirs=()
    for ((i = 0; i + 1 < ${#where[@]}; i += 2)); do
        case ${where[i]} in
            -C)
                if [[ ${where[i + 1]} == /* ]]; then
                    chdir=${where[i + 1]}
                else
                    chdir=${chdir:+$chdir/}${where[i + 1]}
                fi
                ;;
            --apps) dir=${where[i + 1]} ;;
        esac
    done
    [[ $dir != /* && $chdir ]] && dir=$chdir/$dir
    for d in "$dir"/*; do
        [[ -d $d && ! -L $d && ${d##*/} != [.-]* ]] && dirs+=("${d##*/}")
    done
    _rep_words "${dirs[*]}"
}

# _rep_appnames: the registered applications and the sub-directories of
# the applications directory, each once (rep-diff takes either)
_rep_appnames()
{
    local -a names
    _rep_names
    names=("${COMPREPLY[@]}")
    _rep_appdirs
    names+=("${COMPREPLY[@]}")
    COMPREPLY=()
    ((${#names[@]})) || return
    mapfile -t COMPREPLY < <(printf '%s\n' "${names[@]}" | LC_ALL=C sort -u)
}

# _rep_optarg: complete the argument of option $pending
_rep_optarg()
{
    case $cmd:$pending in
        *:-C | *:--apps) _filedir -d ;;
        *:--db) _filedir ;;
        rep-setstatus:-f | rep-setstatus:--from | rep-ls:-s | rep-ls:--status)
            _rep_words "$_rep_statuses" ;;
        rep-ls:-o | rep-ls:--output) _rep_fields ;;
        rep-tar:-d | rep-tar:--dist) _filedir -d ;;
        rep-tar:-t | rep-tar:--test) _filedir tar.gz ;;
        rep-tar:-l | rep-tar:--level) _rep_words '1 2 3 4 5 6 7 8 9' ;;
        rep-tar:-j | rep-tar:--threads)
            _rep_words '1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16' ;;
        rep-push:-j | rep-push:--jobs) _rep_words "$(echo {1..64})" ;;
        rep-push:-k | rep-push:--keep) ;; # any number: nothing to offer
        rep-push:--timeout) ;; # any number of seconds: nothing to offer
        rep-push:--hook-timeout) ;; # any number of seconds: nothing to offer
        rep-push:-T | rep-push:--targets) _filedir ;;
    esac
}

# _rep_targets: a target of rep-push: a local directory, or HOST: for an
# ssh target, HOST being any that ssh's own completion offers (Host lines
# of ~/.ssh/config, known_hosts); the far side's directory is not looked
# up (that would log in)
_rep_targets()
{
    [[ $cur == *:* ]] && return
    _filedir -d
    local -a dirs=("${COMPREPLY[@]}")
    COMPREPLY=()
    if declare -F _known_hosts_real >/dev/null; then
        _known_hosts_real -a -c -- "$cur"
    fi
    ((${#COMPREPLY[@]})) && compopt -o nospace
    COMPREPLY+=("${dirs[@]}")
}

_rep_complete()
{
    local cur prev words cword split
    # -n : keeps host:dir one word (COMP_WORDBREAKS holds the colon);
    # what is offered is then trimmed to what follows the last colon,
    # which is all readline replaces
    _init_completion -s -n : || return

    local cmd=${words[0]##*/} nargs=0 ddash='' pending='' all='' history=''
    local tartest='' record=''
    local -a where=()
    _rep_parse
    [[ $split == true ]] && pending=$prev

    if [[ $pending ]]; then
        _rep_optarg
        __ltrim_colon_completions "$cur"
        return
    fi
    if [[ ! $ddash && $cur == -* ]]; then
        _rep_words "$(_rep_opts "$cmd")"
        return
    fi
    case $cmd in
        rep-register) [[ $all ]] || _rep_appdirs ;;
        rep-diff) _rep_appnames ;;
        rep-setstatus)
            if [[ $record ]]; then
                return # records come from stdin: no operand
            elif ((nargs == 0)); then
                _rep_words "$_rep_statuses"
            else
                _rep_names
            fi
            ;;
        rep-ls) _rep_names ;;
        rep-tar) if [[ $tartest ]]; then _filedir tar.gz; else _rep_names; fi ;;
        rep-push) _rep_targets ;;
    esac
    __ltrim_colon_completions "$cur"
}

complete -F _rep_complete rep-register rep-diff rep-setstatus rep-ls rep-tar \
    rep-push
