package e2e

import (
	"flag"
	"io"
	"os"
	"testing"

	"github.com/go-logr/logr"

	"k8s.io/klog/v2"
)

// TestMain quiets client-go's klog: cut streams are the point of some tests.
func TestMain(m *testing.M) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	klog.SetLogger(logr.Discard()) // the contextual logger of the exec streams, too
	code := m.Run()
	printSuite()
	os.Exit(code)
}
