package slackfake

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// TriggerLife is how long a trigger_id can open a view: Slack gives 3 seconds from the
// click or command that carried it, and each opens at most one view.
const TriggerLife = 3 * time.Second

// Slack's limits on views that the fake enforces.
const (
	MaxViewTitle    = 24
	MaxViewBlocks   = 100
	MaxMetadata     = 3000
	MaxCallbackID   = 255
	MaxInputLabel   = 2000
	MaxInputValue   = 3000
	MaxPlaceholder  = 150
	MaxBlockIDBytes = 255
)

type trigger struct {
	user   string
	issued time.Time
	used   bool
}

// issueTrigger makes the trigger_id of a click or command; s.mu must be held.
func (s *Server) issueTrigger(user string) string {
	s.viewSeq++
	id := fmt.Sprintf("%d.%s.%06x", s.now().Unix(), s.opts.Team, s.viewSeq)
	s.triggers[id] = &trigger{user: user, issued: s.now()}
	return id
}

// View is a modal opened with views.open.
type View struct {
	ID, User, CallbackID, PrivateMetadata, Title string
	Blocks                                       json.RawMessage
	// Open is false once submitted.
	Open bool
	raw  viewJSON
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type viewJSON struct {
	Type            string            `json:"type"`
	Title           *textObject       `json:"title,omitempty"`
	Submit          *textObject       `json:"submit,omitempty"`
	Close           *textObject       `json:"close,omitempty"`
	Blocks          []json.RawMessage `json:"blocks"`
	PrivateMetadata string            `json:"private_metadata,omitempty"`
	CallbackID      string            `json:"callback_id,omitempty"`
}

type inputBlock struct {
	Type     string      `json:"type"`
	BlockID  string      `json:"block_id"`
	Optional bool        `json:"optional"`
	Label    *textObject `json:"label"`
	Text     *textObject `json:"text"`
	Element  *struct {
		Type         string      `json:"type"`
		ActionID     string      `json:"action_id"`
		MinLength    int         `json:"min_length"`
		MaxLength    int         `json:"max_length"`
		InitialValue string      `json:"initial_value"`
		Placeholder  *textObject `json:"placeholder"`
	} `json:"element"`
}

// checkView refuses what Slack refuses in a view of kind ("modal" or "home"); the
// messages are Slack's response_metadata style.
func checkView(raw, kind string) (viewJSON, []string) {
	var v viewJSON
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, []string{"[ERROR] view is not a JSON object"}
	}
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, "[ERROR] "+fmt.Sprintf(format, args...)) }
	if v.Type != kind {
		add("type must be %q, not %q [json-pointer:/view/type]", kind, v.Type)
	}
	plain := func(name string, t *textObject, required bool) {
		switch {
		case t == nil && required:
			add("missing required field: %s [json-pointer:/view/%s]", name, name)
		case t == nil:
		case t.Type != "plain_text":
			add("%s must be plain_text [json-pointer:/view/%s/type]", name, name)
		case t.Text == "" || utf8.RuneCountInString(t.Text) > MaxViewTitle:
			add("%s must be 1 to %d characters [json-pointer:/view/%s/text]", name, MaxViewTitle, name)
		}
	}
	if kind == "modal" {
		plain("title", v.Title, true)
		plain("submit", v.Submit, false)
		plain("close", v.Close, false)
	}
	if len(v.Blocks) > MaxViewBlocks {
		add("no more than %d items allowed [json-pointer:/view/blocks]", MaxViewBlocks)
	}
	if len(v.PrivateMetadata) > MaxMetadata {
		add("private_metadata must be at most %d characters [json-pointer:/view/private_metadata]", MaxMetadata)
	}
	if len(v.CallbackID) > MaxCallbackID {
		add("callback_id must be at most %d characters [json-pointer:/view/callback_id]", MaxCallbackID)
	}
	ids := map[string]bool{}
	inputs := 0
	for i, b := range v.Blocks {
		var ib inputBlock
		if json.Unmarshal(b, &ib) != nil {
			add("block %d is not an object [json-pointer:/view/blocks/%d]", i, i)
			continue
		}
		if ib.BlockID != "" {
			if ids[ib.BlockID] || len(ib.BlockID) > MaxBlockIDBytes {
				add("block_id %q is repeated or too long [json-pointer:/view/blocks/%d/block_id]", ib.BlockID, i)
			}
			ids[ib.BlockID] = true
		}
		if ib.Type == "section" && ib.Text != nil && utf8.RuneCountInString(ib.Text.Text) > MaxSectionText {
			add("must be less than %d characters [json-pointer:/view/blocks/%d/text]", MaxSectionText+1, i)
		}
		if ib.Type != "input" {
			continue
		}
		inputs++
		switch {
		case ib.Label == nil || ib.Label.Type != "plain_text" || ib.Label.Text == "" || utf8.RuneCountInString(ib.Label.Text) > MaxInputLabel:
			add("an input needs a plain_text label of 1 to %d characters [json-pointer:/view/blocks/%d/label]", MaxInputLabel, i)
		case ib.Element == nil || ib.Element.Type != "plain_text_input" || ib.Element.ActionID == "":
			add("an input needs a plain_text_input element with an action_id [json-pointer:/view/blocks/%d/element]", i)
		case ib.Element.MinLength < 0 || ib.Element.MinLength > MaxInputValue || ib.Element.MaxLength < 0 || ib.Element.MaxLength > MaxInputValue ||
			(ib.Element.MaxLength > 0 && ib.Element.MinLength > ib.Element.MaxLength):
			add("min_length and max_length must be within 0 to %d [json-pointer:/view/blocks/%d/element]", MaxInputValue, i)
		case ib.Element.Placeholder != nil && utf8.RuneCountInString(ib.Element.Placeholder.Text) > MaxPlaceholder:
			add("placeholder must be at most %d characters [json-pointer:/view/blocks/%d/element/placeholder]", MaxPlaceholder, i)
		}
	}
	if kind == "modal" && inputs > 0 && v.Submit == nil {
		add("a view with input blocks needs a submit button [json-pointer:/view/submit]")
	}
	return v, bad
}

func invalid(messages []string) map[string]any {
	r := fail("invalid_arguments")
	r["response_metadata"] = map[string]any{"messages": messages}
	return r
}

// viewsOpen serves views.open; s.mu is held.
func (s *Server) viewsOpen(p params) (map[string]any, func()) {
	t := s.triggers[p["trigger_id"]]
	switch {
	case p["trigger_id"] == "":
		return fail("invalid_arguments"), nil
	case t == nil:
		return fail("invalid_trigger_id"), nil
	case t.used:
		return fail("exchanged_trigger_id"), nil
	case s.now().Sub(t.issued) > TriggerLife:
		return fail("expired_trigger_id"), nil
	}
	v, bad := checkView(p["view"], "modal")
	if len(bad) > 0 {
		return invalid(bad), nil
	}
	t.used = true
	s.viewSeq++
	id := fmt.Sprintf("V%08d", s.viewSeq)
	blocks, _ := json.Marshal(v.Blocks)
	s.views[id] = &View{ID: id, User: t.user, CallbackID: v.CallbackID, PrivateMetadata: v.PrivateMetadata, Title: v.Title.Text, Blocks: blocks, Open: true, raw: v}
	return ok(map[string]any{"view": s.viewPayload(id, v, nil)}),
		s.notify(Event{Kind: EventViewOpen, User: t.user, TS: id, Text: v.Title.Text, Body: BlocksText(blocks)})
}

func (s *Server) viewPayload(id string, v viewJSON, state map[string]any) map[string]any {
	out := map[string]any{"id": id, "team_id": s.opts.Team, "type": v.Type, "blocks": v.Blocks, "private_metadata": v.PrivateMetadata,
		"callback_id": v.CallbackID, "hash": strconv.FormatInt(s.now().UnixNano(), 10), "app_id": "A0CUTOVER", "bot_id": "B0CUTOVER", "root_view_id": id}
	for k, t := range map[string]*textObject{"title": v.Title, "submit": v.Submit, "close": v.Close} {
		if t != nil {
			out[k] = t
		}
	}
	if state != nil {
		out["state"] = map[string]any{"values": state}
	}
	return out
}

// viewsPublish serves views.publish (the App Home tab); s.mu is held.
func (s *Server) viewsPublish(p params) (map[string]any, func()) {
	user := p["user_id"]
	if _, known := s.opts.Users[user]; !known {
		return fail("user_not_found"), nil
	}
	v, bad := checkView(p["view"], "home")
	if len(bad) > 0 {
		return invalid(bad), nil
	}
	blocks, _ := json.Marshal(v.Blocks)
	s.homes[user] = blocks
	s.viewSeq++
	return ok(map[string]any{"view": s.viewPayload(fmt.Sprintf("V%08d", s.viewSeq), v, nil)}),
		s.notify(Event{Kind: EventHome, User: user, Body: BlocksText(blocks)})
}

// Views returns the modals opened for a user, oldest first.
func (s *Server) Views(user string) []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []View
	for _, v := range s.views {
		if v.User == user {
			out = append(out, *v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Home returns the Home tab last published for a user.
func (s *Server) Home(user string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.homes[user]
	return b, ok
}

// Submit sends a view_submission as user pressing the modal's submit button with the
// inputs filled in (action_id -> text). Like Slack's client it refuses to send a
// required input left empty or a text outside the input's length limits.
func (s *Server) Submit(user, viewID string, values map[string]string) (string, error) {
	s.mu.Lock()
	v := s.views[viewID]
	if v == nil || v.User != user {
		s.mu.Unlock()
		return "", fmt.Errorf("slackfake: %s has no modal %s open", user, viewID)
	}
	if !v.Open {
		s.mu.Unlock()
		return "", fmt.Errorf("slackfake: modal %s was already submitted", viewID)
	}
	var inputs []inputBlock
	has := map[string]bool{}
	for _, b := range v.raw.Blocks {
		var ib inputBlock
		if json.Unmarshal(b, &ib) == nil && ib.Type == "input" && ib.Element != nil {
			inputs = append(inputs, ib)
			has[ib.Element.ActionID] = true
		}
	}
	for k := range values {
		if !has[k] {
			s.mu.Unlock()
			return "", fmt.Errorf("slackfake: modal %s has no input %q", viewID, k)
		}
	}
	state := map[string]any{}
	for _, ib := range inputs {
		e := ib.Element
		val, given := values[e.ActionID]
		if !given {
			val = e.InitialValue
		}
		n := utf8.RuneCountInString(val)
		switch {
		case val == "" && !ib.Optional:
			s.mu.Unlock()
			return "", fmt.Errorf("slackfake: Slack's client does not submit with the required field %q empty", ib.Label.Text)
		case val != "" && n < e.MinLength:
			s.mu.Unlock()
			return "", fmt.Errorf("slackfake: Slack's client wants at least %d characters in %q", e.MinLength, ib.Label.Text)
		case e.MaxLength > 0 && n > e.MaxLength:
			s.mu.Unlock()
			return "", fmt.Errorf("slackfake: Slack's client takes at most %d characters in %q", e.MaxLength, ib.Label.Text)
		}
		var value any = val
		if val == "" {
			value = nil // Slack sends null for an empty optional input
		}
		state[ib.BlockID] = map[string]any{e.ActionID: map[string]any{"type": e.Type, "value": value}}
	}
	v.Open = false
	trig := s.issueTrigger(user)
	view := s.viewPayload(viewID, v.raw, state)
	s.mu.Unlock()
	payload, _ := json.Marshal(map[string]any{
		"type": "view_submission", "team": map[string]any{"id": s.opts.Team, "domain": "nycmesh"},
		"user":       map[string]any{"id": user, "username": s.UserName(user), "name": s.UserName(user), "team_id": s.opts.Team},
		"api_app_id": "A0CUTOVER", "token": "verification-token-unused", "trigger_id": trig,
		"view": view, "response_urls": []any{},
	})
	id := s.newEnvelopeID()
	return id, s.send(id, envelope{Type: "interactive", Payload: payload, Accepts: true})
}

// OpenHome sends app_home_opened as user opening the app's Home tab.
func (s *Server) OpenHome(user string) (string, error) {
	s.mu.Lock()
	dm := s.dmChannel(user)
	now := s.now()
	s.mu.Unlock()
	id := s.newEnvelopeID()
	payload, _ := json.Marshal(map[string]any{
		"token": "verification-token-unused", "team_id": s.opts.Team, "api_app_id": "A0CUTOVER", "type": "event_callback",
		"event_id": "Ev" + id, "event_time": now.Unix(),
		"event": map[string]any{"type": "app_home_opened", "user": user, "channel": dm, "tab": "home",
			"event_ts": fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)},
	})
	return id, s.send(id, envelope{Type: "events_api", Payload: payload})
}

// dmChannel is the direct-message channel between the bot and user; s.mu is held.
func (s *Server) dmChannel(user string) string {
	if id, ok := s.dms[user]; ok {
		return id
	}
	id := fmt.Sprintf("D%08d", len(s.dms)+1)
	s.dms[user] = id
	return id
}

// DMs returns the bot's direct messages to user, in order.
func (s *Server) DMs(user string) []Message {
	s.mu.Lock()
	id, ok := s.dms[user]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return s.collect(id, func(*Message) bool { return true })
}
