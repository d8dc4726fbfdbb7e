// Package githubfake is a local GitHub REST API with the parts the bot uses: branches,
// refs, contents, pull requests (with merges a test can refuse, as branch protection
// does), deployments and their statuses, workflow runs and compare. go-github talks to
// it unchanged.
package githubfake

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type commit struct {
	sha    string
	parent string
	files  map[string]string
	msg    string
}

// PR is a pull request.
type PR struct {
	Number      int
	Title, Body string
	Head, Base  string
	BaseSHA     string // base when it was opened
	State       string
	Merged      bool
	MergeSHA    string
}

type deployment struct {
	id       int64
	sha, env string
	created  time.Time
	statuses []string // newest last
}

type repo struct {
	branches    map[string]string
	commits     map[string]*commit
	pulls       []*PR
	deployments []*deployment
	runs        map[string][]string // workflow file -> statuses
	refuse      string
}

// Server is the fake GitHub.
type Server struct {
	token    string
	listener net.Listener
	http     *http.Server
	mu       sync.Mutex
	repos    map[string]*repo
	seq      int64
	onMerge  []func(repo string, pr PR)
	failNext map[string]int
}

// Start listens on 127.0.0.1; requests need `Authorization: Bearer token`.
func Start(token string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{token: token, listener: l, repos: map[string]*repo{}, failNext: map[string]int{}}
	s.http = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(l) }()
	return s, nil
}

// URL is the REST root, ending in "/" (github.api_url).
func (s *Server) URL() string { return "http://" + s.listener.Addr().String() + "/" }

// Close stops it.
func (s *Server) Close() { _ = s.http.Close() }

func shaOf(parts ...string) string {
	h := sha1.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CreateRepo makes a repository with one commit on branch.
func (s *Server) CreateRepo(fullName, branch string, files map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &repo{branches: map[string]string{}, commits: map[string]*commit{}, runs: map[string][]string{}}
	s.repos[fullName] = r
	c := s.newCommit(r, "", files, "initial")
	r.branches[branch] = c.sha
	return c.sha
}

func (s *Server) newCommit(r *repo, parent string, files map[string]string, msg string) *commit {
	s.seq++
	c := &commit{parent: parent, files: files, msg: msg, sha: shaOf(parent, msg, strconv.FormatInt(s.seq, 10))}
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

// Commit adds a commit on branch with files changed.
func (s *Server) Commit(fullName, branch string, files map[string]string, msg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[fullName]
	head := r.commits[r.branches[branch]]
	next := copyFiles(head.files)
	for k, v := range files {
		next[k] = v
	}
	c := s.newCommit(r, head.sha, next, msg)
	r.branches[branch] = c.sha
	return c.sha
}

// File returns a file on a branch.
func (s *Server) File(fullName, branch, path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[fullName]
	return r.commits[r.branches[branch]].files[path]
}

// Head returns a branch's head sha.
func (s *Server) Head(fullName, branch string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repos[fullName].branches[branch]
}

// Branches lists a repo's branch names.
func (s *Server) Branches(fullName string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for b := range s.repos[fullName].branches {
		out = append(out, b)
	}
	sort.Strings(out)
	return out
}

// Pulls lists a repo's pull requests.
func (s *Server) Pulls(fullName string) []PR {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PR
	for _, p := range s.repos[fullName].pulls {
		out = append(out, *p)
	}
	return out
}

// AddDeployment records a deployment of sha to env with a final state.
func (s *Server) AddDeployment(fullName, env, sha, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[fullName]
	s.seq++
	r.deployments = append(r.deployments, &deployment{id: s.seq, sha: sha, env: env, created: time.Now().Add(time.Duration(s.seq) * time.Second), statuses: []string{"queued", state}})
}

// AddWorkflowRun records a run of a workflow file with a status (queued, in_progress, completed).
func (s *Server) AddWorkflowRun(fullName, file, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[fullName]
	r.runs[file] = append(r.runs[file], status)
}

// RefuseMerges makes merges of a repo's PRs fail like branch protection ("" allows).
func (s *Server) RefuseMerges(fullName, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[fullName].refuse = msg
}

// MergePR merges as a person would in the web UI.
func (s *Server) MergePR(fullName string, number int) error {
	s.mu.Lock()
	pr, err := s.merge(fullName, number)
	hooks := s.onMerge
	s.mu.Unlock()
	if err == nil {
		for _, h := range hooks {
			h(fullName, pr)
		}
	}
	return err
}

// OnMerge registers a hook run after every merge (the sandbox flips DNS and certs).
func (s *Server) OnMerge(fn func(repo string, pr PR)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onMerge = append(s.onMerge, fn)
}

// FailNext answers the next n requests whose path starts with prefix with status.
func (s *Server) FailNext(prefix string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[prefix+"|"+strconv.Itoa(status)] = n
}

// merge applies the PR's changes (head against the base it was opened from) onto base.
func (s *Server) merge(fullName string, number int) (PR, error) {
	r := s.repos[fullName]
	for _, p := range r.pulls {
		if p.Number != number {
			continue
		}
		if p.Merged || p.State != "open" {
			return *p, fmt.Errorf("pull request %d is not open", number)
		}
		head := r.commits[r.branches[p.Head]]
		fork := r.commits[p.BaseSHA]
		base := r.commits[r.branches[p.Base]]
		next := copyFiles(base.files)
		for path, content := range head.files {
			if fork.files[path] != content {
				next[path] = content
			}
		}
		c := s.newCommit(r, base.sha, next, fmt.Sprintf("Merge pull request #%d", number))
		r.branches[p.Base] = c.sha
		p.Merged, p.State, p.MergeSHA = true, "closed", c.sha
		return *p, nil
	}
	return PR{}, fmt.Errorf("no pull request %d", number)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
}

func (s *Server) prJSON(fullName string, p *PR) map[string]any {
	r := s.repos[fullName]
	owner := strings.Split(fullName, "/")[0]
	return map[string]any{"number": p.Number, "title": p.Title, "body": p.Body, "state": p.State, "merged": p.Merged,
		"merge_commit_sha": p.MergeSHA, "html_url": fmt.Sprintf("https://github.com/%s/pull/%d", fullName, p.Number),
		"head": map[string]any{"ref": p.Head, "sha": r.branches[p.Head], "label": owner + ":" + p.Head},
		"base": map[string]any{"ref": p.Base, "sha": p.BaseSHA}}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials"})
		return
	}
	s.mu.Lock()
	for key, n := range s.failNext {
		prefix, status, _ := strings.Cut(key, "|")
		if n > 0 && strings.HasPrefix(r.URL.Path, prefix) {
			s.failNext[key] = n - 1
			s.mu.Unlock()
			code, _ := strconv.Atoi(status)
			writeJSON(w, code, map[string]any{"message": "Server Error"})
			return
		}
	}
	s.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if len(parts) == 3 && parts[0] == "repos" && r.Method == http.MethodGet {
		s.mu.Lock()
		_, ok := s.repos[parts[1]+"/"+parts[2]]
		s.mu.Unlock()
		if !ok {
			notFound(w)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"full_name": parts[1] + "/" + parts[2], "permissions": map[string]bool{"pull": true, "push": true, "admin": false}})
		return
	}
	if len(parts) < 4 || parts[0] != "repos" {
		notFound(w)
		return
	}
	fullName := parts[1] + "/" + parts[2]
	s.mu.Lock()
	rp := s.repos[fullName]
	s.mu.Unlock()
	if rp == nil {
		notFound(w)
		return
	}
	rest := parts[3:]
	unesc := func(p string) string { u, _ := url.PathUnescape(p); return u }
	switch {
	case rest[0] == "branches" && len(rest) >= 2 && r.Method == http.MethodGet:
		s.getBranch(w, fullName, unesc(strings.Join(rest[1:], "/")))
	case rest[0] == "git" && len(rest) >= 3 && rest[1] == "ref" && r.Method == http.MethodGet:
		s.getRef(w, fullName, unesc(strings.Join(rest[2:], "/")))
	case rest[0] == "git" && len(rest) == 2 && rest[1] == "refs" && r.Method == http.MethodPost:
		s.createRef(w, r, fullName)
	case rest[0] == "contents" && r.Method == http.MethodGet:
		s.getContents(w, fullName, unesc(strings.Join(rest[1:], "/")), r.URL.Query().Get("ref"))
	case rest[0] == "contents" && r.Method == http.MethodPut:
		s.putContents(w, r, fullName, unesc(strings.Join(rest[1:], "/")))
	case rest[0] == "pulls":
		s.pulls(w, r, fullName, rest[1:])
	case rest[0] == "deployments":
		s.deployments(w, fullName, rest[1:], r.URL.Query())
	case rest[0] == "actions" && len(rest) == 4 && rest[1] == "workflows" && rest[3] == "runs":
		s.runs(w, fullName, unesc(rest[2]), r.URL.Query().Get("status"))
	case rest[0] == "compare" && len(rest) == 2:
		s.compare(w, fullName, unesc(rest[1]))
	default:
		notFound(w)
	}
}
