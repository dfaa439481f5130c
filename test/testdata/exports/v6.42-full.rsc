# may/05/2018 08:15:00 by RouterOS 6.42.1
# software id = 9T2K-PL0Q
#
# model = RB750Gr3
# serial number = 71A60B2C3D4E
/ip ipsec proposal
set [ find default=yes ] enc-algorithms=aes-256-cbc,aes-128-cbc
/ip address
add address=198.18.5.1/24 interface=ether1 network=198.18.5.0
add address=198.18.1.1/24 interface=ether2 network=198.18.1.0
/ip ipsec peer
add address=198.18.6.1/32 dh-group=modp2048 enc-algorithm=aes-256 \
    exchange-mode=main-l2tp generate-policy=port-override hash-algorithm=\
    sha256 lifetime=8h secret=site-secret
add address=198.18.7.0/24 auth-method=pre-shared-key-xauth passive=yes \
    secret=rw-secret xauth-login=road xauth-password=warrior
/ip ipsec policy
add dst-address=198.18.20.0/24 sa-dst-address=198.18.6.1 sa-src-address=\
    198.18.5.1 src-address=198.18.1.0/24 tunnel=yes
/ip route
add distance=1 gateway=198.18.5.254
