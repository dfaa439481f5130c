package menu

import (
	"math"

	"github.com/routerd/routerd/control/value"
)

// adminMenus declares the menus an operator reaches for every day besides configuration:
// /file, /system clock, package, routerboard, history and note, /user active and
// /ip arp, after the RouterOS manual pages of those menus.
func adminMenus() []*Menu {
	ro := func(name, desc string) Prop {
		return Prop{Name: name, Type: value.String(), ReadOnly: true, Desc: desc}
	}
	size := value.Int(0, math.MaxInt64)
	return []*Menu{
		{
			Path: FilePath,
			Kind: Status,
			Props: []Prop{
				ro("name", "File name, relative to the router's file store (DATA_DIR/files)."),
				ro("type", "Kind of file: directory, backup, script, package, or .ext file."),
				{Name: "size", Type: size, ReadOnly: true, Bytes: true, Desc: "Size in bytes."},
				ro("creation-time", "Date and time the file was created."),
				ro("last-modified", "Date and time the file was last written."),
				{Name: "contents", Type: value.String(), ReadOnly: true,
					Desc: "Text of a small text file (up to 4 KiB); set writes it."},
			},
			Columns:  []string{"name", "type", "size", "creation-time"},
			Commands: []string{"remove", "set", "add"},
			NoExport: true,
			Desc:     "Files in the router's file store: exports, backups, uploads by ftp and tftp.",
		},
		{
			Path: ClockPath,
			Kind: Single,
			Props: []Prop{
				{Name: "time", Type: value.TimeOfDay(), ReadOnly: true, Desc: "Local time of day (set needs routerd --allow-clock-set)."},
				{Name: "date", Type: value.Date(), ReadOnly: true, Desc: "Local date (set needs routerd --allow-clock-set)."},
				{Name: "time-zone-autodetect", Type: value.Bool(), Desc: "Remembered and exported only: routerd takes no zone from the network."},
				{Name: "time-zone-name", Type: value.String(), Desc: "Zone routerd shows time in: a tz database name, or manual (/system clock manual's offset and daylight saving window); default the process's TZ, /etc/localtime. Set needs no flag, it does not change the machine's clock. Exported once set."},
				ro("gmt-offset", "Offset of local time from UTC."),
				{Name: "dst-active", Type: value.Bool(), ReadOnly: true, Desc: "Whether daylight saving time is in effect."},
			},
			Desc: "System date and time.",
		},
		{
			Path: ClockManualPath,
			Kind: Single,
			Props: []Prop{
				{Name: "time-zone", Type: value.Offset(), Default: "+00:00",
					Desc: "Offset of local standard time from UTC (time-zone-name=manual)."},
				{Name: "dst-delta", Type: value.Offset(), Default: "+00:00",
					Desc: "Added to time-zone while daylight saving time is in effect."},
				{Name: "dst-start", Type: value.DateTime(), Default: "1970-01-01 00:00:00",
					Desc: "Local standard time daylight saving time starts; none when it is not before dst-end."},
				{Name: "dst-end", Type: value.DateTime(), Default: "1970-01-01 00:00:00",
					Desc: "Local daylight time daylight saving time ends."},
			},
			Desc: "The zone /system clock shows time in when its time-zone-name is manual: a fixed offset from UTC and one daylight saving window. It does not change the machine's clock.",
		},
		{
			Path: PackagePath,
			Kind: Status,
			Props: []Prop{
				ro("name", "Package name."),
				ro("version", "Package version."),
				ro("build-time", "Date and time the package was built."),
				{Name: "size", Type: size, ReadOnly: true, Bytes: true, Desc: "Size of the package, bytes."},
				{Name: "disabled", Type: value.Bool(), ReadOnly: true, Desc: "Whether the package is disabled."},
				{Name: "scheduled", Type: value.String(), ReadOnly: true, Desc: "Action scheduled for the next reboot."},
			},
			Columns:  []string{"name", "version", "build-time", "size"},
			NoExport: true,
			Desc:     "Installed software packages.",
		},
		{
			Path: RouterboardPath,
			Kind: Single,
			Props: []Prop{
				{Name: "routerboard", Type: value.Bool(), ReadOnly: true, Desc: "Whether the hardware is a RouterBOARD (no on CHR and routerd)."},
				ro("model", "Hardware model (RouterBOARDs only)."),
				ro("serial-number", "Serial number (RouterBOARDs only)."),
				ro("firmware-type", "Boot firmware type (RouterBOARDs only)."),
				ro("current-firmware", "Running boot firmware version (RouterBOARDs only)."),
				ro("upgrade-firmware", "Boot firmware version available (RouterBOARDs only)."),
			},
			NoExport: true,
			Desc:     "RouterBOARD hardware information.",
		},
		{
			Path: NotePath,
			Kind: Single,
			Props: []Prop{
				{Name: "note", Type: value.String(), Desc: "Text shown to users when they log in."},
				{Name: "show-at-login", Type: value.Bool(), Default: "yes", Desc: "Show the note on login."},
				{Name: "show-at-cli-login", Type: value.Bool(), Default: "no", Desc: "Show the note before the login prompt of the console."},
			},
			Desc: "A note shown at login.",
		},
		{
			Path: HistoryPath,
			Kind: Status,
			Props: []Prop{
				ro("action", "What the change did."),
				ro("by", "User who made it."),
				ro("policy", "Policy the change needed."),
				ro("time", "When it was made."),
				{Name: "undoable", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "undo reverts it."},
				{Name: "redoable", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "redo makes it again."},
			},
			Flags:    []Flag{{'U', "undoable"}, {'R', "redoable"}},
			Columns:  []string{"action", "by", "policy", "time"},
			NoExport: true,
			Desc:     "Recent configuration changes; /undo reverts the last, /redo makes it again.",
		},
		{
			Path: UserActivePath,
			Kind: Status,
			Props: []Prop{
				ro("when", "Date and time of the login."),
				ro("name", "User name."),
				ro("address", "Address the user came from."),
				ro("via", "Service: console, ssh, telnet, api, api-ssl, ftp, www, www-ssl."),
				ro("group", "User's group."),
			},
			Columns:  []string{"when", "name", "address", "via", "group"},
			NoExport: true,
			Desc:     "Users logged in now.",
		},
		{
			// routerd runs no neighbour discovery protocol (MNDP, CDP, LLDP), so the
			// table is empty; it exists so that tools listing it (Ansible's interfaces
			// facts) get an empty list rather than an error.
			Path: NeighborPath,
			Kind: Status,
			Props: []Prop{
				ro("interface", "Interface the neighbour was seen on."),
				ro("address", "Address the neighbour announced."),
				ro("mac-address", "MAC address of the neighbour."),
				ro("identity", "Identity the neighbour announced."),
				ro("platform", "Platform the neighbour announced."),
				ro("version", "Software version the neighbour announced."),
			},
			Columns:  []string{"interface", "address", "mac-address", "identity"},
			NoExport: true,
			Desc:     "Neighbours found by discovery protocols (none: routerd runs no discovery).",
		},
		{
			Path: ARPPath,
			Kind: List,
			Props: []Prop{
				{Name: "address", Type: value.IPv4(), Required: true, Desc: "IPv4 address of the neighbour."},
				{Name: "mac-address", Type: value.MAC(), Desc: "MAC address of the neighbour."},
				{Name: "interface", Type: value.String(), Required: true, Desc: "Interface the neighbour is on."},
				{Name: "published", Type: value.Bool(), Default: "no", Desc: "Answer ARP requests for this address (proxy ARP)."},
				ro("status", "Neighbour state: reachable, stale, delay, probe, failed, incomplete, permanent."),
				{Name: "comment", Type: value.String(), Desc: "Short description of the entry."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the entry is disabled."},
				{Name: "dynamic", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "Learned by the kernel, not configured."},
				{Name: "complete", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "The MAC address is known."},
			},
			Flags:   []Flag{FlagDisabled, FlagInvalid, {'D', "dynamic"}, {'P', "published"}, {'C', "complete"}},
			Columns: []string{"address", "mac-address", "interface", "status"},
			Desc:    "ARP table: the kernel's IPv4 neighbours and static entries.",
		},
	}
}
