package snapshot

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Report is the diff of two snapshots.
type Report struct{ Results []Result }

// DiffSnapshots diffs every endpoint of two snapshots; an endpoint missing on one side
// is reported as a difference.
func DiffSnapshots(before, after Snapshot) (Report, error) {
	var rep Report
	files := map[string]File{}
	for _, f := range after.Files {
		files[f.Path] = f
	}
	for _, fa := range before.Files {
		name := strings.TrimSuffix(fa.Name, ".json")
		fb, ok := files[fa.Path]
		if !ok {
			rep.Results = append(rep.Results, Result{Name: name, Before: fa.Entries, Missing: true})
			continue
		}
		r, err := DiffFiles(name, before.Dir+"/"+fa.Name, after.Dir+"/"+fb.Name, DiffPath(fa.Path))
		if err != nil {
			return rep, err
		}
		rep.Results = append(rep.Results, r)
	}
	return rep, nil
}

// Empty reports no difference in any endpoint.
func (rep Report) Empty() bool {
	for _, r := range rep.Results {
		if !r.Empty() {
			return false
		}
	}
	return true
}

// repeats maps each repeated key of r to "2 entries before, 3 after".
func (r Result) repeats() map[string]string {
	m := make(map[string]string, len(r.Repeated))
	for _, p := range r.Repeated {
		m[p.Key] = fmt.Sprintf("%d entries before, %d after", p.Before, p.After)
	}
	return m
}

// keyLabel names an entry in a line: its key, and for a repeated key the counts and
// the entry itself (the key alone does not say which copy).
func keyLabel(key, entry string, repeats map[string]string) string {
	counts, ok := repeats[key]
	if !ok {
		return key
	}
	if entry == "" {
		return key + " (" + counts + ")"
	}
	return fmt.Sprintf("%s (%s) %s", key, counts, entry)
}

func (r Result) headline() string {
	if r.Missing {
		return fmt.Sprintf("%s: %d before, missing from the post snapshot", r.Name, r.Before)
	}
	line := fmt.Sprintf("%s: %d before, %d after, %d added, %d removed, %d changed", r.Name, r.Before, r.After, len(r.Added), len(r.Removed), len(r.Changed))
	if n := len(r.Repeated); n > 0 {
		line += fmt.Sprintf("; %d %s held by more than one entry, compared as multisets", n, plural(n, "key", "keys"))
	}
	return line
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Facts is the diff for the thread, as data: counts per endpoint and the first
// maxItems differences, with field-level old and new values (clipped).
func (rep Report) Facts(maxItems int) report.SnapshotDiffers {
	var out report.SnapshotDiffers
	shown := 0
	for _, r := range rep.Results {
		e := report.DiffEndpoint{Name: r.Name, Before: r.Before, After: r.After, Missing: r.Missing,
			Added: len(r.Added), Removed: len(r.Removed), Changed: len(r.Changed), Repeated: len(r.Repeated)}
		repeats := make(map[string]*report.KeyRepeat, len(r.Repeated))
		for _, p := range r.Repeated {
			repeats[p.Key] = &report.KeyRepeat{Before: p.Before, After: p.After}
		}
		for _, c := range r.Changed {
			if shown >= maxItems {
				break
			}
			it := report.DiffItem{How: report.DiffChanged, Key: c.Key, Repeat: repeats[c.Key]}
			for _, f := range c.Fields {
				it.Fields = append(it.Fields, report.DiffField{Field: f.Field, Old: clipValue(f.Old), New: clipValue(f.New)})
			}
			e.Items = append(e.Items, it)
			shown++
		}
		for _, l := range []struct {
			how     report.DiffHow
			entries []Entry
		}{{report.DiffAdded, r.Added}, {report.DiffRemoved, r.Removed}} {
			for _, en := range l.entries {
				if shown >= maxItems {
					break
				}
				it := report.DiffItem{How: l.how, Key: en.Key, Repeat: repeats[en.Key]}
				if it.Repeat != nil {
					it.Entry = clipValue(en.JSON)
				}
				e.Items = append(e.Items, it)
				shown++
			}
		}
		out.Endpoints = append(out.Endpoints, e)
	}
	return out
}

// Full is the whole diff, for a file.
func (rep Report) Full() string {
	var b strings.Builder
	for _, r := range rep.Results {
		b.WriteString("== " + r.headline() + "\n")
		repeats := r.repeats()
		for _, e := range r.Added {
			fmt.Fprintf(&b, "+ %s\n", keyLabel(e.Key, e.JSON, repeats))
		}
		for _, e := range r.Removed {
			fmt.Fprintf(&b, "- %s\n", keyLabel(e.Key, e.JSON, repeats))
		}
		for _, c := range r.Changed {
			fmt.Fprintf(&b, "~ %s\n", keyLabel(c.Key, c.Entry, repeats))
			for _, f := range c.Fields {
				fmt.Fprintf(&b, "    %s: %s -> %s\n", f.Field, f.Old, f.New)
			}
		}
		for _, p := range r.Repeated {
			fmt.Fprintf(&b, "  repeated key %s: %d entries before, %d after\n", p.Key, p.Before, p.After)
		}
	}
	return b.String()
}

func clipValue(s string) string {
	if len(s) <= 60 {
		return s
	}
	cut := 57
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut-- // never split a character
	}
	return s[:cut] + "…"
}
