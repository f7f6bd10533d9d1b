#!/usr/bin/env python3
"""An event listener shaped like superlance's httpok and memmon (Debian 12
does not package superlance): written on supervisor.childutils, it calls
the supervisor back over XML-RPC with childutils.getRPCInterface(os.environ),
which reads SUPERVISOR_SERVER_URL (and SUPERVISOR_USERNAME/_PASSWORD when
the server asks for credentials). When WATCHED goes FATAL it reads WATCHED's
info, notes it in OUT, and starts RESTART, as httpok restarts a program.

usage: callback_listener.py OUT WATCHED RESTART"""
import os
import sys

from supervisor import childutils


def note(out, line):
    with open(out, 'a') as f:
        f.write(line + '\n')


def main():
    out, watched, restart = sys.argv[1:4]
    rpc = childutils.getRPCInterface(os.environ)
    note(out, 'env %s %s %s %s' % (os.environ.get('SUPERVISOR_ENABLED'), os.environ.get('SUPERVISOR_PROCESS_NAME'),
                                   os.environ.get('SUPERVISOR_GROUP_NAME'), os.environ.get('SUPERVISOR_SERVER_URL')))
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        if headers['eventname'] == 'PROCESS_STATE_FATAL':
            pheaders, _ = childutils.eventdata(payload + '\n')
            if pheaders['processname'] == watched:
                try:
                    info = rpc.supervisor.getProcessInfo('%s:%s' % (pheaders['groupname'], watched))
                    note(out, 'info %s %s' % (info['name'], info['statename']))
                    rpc.supervisor.startProcess(restart, True)
                except Exception as e:  # into the file, for the test to show
                    note(out, 'error %r' % (e,))
        childutils.listener.ok(sys.stdout)


if __name__ == '__main__':
    main()
