#!/usr/bin/env python3
"""An event listener on supervisor.childutils that appends every event it
receives to a file, one line each:

    EVENTNAME serial:N poolserial:N pool:NAME|PAYLOAD (newlines as \\n)

With --fail-once it answers FAIL the first time it sees a serial and OK the
second time, so a test can see the event delivered again."""
import sys

from supervisor import childutils


def main():
    out = sys.argv[1]
    fail_once = '--fail-once' in sys.argv[2:]
    failed = set()
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        line = '%s serial:%s poolserial:%s pool:%s|%s\n' % (
            headers['eventname'], headers['serial'], headers['poolserial'],
            headers['pool'], payload.replace('\n', '\\n'))
        with open(out, 'a') as f:
            f.write(line)
        if fail_once and headers['serial'] not in failed:
            failed.add(headers['serial'])
            childutils.listener.fail(sys.stdout)
        else:
            childutils.listener.ok(sys.stdout)


if __name__ == '__main__':
    main()
