# 2025-11-20 14:03:17 by RouterOS 7.20
# software id = 9TQX-2KLM
#
# model = RB5009UG+S+
# serial number = HGA0B1C2D3E
/interface bridge
add admin-mac=02:5C:00:00:00:01 auto-mac=no comment=defconf name=bridge \
    port-cost-mode=short vlan-filtering=yes
add name=loopback protocol-mode=none
add arp=reply-only arp-timeout=1m dhcp-snooping=yes ether-type=0x8100 \
    frame-types=admit-only-untagged-and-priority-tagged igmp-snooping=yes \
    mld-version=2 mtu=1500 name=br-probe pvid=5 vlan-filtering=yes
/interface ethernet
set [ find default-name=ether1 ] comment=ISP1 name=ether1-isp1
set [ find default-name=ether2 ] comment=ISP2 name=ether2-isp2
set [ find default-name=ether5 ] disabled=yes
set [ find default-name=ether8 ] comment=spare disabled=yes
set [ find default-name=sfp-sfpplus1 ] auto-negotiation=no speed=10G-baseSR-LR
/interface wireguard
add listen-port=13231 mtu=1420 name=wg-admin
/interface eoip
add local-address=198.18.20.1 mac-address=02:5C:00:00:02:01 name=eoip-branch \
    remote-address=198.18.21.1 tunnel-id=100
add ipsec-secret=eoip-psk local-address=198.18.20.1 name=eoip-sec \
    remote-address=198.18.21.9 tunnel-id=9
/interface gre
add local-address=198.18.20.1 name=gre-dc remote-address=198.18.22.1
add dscp=inherit ipsec-secret=gre-psk local-address=198.18.20.1 name=gre-sec \
    remote-address=198.18.22.9
/interface vlan
add interface=bridge name=vlan-mgmt vlan-id=99
add interface=bridge name=vlan-guest vlan-id=20
add interface=bridge name=vlan-staff vlan-id=10
add arp=enabled interface=br-probe mtu=1496 name=vlan-probe vlan-id=55
/interface list
add comment=defconf name=WAN
add comment=defconf name=LAN
add name=MGMT
add exclude=WAN include=all name=NOTWAN
/interface lte apn
set [ find default=yes ] ip-type=ipv4 use-network-apn=no
/ip ipsec profile
set [ find default=yes ] dpd-interval=2m dpd-maximum-failures=5
add dh-group=ecp256,modp2048 enc-algorithm=aes-256 hash-algorithm=sha256 name=\
    dc prf-algorithm=sha256
/ip ipsec peer
add address=198.18.22.1/32 exchange-mode=ike2 local-address=198.18.20.1 name=\
    dc profile=dc send-initial-contact=yes
/ip ipsec proposal
set [ find default=yes ] enc-algorithms=aes-256-cbc,aes-128-cbc
add auth-algorithms=sha256 enc-algorithms=aes-256-gcm,aes-256-cbc lifetime=8h \
    name=dc pfs-group=ecp256
/ip pool
add name=pool-staff ranges=198.18.30.100-198.18.30.250
add name=pool-guest ranges=198.18.31.10-198.18.31.250
add name=pool-b ranges=198.18.32.10-198.18.32.20
add comment=first name=pool-a next-pool=pool-b ranges=198.18.33.10-198.18.33.20
/ip dhcp-server
add address-pool=pool-staff interface=vlan-staff lease-time=1d name=dhcp-staff
/queue type
add kind=pcq name=pcq-down pcq-classifier=dst-address pcq-rate=10M
add kind=pcq name=pcq-up pcq-classifier=src-address pcq-rate=5M
add kind=sfq name=sfq1 sfq-allot=1514 sfq-perturb=5
add kind=red name=red1 red-avg-packet=1000 red-burst=20 red-limit=60 \
    red-max-threshold=50 red-min-threshold=10
add kind=pfifo name=pfifo100 pfifo-limit=100
add kind=fq-codel fq-codel-ecn=yes fq-codel-limit=10240 fq-codel-quantum=1514 \
    name=fqc1
/queue simple
add max-limit=50M/100M name=guest queue=pcq-up/pcq-down target=vlan-guest
add limit-at=10M/10M max-limit=200M/200M name=staff priority=2/2 target=\
    198.18.30.0/24
add bucket-size=0.2/0.2 burst-limit=60M/60M burst-threshold=40M/40M burst-time=\
    10s/10s dst=ether1-isp1 max-limit=50M/50M name=burst target=198.18.31.0/24
add max-limit=5M/5M name=child parent=burst target=198.18.31.10/32 \
    packet-marks=voip
/routing table
add disabled=no fib name=isp2
/system logging action
set 0 memory-lines=2000
add name=syslog remote=198.18.30.5 target=remote
add bsd-syslog=yes name=syslog2 remote=198.18.30.6 remote-port=1514 \
    src-address=198.18.30.1 syslog-facility=local3 syslog-severity=warning \
    target=remote
add disk-file-count=5 disk-file-name=log/office disk-lines-per-file=2000 name=\
    disk2 target=disk
add memory-lines=500 name=mem2 remember=yes target=memory
/interface bridge port
add bridge=bridge comment=defconf interface=ether3 pvid=10
add bridge=bridge comment=defconf frame-types=admit-only-vlan-tagged interface=\
    ether4
add bridge=br-probe horizon=2 interface=ether5 learn=auto multicast-router=\
    temporary-query
/interface bridge settings
set allow-fast-path=yes use-ip-firewall=yes use-ip-firewall-for-pppoe=yes \
    use-ip-firewall-for-vlan=yes
/ip neighbor discovery-settings
set discover-interface-list=LAN
/ip settings
set max-neighbor-entries=16384 rp-filter=loose tcp-syncookies=yes
/ipv6 settings
set accept-router-advertisements=yes max-neighbor-entries=16384
/interface bridge vlan
add bridge=bridge tagged=bridge,ether4 untagged=ether3 vlan-ids=10
add bridge=bridge tagged=bridge,ether4 vlan-ids=20
add bridge=bridge tagged=bridge,ether4 vlan-ids=99
/interface list member
add comment=defconf interface=bridge list=LAN
add comment=defconf interface=ether1-isp1 list=WAN
add interface=ether2-isp2 list=WAN
add interface=vlan-mgmt list=MGMT
add interface=vlan-staff list=LAN
add interface=vlan-guest list=LAN
/ip address
add address=198.18.30.1/24 interface=vlan-staff network=198.18.30.0
add address=198.18.31.1/24 interface=vlan-guest network=198.18.31.0
add address=198.18.99.1/24 interface=vlan-mgmt network=198.18.99.0
add address=198.18.20.1/24 interface=ether1-isp1 network=198.18.20.0
add address=198.18.40.2/30 interface=ether2-isp2 network=198.18.40.0
add address=198.19.255.1 interface=loopback network=198.19.255.1
/ip dhcp-server network
add address=198.18.30.0/24 dns-server=198.18.30.1 gateway=198.18.30.1
/ip dns
set allow-remote-requests=yes cache-size=8192KiB servers=\
    198.18.20.53,198.18.40.53
set cache-max-ttl=1d max-udp-packet-size=1232 query-server-timeout=2s \
    query-total-timeout=10s
/ip dns static
add address=198.18.30.1 comment=defconf name=router.lan type=A
add cname=router.lan name=gw.office.lan type=CNAME
add address=198.18.30.10 name=nas.office.lan ttl=5m
add forward-to=198.18.22.53 match-subdomain=yes name=dc.example type=FWD
add mx-exchange=mail.office.lan mx-preference=10 name=office.lan type=MX
add name=office.lan text="v=spf1 mx -all" type=TXT
add name=_sip._udp.office.lan srv-port=5060 srv-priority=10 srv-target=\
    pbx.office.lan srv-weight=5 type=SRV
add name=sub.office.lan ns=ns1.office.lan type=NS
add address=198.18.30.11 disabled=yes name=old.office.lan
/ip firewall address-list
add address=198.18.30.0/24 list=allowed_to_router
add address=198.18.99.0/24 list=allowed_to_router
add address=198.19.200.0/24 comment=blocklist list=blocked
/ip firewall filter
add action=accept chain=input comment=\
    "defconf: accept established,related,untracked" connection-state=\
    established,related,untracked
add action=drop chain=input comment="defconf: drop invalid" connection-state=\
    invalid
add action=accept chain=input comment="defconf: accept ICMP" protocol=icmp
add action=accept chain=input comment=\
    "defconf: accept to local loopback (for CAPsMAN)" dst-address=127.0.0.1
add action=accept chain=input dst-port=500,4500 protocol=udp
add action=accept chain=input protocol=ipsec-esp
add action=accept chain=input src-address-list=allowed_to_router
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
add action=drop chain=forward comment="defconf: drop invalid" connection-state=\
    invalid
add action=drop chain=forward comment="guest may not reach staff" dst-address=\
    198.18.30.0/24 in-interface=vlan-guest
add action=drop chain=forward comment=\
    "defconf: drop all from WAN not DSTNATed" connection-nat-state=!dstnat \
    connection-state=new in-interface-list=WAN
add action=drop chain=input dst-address-type=!local log=yes log-prefix=NOTLOCAL
add action=accept chain=input limit=10,20:packet protocol=icmp icmp-options=8:0
add action=add-src-to-address-list address-list=scanners address-list-timeout=\
    1d chain=input dst-port=23 protocol=tcp
add action=reject chain=forward reject-with=icmp-admin-prohibited \
    src-address-list=scanners
add action=drop chain=forward connection-limit=100,32 protocol=tcp tcp-flags=syn
add action=accept chain=forward dst-limit=5,10,dst-address/1m protocol=udp
add action=drop chain=forward content=badstring protocol=tcp time=\
    8h-17h,mon,tue,wed,thu,fri
add action=accept chain=forward nth=2,1 packet-size=0-100 port=53 protocol=udp
add action=drop chain=input psd=21,3s,3,1 protocol=tcp
add action=accept chain=forward per-connection-classifier=both-addresses:2/0 \
    src-address-type=unicast
/ip firewall mangle
add action=change-mss chain=forward new-mss=clamp-to-pmtu passthrough=yes \
    protocol=tcp tcp-flags=syn
add action=mark-connection chain=prerouting connection-state=new in-interface=\
    ether2-isp2 new-connection-mark=isp2-conn passthrough=yes
add action=mark-routing chain=prerouting connection-mark=isp2-conn \
    in-interface-list=LAN new-routing-mark=isp2 passthrough=no
add action=mark-packet chain=forward new-packet-mark=voip passthrough=no \
    protocol=udp dst-port=5060
add action=change-dscp chain=postrouting new-dscp=46 packet-mark=voip
add action=change-ttl chain=postrouting new-ttl=set:64 out-interface-list=WAN
/ip firewall nat
add action=masquerade chain=srcnat comment="defconf: masquerade" ipsec-policy=\
    out,none out-interface-list=WAN
add action=dst-nat chain=dstnat comment="nas https" dst-port=8443 \
    in-interface-list=WAN protocol=tcp to-addresses=198.18.30.10 to-ports=443
add action=src-nat chain=srcnat out-interface=ether2-isp2 to-addresses=\
    198.18.40.2
add action=redirect chain=dstnat dst-port=53 protocol=udp to-ports=53
add action=netmap chain=dstnat dst-address=198.18.41.0/24 to-addresses=\
    198.18.30.0/24
/ip firewall connection tracking
set enabled=yes generic-timeout=5m icmp-timeout=10s loose-tcp-tracking=no \
    tcp-established-timeout=1h udp-stream-timeout=2m
/ip firewall raw
add action=drop chain=prerouting src-address-list=blocked
/ip firewall service-port
set ftp disabled=yes
set sip disabled=yes
/ip ipsec identity
add peer=dc secret=dc-psk-2025
add auth-method=pre-shared-key match-by=remote-id my-id=\
    fqdn:office.example.net notrack-chain=prerouting peer=dc remote-id=\
    fqdn:dc.example.net secret=x2
/ip ipsec policy
add dst-address=198.18.23.0/24 peer=dc proposal=dc src-address=198.18.30.0/24 \
    tunnel=yes
add action=encrypt dst-address=198.18.24.0/24 ipsec-protocols=esp level=unique \
    peer=dc protocol=all src-address=198.18.31.0/24 tunnel=yes comment=second
/ip ipsec settings
set accounting=yes interim-update=5m xauth-use-radius=no
/ip route
add disabled=no distance=1 dst-address=0.0.0.0/0 gateway=198.18.20.254 \
    routing-table=main scope=30 suppress-hw-offload=no target-scope=10
add check-gateway=ping disabled=no distance=2 dst-address=0.0.0.0/0 gateway=\
    198.18.40.1 routing-table=main scope=30 suppress-hw-offload=no \
    target-scope=10
add disabled=no distance=1 dst-address=0.0.0.0/0 gateway=198.18.40.1 \
    routing-table=isp2 scope=30 suppress-hw-offload=no target-scope=10
add comment=dc distance=1 dst-address=198.18.22.53 gateway=198.18.20.254
add comment=pref distance=5 dst-address=198.18.77.0/24 gateway=198.18.20.254 \
    pref-src=198.18.20.1 scope=30 target-scope=10
add blackhole distance=1 dst-address=198.18.78.0/24
add check-gateway=arp dst-address=198.18.79.0/24 gateway=198.18.20.254
/ip service
set telnet disabled=yes
set ftp disabled=yes
set www address=198.18.99.0/24
set ssh address=198.18.99.0/24,198.18.30.0/24
set api disabled=yes
set winbox address=198.18.99.0/24
set api-ssl disabled=yes
set api-ssl tls-version=only-1.2
set www max-sessions=10
/ip arp
add address=198.18.30.20 interface=vlan-staff mac-address=02:5C:00:00:09:01 \
    published=yes
/ip tftp
add ip-addresses=198.18.99.0/24 real-filename=phones/cfg.xml req-filename=\
    cfg.xml
/ipv6 address
add address=2001:db8:30::1 advertise=yes interface=vlan-staff
/ipv6 firewall address-list
add address=::/128 comment="defconf: unspecified address" list=bad_ipv6
add address=::1/128 comment="defconf: lo" list=bad_ipv6
add address=fec0::/10 comment="defconf: site-local" list=bad_ipv6
add address=::ffff:0.0.0.0/96 comment="defconf: ipv4-mapped" list=bad_ipv6
add address=::/96 comment="defconf: ipv4 compat" list=bad_ipv6
add address=100::/64 comment="defconf: discard only " list=bad_ipv6
add address=2001:10::/28 comment="defconf: ORCHID" list=bad_ipv6
add address=3ffe::/16 comment="defconf: 6bone" list=bad_ipv6
/ipv6 firewall filter
add action=accept chain=input comment=\
    "defconf: accept established,related,untracked" connection-state=\
    established,related,untracked
add action=drop chain=input comment="defconf: drop invalid" connection-state=\
    invalid
add action=accept chain=input comment="defconf: accept ICMPv6" protocol=icmpv6
add action=accept chain=input comment="defconf: accept UDP traceroute" \
    dst-port=33434-33534 protocol=udp
add action=accept chain=input comment=\
    "defconf: accept DHCPv6-Client prefix delegation." dst-port=546 protocol=\
    udp src-address=fe80::/10
add action=accept chain=input comment="defconf: accept IKE" dst-port=500,4500 \
    protocol=udp
add action=accept chain=input comment="defconf: accept ipsec AH" protocol=\
    ipsec-ah
add action=accept chain=input comment="defconf: accept ipsec ESP" protocol=\
    ipsec-esp
add action=accept chain=input comment=\
    "defconf: accept all that matches ipsec policy" ipsec-policy=in,ipsec
add action=drop chain=input comment=\
    "defconf: drop everything else not coming from LAN" in-interface-list=!LAN
add action=accept chain=forward comment=\
    "defconf: accept established,related,untracked" connection-state=\
    established,related,untracked
add action=drop chain=forward comment="defconf: drop invalid" connection-state=\
    invalid
add action=drop chain=forward comment=\
    "defconf: drop packets with bad src ipv6" src-address-list=bad_ipv6
add action=drop chain=forward comment=\
    "defconf: drop packets with bad dst ipv6" dst-address-list=bad_ipv6
add action=drop chain=forward comment="defconf: rfc4890 drop hop-limit=1" \
    hop-limit=equal:1 protocol=icmpv6
add action=accept chain=forward comment="defconf: accept ICMPv6" protocol=icmpv6
add action=accept chain=forward comment="defconf: accept HIP" protocol=139
add action=accept chain=forward comment="defconf: accept IKE" dst-port=\
    500,4500 protocol=udp
add action=accept chain=forward comment="defconf: accept ipsec AH" protocol=\
    ipsec-ah
add action=accept chain=forward comment="defconf: accept ipsec ESP" protocol=\
    ipsec-esp
add action=accept chain=forward comment=\
    "defconf: accept all that matches ipsec policy" ipsec-policy=in,ipsec
add action=drop chain=forward comment=\
    "defconf: drop everything else not coming from LAN" in-interface-list=!LAN
/ipv6 nd
set [ find default=yes ] advertise-dns=no
add interface=vlan-staff managed-address-configuration=yes other-configuration=\
    yes ra-interval=20s-1m
add dns=2001:db8:30::1 hop-limit=64 interface=vlan-guest mtu=1480 ra-delay=3s \
    ra-lifetime=30m ra-preference=high reachable-time=30s retransmit-interval=\
    1s advertise-mac-address=yes
/ipv6 route
add blackhole distance=1 dst-address=2001:db8:77::/48 routing-table=main
/ipv6 nd prefix default
set preferred-lifetime=1h valid-lifetime=1d
/radius
add address=198.18.99.50 service=login,ipsec timeout=1s
/radius incoming
set accept=yes
/routing rule
add action=lookup-only-in-table disabled=no src-address=198.18.31.0/24 table=\
    isp2
add action=lookup interface=vlan-staff routing-mark=isp2 table=isp2 comment=r2
add action=lookup dst-address=198.18.80.0/24 min-prefix=0 table=main
/system clock
set time-zone-autodetect=no time-zone-name=Europe/Riga
/system identity
set name=office-gw
/system logging
add action=syslog topics=ipsec,!debug
add action=syslog topics=firewall
add action=mem2 prefix=FW topics=firewall regex=drop
add action=disk2 disabled=yes topics=system,info
/system note
set show-at-login=no
/system ntp client
set enabled=yes
/system ntp client servers
add address=pool.ntp.org
/system routerboard settings
set enter-setup-on=delete-key
/system scheduler
add interval=1w name=weekly-export on-event=export-config policy=\
    ftp,read,write,policy,test,sensitive start-date=2025-01-06 start-time=\
    04:00:00
add name=on-boot on-event=":log info \"office-gw booted\"" policy=read,write \
    start-time=startup
add comment=disabled-one disabled=yes interval=1h name=hourly on-event=\
    ":log info hourly" policy=read start-time=00:00:00
/system script
add dont-require-permissions=no name=export-config owner=admin policy=\
    ftp,read,write,policy,test,sensitive source=\
    "/export file=weekly\r\n:log info \"export written\""
add comment="does nothing" dont-require-permissions=yes name=noop owner=admin \
    policy=read source=":put ok"
/tool e-mail
set from=office-gw@example.net port=587 server=198.18.99.25 tls=starttls user=\
    office-gw
/tool mac-server
set allowed-interface-list=MGMT
/tool mac-server mac-winbox
set allowed-interface-list=MGMT
/user group
add name=helpdesk policy=\
    "local,ssh,read,test,winbox,web,api,rest-api,!telnet,!ftp,!reboot,!write,!p\
    olicy,!password,!sniff,!sensitive,!romon"
add comment="read only" name=ro2 policy=read,test,winbox skin=default
/user settings
set minimum-categories=2 minimum-password-length=10

