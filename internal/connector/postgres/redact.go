package postgres

import (
	"net/url"
	"regexp"
	"strings"
)

// dsnPasswordRE finds password values in key=value DSNs, quoted or not.
var dsnPasswordRE = regexp.MustCompile(`(?i)\b(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]+)`)

// dsnUserinfoRE finds the password of a URL DSN even when the URL does not
// parse (pgx's own redaction is best effort, and url.Parse errors quote the
// whole URL).
var dsnUserinfoRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*:([^@]*)@`)

// dsnSecrets returns the secrets a DSN holds: the URL password, password=
// and sslpassword= values (also as query parameters), raw and unescaped.
func dsnSecrets(dsn string) []string {
	var out []string
	add := func(s string) {
		s = strings.Trim(s, "'")
		if len(s) >= 3 {
			out = append(out, s)
			if u, err := url.QueryUnescape(s); err == nil && u != s {
				out = append(out, u)
			}
		}
	}
	if m := dsnUserinfoRE.FindStringSubmatch(dsn); m != nil {
		add(m[1])
	}
	if u, err := url.Parse(dsn); err == nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		for _, k := range []string{"password", "sslpassword"} {
			if v := u.Query().Get(k); v != "" {
				add(v)
			}
		}
	}
	for _, m := range dsnPasswordRE.FindAllStringSubmatch(dsn, -1) {
		v := m[1]
		if i := strings.IndexByte(v, '&'); i >= 0 && !strings.HasPrefix(v, "'") {
			v = v[:i] // a URL query parameter
		}
		add(v)
	}
	return out
}

// redactedError is an error whose message had secrets replaced. It unwraps
// to the original only when the original's message held none, so no caller
// can print the secret through errors.Unwrap.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with every secret replaced by "xxxxx".
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		clean = strings.ReplaceAll(clean, s, "xxxxx")
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean}
}
