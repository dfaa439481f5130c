package link

import (
	"slices"
	"testing"
)

func TestParseVids(t *testing.T) {
	got, err := parseVids("10,20-22")
	if err != nil || !slices.Equal(got, []uint16{10, 20, 21, 22}) {
		t.Errorf("%v %v", got, err)
	}
	for _, bad := range []string{"0", "4095", "5-3", "x", "1-", ""} {
		if v, err := parseVids(bad); err == nil && bad != "" {
			t.Errorf("%q accepted: %v", bad, v)
		}
	}
}
