package observe

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Fixed attribute keys, so log lines can be searched the same way everywhere.
const (
	KeyFlow     = "flow"
	KeyStore    = "store"
	KeyTable    = "table"
	KeyPosition = "position"
	KeyChangeID = "change_id"
)

// NewLogger builds the process logger. level is debug|info|warn|error,
// format is text|json.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "", "info":
		lv = slog.LevelInfo
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}
