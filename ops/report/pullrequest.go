package report

// PullRequest is a pull request the bot opens on GitHub, as data: people read its
// title, body and commit message there, so the transport words them
// (handlers/templates/github.tmpl) and the production wiring hands those words to the
// steps that open it.
type PullRequest struct {
	// Change is what it changes: dns (Name answers To) or certs (Host is served from
	// To); Reverts is set on a revert of a merged one.
	Change      string `json:"change"`
	Run         string `json:"run"`
	Origin      string `json:"origin"`
	Destination string `json:"destination"`
	Initiator   string `json:"initiator"`
	// Thread is the link to the run's Slack thread, when known.
	Thread  string    `json:"thread,omitempty"`
	Name    string    `json:"name,omitempty"`
	Host    string    `json:"host,omitempty"`
	To      string    `json:"to"`
	Reverts *Reverted `json:"reverts,omitempty"`
}

// Reverted is the merged pull request a revert puts back.
type Reverted struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
}
