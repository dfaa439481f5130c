package tunnel

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// etherTypeLoopProtect is the EtherType of RouterOS loop protect frames.
const etherTypeLoopProtect = 0x9003

// loopGuard is the loop protection of one EoIP tunnel with loop-protect=on, as RouterOS
// does it: a loop protect frame (EtherType 0x9003, the interface's MAC as source) goes
// out every send interval, and a loop protect frame that comes in from the MAC of a
// loop-protected interface of this router means a layer-2 loop: the interface goes down
// for the disable time (0: until its configuration changes).
type loopGuard struct {
	// settings: a change of any resets the protection (RouterOS does so too)
	ifname                string
	ifindex               int
	mac                   string
	interval, disableTime time.Duration

	fd       int
	lastSent time.Time
	tripped  bool
	until    time.Time // when tripped and disableTime > 0
	// err is why the interface could not be set down (tripped) or up again: the item's
	// reason, and tried again every tick until it succeeds.
	err error
}

func (g *loopGuard) same(o *loopGuard) bool {
	return g.ifname == o.ifname && g.ifindex == o.ifindex && g.mac == o.mac &&
		g.interval == o.interval && g.disableTime == o.disableTime
}

func (g *loopGuard) status() string {
	if g.tripped {
		return "disable"
	}
	return "on"
}

// open makes the guard's socket: a tap on the interface ahead of any bridge it is a port
// of (a socket for the loop protect EtherType alone would miss frames a bridge takes),
// blind to what the interface sends (no copy of each sent packet), and filtered in the
// kernel to loop protect frames, so that the tunnel's traffic costs a few instructions
// per received packet and never reaches routerd.
func (g *loopGuard) open() error {
	// Protocol 0: nothing is received before the filter is in place and the bind names
	// the interface.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loop protect socket: %w", err)
	}
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeLoopProtect, SkipFalse: 1},
		bpf.RetConstant{Val: 128},
		bpf.RetConstant{Val: 0},
	})
	if err == nil {
		f := make([]unix.SockFilter, len(prog))
		for i, in := range prog {
			f[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		err = unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]})
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: g.ifindex})
	}
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("loop protect socket on %s: %w", g.ifname, err)
	}
	g.fd = fd
	return nil
}

func (g *loopGuard) close() {
	if g.fd > 0 {
		unix.Close(g.fd)
		g.fd = 0
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// frame is the loop protect frame the guard sends: broadcast, so that any bridge floods
// it, from the interface's MAC.
func (g *loopGuard) frame() []byte {
	b := make([]byte, 60)
	for i := 0; i < 6; i++ {
		b[i] = 0xff
	}
	if hw, err := net.ParseMAC(g.mac); err == nil {
		copy(b[6:12], hw)
	}
	binary.BigEndian.PutUint16(b[12:], etherTypeLoopProtect)
	return b
}

// received drains the socket and returns the source MACs of the loop protect frames
// that came in (not those this router sent).
func (g *loopGuard) received() []string {
	var out []string
	buf := make([]byte, 128)
	for i := 0; i < 64; i++ {
		n, from, err := unix.Recvfrom(g.fd, buf, 0)
		if err != nil {
			break
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if src, ok := loopFrameSource(buf[:n]); ok {
			out = append(out, src)
		}
	}
	return out
}

// loopFrameSource reads the source MAC of a received loop protect frame (as print shows
// MACs); ok false for anything else.
func loopFrameSource(b []byte) (string, bool) {
	if len(b) < 14 || binary.BigEndian.Uint16(b[12:]) != etherTypeLoopProtect {
		return "", false
	}
	return strings.ToUpper(net.HardwareAddr(b[6:12]).String()), true
}

// setLoopGuard starts, keeps or stops the loop protection of a tunnel (by hidden name);
// g nil stops it. It returns the loop-protect-status to show and why the protection
// does not work as it says (its socket cannot be opened, or the interface could not be
// set down or up). e.mu is not held.
func (e *Engine) setLoopGuard(hidden string, g *loopGuard) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.loops[hidden]
	if old != nil && g != nil && old.same(g) {
		return old.status(), old.err
	}
	if old != nil {
		old.close()
		delete(e.loops, hidden)
		if old.tripped {
			e.Kick() // the interface comes up again on the next pass
		}
	}
	if g == nil {
		return "off", nil
	}
	if err := g.open(); err != nil {
		return "off", fmt.Errorf("loop protect: %w", err)
	}
	e.loops[hidden] = g
	return g.status(), nil
}

// setLink sets g's interface down while it is tripped, else up; a failure is kept in
// g.err (e.mu held).
func (e *Engine) setLink(g *loopGuard) {
	l, err := e.k.LinkByIndex(g.ifindex)
	what := "up"
	if err == nil {
		if g.tripped {
			what, err = "down", e.k.LinkSetDown(l)
		} else {
			err = e.k.LinkSetUp(l)
		}
	}
	g.err = nil
	if err != nil {
		g.err = fmt.Errorf("loop protect cannot set %s %s: %w", g.ifname, what, err)
		slog.Warn("tunnel: "+g.err.Error(), "interface", g.ifname)
	}
}

// loopTripped says whether loop protection keeps a tunnel's interface down.
func (e *Engine) loopTripped(hidden string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tripped(hidden)
}

// tripped is loopTripped with e.mu held.
func (e *Engine) tripped(hidden string) bool {
	g := e.loops[hidden]
	return g != nil && g.tripped
}

// loopGuardOf is the loop protection an EoIP item asks for (nil: loop-protect is not on;
// default works as off, as in RouterOS).
func loopGuardOf(it *item, vis netlink.Link) *loopGuard {
	if it.LoopProtect != "on" {
		return nil
	}
	return &loopGuard{ifname: it.Name, ifindex: vis.Attrs().Index,
		mac:      strings.ToUpper(vis.Attrs().HardwareAddr.String()),
		interval: it.LoopProtectSendInterval, disableTime: it.LoopProtectDisableTime}
}

// loopProtect sends due loop protect frames, looks for frames that came back, takes
// interfaces down on a loop and up again when their disable time is over. e.mu is held.
func (e *Engine) loopProtect(now time.Time) (changed bool) {
	own := map[string]string{}
	for _, g := range e.loops {
		own[g.mac] = g.ifname
	}
	for _, g := range e.loops {
		if g.err != nil { // the last down or up failed: again, and the item says how it went
			e.setLink(g)
			changed = true
		}
		if g.tripped {
			if g.disableTime > 0 && !now.Before(g.until) {
				g.tripped = false
				g.lastSent = time.Time{}
				e.setLink(g)
				slog.Info("tunnel: loop protect re-enabled the interface", "interface", g.ifname)
				changed = true
			}
			g.received() // what was queued while down does not count
			continue
		}
		for _, src := range g.received() {
			origin, ok := own[src]
			if !ok {
				continue
			}
			slog.Warn(fmt.Sprintf("%s received loop protect packet originated from %s (%s)", g.ifname, src, origin))
			g.tripped = true
			g.until = now.Add(g.disableTime)
			e.setLink(g)
			changed = true
			break
		}
		if !g.tripped && g.interval > 0 && now.Sub(g.lastSent) >= g.interval {
			sa := &unix.SockaddrLinklayer{Protocol: htons(etherTypeLoopProtect), Ifindex: g.ifindex, Halen: 6,
				Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
			if err := unix.Sendto(g.fd, g.frame(), 0, sa); err != nil {
				slog.Debug("tunnel: loop protect frame", "interface", g.ifname, "err", err)
			}
			g.lastSent = now
		}
	}
	return changed
}
