package tunnel

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuietResync: with 200 GRE tunnels, an EoIP and an IPIP tunnel, an address on one
// tunnel interface and a route through another, routerd's passes with nothing to change
// write nothing. strace watches the whole routerd (every engine) from outside while a
// change that applies to nothing (a comment) kicks the link, ipcfg, tunnel and fast path
// engines and the tunnel and fast path engines also make a periodic pass: no netlink
// request but reads (RTM_GET*), no BPF map or link write, no sysctl opened for writing.
// The same watch over a real change (an MTU) does see its netlink write, so the watch
// can fail.
func TestQuietResync(t *testing.T) {
	need(t, "strace")
	tp := newTopo(t)
	r := tp.ra
	const n = 200
	run(t, "ip", "-n", tp.a, "route", "add", "198.19.0.0/16", "via", tp.addrB)
	script := fmt.Sprintf(`:for i from=1 to=%d do={/interface gre add name=("g" . $i) remote-address=(198.19.0.0 + $i)}
/interface eoip add name=e1 remote-address=198.19.1.1 tunnel-id=1
/interface ipip add name=i1 remote-address=198.19.1.2
/ip address add address=198.20.0.1/30 interface=g1
/ip route add dst-address=198.21.0.0/24 gateway=g2
`, n)
	f := filepath.Join(t.TempDir(), "quiet.rsc")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	r.must("-f", f)
	waitFor(t, "every tunnel in the maps", 5*time.Minute, func() bool {
		return metric(r.scrape(), "routerd_tunnel_map_writes_total") >= n+2
	})
	waitFor(t, "the address and the route in the kernel", time.Minute, func() bool {
		a, _ := exec.Command("ip", "-n", tp.a, "addr", "show", "dev", "g1").Output()
		rt, _ := exec.Command("ip", "-n", tp.a, "route", "show", "198.21.0.0/24").Output()
		return strings.Contains(string(a), "198.20.0.1/30") && strings.Contains(string(rt), "dev g2")
	})
	// Settled: a periodic tunnel pass that wrote nothing (the EoIP tunnel's generated
	// MAC address is stored by a change of its own after the first pass).
	waitFor(t, "a tunnel pass that writes nothing", time.Minute, func() bool {
		s := r.scrape()
		w, p := metric(s, "routerd_tunnel_map_writes_total")+metric(s, "routerd_tunnel_kernel_writes_total"), passes(s, "tunnel")
		deadline := time.Now().Add(30 * time.Second)
		for passes(r.scrape(), "tunnel") < p+2 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		s = r.scrape()
		return metric(s, "routerd_tunnel_map_writes_total")+metric(s, "routerd_tunnel_kernel_writes_total") == w
	})

	engines := []string{"link", "ipcfg", "tunnel", "fastpath"}
	watch := straceOf(t, tp.a, r.Pid())
	s := r.scrape()
	before := map[string]float64{}
	for _, e := range engines {
		before[e] = passes(s, e)
	}
	r.must("/interface", "gre", "set", "g1", "comment=quiet")
	// The tunnel and fast path engines' periodic passes (5 s) come on top of the kicked one.
	waitFor(t, "kicked and periodic passes", time.Minute, func() bool {
		s := r.scrape()
		for _, e := range engines {
			want := before[e] + 1
			if e == "tunnel" || e == "fastpath" {
				want++
			}
			if passes(s, e) < want {
				return false
			}
		}
		return true
	})
	if writes := watch(); len(writes) > 0 {
		t.Errorf("passes with nothing to change wrote (%d):\n%s", len(writes), strings.Join(writes[:min(len(writes), 20)], "\n"))
	}

	// The watch sees a real change's write.
	watch = straceOf(t, tp.a, r.Pid())
	r.must("/interface", "gre", "set", "g2", "mtu=1400")
	waitFor(t, "g2's mtu", time.Minute, func() bool {
		out, _ := exec.Command("ip", "-n", tp.a, "link", "show", "g2").Output()
		return strings.Contains(string(out), "mtu 1400")
	})
	writes := watch()
	if !strings.Contains(strings.Join(writes, "\n"), "RTM_SETLINK") {
		t.Errorf("the watch missed the mtu change; it saw: %v", writes)
	}
}

var passesLine = regexp.MustCompile(`(?m)^routerd_engine_passes_total\{engine="([^"]+)"\} (\S+)$`)

// passes is routerd_engine_passes_total of one engine.
func passes(scrape, engine string) float64 {
	for _, m := range passesLine.FindAllStringSubmatch(scrape, -1) {
		if m[1] == engine {
			v, _ := strconv.ParseFloat(m[2], 64)
			return v
		}
	}
	return 0
}

// straceWrite matches the system calls that change the kernel or the dataplane: netlink
// requests other than RTM_GET*, BPF map, link and program changes, /proc/sys opened for
// writing.
var straceWrite = regexp.MustCompile(`nlmsg_type=RTM_(NEW|DEL|SET)|` +
	`bpf\(BPF_(MAP_UPDATE|MAP_DELETE|MAP_LOOKUP_AND_DELETE|LINK_CREATE|LINK_UPDATE|LINK_DETACH|PROG_ATTACH|PROG_DETACH|OBJ_PIN|PROG_LOAD|MAP_CREATE)|` +
	`openat\([^)]*"/proc/sys/[^"]*", O_(WRONLY|RDWR)`)

// straceOf starts watching the process pid (every thread) with strace; the function it
// returns stops the watch and returns the writing calls it saw.
func straceOf(t *testing.T, netnsName string, pid int) func() []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), fmt.Sprintf("strace-%d", time.Now().UnixNano()))
	// In routerd's namespace: strace names netlink sockets (and so decodes their
	// messages) by asking the namespace it runs in.
	cmd := exec.Command("ip", "netns", "exec", netnsName, "strace", "-f", "-s", "256", "-e", "trace=sendto,sendmsg,openat,bpf", "-e", "signal=none",
		"-o", out, "-p", strconv.Itoa(pid))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// strace says "Process N attached" per thread; once the first is said, the rest
	// follow at once (it attaches to every thread before resuming any).
	sc := bufio.NewScanner(stderr)
	attached := make(chan bool, 1)
	go func() {
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "attached") {
				said = true
				attached <- true
			}
		}
		if !said {
			attached <- false
		}
	}()
	select {
	case ok := <-attached:
		if !ok {
			t.Fatal("strace did not attach")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("strace did not attach in 30 s")
	}
	return func() []string {
		t.Helper()
		cmd.Process.Signal(syscall.SIGINT) // detaches and exits
		cmd.Wait()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var writes []string
		for _, l := range strings.Split(string(b), "\n") {
			if straceWrite.MatchString(l) {
				writes = append(writes, l)
			}
		}
		return writes
	}
}
