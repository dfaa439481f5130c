// Package ike will hold routerd's IKEv1/IKEv2 daemon: message codec, crypto suites, SA
// state machines, NAT-T, DPD, and SA installation into kernel XFRM or the userspace ESP
// path for kernels without ESP. The /ip ipsec menus are declared (control/menu/ipsec.go)
// and their configuration is stored, exported and imported; until this engine lands they
// print "not applied: no engine for this menu yet".
package ike
