// Package functionfile reads declarative function files: YAML documents in
// the Kubernetes style, one function each, that `eventflow deploy -f` sends
// to the API.
//
//	apiVersion: eventflow.io/v1
//	kind: Function
//	metadata: {name: upper, labels: {team: search}}
//	spec: {command: [tr, a-z, A-Z], invocation: {mode: job}}
//
// spec holds the API's function spec (function.Spec, by its JSON names)
// without name and labels, which are metadata's. The command may also be one
// shell-like line (SplitCommand), and env values may read the caller's
// environment with ${VAR} and ${VAR:-default}. Every error names the file,
// line, column and field.
package functionfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/eventflow/eventflow/pkg/function"
)

const (
	APIVersion = "eventflow.io/v1"
	Kind       = "Function"
)

// Bounds of one file, so a mistaken argument (a log, a binary) fails fast.
const (
	MaxFileSize  = 4 << 20
	MaxFunctions = 500
	maxErrors    = 10
)

// Function is one function of a file: the spec to send to the API (Name and
// Labels filled from metadata).
type Function struct {
	Spec function.Spec
	File string
	Line int // of its metadata.name, or of the document's start
	// Warnings are what the file had better change though it is valid:
	// the older replicas and autoscaling, which the API maps to scale.
	// Their Err is nil.
	Warnings []*Error
}

// Error is one problem of a file. Err is function.ErrInvalid (or a
// *function.FieldError wrapping it) when the content is at fault, and the
// I/O error when the file could not be read.
type Error struct {
	File         string
	Line, Column int    // 1-based; 0 when unknown
	Field        string // document-relative path such as spec.invocation.timeout; empty for the document
	Msg          string
	Err          error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ParseFile reads the functions of the file at path, expanding env values
// from the process environment.
func ParseFile(path string) ([]Function, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read: " + unwrapPathError(err).Error(), Err: err}
	}
	defer f.Close()
	// One byte more than the bound tells a file of exactly the bound from a larger one.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read: " + unwrapPathError(err).Error(), Err: err}
	}
	return Parse(path, data, os.LookupEnv)
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Parse reads every function of one file's contents; name is what errors
// call the file. lookupEnv resolves ${VAR} in env values (nil: no variable
// is set). It returns every function, or none and the errors (one
// *Error, or several joined): a file is deployed whole or not at all.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) ([]Function, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: name, Msg: fmt.Sprintf("is larger than %d MiB: split it into several files", MaxFileSize>>20), Err: function.ErrInvalid}
	}
	if line, col, msg := checkText(data); msg != "" {
		return nil, &Error{File: name, Line: line, Column: col, Msg: msg, Err: function.ErrInvalid}
	}
	p := &parser{
		file:   name,
		lookup: lookupEnv,
		names:  map[string]int{},
		budget: 4*len(data) + 1<<16,
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	count := 0
	for p.total <= maxErrors {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			p.add(syntaxError(name, data, err))
			break
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue // an empty document, such as after a trailing ---
		}
		if count++; count > MaxFunctions {
			p.fail(doc.Content[0], "", fmt.Sprintf("more than %d functions in one file: split it into several files", MaxFunctions))
			break
		}
		p.document(doc.Content[0])
		if p.budget < 0 {
			break
		}
	}
	switch {
	case len(p.errs) == 0 && len(p.funcs) == 0:
		return nil, &Error{File: name, Msg: "has no function: expected documents of apiVersion " + APIVersion + ", kind " + Kind, Err: function.ErrInvalid}
	case len(p.errs) == 0:
		return p.funcs, nil
	case len(p.errs) == 1:
		return nil, p.errs[0]
	}
	if p.total > maxErrors {
		p.errs = append(p.errs, &Error{File: name, Msg: "too many errors", Err: function.ErrInvalid})
	}
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return nil, errors.Join(errs...)
}

// checkText finds what the YAML parser would refuse without saying where:
// invalid UTF-8 and control characters.
func checkText(data []byte) (line, col int, msg string) {
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return line, col, "invalid UTF-8: function files must be UTF-8 text"
		case r == '\n':
			line, col = line+1, 0
		case r == '\t' || r == '\r' || r == 0x85 || r == 0xFEFF:
		case r < 0x20 || (r >= 0x7F && r < 0xA0) || (r >= 0xD800 && r <= 0xDFFF) || r == 0xFFFE || r == 0xFFFF:
			return line, col, fmt.Sprintf("control character %U is not allowed", r)
		}
		i += n
		col++
	}
	return 0, 0, ""
}

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

func syntaxError(file string, data []byte, err error) *Error {
	e := &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: "), Err: function.ErrInvalid}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
		if parserProblem(e.Msg) {
			e.Line++
		}
	} else if parserProblem(e.Msg) {
		e.Line = 1 // a line of 0 is left out of the message
	} else if m := unknownAnchor.FindStringSubmatch(err.Error()); m != nil {
		// The parser does not say where; the first *name is a good guess.
		e.Line, e.Column = findAlias(data, m[1])
	}
	e.Msg = "invalid YAML: " + e.Msg
	return e
}

// parserProblem reports whether the YAML parser (not its scanner) found
// the problem: the parser counts lines from 0 in its messages.
func parserProblem(msg string) bool {
	switch msg {
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected '-' indicator", "did not find expected <document start>",
		"did not find expected key", "did not find expected node content",
		"found duplicate %YAML directive", "found incompatible YAML document",
		"found undefined tag handle", "found duplicate %TAG directive",
		"did not find expected <stream-start>":
		return true
	}
	return false
}

// findAlias returns the line and column of the first alias *name in data.
func findAlias(data []byte, name string) (line, col int) {
	ref := []byte("*" + name)
	for off := 0; ; {
		i := bytes.Index(data[off:], ref)
		if i < 0 {
			return 0, 0
		}
		i += off
		end := i + len(ref)
		before := i == 0 || strings.IndexByte(" \t\n[{,:-", data[i-1]) >= 0
		after := end == len(data) || strings.IndexByte(" \t\r\n]},", data[end]) >= 0
		if before && after {
			line = 1 + bytes.Count(data[:i], []byte("\n"))
			col = 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:i], '\n')+1:i])
			return line, col
		}
		off = i + 1
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// document is one document of a file, as the schema shows it; decoding goes
// through the walk (walk.go), which knows about the spec's exceptions.
type document struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Metadata   metadata      `json:"metadata"`
	Spec       function.Spec `json:"spec"`
}

type metadata struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

type parser struct {
	file    string
	lookup  func(string) (string, bool)
	names   map[string]int      // function name → line, to refuse duplicates
	budget  int                 // node visits left: aliases must not blow up the walk
	merging map[*yaml.Node]bool // mappings whose merges are being expanded
	funcs   []Function
	errs    []*Error // the first maxErrors
	total   int      // errors found, kept or not

	// Of the current document.
	docErrs int
	pos     map[string]position // path → where its value is (its key for collections)
	keyPos  map[string]position // path of a map entry → where its key is
	keys    map[string][]string // path of a map → its keys in file order
}

type position struct{ line, col int }

func posOf(n *yaml.Node) position { return position{n.Line, n.Column} }

func (p *parser) fail(n *yaml.Node, field, msg string) {
	p.failAt(posOf(n), field, msg, function.ErrInvalid)
}

func (p *parser) failAt(at position, field, msg string, err error) {
	p.docErrs++
	p.add(&Error{File: p.file, Line: at.line, Column: at.col, Field: field, Msg: msg, Err: err})
}

func (p *parser) add(e *Error) {
	if p.total++; p.total <= maxErrors {
		p.errs = append(p.errs, e)
	}
}

func (p *parser) document(root *yaml.Node) {
	p.docErrs = 0
	p.pos = map[string]position{"": posOf(root)}
	p.keyPos = map[string]position{}
	p.keys = map[string][]string{}
	if root.Kind != yaml.MappingNode {
		p.fail(root, "", "a document must be a mapping of apiVersion, kind, metadata and spec")
		return
	}
	// A wrong apiVersion or kind (another tool's file) says so once,
	// rather than as a list of unknown fields.
	pairs := p.pairs(root, "")
	for _, k := range []struct{ field, want string }{{"apiVersion", APIVersion}, {"kind", Kind}} {
		var v *yaml.Node
		for _, kv := range pairs {
			if kv.key.Value == k.field {
				v = p.resolve(kv.value)
			}
		}
		switch {
		case v == nil || isNull(v):
			p.fail(root, k.field, fmt.Sprintf("is required: %s", k.want))
		case v.Kind != yaml.ScalarNode || v.Value != k.want:
			p.fail(v, k.field, fmt.Sprintf("%s is not supported: use %s", describe(v), k.want))
		}
	}
	if p.docErrs > 0 {
		return
	}
	v := p.object(pairs, documentType, "")
	if p.docErrs > 0 || p.budget < 0 {
		return
	}
	raw, err := json.Marshal(v)
	if err != nil {
		p.fail(root, "", "cannot encode: "+err.Error())
		return
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		// The walk checks types and fields first, so this is a safety net.
		field := ""
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field = te.Field
		}
		p.failAt(p.nearest(field), field, err.Error(), function.ErrInvalid)
		return
	}
	spec := doc.Spec
	spec.Name = doc.Metadata.Name
	spec.Labels = doc.Metadata.Labels
	if err := spec.Validate(); err != nil {
		var fe *function.FieldError
		if !errors.As(err, &fe) {
			p.failAt(p.pos[""], "", err.Error(), err)
			return
		}
		path, at, fe := p.locate(spec, fe)
		p.failAt(at, path, fe.Reason, fe)
		return
	}
	line := p.nearest("metadata.name").line
	if first, dup := p.names[spec.Name]; dup {
		p.failAt(p.nearest("metadata.name"), "metadata.name", fmt.Sprintf("%q is defined twice: on line %d and here", spec.Name, first), function.ErrInvalid)
		return
	}
	p.names[spec.Name] = line
	p.funcs = append(p.funcs, Function{Spec: spec, File: p.file, Line: line, Warnings: p.deprecated(spec)})
}

// deprecated warns of the older fields replicas and autoscaling, saying
// which scale they stand for.
func (p *parser) deprecated(s function.Spec) []*Error {
	var ws []*Error
	for _, f := range []struct {
		name string
		set  bool
	}{{"replicas", s.Replicas != nil}, {"autoscaling", s.Autoscaling != nil}} {
		if !f.set {
			continue
		}
		path := "spec." + f.name
		at := p.keyPos[path]
		msg := "is deprecated, mapped to scale"
		switch sc := s.ScaleSpec(); {
		case f.name == "replicas" && s.Autoscaling != nil:
			msg = "is deprecated, and ignored as autoscaling is given too: remove it"
		case sc != nil:
			msg += ": write " + scaleYAML(sc, f.name == "autoscaling")
		}
		ws = append(ws, &Error{File: p.file, Line: at.line, Column: at.col, Field: path, Msg: msg})
	}
	return ws
}

// scaleYAML writes sc as a function file's flow mapping, the target and
// metric only when they matter.
func scaleYAML(sc *function.Scale, cpu bool) string {
	if !cpu {
		return fmt.Sprintf("scale: {min: %d, max: %d}", sc.Min, sc.Max)
	}
	return fmt.Sprintf("scale: {min: %d, max: %d, target: %d, metric: %s}", sc.Min, sc.Max, sc.Target, sc.Metric)
}

// nearest returns the position of path, or of its nearest ancestor there is.
func (p *parser) nearest(path string) position {
	for {
		if at, ok := p.pos[path]; ok {
			return at
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return p.pos[""]
		}
		path = path[:i]
	}
}

// docPath maps a path of function.Spec to the document's: name and labels
// are metadata's.
func docPath(field string) string {
	switch {
	case field == "name" || field == "labels":
		return "metadata." + field
	case strings.HasPrefix(field, "labels."):
		return "metadata." + field
	}
	return "spec." + field
}

// locate places a validation error on its line. Validate names maps as a
// whole ("env") and walks them in random order, so each entry is checked on
// its own, in file order, to name the first bad one.
func (p *parser) locate(s function.Spec, fe *function.FieldError) (string, position, *function.FieldError) {
	check := func(t function.Spec, field string) *function.FieldError {
		var e *function.FieldError
		if errors.As(t.Validate(), &e) && e.Field == field {
			return e
		}
		return nil
	}
	switch {
	case fe.Field == "env" || fe.Field == "labels":
		mapPath := docPath(fe.Field)
		for _, k := range p.keys[mapPath] {
			t := s
			if fe.Field == "env" {
				t.Env = map[string]string{k: s.Env[k]}
			} else {
				t.Labels = map[string]string{k: s.Labels[k]}
			}
			if e := check(t, fe.Field); e != nil {
				path := keyPath(mapPath, k)
				return path, p.keyPos[path], e
			}
		}
	case strings.HasPrefix(fe.Field, "resources.") && s.Resources != nil:
		for _, kind := range []string{"requests", "limits"} {
			m := s.Resources.Requests
			if kind == "limits" {
				m = s.Resources.Limits
			}
			mapPath := "spec.resources." + kind
			for _, k := range p.keys[mapPath] {
				r := &function.Resources{}
				if kind == "requests" {
					r.Requests = map[string]string{k: m[k]}
				} else {
					r.Limits = map[string]string{k: m[k]}
				}
				t := s
				t.Resources = r
				var e *function.FieldError
				if !errors.As(t.Validate(), &e) || !strings.HasPrefix(e.Field, "resources.") {
					continue
				}
				path := keyPath(mapPath, k)
				if e.Field == "resources."+kind {
					return path, p.keyPos[path], e // the resource's name is wrong
				}
				return path, p.nearest(path), e
			}
		}
	case fe.Field == "invocation.retry.retryOn" && s.Invocation.Retry != nil:
		for i, o := range s.Invocation.Retry.RetryOn {
			t := s
			r := *s.Invocation.Retry
			r.RetryOn = []string{o}
			t.Invocation.Retry = &r
			if e := check(t, fe.Field); e != nil {
				path := fmt.Sprintf("spec.invocation.retry.retryOn[%d]", i)
				return path, p.nearest(path), e
			}
		}
	case fe.Field == "scale" && s.Mode() == function.ModeHTTP && (s.Replicas != nil || s.Autoscaling != nil):
		// Both the scale and the older form it replaces: name the older
		// one, which is what to remove.
		older := "replicas"
		if s.Replicas == nil {
			older = "autoscaling"
		}
		path := "spec." + older
		return path, p.keyPos[path], &function.FieldError{Field: older, Reason: "give scale or the older " + older + ", not both: remove " + older + " (scale replaces it)"}
	}
	path := docPath(fe.Field)
	return path, p.nearest(path), fe
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// keyPath is the path of a map's entry: env.LANG, or labels["app.kubernetes.io/name"].
func keyPath(mapPath, key string) string {
	if plainKey.MatchString(key) {
		return mapPath + "." + key
	}
	return mapPath + "[" + strconv.Quote(key) + "]"
}
