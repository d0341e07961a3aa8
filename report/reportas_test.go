package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteReportAs checks that the report is written under the given base
// name, as Markdown and HTML, and that WriteReport keeps its names.
func TestWriteReportAs(t *testing.T) {
	dir := t.TempDir()
	r := Report{Title: "Study", Summary: [][2]string{{"runs", "4"}}}
	for _, c := range []struct {
		base  string
		write func() error
	}{
		{"study", func() error { return WriteReportAs(dir, "study", r) }},
		{"report", func() error { return WriteReport(dir, r) }},
	} {
		if err := c.write(); err != nil {
			t.Fatal(err)
		}
		for _, ext := range []string{".md", ".html"} {
			b, err := os.ReadFile(filepath.Join(dir, c.base+ext))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "Study") {
				t.Errorf("%s%s lacks the title", c.base, ext)
			}
		}
	}
	if err := WriteReportAs(filepath.Join(dir, "missing"), "study", r); err == nil || !strings.Contains(err.Error(), "study.md") {
		t.Errorf("unwritable folder: %v, want an error naming study.md", err)
	}
}
