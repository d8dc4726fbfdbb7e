package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	gh "github.com/google/go-github/v62/github"
)

// ErrHeadMoved says GitHub refused a merge (409) because the pull request's branch no
// longer ends at the sha the bot compared: something was pushed after the comparison.
// Compare again before merging.
var ErrHeadMoved = errors.New("the pull request's branch moved after the bot compared it")

// FileCheck is one file of a pull request: as the bot's change makes it, and as the
// PR's head holds it.
type FileCheck struct {
	Path string
	// Before is the file where the PR's branch left its base.
	Before string
	// Want is the bot's edit of Before; for a file the edit does not touch, Before.
	Want string
	Got  string // at the PR's head
	// InEdit is false for a file the PR changes and the bot's edit does not.
	InEdit                  bool
	BeforeAbsent, GotAbsent bool
}

// MismatchError says a pull request holds something other than the change the bot
// computed; its message shows both versions of each file that differs.
type MismatchError struct {
	PR PR
	// Head is the commit that was compared.
	Head  string
	Files []FileCheck
}

func (e *MismatchError) Error() string {
	var b strings.Builder
	if e.PR.Merged {
		fmt.Fprintf(&b, "%s was merged, but its head %s is not the change the bot computed: check %s and revert what nobody approved (an Abort reverts the whole pull request).\n",
			e.PR.URL, short(e.Head), e.PR.Base)
	} else {
		fmt.Fprintf(&b, "%s does not hold exactly the change the bot computed, so it was not merged. At its head %s:\n", e.PR.URL, short(e.Head))
	}
	for _, f := range e.Files {
		fmt.Fprintf(&b, "\n%s\n", f.Path)
		b.WriteString("  the bot's change:\n")
		if f.InEdit {
			writeDiff(&b, f.Before, f.Want, f.BeforeAbsent, false)
		} else {
			b.WriteString("    (leaves this file alone)\n")
		}
		b.WriteString("  the pull request:\n")
		writeDiff(&b, f.Before, f.Got, f.BeforeAbsent, f.GotAbsent)
	}
	if !e.PR.Merged {
		fmt.Fprintf(&b, "\nPut branch %s back to the bot's change alone (revert or drop the other commits), then Retry; or Abort.", e.PR.Branch)
	}
	return b.String()
}

// writeDiff writes the lines that differ between before and after, numbered.
func writeDiff(b *strings.Builder, before, after string, beforeAbsent, afterAbsent bool) {
	switch {
	case beforeAbsent && afterAbsent:
		b.WriteString("    (no such file)\n")
		return
	case afterAbsent:
		b.WriteString("    deletes the file\n")
		return
	case beforeAbsent:
		b.WriteString("    adds the file:\n")
	}
	lines := lineDiff(before, after)
	if len(lines) == 0 {
		if before == after {
			b.WriteString("    (no change)\n")
		} else {
			b.WriteString("    (the file differs only in its line endings or final newline)\n")
		}
		return
	}
	const most = 30
	for i, l := range lines {
		if i == most {
			fmt.Fprintf(b, "    … and %d more changed lines\n", len(lines)-most)
			break
		}
		b.WriteString("    " + l + "\n")
	}
}

// CheckChange compares what pull request pr changes with the bot's change: each of
// files' edits applied to the file where the PR's branch left its base. The PR must
// change exactly those files, to exactly those contents. It returns the PR as read,
// with HeadSHA the commit that was compared: merge that sha (Merge), so that nothing
// pushed after the comparison is merged. A difference is a *MismatchError. A PR
// closed without merging is returned as it is: nothing will merge it.
func (c *Client) CheckChange(ctx context.Context, pr PR, files map[string]func([]byte) ([]byte, error)) (PR, error) {
	now, err := c.Get(ctx, pr.Repo, pr.Number)
	if err != nil {
		return pr, err
	}
	if now.State == "closed" && !now.Merged {
		return now, nil
	}
	owner, name := split(now.Repo)
	// An open PR's change is its head against the base branch; a merged one's, against
	// the base it was merged into (the base branch now contains it).
	base := now.Base
	if now.Merged || base == "" {
		base = now.BaseSHA
	}
	cctx, cancel := c.call(ctx)
	cmp, _, err := c.gh.Repositories.CompareCommits(cctx, owner, name, base, now.HeadSHA, &gh.ListOptions{PerPage: 100})
	cancel()
	if err != nil {
		return now, fmt.Errorf("compare %s with its base to check its change: %w", now.URL, err)
	}
	fork := cmp.GetMergeBaseCommit().GetSHA()
	if fork == "" {
		return now, fmt.Errorf("GitHub gives no merge base for %s, so its change cannot be checked", now.URL)
	}
	paths := map[string]bool{}
	for p := range files {
		paths[p] = true
	}
	for _, f := range cmp.Files {
		paths[f.GetFilename()] = true
		if prev := f.GetPreviousFilename(); prev != "" {
			paths[prev] = true // a rename changes two paths
		}
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var bad []FileCheck
	for _, path := range sorted {
		f := FileCheck{Path: path, InEdit: files[path] != nil}
		var ok bool
		if f.Before, ok, err = c.fileAt(ctx, now.Repo, path, fork); err != nil {
			return now, err
		}
		f.BeforeAbsent = !ok
		if f.Got, ok, err = c.fileAt(ctx, now.Repo, path, now.HeadSHA); err != nil {
			return now, err
		}
		f.GotAbsent = !ok
		f.Want = f.Before
		if f.InEdit {
			if f.BeforeAbsent {
				return now, fmt.Errorf("%s is not in %s where %s left %s, so the bot's change to it cannot be checked", path, now.Repo, now.URL, base)
			}
			want, err := files[path]([]byte(f.Before))
			if err != nil {
				return now, fmt.Errorf("the bot's change to %s, made again where %s left %s: %w", path, now.URL, base, err)
			}
			f.Want = string(want)
		}
		if f.GotAbsent == (f.BeforeAbsent && !f.InEdit) && f.Got == f.Want {
			continue
		}
		bad = append(bad, f)
	}
	if len(bad) > 0 {
		return now, &MismatchError{PR: now, Head: now.HeadSHA, Files: bad}
	}
	return now, nil
}

// fileAt reads a file at a ref; ok is false when the file is not there.
func (c *Client) fileAt(ctx context.Context, repo, path, ref string) (text string, ok bool, err error) {
	owner, name := split(repo)
	ctx, cancel := c.call(ctx)
	defer cancel()
	fc, _, resp, err := c.gh.Repositories.GetContents(ctx, owner, name, path, &gh.RepositoryContentGetOptions{Ref: ref})
	switch {
	case err != nil && resp != nil && resp.StatusCode == http.StatusNotFound:
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("read %s in %s at %s: %w", path, repo, short(ref), err)
	case fc == nil:
		return "", false, fmt.Errorf("%s in %s at %s is a directory, not a file", path, repo, short(ref))
	}
	text, err = fc.GetContent()
	if err != nil {
		return "", false, fmt.Errorf("decode %s in %s: %w", path, repo, err)
	}
	return text, true, nil
}

// lineDiff lists the lines that differ between a and b: "-N: line" for a's line N,
// "+N: line" for b's, in file order.
func lineDiff(a, b string) []string {
	x, y := lines(a), lines(b)
	pre := 0
	for pre < len(x) && pre < len(y) && x[pre] == y[pre] {
		pre++
	}
	suf := 0
	for suf < len(x)-pre && suf < len(y)-pre && x[len(x)-1-suf] == y[len(y)-1-suf] {
		suf++
	}
	mx, my := x[pre:len(x)-suf], y[pre:len(y)-suf]
	minus := func(i int) string { return fmt.Sprintf("-%d: %s", pre+i+1, clipLine(mx[i])) }
	plus := func(j int) string { return fmt.Sprintf("+%d: %s", pre+j+1, clipLine(my[j])) }
	var out []string
	if len(mx)*len(my) > 1<<22 {
		// Too large to align line by line: everything between the common ends differs.
		for i := range mx {
			out = append(out, minus(i))
		}
		for j := range my {
			out = append(out, plus(j))
		}
		return out
	}
	// lcs[i][j] is the longest common subsequence of mx[i:] and my[j:].
	lcs := make([][]int32, len(mx)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(my)+1)
	}
	for i := len(mx) - 1; i >= 0; i-- {
		for j := len(my) - 1; j >= 0; j-- {
			if mx[i] == my[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(mx) || j < len(my) {
		switch {
		case i < len(mx) && j < len(my) && mx[i] == my[j]:
			i, j = i+1, j+1
		case j == len(my) || (i < len(mx) && lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, minus(i))
			i++
		default:
			out = append(out, plus(j))
			j++
		}
	}
	return out
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// clipLine keeps a shown line short and unable to end the code block it is shown in.
func clipLine(s string) string {
	s = strings.ReplaceAll(s, "```", "'''")
	if r := []rune(s); len(r) > 160 {
		return string(r[:160]) + "…"
	}
	return s
}
