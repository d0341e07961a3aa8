package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataSynthCommand(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetArgs([]string{"data", "synth", "--out", dir, "--train", "3", "--val", "2", "--size", "96", "--seed", "7", "--ratio", "4", "--classes", "3", "--noise", "0.1"})
	if err := rootCmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"annotations/instances_train.json", "annotations/instances_val.json", "train/000003.png", "val/000002.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if s := out.String(); !strings.Contains(s, "train: 3 images") || !strings.Contains(s, "val: 2 images") {
		t.Errorf("output %q", s)
	}
}
