package firewall

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// time= counts in /system clock's zone, as RouterOS evaluates it in the router's local
// time. The kernel has no zone for nftables: meta hour is the second of the UTC day and
// meta day the weekday in sys_tz (the zone settimeofday last gave the kernel, UTC unless
// something set one). So a rule's window is compiled against both zones' offsets as they
// are now (timeWindows), and the compiled rule changes when either offset does: when
// /system clock's time-zone-name is set (the engine watches the menu), and when the zone
// enters or leaves daylight saving time or sys_tz changes (the engine's one-second
// timer compares the offsets with those the last pass compiled against and starts a
// pass; the fingerprint of every rule includes both offsets).

// zoneOffsets are the offsets east of UTC, in seconds, of /system clock's zone (zone)
// and of the kernel's meta day (day) at one moment.
type zoneOffsets struct{ zone, day int }

// kernelDayOffset is the offset east of UTC the kernel's meta day counts in:
// nft_meta_weekday subtracts sys_tz.tz_minuteswest, which only gettimeofday's second
// argument reads (the vDSO's answer comes from the same variable).
func kernelDayOffset() int {
	var tv unix.Timeval
	var tz struct{ minutesWest, dstTime int32 }
	if _, _, e := unix.RawSyscall(unix.SYS_GETTIMEOFDAY, uintptr(unsafe.Pointer(&tv)), uintptr(unsafe.Pointer(&tz)), 0); e != 0 {
		return 0
	}
	return -int(tz.minutesWest) * 60
}

// clockZone is /system clock's zone: the one its time-zone-name names (the store keeps
// it, as export shows it; manual: /system clock manual's offset), else the process's
// zone, as /system clock shows then.
func (e *Engine) clockZone() *time.Location { return e.ex.ClockZone(nil) }

// offsetsAt are the zone offsets at t, /system clock's zone being loc.
func offsetsAt(loc *time.Location, t time.Time) zoneOffsets {
	_, off := t.In(loc).Zone()
	return zoneOffsets{zone: off, day: kernelDayOffset()}
}

// zoneMoved reports whether the offsets at now differ from those the last pass compiled
// time= against, so the rules must be compiled again.
func (e *Engine) zoneMoved(now time.Time) bool {
	e.mu.Lock()
	loc, used := e.zoneLoc, e.zoneUsed
	e.mu.Unlock()
	return loc != nil && offsetsAt(loc, now) != used
}

// stamp is a moment as print shows it (creation-time): in /system clock's zone, as
// RouterOS shows its timestamps, not the process's (UTC on a machine without a zone).
func (e *Engine) stamp(t time.Time) string {
	e.mu.Lock()
	loc := e.zoneLoc
	e.mu.Unlock()
	if loc == nil {
		loc = e.clockZone() // before the first pass
	}
	return t.In(loc).Format("2006-01-02 15:04:05")
}
