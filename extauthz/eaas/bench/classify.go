package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshward/meshward/extauthz/eaas/rpc"
)

// classify names a failure by what the coordinator answered (status and
// reason), so that the report tells a shed request from a refused one.
func classify(err error) string {
	var ref *rpc.Refusal
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ref):
		return fmt.Sprintf("%d %s", ref.Status, ref.Reason)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, rpc.ErrForwardPlaintext):
		return "forward-plaintext"
	}
	return "error"
}
