# 2025-05-04 21:46:19 by RouterOS 7.18.2
# (assembled from public `export verbose` outputs of RouterOS 7.18.2 and 7.19rc1:
# the /ipv6 settings, /system logging and /system logging action sections as RouterOS
# writes them, an /ip address of a removed interface (interface=*A), and actions added
# in the shapes public configurations use; addresses moved into 198.18.0.0/15)
# software id = KH3M-8RQA
#
# model = RB5009UPr+S+
/ipv6 settings
set accept-redirects=yes-if-forwarding-disabled accept-router-advertisements=\
    yes-if-forwarding-disabled allow-fast-path=yes disable-ipv6=no \
    disable-link-local-address=no forward=yes max-neighbor-entries=16384 \
    min-neighbor-entries=4096 multipath-hash-policy=l3 \
    soft-max-neighbor-entries=8192 stale-neighbor-detect-interval=30 \
    stale-neighbor-timeout=60
/ip address
add address=198.18.88.1/24 comment=defconf interface=ether2 network=198.18.88.0
add address=198.18.83.193 disabled=yes interface=*A network=198.18.83.0
/system logging action
set 0 memory-lines=1000 memory-stop-on-full=no name=memory target=memory
set 1 disk-file-count=2 disk-file-name=log disk-lines-per-file=1000 \
    disk-stop-on-full=no name=disk target=disk
set 2 name=echo remember=yes target=echo
set 3 name=remote remote=0.0.0.0 remote-log-format=default remote-port=514 \
    remote-protocol=udp src-address=0.0.0.0 syslog-facility=daemon \
    syslog-severity=auto syslog-time-format=bsd-syslog target=remote
add name=remotesyslog remote=198.18.99.50 remote-log-format=syslog \
    remote-port=514 remote-protocol=udp src-address=0.0.0.0 \
    syslog-facility=local6 syslog-severity=auto syslog-time-format=bsd-syslog \
    target=remote
add cef-event-delimiter="\n" name=siem remote=198.18.99.51 remote-log-format=\
    cef remote-port=9003 remote-protocol=tcp src-address=0.0.0.0 \
    syslog-facility=syslog syslog-severity=auto syslog-time-format=iso8601 \
    target=remote
/system logging
set 0 action=memory disabled=no prefix="" regex="" topics=info
set 1 action=memory disabled=no prefix="" regex="" topics=error
set 2 action=memory disabled=no prefix="" regex="" topics=warning
set 3 action=echo disabled=no prefix="" regex="" topics=critical
add action=remotesyslog disabled=no prefix="" regex="" topics=!debug,!packet
add action=siem disabled=no prefix="" regex="^login failure" topics=system,error
add action=memory disabled=yes prefix="" regex="" topics=dns
