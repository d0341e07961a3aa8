package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/image/bmp"

	"github.com/ghmdet/ghmdet/detect"
	"github.com/ghmdet/ghmdet/internal/testrun"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testrun.Cleanup()
	os.Exit(code)
}

var (
	detOnce sync.Once
	det     *detect.Detector
	detErr  error
)

// testDetector is the tiny run's detector with a threshold of 0 and 20
// detections, so that answers hold detections; it is shared by the tests
// (a Detector is safe for concurrent use) and never closed.
func testDetector(t testing.TB) *detect.Detector {
	t.Helper()
	detOnce.Do(func() {
		var run testrun.Run
		if run, detErr = testrun.Make(); detErr == nil {
			det, detErr = detect.Load(run.Dir, detect.WithScoreThreshold(0), detect.WithMaxDetections(20), detect.WithMaxBatch(4))
		}
	})
	if detErr != nil {
		t.Fatal(detErr)
	}
	return det
}

// newServer returns a ready server on the test detector, closed at the end
// of the test, with its log in a buffer.
func newServer(t testing.TB, cfg Config) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	s, err := New(testDetector(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	t.Cleanup(s.Close)
	return s, logs
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testImages returns the tiny run's first n images as PNG and JPEG files.
func testImages(t testing.TB, n int) (pngs, jpegs [][]byte) {
	t.Helper()
	run := testrun.Tiny(t)
	for _, f := range run.Images[:n] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pngs = append(pngs, b)
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		jpegs = append(jpegs, buf.Bytes())
	}
	return pngs, jpegs
}

// encode returns img encoded by enc.
func encode(t testing.TB, enc func(io.Writer, image.Image) error, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hugePNG returns a valid PNG signature and IHDR chunk that declare a
// w x h image, followed by nothing: a tiny file whose decoding would take
// gigabytes.
func hugePNG(w, h int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	var chunk bytes.Buffer
	_ = binary.Write(&chunk, binary.BigEndian, uint32(len(ihdr)))
	chunk.WriteString("IHDR")
	chunk.Write(ihdr)
	_ = binary.Write(&chunk, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
	b.Write(chunk.Bytes())
	return b.Bytes()
}

// multipartBody returns a form with the given fields (name -> content
// type, data) and its content type.
func multipartBody(t testing.TB, fields ...[3]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name=%q; filename="x"`, f[0])}
		if f[1] != "" {
			h["Content-Type"] = []string{f[1]}
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pw.Write([]byte(f[2]))
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// do serves one request through the handler.
func do(t testing.TB, s *Server, method, target, ctype string, body []byte, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

// decodeDetect decodes a /v1/detect JSON answer.
func decodeDetect(t testing.TB, body []byte) detectResponse {
	t.Helper()
	var resp detectResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return resp
}

// TestEndpoints checks every endpoint's answer on good requests.
func TestEndpoints(t *testing.T) {
	s, _ := newServer(t, Config{})
	pngs, jpegs := testImages(t, 1)
	want, err := testDetector(t).Detect(context.Background(), mustDecode(t, pngs[0]))
	if err != nil {
		t.Fatal(err)
	}
	form, formType := multipartBody(t, [3]string{"note", "text/plain", "hello"}, [3]string{"image", "image/png", string(pngs[0])})
	formNoType, formNoTypeCT := multipartBody(t, [3]string{"image", "", string(pngs[0])})

	t.Run("healthz", func(t *testing.T) {
		w := do(t, s, "GET", "/healthz", "", nil, nil)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"ok"`) {
			t.Errorf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("readyz", func(t *testing.T) {
		s.SetReady(false)
		if w := do(t, s, "GET", "/readyz", "", nil, nil); w.Code != 503 || !strings.Contains(w.Body.String(), "loading") {
			t.Errorf("not ready: %d %s", w.Code, w.Body)
		}
		s.SetReady(true)
		if w := do(t, s, "GET", "/readyz", "", nil, nil); w.Code != 200 || !strings.Contains(w.Body.String(), "ready") {
			t.Errorf("ready: %d %s", w.Code, w.Body)
		}
	})
	t.Run("model", func(t *testing.T) {
		w := do(t, s, "GET", "/v1/model", "", nil, nil)
		var m modelInfo
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 200 {
			t.Fatalf("%d %s: %v", w.Code, w.Body, err)
		}
		if !slices.Equal(m.Classes, []string{"circle", "square"}) || m.InputWidth != 128 || m.InputHeight != 128 || m.MaxBatch != 4 ||
			m.Run.Step != 3 || m.Run.Preset != "cpu" || m.Run.Checkpoint != "" || m.Settings.MaxDetections != 20 || m.MaxPixels != detect.MaxPixels() {
			t.Errorf("model %+v", m)
		}
	})
	cases := []struct {
		name, query, ctype string
		body               []byte
		format             string
		n                  int // detections expected; -1: want's
	}{
		{"png body", "", "image/png", pngs[0], "png", -1},
		{"jpeg body", "", "image/jpeg", jpegs[0], "jpeg", 20},
		{"octet-stream body", "", "application/octet-stream", pngs[0], "png", -1},
		{"multipart", "", formType, form, "png", -1},
		{"multipart field without type", "", formNoTypeCT, formNoType, "png", -1},
		{"max_detections", "?max_detections=3", "image/png", pngs[0], "png", 3},
		{"score 1", "?score=1", "image/png", pngs[0], "png", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := do(t, s, "POST", "/v1/detect"+c.query, c.ctype, c.body, nil)
			if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			resp := decodeDetect(t, w.Body.Bytes())
			if resp.Image.Width != 128 || resp.Image.Height != 128 || resp.Image.Format != c.format {
				t.Errorf("image %+v", resp.Image)
			}
			n := c.n
			if n < 0 {
				n = len(want)
				if !slices.Equal(resp.Detections, want) {
					t.Errorf("detections differ from Detect's:\n%v\n%v", resp.Detections, want)
				}
			}
			if len(resp.Detections) != n || w.Header().Get("X-Detections") != fmt.Sprint(n) {
				t.Errorf("%d detections (X-Detections %q), want %d", len(resp.Detections), w.Header().Get("X-Detections"), n)
			}
			for _, d := range resp.Detections {
				if d.ClassName != []string{"circle", "square"}[d.Class] {
					t.Errorf("detection %+v", d)
				}
			}
		})
	}
	t.Run("draw", func(t *testing.T) {
		for _, c := range []struct{ query, ctype, want string }{
			{"?draw=1", "image/png", "image/png"},
			{"?draw=1", "image/jpeg", "image/jpeg"},
			{"?draw=true&format=jpeg", "image/png", "image/jpeg"},
			{"?draw=1&format=png", "image/jpeg", "image/png"},
		} {
			body := pngs[0]
			if c.ctype == "image/jpeg" {
				body = jpegs[0]
			}
			w := do(t, s, "POST", "/v1/detect"+c.query, c.ctype, body, nil)
			if w.Code != 200 || w.Header().Get("Content-Type") != c.want {
				t.Fatalf("%s: %d %s", c.query, w.Code, w.Header().Get("Content-Type"))
			}
			img, format, err := image.Decode(w.Body)
			if err != nil || "image/"+format != c.want || img.Bounds().Dx() != 128 {
				t.Errorf("%s: drawn image %v, %q, %v", c.query, img, format, err)
			}
			if img != nil && pixelsEqual(img, mustDecode(t, body)) {
				t.Errorf("%s: no box drawn", c.query)
			}
		}
	})
	t.Run("metrics", func(t *testing.T) {
		w := do(t, s, "GET", "/metrics", "", nil, nil)
		body := w.Body.String()
		for _, m := range []string{
			`ghmdet_http_requests_total{code="200",path="/v1/detect"}`,
			`ghmdet_http_request_duration_seconds_bucket{path="/v1/detect"`,
			"ghmdet_http_requests_in_flight 1", "ghmdet_detect_queue_depth 0",
			"ghmdet_detect_batch_size_bucket", "ghmdet_detect_batch_duration_seconds_count",
			"go_goroutines", "process_resident_memory_bytes",
		} {
			if !strings.Contains(body, m) {
				t.Errorf("metrics lack %s", m)
			}
		}
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("%d %s", w.Code, w.Header().Get("Content-Type"))
		}
	})
}

func mustDecode(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pixelsEqual reports whether two images have the same size and colours
// (JPEG round trips blur colours: up to 8 levels apart counts as equal).
func pixelsEqual(a, b image.Image) bool {
	if a.Bounds().Size() != b.Bounds().Size() {
		return false
	}
	for y := 0; y < a.Bounds().Dy(); y++ {
		for x := 0; x < a.Bounds().Dx(); x++ {
			r1, g1, b1, _ := a.At(a.Bounds().Min.X+x, a.Bounds().Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(b.Bounds().Min.X+x, b.Bounds().Min.Y+y).RGBA()
			if absDiff(r1, r2) > 8<<8 || absDiff(g1, g2) > 8<<8 || absDiff(b1, b2) > 8<<8 {
				return false
			}
		}
	}
	return true
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestBadRequests checks that every bad request is answered with its
// status and a JSON error naming the problem.
func TestBadRequests(t *testing.T) {
	s, _ := newServer(t, Config{MaxBodyBytes: 64 << 10})
	pngs, jpegs := testImages(t, 1)
	prev := detect.SetMaxPixels(1 << 20)
	defer detect.SetMaxPixels(prev)
	small := image.NewRGBA(image.Rect(0, 0, 16, 16))
	small.Set(1, 1, color.RGBA{255, 0, 0, 255})
	gifData := encode(t, func(w io.Writer, m image.Image) error { return gif.Encode(w, m, nil) }, small)
	bmpData := encode(t, bmp.Encode, small)
	big := make([]byte, 100<<10)
	copy(big, pngs[0])
	noImage, noImageCT := multipartBody(t, [3]string{"file", "image/png", string(pngs[0])})
	gifForm, gifFormCT := multipartBody(t, [3]string{"image", "image/gif", string(gifData)})
	cases := []struct {
		name, method, target, ctype string
		body                        []byte
		status                      int
		code, msg                   string
	}{
		{"unknown path", "GET", "/v2/detect", "", nil, 404, "not_found", "no endpoint /v2/detect"},
		{"GET on detect", "GET", "/v1/detect", "", nil, 405, "method_not_allowed", "/v1/detect takes POST, not GET"},
		{"POST on model", "POST", "/v1/model", "", nil, 405, "method_not_allowed", "takes GET"},
		{"text body", "POST", "/v1/detect", "text/plain", []byte("hello"), 415, "unsupported_media_type", `content type "text/plain"`},
		{"malformed content type", "POST", "/v1/detect", "image/png; ===", pngs[0], 415, "unsupported_media_type", "content type"},
		{"gif declared", "POST", "/v1/detect", "image/gif", gifData, 415, "unsupported_media_type", `"image/gif"`},
		{"gif as octet-stream", "POST", "/v1/detect", "application/octet-stream", gifData, 415, "unsupported_media_type", "the image is image/gif"},
		{"bmp declared as png", "POST", "/v1/detect", "image/png", bmpData, 415, "unsupported_media_type", "the image is image/bmp"},
		{"gif in a form", "POST", "/v1/detect", gifFormCT, gifForm, 415, "unsupported_media_type", "image/gif"},
		{"empty body", "POST", "/v1/detect", "image/png", nil, 400, "invalid_image", "empty body"},
		{"not an image", "POST", "/v1/detect", "image/png", []byte("certainly not a png"), 400, "invalid_image", "not a JPEG or PNG"},
		{"truncated png", "POST", "/v1/detect", "image/png", pngs[0][:len(pngs[0])/2], 400, "invalid_image", "could not be decoded"},
		{"truncated jpeg", "POST", "/v1/detect", "image/jpeg", jpegs[0][:len(jpegs[0])/2], 400, "invalid_image", "could not be decoded"},
		{"png header only", "POST", "/v1/detect", "image/png", pngs[0][:33], 400, "invalid_image", "could not be decoded"},
		{"body too large", "POST", "/v1/detect", "image/png", big, 413, "body_too_large", "larger than 65536 bytes"},
		{"too many pixels declared", "POST", "/v1/detect", "image/png", hugePNG(50000, 50000), 413, "image_too_large", "declares 50000x50000"},
		{"form without image", "POST", "/v1/detect", noImageCT, noImage, 400, "bad_request", `no field "image" (fields: "file")`},
		{"form without boundary", "POST", "/v1/detect", "multipart/form-data", noImage, 400, "bad_request", "without a boundary"},
		{"bad score", "POST", "/v1/detect?score=high", "image/png", pngs[0], 400, "bad_request", `score "high"`},
		{"score over 1", "POST", "/v1/detect?score=1.5", "image/png", pngs[0], 400, "bad_request", "from 0 to 1"},
		{"NaN score", "POST", "/v1/detect?score=NaN", "image/png", pngs[0], 400, "bad_request", "from 0 to 1"},
		{"negative max", "POST", "/v1/detect?max_detections=-1", "image/png", pngs[0], 400, "bad_request", "max_detections"},
		{"huge max", "POST", "/v1/detect?max_detections=100000", "image/png", pngs[0], 400, "bad_request", "max_detections"},
		{"unknown parameter", "POST", "/v1/detect?scor=0.5", "image/png", pngs[0], 400, "bad_request", `unknown query parameter "scor"`},
		{"parameter twice", "POST", "/v1/detect?score=0.5&score=0.6", "image/png", pngs[0], 400, "bad_request", "given 2 times"},
		{"bad draw", "POST", "/v1/detect?draw=yes", "image/png", pngs[0], 400, "bad_request", `draw "yes"`},
		{"format without draw", "POST", "/v1/detect?format=png", "image/png", pngs[0], 400, "bad_request", "add draw=1"},
		{"bad format", "POST", "/v1/detect?draw=1&format=webp", "image/png", pngs[0], 400, "bad_request", `format "webp"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := do(t, s, c.method, c.target, c.ctype, c.body, nil)
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("answer %d %q is not a JSON error: %v", w.Code, w.Body, err)
			}
			if w.Code != c.status || e.Error.Code != c.code || !strings.Contains(e.Error.Message, c.msg) {
				t.Errorf("%d %s %q; want %d %s with %q", w.Code, e.Error.Code, e.Error.Message, c.status, c.code, c.msg)
			}
			if c.status == 405 && w.Header().Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	// A body of unknown length (chunked) over the limit is refused too, even
	// though its image ends before the limit.
	r := httptest.NewRequest("POST", "/v1/detect", bytes.NewReader(big))
	r.Header.Set("Content-Type", "image/png")
	r.ContentLength = -1
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != 413 || !strings.Contains(w.Body.String(), `"body_too_large"`) {
		t.Errorf("chunked body over the limit: %d %s", w.Code, w.Body)
	}
	// The server still answers after all that, and admitted nothing lasting.
	if w := do(t, s, "POST", "/v1/detect", "image/png", pngs[0], nil); w.Code != 200 {
		t.Errorf("good request after bad ones: %d %s", w.Code, w.Body)
	}
	if n := s.waiting.Load(); n != 0 || len(s.admit) != 0 {
		t.Errorf("%d requests left waiting, %d admitted", n, len(s.admit))
	}
}

// TestAuth checks the bearer token: required on /v1/ and /metrics, not on
// the probes.
func TestAuth(t *testing.T) {
	s, _ := newServer(t, Config{Token: "s3cret"})
	cases := []struct {
		path, auth string
		status     int
	}{
		{"/v1/model", "", 401},
		{"/v1/model", "Bearer wrong", 401},
		{"/v1/model", "Bearer s3cret-and-more", 401},
		{"/v1/model", "Basic s3cret", 401},
		{"/v1/model", "Bearer s3cret", 200},
		{"/v1/model", "bearer s3cret", 200},
		{"/metrics", "", 401},
		{"/metrics", "Bearer s3cret", 200},
		{"/v1/detect", "", 401},
		{"/healthz", "", 200},
		{"/readyz", "", 200},
	}
	for _, c := range cases {
		method := "GET"
		if c.path == "/v1/detect" {
			method = "POST"
		}
		w := do(t, s, method, c.path, "", nil, map[string]string{"Authorization": c.auth})
		if w.Code != c.status {
			t.Errorf("%s with %q: %d, want %d", c.path, c.auth, w.Code, c.status)
		}
		if c.status == 401 && (w.Header().Get("WWW-Authenticate") == "" || !strings.Contains(w.Body.String(), `"unauthorized"`)) {
			t.Errorf("%s with %q: 401 without WWW-Authenticate or JSON error", c.path, c.auth)
		}
	}
}

// TestQueueFull fills the admission with a request whose body is still
// arriving; the next is refused with 503 and Retry-After, and the first
// still succeeds.
func TestQueueFull(t *testing.T) {
	s, _ := newServer(t, Config{QueueSize: 1})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	pngs, _ := testImages(t, 1)
	pr, pw := io.Pipe()
	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(ts.URL+"/v1/detect", "image/png", pr)
		if err != nil {
			first <- -1
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	_, _ = pw.Write(pngs[0][:100])
	waitFor(t, func() bool { return len(s.admit) == 1 })
	resp, err := http.Post(ts.URL+"/v1/detect", "image/png", bytes.NewReader(pngs[0]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"queue_full"`) {
		t.Errorf("second request: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	_, _ = pw.Write(pngs[0][100:])
	pw.Close()
	if code := <-first; code != 200 {
		t.Errorf("first request: %d", code)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRequestTimeout holds the batch back past the request timeout: 504.
func TestRequestTimeout(t *testing.T) {
	s, _ := newServer(t, Config{RequestTimeout: 100 * time.Millisecond})
	release := make(chan struct{})
	hold := func(int) { <-release }
	s.beforeBatch.Store(&hold)
	defer close(release)
	pngs, _ := testImages(t, 1)
	w := do(t, s, "POST", "/v1/detect", "image/png", pngs[0], nil)
	if w.Code != 504 || !strings.Contains(w.Body.String(), `"timeout"`) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

// TestSlowClient checks the read timeout: a body that stops arriving is
// answered 408, and headers that never end close the connection.
func TestSlowClient(t *testing.T) {
	s, _ := newServer(t, Config{})
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Config.ReadTimeout = 300 * time.Millisecond
	ts.Config.ReadHeaderTimeout = 300 * time.Millisecond
	ts.Start()
	defer ts.Close()
	pngs, _ := testImages(t, 1)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n", len(pngs[0]))
	_, _ = conn.Write(pngs[0][:200])
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 408 || !strings.Contains(string(body), `"body_timeout"`) {
		t.Errorf("stalled body: %d %s", resp.StatusCode, body)
	}
	// Headers that never end: the connection is closed.
	c2, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprint(c2, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(c2)
	if err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("stalled headers: connection not closed by the server (%v after %v)", err, time.Since(start))
	}
}

// TestConcurrentRequests sends many requests at once and requires the
// detections of sequential calls: exactly without batching, up to the
// rounding of batched arithmetic with it (and batches of more than one
// image must have formed).
func TestConcurrentRequests(t *testing.T) {
	pngs, _ := testImages(t, 6)
	d := testDetector(t)
	want := make([][]detect.Detection, len(pngs))
	for i, b := range pngs {
		var err error
		if want[i], err = d.Detect(context.Background(), mustDecode(t, b)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"no batching", Config{MaxBatch: 1}},
		{"batching", Config{MaxBatch: 4, BatchWait: 20 * time.Millisecond}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newServer(t, c.cfg)
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			const n = 36
			var wg sync.WaitGroup
			var mu sync.Mutex
			maxBatch := 0
			errs := make(chan string, n)
			for k := 0; k < n; k++ {
				wg.Go(func() {
					i := k % len(pngs)
					resp, err := http.Post(ts.URL+"/v1/detect", "image/png", bytes.NewReader(pngs[i]))
					if err != nil {
						errs <- err.Error()
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						errs <- fmt.Sprintf("status %d: %s", resp.StatusCode, body)
						return
					}
					got := decodeDetect(t, body).Detections
					var bs int
					fmt.Sscan(resp.Header.Get("X-Batch-Size"), &bs)
					mu.Lock()
					maxBatch = max(maxBatch, bs)
					mu.Unlock()
					exact := slices.Equal(got, want[i])
					if (c.cfg.MaxBatch == 1 && !exact) || !testrun.SameDetections(got, want[i], 1e-5) {
						errs <- fmt.Sprintf("image %d (batch %d): detections differ from a sequential call's", i, bs)
					}
				})
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			if c.cfg.MaxBatch == 1 && maxBatch != 1 || c.cfg.MaxBatch > 1 && (maxBatch < 2 || maxBatch > c.cfg.MaxBatch) {
				t.Errorf("largest batch %d with max batch %d", maxBatch, c.cfg.MaxBatch)
			}
		})
	}
}

// TestShutdownFinishesInFlight stops Serve while requests wait for their
// batch: none is lost, /readyz says so meanwhile, and new connections are
// refused afterwards.
func TestShutdownFinishesInFlight(t *testing.T) {
	s, logs := newServer(t, Config{MaxBatch: 4, BatchWait: time.Millisecond})
	release := make(chan struct{})
	var once sync.Once
	hold := func(int) { once.Do(func() { <-release }) }
	s.beforeBatch.Store(&hold)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	pngs, _ := testImages(t, 1)
	const n = 6
	codes := make(chan int, n)
	for k := 0; k < n; k++ {
		go func() {
			resp, err := http.Post(url+"/v1/detect", "image/png", bytes.NewReader(pngs[0]))
			if err != nil {
				codes <- -1
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && len(decodeDetect(t, body).Detections) == 0 {
				codes <- -2
				return
			}
			codes <- resp.StatusCode
		}()
	}
	waitFor(t, func() bool { return s.metrics.inFlightNow.Load() == n })
	cancel()
	waitFor(t, func() bool { return s.draining.Load() })
	if w := do(t, s, "GET", "/readyz", "", nil, nil); w.Code != 503 || !strings.Contains(w.Body.String(), "shutting down") {
		t.Errorf("readyz while shutting down: %d %s", w.Code, w.Body)
	}
	close(release)
	for k := 0; k < n; k++ {
		if code := <-codes; code != 200 {
			t.Errorf("request in flight at shutdown: %d", code)
		}
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("a request after shutdown was answered")
	}
	if !strings.Contains(logs.String(), `"msg":"shutting down: finishing the requests in flight"`) || !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("shutdown not logged:\n%s", logs)
	}
}

// TestAccessLog checks the structured access log record of a detection.
func TestAccessLog(t *testing.T) {
	s, logs := newServer(t, Config{})
	pngs, _ := testImages(t, 1)
	if w := do(t, s, "POST", "/v1/detect?max_detections=2", "image/png", pngs[0], nil); w.Code != 200 {
		t.Fatal(w.Code)
	}
	do(t, s, "GET", "/nowhere", "", nil, nil)
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "request" {
			recs = append(recs, m)
		}
	}
	if len(recs) != 2 {
		t.Fatalf("%d access records:\n%s", len(recs), logs)
	}
	r := recs[0]
	if r["method"] != "POST" || r["path"] != "/v1/detect" || r["status"] != 200.0 || r["detections"] != "2" || r["batch"] != "1" ||
		r["image"] != "128x128 png" || r["query"] != "max_detections=2" || r["duration_ms"] == nil || r["bytes"].(float64) <= 0 {
		t.Errorf("access record %v", r)
	}
	if recs[1]["status"] != 404.0 || recs[1]["path"] != "/nowhere" {
		t.Errorf("access record %v", recs[1])
	}
}

// TestConfig checks the configuration's checks and defaults.
func TestConfig(t *testing.T) {
	d := testDetector(t)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{MaxBatch: 5}, "max batch 5: must be 1 to the detector's 4"},
		{Config{MaxBatch: -1}, "max batch -1"},
		{Config{QueueSize: -1}, "queue size -1"},
		{Config{MaxBodyBytes: -5}, "max body -5 bytes"},
	} {
		if _, err := New(d, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want %q", c.cfg, err, c.want)
		}
	}
	s, _ := newServer(t, Config{})
	if s.cfg.MaxBatch != 4 || s.cfg.BatchWait != 5*time.Millisecond || s.cfg.QueueSize != 64 || s.cfg.MaxBodyBytes != 32<<20 ||
		s.cfg.WriteTimeout != s.cfg.RequestTimeout+30*time.Second {
		t.Errorf("defaults %+v", s.cfg)
	}
}
