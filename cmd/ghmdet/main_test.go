package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// mainArgsEnv makes the test binary run main with the arguments it holds
// (one a line) instead of the tests: the child side of tests that check
// what the command prints and its exit status.
const mainArgsEnv = "GHMDET_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(mainArgsEnv); ok {
		os.Args = append([]string{"ghmdet"}, strings.Split(args, "\n")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs "ghmdet args..." as a separate process with the extra
// environment variables and returns its standard output, standard error
// and exit status.
func runMain(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), mainArgsEnv+"="+strings.Join(args, "\n")), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running ghmdet %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// TestUnavailableBackend checks that a backend that is not compiled in,
// named by flag or environment, makes the command print one error line
// listing the compiled backends and exit with status 1, before it reads
// any input.
func TestUnavailableBackend(t *testing.T) {
	dir := t.TempDir()
	missing := dir + "/missing.json"
	tests := []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"GHMDET_BACKEND=xla:cuda"}, []string{"train", "--data", missing, "--out", dir + "/run"},
			`ghmdet: backend "xla:cuda": "xla" is not compiled into this program (compiled backends: go)`},
		{nil, []string{"eval", "--backend", "nosuch", "--model", dir, "--data", missing},
			`ghmdet: backend "nosuch": "nosuch" is not compiled into this program (compiled backends: go)`},
		{nil, []string{"predict", "--backend", "xla:cuda", "--model", dir, dir},
			`ghmdet: backend "xla:cuda": "xla" is not compiled into this program (compiled backends: go)`},
	}
	for _, tc := range tests {
		stdout, stderr, code := runMain(t, tc.env, tc.args...)
		if code != 1 || stderr != tc.want+"\n" || stdout != "" {
			t.Errorf("%v ghmdet %s: exit status %d, stdout %q, stderr %q; want status 1 and the one line %q",
				tc.env, strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
		}
	}
}
