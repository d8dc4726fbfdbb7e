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
		out = append(out, c.String())
	}
	return out
}

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
