package monitoring

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MaxExposition bounds one scrape.
const MaxExposition = 64 << 20

// Exported is what scrapes offered: each series name (a histogram's as
// _bucket, _sum and _count) with the labels its series carry and the
// values seen for each.
type Exported map[string]map[string]map[string]bool

// Scraped adds one /metrics answer (Prometheus text format) to e.
func (e Exported) Scraped(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxExposition+1))
	if err != nil {
		return err
	}
	if len(b) > MaxExposition {
		return fmt.Errorf("exposition larger than %d bytes", MaxExposition)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return err
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				for _, b := range m.GetHistogram().GetBucket() {
					e.add(name+"_bucket", labels, "le", fmt.Sprint(b.GetUpperBound()))
				}
				e.add(name+"_bucket", labels, "le", "+Inf")
				e.add(name+"_sum", labels)
				e.add(name+"_count", labels)
			case dto.MetricType_SUMMARY:
				for _, q := range m.GetSummary().GetQuantile() {
					e.add(name, labels, "quantile", fmt.Sprint(q.GetQuantile()))
				}
				e.add(name+"_sum", labels)
				e.add(name+"_count", labels)
			default:
				e.add(name, labels)
			}
		}
	}
	return nil
}

// add records a series of name with labels and, if given, one more
// label and its value (a bucket's le, a quantile).
func (e Exported) add(name string, labels map[string]string, extra ...string) {
	if e[name] == nil {
		e[name] = map[string]map[string]bool{}
	}
	see := func(l, v string) {
		if e[name][l] == nil {
			e[name][l] = map[string]bool{}
		}
		e[name][l][v] = true
	}
	for l, v := range labels {
		see(l, v)
	}
	if len(extra) == 2 {
		see(extra[0], extra[1])
	}
}

// Scrape labels are the ones Prometheus adds to every series it scrapes.
var scrapeLabels = map[string]bool{"job": true, "instance": true}

// Missing says, for every query, each metric it selects that no scrape
// offered, each matcher on a label that metric's series never carry, and
// each equality matcher on a value never seen (a Grafana variable in the
// value is not checked). external names the series Prometheus makes itself
// (up, ...).
func Missing(qs []Query, e Exported, external map[string]bool) ([]string, error) {
	var out []string
	for _, q := range qs {
		sels, err := Selectors(q.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.Where, err)
		}
		if len(sels) == 0 {
			return nil, fmt.Errorf("%s: selects no metric", q.Where)
		}
		for _, s := range sels {
			if external[s.Metric] {
				continue
			}
			labels, ok := e[s.Metric]
			if !ok {
				out = append(out, fmt.Sprintf("%s: %s is not exported", q.Where, s.Metric))
				continue
			}
			for _, l := range s.Labels {
				if labels[l] == nil && !scrapeLabels[l] {
					out = append(out, fmt.Sprintf("%s: %s has no label %q", q.Where, s.Metric, l))
				}
			}
			for l, v := range s.Equal {
				if labels[l] != nil && !labels[l][v] && !strings.Contains(v, "$") {
					out = append(out, fmt.Sprintf("%s: %s{%s=%q} was never seen", q.Where, s.Metric, l, v))
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Names are the metrics the queries select, sorted.
func Names(qs []Query) ([]string, error) {
	var out []string
	for _, q := range qs {
		sels, err := Selectors(q.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.Where, err)
		}
		for _, s := range sels {
			out = append(out, s.Metric)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// String lists e's series, for a failing test's message.
func (e Exported) String() string {
	names := make([]string, 0, len(e))
	for n := range e {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}
