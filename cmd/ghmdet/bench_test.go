package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// runBenchCommand runs "ghmdet bench args..." with the flags reset to their
// defaults and returns standard output and error separately.
func runBenchCommand(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd, _, err := rootCmd.Find([]string{"bench"})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		_ = f.Value.Set(f.DefValue)
		f.Changed = false
	})
	var out, errOut bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errOut)
	rootCmd.SetArgs(append([]string{"bench"}, args...))
	defer func() {
		rootCmd.SetArgs(nil)
		rootCmd.SetOut(nil)
		rootCmd.SetErr(nil)
	}()
	err = rootCmd.Execute()
	return out.String(), errOut.String(), err
}

// TestBenchJSON runs the loss benchmark in process and checks the JSON
// schema of the issue: one object keyed by benchmark name, with the timings
// and peak_rss_bytes.
func TestBenchJSON(t *testing.T) {
	out, _, err := runBenchCommand(t, "--json", "--isolate=false", "--runs", "1", "--small", "ghmc-vs-focal")
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(rep) != 1 {
		t.Fatalf("keys %v, want only ghmc-vs-focal", rep)
	}
	r, ok := rep["ghmc-vs-focal"]
	if !ok {
		t.Fatalf("no ghmc-vs-focal entry: %v", rep)
	}
	for _, k := range []string{"ghmc_s", "focal_s", "ghmc_over_focal", "peak_rss_bytes"} {
		v, ok := r[k].(float64)
		if !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, r[k])
		}
	}
	if r["size"] != "2x49104x80" {
		t.Errorf("size %v", r["size"])
	}
}

func TestBenchBadArguments(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"r50-512", "resnet"}, `unknown benchmark "resnet" (allowed: r50-512, r50-infer-native, r50-infer-graph, cpu, cpu-infer-native, cpu-infer-graph, ghmc-vs-focal)`},
		{[]string{"--runs", "0", "cpu"}, "--runs and --warmup must be >= 1"},
		{[]string{"--child", "cpu", "ghmc-vs-focal"}, "--child runs exactly one benchmark"},
	}
	for _, tc := range tests {
		_, _, err := runBenchCommand(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
