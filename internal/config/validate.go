package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// Problem is one thing wrong with a config, at a key path. Msg says what is
// wrong and how to fix it, so the list printed by `syncbridge validate` is a
// to-do list.
type Problem struct {
	Path string // e.g. flows[2].columns.email; "" for the file as a whole
	Msg  string
}

func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Problems flattens an error from Load or Validate into its parts, for output
// formats that list them (JSON). Errors that are neither *Problem nor
// *FileError come back as a Problem without a path.
func Problems(err error) []*Problem {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Problem
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	var p *Problem
	if errors.As(err, &p) {
		return []*Problem{p}
	}
	return []*Problem{{Msg: err.Error()}}
}

// ValidateOption adjusts Validate.
type ValidateOption func(*validator)

// WithDrivers makes Validate refuse drivers not in names (the registry's
// names). Without it any non-empty driver passes; the engine refuses unknown
// ones when it opens the stores.
func WithDrivers(names ...string) ValidateOption {
	return func(v *validator) { v.drivers = names }
}

// Captures are the capture modes a store may declare.
var Captures = []string{
	string(connector.CaptureLogical), string(connector.CaptureBinlog), string(connector.CaptureTrigger),
	string(connector.CapturePoll), string(connector.CaptureSubscribe),
}

// Policies are the conflict policies of a `both` flow.
var Policies = []string{"lww", "source-wins", "target-wins", "owner", "merge", "rule", "manual"}

// captureDrivers restricts capture modes that only one family of stores has.
var captureDrivers = map[string][]string{
	string(connector.CaptureLogical): {"postgres"},
	string(connector.CaptureBinlog):  {"mysql", "mariadb"},
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// Validate checks everything that can be checked without the stores and
// returns every problem found, joined (see Problems). It expects defaults to
// be applied, as Load and Parse do.
func (c *Config) Validate(opts ...ValidateOption) error {
	v := &validator{cfg: c}
	for _, o := range opts {
		o(v)
	}
	v.top()
	v.stores()
	v.flows()
	return errors.Join(v.problems...)
}

type validator struct {
	cfg      *Config
	drivers  []string
	problems []error
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, &Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) top() {
	c := v.cfg
	if c.State == "" {
		v.add("state", "not set; use a file path such as ./syncbridge-state.db or a postgres:// DSN")
	}
	if !slices.Contains(logLevels, c.Log.Level) {
		v.add("log.level", "unknown level %q; one of: %s", c.Log.Level, strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		v.add("log.format", "unknown format %q; one of: %s", c.Log.Format, strings.Join(logFormats, ", "))
	}
	v.listen()
}

// listen checks http.listen and requires a token beyond loopback: the API
// shows data and the DLQ holds whole rows.
func (v *validator) listen() {
	h := v.cfg.HTTP
	if h.Listen == ListenOff {
		return
	}
	host, port, err := net.SplitHostPort(h.Listen)
	if err != nil {
		v.add("http.listen", "%q is not host:port; e.g. 127.0.0.1:8686, or off to disable the listener", h.Listen)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add("http.listen", "port %q is not a number from 0 to 65535", port)
	}
	if h.Token == "" && !isLoopback(host) {
		v.add("http.token", "required because http.listen (%s) is reachable beyond this machine; "+
			"set token: ${SYNCBRIDGE_TOKEN}, or listen on 127.0.0.1", h.Listen)
	}
}

// isLoopback reports whether host only accepts local connections. An empty
// host means every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (v *validator) stores() {
	c := v.cfg
	if len(c.Stores) == 0 {
		v.add("stores", "no stores defined; add at least one, e.g. stores: {legacy: {driver: postgres, dsn: ${LEGACY_DSN}}}")
		return
	}
	for _, name := range v.storeNames() {
		s := c.Stores[name]
		path := "stores." + name
		if name == "" {
			path = `stores[""]`
			v.add("stores", "a store has an empty name; give it a name such as legacy")
		}
		v.driver(path, s.Driver)
		if s.DSN == "" {
			v.add(path+".dsn", "not set; write the connection string, e.g. dsn: ${%s_DSN}", envName(name))
		}
		v.capture(path, s)
		v.zeroDates(path, s)
	}
}

// ZeroDates are the values of a store's zero_dates.
var ZeroDates = []string{"error", "null"}

// zeroDates checks zero_dates: a known value, on a driver that has zero dates.
func (v *validator) zeroDates(path string, s Store) {
	if s.ZeroDates == "" {
		return
	}
	if !slices.Contains(ZeroDates, s.ZeroDates) {
		v.add(path+".zero_dates", "unknown value %q; one of: %s", s.ZeroDates, strings.Join(ZeroDates, ", "))
		return
	}
	if s.Driver != "" && s.Driver != "mysql" && s.Driver != "mariadb" {
		v.add(path+".zero_dates", "only driver mysql has zero dates; remove zero_dates from this %s store", s.Driver)
	}
}

func (v *validator) driver(path, driver string) {
	switch {
	case driver == "" && len(v.drivers) > 0:
		v.add(path+".driver", "not set; one of: %s", strings.Join(v.drivers, ", "))
	case driver == "":
		v.add(path+".driver", "not set; e.g. driver: postgres")
	case len(v.drivers) > 0 && !slices.Contains(v.drivers, driver):
		v.add(path+".driver", "unknown driver %q%s; known drivers: %s", driver, didYouMean(driver, v.drivers),
			strings.Join(v.drivers, ", "))
	}
}

func (v *validator) capture(path string, s Store) {
	if s.Capture == "" {
		return
	}
	if !slices.Contains(Captures, s.Capture) {
		v.add(path+".capture", "unknown capture mode %q%s; one of: %s", s.Capture, didYouMean(s.Capture, Captures),
			strings.Join(Captures, ", "))
		return
	}
	if ds, ok := captureDrivers[s.Capture]; ok && s.Driver != "" && !slices.Contains(ds, s.Driver) {
		v.add(path+".capture", "capture %s needs driver %s; for driver %s use trigger or poll",
			s.Capture, strings.Join(ds, " or "), s.Driver)
	}
}

func (v *validator) storeNames() []string {
	names := make([]string, 0, len(v.cfg.Stores))
	for n := range v.cfg.Stores {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func didYouMean(s string, candidates []string) string {
	if c := closest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// envName turns a store name into the conventional variable prefix.
func envName(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_", " ", "_").Replace(s))
}
