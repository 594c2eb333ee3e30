package main

import (
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// defaultGOGC is the garbage-collection target of `edgefn serve` and its plugins when neither
// --gogc nor GOGC says otherwise. Both keep a small live heap and allocate per request and
// message, so with Go's default of 100 they collect far more often than they need to
// (bench/README.md has the measurement).
const defaultGOGC = "400"

// tuning is the Go runtime settings of the processes `edgefn serve` runs, in one place: the
// gateway applies them to itself once at start, and every plugin process gets them in its
// environment, where the manifest's env overrides them. They are logged at start and shown by
// `edgefn get` (docs/runtime.md).
type tuning struct {
	// gogc is GOGC for the gateway and every plugin: a percentage, or "off".
	gogc string
	// pluginProcs is GOMAXPROCS of every plugin process, at least 1.
	pluginProcs int
}

// newTuning checks the --gogc and --plugin-gomaxprocs flags. An empty gogc takes GOGC from the
// gateway's environment (lookup), else defaultGOGC; a pluginProcs of 0 is half the gateway's
// processors, since every call a plugin runs also costs the gateway work.
func newTuning(gogc string, pluginProcs int, lookup func(string) (string, bool)) (tuning, error) {
	if gogc == "" {
		gogc = defaultGOGC
		if v, set := lookup("GOGC"); set {
			gogc = v
		}
	}
	if _, err := gcPercent(gogc); err != nil {
		return tuning{}, fmt.Errorf("--gogc: %w", err)
	}
	if pluginProcs < 0 {
		return tuning{}, fmt.Errorf("--plugin-gomaxprocs %d: must be >= 0", pluginProcs)
	}
	if pluginProcs == 0 {
		pluginProcs = max(1, runtime.GOMAXPROCS(0)/2)
	}
	return tuning{gogc: gogc, pluginProcs: pluginProcs}, nil
}

// gcPercent reads a GOGC value as debug.SetGCPercent takes it: "off" is -1.
func gcPercent(s string) (int, error) {
	if strings.EqualFold(s, "off") {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a percentage >= 0 or off", s)
	}
	return n, nil
}

// pluginEnv is what every plugin's environment gets (runtime.Config.PluginEnv).
func (t tuning) pluginEnv() map[string]string {
	return map[string]string{"GOGC": t.gogc, "GOMAXPROCS": strconv.Itoa(t.pluginProcs)}
}

// apply sets the gateway's own GOGC, logs the settings, and returns what puts the previous
// GOGC back (serve runs in-process in tests).
func (t tuning) apply(logger *slog.Logger) (restore func()) {
	n, _ := gcPercent(t.gogc) // checked by newTuning
	prev := debug.SetGCPercent(n)
	env := t.pluginEnv()
	plugin := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		plugin = append(plugin, k+"="+env[k])
	}
	logger.Info("go runtime settings", "gogc", t.gogc, "gomaxprocs", runtime.GOMAXPROCS(0),
		"plugin_env", strings.Join(plugin, " "))
	return func() { debug.SetGCPercent(prev) }
}
