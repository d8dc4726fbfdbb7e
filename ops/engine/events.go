package engine

import (
	"context"
	"sync"
	"time"
)

// EventKind says what changed.
type EventKind string

const (
	EventStarted     EventKind = "started"
	EventRecovered   EventKind = "recovered"
	EventAwaiting    EventKind = "awaiting"
	EventDecided     EventKind = "decided"
	EventRunning     EventKind = "running"
	EventProgress    EventKind = "progress"
	EventSucceeded   EventKind = "succeeded"
	EventFailed      EventKind = "failed"
	EventInterrupted EventKind = "interrupted"
	EventExpired     EventKind = "expired"
	EventReminder    EventKind = "reminder"
	EventEnded       EventKind = "ended"
)

// Event is a change the transport shows. Run is a copy as stored after the change.
type Event struct {
	Kind     EventKind
	Run      *Run
	Step     int // 0-based; -1 when the event concerns the run
	Decision *Decision
	// Progress is what a running step is doing now, as data (EventProgress).
	Progress *Report
	// Report is what the end of the run reports (EventEnded): what it could not clean
	// up, and the backups it keeps; nil when nothing.
	Report *Report
	// Waited is how long the step has waited for approval (EventReminder).
	Waited time.Duration
}

// emit queues an event; it runs with e.mu held.
func (e *Engine) emit(kind EventKind, r *Run, step int, d *Decision) {
	e.events.push(e.baseCtx, Event{Kind: kind, Run: r.Clone(), Step: step, Decision: d})
}

// queue delivers events in order on one goroutine, so a slow observer never holds
// the engine's lock.
type queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	items   []queued
	busy    bool
	closed  bool
	deliver func(context.Context, Event)
}

type queued struct {
	ctx context.Context
	ev  Event
}

func newQueue(deliver func(context.Context, Event)) *queue {
	q := &queue{deliver: deliver}
	q.cond = sync.NewCond(&q.mu)
	go q.loop()
	return q
}

func (q *queue) push(ctx context.Context, ev Event) {
	if q.deliver == nil {
		return
	}
	q.mu.Lock()
	q.items = append(q.items, queued{ctx, ev})
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *queue) loop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.items) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.items) == 0 && q.closed {
			return
		}
		it := q.items[0]
		q.items = q.items[1:]
		q.busy = true
		q.mu.Unlock()
		q.deliver(it.ctx, it.ev)
		q.mu.Lock()
		q.busy = false
		q.cond.Broadcast()
	}
}

func (q *queue) drain() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) > 0 || q.busy {
		q.cond.Wait()
	}
}

func (q *queue) close() {
	q.drain()
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
