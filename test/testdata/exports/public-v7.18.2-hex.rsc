# 2026-05-10 18:05:38 by RouterOS 7.18.2
# (public export; trimmed to the menus routerd implements and a few of those it lacks, ports to the test's, addresses moved into 198.18.0.0/15)
# software id = E2CU-5NFF
#
# model = E60iUGS
# serial number = HJP0ATWP1KX
/interface bridge
add admin-mac=04:F4:1C:29:A8:11 arp=reply-only auto-mac=no comment=defconf \
    dhcp-snooping=yes name=bridge
/interface list
add comment=defconf name=WAN
add comment=defconf name=LAN
/ip pool
add name=default-dhcp ranges=198.18.88.10-198.18.88.254
/queue type
add kind=pcq name=pcq-ul-2m pcq-classifier=\
    src-address,dst-address,src-port,dst-port pcq-rate=2M
add kind=pcq name=pcq-dl-2m pcq-classifier=\
    src-address,dst-address,src-port,dst-port pcq-rate=2M
/queue simple
add disabled=yes max-limit=1G/1G name=per-client-2mbps queue=\
    pcq-ul-2m/pcq-dl-2m target=198.18.88.0/24
/system logging action
set 0 memory-lines=5000
/interface bridge port
add bridge=bridge comment=defconf interface=ether2
add bridge=bridge comment=\
    "ANALYZER PORT - disabled from LAN; mirror off by default" disabled=yes \
    interface=ether3
add bridge=bridge comment=defconf interface=ether4
add bridge=bridge comment=defconf interface=ether5
add bridge=bridge comment=defconf interface=sfp-sfpplus1
/ip neighbor discovery-settings
set discover-interface-list=LAN
/ipv6 settings
set accept-router-advertisements=no disable-ipv6=yes forward=no
/interface list member
add comment=defconf interface=bridge list=LAN
add comment=defconf interface=ether1 list=WAN
/ip address
add address=198.18.88.1/24 comment=defconf interface=bridge network=\
    198.18.88.0
/ip arp
add address=198.18.88.254 comment="static: desktop" interface=bridge \
    mac-address=00:E0:4C:62:04:C2
/ip dns
set allow-remote-requests=yes cache-size=4096KiB servers=198.19.1.1,198.19.8.8
/ip dns static
add address=198.18.88.1 comment=defconf name=router.lan type=A
add name=youtube.com type=NXDOMAIN
add name=*.youtube.com type=NXDOMAIN
add disabled=yes name=yt3.ggpht.com type=NXDOMAIN
add address=127.0.0.1 disabled=yes regexp=".*\\.sky\\.com\$" ttl=1m type=A
add address=127.0.0.1 disabled=yes regexp=".*\\.sky\\.co\\.uk\$" ttl=1m type=\
    A
add address=198.19.2.1 comment="ENF: Proton VPN auth DNS sinkhole" name=\
    protonvpn.com ttl=1h type=A
add address-list=fullspeed-allow comment="fullspeed: Fast.com (fast.com)" \
    forward-to=198.19.1.1 name=fast.com type=FWD
add address-list=fullspeed-allow comment="fullspeed: Fast.com (*.fast.com)" \
    forward-to=198.19.1.1 name=*.fast.com type=FWD
