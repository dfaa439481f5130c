# jan/16/2020 01:55:16 by RouterOS 6.43.8
# (public export; trimmed: the layer7-protocol menu and its rule left out, addresses moved into 198.18.0.0/15)
#
# model = RouterBOARD 750 r2
#
/interface bridge
add name="Ponte de Seguran\E7a"
/interface ethernet
set [ find default-name=ether1 ] name="Entrada do Provedor"
set [ find default-name=ether2 ] name="Sa\EDda 01 - Aberta"
set [ find default-name=ether3 ] name="Sa\EDda 02 - Protegida"
set [ find default-name=ether4 ] name="Sa\EDda 03 - Protegida"
set [ find default-name=ether5 ] name="Sa\EDda 04 - Protegida"
/interface wireless security-profiles
set [ find default=yes ] supplicant-identity=MikroTik
/ip hotspot profile
set [ find default=yes ] html-directory=flash/hotspot
/ip pool
add name="Pilha Aberta" ranges=198.18.31.2
add name="Pilha Protegida" ranges=198.18.32.3-198.18.32.254
/ip dhcp-server
add address-pool="Pilha Aberta" disabled=no interface="Sa\EDda 01 - Aberta" \
    name="DHCP Aberto"
add address-pool="Pilha Protegida" disabled=no interface=\
    "Ponte de Seguran\E7a" name="DHCP Protegido"
/interface bridge port
add bridge="Ponte de Seguran\E7a" interface="Sa\EDda 04 - Protegida"
add bridge="Ponte de Seguran\E7a" interface="Sa\EDda 03 - Protegida"
add bridge="Ponte de Seguran\E7a" interface="Sa\EDda 02 - Protegida"
/ip address
add address=198.18.31.1/24 interface="Sa\EDda 01 - Aberta" network=198.18.31.0
add address=198.18.32.1/24 interface="Ponte de Seguran\E7a" network=198.18.32.0
/ip dhcp-client
add dhcp-options=hostname,clientid disabled=no interface=\
    "Entrada do Provedor"
/ip dhcp-server network
add address=198.18.31.0/24 gateway=198.18.31.1
add address=198.18.32.0/24 gateway=198.18.32.1
/ip firewall address-list
add address=198.19.2.2 list=JW
add address=198.18.32.2 list=JW
add address=198.18.31.2 list=JW
/ip firewall filter
add action=accept chain=forward comment="JW List" dst-address-list=JW
add action=accept chain=forward dst-address=198.19.1.254
add action=accept chain=forward dst-address-type="" src-address=198.19.1.254 \
    src-address-type=""
add action=reject chain=forward comment="HTTPS Block" dst-port=443 protocol=\
    tcp reject-with=icmp-network-unreachable src-address=!198.18.31.2
add action=reject chain=forward comment="Block All Trafic" dst-address=\
    !198.18.31.2 dst-address-list=!JW log=yes log-prefix=blocked reject-with=\
    icmp-network-unreachable src-address=!198.18.31.2 src-address-list=!JW
/ip firewall nat
add action=masquerade chain=srcnat
add action=dst-nat chain=dstnat dst-address=198.18.32.2 to-addresses=\
    198.18.31.2
add action=src-nat chain=srcnat src-address=198.18.31.2 to-addresses=\
    198.18.32.2
add action=redirect chain=dstnat comment="Redirect to WebProxy" dst-port=80 \
    protocol=tcp to-ports=8080
/ip proxy
set enabled=yes
/system clock
set time-zone-name=America/Sao_Paulo
