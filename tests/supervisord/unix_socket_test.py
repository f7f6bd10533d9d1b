"""[unix_http_server] as supervisord has it: chown and chmod decide who may
connect (vigild admits the users the file's permissions admit, not only
root and its own user), and username/password ask HTTP basic auth on the
socket as well: supervisorctl and vigilctl pass with [supervisorctl]'s
credentials and are refused without them, and a childutils listener calls
back with SUPERVISOR_USERNAME/_PASSWORD from its environment. Needs root
(to own the socket as another user and connect as others): else SKIPPED."""
import os
import pwd
import grp
import shutil
import stat
import subprocess
import sys

from vigild_fixture import PROGRAMS, SKIP, Checks, Vigild
from children_test import HERE, crash_and_watch, vigilctl

CALL = (b"<?xml version='1.0'?><methodCall><methodName>supervisor.getState</methodName>"
        b"<params/></methodCall>")

# Run as another user: connect, send one request, print the status line
# (or "connect ERRNO" when the kernel refuses the connection).
CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect", e.errno)
    sys.exit(0)
body = sys.argv[3].encode()
auth = sys.argv[2].encode()
s.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/xml\r\n" +
          (b"Authorization: Basic " + auth + b"\r\n" if auth else b"") +
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.split(b"\r\n")[0].decode())
"""


def as_user(user, group, sock, auth):
    import base64
    token = base64.b64encode(auth.encode()).decode() if auth else ""
    r = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups", "/usr/bin/python3",
                        "-c", CLIENT, sock, token, CALL.decode()], capture_output=True, text=True, timeout=60)
    return (r.stdout + r.stderr).strip()


def main():
    if os.geteuid() != 0:
        print("SKIPPED: needs root (a socket owned by another user, clients as other users)")
        return SKIP
    if not shutil.which("setpriv"):
        print("SKIPPED: setpriv (util-linux) is missing")
        return SKIP
    for user in ("nobody", "daemon", "bin"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            print(f"SKIPPED: no user {user}")
            return SKIP
    listener = f"""
[eventlistener:watcher]
command = /usr/bin/python3 {HERE}/callback_listener.py %(here)s/watcher.txt crasher lazy
events = PROCESS_STATE_FATAL
environment = SUPERVISOR_USERNAME=admin,SUPERVISOR_PASSWORD=s3cret
"""
    v = Vigild(programs=PROGRAMS + listener, auth=("admin", "s3cret"), chmod="0760", chown="nobody:daemon",
               dir_mode=0o755)
    c = Checks()
    try:
        st = os.stat(v.sock)
        c.check(stat.S_IMODE(st.st_mode) == 0o760, f"chmod = 0760: {oct(stat.S_IMODE(st.st_mode))}")
        c.check(pwd.getpwuid(st.st_uid).pw_name == "nobody", f"chown user: {st.st_uid}")
        c.check(grp.getgrgid(st.st_gid).gr_name == "daemon", f"chown group: {st.st_gid}")

        # Who may connect: as the file says.
        out = as_user("nobody", "nogroup", v.sock, "admin:s3cret")
        c.check(" 200 " in out + " ", f"nobody (the owner, rw) is served: {out}")
        out = as_user("daemon", "daemon", v.sock, "admin:s3cret")
        c.check(" 200 " in out + " ", f"daemon (the group, rw) is served: {out}")
        out = as_user("bin", "bin", v.sock, "admin:s3cret")
        c.check(out.startswith("connect 13"), f"bin (others, no bits) cannot connect: {out}")
        out = as_user("nobody", "nogroup", v.sock, "")
        c.check(" 401 " in out + " ", f"nobody without credentials: {out}")

        # supervisorctl: [supervisorctl]'s credentials, or none.
        rc, out = v.ctl("status", "sleeper")
        c.check("RUNNING" in out, f"supervisorctl -c (with [supervisorctl] username/password): {rc} {out}")
        r = subprocess.run(["/usr/bin/supervisorctl", "-s", "unix://" + v.sock, "status"], capture_output=True,
                           text=True, timeout=60)
        out = r.stdout + r.stderr
        c.check("401" in out or "authentication" in out.lower(), f"supervisorctl without credentials: {out}")

        rc, out = vigilctl("-c", v.conf, "status", "sleeper")
        c.check(rc == 0 and "RUNNING" in out, f"vigilctl -c (with [supervisorctl] username/password): {rc} {out}")
        rc, out = vigilctl("-s", v.sock, "status")
        c.check(rc == 1 and "authentication failed" in out, f"vigilctl without credentials: {rc} {out}")
        rc, out = vigilctl("-s", v.sock, "-u", "admin", "-p", "nope", "status")
        c.check(rc == 1 and "authentication failed" in out, f"vigilctl with a wrong password: {rc} {out}")
        rc, out = vigilctl("-s", v.sock, "-u", "admin", "-p", "s3cret", "status", "sleeper")
        c.check(rc == 0 and "RUNNING" in out, f"vigilctl -u -p: {rc} {out}")

        # A childutils listener with the credentials in its environment.
        crash_and_watch(c, v, v.dir, "unix:// with credentials")
    finally:
        v.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
