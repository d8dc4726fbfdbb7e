package githubfake

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

func notFound(w http.ResponseWriter) { writeError(w, http.StatusNotFound, "Not Found") }

func invalid(w http.ResponseWriter, resource, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
		"errors":            []map[string]any{{"resource": resource, "code": "custom", "message": msg}},
		"documentation_url": "https://docs.github.com/rest"})
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	return h == "Bearer "+s.token || h == "token "+s.token
}

// failing consumes one FailNext rule matching the request, if any.
func (s *Server) failing(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.fail {
		prefix := f.prefix
		if m, p, ok := strings.Cut(prefix, " "); ok {
			if m != method {
				continue
			}
			prefix = p
		}
		if f.n > 0 && strings.HasPrefix(path, prefix) {
			f.n--
			return f.status
		}
	}
	return 0
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	if status := s.failing(r.Method, r.URL.Path); status != 0 {
		writeError(w, status, http.StatusText(status))
		return
	}
	// Segments stay escaped until split, so a branch "cutoverbot%2Fx" is one segment.
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	if len(parts) < 3 || parts[0] != "repos" {
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
	tail := func(from int) string {
		u, err := url.PathUnescape(strings.Join(rest[from:], "/"))
		if err != nil {
			return ""
		}
		return u
	}
	q := r.URL.Query()
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			notFound(w)
			return
		}
		s.mu.Lock()
		writeJSON(w, http.StatusOK, map[string]any{"full_name": fullName, "name": parts[2], "default_branch": rp.defaultBranch,
			"permissions": map[string]bool{"pull": true, "push": true, "admin": false}})
		s.mu.Unlock()
		return
	}
	switch {
	case len(rest) >= 2 && rest[0] == "branches" && r.Method == http.MethodGet:
		s.getBranch(w, rp, tail(1))
	case len(rest) >= 3 && rest[0] == "git" && rest[1] == "ref" && r.Method == http.MethodGet:
		s.getRef(w, rp, tail(2))
	case len(rest) == 2 && rest[0] == "git" && rest[1] == "refs" && r.Method == http.MethodPost:
		s.createRef(w, r, fullName, rp)
	case len(rest) >= 3 && rest[0] == "git" && rest[1] == "refs" && (r.Method == http.MethodPatch || r.Method == http.MethodDelete):
		s.updateRef(w, r, fullName, rp, tail(2))
	case len(rest) >= 2 && rest[0] == "contents" && r.Method == http.MethodGet:
		s.getContents(w, rp, tail(1), q.Get("ref"))
	case len(rest) >= 2 && rest[0] == "contents" && r.Method == http.MethodPut:
		s.putContents(w, r, fullName, rp, tail(1))
	case rest[0] == "pulls":
		s.pulls(w, r, fullName, rp, rest[1:])
	case rest[0] == "deployments" && r.Method == http.MethodGet:
		s.deployments(w, rp, rest[1:], q)
	case len(rest) == 4 && rest[0] == "actions" && rest[1] == "workflows" && rest[3] == "runs" && r.Method == http.MethodGet:
		file, _ := url.PathUnescape(rest[2])
		s.runs(w, fullName, rp, file, q)
	case len(rest) == 3 && rest[0] == "actions" && rest[1] == "workflows" && r.Method == http.MethodGet:
		file, _ := url.PathUnescape(rest[2])
		s.workflow(w, fullName, rp, file)
	case len(rest) == 3 && rest[0] == "actions" && rest[1] == "runs" && r.Method == http.MethodGet:
		s.run(w, fullName, rp, rest[2])
	case len(rest) == 2 && rest[0] == "compare" && r.Method == http.MethodGet:
		s.compare(w, rp, rest[1])
	default:
		notFound(w)
	}
}

func (s *Server) getBranch(w http.ResponseWriter, rp *repo, branch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, ok := rp.branches[branch]
	if !ok {
		writeError(w, http.StatusNotFound, "Branch not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": branch, "protected": rp.refuse != "",
		"commit": map[string]any{"sha": sha, "commit": map[string]any{"message": rp.commits[sha].msg}}})
}

func refJSON(branch, sha string) map[string]any {
	return map[string]any{"ref": "refs/heads/" + branch, "object": map[string]any{"sha": sha, "type": "commit"}}
}

func (s *Server) getRef(w http.ResponseWriter, rp *repo, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	branch, ok := strings.CutPrefix(ref, "heads/")
	sha, exists := rp.branches[branch]
	if !ok || !exists {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, refJSON(branch, sha))
}

func (s *Server) createRef(w http.ResponseWriter, r *http.Request, fullName string, rp *repo) {
	var body struct{ Ref, SHA string }
	if json.NewDecoder(r.Body).Decode(&body) != nil || !strings.HasPrefix(body.Ref, "refs/heads/") || body.Ref == "refs/heads/" {
		invalid(w, "Reference", "ref must be refs/heads/<branch>")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	branch := strings.TrimPrefix(body.Ref, "refs/heads/")
	if _, exists := rp.branches[branch]; exists {
		writeError(w, http.StatusUnprocessableEntity, "Reference already exists")
		return
	}
	if _, ok := rp.commits[body.SHA]; !ok {
		writeError(w, http.StatusUnprocessableEntity, "Object does not exist")
		return
	}
	rp.branches[branch] = body.SHA
	s.pushed(fullName, rp, branch, body.SHA)
	writeJSON(w, http.StatusCreated, refJSON(branch, body.SHA))
}

func (s *Server) updateRef(w http.ResponseWriter, r *http.Request, fullName string, rp *repo, ref string) {
	branch, ok := strings.CutPrefix(ref, "heads/")
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := rp.branches[branch]
	if !ok || !exists {
		writeError(w, http.StatusUnprocessableEntity, "Reference does not exist")
		return
	}
	if r.Method == http.MethodDelete {
		delete(rp.branches, branch)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var body struct {
		SHA   string `json:"sha"`
		Force bool   `json:"force"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		invalid(w, "Reference", "invalid body")
		return
	}
	if _, ok := rp.commits[body.SHA]; !ok {
		writeError(w, http.StatusUnprocessableEntity, "Object does not exist")
		return
	}
	if _, ff := ancestors(rp, body.SHA)[old]; !ff && !body.Force {
		writeError(w, http.StatusUnprocessableEntity, "Update is not a fast forward")
		return
	}
	rp.branches[branch] = body.SHA
	s.pushed(fullName, rp, branch, body.SHA)
	writeJSON(w, http.StatusOK, refJSON(branch, body.SHA))
}

// blobSHA is git's blob id of content, which the contents API calls "sha".
func blobSHA(content string) string {
	return fmt.Sprintf("%x", sha1.Sum([]byte("blob "+strconv.Itoa(len(content))+"\x00"+content)))
}

// wrap64 breaks base64 into lines of 60, as GitHub sends file contents.
func wrap64(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(enc) > 60 {
		sb.WriteString(enc[:60] + "\n")
		enc = enc[60:]
	}
	sb.WriteString(enc)
	return sb.String()
}

func (s *Server) getContents(w http.ResponseWriter, rp *repo, path, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := rp.commits[rp.resolve(ref)]
	if c == nil {
		writeError(w, http.StatusNotFound, "No commit found for the ref "+ref)
		return
	}
	content, ok := c.files[path]
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"type": "file", "encoding": "base64", "path": path, "name": path[strings.LastIndex(path, "/")+1:],
		"content": wrap64([]byte(content)), "sha": blobSHA(content), "size": len(content)})
}

func (s *Server) putContents(w http.ResponseWriter, r *http.Request, fullName string, rp *repo, path string) {
	var body struct {
		Message, Content, SHA, Branch string
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.Message == "" {
		invalid(w, "Content", "message and content are required")
		return
	}
	data, err := base64.StdEncoding.DecodeString(body.Content)
	if err != nil {
		invalid(w, "Content", "content is not valid Base64")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	branch := body.Branch
	if branch == "" {
		branch = rp.defaultBranch
	}
	head, ok := rp.branches[branch]
	if !ok {
		writeError(w, http.StatusNotFound, "Branch "+branch+" not found")
		return
	}
	old, exists := rp.commits[head].files[path]
	switch {
	case exists && body.SHA == "":
		invalid(w, "Content", "\"sha\" wasn't supplied.")
		return
	case exists && body.SHA != blobSHA(old):
		writeError(w, http.StatusConflict, path+" does not match "+body.SHA)
		return
	}
	next := copyFiles(rp.commits[head].files)
	next[path] = string(data)
	c := s.newCommit(rp, []string{head}, next, body.Message)
	rp.branches[branch] = c.sha
	s.pushed(fullName, rp, branch, c.sha)
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"content": map[string]any{"path": path, "sha": blobSHA(string(data))},
		"commit": map[string]any{"sha": c.sha, "message": body.Message}})
}

// prJSON renders a PR; list answers carry no "merged" flag, as on GitHub.
func prJSON(fullName string, rp *repo, p *PR, single bool) map[string]any {
	owner := strings.Split(fullName, "/")[0]
	headSHA := p.HeadSHA
	if sha, ok := rp.branches[p.Head]; ok && !p.Merged {
		headSHA = sha
	}
	out := map[string]any{"number": p.Number, "title": p.Title, "body": p.Body, "state": p.State,
		"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", fullName, p.Number),
		"head":     map[string]any{"ref": p.Head, "sha": headSHA, "label": owner + ":" + p.Head},
		"base":     map[string]any{"ref": p.Base, "sha": p.BaseSHA, "label": owner + ":" + p.Base}}
	if p.Merged {
		out["merged_at"] = p.MergedAt.Format(time.RFC3339)
		out["merge_commit_sha"] = p.MergeSHA
	}
	if single {
		out["merged"] = p.Merged
		out["mergeable"] = p.State == "open"
	}
	return out
}

func (s *Server) pulls(w http.ResponseWriter, r *http.Request, fullName string, rp *repo, rest []string) {
	if len(rest) == 0 && r.Method == http.MethodGet {
		q := r.URL.Query()
		head := q.Get("head")
		if i := strings.Index(head, ":"); i >= 0 {
			head = head[i+1:]
		}
		state := q.Get("state")
		if state == "" {
			state = "open"
		}
		s.mu.Lock()
		out := []map[string]any{}
		for i := len(rp.pulls) - 1; i >= 0; i-- { // newest first
			p := rp.pulls[i]
			if (head == "" || p.Head == head) && (state == "all" || p.State == state) && (q.Get("base") == "" || p.Base == q.Get("base")) {
				out = append(out, prJSON(fullName, rp, p, false))
			}
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
		return
	}
	if len(rest) == 0 && r.Method == http.MethodPost {
		s.createPull(w, r, fullName, rp)
		return
	}
	n, err := strconv.Atoi(rest[0])
	if err != nil {
		notFound(w)
		return
	}
	switch {
	case len(rest) == 2 && rest[1] == "merge" && r.Method == http.MethodPut:
		var body struct {
			SHA         string `json:"sha"`
			MergeMethod string `json:"merge_method"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		early := append([]func(string, int){}, s.onMergeRequest...)
		s.mu.Unlock()
		for _, h := range early {
			h(fullName, n)
		}
		s.mu.Lock()
		if msg := rp.refuse; msg != "" {
			s.mu.Unlock()
			writeError(w, http.StatusMethodNotAllowed, msg)
			return
		}
		pr, sha, err := s.merge(fullName, rp, n, body.MergeMethod, body.SHA)
		hooks := append([]func(string, PR){}, s.onMerge...)
		s.mu.Unlock()
		var me *mergeError
		if errors.As(err, &me) {
			writeError(w, me.status, me.msg)
			return
		}
		for _, h := range hooks {
			h(fullName, pr)
		}
		writeJSON(w, http.StatusOK, map[string]any{"merged": true, "sha": sha, "message": "Pull Request successfully merged"})
	case len(rest) == 2 && rest[1] == "files" && r.Method == http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range rp.pulls {
			if p.Number != n {
				continue
			}
			head := rp.commits[rp.resolve(p.HeadSHA)]
			if !p.Merged {
				head = rp.commits[rp.branches[p.Head]]
			}
			out := []map[string]any{}
			if head != nil {
				fork := filesOf(rp.commits[mergeBase(rp, p.BaseSHA, head.sha)])
				for _, path := range changedPaths(fork, head.files) {
					status := "modified"
					if _, ok := fork[path]; !ok {
						status = "added"
					} else if _, ok := head.files[path]; !ok {
						status = "removed"
					}
					out = append(out, map[string]any{"filename": path, "status": status})
				}
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
		notFound(w)
	case len(rest) == 1 && r.Method == http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range rp.pulls {
			if p.Number == n {
				writeJSON(w, http.StatusOK, prJSON(fullName, rp, p, true))
				return
			}
		}
		notFound(w)
	default:
		notFound(w)
	}
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request, fullName string, rp *repo) {
	var body struct{ Title, Head, Base, Body string }
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.Title == "" {
		invalid(w, "PullRequest", "title, head and base are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	head := body.Head
	if i := strings.Index(head, ":"); i >= 0 {
		head = head[i+1:]
	}
	headSHA, okHead := rp.branches[head]
	baseSHA, okBase := rp.branches[body.Base]
	switch {
	case !okHead:
		invalid(w, "PullRequest", "head "+head+" is not a branch")
		return
	case !okBase:
		invalid(w, "PullRequest", "base "+body.Base+" is not a branch")
		return
	case len(changedPaths(filesOf(rp.commits[mergeBase(rp, baseSHA, headSHA)]), rp.commits[headSHA].files)) == 0:
		invalid(w, "PullRequest", "No commits between "+body.Base+" and "+head)
		return
	}
	for _, p := range rp.pulls {
		if p.Head == head && p.State == "open" {
			invalid(w, "PullRequest", "A pull request already exists for "+strings.Split(fullName, "/")[0]+":"+head+".")
			return
		}
	}
	p := &PR{Number: len(rp.pulls) + 1, Title: body.Title, Body: body.Body, Head: head, Base: body.Base, BaseSHA: baseSHA, HeadSHA: headSHA, State: "open"}
	rp.pulls = append(rp.pulls, p)
	writeJSON(w, http.StatusCreated, prJSON(fullName, rp, p, true))
}

func (s *Server) deployments(w http.ResponseWriter, rp *repo, rest []string, q url.Values) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rest) == 0 {
		var list []*deployment
		for _, d := range rp.deployments {
			if (q.Get("environment") == "" || d.env == q.Get("environment")) && (q.Get("sha") == "" || d.sha == q.Get("sha")) {
				list = append(list, d)
			}
		}
		sort.SliceStable(list, func(i, j int) bool { return list[i].created.After(list[j].created) })
		out := []map[string]any{}
		for _, d := range list {
			out = append(out, map[string]any{"id": d.id, "sha": d.sha, "ref": d.sha, "environment": d.env, "created_at": d.created.Format(time.RFC3339)})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	id, _ := strconv.ParseInt(rest[0], 10, 64)
	if len(rest) == 2 && rest[1] == "statuses" {
		for _, d := range rp.deployments {
			if d.id != id {
				continue
			}
			out := []map[string]any{}
			for i := len(d.statuses) - 1; i >= 0; i-- { // newest first
				out = append(out, map[string]any{"id": id*100 + int64(i), "state": d.statuses[i], "environment": d.env})
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
	}
	notFound(w)
}

// compare answers how head relates to base, from their ancestries.
func (s *Server) compare(w http.ResponseWriter, rp *repo, spec string) {
	rawBase, rawHead, ok := strings.Cut(spec, "...")
	if !ok {
		notFound(w)
		return
	}
	base, err1 := url.QueryUnescape(rawBase)
	head, err2 := url.QueryUnescape(rawHead)
	if err1 != nil || err2 != nil {
		notFound(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, h := rp.resolve(base), rp.resolve(head)
	if b == "" || h == "" {
		notFound(w)
		return
	}
	ab, ah := ancestors(rp, b), ancestors(rp, h)
	ahead, behind := 0, 0
	for sha := range ah {
		if _, ok := ab[sha]; !ok {
			ahead++
		}
	}
	for sha := range ab {
		if _, ok := ah[sha]; !ok {
			behind++
		}
	}
	status := "diverged"
	switch {
	case ahead == 0 && behind == 0:
		status = "identical"
	case behind == 0:
		status = "ahead"
	case ahead == 0:
		status = "behind"
	}
	// The files are what head changed since the merge base (a three-dot diff), as on GitHub.
	fork := mergeBase(rp, b, h)
	before, after := filesOf(rp.commits[fork]), rp.commits[h].files
	files := []map[string]any{}
	for _, path := range changedPaths(before, after) {
		st := "modified"
		if _, ok := before[path]; !ok {
			st = "added"
		} else if _, ok := after[path]; !ok {
			st = "removed"
		}
		files = append(files, map[string]any{"filename": path, "status": st})
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "ahead_by": ahead, "behind_by": behind, "total_commits": ahead,
		"base_commit": map[string]any{"sha": b}, "merge_base_commit": map[string]any{"sha": fork}, "files": files})
}

func filesOf(c *commit) map[string]string {
	if c == nil {
		return nil
	}
	return c.files
}
