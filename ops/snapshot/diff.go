package snapshot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// KeySpec names the fields that identify an entry.
type KeySpec struct{ Fields []string }

// DiffPath picks the key for an endpoint: id for nodes, from+to for links,
// nodeId+azimuth for sectors.
func DiffPath(path string) KeySpec {
	switch {
	case strings.Contains(path, "links"):
		return KeySpec{Fields: []string{"from", "to"}}
	case strings.Contains(path, "sectors"):
		return KeySpec{Fields: []string{"nodeId", "azimuth"}}
	}
	return KeySpec{Fields: []string{"id"}}
}

// Change is one changed entry and its changed fields.
type Change struct {
	Key    string
	Fields []FieldChange
}

// FieldChange is one field's old and new value ("null" when absent).
type FieldChange struct {
	Field    string
	Old, New string
}

// Result is the difference of one endpoint.
type Result struct {
	Name           string
	Before, After  int
	Added, Removed []string
	Changed        []Change
	Duplicates     []string
}

// Empty reports no difference at all.
func (r Result) Empty() bool {
	return len(r.Added) == 0 && len(r.Removed) == 0 && len(r.Changed) == 0 && len(r.Duplicates) == 0
}

// eachEntry streams the elements of a JSON array.
func eachEntry(r io.Reader, fn func(json.RawMessage) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("not a JSON array (starts with %v)", tok)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("malformed JSON at byte %d: %w", dec.InputOffset(), err)
		}
		if err := fn(raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("malformed JSON at byte %d: %w", dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the array at byte %d", dec.InputOffset())
	}
	return nil
}

type entry map[string]json.RawMessage

// side is one parsed file: its bytes, each element's range, and key -> element index.
type side struct {
	data  []byte
	elems [][2]int
	keys  []string // per element
	byKey map[string]int
	dups  []string
}

func keyOfRaw(obj []byte, k KeySpec) (string, error) {
	vals := make([][]byte, len(k.Fields))
	found := 0
	err := members(obj, func(name string, val []byte) bool {
		for i, f := range k.Fields {
			if f == name && vals[i] == nil {
				vals[i] = val
				found++
			}
		}
		return found < len(vals) // stop once every key field is seen
	})
	if err != nil {
		return "", err
	}
	if len(vals) == 1 && len(vals[0]) > 0 {
		// The file's bytes outlive the diff: the key can point into them, no copy.
		return unsafe.String(&vals[0][0], len(vals[0])), nil
	}
	var b bytes.Buffer
	for i, v := range vals {
		if i > 0 {
			b.WriteByte('|')
		}
		if v == nil {
			v = []byte("null")
		}
		b.Write(v)
	}
	return b.String(), nil
}

// parseSide finds every element and its key. Structure, strings and literals at the top
// two levels are checked while scanning; deeper content is checked by decoding when an
// entry differs from its counterpart.
func parseSide(data []byte, k KeySpec) (*side, error) {
	elems, err := elements(data)
	if err != nil {
		return nil, err
	}
	s := &side{data: data, elems: elems, keys: make([]string, len(elems)), byKey: make(map[string]int, len(elems))}
	for i, e := range elems {
		key, err := keyOfRaw(data[e[0]:e[1]], k)
		if err != nil {
			return nil, fmt.Errorf("entry %d (byte %d): %w", i+1, e[0], err)
		}
		if _, dup := s.byKey[key]; dup {
			s.dups = append(s.dups, key)
		}
		s.keys[i] = key
		s.byKey[key] = i
	}
	return s, nil
}

func (s *side) raw(i int) []byte { return s.data[s.elems[i][0]:s.elems[i][1]] }

// Diff compares two arrays by key, ignoring order. Absent keys equal null. Entries
// whose bytes are equal are equal; only the others are decoded and compared field by field.
func Diff(name string, before, after io.Reader, k KeySpec) (Result, error) {
	a, err := io.ReadAll(before)
	if err != nil {
		return Result{}, err
	}
	b, err := io.ReadAll(after)
	if err != nil {
		return Result{}, err
	}
	return diffBytes(name, a, b, k)
}

func diffBytes(name string, before, after []byte, k KeySpec) (Result, error) {
	var a, b *side
	var errA, errB error
	done := make(chan struct{})
	go func() {
		defer close(done)
		a, errA = parseSide(before, k)
	}()
	b, errB = parseSide(after, k)
	<-done
	if errA != nil {
		return Result{}, fmt.Errorf("%s (before): %w", name, errA)
	}
	if errB != nil {
		return Result{}, fmt.Errorf("%s (after): %w", name, errB)
	}
	r := Result{Name: name, Before: len(a.elems), After: len(b.elems)}
	for _, d := range a.dups {
		r.Duplicates = append(r.Duplicates, "before: "+d)
	}
	for _, d := range b.dups {
		r.Duplicates = append(r.Duplicates, "after: "+d)
	}
	// Compare in two halves at once; each half only reads the maps.
	type half struct {
		removed []string
		changed []Change
		err     error
	}
	halves := make([]half, 2)
	var wg sync.WaitGroup
	for h := range halves {
		wg.Add(1)
		go func(h int) {
			defer wg.Done()
			lo, hi := h*len(a.keys)/2, (h+1)*len(a.keys)/2
			for ia := lo; ia < hi; ia++ {
				key := a.keys[ia]
				if a.byKey[key] != ia {
					continue // a duplicate: the last one counts
				}
				ib, ok := b.byKey[key]
				if !ok {
					halves[h].removed = append(halves[h].removed, key)
					continue
				}
				ra, rb := a.raw(ia), b.raw(ib)
				if bytes.Equal(ra, rb) {
					continue
				}
				var ea, eb entry
				if err := json.Unmarshal(ra, &ea); err != nil {
					halves[h].err = fmt.Errorf("%s (before) %s: %w", name, key, err)
					return
				}
				if err := json.Unmarshal(rb, &eb); err != nil {
					halves[h].err = fmt.Errorf("%s (after) %s: %w", name, key, err)
					return
				}
				if c := compare(ea, eb); len(c) > 0 {
					halves[h].changed = append(halves[h].changed, Change{Key: strings.Clone(key), Fields: c})
				}
			}
		}(h)
	}
	wg.Wait()
	for _, h := range halves {
		if h.err != nil {
			return r, h.err
		}
		for _, k := range h.removed {
			r.Removed = append(r.Removed, strings.Clone(k))
		}
		r.Changed = append(r.Changed, h.changed...)
	}
	for key := range b.byKey {
		if _, ok := a.byKey[key]; !ok {
			r.Added = append(r.Added, strings.Clone(key))
		}
	}
	for i, d := range r.Duplicates {
		r.Duplicates[i] = strings.Clone(d)
	}
	sort.Strings(r.Added)
	sort.Strings(r.Removed)
	sort.Slice(r.Changed, func(i, j int) bool { return r.Changed[i].Key < r.Changed[j].Key })
	return r, nil
}

func compare(a, b entry) []FieldChange {
	var out []FieldChange
	seen := map[string]bool{}
	check := func(f string) {
		if seen[f] {
			return
		}
		seen[f] = true
		va, vb := canon(a[f]), canon(b[f])
		if va != vb {
			out = append(out, FieldChange{Field: f, Old: va, New: vb})
		}
	}
	for f := range a {
		check(f)
	}
	for f := range b {
		check(f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// canon renders a value so that formatting differences ({"a":1} vs { "a": 1 }) vanish.
func canon(v json.RawMessage) string {
	if v == nil {
		return "null"
	}
	t := bytes.TrimSpace(v)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		var x any
		if json.Unmarshal(t, &x) == nil {
			if c, err := json.Marshal(x); err == nil {
				return string(c)
			}
		}
	}
	return string(t)
}

// DiffFiles diffs two files (read whole, at their exact size).
func DiffFiles(name, before, after string, k KeySpec) (Result, error) {
	a, err := os.ReadFile(before)
	if err != nil {
		return Result{}, err
	}
	b, err := os.ReadFile(after)
	if err != nil {
		return Result{}, err
	}
	return diffBytes(name, a, b, k)
}

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
		fb, ok := files[fa.Path]
		if !ok {
			rep.Results = append(rep.Results, Result{Name: fa.Name, Before: fa.Entries, Duplicates: []string{"missing from the post snapshot"}})
			continue
		}
		r, err := DiffFiles(strings.TrimSuffix(fa.Name, ".json"), before.Dir+"/"+fa.Name, after.Dir+"/"+fb.Name, DiffPath(fa.Path))
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

// Summary is for the thread: counts per endpoint and the first few changes.
func (rep Report) Summary(maxItems int) string {
	var b strings.Builder
	shown := 0
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "%s: %d before, %d after, %d added, %d removed, %d changed\n", r.Name, r.Before, r.After, len(r.Added), len(r.Removed), len(r.Changed))
		for _, c := range r.Changed {
			if shown >= maxItems {
				break
			}
			var fs []string
			for _, f := range c.Fields {
				fs = append(fs, fmt.Sprintf("%s %s → %s", f.Field, clipValue(f.Old), clipValue(f.New)))
			}
			fmt.Fprintf(&b, "• %s %s: %s\n", r.Name, c.Key, strings.Join(fs, ", "))
			shown++
		}
		for _, k := range r.Added {
			if shown >= maxItems {
				break
			}
			fmt.Fprintf(&b, "• %s %s: added\n", r.Name, k)
			shown++
		}
		for _, k := range r.Removed {
			if shown >= maxItems {
				break
			}
			fmt.Fprintf(&b, "• %s %s: removed\n", r.Name, k)
			shown++
		}
		for _, d := range r.Duplicates {
			fmt.Fprintf(&b, "• %s: duplicate key %s\n", r.Name, d)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// Full is the whole diff, for a file.
func (rep Report) Full() string {
	var b strings.Builder
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "== %s: %d before, %d after\n", r.Name, r.Before, r.After)
		for _, k := range r.Added {
			fmt.Fprintf(&b, "+ %s\n", k)
		}
		for _, k := range r.Removed {
			fmt.Fprintf(&b, "- %s\n", k)
		}
		for _, c := range r.Changed {
			fmt.Fprintf(&b, "~ %s\n", c.Key)
			for _, f := range c.Fields {
				fmt.Fprintf(&b, "    %s: %s -> %s\n", f.Field, f.Old, f.New)
			}
		}
		for _, d := range r.Duplicates {
			fmt.Fprintf(&b, "! duplicate key %s\n", d)
		}
	}
	return b.String()
}

func clipValue(s string) string {
	if len(s) > 60 {
		return s[:57] + "…"
	}
	return s
}
