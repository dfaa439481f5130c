"""Hand-built GRE, EoIP, IPIP and 6to4 packets into routerd's underlay; its answers,
captured on the same underlay, parsed with scapy. Run inside the peer namespace:

    scapy_tunnels.py IFACE LOCAL REMOTE REMOTE_MAC EOIP_MAC

LOCAL is this namespace's underlay address, REMOTE routerd's. Prints one "ok KIND" or
"FAIL KIND: why" line per tunnel kind."""
import struct
import sys
import time

from scapy.all import (GRE, ICMP, IP, IPv6, AsyncSniffer, Ether, ICMPv6EchoReply,
                       ICMPv6EchoRequest, Raw, conf, get_if_hwaddr, sendp)

iface, local, remote, remote_mac, eoip_mac = sys.argv[1:6]
conf.verb = 0
own = get_if_hwaddr(iface)
lan_mac = "02:00:00:00:00:42"
EOIP_ID = 77


def outer(proto):
    return Ether(src=own, dst=remote_mac) / IP(src=local, dst=remote, proto=proto, ttl=64)


def eoip(frame):
    b = bytes(frame)
    return Raw(struct.pack(">HHH", 0x2001, 0x6400, len(b)) + struct.pack("<H", EOIP_ID) + b)


sent = {
    "gre": outer(47) / GRE(proto=0x0800) / IP(src="198.19.1.2", dst="198.19.1.1") / ICMP(id=1, seq=1) / b"gre",
    "gre-csum-seq": outer(47) / GRE(chksum_present=1, seqnum_present=1, sequence_number=5, proto=0x0800)
    / IP(src="198.19.1.2", dst="198.19.1.1") / ICMP(id=2, seq=1) / b"gre with C and S",
    "ipip": outer(4) / IP(src="198.19.2.2", dst="198.19.2.1") / ICMP(id=3, seq=1) / b"ipip",
    "eoip": outer(47) / eoip(Ether(src=lan_mac, dst=eoip_mac) / IP(src="198.19.4.2", dst="198.19.4.1")
                             / ICMP(id=4, seq=1) / b"eoip"),
    "6to4": outer(41) / IPv6(src="2002:c612:2::", dst="2002:c612:1::") / ICMPv6EchoRequest(id=5, seq=1, data=b"6to4"),
}

sniffer = AsyncSniffer(iface=iface, filter="ip src host %s" % remote, store=True)
sniffer.start()
time.sleep(1)
for p in sent.values():
    sendp(p, iface=iface)
    time.sleep(0.2)
time.sleep(1.5)
got = sniffer.stop()


def answer(kind, p):
    """Returns the kind p answers (an echo reply carried as that kind), or None."""
    if IP not in p or p[IP].src != remote or p[IP].dst != local:
        return None
    ip = p[IP]
    if ip.proto == 47 and GRE in p:
        g = p[GRE]
        if g.proto == 0x0800 and ICMP in g and g[ICMP].type == 0:
            return {1: "gre", 2: "gre-csum-seq"}.get(g[ICMP].id)
        if bytes(ip.payload)[:4] == struct.pack(">HH", 0x2001, 0x6400):
            raw = bytes(ip.payload)
            length, = struct.unpack(">H", raw[4:6])
            tid, = struct.unpack("<H", raw[6:8])
            inner = Ether(raw[8:])
            if tid != EOIP_ID or length != len(raw) - 8:
                print("FAIL eoip: header id %d length %d for %d bytes" % (tid, length, len(raw) - 8))
                return None
            if ICMP in inner and inner[ICMP].type == 0 and inner[ICMP].id == 4 and inner[Ether].dst == lan_mac:
                return "eoip"
    if ip.proto == 4 and ICMP in p and p[ICMP].type == 0 and p[ICMP].id == 3:
        return "ipip"
    if ip.proto == 41 and IPv6 in p and ICMPv6EchoReply in p and p[ICMPv6EchoReply].id == 5:
        return "6to4"
    return None


seen = set()
for p in got:
    k = answer(None, p)
    if k:
        seen.add(k)
for k in sent:
    print("ok " + k if k in seen else "FAIL %s: no answer parsed" % k)
