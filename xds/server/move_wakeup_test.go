package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/meshward/meshward/xds/catalog"
)

// Moves of one service asked for at once run one after another, and none
// waits for ever: a move that ends between a waiter's "still moving" and
// its wait must still wake it (a lost wakeup hung the 100-rotation test
// under load, once in four runs).
func TestQueuedMovesAllRun(t *testing.T) {
	r := start(t, twoServices, Config{Admin: AdminAuth{Token: testToken},
		Defaults: catalog.Schedule{Grace: time.Nanosecond, AckTimeout: time.Minute, HardDeadline: time.Minute}})
	// The bound only turns a hang into a failure; the moves take
	// milliseconds.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 150 {
				if _, err := r.Move(ctx, "orders", 0, "admin"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a queued move: %v", err)
	}
}
