package system

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/value"
)

// BuildTime is shown as build-time; the Makefile may set it with
// -ldflags "-X github.com/routerd/routerd/control/system.BuildTime=...". Without it the
// VCS time stamped by the Go toolchain is used, then the executable's modification time.
var BuildTime string

// resource produces /system resource from /proc and statfs.
type resource struct {
	proc    string // /proc, replaced by tests
	dataDir string
	started time.Time
	now     func() time.Time

	mu   sync.Mutex
	prev cpuSample
	load int
}

type cpuSample struct {
	at          time.Time
	busy, total uint64
}

// minSampleGap is the shortest interval cpu-load is computed over; two prints closer
// together than this show the previous figure instead of noise.
const minSampleGap = 250 * time.Millisecond

func (r *resource) source(ctx context.Context, _ *control.Session) ([]control.Row, error) {
	p := map[string]string{
		"uptime":            value.FormatDuration(r.now().Sub(r.started).Truncate(time.Second)),
		"version":           control.Version,
		"build-time":        buildTime(),
		"architecture-name": runtime.GOARCH,
		"board-name":        "routerd",
		"platform":          "Linux",
	}
	model, count := r.cpuInfo()
	p["cpu"] = model
	p["cpu-count"] = strconv.Itoa(count)
	if load, ok := r.cpuLoad(ctx); ok {
		p["cpu-load"] = strconv.Itoa(load)
	}
	if free, total, ok := r.memInfo(); ok {
		p["free-memory"] = strconv.FormatUint(free, 10)
		p["total-memory"] = strconv.FormatUint(total, 10)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(r.dataDir, &fs); err == nil {
		p["free-hdd-space"] = strconv.FormatUint(fs.Bavail*uint64(fs.Bsize), 10)
		p["total-hdd-space"] = strconv.FormatUint(fs.Blocks*uint64(fs.Bsize), 10)
	}
	return []control.Row{{ID: 1, Props: p}}, nil
}

// FormatBytes renders a size as the console prints it (value.FormatBytes).
func FormatBytes(n uint64) string { return value.FormatBytes(n) }

func buildTime() string {
	if BuildTime != "" {
		return BuildTime
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					return t.UTC().Format("2006-01-02 15:04:05")
				}
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		if st, err := os.Stat(exe); err == nil {
			return st.ModTime().UTC().Format("2006-01-02 15:04:05")
		}
	}
	return ""
}

// cpuInfo reads the CPU model and the number of CPUs from cpuinfo. ARM kernels name the
// model differently, and some name it not at all; the architecture stands in then.
func (r *resource) cpuInfo() (string, int) {
	f, err := os.Open(filepath.Join(r.proc, "cpuinfo"))
	if err != nil {
		return runtime.GOARCH, runtime.NumCPU()
	}
	defer f.Close()
	model, count := "", 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			count++
		case "model name", "Model", "Hardware", "cpu model", "uarch":
			if model == "" {
				model = v
			}
		}
	}
	if model == "" {
		model = runtime.GOARCH
	}
	if count == 0 {
		count = runtime.NumCPU()
	}
	return model, count
}

// cpuLoad is the busy share of all CPUs since the previous call, or over a short sample
// on the first call.
func (r *resource) cpuLoad(ctx context.Context) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.readStat()
	if !ok {
		return 0, false
	}
	if r.prev.total == 0 {
		r.prev = cur
		t := time.NewTimer(minSampleGap)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, false
		case <-t.C:
		}
		if cur, ok = r.readStat(); !ok {
			return 0, false
		}
	} else if cur.at.Sub(r.prev.at) < minSampleGap {
		return r.load, true
	}
	// Counters only grow; a CPU going offline can make the sums shrink, and then the
	// previous figure stands.
	if cur.total > r.prev.total && cur.busy >= r.prev.busy {
		r.load = min(int((cur.busy-r.prev.busy)*100/(cur.total-r.prev.total)), 100)
	}
	r.prev = cur
	return r.load, true
}

// readStat sums the aggregate "cpu" line of /proc/stat: idle and iowait are idle time,
// steal is time the CPU was not ours, the rest is busy.
func (r *resource) readStat() (cpuSample, bool) {
	b, err := os.ReadFile(filepath.Join(r.proc, "stat"))
	if err != nil {
		return cpuSample{}, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuSample{}, false
	}
	s := cpuSample{at: r.now()}
	// user nice system idle iowait irq softirq steal guest guest_nice; guest time is
	// already counted in user and nice.
	for i, v := range f[1:] {
		if i >= 8 {
			break
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuSample{}, false
		}
		s.total += n
		if i != 3 && i != 4 {
			s.busy += n
		}
	}
	return s, true
}

// memInfo reads free and total memory in bytes. Free is MemAvailable (what programs can
// still get, page cache included), as an operator means by free memory; old kernels
// without it give MemFree.
func (r *resource) memInfo() (free, total uint64, ok bool) {
	f, err := os.Open(filepath.Join(r.proc, "meminfo"))
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	var memFree, avail uint64
	haveAvail := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fs[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fs) > 1 && fs[1] == "kB" {
			n *= 1024
		}
		switch k {
		case "MemTotal":
			total = n
		case "MemFree":
			memFree = n
		case "MemAvailable":
			avail, haveAvail = n, true
		}
	}
	if !haveAvail {
		avail = memFree
	}
	return avail, total, total > 0
}
