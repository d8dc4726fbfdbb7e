// Package githubfake is a local GitHub REST API with the parts the bot uses:
// repositories, branches, git refs, contents, pull requests (with merges a test can
// refuse, as branch protection does), deployments and their statuses, compare, and
// GitHub Actions: workflows that run on every push to their branch (a merge is one),
// whose runs appear a moment after the push and go queued, in progress, completed
// with success or failure. It is a real HTTP server on 127.0.0.1, so go-github talks to it
// unchanged; it refuses what GitHub refuses (a bad token, a stale blob sha, a second
// PR for a branch) so that the client's handling of those is exercised too.
package githubfake

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultToken is the token Start accepts when given none.
const DefaultToken = "githubfake-token"

// commit is a full snapshot of the repository's files.
type commit struct {
	sha     string
	parents []string
	files   map[string]string
	msg     string
}

// PR is a pull request.
type PR struct {
	Number      int
	Title, Body string
	Head, Base  string
	BaseSHA     string // the base branch's head when the PR was opened
	HeadSHA     string // the head branch's head, kept once merged
	State       string // open or closed
	Merged      bool
	MergeSHA    string
	MergedAt    time.Time
}

type deployment struct {
	id       int64
	sha, env string
	created  time.Time
	statuses []string // oldest first
}

type repo struct {
	defaultBranch string
	branches      map[string]string
	commits       map[string]*commit
	pulls         []*PR
	deployments   []*deployment
	runs          []*workflowRun
	workflows     []Workflow
	failRuns      map[string]int
	refuse        string
	deleteOnMerge bool
}

type failRule struct {
	prefix string
	n      int
	status int
}

// Server is the fake GitHub.
type Server struct {
	token    string
	listener net.Listener
	http     *http.Server
	started  time.Time

	mu      sync.Mutex
	repos   map[string]*repo
	seq     int64
	onMerge []func(repo string, pr PR)
	onRun   []func(repo string, run WorkflowRun)
	// onMergeRequest runs when a merge request arrives, before it is looked at.
	onMergeRequest []func(repo string, number int)
	fail           []*failRule
	timers         []*time.Timer
	closed         bool
}

// Start listens on 127.0.0.1. Requests need `Authorization: Bearer <token>` (or
// `token <token>`) with the given token, or DefaultToken when none is given.
func Start(token ...string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("githubfake: listen on 127.0.0.1: %w", err)
	}
	s := &Server{token: DefaultToken, listener: l, repos: map[string]*repo{}, started: time.Now().UTC().Truncate(time.Second)}
	if len(token) > 0 && token[0] != "" {
		s.token = token[0]
	}
	s.http = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(l) }()
	return s, nil
}

// URL is the REST root, ending in "/" (github.api_url).
func (s *Server) URL() string { return "http://" + s.listener.Addr().String() + "/" }

// Token is the token the server accepts.
func (s *Server) Token() string { return s.token }

// Close stops it, and the runs in flight with it.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	_ = s.http.Close()
}

// mustRepo is for the helpers: naming a repository that was never created is a bug
// in the test or demo calling them.
func (s *Server) mustRepo(fullName string) *repo {
	r := s.repos[fullName]
	if r == nil {
		panic("githubfake: no repository " + fullName + " (CreateRepo it first)")
	}
	return r
}

// newCommit stores a commit; its sha is a sha1 of its parents, files and message (and a
// sequence number, so two identical commits still differ, as their times would).
func (s *Server) newCommit(r *repo, parents []string, files map[string]string, msg string) *commit {
	s.seq++
	h := sha1.New()
	for _, p := range parents {
		fmt.Fprintf(h, "parent %s\n", p)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(h, "file %q %d\n%s\n", p, len(files[p]), files[p])
	}
	fmt.Fprintf(h, "msg %s\nseq %d\n", msg, s.seq)
	c := &commit{sha: hex.EncodeToString(h.Sum(nil)), parents: parents, files: files, msg: msg}
	r.commits[c.sha] = c
	return c
}

func copyFiles(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// CreateRepo makes a repository whose default branch holds one commit of files, and
// returns that commit's sha.
func (s *Server) CreateRepo(fullName, branch string, files map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &repo{defaultBranch: branch, branches: map[string]string{}, commits: map[string]*commit{}}
	s.repos[fullName] = r
	c := s.newCommit(r, nil, copyFiles(files), "Initial commit")
	r.branches[branch] = c.sha
	return c.sha
}

// Commit adds a commit on branch (made from the default branch if missing) that sets
// files (an empty content deletes the file), and returns its sha.
func (s *Server) Commit(fullName, branch string, files map[string]string, msg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(fullName)
	headSHA, ok := r.branches[branch]
	if !ok {
		headSHA = r.branches[r.defaultBranch]
	}
	next := copyFiles(r.commits[headSHA].files)
	for k, v := range files {
		if v == "" {
			delete(next, k)
			continue
		}
		next[k] = v
	}
	c := s.newCommit(r, []string{headSHA}, next, msg)
	r.branches[branch] = c.sha
	s.pushed(fullName, r, branch, c.sha)
	return c.sha
}

// File returns a file's content on a branch ("" when absent).
func (s *Server) File(fullName, branch, path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(fullName)
	c := r.commits[r.branches[branch]]
	if c == nil {
		return ""
	}
	return c.files[path]
}

// Head returns a branch's head sha ("" when there is no such branch).
func (s *Server) Head(fullName, branch string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustRepo(fullName).branches[branch]
}

// Branches lists a repository's branch names, sorted.
func (s *Server) Branches(fullName string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for b := range s.mustRepo(fullName).branches {
		out = append(out, b)
	}
	sort.Strings(out)
	return out
}

// Pulls lists a repository's pull requests, oldest first.
func (s *Server) Pulls(fullName string) []PR {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PR
	for _, p := range s.mustRepo(fullName).pulls {
		out = append(out, *p)
	}
	return out
}

// AddDeployment records a deployment of sha to env whose latest status is state
// (success, failure, in_progress, ...), newer than every earlier one; it returns its id.
func (s *Server) AddDeployment(fullName, env, sha, state string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(fullName)
	s.seq++
	d := &deployment{id: s.seq, sha: sha, env: env, created: s.started.Add(time.Duration(s.seq) * time.Second), statuses: []string{"queued"}}
	if state != "" && state != "queued" {
		d.statuses = append(d.statuses, state)
	}
	r.deployments = append(r.deployments, d)
	return d.id
}

// SetDeploymentState adds a status to a deployment (a deploy finishing, say).
func (s *Server) SetDeploymentState(fullName string, id int64, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.mustRepo(fullName).deployments {
		if d.id == id {
			d.statuses = append(d.statuses, state)
		}
	}
}

// AddWorkflowRun records a run of a workflow file with a status (queued, waiting,
// in_progress, completed), of the branch head, started by hand an hour before the
// server (a run from before the test), and returns its id.
func (s *Server) AddWorkflowRun(fullName, file, status string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(fullName)
	s.seq++
	now := s.started.Add(-time.Hour)
	run := &workflowRun{id: s.seq, file: file, name: file, branch: r.defaultBranch, sha: r.branches[r.defaultBranch], event: "workflow_dispatch",
		status: status, attempt: 1, created: now, updated: now, visible: true}
	for _, w := range r.workflows {
		if w.File == file {
			run.name = w.Name
		}
	}
	if status == "completed" {
		run.conclusion = "success"
	}
	r.runs = append(r.runs, run)
	return run.id
}

// SetWorkflowRun changes a run's status (completed ones conclude with success).
func (s *Server) SetWorkflowRun(fullName string, id int64, status string) {
	conclusion := ""
	if status == "completed" {
		conclusion = "success"
	}
	s.setRun(fullName, id, status, conclusion)
}

// RefuseMerges makes API merges of the repository's PRs fail with 405 and msg, as
// branch protection does ("Required status check \"plan\" is expected."); "" allows
// them again. MergePR (a person with rights) is not refused.
func (s *Server) RefuseMerges(fullName, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustRepo(fullName).refuse = msg
}

// DeleteBranchOnMerge makes merges delete the head branch, as the repository setting
// "Automatically delete head branches" does.
func (s *Server) DeleteBranchOnMerge(fullName string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustRepo(fullName).deleteOnMerge = on
}

// MergePR merges a PR as a person would in the web UI, then runs the OnMerge hooks.
func (s *Server) MergePR(fullName string, number int) error {
	s.mu.Lock()
	pr, _, err := s.merge(fullName, s.mustRepo(fullName), number, "merge", "")
	hooks := append([]func(string, PR){}, s.onMerge...)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	for _, h := range hooks {
		h(fullName, pr)
	}
	return nil
}

// OnMerge registers a hook run after every merge, outside the server's lock (the
// sandbox flips DNS answers and certificates there).
func (s *Server) OnMerge(fn func(repo string, pr PR)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onMerge = append(s.onMerge, fn)
}

// OnMergeRequest registers a hook run when an API merge request arrives, before the
// server reads the branch, outside its lock: a test pushes a commit there to land it
// between what the client last read and its merge, as a person pushing at that moment
// would. A merge without "sha" then merges that commit; one with the sha the client
// read is refused with 409, as on GitHub.
func (s *Server) OnMergeRequest(fn func(repo string, number int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onMergeRequest = append(s.onMergeRequest, fn)
}

// FailNext answers the next n requests whose path starts with pathPrefix (for example
// "/repos/o/r/pulls", or "POST /repos/o/r/pulls" for one method only) with status and
// a GitHub-shaped error body. n <= 0 drops the rules of that prefix ("" drops all).
func (s *Server) FailNext(pathPrefix string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		kept := s.fail[:0]
		for _, f := range s.fail {
			if pathPrefix != "" && f.prefix != pathPrefix {
				kept = append(kept, f)
			}
		}
		s.fail = kept
		return
	}
	s.fail = append(s.fail, &failRule{prefix: pathPrefix, n: n, status: status})
}

// ClosePR closes a PR without merging it, as a person may.
func (s *Server) ClosePR(fullName string, number int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.mustRepo(fullName).pulls {
		if p.Number == number && p.State == "open" {
			p.State = "closed"
		}
	}
}

// mergeError is a refusal with GitHub's status code.
type mergeError struct {
	status int
	msg    string
}

func (e *mergeError) Error() string { return e.msg }

// merge brings the PR's changes (head against where it forked from base) onto base.
// A file changed on both sides differently is a conflict, as on GitHub.
func (s *Server) merge(fullName string, r *repo, number int, method, wantSHA string) (PR, string, error) {
	var p *PR
	for _, x := range r.pulls {
		if x.Number == number {
			p = x
		}
	}
	if p == nil {
		return PR{}, "", &mergeError{http.StatusNotFound, "Not Found"}
	}
	if p.State != "open" {
		return *p, "", &mergeError{http.StatusMethodNotAllowed, "Pull Request is not mergeable"}
	}
	headSHA := r.branches[p.Head]
	if wantSHA != "" && wantSHA != headSHA {
		return *p, "", &mergeError{http.StatusConflict, "Head branch was modified. Review and try the merge again."}
	}
	baseSHA := r.branches[p.Base]
	head, base := r.commits[headSHA], r.commits[baseSHA]
	fork := r.commits[mergeBase(r, baseSHA, headSHA)]
	if head == nil || base == nil || fork == nil {
		return *p, "", &mergeError{http.StatusMethodNotAllowed, "Pull Request is not mergeable"}
	}
	next := copyFiles(base.files)
	for _, path := range changedPaths(fork.files, head.files) {
		want, inHead := head.files[path]
		if base.files[path] != fork.files[path] && base.files[path] != want {
			return *p, "", &mergeError{http.StatusMethodNotAllowed, "Pull Request is not mergeable (merge conflict in " + path + ")"}
		}
		if inHead {
			next[path] = want
		} else {
			delete(next, path)
		}
	}
	parents := []string{baseSHA}
	msg := fmt.Sprintf("Merge pull request #%d from %s", number, p.Head)
	if method == "merge" || method == "" {
		parents = append(parents, headSHA)
	} else {
		msg = p.Title + fmt.Sprintf(" (#%d)", number)
	}
	c := s.newCommit(r, parents, next, msg)
	r.branches[p.Base] = c.sha
	p.Merged, p.State, p.MergeSHA, p.HeadSHA, p.MergedAt = true, "closed", c.sha, headSHA, time.Now().UTC()
	if r.deleteOnMerge {
		delete(r.branches, p.Head)
	}
	s.pushed(fullName, r, p.Base, c.sha)
	return *p, c.sha, nil
}

// changedPaths lists the paths whose content differs between two snapshots.
func changedPaths(a, b map[string]string) []string {
	var out []string
	for p, v := range a {
		if w, ok := b[p]; !ok || w != v {
			out = append(out, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// ancestors maps every commit reachable from sha (itself included) to its distance.
func ancestors(r *repo, sha string) map[string]int {
	out := map[string]int{}
	queue := []string{sha}
	out[sha] = 0
	for len(queue) > 0 {
		c := r.commits[queue[0]]
		d := out[queue[0]]
		queue = queue[1:]
		if c == nil {
			continue
		}
		for _, p := range c.parents {
			if _, seen := out[p]; !seen {
				out[p] = d + 1
				queue = append(queue, p)
			}
		}
	}
	return out
}

// mergeBase is the nearest common ancestor of a and b ("" when none).
func mergeBase(r *repo, a, b string) string {
	inA := ancestors(r, a)
	best, bestD := "", -1
	for sha, d := range ancestors(r, b) {
		if _, ok := inA[sha]; ok && (bestD < 0 || d < bestD || d == bestD && sha < best) {
			best, bestD = sha, d
		}
	}
	return best
}

// resolve turns a branch name or a commit sha into a commit sha ("" when neither).
func (r *repo) resolve(ref string) string {
	if ref == "" {
		ref = r.defaultBranch
	}
	ref = strings.TrimPrefix(strings.TrimPrefix(ref, "refs/"), "heads/")
	if sha, ok := r.branches[ref]; ok {
		return sha
	}
	if _, ok := r.commits[ref]; ok {
		return ref
	}
	return ""
}
