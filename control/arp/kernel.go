package arp

import (
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/nldump"
)

// Kernel is what the ARP engine reads from and changes in the kernel: reads first, then
// the writes. A pass reads first and writes only what differs, so a pass with nothing
// changed makes no call of the second group. netlinkKernel is the real one; the plan
// test runs the engine against a fake that records every write (docs/architecture.md,
// "Kernel seams"), and TestStaticAndDynamic keeps testing the real kernel.
type Kernel interface {
	LinkByName(name string) (netlink.Link, error)
	LinkList() ([]netlink.Link, error)
	// NeighList lists the IPv4 neighbours; NeighProxyList the IPv4 proxy entries.
	NeighList() ([]netlink.Neigh, error)
	NeighProxyList() ([]netlink.Neigh, error)

	NeighSet(n *netlink.Neigh) error
	NeighDel(n *netlink.Neigh) error
}

// netlinkKernel is the kernel of the handle's namespace (a zero Handle: the process's).
// Dumps that raced a change are repeated (package nldump), not a failed pass.
type netlinkKernel struct{ h *netlink.Handle }

var _ Kernel = netlinkKernel{}

func (k netlinkKernel) LinkByName(name string) (netlink.Link, error) { return k.h.LinkByName(name) }
func (k netlinkKernel) LinkList() ([]netlink.Link, error)            { return nldump.Retry(k.h.LinkList) }
func (k netlinkKernel) NeighList() ([]netlink.Neigh, error) {
	return nldump.Retry(func() ([]netlink.Neigh, error) { return k.h.NeighList(0, unix.AF_INET) })
}
func (k netlinkKernel) NeighProxyList() ([]netlink.Neigh, error) {
	return nldump.Retry(func() ([]netlink.Neigh, error) { return k.h.NeighProxyList(0, unix.AF_INET) })
}
func (k netlinkKernel) NeighSet(n *netlink.Neigh) error { return k.h.NeighSet(n) }
func (k netlinkKernel) NeighDel(n *netlink.Neigh) error { return k.h.NeighDel(n) }
