// vigilctl's verbs and its help text: what `help`, the shell's completion
// and the bash completion (which reads `vigilctl help`) offer.
#include "supervisor/ctl/commands.hpp"

namespace vigil::ctl {

const std::vector<std::string>& verbs() {
    static const std::vector<std::string> v{"status", "start",  "stop",   "restart", "signal",   "pid",
                                            "tail",   "reread", "update", "reload",  "wait",     "health",
                                            "upstreams", "shutdown", "reopen", "reexec", "version", "backup", "restore",
                                            "switchover", "failover", "unfence",
                                            "help"};
    return v;
}

std::string usage() {
    return "usage: vigilctl [-c FILE | -s SOCKET|unix:///PATH|http://HOST:PORT] [-u USER -p PASSWORD]\n"
           "                [VERB [ARGS...]]   (no verb: interactive shell)\n"
           "verbs:\n"
           "  status [NAME...] [--json]          state of every (or each named) process\n"
           "  start|stop|restart NAME|GROUP:*|all [--no-wait] [--timeout S]\n"
           "  restart --rolling GROUP [--timeout S] [--drain-timeout S] [--json]\n"
           "                                     one instance at a time: drained out of the proxy,\n"
           "                                     restarted, healthy (within --timeout), back in\n"
           "  signal SIG NAME...                 send a signal (HUP, USR1, 15, ...)\n"
           "  pid [NAME...] [--json]             vigild's pid, or the processes'\n"
           "  tail [-f] NAME [stdout|stderr]     the end of a log; -f follows it\n"
           "  reread [--json]                    what an edited config would change\n"
           "  update [NAME...] [--json]          apply config edits (all, or NAMEs)\n"
           "  reload                             reread and apply everything (= SIGHUP)\n"
           "  wait NAME... [--healthy] [--timeout S]  block until RUNNING (or healthy)\n"
           "  health [NAME...] [--json]          health status and the last check results\n"
           "  upstreams [--json]                 vigil-proxy's pools: servers, state, active, fails\n"
           "  shutdown                           stop everything, then vigild\n"
           "  reopen                             reopen every log file (after logrotate; = SIGUSR2)\n"
           "  reexec [--timeout S] [--json]      vigild re-executes its binary in place (after an upgrade):\n"
           "                                     same pid, every program keeps running\n"
           "  switchover NAME [--timeout S]     planned: the replica NAME becomes the primary (writes paused\n"
           "                                     while the old one stops and NAME replays its last WAL)\n"
           "  failover NAME [--force] [--timeout S]\n"
           "                                     the replica NAME becomes the primary now; --force: even if it\n"
           "                                     was not in sync (acknowledged writes may be lost)\n"
           "  unfence NAME [--timeout S]        the fenced NAME is the primary again and started (its replica\n"
           "                                     is down too, so no failover took place)\n"
           "  version [--json]\n"
           "  backup NAME DIR [--timeout S]      kind = postgres/redis: a consistent copy of the live data into DIR\n"
           "  restore NAME DIR [--timeout S] [--force]\n"
           "                                     stop NAME, keep its data aside, put DIR's backup in place, start, healthy;\n"
           "                                     --force: DIR is a backup of another program\n"
           "  export kubernetes [-c FILE] [--namespace NS] [--image-map FILE]\n"
           "                                     the config as Kubernetes YAML, offline (docs/kubernetes.md)\n"
           "exit codes: 0 ok, 1 action failed, 2 usage or unknown name, 3 not running (status), 4 vigild unreachable\n";
}

}  // namespace vigil::ctl
