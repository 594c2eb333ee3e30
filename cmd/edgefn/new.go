package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/runtime/manifest"
)

// edgefnModule is the module path of edgefn, which a scaffold's code imports.
const edgefnModule = "github.com/edgefn/edgefn"

func newNewCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Scaffold a function: main.go, its test and its manifest",
		Long: "new writes a function that builds, passes its test and deploys as it is:\n" +
			"main.go (the handler, with runtime/fn), main_test.go (with runtime/fn/fntest) and\n" +
			"NAME.yaml (a manifest with `build: .`, bound to GET /NAME).\n" +
			"The folder is --dir, else functions/NAME when the current folder has a functions/\n" +
			"folder (as an edgefn checkout does), else ./NAME. It must not exist yet.\n" +
			"NAME follows the manifest rule: [a-z][a-z0-9-]{0,62}.",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return scaffold(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "folder to create (default functions/NAME if ./functions exists, else ./NAME)")
	return cmd
}

// scaffoldFile is one file of a scaffold: its name in the folder and its template.
type scaffoldFile struct {
	name string
	tmpl *template.Template
}

// scaffoldData fills the templates.
type scaffoldData struct {
	// Name is the function's name.
	Name string
}

// scaffold writes the function name into dir (see newNewCmd for the default), refusing a bad
// name and an existing folder, and says on stdout what it made and what to run next.
func scaffold(stdout, stderr io.Writer, name, dir string) error {
	if dir == "" {
		dir = defaultScaffoldDir(name)
	}
	data := scaffoldData{Name: name}
	files := []scaffoldFile{
		{"main.go", scaffoldMain},
		{"main_test.go", scaffoldTest},
		{name + ".yaml", scaffoldManifest},
	}
	rendered := make([][]byte, len(files))
	for i, f := range files {
		var b bytes.Buffer
		if err := f.tmpl.Execute(&b, data); err != nil {
			return fmt.Errorf("template %s: %w", f.name, err)
		}
		rendered[i] = b.Bytes()
	}
	// The manifest goes through the same validation as a deploy: a name the manifest rule
	// refuses, or whose route is reserved (/admin, /metrics, ...), is refused here.
	if _, err := manifest.Parse(filepath.Join(dir, files[2].name), rendered[2]); err != nil {
		return fmt.Errorf("cannot scaffold %q: %s", name, manifestProblems(err))
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s already exists: choose another NAME or --dir", dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", dir, unwrapPath(err))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, unwrapPath(err))
	}
	for i, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, rendered[i], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, unwrapPath(err))
		}
		fmt.Fprintf(stdout, "created %s\n", path)
	}
	if note := moduleNote(dir); note != "" {
		fmt.Fprintln(stderr, note)
	}
	pkg := dir
	if !filepath.IsAbs(pkg) && !strings.HasPrefix(pkg, ".") {
		pkg = "./" + pkg
	}
	fmt.Fprintf(stdout, "next:\n  go test %s\n  edgefn deploy %s\n  curl 'localhost:8080/%s?name=ada'\n  edgefn dev %[2]s    # redeploys on every save\n",
		pkg, filepath.Join(dir, files[2].name), name)
	return nil
}

// defaultScaffoldDir is functions/NAME when the working folder has a functions folder (an
// edgefn checkout, or a project laid out like one), else ./NAME, as `cargo new` does.
func defaultScaffoldDir(name string) string {
	if info, err := os.Stat("functions"); err == nil && info.IsDir() {
		return filepath.Join("functions", name)
	}
	return name
}

// manifestProblems is the messages of a manifest error without the file and line, which
// name a file that does not exist yet, joined with "; ".
func manifestProblems(err error) string {
	var list manifest.ErrorList
	if !errors.As(err, &list) {
		return err.Error()
	}
	msgs := make([]string, len(list))
	for i, e := range list {
		msgs[i] = e.Msg
		if e.Path != "" {
			msgs[i] = e.Path + ": " + e.Msg
		}
	}
	return strings.Join(msgs, "; ")
}

// moduleNote says what the user must add when the scaffold in dir is not in a Go module that
// can resolve github.com/edgefn/edgefn, and is "" when it is (inside an edgefn checkout, or
// a module that requires edgefn).
func moduleNote(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	gomod := findGoMod(abs)
	if gomod == "" {
		return fmt.Sprintf("note: %s is not inside a Go module; to build it, make one that can resolve %s:\n"+
			"  cd %s && go mod init example.com/%s && go mod edit -replace %[2]s=/path/to/edgefn && go mod tidy",
			dir, edgefnModule, dir, filepath.Base(abs))
	}
	mod, requires := readGoMod(gomod)
	if mod == edgefnModule || requires {
		return ""
	}
	return fmt.Sprintf("note: the module of %s (%s) does not require %s yet; add it (go get %[3]s,\n"+
		"or go mod edit -replace %[3]s=/path/to/edgefn && go mod tidy) before building", dir, gomod, edgefnModule)
}

// findGoMod returns the go.mod file of the module that dir (which may not exist yet) belongs
// to, or "".
func findGoMod(dir string) string {
	for {
		p := filepath.Join(dir, "go.mod")
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// readGoMod returns the module path of the go.mod file at path and whether it mentions the
// edgefn module in a require or replace line.
func readGoMod(path string) (module string, requires bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			module = strings.Trim(fields[1], `"`)
		}
		for _, w := range fields {
			if strings.Trim(w, `"`) == edgefnModule && fields[0] != "module" {
				requires = true
			}
		}
	}
	return module, requires
}

var scaffoldMain = template.Must(template.New("main.go").Parse(`// Command {{.Name}} is an edgefn function: GET /{{.Name}}?name=ada answers
// {"message":"hello, ada"}. Deploy it with ` + "`edgefn deploy {{.Name}}.yaml`" + `, or run
// ` + "`edgefn dev {{.Name}}.yaml`" + ` to redeploy it on every save.
package main

import (
	"context"

	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	fn.Serve(fn.HandlerFunc(Handle))
}

// Reply is the function's answer.
type Reply struct {
	Message string ` + "`json:\"message\"`" + `
}

// Handle greets the name in the query. Handlers run concurrently: keep shared state safe.
func Handle(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	name := ev.Query.Get("name")
	if name == "" {
		name = "world"
	}
	if len(name) > 100 {
		return nil, fn.Errorf(400, "name is longer than 100 bytes") // the caller gets 400 and this message
	}
	fn.Logger(ctx).Info("greeting", "name", name) // shows in ` + "`edgefn logs {{.Name}}`" + `
	return fn.JSON(200, Reply{Message: "hello, " + name}), nil
}
`))

var scaffoldTest = template.Must(template.New("main_test.go").Parse(`package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func TestHandle(t *testing.T) {
	cases := []struct {
		target string
		status int
		want   string
	}{
		{"/{{.Name}}?name=ada", 200, ` + "`{\"message\":\"hello, ada\"}`" + `},
		{"/{{.Name}}", 200, ` + "`{\"message\":\"hello, world\"}`" + `},
	}
	for _, c := range cases {
		res, err := fntest.Invoke(t, fn.HandlerFunc(Handle), fntest.HTTP("GET", c.target, nil, nil), 0)
		if err != nil {
			t.Fatalf("%s: %v", c.target, err)
		}
		if res.Status != c.status || string(res.Body) != c.want {
			t.Errorf("%s: got %d %s, want %d %s", c.target, res.Status, res.Body, c.status, c.want)
		}
	}
}

func TestHandleRefusesALongName(t *testing.T) {
	_, err := fntest.Invoke(t, fn.HandlerFunc(Handle), fntest.HTTP("GET", "/{{.Name}}?name="+strings.Repeat("a", 101), nil, nil), 0)
	var fe *fn.Error
	if !errors.As(err, &fe) || fe.Status != 400 {
		t.Fatalf("got %v, want a 400 fn.Error", err)
	}
}
`))

var scaffoldManifest = template.Must(template.New("manifest").Parse(`# The manifest of {{.Name}}: ` + "`edgefn deploy {{.Name}}.yaml`" + ` builds this folder and deploys it.
name: {{.Name}}
build: .          # the Go package edgefn builds (or handler: path/to/binary)
timeout: 5s       # per call: 504 past it
instances: 1      # warm plugin processes
triggers:
  - http:
      method: GET
      path: /{{.Name}}
`))
