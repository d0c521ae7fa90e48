package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8686": true, "localhost:1": true, "[::1]:8686": true, "127.9.9.9:1": true,
		"0.0.0.0:8686": false, ":8686": false, "10.0.0.1:80": false, "garbage": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestTokenRequiredOnMetricsNotOnHealth(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "syncbridge_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Inc()
	s := &Server{Token: "s3cret", Gatherer: reg, Ready: func() (bool, string) { return false, "flow x down" }}
	h := s.Handler()
	get := func(path, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := get("/metrics", ""); w.Code != http.StatusUnauthorized {
		t.Fatalf("/metrics without token: %d", w.Code)
	}
	if w := get("/metrics", "Bearer wrong"); w.Code != http.StatusUnauthorized {
		t.Fatalf("/metrics with wrong token: %d", w.Code)
	}
	w := get("/metrics", "Bearer s3cret")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "syncbridge_test_total 1") {
		t.Fatalf("/metrics with token: %d %s", w.Code, w.Body.String())
	}
	if w := get("/healthz", ""); w.Code != http.StatusOK {
		t.Fatalf("/healthz: %d", w.Code)
	}
	if w := get("/readyz", ""); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "flow x down") {
		t.Fatalf("/readyz: %d %s", w.Code, w.Body.String())
	}
}
