package main

import (
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data/imageio"
)

// TestMaxPixelsFlag checks that every command that decodes images has
// --max-pixels, that it sets the decoders' limit before the command runs
// (the default when not given) and that it must be positive.
func TestMaxPixelsFlag(t *testing.T) {
	defer imageio.SetMaxPixels(0)
	for _, path := range [][]string{{"train"}, {"eval"}, {"predict"}, {"analyze"}, {"data", "check"}} {
		name := strings.Join(path, " ")
		cmd, _, err := rootCmd.Find(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f := cmd.Flags().Lookup(maxPixelsFlag)
		if f == nil || cmd.PreRunE == nil {
			t.Errorf("%s has no --%s", name, maxPixelsFlag)
			continue
		}
		if f.DefValue != "100000000" {
			t.Errorf("%s: --%s defaults to %s, want 100000000", name, maxPixelsFlag, f.DefValue)
		}
		for _, c := range []struct {
			value string
			want  int64
			err   bool
		}{
			{"1234", 1234, false},
			{f.DefValue, imageio.DefaultMaxPixels, false},
			{"0", 0, true},
			{"-5", 0, true},
		} {
			imageio.SetMaxPixels(7)
			if err := f.Value.Set(c.value); err != nil {
				t.Fatal(err)
			}
			err := cmd.PreRunE(cmd, nil)
			if c.err {
				if err == nil || !strings.Contains(err.Error(), "--max-pixels "+c.value) {
					t.Errorf("%s --max-pixels %s: error %v", name, c.value, err)
				}
				continue
			}
			if err != nil || imageio.MaxPixels() != c.want {
				t.Errorf("%s --max-pixels %s: error %v, limit %d, want %d", name, c.value, err, imageio.MaxPixels(), c.want)
			}
		}
		_ = f.Value.Set(f.DefValue)
	}
}

// TestDataCheckMaxPixels checks that "data check --max-pixels" refuses the
// images over the limit and reports them.
func TestDataCheckMaxPixels(t *testing.T) {
	defer imageio.SetMaxPixels(0)
	root := dataFixture(t, false) // two 32x24 images
	out, code := runData(t, "data", "check", root, "--max-pixels", "700")
	if code != 1 || strings.Count(out, "image too large: png header declares 32x24 pixels (768 pixels), more than the limit of 700 pixels") != 2 {
		t.Errorf("check --max-pixels 700: exit %d, output:\n%s", code, out)
	}
	out, code = runData(t, "data", "check", root, "--max-pixels", "768")
	if code != 0 {
		t.Errorf("check --max-pixels 768: exit %d, output:\n%s", code, out)
	}
}
