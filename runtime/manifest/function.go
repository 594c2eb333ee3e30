package manifest

import (
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults applied to a function document (docs/manifest.md).
const (
	DefaultTimeout         = 30 * time.Second
	DefaultConcurrency     = 100
	DefaultInstances       = 1
	MaxInstances           = 64
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 5 * time.Second
)

// Function is one validated function document, defaults applied.
type Function struct {
	// Name is unique among deployed functions; [a-z][a-z0-9-]{0,62}.
	Name string
	// Handler is the absolute path of the plugin binary, resolved against the
	// manifest file's folder; "" when Build is set.
	Handler string
	// Build is the absolute path of the Go package folder that edgefn builds;
	// "" when Handler is set.
	Build string
	// SHA256 is the expected checksum of the binary in lowercase hex, or ""
	// for no check.
	SHA256 string
	// Timeout bounds one invocation; default 30s.
	Timeout time.Duration
	// Concurrency bounds in-flight invocations across instances; default 100.
	Concurrency int
	// Scale bounds the function's plugin processes: `scale:`, or `instances: N` (Min = Max =
	// N); default one warm process.
	Scale Scale
	// Env is passed to the plugin process; nil when none.
	Env map[string]string
	// Breaker is the circuit breaker setting, defaults applied.
	Breaker Breaker
	// Unsandboxed is `sandbox: off`: the plugin runs as the gateway's own child, unconfined
	// and without limits (docs/security.md). For local development only.
	Unsandboxed bool
	// Limits bound each plugin process, defaults applied.
	Limits Limits
	// Triggers are the function's bindings, in manifest order.
	Triggers []Trigger
	// File is the manifest file name as given by the caller, for messages.
	File string
	// Line is the line in File where the document's content starts.
	Line int
	// Source is the raw YAML of this one document, so the host can store it.
	// It is a copy: the caller may reuse the buffer it passed to Parse.
	Source []byte

	nameLine int                       // line of the name value, for duplicate-name errors
	routes   map[*HTTPTrigger]position // where each route is, for conflict errors
}

// Breaker is the field `breaker:` (docs/manifest.md, docs/guarantees.md): after Failures
// consecutive failures (5xx, crash, timeout) the circuit opens, and after
// Cooldown one probe invocation is let through.
type Breaker struct {
	// Failures is `failures`; default 5, and 0 in YAML also means the default.
	Failures int
	// Cooldown is `cooldown`; default 5s.
	Cooldown time.Duration
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]*$`) // and at most 63 bytes (a {0,62} would compile into 62 copies)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	sha256RE  = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// function decodes a function document rooted at root, whose raw text is src.
func (d *decoder) function(root *yaml.Node, src []byte) *Function {
	fn := &Function{
		Timeout:     DefaultTimeout,
		Concurrency: DefaultConcurrency,
		Scale:       fixedScale(DefaultInstances),
		Breaker:     Breaker{Failures: DefaultBreakerFailures, Cooldown: DefaultBreakerCooldown},
		Limits:      DefaultLimits,
		File:        d.file,
		Line:        d.line(root),
		Source:      src,
	}
	m, ok := d.fields(root, "", "kind", "name", "handler", "build", "sha256", "timeout",
		"concurrency", "instances", "scale", "env", "breaker", "sandbox", "limits", "triggers")
	if !ok {
		return fn
	}
	if v := m["name"]; v == nil {
		d.errorf(root, "name", "required")
	} else if s, ok := d.str(v, "name"); ok {
		fn.Name, fn.nameLine = s, d.line(v)
		if len(s) > 63 || !nameRE.MatchString(s) {
			d.errorf(v, "name", "must match [a-z][a-z0-9-]{0,62}")
		}
	}
	if (m["handler"] == nil) == (m["build"] == nil) {
		d.errorf(root, "handler", "exactly one of handler or build is required")
	}
	fn.Handler, _ = d.filePath(m["handler"], "handler")
	fn.Build, _ = d.filePath(m["build"], "build")
	if s, ok := d.str(m["sha256"], "sha256"); ok {
		if sha256RE.MatchString(s) {
			fn.SHA256 = strings.ToLower(s)
		} else {
			d.errorf(m["sha256"], "sha256", "must be 64 hex characters")
		}
	}
	fn.Timeout = d.duration(m["timeout"], "timeout", DefaultTimeout)
	fn.Concurrency = d.intAtLeast(m["concurrency"], "concurrency", 1, DefaultConcurrency)
	switch {
	case m["instances"] != nil && m["scale"] != nil:
		d.errorf(m["scale"], "scale", "instances and scale cannot both be set: instances: N is scale min = max = N")
	case m["scale"] != nil:
		fn.Scale = d.scale(m["scale"])
	default:
		fn.Scale = fixedScale(d.intBetween(m["instances"], "instances", 1, MaxInstances, DefaultInstances))
	}
	fn.Env = d.env(m["env"])
	if v := m["breaker"]; v != nil {
		fn.Breaker = d.breaker(v)
	}
	fn.Unsandboxed = d.oneOf(m["sandbox"], "sandbox", "on", "must be on or off", "on", "off") == "off"
	if v := m["limits"]; v != nil {
		fn.Limits = d.limits(v)
	}
	fn.Triggers = d.triggers(m["triggers"], fn.Name)
	fn.routes = d.routes
	return fn
}

// env decodes the environment mapping. Values may be any scalar, as
// `PORT: 8080` is clearly meant as the string "8080".
func (d *decoder) env(n *yaml.Node) map[string]string {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "env", "must be a mapping")
		return nil
	}
	env := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		name, ok := d.key(k, "env")
		switch {
		case !ok:
			continue
		case !envNameRE.MatchString(name):
			d.errorf(k, "env", "invalid variable name %q: must match [A-Za-z_][A-Za-z0-9_]*", name)
			continue
		}
		if _, dup := env[name]; dup {
			d.errorf(k, "env", "duplicate variable %q", name)
			continue
		}
		if isNull(v) {
			env[name] = ""
		} else if s, ok := d.str(v, join("env", name)); ok {
			env[name] = s
		}
	}
	return env
}

// breaker decodes the `breaker:` mapping.
func (d *decoder) breaker(n *yaml.Node) Breaker {
	b := Breaker{Failures: DefaultBreakerFailures, Cooldown: DefaultBreakerCooldown}
	m, ok := d.fields(n, "breaker", "failures", "cooldown")
	if !ok {
		return b
	}
	if f := d.intAtLeast(m["failures"], "breaker.failures", 0, 0); f > 0 {
		b.Failures = f
	}
	b.Cooldown = d.duration(m["cooldown"], "breaker.cooldown", DefaultBreakerCooldown)
	return b
}
