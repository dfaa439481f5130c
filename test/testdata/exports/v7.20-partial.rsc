# 2025-11-14 09:20:02 by RouterOS 7.20
# software id = 7KQM-4XZB
#
# model = hAP ax3
# serial number = HH8A0B1C2D3
/interface bridge
add admin-mac=02:5A:00:00:00:09 auto-mac=no comment=defconf name=bridge
/interface wireless security-profiles
set [ find default=yes ] supplicant-identity=MikroTik
add authentication-types=wpa2-psk mode=dynamic-keys name=home \
    supplicant-identity=MikroTik wpa2-pre-shared-key=secretsecret
/interface list
add comment=defconf name=WAN
add comment=defconf name=LAN
/ip pool
add name=default-dhcp ranges=198.18.1.10-198.18.1.254
/ip dhcp-server
add address-pool=default-dhcp interface=bridge name=defconf
/interface bridge port
add bridge=bridge comment=defconf interface=ether2
add bridge=bridge comment=defconf interface=ether3
/ip neighbor discovery-settings
set discover-interface-list=LAN
/interface list member
add comment=defconf interface=bridge list=LAN
add comment=defconf interface=ether1 list=WAN
/ip address
add address=198.18.1.1/24 comment=defconf interface=bridge network=\
    198.18.1.0
/ip dhcp-client
add comment=defconf interface=ether1
/ip dhcp-server network
add address=198.18.1.0/24 comment=defconf dns-server=198.18.1.1 gateway=\
    198.18.1.1
/ip dns
set allow-remote-requests=yes
/system identity
set name=home-ap
/tool mac-server
set allowed-interface-list=LAN
/tool mac-server mac-winbox
set allowed-interface-list=LAN
