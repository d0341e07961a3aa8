package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasExamples checks that every ghmdet subcommand's --help
// shows examples, each an indented ghmdet command line, at least one of them
// running the command itself. The root command's help lists the commands
// instead; cobra's own help and completion commands are left out.
func TestEveryCommandHasExamples(t *testing.T) {
	var visit func(c *cobra.Command)
	n := 0
	visit = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			n++
			path := sub.CommandPath()
			if strings.TrimSpace(sub.Example) == "" {
				t.Errorf("%q has no Example", path)
				visit(sub)
				continue
			}
			self := false
			for _, line := range strings.Split(sub.Example, "\n") {
				if !strings.HasPrefix(line, "  ghmdet ") {
					t.Errorf("%q: example line %q is not an indented ghmdet command", path, line)
				}
				self = self || line == "  "+path || strings.HasPrefix(line, "  "+path+" ")
			}
			if !self {
				t.Errorf("%q: no example runs %s", path, path)
			}
			visit(sub)
		}
	}
	visit(rootCmd)
	if n < 12 {
		t.Errorf("visited %d commands, want every subcommand (at least 12)", n)
	}
}
