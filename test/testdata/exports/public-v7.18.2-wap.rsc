# 2025-04-20 16:18:22 by RouterOS 7.18.2
# software id = Q684-P50F
#
# model = wAPGR-5HacD2HnD
# serial number = HGS0AEM8C59
/interface bridge
add name=bridge-local
/interface wireguard
add listen-port=13231 mtu=1420 name=wg0
/ip pool
add name=dhcp_pool0 ranges=198.18.100.50-198.18.100.254
/interface bridge port
add bridge=bridge-local interface=ether1
add bridge=bridge-local interface=ether2
/ip address
add address=198.18.100.1/24 interface=bridge-local network=198.18.100.0
/ip dhcp-client
# DHCP client can not run on slave or passthrough interface!
add interface=ether1
/ip dns
set allow-remote-requests=yes servers=198.18.1.1
/ip firewall filter
add action=accept chain=input dst-port=161 protocol=udp src-address=\
    198.18.100.0/24
add action=accept chain=input src-address=198.19.8.0/24
/ip firewall nat
add action=masquerade chain=srcnat out-interface=ether1 src-address=\
    198.18.100.0/24
/ip service
set telnet disabled=yes
set ftp disabled=yes
set api disabled=yes
set winbox address=0.0.0.0/0
set api-ssl disabled=yes
/system clock
set time-zone-name=Europe/Brussels
/system note
set show-at-login=no
/system scheduler
add interval=5s name=Log_LTE_Scheduler on-event=\
    "/system script run Log_LTE_Stats" policy=\
    ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon \
    start-date=2025-04-03 start-time=10:56:56
/system script
add dont-require-permissions=no name=Log_LTE_Stats owner=admin policy=\
    ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon source=":\
    local now ([/system clock get date] . \" \" . [/system clock get time])\
    \n:local lteInfo [/interface lte monitor lte1 once as-value]\
    \n\
    \n:local RSSI (\$lteInfo->\"rssi\")\
    \n:local logLine (\"\$now,RSSI:\$RSSI\\r\\n\")\
    \n:if ([/file find name=\"lte_log.txt\"] = \"\") do={\
    \n    /file print file=lte_log.txt\
    \n}\
    \n:file set lte_log.txt contents=([/file get lte_log.txt contents] . \$log\
    Line)\
    \n"
add dont-require-permissions=no name=jornlogLTE owner=admin policy=\
    ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon source=\
    ""
