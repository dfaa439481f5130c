package engine

import (
	"context"
	"net"

	"github.com/routerd/routerd/ptp/clock"
	"github.com/routerd/routerd/ptp/node"
	"github.com/routerd/routerd/ptp/steer"
	"github.com/routerd/routerd/ptp/ts"
)

// System is what the PTP engine reaches outside itself: the interfaces (bridge ports,
// timestamping capabilities), the clocks, the PTP instances with their sockets and the
// steering program. osSystem is the real one; the plan tests run the engine against a
// fake that records every call (as wireguard-go tests against tun/tuntest), and test/ptp
// keeps testing the real sockets against linuxptp.
type System interface {
	// BridgePort reports whether an interface is a port of a Linux bridge.
	BridgePort(ifname string) (bool, error)
	// TSInfo says whether an interface timestamps in hardware, and its PHC.
	TSInfo(ifname string) (ts.Info, error)
	OpenPHC(index int) (clock.Clock, error)
	// NewNode opens an instance's ports (sockets bound to its interfaces).
	NewNode(cfg node.Config) (Node, error)
	// OpenSteer loads (or finds pinned under bpffs) the program that keeps PTP from
	// the bridge on bridge ports.
	OpenSteer(bpffs string) (Steerer, error)
	IfIndex(ifname string) (int, error)
}

// Node is a running PTP instance (*node.Node).
type Node interface {
	Run(ctx context.Context)
	Snapshot() node.Snapshot
	SetPriorities(p1, p2 uint8)
}

// Steerer is the steering program (*steer.Steer).
type Steerer interface {
	Attach(ifindex int, ifname string) error
	Detach(ifindex int, ifname string) error
	Stats(ifindex int) (steer.Stats, error)
	Close() error
}

var (
	_ Node    = (*node.Node)(nil)
	_ Steerer = (*steer.Steer)(nil)
)

// osSystem is the machine routerd runs on.
type osSystem struct{}

func (osSystem) BridgePort(ifname string) (bool, error) { return ts.BridgePort(ifname) }
func (osSystem) TSInfo(ifname string) (ts.Info, error)  { return ts.TSInfo(ifname) }
func (osSystem) OpenPHC(index int) (clock.Clock, error) { return clock.OpenPHC(index) }
func (osSystem) NewNode(cfg node.Config) (Node, error) {
	n, err := node.New(cfg)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return n, nil
}

func (osSystem) OpenSteer(bpffs string) (Steerer, error) {
	s, err := steer.Open(bpffs)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (osSystem) IfIndex(ifname string) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}
