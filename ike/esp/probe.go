package esp

import (
	"fmt"
	"net"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var (
	probeOnce sync.Once
	probeRes  ProbeResult
)

// Probe finds out whether the kernel runs ESP: it adds an aes-128-gcm and an
// aes-128-cbc/hmac-sha1 ESP state in a throwaway network namespace (the real SAD is never
// touched) and picks the kernel path only when both are accepted. The result is cached.
func Probe() ProbeResult {
	probeOnce.Do(func() { probeRes = probe() })
	return probeRes
}

func probe() ProbeResult {
	h, err := throwawayHandle()
	if err != nil {
		return ProbeResult{Kind: KindUserspace, Reason: "no namespace to probe XFRM in: " + err.Error()}
	}
	defer h.Close()
	src, dst := net.IPv4(198, 18, 0, 1), net.IPv4(198, 18, 0, 2)
	states := []*netlink.XfrmState{
		{Src: src, Dst: dst, Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TUNNEL, Spi: 0x100,
			Aead: &netlink.XfrmStateAlgo{Name: "rfc4106(gcm(aes))", Key: make([]byte, 20), ICVLen: 128}},
		{Src: src, Dst: dst, Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TUNNEL, Spi: 0x101,
			Crypt: &netlink.XfrmStateAlgo{Name: "cbc(aes)", Key: make([]byte, 16)},
			Auth:  &netlink.XfrmStateAlgo{Name: "hmac(sha1)", Key: make([]byte, 20), TruncateLen: 96}},
	}
	for _, st := range states {
		if err := h.XfrmStateAdd(st); err != nil {
			return ProbeResult{Kind: KindUserspace, Reason: fmt.Sprintf("kernel XFRM refuses ESP state: %v", err)}
		}
	}
	return ProbeResult{Kind: KindKernel, Reason: "kernel XFRM accepts ESP states (aes-gcm, aes-cbc+hmac)"}
}

// throwawayHandle returns a netlink handle whose socket lives in a fresh network namespace
// that disappears when the handle is closed.
func throwawayHandle() (*netlink.Handle, error) {
	type res struct {
		h   *netlink.Handle
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer ns.Close()
		h, herr := netlink.NewHandle(netlink.FAMILY_ALL)
		if err := netns.Set(orig); err != nil {
			// The thread stays locked (and dies with the goroutine) in the wrong namespace.
			if h != nil {
				h.Close()
			}
			ch <- res{nil, err}
			return
		}
		runtime.UnlockOSThread()
		ch <- res{h, herr}
	}()
	r := <-ch
	return r.h, r.err
}
