#!/usr/bin/env python3
"""A dump-metadata capture (JSON, format ec2-netcfg-metadata/1) as the flat file
bench/imds_server.c reads, so that the C server needs no JSON parser:

    "ec2-netcfg-imds-paths/1\\n", then per path "PATH_LEN BODY_LEN\\n" PATH BODY

lengths in bytes. A body is UTF-8 (what tests/tools/imds_emulator.py sends). A path is
latin-1, as that emulator compares it with the request line decoded as latin-1; a path
that has no latin-1 spelling can never be asked for and is left out.

    imds_paths.py CAPTURE.json OUT
"""
import json
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        paths = json.load(f)["paths"]
    out = [b"ec2-netcfg-imds-paths/1\n"]
    for path, body in paths.items():
        if not isinstance(body, str):
            sys.exit("%s: the body of %r is not a string" % (sys.argv[1], path))
        try:
            p = path.encode("latin-1")
        except UnicodeEncodeError:
            continue
        b = body.encode()
        out += [b"%d %d\n" % (len(p), len(b)), p, b]
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"".join(out))
    os.rename(tmp, sys.argv[2])


if __name__ == "__main__":
    main()
