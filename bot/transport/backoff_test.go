package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoffDoublesToItsCapWithJitter(t *testing.T) {
	for _, tc := range []struct {
		name string
		draw func(int64) int64
		want []time.Duration
	}{
		{"shortest draws", func(int64) int64 { return 0 }, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}},
		{"longest draws", func(n int64) int64 { return n - 1 }, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &backoff{min: time.Second, max: 8 * time.Second, draw: tc.draw}
			var got []time.Duration
			for range tc.want {
				got = append(got, b.wait())
			}
			assert.Equal(t, tc.want, got)
			b.reset()
			assert.Equal(t, tc.want[0], b.wait(), "after a connection came up, the first step again")
		})
	}
}
