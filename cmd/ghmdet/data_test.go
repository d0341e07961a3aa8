package main

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/voc"
)

// runData runs "ghmdet ARGS" with the data subcommands' flags reset to their
// defaults, and returns the output and the exit code.
func runData(t *testing.T, args ...string) (string, int) {
	t.Helper()
	for _, c := range dataCmd.Commands() {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			_ = f.Value.Set(f.DefValue)
			f.Changed = false
		})
	}
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	err := rootCmd.Execute()
	var ee exitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.code
	}
	return out.String() + err.Error(), 1
}

// dataFixture writes a two-image VOC dataset (split train); broken adds a
// box reaching outside its image and removes the second image.
func dataFixture(t *testing.T, broken bool) string {
	t.Helper()
	src := t.TempDir()
	ds := &data.Dataset{Classes: []string{"cell"}, CategoryIDs: []int{1}}
	for i, name := range []string{"a.png", "b.png"} {
		p := filepath.Join(src, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 32, 24))); err != nil {
			t.Fatal(err)
		}
		f.Close()
		ds.Images = append(ds.Images, data.Image{ID: int64(i + 1), Path: p, FileName: name, Width: 32, Height: 24,
			Objects: []data.Object{{ID: int64(i + 1), Box: [4]float64{2, 2, 12, 12}}}})
	}
	if broken {
		ds.Images[0].Objects = append(ds.Images[0].Objects, data.Object{ID: 3, Box: [4]float64{20, 10, 40, 20}})
	}
	root := filepath.Join(t.TempDir(), "cells")
	if _, err := voc.Write(ds, root, "train"); err != nil {
		t.Fatal(err)
	}
	if broken {
		if err := os.Remove(filepath.Join(root, "JPEGImages", "b.png")); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDataCheckCommand(t *testing.T) {
	clean := dataFixture(t, false)
	out, code := runData(t, "data", "check", clean)
	if code != 0 || !strings.Contains(out, "images     2 (0 without boxes)") || !strings.Contains(out, "no problems") {
		t.Errorf("check clean: exit %d, output:\n%s", code, out)
	}

	broken := dataFixture(t, true)
	out, code = runData(t, "data", "check", broken, "--split", "train")
	if code != 1 {
		t.Errorf("check broken: exit %d, want 1; output:\n%s", code, out)
	}
	for _, want := range []string{
		"warning: " + filepath.Join(broken, "Annotations", "a.xml") + ": object 2 (cell): box xmin=21 ymin=11 xmax=41 ymax=21 reaches outside the 32x24 image",
		"error: " + filepath.Join(broken, "Annotations", "b.xml") + ": b.png: image file " + filepath.Join(broken, "JPEGImages", "b.png") + " not found",
		"2 problems (1 error, 1 warning); skipped 1 image and 1 box; clipped 1 box",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check broken: output lacks %q:\n%s", want, out)
		}
	}

	out, code = runData(t, "data", "check", broken, "--strict")
	if code != 1 || !strings.Contains(out, "2 problems") || strings.Contains(out, "box sizes") {
		t.Errorf("check --strict: exit %d, output:\n%s", code, out)
	}
	out, code = runData(t, "data", "check", filepath.Join(clean, "nothing.txt"))
	if code != 1 || !strings.Contains(out, "nothing.txt") {
		t.Errorf("check of a missing path: exit %d, output:\n%s", code, out)
	}
}

func TestDataConvertCommand(t *testing.T) {
	clean := dataFixture(t, false)
	dst := filepath.Join(t.TempDir(), "y")
	out, code := runData(t, "data", "convert", clean, "--to", "yolo", "--out", dst)
	if code != 0 || !strings.Contains(out, "wrote yolo dataset to "+dst) {
		t.Fatalf("convert: exit %d, output:\n%s", code, out)
	}
	out, code = runData(t, "data", "check", dst)
	if code != 0 || !strings.Contains(out, "format     yolo") || !strings.Contains(out, "boxes      2") {
		t.Errorf("check of the converted dataset: exit %d, output:\n%s", code, out)
	}
	if _, code := runData(t, "data", "convert", clean, "--out", dst); code != 1 {
		t.Errorf("convert without --to: exit %d, want 1", code)
	}
}
