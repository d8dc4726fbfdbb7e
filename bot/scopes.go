package bot

import (
	"fmt"
	"sort"
)

// MethodScopes maps every Slack Web API method the bot calls to the bot-token scopes
// it needs (Slack's "Required scopes" of each method). The app manifest
// (deploy/slack-app-manifest.yaml) must grant exactly these plus FeatureScopes: the
// end-to-end tests collect every method the bot called and check it.
var MethodScopes = map[string][]string{
	"auth.test": nil,
	// Socket Mode uses the app-level token, whose connections:write is not a bot scope.
	"apps.connections.open": nil,
	"chat.postMessage":      {"chat:write"},
	"chat.update":           {"chat:write"},
	"chat.postEphemeral":    {"chat:write"},
	// `check` reads the channel: channels:read for a public one, groups:read for a
	// private one. The manifest cannot know which, so it asks for both.
	"conversations.info": {"channels:read", "groups:read"},
	// slack.notify: dm opens a direct message with each approver.
	"conversations.open":           {"im:write"},
	"usergroups.users.list":        {"usergroups:read"},
	"files.getUploadURLExternal":   {"files:write"},
	"files.completeUploadExternal": {"files:write"},
	// Modals and the Home tab need no scope, only a trigger_id or the user.
	"views.open":    nil,
	"views.publish": nil,
}

// FeatureScopes are the scopes of what Slack sends the bot rather than what it calls.
var FeatureScopes = map[string][]string{
	"the /cutover slash command": {"commands"},
	"the app_home_opened event":  nil,
}

// ScopesFor returns the scopes the methods need, sorted, with the features' scopes; a
// method missing from MethodScopes is an error, so that a new call cannot slip past
// the manifest.
func ScopesFor(methods []string) ([]string, error) {
	set := map[string]bool{}
	for _, scopes := range FeatureScopes {
		for _, s := range scopes {
			set[s] = true
		}
	}
	var unknown []string
	for _, m := range methods {
		scopes, ok := MethodScopes[m]
		if !ok {
			unknown = append(unknown, m)
			continue
		}
		for _, s := range scopes {
			set[s] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return out, fmt.Errorf("the bot called %v, which bot.MethodScopes does not list: add each with the scope Slack requires", unknown)
	}
	return out, nil
}
