package config

import (
	"maps"
	"regexp"
	"strings"
)

// Redacted replaces a secret in printed DSNs and configs. It is the same mask
// net/url uses, so redacted URLs look alike wherever they come from.
const Redacted = "xxxxx"

// secretParam matches key=value pairs whose value is a secret, in libpq
// key=value DSNs ("password=pw host=h"), ADO strings ("Password=pw;") and URL
// query strings ("?sslpassword=pw&x=y"). A quoted value may contain spaces.
var secretParam = regexp.MustCompile(`(?i)\b(password|passwd|pwd|pass|sslpassword|secret|token|` +
	`access_token|auth_token|api_key|apikey)(\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s;&]*)`)

// RedactDSN returns dsn with every password it can recognise replaced by
// "xxxxx", and everything else untouched so the DSN still says where it
// points. It understands URLs (postgres://u:pw@h/db, redis://:pw@h), MySQL
// DSNs (u:pw@tcp(h:3306)/db), key=value DSNs (host=h password=pw) and secret
// query parameters. Logs and error messages print DSNs only through it.
func RedactDSN(dsn string) string {
	switch {
	case strings.Contains(dsn, "://"):
		dsn = redactURLUserinfo(dsn)
	case strings.Contains(dsn, "@"):
		dsn = redactMySQL(dsn)
	}
	return secretParam.ReplaceAllString(dsn, "${1}${2}"+Redacted)
}

// redactURLUserinfo masks the password in scheme://user:password@host. It
// works on the text instead of net/url so that a DSN url.Parse refuses (an
// unescaped '#' or '%' in the password) is still masked, and so nothing else
// is re-encoded.
func redactURLUserinfo(dsn string) string {
	i := strings.Index(dsn, "://") + len("://")
	rest := dsn[i:]
	end := len(rest)
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		end = q
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return dsn
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword || strings.Contains(user, "/") {
		return dsn
	}
	return dsn[:i] + user + ":" + Redacted + rest[at:]
}

// redactMySQL masks the password of a go-sql-driver DSN,
// [user[:password]@][net[(addr)]]/dbname[?params]. It splits the way the
// driver does (last '/', then last '@' before it), so it masks exactly what
// the driver would read as the password.
func redactMySQL(dsn string) string {
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		return dsn
	}
	at := strings.LastIndexByte(dsn[:slash], '@')
	if at < 0 {
		return dsn
	}
	user, _, hasPassword := strings.Cut(dsn[:at], ":")
	if !hasPassword {
		return dsn
	}
	return user + ":" + Redacted + dsn[at:]
}

// Redacted returns a copy of c that is safe to print or log: every DSN
// (including a postgres state DSN) goes through RedactDSN and the HTTP token
// is masked. Flows are shared with c, not copied; they hold no secrets.
func (c *Config) Redacted() *Config {
	out := *c
	out.State = RedactDSN(c.State)
	if out.HTTP.Token != "" {
		out.HTTP.Token = Redacted
	}
	out.Stores = maps.Clone(c.Stores)
	for name, s := range out.Stores {
		s.DSN = RedactDSN(s.DSN)
		out.Stores[name] = s
	}
	return &out
}
