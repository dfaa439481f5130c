package steer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/routerd/routerd/dataplane"
)

// ErrNotSupported says the kernel cannot run the steering program (no BPF, no tcx, no
// bpffs); tests skip on it.
var ErrNotSupported = errors.New("ptp steering: eBPF not supported here")

// Stats are one port's counters summed over CPUs: messages kept from the bridge.
type Stats struct {
	Event, General uint64
	// Tagged and UDP count the frames among them with a VLAN tag and over UDPv4.
	Tagged, UDP uint64
}

// Steer owns the loaded program and its pinned maps.
type Steer struct {
	dir  string // "" when not pinning: links live as long as the process
	objs steerObjects
	mu   sync.Mutex
	// links are the attachments of an unpinned Steer, by interface name.
	links map[string]link.Link
}

var mapNames = []string{"ptp_steer_portmap", "ptp_steer_counters"}

// Open loads the program, reusing maps pinned under root/ptp (the --bpffs root; dataplane
// says the policy every routerd object follows) by an earlier run so that counters
// survive a restart, and pins the program there for bpftool.
func Open(root string) (*Steer, error) {
	pins, err := dataplane.OpenPins(root, "ptp")
	if err != nil {
		return nil, err
	}
	dir := pins.Dir
	spec, err := loadSteer()
	if err != nil {
		return nil, fmt.Errorf("ptp steering program: %w", err)
	}
	s := &Steer{dir: dir}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}}
	err = spec.LoadAndAssign(&s.objs, opts)
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		// Pinned by a routerd of another layout: start over.
		for _, n := range mapNames {
			os.Remove(filepath.Join(dir, n))
		}
		err = spec.LoadAndAssign(&s.objs, opts)
	}
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("%w: %v", ErrNotSupported, err)
		}
		return nil, fmt.Errorf("loading the ptp steering program: %w", err)
	}
	path := filepath.Join(dir, "ptp_steer")
	os.Remove(path)
	if err := s.objs.PtpSteer.Pin(path); err != nil {
		s.objs.Close()
		return nil, fmt.Errorf("pinning ptp_steer: %w", err)
	}
	return s, nil
}

// load loads the program without pins (BPF_PROG_RUN tests).
func load() (*Steer, error) {
	spec, err := loadSteer()
	if err != nil {
		return nil, err
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	s := &Steer{}
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("%w: %v", ErrNotSupported, err)
		}
		return nil, err
	}
	return s, nil
}

// Close releases the file descriptors; pinned attachments stay.
func (s *Steer) Close() error { return s.objs.Close() }

// Program is the TC program (benchmarks and BPF_PROG_RUN tests).
func (s *Steer) Program() *ebpf.Program { return s.objs.PtpSteer }

func (s *Steer) linkPath(ifname string) string { return filepath.Join(s.dir, "link_"+ifname) }

// Enable makes the program keep PTP of port ifindex from the bridge; counters that
// survived a restart are kept.
func (s *Steer) Enable(ifindex int) error {
	key := uint32(ifindex)
	if err := s.objs.PtpSteerPortmap.Put(key, steerPtpSteerPort{}); err != nil {
		return fmt.Errorf("ptp_steer_portmap: %w", err)
	}
	zero := make([]steerPtpSteerStats, ebpf.MustPossibleCPU())
	if err := s.objs.PtpSteerCounters.Update(key, zero, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("ptp_steer_counters: %w", err)
	}
	return nil
}

// Attach enables port ifindex (named ifname) and runs the program at its TC ingress. An
// attachment pinned by an earlier run is updated in place, without a gap.
func (s *Steer) Attach(ifindex int, ifname string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enable(ifindex); err != nil {
		return err
	}
	if s.links != nil {
		if l := s.links[ifname]; l != nil {
			l.Close()
			delete(s.links, ifname)
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: s.objs.PtpSteer, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			s.objs.PtpSteerPortmap.Delete(uint32(ifindex))
			return fmt.Errorf("attaching ptp_steer to %s: %w", ifname, err)
		}
		s.links[ifname] = l
		return nil
	}
	path := s.linkPath(ifname)
	if l, err := link.LoadPinnedLink(path, nil); err == nil {
		uerr := l.Update(s.objs.PtpSteer)
		info, ierr := l.Info()
		if uerr == nil && ierr == nil && info.TCX() != nil && int(info.TCX().Ifindex) == ifindex {
			return l.Close()
		}
		// The interface was recreated (another ifindex) or the link is dead.
		l.Unpin()
		l.Close()
	}
	os.Remove(path)
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: s.objs.PtpSteer, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		s.objs.PtpSteerPortmap.Delete(uint32(ifindex))
		if errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("%w: attaching to %s: %v", ErrNotSupported, ifname, err)
		}
		return fmt.Errorf("attaching ptp_steer to %s: %w", ifname, err)
	}
	defer l.Close()
	if err := l.Pin(path); err != nil {
		l.Close()
		return fmt.Errorf("pinning the ptp_steer link of %s: %w", ifname, err)
	}
	return nil
}

// Detach stops steering on a port: bridging of PTP resumes and its counters go. It
// returns what could not be undone (the attachment's pin, the port's entry): left, the
// port's PTP stays kept from the bridge, so the caller tries again.
func (s *Steer) Detach(ifindex int, ifname string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.links != nil {
		if l := s.links[ifname]; l != nil {
			if err := l.Close(); err != nil {
				errs = append(errs, fmt.Errorf("detaching ptp_steer from %s: %w", ifname, err))
			}
			delete(s.links, ifname)
		}
	} else {
		if l, err := link.LoadPinnedLink(s.linkPath(ifname), nil); err == nil {
			if err := l.Unpin(); err != nil {
				errs = append(errs, fmt.Errorf("unpinning the ptp_steer link of %s: %w", ifname, err))
			}
			l.Close()
		}
		if err := os.Remove(s.linkPath(ifname)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing the ptp_steer link pin of %s: %w", ifname, err))
		}
	}
	for _, m := range []*ebpf.Map{s.objs.PtpSteerPortmap, s.objs.PtpSteerCounters} {
		if err := m.Delete(uint32(ifindex)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// Stats reads a port's counters.
func (s *Steer) Stats(ifindex int) (Stats, error) {
	var per []steerPtpSteerStats
	if err := s.objs.PtpSteerCounters.Lookup(uint32(ifindex), &per); err != nil {
		return Stats{}, fmt.Errorf("ptp_steer_counters: %w", err)
	}
	var st Stats
	for _, p := range per {
		st.Event += p.Event
		st.General += p.General
		st.Tagged += p.Tagged
		st.UDP += p.Udp
	}
	return st, nil
}
