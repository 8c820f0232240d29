# fish completion for the rep tools: rep-register, rep-diff, rep-setstatus,
# rep-ls, rep-tar, rep-push (see rep(7)).  fish loads a file by the name of
# the command, so this file is installed once under each tool's name,
# $(datadir)/fish/vendor_completions.d/rep-register.fish, rep-diff.fish,
# rep-setstatus.fish, rep-ls.fish, rep-tar.fish and rep-push.fish, as copies
# (make install).
#
# To add a tool: add it to the loop over the common options (and to the
# one over --db and --apps if it uses the database), give it its options in
# __rep_argspec and below, and complete its operands.

# __rep_argspec CMD: the options of CMD, as argparse specs
function __rep_argspec
    printf '%s\n' C= h/help V/version
    test "$argv[1]" = rep-push; or printf '%s\n' db= apps=
    switch $argv[1]
        case rep-register
            printf '%s\n' a/all H/header n/dry-run q/quiet
        case rep-diff
            printf '%s\n' H/header q/quiet rehash live
        case rep-setstatus
            printf '%s\n' H/header n/dry-run q/quiet f/from= m/note= M/note-from-input record
        case rep-ls
            printf '%s\n' H/header s/status= o/output= history
        case rep-tar
            printf '%s\n' q/quiet d/dist= l/level= j/threads= t/test=
        case rep-push
            printf '%s\n' n/dry-run q/quiet j/jobs= k/keep= replace rollback timeout= status H/header no-hooks hook-timeout= T/targets=
    end
end

# __rep_path VALUE: VALUE with a leading ~ expanded
function __rep_path
    string replace -r '^~(?=/|$)' $HOME -- $argv[1]
end

# __rep_where: the -C, --db and --apps options given before the cursor
function __rep_where
    set -l tokens (commandline -opc)
    argparse -i (__rep_argspec $tokens[1]) -- $tokens[2..-1] 2>/dev/null; or return
    set -q _flag_C[1]; and printf '%s\n' -C (__rep_path $_flag_C[-1])
    set -q _flag_db[1]; and printf '%s\n' --db (__rep_path $_flag_db[-1])
    set -q _flag_apps[1]; and printf '%s\n' --apps (__rep_path $_flag_apps[-1])
end

# __rep_operands: how many operands precede the cursor
function __rep_operands
    set -l tokens (commandline -opc)
    argparse -i (__rep_argspec $tokens[1]) -- $tokens[2..-1] 2>/dev/null; or return
    count $argv
end

function __rep_statuses
    printf '%s\t%s\n' \
        registered 'set on first registration' \
        ready 'may be packaged and shipped' \
        pending_deployment 'claimed by a deployment that has not finished' \
        deployed 'live on the targets' \
        failed 'a deployment or check failed' \
        retired 'no longer in use'
end

# __rep_fields: a comma-separated list of record fields for rep-ls -o
function __rep_fields
    set -l fields name status files bytes checksum registered updated live release targets
    contains -- --history (commandline -opc); and set fields name time from to user note
    set -l head (commandline -ct | string replace -r '^(--output=|-o)' '' | string replace -r '[^,]*$' '')
    printf '%s\tField\n' $head$fields
end

# __rep_names: the registered applications
function __rep_names
    rep-ls (__rep_where) -o name 2>/dev/null
end

# __rep_appdirs: the sub-directories of the applications directory
function __rep_appdirs
    set -l where (__rep_where)
    set -l dir rep_applications
    set -q REP_APPS[1]; and test -n "$REP_APPS"; and set dir $REP_APPS
    set -l chdir
    set -l i 1
    while test $i -lt (count $where)
        switch $where[$i]
            case -C
                set chdir $where[(math $i + 1)]
            case --apps
                set dir $where[(math $i + 1)]
        end
        set i (math $i + 2)
    end
    string match -q '/*' -- $dir; or test -z "$chdir"; or set dir $chdir/$dir
    for d in $dir/*/
        set d (string replace -r '/$' '' -- $d)
        test -L $d; and continue
        string replace -r '.*/' '' -- $d | string match -v -- '-*'
    end
end

# __rep_diffnames: the registered applications and the sub-directories of
# the applications directory, each once (rep-diff takes either)
function __rep_diffnames
    begin
        __rep_names
        __rep_appdirs
    end | LC_ALL=C sort -u
end

for c in rep-register rep-diff rep-setstatus rep-ls rep-tar rep-push
    complete -c $c -f
    complete -c $c -s C -x -a '(__fish_complete_directories)' -d 'Work as if started in DIR'
    complete -c $c -s h -l help -d 'Print usage and exit'
    complete -c $c -s V -l version -d 'Print version and exit'
end

for c in rep-register rep-diff rep-setstatus rep-ls rep-tar
    complete -c $c -l db -r -F -d 'Metadata database'
    complete -c $c -l apps -x -a '(__fish_complete_directories)' -d 'Applications directory'
end

for c in rep-register rep-diff rep-setstatus rep-ls
    complete -c $c -s H -l header -d 'Print a header line first'
end

for c in rep-register rep-setstatus
    complete -c $c -s n -l dry-run -d 'Report what would be done, change nothing'
    complete -c $c -s q -l quiet -d 'Do not print the summary'
end

complete -c rep-register -s a -l all -d 'Register every application not registered yet'
complete -c rep-register -n 'not __fish_seen_argument -s a -l all' -a '(__rep_appdirs)'

complete -c rep-diff -s q -l quiet -d 'Do not print the summary'
complete -c rep-diff -l rehash -n 'not __fish_seen_argument -l live' -d 'Hash every file, trusting no cached stat data'
complete -c rep-diff -l live -n 'not __fish_seen_argument -l rehash' -d 'Compare rep-push --status records on stdin with the deployment records'
complete -c rep-diff -a '(__rep_diffnames)'

complete -c rep-setstatus -s f -l from -x -a '(__rep_statuses)' -n 'not __fish_seen_argument -l record' -d 'Change only applications whose status is FROM'
complete -c rep-setstatus -s m -l note -x -n 'not __fish_seen_argument -s M -l note-from-input -l record' -d 'Record NOTE in the history'
complete -c rep-setstatus -s M -l note-from-input -n 'not __fish_seen_argument -s m -l note -l record' -d 'Take the note from the rest of each input record'
complete -c rep-setstatus -l record -n 'not __fish_seen_argument -s f -l from -s m -l note -s M -l note-from-input' -d 'Record the live, left and failed records of rep-push read on stdin'
complete -c rep-setstatus -n 'not __fish_seen_argument -l record; and test (__rep_operands) = 0' -a '(__rep_statuses)'
complete -c rep-setstatus -n 'not __fish_seen_argument -l record; and test (__rep_operands) -gt 0' -a '(__rep_names)'

complete -c rep-ls -s s -l status -x -a '(__rep_statuses)' -d 'Select applications in STATUS (repeatable)'
complete -c rep-ls -s o -l output -x -a '(__rep_fields)' -d 'Print these comma-separated fields'
complete -c rep-ls -l history -d 'Print the change history instead'
complete -c rep-ls -a '(__rep_names)'

# __rep_tar_archives: the *.tar.gz files and the directories that complete
# the current token, for rep-tar -t
function __rep_tar_archives
    set -l tok (commandline -ct | string replace -r -- '^(--test=|-t)' '')
    __fish_complete_suffix $tok .tar.gz | string match -r -- '^[^\t]*(?:\.tar\.gz|/)(?:\t.*)?$'
end

complete -c rep-tar -s q -l quiet -d 'Do not print the summary'
complete -c rep-tar -s d -l dist -x -a '(__fish_complete_directories)' -n 'not __fish_seen_argument -s t -l test' -d 'Write the archive into DIR'
complete -c rep-tar -s l -l level -x -a '(seq 1 9)' -n 'not __fish_seen_argument -s t -l test' -d 'Gzip compression level (default 6)'
complete -c rep-tar -s j -l threads -x -a '(seq 1 16)' -n 'not __fish_seen_argument -s t -l test' -d 'Compression threads (default: the number of cores)'
complete -c rep-tar -s t -l test -x -a '(__rep_tar_archives)' -n 'not __fish_seen_argument -s d -l dist -s l -l level -s j -l threads' -d 'Verify ARCHIVE (and each ARCHIVE operand) against its manifest, print it'
complete -c rep-tar -n 'not __fish_seen_argument -s t -l test' -a '(__rep_names)'
complete -c rep-tar -n '__fish_seen_argument -s t -l test' -x -a '(__rep_tar_archives)'

complete -c rep-push -s n -l dry-run -d 'Check the archives and show the plan, change nothing'
complete -c rep-push -s q -l quiet -d 'Do not print the summary'
complete -c rep-push -s j -l jobs -x -a '(seq 1 64)' -d 'Connect, stage and run hooks on up to N targets at once (default 5; --status: 8)'
complete -c rep-push -s k -l keep -x -n 'not __fish_seen_argument -l status' -d 'Keep the KEEP newest releases and those KEEP rollbacks could reach (default 5)'
complete -c rep-push -l replace -n 'not __fish_seen_argument -l rollback -l status' -d "A release holds the archive's applications only, not what was live"
complete -c rep-push -l rollback -n 'not __fish_seen_argument -l replace -l status' -d 'Undo the most recent push still in effect on every target'
complete -c rep-push -l timeout -x -d 'Give up on a target silent for SECONDS (default 300)'
complete -c rep-push -l status -n 'not __fish_seen_argument -s n -l dry-run -s k -l keep -l replace -l rollback -l no-hooks -l hook-timeout' -d 'Print what is live on each target; change nothing, lock nothing'
complete -c rep-push -s H -l header -d 'With --status: print a header line first'
complete -c rep-push -l no-hooks -n 'not __fish_seen_argument -l status' -d "Run no application's hooks (.rep/configure, start, check, stop)"
complete -c rep-push -l hook-timeout -x -n 'not __fish_seen_argument -l status' -d 'Kill a hook still running after SECONDS; retry check until then (default 60)'
complete -c rep-push -s T -l targets -r -F -d 'The targets in FILE too, a word a line (# comments), before the operands'
# a target: a local directory, or HOST: (no space after the colon) for an
# ssh target, HOST being any that ssh's own completion offers; the far
# side's directory is not looked up (that would log in)
complete -c rep-push -n 'not string match -q -- "*:*" (commandline -ct)' -a '(__fish_complete_directories)'
complete -c rep-push -n 'not string match -q -- "*:*" (commandline -ct)' -a '(__fish_print_hostnames | string replace -r -- \'$\' :)' -d 'ssh host'
