package main

import (
	"net/http"
	"strings"
	"testing"
)

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"lisst"}, `edgefn: unknown command "lisst" (did you mean "list"?)`},
		{"unknown flag", []string{"list", "--nope"}, "edgefn: unknown flag: --nope (see 'edgefn list --help')"},
		{"missing argument", []string{"get"}, "edgefn: expects NAME, got 0 arguments (see 'edgefn get --help')"},
		{"extra argument", []string{"list", "x"}, `edgefn: takes no arguments, got ["x"]`},
		{"no manifest", []string{"deploy"}, "edgefn: expects at least one manifest FILE"},
		{"bad output", []string{"list", "-o", "yaml"}, `edgefn: --output "yaml": want text or json`},
		{"bad flag value", []string{"logs", "x", "--tail", "many"}, `invalid argument "many" for "--tail"`},
		{"negative tail", []string{"logs", "x", "--tail", "-1"}, "--tail -1: must be >= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCLI(t, tc.args...)
			wantOutput(t, res, exitUsage, "", tc.want)
			if n := strings.Count(res.stderr, "\n"); n != 1 {
				t.Errorf("stderr has %d lines, want 1: %q", n, res.stderr)
			}
		})
	}
}

func TestNoArgumentsPrintsHelp(t *testing.T) {
	res := runCLI(t)
	if res.code != exitOK || !strings.Contains(res.stdout, "Available Commands") {
		t.Fatalf("exit %d, stdout %q", res.code, res.stdout)
	}
}

func TestEnvBacksFlags(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodDelete, path: "/admin/v1/functions/hello", token: "s3cret",
	})
	env := map[string]string{"EDGEFN_SERVER": url, "EDGEFN_TOKEN": "s3cret"}
	res := cli{env: env}.run(t, "delete", "hello")
	wantOutput(t, res, exitOK, "deleted hello\n")
}

func TestFlagBeatsEnv(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodDelete, path: "/admin/v1/functions/hello", token: "from-flag",
	})
	env := map[string]string{"EDGEFN_SERVER": "http://127.0.0.1:1", "EDGEFN_TOKEN": "from-env"}
	res := cli{env: env}.run(t, "delete", "hello", "--server", url, "--token", "from-flag")
	wantOutput(t, res, exitOK, "deleted hello\n")
}

func TestEnvOfCommandFlags(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions/hello/logs",
		answer: func(w http.ResponseWriter, r *http.Request) {
			if got := r.URL.Query().Get("tail"); got != "7" {
				t.Errorf("tail=%q, want 7 from EDGEFN_TAIL", got)
			}
		},
	})
	env := map[string]string{"EDGEFN_SERVER": url, "EDGEFN_TAIL": "7", "EDGEFN_FOLLOW": ""}
	res := cli{env: env}.run(t, "logs", "hello")
	wantOutput(t, res, exitOK, "")
}

func TestBadEnvValueIsUsageError(t *testing.T) {
	res := cli{env: map[string]string{"EDGEFN_TAIL": "many"}}.run(t, "logs", "hello")
	wantOutput(t, res, exitUsage, "", `edgefn: EDGEFN_TAIL="many": invalid argument "many" for "--tail"`)
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"admin-token":    "EDGEFN_ADMIN_TOKEN",
		"server":         "EDGEFN_SERVER",
		"jwt-public-key": "EDGEFN_JWT_PUBLIC_KEY",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestVersion(t *testing.T) {
	res := runCLI(t, "version")
	if res.code != exitOK || !strings.HasPrefix(res.stdout, "edgefn dev (go1.") || !strings.HasSuffix(res.stdout, ")\n") {
		t.Fatalf("exit %d, stdout %q", res.code, res.stdout)
	}
}
