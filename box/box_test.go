package box

import (
	"math"
	"math/rand/v2"
	"testing"
)

var nan32 = float32(math.NaN())
var inf32 = float32(math.Inf(1))

func near(a, b, tol float32) bool {
	return float32(math.Abs(float64(a-b))) <= tol
}

func TestBoxHelpers(t *testing.T) {
	tests := []struct {
		name          string
		b             Box
		w, h, area    float32
		valid         bool
		clipW, clipH  float32
		clipped       Box
		cx, cy        float32
		checkCentre   bool
		clippedIsSame bool
	}{
		{name: "normal", b: Box{1, 2, 4, 8}, w: 3, h: 6, area: 18, valid: true, clipW: 10, clipH: 10, clipped: Box{1, 2, 4, 8}, cx: 2.5, cy: 5, checkCentre: true},
		{name: "zero width", b: Box{3, 2, 3, 8}, w: 0, h: 6, area: 0, valid: false, clipW: 10, clipH: 10, clipped: Box{3, 2, 3, 8}},
		{name: "inverted", b: Box{5, 5, 1, 1}, w: -4, h: -4, area: 0, valid: false, clipW: 10, clipH: 10, clipped: Box{5, 5, 1, 1}},
		{name: "outside image", b: Box{-5, -5, 20, 30}, w: 25, h: 35, area: 875, valid: true, clipW: 10, clipH: 12, clipped: Box{0, 0, 10, 12}},
		{name: "entirely right of image", b: Box{15, 1, 20, 3}, w: 5, h: 2, area: 10, valid: true, clipW: 10, clipH: 12, clipped: Box{10, 1, 10, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Width(); got != tc.w {
				t.Errorf("Width = %v, want %v", got, tc.w)
			}
			if got := tc.b.Height(); got != tc.h {
				t.Errorf("Height = %v, want %v", got, tc.h)
			}
			if got := tc.b.Area(); got != tc.area {
				t.Errorf("Area = %v, want %v", got, tc.area)
			}
			if got := tc.b.Valid(); got != tc.valid {
				t.Errorf("Valid = %v, want %v", got, tc.valid)
			}
			if got := tc.b.Clip(tc.clipW, tc.clipH); got != tc.clipped {
				t.Errorf("Clip = %v, want %v", got, tc.clipped)
			}
			if tc.checkCentre {
				if cx, cy := tc.b.Center(); cx != tc.cx || cy != tc.cy {
					t.Errorf("Center = %v,%v, want %v,%v", cx, cy, tc.cx, tc.cy)
				}
			}
		})
	}
	for _, b := range []Box{{nan32, 0, 1, 1}, {0, 0, inf32, 1}, {0, -inf32, 1, 1}, {-3e38, -3e38, 3e38, 3e38}} {
		if b.Valid() {
			t.Errorf("%v: Valid = true, want false", b)
		}
		if a := b.Area(); a != 0 {
			t.Errorf("%v: Area = %v, want 0", b, a)
		}
	}
}

func TestIoU(t *testing.T) { forEachKernel(t, testIoU) }

func testIoU(t *testing.T) {
	tests := []struct {
		name string
		a, b Box
		want float32
	}{
		{"identical", Box{0, 0, 10, 10}, Box{0, 0, 10, 10}, 1},
		{"disjoint", Box{0, 0, 10, 10}, Box{20, 20, 30, 30}, 0},
		{"touching edge", Box{0, 0, 10, 10}, Box{10, 0, 20, 10}, 0},
		{"touching corner", Box{0, 0, 10, 10}, Box{10, 10, 20, 20}, 0},
		{"contained", Box{0, 0, 10, 10}, Box{2, 2, 7, 7}, 25.0 / 100},
		{"partial", Box{0, 0, 2, 2}, Box{1, 1, 3, 3}, 1.0 / 7},
		{"half", Box{0, 0, 10, 10}, Box{0, 0, 10, 20}, 0.5},
		{"zero width", Box{5, 0, 5, 10}, Box{0, 0, 10, 10}, 0},
		{"zero size", Box{5, 5, 5, 5}, Box{5, 5, 5, 5}, 0},
		{"inverted", Box{10, 10, 0, 0}, Box{0, 0, 10, 10}, 0},
		{"NaN", Box{nan32, 0, 10, 10}, Box{0, 0, 10, 10}, 0},
		{"all NaN", Box{nan32, nan32, nan32, nan32}, Box{nan32, nan32, nan32, nan32}, 0},
		{"infinite", Box{-inf32, -inf32, inf32, inf32}, Box{0, 0, 10, 10}, 0},
		{"overflowing area", Box{-3e38, -3e38, 3e38, 3e38}, Box{0, 0, 10, 10}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, pair := range [][2]Box{{tc.a, tc.b}, {tc.b, tc.a}} {
				got := IoU(pair[0], pair[1])
				if !near(got, tc.want, 1e-6) {
					t.Errorf("IoU(%v, %v) = %v, want %v", pair[0], pair[1], got, tc.want)
				}
				m := IoUMatrix(pair[:1], pair[1:])
				if m[0] != got {
					t.Errorf("IoUMatrix = %v, IoU = %v", m[0], got)
				}
			}
		})
	}
}

func TestIoF(t *testing.T) {
	tests := []struct {
		name      string
		a, region Box
		want      float32
	}{
		{"inside", Box{2, 2, 4, 4}, Box{0, 0, 10, 10}, 1},
		{"region inside box", Box{0, 0, 10, 10}, Box{2, 2, 4, 4}, 0.04},
		{"one third", Box{90, 0, 120, 10}, Box{0, 0, 100, 100}, 1.0 / 3},
		{"disjoint", Box{0, 0, 1, 1}, Box{5, 5, 6, 6}, 0},
		{"degenerate box", Box{1, 1, 1, 5}, Box{0, 0, 10, 10}, 0},
		{"NaN region", Box{1, 1, 2, 2}, Box{0, 0, nan32, 10}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IoF(tc.a, tc.region); !near(got, tc.want, 1e-6) {
				t.Errorf("IoF = %v, want %v", got, tc.want)
			}
		})
	}
}

// randomBoxes returns n boxes inside a w x h image with sizes up to maxSize;
// when degenerate is set, about one box in ten is degenerate.
func randomBoxes(r *rand.Rand, n int, w, h, maxSize float32, degenerate bool) []Box {
	out := make([]Box, n)
	for i := range out {
		x, y := r.Float32()*w, r.Float32()*h
		bw, bh := 1+r.Float32()*maxSize, 1+r.Float32()*maxSize
		out[i] = Box{x, y, x + bw, y + bh}
		if degenerate && r.IntN(10) == 0 {
			switch r.IntN(4) {
			case 0:
				out[i][2] = out[i][0]
			case 1:
				out[i][1], out[i][3] = out[i][3], out[i][1]
			case 2:
				out[i][r.IntN(4)] = nan32
			case 3:
				out[i][2] = inf32
			}
		}
	}
	return out
}

func TestIoUMatrixMatchesIoU(t *testing.T) { forEachKernel(t, testIoUMatrixMatchesIoU) }

func testIoUMatrixMatchesIoU(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range [][2]int{{0, 5}, {5, 0}, {7, 3}, {3000, 40}} {
		a := randomBoxes(r, size[0], 200, 200, 80, true)
		b := randomBoxes(r, size[1], 200, 200, 80, true)
		m := IoUMatrix(a, b)
		if len(m) != len(a)*len(b) {
			t.Fatalf("%v: len %d", size, len(m))
		}
		overlaps := 0
		for i := range a {
			for j := range b {
				want := IoU(a[i], b[j])
				if got := m[i*len(b)+j]; got != want {
					t.Fatalf("%v: m[%d,%d] = %v, IoU = %v", size, i, j, got, want)
				}
				if want < 0 || want > 1 {
					t.Fatalf("IoU %v out of [0, 1]", want)
				}
				if want > 0 {
					overlaps++
				}
			}
		}
		if size[0]*size[1] > 1000 && overlaps == 0 {
			t.Fatalf("%v: no overlapping pair: the test checks nothing", size)
		}
	}
}
