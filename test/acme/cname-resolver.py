#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A stand-in for the recursive resolver a CA validates through, in front of knot, over UDP only.

knot is authoritative and does not chase a CNAME into another zone: asked for
_acme-challenge.cname.example.test TXT it answers only the CNAME to cname.acme.test. A recursive
resolver would go on and ask for the target; Pebble's VA relies on one and does not. This one
forwards each question to knot and, when the answer is a CNAME of the name asked for and no record
of the type asked for, asks knot for the target (at most 8 times) and adds those records to the
answer, with the final RCODE, as a resolver does. Everything else passes through as knot sent it
(a truncated answer too). Usage:
  cname-resolver.py UPSTREAM_PORT PORT_FILE   (the kernel chooses the port; written to PORT_FILE)
"""
import os
import socket
import struct
import sys

UPSTREAM = ("127.0.0.1", int(sys.argv[1]))
PORT_FILE = sys.argv[2]
TYPE_CNAME = 5


def read_name(msg, pos):
    """(labels, the offset after the name) for the possibly compressed name at pos."""
    labels, end, jumps = [], None, 0
    while True:
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            jumps += 1
            if jumps > 64:
                raise ValueError("pointer loop")
            if end is None:
                end = pos + 2
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            continue
        pos += 1
        if n == 0:
            return labels, end if end is not None else pos
        labels.append(msg[pos:pos + n])
        pos += n


def wire(labels):
    return b"".join(bytes([len(x)]) + x for x in labels) + b"\0"


def parse(msg):
    """(rcode, flags, question bytes, qname labels, qtype, answer records as uncompressed bytes,
    [(owner, type, target labels or None)])."""
    flags, qd, an = struct.unpack(">HHH", msg[2:8])
    qname, pos = read_name(msg, 12)
    qtype = struct.unpack(">H", msg[pos:pos + 2])[0]
    question = msg[12:pos + 4]
    pos += 4
    records, info = [], []
    for _ in range(an):
        owner, pos = read_name(msg, pos)
        rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        rdata, target = msg[pos:pos + rdlen], None
        if rtype == TYPE_CNAME:
            target = read_name(msg, pos)[0]
            rdata = wire(target)
        pos += rdlen
        records.append(wire(owner) + struct.pack(">HHIH", rtype, rclass, ttl, len(rdata)) + rdata)
        info.append(([x.lower() for x in owner], rtype, target))
    return flags & 0xF, flags, question, qname, qtype, records, info


def ask(query):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query, UPSTREAM)
        return s.recvfrom(65535)[0]


def chase(query, answer):
    rcode, flags, question, qname, qtype, records, info = parse(answer)
    if qtype == TYPE_CNAME or flags & 0x0200:
        return answer
    end, chased = [x.lower() for x in qname], False
    for _ in range(8):
        targets = [t for o, ty, t in info if ty == TYPE_CNAME and o == end]
        if not targets or any(o == end and ty == qtype for o, ty, t in info):
            break
        end = [x.lower() for x in targets[0]]
        q = query[:2] + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + wire(end) + struct.pack(">HH", qtype, 1)
        rcode, _, _, _, _, more, more_info = parse(ask(q))
        records += more
        info += more_info
        chased = True
    if not chased:
        return answer
    header = query[:2] + struct.pack(">HHHHH", (flags & ~0xF) | rcode, 1, len(records), 0, 0)
    return header + question + b"".join(records)


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    tmp = PORT_FILE + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(s.getsockname()[1]))
    os.rename(tmp, PORT_FILE)
    while True:
        query, peer = s.recvfrom(65535)
        try:
            s.sendto(chase(query, ask(query)), peer)
        except (OSError, ValueError, IndexError, struct.error):
            pass  # no answer: the client asks again or gives up, as with a resolver that is down


main()
