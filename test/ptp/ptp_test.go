package ptp

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const cfgDir = "/usr/share/doc/linuxptp/configs/"

// fastGM are ptp4l grandmaster options that keep lock time small.
var fastGM = []string{"--logSyncInterval=-3", "--logMinDelayReqInterval=-3", "--logAnnounceInterval=-2", "--logMinPdelayReqInterval=-2"}

// holdsLock waits until routerd's slave port has locked to the grandmaster and then
// holds: consecutive samples with |offset| (as measured) and |hw-offset| (the virtual
// clock's true error against the system clock, which the ptp4l grandmaster serves)
// within bounds.
func holdsLock(t *testing.T, r *router, port string, bound int64) map[string]string {
	t.Helper()
	var f map[string]string
	held := 0
	eventually(t, 60*time.Second, "routerd locks and holds", func() (bool, string) {
		f = r.monitor("ptp1")
		ok := f["slave-port"] == port && abs(num(f["offset"])) < bound && abs(num(f["hw-offset"])) < 4*bound
		st := r.run("/system ptp status print")
		if ok && strings.Contains(st, "slave") {
			held++
		} else {
			held = 0
		}
		return held >= 8, fmt.Sprintf("%v\n%s", f, st)
	})
	return f
}

func TestInterop(t *testing.T) {
	need(t)
	gmCases := []struct {
		name   string
		ptp4l  []string
		config string
		bound  int64
	}{
		{"udp-e2e", append([]string{"-4", "-E", "--priority1", "100"}, fastGM...), "", 50_000},
		{"l2-p2p", append([]string{"-2", "-P", "--priority1", "100"}, fastGM...), "transport=l2-forwardable delay-mode=p2p", 50_000},
		{"udp-p2p", append([]string{"-4", "-P", "--priority1", "100"}, fastGM...), "delay-mode=p2p", 50_000},
		{"gptp", []string{"-f", cfgDir + "gPTP.cfg", "--priority1", "100", "--neighborPropDelayThresh", "100000"}, "profile=802.1as", 50_000},
		{"g8275.1", []string{"-f", cfgDir + "G.8275.1.cfg", "--clockClass", "6", "--domainNumber", "24"}, "profile=g8275.1", 50_000},
	}
	for _, c := range gmCases {
		t.Run("ptp4l-gm/"+c.name, func(t *testing.T) {
			t.Parallel()
			tp := newTopo(t, "g", "s")
			tp.link("g", "gm0", "s", "sl0")
			gm := tp.ptp4l("g", append([]string{"-i", "gm0"}, c.ptp4l...)...)
			// 37 ms off and 100 ppm fast: routerd must step, find the frequency, and hold.
			r := tp.routerd("s", 37*time.Millisecond, 100_000)
			r.run("/system ptp add name=ptp1 " + c.config)
			r.run("/system ptp port add interface=sl0 ptp=ptp1")
			f := holdsLock(t, r, "sl0", c.bound)
			var pmcArgs []string
			if c.name == "gptp" {
				pmcArgs = []string{"-t", "1"}
			}
			if c.name == "g8275.1" {
				pmcArgs = []string{"-d", "24"}
			}
			ds := gm.pmc(t, "DEFAULT_DATA_SET", pmcArgs...)
			if pmcID(f["gm-clock-id"]) != ds["clockIdentity"] || f["master-clock-id"] != f["gm-clock-id"] {
				t.Fatalf("routerd follows %s, ptp4l is %s", f["gm-clock-id"], ds["clockIdentity"])
			}
			if c.name != "g8275.1" && f["gm-priority1"] != "100" {
				t.Fatalf("gm-priority1 %s", f["gm-priority1"])
			}
			if f["i-am-gm"] != "no" || f["timestamping"] != "software" || f["clock"] != "virtual" {
				t.Fatalf("monitor: %v", f)
			}
			if c.name == "gptp" {
				// 802.1AS: the port shows asCapable and the measured neighborRateRatio
				// (about 1 once routerd's clock runs at the grandmaster's rate).
				st := r.run("/system ptp status print detail")
				m := regexp.MustCompile(`neighbor-rate-ratio="?([0-9.]+)`).FindStringSubmatch(st)
				if !strings.Contains(st, "as-capable=yes") || m == nil {
					t.Fatalf("status lacks as-capable=yes or neighbor-rate-ratio:\n%s", st)
				}
				if v, err := strconv.ParseFloat(m[1], 64); err != nil || math.Abs(v-1) > 1e-3 {
					t.Fatalf("neighbor-rate-ratio %s", m[1])
				}
			} else if st := r.run("/system ptp status print detail"); strings.Contains(st, "as-capable") {
				t.Fatalf("as-capable outside 802.1AS:\n%s", st)
			}
			t.Logf("locked: offset %s, hw-offset %s, freq-drift %s, delay %s", f["offset"], f["hw-offset"], f["freq-drift"], f["slave-port-delay"])
		})
	}

	t.Run("routerd-gm", func(t *testing.T) {
		t.Parallel()
		tp := newTopo(t, "g", "s")
		tp.link("g", "gm0", "s", "sl0")
		r := tp.routerd("g", 20*time.Millisecond, 0)
		r.run("/system ptp add name=ptp1 priority1=50 priority2=60 profile=aes67")
		r.run("/system ptp port add interface=gm0 ptp=ptp1")
		sl := tp.ptp4l("s", "-i", "sl0", "-4", "-E", "-s", "--free_running", "1")
		// ptp4l's clock is the system clock; routerd serves system time + 20 ms.
		offs := sl.offsets(t, 5)
		if m := median(offs); abs(m+20_000_000) > 200_000 {
			t.Fatalf("ptp4l offsets %v ns, want about -20 ms", offs)
		}
		f := r.monitor("ptp1")
		pd := sl.pmc(t, "PARENT_DATA_SET")
		if pd["grandmasterIdentity"] != pmcID(f["clock-id"]) || pd["grandmasterPriority1"] != "50" || pd["grandmasterPriority2"] != "60" {
			t.Fatalf("pmc parent data set %v, routerd %v", pd, f)
		}
		if f["i-am-gm"] != "yes" || f["gm-clock-id"] != f["clock-id"] || f["priority1"] != "50" {
			t.Fatalf("monitor: %v", f)
		}
	})

	t.Run("boundary-clock", func(t *testing.T) {
		t.Parallel()
		tp := newTopo(t, "g", "b", "s")
		tp.link("g", "gm0", "b", "up0")
		tp.link("b", "dn0", "s", "sl0")
		gm := tp.ptp4l("g", append([]string{"-i", "gm0", "-4", "-E", "--priority1", "100"}, fastGM...)...)
		r := tp.routerd("b", -15*time.Millisecond, 50_000)
		r.run("/system ptp add name=ptp1 profile=aes67")
		r.run("/system ptp port add interface=up0 ptp=ptp1")
		r.run("/system ptp port add interface=dn0 ptp=ptp1")
		holdsLock(t, r, "up0", 50_000)
		sl := tp.ptp4l("s", "-i", "sl0", "-4", "-E", "-s", "--free_running", "1")
		// The boundary clock keeps the grandmaster's time: ptp4l's offsets are small.
		offs := sl.offsets(t, 5)
		if m := median(offs); abs(m) > 100_000 {
			t.Fatalf("ptp4l behind routerd: offsets %v ns", offs)
		}
		gds := gm.pmc(t, "DEFAULT_DATA_SET")
		pd := sl.pmc(t, "PARENT_DATA_SET")
		cd := sl.pmc(t, "CURRENT_DATA_SET")
		f := r.monitor("ptp1")
		if pd["grandmasterIdentity"] != gds["clockIdentity"] || !strings.HasPrefix(pd["parentPortIdentity"], pmcID(f["clock-id"])) || cd["stepsRemoved"] != "2" {
			t.Fatalf("ptp4l slave: parent %v current %v; routerd %v; gm %v", pd, cd, f, gds)
		}
		st := r.run("/system ptp status print")
		if !strings.Contains(st, "master") || !strings.Contains(st, "slave") {
			t.Fatalf("status:\n%s", st)
		}
	})

	t.Run("bmca-bridge", func(t *testing.T) {
		t.Parallel()
		tp := newTopo(t, "a", "p", "c", "w")
		tp.bridge("w", map[string]string{"a": "eth0", "p": "eth0", "c": "eth0"})
		ra := tp.routerd("a", 0, 0)
		rc := tp.routerd("c", 0, 0)
		p4 := tp.ptp4l("p", "-i", "eth0", "-4", "-E", "--free_running", "1", "--priority1", "100", "--logAnnounceInterval=-2", "--logSyncInterval=-2")
		for _, r := range []*router{ra, rc} {
			r.run("/system ptp add name=ptp1 profile=smpte domain=0")
			r.run("/system ptp port add interface=eth0 ptp=ptp1")
		}
		ptp4lID := func() string { return p4.pmc(t, "DEFAULT_DATA_SET")["clockIdentity"] }
		agree := func(want func() string) func() (bool, string) {
			return func() (bool, string) {
				w := want()
				fa, fc := ra.monitor("ptp1"), rc.monitor("ptp1")
				pgm := p4.pmc(t, "PARENT_DATA_SET")["grandmasterIdentity"]
				ok := pmcID(fa["gm-clock-id"]) == w && pmcID(fc["gm-clock-id"]) == w && pgm == w
				return ok, fmt.Sprintf("want %s: a %s c %s ptp4l %s", w, fa["gm-clock-id"], fc["gm-clock-id"], pgm)
			}
		}
		// ptp4l (priority1 100) is the best clock.
		eventually(t, 20*time.Second, "all follow ptp4l", agree(ptp4lID))
		// routerd a becomes the best clock.
		ra.run("/system ptp set ptp1 priority1=50")
		aID := func() string { return pmcID(ra.monitor("ptp1")["clock-id"]) }
		eventually(t, 10*time.Second, "all follow routerd a", agree(aID))
		// routerd c beats it.
		rc.run("/system ptp set ptp1 priority1=40")
		cID := func() string { return pmcID(rc.monitor("ptp1")["clock-id"]) }
		eventually(t, 10*time.Second, "all follow routerd c", agree(cID))
	})
}

// TestMenus checks the console side: print, status, monitor errors, bad input.
func TestMenus(t *testing.T) {
	need(t)
	tp := newTopo(t, "m")
	tp.link("m", "m0", "m", "m1")
	r := tp.routerd("m", 0, 0)
	r.run("/system ptp add name=ptp1 profile=802.1as")
	out := r.run("/system ptp print")
	for _, want := range []string{`name="ptp1"`, "priority1=auto", "priority2=auto", "delay-mode=auto", "transport=auto", "profile=802.1as", "domain=auto"} {
		if !strings.Contains(out, want) {
			t.Fatalf("print lacks %s:\n%s", want, out)
		}
	}
	if !strings.Contains(out, " I ") && !strings.Contains(out, "I ") {
		t.Fatalf("a profile without ports is inactive:\n%s", out)
	}
	r.run("/system ptp port add interface=m0 ptp=ptp1")
	eventually(t, 10*time.Second, "monitor", func() (bool, string) {
		f := r.monitor("ptp1")
		return f["priority1"] == "246" && f["priority2"] == "248" && f["i-am-gm"] == "yes", fmt.Sprint(f)
	})
	f := r.monitor("ptp1")
	for _, k := range []string{"name", "clock-id", "priority1", "priority2", "i-am-gm", "gm-clock-id", "gm-priority1",
		"gm-priority2", "master-clock-id", "slave-port", "freq-drift", "offset", "hw-offset", "slave-port-delay"} {
		if _, ok := f[k]; !ok {
			t.Fatalf("monitor lacks %s: %v", k, f)
		}
	}
	// The reference's example: `monitor 0` after print.
	out = r.run(":put [/system ptp print as-value]; /system ptp print; /system ptp monitor 0 once")
	if !strings.Contains(out, "clock-id:") {
		t.Fatalf("monitor 0:\n%s", out)
	}
	monitorStreams(t, r)
	// Alone on its link, the port listens for an announce receipt timeout, then masters.
	eventually(t, 15*time.Second, "status", func() (bool, string) {
		st := r.run("/system ptp status print")
		return strings.Contains(st, "m0") && strings.Contains(st, "master"), st
	})
	// Bad input changes nothing.
	if o, err := tryRun(r, "/system ptp set ptp1 priority1=300"); err == nil {
		t.Fatalf("priority1=300 accepted: %s", o)
	}
	if o, err := tryRun(r, "/system ptp add name=ptp2 profile=foo"); err == nil {
		t.Fatalf("profile=foo accepted: %s", o)
	}
	if o, err := tryRun(r, "/system ptp port set 0 local-priority=0"); err == nil {
		t.Fatalf("local-priority=0 accepted: %s", o)
	}
	r.run("/system ptp port set 0 local-priority=90")
	if o := r.run("/system ptp port print detail"); !strings.Contains(o, "local-priority=90") {
		t.Fatalf("port print lacks local-priority=90:\n%s", o)
	}
	r.run("/system ptp set ptp1 priority1=7")
	eventually(t, 10*time.Second, "runtime priority", func() (bool, string) {
		f := r.monitor("ptp1")
		return f["priority1"] == "7" && f["gm-priority1"] == "7", fmt.Sprint(f)
	})
	r.run("/system ptp port remove 0")
	eventually(t, 10*time.Second, "removed port stops the instance", func() (bool, string) {
		_, err := tryRun(r, "/system ptp monitor ptp1 once")
		return err != nil, ""
	})
}

// monitorStreams: monitor without once writes a sample every interval until routerctl's
// Ctrl-C cancels it; in a substitution (no terminal) it returns one sample.
func monitorStreams(t *testing.T, r *router) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "routerctl"), "--socket", r.sock, "/system ptp monitor ptp1 interval=200ms")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	samples := make(chan int, 1)
	go func() {
		sc, n := bufio.NewScanner(out), 0
		for sc.Scan() {
			if strings.Contains(sc.Text(), "clock-id:") && !strings.Contains(sc.Text(), "gm-clock-id") && !strings.Contains(sc.Text(), "master-clock-id") {
				n++
				if n == 3 {
					samples <- n
				}
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case <-samples:
	case err := <-exited:
		t.Fatalf("monitor returned before it was interrupted: %v", err)
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatal("monitor wrote fewer than 3 samples in 15 s")
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("routerctl after Ctrl-C: %v", err)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("Ctrl-C did not end the monitor")
	}
	// A substitution has no terminal: one sample, then the script goes on.
	if o := r.run(`:local m [/system ptp monitor ptp1]; :put "returned"`); !strings.Contains(o, "returned") {
		t.Fatalf("monitor in a substitution: %q", o)
	}
	if o, err := tryRun(r, "/system ptp monitor ptp1 interval=0s"); err == nil {
		t.Fatalf("interval=0s accepted: %s", o)
	}
}
