package serve

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	inFlightNow  atomic.Int64
	batchSize    prometheus.Histogram
	batchSeconds prometheus.Histogram
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ghmdet_http_requests_total", Help: "HTTP requests answered, by path and status code (499: the client went away).",
	}, []string{"path", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ghmdet_http_request_duration_seconds", Help: "Time from a request's arrival to its answer, by path.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	}, []string{"path"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ghmdet_http_requests_in_flight", Help: "HTTP requests being served.",
	})
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ghmdet_detect_queue_depth", Help: "Detection requests admitted and not yet running (being received, decoded or queued).",
	}, func() float64 { return float64(max(s.waiting.Load(), 0)) })
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ghmdet_detect_batch_size", Help: "Images per network execution.",
		Buckets: prometheus.LinearBuckets(1, 1, s.cfg.MaxBatch),
	})
	m.batchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ghmdet_detect_batch_duration_seconds", Help: "Time to run one batch (resize, network, post-processing).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	})
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, queue, m.batchSize, m.batchSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// recorder is the ResponseWriter of a request being observed: it keeps the
// status, the bytes written and attributes the handler adds to the access
// log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
	attrs  []slog.Attr
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// annotate adds an attribute to the request's access log record.
func annotate(w http.ResponseWriter, key, value string) {
	if r, ok := w.(*recorder); ok {
		r.attrs = append(r.attrs, slog.String(key, value))
	}
}

// observe serves a request through fn with the access log, the metrics and
// a recovery that turns a panic into a 500 answer.
func (s *Server) observe(path string, w http.ResponseWriter, r *http.Request, fn func(http.ResponseWriter)) {
	start := time.Now()
	s.metrics.inFlight.Inc()
	s.metrics.inFlightNow.Add(1)
	rec := &recorder{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panic", "path", r.URL.Path, "panic", fmt.Sprint(p))
			if rec.status == 0 {
				writeError(rec, http.StatusInternalServerError, "internal", "internal error")
			}
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
			if r.Context().Err() != nil {
				status = 499
			}
		}
		d := time.Since(start)
		s.metrics.inFlight.Dec()
		s.metrics.inFlightNow.Add(-1)
		s.metrics.requests.WithLabelValues(path, strconv.Itoa(status)).Inc()
		s.metrics.latency.WithLabelValues(path).Observe(d.Seconds())
		level := slog.LevelInfo
		if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
			level = slog.LevelError
		}
		attrs := append([]slog.Attr{
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
			slog.Int("bytes", rec.bytes), slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.String("remote", r.RemoteAddr),
		}, rec.attrs...)
		if q := r.URL.RawQuery; q != "" {
			attrs = append(attrs, slog.String("query", q))
		}
		s.log.LogAttrs(r.Context(), level, "request", attrs...)
	}()
	fn(rec)
}
