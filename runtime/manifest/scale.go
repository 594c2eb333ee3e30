package manifest

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of the `scale:` mapping (docs/manifest.md, "Scaling").
const (
	DefaultScaleMin           = 0
	DefaultScaleMax           = 8
	DefaultScaleTarget        = 16
	DefaultScaleIdle          = 5 * time.Minute
	DefaultScaleStabilization = time.Minute
)

// Scale is how many plugin processes of a function run: between Min and Max, as many as keep
// about Target invocations in flight on each (docs/manifest.md, "Scaling"). `instances: N` is
// Min = Max = N.
type Scale struct {
	// Min processes run even with no work; 0 lets the function stop every one after Idle.
	Min int
	// Max processes run at most, 1 to 64.
	Max int
	// Target is the invocations in flight per process the scaler aims for.
	Target int
	// Idle is how long a function with Min 0 runs with no invocation before its processes stop.
	Idle time.Duration
	// Stabilization is how long the scaler waits before it scales down: it takes the highest
	// count it wanted over that window.
	Stabilization time.Duration
}

// Fixed reports whether the count never changes (Min = Max): no scaler is needed.
func (s Scale) Fixed() bool { return s.Min == s.Max }

// fixedScale is the Scale of `instances: n`.
func fixedScale(n int) Scale {
	return Scale{Min: n, Max: n, Target: DefaultScaleTarget, Idle: DefaultScaleIdle,
		Stabilization: DefaultScaleStabilization}
}

// scale decodes the `scale:` mapping.
func (d *decoder) scale(n *yaml.Node) Scale {
	s := Scale{Min: DefaultScaleMin, Max: DefaultScaleMax, Target: DefaultScaleTarget,
		Idle: DefaultScaleIdle, Stabilization: DefaultScaleStabilization}
	m, ok := d.fields(n, "scale", "min", "max", "target", "idle", "stabilization")
	if !ok {
		return s
	}
	s.Min = d.intBetween(m["min"], "scale.min", 0, MaxInstances, DefaultScaleMin)
	s.Max = d.intBetween(m["max"], "scale.max", 1, MaxInstances, max(DefaultScaleMax, s.Min))
	if s.Min > s.Max {
		d.errorf(m["min"], "scale.min", "must be at most scale.max (%d)", s.Max)
		s.Min = s.Max
	}
	s.Target = d.intAtLeast(m["target"], "scale.target", 1, DefaultScaleTarget)
	s.Idle = d.duration(m["idle"], "scale.idle", DefaultScaleIdle)
	if v := m["stabilization"]; isZeroDuration(v) {
		s.Stabilization = 0 // scale down as soon as the load drops
	} else {
		s.Stabilization = d.duration(v, "scale.stabilization", DefaultScaleStabilization)
	}
	return s
}

// isZeroDuration reports whether n is a duration string of zero, such as "0s".
func isZeroDuration(n *yaml.Node) bool {
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return false
	}
	v, err := time.ParseDuration(n.Value)
	return err == nil && v == 0
}
