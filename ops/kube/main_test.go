package kube_test

import (
	"os"
	"testing"

	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// TestMain closes the real control plane the contract tests share, if one was started.
func TestMain(m *testing.M) {
	code := m.Run()
	realkube.CloseShared()
	os.Exit(code)
}
