package pg

import (
	"context"
	"io"
)

// Execer runs argv in one container of one pod (a cluster's Exec bound to a pod, or a
// local server in tests). A non-zero exit is an error.
type Execer interface {
	Exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// ExecFunc adapts a function to Execer.
type ExecFunc func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error

// Exec implements Execer.
func (f ExecFunc) Exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return f(ctx, argv, stdin, stdout, stderr)
}

// tailWriter keeps the last max bytes written to it (stderr of long commands).
type tailWriter struct {
	max int
	buf []byte
}

func newTail(max int) *tailWriter { return &tailWriter{max: max} }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	if len(t.buf) > t.max {
		return string(t.buf[len(t.buf)-t.max:])
	}
	return string(t.buf)
}
