// Package strictyaml decodes YAML into Go structs and rejects unknown keys
// with an error that names the key, where it is, and the allowed keys.
package strictyaml

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Unmarshal decodes data into out (a pointer to a struct), over the values
// out already holds: keys absent from data keep their values. name is used in
// error messages (usually the file name). Keys not known to the struct (by
// their yaml tag, or the lower-cased field name when untagged) are errors.
func Unmarshal(name string, data []byte, out any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(root.Content) == 0 {
		return nil // empty document
	}
	if err := check(name, root.Content[0], reflect.TypeOf(out), ""); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Keys returns the YAML keys a struct type accepts, sorted.
func Keys(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for k := range fields(t) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range fields(f.Type) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func check(name string, n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		known := fields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := known[k.Value]
			full := k.Value
			if path != "" {
				full = path + "." + k.Value
			}
			if !ok {
				where := "at the top level"
				if path != "" {
					where = "in " + path
				}
				return fmt.Errorf("%s:%d: unknown key %q %s; allowed keys: %s",
					name, k.Line, full, where, strings.Join(Keys(t), ", "))
			}
			if err := check(name, v, ft, full); err != nil {
				return err
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			if err := check(name, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := check(name, n.Content[i], t.Elem(), path+"."+n.Content[i-1].Value); err != nil {
				return err
			}
		}
	}
	return nil
}
