package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/schollz/progressbar/v3"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/state"
	"golang.org/x/term"
)

func joinComma(s []string) string { return strings.Join(s, ", ") }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func checkFormat(f string) error {
	if f != "text" && f != "json" {
		return usageErr(fmt.Errorf("--format %q: use text or json", f))
	}
	return nil
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil || m.Gauge == nil {
		return 0
	}
	return m.Gauge.GetValue()
}

// progress draws one bar per backfilling flow on a terminal; it is silent
// when stderr is not a terminal (logs, CI, CronJobs).
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	bars map[string]*progressbar.ProgressBar
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && term.IsTerminal(int(f.Fd())), bars: map[string]*progressbar.ProgressBar{}}
}

func (p *progress) update(flow string, done, total int64) {
	p.updateLabel("backfill "+flow, flow, done, total)
}

// updateLabel draws the bar of id with a description of its own.
func (p *progress) updateLabel(label, flow string, done, total int64) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.bars[flow]
	if !ok {
		b = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(label), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		p.bars[flow] = b
	}
	b.Set64(done)
}

func (p *progress) done(flow string) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.bars[flow]; ok {
		b.Finish()
		fmt.Fprintln(p.w)
		delete(p.bars, flow)
	}
}

func printRunSummary(w io.Writer, statuses []state.FlowStatus, plan *engine.Plan) {
	byFlow := map[string]state.FlowStatus{}
	for _, s := range statuses {
		byFlow[s.Flow] = s
	}
	t := newTable(w)
	fmt.Fprintln(t, "FLOW\tBACKFILLED\tAPPLIED\tPOSITION")
	for _, f := range plan.Flows {
		s := byFlow[f.Cfg.Name]
		fmt.Fprintf(t, "%s\t%d\t%d\t%s\n", f.Cfg.Name, s.BackfillRows, s.Applied, s.Position)
	}
	t.Flush()
}
