#!/usr/bin/python3
# Interop check for ike/esp against scapy's independent ESP implementation
# (scapy.layers.ipsec.SecurityAssociation). Reads cases from argv[1] (JSON): for each, decrypts
# the ESP packets routerd sealed and checks the inner packet, then seals its own packets for
# routerd to open. Writes results to argv[2].
import json, sys
from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import SecurityAssociation, ESP
from scapy.packet import Raw

CRYPT = {"aes-128-gcm": "AES-GCM", "aes-192-gcm": "AES-GCM", "aes-256-gcm": "AES-GCM",
         "chacha20poly1305": "CHACHA20-POLY1305", "aes-128-cbc": "AES-CBC", "aes-192-cbc": "AES-CBC",
         "aes-256-cbc": "AES-CBC", "aes-128-ctr": "AES-CTR", "aes-192-ctr": "AES-CTR",
         "aes-256-ctr": "AES-CTR", "3des": "3DES", "null": "NULL"}
AUTH = {"": None, "null": None, "md5": "HMAC-MD5-96", "sha1": "HMAC-SHA1-96", "sha256": "SHA2-256-128",
        "sha384": "SHA2-384-192", "sha512": "SHA2-512-256"}

cases = json.load(open(sys.argv[1]))
out = []
for c in cases:
    kw = dict(spi=c["spi"], crypt_algo=CRYPT[c["enc"]], crypt_key=bytes.fromhex(c["enckey"]),
              esn_en=c["esn"], esn=c["esn_hi"])
    if AUTH[c["auth"]]:
        kw.update(auth_algo=AUTH[c["auth"]], auth_key=bytes.fromhex(c["authkey"]))
    tunnel = c["mode"] == "tunnel"
    if tunnel:
        kw["tunnel_header"] = IP(src=c["src"], dst=c["dst"])
    if c["udp"]:
        kw["nat_t_header"] = UDP(sport=4500, dport=4500)
    sa = SecurityAssociation(ESP, **kw)
    res = {"name": c["name"], "decrypted": [], "sealed": []}
    for h in c["packets"]:
        pkt = IP(bytes.fromhex(h))
        try:
            inner = sa.decrypt(pkt)
        except Exception as e:
            res["error"] = "%s: %s" % (type(e).__name__, e)
            break
        res["decrypted"].append(bytes(inner).hex())
    for i in range(3):
        inner = IP(src=c["isrc"], dst=c["idst"]) / UDP(sport=1234, dport=5678) / Raw(b"scapy-%d" % i)
        enc = sa.encrypt(inner, seq_num=c["seq_lo"] + 10 + i)
        res["sealed"].append(bytes(enc).hex())
    out.append(res)
json.dump(out, open(sys.argv[2], "w"))
