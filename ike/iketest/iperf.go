package iketest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Iperf is the outcome of one iperf3 TCP run: the bytes of each one-second interval.
type Iperf struct {
	Intervals []uint64
	Bytes     uint64
	// Retransmits are the sender's TCP retransmissions.
	Retransmits uint64
	Output      string
}

// LongestStall is the longest run of intervals that carried no byte.
func (r Iperf) LongestStall() int {
	longest, cur := 0, 0
	for _, b := range r.Intervals {
		if b == 0 {
			cur++
			longest = max(longest, cur)
		} else {
			cur = 0
		}
	}
	return longest
}

// IperfTCP runs an iperf3 server in nsServer on addr and a TCP client in nsClient bound
// to from, for secs seconds, and returns the per-second bytes. An error means the
// connection broke (iperf3 failed) or the output was not iperf3's.
func IperfTCP(t testing.TB, nsServer, addr, nsClient, from string, secs int) (Iperf, error) {
	t.Helper()
	NeedRoot(t, "iperf3")
	srv := In(nsServer, "iperf3", "-s", "-1", "-B", addr)
	if err := srv.Start(); err != nil {
		return Iperf{}, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	var out []byte
	var err error
	// The server needs a moment to listen; a refused connect is retried, nothing else.
	for i := 0; i < 20; i++ {
		out, err = In(nsClient, "iperf3", "-c", addr, "-B", from, "-t", fmt.Sprint(secs), "-i", "1", "-J",
			"--connect-timeout", "3000").Output()
		// iperf3 -J may exit 0 with the error in its JSON.
		if !refused(out) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var j struct {
		Intervals []struct {
			Sum struct {
				Bytes uint64 `json:"bytes"`
			} `json:"sum"`
		} `json:"intervals"`
		End struct {
			SumReceived struct {
				Bytes uint64 `json:"bytes"`
			} `json:"sum_received"`
			SumSent struct {
				Retransmits uint64 `json:"retransmits"`
			} `json:"sum_sent"`
		} `json:"end"`
		Error string `json:"error"`
	}
	r := Iperf{Output: string(out)}
	if jerr := json.Unmarshal(out, &j); jerr != nil {
		return r, fmt.Errorf("iperf3: %v (%v)", err, jerr)
	}
	for _, iv := range j.Intervals {
		r.Intervals = append(r.Intervals, iv.Sum.Bytes)
	}
	r.Bytes = j.End.SumReceived.Bytes
	r.Retransmits = j.End.SumSent.Retransmits
	if err != nil || j.Error != "" {
		return r, fmt.Errorf("iperf3: %v %s", err, j.Error)
	}
	return r, nil
}

func refused(out []byte) bool {
	var j struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(out, &j) == nil && strings.Contains(j.Error, "refused")
}

// IperfUDPResult is the outcome of one iperf3 UDP run, as the receiver counted it.
type IperfUDPResult struct {
	// Sent and Lost are datagrams; Bytes is what the receiver got.
	Sent, Lost, Bytes uint64
	Output            string
}

// LossPercent is the share of the datagrams sent that the receiver did not get.
func (r IperfUDPResult) LossPercent() float64 {
	if r.Sent == 0 {
		return 100
	}
	return 100 * float64(r.Lost) / float64(r.Sent)
}

// IperfUDP runs an iperf3 server in nsServer on addr and a UDP client in nsClient bound
// to from, sending datagrams of length bytes at rate (iperf3's -b, e.g. "300M") for secs
// seconds, and returns what the receiver counted.
func IperfUDP(t testing.TB, nsServer, addr, nsClient, from, rate string, length, secs int) (IperfUDPResult, error) {
	t.Helper()
	NeedRoot(t, "iperf3")
	var out []byte
	var err error
	for i := 0; i < 20; i++ {
		// A server of its own for each try: a failed test ends a -1 server too.
		srv := In(nsServer, "iperf3", "-s", "-1", "-B", addr)
		if err := srv.Start(); err != nil {
			return IperfUDPResult{}, err
		}
		time.Sleep(100 * time.Millisecond) // the server needs a moment to listen
		out, err = In(nsClient, "iperf3", "-c", addr, "-B", from, "-u", "-b", rate, "-l", fmt.Sprint(length),
			"-t", fmt.Sprint(secs), "-J", "--connect-timeout", "3000").Output()
		srv.Process.Kill()
		srv.Wait()
		// A datagram above the path's MTU with DF (Linux UDP sets it while the path MTU
		// is not exceeded) gets ICMP "fragmentation needed" back, which a connected
		// UDP socket reports as EMSGSIZE once and iperf3 gives up on; the next run
		// fragments at the new path MTU.
		if !refused(out) && !strings.Contains(string(out), "Message too long") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var j struct {
		End struct {
			SumReceived struct {
				Bytes       uint64 `json:"bytes"`
				Packets     uint64 `json:"packets"`
				LostPackets uint64 `json:"lost_packets"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	r := IperfUDPResult{Output: string(out)}
	if jerr := json.Unmarshal(out, &j); jerr != nil {
		return r, fmt.Errorf("iperf3: %v (%v)", err, jerr)
	}
	s := j.End.SumReceived
	r.Sent, r.Lost, r.Bytes = s.Packets, s.LostPackets, s.Bytes
	if err != nil || j.Error != "" {
		return r, fmt.Errorf("iperf3: %v %s", err, j.Error)
	}
	return r, nil
}
