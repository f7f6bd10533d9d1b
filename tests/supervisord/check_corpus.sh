#!/bin/sh
# check_corpus.sh VIGILD FILE [--fragment]: FILE must be accepted by
# supervisord's own parser and by `vigild --check`, and both must count the
# same processes. Exits 77 (SKIPPED) when Debian's supervisor package is
# missing.
set -u
vigild=$1
file=$2
shift 2
here=$(dirname "$0")
if ! /usr/bin/python3 -c 'import supervisor.options' 2>/dev/null; then
    echo "SKIPPED: Debian's supervisor package (python3 supervisor.options) is not installed"
    exit 77
fi
CORPUS_TMP=$(mktemp -d)
export CORPUS_TMP
trap 'rm -rf "$CORPUS_TMP"' EXIT

if ! supervisord_count=$(/usr/bin/python3 "$here/supervisord_parse.py" "$file" "$@"); then
    echo "FAIL: supervisord refuses $file"
    exit 1
fi
if ! vigild_out=$("$vigild" --check -c "$file" 2>&1); then
    echo "$vigild_out"
    echo "FAIL: vigild --check refuses $file"
    exit 1
fi
echo "$vigild_out"
vigild_count=$(echo "$vigild_out" | sed -n 's/.* is valid (\([0-9]*\) processes.*/\1/p')
if [ "$supervisord_count" != "$vigild_count" ]; then
    echo "FAIL: supervisord reads $supervisord_count processes, vigild $vigild_count"
    exit 1
fi
echo "ok: supervisord and vigild both accept $file ($vigild_count processes)"
