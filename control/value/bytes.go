package value

import (
	"fmt"
	"strconv"
	"strings"
)

// FormatBytes renders a size in bytes as RouterOS's console prints memory and disk space
// (the API, REST and scripts get the plain number): one decimal in the
// largest binary unit the value exceeds ("21.5GiB", "1024.0MiB" for exactly 1 GiB).
func FormatBytes(n uint64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	if n <= 1024 {
		return strconv.FormatUint(n, 10) + "B"
	}
	v := float64(n) / 1024
	u := 0
	for v > 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return fmt.Sprintf("%.1f%s", v, units[u])
}

// FormatCount writes a counter as RouterOS's console prints packets and bytes: digits in
// groups of three separated by spaces ("6 213 070 707").
func FormatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ' ')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// FormatHex writes an integer as RouterOS prints and exports priorities: 0x and upper
// case hex digits ("0x8000", "0x80").
func FormatHex(n uint64) string { return "0x" + strings.ToUpper(strconv.FormatUint(n, 16)) }

// FormatBitRate writes bits per second as RouterOS's console prints rates: "0bps",
// "312bps", "155.3kbps", "5.1Mbps", "1.2Gbps" (powers of 1000, one decimal).
func FormatBitRate(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10) + "bps"
	}
	v, units := float64(n)/1000, []string{"kbps", "Mbps", "Gbps", "Tbps"}
	u := 0
	for v >= 1000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	return fmt.Sprintf("%.1f%s", v, units[u])
}
