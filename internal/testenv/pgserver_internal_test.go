package testenv

import (
	"strings"
	"testing"
)

func TestMissingBinariesHint(t *testing.T) {
	t.Setenv("SYNCBRIDGE_PG_BIN", t.TempDir())
	_, err := locateInstall()
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Fatalf("locateInstall without binaries = %v, want the install hint", err)
	}
}
