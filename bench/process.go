package bench

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// RunFunc runs one named benchmark and returns its result.
type RunFunc func(ctx context.Context, name string) (Result, error)

// RunIsolated runs one benchmark in a new process so that its peak memory
// is its own: argv (program and arguments) must run the benchmark alone and
// print its Result as one JSON object on standard output. What the process
// writes on standard error is passed to stderr (nil: kept for errors only).
func RunIsolated(ctx context.Context, argv []string, stderr io.Writer) (Result, error) {
	if len(argv) == 0 {
		return Result{}, fmt.Errorf("bench: empty command line")
	}
	var out, errBuf bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = &out
	cmd.Stderr = &errBuf
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(&errBuf, stderr)
	}
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("%s: %w%s", strings.Join(argv, " "), err, tail(errBuf.String()))
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return Result{}, fmt.Errorf("%s: output is not a benchmark result: %w", strings.Join(argv, " "), err)
	}
	return r, nil
}

// tail returns the last lines of a process's error output for an error
// message ("" when empty).
func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return "\n" + strings.Join(lines, "\n")
}

// RunAll runs the named benchmarks one after the other with run and
// collects their results. progress, if not nil, receives one line per
// benchmark.
func RunAll(ctx context.Context, names []string, run RunFunc, progress io.Writer) (Report, error) {
	rep := Report{}
	for _, n := range names {
		if progress != nil {
			fmt.Fprintf(progress, "running %s...\n", n)
		}
		r, err := run(ctx, n)
		if err != nil {
			return nil, err
		}
		rep[n] = r
	}
	return rep, nil
}

// DefaultPython is the interpreter of the PyTorch comparison: Debian's
// python3, with the python3-torch and python3-torchvision packages.
const DefaultPython = "/usr/bin/python3"

// PyTorchScript is the PyTorch comparison script (pytorch_bench.py): the
// same benchmarks on the same architectures and sizes, with the same JSON
// output.
//
//go:embed pytorch_bench.py
var PyTorchScript []byte

// PyTorch runs the comparison script with a Python interpreter.
type PyTorch struct {
	// Python is the interpreter (default DefaultPython).
	Python string
	// Threads is the number of torch threads (default 2).
	Threads int
	// Stderr receives the script's error output (nil: kept for errors).
	Stderr io.Writer

	script string
}

// Close removes the temporary copy of the script.
func (p *PyTorch) Close() error {
	if p.script == "" {
		return nil
	}
	err := os.RemoveAll(filepath.Dir(p.script))
	p.script = ""
	return err
}

// scriptPath writes the embedded script to a temporary file once.
func (p *PyTorch) scriptPath() (string, error) {
	if p.script != "" {
		return p.script, nil
	}
	dir, err := os.MkdirTemp("", "ghmdet-bench-")
	if err != nil {
		return "", fmt.Errorf("pytorch script: %w", err)
	}
	path := filepath.Join(dir, "pytorch_bench.py")
	if err := os.WriteFile(path, PyTorchScript, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("pytorch script: %w", err)
	}
	p.script = path
	return path, nil
}

// command returns the command line that runs the script with args.
func (p *PyTorch) command(args ...string) ([]string, error) {
	script, err := p.scriptPath()
	if err != nil {
		return nil, err
	}
	py := p.Python
	if py == "" {
		py = DefaultPython
	}
	threads := p.Threads
	if threads <= 0 {
		threads = 2
	}
	return append([]string{py, script, "--threads", strconv.Itoa(threads)}, args...), nil
}

// Versions returns the interpreter's Python, torch and torchvision versions
// and torch's thread count; the error says when torch is missing.
func (p *PyTorch) Versions(ctx context.Context) (map[string]any, error) {
	argv, err := p.command("--versions")
	if err != nil {
		return nil, err
	}
	var out, errBuf bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errBuf
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("PyTorch comparison needs %s with python3-torch and python3-torchvision (apt-get install python3-torch python3-torchvision): %w%s", argv[0], err, tail(errBuf.String()))
	}
	v := map[string]any{}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		return nil, fmt.Errorf("pytorch versions: %w", err)
	}
	return v, nil
}

// Runner returns a RunFunc that runs one benchmark of the script in its own
// Python process with opts' runs, warm-up and size: the script's
// benchmark PyTorchName(name), reported under name.
func (p *PyTorch) Runner(opts Options) RunFunc {
	opts = opts.withDefaults()
	return func(ctx context.Context, ghmdetName string) (Result, error) {
		name := PyTorchName(ghmdetName)
		args := []string{"--json", "--in-process", "--runs", strconv.Itoa(opts.Runs), "--warmup", strconv.Itoa(opts.Warmup)}
		if opts.Small {
			args = append(args, "--small")
		}
		argv, err := p.command(append(args, name)...)
		if err != nil {
			return Result{}, err
		}
		var out, errBuf bytes.Buffer
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdout = &out
		cmd.Stderr = &errBuf
		if p.Stderr != nil {
			cmd.Stderr = io.MultiWriter(&errBuf, p.Stderr)
		}
		if err := cmd.Run(); err != nil {
			return Result{}, fmt.Errorf("pytorch %s: %w%s", name, err, tail(errBuf.String()))
		}
		var rep Report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			return Result{}, fmt.Errorf("pytorch %s: output is not a benchmark report: %w", name, err)
		}
		r, ok := rep[name]
		if !ok {
			return Result{}, fmt.Errorf("pytorch %s: the report has no entry %q", name, name)
		}
		return r, nil
	}
}
