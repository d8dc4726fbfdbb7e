package github

import "bytes"

// Byte classes of an HCL file. The edits look for attributes and braces only in code,
// so a commented-out block, a brace inside a string or a heredoc never misleads them.
const (
	kCode byte = iota
	kString
	kComment
	kHeredoc
)

// classify marks every byte of src with its class. It is lenient: an unterminated
// string stops at the end of its line, an unterminated comment or heredoc runs to the
// end of the file; the edits then report "not found" rather than guess.
func classify(src []byte) []byte {
	k := make([]byte, len(src))
	fill := func(from, to int, class byte) {
		for j := from; j < to; j++ {
			k[j] = class
		}
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '#' || (c == '/' && at(src, i+1) == '/'):
			j := lineEnd(src, i)
			fill(i, j, kComment)
			i = j
		case c == '/' && at(src, i+1) == '*':
			j := len(src)
			if e := bytes.Index(src[i+2:], []byte("*/")); e >= 0 {
				j = i + 2 + e + 2
			}
			fill(i, j, kComment)
			i = j
		case c == '"':
			j := skipString(src, i)
			fill(i, j, kString)
			i = j
		case c == '<' && at(src, i+1) == '<':
			if j, ok := skipHeredoc(src, i); ok {
				fill(i, j, kHeredoc)
				i = j
				continue
			}
			i += 2
		default:
			i++
		}
	}
	return k
}

// at is src[i], or 0 past the end.
func at(src []byte, i int) byte {
	if i < len(src) {
		return src[i]
	}
	return 0
}

// lineEnd is the index of the newline ending the line holding i (or len(src)).
func lineEnd(src []byte, i int) int {
	if e := bytes.IndexByte(src[i:], '\n'); e >= 0 {
		return i + e
	}
	return len(src)
}

// lineStart is the index of the first byte of the line holding i.
func lineStart(src []byte, i int) int {
	return bytes.LastIndexByte(src[:i], '\n') + 1
}

// skipString returns the index just past the quoted string opening at i, following
// escapes and ${...} / %{...} templates (which may hold strings of their own).
func skipString(src []byte, i int) int {
	j := i + 1
	for j < len(src) {
		switch c := src[j]; {
		case c == '\\':
			j += 2
		case c == '\n':
			return j // unterminated: HCL strings are one line
		case c == '"':
			return j + 1
		case (c == '$' || c == '%') && at(src, j+1) == c && at(src, j+2) == '{':
			j += 3 // $${ is a literal ${
		case (c == '$' || c == '%') && at(src, j+1) == '{':
			j = skipTemplate(src, j+2)
		default:
			j++
		}
	}
	return len(src)
}

// skipTemplate returns the index just past the } closing a template opened before i.
func skipTemplate(src []byte, i int) int {
	depth := 1
	for i < len(src) {
		switch src[i] {
		case '"':
			i = skipString(src, i)
			continue
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return len(src)
}

// skipHeredoc returns the index past the heredoc (<<EOF or <<-EOF) opening at i.
func skipHeredoc(src []byte, i int) (int, bool) {
	j := i + 2
	if at(src, j) == '-' {
		j++
	}
	start := j
	for j < len(src) && (src[j] == '_' || src[j] == '-' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || j > start && src[j] >= '0' && src[j] <= '9') {
		j++
	}
	if j == start || at(src, j) != '\n' {
		return 0, false
	}
	marker := src[start:j]
	for line := j + 1; line < len(src); {
		end := lineEnd(src, line)
		if bytes.Equal(bytes.TrimSpace(src[line:end]), marker) {
			return end, true
		}
		line = end + 1
	}
	return len(src), true
}

// onlySpace says whether b holds nothing but spaces and tabs.
func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// codeLineStarts returns the starts of the regexp matches that begin in code and where
// only indentation precedes them on their line.
func codeLineStarts(src, kinds []byte, locs [][]int) [][]int {
	var out [][]int
	for _, l := range locs {
		// The pattern may begin with indentation: find its first non-blank byte.
		s := l[0]
		for s < l[1] && (src[s] == ' ' || src[s] == '\t' || src[s] == '\n' || src[s] == '\r') {
			s++
		}
		if s < len(src) && kinds[s] == kCode && onlySpace(src[lineStart(src, s):s]) {
			out = append(out, l)
		}
	}
	return out
}
