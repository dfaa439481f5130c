package ptp

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBridgeSteering: a routerd boundary clock whose two ports are members of one Linux
// bridge, between a ptp4l grandmaster and a ptp4l slave. The TC program keeps PTP from
// crossing the bridge (the slave sees routerd, two steps from the grandmaster, and never
// a grandmaster frame), while ordinary traffic (ping) still crosses it.
func TestBridgeSteering(t *testing.T) {
	need(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("needs tshark (apt-get install tshark)")
	}
	for _, c := range []struct {
		name, ptp4l, config string
	}{
		{"udp4-e2e", "-4", "profile=aes67"},
		{"l2-e2e", "-2", "profile=aes67 transport=l2-forwardable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tp := newTopo(t, "g", "b", "s")
			tp.addr++
			net := fmt.Sprintf("198.18.%d", tp.addr)
			tp.ip("-n", tp.ns["b"], "link", "add", "name", "br0", "type", "bridge", "mcast_snooping", "0")
			tp.ip("-n", tp.ns["b"], "addr", "add", net+".3/24", "dev", "br0")
			tp.ip("-n", tp.ns["b"], "link", "set", "dev", "br0", "up")
			for _, l := range []struct{ ns, dev, port, addr string }{{"g", "gm0", "up0", net + ".1/24"}, {"s", "sl0", "dn0", net + ".2/24"}} {
				tp.ip("-n", tp.ns["b"], "link", "add", "name", l.port, "type", "veth", "peer", "name", l.dev, "netns", tp.ns[l.ns])
				tp.ip("-n", tp.ns["b"], "link", "set", "dev", l.port, "master", "br0", "up")
				tp.ip("-n", tp.ns[l.ns], "addr", "add", l.addr, "dev", l.dev)
				tp.ip("-n", tp.ns[l.ns], "link", "set", "dev", l.dev, "up")
			}
			gm := tp.ptp4l("g", append([]string{"-i", "gm0", c.ptp4l, "-E", "--priority1", "100"}, fastGM...)...)
			r := tp.routerd("b", 0, 0)
			r.run("/system ptp add name=ptp1 " + c.config)
			r.run("/system ptp port add interface=up0 ptp=ptp1")
			r.run("/system ptp port add interface=dn0 ptp=ptp1")
			sl := tp.ptp4l("s", "-i", "sl0", c.ptp4l, "-E", "-s", "--free_running", "1")
			gmID := gm.pmc(t, "DEFAULT_DATA_SET")["clockIdentity"]
			eventually(t, 40*time.Second, "the ptp4l slave follows routerd, two steps from the grandmaster", func() (bool, string) {
				f := r.monitor("ptp1")
				pd, cd := sl.pmc(t, "PARENT_DATA_SET"), sl.pmc(t, "CURRENT_DATA_SET")
				ok := pd["grandmasterIdentity"] == gmID && strings.HasPrefix(pd["parentPortIdentity"], pmcID(f["clock-id"])) &&
					cd["stepsRemoved"] == "2" && f["slave-port"] == "up0"
				return ok, fmt.Sprintf("slave parent %v current %v; routerd %v", pd, cd, f)
			})

			// No frame of the grandmaster reaches the slave's link, while ping crosses.
			mac, err := exec.Command("ip", "-n", tp.ns["g"], "-br", "link", "show", "dev", "gm0").Output()
			if err != nil {
				t.Fatal(err)
			}
			gmMAC := strings.Fields(string(mac))[2]
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			capture := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+tp.ns["s"], "tshark", "-i", "sl0", "-a", "duration:5",
				"-f", "udp port 319 or udp port 320 or ether proto 0x88f7 or icmp", "-T", "fields", "-e", "eth.src", "-e", "_ws.col.Protocol")
			var out strings.Builder
			capture.Stdout = &out
			started := make(chan struct{})
			stderr, err := capture.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := capture.Start(); err != nil {
				t.Fatal(err)
			}
			// tshark says "Capturing on" once the capture runs; on a loaded machine that
			// can take seconds, and pings sent before it would go unseen.
			go func() {
				sc := bufio.NewScanner(stderr)
				once := sync.OnceFunc(func() { close(started) })
				for sc.Scan() {
					if strings.Contains(sc.Text(), "Capturing on") {
						once()
					}
				}
			}()
			select {
			case <-started:
			case <-ctx.Done():
				t.Fatal("tshark did not start capturing")
			}
			time.Sleep(500 * time.Millisecond) // "Capturing on" comes a moment before the first packet is taken
			if o, err := exec.Command("nsenter", "--net=/run/netns/"+tp.ns["g"], "ping", "-c", "3", "-i", "0.2", "-W", "2", net+".2").CombinedOutput(); err != nil {
				t.Fatalf("ping across the bridge: %v\n%s", err, o)
			}
			capture.Wait()
			var ptpFromGM, icmpFromGM, ptpFromRouterd int
			for _, l := range strings.Split(out.String(), "\n") {
				fs := strings.Fields(l)
				if len(fs) < 2 {
					continue
				}
				switch {
				case fs[0] == gmMAC && fs[1] == "ICMP":
					icmpFromGM++
				case fs[0] == gmMAC:
					ptpFromGM++
				case fs[1] == "PTPv2":
					ptpFromRouterd++
				}
			}
			if ptpFromGM != 0 || icmpFromGM == 0 || ptpFromRouterd == 0 {
				t.Fatalf("on the slave's link: %d PTP frames from the grandmaster, %d from routerd, %d pings:\n%s",
					ptpFromGM, ptpFromRouterd, icmpFromGM, out.String())
			}
			st := r.run("/system ptp status print detail")
			ev, gen := counter(st, "up0", "steered-event"), counter(st, "up0", "steered-general")
			if ev == 0 || gen == 0 {
				t.Fatalf("steering counters of up0: event %d general %d\n%s", ev, gen, st)
			}
			t.Logf("up0 kept %d event and %d general messages from the bridge; %d pings crossed", ev, gen, icmpFromGM)
		})
	}
}

// counter reads name=N from the detail print entry of interface port.
func counter(detail, port, name string) uint64 {
	for _, entry := range strings.Split(detail, "\n\n") {
		if !strings.Contains(entry, `interface=`+port) && !strings.Contains(entry, `interface="`+port+`"`) {
			continue
		}
		for _, f := range strings.Fields(entry) {
			if v, ok := strings.CutPrefix(f, name+"="); ok {
				n, _ := strconv.ParseUint(v, 10, 64)
				return n
			}
		}
	}
	return 0
}
