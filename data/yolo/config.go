// Package yolo reads and writes object-detection datasets in the Ultralytics
// YOLO layout: a data.yaml file naming the splits and the classes, images in
// folders named images/, and one label file per image in the parallel
// labels/ folder (.../images/.../x.jpg -> .../labels/.../x.txt) with one line
// "class cx cy w h" per box, coordinates normalised to [0, 1] by the image
// width and height.
//
// data.yaml keys: path (optional dataset root), train / val / test / minival
// (each a folder of images, a .txt file listing images, or a list of those),
// names (a list, or a map {index: name} with indices 0..n-1) and nc. A split
// path is looked up, in order: as an absolute path; relative to path (itself
// relative to the yaml's folder when not absolute) or, without path, to the
// yaml's folder; relative to the yaml's folder; with a leading "../"
// removed, relative to the same two folders (the exports of annotation tools
// such as Roboflow write "../train/images" beside a data.yaml that sits in
// the dataset root, and Ultralytics resolves them that way too); relative to
// the yaml folder's parent. The first that exists is used.
//
// Image sizes come from the image files' headers (JPEG, PNG and BMP).
// Images without a label file are background images (no boxes). Class index
// k has category id k + 1.
package yolo

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SplitKeys are the data.yaml keys that name splits, in the order Read with
// no split reads them.
var SplitKeys = []string{"train", "val", "test", "minival"}

// Config is a parsed data.yaml.
type Config struct {
	// Path is the path key (empty when absent).
	Path string
	// Splits maps a split key (train, val, test, minival) to its entries:
	// folders or .txt image lists, as written.
	Splits map[string][]string
	// Names are the class names, by class index.
	Names []string
}

type rawConfig struct {
	Path    string    `yaml:"path"`
	Train   yaml.Node `yaml:"train"`
	Val     yaml.Node `yaml:"val"`
	Test    yaml.Node `yaml:"test"`
	Minival yaml.Node `yaml:"minival"`
	Names   yaml.Node `yaml:"names"`
	NC      *int      `yaml:"nc"`
}

// ParseConfig parses the content b of a data.yaml file (file names it in
// errors). Any defect is an error: without names the classes are unknown.
// When names is absent but nc is given, the classes are called class_0 ...
// class_{nc-1} (as Ultralytics does).
func ParseConfig(b []byte, file string) (cfg *Config, err error) {
	defer func() {
		if r := recover(); r != nil { // defensive: the YAML parser must not take the program down
			cfg, err = nil, fmt.Errorf("yolo: %s: unreadable YAML (%v)", file, r)
		}
	}()
	var raw rawConfig
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("yolo: %s: invalid YAML: %w", file, err)
	}
	cfg = &Config{Path: strings.TrimSpace(raw.Path), Splits: map[string][]string{}}
	for i, n := range []*yaml.Node{&raw.Train, &raw.Val, &raw.Test, &raw.Minival} {
		key := SplitKeys[i]
		entries, err := stringList(n)
		if err != nil {
			return nil, fmt.Errorf("yolo: %s: %s: %w", file, key, err)
		}
		if len(entries) > 0 {
			cfg.Splits[key] = entries
		}
	}
	names, err := parseNames(&raw.Names)
	if err != nil {
		return nil, fmt.Errorf("yolo: %s: names: %w", file, err)
	}
	switch {
	case names == nil && raw.NC == nil:
		return nil, fmt.Errorf("yolo: %s: neither names nor nc is given: the classes are unknown", file)
	case names == nil:
		if *raw.NC <= 0 || *raw.NC > 1<<20 {
			return nil, fmt.Errorf("yolo: %s: nc = %d is not a positive class count", file, *raw.NC)
		}
		for i := 0; i < *raw.NC; i++ {
			names = append(names, fmt.Sprintf("class_%d", i))
		}
	case raw.NC != nil && *raw.NC != len(names):
		return nil, fmt.Errorf("yolo: %s: nc = %d but names has %d entries", file, *raw.NC, len(names))
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("yolo: %s: names is empty", file)
	}
	cfg.Names = names
	return cfg, nil
}

// stringList reads a split value: absent or null, a string, or a list of
// strings.
func stringList(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, nil
		}
		if s := strings.TrimSpace(n.Value); s != "" {
			return []string{s}, nil
		}
		return nil, nil
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
				return nil, fmt.Errorf("line %d: want a path, got a %s", c.Line, kindName(c))
			}
			if s := strings.TrimSpace(c.Value); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: want a path or a list of paths, got a %s", n.Line, kindName(n))
}

// parseNames reads names: a list, or a map {index: name} whose indices are
// exactly 0..n-1. It returns nil when names is absent.
func parseNames(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, nil
		}
		return nil, fmt.Errorf("line %d: want a list or a map of class names, got %q", n.Line, n.Value)
	case yaml.SequenceNode:
		names := make([]string, 0, len(n.Content))
		seen := map[string]int{}
		for i, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: class %d: want a name, got a %s", c.Line, i, kindName(c))
			}
			name := strings.TrimSpace(c.Value)
			if name == "" {
				return nil, fmt.Errorf("line %d: class %d has an empty name", c.Line, i)
			}
			if j, ok := seen[name]; ok {
				return nil, fmt.Errorf("line %d: classes %d and %d are both called %q", c.Line, j, i, name)
			}
			seen[name] = i
			names = append(names, name)
		}
		return names, nil
	case yaml.MappingNode:
		byIndex := map[int]string{}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			idx, err := strconv.Atoi(strings.TrimSpace(k.Value))
			if k.Kind != yaml.ScalarNode || err != nil || idx < 0 {
				return nil, fmt.Errorf("line %d: class index %q is not a non-negative integer", k.Line, k.Value)
			}
			if _, dup := byIndex[idx]; dup {
				return nil, fmt.Errorf("line %d: class index %d is given twice", k.Line, idx)
			}
			if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
				return nil, fmt.Errorf("line %d: class %d: want a name", v.Line, idx)
			}
			name := strings.TrimSpace(v.Value)
			if j, ok := seen[name]; ok {
				return nil, fmt.Errorf("line %d: classes %d and %d are both called %q", v.Line, j, idx, name)
			}
			seen[name] = idx
			byIndex[idx] = name
		}
		names := make([]string, len(byIndex))
		idxs := make([]int, 0, len(byIndex))
		for k := range byIndex {
			idxs = append(idxs, k)
		}
		sort.Ints(idxs)
		for i, k := range idxs {
			if k != i {
				return nil, fmt.Errorf("class indices must be 0..%d, but index %d is missing", len(byIndex)-1, i)
			}
			names[i] = byIndex[k]
		}
		return names, nil
	}
	return nil, fmt.Errorf("line %d: want a list or a map of class names, got a %s", n.Line, kindName(n))
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return "value"
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "map"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	}
	return "node"
}

// outConfig is the data.yaml Write produces.
type outConfig struct {
	Path    string         `yaml:"path,omitempty"`
	Train   any            `yaml:"train,omitempty"`
	Val     any            `yaml:"val,omitempty"`
	Test    any            `yaml:"test,omitempty"`
	Minival any            `yaml:"minival,omitempty"`
	NC      int            `yaml:"nc"`
	Names   map[int]string `yaml:"names"`
}

// Marshal returns cfg as data.yaml content (names as a map {index: name},
// as Ultralytics writes them).
func (cfg *Config) Marshal() ([]byte, error) {
	out := outConfig{Path: cfg.Path, NC: len(cfg.Names), Names: map[int]string{}}
	for i, n := range cfg.Names {
		out.Names[i] = n
	}
	dst := []*any{&out.Train, &out.Val, &out.Test, &out.Minival}
	for i, key := range SplitKeys {
		switch e := cfg.Splits[key]; len(e) {
		case 0:
		case 1:
			*dst[i] = e[0]
		default:
			*dst[i] = e
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&out); err != nil {
		return nil, fmt.Errorf("yolo: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("yolo: %w", err)
	}
	return buf.Bytes(), nil
}
