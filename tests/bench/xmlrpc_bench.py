"""supervisor.getAllProcessInfo of 200 programs over one kept-alive
connection: vigild against Debian's supervisord, same programs, one run.

The client sends a prepared request and reads the reply by its
Content-Length without parsing the XML, so the figures are the servers'
(request parsing, 200 process structs, writing) and not Python's XML
parser. Prints per-call latency for both and the ratio (target >= 10x).

  tests/bench/xmlrpc_bench.sh [--programs 200] [--calls 500]
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BODY = (b"<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getAllProcessInfo</methodName>\n"
        b"<params>\n</params>\n</methodCall>\n")
REQUEST = (b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
           b"Content-Length: %d\r\n\r\n" % len(BODY)) + BODY


class Client:
    """HTTP/1.1 over a Unix socket; reconnects if the server closes (counted)."""

    def __init__(self, path):
        self.path = path
        self.sock = None
        self.reconnects = -1
        self.buf = b""

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(self.path)
        self.reconnects += 1
        self.buf = b""

    def call(self):
        if self.sock is None:
            self.connect()
        self.sock.sendall(REQUEST)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError("closed before the reply head")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = None
        close = False
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
            if k.strip().lower() == b"connection" and v.strip().lower() == b"close":
                close = True
        if length is None:  # read to EOF (HTTP/1.0 style)
            while chunk := self.sock.recv(262144):
                rest += chunk
            length, close = len(rest), True
        while len(rest) < length:
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError("closed mid-body")
            rest += chunk
        body, self.buf = rest[:length], rest[length:]
        if b"<fault>" in body or b"<name>statename</name>" not in body:
            raise RuntimeError("unexpected reply: %r" % body[:300])
        if close:
            self.sock.close()
            self.sock = None
        return body


def programs_ini(n):
    return "".join("[program:p%03d]\ncommand = /bin/sleep 100000\nstartsecs = 0\nautorestart = false\n\n" % i
                   for i in range(n))


def wait_running(client_path, n, deadline):
    c = Client(client_path)
    while time.monotonic() < deadline:
        try:
            body = c.call()
            if body.count(b"<string>RUNNING</string>") >= n:
                return True
        except (OSError, RuntimeError, ConnectionError):
            c.sock = None
        time.sleep(0.2)  # start-up of 200 processes; bounded by the deadline
    return False


def measure(path, calls, warmup=20):
    c = Client(path)
    for _ in range(warmup):
        c.call()
    c.reconnects = 0 if c.sock else -1
    times = []
    size = 0
    for _ in range(calls):
        t0 = time.perf_counter()
        size = len(c.call())
        times.append(time.perf_counter() - t0)
    return times, size, max(c.reconnects, 0)


def report(name, times, size, reconnects):
    ms = [t * 1000 for t in times]
    ms.sort()
    print("%-12s mean %7.3f ms  p50 %7.3f ms  p99 %7.3f ms  %6.0f calls/s  reply %d bytes  reconnects %d"
          % (name, statistics.mean(ms), ms[len(ms) // 2], ms[int(len(ms) * 0.99) - 1], len(ms) / sum(times), size,
             reconnects))
    return statistics.mean(ms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--programs", type=int, default=200)
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--vigild", default=os.environ.get("VIGILD", "build/supervisor/vigild"))
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="xmlrpc-bench-")
    progs = programs_ini(args.programs)
    vsock, ssock = d + "/vigil.sock", d + "/supervisor.sock"
    with open(d + "/vigil.ini", "w") as f:
        f.write("[vigil]\ncontrol_socket = %s\nstate_dir = %s/state\nlog_dir = %s/vlog\n\n%s" % (vsock, d, d, progs))
    os.makedirs(d + "/slog")
    with open(d + "/supervisord.conf", "w") as f:
        f.write("[supervisord]\nlogfile = %s/supervisord.log\npidfile = %s/supervisord.pid\nchildlogdir = %s/slog\n"
                "[unix_http_server]\nfile = %s\n[rpcinterface:supervisor]\n"
                "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n%s"
                % (d, d, d, ssock, progs))
    procs = []
    results = {}
    try:
        for name, cmd, path in (("vigild", [args.vigild, "-c", d + "/vigil.ini"], vsock),
                                ("supervisord", ["/usr/bin/supervisord", "-n", "-c", d + "/supervisord.conf"], ssock)):
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(d + "/" + name + ".err", "wb"))
            procs.append(p)
            if not wait_running(path, args.programs, time.monotonic() + 120):
                sys.exit("%s: %d programs not RUNNING within 120 s (%s)" % (name, args.programs, d))
            results[name] = report(name, *measure(path, args.calls))
            p.terminate()
            p.wait(timeout=60)
        print("ratio (supervisord mean / vigild mean): %.1fx  (%d programs, %d calls each, target >= 10x)"
              % (results["supervisord"] / results["vigild"], args.programs, args.calls))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
