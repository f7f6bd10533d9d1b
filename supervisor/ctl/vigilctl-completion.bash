# bash completion for vigilctl: verbs and options, and the names of the
# processes and groups of the running vigild (asked at each Tab, so a
# program added by `vigilctl update` completes at once). Installed as
# /usr/share/bash-completion/completions/vigilctl; or `source` it.
#
# The verbs come from `vigilctl help`, so this file never lists them twice.

_vigilctl_names() {  # processes, each group as GROUP and GROUP:*, and all
    local json
    json=$("$1" "${@:2}" status --json 2>/dev/null) || return 0
    {
        sed -n 's/^ *"name": "\(.*\)",\{0,1\}$/\1/p' <<<"$json"
        sed -n 's/^ *"group": "\(.*\)",\{0,1\}$/\1\n\1:*/p' <<<"$json"
        echo all
    } | sort -u
}

_vigilctl() {
    local cur prev bin=${COMP_WORDS[0]}
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()

    # -c FILE / -s SOCKET before the verb: kept, so names come from that vigild.
    local conn=() verb="" verb_at=0 i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -c|-s) conn+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}"); ((i++)) ;;
            -*) ;;
            *) verb=${COMP_WORDS[i]}; verb_at=$i; break ;;
        esac
    done

    case $prev in
        -c|--image-map) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -s) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --timeout|--drain-timeout|--namespace) return ;;
    esac

    if [[ -z $verb ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-c -s" -- "$cur"))
        else
            local verbs
            verbs=$("$bin" help 2>/dev/null | awk '/^verbs:/ {on=1; next} /^exit codes/ {on=0} on && /^  [a-z]/ {print $1}' | tr '|' ' ')
            COMPREPLY=($(compgen -W "$verbs help" -- "$cur"))
        fi
        return
    fi

    local nth=$((COMP_CWORD - verb_at))  # 1 = the verb's first argument
    case $verb in
        status|pid|health|upstreams|reread|update|version)
            [[ $cur == -* ]] && { COMPREPLY=($(compgen -W "--json" -- "$cur")); return; }
            [[ $verb == status || $verb == pid || $verb == health || $verb == update ]] &&
                COMPREPLY=($(compgen -W "$(_vigilctl_names "$bin" "${conn[@]}")" -- "$cur")) ;;
        start|stop|restart)
            [[ $cur == -* ]] && { COMPREPLY=($(compgen -W "--no-wait --timeout --rolling --drain-timeout --json" -- "$cur")); return; }
            COMPREPLY=($(compgen -W "$(_vigilctl_names "$bin" "${conn[@]}")" -- "$cur")) ;;
        wait)
            [[ $cur == -* ]] && { COMPREPLY=($(compgen -W "--healthy --timeout" -- "$cur")); return; }
            COMPREPLY=($(compgen -W "$(_vigilctl_names "$bin" "${conn[@]}")" -- "$cur")) ;;
        signal)
            if ((nth == 1)); then
                COMPREPLY=($(compgen -W "HUP INT QUIT KILL USR1 USR2 TERM CONT STOP WINCH" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_vigilctl_names "$bin" "${conn[@]}")" -- "$cur"))
            fi ;;
        tail)
            [[ $cur == -* ]] && { COMPREPLY=($(compgen -W "-f" -- "$cur")); return; }
            if [[ $prev == tail || $prev == -f ]]; then
                COMPREPLY=($(compgen -W "$(_vigilctl_names "$bin" "${conn[@]}")" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "stdout stderr" -- "$cur"))
            fi ;;
        switchover|failover|unfence)
            [[ $cur == -* ]] && { COMPREPLY=($(compgen -W "--timeout $([[ $verb == failover ]] && echo --force)" -- "$cur")); return; }
            ((nth == 1)) && COMPREPLY=($(compgen -W "$(_vigilctl_names "$bin" "${conn[@]}")" -- "$cur")) ;;
        backup|restore)
            [[ $cur == -* ]] && { COMPREPLY=($(compgen -W "--timeout --force" -- "$cur")); return; }
            if ((nth == 1)); then
                COMPREPLY=($(compgen -W "$(_vigilctl_names "$bin" "${conn[@]}")" -- "$cur"))
            else
                COMPREPLY=($(compgen -d -- "$cur"))
            fi ;;
        export)
            if ((nth == 1)); then
                COMPREPLY=($(compgen -W "kubernetes" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "-c --namespace --image-map" -- "$cur"))
            fi ;;
    esac
}
complete -F _vigilctl vigilctl
