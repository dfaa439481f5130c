package value

import "testing"

func TestRate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"64000", "64k/64k"}, {"64k/128k", "64k/128k"}, {"10M/10M", "10M/10M"}, {"1500", "1500/1500"},
		{"0/0", "0/0"}, {"1G/2000k", "1G/2M"}, {"1000000000", "1G/1G"},
	} {
		got, err := RatePair().Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q: %q %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "10Q", "-1", "1/2/3", "k", "99999999999G"} {
		if got, err := RatePair().Parse(bad); err == nil {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
	up, down, err := ParseRatePair("4M/8M")
	if err != nil || up != 4e6 || down != 8e6 {
		t.Errorf("ParseRatePair: %d %d %v", up, down, err)
	}
}
