package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Sender is the one way the bot posts: it honours 429 Retry-After, retries transient
// 5xx a few times, and coalesces edits of one message (only the newest is sent).
type Sender struct {
	api        *slack.Client
	log        *slog.Logger
	http       *http.Client
	maxRetries int
	maxWait    time.Duration

	mu      sync.Mutex
	pending map[string]*update // channel/ts -> newest edit not yet sent
	running map[string]bool

	// OnRateLimit and OnError feed the metrics.
	OnRateLimit func(wait time.Duration)
	OnError     func(method string)
}

type update struct {
	text   string
	blocks []slack.Block
	done   []chan error
}

// NewSender makes a Sender on a Web API client.
func NewSender(api *slack.Client, log *slog.Logger) *Sender {
	if log == nil {
		log = slog.Default()
	}
	return &Sender{api: api, log: log, http: &http.Client{Timeout: 30 * time.Second}, maxRetries: 5, maxWait: 2 * time.Minute,
		pending: map[string]*update{}, running: map[string]bool{}}
}

// retry runs call, waiting out rate limits and retrying transient failures.
func (s *Sender) retry(ctx context.Context, method string, call func() error) error {
	backoff := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := call()
		if err == nil {
			return nil
		}
		var rl *slack.RateLimitedError
		var sc slack.StatusCodeError
		var wait time.Duration
		switch {
		case errors.As(err, &rl):
			wait = rl.RetryAfter
			if s.OnRateLimit != nil {
				s.OnRateLimit(wait)
			}
		case errors.As(err, &sc) && sc.Code >= 500:
			wait = backoff
			backoff *= 2
		default:
			if s.OnError != nil {
				s.OnError(method)
			}
			return fmt.Errorf("%s: %w", method, err)
		}
		if attempt >= s.maxRetries || wait > s.maxWait {
			if s.OnError != nil {
				s.OnError(method)
			}
			return fmt.Errorf("%s: gave up after %d attempts: %w", method, attempt+1, err)
		}
		s.log.Info("Slack asked to wait", "method", method, "wait", wait.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Post sends a message (threadTS "" = top level) and returns its ts; extra options
// (slack.MsgOptionBroadcast) are passed on.
func (s *Sender) Post(ctx context.Context, channel, threadTS, text string, blocks []slack.Block, extra ...slack.MsgOption) (string, error) {
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	opts = append(opts, extra...)
	var ts string
	err := s.retry(ctx, "chat.postMessage", func() error {
		var err error
		_, ts, err = s.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	return ts, err
}

// Update edits a message. Edits of one message are coalesced: while one is in flight,
// later ones replace each other and only the newest is sent.
func (s *Sender) Update(ctx context.Context, channel, ts, text string, blocks []slack.Block) error {
	key := channel + "/" + ts
	done := make(chan error, 1)
	s.mu.Lock()
	if p := s.pending[key]; p != nil {
		p.text, p.blocks = text, blocks
		p.done = append(p.done, done)
	} else {
		s.pending[key] = &update{text: text, blocks: blocks, done: []chan error{done}}
	}
	if !s.running[key] {
		s.running[key] = true
		go s.flush(context.WithoutCancel(ctx), channel, ts, key)
	}
	s.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sender) flush(ctx context.Context, channel, ts, key string) {
	for {
		s.mu.Lock()
		u := s.pending[key]
		delete(s.pending, key)
		if u == nil {
			delete(s.running, key)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err := s.retry(cctx, "chat.update", func() error {
			_, _, _, err := s.api.UpdateMessageContext(cctx, channel, ts, slack.MsgOptionText(u.text, false), slack.MsgOptionBlocks(u.blocks...))
			return err
		})
		cancel()
		for _, d := range u.done {
			d <- err
		}
	}
}

// Ephemeral sends a message only user sees, in a thread when threadTS is set.
func (s *Sender) Ephemeral(ctx context.Context, channel, threadTS, user, text string, blocks []slack.Block) error {
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	return s.retry(ctx, "chat.postEphemeral", func() error {
		_, err := s.api.PostEphemeralContext(ctx, channel, user, opts...)
		return err
	})
}

// OpenView opens a modal with a click's trigger_id and returns the view's ID. It is
// not retried: a trigger opens one view, within 3 seconds of the click.
func (s *Sender) OpenView(ctx context.Context, triggerID string, view slack.ModalViewRequest) (string, error) {
	resp, err := s.api.OpenViewContext(ctx, triggerID, view)
	if err != nil {
		if s.OnError != nil {
			s.OnError("views.open")
		}
		return "", fmt.Errorf("views.open: %w", err)
	}
	return resp.View.ID, nil
}

// PublishHome shows view as user's Home tab of the app.
func (s *Sender) PublishHome(ctx context.Context, user string, view slack.HomeTabViewRequest) error {
	return s.retry(ctx, "views.publish", func() error {
		_, err := s.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view})
		return err
	})
}

// OpenDM returns the direct-message channel between the bot and user.
func (s *Sender) OpenDM(ctx context.Context, user string) (string, error) {
	var id string
	err := s.retry(ctx, "conversations.open", func() error {
		ch, _, _, err := s.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
		if err == nil {
			id = ch.ID
		}
		return err
	})
	return id, err
}

// Upload shares content as a file in a thread (files.getUploadURLExternal, the
// upload, files.completeUploadExternal).
func (s *Sender) Upload(ctx context.Context, channel, threadTS, filename, title string, content []byte) error {
	if len(content) == 0 {
		content = []byte("(empty)")
	}
	return s.retry(ctx, "files.upload", func() error {
		_, err := s.api.UploadFileContext(ctx, slack.UploadFileParameters{
			Filename: filename, Title: title, Reader: bytes.NewReader(content), FileSize: len(content),
			Channel: channel, ThreadTimestamp: threadTS,
		})
		return err
	})
}

// Respond answers a command or click through its response_url, privately.
func (s *Sender) Respond(ctx context.Context, responseURL, text string, blocks []slack.Block, ephemeral bool) error {
	body := map[string]any{"text": text, "blocks": blocks, "replace_original": false}
	if ephemeral {
		body["response_type"] = "ephemeral"
	} else {
		body["response_type"] = "in_channel"
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return s.retry(ctx, "response_url", func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(raw))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			return &slack.RateLimitedError{RetryAfter: time.Second}
		}
		if resp.StatusCode >= 500 {
			return slack.StatusCodeError{Code: resp.StatusCode, Status: resp.Status}
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("response_url answered %s", resp.Status)
		}
		return nil
	})
}
