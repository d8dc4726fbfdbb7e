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
	MaxContextEls  = 10
	MaxViewTitle   = 24
	MaxViewBlocks  = 100
	MaxMetadata    = 3000
	MaxInputLabel  = 2000
	MaxPlaceholder = 150
	MaxInputValue  = 3000
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
	blocks = append(blocks, contextBlocks(m.Context)...)
	if len(blocks) > MaxBlocks {
		// Keep the head and the actions; say what was left out.
		var actions []slack.Block
		for _, b := range blocks {
			if _, ok := b.(*slack.ActionBlock); ok {
				actions = append(actions, b)
			}
		}
		keep := append([]slack.Block(nil), blocks[:MaxBlocks-1-len(actions)]...)
		keep = append(keep, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "_(shortened: the full text is in the thread as a file)_", false, false), nil, nil))
		blocks = append(keep, actions...)
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

// contextBlocks renders lines of small text, ten to a block as Slack allows.
func contextBlocks(lines []string) []slack.Block {
	var out []slack.Block
	for i := 0; i < len(lines); i += MaxContextEls {
		var els []slack.MixedElement
		for _, c := range lines[i:min(i+MaxContextEls, len(lines))] {
			els = append(els, slack.NewTextBlockObject(slack.MarkdownType, clip(c, MaxContextText), false, false))
		}
		out = append(out, slack.NewContextBlock("", els...))
	}
	return out
}

// RenderModal returns the view of a modal. Metadata longer than Slack keeps is a bug
// of the caller, not something to cut: it is passed on and Slack refuses it.
func RenderModal(m message.Modal) slack.ModalViewRequest {
	plain := func(s string, n int) *slack.TextBlockObject {
		if s == "" {
			return nil
		}
		return slack.NewTextBlockObject(slack.PlainTextType, clip(s, n), false, false)
	}
	var blocks []slack.Block
	for _, s := range m.Sections {
		for _, part := range split(s, MaxSectionText) {
			blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, part, false, false), nil, nil))
		}
	}
	for _, in := range m.Inputs {
		el := slack.NewPlainTextInputBlockElement(plain(in.Placeholder, MaxPlaceholder), in.ID)
		el.Multiline = in.Multiline
		el.MinLength = in.MinLength
		el.MaxLength = in.MaxLength
		if el.MaxLength == 0 {
			el.MaxLength = MaxInputValue
		}
		b := slack.NewInputBlock(in.ID, plain(in.Label, MaxInputLabel), plain(in.Hint, MaxPlaceholder), el)
		b.Optional = in.Optional
		blocks = append(blocks, b)
	}
	blocks = append(blocks, contextBlocks(m.Context)...)
	if len(blocks) > MaxViewBlocks {
		blocks = blocks[:MaxViewBlocks]
	}
	return slack.ModalViewRequest{Type: slack.VTModal, Title: plain(m.Title, MaxViewTitle), Submit: plain(m.Submit, MaxViewTitle),
		Close: plain(m.Close, MaxViewTitle), CallbackID: m.CallbackID, PrivateMetadata: m.Metadata, Blocks: slack.Blocks{BlockSet: blocks}}
}

// RenderHome returns the App Home tab showing m.
func RenderHome(m message.Message) slack.HomeTabViewRequest {
	_, blocks := Render(m)
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}
