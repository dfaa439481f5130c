// Package msg encodes and decodes PTPv2 messages: the common header (IEEE 1588-2008
// clause 13.3), every message body of clause 13.5-13.12 (Announce, Sync, Delay_Req,
// Follow_Up, Delay_Resp, Pdelay_Req, Pdelay_Resp, Pdelay_Resp_Follow_Up, Signaling,
// Management), the TLV framing of clause 14 and the TLVs the profiles need: the
// 802.1AS Follow_Up information TLV (IEEE 802.1AS-2011 11.4.4.3) and the path trace TLV
// (clause 16.2). It also holds the primitive types of clause 5.3 (Timestamp,
// ClockIdentity, PortIdentity, ClockQuality) and the correction field's scaled
// nanoseconds.
//
// Parse never panics on any input (it has a fuzz target) and rejects what the standard
// says a receiver must not use: a version other than 2, a length beyond the buffer or
// shorter than the body, truncated TLVs.
package msg
