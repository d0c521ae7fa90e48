package config

import (
	"strings"
	"testing"
)

func TestRedactDSN(t *testing.T) {
	tests := []struct{ name, dsn, want string }{
		{"postgres url", "postgres://sync:s3cret@db:5432/app?sslmode=disable", "postgres://sync:xxxxx@db:5432/app?sslmode=disable"},
		{"url without password", "postgres://sync@db/app", "postgres://sync@db/app"},
		{"url password with @ and /", "postgres://u:p@s/s@db/app", "postgres://u:xxxxx@db/app"},
		{"url password in query", "postgres://db/app?user=u&password=s3cret&x=1", "postgres://db/app?user=u&password=xxxxx&x=1"},
		{"url sslpassword", "postgresql://db/app?sslpassword=k", "postgresql://db/app?sslpassword=xxxxx"},
		{"redis empty user", "redis://:s3cret@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"url unparseable by net/url", "postgres://u:100%sure#@db/app", "postgres://u:xxxxx@db/app"},
		{"mysql", "sync:s3cret@tcp(crm:3306)/crm?parseTime=true", "sync:xxxxx@tcp(crm:3306)/crm?parseTime=true"},
		{"mysql password with @", "sync:p@ss@tcp(crm)/crm", "sync:xxxxx@tcp(crm)/crm"},
		{"mysql no password", "sync@tcp(crm)/crm", "sync@tcp(crm)/crm"},
		{"mysql unix", "root:pw@unix(/run/mysqld.sock)/app", "root:xxxxx@unix(/run/mysqld.sock)/app"},
		{"key=value", "host=db user=u password=s3cret dbname=app", "host=db user=u password=xxxxx dbname=app"},
		{"key=value quoted", "host=db password='a b\\' c' user=u", "host=db password=xxxxx user=u"},
		{"key=value spaced", "host=db password = s3cret", "host=db password = xxxxx"},
		{"ado", "Server=db;User Id=u;Password=s3cret;", "Server=db;User Id=u;Password=xxxxx;"},
		{"http api key", "https://api.example.com/v1?api_key=k&page=1", "https://api.example.com/v1?api_key=xxxxx&page=1"},
		{"token param", "nats://h:4222?token=t", "nats://h:4222?token=xxxxx"},
		{"sqlite path", "./data/platform.db?_pragma=busy_timeout(5000)", "./data/platform.db?_pragma=busy_timeout(5000)"},
		{"kafka brokers", "k1:9092,k2:9092", "k1:9092,k2:9092"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactDSN(tt.dsn); got != tt.want {
				t.Errorf("RedactDSN(%q)\n got  %q\n want %q", tt.dsn, got, tt.want)
			}
		})
	}
}

func TestConfigRedacted(t *testing.T) {
	cfg := validConfig(t)
	cfg.State = "postgres://st:statepw@h/state"
	cfg.HTTP.Token = "tok"
	r := cfg.Redacted()
	for _, s := range []string{r.State, r.HTTP.Token, r.Stores["legacy"].DSN, r.Stores["crm"].DSN} {
		if strings.Contains(s, "pw") || strings.Contains(s, "tok") {
			t.Errorf("secret left in %q", s)
		}
	}
	if !strings.Contains(cfg.Stores["legacy"].DSN, ":pw@") || cfg.HTTP.Token != "tok" {
		t.Error("Redacted modified the original config")
	}
}
