package dataplane

import (
	"encoding/binary"
	"fmt"

	mnl "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The netdev generic netlink family (linux/netdev.h) tells what XDP a device does.
const (
	netdevCmdDevGet     = 1 // NETDEV_CMD_DEV_GET
	netdevAIfindex      = 1 // NETDEV_A_DEV_IFINDEX
	netdevAXDPFeatures  = 3 // NETDEV_A_DEV_XDP_FEATURES
	netdevXDPActNDOXmit = 4 // NETDEV_XDP_ACT_NDO_XMIT
	netdevFamilyVersion = 1
	netdevFamilyName    = "netdev"
	genlHeaderLen       = 4
)

// TakesRedirects reports whether frames redirected by XDP into ifindex are sent
// (NETDEV_XDP_ACT_NDO_XMIT). A veth has it only while its peer runs an XDP program or
// has GRO on; without it a redirected frame is dropped (MACHINE-NOTES), so the fast
// path does not send there and the kernel forwards instead.
func TakesRedirects(ifindex int) (bool, error) {
	fam, err := netlink.GenlFamilyGet(netdevFamilyName)
	if err != nil {
		return false, fmt.Errorf("netdev netlink family: %w", err)
	}
	c, err := mnl.Dial(unix.NETLINK_GENERIC, nil)
	if err != nil {
		return false, fmt.Errorf("generic netlink: %w", err)
	}
	defer c.Close()
	ae := mnl.NewAttributeEncoder()
	ae.Uint32(netdevAIfindex, uint32(ifindex))
	attrs, err := ae.Encode()
	if err != nil {
		return false, err
	}
	req := mnl.Message{
		Header: mnl.Header{Type: mnl.HeaderType(fam.ID), Flags: mnl.Request},
		Data:   append([]byte{netdevCmdDevGet, netdevFamilyVersion, 0, 0}, attrs...),
	}
	msgs, err := c.Execute(req)
	if err != nil {
		return false, fmt.Errorf("netdev dev-get %d: %w", ifindex, err)
	}
	for _, m := range msgs {
		if len(m.Data) < genlHeaderLen {
			continue
		}
		ad, err := mnl.NewAttributeDecoder(m.Data[genlHeaderLen:])
		if err != nil {
			return false, err
		}
		for ad.Next() {
			if ad.Type() == netdevAXDPFeatures {
				b := ad.Bytes()
				if len(b) >= 8 {
					return binary.NativeEndian.Uint64(b)&netdevXDPActNDOXmit != 0, nil
				}
			}
		}
	}
	return false, nil
}
