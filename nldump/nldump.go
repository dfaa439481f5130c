// Package nldump repeats netlink dumps that the kernel interrupted.
//
// A dump of links, addresses, routes or neighbours that races a change sets
// NLM_F_DUMP_INTR on its last message, and vishvananda/netlink returns what it read with
// ErrDumpInterrupted: "dump again". It is no error of the objects an engine manages, so
// an engine's pass must not fail (and mark healthy items invalid) for it while another
// engine or an import is busy creating links. Retry dumps again, waiting a little longer
// each time so that a dump of thousands of objects finds a quiet moment while an import
// adds one after another; only a dump that keeps racing for all of them is an error.
package nldump

import (
	"errors"
	"time"

	"github.com/vishvananda/netlink"
)

// Attempts is how many times Retry dumps before it gives up; the waits between them add
// up to about a quarter of a second.
const Attempts = 10

// maxWait bounds the wait before one attempt.
const maxWait = 50 * time.Millisecond

// Retry runs dump until it is not interrupted, at most Attempts times, and returns the
// last result.
func Retry[T any](dump func() (T, error)) (T, error) {
	var v T
	var err error
	wait := time.Millisecond
	for i := range Attempts {
		if i > 0 {
			time.Sleep(wait)
			wait = min(2*wait, maxWait)
		}
		if v, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}
