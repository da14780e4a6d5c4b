package coordinator

import "time"

// Observer receives what the coordinator counts; transports turn it into
// metrics. Nothing secret passes through it.
type Observer interface {
	// Request counts a request by type (encrypt, decrypt, enrol, rewrap) and
	// result ("ok" or a reason id).
	Request(typ, result string)
	// Fakes counts fake frames dropped from requests or sent in answers.
	Fakes(subscriber uint32, direction string, n int)
	// Plaintext counts data forwarded raw because no replica could serve.
	Plaintext(subscriber uint32, typ string)
	// Stage times one role's part of a request.
	Stage(role string, d time.Duration)
	// Subscriber reports a subscriber's deception factor.
	Subscriber(id uint32, deception uint8)
}

// NopObserver counts nothing.
type NopObserver struct{}

func (NopObserver) Request(string, string)      {}
func (NopObserver) Fakes(uint32, string, int)   {}
func (NopObserver) Plaintext(uint32, string)    {}
func (NopObserver) Stage(string, time.Duration) {}
func (NopObserver) Subscriber(uint32, uint8)    {}
