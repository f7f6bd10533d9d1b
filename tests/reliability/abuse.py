#!/usr/bin/env python3
"""Hostile clients for tests/reliability/soak.sh, all to 127.0.0.1 only.

  abuse.py --port P --seconds S [--slowloris N] [--malformed M] --out FILE

- slowloris: N connections that each send a request head one byte at a time,
  a byte every --drip seconds, never finishing it. When the proxy closes one
  (its request read timeout), the time it was held is recorded and a new one
  is opened in its place. N stays bounded.
- malformed: M threads sending, on fresh connections, requests the proxy must
  refuse (bad request lines, bad or conflicting framing, oversized heads, NUL
  bytes, smuggling attempts); each waits at most 5 s for the answer. The
  status lines received are counted.

Runs for --seconds, then closes everything and writes JSON stats to --out.
Every wait is a select() or an Event.wait() with a deadline.
"""
import argparse
import json
import random
import select
import socket
import threading
import time

MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, identity\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"A" * 20000 + b"\r\n\r\n",
    b"GET /" + b"p" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(3000)) + b"\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad\x00Header: v\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n Folded: continuation\r\n\r\n",
    b"GET\t/\tHTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"\r\n\r\n\r\n\r\n",
]


def now():
    return time.monotonic()


class Slowloris:
    def __init__(self, port, count, drip, deadline):
        self.port, self.count, self.drip, self.deadline = port, count, drip, deadline
        self.conns = {}  # socket -> [opened_at, next_drip_at, bytes_sent]
        self.opened = 0
        self.closed_by_proxy = 0
        self.answered = 0  # closed with some bytes sent back (e.g. a 408)
        self.held = []  # seconds each connection was held open by the proxy
        self.connect_failures = 0

    def open_one(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"GET /slowloris HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        except OSError:
            self.connect_failures += 1
            s.close()
            return
        s.setblocking(False)
        t = now()
        self.conns[s] = [t, t + self.drip, 0]
        self.opened += 1

    def run(self, stop):
        while len(self.conns) < self.count and now() < self.deadline:
            self.open_one()
        while not stop.is_set() and now() < self.deadline:
            socks = list(self.conns)
            readable = select.select(socks, [], [], 0.5)[0] if socks else []
            for s in readable:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if data:
                    self.answered += 1
                # an answer or EOF: the proxy gave up on this one
                self.closed_by_proxy += 1
                self.held.append(now() - self.conns[s][0])
                del self.conns[s]
                s.close()
            t = now()
            for s, st in list(self.conns.items()):
                if t >= st[1]:
                    try:
                        s.send(b"X-a: b\r\n"[st[2] % 8:st[2] % 8 + 1])
                        st[2] += 1
                    except OSError:
                        pass
                    st[1] = t + self.drip
            while len(self.conns) < self.count and now() < self.deadline and not stop.is_set():
                self.open_one()
            if not socks:
                stop.wait(0.5)
        for s in self.conns:
            s.close()


class Malformed:
    def __init__(self, port, deadline):
        self.port, self.deadline = port, deadline
        self.lock = threading.Lock()
        self.sent = 0
        self.statuses = {}
        self.errors = 0

    def one(self, payload):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        status = "no answer"
        try:
            s.connect(("127.0.0.1", self.port))
            s.sendall(payload)
            data = b""
            end = now() + 5
            while b"\r\n" not in data and now() < end:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"HTTP/1."):
                status = data[9:12].decode("latin-1")
        except OSError:
            status = "reset"
        finally:
            s.close()
        with self.lock:
            self.sent += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def run(self, stop, seed):
        rng = random.Random(seed)
        while not stop.is_set() and now() < self.deadline:
            self.one(rng.choice(MALFORMED))
            stop.wait(0.005)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--slowloris", type=int, default=200)
    ap.add_argument("--drip", type=float, default=5.0)
    ap.add_argument("--malformed", type=int, default=4)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    assert 0 <= a.slowloris <= 2000 and 0 <= a.malformed <= 32 and a.seconds <= 7200

    deadline = now() + a.seconds
    stop = threading.Event()
    slow = Slowloris(a.port, a.slowloris, a.drip, deadline)
    bad = Malformed(a.port, deadline)
    threads = [threading.Thread(target=slow.run, args=(stop,))]
    threads += [threading.Thread(target=bad.run, args=(stop, i)) for i in range(a.malformed)]
    for t in threads:
        t.start()
    stop.wait(a.seconds)
    stop.set()
    for t in threads:
        t.join(30)

    held = sorted(slow.held)
    stats = {
        "slowloris_target": a.slowloris,
        "slowloris_opened": slow.opened,
        "slowloris_closed_by_proxy": slow.closed_by_proxy,
        "slowloris_answered": slow.answered,
        "slowloris_connect_failures": slow.connect_failures,
        "slowloris_held_median_s": round(held[len(held) // 2], 1) if held else None,
        "slowloris_held_max_s": round(held[-1], 1) if held else None,
        "malformed_sent": bad.sent,
        "malformed_statuses": bad.statuses,
    }
    with open(a.out, "w") as f:
        json.dump(stats, f, indent=1)


if __name__ == "__main__":
    main()
