package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/events"
)

func (a *app) logsCmd() *cobra.Command {
	var (
		o    client.LogsOptions
		tail int
	)
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a function's logs (stdout and stderr of every run and instance)",
		Example: `  eventflow logs upper
  eventflow logs upper -f --tail 20
  eventflow logs upper --since 10m -o json`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeFunctions,
		RunE: func(cmd *cobra.Command, argv []string) error {
			if tail < 0 || o.Since < 0 {
				return usagef("--tail and --since must not be negative")
			}
			o.Tail = &tail // 0 too: only new lines
			c, err := a.client()
			if err != nil {
				return err
			}
			s, err := c.Logs(cmd.Context(), argv[0], o)
			if err != nil {
				return err
			}
			return printStream(cmd, a, s, a.printLog)
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().IntVar(&tail, "tail", 100, "start with the last N stored lines (0: only new ones)")
	cmd.Flags().DurationVar(&o.Since, "since", 0, "only lines of the last DURATION (e.g. 10m)")
	a.addOutputFlag(cmd, "text", outJSON)
	return cmd
}

func (a *app) printLog(l events.LogLine) {
	stream := l.Stream
	if stream == "stderr" {
		stream = a.colour(a.io.Out, "31", stream)
	}
	fmt.Fprintf(a.io.Out, "%s %s %s %s\n", a.colour(a.io.Out, "2", l.Time.UTC().Format(time.RFC3339Nano)), a.colour(a.io.Out, "36", l.Instance), stream, l.Line)
}

// printStream prints every item of s, as a JSON line each with -o json or
// with text otherwise, until the stream ends or Ctrl+C (both success).
func printStream[T any](cmd *cobra.Command, a *app, s *client.Stream[T], text func(T)) error {
	defer s.Close()
	enc := json.NewEncoder(a.io.Out)
	for {
		v, err := s.Next()
		switch {
		case errors.Is(err, io.EOF) || (err != nil && cmd.Context().Err() != nil):
			return nil
		case err != nil:
			return err
		case a.output == outJSON:
			if err := enc.Encode(v); err != nil {
				return err
			}
		default:
			text(v)
		}
	}
}

func (a *app) eventsCmd() *cobra.Command {
	var o client.EventsOptions
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the tenant's lifecycle events (CloudEvents)",
		Long: `Print the tenant's lifecycle events: the stored ones, and with -f new ones as
they happen. -o json prints each CloudEvent as a JSON line (with its "seq";
pass the last one to --since to resume).`,
		Example: `  eventflow events
  eventflow events -f --function upper
  eventflow events --type io.eventflow.invocation.failed -o json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Type != "" && !slices.Contains(events.EventTypes, o.Type) {
				return usagef("--type %q: not an event type; known: %s", o.Type, strings.Join(events.EventTypes, ", "))
			}
			if _, err := strconv.ParseUint(o.Since, 10, 64); o.Since != "" && err != nil {
				return usagef("--since %q: want the seq of an event (a whole number; 0: from the first)", o.Since)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if o.Since == "" && !o.Follow {
				o.Since = "0"
			}
			s, err := c.Events(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printStream(cmd, a, s, func(ev client.Event) {
				fmt.Fprintf(a.io.Out, "%s %-6s %-38s %-20s %s\n", a.colour(a.io.Out, "2", ev.Time.UTC().Format(time.RFC3339)), ev.Seq,
					a.colour(a.io.Out, "36", ev.Type), ev.Subject, eventDetail(ev))
			})
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep printing new events")
	cmd.Flags().StringVar(&o.Function, "function", "", "only this function's events")
	cmd.Flags().StringVar(&o.Type, "type", "", "only events of this type")
	cmd.Flags().StringVar(&o.Since, "since", "", "only events after this seq (0: every stored one)")
	_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions(events.EventTypes, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("function", a.completeFunctions)
	a.addOutputFlag(cmd, "text", outJSON)
	return cmd
}

// eventDetail summarises an event's data as key=value pairs of its scalar
// fields.
func eventDetail(ev client.Event) string {
	if ev.Type == events.TypeFunctionScaled {
		// "1 → 2: why", as describe's last scaling decision.
		var d events.ScaledEventData
		if json.Unmarshal(ev.Data, &d) == nil {
			s := fmt.Sprintf("%d → %d", d.From, d.To)
			if d.Reason != "" {
				s += ": " + d.Reason
			}
			return s
		}
	}
	var m map[string]any
	if json.Unmarshal(ev.Data, &m) != nil {
		return string(ev.Data)
	}
	var out []string
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := m[k].(type) {
		case string:
			if v != "" && k != "tenant" && k != "function" {
				out = append(out, k+"="+v)
			}
		case float64, bool:
			out = append(out, fmt.Sprintf("%s=%v", k, v))
		case map[string]any:
			// A trigger event's trigger: which one, by type and key.
			if ty, _ := v["type"].(string); k == "trigger" && ty != "" {
				key, _ := v["key"].(string)
				out = append(out, "trigger="+ty+"/"+key)
			}
		}
	}
	return strings.Join(out, " ")
}
