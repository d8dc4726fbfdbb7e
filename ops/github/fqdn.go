package github

import (
	"bytes"
	"fmt"
	"regexp"
)

// listItem is one string of a list: src[start:end] is the quoted literal.
type listItem struct {
	start, end int
	value      string
	comma      int // index of the comma after it, or -1
}

// hclList is a flat list of strings `variable = [ ... ]`: src[open] is '[', src[close] ']'.
type hclList struct {
	open, close int
	items       []listItem
	kinds       []byte
}

// findList locates the variable's list, exactly once, and reads its strings.
func findList(src []byte, variable string) (hclList, error) {
	kinds := classify(src)
	head := regexp.MustCompile(`(?m)^[ \t]*` + regexp.QuoteMeta(variable) + `[ \t]*=[ \t]*\[`)
	locs := codeLineStarts(src, kinds, head.FindAllIndex(src, -1))
	switch len(locs) {
	case 0:
		return hclList{}, fmt.Errorf("variable %s is not in the file (check github.certs.list_variable)", variable)
	case 1:
	default:
		return hclList{}, fmt.Errorf("variable %s is in the file %d times; fix the file by hand", variable, len(locs))
	}
	l := hclList{open: locs[0][1] - 1, close: -1, kinds: kinds}
	expectItem := true
	for i := l.open + 1; i < len(src) && l.close < 0; {
		switch kinds[i] {
		case kComment:
			i++
			continue
		case kHeredoc:
			return hclList{}, fmt.Errorf("the list %s holds a heredoc; edit it by hand", variable)
		case kString:
			end := skipString(src, i)
			if end-1 <= i || src[end-1] != '"' {
				return hclList{}, fmt.Errorf("the list %s has an unterminated string", variable)
			}
			if !expectItem {
				return hclList{}, fmt.Errorf("the list %s lacks a comma between two names", variable)
			}
			l.items = append(l.items, listItem{start: i, end: end, value: string(src[i+1 : end-1]), comma: -1})
			expectItem = false
			i = end
			continue
		}
		switch c := src[i]; c {
		case ' ', '\t', '\r', '\n':
		case ',':
			if expectItem {
				return hclList{}, fmt.Errorf("the list %s has a stray comma", variable)
			}
			l.items[len(l.items)-1].comma = i
			expectItem = true
		case ']':
			l.close = i
		default:
			return hclList{}, fmt.Errorf("the list %s holds something other than quoted names (%q); edit it by hand", variable, c)
		}
		i++
	}
	if l.close < 0 {
		return hclList{}, fmt.Errorf("the list %s has no closing ]", variable)
	}
	return l, nil
}

func (l hclList) index(name string) int {
	for i, it := range l.items {
		if normHost(it.value) == normHost(name) {
			return i
		}
	}
	return -1
}

// listStyle carries what a removed line looked like to the line added after it.
type listStyle struct {
	indent string
	comma  bool
	known  bool
}

func splice(src []byte, from, to int, with string) []byte {
	out := make([]byte, 0, len(src)-(to-from)+len(with))
	out = append(out, src[:from]...)
	out = append(out, with...)
	return append(out, src[to:]...)
}

// EditFQDNList adds host to (add) or removes it from the list variable
// `<variable> = [ ... ]` of a tfvars file, keeping its layout: a name on its own line
// goes or comes as a whole line, one in a single-line list as a list element. Adding
// removes the placeholder; a list that would be empty gets the placeholder, since
// the certificate setup needs one name at least.
func EditFQDNList(src []byte, variable, host, placeholder string, add bool) ([]byte, error) {
	if err := identifier("the list variable", variable); err != nil {
		return nil, err
	}
	if err := plainName("the service host", host); err != nil {
		return nil, err
	}
	l, err := findList(src, variable)
	if err != nil {
		return nil, err
	}
	switch present := l.index(host) >= 0; {
	case add && present:
		return nil, fmt.Errorf("%q is already in %s: the certificate change may have been made already", host, variable)
	case !add && !present:
		return nil, fmt.Errorf("%q is not in %s: nothing to remove (was it removed already?)", host, variable)
	}
	var st listStyle
	out := src
	if !add {
		if out, err = removeAll(out, variable, host, &st); err != nil {
			return nil, err
		}
		if l, err = findList(out, variable); err != nil {
			return nil, err
		}
		if len(l.items) > 0 {
			return out, nil
		}
		if err := plainName("the placeholder", placeholder); err != nil {
			return nil, fmt.Errorf("%s would be empty and needs a placeholder: %w", variable, err)
		}
		if normHost(placeholder) == normHost(host) {
			return nil, fmt.Errorf("the placeholder %q is the service host itself; set github.certs.placeholder to another name", placeholder)
		}
		return appendItem(out, variable, placeholder, &st)
	}
	if placeholder != "" && normHost(placeholder) != normHost(host) {
		if out, err = removeAll(out, variable, placeholder, &st); err != nil {
			return nil, err
		}
	}
	return appendItem(out, variable, host, &st)
}

func removeAll(src []byte, variable, name string, st *listStyle) ([]byte, error) {
	for {
		l, err := findList(src, variable)
		if err != nil {
			return nil, err
		}
		i := l.index(name)
		if i < 0 {
			return src, nil
		}
		src = removeItem(src, l, l.items[i], st)
	}
}

// removeItem deletes the item's whole line when it stands alone on it (with its comma
// and a trailing comment), else just the element and its separator.
func removeItem(src []byte, l hclList, it listItem, st *listStyle) []byte {
	ls, le := lineStart(src, it.start), lineEnd(src, it.end)
	if ls > l.open && le < l.close && onlySpace(src[ls:it.start]) {
		j := it.end
		for j < le && (src[j] == ' ' || src[j] == '\t') {
			j++
		}
		comma := j < le && src[j] == ','
		alone := true
		for k := j; k < le; k++ {
			if src[k] == ',' && k == it.comma || l.kinds[k] == kComment || src[k] == ' ' || src[k] == '\t' || src[k] == '\r' {
				continue
			}
			alone = false
			break
		}
		if alone {
			*st = listStyle{indent: string(src[ls:it.start]), comma: comma, known: true}
			return splice(src, ls, le+1, "")
		}
	}
	if it.comma >= 0 && onlySpace(src[it.end:it.comma]) {
		j := it.comma + 1
		for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
			j++
		}
		return splice(src, it.start, j, "")
	}
	from := it.start
	for from > l.open+1 && (src[from-1] == ' ' || src[from-1] == '\t') {
		from--
	}
	if from > l.open+1 && src[from-1] == ',' && l.kinds[from-1] == kCode {
		from-- // the separator before the last element goes with it
	}
	to := it.end
	if it.comma >= 0 {
		to = it.comma + 1
	}
	return splice(src, from, to, "")
}

// appendItem adds name as the list's last element, on a line of its own when the list
// is written one name per line.
func appendItem(src []byte, variable, name string, st *listStyle) ([]byte, error) {
	l, err := findList(src, variable)
	if err != nil {
		return nil, err
	}
	quoted := `"` + name + `"`
	closeLS := lineStart(src, l.close)
	if closeLS > l.open && onlySpace(src[closeLS:l.close]) {
		nl := "\n"
		if closeLS >= 2 && src[closeLS-2] == '\r' {
			nl = "\r\n"
		}
		indent, comma := string(bytes.TrimRight(src[closeLS:l.close], "\r"))+"  ", true
		if st.known {
			indent, comma = st.indent, st.comma
		}
		for _, it := range l.items {
			if ls := lineStart(src, it.start); onlySpace(src[ls:it.start]) {
				indent = string(src[ls:it.start])
			}
		}
		line := indent + quoted
		if n := len(l.items); n > 0 {
			comma = l.items[n-1].comma >= 0
		}
		if comma {
			line += ","
		}
		out := splice(src, closeLS, closeLS, line+nl)
		if n := len(l.items); n > 0 && l.items[n-1].comma < 0 {
			out = splice(out, l.items[n-1].end, l.items[n-1].end, ",")
		}
		return out, nil
	}
	if n := len(l.items); n > 0 {
		last := l.items[n-1]
		if last.comma >= 0 {
			return splice(src, last.comma+1, last.comma+1, " "+quoted+","), nil
		}
		return splice(src, last.end, last.end, ", "+quoted), nil
	}
	if inner := src[l.open+1 : l.close]; len(inner) > 0 && onlySpace(inner) {
		return splice(src, l.open+1, l.close, " "+quoted+" "), nil
	}
	if c := src[l.close-1]; c != '[' && c != ' ' && c != '\t' {
		quoted = " " + quoted
	}
	return splice(src, l.close, l.close, quoted), nil
}
