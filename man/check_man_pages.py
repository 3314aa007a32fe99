#!/usr/bin/env python3
"""test_man_pages: the man pages say what the program does, no more and no less.

    check_man_pages.py BINARY PATH/ec2-netcfg.8 PATH/ec2-netcfg.conf.5

`BINARY --help` is the reference: its commands, its options (with their arguments), the
environment variables it names, and the configuration key table it prints (section, key,
default), which is src/core/config.cc's one table of keys. ec2-netcfg(8) must have a
COMMANDS entry for every command and an OPTIONS entry for every option, exactly as --help
spells them, and no entry --help lacks; ec2-netcfg.conf(5) an entry for every key under
its section, with its default, and no key the table lacks. Both pages carry the version
`BINARY --version` prints, and man(1) renders them without a warning.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def plain(text):
    """Roff text to what a reader sees: no font escapes, \\- as -, quotes as quotes."""
    text = re.sub(r"\\f(\[[A-Z]*\]|[BIRP])", "", text)
    for esc, ch in (("\\-", "-"), ("\\(lq", '"'), ("\\(rq", '"'), ("\\(aq", "'"), ("\\&", ""), ("\\ ", " ")):
        text = text.replace(esc, ch)
    return text


def macro_text(line):
    """The text one man(7) macro line shows: .B/.I join their words with spaces, the
    alternating macros (.BR, .BI, .IR, ...) join theirs without."""
    if not line.startswith("."):
        return plain(line)
    name, _, rest = line[1:].partition(" ")
    try:
        words = shlex.split(rest.replace("\\\"", "\x00"), posix=True)
    except ValueError:
        words = rest.split()
    words = [w.replace("\x00", '"') for w in words]
    joiner = " " if name in ("B", "I", "SM", "SB") else ""
    return plain(joiner.join(words))


def sections(path):
    """{section title: [lines]} of a roff page (comments dropped)."""
    out, cur = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line.startswith('.\\"'):
                continue
            if line.startswith(".SH"):
                cur = plain(line[3:].strip().strip('"'))
                out[cur] = []
            elif cur is not None:
                out[cur].append(line)
    return out


def entries(lines):
    """[(tag, body)] of the .TP entries in a section: the tag line's text, the body's text."""
    out = []
    i = 0
    while i < len(lines):
        if lines[i].startswith(".TP") and i + 1 < len(lines):
            tag = macro_text(lines[i + 1]).strip()
            body = []
            i += 2
            while i < len(lines) and not lines[i].startswith((".TP", ".SH", ".SS", ".PP")):
                body.append(macro_text(lines[i]))
                i += 1
            out.append((tag, " ".join(body)))
        else:
            i += 1
    return out


def help_blocks(text):
    """{heading: [lines]} of the --help text ("Commands:", "Options:", ...)."""
    out, cur = {}, None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ()]{0,40}:$", line):
            cur = line[:-1]
            out[cur] = []
        elif not line.strip():
            cur = None
        elif cur is not None:
            out[cur].append(line)
    return out


def terms(lines):
    """The terms of a two-column help listing ("  --config FILE   text"), one per name:
    "-v, --verbose" gives "-v" and "--verbose". The text column starts where most lines
    have it (a term as long as the column is followed by a single space)."""
    starts = [m.end() - 1 for m in (re.match(r"^  \S.*?\s{2,}\S", l) for l in lines) if m]
    col = max(set(starts), key=starts.count) if starts else 0
    out = []
    for line in lines:
        if not re.match(r"^  \S", line):
            continue  # a continuation line of the text column
        term = line[2:col].rstrip() if col and len(line) > col and line[col - 1] == " " else line[2:].rstrip()
        out.extend(t.strip() for t in term.split(", "))
    return out


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    binary, page8, page5 = sys.argv[1:]
    help_text = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True).stdout
    version = subprocess.run([binary, "--version"], check=True, capture_output=True, text=True).stdout.split()[-1]
    blocks = help_blocks(help_text)
    commands = terms(blocks.get("Commands", []))
    options = terms(blocks.get("Options", []))
    keys = re.findall(r"^  \[([a-z]+)\] ([a-z0-9-]+) \(default (.*)\)$", help_text, re.M)
    env_vars = sorted(set(re.findall(r"\b(AWS_[A-Z0-9_]+)\b", help_text)))
    if not commands or not options or not keys:
        fail("could not read commands, options or keys from `%s --help`" % binary)
        return 1

    # ec2-netcfg(8)
    s8 = sections(page8)
    for want, title in ((commands, "COMMANDS"), (options, "OPTIONS")):
        have = []
        for tag, _ in entries(s8.get(title, [])):
            have.extend(t.strip() for t in tag.split(", "))
        for t in want:
            if t not in have:
                fail("%s: %s: no entry for `%s` (from --help)" % (page8, title, t))
        for t in have:
            if t not in want:
                fail("%s: %s: entry `%s` is not in --help" % (page8, title, t))
    env_tags = [tag for tag, _ in entries(s8.get("ENVIRONMENT", []))]
    for v in env_vars:
        if v not in env_tags:
            fail("%s: ENVIRONMENT: no entry for %s (named in --help)" % (page8, v))
    if "SYNOPSIS" in s8:
        synopsis = " ".join(macro_text(l) for l in s8["SYNOPSIS"])
        for c in commands:
            if c.split()[0] not in synopsis:
                fail("%s: SYNOPSIS lacks the command %s" % (page8, c.split()[0]))
    else:
        fail("%s: no SYNOPSIS" % page8)

    # ec2-netcfg.conf(5)
    s5 = sections(page5)
    have_keys = {}
    for title, lines in s5.items():
        m = re.match(r"^\[([a-z]+)\] SECTION$", title)
        if m:
            for tag, body in entries(lines):
                have_keys[(m.group(1), tag)] = body
    for section, key, default in keys:
        body = have_keys.get((section, key))
        if body is None:
            fail("%s: no entry for [%s] %s (a key of the configuration table)" % (page5, section, key))
            continue
        m = re.search(r"Default: (\S+?)[.,]?(?:\s|$)", body)
        if not m:
            fail("%s: [%s] %s: no \"Default:\" in its entry" % (page5, section, key))
        elif not default.startswith("(") and m.group(1) != default:
            fail("%s: [%s] %s: says default %s, the table says %s" % (page5, section, key, m.group(1), default))
    for section, key in have_keys:
        if not any(s == section and k == key for s, k, _ in keys):
            fail("%s: [%s] %s is not a key of the configuration table" % (page5, section, key))

    # Version, and rendering without warnings.
    for page in (page8, page5):
        with open(page, encoding="utf-8") as f:
            th = next((l for l in f if l.startswith(".TH")), "")
        if version not in th:
            fail("%s: .TH does not carry version %s: %s" % (page, version, th.strip()))
        if shutil.which("man"):
            env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANROFFSEQ="")
            r = subprocess.run(["man", "--warnings", "-l", page], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            if r.returncode != 0 or r.stderr.strip():
                fail("%s: man --warnings -l: status %d: %s" % (page, r.returncode, r.stderr.strip()))
        elif shutil.which("groff"):
            r = subprocess.run(["groff", "-man", "-ww", "-z", page], stderr=subprocess.PIPE, text=True)
            if r.returncode != 0 or r.stderr.strip():
                fail("%s: groff -man -ww -z: %s" % (page, r.stderr.strip()))
        else:
            print("note: neither man nor groff installed: %s not rendered" % page)

    if failures:
        return 1
    print("ok: %d commands, %d options, %d environment variables, %d keys documented; pages render cleanly"
          % (len(commands), len(options), len(env_vars), len(keys)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
