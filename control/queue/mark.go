package queue

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/routerd/routerd/control/firewall"
)

// markOf is the number the firewall's mangle gives a packet-mark name (its low bits of
// the packet mark, under firewall.PacketMarkMask): the firewall allocates the numbers
// (firewall.Marks, offered on the engine host; a name no rule names yet is allocated
// here, and a rule naming it later gets the same); without a firewall, the name's hash.
func (k netlinkKernel) markOf(name string) uint32 { return markNumber(k.marks, name) }

// markNumber is markOf with the table given (nil: none on the host).
func markNumber(marks *firewall.Marks, name string) uint32 {
	if marks != nil {
		return marks.Packet(name)
	}
	return firewall.NameMark(name, firewall.PacketMarkBits)
}

// Offsets in struct __sk_buff.
const (
	skbMark     = 8
	skbProtocol = 16
)

// markProgram builds the cls_bpf classifier of a queue with packet-marks: the packet's
// mark must be one of marks (numbers, markOf) and, when rules are given, its IPv4 addresses must match one
// of them (as the u32 filters of other queues do). It returns -1 (the filter's classid)
// on a match and 0 otherwise. The kernel has no cls_fw and no u32 mark match, so the
// mark is read by a few eBPF instructions.
func markProgram(marks []uint32, rules []match) (*ebpf.Program, error) {
	var ins asm.Instructions
	ins = append(ins,
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, skbMark, asm.Word),
	)
	ins = append(ins, asm.And.Imm32(asm.R7, int32(firewall.PacketMarkMask)))
	for _, v := range marks {
		ins = append(ins, asm.JEq.Imm32(asm.R7, int32(v), "mark_ok"))
	}
	ins = append(ins, asm.Mov.Imm(asm.R0, 0).WithSymbol("nomatch"), asm.Return())
	ins = append(ins, asm.Mov.Imm(asm.R0, -1).WithSymbol("match"), asm.Return())
	// mark_ok: check the addresses.
	var addr asm.Instructions
	addr = append(addr, asm.Mov.Imm(asm.R0, 0).WithSymbol("mark_ok"))
	if len(rules) == 0 || len(rules) == 1 && !rules[0].src.IsValid() && !rules[0].dst.IsValid() {
		addr = append(addr, asm.Ja.Label("match"))
		return load(append(ins, addr...))
	}
	// IPv4 only: skb->protocol is ETH_P_IP in network order.
	addr = append(addr,
		asm.LoadMem(asm.R1, asm.R6, skbProtocol, asm.Word),
		asm.JNE.Imm(asm.R1, 0x0008, "nomatch"),
	)
	// Load the source and destination addresses (after a 14-byte Ethernet header) into
	// r8 and r9 through bpf_skb_load_bytes.
	for i, off := range []int32{14 + 12, 14 + 16} {
		addr = append(addr,
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, off),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, -8),
			asm.Mov.Imm(asm.R4, 4),
			asm.FnSkbLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, "nomatch"),
			asm.LoadMem(asm.Register(8+i), asm.RFP, -8, asm.Word),
		)
	}
	for i, r := range rules {
		next := fmt.Sprintf("rule%d", i+1)
		for _, c := range []struct {
			reg asm.Register
			pf  netip.Prefix
		}{{asm.R8, r.src}, {asm.R9, r.dst}} {
			if !c.pf.IsValid() {
				continue
			}
			a := c.pf.Masked().Addr().As4()
			var m [4]byte
			for b := 0; b < c.pf.Bits(); b++ {
				m[b/8] |= 0x80 >> (b % 8)
			}
			// The loaded word is in memory order; compare in the same order.
			addr = append(addr,
				asm.Mov.Reg(asm.R1, c.reg),
				asm.And.Imm32(asm.R1, int32(binary.LittleEndian.Uint32(m[:]))),
				asm.JNE.Imm32(asm.R1, int32(binary.LittleEndian.Uint32(a[:])), next),
			)
		}
		addr = append(addr, asm.Ja.Label("match"))
		if i+1 < len(rules) {
			addr = append(addr, asm.Mov.Imm(asm.R0, 0).WithSymbol(next))
		} else {
			addr = append(addr, asm.Ja.Label("nomatch").WithSymbol(next))
		}
	}
	return load(append(ins, addr...))
}

func load(ins asm.Instructions) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "routerd_qmark",
		Type:         ebpf.SchedCLS,
		License:      "GPL",
		Instructions: ins,
	})
}
