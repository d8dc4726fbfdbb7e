// Package cutoverbot holds the documented example configuration, so the binary can
// show a plan (and the sandbox can start) with nothing to configure. It is the one
// copy the tests read too, so the example people follow is the one that is tested.
package cutoverbot

import _ "embed"

// ExampleConfig is cutover.example.yaml as shipped.
//
//go:embed cutover.example.yaml
var ExampleConfig []byte
