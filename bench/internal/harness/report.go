package harness

import (
	"bytes"
	"fmt"
	"os"
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

// Verdict is the result cell of a goal: met or not.
func Verdict(ok bool) string {
	if ok {
		return "**pass**"
	}
	return "**FAIL**"
}

// OtherLoad formats the share of the machine that other processes used during a run, in bold
// when it is over maxOther: a run still disturbed.
func OtherLoad(share, maxOther float64) string {
	s := fmt.Sprintf("%.0f%%", 100*share)
	if share > maxOther {
		s = "**" + s + "**"
	}
	return s
}

// PerRound summarises f over rounds.
func PerRound[R any](rounds []R, f func(R) float64) Summary {
	xs := make([]float64, len(rounds))
	for i, rd := range rounds {
		xs[i] = f(rd)
	}
	return Summarize(xs)
}

// Undisturbed returns the rounds that clean accepts (those in which other processes did not
// disturb a metric's runs), and a note for the table when that is not every round, after sep.
// With no such round it returns them all, and says so.
func Undisturbed[R any](rounds []R, clean func(R) bool, sep string) ([]R, string) {
	var kept []R
	for _, rd := range rounds {
		if clean(rd) {
			kept = append(kept, rd)
		}
	}
	switch {
	case len(kept) == len(rounds):
		return kept, ""
	case len(kept) == 0:
		return rounds, sep + "every round disturbed by other work, not conclusive"
	}
	return kept, fmt.Sprintf("%s%d of %d rounds undisturbed", sep, len(kept), len(rounds))
}
