package handlers

import (
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
)

// Describe says in words what a step does and where, one line per fact, then the pod
// commands it runs: the same lines in Slack and in the terminal (`cutoverbot plan`).
func Describe(cfg *config.Config, p plan.Plan, s plan.Step) []string {
	var out []string
	for _, f := range plan.Facts(cfg, p, s) {
		out = append(out, FactText(f))
	}
	for _, c := range plan.Commands(cfg, p, s) {
		out = append(out, CommandText(c))
	}
	return out
}

// CommandText is a pod command as the terminal shows it: where it runs, its argv as
// a shell would run it (SQL the step composes as it runs shown by what it reads), its
// input and output as redirections, and why it runs.
func CommandText(c plan.Command) string {
	if c.SQL != "" && len(c.Argv) > 0 {
		argv := append([]string(nil), c.Argv...)
		argv[len(argv)-1] = SQLStandInText(c.SQL)
		c.Argv = argv
	}
	return say("command/line", struct {
		C             plan.Command
		In, Out, Note string
	}{c, commandIn(c), commandOut(c), CommandNote(c)})
}

// commandIn is where a command's input comes from ("" when none).
func commandIn(c plan.Command) string {
	if c.Stdin == "" && !c.FromDump {
		return ""
	}
	return say("command/in", c)
}

// commandOut is where a command's output goes ("" when it is only read).
func commandOut(c plan.Command) string {
	if c.Stdout == "" {
		return ""
	}
	return say("command/out", c)
}

// CommandNote says when or why a command runs ("" when nothing needs saying).
func CommandNote(c plan.Command) string {
	if c.Note == "" {
		return ""
	}
	return say("command/note/"+string(c.Note), c)
}

// SQLStandInText words SQL a step composes as it runs, by what it reads.
func SQLStandInText(sql plan.SQLStandIn) string { return say("command/sql/"+string(sql), nil) }

// FactText words one fact of a plan's step.
func FactText(f plan.Fact) string { return say("plan/"+string(f.Kind), f.F) }

// Human names a step's or a run's state for people (engine.StepState, engine.RunState);
// a state this version has no words for shows as stored.
func Human[T ~string](s T) string {
	if name := "state/" + string(s); hasWords(name) {
		return say(name, nil)
	}
	return string(s)
}

// StepTitle is a step's title: its title facts in words, else the title a person wrote
// in the configuration (or a step stored by an earlier version carries).
func StepTitle(s plan.Step) string {
	if s.TitleFacts == nil {
		return s.Title
	}
	return say("title/"+string(s.TitleFacts.Kind), s.TitleFacts)
}
