package manifest

import (
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Defaults of `limits:` (docs/manifest.md), per plugin process.
const (
	DefaultMemory    = 512 << 20
	DefaultProcesses = 128
	DefaultFiles     = 1024
	// MinMemory is the least memory a Go plugin starts in.
	MinMemory = 32 << 20
)

// Limits is the field `limits:`: what one plugin process of the function may use.
// CPU 0 is no limit.
type Limits struct {
	// Memory in bytes; default 512Mi.
	Memory int64
	// Processes counts the process's threads and children; default 128.
	Processes int
	// Files is the most open descriptors; default 1024.
	Files int
	// CPU is in cores, fractions allowed; default 0, no limit.
	CPU float64
}

// DefaultLimits is `limits:` when a manifest leaves it out.
var DefaultLimits = Limits{Memory: DefaultMemory, Processes: DefaultProcesses, Files: DefaultFiles}

func (d *decoder) limits(n *yaml.Node) Limits {
	l := DefaultLimits
	m, ok := d.fields(n, "limits", "memory", "processes", "files", "cpu")
	if !ok {
		return l
	}
	if v := m["memory"]; v != nil {
		if s, ok := d.str(v, "limits.memory"); ok {
			b, ok := parseBytes(s)
			switch {
			case !ok:
				d.errorf(v, "limits.memory", "must be a size like 256Mi or 1Gi")
			case b < MinMemory:
				d.errorf(v, "limits.memory", "must be at least 32Mi")
			default:
				l.Memory = b
			}
		}
	}
	l.Processes = d.intAtLeast(m["processes"], "limits.processes", 16, DefaultProcesses)
	l.Files = d.intAtLeast(m["files"], "limits.files", 16, DefaultFiles)
	if v := m["cpu"]; v != nil {
		if s, ok := d.str(v, "limits.cpu"); ok {
			c, err := strconv.ParseFloat(s, 64)
			if err != nil || c < 0.01 || c > 1024 || math.IsNaN(c) {
				d.errorf(v, "limits.cpu", "must be a number of cores between 0.01 and 1024, like 0.5 or 2")
			} else {
				l.CPU = c
			}
		}
	}
	return l
}

// parseBytes reads 512, 64Ki, 256Mi, 1Gi (and K, M, G as the same powers of two).
func parseBytes(s string) (int64, bool) {
	units := []struct {
		suffix string
		shift  uint
	}{{"Ki", 10}, {"Mi", 20}, {"Gi", 30}, {"K", 10}, {"M", 20}, {"G", 30}}
	shift := uint(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return 0, false
	}
	return n << shift, true
}
