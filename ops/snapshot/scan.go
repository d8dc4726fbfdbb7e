package snapshot

import (
	"bytes"
	"fmt"
	"strconv"
)

// A small scanner over JSON already known to be valid: it finds the elements of the
// top-level array and the members of an object without decoding them, which is what
// makes a million-entry diff fast. Anything unexpected is reported with its offset.

func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t') {
		i++
	}
	return i
}

func skipString(d []byte, i int) (int, error) {
	for j := i + 1; j < len(d); j++ {
		switch c := d[j]; {
		case c == '\\':
			if j+1 >= len(d) || bytes.IndexByte([]byte(`"\\/bfnrtu`), d[j+1]) < 0 {
				return 0, fmt.Errorf("bad escape in string at byte %d", j)
			}
			j++
		case c == '"':
			return j + 1, nil
		case c < 0x20:
			return 0, fmt.Errorf("control character in string at byte %d", j)
		}
	}
	return 0, fmt.Errorf("unterminated string at byte %d", i)
}

// validLiteral accepts true, false, null and JSON numbers.
func validLiteral(b []byte) bool {
	switch string(b) {
	case "true", "false", "null":
		return true
	}
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// skipValue returns the offset just past the value starting at i.
func skipValue(d []byte, i int) (int, error) {
	if i >= len(d) {
		return 0, fmt.Errorf("value expected at byte %d", i)
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				end, err := skipString(d, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unclosed value at byte %d", i)
	}
	j := i
	for j < len(d) && d[j] != ',' && d[j] != ']' && d[j] != '}' && d[j] != ' ' && d[j] != '\n' && d[j] != '\r' && d[j] != '\t' {
		j++
	}
	if j == i || !validLiteral(d[i:j]) {
		return 0, fmt.Errorf("invalid value at byte %d", i)
	}
	return j, nil
}

// elements returns the byte ranges of the top-level array's elements.
func elements(d []byte) ([][2]int, error) {
	i := skipWS(d, 0)
	if i >= len(d) || d[i] != '[' {
		return nil, fmt.Errorf("not a JSON array (byte %d)", i)
	}
	var out [][2]int
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == ']' {
		if t := skipWS(d, i+1); t != len(d) {
			return nil, fmt.Errorf("unexpected data after the array at byte %d", t)
		}
		return out, nil
	}
	for {
		end, err := skipValue(d, i)
		if err != nil {
			return nil, err
		}
		out = append(out, [2]int{i, end})
		i = skipWS(d, end)
		if i >= len(d) {
			return nil, fmt.Errorf("unclosed array at byte %d", i)
		}
		switch d[i] {
		case ',':
			i = skipWS(d, i+1)
		case ']':
			if t := skipWS(d, i+1); t != len(d) {
				return nil, fmt.Errorf("unexpected data after the array at byte %d", t)
			}
			return out, nil
		default:
			return nil, fmt.Errorf("unexpected %q at byte %d", d[i], i)
		}
	}
}

// members calls fn with each member's name and raw value of the object obj, until fn
// returns false.
func members(obj []byte, fn func(name string, val []byte) bool) error {
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return fmt.Errorf("entry is not an object")
	}
	i = skipWS(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		end, err := skipString(obj, i)
		if err != nil {
			return err
		}
		name := obj[i+1 : end-1]
		n := string(name)
		if bytes.IndexByte(name, '\\') >= 0 {
			if u, err := strconv.Unquote(string(obj[i:end])); err == nil {
				n = u
			}
		}
		i = skipWS(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return fmt.Errorf("':' expected at byte %d", i)
		}
		i = skipWS(obj, i+1)
		vend, err := skipValue(obj, i)
		if err != nil {
			return err
		}
		if !fn(n, obj[i:vend]) {
			return nil
		}
		i = skipWS(obj, vend)
		if i >= len(obj) {
			return fmt.Errorf("unclosed object")
		}
		if obj[i] == '}' {
			return nil
		}
		if obj[i] != ',' {
			return fmt.Errorf("',' expected at byte %d", i)
		}
		i = skipWS(obj, i+1)
	}
}
