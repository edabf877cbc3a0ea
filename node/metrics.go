package node

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cometbft/cometbft/blocksync"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmtcs "github.com/cometbft/cometbft/consensus"
	cmtmempool "github.com/cometbft/cometbft/mempool"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/proxy"
	cmtstate "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/statesync"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are a node's Prometheus metrics, served at GET /metrics. They
// live in a registry of the node's own, so that several nodes in one
// process (devnet) each count their own. Nothing in a label names a
// person: routes are the server's patterns ("GET
// /v1/records/{patient}/{id}"), never a request's path, so the number of
// series is bounded too.
type metrics struct {
	reg      *prometheus.Registry
	txs      *prometheus.CounterVec   // by result code
	requests *prometheus.CounterVec   // by route and outcome
	latency  *prometheus.HistogramVec // by route
	audit    *prometheus.HistogramVec // by result
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.txs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ptoy_ledger_transactions_total",
		Help: "Transactions in committed blocks, by result code (0 applied; see tx.Code for the others).",
	}, []string{"code"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ptoy_http_requests_total",
		Help: "HTTP requests by route pattern and outcome: allow (answered), deny (401, 403, 404), error (any other 4xx or 5xx).",
	}, []string{"route", "outcome"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ptoy_http_request_seconds",
		Help:    "Time to answer an HTTP request, by route pattern.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12), // 1 ms to about 60 s
	}, []string{"route"})
	m.audit = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ptoy_audit_append_seconds",
		Help:    "Time to write an audit event durably, by result (ok, error).",
		Buckets: prometheus.ExponentialBuckets(0.0002, 2.5, 12), // 0.2 ms to about 12 s
	}, []string{"result"})
	m.reg.MustRegister(m.txs, m.requests, m.latency, m.audit,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// gauges registers the gauges read from the node when scraped.
func (m *metrics) gauges(n *Node) {
	gauge := func(name, help string, labels prometheus.Labels, fn func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, fn))
	}
	gauge("ptoy_ledger_height", "Height of the last block committed to the ledger.", nil, func() float64 {
		h, _ := n.ledger.Height()
		return float64(h)
	})
	gauge("ptoy_replication_backlog_blobs", "Blobs this node should hold and is still pulling from its peers.", nil, func() float64 {
		return float64(n.gw.Backlog())
	})
	counter := func(name, help string, labels prometheus.Labels, fn func() float64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, fn))
	}
	pulledHelp := "Blobs this node pulled from its peers since it started: in batches (POST /v1/replicas) or one by one."
	counter("ptoy_replicas_pulled_total", pulledHelp, prometheus.Labels{"how": "batch"}, func() float64 {
		b, _ := n.gw.Pulled()
		return float64(b)
	})
	counter("ptoy_replicas_pulled_total", pulledHelp, prometheus.Labels{"how": "single"}, func() float64 {
		_, s := n.gw.Pulled()
		return float64(s)
	})
	gauge("ptoy_residency_short_placed_records", "Record versions that patients' residency rules place on fewer storage nodes than the replication factor (at the last repair pass).", nil, func() float64 {
		return float64(n.gw.ShortPlaced())
	})
	gauge("ptoy_storage_bytes", "Bytes stored: blobs is the ciphertext held at the last repair pass (-1 before it), ledger the ledger database on disk.",
		prometheus.Labels{"store": "blobs"}, func() float64 { return float64(n.gw.StoredBytes()) })
	gauge("ptoy_storage_bytes", "Bytes stored: blobs is the ciphertext held at the last repair pass (-1 before it), ledger the ledger database on disk.",
		prometheus.Labels{"store": "ledger"}, func() float64 { return float64(n.kv.DiskBytes()) })
}

// observeTx counts a committed transaction's result.
func (m *metrics) observeTx(code uint32) {
	m.txs.WithLabelValues(strconv.FormatUint(uint64(code), 10)).Inc()
}

// observeAudit records an audit append.
func (m *metrics) observeAudit(took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.audit.WithLabelValues(result).Observe(took.Seconds())
}

// handler serves the registry.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// instrument counts and times every request h answers, by the pattern
// that routed it: the gateway's, the API's and (when it is mounted)
// FHIR's, each under its own routes. A request no pattern matched is
// "unmatched".
func (m *metrics) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		// ServeMux sets r.Pattern on the request it is given; the
		// gateway's own mux, mounted at /v1/, sets it again to its
		// finer pattern.
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, outcome(sw.code)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// outcome names what an HTTP status says of a request.
func outcome(code int) string {
	switch {
	case code == 0 || code < 400:
		return "allow"
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusNotFound:
		return "deny"
	}
	return "error"
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap lets handlers reach the connection's own ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// cometRegistry serialises the building of CometBFT's metrics.
var cometRegistry sync.Mutex

// cometMetrics is CometBFT's metrics provider for a node whose metrics
// go to reg (nil: none). CometBFT's Prometheus metrics register
// themselves in prometheus.DefaultRegisterer, and a second node in one
// process would register them again there and panic; so while they are
// built DefaultRegisterer is reg, under a lock, and each node gets
// CometBFT's consensus, mempool, p2p, state, block sync and state sync
// metrics in its own registry. CometBFT's own metrics server stays off
// (Instrumentation.Prometheus is false in its config): they are served
// at the node's /metrics.
func cometMetrics(reg prometheus.Registerer) cmtnode.MetricsProvider {
	if reg == nil {
		return cmtnode.DefaultMetricsProvider(&cmtcfg.InstrumentationConfig{Prometheus: false})
	}
	prom := cmtnode.DefaultMetricsProvider(&cmtcfg.InstrumentationConfig{Prometheus: true, Namespace: "cometbft"})
	return func(chainID string) (*cmtcs.Metrics, *p2p.Metrics, *cmtmempool.Metrics, *cmtstate.Metrics, *proxy.Metrics, *blocksync.Metrics, *statesync.Metrics) {
		cometRegistry.Lock()
		defer cometRegistry.Unlock()
		saved := prometheus.DefaultRegisterer
		prometheus.DefaultRegisterer = reg
		defer func() { prometheus.DefaultRegisterer = saved }()
		return prom(chainID)
	}
}
