package menu

import (
	"math"

	"github.com/routerd/routerd/control/value"
)

// ptpMenus declares the PTP (IEEE 1588-2008) instances, their ports and port status after
// 01-system-ptp.txt.
func ptpMenus() []*Menu {
	priority := value.Int(0, 255)
	signed := value.Int(math.MinInt64, math.MaxInt64)
	// monitor reads these; they are written by the PTP engine and hidden from print.
	monitored := func(name string, t value.Type, desc string) Prop {
		return Prop{Name: name, Type: t, ReadOnly: true, Hidden: true, Desc: desc}
	}

	return []*Menu{
		{
			Path: PTPPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Desc: "Name of the PTP profile."},
				{Name: "priority1", Type: priority, Auto: true, Default: "auto",
					Desc: "Takes part in the election of a grandmaster clock; lower wins. auto: the profile's value."},
				{Name: "priority2", Type: priority, Auto: true, Default: "auto",
					Desc: "Takes part in the election of a backup grandmaster clock; lower wins. auto: the profile's value."},
				{Name: "delay-mode", Type: value.Enum("e2e", "p2p"), Auto: true, Default: "auto",
					Desc: "auto: by profile; e2e: delay request-response; p2p: peer delay."},
				{Name: "transport", Type: value.Enum("ipv4", "l2-forwardable", "l2-non-forwardable"), Auto: true, Default: "auto",
					Desc: "auto: by profile; ipv4: 224.0.1.129 (peer delay 224.0.0.107); l2-forwardable: 01-1B-19-00-00-00; l2-non-forwardable: 01-80-C2-00-00-0E."},
				{Name: "profile", Type: value.Enum("802.1as", "aes67", "g8275.1", "smpte", "default"), Default: "default",
					Desc: "Profile whose values the auto settings take."},
				{Name: "domain", Type: value.Int(0, 255), Auto: true, Default: "auto",
					Desc: "Identifier separating PTP instances. auto: the profile's value."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the PTP profile."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the profile is disabled."},
				{Name: "inactive", Type: value.Bool(), ReadOnly: true, Hidden: true,
					Desc: "The profile does not run (no usable port, unsupported hardware)."},

				monitored("clock-id", value.String(), "Local clock identifier."),
				monitored("i-am-gm", value.Bool(), "Whether this clock is the grandmaster."),
				monitored("gm-clock-id", value.String(), "Identifier of the grandmaster clock."),
				monitored("gm-priority1", priority, "priority1 of the grandmaster as seen from the slave."),
				monitored("gm-priority2", priority, "priority2 of the grandmaster as seen from the slave."),
				monitored("master-clock-id", value.String(), "Identifier of the master clock on the path (grandmaster or boundary clock)."),
				monitored("slave-port", value.String(), "Port connected towards the master."),
				monitored("freq-drift", signed, "Frequency drift between master and slave clock, ppb."),
				monitored("offset", signed, "Time offset between master and slave clock, ns."),
				monitored("hw-offset", signed, "Offset from the hardware clock, ns."),
				monitored("slave-port-delay", signed, "Path delay on the slave port, ns."),
			},
			Flags:    []Flag{{'I', "inactive"}, FlagDisabled},
			Commands: []string{"monitor"},
			Desc:     "PTP profiles (ordinary and boundary clocks).",
		},
		{
			Path:       PTPPortPath,
			Kind:       List,
			StatusPage: true,
			Props: []Prop{
				{Name: "interface", Type: value.String(), Required: true, Unique: true,
					Desc: "Interface taking part in PTP."},
				{Name: "ptp", Type: value.String(), Ref: PTPPath, Required: true,
					Desc: "PTP profile the port belongs to."},
				{Name: "local-priority", Type: value.Int(1, 255), Default: "128",
					Desc: "G.8275.1 localPriority of the port: among otherwise equal masters, lower wins. Other profiles ignore it."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the port."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the port is disabled."},
			},
			Flags:   []Flag{FlagDisabled},
			Columns: []string{"interface", "ptp"},
			Desc:    "Ports assigned to PTP profiles.",
		},
		{
			Path:       PTPStatusPath,
			Kind:       Status,
			StatusPage: true,
			Props: []Prop{
				{Name: "ptp", Type: value.String(), ReadOnly: true, Desc: "PTP profile."},
				{Name: "interface", Type: value.String(), ReadOnly: true, Desc: "PTP port."},
				{Name: "state", Type: value.String(), ReadOnly: true,
					Desc: "Port state: initializing, faulty, disabled, listening, pre-master, master, passive, uncalibrated, slave."},
				{Name: "delay", Type: signed, ReadOnly: true, Desc: "Measured path delay on slave ports, ns."},
				{Name: "as-capable", Type: value.Bool(), ReadOnly: true,
					Desc: "802.1AS: whether the port is asCapable (its peer delay exchanges work and the delay is below neighborPropDelayThresh); only asCapable ports take part."},
				{Name: "neighbor-rate-ratio", Type: value.String(), ReadOnly: true,
					Desc: "802.1AS: the neighbor's clock frequency over this clock's, measured from successive Pdelay exchanges."},
				{Name: "steered-event", Type: value.Int(0, math.MaxInt64), ReadOnly: true,
					Desc: "Bridge ports: PTP event messages the TC program kept from the bridge."},
				{Name: "steered-general", Type: value.Int(0, math.MaxInt64), ReadOnly: true,
					Desc: "Bridge ports: PTP general messages the TC program kept from the bridge."},
			},
			Columns:  []string{"ptp", "interface", "state", "delay"},
			NoExport: true,
			Desc:     "PTP ports, their state, and the delay on slave ports.",
		},
	}
}
