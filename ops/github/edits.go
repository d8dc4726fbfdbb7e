package github

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// EditDNSAnswer changes `answer = "<from>"` to `"<to>"` inside the block
// resource "namedotcom_record" "<resource>" { ... }, byte for byte otherwise. The
// block must be there exactly once, and its answer must be from.
func EditDNSAnswer(src []byte, resource, from, to string) ([]byte, error) {
	head := regexp.MustCompile(`(?m)^\s*resource\s+"namedotcom_record"\s+"` + regexp.QuoteMeta(resource) + `"\s*\{`)
	locs := head.FindAllIndex(src, -1)
	switch len(locs) {
	case 0:
		return nil, fmt.Errorf("resource namedotcom_record.%s is not in the file", resource)
	case 1:
	default:
		return nil, fmt.Errorf("resource namedotcom_record.%s is in the file %d times; fix the file by hand", resource, len(locs))
	}
	start := locs[0][1]
	end := blockEnd(src, start)
	if end < 0 {
		return nil, fmt.Errorf("resource namedotcom_record.%s has no closing brace", resource)
	}
	block := src[start:end]
	answer := regexp.MustCompile(`(?m)^(\s*answer\s*=\s*)"([^"]*)"`)
	m := answer.FindAllSubmatchIndex(block, -1)
	switch {
	case len(m) == 0:
		return nil, fmt.Errorf("resource namedotcom_record.%s has no answer = \"...\" line", resource)
	case len(m) > 1:
		return nil, fmt.Errorf("resource namedotcom_record.%s has %d answer lines", resource, len(m))
	}
	current := string(block[m[0][4]:m[0][5]])
	switch {
	case strings.EqualFold(current, to):
		return nil, fmt.Errorf("answer is already %q: DNS may have been switched already", to)
	case !strings.EqualFold(current, from):
		return nil, fmt.Errorf("answer is %q, neither the origin's %q nor the destination's %q", current, from, to)
	}
	var out bytes.Buffer
	out.Write(src[:start+m[0][4]])
	out.WriteString(to)
	out.Write(src[start+m[0][5]:])
	return out.Bytes(), nil
}

// blockEnd finds the brace closing the block whose body starts at i.
func blockEnd(src []byte, i int) int {
	depth, inString := 1, false
	for ; i < len(src); i++ {
		switch c := src[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// EditFQDNList adds host to (add) or removes it from the list variable
// `<variable> = [ ... ]` of a tfvars file, keeping its formatting. A list that would be
// empty gets the placeholder; the placeholder goes when a real name arrives.
func EditFQDNList(src []byte, variable, host, placeholder string, add bool) ([]byte, error) {
	head := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(variable) + `\s*=\s*\[`)
	locs := head.FindAllIndex(src, -1)
	switch len(locs) {
	case 0:
		return nil, fmt.Errorf("variable %s is not in the file", variable)
	case 1:
	default:
		return nil, fmt.Errorf("variable %s is in the file %d times", variable, len(locs))
	}
	open := locs[0][1]
	closing := bytes.IndexByte(src[open:], ']')
	if closing < 0 {
		return nil, fmt.Errorf("the list %s has no closing ]", variable)
	}
	closing += open
	body := string(src[open:closing])
	items := regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(body, -1)
	var names []string
	for _, it := range items {
		names = append(names, it[1])
	}
	has := func(n string) bool {
		for _, x := range names {
			if strings.EqualFold(x, n) {
				return true
			}
		}
		return false
	}
	if add && has(host) {
		return nil, fmt.Errorf("%q is already in %s", host, variable)
	}
	if !add && !has(host) {
		return nil, fmt.Errorf("%q is not in %s", host, variable)
	}
	var next []string
	for _, n := range names {
		if strings.EqualFold(n, host) || (add && strings.EqualFold(n, placeholder)) {
			continue
		}
		next = append(next, n)
	}
	if add {
		next = append(next, host)
	}
	if len(next) == 0 {
		next = []string{placeholder}
	}
	var out bytes.Buffer
	out.Write(src[:open])
	if strings.Contains(body, "\n") {
		indent := "  "
		if m := regexp.MustCompile(`\n([ \t]+)"`).FindStringSubmatch(body); m != nil {
			indent = m[1]
		}
		closeIndent := body[strings.LastIndex(body, "\n")+1:]
		out.WriteString("\n")
		for _, n := range next {
			fmt.Fprintf(&out, "%s%q,\n", indent, n)
		}
		out.WriteString(closeIndent)
	} else {
		quoted := make([]string, len(next))
		for i, n := range next {
			quoted[i] = fmt.Sprintf("%q", n)
		}
		out.WriteString(strings.Join(quoted, ", "))
	}
	out.Write(src[closing:])
	return out.Bytes(), nil
}
