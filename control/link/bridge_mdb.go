package link

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
)

// The bridge multicast database has no API in vishvananda/netlink, so this file speaks
// rtnetlink directly (RTM_NEWMDB, RTM_DELMDB, RTM_GETMDB; linux/if_bridge.h).
const (
	mdbaMdb          = 1 // MDBA_MDB
	mdbaMdbEntry     = 1 // MDBA_MDB_ENTRY
	mdbaMdbEntryInfo = 1 // MDBA_MDB_ENTRY_INFO
	mdbaEattrRtprot  = 5 // MDBA_MDB_EATTR_RTPROT
	mdbaSetEntry     = 1 // MDBA_SET_ENTRY
	mdbaSetEntryAttr = 2 // MDBA_SET_ENTRY_ATTRS
	mdbeAttrRtprot   = 4 // MDBE_ATTR_RTPROT (kernel 6.3+, newer than Debian 12's headers)

	mdbTemporary = 0
	mdbPermanent = 1

	// mdbProto marks the port entries routerd adds (the rtnetlink protocol its routes
	// and addresses carry too), so a restarted routerd finds them and leaves others alone.
	mdbProto = 0xc4

	portMsgLen  = 8  // struct br_port_msg: u8 family, 3 bytes padding, u32 ifindex
	mdbEntryLen = 28 // struct br_mdb_entry: u32 ifindex, u8 state, u8 flags, u16 vid, 16-byte address union, be16 proto, 2 bytes padding
)

// mdbEntry is one entry of a bridge's multicast database. Port equal to Bridge is a group
// joined by the bridge itself (a host entry, which the kernel only keeps as temporary).
type mdbEntry struct {
	Bridge, Port int
	State, Flags uint8
	Vid          uint16
	Group        netip.Addr // invalid for layer-2 (MAC) groups, which routerd does not configure
	Proto        uint8      // rtnetlink protocol; 0 when the kernel does not report one
}

// mdbKey identifies an entry as the kernel does (state and protocol aside).
type mdbKey struct {
	bridge, port int
	vid          uint16
	group        netip.Addr
}

func (m mdbEntry) key() mdbKey { return mdbKey{m.Bridge, m.Port, m.Vid, m.Group} }

var errShort = errors.New("truncated netlink attribute")

// eachAttr walks the netlink attributes in b. The kernel's bytes are untrusted: lengths
// are checked against what is there.
func eachAttr(b []byte, fn func(typ uint16, v []byte) error) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return errShort
		}
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < 4 || l > len(b) {
			return errShort
		}
		if err := fn(typ, b[4:l]); err != nil {
			return err
		}
		l = (l + 3) &^ 3
		if l >= len(b) {
			return nil
		}
		b = b[l:]
	}
	return nil
}

// parseMdbMsg reads the entries of one RTM_NEWMDB message of a dump (or notification).
func parseMdbMsg(b []byte) ([]mdbEntry, error) {
	if len(b) < portMsgLen {
		return nil, errShort
	}
	bridge := int(binary.NativeEndian.Uint32(b[4:8]))
	var out []mdbEntry
	err := eachAttr(b[portMsgLen:], func(typ uint16, v []byte) error {
		if typ != mdbaMdb {
			return nil // MDBA_ROUTER: router ports, not entries
		}
		return eachAttr(v, func(typ uint16, v []byte) error {
			if typ != mdbaMdbEntry {
				return nil
			}
			return eachAttr(v, func(typ uint16, v []byte) error {
				if typ != mdbaMdbEntryInfo {
					return nil
				}
				if len(v) < mdbEntryLen {
					return errShort
				}
				e := mdbEntry{
					Bridge: bridge,
					Port:   int(binary.NativeEndian.Uint32(v[0:4])),
					State:  v[4],
					Flags:  v[5],
					Vid:    binary.NativeEndian.Uint16(v[6:8]),
				}
				switch binary.BigEndian.Uint16(v[24:26]) {
				case unix.ETH_P_IP:
					e.Group = netip.AddrFrom4([4]byte(v[8:12]))
				case unix.ETH_P_IPV6:
					e.Group = netip.AddrFrom16([16]byte(v[8:24]))
				}
				err := eachAttr(v[mdbEntryLen:], func(typ uint16, v []byte) error {
					if typ == mdbaEattrRtprot && len(v) >= 1 {
						e.Proto = v[0]
					}
					return nil
				})
				out = append(out, e)
				return err
			})
		})
	})
	return out, err
}

// mdbDump lists the multicast database entries of every bridge.
func mdbDump() ([]mdbEntry, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETMDB, unix.NLM_F_DUMP)
	pm := make([]byte, portMsgLen) // ifindex 0: every bridge
	pm[0] = unix.AF_BRIDGE
	req.AddRawData(pm)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_GETMDB) // the kernel answers a dump with RTM_GETMDB messages
	if err != nil {
		return nil, fmt.Errorf("mdb dump: %w", err)
	}
	var out []mdbEntry
	for _, m := range msgs {
		es, err := parseMdbMsg(m)
		if err != nil {
			return nil, fmt.Errorf("mdb dump: %w", err)
		}
		out = append(out, es...)
	}
	return out, nil
}

// rawData is a fixed header (struct br_port_msg) as request data, serialized in order.
type rawData []byte

func (r rawData) Len() int          { return len(r) }
func (r rawData) Serialize() []byte { return r }

// encodeMdbEntry builds struct br_mdb_entry.
func encodeMdbEntry(e mdbEntry) []byte {
	b := make([]byte, mdbEntryLen)
	binary.NativeEndian.PutUint32(b[0:4], uint32(e.Port))
	b[4], b[5] = e.State, e.Flags
	binary.NativeEndian.PutUint16(b[6:8], e.Vid)
	if e.Group.Is4() {
		a := e.Group.As4()
		copy(b[8:12], a[:])
		binary.BigEndian.PutUint16(b[24:26], unix.ETH_P_IP)
	} else {
		a := e.Group.As16()
		copy(b[8:24], a[:])
		binary.BigEndian.PutUint16(b[24:26], unix.ETH_P_IPV6)
	}
	return b
}

// mdbChange adds (RTM_NEWMDB) or deletes (RTM_DELMDB) one entry. The error carries the
// kernel's extended-ack text ("Bridge's multicast processing is disabled"), which is what
// an item's status shows.
func mdbChange(op int, e mdbEntry) error {
	flags := unix.NLM_F_ACK
	if op == unix.RTM_NEWMDB {
		flags |= unix.NLM_F_CREATE | unix.NLM_F_EXCL
	}
	req := nl.NewNetlinkRequest(op, flags)
	pm := make([]byte, portMsgLen)
	pm[0] = unix.AF_BRIDGE
	binary.NativeEndian.PutUint32(pm[4:8], uint32(e.Bridge))
	req.AddData(rawData(pm)) // AddRawData would put it after the attributes
	req.AddData(nl.NewRtAttr(mdbaSetEntry, encodeMdbEntry(e)))
	if op == unix.RTM_NEWMDB && e.Port != e.Bridge {
		attrs := nl.NewRtAttr(mdbaSetEntryAttr|unix.NLA_F_NESTED, nil)
		attrs.AddRtAttr(mdbeAttrRtprot, []byte{mdbProto})
		req.AddData(attrs)
	}
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer s.Close()
	// Extended acks only add the kernel's message to an error; without them the request
	// and its error are the same.
	_ = s.SetExtAck(true)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
	_, err = req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// watchMdb pokes the MDB pass on every multicast database notification: entries deleted
// outside routerd come back, and host entries (which the kernel ages out) are renewed.
func (e *Engine) watchMdb(ctx context.Context) {
	s, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_MDB)
	if err != nil {
		slog.Warn("link: mdb notifications unavailable; entries are checked on configuration and link changes only", "err", err)
		return
	}
	e.eh.Go(ctx, func(ctx context.Context) { <-ctx.Done(); s.Close() })
	e.eh.Go(ctx, func(ctx context.Context) {
		for {
			_, _, err := s.Receive()
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN):
				// Notifications were lost (a burst of snooping joins): one pass catches up.
			case err != nil:
				slog.Warn("link: mdb notifications stopped", "err", err)
				return
			}
			// One pass applies the multicast databases with the rest.
			e.eh.Kick()
		}
	})
}

// applyMdb converges the multicast databases to /interface bridge mdb: one entry per
// port of an item, and deletes the entries routerd added that no item wants (port
// entries marked with mdbProto; host entries on bridges routerd owns, as the kernel keeps
// no protocol for those).
func (e *Engine) applyMdb(cfg *config) {
	const path = mdbPath
	current, err := e.h.MdbList()
	if err != nil {
		for _, it := range cfg.mdbs {
			e.setState(path, it.ID, false, "cannot read the multicast database: "+err.Error(), nil)
		}
		return
	}
	have := map[mdbKey]mdbEntry{}
	for _, c := range current {
		have[c.key()] = c
	}
	links := e.links()
	want := map[mdbKey]bool{}
	for _, it := range cfg.mdbs {
		if it.Disabled {
			e.setState(path, it.ID, false, "", nil)
			continue
		}
		br, ok := links[it.Bridge]
		if !ok || br.Type() != "bridge" {
			e.setState(path, it.ID, false, "bridge "+it.Bridge+" not present", nil)
			continue
		}
		group, err := netip.ParseAddr(it.Group)
		if err != nil || !group.IsMulticast() {
			e.setState(path, it.ID, false, "group "+it.Group+" is not a multicast address", nil)
			continue
		}
		vid, _ := parseVid(it.VID)
		bIdx := br.Attrs().Index
		var problems []string
		for _, name := range it.Ports {
			ent := mdbEntry{Bridge: bIdx, State: mdbPermanent, Vid: vid, Group: group.Unmap()}
			switch pl, ok := links[name]; {
			case name == it.Bridge:
				ent.Port, ent.State = bIdx, mdbTemporary // the kernel refuses permanent host entries
			case !ok:
				problems = append(problems, "interface "+name+" not present")
				continue
			case pl.Attrs().MasterIndex != bIdx:
				problems = append(problems, name+" is not a port of "+it.Bridge)
				continue
			default:
				ent.Port = pl.Attrs().Index
			}
			want[ent.key()] = true
			if _, ok := have[ent.key()]; ok {
				if ent.Port == bIdx {
					// Most likely added by routerd before a restart: adopted, so removing
					// the item removes it (the local stack re-joins a group it needs).
					e.mdbHost[ent.key()] = true
				}
				continue
			}
			if err := e.h.MdbAdd(ent); err != nil && !errors.Is(err, unix.EEXIST) {
				problems = append(problems, fmt.Sprintf("cannot add %s on %s: %v", group, name, err))
				continue
			}
			if ent.Port == bIdx {
				e.mdbHost[ent.key()] = true
			}
		}
		e.setState(path, it.ID, false, strings.Join(problems, "; "), nil)
	}
	for k, c := range have {
		// Port entries routerd added carry its protocol; host entries carry none, so only
		// those routerd added or adopted in this run are known (one left by an earlier
		// run and no longer configured ages out).
		ours := (c.Port != c.Bridge && c.Proto == mdbProto) || (c.Port == c.Bridge && e.mdbHost[k])
		if want[k] || !ours {
			continue
		}
		if err := e.h.MdbDel(c); err != nil && !errors.Is(err, unix.ENOENT) {
			e.passErr(fmt.Errorf("removing mdb entry %s: %w", c.Group, err))
			continue
		}
		delete(e.mdbHost, k)
	}
}

// parseVid reads vid= (0 none).
func parseVid(s string) (uint16, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 4094 {
		return 0, fmt.Errorf("invalid vid %q", s)
	}
	return uint16(v), nil
}

// checkMdbGroup refuses a group that is not a multicast address.
func checkMdbGroup(a control.Arg) error {
	if a.Name != "group" {
		return nil
	}
	if g, err := netip.ParseAddr(a.Value); err == nil && !g.Unmap().IsMulticast() {
		return control.ArgError("group must be a multicast address")
	}
	return nil
}
