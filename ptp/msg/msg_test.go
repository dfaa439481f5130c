package msg

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

var (
	gm   = ClockIdentity{0x64, 0xD1, 0x54, 0xFF, 0xFE, 0xEB, 0xAE, 0xC3}
	port = PortIdentity{gm, 1}
)

func allMessages() []Message {
	h := Header{Domain: 24, Flags: FlagTwoStep | FlagPTPTimescale, Correction: CorrectionFromNanos(-1234),
		SourcePort: port, Sequence: 4242, LogInterval: -3}
	ts := Timestamp{Seconds: 1<<40 + 7, Nanoseconds: 999_999_999}
	req := PortIdentity{ClockIdentity{1, 2, 3, 4, 5, 6, 7, 8}, 2}
	return []Message{
		&Sync{Header: h, OriginTimestamp: ts},
		&DelayReq{Header: h, OriginTimestamp: ts},
		&FollowUp{Header: h, PreciseOriginTimestamp: ts, TLVs: []TLV{FollowUpInfo{CumulativeScaledRateOffset: -5, GMTimeBaseIndicator: 3, ScaledLastGMFreqChange: 9}.TLV()}},
		&DelayResp{Header: h, ReceiveTimestamp: ts, RequestingPort: req},
		&PdelayReq{Header: h, OriginTimestamp: ts},
		&PdelayResp{Header: h, RequestReceiptTimestamp: ts, RequestingPort: req},
		&PdelayRespFollowUp{Header: h, ResponseOriginTimestamp: ts, RequestingPort: req},
		&Announce{Header: h, OriginTimestamp: ts, CurrentUTCOffset: 37, GMPriority1: 100,
			GMQuality: ClockQuality{Class: 248, Accuracy: 0xFE, Variance: 0xFFFF}, GMPriority2: 248,
			GMIdentity: gm, StepsRemoved: 1, TimeSource: 0xA0, TLVs: []TLV{PathTrace([]ClockIdentity{gm, req.Clock})}},
		&Signaling{Header: h, TargetPort: req, TLVs: []TLV{{Type: TLVRequestUnicast, Value: []byte{0xB0, 1, 0, 0, 0, 60}}}},
		&Management{Header: h, TargetPort: req, StartingBoundaryHops: 1, BoundaryHops: 1, Action: 0,
			TLVs: []TLV{{Type: TLVManagement, Value: []byte{0x20, 0x00}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range allMessages() {
		b := Marshal(m)
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", m.Head().Type, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", m.Head().Type, got, m)
		}
		// Ethernet pads short frames: bytes past messageLength are not part of the message.
		padded := append(append([]byte(nil), b...), 0, 0, 0, 0)
		if got, err := Parse(padded); err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("%s: padded: %v", m.Head().Type, err)
		}
	}
}

// TestWireLayout checks the octets of clause 13 for an Announce as ptp4l sends it.
func TestWireLayout(t *testing.T) {
	a := &Announce{Header: Header{Domain: 0, Flags: FlagPTPTimescale, SourcePort: port, Sequence: 1, LogInterval: 1},
		CurrentUTCOffset: 37, GMPriority1: 128, GMQuality: ClockQuality{248, 0xFE, 0xFFFF}, GMPriority2: 128,
		GMIdentity: gm, TimeSource: 0xA0}
	want := "0b02" + "0040" + "00" + "00" + "0008" + "0000000000000000" + "00000000" +
		"64d154fffeebaec3" + "0001" + "0001" + "05" + "01" +
		"00000000000000000000" + "0025" + "00" + "80" + "f8" + "fe" + "ffff" + "80" + "64d154fffeebaec3" + "0000" + "a0"
	if got := hex.EncodeToString(Marshal(a)); got != want {
		t.Fatalf("announce\n got %s\nwant %s", got, want)
	}
	if Type(TypeSync).Event() != true || TypeFollowUp.Event() {
		t.Fatal("event classification")
	}
}

func TestParseErrors(t *testing.T) {
	good := Marshal(allMessages()[0])
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:20], ErrShort},
		{"v1", append([]byte{0x00, 0x01}, good[2:]...), ErrVersion},
		{"type", append([]byte{0x05}, good[1:]...), ErrType},
		{"length beyond buffer", good[:40], ErrShort},
		{"length below body", func() []byte { b := bytes.Clone(good); b[3] = 40; return b }(), ErrShort},
		{"truncated tlv", func() []byte {
			b := append(bytes.Clone(good), 0, 8, 0, 9, 1)
			b[3] = byte(len(b))
			return b
		}(), ErrTLV},
	}
	for _, c := range cases {
		if _, err := Parse(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestTLVs(t *testing.T) {
	f := FollowUpInfo{CumulativeScaledRateOffset: -7, GMTimeBaseIndicator: 2, ScaledLastGMFreqChange: 11}
	f.LastGMPhaseChange[11] = 1
	got, err := ParseFollowUpInfo(f.TLV())
	if err != nil || got != f {
		t.Fatalf("follow-up info: %+v %v", got, err)
	}
	if len(f.TLV().Value) != 28 {
		t.Fatal("follow-up info length must be 28 (802.1AS 11.4.4.3)")
	}
	ids := []ClockIdentity{gm, {1}}
	back, err := ParsePathTrace(PathTrace(ids))
	if err != nil || !reflect.DeepEqual(back, ids) {
		t.Fatalf("path trace: %v %v", back, err)
	}
	if _, err := ParsePathTrace(TLV{Type: TLVPathTrace, Value: []byte{1}}); err == nil {
		t.Fatal("odd path trace accepted")
	}
	if got := gm.String(); got != "64:D1:54:FF:FE:EB:AE:C3" {
		t.Fatal(got)
	}
	if IdentityFromMAC([]byte{0x64, 0xD1, 0x54, 0xEB, 0xAE, 0xC3}) != gm {
		t.Fatal("EUI-64 from MAC")
	}
	if CorrectionFromNanos(-3).Nanos() != -3 || NewTimestamp(1_500_000_000).Nanos() != 1_500_000_000 {
		t.Fatal("conversions")
	}
}

func FuzzParse(f *testing.F) {
	for _, m := range allMessages() {
		f.Add(Marshal(m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		// What parses re-encodes to the same message.
		again, err := Parse(Marshal(m))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(m)) {
			t.Fatalf("round trip changed the message\n%+v\n%+v", again, m)
		}
	})
}

// normalize clears what Marshal derives (the length; nil vs empty TLV values).
func normalize(m Message) Message {
	m.Head().Length = 0
	for i := range m.Extensions() {
		if len(m.Extensions()[i].Value) == 0 {
			m.Extensions()[i].Value = nil
		}
	}
	return m
}
