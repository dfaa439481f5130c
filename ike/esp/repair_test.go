package esp

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDeviceRepaired: the userspace path's TUN device deleted behind routerd's back (ip
// link del ipsec0) takes the steering routes with it and leaves the SAs silent. The data
// path notices (its read fails), says so in Health and asks for a Repair (EventDevice);
// while the device cannot be made again (another device took its name) Health
// says why; Repair then makes it again with its routes and traffic flows. A device set
// down is set up again, and with nothing removed Repair does nothing.
func TestDeviceRepaired(t *testing.T) {
	r := newRig(t)
	a, b := startNode(t, r.a), startNode(t, r.b)
	install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel})
	pingOK(t, r.a, "198.19.2.1")
	ra := a.dp.(Repairer)
	ctx := context.Background()
	if did, err := ra.Repair(ctx); did || err != nil || ra.Health() != nil {
		t.Fatalf("repair with nothing removed: %v %v, health %v", did, err, ra.Health())
	}

	run(t, "ip", "-n", r.a, "link", "del", "ipsec0")
	run(t, "ip", "-n", r.a, "link", "add", "ipsec0", "type", "bridge")
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case ev := <-a.dp.Events():
			got = ev.Kind == EventDevice
		case <-deadline:
			t.Fatal("no EventDevice after the device was deleted")
		}
	}
	if err := ra.Health(); err == nil || !strings.Contains(err.Error(), "ipsec0 was deleted") {
		t.Fatalf("health with the device deleted: %v", err)
	}
	if did, err := ra.Repair(ctx); did || err == nil || !strings.Contains(ra.Health().Error(), "cannot be made again") {
		t.Fatalf("repair with the name taken: %v %v, health %v", did, err, ra.Health())
	}
	if _, err := nsExec(t, r.a, "ping", "-c", "1", "-W", "1", "198.19.2.1"); err == nil {
		t.Fatal("ping passed without the device")
	}

	run(t, "ip", "-n", r.a, "link", "del", "ipsec0")
	if did, err := ra.Repair(ctx); !did || err != nil || ra.Health() != nil {
		t.Fatalf("repair: %v %v, health %v", did, err, ra.Health())
	}
	pingOK(t, r.a, "198.19.2.1")

	run(t, "ip", "-n", r.a, "link", "set", "ipsec0", "down")
	if did, err := ra.Repair(ctx); !did || err != nil {
		t.Fatalf("repair of a device set down: %v %v", did, err)
	}
	pingOK(t, r.a, "198.19.2.1")
	if did, err := ra.Repair(ctx); did || err != nil {
		t.Fatalf("repair with nothing removed: %v %v", did, err)
	}
}
