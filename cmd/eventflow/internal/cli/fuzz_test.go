package cli

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/eventflow/eventflow/pkg/functionfile"
)

// FuzzShellJoin: the command line list and describe print for an argv
// reads back, in a function file's one-line command form, as that argv.
func FuzzShellJoin(f *testing.F) {
	for _, s := range []string{
		"tr\x00a-z\x00A-Z", "sh\x00-c\x00echo it's", "a b\x00\x00$x", "a\rb\x00c\vd\x00e\ff", "a\u00a0b\x00c\ufeffd\x00e\u2028f",
		"\\\x00\"\x00'", "ключ\x00значение", "\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := strings.Split(s, "\x00")
		line := shellJoin(argv)
		got, err := functionfile.SplitCommand(line)
		if err != nil || !reflect.DeepEqual(got, argv) {
			t.Fatalf("%q printed as %s, which reads back as %q, %v", argv, line, got, err)
		}
	})
}

// FuzzJSONToYAML: -o yaml (printDoc) prints any JSON value, as the API's
// answers decode, as YAML that reads back as the same value.
func FuzzJSONToYAML(f *testing.F) {
	for _, s := range []string{
		`{"name":"echo","env":{"N":"123","B":"true","EMPTY":"","MULTI":"a\nb"},"replicas":2,"labels":{"a":"yes"}}`,
		`{"a":[1,2.5,-0,1e3,"1e3",null,true,"null","~","- x",": y","#z"]}`, `[]`, `{}`, `"x"`, `{"":{"":[]}}`,
		`{"k":"\u0000\u0085\u2028\ufeff"}`, `{"a":"'\"\\"}`, `{"n":12345678901234567890}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want any
		if json.Unmarshal(data, &want) != nil {
			return
		}
		var y bytes.Buffer
		if err := printDoc(&y, outYAML, want); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		var back any
		if err := yaml.Unmarshal(y.Bytes(), &back); err != nil {
			t.Fatalf("%s printed as YAML that does not parse: %v\n%s", data, err, y.Bytes())
		}
		// Compare as JSON values (YAML has ints where JSON has numbers).
		b, err := json.Marshal(back)
		if err != nil {
			t.Fatalf("%s printed as YAML that is no JSON value: %v\n%s", data, err, y.Bytes())
		}
		var got any
		if err := json.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s printed as\n%s\nwhich reads back as %s", data, y.Bytes(), b)
		}
	})
}
