package main

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestDrawnNames checks that predict's drawn files get distinct names that
// keep the images' folders below their common folder.
func TestDrawnNames(t *testing.T) {
	cases := []struct {
		name  string
		files []string
		want  []string
	}{
		{"one folder", []string{"in/1.jpg", "in/2.png", "in/3.bmp"}, []string{"1.jpg", "2.jpg", "3.jpg"}},
		{"one file", []string{"x/y/z.jpeg"}, []string{"z.jpg"}},
		{"same names in two folders", []string{"in/a/1.jpg", "in/a/2.jpg", "in/b/1.jpg"}, []string{"a/1.jpg", "a/2.jpg", "b/1.jpg"}},
		{"folders at different depths", []string{"in/1.jpg", "in/sub/deeper/1.jpg", "in/sub/1.png"}, []string{"1.jpg", "sub/deeper/1.jpg", "sub/1.jpg"}},
		{"same stem, other extension", []string{"in/1.jpg", "in/1.png", "in/1.jpeg"}, []string{"1.jpg", "1_png.jpg", "1_jpeg.jpg"}},
		{"same file twice", []string{"in/1.jpg", "in/1.jpg", "in/1.jpg"}, []string{"1.jpg", "1_2.jpg", "1_3.jpg"}},
		{"names differing in case", []string{"in/A.jpg", "in/a.jpg", "in/a.PNG", "in/a.png"}, []string{"A.jpg", "a_2.jpg", "a_PNG.jpg", "a_3.jpg"}},
		{"suffix already taken", []string{"in/1.jpg", "in/1_png.jpg", "in/1.png"}, []string{"1.jpg", "1_png.jpg", "1_2.jpg"}},
		{"none", nil, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			files := make([]string, len(c.files))
			for i, f := range c.files {
				files[i] = filepath.Join(dir, filepath.FromSlash(f))
			}
			got := drawnNames(files)
			for i := range got {
				got[i] = filepath.ToSlash(got[i])
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("drawnNames(%v) = %v, want %v", c.files, got, c.want)
			}
		})
	}
	// Relative arguments name the same files as absolute ones.
	rel := drawnNames([]string{filepath.FromSlash("a/1.jpg"), filepath.FromSlash("b/1.jpg")})
	if want := []string{filepath.FromSlash("a/1.jpg"), filepath.FromSlash("b/1.jpg")}; !reflect.DeepEqual(rel, want) {
		t.Errorf("relative paths: %v, want %v", rel, want)
	}
}
