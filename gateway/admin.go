package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// Deployer changes what is deployed: a runtime.Host, or a shared registry that every node
// follows (docs/cluster.md). Errors that are a *runtime.Error carry their HTTP status.
type Deployer interface {
	// DeployWith deploys m with the plugin binary at binary; sum, when not empty, is its sum
	// (runtime.NewSum) computed while it was uploaded.
	DeployWith(ctx context.Context, m *manifest.Function, binary, sum string, o runtime.ChangeOptions) (runtime.DeployResult, error)
	// RollbackWith makes the version before the current one current again.
	RollbackWith(ctx context.Context, name string, o runtime.ChangeOptions) (runtime.DeployResult, error)
	// Delete removes the function; runtime.ErrNotFound when it is not deployed.
	Delete(ctx context.Context, name string) error
}

var _ Deployer = (*runtime.Host)(nil)

// problemReporter is a Deployer that knows why a function does not run on this node as it
// is deployed (a binary that does not match its sha256, an entry that does not decode).
type problemReporter interface {
	Problem(name string) string
}

// deployerHeader names who deploys, as the client says (edgefn sends user@host); a shared
// registry keeps it with the version.
const deployerHeader = "X-Edgefn-Deployer"

// changeOptions reads ?ifVersion=N and the deployer header of a deploy or rollback.
func changeOptions(c *fiber.Ctx) (runtime.ChangeOptions, error) {
	o := runtime.ChangeOptions{By: c.Get(deployerHeader)}
	if len(o.By) > 128 {
		o.By = o.By[:128]
	}
	if q := c.Query("ifVersion"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			return o, fmt.Errorf("ifVersion %q: want a version number, 1 or more", q)
		}
		o.IfVersion = n
	}
	return o, nil
}

// maxManifestBytes bounds an uploaded manifest.
const maxManifestBytes = 1 << 20

// adminPrefix is the path the admin API lives under (docs/http.md).
const adminPrefix = "/admin"

// underAdmin reports whether path is the admin API's: /admin or below it. Fiber's group
// matches every path that starts with the prefix, so a function route such as /adminpanel
// passes the group's handlers by.
func underAdmin(path string) bool {
	return len(path) >= len(adminPrefix) && (len(path) == len(adminPrefix) || path[len(adminPrefix)] == '/')
}

// mountAdmin registers the admin API under /admin/v1 on app, behind adminAuth. The actions
// that change something are audited; reads are not.
func (s *Server) mountAdmin(app *fiber.App) {
	a := app.Group(adminPrefix, s.adminAuth)
	v1 := a.Group("/v1")
	v1.Get("/version", s.adminVersion)
	v1.Get("/functions", s.adminList)
	v1.Put("/functions/:name", s.audited("deploy", s.adminDeploy))
	v1.Get("/functions/:name", s.adminGet)
	v1.Delete("/functions/:name", s.audited("delete", s.adminDelete))
	v1.Post("/functions/:name/rollback", s.audited("rollback", s.adminRollback))
	v1.Post("/functions/:name/invoke", s.audited("invoke", s.adminInvoke))
	v1.Get("/functions/:name/logs", s.adminLogs)
	v1.Post("/publish", s.audited("publish", s.adminPublish))
	v1.Post("/functions/:name/schedule/run", s.audited("schedule-run", s.adminScheduleRun))
	v1.Post("/functions/:name/schedule/pause", s.audited("schedule-pause", s.adminSchedulePause(true)))
	v1.Post("/functions/:name/schedule/resume", s.audited("schedule-resume", s.adminSchedulePause(false)))
	v1.Get("/dlq/schedule/:name", s.adminDeadLetters)
	v1.Post("/dlq/schedule/:name/redrive", s.audited("redrive", s.adminRedrive))
	v1.Delete("/dlq/schedule/:name", s.audited("purge", s.adminPurge))
	v1.Get("/dlq/:trigger", s.adminDeadLetters)
	v1.Post("/dlq/:trigger/redrive", s.audited("redrive", s.adminRedrive))
	v1.Delete("/dlq/:trigger", s.audited("purge", s.adminPurge))
	v1.Get("/nodes", s.adminNodes)
	v1.Get("/topics", s.adminRules)
	v1.Put("/topics", s.audited("deploy-topics", s.adminDeployRules))
	v1.Post("/topics/rollback", s.audited("rollback-topics", s.adminRollbackRules))
	v1.Get("/topics/:topic/presence", s.adminPresence)
	v1.Get("/debug/goroutines", s.adminGoroutines)
	a.Use(func(c *fiber.Ctx) error {
		if !underAdmin(c.Path()) {
			return c.Next()
		}
		return sendError(c, fiber.StatusNotFound, "not_found", "no admin endpoint "+c.Method()+" "+c.Path())
	})
}

// adminGoroutines reports the gateway's goroutine count, for leak checks (the hostile-input
// tests compare it before and after). It sits behind the admin token, not on /metrics: the
// number is of use to operators and tests, not to the public.
func (s *Server) adminGoroutines(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"goroutines": goruntime.NumGoroutine()})
}

func (s *Server) adminVersion(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"version": s.cfg.Version})
}

func (s *Server) adminList(c *fiber.Ctx) error {
	fns := s.cfg.Host.Functions()
	nodes := s.liveNodes()
	out := make([]FunctionView, 0, len(fns))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, f := range fns {
		v := s.describe(ctx, f)
		v.Nodes = nodes.count(v.Info)
		out = append(out, v)
	}
	return c.JSON(fiber.Map{"functions": out})
}

func (s *Server) function(c *fiber.Ctx) (*runtime.Function, error) {
	name := c.Params("name")
	f := s.cfg.Host.Function(name)
	if f == nil {
		return nil, sendError(c, fiber.StatusNotFound, "not_found", fmt.Sprintf("function %q is not deployed", name))
	}
	return f, nil
}

// adminGet answers a function's state on this node; with a shared registry, also why it does
// not run the registry's version here, even when it does not run at all.
func (s *Server) adminGet(c *fiber.Ctx) error {
	name := c.Params("name")
	problem := ""
	if pr, ok := s.cfg.Deployer.(problemReporter); ok {
		problem = pr.Problem(name)
	}
	f := s.cfg.Host.Function(name)
	if f == nil && problem == "" {
		return sendError(c, fiber.StatusNotFound, "not_found", fmt.Sprintf("function %q is not deployed", name))
	}
	v := FunctionView{Info: runtime.Info{Name: name, State: "failed"}}
	if f != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v = s.describe(ctx, f)
	}
	v.RegistryError = problem
	nodes := s.liveNodes()
	v.Nodes, v.PerNode = nodes.count(v.Info), nodes.each(v.Name)
	return c.JSON(v)
}

func (s *Server) adminDelete(c *fiber.Ctx) error {
	name := c.Params("name")
	if err := s.cfg.Deployer.Delete(context.Background(), name); err != nil {
		if errors.Is(err, runtime.ErrNotFound) {
			return sendError(c, fiber.StatusNotFound, "not_found", fmt.Sprintf("function %q is not deployed", name))
		}
		return sendError(c, fiber.StatusInternalServerError, "internal", "delete failed: "+err.Error())
	}
	return c.JSON(fiber.Map{"name": name, "deleted": true})
}

func (s *Server) adminRollback(c *fiber.Ctx) error {
	name := c.Params("name")
	o, err := changeOptions(c)
	if err != nil {
		return sendError(c, fiber.StatusBadRequest, "bad_request", err.Error())
	}
	res, err := s.cfg.Deployer.RollbackWith(context.Background(), name, o)
	if err != nil {
		var re *runtime.Error
		if errors.As(err, &re) {
			return sendError(c, re.Status, re.Code, re.Message)
		}
		return sendError(c, fiber.StatusUnprocessableEntity, "rollback_failed", err.Error())
	}
	return c.JSON(res)
}

// adminInvoke calls a function directly with the request body as its data.
func (s *Server) adminInvoke(c *fiber.Ctx) error {
	f, err := s.function(c)
	if f == nil {
		return err
	}
	body, ferr := s.readBody(c)
	if ferr != nil {
		return sendFiberError(c, ferr)
	}
	ev := &event.Event{
		ID: requestID(c), Source: "invoke", Time: time.Now().UTC(), Data: body,
		ContentType: string(c.Request().Header.ContentType()), Attempt: 1, Headers: requestHeaders(c),
	}
	ctx, span := startCall(adminCalls, c, "/admin/v1/functions/{name}/invoke")
	defer endCall(c, span)
	if s.cfg.Async != nil && wantsAsync("allowed", c.Get("Prefer")) {
		return s.invokeAsync(ctx, c, f, ev)
	}
	ctx = runtime.WithRequestID(ctx, ev.ID)
	res, err := f.Invoke(ctx, ev)
	if err == nil {
		err = s.applyEffects(ctx, f.Name(), ev, res)
	}
	if err != nil {
		s.logInvokeError(c, f.Name(), err)
		return sendInvokeError(c, err)
	}
	return writeResult(c, res)
}

// adminDeploy takes a multipart upload of `manifest` (the YAML) and `binary` (the plugin) and
// deploys the function named in the path.
func (s *Server) adminDeploy(c *fiber.Ctx) error {
	name := c.Params("name")
	up, err := s.readUpload(c)
	if up != nil {
		defer up.cleanup()
	}
	if err != nil {
		// What is left of the body is read (within a bound) so that the client gets this
		// answer; the connection, in the middle of a form, carries no other request.
		drainBody(c)
		c.Context().SetConnectionClose()
		return sendError(c, fiber.StatusBadRequest, "bad_upload", err.Error())
	}
	if up.manifest == nil {
		return sendError(c, fiber.StatusBadRequest, "bad_upload", "the upload has no manifest part")
	}
	set, err := manifest.Parse(up.manifestName, up.manifest)
	if err != nil {
		var list manifest.ErrorList
		if errors.As(err, &list) {
			details := make([]string, len(list))
			for i, e := range list {
				details[i] = e.Error()
			}
			return sendError(c, fiber.StatusBadRequest, "invalid_manifest", fmt.Sprintf("%d manifest errors", len(list)), details...)
		}
		return sendError(c, fiber.StatusBadRequest, "invalid_manifest", err.Error())
	}
	var m *manifest.Function
	for _, f := range set.Functions {
		if f.Name == name {
			m = f
		}
	}
	if m == nil {
		return sendError(c, fiber.StatusBadRequest, "invalid_manifest", fmt.Sprintf("the manifest does not declare function %q", name))
	}
	o, err := changeOptions(c)
	if err != nil {
		return sendError(c, fiber.StatusBadRequest, "bad_request", err.Error())
	}
	var res runtime.DeployResult
	if up.binary != "" {
		res, err = s.cfg.Deployer.DeployWith(context.Background(), m, up.binary, up.sum, o)
	} else {
		if m.Build == "" {
			return sendError(c, fiber.StatusBadRequest, "bad_upload", "the upload has no binary part and the manifest does not build")
		}
		binary := filepath.Join(up.dir, "handler")
		if err := runtime.Build(context.Background(), m.Build, binary); err != nil {
			return sendError(c, fiber.StatusUnprocessableEntity, "build_failed", err.Error())
		}
		res, err = s.cfg.Deployer.DeployWith(context.Background(), m, binary, "", o)
	}
	if err != nil {
		var re *runtime.Error
		if errors.Is(err, runtime.ErrVersionConflict) && errors.As(err, &re) {
			return sendError(c, re.Status, re.Code, re.Message)
		}
		if errors.As(err, new(manifest.ErrorList)) {
			return sendError(c, fiber.StatusConflict, "conflict", err.Error())
		}
		return sendError(c, fiber.StatusUnprocessableEntity, "deploy_failed", err.Error())
	}
	return c.JSON(res)
}

// upload is a staged deploy upload.
type upload struct {
	dir          string
	manifestName string
	manifest     []byte
	binary       string
	sum          string // the binary's sum (runtime.NewSum), computed while it was written
}

func (u *upload) cleanup() { os.RemoveAll(u.dir) }

// uploadBuffer is how much of an upload is read from the connection at a time.
const uploadBuffer = 256 << 10

// readUpload streams the multipart body to a private staging folder, within UploadLimit.
func (s *Server) readUpload(c *fiber.Ctx) (*upload, error) {
	boundary := string(c.Request().Header.MultipartFormBoundary())
	if boundary == "" {
		return nil, errors.New("expected a multipart/form-data body")
	}
	staging := filepath.Join(s.cfg.DataDir, "uploads")
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	dir, err := os.MkdirTemp(staging, "deploy-")
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	up := &upload{dir: dir, manifestName: "manifest.yaml"}
	var body io.Reader = c.Request().BodyStream()
	if body == nil {
		body = bytes.NewReader(c.Request().Body())
	}
	limited := &io.LimitedReader{R: body, N: s.cfg.UploadLimit + 1}
	overLimit := func(err error) error {
		if limited.N <= 0 {
			return fmt.Errorf("upload over the limit of %d bytes", s.cfg.UploadLimit)
		}
		return err
	}
	// The form is read in windows of this size: a binary of tens of megabytes in few reads
	// from the connection. mime/multipart reads through this reader rather than a small
	// buffer of its own, since it is larger than the one it would make.
	br := bufio.NewReaderSize(limited, uploadBuffer)
	form := multipart.NewReader(br, boundary)
	for {
		part, err := form.NextPart()
		if err == io.EOF {
			// Read the body to its end, past the closing boundary: with chunked encoding the
			// last chunk is still on the connection, and fasthttp would take it for the next
			// request.
			if _, err := io.Copy(io.Discard, br); err != nil {
				return up, overLimit(fmt.Errorf("reading the form: %w", err))
			}
			return up, overLimit(nil)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return up, overLimit(errors.New("reading the form: the body ends before its closing delimiter"))
		}
		if err != nil {
			return up, overLimit(fmt.Errorf("reading the form: %w", err))
		}
		switch part.FormName() {
		case "manifest":
			if name := fileName(part); name != "" {
				up.manifestName = name
			}
			up.manifest, err = io.ReadAll(io.LimitReader(part, maxManifestBytes+1))
			if err == nil && len(up.manifest) > maxManifestBytes {
				err = errors.New("manifest over 1 MiB")
			}
		case "binary":
			up.binary = filepath.Join(dir, "upload")
			up.sum, err = saveFile(up.binary, part)
		default:
			err = fmt.Errorf("unexpected part %q (want manifest and binary)", part.FormName())
		}
		if err != nil {
			return up, overLimit(err)
		}
	}
}

// fileName is a part's filename as the client sent it, folders included: manifest errors
// name the path the user typed (multipart.Part.FileName keeps the last element only).
func fileName(p *multipart.Part) string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}

// saveFile writes r to a private file and returns its sum (runtime.NewSum).
func saveFile(path string, r io.Reader) (string, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o700)
	if err != nil {
		return "", err
	}
	sum, err := copyHashing(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return sum, err
}

// copyHashing copies r to w and returns the sum (runtime.NewSum) of what it copied. The hash
// runs on another goroutine, a buffer behind the copy: a deploy's binary is tens of megabytes,
// and hashing it after receiving it would add the whole hash to the deploy's wait.
func copyHashing(w io.Writer, r io.Reader) (string, error) {
	const buffers, size = 4, 256 << 10
	free, full := make(chan []byte, buffers), make(chan []byte, buffers)
	for range buffers {
		free <- make([]byte, size)
	}
	h := runtime.NewSum()
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range full {
			h.Write(b)
			free <- b[:cap(b)]
		}
	}()
	var err error
	for err == nil {
		buf := <-free
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				err = werr
			}
			full <- buf[:n]
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			rerr = io.EOF
		case rerr != nil && err == nil:
			err = rerr
		}
		if rerr == io.EOF {
			break
		}
	}
	close(full)
	<-hashed
	return runtime.SumHex(h), err
}

// adminLogs answers the function's recent output as JSON lines; with follow=true it keeps
// streaming new lines (and a blank keep-alive line every 15s) until the client goes away.
func (s *Server) adminLogs(c *fiber.Ctx) error {
	f, err := s.function(c)
	if f == nil {
		return err
	}
	tail, _ := strconv.Atoi(c.Query("tail", "100"))
	var logs LogReader = nodeLogs{f}
	if s.cfg.ClusterLogs != nil {
		logs = s.cfg.ClusterLogs
	}
	if !c.QueryBool("follow") {
		lines, err := logs.Tail(c.UserContext(), f.Name(), tail)
		if err != nil {
			return sendError(c, fiber.StatusServiceUnavailable, "logs_unavailable", "the cluster's logs cannot be read: "+err.Error())
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, l := range lines {
			_ = enc.Encode(l)
		}
		c.Set(fiber.HeaderContentType, "application/x-ndjson")
		return c.Send(buf.Bytes())
	}
	ctx, cancel := context.WithCancel(s.stopping)
	lines, follow, err := logs.Follow(ctx, f.Name(), tail)
	if err != nil {
		cancel()
		return sendError(c, fiber.StatusServiceUnavailable, "logs_unavailable", "the cluster's logs cannot be read: "+err.Error())
	}
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		enc := json.NewEncoder(w)
		for _, l := range lines {
			_ = enc.Encode(l)
		}
		if w.Flush() != nil {
			return
		}
		tick := time.NewTicker(15 * time.Second)
		defer tick.Stop()
		for {
			select {
			case l, ok := <-follow:
				if !ok {
					return
				}
				_ = enc.Encode(l)
			case <-tick.C:
				_ = w.WriteByte('\n')
			}
			if w.Flush() != nil {
				return
			}
		}
	})
	return nil
}

// LogReader reads functions' log lines for GET /admin/v1/functions/{name}/logs.
type LogReader interface {
	Tail(ctx context.Context, function string, n int) ([]runtime.LogLine, error)
	Follow(ctx context.Context, function string, n int) ([]runtime.LogLine, <-chan runtime.LogLine, error)
}

// nodeLogs reads the lines of one function, f, on this node alone.
type nodeLogs struct{ f *runtime.Function }

func (n nodeLogs) Tail(_ context.Context, _ string, tail int) ([]runtime.LogLine, error) {
	return n.f.Logs().Tail(tail), nil
}

func (n nodeLogs) Follow(ctx context.Context, _ string, tail int) ([]runtime.LogLine, <-chan runtime.LogLine, error) {
	lines, ch := n.f.Logs().Follow(ctx, tail)
	return lines, ch, nil
}
