# mar/19/2022 16:42:39 by RouterOS 6.47.1
# software id = EQSW-0I1L
#
# model = CCR1036-12G-4S
# serial number = 574F050811B8
/interface bridge
add fast-forward=no name="AP Sede"
add comment="{CGNat IXCSoft}" name=IXCCGNat11
add comment="{CGNat IXCSoft}" name=IXCCGNat12
add fast-forward=no mtu=1500 name=LOOPBACK protocol-mode=none
add name=LoCIDR
add name=br_mpdf_798
/interface ethernet
set [ find default-name=sfp-sfpplus1 ] advertise=10M-full,100M-full,1000M-full \
    auto-negotiation=no l2mtu=1590 mac-address=D4:CA:6D:E1:78:02 name=\
    .S3_NEXUS-1/5 rx-flow-control=on tx-flow-control=on
set [ find default-name=ether1 ] l2mtu=1590 mac-address=D4:CA:6D:E1:78:04 \
    name=01_
set [ find default-name=ether2 ] l2mtu=1590 mac-address=D4:CA:6D:E1:78:05 \
    name=02_ speed=100Mbps
set [ find default-name=ether3 ] l2mtu=1590 mac-address=D4:CA:6D:E1:78:06 \
    name=03_Switch speed=100Mbps
set [ find default-name=ether4 ] l2mtu=1590 mac-address=D4:CA:6D:E1:78:07 \
    name=04_ rx-flow-control=auto tx-flow-control=auto
set [ find default-name=ether5 ] advertise=\
    10M-half,10M-full,100M-half,100M-full,1000M-half,1000M-full l2mtu=1590 \
    mac-address=D4:CA:6D:E1:78:0F name="ether5 - Xen"
/interface eoip
add local-address=198.18.127.1 mac-address=02:78:D8:7C:E9:38 name=\
    eoip-MPDF_798 remote-address=198.18.127.2 tunnel-id=798
/interface gre6
add local-address=2001:db8:2b28::2 name=GambiMPDF remote-address=2001:db8:9c0::10
/interface vlan
add interface=.S3_NEXUS-1/5 name=.4.3001_TMP_CLIENTES vlan-id=3001
add interface=.S3_NEXUS-1/5 name=.6.301_Chapadinha vlan-id=301
add interface=03_Switch name=vlan100-antenas-Sede vlan-id=100
add interface=.S3_NEXUS-1/5 name=vlan6.121-gerencia-extreme-vendinha vlan-id=\
    121
add comment=teste interface=.S3_NEXUS-1/5 name=vlan21 vlan-id=21
add interface=.S3_NEXUS-1/5 name=vlan798 vlan-id=798
add interface=.S3_NEXUS-1/5 name="vlan3043 Gerencia OLT Monte" vlan-id=3043
/interface list
add exclude=dynamic name=discover
add name=internet
/ip pool
add name="Rede_Escrit\F3rio" ranges=198.19.147.2-198.19.147.126
add name="Casa Levi" ranges=198.19.168.2-198.19.168.254
add name=dhcp_pool2 ranges=198.19.211.2
add name=poolClientes ranges=198.19.120.0/21
add name=Private_B ranges=198.19.70.0-198.19.79.254
add name=Private_A next-pool=Private_B ranges=198.19.80.1-198.19.89.254
add name="ASN 75" next-pool=Private_A ranges=198.18.75.64-198.18.75.223
/queue simple
add disabled=yes max-limit=20M/20M name=queue1 target=198.19.147.35/32
add max-limit=100M/100M name=queue2 target=198.18.72.22/32
/queue type
set 0 kind=sfq
set 1 kind=sfq
/interface bridge port
add bridge="AP Sede" interface=vlan100-antenas-Sede
add bridge=br_mpdf_798 interface=vlan798
add bridge=br_mpdf_798 interface=eoip-MPDF_798
/interface bridge settings
set use-ip-firewall=yes use-ip-firewall-for-vlan=yes
/ip firewall connection tracking
set enabled=yes tcp-established-timeout=10m
/ip settings
set tcp-syncookies=yes
/ipv6 settings
set max-neighbor-entries=1024
/interface list member
add interface=.S3_NEXUS-1/5 list=discover
add interface=01_ list=discover
add interface=03_Switch list=discover
add interface="ether5 - Xen" list=discover
add interface=.6.301_Chapadinha list=discover
add disabled=yes interface=vlan21 list=discover
add interface=02_ list=internet
/ip address
add address=198.18.1.1 comment="ID Router OSPF" interface=LOOPBACK network=\
    198.18.1.1
add address=198.18.112.5/30 comment="ACESSO AO CIRCUITO JOELMA" interface=\
    04_ network=198.18.112.4
add address=198.19.147.1/25 comment="Rede Computadores do Escrit\F3rio" \
    interface=04_ network=198.19.147.0
add address=198.18.6.33/30 comment="antena sede" interface=03_Switch network=\
    198.18.6.32
add address=198.18.72.2/30 comment="IP de Enlace com a BGP" interface=\
    02_ network=198.18.72.0
add address=198.18.15.1/30 comment=UNM2000 interface="ether5 - Xen" network=\
    198.18.15.0
add address=198.18.2.53/30 comment=CRS interface=.S3_NEXUS-1/5 network=\
    198.18.2.52
add address=198.18.2.97/30 comment="RB Chapadinha" interface=\
    .6.301_Chapadinha network=198.18.2.96
add address=198.18.88.2/24 disabled=yes interface=vlan798 network=\
    198.18.88.0
add address=198.18.127.1/30 interface=01_ network=198.18.127.0
add address=198.18.3.1/30 interface="vlan3043 Gerencia OLT Monte" network=\
    198.18.3.0
add address=198.18.72.60 interface=LOOPBACK network=198.18.72.60
