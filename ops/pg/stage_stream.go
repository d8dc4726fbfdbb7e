package pg

import (
	"context"
	"errors"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// StageOptions tune StartStage. The zero value is the production setting.
type StageOptions struct {
	// Buffer bounds the bytes waiting between the dump and the pod (default 4 MiB): when
	// the pod is slower than the dump, the dump waits for it rather than buffer more.
	Buffer int
	// Stall is how long the pod may take no byte before the copy is given up (default
	// 30 s); the dump then goes on without it.
	Stall time.Duration
}

const (
	stageChunk         = 256 << 10
	defaultStageBuffer = 4 << 20
	defaultStageStall  = 30 * time.Second
)

// errStageGivenUp ends the pod's stdin when the copy is given up.
var errStageGivenUp = errors.New("copy into the pod given up")

// StageStream copies a stream into a file in a pod while the stream is written
// elsewhere (the dump step tees pg_dump's output into the destination pod as it goes
// to the spool). Memory is bounded: the bytes wait in a fixed set of chunks, and a
// pod that takes no byte for the stall time is given up. Write never fails: giving
// up the copy must not fail the dump, whose spool file stays the source of truth.
// Finish says whether the pod holds every byte; nothing here proves the bytes are the
// dump's: the restore step checks the copy's sha256 in the pod before it uses it.
type StageStream struct {
	ex     Execer
	remote string
	stall  time.Duration
	cancel context.CancelFunc

	full      chan []byte   // chunks waiting for the pod, in order; closed by Finish
	free      chan []byte   // empty chunks
	abort     chan struct{} // closed when the copy is given up: the pod's stdin fails
	abortOnce sync.Once
	done      chan struct{} // closed when the exec returned; execErr is then set
	execErr   error
	stdout    *tailWriter // wc -c's answer
	stderr    *tailWriter
	progress  atomic.Int64 // unix nanoseconds of the pod's last read

	mu     sync.Mutex // the writer's side
	cur    []byte     // the chunk being filled
	sent   int64      // bytes handed to the pod's stream
	closed bool
	failed error // why the copy was given up
}

// StartStage starts `cat > remoteFile` in the pod, fed by what is written to the
// returned stream. End it with Finish or Abort.
func StartStage(ctx context.Context, ex Execer, remoteFile string, opts StageOptions) (*StageStream, error) {
	if err := checkRemotePath(remoteFile); err != nil {
		return nil, err
	}
	if opts.Buffer <= 0 {
		opts.Buffer = defaultStageBuffer
	}
	if opts.Stall <= 0 {
		opts.Stall = defaultStageStall
	}
	chunks := max(2, opts.Buffer/stageChunk)
	ctx, cancel := context.WithCancel(ctx)
	s := &StageStream{
		ex: ex, remote: remoteFile, stall: opts.Stall, cancel: cancel,
		full: make(chan []byte, chunks), free: make(chan []byte, chunks),
		abort: make(chan struct{}), done: make(chan struct{}),
		stdout: newTail(256), stderr: newTail(4096),
	}
	size := min(stageChunk, opts.Buffer)
	for range chunks {
		s.free <- make([]byte, 0, size)
	}
	s.progress.Store(time.Now().UnixNano())
	go func() {
		defer close(s.done)
		s.execErr = ex.Exec(ctx, track(ex, StageArgv(remoteFile), "stage-"+path.Base(remoteFile)), &stageReader{s: s}, s.stdout, s.stderr)
	}()
	return s, nil
}

// StageArgv writes stdin to the file and prints how many bytes the file holds.
func StageArgv(remoteFile string) []string {
	return []string{"sh", "-c", "cat > '" + remoteFile + "' && wc -c < '" + remoteFile + "'"}
}

// Remote is the file in the pod.
func (s *StageStream) Remote() string { return s.remote }

// Write hands p to the pod, waiting (bounded by the buffer) when the pod is slower. It
// never fails; once the copy is given up it drops what comes.
func (s *StageStream) Write(p []byte) (int, error) {
	n := len(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil && !s.closed {
		select {
		case <-s.done:
			s.giveUpLocked(s.endedEarly())
		default:
		}
	}
	for len(p) > 0 && s.failed == nil && !s.closed {
		if s.cur == nil {
			c, err := s.nextFree()
			if err != nil {
				s.giveUpLocked(err)
				break
			}
			s.cur = c[:0]
		}
		k := copy(s.cur[len(s.cur):cap(s.cur)], p)
		s.cur = s.cur[:len(s.cur)+k]
		p = p[k:]
		s.sent += int64(k)
		if len(s.cur) == cap(s.cur) {
			s.full <- s.cur // never blocks: full holds at most every chunk
			s.cur = nil
		}
	}
	return n, nil
}

// nextFree waits for an empty chunk while the pod keeps reading.
func (s *StageStream) nextFree() ([]byte, error) {
	select {
	case c := <-s.free:
		return c, nil
	default:
	}
	t := time.NewTimer(s.stall)
	defer t.Stop()
	for {
		select {
		case c := <-s.free:
			return c, nil
		case <-s.done:
			return nil, s.endedEarly()
		case <-s.abort:
			return nil, errStageGivenUp
		case <-t.C:
			idle := time.Since(time.Unix(0, s.progress.Load()))
			if idle < s.stall {
				t.Reset(s.stall - idle)
				continue
			}
			return nil, report.Fail(report.StageStalled{Stall: s.stall}, nil)
		}
	}
}

func (s *StageStream) endedEarly() error {
	if s.execErr == nil {
		return report.Fail(report.StageExited{}, nil)
	}
	return inPod(report.PodCommand{Of: report.CommandStageEnded, Path: s.remote}, s.execErr, s.stderr)
}

// giveUpLocked stops the copy: the pod's stdin fails and its exec is cancelled.
func (s *StageStream) giveUpLocked(err error) {
	if s.failed == nil {
		s.failed = err
	}
	s.abortOnce.Do(func() { close(s.abort) })
	s.cancel()
}

// Sent is how many bytes went into the pod's stream.
func (s *StageStream) Sent() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Finish ends the stream and waits for the pod to write the rest (as long as it keeps
// reading). It fails, and removes what reached the pod, when the copy was given up,
// when the command failed, or when the file in the pod does not hold size bytes.
func (s *StageStream) Finish(ctx context.Context, size int64) error {
	s.mu.Lock()
	if s.failed == nil && !s.closed {
		if len(s.cur) > 0 {
			s.full <- s.cur
			s.cur = nil
		}
		s.closed = true
		close(s.full)
	}
	failed, sent := s.failed, s.sent
	s.mu.Unlock()
	if failed == nil {
		failed = s.wait()
	}
	if failed == nil && s.execErr != nil {
		failed = inPod(report.PodCommand{Of: report.CommandStageStream, Path: s.remote}, s.execErr, s.stderr)
	}
	if failed == nil {
		got, err := strconv.ParseInt(strings.TrimSpace(s.stdout.String()), 10, 64)
		switch {
		case err != nil:
			failed = report.Fail(report.UnexpectedAnswer{Of: report.AnswerStagedSize, Said: s.stdout.String(), Path: s.remote}, nil)
		case got != sent || got != size:
			failed = report.Fail(report.StageShort{Path: s.remote, Got: got, Sent: sent, Size: size}, nil)
		}
	}
	if failed != nil {
		s.giveUp(failed)
		<-s.done
		if err := Unstage(ctx, s.ex, s.remote); err != nil {
			return errors.Join(failed, err)
		}
		return failed
	}
	s.cancel()
	return nil
}

// Abort gives the copy up (the dump failed) and removes what reached the pod.
func (s *StageStream) Abort(ctx context.Context, reason error) error {
	s.giveUp(reason)
	<-s.done
	return Unstage(ctx, s.ex, s.remote)
}

func (s *StageStream) giveUp(err error) {
	// Not under mu: a Write may be waiting for a chunk; abort wakes it.
	s.abortOnce.Do(func() { close(s.abort) })
	s.cancel()
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
}

// wait waits for the exec to return while the pod keeps reading what is left.
func (s *StageStream) wait() error {
	t := time.NewTicker(min(time.Second, s.stall/4+time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return nil
		case <-t.C:
			// Reading the last chunk may end well before cat and wc exit: the stall
			// counts from the last read either way.
			if time.Since(time.Unix(0, s.progress.Load())) > s.stall {
				return report.Fail(report.StageStalled{Stall: s.stall}, nil)
			}
		}
	}
}

// stageReader is the pod's stdin: the chunks, in order, then EOF.
type stageReader struct {
	s    *StageStream
	buf  []byte // the chunk being read, returned to free when done
	rest []byte
}

func (r *stageReader) Read(p []byte) (int, error) {
	for len(r.rest) == 0 {
		if r.buf != nil {
			r.s.free <- r.buf[:0] // never blocks: free holds at most every chunk
			r.buf = nil
		}
		select {
		case <-r.s.abort:
			return 0, errStageGivenUp
		default:
		}
		select {
		case c, ok := <-r.s.full:
			if !ok {
				r.s.progress.Store(time.Now().UnixNano())
				return 0, io.EOF
			}
			r.buf, r.rest = c, c
		case <-r.s.abort:
			return 0, errStageGivenUp
		}
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	r.s.progress.Store(time.Now().UnixNano())
	return n, nil
}
