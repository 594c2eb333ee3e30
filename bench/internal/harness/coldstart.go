package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// ColdStart times deploys of a function nobody has called yet. Each sample deploys the plugin
// under a new name with a new route, GET /NAME/{name}, and measures from the moment the deploy
// starts to the first 200 of that route, which is polled while the deploy runs.
type ColdStart struct {
	// Server is the gateway's base URL, such as http://127.0.0.1:8080.
	Server string
	// Binary is the plugin to deploy (hello).
	Binary string
	// CLI, when set, is the edgefn binary, and samples deploy with `edgefn deploy FILE
	// --server`; otherwise they PUT the admin API directly.
	CLI string
	// Dir is where the manifests are written.
	Dir string
	// PollEvery is the pause between two polls of the new route; default 1 ms.
	PollEvery time.Duration
}

// ColdSample is one cold start.
type ColdSample struct {
	// Deploy is the time until the deploy call returned.
	Deploy time.Duration
	// FirstOK is the time until the new route first answered 200: the cold start.
	FirstOK time.Duration
}

// Once deploys the plugin as the function name, waits (up to 30 s) for its route to answer,
// and returns the timings. The function stays deployed: Delete it.
func (c ColdStart) Once(ctx context.Context, name string) (ColdSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	file, err := writeManifest(c.Dir, name, c.Binary, "/"+name+"/{name}")
	if err != nil {
		return ColdSample{}, err
	}
	url := c.Server + "/" + name + "/x"
	every := c.PollEvery
	if every <= 0 {
		every = time.Millisecond
	}
	polled := make(chan error, 1)
	var s ColdSample

	start := time.Now()
	go func() { polled <- pollUntilOK(ctx, url, helloBody, every, start, &s.FirstOK) }()
	if c.CLI != "" {
		err = deployCLI(ctx, c.CLI, c.Server, file)
	} else {
		err = deployAPI(ctx, c.Server, name, file, c.Binary)
	}
	s.Deploy = time.Since(start)
	if err != nil {
		cancel()
		<-polled
		return s, fmt.Errorf("deploy %s: %w", name, err)
	}
	if err := <-polled; err != nil {
		return s, fmt.Errorf("first call of %s: %w", name, err)
	}
	return s, nil
}

// Delete removes the function name through the admin API.
func (c ColdStart) Delete(ctx context.Context, name string) error {
	status, body, err := AdminCall(ctx, http.DefaultClient, http.MethodDelete, c.Server+"/admin/v1/functions/"+name, 4<<10)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("delete %s: %d %s", name, status, body)
	}
	return nil
}

// pollUntilOK GETs url every so often until it answers 200 with want, then stores the time
// since start in *took.
func pollUntilOK(ctx context.Context, url, want string, every time.Duration, start time.Time, took *time.Duration) error {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK && string(body) == want {
				*took = time.Since(start)
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no 200 in time (last answer %s): %w", last, ctx.Err())
		case <-time.After(every):
		}
	}
}

// deployCLI runs `edgefn deploy file --server server`, as a user does.
func deployCLI(ctx context.Context, cli, server, file string) error {
	out, err := exec.CommandContext(ctx, cli, "deploy", file, "--server", server, "--token", AdminToken).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Upload times a deploy that the gateway refuses only after it has received and staged the
// whole upload, because the manifest declares another function than the one named in the
// path: the share of a cold start spent moving the binary.
func (c ColdStart) Upload(ctx context.Context, name string) (time.Duration, error) {
	other := name + "-other"
	file, err := writeManifest(c.Dir, other, c.Binary, "/"+other+"/{name}")
	if err != nil {
		return 0, err
	}
	start := time.Now()
	status, answer, err := putFunction(ctx, c.Server, name, file, c.Binary)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if status != http.StatusBadRequest {
		return 0, fmt.Errorf("upload probe: want 400, got %d %s", status, answer)
	}
	return took, nil
}

// deployAPI deploys through the admin API.
func deployAPI(ctx context.Context, server, name, file, binary string) error {
	status, answer, err := putFunction(ctx, server, name, file, binary)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("%d %s", status, answer)
	}
	return err
}

// putFunction sends PUT /admin/v1/functions/NAME with the manifest and the binary as
// multipart/form-data, the binary streamed from disk as the CLI does, and returns the answer.
func putFunction(ctx context.Context, server, name, file, binary string) (int, []byte, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return 0, nil, err
	}
	bin, err := os.Open(binary)
	if err != nil {
		return 0, nil, err
	}
	defer bin.Close()
	info, err := bin.Stat()
	if err != nil {
		return 0, nil, err
	}
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	part, err := mw.CreateFormFile("manifest", name+".yaml")
	if err != nil {
		return 0, nil, err
	}
	if _, err := part.Write(src); err != nil {
		return 0, nil, err
	}
	if _, err := mw.CreateFormFile("binary", "handler"); err != nil {
		return 0, nil, err
	}
	headLen := head.Len()
	if err := mw.Close(); err != nil {
		return 0, nil, err
	}
	all := head.Bytes()
	body := io.MultiReader(bytes.NewReader(all[:headLen]), bin, bytes.NewReader(all[headLen:]))
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, server+"/admin/v1/functions/"+name, body)
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = int64(len(all)) + info.Size()
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, answer, err
}
