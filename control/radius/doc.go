// Package radius is the engine of /radius, RouterOS's RADIUS client menu: it decodes the
// servers into the client of package radius (routerd/radius), which it offers to the
// engines whose services ask RADIUS (IPsec's eap-radius identities and accounting), and
// shows each server's counters (print stats).
//
// Not covered: protocol=radsec (the item prints invalid), /radius incoming (CoA).
package radius
