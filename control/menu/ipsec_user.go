package menu

import "github.com/routerd/routerd/control/value"

// ipsecUserMenu is /ip ipsec user: the XAuth users an IKEv1 responder with
// auth-method=pre-shared-key-xauth checks (RouterOS 6 and 7 keep it beside identity).
func ipsecUserMenu() *Menu {
	return &Menu{
		Path: IPsecUserPath,
		Kind: List,
		Desc: "XAuth users (IKEv1 pre-shared-key-xauth responders).",
		Props: []Prop{
			{Name: "address", Type: value.IPv4(),
				Desc: "Address mode config gives this user instead of one from the pool."},
			{Name: "comment", Type: value.String(), Desc: "Short description of the user."},
			{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the user may log in."},
			{Name: "name", Type: value.String(), Unique: true, Desc: "XAuth user name."},
			{Name: "password", Type: value.String(), Sensitive: true, Desc: "XAuth password."},
		},
		Flags:   []Flag{FlagDisabled},
		Columns: []string{"name", "address"},
	}
}
