package slackfake

import (
	"slices"
	"strings"
)

// methodScopes is what Slack asks of a bot token for each Web API method the fake
// serves (docs.slack.dev, each method's "Required scopes"). "" means none. This is
// Slack's rule, kept apart from the bot's own table (bot.MethodScopes) so that a wrong
// entry there shows up as missing_scope here.
var methodScopes = map[string]string{
	"auth.test":                    "",
	"chat.postMessage":             "chat:write",
	"chat.update":                  "chat:write",
	"chat.postEphemeral":           "chat:write",
	"users.info":                   "users:read",
	"usergroups.users.list":        "usergroups:read",
	"conversations.open":           "im:write",
	"files.getUploadURLExternal":   "files:write",
	"files.completeUploadExternal": "files:write",
	"views.open":                   "",
	"views.publish":                "",
	// conversations.info depends on the conversation: see scopeFor.
}

// scopeFor is the scope method needs with these parameters, and whether the fake
// knows the method.
func (s *Server) scopeFor(method string, p params) (string, bool) {
	if method == "conversations.info" {
		switch ch := p["channel"]; {
		case strings.HasPrefix(ch, "D"):
			return "im:read", true
		case slices.Contains(s.opts.Private, ch):
			return "groups:read", true
		default:
			return "channels:read", true
		}
	}
	scope, known := methodScopes[method]
	return scope, known
}

// missingScope answers as Slack does when the token lacks a scope: which one is
// needed and which the token has.
func (s *Server) missingScope(method string, p params) map[string]any {
	if s.opts.Scopes == nil {
		return nil
	}
	need, known := s.scopeFor(method, p)
	if !known || need == "" || slices.Contains(s.opts.Scopes, need) {
		return nil
	}
	r := fail("missing_scope")
	r["needed"] = need
	r["provided"] = strings.Join(s.opts.Scopes, ",")
	return r
}
