// Package ortnode runs ONNX models with ONNX Runtime through Node.js and
// the npm package onnxruntime-node (which ships ONNX Runtime's CPU library
// for Linux, macOS and Windows), without cgo: the model and its inputs are
// written to files, a small Node.js script (run.js, embedded) runs them and
// writes the outputs back. The ONNX export's tests and the ONNX Runtime
// benchmark use it.
//
// The package is found (Find) at $GHMDET_ONNXRUNTIME_NODE (the folder of
// the onnxruntime-node package), else in the user's cache folder
// ($XDG_CACHE_HOME or ~/.cache on Linux)
// ghmdet/onnxruntime-node-VERSION/node_modules/onnxruntime-node, where
// Install puts it with npm ("npm install --ignore-scripts": the package's
// install script only fetches optional GPU parts, which the CPU runtime
// does not need).
package ortnode

import (
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Version is the onnxruntime-node release Install installs (ONNX Runtime
// 1.30).
const Version = "1.30.0"

// EnvVar names the environment variable that gives the onnxruntime-node
// package's folder.
const EnvVar = "GHMDET_ONNXRUNTIME_NODE"

//go:embed run.js
var runScript []byte

// ErrNotFound reports that onnxruntime-node is not installed where Find
// looks.
var ErrNotFound = errors.New("onnxruntime-node not found")

// CacheDir returns the folder Install installs into.
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("onnxruntime-node: %w", err)
	}
	return filepath.Join(dir, "ghmdet", "onnxruntime-node-"+Version), nil
}

// Find returns the folder of the onnxruntime-node package: $EnvVar when
// set (which must hold it), else the one in CacheDir. It wraps ErrNotFound
// when the cache holds none.
func Find() (string, error) {
	if dir := os.Getenv(EnvVar); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
			return "", fmt.Errorf("$%s=%s: not the onnxruntime-node package (%w)", EnvVar, dir, err)
		}
		return dir, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "node_modules", "onnxruntime-node")
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		return "", fmt.Errorf("%w in %s (set $%s, or install it: %s)", ErrNotFound, dir, EnvVar, installHint(cache))
	}
	return dir, nil
}

func installHint(cache string) string {
	return fmt.Sprintf("npm install --ignore-scripts --prefix %s onnxruntime-node@%s", cache, Version)
}

// CheckNode reports whether Node.js is in PATH, with how to install it
// when not.
func CheckNode() error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("node (Node.js 16 or newer) is not in PATH: install Node.js and npm (Debian/Ubuntu: apt-get install nodejs npm): %w", err)
	}
	return nil
}

// Install installs onnxruntime-node into CacheDir with npm (about 300 MB,
// a minute or more) and returns the package's folder; an installed one is
// returned as is.
func Install(ctx context.Context) (string, error) {
	if dir, err := Find(); err == nil {
		return dir, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("onnxruntime-node: npm is not in PATH: install Node.js and npm (Debian/Ubuntu: apt-get install nodejs npm): %w", err)
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return "", fmt.Errorf("onnxruntime-node: %w", err)
	}
	// Installed beside the final folder, then renamed into place, so that
	// an interrupted install leaves nothing Find would take.
	tmp, err := os.MkdirTemp(filepath.Dir(cache), "onnxruntime-node-install-")
	if err != nil {
		return "", fmt.Errorf("onnxruntime-node: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", tmp, "onnxruntime-node@"+Version)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("onnxruntime-node: npm install: %w\n%s", err, tail(out, 2000))
	}
	if err := os.Rename(tmp, cache); err != nil && !errors.Is(err, os.ErrExist) {
		if _, statErr := os.Stat(filepath.Join(cache, "node_modules", "onnxruntime-node", "package.json")); statErr != nil {
			return "", fmt.Errorf("onnxruntime-node: %w", err)
		}
	}
	return Find()
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// Input is one float32 input of a model.
type Input struct {
	Name string
	Dims []int
	Data []float32
}

// Job is one run of a model.
type Job struct {
	// Model is the ONNX file.
	Model string
	// Inputs are the model's inputs.
	Inputs []Input
	// Threads is ONNX Runtime's intra-op thread count (0: its default).
	Threads int
	// Warmup untimed runs follow the first run, then Repeat timed runs.
	Warmup, Repeat int
}

// Output is one output of the last run: Float holds float32 outputs,
// Int int64 ones.
type Output struct {
	Type  string
	Dims  []int
	Float []float32
	Int   []int64
}

// Result is what a Job returns.
type Result struct {
	Outputs map[string]Output
	// Times are the seconds of each timed run.
	Times []float64
	// Version is ONNX Runtime's version as the package reports it.
	Version string
}

// Run runs job with the onnxruntime-node package in folder runtime.
func Run(ctx context.Context, runtime string, job Job) (Result, error) {
	if err := CheckNode(); err != nil {
		return Result{}, err
	}
	dir, err := os.MkdirTemp("", "ghmdet-ort-")
	if err != nil {
		return Result{}, fmt.Errorf("onnx runtime: %w", err)
	}
	defer os.RemoveAll(dir)
	abs, err := filepath.Abs(runtime)
	if err != nil {
		return Result{}, fmt.Errorf("onnx runtime: %w", err)
	}
	model, err := filepath.Abs(job.Model)
	if err != nil {
		return Result{}, fmt.Errorf("onnx runtime: %w", err)
	}
	type jsonInput struct {
		Name string `json:"name"`
		File string `json:"file"`
		Dims []int  `json:"dims"`
	}
	spec := struct {
		Runtime string      `json:"runtime"`
		Model   string      `json:"model"`
		Inputs  []jsonInput `json:"inputs"`
		Out     string      `json:"out"`
		Threads int         `json:"threads"`
		Warmup  int         `json:"warmup"`
		Repeat  int         `json:"repeat"`
	}{Runtime: abs, Model: model, Out: dir, Threads: job.Threads, Warmup: job.Warmup, Repeat: job.Repeat}
	for i, in := range job.Inputs {
		n := 1
		for _, d := range in.Dims {
			n *= d
		}
		if n != len(in.Data) {
			return Result{}, fmt.Errorf("onnx runtime: input %s: %d values for dimensions %v", in.Name, len(in.Data), in.Dims)
		}
		raw := make([]byte, 0, 4*len(in.Data))
		for _, v := range in.Data {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
		file := filepath.Join(dir, fmt.Sprintf("input%d.bin", i))
		if err := os.WriteFile(file, raw, 0o644); err != nil {
			return Result{}, fmt.Errorf("onnx runtime: %w", err)
		}
		spec.Inputs = append(spec.Inputs, jsonInput{Name: in.Name, File: file, Dims: in.Dims})
	}
	jobFile := filepath.Join(dir, "job.json")
	js, err := json.Marshal(spec)
	if err != nil {
		return Result{}, fmt.Errorf("onnx runtime: %w", err)
	}
	script := filepath.Join(dir, "run.js")
	if err := os.WriteFile(jobFile, js, 0o644); err != nil {
		return Result{}, fmt.Errorf("onnx runtime: %w", err)
	}
	if err := os.WriteFile(script, runScript, 0o644); err != nil {
		return Result{}, fmt.Errorf("onnx runtime: %w", err)
	}
	cmd := exec.CommandContext(ctx, "node", script, jobFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		return Result{}, fmt.Errorf("onnx runtime: node %s: %w\n%s", filepath.Base(script), err, tail(out, 4000))
	}
	var res struct {
		Outputs map[string]struct {
			Type string `json:"type"`
			Dims []int  `json:"dims"`
			File string `json:"file"`
		} `json:"outputs"`
		Times   []float64 `json:"times"`
		Version string    `json:"version"`
	}
	rj, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		return Result{}, fmt.Errorf("onnx runtime: %w", err)
	}
	if err := json.Unmarshal(rj, &res); err != nil {
		return Result{}, fmt.Errorf("onnx runtime: result: %w", err)
	}
	out := Result{Outputs: map[string]Output{}, Times: res.Times, Version: res.Version}
	for name, o := range res.Outputs {
		raw, err := os.ReadFile(o.File)
		if err != nil {
			return Result{}, fmt.Errorf("onnx runtime: output %s: %w", name, err)
		}
		v := Output{Type: o.Type, Dims: o.Dims}
		switch o.Type {
		case "float32":
			v.Float = make([]float32, len(raw)/4)
			for i := range v.Float {
				v.Float[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		case "int64":
			v.Int = make([]int64, len(raw)/8)
			for i := range v.Int {
				v.Int[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		default:
			return Result{}, fmt.Errorf("onnx runtime: output %s: type %s not read", name, o.Type)
		}
		out.Outputs[name] = v
	}
	return out, nil
}
