package value

import (
	"fmt"
	"strconv"
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
