#!/usr/bin/env python3
"""Writes a man page from a page header in docs/man and the docs it includes.

    md2man.py PAGE.md OUT [--help-from BINARY] [--version V]   (OUT.gz: gzip -9n, as Debian ships them)

The man pages are generated from docs/, not written beside them, so they
cannot drift: PAGE.md holds what a man page has and the docs do not (NAME,
SYNOPSIS, FILES, SEE ALSO) and `{{include FILE.md}}` lines for the rest;
`{{help}}` is replaced by the output of `BINARY --help`.

Only the Markdown the docs use is understood: ATX headings, paragraphs,
`-`/`1.` lists, `term` / `: meaning` definitions, fenced code, pipe tables (rendered as tagged paragraphs, a
table's first column the tag: tbl would overflow 80 columns with the docs'
long cells) and inline code, bold, italics and links.
"""
import argparse
import datetime
import gzip
import os
import re
import subprocess
import sys


def escape(text):
    """Roff-safe text: backslashes and hyphens; a leading dot or quote is not a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return text


def inline(text):
    """Markdown inline markup to roff font changes."""
    out = []
    pos = 0
    # `code`, **bold**, *em* / _em_, [text](target)
    pattern = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|"
                         r"(?<![\w])_(?!\s)(.+?)(?<!\s)_(?![\w])|\[([^\]]+)\]\(([^)]+)\)")
    for m in pattern.finditer(text):
        out.append(escape(text[pos:m.start()]))
        code, bold, em, em2, link_text, target = m.groups()
        if code is not None:
            # \: lets a long JSON or URL span break after a comma or slash.
            out.append("\\fB" + re.sub(r"([,/])", r"\1\\:", escape(code)) + "\\fR")
        elif bold is not None:
            out.append("\\fB" + inline_plain(bold) + "\\fR")
        elif em is not None or em2 is not None:
            out.append("\\fI" + inline_plain(em if em is not None else em2) + "\\fR")
        else:
            out.append(inline(link_text))
            if target.startswith("http"):
                out.append(" <" + escape(target) + ">")
            elif not target.startswith("#"):
                # Another doc: name the file a reader can open.
                path = target.split("#")[0]
                path = path[3:] if path.startswith("../") else "docs/" + path
                if path != inline_plain(link_text):
                    out.append(" (" + escape(path) + ")")
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def inline_plain(text):
    """Inline markup inside a font change: code spans lose their backquotes."""
    return escape(text.replace("`", ""))


def text_line(roff):
    """A line of running text; one starting with . or ' would be a request."""
    return "\\&" + roff if roff[:1] in (".", "'") else roff


def cells(row):
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    parts = re.split(r"(?<!\\)\|", row)
    return [p.strip().replace("\\|", "|") for p in parts]


def convert(lines, base_level):
    """Markdown lines to roff; `#` at base_level becomes .SH, deeper .SS."""
    out = []
    i = 0
    para = []

    def flush():
        if para:
            out.append(".PP")
            # Joined first: a code span may go on over a line break.
            out.append(text_line(inline(" ".join(para))))
            para.clear()

    while i < len(lines):
        line = lines[i].rstrip("\n")
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            out.append(".PP")
            out.append(".nf")
            out.append(".RS 4")
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                out.append(text_line(escape(lines[i].rstrip("\n"))))
                i += 1
            out.append(".RE")
            out.append(".fi")
            i += 1
            continue
        heading = re.match(r"^(#+)\s+(.*)$", line)
        if heading:
            flush()
            level = len(heading.group(1))
            title = inline_plain(heading.group(2))
            out.append((".SH " if level <= base_level else ".SS ") + '"' + (title.upper() if level <= base_level else title) + '"')
            i += 1
            continue
        if stripped.startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|[\s:|-]+\|\s*$", lines[i + 1]):
            flush()
            i += 2  # the header row names the columns; the rows stand alone
            while i < len(lines) and lines[i].strip().startswith("|"):
                row = cells(lines[i])
                out.append(".TP")
                out.append(text_line(inline(row[0])))
                out.append(text_line(inline(" \u2014 ".join(c for c in row[1:] if c))))
                i += 1
            continue
        if stripped and i + 1 < len(lines) and lines[i + 1].startswith(": "):
            flush()  # a definition list: the term, then ": its meaning"
            out.append(".TP")
            out.append(text_line(inline(stripped)))
            out.append(text_line(inline(lines[i + 1][2:].strip())))
            i += 2
            continue
        item = re.match(r"^(\s*)([-*]|\d+\.)\s+(.*)$", line)
        if item:
            flush()
            bullet = "\\(bu" if item.group(2) in ("-", "*") else item.group(2)
            text = [item.group(3)]
            i += 1
            # Continuation lines of the item are indented.
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip() and \
                    not re.match(r"^\s*([-*]|\d+\.)\s+", lines[i]):
                text.append(lines[i].strip())
                i += 1
            out.append(".IP " + bullet + " 4")
            out.append(text_line(inline(" ".join(text))))
            continue
        if not stripped:
            flush()
            i += 1
            continue
        para.append(stripped)
        i += 1
    flush()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("page")
    ap.add_argument("out")
    ap.add_argument("--help-from")
    ap.add_argument("--version", default="")
    args = ap.parse_args()

    name = os.path.basename(args.page)[:-3]  # vigilctl.1
    title, section = name.rsplit(".", 1)
    here = os.path.dirname(os.path.abspath(args.page))
    lines = []
    with open(args.page, encoding="utf-8") as f:
        for line in f:
            inc = re.match(r"^\{\{include (.+)\}\}\s*$", line)
            if inc:
                with open(os.path.join(here, inc.group(1)), encoding="utf-8") as g:
                    included = g.readlines()
                # The doc's own title is the man page's NAME; its sections sit
                # under the page's.
                if included and included[0].startswith("# "):
                    included = included[1:]
                lines.extend(re.sub(r"^(#+)#", r"\1", l) if l.startswith("##") else l for l in included)
            elif line.strip() == "{{help}}":
                if not args.help_from:
                    sys.exit(f"{args.page}: {{{{help}}}} needs --help-from")
                r = subprocess.run([args.help_from, "--help"], capture_output=True, text=True)
                lines.append("```\n")
                lines.extend(l + "\n" for l in (r.stdout + r.stderr).rstrip("\n").split("\n"))
                lines.append("```\n")
            else:
                lines.append(line)

    date = datetime.datetime.utcfromtimestamp(
        int(os.environ.get("SOURCE_DATE_EPOCH", os.path.getmtime(args.page)))).strftime("%Y-%m-%d")
    head = [
        f'.TH {title.upper()} {section} {date} "vigil {args.version}" "vigil"',
        ".ad l",  # ragged right: long code spans cannot be justified
        ".nh",
        ".\\\" Generated by docs/man/md2man.py from " + os.path.basename(args.page) + " and docs/: edit those.",
    ]
    body = convert(lines, 1)
    page = ("\n".join(head + body) + "\n").encode("utf-8")
    if args.out.endswith(".gz"):
        with open(args.out, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as z:
            z.write(page)
    else:
        with open(args.out, "wb") as f:
            f.write(page)


if __name__ == "__main__":
    main()
