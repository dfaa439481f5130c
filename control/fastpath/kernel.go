package fastpath

import (
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/dataplane"
	"github.com/routerd/routerd/nldump"
)

// Kernel is what the fast path engine reads from the kernel: the links (which of them
// are ports), this router's addresses and the interfaces' source checks (which the
// engine hands to the dataplane), and the conntrack timeouts FastTrack refreshes
// entries with. Reads only: the engine changes the system through Dataplane alone.
// systemKernel is the real one; the plan test runs the engine against a fake
// (docs/architecture.md, "Kernel seams"), and test/fastpath keeps testing the real
// kernel.
type Kernel interface {
	LinkList() ([]netlink.Link, error)
	// LocalAddrs lists the namespace's IPv4 addresses with their links.
	LocalAddrs() ([]LinkAddr, error)
	// SourceChecks is each interface's rp_filter mode by index, leaving out the links
	// skip names (dataplane.SourceChecks).
	SourceChecks(skip func(name string) bool) (map[int]uint32, error)
	// Sysctl reads a knob under /proc/sys ("net/netfilter/...").
	Sysctl(name string) (string, error)
	// AddrUpdates sends on ch each address that comes or goes, until done closes;
	// onErr hears what goes wrong with the subscription.
	AddrUpdates(ch chan<- netlink.AddrUpdate, done <-chan struct{}, onErr func(error)) error
}

// Dataplane is the fast path's part of the eBPF dataplane the tunnel engine loaded:
// reads first, then the writes. Each setter writes a map entry or attaches a program
// only where the dataplane differs from what it is given (a pass with nothing changed
// writes nothing; test/tunnel TestQuietResync checks that on the real kernel), so the
// engine hands it the whole wanted state every pass. *dataplane.Tunnels is the real one.
type Dataplane interface {
	FastTotals() (dataplane.FastStats, error)
	FastPortStats(ifindex int) (dataplane.FastStats, error)
	// FastPorts lists the ifindexes that have the port program's forwarding role.
	FastPorts() ([]int, error)
	// FastTrackConns reads what FastTrack forwarded of each connection, after
	// forgetting those in forget (firewall.FastTrackConns).
	FastTrackConns(forget []dataplane.FastTrackConn) (map[dataplane.FastTrackConn]dataplane.FastTrackCount, error)

	// Repin makes the pin folder and pins again when they were removed (the port
	// attachments went with them); with every pin there it only looks.
	Repin() (uint64, error)
	SetFastPath(v4, v6, ft4, ft6 bool) error
	SetFastTrackTimeouts(tcp, udp time.Duration) error
	// SetESPSteer allows the port program to hand inbound raw ESP to the userspace ESP
	// path's GRO socket.
	SetESPSteer(allowed bool) error
	// AddFastPort attaches the port program to ifindex where it is not attached and
	// gives it the forwarding role; it returns the hook it runs at and whether the
	// device takes redirected frames.
	AddFastPort(ifindex int, ifname string, force dataplane.Hook) (dataplane.Hook, bool, error)
	RemoveFastPort(ifindex int, ifname string) error
	SetLocalAddrs(addrs []netip.Addr) error
	SetSourceChecks(modes map[int]uint32) error
}

var _ Dataplane = (*dataplane.Tunnels)(nil)

// systemKernel is the kernel of the namespace routerd runs in.
type systemKernel struct{}

var _ Kernel = systemKernel{}

func (systemKernel) LinkList() ([]netlink.Link, error) { return nldump.Retry(netlink.LinkList) }
func (systemKernel) LocalAddrs() ([]LinkAddr, error) {
	as, err := nldump.Retry(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, err
	}
	out := make([]LinkAddr, 0, len(as))
	for _, a := range as {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			out = append(out, LinkAddr{a.LinkIndex, ip})
		}
	}
	return out, nil
}
func (systemKernel) SourceChecks(skip func(string) bool) (map[int]uint32, error) {
	return dataplane.SourceChecks(skip)
}
func (systemKernel) AddrUpdates(ch chan<- netlink.AddrUpdate, done <-chan struct{}, onErr func(error)) error {
	return netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr})
}
func (systemKernel) Sysctl(name string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + name)
	return strings.TrimSpace(string(b)), err
}
