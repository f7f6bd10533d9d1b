"""What vigild tells its children, as supervisord does: SUPERVISOR_ENABLED,
SUPERVISOR_PROCESS_NAME, SUPERVISOR_GROUP_NAME and SUPERVISOR_SERVER_URL
(unix:// of [unix_http_server], else http:// of [inet_http_server]; a
program's own `serverurl` wins), and a listener on supervisor.childutils
that calls vigild back with getRPCInterface(os.environ), as superlance's
httpok and memmon do: over the Unix socket, and over TCP with the
credentials it is given in SUPERVISOR_USERNAME/_PASSWORD. Also vigilctl
reaching [inet_http_server] through [supervisorctl] serverurl = http://…
with username and password, and refused with wrong ones. 127.0.0.1 only."""
import os
import subprocess
import sys
import xmlrpc.client

from inet_test import free_port
from vigild_fixture import CRASHER_AND_LAZY, Checks, Vigild

HERE = os.path.dirname(os.path.abspath(__file__))
VIGILCTL = os.environ.get("VIGILCTL", "vigilctl")


def vigilctl(*args):
    r = subprocess.run([VIGILCTL, *args], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def programs(out_dir, listener_env=""):
    return CRASHER_AND_LAZY + f"""
[program:envdump]
command = /usr/bin/python3 {HERE}/envdump.py {out_dir}/env-%(process_num)d.txt
numprocs = 2
process_name = envdump_%(process_num)d
notify = yes

[program:custom]
command = /usr/bin/python3 {HERE}/envdump.py {out_dir}/env-custom.txt
serverurl = http://127.0.0.1:1/RPC2
environment = SUPERVISOR_GROUP_NAME=mine
notify = yes

[group:dumpers]
programs = envdump

[eventlistener:watcher]
command = /usr/bin/python3 {HERE}/callback_listener.py {out_dir}/watcher.txt crasher lazy
events = PROCESS_STATE_FATAL
{listener_env}
"""


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = v
    return env


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def wait_ok(v, name, goal):
    try:
        v.wait(name, goal)
        return True
    except AssertionError as e:
        print("wait", name, goal, "failed:", e)
        return False


def crash_and_watch(c, v, out_dir, what):
    """crasher goes FATAL; the listener must call back and start lazy."""
    c.check(wait_ok(v, "watcher", "running"), f"{what}: the listener runs")
    try:
        v.proxy().supervisor.startProcess("crasher")
    except xmlrpc.client.Fault:
        pass  # SPAWN_ERROR: it exits at once, which is the point
    ok = wait_ok(v, "lazy", "running")
    noted = lines(os.path.join(out_dir, "watcher.txt"))
    c.check(ok, f"{what}: the listener started lazy over XML-RPC; it noted {noted}")
    c.check("info crasher FATAL" in noted, f"{what}: getProcessInfo through getRPCInterface: {noted}")
    return noted


def unix_socket_case(c):
    v = Vigild(programs=programs("%(here)s"))  # %(here)s: the instance's own directory
    out_dir = v.dir
    try:
        for n in (0, 1):
            c.check(wait_ok(v, f"envdump_{n}", "running"), f"envdump_{n} wrote its environment")
            env = read_env(os.path.join(out_dir, f"env-{n}.txt"))
            c.check(env.get("SUPERVISOR_ENABLED") == "1", f"SUPERVISOR_ENABLED: {env.get('SUPERVISOR_ENABLED')}")
            c.check(env.get("SUPERVISOR_PROCESS_NAME") == f"envdump_{n}",
                    f"SUPERVISOR_PROCESS_NAME: {env.get('SUPERVISOR_PROCESS_NAME')}")
            c.check(env.get("SUPERVISOR_GROUP_NAME") == "dumpers",
                    f"SUPERVISOR_GROUP_NAME ([group:dumpers]): {env.get('SUPERVISOR_GROUP_NAME')}")
            c.check(env.get("SUPERVISOR_SERVER_URL") == "unix://" + v.sock,
                    f"SUPERVISOR_SERVER_URL: {env.get('SUPERVISOR_SERVER_URL')}, want unix://{v.sock}")
            c.check(env.get("VIGIL_ENABLED") == "1", "VIGIL_ENABLED stays")
            c.check("SUPERVISOR_USERNAME" not in env, "no credentials are handed out")
        c.check(wait_ok(v, "custom", "running"), "custom wrote its environment")
        env = read_env(os.path.join(out_dir, "env-custom.txt"))
        c.check(env.get("SUPERVISOR_SERVER_URL") == "http://127.0.0.1:1/RPC2",
                f"serverurl wins: {env.get('SUPERVISOR_SERVER_URL')}")
        c.check(env.get("SUPERVISOR_GROUP_NAME") == "mine", "the program's environment wins, as in supervisord")
        c.check(env.get("SUPERVISOR_PROCESS_NAME") == "custom", "ungrouped: its own name")
        info = {i["name"]: i for i in v.proxy().supervisor.getAllConfigInfo()}
        c.check(info["custom"]["serverurl"] == "http://127.0.0.1:1/RPC2" and info["lazy"]["serverurl"] == "AUTO",
                f"getAllConfigInfo serverurl: {info['custom']['serverurl']} {info['lazy']['serverurl']}")
        noted = crash_and_watch(c, v, out_dir, "unix://")
        c.check(f"env 1 watcher watcher unix://{v.sock}" in noted, f"the listener's own environment: {noted}")
    finally:
        v.close()


def inet_case(c):
    port = free_port()
    extra = f"\n[inet_http_server]\nport = 127.0.0.1:{port}\nusername = admin\npassword = s3cret\n"
    v = Vigild(programs=programs("%(here)s", "environment = SUPERVISOR_USERNAME=admin,SUPERVISOR_PASSWORD=s3cret"),
               extra=extra, unix_http=False)
    out_dir = v.dir
    try:
        c.check(wait_ok(v, "envdump_0", "running"), "envdump_0 wrote its environment")
        env = read_env(os.path.join(out_dir, "env-0.txt"))
        c.check(env.get("SUPERVISOR_SERVER_URL") == f"http://127.0.0.1:{port}",
                f"no [unix_http_server]: [inet_http_server]'s URL: {env.get('SUPERVISOR_SERVER_URL')}")
        crash_and_watch(c, v, out_dir, "http:// with credentials")

        # vigilctl through a client-only config, as supervisorctl reads one.
        def ctl_conf(password):
            path = os.path.join(out_dir, f"ctl-{password}.conf")
            with open(path, "w") as f:
                f.write(f"[supervisorctl]\nserverurl = http://127.0.0.1:{port}\nusername = admin\n"
                        f"password = {password}\n")
            return path

        rc, out = vigilctl("-c", ctl_conf("s3cret"), "status", "lazy")
        c.check(rc == 0 and "RUNNING" in out, f"vigilctl over [supervisorctl] serverurl = http://: {rc} {out}")
        rc, out = vigilctl("-c", ctl_conf("wrong"), "status")
        c.check(rc == 1 and "authentication failed" in out, f"vigilctl with a wrong password: {rc} {out}")
        rc, out = vigilctl("-s", f"http://127.0.0.1:{port}", "-u", "admin", "-p", "s3cret", "pid", "lazy")
        c.check(rc == 0 and out.strip().isdigit(), f"vigilctl -s http://… -u -p: {rc} {out}")
        rc, out = vigilctl("-s", f"http://127.0.0.1:{port}", "status")
        c.check(rc == 1 and "authentication failed" in out, f"vigilctl without credentials: {rc} {out}")
        rc, out = vigilctl("-s", f"unix://{v.sock}", "status", "lazy")
        c.check(rc == 0 and "RUNNING" in out, f"vigilctl -s unix://…: {rc} {out}")
    finally:
        v.close()


def main():
    c = Checks()
    unix_socket_case(c)
    inet_case(c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
