package githubfake

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

func (s *Server) getBranch(w http.ResponseWriter, fullName, branch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, ok := s.repos[fullName].branches[branch]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Branch not found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": branch, "commit": map[string]any{"sha": sha}})
}

func (s *Server) getRef(w http.ResponseWriter, fullName, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	branch := strings.TrimPrefix(ref, "heads/")
	sha, ok := s.repos[fullName].branches[branch]
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ref": "refs/heads/" + branch, "object": map[string]any{"sha": sha, "type": "commit"}})
}

func (s *Server) createRef(w http.ResponseWriter, r *http.Request, fullName string) {
	var body struct{ Ref, SHA string }
	if json.NewDecoder(r.Body).Decode(&body) != nil || !strings.HasPrefix(body.Ref, "refs/heads/") {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Invalid request"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[fullName]
	branch := strings.TrimPrefix(body.Ref, "refs/heads/")
	if _, exists := rp.branches[branch]; exists {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Reference already exists"})
		return
	}
	if _, ok := rp.commits[body.SHA]; !ok {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Object does not exist"})
		return
	}
	rp.branches[branch] = body.SHA
	writeJSON(w, http.StatusCreated, map[string]any{"ref": body.Ref, "object": map[string]any{"sha": body.SHA, "type": "commit"}})
}

func blobSHA(content string) string { return shaOf("blob", content) }

func (s *Server) getContents(w http.ResponseWriter, fullName, path, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[fullName]
	sha := ref
	if b, ok := rp.branches[ref]; ok {
		sha = b
	}
	c, ok := rp.commits[sha]
	if !ok {
		notFound(w)
		return
	}
	content, ok := c.files[path]
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"type": "file", "encoding": "base64", "path": path, "name": path[strings.LastIndex(path, "/")+1:],
		"content": base64.StdEncoding.EncodeToString([]byte(content)), "sha": blobSHA(content), "size": len(content)})
}

func (s *Server) putContents(w http.ResponseWriter, r *http.Request, fullName, path string) {
	var body struct {
		Message, Content, SHA, Branch string
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Invalid request"})
		return
	}
	data, err := base64.StdEncoding.DecodeString(body.Content)
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "content is not valid Base64"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[fullName]
	head, ok := rp.branches[body.Branch]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Branch not found"})
		return
	}
	old, exists := rp.commits[head].files[path]
	if exists && body.SHA != blobSHA(old) {
		writeJSON(w, http.StatusConflict, map[string]any{"message": path + " does not match " + body.SHA})
		return
	}
	next := copyFiles(rp.commits[head].files)
	next[path] = string(data)
	c := s.newCommit(rp, head, next, body.Message)
	rp.branches[body.Branch] = c.sha
	writeJSON(w, http.StatusOK, map[string]any{"content": map[string]any{"path": path, "sha": blobSHA(string(data))}, "commit": map[string]any{"sha": c.sha, "message": body.Message}})
}

func (s *Server) pulls(w http.ResponseWriter, r *http.Request, fullName string, rest []string) {
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		q := r.URL.Query()
		head := q.Get("head")
		if i := strings.Index(head, ":"); i >= 0 {
			head = head[i+1:]
		}
		state := q.Get("state")
		s.mu.Lock()
		var out []map[string]any
		for i := len(s.repos[fullName].pulls) - 1; i >= 0; i-- {
			p := s.repos[fullName].pulls[i]
			if (head == "" || p.Head == head) && (state == "all" || state == "" && p.State == "open" || p.State == state) {
				out = append(out, s.prJSON(fullName, p))
			}
		}
		s.mu.Unlock()
		if out == nil {
			out = []map[string]any{}
		}
		writeJSON(w, http.StatusOK, out)
	case len(rest) == 0 && r.Method == http.MethodPost:
		var body struct{ Title, Head, Base, Body string }
		if json.NewDecoder(r.Body).Decode(&body) != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Invalid request"})
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		rp := s.repos[fullName]
		head := body.Head
		if i := strings.Index(head, ":"); i >= 0 {
			head = head[i+1:]
		}
		if _, ok := rp.branches[head]; !ok {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []map[string]any{{"field": "head", "code": "invalid"}}})
			return
		}
		for _, p := range rp.pulls {
			if p.Head == head && p.State == "open" {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []map[string]any{{"message": "A pull request already exists for " + head}}})
				return
			}
		}
		p := &PR{Number: len(rp.pulls) + 1, Title: body.Title, Body: body.Body, Head: head, Base: body.Base, BaseSHA: rp.branches[body.Base], State: "open"}
		rp.pulls = append(rp.pulls, p)
		writeJSON(w, http.StatusCreated, s.prJSON(fullName, p))
	case len(rest) >= 1:
		n, err := strconv.Atoi(rest[0])
		if err != nil {
			notFound(w)
			return
		}
		if len(rest) == 2 && rest[1] == "merge" && r.Method == http.MethodPut {
			s.mu.Lock()
			if msg := s.repos[fullName].refuse; msg != "" {
				s.mu.Unlock()
				writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": msg})
				return
			}
			pr, err := s.merge(fullName, n)
			hooks := s.onMerge
			s.mu.Unlock()
			if err != nil {
				writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": err.Error()})
				return
			}
			for _, h := range hooks {
				h(fullName, pr)
			}
			writeJSON(w, http.StatusOK, map[string]any{"merged": true, "sha": pr.MergeSHA, "message": "Pull Request successfully merged"})
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.repos[fullName].pulls {
			if p.Number == n {
				writeJSON(w, http.StatusOK, s.prJSON(fullName, p))
				return
			}
		}
		notFound(w)
	default:
		notFound(w)
	}
}

func (s *Server) deployments(w http.ResponseWriter, fullName string, rest []string, q url.Values) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[fullName]
	if len(rest) == 0 {
		var list []*deployment
		for _, d := range rp.deployments {
			if q.Get("environment") == "" || d.env == q.Get("environment") {
				list = append(list, d)
			}
		}
		sort.Slice(list, func(i, j int) bool { return list[i].created.After(list[j].created) })
		out := []map[string]any{}
		for _, d := range list {
			out = append(out, map[string]any{"id": d.id, "sha": d.sha, "environment": d.env, "created_at": d.created})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	if len(rest) == 2 && rest[1] == "statuses" {
		id, _ := strconv.ParseInt(rest[0], 10, 64)
		for _, d := range rp.deployments {
			if d.id == id {
				out := []map[string]any{}
				for i := len(d.statuses) - 1; i >= 0; i-- {
					out = append(out, map[string]any{"id": i + 1, "state": d.statuses[i]})
				}
				writeJSON(w, http.StatusOK, out)
				return
			}
		}
	}
	notFound(w)
}

func (s *Server) runs(w http.ResponseWriter, fullName, file, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for i, st := range s.repos[fullName].runs[file] {
		if status == "" || st == status {
			out = append(out, map[string]any{"id": i + 1, "status": st, "html_url": "https://github.com/" + fullName + "/actions/runs/" + strconv.Itoa(i+1)})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(out), "workflow_runs": out})
}

// compare answers how far head is from base, walking first parents.
func (s *Server) compare(w http.ResponseWriter, fullName, spec string) {
	base, head, ok := strings.Cut(spec, "...")
	if !ok {
		notFound(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[fullName]
	resolve := func(x string) string {
		if b, ok := rp.branches[x]; ok {
			return b
		}
		return x
	}
	base, head = resolve(base), resolve(head)
	ahead := 0
	for c := head; c != "" && c != base; c = rp.commits[c].parent {
		if rp.commits[c] == nil {
			notFound(w)
			return
		}
		ahead++
	}
	status := "ahead"
	if ahead == 0 {
		status = "identical"
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "ahead_by": ahead, "behind_by": 0, "total_commits": ahead})
}
