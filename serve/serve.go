// Package serve runs a detector (package detect) as an HTTP service.
//
// Endpoints:
//
//	POST /v1/detect   an image (JPEG or PNG: the raw body with its content type,
//	                  or the multipart form field "image") -> JSON detections;
//	                  ?score=0.5 and ?max_detections=20 override the model's
//	                  settings, ?draw=1 returns the image with the boxes drawn
//	                  (JPEG, or PNG for a PNG; ?format=jpeg|png chooses)
//	GET  /v1/model    classes, input size, settings and the training run
//	GET  /healthz     200 while the process serves (liveness)
//	GET  /readyz      200 once the model is compiled, 503 before and while
//	                  shutting down (readiness)
//	GET  /metrics     Prometheus metrics: requests by path and status, latency,
//	                  batch sizes, queue depth, requests in flight, Go runtime
//
// # Batching
//
// Requests are decoded in their own goroutines, then queued for one batching
// goroutine. It takes the first queued image and, while the batch has room
// (Config.MaxBatch) and other admitted requests are on their way, waits at
// most Config.BatchWait for more; then it runs them as one batch
// (detect.Detector.DetectBatchWith) and hands each request its detections.
// A request alone is never held back: with no other request admitted the
// batch runs at once. MaxBatch 1 turns batching off.
//
// # Limits
//
// Every error is a JSON body {"error": {"code": "...", "message": "..."}}
// with a status that says what to do: 400 bad query or undecodable image,
// 401 missing or wrong bearer token, 404 and 405 unknown path or method,
// 408 body not received within the read timeout, 413 body over
// Config.MaxBodyBytes or image whose header declares more pixels than the
// limit (checked before decoding), 415 not JPEG or PNG, 503 with
// Retry-After when Config.QueueSize requests are already admitted, 504 when
// the detection did not finish within Config.RequestTimeout.
//
// Memory is bounded by QueueSize times the largest image admitted (its
// decoded pixels; see detect.SetMaxPixels).
package serve

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ghmdet/ghmdet/detect"
)

// Config configures a Server. The zero value of a field takes its default.
type Config struct {
	// MaxBatch is the most images per batch, at most the detector's
	// MaxBatch (the default); 1 turns batching off.
	MaxBatch int
	// BatchWait is the longest a batch waits for more requests after its
	// first (default 5 ms; negative: no wait, only what is already queued).
	BatchWait time.Duration
	// QueueSize is the most detection requests admitted at once (decoding,
	// queued or running); more are refused with 503 (default 64).
	QueueSize int
	// MaxBodyBytes is the largest request body (default 32 MiB).
	MaxBodyBytes int64
	// RequestTimeout bounds a detection request from its admission to its
	// answer (default 30 s).
	RequestTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// http.Server timeouts of Serve against slow clients (defaults 10 s,
	// 60 s, RequestTimeout + 30 s, 120 s).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds the wait for requests in flight when Serve
	// stops (default 60 s).
	ShutdownTimeout time.Duration
	// Token, when not empty, is the bearer token that /v1/ and /metrics
	// require ("Authorization: Bearer TOKEN"); /healthz and /readyz stay
	// open for probes.
	Token string
	// Logger receives the access log (one record per request) and server
	// events (default slog.Default()).
	Logger *slog.Logger
}

// withDefaults fills zero fields and checks the others.
func (c Config) withDefaults(d *detect.Detector) (Config, error) {
	if c.MaxBatch == 0 {
		c.MaxBatch = d.MaxBatch()
	}
	if c.MaxBatch < 1 || c.MaxBatch > d.MaxBatch() {
		return c, fmt.Errorf("serve: max batch %d: must be 1 to the detector's %d", c.MaxBatch, d.MaxBatch())
	}
	defaults := []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.BatchWait, 5 * time.Millisecond}, {&c.RequestTimeout, 30 * time.Second},
		{&c.ReadHeaderTimeout, 10 * time.Second}, {&c.ReadTimeout, 60 * time.Second},
		{&c.IdleTimeout, 120 * time.Second}, {&c.ShutdownTimeout, 60 * time.Second},
	}
	for _, f := range defaults {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.BatchWait < 0 {
		c.BatchWait = 0
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = c.RequestTimeout + 30*time.Second
	}
	if c.QueueSize == 0 {
		c.QueueSize = 64
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.QueueSize < 1 || c.MaxBodyBytes < 1 || c.RequestTimeout < 0 {
		return c, fmt.Errorf("serve: queue size %d, max body %d bytes and request timeout %v must be positive", c.QueueSize, c.MaxBodyBytes, c.RequestTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Server answers detection requests with one Detector. Create it with New;
// use Handler with any http.Server, or Serve.
type Server struct {
	det     *detect.Detector
	cfg     Config
	names   []string
	log     *slog.Logger
	token   [sha256.Size]byte
	handler http.Handler

	// admit holds one token per admitted detection request.
	admit chan struct{}
	// queue holds decoded images waiting for the batcher.
	queue chan *job
	// waiting counts admitted requests not yet taken into a batch.
	waiting atomic.Int64
	// ready is set once the model is compiled; draining while Serve
	// shuts down.
	ready, draining atomic.Bool

	stop      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once

	// beforeBatch, when set (by tests), is called before each batch runs.
	beforeBatch atomic.Pointer[func(n int)]

	metrics *metrics
}

// job is one decoded image waiting for its detections.
type job struct {
	ctx      context.Context
	img      image.Image
	settings detect.Settings
	done     chan result
}

// result is a job's answer.
type result struct {
	dets  []detect.Detection
	err   error
	batch int
}

// New creates a Server for d and starts its batching goroutine; Close stops
// it. The server is not ready (/readyz) until Warmup or SetReady.
func New(d *detect.Detector, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults(d)
	if err != nil {
		return nil, err
	}
	s := &Server{
		det: d, cfg: cfg, names: d.Classes(), log: cfg.Logger,
		admit: make(chan struct{}, cfg.QueueSize), queue: make(chan *job, cfg.QueueSize),
		stop: make(chan struct{}), loopDone: make(chan struct{}),
	}
	s.token = sha256.Sum256([]byte(cfg.Token))
	s.metrics = newMetrics(s)
	s.handler = s.routes()
	go s.batchLoop()
	return s, nil
}

// Handler returns the server's HTTP handler (every endpoint, with access
// logs and metrics).
func (s *Server) Handler() http.Handler { return s.handler }

// Warmup compiles the detector for every batch size the server uses and
// marks the server ready.
func (s *Server) Warmup(ctx context.Context) error {
	if err := s.det.Warmup(ctx); err != nil {
		return err
	}
	s.SetReady(true)
	return nil
}

// SetReady sets what /readyz answers.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Close stops the batching goroutine; requests still queued are answered
// with an error. It does not close the Detector.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.loopDone
		for {
			select {
			case j := <-s.queue:
				s.waiting.Add(-1)
				j.done <- result{err: errors.New("server closed")}
			default:
				return
			}
		}
	})
}

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully: /readyz answers 503, no new connection is accepted, and the
// requests in flight are finished (within Config.ShutdownTimeout) before it
// returns. It calls Close at the end.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "max_batch", s.cfg.MaxBatch, "batch_wait", s.cfg.BatchWait.String(),
		"queue_size", s.cfg.QueueSize, "auth", s.cfg.Token != "")
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: finishing the requests in flight", "in_flight", s.metrics.inFlightNow.Load())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("serve: shutdown: %w", err)
	}
	s.Close()
	s.log.Info("stopped")
	return err
}

// routes returns the handler of every endpoint, wrapped in the access log,
// metrics and authentication.
func (s *Server) routes() http.Handler {
	type route struct {
		method  string
		auth    bool
		handler http.HandlerFunc
	}
	routes := map[string]route{
		"/v1/detect": {http.MethodPost, true, s.handleDetect},
		"/v1/model":  {http.MethodGet, true, s.handleModel},
		"/healthz":   {http.MethodGet, false, s.handleHealth},
		"/readyz":    {http.MethodGet, false, s.handleReady},
		"/metrics":   {http.MethodGet, true, promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := routes[r.URL.Path]
		label := r.URL.Path
		if !ok {
			label = "other"
		}
		s.observe(label, w, r, func(w http.ResponseWriter) {
			switch {
			case !ok:
				writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint %s (endpoints: POST /v1/detect, GET /v1/model, /healthz, /readyz, /metrics)", r.URL.Path))
			case r.Method != rt.method && !(rt.method == http.MethodGet && r.Method == http.MethodHead):
				allow := rt.method
				if rt.method == http.MethodGet {
					allow += ", HEAD"
				}
				w.Header().Set("Allow", allow)
				writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s takes %s, not %s", r.URL.Path, rt.method, r.Method))
			case rt.auth && !s.authorised(r):
				w.Header().Set("WWW-Authenticate", `Bearer realm="ghmdet"`)
				writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token (Authorization: Bearer TOKEN)")
			default:
				rt.handler(w, r)
			}
		})
	})
}

// authorised reports whether the request carries the bearer token (always
// true without one). The comparison takes the same time whatever the
// token sent: both are hashed, and the hashes compared in constant time.
func (s *Server) authorised(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], s.token[:]) == 1
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.draining.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
	case !s.ready.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading"})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// modelInfo is the answer of /v1/model.
type modelInfo struct {
	Classes      []string    `json:"classes"`
	InputWidth   int         `json:"input_width"`
	InputHeight  int         `json:"input_height"`
	MaxBatch     int         `json:"max_batch"`
	BatchWaitMS  float64     `json:"batch_wait_ms"`
	Settings     settingsOut `json:"settings"`
	MaxPixels    int64       `json:"max_pixels"`
	MaxBodyBytes int64       `json:"max_body_bytes"`
	Run          detect.Info `json:"run"`
}

type settingsOut struct {
	ScoreThreshold float64 `json:"score_threshold"`
	MaxDetections  int     `json:"max_detections"`
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	iw, ih := s.det.InputSize()
	st := s.det.Settings()
	info := s.det.Info()
	info.Checkpoint = "" // a path of the server's machine
	writeJSON(w, http.StatusOK, modelInfo{
		Classes: s.det.Classes(), InputWidth: iw, InputHeight: ih, MaxBatch: s.cfg.MaxBatch,
		BatchWaitMS: float64(s.cfg.BatchWait) / float64(time.Millisecond),
		Settings:    settingsOut{st.ScoreThreshold, st.MaxDetections},
		MaxPixels:   detect.MaxPixels(), MaxBodyBytes: s.cfg.MaxBodyBytes, Run: info,
	})
}

// apiError is the JSON error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError writes a JSON error answer.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, status, e)
}

// writeJSON writes v as a JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
