package coordinator

// frameOverhead bounds what a frame adds to its data: the widest header
// (32+32+64+1+32+8 bits) and the batch's length varint.
const frameOverhead = 32

// Bounds are what one request of a requester may make the coordinator hold,
// so that a transport can refuse a body before reading it.
type Bounds struct {
	// Messages is 2^t: frames in an encryption request and in a decryption
	// answer.
	Messages int
	// MaxRequestBytes bounds a batch: 2^t frames of the largest plaintext,
	// or one frame of its envelope.
	MaxRequestBytes int64
}

// Bounds returns the bounds of the requester whose verified mesh identity is
// callerID; false if it is no member of a subscriber here, so that a
// transport reads nothing from it.
func (c *Coordinator) Bounds(callerID string) (Bounds, bool) {
	ref, ok := c.dir.member(principal(callerID))
	if !ok {
		return Bounds{}, false
	}
	m := ref.sub.Messages()
	body := int64(c.maxBody(ref.sub))
	enc := int64(m) * (body + frameOverhead)
	dec := body + envelopeOverhead + frameOverhead
	return Bounds{Messages: m, MaxRequestBytes: max(enc, dec)}, true
}

// AnswerBytes bounds the answer to a request of requestBytes bytes in
// frames frames: a decryption (one frame) is answered by 2^t frames no
// larger than its envelope, an encryption by one envelope.
func (b Bounds) AnswerBytes(requestBytes int64, frames int) int64 {
	if frames == 1 {
		return int64(b.Messages) * (requestBytes + frameOverhead)
	}
	return requestBytes/int64(max(frames, 1)) + envelopeOverhead + frameOverhead
}
