package queue

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/firewall"
	"github.com/routerd/routerd/nldump"
)

// Kernel is what the queue engine reads from and changes in the kernel: links and routes
// (which device a queue shapes), qdiscs, HTB classes and filters, read first, then the
// writes. A pass reads first and writes only what differs, so a pass with nothing changed
// makes no call of the second group. netlinkKernel is the real one; the plan test runs
// the engine against a fake that records every write (docs/architecture.md, "Kernel
// seams"), and the queue tests of test/examples keep testing the real kernel.
type Kernel interface {
	LinkByName(name string) (netlink.Link, error)
	LinkByIndex(index int) (netlink.Link, error)
	LinkList() ([]netlink.Link, error)
	RouteGet(dst net.IP) ([]netlink.Route, error)
	QdiscList(link netlink.Link) ([]netlink.Qdisc, error)
	ClassList(link netlink.Link, parent uint32) ([]netlink.Class, error)
	FilterList(link netlink.Link, parent uint32) ([]netlink.Filter, error)

	LinkAdd(link netlink.Link) error
	LinkSetUp(link netlink.Link) error
	LinkDel(link netlink.Link) error
	QdiscAdd(q netlink.Qdisc) error
	QdiscDel(q netlink.Qdisc) error
	ClassAdd(c netlink.Class) error
	ClassChange(c netlink.Class) error
	FilterAdd(f netlink.Filter) error
	FilterDel(f netlink.Filter) error
	// FifoAdd adds a pfifo or bfifo qdisc with its limit (struct tc_fifo_qopt), which the
	// netlink library has no type for.
	FifoAdd(a netlink.QdiscAttrs, kind string, limit uint32) error
	// MarkFilterAdd adds the cls_bpf classifier of a queue with packet-marks: a packet
	// whose mark is one of marks and whose addresses match one of rules goes to classID.
	MarkFilterAdd(a netlink.FilterAttrs, classID uint32, marks []string, rules []match) error
	// FeedAdd adds an egress filter that redirects to the IFB ifb what came in through
	// the interface named indev (u32's indev match, which the netlink library does not
	// encode).
	FeedAdd(a netlink.FilterAttrs, indev string, ifb int) error
	// UploadRules reads the upload classifier's rules (there: its table is there);
	// UploadSet replaces them in one nftables transaction (none: the table goes).
	UploadRules() (rules []string, there bool, err error)
	UploadSet(rules []uploadRule) error
}

// netlinkKernel is the kernel of the handle's namespace. Dumps that raced a change are
// repeated (package nldump), not a failed pass.
type netlinkKernel struct {
	h     *netlink.Handle
	marks *firewall.Marks // the firewall's mark numbers (nil: none on the host)
}

var _ Kernel = netlinkKernel{}

func (k netlinkKernel) LinkByName(name string) (netlink.Link, error) { return k.h.LinkByName(name) }
func (k netlinkKernel) LinkByIndex(index int) (netlink.Link, error)  { return k.h.LinkByIndex(index) }
func (k netlinkKernel) LinkList() ([]netlink.Link, error) {
	return nldump.Retry(func() ([]netlink.Link, error) { return k.h.LinkList() })
}
func (k netlinkKernel) RouteGet(dst net.IP) ([]netlink.Route, error) { return k.h.RouteGet(dst) }
func (k netlinkKernel) QdiscList(l netlink.Link) ([]netlink.Qdisc, error) {
	return nldump.Retry(func() ([]netlink.Qdisc, error) { return k.h.QdiscList(l) })
}
func (k netlinkKernel) ClassList(l netlink.Link, parent uint32) ([]netlink.Class, error) {
	return nldump.Retry(func() ([]netlink.Class, error) { return k.h.ClassList(l, parent) })
}
func (k netlinkKernel) FilterList(l netlink.Link, parent uint32) ([]netlink.Filter, error) {
	return nldump.Retry(func() ([]netlink.Filter, error) { return k.h.FilterList(l, parent) })
}
func (k netlinkKernel) LinkAdd(l netlink.Link) error      { return k.h.LinkAdd(l) }
func (k netlinkKernel) LinkSetUp(l netlink.Link) error    { return k.h.LinkSetUp(l) }
func (k netlinkKernel) LinkDel(l netlink.Link) error      { return k.h.LinkDel(l) }
func (k netlinkKernel) QdiscAdd(q netlink.Qdisc) error    { return k.h.QdiscAdd(q) }
func (k netlinkKernel) QdiscDel(q netlink.Qdisc) error    { return k.h.QdiscDel(q) }
func (k netlinkKernel) ClassAdd(c netlink.Class) error    { return k.h.ClassAdd(c) }
func (k netlinkKernel) ClassChange(c netlink.Class) error { return k.h.ClassChange(c) }
func (k netlinkKernel) FilterAdd(f netlink.Filter) error  { return k.h.FilterAdd(f) }
func (k netlinkKernel) FilterDel(f netlink.Filter) error  { return k.h.FilterDel(f) }

// FifoAdd sends the RTM_NEWQDISC itself; the handle is the process's namespace's
// (netlink.NewHandle in Start), as is the request's socket.
func (k netlinkKernel) FifoAdd(a netlink.QdiscAttrs, kind string, limit uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL, Ifindex: int32(a.LinkIndex), Handle: a.Handle, Parent: a.Parent})
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated(kind)))
	opt := make([]byte, 4)
	binary.NativeEndian.PutUint32(opt, limit)
	req.AddData(nl.NewRtAttr(nl.TCA_OPTIONS, opt))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// MarkFilterAdd loads the classifier and attaches it: the filter holds the program, so
// routerd's descriptor is closed once it is attached.
func (k netlinkKernel) MarkFilterAdd(a netlink.FilterAttrs, classID uint32, marks []string, rules []match) error {
	nums := make([]uint32, len(marks))
	for i, m := range marks {
		nums[i] = k.markOf(m)
	}
	prog, err := markProgram(nums, rules)
	if err != nil {
		return fmt.Errorf("cannot load the mark classifier: %w", err)
	}
	defer prog.Close()
	return k.h.FilterAdd(&netlink.BpfFilter{FilterAttrs: a, Fd: prog.FD(), Name: "routerd_qmark", ClassId: classID})
}

// FeedAdd sends the RTM_NEWTFILTER itself: a u32 filter matching every packet whose
// input device is indev, with a mirred egress redirect to ifb.
func (k netlinkKernel) FeedAdd(a netlink.FilterAttrs, indev string, ifb int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWTFILTER, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(&nl.TcMsg{Family: nl.FAMILY_ALL, Ifindex: int32(a.LinkIndex), Parent: a.Parent,
		Info: netlink.MakeHandle(a.Priority, nl.Swap16(a.Protocol))})
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("u32")))
	opts := nl.NewRtAttr(nl.TCA_OPTIONS, nil)
	sel := &nl.TcU32Sel{Nkeys: 1, Flags: nl.TC_U32_TERMINAL, Keys: []nl.TcU32Key{{}}}
	opts.AddRtAttr(nl.TCA_U32_SEL, sel.Serialize())
	opts.AddRtAttr(nl.TCA_U32_INDEV, nl.ZeroTerminated(indev))
	if err := netlink.EncodeActions(opts.AddRtAttr(nl.TCA_U32_ACT, nil), []netlink.Action{netlink.NewMirredAction(ifb)}); err != nil {
		return err
	}
	req.AddData(opts)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}
