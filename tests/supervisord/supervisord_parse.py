"""supervisord_parse.py FILE [--fragment]: reads FILE with supervisord's own
parser (supervisor.options.ServerOptions.realize, as `supervisord -c FILE`
does before it starts anything) and prints how many processes it defines.
A fragment (no [supervisord]) is read through a main config that includes
it. Exits 2 with supervisord's message when supervisord refuses the file."""
import os
import sys
import tempfile

from supervisor.options import ServerOptions


def main():
    path = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        if "--fragment" in sys.argv[2:]:
            main_conf = os.path.join(tmp, "supervisord.conf")
            with open(main_conf, "w") as f:
                f.write("[supervisord]\nchildlogdir = %s\n[include]\nfiles = %s\n" % (tmp, path))
            path = main_conf
        options = ServerOptions()
        options.realize(args=["-c", path])
        for warning in options.parse_warnings:
            print("supervisord warning:", warning, file=sys.stderr)
        print(sum(len(g.process_configs) for g in options.process_group_configs))


main()
