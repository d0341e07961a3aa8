package study

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/internal/strictyaml"
)

// Assignment is one configuration value: a dotted key into the run
// configuration (the YAML path of detector.Config, such as "loss.cls") and
// its value as YAML text ("focal", "0.75", "[8, 11]").
type Assignment struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// String returns "key=value".
func (a Assignment) String() string { return a.Key + "=" + a.Value }

// Axis is one varied key and its values, in the order given.
type Axis struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// String returns "key=v1,v2,...".
func (a Axis) String() string { return a.Key + "=" + strings.Join(a.Values, ",") }

// reservedKeys are the configuration keys a study sets itself.
var reservedKeys = map[string]string{
	"seed":              "the seeds are the study's (--seeds)",
	"model.seed":        "the seeds are the study's (--seeds)",
	"preset":            "give the preset with --preset",
	"classes":           "the classes come from the training data",
	"category_ids":      "the classes come from the training data",
	"model.num_classes": "the classes come from the training data",
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`)

// ParseAssignment parses "key=value": one value, which may be a YAML list
// or mapping ("schedule.steps=[8, 11]"). The key must name a setting of
// the run configuration; the value is checked when it is applied (Apply).
func ParseAssignment(spec string) (Assignment, error) {
	key, value, ok := strings.Cut(spec, "=")
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	if !ok {
		return Assignment{}, fmt.Errorf("%q: want key=value, such as loss.cls=focal", spec)
	}
	if err := checkKey(key); err != nil {
		return Assignment{}, fmt.Errorf("%q: %w", spec, err)
	}
	if value == "" {
		return Assignment{}, fmt.Errorf("%q: no value for %s", spec, key)
	}
	return Assignment{Key: key, Value: value}, nil
}

// ParseAxis parses "key=v1,v2,...": the values are separated by the commas
// outside brackets, braces and quotes, so that "schedule.steps=[8,11],[16,22]"
// has two values. Values must be distinct.
func ParseAxis(spec string) (Axis, error) {
	key, list, ok := strings.Cut(spec, "=")
	key = strings.TrimSpace(key)
	if !ok {
		return Axis{}, fmt.Errorf("%q: want key=value1,value2,..., such as loss.cls=focal,ghmc", spec)
	}
	if err := checkKey(key); err != nil {
		return Axis{}, fmt.Errorf("%q: %w", spec, err)
	}
	values, err := splitValues(list)
	if err != nil {
		return Axis{}, fmt.Errorf("%q: %w", spec, err)
	}
	seen := map[string]bool{}
	for i, v := range values {
		if v == "" {
			return Axis{}, fmt.Errorf("%q: value %d of %s is empty", spec, i+1, key)
		}
		if seen[v] {
			return Axis{}, fmt.Errorf("%q: value %q of %s is given twice", spec, v, key)
		}
		seen[v] = true
	}
	return Axis{Key: key, Values: values}, nil
}

// splitValues splits s at the commas outside brackets, braces and quotes
// and trims each value.
func splitValues(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '[' || r == '{':
			depth++
		case r == ']' || r == '}':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced %q at position %d", r, i+1)
			}
		case r == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if depth != 0 || quote != 0 {
		return nil, errors.New("unbalanced brackets or quotes")
	}
	return append(out, strings.TrimSpace(s[start:])), nil
}

// checkKey checks that key names a setting of detector.Config that a study
// may set.
func checkKey(key string) error {
	if !keyPattern.MatchString(key) {
		return fmt.Errorf("bad key %q: want a dotted path of the configuration, such as loss.cls", key)
	}
	if why, ok := reservedKeys[key]; ok {
		return fmt.Errorf("%s cannot be set: %s", key, why)
	}
	_, err := keyType(key)
	return err
}

// keyType returns the Go type of the configuration setting at key (a
// dotted YAML path), or an error naming the first unknown part and the
// allowed keys there.
func keyType(key string) (reflect.Type, error) {
	t := reflect.TypeOf(detector.Config{})
	parts := strings.Split(key, ".")
	for i, p := range parts {
		where := "the configuration"
		if i > 0 {
			where = strings.Join(parts[:i], ".")
		}
		if t.Kind() != reflect.Struct {
			return nil, fmt.Errorf("unknown key %q: %s is a single setting (%s), not a group of settings", key, where, t)
		}
		ft, ok := yamlField(t, p)
		if !ok {
			return nil, fmt.Errorf("unknown key %q: %s has no setting %q; allowed: %s", key, where, p, strings.Join(strictyaml.Keys(t), ", "))
		}
		t = ft
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	return t, nil
}

// yamlField returns the type of the field of struct type t whose YAML name
// is name (its yaml tag, or its lower-cased name when untagged, as
// strictyaml reads them; inline structs are searched).
func yamlField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			if ft, ok := yamlField(f.Type, name); ok {
				return ft, true
			}
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

// Apply sets a's value in cfg through the strict YAML decoding of
// configuration files: a YAML document {key: value} decoded over cfg, so
// that types are checked as in a file and a group of settings (a mapping
// value) merges over the one in cfg. It does not validate the resulting
// configuration (see detector.Config.Validate).
func Apply(cfg *detector.Config, a Assignment) error {
	if err := checkKey(a.Key); err != nil {
		return err
	}
	var val yaml.Node
	if err := yaml.Unmarshal([]byte(a.Value), &val); err != nil {
		return fmt.Errorf("%s: the value is not YAML: %w", a, err)
	}
	if len(val.Content) == 0 {
		return fmt.Errorf("%s: no value", a)
	}
	node := val.Content[0]
	parts := strings.Split(a.Key, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		node = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[i]}, node,
		}}
	}
	doc, err := yaml.Marshal(node)
	if err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	next := *cfg
	if err := strictyaml.Unmarshal(a.String(), doc, &next); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = lineRef.ReplaceAllString(m, "")
			}
			return fmt.Errorf("%s: %s", a, strings.Join(msgs, "; "))
		}
		return err
	}
	*cfg = next
	return nil
}

// lineRef is the "line N: " prefix of the YAML decoder's messages, which
// refers to the document Apply builds and not to anything the user wrote.
var lineRef = regexp.MustCompile(`^line \d+: `)

// Setting is one point of the grid: a value for every axis.
type Setting struct {
	// Name is the setting's readable name and the folder of its runs, such
	// as "cls=focal" or "cls=ghmc,ghmc_bins=10" ("base" without axes).
	Name   string       `json:"name"`
	Values []Assignment `json:"values"`
}

// Value returns the setting's value of key and whether it has one.
func (s Setting) Value(key string) (string, bool) {
	for _, v := range s.Values {
		if v.Key == key {
			return v.Value, true
		}
	}
	return "", false
}

// Settings expands the axes into every combination of their values, the
// first axis varying slowest, and names each combination. Axes must have
// distinct keys; settings whose names (folder names) coincide are an
// error.
func Settings(axes []Axis) ([]Setting, error) {
	labels := axisLabels(axes)
	seenKey := map[string]bool{}
	for _, ax := range axes {
		if seenKey[ax.Key] {
			return nil, fmt.Errorf("%s is varied twice; give all its values in one --vary", ax.Key)
		}
		seenKey[ax.Key] = true
		if len(ax.Values) == 0 {
			return nil, fmt.Errorf("%s has no values", ax.Key)
		}
	}
	settings := []Setting{{}}
	for _, ax := range axes {
		var next []Setting
		for _, s := range settings {
			for _, v := range ax.Values {
				vals := append(append([]Assignment(nil), s.Values...), Assignment{Key: ax.Key, Value: v})
				next = append(next, Setting{Values: vals})
			}
		}
		settings = next
	}
	byName := map[string]Setting{}
	for i := range settings {
		s := &settings[i]
		s.Name = settingName(labels, s.Values)
		if prev, dup := byName[s.Name]; dup {
			return nil, fmt.Errorf("settings %v and %v would share the folder %q; give the values in another spelling", prev.Values, s.Values, s.Name)
		}
		byName[s.Name] = *s
	}
	return settings, nil
}

// axisLabels returns the label of each axis in setting names: the last part
// of its key ("cls" for loss.cls), or the whole key when two axes share
// their last part.
func axisLabels(axes []Axis) map[string]string {
	count := map[string]int{}
	for _, ax := range axes {
		count[lastPart(ax.Key)]++
	}
	labels := map[string]string{}
	for _, ax := range axes {
		labels[ax.Key] = lastPart(ax.Key)
		if count[lastPart(ax.Key)] > 1 {
			labels[ax.Key] = ax.Key
		}
	}
	return labels
}

func lastPart(key string) string { return key[strings.LastIndex(key, ".")+1:] }

// settingName joins label=value for every value, with the values made safe
// as a folder name.
func settingName(labels map[string]string, values []Assignment) string {
	if len(values) == 0 {
		return "base"
	}
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = labels[v.Key] + "=" + folderSafe(v.Value)
	}
	return strings.Join(parts, ",")
}

// folderSafe turns a YAML value into a folder-name part: letters, digits
// and . _ + - are kept, brackets, braces, quotes and spaces dropped, and
// anything else (commas, colons, slashes) becomes "-".
func folderSafe(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._+-", r):
			b.WriteRune(r)
		case strings.ContainsRune("[]{}\"' \t", r):
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		return "_"
	}
	return s
}
