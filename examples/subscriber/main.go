// Command subscriber prints a tenant's EventFlow lifecycle events as they
// happen, straight from NATS JetStream with nats.go: an example of an event
// subscriber that needs nothing of EventFlow's code, only the subjects and
// the CloudEvents JSON (docs/EVENTS.md).
//
//	go run ./subscriber -nats nats://127.0.0.1:4222 -tenant demo
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

func main() {
	url := flag.String("nats", nats.DefaultURL, "NATS server (eventflow dev prints it)")
	tenant := flag.String("tenant", "demo", "tenant whose events to print")
	fn := flag.String("function", "", "only this function's events")
	flag.Parse()
	nc, err := nats.Connect(*url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err = Subscribe(ctx, js, *tenant, *fn, func(ev Event) {
		fmt.Printf("%s %-38s %-12s %s\n", ev.Time.Format(time.RFC3339), ev.Type, ev.Subject, ev.Data)
	})
	if err != nil {
		log.Fatal(err)
	}
}
