// Package radius is routerd's RADIUS: the client the router's services ask (/radius) and
// the server User Manager answers with.
//
// The packet codec, the attribute dictionaries (RFC 2865, 2866, 2869, Microsoft's vendor
// attributes of RFC 2548) and the MS-CHAPv2 primitives (RFC 2759, 3079) are
// layeh.com/radius's. Written here, because that library has none of it:
//   - Message-Authenticator (RFC 3579 3.2): added to every Access-Request and
//     Accounting-Request, checked on every reply and request that carries one, required on
//     any packet with an EAP-Message and, with require-message-auth=yes (RouterOS 7.15's
//     default, against BlastRADIUS), on every Access-Accept, -Reject and -Challenge;
//   - EAP-Message fragmentation over 253-byte attributes and their reassembly (RFC 3579 3.1);
//   - MS-MPPE-Send/Recv-Key encryption and decryption (RFC 2548 2.4.2, 2.4.3) and the EAP
//     MSK made from them;
//   - a client that tries each server in order, resending after its timeout (three tries
//     per server), refusing and counting replies whose Response Authenticator or
//     Message-Authenticator does not verify, and that sends accounting (RFC 2866);
//   - the server side's CHAP check (RFC 2865 5.3, RFC 1994) against the password, used by
//     User Manager (which checks PAP, MS-CHAP, MS-CHAPv2 and the EAP methods against the
//     NT hash through packages eap and rfc2759);
//   - dropped datagrams (unknown client, malformed, wrong authenticator, refused replies)
//     are all counted but logged at most once a minute per source, 20 lines a minute in
//     all (droplog.go): whoever reaches UDP 1812/1813 cannot flush /log.
//
// Not covered: RadSec (RFC 6614), CoA and Disconnect (RFC 5176).
package radius
