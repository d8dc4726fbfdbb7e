package report

import "time"

// Failure kinds of ops/dns: one resolver's answer that is not an answer, and a wait
// for the name that ended. Answers are as the waiting report has them (Answer).

// DNSAnswerHow says why a resolver gave no usable answer.
type DNSAnswerHow string

const (
	DNSNoName  DNSAnswerHow = "no_name" // no name to ask for
	DNSTimeout DNSAnswerHow = "timeout" // no answer in time
	DNSQuery   DNSAnswerHow = "query"   // the query failed (the cause)
	DNSRcode   DNSAnswerHow = "rcode"   // it answered Rcode (NXDOMAIN, SERVFAIL)
)

// DNSAnswer: a resolver gave no usable answer (How).
type DNSAnswer struct {
	How   DNSAnswerHow `json:"how"`
	Rcode string       `json:"rcode,omitempty"`
}

func (DNSAnswer) ReportKind() string { return "failed_dns_answer" }

// DNSWaitHow says how a wait for a name ended.
type DNSWaitHow string

const (
	DNSNoResolvers DNSWaitHow = "no_resolvers" // dns.resolvers is empty
	DNSNoNames     DNSWaitHow = "no_names"     // Name or Want is empty
	DNSTimedOut    DNSWaitHow = "timed_out"    // not every resolver answered Want within Timeout
	DNSStopped     DNSWaitHow = "stopped"      // the wait was stopped (the cause)
)

// DNSWait: Name did not point at Want on every resolver (How); Answers are each
// resolver's last answer (none: no resolver answered yet).
type DNSWait struct {
	How     DNSWaitHow    `json:"how"`
	Name    string        `json:"name,omitempty"`
	Want    string        `json:"want,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Answers []Answer      `json:"answers,omitempty"`
}

func (DNSWait) ReportKind() string { return "failed_dns_wait" }

// DNSCheck: before the switch, these resolvers' Answers are not the Origin's LB name
// (an error, the Destination's already, or another).
type DNSCheck struct {
	Origin      string   `json:"origin"`
	Destination string   `json:"destination"`
	Answers     []Answer `json:"answers"`
}

func (DNSCheck) ReportKind() string { return "failed_dns_check" }
