package esp

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
)

// TestFragmentsFollowFirst: under a policy that selects ports, a datagram's later
// fragments (no ports) take the policy its first fragment got: all fragments of a
// datagram to the policy's port are encrypted, those of a datagram to another port all
// go in the clear, and later fragments whose first was not seen are dropped as blocked,
// not sent in the clear.
func TestFragmentsFollowFirst(t *testing.T) {
	u := testUserspace()
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	pols := []Policy{{ID: 1, Src: netip.PrefixFrom(src, 32), Dst: netip.PrefixFrom(dst, 32), Dir: DirOut,
		Protocol: 17, DstPort: 2222, Action: ActionEncrypt, Mode: ModeTunnel, ReqID: 3}}
	u.pols.Store(&pols)
	u.portPolicy.Store(selectsPorts(pols))
	ek, _ := keyFor(t, "aes-128-gcm", "", 1)
	sa := SA{SPI: 0x42, Dir: DirOut, Src: src, Dst: dst, Mode: ModeTunnel, EncAlg: "aes-128-gcm", EncKey: ek, ReqID: 3}
	if err := u.AddSA(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	encap := func(f []byte) bool {
		buf := make([]byte, headroom+len(f)+256)
		copy(buf[headroom:], f)
		_, ok := u.encapOne(buf[:headroom+len(f)])
		return ok
	}
	for i, f := range fragment4(udpDatagram4(3000, 5), 1424) { // to port 2222
		if !encap(f) {
			t.Fatalf("fragment %d of a datagram to the policy's port was not encrypted: %+v", i, u.Statistics())
		}
	}
	other := udpDatagram4(3000, 6)
	binary.BigEndian.PutUint16(other[22:], 3333)
	for i, f := range fragment4(other, 1424) {
		if encap(f) {
			t.Fatalf("fragment %d of a datagram to another port was encrypted", i)
		}
	}
	// The test's bypass socket is missing: each fragment sent in the clear counts there.
	if st := u.Statistics(); st.OutPolicyErrors != 3 || st.OutPolicyBlocked != 0 {
		t.Fatalf("other port: %d in the clear, %d blocked, want 3 and 0", st.OutPolicyErrors, st.OutPolicyBlocked)
	}
	for i, f := range fragment4(udpDatagram4(3000, 7), 1424)[1:] { // its first never came
		if encap(f) {
			t.Fatalf("later fragment %d of an unseen first was encrypted", i)
		}
	}
	if st := u.Statistics(); st.OutPolicyErrors != 3 || st.OutPolicyBlocked != 2 {
		t.Fatalf("unseen first: %d in the clear, %d blocked, want 3 and 2", st.OutPolicyErrors, st.OutPolicyBlocked)
	}
}
