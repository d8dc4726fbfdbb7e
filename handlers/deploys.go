package handlers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// Deploy is a run of MeshDB's deploy workflow that started during a cutover.
type Deploy struct {
	ID       int64
	Workflow string
	URL      string
	SHA      string
	// Status and Conclusion are GitHub's (in_progress; completed and success, ...),
	// worded here.
	Status, Conclusion string
}

// State is the deploy's state in words.
func (d Deploy) State() string { return say("github/run_state", d) }

// DeployNote is the run note under which a deploy seen during the run is kept: the
// report is made once, and every later prompt shows it.
func DeployNote(id int64) string { return fmt.Sprintf("deploy/%d", id) }

const deployNotePrefix = "deploy/"

// DeployStarted reports a MeshDB deploy that started during the active run: at once in
// its thread, mentioning the initiator, and on the pending prompt and every later one.
// A Helm deploy puts the replica counts back to the chart's, undoing the cutover's
// scaling. A deploy already reported, or a run no longer active, changes nothing.
func (h *Handler) DeployStarted(ctx context.Context, runID string, d Deploy) {
	r := h.opts.Engine.Active()
	if r == nil || r.ID != runID || r.State != engine.Active || r.Note(DeployNote(d.ID)) != "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.PostTimeout)
	defer cancel()
	thread := h.headerTS(r)
	mention := ""
	if h.cfg().Slack.Notify.Has(config.NotifyMention) {
		mention = MentionLine(h.cfg().Slack.Maintainers, r.Initiator, nil)
	}
	m := DeployReport(r, d, mention)
	m.Broadcast = h.cfg().Slack.Notify.Has(config.NotifyBroadcast) // it concerns everyone watching
	if _, err := h.opts.Poster.Post(ctx, h.channel(), thread, m); err != nil {
		h.opts.Logger.Error("could not report a deploy in Slack", "run", r.ID, "err", err)
		return // not noted: the next look reports it again
	}
	h.note(ctx, r, DeployNote(d.ID), deployLine(d))
	if s := r.CurrentStep(); s != nil && s.State == engine.Awaiting {
		h.showCurrent(ctx, r, true) // the pending prompt shows it too
	}
}

func deployLine(d Deploy) string {
	return fmt.Sprintf("%s of %s (%s)", d.URL, shortSHA(d.SHA), d.State())
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// DeployReport is the thread's message about a deploy during the run: it names the
// run's initiator, who drives it, and mention (the approvers, "" for none).
func DeployReport(r *engine.Run, d Deploy, mention string) message.Message {
	name := d.Workflow
	if name == "" {
		name = "deploy"
	}
	who := "<@" + r.Initiator + ">"
	if mention != "" {
		who += " " + mention
	}
	text := fmt.Sprintf("⚠️ MeshDB is being deployed during this cutover: the %s run %s of %s is %s. A Helm deploy puts the celery and meshweb replica counts back to the chart's, undoing this run's scaling: check them in both clusters before approving the next step.",
		message.Escape(name), message.Escape(d.URL), shortSHA(d.SHA), message.Escape(d.State()))
	return message.Message{Text: text + " · " + who, Sections: []string{text, "👉 " + who + ": check the replica counts"}}
}

// deployWarnings are the deploys noted during the run, for prompts.
func deployWarnings(r *engine.Run) []string {
	var keys []string
	for k := range r.Notes {
		if strings.HasPrefix(k, deployNotePrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("⚠️ MeshDB was deployed during this run (%s): Helm may have reset the replica counts this run set; check them before approving.", message.Escape(r.Notes[k])))
	}
	return out
}
