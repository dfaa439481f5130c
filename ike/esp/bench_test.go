package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Per-packet cost of ESP seal/open beside the bare AEAD call on the same bytes: the
// difference is ESP's framing (header, trailer, nonce/AAD construction).
func BenchmarkSeal(b *testing.B) {
	for _, a := range [][2]string{{"aes-128-gcm", ""}, {"aes-256-gcm", ""}, {"chacha20poly1305", ""}, {"aes-128-cbc", "sha256"}} {
		b.Run(a[0]+a[1], func(b *testing.B) {
			tr := testTransform(b, a[0], a[1])
			payload := make([]byte, 1400)
			dst := make([]byte, tr.sealedLen(len(payload)))
			b.SetBytes(int64(len(payload)))
			for i := 0; b.Loop(); i++ {
				tr.seal(dst, 1, uint64(i+1), false, payload, 4)
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, a := range [][2]string{{"aes-128-gcm", ""}, {"aes-256-gcm", ""}, {"chacha20poly1305", ""}, {"aes-128-cbc", "sha256"}} {
		b.Run(a[0]+a[1], func(b *testing.B) {
			tr := testTransform(b, a[0], a[1])
			payload := make([]byte, 1400)
			pkt := make([]byte, tr.sealedLen(len(payload)))
			tr.seal(pkt, 1, 1, false, payload, 4)
			work := make([]byte, len(pkt))
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				copy(work, pkt)
				if _, _, err := tr.open(work, 1, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawGCM is the baseline: AES-128-GCM Seal of the same 1400 bytes (+4 trailer).
func BenchmarkRawGCM(b *testing.B) {
	blk, _ := aes.NewCipher(make([]byte, 16))
	g, _ := cipher.NewGCM(blk)
	pt := make([]byte, 1404)
	out := make([]byte, 0, 1404+16)
	nonce := make([]byte, 12)
	ad := make([]byte, 8)
	b.SetBytes(1400)
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(nonce[4:], uint64(i))
		g.Seal(out[:0], nonce, pt, ad)
	}
}

// charon runs a strongSwan charon with kernel-libipsec in namespace ns.
type charon struct {
	dir string
	cmd *exec.Cmd
}

func startCharon(t testing.TB, ns, dir, conf string) *charon {
	t.Helper()
	for _, d := range []string{"x509", "x509ca", "private", "pubkey", "rsa", "ecdsa", "pkcs8", "pkcs12", "x509crl", "x509aa", "x509ocsp", "x509ac"} {
		os.MkdirAll(filepath.Join(dir, d), 0o700)
	}
	sc := fmt.Sprintf(`charon-systemd {
  port = 500
  port_nat_t = 4500
  load = random nonce openssl gmp aes sha1 sha2 hmac gcm pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici updown
  filelog { main { path = %s/charon.log
                   default = 1 } }
  plugins { vici { socket = unix://%s/charon.vici } }
}
`, dir, dir)
	os.WriteFile(filepath.Join(dir, "strongswan.conf"), []byte(sc), 0o600)
	os.WriteFile(filepath.Join(dir, "swanctl.conf"), []byte(conf), 0o600)
	cmd := exec.Command("nsenter", "--net=/run/netns/"+ns, "env", "STRONGSWAN_CONF="+dir+"/strongswan.conf", "/usr/sbin/charon-systemd")
	if err := cmd.Start(); err != nil {
		t.Skipf("charon-systemd: %v", err)
	}
	c := &charon{dir: dir, cmd: cmd}
	t.Cleanup(c.stop)
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(dir + "/charon.vici"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	exec.Command("swanctl", "--load-all", "--uri", "unix://"+dir+"/charon.vici", "--file", dir+"/swanctl.conf").Run()
	return c
}

func (c *charon) swanctl(args ...string) (string, error) {
	a := append([]string{args[0], "--uri", "unix://" + c.dir + "/charon.vici"}, args[1:]...)
	out, err := exec.Command("swanctl", a...).CombinedOutput()
	return string(out), err
}

func (c *charon) stop() {
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.cmd.Process.Kill()
		}
	}
}

func swanConf(local, remote, lts, rts, lid, rid string) string {
	return fmt.Sprintf(`connections {
  s2s {
    version = 2
    local_addrs = %s
    remote_addrs = %s
    proposals = aes128-sha256-ecp256
    local {
      auth = psk
      id = %s
    }
    remote {
      auth = psk
      id = %s
    }
    children {
      net {
        local_ts = %s
        remote_ts = %s
        esp_proposals = aes128gcm16
      }
    }
  }
}
secrets {
  ike-1 {
    id-a = a.example
    id-b = b.example
    secret = "a-long-benchmark-psk"
  }
}
`, local, remote, lid, rid, lts, rts)
}

// TestThroughputVsCharon measures iperf3 TCP through charon's kernel-libipsec and through
// this package's userspace path (aes-128-gcm, tunnel mode, ESP-in-UDP as charon sends it
// here, and raw ESP) on the same pair of namespaces, one after the other. It asserts only
// that both carry traffic; the figures go to docs/perf.md.
//
//	ESP_BENCH=1 go test -count=1 -run TestThroughputVsCharon -v ./ike/esp/
func TestThroughputVsCharon(t *testing.T) {
	if os.Getenv("ESP_BENCH") == "" {
		t.Skip("benchmark rig: set ESP_BENCH=1")
	}
	needRoot(t)
	if _, err := exec.LookPath("charon-systemd"); err != nil {
		if _, err := os.Stat("/usr/sbin/charon-systemd"); err != nil {
			t.Skip("charon-systemd not installed")
		}
	}
	secs := 5
	r := newRig(t)
	base := t.TempDir()
	ca := startCharon(t, r.a, base+"/a", swanConf("198.18.0.1", "198.18.0.2", "198.19.1.0/24", "198.19.2.0/24", "a.example", "b.example"))
	cb := startCharon(t, r.b, base+"/b", swanConf("198.18.0.2", "198.18.0.1", "198.19.2.0/24", "198.19.1.0/24", "b.example", "a.example"))
	if out, err := ca.swanctl("--initiate", "--child", "net", "--timeout", "20"); err != nil {
		t.Fatalf("charon initiate: %v\n%s", err, out)
	}
	pingOK(t, r.a, "198.19.2.1")
	var ch []float64
	cpu := map[string]float64{}
	busy := map[string]float64{}
	for i := 0; i < 2; i++ {
		c0 := cpuSeconds(ca.cmd.Process.Pid) + cpuSeconds(cb.cmd.Process.Pid)
		machineBusy()
		ch = append(ch, iperf(t, r.a, r.b, "198.19.2.1", secs).bps)
		cpu["charon"] += cpuSeconds(ca.cmd.Process.Pid) + cpuSeconds(cb.cmd.Process.Pid) - c0
		busy["charon"] += machineBusy() / 2
	}
	ca.stop()
	cb.stop()
	for _, n := range []string{r.a, r.b} {
		exec.Command("ip", "-n", n, "route", "flush", "table", "220").Run()
		for exec.Command("ip", "-n", n, "rule", "del", "table", "220").Run() == nil {
		}
		// kernel-libipsec's TUN goes with charon; wait so ours can take the name.
		for i := 0; i < 50 && exec.Command("ip", "-n", n, "link", "show", "ipsec0").Run() == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	res := map[string][]float64{"charon kernel-libipsec (ESP-in-UDP)": ch}
	for _, udp := range []bool{true, false} {
		a, b := startNode(t, r.a), startNode(t, r.b)
		install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel, udp: udp})
		pingOK(t, r.a, "198.19.2.1")
		name := "routerd userspace raw ESP"
		if udp {
			name = "routerd userspace ESP-in-UDP"
		}
		for i := 0; i < 2; i++ {
			c0 := cpuSeconds(os.Getpid())
			machineBusy()
			res[name] = append(res[name], iperf(t, r.a, r.b, "198.19.2.1", secs).bps)
			cpu[name] += cpuSeconds(os.Getpid()) - c0
			busy[name] += machineBusy() / 2
		}
		a.close()
		b.close()
	}
	var lines []string
	for k, v := range res {
		ck := k
		if strings.HasPrefix(k, "charon") {
			ck = "charon"
		}
		var bits float64
		for _, x := range v {
			bits += x * float64(secs)
		}
		// ESP processes' CPU (both ends) per Gbit carried, and what the whole machine spent.
		lines = append(lines, fmt.Sprintf("%-40s %v Mbit/s, ESP processes %.2f CPU-s per Gbit, machine busy %.0f%%", k, mbit(v),
			cpu[ck]/(bits/1e9), 100*busy[ck]))
		for _, x := range v {
			if x <= 0 {
				t.Fatalf("%s carried nothing", k)
			}
		}
	}
	t.Log("\n" + strings.Join(lines, "\n"))
}

// cpuSeconds is a process's user+system CPU time (all threads).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}

// machineBusy is how busy all CPUs were (0..1) since the previous call.
var lastBusy, lastTotal float64

func machineBusy() float64 {
	b, _ := os.ReadFile("/proc/stat")
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var busy, total float64
	for i, x := range f[1:] {
		v, _ := strconv.ParseFloat(x, 64)
		if i < 8 {
			total += v
			if i != 3 && i != 4 { // user nice system (idle iowait) irq softirq steal
				busy += v
			}
		}
	}
	r := (busy - lastBusy) / max(total-lastTotal, 1)
	lastBusy, lastTotal = busy, total
	return r
}

func mbit(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x / 1e6)
	}
	return out
}

// BenchmarkSealBesideRawGCM interleaves ESP seal and the bare AES-128-GCM Seal in slices of
// 256 packets, so both see the same machine load, and reports both and their ratio.
func BenchmarkSealBesideRawGCM(b *testing.B) {
	tr := testTransform(b, "aes-128-gcm", "")
	payload := make([]byte, 1400)
	dst := make([]byte, tr.sealedLen(len(payload)))
	blk, _ := aes.NewCipher(make([]byte, 16))
	g, _ := cipher.NewGCM(blk)
	pt := make([]byte, 1404)
	out := make([]byte, 0, 1404+16)
	nonce := make([]byte, 12)
	ad := make([]byte, 8)
	var tESP, tRaw time.Duration
	seq := uint64(0)
	for b.Loop() {
		t0 := time.Now()
		for i := 0; i < 256; i++ {
			seq++
			tr.seal(dst, 1, seq, false, payload, 4)
		}
		t1 := time.Now()
		for i := 0; i < 256; i++ {
			binary.BigEndian.PutUint64(nonce[4:], uint64(i))
			g.Seal(out[:0], nonce, pt, ad)
		}
		tESP += t1.Sub(t0)
		tRaw += time.Since(t1)
	}
	n := float64(b.N) * 256
	b.ReportMetric(float64(tESP.Nanoseconds())/n, "esp-ns/pkt")
	b.ReportMetric(float64(tRaw.Nanoseconds())/n, "rawgcm-ns/pkt")
	b.ReportMetric(float64(tESP)/float64(tRaw), "ratio")
	b.ReportMetric(1400*8*n/tESP.Seconds()/1e9, "esp-Gbit/s")
}
