package esp

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestTransportWholeDatagrams: between two userspace paths in transport mode (raw ESP and
// ESP-in-UDP, IPv4 and IPv6), the hosts' own datagrams larger than the ESP device's MTU
// arrive whole. The kernel fragments them to the device's MTU before the path reads
// them; the path must put them together and encrypt the datagram once (RFC 4303 3.1.1),
// its ESP packet then fragmented on the wire. Encrypting each fragment on its own lost
// them all: the receiver rebuilds a whole datagram's header from the outer one.
func TestTransportWholeDatagrams(t *testing.T) {
	cases := []pairOpts{
		{enc: "chacha20poly1305", mode: ModeTransport},
		{enc: "aes-128-gcm", mode: ModeTransport, udp: true},
		{enc: "aes-256-cbc", auth: "sha256", mode: ModeTransport, v6outer: true},
		{enc: "chacha20poly1305", mode: ModeTransport, v6outer: true, udp: true},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s-udp=%v-v6=%v", c.enc, c.udp, c.v6outer)
		t.Run(name, func(t *testing.T) {
			r := newRigNamed(t, "tf")
			a, b := startNode(t, r.a), startNode(t, r.b)
			install(t, a, b, c)
			src, dst := "198.18.0.1", "198.18.0.2"
			if c.v6outer {
				src, dst = "2001:db8:ff::1", "2001:db8:ff::2"
			}
			pingOK(t, r.a, dst)
			t.Logf("ESP device MTU %d", a.dp.(*userspace).mtu.Load())
			for _, size := range []int{1440, 4000, 30000} {
				args := []string{"ping", "-c", "3", "-i", "0.2", "-W", "2", "-s", fmt.Sprint(size), dst}
				if c.v6outer {
					args = append([]string{"ping", "-6"}, args[1:]...)
				}
				out, err := nsExec(t, r.a, args...)
				if err != nil || !strings.Contains(out, " 0% packet loss") {
					t.Errorf("ping -s %d: %v\n%s", size, err, out)
				}
			}
			udpWhole(t, r, src, dst, []int{1450, 8000, 40000})
			for n, nd := range map[string]*node{"a": a, "b": b} {
				st := nd.dp.Statistics()
				if st.OutStateModeErrors != 0 || st.InStateModeErrors != 0 || st.OutErrors != 0 {
					t.Errorf("%s: %+v", n, st)
				}
				t.Logf("%s: %s", n, &nd.dp.(*userspace).perf)
			}
			if got := a.dp.(*userspace).perf.reasmWhole.Load(); got < 3*3+30 {
				t.Errorf("a reassembled %d datagrams, want >= 39 (9 pings, 30 UDP)", got)
			}
		})
	}
}

// udpWhole sends 10 UDP datagrams of each size from src in r.a to dst in r.b and checks
// that every one arrives whole.
func udpWhole(t *testing.T, r *rig, src, dst string, sizes []int) {
	t.Helper()
	var ln, tx *net.UDPConn
	var err error
	inNS(t, r.b, func() {
		ln, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(dst), 0)))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	inNS(t, r.a, func() {
		tx, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(src), 0)),
			ln.LocalAddr().(*net.UDPAddr))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	want := map[string]bool{}
	var sent [][]byte
	for _, size := range sizes {
		for i := range 10 {
			p := bytes.Repeat([]byte{byte(i), byte(size)}, size/2)
			want[string(p)] = true
			sent = append(sent, p)
		}
	}
	// Read while sending: ten 40 KB datagrams overflow the default receive buffer.
	got, total := make(chan []byte, len(sent)), len(sent)
	go func() {
		defer close(got)
		buf := make([]byte, 65536)
		ln.SetReadDeadline(time.Now().Add(10 * time.Second))
		for range total {
			n, err := ln.Read(buf)
			if err != nil {
				return
			}
			got <- append([]byte(nil), buf[:n]...)
		}
	}()
	for _, p := range sent {
		if _, err := tx.Write(p); err != nil {
			t.Fatalf("send %d bytes: %v", len(p), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	n := 0
	for p := range got {
		if !want[string(p)] {
			t.Errorf("received %d bytes not sent", len(p))
			continue
		}
		delete(want, string(p))
		n++
	}
	if len(want) > 0 {
		t.Errorf("UDP %v bytes: %d of %d datagrams received", sizes, n, total)
	}
}
