# jan/02/2021 12:34:56 by RouterOS 6.49.10
# software id = QX4M-B7TR
#
# model = RB951Ui-2HnD
# serial number = 8A2C0A1B2C3D
/interface bridge
add admin-mac=02:6B:00:00:00:01 auto-mac=no comment=defconf name=bridge
add fast-forward=no igmp-snooping=yes name=bridge2 protocol-mode=none
/interface ethernet
set [ find default-name=ether1 ] name=ether1-gateway speed=100Mbps
set [ find default-name=ether2 ] advertise=\
    10M-half,10M-full,100M-half,100M-full,1000M-half,1000M-full
set [ find default-name=ether5 ] disabled=yes
/interface eoip
add local-address=198.18.5.1 mac-address=02:6B:00:00:02:01 name=eoip1 \
    remote-address=198.18.6.1 tunnel-id=7
/interface gre
add local-address=198.18.5.1 name=gre1 remote-address=198.18.6.1
/interface vlan
add interface=bridge name=vlan10 vlan-id=10
/interface list
add name=WAN
add name=LAN
/ip ipsec policy group
add name=g1
/ip ipsec profile
set [ find default=yes ] dh-group=modp2048 enc-algorithm=aes-256
add dh-group=modp2048 enc-algorithm=aes-256 hash-algorithm=sha256 name=p1
/ip ipsec peer
add address=198.18.6.1/32 name=peer1 profile=p1
/ip ipsec proposal
set [ find default=yes ] enc-algorithms=aes-256-cbc pfs-group=modp2048
/ip pool
add name=dhcp ranges=198.18.1.10-198.18.1.254
/interface bridge port
add bridge=bridge comment=defconf interface=ether2
add bridge=bridge comment=defconf interface=ether3
add bridge=bridge2 hw=no interface=ether4
/interface list member
add interface=ether1-gateway list=WAN
add interface=bridge list=LAN
/ip address
add address=198.18.1.1/24 comment=defconf interface=bridge network=198.18.1.0
add address=198.18.5.1/24 interface=ether1-gateway network=198.18.5.0
/ip dns
set allow-remote-requests=yes servers=198.18.5.53
/ip ipsec identity
add peer=peer1 secret=site-secret
/ip ipsec policy
add dst-address=198.18.20.0/24 peer=peer1 src-address=198.18.1.0/24 tunnel=\
    yes
/ip route
add distance=1 gateway=198.18.5.254
add check-gateway=ping distance=2 gateway=198.18.5.252
add distance=1 gateway=198.18.5.253 routing-mark=isp2
add distance=1 dst-address=198.18.4.4/32 gateway=198.18.5.254
add distance=1 dst-address=198.18.99.0/24 type=blackhole
/ip service
set telnet disabled=yes
set ftp disabled=yes
set www disabled=yes
set ssh port=2222
set api disabled=yes
set api-ssl disabled=yes
/ipv6 address
add address=2001:db8:1::1/64 advertise=no interface=bridge
/system identity
set name=home-gw
/system scheduler
add interval=1d name=nightly on-event=backup policy=\
    ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon \
    start-date=jan/01/2021 start-time=03:00:00
/system script
add dont-require-permissions=no name=backup owner=admin policy=\
    ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon source=\
    "/system backup save name=nightly dont-encrypt=yes"
/user group
add name=monitor policy="local,telnet,ssh,read,test,winbox,web,api,!ftp,!reboo\
    t,!write,!policy,!password,!sniff,!sensitive,!romon,!dude,!tikapp"
