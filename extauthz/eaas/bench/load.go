package bench

import (
	"context"
	"sync"
	"time"
)

// Op is one operation of a load; worker numbers the goroutine (closed
// loop) or is 0 (open loop).
type Op func(ctx context.Context, worker int) error

// Classify names an operation's failure for the report ("" for success).
type Classify func(error) string

func defaultClass(err error) string {
	if err == nil {
		return ""
	}
	return "error"
}

// recorder gathers a load's outcomes from many goroutines.
type recorder struct {
	mu  sync.Mutex
	res Result
	cls Classify
}

func newRecorder(cls Classify) *recorder {
	if cls == nil {
		cls = defaultClass
	}
	return &recorder{cls: cls, res: Result{Failures: map[string]int{}}}
}

func (r *recorder) done(start time.Time, err error) {
	lat := time.Since(start)
	c := r.cls(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	if c == "" {
		r.res.Lat = append(r.res.Lat, lat)
		return
	}
	r.res.Failures[c]++
	if c == "error" && r.res.FirstError == "" {
		r.res.FirstError = err.Error()
	}
}

func (r *recorder) fail(class string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Failures[class]++
}

// ClosedLoop runs op in workers goroutines, each starting its next
// operation when the last one ends, for d.
func ClosedLoop(ctx context.Context, workers int, d time.Duration, op Op, cls Classify) Result {
	rec := newRecorder(cls)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				t := time.Now()
				rec.done(t, op(ctx, w))
			}
		})
	}
	wg.Wait()
	rec.res.Elapsed = time.Since(start)
	return rec.res
}

// NotSent names operations an open loop could not start because inFlight
// of its operations were still open: the load fell behind its rate.
const NotSent = "not-sent"

// OpenLoop starts op at rate per second for d, whatever the answers, each
// bounded by timeout, with at most inFlight open at once.
func OpenLoop(ctx context.Context, rate float64, d, timeout time.Duration, inFlight int, op Op, cls Classify) Result {
	rec := newRecorder(cls)
	slots := make(chan struct{}, max(inFlight, 1))
	var wg sync.WaitGroup
	start := time.Now()
	sent := 0
	// Operations go out in small bursts: a timer cannot tick every
	// 100 µs, but the count due by now can be kept.
	for now := start; now.Sub(start) < d && ctx.Err() == nil; now = time.Now() {
		due := int(now.Sub(start).Seconds() * rate)
		for ; sent < due; sent++ {
			select {
			case slots <- struct{}{}:
			default:
				rec.fail(NotSent)
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				octx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				t := time.Now()
				rec.done(t, op(octx, 0))
			})
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	rec.res.Elapsed = time.Since(start)
	return rec.res
}
