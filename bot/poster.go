// Package bot is the Slack side of cutoverbot: the Socket Mode transport
// (bot/transport), rendering (bot/blockkit) and the Poster that handlers use.
package bot

import (
	"context"

	"github.com/slack-go/slack"

	"github.com/nycmeshnet/cutoverbot/bot/blockkit"
	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/bot/transport"
)

// Poster renders neutral messages and sends them through the one rate-aware sender.
type Poster struct {
	Sender *transport.Sender
}

func (p Poster) Post(ctx context.Context, channel, threadTS string, m message.Message) (string, error) {
	text, blocks := blockkit.Render(m)
	return p.Sender.Post(ctx, channel, threadTS, text, blocks)
}

func (p Poster) Update(ctx context.Context, channel, ts string, m message.Message) error {
	text, blocks := blockkit.Render(m)
	return p.Sender.Update(ctx, channel, ts, text, blocks)
}

func (p Poster) Ephemeral(ctx context.Context, channel, user string, m message.Message) error {
	text, blocks := blockkit.Render(m)
	return p.Sender.Ephemeral(ctx, channel, user, text, blocks)
}

func (p Poster) Respond(ctx context.Context, responseURL string, m message.Message) error {
	text, blocks := blockkit.Render(m)
	return p.Sender.Respond(ctx, responseURL, text, blocks, true)
}

func (p Poster) Upload(ctx context.Context, channel, threadTS, filename, title string, content []byte) error {
	return p.Sender.Upload(ctx, channel, threadTS, filename, title, content)
}

var _ = slack.Block(nil)
