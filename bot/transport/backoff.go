package transport

import (
	"math/rand/v2"
	"time"
)

// backoff spaces the reconnects after a lost Socket Mode connection: each wait doubles
// from min up to max, and is drawn between half of it and all of it, so a Slack outage
// is not met with a reconnect every second, and clients that lost Slack together do not
// all come back at the same instant. A connection that came up starts it again at min.
type backoff struct {
	min, max time.Duration
	next     time.Duration
	// draw returns a number in [0, n); rand.Int64N outside tests.
	draw func(n int64) int64
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, draw: rand.Int64N}
}

// wait is how long to wait before the next reconnect.
func (b *backoff) wait() time.Duration {
	if b.next <= 0 {
		b.next = b.min
	}
	d := b.next
	b.next = min(2*b.next, b.max)
	half := d / 2
	return half + time.Duration(b.draw(int64(d-half)+1))
}

// reset starts again at min, after a connection that came up.
func (b *backoff) reset() { b.next = 0 }
