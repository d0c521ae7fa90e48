package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/state"
)

func TestAPIServesStateBehindTheToken(t *testing.T) {
	ctx := context.Background()
	st, err := state.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetStatus(ctx, state.FlowStatus{Flow: "customers", Phase: "stream", Applied: 42}); err != nil {
		t.Fatal(err)
	}
	c := change.Change{ID: "c1", Flow: "customers", Op: change.OpInsert, Key: change.Key{change.Int(5)}, After: change.Row{"id": change.Int(5)}}
	if err := st.Park(ctx, state.DLQEntry{Flow: "customers", ChangeID: "c1", Key: "5", Change: c, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	s := &Server{Token: "tok", Gatherer: prometheus.NewRegistry(), API: &API{State: st, Flows: []string{"customers", "orders"}}}
	h := s.Handler()
	get := func(path, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			r.Header.Set("Authorization", "Bearer "+auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, p := range []string{"/api/v1/flows", "/api/v1/dlq", "/api/v1/flows/customers/reports"} {
		if w := get(p, ""); w.Code != http.StatusUnauthorized {
			t.Errorf("%s without token: %d", p, w.Code)
		}
	}
	var flows struct {
		Flows []FlowView `json:"flows"`
	}
	w := get("/api/v1/flows", "tok")
	if err := json.Unmarshal(w.Body.Bytes(), &flows); err != nil || len(flows.Flows) != 2 {
		t.Fatalf("flows: %d %s %v", w.Code, w.Body, err)
	}
	if f := flows.Flows[0]; f.Flow != "customers" || f.Applied != 42 || f.DLQ != 1 || flows.Flows[1].Phase != "new" {
		t.Errorf("flows = %+v", flows.Flows)
	}
	var dlq struct {
		Entries []state.DLQEntry `json:"entries"`
	}
	w = get("/api/v1/dlq?flow=customers", "tok")
	if err := json.Unmarshal(w.Body.Bytes(), &dlq); err != nil || len(dlq.Entries) != 1 || dlq.Entries[0].Error != "boom" {
		t.Fatalf("dlq: %s %v", w.Body, err)
	}
	if w := get("/api/v1/flows/customers/reports", "tok"); w.Code != http.StatusOK {
		t.Errorf("reports: %d %s", w.Code, w.Body)
	}
	k := change.Key{change.Int(7)}
	if err := st.FinishIntent(ctx, "customers", "", nil, []state.Conflict{{Flow: "customers", Key: k.String(), KeyValues: k,
		OursSide: "from", Winner: "none", Policy: "manual", Reason: "manual", Status: state.ConflictParked}}); err != nil {
		t.Fatal(err)
	}
	var cs struct {
		Conflicts []state.Conflict `json:"conflicts"`
	}
	w = get("/api/v1/conflicts?status=parked", "tok")
	if err := json.Unmarshal(w.Body.Bytes(), &cs); err != nil || len(cs.Conflicts) != 1 || cs.Conflicts[0].Key != "7" {
		t.Fatalf("conflicts: %s %v", w.Body, err)
	}
	if w := get("/api/v1/conflicts", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("conflicts without token: %d", w.Code)
	}
}

func TestDashboardIsServed(t *testing.T) {
	s := &Server{Gatherer: prometheus.NewRegistry(), API: &API{}}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte("/api/v1/flows")) {
		t.Fatalf("dashboard: %d", w.Code)
	}
}
