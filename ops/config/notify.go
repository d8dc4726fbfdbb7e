package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// How approvers hear of a prompt (slack.notify). A reply in a thread notifies only
// those following it, and the run's initiator, who follows it, is the one person who
// cannot approve.
const (
	// NotifyMention names the approvers (the user group, or the listed maintainers
	// other than the initiator) in each prompt, failure and reminder.
	NotifyMention = "mention"
	// NotifyBroadcast also shows in the channel the run's first prompt and any prompt
	// that has waited past half of approval_timeout (reply_broadcast).
	NotifyBroadcast = "broadcast"
	// NotifyDM sends each approver a direct message linking to the prompt.
	NotifyDM = "dm"
)

// NotifyModes are every value slack.notify takes.
var NotifyModes = []string{NotifyMention, NotifyBroadcast, NotifyDM}

// DefaultNotify mentions the approvers and broadcasts the first prompt.
var DefaultNotify = Notify{NotifyMention, NotifyBroadcast}

// Notify is slack.notify: a list of modes, or one mode written as a string.
type Notify []string

// UnmarshalYAML takes `notify: dm` as well as `notify: [mention, broadcast]`.
func (n *Notify) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode {
		if v.Value == "" {
			*n = Notify{}
			return nil
		}
		*n = Notify{v.Value}
		return nil
	}
	var list []string
	if err := v.Decode(&list); err != nil {
		return err
	}
	if list == nil {
		list = []string{}
	}
	*n = list
	return nil
}

// Has reports whether mode is on.
func (n Notify) Has(mode string) bool { return slices.Contains(n, mode) }

func (v *validator) notify(s *Slack) {
	seen := map[string]bool{}
	for i, m := range s.Notify {
		p := fmt.Sprintf("slack.notify[%d]", i)
		if !slices.Contains(NotifyModes, m) {
			v.crit(p, "%q is not one of %s", m, strings.Join(NotifyModes, ", "))
		}
		if seen[m] {
			v.warn(p, "%s is listed twice", m)
		}
		seen[m] = true
	}
	if len(s.Notify) == 0 {
		v.warn("slack.notify", "is empty: approvers hear of a prompt only if they follow the run's thread")
	}
	if s.Notify.Has(NotifyBroadcast) && s.ReminderEvery.Duration > s.ApprovalTimeout.Duration/2 && s.ReminderEvery.Duration < s.ApprovalTimeout.Duration {
		v.warn("slack.notify", "a prompt waiting past half of approval_timeout is broadcast with the next reminder, due only after %s (slack.reminder_every)", s.ReminderEvery.Duration)
	}
}
