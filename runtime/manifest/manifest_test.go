package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, src string) *Set {
	t.Helper()
	set, err := Parse("m/test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return set
}

func TestParseAppliesDefaults(t *testing.T) {
	set := mustParse(t, `
name: hello
handler: bin/hello
triggers:
  - http: {path: /hello}
  - queue: {name: jobs}
  - stream: {name: events}
`)
	if len(set.Functions) != 1 {
		t.Fatalf("got %d functions, want 1", len(set.Functions))
	}
	fn := set.Functions[0]
	abs, _ := filepath.Abs("m/bin/hello")
	if fn.Handler != abs || fn.Build != "" {
		t.Errorf("Handler, Build = %q, %q; want %q, \"\"", fn.Handler, fn.Build, abs)
	}
	if fn.Timeout != 30*time.Second || fn.Concurrency != 100 || fn.Scale != (Scale{Min: 1, Max: 1, Target: 16, Idle: 5 * time.Minute, Stabilization: time.Minute}) {
		t.Errorf("Timeout, Concurrency, Scale = %v, %d, %+v", fn.Timeout, fn.Concurrency, fn.Scale)
	}
	if fn.Breaker != (Breaker{Failures: 5, Cooldown: 5 * time.Second}) {
		t.Errorf("Breaker = %+v", fn.Breaker)
	}
	if fn.File != "m/test.yaml" || fn.Line != 2 {
		t.Errorf("File, Line = %q, %d", fn.File, fn.Line)
	}
	h := fn.Triggers[0].HTTP
	if *h != (HTTPTrigger{Method: "ANY", Path: "/hello", Auth: "none", Async: "allowed"}) {
		t.Errorf("HTTP = %+v", *h)
	}
	q := fn.Triggers[1].Queue
	if *q != (QueueTrigger{Name: "jobs", Prefetch: 16, Retries: 3, Backoff: time.Second, DeadLetter: "jobs.dlq"}) {
		t.Errorf("Queue = %+v", *q)
	}
	s := fn.Triggers[2].Stream
	if *s != (StreamTrigger{Name: "events", Group: "hello", From: "new", Retries: 3, Backoff: time.Second, DeadLetter: "events.dlq"}) {
		t.Errorf("Stream = %+v", *s)
	}
}

func TestExplicitZeroRetries(t *testing.T) {
	set := mustParse(t, `
name: once
build: .
triggers:
  - queue: {name: q, retries: 0}
  - stream: {name: s, retries: 0}
  - queue: {name: q2, retries: ~}
`)
	tr := set.Functions[0].Triggers
	if tr[0].Queue.Retries != 0 || tr[1].Stream.Retries != 0 {
		t.Errorf("explicit retries: 0 gave %d, %d", tr[0].Queue.Retries, tr[1].Stream.Retries)
	}
	if tr[2].Queue.Retries != DefaultRetries {
		t.Errorf("retries: ~ gave %d, want the default", tr[2].Queue.Retries)
	}
}

func TestSourceIsTheDocument(t *testing.T) {
	src := "# header\nname: a\nbuild: .\n---\nname: b\nbuild: .\n...\n--- \nname: c\nbuild: .\n"
	set := mustParse(t, src)
	want := []struct {
		source string
		line   int
	}{
		{"# header\nname: a\nbuild: .\n", 2},
		{"---\nname: b\nbuild: .\n...\n", 5},
		{"--- \nname: c\nbuild: .\n", 9},
	}
	if len(set.Functions) != len(want) {
		t.Fatalf("got %d functions, want %d", len(set.Functions), len(want))
	}
	for i, w := range want {
		fn := set.Functions[i]
		if string(fn.Source) != w.source || fn.Line != w.line {
			t.Errorf("function %d: Source, Line = %q, %d; want %q, %d", i, fn.Source, fn.Line, w.source, w.line)
		}
		// The host stores Source and parses it again on its own.
		if _, err := Parse("stored.yaml", fn.Source); err != nil {
			t.Errorf("function %d: Source does not parse alone: %v", i, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"int is not a duration", "name: a\nbuild: .\ntimeout: 5\n",
			[]string{`m/test.yaml:3: timeout: invalid duration "5"`}},
		{"null name is missing", "name:\nbuild: .\n",
			[]string{`m/test.yaml:1: name: required`}},
		{"repeated key", "name: a\nbuild: .\nname: b\n",
			[]string{`m/test.yaml:3: duplicate field "name"`}},
		{"empty handler", "name: a\nhandler: ''\n",
			[]string{`m/test.yaml:2: handler: must not be empty`}},
		{"alias keeps the anchor's line", "name: a\nbuild: .\ntimeout: &t 0s\nbreaker: {cooldown: *t}\n",
			[]string{`m/test.yaml:3: timeout: must be > 0`, `m/test.yaml:3: breaker.cooldown: must be > 0`}},
		{"self-referencing alias", "name: a\nbuild: .\ntriggers: &x [*x]\n",
			[]string{`m/test.yaml:3: triggers[0]: must be a mapping`}},
		{"unknown anchor", "name: a\nbuild: .\ntimeout: *nope\n",
			[]string{`m/test.yaml:1: yaml: unknown anchor 'nope' referenced`}},
		{"syntax error keeps the other documents", "name: a\nbuild: .\n---\nname: [\n---\nname: B\nbuild: .\n",
			[]string{`m/test.yaml:4: yaml: did not find expected node content`, `m/test.yaml:6: name: must match [a-z][a-z0-9-]{0,62}`}},
		{"scanner error line", "name: a\nbuild: .\n  x: 1\n",
			[]string{`m/test.yaml:3: yaml: mapping values are not allowed in this context`}},
		{"tab indentation", "name: a\n\tbuild: .\n",
			[]string{`m/test.yaml:2: yaml: found a tab character that violates indentation`}},
		{"instances above 64", "name: a\nbuild: .\ninstances: 65\n",
			[]string{`m/test.yaml:3: instances: must be between 1 and 64`}},
		{"instances and scale", "name: a\nbuild: .\ninstances: 2\nscale: {max: 4}\n",
			[]string{`m/test.yaml:4: scale: instances and scale cannot both be set: instances: N is scale min = max = N`}},
		{"scale out of range", "name: a\nbuild: .\nscale:\n  min: 5\n  max: 4\n  target: 0\n  idle: 0s\n  stabilization: soon\n  burst: 1\n",
			[]string{`m/test.yaml:4: scale.min: must be at most scale.max (4)`,
				`m/test.yaml:6: scale.target: must be >= 1`, `m/test.yaml:7: scale.idle: must be > 0`,
				`m/test.yaml:8: scale.stabilization: invalid duration "soon"`, `m/test.yaml:9: scale: unknown field "burst"`}},
		{"limits out of range", "name: a\nbuild: .\nlimits:\n  memory: 8Mi\n  processes: 2\n  files: x\n  cpu: 0\n",
			[]string{`m/test.yaml:4: limits.memory: must be at least 32Mi`, `m/test.yaml:5: limits.processes: must be >= 16`,
				`m/test.yaml:6: limits.files: must be an integer`, `m/test.yaml:7: limits.cpu: must be a number of cores between 0.01 and 1024, like 0.5 or 2`}},
		{"limits bad size and field", "name: a\nbuild: .\nlimits: {memory: 1TB, disk: 1}\n",
			[]string{`m/test.yaml:3: limits: unknown field "disk"`, `m/test.yaml:3: limits.memory: must be a size like 256Mi or 1Gi`}},
		{"sandbox is on or off", "name: a\nbuild: .\nsandbox: false\n",
			[]string{`m/test.yaml:3: sandbox: must be on or off`}},
		{"complex key", "name: a\nbuild: .\n? [x]\n: 1\n",
			[]string{`m/test.yaml:3: keys must be strings`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := Parse("m/test.yaml", []byte(tt.src))
			if set != nil {
				t.Errorf("Parse returned a Set with errors")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Parse error = %v, want an ErrorList", err)
			}
			if got := err.Error(); got != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestScale: `scale:` takes its defaults for what it leaves out, a zero stabilization, and
// max defaults to at least min.
func TestScale(t *testing.T) {
	tests := []struct {
		src  string
		want Scale
	}{
		{"scale: {}", Scale{Min: 0, Max: 8, Target: 16, Idle: 5 * time.Minute, Stabilization: time.Minute}},
		{"scale: {min: 10}", Scale{Min: 10, Max: 10, Target: 16, Idle: 5 * time.Minute, Stabilization: time.Minute}},
		{"scale: {min: 1, max: 3, target: 2, idle: 2s, stabilization: 0s}", Scale{Min: 1, Max: 3, Target: 2, Idle: 2 * time.Second}},
		{"instances: 3", Scale{Min: 3, Max: 3, Target: 16, Idle: 5 * time.Minute, Stabilization: time.Minute}},
	}
	for _, tt := range tests {
		set, err := Parse("m.yaml", []byte("name: a\nbuild: .\n"+tt.src+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if got := set.Functions[0].Scale; got != tt.want {
			t.Errorf("%s: Scale = %+v, want %+v", tt.src, got, tt.want)
		}
	}
}

// TestLimits: `limits:` takes sizes in powers of two and fractions of cores, and what it
// leaves out keeps its default; `sandbox: off` is read.
func TestLimits(t *testing.T) {
	set, err := Parse("l.yaml", []byte("name: a\nbuild: .\nsandbox: off\nlimits: {memory: 1Gi, cpu: 0.5}\n---\nname: b\nbuild: .\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := set.Functions[0], set.Functions[1]
	want := Limits{Memory: 1 << 30, Processes: DefaultProcesses, Files: DefaultFiles, CPU: 0.5}
	if a.Limits != want || !a.Unsandboxed {
		t.Errorf("a: limits %+v, unsandboxed %v; want %+v, true", a.Limits, a.Unsandboxed, want)
	}
	if b.Limits != DefaultLimits || b.Unsandboxed {
		t.Errorf("b: limits %+v, unsandboxed %v; want the defaults, sandboxed", b.Limits, b.Unsandboxed)
	}
}

func TestEmptyFilesAreValid(t *testing.T) {
	for _, src := range []string{"", "\n", "# nothing\n", "---\n---\n", "~\n", "...\n"} {
		set, err := Parse("empty.yaml", []byte(src))
		if err != nil || set == nil || len(set.Functions)+len(set.Topics) != 0 {
			t.Errorf("Parse(%q) = %+v, %v; want an empty Set", src, set, err)
		}
	}
}

func TestManyErrorsReportedTogether(t *testing.T) {
	data, err := os.ReadFile("testdata/bad/many-errors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("testdata/bad/many-errors.yaml", data)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error = %v, want an ErrorList", err)
	}
	if len(list) != 22 {
		t.Errorf("got %d errors, want 22:\n%v", len(list), err)
	}
	for i := 1; i < len(list); i++ {
		if list[i].Line < list[i-1].Line {
			t.Errorf("errors not sorted by line: %v before %v", list[i-1], list[i])
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{"m.yaml", 14, "triggers[1].queue.retries", "must be >= 0"}, "m.yaml:14: triggers[1].queue.retries: must be >= 0"},
		{Error{"m.yaml", 3, "", `unknown field "x"`}, `m.yaml:3: unknown field "x"`},
		{Error{"gone.yaml", 0, "", "open: no such file or directory"}, "gone.yaml: open: no such file or directory"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	list := ErrorList{{"b.yaml", 1, "", "x"}, {"a.yaml", 9, "", "y"}, {"a.yaml", 2, "", "z"}}
	if got, want := list.err().Error(), "a.yaml:2: z\na.yaml:9: y\nb.yaml:1: x"; got != want {
		t.Errorf("ErrorList:\n%s\nwant:\n%s", got, want)
	}
	if ErrorList(nil).err() != nil {
		t.Error("an empty ErrorList is a non-nil error")
	}
}

func TestYAMLErrorLine(t *testing.T) {
	tests := []struct {
		err      string
		line     int
		wantLine int
		wantMsg  string
	}{
		{"yaml: line 4: mapping values are not allowed in this context", 0, 4, "mapping values are not allowed in this context"},
		{"yaml: line 4: did not find expected key", 0, 5, "did not find expected key"},
		{"yaml: did not find expected key", 0, 1, "did not find expected key"},
		{"yaml: control characters are not allowed", 0, 1, "control characters are not allowed"},
	}
	for _, tt := range tests {
		line, msg := yamlError(errors.New(tt.err))
		if line != tt.wantLine || msg != tt.wantMsg {
			t.Errorf("yamlError(%q) = %d, %q; want %d, %q", tt.err, line, msg, tt.wantLine, tt.wantMsg)
		}
	}
}

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		src  string
		want []segment
	}{
		{"a: 1\n", []segment{{1, []byte("a: 1\n")}}},
		{"a: 1\n---\nb: 2", []segment{{1, []byte("a: 1\n")}, {2, []byte("---\nb: 2")}}},
		{"---\na: 1\n", []segment{{1, []byte("---\na: 1\n")}}},
		{"a: 1\r\n---\r\nb: 2\r\n", []segment{{1, []byte("a: 1\r\n")}, {2, []byte("---\r\nb: 2\r\n")}}},
		{"a: 1\n...\nb: 2\n", []segment{{1, []byte("a: 1\n...\n")}, {3, []byte("b: 2\n")}}},
		{"# c\n%YAML 1.1\n---\na: 1\n", []segment{{1, []byte("# c\n%YAML 1.1\n---\na: 1\n")}}},
		{"a: |\n  ---x\n----\n", []segment{{1, []byte("a: |\n  ---x\n----\n")}}},
		{"--- |\n text\n--- >\n more\n", []segment{{1, []byte("--- |\n text\n")}, {3, []byte("--- >\n more\n")}}},
	}
	for _, tt := range tests {
		got := splitDocuments([]byte(tt.src))
		if len(got) != len(tt.want) {
			t.Errorf("splitDocuments(%q) = %d segments, want %d", tt.src, len(got), len(tt.want))
			continue
		}
		for i := range got {
			if got[i].line != tt.want[i].line || string(got[i].data) != string(tt.want[i].data) {
				t.Errorf("splitDocuments(%q)[%d] = %d %q, want %d %q", tt.src, i,
					got[i].line, got[i].data, tt.want[i].line, tt.want[i].data)
			}
		}
	}
}

func TestAbsolutePathsStay(t *testing.T) {
	set := mustParse(t, "name: a\nhandler: /opt/bin/../bin/a\n---\nname: b\nbuild: ../fns/b\n")
	if got := set.Functions[0].Handler; got != "/opt/bin/a" {
		t.Errorf("Handler = %q, want /opt/bin/a", got)
	}
	want, _ := filepath.Abs("fns/b")
	if got := set.Functions[1].Build; got != want {
		t.Errorf("Build = %q, want %q", got, want)
	}
}
