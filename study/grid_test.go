package study

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/detector"
)

// TestParseAxis checks the splitting of values (commas inside brackets and
// quotes belong to a value) and the errors that name what is wrong.
func TestParseAxis(t *testing.T) {
	cases := []struct {
		spec    string
		want    Axis
		wantErr string
	}{
		{spec: "loss.cls=ce,ohem,focal,ghmc", want: Axis{"loss.cls", []string{"ce", "ohem", "focal", "ghmc"}}},
		{spec: " loss.ghmc_momentum = 0, 0.75 ", want: Axis{"loss.ghmc_momentum", []string{"0", "0.75"}}},
		{spec: "schedule.steps=[8,11],[16, 22]", want: Axis{"schedule.steps", []string{"[8,11]", "[16, 22]"}}},
		{spec: `train.time_budget="1m,2",3m`, want: Axis{"train.time_budget", []string{`"1m,2"`, "3m"}}},
		{spec: "loss.cls", wantErr: "want key=value1,value2"},
		{spec: "loss.clss=ce", wantErr: `unknown key "loss.clss": loss has no setting "clss"; allowed: `},
		{spec: "los.cls=ce", wantErr: `unknown key "los.cls": the configuration has no setting "los"`},
		{spec: "loss.cls.x=1", wantErr: "loss.cls is a single setting"},
		{spec: "seed=1,2", wantErr: "seed cannot be set: the seeds are the study's"},
		{spec: "model.num_classes=2,3", wantErr: "the classes come from the training data"},
		{spec: "loss..cls=ce", wantErr: "bad key"},
		{spec: "loss.cls=ce,,focal", wantErr: "value 2 of loss.cls is empty"},
		{spec: "loss.cls=ce,focal,ce", wantErr: `value "ce" of loss.cls is given twice`},
		{spec: "schedule.steps=[8,11", wantErr: "unbalanced"},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			got, err := ParseAxis(c.spec)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	if _, err := ParseAssignment("loss.cls"); err == nil || !strings.Contains(err.Error(), "want key=value") {
		t.Errorf("assignment without value: %v", err)
	}
	if a, err := ParseAssignment("schedule.steps=[8, 11]"); err != nil || a.Value != "[8, 11]" {
		t.Errorf("list assignment: %+v, %v", a, err)
	}
}

// TestApply sets values of several types through the strict YAML decoding
// and checks the errors of values of the wrong type.
func TestApply(t *testing.T) {
	base, err := detector.Preset("cpu")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		set     string
		check   func(c detector.Config) bool
		wantErr string
	}{
		{set: "loss.cls=focal", check: func(c detector.Config) bool { return c.Loss.Cls == "focal" }},
		{set: "loss.ghmc_bins=5", check: func(c detector.Config) bool { return c.Loss.GHMCBins == 5 }},
		{set: "loss.ghmc_momentum=0", check: func(c detector.Config) bool { return c.Loss.GHMCMomentum == 0 }},
		{set: "schedule.steps=[8, 11]", check: func(c detector.Config) bool { return reflect.DeepEqual(c.Schedule.Steps, []int{8, 11}) }},
		{set: "augment.zoom=[0.5, 1.5]", check: func(c detector.Config) bool { return c.Augment.Zoom == [2]float64{0.5, 1.5} }},
		// A group of settings merges over the current one.
		{set: "loss={cls: ce, ghmc_bins: 7}", check: func(c detector.Config) bool {
			return c.Loss.Cls == "ce" && c.Loss.GHMCBins == 7 && c.Loss.Reg == base.Loss.Reg
		}},
		{set: "loss.ghmc_bins=abc", wantErr: "loss.ghmc_bins=abc: cannot unmarshal !!str `abc` into int"},
		{set: "schedule.steps=8", wantErr: "schedule.steps=8: cannot unmarshal !!int `8` into []int"},
		{set: "loss={clss: ce}", wantErr: `unknown key "loss.clss" in loss`},
		{set: "loss.cls=[a", wantErr: "the value is not YAML"},
	}
	for _, c := range cases {
		t.Run(c.set, func(t *testing.T) {
			a, err := ParseAssignment(c.set)
			if err != nil {
				t.Fatal(err)
			}
			cfg := base
			cfg.Schedule.Steps = append([]int(nil), base.Schedule.Steps...)
			err = Apply(&cfg, a)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, c.wantErr)
				}
				if !reflect.DeepEqual(cfg.Loss, base.Loss) {
					t.Error("a failed assignment changed the configuration")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Errorf("%s not applied: %+v", c.set, cfg.Loss)
			}
		})
	}
}

// TestSettings checks the expansion of the grid (first axis slowest), the
// setting names, and the errors of repeated keys and clashing names.
func TestSettings(t *testing.T) {
	axes := []Axis{{"loss.ghmc_bins", []string{"5", "10", "30"}}, {"loss.ghmc_momentum", []string{"0", "0.75"}}}
	got, err := Settings(axes)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	want := []string{
		"ghmc_bins=5,ghmc_momentum=0", "ghmc_bins=5,ghmc_momentum=0.75",
		"ghmc_bins=10,ghmc_momentum=0", "ghmc_bins=10,ghmc_momentum=0.75",
		"ghmc_bins=30,ghmc_momentum=0", "ghmc_bins=30,ghmc_momentum=0.75",
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	if v, ok := got[3].Value("loss.ghmc_momentum"); !ok || v != "0.75" {
		t.Errorf("setting 3: momentum %q %v", v, ok)
	}
	if _, ok := got[0].Value("loss.cls"); ok {
		t.Error("a key off the grid has a value")
	}
	cases := []struct {
		name  string
		axes  []Axis
		names []string
		err   string
	}{
		{name: "no axes", names: []string{"base"}},
		{name: "empty axis", axes: []Axis{{"loss.cls", nil}}, err: "loss.cls has no values"},
		{name: "full keys when last parts clash", axes: []Axis{{"a.x", []string{"1"}}, {"b.x", []string{"2"}}, {"c.y", []string{"3"}}},
			names: []string{"a.x=1,b.x=2,y=3"}},
		{name: "lists", axes: []Axis{{"schedule.steps", []string{"[8,11]", "[16, 22]"}}}, names: []string{"steps=8-11", "steps=16-22"}},
		{name: "twice", axes: []Axis{{"loss.cls", []string{"ce"}}, {"loss.cls", []string{"focal"}}}, err: "loss.cls is varied twice"},
		{name: "clash", axes: []Axis{{"loss.cls", []string{"[ce]", "ce"}}}, err: `would share the folder "cls=ce"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Settings(c.axes)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want it to contain %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range got {
				names = append(names, s.Name)
			}
			if !reflect.DeepEqual(names, c.names) {
				t.Errorf("names %v, want %v", names, c.names)
			}
		})
	}
}
