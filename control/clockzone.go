package control

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// ManualZone is RouterOS's time-zone-name=manual: the zone /system clock shows and
// counts in when no tz database zone is named. It is /system clock manual's time-zone
// offset, plus dst-delta from dst-start (local standard time) to dst-end (local daylight
// time) when dst-start is before dst-end (RouterOS's defaults, both 1970-01-01 00:00:00,
// mean no daylight saving time). Only routerd's view of local time changes: the
// machine's clock is left alone, as for a named zone.
const ManualZone = "manual"

// ZoneLocation returns the zone time-zone-name names: a tz database zone, or
// ManualZone built from manual (the /system clock manual item's properties; a missing
// one has its default).
func ZoneLocation(name string, manual map[string]string) (*time.Location, error) {
	if name != ManualZone {
		if name == "" || name == "Local" {
			return nil, fmt.Errorf("no zone named %q", name)
		}
		return time.LoadLocation(name)
	}
	get := func(prop, def string) string {
		if v, ok := manual[prop]; ok && v != "" {
			return v
		}
		return def
	}
	off, err := value.ParseOffset(get("time-zone", "+00:00"))
	if err != nil {
		return nil, fmt.Errorf("time-zone: %w", err)
	}
	delta, err := value.ParseOffset(get("dst-delta", "+00:00"))
	if err != nil {
		return nil, fmt.Errorf("dst-delta: %w", err)
	}
	const layout = "2006-01-02 15:04:05"
	start, err := time.Parse(layout, get("dst-start", "1970-01-01 00:00:00"))
	if err != nil {
		return nil, fmt.Errorf("dst-start: %w", err)
	}
	end, err := time.Parse(layout, get("dst-end", "1970-01-01 00:00:00"))
	if err != nil {
		return nil, fmt.Errorf("dst-end: %w", err)
	}
	std := time.FixedZone(value.FormatOffset(off), off)
	if delta == 0 || !start.Before(end) {
		return std, nil
	}
	// Local wall times to UTC: dst-start is read in standard time, dst-end in
	// daylight time.
	from := start.Unix() - int64(off)
	to := end.Unix() - int64(off+delta)
	if from >= to {
		return std, nil
	}
	return time.LoadLocationFromTZData(ManualZone, tzif(off, off+delta, from, to))
}

// tzif is a TZif (RFC 8536) version 2 zone of standard offset std with one daylight
// saving window [from, to) at offset dst: Go builds a zone with transitions only from
// such data.
func tzif(std, dst int, from, to int64) []byte {
	abbr := []byte(value.FormatOffset(std) + "\x00" + value.FormatOffset(dst) + "\x00")
	header := func(b []byte, timecnt, typecnt, charcnt uint32) []byte {
		b = append(b, "TZif2"...)
		b = append(b, make([]byte, 15)...)
		for _, n := range []uint32{0, 0, 0, timecnt, typecnt, charcnt} { // isut, isstd, leap, time, type, char
			b = binary.BigEndian.AppendUint32(b, n)
		}
		return b
	}
	ttinfo := func(b []byte, off int, isDST bool, idx byte) []byte {
		b = binary.BigEndian.AppendUint32(b, uint32(int32(off)))
		d := byte(0)
		if isDST {
			d = 1
		}
		return append(b, d, idx)
	}
	// The version 1 block holds one type and no transitions; readers of version 2 skip it.
	b := header(nil, 0, 1, 1)
	b = ttinfo(b, std, false, 0)
	b = append(b, 0)
	b = header(b, 2, 2, uint32(len(abbr)))
	b = binary.BigEndian.AppendUint64(b, uint64(from))
	b = binary.BigEndian.AppendUint64(b, uint64(to))
	b = append(b, 1, 0) // into daylight time, back to standard time
	b = ttinfo(b, std, false, 0)
	b = ttinfo(b, dst, true, byte(len(value.FormatOffset(std))+1))
	b = append(b, abbr...)
	return append(b, "\n\n"...) // no rule for times after the last transition
}

// ClockZone returns the zone /system clock shows: the one its time-zone-name names
// (ManualZone: /system clock manual's), else the process's (time.Local).
func (x *Executor) ClockZone(sess *Session) *time.Location {
	name := ""
	var manual map[string]string
	_ = x.View(sess, func(tx *store.Tx) error {
		if it, err := tx.Get(menu.ClockPath, singleID); err == nil {
			name = it.Props["time-zone-name"]
		}
		if it, err := tx.Get(menu.ClockManualPath, singleID); err == nil {
			manual = it.Props
		}
		return nil
	})
	if name == "" {
		return time.Local
	}
	loc, err := ZoneLocation(name, manual)
	if err != nil {
		return time.Local
	}
	return loc
}
