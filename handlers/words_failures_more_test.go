package handlers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// dnsAnswerLine is dns.Answer's String of before its answers were data.
func dnsAnswerLine(a report.Answer, err string) string {
	switch {
	case err != "":
		return fmt.Sprintf("%s: %v", a.Resolver, err)
	case a.CNAME == "":
		if len(a.A) == 0 {
			return fmt.Sprintf("%s: no CNAME, no A", a.Resolver)
		}
		return fmt.Sprintf("%s: no CNAME (A %s)", a.Resolver, strings.Join(a.A, ", "))
	}
	return fmt.Sprintf("%s: CNAME %s", a.Resolver, a.CNAME)
}

// dnsFailureCases are ops/dns's failures (and the DNS check's), each with the format
// written before they were data.
func dnsFailureCases() map[string][]failureCase {
	const (
		name = "db.nycmesh.net"
		sn3  = "kubernetes-lb-prod-sn3.nycmesh.net"
		sn10 = "kubernetes-lb-prod-sn10.nycmesh.net"
	)
	timedOut := report.Fail(report.DNSAnswer{How: report.DNSTimeout}, nil).Error()
	answers := []report.Answer{{Resolver: "10.0.0.53:53", CNAME: sn3, A: []string{"10.70.0.1"}}, {Resolver: "10.0.0.54:53", CNAME: sn10}, {Resolver: "10.0.0.55:53", Err: timedOut}}
	last := "last answers: " + dnsAnswerLine(answers[0], "") + "; " + dnsAnswerLine(answers[1], "") + "; " + dnsAnswerLine(answers[2], "no answer (timed out)")
	return map[string][]failureCase{
		"failed_dns_answer": {
			{report.DNSAnswer{How: report.DNSNoName}, "", "no name to ask for"},
			{report.DNSAnswer{How: report.DNSTimeout}, "", "no answer (timed out)"},
			{report.DNSAnswer{How: report.DNSQuery}, "read udp: connection refused", fmt.Sprintf("query failed: %s", "read udp: connection refused")},
			{report.DNSAnswer{How: report.DNSRcode, Rcode: "NXDOMAIN"}, "", fmt.Sprintf("answered %s", "NXDOMAIN")},
		},
		"failed_dns_wait": {
			{report.DNSWait{How: report.DNSNoResolvers, Name: name, Want: sn3}, "", "no resolvers to ask (dns.resolvers is empty)"},
			{report.DNSWait{How: report.DNSNoNames, Name: name}, "", fmt.Sprintf("waiting for %q to point at %q: both names are needed", name, "")},
			{report.DNSWait{How: report.DNSTimedOut, Name: name, Want: sn3, Timeout: 30 * time.Minute, Answers: answers}, "context deadline exceeded",
				fmt.Sprintf("%s did not point at %s on every resolver within %s (%s): %s", name, sn3, 30*time.Minute, last, "context deadline exceeded")},
			{report.DNSWait{How: report.DNSStopped, Name: name, Want: sn3}, "context canceled",
				fmt.Sprintf("stopped waiting for %s to point at %s (%s): %s", name, sn3, "no resolver answered yet", "context canceled")},
		},
		"failed_dns_check": {{report.DNSCheck{Origin: sn10, Destination: sn3, Answers: answers}, "",
			fmt.Sprintf("%s already answers the destination %s: is the direction right?", "10.0.0.53:53", sn3) + "; " +
				dnsAnswerLine(answers[1], "") + ", not the origin " + sn10 + "; " + dnsAnswerLine(answers[2], "no answer (timed out)")}},
	}
}

// The DNS step's details are each resolver's answer, one a line, as they were when
// the step wrote them itself; the check CLI words one answer the same way.
func TestDNSAnswersAreWorded(t *testing.T) {
	rcode := report.Fail(report.DNSAnswer{How: report.DNSRcode, Rcode: "SERVFAIL"}, nil).Error()
	answers := []report.Answer{{Resolver: "10.0.0.53:53", CNAME: "sn3.example"}, {Resolver: "10.0.0.54:53", A: []string{"10.70.0.1", "10.70.0.2"}},
		{Resolver: "10.0.0.55:53"}, {Resolver: "10.0.0.56:53", Err: rcode}}
	want := []string{dnsAnswerLine(answers[0], ""), dnsAnswerLine(answers[1], ""), dnsAnswerLine(answers[2], ""), dnsAnswerLine(answers[3], "answered SERVFAIL")}
	out := engine.Output{}.WithReport(report.DNS{Name: "db.example", Want: "sn3.example", Resolvers: 4, Answers: answers})
	assert.Equal(t, strings.Join(want, "\n"), handlers.DetailsText(out))
	assert.Equal(t, want[3], handlers.AnswerText(answers[3]))
	assert.Empty(t, handlers.DetailsText(engine.Output{}.WithReport(report.DNS{Name: "db.example", Want: "sn3.example", Resolvers: 4})), "a report of an earlier version has none")
}

// engineFailureCases are the engine's and the executor's failures, each with the
// format written before they were data.
func engineFailureCases() map[string][]failureCase {
	return map[string][]failureCase{
		"failed_preflight": {{report.PreflightFailed{Checks: []string{"pods-ready", "dns-points-at-the-origin"}}, "",
			fmt.Sprintf("preflight failed: %s. Fix and Retry, or override each failed check with a reason", strings.Join([]string{"pods-ready", "dns-points-at-the-origin"}, ", "))}},
		"failed_unknown_cluster": {{report.UnknownCluster{Cluster: "prod0", Known: []string{"prod1", "prod2"}}, "",
			fmt.Sprintf("unknown cluster %q: the configured clusters are %s", "prod0", strings.Join([]string{"prod1", "prod2"}, ", "))}},
		// The wiring's name is dropped: people who read it cannot act on it.
		"failed_no_pr_words": {{report.NoPRWords{}, "",
			"this bot was built without the words of its pull requests; Skip the step with a reason and open the pull request by hand"}},
		"failed_same_cluster": {{report.SameCluster{Cluster: "prod1"}, "",
			fmt.Sprintf("origin and destination are both %q: name two different clusters", "prod1")}},
		"failed_no_executor": {{report.NoExecutor{Kind: "teleport"}, "",
			fmt.Sprintf("this bot has no executor for %s steps; Skip it with a reason if it was done by hand", "teleport")}},
		"failed_crashed": {{report.Crashed{Step: "dump-origin", Panic: "runtime error: index out of range [3] with length 3"}, "",
			fmt.Sprintf("step %s crashed: %v", "dump-origin", "runtime error: index out of range [3] with length 3")}},
		"failed_stored_result": {
			{report.StoredResult{Type: "steps.DumpResult"}, "unexpected end of JSON input",
				fmt.Sprintf("read the stored result as %s: %s", "steps.DumpResult", "unexpected end of JSON input")},
			{report.StoredResult{Type: "steps.DumpResult", Legacy: true}, "",
				fmt.Sprintf("the stored result predates typed results and cannot be read as %s", "steps.DumpResult")},
		},
	}
}
