package manifest

import (
	"encoding/json"
	"errors"

	"gopkg.in/yaml.v3"

	"github.com/edgefn/edgefn/internal/cron"
)

// scheduleTrigger decodes a `schedule:` entry, compiling its expression in its zone.
func (d *decoder) scheduleTrigger(n *yaml.Node, path string) *ScheduleTrigger {
	t := &ScheduleTrigger{Timezone: "UTC", Retries: DefaultRetries, Backoff: DefaultBackoff}
	m, ok := d.fields(n, path, "cron", "timezone", "data", "overlap", "retries", "backoff", "catchUp")
	if !ok {
		return t
	}
	zoneOK := true
	if s, ok := d.nonEmpty(m["timezone"], join(path, "timezone")); ok {
		t.Timezone = s
		if _, err := cron.Zone(s); err != nil {
			d.errorf(m["timezone"], join(path, "timezone"), "%v", err)
			zoneOK = false
		}
	}
	p := join(path, "cron")
	if v := m["cron"]; v == nil {
		d.errorf(n, p, "required")
	} else if s, ok := d.nonEmpty(v, p); ok {
		t.Cron = s
		tz := t.Timezone
		if !zoneOK {
			tz = "" // the zone's own error is enough; still check the expression
		}
		sched, err := cron.Parse(s, tz)
		if err != nil {
			d.errorf(v, p, "%v", err)
		}
		t.Schedule = sched
	}
	if v := m["data"]; v != nil {
		t.Data = d.jsonData(v, join(path, "data"))
	}
	t.Overlap = d.boolean(m["overlap"], join(path, "overlap"), false)
	// The same shapes and checks as the retries and backoff of queue and stream triggers.
	t.Retries = d.intAtLeast(m["retries"], join(path, "retries"), 0, DefaultRetries)
	t.Backoff = d.duration(m["backoff"], join(path, "backoff"), DefaultBackoff)
	t.CatchUp = d.intBetween(m["catchUp"], join(path, "catchUp"), 0, MaxCatchUp, 0)
	return t
}

// jsonData encodes the YAML value n as JSON, reporting a value JSON cannot hold.
func (d *decoder) jsonData(n *yaml.Node, path string) []byte {
	var v any
	if err := n.Decode(&v); err != nil {
		d.errorf(n, path, "not JSON: %v", err)
		return nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		d.errorf(n, path, "not JSON: %v", jsonReason(err))
		return nil
	}
	return data
}

// jsonReason shortens encoding/json's complaint about a YAML value.
func jsonReason(err error) string {
	var ut *json.UnsupportedTypeError // yaml gives map[any]any for such a mapping
	var uv *json.UnsupportedValueError
	switch {
	case errors.As(err, &ut):
		return "a mapping with keys that are not strings"
	case errors.As(err, &uv):
		return "unsupported value " + uv.Str
	}
	return err.Error()
}

// boolean decodes true or false, returning def when unset.
func (d *decoder) boolean(n *yaml.Node, path string, def bool) bool {
	if n == nil {
		return def
	}
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		d.errorf(n, path, "must be true or false")
		return def
	}
	return v
}
