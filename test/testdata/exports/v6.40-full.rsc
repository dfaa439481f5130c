# dec/02/2026 10:00:00 by RouterOS 6.40.8
# software id = ABCD-1234
#
# model = RouterBOARD 750G r3
# serial number = 0123456789AB
/interface ethernet
set [ find default-name=ether1 ] name=ether1-gateway
set [ find default-name=ether2 ] name=ether2-master
set [ find default-name=ether3 ] master-port=ether2-master name=\
    ether3-slave
set [ find default-name=ether4 ] master-port=ether2-master
set [ find default-name=ether5 ] master-port=none name=ether5-isp2
/ip address
add address=198.18.88.1/24 comment=lan interface=ether2-master network=\
    198.18.88.0
add address=198.18.1.2/24 interface=ether1-gateway network=198.18.1.0
add address=198.18.2.2/24 interface=ether5-isp2 network=198.18.2.0
/ip firewall mangle
add action=mark-routing chain=prerouting new-routing-mark=to-isp2 \
    passthrough=no src-address=198.18.88.128/25
/ip route
add distance=1 gateway=198.18.2.1 routing-mark=to-isp2
add dst-address=198.19.8.8/32 gateway=198.18.1.1 scope=10
add check-gateway=ping distance=1 gateway=198.19.8.8 target-scope=11
add distance=2 gateway=198.18.2.1
add distance=1 dst-address=198.18.50.0/24 gateway=198.18.1.1,198.18.2.1
/ip route rule
add action=lookup-only-in-table routing-mark=to-isp2 table=to-isp2
add action=unreachable dst-address=198.19.66.0/24
add src-address=198.18.88.0/25 table=main
