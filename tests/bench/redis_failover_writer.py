#!/usr/bin/env python3
"""The client side of redis_failover_bench.sh: SETs one unique key every
~10 ms, kills the master (kill -9, its data directory deleted) once warm,
writes on until the writes are accepted again, then reads every acknowledged
key back from the master of the end. Prints one line:
  first_ms=N acked=N attempts=N lost=N

--listener PORT: vigil's way, one address (vigil-proxy's `mode = tcp`
listener in front of the `role = primary` pool); a failed write reconnects
to the same address.
--sentinels P1,P2,P3 --name M: a Sentinel-aware client's way: on each failed
write it asks a sentinel for the master (SENTINEL get-master-addr-by-name)
and reconnects there.
"""
import argparse
import os
import shutil
import signal
import socket
import sys
import time


class Resp:
    """One blocking RESP connection, 1 s per reply at most."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=1.0)
        self.buf = b""

    def close(self):
        self.s.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if line[:1] == b"*":
            n = int(line[1:])
            return None if n < 0 else [self._reply() for _ in range(n)]
        return line  # +OK, :1, -ERR … as the raw line

    def call(self, *commands):
        req = b""
        for argv in commands:
            req += b"*%d\r\n" % len(argv)
            for a in argv:
                a = a if isinstance(a, bytes) else str(a).encode()
                req += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(req)
        return [self._reply() for _ in commands]


def sentinel_master(sentinels, name):
    for p in sentinels:
        try:
            c = Resp(p)
            try:
                r = c.call(["SENTINEL", "get-master-addr-by-name", name])[0]
            finally:
                c.close()
            if isinstance(r, list) and len(r) == 2:
                return int(r[1])
        except (OSError, ValueError):
            continue
    return None


def gone(pid):
    """Returns once the killed master is dead (exited or a zombie), 1 s at
    most: SIGKILL is delivered asynchronously, and a SET answered by the
    dying master in between would count as an accepted write."""
    for _ in range(1000):
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return
        except OSError:
            return
        time.sleep(0.001)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listener", type=int)
    ap.add_argument("--sentinels")
    ap.add_argument("--name", default="m")
    ap.add_argument("--kill-pid", type=int, required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--after", type=int, default=100, help="acknowledged writes after the first one past the kill")
    ap.add_argument("--deadline", type=float, default=240.0)
    a = ap.parse_args()
    sentinels = [int(p) for p in a.sentinels.split(",")] if a.sentinels else []

    def target():
        return a.listener if a.listener else sentinel_master(sentinels, a.name)

    acked = []
    attempts = 0
    conn = None
    start = time.monotonic()
    killed_at = None
    first_after = None
    after = 0
    n = 0
    while time.monotonic() - start < a.deadline:  # bounded whatever happens
        now = time.monotonic()
        if killed_at is None and now - start >= a.warmup:
            shutil.rmtree(a.data_dir, ignore_errors=True)
            killed_at = time.monotonic()
            os.kill(a.kill_pid, signal.SIGKILL)
            gone(a.kill_pid)
        if conn is None:
            port = target()
            try:
                conn = Resp(port) if port else None
            except OSError:
                conn = None
            if conn is None:
                time.sleep(0.01)  # the retry pace of the client
                continue
        n += 1
        attempts += 1
        sent = time.monotonic()
        try:
            ok = conn.call(["SET", "w:%d" % n, str(n)])[0] == b"+OK"
        except (OSError, ValueError, ConnectionError):
            ok = False
        if not ok:  # -READONLY from a demoted master, or a cut connection
            conn.close()
            conn = None
            time.sleep(0.01)
            continue
        acked.append(n)
        if killed_at is not None and sent >= killed_at:
            if first_after is None:
                first_after = sent - killed_at
            after += 1
            if after >= a.after:
                break
        time.sleep(0.01)  # the writer's pace
    if conn:
        conn.close()

    lost = -1
    port = target()
    if port:
        c = Resp(port)
        c.s.settimeout(10)
        lost = 0
        for i in range(0, len(acked), 1000):
            replies = c.call(*[["EXISTS", "w:%d" % k] for k in acked[i:i + 1000]])
            lost += sum(r != b":1" for r in replies)
        c.close()
    first_ms = -1 if first_after is None else round(first_after * 1000)
    print("first_ms=%d acked=%d attempts=%d lost=%d" % (first_ms, len(acked), attempts, lost))
    return 0 if first_after is not None else 1


if __name__ == "__main__":
    sys.exit(main())
