package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// ESPRxStats are what the port program did with raw ESP for the userspace ESP path
// (bpf/tunnel.c esp_steer), summed over CPUs.
type ESPRxStats struct {
	// Steered ESP frames (and their ESP bytes) were rewritten into UDP for the path's
	// GRO socket; Fallback ones of a steered SA were left to the raw socket (the fast
	// path off for IPv4, IP options, a fragment, a jumbo frame); Spoofed are UDP frames
	// from the wire to the steering port, dropped.
	Steered, SteeredBytes, Spoofed, Fallback uint64
}

// SetESPRx makes the port program hand raw IPv4 ESP of the SAs in AddESPRx to the UDP
// port given (the userspace path's own socket, with UDP_GRO), so that the port's GRO
// carries it up 64 KB at a time; 0 turns that off. Either way the SAs given before are
// forgotten: they were another socket's. It happens only while SetESPSteer
// allows it (no firewall rule of an IPv4 table could see the ESP), so no rule misses the
// ESP it would have seen.
func (t *Tunnels) SetESPRx(port uint16) error {
	// Off first: no SA's ESP goes to the new port before its owner added it.
	if err := t.objs.EspRxConfig.Put(uint32(0), tunnelEspRxCfg{}); err != nil {
		return fmt.Errorf("esp_rx_config: %w", err)
	}
	var k, next tunnelEspRxKey
	var keys []tunnelEspRxKey
	for err := t.objs.EspRx.NextKey(nil, &next); err == nil; err = t.objs.EspRx.NextKey(k, &next) {
		keys = append(keys, next)
		k = next
	}
	for _, k := range keys {
		if err := deleteKey(t.objs.EspRx, k); err != nil {
			return fmt.Errorf("esp_rx: %w", err)
		}
	}
	if port == 0 {
		return nil
	}
	if err := t.objs.EspRxConfig.Put(uint32(0), tunnelEspRxCfg{Port: port}); err != nil {
		return fmt.Errorf("esp_rx_config: %w", err)
	}
	return nil
}

func espRxKey(dst netip.Addr, spi uint32) (tunnelEspRxKey, error) {
	if !dst.Is4() {
		return tunnelEspRxKey{}, fmt.Errorf("esp_rx: %s is not IPv4", dst)
	}
	a := dst.As4()
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], spi)
	// Both fields hold network-order bytes as the program reads them from the packet.
	return tunnelEspRxKey{Dst: binary.NativeEndian.Uint32(a[:]), Spi: binary.NativeEndian.Uint32(s[:])}, nil
}

// AddESPRx steers raw ESP to dst with spi (an inbound SA of the userspace path).
func (t *Tunnels) AddESPRx(dst netip.Addr, spi uint32) error {
	k, err := espRxKey(dst, spi)
	if err != nil {
		return err
	}
	if err := t.objs.EspRx.Put(k, uint32(1)); err != nil {
		return fmt.Errorf("esp_rx: %w", err)
	}
	return nil
}

// DelESPRx stops steering dst's spi; one that is not there is no error.
func (t *Tunnels) DelESPRx(dst netip.Addr, spi uint32) error {
	k, err := espRxKey(dst, spi)
	if err != nil {
		return nil // never added
	}
	return deleteKey(t.objs.EspRx, k)
}

// SetESPSteer says whether the port program may steer inbound raw IPv4 ESP (SetESPRx):
// the fast path engine allows it while no rule of an IPv4 firewall table (filter, nat,
// mangle, raw; dynamic ones included) and no queue could see those packets. Unlike the
// fast path, IPsec policies do not stop it: the ESP is the userspace path's either way.
func (t *Tunnels) SetESPSteer(allowed bool) error {
	var c tunnelFpCfg
	if err := t.objs.FpConfig.Lookup(uint32(0), &c); err != nil {
		return fmt.Errorf("fp_config: %w", err)
	}
	want := c
	want.Flags &^= fpESP4
	if allowed {
		want.Flags |= fpESP4
	}
	if want == c {
		return nil
	}
	if err := t.objs.FpConfig.Put(uint32(0), want); err != nil {
		return fmt.Errorf("fp_config: %w", err)
	}
	return nil
}

// ESPRxActive says whether raw IPv4 ESP of the steered SAs takes the GRO socket now:
// a port is set and SetESPSteer allows it (otherwise it keeps the raw socket).
func (t *Tunnels) ESPRxActive() bool {
	var c tunnelEspRxCfg
	var f tunnelFpCfg
	return t.objs.EspRxConfig.Lookup(uint32(0), &c) == nil && c.Port != 0 &&
		t.objs.FpConfig.Lookup(uint32(0), &f) == nil && f.Flags&fpESP4 != 0
}

// ESPRxPort is the port SetESPRx set last, by this routerd or another run's on the same
// pins (0: none): a userspace ESP path compares it with its own to see that a new
// OpenTunnels reset the steering.
func (t *Tunnels) ESPRxPort() uint16 {
	var c tunnelEspRxCfg
	if t.objs.EspRxConfig.Lookup(uint32(0), &c) != nil {
		return 0
	}
	return c.Port
}

// ESPRxLinks are the interfaces (by index) the port program runs on (xdp_ports): only
// there does it rewrite ESP for the steering socket, so steered datagrams that came in
// anywhere else were never ESP from the wire. Without t.mu, which an attachment holds
// for a while: the ESP path's reader asks.
func (t *Tunnels) ESPRxLinks() ([]int, error) { return t.portsWith(0) }

// ESPRxStats sums the steering counters over CPUs.
func (t *Tunnels) ESPRxStats() (ESPRxStats, error) {
	var per []tunnelEspRxStats
	if err := t.objs.EspRxCounters.Lookup(uint32(0), &per); err != nil {
		return ESPRxStats{}, fmt.Errorf("esp_rx_counters: %w", err)
	}
	var s ESPRxStats
	for _, p := range per {
		s.Steered += p.Steered
		s.SteeredBytes += p.SteeredBytes
		s.Spoofed += p.Spoofed
		s.Fallback += p.Fallback
	}
	return s, nil
}
