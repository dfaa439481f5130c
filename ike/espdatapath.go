package ike

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/routerd/routerd/ike/esp"
)

// ESPDatapath installs CHILD_SAs into an esp.Datapath (kernel XFRM or userspace ESP): each
// CHILD_SA becomes an inbound and an outbound SA with a pair of policies carrying its
// traffic selectors, linked by the child's ReqID.
type ESPDatapath struct {
	DP esp.Datapath

	mu       sync.Mutex
	children []*ChildSA
	base     []esp.Policy
}

// NewESPDatapath adapts dp for the daemon (Daemon.SetDatapath).
func NewESPDatapath(dp esp.Datapath) *ESPDatapath { return &ESPDatapath{DP: dp} }

// SetBasePolicies sets the policies that do not come from a CHILD_SA (action discard or
// none, and encrypt policies waiting for their SA, which raise ACQUIRE); they are matched
// after the CHILD_SAs' own.
func (a *ESPDatapath) SetBasePolicies(ps []esp.Policy) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.base = append([]esp.Policy(nil), ps...)
	return a.syncLocked()
}

// espAlgs names a suite's ESP transforms as esp.SA wants them.
func espAlgs(s *Suite) (enc, auth string, err error) {
	if s == nil || s.Encr == nil {
		return "", "", errors.New("ike: CHILD SA without an encryption transform")
	}
	switch s.Encr.Name {
	case "aes-cbc", "aes-ctr", "aes-gcm":
		enc = fmt.Sprintf("aes-%d-%s", s.KeyBits, strings.TrimPrefix(s.Encr.Name, "aes-"))
	case "3des", "null", "chacha20poly1305":
		enc = s.Encr.Name
	default:
		return "", "", fmt.Errorf("ike: ESP transform %s: %w", s.Encr.Name, esp.ErrUnknownAlgorithm)
	}
	if s.Integ != nil {
		auth = s.Integ.Name
	}
	return enc, auth, nil
}

func (a *ESPDatapath) sas(c *ChildSA) (in, out esp.SA, err error) {
	enc, auth, err := espAlgs(c.Suite)
	if err != nil {
		return in, out, err
	}
	mode := esp.ModeTransport
	if c.Tunnel {
		mode = esp.ModeTunnel
	}
	life := esp.Lifetime{HardTime: c.Lifetime, SoftTime: c.Soft, HardBytes: c.Lifebytes}
	if c.Lifebytes != 0 {
		life.SoftBytes = c.Lifebytes / 10 * 9
	}
	var encIn, encOut *esp.Encap
	if c.Encap {
		// ESP-in-UDP never uses port 500 (RFC 3948 3): an IKE SA still on 500 (not floated
		// yet) means the peer's NAT-T port is 4500.
		lp, rp := c.Local.Port(), c.Remote.Port()
		if lp == 500 {
			lp = 4500
		}
		if rp == 500 {
			rp = 4500
		}
		encOut = &esp.Encap{SrcPort: lp, DstPort: rp}
		encIn = &esp.Encap{SrcPort: rp, DstPort: lp}
	}
	l, r := c.Local.Addr(), c.Remote.Addr()
	out = esp.SA{SPI: c.OutSPI, Dir: esp.DirOut, Src: l, Dst: r, Encap: encOut, Mode: mode, EncAlg: enc,
		EncKey: c.OutEncKey, AuthAlg: auth, AuthKey: c.OutIntegKey, ReplayWindow: esp.DefaultReplayWindow,
		ESN: c.Suite.ESN, Lifetime: life, ReqID: c.ReqID}
	in = out
	in.SPI, in.Dir, in.Src, in.Dst, in.Encap, in.EncKey, in.AuthKey = c.InSPI, esp.DirIn, r, l, encIn, c.InEncKey, c.InIntegKey
	return in, out, nil
}

// InstallChild adds both SAs, then the policies (so no packet meets a policy without SA).
func (a *ESPDatapath) InstallChild(c *ChildSA) error {
	in, out, err := a.sas(c)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := a.DP.AddSA(ctx, in); err != nil {
		return err
	}
	if err := a.DP.AddSA(ctx, out); err != nil {
		a.DP.DeleteSA(ctx, esp.Key{SPI: in.SPI, Dst: in.Dst})
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.children = append(a.children, c)
	return a.syncLocked()
}

// RemoveChild deletes the pair; its policies go unless a newer child (rekey) has the same.
func (a *ESPDatapath) RemoveChild(c *ChildSA) error {
	a.mu.Lock()
	for i, x := range a.children {
		if x == c {
			a.children = append(a.children[:i], a.children[i+1:]...)
			break
		}
	}
	err := a.syncLocked()
	a.mu.Unlock()
	ctx := context.Background()
	l, r := c.Local.Addr(), c.Remote.Addr()
	for _, k := range []esp.Key{{SPI: c.OutSPI, Dst: r}, {SPI: c.InSPI, Dst: l}} {
		if e := a.DP.DeleteSA(ctx, k); e != nil && !errors.Is(e, esp.ErrNoSA) {
			err = errors.Join(err, e)
		}
	}
	return err
}

// InputESP hands ESP-in-UDP from the 4500 socket to the data path.
func (a *ESPDatapath) InputESP(b []byte, src, dst netip.AddrPort) { a.DP.InputUDP(b, src, dst) }

func (a *ESPDatapath) syncLocked() error {
	var ps []esp.Policy
	for _, c := range a.children {
		ps = append(ps, childPolicies(c)...)
	}
	ps = append(ps, a.base...)
	return a.DP.SetPolicies(context.Background(), ps)
}

func childPolicies(c *ChildSA) []esp.Policy {
	mode := esp.ModeTransport
	if c.Tunnel {
		mode = esp.ModeTunnel
	}
	l, r := c.Local.Addr(), c.Remote.Addr()
	var id uint32
	if c.Policy != nil {
		id = uint32(c.Policy.ID)
	}
	var ps []esp.Policy
	for _, lts := range c.LocalTS {
		for _, rts := range c.RemoteTS {
			if lts.Start.Is4() != rts.Start.Is4() {
				continue
			}
			proto := lts.IPProto
			if proto == 0 {
				proto = rts.IPProto
			}
			for _, lp := range selectorPrefixes(lts) {
				for _, rp := range selectorPrefixes(rts) {
					out := esp.Policy{ID: id, Src: lp, Dst: rp, Protocol: proto, SrcPort: onePort(lts), DstPort: onePort(rts),
						Dir: esp.DirOut, Action: esp.ActionEncrypt, Level: esp.LevelRequire, Mode: mode,
						TunnelSrc: l, TunnelDst: r, ReqID: c.ReqID}
					in := out
					in.Src, in.Dst, in.SrcPort, in.DstPort, in.Dir, in.TunnelSrc, in.TunnelDst = rp, lp, out.DstPort, out.SrcPort, esp.DirIn, r, l
					ps = append(ps, out, in)
				}
			}
		}
	}
	return ps
}

// onePort is a selector's port when it names exactly one, else 0 (any): esp.Policy takes
// single ports, so a narrower range is carried as any port.
func onePort(s Selector) uint16 {
	if s.StartPort == s.EndPort {
		return s.StartPort
	}
	return 0
}

// selectorPrefixes splits an address range into the prefixes covering exactly it.
func selectorPrefixes(s Selector) []netip.Prefix {
	var out []netip.Prefix
	start, end := s.Start, s.End
	if !start.IsValid() || !end.IsValid() || start.Is4() != end.Is4() || end.Less(start) {
		return nil
	}
	for len(out) < 128 {
		bits := start.BitLen()
		// the largest prefix starting at start that stays within end
		for bits > 0 {
			p := netip.PrefixFrom(start, bits-1).Masked()
			if p.Addr() != start || lastAddr(p).Compare(end) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(start, bits)
		out = append(out, p)
		last := lastAddr(p)
		if last.Compare(end) >= 0 {
			break
		}
		start = last.Next()
	}
	return out
}
