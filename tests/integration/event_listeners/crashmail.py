#!/usr/bin/env python3
"""superlance crashmail's shape: on PROCESS_STATE_FATAL, "send mail" (append
an alert line to a file) naming the process, as crashmail parses payloads
with childutils.eventdata()."""
import sys

from supervisor import childutils


def main():
    out = sys.argv[1]
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        if headers['eventname'] != 'PROCESS_STATE_FATAL':
            childutils.listener.ok(sys.stdout)
            continue
        pheaders, _ = childutils.eventdata(payload + '\n')
        msg = 'Process %(processname)s in group %(groupname)s went FATAL from state %(from_state)s\n' % pheaders
        with open(out, 'a') as f:
            f.write(msg)
        childutils.listener.ok(sys.stdout)


if __name__ == '__main__':
    main()
