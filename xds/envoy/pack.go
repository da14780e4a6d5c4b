package envoy

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// validatable is a generated Envoy message: ValidateAll checks its
// protoc-gen-validate rules.
type validatable interface {
	proto.Message
	ValidateAll() error
}

// pack validates m and wraps it in an Any. A resource's ValidateAll does not
// look inside an Any, so typed configs are checked here, where they are made.
// The encoding is deterministic so equal resources get equal versions.
func pack(m validatable) (*anypb.Any, error) {
	if err := m.ValidateAll(); err != nil {
		return nil, fmt.Errorf("%s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return marshalAny(m)
}

func marshalAny(m proto.Message) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, err
	}
	return a, nil
}

func boolValue(b bool) *wrapperspb.BoolValue        { return wrapperspb.Bool(b) }
func duration(d time.Duration) *durationpb.Duration { return durationpb.New(d) }
