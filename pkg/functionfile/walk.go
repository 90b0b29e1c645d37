package functionfile

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/eventflow/eventflow/pkg/function"
)

// The walk goes down a document's YAML nodes alongside the Go type it
// becomes, by JSON names. It checks fields and types where the node is, so
// errors have a line, records where each path is for the validation errors,
// and returns the document as JSON values for encoding/json to decode: the
// file then means exactly what the same JSON means to the API.

var (
	documentType    = reflect.TypeFor[document]()
	durationType    = reflect.TypeFor[function.Duration]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// refused are spec fields a document sets in metadata instead.
var refused = map[string]string{"spec.name": "metadata.name", "spec.labels": "metadata.labels"}

// field is a JSON-visible struct field.
type field struct {
	name      string
	typ       reflect.Type
	omitempty bool
}

// fieldsOf lists the JSON fields of a struct type, in declaration order.
func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
			fs = append(fs, fieldsOf(sf.Type)...)
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fs = append(fs, field{name: name, typ: sf.Type, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")})
	}
	return fs
}

type pair struct{ key, value *yaml.Node }

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// spend counts node visits; aliases may repeat a node many times, and the
// budget stops a small file from expanding without end.
func (p *parser) spend(n *yaml.Node, cost int) bool {
	if p.budget < 0 {
		return false
	}
	if p.budget -= cost; p.budget < 0 {
		p.fail(n, "", "aliases expand to too much content")
		return false
	}
	return true
}

// resolve follows aliases to the node they name.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// pairs returns a mapping's entries with merge keys (<<) expanded: the
// mapping's own keys win over merged ones, earlier merged mappings over
// later ones.
func (p *parser) pairs(m *yaml.Node, path string) []pair {
	return p.pairsDepth(m, path, 0)
}

func (p *parser) pairsDepth(m *yaml.Node, path string, depth int) []pair {
	if !p.spend(m, len(m.Content)/2+1) {
		return nil
	}
	if p.merging == nil {
		p.merging = map[*yaml.Node]bool{}
	}
	p.merging[m] = true
	defer delete(p.merging, m)
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := p.resolve(m.Content[i]), m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, p.merge(v, path, depth)...)
			continue
		}
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
			p.fail(k, path, "keys must be strings, not "+describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.fail(k, join(path, k.Value), fmt.Sprintf("is given twice: on line %d and here", first.Line))
			continue
		}
		seen[k.Value] = k
		own = append(own, pair{k, v})
	}
	for _, kv := range merged {
		if _, ok := seen[kv.key.Value]; !ok {
			seen[kv.key.Value] = kv.key
			own = append(own, kv)
		}
	}
	return own
}

func (p *parser) merge(v *yaml.Node, path string, depth int) []pair {
	if depth >= 20 {
		p.fail(v, path, "merges (<<) are nested too deep")
		return nil
	}
	// An anchor may be used before its node ends, so a merge can name
	// the mapping it is in.
	mapping := func(n, m *yaml.Node) []pair {
		if p.merging[m] {
			p.fail(n, path, "a merge (<<) includes the mapping it is in")
			return nil
		}
		return p.pairsDepth(m, path, depth+1)
	}
	switch r := p.resolve(v); r.Kind {
	case yaml.MappingNode:
		return mapping(v, r)
	case yaml.SequenceNode:
		var all []pair
		for _, e := range r.Content {
			if re := p.resolve(e); re.Kind == yaml.MappingNode {
				all = append(all, mapping(e, re)...)
			} else {
				p.fail(e, path, "a merge (<<) takes a mapping or a list of mappings, not "+describe(re))
			}
		}
		return all
	default:
		p.fail(v, path, "a merge (<<) takes a mapping or a list of mappings, not "+describe(r))
		return nil
	}
}

// record notes where path is: its value if a scalar, else its key.
func (p *parser) record(kv pair, path string) {
	p.keyPos[path] = posOf(kv.key)
	if v := p.resolve(kv.value); v.Kind == yaml.ScalarNode && !isNull(v) {
		p.pos[path] = posOf(kv.value)
	} else {
		p.pos[path] = posOf(kv.key)
	}
}

// walk returns n as the JSON value of a t at path; false after an error.
// Callers handle null themselves: it means different things in different places.
func (p *parser) walk(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if !p.spend(n, 1) {
		return nil, false
	}
	r := p.resolve(n)
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return p.custom(n, r, t, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return p.walk(n, t.Elem(), path)
	case reflect.Struct:
		if r.Kind != yaml.MappingNode {
			p.fail(n, path, "must be a mapping, not "+describe(r))
			return nil, false
		}
		return p.object(p.pairs(r, path), t, path), true
	case reflect.Map:
		return p.mapping(n, r, t, path)
	case reflect.Slice:
		if path == "spec.command" && r.Kind == yaml.ScalarNode && isText(r) {
			argv, err := SplitCommand(r.Value)
			if err != nil {
				p.fail(n, path, err.Error())
				return nil, false
			}
			out := make([]any, len(argv))
			for i, a := range argv {
				out[i] = a
			}
			return out, true
		}
		return p.sequence(n, r, t, path)
	case reflect.String:
		if r.Kind != yaml.ScalarNode || !isText(r) {
			p.fail(n, path, "must be a string, not "+describe(r))
			return nil, false
		}
		return r.Value, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if r.Kind != yaml.ScalarNode || r.Tag != "!!int" || r.Decode(&i) != nil {
			p.fail(n, path, "must be an integer, not "+describe(r))
			return nil, false
		}
		lo, hi := int64(math.MinInt64)>>(64-t.Bits()), int64(math.MaxInt64)>>(64-t.Bits())
		if i < lo || i > hi {
			p.fail(n, path, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
			return nil, false
		}
		return i, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if r.Kind != yaml.ScalarNode || r.Tag != "!!int" || r.Decode(&u) != nil || u > math.MaxUint64>>(64-t.Bits()) {
			p.fail(n, path, fmt.Sprintf("must be an integer from 0 to %d, not %s", uint64(math.MaxUint64)>>(64-t.Bits()), describe(r)))
			return nil, false
		}
		return u, true
	case reflect.Float32, reflect.Float64:
		var f float64
		if r.Kind != yaml.ScalarNode || (r.Tag != "!!int" && r.Tag != "!!float") || r.Decode(&f) != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			p.fail(n, path, "must be a number, not "+describe(r))
			return nil, false
		}
		return f, true
	case reflect.Bool:
		var b bool
		if r.Kind != yaml.ScalarNode || r.Tag != "!!bool" || r.Decode(&b) != nil {
			p.fail(n, path, "must be true or false, not "+describe(r))
			return nil, false
		}
		return b, true
	}
	p.fail(n, path, "has a type function files do not support yet")
	return nil, false
}

// isText reports whether a scalar reads as a string: plain numbers and
// booleans keep their text, so `LANG_VERSION: 1.10` is "1.10".
func isText(n *yaml.Node) bool {
	switch n.Tag {
	case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		return true
	}
	return false
}

func (p *parser) object(pairs []pair, t reflect.Type, path string) map[string]any {
	fields := fieldsOf(t)
	out := make(map[string]any, len(pairs))
	for _, kv := range pairs {
		name := kv.key.Value
		fpath := join(path, name)
		if to, ok := refused[fpath]; ok {
			p.fail(kv.key, fpath, "is not a spec field: set "+to)
			continue
		}
		i := slices.IndexFunc(fields, func(f field) bool { return f.name == name })
		if i < 0 {
			p.fail(kv.key, fpath, unknownField(name, path, fields))
			continue
		}
		p.record(kv, fpath)
		if isNull(p.resolve(kv.value)) {
			continue // as if left out, like JSON's null
		}
		if v, ok := p.walk(kv.value, fields[i].typ, fpath); ok {
			out[name] = v
		}
	}
	return out
}

func unknownField(name, path string, fields []field) string {
	var known []string
	for _, f := range fields {
		if _, ok := refused[join(path, f.name)]; ok {
			continue
		}
		if strings.EqualFold(f.name, name) {
			return fmt.Sprintf("unknown field: did you mean %q?", f.name)
		}
		known = append(known, f.name)
	}
	return "unknown field: expected one of " + strings.Join(known, ", ")
}

func (p *parser) mapping(n, r *yaml.Node, t reflect.Type, path string) (any, bool) {
	if r.Kind != yaml.MappingNode {
		p.fail(n, path, "must be a mapping, not "+describe(r))
		return nil, false
	}
	if t.Key().Kind() != reflect.String {
		p.fail(n, path, "has a type function files do not support yet")
		return nil, false
	}
	out := map[string]any{}
	for _, kv := range p.pairs(r, path) {
		k := kv.key.Value
		kpath := keyPath(path, k)
		p.record(kv, kpath)
		p.keys[path] = append(p.keys[path], k)
		if isNull(p.resolve(kv.value)) {
			if t.Elem().Kind() == reflect.String {
				out[k] = "" // `NAME:` with nothing after it
			}
			continue
		}
		v, ok := p.walk(kv.value, t.Elem(), kpath)
		if !ok {
			continue
		}
		if s, isStr := v.(string); isStr && path == "spec.env" {
			x, err := expandEnv(s, p.lookup)
			if err != nil {
				p.fail(kv.value, kpath, err.Error())
				continue
			}
			v = x
		}
		out[k] = v
	}
	return out, true
}

func (p *parser) sequence(n, r *yaml.Node, t reflect.Type, path string) (any, bool) {
	if r.Kind != yaml.SequenceNode {
		msg := "must be a list, not "
		if path == "spec.command" {
			msg = "must be a list of arguments or one command line, not "
		}
		p.fail(n, path, msg+describe(r))
		return nil, false
	}
	out := make([]any, 0, len(r.Content))
	for i, e := range r.Content {
		epath := path + "[" + strconv.Itoa(i) + "]"
		p.pos[epath] = posOf(e)
		if isNull(p.resolve(e)) {
			p.fail(e, epath, "must not be null")
			continue
		}
		if v, ok := p.walk(e, t.Elem(), epath); ok {
			out = append(out, v)
		}
	}
	return out, true
}

// custom hands a scalar to the type's own UnmarshalJSON (function.Duration),
// as the API would, but with the error on the scalar's line.
func (p *parser) custom(n, r *yaml.Node, t reflect.Type, path string) (any, bool) {
	var raw []byte
	if r.Kind == yaml.ScalarNode {
		switch r.Tag {
		case "!!str":
			raw, _ = json.Marshal(r.Value)
		case "!!int", "!!float":
			var f float64
			if r.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				raw, _ = json.Marshal(f)
			}
		case "!!bool":
			var b bool
			if r.Decode(&b) == nil {
				raw = []byte(strconv.FormatBool(b))
			}
		}
	}
	if raw == nil {
		msg := "must be a scalar, not "
		if t == durationType {
			msg = `must be a duration such as "30s", not `
		}
		p.fail(n, path, msg+describe(r))
		return nil, false
	}
	if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
		p.fail(n, path, err.Error())
		return nil, false
	}
	return json.RawMessage(raw), true
}

// describe names what a node is, for "must be X, not Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int", "!!float", "!!bool":
			return n.Value
		case "!!str":
			if r := []rune(n.Value); len(r) > 40 {
				return strconv.Quote(string(r[:37]) + "...")
			}
			return strconv.Quote(n.Value)
		}
		return "a value tagged " + n.Tag
	}
	return "nothing"
}
