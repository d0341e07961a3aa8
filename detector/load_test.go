package detector

import (
	"errors"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data"
)

// TestCheckClasses checks that a model and a dataset are matched by class
// names and order, by number only when asked or when the model names no
// class, and that a mismatch lists both class lists.
func TestCheckClasses(t *testing.T) {
	named := func(names ...string) Config {
		var c Config
		c.Classes = names
		c.Model.NumClasses = len(names)
		return c
	}
	unnamed := Config{}
	unnamed.Model.NumClasses = 3
	cases := []struct {
		name       string
		cfg        Config
		data       []string
		byPosition bool
		want       []string // substrings of the error; nil: no error
	}{
		{"same", named("RBC", "WBC", "Platelets"), []string{"RBC", "WBC", "Platelets"}, false, nil},
		{"other order", named("RBC", "WBC", "Platelets"), []string{"Platelets", "RBC", "WBC"}, false,
			[]string{`class 0 is "RBC" in the model, "Platelets" in the dataset`, `model:   ["RBC", "WBC", "Platelets"]`, `dataset: ["Platelets", "RBC", "WBC"]`}},
		{"other names", named("cat", "dog"), []string{"car", "bus"}, false,
			[]string{"class names differ", `model:   ["cat", "dog"]`, `dataset: ["car", "bus"]`}},
		{"case differs", named("cat", "dog"), []string{"cat", "Dog"}, false, []string{`class 1 is "dog" in the model, "Dog" in the dataset`}},
		{"other names by position", named("cat", "dog"), []string{"car", "bus"}, true, nil},
		{"other count", named("cat", "dog"), []string{"cat", "dog", "bird"}, false,
			[]string{"the model has 2 classes but the dataset has 3", `dataset: ["cat", "dog", "bird"]`}},
		{"other count by position", named("cat", "dog"), []string{"cat"}, true, []string{"the model has 2 classes but the dataset has 1"}},
		{"unnamed model", unnamed, []string{"a", "b", "c"}, false, nil},
		{"unnamed model, other count", unnamed, []string{"a", "b"}, false,
			[]string{"the model has 3 classes but the dataset has 2", `model:   ["class_0", "class_1", "class_2"]`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckClasses(c.cfg, &data.Dataset{Classes: c.data}, c.byPosition)
			if c.want == nil {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			var me *ClassMismatchError
			if !errors.As(err, &me) {
				t.Fatalf("error %v, want a *ClassMismatchError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
