//go:build xla

package backend

import (
	"slices"
	"testing"
)

// TestXLACompiled checks that the XLA build registers the XLA backend next
// to the pure-Go one and lists the PJRT plugins it finds (none may be
// installed: the list may be empty).
func TestXLACompiled(t *testing.T) {
	got := Compiled()
	for _, name := range []string{"go", "xla"} {
		if !slices.Contains(got, name) {
			t.Errorf("Compiled() = %v, want %q among them", got, name)
		}
	}
	plugins, ok := XLAPlugins()
	if !ok {
		t.Fatal("XLAPlugins reports no XLA backend")
	}
	t.Logf("PJRT plugins found: %v", plugins)
	if err := Check("xla:cuda"); err != nil {
		t.Errorf("Check(xla:cuda): %v", err)
	}
}
