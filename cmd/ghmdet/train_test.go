package main

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/detector"
)

// syncBuffer is a strings.Builder safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestInterrupts checks the handling of Ctrl-C: while training, the first
// interrupt cancels the training context and a second one exits at once,
// saying what is saved; once training is over, the first one exits.
func TestInterrupts(t *testing.T) {
	const wait = 10 * time.Second
	start := func() (*interrupts, chan os.Signal, *syncBuffer, chan int) {
		sigs := make(chan os.Signal, 2)
		out := &syncBuffer{}
		exits := make(chan int, 1)
		return newInterrupts(sigs, out, func(code int) { exits <- code }), sigs, out, exits
	}
	expectExit := func(t *testing.T, exits chan int, out *syncBuffer, saved string) {
		t.Helper()
		select {
		case code := <-exits:
			if code != exitInterrupted {
				t.Errorf("exit status %d, want %d", code, exitInterrupted)
			}
		case <-time.After(wait):
			t.Fatalf("no exit after the interrupt; output:\n%s", out)
		}
		if !strings.Contains(out.String(), "exiting now; "+saved) {
			t.Errorf("the exit message does not say what is saved:\n%s", out)
		}
	}

	t.Run("twice while training", func(t *testing.T) {
		h, sigs, out, exits := start()
		defer h.Stop()
		h.Saved("last.ckpt holds the last checkpoint written")
		sigs <- os.Interrupt
		select {
		case <-h.Context().Done():
		case <-time.After(wait):
			t.Fatal("the first interrupt did not cancel the training context")
		}
		if !strings.Contains(out.String(), "stopping training and saving a checkpoint") {
			t.Errorf("first interrupt message:\n%s", out)
		}
		select {
		case code := <-exits:
			t.Fatalf("the first interrupt exited (status %d)", code)
		default:
		}
		// Training returned; the analysis and report run when the second
		// interrupt comes.
		h.Finishing("the model is saved in last.ckpt")
		sigs <- syscall.SIGTERM
		expectExit(t, exits, out, "the model is saved in last.ckpt")
	})

	t.Run("twice before training returned", func(t *testing.T) {
		h, sigs, out, exits := start()
		defer h.Stop()
		h.Saved("last.ckpt holds the last checkpoint written")
		sigs <- os.Interrupt
		sigs <- os.Interrupt
		expectExit(t, exits, out, "last.ckpt holds the last checkpoint written")
	})

	t.Run("once after training", func(t *testing.T) {
		h, sigs, out, exits := start()
		defer h.Stop()
		h.Finishing("the model is saved in last.ckpt")
		sigs <- os.Interrupt
		expectExit(t, exits, out, "the model is saved in last.ckpt")
	})

	t.Run("stopped", func(t *testing.T) {
		h, sigs, _, exits := start()
		h.Stop()
		if h.Context().Err() == nil {
			t.Error("Stop left the context alive")
		}
		sigs <- os.Interrupt
		select {
		case code := <-exits:
			t.Fatalf("an interrupt after Stop exited (status %d)", code)
		case <-time.After(100 * time.Millisecond):
		}
	})
}

// TestEpochsFlagMovesDecays checks that --epochs keeps a new run's
// learning-rate decays at the same fractions of its length, and leaves a
// resumed run's decays alone.
func TestEpochsFlagMovesDecays(t *testing.T) {
	cases := []struct {
		name   string
		epochs int
		resume string
		want   []int
	}{
		{"shorter", 12, "", []int{8, 11}},
		{"longer", 48, "", []int{32, 44}},
		{"resumed", 12, "runs/x", []int{16, 22}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := detector.Preset("cpu") // 24 epochs, decays after 16 and 22
			if err != nil {
				t.Fatal(err)
			}
			cmd := &cobra.Command{}
			f := trainFlags{resume: c.resume}
			cmd.Flags().IntVar(&f.epochs, "epochs", 0, "")
			if err := cmd.Flags().Parse([]string{"--epochs", strconv.Itoa(c.epochs)}); err != nil {
				t.Fatal(err)
			}
			applyFlags(cmd, &f, &cfg)
			if cfg.Train.Epochs != c.epochs || !slices.Equal(cfg.Schedule.Steps, c.want) {
				t.Fatalf("epochs %d, decays %v; want %d, %v", cfg.Train.Epochs, cfg.Schedule.Steps, c.epochs, c.want)
			}
		})
	}
}
