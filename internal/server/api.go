package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/syncbridge/syncbridge/internal/state"
)

// API serves /api/v1: read-only JSON views of the state store (flow status,
// the dead-letter queue, reconciliation reports). Nothing here changes
// state, so there is no request that a forged cross-site form could abuse.
type API struct {
	State state.Store
	Flows []string // the configured flows, in config order
}

// FlowView is one flow in GET /api/v1/flows.
type FlowView struct {
	state.FlowStatus
	DLQ           int           `json:"dlq"`
	LastReconcile *state.Report `json:"last_reconcile,omitempty"`
}

func (a *API) routes(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/flows", wrap(http.HandlerFunc(a.flows)))
	mux.Handle("GET /api/v1/dlq", wrap(http.HandlerFunc(a.dlq)))
	mux.Handle("GET /api/v1/conflicts", wrap(http.HandlerFunc(a.conflicts)))
	mux.Handle("GET /api/v1/flows/{flow}/reports", wrap(http.HandlerFunc(a.reports)))
}

func (a *API) flows(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sts, err := a.State.Statuses(ctx)
	if err != nil {
		httpError(w, err)
		return
	}
	entries, err := a.State.DLQ(ctx, "")
	if err != nil {
		httpError(w, err)
		return
	}
	depth := map[string]int{}
	for _, e := range entries {
		depth[e.Flow]++
	}
	byFlow := map[string]state.FlowStatus{}
	for _, s := range sts {
		byFlow[s.Flow] = s
	}
	out := []FlowView{}
	for _, f := range a.Flows {
		s, ok := byFlow[f]
		if !ok {
			s = state.FlowStatus{Flow: f, Phase: "new"}
		}
		v := FlowView{FlowStatus: s, DLQ: depth[f]}
		if reps, err := a.State.Reports(ctx, f, 1); err == nil && len(reps) > 0 {
			v.LastReconcile = &reps[0]
		}
		out = append(out, v)
	}
	writeJSON(w, map[string]any{"flows": out})
}

func (a *API) dlq(w http.ResponseWriter, r *http.Request) {
	entries, err := a.State.DLQ(r.Context(), r.URL.Query().Get("flow"))
	if err != nil {
		httpError(w, err)
		return
	}
	if entries == nil {
		entries = []state.DLQEntry{}
	}
	writeJSON(w, map[string]any{"entries": entries})
}

// conflicts lists the conflict log of both-way flows: ?flow= and
// ?status=parked|resolved narrow it.
func (a *API) conflicts(w http.ResponseWriter, r *http.Request) {
	cs, err := a.State.Conflicts(r.Context(), r.URL.Query().Get("flow"), r.URL.Query().Get("status"))
	if err != nil {
		httpError(w, err)
		return
	}
	if cs == nil {
		cs = []state.Conflict{}
	}
	writeJSON(w, map[string]any{"conflicts": cs})
}

func (a *API) reports(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 10
	}
	reps, err := a.State.Reports(r.Context(), r.PathValue("flow"), limit)
	if err != nil {
		httpError(w, err)
		return
	}
	if reps == nil {
		reps = []state.Report{}
	}
	writeJSON(w, map[string]any{"reports": reps})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// httpError answers 500 without echoing internals beyond the message (state
// store errors carry no secrets: DSNs are never part of them).
func httpError(w http.ResponseWriter, err error) {
	http.Error(w, "state store: "+err.Error(), http.StatusInternalServerError)
}
