package script

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// resolve is :resolve NAME [server=IP] [server-port=N] [type=ipv4|ipv6|any|any6]: the
// first address of the name, through server= when given, else through the router's
// resolver (Interp.LookupHost). A literal address resolves to itself. Failures are
// run-time errors, so :do on-error and :onerror catch them (§5.8).
func (r *run) resolve(host, server, port, typ string) (Value, error) {
	if host == "" {
		return nil, &Error{Msg: "missing value for argument domain-name"}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return IP(a.Unmap()), nil
	}
	network, prefer6 := "ip4", false
	switch typ {
	case "", "ipv4":
	case "ipv6":
		network = "ip6"
	case "any":
		network = "ip"
	case "any6":
		network, prefer6 = "ip", true
	default:
		return nil, &Error{Msg: "input does not match any value of type"}
	}
	p := 53
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, &Error{Msg: "invalid value for argument server-port"}
		}
		p = n
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	var addrs []netip.Addr
	var err error
	switch {
	case server != "":
		sa, perr := netip.ParseAddr(server)
		if perr != nil {
			return nil, &Error{Msg: "invalid value for argument server"}
		}
		target := net.JoinHostPort(sa.Unmap().String(), strconv.Itoa(p))
		res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, target)
		}}
		addrs, err = res.LookupNetIP(ctx, network, host)
	case r.in.LookupHost != nil:
		addrs, err = r.in.LookupHost(ctx, network, host)
	default:
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, network, host)
	}
	if err != nil || len(addrs) == 0 {
		var de *net.DNSError
		if err == nil || errors.As(err, &de) && de.IsNotFound {
			return nil, &Error{Msg: "failure: dns name does not exist"}
		}
		return nil, &Error{Msg: "failure: dns server failure"}
	}
	best := addrs[0]
	for _, a := range addrs {
		if a.Unmap().Is6() == prefer6 {
			best = a
			break
		}
	}
	return IP(best.Unmap()), nil
}
