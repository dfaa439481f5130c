package esp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// seqpacketPair is a stand-in for the TUN's file: a SOCK_SEQPACKET socket pair keeps each
// write one read, as the TUN gives one packet per read, and its reading end is
// non-blocking and pollable as the library leaves the TUN's. It returns the reading end
// and the writing fd.
func seqpacketPair(t *testing.T) (*os.File, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "seqpacket")
	t.Cleanup(func() { f.Close(); unix.Close(fds[1]) })
	return f, fds[1]
}

func TestTUNReaderBatches(t *testing.T) {
	la, lb := [4]byte{198, 19, 221, 1}, [4]byte{198, 19, 221, 2}
	const mss = 1388
	// plain is a packet as a forwarded one comes: no GSO, no checksum to finish; its IP
	// ID tells it apart.
	plain := func(id uint16) []byte {
		return append(make([]byte, vnetHdrLen), v4hdr(17, la, lb, id, udpSeg(payloadOf(1200)))...)
	}
	gso := vnet(vnetGSOTCPv4, mss, 20, 16, v4hdr(6, la, lb, 5000, tcpSeg(1000, 0x18, payloadOf(45*mss+123))))
	const gsoSegs = 46
	send := func(t *testing.T, w int, pkts ...[]byte) {
		t.Helper()
		for _, p := range pkts {
			if _, err := unix.Write(w, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids := func(bufs [][]byte, sizes []int, n int) []uint16 {
		out := make([]uint16, n)
		for i := range out {
			out[i] = binary.BigEndian.Uint16(bufs[i][headroom+4:])
			if sizes[i] < 20 {
				t.Fatalf("packet %d: %d bytes", i, sizes[i])
			}
		}
		return out
	}
	seq := func(from uint16, n int) []uint16 {
		out := make([]uint16, n)
		for i := range out {
			out[i] = from + uint16(i)
		}
		return out
	}
	equal := func(t *testing.T, got, want []uint16) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("IP IDs %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("IP IDs %v, want %v", got, want)
			}
		}
	}

	t.Run("one wakeup drains what is queued", func(t *testing.T) {
		f, w := seqpacketPair(t)
		for i := 0; i < 10; i++ {
			send(t, w, plain(uint16(i)))
		}
		r := newRawReader(f, 0)
		bufs, sizes := splitBufs(128)
		n, skipped, err := r.read(nil, bufs, sizes, headroom)
		if err != nil || skipped != 0 || r.reads != 10 {
			t.Fatalf("%d packets, %d skipped, %d reads, %v", n, skipped, r.reads, err)
		}
		equal(t, ids(bufs, sizes, n), seq(0, 10))
	})

	t.Run("a GSO packet the batch has no room for opens the next", func(t *testing.T) {
		f, w := seqpacketPair(t)
		for i := 0; i < 100; i++ {
			send(t, w, plain(uint16(i)))
		}
		send(t, w, gso)
		for i := 0; i < 5; i++ {
			send(t, w, plain(uint16(200+i)))
		}
		r := newRawReader(f, 0)
		bufs, sizes := splitBufs(128)
		n, skipped, err := r.read(nil, bufs, sizes, headroom)
		if err != nil || skipped != 0 {
			t.Fatalf("%d packets, %d skipped, %v", n, skipped, err)
		}
		equal(t, ids(bufs, sizes, n), seq(0, 100))
		n, skipped, err = r.read(nil, bufs, sizes, headroom)
		if err != nil || skipped != 0 || r.reads != 5 {
			t.Fatalf("%d packets, %d skipped, %d reads, %v", n, skipped, r.reads, err)
		}
		equal(t, ids(bufs, sizes, n), append(seq(5000, gsoSegs), seq(200, 5)...))
		segs := make([][]byte, gsoSegs)
		for i := range segs {
			segs[i] = bufs[i][headroom : headroom+sizes[i]]
		}
		checkSegments(t, segs)
	})

	t.Run("the batch stops when full", func(t *testing.T) {
		f, w := seqpacketPair(t)
		for i := 0; i < 20; i++ {
			send(t, w, plain(uint16(i)))
		}
		r := newRawReader(f, 0)
		bufs, sizes := splitBufs(8)
		for from := 0; from < 20; from += 8 {
			n, _, err := r.read(nil, bufs, sizes, headroom)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, ids(bufs, sizes, n), seq(uint16(from), min(8, 20-from)))
		}
	})

	t.Run("malformed packets are skipped, not the batch", func(t *testing.T) {
		f, w := seqpacketPair(t)
		bad := vnet(vnetGSOTCPv4, mss, 24, 16, v4hdr(6, la, lb, 1, tcpSeg(1, 0x10, payloadOf(3000)))) // wrong csum_start
		send(t, w, plain(1), plain(2), bad, []byte{1, 2, 3}, plain(3))
		r := newRawReader(f, 0)
		bufs, sizes := splitBufs(128)
		n, skipped, err := r.read(nil, bufs, sizes, headroom)
		if err != nil || skipped != 2 {
			t.Fatalf("%d packets, %d skipped, %v", n, skipped, err)
		}
		equal(t, ids(bufs, sizes, n), []uint16{1, 2, 3})
	})

	t.Run("one read a wakeup when asked", func(t *testing.T) {
		f, w := seqpacketPair(t)
		send(t, w, plain(1), plain(2), plain(3))
		r := newRawReader(f, 1)
		bufs, sizes := splitBufs(128)
		for i := uint16(1); i <= 3; i++ {
			n, _, err := r.read(nil, bufs, sizes, headroom)
			if err != nil || r.reads != 1 {
				t.Fatalf("%d packets, %d reads, %v", n, r.reads, err)
			}
			equal(t, ids(bufs, sizes, n), []uint16{i})
		}
	})

	t.Run("waits for a packet, then closed", func(t *testing.T) {
		f, w := seqpacketPair(t)
		r := newRawReader(f, 0)
		bufs, sizes := splitBufs(128)
		type result struct {
			n   int
			err error
		}
		got := make(chan result, 1)
		readAsync := func() {
			go func() {
				n, _, err := r.read(nil, bufs, sizes, headroom)
				got <- result{n, err}
			}()
		}
		readAsync()
		select {
		case res := <-got:
			t.Fatalf("read returned with nothing queued: %d, %v", res.n, res.err)
		case <-time.After(100 * time.Millisecond):
		}
		send(t, w, plain(9))
		select {
		case res := <-got:
			if res.err != nil || res.n != 1 {
				t.Fatalf("%d packets, %v", res.n, res.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the packet did not wake the reader")
		}
		readAsync()
		time.Sleep(50 * time.Millisecond)
		f.Close()
		select {
		case res := <-got:
			if !errors.Is(res.err, os.ErrClosed) {
				t.Fatalf("after close: %d packets, %v; want os.ErrClosed", res.n, res.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("closing the file did not end the read")
		}
		if _, _, err := r.read(nil, bufs, sizes, headroom); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("read of a closed file: %v", err)
		}
	})
}

// TestTUNBatchedRead: with the out loop held while 200 packets queue on the ESP device,
// the batched path reads them in a few batches (one send each), the path before
// (TUNReadsPerWake 1) in one batch per packet; both deliver them all.
func TestTUNBatchedRead(t *testing.T) {
	for _, perWake := range []int{0, 1} {
		t.Run(fmt.Sprintf("reads per wake %d", perWake), func(t *testing.T) {
			r := newRig(t)
			tweak := func(c *Config) { c.TUNReadsPerWake, c.outInline = perWake, perWake == 1 }
			a, b := startNodeWith(t, r.a, tweak), startNodeWith(t, r.b, tweak)
			install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel})
			pingOK(t, r.a, "198.19.2.1")
			u := a.dp.(*userspace)
			release := holdOut(t, u)
			k := Key{SPI: 0x1000, Dst: netip.MustParseAddr("198.18.0.2")}
			before, err := b.dp.Counters(k)
			if err != nil {
				t.Fatal(err)
			}
			wakes0, pkts0 := u.perf.tunWakes.Load(), u.perf.tunReadPkts.Load()
			const sent = 200
			sendBurst(t, r.a, sent)
			time.Sleep(100 * time.Millisecond)
			release()
			var got uint64
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				c, _ := b.dp.Counters(k)
				if got = c.Packets - before.Packets; got >= sent {
					break
				}
			}
			if got < sent {
				t.Fatalf("b received %d of %d packets", got, sent)
			}
			wakes, pkts := u.perf.tunWakes.Load()-wakes0, u.perf.tunReadPkts.Load()-pkts0
			t.Logf("a read %d packets in %d batches", pkts, wakes)
			if perWake == 1 && wakes != pkts {
				t.Fatalf("one read a wakeup: %d packets in %d batches", pkts, wakes)
			}
			// The first read may come before the rest are queued; the rest are there
			// when the loop is released.
			if perWake == 0 && wakes > 5 {
				t.Fatalf("batched: %d packets in %d batches", pkts, wakes)
			}
		})
	}
}

// TestSmallBatchesInline: packets that come one at a time (a datagram every 10 ms) are
// sent by the out loop itself, not handed to the send stage; with outStaged (the path
// before) none is; a burst held until 200 packets queue goes to the stage (its batches
// are larger than smallOutBatch). Every packet arrives either way.
func TestSmallBatchesInline(t *testing.T) {
	for _, staged := range []bool{false, true} {
		t.Run(fmt.Sprintf("staged %v", staged), func(t *testing.T) {
			r := newRig(t)
			tweak := func(c *Config) { c.outStaged = staged }
			a, b := startNodeWith(t, r.a, tweak), startNodeWith(t, r.b, tweak)
			install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel})
			pingOK(t, r.a, "198.19.2.1")
			u := a.dp.(*userspace)
			k := Key{SPI: 0x1000, Dst: netip.MustParseAddr("198.18.0.2")}
			received := func() uint64 {
				c, err := b.dp.Counters(k)
				if err != nil {
					t.Fatal(err)
				}
				return c.Packets
			}
			waitFor := func(n uint64) {
				t.Helper()
				for end := time.Now().Add(10 * time.Second); received() < n && time.Now().Before(end); {
					time.Sleep(20 * time.Millisecond)
				}
				if got := received(); got < n {
					t.Fatalf("b received %d packets, want %d", got, n)
				}
			}
			const single = 20
			before, inline0, wakes0 := received(), u.perf.inlineSends.Load(), u.perf.tunWakes.Load()
			for range single {
				sendBurst(t, r.a, 1)
				time.Sleep(10 * time.Millisecond)
			}
			waitFor(before + single)
			inline, wakes := u.perf.inlineSends.Load()-inline0, u.perf.tunWakes.Load()-wakes0
			t.Logf("one at a time: %d batches, %d sent inline", wakes, inline)
			if staged && inline != 0 {
				t.Fatalf("staged: %d batches sent inline", inline)
			}
			if !staged && inline < single {
				t.Fatalf("%d of %d single packets sent inline (%d batches)", inline, single, wakes)
			}
			before, inline0 = received(), u.perf.inlineSends.Load()
			release := holdOut(t, u)
			const burst = 200
			sendBurst(t, r.a, burst)
			time.Sleep(100 * time.Millisecond)
			release()
			waitFor(before + burst)
			t.Logf("burst: %d batches sent inline", u.perf.inlineSends.Load()-inline0)
			// The held batch and at most a few stragglers of the burst's start.
			if n := u.perf.inlineSends.Load() - inline0; n > 3 {
				t.Fatalf("burst: %d batches sent inline", n)
			}
		})
	}
}

// TestUDPInBatch: ESP-in-UDP, tunnel and transport mode, is decrypted a read at a time and
// written into b's TUN by the reader itself (nothing goes to tunWriter); with udpInQueued
// (the path before) every packet goes to tunWriter. Every packet arrives either way.
func TestUDPInBatch(t *testing.T) {
	for _, mode := range []Mode{ModeTunnel, ModeTransport} {
		for _, queued := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v queued %v", mode, queued), func(t *testing.T) {
				r := newRig(t)
				tweak := func(c *Config) { c.udpInQueued = queued }
				a, b := startNodeWith(t, r.a, tweak), startNodeWith(t, r.b, tweak)
				install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: mode, udp: true})
				dst := "198.19.2.1"
				if mode == ModeTransport {
					dst = "198.18.0.2"
				}
				pingOK(t, r.a, dst)
				ub := b.dp.(*userspace)
				k := Key{SPI: 0x1000, Dst: netip.MustParseAddr("198.18.0.2")}
				c0, err := b.dp.Counters(k)
				if err != nil {
					t.Fatal(err)
				}
				q0 := ub.perf.queuedIn.Load()
				const sent = 200
				out, err := nsExec(t, r.a, "ping", "-c", fmt.Sprint(sent), "-i", "0.002", "-W", "2", "-q", dst)
				if err != nil {
					t.Fatalf("ping: %v\n%s", err, out)
				}
				c1, _ := b.dp.Counters(k)
				got, q := c1.Packets-c0.Packets, ub.perf.queuedIn.Load()-q0
				t.Logf("b decrypted %d packets, %d of them through tunWriter", got, q)
				if got < sent {
					t.Fatalf("b decrypted %d of %d echo requests", got, sent)
				}
				if !queued && q != 0 {
					t.Fatalf("batched: %d packets through tunWriter", q)
				}
				if queued && q < sent {
					t.Fatalf("queued: %d of %d packets through tunWriter", q, sent)
				}
			})
		}
	}
}

// TestTUNReadEnv: ROUTERD_ESP_TUNREAD gives a daemon the out paths before (the
// benchmarks' baselines); unset, the current one.
func TestTUNReadEnv(t *testing.T) {
	for _, tc := range []struct {
		env            string
		perWake        int
		inline, staged bool
	}{{"", 0, false, false}, {"unbatched", 1, true, false}, {"inline", 0, true, false}, {"staged", 0, false, true}} {
		t.Setenv("ROUTERD_ESP_TUNREAD", tc.env)
		c := DefaultConfig()
		if c.TUNReadsPerWake != tc.perWake || c.outInline != tc.inline || c.outStaged != tc.staged {
			t.Errorf("ROUTERD_ESP_TUNREAD=%q: reads per wake %d, inline %v, staged %v; want %d, %v, %v", tc.env,
				c.TUNReadsPerWake, c.outInline, c.outStaged, tc.perWake, tc.inline, tc.staged)
		}
	}
}
