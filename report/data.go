package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/ghmdet/ghmdet/internal/atomicfile"
)

// formatFloat writes v in the shortest form that reads back exactly; NaN and
// infinities as nan, inf and -inf (which Python, pandas and spreadsheets
// read).
func formatFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// WriteCSV writes a numeric table to path atomically: a header line, then one
// line per row. Every row must have len(header) values (an empty header
// writes no header line and takes rows of any length).
func WriteCSV(path string, header []string, rows [][]float64) error {
	for i, r := range rows {
		if len(header) > 0 && len(r) != len(header) {
			return fmt.Errorf("writing %s: row %d has %d values, the header has %d columns", path, i, len(r), len(header))
		}
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if len(header) > 0 {
			if err := cw.Write(header); err != nil {
				return err
			}
		}
		rec := make([]string, 0, len(header))
		for _, r := range rows {
			rec = rec[:0]
			for _, v := range r {
				rec = append(rec, formatFloat(v))
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// WriteSeriesCSV writes the points of series to path in long form, one line
// per point: "series,x,y" (non-finite values written as nan/inf).
func WriteSeriesCSV(path string, series []Series) error {
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("writing %s: series %d (%q) has %d x values and %d y values", path, i, s.Name, len(s.X), len(s.Y))
		}
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"series", "x", "y"}); err != nil {
			return err
		}
		for _, s := range series {
			for j := range s.X {
				if err := cw.Write([]string{s.Name, formatFloat(s.X[j]), formatFloat(s.Y[j])}); err != nil {
					return err
				}
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// WriteGradHistogramCSV writes the numbers behind PlotGradNorm to path: one
// line per bin with columns lo, hi, count, fraction, then "weight <name>" and
// "share <name>" for each loss name in sorted order.
func WriteGradHistogramCSV(path string, h GradHistogram) error {
	if err := h.validate(path); err != nil {
		return err
	}
	names := h.weightNames()
	frac, _ := h.fractions()
	shares := h.Shares()
	header := []string{"lo", "hi", "count", "fraction"}
	for _, n := range names {
		header = append(header, "weight "+n)
	}
	for _, n := range names {
		header = append(header, "share "+n)
	}
	rows := make([][]float64, len(h.Counts))
	for i := range rows {
		r := []float64{h.Edges[i], h.Edges[i+1], h.Counts[i], frac[i]}
		for _, n := range names {
			r = append(r, h.Weights[n][i])
		}
		for _, n := range names {
			r = append(r, shares[n][i])
		}
		rows[i] = r
	}
	return WriteCSV(path, header, rows)
}

// WriteJSON writes v to path atomically as indented JSON. Plain JSON has no
// NaN or infinity: a value holding one is reported as an error naming the
// file (use JSONFloat fields to write them as null).
func WriteJSON(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	})
}

// JSONFloat is a float64 that encodes NaN and infinities as JSON null.
type JSONFloat float64

// MarshalJSON implements json.Marshaler.
func (f JSONFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if !finite(v) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// jsonFloats converts a slice for JSON output with nulls for NaN.
func jsonFloats(v []float64) []JSONFloat {
	out := make([]JSONFloat, len(v))
	for i, x := range v {
		out[i] = JSONFloat(x)
	}
	return out
}

// WritePRJSON writes the precision-recall curves to path as a JSON array of
// {"name", "ap", "recall", "precision"} objects (undefined values as null).
func WritePRJSON(path string, curves []PRCurve) error {
	type curve struct {
		Name      string      `json:"name"`
		AP        JSONFloat   `json:"ap"`
		Recall    []JSONFloat `json:"recall"`
		Precision []JSONFloat `json:"precision"`
	}
	out := make([]curve, len(curves))
	for i, c := range curves {
		out[i] = curve{Name: c.Name, AP: JSONFloat(c.AP), Recall: jsonFloats(c.Recall), Precision: jsonFloats(c.Precision)}
	}
	return WriteJSON(path, out)
}
