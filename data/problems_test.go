package data

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Warning, "a.json", "annotation id 3", "bad"}, "a.json: annotation id 3: bad"},
		{Problem{Error, "a.json", "", "bad"}, "a.json: bad"},
		{Problem{Error, "", "", "bad"}, "bad"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
	if Warning.String() != "warning" || Error.String() != "error" {
		t.Errorf("severity names: %s, %s", Warning, Error)
	}
}

func TestReportSummaryAndErr(t *testing.T) {
	var r Report
	if !r.Clean() || r.Err() != nil || r.Summary() != "no problems" {
		t.Fatalf("empty report: clean %v err %v summary %q", r.Clean(), r.Err(), r.Summary())
	}
	r.Warnf("f1", "rec", "clipped %d", 1)
	r.Errorf("f2", "", "missing")
	r.SkippedImages, r.SkippedObjects, r.ClippedObjects = 1, 4, 1
	if got, want := r.Summary(), "2 problems (1 error, 1 warning); skipped 1 image and 4 boxes; clipped 1 box"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	err := r.Err()
	var pe *ProblemsError
	if !errors.As(err, &pe) || len(pe.Problems) != 2 {
		t.Fatalf("Err = %v, want a *ProblemsError with 2 problems", err)
	}
	for _, s := range []string{"warning: f1: rec: clipped 1", "error: f2: missing"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Err() = %q lacks %q", err, s)
		}
	}
	var o Report
	o.Merge(&r)
	o.Merge(nil)
	if len(o.Problems) != 2 || o.SkippedObjects != 4 || o.Count(Error) != 1 {
		t.Errorf("Merge: %+v", o)
	}
}

func TestProblemsErrorListsAtMost50(t *testing.T) {
	var r Report
	for i := range 60 {
		r.Errorf("f", fmt.Sprint(i), "x")
	}
	msg := r.Err().Error()
	if n := strings.Count(msg, "\n  error: "); n != 50 || !strings.Contains(msg, "and 10 more") {
		t.Errorf("listed %d problems, message ends %q", n, msg[len(msg)-30:])
	}
}

func TestCheckBox(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name    string
		box     [4]float64
		w, h    int
		keep    bool
		want    [4]float64
		msg     string // substring of the warning; "" means no problem
		clipped int
	}{
		{"inside", [4]float64{1, 2, 30, 40}, 64, 48, true, [4]float64{1, 2, 30, 40}, "", 0},
		{"touching edges", [4]float64{0, 0, 64, 48}, 64, 48, true, [4]float64{0, 0, 64, 48}, "", 0},
		{"rounding overshoot", [4]float64{0, 0, 64 + 1e-9, 48}, 64, 48, true, [4]float64{0, 0, 64, 48}, "", 0},
		{"outside right", [4]float64{50, 10, 70, 20}, 64, 48, true, [4]float64{50, 10, 64, 20}, "clipped to x1=50 y1=10 x2=64 y2=20", 1},
		{"outside top-left", [4]float64{-5, -3, 10, 10}, 64, 48, true, [4]float64{0, 0, 10, 10}, "reaches outside the 64x48 image", 1},
		{"entirely outside", [4]float64{70, 10, 80, 20}, 64, 48, false, [4]float64{}, "lies outside", 0},
		{"zero width", [4]float64{5, 5, 5, 9}, 64, 48, false, [4]float64{}, "zero or negative size", 0},
		{"negative height", [4]float64{5, 9, 7, 5}, 64, 48, false, [4]float64{}, "zero or negative size", 0},
		{"NaN", [4]float64{nan, 1, 2, 3}, 64, 48, false, [4]float64{}, "not a finite number", 0},
		{"Inf", [4]float64{0, 1, math.Inf(1), 3}, 64, 48, false, [4]float64{}, "not a finite number", 0},
		{"unknown size", [4]float64{-5, -5, 500, 500}, 0, 0, true, [4]float64{-5, -5, 500, 500}, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Report
			box := tc.box
			keep := r.CheckBox("f.xml", "object 1", "ORIG", &box, tc.w, tc.h)
			if keep != tc.keep {
				t.Fatalf("keep = %v, want %v (%v)", keep, tc.keep, r.Problems)
			}
			if keep && box != tc.want {
				t.Errorf("box = %v, want %v", box, tc.want)
			}
			if tc.msg == "" {
				if len(r.Problems) != 0 {
					t.Errorf("unexpected problems %v", r.Problems)
				}
			} else {
				if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Message, tc.msg) ||
					r.Problems[0].Severity != Warning || r.Problems[0].Record != "object 1" ||
					!strings.Contains(r.Problems[0].Message, "ORIG") {
					t.Errorf("problems = %v, want one warning with %q", r.Problems, tc.msg)
				}
			}
			if !tc.keep && r.SkippedObjects != 1 {
				t.Errorf("SkippedObjects = %d, want 1", r.SkippedObjects)
			}
			if r.ClippedObjects != tc.clipped {
				t.Errorf("ClippedObjects = %d, want %d", r.ClippedObjects, tc.clipped)
			}
		})
	}
}
