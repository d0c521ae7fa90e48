package testenv

import (
	"sync"
	"testing"
)

// shutdowns are the stop functions of the shared servers started so far.
var (
	shutdownMu sync.Mutex
	shutdowns  []func()
)

// atExit registers f to run when Run returns.
func atExit(f func()) {
	shutdownMu.Lock()
	defer shutdownMu.Unlock()
	shutdowns = append(shutdowns, f)
}

// Run runs the package's tests and then stops every shared server they
// started, removing its files. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
//
// Without it the servers still die with the test binary (parent-death
// signal), but their temp dirs stay until the next run sweeps them.
func Run(m *testing.M) int {
	code := m.Run()
	shutdownMu.Lock()
	fs := shutdowns
	shutdowns = nil
	shutdownMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	return code
}
