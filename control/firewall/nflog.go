package firewall

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NFLOG (nfnetlink_log) message and attribute numbers, from linux/netfilter/nfnetlink_log.h.
const (
	nfulnlMsgPacket = 0
	nfulnlMsgConfig = 1

	nfulaCfgCmd  = 1
	nfulaCfgMode = 2
	cfgCmdBind   = 1
	copyPacket   = 2

	nfulaPacketHdr = 1
	nfulaIfIn      = 4
	nfulaIfOut     = 5
	nfulaPayload   = 9
	nfulaPrefix    = 10
)

// LogLine is one packet a log rule matched.
type LogLine struct {
	Table, Chain string
	RuleID       uint64
	Prefix       string
	In, Out      string
	Payload      []byte // network header onwards (first bytes)
}

// ListenLog reads the packets log rules send to LogGroup and calls fn for each until ctx
// ends, in a goroutine started with run (the engine's Handle.Go). The socket binds the
// group in the engine's namespace.
func (k *Kernel) ListenLog(ctx context.Context, run func(context.Context, func(context.Context)), fn func(LogLine)) error {
	c, err := netfilter.Dial(&netlink.Config{NetNS: k.NetNS})
	if err != nil {
		return fmt.Errorf("nflog: %w", err)
	}
	h := netfilter.Header{SubsystemID: netfilter.NFSubsysULOG, MessageType: nfulnlMsgConfig,
		Flags: netlink.Request | netlink.Acknowledge, ResourceID: LogGroup}
	bind, err := netfilter.MarshalNetlink(h, []netfilter.Attribute{{Type: nfulaCfgCmd, Data: []byte{cfgCmdBind}}})
	if err != nil {
		c.Close()
		return fmt.Errorf("nflog: %w", err)
	}
	if _, err := c.Query(bind); err != nil {
		c.Close()
		return fmt.Errorf("nflog: bind group %d: %w", LogGroup, err)
	}
	mode := make([]byte, 6)
	binary.BigEndian.PutUint32(mode, 128)
	mode[4] = copyPacket
	setMode, _ := netfilter.MarshalNetlink(h, []netfilter.Attribute{{Type: nfulaCfgMode, Data: mode}})
	if _, err := c.Query(setMode); err != nil {
		c.Close()
		return fmt.Errorf("nflog: copy mode: %w", err)
	}
	names := k.ifNames()
	context.AfterFunc(ctx, func() { c.Close() })
	run(ctx, func(ctx context.Context) {
		for {
			msgs, err := c.Receive()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				continue // ENOBUFS when the reader falls behind: lines are lost, not the reader
			}
			for _, m := range msgs {
				hdr, attrs, err := netfilter.UnmarshalNetlink(m)
				if err != nil || hdr.MessageType != nfulnlMsgPacket {
					continue
				}
				if l, ok := parseLog(attrs, names); ok {
					fn(l)
				}
			}
		}
	})
	return nil
}

// ifNames returns a lookup of interface names by index in the engine's namespace.
func (k *Kernel) ifNames() func(uint32) string {
	var h *vnl.Handle
	var err error
	if k.NetNS != 0 {
		h, err = vnl.NewHandleAt(netns.NsHandle(k.NetNS))
	} else {
		h, err = vnl.NewHandle()
	}
	return func(i uint32) string {
		if err != nil || i == 0 {
			return ""
		}
		l, lerr := h.LinkByIndex(int(i))
		if lerr != nil {
			return strconv.Itoa(int(i))
		}
		return l.Attrs().Name
	}
}

func parseLog(attrs []netfilter.Attribute, names func(uint32) string) (LogLine, bool) {
	var l LogLine
	seen := false
	for _, a := range attrs {
		switch a.Type {
		case nfulaPrefix:
			p := strings.TrimRight(string(a.Data), "\x00")
			id, rest, _ := strings.Cut(p, " ")
			// table/chain/id: a chain's name may hold "/" itself, and is empty when it
			// did not fit (logPrefix).
			i, j := strings.Index(id, "/"), strings.LastIndex(id, "/")
			if i < 0 || i == j {
				return l, false // not one of routerd's rules
			}
			n, err := strconv.ParseUint(id[j+1:], 10, 64)
			if err != nil {
				return l, false
			}
			l.Table, l.Chain, l.RuleID, l.Prefix = id[:i], id[i+1:j], n, rest
			seen = true
		case nfulaIfIn:
			if len(a.Data) == 4 {
				l.In = names(binary.BigEndian.Uint32(a.Data))
			}
		case nfulaIfOut:
			if len(a.Data) == 4 {
				l.Out = names(binary.BigEndian.Uint32(a.Data))
			}
		case nfulaPayload:
			l.Payload = a.Data
		}
	}
	return l, seen
}

// Message renders a log line as RouterOS writes it: prefix, chain, interfaces, protocol,
// addresses and ports, length.
func (l LogLine) Message() string {
	var b strings.Builder
	if l.Prefix != "" {
		b.WriteString(l.Prefix + " ")
	}
	in, out := l.In, l.Out
	if in == "" {
		in = "(unknown 0)"
	}
	if out == "" {
		out = "(unknown 0)"
	}
	fmt.Fprintf(&b, "%s: in:%s out:%s, ", l.Chain, in, out)
	b.WriteString(describePacket(l.Payload))
	return b.String()
}

// describePacket summarises an IP packet: "proto TCP (SYN), 1.2.3.4:5->6.7.8.9:10, len 60".
func describePacket(p []byte) string {
	if len(p) < 1 {
		return "len 0"
	}
	var proto byte
	var src, dst netip.Addr
	var l4 []byte
	var total int
	switch p[0] >> 4 {
	case 4:
		if len(p) < 20 {
			return "len " + strconv.Itoa(len(p))
		}
		ihl := int(p[0]&15) * 4
		proto, total = p[9], int(binary.BigEndian.Uint16(p[2:4]))
		src, _ = netip.AddrFromSlice(p[12:16])
		dst, _ = netip.AddrFromSlice(p[16:20])
		if ihl <= len(p) {
			l4 = p[ihl:]
		}
	case 6:
		if len(p) < 40 {
			return "len " + strconv.Itoa(len(p))
		}
		proto, total = p[6], 40+int(binary.BigEndian.Uint16(p[4:6]))
		src, _ = netip.AddrFromSlice(p[8:24])
		dst, _ = netip.AddrFromSlice(p[24:40])
		l4 = p[40:]
	default:
		return "len " + strconv.Itoa(len(p))
	}
	name := strconv.Itoa(int(proto))
	for k, v := range protoNames {
		if v == proto {
			name = k
		}
	}
	ports := func() string {
		if len(l4) < 4 {
			return fmt.Sprintf("%s->%s", src, dst)
		}
		return fmt.Sprintf("%s:%d->%s:%d", src, binary.BigEndian.Uint16(l4[0:2]), dst, binary.BigEndian.Uint16(l4[2:4]))
	}
	switch proto {
	case 6:
		flags := ""
		if len(l4) >= 14 {
			var fs []string
			for i, f := range []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG"} {
				if l4[13]&(1<<i) != 0 {
					fs = append(fs, f)
				}
			}
			flags = " (" + strings.Join(fs, ",") + ")"
		}
		return fmt.Sprintf("proto TCP%s, %s, len %d", flags, ports(), total)
	case 17:
		return fmt.Sprintf("proto UDP, %s, len %d", ports(), total)
	case 1, 58:
		typ := ""
		if len(l4) >= 2 {
			typ = fmt.Sprintf(" (type %d, code %d)", l4[0], l4[1])
		}
		return fmt.Sprintf("proto %s%s, %s->%s, len %d", strings.ToUpper(name), typ, src, dst, total)
	}
	return fmt.Sprintf("proto %s, %s->%s, len %d", strings.ToUpper(name), src, dst, total)
}

var protoNames = map[string]byte{"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "ipsec-esp": 50,
	"ipsec-ah": 51, "icmpv6": 58, "ospf": 89, "sctp": 132}
