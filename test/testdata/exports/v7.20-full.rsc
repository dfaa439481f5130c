# 2025-11-14 09:12:31 by RouterOS 7.20
# software id = 7KQM-4XZB
#
# model = RB5009UG+S+
# serial number = HG9090A1B2C
/interface bridge
add admin-mac=02:5A:00:00:00:01 auto-mac=no comment=defconf ingress-filtering=\
    no name=bridge port-cost-mode=short vlan-filtering=yes
add add-dhcp-option82=yes ageing-time=10m arp=proxy-arp arp-timeout=1m \
    dhcp-snooping=yes ether-type=0x88a8 fast-forward=no forward-delay=10s \
    frame-types=admit-only-vlan-tagged igmp-snooping=yes igmp-version=3 \
    last-member-interval=2s last-member-query-count=3 max-hops=30 \
    max-learned-entries=1000 max-message-age=30s membership-interval=5m \
    mld-version=2 multicast-querier=yes multicast-router=permanent mvrp=yes \
    name=bridge2 priority=0x7000 protocol-mode=mstp querier-interval=5m \
    query-interval=3m query-response-interval=15s region-name=r1 \
    region-revision=2 startup-query-count=3 startup-query-interval=40s \
    transmit-hold-count=7
/interface ethernet
set [ find default-name=ether1 ] arp=reply-only arp-timeout=30s \
    disable-running-check=yes l2mtu=1598 loop-protect=on \
    loop-protect-disable-time=10m loop-protect-send-interval=10s \
    mac-address=02:5A:00:00:01:01 mtu=1492 name=ether1-WAN
set [ find default-name=ether2 ] advertise=\
    10M-baseT-half,10M-baseT-full,100M-baseT-half,100M-baseT-full \
    auto-negotiation=no bandwidth=100M/100M comment=LAN full-duplex=no \
    rx-flow-control=auto speed=100M-baseT-full tx-flow-control=on
set [ find default-name=ether3 ] cable-settings=short combo-mode=copper \
    fec-mode=off poe-lldp-enabled=yes poe-out=off poe-priority=5 \
    poe-voltage=high power-cycle-interval=1h \
    power-cycle-ping-address=198.18.5.1 power-cycle-ping-enabled=yes \
    power-cycle-ping-timeout=2m sfp-rate-select=low \
    sfp-shutdown-temperature=90
set [ find default-name=ether4 ] mdix-enable=no sfp-ignore-rx-los=yes
set [ find default-name=sfp-sfpplus1 ] disabled=yes
/interface eoip
add allow-fast-path=no arp-timeout=2m clamp-tcp-mss=no dont-fragment=inherit \
    dscp=10 keepalive=5s,3 local-address=198.18.5.1 loop-protect=on \
    mac-address=02:5A:00:00:02:01 mtu=1400 name=eoip-hq remote-address=\
    hq.example.net tunnel-id=42
/interface gre
add allow-fast-path=no keepalive=10s,5 l2mtu=1600 \
    local-address=198.18.5.1 mtu=1400 name=gre-branch remote-address=\
    198.18.6.1
/interface ipip
add allow-fast-path=no local-address=198.18.5.1 name=ipip1 remote-address=\
    198.18.7.1
/interface 6to4
add name=sit1 remote-address=198.18.8.1
/interface vlan
add arp=proxy-arp interface=bridge loop-protect=off mvrp=yes name=vlan10 \
    use-service-tag=yes vlan-id=10
add interface=bridge name=vlan20 vlan-id=20
add interface=eoip-hq name=vlan30 vlan-id=30
/interface list
add name=WAN
add include=WAN name=LAN
/ip ipsec mode-config
add address-pool=vpn name=rw-cfg split-include=198.18.10.0/24 system-dns=no
/ip ipsec policy group
add name=rw
/ip ipsec profile
set [ find default=yes ] dpd-interval=2m dpd-maximum-failures=5
add dh-group=modp2048,ecp256 enc-algorithm=aes-256,aes-128 hash-algorithm=\
    sha256 lifetime=8h name=site nat-traversal=no prf-algorithm=sha256 \
    proposal-check=strict
/ip ipsec peer
add address=198.18.6.1/32 exchange-mode=ike2 local-address=198.18.5.1 name=\
    site-b profile=site
add address=hq.example.net exchange-mode=ike2 name=hq profile=site
add exchange-mode=ike2 name=rw passive=yes profile=site
/ip ipsec proposal
set [ find default=yes ] enc-algorithms=aes-128-cbc
add auth-algorithms=sha256 enc-algorithms=aes-256-cbc lifetime=1h name=site \
    pfs-group=modp2048
/ip pool
add name=vpn ranges=198.18.10.10-198.18.10.200
/interface bridge port
add bridge=bridge comment=defconf interface=ether2 pvid=10
add bridge=bridge bpdu-guard=yes broadcast-flood=no edge=yes fast-leave=yes \
    frame-types=admit-only-vlan-tagged hw=no ingress-filtering=no \
    interface=ether3 internal-path-cost=20 learn=no multicast-router=disabled \
    path-cost=20 point-to-point=yes priority=0x70 restricted-role=yes \
    restricted-tcn=yes tag-stacking=yes trusted=yes unknown-multicast-flood=no \
    unknown-unicast-flood=no
add auto-isolate=yes bridge=bridge2 interface=ether4 \
    mvrp-applicant-state=non-participant mvrp-registrar-state=fixed
add bridge=bridge2 interface=eoip-hq
/interface bridge vlan
add bridge=bridge tagged=bridge,ether3 untagged=ether2 vlan-ids=10
add bridge=bridge mvrp-forbidden=ether3 tagged=bridge vlan-ids=20,30-35
/interface list member
add interface=ether1-WAN list=WAN
add interface=bridge list=LAN
add interface=gre-branch list=WAN
/ip address
add address=198.18.5.1/24 comment=wan interface=ether1-WAN network=198.18.5.0
add address=198.18.1.1/24 interface=bridge network=198.18.1.0
add address=198.18.9.1 interface=vlan10 network=198.18.9.1
/ip dns
set address-list-extra-time=1m allow-remote-requests=yes cache-max-ttl=1d \
    cache-size=4096KiB doh-max-concurrent-queries=20 \
    doh-max-server-connections=2 doh-timeout=3s max-concurrent-queries=200 \
    max-concurrent-tcp-sessions=30 mdns-repeat-ifaces=bridge servers=\
    198.18.5.53 use-doh-server=https://dns.example.net/dns-query \
    verify-doh-cert=yes
/ip ipsec identity
add peer=site-b secret=site-secret
add generate-policy=port-strict mode-config=rw-cfg peer=rw \
    policy-template-group=rw secret=rw-secret
/ip ipsec policy
add dst-address=198.18.20.0/24 peer=site-b proposal=site src-address=\
    198.18.1.0/24 tunnel=yes
add dst-address=198.18.10.0/24 group=rw proposal=site src-address=0.0.0.0/0 \
    template=yes
/ip route
add check-gateway=ping disabled=no distance=1 dst-address=0.0.0.0/0 gateway=\
    198.18.5.254 pref-src="" routing-table=main scope=30 \
    suppress-hw-offload=no target-scope=10
add blackhole disabled=no dst-address=198.18.99.0/24 gateway="" \
    routing-table=main suppress-hw-offload=yes
add dst-address=198.18.4.4 gateway=198.18.5.254
/ip service
set telnet disabled=yes
set ftp disabled=yes
set www address=198.18.1.0/24
set ssh port=2222
set api disabled=yes
set winbox address=198.18.1.0/24
set api-ssl disabled=yes
/ipv6 address
add address=2001:db8:1::1/64 advertise=no interface=bridge
add address=::1/64 from-pool=pd interface=vlan10
add address=2001:db8:5::1/64 auto-link-local=no eui-64=yes interface=\
    ether1-WAN no-dad=yes
/ipv6 route
add check-gateway=ping dst-address=2001:db8:99::/48 gateway=2001:db8:1::2 \
    suppress-hw-offload=yes
/system identity
set name=branch-rtr
/system scheduler
add interval=1d name=nightly on-event=backup policy=\
    ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon \
    start-date=2025-01-01 start-time=03:00:00
/system script
add dont-require-permissions=no name=backup owner=admin policy=\
    ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon source=\
    "/system backup save name=nightly dont-encrypt=yes\r\
    \n:log info \"backup done\""
/user group
add name=monitor policy="local,telnet,ssh,read,test,winbox,web,api,rest-api,!f\
    tp,!reboot,!write,!policy,!password,!sniff,!sensitive,!romon"
