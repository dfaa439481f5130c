// Package ts sends and receives PTP messages with timestamps taken by the kernel
// (SO_TIMESTAMPING): software timestamps on any interface, hardware timestamps and the
// port's PTP hardware clock where the NIC has them (SIOCSHWTSTAMP, ETHTOOL_GET_TS_INFO).
// Event messages go out on a socket of their own that no other thread waits on; the
// sending goroutine reads their transmit timestamps from its error queue, matched to the
// message by SOF_TIMESTAMPING_OPT_ID, with a timeout (tx.go says why).
//
// Transports are those of IEEE 1588-2008 Annex D (UDP over IPv4: 224.0.1.129, peer delay
// 224.0.0.107, event port 319, general port 320) and Annex F (IEEE 802.3: ethertype
// 0x88F7, 01-1B-19-00-00-00 forwardable, 01-80-C2-00-00-0E non-forwardable and for
// peer delay).
package ts
