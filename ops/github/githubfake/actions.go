package githubfake

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Workflow is a GitHub Actions workflow that runs on every push to Branch, as
// `on: push: branches: [Branch]` makes it: merges and direct pushes alike. Each run
// has head_sha the pushed commit, appears a few seconds after the push (Appear), is
// queued for Queued, in progress for Running, then completed with conclusion success,
// or failure when FailNextRuns says so.
type Workflow struct {
	File   string // its file under .github/workflows/
	Name   string
	Branch string
	// Environments are the GitHub environments its jobs deploy to, one job each (the
	// workflow file AddWorkflow commits says so).
	Environments []string
	// Appear, Queued and Running time a run from the push.
	Appear, Queued, Running time.Duration
	// Manual runs appear queued at once and move only by SetWorkflowRun and
	// FinishWorkflowRun (tests that look at each state).
	Manual bool
}

// WorkflowRun is a run as hooks and tests see it.
type WorkflowRun struct {
	ID                     int64
	Workflow, File         string
	Branch, HeadSHA, Event string
	Status, Conclusion     string
	Attempt                int
	Environments           []string
	Created                time.Time
	// URL is the run's page (html_url).
	URL string
}

type workflowRun struct {
	id                 int64
	file, name         string
	branch, sha, event string
	status, conclusion string
	attempt            int
	envs               []string
	created, updated   time.Time
	visible            bool
}

func (run *workflowRun) public(fullName string) WorkflowRun {
	return WorkflowRun{ID: run.id, Workflow: run.name, File: run.file, Branch: run.branch, HeadSHA: run.sha, Event: run.event,
		Status: run.status, Conclusion: run.conclusion, Attempt: run.attempt, Environments: append([]string(nil), run.envs...),
		Created: run.created, URL: runURL(fullName, run.id)}
}

func runURL(fullName string, id int64) string {
	return "https://github.com/" + fullName + "/actions/runs/" + strconv.FormatInt(id, 10)
}

// workflowYAML is the file AddWorkflow commits for w.
func workflowYAML(w Workflow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\n\non:\n  push:\n    branches:\n      - %s\n  workflow_dispatch:\n\njobs:\n", w.Name, w.Branch)
	if len(w.Environments) == 0 {
		b.WriteString("  run:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make apply\n")
	}
	for _, env := range w.Environments {
		fmt.Fprintf(&b, "  deploy_%s:\n    name: Deploy %s\n    runs-on: ubuntu-latest\n    environment: %s\n    if: github.ref == 'refs/heads/%s'\n    steps:\n      - run: make deploy ENV=%s\n",
			env, env, env, w.Branch, env)
	}
	return b.String()
}

// AddWorkflow commits the workflow's file to its branch (.github/workflows/FILE) and
// from then on starts a run of it on every push to that branch.
func (s *Server) AddWorkflow(fullName string, w Workflow) {
	s.Commit(fullName, w.Branch, map[string]string{".github/workflows/" + w.File: workflowYAML(w)}, "Add workflow "+w.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(fullName)
	r.workflows = append(r.workflows, w)
}

// FailNextRuns makes the next n runs of a workflow file conclude with failure.
func (s *Server) FailNextRuns(fullName, file string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(fullName)
	if r.failRuns == nil {
		r.failRuns = map[string]int{}
	}
	r.failRuns[file] = n
}

// OnWorkflowRun registers a hook run, outside the server's lock, whenever a run
// started by a push appears or changes status (the sandbox applies DNS, certificates
// and deploys there).
func (s *Server) OnWorkflowRun(fn func(repo string, run WorkflowRun)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRun = append(s.onRun, fn)
}

// WorkflowRuns lists the runs of a workflow file that have appeared, oldest first.
func (s *Server) WorkflowRuns(fullName, file string) []WorkflowRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []WorkflowRun
	for _, run := range s.mustRepo(fullName).runs {
		if run.file == file && run.visible {
			out = append(out, run.public(fullName))
		}
	}
	return out
}

// pushed starts the runs of the workflows a push of sha to branch triggers. The
// caller holds s.mu.
func (s *Server) pushed(fullName string, r *repo, branch, sha string) {
	for _, w := range r.workflows {
		if w.Branch != branch {
			continue
		}
		s.seq++
		run := &workflowRun{id: s.seq, file: w.File, name: w.Name, branch: branch, sha: sha, event: "push", status: "queued",
			attempt: 1, envs: append([]string(nil), w.Environments...), created: time.Now().UTC()}
		r.runs = append(r.runs, run)
		if w.Manual {
			run.visible = true
			continue
		}
		s.progress(fullName, r, run, w)
	}
}

// progress moves a run through its states on timers, from now, one after the other
// (each timer is set once the one before has fired and its hooks have run, so a loaded
// machine never reorders them). The caller holds s.mu.
func (s *Server) progress(fullName string, r *repo, run *workflowRun, w Workflow) {
	attempt := run.attempt
	steps := []struct {
		after  time.Duration
		change func()
	}{
		{w.Appear, func() {
			run.visible = true
			run.created = time.Now().UTC() // GitHub dates a run when it appears
		}},
		{w.Queued, func() { run.status = "in_progress" }},
		{w.Running, func() {
			run.status, run.conclusion = "completed", "success"
			if r.failRuns[run.file] > 0 {
				r.failRuns[run.file]--
				run.conclusion = "failure"
			}
		}},
	}
	var next func(i int)
	next = func(i int) {
		if i == len(steps) {
			return
		}
		s.timers = append(s.timers, time.AfterFunc(steps[i].after, func() {
			s.mu.Lock()
			if s.closed || run.attempt != attempt {
				s.mu.Unlock()
				return
			}
			steps[i].change()
			run.updated = time.Now().UTC()
			pub := run.public(fullName)
			hooks := append([]func(string, WorkflowRun){}, s.onRun...)
			s.mu.Unlock()
			for _, h := range hooks {
				h(fullName, pub)
			}
			// The next state only after the hooks heard this one, so they hear them in order.
			s.mu.Lock()
			if !s.closed && run.attempt == attempt {
				next(i + 1)
			}
			s.mu.Unlock()
		}))
	}
	next(0)
}

// RerunWorkflowRun starts a run again, as "Re-run all jobs" does: same id and head
// sha, the next attempt, queued again and progressing as its workflow times it.
func (s *Server) RerunWorkflowRun(fullName string, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(fullName)
	for _, run := range r.runs {
		if run.id != id {
			continue
		}
		run.attempt++
		run.status, run.conclusion = "queued", ""
		for _, w := range r.workflows {
			if w.File == run.file && !w.Manual {
				s.progress(fullName, r, run, w)
			}
		}
	}
}

// FinishWorkflowRun completes a run with a conclusion (success, failure, cancelled).
func (s *Server) FinishWorkflowRun(fullName string, id int64, conclusion string) {
	s.setRun(fullName, id, "completed", conclusion)
}

func (s *Server) setRun(fullName string, id int64, status, conclusion string) {
	s.mu.Lock()
	var pub []WorkflowRun
	for _, run := range s.mustRepo(fullName).runs {
		if run.id == id {
			run.status, run.conclusion, run.visible = status, conclusion, true
			run.updated = time.Now().UTC()
			pub = append(pub, run.public(fullName))
		}
	}
	hooks := append([]func(string, WorkflowRun){}, s.onRun...)
	s.mu.Unlock()
	for _, p := range pub {
		for _, h := range hooks {
			h(fullName, p)
		}
	}
}

func runJSON(fullName string, run *workflowRun) map[string]any {
	out := map[string]any{"id": run.id, "name": run.name, "path": ".github/workflows/" + run.file, "head_branch": run.branch,
		"head_sha": run.sha, "event": run.event, "status": run.status, "conclusion": nil, "run_attempt": run.attempt,
		"run_number": run.id, "html_url": runURL(fullName, run.id),
		"created_at": run.created.Format(time.RFC3339), "updated_at": run.updated.Format(time.RFC3339)}
	if run.conclusion != "" {
		out["conclusion"] = run.conclusion
	}
	return out
}

// createdMatches applies the `created` filter's >= and > forms (and a bare date-time,
// meaning that instant or later, which is what the bot sends through >=).
func createdMatches(filter string, t time.Time) bool {
	if filter == "" {
		return true
	}
	strict := false
	switch {
	case strings.HasPrefix(filter, ">="):
		filter = filter[2:]
	case strings.HasPrefix(filter, ">"):
		filter, strict = filter[1:], true
	}
	since, err := time.Parse(time.RFC3339, filter)
	if err != nil {
		return false
	}
	if strict {
		return t.After(since)
	}
	return !t.Before(since)
}

// runs answers GET /repos/o/r/actions/workflows/FILE/runs with GitHub's filters:
// status (a status or a conclusion), head_sha, branch, event and created.
func (s *Server) runs(w http.ResponseWriter, fullName string, rp *repo, file string, q url.Values) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	status := q.Get("status")
	for i := len(rp.runs) - 1; i >= 0; i-- { // newest first
		run := rp.runs[i]
		switch {
		case run.file != file || !run.visible:
		case status != "" && run.status != status && run.conclusion != status:
		case q.Get("head_sha") != "" && run.sha != q.Get("head_sha"):
		case q.Get("branch") != "" && run.branch != q.Get("branch"):
		case q.Get("event") != "" && run.event != q.Get("event"):
		case !createdMatches(q.Get("created"), run.created):
		default:
			out = append(out, runJSON(fullName, run))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(out), "workflow_runs": out})
}

// workflow answers GET /repos/o/r/actions/workflows/FILE: a workflow exists when its
// file is on the default branch or it has runs.
func (s *Server) workflow(w http.ResponseWriter, fullName string, rp *repo, file string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, found := file, false
	if c := rp.commits[rp.branches[rp.defaultBranch]]; c != nil {
		_, found = c.files[".github/workflows/"+file]
	}
	for _, wf := range rp.workflows {
		if wf.File == file {
			name, found = wf.Name, true
		}
	}
	for _, run := range rp.runs {
		if run.file == file {
			found = true
		}
	}
	if !found {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": len(file), "name": name, "path": ".github/workflows/" + file, "state": "active",
		"html_url": "https://github.com/" + fullName + "/actions/workflows/" + file})
}

// run answers GET /repos/o/r/actions/runs/ID.
func (s *Server) run(w http.ResponseWriter, fullName string, rp *repo, id string) {
	n, _ := strconv.ParseInt(id, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, run := range rp.runs {
		if run.id == n && run.visible {
			writeJSON(w, http.StatusOK, runJSON(fullName, run))
			return
		}
	}
	notFound(w)
}
