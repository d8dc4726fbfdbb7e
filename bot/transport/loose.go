package transport

import (
	"encoding/json"

	"github.com/slack-go/slack/socketmode"
)

// looseRequest reads the envelope of a Socket Mode message slack-go could not parse:
// its ID (to acknowledge it), its type and its raw payload.
func looseRequest(msg json.RawMessage) (*socketmode.Request, bool) {
	var req struct {
		EnvelopeID string          `json:"envelope_id"`
		Type       string          `json:"type"`
		Payload    json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(msg, &req) != nil || req.EnvelopeID == "" {
		return nil, false
	}
	return &socketmode.Request{EnvelopeID: req.EnvelopeID, Type: req.Type, Payload: req.Payload}, true
}

// looseInteraction reads who sent an interaction and where, field by field, so that a
// field of an unexpected shape loses only itself.
func looseInteraction(payload json.RawMessage) Unreadable {
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return Unreadable{}
	}
	str := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	}
	member := func(key, name string) string {
		var obj map[string]json.RawMessage
		if json.Unmarshal(fields[key], &obj) != nil {
			return ""
		}
		return str(obj[name])
	}
	u := Unreadable{UserID: member("user", "id"), ChannelID: member("channel", "id"), ResponseURL: str(fields["response_url"]),
		ThreadTS: member("container", "thread_ts")}
	if u.ChannelID == "" {
		u.ChannelID = member("container", "channel_id")
	}
	return u
}
