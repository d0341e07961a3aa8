package imagefile

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSafeName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a.jpg", "a.jpg"},
		{"sub/a.jpg", "sub/a.jpg"},
		{"sub/../b.jpg", "b.jpg"},
		{"./x/./y.png", "x/y.png"},
		{"/abs/c.jpg", "c.jpg"},
		{"../up/d.jpg", "d.jpg"},
		{"x/../../e.jpg", "e.jpg"},
		{"..", ".."},
	} {
		if got := SafeName(c.in); got != c.want {
			t.Errorf("SafeName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestPlace runs Place both where hard links work and where they fail (as
// across file systems), whatever this machine's temporary folder allows.
func TestPlace(t *testing.T) {
	t.Run("link", func(t *testing.T) { testPlace(t, false) })
	saved := link
	defer func() { link = saved }()
	link = func(string, string) error { return errors.New("links not supported (simulated)") }
	t.Run("copy", func(t *testing.T) { testPlace(t, true) })
}

// testPlace checks Place's cases; with mustCopy, the files placed must be
// copies, not links to the source.
func testPlace(t *testing.T, mustCopy bool) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.jpg")
	if err := os.WriteFile(src, []byte("pixels"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "out", "stale.jpg")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, src, dst string
		want           string // content at dst afterwards; "" when dst must not exist
		wantErr        string // substring of the error; "" for none
	}{
		{"nested folder created", src, filepath.Join(dir, "out", "a", "b.jpg"), "pixels", ""},
		{"existing file replaced", src, stale, "pixels", ""},
		{"same file", src, src, "pixels", ""},
		{"no source", "", filepath.Join(dir, "out", "none.jpg"), "", ""},
		{"missing source", filepath.Join(dir, "missing.jpg"), filepath.Join(dir, "out", "m.jpg"), "", "missing.jpg"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Place(c.src, c.dst)
			if c.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want one naming %s", err, c.wantErr)
			}
			got, rerr := os.ReadFile(c.dst)
			if c.want == "" {
				if rerr == nil {
					t.Errorf("%s exists", c.dst)
				}
				return
			}
			if string(got) != c.want {
				t.Errorf("content %q, want %q (%v)", got, c.want, rerr)
			}
			if mustCopy && c.src != c.dst {
				si, err1 := os.Stat(c.src)
				di, err2 := os.Stat(c.dst)
				if err1 != nil || err2 != nil || os.SameFile(si, di) {
					t.Errorf("%s is not a copy of %s (%v, %v)", c.dst, c.src, err1, err2)
				}
			}
		})
	}
}

func TestSize(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var pngBuf, jpgBuf bytes.Buffer
	if err := png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 7, 3))); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpgBuf, image.NewRGBA(image.Rect(0, 0, 5, 9)), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		w, h       int
		wantErr    string // substring of the error; "" for none
	}{
		{"png", write("a.png", pngBuf.Bytes()), 7, 3, ""},
		{"jpeg named .png", write("b.png", jpgBuf.Bytes()), 5, 9, ""},
		{"not an image", write("c.jpg", []byte("plain text")), 0, 0, "unknown format"},
		{"missing", filepath.Join(dir, "missing.jpg"), 0, 0, "missing.jpg"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, h, err := Size(c.path)
			if c.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
			if w != c.w || h != c.h {
				t.Errorf("size %dx%d, want %dx%d", w, h, c.w, c.h)
			}
		})
	}
}
