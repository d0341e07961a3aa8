package serve

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ghmdet/ghmdet/detect"
	"github.com/ghmdet/ghmdet/draw"
)

// httpError is an error answer: status, code and message.
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) write(w http.ResponseWriter) {
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, e.status, e.code, e.message)
}

func badRequest(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

// request is what the query of a detection request asks for.
type request struct {
	settings detect.Settings
	draw     bool
	// format is the drawn image's format ("jpeg" or "png"); empty: the
	// input's.
	format string
}

// maxDetectionsLimit bounds the max_detections a request may ask for.
const maxDetectionsLimit = 10000

// queryKeys are the query parameters of /v1/detect.
var queryKeys = []string{"score", "max_detections", "draw", "format"}

// parseQuery reads the query of a detection request.
func (s *Server) parseQuery(q url.Values) (request, *httpError) {
	req := request{settings: s.det.Settings()}
	for key, vals := range q {
		known := false
		for _, k := range queryKeys {
			known = known || k == key
		}
		if !known {
			return req, badRequest("unknown query parameter %q (allowed: %s)", key, strings.Join(queryKeys, ", "))
		}
		if len(vals) > 1 {
			return req, badRequest("query parameter %q given %d times", key, len(vals))
		}
	}
	if v := q.Get("score"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 || f != f {
			return req, badRequest("score %q: want a number from 0 to 1", v)
		}
		req.settings.ScoreThreshold = f
	}
	if v := q.Get("max_detections"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxDetectionsLimit {
			return req, badRequest("max_detections %q: want a whole number from 0 (no limit) to %d", v, maxDetectionsLimit)
		}
		req.settings.MaxDetections = n
	}
	switch v := strings.ToLower(q.Get("draw")); v {
	case "", "0", "false":
	case "1", "true":
		req.draw = true
	default:
		return req, badRequest("draw %q: want 1 or 0", v)
	}
	switch v := strings.ToLower(q.Get("format")); v {
	case "":
	case "jpeg", "jpg":
		req.format = "jpeg"
	case "png":
		req.format = "png"
	default:
		return req, badRequest("format %q: want jpeg or png", v)
	}
	if req.format != "" && !req.draw {
		return req, badRequest("format applies to drawn images: add draw=1")
	}
	return req, nil
}

// detectResponse is the JSON answer of /v1/detect.
type detectResponse struct {
	Image      imageOut           `json:"image"`
	Detections []detect.Detection `json:"detections"`
	Settings   settingsOut        `json:"settings"`
}

type imageOut struct {
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Format string `json:"format"`
}

func (s *Server) handleDetect(w http.ResponseWriter, r *http.Request) {
	req, herr := s.parseQuery(r.URL.Query())
	if herr != nil {
		herr.write(w)
		return
	}
	select {
	case s.admit <- struct{}{}:
	default:
		(&httpError{http.StatusServiceUnavailable, "queue_full",
			fmt.Sprintf("the server is busy: %d requests are already being served; retry later", s.cfg.QueueSize)}).write(w)
		return
	}
	s.waiting.Add(1)
	queued := false
	defer func() {
		if !queued {
			s.waiting.Add(-1)
		}
		<-s.admit
	}()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	img, format, herr := s.readImage(w, r)
	if herr != nil {
		herr.write(w)
		return
	}
	b := img.Bounds()
	annotate(w, "image", fmt.Sprintf("%dx%d %s", b.Dx(), b.Dy(), format))
	j := &job{ctx: ctx, img: img, settings: req.settings, done: make(chan result, 1)}
	select {
	case s.queue <- j:
		queued = true
	default:
		(&httpError{http.StatusServiceUnavailable, "queue_full", "the server is busy; retry later"}).write(w)
		return
	}
	var res result
	select {
	case res = <-j.done:
	case <-ctx.Done():
		if r.Context().Err() != nil {
			return // the client is gone; the access log says 499
		}
		(&httpError{http.StatusGatewayTimeout, "timeout",
			fmt.Sprintf("the detection did not finish within %v", s.cfg.RequestTimeout)}).write(w)
		return
	}
	if res.err != nil {
		if errors.Is(res.err, detect.ErrTooLarge) {
			(&httpError{http.StatusRequestEntityTooLarge, "image_too_large", res.err.Error()}).write(w)
			return
		}
		if ctx.Err() != nil && r.Context().Err() == nil {
			(&httpError{http.StatusGatewayTimeout, "timeout",
				fmt.Sprintf("the detection did not finish within %v", s.cfg.RequestTimeout)}).write(w)
			return
		}
		writeError(w, http.StatusInternalServerError, "internal", "detection failed: "+res.err.Error())
		return
	}
	annotate(w, "detections", strconv.Itoa(len(res.dets)))
	annotate(w, "batch", strconv.Itoa(res.batch))
	w.Header().Set("X-Batch-Size", strconv.Itoa(res.batch))
	w.Header().Set("X-Detections", strconv.Itoa(len(res.dets)))
	if req.draw {
		s.writeDrawn(w, img, format, req.format, res.dets)
		return
	}
	if res.dets == nil {
		res.dets = []detect.Detection{}
	}
	writeJSON(w, http.StatusOK, detectResponse{
		Image:      imageOut{b.Dx(), b.Dy(), format},
		Detections: res.dets,
		Settings:   settingsOut{req.settings.ScoreThreshold, req.settings.MaxDetections},
	})
}

// writeDrawn answers with the image and its detections drawn, as JPEG or
// PNG (want, else the input's format).
func (s *Server) writeDrawn(w http.ResponseWriter, img image.Image, format, want string, dets []detect.Detection) {
	dd := make([]draw.Det, len(dets))
	for i, d := range dets {
		dd[i] = draw.Det{Box: d.Box, Class: d.Class, Score: d.Score}
	}
	// Drawing works in the image's own coordinates from (0, 0).
	b := img.Bounds()
	if b.Min != (image.Point{}) {
		for i := range dd {
			dd[i].Box = [4]float64{dd[i].Box[0] - float64(b.Min.X), dd[i].Box[1] - float64(b.Min.Y), dd[i].Box[2] - float64(b.Min.X), dd[i].Box[3] - float64(b.Min.Y)}
		}
	}
	out := draw.Detections(img, dd, s.names, draw.Options{})
	if want == "" {
		want = format
	}
	var buf bytes.Buffer
	var err error
	ctype := "image/jpeg"
	if want == "png" {
		ctype = "image/png"
		err = png.Encode(&buf, out)
	} else {
		err = jpeg.Encode(&buf, out, &jpeg.Options{Quality: draw.JPEGQuality})
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "encoding the drawn image failed: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// bodyReader records the first error reading the body other than its end,
// so that a decoding error caused by the body (too large, too slow) is
// answered as such.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// bodyError returns the answer for a failed body read, or nil when the
// body was not the cause.
func (s *Server) bodyError(b *bodyReader) *httpError {
	if b.err == nil {
		return nil
	}
	var tooLarge *http.MaxBytesError
	if errors.As(b.err, &tooLarge) {
		return &httpError{http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("the request body is larger than %d bytes", s.cfg.MaxBodyBytes)}
	}
	var ne net.Error
	if errors.Is(b.err, os.ErrDeadlineExceeded) || (errors.As(b.err, &ne) && ne.Timeout()) {
		return &httpError{http.StatusRequestTimeout, "body_timeout", "the request body did not arrive within the read timeout"}
	}
	return badRequest("reading the request body: %v", b.err)
}

// imageTypes are the content types accepted for an image; the empty type
// and application/octet-stream are recognised from the data.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "application/octet-stream": true, "": true}

// readImage reads the request's image (the raw body, or the multipart field
// "image"), checks its type and the size its header declares, and decodes
// it.
func (s *Server) readImage(w http.ResponseWriter, r *http.Request) (image.Image, string, *httpError) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, "", &httpError{http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("the request body is larger than %d bytes", s.cfg.MaxBodyBytes)}
	}
	body := &bodyReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)}
	var src io.Reader = body
	declared := ""
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, "", &httpError{http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("content type %q: %v", ct, err)}
		}
		declared = mt
		if mt == "multipart/form-data" {
			part, herr := s.imagePart(body, params["boundary"])
			if herr != nil {
				return nil, "", herr
			}
			src = part
			declared = ""
			if pct := part.Header.Get("Content-Type"); pct != "" {
				if declared, _, err = mime.ParseMediaType(pct); err != nil {
					return nil, "", &httpError{http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("field image: content type %q: %v", pct, err)}
				}
			}
		}
	}
	if !imageTypes[declared] {
		return nil, "", &httpError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("content type %q: send image/jpeg or image/png (the raw body, or the multipart form field \"image\")", declared)}
	}
	br := bufio.NewReaderSize(src, 4096)
	head, _ := br.Peek(512)
	if len(head) == 0 {
		if herr := s.bodyError(body); herr != nil {
			return nil, "", herr
		}
		return nil, "", &httpError{http.StatusBadRequest, "invalid_image", "the request holds no image (empty body)"}
	}
	switch sniffed := http.DetectContentType(head); {
	case sniffed == "image/jpeg" || sniffed == "image/png":
	case strings.HasPrefix(sniffed, "image/"):
		return nil, "", &httpError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("the image is %s: send JPEG or PNG", sniffed)}
	default:
		if herr := s.bodyError(body); herr != nil {
			return nil, "", herr
		}
		return nil, "", &httpError{http.StatusBadRequest, "invalid_image", "the data are not a JPEG or PNG image"}
	}
	img, format, err := detect.Decode(br)
	if err != nil {
		if herr := s.bodyError(body); herr != nil {
			return nil, "", herr
		}
		if errors.Is(err, detect.ErrTooLarge) {
			return nil, "", &httpError{http.StatusRequestEntityTooLarge, "image_too_large", err.Error()}
		}
		return nil, "", &httpError{http.StatusBadRequest, "invalid_image", "the image could not be decoded: " + err.Error()}
	}
	// What follows the image (the rest of a form, or trailing bytes) is
	// read, so that a body over the limit is refused whatever its length
	// header said.
	if _, err := io.Copy(io.Discard, body); err != nil {
		if herr := s.bodyError(body); herr != nil {
			return nil, "", herr
		}
	}
	return img, format, nil
}

// imagePart returns the multipart form field "image".
func (s *Server) imagePart(body *bodyReader, boundary string) (*multipart.Part, *httpError) {
	if boundary == "" {
		return nil, badRequest("multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(body, boundary)
	var fields []string
	for len(fields) < 100 {
		part, err := mr.NextPart()
		if err == io.EOF {
			sort.Strings(fields)
			return nil, badRequest("the form has no field \"image\" (fields: %s)", strings.Join(fields, ", "))
		}
		if err != nil {
			if herr := s.bodyError(body); herr != nil {
				return nil, herr
			}
			return nil, badRequest("reading the multipart form: %v", err)
		}
		if part.FormName() == "image" {
			return part, nil
		}
		fields = append(fields, strconv.Quote(part.FormName()))
	}
	return nil, badRequest("the form has more than 100 fields before \"image\"")
}
