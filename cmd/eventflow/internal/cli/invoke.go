package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/events"
)

// maxInvokeBody bounds the body read from a file or stdin; the gateway
// refuses larger ones anyway (1 MiB by default).
const maxInvokeBody = 64 << 20

func (a *app) invokeCmd() *cobra.Command {
	var (
		data, key, callback, contentType string
		headers                          []string
		async, wait                      bool
		timeout                          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "invoke NAME [DATA]",
		Short: "Invoke a function with a body from an argument, a file or stdin",
		Long: `Invoke a function. The body is DATA, or -d (@FILE reads a file, @- stdin), or
stdin when it is a pipe or a file. A synchronous invocation prints the
function's output; one that failed exits with the function's exit code (1 when
it has none). --async prints the invocation id once the invocation is durably
queued; with --wait it follows the invocation to its end.`,
		Example: `  echo hello | eventflow invoke upper
  eventflow invoke upper hello
  eventflow invoke upper -d @input.txt
  eventflow invoke upper --async --wait -d hello
  eventflow invoke upper --async --idempotency-key order-42 -d hello`,
		Args:              args(cobra.RangeArgs(1, 2)),
		ValidArgsFunction: a.completeFunctions,
		RunE: func(cmd *cobra.Command, argv []string) error {
			if len(argv) == 2 && cmd.Flags().Changed("data") {
				return usagef("give the body as DATA or with -d, not both")
			}
			if wait && !async {
				return usagef("--wait follows an async invocation: add --async")
			}
			if callback != "" && !async {
				return usagef("--callback is for async invocations: add --async")
			}
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			h := http.Header{}
			for _, kv := range headers {
				k, v, ok := strings.Cut(kv, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return usagef("--header %q: want NAME: VALUE", kv)
				}
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			if len(argv) == 2 {
				data = argv[1]
			}
			body, err := a.invokeBody(data, cmd.Flags().Changed("data") || len(argv) == 2)
			if err != nil {
				return err
			}
			// A sync invocation may run as long as its timeout: no
			// bound on the wait for the answer but --timeout.
			c, err := a.clientWithin(0)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			opts := client.InvokeOptions{ContentType: contentType, IdempotencyKey: key, CallbackURL: callback, Header: h}
			if async {
				return a.invokeAsync(ctx, c, argv[0], body, opts, wait)
			}
			res, err := c.Invoke(ctx, argv[0], bytes.NewReader(body), opts)
			if a.output == outJSON || a.output == outYAML {
				// The answer itself, as a record: the invoker writes the
				// stored one only after it has answered.
				if rec, ok := syncRecord(argv[0], res, err); ok {
					if perr := printDoc(a.io.Out, a.output, rec); perr != nil {
						return perr
					}
				}
			} else if err == nil {
				return a.writeOutput(res.Output)
			}
			return functionExit(err)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&data, "data", "d", "", "the body: text, @FILE, or @- for stdin")
	f.BoolVar(&async, "async", false, "queue the invocation and print its id")
	f.BoolVar(&wait, "wait", false, "with --async: follow the invocation to its end")
	f.StringVar(&key, "idempotency-key", "", "repeated requests with the same key run once")
	f.StringVar(&callback, "callback", "", "with --async: URL that gets the final record POSTed")
	f.StringVar(&contentType, "content-type", "", "Content-Type of the body")
	f.StringArrayVarP(&headers, "header", "H", nil, "extra request header NAME: VALUE (repeatable)")
	f.DurationVar(&timeout, "timeout", 16*time.Minute, "how long to wait for the answer")
	a.addOutputFlag(cmd, "raw", outJSON, outYAML)
	return cmd
}

// syncRecord is a sync invocation's answer in the shape of its record:
// succeeded, or failed with the function's error and exit code. Other
// errors (no such function, unreachable gateway) have no record.
func syncRecord(name string, res client.Result, err error) (events.InvocationRecord, bool) {
	rec := events.InvocationRecord{ID: res.InvocationID, Function: name, Status: events.StatusSucceeded, Attempts: 1,
		Output: string(res.Output), ExitCode: res.ExitCode}
	if res.Duration > 0 {
		ms := res.Duration.Milliseconds()
		rec.DurationMs = &ms
	}
	var ae *client.Error
	switch {
	case err == nil:
		return rec, true
	case errors.As(err, &ae) && (errors.Is(err, client.ErrFunctionFailed) || errors.Is(err, client.ErrTimeout)):
		rec.Status, rec.Error, rec.ExitCode, rec.Output = events.StatusFailed, ae.Message, ae.ExitCode, ""
		return rec, true
	}
	return rec, false
}

// invokeBody reads the body: text, @file, @- (stdin), or stdin when no
// body was given and stdin is not a terminal.
func (a *app) invokeBody(data string, given bool) ([]byte, error) {
	var r io.Reader
	switch {
	case given && data == "@-":
		r = a.io.In
	case given && strings.HasPrefix(data, "@"):
		f, err := os.Open(data[1:])
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		defer f.Close()
		r = f
	case given:
		return []byte(data), nil
	default:
		if !pipedIn(a.io.In) {
			return nil, nil
		}
		r = a.io.In
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInvokeBody+1))
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	if len(b) > maxInvokeBody {
		return nil, fmt.Errorf("body: larger than %d bytes", maxInvokeBody)
	}
	return b, nil
}

// pipedIn reports whether stdin is a pipe or a file, which a body is read
// from when none is given; a terminal, /dev/null or a closed stdin gives
// an empty body rather than a wait for input that never comes.
func pipedIn(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		return in != nil
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeNamedPipe != 0 || st.Mode().IsRegular()
}

func (a *app) invokeAsync(ctx context.Context, c *client.Client, name string, body []byte, opts client.InvokeOptions, wait bool) error {
	acc, err := c.InvokeAsync(ctx, name, bytes.NewReader(body), opts)
	if err != nil {
		return err
	}
	if !wait {
		if a.output == outJSON || a.output == outYAML {
			return printDoc(a.io.Out, a.output, acc)
		}
		fmt.Fprintln(a.io.Out, acc.ID)
		return nil
	}
	fmt.Fprintf(a.io.Err, "%s: %s\n", acc.ID, acc.Status)
	rec, err := c.WaitInvocation(ctx, acc.ID, 200*time.Millisecond, func(r events.InvocationRecord) {
		if r.Status != acc.Status {
			fmt.Fprintf(a.io.Err, "%s: %s (attempt %d)\n", r.ID, r.Status, r.Attempts)
		}
	})
	if err != nil {
		return fmt.Errorf("waiting for invocation %s: %w (it is queued and goes on: eventflow invocations get %s)", acc.ID, err, acc.ID)
	}
	if a.output == outJSON || a.output == outYAML {
		if err := printDoc(a.io.Out, a.output, rec); err != nil {
			return err
		}
	} else if rec.Status == events.StatusSucceeded {
		if err := a.writeOutput([]byte(rec.Output)); err != nil {
			return err
		}
	}
	if rec.Status == events.StatusSucceeded {
		return nil
	}
	err = fmt.Errorf("invocation %s %s after %d attempt(s): %s (eventflow invocations get %s)", rec.ID, rec.Status, rec.Attempts, rec.Error, rec.ID)
	return exitError{code: exitCodeOf(rec.ExitCode), err: err}
}

// writeOutput writes a function's output as it is, with a final newline
// added on a terminal only, so the prompt does not run into it.
func (a *app) writeOutput(b []byte) error {
	if _, err := a.io.Out.Write(b); err != nil {
		return err
	}
	if len(b) > 0 && b[len(b)-1] != '\n' && isTerminal(a.io.Out) {
		_, err := io.WriteString(a.io.Out, "\n")
		return err
	}
	return nil
}

// functionExit turns a failed function's error into its exit code.
func functionExit(err error) error {
	var ae *client.Error
	if errors.As(err, &ae) && errors.Is(err, client.ErrFunctionFailed) {
		return exitError{code: exitCodeOf(ae.ExitCode), err: err}
	}
	return err
}

// exitCodeOf is the function's exit code as the CLI's own (1 when the
// function has none, or one a shell cannot return).
func exitCodeOf(code *int) int {
	if code == nil || *code <= 0 || *code > 255 {
		return ExitError
	}
	return *code
}

func (a *app) invocationsCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "invocations",
		Aliases: []string{"inv"},
		Short:   "List a function's invocations, or show one",
	})
	var status string
	var limit int
	list := &cobra.Command{
		Use:   "list NAME",
		Short: "A function's invocations, newest first",
		Example: `  eventflow invocations list upper
  eventflow invocations list upper --status failed -o json`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeFunctions,
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			page, err := c.Invocations(cmd.Context(), argv[0], client.InvocationsOptions{Status: status, Limit: limit})
			if err != nil {
				return err
			}
			if a.output != outTable {
				return printDoc(a.io.Out, a.output, page)
			}
			if len(page.Items) == 0 {
				what := argv[0]
				if status != "" {
					what += " with status " + status
				}
				fmt.Fprintf(a.io.Err, "No invocations of %s.\n", what)
				return nil
			}
			now := time.Now()
			t := newTable(a.io.Out, "ID", "STATUS", "ASYNC", "ATTEMPTS", "DURATION", "EXIT", "AGE")
			for _, r := range page.Items {
				exit := "-"
				if r.ExitCode != nil {
					exit = fmt.Sprint(*r.ExitCode)
				}
				t.row(r.ID, r.Status, fmt.Sprint(r.Async), fmt.Sprint(r.Attempts), duration(r.DurationMs), exit, age(now, r.CreatedAt))
			}
			return t.flush()
		},
	}
	list.Flags().StringVar(&status, "status", "", "only invocations of this status (queued, running, retrying, succeeded, failed, dead_lettered)")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many (1 to 1000)")
	_ = list.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(events.InvocationStatuses, cobra.ShellCompDirectiveNoFileComp))
	a.addOutputFlag(list, outTable, outJSON, outYAML)
	get := &cobra.Command{
		Use:     "get ID",
		Short:   "One invocation's record",
		Example: `  eventflow invocations get 0193a1b2c3d4e5f60718293a4b5c`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.Invocation(cmd.Context(), argv[0])
			if err != nil {
				return err
			}
			return printDoc(a.io.Out, a.output, r)
		},
	}
	a.addOutputFlag(get, outYAML, outJSON)
	cmd.AddCommand(list, get)
	return cmd
}

func (a *app) deadLettersCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "dead-letters",
		Aliases: []string{"dl"},
		Short:   "List or redrive the async invocations that failed every attempt",
	})
	list := &cobra.Command{
		Use:               "list NAME",
		Short:             "A function's dead letters, oldest first",
		Example:           "  eventflow dead-letters list upper\n  eventflow dead-letters list upper -o json",
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeFunctions,
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			dls, err := c.DeadLetters(cmd.Context(), argv[0])
			if err != nil {
				return err
			}
			if a.output != outTable {
				if dls == nil {
					dls = []client.DeadLetter{}
				}
				return printDoc(a.io.Out, a.output, map[string]any{"items": dls})
			}
			if len(dls) == 0 {
				fmt.Fprintf(a.io.Err, "No dead letters of %s.\n", argv[0])
				return nil
			}
			now := time.Now()
			t := newTable(a.io.Out, "ID", "ATTEMPTS", "AGE", "BYTES", "ERROR")
			for _, d := range dls {
				t.row(d.ID, fmt.Sprint(d.Attempts), age(now, d.DeadLetteredAt), fmt.Sprint(d.PayloadBytes), truncate(d.Error, 60))
			}
			return t.flush()
		},
	}
	a.addOutputFlag(list, outTable, outJSON, outYAML)
	var ids []string
	redrive := &cobra.Command{
		Use:   "redrive NAME",
		Short: "Queue dead letters again (all, or --id ...)",
		Example: `  eventflow dead-letters redrive upper
  eventflow dead-letters redrive upper --id 0193a1b2c3d4e5f60718293a4b5c`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeFunctions,
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			done, err := c.Redrive(cmd.Context(), argv[0], ids)
			if err != nil {
				return err
			}
			for _, id := range done {
				fmt.Fprintf(a.io.Out, "%s: queued again\n", id)
			}
			fmt.Fprintf(a.io.Err, "%d redriven\n", len(done))
			return nil
		},
	}
	redrive.Flags().StringSliceVar(&ids, "id", nil, "only these invocation ids (repeatable)")
	cmd.AddCommand(list, redrive)
	return cmd
}
