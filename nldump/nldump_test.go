package nldump

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestRetry(t *testing.T) {
	calls := 0
	interruptedTwice := func() ([]int, error) {
		calls++
		if calls <= 2 {
			return []int{calls}, fmt.Errorf("link dump: %w", netlink.ErrDumpInterrupted)
		}
		return []int{1, 2, 3}, nil
	}
	if v, err := Retry(interruptedTwice); err != nil || len(v) != 3 || calls != 3 {
		t.Errorf("got %v, %v after %d calls", v, err, calls)
	}

	calls = 0
	always := func() (int, error) { calls++; return calls, netlink.ErrDumpInterrupted }
	if v, err := Retry(always); !errors.Is(err, netlink.ErrDumpInterrupted) || v != Attempts || calls != Attempts {
		t.Errorf("a dump that keeps racing: got %v, %v after %d calls", v, err, calls)
	}

	calls = 0
	other := errors.New("permission denied")
	if _, err := Retry(func() (int, error) { calls++; return 0, other }); err != other || calls != 1 {
		t.Errorf("another error is not retried: %v after %d calls", err, calls)
	}
}
