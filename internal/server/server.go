// Package server is syncbridge's single HTTP listener: /metrics for
// Prometheus, /healthz (the process is alive), /readyz (every flow's
// pipeline is running) and /api/v1 (read-only JSON of flow status, the
// dead-letter queue and reconciliation reports). It binds to loopback by default; bound anywhere else
// it requires a bearer token on everything but the health probes.
package server

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// dashboard is the single page served at /: it reads /api/v1/flows.
//
//go:embed dashboard.html
var dashboard []byte

// Server serves the HTTP endpoints.
type Server struct {
	Addr     string
	Token    string                // required when Addr is not loopback
	Gatherer prometheus.Gatherer   // what /metrics exposes
	Ready    func() (bool, string) // whether /readyz answers 200, and why not
	API      *API                  // /api/v1, when set
	Log      *slog.Logger
}

// IsLoopback reports whether a listen address binds only to loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler returns the routes, with token checks where they apply.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.auth(promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{})))
	if s.API != nil {
		s.API.routes(mux, s.auth)
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(dashboard)
		})
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := true, ""
		if s.Ready != nil {
			ok, why = s.Ready()
		}
		if !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// auth requires "Authorization: Bearer <token>" when a token is set.
func (s *Server) auth(h http.Handler) http.Handler {
	if s.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="syncbridge"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Run listens until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	if !IsLoopback(s.Addr) && s.Token == "" {
		return fmt.Errorf("http.listen %s is not a loopback address: set http.token", s.Addr)
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.Log.Info("http listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
