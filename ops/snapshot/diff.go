package snapshot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
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
	// Entry is the entry before the change, as JSON, when its key is repeated: the key
	// alone does not say which of the entries under it changed.
	Entry string
}

// FieldChange is one field's old and new value ("null" when absent).
type FieldChange struct {
	Field    string
	Old, New string
}

// Entry is one added or removed entry.
type Entry struct {
	Key string
	// JSON is the entry itself when its key is repeated (which copy came or went).
	JSON string
}

// Repeat is a key held by more than one entry on either side. MeshDB's map data has
// such keys (two links between the same nodes, two antennas at one azimuth): the entries
// under a key are compared as a multiset, so a repeat is not a difference by itself.
type Repeat struct {
	Key           string
	Before, After int
}

// Result is the difference of one endpoint.
type Result struct {
	Name           string
	Before, After  int
	Added, Removed []Entry
	Changed        []Change
	Repeated       []Repeat
	// Missing says the endpoint is absent from the post snapshot.
	Missing bool
}

// Empty reports no difference at all.
func (r Result) Empty() bool {
	return !r.Missing && len(r.Added) == 0 && len(r.Removed) == 0 && len(r.Changed) == 0
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

// side is one parsed file: its bytes, each element's range and key, and for each key
// its first element; further elements under a key are chained through next.
type side struct {
	data  []byte
	elems [][2]int
	keys  []string // per element
	first map[string]int
	next  []int          // next element with the same key, or -1
	count map[string]int // elements per key, only for keys held by more than one
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
	s := &side{data: data, elems: elems, keys: make([]string, len(elems)), first: make(map[string]int, len(elems)),
		next: make([]int, len(elems)), count: map[string]int{}}
	last := map[string]int{} // last element of each repeated key, to chain in file order
	for i, e := range elems {
		key, err := keyOfRaw(data[e[0]:e[1]], k)
		if err != nil {
			return nil, fmt.Errorf("entry %d (byte %d): %w", i+1, e[0], err)
		}
		s.keys[i] = key
		s.next[i] = -1
		f, seen := s.first[key]
		if !seen {
			s.first[key] = i
			continue
		}
		prev, ok := last[key]
		if !ok {
			prev = f
			s.count[key] = 1
		}
		s.next[prev] = i
		last[key] = i
		s.count[key]++
	}
	return s, nil
}

func (s *side) raw(i int) []byte { return s.data[s.elems[i][0]:s.elems[i][1]] }

// group lists the elements under key, in file order.
func (s *side) group(key string) []int {
	i, ok := s.first[key]
	if !ok {
		return nil
	}
	var out []int
	for ; i >= 0; i = s.next[i] {
		out = append(out, i)
	}
	return out
}

// Diff compares two arrays by key, ignoring order. Absent keys equal null. Entries
// whose bytes are equal are equal; only the others are decoded and compared field by
// field. The entries under a repeated key are compared as a multiset.
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

// groupDiff is what one key contributes to a Result.
type groupDiff struct {
	added, removed []Entry
	changed        []Change
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
	repeated := func(key string) bool { return a.count[key] > 0 || b.count[key] > 0 }
	// Compare in two halves at once; each half only reads the sides.
	type half struct {
		groupDiff
		err error
	}
	halves := make([]half, 2)
	var wg sync.WaitGroup
	for h := range halves {
		wg.Add(1)
		go func(h int) {
			defer wg.Done()
			lo, hi := h*len(a.keys)/2, (h+1)*len(a.keys)/2
			out := &halves[h]
			for ia := lo; ia < hi; ia++ {
				key := a.keys[ia]
				if a.first[key] != ia {
					continue // a later entry under a repeated key: compared with its group
				}
				if repeated(key) {
					g, err := diffGroup(name, key, a, b)
					if err != nil {
						out.err = err
						return
					}
					out.added = append(out.added, g.added...)
					out.removed = append(out.removed, g.removed...)
					out.changed = append(out.changed, g.changed...)
					continue
				}
				ib, ok := b.first[key]
				if !ok {
					out.removed = append(out.removed, Entry{Key: strings.Clone(key)})
					continue
				}
				ra, rb := a.raw(ia), b.raw(ib)
				if bytes.Equal(ra, rb) {
					continue
				}
				ea, eb, err := decodePair(name, key, ra, rb)
				if err != nil {
					out.err = err
					return
				}
				if c := compare(ea, eb); len(c) > 0 {
					out.changed = append(out.changed, Change{Key: strings.Clone(key), Fields: c})
				}
			}
		}(h)
	}
	wg.Wait()
	for _, h := range halves {
		if h.err != nil {
			return r, h.err
		}
		r.Removed = append(r.Removed, h.removed...)
		r.Added = append(r.Added, h.added...)
		r.Changed = append(r.Changed, h.changed...)
	}
	for key, ib := range b.first {
		if _, ok := a.first[key]; ok {
			continue
		}
		if !repeated(key) {
			r.Added = append(r.Added, Entry{Key: strings.Clone(key)})
			continue
		}
		for ; ib >= 0; ib = b.next[ib] {
			r.Added = append(r.Added, Entry{Key: strings.Clone(key), JSON: string(b.raw(ib))})
		}
	}
	for key, n := range a.count {
		r.Repeated = append(r.Repeated, Repeat{Key: strings.Clone(key), Before: n, After: len(b.group(key))})
	}
	for key, n := range b.count {
		if a.count[key] == 0 {
			r.Repeated = append(r.Repeated, Repeat{Key: strings.Clone(key), Before: len(a.group(key)), After: n})
		}
	}
	sortEntries(r.Added)
	sortEntries(r.Removed)
	sort.Slice(r.Changed, func(i, j int) bool {
		if r.Changed[i].Key != r.Changed[j].Key {
			return r.Changed[i].Key < r.Changed[j].Key
		}
		return r.Changed[i].Entry < r.Changed[j].Entry
	})
	sort.Slice(r.Repeated, func(i, j int) bool { return r.Repeated[i].Key < r.Repeated[j].Key })
	return r, nil
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Key != es[j].Key {
			return es[i].Key < es[j].Key
		}
		return es[i].JSON < es[j].JSON
	})
}

func decodePair(name, key string, ra, rb []byte) (entry, entry, error) {
	var ea, eb entry
	if err := json.Unmarshal(ra, &ea); err != nil {
		return nil, nil, fmt.Errorf("%s (before) %s: %w", name, key, err)
	}
	if err := json.Unmarshal(rb, &eb); err != nil {
		return nil, nil, fmt.Errorf("%s (after) %s: %w", name, key, err)
	}
	return ea, eb, nil
}

// member is one entry of a repeated key's group, decoded.
type member struct {
	raw   []byte
	e     entry
	canon string // equal for entries that compare equal
}

// pairSearchMax bounds the search for the closest pairs among a key's unmatched entries
// (quadratic); beyond it, unmatched entries pair in canonical order.
const pairSearchMax = 64

// diffGroup compares the entries under a key that repeats on either side as a multiset:
// entries equal on both sides cancel out, whatever their count and order; of the rest,
// each remaining entry before is paired with the closest remaining entry after (the
// fewest changed fields) and reported as a change; what stays unpaired was removed or
// added.
func diffGroup(name, key string, a, b *side) (groupDiff, error) {
	load := func(s *side, which string) ([]member, error) {
		var ms []member
		for _, i := range s.group(key) {
			var e entry
			if err := json.Unmarshal(s.raw(i), &e); err != nil {
				return nil, fmt.Errorf("%s (%s) %s: %w", name, which, key, err)
			}
			ms = append(ms, member{raw: s.raw(i), e: e, canon: canonEntry(e)})
		}
		sort.Slice(ms, func(i, j int) bool { return ms[i].canon < ms[j].canon })
		return ms, nil
	}
	before, err := load(a, "before")
	if err != nil {
		return groupDiff{}, err
	}
	after, err := load(b, "after")
	if err != nil {
		return groupDiff{}, err
	}
	// Both lists are sorted by canonical form: cancel equal entries as a merge does.
	var restA, restB []member
	i, j := 0, 0
	for i < len(before) && j < len(after) {
		switch {
		case before[i].canon == after[j].canon:
			i++
			j++
		case before[i].canon < after[j].canon:
			restA = append(restA, before[i])
			i++
		default:
			restB = append(restB, after[j])
			j++
		}
	}
	restA = append(restA, before[i:]...)
	restB = append(restB, after[j:]...)

	var g groupDiff
	k := strings.Clone(key)
	used := make([]bool, len(restB))
	for _, ma := range restA {
		best, bestFields := -1, []FieldChange(nil)
		for jb, mb := range restB {
			if used[jb] {
				continue
			}
			c := compare(ma.e, mb.e)
			if best < 0 || len(c) < len(bestFields) {
				best, bestFields = jb, c
			}
			if len(restA) > pairSearchMax || len(restB) > pairSearchMax {
				break // the first unused one: canonical order
			}
		}
		if best < 0 {
			g.removed = append(g.removed, Entry{Key: k, JSON: string(ma.raw)})
			continue
		}
		used[best] = true
		g.changed = append(g.changed, Change{Key: k, Fields: bestFields, Entry: string(ma.raw)})
	}
	for jb, mb := range restB {
		if !used[jb] {
			g.added = append(g.added, Entry{Key: k, JSON: string(mb.raw)})
		}
	}
	return g, nil
}

// canonEntry renders an entry so that entries compare's rules call equal render equal:
// fields sorted, formatting gone, absent and null alike.
func canonEntry(e entry) string {
	names := make([]string, 0, len(e))
	vals := make(map[string]string, len(e))
	for f, v := range e {
		c := canon(v)
		if c == "null" {
			continue
		}
		names = append(names, f)
		vals[f] = c
	}
	sort.Strings(names)
	var b strings.Builder
	for _, f := range names {
		b.WriteString(strconv.Quote(f))
		b.WriteByte(':')
		b.WriteString(vals[f])
		b.WriteByte(',')
	}
	return b.String()
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
