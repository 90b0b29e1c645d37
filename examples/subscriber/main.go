// Command subscriber prints a tenant's EventFlow lifecycle events as they
// happen, in one of two ways (docs/EVENTS.md):
//
//   - straight from NATS JetStream with nats.go, needing nothing of
//     EventFlow's code, only the subjects and the CloudEvents JSON:
//     eventflow nats-creds --tenant demo > demo.creds
//     go run ./subscriber -nats nats://127.0.0.1:4222 -tenant demo -creds demo.creds
//   - from the gateway's GET /v1/events with EventFlow's Go client
//     (pkg/client), resuming after a broken connection where it left off:
//     EVENTFLOW_TOKEN=... go run ./subscriber -url http://127.0.0.1:8080
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/client"
)

// Event is a CloudEvents 1.0 event as EventFlow writes it.
type Event struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`    // io.eventflow.function.ready, io.eventflow.invocation.failed, ...
	Subject     string          `json:"subject"` // the function
	Time        time.Time       `json:"time"`
	Tenant      string          `json:"tenant"`
	Data        json.RawMessage `json:"data"`
}

// Subscribe calls handle for each new event of tenant (of one function, or
// all with fn ""), in order, until ctx ends. It reads the EVENTFLOW_EVENTS
// stream with an ordered consumer, so it may start from any point: here,
// new events only.
func Subscribe(ctx context.Context, js jetstream.JetStream, tenant, fn string, handle func(Event)) error {
	if fn == "" {
		fn = "*"
	}
	cons, err := js.OrderedConsumer(ctx, "EVENTFLOW_EVENTS", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"eventflow.events." + tenant + "." + fn + ".>"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ev Event
		if json.Unmarshal(m.Data(), &ev) == nil {
			handle(ev)
		}
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

// SubscribeHTTP calls handle for each new event the gateway streams to
// the token's tenant (of one function, or all with fn ""), in order, until
// ctx ends. A broken stream is opened again after the last event seen, so
// none is missed or repeated; it gives up after maxRetries failures in a
// row.
func SubscribeHTTP(ctx context.Context, c *client.Client, fn string, handle func(client.Event)) error {
	const maxRetries = 10
	since, failures := "", 0
	for ctx.Err() == nil {
		s, err := c.Events(ctx, client.EventsOptions{Function: fn, Since: since, Follow: true})
		if err == nil {
			for {
				ev, err := s.Next()
				if err != nil {
					break
				}
				failures = 0
				since = ev.Seq
				handle(ev)
			}
			s.Close()
		}
		if ctx.Err() != nil {
			break
		}
		if failures++; failures > maxRetries {
			return fmt.Errorf("events stream: %d failures in a row, last: %v", failures-1, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(failures) * time.Second):
		}
	}
	return nil
}

func main() {
	url := flag.String("nats", nats.DefaultURL, "NATS server (eventflow dev prints it)")
	tenant := flag.String("tenant", "demo", "tenant whose events to print (NATS; over HTTP the token's tenant)")
	fn := flag.String("function", "", "only this function's events")
	creds := flag.String("creds", "", "NATS credentials of the tenant (eventflow nats-creds --tenant demo > demo.creds)")
	gateway := flag.String("url", "", "read events from this gateway's /v1/events instead of NATS (token in EVENTFLOW_TOKEN)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *gateway != "" {
		c, err := client.New(*gateway, os.Getenv("EVENTFLOW_TOKEN"))
		if err != nil {
			log.Fatal(err)
		}
		err = SubscribeHTTP(ctx, c, *fn, func(ev client.Event) {
			fmt.Printf("%s %-38s %-12s %s\n", ev.Time.Format(time.RFC3339), ev.Type, ev.Subject, ev.Data)
		})
		if err != nil {
			log.Fatal(err)
		}
		return
	}
	var opts []nats.Option
	if *creds != "" {
		// A tenant's credentials may read replies only under its own
		// inbox prefix, not the shared _INBOX.
		opts = append(opts, nats.UserCredentials(*creds), nats.CustomInboxPrefix("_INBOX_tenant_"+*tenant))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	err = Subscribe(ctx, js, *tenant, *fn, func(ev Event) {
		fmt.Printf("%s %-38s %-12s %s\n", ev.Time.Format(time.RFC3339), ev.Type, ev.Subject, ev.Data)
	})
	if err != nil {
		log.Fatal(err)
	}
}
