// Command edgefn is the one edgefn binary: `edgefn serve` runs the gateway and the function
// runtime; `edgefn new` scaffolds a function on disk; the other commands are clients of a
// running server's admin API (/admin/v1, see client.go), `edgefn dev` among them, redeploying
// on every save. This package is wiring only: flags in, files, HTTP requests or the server
// out.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix starts the environment variable that backs every flag: --admin-token reads
// EDGEFN_ADMIN_TOKEN when it is not given on the command line.
const envPrefix = "EDGEFN_"

// Exit codes of the binary.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal a second one kills the process, in case a shutdown hangs.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit code. Commands read and write only
// the given streams and see the environment only through lookupEnv, so tests run them
// in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer,
	lookupEnv func(string) (string, bool)) int {
	root := newRootCmd(lookupEnv)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	printError(stderr, err)
	if errors.As(err, new(*usageError)) {
		return exitUsage
	}
	return exitError
}

// newRootCmd builds the `edgefn` command tree. lookupEnv backs every flag not given on the
// command line (see bindEnv).
func newRootCmd(lookupEnv func(string) (string, bool)) *cobra.Command {
	root := &cobra.Command{
		Use:   "edgefn",
		Short: "Run Go functions behind a WebSocket-enabled edge gateway",
		Long: "edgefn runs small Go functions, built as plugins, behind an HTTP and WebSocket gateway.\n" +
			"`edgefn serve` starts the server; the other commands talk to a running one.\n" +
			"Every flag can also be set with EDGEFN_<FLAG>, e.g. EDGEFN_SERVER or EDGEFN_ADMIN_TOKEN.",
		SilenceUsage:               true,
		SilenceErrors:              true,
		SuggestionsMinimumDistance: 2,
		// Root has a RunE and an Args check so that an unknown command is a usage error (exit
		// 2) rather than cobra's plain error.
		Args: unknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return bindEnv(cmd, lookupEnv)
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{cmd: cmd.CommandPath(), err: err}
	})
	addClientFlags(root)
	root.AddCommand(
		newServeCmd(),
		newDeployCmd(),
		newListCmd(),
		newGetCmd(),
		newNodesCmd(),
		newDeleteCmd(),
		newRollbackCmd(),
		newInvokeCmd(),
		newLogsCmd(),
		newPublishCmd(),
		newDLQCmd(),
		newScheduleCmd(),
		newVersionCmd(),
		newNewCmd(),
		newDevCmd(),
	)
	return root
}

// bindEnv sets every flag of cmd (its own and those inherited from its parents) that was not
// given on the command line from its environment variable, EDGEFN_ then the flag's name in
// upper case with dashes as underscores. An empty variable counts as unset.
//
// It runs as the root's PersistentPreRunE, so a subcommand must not define its own
// PersistentPreRunE (cobra would run that one instead); PreRunE is fine.
func bindEnv(cmd *cobra.Command, lookupEnv func(string) (string, bool)) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		v, ok := lookupEnv(name)
		if !ok || v == "" {
			return
		}
		if err := cmd.Flags().Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return &usageError{cmd: cmd.CommandPath(), err: err}
	}
	return nil
}

// envName is the environment variable of the flag named flag.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// usageError is a command line the command cannot accept: an unknown command or flag, a bad
// flag value, the wrong number of arguments. The binary exits with code 2 on one.
type usageError struct {
	// cmd is the command's path, such as "edgefn get", for the help hint.
	cmd string
	err error
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%v (see '%s --help')", e.err, e.cmd)
}

func (e *usageError) Unwrap() error { return e.err }

// unknownCommand is the root's argument check: the root takes no arguments, so one is a
// command that does not exist.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return &usageError{cmd: cmd.CommandPath(), err: errors.New(msg)}
}

// exactArgs requires exactly the arguments named in names, such as "NAME" (none when names
// is empty), as a usage error.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		err := fmt.Errorf("expects %s, got %d arguments", strings.Join(names, " "), len(args))
		if len(names) == 0 {
			err = fmt.Errorf("takes no arguments, got %q", args)
		}
		return &usageError{cmd: cmd.CommandPath(), err: err}
	}
}

// minArgs requires at least n arguments, described by what, as a usage error.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("expects %s", what)}
	}
}

// printError writes err to w as lines of `edgefn: ...`, one per line of its message, so that
// an error with details (every problem of a manifest) still gives one line per problem.
func printError(w io.Writer, err error) {
	msg := strings.TrimRight(err.Error(), "\n")
	for line := range strings.SplitSeq(msg, "\n") {
		fmt.Fprintf(w, "edgefn: %s\n", line)
	}
}
