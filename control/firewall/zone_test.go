package firewall

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/routerd/routerd/control/controltest"
)

// window is a time= value of 40 minutes around now on the clock of loc, on the weekday
// it starts.
func window(loc *time.Location) string {
	s := time.Now().In(loc).Add(-20 * time.Minute)
	e := s.Add(40 * time.Minute)
	return fmt.Sprintf("%s-%s,%s", s.Format("15:04:05"), e.Format("15:04:05"), weekdays[s.Weekday()])
}

// TestTimeLocalZone: time= counts in /system clock's zone, as RouterOS's router-local
// time. With the zone Asia/Tokyo (UTC+9, no daylight saving time) a rule whose window
// is around Tokyo's now matches forwarded pings and one around UTC's now does not; after
// /system clock set time-zone-name=Etc/UTC (which the engine follows by itself) the other
// way round.
func TestTimeLocalZone(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	controltest.Exec(t, r.ex, "/system/clock set time-zone-name=Asia/Tokyo")
	r.run(t, `/ip firewall filter add chain=forward protocol=icmp src-address=198.18.1.2 time=`+window(tokyo)+` action=passthrough comment=tokyo
/ip firewall filter add chain=forward protocol=icmp src-address=198.18.1.2 time=`+window(time.UTC)+` action=passthrough comment=utc`)
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatal("no ping through the router")
	}
	if n, u := r.counter(t, "/ip firewall filter", "tokyo"), r.counter(t, "/ip firewall filter", "utc"); n != 1 || u != 0 {
		t.Fatalf("zone Asia/Tokyo: the Tokyo window counted %d, the UTC window %d; want 1 and 0\n%s", n, u, ruleset(t, tp))
	}
	// The engine follows the zone's change without being asked (no Reconcile here).
	controltest.Exec(t, r.ex, "/system/clock set time-zone-name=Etc/UTC")
	deadline := time.Now().Add(15 * time.Second)
	for {
		tp.ping(tp.c, "198.19.2.2")
		if r.counterNow(t, "utc") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zone Etc/UTC: the UTC window never matched\n%s", ruleset(t, tp))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Pings sent before the pass counted in the Tokyo window; none after.
	before := r.counterNow(t, "tokyo")
	tp.ping(tp.c, "198.19.2.2")
	if n := r.counterNow(t, "tokyo"); n != before {
		t.Errorf("zone Etc/UTC: the Tokyo window still matches (%d, then %d)", before, n)
	}
}

// counterNow is counter without a pass.
func (r *rig) counterNow(t *testing.T, comment string) int {
	t.Helper()
	var b strings.Builder
	if err := r.in.Run(context.Background(), r.con, `:put [/ip firewall filter get [find comment=`+comment+`] packets]`, &b); err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(b.String(), &n)
	return n
}

// TestTimeFollowsDST: a rule's window moves in UTC when /system clock's zone enters
// daylight saving time. Europe/Berlin goes from UTC+1 to UTC+2 at 01:00 UTC on
// 2026-03-29; the engine's clock is set just before, then just after, and the kernel's
// ruleset (meta hour counts UTC) follows by itself.
func TestTimeFollowsDST(t *testing.T) {
	tp := newTopo(t)
	if _, err := time.LoadLocation("Europe/Berlin"); err != nil {
		t.Skip("no zone database:", err)
	}
	ex := controltest.New(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 29, 0, 59, 50, 0, time.UTC).UnixNano())
	ex.Now = func() time.Time { return time.Unix(0, now.Load()) }
	r := newRigEx(t, tp, ex)
	controltest.Exec(t, r.ex, "/system/clock set time-zone-name=Europe/Berlin")
	r.run(t, `/ip firewall filter add chain=forward time=8h-17h action=passthrough comment=office`)
	hours := func() string {
		cmd := exec.Command("ip", "netns", "exec", tp.r, "nft", "list", "table", "ip", "routerd")
		cmd.Env = append(os.Environ(), "TZ=UTC") // nft shows meta hour in its own zone
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("nft: %v\n%s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "meta hour") {
				return strings.TrimSpace(l)
			}
		}
		t.Fatalf("no meta hour rule:\n%s", out)
		return ""
	}
	if h := hours(); !strings.Contains(h, `"07:00"-"15:59:59"`) {
		t.Fatalf("winter time (UTC+1): %s, want 07:00-15:59:59 UTC", h)
	}
	now.Store(time.Date(2026, 3, 29, 1, 0, 5, 0, time.UTC).UnixNano())
	deadline := time.Now().Add(10 * time.Second)
	for h := hours(); !strings.Contains(h, `"06:00"-"14:59:59"`); h = hours() {
		if time.Now().After(deadline) {
			t.Fatalf("summer time (UTC+2): %s, want 06:00-14:59:59 UTC", h)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCreationTimeZone: address-list creation-time is shown in /system clock's zone, for
// configured entries and for those a rule added, and follows a change of zone; before, it
// was the process's zone (UTC here) whatever the clock said.
func TestCreationTimeZone(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	kathmandu, err := time.LoadLocation("Asia/Kathmandu") // UTC+5:45: no other zone's clock
	if err != nil {
		t.Skip("no zone database:", err)
	}
	controltest.Exec(t, r.ex, "/system/clock set time-zone-name=Asia/Tokyo")
	t.Cleanup(func() { controltest.Exec(t, r.ex, "/system/clock set time-zone-name=Etc/UTC") })
	r.run(t, `/ip firewall address-list add list=conf address=198.18.9.9 comment=conf
/ip firewall filter add chain=forward protocol=icmp action=add-src-to-address-list address-list=seen address-list-timeout=1h`)
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatal("no ping through the router")
	}
	check := func(loc *time.Location) {
		t.Helper()
		for _, where := range []string{"comment=conf", "list=seen"} {
			pr := r.run(t, `/ip firewall address-list print detail where `+where)
			m := regexp.MustCompile(`creation-time=(?:"?)(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)`).FindStringSubmatch(pr)
			if m == nil {
				t.Fatalf("no creation-time in\n%s", pr)
			}
			out := m[1]
			at, err := time.ParseInLocation("2006-01-02 15:04:05", out, loc)
			if err != nil {
				t.Fatalf("%s creation-time %q: %v", where, out, err)
			}
			if d := time.Since(at); d < -time.Minute || d > 5*time.Minute {
				t.Errorf("%s creation-time %s is %v from now in %s (now there %s)", where, out, d, loc, time.Now().In(loc).Format(time.TimeOnly))
			}
		}
	}
	check(tokyo)
	controltest.Exec(t, r.ex, "/system/clock set time-zone-name=Asia/Kathmandu")
	if err := r.e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(kathmandu)
}
