// Package blockkit renders platform-neutral messages as Slack Block Kit, within
// Slack's limits (a section's text at most 3,000 characters, at most 50 blocks).
package blockkit

import (
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/nycmeshnet/cutoverbot/bot/message"
)

// Slack's limits that rendering respects.
const (
	MaxSectionText = 3000
	MaxBlocks      = 50
	MaxHeaderText  = 150
	MaxButtonText  = 75
	MaxFields      = 10
	MaxFieldText   = 2000
	MaxContextText = 2000
	MaxText        = 3000 // kept well under chat.postMessage's 40,000 so notifications stay readable
)

// Render returns the fallback text and the blocks of m.
func Render(m message.Message) (string, []slack.Block) {
	var blocks []slack.Block
	if m.Header != "" {
		blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, clip(m.Header, MaxHeaderText), false, false)))
	}
	for _, s := range m.Sections {
		for _, part := range split(s, MaxSectionText) {
			blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, part, false, false), nil, nil))
		}
	}
	if len(m.Fields) > 0 {
		for i := 0; i < len(m.Fields); i += MaxFields {
			end := min(i+MaxFields, len(m.Fields))
			var fs []*slack.TextBlockObject
			for _, f := range m.Fields[i:end] {
				fs = append(fs, slack.NewTextBlockObject(slack.MarkdownType, clip("*"+f.Label+"*\n"+f.Value, MaxFieldText), false, false))
			}
			blocks = append(blocks, slack.NewSectionBlock(nil, fs, nil))
		}
	}
	if m.Code != "" {
		for _, part := range split(message.Escape(m.Code), MaxSectionText-8) {
			blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "```"+part+"```", false, false), nil, nil))
		}
	}
	if len(m.Buttons) > 0 {
		var els []slack.BlockElement
		for _, b := range m.Buttons {
			btn := slack.NewButtonBlockElement(b.ActionID, b.Value, slack.NewTextBlockObject(slack.PlainTextType, clip(b.Label, MaxButtonText), false, false))
			btn.Style = slack.Style(b.Style)
			if b.Confirm != nil {
				btn.Confirm = slack.NewConfirmationBlockObject(
					slack.NewTextBlockObject(slack.PlainTextType, clip(b.Confirm.Title, 100), false, false),
					slack.NewTextBlockObject(slack.MarkdownType, clip(b.Confirm.Text, 300), false, false),
					slack.NewTextBlockObject(slack.PlainTextType, clip(b.Confirm.OK, 30), false, false),
					slack.NewTextBlockObject(slack.PlainTextType, clip(b.Confirm.Deny, 30), false, false))
			}
			els = append(els, btn)
		}
		blocks = append(blocks, slack.NewActionBlock("", els...))
	}
	if len(m.Context) > 0 {
		var els []slack.MixedElement
		for _, c := range m.Context {
			els = append(els, slack.NewTextBlockObject(slack.MarkdownType, clip(c, MaxContextText), false, false))
		}
		blocks = append(blocks, slack.NewContextBlock("", els...))
	}
	if len(blocks) > MaxBlocks {
		// Keep the head and the actions; say what was left out.
		keep := append([]slack.Block(nil), blocks[:MaxBlocks-2]...)
		keep = append(keep, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "_(shortened: the full text is in the thread as a file)_", false, false), nil, nil))
		blocks = append(keep, blocks[len(blocks)-1])
	}
	text := m.Text
	if text == "" {
		text = m.Header
	}
	return clip(text, MaxText), blocks
}

// clip shortens s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// split cuts s into pieces of at most n bytes, at line ends where it can.
func split(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := strings.LastIndex(s[:n], "\n")
		if cut <= 0 {
			cut = n
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
		}
		out = append(out, s[:cut])
		s = strings.TrimPrefix(s[cut:], "\n")
	}
	if s != "" || len(out) == 0 {
		out = append(out, s)
	}
	return out
}
