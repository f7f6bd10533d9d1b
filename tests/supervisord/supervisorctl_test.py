"""Debian's supervisorctl, unchanged, against vigild: every command an
operator uses, through the config's [supervisorctl] serverurl. Streaming
commands (tail -f, fg) are bounded: read until the expected output shows up
or the deadline passes, then the client is stopped."""
import os
import selectors
import socket
import subprocess
import sys
import time

from vigild_fixture import PROGRAMS, SUPERVISORCTL, Checks, Vigild


def read_until(proc, needle, timeout=20):
    """Output of a streaming supervisorctl until `needle` appears (or the deadline)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    out = b""
    while needle.encode() not in out and time.monotonic() < deadline:
        for _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return out.decode(errors="replace")
            out += chunk
    return out.decode(errors="replace")


def stop(proc):
    proc.kill()
    proc.wait(timeout=10)


def main():
    v = Vigild()
    c = Checks()
    try:
        run(v, c)
    finally:
        v.close()
    return c.done()


def run(v, c):
    # vigilctl finds the socket through [supervisorctl] serverurl (no [vigil] control_socket).
    if os.environ.get("VIGILCTL"):
        r = subprocess.run([os.environ["VIGILCTL"], "-c", v.conf, "status"], capture_output=True, text=True,
                           timeout=60)
        c.check("sleeper" in r.stdout and "RUNNING" in r.stdout, f"vigilctl via serverurl: {r.stdout}{r.stderr}")
    rc, out = v.ctl("version")
    c.check(rc == 0 and out.strip(), f"version: {rc} {out!r}")

    rc, out = v.ctl("status")
    lines = {l.split()[0]: l for l in out.splitlines() if l.strip()}
    c.check(rc == 3, f"status exits 3 while some program is down (supervisorctl's LSB code): {rc}")
    c.check("RUNNING" in lines.get("sleeper", "") and "pid " in lines["sleeper"], f"status sleeper: {out}")
    c.check("STOPPED" in lines.get("lazy", "") and "Not started" in lines["lazy"], f"status lazy: {out}")
    c.check("web:web_0" in lines and "web:web_1" in lines, f"status names group members group:name: {out}")
    rc, out = v.ctl("status", "sleeper")
    c.check(rc == 0 and "RUNNING" in out, f"status sleeper: {out}")

    rc, out = v.ctl("start", "lazy")
    c.check(rc == 0 and "lazy: started" in out, f"start: {out}")
    rc, out = v.ctl("start", "lazy")
    c.check("ERROR (already started)" in out, f"start twice: {out}")
    rc, out = v.ctl("start", "crasher")
    c.check(rc != 0 and "ERROR (spawn error)" in out, f"start crasher: {out}")
    rc, out = v.ctl("start", "nope")
    c.check(rc != 0 and "ERROR (no such process)" in out, f"start unknown: {out}")
    rc, out = v.ctl("stop", "lazy")
    c.check(rc == 0 and "lazy: stopped" in out, f"stop: {out}")
    rc, out = v.ctl("stop", "lazy")
    c.check("ERROR (not running)" in out, f"stop twice: {out}")
    rc, out = v.ctl("stop", "web:*")
    c.check("web:web_0: stopped" in out and "web:web_1: stopped" in out, f"stop group: {out}")
    rc, out = v.ctl("start", "web:*")
    c.check("web:web_0: started" in out and "web:web_1: started" in out, f"start group: {out}")

    _, before = v.ctl("pid", "sleeper")
    rc, out = v.ctl("restart", "sleeper")
    c.check("sleeper: stopped" in out and "sleeper: started" in out, f"restart: {out}")
    _, after = v.ctl("pid", "sleeper")
    c.check(before.strip().isdigit() and after.strip().isdigit() and before != after, f"pid changed: {before} {after}")
    rc, out = v.ctl("pid")
    c.check(rc == 0 and int(out.strip()) == v.proc.pid, f"pid (vigild's): {out}")
    rc, out = v.ctl("pid", "all")
    c.check(len([l for l in out.splitlines() if l.strip()]) == 6, f"pid all: {out}")

    rc, out = v.ctl("signal", "HUP", "talker")
    c.check("talker: signalled" in out, f"signal: {out}")
    rc, out = v.ctl("signal", "HUP", "lazy")
    c.check("ERROR (not running)" in out, f"signal stopped: {out}")
    rc, out = v.ctl("signal", "BOGUS", "talker")
    c.check("ERROR (bad signal name)" in out, f"signal bad name: {out}")

    v.wait("talker", "running")
    rc, out = v.ctl("tail", "talker")
    c.check("hello-out" in out, f"tail: {out[-200:]}")
    rc, out = v.ctl("tail", "talker", "stderr")
    c.check("hello-err" in out, f"tail stderr: {out[-200:]}")
    rc, out = v.ctl("tail", "-20", "talker")
    c.check(0 < len(out.strip()) <= 21, f"tail -20: {out!r}")
    rc, out = v.ctl("clear", "talker")
    c.check("talker: cleared" in out, f"clear: {out}")
    rc, out = v.ctl("clear", "all")
    c.check("sleeper: cleared" in out, f"clear all: {out}")

    proc = subprocess.Popen([SUPERVISORCTL, "-c", v.conf, "tail", "-f", "talker"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out = read_until(proc, "hello-out\nhello-out")
    stop(proc)
    c.check("hello-out\nhello-out" in out, f"tail -f follows new output: {out[-300:]!r}")

    # supervisorctl's http_client ends its request with one CRLF too many;
    # when that CRLF arrives on its own, after the stream has begun, the
    # stream must go on (it used to end there: tail -f stopped at times).
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(v.sock)
    s.sendall(b"GET /logtail/talker HTTP/1.1\r\nHost: x\r\nAccept-Encoding: chunked\r\n\r\n")
    got = s.recv(65536)  # the header, and maybe the tail: the stream has begun
    s.sendall(b"\r\n")
    deadline = time.monotonic() + 20
    while got.count(b"hello-out") < 3 and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    c.check(got.count(b"hello-out") >= 3, f"the log stream outlives a stray CRLF from the client: {got[-300:]!r}")

    # fg: output streams until the client leaves; typed input would go to
    # stdin, which vigil programs do not have (an error, then fg ends).
    proc = subprocess.Popen([SUPERVISORCTL, "-c", v.conf, "fg", "talker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = read_until(proc, "hello-out\nhello-out")
    stop(proc)
    c.check("hello-out" in out, f"fg streams the program's output: {out[-300:]!r}")

    rc, out = v.ctl("maintail")
    c.check(rc == 0 and "sleeper" in out, f"maintail: {out[-300:]!r}")
    rc, out = v.ctl("maintail", "-100")
    c.check(rc == 0 and 0 < len(out) <= 102, f"maintail -100: {out!r}")

    rc, out = v.ctl("avail")
    c.check("lazy" in out and "in use" in out and "manual" in out, f"avail: {out}")

    v.write_config(PROGRAMS.replace("[program:crasher]", "[program:extra]\ncommand = /bin/sleep 999\nstartsecs = 0\n\n"
                                    "[program:crasher2]"))
    rc, out = v.ctl("reread")
    c.check("extra: available" in out and "crasher: disappeared" in out, f"reread: {out}")
    rc, out = v.ctl("avail")
    c.check("extra" in out and "avail" in out, f"avail after reread: {out}")
    rc, out = v.ctl("update")
    c.check("extra: added process group" in out and "crasher: removed process group" in out, f"update: {out}")
    v.wait("extra", "running")
    rc, out = v.ctl("status", "extra")
    c.check("RUNNING" in out, f"extra runs after update: {out}")
    rc, out = v.ctl("stop", "extra")
    rc, out = v.ctl("remove", "extra")
    c.check("extra: removed process group" in out, f"remove: {out}")
    rc, out = v.ctl("status", "extra")
    c.check("no such process" in out.lower(), f"extra gone: {out}")
    rc, out = v.ctl("add", "extra")
    c.check("extra: added process group" in out, f"add: {out}")
    rc, out = v.ctl("add", "extra")
    c.check("ERROR: process group already active" in out, f"add twice: {out}")
    rc, out = v.ctl("add", "nope")
    c.check("ERROR: no such process/group: nope" in out, f"add unknown: {out}")

    rc, out = v.ctl("shutdown")
    c.check("Shut down" in out, f"shutdown: {out}")
    try:
        v.proc.wait(timeout=30)
        c.check(v.proc.returncode == 0, f"vigild exit status {v.proc.returncode}")
    except subprocess.TimeoutExpired:
        c.check(False, "vigild still running 30 s after shutdown")


if __name__ == "__main__":
    sys.exit(main())
