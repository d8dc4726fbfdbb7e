// Package bot is the Slack side of cutoverbot: the Socket Mode transport
// (bot/transport), rendering (bot/blockkit), the Poster that handlers use, and the
// table of the Web API methods the bot calls with the scope each needs (scopes.go).
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
	var extra []slack.MsgOption
	if m.Broadcast && threadTS != "" {
		extra = append(extra, slack.MsgOptionBroadcast())
	}
	return p.Sender.Post(ctx, channel, threadTS, text, blocks, extra...)
}

func (p Poster) Update(ctx context.Context, channel, ts string, m message.Message) error {
	text, blocks := blockkit.Render(m)
	return p.Sender.Update(ctx, channel, ts, text, blocks)
}

func (p Poster) Ephemeral(ctx context.Context, channel, threadTS, user string, m message.Message) error {
	text, blocks := blockkit.Render(m)
	return p.Sender.Ephemeral(ctx, channel, threadTS, user, text, blocks)
}

func (p Poster) Respond(ctx context.Context, responseURL string, m message.Message) error {
	text, blocks := blockkit.Render(m)
	return p.Sender.Respond(ctx, responseURL, text, blocks, true)
}

func (p Poster) Upload(ctx context.Context, channel, threadTS, filename, title string, content []byte) error {
	return p.Sender.Upload(ctx, channel, threadTS, filename, title, content)
}

// OpenModal opens m for the person whose click carried triggerID.
func (p Poster) OpenModal(ctx context.Context, triggerID string, m message.Modal) error {
	_, err := p.Sender.OpenView(ctx, triggerID, blockkit.RenderModal(m))
	return err
}

// PublishHome shows m as user's Home tab of the app.
func (p Poster) PublishHome(ctx context.Context, user string, m message.Message) error {
	return p.Sender.PublishHome(ctx, user, blockkit.RenderHome(m))
}

// DirectMessage sends m to user alone, in the bot's DM with them.
func (p Poster) DirectMessage(ctx context.Context, user string, m message.Message) error {
	ch, err := p.Sender.OpenDM(ctx, user)
	if err != nil {
		return err
	}
	_, err = p.Post(ctx, ch, "", m)
	return err
}
