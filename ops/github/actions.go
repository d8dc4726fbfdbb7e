package github

import (
	"context"
	"fmt"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Run is one GitHub Actions workflow run, as the thread shows it.
type Run struct {
	ID int64
	// Workflow is the workflow's name ("Deploy Environments"); File its file.
	Workflow, File string
	URL            string
	HeadSHA        string
	Branch, Event  string
	// Status is queued, waiting, in_progress or completed; Conclusion (once
	// completed) success, failure, cancelled, timed_out, ...
	Status, Conclusion string
	Attempt            int
	Created            time.Time
}

// Completed says the run has finished, whatever its conclusion.
func (r Run) Completed() bool { return r.Status == "completed" }

// Succeeded says the run finished with success.
func (r Run) Succeeded() bool { return r.Completed() && r.Conclusion == "success" }

func toRun(file string, r *gh.WorkflowRun) Run {
	return Run{ID: r.GetID(), Workflow: r.GetName(), File: file, URL: r.GetHTMLURL(), HeadSHA: r.GetHeadSHA(), Branch: r.GetHeadBranch(),
		Event: r.GetEvent(), Status: r.GetStatus(), Conclusion: r.GetConclusion(), Attempt: r.GetRunAttempt(), Created: r.GetCreatedAt().Time}
}

// RunFor finds the newest run of the workflow file for commit sha (ok false while
// there is none: GitHub shows a run a few seconds after the push).
func (c *Client) RunFor(ctx context.Context, repo, file, sha string) (Run, bool, error) {
	if err := checkRepo(repo); err != nil {
		return Run{}, false, err
	}
	owner, name := split(repo)
	cctx, cancel := c.call(ctx)
	defer cancel()
	runs, _, err := c.gh.Actions.ListWorkflowRunsByFileName(cctx, owner, name, file, &gh.ListWorkflowRunsOptions{HeadSHA: sha, ListOptions: gh.ListOptions{PerPage: 10}})
	if err != nil {
		return Run{}, false, fmt.Errorf("list the runs of workflow %s in %s for %s: %w", file, repo, short(sha), err)
	}
	for _, r := range runs.WorkflowRuns {
		if r.GetHeadSHA() == sha {
			return toRun(file, r), true, nil
		}
	}
	return Run{}, false, nil
}

// RunByID reads a run as it is now.
func (c *Client) RunByID(ctx context.Context, repo, file string, id int64) (Run, error) {
	if err := checkRepo(repo); err != nil {
		return Run{}, err
	}
	owner, name := split(repo)
	cctx, cancel := c.call(ctx)
	defer cancel()
	r, _, err := c.gh.Actions.GetWorkflowRunByID(cctx, owner, name, id)
	if err != nil {
		return Run{}, fmt.Errorf("read run %d of %s: %w", id, repo, err)
	}
	return toRun(file, r), nil
}

// RunsSince lists the runs of a workflow file created at or after since, newest first.
func (c *Client) RunsSince(ctx context.Context, repo, file string, since time.Time) ([]Run, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	owner, name := split(repo)
	cctx, cancel := c.call(ctx)
	defer cancel()
	runs, _, err := c.gh.Actions.ListWorkflowRunsByFileName(cctx, owner, name, file, &gh.ListWorkflowRunsOptions{
		Created: ">=" + since.UTC().Format(time.RFC3339), ListOptions: gh.ListOptions{PerPage: 30}})
	if err != nil {
		return nil, fmt.Errorf("list the runs of workflow %s in %s: %w", file, repo, err)
	}
	var out []Run
	for _, r := range runs.WorkflowRuns {
		out = append(out, toRun(file, r))
	}
	return out, nil
}

// WaitRunOptions bound a wait for a workflow run.
type WaitRunOptions struct {
	// Every is how often GitHub is asked.
	Every time.Duration
	// Appear bounds the wait for the run to show up after the push.
	Appear time.Duration
	// Timeout bounds the whole wait.
	Timeout time.Duration
	// Progress hears the run when it appears and whenever its state changes.
	Progress func(Run)
	// Branch is the branch pushed to, for messages.
	Branch string
}

// WaitRun waits for the run of the workflow file that the push of sha started, then
// for it to finish. A run that does not appear, does not finish in time, or finishes
// with anything but success is an error that links it and says what to do. Read errors
// are retried until the wait's bound, then reported with it.
func (c *Client) WaitRun(ctx context.Context, repo, file, sha string, o WaitRunOptions) (Run, error) {
	if o.Every <= 0 {
		o.Every = 15 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	started := time.Now()
	var run Run
	var found bool
	var lastErr error
	seen := ""
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-wctx.Done():
			return run, c.waitRunEnded(ctx, repo, file, sha, run, found, lastErr, o.Timeout)
		case <-t.C:
		}
		var err error
		if found {
			var now Run
			if now, err = c.RunByID(wctx, repo, file, run.ID); err == nil {
				run = now
			}
		} else {
			run, found, err = c.RunFor(wctx, repo, file, sha)
		}
		if wctx.Err() == nil {
			lastErr = err
		}
		if found {
			if state := run.Status + "/" + run.Conclusion; state != seen {
				seen = state
				if o.Progress != nil {
					o.Progress(run)
				}
			}
			if run.Completed() {
				if run.Succeeded() {
					return run, nil
				}
				return run, report.Fail(runWait(report.RunFailed, repo, file, sha, run), nil)
			}
		} else if err == nil && o.Appear > 0 && time.Since(started) > o.Appear {
			w := runWait(report.RunNotAppeared, repo, file, sha, Run{})
			w.Branch, w.Within = o.Branch, o.Appear
			return run, report.Fail(w, nil)
		}
		t.Reset(o.Every)
	}
}

func (c *Client) waitRunEnded(ctx context.Context, repo, file, sha string, run Run, found bool, lastErr error, timeout time.Duration) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	w := runWait(report.RunStill, repo, file, sha, run)
	if !found {
		w = runWait(report.RunNotFound, repo, file, sha, Run{})
	}
	w.Within = timeout
	if lastErr != nil {
		w.LastErr = lastErr.Error()
	}
	return report.Fail(w, nil)
}

// runWait is how the wait for run (the zero Run when none was found) ended.
func runWait(how report.RunWaitHow, repo, file, sha string, run Run) report.RunWait {
	return report.RunWait{How: how, Repo: repo, File: file, SHA: sha, Workflow: run.Workflow, URL: run.URL, Status: run.Status, Conclusion: run.Conclusion}
}
