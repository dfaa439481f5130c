package menu

import (
	"math"

	"github.com/routerd/routerd/control/value"
)

// tftpMenus declares the TFTP server's access rules and settings after 04-ip-tftp.txt.
// With no rules the server is not started.
func tftpMenus() []*Menu {
	return []*Menu{
		{
			Path: TFTPPath,
			Kind: List,
			Props: []Prop{
				// The manual writes "ip-address (required)" yet also "if empty 0.0.0.0/0 will
				// be used" and adds rules without it; RouterOS calls the property ip-addresses.
				{Name: "ip-addresses", Type: value.AddrList(),
					Desc: "Client addresses the rule accepts; empty means 0.0.0.0/0."},
				{Name: "req-filename", Type: value.String(),
					Desc: "Requested file name as a regular expression; empty means .*"},
				{Name: "real-filename", Type: value.String(),
					Desc: "File served instead of the requested one; trailing \\0..\\9 name groups of req-filename that must match (filename\\0\\5\\6)."},
				{Name: "allow", Type: value.Bool(), Default: "yes",
					Desc: "Allow the transfer when the rule matches; no interrupts the connection."},
				{Name: "read-only", Type: value.Bool(), Default: "no",
					Desc: "Refuse writes with an error."},
				{Name: "allow-rollover", Type: value.Bool(), Default: "no",
					Desc: "Let the block number roll over at its maximum, for large downloads."},
				{Name: "hits", Type: value.Int(0, math.MaxInt64), ReadOnly: true,
					Desc: "How many times the rule has been used."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the rule."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the rule is disabled."},
				{Name: "invalid", Type: value.Bool(), ReadOnly: true, Hidden: true,
					Desc: "The rule cannot apply (e.g. req-filename is not a valid regular expression)."},
			},
			Flags: []Flag{FlagDisabled, FlagInvalid},
			// The first matching rule decides.
			Ordered: true,
			Columns: []string{"ip-addresses", "req-filename", "real-filename", "allow", "read-only", "hits"},
			Desc:    "TFTP server access rules.",
		},
		{
			Path: TFTPSettingsPath,
			Kind: Single,
			Props: []Prop{
				// RFC 2348 bounds blksize to 8..65464; RouterOS' own bounds are not documented.
				{Name: "max-block-size", Type: value.Int(8, 65464), Default: "4096",
					Desc: "Largest block size the server negotiates."},
			},
			Desc: "TFTP server settings.",
		},
	}
}
