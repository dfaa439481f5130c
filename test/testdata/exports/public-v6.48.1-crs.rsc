# feb/21/2021 12:19:01 by RouterOS 6.48.1
# (public export; trimmed to the menus routerd implements and a few of those it lacks, ports to the test's, addresses moved into 198.18.0.0/15)
# software id = 
#
#
#
/interface bridge
add name=BR pvid=666 vlan-filtering=yes
/interface ethernet
set [ find default-name=ether1 ] disable-running-check=no
set [ find default-name=ether2 ] disable-running-check=no name=sfp-sfp281
set [ find default-name=ether3 ] disable-running-check=no name=sfp-sfp282
set [ find default-name=ether4 ] disable-running-check=no name=sfp-sfpplus3
set [ find default-name=ether5 ] disable-running-check=no name=sfp-sfpplus4
/interface vlan
add interface=BR mtu=1496 name=VLAN70-Printers vlan-id=70
add interface=BR mtu=1496 name=VLAN2137-MGMT vlan-id=2137
/interface bonding
add mode=802.3ad name=bonding-MDF-AGG-1 slaves=sfp-sfpplus1
/interface vrrp
add interface=VLAN70-Printers name=VRRP70-Printers priority=101 vrid=70
/interface list
add name=WAN
/ip pool
add name=Pool-Guest ranges=198.18.80.10-198.18.82.128
/interface bridge port
add bridge=BR frame-types=admit-only-vlan-tagged ingress-filtering=yes \
    interface=sfp-sfpplus3 pvid=666
add bridge=BR frame-types=admit-only-vlan-tagged ingress-filtering=yes \
    interface=sfp-sfpplus4 pvid=666
/ip neighbor discovery-settings
set discover-interface-list=!dynamic
/interface bridge vlan
add bridge=BR tagged=BR,sfp-sfpplus3,sfp-sfpplus4 untagged=ether1 \
    vlan-ids=2137
add bridge=BR tagged=BR,sfp-sfpplus3,sfp-sfpplus4 vlan-ids=70
/interface list member
add interface=sfp-sfp281 list=WAN
add interface=sfp-sfp282 list=WAN
/ip address
add address=198.18.37.2/24 interface=VLAN2137-MGMT network=198.18.37.0
add address=198.18.70.2/24 interface=VLAN70-Printers network=198.18.70.0
/ip dns
set allow-remote-requests=yes
/ip firewall nat
add action=masquerade chain=srcnat out-interface-list=WAN src-address=\
    198.18.37.0/24
/system identity
set name=MDF-RTR-1
