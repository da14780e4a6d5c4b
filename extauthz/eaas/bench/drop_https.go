package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
)

// httpsDecrypts times n real decryptions as b's filter makes them over
// HTTPS (envelopes made first, untimed).
func (d *dropSetup) httpsDecrypts(ctx context.Context, n int) (time.Duration, error) {
	bID, err := d.hb.requesterID(ctx)
	if err != nil {
		return 0, err
	}
	envs := make([][]byte, n)
	for i := range envs {
		if envs[i], err = d.ha.encrypt(ctx, bID, d.data); err != nil {
			return 0, fmt.Errorf("making an envelope over HTTPS: %w", err)
		}
	}
	var total time.Duration
	for _, env := range envs {
		start := time.Now()
		pt, err := d.hb.decrypt(ctx, d.ha, env)
		total += time.Since(start)
		if err != nil || !bytes.Equal(pt, d.data) {
			return 0, fmt.Errorf("real decryption over HTTPS: %v", err)
		}
	}
	return total, nil
}

// httpsFakes times n fake-only batches of mallory over HTTPS: the first is
// answered 403 for carrying no real message, the rest 429 unread while
// mallory's penalty lasts.
func (d *dropSetup) httpsFakes(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		if err := wantHTTPRefusal(d.hm.Send(ctx, d.fake)); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func wantHTTPRefusal(_ []byte, err error) error {
	var ref *rpc.Refusal
	if errors.As(err, &ref) && (ref.Status == http.StatusForbidden && ref.Reason == coordinator.ReasonNoRealMessage ||
		ref.Status == http.StatusTooManyRequests && ref.Reason == rpc.ReasonPenalized) {
		return nil
	}
	return fmt.Errorf("fake batch over HTTPS: want 403 %s or 429 %s, got %v", coordinator.ReasonNoRealMessage, rpc.ReasonPenalized, err)
}
