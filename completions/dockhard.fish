# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dockhard_global_optspecs
    string join \n root= offline profile= state-dir= color= q/quiet v/verbose lock-wait= h/help V/version
end

function __fish_dockhard_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dockhard_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dockhard_using_subcommand
    set -l cmd (__fish_dockhard_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dockhard -n "__fish_dockhard_needs_command" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_needs_command" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_needs_command" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_needs_command" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_needs_command" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_needs_command" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_needs_command" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_needs_command" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_needs_command" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_needs_command" -s V -l version -d 'Print version'
complete -c dockhard -n "__fish_dockhard_needs_command" -f -a "plan" -d 'Show what would change (changes nothing)'
complete -c dockhard -n "__fish_dockhard_needs_command" -f -a "apply" -d 'Apply a fresh plan, or exactly the changes of a saved plan file'
complete -c dockhard -n "__fish_dockhard_needs_command" -f -a "rollback" -d 'Restore the state a snapshot recorded (default: an unfinished run, else the latest apply)'
complete -c dockhard -n "__fish_dockhard_needs_command" -f -a "snapshots" -d 'List snapshots, or show one'
complete -c dockhard -n "__fish_dockhard_needs_command" -f -a "rules" -d 'The rule catalog with ids, kinds and guideline items'
complete -c dockhard -n "__fish_dockhard_needs_command" -f -a "profile" -d 'Print the effective profile as commented TOML, to save and edit'
complete -c dockhard -n "__fish_dockhard_needs_command" -f -a "explain" -d 'A rule\'s rationale, what it changes and what it may break'
complete -c dockhard -n "__fish_dockhard_needs_command" -f -a "fix" -d 'Review the plan change by change on a terminal, then apply the accepted ones'
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l format -r -f -a "text\t''
json\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l out -d 'Also save the plan as JSON, for `apply PLAN_FILE`' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l only -d 'Only these kinds (suid, mount, daemon, iptables, subid, advice)' -r -f -a "suid\t''
mount\t''
daemon\t''
iptables\t''
subid\t''
advice\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l detailed-exitcode -d 'Exit 2 when changes are pending, 0 when none'
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l restart-docker -d 'Plan a restart of dockerd where daemon.json changes need one'
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand plan" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -l only -d 'Only these kinds; with PLAN_FILE, only the plan\'s changes of these kinds (and the folders they need)' -r -f -a "suid\t''
mount\t''
daemon\t''
iptables\t''
subid\t''
advice\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -l format -r -f -a "text\t''
json\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -s y -l yes -d 'Do not ask for confirmation'
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -l restart-docker -d 'Restart dockerd where daemon.json changes need it (live host only)'
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand apply" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -s y -l yes -d 'Do not ask for confirmation (needed without a terminal)'
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -l force -d 'Restore targets even if they changed since the apply'
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand rollback" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -l format -d 'Output format (also after `list` or `show ID`)' -r -f -a "text\t''
json\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -f -a "list" -d 'All snapshots, oldest first'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and not __fish_seen_subcommand_from list show" -f -a "show" -d 'One snapshot\'s targets and changes'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from list" -l format -d 'Output format (also after `list` or `show ID`)' -r -f -a "text\t''
json\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from list" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from list" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from list" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from list" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from list" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from list" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from show" -l format -d 'Output format (also after `list` or `show ID`)' -r -f -a "text\t''
json\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from show" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from show" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from show" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from show" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from show" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from show" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand snapshots; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_using_subcommand rules" -l format -r -f -a "text\t''
json\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand rules" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand rules" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand rules" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand rules" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand rules" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand rules" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand rules" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand rules" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand rules" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and not __fish_seen_subcommand_from show" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and not __fish_seen_subcommand_from show" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and not __fish_seen_subcommand_from show" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and not __fish_seen_subcommand_from show" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and not __fish_seen_subcommand_from show" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and not __fish_seen_subcommand_from show" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and not __fish_seen_subcommand_from show" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and not __fish_seen_subcommand_from show" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and not __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and not __fish_seen_subcommand_from show" -f -a "show" -d 'The built-in profile, or the one given with --profile, with every rule and parameter and the snapshots kept ([snapshots] keep); loads back with --profile to the same policy'
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and __fish_seen_subcommand_from show" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and __fish_seen_subcommand_from show" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and __fish_seen_subcommand_from show" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and __fish_seen_subcommand_from show" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and __fish_seen_subcommand_from show" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and __fish_seen_subcommand_from show" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand profile; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_using_subcommand explain" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand explain" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand explain" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand explain" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand explain" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand explain" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand explain" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand explain" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand explain" -s h -l help -d 'Print help'
complete -c dockhard -n "__fish_dockhard_using_subcommand fix" -l only -d 'Only these kinds (suid, mount, daemon, iptables, subid, advice)' -r -f -a "suid\t''
mount\t''
daemon\t''
iptables\t''
subid\t''
advice\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand fix" -l root -d 'Tree to harden; any root other than / implies --offline' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand fix" -l profile -d 'TOML profile (default: the built-in one)' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand fix" -l state-dir -d 'Where snapshots live (default: var/lib/dockhard under the root); it must be yours and private (0700), under folders only root or you can change' -r -F
complete -c dockhard -n "__fish_dockhard_using_subcommand fix" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dockhard -n "__fish_dockhard_using_subcommand fix" -l lock-wait -d 'How long apply, rollback and fix wait for another run\'s lock before giving up (exit 1)' -r
complete -c dockhard -n "__fish_dockhard_using_subcommand fix" -l offline -d 'Persistent changes only; no live step (iptables, remount, daemon reload)'
complete -c dockhard -n "__fish_dockhard_using_subcommand fix" -s q -l quiet -d 'Print less'
complete -c dockhard -n "__fish_dockhard_using_subcommand fix" -s v -l verbose -d 'Print more (compliant findings too)'
complete -c dockhard -n "__fish_dockhard_using_subcommand fix" -s h -l help -d 'Print help (see more with \'--help\')'
