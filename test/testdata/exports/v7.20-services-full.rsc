# 2025-11-20 18:40:02 by RouterOS 7.20
# software id = 7KQM-4XZB
#
# model = RB5009UG+S+
# serial number = HG9090A1B2C
/interface bridge
add admin-mac=02:5A:00:00:00:01 auto-mac=no comment=defconf name=bridge
/interface list
add comment=defconf name=WAN
add comment=defconf name=LAN
/ip pool
add name=dhcp ranges=198.18.88.10-198.18.88.254
/queue type
add kind=pcq name=pcq-dl pcq-classifier=dst-address pcq-dst-address6-mask=64 \
    pcq-rate=20M pcq-src-address6-mask=64
add kind=pcq name=pcq-ul pcq-classifier=src-address pcq-rate=5M
add cake-diffserv=diffserv4 cake-flowmode=dual-srchost cake-nat=yes \
    cake-overhead-scheme=ethernet kind=cake name=cake-up
add fq-codel-ecn=no kind=fq-codel name=fq-codel-ethernet
add bfifo-limit=30000 kind=bfifo name=bfifo30k
add kind=pfifo name=pfifo100 pfifo-limit=100
/queue simple
add max-limit=100M/100M name=total queue=pcq-upload-default/pcq-download-default \
    target=bridge
add burst-limit=20M/40M burst-threshold=8M/16M burst-time=16s/16s comment=guest \
    limit-at=2M/4M max-limit=10M/20M name=guest parent=total priority=6/6 \
    queue=bfifo30k/pfifo100 target=198.18.88.128/25
add disabled=yes max-limit=1M/2M name=night target=198.18.88.50/32 time=\
    0s-7h,sun,mon,tue,wed,thu,fri,sat
/routing table
add disabled=no fib name=isp2
/interface bridge port
add bridge=bridge comment=defconf interface=ether2
add bridge=bridge comment=defconf interface=ether3
/interface bridge mdb
add bridge=bridge group=239.1.1.1 ports=ether2
/ip firewall connection tracking
set tcp-established-timeout=1h udp-timeout=30s
/ip settings
set max-neighbor-entries=8192 rp-filter=loose tcp-syncookies=yes
/ipv6 settings
set disable-ipv6=no forward=yes max-neighbor-entries=8192
/interface list member
add comment=defconf interface=bridge list=LAN
add comment=defconf interface=ether1 list=WAN
/ip address
add address=198.18.88.1/24 comment=defconf interface=bridge network=\
    198.18.88.0
add address=198.18.1.2/30 interface=ether1 network=198.18.1.0
/ip arp
add address=198.18.88.20 interface=bridge mac-address=02:00:00:00:00:20
/ip dns
set allow-remote-requests=yes cache-max-ttl=1d cache-size=4096KiB servers=\
    198.18.1.1
/ip dns static
add address=198.18.88.1 comment=defconf name=router.lan type=A
add address=2001:db8:88::1 name=router.lan type=AAAA
add cname=router.lan name=gw.lan type=CNAME
add mx-exchange=mail.lan mx-preference=10 name=lan type=MX
add name=lan text="v=spf1 mx -all" type=TXT
add name=_sip._udp.lan srv-port=5060 srv-priority=10 srv-target=router.lan \
    srv-weight=5 type=SRV
add name=sub.lan ns=ns1.lan type=NS
add forward-to=198.18.1.1 name=corp.example match-subdomain=yes type=FWD
add address=0.0.0.0 regexp=".*\\.ads\\.example\$" ttl=1h
add name=blocked.example type=NXDOMAIN
/ip firewall address-list
add address=198.18.88.0/24 list=lan-nets
add address=198.18.200.7 comment="bad host" list=blocklist
/ip firewall filter
add action=accept chain=input comment=\
    "defconf: accept established,related,untracked" connection-state=\
    established,related,untracked
add action=drop chain=input comment="defconf: drop invalid" connection-state=\
    invalid
add action=accept chain=input comment="defconf: accept ICMP" protocol=icmp
add action=accept chain=input comment=\
    "defconf: accept to local loopback (for CAPsMAN)" dst-address=127.0.0.1
add action=drop chain=input comment="defconf: drop all not coming from LAN" \
    in-interface-list=!LAN
add action=accept chain=forward comment="defconf: accept in ipsec policy" \
    ipsec-policy=in,ipsec
add action=accept chain=forward comment="defconf: accept out ipsec policy" \
    ipsec-policy=out,ipsec
add action=fasttrack-connection chain=forward comment="defconf: fasttrack" \
    connection-state=established,related hw-offload=yes
add action=accept chain=forward comment=\
    "defconf: accept established,related, untracked" connection-state=\
    established,related,untracked
add action=drop chain=forward comment="defconf: drop invalid" \
    connection-state=invalid
add action=drop chain=forward comment=\
    "defconf: drop all from WAN not DSTNATed" connection-nat-state=!dstnat \
    connection-state=new in-interface-list=WAN
add action=drop chain=forward src-address-list=blocklist
/ip firewall mangle
add action=mark-connection chain=prerouting new-connection-mark=guest-conn \
    passthrough=yes src-address=198.18.88.128/25
add action=mark-packet chain=prerouting connection-mark=guest-conn \
    new-packet-mark=guest passthrough=no
add action=mark-routing chain=prerouting new-routing-mark=isp2 passthrough=no \
    src-address=198.18.88.200
/ip firewall nat
add action=masquerade chain=srcnat comment="defconf: masquerade" \
    ipsec-policy=out,none out-interface-list=WAN
add action=dst-nat chain=dstnat dst-port=8080 in-interface-list=WAN protocol=\
    tcp to-addresses=198.18.88.10 to-ports=80
/ip firewall raw
add action=drop chain=prerouting src-address-list=blocklist
/ip firewall service-port
set sip disabled=yes
/ip ipsec settings
set accounting=no interim-update=5m
/ip route
add disabled=no distance=1 dst-address=0.0.0.0/0 gateway=198.18.1.1 \
    routing-table=main scope=30 suppress-hw-offload=no target-scope=10
add distance=1 gateway=198.18.1.1 routing-table=isp2
/ip tftp
add allow=yes ip-addresses=198.18.88.0/24 read-only=yes real-filename=\
    boot/pxelinux.0 req-filename="pxelinux\\.0"
/ip tftp settings
set max-block-size=1428
/ipv6 address
add address=2001:db8:88::1 advertise=yes interface=bridge
/ipv6 firewall address-list
add address=fe80::/10 list=allowed
/ipv6 firewall filter
add action=accept chain=input comment=\
    "defconf: accept established,related,untracked" connection-state=\
    established,related,untracked
add action=drop chain=input comment="defconf: drop invalid" connection-state=\
    invalid
add action=accept chain=input comment="defconf: accept ICMPv6" protocol=\
    icmpv6
add action=accept chain=input comment="defconf: accept UDP traceroute" \
    dst-port=33434-33534 protocol=udp
add action=accept chain=input comment=\
    "defconf: accept DHCPv6-Client prefix delegation." dst-port=546 protocol=\
    udp src-address=fe80::/10
add action=drop chain=input comment=\
    "defconf: drop everything else not coming from LAN" in-interface-list=\
    !LAN
/ipv6 nd
set [ find default=yes ] advertise-dns=yes hop-limit=64 ra-lifetime=20m
add interface=ether3 managed-address-configuration=yes mtu=1480 \
    other-configuration=yes ra-interval=30s-2m ra-preference=high \
    reachable-time=30s retransmit-interval=1s
/ipv6 nd prefix
add interface=ether3 preferred-lifetime=1d prefix=2001:db8:99::/64 \
    valid-lifetime=2d
/radius
add address=198.18.88.5 secret=radius-secret service=ipsec,login timeout=\
    1s500ms
/radius incoming
set accept=yes port=3799
/routing rule
add action=lookup-only-in-table dst-address=198.18.50.0/24 table=isp2
/system clock
set time-zone-autodetect=no time-zone-name=Europe/Riga
/system identity
set name=edge-services
/system note
set note="Managed by ops" show-at-login=no
/system ptp
add name=ptp1 priority1=100
/system ptp port
add interface=ether4 ptp=ptp1
/tool e-mail
set from=router@example.net port=587 server=198.18.88.25 tls=starttls user=\
    router
/user group
add name=monitor policy=\
    read,test,winbox,web,api,rest-api,!local,!telnet,!ssh,!ftp,!reboot,!write,!policy,!password,!sniff,!sensitive,!romon
/user-manager
set enabled=yes
/user-manager router
add address=198.18.88.1 name=edge shared-secret=um-secret
