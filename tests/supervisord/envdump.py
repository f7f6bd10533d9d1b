#!/usr/bin/env python3
"""A program that writes its environment to a file (KEY=VALUE lines), then
says READY=1 on NOTIFY_SOCKET (the program has `notify = yes`), so that
RUNNING means the file is complete; then it waits to be stopped.

usage: envdump.py FILE"""
import os
import signal
import socket
import sys


def main():
    tmp = sys.argv[1] + '.tmp'
    with open(tmp, 'w') as f:
        for k, v in sorted(os.environ.items()):
            f.write('%s=%s\n' % (k, v))
    os.rename(tmp, sys.argv[1])
    addr = os.environ['NOTIFY_SOCKET']
    if addr.startswith('@'):
        addr = '\0' + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b'READY=1', addr)
    signal.pause()


if __name__ == '__main__':
    main()
