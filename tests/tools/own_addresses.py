#!/usr/bin/env python3
"""Lists the addresses carrying IFA_PROTO 236 (ec2-netcfg's mark) in this network
namespace, sorted, one per line: "IFNAME ADDR/LEN" or, with --detail,
"addr IFNAME ADDR/LEN scope N preferred P". Debian 12's iproute2 (6.1) neither sets nor
shows IFA_PROTO, so this asks the kernel itself over rtnetlink (RTM_GETADDR dump)."""
import socket
import struct
import sys

IFA_ADDRESS, IFA_LOCAL, IFA_CACHEINFO, IFA_PROTO = 1, 2, 6, 11
OWN = 236


def main():
    detail = "--detail" in sys.argv[1:]
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.bind((0, 0))
    # nlmsghdr (RTM_GETADDR=22, NLM_F_REQUEST|NLM_F_DUMP) + ifaddrmsg (AF_UNSPEC)
    s.send(struct.pack("=IHHII", 24, 22, 0x301, 1, 0) + struct.pack("=BBBBI", 0, 0, 0, 0, 0))
    names = {i: n for i, n in socket.if_nameindex()}
    out, done = [], False
    while not done:
        data = s.recv(1 << 16)
        off = 0
        while off + 16 <= len(data):
            ln, typ = struct.unpack_from("=IH", data, off)
            if typ in (2, 3):  # NLMSG_ERROR, NLMSG_DONE
                done = True
                break
            fam, plen, _flags, scope, idx = struct.unpack_from("=BBBBI", data, off + 16)
            a, proto, local, preferred = off + 24, None, None, None
            while a + 4 <= off + ln:
                alen, atyp = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                val = data[a + 4:a + alen]
                if atyp == IFA_PROTO:
                    proto = val[0]
                elif atyp == IFA_LOCAL or (atyp == IFA_ADDRESS and local is None):
                    local = socket.inet_ntop(fam, val)
                elif atyp == IFA_CACHEINFO:
                    preferred = struct.unpack_from("=I", val)[0]
                a += (alen + 3) & ~3
            if proto == OWN:
                name = names.get(idx, idx)
                if detail:
                    out.append("addr %s %s/%d scope %d preferred %s" % (
                        name, local, plen, scope, "forever" if preferred == 0xFFFFFFFF else preferred))
                else:
                    out.append("%s %s/%d" % (name, local, plen))
            off += (ln + 3) & ~3
    print("\n".join(sorted(out)))


if __name__ == "__main__":
    main()
