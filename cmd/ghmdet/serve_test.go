package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/internal/testrun"
)

// TestServeCommand runs "ghmdet serve" as a process: it answers with the
// bearer token, logs each request, and stops cleanly on SIGTERM.
func TestServeCommand(t *testing.T) {
	run, err := testrun.Train(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("  t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+strings.Join([]string{
		"serve", "--model", run.Dir, "--addr", "127.0.0.1:0", "--token-file", tokenFile, "--max-batch", "2"}, "\n"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The log's "serving" record gives the address; the rest of the log
	// is kept for the checks at the end.
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var logs []string
	addr := ""
	timeout := time.After(60 * time.Second)
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited:\n%s", strings.Join(logs, "\n"))
			}
			logs = append(logs, l)
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "serving" {
				addr, _ = rec["addr"].(string)
			}
		case <-timeout:
			t.Fatalf("no serving record in 60 s:\n%s", strings.Join(logs, "\n"))
		}
	}
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready in 60 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	request := func(method, path, token string, body []byte) (int, []byte) {
		req, err := http.NewRequest(method, url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "image/png")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := request("GET", "/v1/model", "", nil); code != 401 {
		t.Errorf("/v1/model without the token: %d", code)
	}
	code, body := request("GET", "/v1/model", "t0ken", nil)
	if code != 200 || !strings.Contains(string(body), `"classes":["circle","square"]`) {
		t.Errorf("/v1/model: %d %s", code, body)
	}
	img, err := os.ReadFile(run.Images[0])
	if err != nil {
		t.Fatal(err)
	}
	code, body = request("POST", "/v1/detect?score=0", "t0ken", img)
	if code != 200 || !strings.Contains(string(body), `"image":{"width":128,"height":128,"format":"png"}`) || !strings.Contains(string(body), `"class":"`) {
		t.Errorf("/v1/detect: %d %s", code, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		logs = append(logs, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v\n%s", err, strings.Join(logs, "\n"))
	}
	all := strings.Join(logs, "\n")
	for _, want := range []string{`"msg":"model loaded"`, `"msg":"ready"`, `"msg":"request","method":"POST","path":"/v1/detect","status":200`,
		`"msg":"shutting down: finishing the requests in flight"`, `"msg":"stopped"`} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %s:\n%s", want, all)
		}
	}
}

// TestServeCommandErrors checks the errors serve reports before serving.
func TestServeCommandErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "--model is required"},
		{[]string{"serve", "--model", dir, "--log-format", "xml"}, `--log-format "xml"`},
		{[]string{"serve", "--model", dir, "--token-file", empty}, "is empty"},
		{[]string{"serve", "--model", dir, "--token-file", filepath.Join(dir, "none")}, "--token-file"},
		{[]string{"serve", "--model", dir}, "holds no weights/best.ckpt"},
		{[]string{"serve", "--model", dir, "--max-batch", "0"}, "max batch 0"},
		{[]string{"bench", "serve"}, "--model is required"},
		{[]string{"bench", "serve", "--model", dir, "--requests", "0"}, "--requests must be >= 1"},
	}
	for _, c := range cases {
		_, err := runCommand(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ghmdet %s: error %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

// TestBenchServeCommand runs "bench serve" with small counts.
func TestBenchServeCommand(t *testing.T) {
	run, err := testrun.Train(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCommand(t, "bench", "serve", "--model", run.Dir, "--requests", "3", "--concurrency", "1,2",
		"--max-batch", "2", "--memory-requests", "4", "--images", run.Images[0], "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rep struct {
		Images int `json:"images"`
		Runs   []struct {
			Batching    bool    `json:"batching"`
			Concurrency int     `json:"concurrency"`
			Requests    int     `json:"requests"`
			P99         float64 `json:"p99_ms"`
		} `json:"runs"`
		Memory struct {
			Requests int   `json:"requests"`
			Before   int64 `json:"rss_before_bytes"`
		} `json:"memory"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Images != 1 || len(rep.Runs) != 4 || rep.Memory.Requests != 4 || rep.Memory.Before <= 0 {
		t.Fatalf("report %+v", rep)
	}
	for i, r := range rep.Runs {
		if r.Batching != (i >= 2) || r.Concurrency != []int{1, 2}[i%2] || r.Requests != 3 || r.P99 <= 0 {
			t.Errorf("run %d: %+v", i, r)
		}
	}
}
