package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

// relayVecs are the per relay metrics. Relays are the few the
// configuration names, so the labels stay bounded.
type relayVecs struct {
	throttles, messages *prometheus.CounterVec
	conns               *prometheus.GaugeVec

	// series caches each relay's series: the outcome path looks one up
	// per message, and WithLabelValues hashes its labels every time.
	series sync.Map // relay name -> *relaySeries
}

type relaySeries struct {
	throttles, sent, deferred, failed prometheus.Counter
	conns                             prometheus.Gauge
}

// of is relay's series, made on first sight so that a relay that never
// throttled still shows its 0.
func (v *relayVecs) of(relay string) *relaySeries {
	if s, ok := v.series.Load(relay); ok {
		return s.(*relaySeries)
	}
	s := &relaySeries{throttles: v.throttles.WithLabelValues(relay), conns: v.conns.WithLabelValues(relay),
		sent: v.messages.WithLabelValues(relay, string(ledger.Sent)), deferred: v.messages.WithLabelValues(relay, string(ledger.Deferred)),
		failed: v.messages.WithLabelValues(relay, string(ledger.Failed))}
	got, _ := v.series.LoadOrStore(relay, s)
	return got.(*relaySeries)
}

// RelayOutcome counts an attempt relay carried (campaign.RelayReporter).
func (r *reporter) RelayOutcome(relay string, state ledger.State, throttles, conns int) {
	s := r.f.relays.of(relay)
	if throttles > 0 {
		s.throttles.Add(float64(throttles))
	}
	s.conns.Set(float64(conns))
	switch state {
	case ledger.Sent:
		s.sent.Inc()
	case ledger.Deferred:
		s.deferred.Inc()
	case ledger.Failed:
		s.failed.Inc()
	}
}

var _ campaign.RelayReporter = (*reporter)(nil)
