# 1970-01-18 20:43:37 by RouterOS 7.11.2
# software id = WASL-UVIR
#
# model = CRS326-24G-2S+
# serial number = HEG08ZG4MJA
/interface bridge
add name=br-sw protocol-mode=none vlan-filtering=yes
/interface vlan
add interface=br-sw name=vlan10-mgmt vlan-id=10
/interface wireless security-profiles
set [ find default=yes ] supplicant-identity=MikroTik
/ip hotspot profile
set [ find default=yes ] html-directory=hotspot
/port
set 0 name=serial0
/interface bridge port
add bridge=br-sw comment="TRUNK uplink to hEX S (tag 10/20/30/100)" \
    frame-types=admit-only-vlan-tagged interface=ether1
add bridge=br-sw comment="ACCESS VLAN100" frame-types=\
    admit-only-untagged-and-priority-tagged interface=ether2 pvid=100
add bridge=br-sw comment="ACCESS VLAN100" frame-types=\
    admit-only-untagged-and-priority-tagged interface=ether3 pvid=100
add bridge=br-sw comment="TRUNK homelab (tag 10/20/30)" frame-types=\
    admit-only-vlan-tagged interface=ether4
/interface bridge vlan
add bridge=br-sw tagged="br-sw,ether1,ether4,\
    ether3" vlan-ids=10
add bridge=br-sw tagged=br-sw,ether1 untagged="ether2,eth\
    er3" vlan-ids=100
/ip address
add address=198.18.10.2/24 comment="CRS mgmt" interface=vlan10-mgmt network=\
    198.18.10.0
/ip dns
set servers=198.18.10.5
/ip route
add comment="Default GW" distance=1 dst-address=0.0.0.0/0 gateway=\
    198.18.10.1
/system identity
set name=crs
/system note
set show-at-login=no
/system routerboard settings
set boot-os=router-os
