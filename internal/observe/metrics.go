// Package observe holds syncbridge's Prometheus collectors and its slog setup
// with fixed attribute keys. Per-change work is counted here, never logged.
package observe

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors every component records into. Create one per
// process with NewMetrics and pass it down; nothing here is global.
type Metrics struct {
	Registry *prometheus.Registry

	Captured         *prometheus.CounterVec   // flow, op
	Applied          *prometheus.CounterVec   // flow, op
	ApplySeconds     *prometheus.HistogramVec // flow
	BatchSize        *prometheus.HistogramVec // flow
	LagSeconds       *prometheus.GaugeVec     // flow
	BackfillRows     *prometheus.CounterVec   // flow
	DLQDepth         *prometheus.GaugeVec     // flow
	Parked           *prometheus.CounterVec   // flow, reason
	Retries          *prometheus.CounterVec   // flow
	Errors           *prometheus.CounterVec   // flow
	Filtered         *prometheus.CounterVec   // flow
	EchoSuppressed   *prometheus.CounterVec   // flow
	Conflicts        *prometheus.CounterVec   // flow, policy, outcome
	FlowUp           *prometheus.GaugeVec     // flow: 1 while the flow's pipeline runs
	SourceLagBytes   *prometheus.GaugeVec     // flow
	TruncatesIgnored *prometheus.CounterVec   // flow
	BothSkipped      *prometheus.CounterVec   // flow, reason: changes of both-way flows not applied (superseded, deferred, conflict_parked)
	OrderWaits       *prometheus.CounterVec   // flow: foreign key refusals waited out for flows tied by after:

	ReconcileMismatches *prometheus.GaugeVec // flow, kind (missing, extra, different, moving): found by the last reconciliation
	ReconcileLastRun    *prometheus.GaugeVec // flow: unix time the last reconciliation finished
	ReconcileDuration   *prometheus.GaugeVec // flow: how long the last reconciliation took
}

// NewMetrics creates and registers every collector on a fresh registry,
// together with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		Captured: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_changes_captured_total", Help: "Changes read from the source, by flow and op.",
		}, []string{"flow", "op"}),
		Applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_changes_applied_total", Help: "Changes durably applied to the target, by flow and op.",
		}, []string{"flow", "op"}),
		ApplySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "syncbridge_apply_duration_seconds", Help: "Time to apply and commit one target transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"flow"}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "syncbridge_batch_size", Help: "Changes per committed target transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}, []string{"flow"}),
		LagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncbridge_lag_seconds", Help: "End-to-end lag: now minus the source commit time of the last applied change.",
		}, []string{"flow"}),
		BackfillRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_backfill_rows_total", Help: "Rows copied by backfill.",
		}, []string{"flow"}),
		DLQDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncbridge_dlq_depth", Help: "Changes parked in the dead-letter queue.",
		}, []string{"flow"}),
		Parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_changes_parked_total", Help: "Changes parked in the dead-letter queue, by reason (failed, waiting).",
		}, []string{"flow", "reason"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_retries_total", Help: "Pipeline restarts after a transient error.",
		}, []string{"flow"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_errors_total", Help: "Errors that interrupted a flow's pipeline.",
		}, []string{"flow"}),
		Filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_changes_filtered_total", Help: "Changes dropped by the flow's row filter.",
		}, []string{"flow"}),
		EchoSuppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_echo_suppressed_total", Help: "Changes dropped because syncbridge itself wrote them.",
		}, []string{"flow"}),
		Conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_conflicts_total", Help: "Conflicts detected, by policy and outcome.",
		}, []string{"flow", "policy", "outcome"}),
		FlowUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncbridge_flow_up", Help: "1 while the flow's pipeline is running, 0 otherwise.",
		}, []string{"flow"}),
		BothSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_both_skipped_total",
			Help: "Changes of both-way flows not applied: superseded by a later write to the same row, deferred to the other side's pipeline, or held behind a parked conflict.",
		}, []string{"flow", "reason"}),
		OrderWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_order_waits_total",
			Help: "Changes the target refused for a foreign key that the flow waited out: it waited for the flows tied to it by after: to catch up, then retried.",
		}, []string{"flow"}),
		TruncatesIgnored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncbridge_truncates_ignored_total", Help: "Source TRUNCATEs not propagated because the flow says truncate: ignore.",
		}, []string{"flow"}),
		SourceLagBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncbridge_source_lag_bytes", Help: "Bytes of source log retained behind the flow's checkpoint (slot or binlog), where the source can tell.",
		}, []string{"flow"}),
		ReconcileMismatches: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncbridge_reconcile_mismatches", Help: "Rows the last reconciliation found drifted, by kind (missing, extra, different; moving rows were in flight).",
		}, []string{"flow", "kind"}),
		ReconcileLastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncbridge_reconcile_last_run_timestamp_seconds", Help: "Unix time the last reconciliation of the flow finished.",
		}, []string{"flow"}),
		ReconcileDuration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncbridge_reconcile_duration_seconds", Help: "How long the last reconciliation of the flow took.",
		}, []string{"flow"}),
	}
	reg.MustRegister(m.Captured, m.Applied, m.ApplySeconds, m.BatchSize, m.LagSeconds, m.BackfillRows,
		m.DLQDepth, m.Parked, m.Retries, m.Errors, m.Filtered, m.EchoSuppressed, m.Conflicts, m.FlowUp, m.SourceLagBytes,
		m.ReconcileMismatches, m.ReconcileLastRun, m.ReconcileDuration, m.TruncatesIgnored, m.BothSkipped, m.OrderWaits)
	return m
}
