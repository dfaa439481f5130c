package value

import (
	"strconv"
	"strings"
)

// Rate is a bit rate as RouterOS writes it: a number with an optional k, M or G suffix
// (powers of 1000), canonicalised to the shortest exact suffix form ("64k", "10M", "0").
func Rate() Type { return rateType{} }

// RatePair is upload/download, each a Rate; one rate alone sets both ("64000" is
// "64k/64k"), as RouterOS reads limit-at=64000.
func RatePair() Type { return ratePairType{} }

// ParseRate reads a canonical or typed rate into bits per second.
func ParseRate(s string) (uint64, error) {
	if s == "" {
		return 0, ErrInvalid
	}
	// RouterOS 7 writes some rates with their unit (cake-bandwidth=0bps, 10Mbps).
	if t, ok := strings.CutSuffix(s, "bps"); ok && t != "" {
		s = t
	}
	mul := uint64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mul, s = 1000, s[:len(s)-1]
	case 'M':
		mul, s = 1000_000, s[:len(s)-1]
	case 'G':
		mul, s = 1000_000_000, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > 1<<40/mul {
		return 0, ErrInvalid
	}
	return n * mul, nil
}

// FormatRate writes bits per second in the shortest exact form.
func FormatRate(n uint64) string {
	switch {
	case n == 0:
		return "0"
	case n%1000_000_000 == 0:
		return strconv.FormatUint(n/1000_000_000, 10) + "G"
	case n%1000_000 == 0:
		return strconv.FormatUint(n/1000_000, 10) + "M"
	case n%1000 == 0:
		return strconv.FormatUint(n/1000, 10) + "k"
	}
	return strconv.FormatUint(n, 10)
}

type rateType struct{}

func (rateType) Name() string { return "rate" }
func (rateType) Parse(s string) (string, error) {
	n, err := ParseRate(s)
	if err != nil {
		return "", err
	}
	return FormatRate(n), nil
}

type ratePairType struct{}

func (ratePairType) Name() string { return "rate/rate" }
func (ratePairType) Parse(s string) (string, error) {
	up, down, ok := strings.Cut(s, "/")
	if !ok {
		down = up
	}
	a, err := rateType{}.Parse(up)
	if err != nil {
		return "", err
	}
	b, err := rateType{}.Parse(down)
	if err != nil {
		return "", err
	}
	return a + "/" + b, nil
}

// ParseRatePair reads a canonical RatePair into upload and download bits per second.
func ParseRatePair(s string) (up, down uint64, err error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		b = a
	}
	if up, err = ParseRate(a); err != nil {
		return 0, 0, err
	}
	down, err = ParseRate(b)
	return up, down, err
}
