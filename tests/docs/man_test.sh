#!/usr/bin/env bash
# The generated man pages render without a groff warning, and the docs they
# are generated from are in step with the binaries: every verb of `vigilctl
# --help` has a row in docs/control.md, every option of vigil-proxy and
# vigild is described in the docs.
#
#   man_test.sh MAN_DIR SOURCE_DIR VIGILCTL VIGILD VIGIL_PROXY
# Exit 77 (SKIPPED) without man-db.
set -uo pipefail
man_dir=$1 src=$2 vigilctl=$3 vigild=$4 proxy=$5
command -v man >/dev/null || { echo "SKIPPED: man (man-db) is not installed; scripts/setup.sh installs it"; exit 77; }

failed=0
fail() { echo "FAIL: $*"; failed=1; }

pages=(vigilctl.1 vigild.8 vigil-proxy.8 vigil.ini.5)
for p in "${pages[@]}"; do
  f=$man_dir/$p.gz
  [ -s "$f" ] || { fail "$f was not generated"; continue; }
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
  [ -z "$warnings" ] || fail "$p: groff warnings: $warnings"
  text=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$f" 2>/dev/null)
  name=${p%.*}
  grep -q "^NAME" <<<"$text" && grep -q "^       $name - " <<<"$text" || fail "$p: no NAME line for $name"
  grep -q "^SEE ALSO" <<<"$text" || fail "$p: no SEE ALSO"
  # No raw Markdown left over: bold markers, table rules, link syntax.
  left=$(grep -nE '\*\*|\| *--- *\||\]\(' <<<"$text" | head -3)
  [ -z "$left" ] || fail "$p: Markdown left in the page: $left"
done

# Every verb vigilctl knows is documented (a row of the verbs table).
verbs=$("$vigilctl" --help 2>&1 | awk '/^verbs:/ {on=1; next} /^exit codes/ {on=0} on && /^  [a-z]/ {print $1}' |
        tr '|' '\n' | sort -u)
[ -n "$verbs" ] || fail "no verbs in vigilctl --help"
for v in $verbs; do
  grep -qE "^\| \`([a-z|\\\\]*\\|)?$v[ \`|\\\\]" "$src/docs/control.md" || fail "vigilctl verb '$v' has no row in docs/control.md"
done

# Every long option of vigil-proxy is described in docs/proxy.md; vigild's in the docs.
for o in $("$proxy" --help 2>&1 | grep -o -- '--[a-z-]*' | sort -u); do
  grep -q -- "$o" "$src/docs/proxy.md" || fail "vigil-proxy $o is not in docs/proxy.md"
done
for o in $("$vigild" --help 2>&1 | grep -o -- '--[a-z-]*' | sort -u); do
  grep -rq -- "$o" "$src/docs" || fail "vigild $o is not in docs/"
done

[ $failed = 0 ] && echo "ok: ${#pages[@]} pages render cleanly; $(wc -w <<<"$verbs") verbs documented"
exit $failed
