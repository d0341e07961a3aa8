package strictyaml

import (
	"strings"
	"testing"
)

type inner struct {
	Rate  float64 `yaml:"rate"`
	Steps []int   `yaml:"steps"`
}

type outer struct {
	Name  string  `yaml:"name"`
	Inner inner   `yaml:"inner"`
	List  []inner `yaml:"list"`
	Plain int
}

func TestUnmarshal(t *testing.T) {
	cases := []struct {
		name, doc, wantErr string
		check              func(o outer) bool
	}{
		{"keeps defaults", "name: x\n", "", func(o outer) bool { return o.Name == "x" && o.Inner.Rate == 0.5 }},
		{"nested override", "inner:\n  rate: 2\n", "", func(o outer) bool { return o.Inner.Rate == 2 && o.Name == "d" }},
		{"untagged field lower-case", "plain: 3\n", "", func(o outer) bool { return o.Plain == 3 }},
		{"empty", "", "", func(o outer) bool { return o.Name == "d" }},
		{"unknown top", "nmae: x\n", `cfg.yaml:1: unknown key "nmae" at the top level; allowed keys: inner, list, name, plain`, nil},
		{"unknown nested", "inner:\n  rat: 1\n", `cfg.yaml:2: unknown key "inner.rat" in inner; allowed keys: rate, steps`, nil},
		{"unknown in list", "list:\n  - rate: 1\n  - bad: 2\n", `unknown key "list[1].bad"`, nil},
		{"bad type", "inner:\n  rate: abc\n", "cfg.yaml", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := outer{Name: "d", Inner: inner{Rate: 0.5}}
			err := Unmarshal("cfg.yaml", []byte(c.doc), &o)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(o) {
				t.Fatalf("decoded %+v", o)
			}
		})
	}
}
