// Package slackfake is a local Slack: the Web API methods the bot uses, the Socket
// Mode WebSocket, response URLs, file uploads, modals and the App Home, with a channel
// model so a test (or the demo) can act as people: "as @bob, click Reject on the newest
// prompt and give this reason". It refuses what Slack refuses (unknown channel,
// oversized text, too many blocks, a method the token has no scope for, a trigger_id
// older than 3 seconds, a response_url used 5 times or after 30 minutes), hands out
// strictly increasing message timestamps, and can inject faults (429, 5xx, disconnects,
// redeliveries).
package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Options describe the workspace.
type Options struct {
	BotToken string
	AppToken string
	Team     string
	BotUser  string            // the bot's user ID
	Channels map[string]string // ID -> name
	Users    map[string]string // ID -> name
	Groups   map[string][]string
	// PingEvery is how often the WebSocket is pinged (slack-go gives up after 30 s without).
	PingEvery time.Duration
	// Scopes are the bot token's granted scopes; a method needing another answers
	// missing_scope. nil grants every scope (for tests not about scopes).
	Scopes []string
	// Private lists the private channels among Channels (conversations.info then needs
	// groups:read instead of channels:read).
	Private []string
	// Outside lists channels the bot is not a member of: posting there answers
	// not_in_channel, and a private one is not found at all.
	Outside []string
	// Clock is the time trigger_ids and response_urls expire by; nil is time.Now.
	Clock func() time.Time
}

// Message is one message in a channel.
type Message struct {
	TS       string
	ThreadTS string // "" for top-level
	User     string
	Text     string
	Blocks   json.RawMessage
	Edits    int
	Files    []string
	// Broadcast is a thread reply also shown in the channel (reply_broadcast).
	Broadcast bool
	// Notified are the users Slack notified when it was posted: those mentioned
	// directly, through a user group or @channel, and the other end of a DM. An edit
	// notifies nobody.
	Notified []string
}

// File is one uploaded file.
type File struct {
	ID, Name, Title, Channel, ThreadTS string
	Content                            []byte
}

// Ephemeral is a message only one user sees, in a thread when ThreadTS is set.
type Ephemeral struct {
	Channel, User, Text string
	ThreadTS            string
	Blocks              json.RawMessage
	ViaResponseURL      bool
}

// Ack is an acknowledged envelope.
type Ack struct {
	EnvelopeID  string
	Sent, Acked time.Time
	Payload     json.RawMessage
}

// Latency is how long the bot took to acknowledge.
func (a Ack) Latency() time.Duration { return a.Acked.Sub(a.Sent) }

// Call is one Web API call as received.
type Call struct {
	Method string
	At     time.Time
	Status int
	Error  string
}

// EventKind says what changed in the channel model.
type EventKind string

const (
	EventPosted    EventKind = "posted"
	EventUpdated   EventKind = "updated"
	EventEphemeral EventKind = "ephemeral"
	EventFile      EventKind = "file"
	EventAck       EventKind = "ack"
	EventConnected EventKind = "connected"
	EventViewOpen  EventKind = "view_opened"
	EventHome      EventKind = "home_published"
)

// Event is one change, for transcripts and waits.
type Event struct {
	Kind           EventKind
	Channel, TS    string
	ThreadTS, User string
	Text           string // the message's text (Slack's notification text)
	Body           string // the text of its blocks, when it has some
	Broadcast      bool   // a thread reply also sent to the channel
}

type fault struct {
	n          int
	status     int // 0: the connection is cut without an answer
	retryAfter time.Duration
}

// Server is the local Slack.
type Server struct {
	opts     Options
	http     *http.Server
	listener net.Listener
	base     string // http://127.0.0.1:PORT/

	mu         sync.Mutex
	cond       *sync.Cond
	tsSeq      int64
	messages   map[string][]*Message // channel -> messages in order
	ephemerals []Ephemeral
	files      map[string]*File
	fileSeq    int
	acks       []Ack
	calls      []Call
	envelopes  map[string]envelope // sent, for redelivery
	envSeq     int
	conns      map[*wsConn]bool
	faults     map[string]*fault
	listeners  []func(Event)
	responses  map[string]*responseTarget
	triggers   map[string]*trigger
	views      map[string]*View
	viewSeq    int
	homes      map[string]json.RawMessage // user -> published Home tab
	dms        map[string]string          // user -> DM channel ID
	tokensSeen []string                   // every body and URL, to prove tokens never appear in messages
	closed     bool
}

type envelope struct {
	Type    string
	Accepts bool // accepts_response_payload (a view_submission does)
	Payload json.RawMessage
	Retry   int
	Sent    time.Time
}

// responseTarget is where a response_url answers: the channel (and thread) of the
// command or click, privately to its user. Slack takes 5 replies within 30 minutes.
type responseTarget struct {
	Channel, User, ThreadTS string
	Issued                  time.Time
	Uses                    int
}

// Slack's limits on a response_url.
const (
	ResponseURLUses = 5
	ResponseURLLife = 30 * time.Minute
)

// Start listens on 127.0.0.1 on a free port.
func Start(opts Options) (*Server, error) {
	if opts.Team == "" {
		opts.Team = "T0NYCMESH"
	}
	if opts.BotUser == "" {
		opts.BotUser = "U0CUTOVERBOT"
	}
	if opts.PingEvery == 0 {
		opts.PingEvery = 5 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, listener: l, base: "http://" + l.Addr().String() + "/",
		messages: map[string][]*Message{}, files: map[string]*File{}, envelopes: map[string]envelope{},
		conns: map[*wsConn]bool{}, faults: map[string]*fault{}, responses: map[string]*responseTarget{},
		triggers: map[string]*trigger{}, views: map[string]*View{}, homes: map[string]json.RawMessage{}, dms: map[string]string{},
		tsSeq: time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC).UnixMicro()}
	s.cond = sync.NewCond(&s.mu)
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.api)
	mux.HandleFunc("/ws/", s.socket)
	mux.HandleFunc("/respond/", s.respond)
	mux.HandleFunc("/upload/", s.upload)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(l) }()
	return s, nil
}

// Close stops the server and drops every connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = map[*wsConn]bool{}
	s.mu.Unlock()
	for c := range conns {
		c.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
	s.cond.Broadcast()
}

func (s *Server) now() time.Time { return s.opts.Clock() }

// InProcessClient is an HTTP client whose requests the local Slack's routes serve
// in-process, without sockets: for a test in a testing/synctest bubble, where real
// sockets are not allowed, so that waits (Retry-After, backoff) pass in the bubble's
// time. Links the server hands out (upload and response URLs) still name its listener.
func (s *Server) InProcessClient() *http.Client {
	return &http.Client{Transport: inProcess{s.http.Handler}}
}

// inProcess serves a client's requests with a handler directly.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	in := r.Clone(r.Context())
	in.RequestURI = r.URL.RequestURI()
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, in)
	return rec.Result(), nil
}

// APIURL is the Web API base for slack.OptionAPIURL (it ends with "/").
func (s *Server) APIURL() string { return s.base + "api/" }

// OnChange registers a listener for every change (called without the lock held, in order).
func (s *Server) OnChange(fn func(Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
}

// notify must be called with s.mu held; listeners run after it is released.
func (s *Server) notify(ev Event) func() {
	ls := append([]func(Event){}, s.listeners...)
	s.cond.Broadcast()
	return func() {
		for _, l := range ls {
			l(ev)
		}
	}
}

// WaitFor polls cond until it is true or ctx ends.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Connected reports whether a Socket Mode connection is open (and not asked to go).
func (s *Server) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if !c.retired {
			return true
		}
	}
	return false
}

// Connections counts open Socket Mode connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// UserName is a user's name, or the ID.
func (s *Server) UserName(id string) string {
	if n, ok := s.opts.Users[id]; ok {
		return n
	}
	return id
}

// nextTS hands out strictly increasing message timestamps, as Slack does.
func (s *Server) nextTS() string {
	s.tsSeq += 100
	return fmt.Sprintf("%d.%06d", s.tsSeq/1_000_000, s.tsSeq%1_000_000)
}

// RateLimitNext answers the next n calls of method with 429 and Retry-After.
func (s *Server) RateLimitNext(method string, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = &fault{n: n, status: http.StatusTooManyRequests, retryAfter: retryAfter}
}

// FailNext answers the next n calls of method with an HTTP status (5xx).
func (s *Server) FailNext(method string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = &fault{n: n, status: status}
}

// CutNext closes the connection of the next n calls of method without answering, as
// a network failure or a proxy dropping the request does (the client sees a transport
// error, not an HTTP status).
func (s *Server) CutNext(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = &fault{n: n}
}

// Calls returns the Web API calls so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Messages returns a channel's top-level messages in order (copies).
func (s *Server) Messages(channel string) []Message {
	return s.collect(channel, func(m *Message) bool { return m.ThreadTS == "" })
}

// Channel returns what a reader of the channel sees outside threads: the top-level
// messages and the thread replies broadcast to it, in order.
func (s *Server) Channel(channel string) []Message {
	return s.collect(channel, func(m *Message) bool { return m.ThreadTS == "" || m.Broadcast })
}

// Thread returns the replies to a message, in order (copies).
func (s *Server) Thread(channel, ts string) []Message {
	return s.collect(channel, func(m *Message) bool { return m.ThreadTS == ts })
}

// Message returns one message.
func (s *Server) Message(channel, ts string) (Message, bool) {
	all := s.collect(channel, func(m *Message) bool { return m.TS == ts })
	if len(all) == 0 {
		return Message{}, false
	}
	return all[0], true
}

func (s *Server) collect(channel string, keep func(*Message) bool) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		if keep(m) {
			out = append(out, *m)
		}
	}
	return out
}

var mentionRE = regexp.MustCompile(`<(@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|!channel|!here)(\|[^>]*)?>`)

// notified is who a new message notifies; s.mu is held.
func (s *Server) notified(channel, text string, blocks json.RawMessage) []string {
	set := map[string]bool{}
	for u, dm := range s.dms {
		if dm == channel {
			set[u] = true
		}
	}
	for _, m := range mentionRE.FindAllStringSubmatch(text+"\n"+BlocksText(blocks), -1) {
		switch who := m[1]; {
		case strings.HasPrefix(who, "@"):
			set[who[1:]] = true
		case strings.HasPrefix(who, "!subteam^"):
			for _, u := range s.opts.Groups[strings.TrimPrefix(who, "!subteam^")] {
				set[u] = true
			}
		default:
			for u := range s.opts.Users {
				set[u] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for u := range set {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// NotificationsOf returns the messages, in any channel or DM, that notified user.
func (s *Server) NotificationsOf(user string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, msgs := range s.messages {
		for _, m := range msgs {
			if slices.Contains(m.Notified, user) {
				out = append(out, *m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TS < out[j].TS })
	return out
}

// Ephemerals returns what one user saw privately.
func (s *Server) Ephemerals(user string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ephemeral
	for _, e := range s.ephemerals {
		if e.User == user {
			out = append(out, e)
		}
	}
	return out
}

// Files returns the uploaded files.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for _, f := range s.files {
		if f.Channel != "" {
			out = append(out, *f)
		}
	}
	return out
}

// Acks returns the acknowledged envelopes.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// Seen returns every request body and URL received (to check no token leaks into
// message text; tokens in Authorization headers and token= form fields are expected).
func (s *Server) Seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokensSeen...)
}

// TextOf returns the text of a message including its blocks' texts.
func TextOf(m Message) string { return m.Text + BlocksText(m.Blocks) }

// BlocksText returns the texts in blocks, one per line.
func BlocksText(blocks json.RawMessage) string {
	var b strings.Builder
	var bs []any
	if json.Unmarshal(blocks, &bs) == nil {
		collectText(bs, &b)
	}
	return b.String()
}

func collectText(v any, b *strings.Builder) {
	switch x := v.(type) {
	case []map[string]any:
		for _, m := range x {
			collectText(m, b)
		}
	case []any:
		for _, m := range x {
			collectText(m, b)
		}
	case map[string]any:
		if t, ok := x["text"].(string); ok {
			b.WriteString("\n" + t)
		}
		for k, c := range x {
			if k == "confirm" {
				continue // a dialog's text, not the message's
			}
			if k != "text" || !isString(c) {
				collectText(c, b)
			}
		}
	}
}

func isString(v any) bool { _, ok := v.(string); return ok }

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
