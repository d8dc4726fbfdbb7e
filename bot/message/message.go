// Package message is the platform-neutral shape of what the bot says: handlers build
// Messages, and bot/blockkit renders them for Slack.
package message

import "strings"

// Message is one post or edit.
type Message struct {
	// Text is the notification and fallback text; it is also shown when there are no blocks.
	Text string
	// Header is a large title line.
	Header string
	// Sections are paragraphs of mrkdwn text.
	Sections []string
	// Fields are short label/value pairs shown two abreast.
	Fields []Field
	// Code is preformatted text (a plan, a log tail).
	Code string
	// Buttons are the actions, in order.
	Buttons []Button
	// Context is small grey text at the bottom (who decided, when, run ID, the exact
	// commands folded under a prompt).
	Context []string
	// Broadcast also shows a reply in a thread in the channel itself, for the few
	// messages everyone must see.
	Broadcast bool
}

// Modal is a dialog that asks for words (a reason) before a decision is taken.
type Modal struct {
	Title  string // at most 24 characters
	Submit string
	Close  string
	// CallbackID says what the submission is for; Metadata carries what it applies to
	// (run, step, attempt), back with the submission.
	CallbackID string
	Metadata   string
	Sections   []string
	Inputs     []Input
	Context    []string
}

// Input is one text field of a modal.
type Input struct {
	ID          string // the field's block and action ID; its value comes back under it
	Label       string
	Placeholder string
	Hint        string
	Multiline   bool
	Optional    bool
	MinLength   int
	MaxLength   int
}

// Field is a label and its value.
type Field struct {
	Label string
	Value string
}

// Style colours a button.
type Style string

const (
	Default Style = ""
	Primary Style = "primary"
	Danger  Style = "danger"
)

// Button is one action. ActionID says what it does; Value says to which run, step and
// attempt, so a stale click can be recognised.
type Button struct {
	Label    string
	ActionID string
	Value    string
	Style    Style
	Confirm  *Confirm
}

// Confirm asks "are you sure?" before the click is sent.
type Confirm struct {
	Title string
	Text  string
	OK    string
	Deny  string
}

// Escape makes text safe for Slack mrkdwn: &, < and > would otherwise start entities,
// links or mentions (a "<run>" placeholder in a command would vanish).
func Escape(s string) string {
	return escaper.Replace(s)
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
