package msg

import (
	"encoding/binary"
	"fmt"
)

// TLVType is tlvType (Table 34).
type TLVType uint16

// TLV types used here.
const (
	TLVManagement            TLVType = 0x0001
	TLVManagementErrorStatus TLVType = 0x0002
	TLVOrganizationExtension TLVType = 0x0003
	TLVRequestUnicast        TLVType = 0x0004
	TLVGrantUnicast          TLVType = 0x0005
	TLVCancelUnicast         TLVType = 0x0006
	TLVAckCancelUnicast      TLVType = 0x0007
	TLVPathTrace             TLVType = 0x0008
	TLVAlternateTimeOffset   TLVType = 0x0009
)

// TLV is one type-length-value extension (clause 14.1); Value has even length on the wire
// per the standard, but Parse accepts what it is given.
type TLV struct {
	Type  TLVType
	Value []byte
}

func parseTLVs(b []byte) ([]TLV, error) {
	var out []TLV
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: %d trailing bytes", ErrTLV, len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if 4+n > len(b) {
			return nil, fmt.Errorf("%w: length %d beyond message", ErrTLV, n)
		}
		out = append(out, TLV{Type: TLVType(binary.BigEndian.Uint16(b)), Value: append([]byte(nil), b[4:4+n]...)})
		b = b[4+n:]
	}
	return out, nil
}

// PathTrace is the path trace TLV (clause 16.2): the clocks an Announce passed.
func PathTrace(ids []ClockIdentity) TLV {
	v := make([]byte, 0, 8*len(ids))
	for _, id := range ids {
		v = append(v, id[:]...)
	}
	return TLV{Type: TLVPathTrace, Value: v}
}

// ParsePathTrace reads a path trace TLV.
func ParsePathTrace(t TLV) ([]ClockIdentity, error) {
	if t.Type != TLVPathTrace || len(t.Value)%8 != 0 {
		return nil, fmt.Errorf("%w: not a path trace", ErrTLV)
	}
	ids := make([]ClockIdentity, len(t.Value)/8)
	for i := range ids {
		copy(ids[i][:], t.Value[8*i:])
	}
	return ids, nil
}

// FollowUpInfo is the 802.1AS Follow_Up information TLV (IEEE 802.1AS-2011 11.4.4.3):
// an organization extension with organizationId 00-80-C2 and subtype 1.
type FollowUpInfo struct {
	CumulativeScaledRateOffset int32
	GMTimeBaseIndicator        uint16
	LastGMPhaseChange          [12]byte // ScaledNs, 96 bits
	ScaledLastGMFreqChange     int32
}

var ieee8021 = [3]byte{0x00, 0x80, 0xC2}

// TLV encodes the Follow_Up information TLV.
func (f FollowUpInfo) TLV() TLV {
	v := make([]byte, 28)
	copy(v, ieee8021[:])
	v[5] = 1
	binary.BigEndian.PutUint32(v[6:], uint32(f.CumulativeScaledRateOffset))
	binary.BigEndian.PutUint16(v[10:], f.GMTimeBaseIndicator)
	copy(v[12:24], f.LastGMPhaseChange[:])
	binary.BigEndian.PutUint32(v[24:], uint32(f.ScaledLastGMFreqChange))
	return TLV{Type: TLVOrganizationExtension, Value: v}
}

// ParseFollowUpInfo reads a Follow_Up information TLV.
func ParseFollowUpInfo(t TLV) (FollowUpInfo, error) {
	var f FollowUpInfo
	v := t.Value
	if t.Type != TLVOrganizationExtension || len(v) < 28 || [3]byte(v[:3]) != ieee8021 || v[3] != 0 || v[4] != 0 || v[5] != 1 {
		return f, fmt.Errorf("%w: not a Follow_Up information TLV", ErrTLV)
	}
	f.CumulativeScaledRateOffset = int32(binary.BigEndian.Uint32(v[6:]))
	f.GMTimeBaseIndicator = binary.BigEndian.Uint16(v[10:])
	copy(f.LastGMPhaseChange[:], v[12:24])
	f.ScaledLastGMFreqChange = int32(binary.BigEndian.Uint32(v[24:]))
	return f, nil
}

// Find returns the first TLV of a type.
func Find(tlvs []TLV, t TLVType) (TLV, bool) {
	for _, x := range tlvs {
		if x.Type == t {
			return x, true
		}
	}
	return TLV{}, false
}
