package esp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// attrs splits the attributes after a fixed-size XFRM header.
func attrs(t *testing.T, b []byte) map[uint16][]byte {
	t.Helper()
	as, err := nl.ParseRouteAttr(b)
	if err != nil {
		t.Fatal(err)
	}
	m := map[uint16][]byte{}
	for _, a := range as {
		m[a.Attr.Type] = a.Value
	}
	return m
}

func cstr(b []byte) string { return string(bytes.TrimRight(b, "\x00")) }

// TestXfrmStateMessage checks the XFRM_MSG_NEWSA bytes the kernel path sends, attribute by
// attribute (this kernel has no ESP, so it cannot run them).
func TestXfrmStateMessage(t *testing.T) {
	cases := []struct {
		enc, auth, kname, aname string
		trunc                   uint32
		aead                    bool
	}{
		{"aes-128-gcm", "", "rfc4106(gcm(aes))", "", 0, true},
		{"aes-256-gcm", "", "rfc4106(gcm(aes))", "", 0, true},
		{"chacha20poly1305", "", "rfc7539esp(chacha20,poly1305)", "", 0, true},
		{"aes-256-cbc", "sha256", "cbc(aes)", "hmac(sha256)", 128, false},
		{"aes-128-ctr", "sha1", "rfc3686(ctr(aes))", "hmac(sha1)", 96, false},
		{"3des", "md5", "cbc(des3_ede)", "hmac(md5)", 96, false},
		{"aes-192-cbc", "sha512", "cbc(aes)", "hmac(sha512)", 256, false},
		{"null", "sha384", "ecb(cipher_null)", "hmac(sha384)", 192, false},
	}
	for _, c := range cases {
		ek, ak := keyFor(t, c.enc, c.auth, 4)
		sa := SA{SPI: 0xc0ffee01, Dir: DirOut, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
			Encap: &Encap{4500, 31000}, Mode: ModeTransport, EncAlg: c.enc, EncKey: ek, AuthAlg: c.auth, AuthKey: ak,
			ReplayWindow: 64, ReqID: 42, Lifetime: Lifetime{SoftTime: 50 * time.Minute, HardTime: time.Hour, SoftBytes: 1 << 30}}
		req, err := stateRequest(sa, false)
		if err != nil {
			t.Fatal(c.enc, err)
		}
		b := req.Serialize()
		if typ := nl.NativeEndian().Uint16(b[4:]); typ != nl.XFRM_MSG_NEWSA {
			t.Fatalf("message type %d", typ)
		}
		body := b[unix.SizeofNlMsghdr:]
		info := nl.DeserializeXfrmUsersaInfo(body)
		if nl.Swap32(info.Id.Spi) != sa.SPI || info.Id.Proto != unix.IPPROTO_ESP || !info.Id.Daddr.ToIP().Equal(net.IP{198, 18, 0, 2}) ||
			!info.Saddr.ToIP().Equal(net.IP{198, 18, 0, 1}) || info.Family != unix.AF_INET || info.Mode != xfrmModeTransport ||
			info.Reqid != 42 || info.ReplayWindow != 64 {
			t.Fatalf("%s: usersa_info %+v", c.enc, info)
		}
		if info.Lft.SoftAddExpiresSeconds != 3000 || info.Lft.HardAddExpiresSeconds != 3600 || info.Lft.SoftByteLimit != 1<<30 || info.Lft.HardByteLimit != nl.XFRM_INF {
			t.Fatalf("lifetimes %+v", info.Lft)
		}
		m := attrs(t, body[nl.SizeofXfrmUsersaInfo:])
		if c.aead {
			a := nl.DeserializeXfrmAlgoAEAD(m[nl.XFRMA_ALG_AEAD])
			if cstr(a.AlgName[:]) != c.kname || a.AlgICVLen != 128 || !bytes.Equal(a.AlgKey, ek) || int(a.AlgKeyLen) != len(ek)*8 {
				t.Fatalf("%s: aead %q icv %d keylen %d", c.enc, cstr(a.AlgName[:]), a.AlgICVLen, a.AlgKeyLen)
			}
			if _, ok := m[nl.XFRMA_ALG_CRYPT]; ok {
				t.Fatal("AEAD with a separate cipher attribute")
			}
		} else {
			e := nl.DeserializeXfrmAlgo(m[nl.XFRMA_ALG_CRYPT])
			a := nl.DeserializeXfrmAlgoAuth(m[nl.XFRMA_ALG_AUTH_TRUNC])
			if cstr(e.AlgName[:]) != c.kname || !bytes.Equal(e.AlgKey, ek) || cstr(a.AlgName[:]) != c.aname ||
				a.AlgTruncLen != c.trunc || !bytes.Equal(a.AlgKey, ak) {
				t.Fatalf("%s: crypt %q auth %q trunc %d", c.enc, cstr(e.AlgName[:]), cstr(a.AlgName[:]), a.AlgTruncLen)
			}
		}
		en := nl.DeserializeXfrmEncapTmpl(m[nl.XFRMA_ENCAP])
		if en.EncapType != unix.UDP_ENCAP_ESPINUDP || nl.Swap16(en.EncapSport) != 4500 || nl.Swap16(en.EncapDport) != 31000 {
			t.Fatalf("encap %+v", en)
		}
	}
	// A 1024-packet window needs the ESN replay attribute.
	ek, _ := keyFor(t, "aes-128-gcm", "", 1)
	req, _ := stateRequest(SA{SPI: 9, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"),
		EncAlg: "aes-128-gcm", EncKey: ek, ReplayWindow: 1024}, false)
	body := req.Serialize()[unix.SizeofNlMsghdr:]
	info := nl.DeserializeXfrmUsersaInfo(body)
	m := attrs(t, body[nl.SizeofXfrmUsersaInfo:])
	r := m[nl.XFRMA_REPLAY_ESN_VAL]
	if info.Flags&nl.XFRM_STATE_ESN == 0 || info.Family != unix.AF_INET6 || len(r) != 24+4*32 ||
		nl.NativeEndian().Uint32(r[20:]) != 1024 || nl.NativeEndian().Uint32(r) != 32 {
		t.Fatalf("ESN replay attribute %x flags %x", r[:24], info.Flags)
	}
	if _, err := stateRequest(SA{EncAlg: "twofish", EncKey: ek}, false); !errors.Is(err, ErrUnknownAlgorithm) {
		t.Fatal("twofish accepted")
	}
	// DELSA names (daddr, spi, proto).
	d := deleteSARequest(Key{SPI: 0x1234, Dst: netip.MustParseAddr("198.18.0.2")}).Serialize()
	id := nl.DeserializeXfrmUsersaId(d[unix.SizeofNlMsghdr:])
	if nl.Swap32(id.Spi) != 0x1234 || id.Proto != unix.IPPROTO_ESP || id.Family != unix.AF_INET {
		t.Fatalf("delsa %+v", id)
	}
}

func TestXfrmPolicyMessage(t *testing.T) {
	p := Policy{ID: 3, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("198.19.2.0/24"), Protocol: 6, DstPort: 443,
		Dir: DirOut, Action: ActionEncrypt, Level: LevelUse, Mode: ModeTunnel,
		TunnelSrc: netip.MustParseAddr("198.18.0.1"), TunnelDst: netip.MustParseAddr("198.18.0.2"), ReqID: 8}
	b := policyRequest(p, xfrmDirOut, 1005, false).Serialize()[unix.SizeofNlMsghdr:]
	info := nl.DeserializeXfrmUserpolicyInfo(b)
	s := info.Sel
	if s.PrefixlenD != 24 || s.PrefixlenS != 24 || s.Proto != 6 || nl.Swap16(s.Dport) != 443 || s.DportMask != 0xffff || s.SportMask != 0 ||
		!s.Daddr.ToIP().Equal(net.IP{198, 19, 2, 0}) || info.Dir != xfrmDirOut || info.Priority != 1005 || info.Action != 0 {
		t.Fatalf("policy info %+v", info)
	}
	m := attrs(t, b[nl.SizeofXfrmUserpolicyInfo:])
	tm := nl.DeserializeXfrmUserTmpl(m[nl.XFRMA_TMPL])
	if tm.Reqid != 8 || tm.Mode != xfrmModeTunnel || tm.Optional != 1 || tm.XfrmId.Proto != unix.IPPROTO_ESP ||
		!tm.XfrmId.Daddr.ToIP().Equal(net.IP{198, 18, 0, 2}) || !tm.Saddr.ToIP().Equal(net.IP{198, 18, 0, 1}) {
		t.Fatalf("template %+v", tm)
	}
	// level=require whose peer is not up yet (the ipsec engine's no-SA guard): the
	// template is not optional, so that the kernel drops the packets without a state
	// and sends ACQUIRE instead of passing them in the clear; its source is the wildcard
	// the kernel fills from the route; unique is not shared.
	for _, level := range []Level{LevelRequire, LevelUnique} {
		q := p
		q.Level, q.TunnelSrc = level, netip.Addr{}
		b := policyRequest(q, xfrmDirOut, 1005, false).Serialize()[unix.SizeofNlMsghdr:]
		if info := nl.DeserializeXfrmUserpolicyInfo(b); info.Action != 0 {
			t.Fatalf("level %v: action %d, want allow (with the template)", level, info.Action)
		}
		tm := nl.DeserializeXfrmUserTmpl(attrs(t, b[nl.SizeofXfrmUserpolicyInfo:])[nl.XFRMA_TMPL])
		if tm.Optional != 0 || !tm.Saddr.ToIP().Equal(net.IPv4zero) || !tm.XfrmId.Daddr.ToIP().Equal(net.IP{198, 18, 0, 2}) ||
			tm.Family != unix.AF_INET || (level == LevelUnique) != (tm.Share == 3) {
			t.Fatalf("level %v: template %+v", level, tm)
		}
	}
	p.Action = ActionDiscard
	b = policyRequest(p, xfrmDirOut, 1005, false).Serialize()[unix.SizeofNlMsghdr:]
	if nl.DeserializeXfrmUserpolicyInfo(b).Action != xfrmPolicyBlock || len(b) != nl.SizeofXfrmUserpolicyInfo {
		t.Fatal("discard must be a block policy without templates")
	}
	if d := xfrmDirs(Policy{Dir: DirIn, Mode: ModeTunnel}); len(d) != 2 {
		t.Fatal("inbound tunnel policy without its fwd copy")
	}
}

func TestXfrmStatParse(t *testing.T) {
	f := t.TempDir() + "/xfrm_stat"
	os.WriteFile(f, []byte("XfrmInError             \t1\nXfrmInNoStates 7\nXfrmOutPolDead 3\nXfrmAcquireError 9\n"), 0o600)
	st, err := readXfrmStat(f)
	if err != nil || st.InErrors != 1 || st.InNoStates != 7 || st.OutPolicyDead != 3 {
		t.Fatalf("%+v %v", st, err)
	}
	fields := StatisticsFields(st)
	if len(fields) != 25 || fields[0][0] != "in-errors" || fields[24][0] != "out-policy-errors" {
		t.Fatalf("fields %v", fields)
	}
}

// TestKernelPathOnThisKernel runs the kernel path where it can run here: policies go into
// XFRM (and come out again on Close), ESP-less traffic raises ACQUIRE, and adding an SA
// fails cleanly where the kernel lacks ESP.
func TestKernelPathOnThisKernel(t *testing.T) {
	r := newRig(t)
	var dp Datapath
	var err error
	var h *netlink.Handle
	inNS(t, r.a, func() {
		cfg := DefaultConfig()
		cfg.Force = KindKernel
		dp, err = Open(context.Background(), cfg)
		if err == nil {
			h, err = netlink.NewHandle(unix.NETLINK_XFRM)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	defer dp.Close()
	if dp.Kind() != KindKernel {
		t.Fatal(dp.Kind())
	}
	ps := []Policy{
		{ID: 11, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("198.19.2.0/24"), Dir: DirOut, Action: ActionEncrypt,
			Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: netip.MustParseAddr("198.18.0.1"), TunnelDst: netip.MustParseAddr("198.18.0.2"), ReqID: 5},
		{ID: 12, Src: netip.MustParsePrefix("198.19.2.0/24"), Dst: netip.MustParsePrefix("198.19.1.0/24"), Dir: DirIn, Action: ActionEncrypt,
			Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: netip.MustParseAddr("198.18.0.2"), TunnelDst: netip.MustParseAddr("198.18.0.1"), ReqID: 5},
	}
	ctx := context.Background()
	if err := dp.SetPolicies(ctx, ps); err != nil {
		t.Fatal(err)
	}
	if err := dp.SetPolicies(ctx, ps); err != nil { // idempotent
		t.Fatal(err)
	}
	list, err := h.XfrmPolicyList(netlink.FAMILY_ALL)
	if err != nil || len(list) != 3 {
		t.Fatalf("%d kernel policies (want out, in, fwd): %v", len(list), err)
	}
	// Traffic matching the out policy with no SA: the kernel asks for one.
	exec.Command("ip", "netns", "exec", r.a, "ip", "route", "add", "198.19.2.0/24", "via", "198.18.0.2").Run()
	exec.Command("ip", "netns", "exec", r.a, "ping", "-c", "1", "-W", "1", "-I", "198.19.1.1", "198.19.2.1").Run()
	select {
	case e := <-dp.Events():
		if e.Kind != EventAcquire || e.PolicyID != 11 || e.ReqID != 5 || e.Dst != netip.MustParseAddr("198.19.2.1") && !e.Dst.IsUnspecified() {
			t.Fatalf("event %+v", e)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no ACQUIRE")
	}
	if st := dp.Statistics(); st.OutNoStates == 0 {
		t.Fatalf("out-no-states not counted: %+v", st)
	}
	ek, _ := keyFor(t, "aes-128-gcm", "", 1)
	err = dp.AddSA(ctx, SA{SPI: 0x100, Dir: DirOut, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		EncAlg: "aes-128-gcm", EncKey: ek, ReplayWindow: 32, ReqID: 5})
	if Probe().Kind == KindUserspace && err == nil {
		t.Fatal("kernel without ESP took an ESP state")
	}
	t.Logf("AddSA on this kernel: %v", err)
	if err := dp.SetPolicies(ctx, ps[:1]); err != nil {
		t.Fatal(err)
	}
	if list, _ := h.XfrmPolicyList(netlink.FAMILY_ALL); len(list) != 1 {
		t.Fatalf("%d policies after shrinking to one", len(list))
	}
	dp.Close()
	if list, _ := h.XfrmPolicyList(netlink.FAMILY_ALL); len(list) != 0 {
		t.Fatalf("%d policies left after Close", len(list))
	}
}

// TestKernelPolicyErrorAttributed: what the kernel refuses of an SPD is told per policy
// (PolicyError with the policy's ID, which the engine shows on that policy alone), not
// as one error for all. The refusal is real on this kernel (Linux 6.4 and later): an
// outbound level=use policy in tunnel mode has an optional tunnel template, which XFRM
// refuses ("Mode in optional template not allowed in outbound policy"); the other
// policies, and that policy's inbound half, are installed.
func TestKernelPolicyErrorAttributed(t *testing.T) {
	r := newRig(t)
	var dp Datapath
	var h *netlink.Handle
	var err error
	inNS(t, r.a, func() {
		cfg := DefaultConfig()
		cfg.Force = KindKernel
		if dp, err = Open(context.Background(), cfg); err == nil {
			h, err = netlink.NewHandle(unix.NETLINK_XFRM)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	defer dp.Close()
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	ps := []Policy{
		{ID: 31, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("198.19.2.0/24"), Dir: DirOut, Action: ActionEncrypt,
			Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: a, TunnelDst: b, ReqID: 5},
		{ID: 32, Src: netip.MustParsePrefix("198.19.3.0/24"), Dst: netip.MustParsePrefix("198.19.4.0/24"), Dir: DirOut, Action: ActionEncrypt,
			Level: LevelUse, Mode: ModeTunnel, TunnelSrc: a, TunnelDst: b, ReqID: 6},
		{ID: 32, Src: netip.MustParsePrefix("198.19.4.0/24"), Dst: netip.MustParsePrefix("198.19.3.0/24"), Dir: DirIn, Action: ActionEncrypt,
			Level: LevelUse, Mode: ModeTunnel, TunnelSrc: b, TunnelDst: a, ReqID: 6},
	}
	err = dp.SetPolicies(context.Background(), ps)
	if err == nil {
		t.Skip("this kernel takes an optional tunnel template in an outbound policy (before Linux 6.4)")
	}
	var walk func(error)
	n := 0
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		n++
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.ID != 32 {
			t.Errorf("an error not attributed to policy 32: %v", err)
			return
		}
		if want := "esp: xfrm policy 198.19.3.0/24 -> 198.19.4.0/24 (out): the kernel refuses level=use in tunnel mode"; !strings.HasPrefix(pe.Error(), want) {
			t.Errorf("reason %q, want it to start %q", pe.Error(), want)
		}
	}
	walk(err)
	if n != 1 {
		t.Errorf("%d errors, want one (the outbound half of policy 32): %v", n, err)
	}
	list, lerr := h.XfrmPolicyList(netlink.FAMILY_ALL)
	if lerr != nil || len(list) != 3 {
		t.Fatalf("%d kernel policies, want 3 (31 out, 32 in and fwd): %v %+v", len(list), lerr, list)
	}
}

// TestXfrmMapping checks the kernel path's side of a NAT mapping change: the kernel's
// XFRM_MSG_MAPPING (struct xfrm_user_mapping) becomes EventMapping, and MoveSA's
// messages delete the SA under its old destination and add it under the new one with
// the replay state read from the old (so the peer's window accepts what follows).
func TestXfrmMapping(t *testing.T) {
	b := make([]byte, sizeofXfrmUserMapping)
	id := nl.XfrmUsersaId{Daddr: xfrmAddr(netip.MustParseAddr("198.18.52.1")), Spi: nl.Swap32(0xc10c2847), Family: unix.AF_INET, Proto: unix.IPPROTO_ESP}
	copy(b, id.Serialize())
	off := nl.SizeofXfrmUsersaId
	nl.NativeEndian().PutUint32(b[off:], 7)
	off += 4
	copy(b[off:], netip.MustParseAddr("198.18.52.2").AsSlice())
	copy(b[off+16:], netip.MustParseAddr("198.18.52.3").AsSlice())
	off += 32
	b[off], b[off+1] = 4500>>8, 4500&0xff
	b[off+2], b[off+3] = 40039>>8, 40039&0xff
	e, ok := parseXfrmEvent(nl.XFRM_MSG_MAPPING, b)
	if !ok || e.Kind != EventMapping || e.SA != (Key{SPI: 0xc10c2847, Dst: netip.MustParseAddr("198.18.52.1")}) || e.ReqID != 7 ||
		e.OldFrom != netip.MustParseAddrPort("198.18.52.2:4500") || e.From != netip.MustParseAddrPort("198.18.52.3:40039") {
		t.Fatalf("mapping event %+v ok=%v", e, ok)
	}
	if _, ok := parseXfrmEvent(nl.XFRM_MSG_MAPPING, b[:sizeofXfrmUserMapping-1]); ok {
		t.Fatal("short mapping message parsed")
	}

	// MoveSA of an outbound SA from 198.18.52.2:4500 to 198.18.52.3:40039.
	ek, _ := keyFor(t, "aes-128-gcm", "", 1)
	sa := SA{SPI: 0x18d9a6ff, Dir: DirOut, Src: netip.MustParseAddr("198.18.52.1"), Dst: netip.MustParseAddr("198.18.52.3"),
		Encap: &Encap{SrcPort: 4500, DstPort: 40039}, EncAlg: "aes-128-gcm", EncKey: ek, ReplayWindow: 128, ReqID: 7}
	rs := (&nl.XfrmReplayState{OSeq: 1234, Seq: 0, BitMap: 0}).Serialize()
	old := Key{SPI: 0x18d9a6ff, Dst: netip.MustParseAddr("198.18.52.2")}
	reqs, err := moveRequests(old, sa, &replayAttr{typ: nl.XFRMA_REPLAY_VAL, val: rs})
	if err != nil || len(reqs) != 2 {
		t.Fatalf("moveRequests: %v (%d)", err, len(reqs))
	}
	del := reqs[0].Serialize()
	if typ := nl.NativeEndian().Uint16(del[4:]); typ != nl.XFRM_MSG_DELSA {
		t.Fatalf("first message type %d, want DELSA", typ)
	}
	if did := nl.DeserializeXfrmUsersaId(del[unix.SizeofNlMsghdr:]); nl.Swap32(did.Spi) != old.SPI || !did.Daddr.ToIP().Equal(net.IP{198, 18, 52, 2}) {
		t.Fatalf("DELSA of %+v", did)
	}
	add := reqs[1].Serialize()
	if typ := nl.NativeEndian().Uint16(add[4:]); typ != nl.XFRM_MSG_NEWSA {
		t.Fatalf("second message type %d, want NEWSA", typ)
	}
	body := add[unix.SizeofNlMsghdr:]
	info := nl.DeserializeXfrmUsersaInfo(body)
	if !info.Id.Daddr.ToIP().Equal(net.IP{198, 18, 52, 3}) || nl.Swap32(info.Id.Spi) != sa.SPI {
		t.Fatalf("NEWSA id %+v", info.Id)
	}
	m := attrs(t, body[nl.SizeofXfrmUsersaInfo:])
	if r := nl.DeserializeXfrmReplayState(m[nl.XFRMA_REPLAY_VAL]); r.OSeq != 1234 {
		t.Fatalf("replay state not carried: %+v", r)
	}
	if en := nl.DeserializeXfrmEncapTmpl(m[nl.XFRMA_ENCAP]); nl.Swap16(en.EncapDport) != 40039 || nl.Swap16(en.EncapSport) != 4500 {
		t.Fatalf("encap %+v", en)
	}
	// The state the kernel reports (GETSA) gives the replay attribute back.
	st, _ := stateRequestReplay(sa, false, &replayAttr{typ: nl.XFRMA_REPLAY_VAL, val: rs})
	if r := replayFromState(st.Serialize()[unix.SizeofNlMsghdr:]); r == nil || r.typ != nl.XFRMA_REPLAY_VAL || !bytes.Equal(r.val, rs) {
		t.Fatalf("replayFromState: %+v", r)
	}
}
