package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync"
)

// MetricsWriter appends records to a JSON-lines file: one JSON object per
// line, written to the file (no user-space buffering) as each record comes,
// so a crash loses at most the line being written. It is safe for
// concurrent use.
type MetricsWriter struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// OpenMetrics opens (creating it if needed) the JSON-lines file at path for
// appending.
func OpenMetrics(path string) (*MetricsWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open metrics log: %w", err)
	}
	return &MetricsWriter{f: f, path: path}, nil
}

// Path returns the file path.
func (m *MetricsWriter) Path() string { return m.path }

// Write appends one record as a line. Non-finite float values (which JSON
// cannot represent) are written as the strings "NaN", "+Inf" and "-Inf",
// also inside float slices and nested maps. Keys are sorted.
func (m *MetricsWriter) Write(record map[string]any) error {
	line, err := json.Marshal(sanitize(record))
	if err != nil {
		return fmt.Errorf("metrics log %s: %w", m.path, err)
	}
	line = append(line, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return fmt.Errorf("metrics log %s: closed", m.path)
	}
	if _, err := m.f.Write(line); err != nil {
		return fmt.Errorf("metrics log %s: %w", m.path, err)
	}
	return nil
}

// Sync commits the file to stable storage.
func (m *MetricsWriter) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return nil
	}
	return m.f.Sync()
}

// Close syncs and closes the file.
func (m *MetricsWriter) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return nil
	}
	err := m.f.Sync()
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	m.f = nil
	return err
}

// sanitize replaces non-finite floats by strings, recursively.
func sanitize(v any) any {
	switch x := v.(type) {
	case float64:
		return floatOrString(x)
	case float32:
		return floatOrString(float64(x))
	case []float64:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = floatOrString(f)
		}
		return out
	case []float32:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = floatOrString(float64(f))
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sanitize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = sanitize(e)
		}
		return out
	case map[string]float64:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = floatOrString(e)
		}
		return out
	}
	return v
}

func floatOrString(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

// ReadMetrics reads a JSON-lines file written by MetricsWriter. Numbers are
// decoded as float64. A last line cut short by a crash is ignored; any other
// malformed line is an error naming the line.
func ReadMetrics(path string) ([]map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics log: %w", err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	complete := len(data) == 0 || data[len(data)-1] == '\n'
	lines := 0
	for sc.Scan() {
		lines++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			if !complete && lines == bytes.Count(data, []byte{'\n'})+1 {
				break // torn last line
			}
			return nil, fmt.Errorf("metrics log %s line %d: %w", path, lines, err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics log %s: %w", path, err)
	}
	return out, nil
}
