package main

import (
	"bufio"
	"bytes"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/edgefn/edgefn/runtime/manifest"
)

// No Docker engine runs where the tests run: these tests check docker-compose.yml, the
// Dockerfile, .dockerignore and the collector's configuration against each other, against
// `edgefn serve`'s real flags and against the repository's files.

// repoRoot is the repository, two folders up from cmd/edgefn.
const repoRoot = "../.."

// The services docker-compose.yml must have.
var (
	gatewayServices = []string{"edgefn-1", "edgefn-2"}
	otherServices   = []string{"redis", "rabbitmq", "otel-collector", "jaeger"}
)

type composeFile struct {
	Name     string                    `yaml:"name"`
	Gateway  yaml.Node                 `yaml:"x-gateway"` // the anchor the gateways merge
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Build       string            `yaml:"build"`
	Image       string            `yaml:"image"`
	Restart     string            `yaml:"restart"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
	Ports           []string `yaml:"ports"`
	Volumes         []string `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt key is an error here, as it would be for compose
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// serveCommand is a fresh `edgefn serve` command, with every flag it really has.
func serveCommand(t *testing.T) *cobra.Command {
	t.Helper()
	root := newRootCmd(func(string) (string, bool) { return "", false })
	serve, _, err := root.Find([]string{"serve"})
	if err != nil || serve.Name() != "serve" {
		t.Fatalf("no serve command: %v", err)
	}
	return serve
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	for _, name := range append(slices.Clone(gatewayServices), otherServices...) {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	for _, name := range append(slices.Clone(gatewayServices), "redis", "rabbitmq") {
		if s := c.Services[name]; s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] != "CMD" {
			t.Errorf("service %s has no healthcheck [CMD, ...]", name)
		}
	}
	for name, s := range c.Services {
		if s.Image == "" && s.Build == "" {
			t.Errorf("service %s has neither image nor build", name)
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on %s, which is not a service", name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			case d.Condition != "service_healthy" && d.Condition != "service_started":
				t.Errorf("%s depends on %s with condition %q", name, dep, d.Condition)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s mounts the volume %s, which volumes: does not declare", name, src)
			}
		}
	}
	for _, gw := range gatewayServices {
		s := c.Services[gw]
		for _, dep := range []string{"redis", "rabbitmq"} {
			if s.DependsOn[dep].Condition != "service_healthy" {
				t.Errorf("%s does not wait for %s to be healthy", gw, dep)
			}
		}
		if _, ok := s.DependsOn["otel-collector"]; !ok {
			t.Errorf("%s does not depend on otel-collector", gw)
		}
		if s.Build != "." {
			t.Errorf("%s builds %q, want the Dockerfile at the root (.)", gw, s.Build)
		}
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "Dockerfile")); err != nil {
		t.Error(err)
	}
}

func TestComposePortsDoNotCollide(t *testing.T) {
	c := loadCompose(t)
	seen := map[string]string{}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			host, container, ok := strings.Cut(p, ":")
			if !ok || host == "" || container == "" {
				t.Errorf("%s publishes %q, want HOST:CONTAINER", name, p)
				continue
			}
			if other, dup := seen[host]; dup {
				t.Errorf("host port %s is published by %s and %s", host, other, name)
			}
			seen[host] = name
		}
	}
	for _, gw := range gatewayServices {
		if len(c.Services[gw].Ports) == 0 {
			t.Errorf("%s publishes no port", gw)
		}
	}
	for _, ui := range []struct{ service, port string }{{"jaeger", "16686"}, {"rabbitmq", "15672"}} {
		if seen[ui.port] != ui.service {
			t.Errorf("host port %s should be %s's UI, is %q", ui.port, ui.service, seen[ui.port])
		}
	}
}

// TestComposeGatewayFlags checks every `edgefn serve` flag and EDGEFN_ variable of the
// gateways against the flags serve really has, and parses their values as serve would.
func TestComposeGatewayFlags(t *testing.T) {
	c := loadCompose(t)
	df := loadDockerfile(t)
	nodeIDs := map[string]string{}
	for _, gw := range gatewayServices {
		s := c.Services[gw]
		if len(s.Command) == 0 || s.Command[0] != "serve" {
			t.Errorf("%s runs %q, want serve ...", gw, s.Command)
			continue
		}
		serve := serveCommand(t)
		fs := serve.Flags()
		if err := fs.Parse(s.Command[1:]); err != nil {
			t.Errorf("%s: edgefn %s: %v", gw, strings.Join(s.Command, " "), err)
			continue
		}
		if fs.NArg() > 0 {
			t.Errorf("%s: serve takes no arguments, got %q", gw, fs.Args())
		}
		for _, name := range []string{"node-id", "manifests", "data-dir", "listen"} {
			if !fs.Changed(name) {
				t.Errorf("%s: serve has no --%s", gw, name)
			}
		}
		checkEnv(t, gw, s.Environment, serve)

		id := fs.Lookup("node-id").Value.String()
		if other, dup := nodeIDs[id]; dup {
			t.Errorf("%s and %s share --node-id %s", gw, other, id)
		}
		nodeIDs[id] = gw

		_, port, err := net.SplitHostPort(fs.Lookup("listen").Value.String())
		if err != nil {
			t.Errorf("%s: --listen: %v", gw, err)
		}
		for _, p := range s.Ports {
			if _, container, _ := strings.Cut(p, ":"); container != port {
				t.Errorf("%s publishes %s, but listens on %s", gw, p, port)
			}
		}
		if hc := s.Healthcheck; hc != nil && !strings.Contains(strings.Join(hc.Test, " "), "127.0.0.1:"+port+"/") {
			t.Errorf("%s's healthcheck %q does not ask port %s", gw, hc.Test, port)
		}

		grace, _ := fs.GetDuration("grace")
		if stop, err := time.ParseDuration(s.StopGracePeriod); err != nil || stop <= grace {
			t.Errorf("%s: stop_grace_period %q must be longer than --grace %s", gw, s.StopGracePeriod, grace)
		}

		dataDir := fs.Lookup("data-dir").Value.String()
		if !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+dataDir) }) {
			t.Errorf("%s: --data-dir %s is not a volume: deployed functions would not survive a new container", gw, dataDir)
		}
		manifests, _ := fs.GetStringArray("manifests")
		for _, m := range manifests {
			checkImageManifests(t, df, gw, m)
		}
		if static := fs.Lookup("static").Value.String(); static != "" {
			if dir, ok := df.repoPath(static); !ok {
				t.Errorf("%s: --static %s is not copied into the image", gw, static)
			} else if _, err := os.Stat(dir); err != nil {
				t.Errorf("%s: --static %s: %v", gw, static, err)
			}
		}
	}
}

// checkEnv checks the gateway's environment: each EDGEFN_ variable backs a real flag of serve
// (or is one of the broker URL variables serve reads) and holds a value that flag accepts,
// the brokers and the collector are services of the file, and the admin token comes from the
// host's environment.
func checkEnv(t *testing.T, gw string, env map[string]string, serve *cobra.Command) {
	t.Helper()
	byEnv := map[string]*pflag.Flag{}
	serve.Flags().VisitAll(func(f *pflag.Flag) { byEnv[envName(f.Name)] = f })
	aliases := map[string]string{"EDGEFN_REDIS_URL": "redis", "EDGEFN_AMQP_URL": "amqp"}
	for k, v := range env {
		if !strings.HasPrefix(k, envPrefix) {
			continue
		}
		f := byEnv[k]
		if name, ok := aliases[k]; ok {
			f = serve.Flags().Lookup(name)
		}
		if f == nil {
			t.Errorf("%s: %s is no flag of edgefn serve", gw, k)
			continue
		}
		if !strings.Contains(v, "${") {
			if err := f.Value.Set(v); err != nil {
				t.Errorf("%s: %s=%q: %v", gw, k, v, err)
			}
		}
	}
	if tok := env["EDGEFN_ADMIN_TOKEN"]; !strings.HasPrefix(tok, "${EDGEFN_ADMIN_TOKEN") {
		t.Errorf("%s: EDGEFN_ADMIN_TOKEN is %q, want it from the host's environment", gw, tok)
	}
	for k, want := range map[string]string{
		"EDGEFN_REDIS_URL":            "redis",
		"EDGEFN_AMQP_URL":             "rabbitmq",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "otel-collector",
	} {
		u, err := url.Parse(env[k])
		if err != nil || u.Hostname() != want {
			t.Errorf("%s: %s=%q, want a URL of the service %s", gw, k, env[k], want)
		}
	}
	if env["OTEL_SERVICE_NAME"] == "" {
		t.Errorf("%s: no OTEL_SERVICE_NAME", gw)
	}
}

// checkImageManifests parses the manifests that the image holds at imageDir as edgefn will
// find them there, and checks that each plugin they name is one the Dockerfile builds.
func checkImageManifests(t *testing.T, df dockerfile, gw, imageDir string) {
	t.Helper()
	dir, ok := df.repoPath(imageDir)
	if !ok {
		t.Errorf("%s: --manifests %s is not copied into the image", gw, imageDir)
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Errorf("%s: --manifests %s (%s in the repository) holds no manifest", gw, imageDir, dir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Parsed under its path in the image, so that relative handlers resolve there.
		set, err := manifest.Parse(path.Join(imageDir, filepath.Base(f)), data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, fn := range set.Functions {
			name, ok := strings.CutPrefix(fn.Handler, df.functionsDir+"/")
			if !ok {
				t.Errorf("%s: %s's handler is %q in the image, not a plugin in %s", f, fn.Name, fn.Handler, df.functionsDir)
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, "functions", name, "main.go")); err != nil {
				t.Errorf("%s: %s's handler %s is not built by the Dockerfile: no functions/%s/main.go", f, fn.Name, fn.Handler, name)
			}
		}
	}
}

// dockerfile is what the tests need of the Dockerfile.
type dockerfile struct {
	// froms are the stages' base images, in order.
	froms []string
	// copies are the final stage's COPY instructions from the build context: image folder →
	// repository folder.
	copies map[string]string
	// functionsDir is the image folder the functions are built into.
	functionsDir string
	text         string
}

// repoPath maps a path in the image to the repository folder the final stage copied it from.
func (d dockerfile) repoPath(image string) (string, bool) {
	for dst, src := range d.copies {
		if rest, ok := strings.CutPrefix(strings.TrimSuffix(image, "/")+"/", dst); ok {
			return filepath.Join(repoRoot, src, rest), true
		}
	}
	return "", false
}

// instructions returns the Dockerfile's instructions, continuation lines joined, comments
// dropped.
func instructions(text string) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

func loadDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := dockerfile{copies: map[string]string{}, text: string(data)}
	for _, ins := range instructions(d.text) {
		f := strings.Fields(ins)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			d.froms = append(d.froms, f[1])
			clear(d.copies) // only the final stage's copies count
		case "COPY":
			args := slices.DeleteFunc(slices.Clone(f[1:]), func(a string) bool { return strings.HasPrefix(a, "--") })
			if strings.Contains(ins, "--from=") {
				if len(args) == 2 && strings.HasSuffix(args[0], "/bin/") {
					d.functionsDir = strings.TrimSuffix(args[1], "/") + "/functions"
				}
				continue
			}
			dst := args[len(args)-1]
			for _, src := range args[:len(args)-1] {
				if strings.HasSuffix(src, "/") {
					d.copies[strings.TrimSuffix(dst, "/")+"/"] = src
				}
			}
		}
	}
	return d
}

func TestDockerfile(t *testing.T) {
	d := loadDockerfile(t)
	if len(d.froms) < 2 || !strings.HasPrefix(d.froms[0], "golang:1.26") {
		t.Errorf("stages %q, want a golang:1.26 build stage and a run stage", d.froms)
	}
	if d.functionsDir == "" || !strings.Contains(d.text, "/out/bin/functions/$name") {
		t.Errorf("the Dockerfile does not build functions/* into bin/functions, copied from the build stage")
	}
	ignored := dockerignore(t)
	for _, ins := range instructions(d.text) {
		f := strings.Fields(ins)
		if strings.ToUpper(f[0]) != "COPY" || strings.Contains(ins, "--from=") {
			continue
		}
		args := slices.DeleteFunc(slices.Clone(f[1:]), func(a string) bool { return strings.HasPrefix(a, "--") })
		for _, src := range args[:len(args)-1] {
			if src == "." {
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("COPY %s: %v", src, err)
			}
			top := strings.Split(strings.Trim(src, "/"), "/")[0]
			for _, pat := range ignored {
				if ok, _ := path.Match(strings.Trim(pat, "/"), top); ok {
					t.Errorf("COPY %s, but .dockerignore excludes it (%s)", src, pat)
				}
			}
		}
	}
	// The gateway's packages must reach the build: .dockerignore must not exclude them.
	for _, pat := range ignored {
		for _, dir := range []string{"cmd", "gateway", "runtime", "triggers", "internal", "functions", "go.mod", "go.sum"} {
			if ok, _ := path.Match(strings.Trim(pat, "/"), dir); ok {
				t.Errorf(".dockerignore excludes %s (%s), which the build needs", dir, pat)
			}
		}
	}
}

// dockerignore returns the patterns of .dockerignore.
func dockerignore(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var pats []string
	for line := range strings.SplitSeq(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			pats = append(pats, line)
		}
	}
	return pats
}

// TestCollectorConfig checks the collector's pipeline: OTLP in on the port the gateways send
// to, every component of the traces pipeline declared, Jaeger (a service) out.
func TestCollectorConfig(t *testing.T) {
	c := loadCompose(t)
	col := c.Services["otel-collector"]
	var config string
	for _, v := range col.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		dst, _, _ = strings.Cut(dst, ":")
		if slices.Contains(col.Command, "--config="+dst) {
			config = src
		}
	}
	if config == "" {
		t.Fatalf("otel-collector's --config is not a mounted file (command %q, volumes %q)", col.Command, col.Volumes)
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, config))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Receivers  map[string]map[string]any `yaml:"receivers"`
		Processors map[string]any            `yaml:"processors"`
		Exporters  map[string]struct {
			Endpoint string         `yaml:"endpoint"`
			TLS      map[string]any `yaml:"tls"`
		} `yaml:"exporters"`
		Extensions map[string]any `yaml:"extensions"`
		Service    struct {
			Extensions []string `yaml:"extensions"`
			Pipelines  map[string]struct {
				Receivers, Processors, Exporters []string
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", config, err)
	}
	traces, ok := cfg.Service.Pipelines["traces"]
	if !ok {
		t.Fatalf("%s: no traces pipeline", config)
	}
	for _, r := range traces.Receivers {
		if _, ok := cfg.Receivers[r]; !ok {
			t.Errorf("receiver %s is not declared", r)
		}
	}
	for _, p := range traces.Processors {
		if _, ok := cfg.Processors[p]; !ok {
			t.Errorf("processor %s is not declared", p)
		}
	}
	for _, e := range cfg.Service.Extensions {
		if _, ok := cfg.Extensions[e]; !ok {
			t.Errorf("extension %s is not declared", e)
		}
	}
	if len(traces.Exporters) == 0 {
		t.Error("the traces pipeline exports nowhere")
	}
	for _, e := range traces.Exporters {
		exp, ok := cfg.Exporters[e]
		if !ok {
			t.Errorf("exporter %s is not declared", e)
			continue
		}
		host, _, err := net.SplitHostPort(exp.Endpoint)
		if _, svc := c.Services[host]; err != nil || !svc {
			t.Errorf("exporter %s sends to %q, not to a service of docker-compose.yml", e, exp.Endpoint)
		}
	}
	// The gateways send OTLP to the receiver of their protocol: OTEL_EXPORTER_OTLP_PROTOCOL
	// grpc, or http/protobuf (the SDK's default).
	receiverPort := func(protocol string) string {
		protocols, _ := cfg.Receivers["otlp"]["protocols"].(map[string]any)
		p, _ := protocols[protocol].(map[string]any)
		endpoint, _ := p["endpoint"].(string)
		_, port, err := net.SplitHostPort(endpoint)
		if err != nil {
			t.Errorf("otlp %s receiver endpoint %q: %v", protocol, endpoint, err)
		}
		return port
	}
	for _, gw := range gatewayServices {
		env := c.Services[gw].Environment
		protocol := "http"
		if env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc" {
			protocol = "grpc"
		}
		u, err := url.Parse(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
		if port := receiverPort(protocol); err != nil || u.Port() != port {
			t.Errorf("%s sends OTLP/%s to %v, the collector receives it on port %s", gw, protocol, u, port)
		}
	}
}
