# jan/02/1970 00:00:00 by RouterOS 6.49.10
# software id = R7KD-3QHX
#
# model = RB750Gr3
# serial number = 9A1B2C3D4E5F
/interface bridge
add admin-mac=02:6C:00:00:00:01 auto-mac=no comment=defconf name=bridge
/interface ethernet
set [ find default-name=ether1 ] name=ether1-gateway speed=100Mbps
set [ find default-name=ether2 ] advertise=\
    10M-half,10M-full,100M-half,100M-full,1000M-half,1000M-full name=ether2-isp2
set [ find default-name=ether5 ] comment=spare disabled=yes
/interface eoip
add local-address=198.18.5.1 mac-address=02:6C:00:00:02:01 name=eoip-shop \
    remote-address=198.18.6.1 tunnel-id=12
/interface vlan
add interface=bridge name=vlan-voip vlan-id=40
/interface list
add comment=defconf name=WAN
add comment=defconf name=LAN
/interface wireless security-profiles
set [ find default=yes ] supplicant-identity=MikroTik
/ip hotspot profile
set [ find default=yes ] html-directory=flash/hotspot
/ip ipsec profile
set [ find default=yes ] dh-group=modp2048 enc-algorithm=aes-256,aes-128
add dh-group=modp2048 enc-algorithm=aes-256 hash-algorithm=sha256 lifetime=8h \
    name=shop nat-traversal=no
/ip ipsec peer
add address=198.18.6.1/32 exchange-mode=ike2 local-address=198.18.5.1 name=\
    shop profile=shop
/ip ipsec proposal
set [ find default=yes ] enc-algorithms=aes-256-cbc,aes-128-cbc pfs-group=\
    modp2048
add auth-algorithms=sha256 enc-algorithms=aes-256-cbc lifetime=1h name=shop \
    pfs-group=modp2048
/ip pool
add name=dhcp ranges=198.18.1.10-198.18.1.254
/ip dhcp-server
add address-pool=dhcp disabled=no interface=bridge name=defconf
/queue type
add kind=pcq name=pcq-down pcq-classifier=dst-address pcq-rate=20M
/queue simple
add max-limit=20M/20M name=voip priority=1/1 target=vlan-voip
/routing ospf instance
set [ find default=yes ] router-id=198.18.5.1
/snmp community
set [ find default=yes ] addresses=198.18.1.0/24
/system logging action
set 3 remote=198.18.1.5
/interface bridge port
add bridge=bridge comment=defconf interface=ether3
add bridge=bridge comment=defconf interface=ether4
/ip neighbor discovery-settings
set discover-interface-list=LAN
/ip settings
set rp-filter=loose tcp-syncookies=yes
/interface list member
add comment=defconf interface=bridge list=LAN
add comment=defconf interface=ether1-gateway list=WAN
add interface=ether2-isp2 list=WAN
/ip address
add address=198.18.1.1/24 comment=defconf interface=bridge network=198.18.1.0
add address=198.18.5.1/24 interface=ether1-gateway network=198.18.5.0
add address=198.18.7.2/30 interface=ether2-isp2 network=198.18.7.0
add address=198.18.40.1/24 interface=vlan-voip network=198.18.40.0
/ip cloud
set ddns-enabled=yes
/ip dhcp-server network
add address=198.18.1.0/24 comment=defconf gateway=198.18.1.1 netmask=24
/ip dns
set allow-remote-requests=yes servers=198.18.5.53
/ip dns static
add address=198.18.1.1 comment=defconf name=router.lan
add address=198.18.1.20 name=printer.lan ttl=5m
/ip firewall address-list
add address=198.18.1.0/24 list=lan-nets
add address=198.18.40.0/24 list=lan-nets
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
    connection-state=established,related
add action=accept chain=forward comment=\
    "defconf: accept established,related, untracked" connection-state=\
    established,related,untracked
add action=drop chain=forward comment="defconf: drop invalid" connection-state=\
    invalid
add action=drop chain=forward comment=\
    "defconf: drop all from WAN not DSTNATed" connection-nat-state=!dstnat \
    connection-state=new in-interface-list=WAN
/ip firewall mangle
add action=mark-routing chain=prerouting dst-address-list=!lan-nets \
    new-routing-mark=isp2 passthrough=no src-address=198.18.40.0/24
/ip firewall nat
add action=masquerade chain=srcnat comment="defconf: masquerade" ipsec-policy=\
    out,none out-interface-list=WAN
/ip firewall service-port
set sip disabled=yes
/ip ipsec identity
add peer=shop secret=shop-secret-6
/ip ipsec policy
add dst-address=198.18.60.0/24 peer=shop proposal=shop sa-dst-address=\
    198.18.6.1 sa-src-address=198.18.5.1 src-address=198.18.1.0/24 tunnel=yes
/ip route
add distance=1 gateway=198.18.7.1 routing-mark=isp2
add check-gateway=ping distance=1 gateway=198.18.5.254
add distance=2 gateway=198.18.7.1
add distance=1 dst-address=198.18.66.0/24 type=blackhole
/ip route rule
add dst-address=198.18.60.0/24 table=main
add src-address=198.18.40.0/24 table=isp2
/ip service
set telnet disabled=yes
set ftp disabled=yes
set www address=198.18.1.0/24
set ssh address=198.18.1.0/24 port=2200
set api disabled=yes
set api-ssl disabled=yes
/ip ssh
set strong-crypto=yes
/ip upnp
set enabled=yes
/radius
add address=198.18.1.50 secret=radius-6 service=login
/system clock
set time-zone-name=Europe/Riga
/system identity
set name=shop-gw
/system logging
add action=remote topics=critical
add action=remote topics=ipsec,!debug
/system ntp client
set enabled=yes primary-ntp=198.18.5.123
/system scheduler
add interval=1d name=daily-check on-event=check policy=\
    ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon \
    start-date=jan/01/2021 start-time=02:30:00
/system script
add dont-require-permissions=no name=check owner=admin policy=\
    ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon source=\
    ":if ([/interface get ether1-gateway running] = false) do={\r\n  :log warni\
    ng \"wan down\"\r\n}"
/tool e-mail
set address=198.18.5.25 from=<shop-gw@example.net> port=587 start-tls=yes user=\
    shop-gw
/tool mac-server
set allowed-interface-list=LAN
/tool mac-server mac-winbox
set allowed-interface-list=LAN
/tool netwatch
add down-script=":log warning \"isp down\"" host=198.18.5.254 up-script=\
    ":log info \"isp up\""
/user aaa
set use-radius=yes
/user group
add name=viewer policy=\
    "local,telnet,ssh,read,test,winbox,web,api,!ftp,!reboot,!write,!policy,!pas\
    sword,!sniff,!sensitive,!romon,!dude,!tikapp"

