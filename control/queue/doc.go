// Package queue applies /queue simple and /queue type with the kernel's traffic control,
// through netlink: each interface a queue reaches gets an HTB tree on its egress for the
// download direction (traffic to the target) and, through an IFB device fed by an ingress
// redirect (act_mirred), an HTB tree for the upload direction (traffic from the target).
// On an interface a queue with packet-marks shapes, the upload of its queues has an IFB of
// its own, fed from the egress of every other interface with what came in through the
// interface (u32 indev), and classified by an nftables chain of routerd's (upload.go)
// after mangle (at the ingress the mark is not set yet) and before src-nat (after it
// the target's address is gone), which sets the class as the skb priority.
// A queue is an HTB class (rate = limit-at, ceil = max-limit, prio = priority - 1,
// parent = the parent queue's class) classified by u32 filters on the target's and dst's
// IPv4 prefixes, with the queue type's qdisc (pfifo, bfifo, sfq, red) as its leaf.
// burst-limit/threshold/time follow RouterOS's rule: while the average rate over
// burst-time stays below burst-threshold the class may reach burst-limit. time= windows
// switch a queue on and off. Counters (rate, packet-rate, bytes, packets, queued, dropped)
// are read from the classes every second.
//
// packet-marks are matched by a small eBPF classifier (cls_bpf, built with cilium/ebpf's
// assembler) that reads the mark the firewall's mangle sets (the same name-to-number map,
// firewall.Marks, which allocates the numbers) and the addresses: this kernel has no cls_fw and no u32 mark match.
//
// The trees stay in the kernel when the engine stops, so queues shape while routerd
// restarts; what was applied is kept in the store's meta bucket and the next start adopts
// the trees still intact (loadApplied). A start that finds none (after an upgrade)
// installs them before any engine runs (Prearm), not at the queue engine's late turn.
//
// What the running kernel lacks is reported per item (invalid, with the reason): queue
// kinds without their qdisc (sfq, red, fq-codel... on kernels built without them); IPv6
// targets are refused the same way (u32 IPv6 matching is not written yet).
package queue
