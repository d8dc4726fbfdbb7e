package slackfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

type wsConn struct {
	c       *websocket.Conn
	opened  time.Time
	retired bool       // asked to disconnect: Slack sends nothing more on it
	mu      sync.Mutex // gorilla allows one writer at a time
	done    chan struct{}
	once    sync.Once
}

func (w *wsConn) write(v any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return w.c.WriteJSON(v)
}

func (w *wsConn) close() {
	w.once.Do(func() {
		close(w.done)
		_ = w.c.Close()
	})
}

func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn := &wsConn{c: c, done: make(chan struct{}), opened: time.Now()}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[conn] = true
	n := len(s.conns)
	after := s.notify(Event{Kind: EventConnected})
	s.mu.Unlock()
	after()
	_ = conn.write(map[string]any{"type": "hello", "num_connections": n, "connection_info": map[string]any{"app_id": "A0CUTOVER"},
		"debug_info": map[string]any{"host": "slackfake", "approximate_connection_time": 3600}})
	go s.pinger(conn)
	s.readAcks(conn)
	s.mu.Lock()
	delete(s.conns, conn)
	s.cond.Broadcast()
	s.mu.Unlock()
	conn.close()
}

func (s *Server) pinger(conn *wsConn) {
	t := time.NewTicker(s.opts.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-conn.done:
			return
		case <-t.C:
			conn.mu.Lock()
			err := conn.c.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(5*time.Second))
			conn.mu.Unlock()
			if err != nil {
				conn.close()
				return
			}
		}
	}
}

// readAcks records each acknowledgement with its arrival time.
func (s *Server) readAcks(conn *wsConn) {
	for {
		_, raw, err := conn.c.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(raw, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		now := time.Now()
		s.mu.Lock()
		env := s.envelopes[ack.EnvelopeID]
		s.acks = append(s.acks, Ack{EnvelopeID: ack.EnvelopeID, Sent: env.Sent, Acked: now, Payload: ack.Payload})
		after := s.notify(Event{Kind: EventAck, Text: ack.EnvelopeID})
		s.mu.Unlock()
		after()
	}
}

// ErrNotConnected says no bot holds a Socket Mode connection.
var ErrNotConnected = errors.New("slackfake: no Socket Mode connection")

// send delivers an envelope on one open connection.
func (s *Server) send(id string, env envelope) error {
	s.mu.Lock()
	var conn *wsConn
	for c := range s.conns {
		if !c.retired && (conn == nil || c.opened.After(conn.opened)) {
			conn = c
		}
	}
	env.Sent = time.Now()
	s.envelopes[id] = env
	s.mu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	msg := map[string]any{"envelope_id": id, "type": env.Type, "payload": env.Payload, "accepts_response_payload": env.Type == "slash_commands" || env.Accepts}
	if env.Retry > 0 {
		msg["retry_attempt"] = env.Retry
		msg["retry_reason"] = "timeout"
	}
	return conn.write(msg)
}

func (s *Server) newEnvelopeID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.envSeq++
	return fmt.Sprintf("env-%06d", s.envSeq)
}

// SlashCommand sends `/cutover text` as user in channel.
func (s *Server) SlashCommand(user, channel, text string) (string, error) {
	id := s.newEnvelopeID()
	rid := "r" + id
	s.mu.Lock()
	s.responses[rid] = &responseTarget{Channel: channel, User: user, Issued: s.now()}
	trig := s.issueTrigger(user)
	s.mu.Unlock()
	payload, _ := json.Marshal(map[string]any{
		"token": "verification-token-unused", "team_id": s.opts.Team, "team_domain": "nycmesh",
		"channel_id": channel, "channel_name": s.opts.Channels[channel], "user_id": user, "user_name": s.UserName(user),
		"command": "/cutover", "text": text, "api_app_id": "A0CUTOVER", "response_url": s.base + "respond/" + rid,
		"trigger_id": trig,
	})
	return id, s.send(id, envelope{Type: "slash_commands", Payload: payload})
}

// FindButton finds the newest message in a thread (threadTS "" = top level) with a
// button labelled label; it returns the message's ts and the button's action_id.
func (s *Server) FindButton(channel, threadTS, label string) (ts, actionID string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs := s.messages[channel]
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.ThreadTS != threadTS && !(threadTS != "" && m.TS == threadTS) {
			continue
		}
		if b, found := findButton(m.Blocks, func(b button) bool { return b.Text.Text == label }); found {
			return m.TS, b.ActionID, true
		}
	}
	return "", "", false
}

type button struct {
	Type     string `json:"type"`
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	Text     struct {
		Text string `json:"text"`
	} `json:"text"`
	blockID string
}

func findButton(blocks json.RawMessage, match func(button) bool) (button, bool) {
	var bs []struct {
		Type     string            `json:"type"`
		BlockID  string            `json:"block_id"`
		Elements []json.RawMessage `json:"elements"`
	}
	if json.Unmarshal(blocks, &bs) != nil {
		return button{}, false
	}
	for _, b := range bs {
		if b.Type != "actions" {
			continue
		}
		for _, raw := range b.Elements {
			var e button
			if json.Unmarshal(raw, &e) != nil {
				continue
			}
			e.blockID = b.BlockID
			if e.Type == "button" && match(e) {
				return e, true
			}
		}
	}
	return button{}, false
}

// ClickStale sends a click of a button as a client showing an old version of the
// message would: the button need not be on the message any more.
func (s *Server) ClickStale(user, channel, ts, actionID, value string) (string, error) {
	r, err := s.Render(channel, ts)
	if err != nil {
		return "", err
	}
	return s.click(user, r, button{Type: "button", ActionID: actionID, Value: value})
}

// A Rendering is a message as one Slack client shows it at one moment. A real client
// keeps showing it, buttons and all, until the bot's edit reaches it, so a second click
// on a rendering can arrive after the edit that removed its button.
type Rendering struct {
	Channel, TS, ThreadTS string
	Blocks                json.RawMessage
}

// Render returns the message ts as a client shows it now.
func (s *Server) Render(channel, ts string) (Rendering, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages[channel] {
		if m.TS == ts {
			return Rendering{Channel: channel, TS: ts, ThreadTS: m.ThreadTS, Blocks: append(json.RawMessage(nil), m.Blocks...)}, nil
		}
	}
	return Rendering{}, fmt.Errorf("slackfake: no message %s in %s", ts, channel)
}

// ClickRendering sends user's click on the button actionID of what r shows, whatever
// the message holds by now.
func (s *Server) ClickRendering(user string, r Rendering, actionID string) (string, error) {
	b, found := findButton(r.Blocks, func(b button) bool { return b.ActionID == actionID })
	if !found {
		return "", fmt.Errorf("slackfake: message %s as rendered has no button %q", r.TS, actionID)
	}
	return s.click(user, r, b)
}

// Click sends a block_actions interaction: user clicks the button actionID of the
// message ts as it is now, as Slack would deliver it.
func (s *Server) Click(user, channel, ts, actionID string) (string, error) {
	r, err := s.Render(channel, ts)
	if err != nil {
		return "", err
	}
	if _, found := findButton(r.Blocks, func(b button) bool { return b.ActionID == actionID }); !found {
		return "", fmt.Errorf("slackfake: message %s has no button %q (it may have been edited away)", ts, actionID)
	}
	return s.ClickRendering(user, r, actionID)
}

func (s *Server) click(user string, r Rendering, b button) (string, error) {
	p := s.ClickPayload(user, r.Channel, r.TS, r.ThreadTS)
	p["message"] = map[string]any{"type": "message", "ts": r.TS, "thread_ts": r.ThreadTS, "text": "", "blocks": json.RawMessage(r.Blocks)}
	p["actions"] = []map[string]any{{"type": "button", "action_id": b.ActionID, "block_id": b.blockID, "value": b.Value,
		"text": map[string]any{"type": "plain_text", "text": b.Text.Text}, "action_ts": p["action_ts"]}}
	delete(p, "action_ts")
	payload, _ := json.Marshal(p)
	return s.SendInteractive(payload)
}

// ClickPayload is the block_actions payload Slack sends for user's click on message ts
// in channel (in thread threadTS, "" for none), with a fresh response_url and trigger_id
// but no "actions" yet; its "action_ts" key is a timestamp for the action and not part
// of Slack's payload. Click fills it in; a test can instead leave it without actions or
// break it, and send it with SendInteractive.
func (s *Server) ClickPayload(user, channel, ts, threadTS string) map[string]any {
	s.mu.Lock()
	actionTS := s.nextTS()
	rid := "r" + actionTS
	s.responses[rid] = &responseTarget{Channel: channel, User: user, ThreadTS: threadTS, Issued: s.now()}
	trig := s.issueTrigger(user)
	s.mu.Unlock()
	container := map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false}
	if threadTS != "" {
		container["thread_ts"] = threadTS
	}
	return map[string]any{
		"type": "block_actions", "team": map[string]any{"id": s.opts.Team, "domain": "nycmesh"},
		"user":       map[string]any{"id": user, "username": s.UserName(user), "name": s.UserName(user), "team_id": s.opts.Team},
		"api_app_id": "A0CUTOVER", "token": "verification-token-unused", "container": container,
		"trigger_id": trig, "channel": map[string]any{"id": channel, "name": s.opts.Channels[channel]},
		"response_url": s.base + "respond/" + rid, "action_ts": actionTS,
	}
}

// SendInteractive delivers payload as it is, well-formed or not, in an interactive
// envelope, and returns the envelope's ID.
func (s *Server) SendInteractive(payload json.RawMessage) (string, error) {
	id := s.newEnvelopeID()
	return id, s.send(id, envelope{Type: "interactive", Payload: payload})
}

// Redeliver sends an envelope again with retry_attempt one higher, as Slack does when
// an ack was late.
func (s *Server) Redeliver(envelopeID string) error {
	s.mu.Lock()
	env, ok := s.envelopes[envelopeID]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("slackfake: no envelope %s", envelopeID)
	}
	env.Retry++
	return s.send(envelopeID, env)
}

// Disconnect sends Slack's `disconnect` message on every connection (the client reconnects).
func (s *Server) Disconnect() {
	conns := s.open()
	s.mu.Lock()
	for _, c := range conns {
		c.retired = true
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.write(map[string]any{"type": "disconnect", "reason": "refresh_requested", "debug_info": map[string]any{"host": "slackfake"}})
	}
}

// DropConnection closes every WebSocket abruptly, without a close frame.
func (s *Server) DropConnection() {
	for _, c := range s.open() {
		_ = c.c.UnderlyingConn().Close()
	}
}

func (s *Server) open() []*wsConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*wsConn
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// AckFor returns the acknowledgement of an envelope, if it came.
func (s *Server) AckFor(envelopeID string) (Ack, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acks {
		if a.EnvelopeID == envelopeID {
			return a, true
		}
	}
	return Ack{}, false
}
