package serve

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/detect"
)

// FuzzHandler sends random bodies, content types, queries, tokens, paths and
// another header to the handler: every answer must be one of the documented statuses, an
// error must be a JSON error body, and nothing may panic (a panic would be
// a 500). Inputs that decode run the model, so minimising a new input takes
// many slow runs: fuzz with a short minimisation, for example
//
//	go test -run '^$' -fuzz FuzzHandler -fuzztime 60s -fuzzminimizetime 3s ./serve
func FuzzHandler(f *testing.F) {
	s, _ := newServer(f, Config{Token: "tok", MaxBodyBytes: 1 << 20, BatchWait: -1})
	// Images of at most a megapixel: random headers declare any size.
	prev := detect.SetMaxPixels(1 << 20)
	f.Cleanup(func() { detect.SetMaxPixels(prev) })
	pngs, jpegs := testImages(f, 1)
	form, formCT := multipartBody(f, [3]string{"image", "image/png", string(pngs[0])})
	seeds := []struct {
		body        []byte
		ctype, q, a string
		path        uint8
		hname, hval string
	}{
		{pngs[0], "image/png", "", "Bearer tok", 0, "Content-Length", "5"},
		{pngs[0], "image/png", "", "Bearer tok", 0, "Transfer-Encoding", "chunked"},
		{jpegs[0], "image/jpeg", "score=0.5&max_detections=3", "Bearer tok", 0, "", ""},
		{pngs[0], "image/png", "draw=1&format=jpeg", "Bearer tok", 0, "", ""},
		{form, formCT, "", "Bearer tok", 0, "", ""},
		{hugePNG(40000, 40000), "image/png", "", "Bearer tok", 0, "", ""},
		{pngs[0][:60], "application/octet-stream", "", "Bearer tok", 0, "", ""},
		{[]byte("GIF89a"), "image/gif", "draw=2", "Bearer x", 0, "", ""},
		{nil, "multipart/form-data; boundary=zz", "", "Bearer tok", 0, "", ""},
		{nil, "", "", "", 1, "", ""},
		{nil, "", "", "Bearer tok", 4, "Accept-Encoding", "gzip"},
	}
	for _, sd := range seeds {
		f.Add(sd.body, sd.ctype, sd.q, sd.a, sd.path, sd.hname, sd.hval)
	}
	paths := []string{"/v1/detect", "/v1/model", "/healthz", "/readyz", "/metrics", "/x"}
	allowed := map[int]bool{200: true, 400: true, 401: true, 404: true, 405: true, 408: true, 413: true, 415: true, 503: true, 504: true}
	f.Fuzz(func(t *testing.T, body []byte, ctype, query, auth string, path uint8, hname, hval string) {
		p := paths[int(path)%len(paths)]
		method := "GET"
		if p == "/v1/detect" || path >= 128 {
			method = "POST"
		}
		r := httptest.NewRequest(method, p, strings.NewReader(string(body)))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", ctype)
		r.Header.Set("Authorization", auth)
		if hname != "" {
			r.Header[hname] = []string{hval}
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if !allowed[w.Code] {
			t.Fatalf("%s %s?%s (%q, %d bytes): status %d: %s", method, p, query, ctype, len(body), w.Code, w.Body)
		}
		if w.Code != 200 {
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("status %d with a body that is no JSON error: %q", w.Code, w.Body)
			}
		}
	})
}
