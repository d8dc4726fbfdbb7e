package github

import (
	"fmt"
	"regexp"
	"strings"
)

// normHost compares DNS names as DNS does: case-insensitive, trailing dot optional.
func normHost(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

// plainName refuses what cannot be written inside an HCL string as is.
func plainName(what, s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if strings.ContainsAny(s, "\"\\\n\r${}%") {
		return fmt.Errorf("%s %q holds characters that cannot go into the file as is", what, s)
	}
	return nil
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// identifier refuses a resource or variable name Terraform would not accept.
func identifier(what, s string) error {
	if !identRe.MatchString(s) {
		return fmt.Errorf("%s %q is not a Terraform identifier", what, s)
	}
	return nil
}

// EditDNSAnswer changes `answer = "<from>"` to `"<to>"` inside the block
// resource "namedotcom_record" "<resource>" { ... } and leaves every other byte alone
// (alignment, comments, other blocks). The block must be there exactly once, and its
// answer must be from; when it is already to, the switch has probably been done.
func EditDNSAnswer(src []byte, resource, from, to string) ([]byte, error) {
	if err := identifier("the resource name", resource); err != nil {
		return nil, err
	}
	for _, v := range []struct{ what, s string }{{"the origin's lb_hostname", from}, {"the destination's lb_hostname", to}} {
		if err := plainName(v.what, v.s); err != nil {
			return nil, err
		}
	}
	if normHost(from) == normHost(to) {
		return nil, fmt.Errorf("origin and destination have the same lb_hostname %q: nothing to switch", to)
	}
	kinds := classify(src)
	head := regexp.MustCompile(`(?m)^[ \t]*resource[ \t]+(?:"namedotcom_record"|namedotcom_record)[ \t]+(?:"` +
		regexp.QuoteMeta(resource) + `"|` + regexp.QuoteMeta(resource) + `)[ \t]*\{`)
	locs := codeLineStarts(src, kinds, head.FindAllIndex(src, -1))
	switch len(locs) {
	case 0:
		return nil, fmt.Errorf("resource namedotcom_record.%s is not in the file (check github.dns.resource)", resource)
	case 1:
	default:
		return nil, fmt.Errorf("resource namedotcom_record.%s is in the file %d times; fix the file by hand", resource, len(locs))
	}
	open := locs[0][1] - 1
	end := blockEnd(src, kinds, open, '{', '}')
	if end < 0 {
		return nil, fmt.Errorf("resource namedotcom_record.%s has no closing brace", resource)
	}
	// The answer attribute of this block itself (depth 1), in code.
	answer := regexp.MustCompile(`(?m)^[ \t]*answer[ \t]*=[ \t]*"`)
	var quotes []int
	for _, m := range answer.FindAllIndex(src[open+1:end], -1) {
		name := open + 1 + m[0]
		for src[name] == ' ' || src[name] == '\t' {
			name++
		}
		q := open + m[1] // the opening quote (m[1] is just past it, counted from open+1)
		if kinds[name] == kCode && depthAt(src, kinds, open, name) == 1 {
			quotes = append(quotes, q)
		}
	}
	switch {
	case len(quotes) == 0:
		return nil, fmt.Errorf("resource namedotcom_record.%s has no answer = \"...\" line", resource)
	case len(quotes) > 1:
		return nil, fmt.Errorf("resource namedotcom_record.%s has %d answer lines; fix the file by hand", resource, len(quotes))
	}
	q := quotes[0]
	close := skipString(src, q) - 1
	if close <= q || src[close] != '"' {
		return nil, fmt.Errorf("the answer of namedotcom_record.%s is not a closed string", resource)
	}
	current := string(src[q+1 : close])
	switch {
	case normHost(current) == normHost(to):
		return nil, fmt.Errorf("the answer of namedotcom_record.%s is already %q: DNS may have been switched already", resource, current)
	case normHost(current) != normHost(from):
		return nil, fmt.Errorf("the answer of namedotcom_record.%s is %q, neither the origin's %q nor the destination's %q; check the clusters' lb_hostname", resource, current, from, to)
	}
	if strings.HasSuffix(current, ".") && !strings.HasSuffix(to, ".") {
		to += "." // keep the file's style of fully-qualified answers
	}
	out := make([]byte, 0, len(src)-len(current)+len(to))
	out = append(out, src[:q+1]...)
	out = append(out, to...)
	return append(out, src[close:]...), nil
}

// blockEnd returns the index of the code bracket closing the one opening at open, or -1.
func blockEnd(src, kinds []byte, open int, opening, closing byte) int {
	depth := 0
	for i := open; i < len(src); i++ {
		if kinds[i] != kCode {
			continue
		}
		switch src[i] {
		case opening:
			depth++
		case closing:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// depthAt is the brace depth at i, counting from the block opening at open.
func depthAt(src, kinds []byte, open, i int) int {
	depth := 0
	for j := open; j < i; j++ {
		if kinds[j] != kCode {
			continue
		}
		switch src[j] {
		case '{':
			depth++
		case '}':
			depth--
		}
	}
	return depth
}
