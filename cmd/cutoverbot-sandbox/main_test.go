package main

import (
	"bytes"
	"context"
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The demo itself runs in the e2e suite's world; here only what is refused before it starts.
func TestUsage(t *testing.T) {
	cases := []struct {
		args []string
		want error
		says string
	}{
		{[]string{"--help"}, flag.ErrHelp, "Usage: cutoverbot-sandbox"},
		{[]string{"--nope"}, errUsage, "flag provided but not defined: -nope"},
		{[]string{"serve"}, errUsage, "Usage: cutoverbot-sandbox"},
		{[]string{"--installs", "many"}, errUsage, "invalid value"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errb)
		assert.ErrorIs(t, err, tc.want, "%v", tc.args)
		assert.Contains(t, errb.String(), tc.says, "%v", tc.args)
		assert.Empty(t, out.String(), "%v: nothing started", tc.args)
	}
}
