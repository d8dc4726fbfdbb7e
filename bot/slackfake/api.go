package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Slack's limits the fake enforces.
const (
	MaxText        = 40000
	MaxBlocks      = 50
	MaxSectionText = 3000
	// MaxActions is how many elements an actions block holds.
	MaxActions = 25
)

type params map[string]string

func readParams(r *http.Request) (params, string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, "", err
	}
	p := params{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		if len(body) > 0 {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				return nil, string(body), fmt.Errorf("invalid_json")
			}
			for k, v := range m {
				if s, ok := v.(string); ok {
					p[k] = s
				} else {
					raw, _ := json.Marshal(v)
					p[k] = string(raw)
				}
			}
		}
	default:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, string(body), fmt.Errorf("invalid_form_data")
		}
		for k := range vals {
			p[k] = vals.Get(k)
		}
	}
	for k, v := range r.URL.Query() {
		if _, ok := p[k]; !ok && len(v) > 0 {
			p[k] = v[0]
		}
	}
	return p, string(body), nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	p, body, perr := readParams(r)
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = p["token"]
	}
	s.mu.Lock()
	s.tokensSeen = append(s.tokensSeen, r.URL.String(), redactTokenField(body))
	call := Call{Method: method, At: time.Now(), Status: http.StatusOK}
	if f := s.faults[method]; f != nil && f.n > 0 {
		f.n--
		call.Status = f.status
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		if f.status == 0 {
			cut(w)
			return
		}
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
		}
		http.Error(w, http.StatusText(f.status), f.status)
		return
	}
	s.mu.Unlock()

	var resp map[string]any
	var after func()
	switch {
	case perr != nil:
		resp = fail(perr.Error())
	case method == "apps.connections.open":
		// Slack tells a token of the wrong kind (the bot token here) from a wrong one.
		if token == s.opts.BotToken {
			resp = fail("not_allowed_token_type")
			break
		}
		if token != s.opts.AppToken || !strings.HasPrefix(token, "xapp-") {
			resp = fail("invalid_auth")
			break
		}
		resp = ok(map[string]any{"url": "ws://" + s.listener.Addr().String() + "/ws/" + strconv.FormatInt(time.Now().UnixNano(), 36)})
	case token == s.opts.AppToken && token != s.opts.BotToken:
		// The app-level token opens Socket Mode and calls no other method.
		resp = fail("not_allowed_token_type")
	case token != s.opts.BotToken:
		resp = fail("invalid_auth")
	default:
		if resp = s.missingScope(method, p); resp == nil {
			resp, after = s.method(method, p)
		}
	}
	s.mu.Lock()
	if e, _ := resp["error"].(string); e != "" {
		call.Error = e
	}
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	writeJSON(w, resp)
	if after != nil {
		after()
	}
}

// cut closes the request's connection without a response.
func cut(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http drops the connection
}

// redactTokenField keeps bodies inspectable without the one field that must hold a token.
func redactTokenField(body string) string {
	vals, err := url.ParseQuery(body)
	if err != nil || !vals.Has("token") {
		return body
	}
	vals.Del("token")
	return vals.Encode()
}

func ok(extra map[string]any) map[string]any {
	out := map[string]any{"ok": true}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func fail(code string) map[string]any { return map[string]any{"ok": false, "error": code} }

// checkContent refuses what Slack refuses in a message.
func checkContent(p params) string {
	text, blocks := p["text"], p["blocks"]
	if text == "" && (blocks == "" || blocks == "[]" || blocks == "null") {
		return "no_text"
	}
	if len(text) > MaxText {
		return "msg_too_long"
	}
	if blocks != "" {
		var bs []map[string]any
		if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
			return "invalid_blocks_format"
		}
		if len(bs) > MaxBlocks {
			return "invalid_blocks"
		}
		for _, b := range bs {
			if b["type"] == "section" {
				if t, ok := b["text"].(map[string]any); ok {
					if s, _ := t["text"].(string); len([]rune(s)) > MaxSectionText {
						return "invalid_blocks"
					}
				}
			}
			if b["type"] == "actions" && !validActions(b) {
				return "invalid_blocks"
			}
		}
	}
	return ""
}

// validActions says whether Slack takes an actions block: at most MaxActions
// elements, and no action_id twice in it (Slack answers invalid_blocks, "`action_id`
// already exists", for the whole message).
func validActions(b map[string]any) bool {
	els, _ := b["elements"].([]any)
	if len(els) > MaxActions {
		return false
	}
	seen := map[string]bool{}
	for _, e := range els {
		el, _ := e.(map[string]any)
		id, _ := el["action_id"].(string)
		if id == "" {
			continue // Slack makes one up
		}
		if seen[id] {
			return false
		}
		seen[id] = true
	}
	return true
}

// reach says whether the bot can see channel (a known channel or one of its DMs) and,
// when it cannot, Slack's error. A private channel the bot is not in does not exist
// for it; a public one can be read but not posted in.
func (s *Server) reach(channel string, post bool) string {
	for _, id := range s.dms {
		if id == channel {
			return ""
		}
	}
	if _, known := s.opts.Channels[channel]; !known {
		return "channel_not_found"
	}
	if slices.Contains(s.opts.Outside, channel) {
		if slices.Contains(s.opts.Private, channel) {
			return "channel_not_found"
		}
		if post {
			return "not_in_channel"
		}
	}
	return ""
}

func (s *Server) method(method string, p params) (map[string]any, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	channel := p["channel"]
	switch method {
	case "auth.test":
		return ok(map[string]any{"url": s.base, "team": "NYC Mesh", "user": "cutoverbot", "team_id": s.opts.Team, "user_id": s.opts.BotUser, "bot_id": "B0CUTOVER"}), nil
	case "chat.postMessage":
		if e := s.reach(channel, true); e != "" {
			return fail(e), nil
		}
		if e := checkContent(p); e != "" {
			return fail(e), nil
		}
		thread := p["thread_ts"]
		if thread != "" && !s.has(channel, thread) {
			return fail("thread_not_found"), nil
		}
		// reply_broadcast means something only for a reply in a thread.
		broadcast := thread != "" && p["reply_broadcast"] == "true"
		m := &Message{TS: s.nextTS(), ThreadTS: thread, User: s.opts.BotUser, Text: p["text"], Blocks: json.RawMessage(orNull(p["blocks"])), Broadcast: broadcast}
		m.Notified = s.notified(channel, m.Text, m.Blocks)
		s.messages[channel] = append(s.messages[channel], m)
		return ok(map[string]any{"channel": channel, "ts": m.TS, "message": map[string]any{"ts": m.TS, "text": m.Text}}),
			s.notify(Event{Kind: EventPosted, Channel: channel, TS: m.TS, ThreadTS: thread, Text: m.Text, Body: BlocksText(m.Blocks), Broadcast: broadcast})
	case "chat.update":
		if e := s.reach(channel, true); e != "" {
			return fail(e), nil
		}
		if e := checkContent(p); e != "" {
			return fail(e), nil
		}
		for _, m := range s.messages[channel] {
			if m.TS == p["ts"] {
				m.Text, m.Blocks = p["text"], json.RawMessage(orNull(p["blocks"]))
				m.Edits++
				return ok(map[string]any{"channel": channel, "ts": m.TS, "text": m.Text}),
					s.notify(Event{Kind: EventUpdated, Channel: channel, TS: m.TS, ThreadTS: m.ThreadTS, Text: m.Text, Body: BlocksText(m.Blocks)})
			}
		}
		return fail("message_not_found"), nil
	case "chat.postEphemeral":
		if e := s.reach(channel, true); e != "" {
			return fail(e), nil
		}
		if _, known := s.opts.Users[p["user"]]; !known {
			return fail("user_not_in_channel"), nil
		}
		if e := checkContent(p); e != "" {
			return fail(e), nil
		}
		e := Ephemeral{Channel: channel, User: p["user"], ThreadTS: p["thread_ts"], Text: p["text"], Blocks: json.RawMessage(orNull(p["blocks"]))}
		s.ephemerals = append(s.ephemerals, e)
		return ok(map[string]any{"message_ts": s.nextTS()}), s.notify(Event{Kind: EventEphemeral, Channel: channel, ThreadTS: e.ThreadTS, User: e.User, Text: e.Text})
	case "users.info":
		name, known := s.opts.Users[p["user"]]
		if !known {
			return fail("user_not_found"), nil
		}
		return ok(map[string]any{"user": map[string]any{"id": p["user"], "name": name, "real_name": name}}), nil
	case "usergroups.users.list":
		members, known := s.opts.Groups[p["usergroup"]]
		if !known {
			return fail("no_such_subteam"), nil
		}
		return ok(map[string]any{"users": members}), nil
	case "conversations.info":
		if e := s.reach(channel, false); e != "" {
			return fail(e), nil
		}
		name := s.opts.Channels[channel]
		return ok(map[string]any{"channel": map[string]any{"id": channel, "name": name, "is_channel": !strings.HasPrefix(channel, "D"),
			"is_private": slices.Contains(s.opts.Private, channel), "is_member": !slices.Contains(s.opts.Outside, channel)}}), nil
	case "conversations.open":
		users := strings.Split(p["users"], ",")
		if p["users"] == "" || len(users) != 1 {
			return fail("invalid_arguments"), nil // the bot opens one-to-one DMs only
		}
		if _, known := s.opts.Users[users[0]]; !known {
			return fail("user_not_found"), nil
		}
		return ok(map[string]any{"channel": map[string]any{"id": s.dmChannel(users[0]), "is_im": true, "user": users[0]}}), nil
	case "views.open":
		return s.viewsOpen(p)
	case "views.publish":
		return s.viewsPublish(p)
	case "files.getUploadURLExternal":
		n, err := strconv.Atoi(p["length"])
		if p["filename"] == "" || err != nil || n <= 0 {
			return fail("invalid_arguments"), nil
		}
		s.fileSeq++
		id := fmt.Sprintf("F%06d", s.fileSeq)
		s.files[id] = &File{ID: id, Name: p["filename"]}
		return ok(map[string]any{"upload_url": s.base + "upload/" + id, "file_id": id}), nil
	case "files.completeUploadExternal":
		var list []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal([]byte(p["files"]), &list); err != nil || len(list) == 0 {
			return fail("invalid_arguments"), nil
		}
		ch := p["channel_id"]
		if e := s.reach(ch, true); e != "" {
			return fail(e), nil
		}
		var out []map[string]any
		var notes []func()
		for _, x := range list {
			f := s.files[x.ID]
			if f == nil || f.Content == nil {
				return fail("file_not_found"), nil
			}
			f.Title, f.Channel, f.ThreadTS = x.Title, ch, p["thread_ts"]
			out = append(out, map[string]any{"id": f.ID, "title": f.Title})
			notes = append(notes, s.notify(Event{Kind: EventFile, Channel: ch, ThreadTS: f.ThreadTS, Text: f.Name + " (" + strconv.Itoa(len(f.Content)) + " bytes)"}))
		}
		return ok(map[string]any{"files": out}), func() {
			for _, n := range notes {
				n()
			}
		}
	}
	return fail("unknown_method"), nil
}

func (s *Server) has(channel, ts string) bool {
	for _, m := range s.messages[channel] {
		if m.TS == ts {
			return true
		}
	}
	return false
}

func orNull(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	if strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") != s.opts.BotToken {
		http.Error(w, "invalid_auth", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	if f := s.faults["upload"]; f != nil && f.n > 0 {
		f.n--
		s.calls = append(s.calls, Call{Method: "upload", At: time.Now(), Status: f.status})
		s.mu.Unlock()
		http.Error(w, "upload failed", f.status)
		return
	}
	f := s.files[id]
	s.mu.Unlock()
	if f == nil {
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	var content []byte
	if mr, err := r.MultipartReader(); err == nil {
		for {
			part, err := mr.NextPart()
			if err != nil {
				break
			}
			if part.FormName() == "file" {
				content, _ = io.ReadAll(part)
			}
		}
	} else {
		content, _ = io.ReadAll(r.Body)
	}
	s.mu.Lock()
	f.Content = content
	s.calls = append(s.calls, Call{Method: "upload", At: time.Now(), Status: 200})
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "OK - "+strconv.Itoa(len(content)))
}

// respond serves response_url: ephemeral (or in-channel) replies to a command or click.
func (s *Server) respond(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/respond/")
	var body struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.tokensSeen = append(s.tokensSeen, string(raw))
	target, known := s.responses[id]
	switch {
	case !known || s.now().Sub(target.Issued) > ResponseURLLife:
		s.mu.Unlock()
		http.Error(w, "expired_url", http.StatusNotFound)
		return
	case target.Uses >= ResponseURLUses:
		s.mu.Unlock()
		http.Error(w, "used_url", http.StatusNotFound)
		return
	case len(body.Text) > MaxText:
		s.mu.Unlock()
		http.Error(w, "msg_too_long", http.StatusBadRequest)
		return
	}
	target.Uses++
	// A response answers where the command or click happened: in its thread, if any.
	var after func()
	if body.ResponseType == "in_channel" {
		m := &Message{TS: s.nextTS(), ThreadTS: target.ThreadTS, User: s.opts.BotUser, Text: body.Text, Blocks: body.Blocks}
		s.messages[target.Channel] = append(s.messages[target.Channel], m)
		after = s.notify(Event{Kind: EventPosted, Channel: target.Channel, TS: m.TS, ThreadTS: m.ThreadTS, Text: m.Text, Body: BlocksText(m.Blocks)})
	} else {
		s.ephemerals = append(s.ephemerals, Ephemeral{Channel: target.Channel, User: target.User, ThreadTS: target.ThreadTS, Text: body.Text, Blocks: body.Blocks, ViaResponseURL: true})
		after = s.notify(Event{Kind: EventEphemeral, Channel: target.Channel, ThreadTS: target.ThreadTS, User: target.User, Text: body.Text})
	}
	s.mu.Unlock()
	after()
	_, _ = io.WriteString(w, "ok")
}
