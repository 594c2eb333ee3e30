package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// RewriteSection replaces what lies between the start and end markers of the file at path
// with text, appending the section at the end when the file has neither marker.
func RewriteSection(path, start, end, text string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	section := start + "\n" + text + "\n" + end
	var out bytes.Buffer
	i := bytes.Index(old, []byte(start))
	j := bytes.Index(old, []byte(end))
	switch {
	case i < 0 && j < 0:
		out.Write(old)
		if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
			out.WriteString("\n")
		}
		out.WriteString("\n" + section + "\n")
	case i < 0 || j < i:
		return fmt.Errorf("%s: %s and %s are not a pair in that order", path, start, end)
	default:
		out.Write(old[:i])
		out.WriteString(section)
		out.Write(old[j+len(end):])
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// Thousands formats x rounded, with commas between thousands.
func Thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// CPUModel is the first "model name" of /proc/cpuinfo.
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// LoadAvg is the 1, 5 and 15 minute load average, which shows whether something else ran.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
