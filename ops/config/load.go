package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Severity says whether a problem refuses start (Critical) or is only logged (Warning).
type Severity string

const (
	Critical Severity = "error"
	Warning  Severity = "warning"
)

// Problem is one finding about the configuration, with the key path it concerns.
type Problem struct {
	Path     string
	Message  string
	Severity Severity
}

func (p Problem) String() string {
	if p.Path == "" {
		return fmt.Sprintf("%s: %s", p.Severity, p.Message)
	}
	return fmt.Sprintf("%s: %s: %s", p.Severity, p.Path, p.Message)
}

// Problems is every finding at once; as an error it lists the critical ones.
type Problems []Problem

func (ps Problems) Error() string {
	var lines []string
	for _, p := range ps.Criticals() {
		lines = append(lines, p.Path+": "+p.Message)
	}
	return fmt.Sprintf("configuration has %d error(s):\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// Criticals returns the problems that refuse start.
func (ps Problems) Criticals() Problems { return ps.filter(Critical) }

// Warnings returns the problems that are only logged.
func (ps Problems) Warnings() Problems { return ps.filter(Warning) }

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Options change what Load demands.
type Options struct {
	// RequireTokens makes missing SLACK_BOT_TOKEN/SLACK_APP_TOKEN/GITHUB_TOKEN critical (serve).
	RequireTokens bool
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// Load reads, defaults and validates the file at path. It returns the configuration and
// its warnings; when any problem is critical, the error is a Problems listing them all.
func Load(path string, opts Options) (*Config, Problems, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read configuration: %w", err)
	}
	cfg, problems := Parse(data, opts)
	if cfg != nil {
		cfg.Path = path
	}
	if len(problems.Criticals()) > 0 {
		return nil, problems, problems
	}
	return cfg, problems.Warnings(), nil
}

// Parse is Load without the file: it never panics, whatever the input.
func Parse(data []byte, opts Options) (*Config, Problems) {
	var problems Problems
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{Message: "the file is empty", Severity: Critical}}
		}
		return nil, Problems{{Message: "not valid YAML: " + err.Error(), Severity: Critical}}
	}
	lines := map[int]string{}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, Problems{{Message: "the top level must be a mapping of keys (slack:, clusters:, ...)", Severity: Critical}}
	}
	checkKeys(root.Content[0], reflect.TypeOf(Config{}), "", lines, &problems)

	cfg := &Config{}
	if err := root.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, append(problems, Problem{Message: err.Error(), Severity: Critical})
		}
		for _, msg := range te.Errors {
			problems = append(problems, Problem{Path: pathForTypeError(msg, lines), Message: cleanTypeError(msg), Severity: Critical})
		}
	}
	applyDefaults(cfg)
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg.Tokens = Tokens{
		SlackBot: NewSecret(strings.TrimSpace(getenv("SLACK_BOT_TOKEN"))),
		SlackApp: NewSecret(strings.TrimSpace(getenv("SLACK_APP_TOKEN"))),
		GitHub:   NewSecret(strings.TrimSpace(getenv("GITHUB_TOKEN"))),
	}
	problems = append(problems, validate(cfg, opts)...)
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Severity == Critical && problems[j].Severity != Critical })
	return cfg, problems
}

// checkKeys walks the document against the Go types and reports every key that no
// field accepts, so a typo ("aproval_timeout") is refused instead of silently ignored.
func checkKeys(n *yaml.Node, t reflect.Type, path string, lines map[int]string, problems *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	lines[n.Line] = path
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(Duration{}) || n.Kind != yaml.MappingNode {
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			lines[k.Line] = p
			f, ok := fields[k.Value]
			if !ok {
				*problems = append(*problems, Problem{Path: p, Message: "unknown key" + suggest(k.Value, fields), Severity: Critical})
				continue
			}
			checkKeys(v, f, p, lines, problems)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			lines[k.Line] = p
			checkKeys(v, t.Elem(), p, lines, problems)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, v := range n.Content {
			checkKeys(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines, problems)
		}
	}
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = f.Type
	}
	return out
}

func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for name := range fields {
		if d := editDistance(key, name); d < bestD || (d == bestD && best != "" && name < best) {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var typeErrLine = regexp.MustCompile(`^line (\d+): `)

func pathForTypeError(msg string, lines map[int]string) string {
	m := typeErrLine.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	n, _ := strconv.Atoi(m[1])
	return lines[n]
}

func cleanTypeError(msg string) string {
	msg = typeErrLine.ReplaceAllString(msg, "")
	msg = strings.Replace(msg, "cannot unmarshal", "wrong type:", 1)
	return msg
}
