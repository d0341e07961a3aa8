package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/transform"
)

// fixtureDataset writes n small PNG images of varying sizes, each with one
// bright rectangle annotated as class i%3, and returns the dataset. Image 0
// also has a degenerate (zero-width) box and a box outside the image.
func fixtureDataset(t *testing.T, n int) *data.Dataset {
	t.Helper()
	dir := t.TempDir()
	ds := &data.Dataset{Name: "fixture", Classes: []string{"a", "b", "c"}, CategoryIDs: []int{1, 2, 3}}
	for i := 0; i < n; i++ {
		w, h := 40+5*i, 30+3*(i%4)
		m := imageio.NewRGB(w, h)
		for k := range m.Pix {
			m.Pix[k] = uint8((k*31 + i*17) % 97)
		}
		box := [4]int{3 + i%5, 4, 3 + i%5 + 12 + i, 4 + 15}
		for y := box[1]; y < box[3]; y++ {
			for x := box[0]; x < box[2]; x++ {
				m.Set(x, y, 250, 240, 230)
			}
		}
		name := fmt.Sprintf("%03d.png", i)
		path := filepath.Join(dir, name)
		if err := imageio.WritePNG(path, m); err != nil {
			t.Fatal(err)
		}
		im := data.Image{ID: int64(100 + i), Path: path, FileName: name, Width: w, Height: h}
		im.Objects = append(im.Objects, data.Object{ID: int64(1000 + i), Class: i % 3,
			Box: [4]float64{float64(box[0]), float64(box[1]), float64(box[2]), float64(box[3])}, Difficult: i%4 == 1})
		if i == 0 {
			im.Objects = append(im.Objects,
				data.Object{ID: 5000, Class: 1, Box: [4]float64{10, 10, 10, 20}},
				data.Object{ID: 5001, Class: 2, Box: [4]float64{-30, -30, -5, -5}})
		}
		ds.Images = append(ds.Images, im)
	}
	return ds
}

func collect(t *testing.T, l *Loader, epoch int) []*Batch {
	t.Helper()
	it := l.Epoch(context.Background(), epoch)
	defer it.Close()
	var out []*Batch
	for {
		b, err := it.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

func augConfig(seed int64, workers int) Config {
	return Config{BatchSize: 3, Workers: workers, Seed: seed, Shuffle: true,
		Transform: transform.Config{ShortSideRange: [2]int{24, 48}, LongSide: 80, FlipProb: 0.5,
			Brightness: 0.2, Contrast: 0.2, Saturation: 0.2}}
}

func TestDeterministic(t *testing.T) {
	ds := fixtureDataset(t, 11)
	run := func(seed int64, workers, epoch int) []*Batch {
		l, err := New(ds, augConfig(seed, workers))
		if err != nil {
			t.Fatal(err)
		}
		return collect(t, l, epoch)
	}
	a := run(42, 4, 0)
	b := run(42, 4, 0)
	c := run(42, 1, 0)
	if len(a) != 4 {
		t.Fatalf("%d batches for 11 images in batches of 3, want 4", len(a))
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, 4 workers: batches differ between runs")
	}
	if !reflect.DeepEqual(a, c) {
		t.Error("same seed: batches differ between 4 workers and 1 worker")
	}
	flips := 0
	for _, bt := range a {
		for _, r := range bt.Records {
			if r.Flip {
				flips++
			}
		}
	}
	if flips == 0 || flips == 11 {
		t.Errorf("%d of 11 images flipped with probability 0.5", flips)
	}
	// Recycling batch buffers between batches changes nothing.
	l, err := New(ds, augConfig(42, 4))
	if err != nil {
		t.Fatal(err)
	}
	it := l.Epoch(context.Background(), 0)
	for k := 0; ; k++ {
		bt, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(bt, a[k]) {
			t.Errorf("batch %d differs when buffers are recycled", k)
		}
		l.Recycle(bt)
	}
	it.Close()
	d := run(43, 4, 0)
	if reflect.DeepEqual(a, d) {
		t.Error("different seeds give identical batches")
	}
	e := run(42, 4, 1)
	if reflect.DeepEqual(indices(a), indices(e)) {
		t.Error("epochs 0 and 1 have the same order")
	}
}

func indices(bs []*Batch) []int {
	var out []int
	for _, b := range bs {
		out = append(out, b.Indices...)
	}
	return out
}

func TestBatchContents(t *testing.T) {
	ds := fixtureDataset(t, 7)
	for _, fixed := range []bool{false, true} {
		cfg := Config{BatchSize: 3, Workers: 2, Seed: 1, Transform: transform.Config{ShortSide: 40, LongSide: 70, FlipProb: 0.5}}
		if fixed {
			cfg.Transform = transform.Config{CanvasW: 64, CanvasH: 48, FlipProb: 0.5}
		}
		l, err := New(ds, cfg)
		if err != nil {
			t.Fatal(err)
		}
		batches := collect(t, l, 0)
		if got := indices(batches); !reflect.DeepEqual(got, []int{0, 1, 2, 3, 4, 5, 6}) {
			t.Errorf("unshuffled order %v", got)
		}
		for _, b := range batches {
			if len(b.Images) != b.B*b.H*b.W*3 || len(b.Targets) != b.B || len(b.Records) != b.B {
				t.Fatalf("inconsistent batch sizes: B=%d H=%d W=%d len=%d", b.B, b.H, b.W, len(b.Images))
			}
			if fixed && (b.W != 64 || b.H != 48) {
				t.Errorf("fixed canvas: batch %dx%d", b.W, b.H)
			}
			if !fixed && (b.W%32 != 0 || b.H%32 != 0) {
				t.Errorf("batch %dx%d is not a multiple of 32", b.W, b.H)
			}
			for i, idx := range b.Indices {
				im := ds.Images[idx]
				rec := b.Records[i]
				if rec.CanvasW != b.W || rec.CanvasH != b.H || rec.ResizedW > b.W || rec.ResizedH > b.H {
					t.Errorf("record %+v does not fit batch %dx%d", rec, b.W, b.H)
				}
				if b.ImageIDs[i] != im.ID {
					t.Errorf("image id %d, want %d", b.ImageIDs[i], im.ID)
				}
				tg := b.Targets[i]
				if len(tg.Boxes) != 1 {
					t.Fatalf("image %d: %d boxes, want 1 (degenerate ones dropped)", idx, len(tg.Boxes))
				}
				want := rec.Forward(im.Objects[0].Box)
				for k := range want {
					if d := float64(tg.Boxes[0][k]) - want[k]; d > 1e-4 || d < -1e-4 {
						t.Errorf("image %d: box %v, want %v", idx, tg.Boxes[0], want)
						break
					}
				}
				if tg.Classes[0] != im.Objects[0].Class || tg.Ignore[0] != im.Objects[0].Difficult || tg.ObjectIDs[0] != im.Objects[0].ID {
					t.Errorf("image %d: class/ignore/id %d/%v/%d", idx, tg.Classes[0], tg.Ignore[0], tg.ObjectIDs[0])
				}
				// The box covers the bright rectangle in the batch image.
				per := b.H * b.W * 3
				img := l.Transform().ToRGB(b.Images[i*per:(i+1)*per], b.W, b.H)
				bx := tg.Boxes[0]
				cx, cy := int((bx[0]+bx[2])/2), int((bx[1]+bx[3])/2)
				if r, g, _ := img.At(cx, cy); r < 200 || g < 200 {
					t.Errorf("image %d: centre of the box (%d,%d) is not on the rectangle (%d,%d)", idx, cx, cy, r, g)
				}
			}
		}
		if s := l.Stats(); s.DroppedBoxes != 2 || s.Loaded != 7 || s.Skipped != 0 {
			t.Errorf("stats %+v, want 2 dropped boxes, 7 loaded", s)
		}
	}
}

func TestBadImagesSkippedAndCounted(t *testing.T) {
	ds := fixtureDataset(t, 9)
	corrupt := ds.Images[3].Path
	if err := os.WriteFile(corrupt, []byte("\x89PNG\r\n\x1a\ngarbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(filepath.Dir(corrupt), "missing.png")
	ds.Images[6].Path = missing
	var logged []string
	cfg := augConfig(5, 3)
	cfg.Logf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	l, err := New(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for epoch := 0; epoch < 2; epoch++ {
		got := indices(collect(t, l, epoch))
		sort.Ints(got)
		if want := []int{0, 1, 2, 4, 5, 7, 8}; !reflect.DeepEqual(got, want) {
			t.Errorf("epoch %d loaded %v, want %v", epoch, got, want)
		}
	}
	s := l.Stats()
	if s.Skipped != 4 || len(s.Bad) != 2 || s.Loaded != 14 {
		t.Fatalf("stats %+v: want 4 skips of 2 distinct files, 14 loaded", s)
	}
	paths := []string{s.Bad[0].Path, s.Bad[1].Path}
	sort.Strings(paths)
	if want := []string{corrupt, missing}; !reflect.DeepEqual(paths, want) {
		t.Errorf("bad paths %v, want %v", paths, want)
	}
	for _, b := range s.Bad {
		if !strings.Contains(b.Err.Error(), b.Path) {
			t.Errorf("error %q does not name the file", b.Err)
		}
	}
	if len(logged) != 4 {
		t.Errorf("%d log lines, want 4: %q", len(logged), logged)
	}

	cfg.Strict = true
	cfg.Logf = nil
	ls, err := New(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	it := ls.Epoch(context.Background(), 0)
	defer it.Close()
	for {
		_, err := it.Next()
		if err == io.EOF {
			t.Fatal("strict mode reached the end of the epoch")
		}
		if err != nil {
			if !strings.Contains(err.Error(), corrupt) && !strings.Contains(err.Error(), missing) {
				t.Errorf("strict error %q names neither bad file", err)
			}
			break
		}
	}
}

func TestAnnotatedSizeMismatchIsBad(t *testing.T) {
	ds := fixtureDataset(t, 2)
	ds.Images[1].Width++
	l, err := New(ds, Config{BatchSize: 2, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(0, 1); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("size mismatch: error %v", err)
	}
}

func TestCancel(t *testing.T) {
	ds := fixtureDataset(t, 12)
	l, err := New(ds, Config{BatchSize: 1, Workers: 3, Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	it := l.Epoch(ctx, 0)
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan struct{})
	go func() { it.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second): // a hang, not slowness: generous under load
		t.Fatal("Close did not return within 60 s of cancellation")
	}
	// The remaining batches are either already prepared or cut off with
	// the context's error; the epoch never completes normally.
	for {
		_, err := it.Next()
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("after cancel: %v, want context.Canceled", err)
		}
		break
	}

	// Close without cancelling also stops the workers.
	it2 := l.Epoch(context.Background(), 0)
	it2.Close()
	it2.Close()
}

func TestConfigErrors(t *testing.T) {
	ds := fixtureDataset(t, 1)
	for _, cfg := range []Config{{}, {BatchSize: 1, Workers: -1}, {BatchSize: 1, Transform: transform.Config{FlipProb: 2}}} {
		if _, err := New(ds, cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	if _, err := New(nil, Config{BatchSize: 1}); err == nil {
		t.Error("nil dataset: no error")
	}
}
