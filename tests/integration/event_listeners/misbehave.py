#!/usr/bin/env python3
"""A broken event listener. --garbage: writes a line that is not READY, then
waits. --silent: never says READY. Either way it appends its pid to a file
first, so a test can count its restarts."""
import os
import signal
import sys


def main():
    with open(sys.argv[1], 'a') as f:
        f.write('%d\n' % os.getpid())
    if sys.argv[2] == '--garbage':
        sys.stdout.write('hello, I am not a listener\n')
        sys.stdout.flush()
    # A listener that never says READY: it blocks until vigild kills it
    # (ready_timeout). Nothing here waits for a state.
    while True:
        signal.pause()


if __name__ == '__main__':
    main()
