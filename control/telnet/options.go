package telnet

// Telnet commands (RFC 854) and the options routerd negotiates.
const (
	cmdSE   = 240
	cmdNOP  = 241
	cmdIP   = 244 // interrupt process
	cmdSB   = 250
	cmdWILL = 251
	cmdWONT = 252
	cmdDO   = 253
	cmdDONT = 254
	cmdIAC  = 255

	optEcho = 1  // RFC 857
	optSGA  = 3  // RFC 858
	optNAWS = 31 // RFC 1073
)

// maxSub bounds a subnegotiation; the only one routerd reads (NAWS) is 4 bytes, 8 with
// every byte escaped.
const maxSub = 64

// Size is a window size the client reported (NAWS).
type Size struct{ Width, Height int }

// decoder states.
const (
	stData = iota
	stIAC
	stOpt // after WILL/WONT/DO/DONT: the option byte
	stSB
	stSBIAC
)

// Decoder separates the data of a telnet stream from its commands, answers option
// negotiation, and reports window sizes. It keeps the state of each option on both
// sides, so that it answers a request only when the state changes and two telnet
// implementations never loop (RFC 854's rule).
type Decoder struct {
	state int
	verb  byte // the WILL/WONT/DO/DONT waiting for its option
	sub   []byte
	subOK bool // the subnegotiation fits maxSub
	cr    bool // the last data byte was CR: drop a following LF or NUL

	us, him       [256]bool // option enabled on our side / on the client's
	usAsk, himAsk [256]bool // we asked (WILL / DO) and wait for the answer
}

// supportUs are options routerd performs; supportHim are options it lets the client
// perform.
func supportUs(opt byte) bool  { return opt == optEcho || opt == optSGA }
func supportHim(opt byte) bool { return opt == optNAWS || opt == optSGA }

// Start returns the negotiation the server opens with: it echoes and suppresses go-ahead
// (character mode) and asks for the window size.
func (d *Decoder) Start() []byte {
	d.usAsk[optEcho], d.usAsk[optSGA], d.himAsk[optNAWS], d.himAsk[optSGA] = true, true, true, true
	return []byte{
		cmdIAC, cmdWILL, optEcho,
		cmdIAC, cmdWILL, optSGA,
		cmdIAC, cmdDO, optSGA,
		cmdIAC, cmdDO, optNAWS,
	}
}

// Decode consumes bytes from the client. It returns the data bytes (IAC IAC unescaped,
// CR LF and CR NUL as CR, an interrupt-process command as Ctrl-C), the bytes to send
// back, and any window sizes reported.
func (d *Decoder) Decode(in []byte) (data, reply []byte, sizes []Size) {
	for i := 0; i < len(in); i++ {
		b := in[i]
		switch d.state {
		case stData:
			switch {
			case b == cmdIAC:
				d.state = stIAC
			case d.cr && (b == '\n' || b == 0):
				d.cr = false
			default:
				d.cr = b == '\r'
				data = append(data, b)
			}
		case stIAC:
			d.state = stData
			switch b {
			case cmdIAC:
				d.cr = false
				data = append(data, cmdIAC)
			case cmdWILL, cmdWONT, cmdDO, cmdDONT:
				d.verb, d.state = b, stOpt
			case cmdSB:
				d.sub, d.subOK, d.state = d.sub[:0], true, stSB
			case cmdIP:
				data = append(data, 0x03)
			}
			// NOP, DM, BRK, AO, AYT, EC, EL, GA and stray SE carry nothing routerd uses.
		case stOpt:
			d.state = stData
			reply = d.negotiate(d.verb, b, reply)
		case stSB:
			if b == cmdIAC {
				d.state = stSBIAC
				continue
			}
			d.subByte(b)
		case stSBIAC:
			switch b {
			case cmdSE:
				d.state = stData
				if s, ok := d.subEnd(); ok {
					sizes = append(sizes, s)
				}
			case cmdIAC:
				d.state = stSB
				d.subByte(cmdIAC)
			default:
				// A command inside a subnegotiation ends it (a broken client): drop it
				// and read the command.
				d.state = stIAC
				i--
			}
		}
	}
	return data, reply, sizes
}

func (d *Decoder) subByte(b byte) {
	if len(d.sub) >= maxSub {
		d.subOK = false
		return
	}
	d.sub = append(d.sub, b)
}

// subEnd reads a finished subnegotiation: only NAWS (option, width, height as 16-bit
// big-endian numbers).
func (d *Decoder) subEnd() (Size, bool) {
	if !d.subOK || len(d.sub) != 5 || d.sub[0] != optNAWS || !d.him[optNAWS] {
		return Size{}, false
	}
	w := int(d.sub[1])<<8 | int(d.sub[2])
	h := int(d.sub[3])<<8 | int(d.sub[4])
	if w == 0 {
		return Size{}, false
	}
	return Size{w, h}, true
}

// negotiate answers one WILL/WONT/DO/DONT.
func (d *Decoder) negotiate(verb, opt byte, reply []byte) []byte {
	send := func(v byte) { reply = append(reply, cmdIAC, v, opt) }
	switch verb {
	case cmdDO:
		switch {
		case d.usAsk[opt]:
			d.usAsk[opt], d.us[opt] = false, true
		case d.us[opt]:
		case supportUs(opt):
			d.us[opt] = true
			send(cmdWILL)
		default:
			send(cmdWONT)
		}
	case cmdDONT:
		if d.us[opt] || d.usAsk[opt] {
			wasOn := d.us[opt]
			d.us[opt], d.usAsk[opt] = false, false
			if wasOn {
				send(cmdWONT)
			}
		}
	case cmdWILL:
		switch {
		case d.himAsk[opt]:
			d.himAsk[opt], d.him[opt] = false, true
		case d.him[opt]:
		case supportHim(opt):
			d.him[opt] = true
			send(cmdDO)
		default:
			send(cmdDONT)
		}
	case cmdWONT:
		if d.him[opt] || d.himAsk[opt] {
			wasOn := d.him[opt]
			d.him[opt], d.himAsk[opt] = false, false
			if wasOn {
				send(cmdDONT)
			}
		}
	}
	return reply
}

// Escape doubles IAC bytes in data sent to the client.
func Escape(p []byte) []byte {
	n := 0
	for _, b := range p {
		if b == cmdIAC {
			n++
		}
	}
	if n == 0 {
		return p
	}
	out := make([]byte, 0, len(p)+n)
	for _, b := range p {
		out = append(out, b)
		if b == cmdIAC {
			out = append(out, cmdIAC)
		}
	}
	return out
}
