package ike

// Accounting of an EAP-authenticated IKE SA's traffic: the bytes and packets of each
// CHILD_SA are added up when it leaves the IKE SA (deleted, or retired after a rekey),
// read from the data path, so that the accounting Stop carries Acct-Input/Output-Octets
// and -Packets (input: from the peer), and Interim-Updates the running total (EAPTraffic).

// Traffic is one direction's count.
type Traffic struct{ Bytes, Packets uint64 }

// ChildCounters is what a Datapath may offer besides: a CHILD_SA's traffic so far.
type ChildCounters interface {
	ChildCounters(c *ChildSA) (in, out Traffic)
}

// countChild adds c's traffic to the IKE SA's accounting (d.mu held).
func (sa *IKESA) countChild(c *ChildSA) {
	st := sa.eap
	if st == nil || st.sessionID == "" {
		return
	}
	cc, ok := sa.d.dp.(ChildCounters)
	if !ok {
		return
	}
	in, out := cc.ChildCounters(c)
	st.in.Bytes += in.Bytes
	st.in.Packets += in.Packets
	st.out.Bytes += out.Bytes
	st.out.Packets += out.Packets
}

// EAPTraffic is the traffic so far of the accounted IKE SA whose Acct-Session-Id is id:
// its CHILD_SAs gone plus the live ones, for Interim-Update. ok is false when no IKE SA
// has that session.
func (d *Daemon) EAPTraffic(id string) (in, out Traffic, ok bool) {
	if id == "" {
		return in, out, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, sa := range d.sas {
		st := sa.eap
		if st == nil || st.sessionID != id {
			continue
		}
		in, out = st.in, st.out
		if cc, ok := d.dp.(ChildCounters); ok {
			for _, c := range sa.children {
				i, o := cc.ChildCounters(c)
				in.Bytes, in.Packets = in.Bytes+i.Bytes, in.Packets+i.Packets
				out.Bytes, out.Packets = out.Bytes+o.Bytes, out.Packets+o.Packets
			}
		}
		return in, out, true
	}
	return in, out, false
}
