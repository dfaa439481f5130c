// Command trafficgen sends generated frames out of an interface at the rate the kernel's
// BPF_PROG_RUN live-frames loop reaches (package trafficgen), or counts frames arriving
// at one. Run it in the interface's namespace, as root:
//
//	nsenter --net=/run/netns/sink trafficgen -sink eth0 -for 5s
//	nsenter --net=/run/netns/src trafficgen -dev eth0 -dst-mac 02:..:01 \
//	    -src 198.18.60.2 -dst 198.18.61.2 -proto udp -size 64 -flows 16 -count 10000000
//	... -proto gre -outer-src 198.18.60.2 -outer-dst 198.18.60.1 -src 198.18.70.2 ...
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/routerd/routerd/tools/trafficgen"
)

func main() {
	var (
		dev, sink, dstMAC, src, dst, osrc, odst, proto string
		size, flows, count, id                         int
		dur                                            time.Duration
	)
	flag.StringVar(&dev, "dev", "", "interface to send out of")
	flag.StringVar(&sink, "sink", "", "count the frames arriving at this interface instead of sending")
	flag.DurationVar(&dur, "for", 10*time.Second, "with -sink: how long to count")
	flag.StringVar(&dstMAC, "dst-mac", "", "destination MAC (the router's port)")
	flag.StringVar(&src, "src", "198.18.60.2", "(inner) source address")
	flag.StringVar(&dst, "dst", "198.18.61.2", "(inner) destination address")
	flag.StringVar(&osrc, "outer-src", "", "tunnel source address (gre, eoip, ipip)")
	flag.StringVar(&odst, "outer-dst", "", "tunnel destination address (gre, eoip, ipip)")
	flag.StringVar(&proto, "proto", "udp", "udp, tcp, gre, eoip or ipip (tunnels carry UDP)")
	flag.IntVar(&size, "size", 64, "frame size in bytes (without FCS)")
	flag.IntVar(&flows, "flows", 1, "number of flows (source ports)")
	flag.IntVar(&count, "count", 1000000, "frames to send")
	flag.IntVar(&id, "tunnel-id", 0, "EoIP tunnel-id")
	flag.Parse()
	if err := run(dev, sink, dstMAC, src, dst, osrc, odst, proto, size, flows, count, id, dur); err != nil {
		fmt.Fprintln(os.Stderr, "trafficgen:", err)
		os.Exit(1)
	}
}

func run(dev, sink, dstMAC, src, dst, osrc, odst, proto string, size, flows, count, id int, dur time.Duration) error {
	if sink != "" {
		ifc, err := net.InterfaceByName(sink)
		if err != nil {
			return err
		}
		s, err := trafficgen.OpenSink(ifc.Index)
		if err != nil {
			return err
		}
		defer s.Close()
		time.Sleep(dur)
		n := s.Count()
		fmt.Printf("%d frames in %s: %.0f pps\n", n, dur, float64(n)/dur.Seconds())
		return nil
	}
	ifc, err := net.InterfaceByName(dev)
	if err != nil {
		return fmt.Errorf("-dev: %w", err)
	}
	mac, err := net.ParseMAC(dstMAC)
	if err != nil {
		return fmt.Errorf("-dst-mac: %w", err)
	}
	o := trafficgen.Options{Proto: proto, Size: size, Flows: flows, SrcMAC: ifc.HardwareAddr, DstMAC: mac,
		TunnelID: uint16(id)}
	for _, a := range []struct {
		s   string
		dst *netip.Addr
	}{{src, &o.Src}, {dst, &o.Dst}, {osrc, &o.OuterSrc}, {odst, &o.OuterDst}} {
		if a.s == "" {
			continue
		}
		if *a.dst, err = netip.ParseAddr(a.s); err != nil {
			return err
		}
	}
	f, err := trafficgen.Build(o)
	if err != nil {
		return err
	}
	g, err := trafficgen.Open(f, flows, ifc.Index, 0)
	if err != nil {
		return err
	}
	defer g.Close()
	d, err := g.Run(count)
	if err != nil {
		return err
	}
	fmt.Printf("%d frames of %d bytes in %s: %.0f pps\n", g.Sent(), len(f.Bytes), d.Round(time.Millisecond), float64(g.Sent())/d.Seconds())
	return nil
}
