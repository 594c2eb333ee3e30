package harness

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/edgefn/edgefn/runtime/wire"
)

// PluginHandshake times the floor of a cold start that no gateway code can lower: it starts the
// plugin binary as go-plugin does (magic cookie, protocol version) and returns the time until
// the plugin prints its handshake line, then kills it. The gateway still has to verify the
// binary, connect over gRPC and open the data path after that.
func PluginHandshake(ctx context.Context, binary string) (time.Duration, error) {
	// The plugin makes its socket there, and a killed plugin does not remove it.
	tmp, err := os.MkdirTemp("", "edgebench-plugin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, binary)
	cmd.Env = []string{
		wire.Handshake.MagicCookieKey + "=" + wire.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=" + strconv.Itoa(int(wire.Handshake.ProtocolVersion)),
		"TMPDIR=" + tmp,
	}
	bindToParent(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("plugin handshake: %w (got %q)", err, line)
	}
	return took, nil
}

// HashFile times one SHA-256 pass over a file, the unit of work a deploy repeats for the
// uploaded binary (the deploy's checksum, the store's copy, go-plugin's check at start).
func HashFile(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	if _, err := io.Copy(sha256.New(), f); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
